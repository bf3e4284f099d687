/*
 * check_connection.c - connection lifecycle as RabbitMQ clients see it:
 * protocol header, connection.start and server properties, SASL PLAIN and
 * AMQPLAIN, tune negotiation, heartbeats, vhosts, close in both directions
 * and SIGTERM.  Driven by rabbitmq-c where a stock client is the point and
 * by the tests' own raw frames (rawamqp.h) everywhere else.  Channels,
 * frame errors and limits have their own programs.
 */
#include "config.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ct.h"

/* ---- rabbitmq-c helpers -------------------------------------------------- */

static amqp_connection_state_t rmq_connect(const struct harness_server *s)
{
    amqp_connection_state_t conn = amqp_new_connection();
    ck_assert(conn != NULL);
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    ck_assert(sock != NULL);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    int rc = amqp_socket_open_noblock(sock, s->host, s->port, &tv);
    ck_assert_msg(rc == AMQP_STATUS_OK, "rabbitmq-c connect: %s", amqp_error_string2(rc));
    return conn;
}

static const char *rmq_reply_describe(amqp_rpc_reply_t r, char *buf, size_t len)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(buf, len, "normal");
        break;
    case AMQP_RESPONSE_NONE:
        snprintf(buf, len, "no reply");
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, len, "library error: %s", amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, len, "connection.close %u '%.*s'", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, len, "channel.close %u '%.*s'", m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, len, "server exception, method 0x%08x", r.reply.id);
        }
        break;
    }
    return buf;
}

/* Find key in a rabbitmq-c table. */
static const amqp_field_value_t *rmq_table_get(const amqp_table_t *t, const char *key)
{
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) == 0)
            return &e->value;
    }
    return NULL;
}

static void rmq_assert_longstr(const amqp_table_t *t, const char *key, char *out, size_t outlen)
{
    const amqp_field_value_t *v = rmq_table_get(t, key);
    ck_assert_msg(v != NULL, "server property '%s' is missing", key);
    ck_assert_msg(v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES,
                  "server property '%s' is not a longstr (kind '%c')", key, v->kind);
    ck_assert_msg(v->value.bytes.len > 0, "server property '%s' is empty", key);
    size_t n = v->value.bytes.len < outlen - 1 ? v->value.bytes.len : outlen - 1;
    memcpy(out, v->value.bytes.bytes, n);
    out[n] = '\0';
}

/* ---- handshake with a stock client ---------------------------------------- */

START_TEST(test_login_with_rabbitmq_c)
{
    char d[256];
    amqp_connection_state_t conn = rmq_connect(&harness_default);
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                    "guest");
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "amqp_login: %s",
                  rmq_reply_describe(r, d, sizeof(d)));
    if (!harness_external()) {
        ck_assert_int_eq(amqp_get_frame_max(conn), 131072);
        ck_assert_int_eq(amqp_get_channel_max(conn), 2047);
    }
    r = amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "connection.close: %s",
                  rmq_reply_describe(r, d, sizeof(d)));
    amqp_destroy_connection(conn);
}
END_TEST

