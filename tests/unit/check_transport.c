/*
 * check_transport.c - the net layer's plain TCP transport through real
 * loopback sockets: large round trips, the read high watermark, owner
 * pause/resume, the output high watermark and on_drained, close after
 * flush, EOF reasons, input_again ordering against 0 ms timers, add_ref
 * cleanups and the byte counters, each without and with the writer
 * thread (test cases "plain" and "writer"), and input_again over TLS.
 * The AMQP side is check_session's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "edad/net.h"

#ifdef HAVE_OPENSSL
#include <openssl/ssl.h>
#endif

/* What the server side does with input. */
enum mode {
    MODE_ECHO,        /* copy every input byte to the output */
    MODE_KEEP,        /* leave input buffered */
    MODE_ONE_AGAIN,   /* consume one byte per on_read, input_again for the rest */
};

struct fx {
    struct net_loop *loop;
    struct net_listener *l;
    struct net_transport *t;
    struct net_timer *timer;
    enum mode mode;
    int fd;
    unsigned n_read, n_drained, n_eof, n_closed, n_cleanup;
    size_t max_input;          /* largest input seen in on_read */
    char eof_reason[128];
    char trace[64];            /* 'r' per on_read, 't' per timer */
    size_t trace_len;
    uint8_t *rx;               /* client side: bytes received */
    size_t rx_len, rx_cap;
};

static struct fx F;
/* The "writer" test case runs every test with a writer thread. */
static int io_threads;

static void tr(char c)
{
    if (F.trace_len + 1 < sizeof(F.trace))
        F.trace[F.trace_len++] = c;
}

static void on_read(void *ctx)
{
    ck_assert_ptr_eq(ctx, &F);
    F.n_read++;
    tr('r');
    size_t n = net_transport_input_len(F.t);
    if (n > F.max_input)
        F.max_input = n;
    switch (F.mode) {
    case MODE_ECHO:
        while ((n = net_transport_input_len(F.t)) > 0) {
            if (n > 100000)
                n = 100000;
            const uint8_t *p = net_transport_input_pullup(F.t, n);
            ck_assert_ptr_nonnull(p);
            ck_assert_int_eq(net_transport_output_add(F.t, p, n), EDAD_OK);
            net_transport_input_drain(F.t, n);
        }
        break;
    case MODE_KEEP:
        break;
    case MODE_ONE_AGAIN:
        if (n > 0)
            net_transport_input_drain(F.t, 1);
        if (net_transport_input_len(F.t) > 0)
            net_transport_input_again(F.t);
        net_timer_start(F.timer, 0, false);
        break;
    }
}

static void on_drained(void *ctx)
{
    EDAD_UNUSED(ctx);
    F.n_drained++;
}

static void on_eof(void *ctx, const char *reason)
{
    EDAD_UNUSED(ctx);
    F.n_eof++;
    snprintf(F.eof_reason, sizeof(F.eof_reason), "%s", reason);
    net_transport_close(F.t, 0);
}

static void on_closed(void *ctx)
{
    EDAD_UNUSED(ctx);
    F.n_closed++;
    F.t = NULL;
}

static const struct net_transport_handler handler = {
    .on_read = on_read,
    .on_drained = on_drained,
    .on_eof = on_eof,
    .on_closed = on_closed,
};

static void on_accept(void *arg, struct net_transport *t)
{
    ck_assert_ptr_eq(arg, &F);
    F.t = t;
    net_transport_start(t, &handler, &F);
}

static void on_timer(void *arg)
{
    EDAD_UNUSED(arg);
    tr('t');
}

static void pump(void)
{
    for (int i = 0; i < 3; i++)
        net_loop_run_pending(F.loop);
}

