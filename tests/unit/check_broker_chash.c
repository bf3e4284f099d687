/*
 * check_broker_chash.c - x-consistent-hash exchanges: binding-key and
 * argument validation with RabbitMQ's texts, weighted distribution, the
 * same key always to the same queue, adding a queue moves only keys to it,
 * hash-header and hash-property, exchange destinations, unbinding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

#define ASSERT_ERR(call, want_code, want_text)                                     \
    do {                                                                          \
        memset(&E, 0, sizeof(E));                                                 \
        ck_assert_msg((call) != EDAD_OK, "expected failure of %s", #call);        \
        ck_assert_uint_eq(E.code, (want_code));                                   \
        ck_assert_str_eq(E.text, (want_text));                                    \
    } while (0)

static edad_status xdecl(const char *name, const struct broker_table *args)
{
    struct exchange_declare d = {.name = S(name), .type = S("x-consistent-hash"), .args = args};
    return exchange_declare(V, &d, &E);
}

static edad_status bind_key(const char *q, const char *x, const char *key)
{
    return queue_bind(V, S(q), S(x), S(key), NULL, NULL, &E);
}

/* Which of qs got the message just published (exactly one). */
static int which(struct queue **qs, int n, uint32_t *before)
{
    int hit = -1;
    for (int i = 0; i < n; i++) {
        uint32_t r = ready(qs[i]);
        if (r != before[i]) {
            ck_assert_int_eq(hit, -1);
            ck_assert_uint_eq(r, before[i] + 1);
            hit = i;
        }
        before[i] = r;
    }
    return hit;
}

START_TEST(chash_validation)
{
    struct targs ta;
    mk_queue("q");
    ck_assert_int_eq(xdecl("h", NULL), EDAD_OK);
    ASSERT_ERR(bind_key("q", "h", "abc"), 406,
               "PRECONDITION_FAILED - The binding key must be an integer: <<\"abc\">>");
    ASSERT_ERR(bind_key("q", "h", ""), 406,
               "PRECONDITION_FAILED - The binding key must be an integer: <<\"\">>");
    ASSERT_ERR(bind_key("q", "h", "0"), 406,
               "PRECONDITION_FAILED - The binding key must be greater than 0");
    ASSERT_ERR(bind_key("q", "h", "-3"), 406,
               "PRECONDITION_FAILED - The binding key must be greater than 0");
    ck_assert_int_eq(bind_key("q", "h", "+5"), EDAD_OK);
    ck_assert_int_eq(bind_key("q", "h", "007"), EDAD_OK);
    /* unbinding a key that never was valid is fine */
    ck_assert_int_eq(queue_unbind(V, S("q"), S("h"), S("abc"), NULL, NULL, &E), EDAD_OK);

    ta_init(&ta);
    ta_str(&ta, "hash-header", "h");
    ta_str(&ta, "hash-property", "message_id");
    ASSERT_ERR(xdecl("h2", &ta.t), 406,
               "PRECONDITION_FAILED - hash-header and hash-property are mutually exclusive");
    ta_init(&ta);
    ASSERT_ERR(xdecl("h2", ta_str(&ta, "hash-property", "priority")), 406,
               "PRECONDITION_FAILED - Unsupported property: priority");
    ta_init(&ta);
    ASSERT_ERR(xdecl("h2", ta_int(&ta, "hash-header", BROKER_V_I32, 1)), 406,
               "PRECONDITION_FAILED - invalid type 'signedint' for arg 'hash-header' in "
               "exchange 'h2' in vhost '/'");
    ck_assert_ptr_null(exchange_find(V, S("h2")));
    ta_init(&ta);
    ck_assert_int_eq(xdecl("h3", ta_str(&ta, "hash-property", "timestamp")), EDAD_OK);
    struct exchange_info info;
    exchange_get_info(exchange_find(V, S("h3")), &info);
    ck_assert_str_eq(info.type, "x-consistent-hash");
}
END_TEST

