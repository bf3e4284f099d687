/*
 * persist.c - the broker's own per-message state that must survive a
 * restart beside the AMQP bytes the store keeps: the dead-letter history
 * (x-death) and the TTL start time as wall clock (plus the due time of a
 * message held by a delayed exchange), encoded into the store record's
 * opaque meta block and decoded at recovery.  Not here: files, the store
 * itself, AMQP decoding.  Format in docs/store.md ("Message meta").
 */
#include <stdlib.h>
#include <string.h>

#include "message_int.h"
#include "persist_int.h"
#include "queue_int.h"

#define META_VERSION 1u
#define META_F_TS 0x1u          /* u64 wall ms: the TTL start */
#define META_F_DEATHS 0x2u      /* the death history follows */
#define META_F_DUE 0x4u         /* u64 wall ms: a delayed exchange releases it then */
/* each death's routing keys are a u32 count (>= 1), then the keys; without
 * this flag (records before CC keys were kept, and every record whose
 * deaths have one key each, so older binaries still read those) one key */
#define META_F_KEYS 0x8u
#define META_DEATHS_MAX 64u

/* ---- writing ------------------------------------------------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t cap, len;            /* len may exceed cap: only counted then */
};

static void w_raw(struct wbuf *w, const void *src, size_t n)
{
    if (w->len + n <= w->cap && n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u64(struct wbuf *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_raw(w, b, 8);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_raw(w, b, 4);
}

static void w_str(struct wbuf *w, struct edad_bytes s)
{
    w_u32(w, (uint32_t)s.len);
    w_raw(w, s.ptr, s.len);
}

size_t message_meta_encode(const struct broker *b, const struct message *m, uint64_t wall_now_ms,
                           uint64_t due_wall_ms, uint8_t *buf, size_t cap)
{
    const struct broker_deaths *ds = message_deaths(m);
    uint8_t flags = 0;
    if (m->flags & MESSAGE_F_TS)
        flags |= META_F_TS;
    if (ds)
        flags |= META_F_DEATHS;
    if (due_wall_ms)
        flags |= META_F_DUE;
    for (uint32_t i = 0; ds && i < ds->n; i++)
        if (ds->v[i].routing_keys_n != 1)
            flags |= META_F_KEYS;
    if (!flags)
        return 0;
    struct wbuf w = {buf, cap, 0};
    uint8_t head[2] = {META_VERSION, flags};
    w_raw(&w, head, 2);
    if (flags & META_F_TS) {
        /* modular: a recovered message's ts may have wrapped below zero */
        uint64_t age = broker_now_ms(b) - m->ts_ms;
        w_u64(&w, wall_now_ms - age);
    }
    if (flags & META_F_DUE)
        w_u64(&w, due_wall_ms);
    if (ds) {
        w_u32(&w, ds->n);
        for (uint32_t i = 0; i < ds->n; i++) {
            const struct broker_death *d = &ds->v[i];
            w_u64(&w, d->count);
            w_u64(&w, d->time_s);
            w_str(&w, d->queue);
            w_str(&w, d->reason);
            w_str(&w, d->exchange);
            if (flags & META_F_KEYS)
                w_u32(&w, d->routing_keys_n);
            for (uint32_t k = 0; k < d->routing_keys_n; k++)
                w_str(&w, d->routing_keys[k]);
            w_str(&w, d->original_expiration);
        }
        w_str(&w, ds->first_reason);
        w_str(&w, ds->first_queue);
        w_str(&w, ds->first_exchange);
        w_str(&w, ds->last_reason);
        w_str(&w, ds->last_queue);
        w_str(&w, ds->last_exchange);
    }
    return w.len;
}

/* ---- reading ------------------------------------------------------------------------- */

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static uint64_t r_uint(struct rbuf *r, int n)
{
    if (r->bad || r->len - r->off < (size_t)n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)n;
    return v;
}

static struct edad_bytes r_str(struct rbuf *r)
{
    struct edad_bytes s = {NULL, 0};
    uint64_t n = r_uint(r, 4);
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return s;
    }
    s.ptr = r->p + r->off;
    s.len = (size_t)n;
    r->off += (size_t)n;
    return s;
}

/* Append one key to out->keys (grown as needed). */
static void keys_push(struct message_meta *out, size_t *cap, struct edad_bytes k)
{
    if (out->nkeys == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        out->keys = xrealloc(out->keys, sizeof(*out->keys) * *cap);
    }
    out->keys[out->nkeys++] = k;
}

bool message_meta_decode(struct edad_bytes meta, struct message_meta *out)
{
    memset(out, 0, sizeof(*out));
    if (!meta.len)
        return true;
    struct rbuf r = {meta.ptr, meta.len, 0, false};
    uint64_t version = r_uint(&r, 1), flags = r_uint(&r, 1);
    if (r.bad || version != META_VERSION)
        return false;
    size_t cap = 0, first_key[META_DEATHS_MAX];
    if (flags & META_F_TS) {
        out->has_ts = true;
        out->ts_wall_ms = r_uint(&r, 8);
    }
    if (flags & META_F_DUE)
        out->due_wall_ms = r_uint(&r, 8);
    if (flags & META_F_DEATHS) {
        uint64_t n = r_uint(&r, 4);
        if (n == 0 || n > META_DEATHS_MAX)
            return false;   /* nothing allocated yet */
        out->ndeaths = (uint32_t)n;
        for (uint32_t i = 0; i < out->ndeaths && !r.bad; i++) {
            struct broker_death *d = &out->deaths[i];
            d->count = r_uint(&r, 8);
            d->time_s = r_uint(&r, 8);
            d->queue = r_str(&r);
            d->reason = r_str(&r);
            d->exchange = r_str(&r);
            uint64_t nk = (flags & META_F_KEYS) ? r_uint(&r, 4) : 1;
            /* each key takes 4 bytes at least: a bound before allocating */
            if (nk == 0 || nk > (r.len - r.off) / 4)
                r.bad = true;
            first_key[i] = out->nkeys;
            for (uint64_t k = 0; k < nk && !r.bad; k++)
                keys_push(out, &cap, r_str(&r));
            d->routing_keys_n = r.bad ? 0 : (uint32_t)nk;
            d->original_expiration = r_str(&r);
        }
        /* pointers last: keys_push may have moved the array */
        for (uint32_t i = 0; i < out->ndeaths && !r.bad; i++)
            out->deaths[i].routing_keys = out->keys + first_key[i];
        for (int i = 0; i < 3; i++)
            out->first[i] = r_str(&r);
        for (int i = 0; i < 3; i++)
            out->last[i] = r_str(&r);
    }
    if (r.bad || r.off != r.len) {
        message_meta_clear(out);
        return false;
    }
    return true;
}

void message_meta_clear(struct message_meta *mm)
{
    free(mm->keys);
    mm->keys = NULL;
    mm->nkeys = 0;
}

uint64_t message_meta_due(struct edad_bytes meta)
{
    struct message_meta mm;
    if (!message_meta_decode(meta, &mm))
        return 0;
    message_meta_clear(&mm);
    return mm.due_wall_ms;
}

/* ---- restoring --------------------------------------------------------------------------- */

/* The TTL that applies to m on q (the smaller of both), -1 when none. */
static int64_t effective_ttl(const struct queue *q, const struct message *m)
{
    int64_t ttl = q ? q->ttl_ms : -1;
    if (m->expiration_ms >= 0 && (ttl < 0 || m->expiration_ms < ttl))
        ttl = m->expiration_ms;
    return ttl;
}

struct message *message_restore(struct broker *b, const struct message_restore *r,
                                bool *meta_bad)
{
    struct message_meta mm;
    bool ok = message_meta_decode(r->meta, &mm);
    if (meta_bad)
        *meta_bad = !ok;
    if (!ok)
        memset(&mm, 0, sizeof(mm));     /* restored as if it had no meta */
    /* a dead letter: a body-less template for message_new_dead's flags */
    uint64_t body_len = mm.ndeaths ? 0 : r->body.len;
    struct message *m = message_new(r->exchange, r->routing_key,
                                    mm.ndeaths ? EDAD_BYTES_NULL : r->props, body_len, &r->info);
    if (!m) {
        message_meta_clear(&mm);
        return NULL;
    }
    if (body_len)
        memcpy(message_body_mut(m), r->body.ptr, body_len);
    if (mm.ndeaths) {
        struct broker_deaths *ds = deadletter_deaths_new(mm.deaths, mm.ndeaths, mm.first,
                                                         mm.last);
        message_meta_clear(&mm);    /* ds holds copies */
        struct message *dm = message_new_dead(r->exchange, r->routing_key, r->props, r->body,
                                              m, ds);
        message_unref(&m);
        if (!dm)
            return NULL;
        m = dm;
    }
    int64_t ttl = effective_ttl(r->queue, m);
    if (mm.has_ts && ttl >= 0) {
        /*
         * Due at ts_wall + ttl on the wall clock; on the broker clock that is
         * now + remaining (at once when already due).  ts is computed so that
         * expiry_of's ts + ttl lands there: modular arithmetic, since a
         * message older than the broker clock's value wraps below zero.
         */
        uint64_t now = broker_now_ms(b);
        uint64_t due_wall = mm.ts_wall_ms + (uint64_t)ttl;
        uint64_t remaining = due_wall > r->wall_now_ms ? due_wall - r->wall_now_ms : 0;
        if (remaining > (uint64_t)ttl)
            remaining = (uint64_t)ttl;  /* the wall clock went back: never later than a fresh TTL */
        m->ts_ms = now + remaining - (uint64_t)ttl;
        m->flags |= MESSAGE_F_TS;
    } else if (mm.has_ts) {
        /* no TTL applies now: keep the start for a later store round */
        uint64_t age = r->wall_now_ms > mm.ts_wall_ms ? r->wall_now_ms - mm.ts_wall_ms : 0;
        m->ts_ms = broker_now_ms(b) - age;
        m->flags |= MESSAGE_F_TS;
    }
    return m;
}
