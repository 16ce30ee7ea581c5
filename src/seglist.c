/* seglist.c - the unbounded queue of recycled segments (see seglist.h).
 *
 * Design notes.
 *
 * Positions are global: tail counts every item ever claimed (shifted left
 * once; bit 0 is CLOSED), head every item consumed. Segment s holds the
 * positions [s->start, s->start + seg_slots). Each slot has a ready stamp,
 * 0 until its item is published with a release store of 1; a segment's stamps
 * are reset when it is recycled, before it is linked again.
 *
 * Sending, in this order:
 *   1. Load tail. If pos is not below linked_end, first link one more segment
 *      (a spare, or a new allocation) under grow_lock and retry: so running
 *      out of memory fails the send before it claimed anything.
 *   2. CAS tail to pos + 1: the ticket (acq_rel), then a seq_cst fence.
 *   3. Load tail_seg and walk `next` pointers to the segment holding pos,
 *      moving tail_seg past each segment walked over whose slots have all
 *      been located (so no producer needs it; see help_advance_tail_seg).
 *   4. Count the slot in the segment's `located` counter. The producer that
 *      brings it to seg_slots moves tail_seg past the segment.
 *   5. Write the item, then publish: release-store the slot's stamp.
 *
 * tail_seg never passes a segment with a claimed position whose producer has
 * not located it yet (step 4 comes after step 3), so step 3 always finds the
 * segment by walking forward.
 *
 * Reclaiming: the consumer retires a segment when it moves to the next one.
 * A producer may still hold a pointer to it, loaded at step 3. Before
 * retiring, the consumer makes sure tail_seg has moved past the segment (with
 * a read-modify-write of its own), issues a seq_cst fence and reads tail as
 * T. Fence order: either the producer's fence (step 2) comes first, and then
 * T counts its ticket, or the consumer's comes first, and then the producer's
 * load at step 3 sees tail_seg past the segment. So every producer that can
 * still touch the segment holds a position below T, and touches nothing after
 * publishing it: once head reaches T, the segment is unreachable and is
 * recycled (into spares, up to max_spares) or freed.
 *
 * Who touches what: producers write tail, tail_seg, the located counters and
 * their own slots; the consumer writes head and its private fields; both
 * take grow_lock to change last_seg, linked_end and the spares.
 */
#include "seglist.h"

#include <assert.h>
#include <string.h>

#include "alloc.h"

enum { SEG_CLOSED = 1 };

/* Segments are at most this large when items allow, so a spare costs little. */
#define SEG_TARGET_BYTES 8192
/* The spares kept after a burst, in bytes (at least one segment). */
#define SPARE_BUDGET_BYTES 16384

typedef struct seg_slot {
    achan__atomic_size ready;
    unsigned char item[];
} seg_slot;

struct achan__segment {
    achan__atomic_ptr next;    /* The following segment, set once while linked. */
    achan__atomic_size located; /* Slots whose producer has found this segment. */
    size_t start;              /* Position of slot 0. */
    achan__segment *retired_next; /* Consumer-private: the retired FIFO. */
    size_t retire_pos;            /* Consumer-private: reclaimable once head >= this. */
    _Alignas(max_align_t) unsigned char slots[];
};

static seg_slot *seg_slot_at(const achan__seglist *l, achan__segment *s, size_t index) {
    return (seg_slot *)(s->slots + index * l->stride);
}

static void segment_reset(achan__seglist *l, achan__segment *s, size_t start) {
    achan__ptr_init(&s->next, NULL);
    achan__size_init(&s->located, 0);
    s->start = start;
    s->retired_next = NULL;
    s->retire_pos = 0;
    for (size_t i = 0; i < l->seg_slots; i++)
        achan__size_init(&seg_slot_at(l, s, i)->ready, 0);
}

achan_status achan__seglist_init(achan__seglist *l, size_t item_size,
                                 const achan_allocator *alloc) {
    l->item_size = item_size;
    l->stride = achan__round_up(sizeof(seg_slot) + item_size, sizeof(size_t));
    l->seg_slots = 32;
    while (l->seg_slots > 2 && l->seg_slots * l->stride > SEG_TARGET_BYTES)
        l->seg_slots /= 2;
    l->seg_bytes = sizeof(achan__segment) + l->seg_slots * l->stride;
    l->max_spares = SPARE_BUDGET_BYTES / l->seg_bytes;
    if (l->max_spares == 0)
        l->max_spares = 1;
    l->alloc = alloc;

    achan__segment *first = achan__alloc(alloc, l->seg_bytes, _Alignof(achan__segment));
    if (!first)
        return ACHAN_NOMEM;
    if (pthread_mutex_init(&l->grow_lock, NULL) != 0) {
        achan__free(alloc, first, l->seg_bytes);
        return ACHAN_NOMEM;
    }
    segment_reset(l, first, 0);
    achan__size_init(&l->tail, 0);
    achan__ptr_init(&l->tail_seg, first);
    achan__size_init(&l->linked_end, l->seg_slots);
    achan__size_init(&l->head, 0);
    l->head_seg = first;
    l->retired = l->retired_last = NULL;
    l->last_seg = first;
    l->spares = NULL;
    l->nspares = 0;
    return ACHAN_OK;
}

