/*
 * transport.c - one accepted socket as a byte transport over a libevent
 * bufferevent: bounded input, batched output with a high watermark that
 * pauses reading (le-proxy's backpressure), and close-after-flush where the
 * memory is released from the loop, never inside the owner's call.
 * A TLS listener's transports use tls.c's bufferevent instead; the
 * rest is the same.  Knows nothing about what the bytes mean.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net_priv.h"

/* Bytes one read()/write() may move; large enough to batch many frames. */
#define TRANSPORT_MAX_SINGLE_IO (256 * 1024)
/* TLS: output is handed to OpenSSL in pieces of up to one full record. */
#define TRANSPORT_TLS_RECORD (16 * 1024)

struct net_transport {
    struct net_loop *loop;
    struct bufferevent *bev;
    struct event *close_ev;          /* deferred free / flush deadline */
    const struct net_transport_handler *h;
    void *ctx;
    struct net_transport_opts opts;
    struct net_tls *tls;             /* TLS context, NULL for plain TCP */
    struct event *tls_flush_ev;      /* TLS: hands the turn's output to OpenSSL */
    struct evbuffer *tls_tmp;        /* TLS: scratch for regrouping output */
    struct evbuffer_iovec reserved;  /* current output reservation */
    uint64_t bytes_queued;
    uint64_t bytes_consumed;         /* input drained (owner or closing) */
    uint64_t reads;                  /* read callbacks: input arrivals */
    uint64_t deadline_ms;            /* flush deadline while closing */
    bool has_reservation;
    bool owner_paused;               /* net_transport_pause_read() */
    bool output_paused;              /* output above the high watermark */
    bool reading;                    /* EV_READ currently enabled */
    bool closing;                    /* net_transport_close() was called */
    bool finishing;                  /* close_ev armed to free now */
    bool eof;                        /* peer gone or socket error */
    bool loopback;
    bool tls_ready;                  /* TLS handshake completed */
    bool tls_flush_pending;          /* tls_flush_ev is active */
    bool tls_writing;                /* EV_WRITE on until the output is empty */
    char peer[64];
    char local[64];
};

static void transport_update_read(struct net_transport *t)
{
    bool want = !t->closing && !t->eof && !t->owner_paused && !t->output_paused;
    if (want == t->reading)
        return;
    t->reading = want;
    if (want)
        bufferevent_enable(t->bev, EV_READ);
    else
        bufferevent_disable(t->bev, EV_READ);
}

/* Process-wide byte counters of every transport, open or closed (the
   loop's thread only).  Input counts when drained, output when queued. */
static uint64_t total_received, total_sent;

/* Free the transport from the loop: schedule close_ev to fire now. */
static void transport_finish_soon(struct net_transport *t)
{
    if (t->finishing)
        return;
    t->finishing = true;
    event_del(t->close_ev);
    event_active(t->close_ev, EV_TIMEOUT, 0);
}

static void transport_close_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    const struct net_transport_handler *h = t->h;
    void *ctx = t->ctx;

    total_received += evbuffer_get_length(bufferevent_get_input(t->bev));
    bufferevent_free(t->bev);   /* closes the socket, runs add_ref cleanups */
    event_free(t->close_ev);
    if (t->tls_flush_ev)
        event_free(t->tls_flush_ev);
    if (t->tls_tmp)
        evbuffer_free(t->tls_tmp);
    t->loop->n_transports--;
    free(t);
    if (h && h->on_closed)
        h->on_closed(ctx);
}

/*
 * TLS output.  OpenSSL's bufferevent writes as soon as bytes are added,
 * one TLS record and one write() per add: a delivery would cost several
 * records and syscalls.  So a TLS transport keeps EV_WRITE off while idle;
 * what one loop turn queues is regrouped into record-sized pieces and
 * handed over at once by tls_flush_ev, and EV_WRITE stays on until the
 * output is empty again.
 */
