/* main.c - the program every packaging check builds as a user of achan would:
 * against an installed achan (pkg-config and a plain cc command line, or
 * find_package), a vendored one (add_subdirectory, FetchContent) and the
 * single header (scripts/amalgamate.sh). It sends and receives through every
 * channel kind achan has, across threads, checks the version, and exits
 * non-zero on the first mismatch.
 *
 *   ACHAN_CONSUMER_SINGLE_HEADER    include "achan.h" (the single header;
 *                                   single_impl.c holds its implementation)
 *   ACHAN_CONSUMER_EXPECT_VERSION   "M.m.p" from the package manager
 *                                   (pkg-config, CMake), compared with the
 *                                   library's
 *
 * Usage: consumer [LABEL]   (LABEL names the way it was built, for the log)
 */
#ifdef ACHAN_CONSUMER_SINGLE_HEADER
#include "achan.h"
#else
#include <achan/achan.h>
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR2(x) #x
#define STR(x) STR2(x)

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The library linked in is the one the headers (and the package) describe. */
static void check_version(void) {
    const char *header =
        STR(ACHAN_VERSION_MAJOR) "." STR(ACHAN_VERSION_MINOR) "." STR(ACHAN_VERSION_PATCH);
    CHECK(achan_version() == ACHAN_VERSION_HEX);
    CHECK(strcmp(achan_version_string(), header) == 0);
#ifdef ACHAN_CONSUMER_EXPECT_VERSION
    CHECK(strcmp(achan_version_string(), ACHAN_CONSUMER_EXPECT_VERSION) == 0);
#endif
    CHECK(strcmp(achan_status_str(ACHAN_FULL), "ACHAN_FULL") == 0);
}

/* ------------------------------------------------------------------------ */
/* mpsc                                                                      */

enum { PRODUCERS = 2, PER_PRODUCER = 2000 };

typedef struct {
    achan_mpsc_sender *tx; /* The producer's own sender, dropped when done. */
    int id;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        int v = p->id * PER_PRODUCER + i;
        if (achan_mpsc_send_blocking(p->tx, &v, -1) != ACHAN_OK)
            break;
    }
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

/* Bounded (capacity 3, so senders wait): producer threads, the receiver read
 * as a stream until it ends; every item once, in order per producer. */
static void check_mpsc_bounded(void) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int), .capacity = 3};
    CHECK(achan_mpsc_new(&o, &tx, &rx) == ACHAN_OK);
    pthread_t threads[PRODUCERS];
    producer producers[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        producers[p].tx = achan_mpsc_sender_clone(tx);
        producers[p].id = p;
        CHECK(producers[p].tx != NULL);
        CHECK(pthread_create(&threads[p], NULL, produce, &producers[p]) == 0);
    }
    achan_mpsc_sender_drop(tx);

    int next[PRODUCERS] = {0};
    int v, received = 0;
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    achan_status st;
    while ((st = achan_stream_next_blocking(s, &v, 10 * 1000000000LL)) == ACHAN_OK) {
        int p = v / PER_PRODUCER;
        CHECK(p >= 0 && p < PRODUCERS && v % PER_PRODUCER == next[p]);
        if (p >= 0 && p < PRODUCERS)
            next[p]++;
        received++;
    }
    CHECK(st == ACHAN_CLOSED);
    CHECK(received == PRODUCERS * PER_PRODUCER);
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(threads[p], NULL);
    achan_stream_drop(s);
}

/* Unbounded: try_send never waits; the poll interface with a no-op waker;
 * FIFO; CLOSED after the last sender once drained. */
