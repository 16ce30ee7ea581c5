/* test_executor.c - the single-threaded executor (achan/executor.h): a ring
 * of 10,000 tasks, wake-ups from other threads, the cooperative budget (with
 * an always-ready stream and with an mpsc receiver), done callbacks, drop
 * with pending tasks, wakers that outlive their task, allocation failure.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "achan/combinators.h"

#define MS 1000000ll

/* ---- a relay task: receive a token, pass it on incremented, done ---- */

typedef struct {
    achan_future base;
    achan_mpsc_receiver *rx;
    achan_mpsc_sender *tx;
    bool kick; /* Sends 0 first (the ring's starter). */
} relay;

static achan_status relay_poll(achan_future *f, achan_context *cx, void *out) {
    relay *r = (relay *)f;
    if (r->kick) {
        int zero = 0;
        assert_int_equal(achan_mpsc_try_send(r->tx, &zero), ACHAN_OK);
        r->kick = false;
    }
    int tok;
    achan_status st = achan_mpsc_poll_recv(r->rx, cx, &tok);
    if (st == ACHAN_PENDING)
        return st;
    assert_int_equal(st, ACHAN_OK);
    memcpy(out, &tok, sizeof tok);
    tok++;
    achan_status sent = achan_mpsc_try_send(r->tx, &tok);
    /* The starter's receiver is gone by the time the token comes back. */
    assert_true(sent == ACHAN_OK || sent == ACHAN_CLOSED);
    return ACHAN_OK;
}

static void relay_drop(achan_future *f) {
    relay *r = (relay *)f;
    achan_mpsc_receiver_drop(r->rx);
    achan_mpsc_sender_drop(r->tx);
    free(r);
}

static const achan_future_vtbl relay_vtbl = {relay_poll, relay_drop};

#define RING 10000

static int ring_out[RING];
static int ring_done;

static void ring_task_done(achan_status st, void *output, void *user) {
    assert_int_equal(st, ACHAN_OK);
    assert_non_null(output);
    int v;
    memcpy(&v, output, sizeof v);
    ring_out[(intptr_t)user] = v;
    ring_done++;
}

static void ring_of_ten_thousand_tasks_all_finish(void **state) {
    (void)state;
    static achan_mpsc_sender *tx[RING];
    static achan_mpsc_receiver *rx[RING];
    achan_opts o = {.item_size = sizeof(int), .capacity = 1};
    for (int i = 0; i < RING; i++)
        assert_int_equal(achan_mpsc_new(&o, &tx[i], &rx[i]), ACHAN_OK);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    ring_done = 0;
    /* Task i receives from channel i and sends to channel i+1; task 0 sends
     * the token first, then waits for it to come round. */
    for (int i = 0; i < RING; i++) {
        relay *r = malloc(sizeof *r);
        r->base.vtbl = &relay_vtbl;
        r->base.output_size = sizeof(int);
        r->rx = rx[i];
        r->tx = tx[(i + 1) % RING];
        r->kick = i == 0;
        assert_int_equal(achan_executor_spawn(ex, &r->base, ring_task_done, (void *)(intptr_t)i),
                         ACHAN_OK);
    }
    assert_int_equal(achan_executor_tasks(ex), RING);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_int_equal(ring_done, RING);
    assert_int_equal(achan_executor_tasks(ex), 0);
    for (int i = 1; i < RING; i++)
        assert_int_equal(ring_out[i], i - 1);
    assert_int_equal(ring_out[0], RING - 1);
    achan_executor_drop(ex);
}

/* ---- counting receivers woken by other threads ---- */

typedef struct {
    achan_future base;
    achan_mpsc_receiver *rx;
    size_t count;
} counter;

static achan_status counter_poll(achan_future *f, achan_context *cx, void *out) {
    counter *c = (counter *)f;
    int v;
    achan_status st;
    while ((st = achan_mpsc_poll_recv(c->rx, cx, &v)) == ACHAN_OK)
        c->count++;
    if (st == ACHAN_PENDING)
        return st;
    assert_int_equal(st, ACHAN_CLOSED);
    memcpy(out, &c->count, sizeof c->count);
    return ACHAN_OK;
}

static void counter_drop(achan_future *f) {
    counter *c = (counter *)f;
    achan_mpsc_receiver_drop(c->rx);
    free(c);
}

static const achan_future_vtbl counter_vtbl = {counter_poll, counter_drop};

