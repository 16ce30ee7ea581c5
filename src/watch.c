/* watch.c - the single-value, many-reader channel (see achan/watch.h).
 *
 * Design notes.
 *
 * One allocation holds the channel header (with the sender handle as a
 * member), the published value and the writers' copy of it. Each receiver is
 * an allocation of its own. `refs` counts handles; the last one frees.
 *
 * The value: a sequence lock over an array of machine words.
 *
 *   data    the published value, nwords atomic words: inline_data, on the
 *           same cache line as seq and state, when it fits (so a write
 *           dirties one line for small values), else after the header. Writers store each
 *           word with release, readers load each word with acquire, so no
 *           access is a data race in the C11 sense (TSan stays quiet) and a
 *           reader that sees any word of a newer write also sees that
 *           write's odd `seq` when it checks again.
 *   seq     even when data is stable, odd while a writer copies in. A
 *           writer: seq = s+1 (relaxed; the release stores of the words
 *           that follow order it before them), the words, the version bump,
 *           seq = s+2 (release). A reader: s1 = seq (acquire; retry while
 *           odd), the words, the state (acquire), s2 = seq; if s1 != s2 a
 *           write overlapped the copy, and it retries. Readers never block
 *           the writer and never see a torn value, whatever its size.
 *   shadow  the writers' plain copy of the value, under write_lock: what
 *           send_modify's function edits, and where send_replace finds the
 *           old value. Publishing copies it into data.
 *   write_lock  serialises writers among themselves only: a word, 0 when
 *           free, taken with one CAS (acquire) and released with one
 *           release store, so an uncontended send pays a single atomic
 *           read-modify-write (a pthread mutex pays two, and its unlock
 *           waits for the value's stores to leave the store buffer while
 *           readers keep pulling that line away: W6 ran twice as slow).
 *           A writer that finds it taken spins briefly (achan__backoff),
 *           then sleeps on sleep_cond after counting itself in
 *           writers_sleeping (under sleep_lock). The releaser stores 0,
 *           issues a seq_cst fence and reads writers_sleeping; the sleeper
 *           counts itself, fences and tries the CAS once more before it
 *           waits. Either the sleeper's CAS sees 0 or the releaser sees the
 *           count and signals under sleep_lock (Dekker again), so no
 *           wake-up is lost. Any sleeper may take any signal: one that
 *           loses the race to a fast-path writer sleeps again, and that
 *           writer's release signals once more.
 *
 * The state word: version (steps of 2) | CLOSED (bit 0, the sender is gone).
 * Only writers (under write_lock) and the sender's drop (which takes it too)
 * write it, so they do so with a plain load and a release store.
 * A write that counts as a change bumps the version inside the seq window,
 * so a reader's (value, version) pair is consistent: borrow_and_update marks
 * seen exactly the version of the value it copied. Each receiver keeps the
 * version it has seen (owner-only); "changed" means state's version differs.
 *
 * Waiting receivers: every receiver embeds a waiter node. poll_changed that
 * finds nothing new links the node (under the waitlist mutex), sets the
 * receiver's `queued` flag and the channel's `rx_waiting` flag, unlocks,
 * issues a seq_cst fence and re-checks the state. A writer bumps the version
 * (release), issues a seq_cst fence and reads rx_waiting: only when it is set
 * does it take the lock, unlink every waiter queued at that moment, and wake
 * them after unlocking. The two fences make it impossible for both sides to
 * miss each other (the Dekker pattern of mpsc.c). Whoever unlinks a node
 * clears its `queued` flag (release) last, after taking its waker, so an
 * owner that reads queued == 0 (acquire) knows its node is out of the list
 * and may reuse or free it without the lock.
 *
 * Sender and receiver counts: rx_count (receivers alive; send, poll_closed
 * and receiver_count read it) and the CLOSED bit (the sender is gone). The
 * last receiver's drop notifies the sender's poll_closed waker cell; the
 * sender's drop sets CLOSED and wakes every waiter.
 */
#include "achan/watch.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <string.h>

#include "alloc.h"
#include "atomics.h"
#include "check.h"
#include "parker.h"
#include "waitlist.h"
#include "waker_cell.h"

enum {
    STATE_CLOSED = 1, /* The sender is gone. */
    VERSION_STEP = 2, /* Versions count in the bits above CLOSED. */
    WORD = sizeof(size_t),
};

