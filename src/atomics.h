/* atomics.h - the only file in achan that spells an atomic operation.
 *
 * Two backends, chosen at build time with -DACHAN_ATOMICS=c11 (the default,
 * <stdatomic.h>) or -DACHAN_ATOMICS=libatomic_ops (the AO_ primitives of
 * Debian's libatomic-ops-dev). ThreadSanitizer cannot see libatomic_ops'
 * inline assembly, so sanitizer runs use the C11 backend.
 *
 * Every operation names its memory order, so a reader sees at each call site
 * what it orders. The orders used in achan are:
 *
 *   relaxed   a value only, ordering nothing else (each use says why);
 *   acquire   a load that pairs with a release of the same object;
 *   release   a store that publishes what was written before it;
 *   acq_rel   a read-modify-write that does both;
 *   fence_seq_cst  a full fence for the store-then-load (Dekker) patterns that
 *             decide whether a sleeper must be woken: "publish; fence; look
 *             for a sleeper" on one side pairs with "register as a sleeper;
 *             fence; re-check" on the other, so at least one side sees the
 *             other. No other seq_cst is used.
 *   fence_acquire / fence_release  the seqlock's fences (broadcast ring):
 *             a writer's release fence between marking a slot busy and
 *             writing its words pairs with a reader's acquire fence between
 *             reading the words and re-reading the slot's sequence.
 *
 * The atomic types are single-member structs so that a plain read or write
 * of one is a compile error.
 *
 * With -DACHAN_TEST_PERTURB the build inserts a random yield or short spin
 * before each operation (schedule perturbation for stress tests).
 */
#ifndef ACHAN_ATOMICS_H
#define ACHAN_ATOMICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(ACHAN_TEST_PERTURB)
void achan__perturb(void);
#define ACHAN__PERTURB() achan__perturb()
#else
#define ACHAN__PERTURB() ((void)0)
#endif

/* The size of the unit of coherence we keep hot fields apart by. 128 rather
 * than 64 because x86 and ARM cores prefetch cache lines in adjacent pairs, so
 * two fields 64 bytes apart still share traffic. */
#define ACHAN__CACHE_LINE 128
#define ACHAN__CACHE_ALIGNED _Alignas(ACHAN__CACHE_LINE)

/* A hint for spin loops: lets the sibling hyperthread run and saves power. */
static inline void achan__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield");
#endif
}

#if defined(ACHAN_ATOMICS_LIBATOMIC_OPS)
/* ------------------------------------------------------------------------ */
/* libatomic_ops backend.                                                    */
/* ------------------------------------------------------------------------ */
#include <atomic_ops.h>

typedef struct {
    volatile AO_t v;
} achan__atomic_size;
typedef struct {
    volatile AO_t v;
} achan__atomic_ptr;
typedef struct {
    volatile unsigned int v;
} achan__atomic_u32;

#define ACHAN__ATOMIC_INIT(x) {(x)}

static inline void achan__fence_seq_cst(void) {
    ACHAN__PERTURB();
    AO_nop_full();
}
/* AO_nop_read orders earlier loads before later loads, AO_nop_write earlier
 * stores before later stores: what the seqlock uses of acquire and release
 * fences (libatomic_ops has no closer primitive). */
static inline void achan__fence_acquire(void) {
    ACHAN__PERTURB();
    AO_nop_read();
}
static inline void achan__fence_release(void) {
    ACHAN__PERTURB();
    AO_nop_write();
}

/* size_t */
static inline void achan__size_init(achan__atomic_size *a, size_t v) { a->v = (AO_t)v; }
static inline size_t achan__size_load_relaxed(const achan__atomic_size *a) {
    ACHAN__PERTURB();
    return (size_t)AO_load((volatile AO_t *)&a->v);
}
static inline size_t achan__size_load_acquire(const achan__atomic_size *a) {
    ACHAN__PERTURB();
    return (size_t)AO_load_acquire((volatile AO_t *)&a->v);
}
static inline void achan__size_store_relaxed(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    AO_store(&a->v, (AO_t)v);
}
static inline void achan__size_store_release(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    AO_store_release(&a->v, (AO_t)v);
}
static inline size_t achan__size_fetch_add_relaxed(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return (size_t)AO_fetch_and_add(&a->v, (AO_t)v);
}
static inline size_t achan__size_fetch_add_acq_rel(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return (size_t)AO_fetch_and_add_full(&a->v, (AO_t)v);
}
static inline size_t achan__size_fetch_sub_acq_rel(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return (size_t)AO_fetch_and_add_full(&a->v, (AO_t)0 - (AO_t)v);
}
/* Strong compare-and-swap. On failure *expected receives the current value. */
static inline bool achan__size_cas_acq_rel(achan__atomic_size *a, size_t *expected,
                                           size_t desired) {
    ACHAN__PERTURB();
    AO_t old = AO_fetch_compare_and_swap_full(&a->v, (AO_t)*expected, (AO_t)desired);
    if (old == (AO_t)*expected)
        return true;
    *expected = (size_t)old;
    return false;
}
static inline bool achan__size_cas_relaxed(achan__atomic_size *a, size_t *expected,
                                           size_t desired) {
    ACHAN__PERTURB();
    AO_t old = AO_fetch_compare_and_swap(&a->v, (AO_t)*expected, (AO_t)desired);
    if (old == (AO_t)*expected)
        return true;
    *expected = (size_t)old;
    return false;
}
static inline size_t achan__size_exchange_acq_rel(achan__atomic_size *a, size_t v) {
    size_t cur = achan__size_load_relaxed(a);
    while (!achan__size_cas_acq_rel(a, &cur, v)) {
    }
    return cur;
}
static inline size_t achan__size_fetch_or_acq_rel(achan__atomic_size *a, size_t bits) {
    size_t cur = achan__size_load_relaxed(a);
    while (!achan__size_cas_acq_rel(a, &cur, cur | bits)) {
    }
    return cur;
}
static inline size_t achan__size_fetch_and_acq_rel(achan__atomic_size *a, size_t bits) {
    size_t cur = achan__size_load_relaxed(a);
    while (!achan__size_cas_acq_rel(a, &cur, cur & bits)) {
    }
    return cur;
}

