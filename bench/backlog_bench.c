/*
 * backlog_bench.c - benchmark (not a test) of issue 5's backlog beyond
 * memory: publishes N persistent messages (default 10,000,000 of 1 KiB)
 * with confirms to one durable queue through a real socket (rabbitmq-c),
 * printing edad's RSS (VmRSS/VmHWM) as it grows; restarts edad (clean stop
 * or kill -9) and prints the recovery time and RSS; drains the queue with
 * a consumer and prints the consume rate and RSS.  Starts its own edad
 * (./edad or $EDAD_BIN, build it without sanitizers) with a data dir under
 * $TMPDIR: 10,000,000 x 1 KiB need about 11 GB of disk.  Not a test.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

/* ---- options ------------------------------------------------------------------ */

struct opts {
    long n;                     /* messages */
    long size;                  /* body bytes */
    long batch;                 /* publishes per confirm wait */
    const char *threshold;      /* store.paging_threshold, NULL: edad's default */
    const char *log_level;
    bool kill9;                 /* restart with kill -9 instead of SIGTERM */
    bool keep;                  /* keep the data dir */
    bool drain;                 /* drain after the restart */
    const char *edad;
    char host[64];
    int port;
    pid_t pid;
};

static struct opts o = {10000000, 1024, 20000, NULL, "warning", false, false, true, NULL,
                        "127.0.0.1", 0, 0};
static pid_t own_edad;
static char own_dir[256];

/* ---- clocks, CPU and memory of edad --------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* utime + stime of pid in seconds (-1 when unknown). */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t k = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[k] = '\0';
    char *p = strrchr(buf, ')');        /* comm may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "VmRSS:" / "VmHWM:" figure of pid in MiB (-1 when unknown). */
static double mem_mib(pid_t pid, const char *field)
{
    char path[64], line[256];
    double v = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        long kib;
        if (strncmp(line, field, strlen(field)) == 0 &&
            sscanf(line + strlen(field), "%ld", &kib) == 1)
            v = (double)kib / 1024.0;
    }
    fclose(f);
    return v;
}

/* ---- running edad ------------------------------------------------------------------- */

/* Stop our edad with sig (SIGTERM: wait for a clean exit, then SIGKILL). */
static void stop_process(int sig)
{
    if (own_edad > 0) {
        kill(own_edad, sig);
        for (int i = 0; i < 3000; i++) {
            if (waitpid(own_edad, NULL, WNOHANG) == own_edad) {
                own_edad = 0;
                break;
            }
            usleep(20000);
        }
        if (own_edad > 0) {
            kill(own_edad, SIGKILL);
            waitpid(own_edad, NULL, 0);
            own_edad = 0;
        }
    }
}

