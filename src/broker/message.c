/*
 * message.c - reference-counted messages: routing info, the content-header
 * property bytes kept verbatim (deliveries resend them without re-encoding)
 * and the body, in one allocation.  No AMQP parsing: the session derives
 * persistent/priority/expiration once and passes them in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message_int.h"

/*
 * Recycled message blocks.  A message is allocated on publish and freed on
 * ack, so in steady state the same sizes come and go at the rate of the
 * traffic; glibc's per-thread cache stops at ~1 KiB, above which every
 * malloc/free pair costs ~850 instructions (1 KiB bodies).  Blocks up to
 * MSG_CACHE_MAX bytes are rounded up to MSG_CACHE_GRAIN and kept on one
 * LIFO list per size when freed, MSG_CACHE_BYTES in all, so the cache holds
 * about what is in flight and memory still goes back after a backlog is
 * deleted.  The loop thread only (messages never cross threads).
 */
#define MSG_CACHE_GRAIN 64
#define MSG_CACHE_MAX (8 * 1024)
#define MSG_CACHE_BYTES (2u * 1024 * 1024)

struct msg_block {
    struct msg_block *next;
};

static struct msg_block *msg_cache[MSG_CACHE_MAX / MSG_CACHE_GRAIN + 1];
static size_t msg_cache_bytes;

static size_t msg_block_class(size_t total)
{
    return (total + MSG_CACHE_GRAIN - 1) / MSG_CACHE_GRAIN;
}

/* A block for a message of total bytes; *cached tells whether it may go
   back to the cache (and must, through msg_block_free). */
static void *msg_block_alloc(size_t total, bool *cached)
{
    if (total > MSG_CACHE_MAX) {
        *cached = false;
        return xmalloc(total);
    }
    size_t cls = msg_block_class(total);
    *cached = true;
    struct msg_block *b = msg_cache[cls];
    if (b) {
        msg_cache[cls] = b->next;
        msg_cache_bytes -= cls * MSG_CACHE_GRAIN;
        return b;
    }
    return xmalloc(cls * MSG_CACHE_GRAIN);
}

static void msg_block_free(void *p, size_t total)
{
    size_t cls = msg_block_class(total);
    size_t size = cls * MSG_CACHE_GRAIN;
    if (msg_cache_bytes + size > MSG_CACHE_BYTES) {
        free(p);
        return;
    }
    struct msg_block *b = p;
    b->next = msg_cache[cls];
    msg_cache[cls] = b;
    msg_cache_bytes += size;
}

void message_cache_trim(void)
{
    for (size_t i = 0; i < EDAD_ARRAY_LEN(msg_cache); i++) {
        while (msg_cache[i]) {
            struct msg_block *b = msg_cache[i];
            msg_cache[i] = b->next;
            free(b);
        }
    }
    msg_cache_bytes = 0;
}

static size_t message_total(const struct message *m)
{
    return sizeof(struct message) + m->exchange_len + m->rk_len + m->props_len + m->body_len;
}

struct message *message_new(struct edad_bytes exchange, struct edad_bytes routing_key,
                            struct edad_bytes props, uint64_t body_size,
                            const struct message_info *info)
{
    if (exchange.len > 255 || routing_key.len > 255 || body_size > UINT32_MAX ||
        props.len > UINT32_MAX)
        return NULL;
    size_t total = sizeof(struct message) + exchange.len + routing_key.len + props.len +
                   (size_t)body_size;
    bool cached;
    struct message *m = msg_block_alloc(total, &cached);
    m->refs = 1;
    m->body_len = (uint32_t)body_size;
    m->props_len = (uint32_t)props.len;
    m->exchange_len = (uint8_t)exchange.len;
    m->rk_len = (uint8_t)routing_key.len;
    m->flags = cached ? MESSAGE_F_CACHED : 0;
    m->priority = 0;
    m->expiration_ms = -1;
    m->ts_ms = 0;
    if (info) {
        if (info->persistent)
            m->flags |= MESSAGE_F_PERSISTENT;
        if (info->has_priority) {
            m->flags |= MESSAGE_F_PRIORITY;
            m->priority = info->priority;
        }
        m->expiration_ms = info->expiration_ms;
    }
    uint8_t *p = m->data;
    if (exchange.len)
        memcpy(p, exchange.ptr, exchange.len);
    p += exchange.len;
    if (routing_key.len)
        memcpy(p, routing_key.ptr, routing_key.len);
    p += routing_key.len;
    if (props.len)
        memcpy(p, props.ptr, props.len);
    return m;
}

struct message *message_ref(struct message *m)
{
    m->refs++;
    return m;
}

