#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>
#include "CVigilSystem.h"

long vigil_membarrier(int cmd, unsigned int flags) {
#ifdef __NR_membarrier
    return syscall(__NR_membarrier, cmd, flags, 0);
#else
    return -1;
#endif
}

int vigil_gettid(void) {
    return (int)syscall(SYS_gettid);
}

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif

int vigil_pidfd_open(int pid) {
    return (int)syscall(__NR_pidfd_open, pid, 0);
}

int vigil_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(__NR_pidfd_send_signal, pidfd, signal, (void *)0, 0);
}

__thread void *vigil_read_section_slot __attribute__((tls_model("initial-exec"))) = 0;
