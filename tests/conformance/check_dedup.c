/*
 * check_dedup.c - LavinMQ-style deduplication on queues and exchanges:
 * x-message-deduplication, x-deduplication-header, x-cache-size (oldest
 * forgotten first), x-cache-ttl (argument or per-message header); duplicates
 * dropped yet confirmed; 406 for wrong types.  Restart survival belongs to
 * the durability suites.  Skipped against brokers without deduplication.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)
#define NEEDS_DEDUP() CTM_EDAD_ONLY(S, "LavinMQ-style deduplication is not in RabbitMQ")
#define KEY_HEADER "x-deduplication-header"

/* Publish body with header `hdr` = key (string), or no headers when key is NULL. */
static void publish_key(struct raw_conn *c, const char *x, const char *rk, const char *hdr,
                        const char *key, const char *body)
{
    struct raw_buf h;
    if (!key) {
        ctm_publish_str(c, 1, x, rk, body);
        return;
    }
    raw_buf_init(&h);
    cte_table(&h, "S", hdr, key);
    cte_publish_headers(c, 1, x, rk, 0, &h, body);
    raw_buf_free(&h);
}

static void expect_bodies(struct raw_conn *c, const char *q, const char *want)
{
    char got[1024];
    cte_drain_bodies(c, 1, q, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "queue '%s' held '%s', want '%s'", q, got, want);
}

START_TEST(test_queue_drops_duplicates_and_confirms_them)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedupq");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-message-deduplication", 1);
    ctm_confirm_select(&c, 1);
    publish_key(&c, "", q, KEY_HEADER, "k1", "first-k1");
    publish_key(&c, "", q, KEY_HEADER, "k1", "second-k1");
    publish_key(&c, "", q, KEY_HEADER, "k2", "first-k2");
    publish_key(&c, "", q, KEY_HEADER, NULL, "keyless-1");
    publish_key(&c, "", q, KEY_HEADER, NULL, "keyless-2");
    publish_key(&c, "", q, KEY_HEADER, "k2", "second-k2");
    ctm_expect_confirms(&c, 1, 1, 6, &st);
    ck_assert_msg(st.acked == 6 && st.nacked == 0, "duplicates must be confirmed (acked %llu)",
                  (unsigned long long)st.acked);
    expect_bodies(&c, q, "first-k1,first-k2,keyless-1,keyless-2");
    raw_close(&c);
}
END_TEST

/* A consumer never sees the duplicate either. */
START_TEST(test_consumer_never_sees_duplicates)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct ctm_in ins[2];
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "dedup-consumed");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-message-deduplication", 1);
    ctm_basic_consume(&c, 2, q, "reader", CTM_C_NO_ACK, NULL, 0);
    publish_key(&c, "", q, KEY_HEADER, "same", "a");
    publish_key(&c, "", q, KEY_HEADER, "same", "b");
    publish_key(&c, "", q, KEY_HEADER, "other", "c");
    cte_collect(&c, 2, ins, 2, false);
    ck_assert_str_eq((const char *)ins[0].body, "a");
    ck_assert_str_eq((const char *)ins[1].body, "c");
    cte_ins_free(ins, 2);
    ct_expect_silence(&c, 100);
    raw_close(&c);
}
END_TEST

/* The key may sit in another header, named by x-deduplication-header. */
START_TEST(test_custom_key_header)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-custom");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "tS", "x-message-deduplication", 1,
                      "x-deduplication-header", "order-id");
    ctm_confirm_select(&c, 1);
    publish_key(&c, "", q, "order-id", "o-1", "a");
    publish_key(&c, "", q, "order-id", "o-1", "b");
    publish_key(&c, "", q, KEY_HEADER, "o-2", "c");     /* the default header is ignored now */
    publish_key(&c, "", q, KEY_HEADER, "o-2", "d");
    ctm_expect_confirms(&c, 1, 1, 4, NULL);
    expect_bodies(&c, q, "a,c,d");
    raw_close(&c);
}
END_TEST

