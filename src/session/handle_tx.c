/*
 * handle_tx.c - transactions (tx.select / commit / rollback): on a
 * transactional channel publishes and settlements (ack, nack, reject) are
 * held until tx.commit, which routes and settles them in order, or
 * tx.rollback, which drops the publishes and makes the held deliveries
 * unacked again (RabbitMQ's semantics).  Confirm and tx exclude each other.
 * A commit-ok that waits for the store's sync holds the connection's input
 * until it is sent, so no reply to a later method overtakes it.
 */
#include <string.h>

#include "session_priv.h"

void handle_tx_select(struct channel *ch, const struct amqp_method *m)
{
    if (ch->confirm) {
        session_fail(ch->conn, ch->id, AMQP_PRECONDITION_FAILED, m->id,
                     "cannot switch from confirm to tx mode");
        return;
    }
    ch->tx = true;
    session_send_simple(ch->conn, ch->id, AMQP_TX_SELECT_OK);
}

void tx_add_publish(struct channel *ch, struct message *msg, bool mandatory)
{
    if (ch->tx_npubs == ch->tx_pubs_cap) {
        ch->tx_pubs_cap = ch->tx_pubs_cap ? ch->tx_pubs_cap * 2 : 8;
        ch->tx_pubs = xrealloc(ch->tx_pubs, sizeof(*ch->tx_pubs) * ch->tx_pubs_cap);
    }
    ch->tx_pubs[ch->tx_npubs].msg = msg;
    ch->tx_pubs[ch->tx_npubs].mandatory = mandatory;
    ch->tx_npubs++;
}

void tx_add_settle(struct channel *ch, const struct unacked_entry *ue, enum tx_op op)
{
    if (ch->tx_nsettles == ch->tx_settles_cap) {
        ch->tx_settles_cap = ch->tx_settles_cap ? ch->tx_settles_cap * 2 : 8;
        ch->tx_settles = xrealloc(ch->tx_settles, sizeof(*ch->tx_settles) * ch->tx_settles_cap);
    }
    ch->tx_settles[ch->tx_nsettles].ue = *ue;
    ch->tx_settles[ch->tx_nsettles].op = (uint8_t)op;
    ch->tx_nsettles++;
}

static void tx_drop_publishes(struct channel *ch)
{
    for (uint32_t i = 0; i < ch->tx_npubs; i++)
        message_unref(&ch->tx_pubs[i].msg);
    ch->tx_npubs = 0;
}

void tx_release(struct channel *ch)
{
    tx_drop_publishes(ch);
    for (uint32_t i = 0; i < ch->tx_nsettles; i++)
        deliver_settle(ch, &ch->tx_settles[i].ue, TX_OP_REQUEUE);
    ch->tx_nsettles = 0;
}

static bool tx_check(struct channel *ch, uint32_t method_id)
{
    if (ch->tx)
        return true;
    session_fail(ch->conn, ch->id, AMQP_PRECONDITION_FAILED, method_id,
                 "channel is not transactional");
    return false;
}

void handle_tx_commit(struct channel *ch, const struct amqp_method *m)
{
    if (!tx_check(ch, m->id))
        return;
    struct vhost *vh = ch->conn->vh;
    uint32_t pending = 0;
    for (uint32_t i = 0; i < ch->tx_npubs; i++) {
        struct tx_publish *p = &ch->tx_pubs[i];
        struct edad_bytes x = message_exchange(p->msg);
        uint32_t one = 0;
        /* checked at publish time; deleted since: RabbitMQ had routed it
         * at publish time already, edad routes at commit and drops it */
        if ((x.len == 0 || exchange_find(vh, x)) &&
            !handle_basic_route(ch, p->msg, p->mandatory, NULL, &one))
            return;   /* the channel failed and released the rest */
        pending += one;
        message_unref(&p->msg);
    }
    ch->tx_npubs = 0;
    for (uint32_t i = 0; i < ch->tx_nsettles; i++)
        deliver_settle(ch, &ch->tx_settles[i].ue, (enum tx_op)ch->tx_settles[i].op);
    ch->tx_nsettles = 0;
    deliver_credit_changed(ch);
    if ((pending > 0 || ch->commits_waiting > 0) && ch->conn->srv->has_store) {
        /* commit-ok once the persistent messages are durable (in order
         * behind earlier commits still waiting) */
        ch->commits_waiting++;
        ch->conn->commits_held++;   /* later methods wait: replies stay in order */
        durable_wait(ch, 0);
        return;
    }
    session_send_simple(ch->conn, ch->id, AMQP_TX_COMMIT_OK);
}

void tx_commit_complete(struct channel *ch, bool ok)
{
    ch->commits_waiting--;
    struct connection *c = ch->conn;
    if (--c->commits_held == 0)
        c->input_resume = true;     /* at the batch end (durable.c) */
    if (c->state != CONN_OPEN || c->dropping || ch->state != CHANNEL_OPEN || ch->released)
        return;
    if (ok)
        session_send_simple(c, ch->id, AMQP_TX_COMMIT_OK);
    else
        session_fail(c, ch->id, AMQP_INTERNAL_ERROR, AMQP_TX_COMMIT,
                     "store write failed: committed messages are not durable");
}

void handle_tx_rollback(struct channel *ch, const struct amqp_method *m)
{
    if (!tx_check(ch, m->id))
        return;
    tx_drop_publishes(ch);
    for (uint32_t i = 0; i < ch->tx_nsettles; i++)
        unacked_restore(&ch->unacked, &ch->tx_settles[i].ue);
    ch->tx_nsettles = 0;
    session_send_simple(ch->conn, ch->id, AMQP_TX_ROLLBACK_OK);
}
