/*
 * amqp.h - the AMQP 0-9-1 wire codec: bytes <-> typed structs.
 *
 * No I/O, no broker state, no libevent.  Decoding never reads outside the
 * given slice and never aborts: malformed input yields a negative status.
 * Decoded strings are slices borrowed from the input; tables and arrays are
 * materialised in a caller-provided arena (see core.h) that the caller
 * resets after the frame is handled.  The per-method structs, method ids and
 * protocol constants are generated from the spec (amqp_methods.gen.h).
 */
#ifndef EDAD_AMQP_H
#define EDAD_AMQP_H

#include "edad/core.h"

/* ---- frames -------------------------------------------------------------- */

#define AMQP_FRAME_HEADER_SIZE 7   /* type(1) channel(2) size(4) */
#define AMQP_FRAME_END_SIZE 1
#define AMQP_FRAME_OVERHEAD 8      /* header + frame-end */
#define AMQP_FRAME_END_OCTET 0xCE

enum amqp_frame_type {
    AMQP_FRAME_TYPE_METHOD = 1,
    AMQP_FRAME_TYPE_HEADER = 2,
    AMQP_FRAME_TYPE_BODY = 3,
    AMQP_FRAME_TYPE_HEARTBEAT = 8,
};

/* The 8-byte protocol header a 0-9-1 client sends first. */
extern const uint8_t amqp_protocol_header[8];

struct amqp_frame {
    uint8_t type;
    uint16_t channel;
    struct edad_bytes payload;   /* borrowed from the input buffer */
};

/*
 * Parse one frame from buf[0..len).  frame_max is the negotiated maximum
 * frame size including the 8 bytes of overhead (0 = no limit).
 *   EDAD_OK       *out filled, *consumed = bytes used (header+payload+end)
 *   EDAD_AGAIN    fewer bytes than one whole frame; *need (if non-NULL) is
 *                 the total bytes the frame will need once known (>= 7), so
 *                 a reader can wait for that much without reparsing.
 *   EDAD_ERR_TOO_LARGE  declared size exceeds frame_max (checked as soon as
 *                 the 7 header bytes are in, before anything else)
 *   EDAD_ERR_FRAME_END  last octet is not 0xCE
 *   EDAD_ERR_UNKNOWN    frame type not 1, 2, 3 or 8
 */
edad_status amqp_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max,
                             struct amqp_frame *out, size_t *consumed, size_t *need);

/* Write a frame header for a payload of size bytes into out[7]. */
void amqp_frame_header_write(uint8_t out[7], uint8_t type, uint16_t channel, uint32_t size);

/* A complete heartbeat frame (type 8, channel 0, empty payload, 0xCE). */
extern const uint8_t amqp_heartbeat_frame[AMQP_FRAME_OVERHEAD];

/* ---- field tables and arrays --------------------------------------------- */

/*
 * Field value type codes as RabbitMQ and its clients use them (RabbitMQ's
 * errata: 's' is a signed 16-bit int, 'x' a byte array, 'u'/'i' exist for
 * unsigned; 'B' unsigned 8-bit, 'b' signed 8-bit).
 *
 * 'U' and 'L': RabbitMQ's own parser (rabbit_binary_parser.erl) has no 'U'
 * at all and reads 'L' as a *signed* 64-bit int, like 'l'.  The 0-9-1 spec
 * grammar calls 'U' short-int (signed 16) and pika decodes it that way;
 * clients send 's' for it (amqplib, pika).  edad accepts 'U' as signed
 * 16-bit (AMQP_FIELD_I16_SPEC, value in v.i16) and keeps 'L' as 64 raw bits
 * in v.u64 (AMQP_FIELD_U64); amqp_field_as_int64() reads 'L' as signed, as
 * RabbitMQ does.  Every kind re-encodes with the code it was decoded with.
 */
enum amqp_field_kind {
    AMQP_FIELD_BOOL = 't',
    AMQP_FIELD_I8 = 'b',
    AMQP_FIELD_U8 = 'B',
    AMQP_FIELD_I16 = 's',
    AMQP_FIELD_U16 = 'u',
    AMQP_FIELD_I16_SPEC = 'U',     /* spec short-int; see above */
    AMQP_FIELD_I32 = 'I',
    AMQP_FIELD_U32 = 'i',
    AMQP_FIELD_I64 = 'l',
    AMQP_FIELD_U64 = 'L',
    AMQP_FIELD_FLOAT = 'f',
    AMQP_FIELD_DOUBLE = 'd',
    AMQP_FIELD_DECIMAL = 'D',
    AMQP_FIELD_LONGSTR = 'S',
    AMQP_FIELD_BYTES = 'x',
    AMQP_FIELD_ARRAY = 'A',
    AMQP_FIELD_TIMESTAMP = 'T',
    AMQP_FIELD_TABLE = 'F',
    AMQP_FIELD_VOID = 'V',
};

struct amqp_field_value;
struct amqp_table_entry;

struct amqp_table {
    uint32_t count;
    struct amqp_table_entry *entries;  /* arena memory, or caller-owned when encoding */
    struct edad_bytes raw;             /* decoded: the encoded table body (without
                                          its 4-byte length); empty when built */
};

struct amqp_array {
    uint32_t count;
    struct amqp_field_value *values;
};

