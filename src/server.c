/*
 * server.c - wiring of the daemon: the event loop, the listeners, the
 * session server, the broker and its dispatch pass (once per loop turn),
 * signals, the durable store (recovery at start, the broker's store hooks,
 * flushes before replies leave, group-commit completions) and the order
 * things start and stop in.  No protocol logic lives here; argv and config
 * loading are main.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include <unistd.h>

#include "config.h"

#include "edad/amqp.h"
#include "edad/broker.h"
#include "edad/net.h"
#include "edad/server.h"
#include "edad/service.h"
#include "edad/session.h"
#include "edad/store.h"
#include "server_tls.h"
#include "server_alarm.h"
#include "server_persist.h"
#include "server_access.h"
#include "server_mgmt.h"

struct edad_server {
    const struct edad_conf *conf;
    struct net_loop *loop;
    struct broker *broker;
    struct session_server *sessions;
    struct net_listener *listeners[2 * CONF_MAX_LISTENERS];   /* tcp, then ssl */
    unsigned n_listeners;
    struct net_tls *tls;               /* listeners.ssl's context (server_tls.c) */
    struct event *sig_term, *sig_int, *sig_hup;
    struct net_timer *stop_timer;      /* polls connections during a graceful stop */
    struct net_timer *dispatch_timer;  /* 0 ms: one broker dispatch pass per loop turn */
    struct net_timer *broker_timer;    /* the broker's earliest deadline (TTL, x-expires) */
    uint64_t stop_deadline_ms;
    bool stopping;
    server_reload_fn reload_fn;        /* SIGHUP: re-read the configuration */
    void *reload_ctx;
    /* the durable store */
    struct store *store;
    struct event *sync_ev;             /* store_sync_fd readable: completions */
    struct event *flush_ev;            /* catch-all flush (store wakeup) */
    struct net_timer *maintain_timer;  /* store_maintain, every second */
    bool recovering;                   /* definitions being restored: no rewrite */
    uint64_t store_errors;             /* append/flush/definition errors (logged) */
    struct server_persist *persist;    /* meta, delayed and dedup state (server_persist.c) */
    struct server_alarm *alarm;        /* memory and disk alarms (server_alarm.c) */
    struct mgmt *mgmt;                 /* management API and /metrics (server_mgmt.c) */
    struct arena load_arena;           /* paging: property decoding on read-back */
    bool broker_paging;                /* store.paging_threshold set */
    struct page_pending *pp;           /* paged out, record not written yet */
    size_t npp, pp_cap;
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
    log_set_file(fp, conf->log_file_level);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    log_set_journal(log_journal_detect());
    /* with no file at all, errors still reach stderr rather than nowhere */
    if (conf->log_console)
        log_set_level(conf->log_level);
    else
        log_set_level(fp ? EDAD_LOG_NONE : EDAD_LOG_ERROR);
    return st;
}

