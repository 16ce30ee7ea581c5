/* fuzz_oneshot.c - libFuzzer harness: oneshot against a reference model.
 *
 * The input is a sequence of operations, each an opcode byte and an argument
 * byte, applied from one thread to one oneshot channel at a time: send,
 * sender drop, poll_closed and sender_is_closed on the sender; try_recv,
 * poll_recv, the stream view, the future view, recv_blocking(0),
 * receiver_close and the three ways of dropping the receiver (directly, as
 * the stream, as the future) on the receiver; calls with bad arguments
 * (ACHAN_INVALID, nothing changed); and "restart", which tears the
 * channel down (checking the teardown) and creates a new one, with an item
 * size, and possibly a failing first allocation, taken from the argument.
 *
 * The model is Tokio's oneshot as a small state machine: completed (the
 * sender sent or was dropped), a value present and not yet taken, closed
 * (the receiver closed or was dropped), the receiver finished (a receive
 * returned OK or CLOSED), which of two wakers each side registered. Two
 * counting wakers per side make replacement visible: polling with the other
 * one must drop the first. Every status, every received value, every wake
 * count and every live waker clone must match after each operation, and the
 * value sent must end up received, passed to item_drop, or kept by the
 * caller when send returned CLOSED, exactly once. The channel's allocator
 * checks that each block is freed once with its size, and that none is left.
 */
#define FUZZ_NAME "fuzz_oneshot"
#include "fuzz_support.h"

#define MAX_ITEM 100

typedef enum { UNSENT, IN_CHANNEL, RECEIVED, DROPPED, KEPT } value_fate;

typedef struct {
    achan_oneshot_sender *tx;   /* NULL once consumed. */
    achan_oneshot_receiver *rx; /* NULL once dropped. */
    size_t item_size;
    fz_heap heap;
    achan_allocator alloc;
    /* The model. */
    bool completed; /* The sender sent (OK) or was dropped: VALUE_SENT. */
    bool has_value; /* A value was sent and not yet taken. */
    bool closed;    /* The receiver closed or was dropped. */
    bool rx_done;   /* A receive returned OK or CLOSED. */
    int rx_reg;     /* The receiver waker registered (0, 1), or -1. */
    int tx_reg;     /* The sender's poll_closed waker, or -1. */
    value_fate fate;
    uint8_t value[MAX_ITEM]; /* The value sent this episode. */
    fz_counter rxw[2], txw[2];
    long rx_wakes[2], tx_wakes[2], rx_live[2], tx_live[2];
} model;

static model m;
static unsigned episode;

static void on_item_drop(void *item, void *user) {
    CHECK(user == &m);
    CHECK(m.fate == IN_CHANNEL);
    CHECK(memcmp(item, m.value, m.item_size) == 0);
    m.fate = DROPPED;
}

static void check_wakers(void) {
    for (int k = 0; k < 2; k++) {
        CHECK(m.rxw[k].wakes == m.rx_wakes[k]);
        CHECK(m.txw[k].wakes == m.tx_wakes[k]);
        CHECK(m.rxw[k].live == m.rx_live[k]);
        CHECK(m.txw[k].live == m.tx_live[k]);
    }
}

static void start(uint8_t arg) {
    static const size_t sizes[] = {1, 4, 8, 24, MAX_ITEM};
    memset(&m, 0, sizeof m);
    m.item_size = sizes[arg % 5];
    m.rx_reg = m.tx_reg = -1;
    m.alloc = fz_allocator(&m.heap);
    achan_opts o = {
        .item_size = m.item_size, .item_drop = on_item_drop, .user = &m, .allocator = &m.alloc};
    achan_oneshot_sender *tx = (void *)&m;
    achan_oneshot_receiver *rx = (void *)&m;
    if (arg & 0x80) { /* The one allocation fails: nothing is touched. */
        m.heap.fail_at = 1;
        CHECK(achan_oneshot_new(&o, &tx, &rx) == ACHAN_NOMEM);
        CHECK(tx == (void *)&m && rx == (void *)&m);
        CHECK(m.heap.n == 0);
    }
    CHECK(achan_oneshot_new(&o, &tx, &rx) == ACHAN_OK);
    m.tx = tx;
    m.rx = rx;
    episode++;
}

/* The last handle went: the channel drops whatever waker it still holds. */
static void model_free_if_last(void) {
    if (m.tx || m.rx)
        return;
    if (m.tx_reg >= 0)
        m.tx_live[m.tx_reg]--;
    if (m.rx_reg >= 0)
        m.rx_live[m.rx_reg]--;
    m.tx_reg = m.rx_reg = -1;
}

/* ---- sender ---- */