struct achan_watch_sender {
    uint32_t tag; /* ACHAN__TAG_WATCH_TX while alive (check.h); else only an address. */
};

typedef struct achan__watch_chan achan__watch_chan;

struct achan_watch_receiver {
    achan_stream stream; /* First: the receiver is its own stream. */
    achan__watch_chan *chan;
    uint32_t tag; /* ACHAN__TAG_WATCH_RX while alive (check.h). */
    /* Owner-only. */
    size_t seen;  /* The version this receiver has seen (state without CLOSED). */
    bool started; /* The stream yielded its first item. */
    bool ended;   /* The stream returned ACHAN_CLOSED. */
    /* 1 while the waiter is linked; cleared (release) by whoever unlinks it. */
    achan__atomic_size queued;
    achan__waiter waiter; /* Under chan->waiters' lock. */
};

/* Values of up to this many words live on seq's cache line. */
#define INLINE_WORDS (ACHAN__CACHE_LINE / sizeof(size_t) - 2)

struct achan__watch_chan {
    /* Read-only after creation. */
    size_t item_size;
    size_t nwords;
    achan_allocator alloc;
    size_t alloc_size;
    achan__atomic_size *data;
    unsigned char *shadow; /* nwords * WORD bytes, under write_lock. */
    achan_watch_sender tx;

    /* Written by every write, read by every reader: on one cache line with
     * the value itself when it fits, so a write dirties one line. */
    ACHAN__CACHE_ALIGNED achan__atomic_size seq;
    achan__atomic_size state; /* version | STATE_CLOSED */
    achan__atomic_size inline_data[INLINE_WORDS];

    /* Writers only (see the design notes). */
    ACHAN__CACHE_ALIGNED achan__atomic_size write_lock; /* 0 free, 1 taken. */
    achan__atomic_size writers_sleeping;                /* Written under sleep_lock. */
    pthread_mutex_t sleep_lock;
    pthread_cond_t sleep_cond;

    /* Waiting receivers. */
    ACHAN__CACHE_ALIGNED achan__waitlist waiters;
    size_t nwaiting;               /* Under the waiters lock: nodes linked. */
    achan__atomic_size rx_waiting; /* nwaiting != 0, for lock-free readers. */

    /* Handles. */
    ACHAN__CACHE_ALIGNED achan__atomic_size refs; /* Sender (until dropped) + receivers. */
    achan__atomic_size rx_count;                  /* Receivers alive. */
    achan__waker_cell tx_waker;                   /* poll_closed. */
};

static achan__watch_chan *chan_of_tx(const achan_watch_sender *tx) {
    return (achan__watch_chan *)((const char *)tx - offsetof(achan__watch_chan, tx));
}

static const achan_stream_vtbl receiver_stream_vtbl;

/* ------------------------------------------------------------------------ */
/* The value: sequence lock over atomic words.                               */

/* Copies shadow into data; counts a new version when bump. write_lock held. */
static void publish(achan__watch_chan *c, bool bump) {
    /* Relaxed: writers are serialised by write_lock, which ordered the last
     * store to seq before this load. */
    size_t s = achan__size_load_relaxed(&c->seq);
    /* Relaxed: the release stores below keep it before them. */
    achan__size_store_relaxed(&c->seq, s + 1);
    for (size_t i = 0; i < c->nwords; i++) {
        size_t w;
        memcpy(&w, c->shadow + i * WORD, WORD);
        /* Release: a reader whose acquire load sees this word also sees
         * seq = s+1 on its re-check, and retries. */
        achan__size_store_release(&c->data[i], w);
    }
    if (bump) {
        /* A load and a store, not a read-modify-write: every write of state
         * (here and the sender's drop) holds write_lock. Release: a receiver
         * that sees the new version (acquire) then sees seq >= s+1, so its
         * borrow gets this value or a later one. Relaxed load: our own lock
         * ordered the last store to state before it. */
        size_t st = achan__size_load_relaxed(&c->state);
        achan__size_store_release(&c->state, st + VERSION_STEP);
    }
    /* Release: pairs with a reader's acquire load of seq; the words above
     * are visible to a reader that sees s+2. */
    achan__size_store_release(&c->seq, s + 2);
}

