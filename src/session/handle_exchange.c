/*
 * handle_exchange.c - exchange.declare / delete / bind / unbind: decode
 * the arguments into broker calls and answer (nothing when no-wait).  The
 * rules and reply texts are the broker's (broker.h), the permission checks
 * access.h's; errors go through session_fail_broker, which decides channel
 * or connection close.
 */
#include <string.h>

#include "edad/access.h"
#include "session_priv.h"

/* Convert the method's arguments table; false after failing the channel. */
static bool exchange_args(struct channel *ch, uint32_t method_id, const struct amqp_table *in,
                          struct broker_table *out)
{
    if (session_table_convert(in, &ch->conn->arena, out) == EDAD_OK)
        return true;
    session_fail(ch->conn, ch->id, AMQP_INTERNAL_ERROR, method_id,
                 "cannot hold the arguments table");
    return false;
}

static void exchange_reply(struct channel *ch, bool nowait, uint32_t ok_id)
{
    if (!nowait)
        session_send_simple(ch->conn, ch->id, ok_id);
}

void handle_exchange_declare(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_exchange_declare *a = &m->u.exchange_declare;
    struct broker_table args;
    struct broker_err err;
    if (!exchange_args(ch, m->id, &a->arguments, &args))
        return;
    struct exchange_declare d = {
        .name = a->exchange,
        .type = a->type,
        .passive = a->passive,
        .durable = a->durable,
        .auto_delete = a->auto_delete,
        .internal = a->internal,
        .args = &args,
    };
    if (!session_permitted(ch, m->id, access_check_exchange_declare(ch->conn->vh, ch->conn->user,
                                                                    &d, &err), &err))
        return;
    if (exchange_declare(ch->conn->vh, &d, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    exchange_reply(ch, a->nowait, AMQP_EXCHANGE_DECLARE_OK);
}

void handle_exchange_delete(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_exchange_delete *a = &m->u.exchange_delete;
    struct broker_err err;
    /* the default and amq.* exchanges get the broker's refusal first */
    bool system = a->exchange.len == 0 ||
                  (a->exchange.len >= 4 && memcmp(a->exchange.ptr, "amq.", 4) == 0);
    if (!system &&
        !session_permitted(ch, m->id, access_check(vhost_broker(ch->conn->vh), ch->conn->user,
                                                   vhost_name(ch->conn->vh), ACCESS_CONFIGURE,
                                                   ACCESS_EXCHANGE, a->exchange, &err), &err))
        return;
    if (exchange_delete(ch->conn->vh, a->exchange, a->if_unused, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    exchange_reply(ch, a->nowait, AMQP_EXCHANGE_DELETE_OK);
}

void handle_exchange_bind(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_exchange_bind *a = &m->u.exchange_bind;
    struct broker_table args;
    struct broker_err err;
    if (!exchange_args(ch, m->id, &a->arguments, &args))
        return;
    if (!session_permitted(ch, m->id, access_check_bind(ch->conn->vh, ch->conn->user, false,
                                                        a->destination, a->source, &err), &err))
        return;
    if (exchange_bind(ch->conn->vh, a->destination, a->source, a->routing_key, &args, &err) !=
        EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    exchange_reply(ch, a->nowait, AMQP_EXCHANGE_BIND_OK);
}

void handle_exchange_unbind(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_exchange_unbind *a = &m->u.exchange_unbind;
    struct broker_table args;
    struct broker_err err;
    if (!exchange_args(ch, m->id, &a->arguments, &args))
        return;
    if (!session_permitted(ch, m->id, access_check_bind(ch->conn->vh, ch->conn->user, false,
                                                        a->destination, a->source, &err), &err))
        return;
    if (exchange_unbind(ch->conn->vh, a->destination, a->source, a->routing_key, &args, &err) !=
        EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    exchange_reply(ch, a->nowait, AMQP_EXCHANGE_UNBIND_OK);
}
