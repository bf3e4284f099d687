/*
 * broker.h - the broker domain model: vhosts, exchanges, queues, bindings,
 * messages, consumers, routing and per-queue storage, with RabbitMQ's
 * semantics, reply codes and reply texts (struct broker_err).
 * Not here: frames, sockets, the event loop, AMQP encoding; the session and
 * the management API call it with plain arguments.  Single-threaded.
 */
#ifndef EDAD_BROKER_H
#define EDAD_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edad/core.h"
#include "edad/status.h"

struct broker;
struct vhost;
struct exchange;
struct queue;
struct consumer;
struct message;
struct dedup;                   /* a deduplication cache (dedup.c) */

/* ---- errors ------------------------------------------------------------- */

/* AMQP reply codes the broker produces (same numbers as the protocol). */
enum broker_reply_code {
    BROKER_ACCESS_REFUSED = 403,
    BROKER_NOT_FOUND = 404,
    BROKER_RESOURCE_LOCKED = 405,
    BROKER_PRECONDITION_FAILED = 406,
    BROKER_RESOURCE_ERROR = 506,
    BROKER_COMMAND_INVALID = 503,
    BROKER_NOT_ALLOWED = 530,
    BROKER_NOT_IMPLEMENTED = 540,
    BROKER_INTERNAL_ERROR = 541,
};

/*
 * Filled by every failing broker call: code is the reply code to send and
 * text the complete reply text as RabbitMQ words it, name prefix included,
 * e.g. "NOT_FOUND - no exchange 'x' in vhost '/'".  Whether the error
 * closes the channel or the connection is the session's decision (503 is a
 * connection error in AMQP, the others channel errors).
 */
struct broker_err {
    uint16_t code;
    char text[256];
};

/* ---- typed argument tables (x-arguments, message headers) ---------------- */

/*
 * Value kinds use the AMQP field type letters (RabbitMQ's interpretation),
 * so the session converts its decoded tables kind for kind.
 */
enum broker_value_kind {
    BROKER_V_BOOL = 't',
    BROKER_V_I8 = 'b',
    BROKER_V_U8 = 'B',
    BROKER_V_I16 = 's',
    BROKER_V_U16 = 'u',
    BROKER_V_I32 = 'I',
    BROKER_V_U32 = 'i',
    BROKER_V_I64 = 'l',
    BROKER_V_U64 = 'L',
    BROKER_V_FLOAT = 'f',
    BROKER_V_DOUBLE = 'd',
    BROKER_V_DECIMAL = 'D',
    BROKER_V_STRING = 'S',      /* longstr */
    BROKER_V_BYTES = 'x',
    BROKER_V_ARRAY = 'A',
    BROKER_V_TIMESTAMP = 'T',
    BROKER_V_TABLE = 'F',
    BROKER_V_VOID = 'V',
};

struct broker_arg;
struct broker_value;

struct broker_table {
    uint32_t count;
    const struct broker_arg *entries;
    struct edad_bytes raw;      /* encoded table body (no length prefix) as
                                   received; empty when built by hand */
};

struct broker_array {
    uint32_t count;
    const struct broker_value *values;
};

struct broker_value {
    uint8_t kind;               /* enum broker_value_kind */
    union {
        bool b;
        int64_t i;              /* b B s u I i l T (T: seconds since epoch) */
        uint64_t u;             /* L */
        double d;               /* f d */
        struct { uint8_t scale; uint32_t value; } dec;
        struct edad_bytes str;  /* S x */
        struct broker_table table;
        struct broker_array array;
    } v;
};

struct broker_arg {
    struct edad_bytes key;
    struct broker_value value;
};

/* Entry with this key (exact bytes), or NULL.  t may be NULL. */
const struct broker_value *broker_table_get(const struct broker_table *t, const char *key);

/* ---- broker and virtual hosts ------------------------------------------- */

/* Process-wide knobs; zero-initialised means defaults. */
struct broker_config {
    uint32_t dispatch_batch;    /* messages per queue per dispatch pass (default 256) */
    /*
     * Paging (store.paging_threshold): once the ready messages a durable
     * queue holds in memory pass this many body bytes, further persistent
     * messages it stores are kept as compact entries without their message
     * and read back through hooks.store_load when they leave the queue.
     * 0 (default): never page.
     */
    uint64_t page_threshold;
};

struct broker *broker_new(const struct broker_config *cfg);
/*
 * Free the broker and everything in it (vhosts, queues, messages).  Every
 * session must be gone first: entries they still hold point into freed
 * memory afterwards.  NULL is a no-op.
 */
void broker_free(struct broker *b);

/*
 * Create a vhost with the predeclared exchanges ("", amq.direct, amq.fanout,
 * amq.topic, amq.headers, amq.match), or return the existing one.
 */