START_TEST(test_server_properties_like_rabbitmq)
{
    static const char *const known_caps[] = {
        "publisher_confirms", "exchange_exchange_bindings", "basic.nack",
        "consumer_cancel_notify", "connection.blocked", "consumer_priorities",
        "authentication_failure_close", "per_consumer_qos", "direct_reply_to",
    };
    char d[256], buf[512];
    amqp_connection_state_t conn = rmq_connect(&harness_default);
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                    "guest");
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "amqp_login: %s",
                  rmq_reply_describe(r, d, sizeof(d)));
    const amqp_table_t *props = amqp_get_server_properties(conn);
    ck_assert(props != NULL);

    rmq_assert_longstr(props, "product", buf, sizeof(buf));
    ck_assert_str_eq(buf, "edad");
    rmq_assert_longstr(props, "version", buf, sizeof(buf));
    ck_assert_str_eq(buf, PACKAGE_VERSION);
    rmq_assert_longstr(props, "platform", buf, sizeof(buf));
    rmq_assert_longstr(props, "cluster_name", buf, sizeof(buf));
    rmq_assert_longstr(props, "copyright", buf, sizeof(buf));
    rmq_assert_longstr(props, "information", buf, sizeof(buf));

    const amqp_field_value_t *caps = rmq_table_get(props, "capabilities");
    ck_assert_msg(caps != NULL, "server property 'capabilities' is missing");
    ck_assert_msg(caps->kind == AMQP_FIELD_KIND_TABLE, "capabilities is not a table");
    const amqp_field_value_t *afc = rmq_table_get(&caps->value.table,
                                                  "authentication_failure_close");
    ck_assert_msg(afc && afc->kind == AMQP_FIELD_KIND_BOOLEAN && afc->value.boolean,
                  "capability authentication_failure_close must be true");
    /* Every advertised capability is one of RabbitMQ's, as a boolean. */
    for (int i = 0; i < caps->value.table.num_entries; i++) {
        const amqp_table_entry_t *e = &caps->value.table.entries[i];
        bool known = false;
        for (size_t k = 0; k < sizeof(known_caps) / sizeof(known_caps[0]); k++)
            known = known || (e->key.len == strlen(known_caps[k]) &&
                              memcmp(e->key.bytes, known_caps[k], e->key.len) == 0);
        ck_assert_msg(known, "unknown capability '%.*s'", (int)e->key.len,
                      (const char *)e->key.bytes);
        ck_assert_msg(e->value.kind == AMQP_FIELD_KIND_BOOLEAN, "capability '%.*s' is not a bool",
                      (int)e->key.len, (const char *)e->key.bytes);
    }
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}
END_TEST

