/*
 * check_server_alarm.c - the resource-alarm module: RabbitMQ's information
 * units and fractions, the machine figures it samples, thresholds from the
 * configuration (invalid values refused with the key named), and the
 * alarms it hands to the session server (watermark 0, a failed store write
 * cleared by a successful test write).  No sockets.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edad/conf.h"
#include "edad/net.h"
#include "edad/session.h"
#include "../../src/server_alarm.h"

START_TEST(test_parse_bytes_rabbitmq_units)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"0", 0}, {"1073741824", 1073741824ull}, {"50MB", 50000000ull}, {"2GB", 2000000000ull},
        {"1kB", 1000}, {"1KB", 1000}, {"1k", 1024}, {"1K", 1024}, {"1kiB", 1024},
        {"1KiB", 1024}, {"1M", 1048576}, {"1MiB", 1048576}, {"1m", 1048576},
        {"1G", 1073741824ull}, {"1GiB", 1073741824ull}, {"1gb", 1000000000ull},
        {"1024MB", 1024000000ull},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 7;
        ck_assert_msg(server_alarm_parse_bytes(ok[i].in, &v) == EDAD_OK, "'%s' refused",
                      ok[i].in);
        ck_assert_msg(v == ok[i].want, "'%s' -> %llu", ok[i].in, (unsigned long long)v);
    }
    static const char *const bad[] = {
        "", "MB", "-1", "1.5GB", "1 GB", "1TB", "1Mi", "1GBs", "99999999999999999999",
        "18446744073709551615GB", "0x10",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        ck_assert_msg(server_alarm_parse_bytes(bad[i], &v) == EDAD_ERR_INVALID,
                      "'%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(test_parse_ratio)
{
    double v = -1;
    ck_assert(server_alarm_parse_ratio("0.4", &v) == EDAD_OK && v > 0.39 && v < 0.41);
    ck_assert(server_alarm_parse_ratio("1", &v) == EDAD_OK && v == 1.0);
    ck_assert(server_alarm_parse_ratio("0", &v) == EDAD_OK && v == 0.0);
    ck_assert(server_alarm_parse_ratio(".5", &v) == EDAD_OK && v == 0.5);
    ck_assert(server_alarm_parse_ratio("2.0", &v) == EDAD_OK && v == 2.0);
    static const char *const bad[] = {"", "-0.1", "abc", "0.4x", "inf", "nan", "0x1p-1",
                                      " 0.4", "+1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(server_alarm_parse_ratio(bad[i], &v) == EDAD_ERR_INVALID,
                      "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_machine_figures)
{
    ck_assert(server_alarm_total_memory() > 0);
    uint64_t rss = server_alarm_rss();
    ck_assert(rss > 0);
    ck_assert(rss < server_alarm_total_memory());
    uint64_t free_bytes = 0;
    ck_assert(server_alarm_disk_free("/", &free_bytes));
    ck_assert(!server_alarm_disk_free("/nonexistent/edad/dir", &free_bytes));
}
END_TEST

struct fixture {
    struct edad_conf conf;
    struct net_loop *loop;
    struct session_server *srv;
    char dir[64];
};

static void fixture_init(struct fixture *f, const char *text)
{
    char err[256];
    conf_init(&f->conf);
    snprintf(f->dir, sizeof(f->dir), "/tmp/check_server_alarm.XXXXXX");
    ck_assert(mkdtemp(f->dir) != NULL);
    char full[1024];
    snprintf(full, sizeof(full), "data_dir = %s\n%s", f->dir, text);
    ck_assert_msg(conf_load_string(&f->conf, "test", full, err, sizeof(err)) == EDAD_OK, "%s",
                  err);
    f->loop = net_loop_new();
    f->srv = session_server_new(f->loop, &f->conf, NULL);
}

static void fixture_free(struct fixture *f)
{
    session_server_free(f->srv);
    net_loop_free(f->loop);
    conf_free(&f->conf);
    rmdir(f->dir);
}

START_TEST(test_defaults_no_alarm)
{
    struct fixture f;
    char err[256];
    fixture_init(&f, "");
    struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    /* 0.4 of the machine, 50 MB of disk (RabbitMQ 3.x's defaults) */
    uint64_t total = server_alarm_total_memory();
    ck_assert(server_alarm_memory_limit(a) > total / 10 * 3);
    ck_assert(server_alarm_memory_limit(a) < total / 10 * 5);
    ck_assert_uint_eq(server_alarm_disk_limit(a), 50000000);
    ck_assert_uint_eq(server_alarm_active(a), 0);
    ck_assert_uint_eq(session_server_alarms(f.srv), 0);
    server_alarm_free(a);
    fixture_free(&f);
}
END_TEST

START_TEST(test_zero_watermark_raises_memory_alarm)
{
    struct fixture f;
    char err[256];
    fixture_init(&f, "vm_memory_high_watermark.relative = 0\n");
    struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(server_alarm_active(a), SESSION_ALARM_MEMORY);
    ck_assert_uint_eq(session_server_alarms(f.srv), SESSION_ALARM_MEMORY);
    ck_assert_uint_eq(session_server_blocked_count(f.srv), 0);
    server_alarm_free(a);
    fixture_free(&f);
}
END_TEST

