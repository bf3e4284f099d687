/*
 * mgmt_int.h - private to src/mgmt/: struct mgmt, the transport-neutral
 * request/response pair http.c hands to the API router (api.c), JSON and
 * encoding helpers, the rate sampler and the Prometheus renderer.  Nothing
 * here knows libevent: only http.c does.
 */
#ifndef EDAD_MGMT_INT_H
#define EDAD_MGMT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "edad/access.h"
#include "edad/broker.h"
#include "edad/mgmt.h"
#include "edad/store.h"

/* ---- rates (rates.c) ------------------------------------------------------ */

/* Counters of one object at one sampling instant. */
struct mgmt_sample {
    uint64_t t_ms;
    uint64_t published, delivered, got, acked, redelivered;
    uint64_t messages, ready, unacked;
};

#define MGMT_RATE_INTERVAL_MS 5000
#define MGMT_RATE_RING 12           /* samples kept for the overview (1 min) */

struct mgmt_rates;
struct mgmt_rates *mgmt_rates_new(void);
void mgmt_rates_free(struct mgmt_rates *r);
/* Sample every queue of b now (called every MGMT_RATE_INTERVAL_MS). */
void mgmt_rates_tick(struct mgmt_rates *r, struct broker *b, uint64_t now_ms);
/* The two latest samples of queue (vhost, name); false when not sampled twice. */
bool mgmt_rates_queue(const struct mgmt_rates *r, const char *vhost, const char *name,
                      struct mgmt_sample *prev, struct mgmt_sample *cur);
/* Broker-wide totals: the latest and the one before it. */
bool mgmt_rates_totals(const struct mgmt_rates *r, struct mgmt_sample *prev,
                       struct mgmt_sample *cur);

/* ---- the management object ------------------------------------------------ */

/* User tags (mgmt_user_tags). */
#define MGMT_TAG_MANAGEMENT 0x1u
#define MGMT_TAG_MONITORING 0x2u
#define MGMT_TAG_ADMINISTRATOR 0x4u
#define MGMT_TAG_POLICYMAKER 0x8u

struct mgmt_http;

struct mgmt {
    const struct edad_conf *conf;
    struct broker *broker;
    struct store *store;
    struct mgmt_source src;
    struct mgmt_rates *rates;
    struct mgmt_http *http;          /* http.c's listeners and timer */
    uint64_t started_ms;
};

struct event_base;
/* http.c: open the configured listeners and the rate timer; stop them. */
struct mgmt_http *mgmt_http_start(struct mgmt *m, struct event_base *base);
void mgmt_http_stop(struct mgmt_http *h);

/* The tags of an authenticated user (MGMT_TAG_* bits). */
unsigned mgmt_user_tags(const struct mgmt *m, const char *user);
/* fn for every vhost, in name order; stops when fn returns false. */
void mgmt_foreach_vhost(struct broker *b, bool (*fn)(void *ctx, struct vhost *vh), void *ctx);

/* ---- requests (api.c) --------------------------------------------------------- */

enum mgmt_method {
    MGMT_GET,
    MGMT_HEAD,
    MGMT_PUT,
    MGMT_POST,
    MGMT_DELETE,
    MGMT_OTHER,
};

#define MGMT_MAX_SEGS 12
#define MGMT_MAX_QUERY 24

struct mgmt_req {
    enum mgmt_method method;
    const char *raw_path;            /* as received, query excluded */
    char *seg[MGMT_MAX_SEGS];        /* decoded segments after "/api/" */
    unsigned nseg;
    char *qkey[MGMT_MAX_QUERY], *qval[MGMT_MAX_QUERY];
    unsigned nq;
    const char *body;                /* not NUL-terminated */
    size_t body_len;
    const char *auth_user;           /* from basic auth, NULL when absent */
    const char *auth_pass;
    const char *x_reason;            /* X-Reason header (closing connections) */
    bool peer_loopback;
    /* set by the router after authentication */
    struct mgmt *m;
    const char *user;
    unsigned tags;
    struct arena arena;              /* per-request memory */
};

struct mgmt_resp {
    int status;
    json_t *json;                    /* owned; NULL: no body */
    char *text;                      /* owned plain-text body (metrics), or NULL */
    size_t text_len;
    const char *content_type;
    char location[512];              /* Location header when set */
    bool www_authenticate;
};

/*
 * Parse raw_path ("/api/queues/%2F/q") and query ("page=1&...") into r
 * (strings live in r->arena).  False when the path is not under /api/ or is
 * malformed (bad percent-encoding, too many segments).
 */
bool mgmt_req_parse(struct mgmt_req *r, const char *raw_path, const char *query);
/* Query parameter value, or NULL. */
const char *mgmt_req_query(const struct mgmt_req *r, const char *key);
/* Route and answer an /api/ request (authentication included). */
void mgmt_api_handle(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);

