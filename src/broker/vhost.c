/*
 * vhost.c - virtual hosts: a namespace of exchanges and queues with the
 * predeclared exchanges RabbitMQ creates in every vhost.  Permissions and
 * users are not here (issue 7).
 */
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "exchange_int.h"
#include "queue_int.h"

struct predeclared {
    const char *name;
    const struct exchange_type *type;
};

struct vhost *vhost_new(struct broker *b, struct edad_bytes name)
{
    static const struct predeclared px[] = {
        {"amq.direct", &exchange_type_direct},
        {"amq.fanout", &exchange_type_fanout},
        {"amq.topic", &exchange_type_topic},
        {"amq.headers", &exchange_type_headers},
        {"amq.match", &exchange_type_headers},
    };
    struct vhost *vh = xcalloc(1, sizeof(*vh) + name.len + 1);
    vh->broker = b;
    vh->hash = broker_hash_name(b, name);
    vh->name_len = name.len;
    if (name.len)
        memcpy(vh->name, name.ptr, name.len);
    vh->name[name.len] = '\0';
    hmap_init(&vh->exchanges);
    hmap_init(&vh->queues);
    vh->default_x = exchange_create(vh, EDAD_BYTES_NULL, &exchange_type_direct, true, false,
                                    false, NULL);
    vh->default_x->is_default = true;
    for (size_t i = 0; i < EDAD_ARRAY_LEN(px); i++)
        exchange_create(vh, bytes_from_cstr(px[i].name), px[i].type, true, false, false, NULL);
    return vh;
}

/* Any item of a map (maps shrink as items go, so restart from the front). */
static void *hmap_any(const struct hmap *m)
{
    for (uint32_t i = 0; i < hmap_capacity(m); i++)
        if (m->slots[i].item)
            return m->slots[i].item;
    return NULL;
}

void vhost_destroy(struct vhost *vh)
{
    struct queue *q;
    while ((q = hmap_any(&vh->queues)) != NULL)
        queue_delete_now(q);
    struct exchange *x;
    while ((x = hmap_any(&vh->exchanges)) != NULL)
        exchange_delete_now(x);
    hmap_free(&vh->queues);
    hmap_free(&vh->exchanges);
    free(vh);
}

const char *vhost_name(const struct vhost *vh)
{
    return vh->name;
}

struct broker *vhost_broker(const struct vhost *vh)
{
    return vh->broker;
}

size_t vhost_queue_count(const struct vhost *vh)
{
    return vh->queues.count;
}

size_t vhost_exchange_count(const struct vhost *vh)
{
    return vh->exchanges.count;
}

/*
 * Snapshot the items first: fn may declare or delete (the management API
 * deletes while listing), which would reshape the map under a live walk.
 * Queues are pinned with a reference; exchanges are checked by lookup.
 */
void vhost_foreach_queue(struct vhost *vh, bool (*fn)(void *ctx, struct queue *q), void *ctx)
{
    uint32_t n = vh->queues.count, k = 0;
    if (n == 0)
        return;
    struct queue **snap = xmalloc(sizeof(*snap) * n);
    for (uint32_t i = 0; i < hmap_capacity(&vh->queues); i++)
        if (vh->queues.slots[i].item)
            snap[k++] = queue_ref(vh->queues.slots[i].item);
    bool go = true;
    for (uint32_t i = 0; i < k; i++) {
        if (go && !snap[i]->deleted)
            go = fn(ctx, snap[i]);
        queue_unref(&snap[i]);
    }
    free(snap);
}

static bool exchange_ptr_eq(const void *item, const void *key)
{
    return item == key;
}

void vhost_foreach_exchange(struct vhost *vh, bool (*fn)(void *ctx, struct exchange *x),
                            void *ctx)
{
    uint32_t n = vh->exchanges.count, k = 0;
    if (n == 0)
        return;
    struct exchange **snap = xmalloc(sizeof(*snap) * n);
    uint64_t *hashes = xmalloc(sizeof(*hashes) * n);
    for (uint32_t i = 0; i < hmap_capacity(&vh->exchanges); i++) {
        if (vh->exchanges.slots[i].item) {
            hashes[k] = vh->exchanges.slots[i].hash;
            snap[k++] = vh->exchanges.slots[i].item;
        }
    }
    for (uint32_t i = 0; i < k; i++) {
        /* still there? (an earlier callback may have deleted it) */
        if (!hmap_find(&vh->exchanges, hashes[i], exchange_ptr_eq, snap[i]))
            continue;
        if (!fn(ctx, snap[i]))
            break;
    }
    free(hashes);
    free(snap);
}

struct vhost_snap {
    struct vhost *vh;
    uint64_t hash;
};

static int vhost_snap_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vhost_snap *)a)->vh->name,
                  ((const struct vhost_snap *)b)->vh->name);
}

void broker_foreach_vhost(struct broker *b, bool (*fn)(void *ctx, struct vhost *vh), void *ctx)
{
    uint32_t n = b->vhosts.count, k = 0;
    if (n == 0)
        return;
    struct vhost_snap *snap = xmalloc(sizeof(*snap) * n);
    for (uint32_t i = 0; i < hmap_capacity(&b->vhosts); i++) {
        if (b->vhosts.slots[i].item) {
            snap[k].hash = b->vhosts.slots[i].hash;
            snap[k++].vh = b->vhosts.slots[i].item;
        }
    }
    qsort(snap, k, sizeof(*snap), vhost_snap_cmp);
    for (uint32_t i = 0; i < k; i++) {
        /* still there? (an earlier callback may have deleted it) */
        if (!hmap_find(&b->vhosts, snap[i].hash, exchange_ptr_eq, snap[i].vh))
            continue;
        if (!fn(ctx, snap[i].vh))
            break;
    }
    free(snap);
}
