/*
 * arguments.c - typed argument tables for the broker: deep copies, the
 * comparisons RabbitMQ uses (equivalence on redeclare, headers matching,
 * binding identity), and the single table of known queue arguments with
 * their validators.  Issue 4 turns ARG_PLANNED entries into ARG_SUPPORTED
 * as it implements them.  Does not decode AMQP: tables arrive decoded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "hmap.h"

const struct broker_value *broker_table_get(const struct broker_table *t, const char *key)
{
    if (!t)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < t->count; i++) {
        const struct broker_arg *a = &t->entries[i];
        if (a->key.len == klen && memcmp(a->key.ptr, key, klen) == 0)
            return &a->value;
    }
    return NULL;
}

/* ---- deep copy ------------------------------------------------------------ */

static size_t al8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t value_size(const struct broker_value *v);

static size_t table_size(const struct broker_table *t)
{
    size_t n = al8(sizeof(struct broker_arg) * t->count) + al8(t->raw.len);
    for (uint32_t i = 0; i < t->count; i++)
        n += al8(t->entries[i].key.len) + value_size(&t->entries[i].value);
    return n;
}

static size_t value_size(const struct broker_value *v)
{
    switch (v->kind) {
    case BROKER_V_STRING:
    case BROKER_V_BYTES:
        return al8(v->v.str.len);
    case BROKER_V_TABLE:
        return table_size(&v->v.table);
    case BROKER_V_ARRAY: {
        size_t n = al8(sizeof(struct broker_value) * v->v.array.count);
        for (uint32_t i = 0; i < v->v.array.count; i++)
            n += value_size(&v->v.array.values[i]);
        return n;
    }
    default:
        return 0;
    }
}

static void *bump(uint8_t **cur, size_t n)
{
    void *p = *cur;
    *cur += al8(n);
    return p;
}

static struct edad_bytes copy_bytes(uint8_t **cur, struct edad_bytes b)
{
    struct edad_bytes out = {NULL, b.len};
    if (b.len) {
        uint8_t *p = bump(cur, b.len);
        memcpy(p, b.ptr, b.len);
        out.ptr = p;
    }
    return out;
}

static void value_copy(uint8_t **cur, struct broker_value *dst, const struct broker_value *src);

static void table_copy(uint8_t **cur, struct broker_table *dst, const struct broker_table *src)
{
    struct broker_arg *e = src->count ? bump(cur, sizeof(*e) * src->count) : NULL;
    dst->count = src->count;
    dst->entries = e;
    dst->raw = copy_bytes(cur, src->raw);
    for (uint32_t i = 0; i < src->count; i++) {
        e[i].key = copy_bytes(cur, src->entries[i].key);
        value_copy(cur, &e[i].value, &src->entries[i].value);
    }
}

static void value_copy(uint8_t **cur, struct broker_value *dst, const struct broker_value *src)
{
    *dst = *src;
    switch (src->kind) {
    case BROKER_V_STRING:
    case BROKER_V_BYTES:
        dst->v.str = copy_bytes(cur, src->v.str);
        break;
    case BROKER_V_TABLE:
        table_copy(cur, &dst->v.table, &src->v.table);
        break;
    case BROKER_V_ARRAY: {
        uint32_t n = src->v.array.count;
        struct broker_value *vals = n ? bump(cur, sizeof(*vals) * n) : NULL;
        for (uint32_t i = 0; i < n; i++)
            value_copy(cur, &vals[i], &src->v.array.values[i]);
        dst->v.array.values = vals;
        dst->v.array.count = n;
        break;
    }
    default:
        break;
    }
}

struct broker_table *args_dup(const struct broker_table *t)
{
    static const struct broker_table empty = {0, NULL, {NULL, 0}};
    if (!t)
        t = &empty;
    size_t n = al8(sizeof(struct broker_table)) + table_size(t);
    uint8_t *block = xmalloc(n);
    uint8_t *cur = block;
    struct broker_table *out = bump(&cur, sizeof(*out));
    table_copy(&cur, out, t);
    return out;
}

