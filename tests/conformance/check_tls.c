/*
 * check_tls.c - AMQP over TLS (listeners.ssl, ssl_options.*) and SASL
 * EXTERNAL, through real sockets: rabbitmq-c's TLS socket for handshake,
 * publish and consume, client certificates verified (none / untrusted
 * refused with verify_peer + fail_if_no_peer_cert), TLS 1.1 refused and
 * 1.2 / 1.3 accepted (a raw OpenSSL client, so the version is the test's
 * choice), EXTERNAL logins by certificate subject, the plain listener next
 * to the TLS one, start-up errors for bad files, and hung or aborted
 * handshakes that must not leak.  The PKI is made at test time by
 * tls-certs.sh with the openssl command.  Needs its own daemons.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ct.h"

#ifndef EDAD_TOP_SRCDIR
#define EDAD_TOP_SRCDIR "."
#endif

#define CLIENT_DN "CN=edad-client,O=edad-test"

/* ---- the PKI and the daemon ------------------------------------------------ */

static char pki[600];   /* directory holding ca.pem, server.*, client.*, rogue.* */

/* Path of a PKI file (one of four rotating static buffers). */
static const char *pki_file(const char *name)
{
    static char bufs[4][700];
    static unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", pki, name);
    return b;
}

static void pki_make(void)
{
    if (pki[0])
        return;
    snprintf(pki, sizeof(pki), "%s/pki", harness_scratch_dir());
    const char *src = getenv("srcdir");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/conformance/tls-certs.sh' '%s'",
             src && *src ? src : EDAD_TOP_SRCDIR, pki);
    if (access(cmd + 4, F_OK) != 0 || !(src && *src))
        snprintf(cmd, sizeof(cmd), "sh '%s/tests/conformance/tls-certs.sh' '%s'",
                 EDAD_TOP_SRCDIR, pki);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "%s failed (%d): is the openssl command installed?", cmd, rc);
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

struct tls_server {
    struct harness_server h;
    uint16_t tls_port;
    char log[700];
};

/* edad with a TLS listener on a free port, the test PKI and extra lines. */
static void tls_start(struct tls_server *t, const char *extra)
{
    static unsigned seq;
    pki_make();
    memset(t, 0, sizeof(*t));
    t->tls_port = free_port();
    snprintf(t->log, sizeof(t->log), "%s/edad-%d-%u.log", harness_scratch_dir(), (int)getpid(),
             seq++);
    char conf[4096];
    snprintf(conf, sizeof(conf),
             "listeners.ssl.default = 127.0.0.1:%u\n"
             "ssl_options.cacertfile = %s\n"
             "ssl_options.certfile = %s\n"
             "ssl_options.keyfile = %s\n"
             "log.file = %s\n"
             "%s\n",
             t->tls_port, pki_file("ca.pem"), pki_file("server.pem"), pki_file("server.key"),
             t->log, extra ? extra : "");
    harness_start(&t->h, conf);
    /* edad opens its TLS listeners first; check anyway (a refused connect
       would be a port clash, not a test result) */
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->tls_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (rc == 0)
            return;
        harness_sleep_ms(20);
    }
    ck_abort_msg("edad's TLS listener on 127.0.0.1:%u does not accept", t->tls_port);
}

/* Stop; edad must exit 0 (and, under ASan, without a leak report). */
static void tls_stop(struct tls_server *t)
{
    int st = harness_stop(&t->h);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "edad stopped with status 0x%x",
                  (unsigned)st);
}

/* True when edad's log file has the text (polled up to 5 s: logs are async
   to the client's view). */
static bool log_has(const struct tls_server *t, const char *text)
{
    for (int i = 0; i < 250; i++) {
        FILE *fp = fopen(t->log, "r");
        if (fp) {
            char line[2048];
            while (fgets(line, sizeof(line), fp)) {
                if (strstr(line, text)) {
                    fclose(fp);
                    return true;
                }
            }
            fclose(fp);
        }
        harness_sleep_ms(20);
    }
    return false;
}

/* ---- rabbitmq-c over TLS ------------------------------------------------------ */

