/*
 * mgmt.h - the management side of edad: RabbitMQ's management HTTP API
 * (/api/..., JSON, basic auth, access by user tag) and the Prometheus
 * /metrics endpoint, both on the server's event loop.  It calls the broker
 * directly (same functions and validation as the AMQP handlers); what
 * lives in other layers (sessions, credentials, the AMQP property codec,
 * alarms) reaches it through struct mgmt_source, which server.c fills.
 */
#ifndef EDAD_MGMT_H
#define EDAD_MGMT_H

#include <stdbool.h>
#include <stddef.h>

#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/core.h"
#include "edad/status.h"

struct mgmt;
struct event_base;
struct store;

/* Result of a credentials check (the same check AMQP logins use). */
enum mgmt_auth {
    MGMT_AUTH_OK,
    MGMT_AUTH_FAILED,          /* unknown user or wrong password */
    MGMT_AUTH_LOOPBACK_ONLY,   /* a loopback_users user from a remote address */
};

/* Resource alarms in effect (mgmt_source.alarms). */
#define MGMT_ALARM_MEMORY 0x1u
#define MGMT_ALARM_DISK 0x2u

/*
 * What the management layer needs from layers it may not include.  Every
 * member except ctx may be NULL (the feature then reports nothing).
 *  - authenticate: check user / password.
 *  - connections, channels, consumers: a new JSON array (caller decrefs) of
 *    RabbitMQ's connection / channel / consumer objects.
 *  - close_connection: close the connection named name with 320
 *    CONNECTION_FORCED and reason; false when there is none.
 *  - props_to_json: RabbitMQ's "properties" object of encoded basic
 *    properties raw (new reference), NULL when undecodable.
 *  - props_from_json: encode a "properties" object (borrowed) into *raw
 *    (arena memory) and fill *info; EDAD_ERR_INVALID with a reason in err.
 *  - alarms: MGMT_ALARM_* bits in effect.
 *  - io_totals: bytes received / sent by every AMQP connection since
 *    start, closed ones included (counters).
 *  - flush (with its own flush_ctx): called after each request that may
 *    have changed broker state (publish, get, purge, delete ...), so the
 *    store writes what it buffered as after an AMQP input batch.
 */
struct mgmt_source {
    void *ctx;
    enum mgmt_auth (*authenticate)(void *ctx, const char *user, const char *pass,
                                   bool peer_is_loopback);
    struct json_t *(*connections)(void *ctx);
    struct json_t *(*channels)(void *ctx);
    struct json_t *(*consumers)(void *ctx);
    bool (*close_connection)(void *ctx, const char *name, const char *reason);
    struct json_t *(*props_to_json)(void *ctx, struct edad_bytes raw);
    edad_status (*props_from_json)(void *ctx, const struct json_t *props, struct arena *a,
                                   struct edad_bytes *raw, struct message_info *info,
                                   char *err, size_t errlen);
    unsigned (*alarms)(void *ctx);
    void (*io_totals)(void *ctx, uint64_t *received, uint64_t *sent);
    void (*flush)(void *flush_ctx);
    void *flush_ctx;
};

/*
 * Start the management listeners of conf (management.tcp.*, prometheus.tcp.*;
 * port 0 disables one) on base, serving broker b (and store st, which may be
 * NULL).  conf, b, st and the source's ctx are borrowed and must outlive the
 * returned object; *src is copied.  A listener that cannot bind is logged
 * and left off: the AMQP broker runs without it.  Never returns NULL.
 */
struct mgmt *mgmt_new(struct event_base *base, const struct edad_conf *conf, struct broker *b,
                      struct store *st, const struct mgmt_source *src);
/* Stop listening, drop pending HTTP requests, free.  NULL is a no-op. */
void mgmt_free(struct mgmt *m);
/* "127.0.0.1:15672" of the API / metrics listener, or NULL when it is off. */
const char *mgmt_api_address(const struct mgmt *m);
const char *mgmt_metrics_address(const struct mgmt *m);

#endif
