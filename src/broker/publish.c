/*
 * publish.c - basic.publish inside the broker: find the exchange, walk the
 * exchange graph (exchange-to-exchange bindings, alternate exchanges) with
 * visited marks so loops end and each queue gets the message once, then
 * enqueue on every queue found.  Never delivers to consumers: queues are
 * only marked for dispatch (a direct reply-to goes to its channel at
 * once).  x-delayed-message exchanges hold what x-delay asks them to;
 * deduplicating exchanges and queues drop duplicates.  The CC and BCC
 * headers add routing keys (RabbitMQ's sender-selected distribution) and
 * BCC is removed from what queues get.  Per publish there is no allocation
 * once the scratch arrays have grown to the routing fan-out (a BCC message
 * is copied once).
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "dedup_int.h"
#include "exchange_int.h"
#include "message_int.h"
#include "queue_int.h"

static void route_add_queue(struct route_ctx *rc, struct queue *q)
{
    struct broker *b = rc->b;
    if (q->route_gen == rc->gen)
        return;
    q->route_gen = rc->gen;
    if (b->route_qn == b->route_qcap) {
        b->route_qcap = b->route_qcap ? b->route_qcap * 2 : 16;
        b->route_q = xrealloc(b->route_q, sizeof(*b->route_q) * b->route_qcap);
    }
    b->route_q[b->route_qn++] = q;
}

static void route_add_exchange(struct route_ctx *rc, struct exchange *x)
{
    struct broker *b = rc->b;
    if (x->route_gen == rc->gen)
        return;
    x->route_gen = rc->gen;
    if (b->route_xn == b->route_xcap) {
        b->route_xcap = b->route_xcap ? b->route_xcap * 2 : 8;
        b->route_x = xrealloc(b->route_x, sizeof(*b->route_x) * b->route_xcap);
    }
    b->route_x[b->route_xn++] = x;
}

void route_emit(struct route_ctx *rc, struct binding *b)
{
    rc->matches++;
    if (b->dq)
        route_add_queue(rc, b->dq);
    else
        route_add_exchange(rc, b->dx);
}

const struct broker_table *route_headers(struct route_ctx *rc)
{
    if (!rc->headers_fetched) {
        rc->headers_fetched = true;
        if (rc->opts && rc->opts->get_headers)
            rc->headers = rc->opts->get_headers(rc->opts->headers_ctx);
        else if (rc->msg)
            rc->headers = codec_headers(rc->b, rc->msg);   /* delayed release */
    }
    return rc->headers;
}

/* An x-delayed-message exchange takes m when its x-delay asks for a delay;
 * the held copy carries x-delay = -delay, as RabbitMQ's plugin swaps it. */
static bool route_maybe_hold(struct route_ctx *rc, struct exchange *x)
{
    uint64_t delay;
    if (!x->delayed || rc->no_delay || !rc->msg || !delay_of(route_headers(rc), &delay))
        return false;
    struct broker *b = rc->b;
    struct message *held = NULL;
    /* a dead letter keeps its x-death record rather than get the swap */
    if (b->codec.with_header_int && !message_deaths(rc->msg))
        held = b->codec.with_header_int(b->codec.ctx, rc->msg, "x-delay", -(int64_t)delay);
    int st = delay_hold(x, held ? held : rc->msg, delay);
    message_unref(&held);
    if (st < 0) {
        rc->held_failed++;
    } else {
        rc->held++;
        rc->held_stored += st > 0;
    }
    return true;
}

/* ---- sender-selected distribution: CC and BCC ---------------------------------------- */

/*
 * Whether the property bytes may hold a CC or BCC header: the headers flag
 * (bit 13 of the property flags) is set and a field-table key "CC" or
 * "BCC" (its shortstr length octet, then the name) occurs somewhere.  The
 * only AMQP facts read here: a publish without such a key never pays for a
 * header decode; a false positive only costs one.
 */
static bool props_may_have_cc(struct edad_bytes props)
{
    if (props.len < 2 || !(props.ptr[0] & 0x20))
        return false;
    return memmem(props.ptr, props.len, "\x02" "CC", 3) != NULL ||
           memmem(props.ptr, props.len, "\x03" "BCC", 4) != NULL;
}

/*
 * Pick up the CC and BCC header arrays of rc->msg (RabbitMQ's
 * rabbit_basic:header_routes): each longstr element is one more routing
 * key, other elements are ignored; a CC or BCC header that is not an array
 * makes the message invalid (406, as RabbitMQ's channel answers).
 */
