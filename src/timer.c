/* timer.c - the current timer, the heap timer, the shared timer thread and
 * the sleep futures (see achan/timer.h and timer_internal.h).
 *
 * Design notes.
 *
 * Which timer is current (achan_timer_current), in order:
 *   1. one made current on this thread with achan_timer_set_current (the
 *      executor around each task poll, event-loop adapters);
 *   2. while achan__block_poll runs on this thread, the thread timer: its arm
 *      only asks the blocking loop to poll again at the deadline
 *      (achan__block_wake_at), so a _blocking call needs no other thread. It
 *      keeps no waker (the loop re-polls with its own) and its disarm does
 *      nothing: a re-poll that comes early finds the deadline not reached and
 *      simply arms again;
 *   3. the shared timer thread, started on first use.
 * Rule 1 yields to rule 2 when the blocking loop started after the timer
 * was made current (explicit_in_block records whether one ran then): a
 * _blocking call inside an executor task blocks the executor, whose heap
 * could not fire, so the loop's own timer drives it.
 *
 * Entries. `owner` is written by achan_timer_entry_arm / _disarm, on the
 * thread that uses the entry. Everything else in an entry belongs to the
 * heap timer it is armed on and is touched under that timer's lock. The
 * shared timer, which fires on its own thread, unlinks a due entry (slot 0)
 * and takes its waker but leaves owner alone (another thread's field), so
 * the user's later disarm finds slot 0 and returns. A heap without a lock
 * (the executor's, a uv loop's, achan_timer_heap) runs on the entry's thread,
 * so firing or destroying it also clears owner: a later disarm then never
 * touches the heap, which may be gone by then.
 *
 * Re-arming with the same deadline and a waker that will_wake the registered
 * one changes nothing and clones nothing, so adapters simply arm each time
 * they return ACHAN_PENDING.
 *
 * The shared thread sleeps on a condition variable (CLOCK_MONOTONIC) until
 * the earliest deadline; sleep_until records that deadline so an arm only
 * signals when it moves the earliest deadline before it. Due entries are
 * unlinked under the lock into a small batch of wakers, which are woken once
 * the lock is released.
 */
#define _POSIX_C_SOURCE 200809L
#include "timer_internal.h"

#include <signal.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "parker.h"
#include "achan/combinators.h"

/* ------------------------------------------------------------------------ */
/* The heap.                                                                 */

static void heap_place(achan__heap_timer *h, size_t i, achan_timer_entry *e) {
    h->v[i] = e;
    e->slot = i + 1;
}

static void sift_up(achan__heap_timer *h, size_t i) {
    achan_timer_entry *e = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->deadline <= e->deadline)
            break;
        heap_place(h, i, h->v[parent]);
        i = parent;
    }
    heap_place(h, i, e);
}

static void sift_down(achan__heap_timer *h, size_t i) {
    achan_timer_entry *e = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->v[c + 1]->deadline < h->v[c]->deadline)
            c++;
        if (e->deadline <= h->v[c]->deadline)
            break;
        heap_place(h, i, h->v[c]);
        i = c;
    }
    heap_place(h, i, e);
}

/* Restores the order around index i after its deadline changed. */
static void heap_fix(achan__heap_timer *h, size_t i) {
    if (i > 0 && h->v[i]->deadline < h->v[(i - 1) / 2]->deadline)
        sift_up(h, i);
    else
        sift_down(h, i);
}

static void heap_unlink(achan__heap_timer *h, achan_timer_entry *e) {
    size_t i = e->slot - 1;
    achan_timer_entry *last = h->v[--h->len];
    e->slot = 0;
    if (i < h->len) {
        heap_place(h, i, last);
        heap_fix(h, i);
    }
}

static bool heap_reserve(achan__heap_timer *h, size_t n) {
    if (n <= h->cap)
        return true;
    size_t cap = h->cap ? h->cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    /* The heap is an array of entry pointers: sizeof *v is a pointer's size,
     * as meant (clang-tidy suspects sizeof of a pointer to a struct). */
    achan_timer_entry **v = achan__alloc(&h->alloc, achan__mul_size(cap, sizeof *v), // NOLINT
                                         _Alignof(achan_timer_entry *));
    if (!v)
        return false;
    if (h->len)
        memcpy(v, h->v, h->len * sizeof *v);          // NOLINT(bugprone-sizeof-expression)
    achan__free(&h->alloc, h->v, h->cap * sizeof *v); // NOLINT(bugprone-sizeof-expression)
    h->v = v;
    h->cap = cap;
    return true;
}

static void heap_lock(achan__heap_timer *h) {
    if (h->lock)
        pthread_mutex_lock(h->lock);
}

static void heap_unlock(achan__heap_timer *h) {
    if (h->lock)
        pthread_mutex_unlock(h->lock);
}

