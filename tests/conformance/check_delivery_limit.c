/*
 * check_delivery_limit.c - x-delivery-limit and x-delivery-count: every
 * requeue counts, redeliveries carry the count, a message past the limit is
 * dead-lettered (reason delivery_limit) or dropped.  Declared as durable
 * quorum queues so that RabbitMQ, where this is a quorum feature, agrees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

/* A durable quorum queue with the limit, dead-lettering to dq when dq is given. */
static void limited_queue(struct raw_conn *c, char *q, const char *base, int limit,
                          const char *dq)
{
    ctm_name(q, CTM_NAME_MAX, base);
    if (dq)
        cte_queue_declare(c, 1, q, CTM_Q_DURABLE, "SlSS", "x-queue-type", "quorum",
                          "x-delivery-limit", (long long)limit, "x-dead-letter-exchange", "",
                          "x-dead-letter-routing-key", dq);
    else
        cte_queue_declare(c, 1, q, CTM_Q_DURABLE, "Sl", "x-queue-type", "quorum",
                          "x-delivery-limit", (long long)limit);
}

/* basic.get (ack mode), waiting for the message; checks x-delivery-count. */
static uint64_t get_attempt(struct raw_conn *c, const char *q, int64_t want_count)
{
    struct ctm_in in;
    int64_t n = -1;
    for (int waited = 0; !ctm_basic_get(c, 1, q, false, &in); waited += 20) {
        ck_assert_msg(waited < CT_CLOSE_MS, "no message in '%s' for attempt %lld", q,
                      (long long)want_count + 1);
        harness_sleep_ms(20);
    }
    bool has = cte_header_int(&in, "x-delivery-count", &n);
    if (want_count == 0)
        ck_assert_msg(!has || n == 0, "first delivery carries x-delivery-count %lld",
                      (long long)n);
    else
        ck_assert_msg(has && n == want_count, "x-delivery-count %s%lld, want %lld",
                      has ? "" : "missing ", (long long)n, (long long)want_count);
    if (want_count > 0)
        ck_assert_msg(in.redelivered, "attempt %lld is not marked redelivered",
                      (long long)want_count + 1);
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    return tag;
}

START_TEST(test_limit_dead_letters_after_requeues)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    limited_queue(&c, q, "dlimit", 2, dq);
    ctm_publish_str(&c, 1, "", q, "poison");
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 0), false, true);
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 1), false, true);
    ctm_send_basic_reject(&c, 1, get_attempt(&c, q, 2), true);
    ctm_wait_count(&c, 1, dq, 1);
    ck_assert(ctm_basic_get(&c, 1, dq, true, &in));
    ck_assert_str_eq((const char *)in.body, "poison");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    ck_assert_str_eq(d[0].reason, "delivery_limit");
    ck_assert_str_eq(d[0].queue, q);
    ck_assert_int_eq(d[0].count, 1);
    ctm_in_free(&in);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    ctm_queue_delete(&c, 1, q, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_limit_without_dlx_drops)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    limited_queue(&c, q, "dlimit-drop", 1, NULL);
    ctm_publish_str(&c, 1, "", q, "once-more");
    ctm_publish_str(&c, 1, "", q, "fine");
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 0), false, true);
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 1), false, true);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));   /* "fine" is not affected */
    ck_assert_str_eq((const char *)in.body, "fine");
    ctm_in_free(&in);
    ck_assert(!ctm_basic_get(&c, 1, q, true, &in));
    ctm_queue_delete(&c, 1, q, 0);
    raw_close(&c);
}
END_TEST

/* A consumer whose channel closes with the message unacked also uses an attempt. */
START_TEST(test_channel_close_counts_an_attempt)
{
    struct raw_conn c, gone;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    limited_queue(&c, q, "dlimit-close", 5, NULL);
    ctm_publish_str(&c, 1, "", q, "abandoned");
    ct_open_channel(&gone, S, 1);
    ctm_basic_consume(&gone, 1, q, "abandoner", 0, NULL, 0);
    ctm_expect_deliver(&gone, &in, 1, "abandoned");
    ctm_in_free(&in);
    raw_close(&gone);
    ctm_send_basic_ack(&c, 1, get_attempt(&c, q, 1), false);
    ctm_queue_delete(&c, 1, q, 0);
    raw_close(&c);
}
END_TEST

/* Rejecting without requeue dead-letters as 'rejected', whatever the count. */
START_TEST(test_reject_without_requeue_is_rejected_not_limit)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    limited_queue(&c, q, "dlimit-reject", 3, dq);
    ctm_publish_str(&c, 1, "", q, "refused");
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 0), false, true);
    ctm_send_basic_reject(&c, 1, get_attempt(&c, q, 1), false);
    ctm_wait_count(&c, 1, dq, 1);
    ck_assert(ctm_basic_get(&c, 1, dq, true, &in));
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    ck_assert_str_eq(d[0].reason, "rejected");
    ctm_in_free(&in);
    ctm_queue_delete(&c, 1, q, 0);
    raw_close(&c);
}
END_TEST

/* edad (like LavinMQ) also takes the limit on classic queues. */
START_TEST(test_limit_on_classic_queue)
{
    CTM_EDAD_ONLY(S, "RabbitMQ accepts x-delivery-limit on quorum queues only");
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    ctm_name(q, sizeof(q), "dlimit-classic");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "ISS", "x-delivery-limit", 1,
                      "x-dead-letter-exchange", "", "x-dead-letter-routing-key", dq);
    ctm_publish_str(&c, 1, "", q, "classic");
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 0), false, true);
    ctm_send_basic_nack(&c, 1, get_attempt(&c, q, 1), false, true);
    ctm_wait_count(&c, 1, dq, 1);
    ck_assert(ctm_basic_get(&c, 1, dq, true, &in));
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    ck_assert_str_eq(d[0].reason, "delivery_limit");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* A negative limit means no limit. */
START_TEST(test_negative_limit_means_none)
{
    CTM_EDAD_ONLY(S, "documented edad behaviour");
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    limited_queue(&c, q, "dlimit-none", -1, NULL);
    ctm_publish_str(&c, 1, "", q, "forever");
    for (int64_t i = 0; i < 5; i++)
        ctm_send_basic_nack(&c, 1, get_attempt(&c, q, i), false, true);
    ctm_send_basic_ack(&c, 1, get_attempt(&c, q, 5), false);
    ctm_queue_delete(&c, 1, q, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_delivery_limit_not_integer_406)
{
    CTM_EDAD_ONLY(S, "RabbitMQ 3.10 does not validate x-delivery-limit");
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dlimit-bad");
    cte_queue_declare_fails(&c, 1, q, CTM_Q_DURABLE, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|'x-delivery-limit'|longstr", "SS",
                            "x-queue-type", "quorum", "x-delivery-limit", "3");
    raw_close(&c);
}
END_TEST

static Suite *delivery_limit_suite(void)
{
    Suite *s = suite_create("delivery_limit");
    TCase *tc = tcase_create("delivery_limit");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_limit_dead_letters_after_requeues);
    tcase_add_test(tc, test_limit_without_dlx_drops);
    tcase_add_test(tc, test_channel_close_counts_an_attempt);
    tcase_add_test(tc, test_reject_without_requeue_is_rejected_not_limit);
    tcase_add_test(tc, test_limit_on_classic_queue);
    tcase_add_test(tc, test_negative_limit_means_none);
    tcase_add_test(tc, test_delivery_limit_not_integer_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_delivery_limit");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(delivery_limit_suite()));
}
