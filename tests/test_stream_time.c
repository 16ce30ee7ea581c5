/* test_stream_time.c - achan_stream_timeout and achan_stream_throttle under
 * the three drivers (achan_stream_next_blocking: the thread timer; the
 * executor: its heap; polling by hand with the thread parker: the shared
 * timer thread), fed through an mpsc channel from another thread, plus their
 * single-threaded rules (Tokio's StreamExt::timeout / throttle).
 *
 * Timings are noisy: only lower bounds and orders are asserted, and the
 * feeder paces itself on what the consumer has seen, never on the clock.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_support.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "achan/combinators.h"

#define MS 1000000ull

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

/* ---- what the consumer saw ---- */

typedef struct {
    achan_status st;
    int v;
    uint64_t before, after; /* Clock before the wait for it began, after it ended. */
} rec;

typedef struct {
    rec log[64];
    atomic_int n, items, timeouts;
} consumer;

static void consumer_init(consumer *c) {
    memset(c->log, 0, sizeof c->log);
    atomic_init(&c->n, 0);
    atomic_init(&c->items, 0);
    atomic_init(&c->timeouts, 0);
}

static void record(consumer *c, achan_status st, int v, uint64_t before) {
    int n = atomic_load(&c->n);
    assert_true(n < 64);
    c->log[n] = (rec){st, v, before, achan_monotonic_ns()};
    atomic_store(&c->n, n + 1);
    if (st == ACHAN_OK)
        atomic_fetch_add(&c->items, 1);
    else if (st == ACHAN_TIMEOUT)
        atomic_fetch_add(&c->timeouts, 1);
}

/* Waits (by polling: the feeder is not under test) until *a >= n. */
static void await_count(atomic_int *a, int n) {
    while (atomic_load(a) < n)
        sleep_ns(MS / 2);
}

/* ---- the three drivers: each consumes s until CLOSED into c ---- */

typedef enum { DRIVE_BLOCKING, DRIVE_EXECUTOR, DRIVE_BY_HAND } driver;

static void drive_blocking(achan_stream *s, consumer *c) {
    achan_status st;
    do {
        int v = -1;
        uint64_t before = achan_monotonic_ns();
        st = achan_stream_next_blocking(s, &v, -1);
        record(c, st, v, before);
    } while (st != ACHAN_CLOSED);
}

static void drive_by_hand(achan_stream *s, consumer *c) {
    assert_ptr_equal(achan_timer_current(), achan_timer_shared());
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    achan_context cx = {&w};
    achan_status st;
    do {
        int v = -1;
        uint64_t before = achan_monotonic_ns();
        while ((st = achan_stream_poll_next(s, &cx, &v)) == ACHAN_PENDING)
            achan_thread_park(-1); /* Only a send or the shared timer wakes us. */
        record(c, st, v, before);
    } while (st != ACHAN_CLOSED);
    achan_waker_drop(w);
}

typedef struct {
    achan_future base;
    achan_stream *s;
    consumer *c;
    bool waiting;
    uint64_t before;
} consume_task;

static achan_status consume_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    consume_task *t = (consume_task *)f;
    for (;;) {
        if (!t->waiting) {
            t->before = achan_monotonic_ns();
            t->waiting = true;
        }
        int v = -1;
        achan_status st = achan_stream_poll_next(t->s, cx, &v);
        if (st == ACHAN_PENDING)
            return st;
        t->waiting = false;
        record(t->c, st, v, t->before);
        if (st == ACHAN_CLOSED)
            return ACHAN_OK;
    }
}
static void consume_drop(achan_future *f) {
    (void)f;
}
static const achan_future_vtbl consume_vtbl = {consume_poll, consume_drop};

static void drive_executor(achan_stream *s, consumer *c) {
    achan_executor *ex;
    assert_int_equal(achan_executor_new(&ex), ACHAN_OK);
    consume_task t = {{&consume_vtbl, 0}, s, c, false, 0};
    assert_int_equal(achan_executor_spawn(ex, &t.base, NULL, NULL), ACHAN_OK);
    assert_int_equal(achan_executor_run(ex, -1), ACHAN_OK);
    achan_executor_drop(ex);
}

static void drive(driver d, achan_stream *s, consumer *c) {
    switch (d) {
    case DRIVE_BLOCKING:
        drive_blocking(s, c);
        break;
    case DRIVE_EXECUTOR:
        drive_executor(s, c);
        break;
    case DRIVE_BY_HAND:
        drive_by_hand(s, c);
        break;
    }
}

