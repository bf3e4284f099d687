/*
 * handle_queue.c - queue.declare / bind / unbind / purge / delete, with
 * RabbitMQ's "" shortcut for the channel's most recently declared queue.
 * Exclusive queues are owned by the connection (its pointer is the owner
 * token).  The rules and texts are the broker's, the permission checks
 * access.h's (RabbitMQ's table: declare and delete need configure, purge
 * read, bind write on the queue and read on the exchange); errors go
 * through session_fail_broker.
 */
#include <string.h>

#include "edad/access.h"
#include "session_priv.h"

/* One resource check on the channel's vhost as its user; false after failing. */
static bool queue_permitted(struct channel *ch, uint32_t method_id, enum access_perm perm,
                            struct edad_bytes qname)
{
    struct broker_err err;
    struct vhost *vh = ch->conn->vh;
    return session_permitted(ch, method_id, access_check(vhost_broker(vh), ch->conn->user,
                                                         vhost_name(vh), perm, ACCESS_QUEUE,
                                                         qname, &err), &err);
}

/*
 * queue.declare's checks (not passive), after RabbitMQ's reserved-name
 * refusal (left to the broker): configure on the name -- for a
 * server-named queue a freshly generated "amq.gen-" name, as RabbitMQ
 * checks the generated one -- then the vhost's queue limit and the
 * dead-letter exchange's permissions.
 */
static bool queue_declare_permitted(struct channel *ch, uint32_t method_id,
                                    const struct queue_declare *d)
{
    if (d->passive || (d->name.len >= 4 && memcmp(d->name.ptr, "amq.", 4) == 0))
        return true;
    char gen[64];
    struct edad_bytes name = d->name;
    if (name.len == 0) {
        broker_name_generate("amq.gen-", gen, sizeof(gen));
        name = bytes_from_cstr(gen);
    }
    struct broker_err err;
    return session_permitted(ch, method_id, access_check_queue_declare(ch->conn->vh,
                                                                       ch->conn->user, name,
                                                                       d->args, &err), &err);
}

bool handle_queue_name(struct channel *ch, uint32_t method_id, struct edad_bytes name,
                       struct edad_bytes *out)
{
    if (name.len) {
        *out = name;
        return true;
    }
    if (!ch->has_mrdq) {
        session_fail(ch->conn, ch->id, AMQP_NOT_FOUND, method_id, "no previously declared queue");
        return false;
    }
    out->ptr = (const uint8_t *)ch->mrdq;
    out->len = ch->mrdq_len;
    return true;
}

static bool queue_args(struct channel *ch, uint32_t method_id, const struct amqp_table *in,
                       struct broker_table *out)
{
    if (session_table_convert(in, &ch->conn->arena, out) == EDAD_OK)
        return true;
    session_fail(ch->conn, ch->id, AMQP_INTERNAL_ERROR, method_id,
                 "cannot hold the arguments table");
    return false;
}

