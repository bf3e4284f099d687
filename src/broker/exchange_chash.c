/*
 * exchange_chash.c - x-consistent-hash exchanges (RabbitMQ's plugin): each
 * binding's key is a weight; a destination owns that many consecutive
 * buckets of a ring in binding order, and a message goes to the owner of
 * the bucket jump-consistent-hash picks for its routing key (or the
 * hash-header header, or the hash-property property).  Adding or removing
 * a destination moves only the messages of its own buckets.  Routing is
 * O(log destinations); the hash is process-independent, so placement is
 * stable across restarts.  Not here: the bindings themselves (binding.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "exchange_int.h"

/* Fixed seed: the same key lands in the same bucket in every process. */
#define CHASH_SEED UINT64_C(0x63686173682d7278)
/* Weights beyond this are taken as this (jump hashing runs on doubles). */
#define CHASH_WEIGHT_MAX (UINT64_C(1) << 40)

static const char *const chash_properties[] = {"correlation_id", "message_id", "timestamp"};

struct chash_member {
    struct binding *b;
    uint64_t weight;
    uint64_t end;               /* buckets [end - weight, end) are b's */
};

struct chash_ring {
    struct chash_member *m;
    uint32_t n, cap;
    uint64_t total;             /* buckets */
};

/* ---- binding keys ------------------------------------------------------------------ */

/* Erlang's list_to_integer of the key: optional sign, then digits. */
static bool parse_weight(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v < CHASH_WEIGHT_MAX)
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > CHASH_WEIGHT_MAX)
        v = CHASH_WEIGHT_MAX;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Erlang's ~tp of a binary: <<"text">> when printable, else <<1,2,3>>. */
static void format_binary(char *buf, size_t cap, struct edad_bytes k)
{
    bool printable = true;
    for (size_t i = 0; i < k.len && printable; i++)
        printable = k.ptr[i] >= 0x20 && k.ptr[i] < 0x7f && k.ptr[i] != '"' && k.ptr[i] != '\\';
    if (printable) {
        snprintf(buf, cap, "<<\"%.*s\">>", (int)k.len, (const char *)k.ptr);
        return;
    }
    size_t o = (size_t)snprintf(buf, cap, "<<");
    for (size_t i = 0; i < k.len && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%u" : "%u", (unsigned)k.ptr[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, ">>");
}

static edad_status chash_validate_binding(struct edad_bytes key, const struct broker_table *args,
                                          struct broker_err *err)
{
    EDAD_UNUSED(args);
    int64_t w;
    if (!parse_weight((const char *)key.ptr, key.len, &w)) {
        char kb[3 * 255 + 8];
        format_binary(kb, sizeof(kb), key);
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "The binding key must be an integer: %s", kb);
    }
    if (w < 1)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "The binding key must be greater than 0");
    return EDAD_OK;
}

static edad_status chash_validate(const struct broker_table *args, const char *what,
                                  struct broker_err *err)
{
    const struct broker_value *h = broker_table_get(args, "hash-header");
    const struct broker_value *p = broker_table_get(args, "hash-property");
    if (h && h->kind != BROKER_V_STRING)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid type '%s' for arg 'hash-header' in %s",
                              args_type_name(h->kind), what);
    if (p && p->kind != BROKER_V_STRING)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid type '%s' for arg 'hash-property' in %s",
                              args_type_name(p->kind), what);
    if (h && p)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "hash-header and hash-property are mutually exclusive");
    if (p) {
        for (size_t i = 0; i < EDAD_ARRAY_LEN(chash_properties); i++)
            if (bytes_eq_cstr(p->v.str, chash_properties[i]))
                return EDAD_OK;
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "Unsupported property: %.*s",
                              (int)p->v.str.len, (const char *)p->v.str.ptr);
    }
    return EDAD_OK;
}

/* ---- the ring ------------------------------------------------------------------------ */

static void ring_recount(struct chash_ring *r)
{
    uint64_t end = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        end += r->m[i].weight;
        r->m[i].end = end;
        r->m[i].b->tidx = i + 1;
    }
    r->total = end;
}

static bool same_destination(const struct binding *a, const struct binding *b)
{
    return a->dq == b->dq && a->dx == b->dx;
}

/* Join the ring unless b's destination is in it already (RabbitMQ keeps one
 * set of buckets per destination: its first binding's). */
static void ring_join(struct exchange *x, struct binding *b)
{
    struct chash_ring *r = x->index;
    for (uint32_t i = 0; i < r->n; i++)
        if (same_destination(r->m[i].b, b))
            return;
    int64_t w = 1;
    parse_weight(b->key, b->key_len, &w);
    if (w < 1)
        w = 1;      /* validated on bind; recovered definitions may not be */
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->m = xrealloc(r->m, sizeof(*r->m) * r->cap);
    }
    r->m[r->n].b = b;
    r->m[r->n].weight = (uint64_t)w;
    r->n++;
    ring_recount(r);
}

