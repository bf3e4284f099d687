/*
 * format.c - encoding and checking of the store's on-disk records (message
 * records, segment header and footer, ack entries) plus the two small
 * containers the store uses (byte buffer, offset set).  Pure functions over
 * memory: no files, no store state.  The layout is described in
 * store_int.h and docs/store.md.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- records ----------------------------------------------------------------- */

static uint32_t rec_crc(const uint8_t *p, uint32_t len)
{
    uint32_t c = store_crc32c(0, p, 8);
    return store_crc32c(c, p + 12, len - 12);
}

uint64_t rec_msg_size(const struct store_msg *m)
{
    if (m->exchange.len > 255 || m->routing_key.len > 255)
        return 0;
    uint64_t n = (uint64_t)(m->meta.len ? REC_MSG_META_HDR : REC_MSG_HDR) + m->exchange.len +
                 m->routing_key.len;
    if (m->props.len > STORE_RECORD_MAX || m->body.len > STORE_RECORD_MAX ||
        m->meta.len > STORE_RECORD_MAX)
        return 0;
    n += (uint64_t)m->props.len + m->body.len + m->meta.len;
    return n > STORE_RECORD_MAX ? 0 : n;
}

static uint8_t *put_bytes(uint8_t *p, struct edad_bytes b)
{
    if (b.len)
        memcpy(p, b.ptr, b.len);
    return p + b.len;
}

void rec_encode_msg(uint8_t *out, uint64_t len, const struct store_msg *m)
{
    bool meta = m->meta.len > 0;
    uint8_t *p = out + (meta ? REC_MSG_META_HDR : REC_MSG_HDR);
    put_u32(out, REC_MAGIC);
    put_u32(out + 4, (uint32_t)len);
    put_u32(out + 12, meta ? REC_MSG_META : REC_MSG);
    put_u64(out + 16, m->seq);
    put_u32(out + 24, m->flags);
    put_u32(out + 28, (uint32_t)m->props.len);
    put_u32(out + 32, (uint32_t)m->body.len);
    out[36] = (uint8_t)m->exchange.len;
    out[37] = (uint8_t)m->routing_key.len;
    if (meta)
        put_u32(out + 38, (uint32_t)m->meta.len);
    p = put_bytes(p, m->exchange);
    p = put_bytes(p, m->routing_key);
    p = put_bytes(p, m->meta);
    p = put_bytes(p, m->props);
    put_bytes(p, m->body);
    put_u32(out + 8, rec_crc(out, (uint32_t)len));
}

void rec_encode_footer(uint8_t *out, uint32_t records, uint64_t max_seq)
{
    memset(out, 0, REC_FOOTER_LEN);
    put_u32(out, REC_MAGIC);
    put_u32(out + 4, REC_FOOTER_LEN);
    put_u32(out + 12, REC_FOOTER);
    put_u32(out + 16, records);
    put_u64(out + 24, max_seq);
    put_u32(out + 8, rec_crc(out, REC_FOOTER_LEN));
}

/* The length field is believable for this type. */
static bool len_sane(uint32_t type, uint32_t len)
{
    switch (type) {
    case REC_MSG: return len >= REC_MSG_HDR && len <= STORE_RECORD_MAX;
    case REC_MSG_META: return len >= REC_MSG_META_HDR && len <= STORE_RECORD_MAX;
    case REC_FOOTER: return len == REC_FOOTER_LEN;
    default: return false;
    }
}

bool rec_header_plausible(const uint8_t *p, size_t avail)
{
    if (avail < REC_BASE || get_u32(p) != REC_MAGIC)
        return false;
    return len_sane(get_u32(p + 12), get_u32(p + 4));
}

enum rec_verdict rec_parse(const uint8_t *p, size_t avail, struct rec_view *v)
{
    return rec_parse_trusted(p, avail, v, 0);
}

