/*
 * transport.c - one accepted socket as a byte transport: bounded input,
 * batched output with a high watermark that pauses reading (le-proxy's
 * backpressure), and close-after-flush where the memory is released from
 * the loop, never inside the owner's call.  Plain TCP does its own socket
 * I/O (large reads, one writev per loop turn); a TLS listener's transports
 * run over tls.c's bufferevent instead.  Knows nothing about what the
 * bytes mean.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "net_priv.h"

/* Bytes one read()/write() may move; large enough to batch many frames. */
#define TRANSPORT_MAX_SINGLE_IO (256 * 1024)
/* Plain TCP: buffer pieces handed to one sendmsg(). */
/* With a writer thread: output up to this size, when the writer holds
   nothing of the socket, is written by the loop itself (low latency at
   low rates); more goes to the writer. */
#define TRANSPORT_INLINE_MAX 4096
/* TLS: output is handed to OpenSSL in pieces of up to one full record. */
#define TRANSPORT_TLS_RECORD (16 * 1024)

/* What input_again's event is waiting for. */
enum transport_again {
    AGAIN_IDLE,       /* not requested */
    AGAIN_TIMER,      /* 0 ms timer: fires on the next loop turn */
    AGAIN_QUEUED,     /* active: runs after that turn's other timers */
};

struct net_transport {
    struct net_loop *loop;
    evutil_socket_t fd;              /* plain TCP: our socket; TLS: -1 (bev owns it) */
    struct evbuffer *in, *out;       /* plain: ours; TLS: the bufferevent's */
    struct bufferevent *bev;         /* TLS only */
    struct event *read_ev;           /* plain: EV_READ, added while reading */
    struct event *write_ev;          /* plain: EV_WRITE, added only after EAGAIN */
    struct event *flush_ev;          /* writes (TLS: hands over) the turn's output */
    struct event *again_ev;          /* net_transport_input_again */
    struct event *close_ev;          /* deferred free / flush deadline */
    const struct net_transport_handler *h;
    void *ctx;
    struct net_transport_opts opts;
    struct net_tls *tls;             /* TLS context, NULL for plain TCP */
    struct evbuffer *tls_tmp;        /* TLS: scratch for regrouping output */
    struct evbuffer_iovec reserved;  /* current output reservation */
    uint64_t bytes_queued;
    uint64_t bytes_consumed;         /* input drained (owner or closing) */
    uint64_t reads;                  /* read callbacks: input arrivals */
    uint64_t deadline_ms;            /* flush deadline while closing */
    struct net_wjob job;             /* plain: output held by the writer thread */
    enum transport_again again;
    bool has_reservation;
    bool owner_paused;               /* net_transport_pause_read() */
    bool output_paused;              /* output above the high watermark */
    bool reading;                    /* EV_READ currently enabled */
    bool closing;                    /* net_transport_close() was called */
    bool finishing;                  /* close_ev armed to free now */
    bool eof;                        /* peer gone or socket error */
    bool loopback;
    bool flush_pending;              /* flush_ev is active */
    bool write_armed;                /* plain: write_ev added (socket was full) */
    bool held;                       /* plain: the writer thread holds job */
    bool tls_ready;                  /* TLS handshake completed */
    bool tls_writing;                /* EV_WRITE on until the output is empty */
    char peer[64];
    char local[64];
};

/* Process-wide byte counters of every transport, open or closed (the
   loop's thread only).  Input counts when drained, output when queued. */
static uint64_t total_received, total_sent;

/* Plain TCP: the input is full (read high watermark reached). */
static bool transport_input_full(struct net_transport *t)
{
    return t->opts.read_high_water != 0 &&
           evbuffer_get_length(t->in) >= t->opts.read_high_water;
}

static void transport_update_read(struct net_transport *t)
{
    bool want = !t->closing && !t->eof && !t->owner_paused && !t->output_paused;
    if (want && !t->bev && transport_input_full(t))
        want = false;
    if (want == t->reading)
        return;
    t->reading = want;
    if (t->bev) {
        if (want)
            bufferevent_enable(t->bev, EV_READ);
        else
            bufferevent_disable(t->bev, EV_READ);
    } else if (want) {
        event_add(t->read_ev, NULL);
    } else {
        event_del(t->read_ev);
    }
}

/* Free the transport from the loop: schedule close_ev to fire now. */
static void transport_finish_soon(struct net_transport *t)
{
    if (t->finishing)
        return;
    t->finishing = true;
    event_del(t->close_ev);
    event_active(t->close_ev, EV_TIMEOUT, 0);
}