static void new_int_chan(achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int)};
    assert_int_equal(achan_mpsc_new(&o, tx, rx), ACHAN_OK);
}

/* ---- timeout under each driver ---- */

#define GAP_ITEMS 3
#define TIMEOUT_D (20 * MS)

typedef struct {
    achan_mpsc_sender *tx;
    consumer *c;
} feed_args;

/* Item k is sent only after the consumer saw item k-1 and then the TIMEOUT
 * of that gap, and 2d more passed (room for a wrong second TIMEOUT). */
static void *gap_feeder(void *arg) {
    feed_args *a = arg;
    for (int k = 1; k <= GAP_ITEMS; k++) {
        await_count(&a->c->items, k);
        await_count(&a->c->timeouts, k);
        sleep_ns(2 * TIMEOUT_D);
        if (k < GAP_ITEMS)
            assert_int_equal(achan_mpsc_send_blocking(a->tx, &k, -1), ACHAN_OK);
    }
    achan_mpsc_sender_drop(a->tx);
    return NULL;
}

static void timeout_under(driver d) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    int zero = 0;
    /* Item 0 is already there, so the first gap cannot time out. */
    assert_int_equal(achan_mpsc_try_send(tx, &zero), ACHAN_OK);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_timeout(s, TIMEOUT_D, &s), ACHAN_OK);
    assert_int_equal(s->item_size, sizeof(int));
    static consumer c;
    consumer_init(&c);
    feed_args a = {tx, &c};
    pthread_t th;
    pthread_create(&th, NULL, gap_feeder, &a);
    drive(d, s, &c);
    pthread_join(th, NULL);

    /* item 0, TIMEOUT, item 1, TIMEOUT, item 2, TIMEOUT, CLOSED: exactly
     * one TIMEOUT per silence, however long it lasted. */
    assert_int_equal(atomic_load(&c.n), 2 * GAP_ITEMS + 1);
    for (int k = 0; k < GAP_ITEMS; k++) {
        rec *item = &c.log[2 * k], *to = &c.log[2 * k + 1];
        assert_int_equal(item->st, ACHAN_OK);
        assert_int_equal(item->v, k);
        assert_int_equal(to->st, ACHAN_TIMEOUT);
        assert_int_equal(to->v, -1); /* Nothing written. */
        /* Not before d had passed since the item. */
        assert_true(to->after >= item->before + TIMEOUT_D);
    }
    assert_int_equal(c.log[2 * GAP_ITEMS].st, ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void timeout_blocking(void **state) {
    (void)state;
    timeout_under(DRIVE_BLOCKING);
}
static void timeout_executor(void **state) {
    (void)state;
    timeout_under(DRIVE_EXECUTOR);
}
static void timeout_by_hand(void **state) {
    (void)state;
    timeout_under(DRIVE_BY_HAND);
}

/* ---- throttle under each driver ---- */

#define THROTTLE_ITEMS 6
#define THROTTLE_P (10 * MS)

static void *burst_feeder(void *arg) {
    feed_args *a = arg;
    for (int k = 0; k < THROTTLE_ITEMS; k++)
        assert_int_equal(achan_mpsc_send_blocking(a->tx, &k, -1), ACHAN_OK);
    achan_mpsc_sender_drop(a->tx);
    return NULL;
}

static void throttle_under(driver d) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_throttle(s, THROTTLE_P, &s), ACHAN_OK);
    static consumer c;
    consumer_init(&c);
    feed_args a = {tx, &c};
    pthread_t th;
    pthread_create(&th, NULL, burst_feeder, &a);
    drive(d, s, &c);
    pthread_join(th, NULL);

    /* Every item, in order (none dropped), then CLOSED. */
    assert_int_equal(atomic_load(&c.n), THROTTLE_ITEMS + 1);
    for (int k = 0; k < THROTTLE_ITEMS; k++) {
        assert_int_equal(c.log[k].st, ACHAN_OK);
        assert_int_equal(c.log[k].v, k);
        if (k > 0) {
            /* At least p after the previous item was yielded (which was after
             * its wait began), and k periods after the first. */
            assert_true(c.log[k].after >= c.log[k - 1].before + THROTTLE_P);
            assert_true(c.log[k].after >= c.log[0].before + (uint64_t)k * THROTTLE_P);
        }
    }
    assert_int_equal(c.log[THROTTLE_ITEMS].st, ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void throttle_blocking(void **state) {
    (void)state;
    throttle_under(DRIVE_BLOCKING);
}
static void throttle_executor(void **state) {
    (void)state;
    throttle_under(DRIVE_EXECUTOR);
}
static void throttle_by_hand(void **state) {
    (void)state;
    throttle_under(DRIVE_BY_HAND);
}

/* ---- single-threaded rules ---- */

static achan_status poll_with(achan_stream *s, test_waker *tw, int *v) {
    achan_waker w = test_waker_get(tw);
    achan_context cx = {&w};
    return achan_stream_poll_next(s, &cx, v);
}

static void timeout_first_gap_starts_at_creation(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    uint64_t created = achan_monotonic_ns();
    assert_int_equal(achan_stream_timeout(s, 10 * MS, &s), ACHAN_OK);
    int v = -1;
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() >= created + 10 * MS);
    assert_int_equal(v, -1);
    /* One per gap: the next wait sees no second TIMEOUT, only its own
     * time running out. */
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(achan_stream_next_blocking(s, &v, 30 * MS), ACHAN_TIMEOUT);
    assert_true(achan_monotonic_ns() >= start + 30 * MS);
    assert_int_equal(v, -1);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void timeout_prefers_a_ready_item_and_never_times_out_a_burst(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_timeout(s, 5 * MS, &s), ACHAN_OK);
    sleep_ns(15 * MS); /* The first gap expired... */
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    test_waker tw = {0};
    int v;
    for (int i = 0; i < 3; i++) { /* ...but items that are ready win. */
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, i);
    }
    /* A new gap: PENDING with the waker registered in the channel and in the
     * timer; the timer wakes it, then TIMEOUT. */
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 2);
    while (test_waker_wakes(&tw) == 0)
        sleep_ns(MS);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_TIMEOUT);
    assert_int_equal(test_waker_live(&tw), 1); /* Only the channel's. */
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 1); /* No timer until the next item. */
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_mpsc_sender_drop(tx);
}