START_TEST(test_auth_failure_plain_with_rabbitmq_c)
{
    char d[256];
    amqp_connection_state_t conn = rmq_connect(&harness_default);
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                    "wrong");
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                      r.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
                  "amqp_login with a wrong password: %s", rmq_reply_describe(r, d, sizeof(d)));
    amqp_connection_close_t *m = r.reply.decoded;
    ck_assert_uint_eq(m->reply_code, 403);
    snprintf(d, sizeof(d), "%.*s", (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    ck_assert_msg(strstr(d, "ACCESS_REFUSED") && strstr(d, "PLAIN"), "reply text '%s'", d);
    amqp_destroy_connection(conn);
}
END_TEST

/* ---- connection.start ------------------------------------------------------ */

START_TEST(test_start_announces_0_9_mechanisms_locales)
{
    struct raw_conn c;
    struct raw_frame f;
    struct raw_start st;
    ct_start(&c, &harness_default, &f);
    ck_assert_msg(raw_decode_start(&f, &st), "connection.start does not decode");
    ck_assert_uint_eq(st.version_major, 0);
    ck_assert_uint_eq(st.version_minor, 9);
    ck_assert_msg(strstr(st.mechanisms, "PLAIN") != NULL, "mechanisms '%s'", st.mechanisms);
    ck_assert_msg(strstr(st.mechanisms, "AMQPLAIN") != NULL, "mechanisms '%s'", st.mechanisms);
    ck_assert_msg(strstr(st.locales, "en_US") != NULL, "locales '%s'", st.locales);
    char product[64];
    ck_assert(raw_table_get_string(st.server_properties, st.server_properties_len, "product",
                                   product, sizeof(product)));
    ck_assert_str_eq(product, "edad");
    uint8_t type;
    const uint8_t *caps;
    uint32_t caps_len;
    ck_assert(raw_table_find(st.server_properties, st.server_properties_len, "capabilities",
                             &type, &caps, &caps_len));
    ck_assert_int_eq(type, 'F');
    bool afc = false;
    ck_assert(raw_table_get_bool(caps, caps_len, "authentication_failure_close", &afc));
    ck_assert(afc);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* ---- protocol header ------------------------------------------------------- */

/* Send hdr (n bytes); the server answers "AMQP\0\0\9\1" and closes. */
static void expect_header_refused(const void *hdr, size_t n)
{
    static const uint8_t want[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    struct raw_conn c;
    uint8_t got[8];
    ct_connect(&c, &harness_default);
    ct_send(&c, hdr, n);
    enum raw_rc rc = raw_read_exact(&c, got, sizeof(got), CT_REPLY_MS);
    ck_assert_msg(rc == RAW_OK, "no protocol header in reply (rc %d)", rc);
    ck_assert_msg(memcmp(got, want, 8) == 0,
                  "reply header %02x %02x %02x %02x %02x %02x %02x %02x, want AMQP 0 0 9 1",
                  got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7]);
    ck_assert_msg(raw_wait_eof(&c, CT_CLOSE_MS) == RAW_EOF,
                  "the server should close after refusing the header");
    raw_close(&c);
}

START_TEST(test_bad_header_garbage_answered_with_0_9_1)
{
    expect_header_refused("HELLO WORLD!\r\n", 14);
}
END_TEST

START_TEST(test_bad_header_http_answered_with_0_9_1)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    expect_header_refused(req, sizeof(req) - 1);
}
END_TEST

START_TEST(test_bad_header_amqp_0_10_answered_with_0_9_1)
{
    static const uint8_t hdr[8] = {'A', 'M', 'Q', 'P', 0, 0, 10, 0};
    expect_header_refused(hdr, sizeof(hdr));
}
END_TEST

START_TEST(test_bad_header_amqp_0_8_answered_with_0_9_1)
{
    static const uint8_t hdr[8] = {'A', 'M', 'Q', 'P', 1, 1, 0, 8};
    expect_header_refused(hdr, sizeof(hdr));
}
END_TEST

/* RabbitMQ treats the 0-9 header (AMQP 1 1 0 9) as 0-9-1. */
START_TEST(test_header_amqp_0_9_accepted_as_0_9_1)
{
    static const uint8_t hdr[8] = {'A', 'M', 'Q', 'P', 1, 1, 0, 9};
    struct raw_conn c;
    struct raw_frame f;
    ct_connect(&c, &harness_default);
    ct_send(&c, hdr, sizeof(hdr));
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_START);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* ---- SASL ------------------------------------------------------------------ */

START_TEST(test_auth_failure_plain_403_access_refused)
{
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    ck_assert(raw_send_start_ok_plain(&c, "guest", "not-the-password", true) == 0);
    ct_expect_connection_close(&c, RAW_ACCESS_REFUSED,
                               "ACCESS_REFUSED|Login was refused|PLAIN", -1, -1);
    raw_close(&c);
}
END_TEST

START_TEST(test_auth_failure_unknown_user_403)
{
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    ck_assert(raw_send_start_ok_plain(&c, "nobody", "guest", true) == 0);
    ct_expect_connection_close(&c, RAW_ACCESS_REFUSED, "ACCESS_REFUSED", -1, -1);
    raw_close(&c);
}
END_TEST

/*
 * A client that did not announce authentication_failure_close gets no
 * connection.close: RabbitMQ just closes the socket (rabbit_reader auth_fail).
 */
START_TEST(test_auth_failure_without_capability_just_closes)
{
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    ck_assert(raw_send_start_ok_plain(&c, "guest", "not-the-password", false) == 0);
    ct_expect_drop(&c, NULL, 0);
    raw_close(&c);
}
END_TEST

/* AMQPLAIN's response is a field table without its length prefix. */
static void send_amqplain(struct raw_conn *c, const char *user, const char *pass)
{
    struct raw_buf r;
    raw_buf_init(&r);
    raw_table_put_longstr(&r, "LOGIN", user);
    raw_table_put_longstr(&r, "PASSWORD", pass);
    ck_assert(raw_send_start_ok(c, "AMQPLAIN", r.data, (uint32_t)r.len, true) == 0);
    raw_buf_free(&r);
}

START_TEST(test_auth_amqplain_success)
{
    struct raw_conn c;
    struct raw_frame f;
    struct raw_tune t;
    ct_start(&c, &harness_default, NULL);
    send_amqplain(&c, "guest", "guest");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_TUNE);
    ck_assert(raw_decode_tune(&f, &t));
    raw_frame_free(&f);
    raw_send_tune_ok(&c, t.channel_max, t.frame_max, 0);
    raw_send_connection_open(&c, "/");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_auth_amqplain_failure_403)
{
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    send_amqplain(&c, "guest", "wrong");
    ct_expect_connection_close(&c, RAW_ACCESS_REFUSED, "ACCESS_REFUSED|AMQPLAIN", -1, -1);
    raw_close(&c);
}
END_TEST

