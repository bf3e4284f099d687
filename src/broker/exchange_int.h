/*
 * exchange_int.h - broker-private: struct exchange, struct binding, the
 * exchange type vtable and the routing context the types emit into.  One
 * file per type implements the vtable (exchange_direct.c, ...); binding.c
 * owns binding lifetime, publish.c the routing walk, exchange_delayed.c
 * the messages an x-delayed-message exchange holds, dedup.c the
 * deduplication caches, reply.c direct reply-to.
 */
#ifndef EDAD_BROKER_EXCHANGE_INT_H
#define EDAD_BROKER_EXCHANGE_INT_H

#include "broker_int.h"
#include "queue_int.h"

struct binding;
struct route_ctx;
struct dedup;
struct delay_store;

/*
 * An exchange type.  add/remove keep the type's routing index in step with
 * the exchange's bindings; route emits every matching binding into the
 * context (duplicates are fine: the context deduplicates).
 */
struct exchange_type {
    const char *name;
    /* 406 for declare arguments the type refuses (what: "exchange 'x' in
     * vhost '/'"); may be NULL */
    edad_status (*validate)(const struct broker_table *args, const char *what,
                            struct broker_err *err);
    /* 406 for bindings the type refuses (headers: bad x-match,
     * x-consistent-hash: a key that is no positive integer); may be NULL */
    edad_status (*validate_binding)(struct edad_bytes key, const struct broker_table *args,
                                    struct broker_err *err);
    void (*add)(struct exchange *x, struct binding *b);
    void (*remove)(struct exchange *x, struct binding *b);
    void (*route)(struct exchange *x, struct route_ctx *rc);
    void (*free_index)(struct exchange *x);  /* called when no bindings remain */
};

extern const struct exchange_type exchange_type_direct;
extern const struct exchange_type exchange_type_fanout;
extern const struct exchange_type exchange_type_topic;
extern const struct exchange_type exchange_type_headers;
extern const struct exchange_type exchange_type_chash;

/* The name x-delayed-message exchanges report as their type. */
#define EXCHANGE_TYPE_DELAYED "x-delayed-message"

/* The type named name, or NULL. */
const struct exchange_type *exchange_type_find(struct edad_bytes name);
/* The type name x reports: "x-delayed-message" or its routing type's. */
const char *exchange_type_name(const struct exchange *x);

struct exchange {
    struct vhost *vh;
    const struct exchange_type *type;  /* routing type (x-delayed-type when delayed) */
    uint64_t hash;              /* of the name, for the vhost map */
    uint64_t route_gen;         /* visited mark of the current publish */
    struct broker_table *args;  /* own copy, never NULL */
    const struct broker_value *alternate;   /* into args, or NULL */
    bool durable, auto_delete, internal, is_default, deleted;
    bool delayed;               /* x-delayed-message: x-delay holds messages */
    struct delay_store *delay;  /* held messages (exchange_delayed.c), lazily */
    struct dedup *dedup;        /* x-message-deduplication, or NULL */
    struct hmap bindings;       /* source bindings by identity */
    struct binding *src_head;   /* source bindings, oldest first */
    struct binding *src_tail;
    struct binding *dst_head;   /* bindings to this exchange */
    void *index;                /* type-specific routing index */
    size_t name_len;
    char name[];                /* NUL-terminated */
};

struct binding {
    struct exchange *source;
    struct queue *dq;           /* destination: a queue ... */
    struct exchange *dx;        /* ... or an exchange */
    uint64_t hash;              /* identity (destination, key, args) */
    struct binding *snext, *sprev;   /* in source->src_head */
    struct binding *dnext, *dprev;   /* in destination's dst_head */
    struct broker_table *args;  /* own copy, never NULL */
    void *tdata;                /* type-specific (bucket, node, spec) */
    uint32_t tidx;              /* index in the type's array */
    uint32_t key_len;
    char key[];                 /* NUL-terminated */
};

/* ---- binding arrays (swap-remove keeps tidx current) ---------------------- */