static achan_future *counter_new(achan_mpsc_receiver *rx) {
    counter *c = malloc(sizeof *c);
    c->base.vtbl = &counter_vtbl;
    c->base.output_size = sizeof(size_t);
    c->rx = rx;
    c->count = 0;
    return &c->base;
}

#define XT_TASKS 8
#define XT_THREADS 2

typedef struct {
    achan_mpsc_sender *tx[XT_TASKS];
    size_t per_task;
} feeder_args;

static void *feeder(void *arg) {
    feeder_args *a = arg;
    for (size_t i = 0; i < a->per_task; i++) {
        for (int k = 0; k < XT_TASKS; k++) {
            int v = (int)i;
            assert_int_equal(achan_mpsc_send_blocking(a->tx[k], &v, -1), ACHAN_OK);
        }
    }
    for (int k = 0; k < XT_TASKS; k++)
        achan_mpsc_sender_drop(a->tx[k]);
    return NULL;
}

static size_t xt_counts[XT_TASKS];

static void xt_done(achan_status st, void *output, void *user) {
    assert_int_equal(st, ACHAN_OK);
    memcpy(&xt_counts[(intptr_t)user], output, sizeof(size_t));
}

static void wakes_from_other_threads(void **state) {
    (void)state;
    size_t per = test_stress_count(5000);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    feeder_args args[XT_THREADS];
    achan_opts o = {.item_size = sizeof(int), .capacity = 4}; /* Small: senders wait too. */
    for (int k = 0; k < XT_TASKS; k++) {
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &args[0].tx[k], &rx), ACHAN_OK);
        for (int t = 1; t < XT_THREADS; t++)
            args[t].tx[k] = achan_mpsc_sender_clone(args[0].tx[k]);
        xt_counts[k] = 0;
        assert_int_equal(achan_executor_spawn(ex, counter_new(rx), xt_done, (void *)(intptr_t)k),
                         ACHAN_OK);
    }
    pthread_t th[XT_THREADS];
    for (int t = 0; t < XT_THREADS; t++) {
        args[t].per_task = per;
        pthread_create(&th[t], NULL, feeder, &args[t]);
    }
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    for (int t = 0; t < XT_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < XT_TASKS; k++)
        assert_int_equal(xt_counts[k], per * XT_THREADS);
    achan_executor_drop(ex);
}

/* ---- the cooperative budget ---- */

/* A stream that is always ready (it respects the budget, as a stream that
 * may loop must). */
typedef struct {
    achan_stream base;
    long count;
} ready_stream;

static achan_status ready_poll(achan_stream *s, achan_context *cx, void *item) {
    ready_stream *r = (ready_stream *)s;
    if (!achan_coop_proceed(cx))
        return ACHAN_PENDING;
    r->count++;
    memcpy(item, &r->count, sizeof r->count);
    return ACHAN_OK;
}
static void ready_drop(achan_stream *s) {
    (void)s;
}
static const achan_stream_vtbl ready_vtbl = {ready_poll, ready_drop};

/* Drains a stream until it has `limit` items. */
typedef struct {
    achan_future base;
    achan_stream *s;
    long got, limit;
} drainer;

static achan_status drainer_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    drainer *d = (drainer *)f;
    long v;
    while (d->got < d->limit) {
        achan_status st = achan_stream_poll_next(d->s, cx, &v);
        if (st == ACHAN_PENDING)
            return st;
        assert_int_equal(st, ACHAN_OK);
        d->got++;
    }
    return ACHAN_OK;
}
static void drainer_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl drainer_vtbl = {drainer_poll, drainer_drop};

/* Records what the drainer has got at each of its polls, yielding between. */
#define OBS_POLLS 8
typedef struct {
    achan_future base;
    const drainer *watched;
    long seen[OBS_POLLS];
    int polls;
} observer;

static achan_status observer_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    observer *o = (observer *)f;
    o->seen[o->polls++] = o->watched->got;
    if (o->polls == OBS_POLLS)
        return ACHAN_OK;
    achan_waker_wake_by_ref(cx->waker); /* Yield. */
    return ACHAN_PENDING;
}
static void observer_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl observer_vtbl = {observer_poll, observer_drop};

