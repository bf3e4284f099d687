/*
 * exchange.c - exchange registry per vhost: declare (with RabbitMQ's
 * equivalence checks and reply texts, x-delayed-message over any routing
 * type, deduplication caches), delete, lookup and the table of exchange
 * types.  Routing lives in publish.c and the per-type files; binding
 * lifetime in binding.c; held delayed messages in exchange_delayed.c.
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "dedup_int.h"
#include "exchange_int.h"

static const struct exchange_type *const exchange_types[] = {
    &exchange_type_direct,
    &exchange_type_fanout,
    &exchange_type_topic,
    &exchange_type_headers,
    &exchange_type_chash,
};

const struct exchange_type *exchange_type_find(struct edad_bytes name)
{
    for (size_t i = 0; i < EDAD_ARRAY_LEN(exchange_types); i++)
        if (bytes_eq_cstr(name, exchange_types[i]->name))
            return exchange_types[i];
    return NULL;
}

static bool exchange_eq(const void *item, const void *key)
{
    const struct exchange *x = item;
    const struct edad_bytes *k = key;
    return x->name_len == k->len && (k->len == 0 || memcmp(x->name, k->ptr, k->len) == 0);
}

struct exchange *exchange_find(struct vhost *vh, struct edad_bytes name)
{
    return hmap_find(&vh->exchanges, broker_hash_name(vh->broker, name), exchange_eq, &name);
}

struct exchange *exchange_create(struct vhost *vh, struct edad_bytes name,
                                 const struct exchange_type *type, bool durable,
                                 bool auto_delete, bool internal,
                                 const struct broker_table *args)
{
    struct exchange *x = xcalloc(1, sizeof(*x) + name.len + 1);
    x->vh = vh;
    x->type = type;
    x->hash = broker_hash_name(vh->broker, name);
    x->durable = durable;
    x->auto_delete = auto_delete;
    x->internal = internal;
    x->args = args_dup(args);
    const struct broker_value *ae = broker_table_get(x->args, "alternate-exchange");
    x->alternate = ae && ae->kind == BROKER_V_STRING ? ae : NULL;
    x->dedup = dedup_new(x->args);
    hmap_init(&x->bindings);
    x->name_len = name.len;
    if (name.len)
        memcpy(x->name, name.ptr, name.len);
    x->name[name.len] = '\0';
    hmap_insert(&vh->exchanges, x->hash, x);
    return x;
}

void exchange_free_memory(struct exchange *x)
{
    delay_store_free(x);
    dedup_free(x->dedup);
    if (x->index && x->type->free_index)
        x->type->free_index(x);
    hmap_free(&x->bindings);
    free(x->args);
    free(x);
}

void exchange_delete_now(struct exchange *x)
{
    if (x->deleted)
        return;
    struct vhost *vh = x->vh;
    x->deleted = true;
    hmap_remove(&vh->exchanges, x->hash, x);
    binding_remove_all_from_exchange(x);
    binding_remove_all_to_exchange(x);
    if (x->durable)
        broker_definitions_changed(vh->broker, vh);
    exchange_free_memory(x);
}

static bool has_amq_prefix(struct edad_bytes name)
{
    return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

static edad_status field_mismatch(struct broker_err *err, const char *field, const char *what,
                                  const char *received, const char *current)
{
    return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                          "inequivalent arg '%s' for %s: received '%s' but current is '%s'",
                          field, what, received, current);
}

static const char *tf(bool v)
{
    return v ? "true" : "false";
}

const char *exchange_type_name(const struct exchange *x)
{
    return x->delayed ? EXCHANGE_TYPE_DELAYED : x->type->name;
}

/*
 * The routing type of an x-delayed-message exchange (the plugin's
 * validate): x-delayed-type must name an exchange type.  Delaying through
 * another delayed exchange is refused rather than recursing.
 */
static edad_status delayed_type(const struct broker_table *args,
                                const struct exchange_type **type, struct broker_err *err)
{
    const struct broker_value *v = broker_table_get(args, "x-delayed-type");
    if (!v || v->kind != BROKER_V_STRING || bytes_eq_cstr(v->v.str, EXCHANGE_TYPE_DELAYED))
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "Invalid argument, 'x-delayed-type' must be an existing "
                              "exchange type");
    *type = exchange_type_find(v->v.str);
    if (!*type)
        return broker_err_set(err, BROKER_COMMAND_INVALID, "unknown exchange type '%.*s'",
                              (int)v->v.str.len, (const char *)v->v.str.ptr);
    return EDAD_OK;
}

