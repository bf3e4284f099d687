/*
 * check_session.c - the session and net layers in one process: a real
 * listener on 127.0.0.1 (free port), a real client socket driven by the
 * test, and the event loop pumped between writes and reads.  Covers the
 * handshake, channel lifecycle, the main error replies, SASL parsing and
 * the transport's output watermark, a publish/get/ack round trip, and the
 * session's own bookkeeping (unacked deliveries by tag, argument tables).
 * The full conformance suite (separate process, independent encoder) is
 * tests/conformance.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edad/amqp.h"
#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/net.h"
#include "edad/session.h"
#include "../../src/session/session_priv.h"

struct fx {
    struct net_loop *loop;
    struct broker *broker;
    struct edad_conf conf;
    struct session_server *srv;
    struct net_listener *l;
    int fd;
    uint8_t buf[1 << 19];
    size_t len;
};

static struct fx F;

static void pump(void)
{
    for (int i = 0; i < 5; i++) {
        net_loop_run_pending(F.loop);
        broker_dispatch_pending(F.broker);   /* server.c's job in the daemon */
    }
}

static void fx_setup_conf(const char *extra)
{
    char err[256];
    memset(&F, 0, sizeof(F));
    conf_init(&F.conf);
    F.conf.handshake_timeout = 5000;
    if (extra)
        ck_assert_int_eq(conf_load_string(&F.conf, "test", extra, err, sizeof(err)), EDAD_OK);
    log_set_level(getenv("CK_LOG") ? EDAD_LOG_DEBUG : EDAD_LOG_NONE);
    F.loop = net_loop_new();
    F.broker = broker_new(NULL);
    broker_vhost_add(F.broker, "/");
    F.srv = session_server_new(F.loop, &F.conf, F.broker);
    struct net_transport_opts o = {.output_high_water = F.conf.output_high_water,
                                   .read_high_water = 65536, .tcp_nodelay = true};
    F.l = net_listener_new(F.loop, "127.0.0.1", 0, 16, &o, session_server_accept, F.srv,
                           err, sizeof(err));
    ck_assert_msg(F.l != NULL, "%s", err);
    F.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(net_listener_port(F.l)),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    ck_assert_int_eq(connect(F.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(F.fd, F_SETFL, O_NONBLOCK);
    pump();
}

static void fx_setup(void)
{
    fx_setup_conf(NULL);
}

static void fx_teardown(void)
{
    if (F.fd >= 0)
        close(F.fd);
    net_listener_free(F.l);
    session_server_free(F.srv);
    broker_free(F.broker);
    net_loop_free(F.loop);
    conf_free(&F.conf);
}

static void client_send(const void *p, size_t n)
{
    ck_assert_int_eq(send(F.fd, p, n, 0), (ssize_t)n);
    pump();
}

/* Read more bytes, pumping the loop; false on EOF or after ~3 s. */
static bool client_fill(size_t want)
{
    for (int i = 0; i < 3000 && F.len < want; i++) {
        pump();
        ssize_t n = recv(F.fd, F.buf + F.len, sizeof(F.buf) - F.len, 0);
        if (n == 0)
            return false;
        if (n > 0) {
            F.len += (size_t)n;
            continue;
        }
        struct pollfd p = {.fd = F.fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    return F.len >= want;
}

static void client_consume(size_t n)
{
    memmove(F.buf, F.buf + n, F.len - n);
    F.len -= n;
}

/* Next non-heartbeat method frame: id and its arguments copied to args. */
static uint32_t client_method(uint16_t *channel, uint8_t *args, size_t *args_len)
{
    for (;;) {
        ck_assert_msg(client_fill(7), "no frame from the server");
        uint32_t size = (uint32_t)F.buf[3] << 24 | (uint32_t)F.buf[4] << 16 |
                        (uint32_t)F.buf[5] << 8 | F.buf[6];
        ck_assert_msg(client_fill(size + 8), "short frame");
        ck_assert_uint_eq(F.buf[7 + size], 0xCE);
        uint8_t type = F.buf[0];
        if (type == 8) {
            client_consume(size + 8);
            continue;
        }
        ck_assert_uint_eq(type, 1);
        if (channel)
            *channel = (uint16_t)(F.buf[1] << 8 | F.buf[2]);
        uint32_t id = (uint32_t)F.buf[7] << 24 | (uint32_t)F.buf[8] << 16 |
                      (uint32_t)F.buf[9] << 8 | F.buf[10];
        if (args) {
            memcpy(args, F.buf + 11, size - 4);
            *args_len = size - 4;
        }
        client_consume(size + 8);
        return id;
    }
}

static bool client_eof(void)
{
    for (int i = 0; i < 5000; i++) {
        pump();
        uint8_t tmp[4096];
        ssize_t n = recv(F.fd, tmp, sizeof(tmp), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        struct pollfd p = {.fd = F.fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    return false;
}

/* Frame builders (independent of the codec's encoder). */
static size_t put_frame(uint8_t *out, uint8_t type, uint16_t ch, const uint8_t *payload,
                        size_t n)
{
    out[0] = type;
    out[1] = (uint8_t)(ch >> 8);
    out[2] = (uint8_t)ch;
    out[3] = (uint8_t)(n >> 24);
    out[4] = (uint8_t)(n >> 16);
    out[5] = (uint8_t)(n >> 8);
    out[6] = (uint8_t)n;
    memcpy(out + 7, payload, n);
    out[7 + n] = 0xCE;
    return n + 8;
}

static void send_method(uint16_t ch, uint16_t cls, uint16_t mid, const uint8_t *args, size_t n)
{
    uint8_t p[1024], f[1100];
    p[0] = (uint8_t)(cls >> 8);
    p[1] = (uint8_t)cls;
    p[2] = (uint8_t)(mid >> 8);
    p[3] = (uint8_t)mid;
    memcpy(p + 4, args, n);
    client_send(f, put_frame(f, 1, ch, p, n + 4));
}

static void send_start_ok(const char *mech, const uint8_t *resp, size_t rn, bool caps)
{
    uint8_t a[512];
    size_t n = 0;
    static const uint8_t props_caps[] = {
        0, 0, 0, 49, 12, 'c', 'a', 'p', 'a', 'b', 'i', 'l', 'i', 't', 'i', 'e', 's', 'F',
        0, 0, 0, 31, 28, 'a', 'u', 't', 'h', 'e', 'n', 't', 'i', 'c', 'a', 't', 'i', 'o', 'n',
        '_', 'f', 'a', 'i', 'l', 'u', 'r', 'e', '_', 'c', 'l', 'o', 's', 'e', 't', 1,
    };
    if (caps) {
        memcpy(a, props_caps, sizeof(props_caps));
        n = sizeof(props_caps);
    } else {
        memset(a, 0, 4);
        n = 4;
    }
    a[n++] = (uint8_t)strlen(mech);
    memcpy(a + n, mech, strlen(mech));
    n += strlen(mech);
    a[n++] = 0;
    a[n++] = 0;
    a[n++] = (uint8_t)(rn >> 8);
    a[n++] = (uint8_t)rn;
    memcpy(a + n, resp, rn);
    n += rn;
    a[n++] = 5;
    memcpy(a + n, "en_US", 5);
    n += 5;
    send_method(0, 10, 11, a, n);
}

static void send_tune_ok(uint16_t cm, uint32_t fm, uint16_t hb)
{
    uint8_t a[8] = {(uint8_t)(cm >> 8), (uint8_t)cm, (uint8_t)(fm >> 24), (uint8_t)(fm >> 16),
                    (uint8_t)(fm >> 8), (uint8_t)fm, (uint8_t)(hb >> 8), (uint8_t)hb};
    send_method(0, 10, 31, a, sizeof(a));
}

static void send_open(const char *vhost)
{
    uint8_t a[300];
    size_t n = 0;
    a[n++] = (uint8_t)strlen(vhost);
    memcpy(a + n, vhost, strlen(vhost));
    n += strlen(vhost);
    a[n++] = 0;
    a[n++] = 0;
    send_method(0, 10, 40, a, n);
}

/* connection.close args -> code, text */
static uint16_t close_code(const uint8_t *a, char *text, size_t tl)
{
    snprintf(text, tl, "%.*s", (int)a[2], (const char *)a + 3);
    return (uint16_t)(a[0] << 8 | a[1]);
}

static void handshake(void)
{
    client_send(amqp_protocol_header, 8);
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONNECTION_START);
    send_start_ok("PLAIN", (const uint8_t *)"\0guest\0guest", 12, true);
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONNECTION_TUNE);
    send_tune_ok(2047, 131072, 0);
    send_open("/");
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONNECTION_OPEN_OK);
}

START_TEST(test_handshake_and_channels)
{
    uint8_t a[4096];
    size_t n;
    uint16_t ch;
    client_send(amqp_protocol_header, 8);
    ck_assert_uint_eq(client_method(&ch, a, &n), AMQP_CONNECTION_START);
    ck_assert_uint_eq(a[0], 0);
    ck_assert_uint_eq(a[1], 9);
    ck_assert_ptr_nonnull(memmem(a, n, "authentication_failure_close", 28));
    ck_assert_ptr_nonnull(memmem(a, n, "PLAIN AMQPLAIN", 14));
    send_start_ok("PLAIN", (const uint8_t *)"\0guest\0guest", 12, true);
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_TUNE);
    ck_assert_uint_eq(a[0] << 8 | a[1], 2047);
    send_tune_ok(10, 131072, 0);
    send_open("/");
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONNECTION_OPEN_OK);
    ck_assert_uint_eq(session_server_connection_count(F.srv), 1);

    uint8_t empty = 0;
    send_method(3, 20, 10, &empty, 1);
    ck_assert_uint_eq(client_method(&ch, NULL, NULL), AMQP_CHANNEL_OPEN_OK);
    ck_assert_uint_eq(ch, 3);
    uint8_t cl[] = {0, 200, 0, 0, 0, 0, 0};
    send_method(3, 20, 40, cl, sizeof(cl));
    ck_assert_uint_eq(client_method(&ch, NULL, NULL), AMQP_CHANNEL_CLOSE_OK);
    send_method(3, 20, 10, &empty, 1);
    ck_assert_uint_eq(client_method(&ch, NULL, NULL), AMQP_CHANNEL_OPEN_OK);

    send_method(0, 10, 50, cl, sizeof(cl));
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONNECTION_CLOSE_OK);
    ck_assert(client_eof());
    ck_assert_uint_eq(session_server_connection_count(F.srv), 0);
}
END_TEST

START_TEST(test_auth_failure)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    client_send(amqp_protocol_header, 8);
    client_method(NULL, NULL, NULL);
    send_start_ok("PLAIN", (const uint8_t *)"\0guest\0nope", 11, true);
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 403);
    ck_assert_str_eq(text, "ACCESS_REFUSED - Login was refused using authentication mechanism "
                           "PLAIN. For details see the broker logfile.");
    uint8_t none = 0;
    send_method(0, 10, 51, &none, 0);
    ck_assert(client_eof());
}
END_TEST

