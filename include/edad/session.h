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

/* True for the SASL mechanisms edad implements: PLAIN, AMQPLAIN, EXTERNAL. */
bool session_mechanism_supported(const char *name);

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
/* After each broker dispatch pass: publishers waiting for a lagging queue
 * (publisher flow, connection.c) go on once such a queue delivered. */
void session_server_flow_poll(struct session_server *srv);

/*
 * Resource alarms (issue 7), as RabbitMQ applies them: while any alarm is
 * active, a connection that sends a message (content header or body) is
 * blocked: edad stops reading from it after that frame, and when the client
 * announced the connection.blocked capability it gets connection.blocked
 * with reason "low on memory", "low on disk" or "low on memory & disk".
 * Connections that only consume keep being read (acks flow).  When no
 * alarm is left, blocked connections get connection.unblocked (if they got
 * connection.blocked) and reading resumes.  A blocked connection is never
 * dropped for missing heartbeats.
 */
enum {
    SESSION_ALARM_MEMORY = 1u << 0,
    SESSION_ALARM_DISK = 1u << 1,
};
/* Replace the set of active alarms (SESSION_ALARM_* bits). */
void session_server_set_alarms(struct session_server *srv, unsigned alarms);
unsigned session_server_alarms(const struct session_server *srv);
/* Connections blocked now (they published during an alarm). */
size_t session_server_blocked_count(const struct session_server *srv);

/* ---- inspection for the management API (inspect.c) --------------------------- */

struct json_t;
/*
 * Read-only views of the live sessions as RabbitMQ's management API
 * objects (new JSON arrays; the caller decrefs): connections (name "peer ->
 * local", user, vhost, state, channels, peer_host/port, host/port,
 * frame_max, channel_max, timeout, auth_mechanism, connected_at, send_oct,
 * recv_oct ...), channels ("name (number)", connection_details,
 * consumer_count, messages_unacknowledged, prefetch_count, confirm,
 * transactional ...) and consumers (consumer_tag, channel_details, queue,
 * ack_required, prefetch_count ...).  Connections still in the handshake
 * are listed with state "starting"/"tuning"/"opening".
 */
struct json_t *session_server_connections_json(struct session_server *srv);
struct json_t *session_server_channels_json(struct session_server *srv);
struct json_t *session_server_consumers_json(struct session_server *srv);
/*
 * Close the connection named name (its management name): an open one gets
 * connection.close 320 "CONNECTION_FORCED - <reason>" and loses its
 * channels, one still in the handshake is dropped.  False when no live
 * connection has that name.
 */
bool session_server_close_by_name(struct session_server *srv, const char *name,
                                  const char *reason);
/* The AMQP credentials check (user store, loopback_users): 0 ok, 1 bad
 * credentials, 2 a loopback-only user from a remote address. */
int session_server_authenticate(struct session_server *srv, const char *user, const char *pass,
                                bool peer_is_loopback);
/*
 * Basic properties <-> RabbitMQ's management "properties" JSON object
 * (content_type, headers, delivery_mode, priority, ... timestamp).
 * session_props_to_json: a new object, NULL when raw does not decode.
 * session_props_from_json: encode props (borrowed) into *raw in arena a
 * and fill *info; EDAD_ERR_INVALID with a reason in err.
 */
struct json_t *session_props_to_json(struct edad_bytes raw);
edad_status session_props_from_json(const struct json_t *props, struct arena *a,
                                    struct edad_bytes *raw, struct message_info *info,
                                    char *err, size_t errlen);

#endif
