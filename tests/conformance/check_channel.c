/*
 * check_channel.c - channel lifecycle: open/close both ways, reopening a
 * number, channel.flow, access.request, channel_max, and the errors for
 * channels used wrongly (second open, unopened channel, channel methods on
 * channel 0, connection methods on a channel), and server-initiated
 * channel.close after a soft error (a passive declare of a missing queue).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"

START_TEST(test_open_close_with_rabbitmq_c)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    ck_assert(amqp_socket_open_noblock(sock, harness_default.host, harness_default.port, &tv) ==
              AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                    "guest");
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    for (amqp_channel_t ch = 1; ch <= 5; ch++) {
        ck_assert(amqp_channel_open(conn, ch) != NULL);
        r = amqp_get_rpc_reply(conn);
        ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.open %u failed", ch);
    }
    for (amqp_channel_t ch = 5; ch >= 1; ch--) {
        r = amqp_channel_close(conn, ch, AMQP_REPLY_SUCCESS);
        ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "channel.close %u failed", ch);
    }
    /* A closed number can be opened again. */
    ck_assert(amqp_channel_open(conn, 3) != NULL);
    ck_assert_int_eq(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    r = amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_destroy_connection(conn);
}
END_TEST

START_TEST(test_client_close_gets_close_ok_and_frees_number)
{
    struct raw_conn c;
    struct raw_frame f;
    char err[256];
    ct_open_channel(&c, &harness_default, 7);
    raw_send_close(&c, 7, RAW_CHANNEL, RAW_REPLY_SUCCESS, "done");
    ct_expect_method(&c, &f, 7, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
    ck_assert_msg(raw_channel_open(&c, 7, err, sizeof(err)), "reopen 7: %s", err);
    raw_close(&c);
}
END_TEST

START_TEST(test_channels_are_independent)
{
    struct raw_conn c;
    struct raw_frame f;
    char err[256];
    ct_open(&c, &harness_default, 0);
    for (uint16_t ch = 1; ch <= 3; ch++)
        ck_assert_msg(raw_channel_open(&c, ch, err, sizeof(err)), "open %u: %s", ch, err);
    raw_send_close(&c, 2, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
    /* 1 and 3 still answer. */
    ct_send_channel_flow(&c, 1, true);
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    ct_send_channel_flow(&c, 3, true);
    ct_expect_method(&c, &f, 3, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_second_open_504_channel_error)
{
    struct raw_conn c;
    ct_open_channel(&c, &harness_default, 1);
    raw_send_channel_open(&c, 1);
    ct_expect_connection_close(&c, RAW_CHANNEL_ERROR,
                               "CHANNEL_ERROR|second 'channel.open' seen", RAW_CHANNEL,
                               RAW_CHANNEL_OPEN);
    raw_close(&c);
}
END_TEST

START_TEST(test_method_on_unopened_channel_504)
{
    struct raw_conn c;
    ct_open(&c, &harness_default, 0);
    ct_send_channel_flow(&c, 5, true);
    ct_expect_connection_close(&c, RAW_CHANNEL_ERROR, "CHANNEL_ERROR|expected 'channel.open'",
                               RAW_CHANNEL, RAW_CHANNEL_FLOW);
    raw_close(&c);
}
END_TEST

START_TEST(test_method_on_closed_channel_504)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &harness_default, 2);
    raw_send_close(&c, 2, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
    ct_send_channel_flow(&c, 2, true);
    ct_expect_connection_close(&c, RAW_CHANNEL_ERROR, "CHANNEL_ERROR|expected 'channel.open'",
                               RAW_CHANNEL, RAW_CHANNEL_FLOW);
    raw_close(&c);
}
END_TEST

START_TEST(test_channel_method_on_channel_0_504)
{
    struct raw_conn c;
    ct_open(&c, &harness_default, 0);
    raw_send_channel_open(&c, 0);
    ct_expect_connection_close(&c, RAW_CHANNEL_ERROR,
                               "CHANNEL_ERROR|unexpected method in connection state running",
                               RAW_CHANNEL, RAW_CHANNEL_OPEN);
    raw_close(&c);
}
END_TEST

START_TEST(test_connection_method_on_channel_503)
{
    struct raw_conn c;
    ct_open_channel(&c, &harness_default, 1);
    raw_send_close(&c, 1, RAW_CONNECTION, RAW_REPLY_SUCCESS, "wrong channel");
    ct_expect_connection_close(&c, RAW_COMMAND_INVALID, "COMMAND_INVALID", RAW_CONNECTION,
                               RAW_CONNECTION_CLOSE);
    raw_close(&c);
}
END_TEST

START_TEST(test_flow_active_true_flow_ok_true)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &harness_default, 1);
    ct_send_channel_flow(&c, 1, true);
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    ck_assert_uint_eq(f.size, 5);
    ck_assert_msg(f.payload[4] & 1, "flow-ok active should be true");
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/*
 * edad answers active=false with flow-ok(false) and pauses deliveries, as the
 * spec says (docs/protocol-errors.md); RabbitMQ answers 540 NOT_IMPLEMENTED.
 */
START_TEST(test_flow_active_false_flow_ok_false)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &harness_default, 1);
    ct_send_channel_flow(&c, 1, false);
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    ck_assert_uint_eq(f.size, 5);
    ck_assert_msg((f.payload[4] & 1) == 0, "flow-ok active should be false");
    raw_frame_free(&f);
    ct_send_channel_flow(&c, 1, true);
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    ck_assert_msg(f.payload[4] & 1, "flow-ok active should be true again");
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_access_request_ok_ticket_1)
{
    struct raw_conn c;
    struct raw_frame f;
    struct raw_buf a;
    ct_open_channel(&c, &harness_default, 1);
    raw_buf_init(&a);
    raw_put_shortstr(&a, "/data");
    raw_put_u8(&a, 0x1F); /* exclusive, passive, active, write, read */
    ct_send_method(&c, 1, RAW_ACCESS, RAW_ACCESS_REQUEST, &a);
    raw_buf_free(&a);
    ct_expect_method(&c, &f, 1, RAW_ACCESS, RAW_ACCESS_REQUEST_OK);
    struct raw_cursor cur;
    raw_cursor_init(&cur, f.payload + 4, f.size - 4);
    ck_assert_uint_eq(raw_get_u16(&cur), 1);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* Open every number up to the negotiated channel_max; one more is refused. */
static void fill_channels(struct raw_conn *c, uint16_t max)
{
    char err[256];
    for (uint16_t ch = 1; ch <= max; ch++)
        ck_assert_msg(raw_channel_open(c, ch, err, sizeof(err)), "channel %u of %u: %s", ch, max,
                      err);
    raw_send_channel_open(c, (uint16_t)(max + 1));
    ct_expect_connection_close(c, RAW_NOT_ALLOWED, "NOT_ALLOWED|channel_max", -1, -1);
}

START_TEST(test_channel_max_from_config_enforced_530)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, "channel_max = 10\n");
    ct_open(&c, &s, 0);
    fill_channels(&c, 10);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_channel_max_lowered_by_client_enforced_530)
{
    struct raw_conn c;
    struct raw_tune t;
    struct raw_frame f;
    ct_start(&c, &harness_default, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, 3, t.frame_max, 0);
    raw_send_connection_open(&c, "/");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    fill_channels(&c, 3);
    raw_close(&c);
}
END_TEST

