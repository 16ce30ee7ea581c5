/* oneshot.c - the single-value channel (see achan/oneshot.h).
 *
 * Design notes.
 *
 * One allocation holds the channel header, the sender and receiver handles
 * (members of the header) and the value cell (after the header). All shared
 * state is one atomic word, Tokio's oneshot state plus two handle bits:
 *
 *   RX_TASK_SET  rx_task holds the receiver's waker;
 *   VALUE_SENT   the sender completed: it sent (has_value) or was dropped;
 *   CLOSED       the receiver closed or was dropped (only it sets this);
 *   TX_TASK_SET  tx_task holds the sender's poll_closed waker;
 *   TX_GONE, RX_GONE  the handle was released; whoever sets the second one
 *                frees the channel (a receiver dropped after it saw TX_GONE
 *                frees it without setting RX_GONE, see below).
 *
 * Who touches what:
 *
 *   value cell, has_value  the sender writes them before it sets VALUE_SENT
 *           (the acq_rel CAS publishes them); afterwards only the receiver
 *           (after an acquire load saw VALUE_SENT). A send that finds CLOSED
 *           never sets VALUE_SENT, so the receiver never looks at the cell.
 *   rx_task the receiver writes it only while RX_TASK_SET is clear, then sets
 *           the bit (release). The sender reads it (wake_by_ref) only when
 *           its VALUE_SENT CAS saw RX_TASK_SET. To replace its waker the
 *           receiver clears the bit first; if VALUE_SENT was already set, the
 *           sender may be reading the waker right now, so the receiver puts
 *           the bit back and leaves the waker for teardown (Tokio does the
 *           same).
 *   tx_task the mirror image: the sender writes it while TX_TASK_SET is
 *           clear; the receiver's close wakes it (by reference) when the
 *           bit is set and VALUE_SENT is not.
 *
 * Wakers are woken by reference and stay registered until it is certain the
 * other side will never touch them again: then the owner drops them early
 * (the sender after its VALUE_SENT CAS succeeded; the receiver after it set
 * CLOSED before any VALUE_SENT). Otherwise the last handle drops them. All
 * RMWs are on the one word, so their total order decides every race; no
 * fence is needed.
 *
 * Sender drop = completing with no value (VALUE_SENT, has_value false), so
 * the receiver's ACHAN_CLOSED comes from the same path as a value.
 *
 * The common life (send with nobody waiting, receive, drop) takes one
 * read-modify-write: a send that finds no waker and no CLOSED sets
 * VALUE_SENT and TX_GONE in one CAS, and a receiver dropped after it saw
 * TX_GONE (acquire) frees the channel without announcing anything, since no
 * other handle is left to look. Every other case takes the steps above.
 */
#include "achan/oneshot.h"

#include <stdalign.h>
#include <string.h>

#include "alloc.h"
#include "atomics.h"
#include "check.h"
#include "parker.h"

enum {
    RX_TASK_SET = 1,
    VALUE_SENT = 2,
    CLOSED = 4,
    TX_TASK_SET = 8,
    TX_GONE = 16,
    RX_GONE = 32,
};

struct achan_oneshot_sender {
    uint32_t tag; /* ACHAN__TAG_ONESHOT_TX while alive (check.h); else only an address. */
};

struct achan_oneshot_receiver {
    achan_stream stream; /* First: the receiver is its own stream. */
    achan_future future; /* And its own future. */
    bool done;           /* Receiver-only: a receive returned OK or CLOSED. */
    uint32_t tag;        /* ACHAN__TAG_ONESHOT_RX while alive (check.h). */
};

/* Kept small on purpose: 112 bytes on LP64, so a oneshot of a word-sized
 * value is one 120-byte block, which glibc serves from its lock-free
 * fastbins (at most 120 bytes) even when another thread frees it, and which
 * spans two cache lines. The item size lives in rx.stream; a custom
 * allocator's copy lives after the value (block_layout). */
typedef struct achan__oneshot_chan {
    achan__atomic_size state;
    achan_waker rx_task; /* Governed by RX_TASK_SET (design notes). */
    achan_waker tx_task; /* Governed by TX_TASK_SET. */
    /* Read-only after creation. */
    void (*item_drop)(void *item, void *user);
    void *user;
    const achan_allocator *alloc; /* The built-in one, or the copy in the block. */
    achan_oneshot_receiver rx;
    achan_oneshot_sender tx;
    bool has_value; /* The value cell holds a value (Tokio's Option<T>). */
} achan__oneshot_chan;

