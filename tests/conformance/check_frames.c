/*
 * check_frames.c - frame-level and method-level protocol errors, each with
 * RabbitMQ's reply code: oversized frames, bad frame-end, unknown frame
 * types, misplaced heartbeats and content frames, content out of sequence,
 * malformed method arguments, unknown methods, and the closing handshake
 * after the server sent connection.close.  All through raw frames, since
 * no stock client sends these.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

/* Open a connection with frame_max 4096 and channel 1 open. */
static void open_small(struct raw_conn *c)
{
    struct raw_tune t;
    struct raw_frame f;
    char err[256];
    ct_start(c, &harness_default, NULL);
    ct_start_ok_tune(c, &t);
    raw_send_tune_ok(c, t.channel_max, 4096, 0);
    raw_send_connection_open(c, "/");
    ct_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    ck_assert_msg(raw_channel_open(c, 1, err, sizeof(err)), "%s", err);
}

static void send_frame(struct raw_conn *c, uint8_t type, uint16_t channel, const void *payload,
                       size_t len, uint8_t end)
{
    struct raw_buf b;
    raw_buf_init(&b);
    raw_frame(&b, type, channel, payload, len, end);
    ck_assert(raw_send_buf(c, &b) == 0);
    raw_buf_free(&b);
}

/* ---- frame level ------------------------------------------------------------ */

START_TEST(test_oversized_frame_501)
{
    struct raw_conn c;
    open_small(&c);
    /* 5000 > negotiated 4096: a body frame that would be legal otherwise. */
    static uint8_t body[5000];
    send_frame(&c, RAW_FRAME_BODY, 1, body, sizeof(body), RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

/* The size is checked from the 7-byte header, before any payload arrives. */
START_TEST(test_huge_frame_size_rejected_from_header_501)
{
    struct raw_conn c;
    static const uint8_t hdr[7] = {RAW_FRAME_METHOD, 0, 1, 0x7f, 0xff, 0xff, 0xff};
    open_small(&c);
    ct_send(&c, hdr, sizeof(hdr));
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_frame_limit_before_tune_is_4096)
{
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    static uint8_t payload[8192];
    payload[0] = 0;
    payload[1] = RAW_CONNECTION;
    payload[2] = 0;
    payload[3] = RAW_CONNECTION_START_OK;
    send_frame(&c, RAW_FRAME_METHOD, 0, payload, sizeof(payload), RAW_FRAME_END);
    /* Before tuning RabbitMQ closes without a frame; a 501 close is fine too. */
    static const uint16_t allowed[] = {RAW_FRAME_ERROR};
    ct_expect_drop(&c, allowed, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_bad_frame_end_501)
{
    struct raw_conn c;
    uint8_t payload[5] = {0, RAW_CHANNEL, 0, RAW_CHANNEL_OPEN, 0};
    open_small(&c);
    send_frame(&c, RAW_FRAME_METHOD, 2, payload, sizeof(payload), 0x00);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_unknown_frame_type_501)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, 9, 0, "abc", 3, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_garbage_after_handshake_501)
{
    struct raw_conn c;
    static const uint8_t junk[16] = {0xff, 0xee, 0xdd, 0, 0, 0, 1, 0x42, 0xCE};
    open_small(&c);
    ct_send(&c, junk, 9);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_heartbeat_with_payload_501)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, RAW_FRAME_HEARTBEAT, 0, "x", 1, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

/* RabbitMQ: a heartbeat on a channel > 0 is an unexpected frame (505). */
START_TEST(test_heartbeat_on_channel_505)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, RAW_FRAME_HEARTBEAT, 1, NULL, 0, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME, "UNEXPECTED_FRAME", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_heartbeat_on_channel_0_accepted)
{
    struct raw_conn c;
    struct raw_frame f;
    open_small(&c);
    send_frame(&c, RAW_FRAME_HEARTBEAT, 0, NULL, 0, RAW_FRAME_END);
    ct_send_channel_flow(&c, 1, true);
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_method_frame_shorter_than_ids_501)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, RAW_FRAME_METHOD, 1, "\0\x14", 2, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", -1, -1);
    raw_close(&c);
}
END_TEST

