/*
 * check_store.c - unit tests of the durable store through store.h, in
 * temporary directories: append/flush/reopen round trips, acks, the
 * delivered mark after a simulated kill -9 (a forked child that exits
 * without closing), segment deletion (including the idle write segment),
 * purge and delete freeing the disk, group commit counted in fsyncs,
 * sync=false, write errors (RLIMIT_FSIZE), 20 kill -9 cycles during
 * confirmed publishing with acks, the lock file, definitions and the
 * paging readers.  Damage and recovery of corrupt files: check_store_corrupt.c.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edad/store.h"

/* ---- helpers ------------------------------------------------------------------- */

static char tmpdir[320];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

/*
 * Each test gets its own directory under a base that the runner process
 * creates and removes (unchecked fixture), so a failing test, whose forked
 * process exits without its teardown, leaves nothing behind either.
 */
static char basedir[256];

static void base_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(basedir, sizeof(basedir), "%s/edad-store-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(basedir));
}

static void base_teardown(void)
{
    nftw(basedir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/t-XXXXXX", basedir);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    log_set_level(EDAD_LOG_NONE);
}

static void teardown(void)
{
    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t du_bytes;
static int du_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)p; (void)flag; (void)f;
    du_bytes += (uint64_t)sb->st_blocks * 512;
    return 0;
}

/* Disk blocks used under path, like du -s. */
static uint64_t du(const char *path)
{
    du_bytes = 0;
    nftw(path, du_cb, 16, FTW_PHYS);
    return du_bytes;
}

/* Entries of dir whose name starts with prefix ("" counts all). */
static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && !strncmp(de->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

/* Completions seen through sync_done. */
static uint64_t *done_cookies;
static size_t ndone, capdone;
static size_t nfailed;

static void on_done(void *ctx, uint64_t cookie, edad_status st)
{
    (void)ctx;
    if (ndone == capdone) {
        capdone = capdone ? capdone * 2 : 1024;
        done_cookies = realloc(done_cookies, capdone * sizeof(*done_cookies));
    }
    done_cookies[ndone++] = cookie;
    if (st != EDAD_OK)
        nfailed++;
}

static struct store *open_opts(struct store_opts *o)
{
    char err[256] = "";
    struct store *st = NULL;
    edad_status rc = store_open(o, &st, err, sizeof(err));
    ck_assert_msg(rc == EDAD_OK, "store_open: %s (%s)", edad_strerror(rc), err);
    return st;
}

static struct store *open_store(bool sync, uint32_t segsz, uint32_t idle_ms)
{
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = tmpdir;
    o.sync = sync;
    o.segment_size = segsz;
    o.idle_reclaim_ms = idle_ms;
    o.sync_done = on_done;
    return open_opts(&o);
}

static struct qstore *queue(struct store *st, const char *vhost, const char *name)
{
    struct qstore *qs = NULL;
    ck_assert_int_eq(store_queue_open(st, bytes_from_cstr(vhost), bytes_from_cstr(name), &qs),
                     EDAD_OK);
    ck_assert_ptr_nonnull(qs);
    return qs;
}

/* Deterministic message number seq: sizes vary, some bodies are empty. */
static size_t body_len(uint64_t seq)
{
    return seq % 7 == 0 ? 0 : (size_t)((seq * 37) % 700 + 1);
}

struct tmsg {
    struct store_msg m;
    char rk[32];
    uint8_t props[8];
    uint8_t body[1024];
};

static const struct store_msg *mk(struct tmsg *t, uint64_t seq)
{
    size_t n = body_len(seq);
    snprintf(t->rk, sizeof(t->rk), "rk.%llu", (unsigned long long)seq);
    t->props[0] = 0x90;
    t->props[1] = 0x00;
    t->props[2] = 2;
    t->props[3] = (uint8_t)seq;
    for (size_t i = 0; i < n; i++)
        t->body[i] = (uint8_t)(seq * 13 + i);
    t->m.seq = seq;
    t->m.flags = (uint32_t)(seq & 3);
    t->m.exchange = bytes_from_cstr(seq % 2 ? "amq.direct" : "");
    t->m.routing_key = bytes_from_cstr(t->rk);
    t->m.props = (struct edad_bytes){t->props, 4};
    t->m.body = (struct edad_bytes){t->body, n};
    t->m.meta = (struct edad_bytes){NULL, 0};
    return &t->m;
}

static struct store_loc append(struct qstore *qs, uint64_t seq)
{
    struct tmsg t;
    struct store_loc loc;
    ck_assert_int_eq(qstore_append(qs, mk(&t, seq), &loc), EDAD_OK);
    return loc;
}

static void check_rec(const struct store_rec *r, uint64_t seq)
{
    struct tmsg t;
    mk(&t, seq);
    ck_assert_uint_eq(r->seq, seq);
    ck_assert_uint_eq(r->flags, t.m.flags);
    ck_assert_msg(bytes_eq(r->exchange, t.m.exchange), "seq %llu: exchange", (unsigned long long)seq);
    ck_assert_msg(bytes_eq(r->routing_key, t.m.routing_key), "seq %llu: routing key",
                  (unsigned long long)seq);
    ck_assert_msg(bytes_eq(r->props, t.m.props), "seq %llu: props", (unsigned long long)seq);
    ck_assert_msg(bytes_eq(r->body, t.m.body), "seq %llu: body (%zu vs %zu bytes)",
                  (unsigned long long)seq, r->body.len, t.m.body.len);
}

/* Read everything live in qs; returns the count, checks each against want[] when given. */
static size_t read_all(struct qstore *qs, const uint64_t *want, size_t nwant)
{
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    size_t n = 0;
    edad_status rc;
    while ((rc = qstore_iter_next(it, &r)) == EDAD_OK) {
        if (want) {
            ck_assert_msg(n < nwant, "more records than expected (seq %llu)",
                          (unsigned long long)r.seq);
            check_rec(&r, want[n]);
        }
        n++;
    }
    ck_assert_int_eq(rc, EDAD_AGAIN);
    qstore_iter_free(it);
    return n;
}

/* Wait until ndone reaches n (poll on the completion fd). */
static void wait_done(struct store *st, size_t n)
{
    for (int rounds = 0; ndone < n && rounds < 3000; rounds++) {
        struct pollfd p = {store_sync_fd(st), POLLIN, 0};
        poll(&p, 1, 10);
        store_sync_poll(st);
    }
    ck_assert_uint_eq(ndone, n);
}

/* ---- checksums ------------------------------------------------------------------ */

static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

START_TEST(crc32c_vectors)
{
    ck_assert_uint_eq(store_crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(store_crc32c(0, "", 0), 0);
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof(buf); len += 13) {
            uint32_t a = store_crc32c(0, buf + off, len);
            ck_assert_uint_eq(a, crc_ref(0, buf + off, len));
            size_t half = len / 3;
            uint32_t b = store_crc32c(store_crc32c(0, buf + off, half), buf + off + half, len - half);
            ck_assert_uint_eq(a, b);
        }
}
END_TEST

/* Lengths around the hardware path's lane sizes (128 and 4096 bytes, three lanes). */
START_TEST(crc32c_paths_agree)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 127, 128, 383, 384, 385, 767, 768, 769, 1100,
                                  4095, 4096, 12287, 12288, 12289, 12288 + 384, 24576 + 500,
                                  24576 + 1000};
    size_t cap = 24576 + 1000 + 16;
    uint8_t *buf = malloc(cap);
    uint32_t x = 12345;
    for (size_t i = 0; i < cap; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    ck_assert_uint_eq(store_crc32c_portable(0, "123456789", 9), 0xe3069283u);
    for (size_t off = 0; off < 9; off++)
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            size_t len = lens[i];
            uint32_t want = crc_ref(0, buf + off, len);
            ck_assert_uint_eq(store_crc32c(0, buf + off, len), want);
            ck_assert_uint_eq(store_crc32c_portable(0, buf + off, len), want);
            size_t cut = len / 3 + off;
            if (cut > len)
                cut = len;
            ck_assert_uint_eq(store_crc32c(store_crc32c(0, buf + off, cut), buf + off + cut,
                                           len - cut), want);
            ck_assert_uint_eq(store_crc32c_portable(store_crc32c(0, buf + off, cut),
                                                    buf + off + cut, len - cut), want);
        }
    free(buf);
}
END_TEST

