/*
 * handle_connection.c - the methods of class connection (channel 0): the
 * connection.start we send (server properties, the capability table),
 * authentication on start-ok, tune-ok validation, connection.open, close
 * and update-secret.  Errors go through session_fail (dispatch.c); the
 * state machine itself is in connection.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "edad/access.h"
#include "session_priv.h"

/*
 * The capabilities edad advertises in connection.start, in RabbitMQ's
 * order.  Only what works is listed: consumer_priorities (issue 4) gets
 * its line when it lands.
 */
static const char *const server_capabilities[] = {
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
};

#define SERVER_MECHANISMS "PLAIN AMQPLAIN"   /* auth_mechanisms' default */
#define SERVER_LOCALES "en_US"
#define SERVER_COPYRIGHT "Copyright (c) 2026 the edad authors"
#define SERVER_INFORMATION "edad, an AMQP 0-9-1 message broker. Licensed under the terms " \
    "of its source distribution; see https://github.com/edad-broker/edad"
#define SERVER_PLATFORM "Linux/C11"

static struct amqp_table_entry str_entry(const char *key, const char *value)
{
    struct amqp_table_entry e;
    memset(&e, 0, sizeof(e));
    e.key = bytes_from_cstr(key);
    e.value.kind = AMQP_FIELD_LONGSTR;
    e.value.v.str = bytes_from_cstr(value);
    return e;
}

/*
 * The mechanisms field: auth_mechanisms in order, blank-separated; EXTERNAL
 * only on TLS connections (RabbitMQ offers it on every TLS connection, so a
 * client without a certificate gets a clear refusal, not a failed choice).
 */
static void start_mechanisms(const struct edad_conf *conf, bool tls, char *buf, size_t len)
{
    char *const *m = conf->auth_mechanisms.values;
    size_t used = 0;
    buf[0] = '\0';
    if (!m || !m[0]) {
        snprintf(buf, len, "%s", SERVER_MECHANISMS);
        return;
    }
    for (size_t i = 0; m[i]; i++) {
        if (!tls && strcmp(m[i], "EXTERNAL") == 0)
            continue;
        size_t n = strlen(m[i]);
        if (used + n + 2 > len)
            break;
        if (used)
            buf[used++] = ' ';
        memcpy(buf + used, m[i], n + 1);
        used += n;
    }
}

void handle_connection_build_start(struct session_server *srv)
{
    struct amqp_table_entry caps[EDAD_ARRAY_LEN(server_capabilities)];
    for (size_t i = 0; i < EDAD_ARRAY_LEN(server_capabilities); i++) {
        memset(&caps[i], 0, sizeof(caps[i]));
        caps[i].key = bytes_from_cstr(server_capabilities[i]);
        caps[i].value.kind = AMQP_FIELD_BOOL;
        caps[i].value.v.b = true;
    }

    char host[256] = "localhost";
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    char *dot = strchr(host, '.');
    if (dot)
        *dot = '\0';
    char cluster[300];
    snprintf(cluster, sizeof(cluster), "edad@%s", host);

    /* sorted by key, as RabbitMQ sends them */
    struct amqp_table_entry props[7];
    memset(&props[0], 0, sizeof(props[0]));
    props[0].key = bytes_from_cstr("capabilities");
    props[0].value.kind = AMQP_FIELD_TABLE;
    props[0].value.v.table.count = (uint32_t)EDAD_ARRAY_LEN(caps);
    props[0].value.v.table.entries = caps;
    props[1] = str_entry("cluster_name", cluster);
    props[2] = str_entry("copyright", SERVER_COPYRIGHT);
    props[3] = str_entry("information", SERVER_INFORMATION);
    props[4] = str_entry("platform", SERVER_PLATFORM);
    props[5] = str_entry("product", "edad");
    props[6] = str_entry("version", PACKAGE_VERSION);

    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = AMQP_CONNECTION_START;
    m.u.connection_start.version_major = 0;
    m.u.connection_start.version_minor = 9;
    m.u.connection_start.server_properties.count = (uint32_t)EDAD_ARRAY_LEN(props);
    m.u.connection_start.server_properties.entries = props;
    m.u.connection_start.locales = bytes_from_cstr(SERVER_LOCALES);

    /* one block: the plain frame, then the TLS one (EXTERNAL offered) */
    char mechs[512], mechs_tls[512];
    start_mechanisms(srv->conf, false, mechs, sizeof(mechs));
    start_mechanisms(srv->conf, true, mechs_tls, sizeof(mechs_tls));
    size_t cap = AMQP_FRAME_MIN_SIZE;
    srv->start_frame = xmalloc(2 * cap);
    srv->start_frame_tls = srv->start_frame + cap;
    m.u.connection_start.mechanisms = bytes_from_cstr(mechs);
    edad_status st = amqp_frame_encode_method(0, &m, srv->start_frame, cap,
                                              &srv->start_frame_len);
    m.u.connection_start.mechanisms = bytes_from_cstr(mechs_tls);
    if (st != EDAD_OK || amqp_frame_encode_method(0, &m, srv->start_frame_tls, cap,
                                                  &srv->start_frame_tls_len) != EDAD_OK) {
        log_error("session: cannot encode connection.start");
        abort();
    }
}

