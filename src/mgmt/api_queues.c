/*
 * api_queues.c - /api/queues[/{vhost}[/{name}[/contents|/get|/bindings]]]:
 * list (with pagination), show, declare (PUT), delete, purge and get
 * messages, through the same broker calls as queue.declare, queue.delete,
 * queue.purge and basic.get.  Field names as RabbitMQ's management API.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt_int.h"

static json_t *queue_json(struct mgmt *m, struct queue *q)
{
    struct queue_info qi;
    struct queue_stats s;
    queue_get_info(q, &qi);
    queue_get_stats(q, &s);
    const char *vh = vhost_name(queue_vhost(q));
    /* counters now, rates from the sampler */
    struct mgmt_sample prev = {0}, cur = {0}, now = {
        .published = s.published, .delivered = s.delivered, .got = s.got, .acked = s.acked,
        .redelivered = s.redelivered,
    };
    bool has = mgmt_rates_queue(m->rates, vh, qi.name, &prev, &cur);
    double dt = has && cur.t_ms > prev.t_ms ? (double)(cur.t_ms - prev.t_ms) / 1000.0 : 0;
    double r_msgs = dt > 0 ? ((double)cur.messages - (double)prev.messages) / dt : 0;
    double r_ready = dt > 0 ? ((double)cur.ready - (double)prev.ready) / dt : 0;
    double r_unack = dt > 0 ? ((double)cur.unacked - (double)prev.unacked) / dt : 0;
    uint64_t msgs = (uint64_t)s.ready + s.unacked;
    uint64_t bytes = s.ready_bytes + s.unacked_bytes;
    /* an estimate: bodies in memory (paged-out ones are on disk only) plus
       per-message and per-queue bookkeeping */
    uint64_t paged_bytes = s.paged_bytes < bytes ? s.paged_bytes : bytes;
    uint64_t memory = 1024 + (bytes - paged_bytes) + msgs * 96;
    char node[300], host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(node, sizeof(node), "edad@%s", host);
    json_t *j = json_object();
    json_object_set_new(j, "name", mgmt_json_name(qi.name, qi.name_len));
    json_object_set_new(j, "vhost", json_string(vh));
    json_object_set_new(j, "durable", json_boolean(qi.durable));
    json_object_set_new(j, "auto_delete", json_boolean(qi.auto_delete));
    json_object_set_new(j, "exclusive", json_boolean(qi.exclusive));
    json_object_set_new(j, "arguments", mgmt_table_to_json(qi.args));
    json_object_set_new(j, "node", json_string(node));
    json_object_set_new(j, "state", json_string("running"));
    json_object_set_new(j, "type", json_string("classic"));
    json_object_set_new(j, "policy", json_null());
    json_object_set_new(j, "exclusive_consumer_tag", json_null());
    json_object_set_new(j, "consumers", json_integer(s.consumers));
    json_object_set_new(j, "consumer_capacity", json_real(s.consumers ? 1.0 : 0.0));
    json_object_set_new(j, "consumer_utilisation", json_real(s.consumers ? 1.0 : 0.0));
    json_object_set_new(j, "messages", json_integer((json_int_t)msgs));
    json_object_set_new(j, "messages_details", mgmt_rate(r_msgs));
    json_object_set_new(j, "messages_ready", json_integer(s.ready));
    json_object_set_new(j, "messages_ready_details", mgmt_rate(r_ready));
    json_object_set_new(j, "messages_unacknowledged", json_integer(s.unacked));
    json_object_set_new(j, "messages_unacknowledged_details", mgmt_rate(r_unack));
    json_object_set_new(j, "message_bytes", json_integer((json_int_t)bytes));
    json_object_set_new(j, "message_bytes_ready", json_integer((json_int_t)s.ready_bytes));
    json_object_set_new(j, "message_bytes_unacknowledged",
                        json_integer((json_int_t)s.unacked_bytes));
    json_object_set_new(j, "messages_paged_out", json_integer(s.paged));
    json_object_set_new(j, "message_bytes_paged_out", json_integer((json_int_t)paged_bytes));
    json_object_set_new(j, "messages_ram",
                        json_integer((json_int_t)(msgs - (s.paged < msgs ? s.paged : msgs))));
    json_object_set_new(j, "message_bytes_ram", json_integer((json_int_t)(bytes - paged_bytes)));
    json_object_set_new(j, "memory", json_integer((json_int_t)memory));
    json_object_set_new(j, "message_stats", mgmt_message_stats(&now, &prev, &cur, has));
    return j;
}

struct collect {
    struct mgmt *m;
    json_t *items;
};

static bool collect_queue(void *arg, struct queue *q)
{
    struct collect *c = arg;
    json_array_append_new(c->items, queue_json(c->m, q));
    return true;
}

