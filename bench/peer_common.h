/* peer_common.h - what achan_peer and achan_peer_tasks share: the clock,
 * the checksum, the RESULT line of ../shared/peers' protocol, and making a
 * u64 mpsc. Static functions: each program includes it once. */
#ifndef ACHAN_BENCH_PEER_COMMON_H
#define ACHAN_BENCH_PEER_COMMON_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "achan/achan.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 0 + 1 + ... + (n - 1): the checksum of every workload that sends 0..n-1. */
static uint64_t tri(uint64_t n) {
    return n * (n - 1) / 2;
}

/* Exits 2 (the protocol's checksum failure) when got != want. */
static void check(const char *what, uint64_t got, uint64_t want) {
    if (got != want) {
        fprintf(stderr, "CHECK FAILED %s: got %" PRIu64 " want %" PRIu64 "\n", what, got, want);
        exit(2);
    }
}

static void must(achan_status st, const char *what) {
    if (st != ACHAN_OK) {
        fprintf(stderr, "%s: %s\n", what, achan_status_str(st));
        exit(1);
    }
}

/* RESULT<TAB>workload<TAB>peer<TAB>ns_per_unit<TAB>count<TAB>note */
static void report_as(const char *peer, const char *w, uint64_t dt_ns, uint64_t units,
                      const char *note) {
    printf("RESULT\t%s\t%s\t%.2f\t%" PRIu64 "\t%s\n", w, peer, (double)dt_ns / (double)units, units,
           note && *note ? note : "-");
}

static void mpsc_new(size_t cap, achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = cap};
    must(achan_mpsc_new(&o, tx, rx), "achan_mpsc_new");
}

#endif /* ACHAN_BENCH_PEER_COMMON_H */
