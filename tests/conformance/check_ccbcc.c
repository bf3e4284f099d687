/*
 * check_ccbcc.c - RabbitMQ's sender-selected distribution: the CC and BCC
 * message headers (arrays of longstr) add routing keys for the default,
 * direct and topic exchanges; each queue still gets the message once; BCC
 * is removed from what consumers see, CC kept; mandatory and alternate
 * exchanges count every key; a CC/BCC header that is no array is a 406;
 * dead letters keep routing by CC unless the queue sets a routing key;
 * x-death's routing-keys list the CC keys but not the BCC ones (also after
 * a restart).
 * Cross-checked against RabbitMQ 3.10 (tests/tools/with-rabbitmq.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cte.h"

#define S (&harness_default)

/* An array of longstr under key (nothing when v is NULL). */
static void put_array(struct raw_buf *t, const char *key, const char *const *v)
{
    if (!v)
        return;
    raw_put_shortstr(t, key);
    raw_put_u8(t, 'A');
    size_t m = raw_table_begin(t);    /* the array's u32 length, patched alike */
    for (; *v; v++) {
        raw_put_u8(t, 'S');
        raw_put_longstr(t, *v, (uint32_t)strlen(*v));
    }
    raw_table_end(t, m);
}

/* Headers "app" = "kept", CC and BCC (NULL-terminated lists, NULL: absent). */
static void cc_headers(struct raw_buf *t, const char *const *cc, const char *const *bcc)
{
    raw_buf_init(t);
    size_t m = raw_table_begin(t);
    raw_table_put_longstr(t, "app", "kept");
    put_array(t, "CC", cc);
    put_array(t, "BCC", bcc);
    raw_table_end(t, m);
}

static void publish_cc(struct raw_conn *c, const char *x, const char *rk, unsigned flags,
                       const char *const *cc, const char *const *bcc, const char *body)
{
    struct raw_buf h;
    cc_headers(&h, cc, bcc);
    cte_publish_headers(c, 1, x, rk, flags, &h, body);
    raw_buf_free(&h);
}

static void expect_bodies(struct raw_conn *c, const char *q, const char *want)
{
    char got[1024];
    cte_drain_bodies(c, 1, q, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "queue '%s' held '%s', want '%s'", q, got, want);
}

