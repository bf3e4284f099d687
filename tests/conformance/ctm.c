/*
 * ctm.c - messaging helpers for the issue-3 conformance suites (see ctm.h).
 * Hand-packed from the 0-9-1 spec with rawamqp.h; decodes only the reply
 * arguments the suites assert on.  Failure messages name what arrived.
 */
#include "ctm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- names and server identity ------------------------------------------- */

void ctm_name(char *out, size_t len, const char *base)
{
    static unsigned seq;
    snprintf(out, len, "edadtest.%s.%d.%u", base, (int)getpid(), seq++);
}

bool ctm_server_is_edad(const struct harness_server *s)
{
    if (!s->external)
        return true;
    static int cached = -1;
    if (cached >= 0)
        return cached == 1;
    struct raw_conn c;
    struct raw_frame f;
    struct raw_start st;
    char product[128] = "";
    ct_start(&c, s, &f);
    if (raw_decode_start(&f, &st))
        raw_table_get_string(st.server_properties, st.server_properties_len, "product", product,
                             sizeof(product));
    raw_frame_free(&f);
    raw_close(&c);
    cached = strcmp(product, "edad") == 0 ? 1 : 0;
    return cached == 1;
}

/* ---- argument tables -------------------------------------------------------- */

void ctm_table_str(struct raw_buf *t, const char *key, const char *value)
{
    size_t m = raw_table_begin(t);
    raw_table_put_longstr(t, key, value);
    raw_table_end(t, m);
}

void ctm_table_int(struct raw_buf *t, const char *key, int32_t value)
{
    size_t m = raw_table_begin(t);
    raw_table_put_int(t, key, value);
    raw_table_end(t, m);
}

static void ctm_put_table(struct raw_buf *a, const struct raw_buf *table)
{
    if (table && table->len >= 4)
        raw_put_bytes(a, table->data, table->len);
    else
        raw_put_u32(a, 0);
}

/* ---- sending ---------------------------------------------------------------- */

static void ctm_send_args(struct raw_conn *c, uint16_t ch, uint16_t class_id, uint16_t method_id,
                          struct raw_buf *a)
{
    ct_send_method(c, ch, class_id, method_id, a);
    raw_buf_free(a);
}

void ctm_send_exchange_declare(struct raw_conn *c, uint16_t ch, const char *name,
                               const char *type, unsigned flags, const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, name);
    raw_put_shortstr(&a, type);
    raw_put_u8(&a, (uint8_t)flags);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_DECLARE, &a);
}

void ctm_send_exchange_delete(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, name);
    raw_put_u8(&a, (uint8_t)flags);
    ctm_send_args(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_DELETE, &a);
}

static void ctm_send_e2e(struct raw_conn *c, uint16_t ch, uint16_t method, const char *dest,
                         const char *src, const char *rk, bool nowait,
                         const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, dest);
    raw_put_shortstr(&a, src);
    raw_put_shortstr(&a, rk);
    raw_put_u8(&a, nowait ? 1 : 0);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_EXCHANGE, method, &a);
}

void ctm_send_exchange_bind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                            const char *rk, bool nowait, const struct raw_buf *args)
{
    ctm_send_e2e(c, ch, CTM_EXCHANGE_BIND, dest, src, rk, nowait, args);
}

void ctm_send_exchange_unbind(struct raw_conn *c, uint16_t ch, const char *dest,
                              const char *src, const char *rk, bool nowait,
                              const struct raw_buf *args)
{
    ctm_send_e2e(c, ch, CTM_EXCHANGE_UNBIND, dest, src, rk, nowait, args);
}

void ctm_send_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                            const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, name);
    raw_put_u8(&a, (uint8_t)flags);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_QUEUE, CTM_QUEUE_DECLARE, &a);
}

void ctm_send_queue_bind(struct raw_conn *c, uint16_t ch, const char *queue,
                         const char *exchange, const char *rk, bool nowait,
                         const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_shortstr(&a, exchange);
    raw_put_shortstr(&a, rk);
    raw_put_u8(&a, nowait ? 1 : 0);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_QUEUE, CTM_QUEUE_BIND, &a);
}

