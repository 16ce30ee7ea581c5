/* broadcast.c - the broadcast channel (see achan/broadcast.h).
 *
 * Design notes.
 *
 * One allocation holds the channel and the broadcast ring's slots; every
 * sender and every receiver is an allocation of its own (a receiver on its
 * own cache lines: its position is its hot state). `refs` counts handles;
 * the last one to go frees everything. Items are plain bytes, so nothing is
 * ever dropped: a message simply stays in its slot until overwritten.
 *
 * Messages travel through the lock-free broadcast ring (ring.h): a send is
 * one fetch_add on the ring's tail plus a seqlock write of one slot; a
 * receive is a seqlock read of one slot at the receiver's own position
 * (`next`), which only its owner writes. Neither side takes a lock or
 * allocates per message, and the senders' hot word (tail) and each
 * receiver's (next) sit on separate cache lines.
 *
 * Waiting (slow path only). A receiver that finds nothing queues its
 * embedded waiter in `waiters` (FIFO under a mutex) with a clone of its
 * waker, and keeps the number of queued waiters in `rx_waiting`:
 *
 *   receiver (poll_recv)                  sender (after each send, last drop)
 *   ------------------------------------  ------------------------------------
 *   lock; queue waiter; rx_waiting = n;   publish (ring: release of done(p);
 *   unlock                                  last drop: tx_count fetch_sub)
 *   seq_cst fence                         seq_cst fence
 *   re-check the ring and tx_count        if rx_waiting != 0: lock, dequeue
 *   still nothing: PENDING                  every waiter, take its waker,
 *                                           unlock, wake them
 *
 * One side sees the other (the Dekker pair of atomics.h), so a wake is never
 * lost, and a send that finds nobody waiting pays one fence and one load.
 * Wakers are collected under the lock with achan__wake_batch and woken after
 * unlocking (the loop goes round again if the batch fills); a waker is never
 * cloned, woken or dropped while the lock is held, because it may call back
 * into this channel (Tokio's send_in_waker_drop).
 *
 * A receiver's `queued` word is 1 while its waiter is in the list: set by the
 * owner and cleared by whoever dequeues it, both under the lock; the clearing
 * store is a release, the owner reads it with acquire, and after reading 0
 * the owner knows no sender will touch its waiter again (so it may free it).
 * While queued is 1 the waiter holds a clone of `registered`, so polling
 * again with a waker that will_wake that one needs no lock at all.
 *
 * Ending: a receiver returns ACHAN_CLOSED when the ring has nothing at its
 * position, tx_count is 0 (acquire: pairs with the last sender's acq_rel
 * decrement, so every message sent before is visible), and a second look at
 * the ring still finds nothing. No sender can appear after tx_count reached 0
 * (clone and subscribe need a sender), so CLOSED is final.
 */
#include "achan/broadcast.h"

#include <sched.h>
#include <string.h>

#include "alloc.h"
#include "atomics.h"
#include "check.h"
#include "parker.h"
#include "ring.h"
#include "waitlist.h"

typedef struct achan__bcast_chan {
    /* tail on a line of its own (senders), then the read-only fields. */
    achan__bcast_ring ring;

    /* Read after every send and by receivers that find nothing; written
     * only when a receiver starts or stops waiting, and on subscribe, drop
     * and clone. */
    ACHAN__CACHE_ALIGNED achan__atomic_size
        rx_waiting;              /* Queued waiters (stored under the lock). */
    achan__atomic_size rx_count; /* Receivers alive. */
    achan__atomic_size tx_count; /* Senders alive. */

    /* Handles, the slow path, and read-only bookkeeping. */
    ACHAN__CACHE_ALIGNED achan__atomic_size refs; /* Senders + receivers alive. */
    achan__waitlist waiters;
    size_t nwaiting; /* Under the lock: waiters queued. */
    achan_allocator alloc;
    size_t alloc_size;
} achan__bcast_chan;