START_TEST(chash_weighted_and_stable)
{
    enum { N = 20000 };
    struct queue *qs[3] = {mk_queue("q1"), mk_queue("q2"), mk_queue("q3")};
    ck_assert_int_eq(xdecl("h", NULL), EDAD_OK);
    mk_bind("q1", "h", "1", NULL);
    mk_bind("q2", "h", "1", NULL);
    mk_bind("q3", "h", "2", NULL);
    char rk[32];
    uint32_t before[3] = {0, 0, 0};
    static int first[N];
    for (int i = 0; i < N; i++) {
        snprintf(rk, sizeof(rk), "key-%d", i);
        ck_assert_int_eq(pub("h", rk, "m"), 1);
        first[i] = which(qs, 3, before);
    }
    /* weights 1:1:2, within a few percent */
    ck_assert_uint_gt(ready(qs[0]), N / 4 - N / 25);
    ck_assert_uint_lt(ready(qs[0]), N / 4 + N / 25);
    ck_assert_uint_gt(ready(qs[1]), N / 4 - N / 25);
    ck_assert_uint_lt(ready(qs[1]), N / 4 + N / 25);
    ck_assert_uint_gt(ready(qs[2]), N / 2 - N / 25);
    ck_assert_uint_lt(ready(qs[2]), N / 2 + N / 25);
    /* the same key goes to the same queue */
    for (int i = 0; i < N; i += 97) {
        snprintf(rk, sizeof(rk), "key-%d", i);
        pub("h", rk, "m");
        ck_assert_int_eq(which(qs, 3, before), first[i]);
    }
}
END_TEST

START_TEST(chash_adding_moves_only_to_new)
{
    enum { N = 5000 };
    struct queue *qs[4] = {mk_queue("q1"), mk_queue("q2"), mk_queue("q3"), mk_queue("q4")};
    ck_assert_int_eq(xdecl("h", NULL), EDAD_OK);
    mk_bind("q1", "h", "3", NULL);
    mk_bind("q2", "h", "3", NULL);
    mk_bind("q3", "h", "3", NULL);
    char rk[32];
    uint32_t before[4] = {0, 0, 0, 0};
    static int first[N];
    for (int i = 0; i < N; i++) {
        snprintf(rk, sizeof(rk), "%d", i * 7919);
        pub("h", rk, "m");
        first[i] = which(qs, 4, before);
    }
    mk_bind("q4", "h", "3", NULL);
    int moved = 0;
    for (int i = 0; i < N; i++) {
        snprintf(rk, sizeof(rk), "%d", i * 7919);
        pub("h", rk, "m");
        int now = which(qs, 4, before);
        if (now != first[i]) {
            ck_assert_int_eq(now, 3);
            moved++;
        }
    }
    ck_assert_int_gt(moved, N / 4 - N / 20);
    ck_assert_int_lt(moved, N / 4 + N / 20);
    /* the last queue goes: everything back where it was */
    ck_assert_int_eq(queue_unbind(V, S("q4"), S("h"), S("3"), NULL, NULL, &E), EDAD_OK);
    for (int i = 0; i < N; i += 13) {
        snprintf(rk, sizeof(rk), "%d", i * 7919);
        pub("h", rk, "m");
        ck_assert_int_eq(which(qs, 4, before), first[i]);
    }
}
END_TEST

START_TEST(chash_bindings_edge_cases)
{
    struct queue *q1 = mk_queue("q1"), *q2 = mk_queue("q2");
    ck_assert_int_eq(xdecl("h", NULL), EDAD_OK);
    ck_assert_int_eq(pub("h", "a", "m"), 0);          /* no bindings: unroutable */
    mk_bind("q1", "h", "1", NULL);
    mk_bind("q1", "h", "5", NULL);     /* second binding to q1: one set of buckets */
    for (int i = 0; i < 50; i++) {
        char rk[16];
        snprintf(rk, sizeof(rk), "%d", i);
        ck_assert_int_eq(pub("h", rk, "m"), 1);
    }
    ck_assert_uint_eq(ready(q1), 50);
    /* the first binding goes: the other one takes over */
    ck_assert_int_eq(queue_unbind(V, S("q1"), S("h"), S("1"), NULL, NULL, &E), EDAD_OK);
    ck_assert_int_eq(pub("h", "x", "m"), 1);
    ck_assert_uint_eq(ready(q1), 51);
    mk_bind("q2", "h", "1", NULL);
    /* a deleted queue leaves the ring */
    ck_assert_int_eq(queue_delete(V, S("q1"), NULL, false, false, NULL, &E), EDAD_OK);
    for (int i = 0; i < 20; i++) {
        char rk[16];
        snprintf(rk, sizeof(rk), "k%d", i);
        ck_assert_int_eq(pub("h", rk, "m"), 1);
    }
    ck_assert_uint_eq(ready(q2), 20);
    /* exchange destinations */
    struct queue *qx = mk_queue("qx");
    mk_exchange("fan", "fanout");
    mk_bind("qx", "fan", "", NULL);
    ck_assert_int_eq(exchange_bind(V, S("fan"), S("h"), S("1000"), NULL, &E), EDAD_OK);
    int to_x = 0;
    for (int i = 0; i < 200; i++) {
        char rk[16];
        snprintf(rk, sizeof(rk), "e%d", i);
        uint32_t before = ready(qx);
        ck_assert_int_eq(pub("h", rk, "m"), 1);
        to_x += ready(qx) != before;
    }
    ck_assert_int_gt(to_x, 150);
    ck_assert_int_eq(exchange_delete(V, S("h"), false, &E), EDAD_OK);
}
END_TEST

