/* achan_peer - achan in ../shared/peers' benchmark protocol.
 *
 *   achan_peer <w1|w2|w3|w4|w5|w6> <count>
 *
 * prints one line RESULT<TAB>workload<TAB>achan<TAB>ns_per_unit<TAB>count<TAB>note
 * and exits 2 on a checksum mismatch (a lost or duplicated message), 64 for a
 * workload it does not implement. Each workload is written the way a user
 * would: plain threads with the `_blocking` calls. Messages are uint64_t.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "achan/achan.h"
#include "peer_common.h"

#define CAP 1024

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        exit(1);
    }
    return t;
}

/* ---- W1 spsc / W2 mpsc: producers send 0..n-1 (split), the consumer sums. ---- */

typedef struct {
    achan_mpsc_sender *tx;
    uint64_t from, to;
} range_producer;

static void *produce_range(void *arg) {
    range_producer *p = arg;
    for (uint64_t v = p->from; v < p->to; v++)
        must(achan_mpsc_send_blocking(p->tx, &v, -1), "send");
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

static void run_mpsc(const char *w, uint64_t n, int producers) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    mpsc_new(CAP, &tx, &rx);
    range_producer ps[8];
    pthread_t ts[8];
    uint64_t t0 = now_ns();
    for (int i = 0; i < producers; i++) {
        ps[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        ps[i].from = n / (uint64_t)producers * (uint64_t)i;
        ps[i].to = i == producers - 1 ? n : n / (uint64_t)producers * (uint64_t)(i + 1);
    }
    for (int i = 0; i < producers; i++)
        ts[i] = spawn(produce_range, &ps[i]);
    uint64_t sum = 0, v, got = 0;
    while (achan_mpsc_recv_blocking(rx, &v, -1) == ACHAN_OK) {
        sum += v;
        got++;
    }
    for (int i = 0; i < producers; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = now_ns() - t0;
    achan_mpsc_receiver_drop(rx);
    check("count", got, n);
    check("sum", sum, tri(n));
    report_as("achan", w, dt, n,
              producers == 1 ? "threads, send/recv_blocking, cap 1024"
                             : "4 threads, send/recv_blocking, cap 1024");
}

/* ---- W4 ping-pong: two capacity-1 channels, n round trips. ---- */

typedef struct {
    achan_mpsc_receiver *rx;
    achan_mpsc_sender *tx;
} echo_args;

static void *echo(void *arg) {
    echo_args *a = arg;
    uint64_t v;
    while (achan_mpsc_recv_blocking(a->rx, &v, -1) == ACHAN_OK)
        must(achan_mpsc_send_blocking(a->tx, &v, -1), "echo send");
    achan_mpsc_sender_drop(a->tx);
    achan_mpsc_receiver_drop(a->rx);
    return NULL;
}

static void run_w4(uint64_t n) {
    achan_mpsc_sender *ping_tx, *pong_tx;
    achan_mpsc_receiver *ping_rx, *pong_rx;
    mpsc_new(1, &ping_tx, &ping_rx);
    mpsc_new(1, &pong_tx, &pong_rx);
    echo_args a = {ping_rx, pong_tx};
    uint64_t t0 = now_ns();
    pthread_t t = spawn(echo, &a);
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < n; i++) {
        must(achan_mpsc_send_blocking(ping_tx, &i, -1), "ping");
        must(achan_mpsc_recv_blocking(pong_rx, &v, -1), "pong");
        sum += v;
    }
    achan_mpsc_sender_drop(ping_tx);
    pthread_join(t, NULL);
    uint64_t dt = now_ns() - t0;
    achan_mpsc_receiver_drop(pong_rx);
    check("sum", sum, tri(n));
    report_as("achan", "w4_pingpong", dt, n, "ns per round trip; 2 threads, cap-1 mpsc each way");
}

/* ---- W3 broadcast: 1 sender -> 4 receivers, every receiver gets every message. ---- */

#define W3_RECEIVERS 4

typedef struct {
    achan_broadcast_receiver *rx;
    uint64_t sum, got, lagged;
} bcast_reader;

static void *bcast_read(void *arg) {
    bcast_reader *r = arg;
    uint64_t v, skipped;
    achan_status st;
    while ((st = achan_broadcast_recv_blocking(r->rx, &v, &skipped, -1)) != ACHAN_CLOSED) {
        if (st == ACHAN_LAGGED) {
            r->lagged += skipped;
            continue;
        }
        r->sum += v;
        r->got++;
    }
    achan_broadcast_receiver_drop(r->rx);
    return NULL;
}

static uint64_t next_pow2(uint64_t n) {
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static void run_w3(uint64_t n) {
    /* As Tokio's row: capacity next_pow2(n), so no receiver can lag and the
     * sender never waits. */
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *first;
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = (size_t)next_pow2(n)};
    must(achan_broadcast_new(&o, &tx, &first), "achan_broadcast_new");
    bcast_reader rs[W3_RECEIVERS] = {{0}};
    pthread_t ts[W3_RECEIVERS];
    rs[0].rx = first;
    for (int i = 1; i < W3_RECEIVERS; i++)
        rs[i].rx = achan_broadcast_subscribe(tx);
    uint64_t t0 = now_ns();
    for (int i = 0; i < W3_RECEIVERS; i++)
        ts[i] = spawn(bcast_read, &rs[i]);
    for (uint64_t v = 0; v < n; v++)
        must(achan_broadcast_send(tx, &v, NULL), "broadcast send");
    achan_broadcast_sender_drop(tx);
    for (int i = 0; i < W3_RECEIVERS; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = now_ns() - t0;
    for (int i = 0; i < W3_RECEIVERS; i++) {
        check("receiver lagged", rs[i].lagged, 0);
        check("receiver count", rs[i].got, n);
        check("receiver sum", rs[i].sum, tri(n));
    }
    report_as("achan", "w3_bcast", dt, n,
              "broadcast cap=next_pow2(n), sender never waits; threads, recv_blocking");
}

/* ---- W5 oneshot: A makes a oneshot per value, hands B the receiver, sends. ---- */

typedef struct {
    achan_mpsc_receiver *handoff;
    uint64_t sum;
} oneshot_taker;

static void *oneshot_take(void *arg) {
    oneshot_taker *b = arg;
    achan_oneshot_receiver *orx;
    uint64_t v;
    while (achan_mpsc_recv_blocking(b->handoff, &orx, -1) == ACHAN_OK) {
        must(achan_oneshot_recv_blocking(orx, &v, -1), "oneshot recv");
        achan_oneshot_receiver_drop(orx);
        b->sum += v;
    }
    return NULL;
}

static void run_w5(uint64_t n) {
    achan_mpsc_sender *htx;
    achan_mpsc_receiver *hrx;
    achan_opts ho = {.item_size = sizeof(achan_oneshot_receiver *), .capacity = CAP};
    must(achan_mpsc_new(&ho, &htx, &hrx), "handoff channel");
    oneshot_taker b = {hrx, 0};
    achan_opts oo = {.item_size = sizeof(uint64_t)};
    uint64_t t0 = now_ns();
    pthread_t t = spawn(oneshot_take, &b);
    for (uint64_t v = 0; v < n; v++) {
        achan_oneshot_sender *otx;
        achan_oneshot_receiver *orx;
        must(achan_oneshot_new(&oo, &otx, &orx), "oneshot new");
        must(achan_mpsc_send_blocking(htx, &orx, -1), "handoff send");
        must(achan_oneshot_send(otx, &v), "oneshot send");
    }
    achan_mpsc_sender_drop(htx);
    pthread_join(t, NULL);
    uint64_t dt = now_ns() - t0;
    achan_mpsc_receiver_drop(hrx);
    check("sum", b.sum, tri(n));
    report_as("achan", "w5_oneshot", dt, n,
              "oneshot per value, receiver handed over an mpsc(1024); threads");
}

/* ---- W6 watch: 1 sender, 1..n, then closes; 4 receivers follow the latest. ---- */

#define W6_RECEIVERS 4

typedef struct {
    achan_watch_receiver *rx;
    uint64_t last, observed;
} watch_reader;

static void *watch_read(void *arg) {
    watch_reader *r = arg;
    while (achan_watch_changed_blocking(r->rx, -1) == ACHAN_OK) {
        achan_watch_borrow(r->rx, &r->last);
        r->observed++;
    }
    achan_watch_receiver_drop(r->rx);
    return NULL;
}

static void run_w6(uint64_t n) {
    achan_watch_sender *tx;
    achan_watch_receiver *first;
    uint64_t zero = 0;
    achan_opts o = {.item_size = sizeof(uint64_t)};
    must(achan_watch_new(&o, &zero, &tx, &first), "achan_watch_new");
    watch_reader rs[W6_RECEIVERS] = {{0}};
    pthread_t ts[W6_RECEIVERS];
    rs[0].rx = first;
    for (int i = 1; i < W6_RECEIVERS; i++)
        rs[i].rx = achan_watch_subscribe(tx);
    uint64_t t0 = now_ns();
    for (int i = 0; i < W6_RECEIVERS; i++)
        ts[i] = spawn(watch_read, &rs[i]);
    for (uint64_t v = 1; v <= n; v++)
        must(achan_watch_send(tx, &v), "watch send");
    achan_watch_sender_drop(tx);
    for (int i = 0; i < W6_RECEIVERS; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = now_ns() - t0;
    char note[160];
    int len = snprintf(note, sizeof note, "threads, changed_blocking + borrow; observed=");
    for (int i = 0; i < W6_RECEIVERS; i++) {
        check("last value", rs[i].last, n);
        len += snprintf(note + len, sizeof note - (size_t)len, "%s%" PRIu64, i ? "," : "",
                        rs[i].observed);
    }
    report_as("achan", "w6_watch", dt, n, note);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <w1..w6> <count>\n", argv[0]);
        return 64;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    const char *w = argv[1];
    if (!strcmp(w, "w1"))
        run_mpsc("w1_spsc", n, 1);
    else if (!strcmp(w, "w2"))
        run_mpsc("w2_mpsc", n, 4);
    else if (!strcmp(w, "w3"))
        run_w3(n);
    else if (!strcmp(w, "w4"))
        run_w4(n);
    else if (!strcmp(w, "w5"))
        run_w5(n);
    else if (!strcmp(w, "w6"))
        run_w6(n);
    else
        return 64;
    return 0;
}
