/*
 * recover.c - startup replay of the data directory: every queue directory
 * (meta file, delivered mark, segments and ack files), checksum
 * verification, deletion of fully acked segments (without reading them when
 * their footer's record count matches their acks), and damage reports that
 * never stop the broker from starting.  Work grows with live data, not
 * with history.  Not here: writing (segment.c, qstore.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define RECOVER_CHUNK (1u << 20)

struct idlist {
    uint32_t *v;
    size_t n, cap;
};

static void idlist_add(struct idlist *l, uint32_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = id;
}

static int id_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool idlist_has(const struct idlist *l, uint32_t id)
{
    return l->n && bsearch(&id, l->v, l->n, sizeof(*l->v), id_cmp);
}

/* "msgs.0000000042" -> 42 (exactly ten digits after "<kind>.") */
static bool parse_file_id(const char *name, const char *kind, uint32_t *id)
{
    size_t k = strlen(kind);
    if (strncmp(name, kind, k) != 0 || name[k] != '.' || strlen(name + k + 1) != 10)
        return false;
    uint64_t v = 0;
    for (const char *p = name + k + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > UINT32_MAX)
        return false;
    *id = (uint32_t)v;
    return true;
}

static uint8_t *read_small_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    uint8_t *b = xmalloc(max);
    size_t got = 0;
    edad_status rc = fs_pread_full(fd, b, max, 0, &got);
    close(fd);
    if (rc != EDAD_OK) {
        free(b);
        return NULL;
    }
    *len = got;
    return b;
}

/* Parse a meta file; the names are slices of b. */
static bool meta_parse(const uint8_t *b, size_t n, struct edad_bytes *vhost, struct edad_bytes *name)
{
    if (n < META_HDR || get_u32(b) != META_MAGIC || get_u32(b + 8) != 1)
        return false;
    uint32_t vl = get_u32(b + 12), nl = get_u32(b + 16);
    if (vl > 255 || nl > 255 || META_HDR + vl + nl != n)
        return false;
    if (store_crc32c(0, b + 8, n - 8) != get_u32(b + 4))
        return false;
    *vhost = (struct edad_bytes){b + META_HDR, vl};
    *name = (struct edad_bytes){b + META_HDR + vl, nl};
    return true;
}

static void load_mark(struct qstore *qs)
{
    char *path = fs_join(qs->dir, "dlv");
    size_t n = 0;
    uint8_t *b = read_small_file(path, DLV_LEN, &n);
    free(path);
    if (b && n == DLV_LEN && get_u32(b) == DLV_MAGIC &&
        store_crc32c(0, b + 8, DLV_LEN - 8) == get_u32(b + 4)) {
        qs->mark_set = (get_u32(b + 8) & DLV_SET) != 0;
        qs->mark = get_u64(b + 16);
        if (qs->mark_set && qs->mark >= qs->next_seq)
            qs->next_seq = qs->mark + 1;
    } else {
        qs->mark_damaged = true;
    }
    free(b);
}

/* Read acks.<id> into s->acked (offsets below size only). */
static void load_acks(struct seg *s, uint64_t size)
{
    char *path = seg_path(s->qs, "acks", s->id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        size_t n = (size_t)sb.st_size, got = 0;
        uint8_t *b = xmalloc(n);
        if (fs_pread_full(fd, b, n, 0, &got) == EDAD_OK) {
            for (size_t i = 0; i + ACK_ENTRY <= got; i += ACK_ENTRY) {
                uint32_t off = ack_decode(b + i, s->id);
                if (off && off < size)
                    u32set_add(&s->acked, off);
            }
        }
        free(b);
        /* a torn last entry is skipped: appends continue at the next boundary */
        s->ack_size = ((uint64_t)sb.st_size + ACK_ENTRY - 1) / ACK_ENTRY * ACK_ENTRY;
    }
    close(fd);
}