/* Copies the published value to out; returns its version. Lock-free. */
static size_t read_value(const achan__watch_chan *c, void *out) {
    achan__backoff b = ACHAN__BACKOFF_INIT;
    unsigned char *dst = out;
    for (;;) {
        /* Acquire: pairs with the writer's final release store of seq. */
        size_t s1 = achan__size_load_acquire(&c->seq);
        if (!(s1 & 1)) {
            size_t left = c->item_size;
            for (size_t i = 0; i < c->nwords; i++) {
                /* Acquire: see publish (a newer word implies a newer seq). */
                size_t w = achan__size_load_acquire(&c->data[i]);
                size_t n = left < WORD ? left : WORD;
                memcpy(dst + i * WORD, &w, n);
                left -= n;
            }
            /* Acquire: a newer version implies a newer seq (see publish). */
            size_t st = achan__size_load_acquire(&c->state);
            /* Relaxed: the acquire loads above keep this load after them. */
            if (achan__size_load_relaxed(&c->seq) == s1)
                return st & ~(size_t)STATE_CLOSED;
        }
        /* A write overlapped: wait a little for the writer to finish. */
        if (!achan__backoff_snooze(&b))
            sched_yield();
    }
}

/* ------------------------------------------------------------------------ */
/* Waking waiting receivers.                                                 */

/* Unlinks w. Waiters lock held; w->waker is moved to b first, and queued is
 * cleared last: after that the owner may free the node. */
static void unlink_waiter(achan__watch_chan *c, achan_watch_receiver *rx, achan__wake_batch *b) {
    achan__waitlist_remove(&c->waiters, &rx->waiter);
    c->nwaiting--;
    /* Relaxed: a flag read only after the fence in writers_unlock, and
     * written under the lock. */
    achan__size_store_relaxed(&c->rx_waiting, c->nwaiting != 0);
    achan__wake_batch_take(b, &rx->waiter);
    /* Release: pairs with the owner's acquire load in unregister. */
    achan__size_store_release(&rx->queued, 0);
}

static achan_watch_receiver *rx_of_waiter(achan__waiter *w) {
    return (achan_watch_receiver *)((char *)w - offsetof(achan_watch_receiver, waiter));
}

/* Wakes every receiver queued when this is called. Waiters that queue while
 * we work are woken by the next change (they re-checked after queueing). */
static void wake_waiters(achan__watch_chan *c) {
    achan__wake_batch b = {.n = 0};
    achan__waitlist_lock(&c->waiters);
    size_t budget = c->nwaiting;
    for (;;) {
        achan__waiter *w;
        while (budget > 0 && !achan__wake_batch_full(&b) &&
               (w = achan__waitlist_front(&c->waiters)) != NULL) {
            unlink_waiter(c, rx_of_waiter(w), &b);
            budget--;
        }
        bool more = budget > 0 && !achan__waitlist_empty(&c->waiters);
        achan__waitlist_unlock(&c->waiters);
        achan__wake_batch_run(&b);
        if (!more)
            return;
        achan__waitlist_lock(&c->waiters);
    }
}

/* ------------------------------------------------------------------------ */
/* The writers' lock (see the design notes).                                 */

static bool writers_try_lock(achan__watch_chan *c) {
    size_t free_word = 0;
    /* acq_rel (acquire is what is needed; atomics.h pairs it with release):
     * pairs with the release store in writers_unlock, so this writer sees
     * the shadow and state as the previous writer left them. */
    return achan__size_cas_acq_rel(&c->write_lock, &free_word, 1);
}

/* Counts itself as sleeping, then waits on sleep_cond until its CAS wins. */
static void writers_lock_slow(achan__watch_chan *c) {
    pthread_mutex_lock(&c->sleep_lock);
    /* Relaxed load and store: only sleepers, under sleep_lock, write it; the
     * releaser's read is ordered by the two fences. */
    size_t n = achan__size_load_relaxed(&c->writers_sleeping);
    achan__size_store_relaxed(&c->writers_sleeping, n + 1);
    for (;;) {
        /* Pairs with the fence in writers_unlock: either the CAS below sees
         * the lock free, or that releaser sees our count and signals. */
        achan__fence_seq_cst();
        if (writers_try_lock(c))
            break;
        pthread_cond_wait(&c->sleep_cond, &c->sleep_lock);
    }
    n = achan__size_load_relaxed(&c->writers_sleeping);
    achan__size_store_relaxed(&c->writers_sleeping, n - 1);
    pthread_mutex_unlock(&c->sleep_lock);
}

