/*
 * deadletter.c - dead-lettering with RabbitMQ's semantics: a message
 * rejected without requeue, expired, dropped by x-max-length or over its
 * delivery limit is copied, its death history (x-death) updated, and
 * routed to the queue's x-dead-letter-exchange with the queue's
 * x-dead-letter-routing-key (the CC header dropped) or its own routing
 * key and CC keys; queues that would close a cycle without a rejection in
 * it are skipped.  Routing happens after the operation that caused it
 * (never recursively).  The AMQP encoding of the history is the
 * session's (message_deaths); its persistence is persist.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup_int.h"
#include "exchange_int.h"
#include "message_int.h"
#include "persist_int.h"
#include "queue_int.h"

struct dl_pending {
    struct dl_pending *next;
    struct message *msg;        /* the dead letter (one reference) */
    struct vhost *vh;
    enum broker_drop_reason reason;
    size_t dlx_len;
    char dlx[];                 /* exchange name */
};

static const char *reason_name(enum broker_drop_reason r)
{
    switch (r) {
    case BROKER_DROP_REJECTED: return "rejected";
    case BROKER_DROP_EXPIRED: return "expired";
    case BROKER_DROP_MAXLEN: return "maxlen";
    case BROKER_DROP_DELIVERY_LIMIT: return "delivery_limit";
    }
    return "rejected";
}

/*
 * Whether the property bytes may hold a CC header: the headers flag (bit
 * 13 of the property flags) is set and the field-table key "CC" (its
 * shortstr length octet, then the name) occurs somewhere.  A dead letter
 * without one never pays for a header decode; a false positive costs one.
 */
static bool props_may_have_cc(struct edad_bytes props)
{
    return props.len >= 2 && (props.ptr[0] & 0x20) &&
           memmem(props.ptr, props.len, "\x02" "CC", 3) != NULL;
}

/* ---- the death history ---------------------------------------------------------------- */

/* Builder: slices are collected, then copied into one allocation. */
struct deaths_build {
    struct broker_death v[64];
    uint32_t n;
    struct edad_bytes first[3], last[3];    /* reason, queue, exchange */
};

static size_t al8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static struct edad_bytes put_str(uint8_t **cur, struct edad_bytes s)
{
    struct edad_bytes out = {*cur, s.len};
    if (s.len)
        memcpy(*cur, s.ptr, s.len);
    *cur += al8(s.len);
    return out;
}

static struct broker_deaths *deaths_pack(const struct deaths_build *db)
{
    size_t n = al8(sizeof(struct broker_deaths)) + al8(sizeof(struct broker_death) * db->n);
    for (uint32_t i = 0; i < db->n; i++) {
        const struct broker_death *d = &db->v[i];
        n += al8(d->queue.len) + al8(d->reason.len) + al8(d->exchange.len) +
             al8(d->original_expiration.len) + al8(sizeof(struct edad_bytes) * d->routing_keys_n);
        for (uint32_t k = 0; k < d->routing_keys_n; k++)
            n += al8(d->routing_keys[k].len);
    }
    for (int i = 0; i < 3; i++)
        n += al8(db->first[i].len) + al8(db->last[i].len);
    uint8_t *block = xmalloc(n);
    struct broker_deaths *ds = (struct broker_deaths *)(void *)block;
    uint8_t *cur = block + al8(sizeof(*ds));
    struct broker_death *v = (struct broker_death *)(void *)cur;
    cur += al8(sizeof(*v) * db->n);
    for (uint32_t i = 0; i < db->n; i++) {
        const struct broker_death *d = &db->v[i];
        v[i].count = d->count;
        v[i].time_s = d->time_s;
        v[i].queue = put_str(&cur, d->queue);
        v[i].reason = put_str(&cur, d->reason);
        v[i].exchange = put_str(&cur, d->exchange);
        v[i].original_expiration = put_str(&cur, d->original_expiration);
        struct edad_bytes *keys = (struct edad_bytes *)(void *)cur;
        cur += al8(sizeof(*keys) * d->routing_keys_n);
        for (uint32_t k = 0; k < d->routing_keys_n; k++)
            keys[k] = put_str(&cur, d->routing_keys[k]);
        v[i].routing_keys = keys;
        v[i].routing_keys_n = d->routing_keys_n;
    }
    ds->n = db->n;
    ds->v = v;
    ds->first_reason = put_str(&cur, db->first[0]);
    ds->first_queue = put_str(&cur, db->first[1]);
    ds->first_exchange = put_str(&cur, db->first[2]);
    ds->last_reason = put_str(&cur, db->last[0]);
    ds->last_queue = put_str(&cur, db->last[1]);
    ds->last_exchange = put_str(&cur, db->last[2]);
    return ds;
}

