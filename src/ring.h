/* ring.h - the lock-free ring cores: two rings with per-slot sequence words.
 *
 *   achan__ring        bounded mpsc ring (exact capacity, never overwrites);
 *   achan__bcast_ring  broadcast ring (power-of-two capacity, overwrites the
 *                      oldest message, any number of readers).
 *
 * The bounded mpsc ring.
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

/* Consumer: whether the oldest item is ready to pop. Reads only the head
 * slot's stamp, not tail, so a receiver waiting on an empty ring does not
 * pull the producers' hot cache line across with every look. */
bool achan__ring_head_ready(const achan__ring *r);

/* Items buffered or being written: a snapshot, at most cap. */
size_t achan__ring_len(const achan__ring *r);

/* Whether the slot k places after the next one to be claimed is already free
 * (its previous item consumed). Used under the send queue's lock, while only
 * granted pushes move tail, to decide whether one more grant can be given. */
bool achan__ring_free_ahead(const achan__ring *r, size_t k);

/* Set or clear closed_bit / slow_bit in tail. Any thread. */
void achan__ring_set_flags(achan__ring *r, size_t bits);
void achan__ring_clear_flags(achan__ring *r, size_t bits);

/* ------------------------------------------------------------------------ */
/* The broadcast ring.                                                       */
/*
 * Every message sent gets a position (0, 1, 2, ...) claimed with one atomic
 * fetch_add on tail, and lives in slot `position & mask` until the message a
 * lap later overwrites it. Senders never wait for readers and take no lock.
 * Readers keep their own position (outside the ring), copy values out, and
 * detect an overwrite through the slot's sequence word (a seqlock), so a
 * reader never holds anything a sender waits for. Items are copied through
 * relaxed atomic word stores and loads: plain bytes, no data race.
 *
 * The capacity is a power of two, and the lag rule is Tokio's: a reader at n
 * while tail is t with t - n > cap has missed t - cap - n messages and
 * continues at t - cap, the oldest message still held.
 */

typedef enum achan__bcast_read {
    ACHAN__BCAST_OK,    /* The message at *pos was copied out; *pos advanced by one. */
    ACHAN__BCAST_EMPTY, /* Nothing has been sent at *pos yet. */
    ACHAN__BCAST_BUSY,  /* A send claimed *pos and is still writing it: try again. */
    ACHAN__BCAST_LAGGED /* *pos was overwritten: *pos moved to the oldest message held
                           and *skipped says how many were missed. Nothing copied. */
} achan__bcast_read;

typedef struct achan__bcast_ring {
    /* Senders' ticket: the position the next send claims (= messages sent). */
    ACHAN__CACHE_ALIGNED achan__atomic_size tail;
    /* Read-only after init, on a line of its own. */
    ACHAN__CACHE_ALIGNED size_t cap; /* A power of two. */
    size_t mask;                     /* cap - 1. */
    size_t stride;                   /* Bytes per slot: sequence word and item words. */
    size_t item_size;
    unsigned char *slots;
} achan__bcast_ring;

/* Requested capacities above this cannot be rounded up (Tokio's limit too). */
#define ACHAN__BCAST_RING_MAX_CAP (SIZE_MAX / 2)

/* requested rounded up to a power of two; 0 for 0 or above the maximum. */
size_t achan__bcast_ring_capacity(size_t requested);

/* Bytes of slot memory for cap (a power of two) items of item_size bytes;
 * SIZE_MAX when that does not fit in size_t. Align it to ACHAN__CACHE_LINE. */
size_t achan__bcast_ring_slots_size(size_t cap, size_t item_size);

/* Sets up r over slots (achan__bcast_ring_slots_size bytes). Single-threaded. */
void achan__bcast_ring_init(achan__bcast_ring *r, void *slots, size_t cap, size_t item_size);

/* Any thread: copies item into the next position, overwriting the message a
 * lap older, and returns the position. Waits only for a send that claimed
 * the same slot a lap earlier and has not finished writing it. */
size_t achan__bcast_ring_push(achan__bcast_ring *r, const void *item);

/* A reader at *pos: copies that message into item if it is still held
 * whole (see achan__bcast_read). Any number of readers, each with its own
 * position; concurrent with any number of pushes. */
achan__bcast_read achan__bcast_ring_read(const achan__bcast_ring *r, size_t *pos, void *item,
                                         size_t *skipped);

/* The tail position now (messages sent, including sends still writing). */
size_t achan__bcast_ring_tail(const achan__bcast_ring *r);

#endif /* ACHAN_RING_H */
