/*
 * expiry_bench.c - benchmark (not a test): N messages with mixed per-message
 * TTLs in one queue (short ones behind long ones) and N with mixed x-delay
 * through an x-delayed-message exchange; prints how late the latest expiry
 * and release were, the lateness a consumer saw (an upper bound: measured
 * from the client's send time), and edad's CPU time and memory.  Starts its
 * own edad unless given -a; build edad without sanitizers for real figures.
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
    long n;                     /* messages per phase */
    long min_ms, max_ms;        /* TTL / delay range */
    bool ttl, delayed;          /* phases to run */
    bool consume;               /* measure per-message lateness with a consumer */
    const char *edad;           /* binary to start */
    char host[64];
    int port;                   /* 0: start our own edad */
    pid_t pid;                  /* edad's pid for CPU and memory (0: unknown) */
};

static struct opts o = {1000000, 2000, 10000, true, true, true, NULL, "127.0.0.1", 0, 0};
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

static void stop_own_edad(void)
{
    if (own_edad > 0) {
        kill(own_edad, SIGTERM);
        for (int i = 0; i < 500; i++) {
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
    if (own_dir[0]) {
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

static void start_own_edad(void)
{
    char conf[300];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(own_dir, sizeof(own_dir), "%s/edad-expiry-bench-XXXXXX", tmp);
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
               "log.console.level = warning\n", o.port, own_dir);
    fclose(f);
    atexit(stop_own_edad);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    own_edad = fork();
    if (own_edad < 0) {
        perror("fork");
        exit(1);
    }
    if (own_edad == 0) {
        execl(o.edad, o.edad, "-c", conf, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", o.edad, strerror(errno));
        _exit(127);
    }
    o.pid = own_edad;
    for (int i = 0; i < 500; i++) {
        if (can_connect(o.host, o.port))
            return;
        if (waitpid(own_edad, NULL, WNOHANG) == own_edad) {
            own_edad = 0;
            fprintf(stderr, "edad (%s) exited at start\n", o.edad);
            exit(1);
        }
        usleep(20000);
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

/* ---- the consumer (a child process) ------------------------------------------------- */

struct lateness {
    long received;
    long early;                 /* arrived before the client-side due time */
    int64_t max_ms, p50_ms, p99_ms, p999_ms;
};

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Consume q (no-ack) until n messages or 30 s of silence; each body starts
 * with the client-side due time.  Writes a struct lateness to fd.
 */
static void consumer_child(const char *q, long n, int ready_fd, int result_fd)
{
    amqp_connection_state_t c = connect_amqp();
    struct lateness r;
    int32_t *late = malloc(sizeof(*late) * (size_t)n);
    memset(&r, 0, sizeof(r));
    amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "basic.consume");
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    while (r.received < n) {
        amqp_envelope_t env;
        struct timeval tv = {30, 0};
        amqp_maybe_release_buffers(c);
        amqp_rpc_reply_t rr = amqp_consume_message(c, &env, &tv, 0);
        if (rr.reply_type != AMQP_RESPONSE_NORMAL)
            break;
        int64_t now = now_ms(), due = 0;
        if (env.message.body.len >= 8)
            memcpy(&due, env.message.body.bytes, 8);
        int64_t l = now - due;
        if (l < 0)
            r.early++;
        late[r.received++] = (int32_t)(l < 0 ? 0 : l > INT32_MAX ? INT32_MAX : l);
        amqp_destroy_envelope(&env);
    }
    if (r.received > 0) {
        qsort(late, (size_t)r.received, sizeof(*late), cmp_i32);
        r.max_ms = late[r.received - 1];
        r.p50_ms = late[r.received / 2];
        r.p99_ms = late[(long)((double)r.received * 0.99)];
        r.p999_ms = late[(long)((double)r.received * 0.999)];
    }
    if (write(result_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(1);
    free(late);
    close_amqp(c);
    _exit(0);
}

struct child {
    pid_t pid;
    int result_fd;
};

static struct child start_consumer(const char *q, long n)
{
    int ready[2], result[2];
    struct child ch = {0, -1};
    char b;
    if (pipe(ready) != 0 || pipe(result) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    ch.pid = fork();
    if (ch.pid == 0) {
        own_edad = 0;           /* the parent owns edad and the temp dir */
        own_dir[0] = '\0';
        close(ready[0]);
        close(result[0]);
        consumer_child(q, n, ready[1], result[1]);
    }
    close(ready[1]);
    close(result[1]);
    if (read(ready[0], &b, 1) != 1) {
        fprintf(stderr, "the consumer did not start\n");
        exit(1);
    }
    close(ready[0]);
    ch.result_fd = result[0];
    return ch;
}

static void finish_consumer(struct child ch, const char *label)
{
    struct lateness r;
    memset(&r, 0, sizeof(r));
    ssize_t k = read(ch.result_fd, &r, sizeof(r));
    close(ch.result_fd);
    waitpid(ch.pid, NULL, 0);
    if (k != (ssize_t)sizeof(r)) {
        printf("%s: the consumer reported nothing\n", label);
        return;
    }
    printf("%s: consumer received %ld of %ld; lateness max %" PRId64 " ms, p99.9 %" PRId64
           " ms, p99 %" PRId64 " ms, p50 %" PRId64 " ms%s\n",
           label, r.received, o.n, r.max_ms, r.p999_ms, r.p99_ms, r.p50_ms,
           r.early ? " (some arrived EARLY: see below)" : "");
    if (r.early)
        printf("%s: %ld messages arrived before their due time\n", label, r.early);
}

/* ---- the phases ---------------------------------------------------------------------- */

/* Deterministic spread of TTLs over [min, max], neighbours far apart. */
static long pick_ms(long i)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return o.min_ms + (long)(x % (uint64_t)(o.max_ms - o.min_ms + 1));
}

static void report_cpu(const char *label, double c0, double c1, double c2, int64_t t0,
                       int64_t t1, int64_t t2)
{
    printf("%s: publishing took %.2f s (%.0f msg/s)\n", label, (double)(t1 - t0) / 1000.0,
           (double)o.n * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
    if (c0 >= 0 && c2 >= 0)
        printf("%s: server CPU %.2f s while publishing, %.2f s afterwards (%.2f s in %.2f s "
               "of wall time); RSS %.0f MiB, peak %.0f MiB\n",
               label, c1 - c0, c2 - c1, c2 - c0, (double)(t2 - t0) / 1000.0,
               mem_mib(o.pid, "VmRSS:"), mem_mib(o.pid, "VmHWM:"));
    else
        printf("%s: server CPU unknown (give -p PID)\n", label);
}

static void phase_ttl(void)
{
    amqp_connection_state_t c = connect_amqp();
    char q[64], dlq[64], exp[32];
    amqp_table_entry_t e[2];
    amqp_table_t args = {0, e};
    struct child consumer = {0, -1};
    snprintf(q, sizeof(q), "expiry-bench.ttl.%d", (int)getpid());
    snprintf(dlq, sizeof(dlq), "expiry-bench.expired.%d", (int)getpid());
    amqp_queue_declare(c, 1, amqp_cstring_bytes(dlq), 0, 0, 0, 1, amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "queue.declare (dead letters)");
    if (o.consume) {
        e[0].key = amqp_cstring_bytes("x-dead-letter-exchange");
        e[0].value.kind = AMQP_FIELD_KIND_UTF8;
        e[0].value.value.bytes = amqp_cstring_bytes("");
        e[1].key = amqp_cstring_bytes("x-dead-letter-routing-key");
        e[1].value.kind = AMQP_FIELD_KIND_UTF8;
        e[1].value.value.bytes = amqp_cstring_bytes(dlq);
        args.num_entries = 2;
    }
    amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 0, 0, 1, args);
    die_reply(amqp_get_rpc_reply(c), "queue.declare");
    if (o.consume)
        consumer = start_consumer(dlq, o.n);

    int64_t latest_due = 0, t0 = now_ms();
    double c0 = cpu_seconds(o.pid);
    for (long i = 0; i < o.n; i++) {
        amqp_basic_properties_t p;
        uint8_t body[16];
        long ttl = pick_ms(i);
        int64_t due = now_ms() + ttl;
        if (due > latest_due)
            latest_due = due;
        int64_t idx = i;
        memcpy(body, &due, 8);
        memcpy(body + 8, &idx, 8);
        snprintf(exp, sizeof(exp), "%ld", ttl);
        p._flags = AMQP_BASIC_EXPIRATION_FLAG;
        p.expiration = amqp_cstring_bytes(exp);
        amqp_bytes_t b = {sizeof(body), body};
        if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 0, &p, b) !=
            AMQP_STATUS_OK) {
            fprintf(stderr, "publish %ld failed\n", i);
            exit(1);
        }
    }
    long in_queue = queue_count(c, q);
    int64_t t1 = now_ms();
    double c1 = cpu_seconds(o.pid);
    printf("ttl: %ld messages with expirations of %ld..%ld ms in one queue, %ld still queued "
           "after publishing\n", o.n, o.min_ms, o.max_ms, in_queue);
    /* wait for the queue to empty: the latest expiry */
    int64_t deadline = latest_due + 120000, t_empty = -1;
    while (now_ms() < deadline) {
        if (queue_count(c, q) == 0) {
            t_empty = now_ms();
            break;
        }
        usleep(5000);
    }
    if (t_empty < 0)
        printf("ttl: the queue was NOT empty 120 s after the latest due time (%ld left)\n",
               queue_count(c, q));
    else
        printf("ttl: queue empty %" PRId64 " ms after the latest due time (polled every 5 ms; "
               "latest due %.2f s after the first publish)\n",
               t_empty - latest_due, (double)(latest_due - t0) / 1000.0);
    if (o.consume)
        finish_consumer(consumer, "ttl");
    int64_t t2 = now_ms();
    double c2 = cpu_seconds(o.pid);
    report_cpu("ttl", c0, c1, c2, t0, t1, t2);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(dlq), 0, 0);
    close_amqp(c);
}

static void phase_delayed(void)
{
    amqp_connection_state_t c = connect_amqp();
    char x[64], q[64];
    amqp_table_entry_t xe[1], he[1];
    amqp_table_t xargs = {1, xe}, headers = {1, he};
    struct child consumer = {0, -1};
    snprintf(x, sizeof(x), "expiry-bench.delayed.%d", (int)getpid());
    snprintf(q, sizeof(q), "expiry-bench.released.%d", (int)getpid());
    xe[0].key = amqp_cstring_bytes("x-delayed-type");
    xe[0].value.kind = AMQP_FIELD_KIND_UTF8;
    xe[0].value.value.bytes = amqp_cstring_bytes("direct");
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("x-delayed-message"),
                          0, 0, 0, 0, xargs);
    die_reply(amqp_get_rpc_reply(c), "exchange.declare x-delayed-message");
    amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 0, 0, 1, amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "queue.declare");
    amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_cstring_bytes("k"),
                    amqp_empty_table);
    die_reply(amqp_get_rpc_reply(c), "queue.bind");
    if (o.consume)
        consumer = start_consumer(q, o.n);

    double rss0 = mem_mib(o.pid, "VmRSS:");
    int64_t latest_due = 0, t0 = now_ms();
    double c0 = cpu_seconds(o.pid);
    he[0].key = amqp_cstring_bytes("x-delay");
    he[0].value.kind = AMQP_FIELD_KIND_I32;
    for (long i = 0; i < o.n; i++) {
        amqp_basic_properties_t p;
        uint8_t body[16];
        long delay = pick_ms(i);
        int64_t due = now_ms() + delay;
        if (due > latest_due)
            latest_due = due;
        int64_t idx = i;
        memcpy(body, &due, 8);
        memcpy(body + 8, &idx, 8);
        he[0].value.value.i32 = (int32_t)delay;
        p._flags = AMQP_BASIC_HEADERS_FLAG;
        p.headers = headers;
        amqp_bytes_t b = {sizeof(body), body};
        if (amqp_basic_publish(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes("k"), 0, 0, &p,
                               b) != AMQP_STATUS_OK) {
            fprintf(stderr, "publish %ld failed\n", i);
            exit(1);
        }
    }
    long routed = queue_count(c, q);   /* also: edad has read every publish */
    int64_t t1 = now_ms();
    double c1 = cpu_seconds(o.pid), rss1 = mem_mib(o.pid, "VmRSS:");
    printf("delayed: %ld messages with x-delay %ld..%ld ms, %ld already released after "
           "publishing\n", o.n, o.min_ms, o.max_ms, routed);
    if (rss0 >= 0 && rss1 >= 0)
        printf("delayed: server RSS grew by %.0f MiB while holding them (%.0f bytes per message, "
               "bodies of 16 bytes and headers included)\n",
               rss1 - rss0, (rss1 - rss0) * 1048576.0 / (double)o.n);
    if (o.consume) {
        finish_consumer(consumer, "delayed");
    } else {
        int64_t deadline = latest_due + 120000, t_full = -1;
        while (now_ms() < deadline) {
            if (queue_count(c, q) >= o.n) {
                t_full = now_ms();
                break;
            }
            usleep(5000);
        }
        if (t_full < 0)
            printf("delayed: NOT all released 120 s after the latest due time\n");
        else
            printf("delayed: all released %" PRId64 " ms after the latest due time\n",
                   t_full - latest_due);
    }
    int64_t t2 = now_ms();
    double c2 = cpu_seconds(o.pid);
    report_cpu("delayed", c0, c1, c2, t0, t1, t2);
    amqp_queue_delete(c, 1, amqp_cstring_bytes(q), 0, 0);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes(x), 0);
    close_amqp(c);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-n COUNT] [-m ttl|delayed|both] [--min MS] [--max MS] [--no-consumer]\n"
            "          [-e EDAD_BINARY | -a HOST:PORT [-p PID]]\n"
            "Defaults: 1000000 messages, both phases, 2000..10000 ms, edad from $EDAD_BIN or "
            "./edad.\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"count", required_argument, NULL, 'n'}, {"mode", required_argument, NULL, 'm'},
        {"min", required_argument, NULL, 1},     {"max", required_argument, NULL, 2},
        {"no-consumer", no_argument, NULL, 3},   {"edad", required_argument, NULL, 'e'},
        {"addr", required_argument, NULL, 'a'},  {"pid", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    o.edad = getenv("EDAD_BIN") ? getenv("EDAD_BIN") : "./edad";
    while ((opt = getopt_long(argc, argv, "n:m:e:a:p:", lo, NULL)) != -1) {
        switch (opt) {
        case 'n': o.n = atol(optarg); break;
        case 'm':
            o.ttl = strcmp(optarg, "delayed") != 0;
            o.delayed = strcmp(optarg, "ttl") != 0;
            break;
        case 1: o.min_ms = atol(optarg); break;
        case 2: o.max_ms = atol(optarg); break;
        case 3: o.consume = false; break;
        case 'e': o.edad = optarg; break;
        case 'a': {
            char *colon = strrchr(optarg, ':');
            if (!colon)
                usage(argv[0]);
            snprintf(o.host, sizeof(o.host), "%.*s", (int)(colon - optarg), optarg);
            o.port = atoi(colon + 1);
            break;
        }
        case 'p': o.pid = (pid_t)atol(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (o.n <= 0 || o.min_ms < 1 || o.max_ms < o.min_ms)
        usage(argv[0]);
    if (o.port == 0)
        start_own_edad();
    printf("server at %s:%d (pid %d); %ld messages per phase\n", o.host, o.port, (int)o.pid, o.n);
    fflush(stdout);
    if (o.ttl)
        phase_ttl();
    fflush(stdout);
    if (o.delayed)
        phase_delayed();
    fflush(stdout);
    stop_own_edad();
    return 0;
}
