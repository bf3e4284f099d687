/*
 * rawamqp.h - the conformance tests' own AMQP 0-9-1 frame builder and reader.
 * Independent of edad's codec (src/amqp) on purpose, so a codec bug cannot
 * hide itself: it packs method arguments, tables, content headers, bodies,
 * heartbeats and deliberate garbage by hand, and decodes only the few replies
 * the tests check (start, tune, close, heartbeats).  Tests only; never linked
 * into edad.
 */
#ifndef EDAD_TESTS_RAWAMQP_H
#define EDAD_TESTS_RAWAMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- protocol numbers, typed in from the 0-9-1 spec -------------------- */

#define RAW_FRAME_METHOD 1
#define RAW_FRAME_HEADER 2
#define RAW_FRAME_BODY 3
#define RAW_FRAME_HEARTBEAT 8
#define RAW_FRAME_END 0xCE

#define RAW_CONNECTION 10
#define RAW_CONNECTION_START 10
#define RAW_CONNECTION_START_OK 11
#define RAW_CONNECTION_SECURE 20
#define RAW_CONNECTION_SECURE_OK 21
#define RAW_CONNECTION_TUNE 30
#define RAW_CONNECTION_TUNE_OK 31
#define RAW_CONNECTION_OPEN 40
#define RAW_CONNECTION_OPEN_OK 41
#define RAW_CONNECTION_CLOSE 50
#define RAW_CONNECTION_CLOSE_OK 51
#define RAW_CONNECTION_UPDATE_SECRET 70
#define RAW_CONNECTION_UPDATE_SECRET_OK 71

#define RAW_CHANNEL 20
#define RAW_CHANNEL_OPEN 10
#define RAW_CHANNEL_OPEN_OK 11
#define RAW_CHANNEL_FLOW 20
#define RAW_CHANNEL_FLOW_OK 21
#define RAW_CHANNEL_CLOSE 40
#define RAW_CHANNEL_CLOSE_OK 41

#define RAW_ACCESS 30
#define RAW_ACCESS_REQUEST 10
#define RAW_ACCESS_REQUEST_OK 11

#define RAW_EXCHANGE 40
#define RAW_QUEUE 50
#define RAW_QUEUE_DECLARE 10
#define RAW_QUEUE_DECLARE_OK 11
#define RAW_BASIC 60
#define RAW_BASIC_PUBLISH 40

/* Reply codes (spec constants). */
#define RAW_REPLY_SUCCESS 200
#define RAW_CONNECTION_FORCED 320
#define RAW_ACCESS_REFUSED 403
#define RAW_NOT_FOUND 404
#define RAW_FRAME_ERROR 501
#define RAW_SYNTAX_ERROR 502
#define RAW_COMMAND_INVALID 503
#define RAW_CHANNEL_ERROR 504
#define RAW_UNEXPECTED_FRAME 505
#define RAW_NOT_ALLOWED 530
#define RAW_NOT_IMPLEMENTED 540

/* ---- a growable byte buffer for building frames ------------------------ */

struct raw_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void raw_buf_init(struct raw_buf *b);
void raw_buf_free(struct raw_buf *b);
void raw_buf_reset(struct raw_buf *b);

/* Big-endian writers; all abort on out-of-memory. */
void raw_put_bytes(struct raw_buf *b, const void *p, size_t n);
void raw_put_u8(struct raw_buf *b, uint8_t v);
void raw_put_u16(struct raw_buf *b, uint16_t v);
void raw_put_u32(struct raw_buf *b, uint32_t v);
void raw_put_u64(struct raw_buf *b, uint64_t v);
/* shortstr: one length octet; s must be at most 255 bytes. */
void raw_put_shortstr(struct raw_buf *b, const char *s);
void raw_put_longstr(struct raw_buf *b, const void *p, uint32_t n);

/*
 * Field tables: raw_table_begin writes a length placeholder and returns its
 * offset, raw_table_end patches it.  The entry writers add one key + typed
 * value each; nest tables with raw_table_put_table_begin/raw_table_end.
 */
