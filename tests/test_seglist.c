/* test_seglist.c - unit tests for src/seglist.h, the unbounded segment list:
 * FIFO order across many segments, len, close, item sizes, teardown through
 * the drop callback, memory given back after a burst, many producers, and
 * allocation failure of a new segment.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "seglist.h"

/* The list (cache-line aligned fields) with the allocator it uses. */
typedef struct {
    achan__seglist l;
    test_alloc ta;
    size_t item_size;
    unsigned char *scratch;
} test_list;

static test_list *list_new(size_t item_size) {
    test_list *t = aligned_alloc(ACHAN__CACHE_LINE, sizeof *t);
    assert_non_null(t);
    test_alloc_init(&t->ta);
    t->item_size = item_size;
    t->scratch = malloc(item_size);
    assert_non_null(t->scratch);
    assert_int_equal(achan__seglist_init(&t->l, item_size, &t->ta.a), ACHAN_OK);
    return t;
}

/* Destroys the list (items to drop), checks every byte came back. */
static void list_free(test_list *t, void (*drop)(void *item, void *user), void *user) {
    achan__seglist_destroy(&t->l, drop, user, t->scratch);
    assert_int_equal(test_alloc_live_bytes(&t->ta), 0);
    free(t->scratch);
    free(t);
}

static void push_u64(test_list *t, uint64_t v) {
    assert_int_equal(achan__seglist_push(&t->l, &v), ACHAN_OK);
}

static uint64_t pop_u64(test_list *t) {
    uint64_t v = UINT64_MAX;
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_OK);
    return v;
}

/* ---- order, len, close ---- */

static void push_pop_across_many_segments(void **state) {
    (void)state;
    test_list *t = list_new(sizeof(uint64_t));
    const uint64_t n = 10000; /* Hundreds of segments. */
    for (uint64_t i = 0; i < n; i++) {
        push_u64(t, i);
        assert_int_equal(achan__seglist_len(&t->l), i + 1);
    }
    assert_true(test_alloc_count(&t->ta) > 100);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(pop_u64(t), i);
        assert_int_equal(achan__seglist_len(&t->l), n - i - 1);
    }
    uint64_t v = 7;
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(v, 7);
    /* Interleaved, with the list never empty for long. */
    uint64_t in = n, out = n;
    for (int round = 0; round < 2000; round++) {
        for (int k = 0; k < round % 50 + 1; k++)
            push_u64(t, in++);
        for (int k = 0; k < round % 37 + 1 && out < in; k++)
            assert_int_equal(pop_u64(t), out++);
        assert_int_equal(achan__seglist_len(&t->l), in - out);
    }
    while (out < in)
        assert_int_equal(pop_u64(t), out++);
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    list_free(t, NULL, NULL);
}

static void pop_on_empty_is_empty(void **state) {
    (void)state;
    test_list *t = list_new(sizeof(uint64_t));
    uint64_t v = 3;
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(achan__seglist_len(&t->l), 0);
    push_u64(t, 1);
    assert_int_equal(pop_u64(t), 1);
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(v, 3);
    list_free(t, NULL, NULL);
}

static void close_refuses_pushes_keeps_items(void **state) {
    (void)state;
    test_list *t = list_new(sizeof(uint64_t));
    for (uint64_t i = 0; i < 100; i++)
        push_u64(t, i);
    achan__seglist_close(&t->l);
    uint64_t v = 999;
    assert_int_equal(achan__seglist_push(&t->l, &v), ACHAN_CLOSED);
    achan__seglist_close(&t->l); /* Idempotent. */
    assert_int_equal(achan__seglist_push(&t->l, &v), ACHAN_CLOSED);
    assert_int_equal(achan__seglist_len(&t->l), 100);
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(pop_u64(t), i);
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(achan__seglist_push(&t->l, &v), ACHAN_CLOSED);
    assert_int_equal(achan__seglist_len(&t->l), 0);
    list_free(t, NULL, NULL);
}

/* ---- item sizes ---- */

static void fill_item(unsigned char *p, size_t size, uint32_t seq) {
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(seq * 31 + i * 7);
    if (size >= sizeof seq)
        memcpy(p, &seq, sizeof seq);
}

