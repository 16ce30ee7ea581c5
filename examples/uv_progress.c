/* uv_progress.c - a libuv loop that shows worker progress (a watch channel)
 * and prints results (an mpsc channel), with no thread of its own per
 * channel.
 *
 * Three worker threads process jobs. After each job a worker bumps the shared
 * progress value with achan_watch_send_modify and sends the job's result over
 * an mpsc. The loop runs two adapters: the watch receiver's stream redraws a
 * progress bar with the latest value (intermediate values may be skipped:
 * that is what a watch is for), and the mpsc receiver's stream prints
 * results. When the last worker is done the results stream ends; its on_end
 * drops the watch sender, the progress stream ends too, and uv_run returns.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "achan/uv.h"

#define WORKERS 3
#define JOBS_EACH 20
#define TOTAL (WORKERS * JOBS_EACH)

typedef struct progress {
    int done;
} progress;

typedef struct result {
    int worker, job, answer;
} result;

typedef struct worker_args {
    int id;
    achan_mpsc_sender *results;
    achan_watch_sender *progress; /* Shared: send_modify is safe on it. */
} worker_args;

static void bump(void *value, void *u) {
    (void)u;
    ((progress *)value)->done++;
}

static void *worker(void *arg) {
    worker_args *w = arg;
    for (int j = 0; j < JOBS_EACH; j++) {
        struct timespec ts = {0, 2 * 1000 * 1000}; /* "Work". */
        nanosleep(&ts, NULL);
        result r = {w->id, j, (w->id + 1) * 1000 + j * j};
        achan_mpsc_send_blocking(w->results, &r, -1);
        achan_watch_send_modify(w->progress, bump, NULL);
    }
    achan_mpsc_sender_drop(w->results);
    return NULL;
}

typedef struct app {
    achan_watch_sender *progress_tx;
    int printed, redraws, last_done;
} app;

static void draw(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    app *a = user;
    if (st != ACHAN_OK)
        return;
    int done = ((progress *)item)->done, width = 30, filled = done * width / TOTAL;
    printf("\r  [%.*s%.*s] %3d%%", filled, "##############################", width - filled,
           "..............................", done * 100 / TOTAL);
    fflush(stdout);
    a->redraws++;
    a->last_done = done;
}

static void progress_ended(achan_uv_stream *h, void *user) {
    (void)h;
    (void)user;
    printf("\n");
}

static void print_result(achan_uv_stream *h, achan_status st, void *item, void *user) {
    (void)h;
    app *a = user;
    result *r = item;
    if (st == ACHAN_OK && r->job == JOBS_EACH - 1) /* One line per worker keeps it readable. */
        printf("\n  worker %d finished; last answer %d", r->worker, r->answer);
    a->printed += st == ACHAN_OK;
}

static void results_ended(achan_uv_stream *h, void *user) {
    (void)h;
    app *a = user;
    achan_watch_sender_drop(a->progress_tx); /* Ends the progress stream too. */
    a->progress_tx = NULL;
}

int main(void) {
    uv_loop_t *loop = uv_default_loop();
    achan_mpsc_sender *rtx;
    achan_mpsc_receiver *rrx;
    achan_watch_sender *ptx;
    achan_watch_receiver *prx;
    achan_opts ro = {.item_size = sizeof(result), .capacity = 16};
    achan_opts po = {.item_size = sizeof(progress)};
    progress zero = {0};
    if (achan_mpsc_new(&ro, &rtx, &rrx) != ACHAN_OK ||
        achan_watch_new(&po, &zero, &ptx, &prx) != ACHAN_OK)
        return 1;

    app a = {ptx, 0, 0, 0};
    achan_uv_stream *hp, *hr;
    printf("uv_progress: %d workers x %d jobs on libuv %s\n", WORKERS, JOBS_EACH,
           uv_version_string());
    if (achan_uv_stream_start(loop, achan_watch_receiver_stream(prx), draw, progress_ended, &a,
                              &hp) != ACHAN_OK ||
        achan_uv_stream_start(loop, achan_mpsc_receiver_stream(rrx), print_result, results_ended,
                              &a, &hr) != ACHAN_OK)
        return 1;

    worker_args wa[WORKERS];
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) /* All clones before any worker runs. */
        wa[i] = (worker_args){i, i == 0 ? rtx : achan_mpsc_sender_clone(rtx), ptx};
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&threads[i], NULL, worker, &wa[i]);
    uv_run(loop, UV_RUN_DEFAULT); /* Until both streams ended. */
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    uv_loop_close(loop);
    printf("  %d results printed, progress redrawn %d times (last %d of %d)\n", a.printed,
           a.redraws, a.last_done, TOTAL);
    return a.printed == TOTAL && a.last_done == TOTAL ? 0 : 1;
}