void handle_connection_send_start(struct connection *c)
{
    struct session_server *srv = c->srv;
    if (net_transport_is_tls(c->t))
        net_transport_output_add(c->t, srv->start_frame_tls, srv->start_frame_tls_len);
    else
        net_transport_output_add(c->t, srv->start_frame, srv->start_frame_len);
}

/* ---- vhosts ------------------------------------------------------------------------ */

bool session_vhost_find(const struct session_server *srv, struct edad_bytes name,
                        struct vhost **vh)
{
    *vh = NULL;
    if (srv->broker) {
        *vh = broker_vhost_find(srv->broker, name);
        return *vh != NULL;
    }
    const char *v = srv->conf->default_vhost ? srv->conf->default_vhost : "/";
    return bytes_eq_cstr(name, v);
}

/* ---- start-ok: authentication ---------------------------------------------------- */

static void conn_read_client_caps(struct connection *c, const struct amqp_table *props)
{
    static const struct {
        const char *name;
        uint32_t flag;
    } known[] = {
        {"authentication_failure_close", CLIENT_CAP_AUTH_FAILURE_CLOSE},
        {"connection.blocked", CLIENT_CAP_CONNECTION_BLOCKED},
        {"consumer_cancel_notify", CLIENT_CAP_CONSUMER_CANCEL_NOTIFY},
        {"publisher_confirms", CLIENT_CAP_PUBLISHER_CONFIRMS},
        {"basic.nack", CLIENT_CAP_BASIC_NACK},
    };
    const struct amqp_field_value *caps = amqp_table_get(props, "capabilities");
    if (!caps || caps->kind != AMQP_FIELD_TABLE)
        return;
    for (size_t i = 0; i < EDAD_ARRAY_LEN(known); i++) {
        const struct amqp_field_value *v = amqp_table_get(&caps->v.table, known[i].name);
        if (v && v->kind == AMQP_FIELD_BOOL && v->v.b)
            c->client_caps |= known[i].flag;
    }
}

