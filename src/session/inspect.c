/*
 * inspect.c - what the management API may see and do in the session
 * layer: read-only JSON views of connections, channels and consumers
 * (RabbitMQ's field names), closing a connection by name, the credentials
 * check, and the basic-properties <-> JSON codec for publish / get through
 * HTTP.  It changes no session state except in session_server_close_by_name.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session_priv.h"

static void inspect_node(char *buf, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, len, "edad@%s", host);
}

/* "1.2.3.4:5678" / "[::1]:5678" into host and port. */
static void split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    *port = 0;
    host[0] = '\0';
    if (!addr)
        return;
    const char *colon = strrchr(addr, ':');
    if (!colon) {
        snprintf(host, hostlen, "%s", addr);
        return;
    }
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (*h == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    snprintf(host, hostlen, "%.*s", (int)n, h);
    *port = atoi(colon + 1);
}

static const char *conn_state_text(enum conn_state s)
{
    switch (s) {
    case CONN_AWAIT_HEADER:
    case CONN_AWAIT_START_OK: return "starting";
    case CONN_AWAIT_TUNE_OK: return "tuning";
    case CONN_AWAIT_OPEN: return "opening";
    case CONN_OPEN: return "running";
    default: return "closing";
    }
}

/* Wall-clock ms of a connection's start (connected_at is monotonic). */
static int64_t wall_ms(uint64_t mono_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return now - (int64_t)(clock_mono_ms() - mono_ms);
}

static json_t *conn_details(struct connection *c)
{
    char host[256];
    int port;
    split_addr(net_transport_peer(c->t), host, sizeof(host), &port);
    return json_pack("{s:s, s:s, s:i}", "name", c->name, "peer_host", host, "peer_port", port);
}

static json_t *table_json(const struct amqp_table *t);

/* The client's start-ok properties, decoded now (RabbitMQ's shape: tables
   as objects, e.g. "capabilities"); {} before start-ok or when undecodable. */
static json_t *client_props_json(const struct connection *c)
{
    if (!c->client_props)
        return json_object();
    struct arena a;
    arena_init(&a, 0);
    struct amqp_table t;
    json_t *o;
    if (amqp_table_decode((struct edad_bytes){c->client_props, c->client_props_len}, &a, &t) ==
        EDAD_OK)
        o = table_json(&t);
    else
        o = json_object();
    arena_free(&a);
    return o;
}

json_t *session_server_connections_json(struct session_server *srv)
{
    char node[300];
    inspect_node(node, sizeof(node));
    json_t *a = json_array();
    for (struct connection *c = srv->head; c; c = c->next) {
        if (c->state == CONN_DEAD)
            continue;
        char ph[256], lh[256];
        int pp, lp;
        split_addr(net_transport_peer(c->t), ph, sizeof(ph), &pp);
        split_addr(net_transport_local(c->t), lh, sizeof(lh), &lp);
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(c->name));
        json_object_set_new(j, "node", json_string(node));
        json_object_set_new(j, "type", json_string("network"));
        json_object_set_new(j, "protocol", json_string("AMQP 0-9-1"));
        json_object_set_new(j, "state", json_string(conn_state_text(c->state)));
        json_object_set_new(j, "user", c->user ? json_string(c->user) : json_string(""));
        json_object_set_new(j, "vhost", c->vhost ? json_string(c->vhost) : json_string(""));
        json_object_set_new(j, "channels", json_integer(c->n_channels));
        json_object_set_new(j, "peer_host", json_string(ph));
        json_object_set_new(j, "peer_port", json_integer(pp));
        json_object_set_new(j, "host", json_string(lh));
        json_object_set_new(j, "port", json_integer(lp));
        json_object_set_new(j, "ssl", json_boolean(false));
        json_object_set_new(j, "auth_mechanism", json_string(c->auth_mechanism));
        json_object_set_new(j, "frame_max", json_integer(c->frame_max));
        json_object_set_new(j, "channel_max", json_integer(c->channel_max));
        json_object_set_new(j, "timeout", json_integer(c->heartbeat));
        json_object_set_new(j, "connected_at", json_integer(wall_ms(c->connected_at_ms)));
        json_object_set_new(j, "send_oct",
                            json_integer((json_int_t)net_transport_bytes_queued(c->t)));
        json_object_set_new(j, "send_pend",
                            json_integer((json_int_t)net_transport_output_len(c->t)));
        json_object_set_new(j, "recv_oct",
                            json_integer((json_int_t)net_transport_bytes_received(c->t)));
        json_object_set_new(j, "recv_cnt", json_integer((json_int_t)net_transport_reads(c->t)));
        json_object_set_new(j, "client_properties", client_props_json(c));
        json_array_append_new(a, j);
    }
    return a;
}

