/* executor.c - a small single-threaded executor with a timer heap (see
 * achan/executor.h).
 *
 * Design notes.
 *
 * Tasks. A task is one allocation: the header below, then room for the
 * future's output. It is reference counted: one reference while it is alive
 * (spawned, not yet completed or dropped), one per waker clone, one per
 * queue it sits in. So a waker may outlive its task's completion and even
 * the executor: waking a completed task does nothing, and the task memory
 * goes with its last reference. Each task holds a reference to the executor
 * struct, whose memory (the lock and the remote queue) must outlive every
 * waker; achan_executor_drop releases the executor's own reference.
 *
 * Task state, an atomic word:
 *   QUEUED  the task sits in a ready queue (or is about to). Set by a wake
 *           with fetch_or: only the waker that set it enqueues, so a task is
 *           queued at most once at a time. Cleared (fetch_and) by the
 *           executor just before it polls the task, so a wake during the
 *           poll queues it again. The acq_rel RMW chain on state orders
 *           whatever a waker published before its wake before that poll.
 *   DONE    the task completed or was dropped: wakes do nothing.
 *
 * Queues. The ready queue is an intrusive FIFO touched by the executor
 * thread only: wakes on that thread while it runs (running_ex) push there
 * directly. Wakes from anywhere else go to the remote queue under `lock`;
 * the executor moves it into the ready queue at each turn. `sleeping` (under
 * the lock) says the executor is about to park or parked: a remote push
 * then unparks it. The executor sets sleeping in the same critical section
 * in which it finds the remote queue empty, and the parker keeps a wake that
 * comes before the park, so no wake-up is lost. After drop, `closed` makes
 * remote pushes do nothing.
 *
 * A turn looks at the remote queue's length (remote_len, an atomic copy
 * kept under the lock) before taking the lock, and reads the clock only when
 * a timer is armed or run has a deadline: a turn of ready tasks costs neither
 * a lock nor a clock read.
 *
 * Each run turn fires the due timers, moves the remote queue over, then polls
 * the tasks that were ready at the start of the turn (a task woken during
 * its own poll waits for the next turn, so timers and remote wakes are seen
 * between turns). Around each poll the executor makes its timer heap the
 * current timer and sets the cooperative budget, restoring both after.
 */
#define _POSIX_C_SOURCE 200809L
#include "achan/executor.h"

#include <pthread.h>

#include "alloc.h"
#include "atomics.h"
#include "parker.h"
#include "timer_internal.h"
#include "achan/combinators.h"

enum { TASK_QUEUED = 1, TASK_DONE = 2 };

#define DEFAULT_BUDGET 128
#define FIRE_BATCH 16

typedef struct task task;

struct task {
    achan__atomic_size refs;
    achan__atomic_size state;      /* TASK_QUEUED | TASK_DONE. */
    task *next;                    /* In a queue (QUEUED). */
    task *prev_alive, *next_alive; /* Executor thread: the alive list. */
    achan_executor *ex;
    achan_future *f;
    achan_task_done_fn done;
    void *user;
    void *out; /* output_size bytes after the header, or NULL. */
    size_t size;
};

typedef struct {
    task *head, *tail;
    size_t len;
} task_queue;

struct achan_executor {
    achan__heap_timer timer; /* Executor thread only (no lock). */
    achan_allocator alloc;
    achan__atomic_size refs; /* The executor itself + one per task. */

    /* Executor thread only. */
    unsigned budget;
    task_queue ready;
    task *alive_head;
    size_t alive;
    bool running;

    /* Shared with remote wakers, under lock. */
    pthread_mutex_t lock;
    task_queue remote;
    /* remote.len, written under lock, read without it: a turn that sees 0
     * skips the lock (a push it misses is taken at the next turn, and the
     * check before parking looks under the lock). */
    achan__atomic_size remote_len;
    bool sleeping;
    bool closed;
    achan_waker park_waker; /* The running thread's parker; vtbl NULL if none yet. */
};

static _Thread_local achan_executor *running_ex;

/* ------------------------------------------------------------------------ */
/* Reference counts.                                                         */

static void executor_free(achan_executor *ex) {
    pthread_mutex_destroy(&ex->lock);
    achan_allocator alloc = ex->alloc;
    achan__free(&alloc, ex, sizeof *ex);
}

static void executor_release(achan_executor *ex) {
    /* acq_rel: the last releaser sees every other user's last access. */
    if (achan__size_fetch_sub_acq_rel(&ex->refs, 1) == 1)
        executor_free(ex);
}