/* A TLS connection (server certificate verified against the test CA),
   with the client certificate cert/key when given; NULL when the TCP/TLS
   open failed. */
static amqp_connection_state_t tls_client(uint16_t port, const char *cert, const char *key)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_ssl_socket_new(conn);
    ck_assert_ptr_nonnull(sock);
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    ck_assert_int_eq(amqp_ssl_socket_set_cacert(sock, pki_file("ca.pem")), AMQP_STATUS_OK);
    if (cert)
        ck_assert_int_eq(amqp_ssl_socket_set_key(sock, cert, key), AMQP_STATUS_OK);
    ck_assert_int_eq(amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST),
                     AMQP_STATUS_OK);
    struct timeval tv = {10, 0};
    if (amqp_socket_open_noblock(sock, "127.0.0.1", port, &tv) != AMQP_STATUS_OK) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static amqp_rpc_reply_t login_plain(amqp_connection_state_t conn)
{
    return amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
}

static amqp_rpc_reply_t login_external(amqp_connection_state_t conn)
{
    /* the identity is ignored by the server (RabbitMQ's behaviour) */
    return amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "ignored");
}

static void assert_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        ck_abort_msg("%s: connection.close %u %.*s", what, m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    }
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "%s failed: reply type %d (%s)", what,
                  r.reply_type,
                  r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                      ? amqp_error_string2(r.library_error) : "-");
}

/* The login was refused with connection.close code and text fragment. */
static void assert_close(amqp_rpc_reply_t r, uint16_t code, const char *fragment)
{
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                      r.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
                  "want connection.close %u, got reply type %d (%s)", code, r.reply_type,
                  r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                      ? amqp_error_string2(r.library_error) : "-");
    amqp_connection_close_t *m = r.reply.decoded;
    ck_assert_uint_eq(m->reply_code, code);
    ck_assert_msg(memmem(m->reply_text.bytes, m->reply_text.len, fragment,
                         strlen(fragment)) != NULL,
                  "reply text '%.*s' lacks '%s'", (int)m->reply_text.len,
                  (const char *)m->reply_text.bytes, fragment);
}

/* Declare a queue, publish body to it, consume it back. */
static void roundtrip(amqp_connection_state_t conn, const char *queue, const char *body)
{
    amqp_channel_open(conn, 1);
    assert_ok(amqp_get_rpc_reply(conn), "channel.open");
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 0, 1, amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(conn), "queue.declare");
    amqp_basic_properties_t props = {._flags = 0};
    ck_assert_int_eq(amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue),
                                        0, 0, &props, amqp_cstring_bytes(body)),
                     AMQP_STATUS_OK);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(conn), "basic.consume");
    amqp_envelope_t env;
    struct timeval tv = {10, 0};
    amqp_maybe_release_buffers(conn);
    assert_ok(amqp_consume_message(conn, &env, &tv, 0), "consume");
    ck_assert_uint_eq(env.message.body.len, strlen(body));
    ck_assert(memcmp(env.message.body.bytes, body, strlen(body)) == 0);
    amqp_destroy_envelope(&env);
}

static void client_close(amqp_connection_state_t conn)
{
    assert_ok(amqp_connection_close(conn, AMQP_REPLY_SUCCESS), "connection.close");
    amqp_destroy_connection(conn);
}

/* ---- a raw OpenSSL client: the TLS version is the test's ------------------------ */

struct raw_result {
    bool amqp;             /* handshake done and connection.start received */
    int version;           /* negotiated (SSL_version) when the handshake completed */
    unsigned long err;     /* first OpenSSL error otherwise */
    char why[256];
};

/* Connect to port with TLS versions min..max (cert/key optional), send the
   AMQP 0-9-1 header and read the first byte of edad's answer. */
