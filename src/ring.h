/* ring.h - the bounded lock-free ring: exact capacity, per-slot stamps.
 *
 * Many producers, one consumer, no lock on either side. Capacity is exact:
 * any value >= 1, never rounded up. Used by the bounded mpsc channel, which
 * adds waiting (a waker for the consumer, a FIFO queue for senders) on top.
 *
 * Producer and consumer state live on separate cache lines, and neither side
 * reads the other's index on the fast path: each slot's stamp says whether it
 * is free for the producer of this lap or full for the consumer, so the slot
 * being written is the only memory the two sides share per message.
 */
#ifndef ACHAN_RING_H
#define ACHAN_RING_H

#include "achan/core.h"
#include "atomics.h"

typedef enum achan__pop_result {
    ACHAN__POP_OK,    /* An item was copied out. */
    ACHAN__POP_EMPTY, /* Nothing was sent that has not been received. */
    ACHAN__POP_BUSY   /* The next item's producer claimed its slot but is still writing it. */
} achan__pop_result;

typedef struct achan__ring {
    /* Producers' ticket: lap | flags | index (ring.c explains the layout). */
    ACHAN__CACHE_ALIGNED achan__atomic_size tail;
    /* The consumer's position, lap | index; only the consumer writes it. */
    ACHAN__CACHE_ALIGNED achan__atomic_size head;
    /* Read-only after init, on a line of its own so neither hot line is shared. */
    ACHAN__CACHE_ALIGNED size_t cap;
    size_t index_mask; /* Low bits of a position: the slot index. */
    size_t closed_bit; /* In tail: the receiver closed; pushes fail. */
    size_t slow_bit;   /* In tail: senders are queued; only granted pushes proceed. */
    size_t one_lap;    /* Added to a position to go once around the ring. */
    size_t stride;     /* Bytes per slot: stamp and item. */
    size_t item_size;
    unsigned char *slots;
} achan__ring;

/* The largest capacity a ring accepts. */
#define ACHAN__RING_MAX_CAP (SIZE_MAX >> 16)

/* Bytes of slot memory for cap items of item_size bytes; SIZE_MAX when that
 * does not fit in size_t. Align the memory to ACHAN__CACHE_LINE. */
size_t achan__ring_slots_size(size_t cap, size_t item_size);

/* Sets up r over slots (achan__ring_slots_size bytes). Single-threaded. */
void achan__ring_init(achan__ring *r, void *slots, size_t cap, size_t item_size);

/* Producer: copies item into the next free slot. ACHAN_OK; ACHAN_FULL (no
 * free slot, or slow_bit set); ACHAN_CLOSED (closed_bit set). With granted,
 * the caller holds a grant (a slot set aside for it under the send queue's
 * lock) and the flags are ignored: the push always succeeds. */
achan_status achan__ring_try_push(achan__ring *r, const void *item, bool granted);

/* Consumer: copies the oldest item into item. */
achan__pop_result achan__ring_pop(achan__ring *r, void *item);

/* Items buffered or being written: a snapshot, at most cap. */
size_t achan__ring_len(const achan__ring *r);

/* Whether the slot k places after the next one to be claimed is already free
 * (its previous item consumed). Used under the send queue's lock, while only
 * granted pushes move tail, to decide whether one more grant can be given. */
bool achan__ring_free_ahead(const achan__ring *r, size_t k);

/* Set or clear closed_bit / slow_bit in tail. Any thread. */
void achan__ring_set_flags(achan__ring *r, size_t bits);
void achan__ring_clear_flags(achan__ring *r, size_t bits);

#endif /* ACHAN_RING_H */
