/*
 * exchange_delayed.c - what an x-delayed-message exchange holds: messages
 * published with an x-delay header wait in a per-exchange min-heap of
 * (due time, arrival order, message) - 24 bytes each, O(log n) to add and
 * to release - behind one broker timer per exchange, then are routed by
 * the exchange's x-delayed-type as if published then.  Millions of held
 * messages cost memory for their bodies and these entries, and no work
 * per tick.  On a durable exchange persistent messages are also stored
 * (one internal store queue per exchange, through the broker hooks) when
 * held and acked when released, so they survive a restart.  Not here:
 * deciding to hold (publish.c) or the declare rules (exchange.c).
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "exchange_int.h"
#include "message_int.h"

/* Messages released per timer run and exchange; the rest go next run. */
#define DELAY_RELEASE_BATCH 4096u
/* RabbitMQ's plugin: Erlang's maximum timer, 2^32-1 ms. */
#define DELAY_MAX_MS UINT64_C(4294967295)

struct delay_item {
    uint64_t due;
    uint64_t seq;               /* order among equal due times */
    struct message *m;
    uint64_t loc;               /* store location; 0: not stored */
};

struct delay_store {
    struct broker_timer timer;  /* first: the fire callback's container */
    struct exchange *x;
    struct delay_item *heap;
    uint32_t n, cap;
    uint64_t next_seq;
    void *store;                /* the hooks' store handle; NULL: nothing stored yet */
};

/* ---- x-delay --------------------------------------------------------------------------- */

/* binary_to_integer: optional sign, digits, nothing else. */
static bool parse_int(struct edad_bytes s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len || s.len - i > 18)
        return false;
    int64_t v = 0;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (s.ptr[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

bool delay_of(const struct broker_table *headers, uint64_t *delay_ms)
{
    const struct broker_value *v = broker_table_get(headers, "x-delay");
    if (!v)
        return false;
    int64_t d;
    switch (v->kind) {
    case BROKER_V_I8: case BROKER_V_U8: case BROKER_V_I16: case BROKER_V_U16:
    case BROKER_V_I32: case BROKER_V_U32: case BROKER_V_I64:
        d = v->v.i;
        break;
    case BROKER_V_STRING:
        if (!parse_int(v->v.str, &d))
            return false;
        break;
    case BROKER_V_FLOAT:
    case BROKER_V_DOUBLE:
        if (!(v->v.d > 0) || v->v.d >= 1e19)
            return false;
        d = (int64_t)v->v.d;        /* trunc */
        break;
    case BROKER_V_DECIMAL: {
        double x = v->v.dec.value;
        for (uint8_t i = 0; i < v->v.dec.scale; i++)
            x /= 10;
        d = (int64_t)x;
        break;
    }
    default:
        return false;               /* unsignedlong and the rest: no delay */
    }
    if (d <= 0 || (uint64_t)d > DELAY_MAX_MS)
        return false;
    *delay_ms = (uint64_t)d;
    return true;
}

/* ---- the heap ------------------------------------------------------------------------------ */

static bool item_before(const struct delay_item *a, const struct delay_item *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct delay_store *s, const struct delay_item *it)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->heap = xrealloc(s->heap, sizeof(*s->heap) * s->cap);
    }
    uint32_t i = s->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!item_before(it, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = *it;
}

static void heap_pop(struct delay_store *s, struct delay_item *out)
{
    *out = s->heap[0];
    struct delay_item last = s->heap[--s->n];
    uint32_t i = 0, n = s->n;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && item_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!item_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    if (n == 0) {
        free(s->heap);
        s->heap = NULL;
        s->cap = 0;
    } else if (s->cap > 64 && n < s->cap / 4) {
        s->cap /= 2;
        s->heap = xrealloc(s->heap, sizeof(*s->heap) * s->cap);
    }
}

/* ---- hold and release ------------------------------------------------------------------------ */

static void delay_fire(struct broker_timer *t, uint64_t now_ms)
{
    struct delay_store *s = (struct delay_store *)t;
    struct exchange *x = s->x;
    struct broker *b = x->vh->broker;
    uint32_t budget = DELAY_RELEASE_BATCH;
    while (s->n && s->heap[0].due <= now_ms && budget--) {
        struct delay_item it;
        heap_pop(s, &it);
        /* routed as if published now: bindings, alternate exchange, queue
         * limits and deduplication as they are at release */
        codec_reset(b);
        route_and_enqueue(x->vh, x, it.m, NULL, true, NULL);
        message_unref(&it.m);
        if (it.loc && s->store && b->hooks.delayed_release)
            b->hooks.delayed_release(b->hooks.persist_ctx, s->store, it.loc);
        /* routing never deletes exchanges, so x and s are still here */
    }
    if (s->n)
        broker_timer_arm(b, &s->timer, s->heap[0].due);
}

static struct delay_store *delay_store_of(struct exchange *x)
{
    struct delay_store *s = x->delay;
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->x = x;
        s->timer.fire = delay_fire;
        s->next_seq = 1;
        x->delay = s;
    }
    return s;
}

