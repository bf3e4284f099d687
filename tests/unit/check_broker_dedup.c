/*
 * check_broker_dedup.c - LavinMQ-compatible deduplication on queues and
 * exchanges: duplicates dropped and counted as accepted, x-cache-size
 * eviction (oldest first), x-cache-ttl and the per-message x-cache-ttl
 * header, a custom x-deduplication-header, value comparison, argument
 * validation and equivalence, and delayed releases into a dedup queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static uint64_t now_ms;

static uint64_t test_clock(void *ctx)
{
    EDAD_UNUSED(ctx);
    return now_ms;
}

static void setup(void)
{
    fx_setup();
    now_ms = 5000;
    broker_set_clock(B, test_clock, NULL);
}

#define ASSERT_ERR(call, want_code, want_text)                                     \
    do {                                                                          \
        memset(&E, 0, sizeof(E));                                                 \
        ck_assert_msg((call) != EDAD_OK, "expected failure of %s", #call);        \
        ck_assert_uint_eq(E.code, (want_code));                                   \
        ck_assert_str_eq(E.text, (want_text));                                    \
    } while (0)

static const struct broker_table *hdr_fixed(void *ctx)
{
    return ctx;
}

static struct broker_publish_result pubd(const char *x, const char *rk,
                                         const struct broker_table *headers)
{
    struct broker_publish_result r;
    struct message *m = msg(x, rk, "m", false);
    struct broker_publish_opts o = {hdr_fixed, (void *)headers};
    memset(&E, 0, sizeof(E));
    ck_assert_int_eq(broker_publish(V, m, &o, &r, &E), EDAD_OK);
    message_unref(&m);
    return r;
}

/* Publish with header key = string value; 1 when enqueued, 0 when a duplicate. */
static int pub_key(const char *x, const char *rk, const char *hdr, const char *value)
{
    struct targs h;
    ta_init(&h);
    if (hdr)
        ta_str(&h, hdr, value);
    struct broker_publish_result r = pubd(x, rk, &h.t);
    ck_assert_uint_eq(r.routed + r.deduplicated, 1);
    return (int)r.routed;
}

static struct queue *dedup_queue(const char *name, int64_t size, int64_t ttl, const char *hdr)
{
    struct targs ta;
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", true);
    if (size >= 0)
        ta_int(&ta, "x-cache-size", BROKER_V_I32, size);
    if (ttl >= 0)
        ta_int(&ta, "x-cache-ttl", BROKER_V_I64, ttl);
    if (hdr)
        ta_str(&ta, "x-deduplication-header", hdr);
    return mk_queue_full(name, false, false, false, NULL, &ta.t);
}

START_TEST(dedup_queue_basic)
{
    struct queue *q = dedup_queue("q", -1, -1, NULL);
    ck_assert_int_eq(pub_key("", "q", "x-deduplication-header", "a"), 1);
    ck_assert_int_eq(pub_key("", "q", "x-deduplication-header", "a"), 0);
    ck_assert_int_eq(pub_key("", "q", "x-deduplication-header", "b"), 1);
    /* no header: never a duplicate */
    ck_assert_int_eq(pub_key("", "q", NULL, NULL), 1);
    ck_assert_int_eq(pub_key("", "q", NULL, NULL), 1);
    /* another header name does not count */
    ck_assert_int_eq(pub_key("", "q", "other", "a"), 1);
    ck_assert_uint_eq(ready(q), 5);
    /* the cache outlives the messages: consumed, a duplicate still drops */
    ck_assert_int_eq(queue_purge(V, S("q"), NULL, NULL, &E), EDAD_OK);
    ck_assert_int_eq(pub_key("", "q", "x-deduplication-header", "a"), 0);
    /* without x-message-deduplication true, nothing is deduplicated */
    struct targs ta;
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", false);
    ta_int(&ta, "x-cache-size", BROKER_V_I32, 1);
    struct queue *plain = mk_queue_full("plain", false, false, false, NULL, &ta.t);
    ck_assert_int_eq(pub_key("", "plain", "x-deduplication-header", "a"), 1);
    ck_assert_int_eq(pub_key("", "plain", "x-deduplication-header", "a"), 1);
    ck_assert_uint_eq(ready(plain), 2);
}
END_TEST

START_TEST(dedup_cache_size_evicts_oldest)
{
    dedup_queue("q", 2, -1, NULL);
    const char *h = "x-deduplication-header";
    ck_assert_int_eq(pub_key("", "q", h, "a"), 1);
    ck_assert_int_eq(pub_key("", "q", h, "b"), 1);
    ck_assert_int_eq(pub_key("", "q", h, "a"), 0);    /* a and b held */
    ck_assert_int_eq(pub_key("", "q", h, "c"), 1);    /* a goes */
    ck_assert_int_eq(pub_key("", "q", h, "b"), 0);
    ck_assert_int_eq(pub_key("", "q", h, "a"), 1);    /* b goes */
    ck_assert_int_eq(pub_key("", "q", h, "c"), 0);
    ck_assert_int_eq(pub_key("", "q", h, "b"), 1);
}
END_TEST

