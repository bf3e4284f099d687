/*
 * ct.c - shared Check assertions for the conformance programs (see ct.h).
 * Each helper fails the running test with what actually arrived, so a
 * failure in the .log says more than "expected 504".
 */
#include "ct.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct_connect(struct raw_conn *c, const struct harness_server *s)
{
    ck_assert_msg(raw_connect(c, s->host, s->port) == 0, "connect %s:%u: %s", s->host, s->port,
                  strerror(errno));
}

void ct_open(struct raw_conn *c, const struct harness_server *s, uint16_t heartbeat)
{
    char err[512];
    ct_connect(c, s);
    ck_assert_msg(raw_handshake(c, "guest", "guest", heartbeat, NULL, err, sizeof(err)),
                  "handshake: %s", err);
}

void ct_open_channel(struct raw_conn *c, const struct harness_server *s, uint16_t channel)
{
    char err[512];
    ct_open(c, s, 0);
    ck_assert_msg(raw_channel_open(c, channel, err, sizeof(err)), "channel %u: %s", channel, err);
}

void ct_start(struct raw_conn *c, const struct harness_server *s, struct raw_frame *f)
{
    struct raw_frame tmp;
    ct_connect(c, s);
    ck_assert(raw_send_protocol_header(c) == 0);
    ct_expect_method(c, f ? f : &tmp, 0, RAW_CONNECTION, RAW_CONNECTION_START);
    if (!f)
        raw_frame_free(&tmp);
}

void ct_start_ok_tune(struct raw_conn *c, struct raw_tune *tune)
{
    struct raw_frame f;
    ck_assert(raw_send_start_ok_plain(c, "guest", "guest", true) == 0);
    ct_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_TUNE);
    ck_assert_msg(raw_decode_tune(&f, tune), "connection.tune does not decode");
    raw_frame_free(&f);
}

static const char *ct_rc_name(enum raw_rc rc)
{
    switch (rc) {
    case RAW_OK: return "ok";
    case RAW_EOF: return "the server closed the connection";
    case RAW_TIMEOUT: return "timed out";
    case RAW_BAD: return "an unexpected or invalid frame";
    default: return "a socket error";
    }
}

void ct_expect_method(struct raw_conn *c, struct raw_frame *f, uint16_t channel,
                      uint16_t class_id, uint16_t method_id)
{
    enum raw_rc rc = raw_expect_method(c, f, channel, class_id, method_id, CT_REPLY_MS);
    if (rc == RAW_OK)
        return;
    char d[512] = "";
    if (rc == RAW_BAD && f->payload)
        raw_frame_describe(f, d, sizeof(d));
    ck_abort_msg("expected method %u.%u on channel %u, got %s %s", class_id, method_id, channel,
                 ct_rc_name(rc), d);
}

static void ct_check_fragments(const char *text, const char *fragments)
{
    if (!fragments)
        return;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", fragments);
    char *save = NULL;
    for (char *frag = strtok_r(buf, "|", &save); frag; frag = strtok_r(NULL, "|", &save))
        ck_assert_msg(strstr(text, frag) != NULL, "reply text '%s' lacks '%s'", text, frag);
}

static void ct_check_close(const struct raw_close *cl, const char *what, uint16_t code,
                           const char *fragments, int class_id, int method_id)
{
    ck_assert_msg(cl->reply_code == code, "%s: reply code %u, want %u (text '%s')", what,
                  cl->reply_code, code, cl->reply_text);
    ct_check_fragments(cl->reply_text, fragments);
    if (class_id >= 0)
        ck_assert_msg(cl->class_id == class_id, "%s '%s': class id %u, want %d", what,
                      cl->reply_text, cl->class_id, class_id);
    if (method_id >= 0)
        ck_assert_msg(cl->method_id == method_id, "%s '%s': method id %u, want %d", what,
                      cl->reply_text, cl->method_id, method_id);
}

