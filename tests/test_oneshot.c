/* test_oneshot.c - conformance: achan's oneshot behaves as Tokio's oneshot.
 *
 * Each test states one observable rule; names follow Tokio's
 * tests/sync_oneshot.rs where a test there pins the same behaviour. Tokio's
 * "ref count 2" of a task's waker (the task's own plus the registered clone)
 * is test_waker_live == 1 here (only clones are counted).
 */
#include "test_support.h"

#include <pthread.h>
#include <string.h>

/* ---- helpers ---- */

static void new_int(achan_oneshot_sender **tx, achan_oneshot_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int)};
    assert_int_equal(achan_oneshot_new(&o, tx, rx), ACHAN_OK);
}

static achan_status send_int(achan_oneshot_sender *tx, int v) {
    return achan_oneshot_send(tx, &v);
}

static achan_status poll_recv_with(achan_oneshot_receiver *rx, test_waker *t, int *out) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_oneshot_poll_recv(rx, &cx, out);
}

static achan_status poll_closed_with(achan_oneshot_sender *tx, test_waker *t) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_oneshot_poll_closed(tx, &cx);
}

/* item_drop that counts calls and sums the dropped ints. */
typedef struct {
    int calls;
    int sum;
} drop_log;

static void log_drop(void *item, void *user) {
    drop_log *d = user;
    d->calls++;
    d->sum += *(int *)item;
}

static void new_logged(drop_log *d, achan_oneshot_sender **tx, achan_oneshot_receiver **rx) {
    achan_opts o = {.item_size = sizeof(int), .item_drop = log_drop, .user = d};
    assert_int_equal(achan_oneshot_new(&o, tx, rx), ACHAN_OK);
}

/* ---- creation and bad input ---- */