START_TEST(test_tune_frame_max_too_low)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    client_send(amqp_protocol_header, 8);
    client_method(NULL, NULL, NULL);
    send_start_ok("PLAIN", (const uint8_t *)"\0guest\0guest", 12, true);
    client_method(NULL, NULL, NULL);
    send_tune_ok(2047, 1000, 0);
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 530);
    ck_assert_str_eq(text, "NOT_ALLOWED - negotiated frame_max = 1000 is lower than the "
                           "minimum allowed value (4096)");
}
END_TEST

START_TEST(test_unknown_vhost)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    client_send(amqp_protocol_header, 8);
    client_method(NULL, NULL, NULL);
    send_start_ok("PLAIN", (const uint8_t *)"\0guest\0guest", 12, true);
    client_method(NULL, NULL, NULL);
    send_tune_ok(2047, 131072, 0);
    send_open("nope");
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 530);
    ck_assert_str_eq(text, "NOT_ALLOWED - vhost nope not found");
}
END_TEST

START_TEST(test_bad_header)
{
    client_send("HTTP/1.1", 8);
    ck_assert(client_fill(8));
    ck_assert_int_eq(memcmp(F.buf, amqp_protocol_header, 8), 0);
    client_consume(8);
    ck_assert(client_eof());
}
END_TEST