static edad_status route_cc_parse(struct route_ctx *rc, bool *has_bcc, struct broker_err *err)
{
    static const char *const keys[2] = {"CC", "BCC"};
    *has_bcc = false;
    rc->cc = rc->bcc = NULL;
    if (!rc->msg || !props_may_have_cc(message_props(rc->msg)))
        return EDAD_OK;
    const struct broker_table *h = route_headers(rc);
    for (int i = 0; i < 2; i++) {
        const struct broker_value *v = broker_table_get(h, keys[i]);
        if (!v)
            continue;
        if (v->kind != BROKER_V_ARRAY)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "invalid message: {unacceptable_type_in_header,\"%s\",%s}",
                                  keys[i], args_type_name(v->kind));
        if (i == 0)
            rc->cc = &v->v.array;
        else
            rc->bcc = &v->v.array;
        *has_bcc |= i == 1;
    }
    return EDAD_OK;
}

/* Routing types that route by key route the message once per CC/BCC key too. */
static bool type_routes_by_key(const struct exchange *x)
{
    return strcmp(x->type->name, "direct") == 0 || strcmp(x->type->name, "topic") == 0;
}

/* Route through x by rc->rk, then by every CC and BCC key. */
static void route_exchange(struct route_ctx *rc, struct exchange *x)
{
    x->type->route(x, rc);
    if ((!rc->cc && !rc->bcc) || !type_routes_by_key(x))
        return;
    struct edad_bytes rk = rc->rk;
    const struct broker_array *lists[2] = {rc->cc, rc->bcc};
    for (int l = 0; l < 2; l++)
        for (uint32_t i = 0; lists[l] && i < lists[l]->count; i++)
            if (lists[l]->values[i].kind == BROKER_V_STRING) {
                rc->rk = lists[l]->values[i].v.str;
                x->type->route(x, rc);
            }
    rc->rk = rk;
}

/* The default exchange: the queue named by each key. */
static void route_default(struct route_ctx *rc)
{
    struct queue *q = queue_find(rc->vh, rc->rk);
    if (q)
        route_add_queue(rc, q);
    const struct broker_array *lists[2] = {rc->cc, rc->bcc};
    for (int l = 0; l < 2; l++)
        for (uint32_t i = 0; lists[l] && i < lists[l]->count; i++)
            if (lists[l]->values[i].kind == BROKER_V_STRING &&
                (q = queue_find(rc->vh, lists[l]->values[i].v.str)) != NULL)
                route_add_queue(rc, q);
}

/* ---- the walk ---------------------------------------------------------------------------- */

/* Walk from x: each exchange routes once; an exchange that matched nothing
 * hands the message to its alternate exchange (if that exists). */
static void route_walk(struct route_ctx *rc, struct exchange *x)
{
    struct broker *b = rc->b;
    b->route_xn = 0;
    route_add_exchange(rc, x);
    for (uint32_t i = 0; i < b->route_xn; i++) {
        struct exchange *cur = b->route_x[i];
        if (route_maybe_hold(rc, cur))
            continue;   /* routed when due; no alternate exchange now */
        rc->matches = 0;
        route_exchange(rc, cur);
        if (rc->matches == 0 && cur->alternate) {
            struct exchange *ae = exchange_find(rc->vh, cur->alternate->v.str);
            if (ae)
                route_add_exchange(rc, ae);
        }
    }
}

void broker_route_collect(struct vhost *vh, struct exchange *x, struct message *m,
                          struct edad_bytes rk)
{
    struct broker *b = vh->broker;
    /* .msg: a dead letter reaching an x-delayed-message exchange is held */
    struct route_ctx rc = {.b = b, .vh = vh, .gen = ++b->route_gen, .rk = rk, .msg = m};
    b->route_qn = 0;
    /* a dead letter keeps its CC keys (RabbitMQ drops the header when the
     * queue has x-dead-letter-routing-key, deadletter.c) */
    bool has_bcc;
    struct broker_err err;
    if (route_cc_parse(&rc, &has_bcc, &err) != EDAD_OK)
        rc.cc = rc.bcc = NULL;
    if (!x || x->is_default) {
        route_default(&rc);
        return;
    }
    route_walk(&rc, x);
}

static bool is_reply_key(struct edad_bytes rk)
{
    size_t n = sizeof(BROKER_REPLY_PREFIX) - 1;
    return rk.len >= n && memcmp(rk.ptr, BROKER_REPLY_PREFIX, n) == 0;
}

/*
 * Route from x (NULL: the default exchange) and enqueue; counts into *r.
 * has_bcc: queues get a copy of the message without its BCC header.
 */