static void handle_start_ok(struct connection *c, const struct amqp_connection_start_ok *a)
{
    struct edad_bytes user = EDAD_BYTES_NULL, pass = EDAD_BYTES_NULL;
    edad_status st;
    bool external = false;
    char certname[512];

    conn_read_client_caps(c, &a->client_properties);
    /* kept raw; the management API decodes it on request (inspect.c) */
    free(c->client_props);
    c->client_props = NULL;
    c->client_props_len = a->client_properties.raw.len;
    if (c->client_props_len) {
        c->client_props = xmalloc(c->client_props_len);
        memcpy(c->client_props, a->client_properties.raw.ptr, c->client_props_len);
    }
    const struct amqp_field_value *cname = amqp_table_get(&a->client_properties,
                                                          "connection_name");
    if (cname && cname->kind == AMQP_FIELD_LONGSTR)
        log_info("connection %s has a client-provided name: %.*s", c->name,
                 (int)(cname->v.str.len > 200 ? 200 : cname->v.str.len),
                 (const char *)cname->v.str.ptr);

    int mlen = (int)(a->mechanism.len > 64 ? 64 : a->mechanism.len);
    if (!sasl_mechanism_offered(c, a->mechanism)) {
        /* RabbitMQ: a mechanism it has but did not offer here is "invalid" */
        bool known = bytes_eq_cstr(a->mechanism, "PLAIN") ||
                     bytes_eq_cstr(a->mechanism, "AMQPLAIN") ||
                     bytes_eq_cstr(a->mechanism, "EXTERNAL");
        session_fail(c, 0, AMQP_COMMAND_INVALID, AMQP_CONNECTION_START_OK,
                     "%s authentication mechanism '%.*s'", known ? "invalid" : "unknown", mlen,
                     (const char *)a->mechanism.ptr);
        return;
    }
    if (bytes_eq_cstr(a->mechanism, "PLAIN")) {
        st = sasl_plain_parse(a->response, &user, &pass);
        if (st != EDAD_OK) {
            session_fail(c, 0, AMQP_SYNTAX_ERROR, AMQP_CONNECTION_START_OK,
                         "PLAIN response invalid");
            return;
        }
    } else if (bytes_eq_cstr(a->mechanism, "AMQPLAIN")) {
        st = sasl_amqplain_parse(a->response, &c->arena, &user, &pass);
        if (st != EDAD_OK) {
            session_fail(c, 0, AMQP_SYNTAX_ERROR, AMQP_CONNECTION_START_OK,
                         "AMQPLAIN auth info is missing LOGIN or PASSWORD field");
            return;
        }
    } else if (bytes_eq_cstr(a->mechanism, "EXTERNAL")) {
        /* the response (an identity some clients send) is ignored, as RabbitMQ does */
        const char *why = sasl_external_user(c, certname, sizeof(certname));
        if (why) {
            log_error("Error on AMQP connection %s (state: starting): EXTERNAL login refused: "
                      "%s", c->name, why);
            session_fail(c, 0, AMQP_ACCESS_REFUSED, 0, "Login was refused using "
                         "authentication mechanism EXTERNAL. For details see the broker "
                         "logfile.");
            return;
        }
        user = bytes_from_cstr(certname);
        external = true;
    } else {
        session_fail(c, 0, AMQP_COMMAND_INVALID, AMQP_CONNECTION_START_OK,
                     "unknown authentication mechanism '%.*s'",
                     (int)(a->mechanism.len > 64 ? 64 : a->mechanism.len),
                     (const char *)a->mechanism.ptr);
        return;
    }
    snprintf(c->auth_mechanism, sizeof(c->auth_mechanism), "%.*s", (int)a->mechanism.len,
             (const char *)a->mechanism.ptr);

    int ulen = (int)(user.len > 255 ? 255 : user.len);
    bool loopback = net_transport_peer_is_loopback(c->t);
    switch (auth_login(c->srv, user, external ? NULL : &pass, loopback)) {
    case AUTH_OK:
        break;
    case AUTH_BAD_CREDENTIALS:
        log_error("Error on AMQP connection %s (state: starting): %s login refused: user "
                  "'%.*s' - invalid credentials", c->name, c->auth_mechanism, ulen,
                  (const char *)user.ptr);
        session_fail(c, 0, AMQP_ACCESS_REFUSED, 0, "Login was refused using authentication "
                     "mechanism %s. For details see the broker logfile.", c->auth_mechanism);
        return;
    case AUTH_LOOPBACK_ONLY:
        log_error("Error on AMQP connection %s (state: starting): %s login refused: user "
                  "'%.*s' can only connect via localhost", c->name, c->auth_mechanism, ulen,
                  (const char *)user.ptr);
        session_fail(c, 0, AMQP_ACCESS_REFUSED, 0, "Login was refused using authentication "
                     "mechanism %s. For details see the broker logfile.", c->auth_mechanism);
        return;
    }
    c->user = bytes_strdup(user);

    const struct edad_conf *conf = c->srv->conf;
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = AMQP_CONNECTION_TUNE;
    m.u.connection_tune.channel_max = conf->channel_max ? conf->channel_max : 65535;
    m.u.connection_tune.frame_max = conf->frame_max;
    m.u.connection_tune.heartbeat = (uint16_t)(conf->heartbeat > 65535 ? 65535 : conf->heartbeat);
    session_send_method(c, 0, &m);
    connection_set_state(c, CONN_AWAIT_TUNE_OK);
}

/* ---- tune-ok ----------------------------------------------------------------------- */

/* RabbitMQ's validate_negotiated_integer_value; false after failing. */
static bool tune_validate(struct connection *c, const char *field, uint32_t min,
                          uint32_t server, uint32_t client)
{
    const char *detail = (client == 0 && strcmp(field, "channel_max") == 0) ? " (no limit)" : "";
    if (client != 0 && client < min) {
        session_fail(c, 0, AMQP_NOT_ALLOWED, AMQP_CONNECTION_TUNE,
                     "negotiated %s = %u%s is lower than the minimum allowed value (%u)",
                     field, (unsigned)client, detail, (unsigned)min);
        return false;
    }
    if (server != 0 && (client == 0 || client > server)) {
        session_fail(c, 0, AMQP_NOT_ALLOWED, AMQP_CONNECTION_TUNE,
                     "negotiated %s = %u%s is higher than the maximum allowed value (%u)",
                     field, (unsigned)client, detail, (unsigned)server);
        return false;
    }
    return true;
}

static void handle_tune_ok(struct connection *c, const struct amqp_connection_tune_ok *a)
{
    const struct edad_conf *conf = c->srv->conf;
    uint32_t server_channel_max = conf->channel_max ? conf->channel_max : 65535;
    if (!tune_validate(c, "frame_max", AMQP_FRAME_MIN_SIZE, conf->frame_max, a->frame_max))
        return;
    if (!tune_validate(c, "channel_max", 1, server_channel_max, a->channel_max))
        return;
    c->frame_max = a->frame_max;
    c->channel_max = a->channel_max;
    c->heartbeat = a->heartbeat;
    connection_set_state(c, CONN_AWAIT_OPEN);
    connection_tuned(c);
}