struct vhost *broker_vhost_add(struct broker *b, const char *name);
/* NULL when absent. */
struct vhost *broker_vhost_find(struct broker *b, struct edad_bytes name);
/* Delete a vhost with its queues (consumers get cancelled) and exchanges. */
edad_status broker_vhost_delete(struct broker *b, struct edad_bytes name);
const char *vhost_name(const struct vhost *vh);
struct broker *vhost_broker(const struct vhost *vh);
/* Grows each time a message joins the backlog of a queue whose consumers
 * lag far behind (more than 4,096 ready messages or 16 MiB): the publisher
 * should wait (session flow) until broker_flow_release() moves, which it
 * does when such a queue has delivered down to 3,072 messages (12 MiB). */
uint64_t broker_flow_events(const struct broker *b);
uint64_t broker_flow_release(const struct broker *b);
/*
 * fn for every vhost of b, in name order (strcmp); stops when fn returns
 * false.  fn may delete vhosts: a deleted one is skipped, one added during
 * the walk is not visited.
 */
void broker_foreach_vhost(struct broker *b, bool (*fn)(void *ctx, struct vhost *vh), void *ctx);

/*
 * The connection identified by owner has gone: delete every exclusive queue
 * it declared.  The session requeues its unacked messages and cancels its
 * consumers before calling this.
 */
void broker_connection_closed(struct broker *b, const void *owner);

/*
 * Generate a unique server name: prefix + 22 url-safe base64 characters of
 * 16 random bytes ("amq.gen-", "amq.ctag-").  out needs strlen(prefix) + 23.
 */
void broker_name_generate(const char *prefix, char *out, size_t outlen);

/* ---- hooks for later issues (durability, dead-lettering) ----------------- */

struct queue_entry;

enum broker_drop_reason {
    BROKER_DROP_REJECTED,       /* basic.reject / basic.nack without requeue */
    BROKER_DROP_EXPIRED,        /* TTL (issue 4) */
    BROKER_DROP_MAXLEN,         /* x-max-length overflow (issue 4) */
    BROKER_DROP_DELIVERY_LIMIT, /* x-delivery-limit (issue 4) */
};

/*
 * Optional callbacks; any member may be NULL.  They are the seams where the
 * store (issue 5) and dead-lettering (issue 4) attach:
 *  - store_enqueue: a persistent message was enqueued on a durable queue.
 *    Return EDAD_OK, or an error to refuse it (disk full): the message is
 *    then not enqueued there and the publish reports it as rejected.
 *  - store_remove: such an entry left its live queue for good (ack, drop,
 *    purge).  Deleting a durable queue is reported once, through
 *    definitions_changed, not entry by entry.
 *  - dropped: an entry leaves its queue undelivered for reason; the hook
 *    receives the queue and entry (message reference still owned by the
 *    broker: take a message_ref to keep it).  Dead-lettering lives here.
 *    store_enqueue may set e->store_loc (where the store keeps it); the
 *    entry carries it from then on.
 *  - store_deliver: such an entry is about to be handed to a consumer or
 *    basic.get (before the delivery leaves; the store marks it delivered).
 *  - store_delete: q (durable, with a store handle) is deleted: free its
 *    disk.  Its entries are not reported one by one.
 *  - definitions_changed: a durable exchange, queue or binding was created
 *    or deleted; the store rewrites its definitions file.  vh is NULL when
 *    users, permissions, vhosts or vhost limits changed (access.h).
 */
struct broker_hooks {
    void *ctx;
    edad_status (*store_enqueue)(void *ctx, struct queue *q, struct queue_entry *e);
    void (*store_remove)(void *ctx, struct queue *q, const struct queue_entry *e);
    void (*store_deliver)(void *ctx, struct queue *q, const struct queue_entry *e);
    /* a queue with a store handle (queue_set_store_handle) was deleted */
    void (*store_delete)(void *ctx, struct queue *q);
    void (*dropped)(void *ctx, struct queue *q, const struct queue_entry *e,
                    enum broker_drop_reason reason);
    void (*definitions_changed)(void *ctx, struct vhost *vh);
    /*
     * Paging (broker_config.page_threshold; without store_load nothing is
     * paged).  store_load: the message of a paged entry (e->store_loc,
     * e->seq) read back from the store, one reference for the caller;
     * NULL when it cannot be read (the entry is then dropped and removed
     * from the store).  store_purge: drop the stored records of q's ready
     * entries at once -- every record of q when all is true (no entry of
     * q is unacked), else the n locations in locs (sorted in place); when
     * NULL, purge removes entry by entry through store_remove.
     */
    struct message *(*store_load)(void *ctx, struct queue *q, const struct queue_entry *e);
    void (*store_purge)(void *ctx, struct queue *q, bool all, uint64_t *locs, size_t n);
    /*
     * Messages held by durable x-delayed-message exchanges (persistent ones
     * only) and dedup caches of durable queues and exchanges; these get
     * persist_ctx (server_persist.c).  delayed_hold: store m, held on
     * exchange (of vhost) for delay_ms with sequence number seq; *handle is
     * the exchange's store handle (NULL until the callee sets it); *loc gets
     * the record's location.  An error means m is not held (the publisher
     * gets a nack), except EDAD_ERR_TOO_LARGE: held in memory only.
     * delayed_release: the held message at loc was routed.
     * delayed_delete: the exchange was deleted.
     */
    void *persist_ctx;
    edad_status (*delayed_hold)(void *ctx, const char *vhost, const char *exchange,
                                void **handle, const struct message *m, uint64_t seq,
                                uint64_t delay_ms, uint64_t *loc);
    void (*delayed_release)(void *ctx, void *handle, uint64_t loc);
    void (*delayed_delete)(void *ctx, void *handle);
    /*
     * dedup_add: the cache d of durable queue (kind 'q') or exchange ('x')
     * name in vhost added key (len bytes, the canonical encoding), expiring
     * at expires_ms on the broker clock (UINT64_MAX: never); *handle as in
     * delayed_hold.  dedup_delete: that cache is gone (its owner deleted).
     */
    void (*dedup_add)(void *ctx, void **handle, const struct dedup *d, char kind,
                      const char *vhost, const char *name, const uint8_t *key, size_t len,
                      uint64_t expires_ms);
    void (*dedup_delete)(void *ctx, void *handle);
};

