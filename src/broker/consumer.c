/*
 * consumer.c - consumers of a queue and dispatch: round-robin over the
 * consumers that may have credit (the active ring), exclusive consumers,
 * auto-delete on the last cancel, cancel notices on queue deletion.
 * Credit itself (prefetch, flow, output space) is the session's business.
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "message_int.h"
#include "queue_int.h"

/*
 * A consumer whose can_deliver says no leaves the active ring until the
 * session calls consumer_resume, so blocked consumers cost nothing per
 * message.  Consumer priorities and single-active-consumer (issue 4) will
 * order the ring by priority or keep one member in it; the ring is the only
 * place that changes.
 */

static void consumer_put(struct consumer *c)
{
    if (--c->refs == 0) {
        free(c->args);
        free(c);
    }
}

static void consumer_activate(struct consumer *c)
{
    struct queue *q = c->q;
    struct consumer *rr = q->rr;
    c->active = true;
    if (!rr) {
        c->anext = c->aprev = c;
        q->rr = c;
        return;
    }
    /* insert just before the cursor: it gets its turn after the others */
    c->anext = rr;
    c->aprev = rr->aprev;
    rr->aprev->anext = c;
    rr->aprev = c;
}

static void consumer_deactivate(struct consumer *c)
{
    struct queue *q = c->q;
    if (!c->active)
        return;
    c->active = false;
    if (c->anext == c) {
        q->rr = NULL;
    } else {
        c->aprev->anext = c->anext;
        c->anext->aprev = c->aprev;
        if (q->rr == c)
            q->rr = c->anext;
    }
    c->anext = c->aprev = NULL;
}

/* Take c off its queue's lists (no callbacks, no auto-delete). */
static void consumer_detach(struct consumer *c)
{
    struct queue *q = c->q;
    c->cancelled = true;
    consumer_deactivate(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        q->cons_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    q->consumer_count--;
    if (q->exclusive_consumer == c)
        q->exclusive_consumer = NULL;
}

edad_status queue_consume(struct queue *q, const struct consume_opts *o,
                          const struct consumer_ops *ops, void *ctx,
                          struct consumer **out, struct broker_err *err)
{
    char what[BROKER_NAME_MAX * 2 + 64];
    int32_t priority;
    *out = NULL;
    if (q->deleted)
        return broker_err_set(err, BROKER_NOT_FOUND, "no queue '%s'", q->name);
    broker_rs(what, sizeof(what), "queue", q->name, q->name_len, q->vh);
    edad_status st = args_validate_consume(o->args, what, &priority, err);
    if (st != EDAD_OK)
        return st;
    if (q->exclusive_consumer || (o->exclusive && q->consumer_count > 0))
        return broker_err_set(err, BROKER_ACCESS_REFUSED, "%s in exclusive use", what);

    struct consumer *c = xcalloc(1, sizeof(*c) + o->tag.len + 1);
    c->q = q;
    c->ops = ops;
    c->ctx = ctx;
    c->refs = 1;
    c->no_ack = o->no_ack;
    c->exclusive = o->exclusive;
    c->priority = priority;
    c->args = args_dup(o->args);
    c->tag_len = o->tag.len;
    if (o->tag.len)
        memcpy(c->tag, o->tag.ptr, o->tag.len);
    c->tag[o->tag.len] = '\0';

    c->prev = NULL;
    c->next = q->cons_head;
    if (q->cons_head)
        q->cons_head->prev = c;
    q->cons_head = c;
    q->consumer_count++;
    q->had_consumer = true;
    if (o->exclusive)
        q->exclusive_consumer = c;
    consumer_activate(c);
    queue_maybe_dirty(q);
    *out = c;
    return EDAD_OK;
}

void consumer_cancel(struct consumer *c)
{
    if (c->cancelled)
        return;
    struct queue *q = c->q;
    consumer_detach(c);
    consumer_put(c);
    if (q->auto_delete && q->had_consumer && q->consumer_count == 0 && !q->deleted)
        queue_delete_now(q);
}

void consumer_cancel_all_notify(struct queue *q)
{
    struct consumer *c;
    while ((c = q->cons_head) != NULL) {
        c->refs++;
        consumer_detach(c);
        if (c->ops->cancelled)
            c->ops->cancelled(c->ctx, c);
        c->refs--;              /* ours; the queue's goes below */
        consumer_put(c);
    }
}

void consumer_resume(struct consumer *c)
{
    if (c->cancelled || c->active)
        return;
    consumer_activate(c);
    queue_maybe_dirty(c->q);
}

struct queue *consumer_queue(const struct consumer *c)
{
    return c->q;
}

struct edad_bytes consumer_tag(const struct consumer *c)
{
    struct edad_bytes t = {(const uint8_t *)c->tag, c->tag_len};
    return t;
}

bool consumer_no_ack(const struct consumer *c)
{
    return c->no_ack;
}

bool queue_dispatch(struct queue *q, uint32_t budget)
{
    if (q->deleted)
        return false;
    while (budget > 0 && q->rr && !q->deleted && q->ring.count + q->heap.count > 0) {
        struct consumer *c = q->rr;
        c->refs++;
        if (!c->ops->can_deliver(c->ctx)) {
            consumer_deactivate(c);
            consumer_put(c);
            continue;
        }
        if (c->cancelled || !c->active || q->deleted) {
            consumer_put(c);
            continue;
        }
        struct queue_entry e;
        if (!queue_take(q, &e)) {
            consumer_put(c);
            break;
        }
        q->rr = c->anext;       /* round robin: the next one goes next */
        q->st_delivered++;
        if (e.flags & QUEUE_ENTRY_REDELIVERED)
            q->st_redelivered++;
        if (c->no_ack) {
            q->st_acked++;
            if (q->durable && message_persistent(e.msg) && q->b->hooks.store_remove)
                q->b->hooks.store_remove(q->b->hooks.ctx, q, &e);
        } else {
            q->unacked++;
            q->unacked_bytes += message_body_len(e.msg);
        }
        c->ops->deliver(c->ctx, c, q, &e);
        consumer_put(c);
        budget--;
    }
    return !q->deleted && q->rr && q->ring.count + q->heap.count > 0;
}
