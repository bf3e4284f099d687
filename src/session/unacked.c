/*
 * unacked.c - a channel's unacked deliveries by delivery tag: O(1) add,
 * find and remove per tag, oldest-first removal for multiple=true acks,
 * and memory proportional to the outstanding entries whatever the ack
 * order.  Pure bookkeeping: settling entries with the broker is deliver.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

#define UNACKED_MIN_CAP 16u
/* A ring at most this big stays allocated when it empties (a consumer
 * that acks everything between bursts reuses it): 48 KiB at most. */
#define UNACKED_KEEP_CAP 1024u

void unacked_init(struct unacked *u)
{
    memset(u, 0, sizeof(*u));
}

void unacked_free(struct unacked *u)
{
    free(u->ring);
    free(u->side);
    unacked_init(u);
}

static struct unacked_entry *ring_slot(struct unacked *u, uint64_t tag)
{
    return &u->ring[(u->head + (uint32_t)(tag - u->base)) & (u->cap - 1)];
}

static bool ring_has(const struct unacked *u, uint64_t tag)
{
    return u->span && tag >= u->base && tag - u->base < u->span;
}

static uint32_t side_live(const struct unacked *u)
{
    return u->side_n - u->side_start - u->side_holes;
}

/* Drop the holes from the side array (entries stay in tag order). */
static void side_compact(struct unacked *u)
{
    uint32_t o = 0;
    for (uint32_t i = u->side_start; i < u->side_n; i++)
        if (u->side[i].e.msg)
            u->side[o++] = u->side[i];
    u->side_start = 0;
    u->side_n = o;
    u->side_holes = 0;
}

static void side_reserve(struct unacked *u, uint32_t more)
{
    if (u->side_n + more <= u->side_cap)
        return;
    if (u->side_start || u->side_holes)
        side_compact(u);
    if (u->side_n + more <= u->side_cap)
        return;
    uint32_t cap = u->side_cap ? u->side_cap : UNACKED_MIN_CAP;
    while (cap < u->side_n + more)
        cap *= 2;
    u->side = xrealloc(u->side, sizeof(*u->side) * cap);
    u->side_cap = cap;
}