enum rec_verdict rec_parse_trusted(const uint8_t *p, size_t avail, struct rec_view *v,
                                   uint64_t trusted)
{
    memset(v, 0, sizeof(*v));
    if (avail < 4)
        return REC_SHORT;
    if (get_u32(p) != REC_MAGIC)
        return REC_BAD_STOP;
    if (avail < REC_BASE)
        return REC_SHORT;
    v->len = get_u32(p + 4);
    v->type = get_u32(p + 12);
    if (!len_sane(v->type, v->len)) {
        /* a flipped type bit with a believable message length: skippable */
        if (v->len >= REC_MSG_HDR && v->len <= STORE_RECORD_MAX)
            return avail < v->len ? REC_SHORT : REC_BAD_SKIP;
        return REC_BAD_STOP;
    }
    if (avail < v->len)
        return REC_SHORT;
    if (v->len > trusted && rec_crc(p, v->len) != get_u32(p + 8))
        return REC_BAD_SKIP;
    if (v->type == REC_FOOTER) {
        v->footer_records = get_u32(p + 16);
        v->seq = get_u64(p + 24);
        return REC_OK;
    }
    v->seq = get_u64(p + 16);
    v->flags = get_u32(p + 24);
    uint32_t plen = get_u32(p + 28), blen = get_u32(p + 32);
    uint32_t xlen = p[36], klen = p[37];
    uint32_t hdr = REC_MSG_HDR, mlen = 0;
    if (v->type == REC_MSG_META) {
        hdr = REC_MSG_META_HDR;
        mlen = get_u32(p + 38);
        v->type = REC_MSG;
    }
    if ((uint64_t)hdr + xlen + klen + mlen + plen + blen != v->len)
        return REC_BAD_SKIP;    /* checksum fine but fields inconsistent */
    const uint8_t *q = p + hdr;
    v->exchange = (struct edad_bytes){q, xlen};
    q += xlen;
    v->routing_key = (struct edad_bytes){q, klen};
    q += klen;
    v->meta = (struct edad_bytes){q, mlen};
    q += mlen;
    v->props = (struct edad_bytes){q, plen};
    q += plen;
    v->body = (struct edad_bytes){q, blen};
    return REC_OK;
}

/* ---- segment header, ack entries ---------------------------------------------- */

void seg_encode_header(uint8_t *out, uint32_t seg_id)
{
    memcpy(out, SEG_MAGIC, 8);
    put_u32(out + 8, SEG_VERSION);
    put_u32(out + 12, seg_id);
}

bool seg_header_valid(const uint8_t *p, size_t avail, uint32_t seg_id)
{
    return avail >= SEG_HDR && memcmp(p, SEG_MAGIC, 8) == 0 &&
           get_u32(p + 8) == SEG_VERSION && get_u32(p + 12) == seg_id;
}

static uint32_t ack_check(uint32_t seg_id, uint32_t off)
{
    uint8_t b[8];
    put_u32(b, off);
    put_u32(b + 4, seg_id);
    return store_crc32c(0, b, 8);
}

void ack_encode(uint8_t *out, uint32_t seg_id, uint32_t off)
{
    put_u32(out, off);
    put_u32(out + 4, ack_check(seg_id, off));
}

uint32_t ack_decode(const uint8_t *p, uint32_t seg_id)
{
    uint32_t off = get_u32(p);
    if (off < SEG_HDR || get_u32(p + 4) != ack_check(seg_id, off))
        return 0;
    return off;
}

/* ---- byte buffer ------------------------------------------------------------------ */

uint8_t *sbuf_reserve(struct sbuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

void sbuf_release(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void sbuf_shrink(struct sbuf *b)
{
    b->len = 0;
    if (b->cap > (size_t)1 << 20)   /* keep at most 1 MiB between flushes */
        sbuf_release(b);
}

/* ---- offset set ------------------------------------------------------------------- */

static uint32_t slot_of(uint32_t v, uint32_t mask)
{
    return (uint32_t)(((uint64_t)v * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

bool u32set_has(const struct u32set *s, uint32_t v)
{
    if (!s->count)
        return false;
    for (uint32_t i = slot_of(v, s->mask);; i = (i + 1) & s->mask) {
        if (s->slots[i] == v)
            return true;
        if (!s->slots[i])
            return false;
    }
}

static void set_put(uint32_t *slots, uint32_t mask, uint32_t v)
{
    uint32_t i = slot_of(v, mask);
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = v;
}

bool u32set_add(struct u32set *s, uint32_t v)
{
    if (u32set_has(s, v))
        return false;
    if (!s->slots || (uint64_t)(s->count + 1) * 4 > (uint64_t)(s->mask + 1) * 3) {
        uint32_t cap = s->slots ? (s->mask + 1) * 2 : 16;
        uint32_t *slots = xcalloc(cap, sizeof(*slots));
        for (uint32_t i = 0; s->slots && i <= s->mask; i++)
            if (s->slots[i])
                set_put(slots, cap - 1, s->slots[i]);
        free(s->slots);
        s->slots = slots;
        s->mask = cap - 1;
    }
    set_put(s->slots, s->mask, v);
    s->count++;
    return true;
}

bool u32set_del(struct u32set *s, uint32_t v)
{
    if (!s->count)
        return false;
    uint32_t i = slot_of(v, s->mask);
    while (s->slots[i] != v) {
        if (!s->slots[i])
            return false;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = 0;
    s->count--;
    /* re-place the rest of the cluster (linear probing deletion) */
    for (uint32_t j = (i + 1) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
        uint32_t w = s->slots[j];
        s->slots[j] = 0;
        set_put(s->slots, s->mask, w);
    }
    return true;
}

void u32set_free(struct u32set *s)
{
    free(s->slots);
    s->slots = NULL;
    s->mask = s->count = 0;
}
