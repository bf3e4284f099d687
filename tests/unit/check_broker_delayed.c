/*
 * check_broker_delayed.c - x-delayed-message exchanges: declare rules and
 * texts (x-delayed-type), which x-delay values hold a message, release in
 * due order through the routing type as bound at release time (alternate
 * exchange included), the x-delay swap through the codec, deletion, and a
 * few hundred thousand held messages.  Time is the broker clock driven by
 * hand; no sleeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static uint64_t now_ms;

static uint64_t test_clock(void *ctx)
{
    EDAD_UNUSED(ctx);
    return now_ms;
}

static void setup(void)
{
    fx_setup();
    now_ms = 1000000;
    broker_set_clock(B, test_clock, NULL);
}

static edad_status xdecl(const char *name, const char *type, const struct broker_table *args)
{
    struct exchange_declare d = {.name = S(name), .type = S(type), .args = args};
    memset(&E, 0, sizeof(E));
    return exchange_declare(V, &d, &E);
}

#define ASSERT_ERR(call, want_code, want_text)                                     \
    do {                                                                          \
        ck_assert_msg((call) != EDAD_OK, "expected failure of %s", #call);        \
        ck_assert_uint_eq(E.code, (want_code));                                   \
        ck_assert_str_eq(E.text, (want_text));                                    \
    } while (0)

static struct broker_table *delayed_args(struct targs *ta, const char *type)
{
    ta_init(ta);
    return ta_str(ta, "x-delayed-type", type);
}

static void mk_delayed(const char *name, const char *type)
{
    struct targs ta;
    mk_exchange_full(name, "x-delayed-message", false, false, false, delayed_args(&ta, type));
}

static const struct broker_table *hdr_fixed(void *ctx)
{
    return ctx;
}

/* Publish body with headers; the broker's whole result. */
static struct broker_publish_result pub_full(const char *x, const char *rk, const char *body,
                                             const struct broker_table *headers)
{
    struct broker_publish_result r;
    struct message *m = msg(x, rk, body, false);
    struct broker_publish_opts o = {hdr_fixed, (void *)headers};
    memset(&E, 0, sizeof(E));
    ck_assert_int_eq(broker_publish(V, m, &o, &r, &E), EDAD_OK);
    message_unref(&m);
    return r;
}

static struct broker_table *delay_hdr(struct targs *ta, uint8_t kind, int64_t ms)
{
    ta_init(ta);
    return ta_int(ta, "x-delay", kind, ms);
}

/* Advance the clock and run what is due (several runs when batched). */
static void advance(uint64_t ms)
{
    now_ms += ms;
    for (int i = 0; i < 10000 && broker_next_deadline_ms(B) <= now_ms; i++)
        broker_run_timers(B, now_ms);
}

static void expect_bodies(struct queue *q, const char *const *want, size_t n)
{
    char buf[64];
    struct queue_entry e;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(get_body(q, true, &e, buf, sizeof(buf)), "missing %s", want[i]);
        ck_assert_str_eq(buf, want[i]);
        message_unref(&e.msg);
    }
    ck_assert_uint_eq(ready(q), 0);
}

/* ---- declare ----------------------------------------------------------------------------- */

