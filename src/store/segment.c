/*
 * segment.c - one segment of a queue store: the append-only msgs.<n> file
 * with its pending write buffer, the acks.<n> file with its pending
 * entries, flushing both with one pwrite each, reading byte ranges back
 * (from the file or the pending buffer) and the sequential record reader
 * that applies the damage rules.  Not here: choosing when to roll or
 * delete segments (qstore.c), syncing (sync.c), recovery (recover.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

char *seg_path(const struct qstore *qs, const char *kind, uint32_t id)
{
    size_t n = strlen(qs->dir) + strlen(kind) + 16;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s.%010u", qs->dir, kind, id);
    return p;
}

struct seg *seg_new(struct qstore *qs, uint32_t id)
{
    struct seg *s = xcalloc(1, sizeof(*s));
    s->qs = qs;
    s->id = id;
    s->fd = -1;
    s->ack_fd = -1;
    return s;
}

void seg_free(struct seg *s)
{
    if (!s)
        return;
    if (s->dirty)
        store_seg_undirty(s->qs->st, s);
    if (s->fd >= 0)
        close(s->fd);
    if (s->ack_fd >= 0)
        close(s->ack_fd);
    if (s->qs->rfd >= 0 && s->qs->rfd_seg == s->id) {
        close(s->qs->rfd);
        s->qs->rfd = -1;
    }
    sbuf_release(&s->wbuf);
    sbuf_release(&s->abuf);
    u32set_free(&s->acked);
    free(s);
}

edad_status seg_create(struct seg *s)
{
    char *path = seg_path(s->qs, "msgs", s->id);
    s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    int e = errno;
    free(path);
    if (s->fd < 0) {
        errno = e;
        return EDAD_ERR_IO;
    }
    seg_encode_header(sbuf_reserve(&s->wbuf, SEG_HDR), s->id);
    s->wbuf.len = SEG_HDR;
    s->size = 0;
    s->end = s->limit = SEG_HDR;
    s->active = true;
    store_seg_dirty(s->qs->st, s);
    store_dir_created(s->qs->st, s->qs->dir);
    s->qs->st->stats.segments_created++;
    return EDAD_OK;
}

void seg_destroy(struct seg *s)
{
    /* messages first: a leftover ack file alone is harmless, the reverse is not */
    char *path = seg_path(s->qs, "msgs", s->id);
    if (!s->qs->st->o.read_only)
        unlink(path);
    free(path);
    path = seg_path(s->qs, "acks", s->id);
    if (!s->qs->st->o.read_only)
        unlink(path);
    free(path);
    seg_free(s);
}

/* A pending write failed: forget the records it held (never written). */
static void seg_drop_pending(struct seg *s)
{
    struct qstore *qs = s->qs;
    /* wbuf holds file bytes [size, end); a new segment's header comes first */
    size_t i = s->size == 0 ? SEG_HDR : 0;
    while (i < s->wbuf.len) {
        struct rec_view v;
        if (rec_parse(s->wbuf.p + i, s->wbuf.len - i, &v) != REC_OK)
            break;      /* cannot happen: we encoded these bytes */
        if (v.type == REC_MSG) {
            uint32_t roff = (uint32_t)(s->size + i);
            s->records--;
            if (!u32set_del(&s->acked, roff)) {
                s->live--;
                qs->live--;
            }
        }
        i += v.len;
    }
    /* pending ack entries for the dropped records go too */
    size_t w = 0;
    for (size_t r = 0; r + ACK_ENTRY <= s->abuf.len; r += ACK_ENTRY) {
        if (get_u32(s->abuf.p + r) < s->size) {
            memmove(s->abuf.p + w, s->abuf.p + r, ACK_ENTRY);
            w += ACK_ENTRY;
        }
    }
    s->abuf.len = w;
    s->end = s->limit = s->size;
    s->footer = false;
}

