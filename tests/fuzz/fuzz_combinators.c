/* fuzz_combinators.c - libFuzzer harness: stream adapters against a model.
 *
 * The input builds a pipeline and then drives it:
 *
 *   byte 0      the source's item size (1..8) and which allocation from the
 *               default allocator fails, if any (fault injection: the
 *               constructor must return ACHAN_NOMEM, consume nothing and
 *               call no user_drop; the harness then builds it again);
 *   byte 1      the number of adapters, 1..4;
 *   then        the main source's script, then for each adapter an opcode
 *               and a parameter byte (plus the script of each extra source
 *               that chain, zip and merge take); an opcode can first try
 *               its constructor with a bad argument (ACHAN_INVALID, nothing
 *               consumed);
 *   the rest    operations: poll the pipeline or peek one of its
 *               peekables, each with a cooperative budget (unlimited, or 1..4
 *               units: achan_coop_set_budget), or drop the pipeline early.
 *               Afterwards it is polled to its end (and twice more: CLOSED
 *               must stay CLOSED) and dropped.
 *
 * A source plays a script: items, PENDING (it keeps a clone of the waker),
 * LAGGED and CLOSED, then CLOSED when the script runs out. It is an
 * achan_stream_poll_fn over the script, a stream with a vtable of its own
 * that aborts when polled again after it returned CLOSED (the adapters
 * promise never to do that), or an mpsc receiver's stream, to which the
 * harness sends the script's items in batches between polls (a PENDING mark
 * ends a batch, CLOSED drops the sender): that also runs ready_chunks'
 * achan_mpsc_poll_recv_many path and the receiver's use of the budget. Adapters: map, filter,
 * filter_map, take, skip, take_while, skip_while, enumerate, chunks, ready_chunks, fuse, scan,
 * peekable (with peek), chain, zip and merge (with one or two more
 * sources), then, and buffered / buffer_unordered (over a map that turns
 * items into futures). The futures are scripted by the items they come
 * from: none, a wrong output size, 0..2 PENDINGs, then ACHAN_OK with an
 * output or a failure; they abort when polled after they completed.
 *
 * The model is the same pipeline written plainly over the same scripts. The
 * items it computes are canonical: every adapter output has a type (plain
 * bytes, an enumerate pair, a zip pair, a chunk of items), and the padding
 * and unused chunk slots that adapters leave unspecified are zeroed before
 * anything looks at an item (the user functions do the same, so they give
 * the same answers in both). Checked: every status and item; nothing is
 * written to the caller's item unless ACHAN_OK; PENDING only when a source
 * registered the caller's waker during that poll, or the spent budget woke
 * it (the model spends a unit after each item an adapter discards, as
 * combinators.h says, and counts the wakes); CLOSED stays CLOSED; drop
 * calls every user_drop exactly once, frees every block (with its size)
 * and releases every waker clone. The fuzz build runs this under ASan.
 */
#define FUZZ_NAME "fuzz_combinators"
#include "fuzz_support.h"

#define MAX_ITEM 4096
#define MAX_TYPES 64
#define MAX_NODES 24
#define MAX_USERS 32
#define MAX_SCRIPT 32
#define MAX_PEEK 4
#define MAX_OPS 4000

/* ------------------------------------------------------------------------ */
/* Item types and canonical items.                                           */

typedef enum { T_PLAIN, T_ENUM, T_ZIP, T_CHUNK } type_kind;

typedef struct {
    type_kind kind;
    size_t size; /* The item size. */
    size_t max;  /* T_CHUNK: room for max items of type a. */
    int a, b;    /* T_ENUM, T_CHUNK: a; T_ZIP: a then b. */
} type;

static type types[MAX_TYPES];
static int ntypes;

static int type_new(type t) {
    if (t.size > MAX_ITEM || ntypes == MAX_TYPES)
        return -1;
    types[ntypes] = t;
    return ntypes++;
}

static int type_plain(size_t n) {
    return type_new((type){T_PLAIN, n, 0, -1, -1});
}
static int type_enum(int a) {
    return type_new((type){T_ENUM, ACHAN_ENUMERATE_OFFSET + types[a].size, 0, a, -1});
}
static int type_zip(int a, int b) {
    return type_new((type){T_ZIP, types[a].size + types[b].size, 0, a, b});
}
static int type_chunk(int a, size_t max) {
    return type_new((type){T_CHUNK, ACHAN_CHUNK_SIZE(max, types[a].size), max, a, -1});
}

/* Copies item src of type t to dst with every unspecified byte zeroed. */
static void canon(int t, const uint8_t *src, uint8_t *dst) {
    const type *ty = &types[t];
    switch (ty->kind) {
    case T_PLAIN:
        memcpy(dst, src, ty->size);
        break;
    case T_ENUM:
        memcpy(dst, src, sizeof(uint64_t));
        memset(dst + sizeof(uint64_t), 0, ACHAN_ENUMERATE_OFFSET - sizeof(uint64_t));
        canon(ty->a, src + ACHAN_ENUMERATE_OFFSET, dst + ACHAN_ENUMERATE_OFFSET);
        break;
    case T_ZIP:
        canon(ty->a, src, dst);
        canon(ty->b, src + types[ty->a].size, dst + types[ty->a].size);
        break;
    case T_CHUNK: {
        size_t count, in = types[ty->a].size;
        memcpy(&count, src, sizeof count);
        CHECK(count >= 1 && count <= ty->max); /* Chunks are never empty. */
        memset(dst, 0, ty->size);
        memcpy(dst, &count, sizeof count);
        for (size_t i = 0; i < count; i++)
            canon(ty->a, src + ACHAN_CHUNK_OFFSET + i * in, dst + ACHAN_CHUNK_OFFSET + i * in);
        break;
    }
    }
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* A canonical item of type t made from seed. */
static void gen(int t, uint64_t seed, uint8_t *dst) {
    const type *ty = &types[t];
    switch (ty->kind) {
    case T_PLAIN:
        for (size_t i = 0; i < ty->size; i++)
            dst[i] = (uint8_t)mix(seed * 131 + i);
        break;
    case T_ENUM: {
        uint64_t index = seed % 1000;
        memcpy(dst, &index, sizeof index);
        memset(dst + sizeof index, 0, ACHAN_ENUMERATE_OFFSET - sizeof index);
        gen(ty->a, seed * 3 + 1, dst + ACHAN_ENUMERATE_OFFSET);
        break;
    }
    case T_ZIP:
        gen(ty->a, seed * 5 + 1, dst);
        gen(ty->b, seed * 7 + 2, dst + types[ty->a].size);
        break;
    case T_CHUNK: {
        size_t count = 1 + seed % ty->max, in = types[ty->a].size;
        memset(dst, 0, ty->size);
        memcpy(dst, &count, sizeof count);
        for (size_t i = 0; i < count; i++)
            gen(ty->a, seed * 11 + i, dst + ACHAN_CHUNK_OFFSET + i * in);
        break;
    }
    }
}

/* A hash of item (of type t) that ignores its unspecified bytes. */
static uint64_t item_hash(int t, const void *item) {
    static uint8_t tmp[MAX_ITEM];
    canon(t, item, tmp);
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < types[t].size; i++)
        h = (h ^ tmp[i]) * 1099511628211ULL;
    return mix(h);
}