void handle_queue_declare(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_queue_declare *a = &m->u.queue_declare;
    struct broker_table args;
    struct broker_err err;
    struct queue_declare_ok ok;
    if (reply_declare(ch, a, m->id))
        return;     /* amq.rabbitmq.reply-to pseudo-queues */
    if (!queue_args(ch, m->id, &a->arguments, &args))
        return;
    struct queue_declare d = {
        .name = a->queue,
        .passive = a->passive,
        .durable = a->durable,
        .exclusive = a->exclusive,
        .auto_delete = a->auto_delete,
        .args = &args,
        .owner = ch->conn,
    };
    if (!queue_declare_permitted(ch, m->id, &d))
        return;
    if (queue_declare(ch->conn->vh, &d, &ok, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    /* the name stays valid while the queue exists: copy it for the shortcut */
    size_t n = ok.name_len < sizeof(ch->mrdq) ? ok.name_len : sizeof(ch->mrdq) - 1;
    memcpy(ch->mrdq, ok.name, n);
    ch->mrdq_len = (uint8_t)n;
    ch->has_mrdq = true;
    if (a->nowait)
        return;
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_QUEUE_DECLARE_OK;
    r.u.queue_declare_ok.queue = (struct edad_bytes){(const uint8_t *)ch->mrdq, n};
    r.u.queue_declare_ok.message_count = ok.message_count;
    r.u.queue_declare_ok.consumer_count = ok.consumer_count;
    session_send_method(ch->conn, ch->id, &r);
}

/* queue.bind / queue.unbind share the shortcuts: an empty queue name is the
 * last declared queue, and so is an empty routing key with it. */
static bool queue_binding_names(struct channel *ch, uint32_t method_id, struct edad_bytes queue,
                                struct edad_bytes rk, struct edad_bytes *qout,
                                struct edad_bytes *rkout)
{
    if (!handle_queue_name(ch, method_id, queue, qout))
        return false;
    *rkout = (queue.len == 0 && rk.len == 0) ? *qout : rk;
    return true;
}

void handle_queue_bind(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_queue_bind *a = &m->u.queue_bind;
    struct edad_bytes qname, rk;
    struct broker_table args;
    struct broker_err err;
    if (!queue_binding_names(ch, m->id, a->queue, a->routing_key, &qname, &rk) ||
        !queue_args(ch, m->id, &a->arguments, &args))
        return;
    if (!session_permitted(ch, m->id, access_check_bind(ch->conn->vh, ch->conn->user, true, qname,
                                                        a->exchange, &err), &err))
        return;
    if (queue_bind(ch->conn->vh, qname, a->exchange, rk, &args, ch->conn, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    if (!a->nowait)
        session_send_simple(ch->conn, ch->id, AMQP_QUEUE_BIND_OK);
}

void handle_queue_unbind(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_queue_unbind *a = &m->u.queue_unbind;
    struct edad_bytes qname, rk;
    struct broker_table args;
    struct broker_err err;
    if (!queue_binding_names(ch, m->id, a->queue, a->routing_key, &qname, &rk) ||
        !queue_args(ch, m->id, &a->arguments, &args))
        return;
    if (!session_permitted(ch, m->id, access_check_bind(ch->conn->vh, ch->conn->user, true, qname,
                                                        a->exchange, &err), &err))
        return;
    if (queue_unbind(ch->conn->vh, qname, a->exchange, rk, &args, ch->conn, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    session_send_simple(ch->conn, ch->id, AMQP_QUEUE_UNBIND_OK);
}

void handle_queue_purge(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_queue_purge *a = &m->u.queue_purge;
    struct edad_bytes qname;
    struct broker_err err;
    uint32_t count = 0;
    if (!handle_queue_name(ch, m->id, a->queue, &qname) ||
        !queue_permitted(ch, m->id, ACCESS_READ, qname))
        return;
    if (queue_purge(ch->conn->vh, qname, ch->conn, &count, &err) != EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    if (a->nowait)
        return;
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_QUEUE_PURGE_OK;
    r.u.queue_purge_ok.message_count = count;
    session_send_method(ch->conn, ch->id, &r);
}

void handle_queue_delete(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_queue_delete *a = &m->u.queue_delete;
    struct edad_bytes qname;
    struct broker_err err;
    uint32_t count = 0;
    if (!handle_queue_name(ch, m->id, a->queue, &qname) ||
        !queue_permitted(ch, m->id, ACCESS_CONFIGURE, qname))
        return;
    /* the consumers of the queue (some maybe on this channel) are cancelled
     * with basic.cancel before the delete-ok, as RabbitMQ orders them */
    if (queue_delete(ch->conn->vh, qname, ch->conn, a->if_unused, a->if_empty, &count, &err) !=
        EDAD_OK) {
        session_fail_broker(ch, m->id, &err);
        return;
    }
    if (a->nowait)
        return;
    struct amqp_method r;
    memset(&r, 0, sizeof(r));
    r.id = AMQP_QUEUE_DELETE_OK;
    r.u.queue_delete_ok.message_count = count;
    session_send_method(ch->conn, ch->id, &r);
}
