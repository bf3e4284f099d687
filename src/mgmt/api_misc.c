/*
 * api_misc.c - the small resources of the management API: /api/overview,
 * /api/whoami, /api/vhosts, /api/connections (DELETE closes one),
 * /api/channels, /api/consumers, /api/aliveness-test/{vhost} and
 * /api/health/checks/alarms, with RabbitMQ's field names.  Queues,
 * exchanges and bindings have their own files.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mgmt_int.h"

/* What the management API reports as RabbitMQ's version (clients check it). */
#define MGMT_COMPAT_VERSION "3.12.0"

static void node_name(char *buf, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, len, "edad@%s", host);
}

/* ---- totals ------------------------------------------------------------------ */

struct totals {
    uint64_t queues, exchanges, consumers;
    uint64_t messages, ready, unacked;
    struct mgmt_sample now;          /* the queues' live counters, summed */
};

static bool totals_queue(void *arg, struct queue *q)
{
    struct totals *t = arg;
    struct queue_stats s;
    queue_get_stats(q, &s);
    t->queues++;
    t->consumers += s.consumers;
    t->ready += s.ready;
    t->unacked += s.unacked;
    t->messages += (uint64_t)s.ready + s.unacked;
    t->now.published += s.published;
    t->now.delivered += s.delivered;
    t->now.got += s.got;
    t->now.acked += s.acked;
    t->now.redelivered += s.redelivered;
    return true;
}

static bool totals_vhost(void *arg, struct vhost *vh)
{
    struct totals *t = arg;
    t->exchanges += vhost_exchange_count(vh);
    vhost_foreach_queue(vh, totals_queue, t);
    return true;
}

static double rate_of(uint64_t a, uint64_t b, uint64_t dt_ms)
{
    if (dt_ms == 0 || b < a)
        return 0.0;
    return (double)(b - a) * 1000.0 / (double)dt_ms;
}

json_t *mgmt_message_stats(const struct mgmt_sample *now, const struct mgmt_sample *prev,
                           const struct mgmt_sample *cur, bool has_rates)
{
    uint64_t dt = has_rates ? cur->t_ms - prev->t_ms : 0;
    json_t *o = json_object();
#define STAT(name, field)                                                                   \
    do {                                                                                    \
        json_object_set_new(o, name, json_integer((json_int_t)now->field));                 \
        json_object_set_new(o, name "_details",                                            \
                            mgmt_rate(has_rates ? rate_of(prev->field, cur->field, dt) : 0.0)); \
    } while (0)
    STAT("publish", published);
    STAT("deliver", delivered);
    STAT("get", got);
    STAT("ack", acked);
    STAT("redeliver", redelivered);
#undef STAT
    uint64_t dg = now->delivered + now->got;
    double dg_rate = 0.0;
    if (has_rates)
        dg_rate = rate_of(prev->delivered + prev->got, cur->delivered + cur->got, dt);
    json_object_set_new(o, "deliver_get", json_integer((json_int_t)dg));
    json_object_set_new(o, "deliver_get_details", mgmt_rate(dg_rate));
    /* deliver_no_ack is not tracked apart from deliver */
    json_object_set_new(o, "deliver_no_ack", json_integer(0));
    json_object_set_new(o, "deliver_no_ack_details", mgmt_rate(0.0));
    return o;
}

static json_t *json_array_or_empty(json_t *(*fn)(void *), void *ctx)
{
    json_t *a = fn ? fn(ctx) : NULL;
    return a ? a : json_array();
}