static void new_rejects_bad_arguments(void **state) {
    (void)state;
    achan_oneshot_sender *tx = (achan_oneshot_sender *)0x1;
    achan_oneshot_receiver *rx = (achan_oneshot_receiver *)0x1;
    achan_opts ok = {.item_size = 4};
    achan_opts zero = {.item_size = 0};
    achan_opts huge = {.item_size = SIZE_MAX - 8};
    achan_allocator half = {NULL, NULL, NULL};
    achan_opts bad_alloc = {.item_size = 4, .allocator = &half};
    assert_int_equal(achan_oneshot_new(NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&ok, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&ok, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&zero, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&huge, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_new(&bad_alloc, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, (achan_oneshot_sender *)0x1);
    assert_ptr_equal(rx, (achan_oneshot_receiver *)0x1);
}

static void every_function_rejects_null(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    new_int(&tx, &rx);
    int v = 1;
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    assert_int_equal(achan_oneshot_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_send(tx, NULL), ACHAN_INVALID); /* tx not consumed */
    assert_int_equal(achan_oneshot_poll_closed(NULL, &cx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_closed(tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_closed(tx, &nocx), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_try_recv(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_try_recv(rx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(NULL, &cx, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(rx, NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(rx, &nocx, &v), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_poll_recv(rx, &cx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_recv_blocking(NULL, &v, 0), ACHAN_INVALID);
    assert_int_equal(achan_oneshot_recv_blocking(rx, NULL, 0), ACHAN_INVALID);
    assert_true(achan_oneshot_sender_is_closed(NULL));
    assert_null(achan_oneshot_receiver_stream(NULL));
    assert_null(achan_oneshot_receiver_future(NULL));
    achan_oneshot_sender_drop(NULL);
    achan_oneshot_receiver_close(NULL);
    achan_oneshot_receiver_drop(NULL);
    /* The generic entry points reject NULL too. */
    assert_int_equal(achan_stream_poll_next(achan_oneshot_receiver_stream(rx), &cx, NULL),
                     ACHAN_INVALID);
    assert_int_equal(achan_future_poll(achan_oneshot_receiver_future(rx), &cx, NULL),
                     ACHAN_INVALID);
    /* The channel is untouched by all of the above. */
    assert_false(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_EMPTY);
    assert_int_equal(send_int(tx, 7), ACHAN_OK);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 7);
    achan_oneshot_receiver_drop(rx);
}

/* ---- Tokio's sync_oneshot.rs ---- */

static void send_recv(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t), 1);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(test_waker_live(&t), 0);
}

static void *send_later(void *arg) {
    achan_oneshot_sender *tx = arg;
    TEST_CHECK(send_int(tx, 1) == ACHAN_OK);
    return NULL;
}

/* Tokio async_send_recv: the receiver as a future, driven to completion. */
static void async_send_recv(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    new_int(&tx, &rx);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_later, tx), 0);
    achan_future *f = achan_oneshot_receiver_future(rx);
    assert_int_equal(f->output_size, sizeof(int));
    int v = 0;
    assert_int_equal(achan_block_on(f, &v, -1), ACHAN_OK);
    assert_int_equal(v, 1);
    pthread_join(th, NULL);
    achan_future_drop(f);
}

static void close_tx(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_PENDING);
    achan_oneshot_sender_drop(tx);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void close_rx(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    /* First, without poll_closed. */
    new_int(&tx, &rx);
    achan_oneshot_receiver_drop(rx);
    assert_true(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
    /* Second, through poll_closed. */
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &t), ACHAN_PENDING);
    assert_false(achan_oneshot_sender_is_closed(tx));
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_true(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(poll_closed_with(tx, &t), ACHAN_OK);
    assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
    assert_int_equal(test_waker_live(&t), 0);
}

static void *drop_rx_later(void *arg) {
    achan_oneshot_receiver_drop(arg);
    return NULL;
}

static achan_status poll_closed_fn(void *arg, achan_context *cx) {
    return achan_oneshot_poll_closed(arg, cx);
}

/* Tokio async_rx_closed: the sender waits (on a real waker) for the drop. */
static void async_rx_closed(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    new_int(&tx, &rx);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drop_rx_later, rx), 0);
    achan_waker w;
    assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
    achan_context cx = {&w};
    achan_status st;
    while ((st = poll_closed_fn(tx, &cx)) == ACHAN_PENDING)
        achan_thread_park(-1);
    assert_int_equal(st, ACHAN_OK);
    achan_waker_drop(w);
    pthread_join(th, NULL);
    achan_oneshot_sender_drop(tx);
}

static void explicit_close_poll(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker rt = {0}, tt = {0};
    int v = 0;
    /* First, with the value sent: still received after close. */
    new_int(&tx, &rx);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_oneshot_receiver_drop(rx);
    /* Second, without the value: the close wakes the sender. */
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(test_waker_wakes(&tt), 1);
    assert_true(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_OK);
    assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
    /* Again, but the sender is dropped instead of sending. */
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(test_waker_wakes(&tt), 2);
    assert_true(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_OK);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_CLOSED);
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tt), 0);
    assert_int_equal(test_waker_live(&rt), 0);
    assert_int_equal(test_waker_wakes(&rt), 0);
}

static void explicit_close_try_recv(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker tt = {0};
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_oneshot_receiver_drop(rx);

    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(test_waker_wakes(&tt), 1);
    assert_true(achan_oneshot_sender_is_closed(tx));
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_OK);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tt), 0);
}

/* Tokio close_try_recv_poll expects a panic on the poll; achan returns
 * ACHAN_CLOSED (documented in oneshot.h). */
static void close_try_recv_poll(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    int v = 0;
    new_int(&tx, &rx);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED);
    assert_int_equal(test_waker_live(&t), 0); /* Nothing registered. */
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
}

static void close_after_recv(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(send_int(tx, 17), ACHAN_OK);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 17);
    achan_oneshot_receiver_close(rx);
    achan_oneshot_receiver_drop(rx);
}

static void try_recv_after_completion(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(send_int(tx, 17), ACHAN_OK);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    assert_int_equal(v, 17);
    v = -1;
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    assert_int_equal(v, -1); /* Nothing written. */
    achan_oneshot_receiver_close(rx);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
}

static void try_recv_after_completion_await(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(send_int(tx, 17), ACHAN_OK);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_OK);
    assert_int_equal(v, 17);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_CLOSED);
    assert_int_equal(poll_recv_with(rx, &t, &v), ACHAN_CLOSED); /* Tokio: panic. */
    achan_oneshot_receiver_close(rx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* After dropping both handles, both registered wakers are released. */
static void drops_tasks(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker tt = {0}, rt = {0};
    int v;
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&tt), 1);
    assert_int_equal(test_waker_live(&rt), 1);
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&tt), 0);
    assert_int_equal(test_waker_live(&rt), 0);
    /* The other order releases them too. */
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_PENDING);
    achan_oneshot_receiver_drop(rx);
    achan_oneshot_sender_drop(tx);
    assert_int_equal(test_waker_live(&tt), 0);
    assert_int_equal(test_waker_live(&rt), 0);
}

