/*
 * check_core.c - unit tests of the core layer: the arena (alignment, zeroed
 * memory, cap, reset, free), byte slices, checked allocation, log levels and
 * log lines, clocks, and a message for every edad_status.  No sockets, no
 * event loop; nothing here depends on timing.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edad/core.h"

/* ---- status ------------------------------------------------------------- */

START_TEST(strerror_covers_every_status)
{
    for (int st = EDAD_STATUS_MIN; st <= EDAD_AGAIN; st++) {
        const char *msg = edad_strerror((edad_status)st);
        ck_assert_ptr_nonnull(msg);
        ck_assert_msg(msg[0] != '\0', "status %d has an empty message", st);
        ck_assert_msg(strcmp(msg, "unknown status") != 0, "status %d has no message", st);
        for (int other = EDAD_STATUS_MIN; other < st; other++)
            ck_assert_msg(strcmp(msg, edad_strerror((edad_status)other)) != 0,
                          "statuses %d and %d share the message '%s'", other, st, msg);
    }
    ck_assert_str_eq(edad_strerror(EDAD_OK), "ok");
    ck_assert_str_eq(edad_strerror((edad_status)(EDAD_STATUS_MIN - 1)), "unknown status");
    ck_assert_str_eq(edad_strerror((edad_status)(EDAD_AGAIN + 1)), "unknown status");
}
END_TEST

/* ---- arena -------------------------------------------------------------- */

START_TEST(arena_alignment_and_zeroing)
{
    struct arena a;
    arena_init(&a, 0);
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 100, 4095, 5000, 1};
    unsigned char *ptrs[sizeof(sizes) / sizeof(sizes[0])];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ptrs[i] = arena_alloc(&a, sizes[i]);
        ck_assert_ptr_nonnull(ptrs[i]);
        ck_assert_msg((uintptr_t)ptrs[i] % 8 == 0, "size %zu: %p not 8-aligned",
                      sizes[i], (void *)ptrs[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            ck_assert_uint_eq(ptrs[i][j], 0);
        memset(ptrs[i], (int)(i + 1), sizes[i]);
    }
    /* no allocation overlaps another */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (size_t j = 0; j < sizes[i]; j++)
            ck_assert_uint_eq(ptrs[i][j], i + 1);
    ck_assert_ptr_nonnull(arena_alloc(&a, 0));   /* zero bytes still a valid pointer */
    arena_free(&a);
}
END_TEST

START_TEST(arena_large_allocation)
{
    struct arena a;
    arena_init(&a, 0);
    unsigned char *small = arena_alloc(&a, 10);
    unsigned char *big = arena_alloc(&a, 1 << 20);   /* bigger than a chunk */
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(big);
    ck_assert((uintptr_t)big % 8 == 0);
    memset(big, 0xAB, 1 << 20);
    memset(small, 0x11, 10);
    ck_assert_uint_eq(big[0], 0xAB);
    ck_assert_uint_eq(big[(1 << 20) - 1], 0xAB);
    ck_assert_uint_ge(a.used_total, (1 << 20) + 10);
    arena_free(&a);
}
END_TEST

START_TEST(arena_cap)
{
    struct arena a;
    arena_init(&a, 64);
    ck_assert_ptr_nonnull(arena_alloc(&a, 32));
    ck_assert_ptr_nonnull(arena_alloc(&a, 30));   /* rounds up to 32: exactly the cap */
    ck_assert_uint_eq(a.used_total, 64);
    ck_assert_ptr_null(arena_alloc(&a, 1));
    ck_assert_uint_eq(a.used_total, 64);          /* a refusal costs nothing */
    arena_reset(&a);
    ck_assert_ptr_null(arena_alloc(&a, 65));      /* one request above the cap */
    ck_assert_ptr_nonnull(arena_alloc(&a, 64));
    arena_free(&a);
}
END_TEST

START_TEST(arena_huge_request_fails)
{
    /* A length near SIZE_MAX (e.g. from a hostile frame) must be refused,
       not wrapped around to a tiny block. */
    struct arena a;
    arena_init(&a, 1 << 20);
    ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX));
    ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 6));
    ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX / 2));
    ck_assert_uint_eq(a.used_total, 0);
    arena_free(&a);
    /* without a cap too: the chunk header must not wrap the malloc size */
    arena_init(&a, 0);
    ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 8));
    ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX));
    arena_free(&a);
}
END_TEST

