/*
 * ctm.h - messaging helpers for the issue-3 conformance suites, on top of
 * rawamqp.h and ct.h: pack and send exchange/queue/basic/confirm/tx methods,
 * publish content split into frames of a chosen size, and read whole
 * deliveries, get-oks and returns back (method + header + bodies).  Every
 * "do it" helper fails the running Check test with what arrived instead.
 * Written from the spec, like rawamqp.c: nothing of edad's codec is used.
 * Entity names are made unique per process so the suites can share one
 * broker (EDAD_TEST_ADDR, e.g. RabbitMQ for the cross-check).
 */
#ifndef EDAD_TESTS_CTM_H
#define EDAD_TESTS_CTM_H

#include "ct.h"

/* ---- method and reply numbers (from the 0-9-1 spec) ---------------------- */

#define CTM_EXCHANGE_DECLARE 10
#define CTM_EXCHANGE_DECLARE_OK 11
#define CTM_EXCHANGE_DELETE 20
#define CTM_EXCHANGE_DELETE_OK 21
#define CTM_EXCHANGE_BIND 30
#define CTM_EXCHANGE_BIND_OK 31
#define CTM_EXCHANGE_UNBIND 40
#define CTM_EXCHANGE_UNBIND_OK 51

#define CTM_QUEUE_DECLARE 10
#define CTM_QUEUE_DECLARE_OK 11
#define CTM_QUEUE_BIND 20
#define CTM_QUEUE_BIND_OK 21
#define CTM_QUEUE_PURGE 30
#define CTM_QUEUE_PURGE_OK 31
#define CTM_QUEUE_DELETE 40
#define CTM_QUEUE_DELETE_OK 41
#define CTM_QUEUE_UNBIND 50
#define CTM_QUEUE_UNBIND_OK 51

#define CTM_BASIC_QOS 10
#define CTM_BASIC_QOS_OK 11
#define CTM_BASIC_CONSUME 20
#define CTM_BASIC_CONSUME_OK 21
#define CTM_BASIC_CANCEL 30
#define CTM_BASIC_CANCEL_OK 31
#define CTM_BASIC_PUBLISH 40
#define CTM_BASIC_RETURN 50
#define CTM_BASIC_DELIVER 60
#define CTM_BASIC_GET 70
#define CTM_BASIC_GET_OK 71
#define CTM_BASIC_GET_EMPTY 72
#define CTM_BASIC_ACK 80
#define CTM_BASIC_REJECT 90
#define CTM_BASIC_RECOVER_ASYNC 100
#define CTM_BASIC_RECOVER 110
#define CTM_BASIC_RECOVER_OK 111
#define CTM_BASIC_NACK 120

#define CTM_CONFIRM 85
#define CTM_CONFIRM_SELECT 10
#define CTM_CONFIRM_SELECT_OK 11

#define CTM_TX 90
#define CTM_TX_SELECT 10
#define CTM_TX_SELECT_OK 11
#define CTM_TX_COMMIT 20
#define CTM_TX_COMMIT_OK 21
#define CTM_TX_ROLLBACK 30
#define CTM_TX_ROLLBACK_OK 31

#define CTM_NO_ROUTE 312
#define CTM_RESOURCE_LOCKED 405
#define CTM_PRECONDITION_FAILED 406

/* Bits of each method's flag octet, in the spec's order. */
#define CTM_X_PASSIVE 0x01      /* exchange.declare */
#define CTM_X_DURABLE 0x02
#define CTM_X_AUTO_DELETE 0x04
#define CTM_X_INTERNAL 0x08
#define CTM_X_NOWAIT 0x10
#define CTM_Q_PASSIVE 0x01      /* queue.declare */
#define CTM_Q_DURABLE 0x02
#define CTM_Q_EXCLUSIVE 0x04
#define CTM_Q_AUTO_DELETE 0x08
#define CTM_Q_NOWAIT 0x10
#define CTM_XD_IF_UNUSED 0x01   /* exchange.delete */
#define CTM_XD_NOWAIT 0x02
#define CTM_QD_IF_UNUSED 0x01   /* queue.delete */
#define CTM_QD_IF_EMPTY 0x02
#define CTM_QD_NOWAIT 0x04
#define CTM_C_NO_LOCAL 0x01     /* basic.consume */
#define CTM_C_NO_ACK 0x02
#define CTM_C_EXCLUSIVE 0x04
#define CTM_C_NOWAIT 0x08
#define CTM_P_MANDATORY 0x01    /* basic.publish */
#define CTM_P_IMMEDIATE 0x02