struct achan_broadcast_sender {
    achan__bcast_chan *chan;
    uint32_t tag; /* ACHAN__TAG_BCAST_TX while alive (check.h). */
};

struct achan_broadcast_receiver {
    achan_stream stream; /* First: the receiver is its own stream. */
    uint32_t tag;        /* ACHAN__TAG_BCAST_RX while alive (check.h). */
    achan__bcast_chan *chan;
    /* Written by the owner only; atomic so that len and receiver_skipped may
     * read them from any thread. */
    achan__atomic_size next;    /* Position of the next message to read. */
    achan__atomic_size skipped; /* Messages missed so far. */
    bool ended;                 /* A receive returned ACHAN_CLOSED. */
    /* Waiting: see the design notes. */
    achan__atomic_size queued;
    achan_waker registered; /* Owner-only: the waker last queued (valid while queued). */
    achan__waiter waiter;   /* Under the waitlist lock. */
};

#define RX_OF_WAITER(w)                                                                            \
    ((achan_broadcast_receiver *)((char *)(w)-offsetof(achan_broadcast_receiver, waiter)))

static const achan_stream_vtbl receiver_stream_vtbl;

/* ------------------------------------------------------------------------ */
/* Creation and teardown.                                                    */

static size_t header_size(void) {
    return achan__round_up(sizeof(achan__bcast_chan), ACHAN__CACHE_LINE);
}

static size_t receiver_size(void) {
    return achan__round_up(sizeof(achan_broadcast_receiver), ACHAN__CACHE_LINE);
}

static achan_status chan_new(const achan_opts *o, achan__bcast_chan **out) {
    size_t cap = achan__bcast_ring_capacity(o->capacity);
    if (cap == 0)
        return ACHAN_INVALID;
    size_t slots = achan__bcast_ring_slots_size(cap, o->item_size);
    if (slots == SIZE_MAX || slots > SIZE_MAX - header_size())
        return ACHAN_INVALID;
    size_t size = header_size() + slots;

    achan_allocator alloc;
    achan__allocator_copy(&alloc, o->allocator);
    achan__bcast_chan *c = achan__alloc(&alloc, size, ACHAN__CACHE_LINE);
    if (!c)
        return ACHAN_NOMEM;
    memset(c, 0, sizeof *c);
    if (!achan__waitlist_init(&c->waiters)) {
        achan__free(&alloc, c, size);
        return ACHAN_NOMEM;
    }
    achan__bcast_ring_init(&c->ring, (char *)c + header_size(), cap, o->item_size);
    achan__size_init(&c->rx_waiting, 0);
    achan__size_init(&c->rx_count, 0);
    achan__size_init(&c->tx_count, 0);
    achan__size_init(&c->refs, 0);
    c->nwaiting = 0;
    c->alloc = alloc;
    c->alloc_size = size;
    *out = c;
    return ACHAN_OK;
}

/* Teardown, when no handle is left. */
static void chan_free(achan__bcast_chan *c) {
    achan__waitlist_destroy(&c->waiters);
    achan_allocator alloc = c->alloc;
    achan__free(&alloc, c, c->alloc_size);
}

static void chan_release(achan__bcast_chan *c) {
    /* acq_rel: the last releaser must see every other handle's last use. */
    if (achan__size_fetch_sub_acq_rel(&c->refs, 1) == 1)
        chan_free(c);
}

static achan_broadcast_sender *sender_new(achan__bcast_chan *c) {
    achan_broadcast_sender *tx =
        achan__alloc(&c->alloc, sizeof *tx, _Alignof(achan_broadcast_sender));
    if (!tx)
        return NULL;
    tx->chan = c;
    tx->tag = ACHAN__TAG_BCAST_TX;
    /* Relaxed: the caller holds a handle (or is creating the channel), so
     * neither count can reach zero meanwhile, and the increments publish
     * nothing. */
    achan__size_fetch_add_relaxed(&c->refs, 1);
    achan__size_fetch_add_relaxed(&c->tx_count, 1);
    return tx;
}

