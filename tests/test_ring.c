/* test_ring.c - unit tests for src/ring.h, the bounded lock-free ring:
 * exact capacity, FIFO order across many laps, len, free_ahead, the closed
 * and slow flags, and many producers with one consumer.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

/* A ring with its slot memory (cache-line aligned, as ring.h asks). */
typedef struct {
    achan__ring r;
    void *slots;
} test_ring;

static test_ring *ring_new(size_t cap, size_t item_size) {
    test_ring *t = aligned_alloc(ACHAN__CACHE_LINE, sizeof *t);
    assert_non_null(t);
    size_t size = achan__ring_slots_size(cap, item_size);
    assert_true(size != SIZE_MAX);
    size = (size + ACHAN__CACHE_LINE - 1) / ACHAN__CACHE_LINE * ACHAN__CACHE_LINE;
    t->slots = aligned_alloc(ACHAN__CACHE_LINE, size);
    assert_non_null(t->slots);
    achan__ring_init(&t->r, t->slots, cap, item_size);
    return t;
}

static void ring_free(test_ring *t) {
    free(t->slots);
    free(t);
}

static const size_t caps[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 32, 33, 1023, 1024, 1025};
#define NCAPS (sizeof caps / sizeof caps[0])

/* ---- capacity, order, len ---- */

static void capacity_is_exact(void **state) {
    (void)state;
    for (size_t c = 0; c < NCAPS; c++) {
        size_t cap = caps[c];
        test_ring *t = ring_new(cap, sizeof(uint64_t));
        uint64_t v = 0;
        size_t pushed = 0;
        while (achan__ring_try_push(&t->r, &v, false) == ACHAN_OK) {
            pushed++;
            v++;
            assert_true(pushed <= cap);
            assert_int_equal(achan__ring_len(&t->r), pushed);
        }
        assert_int_equal(pushed, cap);
        /* Full stays full. */
        assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_FULL);
        assert_int_equal(achan__ring_len(&t->r), cap);
        for (uint64_t i = 0; i < cap; i++) {
            uint64_t out = UINT64_MAX;
            assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
            assert_int_equal(out, i);
            assert_int_equal(achan__ring_len(&t->r), cap - i - 1);
        }
        uint64_t out = 12345;
        assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_EMPTY);
        assert_int_equal(out, 12345);
        assert_int_equal(achan__ring_len(&t->r), 0);
        ring_free(t);
    }
}

static void pop_on_empty_is_empty(void **state) {
    (void)state;
    test_ring *t = ring_new(4, sizeof(int));
    int v = -1;
    assert_int_equal(achan__ring_pop(&t->r, &v), ACHAN__POP_EMPTY);
    assert_int_equal(achan__ring_pop(&t->r, &v), ACHAN__POP_EMPTY);
    assert_int_equal(v, -1);
    int one = 1;
    assert_int_equal(achan__ring_try_push(&t->r, &one, false), ACHAN_OK);
    assert_int_equal(achan__ring_pop(&t->r, &v), ACHAN__POP_OK);
    assert_int_equal(v, 1);
    assert_int_equal(achan__ring_pop(&t->r, &v), ACHAN__POP_EMPTY);
    ring_free(t);
}

/* Many laps with every fill level: the sequence stays FIFO and exact. */
static void wraps_around_for_many_laps(void **state) {
    (void)state;
    for (size_t c = 0; c < NCAPS; c++) {
        size_t cap = caps[c];
        test_ring *t = ring_new(cap, sizeof(uint64_t));
        uint64_t next_in = 0, next_out = 0;
        size_t laps = cap < 64 ? 300 : 12;
        size_t target = laps * cap;
        unsigned step = 0;
        while (next_out < target) {
            /* Push a varying amount (bounded by free space), then pop a
             * varying amount, so head and tail cross the wrap at every
             * offset from each other. */
            size_t want_in = (step * 7 + 3) % (cap + 1);
            size_t want_out = (step * 5 + 1) % (cap + 1);
            step++;
            for (size_t i = 0; i < want_in; i++) {
                achan_status st = achan__ring_try_push(&t->r, &next_in, false);
                if (st == ACHAN_FULL) {
                    assert_int_equal(next_in - next_out, cap);
                    break;
                }
                assert_int_equal(st, ACHAN_OK);
                next_in++;
            }
            assert_int_equal(achan__ring_len(&t->r), next_in - next_out);
            for (size_t i = 0; i < want_out; i++) {
                uint64_t out;
                achan__pop_result r = achan__ring_pop(&t->r, &out);
                if (r == ACHAN__POP_EMPTY) {
                    assert_int_equal(next_in, next_out);
                    break;
                }
                assert_int_equal(r, ACHAN__POP_OK);
                assert_int_equal(out, next_out);
                next_out++;
            }
            assert_int_equal(achan__ring_len(&t->r), next_in - next_out);
        }
        /* Exactly cap again after all those laps. */
        uint64_t out;
        while (achan__ring_pop(&t->r, &out) == ACHAN__POP_OK)
            assert_int_equal(out, next_out++);
        size_t n = 0;
        while (achan__ring_try_push(&t->r, &n, false) == ACHAN_OK)
            n++;
        assert_int_equal(n, cap);
        ring_free(t);
    }
}

