/*
 * table.c - AMQP field tables and arrays: decode into an arena (per level a
 * counting pass, then one allocation and a filling pass; nested bodies are
 * skipped by length, so each byte is walked at most twice), encode from
 * caller-built entries, lookup, integer coercion.  Type codes: amqp.h.
 * Argument semantics (x-message-ttl and friends) belong to broker/, not here.
 */
#include <string.h>

#include "wire.h"

static edad_status table_decode_at(struct edad_bytes body, struct arena *a, int depth,
                                   struct amqp_table *out);
static edad_status array_decode_at(struct edad_bytes body, struct arena *a, int depth,
                                   struct amqp_array *out);

/* Payload bytes after the type octet: >= 0 fixed, -1 length-prefixed,
   -2 unknown type code. */
static int kind_size(uint8_t kind)
{
    switch (kind) {
    case AMQP_FIELD_VOID:
        return 0;
    case AMQP_FIELD_BOOL:
    case AMQP_FIELD_I8:
    case AMQP_FIELD_U8:
        return 1;
    case AMQP_FIELD_I16:
    case AMQP_FIELD_U16:
    case AMQP_FIELD_I16_SPEC:
        return 2;
    case AMQP_FIELD_I32:
    case AMQP_FIELD_U32:
    case AMQP_FIELD_FLOAT:
        return 4;
    case AMQP_FIELD_DECIMAL:
        return 5;
    case AMQP_FIELD_I64:
    case AMQP_FIELD_U64:
    case AMQP_FIELD_DOUBLE:
    case AMQP_FIELD_TIMESTAMP:
        return 8;
    case AMQP_FIELD_LONGSTR:
    case AMQP_FIELD_BYTES:
    case AMQP_FIELD_ARRAY:
    case AMQP_FIELD_TABLE:
        return -1;
    }
    return -2;
}

/* Skip one tagged value (validating its type and length only). */
static void value_skip(struct wire_reader *r)
{
    int n = kind_size(wire_get_u8(r));
    if (n >= 0)
        (void)wire_get_bytes(r, (size_t)n);
    else if (n == -1)
        (void)wire_get_longstr(r);
    else
        wire_reader_fail(r, EDAD_ERR_UNKNOWN);
}

/* Read one tagged value whose framing value_skip() already validated. */
static void value_read(struct wire_reader *r, struct arena *a, int depth,
                       struct amqp_field_value *v)
{
    uint8_t kind = wire_get_u8(r);
    v->kind = kind;
    switch (kind) {
    case AMQP_FIELD_BOOL:
        v->v.b = wire_get_u8(r) != 0;
        break;
    case AMQP_FIELD_I8:
        v->v.i8 = (int8_t)wire_get_u8(r);
        break;
    case AMQP_FIELD_U8:
        v->v.u8 = wire_get_u8(r);
        break;
    case AMQP_FIELD_I16:
    case AMQP_FIELD_I16_SPEC:
        v->v.i16 = (int16_t)wire_get_u16(r);
        break;
    case AMQP_FIELD_U16:
        v->v.u16 = wire_get_u16(r);
        break;
    case AMQP_FIELD_I32:
        v->v.i32 = (int32_t)wire_get_u32(r);
        break;
    case AMQP_FIELD_U32:
        v->v.u32 = wire_get_u32(r);
        break;
    case AMQP_FIELD_I64:
        v->v.i64 = (int64_t)wire_get_u64(r);
        break;
    case AMQP_FIELD_U64:
    case AMQP_FIELD_TIMESTAMP:
        v->v.u64 = wire_get_u64(r);
        break;
    case AMQP_FIELD_FLOAT: {
        uint32_t bits = wire_get_u32(r);
        memcpy(&v->v.f, &bits, sizeof(v->v.f));
        break;
    }
    case AMQP_FIELD_DOUBLE: {
        uint64_t bits = wire_get_u64(r);
        memcpy(&v->v.d, &bits, sizeof(v->v.d));
        break;
    }
    case AMQP_FIELD_DECIMAL:
        v->v.decimal.scale = wire_get_u8(r);
        v->v.decimal.value = wire_get_u32(r);
        break;
    case AMQP_FIELD_LONGSTR:
    case AMQP_FIELD_BYTES:
        v->v.str = wire_get_longstr(r);
        break;
    case AMQP_FIELD_VOID:
        break;
    case AMQP_FIELD_TABLE: {
        struct edad_bytes body = wire_get_longstr(r);
        if (r->st == EDAD_OK) {
            edad_status st = table_decode_at(body, a, depth + 1, &v->v.table);
            if (st != EDAD_OK)
                wire_reader_fail(r, st);
        }
        break;
    }
    case AMQP_FIELD_ARRAY: {
        struct edad_bytes body = wire_get_longstr(r);
        if (r->st == EDAD_OK) {
            edad_status st = array_decode_at(body, a, depth + 1, &v->v.array);
            if (st != EDAD_OK)
                wire_reader_fail(r, st);
        }
        break;
    }
    default:
        wire_reader_fail(r, EDAD_ERR_UNKNOWN);
        break;
    }
}