/* ---- kinds ------------------------------------------------------------------ */

const char *args_type_name(uint8_t kind)
{
    switch (kind) {
    case BROKER_V_BOOL: return "bool";
    case BROKER_V_I8: return "byte";
    case BROKER_V_U8: return "unsignedbyte";
    case BROKER_V_I16: return "short";
    case BROKER_V_U16: return "unsignedshort";
    case BROKER_V_I32: return "signedint";
    case BROKER_V_U32: return "unsignedint";
    case BROKER_V_I64: return "long";
    case BROKER_V_U64: return "unsignedlong";
    case BROKER_V_FLOAT: return "float";
    case BROKER_V_DOUBLE: return "double";
    case BROKER_V_DECIMAL: return "decimal";
    case BROKER_V_STRING: return "longstr";
    case BROKER_V_BYTES: return "binary";
    case BROKER_V_ARRAY: return "array";
    case BROKER_V_TIMESTAMP: return "timestamp";
    case BROKER_V_TABLE: return "table";
    case BROKER_V_VOID: return "void";
    default: return "unknown";
    }
}

static bool kind_is_int(uint8_t k)
{
    switch (k) {
    case BROKER_V_I8: case BROKER_V_U8: case BROKER_V_I16: case BROKER_V_U16:
    case BROKER_V_I32: case BROKER_V_U32: case BROKER_V_I64: case BROKER_V_U64:
        return true;
    default:
        return false;
    }
}

static bool kind_is_float(uint8_t k)
{
    return k == BROKER_V_FLOAT || k == BROKER_V_DOUBLE;
}

bool args_value_int(const struct broker_value *v, int64_t *out)
{
    if (!v || !kind_is_int(v->kind))
        return false;
    if (v->kind == BROKER_V_U64) {
        if (v->v.u > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v->v.u;
    } else {
        *out = v->v.i;
    }
    return true;
}

/* Erlang-number view of a value: integer or float. */
static bool value_number(const struct broker_value *v, bool *is_float, int64_t *i, double *d)
{
    if (kind_is_float(v->kind)) {
        *is_float = true;
        *d = v->v.d;
        return true;
    }
    if (v->kind == BROKER_V_U64) {
        *is_float = v->v.u > (uint64_t)INT64_MAX;
        *i = (int64_t)v->v.u;
        *d = (double)v->v.u;
        return true;
    }
    if (kind_is_int(v->kind) || v->kind == BROKER_V_TIMESTAMP) {
        *is_float = false;
        *i = v->v.i;
        return true;
    }
    return false;
}

static bool numbers_eq(const struct broker_value *a, const struct broker_value *b)
{
    bool af, bf;
    int64_t ai = 0, bi = 0;
    double ad = 0, bd = 0;
    if (!value_number(a, &af, &ai, &ad) || !value_number(b, &bf, &bi, &bd))
        return false;
    if (!af && !bf)
        return ai == bi;
    if (!af)
        ad = (double)ai;
    if (!bf)
        bd = (double)bi;
    return ad == bd;
}

static bool table_eq_ordered(const struct broker_table *a, const struct broker_table *b);
static bool value_eq_strict(const struct broker_value *a, const struct broker_value *b);

static bool array_eq(const struct broker_array *a, const struct broker_array *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (!value_eq_strict(&a->values[i], &b->values[i]))
            return false;
    return true;
}

/* Same kind and equal value (nested {Type, Value} comparison). */
static bool value_eq_strict(const struct broker_value *a, const struct broker_value *b)
{
    return a->kind == b->kind && args_value_eq_loose(a, b);
}

static bool table_eq_ordered(const struct broker_table *a, const struct broker_table *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        if (!bytes_eq(a->entries[i].key, b->entries[i].key) ||
            !value_eq_strict(&a->entries[i].value, &b->entries[i].value))
            return false;
    }
    return true;
}

