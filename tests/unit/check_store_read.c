/*
 * check_store_read.c - unit tests of the store's paging read paths through
 * store.h: qstore_read_at with its read-ahead window (sequential and
 * random order, records still in the write buffer, records bigger than
 * the window, across segments, after acks) and qstore_ack_many (whole
 * segments dropped at once, partial segments acked, unknown locations
 * ignored, what survives a reopen).  Not the format or damage handling:
 * check_store.c and check_store_corrupt.c.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edad/store.h"

static char dir[320];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/edad-store-read-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_store(uint32_t segment_size)
{
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = dir;
    o.segment_size = segment_size;
    o.idle_reclaim_ms = 0;
    struct store *st = NULL;
    char err[256];
    ck_assert_int_eq(store_open(&o, &st, err, sizeof(err)), EDAD_OK);
    return st;
}

/* Body of record i: size depends on i, bytes too. */
static size_t body_len(uint64_t i)
{
    return i % 97 == 0 ? 300000 : 100 + (size_t)(i * 37 % 2000);
}

static void body_fill(uint8_t *b, uint64_t i)
{
    size_t n = body_len(i);
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i * 31 + k);
}

static uint8_t *scratch(void)
{
    static uint8_t buf[300000];
    return buf;
}

static struct store_loc append(struct qstore *qs, uint64_t i)
{
    uint8_t *b = scratch();
    body_fill(b, i);
    char props[16];
    snprintf(props, sizeof(props), "p%llu", (unsigned long long)i);
    struct store_msg m = {
        .seq = i,
        .flags = (uint32_t)i,
        .exchange = bytes_from_cstr("x"),
        .routing_key = bytes_from_cstr("rk"),
        .props = bytes_from_cstr(props),
        .body = {b, body_len(i)},
    };
    struct store_loc loc;
    ck_assert_int_eq(qstore_append(qs, &m, &loc), EDAD_OK);
    return loc;
}

static void check_read(struct qstore *qs, struct store_loc loc, uint64_t i)
{
    struct store_rec r;
    ck_assert_int_eq(qstore_read_at(qs, loc, &r), EDAD_OK);
    ck_assert_uint_eq(r.seq, i);
    ck_assert_uint_eq(r.flags, (uint32_t)i);
    ck_assert_uint_eq(r.body.len, body_len(i));
    uint8_t *b = scratch();
    body_fill(b, i);
    ck_assert(memcmp(r.body.ptr, b, r.body.len) == 0);
    char props[16];
    snprintf(props, sizeof(props), "p%llu", (unsigned long long)i);
    ck_assert_uint_eq(r.props.len, strlen(props));
    ck_assert(memcmp(r.props.ptr, props, r.props.len) == 0);
}

#define N 600

START_TEST(test_read_at_orders)
{
    struct store *st = open_store(1024 * 1024);
    struct qstore *qs;
    ck_assert_int_eq(store_queue_open(st, bytes_from_cstr("/"), bytes_from_cstr("q"), &qs),
                     EDAD_OK);
    static struct store_loc locs[N];
    /* the first half flushed, the second half still in the write buffer */
    for (uint64_t i = 1; i <= N / 2; i++)
        locs[i - 1] = append(qs, i);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    for (uint64_t i = N / 2 + 1; i <= N; i++)
        locs[i - 1] = append(qs, i);
    /* sequential, twice; then backwards; then a stride */
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 1; i <= N; i++)
            check_read(qs, locs[i - 1], i);
    for (uint64_t i = N; i >= 1; i--)
        check_read(qs, locs[i - 1], i);
    for (uint64_t k = 0; k < N; k++) {
        uint64_t i = 1 + (k * 263) % N;
        check_read(qs, locs[i - 1], i);
    }
    /* acked ones are gone, the others still read */
    for (uint64_t i = 1; i <= N; i += 3)
        ck_assert_int_eq(qstore_ack(qs, locs[i - 1]), EDAD_OK);
    for (uint64_t i = 1; i <= N; i++) {
        struct store_rec r;
        if (i % 3 == 1)
            ck_assert_int_eq(qstore_read_at(qs, locs[i - 1], &r), EDAD_ERR_NOT_FOUND);
        else
            check_read(qs, locs[i - 1], i);
    }
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);
    /* after a reopen, from the files only */
    st = open_store(1024 * 1024);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_ptr_nonnull(qs);
    for (uint64_t i = 1; i <= N; i++)
        if (i % 3 != 1)
            check_read(qs, locs[i - 1], i);
    store_close(st);
}
END_TEST

START_TEST(test_ack_many)
{
    struct store *st = open_store(64 * 1024);
    struct qstore *qs;
    ck_assert_int_eq(store_queue_open(st, bytes_from_cstr("/"), bytes_from_cstr("q"), &qs),
                     EDAD_OK);
    static struct store_loc locs[N];
    for (uint64_t i = 1; i <= N; i++)
        locs[i - 1] = append(qs, i);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    struct qstore_stats s0;
    qstore_get_stats(qs, &s0);
    ck_assert_uint_gt(s0.segments, 10);
    /* keep 1, 2 and N; list every other one (plus junk), shuffled */
    static uint64_t drop[N + 2];
    size_t n = 0;
    for (uint64_t i = N - 1; i >= 3; i--)
        drop[n++] = store_loc_pack(locs[i - 1]);
    drop[n++] = store_loc_pack((struct store_loc){999999, 64});   /* no such segment */
    drop[n++] = store_loc_pack(locs[10]);                          /* listed twice */
    uint64_t acked = 0;
    ck_assert_int_eq(qstore_ack_many(qs, drop, n, &acked), EDAD_OK);
    ck_assert_uint_eq(acked, N - 3);
    struct qstore_stats s1;
    qstore_get_stats(qs, &s1);
    ck_assert_uint_eq(s1.messages, 3);
    ck_assert_uint_le(s1.segments, 3);      /* the middle segments went whole */
    check_read(qs, locs[0], 1);
    check_read(qs, locs[1], 2);
    check_read(qs, locs[N - 1], N);
    ck_assert_int_eq(store_flush(st), EDAD_OK);
    store_close(st);
    st = open_store(64 * 1024);
    qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("q"));
    ck_assert_ptr_nonnull(qs);
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    uint64_t want[] = {1, 2, N};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(qstore_iter_next(it, &r), EDAD_OK);
        ck_assert_uint_eq(r.seq, want[k]);
    }
    ck_assert_int_eq(qstore_iter_next(it, &r), EDAD_AGAIN);
    qstore_iter_free(it);
    store_close(st);
}
END_TEST

static Suite *store_read_suite(void)
{
    Suite *s = suite_create("store_read");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_at_orders);
    tcase_add_test(tc, test_ack_many);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_read_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
