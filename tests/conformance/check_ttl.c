/*
 * check_ttl.c - x-message-ttl, the expiration property (the smaller wins),
 * expired messages never delivered, expiry wherever a message sits (edad's
 * documented difference from RabbitMQ's head-only expiry), x-expires, and
 * the 406 replies.  Short TTLs; tests wait for state, never time it.
 * Dead-lettering of expired messages: check_dlx.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void expect_get(struct raw_conn *c, uint16_t ch, const char *q, const char *body)
{
    struct ctm_in in;
    ck_assert_msg(ctm_basic_get(c, ch, q, true, &in), "queue '%s' is empty, want '%s'", q, body);
    ck_assert_msg(strcmp((const char *)in.body, body) == 0, "got '%s', want '%s'",
                  (const char *)in.body, body);
    ctm_in_free(&in);
}

static void expect_empty(struct raw_conn *c, uint16_t ch, const char *q)
{
    struct ctm_in in;
    if (ctm_basic_get(c, ch, q, true, &in)) {
        char d[512];
        ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        ck_abort_msg("queue '%s' should be empty, got %s", q, d);
    }
}

/* ---- x-message-ttl ----------------------------------------------------------------- */

START_TEST(test_queue_ttl_expires_messages)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "qttl");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 50LL);
    ctm_confirm_select(&c, 1);      /* confirmed = enqueued, so the count below is fresh */
    ctm_publish_str(&c, 1, "", q, "a");
    ctm_publish_str(&c, 1, "", q, "b");
    ctm_publish_str(&c, 1, "", q, "c");
    ctm_expect_confirms(&c, 1, 1, 3, NULL);
    ctm_wait_count(&c, 1, q, 0);
    expect_empty(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* Every integer field type is accepted for the TTL (RabbitMQ's INTEGER_ARG_TYPES). */
START_TEST(test_queue_ttl_integer_types_accepted)
{
    struct raw_conn c;
    static const char types[] = "bsIl";
    ct_open_channel(&c, S, 1);
    for (size_t i = 0; i < sizeof(types) - 1; i++) {
        char q[CTM_NAME_MAX], t[2] = {types[i], 0};
        ctm_name(q, sizeof(q), "qttltype");
        if (types[i] == 'l')
            cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, t, "x-message-ttl", 100LL);
        else
            cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, t, "x-message-ttl", 100);
    }
    raw_close(&c);
}
END_TEST

/* TTL 0: delivered only when a consumer can take it at once, else dropped. */
START_TEST(test_queue_ttl_zero_needs_waiting_consumer)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "qttl0");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-message-ttl", 0);
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "", q, "nobody-waits");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ctm_wait_count(&c, 1, q, 0);
    expect_empty(&c, 1, q);
    ctm_basic_consume(&c, 2, q, "ttl0", CTM_C_NO_ACK, NULL, 0);
    ck_assert_msg(raw_channel_open(&c, 3, err, sizeof(err)), "%s", err);
    ctm_publish_str(&c, 3, "", q, "taken");
    ctm_expect_deliver(&c, &in, 2, "taken");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_message_expiration_property)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    cte_publish_expiring(&c, 1, "", q, "50", "short");
    ctm_publish_str(&c, 1, "", q, "forever");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ctm_wait_count(&c, 1, q, 1);
    expect_get(&c, 1, q, "forever");
    raw_close(&c);
}
END_TEST

/* The smaller of the queue's TTL and the message's expiration applies. */
START_TEST(test_smaller_of_queue_and_message_ttl_wins)
{
    struct raw_conn c;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "longqttl");
    ctm_name(q2, sizeof(q2), "shortqttl");
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 600000LL);
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 50LL);
    ctm_confirm_select(&c, 1);
    cte_publish_expiring(&c, 1, "", q1, "50", "message-ttl-wins");
    cte_publish_expiring(&c, 1, "", q2, "600000", "queue-ttl-wins");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ctm_wait_count(&c, 1, q1, 0);
    ctm_wait_count(&c, 1, q2, 0);
    expect_empty(&c, 1, q1);
    expect_empty(&c, 1, q2);
    raw_close(&c);
}
END_TEST

