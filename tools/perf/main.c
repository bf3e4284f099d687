/*
 * main.c - edad-perf: a load generator for AMQP 0-9-1 brokers (edad and
 * RabbitMQ alike), in the spirit of RabbitMQ's PerfTest and lavinmqperf.
 * Modes: throughput (default), latency, connections, churn, info, delete;
 * --ceiling runs any of them against the built-in echo endpoint.  One thread
 * and one connection per producer/consumer, pre-encoded publish frames
 * written many per send(), large reads parsed in place, multiple=true acks.
 * Prints a human line per interval and one `SUMMARY key=value ...` line.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "perf.h"

enum mode { MODE_THROUGHPUT, MODE_LATENCY, MODE_CONNECTIONS, MODE_CHURN, MODE_INFO, MODE_DELETE };

static struct opts {
    enum mode mode;
    struct ptarget target;
    int producers, consumers, queues;
    const char *queue;
    long size;
    bool persistent, durable, auto_ack, keep, quiet, ceiling, size_set;
    long confirm;              /* window, 0 = off */
    long prefetch, multi_ack;
    double rate;               /* msg/s over all producers, 0 = unlimited */
    double seconds;
    long pmessages, cmessages;
    const char *exchange, *type, *routing_key;
    long batch;                /* messages per write, 0 = auto */
    long connections;
    long pid;
    double hold;
    long expect;
    double interval;
    int timeout_ms;
} o = {
    .mode = MODE_THROUGHPUT,
    .producers = 1,
    .consumers = 1,
    .queues = 1,
    .queue = "edad-perf",
    .size = 12,
    .prefetch = 0,
    .multi_ack = 0,
    .exchange = "",
    .type = "direct",
    .routing_key = NULL,
    .hold = 2,
    .interval = 1,
    .timeout_ms = 5000,
    .pid = -1,
};

static atomic_bool stop_flag;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
    atomic_store(&stop_flag, true);
}

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: edad-perf [OPTION]...\n"
        "Load generator for AMQP 0-9-1 brokers (edad, RabbitMQ).  Options follow\n"
        "RabbitMQ PerfTest where it has them.\n"
        "\n"
        "  -h, --uri URI            amqp://user:pass@host:port/vhost (default\n"
        "                           amqp://guest:guest@127.0.0.1:5672/%%2f)\n"
        "  -M, --mode MODE          throughput (default), latency, connections,\n"
        "                           churn, info, delete\n"
        "      --ceiling            run against edad-perf's own echo endpoint\n"
        "Throughput and latency:\n"
        "  -x, --producers N        producer connections (default 1)\n"
        "  -y, --consumers N        consumer connections (default 1)\n"
        "  -u, --queue NAME         queue name (default edad-perf)\n"
        "      --queues N           N queues NAME-1..NAME-N, producer/consumer i uses\n"
        "                           queue i mod N\n"
        "  -s, --size BYTES         body size (default 12; >= 12 carries a timestamp)\n"
        "  -f, --flag persistent    persistent messages (also --persistent); the\n"
        "                           queues are then declared durable\n"
        "      --durable            declare durable queues\n"
        "  -c, --confirm WINDOW     publisher confirms, at most WINDOW outstanding\n"
        "  -q, --qos N              consumer prefetch (default 0 = none)\n"
        "  -n, --multi-ack-every N  ack with multiple=true every N messages\n"
        "                           (default 1; capped at the prefetch)\n"
        "  -a, --autoack            consume with no-ack\n"
        "  -r, --rate R             publish at most R msg/s in total\n"
        "  -z, --time SECONDS       run duration (default 10 unless -C/-D)\n"
        "  -C, --pmessages N        messages per producer\n"
        "  -D, --cmessages N        messages per consumer\n"
        "  -e, --exchange NAME      exchange (default \"\": the default exchange)\n"
        "  -t, --type TYPE          exchange type to declare (default direct)\n"
        "  -k, --routing-key KEY    routing/binding key (default the queue name)\n"
        "  -b, --batch N            messages per write (default: ~64 KiB worth;\n"
        "                           1 in latency mode)\n"
        "      --publish-only       no consumers (same as -y 0); queues are kept\n"
        "      --consume-only       no producers (same as -x 0)\n"
        "      --keep               do not delete the queues at the end\n"
        "Connections, churn, info:\n"
        "      --connections N      connections mode: open N idle connections\n"
        "      --pid PID            broker pid for RSS (default: looked up by port)\n"
        "      --hold SECONDS       wait before measuring RSS (default 2)\n"
        "      --expect N           info mode: wait until the queue holds N messages\n"
        "      --timeout MS         handshake/connect timeout (default 5000)\n"
        "Output:\n"
        "  -i, --interval SECONDS   report interval (default 1)\n"
        "      --quiet              only the SUMMARY line\n"
        "  -V, --version            print the version\n"
        "      --help               this help\n"
        "\n"
        "The last line is machine-readable: SUMMARY mode=... key=value ...\n");
}

static bool parse_long(const char *s, long *out, long min)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s)
        return false;
    long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1000, end++;
    else if (*end == 'M')
        mult = 1000000, end++;
    if (*end || d * mult < min)
        return false;
    *out = (long)(d * mult);
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && end != s && !*end && *out >= 0;
}

