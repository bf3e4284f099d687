/*
 * check_sac.c - x-single-active-consumer: only the first registered
 * consumer receives; on cancel, channel close or connection loss the next
 * in registration order takes over, with the unacked messages left behind;
 * 406 for a non-boolean value or an inequivalent redeclare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void sac_queue(struct raw_conn *c, char *q, const char *base)
{
    ctm_name(q, CTM_NAME_MAX, base);
    cte_queue_declare(c, 1, q, 0, "t", "x-single-active-consumer", 1);
}

static void publish_n(struct raw_conn *c, const char *q, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char body[16];
        snprintf(body, sizeof(body), "s%d", i);
        ctm_publish_str(c, 1, "", q, body);
    }
}

START_TEST(test_only_first_consumer_receives)
{
    struct raw_conn c;
    struct ctm_in ins[5];
    char q[CTM_NAME_MAX], err[256];
    uint32_t consumers = 0;
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(raw_channel_open(&c, 3, err, sizeof(err)), "%s", err);
    sac_queue(&c, q, "sac-first");
    ctm_basic_consume(&c, 2, q, "first", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 3, q, "second", CTM_C_NO_ACK, NULL, 0);
    ctm_queue_count(&c, 1, q, &consumers);
    ck_assert_uint_eq(consumers, 2);
    publish_n(&c, q, 1, 5);
    cte_collect(&c, 2, ins, 5, false);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(ins[i].consumer_tag, "first");
    cte_ins_free(ins, 5);
    ct_expect_silence(&c, 100);
    cte_queue_delete_busy(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* On cancel the next consumer takes over, with the unacked messages first. */
