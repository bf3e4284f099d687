/*
 * exchange_fanout.c - fanout exchanges: every binding matches, whatever
 * the routing key; the index is the array of bindings.
 */
#include <stdlib.h>

#include "exchange_int.h"

static void fanout_add(struct exchange *x, struct binding *b)
{
    struct bvec *bv = x->index;
    if (!bv) {
        bv = xcalloc(1, sizeof(*bv));
        x->index = bv;
    }
    bvec_push(bv, b);
}

static void fanout_free_index(struct exchange *x)
{
    struct bvec *bv = x->index;
    if (!bv)
        return;
    bvec_free(bv);
    free(bv);
    x->index = NULL;
}

static void fanout_remove(struct exchange *x, struct binding *b)
{
    struct bvec *bv = x->index;
    bvec_remove(bv, b);
    if (bv->n == 0)
        fanout_free_index(x);
}

static void fanout_route(struct exchange *x, struct route_ctx *rc)
{
    struct bvec *bv = x->index;
    if (!bv)
        return;
    for (uint32_t i = 0; i < bv->n; i++)
        route_emit(rc, bv->v[i]);
}

const struct exchange_type exchange_type_fanout = {
    .name = "fanout",
    .validate_binding = NULL,
    .add = fanout_add,
    .remove = fanout_remove,
    .route = fanout_route,
    .free_index = fanout_free_index,
};