static void run_budget_case(unsigned budget, long limit, observer *obs) {
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    if (budget != 128)
        achan_executor_set_budget(ex, budget);
    ready_stream rs = {{&ready_vtbl, sizeof(long)}, 0};
    drainer d = {{&drainer_vtbl, 0}, &rs.base, 0, limit};
    *obs = (observer){{&observer_vtbl, 0}, &d, {0}, 0};
    assert_int_equal(achan_executor_spawn(ex, &d.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, &obs->base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_int_equal(d.got, limit);
    assert_int_equal(obs->polls, OBS_POLLS);
    achan_executor_drop(ex);
}

static void budget_keeps_an_always_ready_task_from_starving_others(void **state) {
    (void)state;
    observer obs;
    /* Default budget 128: the drainer yields every 128 items, so the other
     * task runs after each of its turns. */
    run_budget_case(128, 5 * 128, &obs);
    static const long want[OBS_POLLS] = {128, 256, 384, 512, 640, 640, 640, 640};
    for (int i = 0; i < OBS_POLLS; i++)
        assert_int_equal(obs.seen[i], want[i]);

    /* Budget 0 (unlimited): the drainer never yields, so the other task
     * first runs only once the drainer has finished all its work (with an
     * endless stream it would never run at all). */
    run_budget_case(0, 5 * 128, &obs);
    for (int i = 0; i < OBS_POLLS; i++)
        assert_int_equal(obs.seen[i], 5 * 128);

    /* A small budget: 10 items per turn. */
    run_budget_case(10, 5 * 128, &obs);
    for (int i = 0; i < OBS_POLLS; i++)
        assert_int_equal(obs.seen[i], 10 * (i + 1));
}

/* Receives `total` items, recording how many each poll got. */
#define MPSC_TOTAL 1000
typedef struct {
    achan_future base;
    achan_mpsc_receiver *rx;
    int total, polls;
    int per_poll[32];
} batch_recv;

static achan_status batch_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    batch_recv *b = (batch_recv *)f;
    int n = 0, v;
    for (;;) {
        if (b->total == MPSC_TOTAL) {
            b->per_poll[b->polls++] = n;
            return ACHAN_OK;
        }
        achan_status st = achan_mpsc_poll_recv(b->rx, cx, &v);
        if (st == ACHAN_PENDING) {
            b->per_poll[b->polls++] = n;
            return st;
        }
        assert_int_equal(st, ACHAN_OK);
        assert_int_equal(v, b->total);
        b->total++;
        n++;
    }
}
static void batch_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl batch_vtbl = {batch_poll, batch_drop};

static void mpsc_recv_consumes_budget(void **state) {
    (void)state;
    achan_opts o = {.item_size = sizeof(int), .capacity = MPSC_TOTAL};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    for (int i = 0; i < MPSC_TOTAL; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    batch_recv b = {{&batch_vtbl, 0}, rx, 0, 0, {0}};
    observer obs = {{&observer_vtbl, 0}, NULL, {0}, 0};
    drainer dummy = {{&drainer_vtbl, 0}, NULL, 0, 0};
    obs.watched = &dummy;
    assert_int_equal(achan_executor_spawn(ex, &b.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, &obs.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    /* 1000 = 7 * 128 + 104: the channel always had items, yet the task
     * yielded after every 128 receives. */
    assert_int_equal(b.polls, 8);
    for (int i = 0; i < 7; i++)
        assert_int_equal(b.per_poll[i], 128);
    assert_int_equal(b.per_poll[7], 104);
    assert_int_equal(obs.polls, OBS_POLLS);
    achan_executor_drop(ex);

    /* Outside an executor the budget is unlimited. */
    for (int i = 0; i < MPSC_TOTAL; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w};
    int v;
    for (int i = 0; i < MPSC_TOTAL; i++)
        assert_int_equal(achan_mpsc_poll_recv(rx, &cx, &v), ACHAN_OK);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
}

/* ---- done callbacks, outputs, spawning from tasks ---- */

typedef struct {
    achan_future base;
    int value;
    achan_executor *ex; /* Spawns a child when not NULL. */
} value_future;

static void value_drop(achan_future *f) {
    free(f);
}
static achan_status value_poll(achan_future *f, achan_context *cx, void *out);
static const achan_future_vtbl value_vtbl = {value_poll, value_drop};

static achan_future *value_new(int v, achan_executor *spawner) {
    value_future *f = malloc(sizeof *f);
    f->base.vtbl = &value_vtbl;
    f->base.output_size = sizeof(int);
    f->value = v;
    f->ex = spawner;
    return &f->base;
}

static int outputs[16];
static int outputs_n;

static void collect_output(achan_status st, void *output, void *user) {
    (void)user;
    assert_int_equal(st, ACHAN_OK);
    memcpy(&outputs[outputs_n++], output, sizeof(int));
}

static achan_status value_poll(achan_future *f, achan_context *cx, void *out) {
    (void)cx;
    value_future *v = (value_future *)f;
    if (v->ex)
        assert_int_equal(
            achan_executor_spawn(v->ex, value_new(v->value * 10, NULL), collect_output, NULL),
            ACHAN_OK);
    memcpy(out, &v->value, sizeof(int));
    return ACHAN_OK;
}

static void done_callbacks_get_outputs(void **state) {
    (void)state;
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    outputs_n = 0;
    assert_int_equal(achan_executor_spawn(ex, value_new(1, NULL), collect_output, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, value_new(2, ex), collect_output, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, value_new(3, NULL), NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run_until_idle(ex), 0);
    assert_int_equal(outputs_n, 3);
    assert_int_equal(outputs[0], 1);
    assert_int_equal(outputs[1], 2);
    assert_int_equal(outputs[2], 20);                       /* The child spawned by task 2. */
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK); /* Nothing left. */
    achan_executor_drop(ex);
}

/* ---- pending tasks, drop, wakers outliving tasks ---- */

/* Keeps a clone of its waker in *slot; completes when *ready. */
typedef struct {
    achan_future base;
    achan_waker *slot;
    const bool *ready;
} keeper;

static achan_status keeper_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    keeper *k = (keeper *)f;
    if (k->slot->vtbl)
        achan_waker_drop(*k->slot);
    *k->slot = achan_waker_clone(cx->waker);
    return *k->ready ? ACHAN_OK : ACHAN_PENDING;
}
static void keeper_drop(achan_future *f) {
    free(f);
}
static const achan_future_vtbl keeper_vtbl = {keeper_poll, keeper_drop};

static achan_future *keeper_new(achan_waker *slot, const bool *ready) {
    keeper *k = malloc(sizeof *k);
    k->base.vtbl = &keeper_vtbl;
    k->base.output_size = 0;
    k->slot = slot;
    k->ready = ready;
    return &k->base;
}

static int closed_calls;

static void expect_closed(achan_status st, void *output, void *user) {
    (void)user;
    assert_int_equal(st, ACHAN_CLOSED);
    assert_null(output);
    closed_calls++;
}

static void drop_with_pending_tasks(void **state) {
    (void)state;
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_opts o = {.item_size = sizeof(int)};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
    achan_waker kept = {NULL, NULL};
    bool never = false;
    achan_future *sl;
    assert_int_equal(achan_sleep(3600ull * 1000000000ull, &sl), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, counter_new(rx), expect_closed, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, keeper_new(&kept, &never), expect_closed, NULL),
                     ACHAN_OK);
    assert_int_equal(achan_executor_spawn(ex, sl, expect_closed, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run_until_idle(ex), 3);
    int v = 5;
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, 10 * MS), ACHAN_TIMEOUT);
    assert_int_equal(achan_executor_tasks(ex), 3);
    closed_calls = 0;
    achan_executor_drop(ex);
    assert_int_equal(closed_calls, 3);
    /* The receiver went with its task. */
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_CLOSED);
    achan_mpsc_sender_drop(tx);
    /* A waker that outlived the executor wakes nothing; its release frees
     * the task (and the executor's memory) without a leak (ASan). */
    achan_waker_wake_by_ref(&kept);
    achan_waker_wake(kept);
}

