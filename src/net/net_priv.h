/*
 * net_priv.h - what the files of the net layer share: the loop struct.
 * Private to src/net/; other layers use include/edad/net.h.
 */
#ifndef EDAD_NET_PRIV_H
#define EDAD_NET_PRIV_H

#include <stdatomic.h>

#include <event2/event.h>

#include "edad/net.h"

struct net_writer;

struct net_loop {
    struct event_base *base;
    size_t n_transports;       /* accepted, not yet freed */
    struct net_writer *writer; /* writer thread, or NULL: the loop writes */
};

/*
 * Output handed to the writer thread (writer.c), embedded in a plain TCP
 * transport.  While the writer holds it, the loop touches nothing here
 * but reads the length of buf and sets abandon; the writer only reads buf
 * (never drains it: add_ref cleanups must run on the loop thread).
 */
struct net_wjob {
    struct net_wjob *next;     /* submit / done stacks */
    struct evbuffer *buf;      /* the bytes to send, read-only for the writer */
    int fd;
    size_t sent;               /* writer: bytes of buf sent */
    int err;                   /* writer: errno of a failed send, else 0 */
    bool in_epoll;             /* writer: fd registered in its epoll */
    bool blocked;              /* writer: on its list of full sockets */
    struct net_wjob *bprev, *bnext;
    atomic_bool abandon;       /* loop: stop sending and give it back */
};

/* writer.c: start the writer thread of loop; NULL (logged) if it cannot. */
struct net_writer *net_writer_new(struct net_loop *loop);
/* Stop and join the thread; every job must have come back.  NULL ok. */
void net_writer_free(struct net_writer *w);
/* Loop thread: hand j over (j->buf filled, sent 0, err 0). */
void net_writer_submit(struct net_writer *w, struct net_wjob *j);
/* Loop thread: take j back now, sent or not: returns once the writer let
   go of it and net_transport_write_done ran (which clears *held); jobs
   of other transports that came back meanwhile are handled too. */
void net_writer_reclaim(struct net_writer *w, struct net_wjob *j, const bool *held);
/* transport.c, loop thread: the writer gave j back. */
void net_transport_write_done(struct net_wjob *j);

/* transport.c: wrap an accepted, connected, non-blocking socket. */
struct net_transport *net_transport_new_fd(struct net_loop *loop, evutil_socket_t fd,
                                           const struct net_transport_opts *opts);

struct bufferevent;

/*
 * tls.c: a bufferevent doing the server side of a TLS handshake on fd
 * (closed with it), or NULL.  The other functions take that bufferevent.
 */
struct bufferevent *net_tls_bufferevent_new(struct net_tls *tls, struct event_base *base,
                                            evutil_socket_t fd);
/* The handshake completed / failed: count it; failed also logs why (peer
   names the client).  Returns the reason text for on_eof (static buffer). */
void net_tls_handshake_done(struct net_tls *tls);
const char *net_tls_handshake_failed(struct net_tls *tls, struct bufferevent *bev,
                                     const char *peer);
/* The reason of a TLS error after the handshake (static buffer). */
const char *net_tls_error_reason(struct bufferevent *bev);
/* See net_transport_peer_cert_name. */
enum net_peer_cert net_tls_peer_cert_name(struct bufferevent *bev, bool common_name,
                                          char *buf, size_t len);

/* Format a socket address as "1.2.3.4:5" or "[::1]:5" into buf. */
void net_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

/* writer.c: one sendmsg() (MSG_NOSIGNAL, non-blocking, EINTR retried) of
 * up to 64 pieces of buf from byte off; *want is what was offered.  Bytes
 * sent, or -1 with errno.  Reads buf only (any thread that owns it). */
ssize_t net_send_evbuffer(int fd, struct evbuffer *buf, size_t off, size_t *want);

#endif
