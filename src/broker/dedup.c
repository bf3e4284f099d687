/*
 * dedup.c - LavinMQ-compatible message deduplication caches: the key is the
 * value of one message header (x-deduplication-header by default), kept in
 * a hash map in insertion order; at x-cache-size keys the oldest goes, and
 * a key older than its TTL no longer counts (dropped when next looked up).
 * Values compare by type and value (integers of any width as one number).
 * The caches of durable queues and exchanges report every key they add
 * (and their deletion) through the broker hooks, which persist them, and
 * are refilled at recovery (dedup_restore).  Not here: where caches are
 * consulted (publish.c, deadletter.c) or the files (server_persist.c).
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "dedup_int.h"
#include "exchange_int.h"
#include "queue_int.h"

struct dedup_entry {
    struct dedup_entry *next, *prev;    /* insertion order, oldest first */
    uint64_t hash;
    uint64_t expires_ms;                /* UINT64_MAX: never */
    uint32_t key_len;
    uint8_t key[];                      /* canonical encoding of the value */
};

struct dedup {
    struct hmap map;                    /* struct dedup_entry by key */
    struct dedup_entry *oldest, *newest;
    uint32_t cap;                       /* x-cache-size */
    bool has_ttl;
    uint64_t ttl_ms;                    /* x-cache-ttl */
    char *header;                       /* x-deduplication-header */
    /* persistence (durable owners): set by the first check through the owner */
    struct broker *b;                   /* NULL: not persisted */
    char kind;                          /* 'q' queue, 'x' exchange */
    char *vhost, *name;
    void *persist;                      /* the hooks' handle */
};

/* Fixed seed: keys are the same bytes whatever the process. */
#define DEDUP_SEED UINT64_C(0x6465647570636163)

/* ---- canonical key encoding --------------------------------------------------------- */

struct kbuf {
    uint8_t *p;
    size_t n, cap;
    uint8_t small[128];
};

static void kb_put(struct kbuf *k, const void *src, size_t n)
{
    if (k->n + n > k->cap) {
        size_t cap = k->cap * 2;
        while (cap < k->n + n)
            cap *= 2;
        if (k->p == k->small) {
            k->p = xmalloc(cap);
            memcpy(k->p, k->small, k->n);
        } else {
            k->p = xrealloc(k->p, cap);
        }
        k->cap = cap;
    }
    if (n)
        memcpy(k->p + k->n, src, n);
    k->n += n;
}

static void kb_byte(struct kbuf *k, uint8_t b)
{
    kb_put(k, &b, 1);
}

static void kb_u64(struct kbuf *k, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    kb_put(k, b, 8);
}

static void kb_bytes(struct kbuf *k, struct edad_bytes s)
{
    kb_u64(k, s.len);
    kb_put(k, s.ptr, s.len);
}

static void kb_value(struct kbuf *k, const struct broker_value *v)
{
    int64_t i;
    switch (v->kind) {
    case BROKER_V_STRING:
    case BROKER_V_BYTES:
        kb_byte(k, v->kind);
        kb_bytes(k, v->v.str);
        return;
    case BROKER_V_BOOL:
        kb_byte(k, 't');
        kb_byte(k, v->v.b ? 1 : 0);
        return;
    case BROKER_V_FLOAT:
    case BROKER_V_DOUBLE: {
        uint64_t bits;
        double d = v->v.d;
        memcpy(&bits, &d, sizeof(bits));
        kb_byte(k, 'd');
        kb_u64(k, bits);
        return;
    }
    case BROKER_V_DECIMAL:
        kb_byte(k, 'D');
        kb_byte(k, v->v.dec.scale);
        kb_u64(k, v->v.dec.value);
        return;
    case BROKER_V_TIMESTAMP:
        kb_byte(k, 'T');
        kb_u64(k, (uint64_t)v->v.i);
        return;
    case BROKER_V_VOID:
        kb_byte(k, 'V');
        return;
    case BROKER_V_ARRAY:
        kb_byte(k, 'A');
        kb_u64(k, v->v.array.count);
        for (uint32_t j = 0; j < v->v.array.count; j++)
            kb_value(k, &v->v.array.values[j]);
        return;
    case BROKER_V_TABLE:
        kb_byte(k, 'F');
        kb_u64(k, v->v.table.count);
        for (uint32_t j = 0; j < v->v.table.count; j++) {
            kb_bytes(k, v->v.table.entries[j].key);
            kb_value(k, &v->v.table.entries[j].value);
        }
        return;
    default:
        break;
    }
    if (args_value_int(v, &i)) {
        kb_byte(k, 'I');        /* every integer width: one number */
        kb_u64(k, (uint64_t)i);
    } else {
        kb_byte(k, 'L');        /* unsignedlong above INT64_MAX */
        kb_u64(k, v->v.u);
    }
}