static void delay_push(struct delay_store *s, const struct delay_item *it)
{
    heap_push(s, it);
    if (s->heap[0].seq == it->seq && s->heap[0].due == it->due)
        broker_timer_arm(s->x->vh->broker, &s->timer, it->due);
}

int delay_hold(struct exchange *x, struct message *m, uint64_t delay_ms)
{
    struct broker *b = x->vh->broker;
    struct delay_store *s = delay_store_of(x);
    uint64_t now = broker_now_ms(b);
    struct delay_item it = {now + delay_ms, s->next_seq++, m, 0};
    int stored = 0;
    if (x->durable && message_persistent(m) && b->hooks.delayed_hold) {
        edad_status st = b->hooks.delayed_hold(b->hooks.persist_ctx, x->vh->name, x->name,
                                               &s->store, m, it.seq, delay_ms, &it.loc);
        if (st == EDAD_OK)
            stored = 1;
        else if (st != EDAD_ERR_TOO_LARGE)
            return -1;      /* the store failed: not held, the publisher is told */
        /* too large to store (a 255-byte exchange name): held in memory only */
    }
    message_ref(m);
    delay_push(s, &it);
    return stored;
}

bool exchange_delayed_attach(struct exchange *x, void *handle, uint64_t next_seq)
{
    if (!x->delayed)
        return false;
    struct delay_store *s = delay_store_of(x);
    s->store = handle;
    if (s->next_seq < next_seq)
        s->next_seq = next_seq;
    return true;
}

void exchange_delayed_restore(struct exchange *x, struct message *m, uint64_t seq,
                              uint64_t due_ms, uint64_t order_key, uint64_t loc)
{
    struct delay_store *s = delay_store_of(x);
    struct delay_item it = {due_ms, seq, message_ref(m), loc};
    if (due_ms <= broker_now_ms(x->vh->broker)) {
        /* due while edad was down: before anything else, in their due order */
        it.due = 0;
        it.seq = order_key << 20 | (seq & 0xfffff);
    }
    if (s->next_seq <= seq)
        s->next_seq = seq + 1;
    delay_push(s, &it);
}

uint64_t delay_count(const struct exchange *x)
{
    return x->delay ? x->delay->n : 0;
}

void delay_store_free(struct exchange *x)
{
    struct delay_store *s = x->delay;
    if (!s)
        return;
    x->delay = NULL;
    struct broker *b = x->vh->broker;
    broker_timer_cancel(b, &s->timer);
    /* the exchange is gone (the hooks are cleared before a shutdown frees it) */
    if (s->store && b->hooks.delayed_delete)
        b->hooks.delayed_delete(b->hooks.persist_ctx, s->store);
    for (uint32_t i = 0; i < s->n; i++)
        message_unref(&s->heap[i].m);
    free(s->heap);
    free(s);
}