/* Copy *hooks (NULL clears them). */
void broker_set_hooks(struct broker *b, const struct broker_hooks *hooks);

/* ---- definitions (RabbitMQ's definitions JSON) ----------------------------- */

struct json_t;                  /* jansson's json_t */

/*
 * A new JSON object in RabbitMQ's definitions format holding every vhost
 * and the durable exchanges (not the predeclared ones), durable
 * non-exclusive queues and bindings between durable entities, bindings in
 * their creation order per source, and (access.h) users, permissions and
 * vhost limits (as "vhost-limits" parameters, as RabbitMQ 3.10 exports
 * them).  Caller json_decref()s.  This is /api/definitions' GET body.
 */
struct json_t *broker_definitions_export(struct broker *b);

struct import_report {
    uint32_t vhosts, exchanges, queues, bindings;
    uint32_t failed;            /* entries that could not be declared (logged) */
    uint32_t users, permissions;        /* issue 7 (access.h) */
};
/*
 * Declare what defs (RabbitMQ's definitions format) lists: vhosts, then
 * exchanges, queues and bindings in their listed order.  Existing equal
 * entities are kept; entries that fail are logged and skipped.
 */
void broker_definitions_import(struct broker *b, const struct json_t *defs,
                               struct import_report *r);
/*
 * RabbitMQ's load_definitions: read the JSON file at path and import it
 * (users, vhosts, permissions, vhost limits, exchanges, queues, bindings;
 * existing entities are updated or kept).  EDAD_ERR_INVALID with a reason
 * in err when the file cannot be read or parsed; entries that fail are
 * logged and counted in r->failed.
 */
edad_status broker_definitions_load_file(struct broker *b, const char *path,
                                         struct import_report *r, char *err, size_t errlen);

/* ---- dispatch scheduling -------------------------------------------------- */

/*
 * Enqueue never calls into consumers.  A queue that has ready messages and
 * a consumer that may have credit is marked dirty; the server calls
 * broker_dispatch_pending() once per event-loop iteration, which delivers
 * up to cfg.dispatch_batch messages per dirty queue.  Returns true when
 * work remains (call again on the next iteration without waiting).
 */
bool broker_dispatch_pending(struct broker *b);
/*
 * fn is called (at most once until the next broker_dispatch_pending) when
 * the dirty set goes from empty to non-empty, so the server can wake its
 * loop (event_active) instead of polling.
 */
void broker_set_wakeup(struct broker *b, void (*fn)(void *ctx), void *ctx);

/* ---- timers (TTL, x-expires, delayed messages) ----------------------------- */

/*
 * The broker has no event loop.  Everything due at a time (message expiry,
 * queue expiry, delayed messages) is one intrusive timer per queue or
 * exchange in a broker-wide min-heap (struct broker_timer, broker_int.h);
 * per-message deadlines live in per-object indexes behind those timers.
 * Times are milliseconds of the broker clock (clock_mono_ms by default).
 *
 * The server arms one loop timer for broker_next_deadline_ms() and calls
 * broker_run_timers() when it fires, then arms again for the next deadline.
 */

/* Replace the clock (unit tests drive time by hand); NULL restores it. */
void broker_set_clock(struct broker *b, uint64_t (*now_ms)(void *ctx), void *ctx);
uint64_t broker_now_ms(const struct broker *b);
/*
 * The earliest deadline (broker clock ms), UINT64_MAX when nothing is
 * due.  The value returned is remembered: when a later change makes the
 * earliest deadline earlier than it, the timer wakeup is called once.
 */
uint64_t broker_next_deadline_ms(struct broker *b);
/*
 * Run what is due at now_ms (expire messages, delete expired queues,
 * route due delayed messages).  Work re-armed for <= now_ms during the
 * call waits for the next call, so one call is bounded; callers arm
 * again with broker_next_deadline_ms() (which may already be due).
 */
