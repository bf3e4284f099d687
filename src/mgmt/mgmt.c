/*
 * mgmt.c - the management object's life cycle (listeners, rate sampler)
 * and the broker-wide views the handlers share, such as the list of
 * vhosts.  Request handling is in api*.c, HTTP in http.c.
 */
#include <stdlib.h>

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

void mgmt_foreach_vhost(struct broker *b, bool (*fn)(void *ctx, struct vhost *vh), void *ctx)
{
    broker_foreach_vhost(b, fn, ctx);
}