static edad_status table_decode_at(struct edad_bytes body, struct arena *a, int depth,
                                   struct amqp_table *out)
{
    struct wire_reader r;
    uint32_t count = 0;

    memset(out, 0, sizeof(*out));
    if (depth > AMQP_TABLE_MAX_DEPTH)
        return EDAD_ERR_MALFORMED;

    /* pass 1: count entries, validate keys, types and lengths */
    wire_reader_init(&r, body.ptr, body.len);
    while (r.p < r.end) {
        struct edad_bytes key = wire_get_shortstr(&r);
        if (r.st == EDAD_OK && key.len == 0)
            return EDAD_ERR_MALFORMED;
        value_skip(&r);
        if (r.st != EDAD_OK)
            return r.st;
        count++;
    }
    if (count == 0) {
        out->raw = body;
        return EDAD_OK;
    }

    /* pass 2: fill */
    struct amqp_table_entry *e = arena_alloc(a, (size_t)count * sizeof(*e));
    if (!e)
        return EDAD_ERR_NOMEM;
    wire_reader_init(&r, body.ptr, body.len);
    for (uint32_t i = 0; i < count && r.st == EDAD_OK; i++) {
        e[i].key = wire_get_shortstr(&r);
        value_read(&r, a, depth, &e[i].value);
    }
    if (r.st != EDAD_OK)
        return r.st;
    out->count = count;
    out->entries = e;
    out->raw = body;
    return EDAD_OK;
}

static edad_status array_decode_at(struct edad_bytes body, struct arena *a, int depth,
                                   struct amqp_array *out)
{
    struct wire_reader r;
    uint32_t count = 0;

    memset(out, 0, sizeof(*out));
    if (depth > AMQP_TABLE_MAX_DEPTH)
        return EDAD_ERR_MALFORMED;

    wire_reader_init(&r, body.ptr, body.len);
    while (r.p < r.end) {
        value_skip(&r);
        if (r.st != EDAD_OK)
            return r.st;
        count++;
    }
    if (count == 0)
        return EDAD_OK;

    struct amqp_field_value *v = arena_alloc(a, (size_t)count * sizeof(*v));
    if (!v)
        return EDAD_ERR_NOMEM;
    wire_reader_init(&r, body.ptr, body.len);
    for (uint32_t i = 0; i < count && r.st == EDAD_OK; i++)
        value_read(&r, a, depth, &v[i]);
    if (r.st != EDAD_OK)
        return r.st;
    out->count = count;
    out->values = v;
    return EDAD_OK;
}

edad_status amqp_table_decode(struct edad_bytes body, struct arena *a, struct amqp_table *out)
{
    return table_decode_at(body, a, 1, out);
}

