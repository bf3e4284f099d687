/*
 * check_ack.c - settling deliveries as a client sees it: basic.ack (single,
 * multiple, tag 0 = all), basic.nack (multiple, requeue), basic.reject,
 * the 406 for unknown, already settled or foreign delivery tags,
 * basic.recover / recover-async with requeue (requeue=false: 540), and
 * unacked messages going back to their original place in the queue when a
 * channel or connection closes (requeue_on_close).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctm.h"

#define S (&harness_default)

/* Publish m1..mn to an empty queue and wait until the queue holds them. */
static void publish_n(struct raw_conn *c, uint16_t ch, const char *q, int n)
{
    for (int i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof(body), "m%d", i + 1);
        ctm_publish_str(c, ch, "", q, body);
    }
    ctm_wait_count(c, ch, q, (uint32_t)n);
}

/* basic.get in ack mode of the next message, which must be `body`; returns its tag. */
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

/*
 * The queue now holds exactly `want` (NULL-terminated), in that order; an
 * entry starting with '*' must come with the redelivered flag, others without.
 */
static void expect_queue(struct raw_conn *c, uint16_t ch, const char *q, const char *const *want)
{
    struct ctm_in in;
    for (size_t i = 0; want[i]; i++) {
        bool redelivered = want[i][0] == '*';
        const char *body = want[i] + (redelivered ? 1 : 0);
        ck_assert_msg(ctm_basic_get(c, ch, q, true, &in), "queue ran out before '%s'", body);
        ck_assert_msg(strcmp((const char *)in.body, body) == 0,
                      "position %zu: got '%s', want '%s'", i + 1, (const char *)in.body, body);
        ck_assert_msg(in.redelivered == redelivered, "'%s' %s the redelivered flag", body,
                      redelivered ? "lacks" : "has");
        ctm_in_free(&in);
    }
    if (ctm_basic_get(c, ch, q, true, &in)) {
        char d[512];
        ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        ck_abort_msg("unexpected extra message: %s", d);
    }
}

static void close_channel(struct raw_conn *c, uint16_t ch)
{
    struct raw_frame f;
    raw_send_close(c, ch, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(c, &f, ch, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
}

/* Two channels: 1 for gets/acks, 2 to inspect the queue after 1 closed. */
static void open2(struct raw_conn *c, char *q, size_t qlen)
{
    char err[256];
    ct_open_channel(c, S, 1);
    ck_assert_msg(raw_channel_open(c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(c, 2, q, qlen);
}

/* ---- ack ------------------------------------------------------------------------ */

START_TEST(test_ack_removes_message)
{
    static const char *const rest[] = {"m2", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 2);
    ctm_send_basic_ack(&c, 1, get_unacked(&c, 1, q, "m1"), false);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, rest);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_multiple)
{
    static const char *const rest[] = {"*m4", "*m5", NULL};
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 5);
    ctm_basic_consume(&c, 1, q, "multi", 0, NULL, 0);
    for (uint64_t t = 1; t <= 5; t++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ck_assert_uint_eq(in.delivery_tag, t);
        ctm_in_free(&in);
    }
    ctm_send_basic_ack(&c, 1, 3, true); /* 1, 2 and 3 */
    close_channel(&c, 1);
    expect_queue(&c, 2, q, rest);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_zero_multiple_acks_all)
{
    static const char *const none[] = {NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 4);
    get_unacked(&c, 1, q, "m1");
    get_unacked(&c, 1, q, "m2");
    get_unacked(&c, 1, q, "m3");
    get_unacked(&c, 1, q, "m4");
    ctm_send_basic_ack(&c, 1, 0, true);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, none);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_after_cancel_allowed)
{
    static const char *const none[] = {NULL};
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 2);
    ctm_basic_consume(&c, 1, q, "gone-soon", 0, NULL, 0);
    uint64_t tags[2];
    for (int i = 0; i < 2; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        tags[i] = in.delivery_tag;
        ctm_in_free(&in);
    }
    ctm_basic_cancel(&c, 1, "gone-soon");
    /* Deliveries stay unacked after the cancel and can still be acked. */
    ctm_send_basic_ack(&c, 1, tags[0], false);
    ctm_send_basic_ack(&c, 1, tags[1], false);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, none);
    raw_close(&c);
}
END_TEST

