/*
 * rawamqp.c - hand-packed AMQP 0-9-1 frames and a blocking client socket for
 * the conformance tests (see rawamqp.h).  Written from the spec, sharing no
 * code with edad's codec; it decodes only what the tests assert on.
 */
#include "rawamqp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Largest frame payload the reader accepts from a server (sanity bound). */
#define RAW_MAX_PAYLOAD (64u * 1024u * 1024u)

/* ---- buffer ------------------------------------------------------------- */

static void raw_oom(void)
{
    fputs("rawamqp: out of memory\n", stderr);
    abort();
}

void raw_buf_init(struct raw_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void raw_buf_free(struct raw_buf *b)
{
    free(b->data);
    raw_buf_init(b);
}

void raw_buf_reset(struct raw_buf *b)
{
    b->len = 0;
}

static void raw_buf_reserve(struct raw_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        raw_oom();
    b->data = p;
    b->cap = cap;
}

void raw_put_bytes(struct raw_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    raw_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void raw_put_u8(struct raw_buf *b, uint8_t v)
{
    raw_put_bytes(b, &v, 1);
}

void raw_put_u16(struct raw_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    raw_put_bytes(b, x, 2);
}

void raw_put_u32(struct raw_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    raw_put_bytes(b, x, 4);
}

void raw_put_u64(struct raw_buf *b, uint64_t v)
{
    raw_put_u32(b, (uint32_t)(v >> 32));
    raw_put_u32(b, (uint32_t)v);
}

void raw_put_shortstr(struct raw_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 255)
        n = 255;
    raw_put_u8(b, (uint8_t)n);
    raw_put_bytes(b, s, n);
}

void raw_put_longstr(struct raw_buf *b, const void *p, uint32_t n)
{
    raw_put_u32(b, n);
    raw_put_bytes(b, p, n);
}

size_t raw_table_begin(struct raw_buf *b)
{
    size_t mark = b->len;
    raw_put_u32(b, 0);
    return mark;
}

void raw_table_end(struct raw_buf *b, size_t mark)
{
    uint32_t n = (uint32_t)(b->len - mark - 4);
    b->data[mark] = (uint8_t)(n >> 24);
    b->data[mark + 1] = (uint8_t)(n >> 16);
    b->data[mark + 2] = (uint8_t)(n >> 8);
    b->data[mark + 3] = (uint8_t)n;
}

void raw_table_put_longstr(struct raw_buf *b, const char *key, const char *value)
{
    raw_put_shortstr(b, key);
    raw_put_u8(b, 'S');
    raw_put_longstr(b, value, (uint32_t)strlen(value));
}

void raw_table_put_bool(struct raw_buf *b, const char *key, bool value)
{
    raw_put_shortstr(b, key);
    raw_put_u8(b, 't');
    raw_put_u8(b, value ? 1 : 0);
}

void raw_table_put_int(struct raw_buf *b, const char *key, int32_t value)
{
    raw_put_shortstr(b, key);
    raw_put_u8(b, 'I');
    raw_put_u32(b, (uint32_t)value);
}

size_t raw_table_put_table_begin(struct raw_buf *b, const char *key)
{
    raw_put_shortstr(b, key);
    raw_put_u8(b, 'F');
    return raw_table_begin(b);
}

/* ---- frames ------------------------------------------------------------- */

void raw_frame(struct raw_buf *out, uint8_t type, uint16_t channel, const void *payload,
               size_t len, uint8_t frame_end)
{
    raw_put_u8(out, type);
    raw_put_u16(out, channel);
    raw_put_u32(out, (uint32_t)len);
    raw_put_bytes(out, payload, len);
    raw_put_u8(out, frame_end);
}

void raw_frame_method(struct raw_buf *out, uint16_t channel, uint16_t class_id,
                      uint16_t method_id, const void *args, size_t len)
{
    raw_put_u8(out, RAW_FRAME_METHOD);
    raw_put_u16(out, channel);
    raw_put_u32(out, (uint32_t)(4 + len));
    raw_put_u16(out, class_id);
    raw_put_u16(out, method_id);
    raw_put_bytes(out, args, len);
    raw_put_u8(out, RAW_FRAME_END);
}

void raw_frame_header(struct raw_buf *out, uint16_t channel, uint16_t class_id,
                      uint64_t body_size, uint16_t flags, const void *props, size_t props_len)
{
    raw_put_u8(out, RAW_FRAME_HEADER);
    raw_put_u16(out, channel);
    raw_put_u32(out, (uint32_t)(2 + 2 + 8 + 2 + props_len));
    raw_put_u16(out, class_id);
    raw_put_u16(out, 0); /* weight */
    raw_put_u64(out, body_size);
    raw_put_u16(out, flags);
    raw_put_bytes(out, props, props_len);
    raw_put_u8(out, RAW_FRAME_END);
}

void raw_frame_body(struct raw_buf *out, uint16_t channel, const void *p, size_t len)
{
    raw_frame(out, RAW_FRAME_BODY, channel, p, len, RAW_FRAME_END);
}

void raw_frame_heartbeat(struct raw_buf *out, uint16_t channel)
{
    raw_frame(out, RAW_FRAME_HEARTBEAT, channel, NULL, 0, RAW_FRAME_END);
}

/* ---- socket ------------------------------------------------------------- */

static int64_t raw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int raw_connect(struct raw_conn *c, const char *host, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A send that the server never drains must not hang a test forever. */
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    c->fd = fd;
    return 0;
}

void raw_close(struct raw_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

int raw_send(struct raw_conn *c, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int raw_send_buf(struct raw_conn *c, struct raw_buf *b)
{
    int rc = raw_send(c, b->data, b->len);
    raw_buf_reset(b);
    return rc;
}

int raw_send_protocol_header(struct raw_conn *c)
{
    static const uint8_t hdr[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    return raw_send(c, hdr, sizeof(hdr));
}

int raw_send_method(struct raw_conn *c, uint16_t channel, uint16_t class_id,
                    uint16_t method_id, const struct raw_buf *args)
{
    struct raw_buf out;
    raw_buf_init(&out);
    raw_frame_method(&out, channel, class_id, method_id, args ? args->data : NULL,
                     args ? args->len : 0);
    int rc = raw_send(c, out.data, out.len);
    raw_buf_free(&out);
    return rc;
}

/* Read more bytes into c->in until it holds `need`, EOF or the deadline. */
static enum raw_rc raw_fill(struct raw_conn *c, size_t need, int64_t deadline)
{
    while (c->in_len < need) {
        if (c->eof)
            return RAW_EOF;
        int64_t left = deadline - raw_now_ms();
        if (left <= 0)
            return RAW_TIMEOUT;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN, .revents = 0};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return RAW_IOERR;
        }
        if (pr == 0)
            return RAW_TIMEOUT;
        if (c->in_cap - c->in_len < 65536) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
            uint8_t *p = realloc(c->in, cap);
            if (!p)
                raw_oom();
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ECONNRESET || errno == EPIPE) {
                c->eof = true;
                continue;
            }
            return RAW_IOERR;
        }
        if (r == 0) {
            c->eof = true;
            continue;
        }
        c->in_len += (size_t)r;
    }
    return RAW_OK;
}