static void temp_queues(struct raw_conn *c, char (*q)[CTM_NAME_MAX], int n, const char *base)
{
    for (int i = 0; i < n; i++) {
        char b[64];
        snprintf(b, sizeof(b), "%s%d", base, i);
        ctm_name(q[i], CTM_NAME_MAX, b);
        ctm_queue_declare(c, 1, q[i], CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    }
}

/* ---- routing ---------------------------------------------------------------------------------- */

START_TEST(test_default_exchange_routes_cc_and_bcc)
{
    struct raw_conn c;
    char q[4][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 4, "ccdef");
    const char *cc[] = {q[1], q[2], NULL};
    const char *bcc[] = {q[3], q[1], "no-such-queue-cc", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, "", q[0], 0, cc, bcc, "m");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    for (int i = 0; i < 4; i++)
        expect_bodies(&c, q[i], "m");      /* once each, q1 named twice */
    raw_close(&c);
}
END_TEST

START_TEST(test_direct_exchange_routes_every_key_once_per_queue)
{
    struct raw_conn c;
    char q[4][CTM_NAME_MAX], x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 4, "ccdir");
    ctm_name(x, sizeof(x), "ccdir-x");
    ctm_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_bind(&c, 1, q[0], x, "k0", NULL);
    ctm_queue_bind(&c, 1, q[1], x, "k1", NULL);
    ctm_queue_bind(&c, 1, q[2], x, "k2", NULL);
    ctm_queue_bind(&c, 1, q[3], x, "k0", NULL);
    ctm_queue_bind(&c, 1, q[3], x, "k1", NULL);
    const char *cc[] = {"k1", NULL};
    const char *bcc[] = {"k2", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, x, "k0", 0, cc, bcc, "d");
    publish_cc(&c, x, "none", 0, NULL, bcc, "b");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    expect_bodies(&c, q[0], "d");
    expect_bodies(&c, q[1], "d");
    expect_bodies(&c, q[2], "d,b");
    expect_bodies(&c, q[3], "d");          /* bound by k0 and k1: one copy */
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_topic_exchange_matches_cc_keys)
{
    struct raw_conn c;
    char q[2][CTM_NAME_MAX], x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 2, "cctopic");
    ctm_name(x, sizeof(x), "cctopic-x");
    ctm_exchange_declare(&c, 1, x, "topic", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_bind(&c, 1, q[0], x, "a.*", NULL);
    ctm_queue_bind(&c, 1, q[1], x, "#.z", NULL);
    const char *cc[] = {"a.b", "y.z", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, x, "nothing.here", 0, cc, NULL, "t");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    expect_bodies(&c, q[0], "t");
    expect_bodies(&c, q[1], "t");
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

/* Elements that are not longstr are ignored, as RabbitMQ ignores them. */
START_TEST(test_non_string_elements_ignored)
{
    struct raw_conn c;
    char q[2][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 2, "ccmixed");
    struct raw_buf h;
    raw_buf_init(&h);
    size_t m = raw_table_begin(&h);
    raw_put_shortstr(&h, "CC");
    raw_put_u8(&h, 'A');
    size_t a = raw_table_begin(&h);
    raw_put_u8(&h, 'I');
    raw_put_u32(&h, 7);
    raw_put_u8(&h, 'S');
    raw_put_longstr(&h, q[1], (uint32_t)strlen(q[1]));
    raw_table_end(&h, a);
    raw_table_end(&h, m);
    ctm_confirm_select(&c, 1);
    cte_publish_headers(&c, 1, "", q[0], 0, &h, "mixed");
    raw_buf_free(&h);
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    expect_bodies(&c, q[0], "mixed");
    expect_bodies(&c, q[1], "mixed");
    raw_close(&c);
}
END_TEST

/* ---- what consumers see ------------------------------------------------------------------------- */

START_TEST(test_bcc_removed_cc_kept)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[3][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 3, "cchdr");
    const char *cc[] = {q[1], NULL};
    const char *bcc[] = {q[2], NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, "", q[0], 0, cc, bcc, "h");
    publish_cc(&c, "", q[0], 0, NULL, bcc, "only-bcc");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    for (int i = 0; i < 3; i++) {
        char v[64];
        uint8_t type;
        const uint8_t *val;
        uint32_t len;
        ck_assert(ctm_basic_get(&c, 1, q[i], true, &in));
        ck_assert_str_eq((const char *)in.body, "h");
        ck_assert_msg(!cte_header_find(&in, "BCC", &type, &val, &len), "BCC delivered");
        ck_assert(cte_header_find(&in, "CC", &type, &val, &len));
        ck_assert_int_eq(type, 'A');
        ck_assert(cte_header_str(&in, "app", v, sizeof(v)));
        ck_assert_str_eq(v, "kept");
        ctm_in_free(&in);
    }
    /* BCC without CC: the other headers stay */
    for (int i = 0; i < 3; i += 2) {
        char v[64];
        uint8_t type;
        const uint8_t *val;
        uint32_t len;
        ck_assert(ctm_basic_get(&c, 1, q[i], true, &in));
        ck_assert_str_eq((const char *)in.body, "only-bcc");
        ck_assert(!cte_header_find(&in, "BCC", &type, &val, &len));
        ck_assert(cte_header_str(&in, "app", v, sizeof(v)));
        ctm_in_free(&in);
    }
    /* BCC alone: the headers property stays, as an empty table */
    struct raw_buf h;
    raw_buf_init(&h);
    size_t m = raw_table_begin(&h);
    put_array(&h, "BCC", bcc);
    raw_table_end(&h, m);
    cte_publish_headers(&c, 1, "", q[0], 0, &h, "alone");
    raw_buf_free(&h);
    ctm_expect_confirms(&c, 1, 3, 3, NULL);
    ck_assert(ctm_basic_get(&c, 1, q[2], true, &in));
    ck_assert_str_eq((const char *)in.body, "alone");
    const uint8_t *tbl;
    uint32_t tlen;
    ck_assert(ctm_prop_headers(&in, &tbl, &tlen));
    ck_assert_uint_eq(tlen, 0);
    ctm_in_free(&in);
    expect_bodies(&c, q[0], "alone");
    raw_close(&c);
}
END_TEST