struct amqp_decimal {
    uint8_t scale;
    uint32_t value;
};

struct amqp_field_value {
    uint8_t kind;                      /* enum amqp_field_kind */
    union {
        bool b;
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;                  /* also AMQP_FIELD_TIMESTAMP */
        float f;
        double d;
        struct amqp_decimal decimal;
        struct edad_bytes str;         /* LONGSTR and BYTES */
        struct amqp_table table;
        struct amqp_array array;
    } v;
};

struct amqp_table_entry {
    struct edad_bytes key;             /* shortstr, 1..255 bytes */
    struct amqp_field_value value;
};

/* Nested tables/arrays deeper than this are rejected as malformed. */
#define AMQP_TABLE_MAX_DEPTH 32

/*
 * Decode a table body (the bytes after its 4-byte length) into *out, entries
 * in the arena.  Keys must be 1..255 bytes.  Returns EDAD_OK,
 * EDAD_ERR_MALFORMED, EDAD_ERR_UNKNOWN (bad type code) or EDAD_ERR_NOMEM
 * (arena cap).
 */
edad_status amqp_table_decode(struct edad_bytes body, struct arena *a, struct amqp_table *out);
/* Lookup by key; NULL when absent.  Linear (tables are small). */
const struct amqp_field_value *amqp_table_get(const struct amqp_table *t, const char *key);
/* Encoded size of a table including its 4-byte length prefix. */
size_t amqp_table_encoded_size(const struct amqp_table *t);
/* Encode with its 4-byte length prefix from count/entries (raw is not
   consulted); EDAD_ERR_NOSPACE when cap is short, EDAD_ERR_INVALID for a
   key of 0 or >255 bytes, an unknown kind or nesting past the limit. */
edad_status amqp_table_encode(const struct amqp_table *t, uint8_t *buf, size_t cap, size_t *len);
/* Numeric field (any integer kind) as int64; false when not an integer. */
bool amqp_field_as_int64(const struct amqp_field_value *v, int64_t *out);

/* ---- generated: method ids, per-method structs, constants --------------- */

#include "edad/amqp_methods.gen.h"

/*
 * Decode a method frame payload (class-id, method-id, arguments).  Strings
 * borrow from payload; tables go into the arena.  No other allocation.
 *   EDAD_OK            out->id and out->u.<class>_<method> filled
 *   EDAD_ERR_UNKNOWN   unknown class or method id (out->id is still set),
 *                      or an unknown field-value type code in a table
 *   EDAD_ERR_MALFORMED truncated or trailing bytes, bad table (zero-length
 *                      key, lengths past the end, nesting too deep);
 *                      out->id = 0 when even the 4 id bytes are missing
 *   EDAD_ERR_NOMEM     the arena's cap was reached
 * Unused bits of a bit octet are ignored, as RabbitMQ ignores them.
 */
edad_status amqp_method_decode(struct edad_bytes payload, struct arena *a, struct amqp_method *out);
/*
 * Encode a method payload (class-id, method-id, args) into buf[0..cap).
 *   EDAD_OK            *len = payload bytes written
 *   EDAD_ERR_NOSPACE   cap too small (buf contents unspecified)
 *   EDAD_ERR_INVALID   a shortstr over 255 bytes, a bad table
 *   EDAD_ERR_UNKNOWN   m->id is not a method of the spec
 */
edad_status amqp_method_encode(const struct amqp_method *m, uint8_t *buf, size_t cap, size_t *len);
/* Encode a whole method frame (header, payload, frame-end) for channel;
   same statuses as amqp_method_encode, *len = frame bytes. */
edad_status amqp_frame_encode_method(uint16_t channel, const struct amqp_method *m,
                                     uint8_t *buf, size_t cap, size_t *len);

/* ---- content header -------------------------------------------------------- */

struct amqp_content_header {
    uint16_t class_id;
    uint64_t body_size;
    struct amqp_basic_properties props;   /* generated struct, flags inside */
    struct edad_bytes raw_props;          /* property flags + values as received */
};

/*
 * Decode a content-header frame payload: class-id(2) weight(2, ignored as
 * RabbitMQ does) body-size(8) property-flags(2) values.
 *   EDAD_OK            *out filled; raw_props = flags..end, borrowed
 *   EDAD_ERR_MALFORMED truncated, trailing bytes, a flag with no property
 *                      (the continuation bit 0x0001 included: basic has 14)
 *   EDAD_ERR_UNKNOWN   class-id is not basic (class_id and body_size are
 *                      still set, so the caller can name the class)
 *   EDAD_ERR_NOMEM / EDAD_ERR_UNKNOWN from the headers table
 */
edad_status amqp_content_header_decode(struct edad_bytes payload, struct arena *a,
                                       struct amqp_content_header *out);
/* Encode a content-header payload for class basic from props (the flags in
   p->flags say which members are written).  Statuses as
   amqp_basic_properties_encode. */
edad_status amqp_content_header_encode(uint64_t body_size, const struct amqp_basic_properties *p,
                                       uint8_t *buf, size_t cap, size_t *len);
/* Encode a whole content-header frame for channel; *len = frame bytes. */
edad_status amqp_frame_encode_content_header(uint16_t channel, uint64_t body_size,
                                             const struct amqp_basic_properties *p,
                                             uint8_t *buf, size_t cap, size_t *len);

#endif