void ct_expect_connection_close(struct raw_conn *c, uint16_t code, const char *fragments,
                                int class_id, int method_id)
{
    struct raw_frame f;
    enum raw_rc rc = raw_expect_method(c, &f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE,
                                       CT_CLOSE_MS);
    if (rc != RAW_OK) {
        char d[512] = "";
        if (rc == RAW_BAD && f.payload)
            raw_frame_describe(&f, d, sizeof(d));
        raw_frame_free(&f);
        ck_abort_msg("expected connection.close %u, got %s %s", code, ct_rc_name(rc), d);
    }
    struct raw_close cl;
    ck_assert_msg(raw_decode_close(&f, &cl), "connection.close does not decode");
    raw_frame_free(&f);
    ct_check_close(&cl, "connection.close", code, fragments, class_id, method_id);
    /* Answer close-ok; the server then closes the socket. */
    raw_send_close_ok(c, 0, RAW_CONNECTION);
    rc = raw_wait_eof(c, CT_CLOSE_MS);
    ck_assert_msg(rc == RAW_EOF, "after close-ok the server should close the socket: %s",
                  ct_rc_name(rc));
}

void ct_expect_channel_close(struct raw_conn *c, uint16_t channel, uint16_t code,
                             const char *fragments, int class_id, int method_id)
{
    struct raw_frame f;
    ct_expect_method(c, &f, channel, RAW_CHANNEL, RAW_CHANNEL_CLOSE);
    struct raw_close cl;
    ck_assert_msg(raw_decode_close(&f, &cl), "channel.close does not decode");
    raw_frame_free(&f);
    ct_check_close(&cl, "channel.close", code, fragments, class_id, method_id);
    ck_assert(raw_send_close_ok(c, channel, RAW_CHANNEL) == 0);
}

uint16_t ct_expect_drop(struct raw_conn *c, const uint16_t *codes, size_t ncodes)
{
    struct raw_close cl;
    unsigned skipped = 0;
    enum raw_rc rc = raw_expect_connection_close(c, &cl, CT_CLOSE_MS, &skipped);
    if (rc == RAW_EOF)
        return 0;
    ck_assert_msg(rc == RAW_OK, "expected the server to drop the connection, got %s",
                  ct_rc_name(rc));
    bool allowed = false;
    for (size_t i = 0; i < ncodes; i++)
        allowed = allowed || cl.reply_code == codes[i];
    ck_assert_msg(allowed, "unexpected connection.close %u '%s' before the drop", cl.reply_code,
                  cl.reply_text);
    raw_send_close_ok(c, 0, RAW_CONNECTION);
    rc = raw_wait_eof(c, CT_CLOSE_MS);
    ck_assert_msg(rc == RAW_EOF, "after close-ok the server should close the socket: %s",
                  ct_rc_name(rc));
    return cl.reply_code;
}

void ct_expect_silence(struct raw_conn *c, int ms)
{
    for (;;) {
        struct raw_frame f;
        enum raw_rc rc = raw_read_frame(c, &f, ms);
        if (rc == RAW_TIMEOUT)
            return;
        char d[512] = "";
        if (rc == RAW_OK && f.type == RAW_FRAME_HEARTBEAT) {
            raw_frame_free(&f);
            continue;
        }
        if (f.payload)
            raw_frame_describe(&f, d, sizeof(d));
        raw_frame_free(&f);
        ck_abort_msg("expected no reply, got %s %s", ct_rc_name(rc), d);
    }
}

void ct_send_method(struct raw_conn *c, uint16_t channel, uint16_t class_id,
                    uint16_t method_id, const struct raw_buf *args)
{
    ck_assert_msg(raw_send_method(c, channel, class_id, method_id, args) == 0,
                  "send %u.%u: %s", class_id, method_id, strerror(errno));
}

void ct_send(struct raw_conn *c, const void *p, size_t n)
{
    ck_assert_msg(raw_send(c, p, n) == 0, "send: %s", strerror(errno));
}

void ct_send_channel_flow(struct raw_conn *c, uint16_t channel, bool active)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u8(&a, active ? 1 : 0);
    ct_send_method(c, channel, RAW_CHANNEL, RAW_CHANNEL_FLOW, &a);
    raw_buf_free(&a);
}

void ct_send_basic_publish(struct raw_conn *c, uint16_t channel, const char *rk)
{
    struct raw_buf a;
    raw_buf_init(&a);
    raw_put_u16(&a, 0);          /* reserved-1 (ticket) */
    raw_put_shortstr(&a, "");    /* exchange */
    raw_put_shortstr(&a, rk);    /* routing key */
    raw_put_u8(&a, 0);           /* mandatory, immediate */
    ct_send_method(c, channel, RAW_BASIC, RAW_BASIC_PUBLISH, &a);
    raw_buf_free(&a);
}
