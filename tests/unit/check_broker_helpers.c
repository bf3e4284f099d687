/*
 * check_broker_helpers.c - fixtures shared by the broker suites (see the
 * header).  Test code only; every helper asserts through Check.
 */
#include <stdio.h>
#include <string.h>

#include "check_broker_helpers.h"

struct broker *B;
struct vhost *V;
struct broker_err E;

void fx_setup(void)
{
    log_set_level(EDAD_LOG_WARNING);
    B = broker_new(NULL);
    V = broker_vhost_add(B, "/");
    memset(&E, 0, sizeof(E));
}

void fx_teardown(void)
{
    broker_free(B);
    B = NULL;
    V = NULL;
}

struct edad_bytes S(const char *s)
{
    return bytes_from_cstr(s);
}

struct broker_table *ta_init(struct targs *ta)
{
    memset(ta, 0, sizeof(*ta));
    ta->t.entries = ta->e;
    return &ta->t;
}

static struct broker_arg *ta_next(struct targs *ta, const char *key)
{
    ck_assert_uint_lt(ta->t.count, 16);
    ta->t.entries = ta->e;
    struct broker_arg *a = &ta->e[ta->t.count++];
    a->key = S(key);
    return a;
}

struct broker_table *ta_str(struct targs *ta, const char *key, const char *val)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = BROKER_V_STRING;
    a->value.v.str = S(val);
    return &ta->t;
}

struct broker_table *ta_bytes(struct targs *ta, const char *key, const char *val)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = BROKER_V_BYTES;
    a->value.v.str = S(val);
    return &ta->t;
}

struct broker_table *ta_int(struct targs *ta, const char *key, uint8_t kind, int64_t val)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = kind;
    a->value.v.i = val;
    return &ta->t;
}

struct broker_table *ta_double(struct targs *ta, const char *key, double val)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = BROKER_V_DOUBLE;
    a->value.v.d = val;
    return &ta->t;
}

struct broker_table *ta_bool(struct targs *ta, const char *key, bool val)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = BROKER_V_BOOL;
    a->value.v.b = val;
    return &ta->t;
}

struct broker_table *ta_void(struct targs *ta, const char *key)
{
    struct broker_arg *a = ta_next(ta, key);
    a->value.kind = BROKER_V_VOID;
    return &ta->t;
}

void mk_exchange_full(const char *name, const char *type, bool durable, bool auto_delete,
                      bool internal, const struct broker_table *args)
{
    struct exchange_declare d = {
        .name = S(name), .type = S(type), .durable = durable, .auto_delete = auto_delete,
        .internal = internal, .args = args,
    };
    edad_status st = exchange_declare(V, &d, &E);
    ck_assert_msg(st == EDAD_OK, "declare exchange %s: %s", name, E.text);
}

void mk_exchange(const char *name, const char *type)
{
    mk_exchange_full(name, type, false, false, false, NULL);
}

struct queue *mk_queue_full(const char *name, bool durable, bool exclusive, bool auto_delete,
                            const void *owner, const struct broker_table *args)
{
    struct queue_declare d = {
        .name = S(name), .durable = durable, .exclusive = exclusive,
        .auto_delete = auto_delete, .args = args, .owner = owner,
    };
    struct queue_declare_ok ok;
    edad_status st = queue_declare(V, &d, &ok, &E);
    ck_assert_msg(st == EDAD_OK, "declare queue %s: %s", name, E.text);
    return ok.queue;
}

struct queue *mk_queue(const char *name)
{
    return mk_queue_full(name, false, false, false, NULL, NULL);
}

void mk_bind(const char *queue, const char *exchange, const char *key,
             const struct broker_table *args)
{
    edad_status st = queue_bind(V, S(queue), S(exchange), S(key), args, NULL, &E);
    ck_assert_msg(st == EDAD_OK, "bind %s->%s (%s): %s", exchange, queue, key, E.text);
}

void mk_xbind(const char *dest, const char *source, const char *key)
{
    edad_status st = exchange_bind(V, S(dest), S(source), S(key), NULL, &E);
    ck_assert_msg(st == EDAD_OK, "xbind %s->%s (%s): %s", source, dest, key, E.text);
}