/* pointers */
static inline void achan__ptr_init(achan__atomic_ptr *a, void *p) { a->v = (AO_t)(uintptr_t)p; }
static inline void *achan__ptr_load_relaxed(const achan__atomic_ptr *a) {
    ACHAN__PERTURB();
    return (void *)(uintptr_t)AO_load((volatile AO_t *)&a->v);
}
static inline void *achan__ptr_load_acquire(const achan__atomic_ptr *a) {
    ACHAN__PERTURB();
    return (void *)(uintptr_t)AO_load_acquire((volatile AO_t *)&a->v);
}
static inline void achan__ptr_store_release(achan__atomic_ptr *a, void *p) {
    ACHAN__PERTURB();
    AO_store_release(&a->v, (AO_t)(uintptr_t)p);
}
static inline bool achan__ptr_cas_acq_rel(achan__atomic_ptr *a, void **expected, void *desired) {
    ACHAN__PERTURB();
    AO_t old = AO_fetch_compare_and_swap_full(&a->v, (AO_t)(uintptr_t)*expected,
                                              (AO_t)(uintptr_t)desired);
    if (old == (AO_t)(uintptr_t)*expected)
        return true;
    *expected = (void *)(uintptr_t)old;
    return false;
}

/* 32-bit words (futex) */
static inline void achan__u32_init(achan__atomic_u32 *a, uint32_t v) { a->v = v; }
static inline uint32_t achan__u32_load_acquire(const achan__atomic_u32 *a) {
    ACHAN__PERTURB();
    return (uint32_t)AO_int_load_acquire((volatile unsigned int *)&a->v);
}
static inline uint32_t achan__u32_load_relaxed(const achan__atomic_u32 *a) {
    ACHAN__PERTURB();
    return (uint32_t)AO_int_load((volatile unsigned int *)&a->v);
}
static inline void achan__u32_store_release(achan__atomic_u32 *a, uint32_t v) {
    ACHAN__PERTURB();
    AO_int_store_release(&a->v, v);
}
static inline bool achan__u32_cas_acq_rel(achan__atomic_u32 *a, uint32_t *expected,
                                          uint32_t desired) {
    ACHAN__PERTURB();
    unsigned int old = AO_int_fetch_compare_and_swap_full(&a->v, *expected, desired);
    if (old == *expected)
        return true;
    *expected = old;
    return false;
}
static inline uint32_t achan__u32_exchange_acq_rel(achan__atomic_u32 *a, uint32_t v) {
    uint32_t cur = achan__u32_load_relaxed(a);
    while (!achan__u32_cas_acq_rel(a, &cur, v)) {
    }
    return cur;
}
/* The address the futex system call waits on. */
static inline void *achan__u32_address(achan__atomic_u32 *a) { return (void *)&a->v; }

#else
/* ------------------------------------------------------------------------ */
/* C11 <stdatomic.h> backend (default).                                      */
/* ------------------------------------------------------------------------ */
#include <stdatomic.h>

typedef struct {
    _Atomic size_t v;
} achan__atomic_size;
typedef struct {
    _Atomic(void *) v;
} achan__atomic_ptr;
typedef struct {
    _Atomic uint32_t v;
} achan__atomic_u32;

#define ACHAN__ATOMIC_INIT(x) {(x)}

static inline void achan__fence_seq_cst(void) {
    ACHAN__PERTURB();
    atomic_thread_fence(memory_order_seq_cst);
}
static inline void achan__fence_acquire(void) {
    ACHAN__PERTURB();
    atomic_thread_fence(memory_order_acquire);
}
static inline void achan__fence_release(void) {
    ACHAN__PERTURB();
    atomic_thread_fence(memory_order_release);
}