static void items_of_several_sizes(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 8, 24, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        test_list *t = list_new(size);
        unsigned char in[700], out[701];
        const uint32_t n = 1000;
        for (uint32_t i = 0; i < n; i++) {
            fill_item(in, size, i);
            assert_int_equal(achan__seglist_push(&t->l, in), ACHAN_OK);
        }
        assert_int_equal(achan__seglist_len(&t->l), n);
        for (uint32_t i = 0; i < n; i++) {
            fill_item(in, size, i);
            memset(out, 0xee, sizeof out);
            assert_int_equal(achan__seglist_pop(&t->l, out), ACHAN__POP_OK);
            assert_memory_equal(in, out, size);
            assert_int_equal(out[size], 0xee); /* Nothing past item_size. */
        }
        assert_int_equal(achan__seglist_pop(&t->l, out), ACHAN__POP_EMPTY);
        list_free(t, NULL, NULL);
    }
}

/* ---- teardown ---- */

typedef struct {
    size_t item_size;
    uint32_t n;
    uint32_t next;  /* The sequence number expected next (FIFO). */
    unsigned bad;   /* Items out of order or damaged. */
    unsigned *seen; /* Per sequence number: times dropped. */
} drop_log;

static void record_drop(void *item, void *user) {
    drop_log *d = user;
    unsigned char want[700];
    uint32_t seq = d->next++;
    fill_item(want, d->item_size, seq);
    if (memcmp(want, item, d->item_size) != 0) {
        d->bad++;
        return;
    }
    if (seq < d->n)
        d->seen[seq]++;
}

static void destroy_drops_every_item_once(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 8, 24, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        test_list *t = list_new(size);
        unsigned char in[700];
        const uint32_t n = 500, popped = 123;
        for (uint32_t i = 0; i < n; i++) {
            fill_item(in, size, i);
            assert_int_equal(achan__seglist_push(&t->l, in), ACHAN_OK);
        }
        /* Some received, so the remainder starts mid-segment. */
        for (uint32_t i = 0; i < popped; i++)
            assert_int_equal(achan__seglist_pop(&t->l, t->scratch), ACHAN__POP_OK);
        drop_log d = {size, n, popped, 0, calloc(n, sizeof(unsigned))};
        assert_non_null(d.seen);
        list_free(t, record_drop, &d); /* Also checks that every byte came back. */
        assert_int_equal(d.bad, 0);
        assert_int_equal(d.next, n);
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(d.seen[i], i < popped ? 0 : 1);
        free(d.seen);
    }
    /* An empty list drops nothing. */
    test_list *t = list_new(8);
    drop_log d = {8, 0, 0, 0, NULL};
    list_free(t, record_drop, &d);
    assert_int_equal(d.next, 0);
    /* Nor does a drained one that went through many segments. */
    t = list_new(8);
    for (uint64_t i = 0; i < 1000; i++)
        push_u64(t, i);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(pop_u64(t), i);
    list_free(t, record_drop, &d);
    assert_int_equal(d.next, 0);
}

/* ---- memory ---- */

static void memory_returns_after_a_burst(void **state) {
    (void)state;
    test_list *t = list_new(8);
    const uint64_t n = 1000000;
    long base = test_alloc_live_bytes(&t->ta);
    for (uint64_t i = 0; i < n; i++)
        push_u64(t, i);
    long full = test_alloc_live_bytes(&t->ta);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(pop_u64(t), i);
    long live = test_alloc_live_bytes(&t->ta);
    long peak = atomic_load(&t->ta.peak_bytes);
    print_message("live after init %ld, after burst %ld, peak %ld, after drain %ld\n", base, full,
                  peak, live);
    assert_true(peak >= (long)(n * 8)); /* The burst really was held. */
    assert_true(live <= 64 * 1024);
    /* And it stays small when the list is used again. */
    for (int round = 0; round < 100; round++) {
        for (uint64_t i = 0; i < 1000; i++)
            push_u64(t, i);
        for (uint64_t i = 0; i < 1000; i++)
            assert_int_equal(pop_u64(t), i);
    }
    assert_true(test_alloc_live_bytes(&t->ta) <= 64 * 1024);
    list_free(t, NULL, NULL);
}

static void steady_state_allocates_nothing(void **state) {
    (void)state;
    test_list *t = list_new(8);
    uint64_t in = 0, out = 0;
    /* Warm up: a backlog of a few segments. */
    for (int k = 0; k < 200; k++)
        push_u64(t, in++);
    while (out < in)
        assert_int_equal(pop_u64(t), out++);
    long allocs = test_alloc_count(&t->ta);
    for (int round = 0; round < 10000; round++) {
        for (int k = 0; k < round % 100 + 1; k++)
            push_u64(t, in++);
        while (out < in)
            assert_int_equal(pop_u64(t), out++);
    }
    assert_int_equal(test_alloc_count(&t->ta), allocs);
    list_free(t, NULL, NULL);
}

/* ---- allocation failure ---- */

