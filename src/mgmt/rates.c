/*
 * rates.c - message rates for the API: every MGMT_RATE_INTERVAL_MS the
 * counters of every queue (queue_get_stats) and their broker-wide sums are
 * sampled; a rate is the difference of the two latest samples over their
 * interval.  Queues keep two samples, the totals a ring of MGMT_RATE_RING.
 * Not here: any notion of HTTP or JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

struct rate_entry {
    struct rate_entry *next;
    char *key;                   /* "vhost\0name" */
    size_t key_len;
    uint64_t gen;                /* last tick that saw the queue */
    unsigned n;                  /* samples taken (capped at 2) */
    struct mgmt_sample prev, cur;
};

struct mgmt_rates {
    struct rate_entry **buckets;
    size_t nbuckets, count;
    uint64_t gen;
    struct mgmt_sample ring[MGMT_RATE_RING];
    unsigned ring_n, ring_head;  /* ring_head: next slot to write */
};

static uint64_t rates_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return h;
}

struct mgmt_rates *mgmt_rates_new(void)
{
    struct mgmt_rates *r = xcalloc(1, sizeof(*r));
    r->nbuckets = 64;
    r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
    return r;
}

void mgmt_rates_free(struct mgmt_rates *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct rate_entry *e = r->buckets[i];
        while (e) {
            struct rate_entry *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(r->buckets);
    free(r);
}

static size_t rates_key(char *buf, size_t cap, const char *vhost, const char *name)
{
    size_t a = strlen(vhost), b = strlen(name);
    if (a + b + 1 > cap)
        return 0;
    memcpy(buf, vhost, a);
    buf[a] = '\0';
    memcpy(buf + a + 1, name, b);
    return a + 1 + b;
}

static struct rate_entry *rates_find(const struct mgmt_rates *r, const char *key, size_t n)
{
    struct rate_entry *e = r->buckets[rates_hash(key, n) & (r->nbuckets - 1)];
    for (; e; e = e->next)
        if (e->key_len == n && memcmp(e->key, key, n) == 0)
            return e;
    return NULL;
}

static void rates_grow(struct mgmt_rates *r)
{
    size_t nb = r->nbuckets * 2;
    struct rate_entry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct rate_entry *e = r->buckets[i];
        while (e) {
            struct rate_entry *next = e->next;
            size_t h = rates_hash(e->key, e->key_len) & (nb - 1);
            e->next = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
}

struct tick_ctx {
    struct mgmt_rates *r;
    uint64_t now;
    struct mgmt_sample total;
};

static bool rates_tick_queue(void *arg, struct queue *q)
{
    struct tick_ctx *t = arg;
    struct mgmt_rates *r = t->r;
    struct queue_stats s;
    queue_get_stats(q, &s);
    struct mgmt_sample smp = {
        .t_ms = t->now,
        .published = s.published, .delivered = s.delivered, .got = s.got,
        .acked = s.acked, .redelivered = s.redelivered,
        .messages = (uint64_t)s.ready + s.unacked, .ready = s.ready, .unacked = s.unacked,
    };
    t->total.published += smp.published;
    t->total.delivered += smp.delivered;
    t->total.got += smp.got;
    t->total.acked += smp.acked;
    t->total.redelivered += smp.redelivered;
    t->total.messages += smp.messages;
    t->total.ready += smp.ready;
    t->total.unacked += smp.unacked;

    char key[600];
    size_t n = rates_key(key, sizeof(key), vhost_name(queue_vhost(q)), queue_name(q));
    if (!n)
        return true;
    struct rate_entry *e = rates_find(r, key, n);
    if (!e) {
        if (r->count >= r->nbuckets)
            rates_grow(r);
        e = xcalloc(1, sizeof(*e));
        e->key = xmalloc(n);
        memcpy(e->key, key, n);
        e->key_len = n;
        size_t h = rates_hash(key, n) & (r->nbuckets - 1);
        e->next = r->buckets[h];
        r->buckets[h] = e;
        r->count++;
    }
    e->prev = e->cur;
    e->cur = smp;
    if (e->n < 2)
        e->n++;
    e->gen = r->gen;
    return true;
}

static bool rates_tick_vhost(void *arg, struct vhost *vh)
{
    vhost_foreach_queue(vh, rates_tick_queue, arg);
    return true;
}

void mgmt_rates_tick(struct mgmt_rates *r, struct broker *b, uint64_t now_ms)
{
    r->gen++;
    struct tick_ctx t = {.r = r, .now = now_ms, .total = {.t_ms = now_ms}};
    mgmt_foreach_vhost(b, rates_tick_vhost, &t);
    /* forget deleted queues (a re-declared one starts from zero) */
    for (size_t k = 0; k < r->nbuckets; k++) {
        struct rate_entry **pp = &r->buckets[k];
        while (*pp) {
            struct rate_entry *e = *pp;
            if (e->gen != r->gen) {
                *pp = e->next;
                free(e->key);
                free(e);
                r->count--;
            } else {
                pp = &e->next;
            }
        }
    }
    r->ring[r->ring_head] = t.total;
    r->ring_head = (r->ring_head + 1) % MGMT_RATE_RING;
    if (r->ring_n < MGMT_RATE_RING)
        r->ring_n++;
}

bool mgmt_rates_queue(const struct mgmt_rates *r, const char *vhost, const char *name,
                      struct mgmt_sample *prev, struct mgmt_sample *cur)
{
    char key[600];
    size_t n = rates_key(key, sizeof(key), vhost, name);
    struct rate_entry *e = n ? rates_find(r, key, n) : NULL;
    if (!e || e->n < 2)
        return false;
    *prev = e->prev;
    *cur = e->cur;
    return true;
}

bool mgmt_rates_totals(const struct mgmt_rates *r, struct mgmt_sample *prev,
                       struct mgmt_sample *cur)
{
    if (r->ring_n < 2)
        return false;
    unsigned last = (r->ring_head + MGMT_RATE_RING - 1) % MGMT_RATE_RING;
    *cur = r->ring[last];
    *prev = r->ring[(last + MGMT_RATE_RING - 1) % MGMT_RATE_RING];
    return true;
}
