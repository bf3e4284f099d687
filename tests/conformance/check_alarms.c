/*
 * check_alarms.c - resource alarms as RabbitMQ applies them: the
 * connection.blocked capability, a memory alarm from a small absolute
 * watermark (and one set and lifted by SIGHUP), a disk alarm from a
 * free-space limit, and a real disk-full
 * (ENOSPC) on a tiny tmpfs: the publisher gets connection.blocked with
 * RabbitMQ's reason and is no longer read (nor dropped for heartbeats),
 * a consumer on another connection keeps receiving, and
 * connection.unblocked follows when the alarm clears (a client without the
 * capability is blocked without being told).  Raw frames only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "ctm.h"

#define RAW_CONNECTION_BLOCKED 60
#define RAW_CONNECTION_UNBLOCKED 61

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Send without blocking for more than stall_ms once the peer stops
 * reading: returns the bytes sent (all of b unless the peer stalled).
 */
static size_t send_nb(struct raw_conn *c, const struct raw_buf *b, int stall_ms)
{
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    size_t off = 0;
    long last = now_ms();
    while (off < b->len && now_ms() - last < stall_ms) {
        ssize_t w = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            last = now_ms();
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ck_abort_msg("send failed after %zu bytes: %s", off, strerror(errno));
        struct pollfd p = {.fd = c->fd, .events = POLLOUT, .revents = 0};
        poll(&p, 1, 50);
    }
    fcntl(c->fd, F_SETFL, fl);
    return off;
}

/*
 * Read what c has within timeout_ms, skipping heartbeats: true when
 * connection.<method_id> arrived (its shortstr reason, if any, to reason).
 * Any other frame fails the test; so does the end of the stream.
 */
static bool poll_for(struct raw_conn *c, uint16_t method_id, int timeout_ms, char *reason,
                     size_t rlen)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        long left = deadline - now_ms();
        struct raw_frame f;
        enum raw_rc rc = raw_read_frame(c, &f, left > 0 ? (int)left : 0);
        if (rc == RAW_TIMEOUT)
            return false;
        ck_assert_msg(rc == RAW_OK, "connection ended (rc %d) while waiting for connection "
                                    "method %u", (int)rc, (unsigned)method_id);
        if (f.type == RAW_FRAME_HEARTBEAT) {
            raw_frame_free(&f);
            continue;
        }
        char d[256];
        ck_assert_msg(raw_frame_is(&f, 0, RAW_CONNECTION, method_id),
                      "expected connection method %u, got %s", (unsigned)method_id,
                      raw_frame_describe(&f, d, sizeof(d)));
        if (reason && rlen) {
            struct raw_cursor cur;
            raw_cursor_init(&cur, f.payload + 4, f.size - 4);
            if (method_id == RAW_CONNECTION_BLOCKED)
                raw_get_shortstr(&cur, reason, rlen);
            else
                reason[0] = '\0';
        }
        raw_frame_free(&f);
        return true;
    }
}

/* Only heartbeats arrive on c for ms milliseconds (whatever its heartbeat). */
static void expect_quiet(struct raw_conn *c, int ms)
{
    long deadline = now_ms() + ms;
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return;
        struct raw_frame f;
        enum raw_rc rc = raw_read_frame(c, &f, (int)left);
        if (rc == RAW_TIMEOUT)
            return;
        char d[256] = "";
        ck_assert_msg(rc == RAW_OK, "connection ended (rc %d) while quiet", (int)rc);
        bool hb = f.type == RAW_FRAME_HEARTBEAT;
        if (!hb)
            raw_frame_describe(&f, d, sizeof(d));
        raw_frame_free(&f);
        ck_assert_msg(hb, "expected nothing but heartbeats, got %s", d);
    }
}

/* Publish 'body_len'-byte messages to queue q on p until connection.blocked
 * arrives (its reason in reason); returns how many were sent whole. */