START_TEST(arena_reset_reuses)
{
    struct arena a;
    arena_init(&a, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            unsigned char *p = arena_alloc(&a, 200);
            ck_assert_ptr_nonnull(p);
            for (int j = 0; j < 200; j++)
                ck_assert_uint_eq(p[j], 0);   /* zeroed even when reused */
            memset(p, 0xFF, 200);
        }
        ck_assert_uint_ge(a.used_total, 100 * 200);
        arena_reset(&a);
        ck_assert_uint_eq(a.used_total, 0);
        ck_assert_ptr_nonnull(a.head);        /* one chunk kept for reuse */
    }
    arena_free(&a);
    ck_assert_ptr_null(a.head);
    ck_assert_uint_eq(a.used_total, 0);
    arena_reset(&a);                          /* reset of an empty arena */
    ck_assert_ptr_nonnull(arena_alloc(&a, 8)); /* usable again after free */
    arena_free(&a);
    arena_free(&a);                           /* double free is a no-op */
}
END_TEST

/* ---- byte slices and allocation ----------------------------------------- */

START_TEST(bytes_helpers)
{
    struct edad_bytes b = bytes_from_cstr("hello");
    ck_assert_uint_eq(b.len, 5);
    ck_assert(memcmp(b.ptr, "hello", 5) == 0);
    struct edad_bytes n = bytes_from_cstr(NULL);
    ck_assert_ptr_null(n.ptr);
    ck_assert_uint_eq(n.len, 0);

    ck_assert(bytes_eq(b, bytes_from_cstr("hello")));
    ck_assert(!bytes_eq(b, bytes_from_cstr("hell")));
    ck_assert(!bytes_eq(b, bytes_from_cstr("hellO")));
    ck_assert(bytes_eq(EDAD_BYTES_NULL, bytes_from_cstr("")));
    ck_assert(bytes_eq(EDAD_BYTES_NULL, EDAD_BYTES_NULL));
    ck_assert(bytes_eq_cstr(b, "hello"));
    ck_assert(!bytes_eq_cstr(b, "hello!"));
    ck_assert(bytes_eq_cstr(EDAD_BYTES_NULL, ""));

    /* a slice in the middle of a buffer: not NUL-terminated */
    static const char buf[] = "xxabcxx";
    struct edad_bytes mid = {(const uint8_t *)buf + 2, 3};
    ck_assert(bytes_eq_cstr(mid, "abc"));
    char *s = bytes_strdup(mid);
    ck_assert_str_eq(s, "abc");
    free(s);
    s = bytes_strdup(EDAD_BYTES_NULL);
    ck_assert_str_eq(s, "");
    free(s);
    /* embedded NUL bytes are copied as they are */
    struct edad_bytes nul = {(const uint8_t *)"a\0b", 3};
    s = bytes_strdup(nul);
    ck_assert(memcmp(s, "a\0b\0", 4) == 0);
    free(s);
}
END_TEST

START_TEST(checked_allocation)
{
    char *p = xmalloc(0);
    ck_assert_ptr_nonnull(p);
    free(p);
    unsigned *z = xcalloc(100, sizeof(unsigned));
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(z[i], 0);
    z[99] = 7;
    z = xrealloc(z, 1000 * sizeof(unsigned));
    ck_assert_uint_eq(z[99], 7);
    free(z);
    p = xstrdup("edad");
    ck_assert_str_eq(p, "edad");
    EDAD_FREE(&p);
    ck_assert_ptr_null(p);
    EDAD_FREE(&p);   /* no-op on NULL */
    ck_assert_ptr_null(p);
}
END_TEST

/* ---- logging ------------------------------------------------------------ */

