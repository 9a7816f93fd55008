#ifndef SWIFTLET_CSUPPORT_H
#define SWIFTLET_CSUPPORT_H

/// A spin-wait hint for busy loops: `pause` on x86 (lets the sibling hyper-thread run and avoids
/// a memory-order flush on exit), `yield` on arm64. Swift has no spelling for either.
static inline void swiftlet_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(__linux__)
#include <pthread.h>

/// The CPUs this process may run on (its affinity mask), up to `capacity` of them, in order;
/// returns how many, or -1 when the mask cannot be read.
int swiftlet_allowed_cpus(int *cpus, int capacity);
/// The CPU the calling thread runs on now.
int swiftlet_current_cpu(void);
/// How many CPUs the calling thread may run on (-1 when unknown).
int swiftlet_thread_cpu_count(void);
/// Restricts `thread` to `cpu`; 0 on success.
int swiftlet_pin_thread(pthread_t thread, int cpu);
#endif

#endif
