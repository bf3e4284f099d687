/*
 * exchange_direct.c - direct exchanges: a hash from binding key to the
 * bindings with that key, so routing costs one lookup whatever the number
 * of bindings.  The default exchange routes by queue name in publish.c and
 * never reaches this index.
 */
#include <stdlib.h>
#include <string.h>

#include "exchange_int.h"

struct direct_bucket {
    struct bvec bindings;
    uint64_t hash;
    uint32_t key_len;
    char key[];
};

struct direct_index {
    struct hmap buckets;        /* struct direct_bucket by key */
};

static bool bucket_eq(const void *item, const void *key)
{
    const struct direct_bucket *bk = item;
    const struct edad_bytes *k = key;
    return bk->key_len == k->len && (k->len == 0 || memcmp(bk->key, k->ptr, k->len) == 0);
}

static void direct_add(struct exchange *x, struct binding *b)
{
    struct direct_index *ix = x->index;
    if (!ix) {
        ix = xcalloc(1, sizeof(*ix));
        hmap_init(&ix->buckets);
        x->index = ix;
    }
    struct edad_bytes key = {(const uint8_t *)b->key, b->key_len};
    uint64_t h = broker_hash_name(x->vh->broker, key);
    struct direct_bucket *bk = hmap_find(&ix->buckets, h, bucket_eq, &key);
    if (!bk) {
        bk = xcalloc(1, sizeof(*bk) + key.len + 1);
        bk->hash = h;
        bk->key_len = (uint32_t)key.len;
        memcpy(bk->key, b->key, key.len + 1);
        hmap_insert(&ix->buckets, h, bk);
    }
    bvec_push(&bk->bindings, b);
    b->tdata = bk;
}

static void direct_free_index(struct exchange *x)
{
    struct direct_index *ix = x->index;
    if (!ix)
        return;
    for (uint32_t i = 0; i < hmap_capacity(&ix->buckets); i++) {
        struct direct_bucket *bk = ix->buckets.slots[i].item;
        if (bk) {
            bvec_free(&bk->bindings);
            free(bk);
        }
    }
    hmap_free(&ix->buckets);
    free(ix);
    x->index = NULL;
}

static void direct_remove(struct exchange *x, struct binding *b)
{
    struct direct_index *ix = x->index;
    struct direct_bucket *bk = b->tdata;
    bvec_remove(&bk->bindings, b);
    if (bk->bindings.n == 0) {
        hmap_remove(&ix->buckets, bk->hash, bk);
        free(bk);
    }
    if (ix->buckets.count == 0)
        direct_free_index(x);
}

static void direct_route(struct exchange *x, struct route_ctx *rc)
{
    struct direct_index *ix = x->index;
    if (!ix)
        return;
    uint64_t h = broker_hash_name(rc->b, rc->rk);
    struct direct_bucket *bk = hmap_find(&ix->buckets, h, bucket_eq, &rc->rk);
    if (!bk)
        return;
    for (uint32_t i = 0; i < bk->bindings.n; i++)
        route_emit(rc, bk->bindings.v[i]);
}

const struct exchange_type exchange_type_direct = {
    .name = "direct",
    .validate_binding = NULL,
    .add = direct_add,
    .remove = direct_remove,
    .route = direct_route,
    .free_index = direct_free_index,
};
