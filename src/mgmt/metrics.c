/*
 * metrics.c - the Prometheus text exposition (format 0.0.4) of edad's
 * figures: connections, channels, consumers, per-queue depth and
 * counters, bytes through open connections, resident memory, alarms and
 * the store (disk bytes, segments, fsyncs and their latency histogram).
 * Every name starts with edad_ and has HELP and TYPE lines.  Rendering
 * only; http.c serves it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt_int.h"

struct out {
    char *buf;
    size_t len, cap;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)n + 1;
        o->buf = xrealloc(o->buf, o->cap);
    }
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped. */
static void out_label(struct out *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            out_printf(o, "\\\\");
        else if (*s == '"')
            out_printf(o, "\\\"");
        else if (*s == '\n')
            out_printf(o, "\\n");
        else
            out_printf(o, "%c", *s);
    }
}

/* ---- per-queue series ---------------------------------------------------------- */

enum qfield { QF_READY, QF_UNACKED, QF_PUBLISHED, QF_DELIVERED, QF_ACKED, QF_N };

static const struct {
    const char *name, *type, *help;
} qmetrics[QF_N] = {
    {"edad_queue_messages_ready", "gauge", "Messages ready to be delivered, per queue."},
    {"edad_queue_messages_unacked", "gauge",
     "Messages delivered and not yet acknowledged, per queue."},
    {"edad_queue_messages_published_total", "counter", "Messages enqueued, per queue."},
    {"edad_queue_messages_delivered_total", "counter",
     "Messages delivered to consumers or basic.get, per queue."},
    {"edad_queue_messages_acked_total", "counter", "Messages acknowledged, per queue."},
};

struct qrender {
    struct out *o;
    enum qfield f;
    const char *vhost;
    uint64_t queues;
};

static bool render_queue(void *arg, struct queue *q)
{
    struct qrender *qr = arg;
    struct queue_stats s;
    queue_get_stats(q, &s);
    uint64_t v = 0;
    switch (qr->f) {
    case QF_READY: v = s.ready; break;
    case QF_UNACKED: v = s.unacked; break;
    case QF_PUBLISHED: v = s.published; break;
    case QF_DELIVERED: v = s.delivered + s.got; break;
    case QF_ACKED: v = s.acked; break;
    case QF_N: break;
    }
    out_printf(qr->o, "%s{vhost=\"", qmetrics[qr->f].name);
    out_label(qr->o, qr->vhost);
    out_printf(qr->o, "\",queue=\"");
    out_label(qr->o, queue_name(q));
    out_printf(qr->o, "\"} %" PRIu64 "\n", v);
    qr->queues++;
    return true;
}

static bool render_vhost(void *arg, struct vhost *vh)
{
    struct qrender *qr = arg;
    qr->vhost = vhost_name(vh);
    vhost_foreach_queue(vh, render_queue, qr);
    return true;
}

/* ---- process ---------------------------------------------------------------------- */

static uint64_t rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "re");
    unsigned long size = 0, res = 0;
    if (!fp)
        return 0;
    if (fscanf(fp, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(fp);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)res * (uint64_t)(page > 0 ? page : 4096);
}

static uint64_t sum_field(json_t *items, const char *field)
{
    uint64_t t = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *v = json_object_get(it, field);
        if (json_is_integer(v) && json_integer_value(v) > 0)
            t += (uint64_t)json_integer_value(v);
    }
    return t;
}

