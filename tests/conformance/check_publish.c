/*
 * check_publish.c - basic.publish as a client sees it: content of any frame
 * split (down to one-octet body frames at frame_max 4096), empty bodies,
 * order of pipelined publishes, all 14 properties kept, max_message_size
 * (406, connection still usable), unknown exchange 404, user_id check,
 * mandatory returns 312 NO_ROUTE, immediate 540, and one body reaching
 * every queue of a fanout (shared, not copied per queue).  Uses rabbitmq-c
 * for one round trip and the raw encoder for the rest.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctm.h"

#define S (&harness_default)

/* Handshake with the frame_max we choose, then open channel 1. */
static void open_with_frame_max(struct raw_conn *c, const struct harness_server *s,
                                uint32_t frame_max)
{
    struct raw_tune t;
    struct raw_frame f;
    char err[256];
    ct_start(c, s, NULL);
    ct_start_ok_tune(c, &t);
    ck_assert(raw_send_tune_ok(c, t.channel_max, frame_max, 0) == 0);
    ck_assert(raw_send_connection_open(c, "/") == 0);
    ct_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    c->frame_max = frame_max;
    ck_assert_msg(raw_channel_open(c, 1, err, sizeof(err)), "%s", err);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    ck_assert(p != NULL);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* ---- content assembly ------------------------------------------------------------ */

START_TEST(test_body_split_at_small_frame_max)
{
    struct raw_conn c;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    const size_t len = 100000;
    uint8_t *body = pattern(len, 1);
    open_with_frame_max(&c, S, 4096);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_buf_init(&out);
    ctm_put_publish(&out, &c, 1, "", q, 0, NULL, body, len, 0); /* 4088-octet frames */
    ct_send(&c, out.data, out.len);
    raw_buf_free(&out);
    ctm_basic_consume(&c, 1, q, "", CTM_C_NO_ACK, NULL, 0);
    ctm_expect_deliver(&c, &in, 1, NULL);
    ck_assert_uint_eq(in.body_size, len);
    ck_assert_msg(in.body_len == len && memcmp(in.body, body, len) == 0,
                  "the body came back changed");
    /* The server splits its deliveries by the same frame_max. */
    ck_assert_msg(in.largest_body_frame <= 4096 - 8, "a body frame of %u octets at frame_max 4096",
                  in.largest_body_frame);
    ck_assert_uint_ge(in.body_frames, (len + 4087) / 4088);
    ctm_in_free(&in);
    free(body);
    raw_close(&c);
}
END_TEST

START_TEST(test_body_in_frames_of_every_size)
{
    struct raw_conn c;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    const size_t len = 20000;
    uint8_t *body = pattern(len, 2);
    open_with_frame_max(&c, S, 4096);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    /* One publish, body frames of 1, 2, 3, ... octets (cycling up to 97). */
    raw_buf_init(&out);
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);
    raw_put_shortstr(&a, "");
    raw_put_shortstr(&a, q);
    raw_put_u8(&a, 0);
    raw_frame_method(&out, 1, RAW_BASIC, CTM_BASIC_PUBLISH, a.data, a.len);
    raw_buf_free(&a);
    raw_frame_header(&out, 1, RAW_BASIC, len, 0, NULL, 0);
    size_t off = 0, n = 1;
    while (off < len) {
        size_t k = n < len - off ? n : len - off;
        raw_frame_body(&out, 1, body + off, k);
        off += k;
        n = n % 97 + 1;
    }
    /* And one with a single body frame of exactly frame_max - 8 octets. */
    ctm_put_publish(&out, &c, 1, "", q, 0, NULL, body, 4088, 4088);
    /* Sent in small writes, cut at arbitrary points inside frames. */
    for (size_t i = 0; i < out.len; i += 777)
        ct_send(&c, out.data + i, out.len - i < 777 ? out.len - i : 777);
    raw_buf_free(&out);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_msg(in.body_len == len && memcmp(in.body, body, len) == 0,
                  "body assembled from tiny frames differs");
    ctm_in_free(&in);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_msg(in.body_len == 4088 && memcmp(in.body, body, 4088) == 0,
                  "body of one full frame differs");
    ctm_in_free(&in);
    free(body);
    raw_close(&c);
}
END_TEST

