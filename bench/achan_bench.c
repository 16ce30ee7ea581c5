/* achan_bench - achan's own benchmark: throughput cases, allocations per
 * message and memory held, in one TSV table.
 *
 *   achan_bench [--reps N] [--scale S] [--list] [case...]
 *
 * A case argument is a glob (fnmatch) or a prefix of case names; none runs
 * every case. `--list` prints the case names and their message counts.
 *
 *   w1_spsc, w2_mpsc   ../shared/peers' W1 and W2 (u64 items, capacity 1024,
 *                      10M messages from 1 or 4 producer threads), run with
 *                      achan's _blocking calls and with the hand-written
 *                      mutex+condvar queue of mutex_queue.h, interleaved in
 *                      one process so that the ratio comes from one machine
 *                      state.
 *   mpsc_<path>_<cap>_i<item>_p<producers>
 *                      the matrix: path `blocking` (send_blocking /
 *                      recv_blocking) or `poll` (poll_send / poll_recv with
 *                      the thread waker, achan_thread_park on PENDING);
 *                      capacity 1, 16, 1024 or `unb` (unbounded); items of 8,
 *                      64 or 512 bytes; 1, 2 or 4 producer threads -> the
 *                      consumer on the main thread.
 *   mem_empty          bytes achan_*_new allocated for an empty channel of
 *                      each kind (item_size 8), handles included.
 *   mem_burst          an unbounded mpsc (item_size 8): bytes live when
 *                      empty, at the peak of a 1M-message burst (try_send
 *                      from one thread, nothing received), and after the
 *                      burst was drained (try_recv).
 *
 * Every channel allocates through a counting achan_allocator, which also
 * checks that each channel gives back every byte it took. Throughput cases
 * count the allocations between the start of the timed region (channel and
 * sender clones made) and its end, divided by the messages: zero is expected
 * for bounded channels. Bytes are what achan asked the allocator for, not
 * what malloc used to serve it.
 *
 * Throughput repetitions are interleaved (repetition 1 of every case, then
 * repetition 2, ...) so that a noisy spell of the machine spreads over all
 * cases. Time is wall clock from before the first thread is created to after
 * the last is joined, divided by the messages. --scale S divides every
 * message count by S (S may be fractional: 0.5 doubles them).
 *
 * Output, one row per case with a header line:
 *   group impl path capacity item_size producers messages unit median min max
 *   allocs_per_msg note
 * where median/min/max are over the repetitions (ns per message) or a single
 * measurement (bytes), and allocs_per_msg is the largest over the
 * repetitions. Exits 2 if a message is lost, duplicated or reordered, or a
 * channel leaks.
 */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achan/achan.h"
#include "mutex_queue.h"

#define MAX_REPS 64
#define MAX_PRODUCERS 4
#define MAX_ITEM 512
#define MAX_CASES 96
/* Items carry the producer's id in the top byte and its sequence number below. */
#define ID_SHIFT 56
#define SEQ_MASK ((UINT64_C(1) << ID_SHIFT) - 1)

static void fail(const char *what) {
    fprintf(stderr, "achan_bench: %s\n", what);
    exit(2);
}

