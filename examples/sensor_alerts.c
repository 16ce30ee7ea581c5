/* sensor_alerts.c - a stream pipeline on the executor: adapters, a future
 * written by hand around achan_select, and timers.
 *
 * A sensor thread sends a temperature reading every half millisecond (tenths
 * of a degree; -1 for a failed read) over a bounded mpsc. On the executor, one task runs the
 * pipeline readings -> filter (drop failed reads) -> map (to whole degrees)
 * -> chunks of 8 -> for_each, which prints each chunk's average and sends an
 * alert over a second mpsc for every reading above a threshold. A second
 * task, a future written by hand, waits on two streams at once with
 * achan_select: the alerts, and a ticker (achan_stream_repeat_with through
 * achan_stream_throttle, which sleeps on the executor's timer heap). It
 * reports each alert and ends when the alert stream ends, which happens when
 * the pipeline's done callback drops the alert sender.
 *
 *     cc sensor_alerts.c $(pkg-config --cflags --libs achan) -o sensor_alerts
 */
#define _POSIX_C_SOURCE 200809L
#include <achan/achan.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define READINGS 80
#define CHUNK 8
#define THRESHOLD 30          /* degrees */
#define TICK_NS (2 * 1000000) /* the ticker's period: 2 ms */

/* Reading i, in tenths of a degree: 15.0 to 34.9, or -1 (a failed read). */
static int reading(int i) {
    return i % 17 == 0 ? -1 : 150 + (i * 37) % 200;
}

static void *sensor(void *arg) {
    achan_mpsc_sender *tx = arg;
    for (int i = 0; i < READINGS; i++) {
        int tenths = reading(i);
        if (achan_mpsc_send_blocking(tx, &tenths, -1) != ACHAN_OK)
            break;
        struct timespec pause = {0, 500000};
        nanosleep(&pause, NULL);
    }
    achan_mpsc_sender_drop(tx); /* The pipeline ends after the last reading. */
    return NULL;
}

/* ---- the pipeline task ---- */

static bool valid(const void *item, void *user) {
    (void)user;
    return *(const int *)item >= 0;
}

static void to_degrees(const void *in, void *out, void *user) {
    (void)user;
    *(int *)out = *(const int *)in / 10;
}

struct stats {
    achan_mpsc_sender *alerts;
    int chunks, readings, alerts_sent;
};

static void per_chunk(const void *item, void *user) {
    struct stats *st = user;
    const achan_chunk *c = item;
    long sum = 0;
    for (size_t i = 0; i < c->count; i++) {
        int degrees = *(const int *)ACHAN_CHUNK_ITEM(c, i, sizeof(int));
        sum += degrees;
        if (degrees > THRESHOLD && achan_mpsc_try_send(st->alerts, &degrees) == ACHAN_OK)
            st->alerts_sent++;
    }
    st->chunks++;
    st->readings += (int)c->count;
    printf("pipeline: chunk %d, %zu readings, average %ld degrees\n", st->chunks, c->count,
           sum / (long)c->count);
}

/* Runs on the executor's thread once the pipeline's future completed. */
static void pipeline_done(achan_status s, void *output, void *user) {
    struct stats *st = user;
    (void)output;
    printf("pipeline: %s after %d readings\n", achan_status_str(s), st->readings);
    achan_mpsc_sender_drop(st->alerts); /* Ends the monitor's alert stream. */
    st->alerts = NULL;
}

/* ---- the monitor task: a future written by hand ---- */

struct monitor_result {
    int alerts, ticks;
};

typedef struct monitor {
    achan_future future; /* First: a monitor is its future. */
    achan_select *sel;   /* Borrows ins; ins belong to the monitor. */
    achan_stream *ins[2];
    struct monitor_result r;
} monitor;

static achan_status monitor_poll(achan_future *f, achan_context *cx, void *out) {
    monitor *m = (monitor *)f;
    for (;;) {
        union {
            int degrees;
            unsigned tick;
        } item;
        size_t which;
        achan_status st = achan_select_poll(m->sel, cx, &item, &which);
        if (st == ACHAN_PENDING)
            return ACHAN_PENDING; /* Every open stream holds cx's waker now. */
        if (which == 0 && st == ACHAN_CLOSED) {
            *(struct monitor_result *)out = m->r; /* No more alerts: done. */
            return ACHAN_OK;
        }
        if (which == 0 && st == ACHAN_OK) {
            m->r.alerts++;
            printf("monitor: alert, %d degrees (tick %d)\n", item.degrees, m->r.ticks);
        } else if (which == 1 && st == ACHAN_OK) {
            m->r.ticks++;
        }
    }
}

