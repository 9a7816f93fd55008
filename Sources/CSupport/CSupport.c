// CPU affinity for the compute pool (`ThreadPlacement`): glibc declares these only under
// _GNU_SOURCE, which Swift's Glibc module does not define.
#define _GNU_SOURCE
#include "CSupport.h"

#if defined(__linux__)
#include <sched.h>

int swiftlet_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[count++] = cpu;
    }
    return count;
}

int swiftlet_current_cpu(void) { return sched_getcpu(); }

int swiftlet_thread_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int swiftlet_pin_thread(pthread_t thread, int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(thread, sizeof set, &set);
}
#endif