/* A receiver at the ring's current tail. */
static achan_broadcast_receiver *receiver_new(achan__bcast_chan *c) {
    achan_broadcast_receiver *rx = achan__alloc(&c->alloc, receiver_size(), ACHAN__CACHE_LINE);
    if (!rx)
        return NULL;
    memset(rx, 0, sizeof *rx);
    rx->stream.vtbl = &receiver_stream_vtbl;
    rx->stream.item_size = c->ring.item_size;
    rx->chan = c;
    rx->tag = ACHAN__TAG_BCAST_RX;
    /* The position first, then the count: a send that counts this receiver
     * is at or after the position, so it is received (a racing send may be
     * received without having counted it, never the reverse). */
    achan__size_init(&rx->next, achan__bcast_ring_tail(&c->ring));
    achan__size_init(&rx->skipped, 0);
    achan__size_init(&rx->queued, 0);
    achan__waiter_init(&rx->waiter);
    /* Relaxed: as in sender_new. */
    achan__size_fetch_add_relaxed(&c->refs, 1);
    achan__size_fetch_add_relaxed(&c->rx_count, 1);
    return rx;
}

achan_status achan_broadcast_new(const achan_opts *o, achan_broadcast_sender **tx,
                                 achan_broadcast_receiver **rx) {
    if (!o || !tx || !rx || o->item_size == 0 || !achan__allocator_valid(o->allocator))
        return ACHAN_INVALID;
    achan__bcast_chan *c;
    achan_status st = chan_new(o, &c);
    if (st != ACHAN_OK)
        return st;
    achan_broadcast_sender *s = sender_new(c);
    if (!s) {
        chan_free(c); /* No handle exists yet. */
        return ACHAN_NOMEM;
    }
    achan_broadcast_receiver *r = receiver_new(c);
    if (!r) {
        achan_broadcast_sender_drop(s); /* The last handle: frees the channel. */
        return ACHAN_NOMEM;
    }
    *tx = s;
    *rx = r;
    return ACHAN_OK;
}

achan_broadcast_sender *achan_broadcast_sender_clone(achan_broadcast_sender *tx) {
    if (!tx)
        return NULL;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_BCAST_TX);
    return sender_new(tx->chan);
}

achan_broadcast_receiver *achan_broadcast_subscribe(achan_broadcast_sender *tx) {
    if (!tx)
        return NULL;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_BCAST_TX);
    return receiver_new(tx->chan);
}

achan_broadcast_receiver *achan_broadcast_resubscribe(achan_broadcast_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    return receiver_new(rx->chan);
}

/* ------------------------------------------------------------------------ */
/* The waiting list (slow path).                                             */

/* Takes rx's waiter out of the list and its waker into *w (or leaves *has
 * false). Lock held. */
static void dequeue(achan__bcast_chan *c, achan_broadcast_receiver *rx, achan_waker *w, bool *has) {
    *has = false;
    if (rx->waiter.linked) {
        achan__waitlist_remove(&c->waiters, &rx->waiter);
        c->nwaiting--;
        /* Relaxed: a hint for senders, re-read after their fence; the lock
         * orders it for the next waiter. */
        achan__size_store_relaxed(&c->rx_waiting, c->nwaiting);
    }
    if (rx->waiter.has_waker) {
        *w = rx->waiter.waker;
        rx->waiter.has_waker = false;
        *has = true;
    }
    /* Release, and our last touch of rx: the owner's acquire load of 0 may
     * free it at once. */
    achan__size_store_release(&rx->queued, 0);
}

/* Wakes every receiver queued when it starts (later arrivals wait for the
 * next send, unless they land in a batch that is still being filled). */
