/* fuzz_mpsc.c - libFuzzer harness: mpsc against a reference model.
 *
 * The input is a channel configuration byte followed by operations, each an
 * opcode byte and an argument byte, applied from one thread to one channel
 * with up to four senders and the receiver: try_send, poll_send,
 * poll_send_cancel, send_blocking(0), try_recv, poll_recv, poll_recv_many,
 * close, clone, drop of a sender or of the receiver, len and capacity. The
 * model is a plain array queue plus a FIFO of waiting senders, the grants
 * they were given, and who registered a waker. Every status, every received
 * value, every wake count and every item_drop call must match the model;
 * on a mismatch the harness aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achan/achan.h"

#define MAX_SENDERS 4
#define MAX_ITEMS 4096

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mpsc: check failed at line %d: %s\n", __LINE__, #cond);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A waker that counts wakes and live clones. */
typedef struct {
    long wakes, live;
} counter;
static achan_waker cw_clone(const void *d);
static void cw_wake(void *d) { ((counter *)d)->wakes++, ((counter *)d)->live--; }
static void cw_wake_by_ref(const void *d) { ((counter *)d)->wakes++; }
static void cw_drop(void *d) { ((counter *)d)->live--; }
static const achan_waker_vtbl cw_vtbl = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};
static achan_waker cw_clone(const void *d) {
    ((counter *)d)->live++;
    achan_waker w = {&cw_vtbl, (void *)d};
    return w;
}

typedef enum { IDLE, QUEUED, GRANTED } wait_state;

typedef struct {
    achan_mpsc_sender *h; /* NULL: no sender in this slot. */
    wait_state state;
    counter waker;
    long expect_wakes;
} sender_model;

typedef struct {
    size_t cap; /* 0: unbounded */
    uint32_t items[MAX_ITEMS];
    size_t head, len;
    sender_model s[MAX_SENDERS];
    int queue[MAX_SENDERS * 2], qlen; /* FIFO of queued sender indexes. */
    size_t grants;
    int tx_count;
    bool rx_closed, rx_dropped, rx_ended, rx_registered;
    counter rx_waker;
    long rx_expect_wakes;
    uint32_t next_value;
    /* Accounting: each value sent is received or item_drop'ed exactly once. */
    uint8_t fate[1 << 16]; /* 0 unsent, 1 in channel, 2 received, 3 dropped */
} model;

static model m;
static achan_mpsc_receiver *rx;

static void on_item_drop(void *item, void *user) {
    (void)user;
    uint32_t v = *(uint32_t *)item;
    CHECK(v < sizeof m.fate && m.fate[v] == 1);
    m.fate[v] = 3;
}

static void notify_rx(void) {
    if (m.rx_registered) {
        m.rx_registered = false;
        m.rx_expect_wakes++;
    }
}

static size_t free_slots(void) { return m.cap - m.len; }

static void queue_remove(int i) {
    for (int k = 0; k < m.qlen; k++) {
        if (m.queue[k] == i) {
            memmove(&m.queue[k], &m.queue[k + 1], (size_t)(m.qlen - k - 1) * sizeof m.queue[0]);
            m.qlen--;
            return;
        }
    }
    CHECK(0);
}

/* Grants free slots to queued senders in order. */
static void serve(void) {
    if (!m.cap)
        return;
    while (m.qlen > 0 && free_slots() > m.grants) {
        int i = m.queue[0];
        queue_remove(i);
        m.s[i].state = GRANTED;
        m.s[i].expect_wakes++;
        m.grants++;
    }
}

static void model_push(uint32_t v) {
    CHECK(m.len < MAX_ITEMS);
    m.items[(m.head + m.len) % MAX_ITEMS] = v;
    m.len++;
    m.fate[v] = 1;
    notify_rx();
}

static uint32_t model_pop(void) {
    uint32_t v = m.items[m.head];
    m.head = (m.head + 1) % MAX_ITEMS;
    m.len--;
    return v;
}

