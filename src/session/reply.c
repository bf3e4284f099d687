/*
 * reply.c - direct reply-to on a channel, with RabbitMQ's rules and texts:
 * the reply consumer (basic.consume of amq.rabbitmq.reply-to, no-ack only,
 * one per channel; basic.cancel), replies sent as basic.deliver, the
 * reply_to property of requests rewritten to the channel's pseudo-queue,
 * and queue.declare of the pseudo-queues.  The registry of names and the
 * routing of replies are the broker's (broker_reply_*).
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

/* A channel's reply consumer. */
struct chan_reply {
    struct channel *ch;
    struct broker_reply *reg;
    uint8_t tag_len;
    char tag[256];
};

static struct edad_bytes reply_tag(const struct chan_reply *r)
{
    return (struct edad_bytes){(const uint8_t *)r->tag, r->tag_len};
}

/* A reply for this channel: basic.deliver without acknowledgement.  As
 * RabbitMQ, the delivery tag is the channel's next one, not consumed. */
static void reply_deliver(void *ctx, struct message *m)
{
    struct chan_reply *r = ctx;
    struct channel *ch = r->ch;
    struct connection *c = ch->conn;
    if (ch->state != CHANNEL_OPEN || ch->released || c->state != CONN_OPEN || c->dropping)
        return;
    struct amqp_method d;
    memset(&d, 0, sizeof(d));
    d.id = AMQP_BASIC_DELIVER;
    d.u.basic_deliver.consumer_tag = reply_tag(r);
    d.u.basic_deliver.delivery_tag = ch->next_tag;
    d.u.basic_deliver.redelivered = false;
    d.u.basic_deliver.exchange = message_exchange(m);
    d.u.basic_deliver.routing_key = message_routing_key(m);
    session_send_content(c, ch->id, &d, m);
}

bool reply_is_pseudo_queue(struct edad_bytes name)
{
    return bytes_eq_cstr(name, BROKER_REPLY_TO);
}

void reply_consume(struct channel *ch, const struct amqp_basic_consume *a, uint32_t method_id)
{
    struct connection *c = ch->conn;
    if (!a->no_ack) {
        session_fail(c, ch->id, AMQP_PRECONDITION_FAILED, method_id,
                     "reply consumer cannot acknowledge");
        return;
    }
    if (ch->reply) {
        session_fail(c, ch->id, AMQP_PRECONDITION_FAILED, method_id,
                     "reply consumer already set");
        return;
    }
    struct chan_reply *r = xcalloc(1, sizeof(*r));
    r->ch = ch;
    if (a->consumer_tag.len) {
        r->tag_len = (uint8_t)a->consumer_tag.len;
        memcpy(r->tag, a->consumer_tag.ptr, a->consumer_tag.len);
    } else {
        broker_name_generate("amq.ctag-", r->tag, sizeof(r->tag));
        r->tag_len = (uint8_t)strlen(r->tag);
    }
    r->reg = broker_reply_register(vhost_broker(c->vh), reply_deliver, r);
    ch->reply = r;
    if (a->nowait)
        return;
    struct amqp_method ok;
    memset(&ok, 0, sizeof(ok));
    ok.id = AMQP_BASIC_CONSUME_OK;
    ok.u.basic_consume_ok.consumer_tag = reply_tag(r);
    session_send_method(c, ch->id, &ok);
}

bool reply_cancel(struct channel *ch, struct edad_bytes tag)
{
    if (!ch->reply || !bytes_eq(tag, reply_tag(ch->reply)))
        return false;
    reply_release(ch);
    return true;
}

void reply_release(struct channel *ch)
{
    struct chan_reply *r = ch->reply;
    if (!r)
        return;
    ch->reply = NULL;
    broker_reply_unregister(&r->reg);
    free(r);
}

bool reply_rewrite_props(struct channel *ch, const struct amqp_basic_properties *props,
                         struct edad_bytes *out)
{
    if (!(props->flags & AMQP_BASIC_REPLY_TO_FLAG) ||
        !bytes_eq_cstr(props->reply_to, BROKER_REPLY_TO))
        return false;
    if (!ch->reply) {
        /* the 406 comes once the exchange checks passed (handle_basic.c) */
        ch->pub_reply_missing = true;
        return false;
    }
    struct amqp_basic_properties p = *props;
    p.reply_to = bytes_from_cstr(broker_reply_name(ch->reply->reg));
    size_t cap = amqp_basic_properties_encoded_size(&p), len = 0;
    uint8_t *buf = arena_alloc(&ch->conn->arena, cap);
    if (!buf || amqp_basic_properties_encode(&p, buf, cap, &len) != EDAD_OK)
        return false;
    *out = (struct edad_bytes){buf, len};
    return true;
}

bool reply_declare(struct channel *ch, const struct amqp_queue_declare *a, uint32_t method_id)
{
    size_t plen = sizeof(BROKER_REPLY_TO) - 1;
    if (a->queue.len < plen || memcmp(a->queue.ptr, BROKER_REPLY_TO, plen) != 0)
        return false;
    /* every declare of these is passive: it exists with one consumer, or not */
    struct connection *c = ch->conn;
    char nb[256];
    size_t n = 0;
    for (size_t i = 0; i < a->queue.len && n < sizeof(nb) - 1; i++)
        if (a->queue.ptr[i] != '\r' && a->queue.ptr[i] != '\n')
            nb[n++] = (char)a->queue.ptr[i];
    nb[n] = '\0';
    struct edad_bytes name = {(const uint8_t *)nb, n};
    if (!bytes_eq_cstr(name, BROKER_REPLY_TO) &&
        !broker_reply_exists(vhost_broker(c->vh), name)) {
        session_fail(c, ch->id, AMQP_NOT_FOUND, method_id, "no queue '%s' in vhost '%s'", nb,
                     vhost_name(c->vh));
        return true;
    }
    memcpy(ch->mrdq, nb, n);
    ch->mrdq_len = (uint8_t)n;
    ch->has_mrdq = true;
    if (a->nowait)
        return true;
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_QUEUE_DECLARE_OK;
    r.u.queue_declare_ok.queue = name;
    r.u.queue_declare_ok.message_count = 0;
    r.u.queue_declare_ok.consumer_count = 1;
    session_send_method(c, ch->id, &r);
    return true;
}
