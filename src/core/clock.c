/*
 * clock.c - monotonic and wall clocks.
 */
#include <time.h>

#include "edad/core.h"

uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_mono_ms(void) { return clock_mono_us() / 1000u; }

uint64_t clock_wall_s(void) { return (uint64_t)time(NULL); }
