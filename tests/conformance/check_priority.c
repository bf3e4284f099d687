/*
 * check_priority.c - priority queues (x-max-priority: higher first, FIFO
 * within one, above the maximum counts as it, requeues keep their rank) and
 * consumer priorities (x-priority: the highest with room gets the messages,
 * lower ones only while it is blocked), with the 406 replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void expect_bodies(struct raw_conn *c, const char *q, const char *want)
{
    char got[2048];
    cte_drain_bodies(c, 1, q, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "queue '%s' gave '%s', want '%s'", q, got, want);
}

/* Publish on channel 1 (in confirm mode) and wait for the confirms: all enqueued. */
static void publish_prio(struct raw_conn *c, const char *q, const int *prio, const char *const *b,
                         size_t n, uint64_t first_seq)
{
    for (size_t i = 0; i < n; i++) {
        if (prio[i] < 0)
            ctm_publish_str(c, 1, "", q, b[i]);
        else
            cte_publish_priority(c, 1, q, (uint8_t)prio[i], b[i]);
    }
    ctm_expect_confirms(c, 1, first_seq, first_seq + n - 1, NULL);
}

/* ---- priority queues ----------------------------------------------------------------- */

START_TEST(test_higher_priority_first_fifo_within)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const int prio[] = {1, 5, -1, 9, 5, 0, 9, 1};
    static const char *const b[] = {"p1a", "p5a", "none", "p9a", "p5b", "p0", "p9b", "p1b"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prio10");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-max-priority", 10);
    ctm_confirm_select(&c, 1);
    publish_prio(&c, q, prio, b, 8, 1);
    expect_bodies(&c, q, "p9a,p9b,p5a,p5b,p1a,p1b,none,p0");
    raw_close(&c);
}
END_TEST

START_TEST(test_priority_above_max_is_max)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const int prio[] = {1, 3, 200, 2, 255};
    static const char *const b[] = {"one", "three", "twohundred", "two", "max"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prio3");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "b", "x-max-priority", 3);
    ctm_confirm_select(&c, 1);
    publish_prio(&c, q, prio, b, 5, 1);
    expect_bodies(&c, q, "three,twohundred,max,two,one");
    raw_close(&c);
}
END_TEST

START_TEST(test_consumer_receives_in_priority_order)
{
    struct raw_conn c;
    struct ctm_in ins[4];
    char q[CTM_NAME_MAX], err[256];
    static const int prio[] = {0, 2, 4, 2};
    static const char *const b[] = {"low", "mid1", "high", "mid2"};
    static const char *const want[] = {"high", "mid1", "mid2", "low"};
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "prio-consume");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-max-priority", 4LL);
    ctm_confirm_select(&c, 1);
    publish_prio(&c, q, prio, b, 4, 1);
    ctm_basic_consume(&c, 2, q, "prio-reader", CTM_C_NO_ACK, NULL, 0);
    cte_collect(&c, 2, ins, 4, false);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(strcmp((const char *)ins[i].body, want[i]) == 0,
                      "delivery %d is '%s', want '%s'", i + 1, (const char *)ins[i].body, want[i]);
    uint8_t p = 0;
    ck_assert_msg(ctm_prop_u8(&ins[0], CTM_PROP_PRIORITY, &p) && p == 4,
                  "the priority property is not delivered unchanged");
    cte_ins_free(ins, 4);
    raw_close(&c);
}
END_TEST

/* A requeued high-priority message goes back ahead of lower ones. */
START_TEST(test_requeue_keeps_priority_order)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    static const int prio[] = {1, 7, 1};
    static const char *const b[] = {"l1", "h", "l2"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prio-requeue");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-max-priority", 9);
    ctm_confirm_select(&c, 1);
    publish_prio(&c, q, prio, b, 3, 1);
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    ck_assert_str_eq((const char *)in.body, "h");
    ctm_send_basic_nack(&c, 1, in.delivery_tag, false, true);
    ctm_in_free(&in);
    ctm_wait_count(&c, 1, q, 3);
    expect_bodies(&c, q, "h,l1,l2");
    raw_close(&c);
}
END_TEST