/* RabbitMQ: "unknown authentication mechanism" (command_invalid) and a close. */
START_TEST(test_auth_unknown_mechanism_closes)
{
    static const uint16_t allowed[] = {RAW_COMMAND_INVALID};
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    ck_assert(raw_send_start_ok(&c, "CRAM-MD5", "x", 1, true) == 0);
    ct_expect_drop(&c, allowed, 1);
    raw_close(&c);
}
END_TEST

/* RabbitMQ: PLAIN response without the NUL separators is a syntax error. */
START_TEST(test_auth_malformed_plain_response_closes)
{
    static const uint16_t allowed[] = {RAW_SYNTAX_ERROR, RAW_ACCESS_REFUSED};
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    ck_assert(raw_send_start_ok(&c, "PLAIN", "guestguest", 10, true) == 0);
    ct_expect_drop(&c, allowed, 2);
    raw_close(&c);
}
END_TEST

/* A method out of order during the handshake ends the connection. */
START_TEST(test_open_before_start_ok_closes)
{
    static const uint16_t allowed[] = {RAW_COMMAND_INVALID, RAW_CHANNEL_ERROR};
    struct raw_conn c;
    ct_start(&c, &harness_default, NULL);
    raw_send_connection_open(&c, "/");
    ct_expect_drop(&c, allowed, 2);
    raw_close(&c);
}
END_TEST

/* ---- tune ------------------------------------------------------------------ */

START_TEST(test_tune_defaults_like_rabbitmq)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct raw_conn c;
    struct raw_tune t;
    ct_start(&c, &harness_default, NULL);
    ct_start_ok_tune(&c, &t);
    ck_assert_uint_eq(t.channel_max, 2047);
    ck_assert_uint_eq(t.frame_max, 131072);
    ck_assert_uint_eq(t.heartbeat, 60);
    raw_close(&c);
}
END_TEST

START_TEST(test_tune_values_from_config)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    struct raw_tune t;
    harness_start(&s, "channel_max = 10\nframe_max = 4096\nheartbeat = 1\n");
    ct_start(&c, &s, NULL);
    ct_start_ok_tune(&c, &t);
    ck_assert_uint_eq(t.channel_max, 10);
    ck_assert_uint_eq(t.frame_max, 4096);
    ck_assert_uint_eq(t.heartbeat, 1);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

/* tune-ok with the given values; expect 530 with the given text fragments. */
static void expect_tune_refused(uint16_t channel_max, uint32_t frame_max, const char *frags)
{
    struct raw_conn c;
    struct raw_tune t;
    ct_start(&c, &harness_default, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, channel_max, frame_max, 0);
    raw_send_connection_open(&c, "/");
    /* RabbitMQ names connection.tune (10, 30) as the failing method. */
    ct_expect_connection_close(&c, RAW_NOT_ALLOWED, frags, RAW_CONNECTION, RAW_CONNECTION_TUNE);
    raw_close(&c);
}

START_TEST(test_tune_ok_frame_max_below_4096_530)
{
    expect_tune_refused(2047, 1024,
                        "NOT_ALLOWED|negotiated frame_max = 1024 is lower than the minimum "
                        "allowed value (4096)");
}
END_TEST

START_TEST(test_tune_ok_frame_max_above_server_530)
{
    HARNESS_NEEDS_OWN_SERVER();
    expect_tune_refused(2047, 131073,
                        "NOT_ALLOWED|negotiated frame_max = 131073 is higher than the maximum "
                        "allowed value (131072)");
}
END_TEST

START_TEST(test_tune_ok_frame_max_zero_530)
{
    expect_tune_refused(2047, 0, "NOT_ALLOWED|frame_max = 0|higher");
}
END_TEST

START_TEST(test_tune_ok_channel_max_above_server_530)
{
    HARNESS_NEEDS_OWN_SERVER();
    expect_tune_refused(2048, 131072,
                        "NOT_ALLOWED|negotiated channel_max = 2048 is higher than the maximum "
                        "allowed value (2047)");
}
END_TEST

START_TEST(test_tune_ok_channel_max_zero_530_no_limit)
{
    expect_tune_refused(0, 131072, "NOT_ALLOWED|channel_max = 0 (no limit)|higher");
}
END_TEST

