/*
 * store_bench.c - benchmark of the durable store (not a test): appends with
 * group commit as the broker would drive it (one sync request per message,
 * one flush per loop iteration, a window of unconfirmed messages), filling
 * a queue, and recovery of a filled data directory (time and RSS).  Build
 * without sanitizers for meaningful figures, e.g.
 *   bench/store_bench append /tmp/sb 1000000            # 1 KiB, sync on
 *   bench/store_bench fill /tmp/sb 1000000 && bench/store_bench recover /tmp/sb
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/store.h"

static uint64_t confirmed, nacked, confirmed_max;

static void on_done(void *ctx, uint64_t cookie, edad_status st)
{
    (void)ctx;
    confirmed++;
    if (cookie > confirmed_max)
        confirmed_max = cookie;
    if (st != EDAD_OK)
        nacked++;
}

/* VmRSS / VmHWM in KiB from /proc/self/status. */
static void rss_kib(long *rss, long *hwm)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *hwm = -1;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6))
            *rss = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6))
            *hwm = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static struct store *open_or_die(const char *dir, bool sync)
{
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = dir;
    o.sync = sync;
    o.sync_done = on_done;
    struct store *st;
    char err[512];
    if (store_open(&o, &st, err, sizeof(err)) != EDAD_OK) {
        fprintf(stderr, "store_bench: %s\n", err);
        exit(2);
    }
    return st;
}

static void wait_some(struct store *st)
{
    struct pollfd p = {store_sync_fd(st), POLLIN, 0};
    poll(&p, 1, 1000);
    store_sync_poll(st);
}

/*
 * Append n messages of size bytes; window unconfirmed at most, batch per
 * flush.  With ack, a consumer acks every message once it is confirmed
 * (1 publisher, 1 consumer: the queue stays short, segments are reclaimed).
 */
static int run_append(const char *dir, uint64_t n, size_t size, uint64_t batch, uint64_t window,
                      bool sync, bool fill, bool ack)
{
    struct store *st = open_or_die(dir, sync);
    struct qstore *qs;
    if (store_queue_open(st, bytes_from_cstr("/"), bytes_from_cstr("bench"), &qs) != EDAD_OK) {
        fprintf(stderr, "store_bench: cannot create the queue\n");
        return 2;
    }
    uint8_t *body = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        body[i] = (uint8_t)i;
    static const uint8_t props[] = {0x10, 0x00, 0x02};     /* delivery_mode = 2 */
    uint64_t seq = qstore_next_seq(qs), sent = 0, acked_upto = seq - 1;
    uint64_t cap = window + batch + 1;
    struct store_loc *locs = calloc(cap, sizeof(*locs));
    struct store_stats s0, s1;
    store_get_stats(st, &s0);
    confirmed = nacked = confirmed_max = 0;
    uint64_t t0 = clock_mono_us();
    while (sent < n) {
        if (!fill && sent - confirmed + batch > window) {
            wait_some(st);
            continue;
        }
        for (; ack && acked_upto < confirmed_max; acked_upto++)
            qstore_ack(qs, locs[(acked_upto + 1) % cap]);
        uint64_t k = n - sent < batch ? n - sent : batch;
        for (uint64_t i = 0; i < k; i++) {
            struct store_msg m = {
                .seq = seq++,
                .exchange = bytes_from_cstr(""),
                .routing_key = bytes_from_cstr("bench"),
                .props = {props, sizeof(props)},
                .body = {body, size},
            };
            if (qstore_append(qs, &m, &locs[m.seq % cap]) != EDAD_OK) {
                fprintf(stderr, "store_bench: append failed\n");
                return 2;
            }
            if (!fill)
                store_sync_request(st, m.seq);
        }
        sent += k;
        if (store_flush(st) != EDAD_OK) {
            fprintf(stderr, "store_bench: flush failed\n");
            return 2;
        }
        store_sync_poll(st);
    }
    while (!fill && confirmed < n)
        wait_some(st);
    for (; ack && acked_upto < confirmed_max; acked_upto++)
        qstore_ack(qs, locs[(acked_upto + 1) % cap]);
    store_flush(st);
    uint64_t us = clock_mono_us() - t0;
    store_get_stats(st, &s1);
    double secs = (double)us / 1e6;
    if (fill) {
        printf("fill: %llu messages of %zu bytes in %.2f s (%.0f msg/s), %llu queued, %.1f MiB on disk\n",
               (unsigned long long)n, size, secs, (double)n / secs,
               (unsigned long long)s1.messages, (double)s1.disk_bytes / 1048576.0);
    } else {
        uint64_t rounds = s1.sync_rounds - s0.sync_rounds, fs = s1.fsyncs - s0.fsyncs;
        printf("append%s: %llu messages of %zu bytes, sync=%s, %llu per flush, window %llu: "
               "%.2f s, %.0f msg/s, %.1f MiB/s; %llu confirms (%llu nacked), %llu sync rounds, "
               "%llu fsyncs, mean fsync %.0f us; %.1f MiB left on disk\n",
               ack ? "+ack" : "", (unsigned long long)n, size, sync ? "on" : "off", (unsigned long long)batch,
               (unsigned long long)window, secs, (double)n / secs,
               (double)n * (double)size / secs / 1048576.0, (unsigned long long)confirmed,
               (unsigned long long)nacked, (unsigned long long)rounds, (unsigned long long)fs,
               fs ? (double)(s1.fsync_us_total - s0.fsync_us_total) / (double)fs : 0.0,
               (double)s1.disk_bytes / 1048576.0);
        printf("summary mode=append%s size=%zu sync=%d window=%llu msgs=%llu secs=%.3f msg_per_s=%.0f "
               "rounds=%llu fsyncs=%llu\n", ack ? "+ack" : "", size, sync, (unsigned long long)window,
               (unsigned long long)n, secs, (double)n / secs, (unsigned long long)rounds,
               (unsigned long long)fs);
    }
    free(body);
    free(locs);
    store_close(st);
    return 0;
}