struct bvec {
    struct binding **v;
    uint32_t n, cap;
};

void bvec_push(struct bvec *bv, struct binding *b);
void bvec_remove(struct bvec *bv, struct binding *b);
void bvec_free(struct bvec *bv);

/* ---- routing -------------------------------------------------------------- */

struct route_ctx {
    struct broker *b;
    struct vhost *vh;
    uint64_t gen;
    struct edad_bytes rk;
    const struct broker_publish_opts *opts;
    bool headers_fetched;
    const struct broker_table *headers;
    uint32_t matches;           /* bindings emitted by the exchange being routed */
    struct message *msg;        /* the message routed (NULL: no holding, no
                                   property lookups) */
    bool no_delay;              /* a delayed message being released: never hold */
    uint32_t held;              /* messages held by delayed exchanges */
    uint32_t held_stored;       /* of which stored (durable exchange, persistent) */
    uint32_t held_failed;       /* not held: the store could not take them */
    /* sender-selected distribution: the CC and BCC header arrays (or NULL) */
    const struct broker_array *cc, *bcc;
};

/* Add b's destination to the result (queues once, exchanges to the walk). */
void route_emit(struct route_ctx *rc, struct binding *b);
/* Message headers (fetched once per publish), or NULL. */
const struct broker_table *route_headers(struct route_ctx *rc);

/*
 * Route m from x as a publish does (exchange-to-exchange bindings,
 * alternate exchanges, delayed exchanges unless no_delay, deduplication on
 * queues) and enqueue it on every queue found; res counts the outcome.
 * The routing step of broker_publish and of delayed releases (publish.c).
 */
void route_and_enqueue(struct vhost *vh, struct exchange *x, struct message *m,
                       const struct broker_publish_opts *opts, bool no_delay,
                       struct broker_publish_result *res);

/* ---- codec (codec.c): answers live in b->scratch until codec_reset ---------- */

const struct broker_table *codec_headers(struct broker *b, const struct message *m);
bool codec_property(struct broker *b, const struct message *m, const char *name,
                    struct edad_bytes *out);
void codec_reset(struct broker *b);

/* ---- direct reply-to (reply.c) ------------------------------------------------- */

/* Deliver m to the reply consumer named rk; false when there is none. */
bool broker_reply_route(struct broker *b, struct edad_bytes rk, struct message *m);

/* ---- delayed exchanges (exchange_delayed.c) ---------------------------------- */

/*
 * The delay m asks of a delayed exchange: its x-delay header as RabbitMQ's
 * plugin reads it (integers; strings and floats converted), held when
 * 0 < delay <= 2^32-1 ms.  False: route it now.
 */
bool delay_of(const struct broker_table *headers, uint64_t *delay_ms);
/*
 * Hold m (taking a reference) on x until now + delay_ms.  A persistent
 * message on a durable exchange is stored first (hooks.delayed_hold).
 * Returns 1 held and stored, 0 held in memory only, -1 not held (the
 * store failed).
 */
int delay_hold(struct exchange *x, struct message *m, uint64_t delay_ms);
/* Messages x holds. */
uint64_t delay_count(const struct exchange *x);
/* Drop everything x holds and its timer (exchange deletion). */
void delay_store_free(struct exchange *x);

/* ---- exchange and binding internals ---------------------------------------- */

struct exchange *exchange_create(struct vhost *vh, struct edad_bytes name,
                                 const struct exchange_type *type, bool durable,
                                 bool auto_delete, bool internal,
                                 const struct broker_table *args);
/* Remove x from its vhost with all its bindings, then free it. */
void exchange_delete_now(struct exchange *x);
/* Free a removed exchange's memory (vhost teardown). */
void exchange_free_memory(struct exchange *x);

/* Remove and free b; an auto-delete source left without bindings goes too. */
void binding_remove(struct binding *b);
/* Remove every binding whose destination is q. */
void binding_remove_all_to_queue(struct queue *q);
void binding_remove_all_to_exchange(struct exchange *x);
void binding_remove_all_from_exchange(struct exchange *x);

#endif