static void timeout_drop_while_armed_releases_the_waker(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_timeout(s, 50 * MS, &s), ACHAN_OK);
    test_waker tw = {0};
    int v;
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tw), 2);
    assert_int_equal(atomic_load(&tw.clones), 2); /* Same waker: not cloned again. */
    achan_mpsc_sender_drop(tx);                   /* Ends the input: CLOSED disarms the timer. */
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_CLOSED);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_stream_drop(s);

    new_int_chan(&tx, &rx);
    s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_timeout(s, 50 * MS, &s), ACHAN_OK);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    achan_stream_drop(s); /* Drop while armed. */
    assert_int_equal(test_waker_live(&tw), 0);
    achan_mpsc_sender_drop(tx);
}

/* A stream that plays a script of statuses (items are their index). */
typedef struct {
    achan_stream base;
    const achan_status *script;
    int n, at;
} script_stream;

static achan_status script_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    script_stream *t = (script_stream *)s;
    if (t->at == t->n)
        return ACHAN_CLOSED;
    achan_status st = t->script[t->at];
    if (st == ACHAN_OK)
        memcpy(item, &t->at, sizeof t->at);
    t->at++;
    return st;
}
static void script_drop(achan_stream *s) {
    (void)s;
}
static const achan_stream_vtbl script_vtbl = {script_poll, script_drop};

static void lagged_passes_through(void **state) {
    (void)state;
    static const achan_status script[] = {ACHAN_LAGGED, ACHAN_OK, ACHAN_LAGGED, ACHAN_OK};
    for (int kind = 0; kind < 2; kind++) {
        script_stream in = {{&script_vtbl, sizeof(int)}, script, 4, 0};
        achan_stream *s = &in.base;
        if (kind == 0)
            assert_int_equal(achan_stream_timeout(s, 50 * MS, &s), ACHAN_OK);
        else
            assert_int_equal(achan_stream_throttle(s, MS, &s), ACHAN_OK);
        int v = -1;
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_LAGGED);
        assert_int_equal(v, -1);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
        assert_int_equal(v, 1);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_LAGGED);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
        assert_int_equal(v, 3);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
        assert_int_equal(in.at, 4); /* Not polled after it ended. */
        achan_stream_drop(s);
    }
}

