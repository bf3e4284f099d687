/*
 * exchange_headers.c - headers exchanges: each binding's arguments are a
 * pattern matched against the message headers with x-match all / any /
 * all-with-x / any-with-x, as RabbitMQ does (keys starting with "x-" are
 * ignored unless *-with-x; a void pattern value tests presence; values
 * compare with Erlang's ==).  Patterns are pre-sorted at bind time and the
 * headers once per route, so each binding is a linear merge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "exchange_int.h"

enum xmatch { XM_ALL, XM_ANY, XM_ALL_X, XM_ANY_X };

struct headers_spec {
    enum xmatch match;
    uint32_t n;
    const struct broker_arg *pattern[];     /* sorted by key, into b->args */
};

static int key_cmp(struct edad_bytes a, struct edad_bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

static int arg_ptr_cmp(const void *pa, const void *pb)
{
    const struct broker_arg *a = *(const struct broker_arg *const *)pa;
    const struct broker_arg *b = *(const struct broker_arg *const *)pb;
    int c = key_cmp(a->key, b->key);
    if (c)
        return c;
    return a < b ? -1 : a > b;  /* stable */
}

static bool is_x_key(struct edad_bytes k)
{
    return k.len >= 2 && k.ptr[0] == 'x' && k.ptr[1] == '-';
}

static edad_status headers_validate(struct edad_bytes key, const struct broker_table *args,
                                    struct broker_err *err)
{
    EDAD_UNUSED(key);
    const struct broker_value *v = broker_table_get(args, "x-match");
    if (!v)
        return EDAD_OK;
    if (v->kind == BROKER_V_STRING) {
        static const char *const ok[] = {"all", "any", "all-with-x", "any-with-x"};
        for (size_t i = 0; i < EDAD_ARRAY_LEN(ok); i++)
            if (bytes_eq_cstr(v->v.str, ok[i]))
                return EDAD_OK;
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "Invalid x-match field value <<\"%.*s\">>; expected all, any, "
                              "all-with-x, or any-with-x",
                              (int)v->v.str.len, (const char *)v->v.str.ptr);
    }
    char val[160];
    if (v->kind == BROKER_V_BYTES)
        snprintf(val, sizeof(val), "<<\"%.*s\">>", (int)v->v.str.len,
                 (const char *)v->v.str.ptr);
    else if (v->kind == BROKER_V_BOOL)
        snprintf(val, sizeof(val), "%s", v->v.b ? "true" : "false");
    else if (v->kind == BROKER_V_U64)
        snprintf(val, sizeof(val), "%llu", (unsigned long long)v->v.u);
    else if (v->kind == BROKER_V_FLOAT || v->kind == BROKER_V_DOUBLE)
        snprintf(val, sizeof(val), "%g", v->v.d);
    else if (v->kind == BROKER_V_TABLE || v->kind == BROKER_V_ARRAY)
        snprintf(val, sizeof(val), "[...]");
    else if (v->kind == BROKER_V_VOID)
        snprintf(val, sizeof(val), "undefined");
    else
        snprintf(val, sizeof(val), "%lld", (long long)v->v.i);
    return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                          "Invalid x-match field type %s (value %s); expected longstr",
                          args_type_name(v->kind), val);
}

static struct headers_spec *spec_new(const struct broker_table *args)
{
    enum xmatch m = XM_ALL;
    const struct broker_value *v = broker_table_get(args, "x-match");
    if (v && v->kind == BROKER_V_STRING) {
        if (bytes_eq_cstr(v->v.str, "any"))
            m = XM_ANY;
        else if (bytes_eq_cstr(v->v.str, "all-with-x"))
            m = XM_ALL_X;
        else if (bytes_eq_cstr(v->v.str, "any-with-x"))
            m = XM_ANY_X;
    }
    bool with_x = m == XM_ALL_X || m == XM_ANY_X;
    struct headers_spec *s = xcalloc(1, sizeof(*s) + sizeof(s->pattern[0]) * args->count);
    s->match = m;
    for (uint32_t i = 0; i < args->count; i++) {
        const struct broker_arg *a = &args->entries[i];
        if (bytes_eq_cstr(a->key, "x-match"))
            continue;
        if (!with_x && is_x_key(a->key))
            continue;
        s->pattern[s->n++] = a;
    }
    qsort(s->pattern, s->n, sizeof(s->pattern[0]), arg_ptr_cmp);
    return s;
}

static bool spec_match(const struct headers_spec *s, const struct broker_arg *const *data,
                       uint32_t nd)
{
    bool all_kind = s->match == XM_ALL || s->match == XM_ALL_X;
    bool all = true, any = false;
    uint32_t pi = 0, di = 0;
    while (pi < s->n) {
        if (all_kind && !all)
            return false;
        if (!all_kind && any)
            return true;
        if (di == nd) {
            all = false;        /* the remaining pattern keys are missing */
            break;
        }
        const struct broker_arg *p = s->pattern[pi];
        const struct broker_arg *d = data[di];
        int c = key_cmp(p->key, d->key);
        if (c > 0) {
            di++;
            continue;
        }
        if (c < 0) {
            all = false;
            pi++;
            continue;
        }
        if (p->value.kind == BROKER_V_VOID || args_value_eq_loose(&p->value, &d->value))
            any = true;
        else
            all = false;
        pi++;
        di++;
    }
    return all_kind ? all : any;
}

static void headers_add(struct exchange *x, struct binding *b)
{
    struct bvec *bv = x->index;
    if (!bv) {
        bv = xcalloc(1, sizeof(*bv));
        x->index = bv;
    }
    b->tdata = spec_new(b->args);
    bvec_push(bv, b);
}

static void headers_free_index(struct exchange *x)
{
    struct bvec *bv = x->index;
    if (!bv)
        return;
    for (uint32_t i = 0; i < bv->n; i++) {
        free(bv->v[i]->tdata);
        bv->v[i]->tdata = NULL;
    }
    bvec_free(bv);
    free(bv);
    x->index = NULL;
}

static void headers_remove(struct exchange *x, struct binding *b)
{
    struct bvec *bv = x->index;
    free(b->tdata);
    b->tdata = NULL;
    bvec_remove(bv, b);
    if (bv->n == 0)
        headers_free_index(x);
}

#define HEADERS_STACK 32

static void headers_route(struct exchange *x, struct route_ctx *rc)
{
    struct bvec *bv = x->index;
    if (!bv)
        return;
    const struct broker_table *h = route_headers(rc);
    uint32_t nd = h ? h->count : 0;
    const struct broker_arg *stackbuf[HEADERS_STACK];
    const struct broker_arg **data = nd <= HEADERS_STACK ? stackbuf : xmalloc(sizeof(*data) * nd);
    for (uint32_t i = 0; i < nd; i++)
        data[i] = &h->entries[i];
    if (nd > 1)
        qsort(data, nd, sizeof(*data), arg_ptr_cmp);
    for (uint32_t i = 0; i < bv->n; i++)
        if (spec_match(bv->v[i]->tdata, data, nd))
            route_emit(rc, bv->v[i]);
    if (data != stackbuf)
        free(data);
}

const struct exchange_type exchange_type_headers = {
    .name = "headers",
    .validate_binding = headers_validate,
    .add = headers_add,
    .remove = headers_remove,
    .route = headers_route,
    .free_index = headers_free_index,
};