/* ---- cache ------------------------------------------------------------------------------- */

struct dkey {
    const uint8_t *p;
    size_t n;
};

static bool entry_eq(const void *item, const void *key)
{
    const struct dedup_entry *e = item;
    const struct dkey *k = key;
    return e->key_len == k->n && memcmp(e->key, k->p, k->n) == 0;
}

static void entry_unlink(struct dedup *d, struct dedup_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        d->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        d->newest = e->prev;
    hmap_remove(&d->map, e->hash, e);
    free(e);
}

struct dedup *dedup_new(const struct broker_table *args)
{
    const struct broker_value *on = broker_table_get(args, "x-message-deduplication");
    if (!on || on->kind != BROKER_V_BOOL || !on->v.b)
        return NULL;
    struct dedup *d = xcalloc(1, sizeof(*d));
    hmap_init(&d->map);
    int64_t v;
    d->cap = DEDUP_DEFAULT_SIZE;
    if (args_value_int(broker_table_get(args, "x-cache-size"), &v) && v > 0)
        d->cap = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    if (args_value_int(broker_table_get(args, "x-cache-ttl"), &v) && v >= 0) {
        d->has_ttl = true;
        d->ttl_ms = (uint64_t)v;
    }
    const struct broker_value *h = broker_table_get(args, "x-deduplication-header");
    d->header = h && h->kind == BROKER_V_STRING ? bytes_strdup(h->v.str)
                                                : bytes_strdup(bytes_from_cstr(DEDUP_DEFAULT_HEADER));
    return d;
}

void dedup_free(struct dedup *d)
{
    if (!d)
        return;
    /* the owner is gone (the hooks are cleared before a shutdown frees it) */
    if (d->b && d->persist && d->b->hooks.dedup_delete)
        d->b->hooks.dedup_delete(d->b->hooks.persist_ctx, d->persist);
    free(d->vhost);
    free(d->name);
    struct dedup_entry *e = d->oldest;
    while (e) {
        struct dedup_entry *n = e->next;
        free(e);
        e = n;
    }
    hmap_free(&d->map);
    free(d->header);
    free(d);
}

uint32_t dedup_count(const struct dedup *d)
{
    return d ? d->map.count : 0;
}

/* The TTL for this message: its own x-cache-ttl (a signedint, as LavinMQ
 * reads it) or the cache's; false when keys never expire. */
static bool message_ttl(const struct dedup *d, const struct broker_table *headers, uint64_t *ttl)
{
    const struct broker_value *v = broker_table_get(headers, "x-cache-ttl");
    if (v && v->kind == BROKER_V_I32 && v->v.i >= 0) {
        *ttl = (uint64_t)v->v.i;
        return true;
    }
    *ttl = d->ttl_ms;
    return d->has_ttl;
}