edad_status seg_flush(struct seg *s, bool *wrote_seg, bool *wrote_ack)
{
    struct store *st = s->qs->st;
    edad_status rc = EDAD_OK;
    int err = 0;

    *wrote_seg = *wrote_ack = false;
    if (s->wbuf.len) {
        if (fs_pwrite_all(s->fd, s->wbuf.p, s->wbuf.len, s->size) == EDAD_OK) {
            s->size += s->wbuf.len;
            st->stats.writes++;
            st->stats.bytes_written += s->wbuf.len;
            *wrote_seg = true;
        } else {
            err = errno;
            log_error("store: writing %s/msgs.%010u failed: %s; %zu pending bytes dropped",
                      s->qs->dir, s->id, strerror(err), s->wbuf.len);
            /* remove whatever part of this write landed; nothing before it */
            if (ftruncate(s->fd, (off_t)s->size) < 0)
                log_error("store: truncating %s/msgs.%010u back to %llu failed: %s",
                          s->qs->dir, s->id, (unsigned long long)s->size, strerror(errno));
            seg_drop_pending(s);
            if (s->active) {
                s->active = false;
                s->qs->active = NULL;
            }
            s->closing = true;
            st->stats.write_errors++;
            st->batch_failed = true;
            rc = EDAD_ERR_IO;
        }
        sbuf_shrink(&s->wbuf);
    }
    if (s->abuf.len) {
        if (s->ack_fd < 0) {
            char *path = seg_path(s->qs, "acks", s->id);
            s->ack_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
            if (s->ack_fd < 0)
                err = errno;
            free(path);
        }
        if (s->ack_fd >= 0 &&
            fs_pwrite_all(s->ack_fd, s->abuf.p, s->abuf.len, s->ack_size) == EDAD_OK) {
            s->ack_size += s->abuf.len;
            st->stats.writes++;
            st->stats.bytes_written += s->abuf.len;
            sbuf_shrink(&s->abuf);
            *wrote_ack = true;
        } else {
            if (s->ack_fd >= 0) {
                err = errno;
                if (ftruncate(s->ack_fd, (off_t)s->ack_size) < 0)
                    log_error("store: truncating an ack file failed: %s", strerror(errno));
            }
            log_error("store: writing %s/acks.%010u failed: %s; retrying at the next flush",
                      s->qs->dir, s->id, strerror(err));
            st->stats.write_errors++;
            rc = EDAD_ERR_IO;
        }
    }
    if (rc != EDAD_OK)
        store_set_errno(st, err);
    return rc;
}

int seg_read_fd(struct seg *s)
{
    struct qstore *qs = s->qs;
    if (s->fd >= 0)
        return s->fd;
    if (qs->rfd >= 0 && qs->rfd_seg == s->id)
        return qs->rfd;
    if (qs->rfd >= 0)
        close(qs->rfd);
    char *path = seg_path(qs, "msgs", s->id);
    qs->rfd = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    free(path);
    qs->rfd_seg = s->id;
    errno = e;
    return qs->rfd;
}

edad_status seg_read(struct seg *s, uint64_t off, uint8_t *dst, size_t len, size_t *got)
{
    size_t done = 0;
    *got = 0;
    if (off < s->size) {
        uint64_t n = s->size - off;
        if (n > len)
            n = len;
        int fd = seg_read_fd(s);
        if (fd < 0)
            return EDAD_ERR_IO;
        if (fs_pread_full(fd, dst, (size_t)n, off, &done) != EDAD_OK)
            return EDAD_ERR_IO;
        if (done < n) {         /* file shorter than we believe */
            *got = done;
            return EDAD_OK;
        }
    }
    if (done < len && off + done >= s->size && s->wbuf.len) {
        uint64_t woff = off + done - s->size;
        if (woff < s->wbuf.len) {
            size_t m = s->wbuf.len - (size_t)woff;
            if (m > len - done)
                m = len - done;
            memcpy(dst + done, s->wbuf.p + woff, m);
            done += m;
        }
    }
    *got = done;
    return EDAD_OK;
}