static uint64_t mono_now(achan_timer *t) {
    (void)t;
    return achan_monotonic_ns();
}

/* True when e is armed on h exactly so already. Lock held. */
static bool armed_as(const achan_timer_entry *e, uint64_t deadline, const achan_waker *w) {
    return e->slot != 0 && e->deadline == deadline && achan_waker_will_wake(&e->waker, w);
}

static achan_status heap_arm(achan_timer *t, achan_timer_entry *e, uint64_t deadline,
                             const achan_waker *w) {
    achan__heap_timer *h = (achan__heap_timer *)t;
    heap_lock(h);
    bool same = armed_as(e, deadline, w);
    heap_unlock(h);
    if (same)
        return ACHAN_OK;

    achan_waker fresh = achan_waker_clone(w), old = {NULL, NULL};
    achan_status st = ACHAN_OK;
    heap_lock(h);
    uint64_t before = achan__heap_timer_next(h);
    if (e->slot != 0) {
        old = e->waker;
        e->waker = fresh;
        e->deadline = deadline;
        heap_fix(h, e->slot - 1);
    } else if (heap_reserve(h, h->len + 1)) {
        e->waker = fresh;
        e->deadline = deadline;
        h->v[h->len] = e;
        h->len++;
        sift_up(h, h->len - 1);
    } else {
        old = fresh; /* Not armed: released below. */
        st = ACHAN_NOMEM;
    }
    if (st == ACHAN_OK && deadline < before && h->earlier)
        h->earlier(h);
    heap_unlock(h);
    if (old.vtbl)
        achan_waker_drop(old);
    return st;
}

static void heap_disarm(achan_timer *t, achan_timer_entry *e) {
    achan__heap_timer *h = (achan__heap_timer *)t;
    achan_waker old = {NULL, NULL};
    heap_lock(h);
    if (e->slot != 0) {
        heap_unlink(h, e);
        old = e->waker;
        e->waker.vtbl = NULL;
        e->waker.data = NULL;
    }
    heap_unlock(h);
    if (old.vtbl)
        achan_waker_drop(old);
}

static const achan_timer_vtbl heap_timer_vtbl = {mono_now, heap_arm, heap_disarm};

bool achan__heap_timer_init(achan__heap_timer *h, const achan_allocator *a, pthread_mutex_t *lock,
                            void (*earlier)(achan__heap_timer *h), size_t reserve) {
    h->base.vtbl = &heap_timer_vtbl;
    h->v = NULL;
    h->len = h->cap = 0;
    h->alloc = *a;
    h->lock = lock;
    h->earlier = earlier;
    return heap_reserve(h, reserve);
}

/* A heap used by one thread only shares it with its entries' users: clear
 * owner so that their later disarm does not reach this heap (design notes). */
static void forget_owner(const achan__heap_timer *h, achan_timer_entry *e) {
    if (!h->lock)
        e->owner = NULL;
}

void achan__heap_timer_destroy(achan__heap_timer *h) {
    while (h->len > 0) {
        achan_timer_entry *e = h->v[h->len - 1];
        heap_unlink(h, e);
        forget_owner(h, e);
        achan_waker w = e->waker;
        e->waker.vtbl = NULL;
        e->waker.data = NULL;
        achan_waker_drop(w);
    }
    achan__free(&h->alloc, h->v, h->cap * sizeof *h->v); // NOLINT(bugprone-sizeof-expression)
    h->v = NULL;
    h->cap = 0;
}

uint64_t achan__heap_timer_next(const achan__heap_timer *h) {
    return h->len ? h->v[0]->deadline : ACHAN__NO_DEADLINE;
}

