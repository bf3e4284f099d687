/*
 * check_service.c - edad as a service manager sees it: sd_notify messages
 * (READY=1 only once the port accepts, STATUS= lines, STOPPING=1 after
 * SIGTERM) through a NOTIFY_SOCKET the test owns, SIGHUP reload (a level
 * change takes effect, an invalid file keeps the running configuration,
 * restart-only options are reported, log.file is reopened after a rename),
 * journald-style log lines under JOURNAL_STREAM and the raised open-file
 * limit.  Every test starts its own edad, so it skips under EDAD_TEST_ADDR.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct.h"

#define NOTIFY_MS 10000     /* generous: tests wait for events, never time them */

/* ---- a NOTIFY_SOCKET the test owns ----------------------------------------- */

struct notify {
    int fd;
    char path[PATH_MAX];
};

static void notify_open(struct notify *n)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    int len = snprintf(n->path, sizeof(n->path), "%s/notify-%d.sock", harness_scratch_dir(),
                       (int)getpid());
    ck_assert_msg(len > 0 && (size_t)len < sizeof(sa.sun_path), "socket path too long: %s",
                  n->path);
    memcpy(sa.sun_path, n->path, (size_t)len + 1);
    unlink(n->path);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(n->fd >= 0, "socket: %s", strerror(errno));
    ck_assert_msg(bind(n->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", n->path,
                  strerror(errno));
    setenv("NOTIFY_SOCKET", n->path, 1);
}

static void notify_close(struct notify *n)
{
    unsetenv("NOTIFY_SOCKET");
    close(n->fd);
    unlink(n->path);
}

/* Next datagram into buf (NUL-terminated), or fail the test after NOTIFY_MS. */
static void notify_recv(struct notify *n, char *buf, size_t len)
{
    struct pollfd p = {.fd = n->fd, .events = POLLIN};
    int r = poll(&p, 1, NOTIFY_MS);
    ck_assert_msg(r == 1, "no sd_notify message within %d ms", NOTIFY_MS);
    ssize_t got = recv(n->fd, buf, len - 1, 0);
    ck_assert_msg(got >= 0, "recv: %s", strerror(errno));
    buf[got] = '\0';
}

/* Read datagrams until one contains what; fail if none does in time. */
static void notify_expect(struct notify *n, const char *what, char *buf, size_t len)
{
    for (int i = 0; i < 32; i++) {
        notify_recv(n, buf, len);
        if (strstr(buf, what))
            return;
    }
    ck_abort_msg("no sd_notify message with '%s' (last: '%s')", what, buf);
}

/* ---- our own spawn, for what the harness does not do -------------------------- */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    ck_assert_msg(port != 0, "no free port");
    return port;
}

static const char *edad_bin(void)
{
    static char bin[PATH_MAX];
    const char *e = getenv("EDAD_BIN");
    snprintf(bin, sizeof(bin), "%s", e && *e ? e : EDAD_TOP_BUILDDIR "/edad");
    return bin;
}

/* Start edad -c conf with stderr to errfile; the child dies with us. */
static pid_t spawn_edad(const char *conf, const char *errfile)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    execl(edad_bin(), "edad", "-c", conf, (char *)NULL);
    _exit(127);
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    for (int i = 0; i < 1000; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return status;
        harness_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ck_abort_msg("edad did not exit within 10 s");
    return status;
}

static bool can_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Whole file into a static buffer ("" when missing). */
static const char *slurp(const char *path)
{
    static char buf[65536];
    buf[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (!fp)
        return buf;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void append_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");
    ck_assert_msg(fp != NULL, "open %s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

static const char *path_in(const char *dir, const char *name)
{
    static char p[4][PATH_MAX];
    static unsigned i;
    char *r = p[i++ % 4];
    snprintf(r, PATH_MAX, "%s/%s", dir, name);
    return r;
}

/* ---- notifications ------------------------------------------------------------ */

START_TEST(test_ready_only_after_the_port_accepts)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    char msg[1024], text[1024];
    notify_open(&n);
    const char *dir = harness_scratch_dir();
    uint16_t port = free_port();
    snprintf(text, sizeof(text), "listeners.tcp.default = 127.0.0.1:%u\ndata_dir = %s/data-ready\n",
             port, dir);
    const char *conf = harness_write_file("ready.conf", text);
    pid_t pid = spawn_edad(conf, path_in(dir, "ready.err"));
    /* recovery is announced before readiness */
    notify_recv(&n, msg, sizeof(msg));
    ck_assert_msg(strstr(msg, "STATUS=recovering") != NULL, "first message: '%s'", msg);
    ck_assert_msg(strstr(msg, "READY=1") == NULL, "READY=1 before recovery: '%s'", msg);
    notify_expect(&n, "READY=1", msg, sizeof(msg));
    /* at READY=1 the listener already accepts: one connect, no retry */
    ck_assert_msg(can_connect(port), "READY=1 arrived but 127.0.0.1:%u refuses", port);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    ck_assert_msg(strstr(msg, "STATUS=accepting AMQP 0-9-1 connections on ") && strstr(msg, want),
                  "READY message lacks the listener: '%s'", msg);
    snprintf(want, sizeof(want), "MAINPID=%d\n", (int)pid);
    ck_assert_msg(strstr(msg, want) != NULL, "READY message lacks %s: '%s'", want, msg);

    kill(pid, SIGTERM);
    notify_expect(&n, "STOPPING=1", msg, sizeof(msg));
    int st = wait_exit(pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x after SIGTERM",
                  (unsigned)st);
    notify_close(&n);
}
END_TEST

START_TEST(test_stopping_after_sigterm_with_clients)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    struct harness_server s;
    struct raw_conn c;
    char msg[1024];
    notify_open(&n);
    harness_start(&s, NULL);
    notify_expect(&n, "READY=1", msg, sizeof(msg));
    ct_open_channel(&c, &s, 1);
    kill(s.pid, SIGTERM);
    notify_expect(&n, "STOPPING=1", msg, sizeof(msg));
    ck_assert_msg(strstr(msg, "STATUS=stopping: closing 1 connections"), "'%s'", msg);
    ct_expect_connection_close(&c, RAW_CONNECTION_FORCED, "CONNECTION_FORCED", -1, -1);
    raw_close(&c);
    int status = 0;
    ck_assert_msg(harness_signal_wait(&s, 0, 10000, &status), "edad ignored SIGTERM");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x",
                  (unsigned)status);
    harness_stop(&s);
    notify_close(&n);
}
END_TEST