START_TEST(loc_pack_roundtrip)
{
    struct store_loc l = {0xdeadbeefu, 0x01234567u};
    struct store_loc m = store_loc_unpack(store_loc_pack(l));
    ck_assert_uint_eq(m.seg, l.seg);
    ck_assert_uint_eq(m.off, l.off);
}
END_TEST

/* ---- round trips ------------------------------------------------------------------ */

START_TEST(append_flush_reopen_keeps_order_and_bytes)
{
    struct store *st = open_store(false, 64 * 1024, 1000);
    struct qstore *qs = queue(st, "/", "q1");
    uint64_t want[1000];
    for (uint64_t s = 1; s <= 1000; s++) {
        append(qs, s);
        want[s - 1] = s;
    }
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    ck_assert_uint_eq(read_all(qs, want, 1000), 1000);   /* read back before reopening */
    struct qstore_stats qst;
    qstore_get_stats(qs, &qst);
    ck_assert_uint_eq(qst.messages, 1000);
    ck_assert_uint_gt(qst.segments, 3);     /* 64 KiB segments roll */
    store_close(st);

    st = open_store(false, 64 * 1024, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q1"));
    ck_assert_ptr_nonnull(qs);
    ck_assert_uint_eq(read_all(qs, want, 1000), 1000);
    ck_assert_uint_eq(qstore_next_seq(qs), 1001);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.queues, 1);
    ck_assert_uint_eq(ss.messages, 1000);
    ck_assert_uint_eq(ss.recovered_messages, 1000);
    ck_assert_uint_eq(ss.damaged_records, 0);
    ck_assert_uint_eq(ss.dropped_bytes, 0);
    store_close(st);
}
END_TEST

START_TEST(iterator_sees_pending_and_later_appends)
{
    struct store *st = open_store(false, 4096, 1000);
    struct qstore *qs = queue(st, "v", "q");
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    ck_assert_int_eq(qstore_iter_next(it, &r), EDAD_AGAIN);
    uint64_t next = 1;
    for (uint64_t s = 1; s <= 60; s++) {
        append(qs, s);          /* not flushed: read from the write buffer */
        if (s % 4 == 0)
            ck_assert_int_eq(store_flush(st), EDAD_OK);
        if (s % 3 == 0) {
            while (qstore_iter_next(it, &r) == EDAD_OK)
                check_rec(&r, next++);
            ck_assert_uint_eq(next, s + 1);
        }
    }
    qstore_iter_free(it);
    store_close(st);
}
END_TEST

START_TEST(names_and_many_queues_survive)
{
    static const char *names[][2] = {
        {"/", "plain"}, {"/", "with/slash"}, {"vh 2", "plain"}, {"ünïcødé", "队列"},
        {"/", ""}, {"x", "a.b.c"},
    };
    struct store *st = open_store(false, 0, 1000);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(names); i++) {
        struct qstore *qs = queue(st, names[i][0], names[i][1]);
        append(qs, i + 1);
        /* opening again returns the same store */
        ck_assert_ptr_eq(queue(st, names[i][0], names[i][1]), qs);
    }
    for (int i = 0; i < 200; i++) {
        char n[32];
        snprintf(n, sizeof(n), "bulk-%d", i);
        queue(st, "/", n);
    }
    store_close(st);
    st = open_store(false, 0, 1000);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.queues, EDAD_ARRAY_LEN(names) + 200);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(names); i++) {
        struct qstore *qs = store_queue_find(st, bytes_from_cstr(names[i][0]),
                                             bytes_from_cstr(names[i][1]));
        ck_assert_msg(qs != NULL, "queue '%s' in '%s' lost", names[i][1], names[i][0]);
        ck_assert_str_eq((const char *)qstore_name(qs).ptr, names[i][1]);
        uint64_t want = i + 1;
        ck_assert_uint_eq(read_all(qs, &want, 1), 1);
    }
    ck_assert_ptr_null(store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("nope")));
    char big[300];
    memset(big, 'a', sizeof(big));
    struct qstore *qs;
    ck_assert_int_eq(store_queue_open(st, bytes_from_cstr("/"), (struct edad_bytes){(uint8_t *)big, 256}, &qs),
                     EDAD_ERR_TOO_LARGE);
    store_close(st);
}
END_TEST