static void writers_lock(achan__watch_chan *c) {
    achan__backoff b = ACHAN__BACKOFF_INIT;
    while (!writers_try_lock(c)) {
        if (!achan__backoff_snooze(&b)) {
            writers_lock_slow(c);
            return;
        }
    }
}

/* Releases the lock; with notify (a new version or CLOSED was published),
 * wakes the waiting receivers. Wakers run after the lock is released. */
static void writers_unlock(achan__watch_chan *c, bool notify) {
    /* Release: pairs with the next writer's CAS (writers_try_lock). */
    achan__size_store_release(&c->write_lock, 0);
    /* One fence for two Dekker pairs: with register_waiter's fence (a
     * receiver that queued before it is seen here, one that queues after
     * it sees the new state) and with writers_lock_slow's fence. */
    achan__fence_seq_cst();
    /* Relaxed: ordered by the fence above. A sleeping writer first: one
     * signal, rather than after every receiver's waker has run. */
    if (achan__size_load_relaxed(&c->writers_sleeping) != 0) {
        pthread_mutex_lock(&c->sleep_lock);
        pthread_cond_signal(&c->sleep_cond);
        pthread_mutex_unlock(&c->sleep_lock);
    }
    /* Relaxed: ordered by the fence above. */
    if (notify && achan__size_load_relaxed(&c->rx_waiting))
        wake_waiters(c);
}

/* Queues rx with a clone of waker (replacing an earlier one), then fences:
 * re-check after this. */
static void register_waiter(achan_watch_receiver *rx, const achan_waker *waker) {
    achan__watch_chan *c = rx->chan;
    achan_waker fresh = achan_waker_clone(waker), old;
    bool has_old;
    achan__waitlist_lock(&c->waiters);
    if (!rx->waiter.linked) {
        achan__waitlist_push_back(&c->waiters, &rx->waiter);
        c->nwaiting++;
        /* Relaxed: the fence below orders it before our re-check. */
        achan__size_store_relaxed(&c->rx_waiting, 1);
        /* Relaxed: read by ourselves, or by a later owner after whatever
         * synchronisation handed it the receiver. */
        achan__size_store_relaxed(&rx->queued, 1);
    }
    achan__waiter_set_waker(&rx->waiter, fresh, &old, &has_old);
    achan__waitlist_unlock(&c->waiters);
    if (has_old)
        achan_waker_drop(old);
    /* Pairs with the fence in writers_unlock. */
    achan__fence_seq_cst();
}

/* Takes rx out of the queue, if it is queued, and drops its waker. */
static void unregister(achan_watch_receiver *rx) {
    /* Acquire: pairs with unlink_waiter's release; 0 means the node is out
     * of the list and its waker was taken. */
    if (!achan__size_load_acquire(&rx->queued))
        return;
    achan__watch_chan *c = rx->chan;
    achan__wake_batch b = {.n = 0};
    achan__waitlist_lock(&c->waiters);
    if (rx->waiter.linked)
        unlink_waiter(c, rx, &b);
    achan__waitlist_unlock(&c->waiters);
    /* Our own waker: released, not woken. */
    for (size_t i = 0; i < b.n; i++)
        achan_waker_drop(b.wakers[i]);
}

/* ------------------------------------------------------------------------ */
/* Creation and teardown.                                                    */

static achan_watch_receiver *receiver_new(achan__watch_chan *c, size_t seen) {
    achan_watch_receiver *rx = achan__alloc(&c->alloc, sizeof *rx, alignof(achan_watch_receiver));
    if (!rx)
        return NULL;
    rx->stream.vtbl = &receiver_stream_vtbl;
    rx->stream.item_size = c->item_size;
    rx->chan = c;
    rx->tag = ACHAN__TAG_WATCH_RX;
    rx->seen = seen;
    rx->started = false;
    rx->ended = false;
    achan__size_init(&rx->queued, 0);
    achan__waiter_init(&rx->waiter);
    /* Relaxed: the caller holds a handle, so refs cannot reach zero
     * meanwhile, and the increments publish nothing. */
    achan__size_fetch_add_relaxed(&c->refs, 1);
    achan__size_fetch_add_relaxed(&c->rx_count, 1);
    return rx;
}

/* Byte offsets of data (0: inline_data, on seq's line) and shadow, and the
 * total size; false if too big. */
