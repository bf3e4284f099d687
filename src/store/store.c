/*
 * store.c - the store as a whole: options, the data directory lock, open
 * (recovery) and close, the per-iteration flush and its hand-over to the
 * sync thread, sync requests and completions, housekeeping, statistics and
 * the registry of queue stores.  Not here: the record format (format.c),
 * files of one segment (segment.c), one queue's logic (qstore.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include "store_int.h"

void store_opts_init(struct store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->segment_size = STORE_SEGMENT_SIZE_DEFAULT;
    o->sync = true;
    o->idle_reclaim_ms = 1000;
}

/* ---- small helpers shared by the store's files ----------------------------------- */

void store_set_errno(struct store *st, int e)
{
    st->last_errno = e;
}

int store_last_errno(const struct store *st)
{
    return st->last_errno;
}

const char *store_data_dir(const struct store *st)
{
    return st->dir;
}

static void store_wake(struct store *st)
{
    if (!st->woken && st->o.wakeup) {
        st->woken = true;
        st->o.wakeup(st->o.ctx);
    }
}

void store_seg_dirty(struct store *st, struct seg *s)
{
    if (s->dirty)
        return;
    store_wake(st);
    s->dirty = true;
    s->dprev = NULL;
    s->dnext = st->dirty;
    if (st->dirty)
        st->dirty->dprev = s;
    st->dirty = s;
}

void store_seg_undirty(struct store *st, struct seg *s)
{
    if (!s->dirty)
        return;
    if (s->dprev)
        s->dprev->dnext = s->dnext;
    else
        st->dirty = s->dnext;
    if (s->dnext)
        s->dnext->dprev = s->dprev;
    s->dnext = s->dprev = NULL;
    s->dirty = false;
}

void store_mark_dirty(struct store *st, struct qstore *qs)
{
    store_wake(st);
    qs->mnext = st->mdirty;
    st->mdirty = qs;
}

void store_dir_created(struct store *st, const char *dir)
{
    if (!st->o.sync)
        return;
    if (st->nnewdirs && !strcmp(st->newdirs[st->nnewdirs - 1], dir))
        return;
    if (st->nnewdirs == st->capnewdirs) {
        st->capnewdirs = st->capnewdirs ? st->capnewdirs * 2 : 8;
        st->newdirs = xrealloc(st->newdirs, st->capnewdirs * sizeof(*st->newdirs));
    }
    st->newdirs[st->nnewdirs++] = xstrdup(dir);
}

void store_complete(struct store *st, struct sync_cookie *c, size_t n)
{
    if (!st->o.sync_done)
        return;
    for (size_t i = 0; i < n; i++)
        st->o.sync_done(st->o.ctx, c[i].cookie, c[i].st);
}

/* ---- the queue registry -------------------------------------------------------------- */