START_TEST(test_content_header_on_channel_0_505)
{
    struct raw_conn c;
    struct raw_buf b;
    open_small(&c);
    raw_buf_init(&b);
    raw_frame_header(&b, 0, RAW_BASIC, 1, 0, NULL, 0);
    ck_assert(raw_send_buf(&c, &b) == 0);
    raw_buf_free(&b);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME, "UNEXPECTED_FRAME", 0, 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_body_on_channel_0_505)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, RAW_FRAME_BODY, 0, "abc", 3, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME, "UNEXPECTED_FRAME", 0, 0);
    raw_close(&c);
}
END_TEST

/* ---- content sequence -------------------------------------------------------- */

static void send_header(struct raw_conn *c, uint16_t channel, uint16_t class_id, uint64_t size)
{
    struct raw_buf b;
    raw_buf_init(&b);
    raw_frame_header(&b, channel, class_id, size, 0, NULL, 0);
    ck_assert(raw_send_buf(c, &b) == 0);
    raw_buf_free(&b);
}

START_TEST(test_content_header_without_publish_505)
{
    struct raw_conn c;
    open_small(&c);
    send_header(&c, 1, RAW_BASIC, 3);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected method frame", -1, -1);
    raw_close(&c);
}
END_TEST

START_TEST(test_body_without_publish_505)
{
    struct raw_conn c;
    open_small(&c);
    send_frame(&c, RAW_FRAME_BODY, 1, "abc", 3, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected method frame", -1, -1);
    raw_close(&c);
}
END_TEST

START_TEST(test_publish_then_body_without_header_505)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    send_frame(&c, RAW_FRAME_BODY, 1, "abc", 3, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected content header for class 60", RAW_BASIC,
                               RAW_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

START_TEST(test_publish_then_method_505)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    ct_send_channel_flow(&c, 1, true);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected content header for class 60", RAW_BASIC,
                               RAW_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

START_TEST(test_header_of_other_class_505)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    send_header(&c, 1, RAW_QUEUE, 3);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected content header for class 60, got one "
                               "for class 50",
                               RAW_BASIC, RAW_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

START_TEST(test_method_before_body_complete_505)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    send_header(&c, 1, RAW_BASIC, 10);
    send_frame(&c, RAW_FRAME_BODY, 1, "abcd", 4, RAW_FRAME_END);
    ct_send_channel_flow(&c, 1, true);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME,
                               "UNEXPECTED_FRAME|expected content body", RAW_BASIC,
                               RAW_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

START_TEST(test_body_larger_than_announced_501)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    send_header(&c, 1, RAW_BASIC, 4);
    send_frame(&c, RAW_FRAME_BODY, 1, "0123456789", 10, RAW_FRAME_END);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR,
                               "FRAME_ERROR|content body frame exceeds remaining content size",
                               RAW_BASIC, RAW_BASIC_PUBLISH);
    raw_close(&c);
}
END_TEST

/* RabbitMQ accepts a header only with weight 0; anything else is unexpected. */
START_TEST(test_header_with_nonzero_weight_505)
{
    struct raw_conn c;
    struct raw_buf b;
    uint8_t payload[14] = {0, RAW_BASIC, 0, 1 /* weight */, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0};
    open_small(&c);
    ct_send_basic_publish(&c, 1, "q");
    raw_buf_init(&b);
    raw_frame(&b, RAW_FRAME_HEADER, 1, payload, sizeof(payload), RAW_FRAME_END);
    ck_assert(raw_send_buf(&c, &b) == 0);
    raw_buf_free(&b);
    ct_expect_connection_close(&c, RAW_UNEXPECTED_FRAME, "UNEXPECTED_FRAME", -1, -1);
    raw_close(&c);
}
END_TEST

/*
 * A payload of exactly frame_max octets is accepted (RabbitMQ allows the
 * 8 octets of frame overhead on top), one more is a frame error.
 */