void ctm_send_queue_unbind(struct raw_conn *c, uint16_t ch, const char *queue,
                           const char *exchange, const char *rk, const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_shortstr(&a, exchange);
    raw_put_shortstr(&a, rk);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_QUEUE, CTM_QUEUE_UNBIND, &a);
}

void ctm_send_queue_purge(struct raw_conn *c, uint16_t ch, const char *queue, bool nowait)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_u8(&a, nowait ? 1 : 0);
    ctm_send_args(c, ch, RAW_QUEUE, CTM_QUEUE_PURGE, &a);
}

void ctm_send_queue_delete(struct raw_conn *c, uint16_t ch, const char *queue, unsigned flags)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_u8(&a, (uint8_t)flags);
    ctm_send_args(c, ch, RAW_QUEUE, CTM_QUEUE_DELETE, &a);
}

void ctm_send_basic_qos(struct raw_conn *c, uint16_t ch, uint32_t prefetch_size,
                        uint16_t prefetch_count, bool global)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u32(&a, prefetch_size);
    raw_put_u16(&a, prefetch_count);
    raw_put_u8(&a, global ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_QOS, &a);
}

void ctm_send_basic_consume(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                            unsigned flags, const struct raw_buf *args)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_shortstr(&a, tag);
    raw_put_u8(&a, (uint8_t)flags);
    ctm_put_table(&a, args);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_CONSUME, &a);
}

void ctm_send_basic_cancel(struct raw_conn *c, uint16_t ch, const char *tag, bool nowait)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_shortstr(&a, tag);
    raw_put_u8(&a, nowait ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_CANCEL, &a);
}

void ctm_send_basic_get(struct raw_conn *c, uint16_t ch, const char *queue, bool no_ack)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, queue);
    raw_put_u8(&a, no_ack ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_GET, &a);
}

void ctm_send_basic_ack(struct raw_conn *c, uint16_t ch, uint64_t tag, bool multiple)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u64(&a, tag);
    raw_put_u8(&a, multiple ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_ACK, &a);
}

void ctm_send_basic_nack(struct raw_conn *c, uint16_t ch, uint64_t tag, bool multiple,
                         bool requeue)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u64(&a, tag);
    raw_put_u8(&a, (uint8_t)((multiple ? 1 : 0) | (requeue ? 2 : 0)));
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_NACK, &a);
}

void ctm_send_basic_reject(struct raw_conn *c, uint16_t ch, uint64_t tag, bool requeue)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u64(&a, tag);
    raw_put_u8(&a, requeue ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, CTM_BASIC_REJECT, &a);
}

void ctm_send_basic_recover(struct raw_conn *c, uint16_t ch, bool requeue, bool async)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u8(&a, requeue ? 1 : 0);
    ctm_send_args(c, ch, RAW_BASIC, async ? CTM_BASIC_RECOVER_ASYNC : CTM_BASIC_RECOVER, &a);
}

void ctm_send_confirm_select(struct raw_conn *c, uint16_t ch, bool nowait)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u8(&a, nowait ? 1 : 0);
    ctm_send_args(c, ch, CTM_CONFIRM, CTM_CONFIRM_SELECT, &a);
}

void ctm_send_tx(struct raw_conn *c, uint16_t ch, uint16_t method)
{
    ct_send_method(c, ch, CTM_TX, method, NULL);
}

/* ---- publishing ---------------------------------------------------------------- */

static void ctm_put_props(struct raw_buf *p, uint16_t *flags, const struct ctm_props *pr)
{
    *flags = 0;
    if (!pr)
        return;
#define CTM_STR(field, bit)                   \
    if (pr->field) {                          \
        *flags |= (bit);                      \
        raw_put_shortstr(p, pr->field);       \
    }
    CTM_STR(content_type, CTM_PROP_CONTENT_TYPE);
    CTM_STR(content_encoding, CTM_PROP_CONTENT_ENCODING);
    if (pr->headers) {
        *flags |= CTM_PROP_HEADERS;
        raw_put_bytes(p, pr->headers->data, pr->headers->len);
    }
    if (pr->delivery_mode) {
        *flags |= CTM_PROP_DELIVERY_MODE;
        raw_put_u8(p, pr->delivery_mode);
    }
    if (pr->has_priority) {
        *flags |= CTM_PROP_PRIORITY;
        raw_put_u8(p, pr->priority);
    }
    CTM_STR(correlation_id, CTM_PROP_CORRELATION_ID);
    CTM_STR(reply_to, CTM_PROP_REPLY_TO);
    CTM_STR(expiration, CTM_PROP_EXPIRATION);
    CTM_STR(message_id, CTM_PROP_MESSAGE_ID);
    if (pr->has_timestamp) {
        *flags |= CTM_PROP_TIMESTAMP;
        raw_put_u64(p, pr->timestamp);
    }
    CTM_STR(type, CTM_PROP_TYPE);
    CTM_STR(user_id, CTM_PROP_USER_ID);
    CTM_STR(app_id, CTM_PROP_APP_ID);
#undef CTM_STR
}