static int run_recover(const char *dir, bool read_all)
{
    long rss0, hwm0, rss1, hwm1, rss2, hwm2;
    rss_kib(&rss0, &hwm0);
    uint64_t t0 = clock_mono_us();
    struct store *st = open_or_die(dir, false);
    uint64_t t1 = clock_mono_us();
    rss_kib(&rss1, &hwm1);
    struct store_stats s;
    store_get_stats(st, &s);
    printf("recover: %llu queue(s), %llu live message(s) in %llu segment(s), %.1f MiB: "
           "open (scan + checksums) %.3f s, RSS %ld KiB (peak %ld KiB, %ld KiB before open)\n",
           (unsigned long long)s.queues, (unsigned long long)s.messages,
           (unsigned long long)s.segments, (double)s.disk_bytes / 1048576.0,
           (double)(t1 - t0) / 1e6, rss1, hwm1, rss0);
    if (read_all) {
        uint64_t n = 0, bytes = 0, t2 = clock_mono_us();
        struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("bench"));
        if (qs) {
            struct qstore_iter *it = qstore_iter_new(qs);
            struct store_rec r;
            while (qstore_iter_next(it, &r) == EDAD_OK) {
                n++;
                bytes += r.body.len;
            }
            qstore_iter_free(it);
        }
        uint64_t t3 = clock_mono_us();
        rss_kib(&rss2, &hwm2);
        printf("read back: %llu message(s), %.1f MiB of bodies paged through in %.3f s "
               "(%.0f msg/s), RSS %ld KiB (peak %ld KiB)\n",
               (unsigned long long)n, (double)bytes / 1048576.0, (double)(t3 - t2) / 1e6,
               (double)n / ((double)(t3 - t2) / 1e6), rss2, hwm2);
    }
    printf("summary mode=recover msgs=%llu open_secs=%.3f rss_kib=%ld\n",
           (unsigned long long)s.messages, (double)(t1 - t0) / 1e6, rss1);
    store_close(st);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: store_bench append DIR N [-s SIZE] [-b PER_FLUSH] [-w WINDOW] [-n] [-a]\n"
            "       store_bench fill DIR N [-s SIZE]\n"
            "       store_bench recover DIR [-r]\n"
            "  -s  body bytes (1024)      -b  messages per flush (1000)\n"
            "  -w  unconfirmed window (1000)   -n  sync off   -r  also read every record\n"
            "  -a  a consumer acks each message once confirmed\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[1], *dir = argv[2];
    uint64_t n = 0;
    int first = 3;
    if (strcmp(mode, "recover") != 0) {
        if (argc < 4)
            usage();
        n = strtoull(argv[3], NULL, 10);
        first = 4;
    }
    size_t size = 1024;
    uint64_t batch = 1000, window = 1000;
    bool sync = true, read_all = false, ack = false;
    optind = first;
    int opt;
    while ((opt = getopt(argc, argv, "s:b:w:nra")) != -1) {
        switch (opt) {
        case 's': size = strtoul(optarg, NULL, 10); break;
        case 'b': batch = strtoull(optarg, NULL, 10); break;
        case 'w': window = strtoull(optarg, NULL, 10); break;
        case 'n': sync = false; break;
        case 'r': read_all = true; break;
        case 'a': ack = true; break;
        default: usage();
        }
    }
    if (!batch || window < batch)
        usage();
    log_set_level(EDAD_LOG_WARNING);
    if (!strcmp(mode, "append"))
        return run_append(dir, n, size, batch, window, sync, false, ack);
    if (!strcmp(mode, "fill"))
        return run_append(dir, n, size, batch, window, false, true, false);
    if (!strcmp(mode, "recover"))
        return run_recover(dir, read_all);
    usage();
    return 2;
}