void broker_run_timers(struct broker *b, uint64_t now_ms);
/* fn: the earliest deadline moved before the one last returned. */
void broker_set_timer_wakeup(struct broker *b, void (*fn)(void *ctx), void *ctx);

/* ---- exchanges ------------------------------------------------------------ */

struct exchange_declare {
    struct edad_bytes name;     /* CR/LF are stripped, as RabbitMQ does */
    struct edad_bytes type;     /* direct, fanout, topic, headers,
                                   x-consistent-hash, x-delayed-message */
    bool passive;
    bool durable;
    bool auto_delete;           /* deleted when its last source binding goes */
    bool internal;              /* no direct publishing (403) */
    const struct broker_table *args;   /* may be NULL; copied */
};

/*
 * exchange.declare.  Errors: 503 unknown type (also an unknown
 * x-delayed-type), 403 default exchange or reserved "amq." prefix on
 * creation, 404 passive and absent, 406 inequivalent
 * type/durable/auto_delete/internal/alternate-exchange or bad argument
 * (x-delayed-type missing, hash-header with hash-property, deduplication
 * arguments of the wrong type).
 */
edad_status exchange_declare(struct vhost *vh, const struct exchange_declare *d,
                             struct broker_err *err);
/*
 * exchange.delete.  Deleting an absent exchange succeeds (RabbitMQ).
 * Errors: 403 default or amq.* exchange, 406 if_unused and it is the source
 * of a binding.  Bindings to and from it go; auto-delete sources left
 * without bindings are deleted in turn.
 */
edad_status exchange_delete(struct vhost *vh, struct edad_bytes name, bool if_unused,
                            struct broker_err *err);
/* NULL when absent. */
struct exchange *exchange_find(struct vhost *vh, struct edad_bytes name);

/*
 * exchange.bind / exchange.unbind: messages routed by source also go to
 * destination's bindings.  Errors: 403 default exchange on either side, 404
 * source or destination absent (source reported first), 406 invalid
 * binding arguments (headers x-match).  Bind is idempotent; unbinding a
 * binding that does not exist succeeds.
 */
edad_status exchange_bind(struct vhost *vh, struct edad_bytes destination,
                          struct edad_bytes source, struct edad_bytes routing_key,
                          const struct broker_table *args, struct broker_err *err);
edad_status exchange_unbind(struct vhost *vh, struct edad_bytes destination,
                            struct edad_bytes source, struct edad_bytes routing_key,
                            const struct broker_table *args, struct broker_err *err);

struct exchange_info {
    const char *name;
    size_t name_len;
    const char *type;
    bool durable, auto_delete, internal;
    const struct broker_table *args;    /* never NULL */
};
void exchange_get_info(const struct exchange *x, struct exchange_info *out);

/*
 * Recovery of what a durable x-delayed-message exchange held (the server,
 * before any client connects).  exchange_delayed_attach: x's store handle
 * (see broker_hooks.delayed_hold) and the sequence number to continue
 * from; false when x is not an x-delayed-message exchange.
 * exchange_delayed_restore: hold m (a reference is taken) until due_ms on
 * the broker clock; messages already due (due_ms <= now) are released
 * first, in order of order_key (their original due time), then in seq.
 */
bool exchange_delayed_attach(struct exchange *x, void *handle, uint64_t next_seq);
void exchange_delayed_restore(struct exchange *x, struct message *m, uint64_t seq,
                              uint64_t due_ms, uint64_t order_key, uint64_t loc);

/* ---- dedup caches across restarts (dedup.c) ---- */
/*
 * The dedup cache of durable queue (kind 'q', not exclusive) or exchange
 * ('x') name in vh, or NULL when there is no such owner with a cache.
 * dedup_attach sets its hooks handle; dedup_restore adds a key (oldest
 * first; a key already present moves to the newest end; the oldest goes
 * past x-cache-size) expiring at expires_ms on the broker clock;
 * dedup_foreach lists the keys oldest first (expired ones included).
 */
struct dedup *dedup_of(struct vhost *vh, char kind, struct edad_bytes name);
void dedup_attach(struct dedup *d, void *handle);
void dedup_restore(struct dedup *d, const uint8_t *key, size_t len, uint64_t expires_ms);
void dedup_foreach(const struct dedup *d,
                   void (*fn)(void *ctx, const uint8_t *key, size_t len, uint64_t expires_ms),
                   void *ctx);
uint32_t dedup_capacity(const struct dedup *d);

/* ---- messages ------------------------------------------------------------- */

/* Flags the session derives once from the content header at publish. */
struct message_info {
    bool persistent;            /* delivery_mode == 2 */
    bool has_priority;
    uint8_t priority;
    int64_t expiration_ms;      /* parsed expiration property; -1 = none */
};

/*
 * One allocation holding the reference count, the routing info (exchange,
 * routing key), the content-header property bytes verbatim (property flags
 * and values, as received) and room for body_size bytes of body, which the
 * caller fills through message_body_mut() before publishing.  Returns a
 * message with one reference, or NULL when a name exceeds 255 bytes or the
 * body exceeds UINT32_MAX bytes.  Bodies are never copied per queue.
 */
