/*
 * check_chash.c - the x-consistent-hash exchange (RabbitMQ's plugin):
 * binding keys are weights, a key always lands in the same queue, load
 * follows weights, hash-header / hash-property, unbinding, and the 406
 * replies.  Distribution bounds sit far from the expected shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)
#define NKEYS 2000

static void chash_exchange(struct raw_conn *c, char *x, const char *types, ...)
{
    struct raw_buf t;
    va_list ap;
    ctm_name(x, CTM_NAME_MAX, "chash");
    raw_buf_init(&t);
    va_start(ap, types);
    cte_vtable(&t, types ? types : "", ap);
    va_end(ap);
    ctm_exchange_declare(c, 1, x, "x-consistent-hash", CTM_X_AUTO_DELETE, &t);
    raw_buf_free(&t);
}

/* n server-named queues bound to x with the given weights. */
static void bind_queues(struct raw_conn *c, const char *x, char q[][CTM_NAME_MAX],
                        const char *const *weights, int n)
{
    for (int i = 0; i < n; i++) {
        ctm_queue_temp(c, 1, q[i], CTM_NAME_MAX);
        ctm_queue_bind(c, 1, q[i], x, weights[i], NULL);
    }
}

/* Ready messages per queue. */
static void counts(struct raw_conn *c, char q[][CTM_NAME_MAX], int n, uint32_t *out)
{
    for (int i = 0; i < n; i++)
        out[i] = ctm_queue_count(c, 1, q[i], NULL);
}

/* Which of the n queues holds the single message sitting in them (-1: none). */
static int holder(struct raw_conn *c, char q[][CTM_NAME_MAX], int n)
{
    int who = -1;
    for (int i = 0; i < n; i++) {
        if (ctm_queue_purge(c, 1, q[i]) > 0) {
            ck_assert_msg(who < 0, "one message was routed to two queues");
            who = i;
        }
    }
    return who;
}

START_TEST(test_same_routing_key_same_queue)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[4][CTM_NAME_MAX], rk[32];
    static const char *const w[] = {"1", "1", "1", "1"};
    int first[40];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    bind_queues(&c, x, q, w, 4);
    ctm_confirm_select(&c, 1);
    uint64_t seq = 0;
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 40; k++) {
            snprintf(rk, sizeof(rk), "key-%d", k);
            ctm_publish_str(&c, 1, x, rk, "m");
            seq++;
            cte_expect_confirms_any(&c, 1, seq, seq, NULL);
            int who = holder(&c, q, 4);
            ck_assert_msg(who >= 0, "'%s' was not routed", rk);
            if (round == 0)
                first[k] = who;
            else
                ck_assert_msg(first[k] == who, "'%s' went to queue %d, then %d", rk, first[k],
                              who);
        }
    }
    raw_close(&c);
}
END_TEST

START_TEST(test_keys_spread_over_queues)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[4][CTM_NAME_MAX], rk[32];
    static const char *const w[] = {"1", "1", "1", "1"};
    uint32_t n[4];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    bind_queues(&c, x, q, w, 4);
    ctm_confirm_select(&c, 1);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(rk, sizeof(rk), "order-%d", k);
        ctm_publish_str(&c, 1, x, rk, "m");
    }
    cte_expect_confirms_any(&c, 1, 1, NKEYS, NULL);
    counts(&c, q, 4, n);
    ck_assert_uint_eq(n[0] + n[1] + n[2] + n[3], NKEYS);
    for (int i = 0; i < 4; i++)     /* expected 500 each */
        ck_assert_msg(n[i] > 250 && n[i] < 750, "queue %d got %u of %d", i, n[i], NKEYS);
    raw_close(&c);
}
END_TEST

