/*
 * args_int.h - broker-private helpers for typed argument tables: deep copy
 * into one allocation, RabbitMQ's value comparisons and formatting, and the
 * validation tables for queue, exchange and consumer x-arguments.  Nothing
 * here knows AMQP encoding; tables arrive already decoded.
 */
#ifndef EDAD_BROKER_ARGS_INT_H
#define EDAD_BROKER_ARGS_INT_H

#include "edad/broker.h"

/* Deep copy of t (NULL: empty table) in one allocation; release with free(). */
struct broker_table *args_dup(const struct broker_table *t);
/* RabbitMQ's atom for a kind ("longstr", "signedint", ...). */
const char *args_type_name(uint8_t kind);
/* Numeric value of an integer kind; false for other kinds. */
bool args_value_int(const struct broker_value *v, int64_t *out);

/*
 * Erlang's == on decoded values, as headers matching uses it: numbers
 * compare by value across integer and float kinds, longstr and byte
 * arrays by bytes; nested tables and arrays compare kind and value.
 */
bool args_value_eq_loose(const struct broker_value *a, const struct broker_value *b);
/* Binding identity: same entries (any order), kinds and values. */
bool args_table_equal(const struct broker_table *a, const struct broker_table *b);
/* Order-independent hash consistent with args_table_equal. */
uint64_t args_table_hash(const struct broker_table *t, uint64_t seed);

/*
 * RabbitMQ's rendering of an argument for equivalence errors: "none" when
 * v is NULL, else "the value 'x' of type 'longstr'".
 */
void args_value_describe(const struct broker_value *v, char *buf, size_t n);

/*
 * rabbit_misc:assert_args_equivalence for one key: cur and req may be NULL.
 * The text shows bare values when both are present ("received '1' but
 * current is '2'"), typed ones against "none" when one is absent.
 * what is the resource description ("queue 'q' in vhost '/'").  406 on
 * mismatch.
 */
edad_status args_assert_equivalent(const struct broker_table *cur, const struct broker_table *req,
                                   const char *key, const char *what, struct broker_err *err);

/* Queue types a queue argument applies to. */
enum args_qtype {
    ARGS_QT_CLASSIC = 1,
    ARGS_QT_QUORUM = 2,
};

/*
 * Validate queue.declare arguments for a new queue of type qtype (after
 * x-queue-type itself was checked): 406 for a wrong type or value, for an
 * argument of another queue type, and for arguments edad does not
 * implement yet.  Unknown (non-RabbitMQ) keys are kept and ignored, as
 * RabbitMQ does.
 */
edad_status args_validate_queue(const struct broker_table *args, enum args_qtype qtype,
                                const char *what, struct broker_err *err);
/*
 * x-queue-type: sets *qtype (classic when absent).  406 for unsupported
 * types.
 */
edad_status args_queue_type(const struct broker_table *args, enum args_qtype *qtype,
                            const char *what, struct broker_err *err);
/*
 * rabbit_channel's check before any queue.declare (not passive): a
 * non-longstr x-dead-letter-exchange is 406 "invalid type 'T' for arg
 * 'x-dead-letter-exchange' in queue 'q' in vhost '/'".
 */
edad_status args_check_dlx_type(const struct broker_table *args, const char *what,
                                struct broker_err *err);
/* Equivalence of the compared queue arguments for an existing queue. */
edad_status args_assert_queue_equivalent(const struct broker_table *cur,
                                         const struct broker_table *req, enum args_qtype qtype,
                                         const char *what, struct broker_err *err);
/* Exchange arguments on creation (alternate-exchange type, unsupported ones). */
edad_status args_validate_exchange(const struct broker_table *args, const char *what,
                                   struct broker_err *err);
/* basic.consume arguments; *priority gets x-priority (0 when absent). */
edad_status args_validate_consume(const struct broker_table *args, const char *what,
                                  int32_t *priority, struct broker_err *err);

#endif
