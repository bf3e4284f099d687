/*
 * check_confirm.c - publisher confirms as a client sees them: confirm.select
 * (+nowait), sequence numbers from 1 per channel, acks batched with
 * multiple=true (confirms_multiple), unroutable messages acked, a mandatory
 * return sent before the ack of its message, basic.nack when a queue
 * refuses a message, and confirm mode vs tx mode (406 both ways).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctm.h"

#define S (&harness_default)

START_TEST(test_confirm_sequence_starts_at_1)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "", q, "first");
    ctm_expect_confirms(&c, 1, 1, 1, &st);
    ck_assert_uint_eq(st.acked, 1);
    ctm_publish_str(&c, 1, "", q, "second");
    ctm_expect_confirms(&c, 1, 2, 2, &st);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 2);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirm_select_nowait)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_send_confirm_select(&c, 1, true);
    ctm_publish_str(&c, 1, "", q, "confirmed");
    /* No select-ok: the next frame is the ack of sequence 1. */
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    /* Selecting again is harmless. */
    ctm_confirm_select(&c, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirms_multiple)
{
    enum { N = 500 };
    struct raw_conn c;
    struct raw_buf out;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    raw_buf_init(&out);
    for (int i = 0; i < N; i++)
        ctm_put_publish(&out, &c, 1, "", q, 0, NULL, "0123456789abcdef", 16, 0);
    ct_send(&c, out.data, out.len);
    raw_buf_free(&out);
    ctm_expect_confirms(&c, 1, 1, N, &st);
    ck_assert_uint_eq(st.acked, N);
    ck_assert_uint_eq(st.nacked, 0);
    /* Pipelined publishes are confirmed in batches, not one frame each. */
    ck_assert_msg(st.multiple_frames >= 1 && st.frames < N,
                  "%u confirm frames (%u with multiple=true) for %d pipelined publishes",
                  st.frames, st.multiple_frames, N);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), N);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirm_sequence_per_channel)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    ctm_confirm_select(&c, 2);
    ctm_publish_str(&c, 1, "", q, "a");
    ctm_publish_str(&c, 1, "", q, "b");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    /* Channel 2 counts from 1 on its own. */
    ctm_publish_str(&c, 2, "", q, "c");
    ctm_expect_confirms(&c, 2, 1, 1, NULL);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirm_unroutable_is_acked)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char absent[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(absent, sizeof(absent), "absent");
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "amq.direct", "nobody", "unroutable");
    ctm_publish_str(&c, 1, "", absent, "unroutable too");
    ctm_expect_confirms(&c, 1, 1, 2, &st);
    ck_assert_uint_eq(st.acked, 2);
    raw_close(&c);
}
END_TEST

START_TEST(test_mandatory_return_before_confirm_ack)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_confirm_select(&c, 1);
    ctm_publish(&c, 1, "", q, CTM_P_MANDATORY, NULL, "routed", 6);
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ctm_publish(&c, 1, "amq.direct", "nobody", CTM_P_MANDATORY, NULL, "returned", 8);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq((const char *)in.body, "returned");
    ctm_in_free(&in);
    /* ... and only then the ack of sequence 2. */
    ctm_expect_confirms(&c, 1, 2, 2, NULL);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirm_fanout_one_ack_per_message)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char x[CTM_NAME_MAX], q[3][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "confirm-fanout");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_AUTO_DELETE, NULL);
    for (int i = 0; i < 3; i++) {
        ctm_queue_temp(&c, 1, q[i], sizeof(q[i]));
        ctm_queue_bind(&c, 1, q[i], x, "", NULL);
    }
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, x, "", "one");
    ctm_publish_str(&c, 1, x, "", "two");
    ctm_expect_confirms(&c, 1, 1, 2, &st);
    ck_assert_uint_eq(st.acked, 2);
    /* Nothing further: the next frame is the declare-ok. */
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(ctm_queue_count(&c, 1, q[i], NULL), 2);
    raw_close(&c);
}
END_TEST

/*
 * A queue that refuses a message (x-max-length with x-overflow
 * reject-publish) makes the broker nack it.  edad implements those
 * arguments with issue 4; until then the declare is refused and the test
 * says so instead of passing.
 */
START_TEST(test_confirm_nack_when_queue_rejects)
{
    struct raw_conn c;
    struct raw_buf args;
    struct ctm_in in;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "reject-publish");
    raw_buf_init(&args);
    size_t m = raw_table_begin(&args);
    raw_table_put_int(&args, "x-max-length", 1);
    raw_table_put_longstr(&args, "x-overflow", "reject-publish");
    raw_table_end(&args, m);
    ctm_send_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, &args);
    raw_buf_free(&args);
    ck_assert(ctm_read(&c, &in, CT_REPLY_MS) == RAW_OK);
    if (ctm_in_is(&in, 1, RAW_CHANNEL, RAW_CHANNEL_CLOSE) && in.reply_code == 406 &&
        strstr(in.reply_text, "not supported by edad yet")) {
        fprintf(stderr, "SKIP %s: x-overflow needs issue 4 (%s)\n", __func__, in.reply_text);
        ctm_in_free(&in);
        raw_close(&c);
        return;
    }
    char d[512];
    ck_assert_msg(ctm_in_is(&in, 1, RAW_QUEUE, CTM_QUEUE_DECLARE_OK), "declare: %s",
                  ctm_in_describe(&in, d, sizeof(d)));
    ctm_in_free(&in);
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "", q, "fits");
    ctm_publish_str(&c, 1, "", q, "overflows");
    ctm_expect_confirms(&c, 1, 1, 2, &st);
    ck_assert_uint_eq(st.acked, 1);
    ck_assert_uint_eq(st.nacked, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_confirm_then_tx_select_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_confirm_select(&c, 1);
    ctm_send_tx(&c, 1, CTM_TX_SELECT);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - cannot switch from confirm to tx mode", CTM_TX,
                             CTM_TX_SELECT);
    raw_close(&c);
}
END_TEST

START_TEST(test_tx_then_confirm_select_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_tx(&c, 1, CTM_TX_SELECT);
    ctm_send_confirm_select(&c, 1, false);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
                             CTM_CONFIRM, CTM_CONFIRM_SELECT);
    raw_close(&c);
}
END_TEST

static Suite *confirm_suite(void)
{
    Suite *s = suite_create("confirm");
    TCase *tc = tcase_create("confirm");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_confirm_sequence_starts_at_1);
    tcase_add_test(tc, test_confirm_select_nowait);
    tcase_add_test(tc, test_confirms_multiple);
    tcase_add_test(tc, test_confirm_sequence_per_channel);
    tcase_add_test(tc, test_confirm_unroutable_is_acked);
    tcase_add_test(tc, test_mandatory_return_before_confirm_ack);
    tcase_add_test(tc, test_confirm_fanout_one_ack_per_message);
    tcase_add_test(tc, test_confirm_nack_when_queue_rejects);
    tcase_add_test(tc, test_confirm_then_tx_select_406);
    tcase_add_test(tc, test_tx_then_confirm_select_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_confirm");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(confirm_suite()));
}