static void fill(uint8_t *out, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)mix(h + i);
}

/* ------------------------------------------------------------------------ */
/* Closures and their user_drop accounting.                                  */

typedef struct {
    int id;
    int in_type;     /* The type of the items given to fn. */
    size_t out_size; /* map, filter_map, scan: the output's size. */
    uint8_t param;
} closure;

static int nusers;           /* Closures and sources created (ids). */
static int drops[MAX_USERS]; /* user_drop calls per id. */
static int total_drops;

static void user_dropped(int id) {
    CHECK(id >= 0 && id < nusers);
    drops[id]++;
    total_drops++;
}

static void closure_drop(void *user) {
    closure *c = user;
    user_dropped(c->id);
    free(c);
}

static closure *closure_new(int in_type, size_t out_size, uint8_t param) {
    closure *c = malloc(sizeof *c);
    CHECK(c != NULL && nusers < MAX_USERS);
    c->id = nusers++;
    c->in_type = in_type;
    c->out_size = out_size;
    c->param = param;
    return c;
}

static void map_fn(const void *in, void *out, void *user) {
    const closure *c = user;
    fill(out, c->out_size, item_hash(c->in_type, in) ^ c->param);
}

static bool pred_fn(const void *item, void *user) {
    const closure *c = user;
    return (item_hash(c->in_type, item) + c->param) % (2 + c->param % 5) != 0;
}

static bool filter_map_fn(const void *in, void *out, void *user) {
    const closure *c = user;
    uint64_t h = item_hash(c->in_type, in);
    if (h % 3 == c->param % 3)
        return false;
    fill(out, c->out_size, h);
    return true;
}

static bool scan_fn(void *state, const void *in, void *out, void *user) {
    const closure *c = user;
    uint64_t s;
    memcpy(&s, state, sizeof s);
    s = s * 31 + item_hash(c->in_type, in);
    memcpy(state, &s, sizeof s);
    fill(out, c->out_size, s);
    return s % (4 + c->param % 8) != 0;
}

/* ------------------------------------------------------------------------ */
/* Scripted sources (the real ones).                                         */

typedef enum { S_ITEM, S_PENDING, S_LAGGED, S_CLOSED } step;

typedef struct {
    uint8_t bytes[MAX_SCRIPT];
    size_t len;
    int type;
    int id; /* Its user id: it seeds the items. */
} script;

static step script_step(const script *sc, size_t pos, uint64_t *seed) {
    if (pos >= sc->len)
        return S_CLOSED;
    uint8_t b = sc->bytes[pos];
    *seed = (uint64_t)(b >> 3) + 32 * pos + 1000 * (uint64_t)sc->id;
    switch (b & 7) {
    case 5:
        return S_PENDING;
    case 6:
        return S_LAGGED;
    case 7:
        return S_CLOSED;
    default:
        return S_ITEM;
    }
}

static fz_counter top;    /* The waker every poll of the pipeline uses. */
static long source_wakes; /* Wakes the harness gave the sources' copies of it. */
static int pending_regs;  /* Sources that registered it during the current poll. */

typedef struct {
    achan_stream stream; /* Used when raw (a stream of our own). */
    const script *sc;
    size_t pos;
    bool closed;
    bool has_waker;
    achan_waker waker;
} source;

static source *sources[MAX_USERS];
static int nsources;

static achan_status source_poll(achan_context *cx, void *item, void *user) {
    source *s = user;
    CHECK(!s->closed); /* Adapters never poll an input again after CLOSED. */
    CHECK(cx && cx->waker && cx->waker->vtbl == &fz_vtbl && cx->waker->data == &top);
    uint64_t seed = 0;
    step st = script_step(s->sc, s->pos++, &seed);
    switch (st) {
    case S_ITEM:
        gen(s->sc->type, seed, item);
        return ACHAN_OK;
    case S_PENDING:
        if (s->has_waker)
            achan_waker_drop(s->waker);
        s->waker = achan_waker_clone(cx->waker);
        s->has_waker = true;
        pending_regs++;
        return ACHAN_PENDING;
    case S_LAGGED:
        return ACHAN_LAGGED;
    default:
        s->closed = true;
        return ACHAN_CLOSED;
    }
}

static void source_free(void *user) {
    source *s = user;
    if (s->has_waker)
        achan_waker_drop(s->waker);
    user_dropped(s->sc->id);
    for (int i = 0; i < nsources; i++)
        if (sources[i] == s)
            sources[i] = NULL;
    free(s);
}

static achan_status raw_poll(achan_stream *self, achan_context *cx, void *item) {
    return source_poll(cx, item, self);
}
static void raw_drop(achan_stream *self) {
    source_free(self);
}
static const achan_stream_vtbl raw_vtbl = {raw_poll, raw_drop};

/* Futures for then, buffered and buffer_unordered. Each input item decides,
 * through its hash, what its future does: none at all (then's fn returns
 * NULL), a wrong output size (the adapter must drop it unpolled), how many
 * PENDINGs (each registering the caller's waker) before it completes, and
 * whether it completes with ACHAN_OK (its output made from the hash) or
 * fails. The model uses the same description without making futures. */
typedef struct {
    bool none, wrong_size;
    unsigned pending;
    achan_status result;
    uint64_t seed;
} fut_desc;

static fut_desc describe(const closure *c, const void *item) {
    uint64_t h = item_hash(c->in_type, item);
    fut_desc d = {h % 9 == 0, h % 13 == 1, (unsigned)((h >> 8) % 3), ACHAN_OK, h ^ c->param};
    if ((h >> 16) % 5 == 0)
        d.result = (h >> 24) & 1 ? ACHAN_CLOSED : ACHAN_TIMEOUT;
    return d;
}