/* Footer record count, or -1 when the segment has no valid footer. */
static int64_t read_footer(int fd, uint64_t size, uint32_t id, uint64_t *max_seq)
{
    uint8_t b[REC_FOOTER_LEN], h[SEG_HDR];
    size_t got;
    struct rec_view v;
    if (size < SEG_HDR + REC_FOOTER_LEN)
        return -1;
    if (fs_pread_full(fd, h, SEG_HDR, 0, &got) != EDAD_OK || !seg_header_valid(h, got, id))
        return -1;
    if (fs_pread_full(fd, b, REC_FOOTER_LEN, size - REC_FOOTER_LEN, &got) != EDAD_OK ||
        got != REC_FOOTER_LEN || rec_parse(b, got, &v) != REC_OK || v.type != REC_FOOTER)
        return -1;
    *max_seq = v.seq;
    return v.footer_records;
}

static void recover_segment(struct qstore *qs, uint32_t id)
{
    struct store *st = qs->st;
    struct seg *s = seg_new(qs, id);
    char *path = seg_path(qs, "msgs", id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        log_warning("store: cannot read %s: %s; skipped", path, strerror(errno));
        st->stats.damaged_records++;
        qs->damaged++;
        if (fd >= 0)
            close(fd);
        free(path);
        seg_free(s);
        return;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0 && !st->o.read_only) {
        /* created by an append, killed before the first flush: nothing lost */
        close(fd);
        free(path);
        seg_destroy(s);
        return;
    }
    load_acks(s, size);

    /* fully acked and closed cleanly: delete without reading the records */
    uint64_t max_seq = 0;
    int64_t fcount = read_footer(fd, size, id, &max_seq);
    if (fcount >= 0 && (uint64_t)fcount == s->acked.count && !st->o.read_only) {
        if (max_seq >= qs->next_seq)
            qs->next_seq = max_seq + 1;
        close(fd);
        free(path);
        st->stats.skipped_segments++;
        st->stats.segments_deleted++;
        seg_destroy(s);
        return;
    }

    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    s->fd = fd;                 /* read through it during the scan */
    s->size = s->end = s->limit = size;
    uint8_t h[SEG_HDR];
    size_t got = 0;
    if (fs_pread_full(fd, h, SEG_HDR, 0, &got) != EDAD_OK || !seg_header_valid(h, got, id)) {
        log_warning("store: %s: bad segment header; its %llu bytes are skipped", path,
                    (unsigned long long)size);
        s->damaged = 1;
        s->dropped_bytes = size;
        s->limit = size < SEG_HDR ? size : SEG_HDR;
    } else {
        struct seg_reader r;
        struct rec_view v;
        uint64_t off;
        enum seg_next res;
        seg_reader_init(&r, s, SEG_HDR, RECOVER_CHUNK);
        while ((res = seg_reader_next(&r, size, &v, &off)) == SEGR_RECORD) {
            if (v.type == REC_FOOTER) {
                s->footer = true;
                continue;
            }
            s->records++;
            if (v.seq > s->max_seq)
                s->max_seq = v.seq;
            if (!u32set_has(&s->acked, (uint32_t)off))
                s->live++;
        }
        if (res == SEGR_ERROR) {
            log_warning("store: %s: read error at offset %llu: %s; the rest is skipped", path,
                        (unsigned long long)r.off, strerror(errno));
            r.stopped = true;
            r.stop_off = r.off;
            r.dropped += size - r.off;
        }
        s->damaged = r.damaged;
        s->dropped_bytes = r.dropped;
        if (r.stopped)
            s->limit = r.stop_off;
        else if (!r.damaged && !r.dropped)
            s->verified = s->limit;     /* the loading iterator need not check again */
        if (r.damaged || r.dropped)
            log_warning("store: %s (queue '%s' in vhost '%s'): %llu damaged record(s), "
                        "%llu byte(s) dropped, first at offset %llu; %llu record(s) kept",
                        path, qs->name, qs->vhost, (unsigned long long)r.damaged,
                        (unsigned long long)r.dropped, (unsigned long long)r.first_damage,
                        (unsigned long long)s->live);
        seg_reader_free(&r);
    }
    close(fd);
    s->fd = -1;
    free(path);
    if (s->max_seq >= qs->next_seq)
        qs->next_seq = s->max_seq + 1;
    qs->damaged += s->damaged;
    qs->dropped_bytes += s->dropped_bytes;
    st->stats.damaged_records += s->damaged;
    st->stats.dropped_bytes += s->dropped_bytes;
    st->stats.recovered_segments++;
    st->stats.recovered_messages += s->live;
    if (s->live == 0 && !st->o.read_only) {
        st->stats.segments_deleted++;
        seg_destroy(s);
        return;
    }
    if (s->id >= qs->next_seg_id)
        qs->next_seg_id = s->id + 1;
    qstore_seg_insert(qs, s);
    qs->live += s->live;
}