/* ---- nack and reject ---------------------------------------------------------------- */

START_TEST(test_nack_multiple_requeue)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 4);
    ctm_basic_consume(&c, 1, q, "nacker", 0, NULL, 0);
    for (int i = 1; i <= 4; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ck_assert(!in.redelivered);
        ctm_in_free(&in);
    }
    ctm_send_basic_nack(&c, 1, 4, true, true);
    /* All four come back, in their order, flagged, with new tags. */
    for (int i = 1; i <= 4; i++) {
        char body[8];
        snprintf(body, sizeof(body), "m%d", i);
        ctm_expect_deliver(&c, &in, 1, body);
        ck_assert_msg(in.redelivered, "%s lacks the redelivered flag", body);
        ck_assert_uint_eq(in.delivery_tag, 4 + (uint64_t)i);
        ctm_in_free(&in);
    }
    raw_close(&c);
}
END_TEST

START_TEST(test_nack_without_requeue_drops)
{
    static const char *const rest[] = {"m3", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 3);
    get_unacked(&c, 1, q, "m1");
    uint64_t t2 = get_unacked(&c, 1, q, "m2");
    ctm_send_basic_nack(&c, 1, t2, true, false);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, rest);
    raw_close(&c);
}
END_TEST

START_TEST(test_nack_multiple_skips_already_settled)
{
    static const char *const again[] = {"m1", "m3", "m5"};
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 5);
    ctm_basic_consume(&c, 1, q, "holes", 0, NULL, 0);
    for (int i = 1; i <= 5; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ctm_in_free(&in);
    }
    ctm_send_basic_ack(&c, 1, 2, false);
    ctm_send_basic_reject(&c, 1, 4, false);
    ctm_send_basic_nack(&c, 1, 5, true, true); /* 1, 3 and 5 */
    for (int i = 0; i < 3; i++) {
        ctm_expect_deliver(&c, &in, 1, again[i]);
        ck_assert(in.redelivered);
        ctm_in_free(&in);
    }
    ctm_send_basic_ack(&c, 1, 0, true);
    ctm_basic_qos(&c, 1, 0, false); /* round trip: no error so far */
    raw_close(&c);
}
END_TEST

START_TEST(test_redelivery_keeps_properties)
{
    struct raw_conn c;
    struct ctm_props p;
    struct ctm_in in;
    char q[CTM_NAME_MAX], v[64];
    open2(&c, q, sizeof(q));
    memset(&p, 0, sizeof(p));
    p.message_id = "keep-me";
    p.content_type = "text/x-test";
    ctm_publish(&c, 2, "", q, 0, &p, "body", 4);
    ctm_wait_count(&c, 2, q, 1);
    ctm_send_basic_reject(&c, 1, get_unacked(&c, 1, q, "body"), true);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert(in.redelivered);
    ck_assert(ctm_prop_str(&in, CTM_PROP_MESSAGE_ID, v, sizeof(v)));
    ck_assert_str_eq(v, "keep-me");
    ck_assert(ctm_prop_str(&in, CTM_PROP_CONTENT_TYPE, v, sizeof(v)));
    ck_assert_str_eq(v, "text/x-test");
    ck_assert_str_eq((const char *)in.body, "body");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_reject_requeue)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 2);
    uint64_t t1 = get_unacked(&c, 1, q, "m1");
    ctm_send_basic_reject(&c, 1, t1, true);
    /* Back at the head, ahead of m2. */
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    ck_assert_str_eq((const char *)in.body, "m1");
    ck_assert(in.redelivered);
    ck_assert_uint_gt(in.delivery_tag, t1);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_reject_without_requeue_drops)
{
    static const char *const rest[] = {"m2", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 2);
    ctm_send_basic_reject(&c, 1, get_unacked(&c, 1, q, "m1"), false);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, rest);
    raw_close(&c);
}
END_TEST

/* ---- tag errors ---------------------------------------------------------------------- */

START_TEST(test_unknown_delivery_tag_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    ctm_send_basic_ack(&c, 1, 99, false);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 99", RAW_BASIC,
                             CTM_BASIC_ACK);
    ctm_send_basic_reject(&c, 1, 7, true);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 7", RAW_BASIC,
                             CTM_BASIC_REJECT);
    ctm_send_basic_nack(&c, 1, 5, false, true);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 5", RAW_BASIC,
                             CTM_BASIC_NACK);
    ctm_send_basic_ack(&c, 1, 0, false);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 0", RAW_BASIC,
                             CTM_BASIC_ACK);
    raw_close(&c);
}
END_TEST