static void send_body_of(struct raw_conn *c, size_t payload)
{
    static uint8_t body[4097];
    char err[256];
    ck_assert_msg(raw_channel_open(c, 2, err, sizeof(err)), "%s", err);
    ct_send_basic_publish(c, 1, "q");
    struct raw_buf b;
    raw_buf_init(&b);
    raw_frame_header(&b, 1, RAW_BASIC, 8192, 0, NULL, 0);
    raw_frame_body(&b, 1, body, payload);
    ck_assert(raw_send_buf(c, &b) == 0);
    raw_buf_free(&b);
}

START_TEST(test_frame_of_exactly_frame_max_accepted)
{
    struct raw_conn c;
    struct raw_frame f;
    open_small(&c);
    send_body_of(&c, 4096);
    /* The message is still incomplete; the connection carries on. */
    ct_send_channel_flow(&c, 2, true);
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_frame_of_frame_max_plus_one_501)
{
    struct raw_conn c;
    open_small(&c);
    send_body_of(&c, 4097);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", 0, 0);
    raw_close(&c);
}
END_TEST

/* Content frames of one channel may interleave with another channel's. */
START_TEST(test_other_channel_methods_between_content_frames)
{
    struct raw_conn c;
    struct raw_frame f;
    char err[256];
    open_small(&c);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ct_send_basic_publish(&c, 1, "q");
    ct_send_channel_flow(&c, 2, true);
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    send_header(&c, 1, RAW_BASIC, 4);
    ct_send_channel_flow(&c, 2, true);
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* ---- method arguments ------------------------------------------------------------ */

START_TEST(test_missing_method_args_501)
{
    struct raw_conn c;
    open_small(&c);
    ct_send_method(&c, 2, RAW_CHANNEL, RAW_CHANNEL_OPEN, NULL);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR|cannot decode", RAW_CHANNEL,
                               RAW_CHANNEL_OPEN);
    raw_close(&c);
}
END_TEST

START_TEST(test_truncated_shortstr_501)
{
    struct raw_conn c;
    struct raw_buf a;
    open_small(&c);
    raw_buf_init(&a);
    raw_put_u8(&a, 10); /* claims 10 bytes, has 2 */
    raw_put_bytes(&a, "ab", 2);
    ct_send_method(&c, 2, RAW_CHANNEL, RAW_CHANNEL_OPEN, &a);
    raw_buf_free(&a);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR|cannot decode", RAW_CHANNEL,
                               RAW_CHANNEL_OPEN);
    raw_close(&c);
}
END_TEST

START_TEST(test_trailing_bytes_after_args_501)
{
    struct raw_conn c;
    struct raw_buf a;
    open_small(&c);
    raw_buf_init(&a);
    raw_put_u8(&a, 1); /* channel.flow active */
    raw_put_bytes(&a, "xyz", 3);
    ct_send_method(&c, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW, &a);
    raw_buf_free(&a);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR|cannot decode", RAW_CHANNEL,
                               RAW_CHANNEL_FLOW);
    raw_close(&c);
}
END_TEST

START_TEST(test_malformed_close_args_on_channel_0_501)
{
    struct raw_conn c;
    struct raw_buf a;
    open_small(&c);
    raw_buf_init(&a);
    raw_put_u16(&a, 200); /* reply code, then nothing */
    ct_send_method(&c, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE, &a);
    raw_buf_free(&a);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", RAW_CONNECTION,
                               RAW_CONNECTION_CLOSE);
    raw_close(&c);
}
END_TEST

/* RabbitMQ checks shortstrs of methods without content for UTF-8 (501). */
START_TEST(test_invalid_utf8_shortstr_501)
{
    struct raw_conn c;
    struct raw_buf a;
    open_small(&c);
    raw_buf_init(&a);
    raw_put_u8(&a, 2);
    raw_put_bytes(&a, "\xff\xfe", 2);
    ct_send_method(&c, 2, RAW_CHANNEL, RAW_CHANNEL_OPEN, &a);
    raw_buf_free(&a);
    ct_expect_connection_close(&c, RAW_FRAME_ERROR, "FRAME_ERROR", -1, -1);
    raw_close(&c);
}
END_TEST