/* Without x-max-priority the priority property does not reorder. */
START_TEST(test_plain_queue_ignores_priority)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const int prio[] = {0, 9, 5};
    static const char *const b[] = {"a", "b", "c"};
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    publish_prio(&c, q, prio, b, 3, 1);
    expect_bodies(&c, q, "a,b,c");
    raw_close(&c);
}
END_TEST

/* ---- priority-queue validation ---------------------------------------------------------- */

START_TEST(test_max_priority_out_of_range_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prio256");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': "
             "{max_value_exceeded,256}", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I", "x-max-priority",
                            256);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/': "
             "{value_negative,-1}", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "I", "x-max-priority",
                            -1);
    /* the bounds themselves are fine */
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-max-priority", 255);
    raw_close(&c);
}
END_TEST

START_TEST(test_max_priority_not_integer_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "priostr");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/'|"
             "longstr", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "S", "x-max-priority",
                            "10");
    raw_close(&c);
}
END_TEST

START_TEST(test_max_priority_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prioequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-max-priority", 5);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '%s' in vhost "
             "'/': received '6' but current is '5'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "I",
                            "x-max-priority", 6);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '%s' in vhost "
             "'/'", q);
    ctm_send_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_QUEUE, CTM_QUEUE_DECLARE);
    raw_close(&c);
}
END_TEST

/* Priority queues are a classic-queue feature: refused for quorum queues. */
START_TEST(test_max_priority_on_quorum_queue_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "prio-quorum");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost '/' of "
             "queue type rabbit_quorum_queue", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_DURABLE, CTM_PRECONDITION_FAILED, frag, "SI",
                            "x-queue-type", "quorum", "x-max-priority", 5);
    raw_close(&c);
}
END_TEST

/* ---- consumer priorities ----------------------------------------------------------------- */

static void consume_prio(struct raw_conn *c, uint16_t ch, const char *q, const char *tag,
                         int priority, unsigned flags)
{
    struct raw_buf a;
    raw_buf_init(&a);
    cte_table(&a, "I", "x-priority", priority);
    cte_consume_args(c, ch, q, tag, flags, &a, NULL, 0);
    raw_buf_free(&a);
}

/* With capacity on both, every message goes to the higher-priority consumer. */
START_TEST(test_highest_priority_consumer_gets_all)
{
    struct raw_conn c;
    struct ctm_in ins[6];
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    consume_prio(&c, 2, q, "low", 0, CTM_C_NO_ACK);  /* registered first */
    consume_prio(&c, 2, q, "high", 10, CTM_C_NO_ACK);
    consume_prio(&c, 2, q, "negative", -5, CTM_C_NO_ACK);
    for (int i = 0; i < 6; i++)
        ctm_publish_str(&c, 1, "", q, "work");
    cte_collect(&c, 2, ins, 6, false);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(strcmp(ins[i].consumer_tag, "high") == 0, "delivery %d went to '%s'",
                      i + 1, ins[i].consumer_tag);
    cte_ins_free(ins, 6);
    raw_close(&c);
}
END_TEST

