/*
 * check_exchange.c - exchanges as a client sees them: declare of each type,
 * passive declare, redeclare equivalence, reserved names, the default
 * exchange's rules, internal and auto-delete exchanges, delete if-unused,
 * exchange-to-exchange bindings (loops included) and alternate exchanges.
 * Routing is observed with basic.get and mandatory returns; queue-side
 * routing (topic, headers) lives in check_queue.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctm.h"

#define S (&harness_default)

/* The queue holds exactly the bodies given (NULL-terminated), in order. */
static void expect_bodies(struct raw_conn *c, uint16_t ch, const char *queue,
                          const char *const *bodies)
{
    struct ctm_in in;
    for (size_t i = 0; bodies[i]; i++) {
        ck_assert_msg(ctm_basic_get(c, ch, queue, true, &in), "queue '%s' lacks message '%s'",
                      queue, bodies[i]);
        ck_assert_msg(strcmp((const char *)in.body, bodies[i]) == 0,
                      "queue '%s': got '%s', want '%s'", queue, (const char *)in.body, bodies[i]);
        ctm_in_free(&in);
    }
    if (ctm_basic_get(c, ch, queue, true, &in)) {
        char d[512];
        ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        ck_abort_msg("queue '%s' holds an unexpected message: %s", queue, d);
    }
}

static void expect_empty(struct raw_conn *c, uint16_t ch, const char *queue)
{
    static const char *const none[] = {NULL};
    expect_bodies(c, ch, queue, none);
}

/* Publish mandatory and expect a basic.return 312 NO_ROUTE for it. */
static void expect_returned(struct raw_conn *c, uint16_t ch, const char *x, const char *rk,
                            const char *body)
{
    struct ctm_in in;
    ctm_publish(c, ch, x, rk, CTM_P_MANDATORY, NULL, body, strlen(body));
    ctm_expect(c, &in, ch, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq(in.reply_text, "NO_ROUTE");
    ck_assert_str_eq(in.exchange, x);
    ck_assert_str_eq(in.routing_key, rk);
    ck_assert_str_eq((const char *)in.body, body);
    ctm_in_free(&in);
}

/* True when a passive declare finds the exchange; reopens the channel after a 404. */
static bool exchange_exists(struct raw_conn *c, uint16_t ch, const char *name)
{
    struct ctm_in in;
    char err[256];
    ctm_send_exchange_declare(c, ch, name, "direct", CTM_X_PASSIVE, NULL);
    enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
    ck_assert_msg(rc == RAW_OK, "no reply to a passive exchange.declare");
    if (ctm_in_is(&in, ch, RAW_EXCHANGE, CTM_EXCHANGE_DECLARE_OK)) {
        ctm_in_free(&in);
        return true;
    }
    ck_assert_msg(ctm_in_is(&in, ch, RAW_CHANNEL, RAW_CHANNEL_CLOSE) &&
                      in.reply_code == RAW_NOT_FOUND,
                  "passive exchange.declare: unexpected %s",
                  ctm_in_describe(&in, err, sizeof(err)));
    ctm_in_free(&in);
    ck_assert(raw_send_close_ok(c, ch, RAW_CHANNEL) == 0);
    ck_assert_msg(raw_channel_open(c, ch, err, sizeof(err)), "reopen: %s", err);
    return false;
}

/* ---- declare ------------------------------------------------------------------ */

START_TEST(test_declare_each_type)
{
    static const char *const types[] = {"direct", "fanout", "topic", "headers"};
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    for (size_t i = 0; i < 4; i++) {
        ctm_name(x, sizeof(x), types[i]);
        ctm_exchange_declare(&c, 1, x, types[i], 0, NULL);
        /* passive: the type argument is ignored */
        ctm_exchange_declare(&c, 1, x, "", CTM_X_PASSIVE, NULL);
        ctm_exchange_declare(&c, 1, x, types[i], 0, NULL);
        ctm_exchange_delete(&c, 1, x, 0);
        ck_assert_msg(!exchange_exists(&c, 1, x), "%s exchange survived its delete", types[i]);
    }
    raw_close(&c);
}
END_TEST

START_TEST(test_declare_passive_absent_404)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "absent");
    ctm_send_exchange_declare(&c, 1, x, "direct", CTM_X_PASSIVE, NULL);
    snprintf(frag, sizeof(frag), "NOT_FOUND - no exchange '%s' in vhost '/'", x);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_predeclared_exchanges_exist)
{
    static const char *const names[] = {"amq.direct", "amq.fanout", "amq.topic", "amq.headers",
                                        "amq.match"};
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    for (size_t i = 0; i < 5; i++)
        ctm_exchange_declare(&c, 1, names[i], "", CTM_X_PASSIVE, NULL);
    raw_close(&c);
}
END_TEST