/* Error replies in RabbitMQ's shape: {"error": error, "reason": reason}. */
void mgmt_error(struct mgmt_resp *o, int status, const char *error, const char *reason);
void mgmt_not_found(struct mgmt_resp *o);
void mgmt_bad_request(struct mgmt_resp *o, const char *reason);
/* A failed broker call: 404 not_found, 403 -> 401 not_authorized, else 400. */
void mgmt_broker_error(struct mgmt_resp *o, const struct broker_err *err);
/* 200 with a JSON body (steals j). */
void mgmt_reply_json(struct mgmt_resp *o, json_t *j);
/* 204 No Content / 201 Created. */
void mgmt_reply_status(struct mgmt_resp *o, int status);

/*
 * The request body as a JSON object (new reference): an empty body is {}.
 * NULL after answering 400 bad_request for bad JSON or a non-object.
 */
json_t *mgmt_body_object(struct mgmt_req *r, struct mgmt_resp *o);

/* May the request's user see objects of vhost (tags, permissions)? */
bool mgmt_vhost_visible(const struct mgmt_req *r, const char *vhost);
/* A failed access check (403) as RabbitMQ's API answers it; false then. */
bool mgmt_access_ok(struct mgmt_resp *o, edad_status st, const struct broker_err *err);

/* Checks that answer (401 / 404) themselves and return false. */
bool mgmt_require_tag(struct mgmt_req *r, struct mgmt_resp *o, unsigned tags);
struct vhost *mgmt_require_vhost(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                                 const char *name);

/* Handlers (api_*.c): r->seg[0] selects the resource. */
void api_overview(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_whoami(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_vhosts(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_connections(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_channels(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_consumers(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_exchanges(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_queues(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_bindings(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_aliveness(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_health(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_users(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_permissions(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
void api_definitions(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
/* PUT / DELETE /api/vhosts/{name} (api_users.c). */
void mgmt_vhost_write(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);
/* Permissions as RabbitMQ lists them, filtered by user / vhost (NULL: any). */
json_t *mgmt_permissions_list(struct broker *b, const char *user, const char *vhost);

/* Shared by the handlers (api_util.c). */
json_t *mgmt_table_to_json(const struct broker_table *t);
/*
 * An x-arguments / headers table from a JSON object (borrowed), in arena a.
 * NULL object: an empty table.  False with a reason for unsupported values.
 */
bool mgmt_table_from_json(const json_t *obj, struct arena *a, struct broker_table *out,
                          char *err, size_t errlen);
/* Name of a queue / exchange / binding element for a JSON field. */
json_t *mgmt_json_name(const char *s, size_t len);
/* Decode standard base64 (padding optional) into a new heap buffer. */
bool mgmt_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);
/* Encode into a new NUL-terminated heap string. */
char *mgmt_base64_encode(const uint8_t *in, size_t len);
/* RabbitMQ's binding properties_key: "~" or the %-encoded routing key. */
char *mgmt_binding_props_key(struct edad_bytes routing_key, const struct broker_table *args);
/*
 * RabbitMQ's message_stats object: the counters of now (live values) and
 * the *_details rates over the sampler's prev..cur (0 when has_rates is
 * false: fewer than two samples).
 */
json_t *mgmt_message_stats(const struct mgmt_sample *now, const struct mgmt_sample *prev,
                           const struct mgmt_sample *cur, bool has_rates);
/* Bindings whose destination is queue (the default exchange's included). */
json_t *mgmt_bindings_for_queue(struct vhost *vh, const char *queue);
/* Bindings with x as source (as_source) or as destination. */
json_t *mgmt_bindings_for_exchange(struct vhost *vh, struct exchange *x, bool as_source);
/* {"rate": r} */
json_t *mgmt_rate(double r);
/*
 * Answer a list: applies RabbitMQ's pagination / filter / sort parameters
 * (page, page_size, name, use_regex, sort, sort_reverse, columns) to items
 * (stolen) and replies with the array or the paged envelope.
 */
void mgmt_reply_list(struct mgmt_req *r, struct mgmt_resp *o, json_t *items);
/* Sort items (in place, returned) by (vhost, name): RabbitMQ's default order. */
json_t *mgmt_sort_by_vhost_name(json_t *items);
/* Keep the items whose "vhost" equals vhost (when not NULL) and the user may see. */
json_t *mgmt_filter_vhost(json_t *items, const char *vhost);

/* ---- Prometheus (metrics.c) ------------------------------------------------- */

/* The exposition text of every edad_ metric, in a new heap buffer. */
char *mgmt_metrics_render(struct mgmt *m, size_t *len);

#endif
