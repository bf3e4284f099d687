/*
 * qstore.c - one durable queue's store: creating its directory, appending
 * message records (rolling segments), acks and segment deletion, the
 * delivered mark, purge and delete, statistics, and reading records back
 * (sequential iterator, read by location).  Not here: the file-level
 * writing (segment.c), syncing (sync.c), recovery (recover.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define ITER_CHUNK (256u * 1024)

/* ---- memory ------------------------------------------------------------------ */

static char *dup_bytes(struct edad_bytes b)
{
    char *p = xmalloc(b.len + 1);
    if (b.len)
        memcpy(p, b.ptr, b.len);
    p[b.len] = '\0';
    return p;
}

struct qstore *qstore_alloc(struct store *st, struct edad_bytes vhost, struct edad_bytes name,
                            const char *dir)
{
    struct qstore *qs = xcalloc(1, sizeof(*qs));
    qs->st = st;
    qs->vhost = dup_bytes(vhost);
    qs->vhost_len = vhost.len;
    qs->name = dup_bytes(name);
    qs->name_len = name.len;
    qs->hash = store_name_hash(vhost, name);
    qs->dir = xstrdup(dir);
    qs->next_seg_id = 1;
    qs->next_seq = 1;
    qs->dlv_fd = -1;
    qs->rfd = -1;
    return qs;
}

void qstore_free_mem(struct qstore *qs)
{
    if (!qs)
        return;
    for (size_t i = 0; i < qs->nsegs; i++)
        seg_free(qs->segs[i]);
    free(qs->segs);
    if (qs->dlv_map)
        munmap(qs->dlv_map, DLV_LEN);
    if (qs->dlv_fd >= 0)
        close(qs->dlv_fd);
    if (qs->rfd >= 0)
        close(qs->rfd);
    sbuf_release(&qs->rbuf);
    free(qs->vhost);
    free(qs->name);
    free(qs->dir);
    free(qs);
}

/* ---- segment list (sorted by id; ids only grow) ----------------------------- */

