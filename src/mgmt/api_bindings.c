/*
 * api_bindings.c - /api/bindings[/{vhost}[/e/{source}/{q|e}/{destination}
 * [/{props}]]]: list, create (POST, 201 with a Location) and delete
 * bindings through queue_bind / exchange_bind and their unbind calls.
 * The default exchange's implicit bindings are listed as RabbitMQ does.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

static json_t *binding_json(const char *vhost, const char *source, const char *dest,
                            bool dest_is_queue, struct edad_bytes rk,
                            const struct broker_table *args)
{
    char *pk = mgmt_binding_props_key(rk, args);
    json_t *j = json_object();
    json_object_set_new(j, "source", json_string(source));
    json_object_set_new(j, "vhost", json_string(vhost));
    json_object_set_new(j, "destination", json_string(dest));
    json_object_set_new(j, "destination_type", json_string(dest_is_queue ? "queue" : "exchange"));
    json_object_set_new(j, "routing_key", mgmt_json_name((const char *)rk.ptr, rk.len));
    json_object_set_new(j, "arguments", mgmt_table_to_json(args));
    json_object_set_new(j, "properties_key", json_string(pk));
    free(pk);
    return j;
}

/* What to collect: everything, or filtered by source / destination. */
struct bind_filter {
    struct vhost *vh;
    json_t *items;
    const char *source;          /* NULL: any */
    const char *dest;            /* NULL: any */
    int dest_is_queue;           /* -1 any, 0 exchange, 1 queue */
};

static bool filter_dest(const struct bind_filter *f, const char *dest, bool is_queue)
{
    if (f->dest && strcmp(f->dest, dest) != 0)
        return false;
    return f->dest_is_queue < 0 || f->dest_is_queue == (int)is_queue;
}

static bool collect_binding(void *arg, const struct binding_info *bi)
{
    struct bind_filter *f = arg;
    if (filter_dest(f, bi->destination, bi->destination_is_queue))
        json_array_append_new(f->items,
                              binding_json(vhost_name(f->vh), bi->source, bi->destination,
                                           bi->destination_is_queue, bi->routing_key,
                                           bi->args));
    return true;
}

static bool collect_exchange(void *arg, struct exchange *x)
{
    struct bind_filter *f = arg;
    struct exchange_info xi;
    exchange_get_info(x, &xi);
    if (f->source && (strlen(f->source) != xi.name_len ||
                      memcmp(f->source, xi.name, xi.name_len) != 0))
        return true;
    exchange_foreach_binding(x, collect_binding, f);
    return true;
}

/* The default exchange binds every queue by its name. */
static bool collect_default(void *arg, struct queue *q)
{
    struct bind_filter *f = arg;
    const char *qn = queue_name(q);
    if (filter_dest(f, qn, true)) {
        struct broker_table none = {0};
        json_array_append_new(f->items, binding_json(vhost_name(f->vh), "", qn, true,
                                                     bytes_from_cstr(qn), &none));
    }
    return true;
}

static void collect_vhost_f(struct bind_filter *f)
{
    if (!f->source || !*f->source)
        if (f->dest_is_queue != 0)
            vhost_foreach_queue(f->vh, collect_default, f);
    vhost_foreach_exchange(f->vh, collect_exchange, f);
}

static bool collect_vhost(void *arg, struct vhost *vh)
{
    struct bind_filter *f = arg;
    f->vh = vh;
    collect_vhost_f(f);
    return true;
}

json_t *mgmt_bindings_for_queue(struct vhost *vh, const char *queue)
{
    struct bind_filter f = {vh, json_array(), NULL, queue, 1};
    collect_vhost_f(&f);
    return f.items;
}

json_t *mgmt_bindings_for_exchange(struct vhost *vh, struct exchange *x, bool as_source)
{
    struct exchange_info xi;
    exchange_get_info(x, &xi);
    char *name = xmalloc(xi.name_len + 1);
    memcpy(name, xi.name, xi.name_len);
    name[xi.name_len] = '\0';
    struct bind_filter f = {vh, json_array(), as_source ? name : NULL,
                            as_source ? NULL : name, as_source ? -1 : 0};
    collect_vhost_f(&f);
    free(name);
    return f.items;
}