uint64_t store_name_hash(struct edad_bytes vhost, struct edad_bytes name)
{
    uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a 64 over len(vhost), vhost, name */
    uint8_t len[4];
    put_u32(len, (uint32_t)vhost.len);
    for (size_t i = 0; i < 4; i++)
        h = (h ^ len[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < vhost.len; i++)
        h = (h ^ vhost.ptr[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < name.len; i++)
        h = (h ^ name.ptr[i]) * 0x100000001b3ull;
    return h;
}

static void registry_grow(struct store *st)
{
    size_t n = st->nbuckets ? st->nbuckets * 2 : 64;
    struct qstore **b = xcalloc(n, sizeof(*b));
    for (struct qstore *qs = st->qhead; qs; qs = qs->next) {
        size_t i = qs->hash & (n - 1);
        qs->hnext = b[i];
        b[i] = qs;
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
}

void store_register_queue(struct store *st, struct qstore *qs)
{
    qs->prev = st->qtail;
    qs->next = NULL;
    if (st->qtail)
        st->qtail->next = qs;
    else
        st->qhead = qs;
    st->qtail = qs;
    st->nqueues++;
    if (st->nqueues > st->nbuckets) {
        registry_grow(st);      /* rehashes the list, qs included */
        return;
    }
    size_t i = qs->hash & (st->nbuckets - 1);
    qs->hnext = st->buckets[i];
    st->buckets[i] = qs;
}

void store_unregister_queue(struct store *st, struct qstore *qs)
{
    struct qstore **pp = &st->buckets[qs->hash & (st->nbuckets - 1)];
    while (*pp && *pp != qs)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = qs->hnext;
    if (qs->prev)
        qs->prev->next = qs->next;
    else
        st->qhead = qs->next;
    if (qs->next)
        qs->next->prev = qs->prev;
    else
        st->qtail = qs->prev;
    st->nqueues--;
    if (qs->mark_dirty) {
        for (struct qstore **mp = &st->mdirty; *mp; mp = &(*mp)->mnext)
            if (*mp == qs) {
                *mp = qs->mnext;
                break;
            }
        qs->mark_dirty = false;
    }
}

struct qstore *store_queue_find(struct store *st, struct edad_bytes vhost, struct edad_bytes name)
{
    if (!st->nbuckets)
        return NULL;
    uint64_t h = store_name_hash(vhost, name);
    for (struct qstore *qs = st->buckets[h & (st->nbuckets - 1)]; qs; qs = qs->hnext)
        if (qs->hash == h && bytes_eq(qstore_vhost(qs), vhost) && bytes_eq(qstore_name(qs), name))
            return qs;
    return NULL;
}

void store_foreach_queue(struct store *st, bool (*fn)(void *ctx, struct qstore *qs), void *ctx)
{
    for (struct qstore *qs = st->qhead, *next; qs; qs = next) {
        next = qs->next;
        if (!fn(ctx, qs))
            break;
    }
}

/* ---- open and close ------------------------------------------------------------------- */

static edad_status store_lock(struct store *st, char *err, size_t errlen)
{
    char *path = fs_join(st->dir, ".lock");
    int flags = st->o.read_only ? O_RDONLY : O_RDWR | O_CREAT;
    st->lock_fd = open(path, flags | O_CLOEXEC, 0640);
    free(path);
    if (st->lock_fd < 0) {
        if (st->o.read_only && errno == ENOENT)
            return EDAD_OK;     /* never opened by edad: nobody to race with */
        snprintf(err, errlen, "cannot open the lock file of data directory %s: %s", st->dir,
                 strerror(errno));
        return EDAD_ERR_IO;
    }
    if (flock(st->lock_fd, (st->o.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = {0};
        size_t got = 0;
        (void)fs_pread_full(st->lock_fd, buf, sizeof(buf) - 1, 0, &got);
        long pid = strtol(buf, NULL, 10);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "data directory %s is in use by pid %ld", st->dir, pid);
        else
            snprintf(err, errlen, "cannot lock data directory %s: %s", st->dir, strerror(e));
        return e == EWOULDBLOCK ? EDAD_ERR_STATE : EDAD_ERR_IO;
    }
    if (!st->o.read_only) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (ftruncate(st->lock_fd, 0) < 0 ||
            fs_pwrite_all(st->lock_fd, buf, (size_t)n, 0) != EDAD_OK) {
            snprintf(err, errlen, "cannot write the lock file of %s: %s", st->dir, strerror(errno));
            return EDAD_ERR_IO;
        }
    }
    return EDAD_OK;
}

static void store_free(struct store *st)
{
    while (st->qhead) {
        struct qstore *qs = st->qhead;
        store_unregister_queue(st, qs);
        qstore_free_mem(qs);
    }
    for (size_t i = 0; i < st->nnewdirs; i++)
        free(st->newdirs[i]);
    free(st->newdirs);
    free(st->batch);
    free(st->buckets);
    free(st->ffiles);
    free(st->fsegs);
    sync_destroy(st);
    if (st->efd >= 0)
        close(st->efd);
    if (st->lock_fd >= 0)
        close(st->lock_fd);     /* releases the flock */
    free(st->qdir);
    free(st->dir);
    free(st);
}

edad_status store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    *out = NULL;
    if (!o || !o->data_dir || !o->data_dir[0]) {
        snprintf(err, errlen, "no data directory given");
        return EDAD_ERR_INVALID;
    }
    uint32_t segsz = o->segment_size ? o->segment_size : STORE_SEGMENT_SIZE_DEFAULT;
    if (segsz < STORE_SEGMENT_SIZE_MIN || segsz > STORE_SEGMENT_SIZE_MAX) {
        snprintf(err, errlen, "segment size %u outside [%u, %u]", segsz, STORE_SEGMENT_SIZE_MIN,
                 STORE_SEGMENT_SIZE_MAX);
        return EDAD_ERR_INVALID;
    }

    struct store *st = xcalloc(1, sizeof(*st));
    edad_status rc;
    uint64_t t0 = clock_mono_us();
    st->o = *o;
    st->o.segment_size = segsz;
    st->dir = xstrdup(o->data_dir);
    st->o.data_dir = st->dir;
    st->qdir = fs_join(st->dir, "queues");
    st->lock_fd = -1;
    st->efd = -1;
    sync_init(st);

    if (!st->o.read_only && fs_mkdir_p(st->dir) != EDAD_OK) {
        snprintf(err, errlen, "cannot create data directory %s: %s", st->dir, strerror(errno));
        rc = EDAD_ERR_IO;
        goto fail;
    }
    if (st->o.read_only && access(st->dir, R_OK | X_OK) < 0) {
        snprintf(err, errlen, "cannot read data directory %s: %s", st->dir, strerror(errno));
        rc = EDAD_ERR_IO;
        goto fail;
    }
    if ((rc = store_lock(st, err, errlen)) != EDAD_OK)
        goto fail;
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        rc = EDAD_ERR_IO;
        goto fail;
    }
    if (!st->o.read_only) {
        char *tmp = fs_join(st->dir, "definitions.json.tmp");
        unlink(tmp);
        free(tmp);
        if (fs_mkdir_p(st->qdir) != EDAD_OK) {
            snprintf(err, errlen, "cannot create %s: %s", st->qdir, strerror(errno));
            rc = EDAD_ERR_IO;
            goto fail;
        }
    }
    if ((rc = recover_queues(st, err, errlen)) != EDAD_OK)
        goto fail;
    if (st->o.sync && !st->o.read_only && (rc = sync_start(st)) != EDAD_OK) {
        snprintf(err, errlen, "cannot start the sync thread: %s", strerror(errno));
        goto fail;
    }
    st->stats.recovery_us = clock_mono_us() - t0;
    struct store_stats s;
    store_get_stats(st, &s);
    log_info("store: %s: %llu queue(s), %llu message(s) in %llu segment(s), %.1f MiB, "
             "recovered in %.3f s%s",
             st->dir, (unsigned long long)s.queues, (unsigned long long)s.messages,
             (unsigned long long)s.segments, (double)s.disk_bytes / (1024.0 * 1024.0),
             (double)st->stats.recovery_us / 1e6,
             s.damaged_records || s.dropped_bytes || s.unreadable_queues ? " (with damage, see above)"
                                                                       : "");
    *out = st;
    return EDAD_OK;

fail:
    store_free(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    /* a clean shutdown closes every write segment with its footer, so the
       next start can drop fully acked ones without reading them */
    if (!st->o.read_only)
        for (struct qstore *qs = st->qhead; qs; qs = qs->next)
            qstore_roll_active(qs);
    (void)store_flush(st);
    sync_stop(st);
    (void)sync_poll(st);
    store_free(st);
}

/* ---- flush and sync ---------------------------------------------------------------- */

static void ffile_add(struct store *st, int fd, uint64_t *epoch, bool data)
{
    if (st->nffiles == st->capffiles) {
        st->capffiles = st->capffiles ? st->capffiles * 2 : 16;
        st->ffiles = xrealloc(st->ffiles, st->capffiles * sizeof(*st->ffiles));
    }
    st->ffiles[st->nffiles].fd = fd;
    st->ffiles[st->nffiles].epoch = epoch;
    st->ffiles[st->nffiles].data = data;
    st->nffiles++;
}

edad_status store_flush(struct store *st)
{
    edad_status rc = EDAD_OK;

    if (st->o.read_only) {
        store_complete(st, st->batch, st->nbatch);
        st->nbatch = 0;
        return EDAD_OK;
    }
    st->stats.flushes++;
    st->woken = false;
    st->nffiles = st->nfsegs = 0;

    /* 1. write: one pwrite per file touched */
    while (st->dirty) {
        struct seg *s = st->dirty;
        store_seg_undirty(st, s);
        bool ws, wa;
        if (seg_flush(s, &ws, &wa) != EDAD_OK)
            rc = EDAD_ERR_IO;
        if (ws && s->fd >= 0)
            ffile_add(st, s->fd, &s->sync_epoch, true);
        if (wa)
            ffile_add(st, s->ack_fd, &s->ack_sync_epoch, false);
        if (st->nfsegs == st->capfsegs) {
            st->capfsegs = st->capfsegs ? st->capfsegs * 2 : 16;
            st->fsegs = xrealloc(st->fsegs, st->capfsegs * sizeof(*st->fsegs));
        }
        st->fsegs[st->nfsegs++] = s;
    }
    struct qstore *retry = NULL;
    while (st->mdirty) {
        struct qstore *qs = st->mdirty;
        st->mdirty = qs->mnext;
        if (qstore_write_mark(qs) == EDAD_OK) {
            qs->mark_dirty = false;
            st->stats.writes++;
            st->stats.bytes_written += DLV_LEN;
            ffile_add(st, qs->dlv_fd, &qs->dlv_sync_epoch, false);
        } else {
            store_set_errno(st, errno);
            log_error("store: writing the delivered mark of %s failed: %s", qs->dir,
                      strerror(errno));
            st->stats.write_errors++;
            rc = EDAD_ERR_IO;
            qs->mnext = retry;
            retry = qs;
        }
    }
    st->mdirty = retry;

    /* 2. completions: to the sync thread, or at once without sync */
    if (st->sync.running) {
        if (st->nffiles || st->nnewdirs || st->nbatch)
            sync_handover(st, st->ffiles, st->nffiles);
    } else {
        if (st->batch_failed)
            for (size_t i = 0; i < st->nbatch; i++)
                st->batch[i].st = EDAD_ERR_IO;
        size_t n = st->nbatch;
        st->nbatch = 0;
        store_complete(st, st->batch, n);
    }
    st->batch_failed = false;

    /* 3. segments closed by this flush: drop their fds; failed empty ones go */
    for (size_t i = 0; i < st->nfsegs; i++) {
        struct seg *s = st->fsegs[i];
        if (s->closing && s->fd >= 0 && !s->wbuf.len) {
            close(s->fd);
            s->fd = -1;
            s->closing = false;
        }
        if (s->abuf.len)
            store_seg_dirty(st, s);     /* ack write failed: retry next time */
        else if (!s->active && s->live == 0)
            qstore_seg_drop(s->qs, s);
    }
    st->nfsegs = 0;
    return rc;
}

void store_sync_request(struct store *st, uint64_t cookie)
{
    store_wake(st);
    if (st->nbatch == st->capbatch) {
        st->capbatch = st->capbatch ? st->capbatch * 2 : 64;
        st->batch = xrealloc(st->batch, st->capbatch * sizeof(*st->batch));
    }
    st->batch[st->nbatch].cookie = cookie;
    st->batch[st->nbatch].st = EDAD_OK;
    st->nbatch++;
}

int store_sync_fd(const struct store *st)
{
    return st->efd;
}

size_t store_sync_poll(struct store *st)
{
    return sync_poll(st);
}

void store_maintain(struct store *st)
{
    if (st->o.read_only)
        return;
    uint64_t now = clock_mono_ms();
    for (struct qstore *qs = st->qhead; qs; qs = qs->next)
        qstore_maintain(qs, now);
}

/* ---- statistics ------------------------------------------------------------------------ */

void store_get_stats(const struct store *st, struct store_stats *out)
{
    *out = st->stats;
    out->queues = st->nqueues;
    out->segments = out->messages = out->disk_bytes = 0;
    for (const struct qstore *qs = st->qhead; qs; qs = qs->next) {
        struct qstore_stats q;
        qstore_get_stats(qs, &q);
        out->segments += q.segments;
        out->messages += q.messages;
        out->disk_bytes += q.disk_bytes;
    }
    struct sync_state *y = (struct sync_state *)&st->sync;
    pthread_mutex_lock(&y->mu);
    out->sync_rounds = y->rounds;
    out->fsyncs = y->fsyncs;
    out->sync_errors = y->errors;
    out->fsync_us_total = y->us_total;
    memcpy(out->fsync_hist, y->hist, sizeof(out->fsync_hist));
    pthread_mutex_unlock(&y->mu);
}