static bool collect_vhost(void *arg, struct vhost *vh)
{
    vhost_foreach_queue(vh, collect_queue, arg);
    return true;
}

static bool query_true(struct mgmt_req *r, const char *key)
{
    const char *v = mgmt_req_query(r, key);
    return v && strcmp(v, "true") == 0;
}

static void queue_put(struct mgmt_req *r, struct mgmt_resp *o,
                      struct vhost *vh, const char *name)
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
    struct broker_err err;
    if (!mgmt_access_ok(o, access_check_queue_declare(vh, r->user, bytes_from_cstr(name), &args,
                                                      &err), &err))
        goto out;
    bool existed = queue_lookup(vh, bytes_from_cstr(name), NULL, &err) != NULL ||
                   err.code == BROKER_RESOURCE_LOCKED;
    struct queue_declare d = {
        .name = bytes_from_cstr(name),
        .durable = json_is_true(json_object_get(body, "durable")),
        .auto_delete = json_is_true(json_object_get(body, "auto_delete")),
        .args = &args,
    };
    if (queue_declare(vh, &d, NULL, &err) != EDAD_OK) {
        mgmt_broker_error(o, &err);
        goto out;
    }
    mgmt_reply_status(o, existed ? 204 : 201);
out:
    json_decref(body);
}

/* POST .../get: take count messages and settle them as ackmode says. */
static void queue_get_messages(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                               struct queue *q)
{
    json_t *body = mgmt_body_object(r, o);
    if (!body)
        return;
    json_t *jc = json_object_get(body, "count");
    const char *ackmode = json_string_value(json_object_get(body, "ackmode"));
    const char *encoding = json_string_value(json_object_get(body, "encoding"));
    json_t *jt = json_object_get(body, "truncate");
    json_t *items = NULL;
    struct queue_entry *es = NULL;
    if (!json_is_integer(jc) || json_integer_value(jc) < 0) {
        mgmt_bad_request(o, "count is mandatory and must be a non-negative integer");
        goto out;
    }
    if (!ackmode) {
        /* the older form: "requeue": true|false */
        json_t *rq = json_object_get(body, "requeue");
        if (json_is_boolean(rq))
            ackmode = json_is_true(rq) ? "ack_requeue_true" : "ack_requeue_false";
    }
    int mode;
    if (ackmode && strcmp(ackmode, "ack_requeue_true") == 0)
        mode = 0;
    else if (ackmode && strcmp(ackmode, "ack_requeue_false") == 0)
        mode = 1;
    else if (ackmode && strcmp(ackmode, "reject_requeue_true") == 0)
        mode = 2;
    else if (ackmode && strcmp(ackmode, "reject_requeue_false") == 0)
        mode = 3;
    else {
        mgmt_bad_request(o, "ackmode must be ack_requeue_true, ack_requeue_false, "
                            "reject_requeue_true or reject_requeue_false");
        goto out;
    }
    if (!encoding)
        encoding = "auto";
    if (strcmp(encoding, "auto") != 0 && strcmp(encoding, "base64") != 0) {
        mgmt_bad_request(o, "Unsupported encoding. Please use auto or base64.");
        goto out;
    }
    json_int_t truncate = json_is_integer(jt) ? json_integer_value(jt) : -1;
    size_t count = (size_t)json_integer_value(jc);
    if (count > 100000)
        count = 100000;
    es = xmalloc((count ? count : 1) * sizeof(*es));
    size_t n = 0;
    items = json_array();
    for (; n < count; n++) {
        uint32_t left = 0;
        if (!queue_get(q, false, &es[n], &left))
            break;
        struct message *msg = es[n].msg;
        struct edad_bytes body_b = message_body(msg);
        struct edad_bytes ex = message_exchange(msg), rk = message_routing_key(msg);
        size_t plen = body_b.len;
        if (truncate >= 0 && (uint64_t)truncate < plen)
            plen = (size_t)truncate;
        json_t *payload = NULL;
        const char *penc = "string";
        if (strcmp(encoding, "auto") == 0)
            payload = json_stringn((const char *)body_b.ptr, plen);
        if (!payload) {
            char *b = mgmt_base64_encode(body_b.ptr, plen);
            payload = json_string(b);
            free(b);
            penc = "base64";
        }
        json_t *props = m->src.props_to_json
                            ? m->src.props_to_json(m->src.ctx, message_props(msg)) : NULL;
        json_array_append_new(
            items, json_pack("{s:I, s:b, s:o, s:o, s:I, s:o, s:o, s:s}",
                             "payload_bytes", (json_int_t)body_b.len,
                             "redelivered", (es[n].flags & QUEUE_ENTRY_REDELIVERED) != 0,
                             "exchange", mgmt_json_name((const char *)ex.ptr, ex.len),
                             "routing_key", mgmt_json_name((const char *)rk.ptr, rk.len),
                             "message_count", (json_int_t)left,
                             "properties", props ? props : json_object(),
                             "payload", payload,
                             "payload_encoding", penc));
    }
    /* settle after taking them all, so requeued ones are not taken again */
    for (size_t i = 0; i < n; i++) {
        if (mode == 1)
            queue_ack(q, &es[i]);
        else if (mode == 3)
            queue_reject_drop(q, &es[i]);
        else
            queue_requeue(q, &es[i]);
    }
    mgmt_reply_json(o, items);
    items = NULL;
out:
    free(es);
    json_decref(items);
    json_decref(body);
}