/* First index in side[side_start .. side_n) whose tag is >= tag. */
static uint32_t side_lower_bound(const struct unacked *u, uint64_t tag)
{
    uint32_t lo = u->side_start, hi = u->side_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u->side[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the live side entry with this tag, or -1. */
static long side_index(const struct unacked *u, uint64_t tag)
{
    uint32_t i = side_lower_bound(u, tag);
    return i < u->side_n && u->side[i].tag == tag && u->side[i].e.msg ? (long)i : -1;
}

/* side[i] was just settled: trim holes at both ends, compact when holes
 * dominate, release the array when it is empty. */
static void side_hole_at(struct unacked *u, uint32_t i)
{
    u->side[i].e.msg = NULL;
    u->side_holes++;
    while (u->side_start < u->side_n && !u->side[u->side_start].e.msg) {
        u->side_start++;
        u->side_holes--;
    }
    while (u->side_n > u->side_start && !u->side[u->side_n - 1].e.msg) {
        u->side_n--;
        u->side_holes--;
    }
    if (u->side_n == u->side_start) {
        u->side_start = u->side_n = 0;
        if (u->side_cap > 4 * UNACKED_MIN_CAP) {
            free(u->side);
            u->side = NULL;
            u->side_cap = 0;
        }
        return;
    }
    if (u->side_holes > (u->side_n - u->side_start) / 2 || u->side_start > u->side_n / 2)
        side_compact(u);
}

/* Pop settled slots at the head so the head slot, if any, is live. */
static void ring_trim(struct unacked *u)
{
    while (u->span && !u->ring[u->head].e.msg) {
        u->head = (u->head + 1) & (u->cap - 1);
        u->base++;
        u->span--;
    }
    if (u->span == 0) {
        u->head = 0;
        if (u->cap > UNACKED_KEEP_CAP) {
            /* a burst is over: give the memory back */
            free(u->ring);
            u->ring = NULL;
            u->cap = 0;
        }
    }
}

/* Move every live ring entry to the side array and empty the ring. */
static void ring_spill(struct unacked *u)
{
    uint32_t n = u->live - side_live(u);
    side_reserve(u, n);
    for (uint32_t i = 0; i < u->span; i++) {
        struct unacked_entry *s = &u->ring[(u->head + i) & (u->cap - 1)];
        if (s->e.msg)
            u->side[u->side_n++] = *s;
    }
    u->span = 0;
    u->head = 0;
}

static void ring_grow(struct unacked *u, uint64_t need)
{
    uint32_t cap = u->cap ? u->cap : UNACKED_MIN_CAP;
    while (cap < need)
        cap *= 2;
    struct unacked_entry *r = xmalloc(sizeof(*r) * cap);
    for (uint32_t i = 0; i < u->span; i++)
        r[i] = u->ring[(u->head + i) & (u->cap - 1)];
    free(u->ring);
    u->ring = r;
    u->cap = cap;
    u->head = 0;
}

/*
 * The ring slot for tag (>= base when the ring is not empty), extending the
 * span with holes.  When the ring would have to grow while less than half
 * of it is live, the live entries move to the side array instead, so a
 * straggler never makes the ring grow with the tags that passed it.
 */
static struct unacked_entry *ring_place(struct unacked *u, uint64_t tag)
{
    if (u->span == 0)
        u->base = tag;
    uint64_t need = tag - u->base + 1;
    if (need > u->cap) {
        uint32_t ring_live = u->live - side_live(u);
        if ((uint64_t)ring_live * 2 < need) {
            ring_spill(u);
            u->base = tag;
            need = 1;
        }
        if (need > u->cap)
            ring_grow(u, need);
    }
    while (u->span < need) {
        struct unacked_entry *s = &u->ring[(u->head + u->span) & (u->cap - 1)];
        memset(s, 0, sizeof(*s));
        s->tag = u->base + u->span;
        u->span++;
    }
    return ring_slot(u, tag);
}

void unacked_add(struct unacked *u, const struct unacked_entry *ue)
{
    if (EDAD_LIKELY(u->span && u->span < u->cap && ue->tag == u->base + u->span)) {
        /* the usual case: the next tag, room in the ring */
        u->ring[(u->head + u->span) & (u->cap - 1)] = *ue;
        u->span++;
    } else {
        *ring_place(u, ue->tag) = *ue;
    }
    u->live++;
}

struct unacked_entry *unacked_find(struct unacked *u, uint64_t tag)
{
    if (ring_has(u, tag)) {
        struct unacked_entry *s = ring_slot(u, tag);
        return s->e.msg ? s : NULL;
    }
    long i = side_index(u, tag);
    return i >= 0 ? &u->side[i] : NULL;
}

bool unacked_take(struct unacked *u, uint64_t tag, struct unacked_entry *out)
{
    if (ring_has(u, tag)) {
        struct unacked_entry *s = ring_slot(u, tag);
        if (!s->e.msg)
            return false;
        *out = *s;
        s->e.msg = NULL;
        u->live--;
        ring_trim(u);
        return true;
    }
    long i = side_index(u, tag);
    if (i < 0)
        return false;
    *out = u->side[i];
    u->live--;
    side_hole_at(u, (uint32_t)i);
    return true;
}

bool unacked_take_first(struct unacked *u, uint64_t upto, struct unacked_entry *out)
{
    if (u->side_start < u->side_n) {
        /* the first side entry is live (holes are trimmed at the start) */
        struct unacked_entry *s = &u->side[u->side_start];
        if (s->tag > upto)
            return false;
        *out = *s;
        u->live--;
        side_hole_at(u, u->side_start);
        return true;
    }
    if (u->span && u->base <= upto) {
        /* the head slot is live */
        struct unacked_entry *s = &u->ring[u->head];
        *out = *s;
        s->e.msg = NULL;
        u->live--;
        ring_trim(u);
        return true;
    }
    return false;
}

void unacked_restore(struct unacked *u, const struct unacked_entry *ue)
{
    if (ring_has(u, ue->tag)) {
        *ring_slot(u, ue->tag) = *ue;
        u->live++;
        return;
    }
    uint64_t side_max = u->side_n > u->side_start ? u->side[u->side_n - 1].tag : 0;
    if (u->span ? ue->tag > u->base : ue->tag > side_max) {
        unacked_add(u, ue);
        return;
    }
    /* older than the ring (or than the side's newest): sorted insert */
    side_reserve(u, 1);
    uint32_t at = side_lower_bound(u, ue->tag);
    memmove(&u->side[at + 1], &u->side[at], sizeof(*u->side) * (u->side_n - at));
    u->side[at] = *ue;
    u->side_n++;
    u->live++;
}