static void transport_tls_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    t->tls_flush_pending = false;
    if (t->finishing || t->tls_writing)
        return;
    struct evbuffer *out = bufferevent_get_output(t->bev);
    size_t len = evbuffer_get_length(out);
    if (len == 0)
        return;
    /* more pieces than full records would need: regroup (one copy) */
    if ((size_t)evbuffer_peek(out, -1, NULL, NULL, 0) > 1 + len / TRANSPORT_TLS_RECORD) {
        if (!t->tls_tmp)
            t->tls_tmp = evbuffer_new();
        if (t->tls_tmp && evbuffer_add_buffer(t->tls_tmp, out) == 0) {
            size_t n;
            while ((n = evbuffer_get_length(t->tls_tmp)) > 0) {
                if (n > TRANSPORT_TLS_RECORD)
                    n = TRANSPORT_TLS_RECORD;
                evbuffer_pullup(t->tls_tmp, (ev_ssize_t)n);
                evbuffer_remove_buffer(t->tls_tmp, out, n);
            }
        }
    }
    t->tls_writing = true;
    bufferevent_enable(t->bev, EV_WRITE);
}

static void transport_tls_output_added(struct net_transport *t)
{
    if (t->tls_writing || t->tls_flush_pending)
        return;
    t->tls_flush_pending = true;
    event_active(t->tls_flush_ev, EV_TIMEOUT, 0);
}

/* Output grew: pause reading above the high watermark. */
static void transport_check_output(struct net_transport *t)
{
    if (t->tls)
        transport_tls_output_added(t);
    if (t->output_paused || t->opts.output_high_water == 0)
        return;
    if (evbuffer_get_length(bufferevent_get_output(t->bev)) > t->opts.output_high_water) {
        t->output_paused = true;
        /* the write callback fires once output is down to half */
        bufferevent_setwatermark(t->bev, EV_WRITE, t->opts.output_high_water / 2, 0);
        transport_update_read(t);
    }
}

static void transport_read_cb(struct bufferevent *bev, void *arg)
{
    struct net_transport *t = arg;
    t->reads++;
    if (t->closing) {
        struct evbuffer *in = bufferevent_get_input(bev);
        size_t n = evbuffer_get_length(in);
        evbuffer_drain(in, n);
        t->bytes_consumed += n;
        total_received += n;
        return;
    }
    if (t->h && t->h->on_read)
        t->h->on_read(t->ctx);
}

static void transport_write_cb(struct bufferevent *bev, void *arg)
{
    struct net_transport *t = arg;
    size_t len = evbuffer_get_length(bufferevent_get_output(bev));
    if (t->tls_writing && len == 0 && !t->closing) {
        t->tls_writing = false;
        bufferevent_disable(t->bev, EV_WRITE);
    }
    if (t->closing) {
        if (len == 0)
            transport_finish_soon(t);
        return;
    }
    if (t->output_paused && len <= t->opts.output_high_water / 2) {
        t->output_paused = false;
        bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
        transport_update_read(t);
        if (t->h && t->h->on_drained)
            t->h->on_drained(t->ctx);
    }
}

static void transport_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct net_transport *t = arg;
    if ((what & BEV_EVENT_CONNECTED) && t->tls && !t->tls_ready) {
        t->tls_ready = true;
        net_tls_handshake_done(t->tls);
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    const char *reason = "connection closed by peer";
    if (t->tls && !t->tls_ready && !t->closing)
        reason = net_tls_handshake_failed(t->tls, bev, t->peer);
    else if ((what & BEV_EVENT_ERROR) && t->tls)
        reason = net_tls_error_reason(bev);
    else if (what & BEV_EVENT_ERROR)
        reason = strerror(EVUTIL_SOCKET_ERROR());
    bool was_eof = t->eof;
    t->eof = true;
    transport_update_read(t);
    if (t->closing) {
        transport_finish_soon(t);
        return;
    }
    if (!was_eof && t->h && t->h->on_eof)
        t->h->on_eof(t->ctx, reason);
}

void net_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
            snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
            snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
        }
    } else {
        snprintf(buf, len, "?");
    }
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