void ctm_put_publish(struct raw_buf *out, const struct raw_conn *c, uint16_t ch,
                     const char *exchange, const char *rk, unsigned flags,
                     const struct ctm_props *props, const void *body, size_t len, size_t chunk)
{
    struct raw_buf a, p;
    uint16_t pflags;
    raw_buf_init(&a);
    raw_buf_init(&p);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, exchange);
    raw_put_shortstr(&a, rk);
    raw_put_u8(&a, (uint8_t)flags);
    raw_frame_method(out, ch, RAW_BASIC, CTM_BASIC_PUBLISH, a.data, a.len);
    ctm_put_props(&p, &pflags, props);
    raw_frame_header(out, ch, RAW_BASIC, len, pflags, p.data, p.len);
    size_t max = c->frame_max ? c->frame_max - 8 : 131064;
    if (chunk == 0 || chunk > max)
        chunk = max;
    const uint8_t *b = body;
    for (size_t off = 0; off < len; off += chunk)
        raw_frame_body(out, ch, b + off, len - off < chunk ? len - off : chunk);
    raw_buf_free(&a);
    raw_buf_free(&p);
}

void ctm_publish(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                 unsigned flags, const struct ctm_props *props, const void *body, size_t len)
{
    struct raw_buf out;
    raw_buf_init(&out);
    ctm_put_publish(&out, c, ch, exchange, rk, flags, props, body, len, 0);
    ct_send(c, out.data, out.len);
    raw_buf_free(&out);
}

void ctm_publish_str(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                     const char *body)
{
    ctm_publish(c, ch, exchange, rk, 0, NULL, body, strlen(body));
}

/* ---- reading --------------------------------------------------------------------- */

void ctm_in_free(struct ctm_in *in)
{
    raw_frame_free(&in->frame);
    free(in->props);
    free(in->body);
    in->props = NULL;
    in->body = NULL;
}

bool ctm_in_is(const struct ctm_in *in, uint16_t ch, uint16_t class_id, uint16_t method_id)
{
    return in->channel == ch && in->class_id == class_id && in->method_id == method_id;
}

static const char *ctm_method_name(uint16_t cls, uint16_t m)
{
    switch (cls * 1000 + m) {
    case 20040: return "channel.close";
    case 20041: return "channel.close-ok";
    case 10050: return "connection.close";
    case 40011: return "exchange.declare-ok";
    case 40021: return "exchange.delete-ok";
    case 40031: return "exchange.bind-ok";
    case 40051: return "exchange.unbind-ok";
    case 50011: return "queue.declare-ok";
    case 50021: return "queue.bind-ok";
    case 50031: return "queue.purge-ok";
    case 50041: return "queue.delete-ok";
    case 50051: return "queue.unbind-ok";
    case 60011: return "basic.qos-ok";
    case 60021: return "basic.consume-ok";
    case 60030: return "basic.cancel";
    case 60031: return "basic.cancel-ok";
    case 60050: return "basic.return";
    case 60060: return "basic.deliver";
    case 60071: return "basic.get-ok";
    case 60072: return "basic.get-empty";
    case 60080: return "basic.ack";
    case 60111: return "basic.recover-ok";
    case 60120: return "basic.nack";
    case 85011: return "confirm.select-ok";
    case 90011: return "tx.select-ok";
    case 90021: return "tx.commit-ok";
    case 90031: return "tx.rollback-ok";
    default: return NULL;
    }
}

