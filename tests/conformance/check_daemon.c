/*
 * check_daemon.c - the edad process as an operator sees it: command line
 * (--version, --help, --print-defaults, -t, -s overrides), configuration
 * errors (exit 78 with FILE:LINE), a port already in use (exit 1), data_dir
 * creation, and the signals SIGINT (like SIGTERM) and SIGHUP (keeps serving).
 * Needs its own daemon for every test, so it skips under EDAD_TEST_ADDR.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct.h"

#define EXEC_MS 15000

static char out[16384];

static void assert_exit(int status, int code)
{
    ck_assert_msg(WIFEXITED(status), "edad did not exit normally (status 0x%x); output:\n%s",
                  (unsigned)status, out);
    ck_assert_msg(WEXITSTATUS(status) == code, "edad exited %d, want %d; output:\n%s",
                  WEXITSTATUS(status), code, out);
}

static void assert_output_has(const char *what)
{
    ck_assert_msg(strstr(out, what) != NULL, "output lacks '%s':\n%s", what, out);
}

START_TEST(test_version_prints_package_version)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *argv[] = {"edad", "--version", NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 0);
    assert_output_has(PACKAGE_VERSION);
    const char *argv2[] = {"edad", "-V", NULL};
    assert_exit(harness_exec(argv2, out, sizeof(out), EXEC_MS), 0);
    assert_output_has(PACKAGE_VERSION);
}
END_TEST

START_TEST(test_help_exits_0)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *argv[] = {"edad", "--help", NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 0);
    assert_output_has("--config");
    assert_output_has("--print-defaults");
}
END_TEST

START_TEST(test_print_defaults_lists_options)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *argv[] = {"edad", "--print-defaults", NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 0);
    assert_output_has("listeners.tcp");
    assert_output_has("default_user");
    assert_output_has("heartbeat");
    assert_output_has("frame_max");
    assert_output_has("channel_max");
    assert_output_has("data_dir");
}
END_TEST

START_TEST(test_unknown_key_exits_78_with_file_and_line)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *conf = harness_write_file("unknown.conf", "heartbeat = 5\n\nno_such_key = 1\n");
    char want[4200];
    snprintf(want, sizeof(want), "%s:3:", conf);
    const char *argv[] = {"edad", "-c", conf, NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 78);
    assert_output_has(want);
    assert_output_has("no_such_key");
}
END_TEST

START_TEST(test_out_of_bounds_value_exits_78)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *conf = harness_write_file("bounds.conf", "frame_max = 100\n");
    char want[4200];
    snprintf(want, sizeof(want), "%s:1:", conf);
    const char *argv[] = {"edad", "-c", conf, NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 78);
    assert_output_has(want);
}
END_TEST

START_TEST(test_test_config_prints_ok)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *conf = harness_write_file("good.conf", "heartbeat = 5\nchannel_max = 10\n");
    const char *argv[] = {"edad", "-t", "-c", conf, NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 0);
    assert_output_has("ok");
}
END_TEST

START_TEST(test_set_override_rejected_when_invalid)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *conf = harness_write_file("good.conf", "heartbeat = 5\n");
    const char *argv[] = {"edad", "-c", conf, "-s", "frame_max=100", "-t", NULL};
    int st = harness_exec(argv, out, sizeof(out), EXEC_MS);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 78,
                  "an invalid -s override should exit 78; output:\n%s", out);
}
END_TEST

START_TEST(test_io_threads_value_checked)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *conf = harness_write_file("io.conf", "net.io_threads = two\n");
    const char *argv[] = {"edad", "-t", "-c", conf, NULL};
    assert_exit(harness_exec(argv, out, sizeof(out), EXEC_MS), 78);
    assert_output_has("net.io_threads must be 0, 1 or auto");
    const char *ok = harness_write_file("io1.conf", "net.io_threads = 1\n");
    const char *argv2[] = {"edad", "-t", "-c", ok, NULL};
    assert_exit(harness_exec(argv2, out, sizeof(out), EXEC_MS), 0);
}
END_TEST

START_TEST(test_set_override_applies_after_file)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    struct raw_tune t;
    const char *args[] = {"-s", "channel_max=7", "--set", "heartbeat=3", NULL};
    harness_start_args(&s, "channel_max = 100\nheartbeat = 50\n", args);
    ct_start(&c, &s, NULL);
    ct_start_ok_tune(&c, &t);
    ck_assert_uint_eq(t.channel_max, 7);
    ck_assert_uint_eq(t.heartbeat, 3);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_port_in_use_exits_1)
{
    HARNESS_NEEDS_OWN_SERVER();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ck_assert(listen(fd, 1) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char text[512], port[16];
    snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
    snprintf(text, sizeof(text), "listeners.tcp.default = 127.0.0.1:%s\ndata_dir = %s/busy\n", port,
             harness_scratch_dir());
    const char *conf = harness_write_file("busy.conf", text);
    const char *argv[] = {"edad", "-c", conf, NULL};
    int st = harness_exec(argv, out, sizeof(out), EXEC_MS);
    close(fd);
    assert_exit(st, 1);
    assert_output_has(port);
}
END_TEST

START_TEST(test_data_dir_created_with_parents)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    char text[4300], dir[4200];
    snprintf(dir, sizeof(dir), "%s/deep/er/data", harness_scratch_dir());
    snprintf(text, sizeof(text), "data_dir = %s\n", dir);
    harness_start(&s, text);
    struct stat sb;
    ck_assert_msg(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "data_dir %s was not created", dir);
    harness_stop(&s);
}
END_TEST

START_TEST(test_data_dir_impossible_fails_clearly)
{
    HARNESS_NEEDS_OWN_SERVER();
    char text[4300];
    /* A path below a regular file can never be created. */
    const char *file = harness_write_file("plainfile", "x\n");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    snprintf(text, sizeof(text), "listeners.tcp.default = 127.0.0.1:%u\ndata_dir = %s/data\n",
             ntohs(sa.sin_port), file);
    const char *conf = harness_write_file("nodata.conf", text);
    const char *argv[] = {"edad", "-c", conf, NULL};
    int st = harness_exec(argv, out, sizeof(out), EXEC_MS);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0,
                  "edad should refuse an impossible data_dir; status 0x%x, output:\n%s",
                  (unsigned)st, out);
    assert_output_has("plainfile");
}
END_TEST