void server_log_close(void)
{
    log_set_file(NULL, EDAD_LOG_NONE);
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
static void server_store_flush(struct edad_server *s);

static void server_dispatch(void *arg)
{
    struct edad_server *s = arg;
    bool more = broker_dispatch_pending(s->broker);
    if (s->sessions)
        session_server_flow_poll(s->sessions);
    /* delivered marks (and acks of no-ack deliveries) before the bytes leave */
    server_store_flush(s);
    if (more)
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
    server_store_flush(s);
    server_timers_arm(s);
}

/* A deadline earlier than the armed one appeared. */
static void server_timers_wakeup(void *arg)
{
    server_timers_arm(arg);
}

/* ---- the durable store ----------------------------------------------------------- */

/* Errors on the message path are logged, but not one line per message. */
static void server_store_error(struct edad_server *s, const char *what, edad_status st)
{
    int err = store_last_errno(s->store);
    if (s->store_errors++ % 1000 == 0)
        log_error("store: %s failed: %s (%s; %" PRIu64 " store errors so far)", what,
                  edad_strerror(st), strerror(err), s->store_errors);
    /* disk full or I/O error: block publishers until a write works again */
    if (s->alarm)
        server_alarm_store_failed(s->alarm, err ? err : EIO);
}

/* Write what the store buffered; completions (sync=false) go out at once. */
/*
 * A message paged out by its queue before its record reached the file:
 * if that write fails the store forgets the record, so the message is
 * handed back to the queue (queue_unpage) instead of being lost.
 */
struct page_pending {
    struct queue *q;            /* a reference */
    struct message *m;          /* a reference */
    uint64_t seq;
};

/* After a flush: written, forget them; failed, give them back. */
static void server_paging_settle(struct edad_server *s, bool written)
{
    for (size_t i = 0; i < s->npp; i++) {
        struct page_pending *p = &s->pp[i];
        if (!written)
            queue_unpage(p->q, p->seq, p->m);
        message_unref(&p->m);
        queue_unref(&p->q);
    }
    s->npp = 0;
}

static void server_store_flush(struct edad_server *s)
{
    if (!s->store)
        return;
    edad_status st = store_flush(s->store);
    if (st != EDAD_OK)
        server_store_error(s, "write", st);
    if (s->npp)
        server_paging_settle(s, st == EDAD_OK);
    if (s->sessions)
        session_server_sync_batch_end(s->sessions);
}

static void server_store_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    server_store_flush(arg);
}

static void server_store_wakeup(void *ctx)
{
    struct edad_server *s = ctx;
    if (s->flush_ev)
        event_active(s->flush_ev, EV_READ, 0);
}

static void server_store_sync_done(void *ctx, uint64_t cookie, edad_status st)
{
    struct edad_server *s = ctx;
    if (st != EDAD_OK)
        server_store_error(s, "sync", st);
    if (s->sessions)
        session_server_sync_done(s->sessions, cookie, st == EDAD_OK);
}

static void server_store_sync_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    struct edad_server *s = arg;
    store_sync_poll(s->store);
    if (s->sessions)
        session_server_sync_batch_end(s->sessions);
}

static void server_store_maintain(void *arg)
{
    struct edad_server *s = arg;
    store_maintain(s->store);
    server_persist_maintain(s->persist);
    server_store_flush(s);
}

static void server_sync_request(void *ctx, uint64_t cookie)
{
    struct edad_server *s = ctx;
    store_sync_request(s->store, cookie);
}

static void server_session_flush(void *ctx)
{
    server_store_flush(ctx);
}

/* The store of durable queue q, opened (created) on first use. */
static struct qstore *server_queue_store(struct edad_server *s, struct queue *q)
{
    struct qstore *qs = queue_store_handle(q);
    if (qs)
        return qs;
    const char *vh = vhost_name(queue_vhost(q));
    edad_status st = store_queue_open(s->store, bytes_from_cstr(vh),
                                      bytes_from_cstr(queue_name(q)), &qs);
    if (st != EDAD_OK) {
        server_store_error(s, "queue creation", st);
        return NULL;
    }
    queue_set_store_handle(q, qs);
    return qs;
}

/* store_msg.flags: what message_info needs besides the property bytes. */
#define STORE_F_PRIORITY 0x100u     /* low byte: the priority */