/* Non-string keys compare by value too. */
START_TEST(test_integer_keys)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf h;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-int");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-message-deduplication", 1);
    ctm_confirm_select(&c, 1);
    for (int i = 0; i < 3; i++) {
        char body[16];
        snprintf(body, sizeof(body), "n%d", i);
        raw_buf_init(&h);
        cte_table(&h, "I", KEY_HEADER, i == 2 ? 43 : 42);
        cte_publish_headers(&c, 1, "", q, 0, &h, body);
        raw_buf_free(&h);
    }
    ctm_expect_confirms(&c, 1, 1, 3, NULL);
    expect_bodies(&c, q, "n0,n2");
    raw_close(&c);
}
END_TEST

/* x-cache-size bounds the remembered keys; the oldest go first. */
START_TEST(test_cache_size_forgets_oldest)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-size");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "tI", "x-message-deduplication", 1,
                      "x-cache-size", 2);
    ctm_confirm_select(&c, 1);
    publish_key(&c, "", q, KEY_HEADER, "k1", "k1a");
    publish_key(&c, "", q, KEY_HEADER, "k2", "k2a");
    publish_key(&c, "", q, KEY_HEADER, "k3", "k3a");   /* k1 forgotten */
    publish_key(&c, "", q, KEY_HEADER, "k3", "k3b");   /* still known: dropped */
    publish_key(&c, "", q, KEY_HEADER, "k1", "k1b");   /* new again */
    ctm_expect_confirms(&c, 1, 1, 5, NULL);
    expect_bodies(&c, q, "k1a,k2a,k3a,k1b");
    raw_close(&c);
}
END_TEST

/* x-cache-ttl (milliseconds): a key is forgotten after it. */
START_TEST(test_cache_ttl_forgets_keys)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-ttl");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "tI", "x-message-deduplication", 1,
                      "x-cache-ttl", 100);
    ctm_confirm_select(&c, 1);
    publish_key(&c, "", q, KEY_HEADER, "t", "early");
    publish_key(&c, "", q, KEY_HEADER, "t", "dup");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    harness_sleep_ms(300);
    publish_key(&c, "", q, KEY_HEADER, "t", "after-ttl");
    ctm_expect_confirms(&c, 1, 3, 3, NULL);
    expect_bodies(&c, q, "early,after-ttl");
    raw_close(&c);
}
END_TEST

/* A per-message x-cache-ttl header overrides the default (here: none, remember forever). */
START_TEST(test_per_message_cache_ttl)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf h;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-msgttl");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-message-deduplication", 1);
    ctm_confirm_select(&c, 1);
    raw_buf_init(&h);
    cte_table(&h, "SI", KEY_HEADER, "short", "x-cache-ttl", 100);
    cte_publish_headers(&c, 1, "", q, 0, &h, "short-1");
    raw_buf_free(&h);
    publish_key(&c, "", q, KEY_HEADER, "long", "long-1");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    harness_sleep_ms(300);
    publish_key(&c, "", q, KEY_HEADER, "short", "short-2");
    publish_key(&c, "", q, KEY_HEADER, "long", "long-2");
    ctm_expect_confirms(&c, 1, 3, 4, NULL);
    expect_bodies(&c, q, "short-1,long-1,short-2");
    raw_close(&c);
}
END_TEST

/* Exchange-level: a duplicate is not routed to any queue. */
START_TEST(test_exchange_drops_duplicates_before_routing)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf t;
    struct ctm_confirms st;
    char x[CTM_NAME_MAX], q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "dedupx");
    raw_buf_init(&t);
    cte_table(&t, "t", "x-message-deduplication", 1);
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_AUTO_DELETE, &t);
    raw_buf_free(&t);
    ctm_queue_temp(&c, 1, q1, sizeof(q1));
    ctm_queue_temp(&c, 1, q2, sizeof(q2));
    ctm_queue_bind(&c, 1, q1, x, "", NULL);
    ctm_queue_bind(&c, 1, q2, x, "", NULL);
    ctm_confirm_select(&c, 1);
    publish_key(&c, x, "", KEY_HEADER, "e1", "once");
    publish_key(&c, x, "", KEY_HEADER, "e1", "twice");
    publish_key(&c, x, "", KEY_HEADER, "e2", "other");
    cte_expect_confirms_any(&c, 1, 1, 3, &st);
    ck_assert_msg(st.nacked == 0, "a duplicate must not be nacked");
    expect_bodies(&c, q1, "once,other");
    expect_bodies(&c, q2, "once,other");
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