static void stop_own_edad(void)
{
    stop_process(SIGTERM);
    if (own_dir[0] && !o.keep) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", own_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", own_dir);
        own_dir[0] = '\0';
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_own_edad();
    _exit(130);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool can_connect(const char *host, int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void exec_edad(const char *path);
static char conf[300];

static void start_own_edad(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(own_dir, sizeof(own_dir), "%s/edad-backlog-bench-XXXXXX", tmp);
    if (!mkdtemp(own_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    o.port = free_port();
    snprintf(conf, sizeof(conf), "%s/edad.conf", own_dir);
    FILE *f = fopen(conf, "w");
    if (!f) {
        perror(conf);
        exit(1);
    }
    fprintf(f, "listeners.tcp.default = 127.0.0.1:%d\ndata_dir = %s/data\n"
               "log.console.level = %s\nmanagement.tcp.port = 0\nprometheus.tcp.port = 0\n",
            o.port, own_dir, o.log_level);
    if (o.threshold)
        fprintf(f, "store.paging_threshold = %s\n", o.threshold);
    fclose(f);
    atexit(stop_own_edad);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    exec_edad(conf);
}

/* Start edad on conf and wait until it listens (recovery is done by then). */
static void exec_edad(const char *path)
{
    own_edad = fork();
    if (own_edad < 0) {
        perror("fork");
        exit(1);
    }
    if (own_edad == 0) {
        execl(o.edad, o.edad, "-c", path, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", o.edad, strerror(errno));
        _exit(127);
    }
    o.pid = own_edad;
    for (int i = 0; i < 30000; i++) {
        if (can_connect(o.host, o.port))
            return;
        if (waitpid(own_edad, NULL, WNOHANG) == own_edad) {
            own_edad = 0;
            fprintf(stderr, "edad (%s) exited at start\n", o.edad);
            exit(1);
        }
        usleep(2000);
    }
    fprintf(stderr, "edad did not listen on 127.0.0.1:%d\n", o.port);
    exit(1);
}

/* ---- AMQP with rabbitmq-c ----------------------------------------------------------- */

static void die_reply(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        amqp_channel_close_t *m = r.reply.decoded;
        fprintf(stderr, "%s: %u %.*s\n", what, m->reply_code, (int)m->reply_text.len,
                (const char *)m->reply_text.bytes);
    } else {
        fprintf(stderr, "%s: %s\n", what,
                r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                    ? amqp_error_string2(r.library_error) : "protocol error");
    }
    exit(1);
}

static amqp_connection_state_t connect_amqp(void)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (!s || amqp_socket_open(s, o.host, o.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "cannot connect to %s:%d\n", o.host, o.port);
        exit(1);
    }
    die_reply(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
              "login");
    amqp_channel_open(c, 1);
    die_reply(amqp_get_rpc_reply(c), "channel.open");
    return c;
}

static void close_amqp(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* Ready messages in q (passive declare). */
static long queue_count(amqp_connection_state_t c, const char *q)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 1, 0, 0, 0,
                                                     amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "passive queue.declare");
    return (long)ok->message_count;
}


/* Disk bytes under own_dir/data (du -sb). */
static double data_mib(void)
{
    char cmd[400], out[64] = "";
    snprintf(cmd, sizeof(cmd), "du -sb '%s/data' 2>/dev/null", own_dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return (double)atoll(out) / (1024.0 * 1024.0);
}

static void print_mem(const char *label)
{
    printf("  %-34s RSS %8.1f MiB  HWM %8.1f MiB\n", label, mem_mib(o.pid, "VmRSS:"),
           mem_mib(o.pid, "VmHWM:"));
    fflush(stdout);
}

/* Wait for confirms up to last (acks; a nack aborts). */
static void wait_confirms(amqp_connection_state_t c, uint64_t *done, uint64_t last)
{
    while (*done < last) {
        amqp_frame_t f;
        struct timeval tv = {60, 0};
        if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK ||
            f.frame_type != AMQP_FRAME_METHOD) {
            fprintf(stderr, "no confirm within 60 s\n");
            exit(1);
        }
        if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            fprintf(stderr, "publish nacked (disk full?)\n");
            exit(1);
        }
        if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
            continue;
        amqp_basic_ack_t *a = f.payload.method.decoded;
        if (a->multiple || a->delivery_tag == *done + 1)
            *done = a->delivery_tag;
    }
}

static void phase_publish(void)
{
    amqp_connection_state_t c = connect_amqp();
    amqp_queue_declare(c, 1, amqp_cstring_bytes("backlog"), 0, 1, 0, 0, amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "queue.declare");
    amqp_confirm_select(c, 1);
    die_reply(amqp_get_rpc_reply(c), "confirm.select");
    char *body = malloc((size_t)o.size);
    memset(body, 'b', (size_t)o.size);
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = 2;
    amqp_bytes_t bb = {(size_t)o.size, body};
    printf("publish %ld persistent messages of %ld bytes with confirms (window %ld)\n", o.n,
           o.size, o.batch);
    print_mem("before");
    uint64_t done = 0;
    long report = o.n >= 10 ? o.n / 10 : 1;
    int64_t t0 = now_ms(), tl = t0;
    for (long i = 0; i < o.n; i++) {
        snprintf(body, (size_t)o.size, "%ld", i);
        if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes("backlog"), 0, 0, &p,
                               bb) != AMQP_STATUS_OK) {
            fprintf(stderr, "publish failed\n");
            exit(1);
        }
        /* keep up to two windows in flight */
        if ((i + 1) % o.batch == 0 && (uint64_t)(i + 1) > (uint64_t)o.batch)
            wait_confirms(c, &done, (uint64_t)(i + 1 - o.batch));
        if ((i + 1) % report == 0) {
            int64_t t = now_ms();
            char label[64];
            snprintf(label, sizeof(label), "%ld published, %.0f msg/s", i + 1,
                     (double)report * 1000.0 / (double)(t - tl + 1));
            tl = t;
            print_mem(label);
        }
    }
    wait_confirms(c, &done, (uint64_t)o.n);
    int64_t t1 = now_ms();
    printf("published and confirmed %ld in %.1f s: %.0f msg/s; queue holds %ld; data dir %.0f "
           "MiB\n", o.n, (double)(t1 - t0) / 1000.0, (double)o.n * 1000.0 / (double)(t1 - t0 + 1),
           queue_count(c, "backlog"), data_mib());
    print_mem("after publishing");
    free(body);
    close_amqp(c);
}

