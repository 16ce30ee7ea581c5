/* config_reload.c - a configuration reloaded at run time through a watch.
 *
 * The main thread owns the configuration and "reloads" it a few times
 * (achan_watch_send for a whole new config, achan_watch_send_modify to
 * change one field in place). Worker threads each hold a receiver: they wait
 * for a change, copy the latest configuration and react to it. A worker that
 * falls behind skips straight to the newest configuration, which is what a
 * configuration reader wants. When the main thread drops the sender, every
 * worker sees the last configuration, then ACHAN_CLOSED, and exits.
 *
 *     cc config_reload.c $(pkg-config --cflags --libs achan) -o config_reload
 */
#define _POSIX_C_SOURCE 200809L
#include <achan/achan.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS 3

struct config {
    unsigned generation; /* Bumped by every reload. */
    unsigned threads;
    unsigned timeout_ms;
    char log_level[16];
};

struct worker {
    int id;
    achan_watch_receiver *rx;
    unsigned applied; /* How many configurations this worker applied. */
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct config cfg;
    /* The configuration current at start counts as seen: apply it first. */
    achan_watch_borrow_and_update(w->rx, &cfg);
    printf("worker %d: starting with generation %u (threads=%u, timeout=%ums, log=%s)\n", w->id,
           cfg.generation, cfg.threads, cfg.timeout_ms, cfg.log_level);
    achan_status st;
    while ((st = achan_watch_changed_blocking(w->rx, -1)) == ACHAN_OK) {
        achan_watch_borrow_and_update(w->rx, &cfg);
        w->applied++;
        printf("worker %d: reloaded generation %u (threads=%u, timeout=%ums, log=%s)\n", w->id,
               cfg.generation, cfg.threads, cfg.timeout_ms, cfg.log_level);
    }
    printf("worker %d: configuration source gone (%s), stopping at generation %u\n", w->id,
           achan_status_str(st), cfg.generation);
    achan_watch_receiver_drop(w->rx);
    return NULL;
}

static void pause_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* send_modify callback: raise the log level in place, keep the rest. */
static void set_debug(void *value, void *user) {
    struct config *cfg = value;
    (void)user;
    cfg->generation++;
    strcpy(cfg->log_level, "debug");
}

int main(void) {
    struct config cfg = {.generation = 1, .threads = 4, .timeout_ms = 500, .log_level = "info"};
    achan_opts o = {.item_size = sizeof cfg};
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    if (achan_watch_new(&o, &cfg, &tx, &rx) != ACHAN_OK) {
        fprintf(stderr, "cannot create the watch channel\n");
        return 1;
    }

    struct worker workers[WORKERS];
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i].id = i;
        workers[i].rx = i == 0 ? rx : achan_watch_subscribe(tx);
        workers[i].applied = 0;
        if (!workers[i].rx || pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "cannot start worker %d\n", i);
            return 1;
        }
    }

    /* Reload a few times, giving the workers time to react to each. */
    for (unsigned gen = 2; gen <= 4; gen++) {
        pause_ms(20);
        cfg.generation = gen;
        cfg.threads = 4 * gen;
        cfg.timeout_ms = 500 / gen;
        printf("main: reloading generation %u\n", gen);
        if (achan_watch_send(tx, &cfg) != ACHAN_OK) {
            fprintf(stderr, "no worker is listening\n");
            return 1;
        }
    }
    pause_ms(20);
    printf("main: switching the log level to debug in place\n");
    achan_watch_send_modify(tx, set_debug, NULL);
    pause_ms(20);

    printf("main: shutting down (%zu workers listening)\n", achan_watch_receiver_count(tx));
    achan_watch_sender_drop(tx);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        printf("main: worker %d applied %u reloads\n", i, workers[i].applied);
    }
    printf("main: all workers stopped\n");
    return 0;
}