START_TEST(record_limits)
{
    struct store *st = open_store(false, 4096, 1000);
    struct qstore *qs = queue(st, "/", "q");
    struct tmsg t;
    char big[256];
    memset(big, 'x', sizeof(big));
    struct store_msg m = *mk(&t, 1);
    m.routing_key = (struct edad_bytes){(uint8_t *)big, 256};
    ck_assert_int_eq(qstore_append(qs, &m, NULL), EDAD_ERR_TOO_LARGE);
    m.routing_key = (struct edad_bytes){(uint8_t *)big, 255};
    m.exchange = (struct edad_bytes){(uint8_t *)big, 255};
    ck_assert_int_eq(qstore_append(qs, &m, NULL), EDAD_OK);
    /* a body bigger than a segment gets a segment of its own */
    size_t n = 100000;
    uint8_t *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 31);
    struct store_msg b = *mk(&t, 2);
    b.body = (struct edad_bytes){body, n};
    struct store_loc loc;
    ck_assert_int_eq(qstore_append(qs, &b, &loc), EDAD_OK);
    append(qs, 3);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);
    st = open_store(false, 4096, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    struct store_rec r;
    ck_assert_int_eq(qstore_read_at(qs, loc, &r), EDAD_OK);
    ck_assert_uint_eq(r.body.len, n);
    ck_assert(memcmp(r.body.ptr, body, n) == 0);
    ck_assert_uint_eq(read_all(qs, NULL, 0), 3);
    free(body);
    store_close(st);
}
END_TEST

/* ---- acks ---------------------------------------------------------------------------- */

START_TEST(acks_hide_messages_after_reopen)
{
    struct store *st = open_store(false, 16 * 1024, 1000);
    struct qstore *qs = queue(st, "/", "q");
    struct store_loc locs[500];
    for (uint64_t s = 1; s <= 500; s++)
        locs[s - 1] = append(qs, s);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    uint64_t want[500];
    size_t nwant = 0;
    for (uint64_t s = 1; s <= 500; s++) {
        if (s % 3 == 0)
            ck_assert_int_eq(qstore_ack(qs, locs[s - 1]), EDAD_OK);
        else
            want[nwant++] = s;
    }
    ck_assert_int_eq(qstore_ack(qs, locs[2]), EDAD_ERR_NOT_FOUND);      /* twice */
    struct store_loc bogus = {9999, 16};
    ck_assert_int_eq(qstore_ack(qs, bogus), EDAD_ERR_NOT_FOUND);
    ck_assert_uint_eq(read_all(qs, want, nwant), nwant);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);

    st = open_store(false, 16 * 1024, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_uint_eq(read_all(qs, want, nwant), nwant);
    struct store_rec r;
    ck_assert_int_eq(qstore_read_at(qs, locs[2], &r), EDAD_ERR_NOT_FOUND);
    ck_assert_int_eq(qstore_read_at(qs, locs[3], &r), EDAD_OK);
    check_rec(&r, 4);
    qstore_mark_delivered(qs, 500);
    for (uint64_t s = 1; s <= 500; s++)
        if (s % 3 != 0)
            ck_assert_int_eq(qstore_ack(qs, locs[s - 1]), EDAD_OK);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);
    st = open_store(false, 16 * 1024, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_uint_eq(read_all(qs, NULL, 0), 0);
    ck_assert_int_eq(count_files(qstore_dir(qs), "msgs"), 0);
    ck_assert_int_eq(count_files(qstore_dir(qs), "acks"), 0);
    ck_assert_uint_eq(qstore_next_seq(qs), 501);        /* numbered above the mark */
    store_close(st);
}
END_TEST

START_TEST(segments_deleted_when_all_acked_including_write_segment)
{
    struct store *st = open_store(false, 4096, 0);      /* idle reclaim: at once */
    struct qstore *qs = queue(st, "/", "q");
    struct store_loc locs[200];
    for (uint64_t s = 1; s <= 200; s++)
        locs[s - 1] = append(qs, s);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    int nseg = count_files(qstore_dir(qs), "msgs");
    ck_assert_int_gt(nseg, 10);
    int prev = nseg;
    for (uint64_t s = 1; s <= 200; s++) {
        ck_assert_int_eq(qstore_ack(qs, locs[s - 1]), EDAD_OK);
        ck_assert_int_eq(store_flush(st), EDAD_OK);
        int now = count_files(qstore_dir(qs), "msgs");
        ck_assert_int_le(now, prev);
        prev = now;
    }
    /* the segment being written went too: nothing left but meta and mark */
    ck_assert_int_eq(count_files(qstore_dir(qs), "msgs"), 0);
    ck_assert_int_eq(count_files(qstore_dir(qs), "acks"), 0);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.segments, 0);
    ck_assert_uint_eq(ss.messages, 0);
    /* and appends still work afterwards */
    append(qs, 201);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    uint64_t w = 201;
    ck_assert_uint_eq(read_all(qs, &w, 1), 1);
    store_close(st);
}
END_TEST

START_TEST(idle_write_segment_reclaimed_by_maintain)
{
    struct store *st = open_store(false, 1 << 20, 1);   /* 1 ms idle */
    struct qstore *qs = queue(st, "/", "q");
    struct store_loc l1 = append(qs, 1), l2 = append(qs, 2);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    ck_assert_int_eq(qstore_ack(qs, l1), EDAD_OK);
    ck_assert_int_eq(qstore_ack(qs, l2), EDAD_OK);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    /* still being written to: kept while the queue may be busy */
    ck_assert_int_eq(count_files(qstore_dir(qs), "msgs"), 1);
    store_maintain(st);         /* sees the recent append */
    usleep(5000);
    store_maintain(st);         /* idle past 1 ms: rolled and deleted */
    ck_assert_int_eq(count_files(qstore_dir(qs), "msgs"), 0);
    ck_assert_int_eq(count_files(qstore_dir(qs), "acks"), 0);
    store_close(st);
}
END_TEST

