/*
 * ready.c - the ready storage of a queue: one level per priority, each a
 * ring in publish order plus a sorted array of requeued entries, with
 * tombstones so an entry can leave from anywhere (TTL) after a binary
 * search by seq.  Paged entries (QUEUE_ENTRY_PAGED: message on disk only)
 * sit in the same rings.  Counters of ready messages and bytes live here.  No
 * policy (limits, TTL, dead-lettering): queue.c and expiry.c decide.
 */
#include <stdlib.h>
#include <string.h>

#include "message_int.h"
#include "queue_int.h"

#define RING_MIN_CAP 16u
#define SORTED_MIN_CAP 8u
#define COMPACT_MIN 64u
/* A ring at most this big stays allocated when it empties: a queue that
 * drains between bursts (a consumer keeping up) reuses it instead of
 * freeing and regrowing it per burst.  24 KiB per level at most. */
#define RING_KEEP_CAP 1024u

/* ---- ring ------------------------------------------------------------------------ */

static struct queue_entry *ring_at(const struct qring *r, uint32_t i)
{
    return &r->buf[(r->head + i) & (r->cap - 1)];
}

static void ring_resize(struct qring *r, uint32_t cap)
{
    if (cap > r->cap && r->head + r->count <= r->cap) {
        /* not wrapped: grow in place (a big ring is mremap'ed by realloc,
         * not copied, so a backlog of millions never holds two copies) */
        r->buf = xrealloc(r->buf, sizeof(*r->buf) * cap);
        r->cap = cap;
        return;
    }
    struct queue_entry *buf = xmalloc(sizeof(*buf) * cap);
    for (uint32_t i = 0; i < r->count; i++)
        buf[i] = *ring_at(r, i);
    free(r->buf);
    r->buf = buf;
    r->cap = cap;
    r->head = 0;
}

static void ring_push(struct qring *r, const struct queue_entry *e)
{
    if (r->count == r->cap)
        ring_resize(r, r->cap ? r->cap * 2 : RING_MIN_CAP);
    *ring_at(r, r->count) = *e;
    r->count++;
}

static void ring_free(struct qring *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void ring_pop_front(struct qring *r)
{
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
    if (r->count == 0) {
        r->head = 0;
        if (r->cap > RING_KEEP_CAP)
            ring_free(r);
    } else if (r->cap > RING_KEEP_CAP && r->count < r->cap / 8) {
        ring_resize(r, r->cap / 2);
    }
}

/* Index of the slot with seq, or -1 (slots are ascending by seq). */
static long ring_search(const struct qring *r, uint64_t seq)
{
    uint32_t lo = 0, hi = r->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t s = ring_at(r, mid)->seq;
        if (s == seq)
            return (long)mid;
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Drop the tombstones (ring order kept). */
static void ring_compact(struct qring *r)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < r->count; i++)
        if (ring_at(r, i)->msg)
            live++;
    uint32_t cap = RING_MIN_CAP;
    while (cap < live)
        cap *= 2;
    struct queue_entry *buf = live ? xmalloc(sizeof(*buf) * cap) : NULL;
    uint32_t o = 0;
    for (uint32_t i = 0; i < r->count; i++) {
        struct queue_entry *s = ring_at(r, i);
        if (s->msg)
            buf[o++] = *s;
    }
    free(r->buf);
    r->buf = buf;
    r->cap = live ? cap : 0;
    r->head = 0;
    r->count = live;
}

/* ---- sorted array of requeued entries ------------------------------------------------- */

