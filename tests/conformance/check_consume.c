/*
 * check_consume.c - getting messages out as a client sees it: basic.consume
 * (generated amq.ctag- tags, duplicate tag 530, exclusive 403, no-ack),
 * basic.cancel with and without nowait, basic.get / get-empty with
 * message_count, round-robin between consumers, per-channel delivery tags,
 * the redelivered flag, basic.qos prefetch per consumer and per channel
 * with RabbitMQ's semantics, prefetch_size 540, and a consumer that stops
 * reading its socket without stalling anyone else.  Acks: check_ack.c.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctm.h"

#define S (&harness_default)

static void publish_n(struct raw_conn *c, uint16_t ch, const char *q, int n)
{
    for (int i = 0; i < n; i++) {
        char body[32];
        snprintf(body, sizeof(body), "m%d", i + 1);
        ctm_publish_str(c, ch, "", q, body);
    }
}

/* A named, non-exclusive queue (so other connections may use it). */
static void shared_queue(struct raw_conn *c, char *q, size_t len, const char *base)
{
    ctm_name(q, len, base);
    ctm_queue_declare(c, 1, q, CTM_Q_AUTO_DELETE, NULL, NULL, 0, NULL, NULL);
}

/* ---- basic.consume -------------------------------------------------------------- */

START_TEST(test_consume_generates_amq_ctag)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], t1[256], t2[256];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "", 0, t1, sizeof(t1));
    ctm_basic_consume(&c, 1, q, "", 0, t2, sizeof(t2));
    ck_assert_msg(strncmp(t1, "amq.ctag-", 9) == 0 && strlen(t1) > 9, "tag '%s'", t1);
    ck_assert_msg(strncmp(t2, "amq.ctag-", 9) == 0 && strlen(t2) > 9, "tag '%s'", t2);
    ck_assert_msg(strcmp(t1, t2) != 0, "two generated tags are equal: '%s'", t1);
    /* Deliveries carry the generated tag. */
    ctm_publish_str(&c, 1, "", q, "tagged");
    ctm_expect_deliver(&c, &in, 1, "tagged");
    ck_assert_msg(strcmp(in.consumer_tag, t1) == 0 || strcmp(in.consumer_tag, t2) == 0,
                  "delivery tag '%s' is none of the consumers'", in.consumer_tag);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_consume_duplicate_tag_530)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "dup", 0, NULL, 0);
    ctm_send_basic_consume(&c, 1, q, "dup", 0, NULL);
    ct_expect_connection_close(&c, RAW_NOT_ALLOWED,
                               "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", RAW_BASIC,
                               CTM_BASIC_CONSUME);
    raw_close(&c);
}
END_TEST

START_TEST(test_consume_same_tag_on_other_channel_ok)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "same", 0, NULL, 0);
    ctm_basic_consume(&c, 2, q, "same", 0, NULL, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_consume_exclusive_403)
{
    struct raw_conn a, b;
    char q[CTM_NAME_MAX], frag[300];
    ct_open_channel(&a, S, 1);
    ct_open_channel(&b, S, 1);
    ctm_name(q, sizeof(q), "excl-consumer");
    ctm_queue_declare(&a, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    snprintf(frag, sizeof(frag), "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use", q);
    ctm_basic_consume(&a, 1, q, "owner", CTM_C_EXCLUSIVE, NULL, 0);
    ctm_send_basic_consume(&b, 1, q, "intruder", 0, NULL);
    ctm_expect_channel_error(&b, 1, RAW_ACCESS_REFUSED, frag, RAW_BASIC, CTM_BASIC_CONSUME);
    /* Another consumer on the owner's own channel is refused as well. */
    ctm_send_basic_consume(&a, 1, q, "second", 0, NULL);
    ctm_expect_channel_error(&a, 1, RAW_ACCESS_REFUSED, frag, RAW_BASIC, CTM_BASIC_CONSUME);
    /* That channel error cancelled "owner"; now b consumes, and exclusive is refused. */
    ctm_basic_consume(&b, 1, q, "plain", 0, NULL, 0);
    ctm_send_basic_consume(&a, 1, q, "wants-all", CTM_C_EXCLUSIVE, NULL);
    ctm_expect_channel_error(&a, 1, RAW_ACCESS_REFUSED, frag, RAW_BASIC, CTM_BASIC_CONSUME);
    ctm_queue_delete(&a, 1, q, 0);
    raw_close(&a);
    raw_close(&b);
}
END_TEST

START_TEST(test_consume_absent_queue_404)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "absent");
    ctm_send_basic_consume(&c, 1, q, "", 0, NULL);
    snprintf(frag, sizeof(frag), "NOT_FOUND - no queue '%s' in vhost '/'", q);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_BASIC, CTM_BASIC_CONSUME);
    ctm_send_basic_get(&c, 1, q, true);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_BASIC, CTM_BASIC_GET);
    raw_close(&c);
}
END_TEST

