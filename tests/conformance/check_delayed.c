/*
 * check_delayed.c - the x-delayed-message exchange (RabbitMQ's plugin):
 * positive x-delay held until due then routed by x-delayed-type in due
 * order, others at once, x-delay negated on delivery, confirms at publish,
 * held messages dropped with the exchange, and the declare errors.  Never
 * early, never timed.  Skipped against brokers without the plugin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)
/* Millisecond rounding of two clocks; "never early" allows this much. */
#define CLOCK_SLACK_MS 3
#define NEEDS_PLUGIN() CTM_EDAD_ONLY(S, "needs the delayed-message exchange plugin")

static void delayed_exchange(struct raw_conn *c, char *x, const char *type)
{
    struct raw_buf t;
    ctm_name(x, CTM_NAME_MAX, "delayed");
    raw_buf_init(&t);
    cte_table(&t, "S", "x-delayed-type", type);
    ctm_exchange_declare(c, 1, x, "x-delayed-message", CTM_X_AUTO_DELETE, &t);
    raw_buf_free(&t);
}

/* Publish body to x/rk with an x-delay header of the given type ('I', 'l', 'S', 0: none). */
static void publish_delayed(struct raw_conn *c, const char *x, const char *rk, char type,
                            long long delay, const char *body)
{
    struct raw_buf h;
    char s[32];
    raw_buf_init(&h);
    switch (type) {
    case 'I': cte_table(&h, "I", "x-delay", (int)delay); break;
    case 'l': cte_table(&h, "l", "x-delay", delay); break;
    case 'S':
        snprintf(s, sizeof(s), "%lld", delay);
        cte_table(&h, "S", "x-delay", s);
        break;
    default: cte_table(&h, "S", "other", "header"); break;
    }
    cte_publish_headers(c, 1, x, rk, 0, &h, body);
    raw_buf_free(&h);
}

START_TEST(test_message_held_until_due)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct ctm_in in;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    int64_t v = 0;
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    int64_t sent = cte_now_ms();
    publish_delayed(&c, x, "k", 'I', 400, "later");
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert_msg(cte_now_ms() - sent >= 400 - CLOCK_SLACK_MS,
                  "a 400 ms delay ended after %lld ms",
                  (long long)(cte_now_ms() - sent));
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "later");
    ck_assert_str_eq(in.exchange, x);
    ck_assert_str_eq(in.routing_key, "k");
    ck_assert_msg(cte_header_int(&in, "x-delay", &v), "x-delay header is gone");
    ck_assert_msg(v == -400, "delivered x-delay is %lld, the plugin sets -400", (long long)v);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_released_in_due_order)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct ctm_in ins[4];
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], err[256];
    static const char *const want[] = {"d100", "d300", "d500", "d700"};
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    delayed_exchange(&c, x, "fanout");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "", NULL);
    publish_delayed(&c, x, "", 'I', 700, "d700");
    publish_delayed(&c, x, "", 'l', 100, "d100");
    publish_delayed(&c, x, "", 'I', 500, "d500");
    publish_delayed(&c, x, "", 'I', 300, "d300");
    ctm_basic_consume(&c, 2, q, "due", CTM_C_NO_ACK, NULL, 0);
    cte_collect(&c, 2, ins, 4, false);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(strcmp((const char *)ins[i].body, want[i]) == 0,
                      "delivery %d is '%s', want '%s'", i + 1, (const char *)ins[i].body, want[i]);
    cte_ins_free(ins, 4);
    raw_close(&c);
}
END_TEST

/* No x-delay, 0, a negative delay: routed at once (before a long-delayed one). */
START_TEST(test_no_positive_delay_routes_at_once)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], got[256];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    publish_delayed(&c, x, "k", 'I', 600000, "much-later");
    publish_delayed(&c, x, "k", 0, 0, "no-header");
    publish_delayed(&c, x, "k", 'I', 0, "zero");
    publish_delayed(&c, x, "k", 'I', -250, "negative");
    ctm_wait_count(&c, 1, q, 3);
    cte_drain_bodies(&c, 1, q, got, sizeof(got));
    ck_assert_str_eq(got, "no-header,zero,negative");
    raw_close(&c);
}
END_TEST

