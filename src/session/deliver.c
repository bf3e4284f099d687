/*
 * deliver.c - the consuming side of a channel: the consumer callbacks the
 * broker calls (credit check, delivery, cancellation), basic.deliver and
 * basic.get-ok encoding, delivery tags and the unacked bookkeeping, and
 * settlement (ack / requeue / drop) with prefetch credit.  Which method
 * does what is handle_basic.c's; routing and queues are the broker's.
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

/* ---- consumer list of a channel ------------------------------------------------ */

static void cc_link(struct channel *ch, struct chan_consumer *cc)
{
    cc->prev = NULL;
    cc->next = ch->consumers;
    if (ch->consumers)
        ch->consumers->prev = cc;
    ch->consumers = cc;
    ch->n_consumers++;
}

static void cc_set_blocked(struct chan_consumer *cc, bool blocked)
{
    if (cc->blocked == blocked)
        return;
    cc->blocked = blocked;
    struct channel *ch = cc->ch;
    if (blocked) {
        ch->n_blocked++;
        ch->conn->n_blocked++;
    } else {
        ch->n_blocked--;
        ch->conn->n_blocked--;
    }
}

/* Off the channel's live list; the broker consumer is gone or going. */
static void cc_unlink(struct chan_consumer *cc)
{
    struct channel *ch = cc->ch;
    cc_set_blocked(cc, false);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        ch->consumers = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    cc->next = cc->prev = NULL;
    ch->n_consumers--;
    cc->c = NULL;
}

/* A cancelled consumer goes once its last delivery is settled. */
static void cc_maybe_free(struct chan_consumer *cc)
{
    if (!cc->c && cc->unacked == 0)
        free(cc);
}

struct chan_consumer *deliver_find_consumer(struct channel *ch, struct edad_bytes tag)
{
    for (struct chan_consumer *cc = ch->consumers; cc; cc = cc->next)
        if (cc->tag_len == tag.len && memcmp(cc->tag, tag.ptr, tag.len) == 0)
            return cc;
    return NULL;
}

/* ---- credit ------------------------------------------------------------------------ */

/* May one more message go to cc now? */
static bool cc_has_credit(const struct chan_consumer *cc)
{
    const struct channel *ch = cc->ch;
    const struct connection *c = ch->conn;
    if (ch->state != CHANNEL_OPEN || ch->released || !ch->flow_active ||
        c->state != CONN_OPEN || c->dropping)
        return false;
    if (net_transport_output_saturated(c->t))
        return false;
    if (cc->no_ack)
        return true;   /* prefetch limits acknowledged deliveries only */
    if (cc->prefetch && cc->unacked >= cc->prefetch)
        return false;
    if (ch->channel_prefetch && ch->consumer_unacked >= ch->channel_prefetch)
        return false;
    return true;
}

static void cc_resume_if_credit(struct chan_consumer *cc)
{
    if (cc->blocked && cc->c && cc_has_credit(cc)) {
        cc_set_blocked(cc, false);
        consumer_resume(cc->c);
    }
}

void deliver_credit_changed(struct channel *ch)
{
    if (ch->n_blocked == 0)
        return;
    for (struct chan_consumer *cc = ch->consumers; cc && ch->n_blocked; cc = cc->next)
        cc_resume_if_credit(cc);
}

void deliver_output_drained(struct connection *c)
{
    for (uint32_t i = 0; i < c->n_channel_slots && c->n_blocked; i++) {
        struct channel *ch = c->channels[i];
        if (ch)
            deliver_credit_changed(ch);
    }
}

/* ---- encoding ------------------------------------------------------------------------ */

/* Do the broker's annotations (x-death, x-delivery-count) show in e's delivery? */
static bool deliver_needs_props(const struct queue_entry *e)
{
    return message_deaths(e->msg) ||
           ((e->flags & QUEUE_ENTRY_COUNT_HEADER) && e->delivery_count > 0);
}

/* basic.deliver or basic.get-ok with msg's content (e: properties may need
 * the broker's annotations; NULL: sent as published). */
static void deliver_send(struct channel *ch, const struct chan_consumer *cc, uint64_t tag,
                         bool redelivered, struct message *msg, uint32_t message_count,
                         const struct queue_entry *e)
{
    struct session_deliver d = {
        .ctag = cc ? cc->tag : NULL,
        .ctag_len = cc ? cc->tag_len : 0,
        .get_ok = cc == NULL,
        .redelivered = redelivered,
        .tag = tag,
        .message_count = message_count,
    };
    if (e) {
        /* a dead letter or a counted redelivery: annotations go into the
         * properties (rare path, its own arena) */
        struct arena a;
        struct edad_bytes props;
        arena_init(&a, 0);
        if (session_delivery_props(&a, msg, e, &props)) {
            session_send_deliver(ch->conn, ch->id, &d, msg, &props);
            arena_free(&a);
            return;
        }
        arena_free(&a);
    }
    session_send_deliver(ch->conn, ch->id, &d, msg, NULL);
}

/* ---- the consumer callbacks ------------------------------------------------------------- */

static bool cc_can_deliver(void *ctx)
{
    struct chan_consumer *cc = ctx;
    if (cc_has_credit(cc))
        return true;
    /* the broker stops asking until consumer_resume */
    cc_set_blocked(cc, true);
    return false;
}

