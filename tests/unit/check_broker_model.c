/*
 * check_broker_model.c - the broker's entities and their rules: vhosts and
 * predeclared exchanges, exchange/queue declare (passive, equivalence,
 * reserved names, server-named, exclusive, auto-delete), arguments,
 * deletion with if-unused/if-empty, bindings, exclusive consumers, and the
 * exact RabbitMQ reply codes and texts.
 */
#include <stdio.h>
#include <string.h>

#include "check_broker_helpers.h"

#define ASSERT_ERR(call, want_code, want_text)                                     \
    do {                                                                            \
        memset(&E, 0, sizeof(E));                                                   \
        edad_status st_ = (call);                                                   \
        ck_assert_msg(st_ < 0, "expected failure of %s", #call);                   \
        ck_assert_uint_eq(E.code, (want_code));                                     \
        ck_assert_str_eq(E.text, (want_text));                                      \
    } while (0)

#define ASSERT_OK(call)                                                             \
    do {                                                                            \
        memset(&E, 0, sizeof(E));                                                   \
        edad_status st_ = (call);                                                   \
        ck_assert_msg(st_ == EDAD_OK, "%s failed: %s", #call, E.text);             \
    } while (0)

static edad_status xdecl(const char *name, const char *type, bool passive, bool durable,
                         bool auto_delete, bool internal, const struct broker_table *args)
{
    struct exchange_declare d = {
        .name = S(name), .type = S(type), .passive = passive, .durable = durable,
        .auto_delete = auto_delete, .internal = internal, .args = args,
    };
    return exchange_declare(V, &d, &E);
}

static edad_status qdecl(const char *name, bool passive, bool durable, bool exclusive,
                         bool auto_delete, const void *owner, const struct broker_table *args,
                         struct queue_declare_ok *ok)
{
    struct queue_declare d = {
        .name = S(name), .passive = passive, .durable = durable, .exclusive = exclusive,
        .auto_delete = auto_delete, .args = args, .owner = owner,
    };
    return queue_declare(V, &d, ok, &E);
}

static const int OWNER_A = 1, OWNER_B = 2;
#define A ((const void *)&OWNER_A)
#define BO ((const void *)&OWNER_B)

/* ---- vhosts --------------------------------------------------------------------- */

START_TEST(vhost_predeclared_exchanges)
{
    static const char *const names[][2] = {
        {"", "direct"}, {"amq.direct", "direct"}, {"amq.fanout", "fanout"},
        {"amq.topic", "topic"}, {"amq.headers", "headers"}, {"amq.match", "headers"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct exchange *x = exchange_find(V, S(names[i][0]));
        ck_assert_msg(x != NULL, "missing %s", names[i][0]);
        struct exchange_info info;
        exchange_get_info(x, &info);
        ck_assert_str_eq(info.type, names[i][1]);
        ck_assert(info.durable);
        ck_assert(!info.internal);
    }
    ck_assert_uint_eq(vhost_exchange_count(V), 6);
    ck_assert_str_eq(vhost_name(V), "/");
    ck_assert_ptr_eq(broker_vhost_add(B, "/"), V);
    ck_assert_ptr_eq(broker_vhost_find(B, S("/")), V);
    ck_assert_ptr_null(broker_vhost_find(B, S("other")));
}
END_TEST

START_TEST(vhost_delete_everything)
{
    struct vhost *v2 = broker_vhost_add(B, "v2");
    ck_assert_ptr_ne(v2, V);
    struct vhost *saved = V;
    V = v2;
    struct queue *q = mk_queue("q");
    mk_exchange("x", "topic");
    mk_bind("q", "x", "a.#", NULL);
    ck_assert_int_eq(pub("x", "a.b", "m1"), 1);
    struct tcons t;
    tc_start(&t, q, false, false, 0);
    V = saved;
    ck_assert_int_eq(broker_vhost_delete(B, S("v2")), EDAD_OK);
    ck_assert(t.cancelled);
    ck_assert_ptr_null(broker_vhost_find(B, S("v2")));
    ck_assert_int_eq(broker_vhost_delete(B, S("v2")), EDAD_ERR_NOT_FOUND);
}
END_TEST

START_TEST(vhost_isolation)
{
    struct queue *q1 = mk_queue("q");
    struct vhost *v2 = broker_vhost_add(B, "v2");
    struct vhost *saved = V;
    V = v2;
    struct queue *q2 = mk_queue("q");
    ck_assert_ptr_ne(q1, q2);
    ck_assert_int_eq(pub("", "q", "m"), 1);
    ck_assert_ptr_eq(queue_vhost(q2), v2);
    ck_assert_ptr_eq(vhost_broker(v2), B);
    V = saved;
    ck_assert_uint_eq(ready(q1), 0);
    ck_assert_uint_eq(ready(q2), 1);
    ck_assert_int_eq(pub("", "q", "m"), 1);
    ck_assert_uint_eq(ready(q1), 1);
}
END_TEST

struct iter_ctx {
    int calls;
    int deleted;
};

static bool iter_delete_next(void *ctx, struct queue *q)
{
    struct iter_ctx *ic = ctx;
    ic->calls++;
    ck_assert(!queue_is_deleted(q));
    /* delete some other queue while the walk is under way */
    char other[16];
    for (int i = 0; i < 20; i++) {
        snprintf(other, sizeof(other), "q%d", i);
        if (strcmp(other, queue_name(q)) != 0 && queue_lookup(V, S(other), NULL, NULL)) {
            queue_delete(V, S(other), NULL, false, false, NULL, &E);
            ic->deleted++;
            break;
        }
    }
    return true;
}

static bool iter_count_x(void *ctx, struct exchange *x)
{
    EDAD_UNUSED(x);
    ((struct iter_ctx *)ctx)->calls++;
    return true;
}

static bool iter_stop(void *ctx, struct exchange *x)
{
    EDAD_UNUSED(x);
    ((struct iter_ctx *)ctx)->calls++;
    return false;
}

START_TEST(vhost_iteration)
{
    char name[16];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        mk_queue(name);
    }
    struct iter_ctx ic = {0, 0};
    vhost_foreach_queue(V, iter_delete_next, &ic);
    /* every call saw a live queue; queues deleted before their turn were skipped */
    ck_assert_int_le(ic.calls, 20);
    ck_assert_int_gt(ic.deleted, 0);
    ck_assert_uint_eq(vhost_queue_count(V), (size_t)(20 - ic.deleted));
    mk_exchange("x1", "direct");
    ic.calls = 0;
    vhost_foreach_exchange(V, iter_count_x, &ic);
    ck_assert_int_eq(ic.calls, 7);
    ic.calls = 0;
    vhost_foreach_exchange(V, iter_stop, &ic);
    ck_assert_int_eq(ic.calls, 1);
}
END_TEST

/* ---- exchange.declare ----------------------------------------------------------------- */

START_TEST(exchange_declare_and_equivalence)
{
    ASSERT_OK(xdecl("x", "direct", false, true, false, false, NULL));
    ASSERT_OK(xdecl("x", "direct", false, true, false, false, NULL));
    ASSERT_OK(xdecl("x", "direct", true, false, true, true, NULL));  /* passive: no checks */
    ASSERT_ERR(xdecl("x", "fanout", false, true, false, false, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' in vhost '/': "
               "received 'fanout' but current is 'direct'");
    ASSERT_ERR(xdecl("x", "direct", false, false, false, false, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x' in vhost '/': "
               "received 'false' but current is 'true'");
    ASSERT_ERR(xdecl("x", "direct", false, true, true, false, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange 'x' in vhost "
               "'/': received 'true' but current is 'false'");
    ASSERT_ERR(xdecl("x", "direct", false, true, false, true, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'internal' for exchange 'x' in vhost "
               "'/': received 'true' but current is 'false'");
}
END_TEST

START_TEST(exchange_declare_errors)
{
    ASSERT_ERR(xdecl("nx", "direct", true, false, false, false, NULL), 404,
               "NOT_FOUND - no exchange 'nx' in vhost '/'");
    ASSERT_ERR(xdecl("", "direct", true, false, false, false, NULL), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(xdecl("", "direct", false, true, false, false, NULL), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(xdecl("y", "x-nonsense", false, false, false, false, NULL), 503,
               "COMMAND_INVALID - unknown exchange type 'x-nonsense'");
    ASSERT_ERR(xdecl("y", "", false, false, false, false, NULL), 503,
               "COMMAND_INVALID - unknown exchange type ''");
    ASSERT_ERR(xdecl("amq.mine", "direct", false, false, false, false, NULL), 403,
               "ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'");
    /* existing amq.* exchanges may be redeclared with their own properties */
    ASSERT_OK(xdecl("amq.direct", "direct", false, true, false, false, NULL));
    ASSERT_OK(xdecl("amq.topic", "topic", true, false, false, false, NULL));
    ASSERT_ERR(xdecl("amq.direct", "direct", false, false, false, false, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in "
               "vhost '/': received 'false' but current is 'true'");
    /* CR and LF are stripped from names */
    ASSERT_OK(xdecl("a\r\nb", "fanout", false, false, false, false, NULL));
    ck_assert_ptr_nonnull(exchange_find(V, S("ab")));
}
END_TEST

START_TEST(exchange_alternate_argument)
{
    struct targs ta, tb, tc;
    ta_init(&ta);
    ASSERT_ERR(xdecl("x", "direct", false, false, false, false,
                     ta_int(&ta, "alternate-exchange", BROKER_V_I64, 5)), 406,
               "PRECONDITION_FAILED - invalid type 'long' for arg 'alternate-exchange' in "
               "exchange 'x' in vhost '/'");
    ck_assert_ptr_null(exchange_find(V, S("x")));
    ta_init(&ta);
    ASSERT_OK(xdecl("x", "direct", false, false, false, false,
                    ta_str(&ta, "alternate-exchange", "ae1")));
    ASSERT_OK(xdecl("x", "direct", false, false, false, false, &ta.t));
    ta_init(&tb);
    ASSERT_ERR(xdecl("x", "direct", false, false, false, false,
                     ta_str(&tb, "alternate-exchange", "ae2")), 406,
               "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x' in "
               "vhost '/': received 'ae2' but current is 'ae1'");
    ASSERT_ERR(xdecl("x", "direct", false, false, false, false, NULL), 406,
               "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x' in "
               "vhost '/': received none but current is the value 'ae1' of type 'longstr'");
    /* other arguments are not compared */
    ta_init(&tc);
    ta_str(&tc, "alternate-exchange", "ae1");
    ASSERT_OK(xdecl("x", "direct", false, false, false, false, ta_str(&tc, "other", "v")));
    /* deduplication arguments (issue 4) are validated, not ignored */
    ta_init(&tc);
    ASSERT_ERR(xdecl("d", "direct", false, false, false, false,
                     ta_str(&tc, "x-message-deduplication", "yes")), 406,
               "PRECONDITION_FAILED - invalid arg 'x-message-deduplication' for exchange 'd' in "
               "vhost '/': {unacceptable_type,longstr}");
    ta_init(&tc);
    ASSERT_OK(xdecl("d", "direct", false, false, false, false,
                    ta_bool(&tc, "x-message-deduplication", true)));
}
END_TEST

/* ---- exchange.delete -------------------------------------------------------------------- */

START_TEST(exchange_delete_rules)
{
    ASSERT_OK(exchange_delete(V, S("missing"), false, &E));
    ASSERT_OK(exchange_delete(V, S("missing"), true, &E));
    ASSERT_ERR(exchange_delete(V, S(""), false, &E), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(exchange_delete(V, S("amq.direct"), false, &E), 403,
               "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not "
               "allowed");
    mk_exchange("x", "direct");
    struct queue *q = mk_queue("q");
    mk_bind("q", "x", "k", NULL);
    ASSERT_ERR(exchange_delete(V, S("x"), true, &E), 406,
               "PRECONDITION_FAILED - exchange 'x' in vhost '/' in use");
    ck_assert_ptr_nonnull(exchange_find(V, S("x")));
    ASSERT_OK(exchange_delete(V, S("x"), false, &E));
    ck_assert_ptr_null(exchange_find(V, S("x")));
    ck_assert_ptr_eq(queue_lookup(V, S("q"), NULL, &E), q);
    ck_assert_int_eq(pub("x", "k", "m"), -404);
    mk_exchange("y", "fanout");
    ASSERT_OK(exchange_delete(V, S("y"), true, &E));     /* unused */
    ck_assert_ptr_null(exchange_find(V, S("y")));
}
END_TEST

START_TEST(exchange_delete_removes_e2e_bindings)
{
    mk_exchange("src", "fanout");
    mk_exchange("dst", "fanout");
    mk_queue("q");
    mk_xbind("dst", "src", "");
    mk_bind("q", "dst", "", NULL);
    ck_assert_int_eq(pub("src", "", "m"), 1);
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("src"))), 1);
    ASSERT_OK(exchange_delete(V, S("dst"), false, &E));
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("src"))), 0);
    ck_assert_int_eq(pub("src", "", "m"), 0);
    /* if-unused counts source bindings only */
    mk_exchange("dst2", "fanout");
    mk_xbind("dst2", "src", "");
    ASSERT_OK(exchange_delete(V, S("dst2"), true, &E));
}
END_TEST

/* ---- auto-delete exchanges ----------------------------------------------------------------- */

START_TEST(exchange_auto_delete)
{
    mk_exchange_full("ad", "direct", false, true, false, NULL);
    ck_assert_ptr_nonnull(exchange_find(V, S("ad")));   /* no binding yet: stays */
    mk_queue("q1");
    mk_queue("q2");
    mk_bind("q1", "ad", "a", NULL);
    mk_bind("q2", "ad", "a", NULL);
    ASSERT_OK(queue_unbind(V, S("q1"), S("ad"), S("a"), NULL, NULL, &E));
    ck_assert_ptr_nonnull(exchange_find(V, S("ad")));
    ASSERT_OK(queue_unbind(V, S("q2"), S("ad"), S("a"), NULL, NULL, &E));
    ck_assert_ptr_null(exchange_find(V, S("ad")));
    /* the last binding going with its queue deletes the exchange too */
    mk_exchange_full("ad2", "fanout", false, true, false, NULL);
    mk_bind("q1", "ad2", "", NULL);
    ASSERT_OK(queue_delete(V, S("q1"), NULL, false, false, NULL, &E));
    ck_assert_ptr_null(exchange_find(V, S("ad2")));
}
END_TEST

START_TEST(exchange_auto_delete_cascade)
{
    mk_exchange_full("x1", "fanout", false, true, false, NULL);
    mk_exchange_full("x2", "fanout", false, true, false, NULL);
    mk_queue("q");
    mk_xbind("x2", "x1", "");
    mk_bind("q", "x2", "", NULL);
    ck_assert_int_eq(pub("x1", "", "m"), 1);
    ASSERT_OK(queue_delete(V, S("q"), NULL, false, false, NULL, &E));
    ck_assert_ptr_null(exchange_find(V, S("x2")));
    ck_assert_ptr_null(exchange_find(V, S("x1")));
}
END_TEST

/* ---- queue.declare ---------------------------------------------------------------------- */

START_TEST(queue_declare_basics)
{
    struct queue_declare_ok ok;
    ASSERT_OK(qdecl("q", false, true, false, false, NULL, NULL, &ok));
    ck_assert_str_eq(ok.name, "q");
    ck_assert_uint_eq(ok.name_len, 1);
    ck_assert_uint_eq(ok.message_count, 0);
    ck_assert_uint_eq(ok.consumer_count, 0);
    ck_assert_int_eq(pub("", "q", "m1"), 1);
    ck_assert_int_eq(pub("", "q", "m2"), 1);
    struct tcons t;
    tc_start(&t, ok.queue, false, false, 0);
    ASSERT_OK(qdecl("q", false, true, false, false, NULL, NULL, &ok));
    ck_assert_uint_eq(ok.message_count, 2);
    ck_assert_uint_eq(ok.consumer_count, 1);
    ASSERT_OK(qdecl("q", true, false, true, true, NULL, NULL, &ok));     /* passive */
    ck_assert_uint_eq(ok.message_count, 2);
    ASSERT_ERR(qdecl("q", false, false, false, false, NULL, NULL, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': "
               "received 'false' but current is 'true'");
    ASSERT_ERR(qdecl("q", false, true, false, true, NULL, NULL, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'q' in vhost "
               "'/': received 'true' but current is 'false'");
    ASSERT_ERR(qdecl("nq", true, false, false, false, NULL, NULL, &ok), 404,
               "NOT_FOUND - no queue 'nq' in vhost '/'");
    ASSERT_ERR(qdecl("amq.q", false, false, false, false, NULL, NULL, &ok), 403,
               "ACCESS_REFUSED - queue name 'amq.q' contains reserved prefix 'amq.*'");
    ASSERT_OK(qdecl("x\ny", false, false, false, false, NULL, NULL, &ok));
    ck_assert_str_eq(ok.name, "xy");
    consumer_cancel(t.c);
}
END_TEST

START_TEST(queue_server_named)
{
    struct queue_declare_ok ok1, ok2;
    ASSERT_OK(qdecl("", false, false, true, false, A, NULL, &ok1));
    ASSERT_OK(qdecl("", false, false, true, false, A, NULL, &ok2));
    ck_assert_uint_eq(ok1.name_len, 8 + 22);
    ck_assert(strncmp(ok1.name, "amq.gen-", 8) == 0);
    for (size_t i = 8; i < ok1.name_len; i++) {
        char c = ok1.name[i];
        ck_assert_msg((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_', "bad char %c", c);
    }
    ck_assert_str_ne(ok1.name, ok2.name);
    ck_assert_ptr_eq(queue_lookup(V, S(ok1.name), A, &E), ok1.queue);
    /* RabbitMQ checks the reserved prefix before looking the name up, so
     * even the generated name cannot be redeclared non-passively */
    char name[64], want[160];
    snprintf(name, sizeof(name), "%s", ok1.name);
    snprintf(want, sizeof(want),
             "ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'", name);
    ASSERT_ERR(qdecl(name, false, false, true, false, A, NULL, &ok2), 403, want);
    ASSERT_OK(qdecl(name, true, false, false, false, A, NULL, &ok2));
    ck_assert_ptr_eq(ok2.queue, ok1.queue);
    char gen[64];
    broker_name_generate("amq.ctag-", gen, sizeof(gen));
    ck_assert_uint_eq(strlen(gen), 9 + 22);
}
END_TEST

START_TEST(queue_exclusive)
{
    struct queue_declare_ok ok;
    ASSERT_OK(qdecl("ex", false, true, true, false, A, NULL, &ok));
    struct queue_info info;
    queue_get_info(ok.queue, &info);
    ck_assert(!info.durable);       /* exclusive queues are never durable */
    ck_assert(info.exclusive);
    ck_assert_ptr_eq(info.owner, A);
    ASSERT_OK(qdecl("ex", false, true, true, false, A, NULL, &ok));
    const char *locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'ex' "
                         "in vhost '/'. It could be originally declared on another connection "
                         "or the exclusive property value does not match that of the original "
                         "declaration.";
    ASSERT_ERR(qdecl("ex", false, true, true, false, BO, NULL, &ok), 405, locked);
    ASSERT_ERR(qdecl("ex", false, false, false, false, A, NULL, &ok), 405, locked);
    ASSERT_ERR(qdecl("ex", true, false, false, false, BO, NULL, &ok), 405, locked);
    ASSERT_OK(qdecl("ex", true, false, false, false, A, NULL, &ok));
    memset(&E, 0, sizeof(E));
    ck_assert_ptr_null(queue_lookup(V, S("ex"), BO, &E));
    ck_assert_uint_eq(E.code, 405);
    ck_assert_ptr_nonnull(queue_lookup(V, S("ex"), A, &E));
    ASSERT_ERR(queue_bind(V, S("ex"), S("amq.direct"), S("k"), NULL, BO, &E), 405, locked);
    ASSERT_OK(queue_bind(V, S("ex"), S("amq.direct"), S("k"), NULL, A, &E));
    ASSERT_ERR(queue_purge(V, S("ex"), BO, NULL, &E), 405, locked);
    ASSERT_ERR(queue_delete(V, S("ex"), BO, false, false, NULL, &E), 405, locked);
    /* anyone may publish to it */
    ck_assert_int_eq(pub("", "ex", "m"), 1);
    ck_assert_int_eq(pub("amq.direct", "k", "m"), 1);
    /* a non-exclusive queue cannot be redeclared exclusive */
    mk_queue("shared");
    ASSERT_ERR(qdecl("shared", false, false, true, false, A, NULL, &ok), 405,
               "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'shared' in "
               "vhost '/'. It could be originally declared on another connection or the "
               "exclusive property value does not match that of the original declaration.");
    /* the owner's connection closing deletes it */
    ASSERT_OK(qdecl("ex2", false, false, true, false, A, NULL, &ok));
    ASSERT_OK(qdecl("exb", false, false, true, false, BO, NULL, &ok));
    broker_connection_closed(B, A);
    ck_assert_ptr_null(queue_lookup(V, S("ex"), A, NULL));
    ck_assert_ptr_null(queue_lookup(V, S("ex2"), A, NULL));
    ck_assert_ptr_nonnull(queue_lookup(V, S("exb"), BO, NULL));
    ck_assert_int_eq(pub("amq.direct", "k", "m"), 0);
    ASSERT_OK(qdecl("ex", false, false, true, false, BO, NULL, &ok));
    broker_connection_closed(B, A);     /* nothing left: fine */
    broker_connection_closed(B, BO);
    ck_assert_uint_eq(vhost_queue_count(V), 1);     /* "shared" */
}
END_TEST

START_TEST(queue_auto_delete)
{
    struct queue *q = mk_queue_full("ad", false, false, true, NULL, NULL);
    struct tcons t1, t2;
    tc_start(&t1, q, false, false, 0);
    tc_start(&t2, q, false, false, 0);
    consumer_cancel(t1.c);
    ck_assert_ptr_nonnull(queue_lookup(V, S("ad"), NULL, NULL));
    consumer_cancel(t2.c);
    ck_assert_ptr_null(queue_lookup(V, S("ad"), NULL, NULL));
    /* never consumed: stays */
    mk_queue_full("ad2", false, false, true, NULL, NULL);
    ck_assert_ptr_nonnull(queue_lookup(V, S("ad2"), NULL, NULL));
}
END_TEST

/* ---- queue arguments ------------------------------------------------------------------ */

START_TEST(queue_arguments_validation)
{
    struct targs ta;
    struct queue_declare_ok ok;
    ta_init(&ta);
    ASSERT_OK(qdecl("c", false, true, false, false, NULL, ta_str(&ta, "x-queue-type", "classic"),
                    &ok));
    ASSERT_OK(qdecl("c", false, true, false, false, NULL, NULL, &ok));   /* classic == none */
    ta_init(&ta);
    ASSERT_ERR(qdecl("s", false, true, false, false, NULL,
                     ta_str(&ta, "x-queue-type", "stream"), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 's' in vhost '/': "
               "\"unsupported queue type 'stream'\"");
    ta_init(&ta);
    ASSERT_ERR(qdecl("s", false, true, false, false, NULL,
                     ta_int(&ta, "x-queue-type", BROKER_V_I32, 1), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 's' in vhost '/': "
               "{unacceptable_type,signedint}");
    ta_init(&ta);
    ASSERT_ERR(qdecl("t", false, false, false, false, NULL,
                     ta_int(&ta, "x-message-ttl", BROKER_V_I32, -1), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 't' in vhost '/': "
               "{value_negative,-1}");
    ck_assert_ptr_null(queue_lookup(V, S("t"), NULL, NULL));
    ta_init(&ta);
    ASSERT_ERR(qdecl("t", false, false, false, false, NULL,
                     ta_str(&ta, "x-max-age", "1D"), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 't' in vhost '/' of "
               "queue type rabbit_classic_queue");
    ta_init(&ta);
    ASSERT_ERR(qdecl("t", false, false, false, false, NULL,
                     ta_str(&ta, "x-queue-mode", "turbo"), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue 't' in vhost '/': "
               "\"unsupported queue mode 'turbo'\"");
    ta_init(&ta);
    ASSERT_ERR(qdecl("t", false, false, false, false, NULL,
                     ta_int(&ta, "x-queue-version", BROKER_V_I8, 3), &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-queue-version' for queue 't' in vhost '/': "
               "\"unsupported queue version '3'\"");
    /* accepted no-ops and unknown keys are kept */
    ta_init(&ta);
    ta_str(&ta, "x-queue-mode", "lazy");
    ta_int(&ta, "x-queue-version", BROKER_V_I8, 2);
    ta_str(&ta, "x-custom", "kept");
    ASSERT_OK(qdecl("lazy", false, false, false, false, NULL, &ta.t, &ok));
    struct queue_info info;
    queue_get_info(ok.queue, &info);
    ck_assert_uint_eq(info.args->count, 3);
    const struct broker_value *v = broker_table_get(info.args, "x-custom");
    ck_assert_ptr_nonnull(v);
    ck_assert(bytes_eq_cstr(v->v.str, "kept"));
    /* equivalence on compared arguments, unknown ones ignored */
    ASSERT_ERR(qdecl("lazy", false, false, false, false, NULL, NULL, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue 'lazy' in vhost "
               "'/': received none but current is the value 'lazy' of type 'longstr'");
    struct targs tb;
    ta_init(&tb);
    ta_str(&tb, "x-queue-mode", "lazy");
    ta_int(&tb, "x-queue-version", BROKER_V_I64, 2);     /* int class: same */
    ASSERT_OK(qdecl("lazy", false, false, false, false, NULL, &tb.t, &ok));
    ta_init(&tb);
    ta_str(&tb, "x-queue-mode", "lazy");
    ta_int(&tb, "x-queue-version", BROKER_V_I64, 1);
    ASSERT_ERR(qdecl("lazy", false, false, false, false, NULL, &tb.t, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'x-queue-version' for queue 'lazy' in "
               "vhost '/': received '1' but current is '2'");
    ta_init(&tb);
    ta_int(&tb, "x-queue-version", BROKER_V_I8, 2);
    ASSERT_ERR(qdecl("lazy", false, false, false, false, NULL, &tb.t, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'x-queue-mode' for queue 'lazy' in vhost "
               "'/': received none but current is the value 'lazy' of type 'longstr'");
    struct queue_declare_ok ok2;
    ta_init(&tb);
    ASSERT_OK(qdecl("v", false, false, false, false, NULL,
                    ta_int(&tb, "x-queue-version", BROKER_V_I8, 2), &ok2));
    ta_init(&tb);
    ASSERT_ERR(qdecl("v", false, false, false, false, NULL, &tb.t, &ok2), 406,
               "PRECONDITION_FAILED - inequivalent arg 'x-queue-version' for queue 'v' in vhost "
               "'/': received none but current is the value '2' of type 'byte'");
}
END_TEST

START_TEST(queue_quorum_is_durable_classic)
{
    struct targs ta;
    struct queue_declare_ok ok;
    ta_init(&ta);
    ta_str(&ta, "x-queue-type", "quorum");
    ASSERT_ERR(qdecl("qq", false, false, false, false, NULL, &ta.t, &ok), 406,
               "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'qq' in vhost '/'");
    ASSERT_ERR(qdecl("qq", false, true, true, false, A, &ta.t, &ok), 406,
               "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 'qq' in vhost "
               "'/'");
    ASSERT_ERR(qdecl("", false, true, false, false, NULL, &ta.t, &ok), 406,
               "PRECONDITION_FAILED - Cannot declare a server-named queue for type "
               "rabbit_quorum_queue");
    ASSERT_OK(qdecl("qq", false, true, false, false, NULL, &ta.t, &ok));
    struct queue_info info;
    queue_get_info(ok.queue, &info);
    ck_assert(info.durable);
    ck_assert_int_eq(pub("", "qq", "m"), 1);
    ASSERT_ERR(qdecl("qq", false, true, false, false, NULL, NULL, &ok), 406,
               "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'qq' in vhost "
               "'/': received none but current is the value 'quorum' of type 'longstr'");
    /* quorum-only arguments apply to it, classic-only ones do not */
    struct targs tb;
    ta_init(&tb);
    ta_str(&tb, "x-queue-type", "quorum");
    ta_int(&tb, "x-quorum-initial-group-size", BROKER_V_I32, 3);
    ASSERT_OK(qdecl("qq2", false, true, false, false, NULL, &tb.t, &ok));
    ta_init(&tb);
    ta_str(&tb, "x-queue-type", "quorum");
    ta_str(&tb, "x-queue-mode", "lazy");
    ASSERT_ERR(qdecl("qq3", false, true, false, false, NULL, &tb.t, &ok), 406,
               "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue 'qq3' in vhost '/' of "
               "queue type rabbit_quorum_queue");
}
END_TEST

/* ---- queue.delete and purge ----------------------------------------------------------------- */

START_TEST(queue_delete_rules)
{
    uint32_t n = 99;
    ASSERT_OK(queue_delete(V, S("missing"), NULL, true, true, &n, &E));
    ck_assert_uint_eq(n, 0);
    struct queue *q = mk_queue("q");
    mk_bind("q", "amq.fanout", "", NULL);
    ck_assert_int_eq(pub("", "q", "m1"), 1);
    ck_assert_int_eq(pub("", "q", "m2"), 1);
    ASSERT_ERR(queue_delete(V, S("q"), NULL, false, true, &n, &E), 406,
               "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty");
    struct tcons t;
    tc_start(&t, q, false, false, 0);
    ASSERT_ERR(queue_delete(V, S("q"), NULL, true, false, &n, &E), 406,
               "PRECONDITION_FAILED - queue 'q' in vhost '/' in use");
    ASSERT_ERR(queue_delete(V, S("q"), NULL, true, true, &n, &E), 406,
               "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty");
    ASSERT_OK(queue_delete(V, S("q"), NULL, false, false, &n, &E));
    ck_assert_uint_eq(n, 2);
    ck_assert(t.cancelled);
    ck_assert_ptr_null(queue_lookup(V, S("q"), NULL, NULL));
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("amq.fanout"))), 0);
    ck_assert_int_eq(pub("amq.fanout", "", "m"), 0);
    ASSERT_ERR(queue_purge(V, S("q"), NULL, &n, &E), 404,
               "NOT_FOUND - no queue 'q' in vhost '/'");
}
END_TEST

/* ---- bindings ------------------------------------------------------------------------------ */

START_TEST(binding_rules)
{
    mk_queue("q");
    mk_exchange("x", "direct");
    ASSERT_ERR(queue_bind(V, S("nq"), S("nx"), S("k"), NULL, NULL, &E), 404,
               "NOT_FOUND - no exchange 'nx' in vhost '/'");
    ASSERT_ERR(queue_bind(V, S("nq"), S("x"), S("k"), NULL, NULL, &E), 404,
               "NOT_FOUND - no queue 'nq' in vhost '/'");
    ASSERT_ERR(queue_bind(V, S("q"), S(""), S("q"), NULL, NULL, &E), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(queue_unbind(V, S("q"), S(""), S("q"), NULL, NULL, &E), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(exchange_bind(V, S(""), S("x"), S("k"), NULL, &E), 403,
               "ACCESS_REFUSED - operation not permitted on the default exchange");
    ASSERT_ERR(exchange_bind(V, S("ny"), S("x"), S("k"), NULL, &E), 404,
               "NOT_FOUND - no exchange 'ny' in vhost '/'");
    ASSERT_ERR(queue_unbind(V, S("q"), S("nx"), S("k"), NULL, NULL, &E), 404,
               "NOT_FOUND - no exchange 'nx' in vhost '/'");
    mk_bind("q", "x", "k", NULL);
    mk_bind("q", "x", "k", NULL);   /* idempotent */
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("x"))), 1);
    mk_bind("q", "x", "k2", NULL);
    struct targs ta;
    ta_init(&ta);
    mk_bind("q", "x", "k", ta_str(&ta, "a", "1"));   /* other args: another binding */
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("x"))), 3);
    ck_assert_int_eq(pub("x", "k", "m"), 1);        /* one copy */
    ASSERT_OK(queue_unbind(V, S("q"), S("x"), S("nope"), NULL, NULL, &E));  /* absent: ok */
    ASSERT_OK(queue_unbind(V, S("q"), S("x"), S("k"), NULL, NULL, &E));
    ck_assert_uint_eq(exchange_binding_count(exchange_find(V, S("x"))), 2);
    ck_assert_int_eq(pub("x", "k", "m"), 1);        /* the args binding still routes */
    ASSERT_OK(queue_unbind(V, S("q"), S("x"), S("k"), &ta.t, NULL, &E));
    ck_assert_int_eq(pub("x", "k", "m"), 0);
    ck_assert_int_eq(pub("x", "k2", "m"), 1);
}
END_TEST

struct bi_collect {
    int n;
    char seen[8][64];
};

static bool bi_cb(void *ctx, const struct binding_info *bi)
{
    struct bi_collect *c = ctx;
    snprintf(c->seen[c->n++], 64, "%s>%s:%.*s:%c", bi->source, bi->destination,
             (int)bi->routing_key.len, (const char *)bi->routing_key.ptr,
             bi->destination_is_queue ? 'q' : 'x');
    return true;
}

START_TEST(binding_listing)
{
    mk_queue("q");
    mk_exchange("x", "topic");
    mk_exchange("y", "fanout");
    mk_bind("q", "x", "a.*", NULL);
    mk_xbind("y", "x", "b.#");
    struct bi_collect c = {0};
    exchange_foreach_binding(exchange_find(V, S("x")), bi_cb, &c);
    ck_assert_int_eq(c.n, 2);
    bool qseen = false, xseen = false;
    for (int i = 0; i < c.n; i++) {
        qseen |= strcmp(c.seen[i], "x>q:a.*:q") == 0;
        xseen |= strcmp(c.seen[i], "x>y:b.#:x") == 0;
    }
    ck_assert(qseen && xseen);
}
END_TEST

START_TEST(binding_headers_validation)
{
    mk_queue("q");
    struct targs ta;
    ta_init(&ta);
    ASSERT_ERR(queue_bind(V, S("q"), S("amq.headers"), S(""), ta_str(&ta, "x-match", "some"),
                          NULL, &E), 406,
               "PRECONDITION_FAILED - Invalid x-match field value <<\"some\">>; expected all, "
               "any, all-with-x, or any-with-x");
    ta_init(&ta);
    ASSERT_ERR(queue_bind(V, S("q"), S("amq.headers"), S(""),
                          ta_int(&ta, "x-match", BROKER_V_I64, 1), NULL, &E), 406,
               "PRECONDITION_FAILED - Invalid x-match field type long (value 1); expected "
               "longstr");
    ta_init(&ta);
    ASSERT_OK(queue_bind(V, S("q"), S("amq.headers"), S(""), ta_str(&ta, "x-match", "any"),
                         NULL, &E));
    /* other exchange types accept any arguments */
    ta_init(&ta);
    ASSERT_OK(queue_bind(V, S("q"), S("amq.direct"), S(""), ta_str(&ta, "x-match", "some"),
                         NULL, &E));
}
END_TEST

/* ---- consumers ----------------------------------------------------------------------------- */

START_TEST(consumer_exclusive_rules)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2;
    tc_start(&t1, q, false, true, 0);
    struct consumer *c;
    struct consume_opts o = {.tag = S("c2")};
    ASSERT_ERR(queue_consume(q, &o, &tc_ops, &t2, &c, &E), 403,
               "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use");
    ck_assert_ptr_null(c);
    consumer_cancel(t1.c);
    tc_start(&t1, q, false, false, 0);
    o.exclusive = true;
    ASSERT_ERR(queue_consume(q, &o, &tc_ops, &t2, &c, &E), 403,
               "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use");
    o.exclusive = false;
    struct targs ta;
    ta_init(&ta);
    o.args = ta_str(&ta, "x-priority", "high");
    ASSERT_ERR(queue_consume(q, &o, &tc_ops, &t2, &c, &E), 406,
               "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'q' in vhost '/': "
               "\"expected integer, got longstr\"");
    ta_init(&ta);
    o.args = ta_int(&ta, "x-priority", BROKER_V_I32, 5);
    memset(&t2, 0, sizeof(t2));
    t2.q = q;
    ASSERT_OK(queue_consume(q, &o, &tc_ops, &t2, &t2.c, &E));
    ck_assert(bytes_eq_cstr(consumer_tag(t2.c), "c2"));
    ck_assert_ptr_eq(consumer_queue(t2.c), q);
    ck_assert(!consumer_no_ack(t2.c));
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.consumers, 2);
    consumer_cancel(t1.c);
    consumer_cancel(t2.c);
}
END_TEST

/* ---- hooks ---------------------------------------------------------------------------------- */

static int defs_changed;

static void on_defs(void *ctx, struct vhost *vh)
{
    EDAD_UNUSED(ctx);
    ck_assert_ptr_eq(vh, V);
    defs_changed++;
}

START_TEST(hooks_definitions_changed)
{
    struct broker_hooks h = {.definitions_changed = on_defs};
    broker_set_hooks(B, &h);
    defs_changed = 0;
    mk_queue("transient");
    mk_exchange("tx", "direct");
    mk_bind("transient", "tx", "k", NULL);
    ck_assert_int_eq(defs_changed, 0);
    mk_queue_full("dq", true, false, false, NULL, NULL);
    ck_assert_int_eq(defs_changed, 1);
    mk_exchange_full("dx", "direct", true, false, false, NULL);
    ck_assert_int_eq(defs_changed, 2);
    mk_bind("dq", "dx", "k", NULL);
    ck_assert_int_eq(defs_changed, 3);
    mk_bind("transient", "dx", "k", NULL);      /* not durable: transient queue */
    ck_assert_int_eq(defs_changed, 3);
    ASSERT_OK(queue_delete(V, S("dq"), NULL, false, false, NULL, &E));
    ck_assert_int_ge(defs_changed, 4);
    broker_set_hooks(B, NULL);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("broker_model");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, vhost_predeclared_exchanges);
    tcase_add_test(tc, vhost_delete_everything);
    tcase_add_test(tc, vhost_isolation);
    tcase_add_test(tc, vhost_iteration);
    tcase_add_test(tc, exchange_declare_and_equivalence);
    tcase_add_test(tc, exchange_declare_errors);
    tcase_add_test(tc, exchange_alternate_argument);
    tcase_add_test(tc, exchange_delete_rules);
    tcase_add_test(tc, exchange_delete_removes_e2e_bindings);
    tcase_add_test(tc, exchange_auto_delete);
    tcase_add_test(tc, exchange_auto_delete_cascade);
    tcase_add_test(tc, queue_declare_basics);
    tcase_add_test(tc, queue_server_named);
    tcase_add_test(tc, queue_exclusive);
    tcase_add_test(tc, queue_auto_delete);
    tcase_add_test(tc, queue_arguments_validation);
    tcase_add_test(tc, queue_quorum_is_durable_classic);
    tcase_add_test(tc, queue_delete_rules);
    tcase_add_test(tc, binding_rules);
    tcase_add_test(tc, binding_listing);
    tcase_add_test(tc, binding_headers_validation);
    tcase_add_test(tc, consumer_exclusive_rules);
    tcase_add_test(tc, hooks_definitions_changed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