static void fx_open_tls(size_t output_high_water, size_t read_high_water, struct net_tls *tls)
{
    char err[256];
    memset(&F, 0, sizeof(F));
    log_set_level(getenv("CK_LOG") ? EDAD_LOG_DEBUG : EDAD_LOG_NONE);
    F.loop = net_loop_new();
    net_loop_set_io_threads(F.loop, io_threads);
    if (!getenv("EDAD_NET_IO_THREADS"))
        ck_assert_uint_eq(net_loop_io_threads(F.loop), (unsigned)io_threads);
    F.timer = net_timer_new(F.loop, on_timer, NULL);
    struct net_transport_opts o = {.output_high_water = output_high_water,
                                   .read_high_water = read_high_water, .tcp_nodelay = true,
                                   .tls = tls};
    F.l = net_listener_new(F.loop, "127.0.0.1", 0, 16, &o, on_accept, &F, err, sizeof(err));
    ck_assert_msg(F.l != NULL, "%s", err);
    F.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(net_listener_port(F.l)),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    ck_assert_int_eq(connect(F.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(F.fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 1000 && !F.t; i++) {
        pump();
        if (!F.t)
            poll(NULL, 0, 1);
    }
    ck_assert_ptr_nonnull(F.t);
    ck_assert_int_eq(net_loop_transport_count(F.loop), 1);
}

static void fx_open(size_t output_high_water, size_t read_high_water)
{
    fx_open_tls(output_high_water, read_high_water, NULL);
}

static void fx_teardown(void)
{
    if (F.fd >= 0)
        close(F.fd);
    if (F.t)
        net_transport_close(F.t, 0);
    for (int i = 0; i < 10 && F.t; i++)
        pump();
    ck_assert_int_eq(net_loop_transport_count(F.loop), 0);
    net_listener_free(F.l);
    net_timer_free(F.timer);
    net_loop_free(F.loop);
    free(F.rx);
}

/* Client: receive what is there into F.rx; true on EOF. */
static bool client_recv(void)
{
    for (;;) {
        if (F.rx_cap - F.rx_len < 65536) {
            F.rx_cap = F.rx_cap ? F.rx_cap * 2 : 1 << 20;
            F.rx = realloc(F.rx, F.rx_cap);
            ck_assert_ptr_nonnull(F.rx);
        }
        ssize_t n = recv(F.fd, F.rx + F.rx_len, F.rx_cap - F.rx_len, 0);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
        F.rx_len += (size_t)n;
    }
}

/* Pump and receive until want bytes arrived (or EOF when want is 0);
   false after ~5 s. */
static bool client_wait(size_t want, bool until_eof)
{
    for (int i = 0; i < 5000; i++) {
        pump();
        bool eof = client_recv();
        if (until_eof ? eof : F.rx_len >= want)
            return true;
        struct pollfd p = {.fd = F.fd, .events = POLLIN};
        poll(&p, 1, 1);
    }
    return false;
}

/* Pump until the output is all sent and handed back (the writer thread
   gives its part back through the loop); false after ~5 s. */
static bool settle_output(void)
{
    for (int i = 0; i < 5000; i++) {
        pump();
        if (!F.t || net_transport_output_len(F.t) == 0)
            return true;
        poll(NULL, 0, 1);
    }
    return false;
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 11));
}

static void check_pattern(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(i))
            ck_abort_msg("byte %zu: %u, want %u", i, p[i], pattern(i));
    }
}