typedef struct {
    achan_future base;
    fut_desc d;
    bool completed;
    bool has_waker;
    achan_waker waker;
} sfut;

#define MAX_FUTS 64
static sfut *futs[MAX_FUTS]; /* Live futures. */
static long futs_made, futs_dropped;

static achan_status sfut_poll(achan_future *self, achan_context *cx, void *out) {
    sfut *f = (sfut *)self;
    CHECK(!f->completed); /* Never polled again once it completed. */
    CHECK(!f->d.wrong_size);
    CHECK(cx && cx->waker && cx->waker->vtbl == &fz_vtbl && cx->waker->data == &top);
    if (f->d.pending > 0) {
        f->d.pending--;
        if (f->has_waker)
            achan_waker_drop(f->waker);
        f->waker = achan_waker_clone(cx->waker);
        f->has_waker = true;
        pending_regs++;
        return ACHAN_PENDING;
    }
    f->completed = true;
    if (f->d.result == ACHAN_OK)
        fill(out, f->base.output_size, f->d.seed);
    return f->d.result;
}

static void sfut_drop(achan_future *self) {
    sfut *f = (sfut *)self;
    if (f->has_waker)
        achan_waker_drop(f->waker);
    for (int i = 0; i < MAX_FUTS; i++)
        if (futs[i] == f)
            futs[i] = NULL;
    futs_dropped++;
    free(f);
}

static const achan_future_vtbl sfut_vtbl = {sfut_poll, sfut_drop};

static achan_future *sfut_new(const closure *c, const void *item) {
    fut_desc d = describe(c, item);
    if (d.none)
        return NULL;
    sfut *f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    f->base.vtbl = &sfut_vtbl;
    f->base.output_size = c->out_size + (d.wrong_size ? 1 : 0);
    f->d = d;
    int i = 0;
    while (i < MAX_FUTS && futs[i])
        i++;
    CHECK(i < MAX_FUTS);
    futs[i] = f;
    futs_made++;
    return &f->base;
}

/* then's fn. */
static achan_future *then_fn(const void *item, void *user) {
    return sfut_new(user, item);
}

/* buffered's input: a map from items to futures. */
static void futmap_fn(const void *in, void *out, void *user) {
    achan_future *f = sfut_new(user, in);
    memcpy(out, &f, sizeof f);
}

/* Wakes every waker a source holds: whatever it waited for happened. */
static void wake_sources(void) {
    for (int i = 0; i < nsources; i++) {
        source *s = sources[i];
        if (s && s->has_waker) {
            s->has_waker = false;
            source_wakes++;
            achan_waker_wake(s->waker);
        }
    }
    for (int i = 0; i < MAX_FUTS; i++) {
        sfut *f = futs[i];
        if (f && f->has_waker) {
            f->has_waker = false;
            source_wakes++;
            achan_waker_wake(f->waker);
        }
    }
}

static long mpsc_held(void);

/* Clones of the caller's waker the sources and channels hold. */
static long held_wakers(void) {
    long n = mpsc_held();
    for (int i = 0; i < nsources; i++)
        n += sources[i] && sources[i]->has_waker;
    for (int i = 0; i < MAX_FUTS; i++)
        n += futs[i] && futs[i]->has_waker;
    return n;
}

/* ------------------------------------------------------------------------ */
/* The model.                                                                */

typedef enum {
    N_MAP,
    N_FILTER,
    N_FILTER_MAP,
    N_TAKE,
    N_SKIP,
    N_TAKE_WHILE,
    N_SKIP_WHILE,
    N_ENUMERATE,
    N_CHUNKS,
    N_READY_CHUNKS,
    N_FUSE,
    N_SCAN,
    N_PEEKABLE,
    N_CHAIN,
    N_ZIP,
    N_MERGE,
    N_SOURCE,
    N_MPSC,
    N_THEN,
    N_BUFFERED,
    N_BUFFER_UNORDERED
} node_kind;

/* A running future in the model, or a completed one (buffered). */
typedef struct {
    bool running, used;
    fut_desc d;
    achan_status st;
} mfut;

typedef struct {
    node_kind kind;
    int type;  /* Of its items. */
    int in[3]; /* Inputs (node indexes). */
    int nin;
    closure *c; /* The closure (the same object the real adapter calls). */
    bool done;  /* Returned CLOSED (unary adapters, zip, chunks). */
    uint64_t n; /* take, skip: left; enumerate: next index. */
    bool flag;  /* skip_while: skipping; peekable: a result is kept. */
    achan_status kept;
    size_t max, count; /* chunks */
    bool in_done, lagged, have_a;
    unsigned phase; /* chain */
    size_t start, live;
    bool ended[3];    /* merge */
    uint64_t state;   /* scan */
    const script *sc; /* source */
    size_t pos;
    bool closed;
    uint64_t queue[MAX_SCRIPT]; /* mpsc: the seeds of the items sent */
    size_t qhead, qlen;
    bool rx_ended, registered; /* mpsc: returned CLOSED; holds the caller's waker */
    mfut futs[4];              /* then: futs[0]; buffered: slots (a ring when ordered) */
    size_t head;
    uint8_t scratch[2][MAX_ITEM];
} node;

static node nodes[MAX_NODES];
static int nnodes;

/* The cooperative budget as the model sees it (achan_coop_proceed's
 * contract): adapters consult it after each item they discard; once it is
 * spent they wake the caller's waker and return PENDING. */
static bool coop_limited;
static unsigned coop_left;
static long coop_wakes;

static bool model_proceed(void) {
    if (!coop_limited)
        return true;
    if (coop_left > 0) {
        coop_left--;
        return true;
    }
    coop_wakes++;
    return false;
}

static achan_status mpoll(int i, uint8_t *out);

/* Polls node i's input k unless i ended; remembers CLOSED. */
static achan_status pull(node *x, int k, uint8_t *out) {
    if (x->done)
        return ACHAN_CLOSED;
    achan_status st = mpoll(x->in[k], out);
    if (st == ACHAN_CLOSED)
        x->done = true;
    return st;
}

static achan_status end(node *x) {
    x->done = true;
    return ACHAN_CLOSED;
}

static size_t in_size(const node *x, int k) {
    return types[nodes[x->in[k]].type].size;
}

static void make_chunk(const node *x, const uint8_t *items, size_t count, uint8_t *out) {
    memset(out, 0, types[x->type].size);
    memcpy(out, &count, sizeof count);
    memcpy(out + ACHAN_CHUNK_OFFSET, items, count * in_size(x, 0));
}