static void task_retain(task *t) {
    /* Relaxed: the caller holds a reference, so the count cannot reach zero
     * meanwhile, and the increment publishes nothing. */
    achan__size_fetch_add_relaxed(&t->refs, 1);
}

static void task_release(task *t) {
    /* acq_rel: the last releaser sees every other reference's last use. */
    if (achan__size_fetch_sub_acq_rel(&t->refs, 1) != 1)
        return;
    achan_executor *ex = t->ex;
    achan__free(&ex->alloc, t, t->size);
    executor_release(ex);
}

/* ------------------------------------------------------------------------ */
/* Queues and wakers.                                                        */

static void queue_push(task_queue *q, task *t) {
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->len++;
}

static task *queue_pop(task_queue *q) {
    task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
    }
    return t;
}

/* Appends all of src to dst and empties src. */
static void queue_splice(task_queue *dst, task_queue *src) {
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->len += src->len;
    src->head = src->tail = NULL;
    src->len = 0;
}

static void remote_push(achan_executor *ex, task *t) {
    pthread_mutex_lock(&ex->lock);
    if (!ex->closed) {
        task_retain(t); /* The queue's reference. */
        queue_push(&ex->remote, t);
        /* Release: take_remote's acquire load, which then takes the lock. */
        achan__size_store_release(&ex->remote_len, ex->remote.len);
        /* The parker's own waker only unparks (an atomic exchange and maybe
         * a futex wake) and cannot re-enter the executor, so unlike other
         * wakers it may run under the lock, which keeps it alive meanwhile. */
        if (ex->sleeping)
            achan_waker_wake_by_ref(&ex->park_waker);
    }
    pthread_mutex_unlock(&ex->lock);
}

static void task_schedule(task *t) {
    /* acq_rel: pairs with the executor's fetch_and before the poll (see the
     * design notes); only the wake that set QUEUED enqueues. */
    size_t s = achan__size_fetch_or_acq_rel(&t->state, TASK_QUEUED);
    if (s & (TASK_QUEUED | TASK_DONE))
        return;
    achan_executor *ex = t->ex;
    if (running_ex == ex) {
        task_retain(t);
        queue_push(&ex->ready, t);
    } else {
        remote_push(ex, t);
    }
}

static achan_waker task_waker_clone(const void *data);
static void task_waker_wake(void *data);
static void task_waker_wake_by_ref(const void *data);
static void task_waker_drop(void *data);

static const achan_waker_vtbl task_waker_vtbl = {task_waker_clone, task_waker_wake,
                                                 task_waker_wake_by_ref, task_waker_drop};

static achan_waker task_waker_clone(const void *data) {
    task *t = (task *)data;
    task_retain(t);
    achan_waker w = {&task_waker_vtbl, t};
    return w;
}

static void task_waker_wake(void *data) {
    task_schedule(data);
    task_release(data);
}

static void task_waker_wake_by_ref(const void *data) {
    task_schedule((task *)data);
}

static void task_waker_drop(void *data) {
    task_release(data);
}

/* ------------------------------------------------------------------------ */
/* Creation and spawning.                                                    */

achan_status achan_executor_new(achan_executor **out) {
    if (!out)
        return ACHAN_INVALID;
    achan_allocator alloc;
    achan__allocator_copy(&alloc, achan_default_allocator());
    achan_executor *ex = achan__alloc(&alloc, sizeof *ex, _Alignof(achan_executor));
    if (!ex)
        return ACHAN_NOMEM;
    ex->alloc = alloc;
    if (pthread_mutex_init(&ex->lock, NULL) != 0) {
        achan__free(&alloc, ex, sizeof *ex);
        return ACHAN_NOMEM;
    }
    if (!achan__heap_timer_init(&ex->timer, &alloc, NULL, NULL, 16)) {
        pthread_mutex_destroy(&ex->lock);
        achan__free(&alloc, ex, sizeof *ex);
        return ACHAN_NOMEM;
    }
    achan__size_init(&ex->refs, 1);
    ex->budget = DEFAULT_BUDGET;
    ex->ready = (task_queue){NULL, NULL, 0};
    ex->remote = (task_queue){NULL, NULL, 0};
    achan__size_init(&ex->remote_len, 0);
    ex->alive_head = NULL;
    ex->alive = 0;
    ex->running = false;
    ex->sleeping = false;
    ex->closed = false;
    ex->park_waker.vtbl = NULL;
    ex->park_waker.data = NULL;
    *out = ex;
    return ACHAN_OK;
}

void achan_executor_set_budget(achan_executor *ex, unsigned polls) {
    if (ex)
        ex->budget = polls;
}

