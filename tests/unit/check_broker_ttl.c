/*
 * check_broker_ttl.c - time in the broker, driven by a fake clock: the
 * timer API (next deadline, wakeup, bounded runs), x-message-ttl and the
 * expiration property (the smaller wins) expiring messages wherever they
 * sit, TTL 0 (delivered to a ready consumer, else expired), requeued
 * messages keeping their expiry, expired messages never delivered, and
 * x-expires deleting an unused queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static uint64_t now_ms;
static int wakeups;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

static void on_wakeup(void *ctx)
{
    (void)ctx;
    wakeups++;
}

static void setup(void)
{
    fx_setup();
    now_ms = 1000000;
    wakeups = 0;
    broker_set_clock(B, fake_clock, NULL);
    broker_set_timer_wakeup(B, on_wakeup, NULL);
}

/* Advance the clock and run what is due, as the server does. */
static void advance(uint64_t ms)
{
    now_ms += ms;
    for (int guard = 0; broker_next_deadline_ms(B) <= now_ms; guard++) {
        ck_assert_int_lt(guard, 1000);
        broker_run_timers(B, now_ms);
    }
}

/* Publish body to queue q (default exchange) with expiration (-1: none). */
static void pub_exp(const char *q, const char *body, int64_t expiration)
{
    struct message_info info = {.expiration_ms = expiration};
    struct message *m = message_new(S(""), S(q), S("\x80\x00"), strlen(body), &info);
    memcpy(message_body_mut(m), body, strlen(body));
    ck_assert_int_eq(pub_msg(m, NULL), 1);
    message_unref(&m);
}

static struct queue *ttl_queue(const char *name, int64_t ttl)
{
    struct targs ta;
    ta_init(&ta);
    return mk_queue_full(name, false, false, false, NULL,
                         ta_int(&ta, "x-message-ttl", BROKER_V_I32, ttl));
}

static void expect_get(struct queue *q, const char *body)
{
    struct queue_entry e;
    char b[64];
    ck_assert_msg(get_body(q, true, &e, b, sizeof(b)), "expected '%s', queue empty", body);
    ck_assert_str_eq(b, body);
    message_unref(&e.msg);
}

START_TEST(timer_api_deadline_and_wakeup)
{
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
    struct queue *q = ttl_queue("q", 500);
    ck_assert_int_eq(wakeups, 0);
    pub_exp("q", "a", -1);
    ck_assert_int_eq(wakeups, 1);               /* earlier than "none" */
    ck_assert_uint_eq(broker_next_deadline_ms(B), now_ms + 500);
    now_ms += 100;
    pub_exp("q", "b", -1);                      /* later: no wakeup */
    ck_assert_int_eq(wakeups, 1);
    pub_exp("q", "c", 50);                      /* earlier: wakeup */
    ck_assert_int_eq(wakeups, 2);
    ck_assert_uint_eq(broker_next_deadline_ms(B), now_ms + 50);
    broker_run_timers(B, now_ms);               /* nothing due yet */
    ck_assert_uint_eq(ready(q), 3);
    advance(50);
    ck_assert_uint_eq(ready(q), 2);             /* c expired though it sat behind a */
    advance(349);
    ck_assert_uint_eq(ready(q), 2);
    advance(1);
    ck_assert_uint_eq(ready(q), 1);
    expect_get(q, "b");
    /* b's index record is stale now: its timer fires for nothing, once */
    advance(100);
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
}
END_TEST

START_TEST(ttl_expires_anywhere_in_queue)
{
    struct queue *q = mk_queue("q");
    /* long TTL in front, short ones behind: each goes on time */
    pub_exp("q", "long", 100000);
    for (int i = 0; i < 100; i++) {
        char b[16];
        snprintf(b, sizeof(b), "s%d", i);
        pub_exp("q", b, i % 2 ? 10 : -1);
    }
    ck_assert_uint_eq(ready(q), 101);
    advance(10);
    ck_assert_uint_eq(ready(q), 51);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.expired, 50);
    expect_get(q, "long");
    for (int i = 0; i < 100; i += 2) {
        char b[16];
        snprintf(b, sizeof(b), "s%d", i);
        expect_get(q, b);
    }
    advance(100000);
    ck_assert_uint_eq(ready(q), 0);
}
END_TEST