static void transport_free(struct net_transport *t)
{
    const struct net_transport_handler *h = t->h;
    void *ctx = t->ctx;

    total_received += evbuffer_get_length(t->in);
    if (t->bev) {
        bufferevent_free(t->bev);   /* closes the socket, runs add_ref cleanups */
    } else {
        event_free(t->read_ev);
        event_free(t->write_ev);
        evbuffer_free(t->in);
        evbuffer_free(t->out);      /* runs add_ref cleanups */
        if (t->job.buf)
            evbuffer_free(t->job.buf);
        close(t->fd);
    }
    event_free(t->close_ev);
    event_free(t->flush_ev);
    event_free(t->again_ev);
    if (t->tls_tmp)
        evbuffer_free(t->tls_tmp);
    t->loop->n_transports--;
    free(t);
    if (h && h->on_closed)
        h->on_closed(ctx);
}

static void transport_close_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    t->finishing = true;   /* also at the flush deadline: write nothing more */
    /* the writer may be using the socket: take it back first (within one
       sendmsg), so that it never sends on a closed descriptor */
    if (t->held)
        net_writer_reclaim(t->loop->writer, &t->job, &t->held);
    transport_free(t);
}

/* The peer is gone or the socket failed: tell the owner once. */
static void transport_eof(struct net_transport *t, const char *reason)
{
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

/* Input arrived (or input_again): hand it to the owner. */
static void transport_deliver_input(struct net_transport *t)
{
    if (t->closing) {
        size_t n = evbuffer_get_length(t->in);
        evbuffer_drain(t->in, n);
        t->bytes_consumed += n;
        total_received += n;
        return;
    }
    if (t->h && t->h->on_read)
        t->h->on_read(t->ctx);
}

/* ---- plain TCP: reading ---------------------------------------------------------- */

/*
 * Read large pieces straight into the input buffer until the socket is
 * drained (a short read) or the input holds the read high watermark, then
 * one on_read.  libevent 2.1's evbuffer_read() stops at 4 KiB per call,
 * which cost an epoll_wait and a readv per 4 KiB.
 */
static void transport_plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    size_t len = evbuffer_get_length(t->in);
    size_t got = 0;
    const char *reason = NULL;
    char why[128];

    for (;;) {
        size_t room = TRANSPORT_MAX_SINGLE_IO;
        if (t->opts.read_high_water) {
            if (len >= t->opts.read_high_water)
                break;
            if (t->opts.read_high_water - len < room)
                room = t->opts.read_high_water - len;
        } else if (got >= TRANSPORT_MAX_SINGLE_IO) {
            break;   /* no input bound: let other connections have a turn */
        }
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(t->in, (ev_ssize_t)room, v, 2);
        if (nv <= 0) {
            reason = strerror(ENOMEM);
            break;
        }
        size_t left = room;
        for (int i = 0; i < nv; i++) {
            if (v[i].iov_len > left)
                v[i].iov_len = left;
            left -= v[i].iov_len;
        }
        ssize_t n = readv(fd, v, nv);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                snprintf(why, sizeof(why), "%s", strerror(errno));
                reason = why;   /* kept across on_read */
            }
            break;
        }
        if (n == 0) {
            reason = "connection closed by peer";
            break;
        }
        size_t rem = (size_t)n;
        int used = 0;
        for (int i = 0; i < nv && rem > 0; i++, used++) {
            if (v[i].iov_len > rem)
                v[i].iov_len = rem;
            rem -= v[i].iov_len;
        }
        evbuffer_commit_space(t->in, v, used);
        len += (size_t)n;
        got += (size_t)n;
        if ((size_t)n < room)
            break;   /* the socket had no more */
    }
    if (got > 0) {
        t->reads++;
        transport_deliver_input(t);
    }
    if (reason)
        transport_eof(t, reason);
    else
        transport_update_read(t);
}

/* ---- plain TCP: writing -------------------------------------------------------------- */

/* Bytes queued and not yet sent, including what the writer holds. */
static size_t transport_out_len(struct net_transport *t)
{
    size_t len = evbuffer_get_length(t->out);
    if (t->held)
        len += evbuffer_get_length(t->job.buf);   /* the writer only reads it */
    return len;
}

/* After some output left (or was handed over): close-after-flush and the
   drained watermark; may call the owner, so only from a loop callback. */
static void transport_after_write(struct net_transport *t)
{
    size_t len = transport_out_len(t);
    if (t->closing) {
        if (len == 0)
            transport_finish_soon(t);
        return;
    }
    if (t->output_paused && len <= t->opts.output_high_water / 2) {
        t->output_paused = false;
        transport_update_read(t);
        if (t->h && t->h->on_drained)
            t->h->on_drained(t->ctx);
    }
}

/* Give the whole output to the writer thread: swap buffers, no copy. */
static void transport_handoff(struct net_transport *t)
{
    if (!t->job.buf) {
        t->job.buf = evbuffer_new();
        if (!t->job.buf)
            abort();
    }
    struct evbuffer *empty = t->job.buf;
    t->job.buf = t->out;
    t->out = empty;
    t->job.sent = 0;
    t->job.err = 0;
    t->held = true;
    net_writer_submit(t->loop->writer, &t->job);
}

