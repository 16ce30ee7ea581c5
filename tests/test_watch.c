/* test_watch.c - conformance: achan's watch behaves as Tokio's watch.
 *
 * Each test states one observable rule; names follow Tokio's
 * tests/sync_watch.rs and tokio-stream's tests/watch.rs where a test there
 * pins the same behaviour. Tokio's `spawn(rx.changed())` + poll is
 * achan_watch_poll_changed with a counting waker here.
 */
#include "test_support.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

typedef struct {
    char s[16];
} str;

static str S(const char *s) {
    str v;
    memset(&v, 0, sizeof v);
    strncpy(v.s, s, sizeof v.s - 1);
    return v;
}

static void new_str(const char *init, achan_watch_sender **tx, achan_watch_receiver **rx) {
    achan_opts o = {.item_size = sizeof(str)};
    str v = S(init);
    assert_int_equal(achan_watch_new(&o, &v, tx, rx), ACHAN_OK);
}

static achan_status send_str(achan_watch_sender *tx, const char *s) {
    str v = S(s);
    return achan_watch_send(tx, &v);
}

#define assert_borrow(rx, expect)                                                                  \
    do {                                                                                           \
        str got_;                                                                                  \
        achan_watch_borrow((rx), &got_);                                                           \
        assert_string_equal(got_.s, (expect));                                                     \
    } while (0)

#define assert_borrow_and_update(rx, expect)                                                       \
    do {                                                                                           \
        str got_;                                                                                  \
        achan_watch_borrow_and_update((rx), &got_);                                                \
        assert_string_equal(got_.s, (expect));                                                     \
    } while (0)

static achan_status changed_with(achan_watch_receiver *rx, test_waker *t) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_watch_poll_changed(rx, &cx);
}

static achan_status closed_with(achan_watch_sender *tx, test_waker *t) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_watch_poll_closed(tx, &cx);
}

static achan_status next_with(achan_stream *s, test_waker *t, str *out) {
    achan_waker w = test_waker_get(t);
    achan_context cx = {&w};
    return achan_stream_poll_next(s, &cx, out);
}

/* ---- creation and bad input ---- */

static void new_rejects_bad_arguments(void **state) {
    (void)state;
    achan_watch_sender *tx = (achan_watch_sender *)0x1;
    achan_watch_receiver *rx = (achan_watch_receiver *)0x1;
    int init = 0;
    achan_opts ok = {.item_size = 4};
    achan_opts zero = {.item_size = 0};
    achan_opts huge = {.item_size = SIZE_MAX - 8};
    achan_allocator half = {NULL, NULL, NULL};
    achan_opts bad_alloc = {.item_size = 4, .allocator = &half};
    assert_int_equal(achan_watch_new(NULL, &init, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, NULL, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, &init, NULL, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&ok, &init, &tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&zero, &init, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&huge, &init, &tx, &rx), ACHAN_INVALID);
    assert_int_equal(achan_watch_new(&bad_alloc, &init, &tx, &rx), ACHAN_INVALID);
    assert_ptr_equal(tx, (achan_watch_sender *)0x1);
    assert_ptr_equal(rx, (achan_watch_receiver *)0x1);
}

static void set_to(void *value, void *u) {
    *(str *)value = *(str *)u;
}

static bool set_to_if(void *value, void *u) {
    *(str *)value = *(str *)u;
    return true;
}