/* Odd item sizes are copied whole and kept apart. */
static void items_of_odd_sizes(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 3, 13, 24, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        test_ring *t = ring_new(5, size);
        unsigned char in[700], out[700];
        for (int round = 0; round < 40; round++) {
            for (int k = 0; k < 3; k++) {
                memset(in, round * 3 + k, size);
                in[size - 1] = (unsigned char)(0xa5 ^ (round * 3 + k));
                assert_int_equal(achan__ring_try_push(&t->r, in, false), ACHAN_OK);
            }
            for (int k = 0; k < 3; k++) {
                memset(in, round * 3 + k, size);
                in[size - 1] = (unsigned char)(0xa5 ^ (round * 3 + k));
                memset(out, 0xee, sizeof out);
                assert_int_equal(achan__ring_pop(&t->r, out), ACHAN__POP_OK);
                assert_memory_equal(in, out, size);
                /* Nothing beyond item_size was written. */
                if (size < sizeof out)
                    assert_int_equal(out[size], 0xee);
            }
        }
        ring_free(t);
    }
}

/* ---- free_ahead ---- */

static void free_ahead_reports_free_slots(void **state) {
    (void)state;
    const size_t test_caps[] = {1, 2, 3, 5, 8, 33};
    for (size_t c = 0; c < sizeof test_caps / sizeof test_caps[0]; c++) {
        size_t cap = test_caps[c];
        test_ring *t = ring_new(cap, sizeof(uint64_t));
        uint64_t v = 0, out;
        /* Offset head and tail from index 0 by some laps' worth of traffic. */
        for (size_t i = 0; i < 3 * cap + 1; i++) {
            assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
            assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
        }
        /* With j items buffered, the slot k after tail is free iff j + k < cap. */
        for (size_t j = 0; j <= cap; j++) {
            for (size_t k = 0; k < cap + 2; k++)
                assert_int_equal(achan__ring_free_ahead(&t->r, k), j + k < cap);
            if (j < cap)
                assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
        }
        /* Popping frees the oldest slot, which is the one right after tail. */
        assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
        assert_true(achan__ring_free_ahead(&t->r, 0));
        assert_false(achan__ring_free_ahead(&t->r, 1));
        ring_free(t);
    }
}

/* ---- flags ---- */

static void closed_bit_refuses_pushes(void **state) {
    (void)state;
    test_ring *t = ring_new(3, sizeof(int));
    int v = 1, out;
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
    achan__ring_set_flags(&t->r, t->r.closed_bit);
    v = 2;
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_CLOSED);
    assert_int_equal(achan__ring_len(&t->r), 1);
    /* A granted push ignores the flag. */
    assert_int_equal(achan__ring_try_push(&t->r, &v, true), ACHAN_OK);
    assert_int_equal(achan__ring_len(&t->r), 2);
    /* Closed beats slow. */
    achan__ring_set_flags(&t->r, t->r.slow_bit);
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_CLOSED);
    /* Items stay receivable. */
    assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
    assert_int_equal(out, 1);
    assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
    assert_int_equal(out, 2);
    assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_EMPTY);
    achan__ring_clear_flags(&t->r, t->r.closed_bit | t->r.slow_bit);
    v = 3;
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
    assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
    assert_int_equal(out, 3);
    ring_free(t);
}

static void slow_bit_makes_pushes_full(void **state) {
    (void)state;
    test_ring *t = ring_new(4, sizeof(int));
    int v = 10, out;
    achan__ring_set_flags(&t->r, t->r.slow_bit);
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_FULL);
    assert_int_equal(achan__ring_len(&t->r), 0);
    assert_true(achan__ring_free_ahead(&t->r, 0));
    /* Granted pushes go through, and the flag survives them. */
    for (int i = 0; i < 3; i++) {
        v = 10 + i;
        assert_int_equal(achan__ring_try_push(&t->r, &v, true), ACHAN_OK);
        assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_FULL);
    }
    assert_int_equal(achan__ring_len(&t->r), 3);
    assert_true(achan__ring_free_ahead(&t->r, 0));
    assert_false(achan__ring_free_ahead(&t->r, 1));
    achan__ring_clear_flags(&t->r, t->r.slow_bit);
    v = 13;
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
    assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_FULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
        assert_int_equal(out, 10 + i);
    }
    ring_free(t);
}