achan_timer *achan_executor_timer(achan_executor *ex) {
    return ex ? &ex->timer.base : NULL;
}

size_t achan_executor_tasks(const achan_executor *ex) {
    return ex ? ex->alive : 0;
}

achan_status achan_executor_spawn(achan_executor *ex, achan_future *f, achan_task_done_fn done,
                                  void *user) {
    if (!ex || !f || ex->closed)
        return ACHAN_INVALID;
    size_t header = achan__round_up(sizeof(task), _Alignof(max_align_t));
    if (f->output_size > SIZE_MAX - header)
        return ACHAN_NOMEM;
    size_t size = header + f->output_size;
    task *t = achan__alloc(&ex->alloc, size, _Alignof(max_align_t));
    if (!t)
        return ACHAN_NOMEM;
    achan__size_init(&t->refs, 2); /* Alive, and the ready queue's. */
    achan__size_init(&t->state, TASK_QUEUED);
    t->ex = ex;
    t->f = f;
    t->done = done;
    t->user = user;
    t->out = f->output_size ? (char *)t + header : NULL;
    t->size = size;
    /* Relaxed: we hold the executor's own reference (see task_retain). */
    achan__size_fetch_add_relaxed(&ex->refs, 1);
    t->prev_alive = NULL;
    t->next_alive = ex->alive_head;
    if (ex->alive_head)
        ex->alive_head->prev_alive = t;
    ex->alive_head = t;
    ex->alive++;
    queue_push(&ex->ready, t);
    return ACHAN_OK;
}

/* ------------------------------------------------------------------------ */
/* Running.                                                                  */

static void unlink_alive(achan_executor *ex, task *t) {
    if (t->prev_alive)
        t->prev_alive->next_alive = t->next_alive;
    else
        ex->alive_head = t->next_alive;
    if (t->next_alive)
        t->next_alive->prev_alive = t->prev_alive;
    ex->alive--;
}

/* Ends t (completed with st and output, or dropped): wakes no longer count,
 * the future goes, done is told, the alive reference is released. */
static void finish(achan_executor *ex, task *t, achan_status st, void *output) {
    /* acq_rel, in the same RMW chain as task_schedule's fetch_or: a wake
     * that comes after this sees DONE and queues nothing. */
    achan__size_fetch_or_acq_rel(&t->state, TASK_DONE);
    unlink_alive(ex, t);
    achan_future_drop(t->f);
    t->f = NULL;
    if (t->done)
        t->done(st, output, t->user);
    task_release(t);
}

/* Polls t, popped from the ready queue with the queue's reference. */
static void poll_task(achan_executor *ex, task *t) {
    /* acq_rel: pairs with task_schedule's fetch_or (see the design notes). */
    size_t s = achan__size_fetch_and_acq_rel(&t->state, ~(size_t)TASK_QUEUED);
    if (!(s & TASK_DONE)) {
        achan_waker w = {&task_waker_vtbl, t}; /* Borrowed: the context owns nothing. */
        achan_context cx = {&w};
        achan_timer *prev_timer = achan_timer_set_current(&ex->timer.base);
        unsigned prev_budget = achan_coop_set_budget(ex->budget);
        achan_status st = t->f->vtbl->poll(t->f, &cx, t->out);
        achan_coop_set_budget(prev_budget);
        achan_timer_set_current(prev_timer);
        if (st != ACHAN_PENDING)
            finish(ex, t, st, t->out);
    }
    task_release(t);
}

/* Whether a timer is due: reads the clock only when one is armed (on some
 * machines a clock read costs as much as polling a task). */
static bool timer_due(const achan_executor *ex) {
    uint64_t next = achan__heap_timer_next(&ex->timer);
    return next != ACHAN__NO_DEADLINE && next <= achan_monotonic_ns();
}

static void fire_timers(achan_executor *ex) {
    if (achan__heap_timer_next(&ex->timer) == ACHAN__NO_DEADLINE)
        return;
    achan_waker batch[FIRE_BATCH];
    size_t n;
    do {
        n = achan__heap_timer_take_due(&ex->timer, achan_monotonic_ns(), batch, FIRE_BATCH);
        for (size_t i = 0; i < n; i++)
            achan_waker_wake(batch[i]);
    } while (n == FIRE_BATCH);
}

static void take_remote(achan_executor *ex) {
    /* Acquire: pairs with remote_push's release store. */
    if (achan__size_load_acquire(&ex->remote_len) == 0)
        return;
    task_queue q;
    pthread_mutex_lock(&ex->lock);
    q = ex->remote;
    ex->remote = (task_queue){NULL, NULL, 0};
    /* Relaxed: written under the lock; a stale nonzero only costs a lock. */
    achan__size_store_relaxed(&ex->remote_len, 0);
    pthread_mutex_unlock(&ex->lock);
    queue_splice(&ex->ready, &q);
}

