/*
 * sync.c - group commit: a dedicated thread fdatasyncs every segment written
 * since its last round (and fsyncs new directories), completes every cookie
 * handed over before the round started, waking the event loop through an
 * eventfd, and only then syncs ack files and marks.  One round covers all
 * pending confirms, so the cost of a sync is shared by every publisher.  Not
 * here: deciding what to write (store.c) or the sync=false path
 * (completions straight from store_flush).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* Rounds with no confirm waiting (background syncs) wait this long for one. */
#define IDLE_ROUND_DELAY_MS 50

/*
 * Ack files and delivered marks need no sync for a confirm (a power loss
 * may lose the last ones: at-least-once); while confirms keep coming they
 * are synced at most this often, so rounds stay short and the confirms'
 * round trip with them.
 */
#define SIDE_SYNC_MS 20

const uint32_t store_fsync_bucket_us[STORE_FSYNC_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000, UINT32_MAX,
};

/* p grown to hold need elements of elem bytes (*cap updated). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    *cap = c;
    return xrealloc(p, c * elem);
}

static void hist_add(struct sync_state *y, uint64_t us)
{
    size_t i = 0;
    while (i + 1 < STORE_FSYNC_BUCKETS && us > store_fsync_bucket_us[i])
        i++;
    y->hist[i]++;
    y->us_total += us;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    while (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* What one batch of syncs did: first error, latencies, count. */
struct sync_tally {
    int err;
    uint64_t lat[64];
    size_t nlat, nsyncs;
};

static void tally_time(struct sync_tally *t, uint64_t t0)
{
    if (t->nlat < EDAD_ARRAY_LEN(t->lat))
        t->lat[t->nlat++] = clock_mono_us() - t0;
    t->nsyncs++;
}

/*
 * fdatasync each descriptor (sync thread, unlocked).  A file unlinked
 * meanwhile is skipped: the store deletes a segment only when none of its
 * records is wanted any more (all acked, purged, its queue deleted), so
 * syncing it would only write dead bytes.
 */
static void sync_fds(const int *fds, size_t n, struct sync_tally *t)
{
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (fstat(fds[i], &sb) == 0 && sb.st_nlink == 0)
            continue;
        uint64_t t0 = clock_mono_us();
        if (fdatasync(fds[i]) < 0 && !t->err)
            t->err = errno;
        tally_time(t, t0);
    }
}

/*
 * Close them, after the round's completions left: the last close of a
 * deleted segment frees its page cache, which takes a while.
 */
static void close_fds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Add a tally to the statistics (mutex held). */
static void tally_add(struct sync_state *y, const struct sync_tally *t)
{
    y->fsyncs += t->nsyncs;
    for (size_t i = 0; i < t->nlat; i++)
        hist_add(y, t->lat[i]);
    if (t->err) {
        y->errors++;
        y->err_no = t->err;
    }
}

/* Swap a pending array with the thread's own (no allocation per round). */
static void take(int **mine, size_t *mycap, size_t *myn, int **pend, size_t *pcap, size_t *pn)
{
    int *tf = *mine;
    size_t tc = *mycap;
    *mine = *pend, *mycap = *pcap, *myn = *pn;
    *pend = tf, *pcap = tc, *pn = 0;
}