static void throttle_delays_by_hand(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    achan_mpsc_sender_drop(tx);
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_throttle(s, 10 * MS, &s), ACHAN_OK);
    test_waker tw = {0};
    int v;
    uint64_t start = achan_monotonic_ns();
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK); /* The first at once. */
    assert_int_equal(v, 0);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING); /* Ready, but delayed. */
    assert_int_equal(test_waker_live(&tw), 1);              /* In the timer only. */
    while (test_waker_wakes(&tw) == 0)
        sleep_ns(MS);
    assert_true(achan_monotonic_ns() >= start + 10 * MS);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
    assert_int_equal(v, 2);
    assert_true(achan_monotonic_ns() >= start + 20 * MS);
    /* The end is also held back a period, then CLOSED for good. */
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_CLOSED);
    assert_int_equal(test_waker_live(&tw), 0);
    achan_stream_drop(s);

    /* Period 0 passes everything through at once. */
    new_int_chan(&tx, &rx);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
    s = achan_mpsc_receiver_stream(rx);
    assert_int_equal(achan_stream_throttle(s, 0, &s), ACHAN_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, i);
    }
    assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
    achan_mpsc_sender_drop(tx);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&tw), 0);
}

/* Over an mpsc input: PENDING registers the waker in the channel, and a send
 * wakes it through the adapter (kind 0: timeout, 1: throttle). */
static void input_wakes_reach_the_outer_waker(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        new_int_chan(&tx, &rx);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        if (kind == 0)
            assert_int_equal(achan_stream_timeout(s, 10 * 1000 * MS, &s), ACHAN_OK);
        else
            assert_int_equal(achan_stream_throttle(s, 5 * MS, &s), ACHAN_OK);
        test_waker tw = {0};
        int v = -1;
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
        assert_int_equal(v, -1);
        /* timeout: in the channel and in the timer; throttle: the channel. */
        assert_int_equal(test_waker_live(&tw), kind == 0 ? 2 : 1);
        assert_int_equal(test_waker_wakes(&tw), 0);
        int one = 1;
        assert_int_equal(achan_mpsc_try_send(tx, &one), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&tw), 1);
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, 1);
        if (kind == 1) {
            /* Throttle holds the next poll back a period: the timer has the
             * waker and wakes it; only then is the channel polled again. */
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
            assert_int_equal(test_waker_live(&tw), 1);
            while (test_waker_wakes(&tw) < 2)
                sleep_ns(MS);
        }
        /* Empty again: PENDING in the channel, and the next send wakes. */
        long wakes = test_waker_wakes(&tw);
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING);
        int two = 2;
        assert_int_equal(achan_mpsc_try_send(tx, &two), ACHAN_OK);
        assert_int_equal(test_waker_wakes(&tw), wakes + 1);
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
        assert_int_equal(v, 2);
        achan_mpsc_sender_drop(tx);
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
        assert_int_equal(poll_with(s, &tw, &v), ACHAN_CLOSED);
        assert_int_equal(test_waker_live(&tw), 0);
        achan_stream_drop(s);
    }
}

static int undelivered;
static void count_undelivered(void *item, void *user) {
    (void)item;
    (void)user;
    undelivered++;
}

/* Dropping either adapter drops its input with it: the channel closes, its
 * undelivered items go to item_drop, and no waker clone survives, also with
 * the adapter's timer entry armed (timeout watching a gap, throttle holding
 * back the next item). */
static void drop_frees_the_input_and_the_timer_entry(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        achan_opts o = {.item_size = sizeof(int), .item_drop = count_undelivered};
        achan_mpsc_sender *tx;
        achan_mpsc_receiver *rx;
        assert_int_equal(achan_mpsc_new(&o, &tx, &rx), ACHAN_OK);
        achan_stream *s = achan_mpsc_receiver_stream(rx);
        if (kind == 0)
            assert_int_equal(achan_stream_timeout(s, 1000 * MS, &s), ACHAN_OK);
        else
            assert_int_equal(achan_stream_throttle(s, 1000 * MS, &s), ACHAN_OK);
        undelivered = 0;
        test_waker tw = {0};
        int v;
        if (kind == 0) {
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING); /* Gap watched. */
            assert_int_equal(test_waker_live(&tw), 2);
            for (int i = 0; i < 3; i++)
                assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
        } else {
            for (int i = 0; i < 3; i++)
                assert_int_equal(achan_mpsc_try_send(tx, &i), ACHAN_OK);
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_OK);
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_PENDING); /* Held back. */
            assert_int_equal(test_waker_live(&tw), 1);              /* In the timer. */
        }
        assert_int_equal(v, 0);
        assert_false(achan_mpsc_sender_is_closed(tx));
        achan_stream_drop(s);
        assert_true(achan_mpsc_sender_is_closed(tx));
        assert_int_equal(undelivered, 2);
        assert_int_equal(test_waker_live(&tw), 0);
        achan_mpsc_sender_drop(tx);
    }
}

