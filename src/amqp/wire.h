/*
 * wire.h - bounds-checked readers and writers of the AMQP primitive types
 * (octet, short, long, longlong, shortstr, longstr, table); private to
 * src/amqp.  Cursors keep a sticky status: after the first failure reads
 * yield zero and writes are dropped, so generated code reads field after
 * field and checks once at the end.  Allocates nothing but tables (arena).
 */
#ifndef EDAD_AMQP_WIRE_H
#define EDAD_AMQP_WIRE_H

#include <string.h>

#include "edad/amqp.h"

/* For the few readers on every message's path: inlined even where the
 * compiler would rather call them (the generated decoders use them a lot). */
#if defined(__GNUC__)
#define WIRE_HOT static inline __attribute__((always_inline))
#else
#define WIRE_HOT static inline
#endif

/* ---- reading ------------------------------------------------------------ */

struct wire_reader {
    const uint8_t *p;      /* next unread byte */
    const uint8_t *end;    /* one past the last byte */
    edad_status st;        /* EDAD_OK until the first error */
};

static inline void wire_reader_init(struct wire_reader *r, const uint8_t *p, size_t len)
{
    static const uint8_t empty[1];
    if (!p) {                  /* never do arithmetic on a null pointer */
        p = empty;
        len = 0;
    }
    r->p = p;
    r->end = p + len;
    r->st = EDAD_OK;
}

/* Record the first error and make every later read fail. */
static inline void wire_reader_fail(struct wire_reader *r, edad_status st)
{
    if (r->st == EDAD_OK)
        r->st = st;
    r->p = r->end;
}

static inline size_t wire_remaining(const struct wire_reader *r)
{
    return (size_t)(r->end - r->p);
}

/* True when n more bytes are available; otherwise fails the reader. */
static inline bool wire_need(struct wire_reader *r, size_t n)
{
    if (EDAD_LIKELY(wire_remaining(r) >= n))
        return true;
    wire_reader_fail(r, EDAD_ERR_MALFORMED);
    return false;
}

static inline uint8_t wire_get_u8(struct wire_reader *r)
{
    if (!wire_need(r, 1))
        return 0;
    return *r->p++;
}