static void every_function_rejects_null(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    str v = S("x");
    achan_waker w = achan_waker_noop();
    achan_context cx = {&w}, nocx = {NULL};
    assert_int_equal(achan_watch_send(NULL, &v), ACHAN_INVALID);
    assert_int_equal(achan_watch_send(tx, NULL), ACHAN_INVALID);
    achan_watch_send_replace(NULL, &v, NULL);
    achan_watch_send_replace(tx, NULL, &v);
    assert_string_equal(v.s, "x"); /* old_out untouched. */
    achan_watch_send_modify(NULL, set_to, &v);
    achan_watch_send_modify(tx, NULL, &v);
    assert_false(achan_watch_send_if_modified(NULL, set_to_if, &v));
    assert_false(achan_watch_send_if_modified(tx, NULL, &v));
    assert_null(achan_watch_subscribe(NULL));
    assert_int_equal(achan_watch_receiver_count(NULL), 0);
    assert_int_equal(achan_watch_poll_closed(NULL, &cx), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_closed(tx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_closed(tx, &nocx), ACHAN_INVALID);
    achan_watch_sender_drop(NULL);
    assert_null(achan_watch_receiver_clone(NULL));
    achan_watch_borrow(NULL, &v);
    achan_watch_borrow(rx, NULL);
    achan_watch_borrow_and_update(NULL, &v);
    achan_watch_borrow_and_update(rx, NULL);
    assert_int_equal(achan_watch_has_changed(NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_changed(NULL, &cx), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_changed(rx, NULL), ACHAN_INVALID);
    assert_int_equal(achan_watch_poll_changed(rx, &nocx), ACHAN_INVALID);
    assert_int_equal(achan_watch_changed_blocking(NULL, 0), ACHAN_INVALID);
    achan_watch_mark_changed(NULL);
    achan_watch_mark_unchanged(NULL);
    achan_watch_receiver_drop(NULL);
    assert_null(achan_watch_receiver_stream(NULL));
    assert_null(achan_watch_receiver_stream_from_changes(NULL));
    /* The channel is untouched by all of the above. */
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    assert_borrow(rx, "one");
    assert_int_equal(achan_watch_receiver_count(tx), 1);
    achan_watch_receiver_drop(rx);
    achan_watch_sender_drop(tx);
}

/* ---- Tokio's sync_watch.rs ---- */

static void single_rx_recv(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING); /* Not initially notified. */
    assert_borrow(rx, "one");
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    assert_borrow(rx, "two");
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_wakes(&t), 2);
    assert_int_equal(changed_with(rx, &t), ACHAN_CLOSED);
    assert_borrow(rx, "two");
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Version arithmetic wraps: marking twice at the first version is fine. */
static void rx_version_underflow(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    achan_watch_mark_changed(rx);
    achan_watch_mark_changed(rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    test_waker t = {0};
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    achan_watch_receiver_drop(rx);
    achan_watch_sender_drop(tx);
}

static void rx_mark_changed(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    achan_watch_receiver *rx2 = achan_watch_receiver_clone(rx);
    achan_watch_receiver *rx3 = achan_watch_receiver_clone(rx);
    achan_watch_receiver *rx4 = achan_watch_receiver_clone(rx);
    assert_non_null(rx2);
    assert_non_null(rx3);
    assert_non_null(rx4);

    achan_watch_mark_changed(rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);

    assert_int_equal(achan_watch_has_changed(rx2), ACHAN_EMPTY); /* Clones unaffected. */
    assert_int_equal(changed_with(rx2, &t), ACHAN_PENDING);

    achan_watch_mark_changed(rx3);
    assert_borrow(rx3, "one");
    assert_int_equal(achan_watch_has_changed(rx3), ACHAN_OK);
    assert_borrow_and_update(rx3, "one");
    assert_int_equal(achan_watch_has_changed(rx3), ACHAN_EMPTY);
    assert_int_equal(changed_with(rx3, &t), ACHAN_PENDING);

    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(achan_watch_has_changed(rx4), ACHAN_OK);
    assert_borrow_and_update(rx4, "two");
    achan_watch_mark_changed(rx4);
    assert_int_equal(achan_watch_has_changed(rx4), ACHAN_OK);
    assert_borrow_and_update(rx4, "two");
    assert_borrow(rx, "two");

    achan_watch_receiver_drop(rx);
    achan_watch_receiver_drop(rx2);
    achan_watch_receiver_drop(rx3);
    achan_watch_receiver_drop(rx4);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void rx_mark_unchanged(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    achan_watch_receiver *rx2 = achan_watch_receiver_clone(rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    achan_watch_mark_changed(rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    achan_watch_mark_unchanged(rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);

    assert_int_equal(achan_watch_has_changed(rx2), ACHAN_EMPTY);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(achan_watch_has_changed(rx2), ACHAN_OK);
    achan_watch_mark_unchanged(rx2);
    assert_int_equal(achan_watch_has_changed(rx2), ACHAN_EMPTY);
    assert_borrow_and_update(rx2, "two");
    assert_borrow(rx, "two");
    achan_watch_receiver_drop(rx);
    achan_watch_receiver_drop(rx2);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void multi_rx(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx1;
    test_waker t1 = {0}, t2 = {0};
    new_str("one", &tx, &rx1);
    achan_watch_receiver *rx2 = achan_watch_receiver_clone(rx1);
    assert_int_equal(changed_with(rx1, &t1), ACHAN_PENDING);
    assert_int_equal(changed_with(rx2, &t2), ACHAN_PENDING);
    assert_borrow(rx1, "one");
    assert_borrow(rx2, "one");

    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t1), 1);
    assert_int_equal(test_waker_wakes(&t2), 1);
    assert_int_equal(changed_with(rx1, &t1), ACHAN_OK);
    assert_borrow(rx1, "two");

    /* rx2's wait started before "two" and is completed only now. */
    assert_int_equal(changed_with(rx1, &t1), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "three"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t1), 2);
    assert_int_equal(test_waker_wakes(&t2), 1); /* Not registered again. */
    assert_int_equal(changed_with(rx1, &t1), ACHAN_OK);
    assert_int_equal(changed_with(rx2, &t2), ACHAN_OK);
    assert_borrow(rx1, "three");
    assert_borrow(rx2, "three");

    assert_int_equal(changed_with(rx1, &t1), ACHAN_PENDING);
    assert_int_equal(changed_with(rx2, &t2), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "four"), ACHAN_OK);
    assert_int_equal(changed_with(rx1, &t1), ACHAN_OK);
    assert_int_equal(changed_with(rx2, &t2), ACHAN_OK);
    assert_borrow(rx1, "four");
    assert_borrow(rx2, "four");
    assert_int_equal(test_waker_wakes(&t1), 3);
    assert_int_equal(test_waker_wakes(&t2), 2);
    achan_watch_receiver_drop(rx1);
    achan_watch_receiver_drop(rx2);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 0);
}

static void rx_observes_final_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    /* The initial value only. */
    new_str("one", &tx, &rx);
    achan_watch_sender_drop(tx);
    assert_int_equal(changed_with(rx, &t), ACHAN_CLOSED);
    assert_borrow(rx, "one");
    achan_watch_receiver_drop(rx);

    /* Values sent, the last one just before the drop. */
    new_str("one", &tx, &rx);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    assert_borrow(rx, "two");
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "three"), ACHAN_OK);
    achan_watch_sender_drop(tx);
    assert_true(test_waker_wakes(&t) >= 1);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK); /* The unseen final value. */
    assert_borrow(rx, "three");
    assert_int_equal(changed_with(rx, &t), ACHAN_CLOSED);
    assert_borrow(rx, "three");
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void poll_close(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    assert_int_equal(closed_with(tx, &t), ACHAN_PENDING);
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(closed_with(tx, &t), ACHAN_OK);
    assert_int_equal(send_str(tx, "two"), ACHAN_CLOSED);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void borrow_and_update(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    assert_int_equal(send_str(tx, "three"), ACHAN_OK);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    assert_borrow_and_update(rx, "three");
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    achan_watch_sender_drop(tx);
    assert_borrow_and_update(rx, "three");
    assert_int_equal(changed_with(rx, &t), ACHAN_CLOSED);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_CLOSED);
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void reopened_after_subscribe(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    assert_int_equal(achan_watch_receiver_count(tx), 1);
    assert_int_equal(closed_with(tx, &t), ACHAN_PENDING);
    achan_watch_receiver_drop(rx);
    assert_int_equal(achan_watch_receiver_count(tx), 0);
    assert_int_equal(closed_with(tx, &t), ACHAN_OK);
    rx = achan_watch_subscribe(tx);
    assert_non_null(rx);
    assert_int_equal(achan_watch_receiver_count(tx), 1);
    assert_int_equal(closed_with(tx, &t), ACHAN_PENDING); /* Reopened. */
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    achan_watch_receiver_drop(rx);
    assert_int_equal(closed_with(tx, &t), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 2);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Tokio send_modify_panic's C analogue: a modification that does not count
 * (send_if_modified returning false) is kept but notifies nobody; the next
 * counted one does. */
static bool set_to_silently(void *value, void *u) {
    *(str *)value = *(str *)u;
    return false;
}

static void send_if_modified_false_keeps_changes_silently(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    str two = S("two"), quiet = S("quiet"), three = S("three");
    achan_watch_send_modify(tx, set_to, &two);
    assert_borrow_and_update(rx, "two");
    achan_watch_receiver *rx2 = achan_watch_receiver_clone(rx);
    assert_borrow_and_update(rx2, "two");
    assert_int_equal(changed_with(rx2, &t), ACHAN_PENDING);
    assert_false(achan_watch_send_if_modified(tx, set_to_silently, &quiet));
    assert_int_equal(test_waker_wakes(&t), 0);
    assert_int_equal(changed_with(rx2, &t), ACHAN_PENDING);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY);
    assert_borrow(rx, "quiet"); /* The change stays. */
    assert_true(achan_watch_send_if_modified(tx, set_to_if, &three));
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(changed_with(rx2, &t), ACHAN_OK);
    assert_borrow_and_update(rx, "three");
    achan_watch_receiver_drop(rx);
    achan_watch_receiver_drop(rx2);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Tokio multiple_sender, with one handle shared by two threads (watch's send
 * is safe on a shared handle): every value is observed, in order. */
typedef struct {
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    int value;
} send_one_args;

static void *send_one(void *arg) {
    send_one_args *a = arg;
    str v;
    snprintf(v.s, sizeof v.s, "%d", a->value);
    TEST_CHECK(achan_watch_send(a->tx, &v) == ACHAN_OK);
    return NULL;
}

static void multiple_sender(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("0", &tx, &rx);
    for (int i = 1; i <= 2; i++) {
        send_one_args a = {tx, rx, i};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, send_one, &a), 0);
        assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_OK);
        pthread_join(th, NULL);
        str v;
        achan_watch_borrow_and_update(rx, &v);
        assert_int_equal(atoi(v.s), i);
    }
    achan_watch_receiver_drop(rx);
    achan_watch_sender_drop(tx);
}