static void *sync_main(void *arg)
{
    struct store *st = arg;
    struct sync_state *y = &st->sync;
    int *fds = NULL, *sfds = NULL;
    size_t nfds = 0, capfds = 0, nsfds = 0, capsfds = 0;
    char **dirs = NULL;
    size_t ndirs = 0, capdirs = 0;
    struct sync_cookie *ck = NULL;
    size_t nck = 0, capck = 0;

    pthread_mutex_lock(&y->mu);
    for (;;) {
        while (!y->stop && !y->npend && !y->nfds && !y->nsfds && !y->ndirs)
            pthread_cond_wait(&y->cv, &y->mu);
        if (!y->npend && !y->stop) {
            /* background work only: let confirms that arrive soon join it */
            struct timespec ts;
            deadline_in(&ts, IDLE_ROUND_DELAY_MS);
            while (!y->stop && !y->npend)
                if (pthread_cond_timedwait(&y->cv, &y->mu, &ts) == ETIMEDOUT)
                    break;
        }
        if (y->stop && !y->npend && !y->nfds && !y->nsfds && !y->ndirs)
            break;
        /* the round takes everything handed over until now (ack and mark
           files: see SIDE_SYNC_MS) */
        take(&fds, &capfds, &nfds, &y->fds, &y->capfds, &y->nfds);
        nsfds = 0;
        uint64_t now = clock_mono_us();
        if (y->nsfds && (y->stop || !y->npend ||
                         now - y->side_last_us >= (uint64_t)SIDE_SYNC_MS * 1000)) {
            take(&sfds, &capsfds, &nsfds, &y->sfds, &y->capsfds, &y->nsfds);
            y->side_epoch++;
            y->side_last_us = now;
        }
        char **td = dirs;
        size_t tc = capdirs;
        dirs = y->dirs, capdirs = y->capdirs, ndirs = y->ndirs;
        y->dirs = td, y->capdirs = tc, y->ndirs = 0;
        struct sync_cookie *tk = ck;
        tc = capck;
        ck = y->pend, capck = y->cappend, nck = y->npend;
        y->pend = tk, y->cappend = tc, y->npend = 0;
        y->epoch++;
        pthread_mutex_unlock(&y->mu);

        /* 1. what the confirms cover: segments and new directory entries */
        struct sync_tally t = {0};
        sync_fds(fds, nfds, &t);
        for (size_t i = 0; i < ndirs; i++) {
            uint64_t t0 = clock_mono_us();
            if (fs_fsync_dir(dirs[i]) != EDAD_OK && errno != ENOENT && !t.err)
                t.err = errno;  /* ENOENT: the queue was deleted meanwhile */
            tally_time(&t, t0);
            free(dirs[i]);
        }

        /* 2. the completions */
        pthread_mutex_lock(&y->mu);
        y->rounds++;
        tally_add(y, &t);
        y->done = grow(y->done, &y->capdone, y->ndone + nck, sizeof(*y->done));
        for (size_t i = 0; i < nck; i++) {
            y->done[y->ndone] = ck[i];
            if (t.err)
                y->done[y->ndone].st = EDAD_ERR_IO;
            y->ndone++;
        }
        if (nck) {
            uint64_t one = 1;
            ssize_t w = write(st->efd, &one, sizeof(one));
            (void)w;    /* EAGAIN: the counter is already non-zero, the loop wakes */
        }
        if (t.err)
            log_error("store: fdatasync failed: %s; %zu confirm(s) fail", strerror(t.err), nck);

        /* 3. ack files and marks ride along, after the confirms left */
        pthread_mutex_unlock(&y->mu);
        close_fds(fds, nfds);
        struct sync_tally u = {0};
        sync_fds(sfds, nsfds, &u);
        close_fds(sfds, nsfds);
        pthread_mutex_lock(&y->mu);
        tally_add(y, &u);
        if (u.err)
            log_error("store: fdatasync of an ack or mark file failed: %s", strerror(u.err));
    }
    pthread_mutex_unlock(&y->mu);
    free(fds);
    free(sfds);
    free(dirs);
    free(ck);
    return NULL;
}

void sync_init(struct store *st)
{
    struct sync_state *y = &st->sync;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, &ca);
    pthread_condattr_destroy(&ca);
    y->epoch = 1;
    y->side_epoch = 1;
}

edad_status sync_start(struct store *st)
{
    struct sync_state *y = &st->sync;
    int e = pthread_create(&y->thread, NULL, sync_main, st);
    if (e != 0) {
        errno = e;
        return EDAD_ERR_IO;
    }
    y->running = true;
    return EDAD_OK;
}