/* ---- mandatory and alternate exchanges ------------------------------------------------------------ */

START_TEST(test_mandatory_counts_cc_keys)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[1][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 1, "ccmand");
    const char *cc[] = {q[0], NULL};
    const char *nowhere[] = {"no-such-queue-cc", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, "", "no-such-queue-rk", CTM_P_MANDATORY, cc, NULL, "routed");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);     /* no basic.return first */
    publish_cc(&c, "", "no-such-queue-rk", CTM_P_MANDATORY, NULL, nowhere, "lost");
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ctm_in_free(&in);
    ctm_expect_confirms(&c, 1, 2, 2, NULL);
    expect_bodies(&c, q[0], "routed");
    raw_close(&c);
}
END_TEST

START_TEST(test_alternate_exchange_only_when_no_key_matched)
{
    struct raw_conn c;
    char q[2][CTM_NAME_MAX], x[CTM_NAME_MAX], ae[CTM_NAME_MAX];
    struct raw_buf a;
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 2, "ccae");
    ctm_name(x, sizeof(x), "ccae-x");
    ctm_name(ae, sizeof(ae), "ccae-ae");
    ctm_exchange_declare(&c, 1, ae, "fanout", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_bind(&c, 1, q[1], ae, "", NULL);
    raw_buf_init(&a);
    ctm_table_str(&a, "alternate-exchange", ae);
    ctm_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, &a);
    raw_buf_free(&a);
    ctm_queue_bind(&c, 1, q[0], x, "bound", NULL);
    const char *cc[] = {"bound", NULL};
    const char *miss[] = {"unbound", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, x, "unbound-rk", 0, cc, NULL, "by-cc");
    publish_cc(&c, x, "unbound-rk", 0, miss, NULL, "to-ae");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    expect_bodies(&c, q[0], "by-cc");
    expect_bodies(&c, q[1], "to-ae");
    ctm_exchange_delete(&c, 1, x, 0);
    ctm_exchange_delete(&c, 1, ae, 0);
    raw_close(&c);
}
END_TEST

/* ---- validation ------------------------------------------------------------------------------------- */

START_TEST(test_cc_not_an_array_406)
{
    struct raw_conn c;
    char q[1][CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    temp_queues(&c, q, 1, "ccbad");
    struct raw_buf h;
    raw_buf_init(&h);
    cte_table(&h, "S", "CC", q[0]);
    cte_publish_headers(&c, 1, "", q[0], 0, &h, "bad");
    raw_buf_free(&h);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "unacceptable_type_in_header|CC|longstr", RAW_BASIC,
                             CTM_BASIC_PUBLISH);
    raw_buf_init(&h);
    cte_table(&h, "I", "BCC", 5);
    cte_publish_headers(&c, 1, "", q[0], 0, &h, "bad");
    raw_buf_free(&h);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "unacceptable_type_in_header|BCC|signedint", RAW_BASIC,
                             CTM_BASIC_PUBLISH);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q[0], NULL), 0);
    raw_close(&c);
}
END_TEST

/* ---- dead letters ------------------------------------------------------------------------------ */

/*
 * A dead letter is routed by its CC keys too when the queue has no
 * x-dead-letter-routing-key; with one, by that key alone and without the
 * CC header (RabbitMQ's rabbit_dead_letter).
 */
