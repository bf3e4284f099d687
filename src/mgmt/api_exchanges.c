/*
 * api_exchanges.c - /api/exchanges[/{vhost}[/{name}[/publish|/bindings/..]]]:
 * list, show, declare (PUT), delete and publish, through the same broker
 * calls as exchange.declare, exchange.delete and basic.publish.  The
 * default exchange is "amq.default" in paths and "" in bodies, as RabbitMQ.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

static json_t *exchange_json(struct vhost *vh, struct exchange *x)
{
    struct exchange_info xi;
    exchange_get_info(x, &xi);
    json_t *j = json_object();
    json_object_set_new(j, "name", mgmt_json_name(xi.name, xi.name_len));
    json_object_set_new(j, "vhost", json_string(vhost_name(vh)));
    json_object_set_new(j, "type", json_string(xi.type));
    json_object_set_new(j, "durable", json_boolean(xi.durable));
    json_object_set_new(j, "auto_delete", json_boolean(xi.auto_delete));
    json_object_set_new(j, "internal", json_boolean(xi.internal));
    json_object_set_new(j, "arguments", mgmt_table_to_json(xi.args));
    json_object_set_new(j, "user_who_performed_action", json_string(""));
    json_object_set_new(j, "policy", json_null());
    return j;
}

struct collect {
    struct vhost *vh;
    json_t *items;
};

static bool collect_exchange(void *arg, struct exchange *x)
{
    struct collect *c = arg;
    json_array_append_new(c->items, exchange_json(c->vh, x));
    return true;
}

static bool collect_vhost(void *arg, struct vhost *vh)
{
    struct collect *c = arg;
    c->vh = vh;
    vhost_foreach_exchange(vh, collect_exchange, c);
    return true;
}

/* "amq.default" in a path names the default exchange. */
static const char *path_name(const char *seg)
{
    return strcmp(seg, "amq.default") == 0 ? "" : seg;
}

static void exchange_put(struct mgmt_req *r, struct mgmt_resp *o, struct vhost *vh,
                         const char *name)
{
    json_t *body = mgmt_body_object(r, o);
    if (!body)
        return;
    struct broker_table args;
    char why[256];
    if (!mgmt_table_from_json(json_object_get(body, "arguments"), &r->arena, &args, why,
                              sizeof(why))) {
        mgmt_bad_request(o, why);
        goto out;
    }
    const char *type = json_string_value(json_object_get(body, "type"));
    bool existed = exchange_find(vh, bytes_from_cstr(name)) != NULL;
    struct exchange_declare d = {
        .name = bytes_from_cstr(name),
        .type = bytes_from_cstr(type ? type : "direct"),
        .durable = json_is_true(json_object_get(body, "durable")),
        .auto_delete = json_is_true(json_object_get(body, "auto_delete")),
        .internal = json_is_true(json_object_get(body, "internal")),
        .args = &args,
    };
    struct broker_err err;
    if (!mgmt_access_ok(o, access_check_exchange_declare(vh, r->user, &d, &err), &err))
        goto out;
    if (exchange_declare(vh, &d, &err) != EDAD_OK)
        mgmt_broker_error(o, &err);
    else
        mgmt_reply_status(o, existed ? 204 : 201);
out:
    json_decref(body);
}

struct pub_headers {
    const struct broker_table *t;
};

static const struct broker_table *pub_get_headers(void *ctx)
{
    return ((struct pub_headers *)ctx)->t;
}