struct message *message_new(struct edad_bytes exchange, struct edad_bytes routing_key,
                            struct edad_bytes props, uint64_t body_size,
                            const struct message_info *info);
struct message *message_ref(struct message *m);
/* Drop one reference and set *mp to NULL; frees at zero.  NULL is a no-op. */
void message_unref(struct message **mp);
uint8_t *message_body_mut(struct message *m);
struct edad_bytes message_body(const struct message *m);
struct edad_bytes message_props(const struct message *m);
struct edad_bytes message_exchange(const struct message *m);
struct edad_bytes message_routing_key(const struct message *m);
bool message_is_persistent(const struct message *m);
/* -1 when the message has no priority. */
int message_priority(const struct message *m);
int64_t message_expiration_ms(const struct message *m);
uint32_t message_refcount(const struct message *m);

/*
 * Dead-letter history of a message the broker dead-lettered (RabbitMQ's
 * deaths annotation).  Deliveries of such a message carry properties
 * re-encoded by the session: "x-death" (an array of tables, most recent
 * first, each: [original-expiration longstr,] count long, reason longstr,
 * queue longstr, time timestamp, exchange longstr, routing-keys array of
 * longstr), "x-first-death-{reason,queue,exchange}" and
 * "x-last-death-{reason,queue,exchange}" (longstr) replacing any headers
 * of those names, headers sorted by key, and no expiration property.
 */
struct broker_death {
    struct edad_bytes queue;
    struct edad_bytes reason;   /* rejected, expired, maxlen, delivery_limit */
    struct edad_bytes exchange;
    /* routing-keys: the key the message was published with, then its CC
     * keys (never BCC ones); routing_keys_n >= 1 */
    const struct edad_bytes *routing_keys;
    uint32_t routing_keys_n;
    uint64_t count;
    uint64_t time_s;            /* first death, seconds since the epoch */
    struct edad_bytes original_expiration;   /* empty: none */
};
struct broker_deaths {
    uint32_t n;
    const struct broker_death *v;    /* v[0] the most recent */
    struct edad_bytes first_reason, first_queue, first_exchange;
    struct edad_bytes last_reason, last_queue, last_exchange;
};
/* NULL unless the broker dead-lettered m. */
const struct broker_deaths *message_deaths(const struct message *m);

/*
 * What a stored message needs besides exchange, routing key, property
 * bytes and body (persist.c): the dead-letter history, the TTL start as
 * wall clock (converted from the broker clock with wall_now_ms, ms since
 * the epoch) and, when due_wall_ms is not 0, the due time of a message
 * held by a delayed exchange.  Writes into buf[0..cap) and returns the
 * size needed (0: nothing to keep, the store's plain record); when that
 * exceeds cap nothing useful is written: grow buf and call again.
 */
size_t message_meta_encode(const struct broker *b, const struct message *m, uint64_t wall_now_ms,
                           uint64_t due_wall_ms, uint8_t *buf, size_t cap);

/* A stored message to rebuild (all slices borrowed). */
struct message_restore {
    struct edad_bytes exchange, routing_key, props, body;
    struct edad_bytes meta;             /* message_meta_encode's bytes, may be empty */
    struct message_info info;
    const struct queue *queue;          /* its x-message-ttl applies; NULL: none */
    uint64_t wall_now_ms;
};
/*
 * A new message (one reference) equal to the stored one: same bytes, the
 * same x-death history, and a TTL start such that it expires at the same
 * wall-clock moment as before the restart (at once when that has passed).
 * Malformed meta is ignored (*meta_bad, may be NULL, says so).  NULL when
 * a name is too long.
 */
struct message *message_restore(struct broker *b, const struct message_restore *r,
                                bool *meta_bad);
/* The due time (wall ms) in a meta block; 0 when none or malformed. */
uint64_t message_meta_due(struct edad_bytes meta);

/* ---- publishing ----------------------------------------------------------- */

struct broker_publish_opts {
    /*
     * Message headers for headers exchanges, decoded lazily: called at most
     * once per publish, only when a headers exchange is on the route; may
     * return NULL (no headers).  get_headers itself may be NULL.
     */
    const struct broker_table *(*get_headers)(void *ctx);
    void *headers_ctx;
};

struct broker_publish_result {
    uint32_t routed;            /* queues the message was enqueued on; 0 with
                                   mandatory -> basic.return 312 NO_ROUTE */
    uint32_t rejected;          /* queues that refused it (store error, later
                                   x-overflow=reject-publish): nack when confirming */
    uint32_t pending;           /* queues that stored it (persistent message,
                                   durable queue): confirm after the store's sync */
    uint32_t store_failed;      /* of rejected: the store could not take it
                                   (write error, disk full) */
    uint32_t deduplicated;      /* dropped as duplicates (x-message-deduplication
                                   of the exchange or of queues): accepted, so
                                   confirmed and never returned */
    uint32_t delayed;           /* held by an x-delayed-message exchange, routed
                                   when due: accepted, confirmed, not returned */
};