START_TEST(purge_and_delete_free_disk)
{
    struct store *st = open_store(false, 64 * 1024, 1000);
    struct qstore *qs = queue(st, "/", "q");
    uint64_t empty = du(qstore_dir(qs));
    struct store_loc locs[4000];
    for (uint64_t s = 1; s <= 4000; s++)
        locs[s - 1] = append(qs, s);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    uint64_t full = du(qstore_dir(qs));
    ck_assert_uint_gt(full, 1000 * 1000);
    /* purge keeping two unacked messages (the broker's unacked entries) */
    struct store_loc keep[2] = {locs[10], locs[3000]};
    uint64_t purged = 0;
    ck_assert_int_eq(qstore_purge(qs, keep, 2, &purged), EDAD_OK);
    ck_assert_uint_eq(purged, 3998);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    uint64_t kept = du(qstore_dir(qs));
    ck_assert_uint_lt(kept, 3 * 64 * 1024 + empty);     /* two segments stay */
    uint64_t want[2] = {11, 3001};
    ck_assert_uint_eq(read_all(qs, want, 2), 2);
    /* purge of everything: back to the empty directory */
    ck_assert_int_eq(qstore_purge(qs, NULL, 0, &purged), EDAD_OK);
    ck_assert_uint_eq(purged, 2);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    ck_assert_uint_le(du(qstore_dir(qs)), empty);
    ck_assert_uint_eq(read_all(qs, NULL, 0), 0);
    store_close(st);
    st = open_store(false, 64 * 1024, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_uint_eq(read_all(qs, NULL, 0), 0);
    /* delete: the directory goes at once, also from the next start */
    for (uint64_t s = 1; s <= 1000; s++)
        append(qs, s);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", qstore_dir(qs));
    ck_assert_int_eq(qstore_delete(qs), EDAD_OK);
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), -1);
    char qdir[600];
    snprintf(qdir, sizeof(qdir), "%s/queues", tmpdir);
    ck_assert_int_eq(count_files(qdir, ""), 0);
    store_close(st);
    st = open_store(false, 64 * 1024, 1000);
    ck_assert_ptr_null(store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q")));
    store_close(st);
}
END_TEST

/* ---- delivered mark / redelivered ------------------------------------------------------------ */

/* Child: append 1..10, flush, mark seq up to 'mark' delivered, flush, _exit without closing. */
static void crash_child(uint64_t mark, bool ack_some)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store *st = open_store(false, 0, 1000);
        struct qstore *qs = queue(st, "/", "q");
        struct store_loc locs[10];
        for (uint64_t s = 1; s <= 10; s++)
            locs[s - 1] = append(qs, s);
        store_flush(st);
        if (mark)
            qstore_mark_delivered(qs, mark);
        if (ack_some) {
            qstore_ack(qs, locs[0]);
            qstore_ack(qs, locs[2]);
        }
        store_flush(st);
        _exit(0);               /* like kill -9 after the flush: no close, no footer */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(redelivered_after_crash_follows_the_mark)
{
    crash_child(5, true);
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_ptr_nonnull(qs);
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    uint64_t seen = 0;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        ck_assert(r.seq != 1 && r.seq != 3);            /* acked before the crash */
        ck_assert_msg(r.redelivered == (r.seq <= 5), "seq %llu redelivered=%d",
                      (unsigned long long)r.seq, r.redelivered);
        seen++;
    }
    qstore_iter_free(it);
    ck_assert_uint_eq(seen, 8);
    struct qstore_stats qst;
    qstore_get_stats(qs, &qst);
    ck_assert(qst.delivered_set);
    ck_assert_uint_eq(qst.delivered_mark, 5);
    /* the mark only grows; new messages are numbered above it */
    qstore_mark_delivered(qs, 3);
    qstore_get_stats(qs, &qst);
    ck_assert_uint_eq(qst.delivered_mark, 5);
    ck_assert_uint_eq(qstore_next_seq(qs), 11);
    store_close(st);
}
END_TEST

/*
 * Only the first mark of a run is written with pwrite; later ones are
 * stores into a shared mapping of the dlv file.  A child that moves the
 * mark three times (flush after each, the sync thread running) and exits
 * without closing: the last mark is what recovery sees.
 */
START_TEST(mark_moved_through_the_mapping_survives_crash)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store *st = open_store(true, 0, 1000);
        struct qstore *qs = queue(st, "/", "q");
        for (uint64_t s = 1; s <= 10; s++)
            append(qs, s);
        store_flush(st);
        static const uint64_t marks[] = {2, 4, 7};
        for (size_t i = 0; i < 3; i++) {
            qstore_mark_delivered(qs, marks[i]);
            store_flush(st);
        }
        _exit(0);               /* like kill -9 after the flush: no close, no footer */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    struct store *st = open_store(true, 0, 1000);
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_ptr_nonnull(qs);
    struct qstore_stats qst;
    qstore_get_stats(qs, &qst);
    ck_assert(qst.delivered_set);
    ck_assert(!qst.mark_damaged);
    ck_assert_uint_eq(qst.delivered_mark, 7);
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    int n = 0;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        ck_assert(r.redelivered == (r.seq <= 7));
        n++;
    }
    qstore_iter_free(it);
    ck_assert_int_eq(n, 10);
    /* after recovery the mark moves on (pwrite, then the mapping again) */
    qstore_mark_delivered(qs, 8);
    store_flush(st);
    qstore_mark_delivered(qs, 9);
    store_flush(st);
    store_close(st);
    st = open_store(true, 0, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_ptr_nonnull(qs);
    qstore_get_stats(qs, &qst);
    ck_assert_uint_eq(qst.delivered_mark, 9);
    store_close(st);
}
END_TEST

START_TEST(nothing_delivered_means_no_redelivered_flag)
{
    crash_child(0, false);
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    int n = 0;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        ck_assert(!r.redelivered);
        n++;
    }
    ck_assert_int_eq(n, 10);
    qstore_iter_free(it);
    store_close(st);
}
END_TEST

