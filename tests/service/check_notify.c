/*
 * check_notify.c - edad's own sd_notify implementation (src/service.c built
 * with EDAD_OWN_SD_NOTIFY, as it is without libsystemd): messages reach a
 * path socket and an abstract one, nothing is sent without NOTIFY_SOCKET,
 * bad addresses fail quietly; and the open-file limit is raised.  No daemon.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "edad/service.h"

/* Bind a datagram socket at name ('@' = abstract); returns the fd. */
static int listen_at(const char *name)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    ck_assert_uint_lt(n, sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        unlink(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == 0,
                  "bind %s: %s", name, strerror(errno));
    return fd;
}

static void expect_datagram(int fd, const char *want)
{
    char buf[512];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, 5000) == 1, "no datagram");
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

START_TEST(test_notify_path_socket)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/edad-notify-%d.sock", (int)getpid());
    int fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert(service_notify("READY=1\nSTATUS=accepting on %s", "127.0.0.1:5672"));
    expect_datagram(fd, "READY=1\nSTATUS=accepting on 127.0.0.1:5672");
    ck_assert(service_notify("STOPPING=1"));
    expect_datagram(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    /* the receiver is gone: a failure, not a crash */
    ck_assert(!service_notify("STATUS=nobody listens"));
    unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_notify_abstract_socket)
{
    char name[64];
    snprintf(name, sizeof(name), "@edad-notify-test-%d", (int)getpid());
    int fd = listen_at(name);
    setenv("NOTIFY_SOCKET", name, 1);
    ck_assert(service_notify("READY=1"));
    expect_datagram(fd, "READY=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_notify_without_or_with_bad_socket)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert(!service_notify("READY=1"));
    setenv("NOTIFY_SOCKET", "", 1);
    ck_assert(!service_notify("READY=1"));
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    ck_assert(!service_notify("READY=1"));
    static char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    setenv("NOTIFY_SOCKET", longname, 1);
    ck_assert(!service_notify("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_nofile_soft_limit_raised_to_hard)
{
    struct rlimit rl;
    ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 64)
        return;   /* nothing to raise */
    rl.rlim_cur = 64;
    ck_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    uint64_t now = service_raise_nofile_limit();
    ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    ck_assert_uint_eq(now, (uint64_t)rl.rlim_cur);
    ck_assert_uint_gt(rl.rlim_cur, 64);
}
END_TEST

int main(void)
{
    log_set_level(EDAD_LOG_WARNING);
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("sd_notify");
    tcase_add_test(tc, test_notify_path_socket);
    tcase_add_test(tc, test_notify_abstract_socket);
    tcase_add_test(tc, test_notify_without_or_with_bad_socket);
    tcase_add_test(tc, test_nofile_soft_limit_raised_to_hard);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