char *mgmt_metrics_render(struct mgmt *m, size_t *len)
{
    struct out o = {xmalloc(4096), 0, 4096};
    json_t *conns = m->src.connections ? m->src.connections(m->src.ctx) : NULL;
    json_t *chans = m->src.channels ? m->src.channels(m->src.ctx) : NULL;
    json_t *cons = m->src.consumers ? m->src.consumers(m->src.ctx) : NULL;

    head(&o, "edad_connections", "gauge", "Client connections open.");
    out_printf(&o, "edad_connections %zu\n", json_array_size(conns));
    head(&o, "edad_channels", "gauge", "Channels open.");
    out_printf(&o, "edad_channels %zu\n", json_array_size(chans));
    head(&o, "edad_consumers", "gauge", "Consumers registered.");
    out_printf(&o, "edad_consumers %zu\n", json_array_size(cons));
    head(&o, "edad_connections_received_bytes", "gauge",
         "Bytes received so far by the connections open now.");
    out_printf(&o, "edad_connections_received_bytes %" PRIu64 "\n", sum_field(conns, "recv_oct"));
    head(&o, "edad_connections_sent_bytes", "gauge",
         "Bytes sent so far by the connections open now.");
    out_printf(&o, "edad_connections_sent_bytes %" PRIu64 "\n", sum_field(conns, "send_oct"));
    uint64_t recv_total = 0, sent_total = 0;
    if (m->src.io_totals)
        m->src.io_totals(m->src.ctx, &recv_total, &sent_total);
    head(&o, "edad_bytes_received_total", "counter",
         "Bytes received by AMQP connections since start, closed ones included.");
    out_printf(&o, "edad_bytes_received_total %" PRIu64 "\n", recv_total);
    head(&o, "edad_bytes_sent_total", "counter",
         "Bytes sent by AMQP connections since start, closed ones included.");
    out_printf(&o, "edad_bytes_sent_total %" PRIu64 "\n", sent_total);
    json_decref(conns);
    json_decref(chans);
    json_decref(cons);

    uint64_t queues = 0;
    for (int f = 0; f < QF_N; f++) {
        head(&o, qmetrics[f].name, qmetrics[f].type, qmetrics[f].help);
        struct qrender qr = {&o, (enum qfield)f, NULL, 0};
        mgmt_foreach_vhost(m->broker, render_vhost, &qr);
        queues = qr.queues;
    }
    head(&o, "edad_queues", "gauge", "Queues declared.");
    out_printf(&o, "edad_queues %" PRIu64 "\n", queues);

    head(&o, "edad_process_resident_memory_bytes", "gauge", "Resident set size of edad.");
    out_printf(&o, "edad_process_resident_memory_bytes %" PRIu64 "\n", rss_bytes());
    head(&o, "edad_uptime_seconds", "gauge", "Seconds since the management layer started.");
    out_printf(&o, "edad_uptime_seconds %.3f\n",
               (double)(clock_mono_ms() - m->started_ms) / 1000.0);

    unsigned alarms = m->src.alarms ? m->src.alarms(m->src.ctx) : 0;
    head(&o, "edad_alarms", "gauge", "Resource alarms in effect (1) or not (0).");
    out_printf(&o, "edad_alarms{resource=\"memory\"} %d\n", (alarms & MGMT_ALARM_MEMORY) != 0);
    out_printf(&o, "edad_alarms{resource=\"disk\"} %d\n", (alarms & MGMT_ALARM_DISK) != 0);

    if (m->store) {
        struct store_stats ss;
        store_get_stats(m->store, &ss);
        head(&o, "edad_store_disk_bytes", "gauge", "Bytes of message segments and ack files.");
        out_printf(&o, "edad_store_disk_bytes %" PRIu64 "\n", ss.disk_bytes);
        head(&o, "edad_store_segments", "gauge", "Segment files on disk.");
        out_printf(&o, "edad_store_segments %" PRIu64 "\n", ss.segments);
        head(&o, "edad_store_messages", "gauge", "Persistent messages stored and not acked.");
        out_printf(&o, "edad_store_messages %" PRIu64 "\n", ss.messages);
        head(&o, "edad_store_written_bytes_total", "counter", "Bytes written by the store.");
        out_printf(&o, "edad_store_written_bytes_total %" PRIu64 "\n", ss.bytes_written);
        head(&o, "edad_store_fsyncs_total", "counter", "fsync / fdatasync calls by the store.");
        out_printf(&o, "edad_store_fsyncs_total %" PRIu64 "\n", ss.fsyncs);
        head(&o, "edad_store_fsync_duration_seconds", "histogram",
             "Latency of the store's fdatasync calls.");
        uint64_t cum = 0;
        for (int i = 0; i < STORE_FSYNC_BUCKETS; i++) {
            cum += ss.fsync_hist[i];
            if (i == STORE_FSYNC_BUCKETS - 1)
                out_printf(&o, "edad_store_fsync_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
                               "\n", cum);
            else
                out_printf(&o, "edad_store_fsync_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                           (double)store_fsync_bucket_us[i] / 1e6, cum);
        }
        out_printf(&o, "edad_store_fsync_duration_seconds_sum %.6f\n",
                   (double)ss.fsync_us_total / 1e6);
        out_printf(&o, "edad_store_fsync_duration_seconds_count %" PRIu64 "\n", cum);
    }
    *len = o.len;
    return o.buf;
}