START_TEST(test_unopened_channel)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    handshake();
    uint8_t cl[] = {0, 200, 0, 0, 0, 0, 0};
    send_method(5, 20, 40, cl, sizeof(cl));
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 504);
    ck_assert_str_eq(text, "CHANNEL_ERROR - expected 'channel.open'");
}
END_TEST

/* queue.declare, a publish split over two body frames, basic.get, ack;
 * the same tag acked again is 406 (a channel error). */
START_TEST(test_publish_get_ack)
{
    uint8_t a[1024], f[256];
    size_t n;
    uint16_t ch;
    char text[256];
    handshake();
    uint8_t empty = 0;
    send_method(1, 20, 10, &empty, 1);
    client_method(NULL, NULL, NULL);
    uint8_t decl[] = {0, 0, 1, 'q', 0, 0, 0, 0, 0};
    send_method(1, 50, 10, decl, sizeof(decl));
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_QUEUE_DECLARE_OK);
    ck_assert_uint_eq(a[0], 1);
    ck_assert_uint_eq(a[1], 'q');
    uint8_t pub[] = {0, 0, 0, 1, 'q', 0};
    send_method(1, 60, 40, pub, sizeof(pub));
    uint8_t hdr[14] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0};
    client_send(f, put_frame(f, 2, 1, hdr, sizeof(hdr)));
    client_send(f, put_frame(f, 3, 1, (const uint8_t *)"ab", 2));
    client_send(f, put_frame(f, 3, 1, (const uint8_t *)"cd", 2));
    uint8_t get[] = {0, 0, 1, 'q', 0};
    send_method(1, 60, 70, get, sizeof(get));
    ck_assert_uint_eq(client_method(&ch, a, &n), AMQP_BASIC_GET_OK);
    ck_assert_uint_eq(ch, 1);
    ck_assert_uint_eq(a[7], 1);   /* delivery tag 1 */
    ck_assert_uint_eq(a[8], 0);   /* not redelivered */
    ck_assert(client_fill(7));
    uint32_t size = (uint32_t)F.buf[3] << 24 | (uint32_t)F.buf[4] << 16 |
                    (uint32_t)F.buf[5] << 8 | F.buf[6];
    ck_assert_uint_eq(F.buf[0], 2);
    ck_assert(client_fill(size + 8));
    client_consume(size + 8);
    ck_assert(client_fill(12));
    ck_assert_uint_eq(F.buf[0], 3);
    ck_assert_int_eq(memcmp(F.buf + 7, "abcd", 4), 0);
    client_consume(12);
    uint8_t ack[] = {0, 0, 0, 0, 0, 0, 0, 1, 0};
    send_method(1, 60, 80, ack, sizeof(ack));
    send_method(1, 60, 70, get, sizeof(get));
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_BASIC_GET_EMPTY);
    send_method(1, 60, 80, ack, sizeof(ack));
    ck_assert_uint_eq(client_method(&ch, a, &n), AMQP_CHANNEL_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 406);
    ck_assert_str_eq(text, "PRECONDITION_FAILED - unknown delivery tag 1");
}
END_TEST

