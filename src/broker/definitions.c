/*
 * definitions.c - the broker's durable definitions as RabbitMQ's
 * definitions JSON (vhosts, exchanges, queues, bindings): exported for the
 * store's definitions file and `edad --export-definitions`), imported at
 * start and from load_definitions, with the users, permissions and vhost
 * limits of access.c.  Sections edad has no use for (policies, other
 * parameters) are skipped with a log line.  Files are only read here
 * (broker_definitions_load_file); the store writes them.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"

#include "broker_int.h"
#include "edad/access.h"
#include "exchange_int.h"
#include "queue_int.h"

/* ---- broker tables <-> JSON ------------------------------------------------------ */

static json_t *value_to_json(const struct broker_value *v);

static json_t *table_to_json(const struct broker_table *t)
{
    json_t *o = json_object();
    for (uint32_t i = 0; t && i < t->count; i++) {
        const struct broker_arg *a = &t->entries[i];
        char key[256];
        size_t n = a->key.len < sizeof(key) - 1 ? a->key.len : sizeof(key) - 1;
        memcpy(key, a->key.ptr, n);
        key[n] = '\0';
        json_t *jv = value_to_json(&a->value);
        if (jv)
            json_object_set_new(o, key, jv);
    }
    return o;
}

/* RabbitMQ's export keeps values, not AMQP types: integers, floats,
 * strings, booleans, lists and objects.  NULL for what JSON cannot hold
 * (a string that is not UTF-8): the argument is left out. */
static json_t *value_to_json(const struct broker_value *v)
{
    switch (v->kind) {
    case BROKER_V_BOOL:
        return json_boolean(v->v.b);
    case BROKER_V_U64:
        return json_integer(v->v.u > INT64_MAX ? INT64_MAX : (json_int_t)v->v.u);
    case BROKER_V_FLOAT:
    case BROKER_V_DOUBLE:
        return json_real(v->v.d);
    case BROKER_V_DECIMAL: {
        double d = v->v.dec.value;
        for (uint8_t i = 0; i < v->v.dec.scale; i++)
            d /= 10;
        return json_real(d);
    }
    case BROKER_V_STRING:
    case BROKER_V_BYTES:
        /* an empty string may have no pointer: jansson would refuse NULL */
        return json_stringn(v->v.str.len ? (const char *)v->v.str.ptr : "", v->v.str.len);
    case BROKER_V_TABLE:
        return table_to_json(&v->v.table);
    case BROKER_V_ARRAY: {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < v->v.array.count; i++) {
            json_t *e = value_to_json(&v->v.array.values[i]);
            if (e)
                json_array_append_new(arr, e);
        }
        return arr;
    }
    case BROKER_V_VOID:
        return json_null();
    default:
        return json_integer((json_int_t)v->v.i);
    }
}

static bool json_to_table(const json_t *o, struct arena *a, struct broker_table *out);

static bool json_to_value(const json_t *j, struct arena *a, struct broker_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = BROKER_V_BOOL;
        v->v.b = json_is_true(j);
        return true;
    case JSON_INTEGER:
        v->kind = BROKER_V_I64;
        v->v.i = json_integer_value(j);
        return true;
    case JSON_REAL:
        v->kind = BROKER_V_DOUBLE;
        v->v.d = json_real_value(j);
        return true;
    case JSON_STRING:
        v->kind = BROKER_V_STRING;
        v->v.str = (struct edad_bytes){(const uint8_t *)json_string_value(j),
                                       json_string_length(j)};
        return true;
    case JSON_NULL:
        v->kind = BROKER_V_VOID;
        return true;
    case JSON_OBJECT:
        v->kind = BROKER_V_TABLE;
        return json_to_table(j, a, &v->v.table);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        struct broker_value *vals = n ? arena_alloc(a, sizeof(*vals) * n) : NULL;
        if (n && !vals)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_to_value(json_array_get(j, i), a, &vals[i]))
                return false;
        v->kind = BROKER_V_ARRAY;
        v->v.array.count = (uint32_t)n;
        v->v.array.values = vals;
        return true;
    }
    }
    return false;
}

static bool json_to_table(const json_t *o, struct arena *a, struct broker_table *out)
{
    memset(out, 0, sizeof(*out));
    if (!o || !json_is_object(o))
        return o == NULL || json_is_null(o);
    size_t n = json_object_size(o);
    struct broker_arg *args = n ? arena_alloc(a, sizeof(*args) * n) : NULL;
    if (n && !args)
        return false;
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)o, key, val) {
        args[k].key = bytes_from_cstr(key);
        if (!json_to_value(val, a, &args[k].value))
            return false;
        k++;
    }
    out->count = (uint32_t)k;
    out->entries = args;
    return true;
}