static void receiver_is_notified_when_sender_is_dropped(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t[3] = {{0}};
    new_str("one", &tx, &rx);
    achan_watch_receiver *rxs[3] = {rx, achan_watch_receiver_clone(rx), achan_watch_subscribe(tx)};
    for (int i = 0; i < 3; i++)
        assert_int_equal(changed_with(rxs[i], &t[i]), ACHAN_PENDING);
    achan_watch_sender_drop(tx);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(test_waker_wakes(&t[i]), 1);
        assert_int_equal(changed_with(rxs[i], &t[i]), ACHAN_CLOSED);
        achan_watch_receiver_drop(rxs[i]);
        assert_int_equal(test_waker_live(&t[i]), 0);
    }
}

static void changed_succeeds_on_closed_channel_with_unseen_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("A", &tx, &rx);
    assert_int_equal(send_str(tx, "B"), ACHAN_OK);
    achan_watch_sender_drop(tx);
    assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_OK);
    assert_borrow(rx, "B");
    assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_CLOSED);
    achan_watch_receiver_drop(rx);
}

static void changed_errors_on_closed_channel_with_seen_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("A", &tx, &rx);
    achan_watch_sender_drop(tx);
    assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_CLOSED);
    assert_int_equal(achan_watch_changed_blocking(rx, 0), ACHAN_CLOSED);
    achan_watch_receiver_drop(rx);
}