START_TEST(test_sigint_closes_320_and_exits_0)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, NULL);
    ct_open_channel(&c, &s, 1);
    kill(s.pid, SIGINT);
    ct_expect_connection_close(&c, RAW_CONNECTION_FORCED, "CONNECTION_FORCED", -1, -1);
    raw_close(&c);
    int status = 0;
    ck_assert_msg(harness_signal_wait(&s, 0, 10000, &status), "edad ignored SIGINT for 10 s");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x after SIGINT",
                  (unsigned)status);
    harness_stop(&s);
}
END_TEST

START_TEST(test_sighup_keeps_serving)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn a, b;
    struct raw_frame f;
    harness_start(&s, NULL);
    ct_open_channel(&a, &s, 1);
    kill(s.pid, SIGHUP);
    harness_sleep_ms(200);
    ct_send_channel_flow(&a, 1, true);
    ct_expect_method(&a, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    ct_open_channel(&b, &s, 1);
    raw_close(&a);
    raw_close(&b);
    harness_stop(&s);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc;

    tc = tcase_create("command_line");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version_prints_package_version);
    tcase_add_test(tc, test_help_exits_0);
    tcase_add_test(tc, test_print_defaults_lists_options);
    tcase_add_test(tc, test_unknown_key_exits_78_with_file_and_line);
    tcase_add_test(tc, test_out_of_bounds_value_exits_78);
    tcase_add_test(tc, test_test_config_prints_ok);
    tcase_add_test(tc, test_set_override_rejected_when_invalid);
    tcase_add_test(tc, test_io_threads_value_checked);
    tcase_add_test(tc, test_set_override_applies_after_file);
    tcase_add_test(tc, test_port_in_use_exits_1);
    tcase_add_test(tc, test_data_dir_created_with_parents);
    tcase_add_test(tc, test_data_dir_impossible_fails_clearly);
    suite_add_tcase(s, tc);

    tc = tcase_create("signals");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sigint_closes_320_and_exits_0);
    tcase_add_test(tc, test_sighup_keeps_serving);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_daemon");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(daemon_suite()));
}
