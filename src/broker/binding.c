/*
 * binding.c - bindings from an exchange to a queue or to another exchange:
 * queue.bind/unbind, exchange.bind/unbind, and their removal when either
 * end goes, including deleting auto-delete exchanges left without source
 * bindings.  The routing index of each type is updated through its vtable.
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "exchange_int.h"
#include "queue_int.h"

/* ---- binding arrays ------------------------------------------------------------ */

void bvec_push(struct bvec *bv, struct binding *b)
{
    if (bv->n == bv->cap) {
        bv->cap = bv->cap ? bv->cap * 2 : 4;
        bv->v = xrealloc(bv->v, sizeof(*bv->v) * bv->cap);
    }
    b->tidx = bv->n;
    bv->v[bv->n++] = b;
}

void bvec_remove(struct bvec *bv, struct binding *b)
{
    uint32_t i = b->tidx;
    struct binding *last = bv->v[--bv->n];
    bv->v[i] = last;
    last->tidx = i;
    if (bv->n == 0) {
        bvec_free(bv);
    } else if (bv->cap > 16 && bv->n * 4 < bv->cap) {
        bv->cap /= 2;
        bv->v = xrealloc(bv->v, sizeof(*bv->v) * bv->cap);
    }
}

void bvec_free(struct bvec *bv)
{
    free(bv->v);
    bv->v = NULL;
    bv->n = bv->cap = 0;
}

/* ---- identity -------------------------------------------------------------------- */

struct binding_key {
    const struct queue *dq;
    const struct exchange *dx;
    struct edad_bytes key;
    const struct broker_table *args;
};

static const struct broker_table empty_table = {0, NULL, {NULL, 0}};

static uint64_t binding_hash(const struct broker *b, const struct binding_key *k)
{
    const void *dest = k->dq ? (const void *)k->dq : (const void *)k->dx;
    uint64_t h = hash_ptr(dest, b->seed);
    h = hash_mix(h, hash_bytes(k->key.ptr, k->key.len, b->seed));
    return hash_mix(h, args_table_hash(k->args, b->seed));
}

static bool binding_eq(const void *item, const void *key)
{
    const struct binding *b = item;
    const struct binding_key *k = key;
    return b->dq == k->dq && b->dx == k->dx && b->key_len == k->key.len &&
           (k->key.len == 0 || memcmp(b->key, k->key.ptr, k->key.len) == 0) &&
           args_table_equal(b->args, k->args);
}

static struct binding **dst_head_of(struct binding *b)
{
    return b->dq ? &b->dq->dst_head : &b->dx->dst_head;
}

static bool binding_is_durable(const struct binding *b)
{
    return b->source->durable && (b->dq ? b->dq->durable : b->dx->durable);
}

/* ---- add / remove ------------------------------------------------------------------ */

static struct binding *binding_add(struct exchange *src, const struct binding_key *k,
                                   uint64_t hash)
{
    struct binding *b = xcalloc(1, sizeof(*b) + k->key.len + 1);
    b->source = src;
    b->dq = (struct queue *)k->dq;
    b->dx = (struct exchange *)k->dx;
    b->hash = hash;
    b->args = args_dup(k->args);
    b->key_len = (uint32_t)k->key.len;
    if (k->key.len)
        memcpy(b->key, k->key.ptr, k->key.len);
    b->key[k->key.len] = '\0';

    hmap_insert(&src->bindings, hash, b);
    /* appended: listings, and so recovered definitions, keep binding order
     * (x-consistent-hash places its buckets in that order) */
    b->snext = NULL;
    b->sprev = src->src_tail;
    if (src->src_tail)
        src->src_tail->snext = b;
    else
        src->src_head = b;
    src->src_tail = b;

    struct binding **dh = dst_head_of(b);
    b->dprev = NULL;
    b->dnext = *dh;
    if (*dh)
        (*dh)->dprev = b;
    *dh = b;

    src->type->add(src, b);
    if (binding_is_durable(b))
        broker_definitions_changed(src->vh->broker, src->vh);
    return b;
}

void binding_remove(struct binding *b)
{
    struct exchange *src = b->source;
    bool durable = binding_is_durable(b);
    src->type->remove(src, b);
    hmap_remove(&src->bindings, b->hash, b);
    if (b->sprev)
        b->sprev->snext = b->snext;
    else
        src->src_head = b->snext;
    if (b->snext)
        b->snext->sprev = b->sprev;
    else
        src->src_tail = b->sprev;
    struct binding **dh = dst_head_of(b);
    if (b->dprev)
        b->dprev->dnext = b->dnext;
    else
        *dh = b->dnext;
    if (b->dnext)
        b->dnext->dprev = b->dprev;
    free(b->args);
    free(b);
    if (durable && !src->deleted)
        broker_definitions_changed(src->vh->broker, src->vh);
    if (src->auto_delete && !src->deleted && src->bindings.count == 0)
        exchange_delete_now(src);
}