void api_overview(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg != 1 || (r->method != MGMT_GET && r->method != MGMT_HEAD)) {
        r->nseg != 1 ? mgmt_not_found(o) : mgmt_reply_status(o, 405);
        return;
    }
    char node[300];
    node_name(node, sizeof(node));
    struct totals t = {0};
    mgmt_foreach_vhost(m->broker, totals_vhost, &t);
    json_t *conns = json_array_or_empty(m->src.connections, m->src.ctx);
    json_t *chans = json_array_or_empty(m->src.channels, m->src.ctx);

    /* counters now, rates from the sampler */
    struct mgmt_sample prev = {0}, cur = {0};
    bool has = mgmt_rates_totals(m->rates, &prev, &cur);
    uint64_t recv_oct = 0, send_oct = 0;
    if (m->src.io_totals)
        m->src.io_totals(m->src.ctx, &recv_oct, &send_oct);

    json_t *types = json_array();
    static const char *const tn[][2] = {
        {"direct", "AMQP direct exchange, as per the AMQP specification"},
        {"fanout", "AMQP fanout exchange, as per the AMQP specification"},
        {"headers", "AMQP headers exchange, as per the AMQP specification"},
        {"topic", "AMQP topic exchange, as per the AMQP specification"},
        {"x-consistent-hash", "Consistent Hashing Exchange"},
        {"x-delayed-message", "Delayed Message Exchange"},
    };
    for (size_t i = 0; i < sizeof(tn) / sizeof(tn[0]); i++)
        json_array_append_new(types, json_pack("{s:s, s:s, s:b}", "name", tn[i][0],
                                               "description", tn[i][1], "enabled", 1));
    json_t *listeners = json_array();
    for (unsigned i = 0; i < m->conf->n_listeners; i++)
        json_array_append_new(listeners,
                              json_pack("{s:s, s:s, s:s, s:i}", "node", node, "protocol", "amqp",
                                        "ip_address", m->conf->listeners[i].host[0]
                                                          ? m->conf->listeners[i].host : "::",
                                        "port", m->conf->listeners[i].port));
    if (m->conf->management_port)
        json_array_append_new(listeners,
                              json_pack("{s:s, s:s, s:s, s:i}", "node", node, "protocol", "http",
                                        "ip_address", m->conf->management_ip ? m->conf->management_ip : "",
                                        "port", (int)m->conf->management_port));
    json_t *qt = json_pack("{s:I, s:o, s:I, s:o, s:I, s:o}",
                           "messages", (json_int_t)t.messages,
                           "messages_details", mgmt_rate(0.0),
                           "messages_ready", (json_int_t)t.ready,
                           "messages_ready_details", mgmt_rate(0.0),
                           "messages_unacknowledged", (json_int_t)t.unacked,
                           "messages_unacknowledged_details", mgmt_rate(0.0));
    json_t *ot = json_pack("{s:I, s:I, s:I, s:I, s:I}",
                           "connections", (json_int_t)json_array_size(conns),
                           "channels", (json_int_t)json_array_size(chans),
                           "exchanges", (json_int_t)t.exchanges,
                           "queues", (json_int_t)t.queues,
                           "consumers", (json_int_t)t.consumers);
    json_decref(conns);
    json_decref(chans);
    json_t *ov = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, "
                           "s:I, s:I}",
                           "management_version", MGMT_COMPAT_VERSION,
                           "rates_mode", "basic",
                           "exchange_types", types,
                           "product_version", PACKAGE_VERSION,
                           "product_name", "edad",
                           "rabbitmq_version", MGMT_COMPAT_VERSION,
                           "cluster_name", node,
                           "erlang_version", "none (edad is written in C)",
                           "message_stats", mgmt_message_stats(&t.now, &prev, &cur, has),
                           "queue_totals", qt,
                           "object_totals", ot,
                           "node", node,
                           "listeners", listeners,
                           "contexts", json_array(),
                           /* edad's own: bytes of every AMQP connection since start */
                           "recv_oct", (json_int_t)recv_oct,
                           "send_oct", (json_int_t)send_oct);
    mgmt_reply_json(o, ov);
}

static json_t *tags_json(unsigned tags)
{
    json_t *a = json_array();
    if (tags & MGMT_TAG_ADMINISTRATOR)
        json_array_append_new(a, json_string("administrator"));
    else if (tags & MGMT_TAG_MONITORING)
        json_array_append_new(a, json_string("monitoring"));
    else if (tags & MGMT_TAG_POLICYMAKER)
        json_array_append_new(a, json_string("policymaker"));
    else if (tags & MGMT_TAG_MANAGEMENT)
        json_array_append_new(a, json_string("management"));
    return a;
}