/* ---- export --------------------------------------------------------------------------- */

static bool name_is_predeclared(const char *name, size_t len)
{
    return len == 0 || (len >= 4 && memcmp(name, "amq.", 4) == 0);
}

static bool queue_is_exported(const struct queue *q)
{
    return q->durable && !q->exclusive && !q->deleted;
}

struct export_ctx {
    struct vhost *vh;
    json_t *exchanges, *queues, *bindings;
};

static bool export_binding(void *arg, const struct binding_info *bi)
{
    struct export_ctx *x = arg;
    struct edad_bytes dname = bytes_from_cstr(bi->destination);
    if (bi->destination_is_queue) {
        struct queue *q = queue_find(x->vh, dname);
        if (!q || !queue_is_exported(q))
            return true;
    } else {
        struct exchange *d = exchange_find(x->vh, dname);
        struct exchange_info di;
        if (!d)
            return true;
        exchange_get_info(d, &di);
        if (!di.durable)
            return true;
    }
    json_t *rk = json_stringn((const char *)bi->routing_key.ptr, bi->routing_key.len);
    if (!rk)
        return true;
    json_array_append_new(x->bindings,
                          json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "source", bi->source,
                                    "vhost", vhost_name(x->vh), "destination", bi->destination,
                                    "destination_type", bi->destination_is_queue ? "queue" : "exchange",
                                    "routing_key", rk, "arguments", table_to_json(bi->args)));
    return true;
}

static bool export_exchange(void *arg, struct exchange *ex)
{
    struct export_ctx *x = arg;
    struct exchange_info info;
    exchange_get_info(ex, &info);
    if (!info.durable)
        return true;
    /* bindings from the predeclared durable exchanges are user data */
    exchange_foreach_binding(ex, export_binding, x);
    if (name_is_predeclared(info.name, info.name_len))
        return true;
    json_t *name = json_stringn(info.name, info.name_len);
    if (!name)
        return true;
    json_array_append_new(x->exchanges,
                          json_pack("{s:o, s:s, s:s, s:b, s:b, s:b, s:o}", "name", name, "vhost",
                                    vhost_name(x->vh), "type", info.type, "durable", 1,
                                    "auto_delete", info.auto_delete, "internal", info.internal,
                                    "arguments", table_to_json(info.args)));
    return true;
}

static bool export_queue(void *arg, struct queue *q)
{
    struct export_ctx *x = arg;
    if (!queue_is_exported(q))
        return true;
    json_t *name = json_stringn(q->name, q->name_len);
    if (!name)
        return true;
    json_array_append_new(x->queues,
                          json_pack("{s:o, s:s, s:b, s:b, s:o}", "name", name, "vhost",
                                    vhost_name(x->vh), "durable", 1, "auto_delete",
                                    q->auto_delete, "arguments", table_to_json(q->args)));
    return true;
}

static bool export_user(void *arg, const struct access_user_info *u)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < u->ntags; i++)
        json_array_append_new(tags, json_string(u->tags[i]));
    json_t *name = json_string(u->name), *hash = json_string(u->password_hash);
    if (name && hash)
        json_array_append_new(arg, json_pack("{s:o, s:o, s:s, s:o, s:{}}", "name", name,
                                             "password_hash", hash, "hashing_algorithm",
                                             u->hashing_algorithm, "tags", tags, "limits"));
    else {
        json_decref(name);
        json_decref(hash);
        json_decref(tags);
    }
    return true;
}

static bool export_permission(void *arg, const struct access_perm_info *p)
{
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "user", p->user, "vhost", p->vhost,
                          "configure", p->configure, "write", p->write, "read", p->read);
    if (o)
        json_array_append_new(arg, o);
    return true;
}

/* RabbitMQ 3.10 exports vhost limits as parameters of component vhost-limits. */
static void export_limits(struct broker *b, struct vhost *vh, json_t *params)
{
    struct access_limits l;
    access_vhost_limits_get(b, vhost_name(vh), &l);
    if (l.max_connections < 0 && l.max_queues < 0)
        return;
    json_t *value = json_object();
    if (l.max_connections >= 0)
        json_object_set_new(value, "max-connections", json_integer(l.max_connections));
    if (l.max_queues >= 0)
        json_object_set_new(value, "max-queues", json_integer(l.max_queues));
    json_array_append_new(params, json_pack("{s:o, s:s, s:s, s:s}", "value", value, "vhost",
                                            vhost_name(vh), "component", "vhost-limits",
                                            "name", "limits"));
}