static void fail_usage(const char *what, const char *arg)
{
    fprintf(stderr, "edad-perf: invalid %s: %s\n", what, arg);
    exit(64);
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_CEILING = 256, O_QUEUES, O_PERSISTENT, O_DURABLE, O_PUBONLY, O_CONSONLY, O_KEEP,
        O_CONNS, O_PID, O_HOLD, O_EXPECT, O_TIMEOUT, O_QUIET, O_HELP, O_MULTI
    };
    static const struct option lo[] = {
        {"uri", required_argument, NULL, 'h'},
        {"mode", required_argument, NULL, 'M'},
        {"ceiling", no_argument, NULL, O_CEILING},
        {"producers", required_argument, NULL, 'x'},
        {"consumers", required_argument, NULL, 'y'},
        {"queue", required_argument, NULL, 'u'},
        {"queues", required_argument, NULL, O_QUEUES},
        {"size", required_argument, NULL, 's'},
        {"flag", required_argument, NULL, 'f'},
        {"persistent", no_argument, NULL, O_PERSISTENT},
        {"durable", no_argument, NULL, O_DURABLE},
        {"confirm", required_argument, NULL, 'c'},
        {"qos", required_argument, NULL, 'q'},
        {"multi-ack-every", required_argument, NULL, 'n'},
        {"multi-ack", required_argument, NULL, O_MULTI},
        {"autoack", no_argument, NULL, 'a'},
        {"auto-ack", no_argument, NULL, 'a'},
        {"rate", required_argument, NULL, 'r'},
        {"time", required_argument, NULL, 'z'},
        {"pmessages", required_argument, NULL, 'C'},
        {"cmessages", required_argument, NULL, 'D'},
        {"exchange", required_argument, NULL, 'e'},
        {"type", required_argument, NULL, 't'},
        {"routing-key", required_argument, NULL, 'k'},
        {"batch", required_argument, NULL, 'b'},
        {"publish-only", no_argument, NULL, O_PUBONLY},
        {"consume-only", no_argument, NULL, O_CONSONLY},
        {"keep", no_argument, NULL, O_KEEP},
        {"connections", required_argument, NULL, O_CONNS},
        {"pid", required_argument, NULL, O_PID},
        {"hold", required_argument, NULL, O_HOLD},
        {"expect", required_argument, NULL, O_EXPECT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"interval", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, O_QUIET},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *uri = NULL;
    long v;
    bool rate_set = false, batch_set = false;
    int c;
    while ((c = getopt_long(argc, argv, "h:M:x:y:u:s:f:c:q:n:ar:z:C:D:e:t:k:b:i:V", lo, NULL)) != -1) {
        switch (c) {
        case 'h': uri = optarg; break;
        case 'M':
            if (!strcmp(optarg, "throughput")) o.mode = MODE_THROUGHPUT;
            else if (!strcmp(optarg, "latency")) o.mode = MODE_LATENCY;
            else if (!strcmp(optarg, "connections")) o.mode = MODE_CONNECTIONS;
            else if (!strcmp(optarg, "churn")) o.mode = MODE_CHURN;
            else if (!strcmp(optarg, "info")) o.mode = MODE_INFO;
            else if (!strcmp(optarg, "delete")) o.mode = MODE_DELETE;
            else fail_usage("mode", optarg);
            break;
        case O_CEILING: o.ceiling = true; break;
        case 'x': if (!parse_long(optarg, &v, 0) || v > 1000) fail_usage("producers", optarg); o.producers = (int)v; break;
        case 'y': if (!parse_long(optarg, &v, 0) || v > 1000) fail_usage("consumers", optarg); o.consumers = (int)v; break;
        case 'u': o.queue = optarg; break;
        case O_QUEUES: if (!parse_long(optarg, &v, 1) || v > 10000) fail_usage("queues", optarg); o.queues = (int)v; break;
        case 's': if (!parse_long(optarg, &o.size, 0) || o.size > (64L << 20)) fail_usage("size", optarg); o.size_set = true; break;
        case 'f':
            if (!strcmp(optarg, "persistent")) o.persistent = true;
            else if (strcmp(optarg, "mandatory") != 0) fail_usage("flag", optarg);
            break;
        case O_PERSISTENT: o.persistent = true; break;
        case O_DURABLE: o.durable = true; break;
        case 'c': if (!parse_long(optarg, &o.confirm, 1) || o.confirm > 1000000) fail_usage("confirm window", optarg); break;
        case 'q': if (!parse_long(optarg, &o.prefetch, 0) || o.prefetch > 65535) fail_usage("qos", optarg); break;
        case 'n': case O_MULTI: if (!parse_long(optarg, &o.multi_ack, 1)) fail_usage("multi-ack", optarg); break;
        case 'a': o.auto_ack = true; break;
        case 'r': if (!parse_double(optarg, &o.rate)) fail_usage("rate", optarg); rate_set = o.rate > 0; break;
        case 'z': if (!parse_double(optarg, &o.seconds)) fail_usage("time", optarg); break;
        case 'C': if (!parse_long(optarg, &o.pmessages, 1)) fail_usage("pmessages", optarg); break;
        case 'D': if (!parse_long(optarg, &o.cmessages, 1)) fail_usage("cmessages", optarg); break;
        case 'e': o.exchange = optarg; break;
        case 't': o.type = optarg; break;
        case 'k': o.routing_key = optarg; break;
        case 'b': if (!parse_long(optarg, &o.batch, 1) || o.batch > 100000) fail_usage("batch", optarg); batch_set = true; break;
        case O_PUBONLY: o.consumers = 0; o.keep = true; break;
        case O_CONSONLY: o.producers = 0; break;
        case O_KEEP: o.keep = true; break;
        case O_CONNS: if (!parse_long(optarg, &o.connections, 1)) fail_usage("connections", optarg); o.mode = MODE_CONNECTIONS; break;
        case O_PID: if (!parse_long(optarg, &o.pid, 1)) fail_usage("pid", optarg); break;
        case O_HOLD: if (!parse_double(optarg, &o.hold)) fail_usage("hold", optarg); break;
        case O_EXPECT: if (!parse_long(optarg, &o.expect, 0)) fail_usage("expect", optarg); break;
        case O_TIMEOUT: if (!parse_long(optarg, &v, 1)) fail_usage("timeout", optarg); o.timeout_ms = (int)v; break;
        case 'i': if (!parse_double(optarg, &o.interval) || o.interval <= 0) fail_usage("interval", optarg); break;
        case O_QUIET: o.quiet = true; break;
        case 'V': printf("edad-perf %s\n", PACKAGE_VERSION); exit(0);
        case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); exit(64);
        }
    }
    if (optind < argc)
        fail_usage("argument", argv[optind]);
    if (!ptarget_parse(&o.target, uri))
        fail_usage("uri", uri);
    if (o.mode == MODE_LATENCY) {
        if (!rate_set)
            o.rate = 1000;
        if (!o.size_set)
            o.size = 1024;
        if (!batch_set)
            o.batch = 1;
    }
    if (o.multi_ack == 0)
        o.multi_ack = 1;
    if (o.prefetch > 0 && o.multi_ack > o.prefetch)
        o.multi_ack = o.prefetch;
    if (o.persistent)
        o.durable = true;
    if (o.seconds == 0 && o.pmessages == 0 && o.cmessages == 0)
        o.seconds = o.mode == MODE_INFO ? 30 : 10;
    if (o.mode == MODE_CONNECTIONS && o.connections == 0)
        o.connections = 1000;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted) {
    }
}