static struct raw_result raw_tls(uint16_t port, int min, int max, const char *cert,
                                 const char *key)
{
    struct raw_result r = {0};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    /* let the client offer what the test asks, even TLS 1.1 */
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, pki_file("ca.pem"), NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert) {
        ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    if (SSL_connect(ssl) == 1) {
        r.version = SSL_version(ssl);
        static const char hdr[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
        unsigned char b = 0;
        if (SSL_write(ssl, hdr, sizeof(hdr)) == (int)sizeof(hdr) && SSL_read(ssl, &b, 1) == 1)
            r.amqp = b == 1;   /* a method frame: connection.start */
    }
    if (!r.amqp) {
        r.err = ERR_peek_error();
        ERR_error_string_n(r.err, r.why, sizeof(r.why));
    }
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return r;
}

/* ---- tests ---------------------------------------------------------------------------- */

START_TEST(tls_handshake_publish_consume)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, NULL);
    amqp_connection_state_t conn = tls_client(t.tls_port, NULL, NULL);
    ck_assert_msg(conn != NULL, "TLS open failed");
    assert_ok(login_plain(conn), "login");
    roundtrip(conn, "tls-q", "over TLS");
    client_close(conn);
    ck_assert(log_has(&t, "listening on 127.0.0.1:"));
    tls_stop(&t);
}
END_TEST

START_TEST(tls_plain_listener_still_works)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, NULL);
    /* a message published over TCP is consumed over TLS */
    amqp_connection_state_t plain = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(plain);
    ck_assert_int_eq(amqp_socket_open(sock, "127.0.0.1", t.h.port), AMQP_STATUS_OK);
    assert_ok(login_plain(plain), "login over TCP");
    roundtrip(plain, "mixed-q", "plain first");
    amqp_basic_properties_t props = {._flags = 0};
    ck_assert_int_eq(amqp_basic_publish(plain, 1, amqp_empty_bytes,
                                        amqp_cstring_bytes("both-q"), 0, 0, &props,
                                        amqp_cstring_bytes("tcp to tls")), AMQP_STATUS_OK);
    amqp_connection_state_t tls = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(tls);
    assert_ok(login_plain(tls), "login over TLS");
    amqp_channel_open(tls, 1);
    assert_ok(amqp_get_rpc_reply(tls), "channel.open");
    amqp_queue_declare(plain, 1, amqp_cstring_bytes("both-q"), 0, 0, 0, 0, amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(plain), "queue.declare");
    ck_assert_int_eq(amqp_basic_publish(plain, 1, amqp_empty_bytes,
                                        amqp_cstring_bytes("both-q"), 0, 0, &props,
                                        amqp_cstring_bytes("tcp to tls")), AMQP_STATUS_OK);
    amqp_rpc_reply_t r;
    for (int i = 0; i < 100; i++) {
        r = amqp_basic_get(tls, 1, amqp_cstring_bytes("both-q"), 1);
        assert_ok(r, "basic.get");
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD)
            break;
        harness_sleep_ms(20);
    }
    ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
    amqp_message_t msg;
    assert_ok(amqp_read_message(tls, 1, &msg, 0), "read message");
    ck_assert_uint_eq(msg.body.len, strlen("tcp to tls"));
    amqp_destroy_message(&msg);
    client_close(tls);
    client_close(plain);
    tls_stop(&t);
}
END_TEST

START_TEST(tls_big_messages_both_ways)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, NULL);
    amqp_connection_state_t conn = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_plain(conn), "login");
    /* bigger than a TLS record and than frame_max: many frames, many records */
    size_t n = 1024 * 1024 + 17;
    char *body = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[n] = '\0';
    roundtrip(conn, "big-q", body);
    free(body);
    client_close(conn);
    tls_stop(&t);
}
END_TEST

/* A TLS consumer that stops reading while 20 MB are published: edad's
   output watermark pauses it, and once it reads again every message
   arrives, in order. */