static void check_mpsc_unbounded(void) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(int), .capacity = 0};
    CHECK(achan_mpsc_new(&o, &tx, &rx) == ACHAN_OK);
    achan_waker noop = achan_waker_noop();
    achan_context cx = {&noop};
    int v;
    CHECK(achan_mpsc_poll_recv(rx, &cx, &v) == ACHAN_PENDING);
    for (int i = 0; i < 100; i++)
        CHECK(achan_mpsc_try_send(tx, &i) == ACHAN_OK);
    CHECK(achan_mpsc_len(rx) == 100);
    achan_mpsc_sender_drop(tx);
    for (int i = 0; i < 100; i++) {
        CHECK(achan_mpsc_poll_recv(rx, &cx, &v) == ACHAN_OK);
        CHECK(v == i);
    }
    CHECK(achan_mpsc_try_recv(rx, &v) == ACHAN_CLOSED);
    achan_mpsc_receiver_drop(rx);
}

/* ------------------------------------------------------------------------ */
/* oneshot                                                                   */

static void *send_reply(void *arg) {
    int v = 42;
    CHECK(achan_oneshot_send(arg, &v) == ACHAN_OK); /* Consumes the sender. */
    return NULL;
}

/* A value from another thread; then CLOSED. */
static void check_oneshot(void) {
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    achan_opts o = {.item_size = sizeof(int)};
    CHECK(achan_oneshot_new(&o, &tx, &rx) == ACHAN_OK);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, send_reply, tx) == 0);
    int v = 0;
    CHECK(achan_oneshot_recv_blocking(rx, &v, 10 * 1000000000LL) == ACHAN_OK);
    CHECK(v == 42);
    CHECK(achan_oneshot_try_recv(rx, &v) == ACHAN_CLOSED);
    pthread_join(t, NULL);
    achan_oneshot_receiver_drop(rx);
}

/* ------------------------------------------------------------------------ */
/* watch                                                                     */

static void *publish_versions(void *arg) {
    for (int v = 1; v <= 100; v++)
        CHECK(achan_watch_send(arg, &v) == ACHAN_OK);
    achan_watch_sender_drop(arg);
    return NULL;
}

/* A writer thread publishes 1..100 and goes; the reader sees increasing
 * values, the last one 100, then CLOSED. */
static void check_watch(void) {
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    achan_opts o = {.item_size = sizeof(int)};
    int v = 0, last = 0;
    CHECK(achan_watch_new(&o, &v, &tx, &rx) == ACHAN_OK);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, publish_versions, tx) == 0);
    while (achan_watch_changed_blocking(rx, 10 * 1000000000LL) == ACHAN_OK) {
        achan_watch_borrow_and_update(rx, &v);
        CHECK(v > last);
        last = v;
    }
    CHECK(last == 100);
    pthread_join(t, NULL);
    achan_watch_receiver_drop(rx);
}

/* ------------------------------------------------------------------------ */
/* broadcast                                                                 */

/* Two receivers each get every value (history large enough: no lag), then
 * CLOSED once the sender is gone. */
static void check_broadcast(void) {
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx1, *rx2;
    achan_opts o = {.item_size = sizeof(int), .capacity = 64};
    CHECK(achan_broadcast_new(&o, &tx, &rx1) == ACHAN_OK);
    rx2 = achan_broadcast_subscribe(tx);
    CHECK(rx2 != NULL);
    for (int i = 0; i < 50; i++) {
        size_t n = 0;
        CHECK(achan_broadcast_send(tx, &i, &n) == ACHAN_OK);
        CHECK(n == 2);
    }
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver *rxs[2] = {rx1, rx2};
    for (int r = 0; r < 2; r++) {
        int v;
        uint64_t skipped;
        for (int i = 0; i < 50; i++) {
            CHECK(achan_broadcast_recv_blocking(rxs[r], &v, &skipped, 0) == ACHAN_OK);
            CHECK(v == i);
        }
        CHECK(achan_broadcast_try_recv(rxs[r], &v, &skipped) == ACHAN_CLOSED);
        achan_broadcast_receiver_drop(rxs[r]);
    }
}

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "consumer";
    check_version();
    check_mpsc_bounded();
    check_mpsc_unbounded();
    check_oneshot();
    check_watch();
    check_broadcast();
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", label, failures);
        return EXIT_FAILURE;
    }
    printf("%s: ok (achan %s, %s parker)\n", label, achan_version_string(), achan_parker_backend());
    return EXIT_SUCCESS;
}