static void queue_name(char *out, size_t n, int i)
{
    if (o.queues == 1)
        snprintf(out, n, "%s", o.queue);
    else
        snprintf(out, n, "%s-%d", o.queue, i % o.queues + 1);
}

/* ---- workers ------------------------------------------------------------------ */

struct worker {
    pthread_t th;
    int id;
    char queue[256];
    _Alignas(64) atomic_uint_fast64_t sent;
    atomic_uint_fast64_t received;
    atomic_uint_fast64_t confirmed;
    atomic_uint_fast64_t nacked;
    atomic_uint_fast64_t last_ns;   /* last progress */
    atomic_bool done, ready, failed;
    struct hist *hist;
    char err[320];
};

static atomic_int ready_count;

static void worker_fail(struct worker *w, const struct pconn *c, const char *what)
{
    if (!atomic_load(&stop_flag) || !w->err[0])
        snprintf(w->err, sizeof(w->err), "%s: %s", what, c->err[0] ? c->err : "error");
    atomic_store(&w->failed, true);
    atomic_store(&stop_flag, true);
}

/* Confirm bookkeeping: tags (low, sent] of which some may be settled out of
   order; ring of flags indexed by tag & mask. */
struct confirms {
    uint8_t *flag;
    uint64_t mask, low, count, nacks;
};

static void confirms_settle(struct confirms *cf, uint64_t tag, bool multiple, bool nack)
{
    if (multiple) {
        for (uint64_t t = cf->low; t <= tag; t++) {
            if (!cf->flag[t & cf->mask]) {
                cf->count++;
                cf->nacks += nack;
            }
            cf->flag[t & cf->mask] = 0;
        }
        if (tag >= cf->low)
            cf->low = tag + 1;
    } else if (tag >= cf->low && !cf->flag[tag & cf->mask]) {
        cf->flag[tag & cf->mask] = 1;
        cf->count++;
        cf->nacks += nack;
    }
    while (cf->flag[cf->low & cf->mask]) {
        cf->flag[cf->low & cf->mask] = 0;
        cf->low++;
    }
}

/* Handle frames a producer receives; -1 on a close from the broker. */
static int producer_drain(struct pconn *c, struct confirms *cf)
{
    struct pframe f;
    int r;
    while ((r = pconn_next(c, &f)) == 1) {
        if (f.type != 1)
            continue;
        struct preader rd = {f.payload + 4, f.payload + f.size};
        switch (f.method) {
        case PM_B_ACK:
        case PM_B_NACK: {
            uint64_t tag = pr_u64(&rd);
            uint8_t bits = pr_u8(&rd);
            confirms_settle(cf, tag, bits & 1, f.method == PM_B_NACK);
            break;
        }
        case PM_CONN_BLOCKED: c->blocked = true; break;
        case PM_CONN_UNBLOCKED: c->blocked = false; break;
        case PM_CONN_CLOSE:
        case PM_CH_CLOSE: {
            uint16_t code = pr_u16(&rd);
            char text[200];
            pr_sstr(&rd, text, sizeof(text));
            snprintf(c->err, sizeof(c->err), "broker closed: %u %s", code, text);
            return -1;
        }
        default: break;
        }
    }
    return r < 0 ? -1 : 0;
}