struct message *msg(const char *exchange, const char *rk, const char *body, bool persistent)
{
    struct message_info info = {.persistent = persistent, .expiration_ms = -1};
    struct message *m = message_new(S(exchange), S(rk), S("\x80\x00"), strlen(body), &info);
    ck_assert_ptr_nonnull(m);
    memcpy(message_body_mut(m), body, strlen(body));
    return m;
}

struct hdr_ctx {
    const struct broker_table *t;
    int calls;
};

static const struct broker_table *hdr_get(void *ctx)
{
    struct hdr_ctx *h = ctx;
    h->calls++;
    return h->t;
}

int pub_msg(struct message *m, const struct broker_table *headers)
{
    struct hdr_ctx hc = {headers, 0};
    struct broker_publish_opts o = {hdr_get, &hc};
    struct broker_publish_result r;
    memset(&E, 0, sizeof(E));
    edad_status st = broker_publish(V, m, &o, &r, &E);
    if (st != EDAD_OK)
        return -(int)E.code;
    return (int)r.routed;
}

int pub_h(const char *exchange, const char *rk, const char *body,
          const struct broker_table *headers, int *headers_calls)
{
    struct message *m = msg(exchange, rk, body, false);
    struct hdr_ctx hc = {headers, 0};
    struct broker_publish_opts o = {hdr_get, &hc};
    struct broker_publish_result r;
    memset(&E, 0, sizeof(E));
    edad_status st = broker_publish(V, m, &o, &r, &E);
    message_unref(&m);
    if (headers_calls)
        *headers_calls = hc.calls;
    if (st != EDAD_OK)
        return -(int)E.code;
    return (int)r.routed;
}

int pub(const char *exchange, const char *rk, const char *body)
{
    return pub_h(exchange, rk, body, NULL, NULL);
}

uint32_t ready(struct queue *q)
{
    struct queue_stats s;
    queue_get_stats(q, &s);
    return s.ready;
}

uint32_t unacked(struct queue *q)
{
    struct queue_stats s;
    queue_get_stats(q, &s);
    return s.unacked;
}

void body_of(const struct queue_entry *e, char *buf, size_t n)
{
    struct edad_bytes b = message_body(e->msg);
    snprintf(buf, n, "%.*s", (int)b.len, (const char *)b.ptr);
}

bool get_body(struct queue *q, bool no_ack, struct queue_entry *e, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!queue_get(q, no_ack, e, NULL))
        return false;
    body_of(e, buf, n);
    return true;
}

static bool tc_can(void *ctx)
{
    struct tcons *t = ctx;
    t->can_calls++;
    return t->credit > 0;
}

static void tc_deliver(void *ctx, struct consumer *c, struct queue *q, struct queue_entry *e)
{
    struct tcons *t = ctx;
    ck_assert_ptr_eq(c, t->c);
    ck_assert_ptr_eq(q, t->q);
    ck_assert_uint_lt(t->n, TC_MAX);
    t->got[t->n++] = *e;
    t->credit--;
    if (t->cancel_in_deliver) {
        t->cancel_in_deliver = false;
        consumer_cancel(c);
        t->c = NULL;
    }
}

static void tc_cancelled(void *ctx, struct consumer *c)
{
    struct tcons *t = ctx;
    ck_assert_ptr_eq(c, t->c);
    t->cancelled = true;
    t->c = NULL;
}

const struct consumer_ops tc_ops = {tc_can, tc_deliver, tc_cancelled};

void tc_start(struct tcons *t, struct queue *q, bool no_ack, bool exclusive, uint32_t credit)
{
    memset(t, 0, sizeof(*t));
    t->q = q;
    t->credit = credit;
    t->no_ack = no_ack;
    struct consume_opts o = {.tag = S("ctag"), .no_ack = no_ack, .exclusive = exclusive};
    edad_status st = queue_consume(q, &o, &tc_ops, t, &t->c, &E);
    ck_assert_msg(st == EDAD_OK, "consume: %s", E.text);
}

void dispatch_all(void)
{
    int guard = 0;
    while (broker_dispatch_pending(B))
        ck_assert_int_lt(++guard, 100000);
}

void tc_ack_all(struct tcons *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        if (!t->got[i].msg)
            continue;
        if (t->no_ack)
            message_unref(&t->got[i].msg);
        else
            queue_ack(t->q, &t->got[i]);
    }
}
