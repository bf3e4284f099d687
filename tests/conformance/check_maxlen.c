/*
 * check_maxlen.c - x-max-length / x-max-length-bytes (ready bodies only)
 * with x-overflow drop-head, reject-publish (nack to confirming publishers,
 * silent drop otherwise, never basic.return) and reject-publish-dlx, and
 * the 406 replies.  maxlen x-death details: check_dlx.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

static void publish_confirmed(struct raw_conn *c, uint16_t ch, const char *exchange,
                              const char *rk, const char *const *bodies, size_t n,
                              uint64_t first_seq, struct ctm_confirms *st)
{
    for (size_t i = 0; i < n; i++)
        ctm_publish_str(c, ch, exchange, rk, bodies[i]);
    ctm_expect_confirms(c, ch, first_seq, first_seq + n - 1, st);
}

static void expect_bodies(struct raw_conn *c, const char *q, const char *want)
{
    char got[1024];
    cte_drain_bodies(c, 1, q, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "queue '%s' held '%s', want '%s'", q, got, want);
}

/* ---- drop-head ------------------------------------------------------------------ */

START_TEST(test_drop_head_keeps_newest)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const char *const b[] = {"m1", "m2", "m3", "m4"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "maxlen2");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-max-length", 2LL);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 4, 1, NULL);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 2);
    expect_bodies(&c, q, "m3,m4");
    raw_close(&c);
}
END_TEST

START_TEST(test_explicit_drop_head_overflow)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const char *const b[] = {"x", "y"};
    struct ctm_confirms st;
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "drophead");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "IS", "x-max-length", 1, "x-overflow",
                      "drop-head");
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 2, 1, &st);
    ck_assert_msg(st.nacked == 0, "drop-head must not nack publishers");
    expect_bodies(&c, q, "y");
    raw_close(&c);
}
END_TEST

START_TEST(test_max_length_zero_keeps_nothing)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const char *const b[] = {"gone1", "gone2"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "maxlen0");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "I", "x-max-length", 0);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 2, 1, NULL);
    ctm_wait_count(&c, 1, q, 0);
    expect_bodies(&c, q, "");
    raw_close(&c);
}
END_TEST

START_TEST(test_max_length_bytes_counts_body_octets)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const char *const b[] = {"aaaaa", "bbbbb", "ccccc"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "maxbytes");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-max-length-bytes", 10LL);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 3, 1, NULL);
    expect_bodies(&c, q, "bbbbb,ccccc");
    raw_close(&c);
}
END_TEST

START_TEST(test_both_limits_whichever_first)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    static const char *const small[] = {"aa", "bb", "cc", "dd"};
    static const char *const big[] = {"eeeeee"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "bothlimits");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "ll", "x-max-length", 3LL,
                      "x-max-length-bytes", 6LL);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, small, 4, 1, NULL);     /* the count limit bites */
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 3);
    publish_confirmed(&c, 1, "", q, big, 1, 5, NULL);       /* now the byte limit */
    expect_bodies(&c, q, "eeeeee");
    raw_close(&c);
}
END_TEST

/* Only ready messages count: an unacked one does not hold a place. */
START_TEST(test_unacked_messages_do_not_count)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    static const char *const b1[] = {"m1"};
    static const char *const b23[] = {"m2", "m3"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "maxlen-unacked");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "l", "x-max-length", 1LL);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b1, 1, 1, NULL);
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    publish_confirmed(&c, 1, "", q, b23, 2, 2, NULL);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 1);
    ctm_send_basic_ack(&c, 1, tag, false);
    expect_bodies(&c, q, "m3");
    raw_close(&c);
}
END_TEST

/* ---- reject-publish ---------------------------------------------------------------- */