/* Content property flag bits (basic class). */
#define CTM_PROP_CONTENT_TYPE 0x8000
#define CTM_PROP_CONTENT_ENCODING 0x4000
#define CTM_PROP_HEADERS 0x2000
#define CTM_PROP_DELIVERY_MODE 0x1000
#define CTM_PROP_PRIORITY 0x0800
#define CTM_PROP_CORRELATION_ID 0x0400
#define CTM_PROP_REPLY_TO 0x0200
#define CTM_PROP_EXPIRATION 0x0100
#define CTM_PROP_MESSAGE_ID 0x0080
#define CTM_PROP_TIMESTAMP 0x0040
#define CTM_PROP_TYPE 0x0020
#define CTM_PROP_USER_ID 0x0010
#define CTM_PROP_APP_ID 0x0008
#define CTM_PROP_CLUSTER_ID 0x0004

#define CTM_NAME_MAX 128

/* ---- names and server identity ------------------------------------------- */

/* out = "edadtest.<base>.<pid>.<n>": unique within this broker's lifetime. */
void ctm_name(char *out, size_t len, const char *base);

/*
 * True when the server is edad (its connection.start product), false for
 * another broker such as RabbitMQ.  Tests of an intentional edad difference
 * (docs/protocol-errors.md) skip that assertion elsewhere, saying so.
 */
bool ctm_server_is_edad(const struct harness_server *s);
#define CTM_EDAD_ONLY(s, why)                                                             \
    do {                                                                                  \
        if (!ctm_server_is_edad(s)) {                                                     \
            fprintf(stderr, "SKIP %s: edad-only behaviour (%s)\n", __func__, (why));      \
            return;                                                                       \
        }                                                                                 \
    } while (0)

/* ---- argument tables -------------------------------------------------------- */

/* A table of one string entry, in an initialised raw_buf (length included). */
void ctm_table_str(struct raw_buf *t, const char *key, const char *value);
/* A table of one signed 32-bit entry. */
void ctm_table_int(struct raw_buf *t, const char *key, int32_t value);

/* ---- sending methods (no reply read) -------------------------------------- */
/* `args` is a whole encoded field table (with its length); NULL = empty. */

void ctm_send_exchange_declare(struct raw_conn *c, uint16_t ch, const char *name,
                               const char *type, unsigned flags, const struct raw_buf *args);
void ctm_send_exchange_delete(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags);
void ctm_send_exchange_bind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                            const char *rk, bool nowait, const struct raw_buf *args);
void ctm_send_exchange_unbind(struct raw_conn *c, uint16_t ch, const char *dest,
                              const char *src, const char *rk, bool nowait,
                              const struct raw_buf *args);
void ctm_send_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                            const struct raw_buf *args);
void ctm_send_queue_bind(struct raw_conn *c, uint16_t ch, const char *queue,
                         const char *exchange, const char *rk, bool nowait,
                         const struct raw_buf *args);
void ctm_send_queue_unbind(struct raw_conn *c, uint16_t ch, const char *queue,
                           const char *exchange, const char *rk, const struct raw_buf *args);
void ctm_send_queue_purge(struct raw_conn *c, uint16_t ch, const char *queue, bool nowait);
void ctm_send_queue_delete(struct raw_conn *c, uint16_t ch, const char *queue, unsigned flags);
void ctm_send_basic_qos(struct raw_conn *c, uint16_t ch, uint32_t prefetch_size,
                        uint16_t prefetch_count, bool global);
void ctm_send_basic_consume(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                            unsigned flags, const struct raw_buf *args);
void ctm_send_basic_cancel(struct raw_conn *c, uint16_t ch, const char *tag, bool nowait);
void ctm_send_basic_get(struct raw_conn *c, uint16_t ch, const char *queue, bool no_ack);
void ctm_send_basic_ack(struct raw_conn *c, uint16_t ch, uint64_t tag, bool multiple);
void ctm_send_basic_nack(struct raw_conn *c, uint16_t ch, uint64_t tag, bool multiple,
                         bool requeue);
