// libnuma (Debian: libnuma-dev): which NUMA node each CPU belongs to, for placing compute threads.
#include <numa.h>