const char *ctm_in_describe(const struct ctm_in *in, char *buf, size_t len)
{
    const char *name = ctm_method_name(in->class_id, in->method_id);
    char nm[32];
    if (!name) {
        snprintf(nm, sizeof(nm), "method %u.%u", in->class_id, in->method_id);
        name = nm;
    }
    if (in->reply_code)
        snprintf(buf, len, "%s on channel %u: %u '%s'", name, in->channel, in->reply_code,
                 in->reply_text);
    else if (in->has_content)
        snprintf(buf, len, "%s on channel %u (tag %llu%s, rk '%s', body %zu octets '%.40s')",
                 name, in->channel, (unsigned long long)in->delivery_tag,
                 in->redelivered ? ", redelivered" : "", in->routing_key, in->body_len,
                 (const char *)in->body);
    else if (in->class_id == RAW_BASIC &&
             (in->method_id == CTM_BASIC_ACK || in->method_id == CTM_BASIC_NACK))
        snprintf(buf, len, "%s on channel %u (tag %llu%s)", name, in->channel,
                 (unsigned long long)in->delivery_tag, in->multiple ? ", multiple" : "");
    else
        snprintf(buf, len, "%s on channel %u", name, in->channel);
    return buf;
}

/* Decode the arguments the suites look at. */
static void ctm_decode_args(struct ctm_in *in)
{
    struct raw_cursor cur;
    raw_cursor_init(&cur, in->frame.payload + 4, in->frame.size - 4);
    switch (in->class_id * 1000 + in->method_id) {
    case 10050: /* connection.close */
    case 20040: /* channel.close */
        in->reply_code = raw_get_u16(&cur);
        raw_get_shortstr(&cur, in->reply_text, sizeof(in->reply_text));
        break;
    case 50011: /* queue.declare-ok */
        raw_get_shortstr(&cur, in->queue, sizeof(in->queue));
        in->message_count = raw_get_u32(&cur);
        in->consumer_count = raw_get_u32(&cur);
        break;
    case 50031: /* purge-ok */
    case 50041: /* delete-ok */
        in->message_count = raw_get_u32(&cur);
        break;
    case 60021: /* consume-ok */
    case 60031: /* cancel-ok */
    case 60030: /* cancel */
        raw_get_shortstr(&cur, in->consumer_tag, sizeof(in->consumer_tag));
        break;
    case 60050: /* return */
        in->reply_code = raw_get_u16(&cur);
        raw_get_shortstr(&cur, in->reply_text, sizeof(in->reply_text));
        raw_get_shortstr(&cur, in->exchange, sizeof(in->exchange));
        raw_get_shortstr(&cur, in->routing_key, sizeof(in->routing_key));
        break;
    case 60060: /* deliver */
        raw_get_shortstr(&cur, in->consumer_tag, sizeof(in->consumer_tag));
        in->delivery_tag = raw_get_u64(&cur);
        in->redelivered = raw_get_u8(&cur) & 1;
        raw_get_shortstr(&cur, in->exchange, sizeof(in->exchange));
        raw_get_shortstr(&cur, in->routing_key, sizeof(in->routing_key));
        break;
    case 60071: /* get-ok */
        in->delivery_tag = raw_get_u64(&cur);
        in->redelivered = raw_get_u8(&cur) & 1;
        raw_get_shortstr(&cur, in->exchange, sizeof(in->exchange));
        raw_get_shortstr(&cur, in->routing_key, sizeof(in->routing_key));
        in->message_count = raw_get_u32(&cur);
        break;
    case 60080: { /* ack */
        in->delivery_tag = raw_get_u64(&cur);
        in->multiple = raw_get_u8(&cur) & 1;
        break;
    }
    case 60120: { /* nack */
        in->delivery_tag = raw_get_u64(&cur);
        uint8_t bits = raw_get_u8(&cur);
        in->multiple = bits & 1;
        in->requeue = (bits & 2) != 0;
        break;
    }
    default:
        break;
    }
}

static bool ctm_carries_content(const struct ctm_in *in)
{
    return in->class_id == RAW_BASIC &&
           (in->method_id == CTM_BASIC_DELIVER || in->method_id == CTM_BASIC_GET_OK ||
            in->method_id == CTM_BASIC_RETURN);
}

