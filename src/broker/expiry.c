/*
 * expiry.c - time on queues: message TTL (x-message-ttl and the expiration
 * property, the smaller wins) expiring each message on time wherever it
 * sits, through a per-queue min-heap of (expiry, seq) records deleted
 * lazily and one broker timer per queue for the earliest record; and
 * x-expires, deleting a queue left unused for the period.  What happens to
 * an expired message (dead-lettering) is queue_drop_entry's business.
 */
#include <stddef.h>
#include <stdlib.h>

#include "message_int.h"
#include "queue_int.h"

/* Messages expired per timer run and queue before yielding to I/O. */
#define EXPIRE_BATCH 65536u
/* The index is rebuilt when stale records exceed this plus the live ones. */
#define XHEAP_SLACK 1024u

#define QUEUE_OF(t, member) ((struct queue *)(void *)((char *)(t) - offsetof(struct queue, member)))

uint64_t expiry_of(const struct queue *q, const struct queue_entry *e)
{
    int64_t ttl = q->ttl_ms;
    int64_t mttl = e->msg->expiration_ms;
    if (mttl >= 0 && (ttl < 0 || mttl < ttl))
        ttl = mttl;
    if (ttl < 0)
        return UINT64_MAX;
    return e->msg->ts_ms + (uint64_t)ttl;
}

/* ---- the index: a min-heap by expiry ------------------------------------------------- */

static void xheap_up(struct qexp *h, uint32_t i)
{
    struct qexp r = h[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h[p].at <= r.at)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = r;
}

static void xheap_down(struct qexp *h, uint32_t n, uint32_t i)
{
    struct qexp r = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].at < h[c].at)
            c++;
        if (r.at <= h[c].at)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = r;
}

static void xheap_pop(struct queue *q)
{
    q->xheap[0] = q->xheap[--q->xn];
    if (q->xn)
        xheap_down(q->xheap, q->xn, 0);
    if (q->xn == 0) {
        free(q->xheap);
        q->xheap = NULL;
        q->xcap = 0;
    } else if (q->xcap > 1024 && q->xn < q->xcap / 8) {
        q->xcap /= 2;
        q->xheap = xrealloc(q->xheap, sizeof(*q->xheap) * q->xcap);
    }
}

/* Drop records of entries no longer ready, and duplicates (requeues). */
static void xheap_rebuild(struct queue *q)
{
    uint32_t o = 0;
    for (uint32_t i = 0; i < q->xn; i++) {
        struct qexp r = q->xheap[i];
        struct queue_entry *s = ready_find(q, (uint32_t)(r.key >> 56), r.key & QEXP_SEQ_MASK);
        if (!s || (s->flags & QUEUE_ENTRY_XSEEN))
            continue;
        s->flags |= QUEUE_ENTRY_XSEEN;
        q->xheap[o++] = r;
    }
    q->xn = o;
    for (uint32_t i = 0; i < o; i++) {
        struct qexp r = q->xheap[i];
        struct queue_entry *s = ready_find(q, (uint32_t)(r.key >> 56), r.key & QEXP_SEQ_MASK);
        s->flags &= ~QUEUE_ENTRY_XSEEN;
    }
    for (uint32_t i = o / 2; i-- > 0;)
        xheap_down(q->xheap, o, i);
}

static void ttl_timer_update(struct queue *q)
{
    if (q->xn == 0)
        broker_timer_cancel(q->b, &q->ttl_timer);
    else if (!broker_timer_armed(&q->ttl_timer) || q->ttl_timer.due_ms != q->xheap[0].at)
        broker_timer_arm(q->b, &q->ttl_timer, q->xheap[0].at);
}

