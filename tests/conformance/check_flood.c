/*
 * check_flood.c - edad under a flood of careless and hostile clients:
 * thousands of connections opened and dropped (FIN or RST), half-closed
 * sockets, clients that send nothing, a partial or a whole protocol header
 * and go silent, handshakes abandoned midway, clients that flood requests
 * and never read.  edad must stay up, keep serving a well-behaved client
 * all along, drop the silent ones at the handshake timeout, and give back
 * its descriptors and memory once they are gone.  Each configured limit
 * (channel_max, max_message_size, connection_max) is exceeded by one
 * client, which gets RabbitMQ's reply, while another goes on.  Bounded in
 * count and time; loopback only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctm.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sockets this process may hold at once for a batch (the soft limit is
 * raised to the hard one first). */
static int batch_size(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        int room = (int)(rl.rlim_cur > 100000 ? 100000 : rl.rlim_cur) - 64;
        if (room < want)
            want = room;
    }
    return want;
}

/* A TCP connection to s without any AMQP (-1 on failure: counted, not fatal). */
static int tcp_connect(const struct harness_server *s)
{
    struct raw_conn c;
    if (raw_connect(&c, s->host, s->port) != 0)
        return -1;
    return c.fd;
}

/* Abortive close: RST instead of FIN, as a crashed client leaves. */
static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* The well-behaved client still gets answers (a passive declare round trip). */
static void served(struct raw_conn *good, const char *q)
{
    ck_assert_uint_eq(ctm_queue_count(good, 1, q, NULL), 0);
}

