/**
 * @file
 * @brief achan/executor.h - a small single-threaded executor with timers.
 *
 * For tests, examples and simple programs (not a runtime to compete with
 * libuv or Tokio): spawn futures, run them on the calling thread until they
 * are all done or nothing is ready, with a timer heap so time-based adapters
 * and sleeps work.
 *
 *     achan_executor *ex;
 *     achan_executor_new(&ex);
 *     achan_future *f;
 *     achan_stream_for_each(stream, handle, NULL, NULL, &f);
 *     achan_executor_spawn(ex, f, NULL, NULL);
 *     achan_executor_run(ex, -1);          // until every task completed
 *     achan_executor_drop(ex);
 *
 * Each task is polled with a waker that re-queues it (safe to wake from any
 * thread: the executor then unparks), with the executor's timer heap as the
 * current timer (achan_timer_current) and with the cooperative budget set
 * (achan_coop_proceed; 128 polls per turn by default, as Tokio), so one
 * always-ready task cannot starve the others.
 *
 * Concurrency:
 *
 *     call                          | may run concurrently with
 *     ------------------------------+-------------------------------------------
 *     achan_executor_new            | anything except achan_set_default_allocator
 *     every other achan_executor_   | anything on other executors; one thread at
 *     function                      | a time per executor: its own thread, the
 *                                   | one that calls run. Tasks and done
 *                                   | callbacks may call them from inside run
 *                                   | (or run_until_idle): spawn, timer, tasks
 *                                   | and set_budget act, run and
 *                                   | run_until_idle return at once, drop is
 *                                   | ignored
 *     a task's waker: clone, wake,  | anything, from any thread, even after the
 *     wake_by_ref, drop             | task completed or the executor was dropped
 *
 * Tasks are polled on the thread inside run or run_until_idle; done
 * callbacks run there too, or inside achan_executor_drop.
 *
 * Ownership:
 *
 *     what                          | owned and freed by
 *     ------------------------------+-------------------------------------------
 *     the executor                  | the caller: achan_executor_drop (what task
 *                                   | wakers still reference goes with the last
 *                                   | of them)
 *     a spawned future              | the executor, from a successful spawn on:
 *                                   | dropped when it completes (before done is
 *                                   | called) or by achan_executor_drop
 *     done's user                   | the caller; done is called once per task
 *                                   | (at completion, or with ACHAN_CLOSED from
 *                                   | achan_executor_drop), so it may free it
 *     done's output                 | the executor: valid during the call only
 *     a task waker clone            | whoever cloned it: wake or drop it once
 *     achan_executor_timer's timer  | the executor; disarm its entries before
 *                                   | achan_executor_drop
 */
#ifndef ACHAN_EXECUTOR_H
#define ACHAN_EXECUTOR_H

#include "achan/stream.h"
#include "achan/timer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An executor; created with achan_executor_new, released with achan_executor_drop. */
typedef struct achan_executor achan_executor;

/**
 * Called on the executor's thread when a task's future completes, with its
 * final status and output (output_size bytes; NULL when 0), or with
 * ACHAN_CLOSED and a NULL output when the executor is dropped first.
 */
typedef void (*achan_task_done_fn)(achan_status st, void *output, void *user);

/**
 * Creates an executor with no task in *out: ACHAN_OK, ACHAN_INVALID (NULL
 * out), ACHAN_NOMEM.
 */
ACHAN_API achan_status achan_executor_new(achan_executor **out);

/**
 * Polls per task turn before the task is made to yield (the cooperative
 * budget, achan_coop_proceed); 0 disables the budget. Default 128. NULL is
 * ignored.
 */
ACHAN_API void achan_executor_set_budget(achan_executor *ex, unsigned polls);

/**
 * Adds f (taking ownership) as a task, ready to run; done (may be NULL) gets
 * its result. ACHAN_INVALID (also from a done callback run by
 * achan_executor_drop), ACHAN_NOMEM (f not taken). Tasks may spawn.
 */
ACHAN_API achan_status achan_executor_spawn(achan_executor *ex, achan_future *f,
                                            achan_task_done_fn done, void *user);

/**
 * Runs tasks until every task completed (ACHAN_OK) or timeout_ns passed
 * (ACHAN_TIMEOUT; 0 runs one turn), sleeping while none is ready until a
 * wake or the next timer deadline. ACHAN_INVALID for a NULL or already
 * running executor, ACHAN_NOMEM if the thread's parker could not be
 * allocated.
 */
ACHAN_API achan_status achan_executor_run(achan_executor *ex, int64_t timeout_ns);

/**
 * Runs ready tasks and due timers until none is ready, without sleeping.
 * Returns the number of tasks still alive. A task that always wakes itself
 * (one that keeps yielding to the budget over an endless ready stream) is
 * always ready, so this does not return while it lives: use run with a
 * timeout for such tasks.
 */
ACHAN_API size_t achan_executor_run_until_idle(achan_executor *ex);

/**
 * The executor's timer (its heap), for arming entries outside a task, on
 * the executor's thread. Disarm them before dropping the executor.
 */
ACHAN_API achan_timer *achan_executor_timer(achan_executor *ex);

/** Tasks alive (spawned, not yet completed). */
ACHAN_API size_t achan_executor_tasks(const achan_executor *ex);

/**
 * Drops every remaining task (their done callbacks get ACHAN_CLOSED) and
 * the executor. Wakers of its tasks may outlive it: waking them then does
 * nothing, and the last one frees what remains. NULL is ignored, and so is
 * a call from inside run.
 */
ACHAN_API void achan_executor_drop(achan_executor *ex);

#ifdef __cplusplus
}
#endif
#endif /* ACHAN_EXECUTOR_H */
