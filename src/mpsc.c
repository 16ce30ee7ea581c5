/* mpsc.c - the multi-producer, single-consumer channel (see achan/mpsc.h).
 *
 * Design notes.
 *
 * One allocation holds the channel, the receiver and (bounded) the ring's
 * slots; every sender is an allocation of its own holding its place in the
 * send queue. `refs` counts handles; the last one to go frees everything,
 * passing items never received to item_drop.
 *
 * The queue is the lock-free ring (bounded) or segment list (unbounded).
 * Around it:
 *
 *   rx_waker     the receiver's waker cell. Every successful push is followed
 *                by achan__waker_cell_notify (a fence and, unless the receiver
 *                waits, one plain load). Receiving registers, then re-checks.
 *
 *   send_queue   bounded only: FIFO of senders waiting for capacity, under a
 *                mutex. The first waiter sets the ring's slow bit, which
 *                makes every unqueued push report FULL (no barging), and
 *                send_waiting, which the consumer reads after each pop. Slots
 *                freed while senders wait are granted to them in order: the
 *                grant is counted in `grants`, and a granted sender's next
 *                poll_send pushes with `granted`, which cannot fail. When the
 *                queue is empty and no grant is outstanding the slow bit and
 *                send_waiting are cleared and pushes run lock-free again.
 *
 *   the Dekker pair for capacity: the consumer frees a slot (release store
 *   of its stamp), fences, and reads send_waiting; a new waiter stores
 *   send_waiting, fences, and checks for free slots. One of them sees the
 *   other, so a slot is never freed unseen while a sender waits for it.
 *
 * States of a sender's waiter (all under the send_queue lock):
 *   idle     -> queued   poll_send found the channel full
 *   queued   -> granted  a slot was set aside for it (removed from the list)
 *   granted  -> idle     its poll_send pushed into that slot
 *   queued   -> idle     the receiver closed (next poll_send returns CLOSED),
 *                        or cancel / drop
 *   granted  -> idle     cancel / drop: the grant is handed to the next waiter
 * tx->waiting (owner-only) is true from queued until the owner sees idle.
 *
 * Ending: the receiver sees ACHAN_CLOSED once every sender is gone, or it
 * closed and no grant is outstanding, and nothing is left to pop. Both
 * conditions are read before a last pop, so an item sent just before the
 * last sender went is still received. Whoever makes the condition true (last
 * sender drop, last grant cancelled after close) notifies the receiver.
 */
#include "achan/mpsc.h"

#include <assert.h>
#include <sched.h>
#include <string.h>

#include "alloc.h"
#include "atomics.h"
#include "check.h"
#include "mpsc_internal.h"
#include "parker.h"
#include "ring.h"
#include "seglist.h"
#include "waitlist.h"
#include "waker_cell.h"

enum {
    RX_CLOSED = 1,  /* The receiver called close (or drop). */
    RX_DROPPED = 2, /* The receiver is gone: granted sends fail too. */
};

struct achan_mpsc_receiver {
    achan_stream stream; /* First: the receiver is its own stream. */
    bool ended;          /* A receive returned ACHAN_CLOSED. */
    uint32_t tag;        /* ACHAN__TAG_MPSC_RX while alive (check.h). */
};

typedef struct achan__mpsc_chan {
    /* Read-only after creation. */
    size_t item_size;
    size_t capacity; /* 0: unbounded. */
    void (*item_drop)(void *item, void *user);
    void *user;
    achan_allocator alloc;
    size_t alloc_size;
    void *scratch; /* item_size bytes for draining at teardown. */
    achan_mpsc_receiver rx;

    /* Read by producers after each push, written when the receiver waits. */
    ACHAN__CACHE_ALIGNED achan__waker_cell rx_waker;
    achan__atomic_size rx_state; /* RX_CLOSED | RX_DROPPED. */
    /* Read by the consumer after each pop; nonzero in slow mode. */
    achan__atomic_size send_waiting;

    /* Handle counts: written on clone and drop only. */
    ACHAN__CACHE_ALIGNED achan__atomic_size refs; /* Senders + receiver alive. */
    achan__atomic_size tx_count;                  /* Senders alive. */

    /* Bounded slow path. */
    ACHAN__CACHE_ALIGNED achan__waitlist send_queue;
    size_t grants;                 /* Under the lock: slots set aside for granted senders. */
    achan__atomic_size grants_out; /* A copy of grants for lock-free readers. */

    union {
        achan__ring ring;
        achan__seglist list;
    } q;
} achan__mpsc_chan;

