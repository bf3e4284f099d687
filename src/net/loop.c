/*
 * loop.c - the event loop and timers: thin wrappers over libevent's
 * event_base and timer events so the layers above never include it, and
 * the choice of a writer thread for the loop's transports (writer.c).
 * No sockets here (transport.c, listener.c).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net_priv.h"

struct net_loop *net_loop_new(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        abort();
    /* One thread per loop: no locking inside libevent. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!base) {
        log_error("net: cannot create the event loop");
        abort();
    }
    struct net_loop *loop = xcalloc(1, sizeof(*loop));
    loop->base = base;
    if (getenv("EDAD_NET_IO_THREADS"))
        net_loop_set_io_threads(loop, 0);
    return loop;
}

/* EDAD_NET_IO_THREADS (0, 1 or auto) overrides the caller; for tests. */
static int loop_io_threads_env(int n)
{
    const char *e = getenv("EDAD_NET_IO_THREADS");
    if (!e || !*e)
        return n;
    if (strcmp(e, "auto") == 0)
        return -1;
    return atoi(e) > 0 ? 1 : 0;
}

void net_loop_set_io_threads(struct net_loop *loop, int n)
{
    n = loop_io_threads_env(n);
    if (n < 0)
        n = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0;
    if (n > 0 && !loop->writer) {
        loop->writer = net_writer_new(loop);
        if (loop->writer)
            log_info("net: writer thread started (net.io_threads = %d)", n);
    }
}

unsigned net_loop_io_threads(const struct net_loop *loop)
{
    return loop->writer ? 1 : 0;
}

void net_loop_free(struct net_loop *loop)
{
    if (!loop)
        return;
    net_writer_free(loop->writer);
    event_base_free(loop->base);
    free(loop);
}

edad_status net_loop_run(struct net_loop *loop)
{
    return event_base_dispatch(loop->base) < 0 ? EDAD_ERR_IO : EDAD_OK;
}

void net_loop_run_pending(struct net_loop *loop)
{
    event_base_loop(loop->base, EVLOOP_NONBLOCK);
}

void net_loop_exit(struct net_loop *loop)
{
    event_base_loopbreak(loop->base);
}

struct event_base *net_loop_event_base(struct net_loop *loop)
{
    return loop->base;
}

uint64_t net_loop_now_ms(struct net_loop *loop)
{
    EDAD_UNUSED(loop);
    return clock_mono_ms();
}

size_t net_loop_transport_count(struct net_loop *loop)
{
    return loop->n_transports;
}

/* ---- timers ---------------------------------------------------------------- */

struct net_timer {
    struct event *ev;
    net_timer_fn fn;
    void *arg;
    uint64_t ms;
    bool periodic;
};

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct net_timer *t = arg;
    if (t->periodic)
        net_timer_start(t, t->ms, true);
    /* t may be freed by fn: touch nothing after the call. */
    t->fn(t->arg);
}

struct net_timer *net_timer_new(struct net_loop *loop, net_timer_fn fn, void *arg)
{
    struct net_timer *t = xcalloc(1, sizeof(*t));
    t->ev = evtimer_new(loop->base, timer_fire, t);
    if (!t->ev)
        abort();
    t->fn = fn;
    t->arg = arg;
    return t;
}

void net_timer_start(struct net_timer *t, uint64_t ms, bool periodic)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    t->ms = ms;
    t->periodic = periodic;
    evtimer_add(t->ev, &tv);
}

void net_timer_stop(struct net_timer *t)
{
    t->periodic = false;
    evtimer_del(t->ev);
}

bool net_timer_pending(const struct net_timer *t)
{
    return evtimer_pending(t->ev, NULL) != 0;
}

void net_timer_free(struct net_timer *t)
{
    if (!t)
        return;
    event_free(t->ev);
    free(t);
}