struct net_transport *net_transport_new_fd(struct net_loop *loop, evutil_socket_t fd,
                                           const struct net_transport_opts *opts)
{
    struct net_transport *t = xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->opts = *opts;
    if (t->opts.read_high_water == 0)
        t->opts.read_high_water = 64 * 1024;

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        net_format_sockaddr((struct sockaddr *)&ss, t->peer, sizeof(t->peer));
        t->loopback = sockaddr_is_loopback((struct sockaddr *)&ss);
    } else {
        snprintf(t->peer, sizeof(t->peer), "?");
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        net_format_sockaddr((struct sockaddr *)&ss, t->local, sizeof(t->local));
    else
        snprintf(t->local, sizeof(t->local), "?");

    if (opts->tcp_nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }

    t->tls = opts->tls;
    if (t->tls)
        t->bev = net_tls_bufferevent_new(t->tls, loop->base, fd);
    else
        t->bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
    t->close_ev = evtimer_new(loop->base, transport_close_cb, t);
    if (!t->bev || !t->close_ev)
        abort();
    bufferevent_set_max_single_read(t->bev, TRANSPORT_MAX_SINGLE_IO);
    bufferevent_set_max_single_write(t->bev, TRANSPORT_MAX_SINGLE_IO);
    bufferevent_setwatermark(t->bev, EV_READ, 0, t->opts.read_high_water);
    bufferevent_setcb(t->bev, transport_read_cb, transport_write_cb, transport_event_cb, t);
    bufferevent_disable(t->bev, EV_READ);
    if (t->tls) {
        /* written once per loop turn: see transport_tls_flush_cb */
        bufferevent_disable(t->bev, EV_WRITE);
        t->tls_flush_ev = event_new(loop->base, -1, 0, transport_tls_flush_cb, t);
        if (!t->tls_flush_ev)
            abort();
    } else {
        bufferevent_enable(t->bev, EV_WRITE);
    }
    loop->n_transports++;
    return t;
}

void net_transport_start(struct net_transport *t, const struct net_transport_handler *h,
                         void *ctx)
{
    t->h = h;
    t->ctx = ctx;
    transport_update_read(t);
}

struct net_loop *net_transport_loop(struct net_transport *t)
{
    return t->loop;
}

size_t net_transport_input_len(struct net_transport *t)
{
    return evbuffer_get_length(bufferevent_get_input(t->bev));
}

size_t net_transport_input_peek(struct net_transport *t, void *dst, size_t n)
{
    ev_ssize_t got = evbuffer_copyout(bufferevent_get_input(t->bev), dst, n);
    return got < 0 ? 0 : (size_t)got;
}

const uint8_t *net_transport_input_pullup(struct net_transport *t, size_t n)
{
    struct evbuffer *in = bufferevent_get_input(t->bev);
    if (evbuffer_get_length(in) < n)
        return NULL;
    return evbuffer_pullup(in, (ev_ssize_t)n);
}

void net_transport_input_drain(struct net_transport *t, size_t n)
{
    struct evbuffer *in = bufferevent_get_input(t->bev);
    size_t have = evbuffer_get_length(in);
    if (n > have)
        n = have;
    evbuffer_drain(in, n);
    t->bytes_consumed += n;
    total_received += n;
}

void net_transport_set_read_high_water(struct net_transport *t, size_t bytes)
{
    t->opts.read_high_water = bytes;
    bufferevent_setwatermark(t->bev, EV_READ, 0, bytes);
}

uint8_t *net_transport_output_reserve(struct net_transport *t, size_t n)
{
    if (t->closing || t->has_reservation)
        return NULL;
    if (evbuffer_reserve_space(bufferevent_get_output(t->bev), (ev_ssize_t)n, &t->reserved, 1) < 1)
        return NULL;
    t->has_reservation = true;
    return t->reserved.iov_base;
}

edad_status net_transport_output_commit(struct net_transport *t, size_t used)
{
    if (!t->has_reservation)
        return EDAD_ERR_STATE;
    t->has_reservation = false;
    if (used > t->reserved.iov_len)
        return EDAD_ERR_INVALID;
    t->reserved.iov_len = used;
    if (evbuffer_commit_space(bufferevent_get_output(t->bev), &t->reserved, 1) != 0)
        return EDAD_ERR_IO;
    t->bytes_queued += used;
    total_sent += used;
    transport_check_output(t);
    return EDAD_OK;
}

