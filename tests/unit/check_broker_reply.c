/*
 * check_broker_reply.c - direct reply-to in the broker: registered names,
 * replies through the default exchange delivered to their consumer and
 * counted as routed, unknown or cancelled names unroutable, names shared
 * by every vhost; plus the mandatory/alternate-exchange accounting of the
 * publish result that the session turns into basic.return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

struct sink {
    int n;
    char last[64];
};

static void sink_deliver(void *ctx, struct message *m)
{
    struct sink *s = ctx;
    struct edad_bytes b = message_body(m);
    s->n++;
    snprintf(s->last, sizeof(s->last), "%.*s", (int)b.len, (const char *)b.ptr);
}

static struct broker_publish_result pubr(struct vhost *vh, const char *x, const char *rk,
                                         const char *body)
{
    struct broker_publish_result r;
    struct message *m = msg(x, rk, body, false);
    memset(&E, 0, sizeof(E));
    ck_assert_int_eq(broker_publish(vh, m, NULL, &r, &E), EDAD_OK);
    message_unref(&m);
    return r;
}

START_TEST(reply_routes_to_consumer)
{
    struct sink s1 = {0}, s2 = {0};
    struct broker_reply *r1 = broker_reply_register(B, sink_deliver, &s1);
    struct broker_reply *r2 = broker_reply_register(B, sink_deliver, &s2);
    const char *n1 = broker_reply_name(r1);
    ck_assert_int_eq(strncmp(n1, "amq.rabbitmq.reply-to.", 22), 0);
    ck_assert_uint_eq(strlen(n1), 22 + 22);
    ck_assert_str_ne(n1, broker_reply_name(r2));
    ck_assert(broker_reply_exists(B, S(n1)));
    ck_assert(!broker_reply_exists(B, S("amq.rabbitmq.reply-to")));
    ck_assert(!broker_reply_exists(B, S("amq.rabbitmq.reply-to.nope")));

    struct broker_publish_result r = pubr(V, "", n1, "answer");
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_int_eq(s1.n, 1);
    ck_assert_str_eq(s1.last, "answer");
    ck_assert_int_eq(s2.n, 0);
    /* any vhost can reply (RabbitMQ encodes a channel, not a vhost) */
    struct vhost *other = broker_vhost_add(B, "other");
    r = pubr(other, "", n1, "again");
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_int_eq(s1.n, 2);
    /* only through the default exchange */
    mk_exchange("d", "direct");
    r = pubr(V, "d", n1, "no");
    ck_assert_uint_eq(r.routed, 0);
    ck_assert_int_eq(s1.n, 2);

    char name[BROKER_REPLY_NAME_MAX];
    snprintf(name, sizeof(name), "%s", n1);
    broker_reply_unregister(&r1);
    ck_assert_ptr_null(r1);
    ck_assert(!broker_reply_exists(B, S(name)));
    r = pubr(V, "", name, "late");
    ck_assert_uint_eq(r.routed, 0);
    ck_assert_int_eq(s1.n, 2);
    r = pubr(V, "", "amq.rabbitmq.reply-to.", "bad");
    ck_assert_uint_eq(r.routed, 0);
    r = pubr(V, "", "amq.rabbitmq.reply-to", "bad");
    ck_assert_uint_eq(r.routed, 0);
    broker_reply_unregister(&r2);
    broker_reply_unregister(&r2);   /* NULL: no-op */
}
END_TEST

START_TEST(reply_many_consumers)
{
    enum { N = 2000 };
    static struct sink sinks[N];
    static struct broker_reply *regs[N];
    memset(sinks, 0, sizeof(sinks));
    for (int i = 0; i < N; i++)
        regs[i] = broker_reply_register(B, sink_deliver, &sinks[i]);
    for (int i = 0; i < N; i += 3) {
        char body[16];
        snprintf(body, sizeof(body), "%d", i);
        ck_assert_uint_eq(pubr(V, "", broker_reply_name(regs[i]), body).routed, 1);
        ck_assert_str_eq(sinks[i].last, body);
    }
    for (int i = 0; i < N; i += 2)
        broker_reply_unregister(&regs[i]);
    for (int i = 1; i < N; i += 2)
        ck_assert(broker_reply_exists(B, S(broker_reply_name(regs[i]))));
    /* left registered on purpose: broker_free releases what tests leave */
}
END_TEST

/* The result fields the session's mandatory check reads: a message that
 * reached an alternate exchange's queue is routed; rejected-only counts as
 * routed for returns (RabbitMQ nacks it instead). */
START_TEST(reply_result_accounting_with_alternate_exchange)
{
    struct targs ta;
    struct queue *qa = mk_queue("qa");
    mk_exchange("ae", "fanout");
    mk_bind("qa", "ae", "", NULL);
    ta_init(&ta);
    mk_exchange_full("x", "direct", false, false, false,
                     ta_str(&ta, "alternate-exchange", "ae"));
    struct broker_publish_result r = pubr(V, "x", "nomatch", "m");
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(ready(qa), 1);
    /* an alternate exchange that does not exist: unroutable */
    ta_init(&ta);
    mk_exchange_full("y", "direct", false, false, false,
                     ta_str(&ta, "alternate-exchange", "absent"));
    r = pubr(V, "y", "nomatch", "m");
    ck_assert_uint_eq(r.routed + r.rejected + r.deduplicated + r.delayed, 0);
}
END_TEST

/* Dead letters follow the dead-letter exchange's alternate exchange. */
START_TEST(interplay_dlx_alternate_exchange)
{
    struct targs ta, qa;
    struct queue *parking = mk_queue("parking");
    mk_exchange("ae", "fanout");
    mk_bind("parking", "ae", "", NULL);
    ta_init(&ta);
    mk_exchange_full("dlx", "direct", false, false, false,
                     ta_str(&ta, "alternate-exchange", "ae"));
    ta_init(&qa);
    struct queue *work = mk_queue_full("work", false, false, false, NULL,
                                       ta_str(&qa, "x-dead-letter-exchange", "dlx"));
    ck_assert_int_eq(pub("", "work", "job"), 1);
    struct queue_entry e;
    char buf[16];
    ck_assert(get_body(work, false, &e, buf, sizeof(buf)));
    queue_reject_drop(work, &e);
    ck_assert_uint_eq(ready(parking), 1);
    ck_assert(get_body(parking, true, &e, buf, sizeof(buf)));
    ck_assert_str_eq(buf, "job");
    message_unref(&e.msg);
}
END_TEST

static Suite *reply_suite(void)
{
    Suite *s = suite_create("broker_reply");
    TCase *tc = tcase_create("reply");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, reply_routes_to_consumer);
    tcase_add_test(tc, reply_many_consumers);
    tcase_add_test(tc, reply_result_accounting_with_alternate_exchange);
    tcase_add_test(tc, interplay_dlx_alternate_exchange);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reply_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
