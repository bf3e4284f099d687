/*
 * check_hotpath.c - the per-message shortcuts of issue 6 keep behaviour:
 * queue_find's name cache forgets deleted queues (a re-declared queue of
 * the same name gets the messages), many queues sharing cache slots route
 * right, the ready storage reused after draining keeps FIFO order, and
 * shortstr UTF-8 checking (word-at-a-time ASCII skip) rejects a bad byte
 * at any position.  Test code only.
 */
#include <stdio.h>
#include <string.h>

#include "check_broker_helpers.h"
#include "edad/amqp.h"

START_TEST(qcache_forgets_deleted_queue)
{
    struct queue *q1 = mk_queue("hot");
    ck_assert_int_eq(pub("", "hot", "1"), 1);
    ck_assert_uint_eq(ready(q1), 1);
    uint32_t n = 0;
    ck_assert_int_eq(queue_delete(V, S("hot"), NULL, false, false, &n, &E), EDAD_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_null(queue_lookup(V, S("hot"), NULL, &E));
    ck_assert_int_eq(pub("", "hot", "2"), 0);       /* unroutable now */
    struct queue *q2 = mk_queue("hot");
    ck_assert_int_eq(pub("", "hot", "3"), 1);
    ck_assert_ptr_eq(queue_lookup(V, S("hot"), NULL, &E), q2);
    ck_assert_uint_eq(ready(q2), 1);
    char b[8];
    struct queue_entry e;
    ck_assert(get_body(q2, true, &e, b, sizeof(b)));
    message_unref(&e.msg);
    ck_assert_str_eq(b, "3");
}
END_TEST

START_TEST(qcache_many_queues)
{
    /* more queues than cache slots, names that share slots */
    struct queue *qs[40];
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        qs[i] = mk_queue(name);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof(name), "q%d", (i * 7) % 40);
            ck_assert_int_eq(pub("", name, "x"), 1);
            ck_assert_ptr_eq(queue_lookup(V, S(name), NULL, &E), qs[(i * 7) % 40]);
        }
    for (int i = 0; i < 40; i++)
        ck_assert_uint_eq(ready(qs[i]), 3);
    /* delete every other one: the rest still route, the deleted do not */
    for (int i = 0; i < 40; i += 2) {
        snprintf(name, sizeof(name), "q%d", i);
        ck_assert_int_eq(queue_delete(V, S(name), NULL, false, false, NULL, &E), EDAD_OK);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        ck_assert_int_eq(pub("", name, "y"), i % 2 ? 1 : 0);
    }
}
END_TEST

START_TEST(ready_ring_reused_fifo)
{
    struct queue *q = mk_queue("r");
    char b[16], want[16];
    struct queue_entry e;
    for (int burst = 1; burst <= 2100; burst = burst * 3 + 1) {
        for (int i = 0; i < burst; i++) {
            snprintf(b, sizeof(b), "%d", i);
            ck_assert_int_eq(pub("", "r", b), 1);
        }
        for (int i = 0; i < burst; i++) {
            ck_assert(get_body(q, true, &e, b, sizeof(b)));
            message_unref(&e.msg);
            snprintf(want, sizeof(want), "%d", i);
            ck_assert_str_eq(b, want);
        }
        ck_assert(!get_body(q, true, &e, b, sizeof(b)));
        ck_assert_uint_eq(ready(q), 0);
    }
}
END_TEST

/* channel.open's reserved shortstr carrying s (len bytes). */
static edad_status decode_shortstr(const uint8_t *s, size_t len)
{
    uint8_t buf[300] = {0x00, 0x14, 0x00, 0x0A};
    buf[4] = (uint8_t)len;
    memcpy(buf + 5, s, len);
    struct arena a;
    arena_init(&a, 0);
    struct amqp_method m;
    edad_status st = amqp_method_decode((struct edad_bytes){buf, 5 + len}, &a, &m);
    arena_free(&a);
    return st;
}

START_TEST(utf8_bad_byte_anywhere)
{
    uint8_t s[255];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            memset(s, 'k', len);
            ck_assert_int_eq(decode_shortstr(s, len), EDAD_OK);
            s[at] = 0xFF;                       /* never valid */
            ck_assert_msg(decode_shortstr(s, len) == EDAD_ERR_ENCODING, "len %zu at %zu", len, at);
            s[at] = 0x80;                       /* stray continuation */
            ck_assert_int_eq(decode_shortstr(s, len), EDAD_ERR_ENCODING);
            if (at + 1 < len) {
                s[at] = 0xC3;                   /* U+00E9, two bytes */
                s[at + 1] = 0xA9;
                ck_assert_int_eq(decode_shortstr(s, len), EDAD_OK);
            }
        }
    }
    memset(s, 'z', sizeof(s));
    ck_assert_int_eq(decode_shortstr(s, 255), EDAD_OK);
    s[254] = 0xC3;                              /* truncated at the very end */
    ck_assert_int_eq(decode_shortstr(s, 255), EDAD_ERR_ENCODING);
}
END_TEST

static Suite *hotpath_suite(void)
{
    Suite *s = suite_create("hotpath");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, qcache_forgets_deleted_queue);
    tcase_add_test(tc, qcache_many_queues);
    tcase_add_test(tc, ready_ring_reused_fifo);
    tcase_add_test(tc, utf8_bad_byte_anywhere);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hotpath_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