/* A stream that does not stay ended: OK 0, OK 1, CLOSED, then items again.
 * Counts its polls. */
typedef struct {
    achan_stream base;
    int polls;
} reviving_stream;

static achan_status reviving_poll(achan_stream *s, achan_context *cx, void *item) {
    (void)cx;
    reviving_stream *r = (reviving_stream *)s;
    int k = r->polls++;
    if (k == 2)
        return ACHAN_CLOSED;
    memcpy(item, &k, sizeof k);
    return ACHAN_OK;
}
static const achan_stream_vtbl reviving_vtbl = {reviving_poll, script_drop};

static void never_polls_an_ended_input(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        reviving_stream in = {{&reviving_vtbl, sizeof(int)}, 0};
        achan_stream *s = &in.base;
        if (kind == 0)
            assert_int_equal(achan_stream_timeout(s, 1000 * MS, &s), ACHAN_OK);
        else
            assert_int_equal(achan_stream_throttle(s, MS, &s), ACHAN_OK);
        int v = -1;
        for (int k = 0; k < 2; k++) {
            assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
            assert_int_equal(v, k);
        }
        assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
        assert_int_equal(in.polls, 3);
        test_waker tw = {0};
        for (int i = 0; i < 3; i++) {
            assert_int_equal(poll_with(s, &tw, &v), ACHAN_CLOSED);
            assert_int_equal(achan_stream_next_blocking(s, &v, 0), ACHAN_CLOSED);
        }
        assert_int_equal(in.polls, 3);
        assert_int_equal(test_waker_live(&tw), 0);
        achan_stream_drop(s);
    }
}

static void bad_arguments_and_allocation_failure(void **state) {
    (void)state;
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    new_int_chan(&tx, &rx);
    achan_stream *in = achan_mpsc_receiver_stream(rx), *out = (achan_stream *)0x1;
    assert_int_equal(achan_stream_timeout(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_timeout(in, 1, NULL), ACHAN_INVALID);
    assert_int_equal(achan_stream_throttle(NULL, 1, &out), ACHAN_INVALID);
    assert_int_equal(achan_stream_throttle(in, 1, NULL), ACHAN_INVALID);

    test_alloc ta;
    test_alloc_init(&ta);
    assert_int_equal(achan_set_default_allocator(&ta.a), ACHAN_OK);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_stream_timeout(in, 1, &out), ACHAN_NOMEM);
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_stream_throttle(in, 1, &out), ACHAN_NOMEM);
    assert_ptr_equal(out, (achan_stream *)0x1);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    /* Nothing consumed: the input is still the caller's and works. */
    int v = 4;
    assert_int_equal(achan_mpsc_try_send(tx, &v), ACHAN_OK);
    assert_int_equal(achan_stream_next_blocking(in, &v, 0), ACHAN_OK);
    assert_int_equal(v, 4);
    /* Made with the test allocator, both adapters free through it. */
    test_alloc_fail_at(&ta, -1);
    assert_int_equal(achan_stream_throttle(in, 1, &in), ACHAN_OK);
    assert_int_equal(achan_stream_timeout(in, MS, &in), ACHAN_OK);
    assert_int_equal(achan_set_default_allocator(NULL), ACHAN_OK);
    assert_true(test_alloc_live_bytes(&ta) > 0);
    achan_mpsc_sender_drop(tx);
    assert_int_equal(achan_stream_next_blocking(in, &v, -1), ACHAN_CLOSED);
    achan_stream_drop(in);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeout_blocking),
        cmocka_unit_test(timeout_executor),
        cmocka_unit_test(timeout_by_hand),
        cmocka_unit_test(throttle_blocking),
        cmocka_unit_test(throttle_executor),
        cmocka_unit_test(throttle_by_hand),
        cmocka_unit_test(timeout_first_gap_starts_at_creation),
        cmocka_unit_test(timeout_prefers_a_ready_item_and_never_times_out_a_burst),
        cmocka_unit_test(timeout_drop_while_armed_releases_the_waker),
        cmocka_unit_test(lagged_passes_through),
        cmocka_unit_test(throttle_delays_by_hand),
        cmocka_unit_test(input_wakes_reach_the_outer_waker),
        cmocka_unit_test(drop_frees_the_input_and_the_timer_entry),
        cmocka_unit_test(never_polls_an_ended_input),
        cmocka_unit_test(bad_arguments_and_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