START_TEST(test_reject_publish_nacks_confirms)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    static const char *const b[] = {"kept", "refused1", "refused2"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "rejpub");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lS", "x-max-length", 1LL, "x-overflow",
                      "reject-publish");
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 3, 1, &st);
    ck_assert_msg(st.acked == 1 && st.nacked == 2, "acked %llu nacked %llu, want 1 and 2",
                  (unsigned long long)st.acked, (unsigned long long)st.nacked);
    expect_bodies(&c, q, "kept");
    /* room again: accepted */
    static const char *const more[] = {"after"};
    publish_confirmed(&c, 1, "", q, more, 1, 4, &st);
    ck_assert_msg(st.acked == 1, "a publish into free space was nacked");
    expect_bodies(&c, q, "after");
    raw_close(&c);
}
END_TEST

START_TEST(test_reject_publish_silent_without_confirms)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "rejpub-silent");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lS", "x-max-length", 2LL, "x-overflow",
                      "reject-publish");
    for (int i = 1; i <= 5; i++) {
        char body[16];
        snprintf(body, sizeof(body), "s%d", i);
        ctm_publish_str(&c, 1, "", q, body);
    }
    ctm_wait_count(&c, 1, q, 2);
    ct_expect_silence(&c, 200);
    expect_bodies(&c, q, "s1,s2");
    raw_close(&c);
}
END_TEST

/* A rejected mandatory publish was routed: nack, never basic.return. */
START_TEST(test_reject_publish_mandatory_not_returned)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "rejpub-mandatory");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "IS", "x-max-length", 0, "x-overflow",
                      "reject-publish");
    ctm_confirm_select(&c, 1);
    ctm_publish(&c, 1, "", q, CTM_P_MANDATORY, NULL, "full", 4);
    ctm_expect_confirms(&c, 1, 1, 1, &st);
    ck_assert_uint_eq(st.nacked, 1);
    ct_expect_silence(&c, 200);
    raw_close(&c);
}
END_TEST

/* One full queue among the routed ones nacks the publish; the others still get it. */
START_TEST(test_reject_publish_one_of_two_queues)
{
    struct raw_conn c;
    struct ctm_confirms st;
    char full[CTM_NAME_MAX], ok[CTM_NAME_MAX], x[CTM_NAME_MAX];
    static const char *const b[] = {"fan"};
    ct_open_channel(&c, S, 1);
    ctm_name(full, sizeof(full), "rejpub-full");
    ctm_name(ok, sizeof(ok), "rejpub-ok");
    ctm_name(x, sizeof(x), "rejpub-fanout");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_AUTO_DELETE, NULL);
    cte_queue_declare(&c, 1, full, CTM_Q_EXCLUSIVE, "IS", "x-max-length", 0, "x-overflow",
                      "reject-publish");
    ctm_queue_declare(&c, 1, ok, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, full, x, "", NULL);
    ctm_queue_bind(&c, 1, ok, x, "", NULL);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, x, "", b, 1, 1, &st);
    ck_assert_msg(st.nacked == 1, "a publish refused by one of its queues must be nacked");
    expect_bodies(&c, ok, "fan");
    expect_bodies(&c, full, "");
    raw_close(&c);
}
END_TEST

START_TEST(test_reject_publish_dlx_nacks_and_dead_letters)
{
    struct raw_conn c;
    struct ctm_confirms st;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    static const char *const b[] = {"in", "over"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "rejpubdlx");
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lSSS", "x-max-length", 1LL, "x-overflow",
                      "reject-publish-dlx", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", dq);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 2, 1, &st);
    ck_assert_msg(st.acked == 1 && st.nacked == 1, "acked %llu nacked %llu, want 1 and 1",
                  (unsigned long long)st.acked, (unsigned long long)st.nacked);
    ctm_wait_count(&c, 1, dq, 1);
    ck_assert(ctm_basic_get(&c, 1, dq, true, &in));
    ck_assert_str_eq((const char *)in.body, "over");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    ck_assert_str_eq(d[0].reason, "maxlen");
    ck_assert_str_eq(d[0].queue, q);
    ctm_in_free(&in);
    expect_bodies(&c, q, "in");
    raw_close(&c);
}
END_TEST

