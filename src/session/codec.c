/*
 * codec.c - the message codec the session registers with the broker: a
 * message's application headers and basic properties decoded from the
 * property bytes it keeps verbatim, and a copy with one header replaced
 * (the x-delay swap of delayed messages) or removed (BCC).  The broker calls it when no
 * connection is at hand (delayed releases, dedup keys, hash-property).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "session_priv.h"

static bool codec_decode(const struct message *m, struct arena *a,
                         struct amqp_basic_properties *props)
{
    return amqp_basic_properties_decode(message_props(m), a, props) == EDAD_OK;
}

static const struct broker_table *codec_headers(void *ctx, const struct message *m,
                                                struct arena *a)
{
    EDAD_UNUSED(ctx);
    struct amqp_basic_properties props;
    if (!codec_decode(m, a, &props) || !(props.flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    struct broker_table *t = arena_alloc(a, sizeof(*t));
    if (!t || session_table_convert(&props.headers, a, t) != EDAD_OK)
        return NULL;
    return t;
}

static bool codec_property(void *ctx, const struct message *m, const char *name,
                           struct arena *a, struct edad_bytes *out)
{
    EDAD_UNUSED(ctx);
    struct amqp_basic_properties props;
    if (!codec_decode(m, a, &props))
        return false;
    if (strcmp(name, "correlation_id") == 0 && (props.flags & AMQP_BASIC_CORRELATION_ID_FLAG)) {
        *out = props.correlation_id;
        return true;
    }
    if (strcmp(name, "message_id") == 0 && (props.flags & AMQP_BASIC_MESSAGE_ID_FLAG)) {
        *out = props.message_id;
        return true;
    }
    if (strcmp(name, "timestamp") == 0 && (props.flags & AMQP_BASIC_TIMESTAMP_FLAG)) {
        char *buf = arena_alloc(a, 24);
        if (!buf)
            return false;
        int n = snprintf(buf, 24, "%" PRIu64, props.timestamp);
        *out = (struct edad_bytes){(const uint8_t *)buf, (size_t)n};
        return true;
    }
    return false;
}

/* A copy of m with header key set to the integer *v, or removed when v is NULL. */
static struct message *codec_rewrite_header(const struct message *m, const char *key,
                                            const int64_t *v)
{
    struct arena a;
    struct message *out = NULL;
    struct amqp_basic_properties props;
    arena_init(&a, 0);
    if (!codec_decode(m, &a, &props))
        goto done;
    uint32_t n = (props.flags & AMQP_BASIC_HEADERS_FLAG) ? props.headers.count : 0;
    struct amqp_table_entry *e = arena_alloc(&a, sizeof(*e) * (n + 1));
    if (!e)
        goto done;
    uint32_t k = 0, at = n;
    for (uint32_t i = 0; i < n; i++) {
        if (bytes_eq_cstr(props.headers.entries[i].key, key)) {
            if (!v)
                continue;       /* removed (every copy of the key) */
            if (at == n)
                at = k;         /* replaced in place, order kept */
        }
        e[k++] = props.headers.entries[i];
    }
    if (v && at == n) {
        memset(&e[k], 0, sizeof(e[k]));
        e[k].key = bytes_from_cstr(key);
        at = k++;
    }
    if (v && *v >= INT32_MIN && *v <= INT32_MAX) {
        e[at].value.kind = AMQP_FIELD_I32;
        e[at].value.v.i32 = (int32_t)*v;
    } else if (v) {
        e[at].value.kind = AMQP_FIELD_I64;
        e[at].value.v.i64 = *v;
    }
    if (v)
        props.flags |= AMQP_BASIC_HEADERS_FLAG;
    /* a removal keeps the headers property, empty if BCC was alone (RabbitMQ) */
    props.headers.count = k;
    props.headers.entries = e;
    props.headers.raw = EDAD_BYTES_NULL;
    size_t cap = amqp_basic_properties_encoded_size(&props), len = 0;
    uint8_t *buf = arena_alloc(&a, cap);
    if (!buf || amqp_basic_properties_encode(&props, buf, cap, &len) != EDAD_OK)
        goto done;
    int prio = message_priority(m);
    struct message_info info = {
        .persistent = message_is_persistent(m),
        .has_priority = prio >= 0,
        .priority = prio >= 0 ? (uint8_t)prio : 0,
        .expiration_ms = message_expiration_ms(m),
    };
    struct edad_bytes body = message_body(m);
    out = message_new(message_exchange(m), message_routing_key(m),
                      (struct edad_bytes){buf, len}, body.len, &info);
    if (out && body.len)
        memcpy(message_body_mut(out), body.ptr, body.len);
done:
    arena_free(&a);
    return out;
}

static struct message *codec_with_header_int(void *ctx, const struct message *m,
                                             const char *key, int64_t v)
{
    EDAD_UNUSED(ctx);
    return codec_rewrite_header(m, key, &v);
}

static struct message *codec_without_header(void *ctx, const struct message *m,
                                            const char *key)
{
    EDAD_UNUSED(ctx);
    return codec_rewrite_header(m, key, NULL);
}

static const struct broker_codec session_codec = {
    .ctx = NULL,
    .headers = codec_headers,
    .property = codec_property,
    .with_header_int = codec_with_header_int,
    .without_header = codec_without_header,
};

void session_codec_register(struct broker *b)
{
    broker_set_codec(b, &session_codec);
}
