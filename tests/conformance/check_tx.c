/*
 * check_tx.c - transactions as a client sees them: tx.select, publishes
 * held until tx.commit and dropped by tx.rollback, acks / rejects held the
 * same way (a rollback leaves the deliveries unacked), a publish and an ack
 * committed together, and tx.commit / tx.rollback without tx.select (406).
 * Confirm vs tx mode is in check_confirm.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctm.h"

#define S (&harness_default)

static void publish_n(struct raw_conn *c, uint16_t ch, const char *q, int n)
{
    for (int i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof(body), "m%d", i + 1);
        ctm_publish_str(c, ch, "", q, body);
    }
}

static uint64_t get_unacked(struct raw_conn *c, uint16_t ch, const char *q, const char *body)
{
    struct ctm_in in;
    ck_assert_msg(ctm_basic_get(c, ch, q, false, &in), "queue empty, wanted '%s'", body);
    ck_assert_msg(strcmp((const char *)in.body, body) == 0, "got '%s', want '%s'",
                  (const char *)in.body, body);
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    return tag;
}

static void close_channel(struct raw_conn *c, uint16_t ch)
{
    struct raw_frame f;
    raw_send_close(c, ch, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(c, &f, ch, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
}

/* Connection c with channel 1 (transactional) and observer obs on its own connection. */
static void setup(struct raw_conn *c, struct raw_conn *obs, char *q, size_t qlen)
{
    ct_open_channel(c, S, 1);
    ct_open_channel(obs, S, 1);
    ctm_name(q, qlen, "tx");
    ctm_queue_declare(obs, 1, q, CTM_Q_AUTO_DELETE, NULL, NULL, 0, NULL, NULL);
}

START_TEST(test_tx_commit_publishes)
{
    struct raw_conn c, obs;
    char q[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    ctm_tx(&c, 1, CTM_TX_SELECT);
    publish_n(&c, 1, q, 3);
    /* Held until the commit. */
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    ck_assert_uint_eq(ctm_queue_count(&obs, 1, q, NULL), 0);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    ctm_wait_count(&obs, 1, q, 3);
    /* The channel stays transactional: the next publish waits for the next commit. */
    publish_n(&c, 1, q, 1);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 3);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    ctm_wait_count(&obs, 1, q, 4);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_rollback_discards_publishes)
{
    struct raw_conn c, obs;
    char q[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    ctm_tx(&c, 1, CTM_TX_SELECT);
    publish_n(&c, 1, q, 2);
    ctm_tx(&c, 1, CTM_TX_ROLLBACK);
    ctm_tx(&c, 1, CTM_TX_COMMIT); /* nothing left to commit */
    ck_assert_uint_eq(ctm_queue_count(&obs, 1, q, NULL), 0);
    ctm_publish_str(&c, 1, "", q, "kept");
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    ctm_wait_count(&obs, 1, q, 1);
    struct ctm_in in;
    ck_assert(ctm_basic_get(&obs, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "kept");
    ctm_in_free(&in);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_ack_applied_on_commit)
{
    struct raw_conn c, obs;
    char q[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    publish_n(&obs, 1, q, 2);
    ctm_wait_count(&obs, 1, q, 2);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    uint64_t t1 = get_unacked(&c, 1, q, "m1");
    uint64_t t2 = get_unacked(&c, 1, q, "m2");
    ctm_send_basic_ack(&c, 1, t1, false);
    ctm_send_basic_ack(&c, 1, t2, false);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    close_channel(&c, 1);
    /* Nothing came back: both acks took effect. */
    ck_assert_uint_eq(ctm_queue_count(&obs, 1, q, NULL), 0);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_ack_discarded_on_rollback)
{
    struct raw_conn c, obs;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    publish_n(&obs, 1, q, 2);
    ctm_wait_count(&obs, 1, q, 2);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    uint64_t t1 = get_unacked(&c, 1, q, "m1");
    get_unacked(&c, 1, q, "m2");
    ctm_send_basic_ack(&c, 1, t1, true);
    ctm_tx(&c, 1, CTM_TX_ROLLBACK);
    /* Still unacked: closing the channel returns both. */
    close_channel(&c, 1);
    ctm_wait_count(&obs, 1, q, 2);
    ck_assert(ctm_basic_get(&obs, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "m1");
    ck_assert(in.redelivered);
    ctm_in_free(&in);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_reject_requeue_on_commit)
{
    struct raw_conn c, obs;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    publish_n(&obs, 1, q, 1);
    ctm_wait_count(&obs, 1, q, 1);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    uint64_t t1 = get_unacked(&c, 1, q, "m1");
    ctm_send_basic_reject(&c, 1, t1, true);
    ck_assert_uint_eq(ctm_queue_count(&obs, 1, q, NULL), 0);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    ctm_wait_count(&obs, 1, q, 1);
    ck_assert(ctm_basic_get(&obs, 1, q, true, &in));
    ck_assert(in.redelivered);
    ctm_in_free(&in);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_publish_and_ack_together)
{
    struct raw_conn c, obs;
    struct ctm_in in;
    char q[CTM_NAME_MAX], out[CTM_NAME_MAX];
    setup(&c, &obs, q, sizeof(q));
    ctm_name(out, sizeof(out), "tx-out");
    ctm_queue_declare(&obs, 1, out, CTM_Q_AUTO_DELETE, NULL, NULL, 0, NULL, NULL);
    publish_n(&obs, 1, q, 1);
    ctm_wait_count(&obs, 1, q, 1);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    uint64_t t = get_unacked(&c, 1, q, "m1");
    ctm_publish_str(&c, 1, "", out, "result of m1");
    ctm_send_basic_ack(&c, 1, t, false);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    close_channel(&c, 1);
    ctm_wait_count(&obs, 1, out, 1);
    ck_assert_uint_eq(ctm_queue_count(&obs, 1, q, NULL), 0);
    ck_assert(ctm_basic_get(&obs, 1, out, true, &in));
    ck_assert_str_eq((const char *)in.body, "result of m1");
    ctm_in_free(&in);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_tx_select_twice_ok)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    ctm_tx(&c, 1, CTM_TX_COMMIT);
    ctm_tx(&c, 1, CTM_TX_ROLLBACK);
    raw_close(&c);
}
END_TEST

START_TEST(test_tx_commit_without_select_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_tx(&c, 1, CTM_TX_COMMIT);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - channel is not transactional", CTM_TX,
                             CTM_TX_COMMIT);
    ctm_send_tx(&c, 1, CTM_TX_ROLLBACK);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - channel is not transactional", CTM_TX,
                             CTM_TX_ROLLBACK);
    raw_close(&c);
}
END_TEST

static Suite *tx_suite(void)
{
    Suite *s = suite_create("tx");
    TCase *tc = tcase_create("tx");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tx_commit_publishes);
    tcase_add_test(tc, test_tx_rollback_discards_publishes);
    tcase_add_test(tc, test_tx_ack_applied_on_commit);
    tcase_add_test(tc, test_tx_ack_discarded_on_rollback);
    tcase_add_test(tc, test_tx_reject_requeue_on_commit);
    tcase_add_test(tc, test_tx_publish_and_ack_together);
    tcase_add_test(tc, test_tx_select_twice_ok);
    tcase_add_test(tc, test_tx_commit_without_select_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_tx");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(tx_suite()));
}
