/*
 * harness.c - start and stop edad for the conformance suites (see harness.h).
 * Every daemon is a child of the test process with PR_SET_PDEATHSIG, lives
 * in the test's process group (Check kills that group on a timeout), and
 * gets its own temp dir below one per-program root that main() removes.
 * Knows nothing of AMQP beyond "the port accepts TCP connections".
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef EDAD_TOP_BUILDDIR
#define EDAD_TOP_BUILDDIR "."
#endif

struct harness_server harness_default;

static char harness_root[PATH_MAX];   /* per-program temp root */
static char harness_bin[PATH_MAX];    /* edad binary */
static unsigned harness_seq;          /* numbers the servers of one process */

void harness_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool harness_external(void)
{
    const char *a = getenv("EDAD_TEST_ADDR");
    return a && *a;
}

int harness_init(const char *program)
{
    const char *bin = getenv("EDAD_BIN");
    if (bin && *bin) {
        snprintf(harness_bin, sizeof(harness_bin), "%s", bin);
    } else {
        snprintf(harness_bin, sizeof(harness_bin), "%s/edad", EDAD_TOP_BUILDDIR);
        if (!harness_external() && access(harness_bin, X_OK) != 0) {
            fprintf(stderr, "SKIP %s: edad is not built (%s missing; set EDAD_BIN)\n", program,
                    harness_bin);
            return 77;
        }
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(harness_root, sizeof(harness_root), "%s/edad-%s-XXXXXX",
             tmp && *tmp ? tmp : "/tmp", program);
    if (!mkdtemp(harness_root)) {
        perror("harness: mkdtemp");
        harness_root[0] = '\0';
        return 99;
    }
    /* A client socket whose peer is gone must not kill the test program. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int harness_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void harness_rm_rf(const char *dir)
{
    if (dir[0])
        nftw(dir, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void harness_cleanup(void)
{
    harness_rm_rf(harness_root);
    harness_root[0] = '\0';
}

int harness_run(SRunner *sr)
{
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    harness_cleanup();
    return failed == 0 ? 0 : 1;
}

/* A port the kernel just handed out for 127.0.0.1 (free at this moment). */
static uint16_t harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof(sa);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static bool harness_can_connect(const char *host, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/*
 * True when the socket listening on 127.0.0.1:port belongs to pid, so a
 * daemon of another test program that raced us to the port is not mistaken
 * for ours.  When /proc can't tell, assume yes.
 */
static bool harness_owns_port(pid_t pid, uint16_t port)
{
    FILE *fp = fopen("/proc/net/tcp", "r");
    if (!fp)
        return true;
    char line[512];
    unsigned long inode = 0;
    bool found = false;
    if (!fgets(line, sizeof(line), fp)) {
        fclose(fp);
        return true;
    }
    while (fgets(line, sizeof(line), fp)) {
        unsigned ip, lport, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X %*s %*s %*s %*s %*s %lu", &ip, &lport, &st,
                   &ino) != 4)
            continue;
        if (lport == port && st == 0x0A) {
            inode = ino;
            found = true;
            break;
        }
    }
    fclose(fp);
    if (!found)
        return true;
    char fddir[64];
    snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fddir);
    if (!d)
        return true;
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    bool mine = false;
    struct dirent *de;
    while (!mine && (de = readdir(d)) != NULL) {
        char p[PATH_MAX], target[128];
        snprintf(p, sizeof(p), "%s/%s", fddir, de->d_name);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            mine = strcmp(target, want) == 0;
        }
    }
    closedir(d);
    return mine;
}