START_TEST(test_redeclare_equivalent_ok)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "same");
    ctm_exchange_declare(&c, 1, x, "topic", CTM_X_AUTO_DELETE, NULL);
    ctm_exchange_declare(&c, 1, x, "topic", CTM_X_AUTO_DELETE, NULL);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_redeclare_other_type_406)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], frag[400];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "type");
    ctm_exchange_declare(&c, 1, x, "direct", 0, NULL);
    ctm_send_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%s' in vhost '/': "
             "received 'fanout' but current is 'direct'", x);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_redeclare_other_durable_406)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "durable");
    ctm_exchange_declare(&c, 1, x, "direct", 0, NULL);
    ctm_send_exchange_declare(&c, 1, x, "direct", CTM_X_DURABLE, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED|inequivalent arg 'durable'", RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    ctm_send_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED|inequivalent arg 'auto_delete'", RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    ctm_send_exchange_declare(&c, 1, x, "direct", CTM_X_INTERNAL, NULL);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED|inequivalent arg 'internal'", RAW_EXCHANGE,
                             CTM_EXCHANGE_DECLARE);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_redeclare_other_alternate_exchange_406)
{
    struct raw_conn c;
    struct raw_buf a1, a2;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "ae-args");
    raw_buf_init(&a1);
    raw_buf_init(&a2);
    ctm_table_str(&a1, "alternate-exchange", "ae-one");
    ctm_table_str(&a2, "alternate-exchange", "ae-two");
    ctm_exchange_declare(&c, 1, x, "direct", 0, &a1);
    ctm_exchange_declare(&c, 1, x, "direct", 0, &a1);
    ctm_send_exchange_declare(&c, 1, x, "direct", 0, &a2);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED|inequivalent arg 'alternate-exchange'",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_buf_free(&a1);
    raw_buf_free(&a2);
    raw_close(&c);
}
END_TEST

START_TEST(test_declare_unknown_type_503)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "badtype");
    ctm_send_exchange_declare(&c, 1, x, "edad-no-such-type", 0, NULL);
    /* A hard error in RabbitMQ too: the connection closes. */
    ct_expect_connection_close(&c, RAW_COMMAND_INVALID,
                               "COMMAND_INVALID|exchange type 'edad-no-such-type'", RAW_EXCHANGE,
                               CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_declare_amq_prefix_403)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_exchange_declare(&c, 1, "amq.edadtest", "direct", 0, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - exchange name 'amq.edadtest' contains reserved "
                             "prefix 'amq.*'",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    /* The prefix stops creation only: an equivalent redeclare of an existing
     * amq.* exchange is fine (RabbitMQ 3.10 answers declare-ok too). */
    ctm_exchange_declare(&c, 1, "amq.direct", "direct", CTM_X_DURABLE, NULL);
    raw_close(&c);
}
END_TEST

START_TEST(test_declare_nowait_sends_no_reply)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "nowait");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_NOWAIT, NULL);
    /* The next reply is the queue's declare-ok, not an exchange declare-ok. */
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "", NULL);
    ctm_send_exchange_delete(&c, 1, x, CTM_XD_NOWAIT);
    ctm_queue_declare(&c, 1, q, CTM_Q_PASSIVE, NULL, NULL, 0, NULL, NULL);
    ck_assert_msg(!exchange_exists(&c, 1, x), "nowait delete did not delete");
    raw_close(&c);
}
END_TEST

/* ---- the default exchange and system exchanges ---------------------------------- */

START_TEST(test_default_exchange_declare_403)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_exchange_declare(&c, 1, "", "direct", 0, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_EXCHANGE, CTM_EXCHANGE_DECLARE);
    raw_close(&c);
}
END_TEST