START_TEST(ttl_min_of_queue_and_message)
{
    struct queue *q = ttl_queue("q", 100);
    pub_exp("q", "m1000", 1000);    /* queue TTL wins */
    pub_exp("q", "m10", 10);        /* message TTL wins */
    pub_exp("q", "none", -1);
    advance(10);
    ck_assert_uint_eq(ready(q), 2);
    advance(90);
    ck_assert_uint_eq(ready(q), 0);
}
END_TEST

START_TEST(ttl_expired_never_delivered)
{
    struct queue *q = ttl_queue("q", 100);
    pub_exp("q", "old", -1);
    now_ms += 100;                  /* due, but no timer run yet */
    pub_exp("q", "new", -1);
    struct queue_entry e;
    char b[16];
    ck_assert(get_body(q, true, &e, b, sizeof(b)));
    ck_assert_str_eq(b, "new");     /* "old" was dropped on the way */
    message_unref(&e.msg);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.expired, 1);
    /* the same through a consumer */
    pub_exp("q", "x", -1);
    now_ms += 200;
    pub_exp("q", "y", -1);
    struct tcons *t = calloc(1, sizeof(*t));
    tc_start(t, q, true, false, 10);
    dispatch_all();
    ck_assert_uint_eq(t->n, 1);
    body_of(&t->got[0], b, sizeof(b));
    ck_assert_str_eq(b, "y");
    tc_ack_all(t);
    consumer_cancel(t->c);
    free(t);
}
END_TEST

START_TEST(ttl_zero_delivered_or_expired)
{
    struct queue *q = ttl_queue("q", 0);
    pub_exp("q", "nobody", -1);
    struct queue_entry e;
    ck_assert(!queue_get(q, true, &e, NULL));   /* basic.get never sees it */
    pub_exp("q", "later", -1);
    advance(0);
    ck_assert_uint_eq(ready(q), 0);
    struct tcons *t = calloc(1, sizeof(*t));
    tc_start(t, q, true, false, 10);
    pub_exp("q", "now", -1);
    dispatch_all();                             /* consumer ready: delivered */
    ck_assert_uint_eq(t->n, 1);
    t->credit = 0;
    pub_exp("q", "blocked", -1);
    dispatch_all();
    advance(1);
    ck_assert_uint_eq(ready(q), 0);             /* no credit: expired */
    ck_assert_uint_eq(t->n, 1);
    tc_ack_all(t);
    consumer_cancel(t->c);
    free(t);
}
END_TEST

START_TEST(ttl_requeue_keeps_expiry)
{
    struct queue *q = ttl_queue("q", 100);
    pub_exp("q", "a", -1);
    pub_exp("q", "b", -1);
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    now_ms += 50;
    queue_requeue(q, &e);
    advance(49);
    ck_assert_uint_eq(ready(q), 2);
    advance(1);
    ck_assert_uint_eq(ready(q), 0);             /* from publish time, not requeue */
    /* a requeued message already past its time goes at once */
    pub_exp("q", "c", -1);
    ck_assert(queue_get(q, false, &e, NULL));
    now_ms += 150;
    queue_requeue(q, &e);
    ck_assert(!queue_get(q, true, &e, NULL));
}
END_TEST

START_TEST(ttl_many_batches_and_purge)
{
    struct queue *q = ttl_queue("q", 5);
    for (int i = 0; i < 70000; i++)
        pub_exp("q", "x", -1);
    now_ms += 5;
    broker_run_timers(B, now_ms);               /* one bounded batch */
    ck_assert_uint_gt(ready(q), 0);
    ck_assert_uint_le(broker_next_deadline_ms(B), now_ms);
    broker_run_timers(B, now_ms);
    ck_assert_uint_eq(ready(q), 0);
    /* purge forgets the index */
    for (int i = 0; i < 10; i++)
        pub_exp("q", "y", -1);
    uint32_t n = 0;
    ck_assert_int_eq(queue_purge(V, S("q"), NULL, &n, &E), EDAD_OK);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
}
END_TEST

