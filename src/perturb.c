/* perturb.c - schedule perturbation for stress tests (-DACHAN_TEST_PERTURB=ON).
 *
 * atomics.h calls achan__perturb() before every atomic operation in such a
 * build. It draws from a per-thread xorshift generator and now and then
 * yields the CPU or spins a little, so that interleavings a quiet machine
 * never produces (a producer preempted between claiming a slot and publishing
 * it, a wake racing a registration) show up in ordinary test runs.
 */
#define _GNU_SOURCE
#include "atomics.h"

#include <sched.h>
#include <stdint.h>

static _Thread_local uint64_t perturb_state;

static uint64_t next_random(void) {
    uint64_t x = perturb_state;
    if (x == 0) /* Seed from the thread's stack address: differs per thread. */
        x = (uint64_t)(uintptr_t)&x | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    perturb_state = x;
    return x;
}

void achan__perturb(void) {
    uint64_t r = next_random();
    switch (r & 127) {
    case 0: /* 1 in 128: give the CPU away. */
        sched_yield();
        break;
    case 1:
    case 2:
    case 3:
    case 4: /* 4 in 128: a short spin, up to 64 relax hints. */
        for (uint64_t i = (r >> 8) & 63; i > 0; i--)
            achan__cpu_relax();
        break;
    default:
        break;
    }
}