size_t achan__heap_timer_take_due(achan__heap_timer *h, uint64_t now, achan_waker *out,
                                  size_t max) {
    size_t n = 0;
    while (n < max && h->len > 0 && h->v[0]->deadline <= now) {
        achan_timer_entry *e = h->v[0];
        heap_unlink(h, e);
        forget_owner(h, e);
        out[n++] = e->waker;
        e->waker.vtbl = NULL;
        e->waker.data = NULL;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* The public heap for user event loops (achan_timer_heap in timer.h).       */

struct achan_timer_heap {
    achan__heap_timer h; /* First: its base is the public achan_timer. */
    achan_timer_heap_earlier_fn earlier;
    void *user;
};

static void user_heap_earlier(achan__heap_timer *h) {
    achan_timer_heap *th = (achan_timer_heap *)h;
    if (th->earlier)
        th->earlier(th, th->user);
}

achan_status achan_timer_heap_new(achan_timer_heap_earlier_fn earlier, void *user,
                                  achan_timer_heap **out) {
    if (!out)
        return ACHAN_INVALID;
    const achan_allocator *a = achan_default_allocator();
    achan_timer_heap *th = achan__alloc(a, sizeof *th, _Alignof(achan_timer_heap));
    if (!th)
        return ACHAN_NOMEM;
    if (!achan__heap_timer_init(&th->h, a, NULL, user_heap_earlier, 8)) {
        achan__free(a, th, sizeof *th);
        return ACHAN_NOMEM;
    }
    th->earlier = earlier;
    th->user = user;
    *out = th;
    return ACHAN_OK;
}

achan_timer *achan_timer_heap_timer(achan_timer_heap *th) {
    return th ? &th->h.base : NULL;
}

uint64_t achan_timer_heap_next(const achan_timer_heap *th) {
    return th ? achan__heap_timer_next(&th->h) : ACHAN__NO_DEADLINE;
}

size_t achan_timer_heap_fire(achan_timer_heap *th, uint64_t now) {
    if (!th)
        return 0;
    achan_waker due[16];
    size_t total = 0, n;
    do { /* Wake in batches: a waker may arm again (on this heap, too). */
        n = achan__heap_timer_take_due(&th->h, now, due, 16);
        for (size_t i = 0; i < n; i++)
            achan_waker_wake(due[i]);
        total += n;
    } while (n == 16);
    return total;
}

void achan_timer_heap_drop(achan_timer_heap *th) {
    if (!th)
        return;
    achan_allocator a = th->h.alloc;
    achan__heap_timer_destroy(&th->h);
    achan__free(&a, th, sizeof *th);
}

/* ------------------------------------------------------------------------ */
/* The shared timer thread.                                                  */

#define SHARED_BATCH 16

static struct {
    achan__heap_timer h;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t sleep_until; /* Under lock: what the thread waits for; 0 while awake. */
    bool ok;
} shared;

static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_earlier(achan__heap_timer *h) {
    /* The thread re-reads the heap whenever it wakes; signal only when it
     * sleeps past the new earliest deadline. */
    if (achan__heap_timer_next(h) < shared.sleep_until)
        pthread_cond_signal(&shared.cond);
}

static struct timespec to_timespec(uint64_t ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* Waits, lock held, until some entry is due. */
static void shared_wait_due(void) {
    for (;;) {
        uint64_t next = achan__heap_timer_next(&shared.h);
        if (next <= achan_monotonic_ns())
            break;
        shared.sleep_until = next;
        if (next == ACHAN__NO_DEADLINE) {
            pthread_cond_wait(&shared.cond, &shared.lock);
        } else {
            struct timespec ts = to_timespec(next);
            pthread_cond_timedwait(&shared.cond, &shared.lock, &ts);
        }
        shared.sleep_until = 0;
    }
}

static void *shared_main(void *arg) {
    (void)arg;
    achan_waker batch[SHARED_BATCH];
    for (;;) {
        pthread_mutex_lock(&shared.lock);
        shared_wait_due();
        size_t n = achan__heap_timer_take_due(&shared.h, achan_monotonic_ns(), batch, SHARED_BATCH);
        pthread_mutex_unlock(&shared.lock);
        /* In deadline order, outside the lock: a waker may arm again. */
        for (size_t i = 0; i < n; i++)
            achan_waker_wake(batch[i]);
    }
    return NULL;
}

static void shared_start(void) {
    achan_allocator malloc_alloc;
    achan__allocator_copy(&malloc_alloc, NULL); /* Lives as long as the process. */
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return;
    bool cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                   pthread_cond_init(&shared.cond, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!cond_ok)
        return;
    if (pthread_mutex_init(&shared.lock, NULL) != 0 ||
        !achan__heap_timer_init(&shared.h, &malloc_alloc, &shared.lock, shared_earlier, 64))
        return;
    shared.sleep_until = 0;
    pthread_t tid;
    pthread_attr_t tattr;
    if (pthread_attr_init(&tattr) != 0)
        return;
    pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
    /* The thread inherits a mask blocking every signal, so the program's
     * signals go to its own threads, never to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    shared.ok = pthread_create(&tid, &tattr, shared_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&tattr);
}

achan_timer *achan_timer_shared(void) {
    pthread_once(&shared_once, shared_start);
    return shared.ok ? &shared.h.base : NULL;
}

/* ------------------------------------------------------------------------ */
/* The thread timer and the current timer.                                   */

static achan_status thread_arm(achan_timer *t, achan_timer_entry *e, uint64_t deadline,
                               const achan_waker *w) {
    (void)t;
    if (achan__block_wake_at(deadline))
        return ACHAN_OK;
    /* Armed outside a blocking loop (the pointer was kept from one): hand
     * the entry to the shared thread, which can wake w. */
    achan_timer *s = achan_timer_shared();
    if (!s)
        return ACHAN_NOMEM;
    achan_status st = s->vtbl->arm(s, e, deadline, w);
    if (st == ACHAN_OK)
        e->owner = s;
    return st;
}

static void thread_disarm(achan_timer *t, achan_timer_entry *e) {
    (void)t;
    (void)e; /* An early re-poll of the blocking loop is harmless. */
}

static const achan_timer_vtbl thread_timer_vtbl = {mono_now, thread_arm, thread_disarm};
static achan_timer thread_timer = {&thread_timer_vtbl};

achan_timer *achan__timer_thread(void) {
    return &thread_timer;
}

/* The timer made current on this thread, and whether a blocking loop ran
 * when it was made current (see achan_timer_current). */
static _Thread_local achan_timer *explicit_current;
static _Thread_local bool explicit_in_block;

/* True while achan__block_poll runs on this thread. A deadline of "never"
 * changes nothing: achan__block_wake_at then only answers that question. */
static bool in_blocking_loop(void) {
    return achan__block_wake_at(ACHAN__NO_DEADLINE);
}

achan_timer *achan_timer_current(void) {
    bool blocking = in_blocking_loop();
    /* A blocking loop entered after the timer was made current (a _blocking
     * call inside an executor task) is what drives the polls now: the
     * executor cannot fire its heap while it is blocked. */
    if (explicit_current && (explicit_in_block || !blocking))
        return explicit_current;
    if (blocking)
        return &thread_timer;
    return achan_timer_shared();
}

achan_timer *achan_timer_set_current(achan_timer *t) {
    achan_timer *prev = explicit_current;
    explicit_current = t;
    explicit_in_block = t != NULL && in_blocking_loop();
    return prev;
}

uint64_t achan_timer_now(achan_timer *t) {
    return t ? t->vtbl->now(t) : achan_monotonic_ns();
}

achan_status achan_timer_entry_arm(achan_timer *t, achan_timer_entry *e, uint64_t deadline,
                                   const achan_waker *w) {
    if (!t || !e || !w || !w->vtbl)
        return ACHAN_INVALID;
    if (e->owner && e->owner != t)
        achan_timer_entry_disarm(e);
    achan_timer *prev = e->owner;
    e->owner = t; /* Before arm, which may hand the entry on (thread_arm). */
    achan_status st = t->vtbl->arm(t, e, deadline, w);
    if (st != ACHAN_OK && prev == NULL)
        e->owner = NULL;
    return st;
}

void achan_timer_entry_disarm(achan_timer_entry *e) {
    if (!e || !e->owner)
        return;
    e->owner->vtbl->disarm(e->owner, e);
    e->owner = NULL;
}

uint64_t achan__timer_now(void) {
    return achan_timer_now(achan_timer_current());
}

achan_status achan__timer_wait(achan_timer_entry *e, uint64_t deadline, achan_context *cx) {
    achan_timer *t = achan_timer_current();
    if (achan_timer_now(t) >= deadline) {
        achan_timer_entry_disarm(e);
        return ACHAN_OK;
    }
    if (!t || achan_timer_entry_arm(t, e, deadline, cx->waker) != ACHAN_OK)
        achan_waker_wake_by_ref(cx->waker);
    return ACHAN_PENDING;
}

/* ------------------------------------------------------------------------ */
/* Sleep futures.                                                            */

typedef struct {
    achan_future base; /* First: the future is the struct. */
    achan_allocator alloc;
    uint64_t deadline;
    achan_timer_entry entry;
} sleep_future;

static achan_status sleep_poll(achan_future *f, achan_context *cx, void *out) {
    (void)out;
    sleep_future *s = (sleep_future *)f;
    return achan__timer_wait(&s->entry, s->deadline, cx);
}

static void sleep_drop(achan_future *f) {
    sleep_future *s = (sleep_future *)f;
    achan_timer_entry_disarm(&s->entry);
    achan_allocator alloc = s->alloc;
    achan__free(&alloc, s, sizeof *s);
}

static const achan_future_vtbl sleep_vtbl = {sleep_poll, sleep_drop};

achan_status achan_sleep_until(uint64_t deadline_ns, achan_future **out) {
    if (!out)
        return ACHAN_INVALID;
    achan_allocator alloc;
    achan__allocator_copy(&alloc, achan_default_allocator());
    sleep_future *s = achan__alloc(&alloc, sizeof *s, _Alignof(sleep_future));
    if (!s)
        return ACHAN_NOMEM;
    s->base.vtbl = &sleep_vtbl;
    s->base.output_size = 0;
    s->alloc = alloc;
    s->deadline = deadline_ns;
    achan_timer_entry_init(&s->entry);
    *out = &s->base;
    return ACHAN_OK;
}

achan_status achan_sleep(uint64_t duration_ns, achan_future **out) {
    uint64_t now = achan_monotonic_ns();
    uint64_t deadline = now + duration_ns;
    return achan_sleep_until(deadline < now ? ACHAN__NO_DEADLINE : deadline, out);
}