static edad_status server_hook_enqueue(void *ctx, struct queue *q, struct queue_entry *e)
{
    struct edad_server *s = ctx;
    struct qstore *qs = server_queue_store(s, q);
    if (!qs)
        return EDAD_ERR_IO;
    struct message *m = e->msg;
    int prio = message_priority(m);
    struct store_msg sm = {
        .seq = e->seq,
        .flags = prio >= 0 ? STORE_F_PRIORITY | (uint32_t)prio : 0,
        .exchange = message_exchange(m),
        .routing_key = message_routing_key(m),
        .props = message_props(m),
        .body = message_body(m),
        .meta = server_persist_meta(s->persist, m),
    };
    struct store_loc loc;
    edad_status st = qstore_append(qs, &sm, &loc);
    if (st != EDAD_OK) {
        server_store_error(s, "append", st);
        return st;
    }
    e->store_loc = store_loc_pack(loc);
    if (s->broker_paging && queue_would_page(q, m)) {
        if (s->npp == s->pp_cap) {
            s->pp_cap = s->pp_cap ? 2 * s->pp_cap : 256;
            s->pp = xrealloc(s->pp, sizeof(*s->pp) * s->pp_cap);
        }
        s->pp[s->npp++] = (struct page_pending){queue_ref(q), message_ref(m), e->seq};
    }
    return EDAD_OK;
}

static void server_hook_remove(void *ctx, struct queue *q, const struct queue_entry *e)
{
    EDAD_UNUSED(ctx);
    struct qstore *qs = queue_store_handle(q);
    if (qs)
        qstore_ack(qs, store_loc_unpack(e->store_loc));
}

static void server_hook_deliver(void *ctx, struct queue *q, const struct queue_entry *e)
{
    EDAD_UNUSED(ctx);
    struct qstore *qs = queue_store_handle(q);
    if (qs)
        qstore_mark_delivered(qs, e->seq);
}

static void server_hook_delete(void *ctx, struct queue *q)
{
    struct edad_server *s = ctx;
    edad_status st = qstore_delete(queue_store_handle(q));
    if (st != EDAD_OK)
        server_store_error(s, "queue deletion", st);
}

static void server_definitions_write(struct edad_server *s)
{
    json_t *defs = broker_definitions_export(s->broker);
    edad_status st = store_definitions_write(s->store, defs);
    json_decref(defs);
    if (st != EDAD_OK)
        server_store_error(s, "definitions write", st);
}

static void server_hook_definitions(void *ctx, struct vhost *vh)
{
    EDAD_UNUSED(vh);
    struct edad_server *s = ctx;
    if (!s->recovering)
        server_definitions_write(s);
}