/* The plugin also reads string and long delays. */
START_TEST(test_string_delay_accepted)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    int64_t sent = cte_now_ms();
    publish_delayed(&c, x, "k", 'S', 300, "stringly");
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert_msg(cte_now_ms() - sent >= 300 - CLOCK_SLACK_MS,
                  "a 300 ms string delay ended after %lld ms",
                  (long long)(cte_now_ms() - sent));
    raw_close(&c);
}
END_TEST

/* Routing follows x-delayed-type (topic here) when the message comes due. */
START_TEST(test_delayed_topic_routing)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX], qa[CTM_NAME_MAX], qb[CTM_NAME_MAX], got[128];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "topic");
    ctm_queue_temp(&c, 1, qa, sizeof(qa));
    ctm_queue_temp(&c, 1, qb, sizeof(qb));
    ctm_queue_bind(&c, 1, qa, x, "orders.*", NULL);
    ctm_queue_bind(&c, 1, qb, x, "#.eu", NULL);
    publish_delayed(&c, x, "orders.eu", 'I', 150, "both");
    publish_delayed(&c, x, "orders.us", 'I', 150, "a-only");
    publish_delayed(&c, x, "billing.eu", 'I', 150, "b-only");
    publish_delayed(&c, x, "nothing", 'I', 150, "none");
    ctm_wait_count(&c, 1, qa, 2);
    ctm_wait_count(&c, 1, qb, 2);
    harness_sleep_ms(100);
    cte_drain_bodies(&c, 1, qa, got, sizeof(got));
    ck_assert_str_eq(got, "both,a-only");
    cte_drain_bodies(&c, 1, qb, got, sizeof(got));
    ck_assert_str_eq(got, "both,b-only");
    raw_close(&c);
}
END_TEST

/* Confirms do not wait for the delay. */
START_TEST(test_confirm_at_publish_time)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_confirm_select(&c, 1);
    publish_delayed(&c, x, "k", 'I', 600000, "ten-minutes");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);     /* within CT_REPLY_MS, long before due */
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

/* Deleting the exchange drops what it holds. */
START_TEST(test_delete_exchange_drops_held_messages)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "delayed-deleted");
    raw_buf_init(&t);
    cte_table(&t, "S", "x-delayed-type", "direct");
    ctm_exchange_declare(&c, 1, x, "x-delayed-message", 0, &t);
    raw_buf_free(&t);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    publish_delayed(&c, x, "k", 'I', 200, "orphan");
    ctm_exchange_delete(&c, 1, x, 0);
    harness_sleep_ms(400);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

/* Many held messages: all arrive, none before its delay. */
START_TEST(test_many_delayed_messages_none_early)
{
    NEEDS_PLUGIN();
    enum { N = 2000 };
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], err[256];
    int64_t *due = calloc(N, sizeof(*due));
    ck_assert(due != NULL);
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_basic_consume(&c, 2, q, "many", CTM_C_NO_ACK, NULL, 0);
    for (int i = 0; i < N; i++) {
        char body[16];
        int delay = (i * 7919) % 300 + 1;
        snprintf(body, sizeof(body), "%d", i);
        due[i] = cte_now_ms() + delay;  /* the broker sees the publish later than this */
        publish_delayed(&c, x, "k", 'I', delay, body);
    }
    for (int got = 0; got < N; got++) {
        struct ctm_in in;
        ctm_expect(&c, &in, 2, RAW_BASIC, CTM_BASIC_DELIVER);
        int64_t now = cte_now_ms();
        int i = atoi((const char *)in.body);
        ck_assert_msg(i >= 0 && i < N && due[i] > 0, "unexpected or duplicate body '%s'",
                      (const char *)in.body);
        ck_assert_msg(now >= due[i] - CLOCK_SLACK_MS, "message %d arrived %lld ms early", i,
                      (long long)(due[i] - now));
        due[i] = 0;
        ctm_in_free(&in);
    }
    free(due);
    raw_close(&c);
}
END_TEST

/* ---- declare errors ------------------------------------------------------------------ */

