/*
 * check_metrics.c - Prometheus /metrics of a started edad, parsed strictly
 * by the test's own reader of the text exposition format 0.0.4: name and
 * label syntax, label escaping, HELP/TYPE once per family and before its
 * samples, families contiguous, histogram buckets cumulative with +Inf
 * equal to _count, counters named *_total; then the figures themselves
 * (connections, per-queue depth and counters, store fsyncs) against what
 * the test did.
 */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctm.h"
#include "mt.h"

static struct mt_server srv;

static void setup(void)
{
    mt_start(&srv, NULL);
}

static void teardown(void)
{
    bool ours = !srv.s.external && srv.s.pid > 0;
    int status = harness_stop(&srv.s);
    /* a clean exit: sanitizer builds fail it on leaks and errors */
    if (ours)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "edad should exit 0 on SIGTERM (status 0x%x)", status);
}

/* ---- the parser ------------------------------------------------------------------------ */

#define MAX_SAMPLES 4096
#define MAX_FAMILIES 256

struct sample {
    char name[128];
    char labels[512];            /* canonical: k="v",k="v" (unescaped values) */
    double value;
};

struct family {
    char name[128];
    char type[16];
    bool help, typed, closed;
};

struct expo {
    struct sample s[MAX_SAMPLES];
    size_t n;
    struct family f[MAX_FAMILIES];
    size_t nf;
};

static bool is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

static struct family *family_of(struct expo *e, const char *name, bool create)
{
    for (size_t i = 0; i < e->nf; i++)
        if (strcmp(e->f[i].name, name) == 0)
            return &e->f[i];
    if (!create)
        return NULL;
    ck_assert(e->nf < MAX_FAMILIES);
    struct family *f = &e->f[e->nf++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    return f;
}

/* The family a sample name belongs to (histogram suffixes stripped when declared so). */
static struct family *family_of_sample(struct expo *e, const char *name)
{
    struct family *f = family_of(e, name, false);
    if (f)
        return f;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(name), sl = strlen(sfx[i]);
        if (nl > sl && strcmp(name + nl - sl, sfx[i]) == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(nl - sl), name);
            f = family_of(e, base, false);
            if (f && (strcmp(f->type, "histogram") == 0 || strcmp(f->type, "summary") == 0))
                return f;
        }
    }
    return NULL;
}

static const char *parse_name(const char *p, char *out, size_t len, int lineno)
{
    ck_assert_msg(is_name_start(*p), "line %d: bad metric name start '%c'", lineno, *p);
    size_t n = 0;
    while (is_name_char(*p)) {
        ck_assert(n + 1 < len);
        out[n++] = *p++;
    }
    out[n] = '\0';
    return p;
}

