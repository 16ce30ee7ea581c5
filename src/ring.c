/* ring.c - the lock-free rings (see ring.h): the bounded mpsc ring first,
 * the broadcast ring after it.
 *
 * Design notes (bounded mpsc ring; the broadcast ring has its own below).
 *
 * This is Dmitry Vyukov's bounded queue with crossbeam's encoding for exact
 * capacities. A position is `lap | index`: index in [0, cap) in the low bits,
 * lap a multiple of one_lap, a power of two above the index bits and the two
 * flag bits (closed, slow) that only tail carries. Going past the last index
 * moves to index 0 of the next lap, so no division is ever needed.
 *
 * Each slot has a stamp:
 *
 *   stamp == pos             free for the producer that claims position pos
 *   stamp == pos + 1         holds the item written at pos, for the consumer
 *   stamp == pos + one_lap   consumed; free for position pos + one_lap
 *
 * Producer: read tail; if the stamp of tail's slot equals tail's position the
 * slot is free, so CAS tail to the next position (the ticket), copy the item
 * in, and publish it by storing stamp = pos + 1 with release. If the stamp
 * is one lap behind (pos + 1 - one_lap), the slot still holds an unconsumed
 * item: the ring is full. Any other stamp means another producer took pos
 * since we read tail: re-read tail.
 *
 * Consumer: the slot at head is ready when its stamp is head + 1 (acquire,
 * pairs with the producer's release); copy the item out and free the slot
 * with release stamp = head + one_lap (pairs with the next producer's
 * acquire, so it never overwrites an item still being read). If the stamp is
 * not ready, tail tells empty (tail == head) from busy: a producer holds the
 * ticket but has not finished writing.
 *
 * tail's CAS is relaxed: it only hands out tickets. Slot ownership travels
 * through the stamps' acquire/release pairs, and flags are read from the
 * same word, so a CAS that succeeds knows no flag was set before it.
 *
 * Who touches what: producers write tail and the stamps and items of slots
 * they claimed; the consumer writes head and the stamps of slots it read.
 * Flags are set and cleared with atomic or/and by the mpsc layer.
 */
#include "ring.h"

#include <sched.h>
#include <string.h>

#include "alloc.h"
#include "parker.h"

typedef struct achan__ring_slot {
    achan__atomic_size stamp;
    unsigned char item[];
} achan__ring_slot;

static size_t slot_stride(size_t item_size) {
    if (item_size > SIZE_MAX - 2 * sizeof(achan__ring_slot))
        return SIZE_MAX;
    return achan__round_up(sizeof(achan__ring_slot) + item_size, sizeof(size_t));
}

static achan__ring_slot *slot_at(const achan__ring *r, size_t index) {
    return (achan__ring_slot *)(r->slots + index * r->stride);
}

static size_t flag_mask(const achan__ring *r) { return r->closed_bit | r->slow_bit; }

/* The position after pos. */
static size_t next_pos(const achan__ring *r, size_t pos) {
    size_t index = pos & r->index_mask;
    if (index + 1 < r->cap)
        return pos + 1;
    return (pos & ~r->index_mask) + r->one_lap;
}

size_t achan__ring_slots_size(size_t cap, size_t item_size) {
    size_t stride = slot_stride(item_size);
    if (stride == SIZE_MAX)
        return SIZE_MAX;
    return achan__mul_size(cap, stride);
}

void achan__ring_init(achan__ring *r, void *slots, size_t cap, size_t item_size) {
    unsigned bits = 0;
    while (((size_t)1 << bits) < cap)
        bits++;
    r->cap = cap;
    r->index_mask = ((size_t)1 << bits) - 1;
    r->closed_bit = (size_t)1 << bits;
    r->slow_bit = (size_t)2 << bits;
    r->one_lap = (size_t)4 << bits;
    r->stride = slot_stride(item_size);
    r->item_size = item_size;
    r->slots = slots;
    for (size_t i = 0; i < cap; i++)
        achan__size_init(&slot_at(r, i)->stamp, i);
    achan__size_init(&r->tail, 0);
    achan__size_init(&r->head, 0);
}