/* size_t */
static inline void achan__size_init(achan__atomic_size *a, size_t v) { atomic_init(&a->v, v); }
static inline size_t achan__size_load_relaxed(const achan__atomic_size *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic size_t *)&a->v, memory_order_relaxed);
}
static inline size_t achan__size_load_acquire(const achan__atomic_size *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic size_t *)&a->v, memory_order_acquire);
}
static inline void achan__size_store_relaxed(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    atomic_store_explicit(&a->v, v, memory_order_relaxed);
}
static inline void achan__size_store_release(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    atomic_store_explicit(&a->v, v, memory_order_release);
}
static inline size_t achan__size_fetch_add_relaxed(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return atomic_fetch_add_explicit(&a->v, v, memory_order_relaxed);
}
static inline size_t achan__size_fetch_add_acq_rel(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return atomic_fetch_add_explicit(&a->v, v, memory_order_acq_rel);
}
static inline size_t achan__size_fetch_sub_acq_rel(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return atomic_fetch_sub_explicit(&a->v, v, memory_order_acq_rel);
}
/* Strong compare-and-swap. On failure *expected receives the current value
 * (loaded with acquire for the acq_rel form, so it may be acted upon). */
static inline bool achan__size_cas_acq_rel(achan__atomic_size *a, size_t *expected,
                                           size_t desired) {
    ACHAN__PERTURB();
    return atomic_compare_exchange_strong_explicit(&a->v, expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}
static inline bool achan__size_cas_relaxed(achan__atomic_size *a, size_t *expected,
                                           size_t desired) {
    ACHAN__PERTURB();
    return atomic_compare_exchange_strong_explicit(&a->v, expected, desired, memory_order_relaxed,
                                                   memory_order_relaxed);
}
static inline size_t achan__size_exchange_acq_rel(achan__atomic_size *a, size_t v) {
    ACHAN__PERTURB();
    return atomic_exchange_explicit(&a->v, v, memory_order_acq_rel);
}
static inline size_t achan__size_fetch_or_acq_rel(achan__atomic_size *a, size_t bits) {
    ACHAN__PERTURB();
    return atomic_fetch_or_explicit(&a->v, bits, memory_order_acq_rel);
}
static inline size_t achan__size_fetch_and_acq_rel(achan__atomic_size *a, size_t bits) {
    ACHAN__PERTURB();
    return atomic_fetch_and_explicit(&a->v, bits, memory_order_acq_rel);
}

/* pointers */
static inline void achan__ptr_init(achan__atomic_ptr *a, void *p) { atomic_init(&a->v, p); }
static inline void *achan__ptr_load_relaxed(const achan__atomic_ptr *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic(void *) *)&a->v, memory_order_relaxed);
}
static inline void *achan__ptr_load_acquire(const achan__atomic_ptr *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic(void *) *)&a->v, memory_order_acquire);
}
static inline void achan__ptr_store_release(achan__atomic_ptr *a, void *p) {
    ACHAN__PERTURB();
    atomic_store_explicit(&a->v, p, memory_order_release);
}
static inline bool achan__ptr_cas_acq_rel(achan__atomic_ptr *a, void **expected, void *desired) {
    ACHAN__PERTURB();
    return atomic_compare_exchange_strong_explicit(&a->v, expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}

/* 32-bit words (futex) */
static inline void achan__u32_init(achan__atomic_u32 *a, uint32_t v) { atomic_init(&a->v, v); }
static inline uint32_t achan__u32_load_acquire(const achan__atomic_u32 *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic uint32_t *)&a->v, memory_order_acquire);
}
static inline uint32_t achan__u32_load_relaxed(const achan__atomic_u32 *a) {
    ACHAN__PERTURB();
    return atomic_load_explicit((_Atomic uint32_t *)&a->v, memory_order_relaxed);
}
static inline void achan__u32_store_release(achan__atomic_u32 *a, uint32_t v) {
    ACHAN__PERTURB();
    atomic_store_explicit(&a->v, v, memory_order_release);
}
static inline bool achan__u32_cas_acq_rel(achan__atomic_u32 *a, uint32_t *expected,
                                          uint32_t desired) {
    ACHAN__PERTURB();
    return atomic_compare_exchange_strong_explicit(&a->v, expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}
static inline uint32_t achan__u32_exchange_acq_rel(achan__atomic_u32 *a, uint32_t v) {
    ACHAN__PERTURB();
    return atomic_exchange_explicit(&a->v, v, memory_order_acq_rel);
}
/* The address the futex system call waits on. */
static inline void *achan__u32_address(achan__atomic_u32 *a) { return (void *)&a->v; }

#endif /* backend */

#endif /* ACHAN_ATOMICS_H */