/* A blocked (prefetch-full) high-priority consumer lets lower ones work. */
START_TEST(test_lower_priority_consumer_gets_overflow)
{
    struct raw_conn c;
    struct ctm_in ins[4], in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(raw_channel_open(&c, 3, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_qos(&c, 2, 1, false);
    consume_prio(&c, 2, q, "high", 5, 0);
    consume_prio(&c, 3, q, "low", 1, CTM_C_NO_ACK);
    ctm_confirm_select(&c, 1);
    for (int i = 1; i <= 4; i++) {
        char body[16];
        snprintf(body, sizeof(body), "w%d", i);
        ctm_publish_str(&c, 1, "", q, body);
    }
    /* four deliveries and four confirms, interleaved in any order */
    int got = 0, high = 0;
    uint64_t acked = 0, high_tag = 0;
    while (got < 4 || acked < 4) {
        struct ctm_in x;
        char d[512];
        ck_assert_msg(ctm_read(&c, &x, CT_CLOSE_MS) == RAW_OK, "deliveries or confirms missing");
        if (ctm_in_is(&x, 1, RAW_BASIC, CTM_BASIC_ACK)) {
            acked = x.multiple ? x.delivery_tag : acked + 1;
            ctm_in_free(&x);
            continue;
        }
        ck_assert_msg(x.class_id == RAW_BASIC && x.method_id == CTM_BASIC_DELIVER && got < 4,
                      "got %s", ctm_in_describe(&x, d, sizeof(d)));
        if (strcmp(x.consumer_tag, "high") == 0) {
            high++;
            high_tag = x.delivery_tag;
        }
        ins[got++] = x;         /* ownership moves to ins[] */
    }
    ck_assert_msg(high == 1, "the prefetch-1 high-priority consumer got %d messages", high);
    ck_assert_str_eq(ins[0].consumer_tag, "high");
    cte_ins_free(ins, 4);
    /* once it acks, it is first in line again */
    ctm_send_basic_ack(&c, 2, high_tag, false);
    ctm_publish_str(&c, 1, "", q, "w5");
    bool confirmed = false, delivered = false;
    while (!confirmed || !delivered) {     /* the ack and the delivery in either order */
        char d[512];
        ck_assert_msg(ctm_read(&c, &in, CT_CLOSE_MS) == RAW_OK, "w5 or its confirm missing");
        if (ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_ACK) && in.delivery_tag == 5) {
            confirmed = true;
        } else {
            ck_assert_msg(ctm_in_is(&in, 2, RAW_BASIC, CTM_BASIC_DELIVER) && !delivered, "got %s",
                          ctm_in_describe(&in, d, sizeof(d)));
            ck_assert_str_eq((const char *)in.body, "w5");
            ck_assert_str_eq(in.consumer_tag, "high");
            delivered = true;
        }
        ctm_in_free(&in);
    }
    raw_close(&c);
}
END_TEST

/* Equal priorities share round-robin, as without the argument. */
START_TEST(test_equal_priority_round_robin)
{
    struct raw_conn c;
    struct ctm_in ins[4];
    char q[CTM_NAME_MAX], err[256];
    int a = 0;
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    consume_prio(&c, 2, q, "a", 3, CTM_C_NO_ACK);
    consume_prio(&c, 2, q, "b", 3, CTM_C_NO_ACK);
    consume_prio(&c, 2, q, "lower", 2, CTM_C_NO_ACK);
    for (int i = 0; i < 4; i++)
        ctm_publish_str(&c, 1, "", q, "rr");
    cte_collect(&c, 2, ins, 4, false);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(strcmp(ins[i].consumer_tag, "lower") != 0, "the lower consumer got one");
        a += strcmp(ins[i].consumer_tag, "a") == 0;
    }
    ck_assert_msg(a == 2, "consumer 'a' got %d of 4 (round-robin: 2)", a);
    cte_ins_free(ins, 4);
    raw_close(&c);
}
END_TEST

START_TEST(test_consumer_priority_not_integer_406)
{
    struct raw_conn c;
    struct raw_buf a;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_buf_init(&a);
    cte_table(&a, "S", "x-priority", "high");
    ctm_send_basic_consume(&c, 1, q, "bad-prio", 0, &a);
    raw_buf_free(&a);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-priority' for queue '%s' in vhost '/'|longstr",
             q);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_BASIC, CTM_BASIC_CONSUME);
    raw_close(&c);
}
END_TEST

static Suite *priority_suite(void)
{
    Suite *s = suite_create("priority");
    TCase *tc;

    tc = tcase_create("priority_queue");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_higher_priority_first_fifo_within);
    tcase_add_test(tc, test_priority_above_max_is_max);
    tcase_add_test(tc, test_consumer_receives_in_priority_order);
    tcase_add_test(tc, test_requeue_keeps_priority_order);
    tcase_add_test(tc, test_plain_queue_ignores_priority);
    tcase_add_test(tc, test_max_priority_out_of_range_406);
    tcase_add_test(tc, test_max_priority_not_integer_406);
    tcase_add_test(tc, test_max_priority_redeclare_inequivalent_406);
    tcase_add_test(tc, test_max_priority_on_quorum_queue_406);
    suite_add_tcase(s, tc);

    tc = tcase_create("consumer_priority");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_highest_priority_consumer_gets_all);
    tcase_add_test(tc, test_lower_priority_consumer_gets_overflow);
    tcase_add_test(tc, test_equal_priority_round_robin);
    tcase_add_test(tc, test_consumer_priority_not_integer_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_priority");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(priority_suite()));
}