achan_status achan__ring_try_push(achan__ring *r, const void *item, bool granted) {
    const size_t flags = flag_mask(r);
    size_t tail = achan__size_load_relaxed(&r->tail);
    for (;;) {
        if (!granted) {
            if (tail & r->closed_bit)
                return ACHAN_CLOSED;
            if (tail & r->slow_bit)
                return ACHAN_FULL;
        }
        size_t pos = tail & ~flags;
        achan__ring_slot *slot = slot_at(r, pos & r->index_mask);
        /* Acquire: pairs with the consumer's release when it freed the slot. */
        size_t stamp = achan__size_load_acquire(&slot->stamp);
        if (stamp == pos) {
            if (achan__size_cas_relaxed(&r->tail, &tail, next_pos(r, pos) | (tail & flags))) {
                memcpy(slot->item, item, r->item_size);
                /* Release: publishes the item to the consumer's acquire. */
                achan__size_store_release(&slot->stamp, pos + 1);
                return ACHAN_OK;
            }
            /* The failed CAS reloaded tail; try again. */
        } else if (stamp + r->one_lap == pos + 1) {
            return ACHAN_FULL; /* The slot still holds last lap's item. */
        } else {
            /* Another producer claimed pos after we read tail. */
            achan__cpu_relax();
            tail = achan__size_load_relaxed(&r->tail);
        }
    }
}

achan__pop_result achan__ring_pop(achan__ring *r, void *item) {
    /* Relaxed: only this thread writes head. */
    size_t head = achan__size_load_relaxed(&r->head);
    achan__ring_slot *slot = slot_at(r, head & r->index_mask);
    /* Acquire: pairs with the producer's release that published the item. */
    if (achan__size_load_acquire(&slot->stamp) != head + 1) {
        size_t tail = achan__size_load_acquire(&r->tail) & ~flag_mask(r);
        return tail == head ? ACHAN__POP_EMPTY : ACHAN__POP_BUSY;
    }
    memcpy(item, slot->item, r->item_size);
    /* Release: the next producer of this slot must see our read finished. */
    achan__size_store_release(&slot->stamp, head + r->one_lap);
    /* Release: len() and free_ahead() readers see the slot freed. */
    achan__size_store_release(&r->head, next_pos(r, head));
    return ACHAN__POP_OK;
}

bool achan__ring_head_ready(const achan__ring *r) {
    /* Relaxed: a peek; the pop that follows loads the stamp with acquire. */
    size_t head = achan__size_load_relaxed(&r->head);
    return achan__size_load_relaxed(&slot_at(r, head & r->index_mask)->stamp) == head + 1;
}

size_t achan__ring_len(const achan__ring *r) {
    /* Head first: tail only grows, so tail - head cannot go negative. */
    size_t head = achan__size_load_acquire(&r->head);
    size_t tail = achan__size_load_acquire(&r->tail) & ~flag_mask(r);
    size_t laps = ((tail & ~r->index_mask) - (head & ~r->index_mask)) / r->one_lap;
    size_t n = laps * r->cap + (tail & r->index_mask) - (head & r->index_mask);
    return n > r->cap ? r->cap : n;
}

bool achan__ring_free_ahead(const achan__ring *r, size_t k) {
    if (k >= r->cap)
        return false;
    size_t pos = achan__size_load_acquire(&r->tail) & ~flag_mask(r);
    size_t index = (pos & r->index_mask) + k;
    size_t lap = pos & ~r->index_mask;
    if (index >= r->cap) {
        index -= r->cap;
        lap += r->one_lap;
    }
    /* Acquire: pairs with the consumer's release that freed the slot. */
    return achan__size_load_acquire(&slot_at(r, index)->stamp) == (lap | index);
}

void achan__ring_set_flags(achan__ring *r, size_t bits) {
    achan__size_fetch_or_acq_rel(&r->tail, bits);
}

void achan__ring_clear_flags(achan__ring *r, size_t bits) {
    achan__size_fetch_and_acq_rel(&r->tail, ~bits);
}