static unsigned publish_until_blocked(struct raw_conn *p, const char *q, size_t body_len,
                                      const struct ctm_props *props, unsigned max,
                                      int pause_ms, char *reason, size_t rlen)
{
    uint8_t *body = calloc(1, body_len);
    ck_assert(body != NULL);
    struct raw_buf b;
    raw_buf_init(&b);
    unsigned sent = 0;
    bool blocked = false;
    while (!blocked && sent < max) {
        raw_buf_reset(&b);
        ctm_put_publish(&b, p, 1, "", q, 0, props, body, body_len, 0);
        size_t n = send_nb(p, &b, 2000);
        if (n == b.len)
            sent++;
        /* a stalled send means edad stopped reading: the frame is on its way */
        blocked = poll_for(p, RAW_CONNECTION_BLOCKED, n == b.len ? pause_ms : CT_CLOSE_MS,
                           reason, rlen);
        if (n != b.len)
            ck_assert_msg(blocked, "edad stopped reading the publisher without "
                                   "connection.blocked");
    }
    raw_buf_free(&b);
    free(body);
    ck_assert_msg(blocked, "no connection.blocked after %u messages of %zu bytes", sent,
                  body_len);
    return sent;
}

/* What the publisher of the memory test has seen. */
struct pub_state {
    bool blocked;
    unsigned n_blocked, n_unblocked;
    bool declare_ok;
    long last_hb;
};

/*
 * Read the publisher for ms milliseconds, sending a heartbeat every 300 ms:
 * heartbeats, connection.blocked / unblocked and a declare-ok are fine,
 * anything else (or the end of the connection) fails the test.
 */
static void pump_publisher(struct raw_conn *c, struct pub_state *ps, int ms)
{
    long deadline = now_ms() + ms;
    for (;;) {
        if (now_ms() - ps->last_hb >= 300) {
            struct raw_buf hb;
            raw_buf_init(&hb);
            raw_frame_heartbeat(&hb, 0);
            ck_assert_msg(send_nb(c, &hb, 1000) == hb.len, "heartbeat not sent");
            raw_buf_free(&hb);
            ps->last_hb = now_ms();
        }
        long left = deadline - now_ms();
        if (left <= 0)
            return;
        struct raw_frame f;
        enum raw_rc rc = raw_read_frame(c, &f, (int)(left < 100 ? left : 100));
        if (rc == RAW_TIMEOUT)
            continue;
        ck_assert_msg(rc == RAW_OK, "the publisher's connection ended (rc %d)", (int)rc);
        char d[256];
        if (raw_frame_is(&f, 0, RAW_CONNECTION, RAW_CONNECTION_BLOCKED)) {
            ps->blocked = true;
            ps->n_blocked++;
        } else if (raw_frame_is(&f, 0, RAW_CONNECTION, RAW_CONNECTION_UNBLOCKED)) {
            ps->blocked = false;
            ps->n_unblocked++;
        } else if (raw_frame_is(&f, 1, RAW_QUEUE, CTM_QUEUE_DECLARE_OK)) {
            ps->declare_ok = true;
        } else {
            ck_assert_msg(f.type == RAW_FRAME_HEARTBEAT, "publisher got %s",
                          raw_frame_describe(&f, d, sizeof(d)));
        }
        raw_frame_free(&f);
    }
}

/* ---- the capability -------------------------------------------------------------- */