size_t raw_table_begin(struct raw_buf *b);
void raw_table_end(struct raw_buf *b, size_t mark);
void raw_table_put_longstr(struct raw_buf *b, const char *key, const char *value);
void raw_table_put_bool(struct raw_buf *b, const char *key, bool value);
void raw_table_put_int(struct raw_buf *b, const char *key, int32_t value);
size_t raw_table_put_table_begin(struct raw_buf *b, const char *key);

/* ---- frames (appended to out) ------------------------------------------- */

/* Any frame: type, channel, payload and a chosen frame-end octet. */
void raw_frame(struct raw_buf *out, uint8_t type, uint16_t channel,
               const void *payload, size_t len, uint8_t frame_end);
/* Method frame: class id, method id, then args (already packed). */
void raw_frame_method(struct raw_buf *out, uint16_t channel, uint16_t class_id,
                      uint16_t method_id, const void *args, size_t len);
/* Content header frame: class, weight 0, body size, property flags + list. */
void raw_frame_header(struct raw_buf *out, uint16_t channel, uint16_t class_id,
                      uint64_t body_size, uint16_t flags, const void *props,
                      size_t props_len);
void raw_frame_body(struct raw_buf *out, uint16_t channel, const void *p, size_t len);
void raw_frame_heartbeat(struct raw_buf *out, uint16_t channel);

/* ---- a client socket ----------------------------------------------------- */

enum raw_rc {
    RAW_OK = 0,
    RAW_EOF = 1,       /* peer closed (or reset) the connection */
    RAW_TIMEOUT = 2,   /* nothing (complete) arrived in time */
    RAW_BAD = 3,       /* a frame arrived but is not what was asked for */
    RAW_IOERR = -1,    /* local socket error */
};

struct raw_conn {
    int fd;
    uint8_t *in;       /* received, not yet consumed bytes */
    size_t in_len;
    size_t in_cap;
    bool eof;
    uint32_t frame_max; /* largest frame accepted from the server; 0 = none */
};

/* Connect to host:port (numeric IPv4); returns 0 or -1 with errno. */
int raw_connect(struct raw_conn *c, const char *host, uint16_t port);
void raw_close(struct raw_conn *c);
/* Send all bytes; returns 0, or -1 when the peer is gone (EPIPE/ECONNRESET). */
int raw_send(struct raw_conn *c, const void *p, size_t n);
/* Send b's bytes and reset b. */
int raw_send_buf(struct raw_conn *c, struct raw_buf *b);
/* Send the 0-9-1 protocol header "AMQP\0\0\9\1". */
int raw_send_protocol_header(struct raw_conn *c);
/* Convenience: pack and send one method frame. */
int raw_send_method(struct raw_conn *c, uint16_t channel, uint16_t class_id,
                    uint16_t method_id, const struct raw_buf *args);

/* Read exactly n bytes within timeout_ms. */
enum raw_rc raw_read_exact(struct raw_conn *c, void *p, size_t n, int timeout_ms);
/* Wait until the peer closes, discarding whatever arrives. */
enum raw_rc raw_wait_eof(struct raw_conn *c, int timeout_ms);

struct raw_frame {
    uint8_t type;
    uint16_t channel;
    uint32_t size;
    uint8_t *payload;       /* malloc'ed, size bytes; raw_frame_free releases */
    uint16_t class_id;      /* method frames only */
    uint16_t method_id;
};

/* Read one whole frame; a frame-end other than 0xCE gives RAW_BAD. */
enum raw_rc raw_read_frame(struct raw_conn *c, struct raw_frame *f, int timeout_ms);
void raw_frame_free(struct raw_frame *f);
bool raw_frame_is(const struct raw_frame *f, uint16_t channel, uint16_t class_id,
                  uint16_t method_id);
/* One line describing a frame (type, channel, method, close code/text). */
const char *raw_frame_describe(const struct raw_frame *f, char *buf, size_t len);

/*
 * Read frames, skipping heartbeats, until one arrives; RAW_OK when it is the
 * method asked for, RAW_BAD (with the frame left in *f) when it is another.
 */
enum raw_rc raw_expect_method(struct raw_conn *c, struct raw_frame *f, uint16_t channel,
                              uint16_t class_id, uint16_t method_id, int timeout_ms);

/* ---- decoding the replies the tests look at ------------------------------ */

struct raw_cursor {
    const uint8_t *p;
    size_t left;
    bool bad;          /* set when a read ran past the end */
};

