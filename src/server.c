/*
 * server.c - wiring of the daemon: the event loop, the listeners, the
 * session server, the broker and its dispatch pass (once per loop turn),
 * signals, and the order things start and stop in.  No protocol logic
 * lives here; argv and config loading are main.c's.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "edad/broker.h"
#include "edad/net.h"
#include "edad/server.h"
#include "edad/session.h"

struct edad_server {
    const struct edad_conf *conf;
    struct net_loop *loop;
    struct broker *broker;
    struct session_server *sessions;
    struct net_listener *listeners[CONF_MAX_LISTENERS];
    unsigned n_listeners;
    struct event *sig_term, *sig_int, *sig_hup;
    struct net_timer *stop_timer;      /* polls connections during a graceful stop */
    struct net_timer *dispatch_timer;  /* 0 ms: one broker dispatch pass per loop turn */
    struct net_timer *broker_timer;    /* the broker's earliest deadline (TTL, x-expires) */
    uint64_t stop_deadline_ms;
    bool stopping;
};

/* ---- logging --------------------------------------------------------------- */

static FILE *log_fp;

edad_status server_log_open(const struct edad_conf *conf, char *err, size_t errlen)
{
    edad_status st = EDAD_OK;
    FILE *fp = NULL;
    if (conf->log_file) {
        fp = fopen(conf->log_file, "ae");
        if (!fp) {
            snprintf(err, errlen, "cannot open log.file %s: %s", conf->log_file, strerror(errno));
            st = EDAD_ERR_IO;
        }
    }
    log_set_stream(fp);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    if (fp)
        log_set_level(conf->log_file_level);
    else if (conf->log_console)
        log_set_level(conf->log_level);
    else
        log_set_level(EDAD_LOG_NONE);
    return st;
}

void server_log_close(void)
{
    log_set_stream(NULL);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
}

/* ---- broker dispatch ------------------------------------------------------------ */

/*
 * Deliveries run once per loop iteration, after that iteration's reads:
 * a zero-delay timer fires after the I/O callbacks of the turn, so every
 * publish of a read batch is routed before the consumers get a batch of
 * deliveries, and I/O still gets its turn while queues stay busy.
 */
static void server_dispatch(void *arg)
{
    struct edad_server *s = arg;
    if (broker_dispatch_pending(s->broker))
        net_timer_start(s->dispatch_timer, 0, false);
}

/* The broker has dirty queues: make sure a dispatch pass is coming. */
static void server_dispatch_wakeup(void *arg)
{
    struct edad_server *s = arg;
    if (!net_timer_pending(s->dispatch_timer))
        net_timer_start(s->dispatch_timer, 0, false);
}

/* ---- broker timers -------------------------------------------------------------- */

/* One loop timer for the broker's earliest deadline (already due: 0 ms). */
static void server_timers_arm(struct edad_server *s)
{
    uint64_t due = broker_next_deadline_ms(s->broker);
    if (due == UINT64_MAX) {
        net_timer_stop(s->broker_timer);
        return;
    }
    uint64_t now = broker_now_ms(s->broker);
    net_timer_start(s->broker_timer, due > now ? due - now : 0, false);
}

static void server_timers_fire(void *arg)
{
    struct edad_server *s = arg;
    broker_run_timers(s->broker, broker_now_ms(s->broker));
    server_timers_arm(s);
}

/* A deadline earlier than the armed one appeared. */
static void server_timers_wakeup(void *arg)
{
    server_timers_arm(arg);
}

/* ---- stop -------------------------------------------------------------------- */

static void server_stop_poll(void *arg)
{
    struct edad_server *s = arg;
    if (session_server_connection_count(s->sessions) == 0 ||
        clock_mono_ms() >= s->stop_deadline_ms) {
        net_timer_stop(s->stop_timer);
        net_loop_exit(s->loop);
    }
}

static void server_begin_stop(struct edad_server *s, const char *signame)
{
    if (s->stopping) {
        log_warning("%s again: stopping now", signame);
        net_loop_exit(s->loop);
        return;
    }
    s->stopping = true;
    log_info("%s received: stopping (%zu connections)", signame,
             session_server_connection_count(s->sessions));
#ifdef HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    for (unsigned i = 0; i < s->n_listeners; i++) {
        net_listener_free(s->listeners[i]);
        s->listeners[i] = NULL;
    }
    session_server_shutdown(s->sessions, "shutdown");
    s->stop_deadline_ms = clock_mono_ms() + SERVER_SHUTDOWN_GRACE_MS;
    net_timer_start(s->stop_timer, 20, true);
    server_stop_poll(s);
}

