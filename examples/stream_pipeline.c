/* stream_pipeline.c - a StreamExt-style pipeline in C, driven by the executor.
 *
 *   producer threads --mpsc--> filter (odd jobs) --> map (job -> a future:
 *   the job goes to a service thread with a oneshot for its answer)
 *   --> buffer_unordered(4) (up to four answers awaited at once)
 *   --> ready_chunks(8) --> fold
 *
 * with a timeout over the whole stream (ACHAN_TIMEOUT once per 500 ms
 * without a chunk). The fold skips TIMEOUTs, so a small achan_stream_poll_fn
 * "tap" between the timeout and the fold counts them for the report.
 *
 * The fold runs as a task on achan's single-threaded executor, which sleeps
 * until a channel wakes it. Three producer threads send jobs 1..600; the
 * service thread answers job * job (one thread: an mpsc has one receiver).
 * Prints what happened and checks it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "achan/achan.h"

#define PRODUCERS 3
#define JOBS_EACH 200

typedef struct request {
    int job;
    achan_oneshot_sender *reply;
} request;

/* ---- threads: producers and the service ---- */

typedef struct {
    achan_mpsc_sender *jobs;
    int first;
} producer_args;

static void *produce(void *arg) {
    producer_args *p = arg;
    for (int j = p->first; j < p->first + JOBS_EACH; j++)
        achan_mpsc_send_blocking(p->jobs, &j, -1);
    achan_mpsc_sender_drop(p->jobs);
    return NULL;
}

static void *serve(void *arg) {
    achan_mpsc_receiver *requests = arg;
    request r;
    while (achan_mpsc_recv_blocking(requests, &r, -1) == ACHAN_OK) {
        long answer = (long)r.job * r.job;
        achan_oneshot_send(r.reply, &answer); /* Consumes the reply sender. */
    }
    return NULL;
}

/* ---- the pipeline's functions ---- */

static bool is_odd(const void *item, void *user) {
    (void)user;
    return *(const int *)item % 2 != 0;
}

/* job -> the future of its answer: a oneshot whose sender travels with the
 * request to a service thread (the requests channel is unbounded, so this
 * never waits inside the executor). */
static void ask(const void *in, void *out, void *user) {
    achan_mpsc_sender *requests = user;
    achan_opts o = {.item_size = sizeof(long)};
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    achan_future *answer = NULL;
    if (achan_oneshot_new(&o, &tx, &rx) == ACHAN_OK) {
        request r = {*(const int *)in, tx};
        if (achan_mpsc_try_send(requests, &r) == ACHAN_OK)
            answer = achan_oneshot_receiver_future(rx);
        else {
            achan_oneshot_sender_drop(tx);
            achan_oneshot_receiver_drop(rx);
        }
    }
    *(achan_future **)out = answer; /* buffer_unordered skips a NULL future. */
}

typedef struct totals {
    long sum;
    int answers, chunks, largest_chunk;
} totals;

static void add_chunk(void *acc, const void *item, void *user) {
    (void)user;
    totals *t = acc;
    const achan_chunk *c = item;
    for (size_t i = 0; i < c->count; i++) {
        long v;
        memcpy(&v, ACHAN_CHUNK_ITEM(c, i, sizeof(long)), sizeof v);
        t->sum += v;
    }
    t->answers += (int)c->count;
    t->chunks++;
    if ((int)c->count > t->largest_chunk)
        t->largest_chunk = (int)c->count;
}

/* Passes its input through, counting the ACHAN_TIMEOUTs it sees. */
typedef struct tap {
    achan_stream *in;
    int timeouts;
} tap;

static achan_status tap_poll(achan_context *cx, void *item, void *user) {
    tap *t = user;
    achan_status st = achan_stream_poll_next(t->in, cx, item);
    if (st == ACHAN_TIMEOUT)
        t->timeouts++;
    return st;
}

