/*
 * mgmt.c - the management object's life cycle (listeners, rate sampler)
 * and the broker-wide views the handlers share, such as the list of
 * vhosts.  Request handling is in api*.c, HTTP in http.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

struct mgmt *mgmt_new(struct event_base *base, const struct edad_conf *conf, struct broker *b,
                      struct store *st, const struct mgmt_source *src)
{
    struct mgmt *m = xcalloc(1, sizeof(*m));
    m->conf = conf;
    m->broker = b;
    m->store = st;
    if (src)
        m->src = *src;
    m->rates = mgmt_rates_new();
    m->started_ms = clock_mono_ms();
    m->http = mgmt_http_start(m, base);
    return m;
}

void mgmt_free(struct mgmt *m)
{
    if (!m)
        return;
    mgmt_http_stop(m->http);
    mgmt_rates_free(m->rates);
    free(m);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

json_t *mgmt_vhost_names(struct broker *b)
{
    /* The broker lists vhosts only through its definitions export (until
       it has an iterator); the names are all this takes from it. */
    json_t *defs = broker_definitions_export(b);
    json_t *vhosts = json_object_get(defs, "vhosts");
    size_t n = json_array_size(vhosts);
    json_t **v = xmalloc((n ? n : 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_object_get(json_array_get(vhosts, i), "name");
        if (json_is_string(name))
            v[k++] = name;
    }
    qsort(v, k, sizeof(*v), name_cmp);
    json_t *out = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(defs);
    return out;
}

void mgmt_foreach_vhost(struct broker *b, bool (*fn)(void *ctx, struct vhost *vh), void *ctx)
{
    json_t *names = mgmt_vhost_names(b);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        struct vhost *vh = broker_vhost_find(b, bytes_from_cstr(json_string_value(n)));
        if (vh && !fn(ctx, vh))
            break;
    }
    json_decref(names);
}