static achan_status model_source(node *x, uint8_t *out) {
    CHECK(!x->closed);
    uint64_t seed = 0;
    switch (script_step(x->sc, x->pos++, &seed)) {
    case S_ITEM:
        gen(x->type, seed, out);
        return ACHAN_OK;
    case S_PENDING:
        return ACHAN_PENDING;
    case S_LAGGED:
        return ACHAN_LAGGED;
    default:
        x->closed = true;
        return ACHAN_CLOSED;
    }
}

static long mpsc_wakes; /* The channel woke the waker it held (a send, the sender's drop). */
static int mpsc_regs;   /* mpsc sources that registered during the current poll. */

/* An mpsc receiver's stream (achan_mpsc_poll_recv): it consumes a unit of
 * budget per poll, yields what was sent, registers when it finds nothing
 * while the sender lives, and ends when the sender is gone. */
static achan_status model_mpsc(node *x, uint8_t *out) {
    if (x->rx_ended)
        return ACHAN_CLOSED;
    if (!model_proceed())
        return ACHAN_PENDING;
    if (x->qhead < x->qlen) {
        gen(x->type, x->queue[x->qhead++], out);
        return ACHAN_OK;
    }
    if (x->closed) {
        x->rx_ended = true;
        return ACHAN_CLOSED;
    }
    x->registered = true;
    mpsc_regs++;
    return ACHAN_PENDING;
}

static achan_status model_chunks(node *x, uint8_t *out) {
    uint8_t *buf = x->scratch[0];
    size_t in = in_size(x, 0);
    if (x->done)
        return ACHAN_CLOSED;
    while (!x->in_done && x->count < x->max) {
        achan_status st = mpoll(x->in[0], buf + x->count * in);
        if (st == ACHAN_CLOSED)
            x->in_done = true;
        else if (st != ACHAN_OK)
            return st; /* The partial chunk is kept. */
        else
            x->count++;
    }
    if (x->count == 0)
        return end(x);
    make_chunk(x, buf, x->count, out);
    x->count = 0;
    return ACHAN_OK;
}

static achan_status model_ready_chunks(node *x, uint8_t *out) {
    uint8_t *buf = x->scratch[0];
    size_t in = in_size(x, 0), k = 0;
    if (x->lagged) { /* A lag met after a partial chunk comes next. */
        x->lagged = false;
        return ACHAN_LAGGED;
    }
    if (x->done || x->in_done)
        return end(x);
    achan_status st = ACHAN_OK;
    node *src = &nodes[x->in[0]];
    if (src->kind == N_MPSC) { /* Drained with achan_mpsc_poll_recv_many. */
        if ((st = model_mpsc(src, buf)) == ACHAN_OK)
            for (k = 1; k < x->max && src->qhead < src->qlen; k++)
                gen(src->type, src->queue[src->qhead++], buf + k * in);
        if (st == ACHAN_CLOSED)
            x->done = true;
        if (st != ACHAN_OK)
            return st;
        make_chunk(x, buf, k, out);
        return ACHAN_OK;
    }
    while (k < x->max && (st = mpoll(x->in[0], buf + k * in)) == ACHAN_OK)
        k++;
    if (st == ACHAN_CLOSED)
        x->in_done = true;
    else if (st == ACHAN_LAGGED && k > 0)
        x->lagged = true;
    if (k == 0) {
        if (st == ACHAN_CLOSED)
            x->done = true;
        return st;
    }
    make_chunk(x, buf, k, out);
    return ACHAN_OK;
}

static achan_status model_zip(node *x, uint8_t *out) {
    uint8_t *a = x->scratch[0], *b = x->scratch[1];
    size_t asz = in_size(x, 0);
    if (x->done)
        return ACHAN_CLOSED;
    achan_status st;
    if (!x->have_a) {
        if ((st = mpoll(x->in[0], a)) == ACHAN_CLOSED)
            x->done = true;
        if (st != ACHAN_OK)
            return st;
        x->have_a = true;
    }
    if ((st = mpoll(x->in[1], b)) == ACHAN_CLOSED)
        x->done = true;
    if (st != ACHAN_OK)
        return st;
    memcpy(out, a, asz);
    memcpy(out + asz, b, in_size(x, 1));
    x->have_a = false;
    return ACHAN_OK;
}

/* Fair merge: each poll starts after the input that yielded last. */
static achan_status model_merge(node *x, uint8_t *out) {
    for (int k = 0; k < x->nin && x->live > 0; k++) {
        int i = (int)((x->start + (size_t)k) % (size_t)x->nin);
        if (x->ended[i])
            continue;
        achan_status st = mpoll(x->in[i], out);
        if (st == ACHAN_PENDING)
            continue;
        if (st == ACHAN_CLOSED) {
            x->ended[i] = true;
            x->live--;
            continue;
        }
        x->start = (size_t)(i + 1) % (size_t)x->nin;
        return st;
    }
    return x->live == 0 ? ACHAN_CLOSED : ACHAN_PENDING;
}

static achan_status model_chain(node *x, uint8_t *out) {
    while (x->phase < 2) {
        achan_status st = mpoll(x->in[x->phase], out);
        if (st != ACHAN_CLOSED)
            return st;
        x->phase++;
    }
    return ACHAN_CLOSED;
}

static achan_status model_peek(int i, uint8_t *out) {
    node *x = &nodes[i];
    if (!x->flag) {
        achan_status st = pull(x, 0, x->scratch[0]);
        if (st != ACHAN_OK && st != ACHAN_LAGGED)
            return st;
        x->flag = true;
        x->kept = st;
    }
    if (x->kept == ACHAN_OK)
        memcpy(out, x->scratch[0], types[x->type].size);
    return x->kept;
}