/* ---- the reader ---------------------------------------------------------------- */

void seg_reader_init(struct seg_reader *r, struct seg *s, uint64_t off, size_t chunk)
{
    memset(r, 0, sizeof(*r));
    r->s = s;
    r->off = off < SEG_HDR ? SEG_HDR : off;
    r->chunk = chunk;
}

void seg_reader_free(struct seg_reader *r)
{
    sbuf_release(&r->buf);
}

/*
 * Make [off, off + want) available (want clipped to limit); *p points at off
 * and *avail says how many bytes from there are cached below limit.
 */
static edad_status reader_view(struct seg_reader *r, uint64_t off, uint64_t want, uint64_t limit,
                               const uint8_t **p, size_t *avail)
{
    if (off + want > limit)
        want = limit - off;
    if (!(off >= r->boff && off + want <= r->boff + r->buf.len)) {
        uint64_t n = want > r->chunk ? want : r->chunk;
        if (off + n > limit)
            n = limit - off;
        size_t got;
        r->buf.len = 0;
        sbuf_reserve(&r->buf, (size_t)n);
        if (seg_read(r->s, off, r->buf.p, (size_t)n, &got) != EDAD_OK)
            return EDAD_ERR_IO;
        r->buf.len = got;
        r->boff = off;
    }
    uint64_t end = r->boff + r->buf.len;
    if (end > limit)
        end = limit;
    *p = r->buf.p + (off - r->boff);
    *avail = end > off ? (size_t)(end - off) : 0;
    return EDAD_OK;
}

static void reader_damage(struct seg_reader *r, uint64_t off, uint64_t bytes, bool record)
{
    if (!r->damaged && !r->dropped)
        r->first_damage = off;
    if (record)
        r->damaged++;
    r->dropped += bytes;
}

enum seg_next seg_reader_next(struct seg_reader *r, uint64_t limit, struct rec_view *v,
                              uint64_t *rec_off)
{
    for (;;) {
        const uint8_t *p;
        size_t avail;
        uint64_t off = r->off;

        if (r->stopped || off >= limit)
            return SEGR_END;
        if (reader_view(r, off, REC_BASE, limit, &p, &avail) != EDAD_OK)
            return SEGR_ERROR;
        uint64_t trusted = r->s->verified > off ? r->s->verified - off : 0;
        enum rec_verdict vd = rec_parse_trusted(p, avail, v, trusted);
        if (vd == REC_SHORT && avail >= REC_BASE) {
            uint32_t len = get_u32(p + 4);
            if (len <= STORE_RECORD_MAX && off + len <= limit) {
                if (reader_view(r, off, len, limit, &p, &avail) != EDAD_OK)
                    return SEGR_ERROR;
                vd = rec_parse_trusted(p, avail, v, trusted);
            }
        }
        switch (vd) {
        case REC_OK:
            *rec_off = off;
            r->off = off + v->len;
            return SEGR_RECORD;
        case REC_BAD_SKIP: {
            uint64_t next = off + v->len;
            bool ok = next == limit;
            if (!ok && next + REC_BASE <= limit) {
                const uint8_t *q;
                size_t qa;
                if (reader_view(r, next, REC_BASE, limit, &q, &qa) != EDAD_OK)
                    return SEGR_ERROR;
                ok = rec_header_plausible(q, qa);
            }
            if (ok) {
                reader_damage(r, off, v->len, true);
                r->off = next;
                continue;
            }
            reader_damage(r, off, limit - off, true);
            r->stopped = true;
            r->stop_off = off;
            r->off = limit;
            return SEGR_END;
        }
        case REC_BAD_STOP:
        case REC_SHORT:
        default:
            /* torn tail or unreadable header: nothing past here is trusted */
            reader_damage(r, off, limit - off, vd == REC_BAD_STOP || avail >= REC_BASE);
            r->stopped = true;
            r->stop_off = off;
            r->off = limit;
            return SEGR_END;
        }
    }
}
