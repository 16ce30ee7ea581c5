/* pingpong_floor - the floor under W4: a raw ping-pong of two atomics.
 *
 *   pingpong_floor [w4 [count]]
 *
 * Two threads, two atomic words on cache lines of their own. The main thread
 * stores i into `ping` and spins until `pong` is i; the echo thread spins
 * until `ping` changes and stores the value into `pong`. Each round trip moves
 * the two cache lines from one core to the other and back, with no queue, no
 * waker and no system call: no channel that hands a message to another thread
 * and waits for the reply can do a round trip faster on the same machine.
 *
 * It speaks ../shared/peers' protocol for W4 only (prints one line
 * RESULT<TAB>w4_pingpong<TAB>atomic-floor<TAB>ns_per_round_trip<TAB>count<TAB>note,
 * exits 64 for any other workload, 2 on a wrong echo), so it can also run in
 * the peers table: EXTRA_PEERS="floor=/path/pingpong_floor". Timing as the
 * peers': wall clock from before the thread is created to after it is joined.
 *
 * A spinner yields its vCPU every 2^16 failed looks, so that on a machine
 * with more runnable threads than CPUs it does not burn whole time slices
 * while its partner waits to run; when both threads run, that never happens.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static void relax(void) {
    _mm_pause();
}
#elif defined(__aarch64__)
static void relax(void) {
    __asm__ volatile("yield");
}
#else
static void relax(void) {}
#endif

/* 128 bytes: also keeps the adjacent-line prefetcher from pairing the two. */
typedef struct {
    _Alignas(128) atomic_uint_fast64_t v;
} line;

static line ping, pong;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spins until *l holds something other than old; returns it. */
static uint64_t wait_change(line *l, uint64_t old) {
    uint64_t v;
    unsigned spins = 0;
    /* Acquire: pairs with the partner's release store. */
    while ((v = atomic_load_explicit(&l->v, memory_order_acquire)) == old) {
        relax();
        if (++spins == 1u << 16) {
            spins = 0;
            sched_yield();
        }
    }
    return v;
}

/* The echo thread: returns each ping through pong until it sees UINT64_MAX. */
static void *echo(void *arg) {
    (void)arg;
    uint64_t last = 0;
    for (;;) {
        /* The main thread stores 1, 2, ... n, then UINT64_MAX to stop. */
        uint64_t v = wait_change(&ping, last);
        if (v == UINT64_MAX)
            return NULL;
        /* Release: the main thread's acquire in wait_change sees the echo. */
        atomic_store_explicit(&pong.v, v, memory_order_release);
        last = v;
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "w4") != 0)
        return 64;
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    if (n == 0 || n >= UINT64_MAX - 1) {
        fprintf(stderr, "usage: %s [w4 [count]]\n", argv[0]);
        return 64;
    }
    uint64_t t0 = now_ns(), sum = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, echo, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    for (uint64_t i = 1; i <= n; i++) {
        atomic_store_explicit(&ping.v, i, memory_order_release);
        sum += wait_change(&pong, i - 1);
    }
    atomic_store_explicit(&ping.v, UINT64_MAX, memory_order_release);
    pthread_join(t, NULL);
    uint64_t dt = now_ns() - t0;
    if (sum != n * (n + 1) / 2) {
        fprintf(stderr, "CHECK FAILED sum: got %" PRIu64 " want %" PRIu64 "\n", sum,
                n * (n + 1) / 2);
        return 2;
    }
    printf("RESULT\tw4_pingpong\tatomic-floor\t%.2f\t%" PRIu64
           "\tns per round trip; 2 threads spinning on 2 atomics, no queue\n",
           (double)dt / (double)n, n);
    return 0;
}