/* ---- a stable order: vhosts, exchanges and queues by name ---------------------------------- */

struct ptr_list {
    void **v;
    size_t n, cap;
};

static void ptr_push(struct ptr_list *l, void *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, sizeof(*l->v) * l->cap);
    }
    l->v[l->n++] = p;
}

static bool collect_exchange(void *arg, struct exchange *x)
{
    ptr_push(arg, x);
    return true;
}

static bool collect_queue(void *arg, struct queue *q)
{
    ptr_push(arg, queue_ref(q));
    return true;
}

static int vhost_cmp(const void *a, const void *b)
{
    return strcmp((*(struct vhost *const *)a)->name, (*(struct vhost *const *)b)->name);
}

static int queue_cmp(const void *a, const void *b)
{
    return strcmp(queue_name(*(struct queue *const *)a), queue_name(*(struct queue *const *)b));
}

static int exchange_cmp(const void *a, const void *b)
{
    struct exchange_info x, y;
    exchange_get_info(*(struct exchange *const *)a, &x);
    exchange_get_info(*(struct exchange *const *)b, &y);
    size_t n = x.name_len < y.name_len ? x.name_len : y.name_len;
    int c = memcmp(x.name, y.name, n);
    return c ? c : (x.name_len > y.name_len) - (x.name_len < y.name_len);
}

/* Exchanges (with their bindings) and queues of vh, each sorted by name. */
static void export_vhost(struct export_ctx *x)
{
    struct ptr_list l = {0};
    vhost_foreach_exchange(x->vh, collect_exchange, &l);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), exchange_cmp);
    for (size_t i = 0; i < l.n; i++)
        export_exchange(x, l.v[i]);
    l.n = 0;
    vhost_foreach_queue(x->vh, collect_queue, &l);
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), queue_cmp);
    for (size_t i = 0; i < l.n; i++) {
        struct queue *q = l.v[i];
        export_queue(x, q);
        queue_unref(&q);
    }
    free(l.v);
}

json_t *broker_definitions_export(struct broker *b)
{
    json_t *vhosts = json_array(), *exchanges = json_array(), *queues = json_array();
    json_t *bindings = json_array(), *users = json_array(), *perms = json_array();
    json_t *params = json_array();
    struct ptr_list vl = {0};
    for (uint32_t i = 0; i < hmap_capacity(&b->vhosts); i++)
        if (b->vhosts.slots[i].item)
            ptr_push(&vl, b->vhosts.slots[i].item);
    if (vl.n)
        qsort(vl.v, vl.n, sizeof(*vl.v), vhost_cmp);
    for (size_t i = 0; i < vl.n; i++) {
        struct vhost *vh = vl.v[i];
        json_array_append_new(vhosts, json_pack("{s:s}", "name", vhost_name(vh)));
        struct export_ctx x = {vh, exchanges, queues, bindings};
        export_vhost(&x);
        export_limits(b, vh, params);
    }
    free(vl.v);
    json_t *defs = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "edad_version",
                             PACKAGE_VERSION, "product_name", "edad", "product_version",
                             PACKAGE_VERSION, "vhosts", vhosts, "exchanges", exchanges, "queues",
                             queues, "bindings", bindings, "parameters", params);
    /* without a user store (never seeded) there is nothing to say about users */
    if (access_enabled(b)) {
        access_foreach_user(b, export_user, users);
        access_foreach_permission(b, export_permission, perms);
        json_object_set_new(defs, "users", users);
        json_object_set_new(defs, "permissions", perms);
        json_object_set_new(defs, "topic_permissions", json_array());
    } else {
        json_decref(users);
        json_decref(perms);
    }
    return defs;
}

/* ---- import ------------------------------------------------------------------------------ */

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static struct edad_bytes jbytes(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return (struct edad_bytes){(const uint8_t *)"", 0};
    return (struct edad_bytes){(const uint8_t *)json_string_value(v), json_string_length(v)};
}