START_TEST(test_dead_letters_and_cc)
{
    struct raw_conn c;
    struct ctm_in in;
    char src[CTM_NAME_MAX], src2[CTM_NAME_MAX], qa[CTM_NAME_MAX], qb[CTM_NAME_MAX];
    char dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(dlx, sizeof(dlx), "ccdl-x");
    ctm_name(src, sizeof(src), "ccdl-src");
    ctm_name(src2, sizeof(src2), "ccdl-src2");
    ctm_name(qa, sizeof(qa), "ccdl-a");
    ctm_name(qb, sizeof(qb), "ccdl-b");
    ctm_exchange_declare(&c, 1, dlx, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(&c, 1, qa, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_declare(&c, 1, qb, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, qa, dlx, "k", NULL);
    ctm_queue_bind(&c, 1, qb, dlx, "cc-key", NULL);
    cte_queue_declare(&c, 1, src, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", dlx);
    cte_queue_declare(&c, 1, src2, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", dlx,
                      "x-dead-letter-routing-key", "k");
    const char *cc[] = {"cc-key", NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, "", src, 0, cc, NULL, "no-dlrk");
    publish_cc(&c, "", src2, 0, cc, NULL, "with-dlrk");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ck_assert(ctm_basic_get(&c, 1, src, false, &in));
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ck_assert(ctm_basic_get(&c, 1, src2, false, &in));
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ctm_wait_count(&c, 1, qa, 1);
    uint8_t type;
    const uint8_t *val;
    uint32_t len;
    ck_assert(ctm_basic_get(&c, 1, qa, true, &in));
    ck_assert_str_eq((const char *)in.body, "with-dlrk");
    ck_assert_msg(!cte_header_find(&in, "CC", &type, &val, &len), "CC kept with a dlrk");
    ctm_in_free(&in);
    expect_bodies(&c, qb, "no-dlrk");
    expect_bodies(&c, qa, "");
    ctm_exchange_delete(&c, 1, dlx, 0);
    raw_close(&c);
}
END_TEST

/* The x-death entry's routing-keys: exactly want (NULL-terminated). */
static void expect_death_keys(const struct ctm_in *in, const char *const *want)
{
    struct cte_death d[2];
    ck_assert_uint_eq(cte_deaths(in, d, 2), 1);
    unsigned n = 0;
    while (want[n])
        n++;
    ck_assert_msg(d[0].nrkeys == n, "x-death routing-keys has %u keys, want %u", d[0].nrkeys, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(strcmp(d[0].rkeys[i], want[i]) == 0, "routing-keys[%u] is '%s', want '%s'",
                      i, d[0].rkeys[i], want[i]);
}

/*
 * x-death's routing-keys are the key the message was published with and
 * its CC keys, never its BCC keys, with or without
 * x-dead-letter-routing-key (RabbitMQ's dead-lettering docs).
 */
START_TEST(test_x_death_routing_keys_cc_not_bcc)
{
    struct raw_conn c;
    struct ctm_in in;
    char src[CTM_NAME_MAX], src2[CTM_NAME_MAX], qa[CTM_NAME_MAX], qk[CTM_NAME_MAX];
    char dlx[CTM_NAME_MAX], cck[CTM_NAME_MAX], bcck[CTM_NAME_MAX], k[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(dlx, sizeof(dlx), "ccxd-x");
    ctm_name(src, sizeof(src), "ccxd-src");
    ctm_name(src2, sizeof(src2), "ccxd-src2");
    ctm_name(qa, sizeof(qa), "ccxd-a");
    ctm_name(qk, sizeof(qk), "ccxd-k");
    ctm_name(cck, sizeof(cck), "ccxd-cc");
    ctm_name(bcck, sizeof(bcck), "ccxd-bcc");
    ctm_name(k, sizeof(k), "ccxd-dlrk");
    ctm_exchange_declare(&c, 1, dlx, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(&c, 1, qa, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_declare(&c, 1, qk, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, qa, dlx, cck, NULL);
    ctm_queue_bind(&c, 1, qk, dlx, k, NULL);
    cte_queue_declare(&c, 1, src, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", dlx);
    cte_queue_declare(&c, 1, src2, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", dlx,
                      "x-dead-letter-routing-key", k);
    const char *cc[] = {cck, "ccxd-other", NULL};
    const char *bcc[] = {bcck, NULL};
    ctm_confirm_select(&c, 1);
    publish_cc(&c, "", src, 0, cc, bcc, "no-dlrk");
    publish_cc(&c, "", src2, 0, cc, bcc, "with-dlrk");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ck_assert(ctm_basic_get(&c, 1, src, false, &in));
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ck_assert(ctm_basic_get(&c, 1, src2, false, &in));
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    uint8_t type;
    const uint8_t *val;
    uint32_t len;
    /* no dlrk: routed by the CC key, CC kept */
    ctm_wait_count(&c, 1, qa, 1);
    ck_assert(ctm_basic_get(&c, 1, qa, true, &in));
    ck_assert_str_eq((const char *)in.body, "no-dlrk");
    ck_assert(cte_header_find(&in, "CC", &type, &val, &len));
    ck_assert(!cte_header_find(&in, "BCC", &type, &val, &len));
    const char *want1[] = {src, cck, "ccxd-other", NULL};
    expect_death_keys(&in, want1);
    ctm_in_free(&in);
    /* dlrk: CC gone from the message, but routing-keys as published */
    ctm_wait_count(&c, 1, qk, 1);
    ck_assert(ctm_basic_get(&c, 1, qk, true, &in));
    ck_assert_str_eq((const char *)in.body, "with-dlrk");
    ck_assert(!cte_header_find(&in, "CC", &type, &val, &len));
    const char *want2[] = {src2, cck, "ccxd-other", NULL};
    expect_death_keys(&in, want2);
    ctm_in_free(&in);
    expect_bodies(&c, qa, "");
    expect_bodies(&c, qk, "");
    ctm_exchange_delete(&c, 1, dlx, 0);
    raw_close(&c);
}
END_TEST

/*
 * A stored dead letter keeps its CC routing keys across a restart (the
 * store's meta block, docs/store.md).
 */
START_TEST(test_x_death_cc_keys_survive_restart)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server srv;
    char extra[700];
    snprintf(extra, sizeof(extra), "data_dir = %s/ccxd-restart\n", harness_scratch_dir());
    harness_start(&srv, extra);
    struct raw_conn c;
    struct ctm_in in;
    ct_open_channel(&c, &srv, 1);
    ctm_queue_declare(&c, 1, "ccxd-dead", CTM_Q_DURABLE, NULL, NULL, 0, NULL, NULL);
    cte_queue_declare(&c, 1, "ccxd-src", CTM_Q_DURABLE, "SS", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", "ccxd-dead");
    const char *cc[] = {"ccxd-c1", "ccxd-c2", NULL};
    struct raw_buf h;
    cc_headers(&h, cc, NULL);
    struct ctm_props p;
    memset(&p, 0, sizeof(p));
    p.headers = &h;
    p.delivery_mode = 2;
    ctm_confirm_select(&c, 1);
    ctm_publish(&c, 1, "", "ccxd-src", 0, &p, "kept", 4);
    raw_buf_free(&h);
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ck_assert(ctm_basic_get(&c, 1, "ccxd-src", false, &in));
    ctm_send_basic_reject(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ctm_wait_count(&c, 1, "ccxd-dead", 1);
    raw_close(&c);
    int st = harness_stop(&srv);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "edad stop status %d", st);
    harness_start(&srv, extra);
    ct_open_channel(&c, &srv, 1);
    ck_assert(ctm_basic_get(&c, 1, "ccxd-dead", true, &in));
    ck_assert_str_eq((const char *)in.body, "kept");
    const char *want[] = {"ccxd-src", "ccxd-c1", "ccxd-c2", NULL};
    expect_death_keys(&in, want);
    ctm_in_free(&in);
    raw_close(&c);
    harness_stop(&srv);
}
END_TEST

static Suite *ccbcc_suite(void)
{
    Suite *s = suite_create("ccbcc");
    TCase *tc = tcase_create("routing");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_default_exchange_routes_cc_and_bcc);
    tcase_add_test(tc, test_direct_exchange_routes_every_key_once_per_queue);
    tcase_add_test(tc, test_topic_exchange_matches_cc_keys);
    tcase_add_test(tc, test_non_string_elements_ignored);
    tcase_add_test(tc, test_bcc_removed_cc_kept);
    tcase_add_test(tc, test_mandatory_counts_cc_keys);
    tcase_add_test(tc, test_alternate_exchange_only_when_no_key_matched);
    tcase_add_test(tc, test_cc_not_an_array_406);
    tcase_add_test(tc, test_dead_letters_and_cc);
    tcase_add_test(tc, test_x_death_routing_keys_cc_not_bcc);
    tcase_add_test(tc, test_x_death_cc_keys_survive_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_ccbcc");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(ccbcc_suite()));
}
