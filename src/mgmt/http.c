/*
 * http.c - the management listeners on libevent's evhttp: the API listener
 * (management.tcp.*) turns each request into a struct mgmt_req for api.c
 * and writes its struct mgmt_resp back; the Prometheus listener
 * (prometheus.tcp.*) serves /metrics; a timer samples rates.  The only
 * file of src/mgmt/ that knows libevent; no API logic lives here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "mgmt_int.h"
#include "www.h"

struct mgmt_http {
    struct evhttp *api, *prom;
    struct event *tick;
    char api_addr[300], prom_addr[300];
};

/* 64 MiB: definitions files and publishes through the API fit. */
#define MGMT_MAX_BODY (64u * 1024 * 1024)

static enum mgmt_method http_method(enum evhttp_cmd_type c)
{
    switch (c) {
    case EVHTTP_REQ_GET: return MGMT_GET;
    case EVHTTP_REQ_HEAD: return MGMT_HEAD;
    case EVHTTP_REQ_PUT: return MGMT_PUT;
    case EVHTTP_REQ_POST: return MGMT_POST;
    case EVHTTP_REQ_DELETE: return MGMT_DELETE;
    default: return MGMT_OTHER;
    }
}

static bool http_peer_loopback(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (!conn)
        return false;
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &addr, &port);
    if (!addr)
        return false;
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
           strncmp(addr, "::ffff:127.", 11) == 0;
}

/* "Authorization: Basic base64(user:pass)" into r (arena strings). */
static void http_basic_auth(struct evhttp_request *req, struct mgmt_req *r)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return;
    h += 6;
    while (*h == ' ')
        h++;
    uint8_t *dec = NULL;
    size_t n = 0;
    if (!mgmt_base64_decode(h, strlen(h), &dec, &n))
        return;
    char *s = arena_alloc(&r->arena, n + 1);
    memcpy(s, dec, n);
    s[n] = '\0';
    free(dec);
    char *colon = memchr(s, ':', n);
    if (!colon || strlen(s) != n)
        return;
    *colon = '\0';
    r->auth_user = s;
    r->auth_pass = colon + 1;
}

static void http_send(struct evhttp_request *req, struct mgmt_resp *o, bool head)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = evbuffer_new();
    evhttp_add_header(oh, "Cache-Control", "no-cache");
    evhttp_add_header(oh, "Server", "edad");
    if (o->www_authenticate)
        evhttp_add_header(oh, "WWW-Authenticate", "Basic realm=\"RabbitMQ Management\"");
    if (o->location[0])
        evhttp_add_header(oh, "Location", o->location);
    if (o->json) {
        char *s = json_dumps(o->json, JSON_COMPACT | JSON_ENCODE_ANY);
        evhttp_add_header(oh, "Content-Type", "application/json");
        if (s && buf && !head)
            evbuffer_add(buf, s, strlen(s));
        free(s);
    } else if (o->text) {
        evhttp_add_header(oh, "Content-Type", o->content_type ? o->content_type : "text/plain");
        if (buf && !head)
            evbuffer_add(buf, o->text, o->text_len);
    }
    evhttp_send_reply(req, o->status, NULL, buf);
    if (buf)
        evbuffer_free(buf);
}

static void http_resp_clear(struct mgmt_resp *o)
{
    json_decref(o->json);
    free(o->text);
    memset(o, 0, sizeof(*o));
}

static void http_api_cb(struct evhttp_request *req, void *arg)
{
    struct mgmt *m = arg;
    struct mgmt_req r;
    struct mgmt_resp o;
    memset(&r, 0, sizeof(r));
    memset(&o, 0, sizeof(o));
    arena_init(&r.arena, 0);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    r.method = http_method(evhttp_request_get_command(req));
    r.peer_loopback = http_peer_loopback(req);
    http_basic_auth(req, &r);
    r.x_reason = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Reason");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = in ? evbuffer_get_length(in) : 0;
    if (blen) {
        r.body = (const char *)evbuffer_pullup(in, -1);
        r.body_len = blen;
    }
    const struct mgmt_asset *asset = NULL;
    if (path && strncmp(path, "/api", 4) != 0)
        asset = mgmt_asset_find(path);     /* the dashboard (www.c) */
    if (asset && (r.method == MGMT_GET || r.method == MGMT_HEAD)) {
        o.status = 200;
        o.text = xmalloc(asset->len ? asset->len : 1);
        memcpy(o.text, asset->data, asset->len);
        o.text_len = asset->len;
        o.content_type = asset->content_type;
        struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
        evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
        evhttp_add_header(oh, "X-Frame-Options", "DENY");
        evhttp_add_header(oh, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                          "frame-ancestors 'none'");
    } else if (asset) {
        mgmt_reply_status(&o, 405);
    } else if (!path || !mgmt_req_parse(&r, path, query)) {
        mgmt_not_found(&o);
    } else {
        mgmt_api_handle(m, &r, &o);
    }
    if (o.status == 0)
        o.status = 500;
    http_send(req, &o, r.method == MGMT_HEAD);
    http_resp_clear(&o);
    arena_free(&r.arena);
}