/* ======================================================================== */
/* The broadcast ring.
 *
 * Design notes.
 *
 * Positions. tail counts the messages ever sent: a send claims position p
 * with fetch_add(tail, 1) and writes slot p & mask. Positions only grow;
 * they are size_t and compared with wrapping arithmetic (on 32-bit systems a
 * reader that falls 2^31 messages behind would misjudge its lag).
 *
 * Each slot has a sequence word, in wrapping size_t arithmetic:
 *
 *   done(p)    = 2p + 2   the slot holds the whole of message p
 *   writing(p) = 2p + 1   the sender of p is writing the slot
 *
 * Slot i starts at done(i - cap), as if a lap before the first had been
 * written, so the first lap follows the same rules as every other.
 *
 * Sender of p: waits until the slot's sequence is done(p - cap) (acquire),
 * so two senders that land on one slot a lap apart never interleave their
 * words; stores writing(p); a release fence; the item's words (relaxed
 * atomic stores); then done(p) with a release store. The wait is nearly
 * always zero rounds: it needs cap sends to overtake a send mid-copy.
 *
 * Reader at n: loads the sequence (acquire, pairs with the release store of
 * done(n)); if it is done(n), copies the words (relaxed loads), issues an
 * acquire fence and re-loads the sequence. If that is still done(n), no
 * later sender stored a word the copy read: such a word was stored after
 * that sender's writing() store and release fence, so our acquire fence
 * would have made the writing() store visible to the re-load. The copy is
 * whole, and the reader moves to n + 1.
 *
 * Otherwise the reader looks at tail (t):
 *   t - n > cap   the message at n is overwritten (or about to be): LAGGED,
 *                 skipped = t - cap - n, continue at t - cap (Tokio's rule);
 *   t == n        nothing sent yet: EMPTY;
 *   otherwise     n is claimed but not yet written, or the copy met an
 *                 overwrite whose tail increment this thread does not see
 *                 yet: BUSY, try again (the sender is mid-copy).
 *
 * tail is read and incremented relaxed: it only hands out positions, and a
 * reader copies nothing on the strength of tail alone; every copy is guarded
 * by the acquire load of the slot's sequence.
 */

typedef struct achan__bcast_slot {
    achan__atomic_size seq;
    achan__atomic_size words[]; /* The item, ceil(item_size / sizeof(size_t)) words. */
} achan__bcast_slot;

#define WORD sizeof(size_t)

static size_t done_seq(size_t pos) {
    return 2 * pos + 2;
}
static size_t writing_seq(size_t pos) {
    return 2 * pos + 1;
}

static achan__bcast_slot *bslot_at(const achan__bcast_ring *r, size_t pos) {
    return (achan__bcast_slot *)(r->slots + (pos & r->mask) * r->stride);
}

size_t achan__bcast_ring_capacity(size_t requested) {
    if (requested == 0 || requested > ACHAN__BCAST_RING_MAX_CAP)
        return 0;
    size_t cap = 1;
    while (cap < requested)
        cap <<= 1;
    return cap;
}

static size_t bslot_stride(size_t item_size) {
    size_t words = item_size / WORD + (item_size % WORD != 0);
    if (words > SIZE_MAX / WORD - 1)
        return SIZE_MAX;
    return (words + 1) * WORD;
}

size_t achan__bcast_ring_slots_size(size_t cap, size_t item_size) {
    size_t stride = bslot_stride(item_size);
    if (stride == SIZE_MAX)
        return SIZE_MAX;
    return achan__mul_size(cap, stride);
}

void achan__bcast_ring_init(achan__bcast_ring *r, void *slots, size_t cap, size_t item_size) {
    r->cap = cap;
    r->mask = cap - 1;
    r->stride = bslot_stride(item_size);
    r->item_size = item_size;
    r->slots = slots;
    /* The item words need no initial value: nobody reads a slot before its
     * first done() store. */
    for (size_t i = 0; i < cap; i++)
        achan__size_init(&bslot_at(r, i)->seq, done_seq(i - cap));
    achan__size_init(&r->tail, 0);
}