static void has_changed_errors_on_closed_channel_with_unseen_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("A", &tx, &rx);
    assert_int_equal(send_str(tx, "B"), ACHAN_OK);
    achan_watch_sender_drop(tx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_CLOSED);
    /* has_changed marked nothing: changed still reports the unseen value. */
    test_waker t = {0};
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    achan_watch_receiver_drop(rx);
}

static void has_changed_errors_on_closed_channel_with_seen_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("A", &tx, &rx);
    achan_watch_sender_drop(tx);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_CLOSED);
    achan_watch_receiver_drop(rx);
}

/* ---- tokio-stream's tests/watch.rs ---- */

/* The final value is yielded once, then the stream ends. */
static void watch_stream_message_not_twice(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    str v;
    new_str("hello", &tx, &rx);
    achan_stream *s = achan_watch_receiver_stream(rx);
    assert_int_equal(next_with(s, &t, &v), ACHAN_OK);
    assert_string_equal(v.s, "hello");
    assert_int_equal(next_with(s, &t, &v), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "goodbye"), ACHAN_OK);
    achan_watch_sender_drop(tx);
    int goodbyes = 0;
    achan_status st;
    while ((st = next_with(s, &t, &v)) == ACHAN_OK)
        goodbyes += strcmp(v.s, "goodbye") == 0;
    assert_int_equal(st, ACHAN_CLOSED);
    assert_int_equal(goodbyes, 1);
    assert_int_equal(next_with(s, &t, &v), ACHAN_CLOSED); /* Stays ended. */
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&t), 0);
}