static void parse_exposition(struct expo *e, const char *text)
{
    memset(e, 0, sizeof(*e));
    struct family *current = NULL;
    int lineno = 0;
    const char *line = text;
    ck_assert_msg(text[0] != '\0', "empty exposition");
    ck_assert_msg(text[strlen(text) - 1] == '\n', "exposition does not end with a newline");
    while (*line) {
        lineno++;
        const char *end = strchr(line, '\n');
        ck_assert(end != NULL);
        char buf[2048];
        size_t len = (size_t)(end - line);
        ck_assert_msg(len < sizeof(buf), "line %d too long", lineno);
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = end + 1;
        if (len == 0)
            continue;
        if (buf[0] == '#') {
            char kw[8], name[128];
            int off = 0;
            if (sscanf(buf, "# %7s %127s %n", kw, name, &off) < 2)
                continue;   /* a plain comment */
            if (strcmp(kw, "HELP") != 0 && strcmp(kw, "TYPE") != 0)
                continue;
            char nb[128];
            const char *after = parse_name(name, nb, sizeof(nb), lineno);
            ck_assert_msg(*after == '\0', "line %d: bad name in %s", lineno, kw);
            struct family *f = family_of(e, name, true);
            ck_assert_msg(!f->closed, "line %d: %s for %s after its samples ended", lineno, kw,
                          name);
            if (current && current != f)
                current->closed = true;
            current = f;
            if (strcmp(kw, "HELP") == 0) {
                ck_assert_msg(!f->help, "line %d: second HELP for %s", lineno, name);
                f->help = true;
                ck_assert_msg(buf[off] != '\0', "line %d: empty HELP for %s", lineno, name);
            } else {
                ck_assert_msg(!f->typed, "line %d: second TYPE for %s", lineno, name);
                const char *t = buf + off;
                ck_assert_msg(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                                  strcmp(t, "histogram") == 0 || strcmp(t, "summary") == 0 ||
                                  strcmp(t, "untyped") == 0,
                              "line %d: unknown type '%s'", lineno, t);
                f->typed = true;
                snprintf(f->type, sizeof(f->type), "%s", t);
            }
            continue;
        }
        ck_assert(e->n < MAX_SAMPLES);
        struct sample *s = &e->s[e->n++];
        const char *p = parse_name(buf, s->name, sizeof(s->name), lineno);
        size_t ln = 0;
        if (*p == '{') {
            p++;
            bool first = true;
            while (*p != '}') {
                if (!first) {
                    ck_assert_msg(*p == ',', "line %d: expected , between labels", lineno);
                    p++;
                    if (*p == '}')
                        break;
                }
                first = false;
                ck_assert_msg(isalpha((unsigned char)*p) || *p == '_', "line %d: bad label name",
                              lineno);
                char lname[64];
                size_t k = 0;
                while (isalnum((unsigned char)*p) || *p == '_') {
                    ck_assert(k + 1 < sizeof(lname));
                    lname[k++] = *p++;
                }
                lname[k] = '\0';
                ck_assert_msg(*p == '=' && p[1] == '"', "line %d: label %s without =\"", lineno,
                              lname);
                p += 2;
                ln += (size_t)snprintf(s->labels + ln, sizeof(s->labels) - ln, "%s%s=\"",
                                       ln ? "," : "", lname);
                while (*p != '"') {
                    ck_assert_msg(*p != '\0', "line %d: unterminated label value", lineno);
                    char c = *p++;
                    if (c == '\\') {
                        ck_assert_msg(*p == '\\' || *p == '"' || *p == 'n',
                                      "line %d: bad escape \\%c", lineno, *p);
                        c = *p == 'n' ? '\n' : *p;
                        p++;
                    }
                    ck_assert(ln + 2 < sizeof(s->labels));
                    s->labels[ln++] = c;
                }
                p++;
                ln += (size_t)snprintf(s->labels + ln, sizeof(s->labels) - ln, "\"");
            }
            p++;
        }
        ck_assert_msg(*p == ' ', "line %d: expected a space before the value", lineno);
        p++;
        char *vend;
        if (strncmp(p, "+Inf", 4) == 0) {
            s->value = INFINITY;
            vend = (char *)p + 4;
        } else if (strncmp(p, "-Inf", 4) == 0) {
            s->value = -INFINITY;
            vend = (char *)p + 4;
        } else if (strncmp(p, "NaN", 3) == 0) {
            s->value = NAN;
            vend = (char *)p + 3;
        } else {
            s->value = strtod(p, &vend);
            ck_assert_msg(vend != p, "line %d: bad value '%s'", lineno, p);
        }
        if (*vend == ' ') {   /* optional timestamp */
            char *tend;
            strtoll(vend + 1, &tend, 10);
            vend = tend;
        }
        ck_assert_msg(*vend == '\0', "line %d: trailing characters '%s'", lineno, vend);
        struct family *f = family_of_sample(e, s->name);
        ck_assert_msg(f && f->typed, "line %d: sample %s without a TYPE line", lineno, s->name);
        ck_assert_msg(!f->closed, "line %d: samples of %s are not contiguous", lineno, f->name);
        if (current && current != f)
            current->closed = true;
        current = f;
    }
}

