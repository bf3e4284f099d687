/*
 * check_broker_dlx.c - dead-lettering and length limits: reject, expiry,
 * x-max-length drop-head, reject-publish(-dlx) and x-delivery-limit each
 * dead-letter with their reason; the death history (counts per queue and
 * reason, most recent first, first/last death, original expiration);
 * x-dead-letter-routing-key; cycles dropped unless a rejection breaks
 * them; routing-keys with the CC keys; x-max-length-bytes; argument
 * validation texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static uint64_t now_ms;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

static void setup(void)
{
    fx_setup();
    now_ms = 5000;
    broker_set_clock(B, fake_clock, NULL);
}

static void advance(uint64_t ms)
{
    now_ms += ms;
    for (int guard = 0; broker_next_deadline_ms(B) <= now_ms; guard++) {
        ck_assert_int_lt(guard, 1000);
        broker_run_timers(B, now_ms);
    }
}

static struct queue *mkq(const char *name, struct targs *ta)
{
    return mk_queue_full(name, false, false, false, NULL, ta ? &ta->t : NULL);
}

static void pub_exp(const char *x, const char *rk, const char *body, int64_t expiration)
{
    struct message_info info = {.expiration_ms = expiration};
    struct message *m = message_new(S(x), S(rk), S("\x80\x00"), strlen(body), &info);
    memcpy(message_body_mut(m), body, strlen(body));
    pub_msg(m, NULL);
    message_unref(&m);
}

static bool bytes_is(struct edad_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

/* Take the next message of q (no-ack), check body; returns its deaths. */
static struct message *take(struct queue *q, const char *body)
{
    struct queue_entry e;
    char b[64];
    ck_assert_msg(get_body(q, true, &e, b, sizeof(b)), "queue %s empty", queue_name(q));
    ck_assert_str_eq(b, body);
    return e.msg;
}

START_TEST(dlx_on_reject_with_death)
{
    struct targs ta;
    ta_init(&ta);
    ta_str(&ta, "x-dead-letter-exchange", "dlx");
    mk_exchange("dlx", "fanout");
    mk_exchange("work", "direct");
    struct queue *q = mkq("q", &ta);
    struct queue *dead = mk_queue("dead");
    mk_bind("q", "work", "k", NULL);
    mk_bind("dead", "dlx", "", NULL);
    pub_exp("work", "k", "m1", 60000);
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    queue_reject_drop(q, &e);
    struct message *m = take(dead, "m1");
    ck_assert(bytes_is(message_exchange(m), "dlx"));
    ck_assert(bytes_is(message_routing_key(m), "k"));
    ck_assert_int_eq(message_expiration_ms(m), -1);
    const struct broker_deaths *ds = message_deaths(m);
    ck_assert_ptr_nonnull(ds);
    ck_assert_uint_eq(ds->n, 1);
    ck_assert(bytes_is(ds->v[0].queue, "q"));
    ck_assert(bytes_is(ds->v[0].reason, "rejected"));
    ck_assert(bytes_is(ds->v[0].exchange, "work"));
    ck_assert_uint_eq(ds->v[0].routing_keys_n, 1);
    ck_assert(bytes_is(ds->v[0].routing_keys[0], "k"));
    ck_assert(bytes_is(ds->v[0].original_expiration, "60000"));
    ck_assert_uint_eq(ds->v[0].count, 1);
    ck_assert(bytes_is(ds->first_reason, "rejected"));
    ck_assert(bytes_is(ds->first_queue, "q"));
    ck_assert(bytes_is(ds->first_exchange, "work"));
    ck_assert(bytes_is(ds->last_queue, "q"));
    message_unref(&m);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.dead_lettered, 1);
    /* no DLX: just dropped */
    mk_queue("plain");
    pub("", "plain", "p");
    struct queue *pq = queue_lookup(V, S("plain"), NULL, NULL);
    ck_assert(queue_get(pq, false, &e, NULL));
    queue_reject_drop(pq, &e);
    ck_assert_uint_eq(ready(dead), 0);
}
END_TEST