static void tap_drop(void *user) {
    achan_stream_drop(((tap *)user)->in); /* The tap owns its input, as adapters do. */
}

static void finished(achan_status st, void *output, void *user) {
    totals *t = user;
    if (st == ACHAN_OK)
        *t = *(totals *)output;
}

int main(void) {
    achan_mpsc_sender *jobs_tx, *req_tx;
    achan_mpsc_receiver *jobs_rx, *req_rx;
    achan_opts jo = {.item_size = sizeof(int), .capacity = 32};
    achan_opts ro = {.item_size = sizeof(request), .capacity = 0};
    if (achan_mpsc_new(&jo, &jobs_tx, &jobs_rx) != ACHAN_OK ||
        achan_mpsc_new(&ro, &req_tx, &req_rx) != ACHAN_OK)
        return 1;

    /* Build the pipeline; each step takes ownership of the stream before it. */
    achan_stream *s = achan_mpsc_receiver_stream(jobs_rx);
    if (achan_stream_filter(s, is_odd, NULL, NULL, &s) != ACHAN_OK ||
        achan_stream_map(s, sizeof(achan_future *), ask, req_tx, NULL, &s) != ACHAN_OK ||
        achan_stream_buffer_unordered(s, 4, sizeof(long), &s) != ACHAN_OK ||
        achan_stream_ready_chunks(s, 8, &s) != ACHAN_OK ||
        achan_stream_timeout(s, 500 * 1000 * 1000, &s) != ACHAN_OK)
        return 1;
    tap timeouts = {s, 0};
    if (achan_stream_poll_fn(s->item_size, tap_poll, &timeouts, tap_drop, &s) != ACHAN_OK)
        return 1;
    totals zero = {0, 0, 0, 0}, result = zero;
    achan_future *fold;
    if (achan_stream_fold(s, sizeof(totals), &zero, add_chunk, NULL, NULL, &fold) != ACHAN_OK)
        return 1;

    achan_executor *ex;
    if (achan_executor_new(&ex) != ACHAN_OK || achan_executor_spawn(ex, fold, finished, &result))
        return 1;

    pthread_t producers[PRODUCERS], service;
    producer_args pa[PRODUCERS];
    pthread_create(&service, NULL, serve, req_rx);
    for (int i = 0; i < PRODUCERS; i++) { /* All clones before any thread runs. */
        pa[i].jobs = i == 0 ? jobs_tx : achan_mpsc_sender_clone(jobs_tx);
        pa[i].first = 1 + i * JOBS_EACH;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&producers[i], NULL, produce, &pa[i]);

    uint64_t t0 = achan_monotonic_ns();
    achan_status st = achan_executor_run(ex, 10LL * 1000 * 1000 * 1000);
    double ms = (double)(achan_monotonic_ns() - t0) / 1e6;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    achan_mpsc_sender_drop(req_tx); /* The service ends once the pipeline is done. */
    pthread_join(service, NULL);
    achan_mpsc_receiver_drop(req_rx);
    achan_executor_drop(ex);

    long expect = 0;
    int odd = 0;
    for (long j = 1; j <= PRODUCERS * JOBS_EACH; j += 2, odd++)
        expect += j * j;
    printf("stream_pipeline: %d jobs from %d threads -> filter (odd) -> map (ask a service)\n"
           "  -> buffer_unordered(4) -> ready_chunks(8) -> fold, on the executor,\n"
           "  with timeout(500 ms) over the whole stream\n",
           PRODUCERS * JOBS_EACH, PRODUCERS);
    printf("  %d answers in %d chunks (largest %d), sum of squares %ld (%s), %d timeouts,"
           " %.1f ms, run: %s\n",
           result.answers, result.chunks, result.largest_chunk, result.sum,
           result.sum == expect ? "correct" : "WRONG", timeouts.timeouts, ms, achan_status_str(st));
    return st == ACHAN_OK && result.answers == odd && result.sum == expect ? 0 : 1;
}