START_TEST(test_double_ack_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 1);
    uint64_t t = get_unacked(&c, 1, q, "m1");
    ctm_send_basic_ack(&c, 1, t, false);
    ctm_send_basic_ack(&c, 1, t, false);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 1", RAW_BASIC,
                             CTM_BASIC_ACK);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_multiple_of_settled_tag_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 3);
    get_unacked(&c, 1, q, "m1");
    uint64_t t2 = get_unacked(&c, 1, q, "m2");
    get_unacked(&c, 1, q, "m3");
    ctm_send_basic_ack(&c, 1, t2, false);
    ctm_send_basic_ack(&c, 1, t2, true);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 2", RAW_BASIC,
                             CTM_BASIC_ACK);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_tag_of_other_channel_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 1);
    get_unacked(&c, 1, q, "m1");
    ctm_send_basic_ack(&c, 2, 1, false);
    ctm_expect_channel_error(&c, 2, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag 1", RAW_BASIC,
                             CTM_BASIC_ACK);
    /* Channel 1 still owns it. */
    ctm_send_basic_ack(&c, 1, 1, false);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_of_no_ack_delivery_406)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 1);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    uint64_t t = in.delivery_tag;
    ctm_in_free(&in);
    ctm_send_basic_ack(&c, 1, t, false);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - unknown delivery tag", RAW_BASIC,
                             CTM_BASIC_ACK);
    raw_close(&c);
}
END_TEST

/* ---- recover ------------------------------------------------------------------------- */

static void recover_test(bool async)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 3);
    ctm_basic_consume(&c, 1, q, "recovering", 0, NULL, 0);
    for (int i = 1; i <= 3; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ctm_in_free(&in);
    }
    ctm_send_basic_ack(&c, 1, 2, false);
    ctm_send_basic_recover(&c, 1, true, async);
    /* m1 and m3 again, flagged; recover-ok (sync only) may come before or between. */
    int redelivered = 0;
    bool ok_seen = false;
    while (redelivered < 2 || (!async && !ok_seen)) {
        ck_assert_msg(ctm_read(&c, &in, CT_REPLY_MS) == RAW_OK,
                      "waiting for redeliveries (%d of 2)%s", redelivered,
                      async || ok_seen ? "" : " and recover-ok");
        if (!async && ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_RECOVER_OK)) {
            ck_assert(!ok_seen);
            ok_seen = true;
        } else {
            char d[512];
            ck_assert_msg(ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_DELIVER), "unexpected %s",
                          ctm_in_describe(&in, d, sizeof(d)));
            ck_assert_str_eq((const char *)in.body, redelivered == 0 ? "m1" : "m3");
            ck_assert(in.redelivered);
            ck_assert_uint_gt(in.delivery_tag, 3);
            redelivered++;
        }
        ctm_in_free(&in);
    }
    raw_close(&c);
}

START_TEST(test_recover_requeue_redelivers)
{
    recover_test(false);
}
END_TEST

START_TEST(test_recover_async_requeue_redelivers)
{
    recover_test(true);
}
END_TEST

START_TEST(test_recover_without_requeue_540)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_basic_recover(&c, 1, false, true);
    ct_expect_connection_close(&c, RAW_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - requeue=false",
                               RAW_BASIC, CTM_BASIC_RECOVER_ASYNC);
    raw_close(&c);
    ct_open_channel(&c, S, 1);
    ctm_send_basic_recover(&c, 1, false, false);
    ct_expect_connection_close(&c, RAW_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - requeue=false",
                               RAW_BASIC, -1);
    raw_close(&c);
}
END_TEST

/* ---- requeue on close ------------------------------------------------------------------ */

START_TEST(test_requeue_on_close_original_position)
{
    static const char *const order[] = {"*m1", "*m3", "m4", "m5", "m6", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 6);
    get_unacked(&c, 1, q, "m1");
    uint64_t t2 = get_unacked(&c, 1, q, "m2");
    get_unacked(&c, 1, q, "m3");
    ctm_send_basic_ack(&c, 1, t2, false);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, order);
    raw_close(&c);
}
END_TEST

