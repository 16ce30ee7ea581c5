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
/* CHANNEL KINDS STILL TO COME                                               */
/*                                                                           */
/* When oneshot, watch and broadcast land, add here a check_oneshot(),       */
/* check_watch() and check_broadcast() in the style of the mpsc ones (send   */
/* through the channel from another thread, receive, see it close), and call */
/* them from main() below. Every packaging check (tests/consumers/run.sh and */
/* the consumer_single_header test) builds this one file, so that is all.    */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "consumer";
    check_version();
    check_mpsc_bounded();
    check_mpsc_unbounded();
    /* check_oneshot(); check_watch(); check_broadcast(); -- see above. */
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", label, failures);
        return EXIT_FAILURE;
    }
    printf("%s: ok (achan %s, %s parker)\n", label, achan_version_string(), achan_parker_backend());
    return EXIT_SUCCESS;
}