static bool layout(size_t item_size, size_t *data_off, size_t *shadow_off, size_t *size) {
    size_t head = achan__round_up(sizeof(achan__watch_chan), ACHAN__CACHE_LINE);
    if (item_size > (SIZE_MAX - head) / 2 - 2 * (size_t)ACHAN__CACHE_LINE)
        return false;
    size_t bytes = achan__round_up(item_size, WORD);
    bool fits = bytes <= INLINE_WORDS * WORD;
    *data_off = fits ? 0 : head;
    *shadow_off = fits ? head : achan__round_up(head + bytes, ACHAN__CACHE_LINE);
    *size = *shadow_off + bytes;
    return true;
}

static achan__watch_chan *chan_new(const achan_opts *o, const void *initial, size_t data_off,
                                   size_t shadow_off, size_t size) {
    achan_allocator alloc;
    achan__allocator_copy(&alloc, o->allocator);
    achan__watch_chan *c = achan__alloc(&alloc, size, ACHAN__CACHE_LINE);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    if (pthread_mutex_init(&c->sleep_lock, NULL) != 0) {
        achan__free(&alloc, c, size);
        return NULL;
    }
    if (pthread_cond_init(&c->sleep_cond, NULL) != 0) {
        pthread_mutex_destroy(&c->sleep_lock);
        achan__free(&alloc, c, size);
        return NULL;
    }
    if (!achan__waitlist_init(&c->waiters)) {
        pthread_cond_destroy(&c->sleep_cond);
        pthread_mutex_destroy(&c->sleep_lock);
        achan__free(&alloc, c, size);
        return NULL;
    }
    c->tx.tag = ACHAN__TAG_WATCH_TX;
    c->item_size = o->item_size;
    c->nwords = achan__round_up(o->item_size, WORD) / WORD;
    c->alloc = alloc;
    c->alloc_size = size;
    c->data = data_off ? (achan__atomic_size *)((char *)c + data_off) : c->inline_data;
    c->shadow = (unsigned char *)c + shadow_off;
    memset(c->shadow, 0, c->nwords * WORD);
    memcpy(c->shadow, initial, o->item_size);
    for (size_t i = 0; i < c->nwords; i++) {
        size_t w;
        memcpy(&w, c->shadow + i * WORD, WORD);
        achan__size_init(&c->data[i], w);
    }
    achan__size_init(&c->seq, 0);
    achan__size_init(&c->state, 0);
    achan__size_init(&c->write_lock, 0);
    achan__size_init(&c->writers_sleeping, 0);
    c->nwaiting = 0;
    achan__size_init(&c->rx_waiting, 0);
    achan__size_init(&c->refs, 1); /* The sender; receivers add theirs. */
    achan__size_init(&c->rx_count, 0);
    achan__waker_cell_init(&c->tx_waker);
    return c;
}

/* Teardown by the last handle: nothing else can touch c. */
static void chan_free(achan__watch_chan *c) {
    achan__waker_cell_destroy(&c->tx_waker);
    achan__waitlist_destroy(&c->waiters);
    pthread_cond_destroy(&c->sleep_cond);
    pthread_mutex_destroy(&c->sleep_lock);
    achan_allocator alloc = c->alloc;
    achan__free(&alloc, c, c->alloc_size);
}

static void chan_release(achan__watch_chan *c) {
    /* acq_rel: the last releaser must see every other handle's last use. */
    if (achan__size_fetch_sub_acq_rel(&c->refs, 1) == 1)
        chan_free(c);
}