static void op_send(uint8_t arg) {
    if (!m.tx)
        return;
    uint8_t v[MAX_ITEM];
    for (size_t i = 0; i < m.item_size; i++)
        v[i] = (uint8_t)(arg + episode * 7 + i * 13);
    achan_status got = achan_oneshot_send(m.tx, v);
    m.tx = NULL; /* Consumed whatever the result. */
    TRACE("send: %s\n", achan_status_str(got));
    if (m.closed) {
        CHECK(got == ACHAN_CLOSED);
        m.fate = KEPT; /* Neither stored nor passed to item_drop. */
        model_free_if_last();
        return;
    }
    CHECK(got == ACHAN_OK);
    memcpy(m.value, v, m.item_size);
    m.fate = IN_CHANNEL;
    m.completed = m.has_value = true;
    if (m.rx_reg >= 0)
        m.rx_wakes[m.rx_reg]++; /* By reference: the clone stays until the receiver goes. */
    if (m.tx_reg >= 0) {        /* Nobody will wake it now: dropped at once. */
        m.tx_live[m.tx_reg]--;
        m.tx_reg = -1;
    }
}

static void op_sender_drop(void) {
    if (!m.tx)
        return;
    achan_oneshot_sender_drop(m.tx);
    m.tx = NULL;
    if (!m.closed) {
        m.completed = true;
        if (m.rx_reg >= 0)
            m.rx_wakes[m.rx_reg]++;
        if (m.tx_reg >= 0) {
            m.tx_live[m.tx_reg]--;
            m.tx_reg = -1;
        }
    }
    model_free_if_last();
}

static void op_poll_closed(int k) {
    if (!m.tx)
        return;
    achan_waker w = fz_waker(&m.txw[k]);
    achan_context cx = {&w};
    achan_status got = achan_oneshot_poll_closed(m.tx, &cx);
    if (m.closed) {
        CHECK(got == ACHAN_OK);
        return;
    }
    CHECK(got == ACHAN_PENDING);
    if (m.tx_reg != k) { /* A waker for another task replaces the old one. */
        if (m.tx_reg >= 0)
            m.tx_live[m.tx_reg]--;
        m.tx_live[k]++;
        m.tx_reg = k;
    }
}

static void op_sender_is_closed(void) {
    if (m.tx)
        CHECK(achan_oneshot_sender_is_closed(m.tx) == m.closed);
}

/* ---- receiver ---- */

typedef enum { VIA_TRY, VIA_POLL, VIA_STREAM, VIA_FUTURE, VIA_BLOCKING } recv_via;

static void op_recv(recv_via via, int k) {
    if (!m.rx)
        return;
    achan_waker w = fz_waker(&m.rxw[k]);
    achan_context cx = {&w};
    uint8_t item[MAX_ITEM], sentinel[MAX_ITEM];
    memset(sentinel, 0xA5, sizeof sentinel);
    memcpy(item, sentinel, sizeof item);
    achan_status got = ACHAN_INVALID;
    switch (via) {
    case VIA_TRY:
        got = achan_oneshot_try_recv(m.rx, item);
        break;
    case VIA_POLL:
        got = achan_oneshot_poll_recv(m.rx, &cx, item);
        break;
    case VIA_STREAM:
        got = achan_stream_poll_next(achan_oneshot_receiver_stream(m.rx), &cx, item);
        break;
    case VIA_FUTURE:
        got = achan_future_poll(achan_oneshot_receiver_future(m.rx), &cx, item);
        break;
    case VIA_BLOCKING:
        got = achan_oneshot_recv_blocking(m.rx, item, 0);
        break;
    }
    TRACE("recv via %d waker %d: %s\n", (int)via, k, achan_status_str(got));
    if (got != ACHAN_OK)
        CHECK(memcmp(item, sentinel, sizeof item) == 0); /* Nothing written. */
    if (m.rx_done || (m.completed && !m.has_value) || (!m.completed && m.closed)) {
        CHECK(got == ACHAN_CLOSED);
        m.rx_done = true;
        return;
    }
    if (m.completed) {
        CHECK(got == ACHAN_OK);
        CHECK(memcmp(item, m.value, m.item_size) == 0);
        CHECK(memcmp(item + m.item_size, sentinel, MAX_ITEM - m.item_size) == 0);
        CHECK(m.fate == IN_CHANNEL);
        m.fate = RECEIVED;
        m.has_value = false;
        m.rx_done = true;
        return;
    }
    /* Nothing sent yet, sender still there. */
    if (via == VIA_TRY) {
        CHECK(got == ACHAN_EMPTY);
        return;
    }
    if (via == VIA_BLOCKING) {
        CHECK(got == ACHAN_TIMEOUT);
        return;
    }
    CHECK(got == ACHAN_PENDING);
    if (m.rx_reg != k) {
        if (m.rx_reg >= 0)
            m.rx_live[m.rx_reg]--;
        m.rx_live[k]++;
        m.rx_reg = k;
    }
}