static const struct sample *find_sample(const struct expo *e, const char *name,
                                        const char *labels)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0 && strcmp(e->s[i].labels, labels ? labels : "") == 0)
            return &e->s[i];
    return NULL;
}

static double value_of(const struct expo *e, const char *name, const char *labels)
{
    const struct sample *s = find_sample(e, name, labels);
    ck_assert_msg(s != NULL, "no sample %s{%s}", name, labels ? labels : "");
    return s->value;
}

/* Conventions edad promises on top of the format. */
static void check_conventions(const struct expo *e)
{
    for (size_t i = 0; i < e->nf; i++) {
        const struct family *f = &e->f[i];
        ck_assert_msg(strncmp(f->name, "edad_", 5) == 0, "%s is not prefixed edad_", f->name);
        ck_assert_msg(f->help && f->typed, "%s lacks HELP or TYPE", f->name);
        if (strcmp(f->type, "counter") == 0) {
            size_t n = strlen(f->name);
            ck_assert_msg(n > 6 && strcmp(f->name + n - 6, "_total") == 0,
                          "counter %s is not named *_total", f->name);
        }
        if (strcmp(f->type, "histogram") == 0) {
            char bucket[160], count[160], sum[160];
            snprintf(bucket, sizeof(bucket), "%s_bucket", f->name);
            snprintf(count, sizeof(count), "%s_count", f->name);
            snprintf(sum, sizeof(sum), "%s_sum", f->name);
            double prev = 0, prev_le = -INFINITY, inf = -1;
            size_t buckets = 0;
            for (size_t k = 0; k < e->n; k++) {
                if (strcmp(e->s[k].name, bucket) != 0)
                    continue;
                double le;
                const char *l = e->s[k].labels;
                ck_assert_msg(strncmp(l, "le=\"", 4) == 0, "bucket without le: %s", l);
                le = strncmp(l + 4, "+Inf", 4) == 0 ? INFINITY : strtod(l + 4, NULL);
                ck_assert_msg(le > prev_le, "%s buckets not in increasing le order", f->name);
                ck_assert_msg(e->s[k].value >= prev, "%s buckets not cumulative", f->name);
                prev = e->s[k].value;
                prev_le = le;
                if (isinf(le))
                    inf = e->s[k].value;
                buckets++;
            }
            ck_assert_msg(buckets >= 2, "%s has %zu buckets", f->name, buckets);
            ck_assert_msg(inf >= 0, "%s has no +Inf bucket", f->name);
            ck_assert(value_of(e, count, NULL) == inf);
            ck_assert(value_of(e, sum, NULL) >= 0);
        }
    }
}

