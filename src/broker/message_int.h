/*
 * message_int.h - broker-private layout of struct message: one allocation
 * of a 24-byte header followed by exchange name, routing key, property
 * bytes and body.  Shared by every queue it is routed to (refcount); not
 * atomic: messages never cross threads.
 */
#ifndef EDAD_BROKER_MESSAGE_INT_H
#define EDAD_BROKER_MESSAGE_INT_H

#include "edad/broker.h"

#define MESSAGE_F_PERSISTENT 0x1u
#define MESSAGE_F_PRIORITY 0x2u

struct message {
    uint32_t refs;
    uint32_t body_len;
    uint32_t props_len;
    uint8_t exchange_len;
    uint8_t rk_len;
    uint8_t flags;              /* MESSAGE_F_* */
    uint8_t priority;
    int64_t expiration_ms;      /* -1: none */
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

#endif