START_TEST(test_tune_ok_lower_values_accepted)
{
    struct raw_conn c;
    struct raw_tune t;
    struct raw_frame f;
    ct_start(&c, &harness_default, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, 5, 4096, 0);
    raw_send_connection_open(&c, "/");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* ---- heartbeats -------------------------------------------------------------- */

/* Count heartbeats received on channel 0 during ms while sending our own. */
static int heartbeat_exchange(struct raw_conn *c, int ms, bool send_ours)
{
    int received = 0;
    for (int elapsed = 0; elapsed < ms; elapsed += 250) {
        if (send_ours) {
            struct raw_buf hb;
            raw_buf_init(&hb);
            raw_frame_heartbeat(&hb, 0);
            ck_assert_msg(raw_send_buf(c, &hb) == 0, "heartbeat send failed: server gone?");
            raw_buf_free(&hb);
        }
        for (;;) {
            struct raw_frame f;
            enum raw_rc rc = raw_read_frame(c, &f, 250);
            if (rc == RAW_TIMEOUT)
                break;
            ck_assert_msg(rc == RAW_OK, "connection lost while exchanging heartbeats (rc %d)",
                          rc);
            if (f.type == RAW_FRAME_HEARTBEAT) {
                ck_assert_uint_eq(f.channel, 0);
                received++;
            }
            raw_frame_free(&f);
        }
    }
    return received;
}

START_TEST(test_server_sends_heartbeats)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, "heartbeat = 1\n");
    ct_open(&c, &s, 1);
    int n = heartbeat_exchange(&c, 6000, true);
    ck_assert_msg(n >= 2, "only %d heartbeats from the server in 6 s with heartbeat = 1", n);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

/* The negotiated interval is the client's tune-ok value (rabbit_reader). */
START_TEST(test_heartbeat_interval_is_clients_value)
{
    struct raw_conn c;
    ct_open(&c, &harness_default, 1);
    int n = heartbeat_exchange(&c, 6000, true);
    ck_assert_msg(n >= 2, "only %d heartbeats in 6 s after tune-ok heartbeat = 1", n);
    raw_close(&c);
}
END_TEST

START_TEST(test_silent_client_disconnected_after_two_intervals)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, "heartbeat = 1\n");
    ct_open(&c, &s, 1);
    /* Read (server heartbeats) but never send: the server must drop us. */
    ck_assert_msg(raw_wait_eof(&c, 15000) == RAW_EOF,
                  "a client silent for 15 s with heartbeat = 1 was not disconnected");
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_client_sending_heartbeats_stays_connected)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    char err[256];
    harness_start(&s, "heartbeat = 1\n");
    ct_open(&c, &s, 1);
    heartbeat_exchange(&c, 5000, true);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "after 5 s of heartbeats: %s", err);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_heartbeat_zero_disables_heartbeats)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    char err[256];
    harness_start(&s, "heartbeat = 1\n");
    ct_open(&c, &s, 0);
    int n = heartbeat_exchange(&c, 3500, false);
    ck_assert_msg(n == 0, "%d heartbeats although the client chose heartbeat 0", n);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "after 3.5 s idle: %s", err);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

/* ---- connection.open ----------------------------------------------------------- */

START_TEST(test_open_unknown_vhost_530)
{
    struct raw_conn c;
    struct raw_tune t;
    ct_start(&c, &harness_default, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, t.channel_max, t.frame_max, 0);
    raw_send_connection_open(&c, "no-such-vhost");
    ct_expect_connection_close(&c, RAW_NOT_ALLOWED,
                               "NOT_ALLOWED|vhost no-such-vhost not found", RAW_CONNECTION,
                               RAW_CONNECTION_OPEN);
    raw_close(&c);
}
END_TEST

/* ---- close ------------------------------------------------------------------- */