static size_t deaths_slot_offset(const struct message *m)
{
    size_t off = sizeof(struct message) + m->exchange_len + m->rk_len + m->props_len +
                 m->body_len;
    return (off + 7) & ~(size_t)7;
}

static struct broker_deaths **deaths_slot(const struct message *m)
{
    return (struct broker_deaths **)(void *)((uint8_t *)(uintptr_t)m + deaths_slot_offset(m));
}

struct message *message_new_dead(struct edad_bytes exchange, struct edad_bytes routing_key,
                                 struct edad_bytes props, struct edad_bytes body,
                                 const struct message *orig, struct broker_deaths *deaths)
{
    if (exchange.len > 255 || routing_key.len > 255) {
        free(deaths);
        return NULL;
    }
    size_t total = sizeof(struct message) + exchange.len + routing_key.len + props.len +
                   body.len;
    total = ((total + 7) & ~(size_t)7) + sizeof(struct broker_deaths *);
    struct message *m = xmalloc(total);
    m->refs = 1;
    m->body_len = (uint32_t)body.len;
    m->props_len = (uint32_t)props.len;
    m->exchange_len = (uint8_t)exchange.len;
    m->rk_len = (uint8_t)routing_key.len;
    m->flags = (uint8_t)((orig->flags & (MESSAGE_F_PERSISTENT | MESSAGE_F_PRIORITY)) |
                         MESSAGE_F_DEATHS);
    m->priority = orig->priority;
    m->expiration_ms = -1;      /* dead letters lose their expiration */
    m->ts_ms = 0;
    uint8_t *p = m->data;
    if (exchange.len)
        memcpy(p, exchange.ptr, exchange.len);
    p += exchange.len;
    if (routing_key.len)
        memcpy(p, routing_key.ptr, routing_key.len);
    p += routing_key.len;
    if (props.len)
        memcpy(p, props.ptr, props.len);
    p += props.len;
    if (body.len)
        memcpy(p, body.ptr, body.len);
    *deaths_slot(m) = deaths;
    return m;
}

const struct broker_deaths *message_deaths(const struct message *m)
{
    return (m->flags & MESSAGE_F_DEATHS) ? *deaths_slot(m) : NULL;
}

void message_unref(struct message **mp)
{
    struct message *m = *mp;
    if (!m)
        return;
    *mp = NULL;
    if (--m->refs == 0) {
        if (m->flags & MESSAGE_F_DEATHS)
            free(*deaths_slot(m));
        if (m->flags & MESSAGE_F_CACHED)
            msg_block_free(m, message_total(m));
        else
            free(m);
    }
}

uint8_t *message_body_mut(struct message *m)
{
    return m->data + m->exchange_len + m->rk_len + m->props_len;
}

struct edad_bytes message_body(const struct message *m)
{
    struct edad_bytes b = {m->data + m->exchange_len + m->rk_len + m->props_len, m->body_len};
    return b;
}

struct edad_bytes message_props(const struct message *m)
{
    struct edad_bytes b = {m->data + m->exchange_len + m->rk_len, m->props_len};
    return b;
}

struct edad_bytes message_exchange(const struct message *m)
{
    struct edad_bytes b = {m->data, m->exchange_len};
    return b;
}

struct edad_bytes message_routing_key(const struct message *m)
{
    struct edad_bytes b = {m->data + m->exchange_len, m->rk_len};
    return b;
}

bool message_is_persistent(const struct message *m)
{
    return message_persistent(m);
}

int message_priority(const struct message *m)
{
    return (m->flags & MESSAGE_F_PRIORITY) ? m->priority : -1;
}

int64_t message_expiration_ms(const struct message *m)
{
    return m->expiration_ms;
}

/* Stand-ins for paged entries: [0] no priority, [1 + p] priority p. */
static struct message *paged_stubs[257];

struct message *message_paged_stub(int priority)
{
    size_t i = priority < 0 ? 0 : 1 + (size_t)(priority > 255 ? 255 : priority);
    struct message *m = paged_stubs[i];
    if (!m) {
        m = xcalloc(1, sizeof(*m));
        m->refs = UINT32_C(1) << 30;    /* never reaches zero */
        m->flags = MESSAGE_F_PERSISTENT | MESSAGE_F_STUB;
        if (priority >= 0) {
            m->flags |= MESSAGE_F_PRIORITY;
            m->priority = (uint8_t)(i - 1);
        }
        m->expiration_ms = -1;
        paged_stubs[i] = m;
    }
    return m;
}

uint32_t message_refcount(const struct message *m)
{
    return m->refs;
}