/* The expiration property (validated at publish): -1 when absent. */
static int64_t props_expiration(struct edad_bytes raw, struct arena *a)
{
    struct amqp_basic_properties p;
    if (amqp_basic_properties_decode(raw, a, &p) != EDAD_OK ||
        !(p.flags & AMQP_BASIC_EXPIRATION_FLAG))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < p.expiration.len; i++) {
        uint8_t c = p.expiration.ptr[i];
        if (c < '0' || c > '9' || v > INT64_MAX / 10 - 10)
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

/*
 * The message of a store record (recovery, paging read-back), or NULL
 * when it cannot be rebuilt.  a decodes the properties (reset here).
 */
static struct message *server_message_from_rec(struct edad_server *s, const struct queue *q,
                                               const struct store_rec *r, struct arena *a)
{
    struct message_info info = {
        .persistent = true,
        .has_priority = (r->flags & STORE_F_PRIORITY) != 0,
        .priority = (uint8_t)r->flags,
        .expiration_ms = props_expiration(r->props, a),
    };
    arena_reset(a);
    /* bytes plus the meta block: x-death history, TTL start (server_persist.c) */
    return server_persist_message(s->persist, r, q, &info);
}

/* Paging: read a paged entry's message back (read-ahead in the store). */
static struct message *server_hook_load(void *ctx, struct queue *q, const struct queue_entry *e)
{
    struct edad_server *s = ctx;
    struct qstore *qs = queue_store_handle(q);
    struct store_rec r;
    if (!qs)
        return NULL;
    edad_status st = qstore_read_at(qs, store_loc_unpack(e->store_loc), &r);
    if (st != EDAD_OK || r.seq != e->seq) {
        server_store_error(s, "paging read", st != EDAD_OK ? st : EDAD_ERR_MALFORMED);
        return NULL;
    }
    return server_message_from_rec(s, q, &r, &s->load_arena);
}

/* Purge: whole segments at once (qstore_purge / qstore_ack_many). */
static void server_hook_purge(void *ctx, struct queue *q, bool all, uint64_t *locs, size_t n)
{
    struct edad_server *s = ctx;
    struct qstore *qs = queue_store_handle(q);
    if (!qs)
        return;
    edad_status st = all ? qstore_purge(qs, NULL, 0, NULL) : qstore_ack_many(qs, locs, n, NULL);
    if (st != EDAD_OK)
        server_store_error(s, "purge", st);
}

/*
 * Recovery with paging: past the queue's threshold a record without an
 * expiration (and without meta) comes back as a paged entry, its body
 * left on disk.  True when r was taken that way.
 */
static bool server_recover_paged(struct queue *q, const struct store_rec *r, int64_t expiration,
                                 uint64_t next)
{
    if (expiration >= 0 || r->meta.len || !queue_recover_wants_paged(q))
        return false;
    int prio = (r->flags & STORE_F_PRIORITY) ? (int)(uint8_t)r->flags : -1;
    queue_recover_paged(q, r->seq, store_loc_pack(r->loc), (uint32_t)r->body.len, prio,
                        r->redelivered, next);
    return true;
}

struct recover_ctx {
    struct edad_server *s;
    struct arena a;
    uint64_t queues, messages, orphans, paged;
};

/* Load one store queue into its broker queue, or delete it if it has none. */
static bool server_recover_queue(void *arg, struct qstore *qs)
{
    struct recover_ctx *rc = arg;
    /* a durable delayed exchange's held messages (server_persist.c) */
    if (server_persist_recover_store(rc->s->persist, qs, &rc->messages))
        return true;
    struct broker_err err;
    struct vhost *vh = broker_vhost_find(rc->s->broker, qstore_vhost(qs));
    struct queue *q = vh ? queue_lookup(vh, qstore_name(qs), NULL, &err) : NULL;
    if (!q || !queue_is_durable(q) || queue_store_handle(q)) {
        log_info("store: deleting the messages of queue '%s' in vhost '%s': no durable "
                 "definition", qstore_name(qs).ptr, qstore_vhost(qs).ptr);
        rc->orphans++;
        qstore_delete(qs);
        return true;
    }
    queue_set_store_handle(q, qs);
    rc->queues++;
    uint64_t next = qstore_next_seq(qs);
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    edad_status st;
    while ((st = qstore_iter_next(it, &r)) == EDAD_OK) {
        if (rc->s->broker_paging &&
            server_recover_paged(q, &r, props_expiration(r.props, &rc->a), next)) {
            arena_reset(&rc->a);
            rc->messages++;
            rc->paged++;
            continue;
        }
        struct message *m = server_message_from_rec(rc->s, q, &r, &rc->a);
        if (!m)
            continue;
        queue_recover_entry(q, m, r.seq, store_loc_pack(r.loc), r.redelivered, next);
        message_unref(&m);
        rc->messages++;
    }
    if (st != EDAD_AGAIN)
        log_error("store: reading queue '%s' in vhost '%s' stopped: %s", queue_name(q),
                  vhost_name(vh), edad_strerror(st));
    qstore_iter_free(it);
    return true;
}

/*
 * Open the store, restore the durable definitions, then every durable
 * queue's messages; before any listener opens.
 */
static edad_status server_store_open(struct edad_server *s, char *err, size_t errlen)
{
    const struct edad_conf *conf = s->conf;
    if (!conf->data_dir)
        return server_access_start(s->broker, conf, true, err, errlen);
    uint64_t t0 = clock_mono_us();
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = conf->data_dir;
    o.sync = conf->store_sync;
    if (conf->store_segment_size)
        o.segment_size = conf->store_segment_size;
    o.idle_reclaim_ms = conf->store_idle_reclaim_ms;
    o.sync_done = server_store_sync_done;
    o.wakeup = server_store_wakeup;
    o.ctx = s;
    char why[512];
    service_notify("STATUS=recovering durable state from %s", conf->data_dir);
    edad_status st = store_open(&o, &s->store, why, sizeof(why));
    if (st != EDAD_OK) {
        snprintf(err, errlen, "%s", why);
        return st;
    }
    s->persist = server_persist_new(s->broker, s->store);
    struct import_report ir = {0};
    json_t *defs = NULL;
    st = store_definitions_read(s->store, &defs, why, sizeof(why));
    s->recovering = true;
    /* a new node (or one from before users existed) gets the default user */
    bool fresh = !server_access_defs_have_users(defs);
    if (st == EDAD_OK) {
        broker_definitions_import(s->broker, defs, &ir);
        json_decref(defs);
    } else if (st != EDAD_ERR_NOT_FOUND) {
        log_error("store: definitions.json unreadable (%s): starting without durable "
                  "definitions", why);
    }
    struct recover_ctx rc = {.s = s};
    arena_init(&rc.a, 0);
    store_foreach_queue(s->store, server_recover_queue, &rc);
    server_persist_recover_dedup(s->persist);
    arena_free(&rc.a);
    if (server_access_start(s->broker, conf, fresh, err, errlen) != EDAD_OK) {
        s->recovering = false;
        return EDAD_ERR_INVALID;
    }
    s->recovering = false;
    server_definitions_write(s);    /* what was restored (failed entries drop out) */
    struct store_stats ss;
    store_get_stats(s->store, &ss);
    log_info("store: recovered %u vhosts, %u exchanges, %u queues, %u bindings (%u failed), "
             "%" PRIu64 " messages (%" PRIu64 " paged) in %" PRIu64 " queues (%" PRIu64
             " orphan queues deleted, %" PRIu64 " damaged records, %" PRIu64 " bytes dropped) "
             "in %.3f s", ir.vhosts, ir.exchanges, ir.queues, ir.bindings, ir.failed,
             rc.messages, rc.paged, rc.queues, rc.orphans, ss.damaged_records, ss.dropped_bytes,
             (double)(clock_mono_us() - t0) / 1e6);

    struct broker_hooks h = {
        .ctx = s,
        .store_enqueue = server_hook_enqueue,
        .store_remove = server_hook_remove,
        .store_deliver = server_hook_deliver,
        .store_delete = server_hook_delete,
        .definitions_changed = server_hook_definitions,
        .store_load = server_hook_load,
        .store_purge = server_hook_purge,
    };
    server_persist_hooks(s->persist, &h);   /* delayed exchanges, dedup caches */
    broker_set_hooks(s->broker, &h);
    struct event_base *base = net_loop_event_base(s->loop);
    s->sync_ev = event_new(base, store_sync_fd(s->store), EV_READ | EV_PERSIST,
                           server_store_sync_cb, s);
    s->flush_ev = event_new(base, -1, 0, server_store_flush_cb, s);
    if (!s->sync_ev || !s->flush_ev || event_add(s->sync_ev, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the store's completion fd");
        return EDAD_ERR_STATE;
    }
    s->maintain_timer = net_timer_new(s->loop, server_store_maintain, s);
    net_timer_start(s->maintain_timer, 1000, true);
    struct session_store_ops ops = {s, server_sync_request, server_session_flush};
    session_server_set_store(s->sessions, &ops);
    return EDAD_OK;
}

/* ---- service: reload, forced exit, readiness ------------------------------------ */

/*
 * SIGALRM after SERVER_STOP_FORCE_S of a graceful stop: the stop hung
 * (a peer, a disk).  Only async-signal-safe calls here.
 */
static void server_force_exit(int sig)
{
    EDAD_UNUSED(sig);
    static const char msg[] = "edad: graceful stop did not finish within the bound; "
                              "exiting now\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    EDAD_UNUSED(w);
    _exit(SERVER_EXIT_FORCED);
}

static void server_force_exit_arm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = server_force_exit;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) == 0)
        alarm(SERVER_STOP_FORCE_S);
}