void sync_stop(struct store *st)
{
    struct sync_state *y = &st->sync;
    if (!y->running)
        return;
    pthread_mutex_lock(&y->mu);
    y->stop = true;
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
    pthread_join(y->thread, NULL);
    y->running = false;
}

void sync_destroy(struct store *st)
{
    struct sync_state *y = &st->sync;
    for (size_t i = 0; i < y->nfds; i++)
        close(y->fds[i]);
    for (size_t i = 0; i < y->nsfds; i++)
        close(y->sfds[i]);
    for (size_t i = 0; i < y->ndirs; i++)
        free(y->dirs[i]);
    free(y->fds);
    free(y->sfds);
    free(y->dirs);
    free(y->pend);
    free(y->done);
    pthread_cond_destroy(&y->cv);
    pthread_mutex_destroy(&y->mu);
}

void sync_handover(struct store *st, const struct sync_file *files, size_t nfiles)
{
    struct sync_state *y = &st->sync;
    edad_status cst = st->batch_failed ? EDAD_ERR_IO : EDAD_OK;

    pthread_mutex_lock(&y->mu);
    y->fds = grow(y->fds, &y->capfds, y->nfds + nfiles, sizeof(*y->fds));
    y->sfds = grow(y->sfds, &y->capsfds, y->nsfds + nfiles, sizeof(*y->sfds));
    for (size_t i = 0; i < nfiles; i++) {
        if (*files[i].epoch == (files[i].data ? y->epoch : y->side_epoch))
            continue;   /* already listed */
        int fd = dup(files[i].fd);
        if (fd < 0) {
            /* out of descriptors: sync in place rather than lose the promise */
            if (fdatasync(files[i].fd) < 0)
                cst = EDAD_ERR_IO;
            y->fsyncs++;
            continue;
        }
        if (files[i].data)
            y->fds[y->nfds++] = fd;
        else
            y->sfds[y->nsfds++] = fd;
        *files[i].epoch = files[i].data ? y->epoch : y->side_epoch;
    }
    y->dirs = grow(y->dirs, &y->capdirs, y->ndirs + st->nnewdirs, sizeof(*y->dirs));
    for (size_t i = 0; i < st->nnewdirs; i++)
        y->dirs[y->ndirs++] = st->newdirs[i];
    st->nnewdirs = 0;
    y->pend = grow(y->pend, &y->cappend, y->npend + st->nbatch, sizeof(*y->pend));
    for (size_t i = 0; i < st->nbatch; i++) {
        y->pend[y->npend] = st->batch[i];
        if (cst != EDAD_OK)
            y->pend[y->npend].st = cst;
        y->npend++;
    }
    st->nbatch = 0;
    if (y->npend || y->nfds || y->nsfds || y->ndirs)
        pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
}

size_t sync_poll(struct store *st)
{
    struct sync_state *y = &st->sync;
    uint64_t v;
    ssize_t r = read(st->efd, &v, sizeof(v));
    (void)r;    /* EAGAIN when nothing was signalled */
    pthread_mutex_lock(&y->mu);
    if (!y->ndone) {
        pthread_mutex_unlock(&y->mu);
        return 0;
    }
    if (y->err_no) {
        store_set_errno(st, y->err_no);
        y->err_no = 0;
    }
    struct sync_cookie *done = y->done;
    size_t n = y->ndone, cap = y->capdone;
    y->done = NULL;
    y->ndone = y->capdone = 0;
    pthread_mutex_unlock(&y->mu);
    store_complete(st, done, n);
    /* give the array back for reuse unless the thread made a new one */
    pthread_mutex_lock(&y->mu);
    if (!y->done) {
        y->done = done;
        y->capdone = cap;
    } else {
        free(done);
    }
    pthread_mutex_unlock(&y->mu);
    return n;
}
