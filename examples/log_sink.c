/* log_sink.c - an unbounded mpsc as a logging queue: logging never waits.
 *
 * Worker threads log records through an unbounded mpsc channel. A send on an
 * unbounded channel never waits for the consumer (the queue grows instead),
 * so a slow log writer never stalls a worker. One logger reads the receiver
 * as a stream of batches of whatever is ready (achan_stream_ready_chunks,
 * which drains the channel with achan_mpsc_poll_recv_many) and "writes"
 * each batch. When the last worker drops its sender, the stream ends after
 * the last record.
 *
 *     cc log_sink.c $(pkg-config --cflags --libs achan) -o log_sink
 */
#include <achan/achan.h>

#include <pthread.h>
#include <stdio.h>

#define WORKERS 4
#define RECORDS_EACH 20000
#define BATCH 64

struct record {
    unsigned worker, seq;
    int level;
};

struct worker {
    unsigned id;
    achan_mpsc_sender *log;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    for (unsigned i = 0; i < RECORDS_EACH; i++) {
        struct record r = {w->id, i, (int)(i % 3)};
        /* Unbounded: ACHAN_OK, ACHAN_CLOSED (the logger is gone) or
         * ACHAN_NOMEM (no memory for the queue to grow); never ACHAN_FULL. */
        achan_status st = achan_mpsc_try_send(w->log, &r);
        if (st != ACHAN_OK) {
            fprintf(stderr, "worker %u: %s\n", w->id, achan_status_str(st));
            break;
        }
    }
    achan_mpsc_sender_drop(w->log); /* The last drop ends the logger's stream. */
    return NULL;
}

struct writer {
    unsigned long records, batches, largest;
    unsigned next[WORKERS]; /* The next sequence number expected per worker. */
    int out_of_order;
};

/* for_each callback: one item is one batch (an achan_chunk). */
static void write_batch(const void *item, void *user) {
    struct writer *wr = user;
    const achan_chunk *batch = item;
    for (size_t i = 0; i < batch->count; i++) {
        const struct record *r = ACHAN_CHUNK_ITEM(batch, i, sizeof *r);
        if (r->seq != wr->next[r->worker]++)
            wr->out_of_order = 1;
    }
    wr->records += batch->count;
    wr->batches++;
    if (batch->count > wr->largest)
        wr->largest = batch->count;
}

int main(void) {
    achan_opts o = {.item_size = sizeof(struct record), .capacity = 0}; /* 0: unbounded */
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        return 1;

    /* One sender per thread, all cloned before any thread can drop tx. */
    struct worker ws[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        ws[i].id = i;
        ws[i].log = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        if (!ws[i].log)
            return 1;
    }
    pthread_t threads[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++)
        if (pthread_create(&threads[i], NULL, worker_main, &ws[i]) != 0)
            return 1;

    /* The logger: the receiver as a stream, then as a stream of batches. The
     * adapter owns the receiver from here on. */
    achan_stream *s = achan_mpsc_receiver_stream(rx);
    if (achan_stream_ready_chunks(s, BATCH, &s) != ACHAN_OK)
        return 1;
    struct writer wr = {0};
    achan_status st = achan_stream_for_each_blocking(s, write_batch, &wr, -1);
    achan_stream_drop(s); /* The adapter, and the receiver it owns. */

    for (unsigned i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    printf("log_sink: %s; %lu records in %lu batches (largest %lu, at most %d)\n",
           achan_status_str(st), wr.records, wr.batches, wr.largest, BATCH);
    printf("  per-worker order kept: %s\n", wr.out_of_order ? "NO" : "yes");
    return st == ACHAN_OK && wr.records == (unsigned long)WORKERS * RECORDS_EACH && !wr.out_of_order
               ? 0
               : 1;
}