/* Unary adapters that look at each input item once. */
static achan_status model_unary(node *x, uint8_t *out) {
    uint8_t *tmp = x->scratch[0];
    size_t size = types[x->type].size;
    achan_status st;
    for (;;) {
        switch (x->kind) {
        case N_MAP:
            if ((st = pull(x, 0, tmp)) == ACHAN_OK)
                map_fn(tmp, out, x->c);
            return st;
        case N_FILTER:
        case N_TAKE_WHILE:
            if ((st = pull(x, 0, tmp)) != ACHAN_OK)
                return st;
            if (pred_fn(tmp, x->c)) {
                memcpy(out, tmp, size);
                return ACHAN_OK;
            }
            if (x->kind == N_TAKE_WHILE)
                return end(x);
            if (!model_proceed())
                return ACHAN_PENDING;
            continue;
        case N_FILTER_MAP:
            if ((st = pull(x, 0, tmp)) != ACHAN_OK)
                return st;
            if (filter_map_fn(tmp, out, x->c))
                return ACHAN_OK;
            if (!model_proceed())
                return ACHAN_PENDING;
            continue;
        case N_TAKE:
            if (x->n == 0)
                return end(x);
            if ((st = pull(x, 0, out)) == ACHAN_OK)
                x->n--;
            return st;
        case N_SKIP:
            if (x->n == 0)
                return pull(x, 0, out);
            if ((st = pull(x, 0, tmp)) != ACHAN_OK)
                return st;
            x->n--;
            if (!model_proceed())
                return ACHAN_PENDING;
            continue;
        case N_SKIP_WHILE:
            if (!x->flag)
                return pull(x, 0, out);
            if ((st = pull(x, 0, tmp)) != ACHAN_OK)
                return st;
            if (!pred_fn(tmp, x->c)) {
                x->flag = false;
                memcpy(out, tmp, size);
                return ACHAN_OK;
            }
            if (!model_proceed())
                return ACHAN_PENDING;
            continue;
        case N_ENUMERATE:
            if ((st = pull(x, 0, out + ACHAN_ENUMERATE_OFFSET)) == ACHAN_OK) {
                memcpy(out, &x->n, sizeof x->n);
                memset(out + sizeof x->n, 0, ACHAN_ENUMERATE_OFFSET - sizeof x->n);
                x->n++;
            }
            return st;
        case N_FUSE:
            return pull(x, 0, out);
        case N_SCAN:
            if ((st = pull(x, 0, tmp)) != ACHAN_OK)
                return st;
            {
                uint8_t state[sizeof x->state];
                memcpy(state, &x->state, sizeof state);
                bool go = scan_fn(state, tmp, out, x->c);
                memcpy(&x->state, state, sizeof state);
                return go ? ACHAN_OK : end(x);
            }
        case N_PEEKABLE:
            if (!x->flag)
                return pull(x, 0, out);
            x->flag = false;
            if (x->kept == ACHAN_OK)
                memcpy(out, tmp, size);
            return x->kept;
        default:
            CHECK(0);
        }
    }
}

/* Polls a model future once: PENDING, or completes it (st). */
static achan_status mfut_run(mfut *f) {
    if (f->d.pending > 0) {
        f->d.pending--;
        return ACHAN_PENDING;
    }
    f->running = false;
    f->st = f->d.result;
    return f->st;
}

/* then: one future at a time; a failed one yields nothing. The budget is
 * consulted before every round after the first. */
static achan_status model_then(node *x, uint8_t *out) {
    mfut *f = &x->futs[0];
    if (x->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !model_proceed())
            return ACHAN_PENDING;
        if (f->running) {
            achan_status st = mfut_run(f);
            if (st == ACHAN_PENDING)
                return st;
            if (st == ACHAN_OK) {
                fill(out, x->c->out_size, f->d.seed);
                return ACHAN_OK;
            }
            continue;
        }
        achan_status st = mpoll(x->in[0], x->scratch[0]);
        if (st == ACHAN_CLOSED)
            x->done = true;
        if (st != ACHAN_OK)
            return st;
        fut_desc d = describe(x->c, x->scratch[0]);
        if (!d.none && !d.wrong_size)
            *f = (mfut){true, true, d, ACHAN_PENDING};
    }
}

/* Takes futures from the input while slots are free: OK, or the input's
 * LAGGED. *in_pending: the input returned PENDING. */
static achan_status model_buf_fill(node *x, bool ordered, bool *in_pending) {
    *in_pending = false;
    while (!x->in_done && x->count < x->max) {
        achan_status st = mpoll(x->in[0], x->scratch[0]);
        if (st == ACHAN_PENDING) {
            *in_pending = true;
            return ACHAN_OK;
        }
        if (st == ACHAN_CLOSED) {
            x->in_done = true;
            return ACHAN_OK;
        }
        if (st != ACHAN_OK)
            return st;
        fut_desc d = describe(x->c, x->scratch[0]);
        if (d.none || d.wrong_size)
            continue; /* Dropped unpolled. */
        size_t i = 0;
        if (ordered)
            i = (x->head + x->count) % x->max;
        else
            while (x->futs[i].used)
                i++;
        x->futs[i] = (mfut){true, true, d, ACHAN_PENDING};
        x->count++;
    }
    return ACHAN_OK;
}

/* buffered: up to max futures run, outputs in input order. */
static achan_status model_buffered(node *x, uint8_t *out) {
    if (x->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !model_proceed())
            return ACHAN_PENDING;
        bool in_pending;
        achan_status st = model_buf_fill(x, true, &in_pending);
        if (st != ACHAN_OK)
            return st;
        for (size_t k = 0; k < x->count; k++) {
            mfut *f = &x->futs[(x->head + k) % x->max];
            if (f->running)
                mfut_run(f);
        }
        if (x->count == 0) {
            if (x->in_done)
                return end(x);
            return ACHAN_PENDING;
        }
        mfut *h = &x->futs[x->head];
        if (h->running)
            return ACHAN_PENDING;
        h->used = false;
        x->head = (x->head + 1) % x->max;
        x->count--;
        if (h->st == ACHAN_OK) {
            fill(out, x->c->out_size, h->d.seed);
            return ACHAN_OK;
        }
    }
}

/* buffer_unordered: outputs as futures complete, each round starting after
 * the slot that yielded last. */
static achan_status model_buffer_unordered(node *x, uint8_t *out) {
    if (x->done)
        return ACHAN_CLOSED;
    for (bool first = true;; first = false) {
        if (!first && !model_proceed())
            return ACHAN_PENDING;
        bool in_pending, freed = false;
        achan_status st = model_buf_fill(x, false, &in_pending);
        if (st != ACHAN_OK)
            return st;
        for (size_t k = 0; k < x->max; k++) {
            size_t i = (x->start + k) % x->max;
            mfut *f = &x->futs[i];
            if (!f->running || mfut_run(f) == ACHAN_PENDING)
                continue;
            f->used = false;
            x->count--;
            if (f->st == ACHAN_OK) {
                x->start = (i + 1) % x->max;
                fill(out, x->c->out_size, f->d.seed);
                return ACHAN_OK;
            }
            freed = true;
        }
        if (x->count == 0 && x->in_done)
            return end(x);
        if (!freed || in_pending || x->in_done)
            return ACHAN_PENDING;
    }
}

