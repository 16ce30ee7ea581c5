/* soak.c - all four channel kinds at once, for as long as asked.
 *
 *     soak [--seconds N] [--seed S] [--hang-seconds H]
 *
 * Four coordinator threads, one per channel kind, run "epochs" back to back
 * until N seconds (default 10) have passed. Each epoch creates a channel,
 * starts threads that use it with randomly chosen calls (try, poll with the
 * thread waker, blocking with and without timeouts, streams, futures),
 * makes handles come and go (senders cloned and dropped mid-way, receivers
 * subscribing late, closing or dropping early, broadcast receivers too slow
 * to keep up), then joins them and checks the epoch exactly:
 *
 *   mpsc       4 producers, 1 consumer, bounded (1, 2, 7, 64) or unbounded.
 *              Every message carries (producer, sequence number, a heap
 *              payload): each producer's messages arrive in order without a
 *              gap, and every message whose send returned OK is received or
 *              passed to item_drop exactly once (a ledger per sequence
 *              number); a refused one is not taken.
 *   broadcast  2 senders, 2 to 6 receivers (some subscribing while messages
 *              flow, some slow, some dropping early), capacity 1 to 64.
 *              For every receiver, received + skipped == the messages sent
 *              during its subscription, exactly (subscribes and early drops
 *              are taken at moments when no send is in flight: senders hold
 *              a read lock around each send, those take the write lock);
 *              each sender's messages arrive in increasing order.
 *   watch      1 writer (send, send_replace, send_modify, send_if_modified),
 *              2 to 6 readers (changed_blocking, poll_changed, the stream,
 *              has_changed and borrows; some late, some leaving early).
 *              Values are never torn, each new version a reader sees holds
 *              a larger value than the last (plain borrows never a smaller
 *              one), and every reader that saw the end, as well as a reader
 *              that never read, reads the writer's final value.
 *   oneshot    2 requesters each hand oneshot senders to a responder over an
 *              mpsc; responders send, drop, or wait in poll_closed; the
 *              requester receives (blocking, timed, polling, as a future),
 *              closes or drops. Every value sent is received or passed to
 *              item_drop exactly once; a responder dropping its queue early
 *              drops the senders still queued (through that queue's item_drop).
 *
 * Waits that must end (the other side will make progress or go) wait
 * without a timeout: a lost wake-up then hangs an epoch, and a watchdog
 * fails the run when a kind completes no epoch for H seconds (default 120).
 * A failed check prints what failed and aborts.
 *
 * At the end it prints, per kind, the epochs run, the messages moved and
 * the operations (achan calls) performed.
 */
#define _GNU_SOURCE
#include "test_support.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Shared machinery.                                                         */

enum { K_MPSC, K_ONESHOT, K_WATCH, K_BCAST, KINDS };
static const char *const kind_names[KINDS] = {"mpsc", "oneshot", "watch", "broadcast"};

static atomic_bool stop; /* Time is up: finish the epoch. */
static uint64_t seed = 1;
static atomic_ullong msgs[KINDS], ops[KINDS]; /* Totals. */
static atomic_ullong epochs[KINDS];
static atomic_ullong heartbeat_ms[KINDS]; /* Last epoch end, for the watchdog. */
static atomic_bool finished[KINDS];       /* The coordinator returned. */
static atomic_ullong lags, skipped_total, item_drops;
static atomic_ullong thread_ids;

#define CHECK TEST_CHECK

/* Per-thread counters, added to the totals when the thread ends. */
typedef struct {
    uint64_t msgs[KINDS], ops[KINDS];
} tally;

static void tally_flush(tally *t) {
    for (int k = 0; k < KINDS; k++) {
        atomic_fetch_add(&msgs[k], t->msgs[k]);
        atomic_fetch_add(&ops[k], t->ops[k]);
    }
    memset(t, 0, sizeof *t);
}

