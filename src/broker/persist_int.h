/*
 * persist_int.h - broker-private: the decoded form of a stored message's
 * meta block (persist.c) and the death-history constructor it uses
 * (deadletter.c).  Nothing outside src/broker sees these.
 */
#ifndef EDAD_BROKER_PERSIST_INT_H
#define EDAD_BROKER_PERSIST_INT_H

#include "edad/broker.h"

struct message_meta {
    bool has_ts;
    uint64_t ts_wall_ms;        /* TTL start, ms since the epoch */
    uint64_t due_wall_ms;       /* 0: not held by a delayed exchange */
    uint32_t ndeaths;           /* 0: never dead-lettered */
    struct broker_death deaths[64];     /* slices borrow the meta bytes */
    struct edad_bytes first[3], last[3];    /* reason, queue, exchange */
    struct edad_bytes *keys;    /* owned: every death's routing keys */
    size_t nkeys;
};

/*
 * Decode meta (borrowed; out's slices point into it).  Empty meta is valid
 * (nothing set).  false when the block is malformed or of an unknown
 * version (*out is then unusable and holds nothing to clear).  On true the
 * caller ends with message_meta_clear.
 */
bool message_meta_decode(struct edad_bytes meta, struct message_meta *out);
/* Free what a successful decode allocated (the routing-key array). */
void message_meta_clear(struct message_meta *mm);

/*
 * A death history (one allocation, as message_new_dead takes it) holding
 * copies of v[0..n) (n <= 64, v[0] the most recent) and the first/last
 * reason, queue, exchange.
 */
struct broker_deaths *deadletter_deaths_new(const struct broker_death *v, uint32_t n,
                                            const struct edad_bytes first[3],
                                            const struct edad_bytes last[3]);

#endif