static achan_status mpoll(int i, uint8_t *out) {
    node *x = &nodes[i];
    switch (x->kind) {
    case N_SOURCE:
        return model_source(x, out);
    case N_MPSC:
        return model_mpsc(x, out);
    case N_THEN:
        return model_then(x, out);
    case N_BUFFERED:
        return model_buffered(x, out);
    case N_BUFFER_UNORDERED:
        return model_buffer_unordered(x, out);
    case N_CHUNKS:
        return model_chunks(x, out);
    case N_READY_CHUNKS:
        return model_ready_chunks(x, out);
    case N_ZIP:
        return model_zip(x, out);
    case N_MERGE:
        return model_merge(x, out);
    case N_CHAIN:
        return model_chain(x, out);
    default:
        return model_unary(x, out);
    }
}

/* ------------------------------------------------------------------------ */
/* Building the pipeline (real and model side by side).                     */

static fz_heap heap;
static achan_allocator heap_alloc;
static achan_stream *cur; /* The real pipeline's top. */
static int cur_node;      /* The model's. */
static achan_stream *peek_real[MAX_PEEK];
static int peek_node[MAX_PEEK], npeek;
static long nomem_seen;

/* Runs a constructor that writes *out; ACHAN_NOMEM (the injected fault)
 * must leave everything as it was, and the second try succeeds. */
#define BUILD(out, call)                                                                           \
    do {                                                                                           \
        achan_stream *before_ = (out);                                                             \
        achan_status st_;                                                                          \
        while ((st_ = (call)) == ACHAN_NOMEM) {                                                    \
            CHECK((out) == before_ && total_drops == 0);                                           \
            nomem_seen++;                                                                          \
        }                                                                                          \
        CHECK(st_ == ACHAN_OK && (out) != before_);                                                \
    } while (0)

static int node_new(node_kind kind, int t) {
    CHECK(nnodes < MAX_NODES);
    node *x = &nodes[nnodes];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->type = t;
    return nnodes++;
}

static script scripts[MAX_USERS];
static bool no_user_drop[MAX_USERS]; /* mpsc sources have no closure. */

/* The sending side of an mpsc source, fed between polls. */
typedef struct {
    achan_mpsc_sender *tx; /* NULL once dropped. */
    const script *sc;
    size_t pos;
    int node;
} feeder;

static feeder feeders[MAX_USERS];
static int nfeeders;

static long mpsc_held(void) {
    long n = 0;
    for (int i = 0; i < nfeeders; i++)
        n += nodes[feeders[i].node].registered;
    return n;
}

/* Sends each mpsc source's next batch of items: up to its script's next
 * PENDING mark; a CLOSED mark or the script's end drops the sender. */
static void feed(void) {
    for (int i = 0; i < nfeeders; i++) {
        feeder *f = &feeders[i];
        node *x = &nodes[f->node];
        bool sent = false;
        while (f->tx) {
            uint64_t seed = 0;
            step st = script_step(f->sc, f->pos++, &seed);
            if (st == S_PENDING)
                break;
            if (st == S_CLOSED) {
                achan_mpsc_sender_drop(f->tx);
                f->tx = NULL;
                x->closed = sent = true;
                break;
            }
            uint8_t item[MAX_ITEM]; /* An item (a LAGGED mark too: mpsc has no lag). */
            gen(x->type, seed, item);
            CHECK(achan_mpsc_try_send(f->tx, item) == ACHAN_OK);
            CHECK(x->qlen < MAX_SCRIPT);
            x->queue[x->qlen++] = seed;
            sent = true;
        }
        if (sent && x->registered) { /* The first send (or the drop) wakes it. */
            x->registered = false;
            mpsc_wakes++;
        }
    }
}

/* A scripted source of type t: its script comes from the input. */
static achan_stream *source_new(fz_reader *r, int t, int *node_out) {
    uint8_t b = fz_byte(r);
    CHECK(nusers < MAX_USERS);
    int id = nusers++;
    script *sc = &scripts[id];
    sc->len = b & 31;
    sc->type = t;
    sc->id = id;
    for (size_t i = 0; i < sc->len; i++)
        sc->bytes[i] = fz_byte(r);
    achan_stream *out = NULL;
    if ((b >> 5) == 7) { /* An mpsc channel's receiver, fed by the harness. */
        achan_opts o = {.item_size = types[t].size, .allocator = &heap_alloc};
        achan_mpsc_sender *tx = NULL;
        achan_mpsc_receiver *rx = NULL;
        achan_status st;
        while ((st = achan_mpsc_new(&o, &tx, &rx)) == ACHAN_NOMEM)
            nomem_seen++;
        CHECK(st == ACHAN_OK);
        no_user_drop[id] = true;
        int n = node_new(N_MPSC, t);
        feeders[nfeeders++] = (feeder){tx, sc, 0, n};
        *node_out = n;
        return achan_mpsc_receiver_stream(rx);
    }
    source *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->sc = sc;
    sources[nsources++] = s;
    if (b & 0x80) { /* A stream of our own: catches polls after CLOSED. */
        s->stream.vtbl = &raw_vtbl;
        s->stream.item_size = types[t].size;
        out = &s->stream;
    } else {
        BUILD(out, achan_stream_poll_fn(types[t].size, source_poll, s, source_free, &out));
    }
    int n = node_new(N_SOURCE, t);
    nodes[n].sc = sc;
    *node_out = n;
    return out;
}

static int unary_node(node_kind kind, int t, closure *c) {
    int n = node_new(kind, t);
    nodes[n].in[0] = cur_node;
    nodes[n].nin = 1;
    nodes[n].c = c;
    cur_node = n;
    return n;
}

/* The constructor of adapter kind op with a bad argument: ACHAN_INVALID,
 * nothing consumed, *out unchanged, no user_drop called. */