START_TEST(test_consume_no_ack_needs_no_ack)
{
    struct raw_conn c;
    struct ctm_in in;
    struct raw_frame f;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    publish_n(&c, 1, q, 3);
    ctm_basic_consume(&c, 2, q, "noack", CTM_C_NO_ACK, NULL, 0);
    for (int i = 1; i <= 3; i++) {
        char body[8];
        snprintf(body, sizeof(body), "m%d", i);
        ctm_expect_deliver(&c, &in, 2, body);
        ck_assert(!in.redelivered);
        ctm_in_free(&in);
    }
    /* Closing the channel returns nothing: the messages were settled on delivery. */
    raw_send_close(&c, 2, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_consume_with_rabbitmq_c)
{
    char q[CTM_NAME_MAX];
    ctm_name(q, sizeof(q), "rmqc-consume");
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    ck_assert(amqp_socket_open_noblock(sock, S->host, S->port, &tv) == AMQP_STATUS_OK);
    ck_assert_int_eq(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
                         .reply_type,
                     AMQP_RESPONSE_NORMAL);
    ck_assert(amqp_channel_open(conn, 1) != NULL);
    ck_assert(amqp_queue_declare(conn, 1, amqp_cstring_bytes(q), 0, 0, 1, 0, amqp_empty_table));
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(conn, 1, amqp_cstring_bytes(q),
                                                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    ck_assert_msg(ok != NULL, "basic.consume failed");
    for (int i = 0; i < 3; i++) {
        char body[16];
        snprintf(body, sizeof(body), "rmqc-%d", i);
        ck_assert_int_eq(amqp_basic_publish(conn, 1, amqp_cstring_bytes(""),
                                            amqp_cstring_bytes(q), 0, 0, NULL,
                                            amqp_cstring_bytes(body)),
                         AMQP_STATUS_OK);
    }
    for (int i = 0; i < 3; i++) {
        amqp_envelope_t env;
        char body[16];
        snprintf(body, sizeof(body), "rmqc-%d", i);
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
        ck_assert_uint_eq(env.delivery_tag, (uint64_t)i + 1);
        ck_assert(env.message.body.len == strlen(body) &&
                  memcmp(env.message.body.bytes, body, strlen(body)) == 0);
        ck_assert_int_eq(amqp_basic_ack(conn, 1, env.delivery_tag, 0), 0);
        amqp_destroy_envelope(&env);
    }
    ck_assert_int_eq(amqp_connection_close(conn, AMQP_REPLY_SUCCESS).reply_type,
                     AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(conn);
}
END_TEST

/* ---- basic.cancel ----------------------------------------------------------------- */

START_TEST(test_cancel_stops_deliveries)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "short-lived", CTM_C_NO_ACK, NULL, 0);
    ctm_publish_str(&c, 1, "", q, "before");
    ctm_expect_deliver(&c, &in, 1, "before");
    ctm_in_free(&in);
    ck_assert_uint_eq(ctm_basic_cancel(&c, 1, "short-lived"), 0);
    ctm_publish_str(&c, 1, "", q, "after");
    /* Not delivered to the cancelled consumer: still in the queue. */
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "after");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_cancel_nowait_sends_no_reply)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "quiet", CTM_C_NO_ACK, NULL, 0);
    ctm_send_basic_cancel(&c, 1, "quiet", true);
    /* The next reply is the qos-ok: no cancel-ok was sent. */
    ctm_basic_qos(&c, 1, 10, false);
    ctm_publish_str(&c, 1, "", q, "kept");
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ctm_in_free(&in);
    /* The tag is free again. */
    ctm_basic_consume(&c, 1, q, "quiet", 0, NULL, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_cancel_unknown_tag_ok)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ck_assert_uint_eq(ctm_basic_cancel(&c, 1, "never-consumed"), 0);
    raw_close(&c);
}
END_TEST