static achan__oneshot_chan *chan_of_tx(const achan_oneshot_sender *tx) {
    return (achan__oneshot_chan *)((const char *)tx - offsetof(achan__oneshot_chan, tx));
}

static achan__oneshot_chan *chan_of_rx(achan_oneshot_receiver *rx) {
    return (achan__oneshot_chan *)((char *)rx - offsetof(achan__oneshot_chan, rx));
}

static achan_oneshot_receiver *rx_of_future(achan_future *f) {
    return (achan_oneshot_receiver *)((char *)f - offsetof(achan_oneshot_receiver, future));
}

static const achan_stream_vtbl receiver_stream_vtbl;
static const achan_future_vtbl receiver_future_vtbl;

static size_t value_offset(void) {
    return achan__round_up(sizeof(achan__oneshot_chan), alignof(max_align_t));
}

static void *value_cell(achan__oneshot_chan *c) {
    return (char *)c + value_offset();
}

static size_t item_size(const achan__oneshot_chan *c) {
    return c->rx.stream.item_size;
}

/* The block: header, value cell, and for a custom allocator its copy (so
 * the header needs one pointer, not a whole achan_allocator). Returns the
 * block's size, or SIZE_MAX when item_size is too large; *copy_off gets the
 * copy's offset. */
static size_t block_layout(size_t item_size, bool custom, size_t *copy_off) {
    size_t slack = sizeof(achan_allocator) + alignof(achan_allocator);
    if (item_size > SIZE_MAX - value_offset() - slack)
        return SIZE_MAX;
    *copy_off = achan__round_up(value_offset() + item_size, alignof(achan_allocator));
    return custom ? *copy_off + sizeof(achan_allocator) : value_offset() + item_size;
}

/* ------------------------------------------------------------------------ */
/* Creation and teardown.                                                    */

achan_status achan_oneshot_new(const achan_opts *o, achan_oneshot_sender **tx,
                               achan_oneshot_receiver **rx) {
    if (!o || !tx || !rx || o->item_size == 0 || !achan__allocator_valid(o->allocator))
        return ACHAN_INVALID;
    bool custom = o->allocator != NULL;
    size_t copy_off;
    size_t size = block_layout(o->item_size, custom, &copy_off);
    if (size == SIZE_MAX)
        return ACHAN_INVALID;
    const achan_allocator *alloc = custom ? o->allocator : achan__builtin_allocator();
    achan__oneshot_chan *c = achan__alloc(alloc, size, alignof(max_align_t));
    if (!c)
        return ACHAN_NOMEM;
    memset(c, 0, sizeof *c);
    if (custom) {
        achan_allocator *copy = (achan_allocator *)(void *)((char *)c + copy_off);
        *copy = *o->allocator;
        alloc = copy;
    }
    achan__size_init(&c->state, 0);
    c->has_value = false;
    c->item_drop = o->item_drop;
    c->user = o->user;
    c->alloc = alloc;
    c->rx.stream.vtbl = &receiver_stream_vtbl;
    c->rx.stream.item_size = o->item_size;
    c->rx.future.vtbl = &receiver_future_vtbl;
    c->rx.future.output_size = o->item_size;
    c->rx.done = false;
    c->tx.tag = ACHAN__TAG_ONESHOT_TX;
    c->rx.tag = ACHAN__TAG_ONESHOT_RX;
    *tx = &c->tx;
    *rx = &c->rx;
    return ACHAN_OK;
}

/* Teardown by the last handle: nothing else can touch c. */
static void chan_free(achan__oneshot_chan *c) {
    /* Relaxed: the acq_rel RMW that made us last (or the receiver's acquire
     * load that saw TX_GONE) ordered every other access. */
    size_t s = achan__size_load_relaxed(&c->state);
    if (s & RX_TASK_SET)
        achan_waker_drop(c->rx_task);
    if (s & TX_TASK_SET)
        achan_waker_drop(c->tx_task);
    if (c->has_value && c->item_drop)
        c->item_drop(value_cell(c), c->user);
    /* The copy of a custom allocator goes with the block: copy it out. */
    achan_allocator alloc = *c->alloc;
    size_t copy_off;
    bool custom = c->alloc != achan__builtin_allocator();
    achan__free(&alloc, c, block_layout(item_size(c), custom, &copy_off));
}

/* Releases one handle (TX_GONE or RX_GONE); the second one frees. */
static void release(achan__oneshot_chan *c, size_t gone_bit) {
    /* acq_rel: publishes this handle's last accesses to the other one, and,
     * when we are last, acquires the other handle's. */
    size_t prev = achan__size_fetch_or_acq_rel(&c->state, gone_bit);
    if (prev & ((TX_GONE | RX_GONE) & ~gone_bit))
        chan_free(c);
}