/*
 * basic.publish of m to the exchange named in m (message_exchange) with its
 * routing key: routes through exchange-to-exchange bindings and alternate
 * exchanges, each queue receiving the message at most once, and enqueues
 * it (each queue takes its own reference; the caller keeps its own and
 * still has to unref it).  Never calls consumers (see dispatch).  opts may
 * be NULL.  Errors: 404 no exchange, 403 internal exchange.
 */
edad_status broker_publish(struct vhost *vh, struct message *m,
                           const struct broker_publish_opts *opts,
                           struct broker_publish_result *res, struct broker_err *err);

/* ---- message codec (supplied by the session layer) --------------------------- */

/*
 * The broker never parses AMQP; where it must look inside a message after
 * the publish call returned (a delayed message routed later through a
 * headers or consistent-hash exchange, deduplication keys, hash-property)
 * it asks this codec, which the session registers once.  Any member may be
 * NULL: the broker then behaves as if the message had no headers or
 * properties.
 *  - headers: the application headers of m decoded into a (valid until a is
 *    reset), or NULL when there are none or they cannot be decoded.
 *  - property: a basic property by RabbitMQ's name ("correlation_id",
 *    "message_id", "timestamp" as decimal seconds) as bytes in a; false
 *    when absent.
 *  - with_header_int: a new message (one reference) equal to m but with the
 *    application header key set to the integer v (signedint when it fits,
 *    else long); NULL when m cannot be re-encoded.
 */
struct broker_codec {
    void *ctx;
    const struct broker_table *(*headers)(void *ctx, const struct message *m, struct arena *a);
    bool (*property)(void *ctx, const struct message *m, const char *name, struct arena *a,
                     struct edad_bytes *out);
    struct message *(*with_header_int)(void *ctx, const struct message *m, const char *key,
                                       int64_t v);
    /* A copy of m without header key (BCC); NULL when it cannot be made. */
    struct message *(*without_header)(void *ctx, const struct message *m, const char *key);
};

/* Copy *codec (NULL clears it). */
void broker_set_codec(struct broker *b, const struct broker_codec *codec);

/* ---- direct reply-to (amq.rabbitmq.reply-to) --------------------------------- */

#define BROKER_REPLY_TO "amq.rabbitmq.reply-to"
#define BROKER_REPLY_PREFIX "amq.rabbitmq.reply-to."
/* Room for a reply name, NUL included. */
#define BROKER_REPLY_NAME_MAX 64

struct broker_reply;

/*
 * A channel's reply consumer: registers a pseudo-queue named
 * "amq.rabbitmq.reply-to.<22 random url-safe characters>" (broker-wide,
 * like RabbitMQ's channel-pid encoding: a responder in any vhost can reply).
 * A publish to the default exchange with that routing key calls deliver
 * synchronously with the message (the callee takes a reference if it keeps
 * it; it must not call back into the broker); it then counts as routed.
 * With no such registration the publish is unroutable.
 */
struct broker_reply *broker_reply_register(struct broker *b,
                                           void (*deliver)(void *ctx, struct message *m),
                                           void *ctx);
/* The generated name (valid while registered). */
const char *broker_reply_name(const struct broker_reply *r);
/* Unregister and free; *rp becomes NULL.  NULL is a no-op. */
void broker_reply_unregister(struct broker_reply **rp);
/* Is name a live reply pseudo-queue (queue.declare of it succeeds)? */
bool broker_reply_exists(struct broker *b, struct edad_bytes name);

/* ---- queues --------------------------------------------------------------- */

/*
 * A message on a queue.  Deliveries hand the entry, by value, to the
 * session, which keeps it (delivery tag -> entry) until it settles it with
 * exactly one of queue_ack / queue_requeue / queue_reject_drop.
 */
struct queue_entry {
    struct message *msg;        /* one reference, owned by whoever holds the entry */
    uint64_t seq;               /* position in its queue (requeue restores it) */
    uint32_t delivery_count;    /* deliveries before this one */
    uint32_t flags;             /* QUEUE_ENTRY_* */
    uint64_t store_loc;         /* the store's location (store_enqueue hook), 0 if none */
};
#define QUEUE_ENTRY_REDELIVERED 0x1u
/* The queue counts deliveries (x-delivery-limit, quorum): deliveries with
 * delivery_count > 0 carry an "x-delivery-count" header (long) of it. */
#define QUEUE_ENTRY_COUNT_HEADER 0x2u

struct queue_declare {
    struct edad_bytes name;     /* empty: server-named "amq.gen-..." */
    bool passive;
    bool durable;
    bool exclusive;
    bool auto_delete;
    const struct broker_table *args;   /* may be NULL; copied */
    const void *owner;          /* connection token (exclusive ownership) */
};