START_TEST(test_many_channels_on_one_connection)
{
    struct raw_conn c;
    struct raw_buf out;
    ct_open(&c, &harness_default, 0);
    /* Pipeline 500 opens in one write, then read 500 open-oks. */
    raw_buf_init(&out);
    for (uint16_t ch = 1; ch <= 500; ch++) {
        uint8_t arg = 0; /* empty shortstr */
        raw_frame_method(&out, ch, RAW_CHANNEL, RAW_CHANNEL_OPEN, &arg, 1);
    }
    ck_assert(raw_send_buf(&c, &out) == 0);
    raw_buf_free(&out);
    /* Each channel answers; replies of different channels may come in any
     * order (RabbitMQ runs a process per channel). */
    static bool seen[501];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 500; i++) {
        struct raw_frame f;
        char d[256];
        ck_assert_msg(raw_read_frame(&c, &f, CT_REPLY_MS) == RAW_OK, "open-ok %d of 500 missing",
                      i + 1);
        ck_assert_msg(f.type == RAW_FRAME_METHOD && f.class_id == RAW_CHANNEL &&
                          f.method_id == RAW_CHANNEL_OPEN_OK && f.channel >= 1 &&
                          f.channel <= 500 && !seen[f.channel],
                      "expected one channel.open-ok per channel, got %s",
                      raw_frame_describe(&f, d, sizeof(d)));
        seen[f.channel] = true;
        raw_frame_free(&f);
    }
    raw_close(&c);
}
END_TEST