START_TEST(test_empty_body_has_no_body_frame)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish(&c, 1, "", q, 0, NULL, "", 0);
    ctm_basic_consume(&c, 1, q, "", CTM_C_NO_ACK, NULL, 0);
    ctm_expect_deliver(&c, &in, 1, "");
    ck_assert_uint_eq(in.body_size, 0);
    ck_assert_uint_eq(in.body_frames, 0);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_content_interleaved_across_channels)
{
    struct raw_conn c;
    struct raw_buf a1, a2;
    struct ctm_in in;
    char q[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    /* Build each channel's frames apart, then interleave them frame by frame. */
    raw_buf_init(&a1);
    raw_buf_init(&a2);
    ctm_put_publish(&a1, &c, 1, "", q, 0, NULL, "from-one:abcdef", 15, 5);
    ctm_put_publish(&a2, &c, 2, "", q, 0, NULL, "from-two:ghijkl", 15, 5);
    size_t o1 = 0, o2 = 0;
    while (o1 < a1.len || o2 < a2.len) {
        struct raw_buf *b[2] = {&a1, &a2};
        size_t *o[2] = {&o1, &o2};
        for (int i = 0; i < 2; i++) {
            if (*o[i] >= b[i]->len)
                continue;
            const uint8_t *p = b[i]->data + *o[i];
            size_t flen = 7 + (((size_t)p[3] << 24) | ((size_t)p[4] << 16) |
                               ((size_t)p[5] << 8) | p[6]) + 1;
            ct_send(&c, p, flen);
            *o[i] += flen;
        }
    }
    raw_buf_free(&a1);
    raw_buf_free(&a2);
    bool one = false, two = false;
    for (int i = 0; i < 2; i++) {
        ck_assert(ctm_basic_get(&c, 1, q, true, &in));
        one = one || strcmp((const char *)in.body, "from-one:abcdef") == 0;
        two = two || strcmp((const char *)in.body, "from-two:ghijkl") == 0;
        ctm_in_free(&in);
    }
    ck_assert_msg(one && two, "interleaved publishes were mixed up");
    raw_close(&c);
}
END_TEST

START_TEST(test_pipelined_publishes_keep_order)
{
    struct raw_conn c;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_buf_init(&out);
    for (int i = 0; i < 2000; i++) {
        char body[16];
        int n = snprintf(body, sizeof(body), "%d", i);
        ctm_put_publish(&out, &c, 1, "", q, 0, NULL, body, (size_t)n, 0);
    }
    ct_send(&c, out.data, out.len);
    raw_buf_free(&out);
    ctm_basic_consume(&c, 1, q, "", CTM_C_NO_ACK, NULL, 0);
    for (int i = 0; i < 2000; i++) {
        char body[16];
        snprintf(body, sizeof(body), "%d", i);
        ctm_expect_deliver(&c, &in, 1, body);
        ck_assert_uint_eq(in.delivery_tag, (uint64_t)i + 1);
        ctm_in_free(&in);
    }
    raw_close(&c);
}
END_TEST

/*
 * Publisher flow never blocks for good: one connection publishes 20,000
 * messages to a queue it consumes itself with prefetch 1 and no ack yet, so
 * the backlog passes the flow threshold (4,096) with a consumer that cannot
 * take more.  Every publish must still be enqueued, in order, and the same
 * connection must go on (ack, next delivery).
 */
START_TEST(test_publisher_flow_never_blocks_for_good)
{
    struct raw_conn c, c2;
    struct raw_buf out;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    const uint32_t n = 20000;
    ctm_name(q, sizeof(q), "flow");
    ct_open_channel(&c, S, 1);
    ct_open_channel(&c2, S, 1);
    ctm_queue_declare(&c, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ctm_basic_qos(&c, 1, 1, false);
    ctm_basic_consume(&c, 1, q, "", 0, NULL, 0);
    raw_buf_init(&out);
    for (uint32_t i = 0; i < n; i++) {
        char body[16];
        int len = snprintf(body, sizeof(body), "%u", i);
        ctm_put_publish(&out, &c, 1, "", q, 0, NULL, body, (size_t)len, 0);
    }
    ct_send(&c, out.data, out.len);
    raw_buf_free(&out);
    uint32_t ready = 0;
    for (int i = 0; i < 600 && ready < n - 1; i++) {
        ready = ctm_queue_count(&c2, 1, q, NULL);
        if (ready < n - 1) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_uint_eq(ready, n - 1);
    ctm_expect_deliver(&c, &in, 1, "0");
    ctm_send_basic_ack(&c, 1, in.delivery_tag, false);
    ctm_in_free(&in);
    ctm_expect_deliver(&c, &in, 1, "1");
    ctm_in_free(&in);
    ctm_queue_delete(&c2, 1, q, 0);
    raw_close(&c);
    raw_close(&c2);
}
END_TEST

/* ---- properties ---------------------------------------------------------------------- */

START_TEST(test_properties_round_trip)
{
    struct raw_conn c;
    struct raw_buf h;
    struct ctm_props p;
    struct ctm_in in;
    char q[CTM_NAME_MAX], v[256];
    uint8_t u;
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_buf_init(&h);
    size_t m = raw_table_begin(&h);
    raw_table_put_longstr(&h, "trace", "abc");
    raw_table_put_int(&h, "n", -42);
    raw_table_end(&h, m);
    memset(&p, 0, sizeof(p));
    p.content_type = "text/plain";
    p.content_encoding = "identity";
    p.headers = &h;
    p.delivery_mode = 2;
    p.has_priority = true;
    p.priority = 7;
    p.correlation_id = "corr-1";
    p.reply_to = "reply.here";
    p.expiration = "60000";
    p.message_id = "msg-1";
    p.has_timestamp = true;
    p.timestamp = 1700000000;
    p.type = "example.type";
    p.user_id = "guest";
    p.app_id = "edad-tests";
    ctm_publish(&c, 1, "", q, 0, &p, "props", 5);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
#define CHECK_STR(flag, want)                                                  \
    do {                                                                       \
        ck_assert_msg(ctm_prop_str(&in, (flag), v, sizeof(v)), #flag " lost"); \
        ck_assert_str_eq(v, (want));                                           \
    } while (0)
    CHECK_STR(CTM_PROP_CONTENT_TYPE, "text/plain");
    CHECK_STR(CTM_PROP_CONTENT_ENCODING, "identity");
    CHECK_STR(CTM_PROP_CORRELATION_ID, "corr-1");
    CHECK_STR(CTM_PROP_REPLY_TO, "reply.here");
    CHECK_STR(CTM_PROP_EXPIRATION, "60000");
    CHECK_STR(CTM_PROP_MESSAGE_ID, "msg-1");
    CHECK_STR(CTM_PROP_TYPE, "example.type");
    CHECK_STR(CTM_PROP_USER_ID, "guest");
    CHECK_STR(CTM_PROP_APP_ID, "edad-tests");
#undef CHECK_STR
    ck_assert(ctm_prop_u8(&in, CTM_PROP_DELIVERY_MODE, &u) && u == 2);
    ck_assert(ctm_prop_u8(&in, CTM_PROP_PRIORITY, &u) && u == 7);
    const uint8_t *tbl;
    uint32_t tlen;
    ck_assert_msg(ctm_prop_headers(&in, &tbl, &tlen), "headers lost");
    ck_assert(raw_table_get_string(tbl, tlen, "trace", v, sizeof(v)));
    ck_assert_str_eq(v, "abc");
    uint8_t type;
    const uint8_t *val;
    uint32_t vlen;
    ck_assert(raw_table_find(tbl, tlen, "n", &type, &val, &vlen) && type == 'I');
    ck_assert_int_eq((int32_t)(((uint32_t)val[0] << 24) | ((uint32_t)val[1] << 16) |
                               ((uint32_t)val[2] << 8) | val[3]),
                     -42);
    ck_assert(in.prop_flags & CTM_PROP_TIMESTAMP);
    ck_assert_str_eq((const char *)in.body, "props");
    ctm_in_free(&in);
    raw_buf_free(&h);
    raw_close(&c);
}
END_TEST

START_TEST(test_user_id_mismatch_406)
{
    struct raw_conn c;
    struct ctm_props p;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    memset(&p, 0, sizeof(p));
    p.user_id = "bob";
    ctm_publish(&c, 1, "", q, 0, &p, "forged", 6);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED - user_id property set to 'bob' but "
                             "authenticated user was 'guest'",
                             RAW_BASIC, CTM_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------- */

START_TEST(test_publish_unknown_exchange_404)
{
    struct raw_conn c;
    char x[CTM_NAME_MAX], q[CTM_NAME_MAX], frag[300];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "absent");
    ctm_publish_str(&c, 1, x, "k", "lost");
    snprintf(frag, sizeof(frag), "NOT_FOUND - no exchange '%s' in vhost '/'", x);
    ctm_expect_channel_error(&c, 1, RAW_NOT_FOUND, frag, RAW_BASIC, CTM_BASIC_PUBLISH);
    /* The connection carries on. */
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_close(&c);
}
END_TEST

/*
 * max_message_size: edad's own server gets a small limit from its conf; an
 * external broker needs EDAD_TEST_MAX_MESSAGE_SIZE set to its configured
 * value (RabbitMQ: max_message_size in rabbitmq.conf), else the test skips.
 */
START_TEST(test_max_message_size_406_connection_usable)
{
    struct harness_server own, *s = &own;
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], frag[300];
    size_t max = 1048576;
    if (harness_external()) {
        const char *v = getenv("EDAD_TEST_MAX_MESSAGE_SIZE");
        if (!v || !*v) {
            fprintf(stderr, "SKIP %s: set EDAD_TEST_MAX_MESSAGE_SIZE to the external broker's "
                            "max_message_size\n", __func__);
            return;
        }
        max = (size_t)strtoul(v, NULL, 10);
        s = S;
    } else {
        harness_start(&own, "max_message_size = 1048576\n");
    }
    uint8_t *body = pattern(max + 1, 3);
    ct_open_channel(&c, s, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish(&c, 1, "", q, 0, NULL, body, max + 1);
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - message size %zu is larger than configured max size %zu",
             max + 1, max);
    ctm_expect_channel_error(&c, 1, CTM_PRECONDITION_FAILED, frag, RAW_BASIC,
                             CTM_BASIC_PUBLISH);
    /* Same connection, new channel: a message of exactly the limit goes through. */
    ctm_publish(&c, 1, "", q, 0, NULL, body, max);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_msg(in.body_len == max && memcmp(in.body, body, max) == 0, "body differs");
    ctm_in_free(&in);
    free(body);
    raw_close(&c);
    if (s == &own)
        harness_stop(&own);
}
END_TEST

START_TEST(test_mandatory_return_312_no_route)
{
    struct raw_conn c;
    struct ctm_props p;
    struct ctm_in in;
    char x[CTM_NAME_MAX], absent_q[CTM_NAME_MAX], v[64];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "noroute");
    ctm_exchange_declare(&c, 1, x, "direct", 0, NULL);
    memset(&p, 0, sizeof(p));
    p.content_type = "application/json";
    p.message_id = "m-312";
    ctm_publish(&c, 1, x, "nobody.home", CTM_P_MANDATORY, &p, "{\"a\":1}", 7);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq(in.reply_text, "NO_ROUTE");
    ck_assert_str_eq(in.exchange, x);
    ck_assert_str_eq(in.routing_key, "nobody.home");
    ck_assert_str_eq((const char *)in.body, "{\"a\":1}");
    ck_assert(ctm_prop_str(&in, CTM_PROP_MESSAGE_ID, v, sizeof(v)));
    ck_assert_str_eq(v, "m-312");
    ck_assert(ctm_prop_str(&in, CTM_PROP_CONTENT_TYPE, v, sizeof(v)));
    ck_assert_str_eq(v, "application/json");
    ctm_in_free(&in);
    /* Through the default exchange to a queue that does not exist. */
    ctm_name(absent_q, sizeof(absent_q), "absent");
    ctm_publish(&c, 1, "", absent_q, CTM_P_MANDATORY, NULL, "x", 1);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq(in.exchange, "");
    ck_assert_str_eq(in.routing_key, absent_q);
    ctm_in_free(&in);
    ctm_exchange_delete(&c, 1, x, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_mandatory_routed_is_not_returned)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish(&c, 1, "", q, CTM_P_MANDATORY, NULL, "routed", 6);
    /* The next frame is the get-ok: no basic.return came first. */
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "routed");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_unroutable_without_mandatory_dropped_silently)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], absent[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(absent, sizeof(absent), "absent");
    ctm_publish_str(&c, 1, "", absent, "dropped");
    ctm_publish_str(&c, 1, "amq.direct", "nobody", "dropped too");
    /* No return, no error: the next reply is this declare-ok. */
    ctm_queue_temp(&c, 1, q, sizeof(q));
    raw_close(&c);
}
END_TEST