/* ------------------------------------------------------------------------ */
/* Sender.                                                                   */

/* Sets VALUE_SENT unless CLOSED is set; returns the state before. Tokio's
 * set_complete: a CAS loop rather than fetch_or, because CLOSED must be
 * checked in the same step. */
static size_t set_complete(achan__oneshot_chan *c) {
    /* Relaxed: only a first guess for the CAS, which acquires. */
    size_t s = achan__size_load_relaxed(&c->state);
    /* acq_rel: the release publishes the value cell and has_value to the
     * receiver's acquire load of VALUE_SENT; the acquire makes the
     * receiver's rx_task (set before its release of RX_TASK_SET) readable. */
    while (!(s & CLOSED) && !achan__size_cas_acq_rel(&c->state, &s, s | VALUE_SENT)) {
    }
    return s;
}

/* The common case, in one step: no waker is registered on either side and
 * the receiver has not closed, so completing and releasing the sender is a
 * single CAS (VALUE_SENT | TX_GONE) instead of two read-modify-writes, each
 * of which would pull the state's cache line back from a receiver that is
 * polling it. Returns false, having changed nothing, otherwise. */
static bool complete_and_release_quietly(achan__oneshot_chan *c) {
    /* Relaxed: only a first guess for the CAS. */
    size_t s = achan__size_load_relaxed(&c->state);
    while (!(s & (CLOSED | RX_TASK_SET | TX_TASK_SET))) {
        /* acq_rel, as set_complete and release together: the release
         * publishes the value cell and has_value, and every access of the
         * sender, to the receiver's acquire of VALUE_SENT or TX_GONE. No
         * RX_GONE without CLOSED (the receiver closes first), so the
         * receiver is still there and frees the channel. */
        if (achan__size_cas_acq_rel(&c->state, &s, s | VALUE_SENT | TX_GONE))
            return true;
    }
    return false;
}

/* Completes the channel (a value is in the cell iff has_value) and releases
 * the sender. Returns false when the receiver had closed. */
static bool complete_and_release(achan__oneshot_chan *c) {
    if (complete_and_release_quietly(c))
        return true;
    size_t prev = set_complete(c);
    if (prev & CLOSED) {
        c->has_value = false; /* The caller keeps its item; the cell is dead. */
        release(c, TX_GONE);
        return false;
    }
    if (prev & RX_TASK_SET)
        achan_waker_wake_by_ref(&c->rx_task);
    if (prev & TX_TASK_SET) {
        /* VALUE_SENT is set, so the receiver will never wake tx_task: it is
         * ours alone, drop it now rather than with the channel. */
        achan__size_fetch_and_acq_rel(&c->state, ~(size_t)TX_TASK_SET);
        achan_waker_drop(c->tx_task);
    }
    release(c, TX_GONE);
    return true;
}

achan_status achan_oneshot_send(achan_oneshot_sender *tx, const void *item) {
    if (!tx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_ONESHOT_TX);
    tx->tag = ACHAN__TAG_DEAD; /* Consumed whatever the outcome. */
    achan__oneshot_chan *c = chan_of_tx(tx);
    /* Relaxed: a shortcut only (no copy into a dead cell); set_complete
     * decides. */
    if (achan__size_load_relaxed(&c->state) & CLOSED) {
        release(c, TX_GONE);
        return ACHAN_CLOSED;
    }
    memcpy(value_cell(c), item, item_size(c));
    c->has_value = true;
    return complete_and_release(c) ? ACHAN_OK : ACHAN_CLOSED;
}

void achan_oneshot_sender_drop(achan_oneshot_sender *tx) {
    if (!tx)
        return;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_ONESHOT_TX);
    tx->tag = ACHAN__TAG_DEAD;
    complete_and_release(chan_of_tx(tx));
}

bool achan_oneshot_sender_is_closed(const achan_oneshot_sender *tx) {
    if (!tx)
        return true;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_ONESHOT_TX);
    /* Acquire: pairs with the receiver's fetch_or of CLOSED. */
    return (achan__size_load_acquire(&chan_of_tx(tx)->state) & CLOSED) != 0;
}