/* Write requests without reading replies until the server stops reading. */
static void flood_without_reading(int fd, long max_ms)
{
    struct raw_buf b;
    raw_buf_init(&b);
    while (b.len < 32000) {
        uint8_t active = 1;
        raw_frame_method(&b, 1, RAW_CHANNEL, RAW_CHANNEL_FLOW, &active, 1);
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    long start = now_ms(), last = start;
    size_t off = 0;
    while (now_ms() - start < max_ms && now_ms() - last < 300) {
        ssize_t w = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off = (off + (size_t)w) % b.len;
            last = now_ms();
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
        poll(&p, 1, 20);
    }
    fcntl(fd, F_SETFL, fl);
    raw_buf_free(&b);
}

#define FLOOD_CHURN 2000       /* connections opened and dropped */
#define FLOOD_SILENT 150       /* of each silent kind */
#define FLOOD_ABANDONED 300    /* handshakes left midway */
#define FLOOD_READERLESS 16    /* peers flooding without reading */

START_TEST(test_flood_edad_stays_up_and_gives_back)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn good;
    char q[CTM_NAME_MAX], err[256];
    long t0 = now_ms();
    int batch = batch_size(400);
    ck_assert_msg(batch >= 50, "too few descriptors for the test (%d)", batch);
    /* freed memory goes back to the kernel, so RSS can return */
    setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    char env[1024];
    snprintf(env, sizeof(env), "%s%squarantine_size_mb=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", env, 1);
    harness_start(&s, "handshake_timeout = 2000\nconnection_max = infinity\n");

    ct_open_channel(&good, &s, 1);
    ctm_name(q, sizeof(q), "flood.good");
    ctm_queue_declare(&good, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    /* warm up: the first connections allocate what every later one reuses */
    for (int i = 0; i < 20; i++) {
        struct raw_conn c;
        ct_connect(&c, &s);
        ck_assert_msg(raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err)), "%s",
                      err);
        raw_close(&c);
    }
    harness_sleep_ms(300);
    int fd_base = harness_fd_count(&s);
    long rss_base = harness_rss_kib(&s);
    ck_assert_msg(fd_base > 0, "cannot count edad's descriptors");

    /* 1: connections opened and dropped at once (FIN or RST), in batches */
    int *fds = calloc((size_t)batch, sizeof(int));
    ck_assert(fds != NULL);
    unsigned refused = 0;
    for (int done = 0; done < FLOOD_CHURN;) {
        int n = batch;
        if (n > FLOOD_CHURN - done)
            n = FLOOD_CHURN - done;
        for (int i = 0; i < n; i++)
            fds[i] = tcp_connect(&s);
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0) {
                refused++;
                continue;
            }
            if (i % 3 == 1 && send(fds[i], "AMQP", 4, MSG_NOSIGNAL) < 0)
                refused++;
            if (i % 2)
                close_rst(fds[i]);
            else
                close(fds[i]);
        }
        done += n;
        served(&good, q);
    }
    fprintf(stderr, "flood: %d connections opened and dropped (%u connect errors) in %ld ms\n",
            FLOOD_CHURN, refused, now_ms() - t0);

    /* 2: silent peers: nothing sent, a partial header, a whole header */
    static struct raw_conn silent[3 * FLOOD_SILENT];
    int nsilent = 3 * FLOOD_SILENT < batch ? 3 * FLOOD_SILENT : batch;
    for (int i = 0; i < nsilent; i++) {
        ct_connect(&silent[i], &s);
        if (i % 3 == 1)
            ct_send(&silent[i], "AMQP\0\0", 6);
        else if (i % 3 == 2)
            ck_assert(raw_send_protocol_header(&silent[i]) == 0);
    }
    served(&good, q);

    /* half-closed: the client shuts its sending side (FIN) and waits */
    for (int i = 0; i < 50; i++) {
        struct raw_conn c;
        ct_connect(&c, &s);
        if (i % 2)
            ck_assert_msg(raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err)),
                          "%s", err);
        else
            ck_assert(raw_send_protocol_header(&c) == 0);
        shutdown(c.fd, SHUT_WR);
        ck_assert_msg(raw_wait_eof(&c, CT_CLOSE_MS) == RAW_EOF,
                      "a half-closed client was not closed");
        raw_close(&c);
    }
    served(&good, q);

    /* 3: handshakes abandoned midway (no close, no tune-ok, no open) */
    for (int i = 0; i < FLOOD_ABANDONED; i++) {
        struct raw_conn c;
        ct_connect(&c, &s);
        if (i % 2 == 0) {
            ck_assert(raw_send_protocol_header(&c) == 0);
            raw_send_start_ok_plain(&c, "guest", "guest", true);
        } else {
            ck_assert_msg(raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err)),
                          "%s", err);
        }
        raw_close(&c);
    }
    served(&good, q);

    /* 4: peers that flood requests and never read, then vanish */
    for (int i = 0; i < FLOOD_READERLESS; i++) {
        struct raw_conn c;
        ct_open_channel(&c, &s, 1);
        flood_without_reading(c.fd, 1500);
        served(&good, q);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        raw_close(&c);
    }
    long rss_peak = harness_rss_kib(&s);

    /* the silent ones are dropped at the handshake timeout */
    unsigned dropped = 0;
    for (int i = 0; i < nsilent; i++) {
        if (raw_wait_eof(&silent[i], 15000) == RAW_EOF)
            dropped++;
        raw_close(&silent[i]);
    }
    ck_assert_msg(dropped == (unsigned)nsilent, "%u of %d silent peers were not dropped",
                  nsilent - dropped, nsilent);
    served(&good, q);

    /* everything given back: descriptors to the baseline, memory near it */
    int fds_now = -1;
    long rss_now = -1;
    long deadline = now_ms() + 15000;
    do {
        harness_sleep_ms(200);
        fds_now = harness_fd_count(&s);
        rss_now = harness_rss_kib(&s);
    } while ((fds_now > fd_base || rss_now > rss_base + 32 * 1024) && now_ms() < deadline);
    fprintf(stderr, "flood: descriptors %d -> %d; RSS %ld KiB -> peak %ld -> %ld KiB; "
                    "%ld ms in all\n", fd_base, fds_now, rss_base, rss_peak, rss_now,
            now_ms() - t0);
    ck_assert_msg(fds_now <= fd_base, "edad holds %d descriptors, %d before the flood", fds_now,
                  fd_base);
    ck_assert_msg(rss_now <= rss_base + 32 * 1024, "RSS %ld KiB after the flood, %ld KiB "
                  "before", rss_now, rss_base);

    /* and it still works for newcomers */
    struct raw_conn late;
    ct_open_channel(&late, &s, 1);
    ctm_publish_str(&late, 1, "", q, "after the flood");
    ctm_wait_count(&good, 1, q, 1);
    raw_close(&late);
    raw_close(&good);
    free(fds);
    int st = harness_stop(&s);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "edad did not stop cleanly after the "
                  "flood (status 0x%x)", (unsigned)st);
}
END_TEST

