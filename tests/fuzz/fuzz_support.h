/* fuzz_support.h - pieces shared by the fuzz harnesses (tests/fuzz/fuzz_*.c).
 *
 *   CHECK(cond)     aborts with the harness's name and line when cond is false
 *                   (define FUZZ_NAME before including this header);
 *   fz_counter      a waker that counts wakes and live clones, as the unit
 *                   tests' test_waker does;
 *   fz_alloc        an achan_allocator that counts live blocks, checks that
 *                   free gets the size that was allocated, and can fail one
 *                   chosen allocation (fault injection);
 *   fz_reader       the input as a stream of bytes, 0 once it is used up.
 *
 * Everything is static inline: each harness is a program of its own.
 */
#ifndef ACHAN_FUZZ_SUPPORT_H
#define ACHAN_FUZZ_SUPPORT_H

#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achan/achan.h"

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz_support.h"
#endif

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: check failed at line %d: %s\n", FUZZ_NAME, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* FUZZ_TRACE=1 in the environment prints each operation (for a crash's
 * input, run through the _regress binary). */
static inline bool fz_tracing(void) {
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_TRACE") != NULL;
    return on != 0;
}

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (fz_tracing())                                                                          \
            fprintf(stderr, __VA_ARGS__);                                                          \
    } while (0)

/* ------------------------------------------------------------------------ */
/* A counting waker: wakes (wake or wake_by_ref) and live clones.           */

typedef struct {
    long wakes, live;
} fz_counter;

static inline achan_waker fz_clone(const void *d);
static inline void fz_wake(void *d) {
    ((fz_counter *)d)->wakes++;
    ((fz_counter *)d)->live--;
    CHECK(((fz_counter *)d)->live >= 0);
}
static inline void fz_wake_by_ref(const void *d) {
    ((fz_counter *)d)->wakes++;
}
static inline void fz_drop(void *d) {
    ((fz_counter *)d)->live--;
    CHECK(((fz_counter *)d)->live >= 0);
}
static const achan_waker_vtbl fz_vtbl = {fz_clone, fz_wake, fz_wake_by_ref, fz_drop};
static inline achan_waker fz_clone(const void *d) {
    ((fz_counter *)d)->live++;
    achan_waker w = {&fz_vtbl, (void *)d};
    return w;
}

/* The (unowned) waker of counter c, as a caller holds it. */
static inline achan_waker fz_waker(fz_counter *c) {
    achan_waker w = {&fz_vtbl, c};
    return w;
}

/* ------------------------------------------------------------------------ */
/* A checking allocator with one injectable failure.                        */

#define FZ_MAX_BLOCKS 512

typedef struct {
    void *p[FZ_MAX_BLOCKS];
    size_t size[FZ_MAX_BLOCKS];
    int n;        /* Live blocks. */
    long count;   /* Allocations attempted so far. */
    long fail_at; /* The allocation (1-based) that fails; 0: none. */
    long failed;  /* Allocations that were made to fail. */
} fz_heap;

static inline void *fz_alloc_fn(void *ctx, size_t size, size_t align) {
    fz_heap *h = ctx;
    CHECK(align > 0 && (align & (align - 1)) == 0 && align <= 128);
    if (++h->count == h->fail_at) {
        h->failed++;
        return NULL;
    }
    CHECK(h->n < FZ_MAX_BLOCKS);
    void *p = NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        return NULL;
    h->p[h->n] = p;
    h->size[h->n] = size;
    h->n++;
    return p;
}

static inline void fz_free_fn(void *ctx, void *ptr, size_t size) {
    fz_heap *h = ctx;
    if (!ptr)
        return;
    for (int i = 0; i < h->n; i++) {
        if (h->p[i] == ptr) {
            CHECK(h->size[i] == size); /* free gets the allocated size. */
            h->n--;
            h->p[i] = h->p[h->n];
            h->size[i] = h->size[h->n];
            free(ptr);
            return;
        }
    }
    CHECK(!"free of a block this allocator did not hand out (or freed twice)");
}

static inline achan_allocator fz_allocator(fz_heap *h) {
    achan_allocator a = {fz_alloc_fn, fz_free_fn, h};
    return a;
}

/* ------------------------------------------------------------------------ */
/* The input as bytes.                                                       */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} fz_reader;

static inline bool fz_more(const fz_reader *r) {
    return r->pos < r->size;
}

static inline uint8_t fz_byte(fz_reader *r) {
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

#endif /* ACHAN_FUZZ_SUPPORT_H */