START_TEST(unreadable_mark_flags_everything_recovered)
{
    crash_child(2, false);
    char path[600];
    snprintf(path, sizeof(path), "%s/queues", tmpdir);
    /* damage the mark of the only queue */
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "printf 'garbage' | dd of=\"$(ls -d %s/*)/dlv\" bs=1 seek=20 "
             "conv=notrunc 2>/dev/null", path);
    ck_assert_int_eq(system(cmd), 0);
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    int n = 0;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        ck_assert(r.redelivered);
        n++;
    }
    ck_assert_int_eq(n, 10);
    qstore_iter_free(it);
    struct qstore_stats qst;
    qstore_get_stats(qs, &qst);
    ck_assert(qst.mark_damaged);
    /* new messages are not flagged */
    append(qs, 11);
    uint64_t w[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    ck_assert_uint_eq(read_all(qs, w, 11), 11);
    it = qstore_iter_new(qs);
    while (qstore_iter_next(it, &r) == EDAD_OK)
        ck_assert(r.redelivered == (r.seq <= 10));
    qstore_iter_free(it);
    store_close(st);
}
END_TEST

START_TEST(crash_before_flush_is_not_damage)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store *st = open_store(false, 0, 1000);
        struct qstore *qs = queue(st, "/", "q");
        append(qs, 1);
        store_flush(st);
        for (int s = 2; s <= 5; s++)
            append(qs, (uint64_t)s);
        store_close(st);        /* first segment closed with a footer */
        st = open_store(false, 0, 1000);
        qs = queue(st, "/", "q");
        append(qs, 6);          /* new segment file created, never flushed */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    uint64_t want[5] = {1, 2, 3, 4, 5};
    ck_assert_uint_eq(read_all(qs, want, 5), 5);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.damaged_records, 0);
    ck_assert_uint_eq(ss.dropped_bytes, 0);
    ck_assert_int_eq(count_files(qstore_dir(qs), "msgs"), 1);
    store_close(st);
}
END_TEST

/* ---- kill -9 in the middle of confirmed publishing ------------------------------------------------ */

/* Child side: events written to the pipe after a completion / an ack flush. */
static int event_fd = -1;
static void on_done_pipe(void *ctx, uint64_t cookie, edad_status st)
{
    (void)ctx;
    uint64_t ev[2] = {st == EDAD_OK ? 1u : 3u, cookie};
    if (write(event_fd, ev, sizeof(ev)) != (ssize_t)sizeof(ev))
        _exit(3);
}

static void publisher_child(int fd, unsigned seed)
{
    event_fd = fd;
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = tmpdir;
    o.segment_size = 32 * 1024;
    o.sync_done = on_done_pipe;
    struct store *st = open_opts(&o);
    struct qstore *qs = queue(st, "/", "q");
    uint64_t seq = qstore_next_seq(qs);
    struct store_loc ring[4096];
    uint64_t ring_seq[4096];
    size_t nring = 0;
    for (;;) {
        int k = 1 + (int)(rand_r(&seed) % 40);
        for (int i = 0; i < k; i++) {
            struct store_loc l = append(qs, seq);
            store_sync_request(st, seq);
            if (nring < 4096 && rand_r(&seed) % 3 == 0) {
                ring[nring] = l;
                ring_seq[nring++] = seq;
            }
            seq++;
        }
        /* a consumer acks some earlier messages; the flush below writes the acks */
        size_t nack = nring > 8 ? (size_t)(rand_r(&seed) % 8) : 0;
        uint64_t acked[8];
        for (size_t i = 0; i < nack; i++) {
            qstore_ack(qs, ring[i]);
            acked[i] = ring_seq[i];
        }
        for (size_t i = 0; i < nack; i++) {
            uint64_t ev[2] = {4, acked[i]};     /* may be acked from now on */
            if (write(fd, ev, sizeof(ev)) != (ssize_t)sizeof(ev))
                _exit(3);
        }
        memmove(ring, ring + nack, (nring - nack) * sizeof(*ring));
        memmove(ring_seq, ring_seq + nack, (nring - nack) * sizeof(*ring_seq));
        nring -= nack;
        if (store_flush(st) != EDAD_OK)
            _exit(4);
        for (size_t i = 0; i < nack; i++) {
            uint64_t ev[2] = {2, acked[i]};
            if (write(fd, ev, sizeof(ev)) != (ssize_t)sizeof(ev))
                _exit(3);
        }
        struct pollfd p = {store_sync_fd(st), POLLIN, 0};
        poll(&p, 1, 0);
        store_sync_poll(st);
    }
}