START_TEST(test_missing_delayed_type_406)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "delayed-untyped");
    ctm_send_exchange_declare(&c, 1, x, "x-delayed-message", 0, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_delayed_type_not_a_string_406)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "delayed-inttype");
    raw_buf_init(&t);
    cte_table(&t, "I", "x-delayed-type", 1);
    ctm_send_exchange_declare(&c, 1, x, "x-delayed-message", 0, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

/* An unknown x-delayed-type is an unknown exchange type: 503, a connection error. */
START_TEST(test_unknown_delayed_type_503)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "delayed-badtype");
    raw_buf_init(&t);
    cte_table(&t, "S", "x-delayed-type", "x-no-such-type");
    ctm_send_exchange_declare(&c, 1, x, "x-delayed-message", 0, &t);
    raw_buf_free(&t);
    ct_expect_connection_close(&c, RAW_COMMAND_INVALID,
                               "COMMAND_INVALID - unknown exchange type 'x-no-such-type'",
                               RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

/*
 * The plugin compares only alternate-exchange on redeclare (it delegates to
 * rabbit_exchange:assert_args_equivalence), so another x-delayed-type is
 * accepted and the exchange keeps its first type.
 */
START_TEST(test_delayed_type_redeclare_not_compared)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], other[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_temp(&c, 1, other, sizeof(other));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_queue_bind(&c, 1, other, x, "not-k", NULL);
    raw_buf_init(&t);
    cte_table(&t, "S", "x-delayed-type", "fanout");
    ctm_exchange_declare(&c, 1, x, "x-delayed-message", CTM_X_AUTO_DELETE, &t);
    raw_buf_free(&t);
    publish_delayed(&c, x, "k", 'I', 50, "still-direct");
    ctm_wait_count(&c, 1, q, 1);
    harness_sleep_ms(100);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, other, NULL), 0);
    raw_close(&c);
}
END_TEST

/* Another exchange type over a delayed exchange's name is a type mismatch (406). */
START_TEST(test_redeclare_other_type_406)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    char x[CTM_NAME_MAX], frag[400];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_send_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, NULL);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%s' in vhost '/': "
             "received 'direct' but current is 'x-delayed-message'", x);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

/* A delayed exchange as dead-letter exchange: a rejected message is retried later. */
START_TEST(test_dead_letter_through_delayed_exchange)
{
    NEEDS_PLUGIN();
    struct raw_conn c;
    struct raw_buf h;
    struct ctm_in in;
    char x[CTM_NAME_MAX], work[CTM_NAME_MAX], retry[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    delayed_exchange(&c, x, "direct");
    ctm_name(work, sizeof(work), "delayed-dl-work");
    ctm_queue_temp(&c, 1, retry, sizeof(retry));
    ctm_queue_bind(&c, 1, retry, x, "retry", NULL);
    cte_queue_declare(&c, 1, work, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", x,
                      "x-dead-letter-routing-key", "retry");
    raw_buf_init(&h);
    cte_table(&h, "I", "x-delay", 300);
    cte_publish_headers(&c, 1, "", work, 0, &h, "backoff");
    raw_buf_free(&h);
    ck_assert(ctm_basic_get(&c, 1, work, false, &in));
    int64_t rejected = cte_now_ms();
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, retry, NULL), 0);
    ctm_wait_count(&c, 1, retry, 1);
    ck_assert_msg(cte_now_ms() - rejected >= 300 - CLOCK_SLACK_MS,
                  "the dead-lettered message was released after %lld ms, not 300",
                  (long long)(cte_now_ms() - rejected));
    ck_assert(ctm_basic_get(&c, 1, retry, true, &in));
    ck_assert_str_eq((const char *)in.body, "backoff");
    ck_assert_msg(cte_header_str(&in, "x-first-death-reason", (char[32]){0}, 32),
                  "the released message lost its x-death headers");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

static Suite *delayed_suite(void)
{
    Suite *s = suite_create("delayed");
    TCase *tc;

    tc = tcase_create("delivery");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_message_held_until_due);
    tcase_add_test(tc, test_released_in_due_order);
    tcase_add_test(tc, test_no_positive_delay_routes_at_once);
    tcase_add_test(tc, test_string_delay_accepted);
    tcase_add_test(tc, test_delayed_topic_routing);
    tcase_add_test(tc, test_confirm_at_publish_time);
    tcase_add_test(tc, test_delete_exchange_drops_held_messages);
    tcase_add_test(tc, test_many_delayed_messages_none_early);
    tcase_add_test(tc, test_dead_letter_through_delayed_exchange);
    suite_add_tcase(s, tc);

    tc = tcase_create("declare");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_missing_delayed_type_406);
    tcase_add_test(tc, test_delayed_type_not_a_string_406);
    tcase_add_test(tc, test_unknown_delayed_type_503);
    tcase_add_test(tc, test_delayed_type_redeclare_not_compared);
    tcase_add_test(tc, test_redeclare_other_type_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_delayed");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(delayed_suite()));
}
