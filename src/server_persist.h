/*
 * server_persist.h - the daemon's wiring for broker state that must survive
 * a restart beyond queue records: each stored message's meta block (x-death
 * history, TTL start), the messages held by durable x-delayed-message
 * exchanges (one internal store queue per exchange) and the dedup caches
 * of durable queues and exchanges.  Private to server.c; no protocol logic.
 */
#ifndef EDAD_SERVER_PERSIST_H
#define EDAD_SERVER_PERSIST_H

#include "edad/broker.h"
#include "edad/store.h"

struct server_persist;

/* For broker b and store st (both borrowed, outliving it). */
struct server_persist *server_persist_new(struct broker *b, struct store *st);
/* NULL is a no-op.  Closes nothing on disk: what is stored stays stored. */
void server_persist_free(struct server_persist *p);

/* Wall clock, milliseconds since the epoch. */
uint64_t server_persist_wall_ms(void);

/*
 * The meta block of m for store_msg.meta (empty when m has nothing to
 * keep); borrowed until the next call.
 */
struct edad_bytes server_persist_meta(struct server_persist *p, const struct message *m);

/*
 * The message of store record r (recovery, paging read-back) enqueued on
 * q (its x-message-ttl counts; may be NULL): bytes, x-death history and
 * TTL start as stored.  NULL when it cannot be rebuilt.
 */
struct message *server_persist_message(struct server_persist *p, const struct store_rec *r,
                                       const struct queue *q, const struct message_info *info);

/*
 * Fill the persistence hooks of h (delayed exchanges, dedup caches) and
 * h->persist_ctx; the caller sets the rest and installs h.
 */
void server_persist_hooks(struct server_persist *p, struct broker_hooks *h);

/*
 * Recovery of one store queue: when qs is an internal store (a durable
 * delayed exchange's held messages) load it into its exchange, or delete
 * it when the exchange is gone, and return true; false for a queue's
 * store (the caller's business).  *messages counts what was restored.
 */
bool server_persist_recover_store(struct server_persist *p, struct qstore *qs,
                                  uint64_t *messages);

/*
 * Refill the dedup caches of durable queues and exchanges from their files
 * (after the definitions are restored, before clients connect; expired
 * keys stay out, TTLs keep counting on the wall clock); files of owners
 * that are gone are removed.
 */
void server_persist_recover_dedup(struct server_persist *p);

/* About once a second: fdatasync the dedup files written since the last call. */
void server_persist_maintain(struct server_persist *p);

#endif