void raw_cursor_init(struct raw_cursor *cur, const void *p, size_t n);
uint8_t raw_get_u8(struct raw_cursor *cur);
uint16_t raw_get_u16(struct raw_cursor *cur);
uint32_t raw_get_u32(struct raw_cursor *cur);
uint64_t raw_get_u64(struct raw_cursor *cur);
/* shortstr copied NUL-terminated into out (truncated to outlen-1). */
void raw_get_shortstr(struct raw_cursor *cur, char *out, size_t outlen);
/* longstr/table: borrowed pointer into the frame and its length. */
const uint8_t *raw_get_longstr(struct raw_cursor *cur, uint32_t *len);

struct raw_start {
    uint8_t version_major;
    uint8_t version_minor;
    const uint8_t *server_properties;   /* table body, borrowed from the frame */
    uint32_t server_properties_len;
    char mechanisms[256];
    char locales[256];
};

struct raw_tune {
    uint16_t channel_max;
    uint32_t frame_max;
    uint16_t heartbeat;
};

struct raw_close {
    uint16_t reply_code;
    char reply_text[256];
    uint16_t class_id;
    uint16_t method_id;
};

bool raw_decode_start(const struct raw_frame *f, struct raw_start *s);
bool raw_decode_tune(const struct raw_frame *f, struct raw_tune *t);
/* connection.close and channel.close have the same arguments. */
bool raw_decode_close(const struct raw_frame *f, struct raw_close *cl);

/*
 * Look key up in a table body (without its length prefix).  On success sets
 * *type to the field type octet and *val / *val_len to the value: the string
 * bytes for 'S'/'x', the table body for 'F', the raw value bytes otherwise.
 * Returns false when absent or when the table is malformed.
 */
bool raw_table_find(const uint8_t *tbl, uint32_t len, const char *key, uint8_t *type,
                    const uint8_t **val, uint32_t *val_len);
/* Helpers over raw_table_find: a longstr value as a C string, a boolean. */
bool raw_table_get_string(const uint8_t *tbl, uint32_t len, const char *key,
                          char *out, size_t outlen);
bool raw_table_get_bool(const uint8_t *tbl, uint32_t len, const char *key, bool *out);

/* ---- handshake steps ------------------------------------------------------ */

/* start-ok with PLAIN "\0user\0pass", client properties announcing the
 * authentication_failure_close and other capabilities unless caps is false. */
int raw_send_start_ok_plain(struct raw_conn *c, const char *user, const char *pass,
                            bool caps);
/* start-ok with any mechanism and response bytes. */
int raw_send_start_ok(struct raw_conn *c, const char *mechanism, const void *response,
                      uint32_t response_len, bool caps);
int raw_send_tune_ok(struct raw_conn *c, uint16_t channel_max, uint32_t frame_max,
                     uint16_t heartbeat);
int raw_send_connection_open(struct raw_conn *c, const char *vhost);
int raw_send_close(struct raw_conn *c, uint16_t channel, uint16_t class_id,
                   uint16_t code, const char *text);
int raw_send_close_ok(struct raw_conn *c, uint16_t channel, uint16_t class_id);
int raw_send_channel_open(struct raw_conn *c, uint16_t channel);

/*
 * Full handshake as guest/guest (or user/pass) to an open connection on
 * vhost "/"; the tune-ok echoes the server's channel_max and frame_max and
 * uses `heartbeat` (0 = off).  On failure returns false and writes what went
 * wrong into err.  tune_out (may be NULL) receives the server's tune.
 */
bool raw_handshake(struct raw_conn *c, const char *user, const char *pass,
                   uint16_t heartbeat, struct raw_tune *tune_out, char *err, size_t errlen);
/* Open a channel and wait for open-ok; false with err on failure. */
bool raw_channel_open(struct raw_conn *c, uint16_t channel, char *err, size_t errlen);

/*
 * Wait for a connection.close on channel 0, skipping any other frame (counted
 * in *skipped when not NULL).  Returns RAW_OK with *cl filled, RAW_EOF when
 * the socket closed first, RAW_TIMEOUT.
 */
enum raw_rc raw_expect_connection_close(struct raw_conn *c, struct raw_close *cl,
                                        int timeout_ms, unsigned *skipped);

#endif
