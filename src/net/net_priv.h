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

/* Format a socket address as "1.2.3.4:5" or "[::1]:5" into buf. */
void net_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

#endif