static void cc_deliver(void *ctx, struct consumer *c, struct queue *q, struct queue_entry *e)
{
    EDAD_UNUSED(c);
    struct chan_consumer *cc = ctx;
    struct channel *ch = cc->ch;
    uint64_t tag = ch->next_tag++;
    deliver_send(ch, cc, tag, (e->flags & QUEUE_ENTRY_REDELIVERED) != 0, e->msg, 0,
                 deliver_needs_props(e) ? e : NULL);
    if (cc->no_ack) {
        message_unref(&e->msg);   /* settled by the broker already */
        return;
    }
    struct unacked_entry ue = {tag, q, cc, *e};
    unacked_add(&ch->unacked, &ue);
    e->msg = NULL;
    cc->unacked++;
    ch->consumer_unacked++;
}

static void cc_cancelled(void *ctx, struct consumer *c)
{
    EDAD_UNUSED(c);
    struct chan_consumer *cc = ctx;
    struct channel *ch = cc->ch;
    struct connection *conn = ch->conn;
    cc_unlink(cc);
    /* not to a channel or connection that is going away itself */
    if ((conn->client_caps & CLIENT_CAP_CONSUMER_CANCEL_NOTIFY) && conn->state == CONN_OPEN &&
        !conn->dropping && ch->state == CHANNEL_OPEN && !ch->released) {
        struct amqp_method m;
        memset(&m, 0, sizeof(m));
        m.id = AMQP_BASIC_CANCEL;
        m.u.basic_cancel.consumer_tag = (struct edad_bytes){(const uint8_t *)cc->tag, cc->tag_len};
        m.u.basic_cancel.nowait = true;
        session_send_method(conn, ch->id, &m);
    }
    log_debug("connection %s: channel %u: consumer '%.*s' cancelled by the broker",
              conn->name, (unsigned)ch->id, (int)cc->tag_len, cc->tag);
    cc_maybe_free(cc);
}

static const struct consumer_ops cc_ops = {
    .can_deliver = cc_can_deliver,
    .deliver = cc_deliver,
    .cancelled = cc_cancelled,
};

/* ---- consume / cancel -------------------------------------------------------------------- */

edad_status deliver_consume(struct channel *ch, struct queue *q, struct edad_bytes tag,
                            bool no_ack, bool exclusive, const struct broker_table *args,
                            struct broker_err *err)
{
    struct chan_consumer *cc = xcalloc(1, sizeof(*cc));
    cc->ch = ch;
    cc->no_ack = no_ack;
    cc->prefetch = ch->consumer_prefetch;
    cc->tag_len = (uint8_t)tag.len;
    if (tag.len)
        memcpy(cc->tag, tag.ptr, tag.len);
    struct consume_opts o = {
        .tag = {(const uint8_t *)cc->tag, cc->tag_len},
        .no_ack = no_ack,
        .exclusive = exclusive,
        .args = args,
    };
    edad_status st = queue_consume(q, &o, &cc_ops, cc, &cc->c, err);
    if (st != EDAD_OK) {
        free(cc);
        return st;
    }
    cc_link(ch, cc);
    return EDAD_OK;
}

void deliver_cancel(struct chan_consumer *cc)
{
    struct consumer *c = cc->c;
    cc_unlink(cc);
    /* may delete an auto-delete queue, whose other consumers are told */
    consumer_cancel(c);
    cc_maybe_free(cc);
}

void deliver_cancel_all(struct channel *ch)
{
    /* re-read the head: a cancel can cancel others of this channel too */
    while (ch->consumers)
        deliver_cancel(ch->consumers);
}

/* ---- settlement ---------------------------------------------------------------------------- */

void deliver_settle(struct channel *ch, struct unacked_entry *ue, enum tx_op op)
{
    switch (op) {
    case TX_OP_ACK:
        queue_ack(ue->q, &ue->e);
        break;
    case TX_OP_REQUEUE:
        queue_requeue(ue->q, &ue->e);
        break;
    case TX_OP_DROP:
        queue_reject_drop(ue->q, &ue->e);
        break;
    }
    struct chan_consumer *cc = ue->cons;
    if (cc) {
        cc->unacked--;
        ch->consumer_unacked--;
        cc_maybe_free(cc);
    }
}

void deliver_requeue_all(struct channel *ch)
{
    struct unacked_entry ue;
    while (unacked_take_first(&ch->unacked, UINT64_MAX, &ue))
        deliver_settle(ch, &ue, TX_OP_REQUEUE);
}

/* ---- basic.get -------------------------------------------------------------------------------- */

void deliver_get_ok(struct channel *ch, struct queue *q, struct queue_entry *e, bool no_ack,
                    uint32_t message_count)
{
    uint64_t tag = ch->next_tag++;
    deliver_send(ch, NULL, tag, (e->flags & QUEUE_ENTRY_REDELIVERED) != 0, e->msg,
                 message_count, deliver_needs_props(e) ? e : NULL);
    if (no_ack) {
        message_unref(&e->msg);
        return;
    }
    struct unacked_entry ue = {tag, q, NULL, *e};
    unacked_add(&ch->unacked, &ue);
    e->msg = NULL;
}