/* One turn: due timers, remote wakes, then the tasks ready now. */
static void turn(achan_executor *ex) {
    fire_timers(ex);
    take_remote(ex);
    for (size_t n = ex->ready.len; n > 0; n--)
        poll_task(ex, queue_pop(&ex->ready));
}

static bool enter(achan_executor *ex, achan_executor **prev) {
    if (ex->running || ex->closed)
        return false;
    ex->running = true;
    *prev = running_ex;
    running_ex = ex;
    return true;
}

static void leave(achan_executor *ex, achan_executor *prev) {
    running_ex = prev;
    ex->running = false;
}

size_t achan_executor_run_until_idle(achan_executor *ex) {
    achan_executor *prev = NULL;
    if (!ex || !enter(ex, &prev))
        return ex ? ex->alive : 0;
    do {
        turn(ex);
    } while (ex->ready.len > 0 || timer_due(ex));
    leave(ex, prev);
    return ex->alive;
}

/* Makes the calling thread's parker the one remote wakes unpark. */
static bool adopt_thread(achan_executor *ex) {
    achan__parker *p = achan__parker_current();
    if (!p)
        return false;
    if (ex->park_waker.vtbl && ex->park_waker.data == (void *)p)
        return true;
    achan_waker fresh = achan__parker_waker(p);
    pthread_mutex_lock(&ex->lock);
    achan_waker old = ex->park_waker;
    ex->park_waker = fresh;
    pthread_mutex_unlock(&ex->lock);
    if (old.vtbl)
        achan_waker_drop(old);
    return true;
}

/* Parks until a remote wake, the next timer deadline or until. */
static void sleep_until(achan_executor *ex, uint64_t until) {
    uint64_t next = achan__heap_timer_next(&ex->timer);
    if (next < until)
        until = next;
    pthread_mutex_lock(&ex->lock);
    bool idle = ex->remote.head == NULL;
    ex->sleeping = idle;
    pthread_mutex_unlock(&ex->lock);
    if (!idle)
        return;
    achan__parker_park(achan__parker_current(), until);
    pthread_mutex_lock(&ex->lock);
    ex->sleeping = false;
    pthread_mutex_unlock(&ex->lock);
}

achan_status achan_executor_run(achan_executor *ex, int64_t timeout_ns) {
    if (!ex || ex->running || ex->closed)
        return ACHAN_INVALID;
    uint64_t deadline = achan__deadline_after(timeout_ns);
    if (!adopt_thread(ex))
        return ACHAN_NOMEM;
    achan_executor *prev = NULL;
    enter(ex, &prev);
    achan_status st;
    for (;;) {
        turn(ex);
        if (ex->alive == 0) {
            st = ACHAN_OK;
            break;
        }
        if (ex->ready.len > 0 && deadline == ACHAN__NO_DEADLINE)
            continue; /* Work to do and no deadline: no clock read needed. */
        uint64_t now = achan_monotonic_ns();
        if (now >= deadline) {
            st = ACHAN_TIMEOUT;
            break;
        }
        if (ex->ready.len == 0 && achan__heap_timer_next(&ex->timer) > now)
            sleep_until(ex, deadline);
    }
    leave(ex, prev);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Dropping.                                                                 */

void achan_executor_drop(achan_executor *ex) {
    if (!ex || ex->running)
        return;
    pthread_mutex_lock(&ex->lock);
    ex->closed = true; /* From now on remote wakes queue nothing. */
    task_queue q = ex->remote;
    ex->remote = (task_queue){NULL, NULL, 0};
    achan__size_store_relaxed(&ex->remote_len, 0); /* Under the lock. */
    achan_waker park = ex->park_waker;
    ex->park_waker.vtbl = NULL;
    pthread_mutex_unlock(&ex->lock);
    queue_splice(&ex->ready, &q);
    task *t;
    while ((t = queue_pop(&ex->ready)) != NULL)
        task_release(t);
    /* Dropping a future may wake other tasks (they are not queued: closed)
     * and disarms its entries from the heap, which is still intact. */
    while (ex->alive_head)
        finish(ex, ex->alive_head, ACHAN_CLOSED, NULL);
    achan__heap_timer_destroy(&ex->timer);
    if (park.vtbl)
        achan_waker_drop(park);
    executor_release(ex);
}