/* ---- basic.get ----------------------------------------------------------------------- */

START_TEST(test_get_message_count_and_get_empty)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ck_assert(!ctm_basic_get(&c, 1, q, true, &in));
    publish_n(&c, 1, q, 3);
    for (uint32_t left = 2;; left--) {
        ck_assert(ctm_basic_get(&c, 1, q, false, &in));
        ck_assert_uint_eq(in.message_count, left);
        ck_assert_str_eq(in.exchange, "");
        ck_assert_str_eq(in.routing_key, q);
        ck_assert(!in.redelivered);
        ctm_in_free(&in);
        if (left == 0)
            break;
    }
    ck_assert(!ctm_basic_get(&c, 1, q, false, &in));
    raw_close(&c);
}
END_TEST

/* ---- delivery order and tags ------------------------------------------------------------ */

START_TEST(test_round_robin_between_consumers)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    int a = 0, b = 0;
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "A", CTM_C_NO_ACK, NULL, 0);
    ctm_basic_consume(&c, 1, q, "B", CTM_C_NO_ACK, NULL, 0);
    publish_n(&c, 1, q, 10);
    for (int i = 0; i < 10; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        if (strcmp(in.consumer_tag, "A") == 0)
            a++;
        else if (strcmp(in.consumer_tag, "B") == 0)
            b++;
        ctm_in_free(&in);
    }
    ck_assert_msg(a == 5 && b == 5, "round robin gave A %d and B %d of 10", a, b);
    raw_close(&c);
}
END_TEST

START_TEST(test_delivery_tags_per_channel)
{
    struct raw_conn c;
    struct ctm_in in;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX], q3[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q1, sizeof(q1));
    ctm_queue_temp(&c, 1, q2, sizeof(q2));
    ctm_queue_temp(&c, 1, q3, sizeof(q3));
    publish_n(&c, 1, q1, 3);
    publish_n(&c, 1, q2, 3);
    publish_n(&c, 1, q3, 1);
    ctm_basic_consume(&c, 1, q1, "one", 0, NULL, 0);
    for (uint64_t t = 1; t <= 3; t++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ck_assert_uint_eq(in.delivery_tag, t);
        ctm_in_free(&in);
    }
    ctm_basic_consume(&c, 2, q2, "two", 0, NULL, 0);
    for (uint64_t t = 1; t <= 3; t++) {
        ctm_expect_deliver(&c, &in, 2, NULL);
        ck_assert_uint_eq(in.delivery_tag, t);
        ctm_in_free(&in);
    }
    /* basic.get shares the channel's sequence. */
    ck_assert(ctm_basic_get(&c, 1, q3, false, &in));
    ck_assert_uint_eq(in.delivery_tag, 4);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_redelivered_flag_on_redelivery)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish_str(&c, 1, "", q, "again and again");
    ck_assert(ctm_basic_get(&c, 1, q, false, &in));
    ck_assert(!in.redelivered);
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    ctm_send_basic_reject(&c, 1, tag, true);
    for (int i = 0; i < 2; i++) {
        ck_assert(ctm_basic_get(&c, 1, q, false, &in));
        ck_assert_msg(in.redelivered, "redelivery %d lacks the redelivered flag", i + 1);
        ck_assert_uint_gt(in.delivery_tag, tag);
        tag = in.delivery_tag;
        ctm_in_free(&in);
        ctm_send_basic_nack(&c, 1, tag, false, true);
    }
    /* To a consumer as well. */
    ctm_basic_consume(&c, 1, q, "late", 0, NULL, 0);
    ctm_expect_deliver(&c, &in, 1, "again and again");
    ck_assert(in.redelivered);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* ---- basic.qos ------------------------------------------------------------------------ */