static pid_t harness_spawn(const char *conf, const char *const *extra_args)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Child: die with the test process, whatever way it ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    /* stderr (edad's log) goes where the test's output goes: the .log file. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = harness_bin;
    argv[n++] = "-c";
    argv[n++] = conf;
    for (size_t i = 0; extra_args && extra_args[i] && n < 31; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    execv(harness_bin, (char *const *)argv);
    fprintf(stderr, "harness: exec %s: %s\n", harness_bin, strerror(errno));
    _exit(127);
}

static void harness_describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned)status);
}

void harness_start(struct harness_server *s, const char *extra_conf)
{
    harness_start_args(s, extra_conf, NULL);
}

void harness_start_args(struct harness_server *s, const char *extra_conf,
                        const char *const *extra_args)
{
    memset(s, 0, sizeof(*s));
    if (harness_external()) {
        const char *a = getenv("EDAD_TEST_ADDR");
        const char *colon = strrchr(a, ':');
        ck_assert_msg(colon != NULL, "EDAD_TEST_ADDR must be host:port, got '%s'", a);
        ck_assert_msg(extra_conf == NULL && extra_args == NULL,
                      "test needs its own edad (use HARNESS_NEEDS_OWN_SERVER)");
        snprintf(s->host, sizeof(s->host), "%.*s", (int)(colon - a), a);
        s->port = (uint16_t)atoi(colon + 1);
        s->external = true;
        return;
    }
    ck_assert_msg(harness_root[0] != '\0', "harness_init was not called");
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    int n = snprintf(s->dir, sizeof(s->dir), "%s/srv%d-%u", harness_root, (int)getpid(),
                     harness_seq++);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(s->dir), "temp dir name too long");
    ck_assert_msg(mkdir(s->dir, 0700) == 0, "mkdir %s: %s", s->dir, strerror(errno));

    char conf[PATH_MAX];
    n = snprintf(conf, sizeof(conf), "%s/edad.conf", s->dir);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(conf), "conf path too long");
    const char *lvl = getenv("EDAD_TEST_LOG_LEVEL");
    char why[256] = "";
    for (int attempt = 0; attempt < 5; attempt++) {
        uint16_t port = harness_free_port();
        ck_assert_msg(port != 0, "no free port on 127.0.0.1");
        FILE *fp = fopen(conf, "w");
        ck_assert_msg(fp != NULL, "write %s: %s", conf, strerror(errno));
        fprintf(fp,
                "# written by the conformance harness\n"
                "listeners.tcp.default = 127.0.0.1:%u\n"
                "data_dir = %s/data\n"
                "log.console.level = %s\n"
                "management.tcp.port = 0\n"
                "prometheus.tcp.port = 0\n"
                "%s\n",
                port, s->dir, lvl && *lvl ? lvl : "info", extra_conf ? extra_conf : "");
        fclose(fp);

        pid_t pid = harness_spawn(conf, extra_args);
        ck_assert_msg(pid > 0, "fork: %s", strerror(errno));
        long deadline = harness_now_ms() + 10000;
        int status = 0;
        bool exited = false, ready = false;
        while (harness_now_ms() < deadline) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                exited = true;
                break;
            }
            if (harness_can_connect("127.0.0.1", port)) {
                ready = true;
                break;
            }
            harness_sleep_ms(10);
        }
        if (ready && !harness_owns_port(pid, port)) {
            /* Someone else listens there; ours will fail to bind and exit. */
            snprintf(why, sizeof(why), "port %u was taken by another process", port);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            continue;
        }
        if (ready) {
            s->pid = pid;
            s->port = port;
            return;
        }
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ck_abort_msg("edad did not accept connections on 127.0.0.1:%u within 10 s", port);
        }
        harness_describe_status(status, why, sizeof(why));
        if (WIFEXITED(status) && (WEXITSTATUS(status) == 78 || WEXITSTATUS(status) == 127))
            ck_abort_msg("edad could not start (%s); conf:\nlisteners.tcp.default = "
                         "127.0.0.1:%u\n%s",
                         why, port, extra_conf ? extra_conf : "");
        /* Probably lost a race for the port: try another one. */
    }
    ck_abort_msg("edad failed to start five times; last: %s", why);
}