START_TEST(chash_hash_header)
{
    struct targs ta, h;
    struct queue *qs[3] = {mk_queue("q1"), mk_queue("q2"), mk_queue("q3")};
    ta_init(&ta);
    ck_assert_int_eq(xdecl("h", ta_str(&ta, "hash-header", "user")), EDAD_OK);
    for (int i = 0; i < 3; i++) {
        char q[8];
        snprintf(q, sizeof(q), "q%d", i + 1);
        mk_bind(q, "h", "10", NULL);
    }
    uint32_t before[3] = {0, 0, 0};
    int seen[3] = {0, 0, 0};
    for (int u = 0; u < 60; u++) {
        char v[16];
        snprintf(v, sizeof(v), "user-%d", u);
        int first = -1;
        for (int rep = 0; rep < 3; rep++) {
            char rk[16];
            snprintf(rk, sizeof(rk), "rk%d", rep * 1000 + u);   /* routing key ignored */
            ta_init(&h);
            ck_assert_int_eq(pub_h("h", rk, "m", ta_str(&h, "user", v), NULL), 1);
            int w = which(qs, 3, before);
            if (first < 0)
                first = w;
            ck_assert_int_eq(w, first);
        }
        seen[first]++;
    }
    ck_assert_int_gt(seen[0], 0);
    ck_assert_int_gt(seen[1], 0);
    ck_assert_int_gt(seen[2], 0);
    /* without the header: always the same queue */
    int first = -1;
    for (int i = 0; i < 20; i++) {
        char rk[16];
        snprintf(rk, sizeof(rk), "%d", i);
        ck_assert_int_eq(pub("h", rk, "m"), 1);
        int w = which(qs, 3, before);
        if (first < 0)
            first = w;
        ck_assert_int_eq(w, first);
    }
}
END_TEST

/* hash-property comes from the codec: the body stands for message_id here. */
static bool body_as_message_id(void *ctx, const struct message *m, const char *name,
                               struct arena *a, struct edad_bytes *out)
{
    EDAD_UNUSED(ctx);
    EDAD_UNUSED(a);
    if (strcmp(name, "message_id") != 0)
        return false;
    *out = message_body(m);
    return true;
}

START_TEST(chash_hash_property)
{
    struct targs ta;
    struct broker_codec codec = {.property = body_as_message_id};
    broker_set_codec(B, &codec);
    struct queue *qs[2] = {mk_queue("q1"), mk_queue("q2")};
    ta_init(&ta);
    ck_assert_int_eq(xdecl("h", ta_str(&ta, "hash-property", "message_id")), EDAD_OK);
    mk_bind("q1", "h", "1", NULL);
    mk_bind("q2", "h", "1", NULL);
    uint32_t before[2] = {0, 0};
    int seen[2] = {0, 0};
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "id-%d", i);
        ck_assert_int_eq(pub("h", "a", id), 1);
        int w = which(qs, 2, before);
        ck_assert_int_eq(pub("h", "b", id), 1);
        ck_assert_int_eq(which(qs, 2, before), w);
        seen[w]++;
    }
    ck_assert_int_gt(seen[0], 5);
    ck_assert_int_gt(seen[1], 5);
}
END_TEST

static Suite *chash_suite(void)
{
    Suite *s = suite_create("broker_chash");
    TCase *tc = tcase_create("chash");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chash_validation);
    tcase_add_test(tc, chash_weighted_and_stable);
    tcase_add_test(tc, chash_adding_moves_only_to_new);
    tcase_add_test(tc, chash_bindings_edge_cases);
    tcase_add_test(tc, chash_hash_header);
    tcase_add_test(tc, chash_hash_property);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(chash_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