struct achan_mpsc_sender {
    achan__mpsc_chan *chan;
    achan__waiter waiter; /* Under the send_queue lock. */
    bool waiting;         /* Owner-only: waiter queued or granted. */
    uint32_t tag;         /* ACHAN__TAG_MPSC_TX while alive (check.h). */
};

#define CHAN_OF(rx) ((achan__mpsc_chan *)((char *)(rx) - offsetof(achan__mpsc_chan, rx)))

static const achan_stream_vtbl receiver_stream_vtbl;

static bool bounded(const achan__mpsc_chan *c) { return c->capacity != 0; }

/* ------------------------------------------------------------------------ */
/* Creation and teardown.                                                    */

static size_t header_size(void) {
    return achan__round_up(sizeof(achan__mpsc_chan), ACHAN__CACHE_LINE);
}

static achan_status chan_new(const achan_opts *o, achan__mpsc_chan **out) {
    size_t slots = 0;
    if (o->capacity) {
        if (o->capacity > ACHAN__RING_MAX_CAP)
            return ACHAN_INVALID;
        slots = achan__ring_slots_size(o->capacity, o->item_size);
        if (slots == SIZE_MAX)
            return ACHAN_INVALID;
    }
    size_t scratch_off = header_size() + slots;
    if (o->item_size > SIZE_MAX - scratch_off - ACHAN__CACHE_LINE)
        return ACHAN_INVALID;
    size_t size = scratch_off + o->item_size;

    achan_allocator alloc;
    achan__allocator_copy(&alloc, o->allocator);
    achan__mpsc_chan *c = achan__alloc(&alloc, size, ACHAN__CACHE_LINE);
    if (!c)
        return ACHAN_NOMEM;
    memset(c, 0, sizeof *c);
    c->item_size = o->item_size;
    c->capacity = o->capacity;
    c->item_drop = o->item_drop;
    c->user = o->user;
    c->alloc = alloc;
    c->alloc_size = size;
    c->scratch = (char *)c + scratch_off;

    if (!achan__waitlist_init(&c->send_queue)) {
        achan__free(&alloc, c, size);
        return ACHAN_NOMEM;
    }
    if (o->capacity) {
        achan__ring_init(&c->q.ring, (char *)c + header_size(), o->capacity, o->item_size);
    } else if (achan__seglist_init(&c->q.list, o->item_size, &c->alloc) != ACHAN_OK) {
        achan__waitlist_destroy(&c->send_queue);
        achan__free(&alloc, c, size);
        return ACHAN_NOMEM;
    }
    achan__waker_cell_init(&c->rx_waker);
    achan__size_init(&c->rx_state, 0);
    achan__size_init(&c->send_waiting, 0);
    achan__size_init(&c->refs, 1); /* The receiver; senders add theirs. */
    achan__size_init(&c->tx_count, 0);
    achan__size_init(&c->grants_out, 0);
    c->grants = 0;
    c->rx.stream.vtbl = &receiver_stream_vtbl;
    c->rx.stream.item_size = o->item_size;
    c->rx.ended = false;
    c->rx.tag = ACHAN__TAG_MPSC_RX;
    *out = c;
    return ACHAN_OK;
}

/* Teardown by the last handle: nothing else can touch c. */
static void chan_free(achan__mpsc_chan *c) {
    if (bounded(c)) {
        while (achan__ring_pop(&c->q.ring, c->scratch) == ACHAN__POP_OK) {
            if (c->item_drop)
                c->item_drop(c->scratch, c->user);
        }
    } else {
        achan__seglist_destroy(&c->q.list, c->item_drop, c->user, c->scratch);
    }
    achan__waker_cell_destroy(&c->rx_waker);
    achan__waitlist_destroy(&c->send_queue);
    achan_allocator alloc = c->alloc;
    achan__free(&alloc, c, c->alloc_size);
}

