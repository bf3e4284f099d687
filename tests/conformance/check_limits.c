/*
 * check_limits.c - the daemon protects itself: half-open and silent peers
 * are dropped after handshake_timeout, a peer flooding requests without
 * reading replies is throttled while others are served, dropped sockets
 * free their descriptors, many connections work at once, and connection_max
 * refuses as RabbitMQ does.  Bounds are generous: no timing assertions.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ct.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handshake timeout ----------------------------------------------------- */

#define SHORT_HANDSHAKE "handshake_timeout = 1000\n"

START_TEST(test_partial_header_dropped_after_handshake_timeout)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, SHORT_HANDSHAKE);
    ct_connect(&c, &s);
    ct_send(&c, "AMQ", 3);
    ck_assert_msg(raw_wait_eof(&c, 15000) == RAW_EOF,
                  "a client that sent 3 bytes and went silent was not dropped");
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_silent_connection_dropped_after_handshake_timeout)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, SHORT_HANDSHAKE);
    ct_connect(&c, &s);
    ck_assert_msg(raw_wait_eof(&c, 15000) == RAW_EOF,
                  "a client that never sent a byte was not dropped");
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_no_start_ok_dropped_after_handshake_timeout)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    harness_start(&s, SHORT_HANDSHAKE);
    ct_start(&c, &s, NULL);
    ct_expect_drop(&c, NULL, 0);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_no_connection_open_dropped_after_handshake_timeout)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    struct raw_tune t;
    harness_start(&s, SHORT_HANDSHAKE);
    ct_start(&c, &s, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, t.channel_max, t.frame_max, 0);
    ct_expect_drop(&c, NULL, 0);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

START_TEST(test_open_connection_outlives_handshake_timeout)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn c;
    char err[256];
    harness_start(&s, SHORT_HANDSHAKE);
    ct_open(&c, &s, 0);
    ct_expect_silence(&c, 2500);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "after the handshake timeout: %s",
                  err);
    raw_close(&c);
    harness_stop(&s);
}
END_TEST

/* ---- a peer that never reads ------------------------------------------------ */

/*
 * Write channel.flow requests on channel 1 without ever reading the replies
 * until the server stops reading from us (writes stall for 3 s), or until
 * max_bytes or 30 s.  Returns the bytes written; *stalled says which.
 */
static size_t flood_until_stalled(struct raw_conn *c, size_t max_bytes, bool *stalled)
{
    struct raw_buf b;
    raw_buf_init(&b);
    while (b.len < 65000) {
        uint8_t active = 1;
        raw_frame_method(&b, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW, &active, 1);
    }
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    size_t total = 0, off = 0;
    long start = now_ms(), last_progress = start;
    *stalled = false;
    while (total < max_bytes && now_ms() - start < 30000) {
        ssize_t w = send(c->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            total += (size_t)w;
            off = (off + (size_t)w) % b.len;
            last_progress = now_ms();
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ck_abort_msg("flood: send failed after %zu bytes: %s", total, strerror(errno));
        if (now_ms() - last_progress >= 3000) {
            *stalled = true;
            break;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT, .revents = 0};
        poll(&p, 1, 100);
    }
    fcntl(c->fd, F_SETFL, fl);
    raw_buf_free(&b);
    return total;
}

START_TEST(test_flooding_peer_is_throttled_and_others_served)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn flooder, other;
    char err[256];
    harness_start(&s, NULL);
    ct_open_channel(&flooder, &s, 1);
    long rss_before = harness_rss_kib(&s);

    bool stalled = false;
    size_t sent = flood_until_stalled(&flooder, 512u * 1024 * 1024, &stalled);
    long rss_after = harness_rss_kib(&s);
    fprintf(stderr, "flood: %zu bytes written before the server stopped reading; RSS %ld -> %ld "
                    "KiB\n",
            sent, rss_before, rss_after);
    ck_assert_msg(stalled, "the server read %zu bytes of requests whose replies were never read "
                           "without applying backpressure",
                  sent);
    if (rss_before > 0 && rss_after > 0)
        ck_assert_msg(rss_after - rss_before < 128 * 1024,
                      "RSS grew by %ld KiB under a flood from one peer", rss_after - rss_before);

    /* Others are still served while the flooder is stuck. */
    ct_open(&other, &s, 0);
    ck_assert_msg(raw_channel_open(&other, 1, err, sizeof(err)), "while flooded: %s", err);

    /* The flooder's replies are all there once it reads. */
    struct raw_frame f;
    ck_assert_int_eq(raw_read_frame(&flooder, &f, CT_REPLY_MS), RAW_OK);
    ck_assert_msg(raw_frame_is(&f, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW_OK), "first reply is not "
                                                                        "flow-ok");
    raw_frame_free(&f);
    raw_close(&flooder);

    ck_assert_msg(raw_channel_open(&other, 2, err, sizeof(err)), "after the flooder left: %s",
                  err);
    raw_close(&other);
    harness_stop(&s);
}
END_TEST

