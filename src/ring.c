/* ring.c - the bounded lock-free ring (see ring.h).
 *
 * Design notes.
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

#include <string.h>

#include "alloc.h"

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