/* Exchange-level options: x-cache-size and x-deduplication-header apply as for queues. */
START_TEST(test_exchange_cache_size_and_header)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "dedupx-opts");
    raw_buf_init(&t);
    cte_table(&t, "tIS", "x-message-deduplication", 1, "x-cache-size", 1,
              "x-deduplication-header", "msg-key");
    ctm_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, &t);
    raw_buf_free(&t);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_confirm_select(&c, 1);
    publish_key(&c, x, "k", "msg-key", "a", "a1");
    publish_key(&c, x, "k", "msg-key", "a", "a2");     /* dropped */
    publish_key(&c, x, "k", "msg-key", "b", "b1");     /* a forgotten */
    publish_key(&c, x, "k", "msg-key", "a", "a3");
    ctm_expect_confirms(&c, 1, 1, 4, NULL);
    expect_bodies(&c, q, "a1,b1,a3");
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

/* A duplicate is confirmed and, with mandatory, not returned. */
START_TEST(test_duplicate_mandatory_not_returned)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf h;
    struct ctm_confirms st;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-mandatory");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "t", "x-message-deduplication", 1);
    ctm_confirm_select(&c, 1);
    raw_buf_init(&h);
    cte_table(&h, "S", KEY_HEADER, "m");
    cte_publish_headers(&c, 1, "", q, CTM_P_MANDATORY, &h, "one");
    cte_publish_headers(&c, 1, "", q, CTM_P_MANDATORY, &h, "two");
    raw_buf_free(&h);
    ctm_expect_confirms(&c, 1, 1, 2, &st);      /* fails on a basic.return */
    ck_assert_uint_eq(st.acked, 2);
    expect_bodies(&c, q, "one");
    raw_close(&c);
}
END_TEST

/* ---- validation ---------------------------------------------------------------------- */

START_TEST(test_queue_dedup_arguments_wrong_type_406)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dedup-bad");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|x-cache-size", "tS",
                            "x-message-deduplication", 1, "x-cache-size", "many");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|x-cache-ttl", "tS", "x-message-deduplication",
                            1, "x-cache-ttl", "long");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|x-deduplication-header", "tI",
                            "x-message-deduplication", 1, "x-deduplication-header", 7);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|x-message-deduplication|signedint", "I",
                            "x-message-deduplication", 1);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|x-cache-size|{value_zero,0}", "tI",
                            "x-message-deduplication", 1, "x-cache-size", 0);
    ck_assert(!cte_queue_exists(&c, 1, q));
    raw_close(&c);
}
END_TEST

START_TEST(test_exchange_dedup_arguments_wrong_type_406)
{
    NEEDS_DEDUP();
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "dedupx-bad");
    raw_buf_init(&t);
    cte_table(&t, "tS", "x-message-deduplication", 1, "x-cache-ttl", "soon");
    ctm_send_exchange_declare(&c, 1, x, "direct", 0, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, "PRECONDITION_FAILED|x-cache-ttl",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

static Suite *dedup_suite(void)
{
    Suite *s = suite_create("dedup");
    TCase *tc;

    tc = tcase_create("queue");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_queue_drops_duplicates_and_confirms_them);
    tcase_add_test(tc, test_consumer_never_sees_duplicates);
    tcase_add_test(tc, test_custom_key_header);
    tcase_add_test(tc, test_integer_keys);
    tcase_add_test(tc, test_cache_size_forgets_oldest);
    tcase_add_test(tc, test_cache_ttl_forgets_keys);
    tcase_add_test(tc, test_per_message_cache_ttl);
    tcase_add_test(tc, test_duplicate_mandatory_not_returned);
    suite_add_tcase(s, tc);

    tc = tcase_create("exchange");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_exchange_drops_duplicates_before_routing);
    tcase_add_test(tc, test_exchange_cache_size_and_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_queue_dedup_arguments_wrong_type_406);
    tcase_add_test(tc, test_exchange_dedup_arguments_wrong_type_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_dedup");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(dedup_suite()));
}