static void recover_queue(struct store *st, const char *dir)
{
    char *mpath = fs_join(dir, "meta");
    size_t mlen = 0;
    uint8_t *meta = read_small_file(mpath, META_HDR + 512, &mlen);
    struct edad_bytes vhost, name;
    struct idlist msgs = {0}, acks = {0};
    bool ok = meta && meta_parse(meta, mlen, &vhost, &name);
    free(mpath);

    DIR *d = opendir(dir);
    if (!d) {
        log_warning("store: cannot read %s: %s; skipped", dir, strerror(errno));
        st->stats.unreadable_queues++;
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        uint32_t id;
        if (parse_file_id(de->d_name, "msgs", &id))
            idlist_add(&msgs, id);
        else if (parse_file_id(de->d_name, "acks", &id))
            idlist_add(&acks, id);
    }
    closedir(d);
    if (msgs.n)
        qsort(msgs.v, msgs.n, sizeof(*msgs.v), id_cmp);
    if (acks.n)
        qsort(acks.v, acks.n, sizeof(*acks.v), id_cmp);

    if (!ok) {
        if (!msgs.n && !st->o.read_only) {
            log_info("store: removing %s (no meta file, no messages)", dir);
            (void)fs_rm_rf(dir);
        } else {
            log_warning("store: %s has no readable meta file; its %zu segment(s) are left alone",
                        dir, msgs.n);
            st->stats.unreadable_queues++;
        }
        goto out;
    }
    if (store_queue_find(st, vhost, name)) {
        log_warning("store: %s holds queue '%.*s' in vhost '%.*s' a second time; skipped", dir,
                    (int)name.len, (const char *)name.ptr, (int)vhost.len,
                    (const char *)vhost.ptr);
        st->stats.unreadable_queues++;
        goto out;
    }

    struct qstore *qs = qstore_alloc(st, vhost, name, dir);
    load_mark(qs);
    for (size_t i = 0; i < msgs.n; i++)
        recover_segment(qs, msgs.v[i]);
    for (size_t i = 0; i < acks.n; i++) {
        if (acks.v[i] >= qs->next_seg_id)
            qs->next_seg_id = acks.v[i] + 1;    /* never reuse a number a stale file has */
        if (!idlist_has(&msgs, acks.v[i]) && !st->o.read_only) {
            char *p = seg_path(qs, "acks", acks.v[i]);
            unlink(p);
            free(p);
        }
    }
    if (msgs.n && msgs.v[msgs.n - 1] >= qs->next_seg_id)
        qs->next_seg_id = msgs.v[msgs.n - 1] + 1;
    if (qs->mark_damaged) {
        /* conservative: everything recovered may have been delivered */
        if (qs->next_seq > 1) {
            qs->mark_set = true;
            qs->mark = qs->next_seq - 1;
        }
        if (qs->live)
            log_warning("store: %s: unreadable delivered mark; its %llu message(s) come back "
                        "flagged redelivered", dir, (unsigned long long)qs->live);
        if (!st->o.read_only)
            (void)qstore_write_mark(qs);
    }
    store_register_queue(st, qs);

out:
    free(meta);
    free(msgs.v);
    free(acks.v);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

edad_status recover_queues(struct store *st, char *err, size_t errlen)
{
    DIR *d = opendir(st->qdir);
    if (!d) {
        if (errno == ENOENT && st->o.read_only)
            return EDAD_OK;
        snprintf(err, errlen, "cannot read %s: %s", st->qdir, strerror(errno));
        return EDAD_ERR_IO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        char *path = fs_join(st->qdir, names[i]);
        struct stat sb;
        if (has_suffix(names[i], ".tmp") || has_suffix(names[i], ".deleted")) {
            if (!st->o.read_only)
                (void)fs_rm_rf(path);   /* unfinished create or delete */
        } else if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            recover_queue(st, path);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return EDAD_OK;
}