static void watch_stream_from_rx(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    str v;
    new_str("hello", &tx, &rx);
    achan_stream *s = achan_watch_receiver_stream(rx);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
    assert_string_equal(v.s, "hello");
    assert_int_equal(send_str(tx, "bye"), ACHAN_OK);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_OK);
    assert_string_equal(v.s, "bye");
    achan_watch_sender_drop(tx);
    assert_int_equal(achan_stream_next_blocking(s, &v, -1), ACHAN_CLOSED);
    achan_stream_drop(s);
}

static void watch_stream_from_changes(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    str v;
    new_str("hello", &tx, &rx);
    achan_stream *s = achan_watch_receiver_stream_from_changes(rx);
    assert_int_equal(next_with(s, &t, &v), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "bye"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(next_with(s, &t, &v), ACHAN_OK);
    assert_string_equal(v.s, "bye");
    achan_watch_sender_drop(tx);
    assert_int_equal(next_with(s, &t, &v), ACHAN_CLOSED);
    achan_stream_drop(s);
    assert_int_equal(test_waker_live(&t), 0);
}

/* Intermediate values coalesce: only the latest is yielded. */
static void stream_skips_to_latest_value(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    str v;
    new_str("a", &tx, &rx);
    achan_stream *s = achan_watch_receiver_stream(rx);
    assert_int_equal(next_with(s, &t, &v), ACHAN_OK);
    assert_string_equal(v.s, "a");
    assert_int_equal(send_str(tx, "b"), ACHAN_OK);
    assert_int_equal(send_str(tx, "c"), ACHAN_OK);
    assert_int_equal(send_str(tx, "d"), ACHAN_OK);
    assert_int_equal(next_with(s, &t, &v), ACHAN_OK);
    assert_string_equal(v.s, "d");
    assert_int_equal(next_with(s, &t, &v), ACHAN_PENDING);
    achan_stream_drop(s); /* Dropping the stream drops the receiver. */
    assert_int_equal(achan_watch_receiver_count(tx), 0);
    assert_int_equal(test_waker_live(&t), 0);
    achan_watch_sender_drop(tx);
}

/* ---- sender operations ---- */

static void send_without_receivers_is_closed_and_not_stored(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    achan_watch_receiver_drop(rx);
    assert_int_equal(send_str(tx, "two"), ACHAN_CLOSED);
    rx = achan_watch_subscribe(tx);
    assert_borrow(rx, "one");
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_EMPTY); /* Current counts as seen. */
    achan_watch_receiver_drop(rx);
    /* send_replace stores even without receivers, and hands back the old. */
    str two = S("two"), old = S("");
    achan_watch_send_replace(tx, &two, &old);
    assert_string_equal(old.s, "one");
    str three = S("three");
    achan_watch_send_modify(tx, set_to, &three);
    rx = achan_watch_subscribe(tx);
    assert_borrow(rx, "three");
    str four = S("four");
    achan_watch_send_replace(tx, &four, NULL);
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);
    assert_borrow_and_update(rx, "four");
    achan_watch_receiver_drop(rx);
    achan_watch_sender_drop(tx);
}

static void send_replace_and_modify_always_notify(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0};
    new_str("one", &tx, &rx);
    str same = S("one");
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    achan_watch_send_replace(tx, &same, NULL); /* Same bytes: still a change. */
    assert_int_equal(test_waker_wakes(&t), 1);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    achan_watch_send_modify(tx, set_to, &same);
    assert_int_equal(test_waker_wakes(&t), 2);
    assert_int_equal(changed_with(rx, &t), ACHAN_OK);
    achan_watch_receiver_drop(rx);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t), 0);
}