START_TEST(test_requeue_on_close_from_consumer)
{
    static const char *const order[] = {"*m1", "*m2", "*m3", "m4", "m5", NULL};
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 5);
    ctm_basic_qos(&c, 1, 3, false);
    ctm_basic_consume(&c, 1, q, "closer", 0, NULL, 0);
    for (int i = 1; i <= 3; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ctm_in_free(&in);
    }
    close_channel(&c, 1);
    expect_queue(&c, 2, q, order);
    raw_close(&c);
}
END_TEST

START_TEST(test_requeue_after_earlier_nack_keeps_order)
{
    static const char *const order[] = {"*m1", "*m2", "*m3", "*m4", "m5", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    publish_n(&c, 2, q, 5);
    get_unacked(&c, 1, q, "m1");
    get_unacked(&c, 1, q, "m2");
    uint64_t t3 = get_unacked(&c, 1, q, "m3");
    ctm_send_basic_nack(&c, 1, t3, false, true); /* m3 back first */
    /* m3 is next again; take it once more. */
    struct ctm_in in;
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    ck_assert_str_eq((const char *)in.body, "m3");
    ctm_in_free(&in);
    get_unacked(&c, 1, q, "m4");
    close_channel(&c, 1);
    expect_queue(&c, 2, q, order);
    raw_close(&c);
}
END_TEST

START_TEST(test_requeue_when_consumer_connection_drops)
{
    static const char *const order[] = {"*m1", "*m2", "*m4", NULL};
    struct raw_conn owner, consumer;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&owner, S, 1);
    ct_open_channel(&consumer, S, 1);
    ctm_name(q, sizeof(q), "consumer-drops");
    ctm_queue_declare(&owner, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    publish_n(&owner, 1, q, 4);
    ctm_basic_qos(&consumer, 1, 3, false);
    ctm_basic_consume(&consumer, 1, q, "vanishing", 0, NULL, 0);
    ctm_expect_deliver(&consumer, &in, 1, "m1");
    ctm_in_free(&in);
    ctm_expect_deliver(&consumer, &in, 1, "m2");
    ctm_in_free(&in);
    ctm_expect_deliver(&consumer, &in, 1, "m3");
    uint64_t t3 = in.delivery_tag;
    ctm_in_free(&in);
    ctm_wait_count(&owner, 1, q, 1);
    ctm_send_basic_ack(&consumer, 1, t3, false);
    /* The freed slot brings m4; then the client vanishes without a close. */
    ctm_expect_deliver(&consumer, &in, 1, "m4");
    ctm_in_free(&in);
    raw_close(&consumer);
    ctm_wait_count(&owner, 1, q, 3);
    expect_queue(&owner, 1, q, order);
    ctm_queue_delete(&owner, 1, q, 0);
    raw_close(&owner);
}
END_TEST

/* ---- unacked bookkeeping at scale and across queue deletion ---------------------------- */

START_TEST(test_many_unacked_settled_by_multiple_acks)
{
    enum { N = 10000 };
    static const char *const none[] = {NULL};
    struct raw_conn c;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    open2(&c, q, sizeof(q));
    raw_buf_init(&out);
    for (int i = 0; i < N; i++)
        ctm_put_publish(&out, &c, 2, "", q, 0, NULL, "x", 1, 0);
    ct_send(&c, out.data, out.len);
    raw_buf_free(&out);
    ctm_wait_count(&c, 2, q, N);
    ctm_basic_consume(&c, 1, q, "bulk", 0, NULL, 0);
    /* Ack every 100th with multiple=true, and a nack-requeue of one odd tag. */
    uint64_t requeued = 0;
    for (uint64_t t = 1; t <= N; t++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ck_assert_uint_eq(in.delivery_tag, t);
        ctm_in_free(&in);
        if (t == 4321) {
            ctm_send_basic_nack(&c, 1, t, false, true);
            requeued = t;
        } else if (t % 100 == 0) {
            ctm_send_basic_ack(&c, 1, t, true);
        }
    }
    ck_assert_uint_eq(requeued, 4321);
    /* The nacked one comes back once, redelivered. */
    ctm_expect_deliver(&c, &in, 1, "x");
    ck_assert(in.redelivered);
    ctm_send_basic_ack(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    close_channel(&c, 1);
    expect_queue(&c, 2, q, none);
    raw_close(&c);
}
END_TEST

START_TEST(test_ack_after_queue_deleted_ok)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "deleted-with-unacked");
    ctm_queue_declare(&c, 2, q, 0, NULL, NULL, 0, NULL, NULL);
    publish_n(&c, 2, q, 3);
    uint64_t t1 = get_unacked(&c, 1, q, "m1");
    uint64_t t2 = get_unacked(&c, 1, q, "m2");
    uint64_t t3 = get_unacked(&c, 1, q, "m3");
    ck_assert_uint_eq(ctm_queue_delete(&c, 2, q, 0), 0);
    /* The deliveries are still the channel's to settle: no error. */
    ctm_send_basic_ack(&c, 1, t1, false);
    ctm_send_basic_nack(&c, 1, t2, false, true);
    ctm_send_basic_reject(&c, 1, t3, false);
    ctm_basic_qos(&c, 1, 5, false); /* a round trip: the channel is still open */
    ctm_send_basic_ack(&c, 1, t1, false); /* but settled means settled */
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, "PRECONDITION_FAILED", RAW_BASIC,
                             CTM_BASIC_ACK);
    raw_close(&c);
}
END_TEST