/*
 * The issue: edad expires a short-TTL message on time even behind a
 * long-TTL one.  RabbitMQ expires only at the head, so there the short one
 * would wait for the long one (documented caveat).
 */
START_TEST(test_expiry_behind_long_ttl_message)
{
    CTM_EDAD_ONLY(S, "RabbitMQ expires per-message TTLs only at the head of the queue");
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    cte_publish_expiring(&c, 1, "", q, "600000", "long");
    cte_publish_expiring(&c, 1, "", q, "40", "short1");
    ctm_publish_str(&c, 1, "", q, "plain");
    cte_publish_expiring(&c, 1, "", q, "60", "short2");
    ctm_wait_count(&c, 1, q, 2);
    expect_get(&c, 1, q, "long");
    expect_get(&c, 1, q, "plain");
    expect_empty(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* Many mixed TTLs in one queue: exactly the ones without TTL remain, in order. */
START_TEST(test_mixed_ttls_leave_untimed_messages_in_order)
{
    CTM_EDAD_ONLY(S, "RabbitMQ expires per-message TTLs only at the head of the queue");
    struct raw_conn c;
    char q[CTM_NAME_MAX], body[32], want[4096] = "", got[8192];
    size_t used = 0;
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    for (int i = 0; i < 300; i++) {
        snprintf(body, sizeof(body), "m%d", i);
        if (i % 3 == 0) {
            used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s", used ? "," : "",
                                     body);
            ctm_publish_str(&c, 1, "", q, body);
        } else {
            char exp[16];
            snprintf(exp, sizeof(exp), "%d", 10 + (i * 7919) % 190);
            cte_publish_expiring(&c, 1, "", q, exp, body);
        }
    }
    ctm_wait_count(&c, 1, q, 100);
    cte_drain_bodies(&c, 1, q, got, sizeof(got));
    ck_assert_str_eq(got, want);
    raw_close(&c);
}
END_TEST

/* An expired message is never delivered, even to a consumer that frees up later. */
START_TEST(test_expired_message_never_delivered)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_qos(&c, 2, 1, false);
    ctm_basic_consume(&c, 2, q, "blocked", 0, NULL, 0);
    ctm_publish_str(&c, 1, "", q, "first");
    ctm_expect_deliver(&c, &in, 2, "first");
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    /* The consumer is at its prefetch limit: the next message waits in the queue. */
    ctm_confirm_select(&c, 1);
    cte_publish_expiring(&c, 1, "", q, "30", "dies-waiting");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ctm_wait_count(&c, 1, q, 0);
    ctm_send_basic_ack(&c, 2, tag, false);
    ct_expect_silence(&c, 300);
    raw_close(&c);
}
END_TEST

/* basic.get never hands out an expired message, whatever the broker's timers did. */
START_TEST(test_get_skips_expired_message)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    cte_publish_expiring(&c, 1, "", q, "1", "stale");
    ctm_publish_str(&c, 1, "", q, "fresh");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    harness_sleep_ms(20);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "fresh");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* The expiration property travels with a delivered message unchanged. */
START_TEST(test_delivered_message_keeps_expiration)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], exp[32];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    cte_publish_expiring(&c, 1, "", q, "600000", "keeps");
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_msg(ctm_prop_str(&in, CTM_PROP_EXPIRATION, exp, sizeof(exp)),
                  "the expiration property was dropped");
    ck_assert_str_eq(exp, "600000");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* A message that expired while unacked is dropped when it is requeued. */
START_TEST(test_requeued_expired_message_dropped)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "requeue-expired");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 100LL);
    ctm_publish_str(&c, 1, "", q, "held");
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    harness_sleep_ms(250);          /* let the held message's TTL pass */
    ctm_send_basic_nack(&c, 1, tag, false, true);
    ctm_wait_count(&c, 1, q, 0);
    expect_empty(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* ---- validation ------------------------------------------------------------------------- */

static void ttl_frag(char *out, size_t len, const char *arg, const char *q, const char *why)
{
    snprintf(out, len, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/': %s",
             arg, q, why);
}

START_TEST(test_message_ttl_negative_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "badttl");
    ttl_frag(frag, sizeof(frag), "x-message-ttl", q, "{value_negative,-1}");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I", "x-message-ttl",
                            -1);
    ck_assert(!cte_queue_exists(&c, 1, q));
    raw_close(&c);
}
END_TEST

