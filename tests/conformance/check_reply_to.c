/*
 * check_reply_to.c - direct reply-to (amq.rabbitmq.reply-to): an RPC round
 * trip between connections, reply_to rewritten per channel, replies after
 * the requester left, declares of the pseudo-queue and of reply names, and
 * RabbitMQ's 406 errors (acking consumer, second consumer, no consumer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)
#define REPLY_TO "amq.rabbitmq.reply-to"

static void publish_request(struct raw_conn *c, uint16_t ch, const char *q, const char *reply_to,
                            const char *corr, const char *body)
{
    struct ctm_props p;
    memset(&p, 0, sizeof(p));
    p.reply_to = reply_to;
    p.correlation_id = corr;
    ctm_publish(c, ch, "", q, 0, &p, body, strlen(body));
}

/* Server side: take the next request from q (waiting for it), return its reply_to. */
static void take_request(struct raw_conn *srv, const char *q, char *reply_to, size_t len,
                         const char *body)
{
    struct ctm_in in;
    for (int waited = 0; !ctm_basic_get(srv, 1, q, true, &in); waited += 20) {
        ck_assert_msg(waited < CT_CLOSE_MS, "no request '%s' in '%s'", body, q);
        harness_sleep_ms(20);
    }
    ck_assert_str_eq((const char *)in.body, body);
    ck_assert_msg(ctm_prop_str(&in, CTM_PROP_REPLY_TO, reply_to, len), "request lost reply_to");
    ctm_in_free(&in);
}

START_TEST(test_rpc_round_trip)
{
    struct raw_conn cli, srv;
    struct ctm_in in;
    struct ctm_props p;
    char q[CTM_NAME_MAX], tag[256], rt[256], v[256];
    ct_open_channel(&cli, S, 1);
    ct_open_channel(&srv, S, 1);
    ctm_queue_temp(&srv, 1, q, sizeof(q));
    ctm_basic_consume(&cli, 1, REPLY_TO, "", CTM_C_NO_ACK, tag, sizeof(tag));
    ck_assert_msg(strncmp(tag, "amq.ctag-", 9) == 0, "server-named tag '%s'", tag);
    publish_request(&cli, 1, q, REPLY_TO, "corr-1", "2+2");
    take_request(&srv, q, rt, sizeof(rt), "2+2");
    ck_assert_msg(strncmp(rt, REPLY_TO ".", strlen(REPLY_TO) + 1) == 0 &&
                      strlen(rt) > strlen(REPLY_TO) + 1,
                  "reply_to was not rewritten: '%s'", rt);
    memset(&p, 0, sizeof(p));
    p.correlation_id = "corr-1";
    ctm_publish(&srv, 1, "", rt, 0, &p, "4", 1);
    ctm_expect_deliver(&cli, &in, 1, "4");
    ck_assert_str_eq(in.consumer_tag, tag);
    ck_assert_str_eq(in.exchange, "");
    ck_assert_str_eq(in.routing_key, rt);
    ck_assert(!in.redelivered);
    ck_assert(ctm_prop_str(&in, CTM_PROP_CORRELATION_ID, v, sizeof(v)));
    ck_assert_str_eq(v, "corr-1");
    ctm_in_free(&in);
    /* several replies to the same name all arrive */
    ctm_publish(&srv, 1, "", rt, 0, NULL, "more1", 5);
    ctm_publish(&srv, 1, "", rt, 0, NULL, "more2", 5);
    ctm_expect_deliver(&cli, &in, 1, "more1");
    ctm_in_free(&in);
    ctm_expect_deliver(&cli, &in, 1, "more2");
    ctm_in_free(&in);
    raw_close(&srv);
    raw_close(&cli);
}
END_TEST

