/* event_bus.c - a broadcast channel as an in-process event bus.
 *
 * A publisher emits sensor events in bursts of 30 (one every 200 us, then
 * 30 ms of quiet) on a bus that keeps the last 16. Two subscribers get
 * every event on their own threads: a fast one that keeps up, and a slow one
 * (1 ms per event) that falls more than 16 events behind during each burst.
 * The slow one is told how many it missed (ACHAN_LAGGED), carries on with
 * the oldest event the bus still holds, and has caught up again before the
 * next burst. Both end when the publisher drops its sender (ACHAN_CLOSED);
 * the program checks that every event was either received or reported
 * missed.
 *
 * Build: cc event_bus.c $(pkg-config --cflags --libs achan) -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "achan/achan.h"

enum { BURSTS = 4, BURST = 30, EVENTS = BURSTS * BURST, HISTORY = 16 };

struct event {
    unsigned seq;    /* 0, 1, 2, ... in publishing order */
    int temperature; /* tenths of a degree */
};

struct subscriber {
    const char *name;
    achan_broadcast_receiver *rx;
    long work_ns; /* time spent on each event */
    unsigned received;
    uint64_t missed;
};

static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static void *subscribe_loop(void *arg) {
    struct subscriber *s = arg;
    struct event ev;
    uint64_t skipped;
    bool resumed = false;
    for (;;) {
        achan_status st = achan_broadcast_recv_blocking(s->rx, &ev, &skipped, -1);
        if (st == ACHAN_CLOSED)
            break; /* The publisher is gone and everything held was read. */
        if (st == ACHAN_LAGGED) {
            /* Overwritten before we got to them; the next receive returns the
             * oldest event the bus still holds. */
            printf("%s: fell behind, missed %" PRIu64 " events", s->name, skipped);
            s->missed += skipped;
            resumed = true;
            continue;
        }
        if (st != ACHAN_OK) {
            fprintf(stderr, "%s: %s\n", s->name, achan_status_str(st));
            break;
        }
        if (resumed)
            printf("; resuming at event %u\n", ev.seq);
        resumed = false;
        s->received++;
        if (s->work_ns)
            sleep_ns(s->work_ns);
    }
    return NULL;
}

int main(void) {
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    achan_opts o = {.item_size = sizeof(struct event), .capacity = HISTORY};
    if (achan_broadcast_new(&o, &tx, &rx) != ACHAN_OK)
        return 1;

    struct subscriber subs[2] = {
        {.name = "fast", .rx = rx, .work_ns = 0},
        {.name = "slow", .rx = achan_broadcast_subscribe(tx), .work_ns = 1000000},
    };
    if (!subs[1].rx)
        return 1;
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&threads[i], NULL, subscribe_loop, &subs[i]) != 0)
            return 1;

    for (unsigned i = 0; i < EVENTS; i++) {
        struct event ev = {.seq = i, .temperature = 200 + (int)(i % 7)};
        if (achan_broadcast_send(tx, &ev, NULL) != ACHAN_OK)
            return 1;
        if ((i + 1) % BURST == 0)
            sleep_ns(30000000); /* Quiet between bursts: the slow one catches up. */
        else
            sleep_ns(200000);
    }
    achan_broadcast_sender_drop(tx); /* Subscribers drain what is held, then end. */

    int ok = 1;
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        struct subscriber *s = &subs[i];
        printf("%s: %u events received, %" PRIu64 " missed\n", s->name, s->received, s->missed);
        ok &= s->received + s->missed == EVENTS; /* Every event accounted for. */
        achan_broadcast_receiver_drop(s->rx);
    }
    return ok ? 0 : 1;
}
