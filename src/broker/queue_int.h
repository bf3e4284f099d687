/*
 * queue_int.h - broker-private: struct queue (ready storage, counters,
 * consumers) and struct consumer.  queue.c owns declaration, storage and
 * settlement; consumer.c registration and dispatch.  No routing here.
 */
#ifndef EDAD_BROKER_QUEUE_INT_H
#define EDAD_BROKER_QUEUE_INT_H

#include "broker_int.h"

/*
 * Storage: a ring of 24-byte entries in publish order (O(1) enqueue and
 * dequeue) plus a min-heap by sequence number of requeued entries; the next
 * ready entry is the smaller head of the two, so a requeued message goes
 * back to its original position.  Later issues extend this without
 * changing the interface:
 *  - priorities (x-max-priority): one ring+heap pair per level, dequeue
 *    from the highest non-empty level;
 *  - TTL (x-message-ttl, expiration): a timer wheel of (expiry, seq)
 *    records; at expiry the entry is found by binary search on seq in the
 *    ring (monotonic) or in the heap and dropped in place (a tombstone that
 *    dequeue skips), so messages expire anywhere in the queue without a
 *    scan; the drop goes through hooks.dropped (dead-lettering);
 *  - length limits: the counters are kept already (ready, ready_bytes);
 *  - durability: hooks.store_enqueue / store_remove on durable queues for
 *    persistent messages (queue_enqueue and the settle paths).
 */

struct binding;

struct qring {
    struct queue_entry *buf;
    uint32_t cap;               /* power of two, or 0 */
    uint32_t head;
    uint32_t count;
};

struct qheap {
    struct queue_entry *buf;
    uint32_t cap;
    uint32_t count;
};

struct queue {
    struct broker *b;
    struct vhost *vh;           /* NULL once deleted */
    uint64_t hash;              /* of the name */
    uint64_t route_gen;         /* dedup mark of the current publish */
    uint64_t next_seq;
    struct qring ring;
    struct qheap heap;
    uint32_t refs;              /* vhost map + queue_ref holders + dispatch */
    uint32_t unacked;
    bool durable, exclusive, auto_delete, had_consumer, deleted, dirty;
    bool quorum;                /* declared x-queue-type=quorum */
    bool zombie;                /* deleted, on the broker's zombie list */
    const void *owner;          /* exclusive owner */
    struct queue *onext, *oprev;     /* owner's exclusive queues */
    struct queue *dnext, *dprev;     /* broker dirty list */
    struct queue *znext, *zprev;     /* broker zombie list */
    struct broker_table *args;  /* own copy, never NULL */
    struct binding *dst_head;   /* bindings to this queue */
    /* consumers */
    struct consumer *cons_head;
    uint32_t consumer_count;
    struct consumer *rr;        /* next active consumer to try */
    struct consumer *exclusive_consumer;
    /* counters */
    uint64_t ready_bytes, unacked_bytes;
    uint64_t st_published, st_delivered, st_got, st_redelivered, st_acked, st_dropped;
    size_t name_len;
    char name[];                /* NUL-terminated */
};

struct consumer {
    struct queue *q;
    const struct consumer_ops *ops;
    void *ctx;
    struct consumer *next, *prev;    /* all consumers of q */
    struct consumer *anext, *aprev;  /* active ring (may have credit) */
    uint32_t refs;
    bool no_ack, exclusive, active, cancelled;
    int32_t priority;           /* x-priority, kept for issue 4 */
    struct broker_table *args;
    size_t tag_len;
    char tag[];
};

/* The live queue with this exact name, or NULL (no exclusivity check). */
struct queue *queue_find(struct vhost *vh, struct edad_bytes name);
/* Add m (taking a reference) at the tail; store hook for persistent on durable. */
edad_status queue_enqueue(struct queue *q, struct message *m);
/* Delete q now: consumers cancelled, messages dropped, bindings removed. */
void queue_delete_now(struct queue *q);
/* Free the memory of a deleted queue with no holders left. */
void queue_free_memory(struct queue *q);
/* Pop the next ready entry; false when none. */
bool queue_take(struct queue *q, struct queue_entry *e);
/* Mark q for dispatch when it has ready messages and an active consumer. */
void queue_maybe_dirty(struct queue *q);
/* Deliver up to budget messages; true when more could go now. */
bool queue_dispatch(struct queue *q, uint32_t budget);
/* Cancel every consumer with its cancelled callback (queue deletion). */
void consumer_cancel_all_notify(struct queue *q);

#endif
