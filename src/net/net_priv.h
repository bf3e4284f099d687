/*
 * net_priv.h - what the files of the net layer share: the loop struct.
 * Private to src/net/; other layers use include/edad/net.h.
 */
#ifndef EDAD_NET_PRIV_H
#define EDAD_NET_PRIV_H

#include <event2/event.h>

#include "edad/net.h"

struct net_loop {
    struct event_base *base;
    size_t n_transports;       /* accepted, not yet freed */
};

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

#endif
