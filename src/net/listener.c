/*
 * listener.c - TCP listening sockets (evconnlistener) that hand each
 * accepted socket, wrapped in a transport, to an accept callback.  Binds
 * with clear errors ("Address already in use"), survives EMFILE by pausing
 * accept for a moment.  Connection limits are the session's business.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>

#include "net_priv.h"

/* How long accepting pauses after EMFILE/ENFILE. */
#define LISTENER_RETRY_MS 250

struct net_listener {
    struct net_loop *loop;
    struct evconnlistener *evl;
    struct net_timer *retry;
    struct net_transport_opts opts;
    net_accept_fn fn;
    void *arg;
    uint16_t port;
    char address[80];
};

static void listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                               struct sockaddr *sa, int salen, void *arg)
{
    EDAD_UNUSED(evl);
    EDAD_UNUSED(sa);
    EDAD_UNUSED(salen);
    struct net_listener *l = arg;
    struct net_transport *t = net_transport_new_fd(l->loop, fd, &l->opts);
    l->fn(l->arg, t);
}

static void listener_retry_cb(void *arg)
{
    struct net_listener *l = arg;
    evconnlistener_enable(l->evl);
}

static void listener_error_cb(struct evconnlistener *evl, void *arg)
{
    struct net_listener *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_error("listener %s: accept failed: %s", l->address, strerror(err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(evl);
        net_timer_start(l->retry, LISTENER_RETRY_MS, false);
    }
}

/* Create, bind and listen one socket for ai; -1 with errno on failure. */
static int listener_socket(const struct addrinfo *ai, int backlog)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

struct net_listener *net_listener_new(struct net_loop *loop, const char *host, uint16_t port,
                                      int backlog, const struct net_transport_opts *opts,
                                      net_accept_fn fn, void *arg, char *err, size_t errlen)
{
    struct net_listener *l = NULL;
    struct addrinfo *res = NULL;
    int fd = -1;
    const char *shown = (host && *host) ? host : "0.0.0.0";
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);

    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    int gai;
    if (host && *host) {
        gai = getaddrinfo(host, portstr, &hints, &res);
    } else {
        /* every interface: "::" dual-stack first, then 0.0.0.0 */
        hints.ai_family = AF_INET6;
        gai = getaddrinfo(NULL, portstr, &hints, &res);
        if (gai == 0) {
            fd = listener_socket(res, backlog);
            if (fd < 0 && errno != EAFNOSUPPORT) {
                snprintf(err, errlen, "[::]:%u: %s", (unsigned)port, strerror(errno));
                goto fail;
            }
            freeaddrinfo(res);
            res = NULL;
        }
        hints.ai_family = AF_INET;
        if (fd < 0)
            gai = getaddrinfo(NULL, portstr, &hints, &res);
    }
    if (fd < 0) {
        if (gai != 0) {
            snprintf(err, errlen, "%s:%u: %s", shown, (unsigned)port, gai_strerror(gai));
            goto fail;
        }
        int last = 0;
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            fd = listener_socket(ai, backlog);
            if (fd < 0)
                last = errno;
        }
        if (fd < 0) {
            snprintf(err, errlen, "%s:%u: %s", shown, (unsigned)port, strerror(last));
            goto fail;
        }
    }

    l = xcalloc(1, sizeof(*l));
    l->loop = loop;
    l->opts = *opts;
    l->fn = fn;
    l->arg = arg;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        net_format_sockaddr((struct sockaddr *)&ss, l->address, sizeof(l->address));
        if (ss.ss_family == AF_INET)
            l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            l->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        snprintf(l->address, sizeof(l->address), "%s:%u", shown, (unsigned)port);
        l->port = port;
    }
    /* backlog 0: the socket is already listening */
    l->evl = evconnlistener_new(loop->base, listener_accept_cb, l,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (!l->evl) {
        snprintf(err, errlen, "%s: cannot create listener", l->address);
        goto fail;
    }
    fd = -1;
    evconnlistener_set_error_cb(l->evl, listener_error_cb);
    l->retry = net_timer_new(loop, listener_retry_cb, l);
    if (res)
        freeaddrinfo(res);
    return l;

fail:
    if (fd >= 0)
        close(fd);
    if (res)
        freeaddrinfo(res);
    free(l);
    return NULL;
}

void net_listener_free(struct net_listener *l)
{
    if (!l)
        return;
    evconnlistener_free(l->evl);
    net_timer_free(l->retry);
    free(l);
}

const char *net_listener_address(const struct net_listener *l)
{
    return l->address;
}

uint16_t net_listener_port(const struct net_listener *l)
{
    return l->port;
}