static void waking_a_completed_task_does_nothing(void **state) {
    (void)state;
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_waker kept = {NULL, NULL};
    bool ready = false;
    assert_int_equal(achan_executor_spawn(ex, keeper_new(&kept, &ready), NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run_until_idle(ex), 1);
    assert_int_equal(achan_executor_run_until_idle(ex), 1); /* Not woken: not polled. */
    ready = true;
    achan_waker_wake_by_ref(&kept);
    assert_int_equal(achan_executor_run_until_idle(ex), 0);
    achan_waker_wake_by_ref(&kept); /* Completed: nothing queued. */
    assert_int_equal(achan_executor_run_until_idle(ex), 0);
    assert_int_equal(achan_executor_run(ex, 0), ACHAN_OK);
    achan_executor_drop(ex);
    achan_waker_drop(kept);
}

/* A thread that wakes a parked executor after a while. */
typedef struct {
    achan_waker w;
    bool *ready;
} late_waker;

static void *wake_later(void *arg) {
    late_waker *l = arg;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    __atomic_store_n(l->ready, true, __ATOMIC_RELEASE);
    achan_waker_wake(l->w);
    return NULL;
}

typedef struct {
    achan_future base;
    bool *ready;
    achan_waker *hand_out; /* The first poll hands a clone out here. */
} flag_future;

static achan_status flag_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    flag_future *ff = (flag_future *)f;
    if (ff->hand_out && !ff->hand_out->vtbl)
        *ff->hand_out = achan_waker_clone(cx->waker);
    return __atomic_load_n(ff->ready, __ATOMIC_ACQUIRE) ? ACHAN_OK : ACHAN_PENDING;
}
static void flag_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl flag_vtbl = {flag_poll, flag_drop};