static void *producer_run(void *arg)
{
    struct worker *w = arg;
    struct pconn c;
    struct confirms cf = {0};
    struct pbuf batch = {0};
    if (pconn_open(&c, &o.target, o.timeout_ms, true) != 0) {
        worker_fail(w, &c, "producer connect");
        atomic_fetch_add(&ready_count, 1);
        return NULL;
    }
    if (o.confirm && pconn_confirm_select(&c) != 0) {
        worker_fail(w, &c, "confirm.select");
        atomic_fetch_add(&ready_count, 1);
        goto out;
    }
    pconn_set_timeout(&c, 200);

    /* One message: publish, header, body frames; then K copies. */
    const char *rk = o.routing_key ? o.routing_key : w->queue;
    size_t s = pb_method_begin(&batch, 1, PM_B_PUBLISH);
    pb_u16(&batch, 0);
    pb_sstr(&batch, o.exchange);
    pb_sstr(&batch, rk);
    pb_u8(&batch, 0);
    pb_frame_end(&batch, s);
    s = pb_frame_begin(&batch, 2, 1);
    pb_u16(&batch, 60);
    pb_u16(&batch, 0);
    pb_u64(&batch, (uint64_t)o.size);
    pb_u16(&batch, 0x1000);        /* delivery-mode */
    pb_u8(&batch, o.persistent ? 2 : 1);
    pb_frame_end(&batch, s);
    size_t ts_off = 0;
    size_t chunk_max = c.frame_max - 8;
    for (long left = o.size; left > 0;) {
        size_t n = (size_t)left < chunk_max ? (size_t)left : chunk_max;
        s = pb_frame_begin(&batch, 3, 1);
        if (!ts_off)
            ts_off = batch.len;
        pbuf_reserve(&batch, n);
        memset(batch.p + batch.len, 0, n);
        batch.len += n;
        pb_frame_end(&batch, s);
        left -= (long)n;
    }
    if (o.size >= 12) {
        uint8_t *id = batch.p + ts_off + 8;
        id[0] = (uint8_t)(w->id >> 24);
        id[1] = (uint8_t)(w->id >> 16);
        id[2] = (uint8_t)(w->id >> 8);
        id[3] = (uint8_t)w->id;
    } else {
        ts_off = 0;
    }
    size_t msg_len = batch.len;
    long k = o.batch;
    if (k == 0) {
        k = (long)(65536 / msg_len);
        if (k < 1)
            k = 1;
        if (k > 2000)
            k = 2000;
    }
    if (o.confirm && k > o.confirm)
        k = o.confirm;
    pbuf_reserve(&batch, msg_len * (size_t)k);
    for (long i = 1; i < k; i++)
        pb_mem(&batch, batch.p, msg_len);
    if (o.confirm) {
        uint64_t ring = 1;
        while (ring < (uint64_t)o.confirm * 2 + (uint64_t)k)
            ring <<= 1;
        cf.flag = calloc(ring, 1);
        cf.mask = ring - 1;
        cf.low = 1;
    }
    double rate = o.rate > 0 ? o.rate / o.producers : 0;

    atomic_store(&w->ready, true);
    atomic_fetch_add(&ready_count, 1);
    /* main sets ready_count negative once every worker is set up: all
       producers start at once */
    while (atomic_load(&ready_count) >= 0 && !atomic_load(&stop_flag))
        sleep_ns(200000);
    uint64_t start = perf_now_ns(), sent = 0;
    uint64_t limit = o.pmessages ? (uint64_t)o.pmessages : UINT64_MAX;
    unsigned iter = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed) && sent < limit) {
        uint64_t n = (uint64_t)k;
        if (limit - sent < n)
            n = limit - sent;
        uint64_t now = perf_now_ns();
        if (rate > 0) {
            uint64_t due = (uint64_t)((double)(now - start) * rate / 1e9) + 1;
            if (due <= sent) {
                uint64_t next = start + (uint64_t)((double)sent * 1e9 / rate);
                if (next > now)
                    sleep_ns(next - now < 50000000 ? next - now : 50000000);
                continue;
            }
            if (due - sent < n)
                n = due - sent;
            now = perf_now_ns();
        }
        if (o.confirm) {
            uint64_t out = sent - cf.count;
            if (out >= (uint64_t)o.confirm) {
                if (pconn_fill(&c, false) < 0 || producer_drain(&c, &cf) != 0) {
                    worker_fail(w, &c, "producer");
                    break;
                }
                atomic_store_explicit(&w->confirmed, cf.count, memory_order_relaxed);
                continue;
            }
            if ((uint64_t)o.confirm - out < n)
                n = (uint64_t)o.confirm - out;
        }
        if (ts_off)
            for (uint64_t i = 0; i < n; i++) {
                uint8_t *t = batch.p + i * msg_len + ts_off;
                for (int b = 7; b >= 0; b--)
                    t[7 - b] = (uint8_t)(now >> (8 * b));
            }
        if (pconn_write(&c, batch.p, n * msg_len, &stop_flag) != 0) {
            if (!atomic_load(&stop_flag))
                worker_fail(w, &c, "producer write");
            break;
        }
        sent += n;
        atomic_store_explicit(&w->sent, sent, memory_order_relaxed);
        atomic_store_explicit(&w->last_ns, perf_now_ns(), memory_order_relaxed);
        if (o.confirm || (++iter & 15) == 0) {
            long got = pconn_fill(&c, true);
            if (got < 0 || producer_drain(&c, &cf) != 0) {
                worker_fail(w, &c, "producer");
                break;
            }
            atomic_store_explicit(&w->confirmed, cf.count, memory_order_relaxed);
        }
    }
    /* With a count, wait for the outstanding confirms. */
    if (o.confirm && !atomic_load(&w->failed)) {
        while (cf.count < sent && !atomic_load(&stop_flag)) {
            if (pconn_fill(&c, false) < 0 || producer_drain(&c, &cf) != 0) {
                worker_fail(w, &c, "producer");
                break;
            }
            atomic_store_explicit(&w->confirmed, cf.count, memory_order_relaxed);
        }
        if (cf.count >= sent)
            atomic_store_explicit(&w->last_ns, perf_now_ns(), memory_order_relaxed);
    }
    atomic_store(&w->nacked, cf.nacks);
