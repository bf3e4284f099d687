/*
 * publish.c - basic.publish inside the broker: find the exchange, walk the
 * exchange graph (exchange-to-exchange bindings, alternate exchanges) with
 * visited marks so loops end and each queue gets the message once, then
 * enqueue on every queue found.  Never delivers: queues are only marked
 * for dispatch.  Per publish there is no allocation once the scratch
 * arrays have grown to the routing fan-out.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
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
    }
    return rc->headers;
}

/* Walk from x: each exchange routes once; an exchange that matched nothing
 * hands the message to its alternate exchange (if that exists). */
static void route_walk(struct route_ctx *rc, struct exchange *x)
{
    struct broker *b = rc->b;
    b->route_xn = 0;
    route_add_exchange(rc, x);
    for (uint32_t i = 0; i < b->route_xn; i++) {
        struct exchange *cur = b->route_x[i];
        rc->matches = 0;
        cur->type->route(cur, rc);
        if (rc->matches == 0 && cur->alternate) {
            struct exchange *ae = exchange_find(rc->vh, cur->alternate->v.str);
            if (ae)
                route_add_exchange(rc, ae);
        }
    }
}

edad_status broker_publish(struct vhost *vh, struct message *m,
                           const struct broker_publish_opts *opts,
                           struct broker_publish_result *res, struct broker_err *err)
{
    struct broker *b = vh->broker;
    struct broker_publish_result r = {0, 0, 0};
    struct edad_bytes xname = message_exchange(m);
    struct edad_bytes rk = message_routing_key(m);
    struct route_ctx rc = {
        .b = b, .vh = vh, .gen = ++b->route_gen, .rk = rk, .opts = opts,
    };
    b->route_qn = 0;
    if (xname.len == 0) {
        /* default exchange: every queue is bound by its own name */
        struct queue *q = queue_find(vh, rk);
        if (q)
            route_add_queue(&rc, q);
    } else {
        struct exchange *x = exchange_find(vh, xname);
        if (!x) {
            if (res)
                *res = r;
            return broker_err_set(err, BROKER_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
                                  (int)xname.len, (const char *)xname.ptr, vh->name);
        }
        if (x->internal) {
            if (res)
                *res = r;
            return broker_err_set(err, BROKER_ACCESS_REFUSED,
                                  "cannot publish to internal exchange '%s' in vhost '%s'",
                                  x->name, vh->name);
        }
        route_walk(&rc, x);
    }
    for (uint32_t i = 0; i < b->route_qn; i++) {
        if (queue_enqueue(b->route_q[i], m) == EDAD_OK)
            r.routed++;
        else
            r.rejected++;
    }
    if (res)
        *res = r;
    return EDAD_OK;
}
