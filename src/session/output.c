/*
 * output.c - encode frames straight into the transport's output buffer
 * (reserve, encode in place, commit: no intermediate copy, no malloc).
 * The transport batches everything queued in one loop iteration into one
 * write.  Content (deliveries, get-ok, returns): method + header + small
 * body in one reservation, large bodies by reference.
 */
#include <string.h>

#include "session_priv.h"

/* Large enough for every method edad sends (connection.start is ~600 B). */
#define OUTPUT_METHOD_RESERVE 4096

edad_status session_send_method(struct connection *c, uint16_t channel, const struct amqp_method *m)
{
    uint8_t *buf = net_transport_output_reserve(c->t, OUTPUT_METHOD_RESERVE);
    if (!buf)
        return EDAD_ERR_STATE;
    size_t len = 0;
    edad_status st = amqp_frame_encode_method(channel, m, buf, OUTPUT_METHOD_RESERVE, &len);
    if (st != EDAD_OK) {
        net_transport_output_commit(c->t, 0);
        log_error("connection %s: cannot encode %s: %s", c->name,
                  amqp_method_name(m->id) ? amqp_method_name(m->id) : "?", edad_strerror(st));
        return st;
    }
    return net_transport_output_commit(c->t, len);
}

edad_status session_send_heartbeat(struct connection *c)
{
    return net_transport_output_add(c->t, amqp_heartbeat_frame, sizeof(amqp_heartbeat_frame));
}

edad_status session_send_simple(struct connection *c, uint16_t channel, uint32_t method_id)
{
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = method_id;
    return session_send_method(c, channel, &m);
}

edad_status session_send_connection_close(struct connection *c, uint16_t code, const char *text,
                                          uint32_t method_id)
{
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = AMQP_CONNECTION_CLOSE;
    m.u.connection_close.reply_code = code;
    m.u.connection_close.reply_text = bytes_from_cstr(text);
    if (m.u.connection_close.reply_text.len > 255)
        m.u.connection_close.reply_text.len = 255;
    m.u.connection_close.class_id = AMQP_METHOD_CLASS_ID(method_id);
    m.u.connection_close.method_id = AMQP_METHOD_METHOD_ID(method_id);
    return session_send_method(c, 0, &m);
}

edad_status session_send_channel_close(struct connection *c, uint16_t channel, uint16_t code,
                                       const char *text, uint32_t method_id)
{
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = AMQP_CHANNEL_CLOSE;
    m.u.channel_close.reply_code = code;
    m.u.channel_close.reply_text = bytes_from_cstr(text);
    if (m.u.channel_close.reply_text.len > 255)
        m.u.channel_close.reply_text.len = 255;
    m.u.channel_close.class_id = AMQP_METHOD_CLASS_ID(method_id);
    m.u.channel_close.method_id = AMQP_METHOD_METHOD_ID(method_id);
    return session_send_method(c, channel, &m);
}

/* ---- content (deliveries, basic.return, basic.get-ok) ----------------------- */

/* Bodies up to this size are copied; larger ones go out by reference. */
#define OUTPUT_COPY_BODY_MAX 2048

static void output_unref_message(const void *data, size_t len, void *arg)
{
    EDAD_UNUSED(data);
    EDAD_UNUSED(len);
    struct message *m = arg;
    message_unref(&m);
}

/* Big-endian stores written out so the compiler merges them (no loop). */
static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* amqp_frame_header_write, inline: three per delivery. */
static inline void frame_header(uint8_t *p, uint8_t type, uint16_t channel, uint32_t size)
{
    p[0] = type;
    put_be16(p + 1, channel);
    put_be32(p + 3, size);
}

/* The largest method payload a content method can have: class, method,
 * three shortstrs and a few integers. */
#define OUTPUT_CONTENT_METHOD_MAX (4 + 3 * 256 + 32)

/* Payload bytes per body frame under c's frame_max. */
static size_t content_chunk_max(const struct connection *c, size_t body_len)
{
    size_t chunk_max = c->frame_max ? c->frame_max - AMQP_FRAME_OVERHEAD : body_len;
    return chunk_max ? chunk_max : 1;
}

/* Bytes to reserve after the method payload: method frame overhead, the
 * content header frame, and a small body's frames. */
static size_t content_reserve(size_t body_len, size_t chunk_max, size_t props_len)
{
    size_t reserve = AMQP_FRAME_OVERHEAD + AMQP_FRAME_OVERHEAD + 12 + props_len;
    if (body_len <= OUTPUT_COPY_BODY_MAX) {
        size_t nframes = body_len <= chunk_max ? (body_len != 0)
                                               : (body_len + chunk_max - 1) / chunk_max;
        reserve += body_len + AMQP_FRAME_OVERHEAD * nframes;
    }
    return reserve;
}

/*
 * buf holds the method frame's header room (7 bytes) and its payload of
 * method_len bytes, in the reservation: close the method frame, add the
 * content header and the body frames, commit.  A large body goes by
 * reference.
 */
static edad_status content_finish(struct connection *c, uint16_t channel, uint8_t *buf,
                                  size_t method_len, struct message *msg,
                                  struct edad_bytes body, size_t chunk_max,
                                  struct edad_bytes props)
{
    frame_header(buf, AMQP_FRAME_TYPE_METHOD, channel, (uint32_t)method_len);
    size_t len = AMQP_FRAME_HEADER_SIZE + method_len;
    buf[len++] = AMQP_FRAME_END_OCTET;

