/*
 * api_users.c - the administrator's resources of the management API:
 * /api/users[/{name}[/permissions]], /api/permissions[/{vhost}/{user}],
 * PUT / DELETE /api/vhosts/{name}, /api/vhosts/{name}/permissions and
 * /api/definitions (GET export, POST import), on the broker's user store
 * (access.h) with RabbitMQ's field names and status codes.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

static bool api_read(const struct mgmt_req *r)
{
    return r->method == MGMT_GET || r->method == MGMT_HEAD;
}

/* ---- users ------------------------------------------------------------------------ */

static json_t *user_json(const struct access_user_info *u)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < u->ntags; i++)
        json_array_append_new(tags, json_string(u->tags[i]));
    return json_pack("{s:s, s:s, s:s, s:o, s:{}}", "name", u->name, "password_hash",
                     u->password_hash, "hashing_algorithm", u->hashing_algorithm, "tags", tags,
                     "limits");
}

static bool user_collect(void *arg, const struct access_user_info *u)
{
    json_array_append_new(arg, user_json(u));
    return true;
}

static json_t *perm_json(const struct access_perm_info *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", p->user, "vhost", p->vhost,
                     "configure", p->configure, "write", p->write, "read", p->read);
}

struct perm_filter {
    const char *user, *vhost;    /* NULL: any */
    json_t *items;
};

static bool perm_collect(void *arg, const struct access_perm_info *p)
{
    struct perm_filter *f = arg;
    if ((!f->user || strcmp(f->user, p->user) == 0) &&
        (!f->vhost || strcmp(f->vhost, p->vhost) == 0))
        json_array_append_new(f->items, perm_json(p));
    return true;
}

json_t *mgmt_permissions_list(struct broker *b, const char *user, const char *vhost)
{
    struct perm_filter f = {user, vhost, json_array()};
    access_foreach_permission(b, perm_collect, &f);
    return f.items;
}

/* "tags": "a,b" or ["a", "b"] into a comma-separated string (heap). */
static char *tags_string(json_t *t)
{
    if (json_is_string(t))
        return xstrdup(json_string_value(t));
    if (!json_is_array(t))
        return NULL;
    size_t cap = 1;
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v)
        cap += json_string_length(v) + 1;
    char *s = xcalloc(1, cap);
    json_array_foreach(t, i, v) {
        if (!json_is_string(v))
            continue;
        if (*s)
            strcat(s, ",");
        strcat(s, json_string_value(v));
    }
    return s;
}

static void user_put(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o, const char *name)
{
    json_t *body = mgmt_body_object(r, o);
    if (!body)
        return;
    char *tags = tags_string(json_object_get(body, "tags"));
    struct access_user_info ui;
    bool existed = access_user_get(m->broker, name, &ui);
    struct access_user_spec spec = {
        .password = json_string_value(json_object_get(body, "password")),
        .password_hash = json_string_value(json_object_get(body, "password_hash")),
        .hashing_algorithm = json_string_value(json_object_get(body, "hashing_algorithm")),
        .tags = tags ? tags : (existed ? NULL : ""),
    };
    struct broker_err err;
    if (access_user_put(m->broker, name, &spec, &err) != EDAD_OK)
        mgmt_broker_error(o, &err);
    else
        mgmt_reply_status(o, existed ? 204 : 201);
    free(tags);
    json_decref(body);
}

void api_users(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (!mgmt_require_tag(r, o, MGMT_TAG_ADMINISTRATOR))
        return;
    if (r->nseg == 1) {
        if (!api_read(r)) {
            mgmt_reply_status(o, 405);
            return;
        }
        json_t *a = json_array();
        access_foreach_user(m->broker, user_collect, a);
        mgmt_reply_list(r, o, a);
        return;
    }
    const char *name = r->seg[1];
    struct access_user_info ui;
    bool exists = access_user_get(m->broker, name, &ui);
    if (r->nseg == 3 && strcmp(r->seg[2], "permissions") == 0) {
        if (!exists) {
            mgmt_not_found(o);
            return;
        }
        api_read(r) ? mgmt_reply_list(r, o, mgmt_permissions_list(m->broker, name, NULL))
                    : mgmt_reply_status(o, 405);
        return;
    }
    if (r->nseg != 2) {
        mgmt_not_found(o);
        return;
    }
    if (api_read(r)) {
        exists ? mgmt_reply_json(o, user_json(&ui)) : mgmt_not_found(o);
    } else if (r->method == MGMT_PUT) {
        user_put(m, r, o, name);
    } else if (r->method == MGMT_DELETE) {
        access_user_delete(m->broker, name) == EDAD_OK ? mgmt_reply_status(o, 204)
                                                        : mgmt_not_found(o);
    } else {
        mgmt_reply_status(o, 405);
    }
}

/* ---- permissions -------------------------------------------------------------------- */

