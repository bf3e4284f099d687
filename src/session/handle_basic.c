/*
 * handle_basic.c - the methods of class basic: routing a published message
 * (mandatory returns, confirms, tx buffering), qos, consume, cancel, get,
 * ack / nack / reject and recover, with RabbitMQ's rules and texts.  How
 * deliveries are encoded and credited is deliver.c's; content assembly of
 * basic.publish is channel.c's.
 */
#include <inttypes.h>
#include <string.h>

#include "edad/access.h"
#include "session_priv.h"

/* ---- publish ------------------------------------------------------------------------ */

/* Message headers for a headers exchange, decoded only when one is on the route. */
struct publish_headers {
    struct connection *c;
    struct message *msg;
    struct broker_table table;
};

static const struct broker_table *publish_get_headers(void *ctx)
{
    struct publish_headers *ph = ctx;
    struct amqp_basic_properties props;
    if (amqp_basic_properties_decode(message_props(ph->msg), &ph->c->arena, &props) != EDAD_OK ||
        !(props.flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    if (session_table_convert(&props.headers, &ph->c->arena, &ph->table) != EDAD_OK)
        return NULL;
    return &ph->table;
}

bool handle_basic_route(struct channel *ch, struct message *msg, bool mandatory,
                        bool *rejected, uint32_t *pending)
{
    struct connection *c = ch->conn;
    struct publish_headers ph = {.c = c, .msg = msg};
    struct broker_publish_opts opts = {publish_get_headers, &ph};
    struct broker_publish_result res;
    struct broker_err err;
    if (broker_publish(c->vh, msg, &opts, &res, &err) != EDAD_OK) {
        session_fail_broker(ch, AMQP_BASIC_PUBLISH, &err);
        return false;
    }
    /* held by a delayed exchange or dropped as a duplicate: accepted, not
     * returned (RabbitMQ's delayed plugin would return it: it cannot tell) */
    if (mandatory && res.routed == 0 && res.rejected == 0 && res.deduplicated == 0 &&
        res.delayed == 0) {
        /* before the confirm of this message, as RabbitMQ orders them */
        struct amqp_method r;
        memset(&r, 0, sizeof(r));
        r.id = AMQP_BASIC_RETURN;
        r.u.basic_return.reply_code = AMQP_NO_ROUTE;
        r.u.basic_return.reply_text = bytes_from_cstr("NO_ROUTE");
        r.u.basic_return.exchange = message_exchange(msg);
        r.u.basic_return.routing_key = message_routing_key(msg);
        session_send_content(c, ch->id, &r, msg);
    }
    if (rejected)
        *rejected = res.rejected > 0;
    if (pending)
        *pending = res.pending;
    if (res.store_failed > 0 && !ch->confirm) {
        /* never dropped silently: a publisher without confirms loses its
         * channel (a confirming one gets basic.nack, a tx one 541 at commit) */
        session_fail(c, ch->id, ch->tx ? AMQP_INTERNAL_ERROR : AMQP_RESOURCE_ERROR,
                     AMQP_BASIC_PUBLISH, "cannot store a persistent message: the store "
                     "failed to write (disk full or I/O error)");
        return false;
    }
    return true;
}

/* In tx mode RabbitMQ still checks the exchange at publish time. */
static bool publish_check_exchange(struct channel *ch, struct edad_bytes name)
{
    if (name.len == 0)
        return true;
    struct vhost *vh = ch->conn->vh;
    struct exchange *x = exchange_find(vh, name);
    if (!x) {
        session_fail(ch->conn, ch->id, AMQP_NOT_FOUND, AMQP_BASIC_PUBLISH,
                     "no exchange '%.*s' in vhost '%s'", (int)name.len, (const char *)name.ptr,
                     vhost_name(vh));
        return false;
    }
    struct exchange_info info;
    exchange_get_info(x, &info);
    if (info.internal) {
        session_fail(ch->conn, ch->id, AMQP_ACCESS_REFUSED, AMQP_BASIC_PUBLISH,
                     "cannot publish to internal exchange '%.*s' in vhost '%s'",
                     (int)info.name_len, info.name, vhost_name(vh));
        return false;
    }
    return true;
}

/*
 * basic.publish needs write on the exchange ("" is checked as amq.default).
 * A grant is remembered for the channel's last exchange until the access
 * store changes (access_generation), so a publisher pays for one check.
 */
static bool publish_permitted(struct channel *ch, struct edad_bytes exchange)
{
    struct broker_err err;
    struct vhost *vh = ch->conn->vh;
    struct broker *b = vhost_broker(vh);
    uint64_t gen = access_generation(b);
    if (ch->pub_ok && ch->pub_ok_gen == gen && ch->pub_ok_len == exchange.len &&
        (exchange.len == 0 || memcmp(ch->pub_ok_x, exchange.ptr, exchange.len) == 0))
        return true;
    edad_status st = access_check(b, ch->conn->user, vhost_name(vh), ACCESS_WRITE,
                                  ACCESS_EXCHANGE, exchange, &err);
    ch->pub_ok = st == EDAD_OK && exchange.len <= sizeof(ch->pub_ok_x);
    if (ch->pub_ok) {
        ch->pub_ok_gen = gen;
        ch->pub_ok_len = (uint8_t)exchange.len;
        if (exchange.len)
            memcpy(ch->pub_ok_x, exchange.ptr, exchange.len);
    }
    return session_permitted(ch, AMQP_BASIC_PUBLISH, st, &err);
}

/* basic.consume / basic.get need read on the queue. */
static bool queue_read_permitted(struct channel *ch, uint32_t method_id, struct edad_bytes qname)
{
    struct broker_err err;
    struct vhost *vh = ch->conn->vh;
    return session_permitted(ch, method_id,
                             access_check(vhost_broker(vh), ch->conn->user, vhost_name(vh),
                                          ACCESS_READ, ACCESS_QUEUE, qname, &err), &err);
}

void handle_channel_message(struct channel *ch, const struct amqp_basic_publish *pub,
                            struct message *msg)
{
    /* RabbitMQ checks write permission before the exchange exists (404) */
    if (!publish_permitted(ch, pub->exchange)) {
        ch->pub_reply_missing = false;
        message_unref(&msg);
        return;
    }
    if (ch->pub_reply_missing) {
        /* RabbitMQ's order: unknown or internal exchange first */
        ch->pub_reply_missing = false;
        if (publish_check_exchange(ch, pub->exchange))
            session_fail(ch->conn, ch->id, AMQP_PRECONDITION_FAILED, AMQP_BASIC_PUBLISH,
                         "fast reply consumer does not exist");
        message_unref(&msg);
        return;
    }
    if (ch->tx) {
        if (publish_check_exchange(ch, pub->exchange))
            tx_add_publish(ch, msg, pub->mandatory);
        else
            message_unref(&msg);
        return;
    }
    bool rejected = false;
    uint32_t pending = 0;
    if (handle_basic_route(ch, msg, pub->mandatory, &rejected, &pending) && ch->confirm) {
        uint64_t seq = ++ch->pub_seq;
        /* persistent in a durable queue: confirmed once the store synced it */
        bool wait = !rejected && pending > 0 && ch->conn->srv->has_store;
        confirm_publish(ch, seq, !rejected, wait);
        if (wait)
            durable_wait(ch, seq);
    }
    message_unref(&msg);
}

/* ---- qos, consume, cancel ------------------------------------------------------------ */

void handle_basic_qos(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_qos *a = &m->u.basic_qos;
    if (a->prefetch_size != 0) {
        session_fail(ch->conn, ch->id, AMQP_NOT_IMPLEMENTED, m->id, "prefetch_size!=0 (%" PRIu32
                     ")", a->prefetch_size);
        return;
    }
    /* RabbitMQ: global=false is the prefetch of consumers created from now
     * on, global=true a limit shared by the channel's consumers */
    if (a->global)
        ch->channel_prefetch = a->prefetch_count;
    else
        ch->consumer_prefetch = a->prefetch_count;
    session_send_simple(ch->conn, ch->id, AMQP_BASIC_QOS_OK);
    deliver_credit_changed(ch);
}

void handle_basic_consume(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_consume *a = &m->u.basic_consume;
    struct connection *c = ch->conn;
    struct edad_bytes qname, tag = a->consumer_tag;
    char gen[64];
    struct broker_table args;
    struct broker_err err;

    if (!handle_queue_name(ch, m->id, a->queue, &qname))
        return;
    if (tag.len == 0) {
        broker_name_generate("amq.ctag-", gen, sizeof(gen));
        tag = bytes_from_cstr(gen);
    } else if (deliver_find_consumer(ch, tag)) {
        session_fail(c, ch->id, AMQP_NOT_ALLOWED, m->id, "attempt to reuse consumer tag '%.*s'",
                     (int)tag.len, (const char *)tag.ptr);
        return;
    }
    if (reply_is_pseudo_queue(qname)) {
        reply_consume(ch, a, m->id);    /* direct reply-to */
        return;
    }
    if (!queue_read_permitted(ch, m->id, qname))
        return;
    struct queue *q = queue_lookup(c->vh, qname, c, &err);
    if (!q) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    if (session_table_convert(&a->arguments, &c->arena, &args) != EDAD_OK) {
        session_fail(c, ch->id, AMQP_INTERNAL_ERROR, m->id, "cannot hold the arguments table");
        return;
    }
    /* no_local is ignored, as RabbitMQ ignores it */
    if (deliver_consume(ch, q, tag, a->no_ack, a->exclusive, &args, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    if (a->nowait)
        return;
    /* deliveries only start in the next dispatch pass: consume-ok is first */
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_BASIC_CONSUME_OK;
    r.u.basic_consume_ok.consumer_tag = tag;
    session_send_method(c, ch->id, &r);
}

void handle_basic_cancel(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_cancel *a = &m->u.basic_cancel;
    /* an unknown tag is fine (the spec); no delivery follows the cancel-ok */
    struct chan_consumer *cc = reply_cancel(ch, a->consumer_tag)
                                   ? NULL : deliver_find_consumer(ch, a->consumer_tag);
    if (cc)
        deliver_cancel(cc);
    if (a->nowait)
        return;
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_BASIC_CANCEL_OK;
    r.u.basic_cancel_ok.consumer_tag = a->consumer_tag;   /* bytes of the frame */
    session_send_method(ch->conn, ch->id, &r);
}

/* ---- get --------------------------------------------------------------------------------- */

void handle_basic_get(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_get *a = &m->u.basic_get;
    struct edad_bytes qname;
    struct broker_err err;
    if (!handle_queue_name(ch, m->id, a->queue, &qname) ||
        !queue_read_permitted(ch, m->id, qname))
        return;
    struct queue *q = queue_lookup(ch->conn->vh, qname, ch->conn, &err);
    if (!q) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    struct queue_entry e;
    uint32_t count = 0;
    if (queue_get(q, a->no_ack, &e, &count))
        deliver_get_ok(ch, q, &e, a->no_ack, count);
    else
        session_send_simple(ch->conn, ch->id, AMQP_BASIC_GET_EMPTY);
}

/* ---- ack, nack, reject, recover ---------------------------------------------------------- */

static void settle_or_hold(struct channel *ch, struct unacked_entry *ue, enum tx_op op)
{
    if (ch->tx)
        tx_add_settle(ch, ue, op);
    else
        deliver_settle(ch, ue, op);
}

/*
 * RabbitMQ's collect_acks: tag 0 with multiple means every outstanding
 * delivery; otherwise the tag itself must be outstanding (also with
 * multiple), else 406 before anything is settled.
 */
static void basic_settle(struct channel *ch, uint32_t method_id, uint64_t tag, bool multiple,
                         enum tx_op op)
{
    struct unacked_entry ue;
    uint64_t upto = UINT64_MAX;
    if (!(multiple && tag == 0)) {
        if (!unacked_find(&ch->unacked, tag)) {
            session_fail(ch->conn, ch->id, AMQP_PRECONDITION_FAILED, method_id,
                         "unknown delivery tag %" PRIu64, tag);
            return;
        }
        if (!multiple) {
            unacked_take(&ch->unacked, tag, &ue);
            settle_or_hold(ch, &ue, op);
            deliver_credit_changed(ch);
            return;
        }
        upto = tag;
    }
    while (unacked_take_first(&ch->unacked, upto, &ue))
        settle_or_hold(ch, &ue, op);
    deliver_credit_changed(ch);
}

void handle_basic_ack(struct channel *ch, const struct amqp_method *m)
{
    basic_settle(ch, m->id, m->u.basic_ack.delivery_tag, m->u.basic_ack.multiple, TX_OP_ACK);
}

void handle_basic_nack(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_nack *a = &m->u.basic_nack;
    basic_settle(ch, m->id, a->delivery_tag, a->multiple,
                 a->requeue ? TX_OP_REQUEUE : TX_OP_DROP);
}

void handle_basic_reject(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_reject *a = &m->u.basic_reject;
    basic_settle(ch, m->id, a->delivery_tag, false, a->requeue ? TX_OP_REQUEUE : TX_OP_DROP);
}

/* Both recovers: requeue every outstanding delivery (tx-held ones stay). */
static bool basic_recover(struct channel *ch, uint32_t method_id, bool requeue)
{
    if (!requeue) {
        session_fail(ch->conn, ch->id, AMQP_NOT_IMPLEMENTED, method_id, "requeue=false");
        return false;
    }
    deliver_requeue_all(ch);
    deliver_credit_changed(ch);
    return true;
}

void handle_basic_recover_async(struct channel *ch, const struct amqp_method *m)
{
    basic_recover(ch, m->id, m->u.basic_recover_async.requeue);
}

void handle_basic_recover(struct channel *ch, const struct amqp_method *m)
{
    if (basic_recover(ch, m->id, m->u.basic_recover.requeue))
        session_send_simple(ch->conn, ch->id, AMQP_BASIC_RECOVER_OK);
}