static void subscribe_and_clone_set_seen_version(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    achan_watch_receiver *sub = achan_watch_subscribe(tx);
    achan_watch_receiver *clone = achan_watch_receiver_clone(rx);
    assert_int_equal(achan_watch_receiver_count(tx), 3);
    assert_int_equal(achan_watch_has_changed(sub), ACHAN_EMPTY); /* Seen at subscribe. */
    assert_int_equal(achan_watch_has_changed(rx), ACHAN_OK);     /* Not yet seen. */
    assert_int_equal(achan_watch_has_changed(clone), ACHAN_OK);  /* Copied from rx. */
    assert_borrow_and_update(rx, "two");
    achan_watch_receiver *clone2 = achan_watch_receiver_clone(rx);
    assert_int_equal(achan_watch_has_changed(clone2), ACHAN_EMPTY);
    achan_watch_receiver_drop(clone2);
    achan_watch_receiver_drop(clone);
    achan_watch_receiver_drop(sub);
    achan_watch_sender_drop(tx); /* Receivers outlive the sender. */
    assert_borrow(rx, "two");
    achan_watch_receiver *late = achan_watch_receiver_clone(rx);
    assert_int_equal(achan_watch_has_changed(late), ACHAN_CLOSED);
    achan_watch_receiver_drop(rx);
    achan_watch_receiver_drop(late);
}

/* ---- wakers ---- */

static void repoll_with_new_waker_replaces_old(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t1 = {0}, t2 = {0}, c1 = {0}, c2 = {0};
    new_str("one", &tx, &rx);
    assert_int_equal(changed_with(rx, &t1), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 1);
    assert_int_equal(changed_with(rx, &t2), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&t1), 0);
    assert_int_equal(test_waker_live(&t2), 1);
    assert_int_equal(closed_with(tx, &c1), ACHAN_PENDING);
    assert_int_equal(closed_with(tx, &c2), ACHAN_PENDING);
    assert_int_equal(test_waker_live(&c1), 0);
    assert_int_equal(test_waker_live(&c2), 1);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t1), 0);
    assert_int_equal(test_waker_wakes(&t2), 1);
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_wakes(&c1), 0);
    assert_int_equal(test_waker_wakes(&c2), 1);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&t2), 0);
    assert_int_equal(test_waker_live(&c2), 0);
}

/* A receiver dropped while waiting leaves the queue and releases its waker;
 * the sender's registration goes with the sender. */
static void drops_release_wakers(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    test_waker t = {0}, c = {0};
    new_str("one", &tx, &rx);
    achan_watch_receiver *rx2 = achan_watch_subscribe(tx);
    assert_int_equal(changed_with(rx, &t), ACHAN_PENDING);
    assert_int_equal(closed_with(tx, &c), ACHAN_PENDING);
    achan_watch_receiver_drop(rx);
    assert_int_equal(test_waker_live(&t), 0);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(test_waker_wakes(&t), 0);
    achan_watch_sender_drop(tx);
    assert_int_equal(test_waker_live(&c), 0);
    assert_int_equal(test_waker_wakes(&c), 0);
    achan_watch_receiver_drop(rx2);
}