static void receiver_changes_task(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t1 = {0}, t2 = {0};
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(poll_recv_with(rx, &t1, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 1);
    assert_int_equal(test_waker_live(&t2), 0);
    assert_int_equal(poll_recv_with(rx, &t2, &v), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 1);
    assert_int_equal(send_int(tx, 1), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t1), 0);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_recv_with(rx, &t2, &v), ACHAN_OK);
    assert_int_equal(v, 1);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t2), 0);
}

static void sender_changes_task(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t1 = {0}, t2 = {0};
    new_int(&tx, &rx);
    assert_int_equal(poll_closed_with(tx, &t1), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 1);
    assert_int_equal(test_waker_live(&t2), 0);
    assert_int_equal(poll_closed_with(tx, &t2), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 1);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_wakes(&t1), 0);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(poll_closed_with(tx, &t2), ACHAN_OK);
    achan_oneshot_sender_drop(tx);
    assert_int_equal(test_waker_live(&t2), 0);
}

/* Polling again with a waker that wakes the same task keeps the
 * registration: no new clone. */
static void repoll_with_same_waker_keeps_registration(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker rt = {0}, tt = {0};
    int v;
    new_int(&tx, &rx);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_PENDING);
        assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
    }
    assert_int_equal(atomic_load(&rt.clones), 1);
    assert_int_equal(atomic_load(&tt.clones), 1);
    assert_int_equal(send_int(tx, 3), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&rt), 1);
    assert_int_equal(test_waker_wakes(&tt), 0);
    assert_int_equal(test_waker_live(&tt), 0); /* A successful send releases it. */
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&rt), 0);
}

/* A receiver that closes (without a value) releases its waker at once. */
static void receiver_drop_releases_waker_at_once(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker rt = {0};
    int v;
    new_int(&tx, &rx);
    assert_int_equal(poll_recv_with(rx, &rt, &v), ACHAN_PENDING);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(test_waker_live(&rt), 0); /* Before the sender goes. */
    assert_int_equal(test_waker_wakes(&rt), 0);
    assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
}

/* ---- stream and future views ---- */