START_TEST(tls_slow_consumer_gets_everything_in_order)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, NULL);
    amqp_connection_state_t cons = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(cons);
    assert_ok(login_plain(cons), "consumer login");
    amqp_channel_open(cons, 1);
    assert_ok(amqp_get_rpc_reply(cons), "channel.open");
    amqp_queue_declare(cons, 1, amqp_cstring_bytes("slow-q"), 0, 0, 0, 0, amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(cons), "queue.declare");
    amqp_basic_consume(cons, 1, amqp_cstring_bytes("slow-q"), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(cons), "basic.consume");

    amqp_connection_state_t pub = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(pub);
    ck_assert_int_eq(amqp_socket_open(sock, "127.0.0.1", t.h.port), AMQP_STATUS_OK);
    assert_ok(login_plain(pub), "publisher login");
    amqp_channel_open(pub, 1);
    assert_ok(amqp_get_rpc_reply(pub), "channel.open");
    enum { N = 2000, SIZE = 10000 };
    char *body = malloc(SIZE);
    memset(body, 'b', SIZE);
    amqp_basic_properties_t props = {._flags = 0};
    for (int i = 0; i < N; i++) {
        snprintf(body, 16, "%08d", i);
        amqp_bytes_t b = {SIZE, body};
        ck_assert_int_eq(amqp_basic_publish(pub, 1, amqp_empty_bytes,
                                            amqp_cstring_bytes("slow-q"), 0, 0, &props, b),
                         AMQP_STATUS_OK);
    }
    /* a round trip: every publish has reached edad */
    amqp_queue_declare(pub, 1, amqp_cstring_bytes("slow-q"), 1, 0, 0, 0, amqp_empty_table);
    assert_ok(amqp_get_rpc_reply(pub), "passive declare");
    harness_sleep_ms(200);
    for (int i = 0; i < N; i++) {
        amqp_envelope_t env;
        struct timeval tv = {20, 0};
        amqp_maybe_release_buffers(cons);
        assert_ok(amqp_consume_message(cons, &env, &tv, 0), "consume");
        ck_assert_uint_eq(env.message.body.len, SIZE);
        char want[16];
        snprintf(want, sizeof(want), "%08d", i);
        ck_assert_msg(memcmp(env.message.body.bytes, want, 8) == 0, "message %d out of order",
                      i);
        amqp_destroy_envelope(&env);
    }
    free(body);
    client_close(pub);
    client_close(cons);
    tls_stop(&t);
}
END_TEST

#define VERIFY_CONF "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n"

START_TEST(verify_peer_accepts_trusted_client_cert)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, VERIFY_CONF);
    amqp_connection_state_t conn = tls_client(t.tls_port, pki_file("client.pem"),
                                              pki_file("client.key"));
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_plain(conn), "login");
    roundtrip(conn, "cert-q", "with a certificate");
    client_close(conn);
    tls_stop(&t);
}
END_TEST

/* The client is refused during the handshake (TLS 1.3: the alert may come
   after the client thinks the handshake is done, so the login fails). */
static void assert_refused(uint16_t port, const char *cert, const char *key)
{
    amqp_connection_state_t conn = tls_client(port, cert, key);
    if (!conn)
        return;
    amqp_rpc_reply_t r = login_plain(conn);
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION,
                  "login succeeded or was answered (reply type %d): want a TLS failure",
                  r.reply_type);
    amqp_destroy_connection(conn);
}

START_TEST(verify_peer_fail_if_no_peer_cert_refuses_client_without_cert)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, VERIFY_CONF);
    assert_refused(t.tls_port, NULL, NULL);
    ck_assert(log_has(&t, "TLS handshake failed: peer did not return a certificate"));
    /* the raw client sees the handshake alert too */
    struct raw_result r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
    ck_assert_msg(!r.amqp, "a client without a certificate got connection.start");
    tls_stop(&t);
}
END_TEST

START_TEST(verify_peer_refuses_untrusted_client_cert)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, VERIFY_CONF);
    assert_refused(t.tls_port, pki_file("rogue.pem"), pki_file("rogue.key"));
    ck_assert(log_has(&t, "TLS handshake failed: certificate verify failed"));
    struct raw_result r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_3_VERSION,
                                  pki_file("rogue.pem"), pki_file("rogue.key"));
    ck_assert_msg(!r.amqp, "an untrusted certificate got connection.start");
    /* and a good one still gets in afterwards */
    r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_3_VERSION, pki_file("client.pem"),
                pki_file("client.key"));
    ck_assert_msg(r.amqp, "trusted client refused: %s", r.why);
    tls_stop(&t);
}
END_TEST

