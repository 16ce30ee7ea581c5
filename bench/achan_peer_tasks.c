/* achan_peer_tasks - achan in ../shared/peers' protocol, with the parties as
 * tasks on achan's single-threaded executor instead of threads.
 *
 *   achan_peer_tasks <w4|w5> <count>
 *
 * prints one line RESULT<TAB>workload<TAB>achan-tasks<TAB>ns_per_unit<TAB>count<TAB>note
 * and exits 2 on a checksum mismatch, 64 for a workload it does not
 * implement. This is how Tokio's row runs every workload (tasks on a
 * runtime, `send().await` / `recv().await`), and the natural form for
 * parties that only wait on each other: W4's two sides of a ping-pong and
 * W5's requester and responder. achan_peer runs the same workloads on two
 * threads with the `_blocking` calls; both rows are reported.
 *
 * Each task is a hand-written future: a small state machine around
 * achan_mpsc_poll_send / achan_mpsc_poll_recv (and the oneshot receiver's
 * future for W5), which returns ACHAN_PENDING when a channel registered the
 * task's waker. Messages are uint64_t.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "achan/achan.h"
#include "peer_common.h"

/* Spawns every future, runs the executor until all are done; returns the
 * time the run took. */
static uint64_t run_tasks(achan_future **fs, int n) {
    achan_executor *ex;
    must(achan_executor_new(&ex), "achan_executor_new");
    for (int i = 0; i < n; i++)
        must(achan_executor_spawn(ex, fs[i], NULL, NULL), "spawn");
    uint64_t t0 = now_ns();
    must(achan_executor_run(ex, -1), "achan_executor_run");
    uint64_t dt = now_ns() - t0;
    achan_executor_drop(ex);
    return dt;
}

/* ---- W4 ping-pong: the pinger sends i, waits for the echo; n round trips. ---- */

typedef struct {
    achan_future base;
    achan_mpsc_sender *tx;   /* ping */
    achan_mpsc_receiver *rx; /* pong */
    uint64_t i, n, *sum;
    bool sent; /* i was sent; its echo is awaited. */
} pinger;

static achan_status pinger_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    pinger *p = (pinger *)f;
    while (p->i < p->n) {
        if (!p->sent) {
            achan_status st = achan_mpsc_poll_send(p->tx, cx, &p->i);
            if (st == ACHAN_PENDING)
                return st;
            must(st, "ping");
            p->sent = true;
        }
        uint64_t v;
        achan_status st = achan_mpsc_poll_recv(p->rx, cx, &v);
        if (st == ACHAN_PENDING)
            return st;
        must(st, "pong");
        *p->sum += v;
        p->sent = false;
        p->i++;
    }
    achan_mpsc_sender_drop(p->tx); /* The echo task sees CLOSED and ends. */
    p->tx = NULL;
    return ACHAN_OK;
}

static void pinger_drop(achan_future *f) {
    pinger *p = (pinger *)f;
    if (p->tx)
        achan_mpsc_sender_drop(p->tx);
    achan_mpsc_receiver_drop(p->rx);
    free(p);
}

static const achan_future_vtbl pinger_vtbl = {pinger_poll, pinger_drop};

typedef struct {
    achan_future base;
    achan_mpsc_receiver *rx; /* ping */
    achan_mpsc_sender *tx;   /* pong */
    uint64_t v;
    bool holding; /* v was received and is to be echoed. */
} echoer;

static achan_status echoer_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    echoer *e = (echoer *)f;
    for (;;) {
        if (!e->holding) {
            achan_status st = achan_mpsc_poll_recv(e->rx, cx, &e->v);
            if (st == ACHAN_PENDING)
                return st;
            if (st == ACHAN_CLOSED)
                return ACHAN_OK;
            must(st, "echo recv");
            e->holding = true;
        }
        achan_status st = achan_mpsc_poll_send(e->tx, cx, &e->v);
        if (st == ACHAN_PENDING)
            return st;
        must(st, "echo send");
        e->holding = false;
    }
}

static void echoer_drop(achan_future *f) {
    echoer *e = (echoer *)f;
    achan_mpsc_receiver_drop(e->rx);
    achan_mpsc_sender_drop(e->tx);
    free(e);
}

static const achan_future_vtbl echoer_vtbl = {echoer_poll, echoer_drop};

static void *zalloc(size_t size) {
    void *p = calloc(1, size);
    if (!p) {
        perror("calloc");
        exit(1);
    }
    return p;
}