static void route_run(struct route_ctx *rc, struct exchange *x, bool has_bcc,
                      struct broker_publish_result *r)
{
    struct broker *b = rc->b;
    struct message *m = rc->msg, *stripped = NULL;
    b->route_qn = 0;
    if (has_bcc && b->codec.without_header) {
        stripped = b->codec.without_header(b->codec.ctx, rc->msg, "BCC");
        if (stripped)
            m = stripped;
    }
    if (!x || x->is_default) {
        if (is_reply_key(rc->rk)) {
            /* direct reply-to: straight to the requester's channel */
            if (broker_reply_route(b, rc->rk, m))
                r->routed++;
            message_unref(&stripped);
            return;
        }
        /* default exchange: every queue is bound by its own name */
        route_default(rc);
    } else {
        route_walk(rc, x);    /* holds keep BCC: its keys route at release */
    }
    r->delayed += rc->held;
    /* a stored held message is confirmed after the store's sync, like a queue's */
    r->pending += rc->held_stored;
    r->rejected += rc->held_failed;
    r->store_failed += rc->held_failed;
    /* dead letters caused by these enqueues (overflow) wait for the loop's end */
    b->route_busy++;
    for (uint32_t i = 0; i < b->route_qn; i++) {
        struct queue *q = b->route_q[i];
        bool stored = false;
        if (q->dedup && dedup_check_queue(q, route_headers(rc))) {
            r->deduplicated++;      /* dropped, and confirmed, as LavinMQ does */
        } else {
            edad_status st = queue_enqueue(q, m, &stored);
            if (st == EDAD_OK) {
                r->routed++;
                r->pending += stored;
            } else {
                r->rejected++;
                r->store_failed += st != EDAD_ERR_STATE;
            }
        }
    }
    b->route_busy--;
    message_unref(&stripped);
    if (b->dl_head)
        deadletter_flush(b);    /* dead letters caused above (overflow) */
}

void route_and_enqueue(struct vhost *vh, struct exchange *x, struct message *m,
                       const struct broker_publish_opts *opts, bool no_delay,
                       struct broker_publish_result *res)
{
    struct broker *b = vh->broker;
    struct broker_publish_result r;
    memset(&r, 0, sizeof(r));
    struct route_ctx rc = {
        .b = b, .vh = vh, .gen = ++b->route_gen, .rk = message_routing_key(m), .opts = opts,
        .msg = m, .no_delay = no_delay,
    };
    bool has_bcc = false;
    struct broker_err err;
    if (route_cc_parse(&rc, &has_bcc, &err) != EDAD_OK)
        rc.cc = rc.bcc = NULL;      /* checked at publish; a held dead letter: rk only */
    route_run(&rc, x, has_bcc, &r);
    if (res)
        *res = r;
}

/*
 * The default exchange's usual case, with route_run's outcome: the queue
 * named by the routing key (no CC/BCC keys possible, not a direct
 * reply-to, no queue deduplication).  False when the case does not apply
 * (nothing done).
 */
static bool publish_default_fast(struct vhost *vh, struct message *m,
                                 struct broker_publish_result *r)
{
    struct broker *b = vh->broker;
    struct edad_bytes rk = message_routing_key(m);
    if (props_may_have_cc(message_props(m)) || is_reply_key(rk))
        return false;
    struct queue *q = queue_find(vh, rk);
    if (q && q->dedup)
        return false;
    if (q) {
        bool stored = false;
        b->route_busy++;
        edad_status st = queue_enqueue(q, m, &stored);
        b->route_busy--;
        if (st == EDAD_OK) {
            r->routed = 1;
            r->pending = stored;
        } else {
            r->rejected = 1;
            r->store_failed = st != EDAD_ERR_STATE;
        }
    }
    if (b->dl_head)
        deadletter_flush(b);    /* dead letters caused above (overflow) */
    return true;
}

edad_status broker_publish(struct vhost *vh, struct message *m,
                           const struct broker_publish_opts *opts,
                           struct broker_publish_result *res, struct broker_err *err)
{
    struct broker *b = vh->broker;
    struct broker_publish_result r;
    memset(&r, 0, sizeof(r));
    if (res)
        *res = r;
    struct edad_bytes xname = message_exchange(m);
    if (b->scratch.used_total)
        codec_reset(b);         /* the last publish's codec output; else nothing to forget */
    if (xname.len == 0 && publish_default_fast(vh, m, &r)) {
        if (res)
            *res = r;
        return EDAD_OK;
    }
    struct exchange *x = NULL;
    struct route_ctx rc = {
        .b = b, .vh = vh, .gen = ++b->route_gen, .rk = message_routing_key(m), .opts = opts,
        .msg = m,
    };
    if (xname.len) {
        x = exchange_find(vh, xname);
        if (!x)
            return broker_err_set(err, BROKER_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
                                  (int)xname.len, (const char *)xname.ptr, vh->name);
        if (x->internal)
            return broker_err_set(err, BROKER_ACCESS_REFUSED,
                                  "cannot publish to internal exchange '%s' in vhost '%s'",
                                  x->name, vh->name);
    }
    /* an invalid CC/BCC header: after the exchange checks, as RabbitMQ */
    bool has_bcc = false;
    edad_status st = route_cc_parse(&rc, &has_bcc, err);
    if (st != EDAD_OK)
        return st;
    /* exchange deduplication: once per publish, at the exchange named */
    if (x && x->dedup && dedup_check_exchange(x, route_headers(&rc))) {
        r.deduplicated = 1;
        if (res)
            *res = r;
        return EDAD_OK;
    }
    route_run(&rc, x, has_bcc, &r);
    if (res)
        *res = r;
    return EDAD_OK;
}