/* Relaxed word stores and loads: ordered by the sequence word around them
 * (release fence before the stores, release store of done() after; acquire
 * load of done() before the loads, acquire fence after). memcpy through a
 * local word keeps any alignment of the caller's item legal. */
static void copy_in(const achan__bcast_ring *r, achan__bcast_slot *s, const unsigned char *src) {
    size_t full = r->item_size / WORD, rest = r->item_size % WORD, w;
    for (size_t i = 0; i < full; i++) {
        memcpy(&w, src + i * WORD, WORD);
        achan__size_store_relaxed(&s->words[i], w);
    }
    if (rest) {
        w = 0;
        memcpy(&w, src + full * WORD, rest);
        achan__size_store_relaxed(&s->words[full], w);
    }
}

static void copy_out(const achan__bcast_ring *r, const achan__bcast_slot *s, unsigned char *dst) {
    size_t full = r->item_size / WORD, rest = r->item_size % WORD, w;
    for (size_t i = 0; i < full; i++) {
        w = achan__size_load_relaxed(&s->words[i]);
        memcpy(dst + i * WORD, &w, WORD);
    }
    if (rest) {
        w = achan__size_load_relaxed(&s->words[full]);
        memcpy(dst + full * WORD, &w, rest);
    }
}

/* Waits for the sender a lap ahead of us on this slot to finish. */
static void wait_for_previous_lap(achan__bcast_slot *s, size_t prev) {
    achan__backoff b = ACHAN__BACKOFF_INIT;
    /* Acquire: pairs with that sender's release store of done(). */
    while (achan__size_load_acquire(&s->seq) != prev) {
        if (!achan__backoff_snooze(&b))
            sched_yield();
    }
}

size_t achan__bcast_ring_push(achan__bcast_ring *r, const void *item) {
    /* Relaxed: a ticket only (see the design notes). */
    size_t pos = achan__size_fetch_add_relaxed(&r->tail, 1);
    achan__bcast_slot *s = bslot_at(r, pos);
    size_t prev = done_seq(pos - r->cap);
    /* Acquire: pairs with the previous lap's release store of done(), so our
     * words come after its words. */
    if (achan__size_load_acquire(&s->seq) != prev)
        wait_for_previous_lap(s, prev);
    /* Relaxed: the release fence below orders it before the word stores. */
    achan__size_store_relaxed(&s->seq, writing_seq(pos));
    /* Pairs with the acquire fence of a reader whose copy sees our words. */
    achan__fence_release();
    copy_in(r, s, item);
    /* Release: publishes the words to readers' acquire load of done(pos). */
    achan__size_store_release(&s->seq, done_seq(pos));
    return pos;
}

achan__bcast_read achan__bcast_ring_read(const achan__bcast_ring *r, size_t *pos, void *item,
                                         size_t *skipped) {
    size_t n = *pos, want = done_seq(n);
    const achan__bcast_slot *s = bslot_at(r, n);
    /* Acquire: pairs with the release store of done(n). */
    if (achan__size_load_acquire(&s->seq) == want) {
        copy_out(r, s, item);
        /* Pairs with the release fence of any sender whose words we read. */
        achan__fence_acquire();
        /* Relaxed: ordered by the fence above. */
        if (achan__size_load_relaxed(&s->seq) == want) {
            *pos = n + 1;
            return ACHAN__BCAST_OK;
        }
    }
    /* Relaxed: a ticket count only (see the design notes). */
    size_t tail = achan__size_load_relaxed(&r->tail);
    if (tail - n > r->cap) {
        *skipped = tail - r->cap - n;
        *pos = tail - r->cap;
        return ACHAN__BCAST_LAGGED;
    }
    return tail == n ? ACHAN__BCAST_EMPTY : ACHAN__BCAST_BUSY;
}

size_t achan__bcast_ring_tail(const achan__bcast_ring *r) {
    /* Relaxed: a snapshot of a count. */
    return achan__size_load_relaxed(&r->tail);
}