/*
 * A field table with an unknown value type: edad answers 501 "cannot
 * decode"; RabbitMQ's parser has no clause for it and drops the connection.
 */
START_TEST(test_malformed_table_ends_connection)
{
    static const uint16_t allowed[] = {RAW_FRAME_ERROR, RAW_SYNTAX_ERROR};
    struct raw_conn c;
    struct raw_buf a;
    open_small(&c);
    raw_buf_init(&a);
    raw_put_u16(&a, 0);             /* reserved-1 */
    raw_put_shortstr(&a, "q");
    raw_put_u8(&a, 0);              /* flags */
    size_t mark = raw_table_begin(&a);
    raw_put_shortstr(&a, "x-bad");
    raw_put_u8(&a, 'Z');            /* no such field type */
    raw_put_u32(&a, 0);
    raw_table_end(&a, mark);
    ct_send_method(&c, 1, RAW_QUEUE, RAW_QUEUE_DECLARE, &a);
    raw_buf_free(&a);
    ct_expect_drop(&c, allowed, 2);
    raw_close(&c);
}
END_TEST

/*
 * Unknown class/method ids: RabbitMQ's reader crashes and drops the socket;
 * edad sends 540 NOT_IMPLEMENTED first (docs/protocol-errors.md).  Either way
 * the connection ends.
 */
START_TEST(test_unknown_method_id_ends_connection)
{
    static const uint16_t allowed[] = {RAW_NOT_IMPLEMENTED};
    struct raw_conn c;
    open_small(&c);
    ct_send_method(&c, 1, RAW_CHANNEL, 99, NULL);
    ct_expect_drop(&c, allowed, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_unknown_class_id_ends_connection)
{
    static const uint16_t allowed[] = {RAW_NOT_IMPLEMENTED};
    struct raw_conn c;
    open_small(&c);
    ct_send_method(&c, 1, 99, 10, NULL);
    ct_expect_drop(&c, allowed, 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_connection_open_twice_504)
{
    struct raw_conn c;
    open_small(&c);
    raw_send_connection_open(&c, "/");
    ct_expect_connection_close(&c, RAW_CHANNEL_ERROR,
                               "CHANNEL_ERROR|unexpected method in connection state running",
                               RAW_CONNECTION, RAW_CONNECTION_OPEN);
    raw_close(&c);
}
END_TEST

/* ---- after the server sent connection.close ---------------------------------------- */

/* Provoke a hard error that does not desynchronise the stream (504). */
static void provoke_504(struct raw_conn *c)
{
    struct raw_frame f;
    raw_send_channel_open(c, 1);
    ct_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE);
    struct raw_close cl;
    ck_assert(raw_decode_close(&f, &cl));
    ck_assert_uint_eq(cl.reply_code, RAW_CHANNEL_ERROR);
    raw_frame_free(&f);
}

START_TEST(test_after_close_only_close_ok_counts)
{
    struct raw_conn c;
    struct raw_buf b;
    open_small(&c);
    provoke_504(&c);
    /* All of these must be ignored: no reply, no new error, socket stays open. */
    raw_send_channel_open(&c, 2);
    ct_send_channel_flow(&c, 1, true);
    raw_buf_init(&b);
    raw_frame_heartbeat(&b, 0);
    raw_frame_header(&b, 1, RAW_BASIC, 1, 0, NULL, 0);
    ck_assert(raw_send_buf(&c, &b) == 0);
    raw_buf_free(&b);
    ct_expect_silence(&c, 1000);
    /* close-ok ends it. */
    ck_assert(raw_send_close_ok(&c, 0, RAW_CONNECTION) == 0);
    ck_assert_msg(raw_wait_eof(&c, CT_CLOSE_MS) == RAW_EOF,
                  "the server should close the socket after close-ok");
    raw_close(&c);
}
END_TEST

START_TEST(test_after_close_client_close_gets_close_ok)
{
    struct raw_conn c;
    struct raw_frame f;
    open_small(&c);
    provoke_504(&c);
    raw_send_close(&c, 0, RAW_CONNECTION, RAW_REPLY_SUCCESS, "crossing closes");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_after_close_socket_closed_without_close_ok)
{
    struct raw_conn c;
    char err[256];
    /* The closing timeout is the negotiated heartbeat when below 30 s. */
    ct_connect(&c, &harness_default);
    ck_assert_msg(raw_handshake(&c, "guest", "guest", 2, NULL, err, sizeof(err)), "%s", err);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "%s", err);
    raw_send_channel_open(&c, 1);
    /* Never answer close-ok: the server closes the socket on its own. */
    struct raw_close cl;
    ck_assert_int_eq(raw_expect_connection_close(&c, &cl, CT_REPLY_MS, NULL), RAW_OK);
    ck_assert_uint_eq(cl.reply_code, RAW_CHANNEL_ERROR);
    ck_assert_msg(raw_wait_eof(&c, 20000) == RAW_EOF,
                  "no close-ok from the client: the server should still close the socket");
    raw_close(&c);
}
END_TEST