static uint32_t sorted_lower_bound(const struct qsorted *s, uint64_t seq)
{
    uint32_t lo = s->start, hi = s->end;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->buf[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sorted_free(struct qsorted *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

/* Room for one more at the end (moves the live part to the front or grows). */
static void sorted_room_end(struct qsorted *s)
{
    if (s->end < s->cap)
        return;
    uint32_t n = s->end - s->start;
    if (s->start > 0 && s->start >= s->cap / 4) {
        memmove(s->buf, s->buf + s->start, sizeof(*s->buf) * n);
    } else {
        s->cap = s->cap ? s->cap * 2 : SORTED_MIN_CAP;
        struct queue_entry *buf = xmalloc(sizeof(*buf) * s->cap);
        if (n)
            memcpy(buf, s->buf + s->start, sizeof(*buf) * n);
        free(s->buf);
        s->buf = buf;
    }
    s->start = 0;
    s->end = n;
}

static void sorted_insert(struct qsorted *s, const struct queue_entry *e)
{
    uint32_t pos = sorted_lower_bound(s, e->seq);
    if (pos == s->start && s->start > 0) {
        s->buf[--s->start] = *e;
        return;
    }
    if (s->start > 0 && pos - s->start < s->end - pos) {
        /* the front part is shorter: move it one slot down */
        memmove(s->buf + s->start - 1, s->buf + s->start, sizeof(*s->buf) * (pos - s->start));
        s->start--;
        s->buf[pos - 1] = *e;
        return;
    }
    uint32_t off = pos - s->start;
    sorted_room_end(s);
    pos = s->start + off;
    memmove(s->buf + pos + 1, s->buf + pos, sizeof(*s->buf) * (s->end - pos));
    s->buf[pos] = *e;
    s->end++;
}

static void sorted_compact(struct qsorted *s)
{
    uint32_t o = 0;
    for (uint32_t i = s->start; i < s->end; i++)
        if (s->buf[i].msg)
            s->buf[o++] = s->buf[i];
    s->start = 0;
    s->end = o;
    if (o == 0)
        sorted_free(s);
}

/* ---- levels ----------------------------------------------------------------------------- */

static void bit_set(struct queue *q, uint32_t level)
{
    q->nonempty[level >> 6] |= UINT64_C(1) << (level & 63);
}

static void bit_clear(struct queue *q, uint32_t level)
{
    q->nonempty[level >> 6] &= ~(UINT64_C(1) << (level & 63));
}

/* Highest level with live entries, or -1. */
static int top_level(const struct queue *q)
{
    for (int w = 3; w >= 0; w--)
        if (q->nonempty[w])
            return w * 64 + 63 - __builtin_clzll(q->nonempty[w]);
    return -1;
}

static void level_reset(struct qlevel *l)
{
    ring_free(&l->ring);
    sorted_free(&l->req);
    l->live = l->dead = 0;
}

/* The level has no live entry left: drop its tombstones, keep a small
 * ring for the next burst. */
static void level_emptied(struct qlevel *l)
{
    if (l->ring.cap > RING_KEEP_CAP) {
        level_reset(l);
        return;
    }
    l->ring.head = l->ring.count = 0;    /* only tombstones were left */
    sorted_free(&l->req);
    l->dead = 0;
}

void ready_init(struct queue *q, uint32_t nlevels)
{
    q->nlevels = nlevels ? nlevels : 1;
    q->levels = xcalloc(q->nlevels, sizeof(*q->levels));
}

void ready_free(struct queue *q)
{
    for (uint32_t i = 0; i < q->nlevels; i++)
        level_reset(&q->levels[i]);
    free(q->levels);
    q->levels = NULL;
    q->nlevels = 0;
    memset(q->nonempty, 0, sizeof(q->nonempty));
    q->ready = 0;
    q->ready_bytes = 0;
    q->paged = 0;
    q->paged_bytes = 0;
}

uint32_t ready_level(const struct queue *q, const struct message *m)
{
    if (q->nlevels <= 1 || !(m->flags & MESSAGE_F_PRIORITY))
        return 0;
    return m->priority < q->nlevels ? m->priority : q->nlevels - 1;
}

/* Body bytes of a ready entry (a paged one keeps them in delivery_count). */
static uint64_t entry_bytes(const struct queue_entry *e)
{
    return queue_entry_paged(e) ? e->delivery_count : message_body_len(e->msg);
}

static void level_added(struct queue *q, uint32_t level, const struct queue_entry *e)
{
    struct qlevel *l = &q->levels[level];
    if (l->live++ == 0)
        bit_set(q, level);
    q->ready++;
    q->ready_bytes += entry_bytes(e);
    if (queue_entry_paged(e)) {
        q->paged++;
        q->paged_bytes += e->delivery_count;
    }
}

static void level_gone(struct queue *q, uint32_t level, const struct queue_entry *e)
{
    struct qlevel *l = &q->levels[level];
    q->ready--;
    q->ready_bytes -= entry_bytes(e);
    if (queue_entry_paged(e)) {
        q->paged--;
        q->paged_bytes -= e->delivery_count;
    }
    if (--l->live == 0) {
        bit_clear(q, level);
        level_emptied(l);
    }
}

void ready_push(struct queue *q, const struct queue_entry *e)
{
    uint32_t level = ready_level(q, e->msg);
    ring_push(&q->levels[level].ring, e);
    level_added(q, level, e);
}

void ready_requeue(struct queue *q, const struct queue_entry *e)
{
    uint32_t level = ready_level(q, e->msg);
    sorted_insert(&q->levels[level].req, e);
    level_added(q, level, e);
}

/* Skip tombstones at the heads of l. */
static void level_trim(struct qlevel *l)
{
    while (l->ring.count && !ring_at(&l->ring, 0)->msg) {
        ring_pop_front(&l->ring);
        l->dead--;
    }
    while (l->req.start < l->req.end && !l->req.buf[l->req.start].msg) {
        l->req.start++;
        l->dead--;
    }
}

bool ready_take(struct queue *q, struct queue_entry *e)
{
    /* one level (no x-max-priority): no bitmap scan */
    int level = q->nlevels == 1 ? (q->ready ? 0 : -1) : top_level(q);
    if (level < 0)
        return false;
    struct qlevel *l = &q->levels[level];
    level_trim(l);
    const struct queue_entry *rf = l->ring.count ? ring_at(&l->ring, 0) : NULL;
    const struct queue_entry *sf = l->req.start < l->req.end ? &l->req.buf[l->req.start] : NULL;
    if (sf && (!rf || sf->seq < rf->seq)) {
        *e = *sf;
        l->req.start++;
        if (l->req.start == l->req.end)
            l->req.start = l->req.end = 0;
    } else {
        *e = *rf;
        ring_pop_front(&l->ring);
    }
    level_gone(q, (uint32_t)level, e);
    return true;
}

struct queue_entry *ready_find(struct queue *q, uint32_t level, uint64_t seq)
{
    if (level >= q->nlevels)
        return NULL;
    struct qlevel *l = &q->levels[level];
    if (l->live == 0)
        return NULL;
    long i = ring_search(&l->ring, seq);
    if (i >= 0) {
        struct queue_entry *s = ring_at(&l->ring, (uint32_t)i);
        return s->msg ? s : NULL;
    }
    uint32_t pos = sorted_lower_bound(&l->req, seq);
    if (pos < l->req.end && l->req.buf[pos].seq == seq && l->req.buf[pos].msg)
        return &l->req.buf[pos];
    return NULL;
}

void ready_remove(struct queue *q, uint32_t level, struct queue_entry *slot,
                   struct queue_entry *out)
{
    struct qlevel *l = &q->levels[level];
    *out = *slot;
    slot->msg = NULL;
    l->dead++;
    level_gone(q, level, out);      /* resets the level when it empties */
    if (l->live && l->dead > COMPACT_MIN && l->dead > l->live) {
        ring_compact(&l->ring);
        sorted_compact(&l->req);
        l->dead = 0;
    }
}

size_t ready_stored_locs(const struct queue *q, uint64_t *out)
{
    size_t n = 0;
    for (uint32_t li = 0; li < q->nlevels; li++) {
        const struct qlevel *l = &q->levels[li];
        for (uint32_t i = 0; i < l->ring.count; i++) {
            const struct queue_entry *e = ring_at(&l->ring, i);
            if (e->msg && message_persistent(e->msg))
                out[n++] = e->store_loc;
        }
        for (uint32_t i = l->req.start; i < l->req.end; i++) {
            const struct queue_entry *e = &l->req.buf[i];
            if (e->msg && message_persistent(e->msg))
                out[n++] = e->store_loc;
        }
    }
    return n;
}

void ready_unpage(struct queue *q, uint64_t seq, struct message *m)
{
    struct queue_entry *e = ready_find(q, ready_level(q, m), seq);
    if (!e || !queue_entry_paged(e))
        return;
    q->paged--;
    q->paged_bytes -= e->delivery_count;
    e->msg = message_ref(m);
    e->delivery_count = 0;
    e->flags &= ~QUEUE_ENTRY_PAGED;
}