START_TEST(test_capability_connection_blocked_advertised)
{
    struct raw_conn c;
    struct raw_frame f;
    struct raw_start st;
    ct_start(&c, &harness_default, &f);
    ck_assert(raw_decode_start(&f, &st));
    uint8_t type = 0;
    const uint8_t *caps = NULL;
    uint32_t caps_len = 0;
    ck_assert(raw_table_find(st.server_properties, st.server_properties_len, "capabilities",
                             &type, &caps, &caps_len) && type == 'F');
    bool v = false;
    ck_assert_msg(raw_table_get_bool(caps, caps_len, "connection.blocked", &v) && v,
                  "connection.start does not advertise connection.blocked");
    raw_frame_free(&f);
    raw_close(&c);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------- */

/* Freed bodies go back to the kernel at once, so RSS falls when a queue drains. */
static void daemon_env_returns_memory(void)
{
    setenv("MALLOC_MMAP_THRESHOLD_", "65536", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s%squarantine_size_mb=0", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
}

START_TEST(test_memory_alarm_blocks_publisher_consumer_goes_on)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, cons, probe;
    char conf[256], reason[256] = "", q[CTM_NAME_MAX];
    daemon_env_returns_memory();

    /* the baseline: a daemon with one connection */
    harness_start(&s, "alarms.check_interval = 100\n");
    ct_open_channel(&probe, &s, 1);
    long base_kib = harness_rss_kib(&s);
    raw_close(&probe);
    harness_stop(&s);
    ck_assert_msg(base_kib > 0, "cannot read edad's RSS");

    long limit = base_kib * 1024 + 40L * 1024 * 1024;
    snprintf(conf, sizeof(conf), "vm_memory_high_watermark.absolute = %ld\n"
                                 "alarms.check_interval = 100\n", limit);
    harness_start(&s, conf);
    ct_open_channel(&cons, &s, 1);
    ctm_name(q, sizeof(q), "alarm.mem");
    ctm_queue_declare(&cons, 1, q, 0, NULL, NULL, 0, NULL, NULL);

    /* heartbeat 1 s: a blocked publisher must outlive several intervals */
    ct_open(&pub, &s, 1);
    char err[256];
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    unsigned sent = publish_until_blocked(&pub, q, 256 * 1024, NULL, 2000, 20, reason,
                                          sizeof(reason));
    fprintf(stderr, "memory: blocked after %u x 256 KiB (limit %ld KiB, baseline %ld KiB, "
                    "RSS %ld KiB): '%s'\n", sent, limit / 1024, base_kib, harness_rss_kib(&s),
            reason);
    ck_assert_str_eq(reason, "low on memory");

    /*
     * Not dropped for heartbeats while blocked.  It sends a heartbeat every
     * 300 ms, which edad does not read while it is blocked; near the
     * watermark the alarm may clear and fire again on its own (RSS moves
     * as buffers are freed), so blocked / unblocked may come and go.
     */
    struct pub_state ps = {.blocked = true};
    pump_publisher(&pub, &ps, 3500);

    /* the consumer's connection is read: it consumes, the queue drains */
    ctm_basic_consume(&cons, 1, q, "", CTM_C_NO_ACK, NULL, 0);
    unsigned got = 0;
    long deadline = now_ms() + 30000;
    while ((ps.blocked || got < sent) && now_ms() < deadline) {
        struct ctm_in in;
        if (ctm_read(&cons, &in, 100) == RAW_OK) {
            ck_assert_msg(ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_DELIVER), "consumer got "
                          "something else than a delivery");
            got++;
            ctm_in_free(&in);
        }
        pump_publisher(&pub, &ps, 10);
    }
    fprintf(stderr, "memory: consumer received %u messages; blocked %u times, unblocked %u "
                    "times\n", got, ps.n_blocked + 1, ps.n_unblocked);
    ck_assert_msg(got >= sent, "the consumer received %u of %u messages", got, sent);
    ck_assert_msg(!ps.blocked, "no connection.unblocked after the queue drained (RSS %ld KiB, "
                               "limit %ld KiB)", harness_rss_kib(&s), limit / 1024);

    /* the publisher is read again */
    ctm_send_queue_declare(&pub, 1, q, CTM_Q_PASSIVE, NULL);
    deadline = now_ms() + CT_CLOSE_MS;
    while (!ps.declare_ok && now_ms() < deadline)
        pump_publisher(&pub, &ps, 100);
    ck_assert_msg(ps.declare_ok, "the unblocked publisher got no declare-ok");
    raw_close(&pub);
    raw_close(&cons);
    harness_stop(&s);
}
END_TEST