json_t *session_server_channels_json(struct session_server *srv)
{
    char node[300];
    inspect_node(node, sizeof(node));
    json_t *a = json_array();
    for (struct connection *c = srv->head; c; c = c->next) {
        if (c->state != CONN_OPEN)
            continue;
        for (uint32_t i = 0; i < c->n_channel_slots; i++) {
            struct channel *ch = c->channels[i];
            if (!ch)
                continue;
            char name[200];
            snprintf(name, sizeof(name), "%s (%u)", c->name, (unsigned)ch->id);
            json_t *j = json_object();
            json_object_set_new(j, "name", json_string(name));
            json_object_set_new(j, "node", json_string(node));
            json_object_set_new(j, "number", json_integer(ch->id));
            json_object_set_new(j, "user", json_string(c->user ? c->user : ""));
            json_object_set_new(j, "vhost", json_string(c->vhost ? c->vhost : ""));
            json_object_set_new(j, "connection_details", conn_details(c));
            json_object_set_new(j, "state", json_string(ch->state == CHANNEL_OPEN
                                                            ? (ch->flow_active ? "running"
                                                                               : "flow")
                                                            : "closing"));
            json_object_set_new(j, "consumer_count", json_integer(ch->n_consumers));
            json_object_set_new(j, "messages_unacknowledged",
                                json_integer(unacked_count(&ch->unacked)));
            json_object_set_new(j, "messages_unconfirmed",
                                json_integer((json_int_t)(ch->pub_seq - ch->confirm_sent)));
            json_object_set_new(j, "messages_uncommitted", json_integer(ch->tx_npubs));
            json_object_set_new(j, "acks_uncommitted", json_integer(ch->tx_nsettles));
            json_object_set_new(j, "prefetch_count", json_integer(ch->consumer_prefetch));
            json_object_set_new(j, "global_prefetch_count", json_integer(ch->channel_prefetch));
            json_object_set_new(j, "confirm", json_boolean(ch->confirm));
            json_object_set_new(j, "transactional", json_boolean(ch->tx));
            json_array_append_new(a, j);
        }
    }
    return a;
}

json_t *session_server_consumers_json(struct session_server *srv)
{
    char node[300];
    inspect_node(node, sizeof(node));
    json_t *a = json_array();
    for (struct connection *c = srv->head; c; c = c->next) {
        if (c->state != CONN_OPEN)
            continue;
        for (uint32_t i = 0; i < c->n_channel_slots; i++) {
            struct channel *ch = c->channels[i];
            if (!ch)
                continue;
            char name[200];
            snprintf(name, sizeof(name), "%s (%u)", c->name, (unsigned)ch->id);
            for (struct chan_consumer *cc = ch->consumers; cc; cc = cc->next) {
                if (!cc->c)
                    continue;
                struct queue *q = consumer_queue(cc->c);
                char ph[256];
                int pp;
                split_addr(net_transport_peer(c->t), ph, sizeof(ph), &pp);
                json_t *cd = json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s}", "name", name,
                                       "number", (int)ch->id, "connection_name", c->name,
                                       "peer_host", ph, "peer_port", pp,
                                       "user", c->user ? c->user : "", "node", node);
                json_t *j = json_object();
                json_t *tag = json_stringn(cc->tag, cc->tag_len);
                json_object_set_new(j, "consumer_tag", tag ? tag : json_string(""));
                json_object_set_new(j, "channel_details", cd);
                json_object_set_new(j, "queue",
                                    json_pack("{s:s, s:s}", "name", q ? queue_name(q) : "",
                                              "vhost", c->vhost ? c->vhost : ""));
                json_object_set_new(j, "ack_required", json_boolean(!cc->no_ack));
                json_object_set_new(j, "exclusive", json_boolean(false));
                json_object_set_new(j, "prefetch_count", json_integer(cc->prefetch));
                json_object_set_new(j, "active", json_boolean(true));
                json_object_set_new(j, "activity_status", json_string("up"));
                json_object_set_new(j, "arguments", json_object());
                json_array_append_new(a, j);
            }
        }
    }
    return a;
}