void api_permissions(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (!mgmt_require_tag(r, o, MGMT_TAG_ADMINISTRATOR))
        return;
    if (r->nseg == 1) {
        api_read(r) ? mgmt_reply_list(r, o, mgmt_permissions_list(m->broker, NULL, NULL))
                    : mgmt_reply_status(o, 405);
        return;
    }
    if (r->nseg != 3) {
        mgmt_not_found(o);
        return;
    }
    const char *vhost = r->seg[1], *user = r->seg[2];
    struct access_user_info ui;
    if (!broker_vhost_find(m->broker, bytes_from_cstr(vhost)) ||
        !access_user_get(m->broker, user, &ui)) {
        mgmt_not_found(o);
        return;
    }
    struct access_perm_info p;
    if (api_read(r)) {
        access_permission_get(m->broker, user, vhost, &p) ? mgmt_reply_json(o, perm_json(&p))
                                                          : mgmt_not_found(o);
    } else if (r->method == MGMT_PUT) {
        json_t *body = mgmt_body_object(r, o);
        if (!body)
            return;
        const char *c = json_string_value(json_object_get(body, "configure"));
        const char *w = json_string_value(json_object_get(body, "write"));
        const char *rd = json_string_value(json_object_get(body, "read"));
        if (!c || !w || !rd) {
            mgmt_bad_request(o, "configure, write and read are mandatory");
        } else {
            bool existed = access_permission_get(m->broker, user, vhost, &p);
            struct broker_err err;
            if (access_permission_set(m->broker, user, vhost, c, w, rd, &err) != EDAD_OK)
                mgmt_broker_error(o, &err);
            else
                mgmt_reply_status(o, existed ? 204 : 201);
        }
        json_decref(body);
    } else if (r->method == MGMT_DELETE) {
        access_permission_clear(m->broker, user, vhost) == EDAD_OK ? mgmt_reply_status(o, 204)
                                                                    : mgmt_not_found(o);
    } else {
        mgmt_reply_status(o, 405);
    }
}

/* ---- vhosts (write side) ----------------------------------------------------------------- */

void mgmt_vhost_write(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (!mgmt_require_tag(r, o, MGMT_TAG_ADMINISTRATOR))
        return;
    const char *name = r->seg[1];
    bool existed = broker_vhost_find(m->broker, bytes_from_cstr(name)) != NULL;
    if (r->method == MGMT_PUT) {
        json_t *body = mgmt_body_object(r, o);
        if (!body)
            return;
        json_decref(body);
        if (!*name || strlen(name) > 255) {
            mgmt_bad_request(o, "vhost names have 1 to 255 bytes");
            return;
        }
        access_vhost_add(m->broker, name);
        mgmt_reply_status(o, existed ? 204 : 201);
        return;
    }
    if (r->method != MGMT_DELETE) {
        mgmt_reply_status(o, 405);
        return;
    }
    if (!existed) {
        mgmt_not_found(o);
        return;
    }
    /* its connections go first, as RabbitMQ closes them */
    json_t *conns = m->src.connections ? m->src.connections(m->src.ctx) : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(conns, i, c) {
        const char *vh = json_string_value(json_object_get(c, "vhost"));
        const char *cn = json_string_value(json_object_get(c, "name"));
        if (vh && cn && strcmp(vh, name) == 0 && m->src.close_connection)
            m->src.close_connection(m->src.ctx, cn, "vhost deleted");
    }
    json_decref(conns);
    access_vhost_delete(m->broker, name) == EDAD_OK ? mgmt_reply_status(o, 204)
                                                     : mgmt_not_found(o);
}

/* ---- definitions ------------------------------------------------------------------------- */

void api_definitions(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (!mgmt_require_tag(r, o, MGMT_TAG_ADMINISTRATOR))
        return;
    if (r->nseg != 1) {
        mgmt_not_found(o);
        return;
    }
    if (api_read(r)) {
        json_t *defs = broker_definitions_export(m->broker);
        json_object_set_new(defs, "rabbit_version", json_string("3.12.0"));
        json_object_set_new(defs, "rabbitmq_version", json_string("3.12.0"));
        json_object_set_new(defs, "product_name", json_string("edad"));
        mgmt_reply_json(o, defs);
        return;
    }
    if (r->method != MGMT_POST) {
        mgmt_reply_status(o, 405);
        return;
    }
    json_t *defs = mgmt_body_object(r, o);
    if (!defs)
        return;
    struct import_report rep = {0};
    broker_definitions_import(m->broker, defs, &rep);
    json_decref(defs);
    if (rep.failed) {
        char why[128];
        snprintf(why, sizeof(why), "%u definitions could not be imported (see the log)",
                 rep.failed);
        mgmt_bad_request(o, why);
        return;
    }
    mgmt_reply_status(o, 204);
}