static void server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    EDAD_UNUSED(what);
    struct edad_server *s = arg;
    if (sig == SIGHUP) {
        char err[512];
        log_info("SIGHUP received: reopening the log");
        if (server_log_open(s->conf, err, sizeof(err)) != EDAD_OK)
            log_error("%s", err);
        return;
    }
    server_begin_stop(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- lifecycle ------------------------------------------------------------------- */

struct edad_server *server_new(const struct edad_conf *conf, char *err, size_t errlen)
{
    struct edad_server *s = xcalloc(1, sizeof(*s));
    s->conf = conf;
    s->loop = net_loop_new();
    s->broker = broker_new(NULL);
    broker_vhost_add(s->broker, conf->default_vhost ? conf->default_vhost : "/");
    s->sessions = session_server_new(s->loop, conf, s->broker);
    s->stop_timer = net_timer_new(s->loop, server_stop_poll, s);
    s->dispatch_timer = net_timer_new(s->loop, server_dispatch, s);
    broker_set_wakeup(s->broker, server_dispatch_wakeup, s);
    s->broker_timer = net_timer_new(s->loop, server_timers_fire, s);
    broker_set_timer_wakeup(s->broker, server_timers_wakeup, s);
    server_timers_arm(s);

    struct event_base *base = net_loop_event_base(s->loop);
    s->sig_term = evsignal_new(base, SIGTERM, server_signal_cb, s);
    s->sig_int = evsignal_new(base, SIGINT, server_signal_cb, s);
    s->sig_hup = evsignal_new(base, SIGHUP, server_signal_cb, s);
    if (!s->sig_term || !s->sig_int || !s->sig_hup || evsignal_add(s->sig_term, NULL) ||
        evsignal_add(s->sig_int, NULL) || evsignal_add(s->sig_hup, NULL)) {
        snprintf(err, errlen, "cannot install signal handlers");
        goto fail;
    }

    struct net_transport_opts opts = {
        .output_high_water = conf->output_high_water,
        .read_high_water = 64 * 1024,
        .tcp_nodelay = conf->tcp_nodelay,
    };
    if (conf->n_listeners == 0)
        log_warning("no listeners configured (listeners.tcp = none)");
    for (unsigned i = 0; i < conf->n_listeners; i++) {
        const struct conf_listener *cl = &conf->listeners[i];
        char why[512];
        struct net_listener *l = net_listener_new(s->loop, cl->host, cl->port,
                                                  (int)conf->tcp_backlog, &opts,
                                                  session_server_accept, s->sessions,
                                                  why, sizeof(why));
        if (!l) {
            snprintf(err, errlen, "cannot listen on listeners.tcp.%s: %s", cl->name, why);
            goto fail;
        }
        s->listeners[s->n_listeners++] = l;
    }
    return s;

fail:
    server_free(s);
    return NULL;
}

edad_status server_run(struct edad_server *s)
{
    for (unsigned i = 0; i < s->n_listeners; i++)
        log_info("edad %s listening on %s", PACKAGE_VERSION,
                 net_listener_address(s->listeners[i]));
#ifdef HAVE_SYSTEMD
    sd_notify(0, "READY=1\nSTATUS=accepting AMQP 0-9-1 connections");
#endif
    edad_status st = net_loop_run(s->loop);
    size_t left = session_server_connection_count(s->sessions);
    if (left)
        log_info("closing %zu connections that did not finish closing", left);
    log_info("edad stopped");
    return st;
}

void server_free(struct edad_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_listeners; i++)
        net_listener_free(s->listeners[i]);
    session_server_free(s->sessions);
    broker_set_wakeup(s->broker, NULL, NULL);
    broker_set_timer_wakeup(s->broker, NULL, NULL);
    broker_free(s->broker);   /* after the sessions, which point into it */
    net_timer_free(s->broker_timer);
    net_timer_free(s->stop_timer);
    net_timer_free(s->dispatch_timer);
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->sig_int)
        event_free(s->sig_int);
    if (s->sig_hup)
        event_free(s->sig_hup);
    net_loop_free(s->loop);
    free(s);
}