/* Next non-heartbeat frame. */
static enum raw_rc ctm_read_frame(struct raw_conn *c, struct raw_frame *f, int timeout_ms)
{
    for (;;) {
        enum raw_rc rc = raw_read_frame(c, f, timeout_ms);
        if (rc != RAW_OK || f->type != RAW_FRAME_HEARTBEAT)
            return rc;
        raw_frame_free(f);
    }
}

/* The content header and body frames after a content-carrying method. */
static enum raw_rc ctm_read_content(struct raw_conn *c, struct ctm_in *in, int timeout_ms)
{
    struct raw_frame h;
    enum raw_rc rc = ctm_read_frame(c, &h, timeout_ms);
    if (rc != RAW_OK) {
        raw_frame_free(&h);
        return rc;
    }
    if (h.type != RAW_FRAME_HEADER || h.channel != in->channel || h.size < 14) {
        raw_frame_free(&h);
        return RAW_BAD;
    }
    struct raw_cursor cur;
    raw_cursor_init(&cur, h.payload, h.size);
    uint16_t cls = raw_get_u16(&cur);
    (void)raw_get_u16(&cur); /* weight */
    in->body_size = raw_get_u64(&cur);
    in->prop_flags = raw_get_u16(&cur);
    in->props_len = (uint32_t)cur.left;
    in->props = malloc(cur.left ? cur.left : 1);
    ck_assert(in->props != NULL);
    memcpy(in->props, cur.p, cur.left);
    raw_frame_free(&h);
    if (cls != RAW_BASIC || in->body_size > (64u << 20))
        return RAW_BAD;
    in->body = malloc((size_t)in->body_size + 1);
    ck_assert(in->body != NULL);
    in->has_content = true;
    while (in->body_len < in->body_size) {
        struct raw_frame b;
        rc = ctm_read_frame(c, &b, timeout_ms);
        if (rc != RAW_OK) {
            raw_frame_free(&b);
            return rc;
        }
        if (b.type != RAW_FRAME_BODY || b.channel != in->channel ||
            b.size > in->body_size - in->body_len || b.size == 0) {
            raw_frame_free(&b);
            return RAW_BAD;
        }
        memcpy(in->body + in->body_len, b.payload, b.size);
        in->body_len += b.size;
        in->body_frames++;
        if (b.size > in->largest_body_frame)
            in->largest_body_frame = b.size;
        raw_frame_free(&b);
    }
    in->body[in->body_len] = '\0';
    return RAW_OK;
}

enum raw_rc ctm_read(struct raw_conn *c, struct ctm_in *in, int timeout_ms)
{
    memset(in, 0, sizeof(*in));
    enum raw_rc rc = ctm_read_frame(c, &in->frame, timeout_ms);
    if (rc != RAW_OK)
        return rc;
    if (in->frame.type != RAW_FRAME_METHOD || in->frame.size < 4)
        return RAW_BAD;
    in->channel = in->frame.channel;
    in->class_id = in->frame.class_id;
    in->method_id = in->frame.method_id;
    ctm_decode_args(in);
    if (ctm_carries_content(in))
        return ctm_read_content(c, in, timeout_ms);
    return RAW_OK;
}

static const char *ctm_rc_name(enum raw_rc rc)
{
    switch (rc) {
    case RAW_OK: return "ok";
    case RAW_EOF: return "end of stream (server closed the connection)";
    case RAW_TIMEOUT: return "nothing (timed out)";
    case RAW_BAD: return "a malformed or unexpected frame";
    default: return "a socket error";
    }
}

void ctm_expect(struct raw_conn *c, struct ctm_in *in, uint16_t ch, uint16_t class_id,
                uint16_t method_id)
{
    enum raw_rc rc = ctm_read(c, in, CT_REPLY_MS);
    char d[512] = "";
    const char *want = ctm_method_name(class_id, method_id);
    if (rc != RAW_OK) {
        if (in->frame.payload)
            ctm_in_describe(in, d, sizeof(d));
        ck_abort_msg("expected %s (%u.%u) on channel %u, got %s %s", want ? want : "method",
                     class_id, method_id, ch, ctm_rc_name(rc), d);
    }
    if (!ctm_in_is(in, ch, class_id, method_id)) {
        ctm_in_describe(in, d, sizeof(d));
        ck_abort_msg("expected %s (%u.%u) on channel %u, got %s", want ? want : "method",
                     class_id, method_id, ch, d);
    }
}