/* Read n deliveries on ch; counts per consumer tag "A"/"B"; returns the last tag seen. */
static uint64_t take(struct raw_conn *c, uint16_t ch, int n, int *a, int *b, uint64_t *a_tag)
{
    uint64_t last = 0;
    for (int i = 0; i < n; i++) {
        struct ctm_in in;
        ctm_expect_deliver(c, &in, ch, NULL);
        if (strcmp(in.consumer_tag, "A") == 0) {
            (*a)++;
            if (a_tag)
                *a_tag = in.delivery_tag;
        } else {
            (*b)++;
        }
        last = in.delivery_tag;
        ctm_in_free(&in);
    }
    return last;
}

START_TEST(test_prefetch_per_consumer)
{
    struct raw_conn c, obs;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    int a = 0, b = 0;
    uint64_t a_tag = 0;
    ct_open_channel(&c, S, 1);
    ct_open_channel(&obs, S, 1);
    shared_queue(&c, q, sizeof(q), "prefetch");
    ctm_basic_qos(&c, 1, 2, false);
    ctm_basic_consume(&c, 1, q, "A", 0, NULL, 0);
    ctm_basic_consume(&c, 1, q, "B", 0, NULL, 0);
    publish_n(&c, 1, q, 10);
    take(&c, 1, 4, &a, &b, &a_tag);
    ck_assert_msg(a == 2 && b == 2, "prefetch 2 each: A got %d, B got %d", a, b);
    ctm_wait_count(&obs, 1, q, 6);
    ct_expect_silence(&c, 300);
    /* Acking one of A's frees one slot: for A. */
    ctm_send_basic_ack(&c, 1, a_tag, false);
    ctm_expect_deliver(&c, &in, 1, NULL);
    ck_assert_str_eq(in.consumer_tag, "A");
    ctm_in_free(&in);
    ctm_wait_count(&obs, 1, q, 5);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_prefetch_global_shared_by_channel)
{
    struct raw_conn c, obs;
    char q[CTM_NAME_MAX];
    int a = 0, b = 0;
    ct_open_channel(&c, S, 1);
    ct_open_channel(&obs, S, 1);
    shared_queue(&c, q, sizeof(q), "prefetch-global");
    ctm_basic_qos(&c, 1, 3, true);
    ctm_basic_consume(&c, 1, q, "A", 0, NULL, 0);
    ctm_basic_consume(&c, 1, q, "B", 0, NULL, 0);
    publish_n(&c, 1, q, 10);
    uint64_t last = take(&c, 1, 3, &a, &b, NULL);
    ctm_wait_count(&obs, 1, q, 7);
    ct_expect_silence(&c, 300);
    ck_assert_int_eq(a + b, 3);
    /* Ack two (multiple): two more, whichever consumer. */
    ctm_send_basic_ack(&c, 1, last - 1, true);
    take(&c, 1, 2, &a, &b, NULL);
    ctm_wait_count(&obs, 1, q, 5);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_prefetch_both_limits_apply)
{
    struct raw_conn c, obs;
    char q[CTM_NAME_MAX];
    int a = 0, b = 0;
    ct_open_channel(&c, S, 1);
    ct_open_channel(&obs, S, 1);
    shared_queue(&c, q, sizeof(q), "prefetch-both");
    ctm_basic_qos(&c, 1, 2, false); /* each consumer: 2 */
    ctm_basic_qos(&c, 1, 3, true);  /* the channel: 3 */
    ctm_basic_consume(&c, 1, q, "A", 0, NULL, 0);
    ctm_basic_consume(&c, 1, q, "B", 0, NULL, 0);
    publish_n(&c, 1, q, 10);
    take(&c, 1, 3, &a, &b, NULL);
    ctm_wait_count(&obs, 1, q, 7);
    ct_expect_silence(&c, 300);
    ck_assert_msg(a <= 2 && b <= 2, "per-consumer limit 2 exceeded: A %d, B %d", a, b);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_prefetch_applies_to_later_consumers)
{
    struct raw_conn c, obs;
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    int a = 0, b = 0;
    ct_open_channel(&c, S, 1);
    ct_open_channel(&obs, S, 1);
    shared_queue(&c, q1, sizeof(q1), "before-qos");
    shared_queue(&c, q2, sizeof(q2), "after-qos");
    ctm_basic_consume(&c, 1, q1, "A", 0, NULL, 0);   /* unlimited */
    ctm_basic_qos(&c, 1, 1, false);
    ctm_basic_consume(&c, 1, q2, "B", 0, NULL, 0);   /* prefetch 1 */
    publish_n(&c, 1, q1, 5);
    publish_n(&c, 1, q2, 5);
    take(&c, 1, 6, &a, &b, NULL);
    ck_assert_msg(a == 5 && b == 1, "A (before qos) got %d of 5, B (qos 1) got %d", a, b);
    ctm_wait_count(&obs, 1, q2, 4);
    raw_close(&c);
    raw_close(&obs);
}
END_TEST

