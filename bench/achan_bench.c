/* achan_bench - achan's own benchmark: workloads of ../shared/peers run with
 * achan and with a hand-written mutex+condvar queue in the same process, so
 * the ratio comes from one run on one machine state.
 *
 *   achan_bench [--reps N] [--scale S] [workload...]
 *
 * Workloads: w1 (spsc: 1 producer -> 1 consumer, capacity 1024, 10M u64) and
 * w2 (mpsc: 4 producers -> 1 consumer, capacity 1024, 10M u64 in all).
 * Prints TSV: workload, implementation, median ns per message over the
 * repetitions, min, max, messages, and achan's median as a ratio of the
 * baseline's. Exits 2 if any run loses or duplicates a message.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achan/achan.h"
#include "mutex_queue.h"

#define CAP 1024
#define MAX_REPS 64

typedef struct {
    const char *name;
    int producers;
    uint64_t count;
} workload;

static const workload workloads[] = {
    {"w1_spsc", 1, 10000000},
    {"w2_mpsc", 4, 10000000},
};

static void fail(const char *what) {
    fprintf(stderr, "achan_bench: %s\n", what);
    exit(2);
}

/* ---- achan ---- */

typedef struct {
    achan_mpsc_sender *tx;
    uint64_t from, to;
} achan_producer;

static void *achan_produce(void *arg) {
    achan_producer *p = arg;
    for (uint64_t v = p->from; v < p->to; v++)
        if (achan_mpsc_send_blocking(p->tx, &v, -1) != ACHAN_OK)
            fail("achan send failed");
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

static double run_achan(int producers, uint64_t n) {
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    achan_opts o = {.item_size = sizeof(uint64_t), .capacity = CAP};
    if (achan_mpsc_new(&o, &tx, &rx) != ACHAN_OK)
        fail("achan_mpsc_new");
    achan_producer ps[8];
    pthread_t ts[8];
    uint64_t t0 = achan_monotonic_ns();
    for (int i = 0; i < producers; i++) { /* All clones before any thread runs. */
        ps[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        ps[i].from = n / (uint64_t)producers * (uint64_t)i;
        ps[i].to = i == producers - 1 ? n : n / (uint64_t)producers * (uint64_t)(i + 1);
    }
    for (int i = 0; i < producers; i++)
        pthread_create(&ts[i], NULL, achan_produce, &ps[i]);
    uint64_t v, sum = 0, got = 0;
    while (achan_mpsc_recv_blocking(rx, &v, -1) == ACHAN_OK) {
        sum += v;
        got++;
    }
    for (int i = 0; i < producers; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = achan_monotonic_ns() - t0;
    achan_mpsc_receiver_drop(rx);
    if (got != n || sum != n * (n - 1) / 2)
        fail("achan: checksum mismatch");
    return (double)dt / (double)n;
}

/* ---- mutex+condvar ---- */

typedef struct {
    mutex_queue *q;
    uint64_t from, to;
} mutex_producer;

static void *mutex_produce(void *arg) {
    mutex_producer *p = arg;
    for (uint64_t v = p->from; v < p->to; v++)
        mutex_queue_push(p->q, v);
    return NULL;
}

static double run_mutex(int producers, uint64_t n) {
    mutex_queue *q = mutex_queue_new(CAP);
    mutex_producer ps[8];
    pthread_t ts[8];
    uint64_t t0 = achan_monotonic_ns();
    for (int i = 0; i < producers; i++) {
        ps[i].q = q;
        ps[i].from = n / (uint64_t)producers * (uint64_t)i;
        ps[i].to = i == producers - 1 ? n : n / (uint64_t)producers * (uint64_t)(i + 1);
        pthread_create(&ts[i], NULL, mutex_produce, &ps[i]);
    }
    uint64_t v, sum = 0, got = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!mutex_queue_pop(q, &v))
            break;
        sum += v;
        got++;
    }
    for (int i = 0; i < producers; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = achan_monotonic_ns() - t0;
    mutex_queue_free(q);
    if (got != n || sum != n * (n - 1) / 2)
        fail("mutex: checksum mismatch");
    return (double)dt / (double)n;
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int reps = 3;
    uint64_t scale = 1;
    const char *only[8];
    int nonly = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            scale = strtoull(argv[++i], NULL, 10);
        else if (nonly < 8)
            only[nonly++] = argv[i];
    }
    if (reps < 1 || reps > MAX_REPS || scale < 1) {
        fprintf(stderr, "usage: achan_bench [--reps 1..%d] [--scale S] [w1 w2]\n", MAX_REPS);
        return 64;
    }
    printf("workload\timpl\tmedian_ns_per_msg\tmin\tmax\tmessages\tratio_vs_mutex\n");
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        const workload *wl = &workloads[w];
        bool wanted = nonly == 0;
        for (int i = 0; i < nonly; i++)
            wanted |= !strncmp(wl->name, only[i], strlen(only[i]));
        if (!wanted)
            continue;
        uint64_t n = wl->count / scale;
        double a[MAX_REPS], m[MAX_REPS];
        for (int r = 0; r < reps; r++) { /* Interleaved, to share machine noise. */
            a[r] = run_achan(wl->producers, n);
            m[r] = run_mutex(wl->producers, n);
        }
        double am = median(a, reps), mm = median(m, reps);
        printf("%s\tachan\t%.2f\t%.2f\t%.2f\t%" PRIu64 "\t%.3f\n", wl->name, am, a[0], a[reps - 1],
               n, am / mm);
        printf("%s\tmutex+condvar\t%.2f\t%.2f\t%.2f\t%" PRIu64 "\t1.000\n", wl->name, mm, m[0],
               m[reps - 1], n);
        fflush(stdout);
    }
    return 0;
}