/* xorshift64*, one per thread. */
typedef struct {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void rng_init(rng *r) {
    r->s = mix64(seed ^ mix64(atomic_fetch_add(&thread_ids, 1))) | 1;
}

static uint64_t rnd(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static uint64_t below(rng *r, uint64_t n) {
    return n ? rnd(r) % n : 0;
}
static bool chance(rng *r, unsigned permille) {
    return below(r, 1000) < permille;
}

static void nap_us(unsigned us) {
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void) {
    return (uint64_t)test_now_ms();
}

/* The calling thread's parker waker, for the poll paths. */
typedef struct {
    achan_waker w;
    achan_context cx;
} thread_cx;

static void thread_cx_init(thread_cx *t) {
    CHECK(achan_thread_waker(&t->w) == ACHAN_OK);
    t->cx.waker = &t->w;
}

static void thread_cx_done(thread_cx *t) {
    achan_waker_drop(t->w);
}

static void join(pthread_t t) {
    CHECK(pthread_join(t, NULL) == 0);
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0);
    return t;
}

/* A ledger: how often each numbered item was delivered (received or
 * passed to item_drop); every entry must end at 0 or 1 as expected. */
typedef struct {
    atomic_uchar *n;
    size_t size;
} ledger;

static void ledger_init(ledger *l, size_t size) {
    l->size = size;
    l->n = calloc(size ? size : 1, sizeof *l->n);
    CHECK(l->n != NULL);
}

static void ledger_mark(ledger *l, size_t i) {
    CHECK(i < l->size);
    CHECK(atomic_fetch_add(&l->n[i], 1) == 0); /* Delivered twice. */
}

static unsigned ledger_get(ledger *l, size_t i) {
    return atomic_load(&l->n[i]);
}
static void ledger_free(ledger *l) {
    free(l->n);
}

/* A heap payload: freed by whoever gets the item, so ASan and valgrind see
 * a leak (an item lost) or a double free (an item delivered twice). */
static uint64_t *payload_new(uint64_t v) {
    uint64_t *p = malloc(sizeof *p);
    CHECK(p != NULL);
    *p = v ^ 0xa5a5a5a5a5a5a5a5ull;
    return p;
}

static void payload_free(uint64_t *p, uint64_t v) {
    CHECK(p != NULL && *p == (v ^ 0xa5a5a5a5a5a5a5a5ull));
    free(p);
}

/* ------------------------------------------------------------------------ */
/* mpsc                                                                      */

#define MP_PRODUCERS 4

typedef struct {
    uint32_t producer, epoch;
    uint64_t seq;
    uint64_t *payload;
} mp_msg;

typedef enum { MP_DRAIN, MP_CLOSE_EARLY, MP_DROP_EARLY } mp_mode;

typedef struct mp_epoch mp_epoch;
typedef struct {
    mp_epoch *e;
    uint32_t id;
    achan_mpsc_sender *tx;
    uint64_t budget, sent; /* sent: messages whose send returned OK (a prefix). */
} mp_producer;

struct mp_epoch {
    uint32_t id;
    size_t capacity;
    mp_mode mode;
    uint64_t early_at;
    achan_mpsc_receiver *rx;
    mp_producer p[MP_PRODUCERS];
    ledger led[MP_PRODUCERS];
    uint64_t received;
    atomic_ullong dropped;
};

static void mp_item_drop(void *item, void *user) {
    mp_epoch *e = user;
    mp_msg *m = item;
    CHECK(m->epoch == e->id && m->producer < MP_PRODUCERS);
    ledger_mark(&e->led[m->producer], m->seq);
    payload_free(m->payload, m->seq);
    atomic_fetch_add(&e->dropped, 1);
}

/* One send by a random method; OK or CLOSED. */
static achan_status mp_send(achan_mpsc_sender *tx, const mp_msg *m, rng *r, thread_cx *tc,
                            tally *t) {
    achan_status st;
    switch (below(r, 4)) {
    case 0: /* try_send, yielding while full */
        while ((st = achan_mpsc_try_send(tx, m)) == ACHAN_FULL) {
            t->ops[K_MPSC]++;
            sched_yield();
        }
        break;
    case 1: /* blocking, no timeout */
        st = achan_mpsc_send_blocking(tx, m, -1);
        break;
    case 2: /* blocking with short timeouts */
        while ((st = achan_mpsc_send_blocking(tx, m, (int64_t)below(r, 200000))) == ACHAN_TIMEOUT)
            t->ops[K_MPSC]++;
        break;
    default: /* poll_send with the thread waker; now and then give up the wait */
        while ((st = achan_mpsc_poll_send(tx, &tc->cx, m)) == ACHAN_PENDING) {
            t->ops[K_MPSC]++;
            if (chance(r, 200)) {
                achan_mpsc_poll_send_cancel(tx);
                t->ops[K_MPSC]++;
            } else {
                achan_thread_park(-1);
            }
        }
        break;
    }
    t->ops[K_MPSC]++;
    CHECK(st == ACHAN_OK || st == ACHAN_CLOSED);
    return st;
}

static void *mp_producer_run(void *arg) {
    mp_producer *p = arg;
    mp_epoch *e = p->e;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    achan_mpsc_sender *tx = p->tx;
    uint64_t stop_at = chance(&r, 150) ? below(&r, p->budget + 1) : p->budget;
    for (uint64_t seq = 0; seq < stop_at; seq++) {
        if (chance(&r, 3)) { /* A new handle replaces the old one. */
            achan_mpsc_sender *nt = achan_mpsc_sender_clone(tx);
            CHECK(nt != NULL);
            achan_mpsc_sender_drop(tx);
            tx = nt;
            t.ops[K_MPSC] += 2;
        }
        mp_msg m = {p->id, e->id, seq, payload_new(seq)};
        if (mp_send(tx, &m, &r, &tc, &t) != ACHAN_OK) {
            payload_free(m.payload, seq); /* Refused: still ours. */
            CHECK(achan_mpsc_sender_is_closed(tx));
            break;
        }
        p->sent = seq + 1;
    }
    achan_mpsc_sender_drop(tx);
    t.ops[K_MPSC]++;
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

static void mp_take(mp_epoch *e, const mp_msg *m, uint64_t *next, tally *t) {
    CHECK(m->epoch == e->id && m->producer < MP_PRODUCERS);
    CHECK(m->seq == next[m->producer]); /* In order, no gap, nothing twice. */
    next[m->producer]++;
    ledger_mark(&e->led[m->producer], m->seq);
    payload_free(m->payload, m->seq);
    e->received++;
    t->msgs[K_MPSC]++;
}

static void *mp_consumer_run(void *arg) {
    mp_epoch *e = arg;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    uint64_t next[MP_PRODUCERS] = {0};
    mp_msg batch[16];
    bool closed = false;
    for (;;) {
        if (e->mode != MP_DRAIN && !closed && e->received >= e->early_at) {
            if (e->mode == MP_DROP_EARLY) {
                achan_mpsc_receiver_drop(e->rx); /* The rest goes to item_drop. */
                t.ops[K_MPSC]++;
                break;
            }
            achan_mpsc_receiver_close(e->rx);
            t.ops[K_MPSC]++;
            closed = true;
        }
        achan_status st;
        size_t n = 1;
        switch (below(&r, 6)) {
        case 0:
            st = achan_mpsc_try_recv(e->rx, batch);
            if (st == ACHAN_EMPTY)
                sched_yield();
            break;
        case 1:
            st = achan_mpsc_recv_blocking(e->rx, batch, -1);
            break;
        case 2:
            st = achan_mpsc_recv_blocking(e->rx, batch, (int64_t)below(&r, 200000));
            break;
        case 3:
            while ((st = achan_mpsc_poll_recv(e->rx, &tc.cx, batch)) == ACHAN_PENDING) {
                t.ops[K_MPSC]++;
                achan_thread_park(-1);
            }
            break;
        case 4:
            while ((n = achan_mpsc_poll_recv_many(e->rx, &tc.cx, batch, 1 + below(&r, 16), &st)) ==
                       0 &&
                   st == ACHAN_PENDING) {
                t.ops[K_MPSC]++;
                achan_thread_park(-1);
            }
            break;
        default:
            st = achan_stream_next_blocking(achan_mpsc_receiver_stream(e->rx), batch, -1);
            break;
        }
        t.ops[K_MPSC]++;
        if (st == ACHAN_CLOSED) {
            achan_mpsc_receiver_drop(e->rx);
            t.ops[K_MPSC]++;
            break;
        }
        CHECK(st == ACHAN_OK || st == ACHAN_EMPTY || st == ACHAN_TIMEOUT);
        if (st == ACHAN_OK) {
            for (size_t i = 0; i < n; i++)
                mp_take(e, &batch[i], next, &t);
        }
    }
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

static void mp_epoch_run(uint32_t id, rng *r) {
    static const size_t caps[] = {0, 0, 1, 2, 7, 64};
    mp_epoch *e = calloc(1, sizeof *e);
    CHECK(e != NULL);
    e->id = id;
    e->capacity = caps[below(r, 6)];
    unsigned m = (unsigned)below(r, 100);
    e->mode = m < 70 ? MP_DRAIN : m < 85 ? MP_CLOSE_EARLY : MP_DROP_EARLY;
    uint64_t total = 0;
    for (int i = 0; i < MP_PRODUCERS; i++) {
        e->p[i].budget = below(r, 5000);
        total += e->p[i].budget;
        ledger_init(&e->led[i], e->p[i].budget);
    }
    e->early_at = below(r, total + 1);
    achan_opts o = {
        .item_size = sizeof(mp_msg), .capacity = e->capacity, .item_drop = mp_item_drop, .user = e};
    achan_mpsc_sender *tx;
    CHECK(achan_mpsc_new(&o, &tx, &e->rx) == ACHAN_OK);
    pthread_t th[MP_PRODUCERS + 1];
    for (int i = 0; i < MP_PRODUCERS; i++) {
        e->p[i].e = e;
        e->p[i].id = (uint32_t)i;
        e->p[i].tx = i == 0 ? tx : achan_mpsc_sender_clone(tx);
        CHECK(e->p[i].tx != NULL);
    }
    for (int i = 0; i < MP_PRODUCERS; i++)
        th[i] = spawn(mp_producer_run, &e->p[i]);
    th[MP_PRODUCERS] = spawn(mp_consumer_run, e);
    for (int i = 0; i <= MP_PRODUCERS; i++)
        join(th[i]);

    /* Every handle is gone, so every item is accounted for by now. */
    uint64_t sent = 0;
    for (int i = 0; i < MP_PRODUCERS; i++) {
        for (uint64_t s = 0; s < e->p[i].budget; s++)
            CHECK(ledger_get(&e->led[i], s) == (s < e->p[i].sent ? 1u : 0u));
        sent += e->p[i].sent;
        ledger_free(&e->led[i]);
    }
    CHECK(e->received + atomic_load(&e->dropped) == sent);
    if (e->mode != MP_DROP_EARLY)
        CHECK(atomic_load(&e->dropped) == 0);
    atomic_fetch_add(&item_drops, atomic_load(&e->dropped));
    atomic_fetch_add(&ops[K_MPSC], MP_PRODUCERS + 1); /* new and the clones */
    free(e);
}

/* ------------------------------------------------------------------------ */
/* broadcast                                                                 */

#define BC_SENDERS 2
#define BC_MAX_RX 6

typedef struct {
    uint32_t sender, epoch;
    uint64_t seq;
    uint64_t check;
} bc_msg;

typedef enum { BC_FAST, BC_SLOW, BC_DROP_EARLY } bc_mode;

typedef struct bc_epoch bc_epoch;
typedef struct {
    bc_epoch *e;
    achan_broadcast_receiver *rx;
    uint64_t t0; /* Messages sent before it subscribed. */
    bc_mode mode;
    uint64_t early_at;
    pthread_t th;
} bc_receiver;

typedef struct {
    bc_epoch *e;
    uint32_t id;
    achan_broadcast_sender *tx;
    uint64_t budget;
} bc_sender;

struct bc_epoch {
    uint32_t id;
    /* Senders hold it for reading around each send; subscribes and early
     * drops hold it for writing, so no send is in flight then and the
     * channel's tail equals `sent`. */
    pthread_rwlock_t lock;
    atomic_ullong sent;
    atomic_int senders_left;
    bc_sender s[BC_SENDERS];
    bc_receiver rx[BC_MAX_RX];
    int nrx;
};

static uint64_t bc_check(const bc_msg *m) {
    return mix64(((uint64_t)m->sender << 48) ^ ((uint64_t)m->epoch << 32) ^ m->seq);
}

static void *bc_sender_run(void *arg) {
    bc_sender *s = arg;
    bc_epoch *e = s->e;
    rng r;
    rng_init(&r);
    tally t = {0};
    achan_broadcast_sender *tx = s->tx;
    bool paced = chance(&r, 500);
    uint64_t stop_at = chance(&r, 150) ? below(&r, s->budget + 1) : s->budget;
    for (uint64_t seq = 0; seq < stop_at; seq++) {
        if (chance(&r, 3)) {
            achan_broadcast_sender *nt = achan_broadcast_sender_clone(tx);
            CHECK(nt != NULL);
            achan_broadcast_sender_drop(tx);
            tx = nt;
            t.ops[K_BCAST] += 2;
        }
        bc_msg m = {s->id, e->id, seq, 0};
        m.check = bc_check(&m);
        size_t n;
        pthread_rwlock_rdlock(&e->lock);
        achan_status st = achan_broadcast_send(tx, &m, &n);
        if (st == ACHAN_OK)
            atomic_fetch_add(&e->sent, 1);
        pthread_rwlock_unlock(&e->lock);
        t.ops[K_BCAST]++;
        CHECK(st == ACHAN_OK ? n > 0 : st == ACHAN_CLOSED && n == 0);
        if (paced && seq % 8 == 7)
            sched_yield();
    }
    achan_broadcast_sender_drop(tx);
    t.ops[K_BCAST]++;
    atomic_fetch_sub(&e->senders_left, 1);
    tally_flush(&t);
    return NULL;
}

static void *bc_receiver_run(void *arg) {
    bc_receiver *br = arg;
    bc_epoch *e = br->e;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    uint64_t received = 0, skipped = 0, next_seq[BC_SENDERS] = {0};
    achan_stream *s = achan_broadcast_receiver_stream(br->rx);
    for (;;) {
        if (br->mode == BC_DROP_EARLY && received + skipped >= br->early_at) {
            pthread_rwlock_wrlock(&e->lock);
            uint64_t sent = atomic_load(&e->sent);
            /* Read, missed and still to read: everything sent since. */
            CHECK(received + skipped + achan_broadcast_len(br->rx) == sent - br->t0);
            CHECK(achan_broadcast_receiver_skipped(br->rx) == skipped);
            achan_broadcast_receiver_drop(br->rx);
            pthread_rwlock_unlock(&e->lock);
            t.ops[K_BCAST] += 3;
            break;
        }
        bc_msg m;
        uint64_t lost = 0, before = 0;
        achan_status st;
        switch (below(&r, 5)) {
        case 0:
            st = achan_broadcast_try_recv(br->rx, &m, &lost);
            if (st == ACHAN_EMPTY)
                sched_yield();
            break;
        case 1:
            st = achan_broadcast_recv_blocking(br->rx, &m, &lost, -1);
            break;
        case 2:
            st = achan_broadcast_recv_blocking(br->rx, &m, &lost, (int64_t)below(&r, 200000));
            break;
        case 3:
            while ((st = achan_broadcast_poll_recv(br->rx, &tc.cx, &m, &lost)) == ACHAN_PENDING) {
                t.ops[K_BCAST]++;
                achan_thread_park(-1);
            }
            break;
        default: /* The stream reports no count: the receiver's total does. */
            before = achan_broadcast_receiver_skipped(br->rx);
            st = achan_stream_next_blocking(s, &m, -1);
            if (st == ACHAN_LAGGED)
                lost = achan_broadcast_receiver_skipped(br->rx) - before;
            t.ops[K_BCAST] += 2;
            break;
        }
        t.ops[K_BCAST]++;
        if (st == ACHAN_CLOSED) {
            /* Every sender is gone, so `sent` is final. */
            CHECK(received + skipped == atomic_load(&e->sent) - br->t0);
            CHECK(achan_broadcast_receiver_skipped(br->rx) == skipped);
            CHECK(achan_broadcast_len(br->rx) == 0);
            achan_broadcast_receiver_drop(br->rx);
            t.ops[K_BCAST] += 4;
            break;
        }
        if (st == ACHAN_LAGGED) {
            CHECK(lost > 0);
            skipped += lost;
            atomic_fetch_add(&lags, 1);
            atomic_fetch_add(&skipped_total, lost);
            continue;
        }
        CHECK(lost == 0);
        if (st != ACHAN_OK) {
            CHECK(st == ACHAN_EMPTY || st == ACHAN_TIMEOUT);
            continue;
        }
        CHECK(m.epoch == e->id && m.sender < BC_SENDERS && m.check == bc_check(&m));
        CHECK(m.seq >= next_seq[m.sender]); /* Increasing per sender. */
        next_seq[m.sender] = m.seq + 1;
        received++;
        t.msgs[K_BCAST]++;
        if (br->mode == BC_SLOW && chance(&r, 300)) {
            if (chance(&r, 500))
                nap_us(20 + (unsigned)below(&r, 200));
            else
                sched_yield();
        }
    }
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

/* Adds a receiver (created by the caller, under the write lock). */
static void bc_add_receiver(bc_epoch *e, achan_broadcast_receiver *rx, uint64_t t0, rng *r) {
    CHECK(e->nrx < BC_MAX_RX && rx != NULL);
    bc_receiver *br = &e->rx[e->nrx++];
    br->e = e;
    br->rx = rx;
    br->t0 = t0;
    unsigned m = (unsigned)below(r, 100);
    br->mode = m < 50 ? BC_FAST : m < 80 ? BC_SLOW : BC_DROP_EARLY;
    br->early_at = below(r, 4000);
    br->th = spawn(bc_receiver_run, br);
}

static void bc_epoch_run(uint32_t id, rng *r) {
    static const size_t caps[] = {1, 2, 4, 16, 64};
    bc_epoch *e = calloc(1, sizeof *e);
    CHECK(e != NULL);
    e->id = id;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    /* Or the senders' read locks would starve the subscribes. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    CHECK(pthread_rwlock_init(&e->lock, &attr) == 0);
    pthread_rwlockattr_destroy(&attr);
    achan_opts o = {.item_size = sizeof(bc_msg), .capacity = caps[below(r, 5)]};
    achan_broadcast_sender *tx;
    achan_broadcast_receiver *rx0, *anchor;
    CHECK(achan_broadcast_new(&o, &tx, &rx0) == ACHAN_OK);
    anchor = achan_broadcast_subscribe(tx); /* Never reads: its len counts every send. */
    CHECK(anchor != NULL);
    atomic_store(&e->senders_left, BC_SENDERS);
    for (int i = 0; i < BC_SENDERS; i++) {
        e->s[i].e = e;
        e->s[i].id = (uint32_t)i;
        e->s[i].budget = below(r, 6000);
        e->s[i].tx = achan_broadcast_sender_clone(tx);
        CHECK(e->s[i].tx != NULL);
    }
    bc_add_receiver(e, rx0, 0, r);
    bc_add_receiver(e, achan_broadcast_subscribe(tx), 0, r);
    pthread_t st[BC_SENDERS];
    for (int i = 0; i < BC_SENDERS; i++)
        st[i] = spawn(bc_sender_run, &e->s[i]);
    /* Late receivers while the messages flow. */
    while (atomic_load(&e->senders_left) > 0 && e->nrx < BC_MAX_RX) {
        nap_us(100 + (unsigned)below(r, 3000));
        pthread_rwlock_wrlock(&e->lock);
        uint64_t t0 = atomic_load(&e->sent);
        achan_broadcast_receiver *nr =
            chance(r, 500) ? achan_broadcast_subscribe(tx) : achan_broadcast_resubscribe(anchor);
        pthread_rwlock_unlock(&e->lock);
        bc_add_receiver(e, nr, t0, r);
    }
    for (int i = 0; i < BC_SENDERS; i++)
        join(st[i]);
    CHECK(achan_broadcast_len(anchor) == atomic_load(&e->sent));
    achan_broadcast_receiver_drop(anchor);
    achan_broadcast_sender_drop(tx); /* The last sender: receivers see the end. */
    for (int i = 0; i < e->nrx; i++)
        join(e->rx[i].th);
    atomic_fetch_add(&ops[K_BCAST], (uint64_t)(5 + BC_SENDERS + e->nrx));
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

/* ------------------------------------------------------------------------ */
/* watch                                                                     */

#define WA_MAX_RX 6

typedef struct {
    uint64_t v;
    uint64_t check;
    uint64_t pad[6]; /* 64 bytes: several words to tear. */
} wa_val;

static void wa_set(wa_val *x, uint64_t v) {
    x->v = v;
    for (int i = 0; i < 6; i++)
        x->pad[i] = mix64(v + (uint64_t)i);
    x->check = mix64(v ^ x->pad[5]);
}

static void wa_verify(const wa_val *x) {
    CHECK(x->check == mix64(x->v ^ x->pad[5]));
    for (int i = 0; i < 6; i++)
        CHECK(x->pad[i] == mix64(x->v + (uint64_t)i));
}

typedef enum { WA_CHANGED, WA_POLL, WA_STREAM, WA_BORROW, WA_MODES } wa_mode;

typedef struct wa_epoch wa_epoch;
typedef struct {
    wa_epoch *e;
    achan_watch_receiver *rx;
    wa_mode mode;
    bool drop_early;
    uint64_t early_at;
    uint64_t last; /* Last value seen. */
    bool saw_end;  /* Read to ACHAN_CLOSED; last is the final borrow. */
    pthread_t th;
} wa_reader;

struct wa_epoch {
    achan_watch_sender *tx;
    uint64_t budget;
    atomic_bool writing_done, spawning_done;
    uint64_t final;
    wa_reader rd[WA_MAX_RX];
    int nrd;
};

static void wa_inc(void *value, void *u) {
    (void)u;
    wa_val *x = value;
    wa_set(x, x->v + 1);
}

static bool wa_inc_maybe(void *value, void *u) {
    wa_inc(value, NULL);
    return *(bool *)u;
}

static void *wa_writer_run(void *arg) {
    wa_epoch *e = arg;
    rng r;
    rng_init(&r);
    tally t = {0};
    uint64_t cur = 0;
    wa_val x, old;
    for (uint64_t i = 0; i < e->budget; i++) {
        switch (below(&r, 4)) {
        case 0:
            wa_set(&x, cur + 1);
            if (achan_watch_send(e->tx, &x) == ACHAN_OK) {
                cur++;
                break;
            }
            t.ops[K_WATCH]++; /* No receiver: not stored; replace instead. */
            /* fall through */
        case 1:
            wa_set(&x, cur + 1);
            achan_watch_send_replace(e->tx, &x, &old);
            wa_verify(&old);
            CHECK(old.v == cur);
            cur++;
            break;
        case 2:
            achan_watch_send_modify(e->tx, wa_inc, NULL);
            cur++;
            break;
        default: {
            bool notify = chance(&r, 800);
            CHECK(achan_watch_send_if_modified(e->tx, wa_inc_maybe, &notify) == notify);
            cur++; /* Kept either way; counted as a change only if notified. */
            break;
        }
        }
        t.ops[K_WATCH]++;
        t.msgs[K_WATCH]++;
        if (chance(&r, 20))
            sched_yield();
    }
    atomic_store(&e->writing_done, true);
    while (!atomic_load(&e->spawning_done)) /* No subscribe may overlap the drop. */
        sched_yield();
    e->final = cur;
    achan_watch_sender_drop(e->tx);
    t.ops[K_WATCH]++;
    tally_flush(&t);
    return NULL;
}

static void *wa_reader_run(void *arg) {
    wa_reader *w = arg;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    achan_stream *s = achan_watch_receiver_stream(w->rx);
    bool first = true;
    uint64_t seen = 0;
    wa_val x;
    for (;;) {
        if (w->drop_early && seen >= w->early_at)
            break;
        achan_status st;
        switch (w->mode) {
        case WA_CHANGED:
            st = achan_watch_changed_blocking(w->rx,
                                              chance(&r, 800) ? -1 : (int64_t)below(&r, 200000));
            if (st == ACHAN_OK)
                achan_watch_borrow_and_update(w->rx, &x);
            break;
        case WA_POLL:
            while ((st = achan_watch_poll_changed(w->rx, &tc.cx)) == ACHAN_PENDING) {
                t.ops[K_WATCH]++;
                achan_thread_park(-1);
            }
            if (st == ACHAN_OK)
                achan_watch_borrow_and_update(w->rx, &x);
            break;
        case WA_STREAM:
            st = achan_stream_next_blocking(s, &x, -1);
            break;
        default: /* Plain reads; only a changed value counts as seen. */
            st = achan_watch_has_changed(w->rx);
            if (st == ACHAN_OK) {
                achan_watch_borrow_and_update(w->rx, &x);
            } else if (st == ACHAN_EMPTY) {
                achan_watch_borrow(w->rx, &x);
                wa_verify(&x);
                CHECK(first || x.v >= w->last);
                sched_yield();
                t.ops[K_WATCH] += 2;
                continue;
            }
            break;
        }
        t.ops[K_WATCH] += 2;
        if (st == ACHAN_CLOSED) {
            achan_watch_borrow(w->rx, &x); /* The final value. */
            wa_verify(&x);
            CHECK(first || x.v >= w->last);
            w->last = x.v;
            w->saw_end = true;
            CHECK(achan_watch_has_changed(w->rx) == ACHAN_CLOSED);
            t.ops[K_WATCH] += 2;
            break;
        }
        if (st == ACHAN_TIMEOUT)
            continue;
        CHECK(st == ACHAN_OK);
        wa_verify(&x);
        CHECK(first || x.v > w->last); /* A new version: a larger value. */
        first = false;
        w->last = x.v;
        seen++;
        t.msgs[K_WATCH]++;
    }
    achan_watch_receiver_drop(w->rx);
    t.ops[K_WATCH]++;
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

static void wa_add_reader(wa_epoch *e, achan_watch_receiver *rx, rng *r) {
    CHECK(e->nrd < WA_MAX_RX && rx != NULL);
    wa_reader *w = &e->rd[e->nrd++];
    w->e = e;
    w->rx = rx;
    w->mode = (wa_mode)below(r, WA_MODES);
    w->drop_early = chance(r, 150);
    w->early_at = below(r, 2000);
    w->th = spawn(wa_reader_run, w);
}

static void wa_epoch_run(uint32_t id, rng *r) {
    (void)id;
    wa_epoch *e = calloc(1, sizeof *e);
    CHECK(e != NULL);
    e->budget = below(r, 20000);
    wa_val init;
    wa_set(&init, 0);
    achan_opts o = {.item_size = sizeof(wa_val)};
    achan_watch_receiver *rx0, *anchor;
    CHECK(achan_watch_new(&o, &init, &e->tx, &rx0) == ACHAN_OK);
    anchor = achan_watch_receiver_clone(rx0);
    CHECK(anchor != NULL);
    wa_add_reader(e, rx0, r);
    wa_add_reader(e, achan_watch_receiver_clone(anchor), r);
    pthread_t wt = spawn(wa_writer_run, e);
    /* Late readers while the values change: subscribe on the writer's
     * handle (allowed concurrently with its sends), or clone the anchor. */
    while (!atomic_load(&e->writing_done) && e->nrd < WA_MAX_RX) {
        nap_us(100 + (unsigned)below(r, 3000));
        wa_add_reader(
            e, chance(r, 500) ? achan_watch_subscribe(e->tx) : achan_watch_receiver_clone(anchor),
            r);
    }
    atomic_store(&e->spawning_done, true);
    join(wt);
    wa_val x;
    CHECK(achan_watch_has_changed(anchor) == ACHAN_CLOSED);
    achan_watch_borrow(anchor, &x);
    CHECK(x.v == e->final);
    achan_watch_receiver_drop(anchor);
    for (int i = 0; i < e->nrd; i++) {
        join(e->rd[i].th);
        if (e->rd[i].saw_end)
            CHECK(e->rd[i].last == e->final);
    }
    atomic_fetch_add(&ops[K_WATCH], (uint64_t)(5 + e->nrd));
    free(e);
}

/* ------------------------------------------------------------------------ */
/* oneshot                                                                   */

#define OS_PAIRS 2

typedef struct {
    uint64_t id;
    uint64_t *payload;
} os_msg;

typedef struct os_epoch os_epoch;
typedef struct {
    os_epoch *e;
    int pair;
    achan_mpsc_sender *qtx; /* Requests: oneshot senders, to the responder. */
    achan_mpsc_receiver *qrx;
    uint64_t budget;
} os_pair;

struct os_epoch {
    uint32_t id;
    ledger delivered; /* Per value id: received or item_drop'ed. */
    ledger sent_ok;   /* Per value id: the send returned OK. */
    os_pair p[OS_PAIRS];
    atomic_ullong dropped;
};

static void os_item_drop(void *item, void *user) {
    os_epoch *e = user;
    os_msg *m = item;
    ledger_mark(&e->delivered, m->id);
    payload_free(m->payload, m->id);
    atomic_fetch_add(&e->dropped, 1);
}

/* The request queue's item_drop: a oneshot sender never delivered. */
static void os_queue_drop(void *item, void *user) {
    (void)user;
    achan_oneshot_sender_drop(*(achan_oneshot_sender **)item);
}

static void os_take(os_epoch *e, const os_msg *m, uint64_t id, tally *t) {
    CHECK(m->id == id);
    ledger_mark(&e->delivered, m->id);
    payload_free(m->payload, m->id);
    t->msgs[K_ONESHOT]++;
}

static void *os_requester_run(void *arg) {
    os_pair *p = arg;
    os_epoch *e = p->e;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    achan_opts o = {.item_size = sizeof(os_msg), .item_drop = os_item_drop, .user = e};
    for (uint64_t i = 0; i < p->budget; i++) {
        uint64_t id = (uint64_t)p->pair * p->budget + i;
        achan_oneshot_sender *tx;
        achan_oneshot_receiver *rx;
        CHECK(achan_oneshot_new(&o, &tx, &rx) == ACHAN_OK);
        achan_oneshot_sender *carried = tx; /* The request carries the id implicitly: in order. */
        if (achan_mpsc_send_blocking(p->qtx, &carried, -1) != ACHAN_OK)
            achan_oneshot_sender_drop(tx); /* The responder is gone. */
        t.ops[K_MPSC]++;
        t.ops[K_ONESHOT] += 2;
        os_msg m;
        achan_status st;
        switch (below(&r, 7)) {
        case 0:
            st = achan_oneshot_recv_blocking(rx, &m, -1);
            break;
        case 1:
            while ((st = achan_oneshot_recv_blocking(rx, &m, (int64_t)below(&r, 100000))) ==
                   ACHAN_TIMEOUT)
                t.ops[K_ONESHOT]++;
            break;
        case 2:
            st = achan_block_on(achan_oneshot_receiver_future(rx), &m, -1);
            break;
        case 3:
            while ((st = achan_oneshot_poll_recv(rx, &tc.cx, &m)) == ACHAN_PENDING) {
                t.ops[K_ONESHOT]++;
                achan_thread_park(-1);
            }
            break;
        case 4:
            while ((st = achan_oneshot_try_recv(rx, &m)) == ACHAN_EMPTY) {
                t.ops[K_ONESHOT]++;
                sched_yield();
            }
            break;
        case 5: /* Close, then take what was sent before. */
            achan_oneshot_receiver_close(rx);
            st = achan_oneshot_recv_blocking(rx, &m, -1);
            t.ops[K_ONESHOT]++;
            break;
        default: /* Drop at once: a value sent goes to item_drop. */
            st = ACHAN_PENDING;
            break;
        }
        if (st == ACHAN_OK)
            os_take(e, &m, id, &t);
        else
            CHECK(st == ACHAN_CLOSED || st == ACHAN_PENDING);
        if (st != ACHAN_PENDING)
            CHECK(achan_oneshot_try_recv(rx, &m) == ACHAN_CLOSED); /* Done: stays done. */
        achan_oneshot_receiver_drop(rx);
        t.ops[K_ONESHOT] += 3;
    }
    achan_mpsc_sender_drop(p->qtx);
    t.ops[K_MPSC]++;
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

static void *os_responder_run(void *arg) {
    os_pair *p = arg;
    os_epoch *e = p->e;
    rng r;
    rng_init(&r);
    thread_cx tc;
    thread_cx_init(&tc);
    tally t = {0};
    uint64_t next_id = (uint64_t)p->pair * p->budget;
    uint64_t leave_at = chance(&r, 100) ? below(&r, p->budget + 1) : UINT64_MAX;
    achan_oneshot_sender *tx;
    for (;;) {
        if (next_id - (uint64_t)p->pair * p->budget == leave_at) {
            /* Leave early: the senders still queued go to item_drop. */
            achan_mpsc_receiver_drop(p->qrx);
            t.ops[K_MPSC]++;
            break;
        }
        achan_status st = achan_mpsc_recv_blocking(p->qrx, &tx, -1);
        t.ops[K_MPSC]++;
        if (st == ACHAN_CLOSED) {
            achan_mpsc_receiver_drop(p->qrx);
            break;
        }
        CHECK(st == ACHAN_OK);
        uint64_t id = next_id++;
        t.msgs[K_MPSC]++;
        unsigned how = (unsigned)below(&r, 10);
        if (how == 0) {
            achan_oneshot_sender_drop(tx);
            t.ops[K_ONESHOT]++;
            continue;
        }
        if (how == 1) { /* Wait until the requester is gone or sending makes sense. */
            st = achan_oneshot_poll_closed(tx, &tc.cx);
            t.ops[K_ONESHOT]++;
            if (st == ACHAN_OK) {
                achan_oneshot_sender_drop(tx);
                continue;
            }
            CHECK(st == ACHAN_PENDING);
        }
        if (how == 2 && achan_oneshot_sender_is_closed(tx)) {
            achan_oneshot_sender_drop(tx);
            t.ops[K_ONESHOT] += 2;
            continue;
        }
        os_msg m = {id, payload_new(id)};
        st = achan_oneshot_send(tx, &m);
        t.ops[K_ONESHOT]++;
        if (st == ACHAN_OK) {
            ledger_mark(&e->sent_ok, id);
        } else {
            CHECK(st == ACHAN_CLOSED);
            payload_free(m.payload, id); /* Refused: still ours. */
        }
    }
    thread_cx_done(&tc);
    tally_flush(&t);
    return NULL;
}

static void os_epoch_run(uint32_t id, rng *r) {
    os_epoch *e = calloc(1, sizeof *e);
    CHECK(e != NULL);
    e->id = id;
    uint64_t budget = below(r, 3000);
    ledger_init(&e->delivered, OS_PAIRS * budget);
    ledger_init(&e->sent_ok, OS_PAIRS * budget);
    pthread_t th[2 * OS_PAIRS];
    for (int i = 0; i < OS_PAIRS; i++) {
        os_pair *p = &e->p[i];
        p->e = e;
        p->pair = i;
        p->budget = budget;
        achan_opts q = {.item_size = sizeof(achan_oneshot_sender *),
                        .capacity = chance(r, 500) ? 0 : 1 + below(r, 8),
                        .item_drop = os_queue_drop};
        CHECK(achan_mpsc_new(&q, &p->qtx, &p->qrx) == ACHAN_OK);
        th[2 * i] = spawn(os_requester_run, p);
        th[2 * i + 1] = spawn(os_responder_run, p);
    }
    for (int i = 0; i < 2 * OS_PAIRS; i++)
        join(th[i]);
    /* Exactly the values sent were delivered, each once. */
    for (uint64_t i = 0; i < OS_PAIRS * budget; i++)
        CHECK(ledger_get(&e->delivered, i) == ledger_get(&e->sent_ok, i));
    atomic_fetch_add(&item_drops, atomic_load(&e->dropped));
    atomic_fetch_add(&ops[K_MPSC], OS_PAIRS);
    ledger_free(&e->delivered);
    ledger_free(&e->sent_ok);
    free(e);
}

/* ------------------------------------------------------------------------ */
/* Driver.                                                                   */

typedef void (*epoch_fn)(uint32_t id, rng *r);
static const epoch_fn epoch_fns[KINDS] = {mp_epoch_run, os_epoch_run, wa_epoch_run, bc_epoch_run};

static void *coordinator(void *arg) {
    int kind = (int)(intptr_t)arg;
    rng r;
    rng_init(&r);
    for (uint32_t id = 1; !atomic_load(&stop); id++) {
        epoch_fns[kind](id, &r);
        atomic_fetch_add(&epochs[kind], 1);
        atomic_store(&heartbeat_ms[kind], now_ms());
    }
    atomic_store(&finished[kind], true);
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: soak [--seconds N] [--seed S] [--hang-seconds H]\n");
    exit(2);
}

int main(int argc, char **argv) {
    double seconds = 10, hang = 120;
    seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[++i], NULL, 0);
        else if (i + 1 < argc && strcmp(argv[i], "--hang-seconds") == 0)
            hang = atof(argv[++i]);
        else
            usage();
    }
    if (seconds < 0 || hang <= 0)
        usage();
    printf("soak: %.0f s, seed %" PRIu64 " (repeat with --seed %" PRIu64 ")\n", seconds, seed,
           seed);
    fflush(stdout);

    uint64_t t0 = now_ms();
    pthread_t co[KINDS];
    for (int k = 0; k < KINDS; k++) {
        atomic_store(&heartbeat_ms[k], t0);
        co[k] = spawn(coordinator, (void *)(intptr_t)k);
    }
    /* Watchdog: every kind must finish an epoch now and then. */
    bool done[KINDS] = {false};
    int running = KINDS;
    while (running > 0) {
        nap_us(100000);
        uint64_t now = now_ms();
        if (now - t0 >= (uint64_t)(seconds * 1000))
            atomic_store(&stop, true);
        for (int k = 0; k < KINDS; k++) {
            if (done[k])
                continue;
            if (atomic_load(&finished[k])) {
                join(co[k]);
                done[k] = true;
                running--;
                continue;
            }
            if (now - atomic_load(&heartbeat_ms[k]) > (uint64_t)(hang * 1000)) {
                fprintf(stderr, "soak: no %s epoch finished in %.0f s: a hang (lost wake-up?)\n",
                        kind_names[k], hang);
                abort();
            }
        }
    }
    double secs = (double)(now_ms() - t0) / 1000;

    uint64_t tm = 0, to = 0;
    printf("soak: passed in %.1f s\n", secs);
    printf("  %-10s %8s %14s %14s\n", "kind", "epochs", "messages", "operations");
    for (int k = 0; k < KINDS; k++) {
        uint64_t m = atomic_load(&msgs[k]), o = atomic_load(&ops[k]);
        tm += m;
        to += o;
        printf("  %-10s %8llu %14" PRIu64 " %14" PRIu64 "\n", kind_names[k],
               (unsigned long long)atomic_load(&epochs[k]), m, o);
    }
    printf("  %-10s %8s %14" PRIu64 " %14" PRIu64 "\n", "total", "", tm, to);
    printf("  items passed to item_drop: %llu; broadcast lags: %llu (%llu messages skipped)\n",
           (unsigned long long)atomic_load(&item_drops), (unsigned long long)atomic_load(&lags),
           (unsigned long long)atomic_load(&skipped_total));
    return 0;
}
