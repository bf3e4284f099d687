/*
 * check_broker_prio.c - ordering features: x-max-priority (higher first,
 * FIFO within a priority, priorities above the maximum capped, requeue
 * back to its place), consumer priorities (x-priority: the highest with
 * credit is served, lower ones while the higher are blocked), single
 * active consumer (one receives; the next registered takes over), and
 * the validation of their arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static void pub_prio(const char *q, const char *body, int prio)
{
    struct message_info info = {.expiration_ms = -1, .has_priority = prio >= 0,
                                .priority = (uint8_t)(prio < 0 ? 0 : prio)};
    struct message *m = message_new(S(""), S(q), S("\x80\x00"), strlen(body), &info);
    memcpy(message_body_mut(m), body, strlen(body));
    ck_assert_int_eq(pub_msg(m, NULL), 1);
    message_unref(&m);
}

static void expect_get(struct queue *q, const char *body)
{
    struct queue_entry e;
    char b[64];
    ck_assert_msg(get_body(q, true, &e, b, sizeof(b)), "expected '%s', queue empty", body);
    ck_assert_str_eq(b, body);
    message_unref(&e.msg);
}

static struct queue *prio_queue(const char *name, int max)
{
    struct targs ta;
    ta_init(&ta);
    return mk_queue_full(name, false, false, false, NULL,
                         ta_int(&ta, "x-max-priority", BROKER_V_U8, max));
}

START_TEST(priority_order)
{
    struct queue *q = prio_queue("q", 5);
    pub_prio("q", "none1", -1);
    pub_prio("q", "p1", 1);
    pub_prio("q", "p5a", 5);
    pub_prio("q", "p9", 9);         /* above the maximum: counts as 5 */
    pub_prio("q", "p5b", 5);
    pub_prio("q", "none2", -1);
    pub_prio("q", "p0", 0);
    ck_assert_uint_eq(ready(q), 7);
    expect_get(q, "p5a");
    expect_get(q, "p9");
    /* requeue goes back in front of its priority */
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));   /* p5b */
    pub_prio("q", "p5c", 5);
    queue_requeue(q, &e);
    expect_get(q, "p5b");
    expect_get(q, "p5c");
    expect_get(q, "p1");
    expect_get(q, "none1");
    expect_get(q, "none2");
    expect_get(q, "p0");
    ck_assert(!queue_get(q, true, &e, NULL));
    /* a non-priority queue is FIFO whatever the priorities */
    struct queue *f = mk_queue("f");
    pub_prio("f", "a", 0);
    pub_prio("f", "b", 9);
    expect_get(f, "a");
    expect_get(f, "b");
}
END_TEST

static void consume_prio(struct tcons *t, struct queue *q, int32_t prio, uint32_t credit)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-priority", BROKER_V_I32, prio);
    struct consume_opts o = {.tag = S("t"), .no_ack = true, .args = &ta.t};
    memset(t, 0, sizeof(*t));
    t->q = q;
    t->credit = credit;
    t->no_ack = true;
    ck_assert_int_eq(queue_consume(q, &o, &tc_ops, t, &t->c, &E), EDAD_OK);
}