/* Tokio's close: refuses later sends, wakes a waiting poll_closed once. */
static void model_close(void) {
    if (m.closed)
        return;
    m.closed = true;
    if (m.tx_reg >= 0 && !m.completed)
        m.tx_wakes[m.tx_reg]++; /* By reference: dropped when the sender goes. */
}

static void op_close(void) {
    if (!m.rx)
        return;
    achan_oneshot_receiver_close(m.rx);
    model_close();
}

static void op_receiver_drop(int how) {
    if (!m.rx)
        return;
    if (how == 0)
        achan_oneshot_receiver_drop(m.rx);
    else if (how == 1)
        achan_stream_drop(achan_oneshot_receiver_stream(m.rx));
    else
        achan_future_drop(achan_oneshot_receiver_future(m.rx));
    m.rx = NULL;
    model_close();
    if (m.has_value) {
        CHECK(m.fate == DROPPED); /* on_item_drop ran, exactly once. */
        m.has_value = false;
    }
    if (m.rx_reg >= 0) { /* The receiver's waker goes with it. */
        m.rx_live[m.rx_reg]--;
        m.rx_reg = -1;
    }
    model_free_if_last();
}

/* Bad arguments: ACHAN_INVALID (or nothing done) and nothing changed; the
 * model does not move, and the next operations check that. */
static void op_invalid(uint8_t arg) {
    uint8_t item[MAX_ITEM];
    achan_waker w = fz_waker(&m.rxw[0]);
    achan_context cx = {&w}, nocx = {NULL};
    switch (arg % 7) {
    case 0: /* The sender is not consumed. */
        if (m.tx)
            CHECK(achan_oneshot_send(m.tx, NULL) == ACHAN_INVALID);
        break;
    case 1:
        if (m.tx)
            CHECK(achan_oneshot_poll_closed(m.tx, &nocx) == ACHAN_INVALID);
        break;
    case 2:
        if (m.rx)
            CHECK(achan_oneshot_try_recv(m.rx, NULL) == ACHAN_INVALID);
        break;
    case 3:
        if (m.rx)
            CHECK(achan_oneshot_poll_recv(m.rx, &cx, NULL) == ACHAN_INVALID);
        break;
    case 4:
        if (m.rx)
            CHECK(achan_oneshot_poll_recv(m.rx, &nocx, item) == ACHAN_INVALID);
        break;
    case 5:
        if (m.rx)
            CHECK(achan_oneshot_recv_blocking(m.rx, NULL, 0) == ACHAN_INVALID);
        break;
    default: /* NULL handles. */
        CHECK(achan_oneshot_send(NULL, item) == ACHAN_INVALID);
        CHECK(achan_oneshot_sender_is_closed(NULL));
        CHECK(achan_oneshot_poll_closed(NULL, &cx) == ACHAN_INVALID);
        CHECK(achan_oneshot_try_recv(NULL, item) == ACHAN_INVALID);
        CHECK(achan_oneshot_receiver_stream(NULL) == NULL);
        CHECK(achan_oneshot_receiver_future(NULL) == NULL);
        achan_oneshot_sender_drop(NULL);
        achan_oneshot_receiver_close(NULL);
        achan_oneshot_receiver_drop(NULL);
        break;
    }
}

/* Drops what is left and checks that nothing remains. */
static void finish(void) {
    op_sender_drop();
    op_receiver_drop(0);
    check_wakers();
    CHECK(m.fate == UNSENT || m.fate == RECEIVED || m.fate == DROPPED || m.fate == KEPT);
    for (int k = 0; k < 2; k++)
        CHECK(m.rxw[k].live == 0 && m.txw[k].live == 0);
    CHECK(m.heap.n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    episode = 0;
    start(size > 0 ? data[0] : 0);
    for (size_t p = 1; p + 1 < size; p += 2) {
        uint8_t op = data[p] % 13, arg = data[p + 1];
        int k = arg & 1;
        TRACE("op %d arg %d\n", op, arg);
        switch (op) {
        case 0:
            op_send(arg);
            break;
        case 1:
            op_sender_drop();
            break;
        case 2:
            op_poll_closed(k);
            break;
        case 3:
            op_sender_is_closed();
            break;
        case 4:
            op_recv(VIA_TRY, k);
            break;
        case 5:
            op_recv(VIA_POLL, k);
            break;
        case 6:
            op_recv(VIA_STREAM, k);
            break;
        case 7:
            op_recv(VIA_FUTURE, k);
            break;
        case 8:
            op_recv(VIA_BLOCKING, k);
            break;
        case 9:
            op_close();
            break;
        case 10:
            op_receiver_drop(arg % 3);
            break;
        case 11:
            op_invalid(arg);
            break;
        default:
            finish();
            start(arg);
            break;
        }
        check_wakers();
    }
    finish();
    return 0;
}
