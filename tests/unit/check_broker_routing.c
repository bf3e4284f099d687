/*
 * check_broker_routing.c - routing: direct, fanout, topic (RabbitMQ's edge
 * cases for '*', '#', empty words), headers (all/any/-with-x, void, value
 * comparison), exchange-to-exchange bindings with cycles, alternate
 * exchanges, one copy per queue per publish, publish errors, messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

/* ---- direct / fanout / default ---------------------------------------------------------- */

START_TEST(route_direct)
{
    struct queue *q1 = mk_queue("q1"), *q2 = mk_queue("q2"), *q3 = mk_queue("q3");
    mk_exchange("x", "direct");
    mk_bind("q1", "x", "a", NULL);
    mk_bind("q2", "x", "a", NULL);
    mk_bind("q3", "x", "b", NULL);
    mk_bind("q3", "x", "", NULL);
    ck_assert_int_eq(pub("x", "a", "1"), 2);
    ck_assert_int_eq(pub("x", "b", "2"), 1);
    ck_assert_int_eq(pub("x", "c", "3"), 0);
    ck_assert_int_eq(pub("x", "", "4"), 1);
    ck_assert_int_eq(pub("x", "A", "5"), 0);        /* case-sensitive */
    ck_assert_uint_eq(ready(q1), 1);
    ck_assert_uint_eq(ready(q2), 1);
    ck_assert_uint_eq(ready(q3), 2);
    /* many keys in one exchange */
    char key[32];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        mk_bind(i % 2 ? "q1" : "q2", "x", key, NULL);
    }
    ck_assert_int_eq(pub("x", "k77", "6"), 1);
    ck_assert_uint_eq(ready(q1), 2);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(queue_unbind(V, S(i % 2 ? "q1" : "q2"), S("x"), S(key), NULL, NULL, &E),
                         EDAD_OK);
    }
    ck_assert_int_eq(pub("x", "k77", "7"), 0);
    ck_assert_int_eq(pub("x", "a", "8"), 2);
}
END_TEST

START_TEST(route_fanout_and_default)
{
    struct queue *q1 = mk_queue("q1");
    mk_queue("q2");
    mk_exchange("f", "fanout");
    mk_bind("q1", "f", "ignored", NULL);
    mk_bind("q2", "f", "", NULL);
    ck_assert_int_eq(pub("f", "anything", "1"), 2);
    ck_assert_int_eq(pub("f", "", "2"), 2);
    ck_assert_int_eq(pub("", "q1", "3"), 1);
    ck_assert_int_eq(pub("", "nope", "4"), 0);
    ck_assert_int_eq(pub("", "", "5"), 0);
    ck_assert_uint_eq(ready(q1), 3);
}
END_TEST

/* ---- topic ---------------------------------------------------------------------------------- */

struct topic_case {
    const char *binding;
    const char *key;
    bool match;
};