START_TEST(test_prefetch_ignored_for_no_ack)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_basic_qos(&c, 1, 1, true);
    ctm_basic_qos(&c, 1, 1, false);
    ctm_basic_consume(&c, 1, q, "free", CTM_C_NO_ACK, NULL, 0);
    publish_n(&c, 1, q, 5);
    for (int i = 0; i < 5; i++) {
        ctm_expect_deliver(&c, &in, 1, NULL);
        ctm_in_free(&in);
    }
    raw_close(&c);
}
END_TEST

START_TEST(test_prefetch_size_540)
{
    struct raw_conn c;
    ct_open_channel(&c, S, 1);
    ctm_send_basic_qos(&c, 1, 1000, 10, false);
    ct_expect_connection_close(&c, RAW_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)",
                               RAW_BASIC, CTM_BASIC_QOS);
    raw_close(&c);
}
END_TEST

/* ---- flow control ---------------------------------------------------------------------- */

/*
 * A no-ack consumer whose client stops reading: the broker stops pushing to
 * it once its socket and a bounded buffer are full, so the rest of the
 * queue is left for a second consumer, and other queues are served.
 */
START_TEST(test_consumer_not_reading_does_not_stall_others)
{
    enum { N = 1000, SIZE = 64 * 1024 };
    struct raw_conn slow, pub, fast, other;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX], q2[CTM_NAME_MAX];
    uint8_t *body = calloc(1, SIZE);
    ck_assert(body != NULL);
    ct_open_channel(&slow, S, 1);
    ct_open_channel(&pub, S, 1);
    ct_open_channel(&fast, S, 1);
    ct_open_channel(&other, S, 1);
    int small = 4096;
    setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    shared_queue(&pub, q, sizeof(q), "stuck");
    ctm_queue_temp(&other, 1, q2, sizeof(q2));
    ctm_basic_consume(&slow, 1, q, "never-reads", CTM_C_NO_ACK, NULL, 0);
    /* 64 MB for a consumer that reads nothing more from now on. */
    raw_buf_init(&out);
    for (int i = 0; i < N; i++) {
        snprintf((char *)body, 32, "%d", i);
        ctm_put_publish(&out, &pub, 1, "", q, 0, NULL, body, SIZE, 0);
        if (out.len > (4u << 20)) {
            ct_send(&pub, out.data, out.len);
            raw_buf_reset(&out);
        }
    }
    ct_send(&pub, out.data, out.len);
    raw_buf_free(&out);
    ctm_queue_count(&pub, 1, q, NULL); /* every publish processed */
    /* Another queue is served. */
    ctm_basic_consume(&other, 1, q2, "", CTM_C_NO_ACK, NULL, 0);
    ctm_publish_str(&pub, 1, "", q2, "still served");
    ctm_expect_deliver(&other, &in, 1, "still served");
    ctm_in_free(&in);
    /* What the stuck consumer could not take goes to a second consumer. */
    ctm_basic_consume(&fast, 1, q, "reads", CTM_C_NO_ACK, NULL, 0);
    ctm_expect_deliver(&fast, &in, 1, NULL);
    ck_assert_uint_eq(in.body_len, SIZE);
    ctm_in_free(&in);
    raw_close(&slow);
    ctm_queue_delete(&pub, 1, q, 0);
    free(body);
    raw_close(&fast);
    raw_close(&other);
    raw_close(&pub);
}
END_TEST

/*
 * Deliveries a non-reading ack-mode consumer never received (stuck in the
 * broker's output or the socket) are unacked like any other: when the
 * client goes, every one of them returns to the queue.
 */