static void stream_yields_one_item_then_closed_forever(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    int v = 0;
    new_int(&tx, &rx);
    achan_stream *s = achan_oneshot_receiver_stream(rx);
    assert_ptr_equal(s, (void *)rx); /* The receiver is its stream. */
    assert_int_equal(s->item_size, sizeof(int));
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_PENDING);
    assert_int_equal(send_int(tx, 5), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_OK);
    assert_int_equal(v, 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_CLOSED);
    assert_int_equal(achan_stream_next_blocking(s, &v, 0), ACHAN_CLOSED);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&t), 0);

    /* A sender dropped without sending ends the stream with no item. */
    new_int(&tx, &rx);
    s = achan_oneshot_receiver_stream(rx);
    achan_oneshot_sender_drop(tx);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_CLOSED);
    assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void future_completes_once_then_closed(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker t = {0};
    achan_waker w = test_waker_get(&t);
    achan_context cx = {&w};
    int v = 0;
    new_int(&tx, &rx);
    achan_future *f = achan_oneshot_receiver_future(rx);
    assert_int_equal(f->output_size, sizeof(int));
    assert_int_equal(achan_future_poll(f, &cx, &v), ACHAN_PENDING);
    assert_int_equal(send_int(tx, 9), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(achan_future_poll(f, &cx, &v), ACHAN_OK);
    assert_int_equal(v, 9);
    assert_int_equal(achan_future_poll(f, &cx, &v), ACHAN_CLOSED); /* Tokio: panic. */
    /* The views share one state: the stream has ended too. */
    assert_int_equal(achan_stream_poll_next(achan_oneshot_receiver_stream(rx), &cx, &v),
                     ACHAN_CLOSED);
    achan_future_drop(f);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Dropping the future view drops the receiver: the sender sees it closed. */
static void dropping_a_view_drops_the_receiver(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    test_waker tt = {0}, rt = {0};
    achan_waker w = test_waker_get(&rt);
    achan_context cx = {&w};
    int v;
    for (int view = 0; view < 2; view++) {
        new_int(&tx, &rx);
        assert_int_equal(poll_closed_with(tx, &tt), ACHAN_PENDING);
        if (view == 0) {
            achan_future *f = achan_oneshot_receiver_future(rx);
            assert_int_equal(achan_future_poll(f, &cx, &v), ACHAN_PENDING);
            achan_future_drop(f);
        } else {
            achan_stream *s = achan_oneshot_receiver_stream(rx);
            assert_int_equal(achan_stream_poll_next(s, &cx, &v), ACHAN_PENDING);
            achan_stream_drop(s);
        }
        assert_int_equal(test_waker_wakes(&tt), view + 1);
        assert_true(achan_oneshot_sender_is_closed(tx));
        assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
        assert_int_equal(test_waker_live(&tt), 0);
        assert_int_equal(test_waker_live(&rt), 0);
    }
}

/* ---- blocking ---- */

static void recv_blocking_times_out_then_receives(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    int v = 0;
    new_int(&tx, &rx);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, 0), ACHAN_TIMEOUT);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, 2000000), ACHAN_TIMEOUT);
    /* Still usable after a timeout. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_later, tx), 0);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, -1), ACHAN_OK);
    assert_int_equal(v, 1);
    pthread_join(th, NULL);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, -1), ACHAN_CLOSED);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, 0), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
}

static void *drop_tx_later(void *arg) {
    achan_oneshot_sender_drop(arg);
    return NULL;
}

static void recv_blocking_sees_sender_drop(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    int v = 0;
    new_int(&tx, &rx);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drop_tx_later, tx), 0);
    assert_int_equal(achan_oneshot_recv_blocking(rx, &v, -1), ACHAN_CLOSED);
    pthread_join(th, NULL);
    achan_oneshot_receiver_drop(rx);
}

/* ---- Tokio's loom_oneshot.rs, on real threads ----
 *
 * Loom runs each model under every interleaving; here each model runs
 * LOOM_ROUNDS times on real threads and the scheduler varies the
 * interleaving. Threads other than the test's own check with TEST_CHECK. */

enum { LOOM_ROUNDS = 200 };

typedef struct {
    achan_oneshot_receiver *rx;
    test_waker *t;
    achan_status st;
    int v;
} recv_poll_once;

static void *poll_recv_once(void *arg) {
    recv_poll_once *p = arg;
    p->st = poll_recv_with(p->rx, p->t, &p->v);
    TEST_CHECK(p->st == ACHAN_OK || p->st == ACHAN_PENDING);
    TEST_CHECK(p->st != ACHAN_OK || p->v == 1);
    return NULL;
}

/* Which side of a two-thread model acts first in a round: in a third of the
 * rounds the other side (send, drop) completes before the poll, in a third
 * the poll completes before the other side starts (so the PENDING path and
 * the cross-thread wake are always taken), and in the rest both race. */
typedef enum { OTHER_FIRST, POLL_FIRST, RACE } loom_order;

static loom_order loom_order_of(int round) {
    return (loom_order)(round % 3);
}

/* Starts `other` and the poller in the round's order and returns once the
 * poller thread has ended. Returns whether `other` was joined already;
 * otherwise it may still run, and the caller joins it. */
static bool run_in_order(int round, pthread_t *other, void *(*other_fn)(void *), void *other_arg,
                         void *(*poll_fn)(void *), void *poll_arg) {
    pthread_t poller;
    loom_order o = loom_order_of(round);
    if (o != POLL_FIRST)
        assert_int_equal(pthread_create(other, NULL, other_fn, other_arg), 0);
    if (o == OTHER_FIRST)
        pthread_join(*other, NULL);
    assert_int_equal(pthread_create(&poller, NULL, poll_fn, poll_arg), 0);
    pthread_join(poller, NULL);
    if (o == POLL_FIRST)
        assert_int_equal(pthread_create(other, NULL, other_fn, other_arg), 0);
    return o == OTHER_FIRST;
}

/* Tokio changing_rx_task: the receive is polled once on a thread that then
 * ends (a PENDING leaves that thread's waker registered) while another
 * thread sends 1; then the test's own thread waits for the value (blocking
 * receive, or the future on the thread parker), which must replace the
 * stale registration and still get 1. */