START_TEST(test_immediate_540)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_queue_temp(&c, 1, q, sizeof(q));
    ctm_publish(&c, 1, "", q, CTM_P_IMMEDIATE, NULL, "now", 3);
    ct_expect_connection_close(&c, RAW_NOT_IMPLEMENTED, "NOT_IMPLEMENTED - immediate=true",
                               RAW_BASIC, CTM_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

/* ---- fanout ---------------------------------------------------------------------------- */

START_TEST(test_fanout_every_queue_gets_the_body)
{
    enum { NQ = 32 };
    struct raw_conn c;
    struct ctm_in in;
    char x[CTM_NAME_MAX], q[NQ][CTM_NAME_MAX];
    const size_t len = 1000000; /* under the 1 MiB limit of the RabbitMQ cross-check */
    uint8_t *body = pattern(len, 4);
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "fanout-big");
    ctm_exchange_declare(&c, 1, x, "fanout", CTM_X_AUTO_DELETE, NULL);
    for (int i = 0; i < NQ; i++) {
        ctm_queue_temp(&c, 1, q[i], sizeof(q[i]));
        ctm_queue_bind(&c, 1, q[i], x, "", NULL);
    }
    long before = harness_rss_kib(S);
    ctm_publish(&c, 1, x, "", 0, NULL, body, len);
    for (int i = 0; i < NQ; i++)
        ctm_wait_count(&c, 1, q[i], 1);
    long after = harness_rss_kib(S);
    if (before > 0 && after > 0) {
        /* One 1 MB body referenced by 32 queues, not 32 copies (32 MB). */
        long grew = after - before;
        ck_assert_msg(grew < 16 * 1024,
                      "RSS grew by %ld KiB for one 1 MB message in %d queues: copied per queue?",
                      grew, NQ);
    }
    for (int i = 0; i < NQ; i++) {
        ck_assert_msg(ctm_basic_get(&c, 1, q[i], true, &in), "queue %d got nothing", i);
        ck_assert_msg(in.body_len == len && memcmp(in.body, body, len) == 0,
                      "queue %d got a different body", i);
        ctm_in_free(&in);
    }
    free(body);
    raw_close(&c);
}
END_TEST