static void chan_release(achan__mpsc_chan *c) {
    /* acq_rel: the last releaser must see every other handle's last use. */
    if (achan__size_fetch_sub_acq_rel(&c->refs, 1) == 1)
        chan_free(c);
}

static achan_mpsc_sender *sender_new(achan__mpsc_chan *c) {
    achan_mpsc_sender *tx = achan__alloc(&c->alloc, sizeof *tx, _Alignof(achan_mpsc_sender));
    if (!tx)
        return NULL;
    tx->chan = c;
    achan__waiter_init(&tx->waiter);
    tx->waiting = false;
    tx->tag = ACHAN__TAG_MPSC_TX;
    /* Relaxed: the caller holds a handle, so neither count can reach zero
     * meanwhile, and the increment publishes nothing. */
    achan__size_fetch_add_relaxed(&c->refs, 1);
    achan__size_fetch_add_relaxed(&c->tx_count, 1);
    return tx;
}

achan_status achan_mpsc_new(const achan_opts *o, achan_mpsc_sender **tx, achan_mpsc_receiver **rx) {
    if (!o || !tx || !rx || o->item_size == 0 || !achan__allocator_valid(o->allocator))
        return ACHAN_INVALID;
    achan__mpsc_chan *c;
    achan_status st = chan_new(o, &c);
    if (st != ACHAN_OK)
        return st;
    achan_mpsc_sender *s = sender_new(c);
    if (!s) {
        chan_release(c);
        return ACHAN_NOMEM;
    }
    *tx = s;
    *rx = &c->rx;
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* The bounded send queue (slow path; everything here holds the lock).       */

static bool rx_gone(const achan__mpsc_chan *c, size_t bit) {
    return (achan__size_load_acquire(&c->rx_state) & bit) != 0;
}

static void enter_slow_mode(achan__mpsc_chan *c) {
    achan__ring_set_flags(&c->q.ring, c->q.ring.slow_bit);
    /* Relaxed store; the fence orders it before our look for free slots. */
    achan__size_store_relaxed(&c->send_waiting, 1);
    /* Pairs with the consumer's fence after a pop (see the design notes). */
    achan__fence_seq_cst();
}

static void leave_slow_mode_if_idle(achan__mpsc_chan *c) {
    if (!achan__waitlist_empty(&c->send_queue) || c->grants != 0)
        return;
    achan__size_store_relaxed(&c->send_waiting, 0);
    achan__ring_clear_flags(&c->q.ring, c->q.ring.slow_bit);
}

static void set_grants(achan__mpsc_chan *c, size_t grants) {
    c->grants = grants;
    /* Release: a receiver that reads the new count also sees the push that
     * consumed a grant (made before this store). */
    achan__size_store_release(&c->grants_out, grants);
}

/* Serves waiters in FIFO order while free slots remain: a waiter blocked in
 * send_blocking lent its item, which is sent for it right here (Go's direct
 * hand-off: the slot is used at once, whether or not that thread is running);
 * a poll_send waiter is granted the slot for its next poll. Their wakers go
 * to b. Sets *pushed when an item was sent. Returns true when b filled up
 * with slots left: call again after waking b. */
static bool serve_queue(achan__mpsc_chan *c, achan__wake_batch *b, bool *pushed) {
    achan__waiter *w;
    size_t grants = c->grants;
    bool more = false;
    while ((w = achan__waitlist_front(&c->send_queue)) != NULL &&
           achan__ring_free_ahead(&c->q.ring, grants)) {
        if (achan__wake_batch_full(b)) {
            more = true;
            break;
        }
        achan__waitlist_remove(&c->send_queue, w);
        if (w->item) {
            achan_status st = achan__ring_try_push(&c->q.ring, w->item, true);
            assert(st == ACHAN_OK);
            (void)st;
            w->item = NULL;
            w->done = true;
            *pushed = true;
        } else {
            w->granted = true;
            grants++;
        }
        achan__wake_batch_take(b, w);
    }
    if (grants != c->grants)
        set_grants(c, grants);
    leave_slow_mode_if_idle(c);
    return more;
}

static void notify_receiver(achan__mpsc_chan *c) { achan__waker_cell_notify(&c->rx_waker); }

/* Serves the send queue after slots were freed (or a grant returned). */
static void serve_waiters(achan__mpsc_chan *c) {
    achan__wake_batch b = {.n = 0};
    bool more, pushed = false;
    do {
        achan__waitlist_lock(&c->send_queue);
        more = serve_queue(c, &b, &pushed);
        achan__waitlist_unlock(&c->send_queue);
        achan__wake_batch_run(&b);
    } while (more);
    if (pushed)
        notify_receiver(c);
}

/* Pushes tx's item into the slot granted to it. Lock held. */
static achan_status push_granted(achan__mpsc_chan *c, achan_mpsc_sender *tx, const void *item) {
    tx->waiter.granted = false;
    tx->waiting = false;
    achan_status st = ACHAN_CLOSED;
    if (!rx_gone(c, RX_DROPPED)) {
        st = achan__ring_try_push(&c->q.ring, item, true);
        assert(st == ACHAN_OK);
    }
    set_grants(c, c->grants - 1);
    return st;
}

/* Takes tx out of the send queue. Lock held. Returns true when its lent item
 * had already been sent. Sets *regrant when it gave back a granted slot. */
static bool leave_queue(achan__mpsc_chan *c, achan_mpsc_sender *tx, bool *regrant) {
    achan__waiter *w = &tx->waiter;
    bool done = w->done;
    if (w->linked) {
        achan__waitlist_remove(&c->send_queue, w);
    } else if (w->granted) {
        w->granted = false;
        set_grants(c, c->grants - 1);
        *regrant = true;
    }
    w->done = false;
    w->item = NULL;
    tx->waiting = false;
    return done;
}

/* ------------------------------------------------------------------------ */
/* Sending.                                                                  */

static achan_status push(achan__mpsc_chan *c, const void *item) {
    achan_status st = bounded(c) ? achan__ring_try_push(&c->q.ring, item, false)
                                 : achan__seglist_push(&c->q.list, item);
    if (st == ACHAN_OK)
        notify_receiver(c);
    return st;
}

/* After push() said FULL. In slow mode that may only mean the slow bit held
 * it off: with nobody queued and more free slots than grants, a slot is free
 * that belongs to no waiter, and (as a Tokio try_send takes an unassigned
 * permit) the send may have it. Tail moves only under the lock in slow mode,
 * so the check and the push are exact there. Slow mode may also have ended
 * between push() and our taking the lock: then lock-free senders are back
 * and may take a free slot first, so an ordinary push decides. */
static achan_status push_unreserved(achan__mpsc_chan *c, const void *item) {
    /* Relaxed: a stale 0 only means we report FULL as push() did. */
    if (!bounded(c) || !achan__size_load_relaxed(&c->send_waiting))
        return ACHAN_FULL;
    achan_status st = ACHAN_FULL;
    achan__waitlist_lock(&c->send_queue);
    if (rx_gone(c, RX_CLOSED)) {
        st = ACHAN_CLOSED;
    } else if (!achan__size_load_relaxed(&c->send_waiting)) {
        /* Relaxed: written only under this lock. Slow mode is over. */
        st = achan__ring_try_push(&c->q.ring, item, false);
    } else if (achan__waitlist_empty(&c->send_queue) &&
               achan__ring_free_ahead(&c->q.ring, c->grants)) {
        st = achan__ring_try_push(&c->q.ring, item, true);
        assert(st == ACHAN_OK);
    }
    achan__waitlist_unlock(&c->send_queue);
    if (st == ACHAN_OK)
        notify_receiver(c);
    return st;
}

/* A send that does not wait: the lock-free push, then the unreserved slot. */
static achan_status send_now(achan__mpsc_chan *c, const void *item) {
    achan_status st = push(c, item);
    return st == ACHAN_FULL ? push_unreserved(c, item) : st;
}

achan_status achan_mpsc_try_send(achan_mpsc_sender *tx, const void *item) {
    if (!tx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    return send_now(tx->chan, item);
}

/* What to do with our own waiter's result while the lock is held. */
static achan_status own_result(achan__mpsc_chan *c, achan_mpsc_sender *tx, const void *item) {
    achan__waiter *w = &tx->waiter;
    if (w->done) {
        w->done = false;
        tx->waiting = false;
        return ACHAN_OK; /* Sent for us by serve_queue. */
    }
    if (w->granted)
        return push_granted(c, tx, item);
    return ACHAN_PENDING;
}

/* poll_send once the fast path found the ring full or tx already waits.
 * With lend, the item stays valid until the caller's wait ends (it is
 * send_blocking's), so a consumer may send it for us. */
static achan_status poll_send_slow(achan_mpsc_sender *tx, achan_context *cx, const void *item,
                                   bool lend) {
    achan__mpsc_chan *c = tx->chan;
    achan__wake_batch wake = {.n = 0};
    achan_waker fresh = achan_waker_clone(cx->waker), old;
    bool has_old = false, more = false, regrant = false, pushed = false;

    achan__waitlist_lock(&c->send_queue);
    achan_status st = own_result(c, tx, item);
    if (st == ACHAN_PENDING && rx_gone(c, RX_CLOSED)) {
        leave_queue(c, tx, &regrant);
        st = ACHAN_CLOSED;
    } else if (st == ACHAN_PENDING) {
        if (!tx->waiting) {
            achan__waitlist_push_back(&c->send_queue, &tx->waiter);
            tx->waiting = true;
            enter_slow_mode(c);
        }
        tx->waiter.item = lend ? item : NULL;
        more = serve_queue(c, &wake, &pushed); /* A slot may have freed meanwhile. */
        st = own_result(c, tx, item);
        if (st == ACHAN_PENDING) {
            achan__waiter_set_waker(&tx->waiter, fresh, &old, &has_old);
            fresh.vtbl = NULL; /* Moved into the waiter. */
        } else {
            tx->waiter.item = NULL;
        }
    }
    if (st != ACHAN_PENDING && tx->waiter.has_waker) {
        /* Our own waker, left from an earlier poll: released, not woken. */
        old = tx->waiter.waker;
        has_old = true;
        tx->waiter.has_waker = false;
    }
    if (regrant)
        more |= serve_queue(c, &wake, &pushed);
    leave_slow_mode_if_idle(c);
    achan__waitlist_unlock(&c->send_queue);

    if (fresh.vtbl)
        achan_waker_drop(fresh);
    if (has_old)
        achan_waker_drop(old);
    achan__wake_batch_run(&wake);
    if (more)
        serve_waiters(c);
    if (st == ACHAN_OK || pushed)
        notify_receiver(c);
    return st;
}

achan_status achan_mpsc_poll_send(achan_mpsc_sender *tx, achan_context *cx, const void *item) {
    if (!tx || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    achan__mpsc_chan *c = tx->chan;
    if (!tx->waiting) {
        achan_status st = push(c, item);
        if (st != ACHAN_FULL)
            return st;
    }
    return poll_send_slow(tx, cx, item, false);
}

/* Leaves the send queue; returns true when a lent item was sent meanwhile. */
static bool cancel_wait(achan_mpsc_sender *tx) {
    if (!tx->waiting)
        return false;
    achan__mpsc_chan *c = tx->chan;
    achan__wake_batch wake = {.n = 0};
    bool regrant = false, more = false, pushed = false;
    achan_waker old;
    achan__waitlist_lock(&c->send_queue);
    bool done = leave_queue(c, tx, &regrant);
    bool has_old = tx->waiter.has_waker;
    old = tx->waiter.waker;
    tx->waiter.has_waker = false;
    if (regrant)
        more = serve_queue(c, &wake, &pushed);
    leave_slow_mode_if_idle(c);
    size_t grants = c->grants;
    achan__waitlist_unlock(&c->send_queue);

    if (has_old)
        achan_waker_drop(old);
    achan__wake_batch_run(&wake);
    if (more)
        serve_waiters(c);
    /* A closed receiver may have been waiting for the last grant to go. */
    if (pushed || (regrant && grants == 0 && rx_gone(c, RX_CLOSED)))
        notify_receiver(c);
    return done;
}

void achan_mpsc_poll_send_cancel(achan_mpsc_sender *tx) {
    if (!tx)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    cancel_wait(tx);
}

typedef struct {
    achan_mpsc_sender *tx;
    const void *item;
} send_args;

static achan_status send_poll(void *arg, achan_context *cx) {
    send_args *a = arg;
    achan__mpsc_chan *c = a->tx->chan;
    if (!a->tx->waiting) {
        achan_status st = push(c, a->item);
        if (st != ACHAN_FULL)
            return st;
    }
    return poll_send_slow(a->tx, cx, a->item, true);
}

static achan_status send_cancel(void *arg) {
    return cancel_wait(((send_args *)arg)->tx) ? ACHAN_OK : ACHAN_TIMEOUT;
}

achan_status achan_mpsc_send_blocking(achan_mpsc_sender *tx, const void *item, int64_t timeout_ns) {
    if (!tx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    if (!tx->waiting) {
        achan__backoff b = ACHAN__BACKOFF_INIT;
        for (;;) {
            achan_status st = send_now(tx->chan, item);
            if (st != ACHAN_FULL)
                return st;
            if (timeout_ns == 0)
                return ACHAN_TIMEOUT;
            if (!achan__backoff_snooze(&b))
                break;
        }
    }
    send_args a = {tx, item};
    return achan__block_poll(send_poll, send_cancel, &a, achan__deadline_after(timeout_ns));
}

achan_mpsc_sender *achan_mpsc_sender_clone(achan_mpsc_sender *tx) {
    if (!tx)
        return NULL;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    return sender_new(tx->chan);
}

void achan_mpsc_sender_drop(achan_mpsc_sender *tx) {
    if (!tx)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    achan__mpsc_chan *c = tx->chan;
    cancel_wait(tx);
    /* acq_rel: the receiver's acquire load of tx_count == 0 must see every
     * push this sender made. */
    if (achan__size_fetch_sub_acq_rel(&c->tx_count, 1) == 1)
        notify_receiver(c);
    tx->tag = ACHAN__TAG_DEAD;
    achan__free(&c->alloc, tx, sizeof *tx);
    chan_release(c);
}

bool achan_mpsc_sender_is_closed(const achan_mpsc_sender *tx) {
    if (!tx)
        return true;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    return rx_gone(tx->chan, RX_CLOSED);
}

size_t achan_mpsc_capacity(const achan_mpsc_sender *tx) {
    if (!tx)
        return 0;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_MPSC_TX);
    const achan__mpsc_chan *c = tx->chan;
    if (!bounded(c))
        return SIZE_MAX;
    size_t used = achan__ring_len(&c->q.ring) + achan__size_load_acquire(&c->grants_out);
    return used >= c->capacity ? 0 : c->capacity - used;
}

/* ------------------------------------------------------------------------ */
/* Receiving.                                                                */

static achan__pop_result pop(achan__mpsc_chan *c, void *item) {
    return bounded(c) ? achan__ring_pop(&c->q.ring, item) : achan__seglist_pop(&c->q.list, item);
}

/* After popping: senders may wait for the slots just freed. */
static void after_pop(achan__mpsc_chan *c) {
    if (!bounded(c))
        return;
    /* Pairs with the fence in enter_slow_mode (see the design notes). */
    achan__fence_seq_cst();
    /* Relaxed: ordered by the fence above. */
    if (achan__size_load_relaxed(&c->send_waiting))
        serve_waiters(c);
}

/* True when no item can arrive any more: every sender gone, or the receiver
 * closed and no granted send is outstanding. */
static bool no_more_sends(const achan__mpsc_chan *c) {
    if (achan__size_load_acquire(&c->tx_count) == 0)
        return true;
    return rx_gone(c, RX_CLOSED) && achan__size_load_acquire(&c->grants_out) == 0;
}

static bool head_ready(const achan__mpsc_chan *c) {
    return bounded(c) ? achan__ring_head_ready(&c->q.ring) : achan__seglist_head_ready(&c->q.list);
}

/* Pops, and when nothing can be popped decides between waiting and ended:
 * returns OK, EMPTY (still open) or CLOSED; *busy tells an EMPTY that is an
 * item still being written. A receiver that only waits (not try_recv) does
 * not need *busy: with `peek` it first looks at the head slot alone, and
 * touches the producers' state only when the channel may have ended. */
static achan_status recv_step(achan__mpsc_chan *c, void *item, bool peek, bool *busy) {
    *busy = false;
    if (peek && !head_ready(c) && !no_more_sends(c))
        return ACHAN_EMPTY;
    achan__pop_result r = pop(c, item);
    if (r == ACHAN__POP_EMPTY && no_more_sends(c)) {
        /* Pop again: an item sent just before the condition became true
         * (the last sender dropped after sending) must still be received. */
        r = pop(c, item);
        if (r == ACHAN__POP_EMPTY)
            return ACHAN_CLOSED;
    }
    if (r == ACHAN__POP_OK) {
        after_pop(c);
        return ACHAN_OK;
    }
    *busy = r == ACHAN__POP_BUSY;
    return ACHAN_EMPTY;
}

achan_status achan_mpsc_try_recv(achan_mpsc_receiver *rx, void *item) {
    if (!rx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    if (rx->ended)
        return ACHAN_CLOSED;
    achan__mpsc_chan *c = CHAN_OF(rx);
    bool busy;
    achan_status st;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    /* A busy slot belongs to a send in progress; another send may already
     * have completed behind it, so wait for it rather than report EMPTY. */
    while ((st = recv_step(c, item, false, &busy)) == ACHAN_EMPTY && busy) {
        if (!achan__backoff_snooze(&b))
            sched_yield();
    }
    if (st == ACHAN_CLOSED)
        rx->ended = true;
    return st;
}

achan_status achan_mpsc_poll_recv(achan_mpsc_receiver *rx, achan_context *cx, void *item) {
    if (!rx || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    if (rx->ended)
        return ACHAN_CLOSED;
    /* Tokio's recv consumes cooperative budget: a task draining an always
     * full channel yields after its budget (stream.h). Checked after `ended`
     * so an ended stream keeps returning ACHAN_CLOSED. */
    if (!achan_coop_proceed(cx))
        return ACHAN_PENDING;
    achan__mpsc_chan *c = CHAN_OF(rx);
    bool busy;
    achan_status st = recv_step(c, item, true, &busy);
    if (st == ACHAN_EMPTY) {
        /* Register, then look again: a send that completes after this look
         * sees our waker (waker_cell.h). A busy slot's producer notifies when
         * it publishes, so PENDING is right for it too. */
        achan__waker_cell_register(&c->rx_waker, cx->waker);
        st = recv_step(c, item, true, &busy);
        if (st == ACHAN_EMPTY)
            return ACHAN_PENDING;
    }
    if (st == ACHAN_CLOSED)
        rx->ended = true;
    return st;
}

size_t achan_mpsc_poll_recv_many(achan_mpsc_receiver *rx, achan_context *cx, void *items,
                                 size_t max, achan_status *st) {
    achan_status ignored;
    if (!st)
        st = &ignored;
    if (!rx || !achan__cx_valid(cx) || !items || max == 0) {
        *st = ACHAN_INVALID;
        return 0;
    }
    achan__mpsc_chan *c = CHAN_OF(rx);
    *st = achan_mpsc_poll_recv(rx, cx, items);
    if (*st != ACHAN_OK)
        return 0;
    size_t n = 1;
    char *out = items;
    /* More without registering again; one after_pop covers the batch. */
    while (n < max && pop(c, out + n * c->item_size) == ACHAN__POP_OK)
        n++;
    if (n > 1)
        after_pop(c);
    return n;
}

typedef struct {
    achan_mpsc_receiver *rx;
    void *item;
} recv_args;

static achan_status recv_poll(void *arg, achan_context *cx) {
    recv_args *a = arg;
    return achan_mpsc_poll_recv(a->rx, cx, a->item);
}

achan_status achan_mpsc_recv_blocking(achan_mpsc_receiver *rx, void *item, int64_t timeout_ns) {
    if (!rx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    if (rx->ended)
        return ACHAN_CLOSED;
    achan__mpsc_chan *c = CHAN_OF(rx);
    bool busy;
    achan_status st;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    for (;;) {
        /* With timeout 0 this is a try_recv: exact, so never spuriously empty. */
        st = recv_step(c, item, timeout_ns != 0, &busy);
        if (st != ACHAN_EMPTY)
            break;
        if (timeout_ns == 0 && !busy)
            return ACHAN_TIMEOUT;
        if (!achan__backoff_snooze(&b)) {
            recv_args a = {rx, item};
            return achan__block_poll(recv_poll, NULL, &a, achan__deadline_after(timeout_ns));
        }
    }
    if (st == ACHAN_CLOSED)
        rx->ended = true;
    return st;
}

void achan_mpsc_receiver_close(achan_mpsc_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    achan__mpsc_chan *c = CHAN_OF(rx);
    if (achan__size_fetch_or_acq_rel(&c->rx_state, RX_CLOSED) & RX_CLOSED)
        return;
    if (!bounded(c)) {
        achan__seglist_close(&c->q.list);
        return;
    }
    achan__ring_set_flags(&c->q.ring, c->q.ring.closed_bit);
    /* Wake every queued sender: its next poll_send returns CLOSED. Granted
     * senders keep their slot (Tokio: a send whose permit was acquired
     * before close still goes through). */
    achan__wake_batch b = {.n = 0};
    bool more;
    do {
        achan__waitlist_lock(&c->send_queue);
        achan__waiter *w;
        while (!achan__wake_batch_full(&b) && (w = achan__waitlist_front(&c->send_queue))) {
            achan__waitlist_remove(&c->send_queue, w);
            achan__wake_batch_take(&b, w);
        }
        more = !achan__waitlist_empty(&c->send_queue);
        leave_slow_mode_if_idle(c);
        achan__waitlist_unlock(&c->send_queue);
        achan__wake_batch_run(&b);
    } while (more);
}

void achan_mpsc_receiver_drop(achan_mpsc_receiver *rx) {
    if (!rx)
        return;
    achan__mpsc_chan *c = CHAN_OF(rx);
    achan_mpsc_receiver_close(rx);
    achan__size_fetch_or_acq_rel(&c->rx_state, RX_DROPPED);
    achan__waker_cell_clear(&c->rx_waker);
    /* Items published so far go to item_drop now; one still being written
     * goes when the last handle frees the channel. */
    while (pop(c, c->scratch) == ACHAN__POP_OK) {
        if (c->item_drop)
            c->item_drop(c->scratch, c->user);
    }
    rx->tag = ACHAN__TAG_DEAD;
    chan_release(c);
}

size_t achan_mpsc_len(const achan_mpsc_receiver *rx) {
    if (!rx)
        return 0;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    const achan__mpsc_chan *c = CHAN_OF(rx);
    return bounded(c) ? achan__ring_len(&c->q.ring) : achan__seglist_len(&c->q.list);
}

achan_stream *achan_mpsc_receiver_stream(achan_mpsc_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_MPSC_RX);
    return &rx->stream;
}

static achan_status receiver_stream_poll(achan_stream *s, achan_context *cx, void *item) {
    return achan_mpsc_poll_recv((achan_mpsc_receiver *)s, cx, item);
}

static void receiver_stream_drop(achan_stream *s) {
    achan_mpsc_receiver_drop((achan_mpsc_receiver *)s);
}

static const achan_stream_vtbl receiver_stream_vtbl = {receiver_stream_poll, receiver_stream_drop};

achan_mpsc_receiver *achan__mpsc_receiver_of(achan_stream *s) {
    return s && s->vtbl == &receiver_stream_vtbl ? (achan_mpsc_receiver *)s : NULL;
}