/*
 * Send the output: one sendmsg() of up to 64 pieces (net_send_evbuffer),
 * repeated while the socket takes everything offered.  A short write or
 * EAGAIN arms EV_WRITE (the socket is full; with a writer thread, the
 * rest goes to the writer instead); an empty output disarms it.  Only
 * called from a loop callback.
 */
static void transport_plain_write(struct net_transport *t)
{
    size_t len;
    bool full = false;
    const char *reason = NULL;

    if (t->held || t->eof)
        return;
    if (t->loop->writer && evbuffer_get_length(t->out) > TRANSPORT_INLINE_MAX) {
        transport_handoff(t);
        transport_after_write(t);
        return;
    }
    while ((len = evbuffer_get_length(t->out)) > 0) {
        size_t want;
        ssize_t n = net_send_evbuffer(t->fd, t->out, 0, &want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                full = true;
            else
                reason = strerror(errno);
            break;
        }
        evbuffer_drain(t->out, (size_t)n);
        if ((size_t)n < want) {
            full = true;
            break;
        }
    }
    if (reason) {
        if (t->write_armed) {
            t->write_armed = false;
            event_del(t->write_ev);
        }
        transport_eof(t, reason);
        return;
    }
    if (full && t->loop->writer) {
        transport_handoff(t);   /* the writer waits for room */
        full = false;
    }
    if (full != t->write_armed) {
        t->write_armed = full;
        if (full)
            event_add(t->write_ev, NULL);
        else
            event_del(t->write_ev);
    }
    transport_after_write(t);
}

void net_transport_write_done(struct net_wjob *j)
{
    struct net_transport *t = (struct net_transport *)((char *)j -
                                                       offsetof(struct net_transport, job));
    t->held = false;
    atomic_store(&j->abandon, false);
    /* sent or dropped: freed here, add_ref cleanups on the loop thread */
    evbuffer_drain(j->buf, evbuffer_get_length(j->buf));
    if (t->finishing)
        return;
    if (j->err) {
        transport_eof(t, strerror(j->err));
        return;
    }
    if (evbuffer_get_length(t->out) > 0)
        transport_plain_write(t);
    else
        transport_after_write(t);
}

static void transport_plain_write_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    if (!t->finishing && !t->eof)
        transport_plain_write(t);
}

/*
 * TLS output.  OpenSSL's bufferevent writes as soon as bytes are added,
 * one TLS record and one write() per add: a delivery would cost several
 * records and syscalls.  So a TLS transport keeps EV_WRITE off while idle;
 * what one loop turn queues is regrouped into record-sized pieces and
 * handed over at once by flush_ev, and EV_WRITE stays on until the
 * output is empty again.
 */
static void transport_tls_flush(struct net_transport *t)
{
    if (t->tls_writing)
        return;
    struct evbuffer *out = t->out;
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

/* Once per loop turn with new output: write it (plain) or hand it to
   OpenSSL (TLS). */
static void transport_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    t->flush_pending = false;
    if (t->finishing)
        return;
    if (t->bev)
        transport_tls_flush(t);
    else if (!t->write_armed)
        transport_plain_write(t);
}

/* Output grew: schedule this turn's flush, pause reading above the high
   watermark. */
static void transport_check_output(struct net_transport *t)
{
    if (!t->flush_pending && !t->write_armed && !t->tls_writing && !t->held) {
        t->flush_pending = true;
        event_active(t->flush_ev, EV_TIMEOUT, 0);
    }
    if (t->output_paused || t->opts.output_high_water == 0)
        return;
    if (transport_out_len(t) > t->opts.output_high_water) {
        t->output_paused = true;
        /* TLS: the write callback fires once output is down to half */
        if (t->bev)
            bufferevent_setwatermark(t->bev, EV_WRITE, t->opts.output_high_water / 2, 0);
        transport_update_read(t);
    }
}

/* ---- input_again ------------------------------------------------------------------ */

/* Two steps: a 0 ms timer brings us to the next loop turn; re-activating
   from there queues on_read behind every timer that expired with it (the
   broker's dispatch pass), after the I/O callbacks of that turn. */
static void transport_again_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_transport *t = arg;
    if (t->again == AGAIN_TIMER) {
        t->again = AGAIN_QUEUED;
        event_active(t->again_ev, EV_TIMEOUT, 0);
        return;
    }
    t->again = AGAIN_IDLE;
    if (t->finishing || t->eof)
        return;
    transport_deliver_input(t);
    if (!t->bev)
        transport_update_read(t);
}

void net_transport_input_again(struct net_transport *t)
{
    if (t->closing || t->again != AGAIN_IDLE)
        return;
    static const struct timeval zero = { 0, 0 };
    t->again = AGAIN_TIMER;
    event_add(t->again_ev, &zero);
}