/* ---- with rabbitmq-c ----------------------------------------------------------------- */

START_TEST(test_publish_and_get_with_rabbitmq_c)
{
    char q[CTM_NAME_MAX];
    ctm_name(q, sizeof(q), "rmqc");
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
    amqp_queue_declare_ok_t *d =
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(q), 0, 0, 1, 0, amqp_empty_table);
    ck_assert_msg(d != NULL, "queue.declare failed");
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("text/plain");
    props.delivery_mode = 2;
    ck_assert_int_eq(amqp_basic_publish(conn, 1, amqp_cstring_bytes(""), amqp_cstring_bytes(q), 1,
                                        0, &props, amqp_cstring_bytes("hello from rabbitmq-c")),
                     AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(q), 0);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    uint64_t tag = ok->delivery_tag;
    ck_assert_uint_eq(ok->message_count, 0);
    amqp_message_t msg;
    ck_assert_int_eq(amqp_read_message(conn, 1, &msg, 0).reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_uint_eq(msg.body.len, 21);
    ck_assert(memcmp(msg.body.bytes, "hello from rabbitmq-c", 21) == 0);
    ck_assert(msg.properties._flags & AMQP_BASIC_CONTENT_TYPE_FLAG);
    ck_assert(msg.properties.content_type.len == 10 &&
              memcmp(msg.properties.content_type.bytes, "text/plain", 10) == 0);
    ck_assert_uint_eq(msg.properties.delivery_mode, 2);
    amqp_destroy_message(&msg);
    ck_assert_int_eq(amqp_basic_ack(conn, 1, tag, 0), 0);
    r = amqp_basic_get(conn, 1, amqp_cstring_bytes(q), 1);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_EMPTY_METHOD);
    ck_assert_int_eq(amqp_connection_close(conn, AMQP_REPLY_SUCCESS).reply_type,
                     AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(conn);
}
END_TEST