static void monitor_drop(achan_future *f) {
    monitor *m = (monitor *)f;
    achan_select_drop(m->sel); /* The select first: it borrows the streams. */
    achan_stream_drop(m->ins[0]);
    achan_stream_drop(m->ins[1]);
    free(m);
}

static const achan_future_vtbl monitor_vtbl = {monitor_poll, monitor_drop};

static void next_tick(void *item, void *user) {
    *(unsigned *)item = (*(unsigned *)user)++;
}

static void monitor_done(achan_status s, void *output, void *user) {
    struct monitor_result *r = user;
    if (s == ACHAN_OK)
        *r = *(struct monitor_result *)output;
    printf("monitor: %s, %d alerts over %d ticks\n", achan_status_str(s), r->alerts, r->ticks);
}

int main(void) {
    achan_opts ro = {.item_size = sizeof(int), .capacity = 16}; /* readings: bounded */
    achan_opts ao = {.item_size = sizeof(int)};                 /* alerts: unbounded */
    achan_mpsc_sender *rtx, *atx;
    achan_mpsc_receiver *rrx, *arx;
    if (achan_mpsc_new(&ro, &rtx, &rrx) != ACHAN_OK || achan_mpsc_new(&ao, &atx, &arx) != ACHAN_OK)
        return 1;

    /* The pipeline: each adapter takes ownership of the stream before it. */
    struct stats stats = {atx, 0, 0, 0};
    achan_stream *s = achan_mpsc_receiver_stream(rrx);
    achan_future *pipeline;
    if (achan_stream_filter(s, valid, NULL, NULL, &s) != ACHAN_OK ||
        achan_stream_map(s, sizeof(int), to_degrees, NULL, NULL, &s) != ACHAN_OK ||
        achan_stream_chunks(s, CHUNK, &s) != ACHAN_OK ||
        achan_stream_for_each(s, per_chunk, &stats, NULL, &pipeline) != ACHAN_OK)
        return 1;

    /* The monitor: alerts and a ticker, selected fairly. */
    static unsigned tick_counter;
    monitor *m = calloc(1, sizeof *m);
    if (!m)
        return 1;
    m->future.vtbl = &monitor_vtbl;
    m->future.output_size = sizeof(struct monitor_result);
    m->ins[0] = achan_mpsc_receiver_stream(arx);
    if (achan_stream_repeat_with(sizeof(unsigned), next_tick, &tick_counter, NULL, &m->ins[1]) !=
            ACHAN_OK ||
        achan_stream_throttle(m->ins[1], TICK_NS, &m->ins[1]) != ACHAN_OK ||
        achan_select_new(m->ins, 2, &m->sel) != ACHAN_OK)
        return 1;

    achan_executor *ex;
    struct monitor_result result = {0, 0};
    if (achan_executor_new(&ex) != ACHAN_OK ||
        achan_executor_spawn(ex, pipeline, pipeline_done, &stats) != ACHAN_OK ||
        achan_executor_spawn(ex, &m->future, monitor_done, &result) != ACHAN_OK)
        return 1;

    pthread_t t;
    if (pthread_create(&t, NULL, sensor, rtx) != 0)
        return 1;
    achan_status st = achan_executor_run(ex, 10 * 1000000000LL); /* Both tasks, 10 s at most. */
    pthread_join(t, NULL);
    achan_executor_drop(ex);

    int expected = 0;
    for (int i = 0; i < READINGS; i++)
        expected += reading(i) >= 0 && reading(i) / 10 > THRESHOLD;
    printf("sensor_alerts: run %s; %d alerts sent, %d seen, %d expected\n", achan_status_str(st),
           stats.alerts_sent, result.alerts, expected);
    return st == ACHAN_OK && stats.alerts_sent == expected && result.alerts == expected ? 0 : 1;
}