void wire_get_table(struct wire_reader *r, struct arena *a, struct amqp_table *out)
{
    struct edad_bytes body = wire_get_longstr(r);
    if (r->st != EDAD_OK) {
        memset(out, 0, sizeof(*out));
        return;
    }
    edad_status st = table_decode_at(body, a, 1, out);
    if (st != EDAD_OK)
        wire_reader_fail(r, st);
}

const struct amqp_field_value *amqp_table_get(const struct amqp_table *t, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < t->count; i++) {
        const struct amqp_table_entry *e = &t->entries[i];
        if (e->key.len == n && (n == 0 || memcmp(e->key.ptr, key, n) == 0))
            return &e->value;
    }
    return NULL;
}

bool amqp_field_as_int64(const struct amqp_field_value *v, int64_t *out)
{
    switch (v->kind) {
    case AMQP_FIELD_I8: *out = v->v.i8; return true;
    case AMQP_FIELD_U8: *out = v->v.u8; return true;
    case AMQP_FIELD_I16:
    case AMQP_FIELD_I16_SPEC: *out = v->v.i16; return true;
    case AMQP_FIELD_U16: *out = v->v.u16; return true;
    case AMQP_FIELD_I32: *out = v->v.i32; return true;
    case AMQP_FIELD_U32: *out = v->v.u32; return true;
    case AMQP_FIELD_I64: *out = v->v.i64; return true;
    /* RabbitMQ reads 'L' as signed 64-bit too (rabbit_binary_parser) */
    case AMQP_FIELD_U64: *out = (int64_t)v->v.u64; return true;
    }
    return false;
}

/* ---- encoding ------------------------------------------------------------ */

static size_t table_body_size(const struct amqp_table *t, int depth);
static size_t array_body_size(const struct amqp_array *arr, int depth);

/* Encoded size of a value including its type octet.  Past the depth limit
   (or for an unknown kind) the count stops: encoding fails there anyway. */
static size_t value_size(const struct amqp_field_value *v, int depth)
{
    int n = kind_size(v->kind);
    if (n >= 0)
        return 1 + (size_t)n;
    switch (v->kind) {
    case AMQP_FIELD_LONGSTR:
    case AMQP_FIELD_BYTES:
        return 5 + v->v.str.len;
    case AMQP_FIELD_TABLE:
        return 5 + table_body_size(&v->v.table, depth + 1);
    case AMQP_FIELD_ARRAY:
        return 5 + array_body_size(&v->v.array, depth + 1);
    }
    return 1;
}

static size_t table_body_size(const struct amqp_table *t, int depth)
{
    size_t n = 0;
    if (depth > AMQP_TABLE_MAX_DEPTH || !t->entries)
        return 0;
    for (uint32_t i = 0; i < t->count; i++)
        n += 1 + t->entries[i].key.len + value_size(&t->entries[i].value, depth);
    return n;
}

static size_t array_body_size(const struct amqp_array *arr, int depth)
{
    size_t n = 0;
    if (depth > AMQP_TABLE_MAX_DEPTH || !arr->values)
        return 0;
    for (uint32_t i = 0; i < arr->count; i++)
        n += value_size(&arr->values[i], depth);
    return n;
}

size_t amqp_table_encoded_size(const struct amqp_table *t)
{
    return 4 + table_body_size(t, 1);
}

static void table_put(struct wire_writer *w, const struct amqp_table *t, int depth);
static void array_put(struct wire_writer *w, const struct amqp_array *arr, int depth);