/* Links one more segment at the end unless someone did since the caller saw
 * linked_end <= pos. ACHAN_NOMEM when no spare is left and allocation fails. */
static achan_status extend(achan__seglist *l, size_t pos) {
    achan_status st = ACHAN_OK;
    pthread_mutex_lock(&l->grow_lock);
    if (achan__size_load_relaxed(&l->linked_end) <= pos) {
        achan__segment *s = l->spares;
        if (s) {
            l->spares = s->retired_next;
            l->nspares--;
        } else {
            /* Allocating under the lock: rare (growth only), and it keeps
             * concurrent producers from allocating a segment each. */
            s = achan__alloc(l->alloc, l->seg_bytes, _Alignof(achan__segment));
        }
        if (s) {
            achan__segment *last = l->last_seg;
            segment_reset(l, s, last->start + l->seg_slots);
            /* Release: the reset segment is visible to whoever follows next. */
            achan__ptr_store_release(&last->next, s);
            l->last_seg = s;
            /* Release: pairs with the producers' acquire in push. */
            achan__size_store_release(&l->linked_end, s->start + l->seg_slots);
        } else {
            st = ACHAN_NOMEM;
        }
    }
    pthread_mutex_unlock(&l->grow_lock);
    return st;
}

/* Moves tail_seg from s to its successor, if it still points at s. */
static void advance_tail_seg(achan__seglist *l, achan__segment *s) {
    achan__segment *next = achan__ptr_load_acquire(&s->next);
    if (!next)
        return; /* Not linked yet; whoever walks will step over s. */
    void *expected = s;
    achan__ptr_cas_acq_rel(&l->tail_seg, &expected, next);
}

/* A producer walking past s: when every slot of s has been located, no
 * producer needs s any more, so tail_seg may pass it. Without this help
 * tail_seg would stay behind whenever s's last locator found no successor
 * linked yet, which a lone producer always does (it links the next segment
 * only with its next push): every push would then walk from that segment,
 * making a burst of n items cost O(n^2). */
static void help_advance_tail_seg(achan__seglist *l, achan__segment *s, achan__segment *next) {
    /* Acquire: pairs with the locators' acq_rel increments, so each of them
     * has found s. */
    if (achan__size_load_acquire(&s->located) != l->seg_slots)
        return;
    void *expected = s;
    achan__ptr_cas_acq_rel(&l->tail_seg, &expected, next); /* Forward only: from s. */
}

achan_status achan__seglist_push(achan__seglist *l, const void *item) {
    size_t tail = achan__size_load_relaxed(&l->tail);
    size_t pos;
    for (;;) {
        if (tail & SEG_CLOSED)
            return ACHAN_CLOSED;
        pos = tail >> 1;
        /* Acquire: pairs with extend's release, so the segment is linked. */
        if (pos >= achan__size_load_acquire(&l->linked_end)) {
            achan_status st = extend(l, pos);
            if (st != ACHAN_OK)
                return st;
            tail = achan__size_load_relaxed(&l->tail);
            continue;
        }
        if (achan__size_cas_acq_rel(&l->tail, &tail, tail + 2))
            break;
    }
    /* Pairs with the consumer's fence in retire(): see the design notes. */
    achan__fence_seq_cst();
    achan__segment *s = achan__ptr_load_acquire(&l->tail_seg);
    while (pos >= s->start + l->seg_slots) {
        achan__segment *next = achan__ptr_load_acquire(&s->next);
        help_advance_tail_seg(l, s, next);
        s = next;
    }
    size_t located = achan__size_fetch_add_acq_rel(&s->located, 1) + 1;
    if (located == l->seg_slots)
        advance_tail_seg(l, s);
    seg_slot *slot = seg_slot_at(l, s, pos - s->start);
    memcpy(slot->item, item, l->item_size);
    /* Release: publishes the item to the consumer's acquire. After this the
     * segment may be recycled at any moment: touch nothing more. */
    achan__size_store_release(&slot->ready, 1);
    return ACHAN_OK;
}