edad_status net_transport_output_add(struct net_transport *t, const void *data, size_t len)
{
    if (t->closing)
        return EDAD_ERR_STATE;
    if (evbuffer_add(bufferevent_get_output(t->bev), data, len) != 0)
        return EDAD_ERR_NOMEM;
    t->bytes_queued += len;
    total_sent += len;
    transport_check_output(t);
    return EDAD_OK;
}

edad_status net_transport_output_add_ref(struct net_transport *t, const void *data, size_t len,
                                         net_ref_cleanup_fn cleanup, void *arg)
{
    if (t->closing) {
        if (cleanup)
            cleanup(data, len, arg);
        return EDAD_ERR_STATE;
    }
    if (evbuffer_add_reference(bufferevent_get_output(t->bev), data, len, cleanup, arg) != 0) {
        if (cleanup)
            cleanup(data, len, arg);
        return EDAD_ERR_NOMEM;
    }
    t->bytes_queued += len;
    total_sent += len;
    transport_check_output(t);
    return EDAD_OK;
}

size_t net_transport_output_len(struct net_transport *t)
{
    return evbuffer_get_length(bufferevent_get_output(t->bev));
}

bool net_transport_output_saturated(struct net_transport *t)
{
    return t->output_paused;
}

uint64_t net_transport_bytes_queued(struct net_transport *t)
{
    return t->bytes_queued;
}

uint64_t net_transport_bytes_received(struct net_transport *t)
{
    return t->bytes_consumed + evbuffer_get_length(bufferevent_get_input(t->bev));
}

uint64_t net_transport_reads(struct net_transport *t)
{
    return t->reads;
}

void net_transport_totals(uint64_t *received, uint64_t *sent)
{
    *received = total_received;
    *sent = total_sent;
}

void net_transport_pause_read(struct net_transport *t)
{
    t->owner_paused = true;
    transport_update_read(t);
}

void net_transport_resume_read(struct net_transport *t)
{
    t->owner_paused = false;
    transport_update_read(t);
}

bool net_transport_read_paused(struct net_transport *t)
{
    return !t->reading;
}

void net_transport_close(struct net_transport *t, uint64_t flush_timeout_ms)
{
    if (t->finishing)
        return;
    bool first = !t->closing;
    t->closing = true;
    if (t->has_reservation) {
        t->has_reservation = false;   /* uncommitted space is simply dropped */
    }
    transport_update_read(t);
    if (t->eof || flush_timeout_ms == 0 || net_transport_output_len(t) == 0) {
        transport_finish_soon(t);
        return;
    }
    /* the write callback fires when the output is empty */
    bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
    bufferevent_enable(t->bev, EV_WRITE);
    uint64_t deadline = clock_mono_ms() + flush_timeout_ms;
    if (first || deadline < t->deadline_ms) {
        struct timeval tv = { (time_t)(flush_timeout_ms / 1000),
                              (suseconds_t)((flush_timeout_ms % 1000) * 1000) };
        t->deadline_ms = deadline;
        evtimer_add(t->close_ev, &tv);
    }
}

bool net_transport_is_closing(struct net_transport *t)
{
    return t->closing;
}

const char *net_transport_peer(struct net_transport *t)
{
    return t->peer;
}

const char *net_transport_local(struct net_transport *t)
{
    return t->local;
}

bool net_transport_peer_is_loopback(struct net_transport *t)
{
    return t->loopback;
}

bool net_transport_is_tls(struct net_transport *t)
{
    return t->tls != NULL;
}

enum net_peer_cert net_transport_peer_cert_name(struct net_transport *t, bool common_name,
                                                char *buf, size_t len)
{
    if (!t->tls)
        return NET_PEER_CERT_NOT_TLS;
    if (len)
        buf[0] = '\0';
    return net_tls_peer_cert_name(t->bev, common_name, buf, len);
}