/* Current RabbitMQ bounds TTLs at ten years (315360000000 ms); 2^32 ms and more are fine. */
START_TEST(test_message_ttl_up_to_ten_years_accepted)
{
    struct raw_conn c;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "bigttl");
    ctm_name(q2, sizeof(q2), "tenyears");
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 4294967296LL);
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 315360000000LL);
    ctm_publish_str(&c, 1, "", q1, "stays");
    ctm_wait_count(&c, 1, q1, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_message_ttl_over_ten_years_406)
{
    CTM_EDAD_ONLY(S, "RabbitMQ 3.10 has no upper bound; current RabbitMQ rejects over 10 years");
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "toobigttl");
    ttl_frag(frag, sizeof(frag), "x-message-ttl", q, "{value_too_large,315360000001}");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "l", "x-message-ttl",
                            315360000001LL);
    raw_close(&c);
}
END_TEST

START_TEST(test_message_ttl_not_integer_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "strttl");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '%s' in vhost '/'|"
             "longstr", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "S", "x-message-ttl",
                            "1000");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue '%s' in vhost '/'|"
             "double", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "d", "x-message-ttl",
                            1.5);
    raw_close(&c);
}
END_TEST

START_TEST(test_message_ttl_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "ttlequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-message-ttl", 1000LL);
    /* the same value in another integer type is equivalent */
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-message-ttl", 1000);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '%s' in vhost "
             "'/': received '2000' but current is '1000'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "l",
                            "x-message-ttl", 2000LL);
    raw_close(&c);
}
END_TEST

/* The expiration property must be a non-negative decimal integer string. */
static void expiration_406(struct raw_conn *c, const char *expiration, const char *why)
{
    char q[CTM_NAME_MAX], frag[300];
    ctm_queue_temp(c, 1, q, sizeof(q));
    cte_publish_expiring(c, 1, "", q, expiration, "bad");
    snprintf(frag, sizeof(frag), "PRECONDITION_FAILED - invalid expiration '%s': %s", expiration,
             why);
    ctm_expect_channel_error(c, 1, CTM_PRECONDITION_FAILED, frag, RAW_BASIC, CTM_BASIC_PUBLISH);
}

START_TEST(test_expiration_not_a_number_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    expiration_406(&c, "soon", "no_integer");
    raw_close(&c);
}
END_TEST

START_TEST(test_expiration_negative_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    expiration_406(&c, "-1", "{value_negative,-1}");
    raw_close(&c);
}
END_TEST

START_TEST(test_expiration_trailing_garbage_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    expiration_406(&c, "100ms", "{leftover_string,\"ms\"}");
    raw_close(&c);
}
END_TEST

START_TEST(test_expiration_over_ten_years_406)
{
    CTM_EDAD_ONLY(S, "RabbitMQ 3.10 has no upper bound; current RabbitMQ rejects over 10 years");
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    expiration_406(&c, "315360000001", "{value_too_large,315360000001}");
    raw_close(&c);
}
END_TEST

/* Expirations beyond 2^32 - 1 ms (Erlang's send_after limit) are still valid. */
START_TEST(test_expiration_large_accepted)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    cte_publish_expiring(&c, 1, "", q, "4294967296", "big");
    cte_publish_expiring(&c, 1, "", q, "315360000000", "ten-years");
    ctm_wait_count(&c, 1, q, 2);
    raw_close(&c);
}
END_TEST

/* ---- x-expires ----------------------------------------------------------------------- */

START_TEST(test_unused_queue_expires)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "qexpires");
    cte_queue_declare(&c, 1, q, 0, "I", "x-expires", 100);
    ctm_publish_str(&c, 1, "", q, "messages do not keep a queue alive");
    cte_wait_queue_gone_quietly(&c, 3, q);
    raw_close(&c);
}
END_TEST