static void run_w4(uint64_t n) {
    achan_mpsc_sender *ping_tx, *pong_tx;
    achan_mpsc_receiver *ping_rx, *pong_rx;
    mpsc_new(1, &ping_tx, &ping_rx);
    mpsc_new(1, &pong_tx, &pong_rx);
    uint64_t sum = 0;
    pinger *p = zalloc(sizeof *p);
    *p = (pinger){{&pinger_vtbl, 0}, ping_tx, pong_rx, 0, n, &sum, false};
    echoer *e = zalloc(sizeof *e);
    *e = (echoer){{&echoer_vtbl, 0}, ping_rx, pong_tx, 0, false};
    achan_future *fs[] = {&p->base, &e->base};
    uint64_t dt = run_tasks(fs, 2);
    check("sum", sum, tri(n));
    report_as("achan-tasks", "w4_pingpong", dt, n,
              "ns per round trip; 2 tasks on one achan executor thread, cap-1 mpsc each way");
}

/* ---- W5 oneshot: A makes a oneshot per value, hands B the receiver, sends. ---- */

typedef struct {
    achan_future base;
    achan_mpsc_sender *handoff;
    uint64_t v, n;
    achan_oneshot_sender *otx; /* Made, its receiver not yet handed over. */
    achan_oneshot_receiver *orx;
} requester;

static achan_status requester_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    requester *a = (requester *)f;
    achan_opts oo = {.item_size = sizeof(uint64_t)};
    while (a->v < a->n) {
        if (!a->otx)
            must(achan_oneshot_new(&oo, &a->otx, &a->orx), "oneshot new");
        achan_status st = achan_mpsc_poll_send(a->handoff, cx, &a->orx);
        if (st == ACHAN_PENDING)
            return st;
        must(st, "handoff send");
        must(achan_oneshot_send(a->otx, &a->v), "oneshot send");
        a->otx = NULL;
        a->v++;
    }
    achan_mpsc_sender_drop(a->handoff);
    a->handoff = NULL;
    return ACHAN_OK;
}

static void requester_drop(achan_future *f) {
    requester *a = (requester *)f;
    if (a->otx) {
        achan_oneshot_sender_drop(a->otx);
        achan_oneshot_receiver_drop(a->orx);
    }
    if (a->handoff)
        achan_mpsc_sender_drop(a->handoff);
    free(a);
}

static const achan_future_vtbl requester_vtbl = {requester_poll, requester_drop};

typedef struct {
    achan_future base;
    achan_mpsc_receiver *handoff;
    achan_oneshot_receiver *orx; /* Received, its value not yet. */
    uint64_t *sum;
} responder;

static achan_status responder_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    responder *b = (responder *)f;
    for (;;) {
        if (!b->orx) {
            achan_status st = achan_mpsc_poll_recv(b->handoff, cx, &b->orx);
            if (st == ACHAN_PENDING)
                return st;
            if (st == ACHAN_CLOSED)
                return ACHAN_OK;
            must(st, "handoff recv");
        }
        uint64_t v;
        achan_status st = achan_future_poll(achan_oneshot_receiver_future(b->orx), cx, &v);
        if (st == ACHAN_PENDING)
            return st;
        must(st, "oneshot recv");
        achan_oneshot_receiver_drop(b->orx);
        b->orx = NULL;
        *b->sum += v;
    }
}

static void responder_drop(achan_future *f) {
    responder *b = (responder *)f;
    if (b->orx)
        achan_oneshot_receiver_drop(b->orx);
    achan_mpsc_receiver_drop(b->handoff);
    free(b);
}

static const achan_future_vtbl responder_vtbl = {responder_poll, responder_drop};

static void run_w5(uint64_t n) {
    achan_mpsc_sender *htx;
    achan_mpsc_receiver *hrx;
    achan_opts ho = {.item_size = sizeof(achan_oneshot_receiver *), .capacity = 1024};
    must(achan_mpsc_new(&ho, &htx, &hrx), "handoff channel");
    uint64_t sum = 0;
    requester *a = zalloc(sizeof *a);
    *a = (requester){{&requester_vtbl, 0}, htx, 0, n, NULL, NULL};
    responder *b = zalloc(sizeof *b);
    *b = (responder){{&responder_vtbl, 0}, hrx, NULL, &sum};
    achan_future *fs[] = {&a->base, &b->base};
    uint64_t dt = run_tasks(fs, 2);
    check("sum", sum, tri(n));
    report_as("achan-tasks", "w5_oneshot", dt, n,
              "oneshot per value, receiver handed over an mpsc(1024); 2 tasks on one achan "
              "executor thread");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <w4|w5> <count>\n", argv[0]);
        return 64;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    if (n == 0) {
        fprintf(stderr, "count must be positive\n");
        return 64;
    }
    if (!strcmp(argv[1], "w4"))
        run_w4(n);
    else if (!strcmp(argv[1], "w5"))
        run_w5(n);
    else
        return 64; /* The other workloads: achan_peer's threads only. */
    return 0;
}