void api_whoami(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg != 1) {
        mgmt_not_found(o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    mgmt_reply_json(o, json_pack("{s:s, s:o}", "name", r->user,
                                 "tags", tags_json(mgmt_user_tags(m, r->user))));
}

/* ---- vhosts ------------------------------------------------------------------- */

static json_t *vhost_json(struct vhost *vh)
{
    struct totals t = {0};
    totals_vhost(&t, vh);
    return json_pack("{s:s, s:s, s:o, s:s, s:b, s:I, s:o, s:I, s:o, s:I, s:o, s:{s:o, s:s}}",
                     "name", vhost_name(vh), "description", "", "tags", json_array(),
                     "default_queue_type", "classic", "tracing", 0,
                     "messages", (json_int_t)t.messages, "messages_details", mgmt_rate(0.0),
                     "messages_ready", (json_int_t)t.ready,
                     "messages_ready_details", mgmt_rate(0.0),
                     "messages_unacknowledged", (json_int_t)t.unacked,
                     "messages_unacknowledged_details", mgmt_rate(0.0),
                     "metadata", "tags", json_array(), "description", "");
}

struct vhost_list {
    struct mgmt_req *r;
    json_t *items;
};

static bool vhost_collect(void *arg, struct vhost *vh)
{
    struct vhost_list *l = arg;
    if (mgmt_vhost_visible(l->r, vhost_name(vh)))
        json_array_append_new(l->items, vhost_json(vh));
    return true;
}

void api_vhosts(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg == 3 && strcmp(r->seg[2], "permissions") == 0) {
        if (!mgmt_require_tag(r, o, MGMT_TAG_ADMINISTRATOR) ||
            !mgmt_require_vhost(m, r, o, r->seg[1]))
            return;
        r->method == MGMT_GET || r->method == MGMT_HEAD
            ? mgmt_reply_list(r, o, mgmt_permissions_list(m->broker, NULL, r->seg[1]))
            : mgmt_reply_status(o, 405);
        return;
    }
    if (r->nseg > 2) {
        mgmt_not_found(o);
        return;
    }
    if (r->nseg == 2 && (r->method == MGMT_PUT || r->method == MGMT_DELETE)) {
        mgmt_vhost_write(m, r, o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    if (r->nseg == 2) {
        struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
        if (vh)
            mgmt_reply_json(o, vhost_json(vh));
        return;
    }
    struct vhost_list l = {r, json_array()};
    mgmt_foreach_vhost(m->broker, vhost_collect, &l);
    mgmt_reply_list(r, o, l.items);
}

/* ---- connections, channels, consumers -------------------------------------------- */

/* Management users see their own connections; monitoring sees all. */
static json_t *own_only(struct mgmt_req *r, json_t *items, const char *user_field)
{
    if (r->tags & MGMT_TAG_MONITORING)
        return items;
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *u = json_object_get(it, user_field);
        if (!u) {
            json_t *cd = json_object_get(it, "channel_details");
            u = json_object_get(cd, "user");
        }
        if (json_is_string(u) && strcmp(json_string_value(u), r->user) == 0)
            json_array_append(out, it);
    }
    json_decref(items);
    return out;
}

static void api_session_list(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                             json_t *(*fn)(void *))
{
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    json_t *items = json_array_or_empty(fn, m->src.ctx);
    if (r->nseg == 2 && !mgmt_require_vhost(m, r, o, r->seg[1])) {
        json_decref(items);
        return;
    }
    items = mgmt_filter_vhost(items, r->nseg == 2 ? r->seg[1] : NULL);
    mgmt_reply_list(r, o, own_only(r, items, "user"));
}

static json_t *find_named(json_t *items, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

void api_connections(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    /* /api/connections, /api/connections/{name}[/channels] */
    if (r->nseg == 1) {
        api_session_list(m, r, o, m->src.connections);
        return;
    }
    if (r->nseg > 3 || (r->nseg == 3 && strcmp(r->seg[2], "channels") != 0)) {
        mgmt_not_found(o);
        return;
    }
    json_t *items = own_only(r, json_array_or_empty(m->src.connections, m->src.ctx), "user");
    json_t *c = find_named(items, r->seg[1]);
    if (!c) {
        json_decref(items);
        mgmt_not_found(o);
        return;
    }
    if (r->nseg == 3) {
        json_decref(items);
        if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
            mgmt_reply_status(o, 405);
            return;
        }
        json_t *chans = json_array_or_empty(m->src.channels, m->src.ctx);
        json_t *mine = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(chans, i, it) {
            const char *cn = json_string_value(
                json_object_get(json_object_get(it, "connection_details"), "name"));
            if (cn && strcmp(cn, r->seg[1]) == 0)
                json_array_append(mine, it);
        }
        json_decref(chans);
        mgmt_reply_list(r, o, mine);
        return;
    }
    if (r->method == MGMT_GET || r->method == MGMT_HEAD) {
        mgmt_reply_json(o, json_incref(c));
    } else if (r->method == MGMT_DELETE) {
        /* RabbitMQ: the X-Reason header gives the reason; the default text
           is "Closed via management plugin" */
        const char *why = r->x_reason && *r->x_reason && strlen(r->x_reason) < 200
                              ? r->x_reason : "Closed via management plugin";
        bool ok = m->src.close_connection &&
                  m->src.close_connection(m->src.ctx, r->seg[1], why);
        ok ? mgmt_reply_status(o, 204) : mgmt_not_found(o);
    } else {
        mgmt_reply_status(o, 405);
    }
    json_decref(items);
}

void api_channels(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg == 1) {
        api_session_list(m, r, o, m->src.channels);
        return;
    }
    if (r->nseg != 2) {
        mgmt_not_found(o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    json_t *items = own_only(r, json_array_or_empty(m->src.channels, m->src.ctx), "user");
    json_t *c = find_named(items, r->seg[1]);
    c ? mgmt_reply_json(o, json_incref(c)) : mgmt_not_found(o);
    json_decref(items);
}

void api_consumers(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg > 2) {
        mgmt_not_found(o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    json_t *items = json_array_or_empty(m->src.consumers, m->src.ctx);
    if (r->nseg == 2) {
        if (!mgmt_require_vhost(m, r, o, r->seg[1])) {
            json_decref(items);
            return;
        }
        json_t *kept = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            const char *v = json_string_value(json_object_get(json_object_get(it, "queue"), "vhost"));
            if (v && strcmp(v, r->seg[1]) == 0)
                json_array_append(kept, it);
        }
        json_decref(items);
        items = kept;
    }
    mgmt_reply_list(r, o, own_only(r, items, "user"));
}

/* ---- health -------------------------------------------------------------------------- */

void api_aliveness(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->nseg != 2) {
        mgmt_not_found(o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
    if (!vh)
        return;
    /* As RabbitMQ: declare "aliveness-test", publish to it, get it back. */
    struct broker_err err;
    struct queue_declare d = {.name = bytes_from_cstr("aliveness-test")};
    struct queue_declare_ok ok;
    if (queue_declare(vh, &d, &ok, &err) != EDAD_OK) {
        mgmt_error(o, 503, "failed", err.text);
        return;
    }
    struct message_info info = {.expiration_ms = -1};
    static const uint8_t no_props[2] = {0, 0};
    struct message *msg = message_new(EDAD_BYTES_NULL, bytes_from_cstr("aliveness-test"),
                                      (struct edad_bytes){no_props, 2}, 12, &info);
    memcpy(message_body_mut(msg), "test_message", 12);
    struct broker_publish_result res = {0};
    edad_status st = broker_publish(vh, msg, NULL, &res, &err);
    message_unref(&msg);
    struct queue_entry e;
    bool got = st == EDAD_OK && res.routed && queue_get(ok.queue, true, &e, NULL);
    if (got)
        message_unref(&e.msg);
    if (!got) {
        mgmt_reply_json(o, json_pack("{s:s, s:s}", "status", "failed",
                                     "reason", "aliveness-test message was not routed back"));
        o->status = 503;
        return;
    }
    mgmt_reply_json(o, json_pack("{s:s}", "status", "ok"));
}

void api_health(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    /* /api/health/checks/alarms (and local-alarms, the same on one node) */
    if (r->nseg != 3 || strcmp(r->seg[1], "checks") != 0 ||
        (strcmp(r->seg[2], "alarms") != 0 && strcmp(r->seg[2], "local-alarms") != 0)) {
        mgmt_not_found(o);
        return;
    }
    if (r->method != MGMT_GET && r->method != MGMT_HEAD) {
        mgmt_reply_status(o, 405);
        return;
    }
    unsigned a = m->src.alarms ? m->src.alarms(m->src.ctx) : 0;
    if (!a) {
        mgmt_reply_json(o, json_pack("{s:s}", "status", "ok"));
        return;
    }
    char node[300];
    node_name(node, sizeof(node));
    json_t *list = json_array();
    if (a & MGMT_ALARM_MEMORY)
        json_array_append_new(list, json_pack("{s:s, s:s}", "node", node, "resource", "memory"));
    if (a & MGMT_ALARM_DISK)
        json_array_append_new(list, json_pack("{s:s, s:s}", "node", node, "resource", "disk"));
    mgmt_reply_json(o, json_pack("{s:s, s:s, s:o}", "status", "failed",
                                 "reason", "resource alarm(s) in effect in the cluster",
                                 "alarms", list));
    o->status = 503;
}