static char *fetch_metrics(void)
{
    struct mt_resp r;
    mt_http(srv.prom_port, "GET", "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    char ct[128];
    ck_assert_ptr_nonnull(mt_header(&r, "content-type", ct, sizeof(ct)));
    ck_assert_msg(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "Content-Type %s", ct);
    return r.body;
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_format_idle)
{
    char *text = fetch_metrics();
    struct expo *e = malloc(sizeof(*e));
    parse_exposition(e, text);
    check_conventions(e);
    ck_assert(value_of(e, "edad_connections", NULL) == 0);
    ck_assert(value_of(e, "edad_channels", NULL) == 0);
    ck_assert(value_of(e, "edad_consumers", NULL) == 0);
    ck_assert(value_of(e, "edad_queues", NULL) == 0);
    ck_assert(value_of(e, "edad_process_resident_memory_bytes", NULL) > 0);
    ck_assert(value_of(e, "edad_alarms", "resource=\"memory\"") == 0);
    ck_assert(value_of(e, "edad_alarms", "resource=\"disk\"") == 0);
    ck_assert(find_sample(e, "edad_store_disk_bytes", NULL) != NULL);
    ck_assert(find_sample(e, "edad_store_segments", NULL) != NULL);
    ck_assert(find_sample(e, "edad_store_fsyncs_total", NULL) != NULL);
    ck_assert(find_sample(e, "edad_store_fsync_duration_seconds_count", NULL) != NULL);
    free(e);
    free(text);

    struct mt_resp r;
    mt_http(srv.prom_port, "GET", "/other", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
    mt_http(srv.prom_port, "POST", "/metrics", NULL, "x", &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);
}
END_TEST

START_TEST(test_figures)
{
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/mq", "{\"durable\":true}", 201));
    json_decref(mt_api(&srv, "PUT", "/api/queues/%2F/we%22ird%5Cq", "{}", 201));
    for (int i = 0; i < 3; i++)
        json_decref(mt_api(&srv, "POST", "/api/exchanges/%2F/amq.default/publish",
                           "{\"properties\":{\"delivery_mode\":2},\"routing_key\":\"mq\","
                           "\"payload\":\"persistent\",\"payload_encoding\":\"string\"}", 200));
    json_decref(mt_api(&srv, "POST", "/api/queues/%2F/mq/get",
                       "{\"count\":1,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"auto\"}",
                       200));
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &srv.s, 1);
    /* a confirmed persistent publish: its confirm waits for an fsync */
    ctm_send_confirm_select(&c, 1, false);
    ct_expect_method(&c, &f, 1, CTM_CONFIRM, CTM_CONFIRM_SELECT_OK);
    raw_frame_free(&f);
    struct ctm_props props = {.delivery_mode = 2};
    ctm_publish(&c, 1, "", "mq", 0, &props, "synced", 6);
    ct_expect_method(&c, &f, 1, 60, CTM_BASIC_ACK);
    raw_frame_free(&f);
    ctm_send_basic_consume(&c, 1, "we\"ird\\q", "t1", 0, NULL);
    ct_expect_method(&c, &f, 1, 60, CTM_BASIC_CONSUME_OK);
    raw_frame_free(&f);

    char *text = fetch_metrics();
    struct expo *e = malloc(sizeof(*e));
    parse_exposition(e, text);
    check_conventions(e);
    ck_assert(value_of(e, "edad_connections", NULL) == 1);
    ck_assert(value_of(e, "edad_channels", NULL) == 1);
    ck_assert(value_of(e, "edad_consumers", NULL) == 1);
    ck_assert(value_of(e, "edad_queues", NULL) == 2);
    ck_assert(value_of(e, "edad_connections_sent_bytes", NULL) > 0);
    const char *mq = "vhost=\"/\",queue=\"mq\"";
    ck_assert(value_of(e, "edad_queue_messages_ready", mq) == 3);
    ck_assert(value_of(e, "edad_queue_messages_unacked", mq) == 0);
    ck_assert(value_of(e, "edad_queue_messages_published_total", mq) == 4);
    ck_assert(value_of(e, "edad_queue_messages_delivered_total", mq) == 1);
    ck_assert(value_of(e, "edad_queue_messages_acked_total", mq) == 1);
    /* the label value came back unescaped */
    ck_assert(value_of(e, "edad_queue_messages_ready", "vhost=\"/\",queue=\"we\"ird\\q\"") == 0);
    /* persistent messages on a durable queue were synced */
    ck_assert(value_of(e, "edad_store_fsyncs_total", NULL) > 0);
    ck_assert(value_of(e, "edad_store_disk_bytes", NULL) > 0);
    ck_assert(value_of(e, "edad_store_fsync_duration_seconds_count", NULL) > 0);
    free(e);
    free(text);
    raw_close(&c);
}
END_TEST

int main(void)
{
    int rc = harness_init("check_metrics");
    if (rc)
        return rc;
    Suite *s = suite_create("mgmt_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_idle);
    tcase_add_test(tc, test_figures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    return harness_run(sr);
}