struct broker_deaths *deadletter_deaths_new(const struct broker_death *v, uint32_t n,
                                            const struct edad_bytes first[3],
                                            const struct edad_bytes last[3])
{
    struct deaths_build db;
    memset(&db, 0, sizeof(db));
    db.n = n < EDAD_ARRAY_LEN(db.v) ? n : (uint32_t)EDAD_ARRAY_LEN(db.v);
    memcpy(db.v, v, sizeof(*v) * db.n);
    for (int i = 0; i < 3; i++) {
        db.first[i] = first[i];
        db.last[i] = last[i];
    }
    return deaths_pack(&db);
}

/*
 * RabbitMQ's record_death: the (queue, reason) record gets count + 1 and
 * moves to the front, or a new one is put in front; x-first-death-* are
 * set on the first death only, x-last-death-* on each.  A new record's
 * routing-keys are m's routing key, then the longstr elements of its CC
 * header (cc, may be NULL); BCC keys never show: publishing removed that
 * header.
 */
static struct broker_deaths *deaths_record(const struct message *m, const struct queue *q,
                                           enum broker_drop_reason reason,
                                           const struct broker_array *cc, char *expbuf)
{
    const struct broker_deaths *old = message_deaths(m);
    struct deaths_build db;
    struct edad_bytes rname = bytes_from_cstr(reason_name(reason));
    struct edad_bytes qname = {(const uint8_t *)q->name, q->name_len};
    struct edad_bytes xname = message_exchange(m);
    memset(&db, 0, sizeof(db));
    long found = -1;
    if (old)
        for (uint32_t i = 0; i < old->n && found < 0; i++)
            if (bytes_eq(old->v[i].queue, qname) && bytes_eq(old->v[i].reason, rname))
                found = (long)i;
    struct broker_death *d = &db.v[db.n++];
    struct edad_bytes keys_small[8], *keys = NULL;
    if (found >= 0) {
        *d = old->v[found];
        d->count++;
    } else {
        d->queue = qname;
        d->reason = rname;
        d->count = 1;
        d->time_s = clock_wall_s();
        d->exchange = xname;
        uint32_t nk = 1 + (cc ? cc->count : 0);
        keys = nk <= EDAD_ARRAY_LEN(keys_small) ? keys_small : xmalloc(sizeof(*keys) * nk);
        keys[0] = message_routing_key(m);
        nk = 1;
        for (uint32_t i = 0; cc && i < cc->count; i++)
            if (cc->values[i].kind == BROKER_V_STRING)
                keys[nk++] = cc->values[i].v.str;
        d->routing_keys = keys;
        d->routing_keys_n = nk;
        if (m->expiration_ms >= 0) {
            snprintf(expbuf, 24, "%" PRId64, m->expiration_ms);
            d->original_expiration = bytes_from_cstr(expbuf);
        }
    }
    if (old) {
        for (uint32_t i = 0; i < old->n && db.n < EDAD_ARRAY_LEN(db.v); i++)
            if ((long)i != found)
                db.v[db.n++] = old->v[i];
        db.first[0] = old->first_reason;
        db.first[1] = old->first_queue;
        db.first[2] = old->first_exchange;
    } else {
        db.first[0] = rname;
        db.first[1] = qname;
        db.first[2] = xname;
    }
    db.last[0] = rname;
    db.last[1] = qname;
    db.last[2] = xname;
    struct broker_deaths *ds = deaths_pack(&db);
    if (keys != keys_small)
        free(keys);
    return ds;
}

/*
 * RabbitMQ's cycle rule: the most recent death in target, with no
 * 'rejected' death since (it included), means the message would go round
 * automatically for ever: target is skipped.
 */
static bool deaths_cycle(const struct broker_deaths *ds, const struct queue *target)
{
    struct edad_bytes tname = {(const uint8_t *)target->name, target->name_len};
    for (uint32_t i = 0; i < ds->n; i++) {
        if (bytes_eq_cstr(ds->v[i].reason, "rejected"))
            return false;
        if (bytes_eq(ds->v[i].queue, tname))
            return true;
    }
    return false;
}