START_TEST(dlx_retry_loop_counts_and_order)
{
    /* work --reject--> retry (TTL 10, DLX back to work): the classic retry
     * queue.  Not a cycle: each round has a rejection. */
    struct targs tw, tr;
    ta_init(&tw);
    ta_str(&tw, "x-dead-letter-exchange", "");
    ta_str(&tw, "x-dead-letter-routing-key", "retry");
    ta_init(&tr);
    ta_str(&tr, "x-dead-letter-exchange", "");
    ta_str(&tr, "x-dead-letter-routing-key", "work");
    ta_int(&tr, "x-message-ttl", BROKER_V_I32, 10);
    struct queue *work = mkq("work", &tw);
    struct queue *retry = mkq("retry", &tr);
    pub("", "work", "job");
    struct queue_entry e;
    for (int round = 1; round <= 3; round++) {
        ck_assert(queue_get(work, false, &e, NULL));
        queue_reject_drop(work, &e);
        ck_assert_uint_eq(ready(retry), 1);
        advance(10);
        ck_assert_uint_eq(ready(retry), 0);
        ck_assert_uint_eq(ready(work), 1);
    }
    struct message *m = take(work, "job");
    const struct broker_deaths *ds = message_deaths(m);
    ck_assert_uint_eq(ds->n, 2);
    /* most recent first: expired in retry, then rejected in work */
    ck_assert(bytes_is(ds->v[0].queue, "retry"));
    ck_assert(bytes_is(ds->v[0].reason, "expired"));
    ck_assert_uint_eq(ds->v[0].count, 3);
    ck_assert(bytes_is(ds->v[0].exchange, ""));
    ck_assert_uint_eq(ds->v[0].routing_keys_n, 1);
    ck_assert(bytes_is(ds->v[0].routing_keys[0], "retry"));
    ck_assert(bytes_is(ds->v[1].queue, "work"));
    ck_assert(bytes_is(ds->v[1].reason, "rejected"));
    ck_assert_uint_eq(ds->v[1].count, 3);
    ck_assert(bytes_is(ds->first_reason, "rejected"));
    ck_assert(bytes_is(ds->first_queue, "work"));
    ck_assert(bytes_is(ds->last_reason, "expired"));
    ck_assert(bytes_is(ds->last_queue, "retry"));
    ck_assert(bytes_is(message_routing_key(m), "work"));
    message_unref(&m);
}
END_TEST

START_TEST(dlx_cycle_dropped)
{
    /* a <-> b by expiry only: dropped when it would reach a again */
    struct targs ta, tb;
    ta_init(&ta);
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "b");
    ta_int(&ta, "x-message-ttl", BROKER_V_I32, 5);
    ta_init(&tb);
    ta_str(&tb, "x-dead-letter-exchange", "");
    ta_str(&tb, "x-dead-letter-routing-key", "a");
    ta_int(&tb, "x-message-ttl", BROKER_V_I32, 5);
    struct queue *a = mkq("a", &ta);
    struct queue *b = mkq("b", &tb);
    pub("", "a", "m");
    advance(5);
    ck_assert_uint_eq(ready(b), 1);
    advance(5);
    ck_assert_uint_eq(ready(a), 0);
    ck_assert_uint_eq(ready(b), 0);
    /* a queue dead-lettering to itself on expiry: a cycle too */
    struct targs ts;
    ta_init(&ts);
    ta_str(&ts, "x-dead-letter-exchange", "");
    ta_int(&ts, "x-message-ttl", BROKER_V_I32, 5);
    struct queue *self = mkq("self", &ts);
    pub("", "self", "m");
    advance(5);
    ck_assert_uint_eq(ready(self), 0);
    /* ... but rejected to itself is fine (the client decided) */
    struct queue_entry e;
    pub("", "self", "r");
    ck_assert(queue_get(self, false, &e, NULL));
    queue_reject_drop(self, &e);
    ck_assert_uint_eq(ready(self), 1);
}
END_TEST

