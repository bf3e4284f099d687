/*
 * cte.h - helpers for the issue-4 conformance suites (RabbitMQ extensions),
 * on top of ctm.h: argument and header tables of any field type from a
 * short type string, basic.consume with arguments, the x-death header and
 * other header values of a received message, waits for a queue to go or
 * to settle, and a drain that collects what a consumer receives.  Written
 * from the 0-9-1 spec like rawamqp.c; nothing of edad's codec is used.
 */
#ifndef EDAD_TESTS_CTE_H
#define EDAD_TESTS_CTE_H

#include <stdarg.h>

#include "ctm.h"

/*
 * Build a whole field table (length included) into an initialised raw_buf:
 * one entry per character of `types`, each taking a key and a value from
 * the variable arguments:
 *   'S' const char *   longstr           'b' int        signed 8-bit
 *   't' int            boolean           's' int        signed 16-bit
 *   'I' int            signed 32-bit     'l' long long  signed 64-bit
 *   'u' unsigned       unsigned 16-bit   'i' unsigned   unsigned 32-bit
 *   'd' double         double            'T' long long  timestamp
 *   'V' (no value)     void              'A' const char * one-string array
 * e.g. cte_table(&t, "lS", "x-message-ttl", 100LL, "x-dead-letter-exchange", "").
 */
void cte_table(struct raw_buf *t, const char *types, ...);
void cte_vtable(struct raw_buf *t, const char *types, va_list ap);

/* queue.declare with arguments built by cte_table (flags as ctm_queue_declare). */
void cte_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                       const char *types, ...);
/* The same declare expected to fail with a channel error (re-opens the channel). */
void cte_queue_declare_fails(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                             uint16_t code, const char *fragments, const char *types, ...);

/* basic.consume with an argument table (NULL: none); the confirmed tag to tag_out. */
void cte_consume_args(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                      unsigned flags, const struct raw_buf *args, char *tag_out,
                      size_t tag_len);

/* Publish `body` with the given headers table (built by cte_table) and no other property. */
void cte_publish_headers(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                         unsigned flags, const struct raw_buf *headers, const char *body);
/* Publish `body` with an expiration property (NULL: none). */
void cte_publish_expiring(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                          const char *expiration, const char *body);
/* Publish `body` with a priority property. */
void cte_publish_priority(struct raw_conn *c, uint16_t ch, const char *rk, uint8_t priority,
                          const char *body);

/*
 * Like ctm_expect_confirms, but confirms may come in any order (RabbitMQ
 * confirms out of order when messages go to different queues): waits until
 * every sequence number from first to last is settled; counts into *out.
 */
void cte_expect_confirms_any(struct raw_conn *c, uint16_t ch, uint64_t first, uint64_t last,
                             struct ctm_confirms *out);

/* queue.delete and its delete-ok, skipping basic.cancel / deliveries sent to its consumers. */
void cte_queue_delete_busy(struct raw_conn *c, uint16_t ch, const char *q);

/* ---- header values of a received message ---------------------------------- */

bool cte_header_find(const struct ctm_in *in, const char *key, uint8_t *type,
                     const uint8_t **val, uint32_t *len);
/* A longstr header as a C string (false when absent or another type). */
bool cte_header_str(const struct ctm_in *in, const char *key, char *out, size_t len);
/* An integer header of any integer type (false when absent or not an integer). */
bool cte_header_int(const struct ctm_in *in, const char *key, int64_t *out);
/* Integer value of a table entry in `tbl` (any integer type), with its type octet. */
bool cte_table_int(const uint8_t *tbl, uint32_t len, const char *key, int64_t *out,
                   uint8_t *type);

/* One entry of the x-death array (most recent first, as RabbitMQ orders it). */
#define CTE_MAX_RKEYS 4
struct cte_death {
    char queue[256];
    char reason[32];
    char exchange[256];
    bool has_count;
    int64_t count;
    uint8_t count_type;         /* field type octet of "count" ('l' in RabbitMQ) */
    bool has_time;
    uint8_t time_type;          /* 'T' in RabbitMQ */
    unsigned nrkeys;
    char rkeys[CTE_MAX_RKEYS][256];
    bool has_original_expiration;
    char original_expiration[32];
};
/* Decode up to max x-death entries; returns how many there are (0 without x-death). */
size_t cte_deaths(const struct ctm_in *in, struct cte_death *out, size_t max);

/* ---- waiting ------------------------------------------------------------------ */

/* Wait (bounded by CT_CLOSE_MS) until a passive declare of q answers 404. */
void cte_wait_queue_gone(struct raw_conn *c, uint16_t ch, const char *q);
/* Passive declare: true when q exists (the channel is re-opened after a 404). */
bool cte_queue_exists(struct raw_conn *c, uint16_t ch, const char *q);

/*
 * The same questions without touching the queue (a passive declare renews
 * an x-expires lease in RabbitMQ): a mandatory publish to q through the
 * default exchange on channel ch, which these helpers open in confirm mode
 * and close again; a basic.return before the publish's ack means q is gone.
 * The probe message lands in q when it exists.
 */
bool cte_queue_alive_quietly(struct raw_conn *c, uint16_t ch, const char *q);
void cte_wait_queue_gone_quietly(struct raw_conn *c, uint16_t ch, const char *q);

/*
 * Collect n deliveries on channel ch (any consumer), in arrival order; each
 * is acked when `ack` is set.  Fails when anything else arrives or when they
 * do not come within CT_CLOSE_MS.  The caller frees with cte_ins_free.
 */
void cte_collect(struct raw_conn *c, uint16_t ch, struct ctm_in *ins, size_t n, bool ack);
void cte_ins_free(struct ctm_in *ins, size_t n);

/* basic.get no-ack bodies until empty, joined with ',' into out ("" when empty). */
void cte_drain_bodies(struct raw_conn *c, uint16_t ch, const char *q, char *out, size_t len);

/* Monotonic milliseconds (for bounds the broker can never beat, never for speed). */
int64_t cte_now_ms(void);

#endif