static void must(achan_status st, const char *what) {
    if (st != ACHAN_OK) {
        fprintf(stderr, "achan_bench: %s: %s\n", what, achan_status_str(st));
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* The counting allocator.                                                   */

typedef struct counting {
    atomic_size_t allocs, frees, live, peak;
} counting;

static void *count_alloc(void *ctx, size_t size, size_t align) {
    counting *c = ctx;
    void *p;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
        return NULL;
    atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
    size_t live = atomic_fetch_add_explicit(&c->live, size, memory_order_relaxed) + size;
    size_t peak = atomic_load_explicit(&c->peak, memory_order_relaxed);
    while (live > peak && !atomic_compare_exchange_weak_explicit(
                              &c->peak, &peak, live, memory_order_relaxed, memory_order_relaxed))
        ;
    return p;
}

static void count_free(void *ctx, void *p, size_t size) {
    counting *c = ctx;
    if (!p)
        return;
    atomic_fetch_add_explicit(&c->frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->live, size, memory_order_relaxed);
    free(p);
}

static achan_allocator counting_allocator(counting *c) {
    memset(c, 0, sizeof *c);
    return (achan_allocator){count_alloc, count_free, c};
}

static size_t live_bytes(counting *c) {
    return atomic_load(&c->live);
}
static size_t alloc_count(counting *c) {
    return atomic_load(&c->allocs);
}

static void check_no_leak(counting *c, const char *who) {
    if (atomic_load(&c->live) != 0 || atomic_load(&c->allocs) != atomic_load(&c->frees)) {
        fprintf(stderr, "achan_bench: %s leaked %zu bytes\n", who, atomic_load(&c->live));
        exit(2);
    }
}

/* ------------------------------------------------------------------------ */
/* Throughput cases.                                                         */

typedef struct tcase {
    char name[48];
    const char *group; /* "w1_spsc", "w2_mpsc" or "mpsc" (the matrix). */
    bool poll;         /* The poll path, else the _blocking calls. */
    size_t cap;        /* 0: unbounded. */
    size_t item_size;
    unsigned producers;
    uint64_t n;
    bool with_mutex; /* Also run the mutex+condvar queue (u64 items only). */
    double ns[MAX_REPS], mutex_ns[MAX_REPS];
    double allocs_per_msg; /* The largest over the repetitions. */
} tcase;

/* Splits n messages over the producers: producer i sends counts[i]. */
static void split(const tcase *c, uint64_t *counts) {
    for (unsigned i = 0; i < c->producers; i++)
        counts[i] = c->n / c->producers + (i < c->n % c->producers ? 1 : 0);
}

/* The consumer's check: every producer's sequence arrives whole and in order. */
typedef struct seq_check {
    uint64_t next[MAX_PRODUCERS];
    unsigned producers;
} seq_check;

static void seq_see(seq_check *s, uint64_t word) {
    uint64_t id = word >> ID_SHIFT;
    if (id >= s->producers || (word & SEQ_MASK) != s->next[id])
        fail("a message was lost, duplicated or reordered");
    s->next[id]++;
}

static void seq_done(const seq_check *s, const uint64_t *counts) {
    for (unsigned i = 0; i < s->producers; i++)
        if (s->next[i] != counts[i])
            fail("a producer's messages did not all arrive");
}

/* ---- achan ---- */

typedef struct achan_producer {
    achan_mpsc_sender *tx;
    const tcase *c;
    uint64_t id, count;
} achan_producer;

static void send_item(achan_mpsc_sender *tx, bool poll, achan_context *cx, const void *item) {
    achan_status st;
    if (!poll)
        st = achan_mpsc_send_blocking(tx, item, -1);
    else
        while ((st = achan_mpsc_poll_send(tx, cx, item)) == ACHAN_PENDING)
            achan_thread_park(-1);
    must(st, "send");
}

static achan_status recv_item(achan_mpsc_receiver *rx, bool poll, achan_context *cx, void *item) {
    if (!poll)
        return achan_mpsc_recv_blocking(rx, item, -1);
    achan_status st;
    while ((st = achan_mpsc_poll_recv(rx, cx, item)) == ACHAN_PENDING)
        achan_thread_park(-1);
    return st;
}

static void *achan_produce(void *arg) {
    achan_producer *p = arg;
    achan_waker w;
    must(achan_thread_waker(&w), "achan_thread_waker");
    achan_context cx = {&w};
    unsigned char item[MAX_ITEM] = {0};
    for (uint64_t s = 0; s < p->count; s++) {
        uint64_t word = p->id << ID_SHIFT | s;
        memcpy(item, &word, sizeof word);
        send_item(p->tx, p->c->poll, &cx, item);
    }
    achan_waker_drop(w);
    achan_mpsc_sender_drop(p->tx);
    return NULL;
}

static void achan_consume(achan_mpsc_receiver *rx, const tcase *c, const uint64_t *counts) {
    achan_waker w;
    must(achan_thread_waker(&w), "achan_thread_waker");
    achan_context cx = {&w};
    unsigned char item[MAX_ITEM];
    seq_check s = {.producers = c->producers};
    achan_status st;
    while ((st = recv_item(rx, c->poll, &cx, item)) == ACHAN_OK) {
        uint64_t word;
        memcpy(&word, item, sizeof word);
        seq_see(&s, word);
    }
    if (st != ACHAN_CLOSED)
        fail("receive did not end with ACHAN_CLOSED");
    seq_done(&s, counts);
    achan_waker_drop(w);
}

/* One repetition: returns ns per message, and the allocations per message
 * made inside the timed region in *allocs. */
static double run_achan(const tcase *c, double *allocs) {
    counting ca;
    achan_allocator a = counting_allocator(&ca);
    achan_opts o = {.item_size = c->item_size, .capacity = c->cap, .allocator = &a};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    must(achan_mpsc_new(&o, &tx, &rx), "achan_mpsc_new");
    achan_producer ps[MAX_PRODUCERS];
    pthread_t ts[MAX_PRODUCERS];
    uint64_t counts[MAX_PRODUCERS];
    split(c, counts);
    for (unsigned i = 0; i < c->producers; i++) {
        ps[i] = (achan_producer){i == 0 ? tx : achan_mpsc_sender_clone(tx), c, i, counts[i]};
        if (!ps[i].tx)
            fail("achan_mpsc_sender_clone");
    }
    size_t allocs0 = alloc_count(&ca);
    uint64_t t0 = achan_monotonic_ns();
    for (unsigned i = 0; i < c->producers; i++)
        if (pthread_create(&ts[i], NULL, achan_produce, &ps[i]) != 0)
            fail("pthread_create");
    achan_consume(rx, c, counts);
    for (unsigned i = 0; i < c->producers; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = achan_monotonic_ns() - t0;
    *allocs = (double)(alloc_count(&ca) - allocs0) / (double)c->n;
    achan_mpsc_receiver_drop(rx);
    check_no_leak(&ca, "mpsc");
    return (double)dt / (double)c->n;
}

/* ---- mutex+condvar ---- */

typedef struct mutex_producer {
    mutex_queue *q;
    uint64_t id, count;
} mutex_producer;

static void *mutex_produce(void *arg) {
    mutex_producer *p = arg;
    for (uint64_t s = 0; s < p->count; s++)
        mutex_queue_push(p->q, p->id << ID_SHIFT | s);
    return NULL;
}

static double run_mutex(const tcase *c) {
    mutex_queue *q = mutex_queue_new(c->cap);
    mutex_producer ps[MAX_PRODUCERS];
    pthread_t ts[MAX_PRODUCERS];
    uint64_t counts[MAX_PRODUCERS];
    split(c, counts);
    seq_check s = {.producers = c->producers};
    uint64_t t0 = achan_monotonic_ns();
    for (unsigned i = 0; i < c->producers; i++) {
        ps[i] = (mutex_producer){q, i, counts[i]};
        if (pthread_create(&ts[i], NULL, mutex_produce, &ps[i]) != 0)
            fail("pthread_create");
    }
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t word;
        if (!mutex_queue_pop(q, &word))
            fail("mutex queue closed early");
        seq_see(&s, word);
    }
    for (unsigned i = 0; i < c->producers; i++)
        pthread_join(ts[i], NULL);
    uint64_t dt = achan_monotonic_ns() - t0;
    mutex_queue_free(q);
    seq_done(&s, counts);
    return (double)dt / (double)c->n;
}

/* ---- the case table ---- */

static uint64_t scaled(uint64_t base, double scale) {
    double n = (double)base / scale;
    return n < 1 ? 1 : (uint64_t)n;
}

/* Default message counts of the matrix, the same for 1, 2 and 4 producers,
 * chosen so that the default run (3 repetitions) takes about a minute on the
 * 2-vCPU machine this was written on. Capacity 1 hands over every message
 * and, on the poll path with several producers, parks for most of them
 * (about 10 us each there), so it gets the fewest. */
static uint64_t matrix_count(size_t cap) {
    return cap == 1 ? 60000 : cap == 16 ? 1000000 : 2000000;
}

static size_t build_cases(tcase *cs, double scale) {
    static const size_t caps[] = {1, 16, 1024, 0};
    static const size_t items[] = {8, 64, 512};
    static const unsigned producers[] = {1, 2, 4};
    size_t n = 0;
    cs[n++] = (tcase){.name = "w1_spsc",
                      .group = "w1_spsc",
                      .cap = 1024,
                      .item_size = 8,
                      .producers = 1,
                      .n = scaled(10000000, scale),
                      .with_mutex = true};
    cs[n++] = (tcase){.name = "w2_mpsc",
                      .group = "w2_mpsc",
                      .cap = 1024,
                      .item_size = 8,
                      .producers = 4,
                      .n = scaled(10000000, scale),
                      .with_mutex = true};
    for (int poll = 0; poll <= 1; poll++)
        for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++)
            for (size_t ii = 0; ii < sizeof items / sizeof items[0]; ii++)
                for (size_t pi = 0; pi < sizeof producers / sizeof producers[0]; pi++) {
                    tcase *c = &cs[n++];
                    *c = (tcase){.group = "mpsc",
                                 .poll = poll,
                                 .cap = caps[ci],
                                 .item_size = items[ii],
                                 .producers = producers[pi],
                                 .n = scaled(matrix_count(caps[ci]), scale)};
                    char cap[24];
                    if (caps[ci])
                        snprintf(cap, sizeof cap, "cap%zu", caps[ci]);
                    else
                        snprintf(cap, sizeof cap, "unb");
                    snprintf(c->name, sizeof c->name, "mpsc_%s_%s_i%zu_p%u",
                             poll ? "poll" : "blocking", cap, items[ii], producers[pi]);
                }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Output.                                                                   */

typedef struct row {
    const char *group, *impl, *path;
    size_t cap; /* 0: unbounded; SIZE_MAX: not applicable. */
    size_t item_size;
    unsigned producers; /* 0: not applicable. */
    uint64_t messages;
    const char *unit;
    double median, min, max;
    double allocs_per_msg; /* < 0: not applicable. */
    const char *note;
} row;

static void print_header(void) {
    printf("group\timpl\tpath\tcapacity\titem_size\tproducers\tmessages\tunit\tmedian\tmin\tmax"
           "\tallocs_per_msg\tnote\n");
}

static void print_row(const row *r) {
    char cap[24] = "-", producers[16] = "-", allocs[32] = "-";
    if (r->cap == 0)
        snprintf(cap, sizeof cap, "unbounded");
    else if (r->cap != SIZE_MAX)
        snprintf(cap, sizeof cap, "%zu", r->cap);
    if (r->producers)
        snprintf(producers, sizeof producers, "%u", r->producers);
    if (r->allocs_per_msg >= 0)
        snprintf(allocs, sizeof allocs, "%.4f", r->allocs_per_msg);
    int prec = strcmp(r->unit, "bytes") ? 2 : 0;
    printf("%s\t%s\t%s\t%s\t%zu\t%s\t%" PRIu64 "\t%s\t%.*f\t%.*f\t%.*f\t%s\t%s\n", r->group,
           r->impl, r->path, cap, r->item_size, producers, r->messages, r->unit, prec, r->median,
           prec, r->min, prec, r->max, allocs, r->note && *r->note ? r->note : "-");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_tcase(tcase *c, int reps) {
    double am = median(c->ns, reps);
    row r = {.group = c->group,
             .impl = "achan",
             .path = c->poll ? "poll" : "blocking",
             .cap = c->cap,
             .item_size = c->item_size,
             .producers = c->producers,
             .messages = c->n,
             .unit = "ns/msg",
             .median = am,
             .min = c->ns[0],
             .max = c->ns[reps - 1],
             .allocs_per_msg = c->allocs_per_msg};
    if (!c->with_mutex) {
        print_row(&r);
        return;
    }
    double mm = median(c->mutex_ns, reps);
    char note[48];
    snprintf(note, sizeof note, "ratio_vs_mutex=%.3f", am / mm);
    r.note = note;
    print_row(&r);
    r = (row){.group = c->group,
              .impl = "mutex+condvar",
              .path = "blocking",
              .cap = c->cap,
              .item_size = c->item_size,
              .producers = c->producers,
              .messages = c->n,
              .unit = "ns/msg",
              .median = mm,
              .min = c->mutex_ns[0],
              .max = c->mutex_ns[reps - 1],
              .allocs_per_msg = -1,
              .note = "mutex_queue.h"};
    print_row(&r);
}

/* ------------------------------------------------------------------------ */
/* Memory: empty channels and the unbounded burst.                           */

static void bytes_row(const char *group, const char *impl, size_t cap, uint64_t messages,
                      size_t bytes, const char *note) {
    row r = {.group = group,
             .impl = impl,
             .path = "-",
             .cap = cap,
             .item_size = 8,
             .producers = 0,
             .messages = messages,
             .unit = "bytes",
             .median = (double)bytes,
             .min = (double)bytes,
             .max = (double)bytes,
             .allocs_per_msg = -1,
             .note = note};
    print_row(&r);
}

static void empty_row(const char *impl, size_t cap, counting *c) {
    char note[64];
    snprintf(note, sizeof note, "allocations=%zu, both handles included", alloc_count(c));
    bytes_row("mem_empty", impl, cap, 0, live_bytes(c), note);
}

static void mem_empty_mpsc(size_t cap) {
    counting c;
    achan_allocator a = counting_allocator(&c);
    achan_opts o = {.item_size = 8, .capacity = cap, .allocator = &a};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    must(achan_mpsc_new(&o, &tx, &rx), "achan_mpsc_new");
    empty_row(cap ? "mpsc_bounded" : "mpsc_unbounded", cap, &c);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    check_no_leak(&c, "mpsc");
}

static void mem_empty_oneshot(void) {
    counting c;
    achan_allocator a = counting_allocator(&c);
    achan_opts o = {.item_size = 8, .allocator = &a};
    achan_oneshot_sender *tx;
    achan_oneshot_receiver *rx;
    must(achan_oneshot_new(&o, &tx, &rx), "achan_oneshot_new");
    empty_row("oneshot", SIZE_MAX, &c);
    achan_oneshot_sender_drop(tx);
    achan_oneshot_receiver_drop(rx);
    check_no_leak(&c, "oneshot");
}

static void mem_empty_watch(void) {
    counting c;
    achan_allocator a = counting_allocator(&c);
    achan_opts o = {.item_size = 8, .allocator = &a};
    uint64_t initial = 0;
    achan_watch_sender *tx;
    achan_watch_receiver *rx;
    must(achan_watch_new(&o, &initial, &tx, &rx), "achan_watch_new");
    empty_row("watch", SIZE_MAX, &c);
    achan_watch_sender_drop(tx);
    achan_watch_receiver_drop(rx);
    check_no_leak(&c, "watch");
}

static void mem_empty_broadcast(void) {
    counting c;
    achan_allocator a = counting_allocator(&c);
    achan_opts o = {.item_size = 8, .capacity = 1024, .allocator = &a};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx;
    must(achan_broadcast_new(&o, &tx, &rx), "achan_broadcast_new");
    empty_row("broadcast", 1024, &c);
    achan_broadcast_sender_drop(tx);
    achan_broadcast_receiver_drop(rx);
    check_no_leak(&c, "broadcast");
}

static void mem_empty(void) {
    mem_empty_mpsc(1024);
    mem_empty_mpsc(0);
    mem_empty_oneshot();
    mem_empty_watch();
    mem_empty_broadcast();
}

static void mem_burst(uint64_t n) {
    counting c;
    achan_allocator a = counting_allocator(&c);
    achan_opts o = {.item_size = 8, .allocator = &a};
    achan_mpsc_sender *tx;
    achan_mpsc_receiver *rx;
    must(achan_mpsc_new(&o, &tx, &rx), "achan_mpsc_new");
    size_t empty = live_bytes(&c), allocs0 = alloc_count(&c);
    for (uint64_t v = 0; v < n; v++)
        must(achan_mpsc_try_send(tx, &v), "try_send");
    size_t peak = atomic_load(&c.peak), allocs1 = alloc_count(&c);
    for (uint64_t v = 0; v < n; v++) {
        uint64_t got;
        must(achan_mpsc_try_recv(rx, &got), "try_recv");
        if (got != v)
            fail("burst: wrong item");
    }
    if (achan_mpsc_try_recv(rx, &(uint64_t){0}) != ACHAN_EMPTY)
        fail("burst: not drained");
    size_t drained = live_bytes(&c);
    char note[96];
    bytes_row("mem_burst_empty", "mpsc_unbounded", 0, 0, empty, "before the burst");
    snprintf(note, sizeof note, "allocations_in_burst=%zu", allocs1 - allocs0);
    bytes_row("mem_burst_peak", "mpsc_unbounded", 0, n, peak, note);
    snprintf(note, sizeof note, "after draining; frees_so_far=%zu", atomic_load(&c.frees));
    bytes_row("mem_burst_drained", "mpsc_unbounded", 0, n, drained, note);
    achan_mpsc_sender_drop(tx);
    achan_mpsc_receiver_drop(rx);
    check_no_leak(&c, "mpsc (burst)");
}

/* ------------------------------------------------------------------------ */
/* Driver.                                                                   */

typedef struct args {
    int reps;
    double scale;
    bool list;
    const char *only[16];
    int nonly;
} args;

static bool wanted(const args *a, const char *name) {
    if (a->nonly == 0)
        return true;
    for (int i = 0; i < a->nonly; i++)
        if (fnmatch(a->only[i], name, 0) == 0 || !strncmp(name, a->only[i], strlen(a->only[i])))
            return true;
    return false;
}

static int usage(void) {
    fprintf(stderr, "usage: achan_bench [--reps 1..%d] [--scale S] [--list] [case-glob...]\n",
            MAX_REPS);
    return 64;
}

static bool parse(int argc, char **argv, args *a) {
    *a = (args){.reps = 3, .scale = 1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            a->reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            a->scale = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--list"))
            a->list = true;
        else if (argv[i][0] == '-' || a->nonly == 16)
            return false;
        else
            a->only[a->nonly++] = argv[i];
    }
    return a->reps >= 1 && a->reps <= MAX_REPS && a->scale > 0;
}

static void run_throughput(tcase *cs, size_t ncases, const args *a) {
    uint64_t t0 = achan_monotonic_ns();
    for (int r = 0; r < a->reps; r++) {
        for (size_t i = 0; i < ncases; i++) {
            tcase *c = &cs[i];
            if (!wanted(a, c->name))
                continue;
            double allocs;
            c->ns[r] = run_achan(c, &allocs);
            if (allocs > c->allocs_per_msg)
                c->allocs_per_msg = allocs;
            if (c->with_mutex)
                c->mutex_ns[r] = run_mutex(c);
        }
        fprintf(stderr, "achan_bench: repetition %d/%d done, %.1f s\n", r + 1, a->reps,
                (double)(achan_monotonic_ns() - t0) / 1e9);
    }
}

int main(int argc, char **argv) {
    args a;
    if (!parse(argc, argv, &a))
        return usage();
    static tcase cs[MAX_CASES];
    size_t ncases = build_cases(cs, a.scale);
    uint64_t burst = scaled(1000000, a.scale);
    if (a.list) {
        for (size_t i = 0; i < ncases; i++)
            if (wanted(&a, cs[i].name))
                printf("%s\t%" PRIu64 "\n", cs[i].name, cs[i].n);
        if (wanted(&a, "mem_empty"))
            printf("mem_empty\t0\n");
        if (wanted(&a, "mem_burst"))
            printf("mem_burst\t%" PRIu64 "\n", burst);
        return 0;
    }
    fprintf(stderr, "achan_bench: achan %s, parker %s, %d repetitions, scale %g\n",
            achan_version_string(), achan_parker_backend(), a.reps, a.scale);
    run_throughput(cs, ncases, &a);
    print_header();
    for (size_t i = 0; i < ncases; i++)
        if (wanted(&a, cs[i].name))
            print_tcase(&cs[i], a.reps);
    if (wanted(&a, "mem_empty"))
        mem_empty();
    if (wanted(&a, "mem_burst"))
        mem_burst(burst);
    return 0;
}