out:
    atomic_store(&w->done, true);
    free(cf.flag);
    pbuf_free(&batch);
    pconn_close(&c);
    return NULL;
}

static void *consumer_run(void *arg)
{
    struct worker *w = arg;
    struct pconn c;
    if (pconn_open(&c, &o.target, o.timeout_ms, true) != 0) {
        worker_fail(w, &c, "consumer connect");
        atomic_fetch_add(&ready_count, 1);
        return NULL;
    }
    if ((o.prefetch > 0 && pconn_qos(&c, (uint16_t)o.prefetch) != 0) ||
        pconn_consume(&c, w->queue, o.auto_ack) != 0) {
        worker_fail(w, &c, "consumer set-up");
        atomic_fetch_add(&ready_count, 1);
        goto out;
    }
    pconn_set_timeout(&c, 200);
    atomic_store(&w->ready, true);
    atomic_fetch_add(&ready_count, 1);

    enum { WANT_METHOD, WANT_HEADER, WANT_BODY } st = WANT_METHOD;
    uint64_t received = 0, last_tag = 0, acked = 0, body_left = 0;
    uint64_t limit = o.cmessages ? (uint64_t)o.cmessages : UINT64_MAX;
    bool first_body = false;
    struct pframe f;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed) && received < limit) {
        long n = pconn_fill(&c, false);
        if (n < 0) {
            worker_fail(w, &c, "consumer");
            break;
        }
        uint64_t now = perf_now_ns();
        int r;
        uint64_t before = received;
        while ((r = pconn_next(&c, &f)) == 1) {
            if (f.type == 1) {
                if (f.method == PM_B_DELIVER) {
                    struct preader rd = {f.payload + 4, f.payload + f.size};
                    rd.p += 1 + (size_t)rd.p[0];      /* consumer tag */
                    last_tag = pr_u64(&rd);
                    st = WANT_HEADER;
                } else if (f.method == PM_CONN_CLOSE || f.method == PM_CH_CLOSE) {
                    struct preader rd = {f.payload + 4, f.payload + f.size};
                    uint16_t code = pr_u16(&rd);
                    char text[200];
                    pr_sstr(&rd, text, sizeof(text));
                    snprintf(c.err, sizeof(c.err), "broker closed: %u %s", code, text);
                    r = -1;
                    break;
                }
            } else if (f.type == 2 && st == WANT_HEADER) {
                struct preader rd = {f.payload + 4, f.payload + f.size};
                body_left = pr_u64(&rd);
                first_body = true;
                if (body_left == 0) {
                    received++;
                    st = WANT_METHOD;
                } else {
                    st = WANT_BODY;
                }
            } else if (f.type == 3 && st == WANT_BODY) {
                if (first_body && o.size >= 12 && f.size >= 12) {
                    const uint8_t *t = f.payload;
                    uint64_t ts = 0;
                    for (int b = 0; b < 8; b++)
                        ts = ts << 8 | t[b];
                    if (ts && ts <= now)
                        hist_add(w->hist, now - ts);
                }
                first_body = false;
                body_left = body_left > f.size ? body_left - f.size : 0;
                if (body_left == 0) {
                    received++;
                    st = WANT_METHOD;
                }
            }
        }
        if (r < 0) {
            worker_fail(w, &c, "consumer");
            break;
        }
        if (!o.auto_ack && last_tag > acked &&
            (last_tag - acked >= (uint64_t)o.multi_ack || (n == 0 && received == before))) {
            pconn_put_ack(&c, last_tag, true);
            acked = last_tag;
            if (pconn_flush(&c, &stop_flag) != 0) {
                if (!atomic_load(&stop_flag))
                    worker_fail(w, &c, "consumer ack");
                break;
            }
        }
        if (received != before) {
            atomic_store_explicit(&w->received, received, memory_order_relaxed);
            atomic_store_explicit(&w->last_ns, now, memory_order_relaxed);
        }
    }
out:
    atomic_store(&w->done, true);
    pconn_close(&c);
    return NULL;
}

/* ---- throughput / latency ------------------------------------------------------- */

static uint64_t sum(struct worker *ws, int n, size_t off)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        t += atomic_load_explicit((atomic_uint_fast64_t *)((char *)&ws[i] + off), memory_order_relaxed);
    return t;
}

#define SUM(ws, n, field) sum(ws, n, offsetof(struct worker, field))

static int setup_queues(bool delete)
{
    struct pconn c;
    if (pconn_open(&c, &o.target, o.timeout_ms, true) != 0) {
        fprintf(stderr, "edad-perf: set-up connection: %s\n", c.err);
        return -1;
    }
    int rc = 0;
    bool own_exchange = o.exchange[0] && strncmp(o.exchange, "amq.", 4) != 0;
    if (!delete && own_exchange && pconn_exchange_declare(&c, o.exchange, o.type, o.durable) != 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < o.queues; i++) {
        char q[300];
        queue_name(q, sizeof(q), i);
        if (delete) {
            if (pconn_queue_delete(&c, q, NULL) != 0)
                rc = -1;
            continue;
        }
        if (pconn_queue_declare(&c, q, false, o.durable, false, false, NULL, NULL) != 0)
            rc = -1;
        else if (o.exchange[0] &&
                 pconn_queue_bind(&c, q, o.exchange, o.routing_key ? o.routing_key : q) != 0)
            rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "edad-perf: %s queues: %s\n", delete ? "deleting" : "declaring", c.err);
    pconn_close(&c);
    return rc;
}

