/*
 * queue_int.h - broker-private: struct queue (ready storage, limits, TTL
 * index, timers, consumers) and struct consumer.  queue.c owns declaration,
 * enqueue and settlement; ready.c the ready storage; expiry.c message TTL
 * and x-expires; deadletter.c dead-lettering; consumer.c registration and
 * dispatch (priorities, single active consumer).  No routing here.
 */
#ifndef EDAD_BROKER_QUEUE_INT_H
#define EDAD_BROKER_QUEUE_INT_H

#include "broker_int.h"

/*
 * Storage: one level per priority (x-max-priority + 1 levels, else one).
 * A level is a ring of 24-byte entries in publish order (O(1) enqueue and
 * dequeue) plus a sorted array of requeued entries (their seq is below
 * every seq left in the ring, so the next ready entry of a level is the
 * smaller head of the two and a requeue restores the original position).
 * Both are sorted by seq, so an entry is found by binary search: expiry
 * drops a message wherever it sits by turning its slot into a tombstone
 * (msg == NULL) that dequeue skips; tombstones are compacted away once
 * they outnumber live entries.
 */

struct binding;

struct qring {
    struct queue_entry *buf;
    uint32_t cap;               /* power of two, or 0 */
    uint32_t head;
    uint32_t count;             /* slots in use, tombstones included */
};

/* Requeued entries, ascending seq, in buf[start .. end). */
struct qsorted {
    struct queue_entry *buf;
    uint32_t cap, start, end;
};

struct qlevel {
    struct qring ring;
    struct qsorted req;
    uint32_t live;              /* ready entries (not tombstones) */
    uint32_t dead;              /* tombstones in ring + req */
};

/* TTL index record: (expiry, seq | level << 56), lazily deleted. */
struct qexp {
    uint64_t at;
    uint64_t key;
};
#define QEXP_SEQ_MASK ((UINT64_C(1) << 56) - 1)

enum queue_overflow {
    QUEUE_OVERFLOW_DROP_HEAD,
    QUEUE_OVERFLOW_REJECT_PUBLISH,
    QUEUE_OVERFLOW_REJECT_PUBLISH_DLX,
};

/* Internal entry flags (beside QUEUE_ENTRY_REDELIVERED / _COUNT_HEADER). */
#define QUEUE_ENTRY_TTL0 0x100u     /* effective TTL 0: deliverable only at once */
#define QUEUE_ENTRY_XSEEN 0x200u    /* TTL index rebuild mark */
/*
 * Paged entry (ready storage only): its message lives only in the store.
 * msg is the shared message_paged_stub() of its priority, delivery_count
 * holds the body length (a paged entry was never delivered), store_loc
 * where to read it back.  queue_take_ready loads it (hooks.store_load)
 * before anything outside the ready storage sees it.
 */
#define QUEUE_ENTRY_PAGED 0x400u

static inline bool queue_entry_paged(const struct queue_entry *e)
{
    return (e->flags & QUEUE_ENTRY_PAGED) != 0;
}

/* A group of active consumers with one priority (x-priority). */
struct cgroup {
    int32_t priority;
    uint32_t n;
    struct consumer *rr;        /* next to try; ring through anext/aprev */
};

struct queue {
    struct broker *b;
    struct vhost *vh;           /* NULL once deleted */
    uint64_t hash;              /* of the name */
    uint64_t route_gen;         /* dedup mark of the current publish */
    uint64_t next_seq;
    /* ready storage (ready.c) */
    struct qlevel *levels;
    uint32_t nlevels;           /* 1, or x-max-priority + 1 */
    uint32_t ready;             /* live ready entries over all levels */
    uint64_t nonempty[4];       /* bitmap of levels with live entries */
    uint32_t paged;             /* ready entries that are paged (QUEUE_ENTRY_PAGED) */
    uint64_t paged_bytes;       /* their body bytes (included in ready_bytes) */
    /* limits and features, from the arguments at declaration */
    int64_t ttl_ms;             /* x-message-ttl, -1 none */
    uint64_t expires_ms;        /* x-expires, 0 none */
    int64_t max_len, max_bytes; /* x-max-length(-bytes), -1 none */
    enum queue_overflow overflow;
    int64_t delivery_limit;     /* -1 none */
    bool count_header;          /* add x-delivery-count on redelivery */
    bool sac;                   /* x-single-active-consumer */
    const struct broker_value *dlx;    /* into args, or NULL */
    const struct broker_value *dlrk;   /* into args, or NULL */
    /* TTL index (expiry.c): min-heap by expiry */
    struct qexp *xheap;
    uint32_t xn, xcap;
    uint32_t ttl_live;          /* ready entries with a finite expiry */
    struct broker_timer ttl_timer;
    struct broker_timer expires_timer;
    uint32_t refs;              /* vhost map + queue_ref holders + dispatch */
    uint32_t unacked;
    bool durable, exclusive, auto_delete, had_consumer, deleted, dirty;
    bool flow;                  /* consumers lag far behind: publishers wait (queue.c) */
    bool quorum;                /* declared x-queue-type=quorum */
    bool zombie;                /* deleted, on the broker's zombie list */
    const void *owner;          /* exclusive owner */
    void *store;                /* the store's handle (durable queues) */
    struct queue *onext, *oprev;     /* owner's exclusive queues */
    struct queue *dnext, *dprev;     /* broker dirty list */
    struct queue *znext, *zprev;     /* broker zombie list */
    struct broker_table *args;  /* own copy, never NULL */
    struct binding *dst_head;   /* bindings to this queue */
    struct dedup *dedup;        /* x-message-deduplication (dedup.c), or NULL */
    /* consumers (consumer.c) */
    struct consumer *cons_head, *cons_tail;  /* registration order */
    uint32_t consumer_count;
    struct cgroup *groups;      /* active consumers by priority, descending */
    uint32_t ngroups, groups_cap;
    struct consumer *sac_current;    /* single active consumer */
    struct consumer *exclusive_consumer;
    /* counters */
    uint64_t ready_bytes, unacked_bytes;
    uint64_t st_published, st_delivered, st_got, st_redelivered, st_acked, st_dropped;
    uint64_t st_expired, st_dead_lettered;
    size_t name_len;
    char name[];                /* NUL-terminated */
};