void ctm_send_basic_reject(struct raw_conn *c, uint16_t ch, uint64_t tag, bool requeue);
void ctm_send_basic_recover(struct raw_conn *c, uint16_t ch, bool requeue, bool async);
void ctm_send_confirm_select(struct raw_conn *c, uint16_t ch, bool nowait);
/* tx.select / tx.commit / tx.rollback: method is CTM_TX_SELECT, _COMMIT or _ROLLBACK. */
void ctm_send_tx(struct raw_conn *c, uint16_t ch, uint16_t method);

/* ---- publishing -------------------------------------------------------------- */

/* Optional content properties; NULL/0 fields are left out. */
struct ctm_props {
    const char *content_type;
    const char *content_encoding;
    const struct raw_buf *headers;     /* encoded table, with its length */
    uint8_t delivery_mode;             /* 0 = absent */
    bool has_priority;
    uint8_t priority;
    const char *correlation_id;
    const char *reply_to;
    const char *expiration;
    const char *message_id;
    bool has_timestamp;
    uint64_t timestamp;
    const char *type;
    const char *user_id;
    const char *app_id;
};

/*
 * Append basic.publish + content header + body frames to out.  Body frames
 * carry at most `chunk` octets (0: the largest the connection's frame_max
 * allows, c->frame_max - 8, or 131064 before a handshake).
 */
void ctm_put_publish(struct raw_buf *out, const struct raw_conn *c, uint16_t ch,
                     const char *exchange, const char *rk, unsigned flags,
                     const struct ctm_props *props, const void *body, size_t len, size_t chunk);
/* ctm_put_publish in one write. */
void ctm_publish(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                 unsigned flags, const struct ctm_props *props, const void *body, size_t len);
/* Publish a C string body, no properties, no flags. */
void ctm_publish_str(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                     const char *body);

/* ---- reading ----------------------------------------------------------------- */

/*
 * One thing the server sent: a method frame and, for basic.deliver,
 * basic.get-ok and basic.return, its content.  The arguments of the
 * methods the suites look at are decoded; everything else stays in `frame`.
 */
struct ctm_in {
    struct raw_frame frame;     /* the method frame (payload owned) */
    uint16_t channel;
    uint16_t class_id;
    uint16_t method_id;
    /* basic.deliver / get-ok / return / consume-ok / cancel / cancel-ok */
    char consumer_tag[256];
    uint64_t delivery_tag;      /* deliver, get-ok, ack, nack */
    bool redelivered;
    bool multiple;              /* ack, nack */
    bool requeue;               /* nack */
    char exchange[256];
    char routing_key[256];
    uint32_t message_count;     /* get-ok, declare-ok, purge-ok, delete-ok */
    uint32_t consumer_count;    /* declare-ok */
    char queue[256];            /* declare-ok */
    uint16_t reply_code;        /* return, channel.close, connection.close */
    char reply_text[256];
    /* content */
    bool has_content;
    uint64_t body_size;         /* from the content header */
    uint16_t prop_flags;
    uint8_t *props;             /* property list (malloc'ed) */
    uint32_t props_len;
    uint8_t *body;              /* all body frames joined (malloc'ed, NUL-terminated) */
    size_t body_len;
    unsigned body_frames;
    uint32_t largest_body_frame;
};

/* Read the next thing (heartbeats skipped) within timeout_ms. */
enum raw_rc ctm_read(struct raw_conn *c, struct ctm_in *in, int timeout_ms);
void ctm_in_free(struct ctm_in *in);
/* One line describing it, for failure messages. */
const char *ctm_in_describe(const struct ctm_in *in, char *buf, size_t len);
bool ctm_in_is(const struct ctm_in *in, uint16_t ch, uint16_t class_id, uint16_t method_id);

/* Read the next thing and require it to be class_id.method_id on ch. */
void ctm_expect(struct raw_conn *c, struct ctm_in *in, uint16_t ch, uint16_t class_id,
                uint16_t method_id);
