#ifndef C_VIGIL_SYSTEM_H
#define C_VIGIL_SYSTEM_H

// System calls Swift cannot make directly (glibc's syscall(2) is variadic).

/// membarrier(2): `cmd` is a MEMBARRIER_CMD_* value. Returns -1 and sets errno when the kernel
/// or a seccomp filter refuses it.
long vigil_membarrier(int cmd, unsigned int flags);

/// gettid(2): the kernel's id of the calling thread.
int vigil_gettid(void);

#endif
