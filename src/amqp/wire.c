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
