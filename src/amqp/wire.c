/*
 * wire.c - the out-of-line string writers of wire.h.  Length limits are the
 * caller's contract: a shortstr over 255 bytes is reported as
 * EDAD_ERR_INVALID, never silently truncated.  Fixed-width readers and
 * writers are inline in wire.h; tables are in table.c.
 */
#include "wire.h"

void wire_put_shortstr(struct wire_writer *w, struct edad_bytes s)
{
    if (EDAD_UNLIKELY(s.len > 255)) {
        wire_writer_fail(w, EDAD_ERR_INVALID);
        return;
    }
    if (!wire_room(w, 1 + s.len))
        return;
    *w->p++ = (uint8_t)s.len;
    if (s.len)
        memcpy(w->p, s.ptr, s.len);
    w->p += s.len;
}

void wire_put_longstr(struct wire_writer *w, struct edad_bytes s)
{
    if (EDAD_UNLIKELY(s.len > UINT32_MAX)) {
        wire_writer_fail(w, EDAD_ERR_INVALID);
        return;
    }
    if (!wire_room(w, 4 + s.len))
        return;
    wire_put_u32(w, (uint32_t)s.len);
    wire_put_bytes(w, s.ptr, s.len);
}

/* The validation proper, from the first byte that may be non-ASCII. */
static bool utf8_valid_from(const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {            /* the common case: routing keys, names */
            p++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1; cp = c & 0x1Fu; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2; cp = c & 0x0Fu; min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3; cp = c & 0x07u; min = 0x10000;
        } else {
            return false;          /* continuation byte, C0/C1, F5..FF */
        }
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

bool wire_utf8_valid(struct edad_bytes b)
{
    if (wire_is_ascii(b.ptr, b.len))
        return true;
    return utf8_valid_from(b.ptr, b.ptr + b.len);
}