START_TEST(test_consumer_keeps_queue_alive)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "qexpires-consumed");
    cte_queue_declare(&c, 1, q, 0, "I", "x-expires", 100);
    ctm_basic_consume(&c, 2, q, "keeper", CTM_C_NO_ACK, NULL, 0);
    harness_sleep_ms(400);          /* four periods with a consumer */
    ck_assert_msg(cte_queue_alive_quietly(&c, 3, q), "a queue with a consumer expired");
    ctm_basic_cancel(&c, 2, "keeper");
    cte_wait_queue_gone_quietly(&c, 3, q);
    raw_close(&c);
}
END_TEST

/* basic.get and redeclares count as use: polling keeps the queue alive. */
START_TEST(test_get_and_redeclare_reset_expiry)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "qexpires-polled");
    cte_queue_declare(&c, 1, q, 0, "I", "x-expires", 1000);
    for (int i = 0; i < 12; i++) {
        harness_sleep_ms(200);
        if (i % 2 == 0) {
            ck_assert_msg(!ctm_basic_get(&c, 1, q, true, &in), "queue should be empty");
        } else {
            cte_queue_declare(&c, 1, q, 0, "I", "x-expires", 1000);
        }
    }
    ck_assert_msg(cte_queue_alive_quietly(&c, 3, q), "a polled queue expired");
    cte_wait_queue_gone_quietly(&c, 3, q);
    raw_close(&c);
}
END_TEST

START_TEST(test_expires_zero_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "expires0");
    ttl_frag(frag, sizeof(frag), "x-expires", q, "{value_zero,0}");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I", "x-expires", 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_expires_negative_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "expiresneg");
    ttl_frag(frag, sizeof(frag), "x-expires", q, "{value_negative,-5}");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I", "x-expires", -5);
    raw_close(&c);
}
END_TEST

START_TEST(test_expires_not_integer_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "expiresstr");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-expires' for queue '%s' in vhost '/'|longstr",
             q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "S", "x-expires", "10");
    raw_close(&c);
}
END_TEST

START_TEST(test_expires_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "expequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-expires", 60000);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-expires' for queue '%s' in vhost '/'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "I",
                            "x-expires", 30000);
    raw_close(&c);
}
END_TEST

static Suite *ttl_suite(void)
{
    Suite *s = suite_create("ttl");
    TCase *tc;

    tc = tcase_create("message_ttl");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_queue_ttl_expires_messages);
    tcase_add_test(tc, test_queue_ttl_integer_types_accepted);
    tcase_add_test(tc, test_queue_ttl_zero_needs_waiting_consumer);
    tcase_add_test(tc, test_message_expiration_property);
    tcase_add_test(tc, test_smaller_of_queue_and_message_ttl_wins);
    tcase_add_test(tc, test_expiry_behind_long_ttl_message);
    tcase_add_test(tc, test_mixed_ttls_leave_untimed_messages_in_order);
    tcase_add_test(tc, test_expired_message_never_delivered);
    tcase_add_test(tc, test_get_skips_expired_message);
    tcase_add_test(tc, test_delivered_message_keeps_expiration);
    tcase_add_test(tc, test_requeued_expired_message_dropped);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl_validation");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_message_ttl_negative_406);
    tcase_add_test(tc, test_message_ttl_up_to_ten_years_accepted);
    tcase_add_test(tc, test_message_ttl_over_ten_years_406);
    tcase_add_test(tc, test_message_ttl_not_integer_406);
    tcase_add_test(tc, test_message_ttl_redeclare_inequivalent_406);
    tcase_add_test(tc, test_expiration_not_a_number_406);
    tcase_add_test(tc, test_expiration_negative_406);
    tcase_add_test(tc, test_expiration_trailing_garbage_406);
    tcase_add_test(tc, test_expiration_over_ten_years_406);
    tcase_add_test(tc, test_expiration_large_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("queue_expires");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_unused_queue_expires);
    tcase_add_test(tc, test_consumer_keeps_queue_alive);
    tcase_add_test(tc, test_get_and_redeclare_reset_expiry);
    tcase_add_test(tc, test_expires_zero_406);
    tcase_add_test(tc, test_expires_negative_406);
    tcase_add_test(tc, test_expires_not_integer_406);
    tcase_add_test(tc, test_expires_redeclare_inequivalent_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_ttl");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(ttl_suite()));
}