START_TEST(test_oversized_frame)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    handshake();
    uint8_t h[7] = {1, 0, 1, 0, 0x10, 0, 0};   /* 1 MiB payload announced */
    client_send(h, sizeof(h));
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 501);
    ck_assert_str_eq(text, "FRAME_ERROR - type 1, all octets = <<>>: "
                           "{frame_too_large,1048576,131064}");
}
END_TEST

START_TEST(test_shutdown_sends_320)
{
    uint8_t a[512];
    size_t n;
    char text[256];
    handshake();
    session_server_shutdown(F.srv, "shutdown");
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_CONNECTION_CLOSE);
    ck_assert_uint_eq(close_code(a, text, sizeof(text)), 320);
    ck_assert_str_eq(text, "CONNECTION_FORCED - broker forced connection closure with reason "
                           "'shutdown'");
    uint8_t none = 0;
    send_method(0, 10, 51, &none, 0);
    ck_assert(client_eof());
    ck_assert_uint_eq(session_server_connection_count(F.srv), 0);
}
END_TEST

/* A client that never reads: the server stops reading from it once its
 * output passes net.output_high_watermark, so memory stays bounded. */
START_TEST(test_output_watermark_pauses_reading)
{
    handshake();
    uint8_t empty = 0;
    send_method(1, 20, 10, &empty, 1);
    client_method(NULL, NULL, NULL);
    int small = 4096;
    setsockopt(F.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    uint8_t f[16];
    uint8_t flow[5] = {0, 20, 0, 20, 1};
    size_t fl = put_frame(f, 1, 1, flow, sizeof(flow));
    uint8_t *burst = malloc(fl * 4096);
    for (int i = 0; i < 4096; i++)
        memcpy(burst + (size_t)i * fl, f, fl);
    size_t sent = 0;
    for (int round = 0; round < 2000; round++) {
        ssize_t w = send(F.fd, burst, fl * 4096, MSG_DONTWAIT);
        if (w > 0)
            sent += (size_t)w;
        pump();
        if (w < 0 && round > 50)
            break;
    }
    free(burst);
    /* the client stopped being able to send: the server stopped reading */
    ck_assert_uint_gt(sent, 0);
    struct connection *c = F.srv->head;
    ck_assert_ptr_nonnull(c);
    ck_assert(net_transport_output_saturated(c->t));
    ck_assert(net_transport_read_paused(c->t));
    ck_assert_uint_le(net_transport_output_len(c->t), F.conf.output_high_water + 64 * 1024);
}
END_TEST

/* Deliveries: method + header + body frames no larger than frame_max, small
 * bodies copied and large ones sent by reference. */
static void check_delivery(size_t body_len)
{
    uint8_t *body = malloc(body_len ? body_len : 1);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)(i * 7);
    static const uint8_t props[] = {0x10, 0x00, 2};   /* delivery-mode 2 */
    struct message *msg = message_new(bytes_from_cstr("ex"), bytes_from_cstr("rk"),
                                      (struct edad_bytes){props, sizeof(props)}, body_len, NULL);
    memcpy(message_body_mut(msg), body, body_len);
    struct amqp_method m;
    memset(&m, 0, sizeof(m));
    m.id = AMQP_BASIC_DELIVER;
    m.u.basic_deliver.consumer_tag = bytes_from_cstr("ctag");
    m.u.basic_deliver.delivery_tag = 1;
    m.u.basic_deliver.exchange = bytes_from_cstr("ex");
    m.u.basic_deliver.routing_key = bytes_from_cstr("rk");
    ck_assert_int_eq(session_send_content(F.srv->head, 1, &m, msg), EDAD_OK);
    message_unref(&msg);   /* the transport keeps its own references */

    uint16_t ch;
    ck_assert_uint_eq(client_method(&ch, NULL, NULL), AMQP_BASIC_DELIVER);
    ck_assert(client_fill(7));
    uint32_t size = (uint32_t)F.buf[3] << 24 | (uint32_t)F.buf[4] << 16 |
                    (uint32_t)F.buf[5] << 8 | F.buf[6];
    ck_assert(client_fill(size + 8));
    ck_assert_uint_eq(F.buf[0], 2);
    ck_assert_uint_eq(size, 12 + sizeof(props));
    uint64_t announced = 0;
    for (int i = 0; i < 8; i++)
        announced = announced << 8 | F.buf[11 + i];
    ck_assert_uint_eq(announced, body_len);
    ck_assert_int_eq(memcmp(F.buf + 19, props, sizeof(props)), 0);
    client_consume(size + 8);
    size_t got = 0;
    while (got < body_len) {
        ck_assert(client_fill(7));
        size = (uint32_t)F.buf[3] << 24 | (uint32_t)F.buf[4] << 16 |
               (uint32_t)F.buf[5] << 8 | F.buf[6];
        ck_assert_uint_eq(F.buf[0], 3);
        ck_assert_uint_le(size + 8, 131072);
        ck_assert(client_fill(size + 8));
        ck_assert_int_eq(memcmp(F.buf + 7, body + got, size), 0);
        ck_assert_uint_eq(F.buf[7 + size], 0xCE);
        got += size;
        client_consume(size + 8);
    }
    ck_assert_uint_eq(got, body_len);
    free(body);
}

