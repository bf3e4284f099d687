/*
 * reply.c - direct reply-to: the registry of reply pseudo-queues
 * ("amq.rabbitmq.reply-to.<random>"), one per channel that consumes from
 * amq.rabbitmq.reply-to, looked up when a publish to the default exchange
 * names one.  Which channel may consume and how the reply is framed is the
 * session's business; publish.c does the routing.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "exchange_int.h"

struct broker_reply {
    struct broker *b;
    uint64_t hash;
    void (*deliver)(void *ctx, struct message *m);
    void *ctx;
    size_t name_len;
    char name[BROKER_REPLY_NAME_MAX];
};

static bool reply_eq(const void *item, const void *key)
{
    const struct broker_reply *r = item;
    const struct edad_bytes *k = key;
    return r->name_len == k->len && memcmp(r->name, k->ptr, k->len) == 0;
}

static struct broker_reply *reply_find(struct broker *b, struct edad_bytes name)
{
    return hmap_find(&b->replies, broker_hash_name(b, name), reply_eq, &name);
}

struct broker_reply *broker_reply_register(struct broker *b,
                                           void (*deliver)(void *ctx, struct message *m),
                                           void *ctx)
{
    struct broker_reply *r = xcalloc(1, sizeof(*r));
    r->b = b;
    r->deliver = deliver;
    r->ctx = ctx;
    do {
        broker_name_generate(BROKER_REPLY_PREFIX, r->name, sizeof(r->name));
        r->name_len = strlen(r->name);
    } while (reply_find(b, (struct edad_bytes){(const uint8_t *)r->name, r->name_len}));
    r->hash = broker_hash_name(b, (struct edad_bytes){(const uint8_t *)r->name, r->name_len});
    hmap_insert(&b->replies, r->hash, r);
    return r;
}

const char *broker_reply_name(const struct broker_reply *r)
{
    return r->name;
}

void broker_reply_unregister(struct broker_reply **rp)
{
    struct broker_reply *r = *rp;
    if (!r)
        return;
    *rp = NULL;
    hmap_remove(&r->b->replies, r->hash, r);
    free(r);
}

bool broker_reply_exists(struct broker *b, struct edad_bytes name)
{
    return reply_find(b, name) != NULL;
}

bool broker_reply_route(struct broker *b, struct edad_bytes rk, struct message *m)
{
    struct broker_reply *r = reply_find(b, rk);
    if (!r)
        return false;
    r->deliver(r->ctx, m);
    return true;
}