void ctm_expect_deliver(struct raw_conn *c, struct ctm_in *in, uint16_t ch, const char *body)
{
    ctm_expect(c, in, ch, RAW_BASIC, CTM_BASIC_DELIVER);
    if (body)
        ck_assert_msg(in->body_len == strlen(body) && memcmp(in->body, body, in->body_len) == 0,
                      "delivered body '%s', want '%s'", (const char *)in->body, body);
}

/* Walk the property list up to `flag`; false when absent or malformed. */
static bool ctm_prop_find(const struct ctm_in *in, uint16_t flag, struct raw_cursor *cur)
{
    if (!(in->prop_flags & flag))
        return false;
    raw_cursor_init(cur, in->props, in->props_len);
    for (uint16_t bit = 0x8000; bit != flag; bit >>= 1) {
        if (!(in->prop_flags & bit))
            continue;
        if (bit == CTM_PROP_HEADERS) {
            uint32_t n;
            raw_get_longstr(cur, &n);
        } else if (bit == CTM_PROP_DELIVERY_MODE || bit == CTM_PROP_PRIORITY) {
            raw_get_u8(cur);
        } else if (bit == CTM_PROP_TIMESTAMP) {
            raw_get_u64(cur);
        } else {
            char skip[256];
            raw_get_shortstr(cur, skip, sizeof(skip));
        }
    }
    return !cur->bad;
}

bool ctm_prop_str(const struct ctm_in *in, uint16_t flag, char *out, size_t len)
{
    struct raw_cursor cur;
    if (!ctm_prop_find(in, flag, &cur))
        return false;
    raw_get_shortstr(&cur, out, len);
    return !cur.bad;
}

bool ctm_prop_u8(const struct ctm_in *in, uint16_t flag, uint8_t *out)
{
    struct raw_cursor cur;
    if (!ctm_prop_find(in, flag, &cur))
        return false;
    *out = raw_get_u8(&cur);
    return !cur.bad;
}

bool ctm_prop_headers(const struct ctm_in *in, const uint8_t **tbl, uint32_t *len)
{
    struct raw_cursor cur;
    if (!ctm_prop_find(in, CTM_PROP_HEADERS, &cur))
        return false;
    *tbl = raw_get_longstr(&cur, len);
    return !cur.bad;
}

/* ---- do it and wait for the -ok ------------------------------------------------ */

static void ctm_expect_ok(struct raw_conn *c, uint16_t ch, uint16_t class_id, uint16_t method_id)
{
    struct ctm_in in;
    ctm_expect(c, &in, ch, class_id, method_id);
    ctm_in_free(&in);
}

void ctm_exchange_declare(struct raw_conn *c, uint16_t ch, const char *name, const char *type,
                          unsigned flags, const struct raw_buf *args)
{
    ctm_send_exchange_declare(c, ch, name, type, flags, args);
    if (!(flags & CTM_X_NOWAIT))
        ctm_expect_ok(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_DECLARE_OK);
}

void ctm_exchange_delete(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags)
{
    ctm_send_exchange_delete(c, ch, name, flags);
    if (!(flags & CTM_XD_NOWAIT))
        ctm_expect_ok(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_DELETE_OK);
}

void ctm_exchange_bind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                       const char *rk, const struct raw_buf *args)
{
    ctm_send_exchange_bind(c, ch, dest, src, rk, false, args);
    ctm_expect_ok(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_BIND_OK);
}

void ctm_exchange_unbind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                         const char *rk, const struct raw_buf *args)
{
    ctm_send_exchange_unbind(c, ch, dest, src, rk, false, args);
    ctm_expect_ok(c, ch, RAW_EXCHANGE, CTM_EXCHANGE_UNBIND_OK);
}