static const struct topic_case topic_cases[] = {
    {"#", "", true},
    {"#", "a", true},
    {"#", "a.b.c", true},
    {"#", ".", true},
    {"*", "a", true},
    {"*", "", false},
    {"*", "a.b", false},
    {"*", ".", false},
    {"a.*", "a.b", true},
    {"a.*", "a", false},
    {"a.*", "a.b.c", false},
    {"a.*", "a.", true},            /* empty last word */
    {"a.#", "a", true},
    {"a.#", "a.b", true},
    {"a.#", "a.b.c", true},
    {"a.#", "b.a", false},
    {"a.#", "ab", false},
    {"a.#.b", "a.b", true},
    {"a.#.b", "a.x.b", true},
    {"a.#.b", "a.x.y.b", true},
    {"a.#.b", "a.x", false},
    {"a.#.b", "a.b.c", false},
    {"a.#.#.b", "a.b", true},
    {"a.#.#.b", "a.x.y.b", true},
    {"*.*", "a.b", true},
    {"*.*", "a", false},
    {"*.*", "a.b.c", false},
    {"*.*", ".", true},             /* two empty words */
    {"*.*", "a.", true},
    {"#.#", "", true},
    {"#.#", "a", true},
    {"#.#", "a.b.c", true},
    {"", "", true},
    {"", "a", false},
    {"a..b", "a..b", true},
    {"a..b", "a.b", false},
    {"a.*.b", "a..b", true},
    {"#.a", "a", true},
    {"#.a", "x.a", true},
    {"#.a", "x.y.a", true},
    {"#.a", "a.x", false},
    {"*.#", "a", true},
    {"*.#", "a.b", true},
    {"*.#", "", false},
    {"#.*", "a", true},
    {"#.*", "", false},
    {"#.b.#", "b", true},
    {"#.b.#", "a.b.c", true},
    {"#.b.#", "a.c", false},
    {"a.b.c", "a.b.c", true},
    {"a.b.c", "a.b", false},
    {"a.b.c", "a.b.c.d", false},
    {"a.*.#", "a.b", true},
    {"a.*.#", "a", false},
    {"#.*.#", "a", true},
    {"#.*.#", "", false},
    {"*.#.*", "a.b", true},
    {"*.#.*", "a", false},
    {"a", "a.", false},
    {".", ".", true},
    {".", "", false},
};

START_TEST(route_topic_cases)
{
    for (size_t i = 0; i < sizeof(topic_cases) / sizeof(topic_cases[0]); i++) {
        const struct topic_case *tc = &topic_cases[i];
        mk_exchange("t", "topic");
        mk_queue("q");
        mk_bind("q", "t", tc->binding, NULL);
        int routed = pub("t", tc->key, "m");
        ck_assert_msg(routed == (tc->match ? 1 : 0), "binding '%s' key '%s': routed %d",
                      tc->binding, tc->key, routed);
        ck_assert_int_eq(queue_delete(V, S("q"), NULL, false, false, NULL, &E), EDAD_OK);
        ck_assert_int_eq(exchange_delete(V, S("t"), false, &E), EDAD_OK);
    }
}
END_TEST

/* Reference matcher: RabbitMQ's semantics written the naive way. */
static size_t ref_split(const char *s, char words[][64], size_t max)
{
    size_t n = 0, len = strlen(s), start = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i <= len && n < max; i++) {
        if (i == len || s[i] == '.') {
            snprintf(words[n++], 64, "%.*s", (int)(i - start), s + start);
            start = i + 1;
        }
    }
    return n;
}

static bool ref_match_words(char p[][64], size_t np, size_t pi, char k[][64], size_t nk,
                            size_t ki)
{
    if (pi == np)
        return ki == nk;
    if (strcmp(p[pi], "#") == 0)
        return ref_match_words(p, np, pi + 1, k, nk, ki) ||
               (ki < nk && ref_match_words(p, np, pi, k, nk, ki + 1));
    if (ki == nk)
        return false;
    if (strcmp(p[pi], "*") == 0 || strcmp(p[pi], k[ki]) == 0)
        return ref_match_words(p, np, pi + 1, k, nk, ki + 1);
    return false;
}

static bool ref_match(const char *binding, const char *key)
{
    static char p[300][64], k[300][64];
    size_t np = ref_split(binding, p, 300), nk = ref_split(key, k, 300);
    return ref_match_words(p, np, 0, k, nk, 0);
}

START_TEST(route_topic_reference_agrees_with_cases)
{
    for (size_t i = 0; i < sizeof(topic_cases) / sizeof(topic_cases[0]); i++)
        ck_assert_msg(ref_match(topic_cases[i].binding, topic_cases[i].key) ==
                      topic_cases[i].match, "reference: '%s' vs '%s'",
                      topic_cases[i].binding, topic_cases[i].key);
}
END_TEST

/* Every case binding in one trie, each to its own queue; every case key
 * published once; each queue holds exactly what the reference says. */
