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
 * A consumer whose can_deliver says no leaves the active set until the
 * session calls consumer_resume, so blocked consumers cost nothing per
 * message.  Active consumers sit in groups by priority (x-priority),
 * highest first: dispatch serves the top group round-robin, and a lower
 * group only while every consumer above it is blocked.  With
 * x-single-active-consumer only the current one (the oldest registered)
 * may be active; the next in registration order takes over when it goes.
 */

static void consumer_put(struct consumer *c)
{
    if (--c->refs == 0) {
        free(c->args);
        free(c);
    }
}

/* The group of priority p, created (in order) when absent. */
static struct cgroup *group_get(struct queue *q, int32_t p)
{
    uint32_t i = 0;
    while (i < q->ngroups && q->groups[i].priority > p)
        i++;
    if (i < q->ngroups && q->groups[i].priority == p)
        return &q->groups[i];
    if (q->ngroups == q->groups_cap) {
        q->groups_cap = q->groups_cap ? q->groups_cap * 2 : 2;
        q->groups = xrealloc(q->groups, sizeof(*q->groups) * q->groups_cap);
    }
    memmove(&q->groups[i + 1], &q->groups[i], sizeof(*q->groups) * (q->ngroups - i));
    q->ngroups++;
    q->groups[i].priority = p;
    q->groups[i].n = 0;
    q->groups[i].rr = NULL;
    return &q->groups[i];
}

static struct cgroup *group_find(struct queue *q, int32_t p)
{
    for (uint32_t i = 0; i < q->ngroups; i++)
        if (q->groups[i].priority == p)
            return &q->groups[i];
    return NULL;
}

static void consumer_activate(struct consumer *c)
{
    struct queue *q = c->q;
    if (c->active || c->cancelled || (q->sac && q->sac_current != c))
        return;
    struct cgroup *g = group_get(q, c->priority);
    struct consumer *rr = g->rr;
    c->active = true;
    g->n++;
    if (!rr) {
        c->anext = c->aprev = c;
        g->rr = c;
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
    struct cgroup *g = group_find(q, c->priority);
    if (c->anext == c) {
        g->rr = NULL;
    } else {
        c->aprev->anext = c->anext;
        c->anext->aprev = c->aprev;
        if (g->rr == c)
            g->rr = c->anext;
    }
    c->anext = c->aprev = NULL;
    if (--g->n == 0) {
        uint32_t i = (uint32_t)(g - q->groups);
        memmove(&q->groups[i], &q->groups[i + 1], sizeof(*q->groups) * (q->ngroups - i - 1));
        q->ngroups--;
    }
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
    else
        q->cons_tail = c->prev;
    c->next = c->prev = NULL;
    q->consumer_count--;
    if (q->exclusive_consumer == c)
        q->exclusive_consumer = NULL;
    if (q->sac_current == c) {
        /* single active consumer: the next registered one takes over */
        q->sac_current = q->cons_head;
        if (q->sac_current) {
            consumer_activate(q->sac_current);
            queue_maybe_dirty(q);
        }
    }
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

    c->next = NULL;
    c->prev = q->cons_tail;
    if (q->cons_tail)
        q->cons_tail->next = c;
    else
        q->cons_head = c;
    q->cons_tail = c;
    q->consumer_count++;
    q->had_consumer = true;
    if (o->exclusive)
        q->exclusive_consumer = c;
    if (q->sac && !q->sac_current)
        q->sac_current = c;
    expiry_in_use(q);
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
    else if (q->consumer_count == 0)
        expiry_touch(q);
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
    while (budget > 0 && queue_has_active(q) && !q->deleted && q->ready > 0) {
        struct cgroup *g = &q->groups[0];
        struct consumer *c = g->rr;
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
        if (!queue_take_ready(q, &e, true)) {
            consumer_put(c);
            break;
        }
        if (c->active) {
            /* round robin within the group: the next one goes next */
            g = group_find(q, c->priority);
            g->rr = c->anext;
        }
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
    return !q->deleted && queue_has_active(q) && q->ready > 0;
}