static void phase_restart(void)
{
    printf("restart (%s)\n", o.kill9 ? "kill -9" : "SIGTERM");
    fflush(stdout);
    stop_process(o.kill9 ? SIGKILL : SIGTERM);
    int64_t t0 = now_ms();
    exec_edad(conf);
    int64_t t1 = now_ms();
    printf("  listening again %.2f s after exec (recovery included)\n",
           (double)(t1 - t0) / 1000.0);
    print_mem("after recovery");
}

static void phase_drain(void)
{
    amqp_connection_state_t c = connect_amqp();
    long n = queue_count(c, "backlog");
    printf("drain %ld messages (prefetch 2000, ack multiple every 500)\n", n);
    amqp_basic_qos(c, 1, 0, 2000, 0);
    die_reply(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes("backlog"), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "basic.consume");
    long report = n >= 10 ? n / 10 : 1;
    int64_t t0 = now_ms(), tl = t0;
    for (long i = 0; i < n; i++) {
        amqp_envelope_t env;
        struct timeval tv = {60, 0};
        amqp_maybe_release_buffers(c);
        die_reply(amqp_consume_message(c, &env, &tv, 0), "consume");
        if (env.message.body.len != (size_t)o.size ||
            atol((const char *)env.message.body.bytes) != i) {
            fprintf(stderr, "message %ld: wrong body\n", i);
            exit(1);
        }
        if ((i + 1) % 500 == 0 || i + 1 == n)
            amqp_basic_ack(c, 1, env.delivery_tag, 1);
        amqp_destroy_envelope(&env);
        if ((i + 1) % report == 0) {
            int64_t t = now_ms();
            char label[64];
            snprintf(label, sizeof(label), "%ld consumed, %.0f msg/s", i + 1,
                     (double)report * 1000.0 / (double)(t - tl + 1));
            tl = t;
            print_mem(label);
        }
    }
    int64_t t1 = now_ms();
    printf("consumed %ld in %.1f s: %.0f msg/s; queue holds %ld; data dir %.1f MiB\n", n,
           (double)(t1 - t0) / 1000.0, (double)n * 1000.0 / (double)(t1 - t0 + 1),
           queue_count(c, "backlog"), data_mib());
    print_mem("after draining");
    close_amqp(c);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-n COUNT] [-s BYTES] [-w WINDOW] [-t PAGING_THRESHOLD] [-k] [--keep]\n"
            "          [--no-drain]\n"
            "          [-e EDAD_BINARY] [-l LOG_LEVEL]\n"
            "Defaults: 10000000 messages of 1024 bytes, confirm window 20000, edad's\n"
            "store.paging_threshold, clean restart (-k: kill -9), edad from $EDAD_BIN or\n"
            "./edad, data dir under $TMPDIR (about 1.1 KiB of disk per 1 KiB message).\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"count", required_argument, NULL, 'n'}, {"size", required_argument, NULL, 's'},
        {"window", required_argument, NULL, 'w'}, {"threshold", required_argument, NULL, 't'},
        {"kill", no_argument, NULL, 'k'},        {"keep", no_argument, NULL, 1},
        {"edad", required_argument, NULL, 'e'},  {"log", required_argument, NULL, 'l'},
        {"no-drain", no_argument, NULL, 2},
        {NULL, 0, NULL, 0},
    };
    int opt;
    o.edad = getenv("EDAD_BIN") ? getenv("EDAD_BIN") : "./edad";
    while ((opt = getopt_long(argc, argv, "n:s:w:t:ke:l:", lo, NULL)) != -1) {
        switch (opt) {
        case 'n': o.n = atol(optarg); break;
        case 's': o.size = atol(optarg); break;
        case 'w': o.batch = atol(optarg); break;
        case 't': o.threshold = optarg; break;
        case 'k': o.kill9 = true; break;
        case 1: o.keep = true; break;
        case 2: o.drain = false; break;
        case 'e': o.edad = optarg; break;
        case 'l': o.log_level = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (o.n <= 0 || o.size < 24 || o.batch <= 0)
        usage(argv[0]);
    start_own_edad();
    printf("edad %s at %s:%d (pid %d), data dir %s/data, store.paging_threshold %s\n", o.edad,
           o.host, o.port, (int)o.pid, own_dir, o.threshold ? o.threshold : "default");
    fflush(stdout);
    double c0 = cpu_seconds(o.pid);
    phase_publish();
    printf("  edad CPU while publishing: %.1f s\n", cpu_seconds(o.pid) - c0);
    phase_restart();
    if (o.drain) {
        c0 = cpu_seconds(o.pid);
        phase_drain();
        printf("  edad CPU while draining (since restart): %.1f s\n", cpu_seconds(o.pid) - c0);
    }
    stop_own_edad();
    return 0;
}