/* ---- routing ----------------------------------------------------------------------------- */

static void dl_route(struct broker *b, struct dl_pending *p)
{
    struct vhost *vh = p->vh;
    struct edad_bytes xname = {(const uint8_t *)p->dlx, p->dlx_len};
    struct exchange *x = exchange_find(vh, xname);
    /* header lookups of this dead letter (CC keys, dedup) start from an
     * empty scratch: a timer run may dead-letter thousands in a row */
    codec_reset(b);
    if (!x) {
        log_debug("dead letter dropped: no exchange '%.*s' in vhost '%s'", (int)p->dlx_len,
                  p->dlx, vh->name);
        return;
    }
    broker_route_collect(vh, x, p->msg, message_routing_key(p->msg));
    uint32_t n = b->route_qn;
    if (n == 0)
        return;
    struct queue *small[16];
    struct queue **qs = n <= EDAD_ARRAY_LEN(small) ? small : xmalloc(sizeof(*qs) * n);
    memcpy(qs, b->route_q, sizeof(*qs) * n);
    const struct broker_deaths *ds = message_deaths(p->msg);
    for (uint32_t i = 0; i < n; i++) {
        if (ds && deaths_cycle(ds, qs[i])) {
            log_debug("dead letter dropped: queue '%s' in vhost '%s' closes a dead-letter "
                      "cycle without a rejection", qs[i]->name, vh->name);
            continue;
        }
        /* a deduplicating queue drops a dead letter it has seen (LavinMQ) */
        if (qs[i]->dedup && dedup_check_queue(qs[i], codec_headers(b, p->msg)))
            continue;
        queue_enqueue(qs[i], p->msg, NULL);
    }
    if (qs != small)
        free(qs);
}

void deadletter_flush(struct broker *b)
{
    if (b->route_busy || b->dl_running)
        return;
    b->dl_running = true;
    struct dl_pending *p;
    while ((p = b->dl_head) != NULL) {
        b->dl_head = p->next;
        if (!b->dl_head)
            b->dl_tail = NULL;
        dl_route(b, p);
        message_unref(&p->msg);
        free(p);
    }
    b->dl_running = false;
}

void deadletter_free_pending(struct broker *b)
{
    struct dl_pending *p;
    while ((p = b->dl_head) != NULL) {
        b->dl_head = p->next;
        message_unref(&p->msg);
        free(p);
    }
    b->dl_tail = NULL;
}

void deadletter_entry(struct queue *q, const struct queue_entry *e,
                      enum broker_drop_reason reason)
{
    if (!q->dlx || q->deleted || !q->vh)
        return;
    struct broker *b = q->b;
    struct message *m = e->msg;
    char expbuf[24];
    const struct broker_value *cc = NULL;
    if (props_may_have_cc(message_props(m)))
        cc = broker_table_get(codec_headers(b, m), "CC");
    const struct broker_array *cc_keys = cc && cc->kind == BROKER_V_ARRAY ? &cc->v.array : NULL;
    struct broker_deaths *ds = deaths_record(m, q, reason, cc_keys, expbuf);
    struct edad_bytes dlx = q->dlx->v.str;
    struct edad_bytes rk = q->dlrk ? q->dlrk->v.str : message_routing_key(m);
    /* with x-dead-letter-routing-key the CC header goes (RabbitMQ's
     * make_msg); without it, the dead letter is routed by its CC keys too */
    struct message *nocc = NULL;
    if (q->dlrk && cc && b->codec.without_header)
        nocc = b->codec.without_header(b->codec.ctx, m, "CC");
    struct edad_bytes props = message_props(nocc ? nocc : m);
    struct message *dm = message_new_dead(dlx, rk, props, message_body(m), m, ds);
    message_unref(&nocc);
    if (!dm)
        return;
    struct dl_pending *p = xmalloc(sizeof(*p) + dlx.len + 1);
    p->next = NULL;
    p->msg = dm;
    p->vh = q->vh;
    p->reason = reason;
    p->dlx_len = dlx.len;
    if (dlx.len)
        memcpy(p->dlx, dlx.ptr, dlx.len);
    p->dlx[dlx.len] = '\0';
    if (b->dl_tail)
        b->dl_tail->next = p;
    else
        b->dl_head = p;
    b->dl_tail = p;
    q->st_dead_lettered++;
    deadletter_flush(b);
}