static void raw_consume(struct raw_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

enum raw_rc raw_read_exact(struct raw_conn *c, void *p, size_t n, int timeout_ms)
{
    enum raw_rc rc = raw_fill(c, n, raw_now_ms() + timeout_ms);
    if (rc != RAW_OK)
        return rc;
    memcpy(p, c->in, n);
    raw_consume(c, n);
    return RAW_OK;
}

enum raw_rc raw_wait_eof(struct raw_conn *c, int timeout_ms)
{
    int64_t deadline = raw_now_ms() + timeout_ms;
    for (;;) {
        c->in_len = 0;
        enum raw_rc rc = raw_fill(c, 1, deadline);
        if (rc != RAW_OK)
            return rc;
    }
}

enum raw_rc raw_read_frame(struct raw_conn *c, struct raw_frame *f, int timeout_ms)
{
    memset(f, 0, sizeof(*f));
    int64_t deadline = raw_now_ms() + timeout_ms;
    enum raw_rc rc = raw_fill(c, 7, deadline);
    if (rc != RAW_OK)
        return rc;
    uint32_t size = ((uint32_t)c->in[3] << 24) | ((uint32_t)c->in[4] << 16) |
                    ((uint32_t)c->in[5] << 8) | c->in[6];
    if (size > RAW_MAX_PAYLOAD || (c->frame_max && size > c->frame_max))
        return RAW_BAD;
    rc = raw_fill(c, 7 + (size_t)size + 1, deadline);
    if (rc != RAW_OK)
        return rc;
    f->type = c->in[0];
    f->channel = (uint16_t)((c->in[1] << 8) | c->in[2]);
    f->size = size;
    f->payload = malloc(size ? size : 1);
    if (!f->payload)
        raw_oom();
    memcpy(f->payload, c->in + 7, size);
    uint8_t end = c->in[7 + size];
    raw_consume(c, 7 + (size_t)size + 1);
    if (end != RAW_FRAME_END)
        return RAW_BAD;
    if (f->type == RAW_FRAME_METHOD && size >= 4) {
        f->class_id = (uint16_t)((f->payload[0] << 8) | f->payload[1]);
        f->method_id = (uint16_t)((f->payload[2] << 8) | f->payload[3]);
    }
    return RAW_OK;
}

void raw_frame_free(struct raw_frame *f)
{
    free(f->payload);
    f->payload = NULL;
}

bool raw_frame_is(const struct raw_frame *f, uint16_t channel, uint16_t class_id,
                  uint16_t method_id)
{
    return f->type == RAW_FRAME_METHOD && f->channel == channel && f->class_id == class_id &&
           f->method_id == method_id;
}

const char *raw_frame_describe(const struct raw_frame *f, char *buf, size_t len)
{
    if (f->type == RAW_FRAME_METHOD) {
        struct raw_close cl;
        if ((f->class_id == RAW_CONNECTION && f->method_id == RAW_CONNECTION_CLOSE) ||
            (f->class_id == RAW_CHANNEL && f->method_id == RAW_CHANNEL_CLOSE)) {
            if (raw_decode_close(f, &cl)) {
                snprintf(buf, len, "%s.close on channel %u: %u '%s' (class %u method %u)",
                         f->class_id == RAW_CONNECTION ? "connection" : "channel",
                         f->channel, cl.reply_code, cl.reply_text, cl.class_id, cl.method_id);
                return buf;
            }
        }
        snprintf(buf, len, "method %u.%u on channel %u (%u bytes)", f->class_id,
                 f->method_id, f->channel, f->size);
    } else if (f->type == RAW_FRAME_HEARTBEAT) {
        snprintf(buf, len, "heartbeat on channel %u", f->channel);
    } else {
        snprintf(buf, len, "frame type %u on channel %u (%u bytes)", f->type, f->channel,
                 f->size);
    }
    return buf;
}

enum raw_rc raw_expect_method(struct raw_conn *c, struct raw_frame *f, uint16_t channel,
                              uint16_t class_id, uint16_t method_id, int timeout_ms)
{
    int64_t deadline = raw_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - raw_now_ms();
        enum raw_rc rc = raw_read_frame(c, f, left > 0 ? (int)left : 0);
        if (rc != RAW_OK)
            return rc;
        if (f->type == RAW_FRAME_HEARTBEAT) {
            raw_frame_free(f);
            continue;
        }
        return raw_frame_is(f, channel, class_id, method_id) ? RAW_OK : RAW_BAD;
    }
}

