/*
 * handle_channel.c - method handlers of an open channel: class channel
 * (close, flow), access.request and the entry of basic.publish into content
 * assembly.  The messaging classes are in handle_{exchange,queue,basic,
 * confirm,tx}.c; which handler runs for which method id is dispatch.c's.
 */
#include <string.h>

#include "session_priv.h"

void handle_channel_open_again(struct channel *ch, const struct amqp_method *m)
{
    session_fail(ch->conn, ch->id, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
}

void handle_channel_close(struct channel *ch, const struct amqp_method *m)
{
    struct connection *c = ch->conn;
    uint16_t id = ch->id;
    log_debug("connection %s: channel %u closed by client (%u)", c->name, (unsigned)id,
              (unsigned)m->u.channel_close.reply_code);
    channel_free(ch);
    session_send_simple(c, id, AMQP_CHANNEL_CLOSE_OK);
}

void handle_channel_flow(struct channel *ch, const struct amqp_method *m)
{
    /* RabbitMQ refuses active=false (540); edad honours it as the spec says:
     * the flag pauses deliveries on this channel (issue 3). */
    ch->flow_active = m->u.channel_flow.active;
    if (ch->flow_active)
        deliver_credit_changed(ch);
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_CHANNEL_FLOW_OK;
    r.u.channel_flow_ok.active = ch->flow_active;
    session_send_method(ch->conn, ch->id, &r);
}

void handle_access_request(struct channel *ch, const struct amqp_method *m)
{
    EDAD_UNUSED(m);
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_ACCESS_REQUEST_OK;
    r.u.access_request_ok.ticket = 1;
    session_send_method(ch->conn, ch->id, &r);
}

void handle_basic_publish(struct channel *ch, const struct amqp_method *m)
{
    if (m->u.basic_publish.immediate) {
        /* RabbitMQ: a connection error, raised before routing */
        session_fail(ch->conn, ch->id, AMQP_NOT_IMPLEMENTED, m->id, "immediate=true");
        return;
    }
    channel_begin_content(ch, m);
}

/* A method only the server sends, or one this class does not take. */
void handle_command_invalid(struct channel *ch, const struct amqp_method *m)
{
    session_fail(ch->conn, ch->id, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
}