static void probe_invalid(uint8_t op) {
    achan_stream *before = cur, *ins[2] = {cur, cur};
    uint64_t init = 0;
    achan_status st;
    switch (op % 16) {
    case 0:
        st = achan_stream_map(cur, 4, NULL, NULL, closure_drop, &cur);
        break;
    case 1:
        st = achan_stream_filter(cur, NULL, NULL, closure_drop, &cur);
        break;
    case 2:
        st = achan_stream_filter_map(cur, 4, NULL, NULL, closure_drop, &cur);
        break;
    case 3:
        st = achan_stream_take(cur, 1, NULL);
        break;
    case 4:
        st = achan_stream_skip(NULL, 1, &cur);
        break;
    case 5:
        st = achan_stream_take_while(cur, NULL, NULL, closure_drop, &cur);
        break;
    case 6:
        st = achan_stream_skip_while(NULL, pred_fn, NULL, closure_drop, &cur);
        break;
    case 7:
        st = achan_stream_enumerate(NULL, &cur);
        break;
    case 8:
        st = achan_stream_chunks(cur, 0, &cur);
        break;
    case 9:
        st = achan_stream_ready_chunks(cur, 0, &cur);
        break;
    case 10:
        st = achan_stream_fuse(cur, NULL);
        break;
    case 11:
        st = achan_stream_scan(cur, sizeof init, NULL, 4, scan_fn, NULL, NULL, &cur);
        break;
    case 12: { /* peek on a stream that is not a peekable */
        uint8_t item[MAX_ITEM];
        achan_waker w = fz_waker(&top);
        achan_context cx = {&w};
        st = nodes[cur_node].kind == N_PEEKABLE ? ACHAN_INVALID : achan_stream_peek(cur, &cx, item);
        break;
    }
    case 13:
        st = achan_stream_chain(cur, cur, &cur);
        break;
    case 14:
        st = achan_stream_zip(cur, cur, &cur);
        break;
    default:
        st = achan_stream_merge(ins, 2, &cur);
        CHECK(st == ACHAN_INVALID);
        st = achan_stream_merge(ins, 0, &cur);
        break;
    }
    CHECK(st == ACHAN_INVALID);
    CHECK(cur == before && total_drops == 0);
}

static void add_adapter(fz_reader *r, uint8_t op, uint8_t param) {
    int t = nodes[cur_node].type;
    closure *c;
    int n, t2;
    if (op & 0x10)
        probe_invalid(op);
    if ((op & 0x20) && op % 16 < 3) { /* then, buffered, buffer_unordered */
        c = closure_new(t, 1 + param % 8, param);
        if (op % 16 == 0) {
            BUILD(cur, achan_stream_then(cur, c->out_size, then_fn, c, closure_drop, &cur));
            unary_node(N_THEN, type_plain(c->out_size), c);
            return;
        }
        /* A map makes the futures; the buffered adapter runs up to max. */
        size_t max = 1 + param % 4;
        BUILD(cur, achan_stream_map(cur, sizeof(achan_future *), futmap_fn, c, closure_drop, &cur));
        if (op % 16 == 1)
            BUILD(cur, achan_stream_buffered(cur, max, c->out_size, &cur));
        else
            BUILD(cur, achan_stream_buffer_unordered(cur, max, c->out_size, &cur));
        n = unary_node(op % 16 == 1 ? N_BUFFERED : N_BUFFER_UNORDERED, type_plain(c->out_size), c);
        nodes[n].max = max;
        return;
    }
    switch (op % 16) {
    case 0:
        c = closure_new(t, 1 + param % 16, param);
        BUILD(cur, achan_stream_map(cur, c->out_size, map_fn, c, closure_drop, &cur));
        unary_node(N_MAP, type_plain(c->out_size), c);
        break;
    case 1:
        c = closure_new(t, 0, param);
        BUILD(cur, achan_stream_filter(cur, pred_fn, c, closure_drop, &cur));
        unary_node(N_FILTER, t, c);
        break;
    case 2:
        c = closure_new(t, 1 + param % 12, param);
        BUILD(cur, achan_stream_filter_map(cur, c->out_size, filter_map_fn, c, closure_drop, &cur));
        unary_node(N_FILTER_MAP, type_plain(c->out_size), c);
        break;
    case 3:
        BUILD(cur, achan_stream_take(cur, param % 8, &cur));
        nodes[unary_node(N_TAKE, t, NULL)].n = param % 8;
        break;
    case 4:
        BUILD(cur, achan_stream_skip(cur, param % 6, &cur));
        nodes[unary_node(N_SKIP, t, NULL)].n = param % 6;
        break;
    case 5:
        c = closure_new(t, 0, param);
        BUILD(cur, achan_stream_take_while(cur, pred_fn, c, closure_drop, &cur));
        unary_node(N_TAKE_WHILE, t, c);
        break;
    case 6:
        c = closure_new(t, 0, param);
        BUILD(cur, achan_stream_skip_while(cur, pred_fn, c, closure_drop, &cur));
        nodes[unary_node(N_SKIP_WHILE, t, c)].flag = true;
        break;
    case 7:
        if ((t2 = type_enum(t)) < 0)
            break;
        BUILD(cur, achan_stream_enumerate(cur, &cur));
        unary_node(N_ENUMERATE, t2, NULL);
        break;
    case 8:
    case 9:
        if ((t2 = type_chunk(t, 1 + param % 4)) < 0)
            break;
        if (op % 16 == 8)
            BUILD(cur, achan_stream_chunks(cur, 1 + param % 4, &cur));
        else
            BUILD(cur, achan_stream_ready_chunks(cur, 1 + param % 4, &cur));
        n = unary_node(op % 16 == 8 ? N_CHUNKS : N_READY_CHUNKS, t2, NULL);
        nodes[n].max = 1 + param % 4;
        break;
    case 10:
        BUILD(cur, achan_stream_fuse(cur, &cur));
        unary_node(N_FUSE, t, NULL);
        break;
    case 11: {
        uint64_t init = param;
        c = closure_new(t, 1 + param % 8, param);
        BUILD(cur, achan_stream_scan(cur, sizeof init, &init, c->out_size, scan_fn, c, closure_drop,
                                     &cur));
        nodes[unary_node(N_SCAN, type_plain(c->out_size), c)].state = init;
        break;
    }
    case 12:
        BUILD(cur, achan_stream_peekable(cur, &cur));
        n = unary_node(N_PEEKABLE, t, NULL);
        if (npeek < MAX_PEEK) {
            peek_real[npeek] = cur;
            peek_node[npeek++] = n;
        }
        break;
    case 13: { /* chain with a second source of the same type */
        int sn;
        achan_stream *second = source_new(r, t, &sn);
        BUILD(cur, achan_stream_chain(cur, second, &cur));
        n = node_new(N_CHAIN, t);
        nodes[n].in[0] = cur_node;
        nodes[n].in[1] = sn;
        nodes[n].nin = 2;
        cur_node = n;
        break;
    }
    case 14: { /* zip with a plain source */
        int tb = type_plain(1 + param % 8), sn;
        if (tb < 0 || (t2 = type_zip(t, tb)) < 0)
            break;
        achan_stream *b = source_new(r, tb, &sn);
        BUILD(cur, achan_stream_zip(cur, b, &cur));
        n = node_new(N_ZIP, t2);
        nodes[n].in[0] = cur_node;
        nodes[n].in[1] = sn;
        nodes[n].nin = 2;
        cur_node = n;
        break;
    }
    default: { /* merge with one or two more sources */
        int count = 2 + param % 2;
        achan_stream *ins[3] = {cur, NULL, NULL};
        n = node_new(N_MERGE, t);
        nodes[n].in[0] = cur_node;
        for (int k = 1; k < count; k++)
            ins[k] = source_new(r, t, &nodes[n].in[k]);
        BUILD(cur, achan_stream_merge(ins, (size_t)count, &cur));
        nodes[n].nin = count;
        nodes[n].live = (size_t)count;
        cur_node = n;
        break;
    }
    }
}