static void wake_all(achan__bcast_chan *c) {
    achan__wake_batch b = {.n = 0};
    size_t budget = 0;
    bool first = true, more;
    do {
        achan__waitlist_lock(&c->waiters);
        if (first)
            budget = c->nwaiting;
        first = false;
        achan__waiter *w;
        while (budget > 0 && !achan__wake_batch_full(&b) &&
               (w = achan__waitlist_front(&c->waiters)) != NULL) {
            achan_waker wk;
            bool has;
            dequeue(c, RX_OF_WAITER(w), &wk, &has);
            if (has)
                b.wakers[b.n++] = wk;
            budget--;
        }
        more = budget > 0 && !achan__waitlist_empty(&c->waiters);
        achan__waitlist_unlock(&c->waiters);
        achan__wake_batch_run(&b);
    } while (more);
}

/* Call after publishing a message or the last sender's drop. */
static void notify_receivers(achan__bcast_chan *c) {
    /* Pairs with the fence in register_waiter (see the design notes). */
    achan__fence_seq_cst();
    /* Relaxed: ordered by the fence above. */
    if (achan__size_load_relaxed(&c->rx_waiting) != 0)
        wake_all(c);
}

/* Queues rx with a clone of w; ends with the seq_cst fence after which the
 * caller re-checks the ring. */
static void register_waiter(achan_broadcast_receiver *rx, const achan_waker *w) {
    achan__bcast_chan *c = rx->chan;
    /* Acquire: pairs with dequeue's release store. */
    if (achan__size_load_acquire(&rx->queued) != 0 && achan_waker_will_wake(&rx->registered, w)) {
        /* Still queued with a waker for the same task: nothing to change.
         * A sender that dequeues us from now on wakes that waker. */
        achan__fence_seq_cst();
        return;
    }
    achan_waker fresh = achan_waker_clone(w), old;
    bool has_old;
    achan__waitlist_lock(&c->waiters);
    achan__waiter_set_waker(&rx->waiter, fresh, &old, &has_old);
    if (!rx->waiter.linked) {
        achan__waitlist_push_back(&c->waiters, &rx->waiter);
        c->nwaiting++;
        /* Relaxed: the fence below orders it before our re-check. */
        achan__size_store_relaxed(&c->rx_waiting, c->nwaiting);
        /* Relaxed: read by the owner (this thread) or under the lock. */
        achan__size_store_relaxed(&rx->queued, 1);
    }
    achan__waitlist_unlock(&c->waiters);
    rx->registered = fresh;
    if (has_old)
        achan_waker_drop(old); /* May send on this channel: no lock held. */
    /* Pairs with the fence in notify_receivers. */
    achan__fence_seq_cst();
}

/* Takes rx out of the waiting list, if it is there; its waker goes to *w. */
static bool unregister_waiter(achan_broadcast_receiver *rx, achan_waker *w) {
    /* Acquire: pairs with dequeue's release store; 0 means no sender will
     * touch our waiter again. */
    if (achan__size_load_acquire(&rx->queued) == 0)
        return false;
    achan__bcast_chan *c = rx->chan;
    bool has;
    achan__waitlist_lock(&c->waiters);
    dequeue(c, rx, w, &has);
    achan__waitlist_unlock(&c->waiters);
    return has;
}

static void unregister_and_drop(achan_broadcast_receiver *rx) {
    achan_waker w;
    if (unregister_waiter(rx, &w))
        achan_waker_drop(w);
}

/* ------------------------------------------------------------------------ */
/* Sending.                                                                  */

achan_status achan_broadcast_send(achan_broadcast_sender *tx, const void *item, size_t *receivers) {
    if (!tx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_BCAST_TX);
    achan__bcast_chan *c = tx->chan;
    /* Relaxed: a count only; the message itself travels through the ring. */
    size_t n = achan__size_load_relaxed(&c->rx_count);
    if (receivers)
        *receivers = n;
    if (n == 0)
        return ACHAN_CLOSED;
    achan__bcast_ring_push(&c->ring, item);
    notify_receivers(c);
    return ACHAN_OK;
}