/*
 * Limits with RabbitMQ's replies, each exceeded by one client while a
 * well-behaved one goes on: channel_max (530, connection closed),
 * max_message_size (406, the channel only), connection_max (530 at open).
 */
START_TEST(test_limits_exceeded_others_unaffected)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn good, a, b, c, d;
    struct raw_tune t;
    char q[CTM_NAME_MAX], err[256];
    harness_start(&s, "channel_max = 4\nmax_message_size = 1024\nconnection_max = 3\n");
    ct_open_channel(&good, &s, 1);
    ctm_name(q, sizeof(q), "limits.good");
    ctm_queue_declare(&good, 1, q, 0, NULL, NULL, 0, NULL, NULL);

    /* channel_max: the fifth channel closes that connection */
    ct_open(&a, &s, 0);
    for (uint16_t ch = 1; ch <= 4; ch++)
        ck_assert_msg(raw_channel_open(&a, ch, err, sizeof(err)), "channel %u: %s",
                      (unsigned)ch, err);
    ck_assert(raw_send_channel_open(&a, 5) == 0);
    ct_expect_connection_close(&a, RAW_NOT_ALLOWED, "NOT_ALLOWED|channel_max", -1, -1);
    raw_close(&a);
    served(&good, q);

    /* max_message_size: 406 on that channel; the connection goes on */
    ct_open_channel(&b, &s, 1);
    static char big[2048];
    memset(big, 'x', sizeof(big));
    ctm_publish(&b, 1, "", q, 0, NULL, big, sizeof(big));
    ctm_expect_channel_error(&b, 1, CTM_PRECONDITION_FAILED,
                             "PRECONDITION_FAILED|larger than configured max size 1024",
                             RAW_BASIC, CTM_BASIC_PUBLISH);
    ctm_publish_str(&b, 1, "", q, "small");
    ctm_wait_count(&good, 1, q, 1);

    /* connection_max: good and b are open; one more fits, the next is refused */
    bool opened = false;
    for (int i = 0; i < 50 && !opened; i++) {
        ct_connect(&c, &s);
        opened = raw_handshake(&c, "guest", "guest", 0, NULL, err, sizeof(err));
        if (!opened) {
            raw_close(&c);
            harness_sleep_ms(100);   /* a's slot is freed once its socket is closed */
        }
    }
    ck_assert_msg(opened, "a third connection was refused: %s", err);
    ct_start(&d, &s, NULL);
    ct_start_ok_tune(&d, &t);
    raw_send_tune_ok(&d, t.channel_max, t.frame_max, 0);
    raw_send_connection_open(&d, "/");
    ct_expect_connection_close(&d, RAW_NOT_ALLOWED, "NOT_ALLOWED|connection limit (3)",
                               RAW_CONNECTION, RAW_CONNECTION_OPEN);
    raw_close(&d);
    ck_assert_msg(raw_channel_open(&c, 1, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(ctm_queue_count(&good, 1, q, NULL), 1);
    raw_close(&c);
    raw_close(&b);
    raw_close(&good);
    harness_stop(&s);
}
END_TEST

static Suite *flood_suite(void)
{
    Suite *s = suite_create("flood");
    TCase *tc = tcase_create("flood");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_flood_edad_stays_up_and_gives_back);
    tcase_add_test(tc, test_limits_exceeded_others_unaffected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_flood");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(flood_suite()));
}
