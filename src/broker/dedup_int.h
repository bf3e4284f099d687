/*
 * dedup_int.h - broker-private: message deduplication as LavinMQ has it
 * (x-message-deduplication on an exchange or a queue, x-cache-size,
 * x-cache-ttl, x-deduplication-header; a per-message x-cache-ttl header).
 * The cache is bounded (oldest key evicted first) and in memory; the
 * routing code decides where it is consulted (publish.c).
 */
#ifndef EDAD_BROKER_DEDUP_INT_H
#define EDAD_BROKER_DEDUP_INT_H

#include "edad/broker.h"

/* LavinMQ's defaults. */
#define DEDUP_DEFAULT_HEADER "x-deduplication-header"
#define DEDUP_DEFAULT_SIZE 128u

struct dedup;

/*
 * A cache configured from declare arguments, or NULL when
 * x-message-deduplication is absent or not true.  Arguments must have
 * been validated (args_validate_queue / args_validate_exchange).
 */
struct dedup *dedup_new(const struct broker_table *args);
/* NULL is a no-op. */
void dedup_free(struct dedup *d);

/*
 * The publish check: when headers carry the deduplication header and its
 * value is in the cache (not expired at now_ms), the message is a
 * duplicate: true.  Otherwise the value (if any) is remembered with the
 * cache TTL, or the message's own x-cache-ttl header, and false returned.
 * A message without the header is never a duplicate.
 */
bool dedup_check(struct dedup *d, const struct broker_table *headers, uint64_t now_ms);

/* Keys held (expired ones included until evicted or looked up). */
uint32_t dedup_count(const struct dedup *d);

/*
 * dedup_check on the cache of q (of x) at the broker's now; the cache of
 * a durable (non-exclusive) queue or a durable exchange reports the keys
 * it adds through hooks.dedup_add, so they survive a restart.
 */
bool dedup_check_queue(struct queue *q, const struct broker_table *headers);
bool dedup_check_exchange(struct exchange *x, const struct broker_table *headers);

#endif
