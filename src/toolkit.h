/* toolkit.h - helpers shared by the stream toolkit (combinators.c,
 * stream_sources.c, stream_consumers.c).
 *
 *   objects    every adapter, source and consumer is one zeroed allocation
 *              from achan_default_allocator(), with a hidden header in front
 *              that remembers the allocator and the size, so achan__obj_free
 *              needs nothing but the pointer;
 *   layouts    extra areas (item scratch, state, slot arrays) are laid out
 *              after the struct, each at a max_align_t boundary, so user
 *              functions may read items through typed pointers;
 *   closures   the (user, user_drop) pair every closure-taking call stores.
 */
#ifndef ACHAN_TOOLKIT_H
#define ACHAN_TOOLKIT_H

#include <string.h>

#include "achan/combinators.h"
#include "alloc.h"

/* Alignment of every object and of every area inside one. */
#define ACHAN__ITEM_ALIGN _Alignof(max_align_t)

/* Objects larger than this are refused as ACHAN_INVALID: no allocator could
 * provide them, and keeping sizes below it makes every sum below safe. */
#define ACHAN__OBJ_MAX (SIZE_MAX / 4)

/* a + b, or SIZE_MAX when that exceeds ACHAN__OBJ_MAX. */
static inline size_t achan__size_add(size_t a, size_t b) {
    if (a > ACHAN__OBJ_MAX || b > ACHAN__OBJ_MAX || a + b > ACHAN__OBJ_MAX)
        return SIZE_MAX;
    return a + b;
}

/* A running object size. Start it at sizeof(the struct). */
typedef struct achan__layout {
    size_t size;
} achan__layout;

/* Reserves bytes at the next aligned offset and returns that offset. On
 * overflow the layout becomes invalid (achan__layout_ok says false). */
static inline size_t achan__layout_add(achan__layout *l, size_t bytes) {
    if (l->size > ACHAN__OBJ_MAX || bytes > ACHAN__OBJ_MAX) {
        l->size = SIZE_MAX;
        return 0;
    }
    size_t off = achan__round_up(l->size, ACHAN__ITEM_ALIGN);
    l->size = off + bytes; /* Both terms are below SIZE_MAX / 4: no overflow. */
    return off;
}

static inline bool achan__layout_ok(const achan__layout *l) {
    return l->size <= ACHAN__OBJ_MAX;
}

/* The hidden header in front of every toolkit object. */
typedef struct achan__obj_hdr {
    achan_allocator alloc; /* A copy of the default allocator at creation. */
    size_t size;           /* The allocated size, header included. */
} achan__obj_hdr;

#define ACHAN__OBJ_HDR_SIZE achan__round_up(sizeof(achan__obj_hdr), ACHAN__ITEM_ALIGN)

/* A zeroed object of size bytes (size <= ACHAN__OBJ_MAX) from the current
 * default allocator, or NULL when the allocation failed. */
static inline void *achan__obj_new(size_t size) {
    achan_allocator a;
    achan__allocator_copy(&a, achan_default_allocator());
    size_t total = ACHAN__OBJ_HDR_SIZE + size;
    unsigned char *p = achan__alloc(&a, total, ACHAN__ITEM_ALIGN);
    if (!p)
        return NULL;
    memset(p, 0, total);
    achan__obj_hdr *h = (achan__obj_hdr *)(void *)p;
    h->alloc = a;
    h->size = total;
    return p + ACHAN__OBJ_HDR_SIZE;
}

/* Releases an object made by achan__obj_new through the allocator it came from. */
static inline void achan__obj_free(void *obj) {
    unsigned char *p = (unsigned char *)obj - ACHAN__OBJ_HDR_SIZE;
    achan__obj_hdr h = *(achan__obj_hdr *)(void *)p;
    achan__free(&h.alloc, p, h.size);
}

/* The area at offset off of obj. */
static inline unsigned char *achan__obj_at(void *obj, size_t off) {
    return (unsigned char *)obj + off;
}

/* A closure's user pointer and its optional destructor. */
typedef struct achan__closure {
    void *user;
    achan_user_drop_fn user_drop;
} achan__closure;

/* Runs user_drop (if any) on user: called once, when the owner is dropped. */
static inline void achan__closure_drop(const achan__closure *c) {
    if (c->user_drop)
        c->user_drop(c->user);
}

/* Polls s (arguments already validated by the caller). */
static inline achan_status achan__stream_next(achan_stream *s, achan_context *cx, void *item) {
    return s->vtbl->poll_next(s, cx, item);
}

#endif /* ACHAN_TOOLKIT_H */