START_TEST(test_echo_large)
{
    fx_open(1 << 20, 256 * 1024);
    F.mode = MODE_ECHO;
    size_t total = 8u << 20, sent = 0;
    uint8_t *src = malloc(total);
    for (size_t i = 0; i < total; i++)
        src[i] = pattern(i);
    for (int i = 0; i < 20000 && F.rx_len < total; i++) {
        if (sent < total) {
            ssize_t n = send(F.fd, src + sent, total - sent, MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        pump();
        client_recv();
        if (F.rx_len < total) {
            struct pollfd p = {.fd = F.fd, .events = POLLIN};
            poll(&p, 1, 1);
        }
    }
    ck_assert_uint_eq(F.rx_len, total);
    check_pattern(F.rx, total);
    ck_assert_uint_le(F.max_input, 256 * 1024);
    ck_assert_uint_eq(net_transport_bytes_received(F.t), total);
    ck_assert_uint_eq(net_transport_bytes_queued(F.t), total);
    /* large reads: far fewer input arrivals than 4 KiB pieces */
    ck_assert_uint_lt(net_transport_reads(F.t), total / 4096);
    ck_assert(settle_output());
    uint64_t rcv, snt;
    net_transport_totals(&rcv, &snt);
    ck_assert_uint_ge(rcv, total);
    ck_assert_uint_ge(snt, total);
    free(src);
    fx_teardown();
}
END_TEST

START_TEST(test_read_high_water)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    net_transport_set_read_high_water(F.t, 10000);
    static uint8_t buf[100000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = pattern(i);
    ck_assert_int_eq(send(F.fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
    for (int i = 0; i < 50 && net_transport_input_len(F.t) < 10000; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    pump();
    ck_assert_uint_eq(net_transport_input_len(F.t), 10000);
    ck_assert(net_transport_read_paused(F.t));
    /* draining below the mark reads on; large values work */
    net_transport_set_read_high_water(F.t, 512 * 1024);
    for (int i = 0; i < 100 && net_transport_input_len(F.t) < sizeof(buf); i++) {
        pump();
        poll(NULL, 0, 1);
    }
    ck_assert_uint_eq(net_transport_input_len(F.t), sizeof(buf));
    uint8_t got[sizeof(buf)];
    ck_assert_uint_eq(net_transport_input_peek(F.t, got, sizeof(got)), sizeof(got));
    check_pattern(got, sizeof(got));
    size_t clen = 0;
    const uint8_t *c = net_transport_input_contig(F.t, &clen);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_gt(clen, 0);
    ck_assert_uint_le(clen, sizeof(buf));
    check_pattern(c, clen);
    net_transport_input_drain(F.t, 5000);
    const uint8_t *p = net_transport_input_pullup(F.t, 1000);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p[0], pattern(5000));
    ck_assert_ptr_null(net_transport_input_pullup(F.t, sizeof(buf)));
    fx_teardown();
}
END_TEST

START_TEST(test_pause_resume)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    net_transport_pause_read(F.t);
    ck_assert(net_transport_read_paused(F.t));
    ck_assert_int_eq(send(F.fd, "hello", 5, 0), 5);
    for (int i = 0; i < 20; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    ck_assert_uint_eq(F.n_read, 0);
    ck_assert_uint_eq(net_transport_input_len(F.t), 0);
    size_t clen = 1;
    ck_assert_ptr_null(net_transport_input_contig(F.t, &clen));
    ck_assert_uint_eq(clen, 0);
    net_transport_resume_read(F.t);
    ck_assert(!net_transport_read_paused(F.t));
    for (int i = 0; i < 100 && F.n_read == 0; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    ck_assert_uint_eq(F.n_read, 1);
    ck_assert_uint_eq(net_transport_input_len(F.t), 5);
    ck_assert_uint_eq(net_transport_reads(F.t), 1);
    fx_teardown();
}
END_TEST

START_TEST(test_output_high_water)
{
    fx_open(64 * 1024, 65536);
    F.mode = MODE_KEEP;
    /* shrink the client's receive buffer so the server's output backs up */
    static uint8_t chunk[100000];
    size_t total = 0;
    for (int i = 0; i < 40; i++) {
        for (size_t j = 0; j < sizeof(chunk); j++)
            chunk[j] = pattern(total + j);
        ck_assert_int_eq(net_transport_output_add(F.t, chunk, sizeof(chunk)), EDAD_OK);
        total += sizeof(chunk);
    }
    ck_assert(net_transport_output_saturated(F.t));
    ck_assert(net_transport_read_paused(F.t));
    ck_assert_uint_eq(F.n_drained, 0);
    /* nothing is written inside the owner's call */
    ck_assert_uint_eq(net_transport_output_len(F.t), total);
    ck_assert(client_wait(total, false));
    ck_assert_uint_eq(F.rx_len, total);
    check_pattern(F.rx, total);
    ck_assert(settle_output());
    ck_assert_uint_eq(F.n_drained, 1);
    ck_assert(!net_transport_output_saturated(F.t));
    ck_assert(!net_transport_read_paused(F.t));
    fx_teardown();
}
END_TEST

static void cleanup_count(const void *data, size_t len, void *arg)
{
    EDAD_UNUSED(data);
    EDAD_UNUSED(len);
    ck_assert_ptr_eq(arg, &F);
    F.n_cleanup++;
}

START_TEST(test_close_after_flush)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    size_t total = 3u << 20;
    uint8_t *src = malloc(total);
    for (size_t i = 0; i < total; i++)
        src[i] = pattern(i);
    /* copied and by-reference pieces mixed */
    for (size_t off = 0; off < total; off += 65536) {
        if ((off / 65536) % 2)
            ck_assert_int_eq(net_transport_output_add_ref(F.t, src + off, 65536, cleanup_count,
                                                          &F), EDAD_OK);
        else
            ck_assert_int_eq(net_transport_output_add(F.t, src + off, 65536), EDAD_OK);
    }
    net_transport_close(F.t, 10000);
    ck_assert(net_transport_is_closing(F.t));
    ck_assert_uint_eq(net_transport_output_len(F.t), total);
    ck_assert_int_eq(net_transport_output_add(F.t, "x", 1), EDAD_ERR_STATE);
    ck_assert_int_eq(net_transport_output_add_ref(F.t, "x", 1, cleanup_count, &F),
                     EDAD_ERR_STATE);
    ck_assert_uint_eq(F.n_cleanup, 1);   /* refused: cleaned up at once */
    ck_assert(client_wait(0, true));
    ck_assert_uint_eq(F.rx_len, total);
    check_pattern(F.rx, total);
    for (int i = 0; i < 10 && F.t; i++)
        pump();
    ck_assert_uint_eq(F.n_closed, 1);
    ck_assert_uint_eq(F.n_eof, 0);
    ck_assert_uint_eq(F.n_cleanup, 1 + total / 65536 / 2);
    free(src);
    fx_teardown();
}
END_TEST

START_TEST(test_close_drop)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    static uint8_t big[1 << 20];
    ck_assert_int_eq(net_transport_output_add_ref(F.t, big, sizeof(big), cleanup_count, &F),
                     EDAD_OK);
    net_transport_close(F.t, 0);
    ck_assert_ptr_nonnull(F.t);   /* never freed inside the owner's call */
    pump();
    ck_assert_ptr_null(F.t);
    ck_assert_uint_eq(F.n_closed, 1);
    ck_assert_uint_eq(F.n_cleanup, 1);
    fx_teardown();
}
END_TEST

START_TEST(test_close_while_writing)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    static uint8_t big[4 << 20];
    ck_assert_int_eq(net_transport_output_add_ref(F.t, big, sizeof(big), cleanup_count, &F),
                     EDAD_OK);
    /* the peer does not read: the socket fills, the rest stays queued */
    for (int i = 0; i < 20; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    /* (what the writer holds counts as queued until it gives it back) */
    ck_assert_uint_gt(net_transport_output_len(F.t), 0);
    ck_assert_uint_eq(F.n_cleanup, 0);
    net_transport_close(F.t, 0);
    for (int i = 0; i < 1000 && F.t; i++) {
        pump();
        if (F.t)
            poll(NULL, 0, 1);
    }
    ck_assert_ptr_null(F.t);
    ck_assert_uint_eq(F.n_closed, 1);
    ck_assert_uint_eq(F.n_cleanup, 1);
    fx_teardown();
}
END_TEST

START_TEST(test_eof_reason)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_ECHO;
    ck_assert_int_eq(send(F.fd, "abc", 3, 0), 3);
    shutdown(F.fd, SHUT_WR);
    ck_assert(client_wait(0, true));
    ck_assert_uint_eq(F.rx_len, 3);   /* the bytes before the EOF were handled */
    ck_assert_uint_eq(F.n_eof, 1);
    ck_assert_str_eq(F.eof_reason, "connection closed by peer");
    for (int i = 0; i < 10 && F.t; i++)
        pump();
    ck_assert_uint_eq(F.n_closed, 1);
    fx_teardown();
}
END_TEST

START_TEST(test_reset_reason)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(F.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(F.fd);
    F.fd = -1;
    for (int i = 0; i < 1000 && F.n_eof == 0; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    ck_assert_uint_eq(F.n_eof, 1);
    ck_assert_str_eq(F.eof_reason, strerror(ECONNRESET));
    fx_teardown();
}
END_TEST

START_TEST(test_input_again)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_ONE_AGAIN;
    ck_assert_int_eq(send(F.fd, "abcd", 4, 0), 4);
    for (int i = 0; i < 100 && net_transport_input_len(F.t) + F.n_read < 4; i++) {
        pump();
        poll(NULL, 0, 1);
    }
    for (int i = 0; i < 20; i++)
        pump();
    ck_assert_uint_eq(net_transport_input_len(F.t), 0);
    ck_assert_uint_eq(F.n_read, 4);
    ck_assert_uint_eq(net_transport_reads(F.t), 1);   /* one arrival */
    /* the 0 ms timer started by each on_read runs before the next one */
    ck_assert_str_eq(F.trace, "rtrtrtrt");
    fx_teardown();
}
END_TEST

START_TEST(test_input_again_closing)
{
    fx_open(1 << 20, 65536);
    F.mode = MODE_KEEP;
    net_transport_input_again(F.t);
    net_transport_input_again(F.t);   /* one call */
    for (int i = 0; i < 5; i++)
        pump();
    ck_assert_uint_eq(F.n_read, 1);
    net_transport_input_again(F.t);
    net_transport_close(F.t, 0);
    for (int i = 0; i < 5; i++)
        pump();
    ck_assert_uint_eq(F.n_read, 1);
    ck_assert_uint_eq(F.n_closed, 1);
    fx_teardown();
}
END_TEST

#ifdef HAVE_OPENSSL
/* The TLS client runs on its own thread with a blocking socket. */
static atomic_int tls_client_state;   /* 0 running, 1 ok, -1 failed */
static char tls_client_got[8];

static void *tls_client_main(void *arg)
{
    SSL_CTX *ctx = arg;
    SSL *ssl = SSL_new(ctx);
    int ok = ssl && SSL_set_fd(ssl, F.fd) == 1 && SSL_connect(ssl) == 1 &&
             SSL_write(ssl, "abcd", 4) == 4;
    size_t got = 0;
    while (ok && got < 4) {
        int n = SSL_read(ssl, tls_client_got + got, (int)(4 - got));
        if (n <= 0)
            ok = 0;
        else
            got += (size_t)n;
    }
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    atomic_store(&tls_client_state, ok ? 1 : -1);
    return NULL;
}

START_TEST(test_tls_input_again)
{
    char dir[] = "/tmp/edad-check-transport-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[512], cert[128], key[128], err[256];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -subj /CN=localhost -days 1 -keyout '%s' -out '%s' 2>/dev/null", key, cert);
    ck_assert_int_eq(system(cmd), 0);
    struct net_tls_opts to = {.certfile = cert, .keyfile = key, .tls12 = true, .tls13 = true};
    struct net_tls *tls = net_tls_new(&to, err, sizeof(err));
    ck_assert_msg(tls != NULL, "%s", err);
    fx_open_tls(1 << 20, 65536, tls);
    ck_assert(net_transport_is_tls(F.t));
    F.mode = MODE_ONE_AGAIN;
    fcntl(F.fd, F_SETFL, 0);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(cctx);
    atomic_store(&tls_client_state, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, tls_client_main, cctx), 0);
    bool answered = false;
    for (int i = 0; i < 5000 && atomic_load(&tls_client_state) == 0; i++) {
        pump();
        if (!answered && F.n_read == 4 && net_transport_input_len(F.t) == 0) {
            ck_assert_int_eq(net_transport_output_add(F.t, "wxyz", 4), EDAD_OK);
            answered = true;
        }
        poll(NULL, 0, 1);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&tls_client_state), 1);
    ck_assert_mem_eq(tls_client_got, "wxyz", 4);
    ck_assert_uint_eq(F.n_read, 4);
    ck_assert_str_eq(F.trace, "rtrtrtrt");
    ck_assert_uint_eq(net_tls_handshakes(tls), 1);
    fx_teardown();
    SSL_CTX_free(cctx);
    net_tls_free(tls);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}
END_TEST
#endif

static void use_writer(void)
{
    io_threads = 1;
}

static void add_tests(TCase *tc)
{
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_echo_large);
    tcase_add_test(tc, test_read_high_water);
    tcase_add_test(tc, test_pause_resume);
    tcase_add_test(tc, test_output_high_water);
    tcase_add_test(tc, test_close_after_flush);
    tcase_add_test(tc, test_close_drop);
    tcase_add_test(tc, test_close_while_writing);
    tcase_add_test(tc, test_eof_reason);
    tcase_add_test(tc, test_reset_reason);
    tcase_add_test(tc, test_input_again);
    tcase_add_test(tc, test_input_again_closing);
#ifdef HAVE_OPENSSL
    tcase_add_test(tc, test_tls_input_again);
#endif
}

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("plain");
    add_tests(tc);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, use_writer, NULL);
    add_tests(tc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(transport_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