START_TEST(dedup_ttl)
{
    struct targs h;
    dedup_queue("q", -1, 100, NULL);
    const char *hn = "x-deduplication-header";
    ck_assert_int_eq(pub_key("", "q", hn, "a"), 1);
    now_ms += 99;
    ck_assert_int_eq(pub_key("", "q", hn, "a"), 0);
    now_ms += 1;
    ck_assert_int_eq(pub_key("", "q", hn, "a"), 1);   /* expired: new again */
    ck_assert_int_eq(pub_key("", "q", hn, "a"), 0);
    /* a message's own x-cache-ttl (a signedint) wins */
    ta_init(&h);
    ta_str(&h, hn, "b");
    ta_int(&h, "x-cache-ttl", BROKER_V_I32, 10);
    struct broker_publish_result r = pubd("", "q", &h.t);
    ck_assert_uint_eq(r.routed, 1);
    now_ms += 10;
    ck_assert_int_eq(pub_key("", "q", hn, "b"), 1);
    /* no TTL at all: kept until evicted */
    dedup_queue("forever", -1, -1, NULL);
    ck_assert_int_eq(pub_key("", "forever", hn, "a"), 1);
    now_ms += UINT64_C(1) << 40;
    ck_assert_int_eq(pub_key("", "forever", hn, "a"), 0);
}
END_TEST

START_TEST(dedup_custom_header_and_values)
{
    struct targs h;
    struct queue *q = dedup_queue("q", -1, -1, "msg-id");
    ck_assert_int_eq(pub_key("", "q", "msg-id", "1"), 1);
    ck_assert_int_eq(pub_key("", "q", "x-deduplication-header", "1"), 1);
    ck_assert_int_eq(pub_key("", "q", "msg-id", "1"), 0);
    /* integers compare by value whatever their width; a string "1" is not 1 */
    ta_init(&h);
    struct broker_publish_result r = pubd("", "q", ta_int(&h, "msg-id", BROKER_V_I8, 1));
    ck_assert_uint_eq(r.routed, 1);
    ta_init(&h);
    r = pubd("", "q", ta_int(&h, "msg-id", BROKER_V_I64, 1));
    ck_assert_uint_eq(r.deduplicated, 1);
    ta_init(&h);
    r = pubd("", "q", ta_bytes(&h, "msg-id", "1"));
    ck_assert_uint_eq(r.routed, 1);
    ta_init(&h);
    r = pubd("", "q", ta_bool(&h, "msg-id", true));
    ck_assert_uint_eq(r.routed, 1);
    ta_init(&h);
    r = pubd("", "q", ta_bool(&h, "msg-id", true));
    ck_assert_uint_eq(r.deduplicated, 1);
    ck_assert_uint_eq(ready(q), 5);
}
END_TEST

START_TEST(dedup_exchange)
{
    struct targs ta;
    struct queue *q1 = mk_queue("q1"), *q2 = mk_queue("q2");
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", true);
    ta_int(&ta, "x-cache-size", BROKER_V_U8, 10);
    mk_exchange_full("x", "fanout", false, false, false, &ta.t);
    mk_bind("q1", "x", "", NULL);
    mk_bind("q2", "x", "", NULL);
    struct targs h;
    ta_init(&h);
    ta_str(&h, "x-deduplication-header", "k");
    struct broker_publish_result r = pubd("x", "", &h.t);
    ck_assert_uint_eq(r.routed, 2);
    r = pubd("x", "", &h.t);
    ck_assert_uint_eq(r.routed, 0);
    ck_assert_uint_eq(r.deduplicated, 1);       /* one publish dropped, for every queue */
    ck_assert_uint_eq(ready(q1), 1);
    ck_assert_uint_eq(ready(q2), 1);
    /* an exchange bound behind it does not deduplicate for it */
    mk_exchange("front", "fanout");
    mk_xbind("x", "front", "");
    r = pubd("front", "", &h.t);
    ck_assert_uint_eq(r.routed, 2);
    /* redeclare with other cache arguments: not compared (RabbitMQ compares
     * alternate-exchange only) */
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", true);
    ta_int(&ta, "x-cache-size", BROKER_V_U8, 99);
    mk_exchange_full("x", "fanout", false, false, false, &ta.t);
}
END_TEST