START_TEST(consumer_priorities)
{
    struct queue *q = mk_queue("q");
    struct tcons *lo = calloc(1, sizeof(*lo)), *hi1 = calloc(1, sizeof(*hi1)),
                 *hi2 = calloc(1, sizeof(*hi2));
    consume_prio(lo, q, 1, 100);
    consume_prio(hi1, q, 10, 2);
    consume_prio(hi2, q, 10, 2);
    for (int i = 0; i < 10; i++)
        pub("", "q", "m");
    dispatch_all();
    /* the two high ones share round-robin until blocked, then the low one */
    ck_assert_uint_eq(hi1->n, 2);
    ck_assert_uint_eq(hi2->n, 2);
    ck_assert_uint_eq(lo->n, 6);
    /* credit back on a high one: it is served first again */
    hi1->credit = 5;
    consumer_resume(hi1->c);
    for (int i = 0; i < 3; i++)
        pub("", "q", "m");
    dispatch_all();
    ck_assert_uint_eq(hi1->n, 5);
    ck_assert_uint_eq(lo->n, 6);
    consumer_cancel(hi1->c);
    consumer_cancel(hi2->c);
    pub("", "q", "m");
    dispatch_all();
    ck_assert_uint_eq(lo->n, 7);
    tc_ack_all(lo);
    tc_ack_all(hi1);
    tc_ack_all(hi2);
    consumer_cancel(lo->c);
    free(lo);
    free(hi1);
    free(hi2);
    struct targs ta;
    ta_init(&ta);
    struct consume_opts o = {.tag = S("x"), .args = ta_str(&ta, "x-priority", "high")};
    struct tcons t;
    memset(&t, 0, sizeof(t));
    ck_assert_int_ne(queue_consume(q, &o, &tc_ops, &t, &t.c, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'q' in "
                             "vhost '/': \"expected integer, got longstr\"");
}
END_TEST

START_TEST(single_active_consumer)
{
    struct targs ta;
    ta_init(&ta);
    struct queue *q = mk_queue_full("q", false, false, false, NULL,
                                    ta_bool(&ta, "x-single-active-consumer", true));
    struct tcons *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
                 *c = calloc(1, sizeof(*c));
    tc_start(a, q, true, false, 100);
    tc_start(b, q, true, false, 100);
    tc_start(c, q, true, false, 100);
    for (int i = 0; i < 5; i++)
        pub("", "q", "m");
    dispatch_all();
    ck_assert_uint_eq(a->n, 5);
    ck_assert_uint_eq(b->n + c->n, 0);
    /* blocked active consumer: the others still wait */
    a->credit = 0;
    pub("", "q", "m");
    dispatch_all();
    ck_assert_uint_eq(b->n + c->n, 0);
    ck_assert_uint_eq(ready(q), 1);
    /* it goes: the next registered takes over, with what is waiting */
    consumer_cancel(a->c);
    dispatch_all();
    ck_assert_uint_eq(b->n, 1);
    ck_assert_uint_eq(c->n, 0);
    consumer_cancel(c->c);          /* a standby going changes nothing */
    pub("", "q", "m");
    dispatch_all();
    ck_assert_uint_eq(b->n, 2);
    consumer_cancel(b->c);
    tc_ack_all(a);
    tc_ack_all(b);
    tc_ack_all(c);
    free(a);
    free(b);
    free(c);
    struct queue_declare d = {.name = S("v")};
    ta_init(&ta);
    d.args = ta_str(&ta, "x-single-active-consumer", "yes");
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for "
                             "queue 'v' in vhost '/': {unacceptable_type,longstr}");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-max-priority", BROKER_V_I32, 256);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'v' "
                             "in vhost '/': {max_value_exceeded,256}");
    ta_init(&ta);
    d.args = ta_str(&ta, "x-queue-mode", "lazy");
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ta_init(&ta);
    d.name = S("v2");
    d.args = ta_int(&ta, "x-queue-version", BROKER_V_I32, 2);
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
}
END_TEST

START_TEST(priority_many_levels_random)
{
    struct queue *q = prio_queue("q", 255);
    char b[32];
    unsigned seed = 7;
    int counts[256] = {0};
    for (int i = 0; i < 5000; i++) {
        int p = (int)(rand_r(&seed) % 256);
        snprintf(b, sizeof(b), "%d:%d", p, counts[p]++);
        pub_prio("q", b, p);
    }
    int last_p = 256, last_i = -1;
    struct queue_entry e;
    while (get_body(q, true, &e, b, sizeof(b))) {
        int p, i;
        ck_assert_int_eq(sscanf(b, "%d:%d", &p, &i), 2);
        ck_assert_int_le(p, last_p);
        if (p == last_p)
            ck_assert_int_eq(i, last_i + 1);
        else
            ck_assert_int_eq(i, 0);
        last_p = p;
        last_i = i;
        message_unref(&e.msg);
    }
}
END_TEST

static Suite *prio_suite(void)
{
    Suite *s = suite_create("broker_prio");
    TCase *tc = tcase_create("prio");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, priority_order);
    tcase_add_test(tc, consumer_priorities);
    tcase_add_test(tc, single_active_consumer);
    tcase_add_test(tc, priority_many_levels_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(prio_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