bool args_value_eq_loose(const struct broker_value *a, const struct broker_value *b)
{
    bool an = kind_is_int(a->kind) || kind_is_float(a->kind) || a->kind == BROKER_V_TIMESTAMP;
    bool bn = kind_is_int(b->kind) || kind_is_float(b->kind) || b->kind == BROKER_V_TIMESTAMP;
    if (an || bn)
        return an && bn && numbers_eq(a, b);
    bool as = a->kind == BROKER_V_STRING || a->kind == BROKER_V_BYTES;
    bool bs = b->kind == BROKER_V_STRING || b->kind == BROKER_V_BYTES;
    if (as || bs)
        return as && bs && bytes_eq(a->v.str, b->v.str);
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case BROKER_V_BOOL:
        return a->v.b == b->v.b;
    case BROKER_V_DECIMAL:
        return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
    case BROKER_V_VOID:
        return true;
    case BROKER_V_TABLE:
        return table_eq_ordered(&a->v.table, &b->v.table);
    case BROKER_V_ARRAY:
        return array_eq(&a->v.array, &b->v.array);
    default:
        return false;
    }
}

/* Identity of a value in a binding key: same kind, identical value. */
static bool value_identical(const struct broker_value *a, const struct broker_value *b)
{
    if (a->kind != b->kind)
        return false;
    if (kind_is_float(a->kind))
        return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0 || a->v.d == b->v.d;
    return args_value_eq_loose(a, b);
}

bool args_table_equal(const struct broker_table *a, const struct broker_table *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = 0; i < a->count; i++) {
        const struct broker_arg *ea = &a->entries[i];
        bool found = false;
        for (uint32_t j = 0; j < b->count && !found; j++) {
            const struct broker_arg *eb = &b->entries[j];
            found = bytes_eq(ea->key, eb->key) && value_identical(&ea->value, &eb->value);
        }
        if (!found)
            return false;
    }
    return true;
}

uint64_t args_table_hash(const struct broker_table *t, uint64_t seed)
{
    uint64_t h = (uint64_t)t->count;
    for (uint32_t i = 0; i < t->count; i++) {
        const struct broker_arg *e = &t->entries[i];
        uint64_t eh = hash_bytes(e->key.ptr, e->key.len, seed) ^ e->value.kind;
        switch (e->value.kind) {
        case BROKER_V_STRING:
        case BROKER_V_BYTES:
            eh = hash_mix(eh, hash_bytes(e->value.v.str.ptr, e->value.v.str.len, seed));
            break;
        case BROKER_V_BOOL:
            eh = hash_mix(eh, e->value.v.b);
            break;
        default:
            if (kind_is_int(e->value.kind) || e->value.kind == BROKER_V_TIMESTAMP)
                eh = hash_mix(eh, (uint64_t)e->value.v.i);
            break;
        }
        h += eh;                /* order-independent */
    }
    return hash_mix(h, seed);
}

/* ---- rendering --------------------------------------------------------------- */

/* Erlang's ~p of a number or atom-ish value (approximate for nested terms). */
static void value_term(const struct broker_value *v, char *buf, size_t n)
{
    switch (v->kind) {
    case BROKER_V_BOOL:
        snprintf(buf, n, "%s", v->v.b ? "true" : "false");
        break;
    case BROKER_V_U64:
        snprintf(buf, n, "%" PRIu64, v->v.u);
        break;
    case BROKER_V_FLOAT:
    case BROKER_V_DOUBLE:
        /* integral values print as Erlang does ("1.0"); NaN fails the range test */
        if (v->v.d > -1e15 && v->v.d < 1e15 && v->v.d == (double)(long long)v->v.d)
            snprintf(buf, n, "%.1f", v->v.d);
        else
            snprintf(buf, n, "%.17g", v->v.d);
        break;
    case BROKER_V_DECIMAL:
        snprintf(buf, n, "{%u,%" PRIu32 "}", v->v.dec.scale, v->v.dec.value);
        break;
    case BROKER_V_VOID:
        snprintf(buf, n, "undefined");
        break;
    case BROKER_V_STRING:
    case BROKER_V_BYTES:
        snprintf(buf, n, "%.*s", (int)v->v.str.len, (const char *)v->v.str.ptr);
        break;
    case BROKER_V_TABLE:
    case BROKER_V_ARRAY:
        snprintf(buf, n, "[...]");
        break;
    default:
        snprintf(buf, n, "%" PRId64, v->v.i);
        break;
    }
}