void ctm_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                       const struct raw_buf *args, char *name_out, size_t name_len,
                       uint32_t *messages, uint32_t *consumers)
{
    struct ctm_in in;
    ctm_send_queue_declare(c, ch, name, flags, args);
    if (flags & CTM_Q_NOWAIT)
        return;
    ctm_expect(c, &in, ch, RAW_QUEUE, CTM_QUEUE_DECLARE_OK);
    if (name_out)
        snprintf(name_out, name_len, "%s", in.queue);
    if (messages)
        *messages = in.message_count;
    if (consumers)
        *consumers = in.consumer_count;
    ctm_in_free(&in);
}

void ctm_queue_temp(struct raw_conn *c, uint16_t ch, char *out, size_t len)
{
    ctm_queue_declare(c, ch, "", CTM_Q_EXCLUSIVE, NULL, out, len, NULL, NULL);
    ck_assert_msg(out[0] != '\0', "server-named queue has an empty name");
}

uint32_t ctm_queue_count(struct raw_conn *c, uint16_t ch, const char *name, uint32_t *consumers)
{
    uint32_t n = 0;
    ctm_queue_declare(c, ch, name, CTM_Q_PASSIVE, NULL, NULL, 0, &n, consumers);
    return n;
}

void ctm_queue_bind(struct raw_conn *c, uint16_t ch, const char *queue, const char *exchange,
                    const char *rk, const struct raw_buf *args)
{
    ctm_send_queue_bind(c, ch, queue, exchange, rk, false, args);
    ctm_expect_ok(c, ch, RAW_QUEUE, CTM_QUEUE_BIND_OK);
}

void ctm_queue_unbind(struct raw_conn *c, uint16_t ch, const char *queue, const char *exchange,
                      const char *rk, const struct raw_buf *args)
{
    ctm_send_queue_unbind(c, ch, queue, exchange, rk, args);
    ctm_expect_ok(c, ch, RAW_QUEUE, CTM_QUEUE_UNBIND_OK);
}

uint32_t ctm_queue_purge(struct raw_conn *c, uint16_t ch, const char *queue)
{
    struct ctm_in in;
    ctm_send_queue_purge(c, ch, queue, false);
    ctm_expect(c, &in, ch, RAW_QUEUE, CTM_QUEUE_PURGE_OK);
    uint32_t n = in.message_count;
    ctm_in_free(&in);
    return n;
}

uint32_t ctm_queue_delete(struct raw_conn *c, uint16_t ch, const char *queue, unsigned flags)
{
    struct ctm_in in;
    ctm_send_queue_delete(c, ch, queue, flags);
    if (flags & CTM_QD_NOWAIT)
        return 0;
    ctm_expect(c, &in, ch, RAW_QUEUE, CTM_QUEUE_DELETE_OK);
    uint32_t n = in.message_count;
    ctm_in_free(&in);
    return n;
}

void ctm_basic_qos(struct raw_conn *c, uint16_t ch, uint16_t prefetch_count, bool global)
{
    ctm_send_basic_qos(c, ch, 0, prefetch_count, global);
    ctm_expect_ok(c, ch, RAW_BASIC, CTM_BASIC_QOS_OK);
}

void ctm_basic_consume(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                       unsigned flags, char *tag_out, size_t tag_len)
{
    struct ctm_in in;
    ctm_send_basic_consume(c, ch, queue, tag, flags, NULL);
    if (flags & CTM_C_NOWAIT) {
        if (tag_out)
            snprintf(tag_out, tag_len, "%s", tag);
        return;
    }
    ctm_expect(c, &in, ch, RAW_BASIC, CTM_BASIC_CONSUME_OK);
    if (tag[0])
        ck_assert_msg(strcmp(in.consumer_tag, tag) == 0, "consume-ok tag '%s', want '%s'",
                      in.consumer_tag, tag);
    if (tag_out)
        snprintf(tag_out, tag_len, "%s", in.consumer_tag);
    ctm_in_free(&in);
}

unsigned ctm_basic_cancel(struct raw_conn *c, uint16_t ch, const char *tag)
{
    unsigned skipped = 0;
    ctm_send_basic_cancel(c, ch, tag, false);
    for (;;) {
        struct ctm_in in;
        enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
        char d[512] = "";
        if (rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_DELIVER)) {
            skipped++;
            ctm_in_free(&in);
            continue;
        }
        if (rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_CANCEL_OK)) {
            ck_assert_msg(strcmp(in.consumer_tag, tag) == 0, "cancel-ok tag '%s', want '%s'",
                          in.consumer_tag, tag);
            ctm_in_free(&in);
            return skipped;
        }
        if (in.frame.payload)
            ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        ck_abort_msg("expected basic.cancel-ok, got %s %s", ctm_rc_name(rc), d);
    }
}

