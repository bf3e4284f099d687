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

#endif