START_TEST(test_client_close_gets_close_ok)
{
    struct raw_conn c;
    struct raw_frame f;
    ct_open_channel(&c, &harness_default, 1);
    raw_send_close(&c, 0, RAW_CONNECTION, RAW_REPLY_SUCCESS, "bye");
    ct_expect_method(&c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE_OK);
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

START_TEST(test_sigterm_sends_320_and_exits_0)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn a, b;
    harness_start(&s, NULL);
    ct_open_channel(&a, &s, 1);
    ct_open(&b, &s, 0);
    kill(s.pid, SIGTERM);
    ct_expect_connection_close(&a, RAW_CONNECTION_FORCED,
                               "CONNECTION_FORCED|broker forced connection closure with reason "
                               "'shutdown'",
                               -1, -1);
    ct_expect_connection_close(&b, RAW_CONNECTION_FORCED, "CONNECTION_FORCED", -1, -1);
    raw_close(&a);
    raw_close(&b);
    int status = 0;
    ck_assert_msg(harness_signal_wait(&s, 0, 10000, &status),
                  "edad did not exit within 10 s of SIGTERM");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "edad should exit 0 after SIGTERM (wait status 0x%x)", (unsigned)status);
    harness_stop(&s);
}
END_TEST

/* SIGTERM with a client that never answers close-ok: edad still exits. */
START_TEST(test_sigterm_exits_despite_silent_client)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn a;
    harness_start(&s, NULL);
    ct_open(&a, &s, 0);
    kill(s.pid, SIGTERM);
    int status = 0;
    ck_assert_msg(harness_signal_wait(&s, 0, 15000, &status),
                  "edad did not exit within 15 s of SIGTERM with a silent client");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "edad should exit 0 after SIGTERM (wait status 0x%x)", (unsigned)status);
    raw_close(&a);
    harness_stop(&s);
}
END_TEST

static Suite *connection_suite(void)
{
    Suite *s = suite_create("connection");
    TCase *tc;

    tc = tcase_create("client");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_login_with_rabbitmq_c);
    tcase_add_test(tc, test_server_properties_like_rabbitmq);
    tcase_add_test(tc, test_auth_failure_plain_with_rabbitmq_c);
    suite_add_tcase(s, tc);

    tc = tcase_create("header");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_start_announces_0_9_mechanisms_locales);
    tcase_add_test(tc, test_bad_header_garbage_answered_with_0_9_1);
    tcase_add_test(tc, test_bad_header_http_answered_with_0_9_1);
    tcase_add_test(tc, test_bad_header_amqp_0_10_answered_with_0_9_1);
    tcase_add_test(tc, test_bad_header_amqp_0_8_answered_with_0_9_1);
    tcase_add_test(tc, test_header_amqp_0_9_accepted_as_0_9_1);
    suite_add_tcase(s, tc);

    tc = tcase_create("sasl");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_auth_failure_plain_403_access_refused);
    tcase_add_test(tc, test_auth_failure_unknown_user_403);
    tcase_add_test(tc, test_auth_failure_without_capability_just_closes);
    tcase_add_test(tc, test_auth_amqplain_success);
    tcase_add_test(tc, test_auth_amqplain_failure_403);
    tcase_add_test(tc, test_auth_unknown_mechanism_closes);
    tcase_add_test(tc, test_auth_malformed_plain_response_closes);
    tcase_add_test(tc, test_open_before_start_ok_closes);
    suite_add_tcase(s, tc);

    tc = tcase_create("tune");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_tune_defaults_like_rabbitmq);
    tcase_add_test(tc, test_tune_values_from_config);
    tcase_add_test(tc, test_tune_ok_frame_max_below_4096_530);
    tcase_add_test(tc, test_tune_ok_frame_max_above_server_530);
    tcase_add_test(tc, test_tune_ok_frame_max_zero_530);
    tcase_add_test(tc, test_tune_ok_channel_max_above_server_530);
    tcase_add_test(tc, test_tune_ok_channel_max_zero_530_no_limit);
    tcase_add_test(tc, test_tune_ok_lower_values_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("heartbeat");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_server_sends_heartbeats);
    tcase_add_test(tc, test_heartbeat_interval_is_clients_value);
    tcase_add_test(tc, test_silent_client_disconnected_after_two_intervals);
    tcase_add_test(tc, test_client_sending_heartbeats_stays_connected);
    tcase_add_test(tc, test_heartbeat_zero_disables_heartbeats);
    suite_add_tcase(s, tc);

    tc = tcase_create("open_close");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_unknown_vhost_530);
    tcase_add_test(tc, test_client_close_gets_close_ok);
    tcase_add_test(tc, test_sigterm_sends_320_and_exits_0);
    tcase_add_test(tc, test_sigterm_exits_despite_silent_client);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_connection");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(connection_suite()));
}