static void print_latency(const char *prefix, const struct hist *h)
{
    printf("%sp50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", prefix,
           hist_quantile(h, 0.5) / 1e3, hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3,
           h->max / 1e3);
}

static int run_throughput(void)
{
    if (o.producers + o.consumers == 0) {
        fprintf(stderr, "edad-perf: no producers and no consumers\n");
        return 64;
    }
    if (setup_queues(false) != 0)
        return 1;
    int np = o.producers, nc = o.consumers;
    struct worker *ps = calloc((size_t)np + 1, sizeof(*ps));
    struct worker *cs = calloc((size_t)nc + 1, sizeof(*cs));
    if (!ps || !cs)
        abort();
    for (int i = 0; i < nc; i++) {
        cs[i].id = i;
        cs[i].hist = calloc(1, sizeof(struct hist));
        queue_name(cs[i].queue, sizeof(cs[i].queue), i);
        pthread_create(&cs[i].th, NULL, consumer_run, &cs[i]);
    }
    for (int i = 0; i < np; i++) {
        ps[i].id = i + 1;
        queue_name(ps[i].queue, sizeof(ps[i].queue), i);
        pthread_create(&ps[i].th, NULL, producer_run, &ps[i]);
    }
    while (atomic_load(&ready_count) < np + nc && !atomic_load(&stop_flag))
        sleep_ns(1000000);
    uint64_t start = perf_now_ns();
    atomic_store(&ready_count, -1);   /* go */

    double factor = 1;
    if (o.exchange[0] && (!strcmp(o.type, "fanout") || o.routing_key))
        factor = o.queues;
    uint64_t expect = o.pmessages ? (uint64_t)((double)o.pmessages * np * factor) : 0;
    if (o.cmessages && nc)
        expect = (uint64_t)o.cmessages * (uint64_t)nc;
    uint64_t deadline = o.seconds > 0 ? start + (uint64_t)(o.seconds * 1e9) : UINT64_MAX;
    uint64_t next_report = start + (uint64_t)(o.interval * 1e9);
    uint64_t last_sent = 0, last_recv = 0, last_t = start, end = 0;
    uint64_t last_progress = start, progress_mark = 0;
    for (;;) {
        sleep_ns(10000000);
        uint64_t now = perf_now_ns();
        uint64_t sent = SUM(ps, np, sent), recv = SUM(cs, nc, received);
        uint64_t conf = SUM(ps, np, confirmed);
        if (sent + recv + conf != progress_mark) {
            progress_mark = sent + recv + conf;
            last_progress = now;
        }
        if (now >= next_report && !o.quiet) {
            double dt = (double)(now - last_t) / 1e9;
            printf("time: %.1fs, sent: %.0f msg/s, received: %.0f msg/s", (double)(now - start) / 1e9,
                   (double)(sent - last_sent) / dt, (double)(recv - last_recv) / dt);
            if (o.confirm)
                printf(", outstanding confirms: %llu", (unsigned long long)(sent - conf));
            printf("\n");
            fflush(stdout);
            last_sent = sent, last_recv = recv, last_t = now;
            next_report += (uint64_t)(o.interval * 1e9);
        }
        if (atomic_load(&stop_flag)) {
            end = now;
            break;
        }
        if (now >= deadline) {
            end = deadline;
            break;
        }
        bool producers_done = true;
        for (int i = 0; i < np; i++)
            producers_done &= atomic_load(&ps[i].done);
        bool consumers_done = nc > 0;
        for (int i = 0; i < nc; i++)
            consumers_done &= atomic_load(&cs[i].done);
        if (o.seconds == 0 && producers_done &&
            (nc == 0 || consumers_done || (expect && recv >= expect) ||
             now - last_progress > 3000000000ull)) {
            end = 0;   /* from the workers' last progress */
            break;
        }
        if (o.seconds == 0 && np == 0 && consumers_done)
            break;
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < np; i++)
        pthread_join(ps[i].th, NULL);
    for (int i = 0; i < nc; i++)
        pthread_join(cs[i].th, NULL);
    if (end == 0) {
        for (int i = 0; i < np; i++)
            if (atomic_load(&ps[i].last_ns) > end)
                end = atomic_load(&ps[i].last_ns);
        for (int i = 0; i < nc; i++)
            if (atomic_load(&cs[i].last_ns) > end)
                end = atomic_load(&cs[i].last_ns);
        if (end <= start)
            end = perf_now_ns();
    }
    double secs = (double)(end - start) / 1e9;
    uint64_t sent = SUM(ps, np, sent), recv = SUM(cs, nc, received);
    uint64_t conf = SUM(ps, np, confirmed), nack = SUM(ps, np, nacked);
    struct hist *h = calloc(1, sizeof(*h));
    for (int i = 0; i < nc; i++)
        hist_merge(h, cs[i].hist);
    int errors = 0;
    for (int i = 0; i < np + nc; i++) {
        struct worker *w = i < np ? &ps[i] : &cs[i - np];
        if (atomic_load(&w->failed)) {
            errors++;
            fprintf(stderr, "edad-perf: %s\n", w->err);
        }
    }
    /* Queues are deleted only when this run both filled and drained them. */
    if (!o.keep && np > 0 && nc > 0 && !interrupted)
        setup_queues(true);
    if (!o.quiet && nc > 0 && h->count)
        print_latency("latency: ", h), printf("\n");
    printf("SUMMARY mode=%s%s producers=%d consumers=%d queues=%d size=%ld persistent=%d confirm=%ld "
           "prefetch=%ld multi_ack=%ld auto_ack=%d rate=%.0f seconds=%.3f sent=%llu received=%llu "
           "confirmed=%llu nacked=%llu send_rate=%.0f recv_rate=%.0f ",
           o.mode == MODE_LATENCY ? "latency" : "throughput", o.ceiling ? " ceiling=1" : "", np, nc,
           o.queues, o.size, (int)o.persistent, o.confirm, o.prefetch, o.auto_ack ? 0 : o.multi_ack,
           (int)o.auto_ack, o.rate, secs, (unsigned long long)sent, (unsigned long long)recv,
           (unsigned long long)conf, (unsigned long long)nack, secs > 0 ? (double)sent / secs : 0,
           secs > 0 ? (double)recv / secs : 0);
    print_latency("", h);
    printf(" errors=%d\n", errors);
    fflush(stdout);
    for (int i = 0; i < nc; i++)
        free(cs[i].hist);
    free(h);
    free(ps);
    free(cs);
    return errors ? 1 : 0;
}