static size_t seg_lower_bound(const struct qstore *qs, uint32_t id)
{
    size_t lo = 0, hi = qs->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (qs->segs[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct seg *qstore_seg_find(const struct qstore *qs, uint32_t id)
{
    size_t i = seg_lower_bound(qs, id);
    return i < qs->nsegs && qs->segs[i]->id == id ? qs->segs[i] : NULL;
}

struct seg *qstore_seg_at_or_after(const struct qstore *qs, uint32_t id)
{
    size_t i = seg_lower_bound(qs, id);
    return i < qs->nsegs ? qs->segs[i] : NULL;
}

void qstore_seg_insert(struct qstore *qs, struct seg *s)
{
    if (qs->nsegs == qs->capsegs) {
        qs->capsegs = qs->capsegs ? qs->capsegs * 2 : 8;
        qs->segs = xrealloc(qs->segs, qs->capsegs * sizeof(*qs->segs));
    }
    size_t i = seg_lower_bound(qs, s->id);
    memmove(qs->segs + i + 1, qs->segs + i, (qs->nsegs - i) * sizeof(*qs->segs));
    qs->segs[i] = s;
    qs->nsegs++;
    if (s->id >= qs->next_seg_id)
        qs->next_seg_id = s->id + 1;
}

void qstore_seg_remove(struct qstore *qs, struct seg *s)
{
    size_t i = seg_lower_bound(qs, s->id);
    if (i < qs->nsegs && qs->segs[i] == s) {
        memmove(qs->segs + i, qs->segs + i + 1, (qs->nsegs - i - 1) * sizeof(*qs->segs));
        qs->nsegs--;
    }
}

void qstore_seg_drop(struct qstore *qs, struct seg *s)
{
    if (qs->active == s)
        qs->active = NULL;
    qstore_seg_remove(qs, s);
    qs->live -= s->live;
    qs->st->stats.segments_deleted++;
    seg_destroy(s);
}

/* ---- files of a queue --------------------------------------------------------- */

edad_status qstore_write_meta(const char *dir, struct edad_bytes vhost, struct edad_bytes name)
{
    size_t n = META_HDR + vhost.len + name.len;
    uint8_t *b = xmalloc(n);
    put_u32(b, META_MAGIC);
    put_u32(b + 8, 1);
    put_u32(b + 12, (uint32_t)vhost.len);
    put_u32(b + 16, (uint32_t)name.len);
    if (vhost.len)
        memcpy(b + META_HDR, vhost.ptr, vhost.len);
    if (name.len)
        memcpy(b + META_HDR + vhost.len, name.ptr, name.len);
    put_u32(b + 4, store_crc32c(0, b + 8, n - 8));
    char *path = fs_join(dir, "meta");
    edad_status rc = fs_write_file_sync(path, b, n);
    int e = errno;
    free(path);
    free(b);
    errno = e;
    return rc;
}

static void mark_encode(uint8_t *b, bool set, uint64_t mark)
{
    memset(b, 0, DLV_LEN);
    put_u32(b, DLV_MAGIC);
    put_u32(b + 8, set ? DLV_SET : 0);
    put_u64(b + 16, mark);
    put_u32(b + 4, store_crc32c(0, b + 8, DLV_LEN - 8));
}

/*
 * The mark is 32 bytes rewritten in place at offset 0: a single sector, so
 * a write is never torn on real devices; if it were, recovery finds a bad
 * checksum and treats every recovered message as redelivered.  The first
 * write goes through pwrite (it gives the bytes their block); later ones
 * are stores into a shared mapping of the file: the page cache holds them
 * at once (a kill -9 cannot lose them), fdatasync writes them like any
 * other dirty page, and a mark moved once per dispatch pass costs no
 * system call.
 */
edad_status qstore_write_mark(struct qstore *qs)
{
    uint8_t b[DLV_LEN];
    mark_encode(b, qs->mark_set, qs->mark);
    if (qs->dlv_map) {
        memcpy(qs->dlv_map, b, DLV_LEN);
        return EDAD_OK;
    }
    if (qs->dlv_fd < 0) {
        char *path = fs_join(qs->dir, "dlv");
        qs->dlv_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        int e = errno;
        free(path);
        if (qs->dlv_fd < 0) {
            errno = e;
            return EDAD_ERR_IO;
        }
    }
    if (fs_pwrite_all(qs->dlv_fd, b, DLV_LEN, 0) != EDAD_OK)
        return EDAD_ERR_IO;
    void *map = mmap(NULL, DLV_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, qs->dlv_fd, 0);
    if (map != MAP_FAILED)
        qs->dlv_map = map;      /* else: pwrite every time, as before */
    return EDAD_OK;
}

edad_status store_queue_open(struct store *st, struct edad_bytes vhost, struct edad_bytes name,
                             struct qstore **out)
{
    struct qstore *qs = store_queue_find(st, vhost, name);
    char *path = NULL, *tmp = NULL;
    edad_status rc = EDAD_OK;

    *out = NULL;
    if (qs) {
        *out = qs;
        return EDAD_OK;
    }
    if (st->o.read_only)
        return EDAD_ERR_STATE;
    if (vhost.len > 255 || name.len > 255)
        return EDAD_ERR_TOO_LARGE;

    /* directory named by the hash; a taken name (collision) gets a suffix */
    uint64_t h = store_name_hash(vhost, name);
    for (unsigned k = 0;; k++) {
        char leaf[40];
        struct stat sb;
        if (k == 0)
            snprintf(leaf, sizeof(leaf), "%016llx", (unsigned long long)h);
        else
            snprintf(leaf, sizeof(leaf), "%016llx-%u", (unsigned long long)h, k);
        free(path);
        path = fs_join(st->qdir, leaf);
        if (lstat(path, &sb) < 0) {
            if (errno == ENOENT)
                break;
            goto fail;
        }
    }
    size_t n = strlen(path) + 5;
    tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", path);
    (void)fs_rm_rf(tmp);
    if (mkdir(tmp, 0750) < 0)
        goto fail;
    if (qstore_write_meta(tmp, vhost, name) != EDAD_OK)
        goto fail;
    uint8_t b[DLV_LEN];
    mark_encode(b, false, 0);
    char *dlv = fs_join(tmp, "dlv");
    rc = fs_write_file_sync(dlv, b, DLV_LEN);
    free(dlv);
    if (rc != EDAD_OK)
        goto fail;
    if (fs_fsync_dir(tmp) != EDAD_OK || rename(tmp, path) < 0 || fs_fsync_dir(st->qdir) != EDAD_OK)
        goto fail;
    qs = qstore_alloc(st, vhost, name, path);
    store_register_queue(st, qs);
    *out = qs;
    free(tmp);
    free(path);
    return EDAD_OK;

fail:
    store_set_errno(st, errno);
    log_error("store: creating the store of queue '%.*s' in vhost '%.*s' failed: %s",
              (int)name.len, (const char *)name.ptr, (int)vhost.len, (const char *)vhost.ptr,
              strerror(st->last_errno));
    if (tmp)
        (void)fs_rm_rf(tmp);
    free(tmp);
    free(path);
    return EDAD_ERR_IO;
}

struct edad_bytes qstore_vhost(const struct qstore *qs)
{
    return (struct edad_bytes){(const uint8_t *)qs->vhost, qs->vhost_len};
}

struct edad_bytes qstore_name(const struct qstore *qs)
{
    return (struct edad_bytes){(const uint8_t *)qs->name, qs->name_len};
}

const char *qstore_dir(const struct qstore *qs)
{
    return qs->dir;
}

uint64_t qstore_next_seq(const struct qstore *qs)
{
    return qs->next_seq;
}

bool qstore_redelivered(const struct qstore *qs, uint64_t seq)
{
    return qs->mark_set && seq <= qs->mark;
}

/* ---- writing -------------------------------------------------------------------- */

/* Close the write segment: footer, no more appends; empty ones go at once. */
static void qstore_roll(struct qstore *qs)
{
    struct seg *s = qs->active;
    qs->active = NULL;
    s->active = false;
    if (s->live == 0) {
        qstore_seg_drop(qs, s);
        return;
    }
    rec_encode_footer(sbuf_reserve(&s->wbuf, REC_FOOTER_LEN), (uint32_t)s->records, s->max_seq);
    s->wbuf.len += REC_FOOTER_LEN;
    s->end += REC_FOOTER_LEN;
    s->limit = s->end;
    s->footer = true;
    s->closing = true;
    store_seg_dirty(qs->st, s);
}

void qstore_roll_active(struct qstore *qs)
{
    if (qs->active)
        qstore_roll(qs);
}

edad_status qstore_append(struct qstore *qs, const struct store_msg *m, struct store_loc *loc)
{
    struct store *st = qs->st;
    if (st->o.read_only)
        return EDAD_ERR_STATE;
    uint64_t len = rec_msg_size(m);
    if (!len)
        return EDAD_ERR_TOO_LARGE;
    struct seg *s = qs->active;
    if (s && s->end > SEG_HDR && s->end + len > st->o.segment_size)
        qstore_roll(qs);
    if (!qs->active) {
        s = seg_new(qs, qs->next_seg_id);
        if (seg_create(s) != EDAD_OK) {
            int e = errno;
            log_error("store: creating segment %u of %s failed: %s", s->id, qs->dir, strerror(e));
            seg_free(s);
            store_set_errno(st, e);
            return EDAD_ERR_IO;
        }
        qstore_seg_insert(qs, s);
        qs->active = s;
    }
    s = qs->active;
    uint64_t off = s->end;
    rec_encode_msg(sbuf_reserve(&s->wbuf, (size_t)len), len, m);
    s->wbuf.len += (size_t)len;
    s->end += len;
    s->limit = s->end;
    s->records++;
    s->live++;
    qs->live++;
    if (m->seq > s->max_seq)
        s->max_seq = m->seq;
    if (m->seq >= qs->next_seq)
        qs->next_seq = m->seq + 1;
    qs->appended = true;
    store_seg_dirty(st, s);
    if (loc) {
        loc->seg = s->id;
        loc->off = (uint32_t)off;
    }
    return EDAD_OK;
}

edad_status qstore_ack(struct qstore *qs, struct store_loc loc)
{
    struct store *st = qs->st;
    if (st->o.read_only)
        return EDAD_ERR_STATE;
    struct seg *s = qstore_seg_find(qs, loc.seg);
    if (!s || loc.off < SEG_HDR || loc.off >= s->limit || s->live == 0)
        return EDAD_ERR_NOT_FOUND;
    if (!u32set_add(&s->acked, loc.off))
        return EDAD_ERR_NOT_FOUND;
    s->live--;
    qs->live--;
    if (s->live == 0 && (!s->active || st->o.idle_reclaim_ms == 0)) {
        /* every record acked: the whole segment goes, no ack entry needed */
        qstore_seg_drop(qs, s);
        return EDAD_OK;
    }
    ack_encode(sbuf_reserve(&s->abuf, ACK_ENTRY), s->id, loc.off);
    s->abuf.len += ACK_ENTRY;
    store_seg_dirty(st, s);
    return EDAD_OK;
}

void qstore_mark_delivered(struct qstore *qs, uint64_t seq)
{
    if (qs->st->o.read_only || (qs->mark_set && seq <= qs->mark))
        return;
    qs->mark = seq;
    qs->mark_set = true;
    if (seq >= qs->next_seq)
        qs->next_seq = seq + 1;
    if (!qs->mark_dirty) {
        qs->mark_dirty = true;
        store_mark_dirty(qs->st, qs);
    }
}

void qstore_maintain(struct qstore *qs, uint64_t now_ms)
{
    /* a read buffer (256 KiB when paging) unused for a round is given back */
    if (!qs->ra_used && qs->rbuf.cap) {
        sbuf_release(&qs->rbuf);
        qs->ra_len = 0;
    }
    qs->ra_used = false;
    if (qs->appended || !qs->last_append_ms) {
        qs->appended = false;
        qs->last_append_ms = now_ms;
        return;
    }
    struct seg *s = qs->active;
    if (s && s->live == 0 && now_ms - qs->last_append_ms >= qs->st->o.idle_reclaim_ms)
        qstore_seg_drop(qs, s);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int loc_cmp(const void *a, const void *b)
{
    uint64_t x = store_loc_pack(*(const struct store_loc *)a);
    uint64_t y = store_loc_pack(*(const struct store_loc *)b);
    return x < y ? -1 : x > y;
}

edad_status qstore_purge(struct qstore *qs, const struct store_loc *keep, size_t nkeep,
                         uint64_t *purged)
{
    struct store *st = qs->st;
    struct store_loc *k = NULL;
    uint64_t count = 0;
    edad_status rc = EDAD_OK;

    if (st->o.read_only)
        return EDAD_ERR_STATE;
    if (nkeep) {
        k = xmalloc(nkeep * sizeof(*k));
        memcpy(k, keep, nkeep * sizeof(*k));
        qsort(k, nkeep, sizeof(*k), loc_cmp);
    }
    size_t ki = 0;
    for (size_t i = 0; i < qs->nsegs;) {
        struct seg *s = qs->segs[i];
        while (ki < nkeep && k[ki].seg < s->id)
            ki++;
        size_t kend = ki;
        while (kend < nkeep && k[kend].seg == s->id)
            kend++;
        if (ki == kend || s->live == 0) {
            count += s->live;
            qstore_seg_drop(qs, s);     /* index i now holds the next one */
            continue;
        }
        /* some records stay: ack the others one by one */
        struct seg_reader r;
        struct rec_view v;
        uint64_t off;
        enum seg_next res;
        seg_reader_init(&r, s, SEG_HDR, ITER_CHUNK);
        while ((res = seg_reader_next(&r, s->limit, &v, &off)) == SEGR_RECORD) {
            if (v.type != REC_MSG || u32set_has(&s->acked, (uint32_t)off))
                continue;
            struct store_loc l = {s->id, (uint32_t)off};
            if (bsearch(&l, k + ki, kend - ki, sizeof(*k), loc_cmp) || s->live == 0)
                continue;
            /* an ack, without dropping the segment under the reader */
            u32set_add(&s->acked, l.off);
            s->live--;
            qs->live--;
            ack_encode(sbuf_reserve(&s->abuf, ACK_ENTRY), s->id, l.off);
            s->abuf.len += ACK_ENTRY;
            store_seg_dirty(st, s);
            count++;
        }
        seg_reader_free(&r);
        if (res == SEGR_ERROR) {
            store_set_errno(st, errno);
            rc = EDAD_ERR_IO;
            break;
        }
        ki = kend;
        if (s->live == 0 && (!s->active || st->o.idle_reclaim_ms == 0))
            qstore_seg_drop(qs, s);
        else
            i++;
    }
    free(k);
    if (purged)
        *purged = count;
    return rc;
}

edad_status qstore_ack_many(struct qstore *qs, uint64_t *locs, size_t n, uint64_t *acked)
{
    struct store *st = qs->st;
    uint64_t count = 0;
    if (acked)
        *acked = 0;
    if (st->o.read_only)
        return EDAD_ERR_STATE;
    qsort(locs, n, sizeof(*locs), u64_cmp);
    for (size_t i = 0; i < n;) {
        uint32_t id = (uint32_t)(locs[i] >> 32);
        size_t end = i;
        uint64_t listed = 0;
        struct seg *s = qstore_seg_find(qs, id);
        for (; end < n && (uint32_t)(locs[end] >> 32) == id; end++) {
            uint32_t off = (uint32_t)locs[end];
            if (s && off >= SEG_HDR && off < s->limit && !u32set_has(&s->acked, off) &&
                (end == i || locs[end] != locs[end - 1]))
                listed++;
        }
        if (s && listed && listed == s->live) {
            count += s->live;
            qstore_seg_drop(qs, s);     /* every live record listed: at once */
        } else if (s) {
            for (size_t j = i; j < end; j++)
                if (qstore_ack(qs, store_loc_unpack(locs[j])) == EDAD_OK)
                    count++;
        }
        i = end;
    }
    if (acked)
        *acked = count;
    return EDAD_OK;
}

edad_status qstore_delete(struct qstore *qs)
{
    if (!qs)
        return EDAD_OK;
    struct store *st = qs->st;
    if (st->o.read_only || qs->iters)
        return EDAD_ERR_STATE;
    size_t n = strlen(qs->dir) + 9;
    char *gone = xmalloc(n);
    snprintf(gone, n, "%s.deleted", qs->dir);
    edad_status rc = EDAD_OK;
    const char *victim = gone;
    if (rename(qs->dir, gone) < 0) {
        log_warning("store: renaming %s for deletion failed: %s", qs->dir, strerror(errno));
        victim = qs->dir;
    }
    store_unregister_queue(st, qs);
    for (size_t i = 0; i < qs->nsegs; i++) {
        st->stats.segments_deleted++;
        seg_free(qs->segs[i]);
    }
    qs->nsegs = 0;
    if (fs_rm_rf(victim) != EDAD_OK) {
        store_set_errno(st, errno);
        log_error("store: removing %s failed: %s", victim, strerror(errno));
        rc = EDAD_ERR_IO;
    }
    (void)fs_fsync_dir(st->qdir);
    free(gone);
    qstore_free_mem(qs);
    return rc;
}

/* ---- statistics -------------------------------------------------------------------- */

void qstore_get_stats(const struct qstore *qs, struct qstore_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->messages = qs->live;
    out->segments = qs->nsegs;
    for (size_t i = 0; i < qs->nsegs; i++) {
        const struct seg *s = qs->segs[i];
        out->disk_bytes += s->end + s->ack_size + s->abuf.len;
    }
    out->next_seq = qs->next_seq;
    out->delivered_set = qs->mark_set;
    out->delivered_mark = qs->mark;
    out->damaged_records = qs->damaged;
    out->dropped_bytes = qs->dropped_bytes;
    out->mark_damaged = qs->mark_damaged;
}

void qstore_foreach_segment(const struct qstore *qs,
                            void (*fn)(void *ctx, const struct store_segment_info *si), void *ctx)
{
    for (size_t i = 0; i < qs->nsegs; i++) {
        const struct seg *s = qs->segs[i];
        struct store_segment_info si = {
            .id = s->id,
            .bytes = s->end,
            .records = s->records,
            .live = s->live,
            .damaged_records = s->damaged,
            .dropped_bytes = s->dropped_bytes,
            .footer = s->footer,
            .active = s->active,
        };
        fn(ctx, &si);
    }
}

/* ---- reading ---------------------------------------------------------------------- */

static void rec_fill(const struct qstore *qs, struct store_rec *rec, uint32_t seg, uint64_t off,
                     const struct rec_view *v)
{
    rec->loc.seg = seg;
    rec->loc.off = (uint32_t)off;
    rec->seq = v->seq;
    rec->flags = v->flags;
    rec->redelivered = qstore_redelivered(qs, v->seq);
    rec->exchange = v->exchange;
    rec->routing_key = v->routing_key;
    rec->props = v->props;
    rec->body = v->body;
    rec->meta = v->meta;
}

struct qstore_iter {
    struct qstore *qs;
    uint32_t seg_id;            /* segment being read (or the next id to look for) */
    bool have;                  /* r is set up for seg_id */
    struct seg_reader r;
};

struct qstore_iter *qstore_iter_new(struct qstore *qs)
{
    struct qstore_iter *it = xcalloc(1, sizeof(*it));
    it->qs = qs;
    it->seg_id = 0;
    qs->iters++;
    return it;
}

void qstore_iter_free(struct qstore_iter *it)
{
    if (!it)
        return;
    it->qs->iters--;
    seg_reader_free(&it->r);
    free(it);
}

edad_status qstore_iter_next(struct qstore_iter *it, struct store_rec *rec)
{
    struct qstore *qs = it->qs;
    for (;;) {
        struct seg *s = qstore_seg_at_or_after(qs, it->seg_id);
        if (!s)
            return EDAD_AGAIN;
        if (!it->have || s->id != it->seg_id) {
            seg_reader_free(&it->r);
            seg_reader_init(&it->r, s, SEG_HDR, ITER_CHUNK);
            it->seg_id = s->id;
            it->have = true;
        }
        it->r.s = s;            /* same id, same segment: refresh the pointer */
        struct rec_view v;
        uint64_t off;
        switch (seg_reader_next(&it->r, s->limit, &v, &off)) {
        case SEGR_RECORD:
            if (v.type != REC_MSG || u32set_has(&s->acked, (uint32_t)off))
                continue;
            rec_fill(qs, rec, s->id, off, &v);
            return EDAD_OK;
        case SEGR_END:
            if (s->active && !it->r.stopped)
                return EDAD_AGAIN;      /* more may be appended here */
            it->seg_id = s->id + 1;
            it->have = false;
            continue;
        case SEGR_ERROR:
        default:
            store_set_errno(qs->st, errno);
            return EDAD_ERR_IO;
        }
    }
}

/*
 * Sequential paging reads one record after the other: each miss reads
 * READ_AHEAD bytes from the record on, and the records that follow are
 * parsed from that window (one pread per ~250 records of 1 KiB).  Only
 * bytes already written to the file are kept in the window: bytes of a
 * write that fails are truncated away and their offsets reused.
 */
#define READ_AHEAD (256u * 1024)

/* Parse the record at p (avail bytes); EDAD_AGAIN when it is longer. */
static edad_status read_parse(const uint8_t *p, size_t avail, struct rec_view *v, uint32_t *len)
{
    if (avail < REC_MSG_HDR || !rec_header_plausible(p, avail))
        return EDAD_ERR_MALFORMED;
    *len = get_u32(p + 4);
    if (*len > avail)
        return EDAD_AGAIN;
    if (rec_parse(p, *len, v) != REC_OK || v->type != REC_MSG)
        return EDAD_ERR_MALFORMED;
    return EDAD_OK;
}

edad_status qstore_read_at(struct qstore *qs, struct store_loc loc, struct store_rec *rec)
{
    struct seg *s = qstore_seg_find(qs, loc.seg);
    if (!s || loc.off < SEG_HDR || (uint64_t)loc.off + REC_MSG_HDR > s->limit ||
        u32set_has(&s->acked, loc.off))
        return EDAD_ERR_NOT_FOUND;
    struct sbuf *b = &qs->rbuf;
    struct rec_view v;
    uint32_t len = 0;
    edad_status rc;
    qs->ra_used = true;
    if (qs->ra_len && qs->ra_seg == loc.seg && loc.off >= qs->ra_off &&
        loc.off - qs->ra_off < qs->ra_len) {
        size_t at = loc.off - qs->ra_off;
        rc = read_parse(b->p + at, qs->ra_len - at, &v, &len);
        if (rc == EDAD_OK && (uint64_t)loc.off + len <= s->limit)
            goto found;
    }
    /* miss: read a window from this record on */
    qs->ra_len = 0;
    uint64_t room = s->limit - loc.off;
    size_t want = room < READ_AHEAD ? (size_t)room : READ_AHEAD;
    size_t got;
    for (int pass = 0; pass < 2; pass++) {
        b->len = 0;
        sbuf_reserve(b, want);
        if (seg_read(s, loc.off, b->p, want, &got) != EDAD_OK)
            goto io;
        rc = read_parse(b->p, got, &v, &len);
        if (rc == EDAD_OK)
            break;
        if (rc != EDAD_AGAIN || pass == 1 || (uint64_t)loc.off + len > s->limit)
            return EDAD_ERR_MALFORMED;
        want = len;             /* a record longer than the window */
    }
    if ((uint64_t)loc.off + len > s->limit)
        return EDAD_ERR_MALFORMED;
    if (loc.off < s->size) {
        uint64_t on_disk = s->size - loc.off;
        qs->ra_seg = loc.seg;
        qs->ra_off = loc.off;
        qs->ra_len = got < on_disk ? got : (size_t)on_disk;
    }
found:
    rec_fill(qs, rec, s->id, loc.off, &v);
    return EDAD_OK;
io:
    store_set_errno(qs->st, errno);
    return EDAD_ERR_IO;
}