START_TEST(log_level_parse_names)
{
    static const struct { const char *name; enum log_level lvl; } cases[] = {
        {"debug", EDAD_LOG_DEBUG}, {"info", EDAD_LOG_INFO}, {"warning", EDAD_LOG_WARNING},
        {"warn", EDAD_LOG_WARNING}, {"error", EDAD_LOG_ERROR},
        {"critical", EDAD_LOG_CRITICAL}, {"none", EDAD_LOG_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum log_level out = EDAD_LOG_NONE;
        if (cases[i].lvl == EDAD_LOG_NONE)
            out = EDAD_LOG_DEBUG;
        ck_assert_int_eq(log_level_parse(cases[i].name, &out), EDAD_OK);
        ck_assert_int_eq(out, cases[i].lvl);
    }
    static const char *const bad[] = {"", "INFO", "Info", "information", "debug ", "5", "verbose"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum log_level out = EDAD_LOG_ERROR;
        ck_assert_int_eq(log_level_parse(bad[i], &out), EDAD_ERR_INVALID);
        ck_assert_int_eq(out, EDAD_LOG_ERROR);   /* untouched on failure */
    }
}
END_TEST

START_TEST(log_level_names_round_trip)
{
    for (int l = EDAD_LOG_DEBUG; l <= EDAD_LOG_NONE; l++) {
        enum log_level out;
        const char *name = log_level_name((enum log_level)l);
        ck_assert_int_eq(log_level_parse(name, &out), EDAD_OK);
        ck_assert_int_eq(out, l);
    }
    /* out of range, but within the enum's bits (clang's -fsanitize=enum) */
    ck_assert_str_eq(log_level_name((enum log_level)6), "?");
    ck_assert_str_eq(log_level_name((enum log_level)7), "?");
}
END_TEST

static int debug_arg_evaluations;
static int count_evaluation(void)
{
    return ++debug_arg_evaluations;
}

START_TEST(log_lines_and_filtering)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    ck_assert_ptr_nonnull(fp);
    log_set_stream(fp);
    log_set_level(EDAD_LOG_WARNING);
    ck_assert_int_eq(log_get_level(), EDAD_LOG_WARNING);
    ck_assert(!log_enabled(EDAD_LOG_INFO));
    ck_assert(log_enabled(EDAD_LOG_ERROR));

    log_info("hidden %d", 1);
    log_debug("hidden %d", count_evaluation());
    ck_assert_int_eq(debug_arg_evaluations, 0);   /* arguments not evaluated */
    log_warning("shown %s", "warning");
    log_error("shown %d", 42);
    log_write(EDAD_LOG_NONE, "never written");
    fflush(fp);

    /* "YYYY-MM-DD HH:MM:SS.mmm [level] message\n" */
    char *line2 = strchr(out, '\n');
    ck_assert_ptr_nonnull(line2);
    line2++;
    ck_assert_uint_ge(strlen(out), 24);
    ck_assert(out[4] == '-' && out[7] == '-' && out[10] == ' ' && out[13] == ':' &&
              out[16] == ':' && out[19] == '.');
    ck_assert(strncmp(out + 23, " [warning] shown warning\n", 25) == 0);
    ck_assert(strncmp(line2 + 23, " [error] shown 42\n", 18) == 0);
    size_t lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, 2);
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_null(strstr(out, "never"));

    log_set_level(EDAD_LOG_NONE);
    log_error("silenced");
    fflush(fp);
    ck_assert_ptr_null(strstr(out, "silenced"));

    log_set_stream(NULL);
    log_set_level(EDAD_LOG_INFO);
    fclose(fp);
    free(out);
}
END_TEST

START_TEST(log_long_message_is_truncated)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    log_set_stream(fp);
    static char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    log_error("%s", big);
    fflush(fp);
    ck_assert_uint_lt(len, 1200);              /* bounded line */
    ck_assert_uint_eq(out[len - 1], '\n');
    log_set_stream(NULL);
    fclose(fp);
    free(out);
}
END_TEST

/* ---- clocks ------------------------------------------------------------- */

START_TEST(clocks)
{
    uint64_t us1 = clock_mono_us();
    uint64_t ms = clock_mono_ms();
    uint64_t us2 = clock_mono_us();
    ck_assert_uint_ge(us2, us1);                 /* monotonic */
    ck_assert_uint_ge(ms, us1 / 1000);
    ck_assert_uint_le(ms, us2 / 1000);
    ck_assert_uint_gt(clock_wall_s(), 1600000000u);   /* after 2020 */
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("status");
    tcase_add_test(tc, strerror_covers_every_status);
    suite_add_tcase(s, tc);

    tc = tcase_create("arena");
    tcase_add_test(tc, arena_alignment_and_zeroing);
    tcase_add_test(tc, arena_large_allocation);
    tcase_add_test(tc, arena_cap);
    tcase_add_test(tc, arena_huge_request_fails);
    tcase_add_test(tc, arena_reset_reuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("bytes_mem");
    tcase_add_test(tc, bytes_helpers);
    tcase_add_test(tc, checked_allocation);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_add_test(tc, log_level_parse_names);
    tcase_add_test(tc, log_level_names_round_trip);
    tcase_add_test(tc, log_lines_and_filtering);
    tcase_add_test(tc, log_long_message_is_truncated);
    suite_add_tcase(s, tc);

    tc = tcase_create("clock");
    tcase_add_test(tc, clocks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