bool ctm_basic_get(struct raw_conn *c, uint16_t ch, const char *queue, bool no_ack,
                   struct ctm_in *in)
{
    ctm_send_basic_get(c, ch, queue, no_ack);
    enum raw_rc rc = ctm_read(c, in, CT_REPLY_MS);
    if (rc == RAW_OK && ctm_in_is(in, ch, RAW_BASIC, CTM_BASIC_GET_OK))
        return true;
    if (rc == RAW_OK && ctm_in_is(in, ch, RAW_BASIC, CTM_BASIC_GET_EMPTY)) {
        ctm_in_free(in);
        return false;
    }
    char d[512] = "";
    if (in->frame.payload)
        ctm_in_describe(in, d, sizeof(d));
    ck_abort_msg("expected basic.get-ok or get-empty, got %s %s", ctm_rc_name(rc), d);
    return false;
}

void ctm_confirm_select(struct raw_conn *c, uint16_t ch)
{
    ctm_send_confirm_select(c, ch, false);
    ctm_expect_ok(c, ch, CTM_CONFIRM, CTM_CONFIRM_SELECT_OK);
}

void ctm_tx(struct raw_conn *c, uint16_t ch, uint16_t method)
{
    ctm_send_tx(c, ch, method);
    ctm_expect_ok(c, ch, CTM_TX, (uint16_t)(method + 1));
}

void ctm_wait_count(struct raw_conn *c, uint16_t ch, const char *queue, uint32_t want)
{
    uint32_t n = 0;
    for (int waited = 0; waited <= CT_CLOSE_MS; waited += 20) {
        n = ctm_queue_count(c, ch, queue, NULL);
        if (n == want)
            return;
        harness_sleep_ms(20);
    }
    ck_abort_msg("queue '%s' holds %u ready messages, want %u", queue, n, want);
}

void ctm_expect_confirms(struct raw_conn *c, uint16_t ch, uint64_t first, uint64_t last,
                         struct ctm_confirms *out)
{
    struct ctm_confirms st = {0, 0, 0, 0};
    uint64_t settled = first - 1;
    while (settled < last) {
        struct ctm_in in;
        enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
        char d[512] = "";
        bool ack = rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_ACK);
        bool nack = rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_NACK);
        if (!ack && !nack) {
            if (in.frame.payload)
                ctm_in_describe(&in, d, sizeof(d));
            ctm_in_free(&in);
            ck_abort_msg("waiting for confirms up to %llu (settled %llu): got %s %s",
                         (unsigned long long)last, (unsigned long long)settled, ctm_rc_name(rc),
                         d);
        }
        st.frames++;
        uint64_t tag = in.delivery_tag;
        ck_assert_msg(tag > settled && tag <= last,
                      "confirm for sequence %llu%s out of order (settled up to %llu, last %llu)",
                      (unsigned long long)tag, in.multiple ? " (multiple)" : "",
                      (unsigned long long)settled, (unsigned long long)last);
        uint64_t count = 1;
        if (in.multiple) {
            st.multiple_frames++;
            count = tag - settled;
            settled = tag;
        } else {
            ck_assert_msg(tag == settled + 1,
                          "single confirm for %llu skips %llu (confirms are in order here)",
                          (unsigned long long)tag, (unsigned long long)(settled + 1));
            settled = tag;
        }
        if (ack)
            st.acked += count;
        else
            st.nacked += count;
        ctm_in_free(&in);
    }
    if (out)
        *out = st;
}

void ctm_expect_channel_error(struct raw_conn *c, uint16_t ch, uint16_t code,
                              const char *fragments, int class_id, int method_id)
{
    char err[512];
    ct_expect_channel_close(c, ch, code, fragments, class_id, method_id);
    ck_assert_msg(raw_channel_open(c, ch, err, sizeof(err)),
                  "the connection should stay usable after a channel error: %s", err);
}