START_TEST(test_close_with_unacked_of_deleted_queue)
{
    static const char *const back[] = {"*m1", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX], q2[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "gone-before-close");
    ctm_queue_declare(&c, 2, q, 0, NULL, NULL, 0, NULL, NULL);
    ctm_queue_temp(&c, 2, q2, sizeof(q2));
    publish_n(&c, 2, q, 2);
    publish_n(&c, 2, q2, 1);
    get_unacked(&c, 1, q, "m1");
    get_unacked(&c, 1, q2, "m1");
    get_unacked(&c, 1, q, "m2");
    ctm_queue_delete(&c, 2, q, 0);
    /* Closing requeues what still has a queue and drops the rest. */
    close_channel(&c, 1);
    expect_queue(&c, 2, q2, back);
    raw_close(&c);
}
END_TEST

static Suite *ack_suite(void)
{
    Suite *s = suite_create("ack");
    TCase *tc;

    tc = tcase_create("ack_nack_reject");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ack_removes_message);
    tcase_add_test(tc, test_ack_multiple);
    tcase_add_test(tc, test_ack_zero_multiple_acks_all);
    tcase_add_test(tc, test_ack_after_cancel_allowed);
    tcase_add_test(tc, test_nack_multiple_requeue);
    tcase_add_test(tc, test_nack_without_requeue_drops);
    tcase_add_test(tc, test_nack_multiple_skips_already_settled);
    tcase_add_test(tc, test_redelivery_keeps_properties);
    tcase_add_test(tc, test_reject_requeue);
    tcase_add_test(tc, test_reject_without_requeue_drops);
    suite_add_tcase(s, tc);

    tc = tcase_create("tag_errors");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_unknown_delivery_tag_406);
    tcase_add_test(tc, test_double_ack_406);
    tcase_add_test(tc, test_ack_multiple_of_settled_tag_406);
    tcase_add_test(tc, test_ack_tag_of_other_channel_406);
    tcase_add_test(tc, test_ack_of_no_ack_delivery_406);
    suite_add_tcase(s, tc);

    tc = tcase_create("recover");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_recover_requeue_redelivers);
    tcase_add_test(tc, test_recover_async_requeue_redelivers);
    tcase_add_test(tc, test_recover_without_requeue_540);
    suite_add_tcase(s, tc);

    tc = tcase_create("requeue_on_close");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_requeue_on_close_original_position);
    tcase_add_test(tc, test_requeue_on_close_from_consumer);
    tcase_add_test(tc, test_requeue_after_earlier_nack_keeps_order);
    tcase_add_test(tc, test_requeue_when_consumer_connection_drops);
    suite_add_tcase(s, tc);

    tc = tcase_create("bookkeeping");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_many_unacked_settled_by_multiple_acks);
    tcase_add_test(tc, test_ack_after_queue_deleted_ok);
    tcase_add_test(tc, test_close_with_unacked_of_deleted_queue);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_ack");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(ack_suite()));
}