START_TEST(kill9_cycles_keep_every_confirmed_message)
{
    unsigned seed = 12345;
    size_t cap = 1 << 20;
    uint8_t *state = calloc(cap, 1);    /* 1 confirmed, 2 ack flushed, 3 ack in flight */
    uint64_t total_confirmed = 0, total_acked = 0;
    for (int cycle = 0; cycle < 20; cycle++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            publisher_child(p[1], seed + (unsigned)cycle);
            _exit(0);
        }
        close(p[1]);
        long events = 200 + rand_r(&seed) % 3000, seen = 0;
        uint64_t ev[2];
        bool killed = false;
        for (;;) {
            ssize_t r = read(p[0], ev, sizeof(ev));
            if (r != (ssize_t)sizeof(ev))
                break;          /* EOF after the kill */
            ck_assert_uint_lt(ev[1], cap);
            ck_assert_uint_ne(ev[0], 3);        /* no failed confirms */
            if (ev[0] == 1 && state[ev[1]] == 0) {
                state[ev[1]] = 1;
                total_confirmed++;
            } else if (ev[0] == 4 && state[ev[1]] != 2) {
                state[ev[1]] = 3;       /* ack in flight: either outcome is right */
            } else if (ev[0] == 2) {
                state[ev[1]] = 2;
                total_acked++;
            }
            if (++seen == events && !killed) {
                kill(pid, SIGKILL);
                killed = true;
            }
        }
        close(p[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* recover: every confirmed, unacked message is there, in order; no acked one */
        struct store *st = open_store(false, 32 * 1024, 1000);
        struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
        ck_assert_ptr_nonnull(qs);
        uint8_t *present = calloc(cap, 1);
        struct qstore_iter *it = qstore_iter_new(qs);
        struct store_rec r;
        uint64_t last = 0;
        while (qstore_iter_next(it, &r) == EDAD_OK) {
            ck_assert_uint_gt(r.seq, last);
            last = r.seq;
            check_rec(&r, r.seq);
            ck_assert_msg(state[r.seq] != 2, "cycle %d: acked message %llu came back", cycle,
                          (unsigned long long)r.seq);
            present[r.seq] = 1;
        }
        qstore_iter_free(it);
        for (size_t s = 0; s < cap; s++)
            if (state[s] == 1 && !present[s])   /* (ck_assert per item is slow in fork mode) */
                ck_abort_msg("cycle %d: confirmed message %zu lost", cycle, s);
        free(present);
        store_close(st);
    }
    ck_assert_uint_gt(total_confirmed, 2000);
    ck_assert_uint_gt(total_acked, 100);
    free(state);
}
END_TEST

/* ---- sync ------------------------------------------------------------------------------------- */

START_TEST(group_commit_far_fewer_fsyncs_than_confirms)
{
    ndone = nfailed = 0;
    struct store *st = open_store(true, 0, 1000);
    struct qstore *qs = queue(st, "/", "q");
    struct store_stats s0;
    store_get_stats(st, &s0);
    uint64_t cookie = 0;
    for (int batch = 0; batch < 100; batch++) {
        for (int i = 0; i < 100; i++) {
            append(qs, cookie + 1);
            store_sync_request(st, ++cookie);
        }
        ck_assert_int_eq(store_flush(st), EDAD_OK);
        store_sync_poll(st);
    }
    wait_done(st, 10000);
    ck_assert_uint_eq(nfailed, 0);
    /* every cookie exactly once, in order */
    for (size_t i = 0; i < ndone; i++)
        ck_assert_uint_eq(done_cookies[i], i + 1);
    struct store_stats s;
    store_get_stats(st, &s);
    uint64_t fsyncs = s.fsyncs - s0.fsyncs;
    ck_assert_uint_ge(s.sync_rounds, 1);
    ck_assert_msg(fsyncs <= 10000 / 20, "%llu fsyncs for 10000 confirms",
                  (unsigned long long)fsyncs);
    uint64_t hist = 0;
    for (int i = 0; i < STORE_FSYNC_BUCKETS; i++)
        hist += s.fsync_hist[i];
    ck_assert_uint_ge(hist, 1);
    store_close(st);
}
END_TEST

START_TEST(sync_request_completes_only_after_a_flush)
{
    ndone = nfailed = 0;
    struct store *st = open_store(true, 0, 1000);
    struct qstore *qs = queue(st, "/", "q");
    append(qs, 1);
    store_sync_request(st, 42);
    usleep(20000);
    ck_assert_uint_eq(store_sync_poll(st), 0);          /* never before its data is written */
    ck_assert_uint_eq(ndone, 0);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    wait_done(st, 1);
    ck_assert_uint_eq(done_cookies[0], 42);
    /* a request with nothing written still completes */
    store_sync_request(st, 43);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    wait_done(st, 2);
    /* pending completions are delivered by close */
    append(qs, 2);
    store_sync_request(st, 44);
    store_close(st);
    ck_assert_uint_eq(ndone, 3);
    ck_assert_uint_eq(done_cookies[2], 44);
    ck_assert_uint_eq(nfailed, 0);
}
END_TEST

static int wakeups;
static void on_wakeup(void *ctx)
{
    (void)ctx;
    wakeups++;
}

START_TEST(wakeup_once_per_flush_cycle)
{
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = tmpdir;
    o.sync = false;
    o.wakeup = on_wakeup;
    struct store *st = open_opts(&o);
    struct qstore *qs = queue(st, "/", "q");
    wakeups = 0;
    struct store_loc l = append(qs, 1);
    append(qs, 2);
    store_sync_request(st, 1);
    qstore_mark_delivered(qs, 1);
    ck_assert_int_eq(wakeups, 1);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    ck_assert_int_eq(wakeups, 1);
    ck_assert_int_eq(store_flush(st), EDAD_OK);         /* nothing pending: no wakeup */
    ck_assert_int_eq(qstore_ack(qs, l), EDAD_OK);
    ck_assert_int_eq(wakeups, 2);
    store_sync_request(st, 2);
    ck_assert_int_eq(wakeups, 2);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_sync_request(st, 3);
    ck_assert_int_eq(wakeups, 3);
    store_close(st);
}
END_TEST

START_TEST(sync_off_completes_in_flush_without_fsync)
{
    ndone = nfailed = 0;
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = queue(st, "/", "q");
    for (int i = 1; i <= 100; i++) {
        append(qs, (uint64_t)i);
        store_sync_request(st, (uint64_t)i);
        if (i % 10 == 0) {
            ck_assert_uint_eq(ndone, (size_t)(i - 10));
            ck_assert_int_eq(store_flush(st), EDAD_OK);
            ck_assert_uint_eq(ndone, (size_t)i);
        }
    }
    struct store_stats s;
    store_get_stats(st, &s);
    ck_assert_uint_eq(s.fsyncs, 0);
    ck_assert_uint_eq(s.sync_rounds, 0);
    ck_assert_uint_ge(s.writes, 10);
    store_close(st);
}
END_TEST

/* ---- write errors -------------------------------------------------------------------------------- */

START_TEST(write_error_fails_the_batch_and_keeps_earlier_data)
{
    ndone = nfailed = 0;
    signal(SIGXFSZ, SIG_IGN);
    struct store *st = open_store(true, 1 << 20, 1000);
    struct qstore *qs = queue(st, "/", "q");
    for (uint64_t s = 1; s <= 20; s++)
        append(qs, s);
    store_sync_request(st, 1);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    wait_done(st, 1);
    ck_assert_uint_eq(nfailed, 0);
    struct qstore_stats qst;
    qstore_get_stats(qs, &qst);

    /* "disk full": no file may grow past its current size + 100 bytes */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = qst.disk_bytes + 100;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (uint64_t s = 21; s <= 40; s++)
        append(qs, s);
    store_sync_request(st, 2);
    ck_assert_int_eq(store_flush(st), EDAD_ERR_IO);
    ck_assert_int_eq(store_last_errno(st), EFBIG);
    wait_done(st, 2);
    ck_assert_uint_eq(nfailed, 1);                      /* cookie 2: nack */
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_ge(ss.write_errors, 1);
    ck_assert_uint_eq(ss.messages, 20);                 /* the failed records are gone */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

    /* later appends go to a fresh segment and succeed */
    for (uint64_t s = 41; s <= 45; s++)
        append(qs, s);
    store_sync_request(st, 3);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    wait_done(st, 3);
    ck_assert_uint_eq(nfailed, 1);
    store_close(st);

    st = open_store(false, 1 << 20, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    uint64_t want[25];
    for (int i = 0; i < 20; i++)
        want[i] = (uint64_t)i + 1;
    for (int i = 0; i < 5; i++)
        want[20 + i] = (uint64_t)i + 41;
    ck_assert_uint_eq(read_all(qs, want, 25), 25);
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.damaged_records, 0);           /* truncated back: no torn record */
    ck_assert_uint_eq(ss.dropped_bytes, 0);
    store_close(st);
}
END_TEST

/* ---- lock ---------------------------------------------------------------------------------------------- */

START_TEST(lock_file_keeps_a_second_store_out)
{
    struct store *st = open_store(false, 0, 1000);
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = tmpdir;
    struct store *st2 = NULL;
    char err[512];
    ck_assert_int_eq(store_open(&o, &st2, err, sizeof(err)), EDAD_ERR_STATE);
    ck_assert_ptr_null(st2);
    char want[400];
    snprintf(want, sizeof(want), "data directory %s is in use by pid %ld", tmpdir, (long)getpid());
    ck_assert_str_eq(err, want);
    o.read_only = true;        /* the checker refuses too */
    ck_assert_int_eq(store_open(&o, &st2, err, sizeof(err)), EDAD_ERR_STATE);
    store_close(st);
    o.read_only = false;
    st2 = open_opts(&o);
    store_close(st2);
    o.data_dir = "";
    ck_assert_int_eq(store_open(&o, &st2, err, sizeof(err)), EDAD_ERR_INVALID);
    o.data_dir = tmpdir;
    o.segment_size = 10;
    ck_assert_int_eq(store_open(&o, &st2, err, sizeof(err)), EDAD_ERR_INVALID);
}
END_TEST

/* ---- definitions --------------------------------------------------------------------------------------- */

START_TEST(definitions_atomic_write_and_read)
{
    struct store *st = open_store(false, 0, 1000);
    json_t *got = NULL;
    char err[256];
    ck_assert_int_eq(store_definitions_read(st, &got, err, sizeof(err)), EDAD_ERR_NOT_FOUND);
    for (int gen = 0; gen < 3; gen++) {
        json_t *d = json_pack("{s:s, s:[{s:s, s:b, s:i}]}", "rabbit_version", "3.13.0", "queues",
                              "name", "q", "durable", 1, "gen", gen);
        ck_assert_int_eq(store_definitions_write(st, d), EDAD_OK);
        ck_assert_int_eq(store_definitions_read(st, &got, err, sizeof(err)), EDAD_OK);
        ck_assert(json_equal(got, d));
        json_decref(got);
        json_decref(d);
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/definitions.json.tmp", tmpdir);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* a leftover temp file from a crash is ignored and removed at open */
    FILE *f = fopen(path, "w");
    fputs("{\"half", f);
    fclose(f);
    store_close(st);
    st = open_store(false, 0, 1000);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(store_definitions_read(st, &got, err, sizeof(err)), EDAD_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(got, "queues"), 0), "gen")), 2);
    json_decref(got);
    /* garbage is reported, not fatal */
    snprintf(path, sizeof(path), "%s/definitions.json", tmpdir);
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    ck_assert_int_eq(store_definitions_read(st, &got, err, sizeof(err)), EDAD_ERR_MALFORMED);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    store_close(st);
}
END_TEST