START_TEST(delayed_declare_rules)
{
    struct targs ta;
    ASSERT_ERR(xdecl("d", "x-delayed-message", NULL), 406,
               "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing "
               "exchange type");
    ta_init(&ta);
    ASSERT_ERR(xdecl("d", "x-delayed-message", ta_int(&ta, "x-delayed-type", BROKER_V_I32, 1)),
               406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an "
                    "existing exchange type");
    ASSERT_ERR(xdecl("d", "x-delayed-message", delayed_args(&ta, "nope")), 503,
               "COMMAND_INVALID - unknown exchange type 'nope'");
    ASSERT_ERR(xdecl("d", "x-delayed-message", delayed_args(&ta, "x-delayed-message")), 406,
               "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing "
               "exchange type");
    ck_assert_ptr_null(exchange_find(V, S("d")));

    ck_assert_int_eq(xdecl("d", "x-delayed-message", delayed_args(&ta, "topic")), EDAD_OK);
    struct exchange_info info;
    exchange_get_info(exchange_find(V, S("d")), &info);
    ck_assert_str_eq(info.type, "x-delayed-message");
    /* redeclare: x-delayed-type is not compared (RabbitMQ), the type is */
    ck_assert_int_eq(xdecl("d", "x-delayed-message", delayed_args(&ta, "fanout")), EDAD_OK);
    ck_assert_int_eq(xdecl("d", "x-delayed-message", NULL), EDAD_OK);
    ASSERT_ERR(xdecl("d", "topic", NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'd' in vhost '/': "
               "received 'topic' but current is 'x-delayed-message'");
    ck_assert_int_eq(xdecl("t", "topic", NULL), EDAD_OK);
    ASSERT_ERR(xdecl("t", "x-delayed-message", delayed_args(&ta, "topic")), 406,
               "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 't' in vhost '/': "
               "received 'x-delayed-message' but current is 'topic'");
    /* the routing type's own checks apply */
    ta_init(&ta);
    ta_str(&ta, "x-delayed-type", "x-consistent-hash");
    ta_str(&ta, "hash-property", "nope");
    ASSERT_ERR(xdecl("c", "x-delayed-message", &ta.t), 406,
               "PRECONDITION_FAILED - Unsupported property: nope");
}
END_TEST

/* ---- which delays hold ---------------------------------------------------------------------- */

START_TEST(delayed_x_delay_values)
{
    struct queue *q = mk_queue("q");
    mk_delayed("d", "direct");
    mk_bind("q", "d", "k", NULL);
    struct targs h;
    struct broker_publish_result r;

    /* no header, 0, negative, too large, unsignedlong, junk string: at once */
    r = pub_full("d", "k", "now1", NULL);
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(r.delayed, 0);
    r = pub_full("d", "k", "now2", delay_hdr(&h, BROKER_V_I32, 0));
    ck_assert_uint_eq(r.routed, 1);
    r = pub_full("d", "k", "now3", delay_hdr(&h, BROKER_V_I32, -5));
    ck_assert_uint_eq(r.routed, 1);
    r = pub_full("d", "k", "now4", delay_hdr(&h, BROKER_V_I64, INT64_C(4294967296)));
    ck_assert_uint_eq(r.routed, 1);
    ta_init(&h);
    ta_str(&h, "x-delay", "12x");
    r = pub_full("d", "k", "now5", &h.t);
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready(q), 5);

    /* integers of every width, decimal strings, floats (truncated) hold */
    r = pub_full("d", "k", "i8", delay_hdr(&h, BROKER_V_I8, 50));
    ck_assert_uint_eq(r.routed, 0);
    ck_assert_uint_eq(r.delayed, 1);
    r = pub_full("d", "k", "u32", delay_hdr(&h, BROKER_V_U32, 40));
    ck_assert_uint_eq(r.delayed, 1);
    ta_init(&h);
    ta_str(&h, "x-delay", "30");
    r = pub_full("d", "k", "str", &h.t);
    ck_assert_uint_eq(r.delayed, 1);
    ta_init(&h);
    ta_double(&h, "x-delay", 20.9);
    r = pub_full("d", "k", "dbl", &h.t);
    ck_assert_uint_eq(r.delayed, 1);
    r = pub_full("d", "k", "max", delay_hdr(&h, BROKER_V_I64, INT64_C(4294967295)));
    ck_assert_uint_eq(r.delayed, 1);

    ck_assert_uint_eq(ready(q), 5);
    advance(19);
    ck_assert_uint_eq(ready(q), 5);
    advance(1);     /* 20 ms: the double */
    ck_assert_uint_eq(ready(q), 6);
    advance(30);    /* 50 ms: the rest but max */
    ck_assert_uint_eq(ready(q), 9);
    ck_assert_uint_eq(broker_next_deadline_ms(B), 1000000 + UINT64_C(4294967295));
}
END_TEST

/* ---- release order and routing at release time ----------------------------------------------- */