static void init_fails_cleanly_without_memory(void **state) {
    (void)state;
    test_list *t = aligned_alloc(ACHAN__CACHE_LINE, sizeof *t);
    assert_non_null(t);
    test_alloc_init(&t->ta);
    test_alloc_fail_at(&t->ta, 0);
    assert_int_equal(achan__seglist_init(&t->l, 8, &t->ta.a), ACHAN_NOMEM);
    assert_int_equal(test_alloc_live_bytes(&t->ta), 0);
    free(t);
}

static void push_nomem_when_a_segment_cannot_be_allocated(void **state) {
    (void)state;
    test_list *t = list_new(8);
    uint64_t in = 0, out = 0;
    /* Push until a push needs a new segment, failing that allocation. */
    long allocs = test_alloc_count(&t->ta);
    int failures = 0;
    while (failures < 5) {
        test_alloc_fail_at(&t->ta, 0);
        achan_status st = achan__seglist_push(&t->l, &in);
        test_alloc_fail_at(&t->ta, -1);
        if (st == ACHAN_OK) {
            assert_int_equal(test_alloc_count(&t->ta), allocs); /* No allocation needed. */
            in++;
            continue;
        }
        assert_int_equal(st, ACHAN_NOMEM);
        failures++;
        /* Nothing was sent. */
        assert_int_equal(achan__seglist_len(&t->l), in - out);
        /* The next push allocates and succeeds. */
        push_u64(t, in++);
        assert_int_equal(test_alloc_count(&t->ta), allocs + 1);
        allocs++;
        /* Receive a few in between, so failures happen mid-traffic too. */
        for (int k = 0; k < 3; k++)
            assert_int_equal(pop_u64(t), out++);
    }
    while (out < in)
        assert_int_equal(pop_u64(t), out++);
    uint64_t v;
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(achan__seglist_len(&t->l), 0);
    /* A list that failed still takes a burst. */
    for (uint64_t i = 0; i < 1000; i++)
        push_u64(t, i);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(pop_u64(t), i);
    list_free(t, NULL, NULL);
}

/* ---- many producers ---- */

#define PRODUCERS 4

typedef struct {
    test_list *t;
    uint64_t id, n;
    pthread_barrier_t *start;
    atomic_long *errors;
} producer_args;

static void *producer(void *arg) {
    producer_args *a = arg;
    pthread_barrier_wait(a->start);
    for (uint64_t i = 0; i < a->n; i++) {
        uint64_t v = a->id << 32 | i;
        if (achan__seglist_push(&a->t->l, &v) != ACHAN_OK)
            atomic_fetch_add(a->errors, 1);
    }
    return NULL;
}

static void many_producers_one_consumer(void **state) {
    (void)state;
    test_list *t = list_new(sizeof(uint64_t));
    uint64_t per = test_stress_count(250000);
    atomic_long errors;
    atomic_init(&errors, 0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, PRODUCERS + 1);
    producer_args a[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (uint64_t p = 0; p < PRODUCERS; p++) {
        a[p] = (producer_args){t, p, per, &start, &errors};
        assert_int_equal(pthread_create(&th[p], NULL, producer, &a[p]), 0);
    }
    pthread_barrier_wait(&start);
    uint64_t next[PRODUCERS] = {0};
    uint64_t received = 0, bad = 0;
    while (received < per * PRODUCERS && atomic_load(&errors) == 0) {
        uint64_t v;
        achan__pop_result r = achan__seglist_pop(&t->l, &v);
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
    assert_int_equal(atomic_load(&errors), 0);
    assert_int_equal(bad, 0);
    for (int p = 0; p < PRODUCERS; p++)
        assert_int_equal(next[p], per);
    uint64_t v;
    assert_int_equal(achan__seglist_pop(&t->l, &v), ACHAN__POP_EMPTY);
    assert_int_equal(achan__seglist_len(&t->l), 0);
    assert_true(test_alloc_live_bytes(&t->ta) <= 64 * 1024);
    list_free(t, NULL, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(push_pop_across_many_segments),
        cmocka_unit_test(pop_on_empty_is_empty),
        cmocka_unit_test(close_refuses_pushes_keeps_items),
        cmocka_unit_test(items_of_several_sizes),
        cmocka_unit_test(destroy_drops_every_item_once),
        cmocka_unit_test(memory_returns_after_a_burst),
        cmocka_unit_test(steady_state_allocates_nothing),
        cmocka_unit_test(init_fails_cleanly_without_memory),
        cmocka_unit_test(push_nomem_when_a_segment_cannot_be_allocated),
        cmocka_unit_test(many_producers_one_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