/* What a send from an idle sender does without waiting. */
static achan_status fast_send_status(void) {
    if (m.rx_closed)
        return ACHAN_CLOSED;
    /* Full when a sender waits (no barging) or every free slot is granted. */
    if (m.cap && (m.qlen > 0 || m.len + m.grants >= m.cap))
        return ACHAN_FULL;
    return ACHAN_OK;
}

static bool no_more_sends(void) { return m.tx_count == 0 || (m.rx_closed && m.grants == 0); }

static void leave_wait(int i) {
    sender_model *s = &m.s[i];
    if (s->state == QUEUED) {
        queue_remove(i);
    } else if (s->state == GRANTED) {
        m.grants--;
        serve();
        if (m.grants == 0 && m.rx_closed)
            notify_rx();
    }
    s->state = IDLE;
}

static void check_wakes(void) {
    CHECK(m.rx_waker.wakes == m.rx_expect_wakes);
    for (int i = 0; i < MAX_SENDERS; i++)
        CHECK(m.s[i].waker.wakes == m.s[i].expect_wakes);
}

static void op_send(int i, int how) {
    sender_model *s = &m.s[i];
    if (!s->h)
        return;
    uint32_t v = m.next_value;
    if (v >= sizeof m.fate)
        return;
    achan_waker w = {&cw_vtbl, &s->waker};
    achan_context cx = {&w};
    achan_status got, want;
    if (how == 0) { /* try_send */
        got = achan_mpsc_try_send(s->h, &v);
        want = fast_send_status();
    } else if (how == 1) { /* poll_send */
        got = achan_mpsc_poll_send(s->h, &cx, &v);
        if (s->state == GRANTED) {
            m.grants--;
            s->state = IDLE;
            want = m.rx_dropped ? ACHAN_CLOSED : ACHAN_OK;
        } else if (s->state == QUEUED) {
            want = m.rx_closed ? ACHAN_CLOSED : ACHAN_PENDING;
            if (want == ACHAN_CLOSED)
                leave_wait(i);
        } else {
            want = fast_send_status();
            if (want == ACHAN_FULL) {
                m.queue[m.qlen++] = i;
                s->state = QUEUED;
                serve();
                want = ACHAN_PENDING;
            }
        }
    } else { /* send_blocking with timeout 0 */
        got = achan_mpsc_send_blocking(s->h, &v, 0);
        if (s->state == GRANTED) {
            m.grants--;
            s->state = IDLE;
            want = m.rx_dropped ? ACHAN_CLOSED : ACHAN_OK;
        } else if (s->state == QUEUED) {
            if (m.rx_closed) {
                want = ACHAN_CLOSED;
            } else {
                want = ACHAN_TIMEOUT; /* Gives up its place in the queue. */
            }
            leave_wait(i);
        } else {
            want = fast_send_status();
            if (want == ACHAN_FULL)
                want = ACHAN_TIMEOUT;
        }
    }
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "send s%d how %d: got %s want %s (state %d qlen %d grants %zu len %zu)\n", i,
                how, achan_status_str(got), achan_status_str(want), s->state, m.qlen, m.grants,
                m.len);
    CHECK(got == want);
    if (got == ACHAN_OK) {
        model_push(v);
        m.next_value++;
    }
}

static void op_cancel(int i) {
    if (!m.s[i].h)
        return;
    achan_mpsc_poll_send_cancel(m.s[i].h);
    leave_wait(i);
}

static void op_recv(int how, int max) {
    if (m.rx_dropped)
        return;
    achan_waker w = {&cw_vtbl, &m.rx_waker};
    achan_context cx = {&w};
    uint32_t buf[8];
    achan_status got;
    size_t n = 1;
    if (how == 0) {
        got = achan_mpsc_try_recv(rx, buf);
    } else if (how == 1) {
        got = achan_mpsc_poll_recv(rx, &cx, buf);
    } else {
        size_t k = (size_t)max % 8 + 1;
        n = achan_mpsc_poll_recv_many(rx, &cx, buf, k, &got);
        if (got == ACHAN_OK) {
            CHECK(n == (m.len < k ? m.len : k));
        } else {
            CHECK(n == 0);
        }
    }
    if (m.rx_ended || (m.len == 0 && no_more_sends())) {
        CHECK(got == ACHAN_CLOSED);
        m.rx_ended = true;
        return;
    }
    if (m.len == 0) {
        CHECK(got == (how == 0 ? ACHAN_EMPTY : ACHAN_PENDING));
        if (how != 0)
            m.rx_registered = true;
        return;
    }
    CHECK(got == ACHAN_OK);
    for (size_t k = 0; k < n; k++) {
        uint32_t v = model_pop();
        CHECK(buf[k] == v);
        m.fate[v] = 2;
    }
    serve();
}