/* Each channel with a reply consumer gets its own reply-to name. */
START_TEST(test_reply_to_names_per_channel)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], rt1[256], rt2[256], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(raw_channel_open(&c, 3, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 2, REPLY_TO, "r2", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 3, REPLY_TO, "r3", CTM_C_NO_ACK, NULL, 0);
    publish_request(&c, 2, q, REPLY_TO, NULL, "from2");
    publish_request(&c, 3, q, REPLY_TO, NULL, "from3");
    /* the two channels' publishes may reach the queue in either order */
    for (int got = 0, waited = 0; got < 2;) {
        struct ctm_in in2;
        if (!ctm_basic_get(&c, 1, q, true, &in2)) {
            ck_assert_msg(waited < CT_CLOSE_MS, "only %d of 2 requests arrived", got);
            harness_sleep_ms(20);
            waited += 20;
            continue;
        }
        bool from2 = strcmp((const char *)in2.body, "from2") == 0;
        ck_assert(ctm_prop_str(&in2, CTM_PROP_REPLY_TO, from2 ? rt1 : rt2, sizeof(rt1)));
        ctm_in_free(&in2);
        got++;
    }
    ck_assert_msg(strcmp(rt1, rt2) != 0, "two channels share reply-to '%s'", rt1);
    ctm_publish_str(&c, 1, "", rt2, "to3");
    ctm_expect_deliver(&c, &in, 3, "to3");
    ck_assert_str_eq(in.consumer_tag, "r3");
    ctm_in_free(&in);
    ctm_publish_str(&c, 1, "", rt1, "to2");
    ctm_expect_deliver(&c, &in, 2, "to2");
    ck_assert_str_eq(in.consumer_tag, "r2");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* Only the exact pseudo-queue name is rewritten. */
START_TEST(test_other_reply_to_values_untouched)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], rt[256];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, REPLY_TO, "rt", CTM_C_NO_ACK, NULL, 0);
    publish_request(&c, 1, q, "my-own-reply-queue", NULL, "classic");
    take_request(&c, q, rt, sizeof(rt), "classic");
    ck_assert_str_eq(rt, "my-own-reply-queue");
    raw_close(&c);
}
END_TEST

/* A reply to a requester that went away is dropped; mandatory gets it back. */
START_TEST(test_reply_after_requester_left)
{
    struct raw_conn cli, srv;
    struct ctm_in in;
    char q[CTM_NAME_MAX], rt[256];
    ct_open_channel(&cli, S, 1);
    ct_open_channel(&srv, S, 1);
    ctm_queue_temp(&srv, 1, q, sizeof(q));
    ctm_basic_consume(&cli, 1, REPLY_TO, "gone", CTM_C_NO_ACK, NULL, 0);
    publish_request(&cli, 1, q, REPLY_TO, NULL, "ask");
    take_request(&srv, q, rt, sizeof(rt), "ask");
    raw_close(&cli);
    harness_sleep_ms(100);
    ctm_publish(&srv, 1, "", rt, CTM_P_MANDATORY, NULL, "late", 4);
    ctm_expect(&srv, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq(in.routing_key, rt);
    ctm_in_free(&in);
    /* without mandatory: silently dropped, the channel stays usable */
    ctm_publish_str(&srv, 1, "", rt, "late-again");
    ck_assert_uint_eq(ctm_queue_count(&srv, 1, q, NULL), 0);
    raw_close(&srv);
}
END_TEST

/* A cancelled reply consumer no longer receives, and publishing with reply-to fails. */
START_TEST(test_cancel_reply_consumer)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], rt[256];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, REPLY_TO, "temporary", CTM_C_NO_ACK, NULL, 0);
    publish_request(&c, 1, q, REPLY_TO, NULL, "once");
    take_request(&c, q, rt, sizeof(rt), "once");
    ck_assert_uint_eq(ctm_basic_cancel(&c, 1, "temporary"), 0);
    ctm_publish(&c, 1, "", rt, CTM_P_MANDATORY, NULL, "nobody", 6);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ctm_in_free(&in);
    publish_request(&c, 1, q, REPLY_TO, NULL, "twice");
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - fast reply consumer does not exist",
                             RAW_BASIC, CTM_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