/* Pop-the-head loops: a removal may cascade into other removals. */
void binding_remove_all_to_queue(struct queue *q)
{
    while (q->dst_head)
        binding_remove(q->dst_head);
}

void binding_remove_all_to_exchange(struct exchange *x)
{
    while (x->dst_head)
        binding_remove(x->dst_head);
}

void binding_remove_all_from_exchange(struct exchange *x)
{
    while (x->src_head)
        binding_remove(x->src_head);
}

/* ---- queue.bind / exchange.bind ------------------------------------------------------ */

static edad_status binding_action(struct vhost *vh, bool add, bool to_queue,
                                  struct edad_bytes dest_in, struct edad_bytes src_in,
                                  struct edad_bytes routing_key,
                                  const struct broker_table *args, const void *owner,
                                  struct broker_err *err)
{
    char sb[BROKER_NAME_MAX + 1], db[BROKER_NAME_MAX + 1];
    struct edad_bytes sname, dname;
    if (!broker_name_strip(src_in, sb, &sname) || !broker_name_strip(dest_in, db, &dname))
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "name longer than 255 bytes");
    if (routing_key.len > BROKER_NAME_MAX)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "routing key longer than 255 bytes");
    if ((!to_queue && dname.len == 0) || sname.len == 0)
        return broker_err_set(err, BROKER_ACCESS_REFUSED,
                              "operation not permitted on the default exchange");
    struct exchange *src = exchange_find(vh, sname);
    if (!src)
        return broker_err_set(err, BROKER_NOT_FOUND, "no exchange '%s' in vhost '%s'", sb,
                              vh->name);
    struct binding_key k = {NULL, NULL, routing_key, args ? args : &empty_table};
    if (to_queue) {
        struct queue *q = queue_find(vh, dname);
        if (!q)
            return broker_err_set(err, BROKER_NOT_FOUND, "no queue '%s' in vhost '%s'", db,
                                  vh->name);
        if (q->exclusive && q->owner != owner)
            return broker_err_set(err, BROKER_RESOURCE_LOCKED,
                                  "cannot obtain exclusive access to locked queue '%s' in vhost "
                                  "'%s'. It could be originally declared on another connection "
                                  "or the exclusive property value does not match that of the "
                                  "original declaration.", db, vh->name);
        k.dq = q;
    } else {
        struct exchange *dx = exchange_find(vh, dname);
        if (!dx)
            return broker_err_set(err, BROKER_NOT_FOUND, "no exchange '%s' in vhost '%s'", db,
                                  vh->name);
        k.dx = dx;
    }
    uint64_t h = binding_hash(vh->broker, &k);
    struct binding *b = hmap_find(&src->bindings, h, binding_eq, &k);
    if (!add) {
        if (b)
            binding_remove(b);
        return EDAD_OK;
    }
    if (src->type->validate_binding) {
        edad_status st = src->type->validate_binding(routing_key, k.args, err);
        if (st != EDAD_OK)
            return st;
    }
    if (!b)
        binding_add(src, &k, h);
    return EDAD_OK;
}

edad_status queue_bind(struct vhost *vh, struct edad_bytes queue, struct edad_bytes exchange,
                       struct edad_bytes routing_key, const struct broker_table *args,
                       const void *owner, struct broker_err *err)
{
    return binding_action(vh, true, true, queue, exchange, routing_key, args, owner, err);
}

edad_status queue_unbind(struct vhost *vh, struct edad_bytes queue, struct edad_bytes exchange,
                         struct edad_bytes routing_key, const struct broker_table *args,
                         const void *owner, struct broker_err *err)
{
    return binding_action(vh, false, true, queue, exchange, routing_key, args, owner, err);
}

edad_status exchange_bind(struct vhost *vh, struct edad_bytes destination,
                          struct edad_bytes source, struct edad_bytes routing_key,
                          const struct broker_table *args, struct broker_err *err)
{
    return binding_action(vh, true, false, destination, source, routing_key, args, NULL, err);
}

edad_status exchange_unbind(struct vhost *vh, struct edad_bytes destination,
                            struct edad_bytes source, struct edad_bytes routing_key,
                            const struct broker_table *args, struct broker_err *err)
{
    return binding_action(vh, false, false, destination, source, routing_key, args, NULL, err);
}
