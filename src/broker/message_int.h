/*
 * message_int.h - broker-private layout of struct message: one allocation
 * of a 32-byte header followed by exchange name, routing key, property
 * bytes, body and (dead-lettered messages only) a pointer to the deaths
 * block.  Shared by every queue it is routed to (refcount); not atomic:
 * messages never cross threads.
 */
#ifndef EDAD_BROKER_MESSAGE_INT_H
#define EDAD_BROKER_MESSAGE_INT_H

#include "edad/broker.h"

#define MESSAGE_F_PERSISTENT 0x1u
#define MESSAGE_F_PRIORITY 0x2u
#define MESSAGE_F_DEATHS 0x4u      /* a deaths block pointer follows the body */
#define MESSAGE_F_TS 0x8u          /* ts_ms is set (first enqueue) */
#define MESSAGE_F_STUB 0x10u       /* a paged entry's shared stand-in (no data) */
#define MESSAGE_F_CACHED 0x20u     /* block from message.c's recycling cache */

struct message {
    uint32_t refs;
    uint32_t body_len;
    uint32_t props_len;
    uint8_t exchange_len;
    uint8_t rk_len;
    uint8_t flags;              /* MESSAGE_F_* */
    uint8_t priority;
    int64_t expiration_ms;      /* -1: none */
    uint64_t ts_ms;             /* broker clock at the first enqueue (TTL base) */
    uint8_t data[];             /* exchange, routing key, props, body */
};

static inline uint32_t message_body_len(const struct message *m)
{
    return m->body_len;
}

static inline bool message_persistent(const struct message *m)
{
    return (m->flags & MESSAGE_F_PERSISTENT) != 0;
}

/*
 * The shared stand-in for the message of a paged entry with priority
 * (-1: none): persistent, no data, no expiration, never freed (its
 * reference count is not used).  Lets the ready storage and the TTL index
 * treat a paged entry like any other (level, expiry) without a message.
 */
struct message *message_paged_stub(int priority);

/*
 * message_new for a dead letter: deaths (one allocation, freed with the
 * message; ownership passes) is attached; no expiration.
 */
struct message *message_new_dead(struct edad_bytes exchange, struct edad_bytes routing_key,
                                 struct edad_bytes props, struct edad_bytes body,
                                 const struct message *orig, struct broker_deaths *deaths);

/* Free every recycled message block (after a big queue is released, so
 * RSS goes back to its baseline). */
void message_cache_trim(void);

#endif