START_TEST(test_absolute_wins_and_disk_limits)
{
    struct fixture f;
    char err[256];
    fixture_init(&f, "vm_memory_high_watermark.absolute = 1GiB\n"
                     "disk_free_limit.absolute = 1\n");
    struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(server_alarm_memory_limit(a), 1073741824ull);
    ck_assert_uint_eq(server_alarm_disk_limit(a), 1);
    server_alarm_free(a);
    fixture_free(&f);

    /* more free space asked than any disk has: the disk alarm is on */
    fixture_init(&f, "disk_free_limit.absolute = 1000000000GB\n");
    a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(server_alarm_active(a), SESSION_ALARM_DISK);
    server_alarm_free(a);
    fixture_free(&f);
}
END_TEST

START_TEST(test_invalid_values_name_the_key)
{
    static const struct {
        const char *conf;
        const char *key;
    } cases[] = {
        {"vm_memory_high_watermark.relative = lots\n", "vm_memory_high_watermark.relative"},
        {"vm_memory_high_watermark.absolute = 2 GB\n", "vm_memory_high_watermark.absolute"},
        {"disk_free_limit.absolute = 50TB\n", "disk_free_limit.absolute"},
        {"disk_free_limit.relative = -1\n", "disk_free_limit.relative"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f;
        char err[256] = "";
        fixture_init(&f, cases[i].conf);
        struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
        ck_assert_msg(a == NULL, "accepted: %s", cases[i].conf);
        ck_assert_msg(strstr(err, cases[i].key) && strstr(err, "invalid value"), "err: %s",
                      err);
        fixture_free(&f);
    }
}
END_TEST

START_TEST(test_store_failure_until_probe_writes)
{
    struct fixture f;
    char err[256];
    fixture_init(&f, "disk_free_limit.absolute = 1\n");
    struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    /* a file-size limit is not the disk's: no alarm */
    ck_assert(!server_alarm_store_failed(a, EFBIG));
    ck_assert_uint_eq(server_alarm_active(a), 0);
    ck_assert(server_alarm_store_failed(a, ENOSPC));
    ck_assert_uint_eq(server_alarm_active(a), SESSION_ALARM_DISK);
    ck_assert_uint_eq(session_server_alarms(f.srv), SESSION_ALARM_DISK);
    /* the directory is writable: the next check clears the alarm */
    server_alarm_check(a);
    ck_assert_uint_eq(server_alarm_active(a), 0);
    ck_assert_uint_eq(session_server_alarms(f.srv), 0);
    ck_assert_msg(access(f.dir, F_OK) == 0, "data dir gone");
    server_alarm_free(a);
    fixture_free(&f);
}
END_TEST

/* SIGHUP replaced the strings in the live conf: the next check uses them. */
START_TEST(test_reloaded_thresholds_apply)
{
    struct fixture f;
    char err[256];
    fixture_init(&f, "");
    struct server_alarm *a = server_alarm_new(f.loop, &f.conf, f.srv, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert_uint_eq(server_alarm_active(a), 0);
    ck_assert(conf_set(&f.conf, "vm_memory_high_watermark.absolute", "1MB", err,
                       sizeof(err)) == EDAD_OK);
    server_alarm_check(a);
    ck_assert_uint_eq(server_alarm_memory_limit(a), 1000000);
    ck_assert_uint_eq(server_alarm_active(a), SESSION_ALARM_MEMORY);
    /* an invalid value keeps the thresholds in force */
    ck_assert(conf_set(&f.conf, "vm_memory_high_watermark.absolute", "lots", err,
                       sizeof(err)) == EDAD_OK);
    server_alarm_check(a);
    ck_assert_uint_eq(server_alarm_memory_limit(a), 1000000);
    ck_assert(conf_set(&f.conf, "vm_memory_high_watermark.absolute", "64GiB", err,
                       sizeof(err)) == EDAD_OK);
    server_alarm_check(a);
    ck_assert_uint_eq(server_alarm_active(a), 0);
    ck_assert_uint_eq(session_server_alarms(f.srv), 0);
    server_alarm_free(a);
    fixture_free(&f);
}
END_TEST

static Suite *alarm_suite(void)
{
    Suite *s = suite_create("server_alarm");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_bytes_rabbitmq_units);
    tcase_add_test(tc, test_parse_ratio);
    tcase_add_test(tc, test_machine_figures);
    suite_add_tcase(s, tc);
    tc = tcase_create("alarms");
    tcase_add_test(tc, test_defaults_no_alarm);
    tcase_add_test(tc, test_zero_watermark_raises_memory_alarm);
    tcase_add_test(tc, test_absolute_wins_and_disk_limits);
    tcase_add_test(tc, test_invalid_values_name_the_key);
    tcase_add_test(tc, test_store_failure_until_probe_writes);
    tcase_add_test(tc, test_reloaded_thresholds_apply);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(alarm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