/* ---- decoding ------------------------------------------------------------ */

void raw_cursor_init(struct raw_cursor *cur, const void *p, size_t n)
{
    cur->p = p;
    cur->left = n;
    cur->bad = false;
}

static const uint8_t *raw_take(struct raw_cursor *cur, size_t n)
{
    if (cur->bad || cur->left < n) {
        cur->bad = true;
        return NULL;
    }
    const uint8_t *p = cur->p;
    cur->p += n;
    cur->left -= n;
    return p;
}

uint8_t raw_get_u8(struct raw_cursor *cur)
{
    const uint8_t *p = raw_take(cur, 1);
    return p ? p[0] : 0;
}

uint16_t raw_get_u16(struct raw_cursor *cur)
{
    const uint8_t *p = raw_take(cur, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t raw_get_u32(struct raw_cursor *cur)
{
    const uint8_t *p = raw_take(cur, 4);
    return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]
             : 0;
}

uint64_t raw_get_u64(struct raw_cursor *cur)
{
    uint64_t hi = raw_get_u32(cur);
    return (hi << 32) | raw_get_u32(cur);
}

void raw_get_shortstr(struct raw_cursor *cur, char *out, size_t outlen)
{
    uint8_t n = raw_get_u8(cur);
    const uint8_t *p = raw_take(cur, n);
    size_t k = 0;
    if (p && outlen > 0) {
        k = n < outlen - 1 ? n : outlen - 1;
        memcpy(out, p, k);
    }
    if (outlen > 0)
        out[k] = '\0';
}

const uint8_t *raw_get_longstr(struct raw_cursor *cur, uint32_t *len)
{
    uint32_t n = raw_get_u32(cur);
    const uint8_t *p = raw_take(cur, n);
    *len = p ? n : 0;
    return p;
}

/* Method arguments start after class id + method id. */
static bool raw_args(const struct raw_frame *f, uint16_t class_id, uint16_t method_id,
                     struct raw_cursor *cur)
{
    if (f->type != RAW_FRAME_METHOD || f->class_id != class_id || f->method_id != method_id)
        return false;
    raw_cursor_init(cur, f->payload + 4, f->size - 4);
    return true;
}

bool raw_decode_start(const struct raw_frame *f, struct raw_start *s)
{
    struct raw_cursor cur;
    if (!raw_args(f, RAW_CONNECTION, RAW_CONNECTION_START, &cur))
        return false;
    uint32_t n;
    const uint8_t *p;
    memset(s, 0, sizeof(*s));
    s->version_major = raw_get_u8(&cur);
    s->version_minor = raw_get_u8(&cur);
    s->server_properties = raw_get_longstr(&cur, &s->server_properties_len);
    p = raw_get_longstr(&cur, &n);
    if (p) {
        size_t k = n < sizeof(s->mechanisms) - 1 ? n : sizeof(s->mechanisms) - 1;
        memcpy(s->mechanisms, p, k);
        s->mechanisms[k] = '\0';
    }
    p = raw_get_longstr(&cur, &n);
    if (p) {
        size_t k = n < sizeof(s->locales) - 1 ? n : sizeof(s->locales) - 1;
        memcpy(s->locales, p, k);
        s->locales[k] = '\0';
    }
    return !cur.bad && cur.left == 0;
}

bool raw_decode_tune(const struct raw_frame *f, struct raw_tune *t)
{
    struct raw_cursor cur;
    if (!raw_args(f, RAW_CONNECTION, RAW_CONNECTION_TUNE, &cur))
        return false;
    t->channel_max = raw_get_u16(&cur);
    t->frame_max = raw_get_u32(&cur);
    t->heartbeat = raw_get_u16(&cur);
    return !cur.bad && cur.left == 0;
}

bool raw_decode_close(const struct raw_frame *f, struct raw_close *cl)
{
    struct raw_cursor cur;
    if (!raw_args(f, RAW_CONNECTION, RAW_CONNECTION_CLOSE, &cur) &&
        !raw_args(f, RAW_CHANNEL, RAW_CHANNEL_CLOSE, &cur))
        return false;
    cl->reply_code = raw_get_u16(&cur);
    raw_get_shortstr(&cur, cl->reply_text, sizeof(cl->reply_text));
    cl->class_id = raw_get_u16(&cur);
    cl->method_id = raw_get_u16(&cur);
    return !cur.bad && cur.left == 0;
}

/* Skip one field value of the given type; false when malformed/unknown. */
static bool raw_skip_value(struct raw_cursor *cur, uint8_t type, const uint8_t **val,
                           uint32_t *val_len)
{
    size_t fixed = 0;
    switch (type) {
    case 't': case 'b': case 'B': fixed = 1; break;
    case 's': case 'u': fixed = 2; break;
    case 'I': case 'i': case 'f': fixed = 4; break;
    case 'l': case 'L': case 'd': case 'T': fixed = 8; break;
    case 'D': fixed = 5; break;
    case 'V': fixed = 0; break;
    case 'S': case 'x': case 'A': case 'F': {
        uint32_t n;
        const uint8_t *p = raw_get_longstr(cur, &n);
        if (!p && cur->bad)
            return false;
        *val = p;
        *val_len = n;
        return true;
    }
    default:
        return false;
    }
    const uint8_t *p = raw_take(cur, fixed);
    if (!p && fixed)
        return false;
    *val = p;
    *val_len = (uint32_t)fixed;
    return true;
}

bool raw_table_find(const uint8_t *tbl, uint32_t len, const char *key, uint8_t *type,
                    const uint8_t **val, uint32_t *val_len)
{
    struct raw_cursor cur;
    raw_cursor_init(&cur, tbl, len);
    while (cur.left > 0) {
        char k[256];
        raw_get_shortstr(&cur, k, sizeof(k));
        uint8_t t = raw_get_u8(&cur);
        const uint8_t *v = NULL;
        uint32_t vl = 0;
        if (cur.bad || !raw_skip_value(&cur, t, &v, &vl))
            return false;
        if (strcmp(k, key) == 0) {
            *type = t;
            *val = v;
            *val_len = vl;
            return true;
        }
    }
    return false;
}

bool raw_table_get_string(const uint8_t *tbl, uint32_t len, const char *key, char *out,
                          size_t outlen)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t vl;
    if (!raw_table_find(tbl, len, key, &t, &v, &vl) || t != 'S' || outlen == 0)
        return false;
    size_t k = vl < outlen - 1 ? vl : outlen - 1;
    memcpy(out, v, k);
    out[k] = '\0';
    return true;
}