static bool jbool(const json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

static struct vhost *import_vhost(struct broker *b, const json_t *o, struct import_report *r)
{
    const char *name = jstr(o, "vhost", NULL);
    struct vhost *vh = name ? broker_vhost_find(b, bytes_from_cstr(name)) : NULL;
    if (!vh)
        r->failed++;
    return vh;
}

static void import_failed(struct import_report *r, const char *what, const char *name,
                          const char *why)
{
    r->failed++;
    log_warning("definitions: cannot restore %s '%s': %s", what, name ? name : "?", why);
}

/* A limit value: a non-negative integer, else no limit (-1). */
static int64_t limit_value(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

/*
 * Vhost limits as an object {"max-connections": N, ...} (a parameter's
 * value) or as the list [["max-connections", N], ...] RabbitMQ 3.10 also
 * puts in its vhost entries.  Anything else is ignored.
 */
static void import_vhost_limits(struct broker *b, const char *vhost, const json_t *lim)
{
    struct access_limits l = {-1, -1};
    bool any = false;
    if (json_is_object(lim)) {
        const json_t *c = json_object_get(lim, "max-connections");
        const json_t *q = json_object_get(lim, "max-queues");
        l.max_connections = limit_value(c);
        l.max_queues = limit_value(q);
        any = c || q;
    } else if (json_is_array(lim)) {
        size_t i;
        const json_t *pair;
        json_array_foreach(lim, i, pair) {
            const char *k = json_string_value(json_array_get(pair, 0));
            if (k && strcmp(k, "max-connections") == 0)
                l.max_connections = limit_value(json_array_get(pair, 1));
            else if (k && strcmp(k, "max-queues") == 0)
                l.max_queues = limit_value(json_array_get(pair, 1));
            else
                continue;
            any = true;
        }
    }
    if (any)
        access_vhost_limits_set(b, vhost, &l);
}

/* "tags": ["a", "b"] (3.9+) or "a,b" (older exports) as "a,b". */
static char *tags_csv(const json_t *tags)
{
    if (json_is_string(tags))
        return xstrdup(json_string_value(tags));
    size_t len = 1;
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
        if (json_is_string(t))
            len += json_string_length(t) + 1;
    char *out = xcalloc(1, len);
    json_array_foreach(tags, i, t) {
        if (!json_is_string(t))
            continue;
        if (*out)
            strcat(out, ",");
        strcat(out, json_string_value(t));
    }
    return out;
}

static const char *const known_sections[] = {
    "rabbit_version", "rabbitmq_version", "product_name", "product_version", "edad_version",
    "users", "vhosts", "permissions", "parameters", "queues", "exchanges", "bindings",
};

/* Users, permissions and the vhost-limits parameters; other sections logged. */
static void import_access(struct broker *b, const json_t *defs, struct import_report *r)
{
    struct broker_err err;
    size_t i;
    json_t *o;
    const json_t *users = json_object_get(defs, "users");
    /* a users section, even an empty one, means a node with a user store */
    if (json_is_array(users))
        access_enable(b);
    json_array_foreach(users, i, o) {
        const char *name = jstr(o, "name", NULL);
        char *tags = tags_csv(json_object_get(o, "tags"));
        struct access_user_spec spec = {
            .password = jstr(o, "password", NULL),
            .password_hash = jstr(o, "password_hash", ""),
            .hashing_algorithm = jstr(o, "hashing_algorithm", NULL),
            .tags = tags,
        };
        if (access_user_put(b, name, &spec, &err) != EDAD_OK)
            import_failed(r, "user", name, err.text);
        else
            r->users++;
        free(tags);
    }
    json_array_foreach(json_object_get(defs, "permissions"), i, o) {
        const char *user = jstr(o, "user", ""), *vhost = jstr(o, "vhost", "");
        if (access_permission_set(b, user, vhost, jstr(o, "configure", ""),
                                  jstr(o, "write", ""), jstr(o, "read", ""), &err) != EDAD_OK)
            import_failed(r, "permissions of user", user, err.text);
        else
            r->permissions++;
    }
    unsigned skipped = 0;
    json_array_foreach(json_object_get(defs, "parameters"), i, o) {
        const char *vhost = jstr(o, "vhost", NULL);
        if (strcmp(jstr(o, "component", ""), "vhost-limits") != 0 || !vhost) {
            skipped++;
            continue;
        }
        if (!broker_vhost_find(b, bytes_from_cstr(vhost)))
            import_failed(r, "limits of vhost", vhost, "no such vhost");
        else
            import_vhost_limits(b, vhost, json_object_get(o, "value"));
    }
    if (skipped)
        log_info("definitions: %u runtime parameters skipped (edad implements only "
                 "vhost-limits)", skipped);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)defs, key, v) {
        bool known = false;
        for (size_t k = 0; k < EDAD_ARRAY_LEN(known_sections) && !known; k++)
            known = strcmp(key, known_sections[k]) == 0;
        if (!known && !(json_is_array(v) && json_array_size(v) == 0))
            log_info("definitions: section '%s' ignored (not supported by edad)", key);
    }
}

