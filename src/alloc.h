/* alloc.h - allocation through the user's achan_allocator.
 *
 * Each channel copies the allocator it was created with (or the default one,
 * malloc/free) and allocates and frees everything through that copy, passing
 * the allocated size back to free as the achan_allocator contract requires.
 */
#ifndef ACHAN_ALLOC_H
#define ACHAN_ALLOC_H

#include "achan/core.h"

/* True for NULL (the default) or an allocator with both functions set. */
bool achan__allocator_valid(const achan_allocator *a);

/* Copies *src into *dst, or the default allocator when src is NULL. */
void achan__allocator_copy(achan_allocator *dst, const achan_allocator *src);

/* malloc and free: what a NULL achan_opts.allocator means. One object for
 * the life of the process, so a channel may keep a pointer to it. */
const achan_allocator *achan__builtin_allocator(void);

/* size bytes aligned to align (a power of two <= 128), or NULL. */
void *achan__alloc(const achan_allocator *a, size_t size, size_t align);

/* Releases p (of the given allocated size); NULL is ignored. */
void achan__free(const achan_allocator *a, void *p, size_t size);

/* a * b, or SIZE_MAX when that overflows (so an allocation of it fails). */
static inline size_t achan__mul_size(size_t a, size_t b) {
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return SIZE_MAX;
    return r;
}

/* x rounded up to a multiple of the power of two m. */
static inline size_t achan__round_up(size_t x, size_t m) {
    return (x + m - 1) & ~(m - 1);
}

#endif /* ACHAN_ALLOC_H */
