/*
 * api.c - the management API's front door: path and query decoding
 * (RabbitMQ's %-encoding, "%2F" for the default vhost), authentication and
 * access by user tag, the route table, and error replies in RabbitMQ's
 * JSON shape.  The resources themselves are in api_*.c; HTTP framing is
 * http.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt_int.h"

/* ---- parsing ------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %-decode s[0..n) into the arena; plus_space for query strings. */
static char *pct_decode(struct arena *a, const char *s, size_t n, bool plus_space)
{
    char *out = arena_alloc(a, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return NULL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            out[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (plus_space && s[i] == '+') {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    if (strlen(out) != j)       /* an encoded NUL */
        return NULL;
    return out;
}

bool mgmt_req_parse(struct mgmt_req *r, const char *raw_path, const char *query)
{
    r->raw_path = raw_path;
    if (strncmp(raw_path, "/api", 4) != 0 || (raw_path[4] != '/' && raw_path[4] != '\0'))
        return false;
    const char *p = raw_path + 4;
    r->nseg = 0;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 && !end)
            break;              /* trailing slash */
        if (r->nseg == MGMT_MAX_SEGS)
            return false;
        char *seg = pct_decode(&r->arena, p, n, false);
        if (!seg)
            return false;
        r->seg[r->nseg++] = seg;
        p += n;
    }
    r->nq = 0;
    while (query && *query && r->nq < MGMT_MAX_QUERY) {
        const char *amp = strchr(query, '&');
        size_t n = amp ? (size_t)(amp - query) : strlen(query);
        const char *eq = memchr(query, '=', n);
        size_t kn = eq ? (size_t)(eq - query) : n;
        char *k = pct_decode(&r->arena, query, kn, true);
        char *v = pct_decode(&r->arena, eq ? eq + 1 : "", eq ? n - kn - 1 : 0, true);
        if (k && v && *k) {
            r->qkey[r->nq] = k;
            r->qval[r->nq] = v;
            r->nq++;
        }
        query += n;
        if (*query == '&')
            query++;
    }
    return true;
}

const char *mgmt_req_query(const struct mgmt_req *r, const char *key)
{
    for (unsigned i = 0; i < r->nq; i++)
        if (strcmp(r->qkey[i], key) == 0)
            return r->qval[i];
    return NULL;
}

/* ---- replies ------------------------------------------------------------------- */

void mgmt_error(struct mgmt_resp *o, int status, const char *error, const char *reason)
{
    json_decref(o->json);
    o->status = status;
    o->json = json_pack("{s:s, s:s}", "error", error, "reason", reason ? reason : "");
}

void mgmt_not_found(struct mgmt_resp *o)
{
    mgmt_error(o, 404, "Object Not Found", "Not Found");
}

void mgmt_bad_request(struct mgmt_resp *o, const char *reason)
{
    mgmt_error(o, 400, "bad_request", reason);
}

void mgmt_broker_error(struct mgmt_resp *o, const struct broker_err *err)
{
    /* RabbitMQ's management API keeps the reply text, "NAME - " included,
       only for 404 / 403; bad requests carry the bare reason. */
    const char *text = err->text;
    const char *dash = strstr(text, " - ");
    const char *bare = dash ? dash + 3 : text;
    switch (err->code) {
    case BROKER_NOT_FOUND:
        mgmt_error(o, 404, "not_found", text);
        break;
    case BROKER_ACCESS_REFUSED:
        mgmt_error(o, 401, "not_authorized", text);
        o->www_authenticate = false;
        break;
    default:
        mgmt_error(o, 400, "bad_request", bare);
        break;
    }
}

void mgmt_reply_json(struct mgmt_resp *o, json_t *j)
{
    json_decref(o->json);
    o->status = 200;
    o->json = j;
}

void mgmt_reply_status(struct mgmt_resp *o, int status)
{
    json_decref(o->json);
    o->json = NULL;
    o->status = status;
}

json_t *mgmt_body_object(struct mgmt_req *r, struct mgmt_resp *o)
{
    if (r->body_len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &je);
    if (!j) {
        char reason[300];
        snprintf(reason, sizeof(reason), "failed to decode json: %s", je.text);
        mgmt_bad_request(o, reason);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        mgmt_bad_request(o, "not_json_object");
        return NULL;
    }
    return j;
}

/* ---- users and access --------------------------------------------------------- */

unsigned mgmt_user_tags(const struct mgmt *m, const char *user)
{
    if (access_enabled(m->broker)) {
        static const struct {
            const char *tag;
            unsigned bit;
        } tags[] = {
            {"management", MGMT_TAG_MANAGEMENT},
            {"monitoring", MGMT_TAG_MONITORING},
            {"administrator", MGMT_TAG_ADMINISTRATOR},
            {"policymaker", MGMT_TAG_POLICYMAKER},
        };
        unsigned out = 0;
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
            if (access_user_has_tag(m->broker, user, tags[i].tag))
                out |= tags[i].bit;
        return out;
    }
    /* No user store (nobody seeded it): the configured default user is the
       administrator RabbitMQ's guest is; other users get management. */
    if (m->conf->default_user && strcmp(user, m->conf->default_user) == 0)
        return MGMT_TAG_ADMINISTRATOR | MGMT_TAG_MONITORING | MGMT_TAG_MANAGEMENT |
               MGMT_TAG_POLICYMAKER;
    return MGMT_TAG_MANAGEMENT;
}

bool mgmt_require_tag(struct mgmt_req *r, struct mgmt_resp *o, unsigned tags)
{
    if ((r->tags & tags) == tags)
        return true;
    const char *why = "Not management user";
    if (tags & MGMT_TAG_ADMINISTRATOR)
        why = "Not administrator user";
    else if (tags & MGMT_TAG_MONITORING)
        why = "Not monitor user";
    mgmt_error(o, 401, "not_authorized", why);
    return false;
}

bool mgmt_vhost_visible(const struct mgmt_req *r, const char *vhost)
{
    /* monitoring and administrator see every vhost, as RabbitMQ */
    if (r->tags & MGMT_TAG_MONITORING)
        return true;
    return !access_enabled(r->m->broker) || access_vhost_allowed(r->m->broker, r->user, vhost);
}

bool mgmt_access_ok(struct mgmt_resp *o, edad_status st, const struct broker_err *err)
{
    if (st == EDAD_OK)
        return true;
    mgmt_broker_error(o, err);
    return false;
}

struct vhost *mgmt_require_vhost(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o,
                                 const char *name)
{
    struct vhost *vh = broker_vhost_find(m->broker, bytes_from_cstr(name));
    if (!vh) {
        mgmt_not_found(o);
        return NULL;
    }
    if (!mgmt_vhost_visible(r, name)) {
        mgmt_error(o, 401, "not_authorized", "User not authorised to access virtual host");
        return NULL;
    }
    return vh;
}

static bool mgmt_authenticate(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    if (!r->auth_user || !m->src.authenticate) {
        mgmt_error(o, 401, "not_authorized", "Login failed");
        o->www_authenticate = true;
        return false;
    }
    enum mgmt_auth a = m->src.authenticate(m->src.ctx, r->auth_user, r->auth_pass,
                                           r->peer_loopback);
    if (a != MGMT_AUTH_OK) {
        mgmt_error(o, 401, "not_authorized",
                   a == MGMT_AUTH_LOOPBACK_ONLY
                       ? "User can only log in via localhost" : "Login failed");
        /* no WWW-Authenticate when credentials were sent, as RabbitMQ: a
           browser would otherwise pop its own login box over the dashboard */
        return false;
    }
    r->m = m;
    r->user = r->auth_user;
    r->tags = mgmt_user_tags(m, r->user);
    if (!(r->tags & (MGMT_TAG_MANAGEMENT | MGMT_TAG_MONITORING | MGMT_TAG_ADMINISTRATOR |
                     MGMT_TAG_POLICYMAKER))) {
        mgmt_error(o, 401, "not_authorized", "Not management user");
        return false;
    }
    /* every tag above includes management's rights */
    r->tags |= MGMT_TAG_MANAGEMENT;
    if (r->tags & MGMT_TAG_ADMINISTRATOR)
        r->tags |= MGMT_TAG_MONITORING | MGMT_TAG_POLICYMAKER;
    return true;
}

/* ---- routing -------------------------------------------------------------------- */

typedef void (*api_fn)(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o);

static const struct {
    const char *name;
    api_fn fn;
} api_routes[] = {
    {"overview", api_overview},
    {"whoami", api_whoami},
    {"vhosts", api_vhosts},
    {"connections", api_connections},
    {"channels", api_channels},
    {"consumers", api_consumers},
    {"exchanges", api_exchanges},
    {"queues", api_queues},
    {"bindings", api_bindings},
    {"aliveness-test", api_aliveness},
    {"health", api_health},
    {"users", api_users},
    {"permissions", api_permissions},
    {"definitions", api_definitions},
};

void mgmt_api_handle(struct mgmt *m, struct mgmt_req *r, struct mgmt_resp *o)
{
    api_fn fn = NULL;
    for (size_t i = 0; r->nseg > 0 && i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
        if (strcmp(r->seg[0], api_routes[i].name) == 0)
            fn = api_routes[i].fn;
    if (!fn) {
        mgmt_not_found(o);
        return;
    }
    if (r->method == MGMT_OTHER) {
        mgmt_reply_status(o, 405);
        return;
    }
    if (!mgmt_authenticate(m, r, o))
        return;
    fn(m, r, o);
    if (r->method != MGMT_GET && r->method != MGMT_HEAD && m->src.flush)
        m->src.flush(m->src.flush_ctx);
}