START_TEST(maxlen_drop_head_and_bytes)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-max-length", BROKER_V_I32, 2);
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "dead");
    struct queue *q = mkq("q", &ta);
    struct queue *dead = mk_queue("dead");
    pub("", "q", "1");
    pub("", "q", "2");
    pub("", "q", "3");
    ck_assert_uint_eq(ready(q), 2);
    message_unref(&(struct message *){take(dead, "1")});
    struct message *m = take(q, "2");
    message_unref(&m);
    const struct broker_deaths *ds;
    pub("", "q", "4");
    pub("", "q", "5");
    m = take(dead, "3");
    ds = message_deaths(m);
    ck_assert(bytes_is(ds->v[0].reason, "maxlen"));
    message_unref(&m);
    /* unacked messages do not count */
    struct queue_entry e1, e2;
    ck_assert(queue_get(q, false, &e1, NULL));
    ck_assert(queue_get(q, false, &e2, NULL));
    pub("", "q", "6");
    pub("", "q", "7");
    ck_assert_uint_eq(ready(q), 2);
    /* a requeue can push the oldest out */
    queue_requeue(q, &e1);
    ck_assert_uint_eq(ready(q), 2);
    m = take(dead, "4");
    message_unref(&m);
    queue_ack(q, &e2);
    /* bytes */
    struct targs tb;
    ta_init(&tb);
    ta_int(&tb, "x-max-length-bytes", BROKER_V_I32, 10);
    struct queue *qb = mkq("qb", &tb);
    pub("", "qb", "aaaa");
    pub("", "qb", "bbbb");
    pub("", "qb", "cccc");
    ck_assert_uint_eq(ready(qb), 2);
    m = take(qb, "bbbb");
    message_unref(&m);
    pub("", "qb", "too long for the queue");
    ck_assert_uint_eq(ready(qb), 0);
}
END_TEST

START_TEST(maxlen_reject_publish)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-max-length", BROKER_V_I32, 1);
    ta_str(&ta, "x-overflow", "reject-publish");
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "dead");
    struct queue *q = mkq("q", &ta);
    struct queue *dead = mk_queue("dead");
    mk_queue("other");
    mk_exchange("fan", "fanout");
    mk_bind("q", "fan", "", NULL);
    mk_bind("other", "fan", "", NULL);
    struct broker_publish_result res;
    struct message *m = msg("fan", "", "1", false);
    ck_assert_int_eq(broker_publish(V, m, NULL, &res, &E), EDAD_OK);
    ck_assert_uint_eq(res.routed, 2);
    ck_assert_uint_eq(res.rejected, 0);
    message_unref(&m);
    m = msg("fan", "", "2", false);
    ck_assert_int_eq(broker_publish(V, m, NULL, &res, &E), EDAD_OK);
    ck_assert_uint_eq(res.routed, 1);           /* "other" took it */
    ck_assert_uint_eq(res.rejected, 1);         /* confirm: nack */
    message_unref(&m);
    ck_assert_uint_eq(ready(q), 1);
    ck_assert_uint_eq(ready(dead), 0);          /* reject-publish: no dead letter */
    /* reject-publish-dlx dead-letters the refused message */
    struct targs tx;
    ta_init(&tx);
    ta_int(&tx, "x-max-length", BROKER_V_I32, 0);
    ta_str(&tx, "x-overflow", "reject-publish-dlx");
    ta_str(&tx, "x-dead-letter-exchange", "");
    ta_str(&tx, "x-dead-letter-routing-key", "dead");
    mkq("qx", &tx);
    ck_assert_int_eq(pub("", "qx", "3"), 0);
    m = take(dead, "3");
    ck_assert(bytes_is(message_deaths(m)->v[0].reason, "maxlen"));
    ck_assert(bytes_is(message_deaths(m)->v[0].queue, "qx"));
    message_unref(&m);
}
END_TEST

START_TEST(delivery_limit_and_count)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-delivery-limit", BROKER_V_I32, 2);
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "dead");
    struct queue *q = mkq("q", &ta);
    struct queue *dead = mk_queue("dead");
    pub("", "q", "poison");
    struct queue_entry e;
    for (uint32_t i = 0; i <= 2; i++) {
        ck_assert(queue_get(q, false, &e, NULL));
        ck_assert_uint_eq(e.delivery_count, i);
        ck_assert(e.flags & QUEUE_ENTRY_COUNT_HEADER);
        queue_requeue(q, &e);
    }
    ck_assert_uint_eq(ready(q), 0);             /* returned 3 times > 2 */
    struct message *m = take(dead, "poison");
    ck_assert(bytes_is(message_deaths(m)->v[0].reason, "delivery_limit"));
    message_unref(&m);
    /* quorum-declared queues: no default limit (unlike RabbitMQ 4's 20), but
     * they count deliveries for x-delivery-count */
    struct targs tq;
    ta_init(&tq);
    ta_str(&tq, "x-queue-type", "quorum");
    struct queue *qq = mk_queue_full("qq", true, false, false, NULL, &tq.t);
    pub("", "qq", "m");
    for (int i = 0; i <= 25; i++) {
        ck_assert(queue_get(qq, false, &e, NULL));
        ck_assert(e.flags & QUEUE_ENTRY_COUNT_HEADER);
        queue_requeue(qq, &e);
    }
    ck_assert_uint_eq(ready(qq), 1);
    ck_assert(queue_get(qq, false, &e, NULL));
    queue_ack(qq, &e);
    /* a classic queue without a limit does not count */
    struct queue *c = mk_queue("c");
    pub("", "c", "m");
    ck_assert(queue_get(c, false, &e, NULL));
    queue_requeue(c, &e);
    ck_assert(queue_get(c, false, &e, NULL));
    ck_assert(!(e.flags & QUEUE_ENTRY_COUNT_HEADER));
    ck_assert_uint_eq(e.delivery_count, 1);
    queue_ack(c, &e);
}
END_TEST