START_TEST(test_send_content)
{
    handshake();
    uint8_t empty = 0;
    send_method(1, 20, 10, &empty, 1);
    client_method(NULL, NULL, NULL);
    check_delivery(0);
    check_delivery(16);
    check_delivery(300000);
}
END_TEST

START_TEST(test_sasl_plain)
{
    struct edad_bytes u, p;
    ck_assert_int_eq(sasl_plain_parse((struct edad_bytes){(const uint8_t *)"\0u\0p", 4}, &u, &p),
                     EDAD_OK);
    ck_assert(bytes_eq_cstr(u, "u") && bytes_eq_cstr(p, "p"));
    ck_assert_int_eq(sasl_plain_parse((struct edad_bytes){(const uint8_t *)"az\0u\0p", 6}, &u,
                                      &p), EDAD_OK);
    ck_assert(bytes_eq_cstr(u, "u") && bytes_eq_cstr(p, "p"));
    ck_assert_int_eq(sasl_plain_parse((struct edad_bytes){(const uint8_t *)"\0u", 2}, &u, &p),
                     EDAD_ERR_MALFORMED);
    ck_assert_int_eq(sasl_plain_parse((struct edad_bytes){(const uint8_t *)"\0u\0p\0", 5}, &u,
                                      &p), EDAD_ERR_MALFORMED);
    ck_assert_int_eq(sasl_plain_parse((struct edad_bytes){(const uint8_t *)"", 0}, &u, &p),
                     EDAD_ERR_MALFORMED);
}
END_TEST