static void exchange_publish(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                             struct vhost *vh, const char *name)
{
    struct broker_err err;
    if (!mgmt_access_ok(o, access_check(m->broker, r->user, vhost_name(vh), ACCESS_WRITE,
                                        ACCESS_EXCHANGE, bytes_from_cstr(name), &err), &err))
        return;
    json_t *body = mgmt_body_object(r, o);
    if (!body)
        return;
    uint8_t *payload = NULL;
    size_t plen = 0;
    struct message *msg = NULL;
    json_t *props = json_object_get(body, "properties");
    const char *rk = json_string_value(json_object_get(body, "routing_key"));
    json_t *jp = json_object_get(body, "payload");
    const char *enc = json_string_value(json_object_get(body, "payload_encoding"));
    if (!json_is_object(props) || !rk || !json_is_string(jp) || !enc) {
        mgmt_bad_request(o, !json_is_object(props) ? "properties not found"
                            : !rk ? "routing_key not found"
                            : !json_is_string(jp) ? "payload not found"
                            : "payload_encoding not found");
        goto out;
    }
    if (strcmp(enc, "string") == 0) {
        plen = json_string_length(jp);
        payload = xmalloc(plen + 1);
        memcpy(payload, json_string_value(jp), plen);
    } else if (strcmp(enc, "base64") == 0) {
        if (!mgmt_base64_decode(json_string_value(jp), json_string_length(jp), &payload,
                                &plen)) {
            mgmt_bad_request(o, "payload is not valid base64");
            goto out;
        }
    } else {
        mgmt_bad_request(o, "payload_encoding must be string or base64");
        goto out;
    }
    struct message_info info = {.expiration_ms = -1};
    static const uint8_t no_props[2] = {0, 0};
    struct edad_bytes raw = {no_props, 2};
    char why[256];
    if (m->src.props_from_json &&
        m->src.props_from_json(m->src.ctx, props, &r->arena, &raw, &info, why, sizeof(why)) !=
            EDAD_OK) {
        mgmt_bad_request(o, why);
        goto out;
    }
    struct broker_table headers;
    struct pub_headers ph = {NULL};
    if (mgmt_table_from_json(json_object_get(props, "headers"), &r->arena, &headers, why,
                             sizeof(why)))
        ph.t = &headers;
    msg = message_new(bytes_from_cstr(name), bytes_from_cstr(rk), raw, plen, &info);
    if (!msg) {
        mgmt_bad_request(o, "message too large or routing key too long");
        goto out;
    }
    if (plen)
        memcpy(message_body_mut(msg), payload, plen);
    struct broker_publish_opts opts = {.get_headers = pub_get_headers, .headers_ctx = &ph};
    struct broker_publish_result res = {0};
    if (broker_publish(vh, msg, &opts, &res, &err) != EDAD_OK) {
        mgmt_broker_error(o, &err);
        goto out;
    }
    bool routed = res.routed > res.rejected || res.delayed > 0 || res.deduplicated > 0;
    mgmt_reply_json(o, json_pack("{s:b}", "routed", routed));
out:
    message_unref(&msg);
    free(payload);
    json_decref(body);
}

void api_exchanges(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    bool read = r->method == MGMT_GET || r->method == MGMT_HEAD;
    if (r->nseg <= 2) {
        if (!read) {
            mgmt_reply_status(o, 405);
            return;
        }
        struct collect c = {NULL, json_array()};
        if (r->nseg == 2) {
            struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
            if (!vh) {
                json_decref(c.items);
                return;
            }
            collect_vhost(&c, vh);
        } else {
            mgmt_foreach_vhost(m->broker, collect_vhost, &c);
        }
        mgmt_reply_list(r, o, mgmt_sort_by_vhost_name(c.items));
        return;
    }
    struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
    if (!vh)
        return;
    const char *name = path_name(r->seg[2]);
    struct exchange *x = exchange_find(vh, bytes_from_cstr(name));
    if (r->nseg == 3) {
        struct broker_err err;
        if (read) {
            x ? mgmt_reply_json(o, exchange_json(vh, x)) : mgmt_not_found(o);
        } else if (r->method == MGMT_PUT) {
            exchange_put(r, o, vh, name);
        } else if (r->method == MGMT_DELETE) {
            if (!x) {
                mgmt_not_found(o);
                return;
            }
            const char *iu = mgmt_req_query(r, "if-unused");
            if (!mgmt_access_ok(o, access_check(m->broker, r->user, vhost_name(vh),
                                                ACCESS_CONFIGURE, ACCESS_EXCHANGE,
                                                bytes_from_cstr(name), &err), &err))
                return;
            if (exchange_delete(vh, bytes_from_cstr(name), iu && strcmp(iu, "true") == 0,
                                &err) != EDAD_OK)
                mgmt_broker_error(o, &err);
            else
                mgmt_reply_status(o, 204);
        } else {
            mgmt_reply_status(o, 405);
        }
        return;
    }
    if (!x) {
        mgmt_not_found(o);
        return;
    }
    if (r->nseg == 4 && strcmp(r->seg[3], "publish") == 0) {
        if (r->method != MGMT_POST) {
            mgmt_reply_status(o, 405);
            return;
        }
        exchange_publish(m, r, o, vh, name);
        return;
    }
    if (r->nseg == 5 && strcmp(r->seg[3], "bindings") == 0 &&
        (strcmp(r->seg[4], "source") == 0 || strcmp(r->seg[4], "destination") == 0)) {
        if (!read) {
            mgmt_reply_status(o, 405);
            return;
        }
        mgmt_reply_list(r, o, mgmt_bindings_for_exchange(vh, x, r->seg[4][0] == 's'));
        return;
    }
    mgmt_not_found(o);
}