/* A connection that never publishes is not blocked, nor told. */
START_TEST(test_memory_alarm_zero_watermark_blocks_only_publishers)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, other;
    char reason[256], q[CTM_NAME_MAX], err[256];
    /* 0: every publisher blocked (RabbitMQ: set the watermark to 0 to stop publishing) */
    harness_start(&s, "vm_memory_high_watermark.relative = 0\nalarms.check_interval = 50\n");
    ct_open_channel(&other, &s, 1);
    ctm_name(q, sizeof(q), "alarm.zero");
    ctm_queue_declare(&other, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ct_open(&pub, &s, 0);
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    publish_until_blocked(&pub, q, 16, NULL, 1, 1000, reason, sizeof(reason));
    ck_assert_str_eq(reason, "low on memory");
    /* as RabbitMQ, reading stopped after the content header: the body
     * frame waits in the socket, the message is not routed */
    ck_assert_uint_eq(ctm_queue_count(&other, 1, q, NULL), 0);
    /* the other connection declares and purges: it is not blocked */
    for (int i = 0; i < 3; i++)
        ctm_queue_declare(&other, 1, q, CTM_Q_PASSIVE, NULL, NULL, 0, NULL, NULL);
    ck_assert_uint_eq(ctm_queue_purge(&other, 1, q), 0);
    /* the blocked one: nothing more is read */
    ctm_send_queue_declare(&pub, 1, q, CTM_Q_PASSIVE, NULL);
    expect_quiet(&pub, 1000);
    raw_close(&pub);
    raw_close(&other);
    harness_stop(&s);
}
END_TEST

/* Append text to (or, with text NULL, restore) the daemon's conf, then SIGHUP. */
static void reload_with(struct harness_server *s, const char *text)
{
    char path[600];
    static char orig[4096];
    snprintf(path, sizeof(path), "%s/edad.conf", s->dir);
    if (text) {
        FILE *fp = fopen(path, "r");
        ck_assert(fp != NULL);
        size_t n = fread(orig, 1, sizeof(orig) - 1, fp);
        orig[n] = '\0';
        fclose(fp);
    }
    FILE *fp = fopen(path, "w");
    ck_assert(fp != NULL);
    fprintf(fp, "%s%s", orig, text ? text : "");
    fclose(fp);
    ck_assert(kill(s->pid, SIGHUP) == 0);
}

/* The thresholds are reloadable: SIGHUP raises and clears the alarm. */
START_TEST(test_memory_watermark_reloaded_on_sighup)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, cons;
    char reason[256], q[CTM_NAME_MAX], err[256];
    harness_start(&s, "alarms.check_interval = 50\n");
    ct_open_channel(&cons, &s, 1);
    ctm_name(q, sizeof(q), "alarm.hup");
    ctm_queue_declare(&cons, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ct_open(&pub, &s, 0);
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    ctm_publish_str(&pub, 1, "", q, "before");
    ctm_wait_count(&cons, 1, q, 1);

    reload_with(&s, "vm_memory_high_watermark.relative = 0\n");
    unsigned sent = publish_until_blocked(&pub, q, 16, NULL, 200, 100, reason, sizeof(reason));
    ck_assert_str_eq(reason, "low on memory");

    reload_with(&s, NULL);
    ck_assert_msg(poll_for(&pub, RAW_CONNECTION_UNBLOCKED, CT_CLOSE_MS, NULL, 0),
                  "no connection.unblocked after the watermark was raised again");
    /* every message sent, blocked ones included, is in the queue */
    ctm_wait_count(&cons, 1, q, 1 + sent);
    raw_close(&pub);
    raw_close(&cons);
    harness_stop(&s);
}
END_TEST