START_TEST(dlx_missing_exchange_and_validation)
{
    struct targs ta;
    ta_init(&ta);
    ta_str(&ta, "x-dead-letter-exchange", "nowhere");
    struct queue *q = mkq("q", &ta);
    pub("", "q", "m");
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    queue_reject_drop(q, &e);                   /* dropped, no crash */
    struct queue_declare d = {.name = S("v")};
    ta_init(&ta);
    d.args = ta_int(&ta, "x-dead-letter-exchange", BROKER_V_I32, 1);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid type 'signedint' for arg "
                             "'x-dead-letter-exchange' in queue 'v' in vhost '/'");
    ta_init(&ta);
    d.args = ta_str(&ta, "x-dead-letter-routing-key", "rk");
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for "
                             "queue 'v' in vhost '/': routing_key_but_no_dlx_defined");
    ta_init(&ta);
    d.args = ta_str(&ta, "x-overflow", "drop-tail");
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-overflow' for queue 'v' in "
                             "vhost '/': invalid_overflow");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-max-length", BROKER_V_I32, -1);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'v' in "
                             "vhost '/': {value_negative,-1}");
    ta_init(&ta);
    d.args = ta_str(&ta, "x-delivery-limit", "3");
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue 'v' "
                             "in vhost '/': \"expected integer, got longstr\"");
}
END_TEST

/* ---- routing-keys and CC ---------------------------------------------------------------- */

/* The CC header the test codec reports: "c1", a number (ignored), "c2". */
static const struct broker_value cc_values[3] = {
    {.kind = BROKER_V_STRING, .v.str = {(const uint8_t *)"c1", 2}},
    {.kind = BROKER_V_I32, .v.i = 7},
    {.kind = BROKER_V_STRING, .v.str = {(const uint8_t *)"c2", 2}},
};
static const struct broker_arg cc_arg = {
    .key = {(const uint8_t *)"CC", 2},
    .value = {.kind = BROKER_V_ARRAY, .v.array = {3, cc_values}},
};
static const struct broker_table cc_table = {1, &cc_arg, {NULL, 0}};

/* Property bytes with the headers flag and a table holding "CC" (what the
 * broker's cheap pre-check looks for; the codec below answers the rest). */
static const char cc_props[] = "\x20\x00" "\x00\x00\x00\x16" "\x02" "CC" "A" "\x00\x00\x00\x0e"
                               "S\x00\x00\x00\x02" "c1" "S\x00\x00\x00\x02" "c2";

static bool has_cc(const struct message *m)
{
    struct edad_bytes p = message_props(m);
    return p.len == sizeof(cc_props) - 1 && memcmp(p.ptr, cc_props, p.len) == 0;
}

static const struct broker_table *codec_cc(void *ctx, const struct message *m, struct arena *a)
{
    EDAD_UNUSED(ctx);
    EDAD_UNUSED(a);
    return has_cc(m) ? &cc_table : NULL;
}

/* The only header is CC: without it, plain properties. */
static struct message *codec_without(void *ctx, const struct message *m, const char *key)
{
    EDAD_UNUSED(ctx);
    ck_assert_str_eq(key, "CC");
    struct message_info info = {.persistent = message_is_persistent(m),
                                .expiration_ms = message_expiration_ms(m)};
    struct edad_bytes body = message_body(m);
    struct message *c = message_new(message_exchange(m), message_routing_key(m), S("\x80\x00"),
                                    body.len, &info);
    if (body.len)
        memcpy(message_body_mut(c), body.ptr, body.len);
    return c;
}

