/* pipeline.c - the achan demo: producer threads -> bounded mpsc -> a consumer
 * that reads through the stream interface.
 *
 * Four producers each send 250,000 jobs into a channel of capacity 256 (so
 * they wait whenever the consumer falls behind). The consumer treats the
 * receiver as an achan_stream: it polls with a waker that unparks its thread,
 * and parks when the stream says PENDING, exactly as an executor would. When
 * the last producer drops its sender, the stream ends. Prints what arrived and
 * how fast.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "achan/achan.h"

#define PRODUCERS 4
#define JOBS_EACH 250000
#define CAPACITY 256

typedef struct job {
    uint32_t producer;
    uint32_t seq;
    uint64_t payload;
} job;

typedef struct producer {
    achan_mpsc_sender *tx;
    uint32_t id;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (uint32_t i = 0; i < JOBS_EACH; i++) {
        job j = {p->id, i, (uint64_t)p->id * 1000003u + i};
        if (achan_mpsc_send_blocking(p->tx, &j, -1) != ACHAN_OK) {
            fprintf(stderr, "producer %u: receiver went away\n", p->id);
            break;
        }
    }
    achan_mpsc_sender_drop(p->tx); /* The last drop ends the stream. */
    return NULL;
}

int main(void) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(job), .capacity = CAPACITY};
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK) {
        fprintf(stderr, "achan_mpsc_new failed\n");
        return 1;
    }

    producer ps[PRODUCERS];
    pthread_t threads[PRODUCERS];
    uint64_t t0 = achan_monotonic_ns();
    /* Clone every sender before starting any producer: a producer drops its
     * sender when done, and tx is producer 0's. */
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        ps[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        ps[i].id = i;
        if (!ps[i].tx) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        if (pthread_create(&threads[i], NULL, produce, &ps[i]) != 0) {
            fprintf(stderr, "could not start producer %u\n", i);
            return 1;
        }
    }

    /* The consumer: the receiver is a stream. */
    achan_stream *jobs = achan_mpsc_receiver_stream(rx);
    achan_waker waker;
    if (achan_thread_waker(&waker) != ACHAN_OK)
        return 1;
    achan_context cx = {&waker};
    uint32_t next[PRODUCERS] = {0};
    uint64_t received = 0, checksum = 0, parks = 0, out_of_order = 0;
    job j;
    achan_status st;
    while ((st = achan_stream_poll_next(jobs, &cx, &j)) != ACHAN_CLOSED) {
        if (st == ACHAN_PENDING) { /* Nothing ready: sleep until a send wakes us. */
            parks++;
            achan_thread_park(-1);
            continue;
        }
        if (j.seq != next[j.producer]++)
            out_of_order++;
        checksum += j.payload;
        received++;
    }
    achan_waker_drop(waker);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    double secs = (double)(achan_monotonic_ns() - t0) / 1e9;
    achan_stream_drop(jobs); /* Drops the receiver. */

    uint64_t expect = 0;
    for (uint64_t p = 0; p < PRODUCERS; p++)
        for (uint64_t i = 0; i < JOBS_EACH; i++)
            expect += p * 1000003u + i;
    printf("achan %s pipeline demo\n", achan_version_string());
    printf("  %d producers -> mpsc(capacity %d) -> 1 stream consumer\n", PRODUCERS, CAPACITY);
    printf("  received %" PRIu64 " jobs of %zu bytes in %.3f s: %.1f M jobs/s, %.0f ns per job\n",
           received, sizeof(job), secs, (double)received / secs / 1e6, secs * 1e9 / (double)received);
    printf("  per-producer order kept: %s; checksum %s; consumer parked %" PRIu64 " times\n",
           out_of_order ? "NO" : "yes", checksum == expect ? "ok" : "WRONG", parks);
    return received == (uint64_t)PRODUCERS * JOBS_EACH && !out_of_order && checksum == expect ? 0 : 1;
}