bool harness_signal_wait(struct harness_server *s, int sig, int timeout_ms, int *status)
{
    if (s->external || s->pid <= 0)
        return false;
    kill(s->pid, sig);
    long deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        pid_t w = waitpid(s->pid, status, WNOHANG);
        if (w > 0) {
            s->pid = 0;
            return true;
        }
        if (w < 0 && errno == ECHILD) {
            s->pid = 0;   /* reaped elsewhere: nothing left to signal */
            return false;
        }
        if (harness_now_ms() >= deadline)
            return false;
        harness_sleep_ms(10);
    }
}

int harness_stop(struct harness_server *s)
{
    int status = 0;
    if (!s->external && s->pid > 0) {
        pid_t pid = s->pid;
        if (!harness_signal_wait(s, SIGTERM, 10000, &status) && s->pid > 0) {
            fprintf(stderr, "harness: edad (pid %d) ignored SIGTERM for 10 s; killing it\n",
                    (int)pid);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            s->pid = 0;
        }
    }
    if (s->dir[0]) {
        harness_rm_rf(s->dir);
        s->dir[0] = '\0';
    }
    return status;
}

const char *harness_scratch_dir(void)
{
    static char dir[PATH_MAX];
    static pid_t owner;
    if (owner != getpid()) {
        int n = snprintf(dir, sizeof(dir), "%s/scratch%d", harness_root, (int)getpid());
        ck_assert_msg(n > 0 && (size_t)n < sizeof(dir), "scratch dir name too long");
        ck_assert_msg(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir,
                      strerror(errno));
        owner = getpid();
    }
    return dir;
}

const char *harness_write_file(const char *name, const char *text)
{
    static char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", harness_scratch_dir(), name);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(path), "path too long");
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "write %s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
    return path;
}

int harness_exec(const char *const *argv, char *out, size_t outlen, int timeout_ms)
{
    int pfd[2];
    ck_assert(pipe(pfd) == 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        close(pfd[0]);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[1]);
        const char *args[32];
        size_t n = 0;
        args[n++] = harness_bin;
        for (size_t i = 1; argv[i] && n < 31; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(harness_bin, (char *const *)args);
        fprintf(stderr, "exec %s: %s\n", harness_bin, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    int status = 0;
    bool done = false;
    long deadline = harness_now_ms() + timeout_ms;
    while (!done) {
        char buf[4096];
        ssize_t r;
        while ((r = read(pfd[0], buf, sizeof(buf))) > 0) {
            size_t k = (size_t)r;
            if (outlen > 0 && len < outlen - 1) {
                if (k > outlen - 1 - len)
                    k = outlen - 1 - len;
                memcpy(out + len, buf, k);
                len += k;
            }
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            done = true;
            while ((r = read(pfd[0], buf, sizeof(buf))) > 0) {
                size_t k = (size_t)r;
                if (outlen > 0 && len < outlen - 1) {
                    if (k > outlen - 1 - len)
                        k = outlen - 1 - len;
                    memcpy(out + len, buf, k);
                    len += k;
                }
            }
            break;
        }
        if (harness_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(pfd[0]);
            ck_abort_msg("edad %s did not finish within %d ms", argv[1] ? argv[1] : "",
                         timeout_ms);
        }
        harness_sleep_ms(10);
    }
    close(pfd[0]);
    if (outlen > 0)
        out[len] = '\0';
    return status;
}

int harness_fd_count(const struct harness_server *s)
{
    if (s->external || s->pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)s->pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

long harness_rss_kib(const struct harness_server *s)
{
    if (s->external || s->pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(fp);
    return kib;
}

void harness_setup_default(void)
{
    harness_start(&harness_default, NULL);
}

void harness_teardown_default(void)
{
    bool ours = !harness_default.external && harness_default.pid > 0;
    int status = harness_stop(&harness_default);
    if (ours) {
        char why[128];
        harness_describe_status(status, why, sizeof(why));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "edad should exit 0 on SIGTERM, but it %s", why);
    }
}