/* Publishing to the bare pseudo-queue name has no special meaning: unroutable. */
START_TEST(test_publish_to_bare_name_unroutable)
{
    struct raw_conn c;
    struct ctm_in in;
    ct_open_channel(&c, S, 1);
    ctm_basic_consume(&c, 1, REPLY_TO, "bare", CTM_C_NO_ACK, NULL, 0);
    ctm_publish(&c, 1, "", REPLY_TO, CTM_P_MANDATORY, NULL, "bare", 4);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* A made-up reply-to name routes nowhere (and is no error). */
START_TEST(test_bogus_reply_to_name_unroutable)
{
    CTM_EDAD_ONLY(S, "RabbitMQ 3.10 closes the connection with 541 INTERNAL_ERROR");
    struct raw_conn c;
    struct ctm_in in;
    ct_open_channel(&c, S, 1);
    ctm_publish(&c, 1, "", REPLY_TO ".bm90LWEtcGlk.bm90LWEta2V5", CTM_P_MANDATORY, NULL,
                "bogus", 5);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ctm_in_free(&in);
    ctm_publish_str(&c, 1, "", REPLY_TO ".garbage", "garbage");
    ct_expect_silence(&c, 100);
    raw_close(&c);
}
END_TEST

START_TEST(test_reply_consumer_nowait)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], rt[256];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_send_basic_consume(&c, 1, REPLY_TO, "quiet", CTM_C_NO_ACK | CTM_C_NOWAIT, NULL);
    publish_request(&c, 1, q, REPLY_TO, NULL, "nowait");
    take_request(&c, q, rt, sizeof(rt), "nowait");   /* first frame back: the get-ok */
    ctm_publish_str(&c, 1, "", rt, "answer");
    ctm_expect_deliver(&c, &in, 1, "answer");
    ck_assert_str_eq(in.consumer_tag, "quiet");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* queue.declare of the pseudo-queue answers as RabbitMQ does (no queue is made). */
START_TEST(test_declare_pseudo_queue)
{
    struct raw_conn c;
    char name[256];
    uint32_t msgs = 99, cons = 99;
    ct_open_channel(&c, S, 1);
    ctm_queue_declare(&c, 1, REPLY_TO, CTM_Q_PASSIVE, NULL, name, sizeof(name), &msgs, &cons);
    ck_assert_str_eq(name, REPLY_TO);
    ck_assert_uint_eq(msgs, 0);
    ck_assert_uint_eq(cons, 1);
    /* not passive: the same answer, and still no such queue is created */
    ctm_queue_declare(&c, 1, REPLY_TO, 0, NULL, name, sizeof(name), &msgs, &cons);
    ck_assert_str_eq(name, REPLY_TO);
    ck_assert_uint_eq(msgs, 0);
    ck_assert_uint_eq(cons, 1);
    raw_close(&c);
}
END_TEST

/* A reply name answers a declare while its consumer lives, 404 afterwards. */
START_TEST(test_declare_reply_name)
{
    struct raw_conn cli, srv;
    char q[CTM_NAME_MAX], rt[256], name[256], frag[400];
    uint32_t msgs = 99, cons = 99;
    ct_open_channel(&cli, S, 1);
    ct_open_channel(&srv, S, 1);
    ctm_queue_temp(&srv, 1, q, sizeof(q));
    ctm_basic_consume(&cli, 1, REPLY_TO, "probe", CTM_C_NO_ACK, NULL, 0);
    publish_request(&cli, 1, q, REPLY_TO, NULL, "who");
    take_request(&srv, q, rt, sizeof(rt), "who");
    ctm_queue_declare(&srv, 1, rt, CTM_Q_PASSIVE, NULL, name, sizeof(name), &msgs, &cons);
    ck_assert_str_eq(name, rt);
    ck_assert_uint_eq(msgs, 0);
    ck_assert_uint_eq(cons, 1);
    ctm_basic_cancel(&cli, 1, "probe");
    ctm_send_queue_declare(&srv, 1, rt, CTM_Q_PASSIVE, NULL);
    snprintf(frag, sizeof(frag), "NOT_FOUND - no queue '%s' in vhost '/'", rt);
    ctm_expect_channel_error(&srv, 1, RAW_NOT_FOUND, frag, RAW_QUEUE, CTM_QUEUE_DECLARE);
    raw_close(&srv);
    raw_close(&cli);
}
END_TEST