    /* content header: class, weight 0, body size, the property bytes as published */
    uint8_t *h = buf + len;
    frame_header(h, AMQP_FRAME_TYPE_HEADER, channel, (uint32_t)(12 + props.len));
    put_be16(h + 7, AMQP_CLASS_BASIC);
    put_be16(h + 9, 0);
    put_be64(h + 11, body.len);
    if (props.len)
        memcpy(h + 19, props.ptr, props.len);
    h[19 + props.len] = AMQP_FRAME_END_OCTET;
    len += AMQP_FRAME_OVERHEAD + 12 + props.len;

    if (body.len <= OUTPUT_COPY_BODY_MAX) {
        for (size_t off = 0; off < body.len; off += chunk_max) {
            size_t n = body.len - off < chunk_max ? body.len - off : chunk_max;
            frame_header(buf + len, AMQP_FRAME_TYPE_BODY, channel, (uint32_t)n);
            memcpy(buf + len + AMQP_FRAME_HEADER_SIZE, body.ptr + off, n);
            buf[len + AMQP_FRAME_HEADER_SIZE + n] = AMQP_FRAME_END_OCTET;
            len += n + AMQP_FRAME_OVERHEAD;
        }
        return net_transport_output_commit(c->t, len);
    }
    edad_status st = net_transport_output_commit(c->t, len);
    /* big body: frame headers copied, body bytes by reference (zero-copy) */
    for (size_t off = 0; off < body.len && st == EDAD_OK; off += chunk_max) {
        size_t n = body.len - off < chunk_max ? body.len - off : chunk_max;
        uint8_t fh[AMQP_FRAME_HEADER_SIZE];
        frame_header(fh, AMQP_FRAME_TYPE_BODY, channel, (uint32_t)n);
        st = net_transport_output_add(c->t, fh, sizeof(fh));
        if (st == EDAD_OK)
            st = net_transport_output_add_ref(c->t, body.ptr + off, n, output_unref_message,
                                              message_ref(msg));
        static const uint8_t end = AMQP_FRAME_END_OCTET;
        if (st == EDAD_OK)
            st = net_transport_output_add(c->t, &end, 1);
    }
    return st;
}

edad_status session_send_content_raw(struct connection *c, uint16_t channel,
                                     const uint8_t *method, size_t method_len,
                                     struct message *msg)
{
    return session_send_content_props(c, channel, method, method_len, msg, message_props(msg));
}

edad_status session_send_content_props(struct connection *c, uint16_t channel,
                                       const uint8_t *method, size_t method_len,
                                       struct message *msg, struct edad_bytes props)
{
    struct edad_bytes body = message_body(msg);
    size_t chunk_max = content_chunk_max(c, body.len);
    /* one reservation for method + header (+ small body): no copy between */
    uint8_t *buf = net_transport_output_reserve(c->t, method_len +
                                                content_reserve(body.len, chunk_max, props.len));
    if (!buf)
        return EDAD_ERR_STATE;
    memcpy(buf + AMQP_FRAME_HEADER_SIZE, method, method_len);
    return content_finish(c, channel, buf, method_len, msg, body, chunk_max, props);
}

static inline uint8_t *put_shortstr(uint8_t *p, const void *s, size_t n)
{
    *p++ = (uint8_t)n;
    if (n)
        memcpy(p, s, n);
    return p + n;
}

edad_status session_send_deliver(struct connection *c, uint16_t channel,
                                 const struct session_deliver *d, struct message *msg,
                                 const struct edad_bytes *props)
{
    struct edad_bytes ex = message_exchange(msg), rk = message_routing_key(msg);
    struct edad_bytes pr = props ? *props : message_props(msg);
    struct edad_bytes body = message_body(msg);
    size_t chunk_max = content_chunk_max(c, body.len);
    /* class+method, [consumer tag], delivery tag, redelivered, exchange,
     * routing key, [message count] */
    size_t method_len = 4 + (d->get_ok ? 4 : 1 + (size_t)d->ctag_len) + 8 + 1 + 1 + ex.len +
                        1 + rk.len;
    uint8_t *buf = net_transport_output_reserve(c->t, method_len +
                                                content_reserve(body.len, chunk_max, pr.len));
    if (!buf)
        return EDAD_ERR_STATE;
    uint8_t *p = buf + AMQP_FRAME_HEADER_SIZE;
    if (d->get_ok) {
        put_be32(p, AMQP_BASIC_GET_OK);
        p += 4;
    } else {
        put_be32(p, AMQP_BASIC_DELIVER);
        p = put_shortstr(p + 4, d->ctag, d->ctag_len);
    }
    put_be64(p, d->tag);
    p[8] = d->redelivered ? 1 : 0;
    p = put_shortstr(p + 9, ex.ptr, ex.len);
    p = put_shortstr(p, rk.ptr, rk.len);
    if (d->get_ok)
        put_be32(p, d->message_count);
    return content_finish(c, channel, buf, method_len, msg, body, chunk_max, pr);
}

edad_status session_send_content(struct connection *c, uint16_t channel,
                                 const struct amqp_method *m, struct message *msg)
{
    uint8_t method[OUTPUT_CONTENT_METHOD_MAX];
    size_t len = 0;
    edad_status st = amqp_method_encode(m, method, sizeof(method), &len);
    if (st != EDAD_OK) {
        log_error("connection %s: cannot encode %s: %s", c->name,
                  amqp_method_name(m->id) ? amqp_method_name(m->id) : "?", edad_strerror(st));
        return st;
    }
    return session_send_content_raw(c, channel, method, len, msg);
}