START_TEST(test_default_exchange_delete_403)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_exchange_delete(&c, 1, "", 0);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_EXCHANGE, CTM_EXCHANGE_DELETE);
    raw_close(&c);
}
END_TEST

START_TEST(test_default_exchange_bind_403)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_send_queue_bind(&c, 1, q, "", "key", false, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_QUEUE, CTM_QUEUE_BIND);
    ctm_send_queue_unbind(&c, 1, q, "", q, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_QUEUE, CTM_QUEUE_UNBIND);
    /* exchange.bind with the default exchange at either end */
    ctm_name(x, sizeof(x), "e2e-default");
    ctm_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    ctm_send_exchange_bind(&c, 1, x, "", "k", false, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_EXCHANGE, CTM_EXCHANGE_BIND);
    ctm_send_exchange_bind(&c, 1, "", x, "k", false, NULL);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - operation not permitted on the default exchange",
                             RAW_EXCHANGE, CTM_EXCHANGE_BIND);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_default_exchange_routes_by_queue_name)
{
    static const char *const one[] = {"direct to the queue", NULL};
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish_str(&c, 1, "", q, "direct to the queue");
    expect_bodies(&c, 1, q, one);
    raw_close(&c);
}
END_TEST

START_TEST(test_system_exchange_delete_403)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_exchange_delete(&c, 1, "amq.direct", 0);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED,
                             "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost "
                             "'/' not allowed",
                             RAW_EXCHANGE, CTM_EXCHANGE_DELETE);
    ctm_exchange_declare(&c, 1, "amq.direct", "", CTM_X_PASSIVE, NULL);
    raw_close(&c);
}
END_TEST

/* ---- internal, auto-delete, delete ------------------------------------------------ */

START_TEST(test_publish_to_internal_exchange_403)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "internal");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_INTERNAL, NULL);
    ctm_publish_str(&c, 1, x, "", "not allowed");
    snprintf(frag, sizeof(frag),
             "ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'", x);
    ctm_expect_channel_error(&c, 1, RAW_ACCESS_REFUSED, frag, RAW_BASIC, CTM_BASIC_PUBLISH);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_internal_exchange_reachable_through_e2e_binding)
{
    static const char *const one[] = {"via the front door", NULL};
    struct raw_conn c;
    char front[CTM_NAME_MAX], inner[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(front, sizeof(front), "front");
    ctm_name(inner, sizeof(inner), "inner");
    ctm_exchange_declare(&c, 1, front, "fanout", 0, NULL);
    ctm_exchange_declare(&c, 1, inner, "fanout", CTM_X_INTERNAL, NULL);
    ctm_exchange_bind(&c, 1, inner, front, "", NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, inner, "", NULL);
    ctm_publish_str(&c, 1, front, "k", "via the front door");
    expect_bodies(&c, 1, q, one);
    ctm_exchange_delete(&c, 1, front, 0);
    ctm_exchange_delete(&c, 1, inner, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_auto_delete_on_last_unbind)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "autodel");
    ctm_exchange_declare(&c, 1, x, "direct", CTM_X_AUTO_DELETE, NULL);
    /* Never bound yet: it stays. */
    ck_assert_msg(exchange_exists(&c, 1, x), "auto-delete exchange vanished before any binding");
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "a", NULL);
    ctm_queue_bind(&c, 1, q, x, "b", NULL);
    ctm_queue_unbind(&c, 1, q, x, "a", NULL);
    ck_assert_msg(exchange_exists(&c, 1, x), "deleted while a binding remained");
    ctm_queue_unbind(&c, 1, q, x, "b", NULL);
    ck_assert_msg(!exchange_exists(&c, 1, x), "auto-delete exchange kept after its last unbind");
    raw_close(&c);
}
END_TEST

START_TEST(test_auto_delete_when_bound_queue_deleted)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "autodel-q");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "", NULL);
    ctm_queue_delete(&c, 1, q, 0);
    ck_assert_msg(!exchange_exists(&c, 1, x),
                  "auto-delete exchange kept after its only bound queue was deleted");
    raw_close(&c);
}
END_TEST