/* ---- connections ------------------------------------------------------------------ */

struct conn_worker {
    pthread_t th;
    long from, to;             /* indexes into conns */
    struct pconn *conns;
    atomic_long *opened;
    char err[256];
};

static atomic_bool conn_failed;

static void *conn_open_run(void *arg)
{
    struct conn_worker *cw = arg;
    for (long i = cw->from; i < cw->to && !atomic_load(&conn_failed) && !interrupted; i++) {
        if (pconn_open(&cw->conns[i], &o.target, o.timeout_ms, false) != 0) {
            snprintf(cw->err, sizeof(cw->err), "%s", cw->conns[i].err);
            atomic_store(&conn_failed, true);
            break;
        }
        /* idle: keep only the socket */
        free(cw->conns[i].rbuf);
        cw->conns[i].rbuf = NULL;
        pbuf_free(&cw->conns[i].out);
        atomic_fetch_add(cw->opened, 1);
    }
    return NULL;
}

static long broker_pid(void)
{
    if (o.pid > 0)
        return o.pid;
    return o.ceiling ? (long)getpid() : perf_pid_of_port(o.target.port);
}

static int run_connections(void)
{
    long n = o.connections, pid = broker_pid();
    struct pconn *conns = calloc((size_t)n, sizeof(*conns));
    if (!conns)
        abort();
    for (long i = 0; i < n; i++)
        conns[i].fd = -1;
    long rss0 = pid > 0 ? perf_rss_kib(pid) : -1;
    atomic_long opened = 0;
    int nt = n < 4 ? (int)n : 4;
    struct conn_worker cw[4];
    uint64_t t0 = perf_now_ns();
    for (int i = 0; i < nt; i++) {
        memset(&cw[i], 0, sizeof(cw[i]));
        cw[i].from = n * i / nt;
        cw[i].to = n * (i + 1) / nt;
        cw[i].conns = conns;
        cw[i].opened = &opened;
        pthread_create(&cw[i].th, NULL, conn_open_run, &cw[i]);
    }
    long last = -1;
    uint64_t next_print = 0;
    bool joined[4] = {false, false, false, false};
    while (1) {
        bool all = true;
        for (int i = 0; i < nt; i++) {
            if (!joined[i] && pthread_tryjoin_np(cw[i].th, NULL) == 0)
                joined[i] = true;
            all &= joined[i];
        }
        long now = atomic_load(&opened);
        uint64_t t = perf_now_ns();
        if (!o.quiet && now != last && (all || t >= next_print)) {
            printf("connections open: %ld\n", now);
            fflush(stdout);
            last = now;
            next_print = t + (uint64_t)(o.interval * 1e9);
        }
        if (all)
            break;
        sleep_ns(10000000);
    }
    double open_s = (double)(perf_now_ns() - t0) / 1e9;
    const char *err = "";
    for (int i = 0; i < nt; i++)
        if (cw[i].err[0])
            err = cw[i].err;
    long got = atomic_load(&opened);
    sleep_ns((uint64_t)(o.hold * 1e9));
    long rss1 = pid > 0 ? perf_rss_kib(pid) : -1;
    /* Connections must still be alive: the broker may have closed some. */
    long alive = 0;
    for (long i = 0; i < n; i++) {
        if (conns[i].fd < 0)
            continue;
        char b;
        ssize_t r = recv(conns[i].fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            alive++;
    }
    double per = got > 0 && rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) * 1024.0 / (double)got : -1;
    if (err[0])
        fprintf(stderr, "edad-perf: connection %ld failed: %s\n", got + 1, err);
    printf("SUMMARY mode=connections requested=%ld opened=%ld alive=%ld open_seconds=%.2f pid=%ld "
           "rss_before_kib=%ld rss_after_kib=%ld rss_per_conn_bytes=%.0f failed=%d\n",
           n, got, alive, open_s, pid, rss0, rss1, per, err[0] != 0);
    fflush(stdout);
    for (long i = 0; i < n; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    free(conns);
    return 0;
}

/* ---- churn ------------------------------------------------------------------ */

struct churn_worker {
    pthread_t th;
    int id;
    atomic_uint_fast64_t cycles;
    char err[256];
};

static void *churn_run(void *arg)
{
    struct churn_worker *cw = arg;
    struct pconn c;
    if (pconn_open(&c, &o.target, o.timeout_ms, true) != 0) {
        snprintf(cw->err, sizeof(cw->err), "%s", c.err);
        atomic_store(&stop_flag, true);
        return NULL;
    }
    for (uint64_t i = 0; !atomic_load(&stop_flag); i++) {
        char q[128];
        snprintf(q, sizeof(q), "edad-churn-%d-%d-%llu", (int)getpid(), cw->id, (unsigned long long)i);
        if (pconn_queue_declare(&c, q, false, false, false, false, NULL, NULL) != 0 ||
            pconn_queue_bind(&c, q, "amq.direct", q) != 0 || pconn_queue_delete(&c, q, NULL) != 0) {
            snprintf(cw->err, sizeof(cw->err), "%s", c.err);
            atomic_store(&stop_flag, true);
            break;
        }
        atomic_store_explicit(&cw->cycles, i + 1, memory_order_relaxed);
    }
    pconn_close(&c);
    return NULL;
}

static int run_churn(void)
{
    int n = o.producers > 0 ? o.producers : 1;
    struct churn_worker *cw = calloc((size_t)n, sizeof(*cw));
    if (!cw)
        abort();
    uint64_t t0 = perf_now_ns(), last = 0, lt = t0;
    for (int i = 0; i < n; i++) {
        cw[i].id = i;
        pthread_create(&cw[i].th, NULL, churn_run, &cw[i]);
    }
    double secs = o.seconds > 0 ? o.seconds : 10;
    while (!atomic_load(&stop_flag)) {
        sleep_ns((uint64_t)(o.interval * 1e9));
        uint64_t now = perf_now_ns(), tot = 0;
        for (int i = 0; i < n; i++)
            tot += atomic_load(&cw[i].cycles);
        if (!o.quiet)
            printf("time: %.1fs, declare/bind/delete: %.0f cycles/s\n", (double)(now - t0) / 1e9,
                   (double)(tot - last) / ((double)(now - lt) / 1e9));
        fflush(stdout);
        last = tot, lt = now;
        if ((double)(now - t0) / 1e9 >= secs)
            break;
    }
    atomic_store(&stop_flag, true);
    uint64_t tot = 0;
    int errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(cw[i].th, NULL);
        tot += atomic_load(&cw[i].cycles);
        if (cw[i].err[0] && !interrupted) {
            errors++;
            fprintf(stderr, "edad-perf: churn: %s\n", cw[i].err);
        }
    }
    double el = (double)(perf_now_ns() - t0) / 1e9;
    printf("SUMMARY mode=churn connections=%d seconds=%.3f cycles=%llu cycles_per_s=%.0f ops_per_s=%.0f "
           "errors=%d\n", n, el, (unsigned long long)tot, (double)tot / el, 3.0 * (double)tot / el, errors);
    free(cw);
    return errors ? 1 : 0;
}