START_TEST(test_next_takes_over_on_cancel)
{
    struct raw_conn c;
    struct ctm_in ins[4], in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(raw_channel_open(&c, 3, err, sizeof(err)), "%s", err);
    sac_queue(&c, q, "sac-cancel");
    ctm_basic_qos(&c, 2, 2, false);
    ctm_basic_consume(&c, 2, q, "active", 0, NULL, 0);
    ctm_basic_consume(&c, 3, q, "standby", 0, NULL, 0);
    publish_n(&c, q, 1, 4);
    cte_collect(&c, 2, ins, 2, false);        /* s1, s2 held unacked */
    ck_assert_str_eq((const char *)ins[0].body, "s1");
    ck_assert_str_eq((const char *)ins[1].body, "s2");
    cte_ins_free(ins, 2);
    ctm_basic_cancel(&c, 2, "active");
    /* standby now gets everything; channel 2's unacked return when it closes */
    ck_assert(raw_send_close(&c, 2, RAW_CHANNEL, RAW_REPLY_SUCCESS, "done") == 0);
    for (int got = 0; got < 4;) {
        char d[512];
        ck_assert_msg(ctm_read(&c, &in, CT_CLOSE_MS) == RAW_OK, "standby got %d of 4", got);
        if (ctm_in_is(&in, 2, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK)) {
            ctm_in_free(&in);
            continue;
        }
        ck_assert_msg(ctm_in_is(&in, 3, RAW_BASIC, CTM_BASIC_DELIVER), "got %s",
                      ctm_in_describe(&in, d, sizeof(d)));
        ck_assert_str_eq(in.consumer_tag, "standby");
        ins[got++] = in;
    }
    /* s3, s4 were waiting in the queue; s1, s2 come back when channel 2 closes */
    char all[64];
    snprintf(all, sizeof(all), "%s,%s,%s,%s", (const char *)ins[0].body,
             (const char *)ins[1].body, (const char *)ins[2].body, (const char *)ins[3].body);
    ck_assert_msg(strstr(all, "s1") && strstr(all, "s2") && strstr(all, "s3") && strstr(all, "s4"),
                  "standby received %s", all);
    cte_ins_free(ins, 4);
    cte_queue_delete_busy(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* When the active consumer's connection drops, its unacked messages go to the next. */
START_TEST(test_next_takes_over_on_connection_loss)
{
    struct raw_conn c, gone;
    struct ctm_in ins[3];
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    sac_queue(&c, q, "sac-drop");
    ct_open_channel(&gone, S, 1);
    ctm_basic_consume(&gone, 1, q, "doomed", 0, NULL, 0);
    ctm_basic_consume(&c, 2, q, "heir", 0, NULL, 0);
    publish_n(&c, q, 1, 3);
    cte_collect(&gone, 1, ins, 3, false);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(ins[i].consumer_tag, "doomed");
    cte_ins_free(ins, 3);
    raw_close(&gone);               /* no close handshake: a dropped connection */
    cte_collect(&c, 2, ins, 3, true);
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof(want), "s%d", i + 1);
        ck_assert_str_eq(ins[i].consumer_tag, "heir");
        ck_assert_msg(ins[i].redelivered, "takeover delivery %d is not marked redelivered", i);
        ck_assert_str_eq((const char *)ins[i].body, want);
    }
    cte_ins_free(ins, 3);
    cte_queue_delete_busy(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* Takeover follows registration order, not the channel or tag. */
START_TEST(test_takeover_in_registration_order)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    for (uint16_t ch = 2; ch <= 4; ch++)
        ck_assert_msg(raw_channel_open(&c, ch, err, sizeof(err)), "%s", err);
    sac_queue(&c, q, "sac-order");
    ctm_basic_consume(&c, 4, q, "c1", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 2, q, "c2", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 3, q, "c3", CTM_C_NO_ACK, NULL, 0);
    ctm_publish_str(&c, 1, "", q, "one");
    ctm_expect_deliver(&c, &in, 4, "one");
    ck_assert_str_eq(in.consumer_tag, "c1");
    ctm_in_free(&in);
    ctm_basic_cancel(&c, 4, "c1");
    ctm_publish_str(&c, 1, "", q, "two");
    ctm_expect_deliver(&c, &in, 2, "two");
    ck_assert_str_eq(in.consumer_tag, "c2");
    ctm_in_free(&in);
    ctm_basic_cancel(&c, 2, "c2");
    ctm_publish_str(&c, 1, "", q, "three");
    ctm_expect_deliver(&c, &in, 3, "three");
    ck_assert_str_eq(in.consumer_tag, "c3");
    ctm_in_free(&in);
    cte_queue_delete_busy(&c, 1, q);
    raw_close(&c);
}
END_TEST

/* A consumer that comes after the active one left becomes active itself. */
START_TEST(test_new_consumer_after_all_left)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    sac_queue(&c, q, "sac-again");
    ctm_basic_consume(&c, 2, q, "early", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_cancel(&c, 2, "early");
    ctm_publish_str(&c, 1, "", q, "waiting");
    ctm_wait_count(&c, 1, q, 1);
    ctm_basic_consume(&c, 2, q, "late", CTM_C_NO_ACK, NULL, 0);
    ctm_expect_deliver(&c, &in, 2, "waiting");
    ck_assert_str_eq(in.consumer_tag, "late");
    ctm_in_free(&in);
    cte_queue_delete_busy(&c, 1, q);
    raw_close(&c);
}
END_TEST

START_TEST(test_sac_not_boolean_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "sacstr");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '%s' in "
             "vhost '/': {unacceptable_type,longstr}", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "S",
                            "x-single-active-consumer", "true");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '%s' in "
             "vhost '/': {unacceptable_type,signedint}", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I",
                            "x-single-active-consumer", 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_sac_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "sacequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-single-active-consumer", 1);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-single-active-consumer' for queue '%s' "
             "in vhost '/': received 'false' but current is 'true'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "t",
                            "x-single-active-consumer", 0);
    raw_close(&c);
}
END_TEST

/* false is a valid value and means an ordinary queue. */
START_TEST(test_sac_false_is_round_robin)
{
    struct raw_conn c;
    struct ctm_in ins[2];
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "sacfalse");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-single-active-consumer", 0);
    ctm_basic_consume(&c, 2, q, "x", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 2, q, "y", CTM_C_NO_ACK, NULL, 0);
    publish_n(&c, q, 1, 2);
    cte_collect(&c, 2, ins, 2, false);
    ck_assert_msg(strcmp(ins[0].consumer_tag, ins[1].consumer_tag) != 0,
                  "x-single-active-consumer=false should share round-robin");
    cte_ins_free(ins, 2);
    raw_close(&c);
}
END_TEST

static Suite *sac_suite(void)
{
    Suite *s = suite_create("sac");
    TCase *tc = tcase_create("single_active_consumer");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_only_first_consumer_receives);
    tcase_add_test(tc, test_next_takes_over_on_cancel);
    tcase_add_test(tc, test_next_takes_over_on_connection_loss);
    tcase_add_test(tc, test_takeover_in_registration_order);
    tcase_add_test(tc, test_new_consumer_after_all_left);
    tcase_add_test(tc, test_sac_false_is_round_robin);
    tcase_add_test(tc, test_sac_not_boolean_406);
    tcase_add_test(tc, test_sac_redeclare_inequivalent_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_sac");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(sac_suite()));
}