achan_status achan_oneshot_poll_closed(achan_oneshot_sender *tx, achan_context *cx) {
    if (!tx || !achan__cx_valid(cx))
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(tx, ACHAN__TAG_ONESHOT_TX);
    achan__oneshot_chan *c = chan_of_tx(tx);
    /* Acquire: pairs with the receiver's fetch_or of CLOSED. */
    size_t s = achan__size_load_acquire(&c->state);
    if (s & CLOSED)
        return ACHAN_OK;
    if ((s & TX_TASK_SET) && !achan_waker_will_wake(&c->tx_task, cx->waker)) {
        /* Take the slot back before touching it. acq_rel: the receiver's
         * close, if first, may be waking tx_task right now. */
        s = achan__size_fetch_and_acq_rel(&c->state, ~(size_t)TX_TASK_SET);
        if (s & CLOSED) {
            /* The receiver may be waking it: leave it for teardown. */
            achan__size_fetch_or_acq_rel(&c->state, TX_TASK_SET);
            return ACHAN_OK;
        }
        achan_waker_drop(c->tx_task);
        s &= ~(size_t)TX_TASK_SET;
    }
    if (!(s & TX_TASK_SET)) {
        c->tx_task = achan_waker_clone(cx->waker);
        /* acq_rel: publishes tx_task to the receiver's close, and sees a
         * CLOSED that raced with us. */
        s = achan__size_fetch_or_acq_rel(&c->state, TX_TASK_SET);
        if (s & CLOSED)
            return ACHAN_OK;
    }
    return ACHAN_PENDING;
}

/* ------------------------------------------------------------------------ */
/* Receiver.                                                                 */

/* Takes the value once VALUE_SENT was seen (with acquire): the cell is ours. */
static achan_status take_value(achan__oneshot_chan *c, void *item) {
    if (!c->has_value)
        return ACHAN_CLOSED; /* The sender was dropped without sending. */
    memcpy(item, value_cell(c), item_size(c));
    c->has_value = false;
    return ACHAN_OK;
}

/* One non-waiting look: OK, CLOSED or EMPTY. */
static achan_status try_take(achan__oneshot_chan *c, void *item) {
    /* Acquire: pairs with the sender's CAS setting VALUE_SENT. */
    size_t s = achan__size_load_acquire(&c->state);
    if (s & VALUE_SENT)
        return take_value(c, item);
    if (s & CLOSED)
        return ACHAN_CLOSED;
    return ACHAN_EMPTY;
}

/* Tokio's Inner::poll_recv: OK, CLOSED or PENDING with cx's waker set. */
static achan_status poll_take(achan__oneshot_chan *c, achan_context *cx, void *item) {
    /* Acquire: pairs with the sender's CAS setting VALUE_SENT. */
    size_t s = achan__size_load_acquire(&c->state);
    if (s & VALUE_SENT)
        return take_value(c, item);
    if (s & CLOSED)
        return ACHAN_CLOSED; /* Only we set CLOSED, and nothing was sent before. */
    if ((s & RX_TASK_SET) && !achan_waker_will_wake(&c->rx_task, cx->waker)) {
        /* Take the slot back before replacing the waker. acq_rel: acquires
         * the value if the sender completed first. */
        s = achan__size_fetch_and_acq_rel(&c->state, ~(size_t)RX_TASK_SET);
        if (s & VALUE_SENT) {
            /* The sender saw our bit and may be waking rx_task right now:
             * put the bit back so teardown drops it. */
            achan__size_fetch_or_acq_rel(&c->state, RX_TASK_SET);
            return take_value(c, item);
        }
        achan_waker_drop(c->rx_task);
        s &= ~(size_t)RX_TASK_SET;
    }
    if (!(s & RX_TASK_SET)) {
        c->rx_task = achan_waker_clone(cx->waker);
        /* acq_rel: publishes rx_task to the sender's CAS; acquires the value
         * if the sender completed meanwhile (then the sender never saw our
         * bit and the waker stays for teardown). */
        s = achan__size_fetch_or_acq_rel(&c->state, RX_TASK_SET);
        if (s & VALUE_SENT)
            return take_value(c, item);
    }
    return ACHAN_PENDING;
}

/* Records a final result: every later receive returns CLOSED. */
static achan_status finish(achan_oneshot_receiver *rx, achan_status st) {
    if (st == ACHAN_OK || st == ACHAN_CLOSED)
        rx->done = true;
    return st;
}