/* ---- info / delete ---------------------------------------------------------------- */

static int run_info(bool delete)
{
    uint64_t t0 = perf_now_ns(), deadline = t0 + (uint64_t)(o.seconds * 1e9);
    struct pconn c;
    for (;;) {
        if (pconn_open(&c, &o.target, o.timeout_ms, true) == 0)
            break;
        if (perf_now_ns() >= deadline || interrupted) {
            fprintf(stderr, "edad-perf: %s\n", c.err);
            printf("SUMMARY mode=%s ready=0\n", delete ? "delete" : "info");
            return 1;
        }
        sleep_ns(2000000);
    }
    double ready_ms = (double)(perf_now_ns() - t0) / 1e6;
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        total = 0;
        for (int i = 0; i < o.queues && rc == 0; i++) {
            char q[300];
            uint32_t m = 0;
            queue_name(q, sizeof(q), i);
            if (delete ? pconn_queue_delete(&c, q, &m) : pconn_queue_declare(&c, q, true, false, false, false, &m, NULL)) {
                fprintf(stderr, "edad-perf: %s: %s\n", q, c.err);
                rc = 1;
            }
            total += m;
        }
        if (delete || rc || o.expect == 0 || total >= (uint64_t)o.expect || perf_now_ns() >= deadline ||
            interrupted)
            break;
        sleep_ns(5000000);
    }
    double count_ms = (double)(perf_now_ns() - t0) / 1e6;
    printf("SUMMARY mode=%s ready_ms=%.1f messages=%llu count_ms=%.1f expected_met=%d errors=%d\n",
           delete ? "delete" : "info", ready_ms, (unsigned long long)total, count_ms,
           o.expect == 0 || total >= (uint64_t)o.expect, rc);
    pconn_close(&c);
    return rc;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.ceiling) {
        uint16_t port;
        if (echo_start(&port) != 0) {
            fprintf(stderr, "edad-perf: cannot start the echo endpoint: %s\n", strerror(errno));
            return 1;
        }
        snprintf(o.target.host, sizeof(o.target.host), "127.0.0.1");
        o.target.port = port;
        if (!o.quiet)
            printf("ceiling: echo endpoint on 127.0.0.1:%u\n", port);
    }
    switch (o.mode) {
    case MODE_CONNECTIONS: return run_connections();
    case MODE_CHURN: return run_churn();
    case MODE_INFO: return run_info(false);
    case MODE_DELETE: return run_info(true);
    default: return run_throughput();
    }
}