/* ---- descriptors and many connections ----------------------------------------- */

START_TEST(test_dropped_connections_release_descriptors)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    harness_start(&s, NULL);
    int before = harness_fd_count(&s);
    ck_assert_msg(before > 0, "cannot count edad's descriptors");

    for (int i = 0; i < 60; i++) {
        struct raw_conn c;
        ct_connect(&c, &s);
        switch (i % 4) {
        case 0: /* connect and go */
            break;
        case 1: /* partial header */
            ct_send(&c, "AMQP", 4);
            break;
        case 2: { /* full handshake, then drop without close */
            char err[256];
            ck_assert_msg(raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err)), "%s",
                          err);
            break;
        }
        default: /* channel open, content half sent, drop */
            {
                char err[256];
                ck_assert_msg(raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err)),
                              "%s", err);
                ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "%s", err);
                ct_send_basic_publish(&c, 1, "q");
            }
            break;
        }
        raw_close(&c);
    }
    int after = -1;
    long deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        after = harness_fd_count(&s);
        if (after <= before)
            break;
        harness_sleep_ms(50);
    }
    ck_assert_msg(after <= before, "edad holds %d descriptors, %d before 60 dropped connections",
                  after, before);
    harness_stop(&s);
}
END_TEST

#define MANY 300

START_TEST(test_many_connections_at_once)
{
    static struct raw_conn conns[MANY];
    char err[256];
    for (int i = 0; i < MANY; i++) {
        ct_connect(&conns[i], &harness_default);
        ck_assert(raw_send_protocol_header(&conns[i]) == 0);
    }
    for (int i = 0; i < MANY; i++) {
        struct raw_frame f;
        ct_expect_method(&conns[i], &f, 0, RAW_CONNECTION, RAW_CONNECTION_START);
        raw_frame_free(&f);
        struct raw_tune t;
        ct_start_ok_tune(&conns[i], &t);
        raw_send_tune_ok(&conns[i], t.channel_max, t.frame_max, 0);
        raw_send_connection_open(&conns[i], "/");
        ct_expect_method(&conns[i], &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
        raw_frame_free(&f);
    }
    for (int i = 0; i < MANY; i++)
        ck_assert_msg(raw_channel_open(&conns[i], 1, err, sizeof(err)), "connection %d: %s", i,
                      err);
    for (int i = 0; i < MANY; i++)
        raw_close(&conns[i]);
}
END_TEST

/* ---- connection_max ----------------------------------------------------------------- */

START_TEST(test_connection_max_refuses_with_530)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn a, b, c, d;
    struct raw_tune t;
    char err[256];
    harness_start(&s, "connection_max = 2\n");
    ct_open(&a, &s, 0);
    ct_open(&b, &s, 0);
    ct_start(&c, &s, NULL);
    ct_start_ok_tune(&c, &t);
    raw_send_tune_ok(&c, t.channel_max, t.frame_max, 0);
    raw_send_connection_open(&c, "/");
    ct_expect_connection_close(&c, RAW_NOT_ALLOWED, "NOT_ALLOWED|connection limit (2)",
                               RAW_CONNECTION, RAW_CONNECTION_OPEN);
    raw_close(&c);

    /* Once one leaves, a new connection fits again. */
    raw_send_close(&a, 0, RAW_CONNECTION, RAW_REPLY_SUCCESS, "");
    struct raw_frame f;
    ct_expect_method(&a, &f, 0, RAW_CONNECTION, RAW_CONNECTION_CLOSE_OK);
    raw_frame_free(&f);
    raw_close(&a);
    bool opened = false;
    for (int i = 0; i < 50 && !opened; i++) {
        ct_connect(&d, &s);
        opened = raw_handshake(&d, "guest", "guest", 0, NULL, err, sizeof(err));
        raw_close(&d);
        if (!opened)
            harness_sleep_ms(100);
    }
    ck_assert_msg(opened, "a connection is still refused after one of two left: %s", err);
    raw_close(&b);
    harness_stop(&s);
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc;

    tc = tcase_create("handshake_timeout");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_partial_header_dropped_after_handshake_timeout);
    tcase_add_test(tc, test_silent_connection_dropped_after_handshake_timeout);
    tcase_add_test(tc, test_no_start_ok_dropped_after_handshake_timeout);
    tcase_add_test(tc, test_no_connection_open_dropped_after_handshake_timeout);
    tcase_add_test(tc, test_open_connection_outlives_handshake_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("resources");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_flooding_peer_is_throttled_and_others_served);
    tcase_add_test(tc, test_dropped_connections_release_descriptors);
    tcase_add_test(tc, test_many_connections_at_once);
    tcase_add_test(tc, test_connection_max_refuses_with_530);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_limits");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(limits_suite()));
}