START_TEST(ttl_stale_index_stays_bounded)
{
    /* consumed messages leave stale index records; they are compacted */
    struct queue *q = ttl_queue("q", 1000000);
    struct queue_entry e;
    for (int i = 0; i < 20000; i++) {
        pub_exp("q", "x", -1);
        ck_assert(queue_get(q, true, &e, NULL));
        message_unref(&e.msg);
    }
    ck_assert_uint_eq(ready(q), 0);
    advance(1000000);
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
}
END_TEST

START_TEST(expires_deletes_unused_queue)
{
    struct targs ta;
    ta_init(&ta);
    struct queue_declare d = {.name = S("q"), .args = ta_int(&ta, "x-expires", BROKER_V_I32, 1000)};
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
    struct queue *q = queue_lookup(V, S("q"), NULL, NULL);
    ck_assert_ptr_nonnull(q);
    advance(999);
    pub_exp("q", "publish does not count", -1);
    advance(1);
    ck_assert_ptr_null(queue_lookup(V, S("q"), NULL, NULL));
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
    q = queue_lookup(V, S("q"), NULL, NULL);
    pub_exp("q", "m", -1);
    advance(500);
    /* a redeclare resets the countdown */
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
    advance(999);
    ck_assert_ptr_nonnull(queue_lookup(V, S("q"), NULL, NULL));
    /* basic.get too */
    struct queue_entry e;
    ck_assert(queue_get(q, true, &e, NULL));
    message_unref(&e.msg);
    advance(999);
    ck_assert_ptr_nonnull(queue_lookup(V, S("q"), NULL, NULL));
    /* a consumer stops it, its cancel starts it again */
    struct tcons *t = calloc(1, sizeof(*t));
    tc_start(t, q, true, false, 10);
    advance(5000);
    ck_assert_ptr_nonnull(queue_lookup(V, S("q"), NULL, NULL));
    consumer_cancel(t->c);
    advance(999);
    ck_assert_ptr_nonnull(queue_lookup(V, S("q"), NULL, NULL));
    advance(1);
    ck_assert_ptr_null(queue_lookup(V, S("q"), NULL, NULL));
    free(t);
}
END_TEST

START_TEST(ttl_argument_validation)
{
    struct targs ta;
    struct queue_declare d = {.name = S("v")};
    ta_init(&ta);
    d.args = ta_str(&ta, "x-message-ttl", "10");
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'v' "
                             "in vhost '/': \"expected integer, got longstr\"");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-message-ttl", BROKER_V_I64, 315360000001LL);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'v' "
                             "in vhost '/': {value_too_large,315360000001}");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-expires", BROKER_V_I32, 0);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'v' "
                             "in vhost '/': {value_zero,0}");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-expires", BROKER_V_I32, -5);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'v' "
                             "in vhost '/': {value_negative,-5}");
    ta_init(&ta);
    d.args = ta_int(&ta, "x-message-ttl", BROKER_V_I32, 0);
    ck_assert_int_eq(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ta_init(&ta);
    d.args = ta_int(&ta, "x-message-ttl", BROKER_V_I32, 1);
    ck_assert_int_ne(queue_declare(V, &d, NULL, &E), EDAD_OK);
    ck_assert_str_eq(E.text, "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue "
                             "'v' in vhost '/': received '1' but current is '0'");
}
END_TEST

static Suite *ttl_suite(void)
{
    Suite *s = suite_create("broker_ttl");
    TCase *tc = tcase_create("ttl");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, timer_api_deadline_and_wakeup);
    tcase_add_test(tc, ttl_expires_anywhere_in_queue);
    tcase_add_test(tc, ttl_min_of_queue_and_message);
    tcase_add_test(tc, ttl_expired_never_delivered);
    tcase_add_test(tc, ttl_zero_delivered_or_expired);
    tcase_add_test(tc, ttl_requeue_keeps_expiry);
    tcase_add_test(tc, ttl_many_batches_and_purge);
    tcase_add_test(tc, ttl_stale_index_stays_bounded);
    tcase_add_test(tc, expires_deletes_unused_queue);
    tcase_add_test(tc, ttl_argument_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ttl_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