static void chash_add(struct exchange *x, struct binding *b)
{
    if (!x->index)
        x->index = xcalloc(1, sizeof(struct chash_ring));
    b->tidx = 0;
    ring_join(x, b);
}

static void chash_free_index(struct exchange *x)
{
    struct chash_ring *r = x->index;
    if (!r)
        return;
    free(r->m);
    free(r);
    x->index = NULL;
}

static void chash_remove(struct exchange *x, struct binding *b)
{
    struct chash_ring *r = x->index;
    if (!r)
        return;
    if (b->tidx) {
        /* its buckets go; those after it move down (RabbitMQ renumbers) */
        uint32_t i = b->tidx - 1;
        memmove(&r->m[i], &r->m[i + 1], sizeof(*r->m) * (r->n - i - 1));
        r->n--;
        b->tidx = 0;
        ring_recount(r);
        /* another binding to the same destination takes over */
        for (struct binding *o = x->src_head; o; o = o->snext)
            if (o != b && same_destination(o, b)) {
                ring_join(x, o);
                break;
            }
    }
    if (x->bindings.count <= 1 && r->n == 0)
        chash_free_index(x);
}

/* Lamping and Veach's jump consistent hash over n buckets. */
static uint64_t jump_hash(uint64_t key, uint64_t n)
{
    uint64_t b = 0, j = 0;
    while (j < n) {
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        double next = (double)(b + 1) * ((double)(UINT64_C(1) << 31) / (double)((key >> 33) + 1));
        if (next >= (double)n)
            break;
        j = (uint64_t)next;     /* truncated, as the reference's int64 */
    }
    return b;
}

/* Stable hash of a header value: kind class and value bytes. */
static uint64_t value_hash(const struct broker_value *v)
{
    int64_t i;
    if (!v)
        return hash_bytes("undefined", 9, CHASH_SEED);
    if (v->kind == BROKER_V_STRING || v->kind == BROKER_V_BYTES)
        return hash_bytes(v->v.str.ptr, v->v.str.len, CHASH_SEED);
    if (args_value_int(v, &i) || v->kind == BROKER_V_TIMESTAMP) {
        uint8_t b[9];
        i = v->kind == BROKER_V_TIMESTAMP ? v->v.i : i;
        b[0] = 'I';
        for (int k = 0; k < 8; k++)
            b[k + 1] = (uint8_t)((uint64_t)i >> (8 * k));
        return hash_bytes(b, sizeof(b), CHASH_SEED);
    }
    uint64_t bits = 0;
    switch (v->kind) {
    case BROKER_V_BOOL:
        bits = v->v.b;
        break;
    case BROKER_V_FLOAT:
    case BROKER_V_DOUBLE:
        memcpy(&bits, &v->v.d, sizeof(bits));
        break;
    case BROKER_V_DECIMAL:
        bits = (uint64_t)v->v.dec.scale << 32 | v->v.dec.value;
        break;
    case BROKER_V_TABLE:
        return hash_bytes(v->v.table.raw.ptr, v->v.table.raw.len, CHASH_SEED ^ 'F');
    case BROKER_V_ARRAY:
        bits = v->v.array.count;
        break;
    case BROKER_V_U64:
        bits = v->v.u;
        break;
    default:
        break;
    }
    return hash_mix(hash_bytes(&v->kind, 1, CHASH_SEED), bits);
}

static uint64_t message_key(struct exchange *x, struct route_ctx *rc)
{
    const struct broker_value *h = broker_table_get(x->args, "hash-header");
    if (h && h->kind == BROKER_V_STRING) {
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)h->v.str.len, (const char *)h->v.str.ptr);
        return value_hash(broker_table_get(route_headers(rc), name));
    }
    const struct broker_value *p = broker_table_get(x->args, "hash-property");
    if (p && p->kind == BROKER_V_STRING) {
        char name[32];
        struct edad_bytes out;
        snprintf(name, sizeof(name), "%.*s", (int)p->v.str.len, (const char *)p->v.str.ptr);
        if (rc->msg && codec_property(rc->b, rc->msg, name, &out))
            return hash_bytes(out.ptr, out.len, CHASH_SEED);
        return value_hash(NULL);
    }
    return hash_bytes(rc->rk.ptr, rc->rk.len, CHASH_SEED);
}

static void chash_route(struct exchange *x, struct route_ctx *rc)
{
    struct chash_ring *r = x->index;
    if (!r || r->total == 0)
        return;
    uint64_t bucket = r->n == 1 ? 0 : jump_hash(message_key(x, rc), r->total);
    /* the first member whose range ends past bucket */
    uint32_t lo = 0, hi = r->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->m[mid].end > bucket)
            hi = mid;
        else
            lo = mid + 1;
    }
    route_emit(rc, r->m[lo].b);
}

const struct exchange_type exchange_type_chash = {
    .name = "x-consistent-hash",
    .validate = chash_validate,
    .validate_binding = chash_validate_binding,
    .add = chash_add,
    .remove = chash_remove,
    .route = chash_route,
    .free_index = chash_free_index,
};
