/*
 * definitions.c - the broker's durable definitions as RabbitMQ's
 * definitions JSON (vhosts, exchanges, queues, bindings): exported for the
 * store's definitions file (and issue 7's export), imported at start.
 * Not here: files (the store writes them), users and permissions (later).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"

#include "broker_int.h"
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
        return json_stringn((const char *)v->v.str.ptr, v->v.str.len);
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

json_t *broker_definitions_export(struct broker *b)
{
    json_t *vhosts = json_array(), *exchanges = json_array(), *queues = json_array();
    json_t *bindings = json_array();
    for (uint32_t i = 0; i < hmap_capacity(&b->vhosts); i++) {
        struct vhost *vh = b->vhosts.slots[i].item;
        if (!vh)
            continue;
        json_array_append_new(vhosts, json_pack("{s:s}", "name", vhost_name(vh)));
        struct export_ctx x = {vh, exchanges, queues, bindings};
        vhost_foreach_exchange(vh, export_exchange, &x);
        vhost_foreach_queue(vh, export_queue, &x);
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:o}", "edad_version", PACKAGE_VERSION, "vhosts",
                     vhosts, "exchanges", exchanges, "queues", queues, "bindings", bindings);
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
            broker_vhost_add(b, name);
            r->vhosts++;
        }
    }
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