bool session_server_close_by_name(struct session_server *srv, const char *name,
                                  const char *reason)
{
    for (struct connection *c = srv->head; c; c = c->next) {
        if (c->state == CONN_DEAD || c->state == CONN_CLOSING || strcmp(c->name, name) != 0)
            continue;
        if (c->state == CONN_OPEN) {
            char text[256];
            snprintf(text, sizeof(text), "CONNECTION_FORCED - %s", reason);
            log_info("connection %s: closing it: %s", c->name, reason);
            session_send_connection_close(c, AMQP_CONNECTION_FORCED, text, 0);
            channel_free_all(c);
            connection_await_close_ok(c, connection_closing_timeout_ms(c));
        } else {
            connection_kill(c, 0);
        }
        return true;
    }
    return false;
}

int session_server_authenticate(struct session_server *srv, const char *user, const char *pass,
                                bool peer_is_loopback)
{
    struct edad_bytes p = bytes_from_cstr(pass ? pass : "");
    switch (auth_login(srv, bytes_from_cstr(user), &p, peer_is_loopback)) {
    case AUTH_OK: return 0;
    case AUTH_LOOPBACK_ONLY: return 2;
    default: return 1;
    }
}

/* ---- properties <-> JSON ------------------------------------------------------- */

static json_t *str_json(struct edad_bytes b)
{
    json_t *j = json_stringn((const char *)b.ptr, b.len);
    return j ? j : json_string("");
}

static json_t *field_json(const struct amqp_field_value *v);

static json_t *table_json(const struct amqp_table *t)
{
    json_t *o = json_object();
    for (uint32_t i = 0; i < t->count; i++) {
        char *k = bytes_strdup(t->entries[i].key);
        json_object_set_new(o, k, field_json(&t->entries[i].value));
        free(k);
    }
    return o;
}

static json_t *field_json(const struct amqp_field_value *v)
{
    switch (v->kind) {
    case AMQP_FIELD_BOOL: return json_boolean(v->v.b);
    case AMQP_FIELD_I8: return json_integer(v->v.i8);
    case AMQP_FIELD_U8: return json_integer(v->v.u8);
    case AMQP_FIELD_I16: case AMQP_FIELD_I16_SPEC: return json_integer(v->v.i16);
    case AMQP_FIELD_U16: return json_integer(v->v.u16);
    case AMQP_FIELD_I32: return json_integer(v->v.i32);
    case AMQP_FIELD_U32: return json_integer(v->v.u32);
    case AMQP_FIELD_I64: return json_integer(v->v.i64);
    case AMQP_FIELD_U64: case AMQP_FIELD_TIMESTAMP: return json_integer((json_int_t)v->v.u64);
    case AMQP_FIELD_FLOAT: return json_real(v->v.f);
    case AMQP_FIELD_DOUBLE: return json_real(v->v.d);
    case AMQP_FIELD_DECIMAL: {
        double d = v->v.decimal.value;
        for (unsigned i = 0; i < v->v.decimal.scale; i++)
            d /= 10;
        return json_real(d);
    }
    case AMQP_FIELD_LONGSTR: case AMQP_FIELD_BYTES: return str_json(v->v.str);
    case AMQP_FIELD_TABLE: return table_json(&v->v.table);
    case AMQP_FIELD_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v->v.array.count; i++)
            json_array_append_new(a, field_json(&v->v.array.values[i]));
        return a;
    }
    default: return json_null();
    }
}