START_TEST(test_sasl_amqplain_and_auth)
{
    static const uint8_t t[] = {5, 'L', 'O', 'G', 'I', 'N', 'S', 0, 0, 0, 5, 'g', 'u', 'e', 's', 't',
                                8, 'P', 'A', 'S', 'S', 'W', 'O', 'R', 'D', 'S', 0, 0, 0, 5, 'g',
                                'u', 'e', 's', 't'};
    struct arena ar;
    arena_init(&ar, 1 << 16);
    struct edad_bytes u, p;
    ck_assert_int_eq(sasl_amqplain_parse((struct edad_bytes){t, sizeof(t)}, &ar, &u, &p), EDAD_OK);
    ck_assert(bytes_eq_cstr(u, "guest") && bytes_eq_cstr(p, "guest"));
    ck_assert_int_eq(sasl_amqplain_parse((struct edad_bytes){t, 16}, &ar, &u, &p),
                     EDAD_ERR_MALFORMED);
    arena_free(&ar);

    struct edad_conf c;
    conf_init(&c);
    ck_assert_int_eq(auth_check(&c, bytes_from_cstr("guest"), bytes_from_cstr("guest"), true),
                     AUTH_OK);
    ck_assert_int_eq(auth_check(&c, bytes_from_cstr("guest"), bytes_from_cstr("gues"), true),
                     AUTH_BAD_CREDENTIALS);
    ck_assert_int_eq(auth_check(&c, bytes_from_cstr("other"), bytes_from_cstr("guest"), true),
                     AUTH_BAD_CREDENTIALS);
    ck_assert_int_eq(auth_check(&c, bytes_from_cstr("guest"), bytes_from_cstr("guest"), false),
                     AUTH_LOOPBACK_ONLY);
    conf_free(&c);
}
END_TEST

/* Confirms of one read batch leave as one basic.ack{multiple}; a mandatory
 * unroutable message is returned before its confirm. */
START_TEST(test_confirms_coalesced)
{
    uint8_t a[1024], f[4096];
    size_t n;
    handshake();
    uint8_t empty = 0;
    send_method(1, 20, 10, &empty, 1);
    client_method(NULL, NULL, NULL);
    send_method(1, 85, 10, &empty, 1);
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_CONFIRM_SELECT_OK);
    uint8_t decl[] = {0, 0, 1, 'q', 0, 0, 0, 0, 0};
    send_method(1, 50, 10, decl, sizeof(decl));
    ck_assert_uint_eq(client_method(NULL, NULL, NULL), AMQP_QUEUE_DECLARE_OK);

    /* three publishes to q in a single write */
    size_t len = 0;
    static const uint8_t hdr[14] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    for (int i = 0; i < 3; i++) {
        uint8_t p[10] = {0, 60, 0, 40, 0, 0, 0, 1, 'q', 0};
        len += put_frame(f + len, 1, 1, p, sizeof(p));
        len += put_frame(f + len, 2, 1, hdr, sizeof(hdr));
        len += put_frame(f + len, 3, 1, (const uint8_t *)"x", 1);
    }
    client_send(f, len);
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_BASIC_ACK);
    ck_assert_uint_eq(a[7], 3);   /* delivery tag 3 */
    ck_assert_uint_eq(a[8], 1);   /* multiple */

    /* mandatory to nowhere: basic.return 312, then ack 4 alone */
    len = 0;
    uint8_t p[14] = {0, 60, 0, 40, 0, 0, 0, 4, 'n', 'o', 'n', 'e', 1};
    len += put_frame(f + len, 1, 1, p, 13);
    len += put_frame(f + len, 2, 1, hdr, sizeof(hdr));
    len += put_frame(f + len, 3, 1, (const uint8_t *)"y", 1);
    client_send(f, len);
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_BASIC_RETURN);
    ck_assert_uint_eq(a[0] << 8 | a[1], 312);
    ck_assert_uint_eq(a[2], 8);
    ck_assert_int_eq(memcmp(a + 3, "NO_ROUTE", 8), 0);
    /* skip the returned message's header and body frames */
    for (int i = 0; i < 2; i++) {
        ck_assert(client_fill(7));
        uint32_t size = (uint32_t)F.buf[3] << 24 | (uint32_t)F.buf[4] << 16 |
                        (uint32_t)F.buf[5] << 8 | F.buf[6];
        ck_assert(client_fill(size + 8));
        client_consume(size + 8);
    }
    ck_assert_uint_eq(client_method(NULL, a, &n), AMQP_BASIC_ACK);
    ck_assert_uint_eq(a[7], 4);
    ck_assert_uint_eq(a[8], 0);
}
END_TEST

/* ---- unacked: a model check against a plain array of outstanding tags ---- */

