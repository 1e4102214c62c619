#ifndef C_VIGIL_SYSTEM_H
#define C_VIGIL_SYSTEM_H

// System calls Swift cannot make directly (glibc's syscall(2) is variadic).

/// membarrier(2): `cmd` is a MEMBARRIER_CMD_* value. Returns -1 and sets errno when the kernel
/// or a seccomp filter refuses it.
long vigil_membarrier(int cmd, unsigned int flags);

/// gettid(2): the kernel's id of the calling thread.
int vigil_gettid(void);

/// pidfd_open(2): a file descriptor that refers to process `pid` for as long as it is open, so
/// that a signal sent through it can never reach another process that reuses the pid. Returns -1
/// and sets errno (ENOSYS before Linux 5.3, ESRCH when the process is gone).
int vigil_pidfd_open(int pid);

/// pidfd_send_signal(2) with no siginfo: 0, or -1 with errno (ESRCH once the process has exited,
/// even if its pid was reused since).
int vigil_pidfd_send_signal(int pidfd, int signal);

/// The calling thread's ReadSection slot, or NULL before its first section. A `__thread`
/// variable, read and written through the two inline functions below: one load relative to the
/// thread pointer instead of a call to pthread_getspecific on every section. The initial-exec
/// model makes that load one instruction: code built position-independent (as SwiftPM builds C
/// targets) would otherwise call __tls_get_addr for it. It holds wherever Vigil is linked into the
/// program or a library loaded with it, which is how SwiftPM links it.
extern __thread void *vigil_read_section_slot __attribute__((tls_model("initial-exec")));

static inline void *vigil_read_section_slot_get(void) { return vigil_read_section_slot; }
static inline void vigil_read_section_slot_set(void *slot) { vigil_read_section_slot = slot; }

#endif