static Suite *publish_suite(void)
{
    Suite *s = suite_create("publish");
    TCase *tc;

    tc = tcase_create("content");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_body_split_at_small_frame_max);
    tcase_add_test(tc, test_body_in_frames_of_every_size);
    tcase_add_test(tc, test_empty_body_has_no_body_frame);
    tcase_add_test(tc, test_content_interleaved_across_channels);
    tcase_add_test(tc, test_pipelined_publishes_keep_order);
    tcase_add_test(tc, test_publisher_flow_never_blocks_for_good);
    tcase_add_test(tc, test_properties_round_trip);
    tcase_add_test(tc, test_user_id_mismatch_406);
    tcase_add_test(tc, test_publish_and_get_with_rabbitmq_c);
    suite_add_tcase(s, tc);

    tc = tcase_create("routing_errors");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_publish_unknown_exchange_404);
    tcase_add_test(tc, test_max_message_size_406_connection_usable);
    tcase_add_test(tc, test_mandatory_return_312_no_route);
    tcase_add_test(tc, test_mandatory_routed_is_not_returned);
    tcase_add_test(tc, test_unroutable_without_mandatory_dropped_silently);
    tcase_add_test(tc, test_immediate_540);
    tcase_add_test(tc, test_fanout_every_queue_gets_the_body);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_publish");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(publish_suite()));
}