static void changing_rx_task(void **state) {
    (void)state;
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        test_waker t = {0};
        new_int(&tx, &rx);
        pthread_t sender;
        recv_poll_once p = {.rx = rx, .t = &t, .v = 0};
        bool joined = run_in_order(round, &sender, send_later, tx, poll_recv_once, &p);
        if (loom_order_of(round) != RACE)
            assert_int_equal(p.st, loom_order_of(round) == POLL_FIRST ? ACHAN_PENDING : ACHAN_OK);
        if (p.st == ACHAN_PENDING && (round & 1)) {
            assert_int_equal(achan_oneshot_recv_blocking(rx, &p.v, -1), ACHAN_OK);
        } else if (p.st == ACHAN_PENDING) {
            achan_future *f = achan_oneshot_receiver_future(rx);
            assert_int_equal(achan_block_on(f, &p.v, -1), ACHAN_OK);
        } else {
            assert_int_equal(p.st, ACHAN_OK);
        }
        assert_int_equal(p.v, 1);
        if (!joined)
            pthread_join(sender, NULL);
        achan_oneshot_receiver_drop(rx);
        assert_int_equal(test_waker_live(&t), 0); /* The stale clone was released. */
    }
}

typedef struct {
    achan_oneshot_sender *tx;
    test_waker *t;
    achan_status st;
} closed_poll_once;

static void *poll_closed_once(void *arg) {
    closed_poll_once *p = arg;
    p->st = poll_closed_with(p->tx, p->t);
    TEST_CHECK(p->st == ACHAN_OK || p->st == ACHAN_PENDING);
    return NULL;
}

/* Tokio changing_tx_task: poll_closed polled once on a thread that then ends
 * while another thread drops the receiver; then the test's own thread waits
 * (on the thread parker) until poll_closed is OK. */
static void changing_tx_task(void **state) {
    (void)state;
    for (int round = 0; round < LOOM_ROUNDS; round++) {
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        test_waker t = {0};
        new_int(&tx, &rx);
        pthread_t dropper;
        closed_poll_once p = {.tx = tx, .t = &t};
        bool joined = run_in_order(round, &dropper, drop_rx_later, rx, poll_closed_once, &p);
        if (loom_order_of(round) != RACE)
            assert_int_equal(p.st, loom_order_of(round) == POLL_FIRST ? ACHAN_PENDING : ACHAN_OK);
        if (p.st == ACHAN_PENDING) {
            achan_waker w;
            assert_int_equal(achan_thread_waker(&w), ACHAN_OK);
            achan_context cx = {&w};
            while ((p.st = poll_closed_fn(tx, &cx)) == ACHAN_PENDING)
                achan_thread_park(-1);
            achan_waker_drop(w);
        }
        assert_int_equal(p.st, ACHAN_OK);
        if (!joined)
            pthread_join(dropper, NULL);
        assert_true(achan_oneshot_sender_is_closed(tx));
        assert_int_equal(send_int(tx, 1), ACHAN_CLOSED); /* Consumes tx. */
        assert_int_equal(test_waker_live(&t), 0);
    }
}

/* ---- item_drop ---- */

static void unreceived_value_is_dropped_exactly_once(void **state) {
    (void)state;
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    drop_log d = {0};
    int v;
    /* Sent, never received. */
    new_logged(&d, &tx, &rx);
    assert_int_equal(send_int(tx, 10), ACHAN_OK);
    assert_int_equal(d.calls, 0);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.sum, 10);
    /* Sent, receiver closed, still not received. */
    new_logged(&d, &tx, &rx);
    assert_int_equal(send_int(tx, 20), ACHAN_OK);
    achan_oneshot_receiver_close(rx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.sum, 30);
    /* Received: never dropped. */
    new_logged(&d, &tx, &rx);
    assert_int_equal(send_int(tx, 40), ACHAN_OK);
    assert_int_equal(achan_oneshot_try_recv(rx, &v), ACHAN_OK);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(d.calls, 2);
    /* Refused sends stay the caller's: never dropped. */
    new_logged(&d, &tx, &rx);
    achan_oneshot_receiver_close(rx);
    assert_int_equal(send_int(tx, 80), ACHAN_CLOSED);
    achan_oneshot_receiver_drop(rx);
    new_logged(&d, &tx, &rx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(send_int(tx, 160), ACHAN_CLOSED);
    /* Sender dropped without sending: nothing to drop. */
    new_logged(&d, &tx, &rx);
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.sum, 30);
}