static struct message *test_msg(void)
{
    return message_new(EDAD_BYTES_NULL, EDAD_BYTES_NULL, EDAD_BYTES_NULL, 0, NULL);
}

static struct unacked_entry test_entry(uint64_t tag, struct message *m)
{
    struct unacked_entry ue;
    memset(&ue, 0, sizeof(ue));
    ue.tag = tag;
    ue.e.msg = m;
    ue.e.seq = tag * 3;
    return ue;
}

#define MODEL_MAX 20000

START_TEST(test_unacked_model)
{
    static bool live[MODEL_MAX];
    static struct unacked_entry taken[MODEL_MAX];
    size_t ntaken = 0;
    memset(live, 0, sizeof(live));
    struct message *m = test_msg();
    struct unacked u;
    unacked_init(&u);
    uint64_t next = 1;
    uint32_t nlive = 0, peak = 0;
    srand(12345);
    for (int step = 0; step < 200000 && next < MODEL_MAX - 10; step++) {
        int op = rand() % 100;
        if (op < 45) {
            next += (uint64_t)(rand() % 4 == 0 ? rand() % 5 : 0);   /* no-ack gaps */
            if (next >= MODEL_MAX)
                break;
            struct unacked_entry ue = test_entry(next, m);
            unacked_add(&u, &ue);
            live[next++] = true;
            nlive++;
        } else if (op < 75) {
            uint64_t t = 1 + (uint64_t)rand() % next;
            struct unacked_entry out;
            bool got = unacked_take(&u, t, &out);
            ck_assert_int_eq(got, live[t]);
            if (got) {
                ck_assert_uint_eq(out.tag, t);
                ck_assert_uint_eq(out.e.seq, t * 3);
                live[t] = false;
                nlive--;
                taken[ntaken++] = out;
            }
        } else if (op < 85) {
            uint64_t upto = 1 + (uint64_t)rand() % next;
            struct unacked_entry out;
            uint64_t prev = 0;
            while (unacked_take_first(&u, upto, &out)) {
                ck_assert(live[out.tag]);
                ck_assert_uint_le(out.tag, upto);
                ck_assert_uint_gt(out.tag, prev);
                prev = out.tag;
                live[out.tag] = false;
                nlive--;
                taken[ntaken++] = out;
            }
            uint64_t t = 1;
            while (t <= upto && !live[t])     /* plain loop: ck_assert per tag */
                t++;                          /* made this test take a minute */
            ck_assert_uint_gt(t, upto);
        } else if (op < 92 && ntaken) {
            /* tx.rollback: put some back, newest first */
            size_t k = (size_t)rand() % (ntaken < 8 ? ntaken : 8) + 1;
            while (k--) {
                struct unacked_entry ue = taken[--ntaken];
                unacked_restore(&u, &ue);
                live[ue.tag] = true;
                nlive++;
            }
        } else {
            uint64_t t = 1 + (uint64_t)rand() % next;
            struct unacked_entry *f = unacked_find(&u, t);
            ck_assert_int_eq(f != NULL, live[t]);
            if (f)
                ck_assert_uint_eq(f->tag, t);
        }
        ck_assert_uint_eq(unacked_count(&u), nlive);
        /* memory stays proportional to what is (or was) outstanding, not
         * to the tags handed out */
        if (nlive > peak)
            peak = nlive;
        ck_assert_uint_le(u.cap, 4 * (peak + 1) + 32);
        ck_assert_uint_le(u.side_cap, 4 * (peak + 1) + 32);
    }
    struct unacked_entry out;
    uint64_t prev = 0;
    while (unacked_take_first(&u, UINT64_MAX, &out)) {
        ck_assert(live[out.tag]);
        ck_assert_uint_gt(out.tag, prev);
        prev = out.tag;
        nlive--;
    }
    ck_assert_uint_eq(nlive, 0);
    ck_assert_uint_eq(unacked_count(&u), 0);
    unacked_free(&u);
    message_unref(&m);
}
END_TEST

/* One straggler held while a million later tags come and go: the ring
 * does not grow with the distance. */
START_TEST(test_unacked_straggler)
{
    struct message *m = test_msg();
    struct unacked u;
    unacked_init(&u);
    struct unacked_entry ue = test_entry(1, m), out;
    unacked_add(&u, &ue);
    for (uint64_t t = 2; t < 1000000; t++) {
        ue = test_entry(t, m);
        unacked_add(&u, &ue);
        ck_assert(unacked_take(&u, t, &out));
    }
    ck_assert_uint_le(u.cap, 64);
    ck_assert_ptr_nonnull(unacked_find(&u, 1));
    ck_assert(unacked_take_first(&u, 5, &out));
    ck_assert_uint_eq(out.tag, 1);
    ck_assert_uint_eq(unacked_count(&u), 0);
    unacked_free(&u);
    message_unref(&m);
}
END_TEST

