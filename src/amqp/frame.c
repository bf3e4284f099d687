/*
 * frame.c - AMQP 0-9-1 framing: split a byte stream into frames (size
 * checked against frame_max as soon as the 7-byte header is in, before
 * anything else), write frame headers and whole method / content-header
 * frames, and decode/encode content-header payloads.  Knows nothing about
 * connections, channels or which frame may come when: that is session/.
 */
#include <string.h>

#include "wire.h"

const uint8_t amqp_protocol_header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

const uint8_t amqp_heartbeat_frame[AMQP_FRAME_OVERHEAD] = {
    AMQP_FRAME_TYPE_HEARTBEAT, 0, 0, 0, 0, 0, 0, AMQP_FRAME_END_OCTET,
};

edad_status amqp_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max,
                             struct amqp_frame *out, size_t *consumed, size_t *need)
{
    if (len < AMQP_FRAME_HEADER_SIZE) {
        if (need)
            *need = AMQP_FRAME_HEADER_SIZE;
        return EDAD_AGAIN;
    }
    uint32_t size = (uint32_t)buf[3] << 24 | (uint32_t)buf[4] << 16 |
                    (uint32_t)buf[5] << 8 | (uint32_t)buf[6];
    uint64_t total = (uint64_t)size + AMQP_FRAME_OVERHEAD;
    if (frame_max != 0 && total > frame_max)
        return EDAD_ERR_TOO_LARGE;
#if SIZE_MAX < UINT64_MAX
    if (total > SIZE_MAX)
        return EDAD_ERR_TOO_LARGE;
#endif
    switch (buf[0]) {
    case AMQP_FRAME_TYPE_METHOD:
    case AMQP_FRAME_TYPE_HEADER:
    case AMQP_FRAME_TYPE_BODY:
    case AMQP_FRAME_TYPE_HEARTBEAT:
        break;
    default:
        return EDAD_ERR_UNKNOWN;
    }
    if (len < total) {
        if (need)
            *need = (size_t)total;
        return EDAD_AGAIN;
    }
    if (buf[AMQP_FRAME_HEADER_SIZE + size] != AMQP_FRAME_END_OCTET)
        return EDAD_ERR_FRAME_END;
    out->type = buf[0];
    out->channel = (uint16_t)((uint16_t)buf[1] << 8 | buf[2]);
    out->payload.ptr = buf + AMQP_FRAME_HEADER_SIZE;
    out->payload.len = size;
    *consumed = (size_t)total;
    return EDAD_OK;
}

void amqp_frame_header_write(uint8_t out[7], uint8_t type, uint16_t channel, uint32_t size)
{
    out[0] = type;
    out[1] = (uint8_t)(channel >> 8);
    out[2] = (uint8_t)channel;
    out[3] = (uint8_t)(size >> 24);
    out[4] = (uint8_t)(size >> 16);
    out[5] = (uint8_t)(size >> 8);
    out[6] = (uint8_t)size;
}

/* Wrap a payload already written at buf + 7 into a frame. */
static edad_status frame_close(uint8_t type, uint16_t channel, uint8_t *buf, size_t cap,
                               size_t payload_len, size_t *len)
{
    if (payload_len > UINT32_MAX)
        return EDAD_ERR_TOO_LARGE;
    if (cap - AMQP_FRAME_HEADER_SIZE - payload_len < AMQP_FRAME_END_SIZE)
        return EDAD_ERR_NOSPACE;
    amqp_frame_header_write(buf, type, channel, (uint32_t)payload_len);
    buf[AMQP_FRAME_HEADER_SIZE + payload_len] = AMQP_FRAME_END_OCTET;
    *len = payload_len + AMQP_FRAME_OVERHEAD;
    return EDAD_OK;
}

edad_status amqp_frame_encode_method(uint16_t channel, const struct amqp_method *m,
                                     uint8_t *buf, size_t cap, size_t *len)
{
    size_t n;
    if (cap < AMQP_FRAME_OVERHEAD)
        return EDAD_ERR_NOSPACE;
    edad_status st = amqp_method_encode(m, buf + AMQP_FRAME_HEADER_SIZE,
                                        cap - AMQP_FRAME_OVERHEAD, &n);
    if (st != EDAD_OK)
        return st;
    return frame_close(AMQP_FRAME_TYPE_METHOD, channel, buf, cap, n, len);
}

/* ---- content header ------------------------------------------------------ */

#define CONTENT_HEADER_FIXED 12   /* class-id(2) weight(2) body-size(8) */

edad_status amqp_content_header_decode(struct edad_bytes payload, struct arena *a,
                                       struct amqp_content_header *out)
{
    struct wire_reader r;
    wire_reader_init(&r, payload.ptr, payload.len);
    out->class_id = wire_get_u16(&r);
    (void)wire_get_u16(&r);            /* weight: unused, RabbitMQ ignores it */
    out->body_size = wire_get_u64(&r);
    out->raw_props.ptr = r.p;
    out->raw_props.len = wire_remaining(&r);
    if (r.st != EDAD_OK) {
        memset(out, 0, sizeof(*out));
        return r.st;
    }
    if (out->class_id != AMQP_CLASS_BASIC) {
        memset(&out->props, 0, sizeof(out->props));
        return EDAD_ERR_UNKNOWN;
    }
    return amqp_basic_properties_decode(out->raw_props, a, &out->props);
}

edad_status amqp_content_header_encode(uint64_t body_size, const struct amqp_basic_properties *p,
                                       uint8_t *buf, size_t cap, size_t *len)
{
    size_t n;
    if (cap < CONTENT_HEADER_FIXED)
        return EDAD_ERR_NOSPACE;
    edad_status st = amqp_basic_properties_encode(p, buf + CONTENT_HEADER_FIXED,
                                                  cap - CONTENT_HEADER_FIXED, &n);
    if (st != EDAD_OK)
        return st;
    struct wire_writer w;
    wire_writer_init(&w, buf, CONTENT_HEADER_FIXED);
    wire_put_u16(&w, AMQP_CLASS_BASIC);
    wire_put_u16(&w, 0);
    wire_put_u64(&w, body_size);
    *len = CONTENT_HEADER_FIXED + n;
    return EDAD_OK;
}

edad_status amqp_frame_encode_content_header(uint16_t channel, uint64_t body_size,
                                             const struct amqp_basic_properties *p,
                                             uint8_t *buf, size_t cap, size_t *len)
{
    size_t n;
    if (cap < AMQP_FRAME_OVERHEAD)
        return EDAD_ERR_NOSPACE;
    edad_status st = amqp_content_header_encode(body_size, p, buf + AMQP_FRAME_HEADER_SIZE,
                                                cap - AMQP_FRAME_OVERHEAD, &n);
    if (st != EDAD_OK)
        return st;
    return frame_close(AMQP_FRAME_TYPE_HEADER, channel, buf, cap, n, len);
}