static void op_close(void) {
    if (m.rx_dropped)
        return;
    achan_mpsc_receiver_close(rx);
    if (m.rx_closed)
        return;
    m.rx_closed = true;
    while (m.qlen > 0) { /* Every queued sender is woken; grants stay. */
        int i = m.queue[0];
        queue_remove(i);
        m.s[i].state = IDLE;
        m.s[i].expect_wakes++;
    }
}

static void op_clone(int from) {
    if (!m.s[from].h)
        return;
    for (int i = 0; i < MAX_SENDERS; i++) {
        if (!m.s[i].h) {
            m.s[i].h = achan_mpsc_sender_clone(m.s[from].h);
            CHECK(m.s[i].h != NULL);
            m.s[i].state = IDLE;
            m.tx_count++;
            return;
        }
    }
}

static void op_drop_sender(int i) {
    if (!m.s[i].h)
        return;
    achan_mpsc_sender_drop(m.s[i].h);
    m.s[i].h = NULL;
    leave_wait(i);
    if (--m.tx_count == 0)
        notify_rx();
}

static void op_drop_receiver(void) {
    if (m.rx_dropped)
        return;
    op_close();
    achan_mpsc_receiver_drop(rx);
    m.rx_dropped = true;
    while (m.len > 0) /* Every buffered item went to item_drop. */
        CHECK(m.fate[model_pop()] == 3);
    m.rx_registered = false; /* Its waker was released, not woken. */
}

static void op_query(int i) {
    if (!m.rx_dropped)
        CHECK(achan_mpsc_len(rx) == m.len);
    if (m.s[i].h) {
        size_t want = m.cap ? m.cap - m.len - m.grants : SIZE_MAX;
        CHECK(achan_mpsc_capacity(m.s[i].h) == want);
        CHECK(achan_mpsc_sender_is_closed(m.s[i].h) == m.rx_closed);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    memset(&m, 0, sizeof m);
    m.cap = data[0] % 9; /* 0 (unbounded) .. 8 */
    achan_opts o = {.item_size = sizeof(uint32_t), .capacity = m.cap, .item_drop = on_item_drop};
    CHECK(achan_mpsc_new(&o, &m.s[0].h, &rx) == ACHAN_OK);
    m.tx_count = 1;
    for (size_t p = 1; p + 1 < size; p += 2) {
        int arg = data[p + 1], i = arg % MAX_SENDERS;
        if (getenv("FUZZ_TRACE"))
            fprintf(stderr, "op %d arg %d\n", data[p] % 12, arg);
        switch (data[p] % 12) {
        case 0: op_send(i, 0); break;
        case 1: op_send(i, 1); break;
        case 2: op_send(i, 2); break;
        case 3: op_cancel(i); break;
        case 4: op_recv(0, arg); break;
        case 5: op_recv(1, arg); break;
        case 6: op_recv(2, arg); break;
        case 7: op_close(); break;
        case 8: op_clone(i); break;
        case 9: op_drop_sender(i); break;
        case 10: op_drop_receiver(); break;
        default: op_query(i); break;
        }
        check_wakes();
    }
    /* Tear down; the model accounts for every value sent. */
    for (int i = 0; i < MAX_SENDERS; i++)
        op_drop_sender(i);
    op_drop_receiver();
    check_wakes();
    for (uint32_t v = 0; v < m.next_value; v++)
        CHECK(m.fate[v] == 2 || m.fate[v] == 3);
    CHECK(m.rx_waker.live == 0);
    for (int i = 0; i < MAX_SENDERS; i++)
        CHECK(m.s[i].waker.live == 0);
    return 0;
}
