/*
 * props.c - the content-header properties of a delivery when the broker's
 * annotations must show in them, as RabbitMQ 4 renders its annotations:
 * x-death, x-first-death-* and x-last-death-* for a dead-lettered message
 * (its expiration removed), x-delivery-count on a redelivery from a queue
 * that counts them; headers then sorted by key without duplicates.  Every
 * other delivery sends the property bytes as published (not here).
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

/* Room for the headers this file adds. */
#define EXTRA_HEADERS 8

static struct edad_bytes lit(const char *s)
{
    return bytes_from_cstr(s);
}

static bool is_replaced(struct edad_bytes key, bool deaths, bool count)
{
    static const char *const death_keys[] = {
        "x-death", "x-first-death-reason", "x-first-death-queue", "x-first-death-exchange",
        "x-last-death-reason", "x-last-death-queue", "x-last-death-exchange",
    };
    if (count && bytes_eq_cstr(key, "x-delivery-count"))
        return true;
    if (deaths)
        for (size_t i = 0; i < EDAD_ARRAY_LEN(death_keys); i++)
            if (bytes_eq_cstr(key, death_keys[i]))
                return true;
    return false;
}

static void set_str(struct amqp_table_entry *e, const char *key, struct edad_bytes v)
{
    memset(e, 0, sizeof(*e));
    e->key = lit(key);
    e->value.kind = AMQP_FIELD_LONGSTR;
    e->value.v.str = v;
}

static void set_str_value(struct amqp_field_value *f, struct edad_bytes v)
{
    memset(f, 0, sizeof(*f));
    f->kind = AMQP_FIELD_LONGSTR;
    f->v.str = v;
}

/* One x-death table: [original-expiration,] count, reason, queue, time,
 * exchange, routing-keys (RabbitMQ's death_table order; the published
 * key, then the CC keys). */
static bool death_table(struct arena *a, const struct broker_death *d,
                        struct amqp_field_value *out)
{
    struct amqp_table_entry *e = arena_alloc(a, sizeof(*e) * 7);
    uint32_t nk = d->routing_keys_n;
    struct amqp_field_value *rk = arena_alloc(a, sizeof(*rk) * (nk ? nk : 1));
    if (!e || !rk)
        return false;
    uint32_t n = 0;
    if (d->original_expiration.len)
        set_str(&e[n++], "original-expiration", d->original_expiration);
    memset(&e[n], 0, sizeof(e[n]));
    e[n].key = lit("count");
    e[n].value.kind = AMQP_FIELD_I64;
    e[n].value.v.i64 = (int64_t)d->count;
    n++;
    set_str(&e[n++], "reason", d->reason);
    set_str(&e[n++], "queue", d->queue);
    memset(&e[n], 0, sizeof(e[n]));
    e[n].key = lit("time");
    e[n].value.kind = AMQP_FIELD_TIMESTAMP;
    e[n].value.v.u64 = d->time_s;
    n++;
    set_str(&e[n++], "exchange", d->exchange);
    for (uint32_t i = 0; i < nk; i++)
        set_str_value(&rk[i], d->routing_keys[i]);
    memset(&e[n], 0, sizeof(e[n]));
    e[n].key = lit("routing-keys");
    e[n].value.kind = AMQP_FIELD_ARRAY;
    e[n].value.v.array.count = nk;
    e[n].value.v.array.values = rk;
    n++;
    memset(out, 0, sizeof(*out));
    out->kind = AMQP_FIELD_TABLE;
    out->v.table.count = n;
    out->v.table.entries = e;
    return true;
}

/* Erlang term order of binaries: bytewise, a prefix first. */
static int key_cmp(const void *pa, const void *pb)
{
    const struct amqp_table_entry *a = pa, *b = pb;
    size_t n = a->key.len < b->key.len ? a->key.len : b->key.len;
    int c = n ? memcmp(a->key.ptr, b->key.ptr, n) : 0;
    if (c)
        return c;
    return (a->key.len > b->key.len) - (a->key.len < b->key.len);
}

bool session_delivery_props(struct arena *a, const struct message *msg,
                            const struct queue_entry *e, struct edad_bytes *out)
{
    const struct broker_deaths *ds = message_deaths(msg);
    bool count = (e->flags & QUEUE_ENTRY_COUNT_HEADER) && e->delivery_count > 0;
    if (!ds && !count)
        return false;
    struct amqp_basic_properties p;
    if (amqp_basic_properties_decode(message_props(msg), a, &p) != EDAD_OK)
        return false;           /* cannot happen: decoded at publish */
    uint32_t old_n = (p.flags & AMQP_BASIC_HEADERS_FLAG) ? p.headers.count : 0;
    struct amqp_table_entry *h = arena_alloc(a, sizeof(*h) * (old_n + EXTRA_HEADERS));
    if (!h)
        return false;
    uint32_t n = 0;
    /* annotations first: after the stable sort they win over equal keys */
    if (count) {
        memset(&h[n], 0, sizeof(h[n]));
        h[n].key = lit("x-delivery-count");
        h[n].value.kind = AMQP_FIELD_I64;
        h[n].value.v.i64 = e->delivery_count;
        n++;
    }
    if (ds) {
        struct amqp_field_value *tables = arena_alloc(a, sizeof(*tables) * (ds->n ? ds->n : 1));
        if (!tables)
            return false;
        for (uint32_t i = 0; i < ds->n; i++)
            if (!death_table(a, &ds->v[i], &tables[i]))
                return false;
        memset(&h[n], 0, sizeof(h[n]));
        h[n].key = lit("x-death");
        h[n].value.kind = AMQP_FIELD_ARRAY;
        h[n].value.v.array.count = ds->n;
        h[n].value.v.array.values = tables;
        n++;
        set_str(&h[n++], "x-first-death-exchange", ds->first_exchange);
        set_str(&h[n++], "x-first-death-queue", ds->first_queue);
        set_str(&h[n++], "x-first-death-reason", ds->first_reason);
        set_str(&h[n++], "x-last-death-exchange", ds->last_exchange);
        set_str(&h[n++], "x-last-death-queue", ds->last_queue);
        set_str(&h[n++], "x-last-death-reason", ds->last_reason);
    }
    for (uint32_t i = 0; i < old_n; i++)
        if (!is_replaced(p.headers.entries[i].key, ds != NULL, count))
            h[n++] = p.headers.entries[i];
    /* lists:usort by key: sorted, the first of equal keys kept */
    for (uint32_t i = 1; i < n; i++) {   /* insertion sort: stable, tables are small */
        struct amqp_table_entry t = h[i];
        uint32_t j = i;
        while (j > 0 && key_cmp(&h[j - 1], &t) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = t;
    }
    uint32_t o = 0;
    for (uint32_t i = 0; i < n; i++)
        if (o == 0 || key_cmp(&h[o - 1], &h[i]) != 0)
            h[o++] = h[i];
    p.flags |= AMQP_BASIC_HEADERS_FLAG;
    p.headers.count = o;
    p.headers.entries = h;
    p.headers.raw = EDAD_BYTES_NULL;
    if (ds)
        p.flags &= (uint16_t)~AMQP_BASIC_EXPIRATION_FLAG;
    size_t cap = amqp_basic_properties_encoded_size(&p);
    uint8_t *buf = arena_alloc(a, cap ? cap : 1);
    size_t len = 0;
    if (!buf || amqp_basic_properties_encode(&p, buf, cap, &len) != EDAD_OK)
        return false;
    out->ptr = buf;
    out->len = len;
    return true;
}