edad_status exchange_declare(struct vhost *vh, const struct exchange_declare *d,
                             struct broker_err *err)
{
    char nb[BROKER_NAME_MAX + 1], what[BROKER_NAME_MAX * 2 + 64];
    struct edad_bytes name;
    if (!broker_name_strip(d->name, nb, &name))
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "exchange name longer than 255 bytes");
    broker_rs(what, sizeof(what), "exchange", nb, name.len, vh);

    if (d->passive) {
        if (name.len == 0)
            return broker_err_set(err, BROKER_ACCESS_REFUSED,
                                  "operation not permitted on the default exchange");
        if (!exchange_find(vh, name))
            return broker_err_set(err, BROKER_NOT_FOUND, "no %s", what);
        return EDAD_OK;
    }

    bool delayed = bytes_eq_cstr(d->type, EXCHANGE_TYPE_DELAYED);
    const struct exchange_type *type = delayed ? NULL : exchange_type_find(d->type);
    if (!type && !delayed)
        return broker_err_set(err, BROKER_COMMAND_INVALID, "unknown exchange type '%.*s'",
                              (int)d->type.len, (const char *)d->type.ptr);
    if (name.len == 0)
        return broker_err_set(err, BROKER_ACCESS_REFUSED,
                              "operation not permitted on the default exchange");

    struct exchange *x = exchange_find(vh, name);
    if (!x) {
        if (has_amq_prefix(name))
            return broker_err_set(err, BROKER_ACCESS_REFUSED,
                                  "exchange name '%s' contains reserved prefix 'amq.*'", nb);
        edad_status st = args_validate_exchange(d->args, what, err);
        if (st != EDAD_OK)
            return st;
        if (delayed && (st = delayed_type(d->args, &type, err)) != EDAD_OK)
            return st;
        if (type->validate && (st = type->validate(d->args, what, err)) != EDAD_OK)
            return st;
        x = exchange_create(vh, name, type, d->durable, d->auto_delete, d->internal, d->args);
        x->delayed = delayed;
        if (x->durable)
            broker_definitions_changed(vh->broker, vh);
        return EDAD_OK;
    }

    /* x-delayed-message compares as its own type; its x-delayed-type, like
     * every argument but alternate-exchange, is not compared (RabbitMQ) */
    if (delayed != x->delayed || (!delayed && x->type != type))
        return field_mismatch(err, "type", what, delayed ? EXCHANGE_TYPE_DELAYED : type->name,
                              exchange_type_name(x));
    if (x->durable != d->durable)
        return field_mismatch(err, "durable", what, tf(d->durable), tf(x->durable));
    if (x->auto_delete != d->auto_delete)
        return field_mismatch(err, "auto_delete", what, tf(d->auto_delete), tf(x->auto_delete));
    if (x->internal != d->internal)
        return field_mismatch(err, "internal", what, tf(d->internal), tf(x->internal));
    return args_assert_equivalent(x->args, d->args, "alternate-exchange", what, err);
}

edad_status exchange_delete(struct vhost *vh, struct edad_bytes name_in, bool if_unused,
                            struct broker_err *err)
{
    char nb[BROKER_NAME_MAX + 1], what[BROKER_NAME_MAX * 2 + 64];
    struct edad_bytes name;
    if (!broker_name_strip(name_in, nb, &name))
        return EDAD_OK;         /* cannot exist */
    if (name.len == 0)
        return broker_err_set(err, BROKER_ACCESS_REFUSED,
                              "operation not permitted on the default exchange");
    broker_rs(what, sizeof(what), "exchange", nb, name.len, vh);
    if (has_amq_prefix(name))
        return broker_err_set(err, BROKER_ACCESS_REFUSED, "deletion of system %s not allowed",
                              what);
    struct exchange *x = exchange_find(vh, name);
    if (!x)
        return EDAD_OK;
    if (if_unused && x->bindings.count > 0)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "%s in use", what);
    exchange_delete_now(x);
    return EDAD_OK;
}

void exchange_get_info(const struct exchange *x, struct exchange_info *out)
{
    out->name = x->name;
    out->name_len = x->name_len;
    out->type = exchange_type_name(x);
    out->durable = x->durable;
    out->auto_delete = x->auto_delete;
    out->internal = x->internal;
    out->args = x->args;
}

size_t exchange_binding_count(const struct exchange *x)
{
    return x->bindings.count;
}

void exchange_foreach_binding(struct exchange *x,
                              bool (*fn)(void *ctx, const struct binding_info *bi), void *ctx)
{
    for (struct binding *b = x->src_head; b; b = b->snext) {
        struct binding_info bi = {
            .source = x->name,
            .destination = b->dq ? b->dq->name : b->dx->name,
            .destination_is_queue = b->dq != NULL,
            .routing_key = {(const uint8_t *)b->key, b->key_len},
            .args = b->args,
        };
        if (!fn(ctx, &bi))
            break;
    }
}
