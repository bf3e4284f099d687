/*
 * server_mgmt.h - wiring of the management layer (mgmt.h) into the
 * daemon: fills struct mgmt_source from the session layer (connections,
 * channels, consumers, credentials, the property codec, alarms) and
 * starts the HTTP listeners on the server's loop.  Private to server.c.
 */
#ifndef EDAD_SERVER_MGMT_H
#define EDAD_SERVER_MGMT_H

#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/mgmt.h"
#include "edad/net.h"
#include "edad/session.h"
#include "edad/store.h"

/*
 * Start the management API and the Prometheus endpoint as conf says
 * (ports 0: nothing listens).  flush(flush_ctx) runs after each request
 * that may have changed state (the server's store flush).  Everything
 * passed is borrowed and must outlive the result; free it with mgmt_free()
 * before the sessions go.
 */
struct mgmt *server_mgmt_start(struct net_loop *loop, const struct edad_conf *conf,
                               struct broker *b, struct store *st,
                               struct session_server *sessions,
                               void (*flush)(void *flush_ctx), void *flush_ctx);

#endif
