/* test_typed.c - typed.h's wrappers work for every channel kind. (That a
 * wrong type does not compile is checked by tests/typed_compile_fail.c.) */
#include "test_support.h"

#include "achan/typed.h"

typedef struct point {
    int x, y;
} point;

ACHAN_MPSC_TYPED(pointq, point)
ACHAN_ONESHOT_TYPED(reply, double)
ACHAN_WATCH_TYPED(config, point)
ACHAN_BROADCAST_TYPED(events, long)

static void typed_mpsc_round_trip(void **state) {
    (void)state;
    pointq_sender *tx = NULL;
    pointq_receiver *rx = NULL;
    assert_int_equal(pointq_new(2, &tx, &rx), ACHAN_OK);
    point a = {1, 2}, b = {3, 4}, out;
    assert_int_equal(pointq_try_send(tx, &a), ACHAN_OK);
    assert_int_equal(pointq_send(tx, &b), ACHAN_OK);
    assert_int_equal(pointq_try_send(tx, &a), ACHAN_FULL);
    assert_int_equal(pointq_len(rx), 2);
    assert_int_equal(pointq_capacity(tx), 0);
    assert_int_equal(pointq_recv_blocking(rx, &out, -1), ACHAN_OK);
    assert_int_equal(out.x, 1);
    assert_int_equal(out.y, 2);
    pointq_sender *tx2 = pointq_sender_clone(tx);
    pointq_sender_drop(tx);
    pointq_sender_drop(tx2);
    assert_int_equal(pointq_try_recv(rx, &out), ACHAN_OK);
    assert_int_equal(out.x, 3);
    assert_int_equal(pointq_try_recv(rx, &out), ACHAN_CLOSED);
    assert_int_equal(achan_stream_poll_next(pointq_stream(rx), &(achan_context){NULL}, &out),
                     ACHAN_INVALID);
    pointq_receiver_drop(rx);
}

static void typed_oneshot_round_trip(void **state) {
    (void)state;
    reply_sender *tx = NULL;
    reply_receiver *rx = NULL;
    double v = 2.5, out = 0;
    assert_int_equal(reply_new(&tx, &rx), ACHAN_OK);
    assert_false(reply_sender_is_closed(tx));
    assert_int_equal(reply_try_recv(rx, &out), ACHAN_EMPTY);
    assert_int_equal(reply_send(tx, &v), ACHAN_OK); /* Consumes tx. */
    assert_int_equal(reply_recv_blocking(rx, &out, -1), ACHAN_OK);
    assert_true(out == 2.5);
    reply_receiver_drop(rx);
}

static void typed_watch_round_trip(void **state) {
    (void)state;
    config_sender *tx = NULL;
    config_receiver *rx = NULL;
    point init = {0, 0}, next = {7, 8}, out;
    assert_int_equal(config_new(&init, &tx, &rx), ACHAN_OK);
    assert_int_equal(config_has_changed(rx), ACHAN_EMPTY);
    assert_int_equal(config_send(tx, &next), ACHAN_OK);
    assert_int_equal(config_changed_blocking(rx, -1), ACHAN_OK);
    config_borrow(rx, &out);
    assert_int_equal(out.x, 7);
    assert_int_equal(config_receiver_count(tx), 1);
    config_sender_drop(tx);
    assert_int_equal(config_changed_blocking(rx, -1), ACHAN_CLOSED);
    config_receiver_drop(rx);
}

static void typed_broadcast_round_trip(void **state) {
    (void)state;
    events_sender *tx = NULL;
    events_receiver *rx = NULL;
    assert_int_equal(events_new(4, &tx, &rx), ACHAN_OK);
    events_receiver *rx2 = events_subscribe(tx);
    long v = 42, out = 0;
    size_t n = 0;
    uint64_t skipped = 9;
    assert_int_equal(events_send(tx, &v, &n), ACHAN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(events_recv_blocking(rx, &out, &skipped, -1), ACHAN_OK);
    assert_int_equal(out, 42);
    assert_int_equal(events_try_recv(rx2, &out, &skipped), ACHAN_OK);
    assert_int_equal(events_len(rx2), 0);
    events_sender_drop(tx);
    assert_int_equal(events_try_recv(rx, &out, &skipped), ACHAN_CLOSED);
    events_receiver_drop(rx);
    events_receiver_drop(rx2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typed_mpsc_round_trip),
        cmocka_unit_test(typed_oneshot_round_trip),
        cmocka_unit_test(typed_watch_round_trip),
        cmocka_unit_test(typed_broadcast_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