/*
 * A client that did not announce the connection.blocked capability is
 * blocked just the same, but is told nothing: no connection.blocked, no
 * connection.unblocked; its requests are answered once the alarm clears.
 */
START_TEST(test_blocked_silently_without_capability)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, mute, cons;
    struct raw_frame f;
    struct raw_tune t;
    char reason[256], q[CTM_NAME_MAX], err[256];
    harness_start(&s, "alarms.check_interval = 50\n");
    ct_open_channel(&cons, &s, 1);
    ctm_name(q, sizeof(q), "alarm.mute");
    ctm_queue_declare(&cons, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ct_open(&pub, &s, 0);
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    /* the mute client: start-ok without capabilities */
    ct_start(&mute, &s, NULL);
    ck_assert(raw_send_start_ok_plain(&mute, "guest", "guest", false) == 0);
    ct_expect_method(&mute, &f, 0, RAW_CONNECTION, RAW_CONNECTION_TUNE);
    ck_assert(raw_decode_tune(&f, &t));
    raw_frame_free(&f);
    raw_send_tune_ok(&mute, t.channel_max, t.frame_max, 0);
    mute.frame_max = t.frame_max;
    raw_send_connection_open(&mute, "/");
    ct_expect_method(&mute, &f, 0, RAW_CONNECTION, RAW_CONNECTION_OPEN_OK);
    raw_frame_free(&f);
    ck_assert_msg(raw_channel_open(&mute, 1, err, sizeof(err)), "%s", err);

    reload_with(&s, "vm_memory_high_watermark.relative = 0\n");
    publish_until_blocked(&pub, q, 16, NULL, 200, 100, reason, sizeof(reason));
    ctm_publish_str(&mute, 1, "", q, "mute");
    ctm_send_queue_declare(&mute, 1, q, CTM_Q_PASSIVE, NULL);
    expect_quiet(&mute, 1000);

    reload_with(&s, NULL);
    ck_assert(poll_for(&pub, RAW_CONNECTION_UNBLOCKED, CT_CLOSE_MS, NULL, 0));
    /* the first thing the mute client gets is its declare-ok */
    struct ctm_in in;
    ctm_expect(&mute, &in, 1, RAW_QUEUE, CTM_QUEUE_DECLARE_OK);
    ctm_in_free(&in);
    raw_close(&mute);
    raw_close(&pub);
    raw_close(&cons);
    harness_stop(&s);
}
END_TEST

/* ---- disk (free-space limit) ----------------------------------------------------------- */