START_TEST(dedup_validation)
{
    struct targs ta;
    struct queue_declare d = {.name = S("q")};
    struct exchange_declare xd = {.name = S("x"), .type = S("direct")};
#define QERR(args_expr, text)                                                      \
    do {                                                                          \
        d.args = (args_expr);                                                     \
        ASSERT_ERR(queue_declare(V, &d, NULL, &E), 406, text);                    \
    } while (0)
#define XERR(args_expr, text)                                                      \
    do {                                                                          \
        xd.args = (args_expr);                                                    \
        ASSERT_ERR(exchange_declare(V, &xd, &E), 406, text);                      \
    } while (0)
    ta_init(&ta);
    QERR(ta_int(&ta, "x-message-deduplication", BROKER_V_I32, 1),
         "PRECONDITION_FAILED - invalid arg 'x-message-deduplication' for queue 'q' in vhost "
         "'/': {unacceptable_type,signedint}");
    ta_init(&ta);
    QERR(ta_int(&ta, "x-cache-size", BROKER_V_I32, -1),
         "PRECONDITION_FAILED - invalid arg 'x-cache-size' for queue 'q' in vhost '/': "
         "{value_negative,-1}");
    ta_init(&ta);
    QERR(ta_int(&ta, "x-cache-size", BROKER_V_I32, 0),
         "PRECONDITION_FAILED - invalid arg 'x-cache-size' for queue 'q' in vhost '/': "
         "{value_zero,0}");
    ta_init(&ta);
    QERR(ta_str(&ta, "x-cache-ttl", "10"),
         "PRECONDITION_FAILED - invalid arg 'x-cache-ttl' for queue 'q' in vhost '/': "
         "\"expected integer, got longstr\"");
    ta_init(&ta);
    QERR(ta_int(&ta, "x-cache-ttl", BROKER_V_I64, INT64_C(5000000000)),
         "PRECONDITION_FAILED - invalid arg 'x-cache-ttl' for queue 'q' in vhost '/': "
         "{value_too_large,5000000000}");
    ta_init(&ta);
    QERR(ta_int(&ta, "x-deduplication-header", BROKER_V_I32, 3),
         "PRECONDITION_FAILED - invalid arg 'x-deduplication-header' for queue 'q' in vhost "
         "'/': {unacceptable_type,signedint}");
    ta_init(&ta);
    XERR(ta_int(&ta, "x-cache-size", BROKER_V_I32, -2),
         "PRECONDITION_FAILED - invalid arg 'x-cache-size' for exchange 'x' in vhost '/': "
         "{value_negative,-2}");
    ta_init(&ta);
    XERR(ta_str(&ta, "x-deduplication-header", ""),
         "PRECONDITION_FAILED - invalid arg 'x-deduplication-header' for exchange 'x' in "
         "vhost '/': \"header name must be 1 to 255 bytes\"");
    /* queue equivalence compares them, as every known queue argument */
    dedup_queue("eq", 5, -1, NULL);
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", true);
    ta_int(&ta, "x-cache-size", BROKER_V_I32, 6);
    d.name = S("eq");
    QERR(&ta.t, "PRECONDITION_FAILED - inequivalent arg 'x-cache-size' for queue 'eq' in vhost "
                "'/': received '6' but current is '5'");
#undef QERR
#undef XERR
}
END_TEST

static const struct broker_table *release_headers;

static const struct broker_table *codec_fixed_headers(void *ctx, const struct message *m,
                                                      struct arena *a)
{
    EDAD_UNUSED(ctx);
    EDAD_UNUSED(m);
    EDAD_UNUSED(a);
    return release_headers;
}

START_TEST(dedup_delayed_release)
{
    /* released delayed messages meet the queue's cache like any publish */
    struct targs ta, h;
    struct queue *q = dedup_queue("q", -1, -1, NULL);
    ta_init(&ta);
    mk_exchange_full("d", "x-delayed-message", false, false, false,
                     ta_str(&ta, "x-delayed-type", "fanout"));
    mk_bind("q", "d", "", NULL);
    ta_init(&h);
    ta_str(&h, "x-deduplication-header", "same");
    ta_int(&h, "x-delay", BROKER_V_I32, 10);
    /* the headers at release come from the codec: none registered here, so
     * the released copies carry no key and are both enqueued */
    pubd("d", "", &h.t);
    pubd("d", "", &h.t);
    now_ms += 10;
    broker_run_timers(B, now_ms);
    ck_assert_uint_eq(ready(q), 2);
    /* with a codec the key is seen at release: the second copy drops */
    struct broker_codec codec = {.headers = codec_fixed_headers};
    broker_set_codec(B, &codec);
    release_headers = &h.t;
    pubd("d", "", &h.t);
    pubd("d", "", &h.t);
    now_ms += 10;
    broker_run_timers(B, now_ms);
    ck_assert_uint_eq(ready(q), 3);
}
END_TEST

static Suite *dedup_suite(void)
{
    Suite *s = suite_create("broker_dedup");
    TCase *tc = tcase_create("dedup");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_add_test(tc, dedup_queue_basic);
    tcase_add_test(tc, dedup_cache_size_evicts_oldest);
    tcase_add_test(tc, dedup_ttl);
    tcase_add_test(tc, dedup_custom_header_and_values);
    tcase_add_test(tc, dedup_exchange);
    tcase_add_test(tc, dedup_validation);
    tcase_add_test(tc, dedup_delayed_release);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dedup_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