void achan_broadcast_sender_drop(achan_broadcast_sender *tx) {
    if (!tx)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_BCAST_TX);
    achan__bcast_chan *c = tx->chan;
    tx->tag = ACHAN__TAG_DEAD;
    achan__free(&c->alloc, tx, sizeof *tx);
    /* acq_rel: a receiver's acquire load of tx_count == 0 must see every
     * message this sender sent. */
    if (achan__size_fetch_sub_acq_rel(&c->tx_count, 1) == 1)
        notify_receivers(c);
    chan_release(c);
}

size_t achan_broadcast_receiver_count(const achan_broadcast_sender *tx) {
    if (!tx)
        return 0;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_BCAST_TX);
    /* Relaxed: a snapshot of a count. */
    return achan__size_load_relaxed(&tx->chan->rx_count);
}

/* ------------------------------------------------------------------------ */
/* Receiving.                                                                */

/* One ring read at rx's position, which it advances on OK and LAGGED. */
static achan__bcast_read read_next(achan_broadcast_receiver *rx, void *item, uint64_t *skipped) {
    /* Relaxed: only this thread writes next and skipped. */
    size_t pos = achan__size_load_relaxed(&rx->next), lag = 0;
    achan__bcast_read r = achan__bcast_ring_read(&rx->chan->ring, &pos, item, &lag);
    if (r == ACHAN__BCAST_OK || r == ACHAN__BCAST_LAGGED)
        achan__size_store_relaxed(&rx->next, pos);
    if (r == ACHAN__BCAST_LAGGED) {
        *skipped = lag;
        achan__size_store_relaxed(&rx->skipped, achan__size_load_relaxed(&rx->skipped) + lag);
    }
    return r;
}

static bool no_senders(const achan__bcast_chan *c) {
    /* Acquire: pairs with the last sender's acq_rel decrement. */
    return achan__size_load_acquire(&c->tx_count) == 0;
}

/* One receive attempt: OK, LAGGED, CLOSED, or EMPTY (with *busy when a send
 * claimed the position and is still writing it). */
static achan_status recv_step(achan_broadcast_receiver *rx, void *item, uint64_t *skipped,
                              bool *busy) {
    *busy = false;
    achan__bcast_read r = read_next(rx, item, skipped);
    if (r == ACHAN__BCAST_EMPTY && no_senders(rx->chan)) {
        /* Look again: a message sent just before the last sender went must
         * still be received. */
        r = read_next(rx, item, skipped);
        if (r == ACHAN__BCAST_EMPTY) {
            rx->ended = true;
            return ACHAN_CLOSED;
        }
    }
    switch (r) {
    case ACHAN__BCAST_OK:
        return ACHAN_OK;
    case ACHAN__BCAST_LAGGED:
        return ACHAN_LAGGED;
    case ACHAN__BCAST_BUSY:
        *busy = true;
        return ACHAN_EMPTY;
    default:
        return ACHAN_EMPTY;
    }
}