START_TEST(route_topic_all_bindings_in_one_trie)
{
    size_t n = sizeof(topic_cases) / sizeof(topic_cases[0]);
    char qn[32];
    mk_exchange("t", "topic");
    for (size_t i = 0; i < n; i++) {
        snprintf(qn, sizeof(qn), "q%zu", i);
        mk_queue(qn);
        mk_bind(qn, "t", topic_cases[i].binding, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        int want = 0;
        for (size_t j = 0; j < n; j++)
            want += ref_match(topic_cases[j].binding, topic_cases[i].key);
        ck_assert_int_eq(pub("t", topic_cases[i].key, "m"), want);
        for (size_t j = 0; j < n; j++) {
            snprintf(qn, sizeof(qn), "q%zu", j);
            struct queue *q = queue_lookup(V, S(qn), NULL, &E);
            ck_assert_msg(ready(q) == (ref_match(topic_cases[j].binding, topic_cases[i].key)
                                       ? 1u : 0u), "shared trie: binding '%s' key '%s'",
                          topic_cases[j].binding, topic_cases[i].key);
            queue_purge(V, S(qn), NULL, NULL, &E);
        }
    }
    /* unbinding everything empties the trie; it grows again after */
    for (size_t i = 0; i < n; i++) {
        snprintf(qn, sizeof(qn), "q%zu", i);
        ck_assert_int_eq(queue_unbind(V, S(qn), S("t"), S(topic_cases[i].binding), NULL, NULL,
                                      &E), EDAD_OK);
    }
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("t"))), 0);
    ck_assert_int_eq(pub("t", "a.b", "m"), 0);
    mk_bind("q0", "t", "a.*", NULL);
    ck_assert_int_eq(pub("t", "a.b", "m"), 1);
}
END_TEST

/* Random bindings and keys over a tiny alphabet, against the reference. */
START_TEST(route_topic_random_against_reference)
{
    static const char *const words[] = {"a", "b", "", "*", "#"};
    static const char *const kwords[] = {"a", "b", "", "c"};
    unsigned seed = 12345;
    char bkeys[40][64], qn[32];
    mk_exchange("t", "topic");
    for (int i = 0; i < 40; i++) {
        int nw = (int)(rand_r(&seed) % 5);
        bkeys[i][0] = '\0';
        for (int w = 0; w < nw; w++) {
            if (w)
                strcat(bkeys[i], ".");
            strcat(bkeys[i], words[rand_r(&seed) % 5]);
        }
        snprintf(qn, sizeof(qn), "q%d", i);
        mk_queue(qn);
        mk_bind(qn, "t", bkeys[i], NULL);
    }
    for (int round = 0; round < 300; round++) {
        char key[64] = "";
        int nw = (int)(rand_r(&seed) % 6);
        for (int w = 0; w < nw; w++) {
            if (w)
                strcat(key, ".");
            strcat(key, kwords[rand_r(&seed) % 4]);
        }
        int want = 0;
        for (int i = 0; i < 40; i++)
            want += ref_match(bkeys[i], key);
        ck_assert_int_eq(pub("t", key, "m"), want);
        for (int i = 0; i < 40; i++) {
            snprintf(qn, sizeof(qn), "q%d", i);
            struct queue *q = queue_lookup(V, S(qn), NULL, &E);
            ck_assert_msg(ready(q) == (ref_match(bkeys[i], key) ? 1u : 0u),
                          "binding '%s' key '%s'", bkeys[i], key);
            queue_purge(V, S(qn), NULL, NULL, &E);
        }
    }
}
END_TEST

START_TEST(route_topic_one_copy_per_queue)
{
    struct queue *q = mk_queue("q");
    mk_exchange("t", "topic");
    mk_bind("q", "t", "#", NULL);
    mk_bind("q", "t", "a.*", NULL);
    mk_bind("q", "t", "a.b", NULL);
    mk_bind("q", "t", "#.b", NULL);
    mk_bind("q", "t", "#.#", NULL);
    ck_assert_int_eq(pub("t", "a.b", "m"), 1);
    ck_assert_uint_eq(ready(q), 1);
}
END_TEST