static void http_prom_cb(struct evhttp_request *req, void *arg)
{
    struct mgmt *m = arg;
    struct mgmt_resp o;
    memset(&o, 0, sizeof(o));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum mgmt_method meth = http_method(evhttp_request_get_command(req));
    if (!path || strcmp(path, "/metrics") != 0) {
        mgmt_not_found(&o);
    } else if (meth != MGMT_GET && meth != MGMT_HEAD) {
        o.status = 405;
    } else {
        o.status = 200;
        o.text = mgmt_metrics_render(m, &o.text_len);
        o.content_type = "text/plain; version=0.0.4; charset=utf-8";
    }
    http_send(req, &o, meth == MGMT_HEAD);
    http_resp_clear(&o);
}

static void http_tick(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct mgmt *m = arg;
    mgmt_rates_tick(m->rates, m->broker, clock_mono_ms());
}

/* Bind one evhttp on ip:port; NULL (logged) on failure. */
static struct evhttp *http_listen(struct event_base *base, const char *what, const char *ip,
                                  uint32_t port, void (*cb)(struct evhttp_request *, void *),
                                  struct mgmt *m, char *addr, size_t addrlen)
{
    struct evhttp *h = evhttp_new(base);
    if (!h)
        return NULL;
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                      EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                      EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(h, MGMT_MAX_BODY);
    evhttp_set_max_headers_size(h, 64 * 1024);
    evhttp_set_timeout(h, 60);
    evhttp_set_gencb(h, cb, m);
    const char *bind_ip = ip && *ip ? ip : "0.0.0.0";
    if (!evhttp_bind_socket_with_handle(h, bind_ip, (ev_uint16_t)port)) {
        log_error("%s: cannot listen on %s:%u: %s; it stays off", what, bind_ip,
                  (unsigned)port, strerror(errno));
        evhttp_free(h);
        return NULL;
    }
    snprintf(addr, addrlen, strchr(bind_ip, ':') ? "[%s]:%u" : "%s:%u", bind_ip,
             (unsigned)port);
    log_info("%s listening on %s", what, addr);
    return h;
}

struct mgmt_http *mgmt_http_start(struct mgmt *m, struct event_base *base)
{
    const struct edad_conf *c = m->conf;
    struct mgmt_http *h = xcalloc(1, sizeof(*h));
    if (c->management_port)
        h->api = http_listen(base, "management API", c->management_ip, c->management_port,
                             http_api_cb, m, h->api_addr, sizeof(h->api_addr));
    if (c->prometheus_port)
        h->prom = http_listen(base, "prometheus metrics", c->prometheus_ip, c->prometheus_port,
                              http_prom_cb, m, h->prom_addr, sizeof(h->prom_addr));
    if (h->api || h->prom) {
        h->tick = event_new(base, -1, EV_PERSIST, http_tick, m);
        struct timeval tv = {MGMT_RATE_INTERVAL_MS / 1000, (MGMT_RATE_INTERVAL_MS % 1000) * 1000};
        if (h->tick)
            event_add(h->tick, &tv);
    }
    return h;
}

void mgmt_http_stop(struct mgmt_http *h)
{
    if (!h)
        return;
    if (h->tick)
        event_free(h->tick);
    if (h->api)
        evhttp_free(h->api);
    if (h->prom)
        evhttp_free(h->prom);
    free(h);
}

const char *mgmt_api_address(const struct mgmt *m)
{
    return m->http && m->http->api ? m->http->api_addr : NULL;
}

const char *mgmt_metrics_address(const struct mgmt *m)
{
    return m->http && m->http->prom ? m->http->prom_addr : NULL;
}