/* More waiters than one wake batch holds: every one is woken exactly once. */
static void every_waiter_is_woken_once(void **state) {
    (void)state;
    enum { N = 40 };
    achan_watch_sender *tx;
    achan_watch_receiver *rxs[N];
    test_waker t[N];
    memset(t, 0, sizeof t);
    new_str("one", &tx, &rxs[0]);
    for (int i = 1; i < N; i++)
        assert_non_null(rxs[i] = achan_watch_subscribe(tx));
    for (int i = 0; i < N; i++)
        assert_int_equal(changed_with(rxs[i], &t[i]), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(send_str(tx, "three"), ACHAN_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(test_waker_wakes(&t[i]), 1);
        assert_int_equal(test_waker_live(&t[i]), 0);
        assert_int_equal(changed_with(rxs[i], &t[i]), ACHAN_OK);
        assert_borrow(rxs[i], "three");
        achan_watch_receiver_drop(rxs[i]);
    }
    achan_watch_sender_drop(tx);
}

/* A waker that calls back into the channel when woken: it must not be woken
 * with a lock held (that would deadlock here). */
typedef struct {
    achan_watch_receiver *rx;
    int wakes;
} reentrant;

static achan_waker re_clone(const void *data);
static void re_wake_by_ref(const void *data) {
    reentrant *r = (reentrant *)data;
    r->wakes++;
    achan_waker noop = achan_waker_noop();
    achan_context cx = {&noop};
    /* Re-registers (takes the waitlist lock) from inside the wake. */
    assert_int_equal(achan_watch_poll_changed(r->rx, &cx), ACHAN_OK);
    assert_int_equal(achan_watch_poll_changed(r->rx, &cx), ACHAN_PENDING);
}
static void re_wake(void *data) {
    re_wake_by_ref(data);
}
static void re_drop(void *data) {
    (void)data;
}
static const achan_waker_vtbl re_vtbl = {re_clone, re_wake, re_wake_by_ref, re_drop};
static achan_waker re_clone(const void *data) {
    achan_waker w = {&re_vtbl, (void *)data};
    return w;
}

static void waker_may_reenter_the_channel(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    reentrant r = {rx, 0};
    achan_waker w = {&re_vtbl, &r};
    achan_context cx = {&w};
    assert_int_equal(achan_watch_poll_changed(rx, &cx), ACHAN_PENDING);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    assert_int_equal(r.wakes, 1);
    achan_watch_sender_drop(tx); /* Wakes the noop waker registered inside. */
    achan_watch_receiver_drop(rx);
}

/* ---- blocking ---- */

static void *send_after_a_while(void *arg) {
    achan_watch_sender *tx = arg;
    TEST_CHECK(send_str(tx, "late") == ACHAN_OK);
    achan_watch_sender_drop(tx);
    return NULL;
}

static void changed_blocking_times_out_then_sees_change(void **state) {
    (void)state;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    new_str("one", &tx, &rx);
    assert_int_equal(achan_watch_changed_blocking(rx, 0), ACHAN_TIMEOUT);
    assert_int_equal(achan_watch_changed_blocking(rx, 2000000), ACHAN_TIMEOUT);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_after_a_while, tx), 0);
    assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_OK);
    assert_borrow_and_update(rx, "late");
    assert_int_equal(achan_watch_changed_blocking(rx, -1), ACHAN_CLOSED);
    pthread_join(th, NULL);
    achan_watch_receiver_drop(rx);
}

/* ---- Tokio's loom_watch.rs, on real threads ---- */

static void *send_two(void *arg) {
    TEST_CHECK(send_str(arg, "2") == ACHAN_OK);
    return NULL;
}

/* Tokio loom smoke: five receivers (clones of one) each see a change to "2"
 * sent from another thread, whenever it lands; run 200 times so the
 * scheduler varies where. */
static void loom_smoke(void **state) {
    (void)state;
    enum { RECEIVERS = 5, ROUNDS = 200 };
    for (int round = 0; round < ROUNDS; round++) {
        achan_watch_sender *tx;
        achan_watch_receiver *rx[RECEIVERS];
        new_str("1", &tx, &rx[0]);
        for (int i = 1; i < RECEIVERS; i++) {
            rx[i] = achan_watch_receiver_clone(rx[0]);
            assert_non_null(rx[i]);
        }
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, send_two, tx), 0);
        for (int i = 0; i < RECEIVERS; i++) {
            assert_int_equal(achan_watch_changed_blocking(rx[i], -1), ACHAN_OK);
            assert_borrow(rx[i], "2");
        }
        pthread_join(th, NULL);
        achan_watch_sender_drop(tx);
        for (int i = 0; i < RECEIVERS; i++) {
            assert_int_equal(achan_watch_changed_blocking(rx[i], 0), ACHAN_CLOSED);
            achan_watch_receiver_drop(rx[i]);
        }
    }
}

/* ---- values ---- */

/* Values of any size (not a multiple of the word size) come out whole. */
static void odd_sized_values_are_copied_whole(void **state) {
    (void)state;
    const size_t sizes[] = {1, 3, 7, 8, 9, 301};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        unsigned char in[301], out[302];
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 13 + k + 1);
        achan_opts o = {.item_size = n};
        achan_watch_sender *tx;
        achan_watch_receiver *rx;
        assert_int_equal(achan_watch_new(&o, in, &tx, &rx), ACHAN_OK);
        memset(out, 0xEE, sizeof out);
        achan_watch_borrow(rx, out);
        assert_memory_equal(in, out, n);
        assert_int_equal(out[n], 0xEE); /* Nothing written past item_size. */
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)~in[i];
        assert_int_equal(achan_watch_send(tx, in), ACHAN_OK);
        memset(out, 0xEE, sizeof out);
        achan_watch_borrow_and_update(rx, out);
        assert_memory_equal(in, out, n);
        assert_int_equal(out[n], 0xEE);
        achan_watch_receiver_drop(rx);
        achan_watch_sender_drop(tx);
    }
}

/* ---- allocation ---- */