START_TEST(test_weights_shape_the_load)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[2][CTM_NAME_MAX], rk[32];
    static const char *const w[] = {"1", "4"};
    uint32_t n[2];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    bind_queues(&c, x, q, w, 2);
    ctm_confirm_select(&c, 1);
    for (int k = 0; k < NKEYS; k++) {
        snprintf(rk, sizeof(rk), "w-%d", k);
        ctm_publish_str(&c, 1, x, rk, "m");
    }
    cte_expect_confirms_any(&c, 1, 1, NKEYS, NULL);
    counts(&c, q, 2, n);
    ck_assert_uint_eq(n[0] + n[1], NKEYS);
    /* expected 400 and 1600 */
    ck_assert_msg(n[1] > 2 * n[0], "weight 4 got %u, weight 1 got %u", n[1], n[0]);
    ck_assert_msg(n[0] > 150, "weight 1 got only %u of %d", n[0], NKEYS);
    raw_close(&c);
}
END_TEST

START_TEST(test_hash_header)
{
    struct raw_conn c;
    struct raw_buf h;
    char x[CTM_NAME_MAX], q[3][CTM_NAME_MAX], rk[32], val[32];
    static const char *const w[] = {"1", "1", "1"};
    uint32_t n[3];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, "S", "hash-header", "tenant");
    bind_queues(&c, x, q, w, 3);
    ctm_confirm_select(&c, 1);
    /* one header value, many routing keys: one queue */
    raw_buf_init(&h);
    cte_table(&h, "S", "tenant", "acme");
    for (int k = 0; k < 50; k++) {
        snprintf(rk, sizeof(rk), "rk-%d", k);
        cte_publish_headers(&c, 1, x, rk, 0, &h, "m");
    }
    raw_buf_free(&h);
    cte_expect_confirms_any(&c, 1, 1, 50, NULL);
    counts(&c, q, 3, n);
    ck_assert_msg((n[0] == 50 || n[1] == 50 || n[2] == 50), "one tenant spread: %u/%u/%u",
                  n[0], n[1], n[2]);
    for (int i = 0; i < 3; i++)
        ctm_queue_purge(&c, 1, q[i]);
    /* many header values, one routing key: spread */
    for (int k = 0; k < 600; k++) {
        snprintf(val, sizeof(val), "tenant-%d", k);
        raw_buf_init(&h);
        cte_table(&h, "S", "tenant", val);
        cte_publish_headers(&c, 1, x, "same-rk", 0, &h, "m");
        raw_buf_free(&h);
    }
    cte_expect_confirms_any(&c, 1, 51, 650, NULL);
    counts(&c, q, 3, n);
    ck_assert_uint_eq(n[0] + n[1] + n[2], 600);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(n[i] > 100, "header hashing left queue %d with %u of 600", i, n[i]);
    raw_close(&c);
}
END_TEST

START_TEST(test_hash_property_message_id)
{
    struct raw_conn c;
    struct ctm_props p;
    char x[CTM_NAME_MAX], q[3][CTM_NAME_MAX], id[32];
    static const char *const w[] = {"1", "1", "1"};
    uint32_t n[3];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, "S", "hash-property", "message_id");
    bind_queues(&c, x, q, w, 3);
    ctm_confirm_select(&c, 1);
    memset(&p, 0, sizeof(p));
    p.message_id = "always-the-same";
    for (int k = 0; k < 30; k++) {
        char rk[32];
        snprintf(rk, sizeof(rk), "rk-%d", k);
        ctm_publish(&c, 1, x, rk, 0, &p, "m", 1);
    }
    cte_expect_confirms_any(&c, 1, 1, 30, NULL);
    counts(&c, q, 3, n);
    ck_assert_msg((n[0] == 30 || n[1] == 30 || n[2] == 30), "one message_id spread: %u/%u/%u",
                  n[0], n[1], n[2]);
    for (int i = 0; i < 3; i++)
        ctm_queue_purge(&c, 1, q[i]);
    for (int k = 0; k < 600; k++) {
        snprintf(id, sizeof(id), "id-%d", k);
        p.message_id = id;
        ctm_publish(&c, 1, x, "fixed", 0, &p, "m", 1);
    }
    cte_expect_confirms_any(&c, 1, 31, 630, NULL);
    counts(&c, q, 3, n);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(n[i] > 100, "message_id hashing left queue %d with %u of 600", i, n[i]);
    raw_close(&c);
}
END_TEST

