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

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The largest method payload a content method can have: class, method,
 * three shortstrs and a few integers. */
#define OUTPUT_CONTENT_METHOD_MAX (4 + 3 * 256 + 32)

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
    size_t chunk_max = c->frame_max ? c->frame_max - AMQP_FRAME_OVERHEAD : body.len;
    if (chunk_max == 0)
        chunk_max = 1;
    bool copy = body.len <= OUTPUT_COPY_BODY_MAX;
    size_t nframes = body.len ? (body.len + chunk_max - 1) / chunk_max : 0;
    size_t reserve = AMQP_FRAME_OVERHEAD + method_len + AMQP_FRAME_OVERHEAD + 12 + props.len;
    if (copy)
        reserve += body.len + AMQP_FRAME_OVERHEAD * nframes;

    /* one reservation for method + header (+ small body): no copy between */
    uint8_t *buf = net_transport_output_reserve(c->t, reserve);
    if (!buf)
        return EDAD_ERR_STATE;
    amqp_frame_header_write(buf, AMQP_FRAME_TYPE_METHOD, channel, (uint32_t)method_len);
    memcpy(buf + AMQP_FRAME_HEADER_SIZE, method, method_len);
    size_t len = AMQP_FRAME_HEADER_SIZE + method_len;
    buf[len++] = AMQP_FRAME_END_OCTET;

    /* content header: class, weight 0, body size, the property bytes as published */
    uint8_t *h = buf + len;
    amqp_frame_header_write(h, AMQP_FRAME_TYPE_HEADER, channel, (uint32_t)(12 + props.len));
    h[7] = 0;
    h[8] = AMQP_CLASS_BASIC;
    h[9] = 0;
    h[10] = 0;
    put_u64(h + 11, body.len);
    if (props.len)
        memcpy(h + 19, props.ptr, props.len);
    h[19 + props.len] = AMQP_FRAME_END_OCTET;
    len += AMQP_FRAME_OVERHEAD + 12 + props.len;

    if (copy) {
        for (size_t off = 0; off < body.len; off += chunk_max) {
            size_t n = body.len - off < chunk_max ? body.len - off : chunk_max;
            amqp_frame_header_write(buf + len, AMQP_FRAME_TYPE_BODY, channel, (uint32_t)n);
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
        amqp_frame_header_write(fh, AMQP_FRAME_TYPE_BODY, channel, (uint32_t)n);
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