/* The flag bits sit above the index bits: setting them changes neither
 * len nor the positions, at every capacity. */
static void flags_do_not_disturb_positions(void **state) {
    (void)state;
    for (size_t c = 0; c < NCAPS; c++) {
        size_t cap = caps[c];
        test_ring *t = ring_new(cap, sizeof(uint64_t));
        assert_true(t->r.closed_bit > t->r.index_mask);
        assert_true(t->r.slow_bit > t->r.closed_bit);
        assert_true(t->r.one_lap > t->r.slow_bit);
        uint64_t v = 0, out;
        size_t half = cap / 2 + 1;
        for (size_t i = 0; i < half; i++) {
            v = i;
            assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_OK);
        }
        achan__ring_set_flags(&t->r, t->r.slow_bit);
        assert_int_equal(achan__ring_len(&t->r), half);
        for (size_t i = half; i < cap; i++) {
            v = i;
            assert_int_equal(achan__ring_try_push(&t->r, &v, true), ACHAN_OK);
        }
        assert_int_equal(achan__ring_len(&t->r), cap);
        achan__ring_clear_flags(&t->r, t->r.slow_bit);
        assert_int_equal(achan__ring_try_push(&t->r, &v, false), ACHAN_FULL);
        for (size_t i = 0; i < cap; i++) {
            assert_int_equal(achan__ring_pop(&t->r, &out), ACHAN__POP_OK);
            assert_int_equal(out, i);
        }
        ring_free(t);
    }
}

/* ---- many producers, one consumer ---- */

#define PRODUCERS 4

typedef struct {
    test_ring *t;
    uint64_t id, n;
    pthread_barrier_t *start;
} producer_args;

static void *producer(void *arg) {
    producer_args *a = arg;
    pthread_barrier_wait(a->start);
    for (uint64_t i = 0; i < a->n; i++) {
        uint64_t v = a->id << 32 | i;
        while (achan__ring_try_push(&a->t->r, &v, false) != ACHAN_OK)
            sched_yield();
    }
    return NULL;
}

static void many_producers_one_consumer(void **state) {
    (void)state;
    const size_t test_caps[] = {1, 3, 64, 1025};
    for (size_t c = 0; c < sizeof test_caps / sizeof test_caps[0]; c++) {
        test_ring *t = ring_new(test_caps[c], sizeof(uint64_t));
        uint64_t per = test_stress_count(test_caps[c] < 8 ? 20000 : 200000);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, PRODUCERS + 1);
        producer_args a[PRODUCERS];
        pthread_t th[PRODUCERS];
        for (uint64_t p = 0; p < PRODUCERS; p++) {
            a[p] = (producer_args){t, p, per, &start};
            assert_int_equal(pthread_create(&th[p], NULL, producer, &a[p]), 0);
        }
        pthread_barrier_wait(&start);
        uint64_t next[PRODUCERS] = {0};
        uint64_t received = 0, bad = 0;
        while (received < per * PRODUCERS) {
            uint64_t v;
            achan__pop_result r = achan__ring_pop(&t->r, &v);
            if (r != ACHAN__POP_OK) {
                sched_yield();
                continue;
            }
            uint64_t id = v >> 32, seq = v & 0xffffffffu;
            if (id >= PRODUCERS || seq != next[id])
                bad++;
            else
                next[id]++;
            received++;
        }
        for (int p = 0; p < PRODUCERS; p++)
            pthread_join(th[p], NULL);
        pthread_barrier_destroy(&start);
        assert_int_equal(bad, 0);
        for (int p = 0; p < PRODUCERS; p++)
            assert_int_equal(next[p], per);
        uint64_t v;
        assert_int_equal(achan__ring_pop(&t->r, &v), ACHAN__POP_EMPTY);
        assert_int_equal(achan__ring_len(&t->r), 0);
        ring_free(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capacity_is_exact),
        cmocka_unit_test(pop_on_empty_is_empty),
        cmocka_unit_test(wraps_around_for_many_laps),
        cmocka_unit_test(items_of_odd_sizes),
        cmocka_unit_test(free_ahead_reports_free_slots),
        cmocka_unit_test(closed_bit_refuses_pushes),
        cmocka_unit_test(slow_bit_makes_pushes_full),
        cmocka_unit_test(flags_do_not_disturb_positions),
        cmocka_unit_test(many_producers_one_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
