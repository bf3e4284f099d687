/*
 * session.h - AMQP 0-9-1 sessions: each accepted transport becomes one
 * client connection (handshake, authentication, tuning, heartbeats, its
 * channels, error replies as RabbitMQ gives them).  Not the broker: queues
 * and routing live in broker.h; not the socket code: that is net.h.
 */
#ifndef EDAD_SESSION_H
#define EDAD_SESSION_H

#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/core.h"
#include "edad/net.h"

/* Every session of one event loop. */
struct session_server;

/*
 * A session server for conf and broker (both borrowed; must outlive the
 * server).  broker may be NULL: then only conf's default_vhost exists (unit
 * tests).  The connection.start frame (server properties) is built here once.
 */
struct session_server *session_server_new(struct net_loop *loop, const struct edad_conf *conf,
                                          struct broker *broker);
/*
 * Close every connection at once (no flush) and free the server.  Runs the
 * loop briefly so the transports are released; NULL is a no-op.
 */
void session_server_free(struct session_server *srv);

/* net_accept_fn for listeners: arg is the session_server. */
void session_server_accept(void *arg, struct net_transport *t);

/*
 * Graceful stop: every open connection gets connection.close 320
 * CONNECTION_FORCED "broker forced connection closure with reason
 * '<reason>'"; connections still in the handshake are dropped.  New
 * connections are refused from now on.  Connections go away as clients
 * answer close-ok; poll session_server_connection_count().
 */
void session_server_shutdown(struct session_server *srv, const char *reason);
/* Connections alive (any state, until their socket is closed). */
size_t session_server_connection_count(const struct session_server *srv);

/*
 * The durable store, as the sessions see it (issue 5); the server supplies
 * it.  Without it (unit tests) every publish is confirmed at once.
 *  - sync_request: a confirm or tx.commit-ok waits until everything stored
 *    so far is durable; report it later with session_server_sync_done().
 *  - flush: end of an input batch; write what the store buffered (acks,
 *    delivered marks, records) before any reply of the batch can leave.
 */
struct session_store_ops {
    void *ctx;
    void (*sync_request)(void *ctx, uint64_t cookie);
    void (*flush)(void *ctx);
};
/* Copy *ops (NULL clears it). */
void session_server_set_store(struct session_server *srv, const struct session_store_ops *ops);
/*
 * A cookie handed to sync_request completed: ok (durable) sends the
 * confirm (basic.ack) or tx.commit-ok, !ok a basic.nack (or closes a
 * transactional channel with 541).  Call session_server_sync_batch_end()
 * after a batch of these: it sends the coalesced acks.
 */
void session_server_sync_done(struct session_server *srv, uint64_t cookie, bool ok);
void session_server_sync_batch_end(struct session_server *srv);

#endif