achan_status achan_watch_new(const achan_opts *o, const void *initial, achan_watch_sender **tx,
                             achan_watch_receiver **rx) {
    if (!o || !initial || !tx || !rx || o->item_size == 0 || !achan__allocator_valid(o->allocator))
        return ACHAN_INVALID;
    size_t data_off, shadow_off, size;
    if (!layout(o->item_size, &data_off, &shadow_off, &size))
        return ACHAN_INVALID;
    achan__watch_chan *c = chan_new(o, initial, data_off, shadow_off, size);
    if (!c)
        return ACHAN_NOMEM;
    achan_watch_receiver *r = receiver_new(c, 0);
    if (!r) {
        chan_release(c); /* Drops the sender's reference: frees c. */
        return ACHAN_NOMEM;
    }
    *tx = &c->tx;
    *rx = r;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* Sender.                                                                   */

static achan_status store(achan__watch_chan *c, const void *value, void *old_out) {
    writers_lock(c);
    if (old_out)
        memcpy(old_out, c->shadow, c->item_size);
    memcpy(c->shadow, value, c->item_size);
    publish(c, true);
    writers_unlock(c, true);
    return ACHAN_OK;
}

achan_status achan_watch_send(achan_watch_sender *tx, const void *value) {
    if (!tx || !value)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    achan__watch_chan *c = chan_of_tx(tx);
    /* Acquire: pairs with the acq_rel decrement of the last receiver. */
    if (achan__size_load_acquire(&c->rx_count) == 0)
        return ACHAN_CLOSED;
    return store(c, value, NULL);
}

void achan_watch_send_replace(achan_watch_sender *tx, const void *value, void *old_out) {
    if (!tx || !value)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    store(chan_of_tx(tx), value, old_out);
}

void achan_watch_send_modify(achan_watch_sender *tx, void (*fn)(void *value, void *u), void *u) {
    if (!tx || !fn)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    achan__watch_chan *c = chan_of_tx(tx);
    writers_lock(c);
    fn(c->shadow, u);
    publish(c, true);
    writers_unlock(c, true);
}

bool achan_watch_send_if_modified(achan_watch_sender *tx, bool (*fn)(void *value, void *u),
                                  void *u) {
    if (!tx || !fn)
        return false;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    achan__watch_chan *c = chan_of_tx(tx);
    writers_lock(c);
    bool modified = fn(c->shadow, u);
    /* Published either way: the changes stay, but only a true result counts
     * as a new version that receivers are told about. */
    publish(c, modified);
    writers_unlock(c, modified);
    return modified;
}

achan_watch_receiver *achan_watch_subscribe(achan_watch_sender *tx) {
    if (!tx)
        return NULL;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    achan__watch_chan *c = chan_of_tx(tx);
    /* Acquire: the current version, which counts as seen. */
    size_t v = achan__size_load_acquire(&c->state) & ~(size_t)STATE_CLOSED;
    return receiver_new(c, v);
}

size_t achan_watch_receiver_count(const achan_watch_sender *tx) {
    if (!tx)
        return 0;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    /* Acquire: pairs with the receivers' acq_rel decrements. */
    return achan__size_load_acquire(&chan_of_tx(tx)->rx_count);
}

achan_status achan_watch_poll_closed(achan_watch_sender *tx, achan_context *cx) {
    if (!tx || !achan__cx_valid(cx))
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    achan__watch_chan *c = chan_of_tx(tx);
    /* Acquire: pairs with the last receiver's acq_rel decrement. */
    if (achan__size_load_acquire(&c->rx_count) == 0)
        return ACHAN_OK;
    /* Register, then look again (waker_cell.h); a subscribe may reopen the
     * channel, so "closed" is re-checked on every poll. */
    achan__waker_cell_register(&c->tx_waker, cx->waker);
    if (achan__size_load_acquire(&c->rx_count) == 0)
        return ACHAN_OK;
    return ACHAN_PENDING;
}

void achan_watch_sender_drop(achan_watch_sender *tx) {
    if (!tx)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_WATCH_TX);
    tx->tag = ACHAN__TAG_DEAD;
    achan__watch_chan *c = chan_of_tx(tx);
    /* Under write_lock, as every write of state (see publish). Release:
     * receivers that see CLOSED (acquire) see every value sent. */
    writers_lock(c);
    size_t st = achan__size_load_relaxed(&c->state);
    achan__size_store_release(&c->state, st | STATE_CLOSED);
    writers_unlock(c, true);
    achan__waker_cell_clear(&c->tx_waker);
    chan_release(c);
}

/* ------------------------------------------------------------------------ */
/* Receivers.                                                                */

achan_watch_receiver *achan_watch_receiver_clone(achan_watch_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    return receiver_new(rx->chan, rx->seen);
}

void achan_watch_borrow(achan_watch_receiver *rx, void *out) {
    if (!rx || !out)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    read_value(rx->chan, out);
}

void achan_watch_borrow_and_update(achan_watch_receiver *rx, void *out) {
    if (!rx || !out)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    rx->seen = read_value(rx->chan, out);
}

