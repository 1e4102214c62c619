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

__thread void *vigil_read_section_slot __attribute__((tls_model("initial-exec"))) = 0;