bool raw_table_get_bool(const uint8_t *tbl, uint32_t len, const char *key, bool *out)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t vl;
    if (!raw_table_find(tbl, len, key, &t, &v, &vl) || t != 't')
        return false;
    *out = v[0] != 0;
    return true;
}

/* ---- handshake steps ------------------------------------------------------ */

int raw_send_start_ok(struct raw_conn *c, const char *mechanism, const void *response,
                      uint32_t response_len, bool caps)
{
    struct raw_buf a;
    raw_buf_init(&a);
    size_t props = raw_table_begin(&a);
    raw_table_put_longstr(&a, "product", "edad-conformance");
    raw_table_put_longstr(&a, "platform", "C");
    if (caps) {
        size_t cap = raw_table_put_table_begin(&a, "capabilities");
        raw_table_put_bool(&a, "authentication_failure_close", true);
        raw_table_put_bool(&a, "basic.nack", true);
        raw_table_put_bool(&a, "connection.blocked", true);
        raw_table_put_bool(&a, "consumer_cancel_notify", true);
        raw_table_put_bool(&a, "publisher_confirms", true);
        raw_table_end(&a, cap);
    }
    raw_table_end(&a, props);
    raw_put_shortstr(&a, mechanism);
    raw_put_longstr(&a, response, response_len);
    raw_put_shortstr(&a, "en_US");
    int rc = raw_send_method(c, 0, RAW_CONNECTION, RAW_CONNECTION_START_OK, &a);
    raw_buf_free(&a);
    return rc;
}