struct queue_declare_ok {
    struct queue *queue;
    const char *name;           /* valid while the queue exists */
    size_t name_len;
    uint32_t message_count;     /* ready messages */
    uint32_t consumer_count;
};

/*
 * queue.declare.  Errors: 404 passive and absent, 403 "amq." prefix, 405
 * exclusive queue of another connection (or exclusive mismatch), 406
 * inequivalent durable/auto_delete/arguments or invalid/unsupported
 * argument.  x-queue-type=quorum declares an ordinary durable queue (and
 * logs it).  ok may be NULL.
 */
edad_status queue_declare(struct vhost *vh, const struct queue_declare *d,
                          struct queue_declare_ok *ok, struct broker_err *err);

/*
 * The queue to operate on for basic.get, basic.consume, etc.: NULL with
 * 404 when absent, 405 when it is exclusive to another owner.
 */
struct queue *queue_lookup(struct vhost *vh, struct edad_bytes name, const void *owner,
                           struct broker_err *err);

/*
 * queue.delete.  An absent queue deletes fine with count 0 (RabbitMQ).
 * Errors: 405 exclusive to another owner, 406 if_empty with ready
 * messages, 406 if_unused with consumers.  Consumers get their cancelled
 * callback; ready messages are dropped; *message_count (may be NULL) gets
 * the ready count at deletion.
 */
edad_status queue_delete(struct vhost *vh, struct edad_bytes name, const void *owner,
                         bool if_unused, bool if_empty, uint32_t *message_count,
                         struct broker_err *err);

/* queue.purge: drop ready messages (unacked stay). Errors: 404, 405. */
edad_status queue_purge(struct vhost *vh, struct edad_bytes name, const void *owner,
                        uint32_t *message_count, struct broker_err *err);

/*
 * queue.bind / queue.unbind.  Errors: 403 default exchange, 404 exchange
 * or queue absent (exchange first), 405 exclusive queue of another owner,
 * 406 invalid binding arguments.  Unbinding an absent binding succeeds.
 */
edad_status queue_bind(struct vhost *vh, struct edad_bytes queue, struct edad_bytes exchange,
                       struct edad_bytes routing_key, const struct broker_table *args,
                       const void *owner, struct broker_err *err);
edad_status queue_unbind(struct vhost *vh, struct edad_bytes queue, struct edad_bytes exchange,
                         struct edad_bytes routing_key, const struct broker_table *args,
                         const void *owner, struct broker_err *err);

/*
 * basic.get: take the next ready message (requeued ones at their original
 * position first).  Returns false when empty.  With no_ack the entry is
 * settled already and the caller only message_unrefs e->msg when done;
 * otherwise it settles the entry later.  *message_count (may be NULL) gets
 * the ready count left.
 */
bool queue_get(struct queue *q, bool no_ack, struct queue_entry *e, uint32_t *message_count);

/* Settle an unacked entry (takes its message reference; e->msg becomes NULL). */
void queue_ack(struct queue *q, struct queue_entry *e);
/* Return it to its original position, flagged redelivered. */
void queue_requeue(struct queue *q, struct queue_entry *e);
/* Reject without requeue: dropped (dead-lettered through the hook, later). */
void queue_reject_drop(struct queue *q, struct queue_entry *e);

/*
 * Keep q allocated while the caller holds the pointer (a deleted queue
 * stays allocated, marked deleted, until its refs and unacked entries are
 * gone).  Unacked entries keep their queue alive by themselves.
 */
struct queue *queue_ref(struct queue *q);
void queue_unref(struct queue **qp);
bool queue_is_deleted(const struct queue *q);
bool queue_is_durable(const struct queue *q);
/* The store's handle for a durable queue (opaque to the broker; NULL until set). */
void *queue_store_handle(const struct queue *q);
void queue_set_store_handle(struct queue *q, void *h);
/*
 * Recovery at start: append m (taking a reference) at the tail of q as the
 * entry with seq and store_loc, without calling store_enqueue; the queue
 * numbers later messages after the highest seq recovered (at least
 * next_seq).  seq must exceed every seq already in q.  No limits, no
 * dead-lettering; TTLs start now.
 */
void queue_recover_entry(struct queue *q, struct message *m, uint64_t seq, uint64_t store_loc,
                         bool redelivered, uint64_t next_seq);
/*
 * Recovery with paging: true when q pages (durable, no x-message-ttl,
 * paging configured) and the messages it holds in memory already pass
 * the threshold, so the next recovered message without an expiration
 * should come back as a paged entry (queue_recover_paged) rather than be
 * loaded.
 */
bool queue_recover_wants_paged(const struct queue *q);
/*
 * Recovery: append a paged entry (no message in memory; read back through
 * hooks.store_load on delivery) of body_len bytes with priority (-1:
 * none), otherwise as queue_recover_entry.
 */
void queue_recover_paged(struct queue *q, uint64_t seq, uint64_t store_loc, uint32_t body_len,
                         int priority, bool redelivered, uint64_t next_seq);
