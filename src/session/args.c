/*
 * args.c - decoded AMQP field tables (x-arguments, message headers) into
 * the broker's typed tables, kind for kind, in the per-frame arena.  No
 * validation here: what an argument means is the broker's business.
 */
#include <string.h>

#include "session_priv.h"

static edad_status convert_value(const struct amqp_field_value *in, struct arena *a,
                                 struct broker_value *out, int depth);

static edad_status convert_table(const struct amqp_table *in, struct arena *a,
                                 struct broker_table *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->raw = in->raw;
    if (in->count == 0)
        return EDAD_OK;
    if (depth > AMQP_TABLE_MAX_DEPTH)
        return EDAD_ERR_MALFORMED;
    struct broker_arg *e = arena_alloc(a, sizeof(*e) * in->count);
    if (!e)
        return EDAD_ERR_NOMEM;
    for (uint32_t i = 0; i < in->count; i++) {
        e[i].key = in->entries[i].key;
        edad_status st = convert_value(&in->entries[i].value, a, &e[i].value, depth + 1);
        if (st != EDAD_OK)
            return st;
    }
    out->count = in->count;
    out->entries = e;
    return EDAD_OK;
}

static edad_status convert_value(const struct amqp_field_value *in, struct arena *a,
                                 struct broker_value *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->kind = in->kind;
    switch (in->kind) {
    case AMQP_FIELD_BOOL:
        out->v.b = in->v.b;
        return EDAD_OK;
    case AMQP_FIELD_I8:
        out->v.i = in->v.i8;
        return EDAD_OK;
    case AMQP_FIELD_U8:
        out->v.i = in->v.u8;
        return EDAD_OK;
    case AMQP_FIELD_I16:
        out->v.i = in->v.i16;
        return EDAD_OK;
    case AMQP_FIELD_I16_SPEC:
        /* the spec's short-int: RabbitMQ has no 'U'; it is a signed 16 */
        out->kind = BROKER_V_I16;
        out->v.i = in->v.i16;
        return EDAD_OK;
    case AMQP_FIELD_U16:
        out->v.i = in->v.u16;
        return EDAD_OK;
    case AMQP_FIELD_I32:
        out->v.i = in->v.i32;
        return EDAD_OK;
    case AMQP_FIELD_U32:
        out->v.i = in->v.u32;
        return EDAD_OK;
    case AMQP_FIELD_I64:
        out->v.i = in->v.i64;
        return EDAD_OK;
    case AMQP_FIELD_U64:
        out->v.u = in->v.u64;
        return EDAD_OK;
    case AMQP_FIELD_TIMESTAMP:
        out->v.i = (int64_t)in->v.u64;
        return EDAD_OK;
    case AMQP_FIELD_FLOAT:
        out->v.d = in->v.f;
        return EDAD_OK;
    case AMQP_FIELD_DOUBLE:
        out->v.d = in->v.d;
        return EDAD_OK;
    case AMQP_FIELD_DECIMAL:
        out->v.dec.scale = in->v.decimal.scale;
        out->v.dec.value = in->v.decimal.value;
        return EDAD_OK;
    case AMQP_FIELD_LONGSTR:
    case AMQP_FIELD_BYTES:
        out->v.str = in->v.str;
        return EDAD_OK;
    case AMQP_FIELD_VOID:
        return EDAD_OK;
    case AMQP_FIELD_TABLE:
        return convert_table(&in->v.table, a, &out->v.table, depth);
    case AMQP_FIELD_ARRAY: {
        const struct amqp_array *arr = &in->v.array;
        if (arr->count == 0)
            return EDAD_OK;
        if (depth > AMQP_TABLE_MAX_DEPTH)
            return EDAD_ERR_MALFORMED;
        struct broker_value *vals = arena_alloc(a, sizeof(*vals) * arr->count);
        if (!vals)
            return EDAD_ERR_NOMEM;
        for (uint32_t i = 0; i < arr->count; i++) {
            edad_status st = convert_value(&arr->values[i], a, &vals[i], depth + 1);
            if (st != EDAD_OK)
                return st;
        }
        out->v.array.count = arr->count;
        out->v.array.values = vals;
        return EDAD_OK;
    }
    default:
        return EDAD_ERR_UNKNOWN;
    }
}

edad_status session_table_convert(const struct amqp_table *in, struct arena *a,
                                  struct broker_table *out)
{
    return convert_table(in, a, out, 0);
}