void args_value_describe(const struct broker_value *v, char *buf, size_t n)
{
    if (!v) {
        snprintf(buf, n, "none");
        return;
    }
    char term[160];
    value_term(v, term, sizeof(term));
    snprintf(buf, n, "the value '%s' of type '%s'", term, args_type_name(v->kind));
}

static uint8_t type_class(uint8_t kind)
{
    if (kind_is_int(kind) || kind == BROKER_V_DECIMAL)
        return 'I';
    if (kind_is_float(kind))
        return 'f';
    if (kind == BROKER_V_TIMESTAMP)
        return 'T';
    return kind;
}

edad_status args_assert_equivalent(const struct broker_table *cur, const struct broker_table *req,
                                   const char *key, const char *what, struct broker_err *err)
{
    const struct broker_value *a = broker_table_get(cur, key);
    const struct broker_value *b = broker_table_get(req, key);
    if (!a && !b)
        return EDAD_OK;
    if (a && b && type_class(a->kind) == type_class(b->kind) &&
        (a->kind == BROKER_V_DECIMAL || b->kind == BROKER_V_DECIMAL
             ? value_eq_strict(a, b)
             : args_value_eq_loose(a, b)))
        return EDAD_OK;
    if (strcmp(key, "x-queue-type") == 0) {
        /* rabbitmq-common#341: classic queues may lack the argument */
        const struct broker_value *v = a ? a : b;
        if ((!a || !b) && v->kind == BROKER_V_STRING && bytes_eq_cstr(v->v.str, "classic"))
            return EDAD_OK;
    }
    /* rabbit_misc: both present -> bare values; one absent -> typed vs none */
    char ra[200], ca[200];
    if (a && b) {
        char ta[160], tb[160];
        value_term(b, tb, sizeof(tb));
        value_term(a, ta, sizeof(ta));
        snprintf(ra, sizeof(ra), "'%s'", tb);
        snprintf(ca, sizeof(ca), "'%s'", ta);
    } else {
        args_value_describe(b, ra, sizeof(ra));
        args_value_describe(a, ca, sizeof(ca));
    }
    return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                          "inequivalent arg '%s' for %s: received %s but current is %s",
                          key, what, ra, ca);
}

/* ---- the known queue arguments -------------------------------------------------- */

enum arg_support {
    ARG_SUPPORTED,              /* implemented */
    ARG_NOOP,                   /* accepted and validated; no effect in edad
                                   (as in current RabbitMQ, or cluster-only) */
    ARG_PLANNED,                /* a later issue implements it: 406 until then */
};

/* Validator: NULL when fine, else the Erlang-ish reason term in why. */
typedef bool (*arg_check_fn)(const struct broker_value *v, const struct broker_table *args,
                             char *why, size_t n);

struct qarg_def {
    const char *key;
    unsigned qtypes;            /* enum args_qtype mask that accepts (and compares) it */
    enum arg_support support;
    arg_check_fn check;
};

static bool check_int(const struct broker_value *v, const struct broker_table *args,
                      char *why, size_t n)
{
    EDAD_UNUSED(args);
    if (kind_is_int(v->kind))
        return true;
    snprintf(why, n, "\"expected integer, got %s\"", args_type_name(v->kind));
    return false;
}

/* Integer value with U64 saturated into int64. */
static int64_t int_value(const struct broker_value *v)
{
    if (v->kind == BROKER_V_U64)
        return v->v.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->v.u;
    return v->v.i;
}