/* ---- allocation ---- */

static void allocation_failure_is_nomem_and_leaks_nothing(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    drop_log d = {0};
    achan_opts o = {
        .item_size = sizeof(int), .allocator = &ta.a, .item_drop = log_drop, .user = &d};
    achan_oneshot_sender *tx = (achan_oneshot_sender *)0x1;
    achan_oneshot_receiver *rx = (achan_oneshot_receiver *)0x1;
    test_alloc_fail_at(&ta, 0);
    assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_NOMEM);
    assert_ptr_equal(tx, (achan_oneshot_sender *)0x1);
    assert_ptr_equal(rx, (achan_oneshot_receiver *)0x1);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
    test_alloc_fail_at(&ta, -1);

    /* One allocation per channel, freed (with the size allocated) by
     * whichever handle goes last, in every order. */
    for (int order = 0; order < 4; order++) {
        long before = test_alloc_count(&ta);
        assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
        assert_int_equal(test_alloc_count(&ta), before + 1);
        switch (order) {
        case 0:
            assert_int_equal(send_int(tx, 1), ACHAN_OK);
            achan_oneshot_receiver_drop(rx);
            break;
        case 1:
            achan_oneshot_receiver_drop(rx);
            assert_int_equal(send_int(tx, 1), ACHAN_CLOSED);
            break;
        case 2:
            achan_oneshot_sender_drop(tx);
            achan_oneshot_receiver_drop(rx);
            break;
        default:
            achan_oneshot_receiver_drop(rx);
            achan_oneshot_sender_drop(tx);
            break;
        }
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
    assert_int_equal(d.calls, 1); /* Case 0's value. */
}

/* ---- values ---- */

static void large_values_are_copied_whole(void **state) {
    (void)state;
    typedef struct {
        unsigned char bytes[700];
    } big;
    achan_opts o = {.item_size = sizeof(big)};
    for (int round = 0; round < 8; round++) {
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        assert_int_equal(achan_oneshot_new(&o, &tx, &rx), ACHAN_OK);
        big in, out;
        for (size_t i = 0; i < sizeof in.bytes; i++)
            in.bytes[i] = (unsigned char)(i * 7 + (size_t)round);
        assert_int_equal(achan_oneshot_send(tx, &in), ACHAN_OK);
        assert_int_equal(achan_oneshot_try_recv(rx, &out), ACHAN_OK);
        assert_memory_equal(in.bytes, out.bytes, sizeof in.bytes);
        achan_oneshot_receiver_drop(rx);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_rejects_bad_arguments),
        cmocka_unit_test(every_function_rejects_null),
        cmocka_unit_test(send_recv),
        cmocka_unit_test(async_send_recv),
        cmocka_unit_test(close_tx),
        cmocka_unit_test(close_rx),
        cmocka_unit_test(async_rx_closed),
        cmocka_unit_test(explicit_close_poll),
        cmocka_unit_test(explicit_close_try_recv),
        cmocka_unit_test(close_try_recv_poll),
        cmocka_unit_test(close_after_recv),
        cmocka_unit_test(try_recv_after_completion),
        cmocka_unit_test(try_recv_after_completion_await),
        cmocka_unit_test(drops_tasks),
        cmocka_unit_test(receiver_changes_task),
        cmocka_unit_test(sender_changes_task),
        cmocka_unit_test(repoll_with_same_waker_keeps_registration),
        cmocka_unit_test(receiver_drop_releases_waker_at_once),
        cmocka_unit_test(stream_yields_one_item_then_closed_forever),
        cmocka_unit_test(future_completes_once_then_closed),
        cmocka_unit_test(dropping_a_view_drops_the_receiver),
        cmocka_unit_test(recv_blocking_times_out_then_receives),
        cmocka_unit_test(recv_blocking_sees_sender_drop),
        cmocka_unit_test(changing_rx_task),
        cmocka_unit_test(changing_tx_task),
        cmocka_unit_test(unreceived_value_is_dropped_exactly_once),
        cmocka_unit_test(allocation_failure_is_nomem_and_leaks_nothing),
        cmocka_unit_test(large_values_are_copied_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