static uint64_t free_bytes(const char *dir)
{
    struct statvfs sv;
    ck_assert_msg(statvfs(dir, &sv) == 0, "statvfs %s: %s", dir, strerror(errno));
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

START_TEST(test_disk_alarm_from_free_space_limit)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, cons;
    char conf[256], reason[256], q[CTM_NAME_MAX], err[256], fill[1024];
    const uint64_t gib = 1024ull * 1024 * 1024;
    const char *dir = harness_scratch_dir();
    uint64_t avail = free_bytes(dir);
    if (avail < 3 * gib) {
        fprintf(stderr, "SKIP %s: needs 3 GiB free in %s\n", __func__, dir);
        return;
    }
    /* 1 GiB under the free space now; a file of the difference + 1 GiB goes below */
    uint64_t limit = avail - gib;
    snprintf(conf, sizeof(conf), "disk_free_limit.absolute = %llu\n"
                                 "alarms.check_interval = 100\n", (unsigned long long)limit);
    harness_start(&s, conf);
    ct_open_channel(&cons, &s, 1);
    ctm_name(q, sizeof(q), "alarm.disk");
    ctm_queue_declare(&cons, 1, q, 0, NULL, NULL, 0, NULL, NULL);
    ct_open(&pub, &s, 0);
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    ctm_publish_str(&pub, 1, "", q, "before");
    ctm_wait_count(&cons, 1, q, 1);

    snprintf(fill, sizeof(fill), "%s/alarm-fill", dir);
    int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(fd >= 0, "%s: %s", fill, strerror(errno));
    /* sized from the free space now: other tests may have used some meanwhile */
    uint64_t now_free = free_bytes(dir);
    uint64_t want = (now_free > limit ? now_free - limit : 0) + gib;
    int rc = want < now_free ? posix_fallocate(fd, 0, (off_t)want) : ENOSPC;
    close(fd);
    if (rc != 0) {
        unlink(fill);
        fprintf(stderr, "SKIP %s: fallocate: %s\n", __func__, strerror(rc));
        raw_close(&pub);
        raw_close(&cons);
        harness_stop(&s);
        return;
    }
    publish_until_blocked(&pub, q, 16, NULL, 200, 100, reason, sizeof(reason));
    ck_assert_str_eq(reason, "low on disk");
    /* the consumer side is served during the alarm */
    struct ctm_in in;
    ck_assert_msg(ctm_basic_get(&cons, 1, q, true, &in), "basic.get found nothing");
    ck_assert_str_eq((const char *)in.body, "before");
    ctm_in_free(&in);

    unlink(fill);
    ck_assert_msg(poll_for(&pub, RAW_CONNECTION_UNBLOCKED, CT_CLOSE_MS, NULL, 0),
                  "no connection.unblocked after the space came back");
    /* what the publisher sent while blocked is routed now, nothing lost */
    ctm_wait_count(&cons, 1, q, ctm_queue_count(&cons, 1, q, NULL));
    ck_assert_uint_ge(ctm_queue_count(&cons, 1, q, NULL), 1);
    raw_close(&pub);
    raw_close(&cons);
    harness_stop(&s);
}
END_TEST

/* ---- disk full (ENOSPC) on a small tmpfs -------------------------------------------------- */