int raw_send_start_ok_plain(struct raw_conn *c, const char *user, const char *pass, bool caps)
{
    struct raw_buf r;
    raw_buf_init(&r);
    raw_put_u8(&r, 0);
    raw_put_bytes(&r, user, strlen(user));
    raw_put_u8(&r, 0);
    raw_put_bytes(&r, pass, strlen(pass));
    int rc = raw_send_start_ok(c, "PLAIN", r.data, (uint32_t)r.len, caps);
    raw_buf_free(&r);
    return rc;
}

int raw_send_tune_ok(struct raw_conn *c, uint16_t channel_max, uint32_t frame_max,
                     uint16_t heartbeat)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, channel_max);
    raw_put_u32(&a, frame_max);
    raw_put_u16(&a, heartbeat);
    int rc = raw_send_method(c, 0, RAW_CONNECTION, RAW_CONNECTION_TUNE_OK, &a);
    raw_buf_free(&a);
    return rc;
}

int raw_send_connection_open(struct raw_conn *c, const char *vhost)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_shortstr(&a, vhost);
    raw_put_shortstr(&a, "");  /* reserved-1 (capabilities) */
    raw_put_u8(&a, 0);         /* reserved-2 (insist) */
    int rc = raw_send_method(c, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN, &a);
    raw_buf_free(&a);
    return rc;
}

int raw_send_close(struct raw_conn *c, uint16_t channel, uint16_t class_id, uint16_t code,
                   const char *text)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, code);
    raw_put_shortstr(&a, text);
    raw_put_u16(&a, 0);
    raw_put_u16(&a, 0);
    int rc = raw_send_method(c, channel, class_id,
                             class_id == RAW_CONNECTION ? RAW_CONNECTION_CLOSE : RAW_CHANNEL_CLOSE,
                             &a);
    raw_buf_free(&a);
    return rc;
}