START_TEST(delayed_release_order)
{
    struct queue *q = mk_queue("q");
    mk_delayed("d", "fanout");
    mk_bind("q", "d", "", NULL);
    struct targs h;
    pub_full("d", "", "c300", delay_hdr(&h, BROKER_V_I32, 300));
    pub_full("d", "", "a100", delay_hdr(&h, BROKER_V_I32, 100));
    pub_full("d", "", "b200", delay_hdr(&h, BROKER_V_I32, 200));
    pub_full("d", "", "a100b", delay_hdr(&h, BROKER_V_I32, 100));  /* same due: FIFO */
    now_ms += 50;
    pub_full("d", "", "b200b", delay_hdr(&h, BROKER_V_I32, 150));
    ck_assert_uint_eq(broker_next_deadline_ms(B), 1000100);
    advance(1000);
    const char *want[] = {"a100", "a100b", "b200", "b200b", "c300"};
    expect_bodies(q, want, 5);
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
}
END_TEST

START_TEST(delayed_routes_as_bound_at_release)
{
    struct targs ta, h;
    struct queue *q1 = mk_queue("q1"), *q2 = mk_queue("q2"), *qa = mk_queue("qa");
    mk_exchange("ae", "fanout");
    mk_bind("qa", "ae", "", NULL);
    ta_init(&ta);
    ta_str(&ta, "x-delayed-type", "direct");
    ta_str(&ta, "alternate-exchange", "ae");
    mk_exchange_full("d", "x-delayed-message", false, false, false, &ta.t);
    /* nothing bound yet: held, not sent to the alternate exchange now */
    struct broker_publish_result r = pub_full("d", "k1", "m1", delay_hdr(&h, BROKER_V_I32, 10));
    ck_assert_uint_eq(r.delayed, 1);
    pub_full("d", "k2", "m2", delay_hdr(&h, BROKER_V_I32, 10));
    ck_assert_uint_eq(ready(qa), 0);
    mk_bind("q1", "d", "k1", NULL);
    mk_bind("q2", "d", "k1", NULL);
    advance(10);
    ck_assert_uint_eq(ready(q1), 1);
    ck_assert_uint_eq(ready(q2), 1);
    ck_assert_uint_eq(ready(qa), 1);      /* k2 matched nothing at release */
    /* undelayed messages route at once, through the alternate exchange too */
    r = pub_full("d", "zz", "m3", NULL);
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready(qa), 2);
}
END_TEST

START_TEST(delayed_e2e_and_topic)
{
    struct targs h;
    struct queue *q = mk_queue("q");
    mk_exchange("src", "topic");
    mk_delayed("d", "topic");
    mk_xbind("d", "src", "a.#");
    mk_bind("q", "d", "a.*", NULL);
    /* a delayed exchange downstream of another one holds the message too */
    struct broker_publish_result r = pub_full("src", "a.b", "m", delay_hdr(&h, BROKER_V_I32, 5));
    ck_assert_uint_eq(r.routed, 0);
    ck_assert_uint_eq(r.delayed, 1);
    advance(5);
    ck_assert_uint_eq(ready(q), 1);
    r = pub_full("src", "a.b.c", "m", delay_hdr(&h, BROKER_V_I32, 5));
    advance(5);
    ck_assert_uint_eq(ready(q), 1);
}
END_TEST

START_TEST(delayed_delete_drops_held)
{
    struct targs h;
    mk_queue("q");
    mk_delayed("d", "direct");
    mk_bind("q", "d", "k", NULL);
    struct message *m = msg("d", "k", "held", false);
    ck_assert_int_eq(pub_msg(m, delay_hdr(&h, BROKER_V_I32, 1000)), 0);
    ck_assert_uint_eq(message_refcount(m), 2);
    ck_assert_uint_ne(broker_next_deadline_ms(B), UINT64_MAX);
    ck_assert_int_eq(exchange_delete(V, S("d"), false, &E), EDAD_OK);
    ck_assert_uint_eq(message_refcount(m), 1);
    ck_assert_uint_eq(broker_next_deadline_ms(B), UINT64_MAX);
    message_unref(&m);
    advance(2000);
    /* held messages of an exchange vanish with it; the broker frees cleanly */
    mk_delayed("d2", "direct");
    pub_full("d2", "k", "x", delay_hdr(&h, BROKER_V_I32, 1000));
}
END_TEST