START_TEST(verify_peer_without_fail_lets_certless_client_in)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, "ssl_options.verify = verify_peer\n");
    amqp_connection_state_t conn = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_plain(conn), "login without a certificate");
    client_close(conn);
    /* an untrusted certificate is still refused */
    assert_refused(t.tls_port, pki_file("rogue.pem"), pki_file("rogue.key"));
    tls_stop(&t);
}
END_TEST

START_TEST(tls11_refused_tls12_and_tls13_accepted)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, NULL);
    struct raw_result r = raw_tls(t.tls_port, TLS1_1_VERSION, TLS1_1_VERSION, NULL, NULL);
    ck_assert_msg(!r.amqp, "TLS 1.1 accepted");
    ck_assert_msg(ERR_GET_REASON(r.err) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
                  "want the server's protocol_version alert, got %s", r.why);
    r = raw_tls(t.tls_port, TLS1_VERSION, TLS1_VERSION, NULL, NULL);
    ck_assert_msg(!r.amqp, "TLS 1.0 accepted");
    r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
    ck_assert_msg(r.amqp, "TLS 1.2 refused: %s", r.why);
    ck_assert_int_eq(r.version, TLS1_2_VERSION);
    r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
    ck_assert_msg(r.amqp, "TLS 1.3 refused: %s", r.why);
    ck_assert_int_eq(r.version, TLS1_3_VERSION);
    ck_assert(log_has(&t, "TLS handshake failed: unsupported protocol"));
    tls_stop(&t);
}
END_TEST

START_TEST(versions_option_restricts_to_tls13)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, "ssl_options.versions.1 = tlsv1.3\n");
    struct raw_result r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
    ck_assert_msg(!r.amqp, "TLS 1.2 accepted with versions.1 = tlsv1.3");
    r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
    ck_assert_msg(r.amqp, "TLS 1.3 refused: %s", r.why);
    tls_stop(&t);
}
END_TEST

#define EXTERNAL_CONF VERIFY_CONF "auth_mechanisms.1 = EXTERNAL\nauth_mechanisms.2 = PLAIN\n"

START_TEST(external_login_with_distinguished_name)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, EXTERNAL_CONF "default_user = " CLIENT_DN "\n");
    amqp_connection_state_t conn = tls_client(t.tls_port, pki_file("client.pem"),
                                              pki_file("client.key"));
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_external(conn), "EXTERNAL login");
    roundtrip(conn, "external-q", "authenticated by certificate");
    client_close(conn);
    ck_assert(log_has(&t, "user '" CLIENT_DN "' authenticated"));
    tls_stop(&t);
}
END_TEST

START_TEST(external_login_with_common_name)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, EXTERNAL_CONF "ssl_cert_login_from = common_name\n"
                                "default_user = edad-client\n");
    amqp_connection_state_t conn = tls_client(t.tls_port, pki_file("client.pem"),
                                              pki_file("client.key"));
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_external(conn), "EXTERNAL login");
    client_close(conn);
    ck_assert(log_has(&t, "user 'edad-client' authenticated"));
    tls_stop(&t);
}
END_TEST

START_TEST(external_unknown_user_refused)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, EXTERNAL_CONF "default_user = someone-else\n");
    amqp_connection_state_t conn = tls_client(t.tls_port, pki_file("client.pem"),
                                              pki_file("client.key"));
    ck_assert_ptr_nonnull(conn);
    assert_close(login_external(conn), 403,
                 "Login was refused using authentication mechanism EXTERNAL");
    amqp_destroy_connection(conn);
    ck_assert(log_has(&t, "EXTERNAL login refused: user '" CLIENT_DN
                          "' - invalid credentials"));
    tls_stop(&t);
}
END_TEST

START_TEST(external_without_certificate_refused)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    /* certificates requested but optional: EXTERNAL still needs one */
    tls_start(&t, "ssl_options.verify = verify_peer\nauth_mechanisms.1 = EXTERNAL\n"
                  "auth_mechanisms.2 = PLAIN\n");
    amqp_connection_state_t conn = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(conn);
    assert_close(login_external(conn), 403, "mechanism EXTERNAL");
    amqp_destroy_connection(conn);
    ck_assert(log_has(&t, "EXTERNAL login refused: connection peer presented no TLS (x.509) "
                          "certificate"));
    /* PLAIN is still offered on the same listener */
    conn = tls_client(t.tls_port, NULL, NULL);
    ck_assert_ptr_nonnull(conn);
    assert_ok(login_plain(conn), "PLAIN login");
    client_close(conn);
    tls_stop(&t);
}
END_TEST

