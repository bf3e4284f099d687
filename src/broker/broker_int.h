/*
 * broker_int.h - broker-private: struct broker and struct vhost, the error
 * helper and name utilities shared by the broker's modules.  Exchanges and
 * queues have their own private headers; other layers see only broker.h.
 */
#ifndef EDAD_BROKER_INT_H
#define EDAD_BROKER_INT_H

#include "edad/broker.h"
#include "hmap.h"

#define BROKER_NAME_MAX 255

struct queue;
struct exchange;

struct broker {
    struct broker_config cfg;
    struct broker_hooks hooks;
    uint64_t seed;              /* hash seed, random per process */
    struct hmap vhosts;         /* struct vhost by name */
    struct hmap owners;         /* struct owner_rec by owner pointer */
    uint64_t route_gen;         /* bumped per publish: visited marks */
    uint64_t flow_events;       /* enqueues onto a consumed queue's backlog */
    uint64_t flow_release;      /* deliveries from a queue in flow */
    /* scratch for routing (reused, never shrinks below its peak) */
    struct queue **route_q;
    uint32_t route_qn, route_qcap;
    struct exchange **route_x;
    uint32_t route_xn, route_xcap;
    /* dirty queues awaiting dispatch (FIFO, intrusive) */
    struct queue *dirty_head, *dirty_tail;
    uint32_t dirty_count;
    void (*wakeup)(void *ctx);
    void *wakeup_ctx;
    bool wakeup_sent;
    /* deleted queues still referenced (refs or unacked entries) */
    struct queue *zombies;
    /* timers (timer.c): min-heap of armed timers by due time */
    struct broker_timer **timers;
    uint32_t ntimers, timers_cap;
    uint64_t timer_gen;         /* bumped per broker_run_timers */
    uint64_t deadline_reported; /* last broker_next_deadline_ms() result */
    uint64_t (*clock)(void *ctx);
    void *clock_ctx;
    void (*timer_wakeup)(void *ctx);
    void *timer_wakeup_ctx;
    /* dead letters (deadletter.c): routed once no routing is under way */
    struct dl_pending *dl_head, *dl_tail;
    uint32_t route_busy;        /* >0 while b->route_q is being enqueued */
    bool dl_running;
    /* direct reply-to, message codec (reply.c, codec.c) */
    struct hmap replies;        /* struct broker_reply by name */
    struct broker_codec codec;  /* message inspection, set by the session */
    struct arena scratch;       /* codec output; reset per routing step */
    /* users, permissions, vhost limits (access.c; issue 7); NULL until used */
    struct access_store *access;
    uint64_t access_gen;        /* bumped by access.c on every change to them */
};

/*
 * Routing for broker-internal publishes (dead letters): route m from x
 * (NULL: the default exchange) by routing key rk, following
 * exchange-to-exchange bindings and alternate exchanges, and leave the
 * queues found in b->route_q[0 .. b->route_qn) (publish.c).
 */
void broker_route_collect(struct vhost *vh, struct exchange *x, struct message *m,
                          struct edad_bytes rk);

/*
 * An intrusive timer owned by a queue or exchange (one per purpose, not
 * per message).  fire runs from broker_run_timers with the timer already
 * disarmed; it may re-arm it, arm or cancel others, delete queues.
 * Embed it, zero-initialised, and cancel it before freeing the owner.
 */
struct broker_timer {
    uint64_t due_ms;
    uint64_t gen;               /* run generation it was armed in */
    uint32_t slot;              /* heap index + 1; 0 = not armed */
    void (*fire)(struct broker_timer *t, uint64_t now_ms);
};

/* (Re)arm t for due_ms (replaces an earlier schedule). */
void broker_timer_arm(struct broker *b, struct broker_timer *t, uint64_t due_ms);
/* Disarm t; no-op when not armed. */
void broker_timer_cancel(struct broker *b, struct broker_timer *t);
static inline bool broker_timer_armed(const struct broker_timer *t)
{
    return t->slot != 0;
}
/* Free the timer heap (broker_free). */
void broker_timers_free(struct broker *b);

/* Free the user store (broker_free; access.c). */
void access_free(struct broker *b);

/* Free the reply registry and codec scratch (broker_free; codec.c). */
void broker_codec_free(struct broker *b);

#define VHOST_QCACHE_SLOTS 8u

struct vhost {
    struct broker *broker;
    uint64_t hash;
    struct hmap exchanges;      /* struct exchange by name */
    struct hmap queues;         /* struct queue by name */
    struct exchange *default_x;
    /* queue_find's recent hits, by a cheap key of the name (queue.c):
     * publishing to the same queues skips hashing; a queue leaves its slot
     * when deleted */
    struct queue *qcache[VHOST_QCACHE_SLOTS];
    size_t name_len;
    char name[];                /* NUL-terminated */
};

/* Exclusive queues of one connection, deleted when it closes. */
struct owner_rec {
    const void *owner;
    struct queue *head;
};

/*
 * Fill err (may be NULL) with code and "NAME - " + formatted text; returns
 * the edad_status matching the code (404 NOT_FOUND, 406 INVALID, ...).
 */
edad_status broker_err_set(struct broker_err *err, uint16_t code, const char *fmt, ...)
    EDAD_PRINTF(3, 4);

/*
 * Copy name without CR and LF (RabbitMQ strips them from declared names)
 * into buf[BROKER_NAME_MAX + 1]; false when longer than 255 bytes.
 */
bool broker_name_strip(struct edad_bytes in, char *buf, struct edad_bytes *out);

/* "kind 'name' in vhost 'v'" (RabbitMQ's rs/1) into buf. */
void broker_rs(char *buf, size_t n, const char *kind, const char *name, size_t name_len,
               const struct vhost *vh);

/* Name equality callback for maps of vhosts, exchanges and queues. */
uint64_t broker_hash_name(const struct broker *b, struct edad_bytes name);

/* Exclusive-queue bookkeeping (broker.c). */
void broker_owner_add(struct broker *b, struct queue *q);
void broker_owner_remove(struct broker *b, struct queue *q);

/* Dirty-list maintenance (broker.c). */
void broker_dirty_add(struct broker *b, struct queue *q);
void broker_dirty_remove(struct broker *b, struct queue *q);

/* Zombie list: deleted but still referenced queues (broker.c). */
void broker_zombie_add(struct broker *b, struct queue *q);
void broker_zombie_remove(struct broker *b, struct queue *q);

/* Many message bytes were just freed (queue deleted or purged): maybe
 * return the heap's free pages to the system. */
void broker_memory_released(uint64_t bytes);

/* Notify the store that durable definitions changed. */
void broker_definitions_changed(struct broker *b, struct vhost *vh);

/* Vhost internals (vhost.c). */
struct vhost *vhost_new(struct broker *b, struct edad_bytes name);
void vhost_destroy(struct vhost *vh);

#endif