/* ---- collisions and leftovers ------------------------------------------------------------------------------ */

START_TEST(taken_directory_name_gets_a_suffix)
{
    struct store *st = open_store(false, 0, 1000);
    struct qstore *qs = queue(st, "/", "a");
    char dir[512], moved[600], cmd[2400];
    snprintf(dir, sizeof(dir), "%s", qstore_dir(qs));
    store_close(st);
    /* move queue a elsewhere and leave an unreadable directory under its hash name */
    snprintf(moved, sizeof(moved), "%s/queues/0000000000000000", tmpdir);
    snprintf(cmd, sizeof(cmd), "mv '%s' '%s' && mkdir '%s' && echo junk > '%s/msgs.0000000001'",
             dir, moved, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    st = open_store(false, 0, 1000);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.unreadable_queues, 1);         /* reported and left alone */
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("a"));
    ck_assert_ptr_nonnull(qs);
    ck_assert_int_eq(qstore_delete(qs), EDAD_OK);
    qs = queue(st, "/", "a");                           /* hash name taken: suffix */
    ck_assert_str_ne(qstore_dir(qs), dir);
    append(qs, 1);
    store_close(st);
    st = open_store(false, 0, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("a"));
    ck_assert_ptr_nonnull(qs);
    uint64_t w = 1;
    ck_assert_uint_eq(read_all(qs, &w, 1), 1);
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), 0);                /* the unreadable one is still there */
    store_close(st);
}
END_TEST

START_TEST(read_only_open_changes_nothing)
{
    struct store *st = open_store(false, 4096, 1000);
    struct qstore *qs = queue(st, "/", "q");
    struct store_loc locs[50];
    for (uint64_t s = 1; s <= 50; s++)
        locs[s - 1] = append(qs, s);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    for (int i = 0; i < 50; i++)
        qstore_ack(qs, locs[i]);
    append(qs, 51);
    store_close(st);
    uint64_t before = du(tmpdir);
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = tmpdir;
    o.read_only = true;
    st = open_opts(&o);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    uint64_t w = 51;
    ck_assert_uint_eq(read_all(qs, &w, 1), 1);
    ck_assert_int_eq(qstore_append(qs, &(struct store_msg){0}, NULL), EDAD_ERR_STATE);
    ck_assert_int_eq(qstore_ack(qs, locs[0]), EDAD_ERR_STATE);
    ck_assert_int_eq(qstore_delete(qs), EDAD_ERR_STATE);
    struct qstore *q2;
    ck_assert_int_eq(store_queue_open(st, bytes_from_cstr("/"), bytes_from_cstr("new"), &q2),
                     EDAD_ERR_STATE);
    store_close(st);
    ck_assert_uint_eq(du(tmpdir), before);
}
END_TEST