/* STATUS= naming the listeners; READY=1 the first time, then how the last
   reload went (note). */
static void server_notify_ready(struct edad_server *s, bool first, const char *note)
{
    char addrs[512] = "";
    size_t off = 0;
    for (unsigned i = 0; i < s->n_listeners && off < sizeof(addrs); i++) {
        int n = snprintf(addrs + off, sizeof(addrs) - off, "%s%s", i ? ", " : "",
                         net_listener_address(s->listeners[i]));
        if (n < 0)
            break;
        off += (size_t)n;
    }
    char ready[64] = "";
    if (first)
        snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld\n", (long)getpid());
    service_notify("%sSTATUS=accepting AMQP 0-9-1 connections on %s%s", ready,
                   s->n_listeners ? addrs : "no listener", note);
}

void server_set_reload(struct edad_server *s, server_reload_fn fn, void *ctx)
{
    s->reload_fn = fn;
    s->reload_ctx = ctx;
}

/*
 * SIGHUP: the reload callback re-reads the file and applies the reloadable
 * options to the live configuration (or keeps it whole when the file is
 * invalid), then the log file is reopened (logrotate) with the new levels.
 */
static void server_reload(struct edad_server *s)
{
    char err[1024];
    const char *note = " (configuration reloaded)";
    log_info("SIGHUP received: reloading the configuration and reopening the log");
    service_notify("STATUS=reloading the configuration");
    if (s->reload_fn && s->reload_fn(s->reload_ctx, err, sizeof(err)) != EDAD_OK) {
        log_error("configuration not reloaded, keeping the running one: %s", err);
        note = " (reload failed: running configuration kept, see the log)";
    }
    if (server_log_open(s->conf, err, sizeof(err)) != EDAD_OK)
        log_error("%s", err);
    else if (s->conf->log_file)
        log_info("log file reopened: %s", s->conf->log_file);
    server_notify_ready(s, false, note);
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
    size_t n = session_server_connection_count(s->sessions);
    log_info("%s received: stopping (%zu connections)", signame, n);
    service_notify("STOPPING=1\nSTATUS=stopping: closing %zu connections", n);
    server_force_exit_arm();
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
        if (s->stopping)
            log_info("SIGHUP received while stopping: ignored");
        else
            server_reload(s);
        return;
    }
    server_begin_stop(s, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- lifecycle ------------------------------------------------------------------- */

struct edad_server *server_new(const struct edad_conf *conf, char *err, size_t errlen)
{
    /* TLS files and mechanisms: fail before recovery, not after it */
    if (server_conf_check(conf, err, errlen) != EDAD_OK)
        return NULL;
    struct edad_server *s = xcalloc(1, sizeof(*s));
    s->conf = conf;
    s->loop = net_loop_new();
    /* net.io_threads: "auto" is -1 (a writer thread when CPUs > 1) */
    net_loop_set_io_threads(s->loop, !conf->net_io_threads ||
                            strcmp(conf->net_io_threads, "auto") == 0
                                ? -1 : atoi(conf->net_io_threads));
    struct broker_config bc = {
        .page_threshold = conf->data_dir ? conf->store_paging_threshold : 0,
    };
    s->broker_paging = bc.page_threshold != 0;
    s->broker = broker_new(&bc);
    arena_init(&s->load_arena, 0);
    broker_vhost_add(s->broker, conf->default_vhost ? conf->default_vhost : "/");
    s->sessions = session_server_new(s->loop, conf, s->broker);
    s->stop_timer = net_timer_new(s->loop, server_stop_poll, s);
    s->dispatch_timer = net_timer_new(s->loop, server_dispatch, s);
    broker_set_wakeup(s->broker, server_dispatch_wakeup, s);
    s->broker_timer = net_timer_new(s->loop, server_timers_fire, s);
    broker_set_timer_wakeup(s->broker, server_timers_wakeup, s);
    /* recovery completes before any listener opens */
    if (server_store_open(s, err, errlen) != EDAD_OK)
        goto fail;
    server_timers_arm(s);
    s->alarm = server_alarm_new(s->loop, conf, s->sessions, err, errlen);
    if (!s->alarm)
        goto fail;

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
    /* TLS first: its files are checked before any port opens, and a client
       that sees the TCP port accept finds the TLS one open too */
    if (server_tls_open(conf, &s->tls, err, errlen) != EDAD_OK)
        goto fail;
    struct net_transport_opts tls_opts = opts;
    tls_opts.tls = s->tls;
    for (unsigned i = 0; i < conf->n_ssl_listeners; i++) {
        const struct conf_listener *cl = &conf->ssl_listeners[i];
        char why[512];
        struct net_listener *l = net_listener_new(s->loop, cl->host, cl->port,
                                                  (int)conf->tcp_backlog, &tls_opts,
                                                  session_server_accept, s->sessions,
                                                  why, sizeof(why));
        if (!l) {
            snprintf(err, errlen, "cannot listen on listeners.ssl.%s: %s", cl->name, why);
            goto fail;
        }
        log_info("TLS listener %s: client certificates %s", net_listener_address(l),
                 conf->ssl_verify != CONF_SSL_VERIFY_PEER ? "not requested"
                 : conf->ssl_fail_if_no_peer_cert ? "required" : "verified when presented");
        s->listeners[s->n_listeners++] = l;
    }
    if (conf->n_listeners == 0 && conf->n_ssl_listeners == 0)
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
    s->mgmt = server_mgmt_start(s->loop, conf, s->broker, s->store, s->sessions,
                                server_session_flush, s);
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
    server_notify_ready(s, true, "");
    edad_status st = net_loop_run(s->loop);
    size_t left = session_server_connection_count(s->sessions);
    if (left)
        log_info("closing %zu connections that did not finish closing", left);
    service_notify("STATUS=flushing the store");
    return st;
}

void server_free(struct edad_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_listeners; i++)
        net_listener_free(s->listeners[i]);
    mgmt_free(s->mgmt);             /* it points at the sessions and the broker */
    s->mgmt = NULL;
    /* tearing down changes nothing on disk: what is stored stays stored */
    server_store_flush(s);
    broker_set_hooks(s->broker, NULL);
    server_alarm_free(s->alarm);    /* it points at the sessions */
    s->alarm = NULL;
    session_server_free(s->sessions);
    s->sessions = NULL;
    broker_set_wakeup(s->broker, NULL, NULL);
    broker_set_timer_wakeup(s->broker, NULL, NULL);
    if (s->sync_ev)
        event_free(s->sync_ev);
    if (s->flush_ev)
        event_free(s->flush_ev);
    s->flush_ev = NULL;
    net_timer_free(s->maintain_timer);
    server_persist_free(s->persist);
    store_close(s->store);    /* completions go nowhere: the sessions are gone */
    server_paging_settle(s, true);  /* references only: before the broker goes */
    free(s->pp);
    broker_free(s->broker);   /* after the sessions, which point into it */
    arena_free(&s->load_arena);
    net_timer_free(s->broker_timer);
    net_timer_free(s->stop_timer);
    net_timer_free(s->dispatch_timer);
    if (s->sig_term)
        event_free(s->sig_term);
    if (s->sig_int)
        event_free(s->sig_int);
    if (s->sig_hup)
        event_free(s->sig_hup);
    net_tls_free(s->tls);     /* after the transports (session_server_free) */
    net_loop_free(s->loop);
    free(s);
}