static bool check_non_neg_int(const struct broker_value *v, const struct broker_table *args,
                              char *why, size_t n)
{
    if (!check_int(v, args, why, n))
        return false;
    if (int_value(v) < 0) {
        snprintf(why, n, "{value_negative,%" PRId64 "}", int_value(v));
        return false;
    }
    return true;
}

static bool check_positive_int(const struct broker_value *v, const struct broker_table *args,
                               char *why, size_t n)
{
    if (!check_non_neg_int(v, args, why, n))
        return false;
    if (int_value(v) == 0) {
        snprintf(why, n, "{value_zero,0}");
        return false;
    }
    return true;
}

/* A longstr among allowed; else why = unacceptable_type, or bad (quoted when asked). */
static bool check_string_in(const struct broker_value *v, const char *const *allowed,
                            const char *bad, char *why, size_t n)
{
    if (v->kind != BROKER_V_STRING) {
        snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
        return false;
    }
    for (const char *const *a = allowed; *a; a++)
        if (bytes_eq_cstr(v->v.str, *a))
            return true;
    if (bad)
        snprintf(why, n, "%s", bad);
    else
        snprintf(why, n, "\"unsupported queue mode '%.*s'\"", (int)v->v.str.len,
                 (const char *)v->v.str.ptr);
    return false;
}

static bool check_queue_mode(const struct broker_value *v, const struct broker_table *args,
                             char *why, size_t n)
{
    static const char *const modes[] = {"default", "lazy", NULL};
    EDAD_UNUSED(args);
    return check_string_in(v, modes, NULL, why, n);
}

static bool check_queue_version(const struct broker_value *v, const struct broker_table *args,
                                char *why, size_t n)
{
    if (!check_non_neg_int(v, args, why, n))
        return false;
    if (int_value(v) != 1 && int_value(v) != 2) {
        snprintf(why, n, "\"unsupported queue version '%" PRId64 "'\"", int_value(v));
        return false;
    }
    return true;
}

static bool check_locator(const struct broker_value *v, const struct broker_table *args,
                          char *why, size_t n)
{
    static const char *const locs[] = {"client-local", "balanced", "min-masters", "random", NULL};
    EDAD_UNUSED(args);
    return check_string_in(v, locs, "invalid_queue_locator_arg", why, n);
}

static bool check_any(const struct broker_value *v, const struct broker_table *args,
                      char *why, size_t n)
{
    EDAD_UNUSED(v);
    EDAD_UNUSED(args);
    EDAD_UNUSED(why);
    EDAD_UNUSED(n);
    return true;
}

/* Deduplication (LavinMQ's arguments, queues and exchanges alike). */
static bool check_dedup_bool(const struct broker_value *v, const struct broker_table *args,
                             char *why, size_t n)
{
    EDAD_UNUSED(args);
    if (v->kind == BROKER_V_BOOL)
        return true;
    snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
    return false;
}

static bool check_dedup_header(const struct broker_value *v, const struct broker_table *args,
                               char *why, size_t n)
{
    EDAD_UNUSED(args);
    if (v->kind == BROKER_V_STRING && v->v.str.len > 0 && v->v.str.len <= 255)
        return true;
    if (v->kind == BROKER_V_STRING)
        snprintf(why, n, "\"header name must be 1 to 255 bytes\"");
    else
        snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
    return false;
}

static bool check_dedup_ttl(const struct broker_value *v, const struct broker_table *args,
                            char *why, size_t n)
{
    if (!check_non_neg_int(v, args, why, n))
        return false;
    if (int_value(v) > UINT32_MAX) {
        snprintf(why, n, "{value_too_large,%" PRId64 "}", int_value(v));
        return false;
    }
    return true;
}

static bool check_dedup_size(const struct broker_value *v, const struct broker_table *args,
                             char *why, size_t n)
{
    if (!check_positive_int(v, args, why, n))
        return false;
    return check_dedup_ttl(v, args, why, n);
}

/* rabbit_misc:check_expiry: 0 .. 10 years in milliseconds. */
#define MAX_EXPIRY_MS INT64_C(315360000000)