bool dedup_check(struct dedup *d, const struct broker_table *headers, uint64_t now_ms)
{
    const struct broker_value *v = broker_table_get(headers, d->header);
    if (!v)
        return false;
    struct kbuf k = {.cap = sizeof(k.small)};
    k.p = k.small;
    kb_value(&k, v);
    struct dkey key = {k.p, k.n};
    uint64_t h = hash_bytes(k.p, k.n, DEDUP_SEED);
    struct dedup_entry *e = hmap_find(&d->map, h, entry_eq, &key);
    bool dup = false;
    if (e) {
        if (e->expires_ms > now_ms)
            dup = true;
        else
            entry_unlink(d, e);         /* expired: forget it, insert anew */
    }
    if (!dup) {
        while (d->map.count >= d->cap && d->oldest)
            entry_unlink(d, d->oldest);
        e = xmalloc(sizeof(*e) + k.n);
        e->hash = h;
        uint64_t ttl;
        e->expires_ms = message_ttl(d, headers, &ttl)
                            ? (ttl > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + ttl)
                            : UINT64_MAX;
        e->key_len = (uint32_t)k.n;
        memcpy(e->key, k.p, k.n);
        e->next = NULL;
        e->prev = d->newest;
        if (d->newest)
            d->newest->next = e;
        else
            d->oldest = e;
        d->newest = e;
        hmap_insert(&d->map, h, e);
        if (d->b && d->b->hooks.dedup_add)
            d->b->hooks.dedup_add(d->b->hooks.persist_ctx, &d->persist, d, d->kind, d->vhost,
                                  d->name, e->key, e->key_len, e->expires_ms);
    }
    if (k.p != k.small)
        free(k.p);
    return dup;
}

/* ---- persistence ------------------------------------------------------------------------ */

/* A durable owner's cache reports its keys from now on. */
static void dedup_own(struct dedup *d, struct broker *b, char kind, const char *vhost,
                      const char *name)
{
    if (d->b)
        return;
    d->b = b;
    d->kind = kind;
    d->vhost = xstrdup(vhost);
    d->name = xstrdup(name);
}

bool dedup_check_queue(struct queue *q, const struct broker_table *headers)
{
    if (q->durable && !q->exclusive && q->vh)
        dedup_own(q->dedup, q->b, 'q', q->vh->name, q->name);
    return dedup_check(q->dedup, headers, broker_now_ms(q->b));
}

bool dedup_check_exchange(struct exchange *x, const struct broker_table *headers)
{
    struct broker *b = x->vh->broker;
    if (x->durable)
        dedup_own(x->dedup, b, 'x', x->vh->name, x->name);
    return dedup_check(x->dedup, headers, broker_now_ms(b));
}

struct dedup *dedup_of(struct vhost *vh, char kind, struct edad_bytes name)
{
    if (kind == 'q') {
        struct queue *q = queue_find(vh, name);
        if (!q || !q->durable || q->exclusive || !q->dedup)
            return NULL;
        dedup_own(q->dedup, q->b, 'q', vh->name, q->name);
        return q->dedup;
    }
    struct exchange *x = exchange_find(vh, name);
    if (!x || !x->durable || !x->dedup)
        return NULL;
    dedup_own(x->dedup, vh->broker, 'x', vh->name, x->name);
    return x->dedup;
}

void dedup_attach(struct dedup *d, void *handle)
{
    d->persist = handle;
}

void dedup_restore(struct dedup *d, const uint8_t *key, size_t len, uint64_t expires_ms)
{
    struct dkey k = {key, len};
    uint64_t h = hash_bytes(key, len, DEDUP_SEED);
    struct dedup_entry *e = hmap_find(&d->map, h, entry_eq, &k);
    if (e)
        entry_unlink(d, e);             /* added again later: the newer one counts */
    while (d->map.count >= d->cap && d->oldest)
        entry_unlink(d, d->oldest);
    e = xmalloc(sizeof(*e) + len);
    e->hash = h;
    e->expires_ms = expires_ms;
    e->key_len = (uint32_t)len;
    memcpy(e->key, key, len);
    e->next = NULL;
    e->prev = d->newest;
    if (d->newest)
        d->newest->next = e;
    else
        d->oldest = e;
    d->newest = e;
    hmap_insert(&d->map, h, e);
}

void dedup_foreach(const struct dedup *d,
                   void (*fn)(void *ctx, const uint8_t *key, size_t len, uint64_t expires_ms),
                   void *ctx)
{
    for (const struct dedup_entry *e = d->oldest; e; e = e->next)
        fn(ctx, e->key, e->key_len, e->expires_ms);
}

uint32_t dedup_capacity(const struct dedup *d)
{
    return d->cap;
}