START_TEST(test_disk_full_blocks_publisher_confirmed_kept)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct harness_server s;
    struct raw_conn pub, cons;
    char conf[1024], reason[256], q[CTM_NAME_MAX], err[256], mnt[512];

    /* a private mount namespace for this test process (and edad, its child) */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "SKIP %s: no private mount namespace (%s): needs root\n", __func__,
                strerror(errno));
        return;
    }
    snprintf(mnt, sizeof(mnt), "%s/tiny", harness_scratch_dir());
    mkdir(mnt, 0700);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m") != 0) {
        fprintf(stderr, "SKIP %s: cannot mount an 8 MiB tmpfs: %s\n", __func__,
                strerror(errno));
        return;
    }
    snprintf(conf, sizeof(conf), "data_dir = %s/data\ndisk_free_limit.absolute = 1\n"
                                 "store.segment_size = 1MB\nstore.idle_reclaim_ms = 0\n"
                                 "alarms.check_interval = 100\n", mnt);
    harness_start(&s, conf);
    ct_open_channel(&cons, &s, 1);
    ctm_name(q, sizeof(q), "alarm.full");
    ctm_queue_declare(&cons, 1, q, CTM_Q_DURABLE, NULL, NULL, 0, NULL, NULL);
    ct_open(&pub, &s, 0);
    ck_assert_msg(raw_channel_open(&pub, 1, err, sizeof(err)), "%s", err);
    ctm_confirm_select(&pub, 1);

    /* persistent 64 KiB messages, one at a time with its confirm, until blocked */
    struct ctm_props props = {.delivery_mode = 2};
    static uint8_t body[64 * 1024];
    uint64_t seq = 0, acked = 0, nacked = 0;
    bool blocked = false;
    struct raw_buf b;
    raw_buf_init(&b);
    while (!blocked && seq < 1000) {
        raw_buf_reset(&b);
        ctm_put_publish(&b, &pub, 1, "", q, 0, &props, body, sizeof(body), 0);
        size_t n = send_nb(&pub, &b, 2000);
        if (n == b.len)
            seq++;
        /* a confirm, or connection.blocked (before the confirm of a failed write) */
        long until = now_ms() + CT_CLOSE_MS;
        bool settled = false;
        while (!settled && !blocked && now_ms() < until) {
            struct ctm_in in;
            enum raw_rc rc = ctm_read(&pub, &in, 200);
            if (rc == RAW_TIMEOUT)
                continue;
            ck_assert_int_eq(rc, RAW_OK);
            char d[256];
            if (ctm_in_is(&in, 0, RAW_CONNECTION, RAW_CONNECTION_BLOCKED)) {
                struct raw_cursor cur;
                raw_cursor_init(&cur, in.frame.payload + 4, in.frame.size - 4);
                raw_get_shortstr(&cur, reason, sizeof(reason));
                blocked = true;
            } else if (ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_ACK)) {
                acked = in.delivery_tag;
                settled = acked >= seq;
            } else if (ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_NACK)) {
                nacked++;
                settled = in.delivery_tag >= seq;
            } else {
                ck_abort_msg("publisher got %s", ctm_in_describe(&in, d, sizeof(d)));
            }
            ctm_in_free(&in);
        }
        ck_assert_msg(settled || blocked, "publish %llu: neither confirmed nor blocked",
                      (unsigned long long)seq);
    }
    raw_buf_free(&b);
    fprintf(stderr, "disk full: %llu published, %llu acked, %llu nacked, blocked: '%s'\n",
            (unsigned long long)seq, (unsigned long long)acked, (unsigned long long)nacked,
            blocked ? reason : "no");
    ck_assert_msg(blocked, "no connection.blocked on a full disk");
    ck_assert_str_eq(reason, "low on disk");
    ck_assert_msg(acked > 0, "nothing was confirmed before the disk filled");

    /* the consumer empties the queue: every confirmed message is there */
    ctm_basic_consume(&cons, 1, q, "", 0, NULL, 0);
    uint64_t got = 0;
    bool unblocked = false;
    long deadline = now_ms() + 30000;
    while ((!unblocked || got < acked) && now_ms() < deadline) {
        struct ctm_in in;
        if (ctm_read(&cons, &in, 100) == RAW_OK) {
            if (ctm_in_is(&in, 1, RAW_BASIC, CTM_BASIC_DELIVER)) {
                got++;
                ctm_send_basic_ack(&cons, 1, in.delivery_tag, false);
            }
            ctm_in_free(&in);
        }
        if (!unblocked)
            unblocked = poll_for(&pub, RAW_CONNECTION_UNBLOCKED, 10, NULL, 0);
    }
    fprintf(stderr, "disk full: consumer got %llu; unblocked: %s\n", (unsigned long long)got,
            unblocked ? "yes" : "no");
    ck_assert_msg(got >= acked, "only %llu of %llu confirmed messages were delivered",
                  (unsigned long long)got, (unsigned long long)acked);
    ck_assert_msg(unblocked, "no connection.unblocked once the disk had room again");
    raw_close(&pub);
    raw_close(&cons);
    harness_stop(&s);
    umount2(mnt, MNT_DETACH);
}
END_TEST

static Suite *alarms_suite(void)
{
    Suite *s = suite_create("alarms");
    TCase *tc;

    tc = tcase_create("capability");
    CT_DEFAULT_FIXTURE(tc);
    tcase_add_test(tc, test_capability_connection_blocked_advertised);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_memory_alarm_blocks_publisher_consumer_goes_on);
    tcase_add_test(tc, test_memory_alarm_zero_watermark_blocks_only_publishers);
    tcase_add_test(tc, test_memory_watermark_reloaded_on_sighup);
    tcase_add_test(tc, test_blocked_silently_without_capability);
    suite_add_tcase(s, tc);

    tc = tcase_create("disk");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_disk_alarm_from_free_space_limit);
    tcase_add_test(tc, test_disk_full_blocks_publisher_confirmed_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_alarms");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(alarms_suite()));
}