static bool check_expiry_value(const struct broker_value *v, char *why, size_t n)
{
    int64_t x = int_value(v);
    if (x < 0) {
        snprintf(why, n, "{value_negative,%" PRId64 "}", x);
        return false;
    }
    if (x > MAX_EXPIRY_MS) {
        if (v->kind == BROKER_V_U64)
            snprintf(why, n, "{value_too_large,%" PRIu64 "}", v->v.u);
        else
            snprintf(why, n, "{value_too_large,%" PRId64 "}", x);
        return false;
    }
    return true;
}

static bool check_message_ttl(const struct broker_value *v, const struct broker_table *args,
                              char *why, size_t n)
{
    return check_int(v, args, why, n) && check_expiry_value(v, why, n);
}

static bool check_expires(const struct broker_value *v, const struct broker_table *args,
                          char *why, size_t n)
{
    if (!check_int(v, args, why, n))
        return false;
    if (int_value(v) == 0) {
        snprintf(why, n, "{value_zero,0}");
        return false;
    }
    return check_expiry_value(v, why, n);
}

static bool check_bool(const struct broker_value *v, const struct broker_table *args,
                       char *why, size_t n)
{
    EDAD_UNUSED(args);
    if (v->kind == BROKER_V_BOOL)
        return true;
    snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
    return false;
}

static bool check_dlx_name(const struct broker_value *v, const struct broker_table *args,
                           char *why, size_t n)
{
    EDAD_UNUSED(args);
    if (v->kind == BROKER_V_STRING)
        return true;
    snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
    return false;
}

static bool check_dlx_rk(const struct broker_value *v, const struct broker_table *args,
                         char *why, size_t n)
{
    if (v->kind != BROKER_V_STRING) {
        snprintf(why, n, "{unacceptable_type,%s}", args_type_name(v->kind));
        return false;
    }
    if (!broker_table_get(args, "x-dead-letter-exchange")) {
        snprintf(why, n, "routing_key_but_no_dlx_defined");
        return false;
    }
    return true;
}

static bool check_overflow(const struct broker_value *v, const struct broker_table *args,
                           char *why, size_t n)
{
    static const char *const modes[] = {"drop-head", "reject-publish", "reject-publish-dlx",
                                        NULL};
    EDAD_UNUSED(args);
    return check_string_in(v, modes, "invalid_overflow", why, n);
}

static bool check_dlx_strategy(const struct broker_value *v, const struct broker_table *args,
                               char *why, size_t n)
{
    static const char *const modes[] = {"at-most-once", "at-least-once", NULL};
    EDAD_UNUSED(args);
    return check_string_in(v, modes, "invalid_dlx_strategy", why, n);
}

static bool check_max_priority(const struct broker_value *v, const struct broker_table *args,
                               char *why, size_t n)
{
    if (!check_non_neg_int(v, args, why, n))
        return false;
    if (int_value(v) > 255) {
        snprintf(why, n, "{max_value_exceeded,%" PRId64 "}", int_value(v));
        return false;
    }
    return true;
}

#define QT_CQ ARGS_QT_CLASSIC
#define QT_QQ ARGS_QT_QUORUM
#define QT_BOTH (ARGS_QT_CLASSIC | ARGS_QT_QUORUM)
#define QT_STREAM 0u            /* stream-only: no edad type accepts it */

/*
 * Every queue argument RabbitMQ knows (plus LavinMQ's deduplication ones
 * that issue 4 adds).  Keys not listed are kept and ignored, as RabbitMQ
 * ignores unknown arguments.
 */