/* The user's permission perm on queue name (answers 401 itself). */
static bool queue_access(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                         struct vhost *vh, const char *name, enum access_perm perm)
{
    struct broker_err err;
    return mgmt_access_ok(o, access_check(m->broker, r->user, vhost_name(vh), perm, ACCESS_QUEUE,
                                          bytes_from_cstr(name), &err), &err);
}

struct find_one {
    const char *name;
    struct queue *q;
};

static bool find_one(void *arg, struct queue *q)
{
    struct find_one *f = arg;
    if (strcmp(queue_name(q), f->name) != 0)
        return true;
    f->q = q;
    return false;
}

void api_queues(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    bool read = r->method == MGMT_GET || r->method == MGMT_HEAD;
    if (r->nseg <= 2) {
        if (!read) {
            mgmt_reply_status(o, 405);
            return;
        }
        struct collect c = {m, json_array()};
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
    if (r->nseg > 4) {
        mgmt_not_found(o);
        return;
    }
    struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
    if (!vh)
        return;
    const char *name = r->seg[2];
    const char *sub = r->nseg == 4 ? r->seg[3] : NULL;
    if (sub && strcmp(sub, "contents") != 0 && strcmp(sub, "get") != 0 &&
        strcmp(sub, "bindings") != 0 && strcmp(sub, "actions") != 0) {
        mgmt_not_found(o);
        return;
    }
    struct broker_err err;
    struct queue *q = queue_lookup(vh, bytes_from_cstr(name), NULL, &err);
    if (!q && err.code == BROKER_RESOURCE_LOCKED) {
        /* exclusive to a connection: the API acts as its owner (RabbitMQ) */
        struct find_one one = {name, NULL};
        vhost_foreach_queue(vh, find_one, &one);
        q = one.q;
    }
    const void *owner = NULL;
    if (q) {
        struct queue_info qi;
        queue_get_info(q, &qi);
        owner = qi.owner;
    }
    if (!sub) {
        if (read) {
            q ? mgmt_reply_json(o, queue_json(m, q)) : mgmt_not_found(o);
        } else if (r->method == MGMT_PUT) {
            queue_put(r, o, vh, name);
        } else if (r->method == MGMT_DELETE) {
            if (!q) {
                mgmt_not_found(o);
                return;
            }
            if (!queue_access(m, r, o, vh, name, ACCESS_CONFIGURE))
                return;
            if (queue_delete(vh, bytes_from_cstr(name), owner, query_true(r, "if-unused"),
                             query_true(r, "if-empty"), NULL, &err) != EDAD_OK)
                mgmt_broker_error(o, &err);
            else
                mgmt_reply_status(o, 204);
        } else {
            mgmt_reply_status(o, 405);
        }
        return;
    }
    if (!q) {
        mgmt_not_found(o);
        return;
    }
    if (strcmp(sub, "contents") == 0) {
        if (r->method != MGMT_DELETE) {
            mgmt_reply_status(o, 405);
            return;
        }
        if (!queue_access(m, r, o, vh, name, ACCESS_READ))
            return;
        if (queue_purge(vh, bytes_from_cstr(name), owner, NULL, &err) != EDAD_OK)
            mgmt_broker_error(o, &err);
        else
            mgmt_reply_status(o, 204);
    } else if (strcmp(sub, "get") == 0) {
        if (r->method != MGMT_POST) {
            mgmt_reply_status(o, 405);
            return;
        }
        if (queue_access(m, r, o, vh, name, ACCESS_READ))
            queue_get_messages(m, r, o, q);
    } else if (strcmp(sub, "bindings") == 0) {
        if (!read) {
            mgmt_reply_status(o, 405);
            return;
        }
        mgmt_reply_list(r, o, mgmt_bindings_for_queue(vh, name));
    } else {
        /* actions (sync / cancel_sync) concern mirrored queues: nothing to do */
        r->method == MGMT_POST ? mgmt_reply_status(o, 204) : mgmt_reply_status(o, 405);
    }
}