START_TEST(external_not_offered_on_plain_tcp)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, EXTERNAL_CONF "default_user = " CLIENT_DN "\n");
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    ck_assert_int_eq(amqp_socket_open(sock, "127.0.0.1", t.h.port), AMQP_STATUS_OK);
    /* rabbitmq-c checks the offered list: EXTERNAL is not in it on TCP */
    amqp_rpc_reply_t r = login_external(conn);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_LIBRARY_EXCEPTION);
    ck_assert_int_eq(r.library_error, AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD);
    amqp_destroy_connection(conn);
    /* a raw client that picks it anyway gets 503 */
    struct raw_conn c;
    struct raw_frame f;
    struct raw_start st;
    ct_start(&c, &t.h, &f);
    ck_assert(raw_decode_start(&f, &st));
    ck_assert_str_eq(st.mechanisms, "PLAIN");
    raw_frame_free(&f);
    ck_assert(raw_send_start_ok(&c, "EXTERNAL", "", 0, true) == 0);
    static const uint16_t codes[] = {RAW_COMMAND_INVALID};
    ct_expect_drop(&c, codes, 1);
    ck_assert(log_has(&t, "invalid authentication mechanism 'EXTERNAL'"));
    raw_close(&c);
    tls_stop(&t);
}
END_TEST

