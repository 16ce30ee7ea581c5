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

#define CAP 1024

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tri(uint64_t n) { return n * (n - 1) / 2; }

static void check(const char *what, uint64_t got, uint64_t want) {
    if (got != want) {
        fprintf(stderr, "CHECK FAILED %s: got %" PRIu64 " want %" PRIu64 "\n", what, got, want);
        exit(2);
    }
}

static void report(const char *w, uint64_t dt_ns, uint64_t units, const char *note) {
    printf("RESULT\t%s\tachan\t%.2f\t%" PRIu64 "\t%s\n", w, (double)dt_ns / (double)units, units,
           note && *note ? note : "-");
}

static void must(achan_status st, const char *what) {
    if (st != ACHAN_OK) {
        fprintf(stderr, "%s: %s\n", what, achan_status_str(st));
        exit(1);
    }
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        exit(1);
    }
    return t;
}

static void mpsc_new(size_t cap, achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = cap};
    must(achan_mpsc_new(&o, tx, rx), "achan_mpsc_new");
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
    report(w, dt, n, producers == 1 ? "threads, send/recv_blocking, cap 1024"
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
    report("w4_pingpong", dt, n, "ns per round trip; 2 threads, cap-1 mpsc each way");
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
    else if (!strcmp(w, "w4"))
        run_w4(n);
    else
        return 64;
    return 0;
}