/* ctm_expect basic.deliver, then its body equals `body` when not NULL. */
void ctm_expect_deliver(struct raw_conn *c, struct ctm_in *in, uint16_t ch, const char *body);
/* A string property of a received message (false when absent). */
bool ctm_prop_str(const struct ctm_in *in, uint16_t flag, char *out, size_t len);
/* delivery_mode / priority (false when absent). */
bool ctm_prop_u8(const struct ctm_in *in, uint16_t flag, uint8_t *out);
/* The headers table body (false when absent). */
bool ctm_prop_headers(const struct ctm_in *in, const uint8_t **tbl, uint32_t *len);

/* ---- do it and wait for the -ok ----------------------------------------------- */

void ctm_exchange_declare(struct raw_conn *c, uint16_t ch, const char *name, const char *type,
                          unsigned flags, const struct raw_buf *args);
void ctm_exchange_delete(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags);
void ctm_exchange_bind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                       const char *rk, const struct raw_buf *args);
void ctm_exchange_unbind(struct raw_conn *c, uint16_t ch, const char *dest, const char *src,
                         const char *rk, const struct raw_buf *args);
/*
 * queue.declare and its declare-ok: the name the server used goes to
 * name_out (may be NULL), the counts to *messages / *consumers (may be NULL).
 */
void ctm_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                       const struct raw_buf *args, char *name_out, size_t name_len,
                       uint32_t *messages, uint32_t *consumers);
/* A server-named exclusive queue: its name goes to out. */
void ctm_queue_temp(struct raw_conn *c, uint16_t ch, char *out, size_t len);
/* Passive declare: the ready message count (fails the test when absent). */
uint32_t ctm_queue_count(struct raw_conn *c, uint16_t ch, const char *name, uint32_t *consumers);
void ctm_queue_bind(struct raw_conn *c, uint16_t ch, const char *queue, const char *exchange,
                    const char *rk, const struct raw_buf *args);
void ctm_queue_unbind(struct raw_conn *c, uint16_t ch, const char *queue, const char *exchange,
                      const char *rk, const struct raw_buf *args);
uint32_t ctm_queue_purge(struct raw_conn *c, uint16_t ch, const char *queue);
uint32_t ctm_queue_delete(struct raw_conn *c, uint16_t ch, const char *queue, unsigned flags);
void ctm_basic_qos(struct raw_conn *c, uint16_t ch, uint16_t prefetch_count, bool global);
/* basic.consume; the tag the server confirmed goes to tag_out (may be NULL). */
void ctm_basic_consume(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                       unsigned flags, char *tag_out, size_t tag_len);
/* basic.cancel; deliveries still in flight before cancel-ok are skipped and counted. */
unsigned ctm_basic_cancel(struct raw_conn *c, uint16_t ch, const char *tag);
/* basic.get: true with *in filled on get-ok, false on get-empty. */
bool ctm_basic_get(struct raw_conn *c, uint16_t ch, const char *queue, bool no_ack,
                   struct ctm_in *in);
void ctm_confirm_select(struct raw_conn *c, uint16_t ch);
void ctm_tx(struct raw_conn *c, uint16_t ch, uint16_t method);

/*
 * Wait until a passive declare of `queue` on channel ch reports `want`
 * ready messages; fails after CT_CLOSE_MS.  Lets a test wait for the broker
 * to settle without sleeping blindly: RabbitMQ handles each channel in its
 * own process and answers the declare's count ahead of queued publishes,
 * so a count right after a publish on another channel may be stale.
 */
void ctm_wait_count(struct raw_conn *c, uint16_t ch, const char *queue, uint32_t want);

/*
 * Read publisher confirms on ch until every sequence number from `first`
 * to `last` is settled (those before `first` were settled already); checks
 * that confirms only move forward and counts acks, nacks and multiple=true
 * frames.  Other frames fail the test.
 */
struct ctm_confirms {
    unsigned frames;
    unsigned multiple_frames;
    uint64_t acked;
    uint64_t nacked;
};
void ctm_expect_confirms(struct raw_conn *c, uint16_t ch, uint64_t first, uint64_t last,
                         struct ctm_confirms *out);

/* Channel close expected as a soft error, then re-open the channel number. */
void ctm_expect_channel_error(struct raw_conn *c, uint16_t ch, uint16_t code,
                              const char *fragments, int class_id, int method_id);

#endif