/* reject-publish (without -dlx) does not dead-letter what it refuses. */
START_TEST(test_reject_publish_does_not_dead_letter)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    static const char *const b[] = {"in", "refused"};
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "rejpub-nodl");
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lSSS", "x-max-length", 1LL, "x-overflow",
                      "reject-publish", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", dq);
    ctm_confirm_select(&c, 1);
    publish_confirmed(&c, 1, "", q, b, 2, 1, NULL);
    harness_sleep_ms(100);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, dq, NULL), 0);
    raw_close(&c);
}
END_TEST

/* ---- validation ---------------------------------------------------------------------- */

static void invalid(struct raw_conn *c, const char *arg, const char *why, const char *types,
                    ...)
{
    char q[CTM_NAME_MAX], frag[512];
    struct raw_buf t;
    va_list ap;
    ctm_name(q, sizeof(q), "maxlenbad");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/'|%s", arg, q, why);
    raw_buf_init(&t);
    va_start(ap, types);
    cte_vtable(&t, types, ap);
    va_end(ap);
    ctm_send_queue_declare(c, 1, q, 0, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(c, 1, CTM_PRECONDITION_FAILED, frag, RAW_QUEUE, CTM_QUEUE_DECLARE);
}

START_TEST(test_max_length_negative_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    invalid(&c, "x-max-length", ": {value_negative,-1}", "I", "x-max-length", -1);
    invalid(&c, "x-max-length-bytes", ": {value_negative,-10}", "l", "x-max-length-bytes",
            -10LL);
    raw_close(&c);
}
END_TEST

START_TEST(test_max_length_not_integer_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    invalid(&c, "x-max-length", "longstr", "S", "x-max-length", "10");
    invalid(&c, "x-max-length-bytes", "bool", "t", "x-max-length-bytes", 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_overflow_unknown_406)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    invalid(&c, "x-overflow", ": invalid_overflow", "S", "x-overflow", "drop-tail");
    invalid(&c, "x-overflow", ": {unacceptable_type,signedint}", "I", "x-overflow", 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_limits_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "maxlenequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lS", "x-max-length", 10LL, "x-overflow",
                      "reject-publish");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '%s' in vhost "
             "'/': received '11' but current is '10'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "lS",
                            "x-max-length", 11LL, "x-overflow", "reject-publish");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-overflow' for queue '%s' in vhost "
             "'/': received 'drop-head' but current is 'reject-publish'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "lS",
                            "x-max-length", 10LL, "x-overflow", "drop-head");
    raw_close(&c);
}
END_TEST

static Suite *maxlen_suite(void)
{
    Suite *s = suite_create("maxlen");
    TCase *tc;

    tc = tcase_create("drop_head");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_drop_head_keeps_newest);
    tcase_add_test(tc, test_explicit_drop_head_overflow);
    tcase_add_test(tc, test_max_length_zero_keeps_nothing);
    tcase_add_test(tc, test_max_length_bytes_counts_body_octets);
    tcase_add_test(tc, test_both_limits_whichever_first);
    tcase_add_test(tc, test_unacked_messages_do_not_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("reject_publish");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reject_publish_nacks_confirms);
    tcase_add_test(tc, test_reject_publish_silent_without_confirms);
    tcase_add_test(tc, test_reject_publish_mandatory_not_returned);
    tcase_add_test(tc, test_reject_publish_one_of_two_queues);
    tcase_add_test(tc, test_reject_publish_dlx_nacks_and_dead_letters);
    tcase_add_test(tc, test_reject_publish_does_not_dead_letter);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_max_length_negative_406);
    tcase_add_test(tc, test_max_length_not_integer_406);
    tcase_add_test(tc, test_overflow_unknown_406);
    tcase_add_test(tc, test_limits_redeclare_inequivalent_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_maxlen");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(maxlen_suite()));
}