void expiry_track(struct queue *q, struct queue_entry *e)
{
    uint64_t at = expiry_of(q, e);
    if (at == UINT64_MAX)
        return;
    if (at == e->msg->ts_ms)
        e->flags |= QUEUE_ENTRY_TTL0;
    q->ttl_live++;
    if (q->xn > 2 * q->ttl_live + XHEAP_SLACK)
        xheap_rebuild(q);
    if (q->xn == q->xcap) {
        q->xcap = q->xcap ? q->xcap * 2 : 16;
        q->xheap = xrealloc(q->xheap, sizeof(*q->xheap) * q->xcap);
    }
    uint64_t level = ready_level(q, e->msg);
    q->xheap[q->xn].at = at;
    q->xheap[q->xn].key = (e->seq & QEXP_SEQ_MASK) | (level << 56);
    xheap_up(q->xheap, q->xn++);
    if (q->xheap[0].at == at)
        ttl_timer_update(q);
}

void expiry_untrack(struct queue *q, const struct queue_entry *e)
{
    if (q->ttl_live && expiry_of(q, e) != UINT64_MAX)
        q->ttl_live--;
}

bool expiry_is_expired(const struct queue *q, const struct queue_entry *e, uint64_t now,
                       bool for_consumer)
{
    if (q->xn == 0)
        return false;
    uint64_t at = expiry_of(q, e);
    if (at == UINT64_MAX)
        return false;
    if (for_consumer && (e->flags & QUEUE_ENTRY_TTL0))
        return false;           /* the timer expires it unless delivered now */
    return at <= now;
}

static void ttl_fire(struct broker_timer *t, uint64_t now)
{
    struct queue *q = QUEUE_OF(t, ttl_timer);
    struct broker *b = q->b;
    queue_ref(q);
    /* TTL 0: delivered if a consumer can take it now, else expired */
    if (queue_has_active(q) && q->ready)
        queue_dispatch(q, b->cfg.dispatch_batch);
    b->route_busy++;
    uint32_t n = 0;
    while (!q->deleted && q->xn && q->xheap[0].at <= now && n < EXPIRE_BATCH) {
        struct qexp r = q->xheap[0];
        xheap_pop(q);
        uint32_t level = (uint32_t)(r.key >> 56);
        struct queue_entry *s = ready_find(q, level, r.key & QEXP_SEQ_MASK);
        if (!s || expiry_of(q, s) > now)
            continue;
        struct queue_entry e;
        ready_remove(q, level, s, &e);
        expiry_untrack(q, &e);
        q->st_expired++;
        queue_drop_entry(q, &e, BROKER_DROP_EXPIRED);
        n++;
    }
    if (!q->deleted) {
        if (q->xn && q->xheap[0].at <= now)
            broker_timer_arm(b, &q->ttl_timer, now);   /* more: next run */
        else
            ttl_timer_update(q);
    }
    b->route_busy--;
    deadletter_flush(b);
    queue_unref(&q);
}

/* ---- x-expires ------------------------------------------------------------------------ */

static void expires_fire(struct broker_timer *t, uint64_t now)
{
    EDAD_UNUSED(now);
    struct queue *q = QUEUE_OF(t, expires_timer);
    if (q->deleted || q->consumer_count > 0)
        return;
    log_debug("queue '%s' in vhost '%s' expired (x-expires %llu ms unused)", q->name,
              q->vh->name, (unsigned long long)q->expires_ms);
    queue_delete_now(q);
}

void expiry_touch(struct queue *q)
{
    if (q->expires_ms && !q->deleted && q->consumer_count == 0)
        broker_timer_arm(q->b, &q->expires_timer, broker_now_ms(q->b) + q->expires_ms);
}

void expiry_in_use(struct queue *q)
{
    broker_timer_cancel(q->b, &q->expires_timer);
}

void expiry_init(struct queue *q)
{
    q->ttl_timer.fire = ttl_fire;
    q->expires_timer.fire = expires_fire;
}

void expiry_free(struct queue *q)
{
    broker_timer_cancel(q->b, &q->ttl_timer);
    broker_timer_cancel(q->b, &q->expires_timer);
    free(q->xheap);
    q->xheap = NULL;
    q->xn = q->xcap = 0;
    q->ttl_live = 0;
}