/* Returns s to the spares, or frees it when there are enough. */
static void recycle(achan__seglist *l, achan__segment *s) {
    pthread_mutex_lock(&l->grow_lock);
    if (l->nspares < l->max_spares) {
        s->retired_next = l->spares;
        l->spares = s;
        l->nspares++;
        s = NULL;
    }
    pthread_mutex_unlock(&l->grow_lock);
    achan__free(l->alloc, s, l->seg_bytes);
}

/* Consumer: s is fully consumed and next follows it. */
static void retire(achan__seglist *l, achan__segment *s, achan__segment *next) {
    /* Make sure tail_seg is past s, with a read-modify-write of our own so
     * the fence below orders it (see the design notes). */
    void *cur = achan__ptr_load_acquire(&l->tail_seg);
    for (;;) {
        void *want = cur == s ? (void *)next : cur;
        if (achan__ptr_cas_acq_rel(&l->tail_seg, &cur, want))
            break;
    }
    achan__fence_seq_cst();
    /* Relaxed: the fence above orders this load. */
    s->retire_pos = achan__size_load_relaxed(&l->tail) >> 1;
    s->retired_next = NULL;
    if (l->retired_last)
        l->retired_last->retired_next = s;
    else
        l->retired = s;
    l->retired_last = s;
}

/* Consumer: recycles the retired segments no producer can reach any more. */
static void reclaim(achan__seglist *l, size_t head) {
    while (l->retired && l->retired->retire_pos <= head) {
        achan__segment *s = l->retired;
        l->retired = s->retired_next;
        if (!l->retired)
            l->retired_last = NULL;
        recycle(l, s);
    }
}

achan__pop_result achan__seglist_pop(achan__seglist *l, void *item) {
    /* Relaxed: only this thread writes head. */
    size_t head = achan__size_load_relaxed(&l->head);
    achan__segment *s = l->head_seg;
    if (head == s->start + l->seg_slots) {
        achan__segment *next = achan__ptr_load_acquire(&s->next);
        if (!next)
            return ACHAN__POP_EMPTY; /* Nothing can be claimed past an unlinked end. */
        retire(l, s, next);
        l->head_seg = s = next;
    }
    seg_slot *slot = seg_slot_at(l, s, head - s->start);
    /* Acquire: pairs with the producer's release that published the item. */
    if (achan__size_load_acquire(&slot->ready) == 0) {
        size_t tail = achan__size_load_acquire(&l->tail) >> 1;
        reclaim(l, head);
        return tail == head ? ACHAN__POP_EMPTY : ACHAN__POP_BUSY;
    }
    memcpy(item, slot->item, l->item_size);
    head++;
    /* Release: len() readers see the slot consumed. */
    achan__size_store_release(&l->head, head);
    if (l->retired)
        reclaim(l, head);
    return ACHAN__POP_OK;
}

bool achan__seglist_head_ready(const achan__seglist *l) {
    /* Relaxed: only the consumer writes head. */
    size_t head = achan__size_load_relaxed(&l->head);
    achan__segment *s = l->head_seg;
    if (head == s->start + l->seg_slots)
        return true; /* At a segment's end: let pop look at the next one. */
    /* Relaxed: a peek; pop loads the stamp again with acquire. */
    return achan__size_load_relaxed(&seg_slot_at(l, s, head - s->start)->ready) != 0;
}

size_t achan__seglist_len(const achan__seglist *l) {
    size_t head = achan__size_load_acquire(&l->head);
    size_t tail = achan__size_load_acquire(&l->tail) >> 1;
    return tail - head;
}

void achan__seglist_close(achan__seglist *l) { achan__size_fetch_or_acq_rel(&l->tail, SEG_CLOSED); }

static void free_chain(achan__seglist *l, achan__segment *s, bool via_next) {
    while (s) {
        achan__segment *next =
            via_next ? achan__ptr_load_relaxed(&s->next) : s->retired_next;
        achan__free(l->alloc, s, l->seg_bytes);
        s = next;
    }
}

void achan__seglist_destroy(achan__seglist *l, void (*drop)(void *item, void *user), void *user,
                            void *scratch) {
    achan__pop_result r;
    while ((r = achan__seglist_pop(l, scratch)) == ACHAN__POP_OK) {
        if (drop)
            drop(scratch, user);
    }
    assert(r == ACHAN__POP_EMPTY);
    free_chain(l, l->retired, false);
    free_chain(l, l->head_seg, true);
    free_chain(l, l->spares, false);
    pthread_mutex_destroy(&l->grow_lock);
}
