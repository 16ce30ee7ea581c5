/* test_support.c - see test_support.h. */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void test_check_failed(const char *cond, const char *file, int line) {
    fprintf(stderr, "%s:%d: check failed in a test thread: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}

static achan_waker tw_clone(const void *data);
static void tw_wake(void *data);
static void tw_wake_by_ref(const void *data);
static void tw_drop(void *data);
static const achan_waker_vtbl tw_vtbl = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

static achan_waker tw_clone(const void *data) {
    test_waker *t = (test_waker *)data;
    atomic_fetch_add(&t->clones, 1);
    atomic_fetch_add(&t->live, 1);
    achan_waker w = {&tw_vtbl, t};
    return w;
}

static void tw_wake(void *data) {
    test_waker *t = data;
    atomic_fetch_add(&t->wakes, 1);
    atomic_fetch_sub(&t->live, 1);
}

static void tw_wake_by_ref(const void *data) {
    test_waker *t = (test_waker *)data;
    atomic_fetch_add(&t->wakes, 1);
}

static void tw_drop(void *data) {
    test_waker *t = data;
    atomic_fetch_sub(&t->live, 1);
}

achan_waker test_waker_get(test_waker *t) {
    achan_waker w = {&tw_vtbl, t};
    return w;
}

long test_waker_wakes(test_waker *t) {
    return atomic_load(&t->wakes);
}
long test_waker_live(test_waker *t) {
    return atomic_load(&t->live);
}

static void *ta_alloc(void *ctx, size_t size, size_t align) {
    test_alloc *t = ctx;
    long idx = atomic_fetch_add(&t->next_index, 1);
    long fail = atomic_load(&t->fail_at);
    if (fail >= 0 && idx == fail)
        return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
        return NULL;
    atomic_fetch_add(&t->allocs, 1);
    long live = atomic_fetch_add(&t->live_bytes, (long)size) + (long)size;
    long peak = atomic_load(&t->peak_bytes);
    while (live > peak && !atomic_compare_exchange_weak(&t->peak_bytes, &peak, live)) {
    }
    return p;
}

static void ta_free(void *ctx, void *ptr, size_t size) {
    test_alloc *t = ctx;
    atomic_fetch_add(&t->frees, 1);
    atomic_fetch_sub(&t->live_bytes, (long)size);
    free(ptr);
}

void test_alloc_init(test_alloc *t) {
    t->a.alloc = ta_alloc;
    t->a.free = ta_free;
    t->a.ctx = t;
    atomic_init(&t->allocs, 0);
    atomic_init(&t->frees, 0);
    atomic_init(&t->live_bytes, 0);
    atomic_init(&t->peak_bytes, 0);
    atomic_init(&t->fail_at, -1);
    atomic_init(&t->next_index, 0);
}

void test_alloc_fail_at(test_alloc *t, long n) {
    if (n < 0) {
        atomic_store(&t->fail_at, -1);
        return;
    }
    atomic_store(&t->fail_at, atomic_load(&t->next_index) + n);
}

long test_alloc_live_bytes(test_alloc *t) {
    return atomic_load(&t->live_bytes);
}
long test_alloc_count(test_alloc *t) {
    return atomic_load(&t->allocs);
}

size_t test_stress_count(size_t n) {
    const char *s = getenv("ACHAN_STRESS_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    size_t r = n / (size_t)div;
    return r ? r : 1;
}

double test_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void *test_produce(void *arg) {
    test_producer *p = arg;
    for (uint64_t i = 0; i < p->n; i++) {
        uint64_t m = test_msg(p->id, i);
        TEST_CHECK(achan_mpsc_send_blocking(p->tx, &m, -1) == ACHAN_OK);
    }
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}