/* %-decode a properties_key the way paths are decoded (for comparison). */
static void pk_decode(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

static void binding_create(struct mgmt_req *r, struct mgmt_resp *o, struct vhost *vh,
                           const char *src, bool to_queue, const char *dst)
{
    json_t *body = mgmt_body_object(r, o);
    if (!body)
        return;
    struct broker_table args;
    char why[256];
    json_t *jrk = json_object_get(body, "routing_key");
    const char *rk = json_is_string(jrk) ? json_string_value(jrk) : "";
    if (!mgmt_table_from_json(json_object_get(body, "arguments"), &r->arena, &args, why,
                              sizeof(why))) {
        mgmt_bad_request(o, why);
        goto out;
    }
    struct broker_err err;
    if (!mgmt_access_ok(o, access_check_bind(vh, r->user, to_queue, bytes_from_cstr(dst),
                                             bytes_from_cstr(src), &err), &err))
        goto out;
    edad_status st = to_queue
        ? queue_bind(vh, bytes_from_cstr(dst), bytes_from_cstr(src), bytes_from_cstr(rk), &args,
                     NULL, &err)
        : exchange_bind(vh, bytes_from_cstr(dst), bytes_from_cstr(src), bytes_from_cstr(rk),
                        &args, &err);
    if (st != EDAD_OK) {
        mgmt_broker_error(o, &err);
        goto out;
    }
    char *pk = mgmt_binding_props_key(bytes_from_cstr(rk), &args);
    snprintf(o->location, sizeof(o->location), "%s/%s", r->raw_path, pk);
    free(pk);
    mgmt_reply_status(o, 201);
out:
    json_decref(body);
}

static void binding_delete(struct mgmt_req *r, struct mgmt_resp *o, struct vhost *vh,
                           json_t *b, const char *src, bool to_queue, const char *dst)
{
    struct broker_table args;
    char why[256];
    const char *rk = json_string_value(json_object_get(b, "routing_key"));
    struct broker_err err;
    if (!mgmt_access_ok(o, access_check_bind(vh, r->user, to_queue, bytes_from_cstr(dst),
                                             bytes_from_cstr(src), &err), &err))
        return;
    if (!mgmt_table_from_json(json_object_get(b, "arguments"), &r->arena, &args, why,
                              sizeof(why))) {
        mgmt_bad_request(o, why);
        return;
    }
    edad_status st = to_queue
        ? queue_unbind(vh, bytes_from_cstr(dst), bytes_from_cstr(src),
                       bytes_from_cstr(rk ? rk : ""), &args, NULL, &err)
        : exchange_unbind(vh, bytes_from_cstr(dst), bytes_from_cstr(src),
                          bytes_from_cstr(rk ? rk : ""), &args, &err);
    if (st != EDAD_OK)
        mgmt_broker_error(o, &err);
    else
        mgmt_reply_status(o, 204);
}

/* The binding src -> dst with properties key pk, or NULL (json borrowed from items). */
static json_t *binding_find(json_t *items, const char *pk)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        char *k = xstrdup(json_string_value(json_object_get(it, "properties_key")));
        pk_decode(k);
        bool eq = strcmp(k, pk) == 0;
        free(k);
        if (eq)
            return it;
    }
    return NULL;
}

void api_bindings(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    bool read = r->method == MGMT_GET || r->method == MGMT_HEAD;
    if (r->nseg <= 2) {
        if (!read) {
            mgmt_reply_status(o, 405);
            return;
        }
        struct bind_filter f = {NULL, json_array(), NULL, NULL, -1};
        if (r->nseg == 2) {
            f.vh = mgmt_require_vhost(m, r, o, r->seg[1]);
            if (!f.vh) {
                json_decref(f.items);
                return;
            }
            collect_vhost_f(&f);
        } else {
            mgmt_foreach_vhost(m->broker, collect_vhost, &f);
        }
        mgmt_reply_list(r, o, f.items);
        return;
    }
    /* /api/bindings/{vhost}/e/{src}/{q|e}/{dst}[/{props}] */
    if (r->nseg < 6 || r->nseg > 7 || strcmp(r->seg[2], "e") != 0 ||
        (strcmp(r->seg[4], "q") != 0 && strcmp(r->seg[4], "e") != 0)) {
        mgmt_not_found(o);
        return;
    }
    struct vhost *vh = mgmt_require_vhost(m, r, o, r->seg[1]);
    if (!vh)
        return;
    const char *src = strcmp(r->seg[3], "amq.default") == 0 ? "" : r->seg[3];
    bool to_queue = r->seg[4][0] == 'q';
    const char *dst = r->seg[5];
    if (!exchange_find(vh, bytes_from_cstr(src))) {
        mgmt_not_found(o);
        return;
    }
    if (!to_queue && !exchange_find(vh, bytes_from_cstr(dst))) {
        mgmt_not_found(o);
        return;
    }
    struct bind_filter f = {vh, json_array(), src, dst, to_queue};
    collect_vhost_f(&f);
    if (r->nseg == 6) {
        if (read)
            mgmt_reply_list(r, o, f.items);
        else if (r->method == MGMT_POST) {
            json_decref(f.items);
            binding_create(r, o, vh, src, to_queue, dst);
        } else {
            json_decref(f.items);
            mgmt_reply_status(o, 405);
        }
        return;
    }
    json_t *b = binding_find(f.items, r->seg[6]);
    if (!b) {
        json_decref(f.items);
        mgmt_not_found(o);
        return;
    }
    if (read) {
        mgmt_reply_json(o, json_incref(b));
    } else if (r->method == MGMT_DELETE) {
        binding_delete(r, o, vh, b, src, to_queue, dst);
    } else {
        mgmt_reply_status(o, 405);
    }
    json_decref(f.items);
}