static void pub_cc(const char *x, const char *rk, const char *body)
{
    struct message_info info = {.expiration_ms = -1};
    struct message *m = message_new(S(x), S(rk), (struct edad_bytes){(const uint8_t *)cc_props,
                                    sizeof(cc_props) - 1}, strlen(body), &info);
    memcpy(message_body_mut(m), body, strlen(body));
    pub_msg(m, &cc_table);
    message_unref(&m);
}

static void expect_keys(const struct broker_death *d, const char *const *want)
{
    uint32_t n = 0;
    while (want[n])
        n++;
    ck_assert_uint_eq(d->routing_keys_n, n);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(bytes_is(d->routing_keys[i], want[i]), "routing-keys[%u] is '%.*s', want '%s'",
                      i, (int)d->routing_keys[i].len, (const char *)d->routing_keys[i].ptr,
                      want[i]);
}

START_TEST(dlx_routing_keys_include_cc)
{
    /*
     * RabbitMQ: routing-keys are the published key and the CC keys (string
     * elements only), with or without x-dead-letter-routing-key; with one
     * the CC header is gone, so a later death records that key alone.
     */
    struct broker_codec codec = {.headers = codec_cc, .without_header = codec_without};
    broker_set_codec(B, &codec);
    struct targs tp, tr, tf;
    ta_init(&tp);
    ta_str(&tp, "x-dead-letter-exchange", "dlx");
    ta_init(&tr);
    ta_str(&tr, "x-dead-letter-exchange", "");
    ta_str(&tr, "x-dead-letter-routing-key", "final");
    ta_init(&tf);
    ta_str(&tf, "x-dead-letter-exchange", "");
    ta_str(&tf, "x-dead-letter-routing-key", "last");
    mk_exchange("dlx", "fanout");
    mk_exchange("work", "direct");
    struct queue *plain = mkq("plain", &tp);
    struct queue *rk = mkq("rk", &tr);
    struct queue *dead = mk_queue("dead");
    struct queue *final = mkq("final", &tf);
    struct queue *last = mk_queue("last");
    mk_bind("plain", "work", "k", NULL);
    mk_bind("rk", "work", "c2", NULL);      /* reached by a CC key */
    mk_bind("dead", "dlx", "", NULL);
    pub_cc("work", "k", "m");
    struct queue_entry e;
    ck_assert(queue_get(plain, false, &e, NULL));
    queue_reject_drop(plain, &e);
    ck_assert(queue_get(rk, false, &e, NULL));
    queue_reject_drop(rk, &e);

    static const char *const all[] = {"k", "c1", "c2", NULL};
    struct message *m = take(dead, "m");
    ck_assert(has_cc(m));                   /* no dlrk: CC kept */
    expect_keys(&message_deaths(m)->v[0], all);
    message_unref(&m);

    ck_assert(queue_get(final, false, &e, NULL));
    ck_assert(!has_cc(e.msg));              /* dlrk: CC dropped ... */
    queue_reject_drop(final, &e);
    m = take(last, "m");
    const struct broker_deaths *ds = message_deaths(m);
    ck_assert_uint_eq(ds->n, 2);
    static const char *const dlrk_only[] = {"final", NULL};
    expect_keys(&ds->v[0], dlrk_only);      /* ... so only the new key */
    expect_keys(&ds->v[1], all);            /* ... the first death as published */
    message_unref(&m);
    broker_set_codec(B, NULL);
}
END_TEST

static Suite *dlx_suite(void)
{
    Suite *s = suite_create("broker_dlx");
    TCase *tc = tcase_create("dlx");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dlx_on_reject_with_death);
    tcase_add_test(tc, dlx_retry_loop_counts_and_order);
    tcase_add_test(tc, dlx_cycle_dropped);
    tcase_add_test(tc, dlx_routing_keys_include_cc);
    tcase_add_test(tc, maxlen_drop_head_and_bytes);
    tcase_add_test(tc, maxlen_reject_publish);
    tcase_add_test(tc, delivery_limit_and_count);
    tcase_add_test(tc, dlx_missing_exchange_and_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dlx_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
