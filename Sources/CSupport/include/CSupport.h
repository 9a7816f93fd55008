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

#endif