static void allocation_failure_is_nomem_and_leaks_nothing(void **state) {
    (void)state;
    test_alloc ta;
    test_alloc_init(&ta);
    str init = S("one");
    achan_opts o = {.item_size = sizeof(str), .allocator = &ta.a};
    achan_watch_sender *tx = (achan_watch_sender *)0x1;
    achan_watch_receiver *rx = (achan_watch_receiver *)0x1;
    /* achan_watch_new allocates twice: the channel, then the receiver. */
    for (long k = 0; k < 2; k++) {
        test_alloc_fail_at(&ta, k);
        assert_int_equal(achan_watch_new(&o, &init, &tx, &rx), ACHAN_NOMEM);
        assert_ptr_equal(tx, (achan_watch_sender *)0x1);
        assert_ptr_equal(rx, (achan_watch_receiver *)0x1);
        assert_int_equal(test_alloc_live_bytes(&ta), 0);
    }
    test_alloc_fail_at(&ta, -1);
    assert_int_equal(achan_watch_new(&o, &init, &tx, &rx), ACHAN_OK);
    long live = test_alloc_live_bytes(&ta);
    /* subscribe and receiver_clone: NULL, nothing changed. */
    test_alloc_fail_at(&ta, 0);
    assert_null(achan_watch_subscribe(tx));
    test_alloc_fail_at(&ta, 0);
    assert_null(achan_watch_receiver_clone(rx));
    test_alloc_fail_at(&ta, -1);
    assert_int_equal(test_alloc_live_bytes(&ta), live);
    assert_int_equal(achan_watch_receiver_count(tx), 1);
    achan_watch_receiver *rx2 = achan_watch_subscribe(tx);
    achan_watch_receiver *rx3 = achan_watch_receiver_clone(rx);
    assert_non_null(rx2);
    assert_non_null(rx3);
    assert_int_equal(achan_watch_receiver_count(tx), 3);
    assert_int_equal(send_str(tx, "two"), ACHAN_OK);
    achan_watch_sender_drop(tx);
    achan_watch_receiver_drop(rx2);
    assert_borrow(rx3, "two");
    achan_watch_receiver_drop(rx);
    achan_watch_receiver_drop(rx3);
    assert_int_equal(test_alloc_live_bytes(&ta), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_rejects_bad_arguments),
        cmocka_unit_test(every_function_rejects_null),
        cmocka_unit_test(single_rx_recv),
        cmocka_unit_test(rx_version_underflow),
        cmocka_unit_test(rx_mark_changed),
        cmocka_unit_test(rx_mark_unchanged),
        cmocka_unit_test(multi_rx),
        cmocka_unit_test(rx_observes_final_value),
        cmocka_unit_test(poll_close),
        cmocka_unit_test(borrow_and_update),
        cmocka_unit_test(reopened_after_subscribe),
        cmocka_unit_test(send_if_modified_false_keeps_changes_silently),
        cmocka_unit_test(multiple_sender),
        cmocka_unit_test(receiver_is_notified_when_sender_is_dropped),
        cmocka_unit_test(changed_succeeds_on_closed_channel_with_unseen_value),
        cmocka_unit_test(changed_errors_on_closed_channel_with_seen_value),
        cmocka_unit_test(has_changed_errors_on_closed_channel_with_unseen_value),
        cmocka_unit_test(has_changed_errors_on_closed_channel_with_seen_value),
        cmocka_unit_test(watch_stream_message_not_twice),
        cmocka_unit_test(watch_stream_from_rx),
        cmocka_unit_test(watch_stream_from_changes),
        cmocka_unit_test(stream_skips_to_latest_value),
        cmocka_unit_test(send_without_receivers_is_closed_and_not_stored),
        cmocka_unit_test(send_replace_and_modify_always_notify),
        cmocka_unit_test(subscribe_and_clone_set_seen_version),
        cmocka_unit_test(repoll_with_new_waker_replaces_old),
        cmocka_unit_test(drops_release_wakers),
        cmocka_unit_test(every_waiter_is_woken_once),
        cmocka_unit_test(waker_may_reenter_the_channel),
        cmocka_unit_test(changed_blocking_times_out_then_sees_change),
        cmocka_unit_test(loom_smoke),
        cmocka_unit_test(odd_sized_values_are_copied_whole),
        cmocka_unit_test(allocation_failure_is_nomem_and_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