static inline uint16_t wire_get_u16(struct wire_reader *r)
{
    if (!wire_need(r, 2))
        return 0;
    uint16_t v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

static inline uint32_t wire_get_u32(struct wire_reader *r)
{
    if (!wire_need(r, 4))
        return 0;
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
                 (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
    r->p += 4;
    return v;
}

static inline uint64_t wire_get_u64(struct wire_reader *r)
{
    if (!wire_need(r, 8))
        return 0;
    /* spelled out so the compiler makes one load and a byte swap */
    const uint8_t *p = r->p;
    uint64_t v = (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
                 (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
                 (uint64_t)p[6] << 8 | (uint64_t)p[7];
    r->p += 8;
    return v;
}

/* n raw bytes as a slice borrowed from the input (empty on error). */
static inline struct edad_bytes wire_get_bytes(struct wire_reader *r, size_t n)
{
    struct edad_bytes b = {NULL, 0};
    if (!wire_need(r, n))
        return b;
    b.ptr = r->p;
    b.len = n;
    r->p += n;
    return b;
}

/* shortstr: length octet + bytes. */
static inline struct edad_bytes wire_get_shortstr(struct wire_reader *r)
{
    size_t n = wire_get_u8(r);
    return wire_get_bytes(r, n);
}

/* True when b is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool wire_utf8_valid(struct edad_bytes b);

/* True when the n bytes at p are all ASCII (names and routing keys almost
 * always are): a few word loads, no loop for short strings. */
WIRE_HOT bool wire_is_ascii(const uint8_t *p, size_t n)
{
    if (n >= 8) {
        uint64_t acc = 0, w;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            acc |= w;
        }
        memcpy(&w, p + n - 8, 8);        /* the tail, overlapping */
        return ((acc | w) & UINT64_C(0x8080808080808080)) == 0;
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return ((a | b) & 0x80808080u) == 0;
    }
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return (acc & 0x80) == 0;
}

/* shortstr that must be UTF-8: EDAD_ERR_ENCODING when it is not. */
WIRE_HOT struct edad_bytes wire_get_shortstr_utf8(struct wire_reader *r)
{
    struct edad_bytes b = wire_get_shortstr(r);
    if (r->st == EDAD_OK && !wire_is_ascii(b.ptr, b.len) && !wire_utf8_valid(b))
        wire_reader_fail(r, EDAD_ERR_ENCODING);
    return b;
}

/* longstr: 4-byte length + bytes (the length is checked against what is
   left before anything is used). */
static inline struct edad_bytes wire_get_longstr(struct wire_reader *r)
{
    size_t n = wire_get_u32(r);
    return wire_get_bytes(r, n);
}

/* table: 4-byte length + body decoded into the arena (table.c). */
void wire_get_table(struct wire_reader *r, struct arena *a, struct amqp_table *out);

/* EDAD_OK when everything was read without error and nothing is left. */
static inline edad_status wire_reader_finish(const struct wire_reader *r)
{
    if (r->st != EDAD_OK)
        return r->st;
    return r->p == r->end ? EDAD_OK : EDAD_ERR_MALFORMED;
}

/* ---- writing ------------------------------------------------------------ */

struct wire_writer {
    uint8_t *start;
    uint8_t *p;            /* next byte to write */
    uint8_t *end;          /* one past the last writable byte */
    edad_status st;        /* EDAD_OK until the first error */
};

static inline void wire_writer_init(struct wire_writer *w, uint8_t *buf, size_t cap)
{
    static uint8_t nowhere[1];  /* never written: cap is 0 */
    if (!buf) {
        buf = nowhere;
        cap = 0;
    }
    w->start = w->p = buf;
    w->end = buf + cap;
    w->st = EDAD_OK;
}

static inline void wire_writer_fail(struct wire_writer *w, edad_status st)
{
    if (w->st == EDAD_OK)
        w->st = st;
    w->p = w->end;
}

/* True when n more bytes fit (and no earlier write failed). */
static inline bool wire_room(struct wire_writer *w, size_t n)
{
    if (EDAD_LIKELY(w->st == EDAD_OK && (size_t)(w->end - w->p) >= n))
        return true;
    wire_writer_fail(w, EDAD_ERR_NOSPACE);
    return false;
}

static inline void wire_put_u8(struct wire_writer *w, uint8_t v)
{
    if (wire_room(w, 1))
        *w->p++ = v;
}

static inline void wire_put_u16(struct wire_writer *w, uint16_t v)
{
    if (!wire_room(w, 2))
        return;
    w->p[0] = (uint8_t)(v >> 8);
    w->p[1] = (uint8_t)v;
    w->p += 2;
}

static inline void wire_put_u32(struct wire_writer *w, uint32_t v)
{
    if (!wire_room(w, 4))
        return;
    w->p[0] = (uint8_t)(v >> 24);
    w->p[1] = (uint8_t)(v >> 16);
    w->p[2] = (uint8_t)(v >> 8);
    w->p[3] = (uint8_t)v;
    w->p += 4;
}

static inline void wire_put_u64(struct wire_writer *w, uint64_t v)
{
    if (!wire_room(w, 8))
        return;
    for (int i = 7; i >= 0; i--) {
        w->p[i] = (uint8_t)v;
        v >>= 8;
    }
    w->p += 8;
}

static inline void wire_put_bytes(struct wire_writer *w, const uint8_t *p, size_t n)
{
    if (!wire_room(w, n))
        return;
    if (n)
        memcpy(w->p, p, n);
    w->p += n;
}

/* Out of line (wire.c): length checks give EDAD_ERR_INVALID. */
void wire_put_shortstr(struct wire_writer *w, struct edad_bytes s);
void wire_put_longstr(struct wire_writer *w, struct edad_bytes s);
/* Table with its 4-byte length prefix (table.c). */
void wire_put_table(struct wire_writer *w, const struct amqp_table *t);

/* Status of the whole write; *len = bytes written, only on EDAD_OK. */
static inline edad_status wire_writer_finish(const struct wire_writer *w, size_t *len)
{
    if (w->st != EDAD_OK)
        return w->st;
    *len = (size_t)(w->p - w->start);
    return EDAD_OK;
}

#endif
