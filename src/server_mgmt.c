/*
 * server_mgmt.c - adapters between the management layer and the session
 * layer, which mgmt/ may not include: each mgmt_source member forwards to
 * the session's inspection API (session.h).  No logic of its own.
 */
#include <event2/event.h>

#include "server_mgmt.h"

static enum mgmt_auth wire_auth(void *ctx, const char *user, const char *pass, bool loopback)
{
    switch (session_server_authenticate(ctx, user, pass, loopback)) {
    case 0: return MGMT_AUTH_OK;
    case 2: return MGMT_AUTH_LOOPBACK_ONLY;
    default: return MGMT_AUTH_FAILED;
    }
}

static struct json_t *wire_connections(void *ctx)
{
    return session_server_connections_json(ctx);
}

static struct json_t *wire_channels(void *ctx)
{
    return session_server_channels_json(ctx);
}

static struct json_t *wire_consumers(void *ctx)
{
    return session_server_consumers_json(ctx);
}

static bool wire_close(void *ctx, const char *name, const char *reason)
{
    return session_server_close_by_name(ctx, name, reason);
}

static struct json_t *wire_props_to_json(void *ctx, struct edad_bytes raw)
{
    EDAD_UNUSED(ctx);
    return session_props_to_json(raw);
}

static edad_status wire_props_from_json(void *ctx, const struct json_t *props, struct arena *a,
                                        struct edad_bytes *raw, struct message_info *info,
                                        char *err, size_t errlen)
{
    EDAD_UNUSED(ctx);
    return session_props_from_json(props, a, raw, info, err, errlen);
}

static unsigned wire_alarms(void *ctx)
{
    unsigned a = session_server_alarms(ctx), out = 0;
    if (a & SESSION_ALARM_MEMORY)
        out |= MGMT_ALARM_MEMORY;
    if (a & SESSION_ALARM_DISK)
        out |= MGMT_ALARM_DISK;
    return out;
}

static void wire_io_totals(void *ctx, uint64_t *received, uint64_t *sent)
{
    EDAD_UNUSED(ctx);
    net_transport_totals(received, sent);
}

struct mgmt *server_mgmt_start(struct net_loop *loop, const struct edad_conf *conf,
                               struct broker *b, struct store *st,
                               struct session_server *sessions,
                               void (*flush)(void *flush_ctx), void *flush_ctx)
{
    struct mgmt_source src = {
        .ctx = sessions,
        .authenticate = wire_auth,
        .connections = wire_connections,
        .channels = wire_channels,
        .consumers = wire_consumers,
        .close_connection = wire_close,
        .props_to_json = wire_props_to_json,
        .props_from_json = wire_props_from_json,
        .alarms = wire_alarms,
        .io_totals = wire_io_totals,
        .flush = flush,
        .flush_ctx = flush_ctx,
    };
    return mgmt_new(net_loop_event_base(loop), conf, b, st, &src);
}
