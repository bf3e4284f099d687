/*
 * client.c - edad-perf's AMQP 0-9-1 client side: big-endian encoder, an
 * in-place frame parser over one large read buffer, the handshake and the
 * few synchronous methods the modes need, plus the latency histogram and
 * /proc helpers.  Blocking sockets, one connection per thread; not a
 * general purpose client (no heartbeats, no channel other than 1).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "perf.h"

#define RBUF_MIN (1u << 20)
#define FRAME_MAX_WANT 131072u

/* ---- encoder ------------------------------------------------------------- */

void pbuf_reserve(struct pbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "edad-perf: out of memory\n");
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void pbuf_free(struct pbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void pb_u8(struct pbuf *b, uint8_t v)
{
    pbuf_reserve(b, 1);
    b->p[b->len++] = v;
}

void pb_u16(struct pbuf *b, uint16_t v)
{
    pbuf_reserve(b, 2);
    b->p[b->len++] = (uint8_t)(v >> 8);
    b->p[b->len++] = (uint8_t)v;
}

void pb_u32(struct pbuf *b, uint32_t v)
{
    pbuf_reserve(b, 4);
    for (int i = 3; i >= 0; i--)
        b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

void pb_u64(struct pbuf *b, uint64_t v)
{
    pbuf_reserve(b, 8);
    for (int i = 7; i >= 0; i--)
        b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

void pb_mem(struct pbuf *b, const void *p, size_t n)
{
    pbuf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void pb_sstr(struct pbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 255)
        n = 255;
    pb_u8(b, (uint8_t)n);
    pb_mem(b, s, n);
}

void pb_lstr(struct pbuf *b, const void *p, uint32_t n)
{
    pb_u32(b, n);
    pb_mem(b, p, n);
}

size_t pb_frame_begin(struct pbuf *b, uint8_t type, uint16_t channel)
{
    size_t start = b->len;
    pb_u8(b, type);
    pb_u16(b, channel);
    pb_u32(b, 0);
    return start;
}

void pb_frame_end(struct pbuf *b, size_t start)
{
    uint32_t size = (uint32_t)(b->len - start - 7);
    uint8_t *s = b->p + start + 3;
    s[0] = (uint8_t)(size >> 24);
    s[1] = (uint8_t)(size >> 16);
    s[2] = (uint8_t)(size >> 8);
    s[3] = (uint8_t)size;
    pb_u8(b, 0xCE);
}

size_t pb_method_begin(struct pbuf *b, uint16_t channel, uint32_t id)
{
    size_t start = pb_frame_begin(b, 1, channel);
    pb_u32(b, id);
    return start;
}

/* ---- reader ----------------------------------------------------------------- */

uint8_t pr_u8(struct preader *r)
{
    if (r->end - r->p < 1)
        return 0;
    return *r->p++;
}

uint16_t pr_u16(struct preader *r)
{
    if (r->end - r->p < 2) {
        r->p = r->end;
        return 0;
    }
    uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

uint32_t pr_u32(struct preader *r)
{
    if (r->end - r->p < 4) {
        r->p = r->end;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return v;
}

uint64_t pr_u64(struct preader *r)
{
    uint64_t hi = pr_u32(r);
    return hi << 32 | pr_u32(r);
}

void pr_sstr(struct preader *r, char *out, size_t outsz)
{
    size_t n = pr_u8(r);
    if ((size_t)(r->end - r->p) < n)
        n = (size_t)(r->end - r->p);
    size_t c = n < outsz - 1 ? n : outsz - 1;
    memcpy(out, r->p, c);
    out[c] = '\0';
    r->p += n;
}

void pr_skip_lstr(struct preader *r)
{
    uint32_t n = pr_u32(r);
    if ((size_t)(r->end - r->p) < n)
        n = (uint32_t)(r->end - r->p);
    r->p += n;
}

/* ---- connection ------------------------------------------------------------ */

static void set_err(struct pconn *c, const char *fmt, const char *detail)
{
    if (c->err[0])
        return;
    snprintf(c->err, sizeof(c->err), fmt, detail);
}

bool ptarget_parse(struct ptarget *t, const char *uri)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->host, sizeof(t->host), "127.0.0.1");
    t->port = 5672;
    snprintf(t->vhost, sizeof(t->vhost), "/");
    snprintf(t->user, sizeof(t->user), "guest");
    snprintf(t->pass, sizeof(t->pass), "guest");
    if (!uri || !*uri)
        return true;
    const char *p = uri;
    if (strncmp(p, "amqp://", 7) == 0)
        p += 7;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = (size_t)((colon ? colon : at) - p);
        if (ul >= sizeof(t->user))
            return false;
        memcpy(t->user, p, ul);
        t->user[ul] = '\0';
        if (colon) {
            size_t pl = (size_t)(at - colon - 1);
            if (pl >= sizeof(t->pass))
                return false;
            memcpy(t->pass, colon + 1, pl);
            t->pass[pl] = '\0';
        }
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[256];
    if (hl >= sizeof(hostport))
        return false;
    memcpy(hostport, p, hl);
    hostport[hl] = '\0';
    char *colon = strrchr(hostport, ':');
    if (colon) {
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535)
            return false;
        t->port = (uint16_t)port;
    }
    if (hostport[0])
        snprintf(t->host, sizeof(t->host), "%s", hostport);
    if (slash && slash[1]) {
        /* %2f is "/" */
        const char *v = slash + 1;
        if (strcasecmp(v, "%2f") == 0)
            snprintf(t->vhost, sizeof(t->vhost), "/");
        else
            snprintf(t->vhost, sizeof(t->vhost), "%s", v);
    }
    return true;
}

void pconn_set_timeout(struct pconn *c, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int connect_timeout(struct pconn *c, const struct ptarget *t, int timeout_ms)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(t->host, port, &hints, &ai);
    if (rc != 0) {
        set_err(c, "resolve: %s", gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_err(c, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        rc = poll(&pfd, 1, timeout_ms);
        if (rc == 1) {
            int e = 0;
            socklen_t l = sizeof(e);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
            errno = e;
            rc = e ? -1 : 0;
        } else {
            errno = rc == 0 ? ETIMEDOUT : errno;
            rc = -1;
        }
    }
    if (rc != 0) {
        set_err(c, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    return 0;
}

long pconn_fill(struct pconn *c, bool dontwait)
{
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    } else if (c->rpos > 0 && (c->rcap - c->rlen < c->rcap / 4 || c->rpos > c->rcap / 2)) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == c->rcap) {
        c->rcap *= 2;
        c->rbuf = realloc(c->rbuf, c->rcap);
        if (!c->rbuf)
            abort();
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, dontwait ? MSG_DONTWAIT : 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return n;
        }
        if (n == 0) {
            set_err(c, "%s", "connection closed by the broker");
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        set_err(c, "read: %s", strerror(errno));
        return -1;
    }
}

int pconn_next(struct pconn *c, struct pframe *f)
{
    size_t avail = c->rlen - c->rpos;
    if (avail < 7)
        return 0;
    const uint8_t *h = c->rbuf + c->rpos;
    if (h[0] == 'A' && c->rpos == 0) {
        set_err(c, "%s", "broker refused the protocol header (version mismatch)");
        return -1;
    }
    uint32_t size = (uint32_t)h[3] << 24 | (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
    if ((uint64_t)size + 8 > (uint64_t)c->rcap * 4 && size > (64u << 20)) {
        set_err(c, "%s", "frame too large");
        return -1;
    }
    if (avail < (size_t)size + 8) {
        if ((size_t)size + 8 > c->rcap) {
            size_t cap = c->rcap;
            while (cap < (size_t)size + 8)
                cap *= 2;
            memmove(c->rbuf, c->rbuf + c->rpos, avail);
            c->rpos = 0;
            c->rlen = avail;
            c->rbuf = realloc(c->rbuf, cap);
            if (!c->rbuf)
                abort();
            c->rcap = cap;
        }
        return 0;
    }
    if (h[7 + size] != 0xCE) {
        set_err(c, "%s", "bad frame-end octet");
        return -1;
    }
    f->type = h[0];
    f->channel = (uint16_t)(h[1] << 8 | h[2]);
    f->size = size;
    f->payload = h + 7;
    f->method = 0;
    if (f->type == 1 && size >= 4)
        f->method = (uint32_t)h[7] << 24 | (uint32_t)h[8] << 16 | (uint32_t)h[9] << 8 | h[10];
    c->rpos += (size_t)size + 8;
    return 1;
}

int pconn_read_frame(struct pconn *c, struct pframe *f, const atomic_bool *stop)
{
    for (;;) {
        int r = pconn_next(c, f);
        if (r != 0)
            return r == 1 ? 0 : -1;
        long n = pconn_fill(c, false);
        if (n < 0)
            return -1;
        if (n == 0) {
            if (!stop || atomic_load_explicit(stop, memory_order_relaxed)) {
                set_err(c, "%s", "timed out waiting for the broker");
                return -1;
            }
        }
    }
}

int pconn_write(struct pconn *c, const uint8_t *buf, size_t len, const atomic_bool *stop)
{
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (stop && !atomic_load_explicit(stop, memory_order_relaxed))
                continue;
            set_err(c, "%s", stop ? "stopped" : "write timed out");
            return -1;
        }
        set_err(c, "write: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int pconn_flush(struct pconn *c, const atomic_bool *stop)
{
    int rc = pconn_write(c, c->out.p, c->out.len, stop);
    c->out.len = 0;
    return rc;
}

/* Remember the server's close reason; answer with close-ok. */
static void on_close(struct pconn *c, const struct pframe *f, int *reply_code)
{
    struct preader r = {f->payload + 4, f->payload + f->size};
    uint16_t code = pr_u16(&r);
    char text[200];
    pr_sstr(&r, text, sizeof(text));
    uint16_t cls = pr_u16(&r), mth = pr_u16(&r);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s %u %s (method %u.%u)",
             f->method == PM_CONN_CLOSE ? "connection.close" : "channel.close", code, text, cls, mth);
    set_err(c, "%s", msg);
    if (reply_code)
        *reply_code = code;
    size_t s = pb_method_begin(&c->out, f->channel,
                               f->method == PM_CONN_CLOSE ? PM_CONN_CLOSE_OK : PM_CH_CLOSE_OK);
    pb_frame_end(&c->out, s);
    pconn_flush(c, NULL);
}

int pconn_rpc(struct pconn *c, uint32_t want, struct pframe *f, int *reply_code)
{
    if (c->out.len && pconn_flush(c, NULL) != 0)
        return -1;
    for (;;) {
        if (pconn_read_frame(c, f, NULL) != 0)
            return -1;
        if (f->type != 1)
            continue;
        if (f->method == want)
            return 0;
        if (f->method == PM_CONN_CLOSE || f->method == PM_CH_CLOSE) {
            on_close(c, f, reply_code);
            return -1;
        }
        if (f->method == PM_CONN_BLOCKED)
            c->blocked = true;
        else if (f->method == PM_CONN_UNBLOCKED)
            c->blocked = false;
    }
}

int pconn_open(struct pconn *c, const struct ptarget *t, int timeout_ms, bool open_channel)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (connect_timeout(c, t, timeout_ms) != 0)
        return -1;
    c->rcap = 64 * 1024;
    c->rbuf = malloc(c->rcap);
    if (!c->rbuf)
        abort();
    pconn_set_timeout(c, timeout_ms);
    struct pframe f;
    static const uint8_t header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    if (pconn_write(c, header, sizeof(header), NULL) != 0)
        goto fail;
    if (pconn_rpc(c, PM_CONN_START, &f, NULL) != 0)
        goto fail;

    size_t s = pb_method_begin(&c->out, 0, PM_CONN_START_OK);
    struct pbuf props = {0};
    pb_sstr(&props, "product");
    pb_u8(&props, 'S');
    pb_lstr(&props, "edad-perf", 9);
    pb_sstr(&props, "capabilities");
    pb_u8(&props, 'F');
    struct pbuf caps = {0};
    static const char *const capnames[] = {"publisher_confirms", "basic.nack", "connection.blocked",
                                           "consumer_cancel_notify"};
    for (size_t i = 0; i < sizeof(capnames) / sizeof(capnames[0]); i++) {
        pb_sstr(&caps, capnames[i]);
        pb_u8(&caps, 't');
        pb_u8(&caps, 1);
    }
    pb_lstr(&props, caps.p, (uint32_t)caps.len);
    pb_lstr(&c->out, props.p, (uint32_t)props.len);
    pbuf_free(&caps);
    pbuf_free(&props);
    pb_sstr(&c->out, "PLAIN");
    char resp[300];
    int rl = snprintf(resp, sizeof(resp), "%c%s%c%s", 0, t->user, 0, t->pass);
    pb_lstr(&c->out, resp, (uint32_t)rl);
    pb_sstr(&c->out, "en_US");
    pb_frame_end(&c->out, s);
    if (pconn_rpc(c, PM_CONN_TUNE, &f, NULL) != 0)
        goto fail;
    struct preader r = {f.payload + 4, f.payload + f.size};
    uint16_t chmax = pr_u16(&r);
    uint32_t fmax = pr_u32(&r);
    c->frame_max = fmax == 0 || fmax > FRAME_MAX_WANT ? FRAME_MAX_WANT : fmax;
    s = pb_method_begin(&c->out, 0, PM_CONN_TUNE_OK);
    pb_u16(&c->out, chmax ? chmax : 2047);
    pb_u32(&c->out, c->frame_max);
    pb_u16(&c->out, 0);
    pb_frame_end(&c->out, s);
    s = pb_method_begin(&c->out, 0, PM_CONN_OPEN);
    pb_sstr(&c->out, t->vhost);
    pb_sstr(&c->out, "");
    pb_u8(&c->out, 0);
    pb_frame_end(&c->out, s);
    if (pconn_rpc(c, PM_CONN_OPEN_OK, &f, NULL) != 0)
        goto fail;
    if (open_channel) {
        s = pb_method_begin(&c->out, 1, PM_CH_OPEN);
        pb_sstr(&c->out, "");
        pb_frame_end(&c->out, s);
        if (pconn_rpc(c, PM_CH_OPEN_OK, &f, NULL) != 0)
            goto fail;
    }
    if (c->rcap < RBUF_MIN || c->rcap < 2 * (size_t)c->frame_max) {
        size_t cap = RBUF_MIN > 2 * (size_t)c->frame_max ? RBUF_MIN : 2 * (size_t)c->frame_max;
        c->rbuf = realloc(c->rbuf, cap);
        if (!c->rbuf)
            abort();
        c->rcap = cap;
    }
    return 0;

fail:
    close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    pbuf_free(&c->out);
    return -1;
}

void pconn_close(struct pconn *c)
{
    if (c->fd >= 0) {
        pconn_set_timeout(c, 1000);
        c->out.len = 0;
        size_t s = pb_method_begin(&c->out, 0, PM_CONN_CLOSE);
        pb_u16(&c->out, 200);
        pb_sstr(&c->out, "bye");
        pb_u16(&c->out, 0);
        pb_u16(&c->out, 0);
        pb_frame_end(&c->out, s);
        char keep[sizeof(c->err)];
        memcpy(keep, c->err, sizeof(keep));
        struct pframe f;
        /* Deliveries may still be in flight: read (and drop) up to 1 s. */
        if (pconn_flush(c, NULL) == 0) {
            uint64_t deadline = perf_now_ns() + 1000000000ull;
            while (perf_now_ns() < deadline) {
                if (pconn_read_frame(c, &f, NULL) != 0)
                    break;
                if (f.method == PM_CONN_CLOSE_OK)
                    break;
            }
        }
        memcpy(c->err, keep, sizeof(keep));
        close(c->fd);
        c->fd = -1;
    }
    free(c->rbuf);
    c->rbuf = NULL;
    pbuf_free(&c->out);
}

int pconn_queue_declare(struct pconn *c, const char *name, bool passive, bool durable,
                        bool exclusive, bool auto_delete, uint32_t *messages, uint32_t *consumers)
{
    size_t s = pb_method_begin(&c->out, 1, PM_Q_DECLARE);
    pb_u16(&c->out, 0);
    pb_sstr(&c->out, name);
    pb_u8(&c->out, (uint8_t)(passive | durable << 1 | exclusive << 2 | auto_delete << 3));
    pb_u32(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    if (pconn_rpc(c, PM_Q_DECLARE_OK, &f, NULL) != 0)
        return -1;
    struct preader r = {f.payload + 4, f.payload + f.size};
    char qn[256];
    pr_sstr(&r, qn, sizeof(qn));
    uint32_t m = pr_u32(&r), k = pr_u32(&r);
    if (messages)
        *messages = m;
    if (consumers)
        *consumers = k;
    return 0;
}

int pconn_exchange_declare(struct pconn *c, const char *name, const char *type, bool durable)
{
    size_t s = pb_method_begin(&c->out, 1, PM_EX_DECLARE);
    pb_u16(&c->out, 0);
    pb_sstr(&c->out, name);
    pb_sstr(&c->out, type);
    pb_u8(&c->out, (uint8_t)(durable << 1));
    pb_u32(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    return pconn_rpc(c, PM_EX_DECLARE_OK, &f, NULL);
}

int pconn_queue_bind(struct pconn *c, const char *queue, const char *exchange, const char *key)
{
    size_t s = pb_method_begin(&c->out, 1, PM_Q_BIND);
    pb_u16(&c->out, 0);
    pb_sstr(&c->out, queue);
    pb_sstr(&c->out, exchange);
    pb_sstr(&c->out, key);
    pb_u8(&c->out, 0);
    pb_u32(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    return pconn_rpc(c, PM_Q_BIND_OK, &f, NULL);
}

int pconn_queue_delete(struct pconn *c, const char *name, uint32_t *messages)
{
    size_t s = pb_method_begin(&c->out, 1, PM_Q_DELETE);
    pb_u16(&c->out, 0);
    pb_sstr(&c->out, name);
    pb_u8(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    if (pconn_rpc(c, PM_Q_DELETE_OK, &f, NULL) != 0)
        return -1;
    struct preader r = {f.payload + 4, f.payload + f.size};
    uint32_t m = pr_u32(&r);
    if (messages)
        *messages = m;
    return 0;
}

int pconn_qos(struct pconn *c, uint16_t prefetch)
{
    size_t s = pb_method_begin(&c->out, 1, PM_B_QOS);
    pb_u32(&c->out, 0);
    pb_u16(&c->out, prefetch);
    pb_u8(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    return pconn_rpc(c, PM_B_QOS_OK, &f, NULL);
}

int pconn_consume(struct pconn *c, const char *queue, bool no_ack)
{
    size_t s = pb_method_begin(&c->out, 1, PM_B_CONSUME);
    pb_u16(&c->out, 0);
    pb_sstr(&c->out, queue);
    pb_sstr(&c->out, "");
    pb_u8(&c->out, (uint8_t)(no_ack << 1));
    pb_u32(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    return pconn_rpc(c, PM_B_CONSUME_OK, &f, NULL);
}

int pconn_confirm_select(struct pconn *c)
{
    size_t s = pb_method_begin(&c->out, 1, PM_CF_SELECT);
    pb_u8(&c->out, 0);
    pb_frame_end(&c->out, s);
    struct pframe f;
    return pconn_rpc(c, PM_CF_SELECT_OK, &f, NULL);
}

void pconn_put_ack(struct pconn *c, uint64_t tag, bool multiple)
{
    size_t s = pb_method_begin(&c->out, 1, PM_B_ACK);
    pb_u64(&c->out, tag);
    pb_u8(&c->out, multiple ? 1 : 0);
    pb_frame_end(&c->out, s);
}

/* ---- histogram ---------------------------------------------------------------
 * Log-linear: values < 64 ns exact, then 32 sub-buckets per power of two
 * (about 3% resolution) up to 2^45 ns. */

static unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* >= 6 */
    unsigned sub = (unsigned)(v >> (e - 5)) & 31u;
    unsigned idx = 64u + (e - 6u) * 32u + sub;
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned e = (idx - 64u) / 32u + 6u, sub = (idx - 64u) % 32u;
    uint64_t lo = (1ull << e) | ((uint64_t)sub << (e - 5));
    return lo + (1ull << (e - 6));   /* middle of the bucket */
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->n[hist_index(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->n[i] += src->n[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->count);
    if (want >= h->count)
        return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen > want) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- misc ----------------------------------------------------------------- */

uint64_t perf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long perf_rss_kib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(fp);
    return kib;
}

/* Inode of a socket listening on port in /proc/net/tcp{,6}, or 0. */
static unsigned long listen_inode(uint16_t port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t i = 0; i < 2; i++) {
        FILE *fp = fopen(files[i], "r");
        if (!fp)
            continue;
        char line[512];
        unsigned long found = 0;
        while (!found && fgets(line, sizeof(line), fp)) {
            char local[128], remote[128];
            unsigned st;
            unsigned long inode;
            if (sscanf(line, " %*d: %127s %127s %x %*s %*s %*s %*s %*s %lu", local, remote, &st,
                       &inode) != 4)
                continue;
            char *colon = strrchr(local, ':');
            if (st == 0x0A && colon && strtoul(colon + 1, NULL, 16) == port)
                found = inode;
        }
        fclose(fp);
        if (found)
            return found;
    }
    return 0;
}

long perf_pid_of_port(uint16_t port)
{
    unsigned long inode = listen_inode(port);
    if (!inode)
        return -1;
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    long pid = -1;
    struct dirent *de;
    while (pid < 0 && (de = readdir(proc))) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (*end || p <= 0)
            continue;
        char dpath[64];
        snprintf(dpath, sizeof(dpath), "/proc/%ld/fd", p);
        DIR *fds = opendir(dpath);
        if (!fds)
            continue;
        struct dirent *fe;
        while ((fe = readdir(fds))) {
            char lpath[340], target[64];
            snprintf(lpath, sizeof(lpath), "%s/%s", dpath, fe->d_name);
            ssize_t n = readlink(lpath, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                pid = p;
                break;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return pid;
}
