/*
 * handle_confirm.c - publisher confirms: confirm.select, and the acks and
 * nacks a confirming publisher gets.  Acks are coalesced: a channel only
 * remembers the highest contiguous confirmed sequence number and sends one
 * basic.ack (multiple=true when it covers several) at the end of the input
 * batch or before its next reply, so a pipelining publisher gets one ack
 * per read, not one per message.  Not here: routing (handle_basic.c).
 */
#include <stdlib.h>
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
 * Settle seq now, in order: acks only move the contiguous mark (one
 * multiple ack per batch), a nack goes out on its own after earlier acks.
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

/* ---- out-of-order settlement (confirms after the store's sync) ---------------- */

enum { CONFIRM_W_PENDING, CONFIRM_W_ACK, CONFIRM_W_NACK };

static uint8_t *win_at(struct channel *ch, uint64_t seq)
{
    return &ch->win[(ch->win_head + (uint32_t)(seq - ch->win_base)) & (ch->win_cap - 1)];
}

/* Settle the window's settled prefix, in seq order. */
static void confirm_drain(struct channel *ch)
{
    while (ch->win_len > 0) {
        uint8_t st = ch->win[ch->win_head];
        if (st == CONFIRM_W_PENDING)
            break;
        confirm_settle(ch, ch->win_base, st == CONFIRM_W_ACK);
        ch->win_head = (ch->win_head + 1) & (ch->win_cap - 1);
        ch->win_base++;
        ch->win_len--;
    }
}

void confirm_publish(struct channel *ch, uint64_t seq, bool ack, bool pending)
{
    if (ch->win_len == 0 && !pending) {
        confirm_settle(ch, seq, ack);
        return;
    }
    if (ch->win_len == ch->win_cap) {
        uint32_t cap = ch->win_cap ? ch->win_cap * 2 : 64;
        uint8_t *w = xmalloc(cap);
        for (uint32_t i = 0; i < ch->win_len; i++)
            w[i] = ch->win[(ch->win_head + i) & (ch->win_cap - 1)];
        free(ch->win);
        ch->win = w;
        ch->win_cap = cap;
        ch->win_head = 0;
    }
    if (ch->win_len == 0)
        ch->win_base = seq;
    ch->win_len++;
    *win_at(ch, seq) = pending ? CONFIRM_W_PENDING : ack ? CONFIRM_W_ACK : CONFIRM_W_NACK;
    confirm_drain(ch);
}

void confirm_complete(struct channel *ch, uint64_t seq, bool ok)
{
    if (ch->win_len == 0 || seq < ch->win_base || seq - ch->win_base >= ch->win_len)
        return;
    *win_at(ch, seq) = ok ? CONFIRM_W_ACK : CONFIRM_W_NACK;
    confirm_drain(ch);
}

void confirm_free(struct channel *ch)
{
    free(ch->win);
    ch->win = NULL;
    ch->win_len = ch->win_cap = 0;
}
