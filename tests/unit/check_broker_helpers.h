/*
 * check_broker_helpers.h - shared fixtures for the broker unit suites: a
 * broker with vhost "/", argument-table builders, a scripted consumer and
 * shortcuts for declare/bind/publish.  Test code only.
 */
#ifndef EDAD_CHECK_BROKER_HELPERS_H
#define EDAD_CHECK_BROKER_HELPERS_H

#include <check.h>

#include "edad/broker.h"

extern struct broker *B;
extern struct vhost *V;

void fx_setup(void);
void fx_teardown(void);

struct edad_bytes S(const char *s);

/* A table built in place (up to 16 entries). */
struct targs {
    struct broker_arg e[16];
    struct broker_table t;
};
struct broker_table *ta_init(struct targs *ta);
struct broker_table *ta_str(struct targs *ta, const char *key, const char *val);
struct broker_table *ta_bytes(struct targs *ta, const char *key, const char *val);
struct broker_table *ta_int(struct targs *ta, const char *key, uint8_t kind, int64_t val);
struct broker_table *ta_double(struct targs *ta, const char *key, double val);
struct broker_table *ta_bool(struct targs *ta, const char *key, bool val);
struct broker_table *ta_void(struct targs *ta, const char *key);

/* Declares that must succeed. */
void mk_exchange(const char *name, const char *type);
void mk_exchange_full(const char *name, const char *type, bool durable, bool auto_delete,
                      bool internal, const struct broker_table *args);
struct queue *mk_queue(const char *name);
struct queue *mk_queue_full(const char *name, bool durable, bool exclusive, bool auto_delete,
                            const void *owner, const struct broker_table *args);
void mk_bind(const char *queue, const char *exchange, const char *key,
             const struct broker_table *args);
void mk_xbind(const char *dest, const char *source, const char *key);

/* Publish a body; returns routed count, or -code on error (err filled). */
int pub(const char *exchange, const char *rk, const char *body);
int pub_h(const char *exchange, const char *rk, const char *body,
          const struct broker_table *headers, int *headers_calls);
int pub_msg(struct message *m, const struct broker_table *headers);
struct message *msg(const char *exchange, const char *rk, const char *body, bool persistent);

extern struct broker_err E;

/* Queue depth (ready). */
uint32_t ready(struct queue *q);
uint32_t unacked(struct queue *q);
/* basic.get body as a string into buf (""), false when empty. */
bool get_body(struct queue *q, bool no_ack, struct queue_entry *e, char *buf, size_t n);
void body_of(const struct queue_entry *e, char *buf, size_t n);

/* A scripted consumer. */
#define TC_MAX 4096
struct tcons {
    struct consumer *c;
    struct queue *q;
    uint32_t credit;            /* can_deliver while > 0; each delivery takes one */
    uint32_t n;                 /* deliveries received */
    struct queue_entry got[TC_MAX];
    bool no_ack;
    bool cancelled;
    bool cancel_in_deliver;     /* consumer_cancel itself on the next delivery */
    uint32_t can_calls;
};
extern const struct consumer_ops tc_ops;
void tc_start(struct tcons *t, struct queue *q, bool no_ack, bool exclusive, uint32_t credit);
/* Run dispatch until idle. */
void dispatch_all(void);
/* Ack (or unref for no-ack) everything received. */
void tc_ack_all(struct tcons *t);

#endif