achan_status achan_watch_has_changed(const achan_watch_receiver *rx) {
    if (!rx)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    /* Acquire: pairs with the writers' version bump and the sender's drop. */
    size_t s = achan__size_load_acquire(&rx->chan->state);
    if (s & STATE_CLOSED)
        return ACHAN_CLOSED;
    return (s & ~(size_t)STATE_CLOSED) != rx->seen ? ACHAN_OK : ACHAN_EMPTY;
}

/* OK (marked seen) when an unseen version exists, CLOSED when the sender is
 * gone and the current version was seen, else EMPTY. */
static achan_status check_changed(achan_watch_receiver *rx) {
    /* Acquire: pairs with the writers' version bump and the sender's drop. */
    size_t s = achan__size_load_acquire(&rx->chan->state);
    size_t v = s & ~(size_t)STATE_CLOSED;
    if (v != rx->seen) {
        rx->seen = v;
        return ACHAN_OK;
    }
    return (s & STATE_CLOSED) ? ACHAN_CLOSED : ACHAN_EMPTY;
}

achan_status achan_watch_poll_changed(achan_watch_receiver *rx, achan_context *cx) {
    if (!rx || !achan__cx_valid(cx))
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    achan_status st = check_changed(rx);
    if (st == ACHAN_EMPTY) {
        /* Register, then look again: a change published after this look
         * sees our node (design notes). */
        register_waiter(rx, cx->waker);
        st = check_changed(rx);
        if (st == ACHAN_EMPTY)
            return ACHAN_PENDING;
    }
    unregister(rx); /* A registration from an earlier poll is not needed now. */
    return st;
}

static achan_status changed_poll(void *arg, achan_context *cx) {
    return achan_watch_poll_changed(arg, cx);
}

static achan_status changed_cancel(void *arg) {
    unregister(arg);
    return ACHAN_TIMEOUT;
}

achan_status achan_watch_changed_blocking(achan_watch_receiver *rx, int64_t timeout_ns) {
    if (!rx)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    achan__backoff b = ACHAN__BACKOFF_INIT;
    for (;;) {
        achan_status st = check_changed(rx);
        if (st != ACHAN_EMPTY) {
            unregister(rx);
            return st;
        }
        if (timeout_ns == 0)
            return ACHAN_TIMEOUT;
        if (!achan__backoff_snooze(&b))
            break;
    }
    return achan__block_poll(changed_poll, changed_cancel, rx, achan__deadline_after(timeout_ns));
}

void achan_watch_mark_changed(achan_watch_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    rx->seen -= VERSION_STEP; /* Wraps; any value other than the current will do. */
}

void achan_watch_mark_unchanged(achan_watch_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    /* Acquire: pairs with the writers' version bump. */
    rx->seen = achan__size_load_acquire(&rx->chan->state) & ~(size_t)STATE_CLOSED;
}

void achan_watch_receiver_drop(achan_watch_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    achan__watch_chan *c = rx->chan;
    unregister(rx);
    /* acq_rel: a sender that reads zero (acquire) sees this receiver gone. */
    if (achan__size_fetch_sub_acq_rel(&c->rx_count, 1) == 1)
        achan__waker_cell_notify(&c->tx_waker);
    rx->tag = ACHAN__TAG_DEAD;
    achan__free(&c->alloc, rx, sizeof *rx);
    chan_release(c);
}

achan_stream *achan_watch_receiver_stream(achan_watch_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    return &rx->stream;
}

achan_stream *achan_watch_receiver_stream_from_changes(achan_watch_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_WATCH_RX);
    rx->started = true; /* No immediate first item. */
    return &rx->stream;
}

/* WatchStream::new: the current value at once, then the latest value after
 * each change, then CLOSED forever. */
static achan_status receiver_stream_poll(achan_stream *s, achan_context *cx, void *item) {
    achan_watch_receiver *rx = (achan_watch_receiver *)s;
    if (rx->ended)
        return ACHAN_CLOSED;
    if (!rx->started) {
        rx->started = true;
        achan_watch_borrow_and_update(rx, item);
        return ACHAN_OK;
    }
    achan_status st = achan_watch_poll_changed(rx, cx);
    if (st == ACHAN_OK)
        achan_watch_borrow_and_update(rx, item);
    else if (st == ACHAN_CLOSED)
        rx->ended = true;
    return st;
}

static void receiver_stream_drop(achan_stream *s) {
    achan_watch_receiver_drop((achan_watch_receiver *)s);
}

static const achan_stream_vtbl receiver_stream_vtbl = {receiver_stream_poll, receiver_stream_drop};