static void remote_wake_unparks_a_sleeping_executor(void **state) {
    (void)state;
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    bool ready = false;
    late_waker l = {{NULL, NULL}, &ready};
    flag_future ff = {{&flag_vtbl, 0}, &ready, &l.w};
    assert_int_equal(achan_executor_spawn(ex, &ff.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run_until_idle(ex), 1);
    assert_non_null(l.w.vtbl);
    pthread_t th;
    pthread_create(&th, NULL, wake_later, &l);
    double t0 = test_now_ms();
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK); /* Sleeps until the wake. */
    assert_true(test_now_ms() - t0 >= 10.0);
    pthread_join(th, NULL);
    achan_executor_drop(ex);
}

static void run_timeout_and_bad_arguments(void **state) {
    (void)state;
    achan_executor *ex = (achan_executor *)0x1;
    assert_int_equal(achan_executor_new(NULL), ACHAN_INVALID);
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    achan_future *spare = value_new(1, NULL);
    assert_int_equal(achan_executor_spawn(NULL, spare, NULL, NULL), ACHAN_INVALID);
    achan_future_drop(spare); /* Not taken. */
    assert_int_equal(achan_executor_spawn(ex, NULL, NULL, NULL), ACHAN_INVALID);
    assert_int_equal(achan_executor_run(NULL, 0), ACHAN_INVALID);
    assert_int_equal(achan_executor_run_until_idle(NULL), 0);
    assert_null(achan_executor_timer(NULL));
    assert_int_equal(achan_executor_tasks(NULL), 0);
    achan_executor_set_budget(NULL, 3);
    achan_executor_drop(NULL);
    bool never = false;
    flag_future ff = {{&flag_vtbl, 0}, &never, NULL};
    assert_int_equal(achan_executor_spawn(ex, &ff.base, NULL, NULL), ACHAN_OK);
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(achan_executor_run(ex, 20 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() >= start + 20 * MS);
    assert_int_equal(achan_executor_run(ex, 0), ACHAN_TIMEOUT);
    assert_int_equal(achan_executor_tasks(ex), 1);
    achan_executor_drop(ex);
}

/* ---- allocation failure ---- */

static void allocation_failure_at_every_point(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
    achan_executor *ex = NULL;
    int points = 0;
    for (;; points++) {
        test_alloc_fail_at(&ta, points);
        achan_status st = achan_executor_new(&ex);
        if (st == ACHAN_OK)
            break;
        assert_int_equal(st, ACHAN_NOMEM);
        assert_null(ex);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
    assert_int_equal(points, 2); /* The executor and its timer heap. */
    test_alloc_fail_at(&ta, 0);
    achan_future *f = value_new(7, NULL);
    assert_int_equal(achan_executor_spawn(ex, f, collect_output, NULL), ACHAN_NOMEM);
    assert_int_equal(achan_executor_tasks(ex), 0);
    test_alloc_fail_at(&ta, -1);
    outputs_n = 0;
    assert_int_equal(achan_executor_spawn(ex, f, collect_output, NULL), ACHAN_OK); /* Not taken. */
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    assert_int_equal(outputs_n, 1);
    assert_int_equal(outputs[0], 7);
    achan_executor_drop(ex);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_of_ten_thousand_tasks_all_finish),
        cmocka_unit_test(wakes_from_other_threads),
        cmocka_unit_test(budget_keeps_an_always_ready_task_from_starving_others),
        cmocka_unit_test(mpsc_recv_consumes_budget),
        cmocka_unit_test(done_callbacks_get_outputs),
        cmocka_unit_test(drop_with_pending_tasks),
        cmocka_unit_test(waking_a_completed_task_does_nothing),
        cmocka_unit_test(remote_wake_unparks_a_sleeping_executor),
        cmocka_unit_test(run_timeout_and_bad_arguments),
        cmocka_unit_test(allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