achan_status achan_broadcast_try_recv(achan_broadcast_receiver *rx, void *item, uint64_t *skipped) {
    uint64_t ignored;
    if (!rx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    if (!skipped)
        skipped = &ignored;
    *skipped = 0;
    if (rx->ended)
        return ACHAN_CLOSED;
    bool busy;
    achan_status st;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    /* A busy position belongs to a send in progress; a later send may have
     * completed already, so wait for it rather than report EMPTY. */
    while ((st = recv_step(rx, item, skipped, &busy)) == ACHAN_EMPTY && busy) {
        if (!achan__backoff_snooze(&b))
            sched_yield();
    }
    return st;
}

achan_status achan_broadcast_poll_recv(achan_broadcast_receiver *rx, achan_context *cx, void *item,
                                       uint64_t *skipped) {
    uint64_t ignored;
    if (!rx || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    if (!skipped)
        skipped = &ignored;
    *skipped = 0;
    if (rx->ended)
        return ACHAN_CLOSED;
    bool busy;
    achan_status st = recv_step(rx, item, skipped, &busy);
    if (st == ACHAN_EMPTY) {
        /* Register, then look again (design notes). A busy position's
         * sender notifies when it publishes, so PENDING is right for it too. */
        register_waiter(rx, cx->waker);
        st = recv_step(rx, item, skipped, &busy);
        if (st == ACHAN_EMPTY)
            return ACHAN_PENDING;
    }
    /* Done without waiting (after all): leave the list, so no later send
     * wakes us for nothing. Nearly always a single load. */
    unregister_and_drop(rx);
    return st;
}

typedef struct {
    achan_broadcast_receiver *rx;
    void *item;
    uint64_t *skipped;
} recv_args;

static achan_status recv_poll(void *arg, achan_context *cx) {
    recv_args *a = arg;
    return achan_broadcast_poll_recv(a->rx, cx, a->item, a->skipped);
}

static achan_status recv_cancel(void *arg) {
    unregister_and_drop(((recv_args *)arg)->rx);
    return ACHAN_TIMEOUT;
}

achan_status achan_broadcast_recv_blocking(achan_broadcast_receiver *rx, void *item,
                                           uint64_t *skipped, int64_t timeout_ns) {
    uint64_t ignored;
    if (!rx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    if (!skipped)
        skipped = &ignored;
    *skipped = 0;
    if (rx->ended)
        return ACHAN_CLOSED;
    bool busy;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    for (;;) {
        achan_status st = recv_step(rx, item, skipped, &busy);
        if (st != ACHAN_EMPTY)
            return st;
        if (timeout_ns == 0 && !busy)
            return ACHAN_TIMEOUT;
        if (!achan__backoff_snooze(&b))
            break;
    }
    recv_args a = {rx, item, skipped};
    return achan__block_poll(recv_poll, recv_cancel, &a, achan__deadline_after(timeout_ns));
}

size_t achan_broadcast_len(const achan_broadcast_receiver *rx) {
    if (!rx)
        return 0;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    /* Relaxed: snapshots. next first: tail only grows. A reader on another
     * thread than the owner may still see a tail older than next; the
     * difference then wraps, and is reported as 0. */
    size_t next = achan__size_load_relaxed(&rx->next);
    size_t n = achan__bcast_ring_tail(&rx->chan->ring) - next;
    return n > SIZE_MAX / 2 ? 0 : n;
}

uint64_t achan_broadcast_receiver_skipped(const achan_broadcast_receiver *rx) {
    if (!rx)
        return 0;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    /* Relaxed: a snapshot of a count. */
    return (uint64_t)achan__size_load_relaxed(&rx->skipped);
}

void achan_broadcast_receiver_drop(achan_broadcast_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    achan__bcast_chan *c = rx->chan;
    achan_waker w;
    bool has = unregister_waiter(rx, &w);
    /* acq_rel where relaxed would do (the count publishes nothing; atomics.h
     * has no relaxed fetch_sub): a later send sees it after all. */
    achan__size_fetch_sub_acq_rel(&c->rx_count, 1);
    rx->tag = ACHAN__TAG_DEAD;
    achan__free(&c->alloc, rx, receiver_size());
    if (has)
        achan_waker_drop(w); /* May send on this channel: no lock held. */
    chan_release(c);
}

achan_stream *achan_broadcast_receiver_stream(achan_broadcast_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_BCAST_RX);
    return &rx->stream;
}

static achan_status receiver_stream_poll(achan_stream *s, achan_context *cx, void *item) {
    return achan_broadcast_poll_recv((achan_broadcast_receiver *)s, cx, item, NULL);
}

static void receiver_stream_drop(achan_stream *s) {
    achan_broadcast_receiver_drop((achan_broadcast_receiver *)s);
}

static const achan_stream_vtbl receiver_stream_vtbl = {receiver_stream_poll, receiver_stream_drop};