START_TEST(test_delete_if_unused_406_when_bound)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "inuse");
    ctm_exchange_declare(&c, 1, x, "direct", 0, NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_send_exchange_delete(&c, 1, x, CTM_XD_IF_UNUSED);
    snprintf(frag, sizeof(frag), "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use", x);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_EXCHANGE,
                             CTM_EXCHANGE_DELETE);
    ck_assert_msg(exchange_exists(&c, 1, x), "a refused delete deleted the exchange");
    ctm_queue_unbind(&c, 1, q, x, "k", NULL);
    ctm_exchange_delete(&c, 1, x, CTM_XD_IF_UNUSED);
    ck_assert(!exchange_exists(&c, 1, x));
    raw_close(&c);
}
END_TEST

START_TEST(test_delete_removes_bindings)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "delbind");
    ctm_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x, "", NULL);
    ctm_exchange_delete(&c, 1, x, 0);
    /* Same name again: a fresh exchange without the old binding. */
    ctm_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    expect_returned(&c, 1, x, "", "nobody listens");
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_delete_absent_ok)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "never");
    ctm_exchange_delete(&c, 1, x, 0);
    ctm_exchange_delete(&c, 1, x, CTM_XD_IF_UNUSED);
    raw_close(&c);
}
END_TEST

/* ---- routing by type, exchange-to-exchange, alternate exchange ---------------------- */