/* ---- server-initiated channel.close (a soft error) -------------------------- */

/* queue.declare passive of a queue that does not exist: 404, a channel error. */
static void send_passive_declare(struct raw_conn *c, uint16_t channel, const char *queue)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);             /* reserved-1 */
    raw_put_shortstr(&a, queue);
    raw_put_u8(&a, 0x01);           /* passive */
    raw_put_u32(&a, 0);             /* arguments: empty table */
    ct_send_method(c, channel, RAW_QUEUE, RAW_QUEUE_DECLARE, &a);
    raw_buf_free(&a);
}

START_TEST(test_server_channel_close_then_ignores_until_close_ok)
{
    struct raw_conn c;
    char err[256];
    ct_open_channel(&c, &harness_default, 1);
    send_passive_declare(&c, 1, "no-such-queue");
    struct raw_frame f;
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_CLOSE);
    struct raw_close cl;
    ck_assert(raw_decode_close(&f, &cl));
    raw_frame_free(&f);
    ck_assert_uint_eq(cl.reply_code, RAW_NOT_FOUND);
    ck_assert_msg(strstr(cl.reply_text, "NOT_FOUND"), "text '%s'", cl.reply_text);
    ck_assert_uint_eq(cl.class_id, RAW_QUEUE);
    ck_assert_uint_eq(cl.method_id, RAW_QUEUE_DECLARE);
    /* Everything but close/close-ok on that channel is ignored now. */
    ct_send_channel_flow(&c, 1, true);
    send_passive_declare(&c, 1, "still-no-such-queue");
    ct_expect_silence(&c, 500);
    ck_assert(raw_send_close_ok(&c, 1, RAW_CHANNEL) == 0);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "reopen after close-ok: %s", err);
    raw_close(&c);
}
END_TEST

START_TEST(test_server_channel_close_answered_with_close)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &harness_default, 1);
    send_passive_declare(&c, 1, "no-such-queue");
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_CLOSE);
    raw_frame_free(&f);
    /* Both sides closing at once: the server answers our close with close-ok. */
    raw_send_close(&c, 1, RAW_CHANNEL, RAW_REPLY_SUCCESS, "");
    ct_expect_method(&c, &f, 1, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_soft_error_leaves_other_channels_open)
{
    struct raw_conn c;
    struct raw_frame f;
    char err[256];
    ct_open_channel(&c, &harness_default, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    send_passive_declare(&c, 1, "no-such-queue");
    ct_expect_channel_close(&c, 1, RAW_NOT_FOUND, "NOT_FOUND", RAW_QUEUE, RAW_QUEUE_DECLARE);
    ct_send_channel_flow(&c, 2, true);
    ct_expect_method(&c, &f, 2, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

static Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc;

    tc = tcase_create("lifecycle");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_open_close_with_rabbitmq_c);
    tcase_add_test(tc, test_client_close_gets_close_ok_and_frees_number);
    tcase_add_test(tc, test_channels_are_independent);
    tcase_add_test(tc, test_flow_active_true_flow_ok_true);
    tcase_add_test(tc, test_flow_active_false_flow_ok_false);
    tcase_add_test(tc, test_access_request_ok_ticket_1);
    tcase_add_test(tc, test_many_channels_on_one_connection);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_second_open_504_channel_error);
    tcase_add_test(tc, test_method_on_unopened_channel_504);
    tcase_add_test(tc, test_method_on_closed_channel_504);
    tcase_add_test(tc, test_channel_method_on_channel_0_504);
    tcase_add_test(tc, test_connection_method_on_channel_503);
    tcase_add_test(tc, test_channel_max_from_config_enforced_530);
    tcase_add_test(tc, test_channel_max_lowered_by_client_enforced_530);
    suite_add_tcase(s, tc);

    tc = tcase_create("server_close");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_server_channel_close_then_ignores_until_close_ok);
    tcase_add_test(tc, test_server_channel_close_answered_with_close);
    tcase_add_test(tc, test_soft_error_leaves_other_channels_open);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_channel");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(channel_suite()));
}