static void value_put(struct wire_writer *w, const struct amqp_field_value *v, int depth)
{
    wire_put_u8(w, v->kind);
    switch (v->kind) {
    case AMQP_FIELD_BOOL:
        wire_put_u8(w, v->v.b ? 1 : 0);
        break;
    case AMQP_FIELD_I8:
        wire_put_u8(w, (uint8_t)v->v.i8);
        break;
    case AMQP_FIELD_U8:
        wire_put_u8(w, v->v.u8);
        break;
    case AMQP_FIELD_I16:
    case AMQP_FIELD_I16_SPEC:
        wire_put_u16(w, (uint16_t)v->v.i16);
        break;
    case AMQP_FIELD_U16:
        wire_put_u16(w, v->v.u16);
        break;
    case AMQP_FIELD_I32:
        wire_put_u32(w, (uint32_t)v->v.i32);
        break;
    case AMQP_FIELD_U32:
        wire_put_u32(w, v->v.u32);
        break;
    case AMQP_FIELD_I64:
        wire_put_u64(w, (uint64_t)v->v.i64);
        break;
    case AMQP_FIELD_U64:
    case AMQP_FIELD_TIMESTAMP:
        wire_put_u64(w, v->v.u64);
        break;
    case AMQP_FIELD_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &v->v.f, sizeof(bits));
        wire_put_u32(w, bits);
        break;
    }
    case AMQP_FIELD_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->v.d, sizeof(bits));
        wire_put_u64(w, bits);
        break;
    }
    case AMQP_FIELD_DECIMAL:
        wire_put_u8(w, v->v.decimal.scale);
        wire_put_u32(w, v->v.decimal.value);
        break;
    case AMQP_FIELD_LONGSTR:
    case AMQP_FIELD_BYTES:
        wire_put_longstr(w, v->v.str);
        break;
    case AMQP_FIELD_VOID:
        break;
    case AMQP_FIELD_TABLE:
        table_put(w, &v->v.table, depth + 1);
        break;
    case AMQP_FIELD_ARRAY:
        array_put(w, &v->v.array, depth + 1);
        break;
    default:
        wire_writer_fail(w, EDAD_ERR_INVALID);
        break;
    }
}

/* Reserve a 4-byte length; returns where it goes, NULL on failure. */
static uint8_t *length_reserve(struct wire_writer *w)
{
    if (!wire_room(w, 4))
        return NULL;
    uint8_t *at = w->p;
    w->p += 4;
    return at;
}

static void length_patch(struct wire_writer *w, uint8_t *at)
{
    if (w->st != EDAD_OK)
        return;
    size_t n = (size_t)(w->p - at) - 4;
    if (n > UINT32_MAX) {
        wire_writer_fail(w, EDAD_ERR_INVALID);
        return;
    }
    at[0] = (uint8_t)(n >> 24);
    at[1] = (uint8_t)(n >> 16);
    at[2] = (uint8_t)(n >> 8);
    at[3] = (uint8_t)n;
}

static void table_put(struct wire_writer *w, const struct amqp_table *t, int depth)
{
    if (depth > AMQP_TABLE_MAX_DEPTH || (t->count && !t->entries)) {
        wire_writer_fail(w, EDAD_ERR_INVALID);
        return;
    }
    uint8_t *at = length_reserve(w);
    if (!at)
        return;
    for (uint32_t i = 0; i < t->count && w->st == EDAD_OK; i++) {
        const struct amqp_table_entry *e = &t->entries[i];
        if (e->key.len == 0 || e->key.len > 255) {
            wire_writer_fail(w, EDAD_ERR_INVALID);
            return;
        }
        wire_put_shortstr(w, e->key);
        value_put(w, &e->value, depth);
    }
    length_patch(w, at);
}

static void array_put(struct wire_writer *w, const struct amqp_array *arr, int depth)
{
    if (depth > AMQP_TABLE_MAX_DEPTH || (arr->count && !arr->values)) {
        wire_writer_fail(w, EDAD_ERR_INVALID);
        return;
    }
    uint8_t *at = length_reserve(w);
    if (!at)
        return;
    for (uint32_t i = 0; i < arr->count && w->st == EDAD_OK; i++)
        value_put(w, &arr->values[i], depth);
    length_patch(w, at);
}

void wire_put_table(struct wire_writer *w, const struct amqp_table *t)
{
    table_put(w, t, 1);
}

edad_status amqp_table_encode(const struct amqp_table *t, uint8_t *buf, size_t cap, size_t *len)
{
    struct wire_writer w;
    wire_writer_init(&w, buf, cap);
    table_put(&w, t, 1);
    return wire_writer_finish(&w, len);
}