static Suite *frames_suite(void)
{
    Suite *s = suite_create("frames");
    TCase *tc;

    tc = tcase_create("frame");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_oversized_frame_501);
    tcase_add_test(tc, test_huge_frame_size_rejected_from_header_501);
    tcase_add_test(tc, test_frame_limit_before_tune_is_4096);
    tcase_add_test(tc, test_bad_frame_end_501);
    tcase_add_test(tc, test_unknown_frame_type_501);
    tcase_add_test(tc, test_garbage_after_handshake_501);
    tcase_add_test(tc, test_heartbeat_with_payload_501);
    tcase_add_test(tc, test_heartbeat_on_channel_505);
    tcase_add_test(tc, test_heartbeat_on_channel_0_accepted);
    tcase_add_test(tc, test_method_frame_shorter_than_ids_501);
    tcase_add_test(tc, test_content_header_on_channel_0_505);
    tcase_add_test(tc, test_body_on_channel_0_505);
    suite_add_tcase(s, tc);

    tc = tcase_create("content");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_content_header_without_publish_505);
    tcase_add_test(tc, test_body_without_publish_505);
    tcase_add_test(tc, test_publish_then_body_without_header_505);
    tcase_add_test(tc, test_publish_then_method_505);
    tcase_add_test(tc, test_header_of_other_class_505);
    tcase_add_test(tc, test_method_before_body_complete_505);
    tcase_add_test(tc, test_body_larger_than_announced_501);
    tcase_add_test(tc, test_header_with_nonzero_weight_505);
    tcase_add_test(tc, test_frame_of_exactly_frame_max_accepted);
    tcase_add_test(tc, test_frame_of_frame_max_plus_one_501);
    tcase_add_test(tc, test_other_channel_methods_between_content_frames);
    suite_add_tcase(s, tc);

    tc = tcase_create("method");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_missing_method_args_501);
    tcase_add_test(tc, test_truncated_shortstr_501);
    tcase_add_test(tc, test_trailing_bytes_after_args_501);
    tcase_add_test(tc, test_malformed_close_args_on_channel_0_501);
    tcase_add_test(tc, test_invalid_utf8_shortstr_501);
    tcase_add_test(tc, test_malformed_table_ends_connection);
    tcase_add_test(tc, test_unknown_method_id_ends_connection);
    tcase_add_test(tc, test_unknown_class_id_ends_connection);
    tcase_add_test(tc, test_connection_open_twice_504);
    suite_add_tcase(s, tc);

    tc = tcase_create("closing");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_after_close_only_close_ok_counts);
    tcase_add_test(tc, test_after_close_client_close_gets_close_ok);
    tcase_add_test(tc, test_after_close_socket_closed_without_close_ok);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_frames");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(frames_suite()));
}