achan_status achan_oneshot_try_recv(achan_oneshot_receiver *rx, void *item) {
    if (!rx || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    if (rx->done)
        return ACHAN_CLOSED;
    return finish(rx, try_take(chan_of_rx(rx), item));
}

achan_status achan_oneshot_poll_recv(achan_oneshot_receiver *rx, achan_context *cx, void *item) {
    if (!rx || !achan__cx_valid(cx) || !item)
        return ACHAN_INVALID;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    if (rx->done)
        return ACHAN_CLOSED; /* Tokio panics here; see oneshot.h. */
    return finish(rx, poll_take(chan_of_rx(rx), cx, item));
}

typedef struct {
    achan_oneshot_receiver *rx;
    void *item;
} recv_args;

static achan_status recv_poll(void *arg, achan_context *cx) {
    recv_args *a = arg;
    return achan_oneshot_poll_recv(a->rx, cx, a->item);
}

achan_status achan_oneshot_recv_blocking(achan_oneshot_receiver *rx, void *item,
                                         int64_t timeout_ns) {
    if (!rx || !item)
        return ACHAN_INVALID;
    achan__backoff b = ACHAN__BACKOFF_INIT;
    for (;;) {
        achan_status st = achan_oneshot_try_recv(rx, item);
        if (st != ACHAN_EMPTY)
            return st;
        if (timeout_ns == 0)
            return ACHAN_TIMEOUT;
        if (!achan__backoff_snooze(&b))
            break;
    }
    recv_args a = {rx, item};
    return achan__block_poll(recv_poll, NULL, &a, achan__deadline_after(timeout_ns));
}

/* Tokio's Inner::close: sets CLOSED, wakes a waiting poll_closed. Returns
 * the state before. Only the call that sets CLOSED wakes (Tokio wakes again
 * on a drop after close): poll_closed returns OK without registering once
 * CLOSED is set, so nobody can be waiting for a second wake. */
static size_t close_chan(achan__oneshot_chan *c) {
    /* acq_rel: publishes CLOSED; acquires tx_task if TX_TASK_SET was set. */
    size_t prev = achan__size_fetch_or_acq_rel(&c->state, CLOSED);
    if ((prev & TX_TASK_SET) && !(prev & (VALUE_SENT | CLOSED)))
        achan_waker_wake_by_ref(&c->tx_task);
    return prev;
}

void achan_oneshot_receiver_close(achan_oneshot_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    close_chan(chan_of_rx(rx));
}

void achan_oneshot_receiver_drop(achan_oneshot_receiver *rx) {
    if (!rx)
        return;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    rx->tag = ACHAN__TAG_DEAD;
    achan__oneshot_chan *c = chan_of_rx(rx);
    /* Acquire: pairs with the sender's release of TX_GONE. */
    if (achan__size_load_acquire(&c->state) & TX_GONE) {
        /* The sender is gone and will never touch the channel again: no
         * close to announce, no handle left to wait for. Free it now, with
         * an unreceived value and our own waker (chan_free). */
        chan_free(c);
        return;
    }
    size_t prev = close_chan(c);
    if (prev & VALUE_SENT) {
        /* The cell is ours: a value never received goes now. The sender may
         * still be waking rx_task, which therefore stays for teardown. */
        if (c->has_value && c->item_drop)
            c->item_drop(value_cell(c), c->user);
        c->has_value = false;
    } else if (prev & RX_TASK_SET) {
        /* CLOSED came first, so the sender will never read rx_task. */
        achan__size_fetch_and_acq_rel(&c->state, ~(size_t)RX_TASK_SET);
        achan_waker_drop(c->rx_task);
    }
    release(c, RX_GONE);
}

achan_stream *achan_oneshot_receiver_stream(achan_oneshot_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    return &rx->stream;
}

achan_future *achan_oneshot_receiver_future(achan_oneshot_receiver *rx) {
    if (!rx)
        return NULL;
    ACHAN__CHECK_HANDLE(rx, ACHAN__TAG_ONESHOT_RX);
    return &rx->future;
}

static achan_status receiver_stream_poll(achan_stream *s, achan_context *cx, void *item) {
    return achan_oneshot_poll_recv((achan_oneshot_receiver *)s, cx, item);
}

static void receiver_stream_drop(achan_stream *s) {
    achan_oneshot_receiver_drop((achan_oneshot_receiver *)s);
}

static const achan_stream_vtbl receiver_stream_vtbl = {receiver_stream_poll, receiver_stream_drop};

static achan_status receiver_future_poll(achan_future *f, achan_context *cx, void *out) {
    return achan_oneshot_poll_recv(rx_of_future(f), cx, out);
}

static void receiver_future_drop(achan_future *f) {
    achan_oneshot_receiver_drop(rx_of_future(f));
}

static const achan_future_vtbl receiver_future_vtbl = {receiver_future_poll, receiver_future_drop};
