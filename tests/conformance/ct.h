/*
 * ct.h - assertions shared by the conformance programs: connect and shake
 * hands with a harness server over raw frames, expect a connection.close with
 * a given reply code and text fragment, expect silence or end of stream.
 * Every helper fails the current Check test with a message saying what
 * arrived instead.  No protocol knowledge beyond rawamqp.h.
 */
#ifndef EDAD_TESTS_CT_H
#define EDAD_TESTS_CT_H

#include "harness.h"
#include "rawamqp.h"

/* Generous bounds: tests wait for events, never assert how fast they come. */
#define CT_REPLY_MS 5000      /* a reply to a request */
#define CT_CLOSE_MS 15000     /* a close the server initiates (RabbitMQ waits 3 s) */

/* TCP connect to the server or fail the test. */
void ct_connect(struct raw_conn *c, const struct harness_server *s);
/* Connect and complete the handshake as guest/guest with the given heartbeat. */
void ct_open(struct raw_conn *c, const struct harness_server *s, uint16_t heartbeat);
/* ct_open, then open channel `channel`. */
void ct_open_channel(struct raw_conn *c, const struct harness_server *s, uint16_t channel);
/* Connect, send the header, read connection.start (returned in *f when not NULL). */
void ct_start(struct raw_conn *c, const struct harness_server *s, struct raw_frame *f);
/* After ct_start: start-ok PLAIN guest/guest, read the tune. */
void ct_start_ok_tune(struct raw_conn *c, struct raw_tune *tune);

/*
 * Wait for connection.close and check it: reply code exactly, text containing
 * each '|'-separated fragment, and class/method ids unless negative.  Then
 * answer close-ok and expect the server to close the socket.
 */
void ct_expect_connection_close(struct raw_conn *c, uint16_t code, const char *fragments,
                                int class_id, int method_id);
/* Same, for a channel.close on `channel`; answers channel.close-ok. */
void ct_expect_channel_close(struct raw_conn *c, uint16_t channel, uint16_t code,
                             const char *fragments, int class_id, int method_id);

/*
 * The server ends the connection: end of stream within CT_CLOSE_MS, and any
 * connection.close sent before it has one of the `ncodes` codes (ncodes 0:
 * no connection.close allowed).  Returns the code seen, or 0 when none.
 */
uint16_t ct_expect_drop(struct raw_conn *c, const uint16_t *codes, size_t ncodes);

/* Nothing but heartbeats arrives for ms milliseconds, and the socket stays open. */
void ct_expect_silence(struct raw_conn *c, int ms);

/* Wait for a method frame (skipping heartbeats) or fail; caller frees *f. */
void ct_expect_method(struct raw_conn *c, struct raw_frame *f, uint16_t channel,
                      uint16_t class_id, uint16_t method_id);

/* Send a method with args (NULL for none) or fail the test. */
void ct_send_method(struct raw_conn *c, uint16_t channel, uint16_t class_id,
                    uint16_t method_id, const struct raw_buf *args);
/* Send raw bytes or fail the test. */
void ct_send(struct raw_conn *c, const void *p, size_t n);

/* channel.flow with the given active bit. */
void ct_send_channel_flow(struct raw_conn *c, uint16_t channel, bool active);
/* basic.publish to exchange "" with routing key rk, no flags. */
void ct_send_basic_publish(struct raw_conn *c, uint16_t channel, const char *rk);

/* Checked-fixture pair for suites that want one default server per test. */
#define CT_DEFAULT_FIXTURE(tc) \
    tcase_add_checked_fixture((tc), harness_setup_default, harness_teardown_default)

#endif