START_TEST(test_no_notify_socket_is_fine)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    unsetenv("NOTIFY_SOCKET");
    harness_start(&s, NULL);
    ct_open_channel(&c, &s, 1);
    raw_close(&c);
    int st = harness_stop(&s);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", (unsigned)st);
}
END_TEST

/* ---- SIGHUP -------------------------------------------------------------------- */

/* SIGHUP, then wait for the reload to finish: the STATUS= line after it
   names the outcome, `want`. */
static void reload(struct harness_server *s, struct notify *n, const char *want)
{
    char msg[1024];
    kill(s->pid, SIGHUP);
    notify_expect(n, "STATUS=reloading the configuration", msg, sizeof(msg));
    notify_expect(n, "STATUS=accepting AMQP 0-9-1 connections on ", msg, sizeof(msg));
    ck_assert_msg(strstr(msg, want) != NULL, "status after SIGHUP: '%s', want '%s'", msg, want);
}

static uint16_t tune_heartbeat(struct harness_server *s)
{
    struct raw_conn c;
    struct raw_tune t;
    ct_start(&c, s, NULL);
    ct_start_ok_tune(&c, &t);
    raw_close(&c);
    return t.heartbeat;
}

START_TEST(test_sighup_applies_reloadable_options)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    struct harness_server s;
    char msg[1024], extra[PATH_MAX + 128];
    notify_open(&n);
    const char *log = path_in(harness_scratch_dir(), "levels.log");
    unlink(log);
    snprintf(extra, sizeof(extra), "heartbeat = 7\nlog.file = %s\nlog.file.level = warning\n",
             log);
    harness_start(&s, extra);
    notify_expect(&n, "READY=1", msg, sizeof(msg));
    ck_assert_uint_eq(tune_heartbeat(&s), 7);
    ck_assert_msg(strstr(slurp(log), "accepting AMQP connection") == NULL,
                  "info line in a warning-level log:\n%s", slurp(log));

    /* later lines win: heartbeat and the file's level change, backlog needs a restart */
    append_file(path_in(s.dir, "edad.conf"), "heartbeat = 9\nlog.file.level = info\n"
                                              "tcp_listen_options.backlog = 77\n");
    reload(&s, &n, "(configuration reloaded)");
    ck_assert_uint_eq(tune_heartbeat(&s), 9);
    ck_assert_msg(strstr(slurp(log), "accepting AMQP connection") != NULL,
                  "log.file.level = info did not take effect:\n%s", slurp(log));
    ck_assert_msg(strstr(slurp(log), "tcp_listen_options.backlog changed; restart edad"),
                  "restart-only option not reported:\n%s", slurp(log));
    harness_stop(&s);
    notify_close(&n);
}
END_TEST

START_TEST(test_sighup_invalid_file_keeps_running_config)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    struct harness_server s;
    struct raw_conn c;
    char msg[1024], extra[PATH_MAX + 128];
    notify_open(&n);
    const char *log = path_in(harness_scratch_dir(), "invalid.log");
    unlink(log);
    snprintf(extra, sizeof(extra), "heartbeat = 7\nlog.file = %s\n", log);
    harness_start(&s, extra);
    notify_expect(&n, "READY=1", msg, sizeof(msg));

    append_file(path_in(s.dir, "edad.conf"), "heartbeat = 9\nno_such_key = 1\n");
    reload(&s, &n, "(reload failed: running configuration kept");
    ck_assert_msg(strstr(slurp(log), "configuration not reloaded, keeping the running one") &&
                  strstr(slurp(log), "unknown key 'no_such_key'"),
                  "no reason logged for the rejected file:\n%s", slurp(log));
    /* still serving, with the old heartbeat (the new one came before the bad line) */
    ck_assert_uint_eq(tune_heartbeat(&s), 7);
    ct_open_channel(&c, &s, 1);
    raw_close(&c);
    int st = harness_stop(&s);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", (unsigned)st);
    notify_close(&n);
}
END_TEST