static const struct qarg_def queue_args[] = {
    {"x-queue-type", QT_BOTH, ARG_SUPPORTED, check_any},
    {"x-expires", QT_BOTH, ARG_SUPPORTED, check_expires},
    {"x-message-ttl", QT_BOTH, ARG_SUPPORTED, check_message_ttl},
    {"x-dead-letter-exchange", QT_BOTH, ARG_SUPPORTED, check_dlx_name},
    {"x-dead-letter-routing-key", QT_BOTH, ARG_SUPPORTED, check_dlx_rk},
    {"x-dead-letter-strategy", QT_QQ, ARG_NOOP, check_dlx_strategy},
    {"x-max-length", QT_BOTH, ARG_SUPPORTED, check_non_neg_int},
    {"x-max-length-bytes", QT_BOTH, ARG_SUPPORTED, check_non_neg_int},
    {"x-overflow", QT_BOTH, ARG_SUPPORTED, check_overflow},
    {"x-max-priority", QT_CQ, ARG_SUPPORTED, check_max_priority},
    {"x-single-active-consumer", QT_BOTH, ARG_SUPPORTED, check_bool},
    {"x-delivery-limit", QT_BOTH, ARG_SUPPORTED, check_int},
    {"x-message-deduplication", QT_BOTH, ARG_SUPPORTED, check_dedup_bool},
    {"x-cache-size", QT_BOTH, ARG_SUPPORTED, check_dedup_size},
    {"x-cache-ttl", QT_BOTH, ARG_SUPPORTED, check_dedup_ttl},
    {"x-deduplication-header", QT_BOTH, ARG_SUPPORTED, check_dedup_header},
    {"x-queue-mode", QT_CQ, ARG_NOOP, check_queue_mode},
    {"x-queue-version", QT_CQ, ARG_NOOP, check_queue_version},
    {"x-queue-master-locator", QT_CQ, ARG_NOOP, check_locator},
    {"x-queue-leader-locator", QT_BOTH, ARG_NOOP, check_locator},
    {"x-quorum-initial-group-size", QT_QQ, ARG_NOOP, check_positive_int},
    {"x-max-in-memory-length", QT_QQ, ARG_NOOP, check_non_neg_int},
    {"x-max-in-memory-bytes", QT_QQ, ARG_NOOP, check_non_neg_int},
    {"x-max-age", QT_STREAM, ARG_PLANNED, NULL},
    {"x-stream-max-segment-size-bytes", QT_STREAM, ARG_PLANNED, NULL},
    {"x-stream-filter-size-bytes", QT_STREAM, ARG_PLANNED, NULL},
    {"x-initial-cluster-size", QT_STREAM, ARG_PLANNED, NULL},
};

static const struct qarg_def *qarg_find(struct edad_bytes key)
{
    for (size_t i = 0; i < EDAD_ARRAY_LEN(queue_args); i++)
        if (bytes_eq_cstr(key, queue_args[i].key))
            return &queue_args[i];
    return NULL;
}

static const char *qtype_module(enum args_qtype t)
{
    return t == ARGS_QT_QUORUM ? "rabbit_quorum_queue" : "rabbit_classic_queue";
}

edad_status args_queue_type(const struct broker_table *args, enum args_qtype *qtype,
                            const char *what, struct broker_err *err)
{
    const struct broker_value *v = broker_table_get(args, "x-queue-type");
    *qtype = ARGS_QT_CLASSIC;
    if (!v)
        return EDAD_OK;
    if (v->kind != BROKER_V_STRING)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid arg 'x-queue-type' for %s: {unacceptable_type,%s}",
                              what, args_type_name(v->kind));
    if (bytes_eq_cstr(v->v.str, "classic"))
        return EDAD_OK;
    if (bytes_eq_cstr(v->v.str, "quorum")) {
        *qtype = ARGS_QT_QUORUM;
        return EDAD_OK;
    }
    return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                          "invalid arg 'x-queue-type' for %s: \"unsupported queue type '%.*s'\"",
                          what, (int)v->v.str.len, (const char *)v->v.str.ptr);
}