/* ---- meta (x-death history, TTL base): optional, checksummed ------------------------- */

/* Message seq gets meta when seq % 3 != 0 (some empty: the old layout). */
static void meta_of(uint64_t seq, uint8_t *buf, struct edad_bytes *meta)
{
    size_t n = seq % 3 == 0 ? 0 : (size_t)(seq % 50 + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(seq * 7 + i);
    *meta = (struct edad_bytes){buf, n};
}

START_TEST(meta_round_trips_and_old_records_read_without_it)
{
    struct store *st = open_store(false, 8192, 1000);
    struct qstore *qs = queue(st, "/", "qmeta");
    struct store_loc locs[300];
    for (uint64_t s = 1; s <= 300; s++) {
        struct tmsg t;
        uint8_t mb[64];
        mk(&t, s);
        meta_of(s, mb, &t.m.meta);
        ck_assert_int_eq(qstore_append(qs, &t.m, &locs[s - 1]), EDAD_OK);
    }
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);

    st = open_store(false, 8192, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("qmeta"));
    ck_assert_ptr_nonnull(qs);
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    uint64_t seq = 1;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        uint8_t mb[64];
        struct edad_bytes want;
        meta_of(seq, mb, &want);
        check_rec(&r, seq);
        ck_assert_msg(bytes_eq(r.meta, want), "seq %llu: meta (%zu vs %zu bytes)",
                      (unsigned long long)seq, r.meta.len, want.len);
        seq++;
    }
    qstore_iter_free(it);
    ck_assert_uint_eq(seq, 301);
    for (uint64_t s = 1; s <= 300; s += 29) {
        uint8_t mb[64];
        struct edad_bytes want;
        meta_of(s, mb, &want);
        ck_assert_int_eq(qstore_read_at(qs, locs[s - 1], &r), EDAD_OK);
        check_rec(&r, s);
        ck_assert(bytes_eq(r.meta, want));
    }
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.damaged_records, 0);
    store_close(st);
}
END_TEST

START_TEST(meta_byte_flip_is_damage)
{
    struct store *st = open_store(false, 1 << 20, 1000);
    struct qstore *qs = queue(st, "/", "qflip");
    struct tmsg t;
    uint8_t mb[64];
    struct store_loc loc;
    for (uint64_t s = 1; s <= 3; s++) {
        mk(&t, s);
        memset(mb, 0xA5, sizeof(mb));
        t.m.meta = (struct edad_bytes){mb, 40};
        ck_assert_int_eq(qstore_append(qs, &t.m, s == 2 ? &loc : &(struct store_loc){0, 0}),
                         EDAD_OK);
    }
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    char *path = strdup(qstore_dir(qs));
    store_close(st);
    /* record 2's meta starts after the 42-byte header, exchange and routing key */
    char seg[512];
    snprintf(seg, sizeof(seg), "%s/msgs.%010u", path, loc.seg);
    free(path);
    int fd = open(seg, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t c;
    off_t at = (off_t)loc.off + 42 + 0 + 4 + 5;   /* "" exchange, "rk.2", inside meta */
    ck_assert_int_eq(pread(fd, &c, 1, at), 1);
    ck_assert_uint_eq(c, 0xA5);
    c ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);

    st = open_store(false, 1 << 20, 1000);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("qflip"));
    uint64_t want[] = {1, 3};
    ck_assert_uint_eq(read_all(qs, want, 2), 2);
    struct store_stats ss;
    store_get_stats(st, &ss);
    ck_assert_uint_eq(ss.damaged_records, 1);
    store_close(st);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, crc32c_vectors);
    tcase_add_test(tc, crc32c_paths_agree);
    tcase_add_test(tc, loc_pack_roundtrip);
    suite_add_tcase(s, tc);

    tc = tcase_create("store");
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, append_flush_reopen_keeps_order_and_bytes);
    tcase_add_test(tc, iterator_sees_pending_and_later_appends);
    tcase_add_test(tc, names_and_many_queues_survive);
    tcase_add_test(tc, record_limits);
    tcase_add_test(tc, acks_hide_messages_after_reopen);
    tcase_add_test(tc, segments_deleted_when_all_acked_including_write_segment);
    tcase_add_test(tc, idle_write_segment_reclaimed_by_maintain);
    tcase_add_test(tc, purge_and_delete_free_disk);
    tcase_add_test(tc, redelivered_after_crash_follows_the_mark);
    tcase_add_test(tc, mark_moved_through_the_mapping_survives_crash);
    tcase_add_test(tc, nothing_delivered_means_no_redelivered_flag);
    tcase_add_test(tc, unreadable_mark_flags_everything_recovered);
    tcase_add_test(tc, crash_before_flush_is_not_damage);
    tcase_add_test(tc, kill9_cycles_keep_every_confirmed_message);
    tcase_add_test(tc, group_commit_far_fewer_fsyncs_than_confirms);
    tcase_add_test(tc, sync_request_completes_only_after_a_flush);
    tcase_add_test(tc, sync_off_completes_in_flush_without_fsync);
    tcase_add_test(tc, wakeup_once_per_flush_cycle);
    tcase_add_test(tc, write_error_fails_the_batch_and_keeps_earlier_data);
    tcase_add_test(tc, lock_file_keeps_a_second_store_out);
    tcase_add_test(tc, definitions_atomic_write_and_read);
    tcase_add_test(tc, taken_directory_name_gets_a_suffix);
    tcase_add_test(tc, read_only_open_changes_nothing);
    tcase_add_test(tc, meta_round_trips_and_old_records_read_without_it);
    tcase_add_test(tc, meta_byte_flip_is_damage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