START_TEST(test_sighup_reopens_renamed_log_file)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    struct harness_server s;
    char msg[1024], extra[PATH_MAX + 64];
    notify_open(&n);
    const char *dir = harness_scratch_dir();
    char log[PATH_MAX], rotated[PATH_MAX];
    snprintf(log, sizeof(log), "%s/rotate.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/rotate.log.1", dir);
    unlink(log);
    unlink(rotated);
    snprintf(extra, sizeof(extra), "log.file = %s\n", log);
    harness_start(&s, extra);
    notify_expect(&n, "READY=1", msg, sizeof(msg));
    ck_assert_msg(strstr(slurp(log), "listening on"), "log.file not written:\n%s", slurp(log));

    ck_assert_msg(rename(log, rotated) == 0, "rename: %s", strerror(errno));
    reload(&s, &n, "(configuration reloaded)");
    ck_assert_msg(access(log, F_OK) == 0, "log.file was not reopened after SIGHUP");
    ck_assert_msg(strstr(slurp(rotated), "SIGHUP received"),
                  "the rotated file lacks the lines before the reopen:\n%s", slurp(rotated));
    ck_assert_msg(strstr(slurp(log), "log file reopened"),
                  "the new file lacks the reopen line:\n%s", slurp(log));
    harness_stop(&s);
    ck_assert_msg(strstr(slurp(log), "edad stopped"), "lines after the reopen went elsewhere:\n%s",
                  slurp(log));
    notify_close(&n);
}
END_TEST

/* ---- logging and limits --------------------------------------------------------- */

START_TEST(test_journal_prefixes_under_journal_stream)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct notify n;
    char msg[1024], text[1024], js[64];
    notify_open(&n);
    const char *dir = harness_scratch_dir();
    const char *err = path_in(dir, "journal.err");
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    struct stat st;
    ck_assert(fd >= 0 && fstat(fd, &st) == 0);
    close(fd);
    /* what systemd sets when stderr is the journal: dev:ino of that stream */
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    uint16_t port = free_port();
    snprintf(text, sizeof(text), "listeners.tcp.default = 127.0.0.1:%u\ndata_dir = %s/data-j\n",
             port, dir);
    const char *conf = harness_write_file("journal.conf", text);
    pid_t pid = spawn_edad(conf, err);
    unsetenv("JOURNAL_STREAM");
    notify_expect(&n, "READY=1", msg, sizeof(msg));
    kill(pid, SIGTERM);
    int status = wait_exit(pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit 0x%x", (unsigned)status);
    const char *out = slurp(err);
    ck_assert_msg(strstr(out, "<6>[info] edad ") != NULL, "no <6> prefix:\n%s", out);
    ck_assert_msg(strncmp(out, "<", 1) == 0, "first line not prefixed:\n%s", out);
    ck_assert_msg(strstr(out, "\n20") == NULL, "timestamps under the journal:\n%s", out);
    notify_close(&n);
}
END_TEST

/* "Max open files  SOFT  HARD  files" of /proc/PID/limits */
static bool nofile_limits(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
    FILE *fp = fopen(path, "r");
    bool ok = false;
    while (fp && fgets(line, sizeof(line), fp))
        if (sscanf(line, "Max open files %llu %llu", soft, hard) == 2)
            ok = true;
    if (fp)
        fclose(fp);
    return ok;
}

START_TEST(test_open_file_limit_raised_to_hard_limit)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct rlimit saved, low;
    ck_assert(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max <= 256) {
        fprintf(stderr, "SKIP %s: hard limit %llu too low to tell\n", __func__,
                (unsigned long long)saved.rlim_max);
        return;
    }
    low = saved;
    low.rlim_cur = 256;
    ck_assert(setrlimit(RLIMIT_NOFILE, &low) == 0);
    harness_start(&s, NULL);   /* inherits the low soft limit */
    setrlimit(RLIMIT_NOFILE, &saved);
    unsigned long long soft = 0, hard = 0;
    bool ok = nofile_limits(s.pid, &soft, &hard);
    harness_stop(&s);
    if (!ok) {
        fprintf(stderr, "SKIP %s: /proc/PID/limits unreadable\n", __func__);
        return;
    }
    ck_assert_msg(soft > 256, "soft limit still %llu (hard %llu)", soft, hard);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc;

    tc = tcase_create("notify");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ready_only_after_the_port_accepts);
    tcase_add_test(tc, test_stopping_after_sigterm_with_clients);
    tcase_add_test(tc, test_no_notify_socket_is_fine);
    suite_add_tcase(s, tc);

    tc = tcase_create("sighup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sighup_applies_reloadable_options);
    tcase_add_test(tc, test_sighup_invalid_file_keeps_running_config);
    tcase_add_test(tc, test_sighup_reopens_renamed_log_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("process");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_journal_prefixes_under_journal_stream);
    tcase_add_test(tc, test_open_file_limit_raised_to_hard_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_service");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(service_suite()));
}