START_TEST(route_topic_long_keys)
{
    char key[256];
    memset(key, '.', 255);
    key[255] = '\0';
    struct queue *q = mk_queue("q");
    mk_exchange("t", "topic");
    mk_bind("q", "t", "#.*.#", NULL);
    ck_assert_int_eq(pub("t", key, "m"), 1);        /* 256 empty words */
    mk_bind("q", "t", "#.a.#.b.#.c.#", NULL);
    for (int i = 0; i < 255; i++)
        key[i] = i % 2 ? '.' : 'a';
    ck_assert_int_eq(pub("t", key, "m"), 1);
    ck_assert_uint_eq(ready(q), 2);
}
END_TEST

/* ---- headers -------------------------------------------------------------------------------- */

static int hroute(struct broker_table *binding, struct broker_table *headers)
{
    mk_exchange("h", "headers");
    mk_queue("hq");
    mk_bind("hq", "h", "", binding);
    int calls = 0;
    int routed = pub_h("h", "rk", "m", headers, &calls);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(queue_delete(V, S("hq"), NULL, false, false, NULL, &E), EDAD_OK);
    ck_assert_int_eq(exchange_delete(V, S("h"), false, &E), EDAD_OK);
    return routed;
}

START_TEST(route_headers_all_any)
{
    struct targs b, h;
    /* all (default when x-match is absent) */
    ta_init(&b); ta_str(&b, "a", "1"); ta_str(&b, "b", "2");
    ta_init(&h); ta_str(&h, "b", "2"); ta_str(&h, "a", "1"); ta_str(&h, "c", "3");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_str(&h, "a", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    ck_assert_int_eq(hroute(&b.t, NULL), 0);
    ta_init(&h); ta_str(&h, "a", "1"); ta_str(&h, "b", "3");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    ta_str(&b, "x-match", "all");
    ta_init(&h); ta_str(&h, "a", "1"); ta_str(&h, "b", "2");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    /* any */
    ta_init(&b); ta_str(&b, "x-match", "any"); ta_str(&b, "a", "1"); ta_str(&b, "b", "2");
    ta_init(&h); ta_str(&h, "b", "2");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_str(&h, "a", "9"); ta_str(&h, "b", "9");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    ck_assert_int_eq(hroute(&b.t, NULL), 0);
    /* empty pattern: all matches everything, any nothing */
    ta_init(&b);
    ck_assert_int_eq(hroute(&b.t, NULL), 1);
    ta_init(&b); ta_str(&b, "x-match", "any");
    ta_init(&h); ta_str(&h, "a", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
}
END_TEST

START_TEST(route_headers_x_keys)
{
    struct targs b, h;
    /* x- keys of the binding are ignored by all/any ... */
    ta_init(&b); ta_str(&b, "x-match", "all"); ta_str(&b, "x-foo", "1"); ta_str(&b, "a", "1");
    ta_init(&h); ta_str(&h, "a", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&b); ta_str(&b, "x-match", "any"); ta_str(&b, "x-foo", "1");
    ta_init(&h); ta_str(&h, "x-foo", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    /* ... and count with all-with-x / any-with-x */
    ta_init(&b); ta_str(&b, "x-match", "all-with-x"); ta_str(&b, "x-foo", "1");
    ta_str(&b, "a", "1");
    ta_init(&h); ta_str(&h, "a", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    ta_str(&h, "x-foo", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&b); ta_str(&b, "x-match", "any-with-x"); ta_str(&b, "x-foo", "1");
    ta_init(&h); ta_str(&h, "x-foo", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    /* x-match itself is never a pattern key */
    ta_init(&b); ta_str(&b, "x-match", "all-with-x");
    ta_init(&h); ta_str(&h, "x-match", "any");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
}
END_TEST

START_TEST(route_headers_values)
{
    struct targs b, h;
    /* void pattern value: presence only */
    ta_init(&b); ta_void(&b, "k");
    ta_init(&h); ta_int(&h, "k", BROKER_V_I32, 42);
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_str(&h, "other", "x");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    /* numbers compare by value across kinds (Erlang ==) */
    ta_init(&b); ta_int(&b, "n", BROKER_V_I64, 1);
    ta_init(&h); ta_int(&h, "n", BROKER_V_U8, 1);
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_double(&h, "n", 1.0);
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_double(&h, "n", 1.5);
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    ta_init(&h); ta_str(&h, "n", "1");
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
    /* longstr and byte array are both binaries */
    ta_init(&b); ta_str(&b, "s", "v");
    ta_init(&h); ta_bytes(&h, "s", "v");
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    /* booleans */
    ta_init(&b); ta_bool(&b, "f", true);
    ta_init(&h); ta_bool(&h, "f", true);
    ck_assert_int_eq(hroute(&b.t, &h.t), 1);
    ta_init(&h); ta_int(&h, "f", BROKER_V_I8, 1);
    ck_assert_int_eq(hroute(&b.t, &h.t), 0);
}
END_TEST

START_TEST(route_headers_lazy_fetch)
{
    mk_queue("q");
    mk_exchange("d", "direct");
    mk_bind("q", "d", "k", NULL);
    struct targs h;
    ta_init(&h);
    ta_str(&h, "a", "1");
    int calls = -1;
    ck_assert_int_eq(pub_h("d", "k", "m", &h.t, &calls), 1);
    ck_assert_int_eq(calls, 0);     /* no headers exchange on the route */
    /* two headers exchanges on one route: fetched once */
    mk_exchange("h1", "headers");
    mk_exchange("h2", "headers");
    struct targs b;
    ta_init(&b);
    ta_str(&b, "a", "1");
    mk_bind("q", "h2", "", &b.t);
    ck_assert_int_eq(exchange_bind(V, S("h2"), S("h1"), S(""), &b.t, &E), EDAD_OK);
    ck_assert_int_eq(pub_h("h1", "", "m", &h.t, &calls), 1);
    ck_assert_int_eq(calls, 1);
}
END_TEST

/* ---- exchange-to-exchange, alternate exchange, dedup ---------------------------------------- */

START_TEST(route_e2e_chain_and_cycles)
{
    struct queue *q = mk_queue("q");
    mk_exchange("x1", "direct");
    mk_exchange("x2", "topic");
    mk_exchange("x3", "fanout");
    mk_xbind("x2", "x1", "k");
    mk_xbind("x3", "x2", "#");
    mk_bind("q", "x3", "", NULL);
    ck_assert_int_eq(pub("x1", "k", "1"), 1);
    ck_assert_int_eq(pub("x1", "other", "2"), 0);
    /* cycles x3 -> x1 -> x2 -> x3, self-binding, and q reachable many ways */
    mk_xbind("x1", "x3", "");
    ck_assert_int_eq(exchange_bind(V, S("x3"), S("x3"), S(""), NULL, &E), EDAD_OK);
    mk_bind("q", "x1", "k", NULL);
    mk_bind("q", "x2", "#", NULL);
    ck_assert_int_eq(pub("x1", "k", "3"), 1);
    ck_assert_int_eq(pub("x3", "zzz", "4"), 1);
    ck_assert_uint_eq(ready(q), 3);
    /* a second queue on the loop gets its own single copy */
    struct queue *q2 = mk_queue("q2");
    mk_bind("q2", "x2", "k", NULL);
    ck_assert_int_eq(pub("x3", "k", "5"), 2);
    ck_assert_uint_eq(ready(q2), 1);
    ck_assert_uint_eq(ready(q), 4);
}
END_TEST

START_TEST(route_alternate_exchange)
{
    struct targs ta;
    struct queue *qa = mk_queue("qa");
    struct queue *qm = mk_queue("qm");
    ta_init(&ta);
    mk_exchange_full("main", "direct", false, false, false,
                     ta_str(&ta, "alternate-exchange", "ae"));
    mk_bind("qm", "main", "k", NULL);
    ck_assert_int_eq(pub("main", "nomatch", "1"), 0);   /* ae does not exist yet */
    mk_exchange("ae", "fanout");
    mk_bind("qa", "ae", "", NULL);
    ck_assert_int_eq(pub("main", "nomatch", "2"), 1);
    ck_assert_int_eq(pub("main", "k", "3"), 1);
    ck_assert_uint_eq(ready(qa), 1);
    ck_assert_uint_eq(ready(qm), 1);
    /* an alternate exchange may be internal */
    struct targs tb;
    ta_init(&tb);
    mk_exchange_full("main2", "direct", false, false, false,
                     ta_str(&tb, "alternate-exchange", "ae_int"));
    mk_exchange_full("ae_int", "fanout", false, false, true, NULL);
    mk_bind("qa", "ae_int", "", NULL);
    ck_assert_int_eq(pub("main2", "x", "4"), 1);
    ck_assert_int_eq(pub("ae_int", "x", "5"), -403);
    /* AE loops terminate */
    struct targs t1, t2;
    ta_init(&t1);
    ta_init(&t2);
    mk_exchange_full("l1", "direct", false, false, false, ta_str(&t1, "alternate-exchange", "l2"));
    mk_exchange_full("l2", "direct", false, false, false, ta_str(&t2, "alternate-exchange", "l1"));
    ck_assert_int_eq(pub("l1", "x", "6"), 0);
    /* AE on an intermediate exchange of an e2e route */
    struct targs t3;
    ta_init(&t3);
    mk_exchange("front", "fanout");
    mk_exchange_full("mid", "direct", false, false, false, ta_str(&t3, "alternate-exchange", "ae"));
    mk_xbind("mid", "front", "");
    ck_assert_int_eq(pub("front", "none", "7"), 1);
    ck_assert_uint_eq(ready(qa), 3);
    /* the AE is used only when the exchange matched nothing (even an exchange) */
    mk_exchange("sink", "fanout");
    mk_xbind("sink", "mid", "none");
    ck_assert_int_eq(pub("front", "none", "8"), 0);
}
END_TEST

START_TEST(route_shared_message_refcount)
{
    mk_queue("q1");
    mk_queue("q2");
    mk_queue("q3");
    mk_exchange("f", "fanout");
    mk_exchange("f2", "fanout");
    mk_bind("q1", "f", "", NULL);
    mk_bind("q2", "f", "", NULL);
    mk_bind("q3", "f2", "", NULL);
    mk_bind("q1", "f2", "", NULL);
    mk_xbind("f2", "f", "");
    struct message *m = msg("f", "", "body", false);
    ck_assert_int_eq(pub_msg(m, NULL), 3);
    ck_assert_uint_eq(message_refcount(m), 4);     /* caller + 3 queues, no copies */
    message_unref(&m);
    ck_assert_ptr_null(m);
    struct queue *q1 = queue_lookup(V, S("q1"), NULL, &E);
    struct queue_entry e;
    char body[16];
    ck_assert(get_body(q1, true, &e, body, sizeof(body)));
    ck_assert_str_eq(body, "body");
    ck_assert_uint_eq(message_refcount(e.msg), 3);
    message_unref(&e.msg);
}
END_TEST

/* ---- publish errors ------------------------------------------------------------------------- */

START_TEST(publish_errors)
{
    ck_assert_int_eq(pub("nx", "k", "m"), -404);
    ck_assert_str_eq(E.text, "NOT_FOUND - no exchange 'nx' in vhost '/'");
    mk_exchange_full("int", "fanout", false, false, true, NULL);
    mk_queue("q");
    mk_bind("q", "int", "", NULL);
    ck_assert_int_eq(pub("int", "", "m"), -403);
    ck_assert_str_eq(E.text,
                     "ACCESS_REFUSED - cannot publish to internal exchange 'int' in vhost '/'");
    /* internal exchanges route what arrives through bindings */
    mk_exchange("pub", "fanout");
    mk_xbind("int", "pub", "");
    ck_assert_int_eq(pub("pub", "", "m"), 1);
}
END_TEST

/* ---- messages ------------------------------------------------------------------------------- */

START_TEST(message_layout)
{
    struct message_info info = {.persistent = true, .has_priority = true, .priority = 7,
                                .expiration_ms = 5000};
    static const uint8_t props[3] = {0x98, 0x00, 0x02};
    struct edad_bytes pb = {props, sizeof(props)};
    struct message *m = message_new(S("ex"), S("rk.key"), pb, 5, &info);
    memcpy(message_body_mut(m), "hello", 5);
    ck_assert(bytes_eq_cstr(message_exchange(m), "ex"));
    ck_assert(bytes_eq_cstr(message_routing_key(m), "rk.key"));
    ck_assert_uint_eq(message_props(m).len, 3);
    ck_assert_int_eq(memcmp(message_props(m).ptr, props, 3), 0);
    ck_assert(bytes_eq_cstr(message_body(m), "hello"));
    ck_assert(message_is_persistent(m));
    ck_assert_int_eq(message_priority(m), 7);
    ck_assert_int_eq(message_expiration_ms(m), 5000);
    ck_assert_ptr_eq(message_ref(m), m);
    ck_assert_uint_eq(message_refcount(m), 2);
    struct message *m2 = m;
    message_unref(&m2);
    ck_assert_ptr_null(m2);
    message_unref(&m);
    message_unref(&m);      /* NULL: no-op */

    struct message *plain = message_new(S(""), S(""), S(""), 0, NULL);
    ck_assert(!message_is_persistent(plain));
    ck_assert_int_eq(message_priority(plain), -1);
    ck_assert_int_eq(message_expiration_ms(plain), -1);
    ck_assert_uint_eq(message_body(plain).len, 0);
    message_unref(&plain);

    char big[300];
    memset(big, 'k', sizeof(big));
    struct edad_bytes bk = {(const uint8_t *)big, 256};
    ck_assert_ptr_null(message_new(S("x"), bk, S(""), 1, NULL));
    ck_assert_ptr_null(message_new(bk, S("k"), S(""), 1, NULL));
    ck_assert_ptr_null(message_new(S("x"), S("k"), S(""), (uint64_t)UINT32_MAX + 1, NULL));
}
END_TEST

static Suite *routing_suite(void)
{
    Suite *s = suite_create("broker_routing");
    TCase *tc = tcase_create("routing");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, route_direct);
    tcase_add_test(tc, route_fanout_and_default);
    tcase_add_test(tc, route_topic_cases);
    tcase_add_test(tc, route_topic_reference_agrees_with_cases);
    tcase_add_test(tc, route_topic_all_bindings_in_one_trie);
    tcase_add_test(tc, route_topic_random_against_reference);
    tcase_add_test(tc, route_topic_one_copy_per_queue);
    tcase_add_test(tc, route_topic_long_keys);
    tcase_add_test(tc, route_headers_all_any);
    tcase_add_test(tc, route_headers_x_keys);
    tcase_add_test(tc, route_headers_values);
    tcase_add_test(tc, route_headers_lazy_fetch);
    tcase_add_test(tc, route_e2e_chain_and_cycles);
    tcase_add_test(tc, route_alternate_exchange);
    tcase_add_test(tc, route_shared_message_refcount);
    tcase_add_test(tc, publish_errors);
    tcase_add_test(tc, message_layout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(routing_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