/* ---- the x-delay swap through the codec ------------------------------------------------------ */

static int64_t swapped_value;
static int swap_calls;

static struct message *swap_header(void *ctx, const struct message *m, const char *key,
                                   int64_t v)
{
    EDAD_UNUSED(ctx);
    ck_assert_str_eq(key, "x-delay");
    swapped_value = v;
    swap_calls++;
    struct edad_bytes body = message_body(m);
    struct message_info info = {.expiration_ms = -1};
    struct message *c = message_new(message_exchange(m), message_routing_key(m), S("\x80\x00"),
                                    body.len + 8, &info);
    memcpy(message_body_mut(c), body.ptr, body.len);
    memcpy(message_body_mut(c) + body.len, "-swapped", 8);
    return c;
}

START_TEST(delayed_swaps_x_delay)
{
    struct targs h;
    struct broker_codec codec = {.with_header_int = swap_header};
    broker_set_codec(B, &codec);
    struct queue *q = mk_queue("q");
    mk_delayed("d", "direct");
    mk_bind("q", "d", "k", NULL);
    struct message *m = msg("d", "k", "m", false);
    ck_assert_int_eq(pub_msg(m, delay_hdr(&h, BROKER_V_I32, 70)), 0);
    ck_assert_uint_eq(message_refcount(m), 1);      /* the copy is held */
    message_unref(&m);
    ck_assert_int_eq(swap_calls, 1);
    ck_assert_int_eq(swapped_value, -70);
    advance(70);
    const char *want[] = {"m-swapped"};
    expect_bodies(q, want, 1);
    /* a released message is never held again, whatever its headers */
    ck_assert_int_eq(swap_calls, 1);
}
END_TEST

/* ---- scale ------------------------------------------------------------------------------------ */

START_TEST(delayed_many_messages)
{
    enum { N = 300000, BATCH = 4096 };
    struct targs h;
    struct queue *q = mk_queue("q");
    mk_delayed("d", "direct");
    mk_bind("q", "d", "k", NULL);
    struct message *m = msg("d", "k", "", false);
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        ck_assert_int_eq(pub_msg(m, delay_hdr(&h, BROKER_V_I32, 1 + (seed >> 8) % 100000)), 0);
    }
    ck_assert_uint_eq(message_refcount(m), N + 1);
    /* everything due at once: released in batches, one per timer run */
    now_ms += 100000;
    broker_run_timers(B, now_ms);
    ck_assert_uint_eq(ready(q), BATCH);
    ck_assert_uint_le(broker_next_deadline_ms(B), now_ms);
    int runs = 1;
    while (broker_next_deadline_ms(B) <= now_ms) {
        broker_run_timers(B, now_ms);
        runs++;
    }
    ck_assert_uint_eq(ready(q), N);
    ck_assert_int_eq(runs, (N + BATCH - 1) / BATCH);
    ck_assert_int_eq(queue_purge(V, S("q"), NULL, NULL, &E), EDAD_OK);
    ck_assert_uint_eq(message_refcount(m), 1);
    message_unref(&m);
}
END_TEST

static Suite *delayed_suite(void)
{
    Suite *s = suite_create("broker_delayed");
    TCase *tc = tcase_create("delayed");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, delayed_declare_rules);
    tcase_add_test(tc, delayed_x_delay_values);
    tcase_add_test(tc, delayed_release_order);
    tcase_add_test(tc, delayed_routes_as_bound_at_release);
    tcase_add_test(tc, delayed_e2e_and_topic);
    tcase_add_test(tc, delayed_delete_drops_held);
    tcase_add_test(tc, delayed_swaps_x_delay);
    tcase_add_test(tc, delayed_many_messages);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(delayed_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