/* ---- open ---------------------------------------------------------------------------- */

/*
 * Vhost limits and permissions (access.h) in RabbitMQ's order; false after
 * failing the connection with 530.
 */
static bool conn_vhost_access(struct connection *c, struct edad_bytes vhost)
{
    uint64_t conns = 0;
    for (struct connection *o = c->srv->head; o; o = o->next)
        if (o != c && o->vh == c->vh && (o->state == CONN_OPEN || o->state == CONN_CLOSING))
            conns++;
    struct broker_err err;
    if (access_check_open(c->srv->broker, c->user, vhost, conns, &err) == EDAD_OK)
        return true;
    const char *dash = strstr(err.text, " - ");
    c->vh = NULL;
    session_fail(c, 0, err.code, AMQP_CONNECTION_OPEN, "%s", dash ? dash + 3 : err.text);
    return false;
}

static void handle_open(struct connection *c, const struct amqp_connection_open *a)
{
    const struct edad_conf *conf = c->srv->conf;
    int vlen = (int)(a->virtual_host.len > 200 ? 200 : a->virtual_host.len);
    if (conf->connection_max && c->srv->n_connections > conf->connection_max) {
        session_fail(c, 0, AMQP_NOT_ALLOWED, AMQP_CONNECTION_OPEN,
                     "connection refused: node connection limit (%u) is reached",
                     (unsigned)conf->connection_max);
        return;
    }
    if (!session_vhost_find(c->srv, a->virtual_host, &c->vh)) {
        session_fail(c, 0, AMQP_NOT_ALLOWED, AMQP_CONNECTION_OPEN, "vhost %.*s not found", vlen,
                     (const char *)a->virtual_host.ptr);
        return;
    }
    if (c->srv->broker && !conn_vhost_access(c, a->virtual_host))
        return;
    c->vhost = bytes_strdup(a->virtual_host);
    session_send_simple(c, 0, AMQP_CONNECTION_OPEN_OK);
    connection_set_state(c, CONN_OPEN);
    connection_opened(c);
    log_info("connection %s: user '%s' authenticated and granted access to vhost '%s'", c->name,
             c->user, c->vhost);
}

/* ---- the table -------------------------------------------------------------------------- */

void handle_connection_method(struct connection *c, const struct amqp_method *m)
{
    switch (m->id) {
    case AMQP_CONNECTION_START_OK:
        if (c->state != CONN_AWAIT_START_OK)
            break;
        handle_start_ok(c, &m->u.connection_start_ok);
        return;
    case AMQP_CONNECTION_TUNE_OK:
        if (c->state != CONN_AWAIT_TUNE_OK)
            break;
        handle_tune_ok(c, &m->u.connection_tune_ok);
        return;
    case AMQP_CONNECTION_OPEN:
        if (c->state != CONN_AWAIT_OPEN)
            break;
        handle_open(c, &m->u.connection_open);
        return;
    case AMQP_CONNECTION_CLOSE:
        /* accepted in every state: answer close-ok, close once flushed */
        log_debug("connection %s: client closed with %u %.*s", c->name,
                  (unsigned)m->u.connection_close.reply_code,
                  (int)(m->u.connection_close.reply_text.len > 255 ? 255 :
                        m->u.connection_close.reply_text.len),
                  (const char *)m->u.connection_close.reply_text.ptr);
        channel_free_all(c);
        session_send_simple(c, 0, AMQP_CONNECTION_CLOSE_OK);
        connection_kill(c, 0);
        return;
    case AMQP_CONNECTION_UPDATE_SECRET: {
        if (c->state != CONN_OPEN)
            break;
        /* RabbitMQ's internal users have secrets that never expire: the
         * backend accepts any new secret unchecked and the reply is ok */
        const struct amqp_connection_update_secret *a = &m->u.connection_update_secret;
        int rlen = (int)(a->reason.len > 200 ? 200 : a->reason.len);
        log_debug("connection %s of user '%s': asked to update secret, reason: %.*s", c->name,
                  c->user, rlen, (const char *)a->reason.ptr);
        session_send_simple(c, 0, AMQP_CONNECTION_UPDATE_SECRET_OK);
        log_info("connection %s: user '%s' updated secret, reason: %.*s", c->name, c->user, rlen,
                 (const char *)a->reason.ptr);
        return;
    }
    default:
        break;
    }
    session_fail(c, 0, AMQP_CHANNEL_ERROR, m->id, "unexpected method in connection state %s",
                 connection_state_name(c->state));
}
