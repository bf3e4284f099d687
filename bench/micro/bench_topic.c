/*
 * bench_topic.c - micro benchmark of broker routing: ns per publish through
 * a topic trie of N bindings, against a naive scan of every binding, with
 * default/direct exchanges and the whole publish-dispatch-ack cycle as
 * baselines.  The broker alone: no sockets, no codec.
 * Usage: bench_topic [messages] (default 1000000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/broker.h"
#include "edad/core.h"

static const char *const symbols[] = {"usd", "eur", "gbp", "jpy", "chf", "aud", "cad", "nzd"};
static const char *const venues[] = {"nyse", "lse", "tse", "fra", "six"};
static const char *const kinds[] = {"trade", "quote", "book", "news"};

static void make_key(char *buf, size_t n, unsigned r)
{
    snprintf(buf, n, "%s.%s.%s.%u", kinds[r % 4], symbols[(r / 4) % 8], venues[(r / 32) % 5],
             (r / 160) % 1000);
}

/* A binding pattern: mostly literal, some '*' and '#'. */
static void make_pattern(char *buf, size_t n, unsigned i)
{
    switch (i % 4) {
    case 0:
        snprintf(buf, n, "%s.%s.*.%u", kinds[i % 4], symbols[(i / 4) % 8], (i / 32) % 1000);
        break;
    case 1:
        snprintf(buf, n, "*.%s.%s.#", symbols[(i / 4) % 8], venues[(i / 32) % 5]);
        break;
    case 2:
        snprintf(buf, n, "%s.#.%u", kinds[i % 4], (i / 4) % 1000);
        break;
    default:
        snprintf(buf, n, "%s.%s.%s.%u", kinds[i % 4], symbols[(i / 4) % 8],
                 venues[(i / 32) % 5], (i / 160) % 1000);
        break;
    }
}

/* Naive matcher (what a broker without a trie does for every binding). */
static bool naive_match(const char *p, const char *k)
{
    if (*p == '\0')
        return *k == '\0';
    const char *pe = strchr(p, '.');
    size_t pl = pe ? (size_t)(pe - p) : strlen(p);
    const char *pn = pe ? pe + 1 : p + pl;
    if (pl == 1 && p[0] == '#') {
        if (!pe)
            return true;
        for (const char *kk = k;; kk++) {
            if (naive_match(pn, kk))
                return true;
            kk = strchr(kk, '.');
            if (!kk)
                return false;
        }
    }
    if (*k == '\0')
        return false;
    const char *ke = strchr(k, '.');
    size_t kl = ke ? (size_t)(ke - k) : strlen(k);
    if (!(pl == 1 && p[0] == '*') && (pl != kl || memcmp(p, k, kl) != 0))
        return false;
    if (!pe)
        return ke == NULL;
    return ke && naive_match(pn, ke + 1);
}

static double now_ns(void)
{
    return (double)clock_mono_us() * 1000.0;
}

static void drain(struct vhost *vh, int nq)
{
    char qn[32];
    for (int i = 0; i < nq; i++) {
        snprintf(qn, sizeof(qn), "q%d", i);
        queue_purge(vh, bytes_from_cstr(qn), NULL, NULL, NULL);
    }
}

static double bench_publish(struct vhost *vh, const char *exchange, long n, int nq,
                            bool vary_key, uint64_t *routed_total)
{
    char key[64];
    struct message_info info = {.expiration_ms = -1};
    *routed_total = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (vary_key)
            make_key(key, sizeof(key), (unsigned)(i * 2654435761u));
        else
            snprintf(key, sizeof(key), "q%ld", i % nq);
        struct message *m = message_new(bytes_from_cstr(exchange), bytes_from_cstr(key),
                                        EDAD_BYTES_NULL, 16, &info);
        memset(message_body_mut(m), 'x', 16);
        struct broker_publish_result r;
        broker_publish(vh, m, NULL, &r, NULL);
        *routed_total += r.routed;
        message_unref(&m);
        if ((i & 8191) == 8191)
            drain(vh, nq);
    }
    double t = now_ns() - t0;
    drain(vh, nq);
    return t / (double)n;
}

/* A consumer that always has credit and acks (or drops) at once. */
struct sink {
    struct queue *q;
    bool no_ack;
    uint64_t n;
};

static bool sink_can(void *ctx)
{
    EDAD_UNUSED(ctx);
    return true;
}

static void sink_deliver(void *ctx, struct consumer *c, struct queue *q, struct queue_entry *e)
{
    struct sink *s = ctx;
    EDAD_UNUSED(c);
    s->n++;
    if (s->no_ack)
        message_unref(&e->msg);
    else
        queue_ack(q, e);
}

static const struct consumer_ops sink_ops = {sink_can, sink_deliver, NULL};

