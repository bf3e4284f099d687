/*
 * handle_confirm.c - publisher confirms: confirm.select, and the acks and
 * nacks a confirming publisher gets.  Acks are coalesced: a channel only
 * remembers the highest contiguous confirmed sequence number and sends one
 * basic.ack (multiple=true when it covers several) at the end of the input
 * batch or before its next reply, so a pipelining publisher gets one ack
 * per read, not one per message.  Not here: routing (handle_basic.c).
 */
#include <string.h>

#include "session_priv.h"

void handle_confirm_select(struct channel *ch, const struct amqp_method *m)
{
    if (ch->tx) {
        session_fail(ch->conn, ch->id, AMQP_PRECONDITION_FAILED, m->id,
                     "cannot switch from tx to confirm mode");
        return;
    }
    ch->confirm = true;
    if (!m->u.confirm_select.nowait)
        session_send_simple(ch->conn, ch->id, AMQP_CONFIRM_SELECT_OK);
}

static void confirm_send(struct channel *ch, uint32_t id, uint64_t seq, bool multiple)
{
    struct connection *c = ch->conn;
    if (c->state != CONN_OPEN || c->dropping || ch->state != CHANNEL_OPEN || ch->released)
        return;   /* RabbitMQ drops confirms of a closing channel */
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = id;
    if (id == AMQP_BASIC_ACK) {
        m.u.basic_ack.delivery_tag = seq;
        m.u.basic_ack.multiple = multiple;
    } else {
        m.u.basic_nack.delivery_tag = seq;
        m.u.basic_nack.multiple = multiple;
    }
    session_send_method(c, ch->id, &m);
}

void confirm_unlist(struct channel *ch)
{
    if (!ch->confirm_listed)
        return;
    struct channel **pp = &ch->conn->confirm_head;
    while (*pp && *pp != ch)
        pp = &(*pp)->confirm_next;
    if (*pp)
        *pp = ch->confirm_next;
    ch->confirm_next = NULL;
    ch->confirm_listed = false;
}

void confirm_flush(struct channel *ch)
{
    confirm_unlist(ch);
    if (ch->confirm_ready <= ch->confirm_sent)
        return;
    confirm_send(ch, AMQP_BASIC_ACK, ch->confirm_ready, ch->confirm_ready - ch->confirm_sent > 1);
    ch->confirm_sent = ch->confirm_ready;
}

void confirm_flush_all(struct connection *c)
{
    while (c->confirm_head)
        confirm_flush(c->confirm_head);
}

/*
 * Today every publish settles at once and in order, so the acked prefix
 * is contiguous.  Issue 5 (confirms after fsync) settles persistent
 * messages later: it extends this with a set of settled-but-not-yet-
 * contiguous numbers; the flush rule stays the same.
 */
void confirm_settle(struct channel *ch, uint64_t seq, bool ack)
{
    if (!ack) {
        /* earlier acks first, then this nack on its own */
        confirm_flush(ch);
        confirm_send(ch, AMQP_BASIC_NACK, seq, false);
        ch->confirm_sent = ch->confirm_ready = seq;
        return;
    }
    ch->confirm_ready = seq;
    if (!ch->confirm_listed) {
        ch->confirm_listed = true;
        ch->confirm_next = ch->conn->confirm_head;
        ch->conn->confirm_head = ch;
    }
}
