/* test_support.h - helpers shared by achan's tests.
 *
 *   counting waker     a waker that counts wakes and live clones, to prove
 *                      that PENDING registered it, that a send woke it, and
 *                      that every clone was released;
 *   test allocator     an achan_allocator that counts allocations and live
 *                      bytes, and fails the n-th allocation on request;
 *   stress sizing      message counts scaled by ACHAN_STRESS_SCALE.
 */
#ifndef ACHAN_TEST_SUPPORT_H
#define ACHAN_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdatomic.h>

#include "achan/achan.h"

/* cmocka's assert_* may only be used on the thread running the test: from
 * any other thread use TEST_CHECK, which prints the failed condition and
 * aborts the process (so the test fails loudly instead of exiting quietly). */
#define TEST_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            test_check_failed(#cond, __FILE__, __LINE__);                                          \
    } while (0)
void test_check_failed(const char *cond, const char *file, int line);

/* ---- counting waker ---- */
typedef struct test_waker {
    atomic_long wakes;  /* wake + wake_by_ref calls */
    atomic_long clones; /* clones made */
    atomic_long live;   /* clones not yet woken-by-value or dropped */
} test_waker;

/* A waker for t: holds no reference itself (the context does not own it);
 * every clone made from it is counted in t->live until woken or dropped. */
achan_waker test_waker_get(test_waker *t);
long test_waker_wakes(test_waker *t);
long test_waker_live(test_waker *t);

/* ---- test allocator ---- */
typedef struct test_alloc {
    achan_allocator a;
    atomic_long allocs, frees;
    atomic_long live_bytes, peak_bytes;
    atomic_long fail_at; /* Fail the allocation with this index (0-based); -1: never. */
    atomic_long next_index;
} test_alloc;

void test_alloc_init(test_alloc *t);
/* Makes the n-th allocation from now fail (0 = the next one); -1 disables. */
void test_alloc_fail_at(test_alloc *t, long n);
long test_alloc_live_bytes(test_alloc *t);
long test_alloc_count(test_alloc *t);

/* ---- stress sizing ---- */
/* n divided by the ACHAN_STRESS_SCALE environment variable (default 1). */
size_t test_stress_count(size_t n);

/* Monotonic milliseconds, for reporting only (tests never assert a time). */
double test_now_ms(void);

/* ---- tagged messages, for exactly-once-in-order checks ---- */
/* A u64 message carrying its producer (the bits above 40) and that
 * producer's sequence number (the 40 bits below). */
static inline uint64_t test_msg(uint64_t producer, uint64_t seq) {
    return producer << 40 | seq;
}
static inline uint64_t test_msg_producer(uint64_t m) {
    return m >> 40;
}
static inline uint64_t test_msg_seq(uint64_t m) {
    return m & ((1ull << 40) - 1);
}

/* A producer thread's arguments: it sends test_msg(id, 0..n-1) through tx
 * with send_blocking, then drops tx (test_produce, for pthread_create). */
typedef struct test_producer {
    achan_mpsc_sender *tx;
    uint64_t id, n;
} test_producer;
void *test_produce(void *arg);

#endif