int raw_send_close_ok(struct raw_conn *c, uint16_t channel, uint16_t class_id)
{
    return raw_send_method(c, channel, class_id,
                           class_id == RAW_CONNECTION ? RAW_CONNECTION_CLOSE_OK
                                                      : RAW_CHANNEL_CLOSE_OK,
                           NULL);
}

int raw_send_channel_open(struct raw_conn *c, uint16_t channel)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_shortstr(&a, ""); /* reserved-1 (out-of-band) */
    int rc = raw_send_method(c, channel, RAW_CHANNEL, RAW_CHANNEL_OPEN, &a);
    raw_buf_free(&a);
    return rc;
}

/* Describe why an expected method did not arrive. */
static void raw_explain(enum raw_rc rc, struct raw_frame *f, const char *want, char *err,
                        size_t errlen)
{
    char d[400];
    switch (rc) {
    case RAW_EOF:
        snprintf(err, errlen, "waiting for %s: server closed the connection", want);
        break;
    case RAW_TIMEOUT:
        snprintf(err, errlen, "waiting for %s: timed out", want);
        break;
    case RAW_BAD:
        snprintf(err, errlen, "waiting for %s: got %s", want,
                 f->payload ? raw_frame_describe(f, d, sizeof(d)) : "an invalid frame");
        break;
    default:
        snprintf(err, errlen, "waiting for %s: socket error", want);
        break;
    }
}

bool raw_handshake(struct raw_conn *c, const char *user, const char *pass, uint16_t heartbeat,
                   struct raw_tune *tune_out, char *err, size_t errlen)
{
    struct raw_frame f;
    struct raw_tune tune;
    enum raw_rc rc;

    if (raw_send_protocol_header(c) != 0) {
        snprintf(err, errlen, "sending the protocol header failed");
        return false;
    }
    rc = raw_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_START, 5000);
    if (rc != RAW_OK) {
        raw_explain(rc, &f, "connection.start", err, errlen);
        raw_frame_free(&f);
        return false;
    }
    raw_frame_free(&f);
    raw_send_start_ok_plain(c, user, pass, true);
    rc = raw_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_TUNE, 5000);
    if (rc != RAW_OK || !raw_decode_tune(&f, &tune)) {
        raw_explain(rc == RAW_OK ? RAW_BAD : rc, &f, "connection.tune", err, errlen);
        raw_frame_free(&f);
        return false;
    }
    raw_frame_free(&f);
    if (tune_out)
        *tune_out = tune;
    raw_send_tune_ok(c, tune.channel_max, tune.frame_max, heartbeat);
    raw_send_connection_open(c, "/");
    rc = raw_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK, 5000);
    if (rc != RAW_OK) {
        raw_explain(rc, &f, "connection.open-ok", err, errlen);
        raw_frame_free(&f);
        return false;
    }
    raw_frame_free(&f);
    c->frame_max = tune.frame_max;
    return true;
}

bool raw_channel_open(struct raw_conn *c, uint16_t channel, char *err, size_t errlen)
{
    struct raw_frame f;
    if (raw_send_channel_open(c, channel) != 0) {
        snprintf(err, errlen, "sending channel.open failed");
        return false;
    }
    enum raw_rc rc = raw_expect_method(c, &f, channel, RAW_CHANNEL, RAW_CHANNEL_OPEN_OK, 5000);
    if (rc != RAW_OK) {
        raw_explain(rc, &f, "channel.open-ok", err, errlen);
        raw_frame_free(&f);
        return false;
    }
    raw_frame_free(&f);
    return true;
}

enum raw_rc raw_expect_connection_close(struct raw_conn *c, struct raw_close *cl,
                                        int timeout_ms, unsigned *skipped)
{
    int64_t deadline = raw_now_ms() + timeout_ms;
    if (skipped)
        *skipped = 0;
    for (;;) {
        struct raw_frame f;
        int64_t left = deadline - raw_now_ms();
        enum raw_rc rc = raw_read_frame(c, &f, left > 0 ? (int)left : 0);
        if (rc == RAW_BAD) {
            raw_frame_free(&f);
            return RAW_BAD;
        }
        if (rc != RAW_OK)
            return rc;
        if (raw_frame_is(&f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE)) {
            bool ok = raw_decode_close(&f, cl);
            raw_frame_free(&f);
            return ok ? RAW_OK : RAW_BAD;
        }
        if (skipped && f.type != RAW_FRAME_HEARTBEAT)
            (*skipped)++;
        raw_frame_free(&f);
    }
}