START_TEST(test_table_convert)
{
    struct arena ar;
    arena_init(&ar, 1 << 16);
    struct amqp_field_value arr[2];
    memset(arr, 0, sizeof(arr));
    arr[0].kind = AMQP_FIELD_LONGSTR;
    arr[0].v.str = bytes_from_cstr("x");
    arr[1].kind = AMQP_FIELD_I16_SPEC;
    arr[1].v.i16 = -3;
    struct amqp_table_entry inner[1];
    memset(inner, 0, sizeof(inner));
    inner[0].key = bytes_from_cstr("n");
    inner[0].value.kind = AMQP_FIELD_U32;
    inner[0].value.v.u32 = 4000000000u;
    struct amqp_table_entry e[4];
    memset(e, 0, sizeof(e));
    e[0].key = bytes_from_cstr("x-max-length");
    e[0].value.kind = AMQP_FIELD_I32;
    e[0].value.v.i32 = -7;
    e[1].key = bytes_from_cstr("arr");
    e[1].value.kind = AMQP_FIELD_ARRAY;
    e[1].value.v.array.count = 2;
    e[1].value.v.array.values = arr;
    e[2].key = bytes_from_cstr("tab");
    e[2].value.kind = AMQP_FIELD_TABLE;
    e[2].value.v.table.count = 1;
    e[2].value.v.table.entries = inner;
    e[3].key = bytes_from_cstr("big");
    e[3].value.kind = AMQP_FIELD_U64;
    e[3].value.v.u64 = UINT64_MAX;
    struct amqp_table t = {4, e, EDAD_BYTES_NULL};
    struct broker_table bt;
    ck_assert_int_eq(session_table_convert(&t, &ar, &bt), EDAD_OK);
    ck_assert_uint_eq(bt.count, 4);
    const struct broker_value *v = broker_table_get(&bt, "x-max-length");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->kind, BROKER_V_I32);
    ck_assert_int_eq(v->v.i, -7);
    v = broker_table_get(&bt, "arr");
    ck_assert_uint_eq(v->kind, BROKER_V_ARRAY);
    ck_assert_uint_eq(v->v.array.count, 2);
    ck_assert(bytes_eq_cstr(v->v.array.values[0].v.str, "x"));
    ck_assert_uint_eq(v->v.array.values[1].kind, BROKER_V_I16);
    ck_assert_int_eq(v->v.array.values[1].v.i, -3);
    v = broker_table_get(&bt, "tab");
    ck_assert_uint_eq(v->kind, BROKER_V_TABLE);
    ck_assert_int_eq(broker_table_get(&v->v.table, "n")->v.i, 4000000000);
    v = broker_table_get(&bt, "big");
    ck_assert_uint_eq(v->kind, BROKER_V_U64);
    ck_assert(v->v.u == UINT64_MAX);
    struct amqp_table none = {0, NULL, EDAD_BYTES_NULL};
    ck_assert_int_eq(session_table_convert(&none, &ar, &bt), EDAD_OK);
    ck_assert_uint_eq(bt.count, 0);
    arena_free(&ar);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("socket");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_handshake_and_channels);
    tcase_add_test(tc, test_auth_failure);
    tcase_add_test(tc, test_tune_frame_max_too_low);
    tcase_add_test(tc, test_unknown_vhost);
    tcase_add_test(tc, test_bad_header);
    tcase_add_test(tc, test_unopened_channel);
    tcase_add_test(tc, test_publish_get_ack);
    tcase_add_test(tc, test_confirms_coalesced);
    tcase_add_test(tc, test_oversized_frame);
    tcase_add_test(tc, test_shutdown_sends_320);
    tcase_add_test(tc, test_output_watermark_pauses_reading);
    tcase_add_test(tc, test_send_content);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("sasl");
    tcase_add_test(tp, test_sasl_plain);
    tcase_add_test(tp, test_sasl_amqplain_and_auth);
    suite_add_tcase(s, tp);
    TCase *tu = tcase_create("unacked");
    tcase_set_timeout(tu, 60);
    tcase_add_test(tu, test_unacked_model);
    tcase_add_test(tu, test_unacked_straggler);
    tcase_add_test(tu, test_table_convert);
    suite_add_tcase(s, tu);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(session_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