/* A mandatory reply that reaches the consumer is not returned (RabbitMQ returns it too). */
START_TEST(test_mandatory_reply_not_returned)
{
    CTM_EDAD_ONLY(S, "RabbitMQ returns a mandatory direct reply although it delivers it");
    struct raw_conn cli, srv;
    struct ctm_in in;
    char q[CTM_NAME_MAX], rt[256];
    ct_open_channel(&cli, S, 1);
    ct_open_channel(&srv, S, 1);
    ctm_queue_temp(&srv, 1, q, sizeof(q));
    ctm_basic_consume(&cli, 1, REPLY_TO, "m", CTM_C_NO_ACK, NULL, 0);
    publish_request(&cli, 1, q, REPLY_TO, NULL, "ask");
    take_request(&srv, q, rt, sizeof(rt), "ask");
    ctm_confirm_select(&srv, 1);
    ctm_publish(&srv, 1, "", rt, CTM_P_MANDATORY, NULL, "answer", 6);
    ctm_expect_confirms(&srv, 1, 1, 1, NULL);       /* no basic.return before the ack */
    ctm_expect_deliver(&cli, &in, 1, "answer");
    ctm_in_free(&in);
    raw_close(&srv);
    raw_close(&cli);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

START_TEST(test_reply_consumer_with_acks_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_basic_consume(&c, 1, REPLY_TO, "acking", 0, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - reply consumer cannot acknowledge", RAW_BASIC,
                             CTM_BASIC_CONSUME);
    raw_close(&c);
}
END_TEST

START_TEST(test_second_reply_consumer_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_basic_consume(&c, 1, REPLY_TO, "one", CTM_C_NO_ACK, NULL, 0);
    ctm_send_basic_consume(&c, 1, REPLY_TO, "two", CTM_C_NO_ACK, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - reply consumer already set", RAW_BASIC,
                             CTM_BASIC_CONSUME);
    raw_close(&c);
}
END_TEST

START_TEST(test_publish_without_reply_consumer_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    publish_request(&c, 1, q, REPLY_TO, NULL, "no-consumer");
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - fast reply consumer does not exist",
                             RAW_BASIC, CTM_BASIC_PUBLISH);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

/* The reply consumer belongs to its channel: another channel may not use it. */
START_TEST(test_reply_consumer_on_other_channel_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, REPLY_TO, "mine", CTM_C_NO_ACK, NULL, 0);
    publish_request(&c, 2, q, REPLY_TO, NULL, "wrong-channel");
    ctm_expect_channel_error(&c, 2, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - fast reply consumer does not exist",
                             RAW_BASIC, CTM_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

static Suite *reply_to_suite(void)
{
    Suite *s = suite_create("reply_to");
    TCase *tc;

    tc = tcase_create("direct_reply_to");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_rpc_round_trip);
    tcase_add_test(tc, test_reply_to_names_per_channel);
    tcase_add_test(tc, test_other_reply_to_values_untouched);
    tcase_add_test(tc, test_reply_after_requester_left);
    tcase_add_test(tc, test_cancel_reply_consumer);
    tcase_add_test(tc, test_publish_to_bare_name_unroutable);
    tcase_add_test(tc, test_bogus_reply_to_name_unroutable);
    tcase_add_test(tc, test_reply_consumer_nowait);
    tcase_add_test(tc, test_declare_pseudo_queue);
    tcase_add_test(tc, test_declare_reply_name);
    tcase_add_test(tc, test_mandatory_reply_not_returned);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reply_consumer_with_acks_406);
    tcase_add_test(tc, test_second_reply_consumer_406);
    tcase_add_test(tc, test_publish_without_reply_consumer_406);
    tcase_add_test(tc, test_reply_consumer_on_other_channel_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_reply_to");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(reply_to_suite()));
}