json_t *session_props_to_json(struct edad_bytes raw)
{
    struct arena a;
    arena_init(&a, 0);
    struct amqp_basic_properties p;
    json_t *o = NULL;
    if (amqp_basic_properties_decode(raw, &a, &p) != EDAD_OK)
        goto out;
    o = json_object();
    if (p.flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        json_object_set_new(o, "content_type", str_json(p.content_type));
    if (p.flags & AMQP_BASIC_CONTENT_ENCODING_FLAG)
        json_object_set_new(o, "content_encoding", str_json(p.content_encoding));
    if (p.flags & AMQP_BASIC_HEADERS_FLAG)
        json_object_set_new(o, "headers", table_json(&p.headers));
    if (p.flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        json_object_set_new(o, "delivery_mode", json_integer(p.delivery_mode));
    if (p.flags & AMQP_BASIC_PRIORITY_FLAG)
        json_object_set_new(o, "priority", json_integer(p.priority));
    if (p.flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        json_object_set_new(o, "correlation_id", str_json(p.correlation_id));
    if (p.flags & AMQP_BASIC_REPLY_TO_FLAG)
        json_object_set_new(o, "reply_to", str_json(p.reply_to));
    if (p.flags & AMQP_BASIC_EXPIRATION_FLAG)
        json_object_set_new(o, "expiration", str_json(p.expiration));
    if (p.flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        json_object_set_new(o, "message_id", str_json(p.message_id));
    if (p.flags & AMQP_BASIC_TIMESTAMP_FLAG)
        json_object_set_new(o, "timestamp", json_integer((json_int_t)p.timestamp));
    if (p.flags & AMQP_BASIC_TYPE_FLAG)
        json_object_set_new(o, "type", str_json(p.type));
    if (p.flags & AMQP_BASIC_USER_ID_FLAG)
        json_object_set_new(o, "user_id", str_json(p.user_id));
    if (p.flags & AMQP_BASIC_APP_ID_FLAG)
        json_object_set_new(o, "app_id", str_json(p.app_id));
    if (p.flags & AMQP_BASIC_CLUSTER_ID_FLAG)
        json_object_set_new(o, "cluster_id", str_json(p.cluster_id));
out:
    arena_free(&a);
    return o;
}

static bool json_field(const json_t *j, struct arena *a, struct amqp_field_value *v, int depth,
                       char *err, size_t errlen);

static bool json_table(const json_t *o, struct arena *a, struct amqp_table *t, int depth,
                       char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (!json_is_object(o)) {
        snprintf(err, errlen, "headers must be a JSON object");
        return false;
    }
    size_t n = json_object_size(o);
    struct amqp_table_entry *e = arena_alloc(a, (n ? n : 1) * sizeof(*e));
    const char *k;
    json_t *v;
    uint32_t i = 0;
    json_object_foreach((json_t *)o, k, v) {
        size_t kl = strlen(k);
        if (kl == 0 || kl > 255) {
            snprintf(err, errlen, "header names must have 1 to 255 bytes");
            return false;
        }
        uint8_t *kp = arena_alloc(a, kl);
        memcpy(kp, k, kl);
        e[i].key = (struct edad_bytes){kp, kl};
        if (!json_field(v, a, &e[i].value, depth + 1, err, errlen))
            return false;
        i++;
    }
    t->count = i;
    t->entries = e;
    return true;
}

static bool json_field(const json_t *j, struct arena *a, struct amqp_field_value *v, int depth,
                       char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    if (depth > AMQP_TABLE_MAX_DEPTH) {
        snprintf(err, errlen, "headers nested too deeply");
        return false;
    }
    switch (json_typeof(j)) {
    case JSON_STRING: {
        size_t n = json_string_length(j);
        uint8_t *p = arena_alloc(a, n ? n : 1);
        memcpy(p, json_string_value(j), n);
        v->kind = AMQP_FIELD_LONGSTR;
        v->v.str = (struct edad_bytes){p, n};
        return true;
    }
    case JSON_INTEGER:
        /* RabbitMQ's management API sends JSON integers as signed 64-bit */
        v->kind = AMQP_FIELD_I64;
        v->v.i64 = json_integer_value(j);
        return true;
    case JSON_REAL:
        v->kind = AMQP_FIELD_DOUBLE;
        v->v.d = json_real_value(j);
        return true;
    case JSON_TRUE: case JSON_FALSE:
        v->kind = AMQP_FIELD_BOOL;
        v->v.b = json_is_true(j);
        return true;
    case JSON_NULL:
        v->kind = AMQP_FIELD_VOID;
        return true;
    case JSON_OBJECT:
        v->kind = AMQP_FIELD_TABLE;
        return json_table(j, a, &v->v.table, depth, err, errlen);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        struct amqp_field_value *vals = arena_alloc(a, (n ? n : 1) * sizeof(*vals));
        for (size_t i = 0; i < n; i++)
            if (!json_field(json_array_get(j, i), a, &vals[i], depth + 1, err, errlen))
                return false;
        v->kind = AMQP_FIELD_ARRAY;
        v->v.array.count = (uint32_t)n;
        v->v.array.values = vals;
        return true;
    }
    }
    snprintf(err, errlen, "unsupported header value");
    return false;
}

static bool prop_str(const json_t *props, const char *key, struct arena *a, uint16_t flag,
                     uint16_t *flags, struct edad_bytes *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(props, key);
    if (!v)
        return true;
    if (!json_is_string(v) || json_string_length(v) > 255) {
        snprintf(err, errlen, "property %s must be a string of at most 255 bytes", key);
        return false;
    }
    size_t n = json_string_length(v);
    uint8_t *p = arena_alloc(a, n ? n : 1);
    memcpy(p, json_string_value(v), n);
    *out = (struct edad_bytes){p, n};
    *flags |= flag;
    return true;
}

static bool prop_uint(const json_t *props, const char *key, uint64_t max, uint16_t flag,
                      uint16_t *flags, uint64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(props, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        snprintf(err, errlen, "property %s must be an integer from 0 to %llu", key,
                 (unsigned long long)max);
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    *flags |= flag;
    return true;
}

edad_status session_props_from_json(const json_t *props, struct arena *a,
                                    struct edad_bytes *raw, struct message_info *info,
                                    char *err, size_t errlen)
{
    struct amqp_basic_properties p;
    memset(&p, 0, sizeof(p));
    uint16_t f = 0;
    uint64_t dm = 0, prio = 0, ts = 0;
    if (!json_is_object(props)) {
        snprintf(err, errlen, "properties must be a JSON object");
        return EDAD_ERR_INVALID;
    }
    if (!prop_str(props, "content_type", a, AMQP_BASIC_CONTENT_TYPE_FLAG, &f, &p.content_type,
                  err, errlen) ||
        !prop_str(props, "content_encoding", a, AMQP_BASIC_CONTENT_ENCODING_FLAG, &f,
                  &p.content_encoding, err, errlen) ||
        !prop_str(props, "correlation_id", a, AMQP_BASIC_CORRELATION_ID_FLAG, &f,
                  &p.correlation_id, err, errlen) ||
        !prop_str(props, "reply_to", a, AMQP_BASIC_REPLY_TO_FLAG, &f, &p.reply_to, err,
                  errlen) ||
        !prop_str(props, "expiration", a, AMQP_BASIC_EXPIRATION_FLAG, &f, &p.expiration, err,
                  errlen) ||
        !prop_str(props, "message_id", a, AMQP_BASIC_MESSAGE_ID_FLAG, &f, &p.message_id, err,
                  errlen) ||
        !prop_str(props, "type", a, AMQP_BASIC_TYPE_FLAG, &f, &p.type, err, errlen) ||
        !prop_str(props, "user_id", a, AMQP_BASIC_USER_ID_FLAG, &f, &p.user_id, err, errlen) ||
        !prop_str(props, "app_id", a, AMQP_BASIC_APP_ID_FLAG, &f, &p.app_id, err, errlen) ||
        !prop_str(props, "cluster_id", a, AMQP_BASIC_CLUSTER_ID_FLAG, &f, &p.cluster_id, err,
                  errlen) ||
        !prop_uint(props, "delivery_mode", 2, AMQP_BASIC_DELIVERY_MODE_FLAG, &f, &dm, err,
                   errlen) ||
        !prop_uint(props, "priority", 255, AMQP_BASIC_PRIORITY_FLAG, &f, &prio, err, errlen) ||
        !prop_uint(props, "timestamp", UINT64_MAX >> 1, AMQP_BASIC_TIMESTAMP_FLAG, &f, &ts,
                   err, errlen))
        return EDAD_ERR_INVALID;
    json_t *h = json_object_get(props, "headers");
    if (h && !json_is_null(h)) {
        if (!json_table(h, a, &p.headers, 0, err, errlen))
            return EDAD_ERR_INVALID;
        f |= AMQP_BASIC_HEADERS_FLAG;
    }
    p.flags = f;
    p.delivery_mode = (uint8_t)dm;
    p.priority = (uint8_t)prio;
    p.timestamp = ts;
    int64_t exp = -1;
    if (f & AMQP_BASIC_EXPIRATION_FLAG) {
        exp = 0;
        for (size_t i = 0; i < p.expiration.len; i++) {
            uint8_t c = p.expiration.ptr[i];
            if (c < '0' || c > '9' || exp > INT64_MAX / 10 - 10) {
                snprintf(err, errlen, "invalid expiration");
                return EDAD_ERR_INVALID;
            }
            exp = exp * 10 + (c - '0');
        }
        if (p.expiration.len == 0) {
            snprintf(err, errlen, "invalid expiration");
            return EDAD_ERR_INVALID;
        }
    }
    size_t cap = amqp_basic_properties_encoded_size(&p);
    uint8_t *buf = arena_alloc(a, cap ? cap : 2);
    size_t len = 0;
    if (amqp_basic_properties_encode(&p, buf, cap, &len) != EDAD_OK) {
        snprintf(err, errlen, "properties cannot be encoded");
        return EDAD_ERR_INVALID;
    }
    *raw = (struct edad_bytes){buf, len};
    memset(info, 0, sizeof(*info));
    info->persistent = dm == 2;
    info->has_priority = (f & AMQP_BASIC_PRIORITY_FLAG) != 0;
    info->priority = (uint8_t)prio;
    info->expiration_ms = exp;
    return EDAD_OK;
}