/*
 * Paging and write errors: called from hooks.store_enqueue, true when the
 * message being stored will go to q as a paged entry.  The store keeps
 * such a message's record only once its write succeeded; until then the
 * caller may keep a reference and, when the write failed, give the
 * message back with queue_unpage(q, seq, m) (the entry with seq becomes an
 * ordinary in-memory one again; nothing happens when it is no longer a
 * ready paged entry).
 */
bool queue_would_page(const struct queue *q, const struct message *m);
void queue_unpage(struct queue *q, uint64_t seq, struct message *m);
const char *queue_name(const struct queue *q);
struct vhost *queue_vhost(const struct queue *q);

struct queue_info {
    const char *name;
    size_t name_len;
    bool durable, exclusive, auto_delete;
    const void *owner;
    const struct broker_table *args;    /* never NULL */
};
void queue_get_info(const struct queue *q, struct queue_info *out);

struct queue_stats {
    uint32_t ready;             /* messages waiting */
    uint32_t unacked;           /* delivered, not settled */
    uint32_t consumers;
    uint64_t ready_bytes;       /* body bytes of ready messages */
    uint64_t unacked_bytes;
    uint64_t published;         /* total enqueued */
    uint64_t delivered;         /* total deliveries to consumers */
    uint64_t got;               /* total basic.get deliveries */
    uint64_t redelivered;       /* deliveries with the redelivered flag */
    uint64_t acked;             /* total settled by ack (and no-ack) */
    uint64_t dropped;           /* rejected without requeue, purged */
    uint64_t expired;           /* dropped by TTL */
    uint64_t dead_lettered;     /* copies routed to the dead-letter exchange */
    uint32_t paged;             /* ready messages kept on disk only (paging) */
    uint64_t paged_bytes;       /* their body bytes (part of ready_bytes) */
};
void queue_get_stats(const struct queue *q, struct queue_stats *out);

/* ---- consumers ------------------------------------------------------------- */

/*
 * Supplied by the session for each consumer.  Callbacks must not call
 * consumer_cancel on other consumers of the same queue or delete queues;
 * cancelling the consumer being called is allowed.
 *  - can_deliver: may one more message go now (prefetch credit, channel
 *    flow, output not saturated)?  After false the broker does not ask
 *    again until consumer_resume().
 *  - deliver: the entry is the session's now (see struct queue_entry).  For
 *    no-ack consumers it is settled already: unref e->msg when sent.
 *  - cancelled: the queue was deleted; the consumer is freed right after
 *    this returns (send basic.cancel when the client has
 *    consumer_cancel_notify).
 */
struct consumer_ops {
    bool (*can_deliver)(void *ctx);
    void (*deliver)(void *ctx, struct consumer *c, struct queue *q, struct queue_entry *e);
    void (*cancelled)(void *ctx, struct consumer *c);
};

struct consume_opts {
    struct edad_bytes tag;      /* uniqueness per channel is the session's job */
    bool no_ack;
    bool exclusive;
    const struct broker_table *args;   /* may be NULL; copied */
};

/*
 * basic.consume on q (from queue_lookup).  Errors: 403 exclusive consumer
 * present, or exclusive requested while others consume; 406 bad x-priority.
 */
edad_status queue_consume(struct queue *q, const struct consume_opts *o,
                          const struct consumer_ops *ops, void *ctx,
                          struct consumer **out, struct broker_err *err);
/*
 * basic.cancel (or channel close): unregister and free c.  Its unacked
 * entries stay with the session.  The last consumer of an auto-delete queue
 * deletes the queue.
 */
void consumer_cancel(struct consumer *c);
/*
 * Credit may be back (ack, nack/reject, recover, qos change, output
 * drained, channel.flow on): put c back in its queue's rotation.  Cheap and
 * idempotent; call it for every consumer that may have regained credit.
 */
void consumer_resume(struct consumer *c);
struct queue *consumer_queue(const struct consumer *c);
struct edad_bytes consumer_tag(const struct consumer *c);
bool consumer_no_ack(const struct consumer *c);

/* ---- iteration (management API) -------------------------------------------- */

/* Call fn for each live item; stop early when fn returns false. */
void vhost_foreach_queue(struct vhost *vh, bool (*fn)(void *ctx, struct queue *q), void *ctx);
void vhost_foreach_exchange(struct vhost *vh, bool (*fn)(void *ctx, struct exchange *x),
                            void *ctx);
size_t vhost_queue_count(const struct vhost *vh);
size_t vhost_exchange_count(const struct vhost *vh);

struct binding_info {
    const char *source;         /* exchange name */
    const char *destination;
    bool destination_is_queue;
    struct edad_bytes routing_key;
    const struct broker_table *args;    /* never NULL */
};
/*
 * Explicit bindings whose source is x (the default exchange's implicit
 * ones are not listed).  fn must not add or remove bindings.
 */
void exchange_foreach_binding(struct exchange *x,
                              bool (*fn)(void *ctx, const struct binding_info *bi), void *ctx);
size_t exchange_binding_count(const struct exchange *x);

#endif