START_TEST(test_direct_routes_by_key)
{
    static const char *const a_only[] = {"for a", NULL};
    static const char *const b_only[] = {"for b", NULL};
    struct raw_conn c;
    char x[CTM_NAME_MAX], qa[CTM_NAME_MAX], qb[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "direct");
    ctm_exchange_declare(&c, 1, x, "direct", 0, NULL);
    ctm_queue_temp(&c, 1, qa, sizeof(qa));
    ctm_queue_temp(&c, 1, qb, sizeof(qb));
    ctm_queue_bind(&c, 1, qa, x, "a", NULL);
    ctm_queue_bind(&c, 1, qb, x, "b", NULL);
    ctm_publish_str(&c, 1, x, "a", "for a");
    ctm_publish_str(&c, 1, x, "b", "for b");
    expect_returned(&c, 1, x, "c", "for nobody");
    expect_bodies(&c, 1, qa, a_only);
    expect_bodies(&c, 1, qb, b_only);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_fanout_ignores_key)
{
    static const char *const both[] = {"one", "two", NULL};
    struct raw_conn c;
    char x[CTM_NAME_MAX], q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "fanout");
    ctm_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    ctm_queue_temp(&c, 1, q1, sizeof(q1));
    ctm_queue_temp(&c, 1, q2, sizeof(q2));
    ctm_queue_bind(&c, 1, q1, x, "whatever", NULL);
    ctm_queue_bind(&c, 1, q2, x, "", NULL);
    ctm_publish_str(&c, 1, x, "", "one");
    ctm_publish_str(&c, 1, x, "some.key", "two");
    expect_bodies(&c, 1, q1, both);
    expect_bodies(&c, 1, q2, both);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_e2e_bind_routes_and_unbind_stops)
{
    static const char *const one[] = {"through two exchanges", NULL};
    struct raw_conn c;
    char src[CTM_NAME_MAX], dst[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(src, sizeof(src), "e2e-src");
    ctm_name(dst, sizeof(dst), "e2e-dst");
    ctm_exchange_declare(&c, 1, src, "direct", 0, NULL);
    ctm_exchange_declare(&c, 1, dst, "fanout", 0, NULL);
    ctm_exchange_bind(&c, 1, dst, src, "k", NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, dst, "", NULL);
    ctm_publish_str(&c, 1, src, "k", "through two exchanges");
    expect_returned(&c, 1, src, "other", "wrong key");
    expect_bodies(&c, 1, q, one);
    ctm_exchange_unbind(&c, 1, dst, src, "k", NULL);
    expect_returned(&c, 1, src, "k", "after unbind");
    expect_empty(&c, 1, q);
    /* Unbinding what is not bound is fine. */
    ctm_exchange_unbind(&c, 1, dst, src, "k", NULL);
    ctm_exchange_delete(&c, 1, src, 0);
    ctm_exchange_delete(&c, 1, dst, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_e2e_destination_routes_by_original_key)
{
    static const char *const hit[] = {"a.b", NULL};
    struct raw_conn c;
    char src[CTM_NAME_MAX], dst[CTM_NAME_MAX], q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(src, sizeof(src), "e2e-topic");
    ctm_name(dst, sizeof(dst), "e2e-direct");
    ctm_exchange_declare(&c, 1, src, "topic", 0, NULL);
    ctm_exchange_declare(&c, 1, dst, "direct", 0, NULL);
    ctm_send_exchange_bind(&c, 1, dst, src, "a.*", true, NULL); /* nowait */
    ctm_queue_temp(&c, 1, q1, sizeof(q1));
    ctm_queue_temp(&c, 1, q2, sizeof(q2));
    ctm_send_queue_bind(&c, 1, q1, dst, "a.b", true, NULL);    /* nowait */
    ctm_queue_bind(&c, 1, q2, dst, "a.c", NULL);
    /* The destination sees the message's own routing key, not the binding's. */
    ctm_publish_str(&c, 1, src, "a.b", "a.b");
    expect_returned(&c, 1, src, "b.b", "b.b");
    expect_bodies(&c, 1, q1, hit);
    expect_empty(&c, 1, q2);
    ctm_send_exchange_unbind(&c, 1, dst, src, "a.*", true, NULL); /* nowait */
    expect_returned(&c, 1, src, "a.b", "after unbind");
    ctm_exchange_delete(&c, 1, src, 0);
    ctm_exchange_delete(&c, 1, dst, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_auto_delete_source_of_e2e_binding)
{
    struct raw_conn c;
    char src[CTM_NAME_MAX], dst[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(src, sizeof(src), "autodel-src");
    ctm_name(dst, sizeof(dst), "plain-dst");
    ctm_exchange_declare(&c, 1, src, "fanout", CTM_X_AUTO_DELETE, NULL);
    ctm_exchange_declare(&c, 1, dst, "fanout", 0, NULL);
    ctm_exchange_bind(&c, 1, dst, src, "", NULL);
    ctm_exchange_unbind(&c, 1, dst, src, "", NULL);
    ck_assert_msg(!exchange_exists(&c, 1, src),
                  "auto-delete exchange kept after its last exchange binding went");
    ck_assert(exchange_exists(&c, 1, dst));
    ctm_exchange_delete(&c, 1, dst, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_e2e_bind_absent_404)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], absent[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "e2e-present");
    ctm_name(absent, sizeof(absent), "e2e-absent");
    ctm_exchange_declare(&c, 1, x, "fanout", 0, NULL);
    ctm_send_exchange_bind(&c, 1, x, absent, "", false, NULL);
    snprintf(frag, sizeof(frag), "NOT_FOUND - no exchange '%s' in vhost '/'", absent);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_EXCHANGE, CTM_EXCHANGE_BIND);
    ctm_send_exchange_bind(&c, 1, absent, x, "", false, NULL);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_EXCHANGE, CTM_EXCHANGE_BIND);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_e2e_loop_delivers_once)
{
    static const char *const one[] = {"round and round", NULL};
    struct raw_conn c;
    char x1[CTM_NAME_MAX], x2[CTM_NAME_MAX], q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x1, sizeof(x1), "loop1");
    ctm_name(x2, sizeof(x2), "loop2");
    ctm_exchange_declare(&c, 1, x1, "fanout", 0, NULL);
    ctm_exchange_declare(&c, 1, x2, "fanout", 0, NULL);
    ctm_exchange_bind(&c, 1, x2, x1, "", NULL);
    ctm_exchange_bind(&c, 1, x1, x2, "", NULL);
    ctm_exchange_bind(&c, 1, x1, x1, "", NULL);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_bind(&c, 1, q, x1, "", NULL);
    ctm_queue_bind(&c, 1, q, x2, "", NULL);
    ctm_publish_str(&c, 1, x1, "", "round and round");
    /* The queue is reached by several paths but gets the message once. */
    expect_bodies(&c, 1, q, one);
    ctm_exchange_delete(&c, 1, x1, 0);
    ctm_exchange_delete(&c, 1, x2, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_alternate_exchange_gets_unroutable)
{
    static const char *const routed[] = {"routed", NULL};
    static const char *const alt[] = {"unroutable", "mandatory but alternate", NULL};
    struct raw_conn c;
    struct raw_buf args;
    char x[CTM_NAME_MAX], ae[CTM_NAME_MAX], q[CTM_NAME_MAX], qae[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "with-ae");
    ctm_name(ae, sizeof(ae), "ae");
    ctm_exchange_declare(&c, 1, ae, "fanout", 0, NULL);
    raw_buf_init(&args);
    ctm_table_str(&args, "alternate-exchange", ae);
    ctm_exchange_declare(&c, 1, x, "direct", 0, &args);
    raw_buf_free(&args);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_queue_temp(&c, 1, qae, sizeof(qae));
    ctm_queue_bind(&c, 1, q, x, "k", NULL);
    ctm_queue_bind(&c, 1, qae, ae, "", NULL);
    ctm_publish_str(&c, 1, x, "k", "routed");
    ctm_publish_str(&c, 1, x, "nobody", "unroutable");
    /* Routed through the alternate exchange counts as routed: no return. */
    ctm_publish(&c, 1, x, "nobody", CTM_P_MANDATORY, NULL, "mandatory but alternate", 23);
    expect_bodies(&c, 1, q, routed);
    expect_bodies(&c, 1, qae, alt);
    ctm_exchange_delete(&c, 1, x, 0);
    ctm_exchange_delete(&c, 1, ae, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_alternate_exchange_absent_means_unroutable)
{
    struct raw_conn c;
    struct raw_buf args;
    char x[CTM_NAME_MAX], ae[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "with-missing-ae");
    ctm_name(ae, sizeof(ae), "missing-ae");
    raw_buf_init(&args);
    ctm_table_str(&args, "alternate-exchange", ae);
    ctm_exchange_declare(&c, 1, x, "direct", 0, &args);
    raw_buf_free(&args);
    expect_returned(&c, 1, x, "k", "nowhere to go");
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

static Suite *exchange_suite(void)
{
    Suite *s = suite_create("exchange");
    TCase *tc;

    tc = tcase_create("declare");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_declare_each_type);
    tcase_add_test(tc, test_declare_passive_absent_404);
    tcase_add_test(tc, test_predeclared_exchanges_exist);
    tcase_add_test(tc, test_redeclare_equivalent_ok);
    tcase_add_test(tc, test_redeclare_other_type_406);
    tcase_add_test(tc, test_redeclare_other_durable_406);
    tcase_add_test(tc, test_redeclare_other_alternate_exchange_406);
    tcase_add_test(tc, test_declare_unknown_type_503);
    tcase_add_test(tc, test_declare_amq_prefix_403);
    tcase_add_test(tc, test_declare_nowait_sends_no_reply);
    suite_add_tcase(s, tc);

    tc = tcase_create("default_and_system");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_default_exchange_declare_403);
    tcase_add_test(tc, test_default_exchange_delete_403);
    tcase_add_test(tc, test_default_exchange_bind_403);
    tcase_add_test(tc, test_default_exchange_routes_by_queue_name);
    tcase_add_test(tc, test_system_exchange_delete_403);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_publish_to_internal_exchange_403);
    tcase_add_test(tc, test_internal_exchange_reachable_through_e2e_binding);
    tcase_add_test(tc, test_auto_delete_on_last_unbind);
    tcase_add_test(tc, test_auto_delete_when_bound_queue_deleted);
    tcase_add_test(tc, test_delete_if_unused_406_when_bound);
    tcase_add_test(tc, test_delete_removes_bindings);
    tcase_add_test(tc, test_delete_absent_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("routing");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_direct_routes_by_key);
    tcase_add_test(tc, test_fanout_ignores_key);
    tcase_add_test(tc, test_e2e_bind_routes_and_unbind_stops);
    tcase_add_test(tc, test_e2e_destination_routes_by_original_key);
    tcase_add_test(tc, test_auto_delete_source_of_e2e_binding);
    tcase_add_test(tc, test_e2e_bind_absent_404);
    tcase_add_test(tc, test_e2e_loop_delivers_once);
    tcase_add_test(tc, test_alternate_exchange_gets_unroutable);
    tcase_add_test(tc, test_alternate_exchange_absent_means_unroutable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_exchange");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(exchange_suite()));
}