/* publish -> route -> enqueue -> dispatch -> deliver -> ack, per message */
static void bench_cycle(long n, bool no_ack)
{
    struct broker *b = broker_new(NULL);
    struct vhost *vh = broker_vhost_add(b, "/");
    struct queue_declare d = {.name = bytes_from_cstr("work")};
    struct queue_declare_ok ok;
    queue_declare(vh, &d, &ok, NULL);
    struct sink s = {ok.queue, no_ack, 0};
    struct consumer *c;
    struct consume_opts o = {.tag = bytes_from_cstr("c"), .no_ack = no_ack};
    queue_consume(ok.queue, &o, &sink_ops, &s, &c, NULL);
    struct message_info info = {.expiration_ms = -1};
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        struct message *m = message_new(EDAD_BYTES_NULL, bytes_from_cstr("work"),
                                        EDAD_BYTES_NULL, 16, &info);
        memset(message_body_mut(m), 'x', 16);
        broker_publish(vh, m, NULL, NULL, NULL);
        message_unref(&m);
        if ((i & 63) == 63)     /* a loop iteration every 64 publishes */
            while (broker_dispatch_pending(b))
                ;
    }
    while (broker_dispatch_pending(b))
        ;
    double t = (now_ns() - t0) / (double)n;
    printf("  publish+dispatch+%s, 1 consumer      %8.1f ns/message  delivered %llu\n",
           no_ack ? "no-ack" : "ack   ", t, (unsigned long long)s.n);
    consumer_cancel(c);
    broker_free(b);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    static const int sizes[] = {10, 1000, 100000};
    log_set_level(EDAD_LOG_WARNING);
    printf("edad broker routing micro benchmark, %ld publishes of 16 B per line\n", n);
    bench_cycle(n, true);
    bench_cycle(n, false);

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int nb = sizes[s];
        int nq = nb < 100 ? nb : 100;
        struct broker *b = broker_new(NULL);
        struct vhost *vh = broker_vhost_add(b, "/");
        char qn[32], pat[64];
        for (int i = 0; i < nq; i++) {
            snprintf(qn, sizeof(qn), "q%d", i);
            struct queue_declare d = {.name = bytes_from_cstr(qn)};
            queue_declare(vh, &d, NULL, NULL);
        }
        struct exchange_declare xd = {.name = bytes_from_cstr("t"),
                                      .type = bytes_from_cstr("topic")};
        exchange_declare(vh, &xd, NULL);
        for (int i = 0; i < nb; i++) {
            snprintf(qn, sizeof(qn), "q%d", i % nq);
            make_pattern(pat, sizeof(pat), (unsigned)i);
            queue_bind(vh, bytes_from_cstr(qn), bytes_from_cstr("t"), bytes_from_cstr(pat),
                       NULL, NULL, NULL);
        }
        uint64_t routed;
        if (s == 0) {
            double d = bench_publish(vh, "", n, nq, false, &routed);
            printf("  default exchange (queue by name)   %8.1f ns/publish  routed %llu\n", d,
                   (unsigned long long)routed);
            struct exchange_declare dd = {.name = bytes_from_cstr("d"),
                                          .type = bytes_from_cstr("direct")};
            exchange_declare(vh, &dd, NULL);
            for (int i = 0; i < nq; i++) {
                snprintf(qn, sizeof(qn), "q%d", i);
                queue_bind(vh, bytes_from_cstr(qn), bytes_from_cstr("d"), bytes_from_cstr(qn),
                           NULL, NULL, NULL);
            }
            d = bench_publish(vh, "d", n, nq, false, &routed);
            printf("  direct exchange, %3d keys            %8.1f ns/publish  routed %llu\n", nq,
                   d, (unsigned long long)routed);
        }
        double d = bench_publish(vh, "t", n, nq, true, &routed);
        printf("  topic trie, %6d bindings          %8.1f ns/publish  routed %llu\n", nb, d,
               (unsigned long long)routed);

        /* naive scan of every pattern, matching only (no enqueue) */
        long nn = nb >= 100000 ? n / 100 : n;
        char key[64];
        uint64_t hits = 0;
        char (*pats)[64] = malloc(sizeof(*pats) * (size_t)nb);
        for (int i = 0; i < nb; i++)
            make_pattern(pats[i], sizeof(pats[i]), (unsigned)i);
        double t0 = now_ns();
        for (long i = 0; i < nn; i++) {
            make_key(key, sizeof(key), (unsigned)(i * 2654435761u));
            for (int j = 0; j < nb; j++)
                hits += naive_match(pats[j], key);
        }
        double tn = (now_ns() - t0) / (double)nn;
        printf("  naive scan, %6d bindings          %8.1f ns/match    hits %llu (%ld keys)\n",
               nb, tn, (unsigned long long)hits, nn);
        free(pats);
        broker_free(b);
    }
    return 0;
}