/* ---- TLS: bufferevent callbacks ---------------------------------------------------- */

static void transport_read_cb(struct bufferevent *bev, void *arg)
{
    EDAD_UNUSED(bev);
    struct net_transport *t = arg;
    t->reads++;
    transport_deliver_input(t);
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
    transport_eof(t, reason);
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
    t->fd = -1;
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
    t->close_ev = evtimer_new(loop->base, transport_close_cb, t);
    t->flush_ev = event_new(loop->base, -1, 0, transport_flush_cb, t);
    t->again_ev = event_new(loop->base, -1, 0, transport_again_cb, t);
    if (!t->close_ev || !t->flush_ev || !t->again_ev)
        abort();
    if (t->tls) {
        t->bev = net_tls_bufferevent_new(t->tls, loop->base, fd);
        if (!t->bev)
            abort();
        t->in = bufferevent_get_input(t->bev);
        t->out = bufferevent_get_output(t->bev);
        bufferevent_set_max_single_read(t->bev, TRANSPORT_MAX_SINGLE_IO);
        bufferevent_set_max_single_write(t->bev, TRANSPORT_MAX_SINGLE_IO);
        bufferevent_setwatermark(t->bev, EV_READ, 0, t->opts.read_high_water);
        bufferevent_setcb(t->bev, transport_read_cb, transport_write_cb, transport_event_cb, t);
        bufferevent_disable(t->bev, EV_READ);
        /* written once per loop turn: see transport_tls_flush */
        bufferevent_disable(t->bev, EV_WRITE);
    } else {
        t->fd = fd;
        t->job.fd = fd;
        atomic_init(&t->job.abandon, false);
        t->in = evbuffer_new();
        t->out = evbuffer_new();
        t->read_ev = event_new(loop->base, fd, EV_READ | EV_PERSIST, transport_plain_read_cb, t);
        t->write_ev = event_new(loop->base, fd, EV_WRITE | EV_PERSIST, transport_plain_write_cb,
                                t);
        if (!t->in || !t->out || !t->read_ev || !t->write_ev)
            abort();
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
    return evbuffer_get_length(t->in);
}

size_t net_transport_input_peek(struct net_transport *t, void *dst, size_t n)
{
    ev_ssize_t got = evbuffer_copyout(t->in, dst, n);
    return got < 0 ? 0 : (size_t)got;
}

const uint8_t *net_transport_input_pullup(struct net_transport *t, size_t n)
{
    if (evbuffer_get_length(t->in) < n)
        return NULL;
    return evbuffer_pullup(t->in, (ev_ssize_t)n);
}

const uint8_t *net_transport_input_contig(struct net_transport *t, size_t *len)
{
    struct evbuffer_iovec v;
    if (evbuffer_peek(t->in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
        *len = 0;
        return NULL;
    }
    *len = v.iov_len;
    return v.iov_base;
}

void net_transport_input_drain(struct net_transport *t, size_t n)
{
    size_t have = evbuffer_get_length(t->in);
    if (n > have)
        n = have;
    evbuffer_drain(t->in, n);
    t->bytes_consumed += n;
    total_received += n;
    if (!t->reading && !t->bev)
        transport_update_read(t);   /* below the read high watermark again? */
}

void net_transport_set_read_high_water(struct net_transport *t, size_t bytes)
{
    t->opts.read_high_water = bytes;
    if (t->bev)
        bufferevent_setwatermark(t->bev, EV_READ, 0, bytes);
    else
        transport_update_read(t);
}

uint8_t *net_transport_output_reserve(struct net_transport *t, size_t n)
{
    if (t->closing || t->has_reservation)
        return NULL;
    if (evbuffer_reserve_space(t->out, (ev_ssize_t)n, &t->reserved, 1) < 1)
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
    if (evbuffer_commit_space(t->out, &t->reserved, 1) != 0)
        return EDAD_ERR_IO;
    t->bytes_queued += used;
    total_sent += used;
    if (used)
        transport_check_output(t);
    return EDAD_OK;
}

edad_status net_transport_output_add(struct net_transport *t, const void *data, size_t len)
{
    if (t->closing)
        return EDAD_ERR_STATE;
    if (evbuffer_add(t->out, data, len) != 0)
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
    if (evbuffer_add_reference(t->out, data, len, cleanup, arg) != 0) {
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
    return transport_out_len(t);
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
    return t->bytes_consumed + evbuffer_get_length(t->in);
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
    if (t->bev) {
        /* the write callback fires when the output is empty */
        bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
        bufferevent_enable(t->bev, EV_WRITE);
    } else if (!t->flush_pending && !t->write_armed && !t->held) {
        t->flush_pending = true;
        event_active(t->flush_ev, EV_TIMEOUT, 0);
    }
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