START_TEST(test_unsent_deliveries_requeued_when_consumer_drops)
{
    enum { N = 300, SIZE = 64 * 1024 };
    struct raw_conn slow, pub;
    struct raw_buf out;
    char q[CTM_NAME_MAX];
    uint8_t *body = calloc(1, SIZE);
    ck_assert(body != NULL);
    ct_open_channel(&slow, S, 1);
    ct_open_channel(&pub, S, 1);
    int small = 4096;
    setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    ctm_name(q, sizeof(q), "stuck-acks");
    ctm_queue_declare(&pub, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ctm_basic_consume(&slow, 1, q, "never-acks", 0, NULL, 0);
    raw_buf_init(&out);
    for (int i = 0; i < N; i++) {
        ctm_put_publish(&out, &pub, 1, "", q, 0, NULL, body, SIZE, 0);
        if (out.len > (4u << 20)) {
            ct_send(&pub, out.data, out.len);
            raw_buf_reset(&out);
        }
    }
    ct_send(&pub, out.data, out.len);
    raw_buf_free(&out);
    raw_close(&slow);
    ctm_wait_count(&pub, 1, q, N);
    ck_assert_uint_eq(ctm_queue_delete(&pub, 1, q, 0), N);
    free(body);
    raw_close(&pub);
}
END_TEST

/*
 * edad honours channel.flow{active=false} from the client (the spec);
 * RabbitMQ answers 540 (docs/protocol-errors.md).
 */
START_TEST(test_channel_flow_pauses_deliveries)
{
    CTM_EDAD_ONLY(S, "RabbitMQ refuses channel.flow active=false with 540");
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 2, q, sizeof(q));
    ctm_basic_consume(&c, 1, q, "paused", CTM_C_NO_ACK, NULL, 0);
    ct_send_channel_flow(&c, 1, false);
    ctm_expect(&c, &in, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW + 1);
    ctm_in_free(&in);
    ctm_publish_str(&c, 2, "", q, "held");
    ck_assert_uint_eq(ctm_queue_count(&c, 2, q, NULL), 1);
    ct_expect_silence(&c, 300);
    ct_send_channel_flow(&c, 1, true);
    ctm_expect(&c, &in, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW + 1);
    ctm_in_free(&in);
    ctm_expect_deliver(&c, &in, 1, "held");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

static Suite *consume_suite(void)
{
    Suite *s = suite_create("consume");
    TCase *tc;

    tc = tcase_create("consume_cancel_get");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_consume_generates_amq_ctag);
    tcase_add_test(tc, test_consume_duplicate_tag_530);
    tcase_add_test(tc, test_consume_same_tag_on_other_channel_ok);
    tcase_add_test(tc, test_consume_exclusive_403);
    tcase_add_test(tc, test_consume_absent_queue_404);
    tcase_add_test(tc, test_consume_no_ack_needs_no_ack);
    tcase_add_test(tc, test_consume_with_rabbitmq_c);
    tcase_add_test(tc, test_cancel_stops_deliveries);
    tcase_add_test(tc, test_cancel_nowait_sends_no_reply);
    tcase_add_test(tc, test_cancel_unknown_tag_ok);
    tcase_add_test(tc, test_get_message_count_and_get_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("delivery");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_round_robin_between_consumers);
    tcase_add_test(tc, test_delivery_tags_per_channel);
    tcase_add_test(tc, test_redelivered_flag_on_redelivery);
    suite_add_tcase(s, tc);

    tc = tcase_create("prefetch");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_prefetch_per_consumer);
    tcase_add_test(tc, test_prefetch_global_shared_by_channel);
    tcase_add_test(tc, test_prefetch_both_limits_apply);
    tcase_add_test(tc, test_prefetch_applies_to_later_consumers);
    tcase_add_test(tc, test_prefetch_ignored_for_no_ack);
    tcase_add_test(tc, test_prefetch_size_540);
    suite_add_tcase(s, tc);

    tc = tcase_create("flow_control");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_consumer_not_reading_does_not_stall_others);
    tcase_add_test(tc, test_unsent_deliveries_requeued_when_consumer_drops);
    tcase_add_test(tc, test_channel_flow_pauses_deliveries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_consume");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(consume_suite()));
}