edad_status args_validate_queue(const struct broker_table *args, enum args_qtype qtype,
                                const char *what, struct broker_err *err)
{
    if (!args)
        return EDAD_OK;
    /* RabbitMQ's order: the values of this type's arguments (in its
     * declare_args order), then the keys of other queue types */
    for (size_t i = 0; i < EDAD_ARRAY_LEN(queue_args); i++) {
        const struct qarg_def *def = &queue_args[i];
        if (!(def->qtypes & qtype) || def->support == ARG_PLANNED || !def->check)
            continue;
        const struct broker_value *v = broker_table_get(args, def->key);
        char why[128];
        if (v && !def->check(v, args, why, sizeof(why)))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED, "invalid arg '%s' for %s: %s",
                                  def->key, what, why);
    }
    for (uint32_t i = 0; i < args->count; i++) {
        const struct qarg_def *def = qarg_find(args->entries[i].key);
        if (def && !(def->qtypes & qtype))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "invalid arg '%s' for %s of queue type %s", def->key, what,
                                  qtype_module(qtype));
    }
    for (uint32_t i = 0; i < args->count; i++) {
        const struct qarg_def *def = qarg_find(args->entries[i].key);
        if (def && def->support == ARG_PLANNED)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "invalid arg '%s' for %s: not supported by edad yet",
                                  def->key, what);
    }
    return EDAD_OK;
}

edad_status args_check_dlx_type(const struct broker_table *args, const char *what,
                                struct broker_err *err)
{
    const struct broker_value *v = broker_table_get(args, "x-dead-letter-exchange");
    if (v && v->kind != BROKER_V_STRING)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid type '%s' for arg 'x-dead-letter-exchange' in %s",
                              args_type_name(v->kind), what);
    return EDAD_OK;
}

edad_status args_assert_queue_equivalent(const struct broker_table *cur,
                                         const struct broker_table *req, enum args_qtype qtype,
                                         const char *what, struct broker_err *err)
{
    for (size_t i = 0; i < EDAD_ARRAY_LEN(queue_args); i++) {
        if (!(queue_args[i].qtypes & qtype))
            continue;
        edad_status st = args_assert_equivalent(cur, req, queue_args[i].key, what, err);
        if (st != EDAD_OK)
            return st;
    }
    return EDAD_OK;
}

/* ---- exchange and consumer arguments ------------------------------------------- */

/* Exchange-level deduplication: the queue table's validators. */
static const char *const exchange_dedup_args[] = {
    "x-message-deduplication", "x-cache-size", "x-cache-ttl", "x-deduplication-header",
};

edad_status args_validate_exchange(const struct broker_table *args, const char *what,
                                   struct broker_err *err)
{
    const struct broker_value *ae = broker_table_get(args, "alternate-exchange");
    if (ae && ae->kind != BROKER_V_STRING)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid type '%s' for arg 'alternate-exchange' in %s",
                              args_type_name(ae->kind), what);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(exchange_dedup_args); i++) {
        const struct broker_value *v = broker_table_get(args, exchange_dedup_args[i]);
        const struct qarg_def *def = qarg_find(bytes_from_cstr(exchange_dedup_args[i]));
        char why[128];
        if (v && def && def->check && !def->check(v, args, why, sizeof(why)))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED, "invalid arg '%s' for %s: %s",
                                  exchange_dedup_args[i], what, why);
    }
    return EDAD_OK;
}

edad_status args_validate_consume(const struct broker_table *args, const char *what,
                                  int32_t *priority, struct broker_err *err)
{
    *priority = 0;
    if (!args)
        return EDAD_OK;
    const struct broker_value *p = broker_table_get(args, "x-priority");
    if (p) {
        int64_t v;
        if (!args_value_int(p, &v))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "invalid arg 'x-priority' for %s: \"expected integer, got %s\"",
                                  what, args_type_name(p->kind));
        *priority = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
    }
    const struct broker_value *f = broker_table_get(args, "x-cancel-on-ha-failover");
    if (f && f->kind != BROKER_V_BOOL)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid arg 'x-cancel-on-ha-failover' for %s: "
                              "{unacceptable_type,%s}", what, args_type_name(f->kind));
    if (broker_table_get(args, "x-stream-offset"))
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "invalid arg 'x-stream-offset' for %s of queue type "
                              "rabbit_classic_queue", what);
    return EDAD_OK;
}