START_TEST(test_no_bindings_unroutable)
{
    struct raw_conn c;
    struct ctm_in in;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    ctm_publish(&c, 1, x, "any", CTM_P_MANDATORY, NULL, "nowhere", 7);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_unbind_moves_load)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[2][CTM_NAME_MAX], rk[32];
    static const char *const w[] = {"1", "1"};
    uint32_t n[2];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    bind_queues(&c, x, q, w, 2);
    ctm_queue_unbind(&c, 1, q[1], x, "1", NULL);
    ctm_confirm_select(&c, 1);
    for (int k = 0; k < 200; k++) {
        snprintf(rk, sizeof(rk), "u-%d", k);
        ctm_publish_str(&c, 1, x, rk, "m");
    }
    cte_expect_confirms_any(&c, 1, 1, 200, NULL);
    counts(&c, q, 2, n);
    ck_assert_msg(n[0] == 200 && n[1] == 0, "after unbind: %u and %u", n[0], n[1]);
    raw_close(&c);
}
END_TEST

/* ---- validation --------------------------------------------------------------------- */

START_TEST(test_binding_key_not_integer_406)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_send_queue_bind(&c, 1, q, x, "heavy", false, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - The binding key must be an integer: "
                             "<<\"heavy\">>",
                             RAW_QUEUE, CTM_QUEUE_BIND);
    raw_close(&c);
}
END_TEST

START_TEST(test_binding_key_not_positive_406)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    chash_exchange(&c, x, NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_send_queue_bind(&c, 1, q, x, "0", false, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - The binding key must be greater than 0",
                             RAW_QUEUE, CTM_QUEUE_BIND);
    ctm_send_queue_bind(&c, 1, q, x, "-3", false, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - The binding key must be greater than 0",
                             RAW_QUEUE, CTM_QUEUE_BIND);
    raw_close(&c);
}
END_TEST

START_TEST(test_unsupported_hash_property_406)
{
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "chash-badprop");
    raw_buf_init(&t);
    cte_table(&t, "S", "hash-property", "app_id");
    ctm_send_exchange_declare(&c, 1, x, "x-consistent-hash", 0, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - Unsupported property: app_id", RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_hash_header_and_property_exclusive_406)
{
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "chash-both");
    raw_buf_init(&t);
    cte_table(&t, "SS", "hash-header", "h", "hash-property", "message_id");
    ctm_send_exchange_declare(&c, 1, x, "x-consistent-hash", 0, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - hash-header and hash-property are mutually "
                             "exclusive",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_hash_header_not_a_string_406)
{
    CTM_EDAD_ONLY(S, "the RabbitMQ plugin fails with an internal error here");
    struct raw_conn c;
    struct raw_buf t;
    char x[CTM_NAME_MAX], frag[400];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "chash-intheader");
    raw_buf_init(&t);
    cte_table(&t, "I", "hash-header", 5);
    ctm_send_exchange_declare(&c, 1, x, "x-consistent-hash", 0, &t);
    raw_buf_free(&t);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid type 'signedint' for arg 'hash-header' in exchange "
             "'%s' in vhost '/'", x);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

static Suite *chash_suite(void)
{
    Suite *s = suite_create("chash");
    TCase *tc;

    tc = tcase_create("routing");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_same_routing_key_same_queue);
    tcase_add_test(tc, test_keys_spread_over_queues);
    tcase_add_test(tc, test_weights_shape_the_load);
    tcase_add_test(tc, test_hash_header);
    tcase_add_test(tc, test_hash_property_message_id);
    tcase_add_test(tc, test_no_bindings_unroutable);
    tcase_add_test(tc, test_unbind_moves_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_binding_key_not_integer_406);
    tcase_add_test(tc, test_binding_key_not_positive_406);
    tcase_add_test(tc, test_unsupported_hash_property_406);
    tcase_add_test(tc, test_hash_header_and_property_exclusive_406);
    tcase_add_test(tc, test_hash_header_not_a_string_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_chash");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(chash_suite()));
}