/* ------------------------------------------------------------------------ */
/* Driving.                                                                  */

static _Alignas(max_align_t) uint8_t real_item[MAX_ITEM + 64];
static uint8_t sentinel[MAX_ITEM + 64];
static uint8_t model_item[MAX_ITEM], canon_item[MAX_ITEM];
static bool top_closed;

/* Polls (or peeks at peekable k) on both sides, with a cooperative budget
 * of that many polls (0: unlimited), and compares. */
static void step_once(int peek, unsigned budget) {
    int t = peek < 0 ? nodes[cur_node].type : nodes[peek_node[peek]].type;
    size_t size = types[t].size;
    achan_waker w = fz_waker(&top);
    achan_context cx = {&w};
    if (sentinel[0] != 0xA7)
        memset(sentinel, 0xA7, sizeof sentinel);
    feed();
    memcpy(real_item, sentinel, size + 64);
    pending_regs = mpsc_regs = 0;
    achan_status got, want;
    long coop_before = coop_wakes;
    CHECK(achan_coop_set_budget(budget) == 0);
    if (peek < 0)
        got = achan_stream_poll_next(cur, &cx, real_item);
    else
        got = achan_stream_peek(peek_real[peek], &cx, real_item);
    achan_coop_set_budget(0);
    coop_limited = budget != 0;
    coop_left = budget;
    if (peek < 0)
        want = mpoll(cur_node, model_item);
    else
        want = model_peek(peek_node[peek], model_item);
    TRACE("%s %d: got %s want %s\n", peek < 0 ? "poll" : "peek", peek, achan_status_str(got),
          achan_status_str(want));
    CHECK(got == want);
    if (peek < 0 && top_closed)
        CHECK(got == ACHAN_CLOSED); /* CLOSED stays CLOSED. */
    if (peek < 0 && got == ACHAN_CLOSED)
        top_closed = true;
    if (got == ACHAN_OK) {
        canon(t, real_item, canon_item);
        CHECK(memcmp(canon_item, model_item, size) == 0);
        CHECK(memcmp(real_item + size, sentinel, 64) == 0); /* Nothing past the item. */
    } else {
        CHECK(memcmp(real_item, sentinel, size + 64) == 0); /* Nothing written. */
    }
    /* PENDING: a source holds the caller's waker, or the spent budget woke it. */
    if (got == ACHAN_PENDING)
        CHECK(pending_regs > 0 || mpsc_regs > 0 || coop_wakes > coop_before);
    CHECK(top.live == held_wakers());
    wake_sources();
    CHECK(top.live == held_wakers());
    CHECK(top.wakes == source_wakes + coop_wakes + mpsc_wakes);
}

static void reset(void) {
    ntypes = nnodes = nusers = nsources = npeek = 0;
    total_drops = 0;
    source_wakes = coop_wakes = mpsc_wakes = 0;
    futs_made = futs_dropped = 0;
    memset(futs, 0, sizeof futs);
    nfeeders = 0;
    memset(no_user_drop, 0, sizeof no_user_drop);
    memset(drops, 0, sizeof drops);
    memset(&top, 0, sizeof top);
    memset(&heap, 0, sizeof heap);
    top_closed = false;
    heap_alloc = fz_allocator(&heap);
    CHECK(achan_set_default_allocator(&heap_alloc) == ACHAN_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0};
    reset();
    uint8_t cfg = fz_byte(&r);
    heap.fail_at = (cfg >> 3) % 24; /* 1..23: that allocation fails once. */
    int nadapters = 1 + fz_byte(&r) % 4;
    cur = source_new(&r, type_plain(1 + cfg % 8), &cur_node);
    for (int i = 0; i < nadapters; i++) {
        uint8_t op = fz_byte(&r), param = fz_byte(&r);
        add_adapter(&r, op, param);
    }
    heap.fail_at = 0;
    TRACE("built %d nodes, %d users, %ld faults\n", nnodes, nusers, nomem_seen);

    bool dropped_early = false;
    for (int ops = 0; fz_more(&r) && ops < MAX_OPS && !dropped_early; ops++) {
        uint8_t b = fz_byte(&r);
        unsigned budget = (b >> 5) < 4 ? 0 : (b >> 5) - 3; /* 0 (unlimited) or 1..4 */
        if (b == 0xFF)
            dropped_early = true;
        else if ((b & 7) == 7 && npeek > 0)
            step_once((b >> 3) % npeek, budget);
        else
            step_once(-1, budget);
    }
    if (!dropped_early) {
        for (int polls = 0; !top_closed; polls++) {
            CHECK(polls < 100000); /* Every script ends, so the pipeline does. */
            step_once(-1, 0);
        }
        step_once(-1, 0);
        step_once(-1, 0);
    }
    achan_stream_drop(cur);
    for (int i = 0; i < nfeeders; i++)
        achan_mpsc_sender_drop(feeders[i].tx);
    for (int id = 0; id < nusers; id++)
        CHECK(drops[id] == (no_user_drop[id] ? 0 : 1)); /* Every user_drop, once. */
    CHECK(top.live == 0);
    CHECK(futs_made == futs_dropped); /* Every future dropped, once (ASan: not twice). */
    CHECK(heap.n == 0);               /* Every block freed, with its size. */
    CHECK(achan_set_default_allocator(NULL) == ACHAN_OK);
    return 0;
}