void broker_definitions_import(struct broker *b, const json_t *defs, struct import_report *r)
{
    memset(r, 0, sizeof(*r));
    struct arena a;
    arena_init(&a, 0);
    struct broker_err err;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(defs, "vhosts"), i, o) {
        const char *name = jstr(o, "name", NULL);
        if (name) {
            access_vhost_add(b, name);
            r->vhosts++;
            import_vhost_limits(b, name, json_object_get(o, "limits"));
        }
    }
    import_access(b, defs, r);
    json_array_foreach(json_object_get(defs, "exchanges"), i, o) {
        struct vhost *vh = import_vhost(b, o, r);
        struct broker_table args;
        if (!vh)
            continue;
        if (!json_to_table(json_object_get(o, "arguments"), &a, &args)) {
            import_failed(r, "exchange", jstr(o, "name", NULL), "bad arguments");
            continue;
        }
        struct exchange_declare d = {
            .name = jbytes(o, "name"), .type = jbytes(o, "type"), .durable = true,
            .auto_delete = jbool(o, "auto_delete"), .internal = jbool(o, "internal"),
            .args = &args,
        };
        if (exchange_declare(vh, &d, &err) != EDAD_OK)
            import_failed(r, "exchange", jstr(o, "name", NULL), err.text);
        else
            r->exchanges++;
        arena_reset(&a);
    }
    json_array_foreach(json_object_get(defs, "queues"), i, o) {
        struct vhost *vh = import_vhost(b, o, r);
        struct broker_table args;
        if (!vh)
            continue;
        if (!json_to_table(json_object_get(o, "arguments"), &a, &args)) {
            import_failed(r, "queue", jstr(o, "name", NULL), "bad arguments");
            continue;
        }
        struct queue_declare d = {
            .name = jbytes(o, "name"), .durable = true, .auto_delete = jbool(o, "auto_delete"),
            .args = &args,
        };
        if (d.name.len == 0 || queue_declare(vh, &d, NULL, &err) != EDAD_OK)
            import_failed(r, "queue", jstr(o, "name", NULL), d.name.len ? err.text : "no name");
        else
            r->queues++;
        arena_reset(&a);
    }
    json_array_foreach(json_object_get(defs, "bindings"), i, o) {
        struct vhost *vh = import_vhost(b, o, r);
        struct broker_table args;
        if (!vh)
            continue;
        if (!json_to_table(json_object_get(o, "arguments"), &a, &args)) {
            import_failed(r, "binding from", jstr(o, "source", NULL), "bad arguments");
            continue;
        }
        edad_status st;
        const char *dt = jstr(o, "destination_type", "queue");
        if (strcmp(dt, "exchange") == 0)
            st = exchange_bind(vh, jbytes(o, "destination"), jbytes(o, "source"),
                               jbytes(o, "routing_key"), &args, &err);
        else
            st = queue_bind(vh, jbytes(o, "destination"), jbytes(o, "source"),
                            jbytes(o, "routing_key"), &args, NULL, &err);
        if (st != EDAD_OK)
            import_failed(r, "binding from", jstr(o, "source", NULL), err.text);
        else
            r->bindings++;
        arena_reset(&a);
    }
    arena_free(&a);
}

/* ---- files ---------------------------------------------------------------------------------- */

edad_status broker_definitions_load_file(struct broker *b, const char *path,
                                         struct import_report *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *defs = json_load_file(path, 0, &je);
    if (!defs) {
        snprintf(err, errlen, "cannot load definitions from %s: line %d: %s", path, je.line,
                 je.text);
        return EDAD_ERR_INVALID;
    }
    if (!json_is_object(defs)) {
        snprintf(err, errlen, "cannot load definitions from %s: not a JSON object", path);
        json_decref(defs);
        return EDAD_ERR_INVALID;
    }
    broker_definitions_import(b, defs, r);
    json_decref(defs);
    log_info("definitions: imported %s: %u users, %u vhosts, %u permissions, %u exchanges, "
             "%u queues, %u bindings (%u failed)", path, r->users, r->vhosts, r->permissions,
             r->exchanges, r->queues, r->bindings, r->failed);
    return EDAD_OK;
}