START_TEST(hung_and_aborted_handshakes_do_not_leak)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct tls_server t;
    tls_start(&t, "handshake_timeout = 300\n");
    int base = harness_fd_count(&t.h);
    /* hung: connect and say nothing; edad closes after handshake_timeout */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t.tls_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, 15000) == 1, "edad never closed a silent TLS client");
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ck_assert_msg(n <= 0, "edad sent %zd bytes to a client that sent no ClientHello", n);
    close(fd);
    /* aborted: garbage, half a ClientHello, closed mid-way */
    for (int i = 0; i < 40; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        if (i % 2 == 0) {
            static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
            ck_assert_int_eq(send(fd, junk, sizeof(junk) - 1, 0), (ssize_t)sizeof(junk) - 1);
        } else {
            /* a TLS record header promising more than arrives */
            static const unsigned char part[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
            ck_assert_int_eq(send(fd, part, sizeof(part), 0), (ssize_t)sizeof(part));
        }
        close(fd);
    }
    /* a real client still works */
    struct raw_result r = raw_tls(t.tls_port, TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
    ck_assert_msg(r.amqp, "TLS refused after aborted handshakes: %s", r.why);
    int now = -1;
    for (int i = 0; i < 500 && (now = harness_fd_count(&t.h)) > base; i++)
        harness_sleep_ms(20);
    ck_assert_msg(now <= base, "edad holds %d file descriptors, %d before", now, base);
    ck_assert(log_has(&t, "TLS handshake failed"));
    tls_stop(&t);
}
END_TEST

/* ---- start-up errors ----------------------------------------------------------------- */

static char out[16384];

/* edad with a TLS listener configured by lines must refuse to start with
   a message holding fragment. */
static void assert_start_fails(const char *lines, const char *fragment)
{
    pki_make();
    char conf[4096];
    snprintf(conf, sizeof(conf), "listeners.tcp.default = 127.0.0.1:%u\n"
             "listeners.ssl.default = 127.0.0.1:%u\ndata_dir = %s/data-err\n%s",
             free_port(), free_port(), harness_scratch_dir(), lines);
    const char *path = harness_write_file("tls-bad.conf", conf);
    const char *argv[] = {"edad", "-c", path, NULL};
    int st = harness_exec(argv, out, sizeof(out), 15000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "edad started with:\n%s\n%s", lines,
                  out);
    ck_assert_msg(strstr(out, fragment) != NULL, "output lacks '%s':\n%s", fragment, out);
}

START_TEST(start_fails_on_bad_tls_files)
{
    HARNESS_NEEDS_OWN_SERVER();
    char lines[2048];
    assert_start_fails("ssl_options.keyfile = /nonexistent/k.pem\n",
                       "a TLS listener needs ssl_options.certfile and ssl_options.keyfile");
    snprintf(lines, sizeof(lines), "ssl_options.certfile = /nonexistent/cert.pem\n"
             "ssl_options.keyfile = %s\n", pki_file("server.key"));
    assert_start_fails(lines, "ssl_options.certfile /nonexistent/cert.pem: No such file or "
                       "directory");
    /* a key that is not the certificate's */
    snprintf(lines, sizeof(lines), "ssl_options.certfile = %s\nssl_options.keyfile = %s\n",
             pki_file("server.pem"), pki_file("client.key"));
    assert_start_fails(lines, "does not match ssl_options.certfile");
    assert_start_fails(lines, "key values mismatch");
    /* not PEM at all */
    snprintf(lines, sizeof(lines), "ssl_options.certfile = %s\nssl_options.keyfile = %s\n",
             harness_write_file("not-a-cert.pem", "hello\n"), pki_file("server.key"));
    assert_start_fails(lines, "cannot load a PEM certificate");
    snprintf(lines, sizeof(lines), "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
             "ssl_options.verify = verify_peer\n", pki_file("server.pem"),
             pki_file("server.key"));
    assert_start_fails(lines, "verify_peer needs ssl_options.cacertfile");
    snprintf(lines, sizeof(lines), "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
             "ssl_options.versions.1 = tlsv1.1\n", pki_file("server.pem"),
             pki_file("server.key"));
    assert_start_fails(lines, "edad accepts only TLS 1.2 and 1.3");
    snprintf(lines, sizeof(lines), "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
             "auth_mechanisms.1 = ANONYMOUS\n", pki_file("server.pem"), pki_file("server.key"));
    assert_start_fails(lines, "edad implements PLAIN, AMQPLAIN and EXTERNAL");
}
END_TEST

START_TEST(bad_tls_option_values_name_file_and_line)
{
    HARNESS_NEEDS_OWN_SERVER();
    const char *path = harness_write_file("tls-syntax.conf", "heartbeat = 60\n"
                                          "ssl_options.verify = verify_always\n");
    const char *argv[] = {"edad", "-t", "-c", path, NULL};
    int st = harness_exec(argv, out, sizeof(out), 15000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 78, "want exit 78:\n%s", out);
    ck_assert_msg(strstr(out, "tls-syntax.conf:2: ssl_options.verify: 'verify_always' is not "
                              "verify_none or verify_peer") != NULL, "output:\n%s", out);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tls_handshake_publish_consume);
    tcase_add_test(tc, tls_plain_listener_still_works);
    tcase_add_test(tc, tls_big_messages_both_ways);
    tcase_add_test(tc, tls_slow_consumer_gets_everything_in_order);
    tcase_add_test(tc, verify_peer_accepts_trusted_client_cert);
    tcase_add_test(tc, verify_peer_fail_if_no_peer_cert_refuses_client_without_cert);
    tcase_add_test(tc, verify_peer_refuses_untrusted_client_cert);
    tcase_add_test(tc, verify_peer_without_fail_lets_certless_client_in);
    tcase_add_test(tc, tls11_refused_tls12_and_tls13_accepted);
    tcase_add_test(tc, versions_option_restricts_to_tls13);
    tcase_add_test(tc, external_login_with_distinguished_name);
    tcase_add_test(tc, external_login_with_common_name);
    tcase_add_test(tc, external_unknown_user_refused);
    tcase_add_test(tc, external_without_certificate_refused);
    tcase_add_test(tc, external_not_offered_on_plain_tcp);
    tcase_add_test(tc, hung_and_aborted_handshakes_do_not_leak);
    tcase_add_test(tc, start_fails_on_bad_tls_files);
    tcase_add_test(tc, bad_tls_option_values_name_file_and_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_tls");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(tls_suite()));
}