struct consumer {
    struct queue *q;
    const struct consumer_ops *ops;
    void *ctx;
    struct consumer *next, *prev;    /* all consumers of q, registration order */
    struct consumer *anext, *aprev;  /* its priority group's active ring */
    uint32_t refs;
    bool no_ack, exclusive, active, cancelled;
    int32_t priority;           /* x-priority */
    struct broker_table *args;
    size_t tag_len;
    char tag[];
};

/* ---- queue.c ---- */
/* The live queue with this exact name, or NULL (no exclusivity check). */
struct queue *queue_find(struct vhost *vh, struct edad_bytes name);
/*
 * Add m (taking a reference) at the tail, applying x-overflow; store hook
 * for persistent on durable.  EDAD_ERR_STATE when reject-publish(-dlx)
 * refused it (dead-lettered first with -dlx), another error from the store.
 * *stored (may be NULL) tells whether the store took it (confirm later).
 */
edad_status queue_enqueue(struct queue *q, struct message *m, bool *stored);
/* Delete q now: consumers cancelled, messages dropped, bindings removed. */
void queue_delete_now(struct queue *q);
/* Free the memory of a deleted queue with no holders left. */
void queue_free_memory(struct queue *q);
/* Mark q for dispatch when it has ready messages and an active consumer. */
void queue_maybe_dirty(struct queue *q);
/*
 * Take the next ready entry for delivery, dropping (dead-lettering) the
 * expired ones met on the way; flags it for the x-delivery-count header
 * when q counts deliveries.  False when nothing is ready.
 */
bool queue_take_ready(struct queue *q, struct queue_entry *e, bool for_consumer);
/* An entry left q undelivered for reason: counters, hook, dead-lettering,
 * store removal; takes e->msg. */
void queue_drop_entry(struct queue *q, struct queue_entry *e, enum broker_drop_reason reason);

/* ---- ready.c ---- */
void ready_init(struct queue *q, uint32_t nlevels);
void ready_free(struct queue *q);
/* Level of a message on q. */
uint32_t ready_level(const struct queue *q, const struct message *m);
/* Append at the tail of its level (seq must be the newest). */
void ready_push(struct queue *q, const struct queue_entry *e);
/* Put a requeued entry back at its seq position. */
void ready_requeue(struct queue *q, const struct queue_entry *e);
/* Pop the next ready entry (highest level, lowest seq); false when none. */
bool ready_take(struct queue *q, struct queue_entry *e);
/* The live entry with this seq on level, or NULL. */
struct queue_entry *ready_find(struct queue *q, uint32_t level, uint64_t seq);
/* Remove a live entry found by ready_find (leaves a tombstone). */
void ready_remove(struct queue *q, uint32_t level, struct queue_entry *slot,
                   struct queue_entry *out);
/* The ready paged entry with seq holds m again (one more reference). */
void ready_unpage(struct queue *q, uint64_t seq, struct message *m);
/* Store locations of the live persistent entries (out has room for
 * q->ready); returns how many. */
size_t ready_stored_locs(const struct queue *q, uint64_t *out);

/* ---- expiry.c ---- */
/* Expiry of e on q (broker clock ms), UINT64_MAX when none. */
uint64_t expiry_of(const struct queue *q, const struct queue_entry *e);
/* A ready entry was added (enqueue or requeue): index its expiry. */
void expiry_track(struct queue *q, struct queue_entry *e);
/* A live ready entry left the storage (taken or removed). */
void expiry_untrack(struct queue *q, const struct queue_entry *e);
/*
 * Is the entry just taken expired at now?  for_consumer: a TTL-0 entry is
 * still deliverable to a consumer of the current dispatch.
 */
bool expiry_is_expired(const struct queue *q, const struct queue_entry *e, uint64_t now,
                       bool for_consumer);
/* (Re)start the x-expires countdown (queue unused from now on). */
void expiry_touch(struct queue *q);
/* A consumer appeared: stop the x-expires countdown. */
void expiry_in_use(struct queue *q);
void expiry_init(struct queue *q);
/* Cancel the timers and free the index (deletion). */
void expiry_free(struct queue *q);

/* ---- deadletter.c ---- */
/*
 * e (its message reference is borrowed) died on q for reason: when q has
 * a dead-letter exchange, a copy with updated x-death is routed there
 * (now, or once the current publish finishes; never recursively).
 */
void deadletter_entry(struct queue *q, const struct queue_entry *e,
                      enum broker_drop_reason reason);
/* Route the dead letters queued while routing was busy. */
void deadletter_flush(struct broker *b);
void deadletter_free_pending(struct broker *b);

/* ---- consumer.c ---- */
/* Deliver up to budget messages; true when more could go now. */
bool queue_dispatch(struct queue *q, uint32_t budget);
/* Cancel every consumer with its cancelled callback (queue deletion). */
void consumer_cancel_all_notify(struct queue *q);
/* Some consumer may receive now. */
static inline bool queue_has_active(const struct queue *q)
{
    return q->ngroups > 0;
}

#endif
