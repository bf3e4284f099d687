/*
 * check_durability.c - issue 5 through a real client (rabbitmq-c): durable
 * definitions and persistent messages across clean restarts and kill -9,
 * acks that hold once a later reply left, confirms after the store's sync
 * (and with store.sync = false), tx.commit, disk space given back, and the
 * data-dir lock.  Not the store's format or damage handling: check_store*.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- a daemon on a data dir that outlives it -------------------------------------- */

struct dsrv {
    struct harness_server h;
    char data[600];
    char extra[1024];
};

static void dsrv_init(struct dsrv *d, const char *name, const char *extra)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->data, sizeof(d->data), "%s/%s", harness_scratch_dir(), name);
    snprintf(d->extra, sizeof(d->extra), "data_dir = %s\n%s", d->data, extra ? extra : "");
}

static void dsrv_start(struct dsrv *d)
{
    harness_start(&d->h, d->extra);
}

/* Clean stop: SIGTERM, must exit 0. */
static void dsrv_stop(struct dsrv *d)
{
    int st = harness_stop(&d->h);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "edad stop status %d", st);
}

static void dsrv_kill(struct dsrv *d)
{
    int st;
    ck_assert(harness_signal_wait(&d->h, SIGKILL, 10000, &st));
    harness_stop(&d->h);       /* removes the conf dir, not the data */
}

/* ---- rabbitmq-c helpers ---------------------------------------------------------------- */

static void die_on_reply(amqp_rpc_reply_t r, const char *what)
{
    ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "%s failed (reply type %d, method %x)",
                  what, r.reply_type,
                  r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION ? r.reply.id : 0);
}

static amqp_connection_state_t conn_open(const struct dsrv *d)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    ck_assert(sock != NULL);
    ck_assert_int_eq(amqp_socket_open(sock, d->h.host, d->h.port), AMQP_STATUS_OK);
    die_on_reply(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
                 "login");
    amqp_channel_open(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "channel.open");
    return c;
}

static void conn_close(amqp_connection_state_t c)
{
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* The connection broke (edad killed): just free it. */
static void conn_drop(amqp_connection_state_t c)
{
    amqp_destroy_connection(c);
}

static void xdeclare(amqp_connection_state_t c, const char *name, bool durable)
{
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(name), amqp_cstring_bytes("direct"), 0,
                          durable, 0, 0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "exchange.declare");
}

static void qdeclare(amqp_connection_state_t c, const char *name, bool durable)
{
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, durable, 0, 0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.declare");
}

static void qbind(amqp_connection_state_t c, const char *q, const char *x, const char *rk)
{
    amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_cstring_bytes(rk),
                    amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.bind");
}

/* Passive declare on a fresh channel: true when it exists (message count in *n). */
static bool passive_queue(amqp_connection_state_t c, uint16_t ch, const char *name, uint32_t *n)
{
    amqp_channel_open(c, ch);
    die_on_reply(amqp_get_rpc_reply(c), "channel.open");
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, amqp_cstring_bytes(name), 1, 0, 0,
                                                     0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_SERVER_EXCEPTION);
        ck_assert_int_eq(r.reply.id, AMQP_CHANNEL_CLOSE_METHOD);
        amqp_channel_close_ok_t cok = {0};
        amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
        return false;
    }
    if (n)
        *n = ok->message_count;
    amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);
    return true;
}

static bool passive_exchange(amqp_connection_state_t c, uint16_t ch, const char *name)
{
    amqp_channel_open(c, ch);
    die_on_reply(amqp_get_rpc_reply(c), "channel.open");
    amqp_exchange_declare(c, ch, amqp_cstring_bytes(name), amqp_cstring_bytes("direct"), 1, 0,
                          0, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        ck_assert_int_eq(r.reply.id, AMQP_CHANNEL_CLOSE_METHOD);
        amqp_channel_close_ok_t cok = {0};
        amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &cok);
        return false;
    }
    amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);
    return true;
}

static void publish(amqp_connection_state_t c, const char *x, const char *rk, const char *body,
                    bool persistent)
{
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = persistent ? 2 : 1;
    ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes(rk), 0,
                                        0, &p, amqp_cstring_bytes(body)),
                     AMQP_STATUS_OK);
}

/* Wait until every publish up to last is confirmed (acks only). */
static void wait_confirms(amqp_connection_state_t c, uint64_t last)
{
    uint64_t done = 0;
    while (done < last) {
        amqp_frame_t f;
        struct timeval tv = {10, 0};
        ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
        ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
        ck_assert_msg(f.payload.method.id == AMQP_BASIC_ACK_METHOD, "got method %x",
                      f.payload.method.id);
        amqp_basic_ack_t *a = f.payload.method.decoded;
        ck_assert(a->delivery_tag > done || !a->multiple);
        if (a->multiple || a->delivery_tag == done + 1)
            done = a->delivery_tag;
    }
}

/* basic.get: false when empty; body copied into buf. */
static bool get_one(amqp_connection_state_t c, const char *q, bool no_ack, char *buf,
                    size_t buflen, uint64_t *tag, bool *redelivered)
{
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), no_ack);
    die_on_reply(r, "basic.get");
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return false;
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    *tag = ok->delivery_tag;
    *redelivered = ok->redelivered;
    amqp_message_t m;
    die_on_reply(amqp_read_message(c, 1, &m, 0), "read message");
    size_t n = m.body.len < buflen - 1 ? m.body.len : buflen - 1;
    memcpy(buf, m.body.bytes, n);
    buf[n] = '\0';
    amqp_destroy_message(&m);
    return true;
}

static void sync_point(amqp_connection_state_t c)
{
    /* a synchronous reply on the channel: everything before it was processed */
    amqp_basic_qos(c, 1, 0, 0, 0);
    die_on_reply(amqp_get_rpc_reply(c), "basic.qos");
}

/* ---- restart: definitions and messages --------------------------------------------------- */

static void restart_case(bool kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, kill9 ? "restart-kill" : "restart-term", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    xdeclare(c, "dx", true);
    xdeclare(c, "tx", false);
    qdeclare(c, "dq", true);
    qdeclare(c, "tq", false);
    qbind(c, "dq", "dx", "k");
    qbind(c, "tq", "dx", "k");
    qbind(c, "dq", "tx", "k2");
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
    /* dq: p0 t0 p1 t1 p2 p3 p4 */
    const char *order[] = {"p0", "t0", "p1", "t1", "p2", "p3", "p4"};
    for (int i = 0; i < 7; i++)
        publish(c, "dx", "k", order[i], order[i][0] == 'p');
    wait_confirms(c, 7);
    char body[64];
    uint64_t tag;
    bool redel;
    /* p0 and t0 acked, p1 delivered and left unacked */
    ck_assert(get_one(c, "dq", false, body, sizeof(body), &tag, &redel));
    ck_assert_str_eq(body, "p0");
    amqp_basic_ack(c, 1, tag, 0);
    ck_assert(get_one(c, "dq", false, body, sizeof(body), &tag, &redel));
    ck_assert_str_eq(body, "t0");
    amqp_basic_ack(c, 1, tag, 0);
    ck_assert(get_one(c, "dq", false, body, sizeof(body), &tag, &redel));
    ck_assert_str_eq(body, "p1");
    ck_assert(!redel);
    sync_point(c);
    if (kill9) {
        dsrv_kill(&d);
        conn_drop(c);
    } else {
        conn_close(c);   /* p1 goes back to the queue, flagged */
        dsrv_stop(&d);
    }

    dsrv_start(&d);
    c = conn_open(&d);
    uint32_t n = 0;
    ck_assert(passive_exchange(c, 2, "dx"));
    ck_assert(!passive_exchange(c, 3, "tx"));
    ck_assert(!passive_queue(c, 4, "tq", NULL));
    ck_assert(passive_queue(c, 5, "dq", &n));
    ck_assert_uint_eq(n, 4);   /* p1 p2 p3 p4: transient ones gone, p0 acked */
    const char *want[] = {"p1", "p2", "p3", "p4"};
    for (int i = 0; i < 4; i++) {
        ck_assert(get_one(c, "dq", false, body, sizeof(body), &tag, &redel));
        ck_assert_str_eq(body, want[i]);
        ck_assert_msg(redel == (i == 0), "%s redelivered=%d", body, redel);
        amqp_basic_ack(c, 1, tag, 0);
    }
    ck_assert(!get_one(c, "dq", false, body, sizeof(body), &tag, &redel));
    /* the durable binding works; the one from the transient exchange is gone */
    publish(c, "dx", "k", "again", true);
    sync_point(c);
    ck_assert(get_one(c, "dq", true, body, sizeof(body), &tag, &redel));
    ck_assert_str_eq(body, "again");
    conn_close(c);
    dsrv_stop(&d);
}

START_TEST(test_restart_clean)
{
    restart_case(false);
}
END_TEST

START_TEST(test_restart_kill9)
{
    restart_case(true);
}
END_TEST

/* Deleted durable entities stay deleted; bindings come back in order. */
START_TEST(test_restart_deleted_and_bindings)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "deleted", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "gone", true);
    publish(c, "", "gone", "m", true);
    qdeclare(c, "kept", true);
    qbind(c, "kept", "amq.direct", "a");
    qbind(c, "kept", "amq.direct", "b");
    amqp_queue_delete(c, 1, amqp_cstring_bytes("gone"), 0, 0);
    die_on_reply(amqp_get_rpc_reply(c), "queue.delete");
    conn_close(c);
    dsrv_kill(&d);
    dsrv_start(&d);
    c = conn_open(&d);
    ck_assert(!passive_queue(c, 2, "gone", NULL));
    publish(c, "amq.direct", "a", "1", false);
    publish(c, "amq.direct", "b", "2", false);
    sync_point(c);
    uint32_t n = 0;
    ck_assert(passive_queue(c, 3, "kept", &n));
    ck_assert_uint_eq(n, 2);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- an ack holds once a later reply left ------------------------------------------------- */

START_TEST(test_ack_then_kill)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "ackkill", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "aq", true);
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
    const int N = 200;
    char b[32];
    for (int i = 0; i < N; i++) {
        snprintf(b, sizeof(b), "m%d", i);
        publish(c, "", "aq", b, true);
    }
    wait_confirms(c, (uint64_t)N);
    /* ack the first 150 one by one, then a synchronous reply */
    for (int i = 0; i < 150; i++) {
        uint64_t tag;
        bool redel;
        ck_assert(get_one(c, "aq", false, b, sizeof(b), &tag, &redel));
        amqp_basic_ack(c, 1, tag, 0);
    }
    sync_point(c);
    dsrv_kill(&d);
    conn_drop(c);
    dsrv_start(&d);
    c = conn_open(&d);
    uint32_t n = 0;
    ck_assert(passive_queue(c, 2, "aq", &n));
    ck_assert_uint_eq(n, 50);
    uint64_t tag;
    bool redel;
    ck_assert(get_one(c, "aq", true, b, sizeof(b), &tag, &redel));
    ck_assert_str_eq(b, "m150");
    ck_assert(!redel);   /* never delivered */
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- tx.commit and store.sync = false ------------------------------------------------------ */

START_TEST(test_tx_commit_durable)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "tx", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "txq", true);
    amqp_tx_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "tx.select");
    for (int round = 0; round < 3; round++) {
        publish(c, "", "txq", "a", true);
        publish(c, "", "txq", "b", false);
        amqp_tx_commit(c, 1);
        die_on_reply(amqp_get_rpc_reply(c), "tx.commit");
    }
    dsrv_kill(&d);
    conn_drop(c);
    dsrv_start(&d);
    c = conn_open(&d);
    uint32_t n = 0;
    ck_assert(passive_queue(c, 2, "txq", &n));
    ck_assert_uint_eq(n, 3);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

START_TEST(test_sync_off_confirms)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "nosync", "store.sync = false\n");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "nq", true);
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
    for (int i = 0; i < 500; i++)
        publish(c, "", "nq", "x", i % 2 == 0);
    wait_confirms(c, 500);
    dsrv_kill(&d);
    conn_drop(c);
    dsrv_start(&d);
    c = conn_open(&d);
    uint32_t n = 0;
    ck_assert(passive_queue(c, 2, "nq", &n));
    ck_assert_uint_eq(n, 250);   /* a process crash loses nothing written */
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- disk space ---------------------------------------------------------------------------- */

static uint64_t du_total;
static int du_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)f;
    if (flag == FTW_F)
        du_total += (uint64_t)st->st_size;
    return 0;
}

static uint64_t du(const char *dir)
{
    du_total = 0;
    nftw(dir, du_one, 16, FTW_PHYS);
    return du_total;
}

static void fill(amqp_connection_state_t c, const char *q, int n, size_t size)
{
    char *body = malloc(size + 1);
    ck_assert(body != NULL);
    memset(body, 'z', size);
    body[size] = '\0';
    for (int i = 0; i < n; i++)
        publish(c, "", q, body, true);
    free(body);
}

/* Poll (the idle write segment goes after idle_reclaim_ms via a 1 s timer). */
static uint64_t du_settled(const char *dir, uint64_t below)
{
    uint64_t v = du(dir);
    for (int i = 0; i < 50 && v >= below; i++) {
        harness_sleep_ms(100);
        v = du(dir);
    }
    return v;
}

START_TEST(test_space_reclaimed)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "space", "store.segment_size = 65536\nstore.idle_reclaim_ms = 0\n");
    dsrv_start(&d);
    char qdir[700];
    snprintf(qdir, sizeof(qdir), "%s/queues", d.data);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "sq", true);
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
    /* ~4 MiB: 64 segments' worth, consumed and acked as it goes */
    uint64_t published = 0;
    for (int round = 0; round < 8; round++) {
        fill(c, "sq", 500, 1024);
        published += 500;
        wait_confirms(c, published);
        ck_assert_uint_gt(du(qdir), 400000);
        for (int i = 0; i < 500; i++) {
            char b[8];
            uint64_t tag;
            bool redel;
            ck_assert(get_one(c, "sq", false, b, sizeof(b), &tag, &redel));
            amqp_basic_ack(c, 1, tag, 0);
        }
        sync_point(c);
    }
    uint64_t left = du_settled(qdir, 8192);
    ck_assert_msg(left < 8192, "%llu bytes left after acking everything",
                  (unsigned long long)left);
    /* purge frees the disk */
    fill(c, "sq", 1000, 1024);
    published += 1000;
    wait_confirms(c, published);
    ck_assert_uint_gt(du(qdir), 900000);
    amqp_queue_purge(c, 1, amqp_cstring_bytes("sq"));
    die_on_reply(amqp_get_rpc_reply(c), "queue.purge");
    left = du_settled(qdir, 8192);
    ck_assert_msg(left < 8192, "%llu bytes left after purge", (unsigned long long)left);
    /* delete frees it too */
    fill(c, "sq", 1000, 1024);
    published += 1000;
    wait_confirms(c, published);
    amqp_queue_delete(c, 1, amqp_cstring_bytes("sq"), 0, 0);
    die_on_reply(amqp_get_rpc_reply(c), "queue.delete");
    ck_assert_uint_eq(du(qdir), 0);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- write errors: nack, nothing confirmed lost, consumers served ------------------------------ */

/*
 * edad inherits a 100 KiB file-size limit: writes past it in an 8 MiB
 * segment fail (EFBIG).  Confirms must then be nacks, never acks, and every
 * acked message must survive a kill -9.
 */
START_TEST(test_write_error_nacks)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "efbig", NULL);
    struct rlimit old, lim;
    ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 100 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    dsrv_start(&d);
    ck_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "eq", true);
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
    enum { N = 400 };
    static bool acked[N + 1];
    memset(acked, 0, sizeof(acked));
    uint64_t nacks = 0, nacked_or_acked = 0;
    char body[1100];
    for (int i = 1; i <= N; i++) {
        snprintf(body, sizeof(body), "%d", i);
        memset(body + strlen(body), ' ', 1000);
        body[1000] = '\0';
        publish(c, "", "eq", body, true);
        /* one at a time: an ack or a nack for each, in order */
        amqp_frame_t f;
        struct timeval tv = {10, 0};
        ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
        ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            ck_assert_uint_eq(a->delivery_tag, (uint64_t)i);
            acked[i] = true;
        } else {
            ck_assert_uint_eq(f.payload.method.id, AMQP_BASIC_NACK_METHOD);
            amqp_basic_nack_t *n = f.payload.method.decoded;
            ck_assert_uint_eq(n->delivery_tag, (uint64_t)i);
            nacks++;
        }
        nacked_or_acked++;
    }
    ck_assert_uint_eq(nacked_or_acked, N);
    ck_assert_uint_gt(nacks, 0);
    /* consumers are still served: every message, nacked ones included, is there */
    uint32_t n = 0;
    ck_assert(passive_queue(c, 2, "eq", &n));
    ck_assert_uint_eq(n, N);
    dsrv_kill(&d);
    conn_drop(c);
    dsrv_start(&d);
    c = conn_open(&d);
    uint64_t tag;
    bool redel;
    static bool seen[N + 1];
    memset(seen, 0, sizeof(seen));
    while (get_one(c, "eq", true, body, sizeof(body), &tag, &redel)) {
        int k = atoi(body);
        ck_assert(k >= 1 && k <= N);
        seen[k] = true;
    }
    for (int i = 1; i <= N; i++)
        ck_assert_msg(!acked[i] || seen[i], "acked message %d lost", i);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- the data-dir lock ------------------------------------------------------------------------ */

START_TEST(test_lock)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "lock", NULL);
    dsrv_start(&d);
    char set[700];
    snprintf(set, sizeof(set), "data_dir=%s", d.data);
    const char *argv[] = {"edad", "-s", "listeners.tcp=none", "-s", set, NULL};
    char out[2048];
    int st = harness_exec(argv, out, sizeof(out), 10000);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "second edad: status %d", st);
    ck_assert_msg(strstr(out, "is in use by pid") != NULL, "output: %s", out);
    dsrv_stop(&d);
}
END_TEST

/* ---- crash test: confirmed messages survive SIGKILL at random moments ------------------------- */

#define CRASH_PUBLISHERS 3

/*
 * A publisher child: publishes "<id>:<n>" persistent with confirms (window
 * 200) until the connection breaks, then writes the confirmed numbers.
 */
static void crash_publisher(const struct dsrv *d, int id, unsigned cycle, const char *outpath)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(c);
    FILE *out = fopen(outpath, "w");
    if (!sock || !out || amqp_socket_open(sock, d->h.host, d->h.port) != AMQP_STATUS_OK)
        _exit(2);
    if (amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
            .reply_type != AMQP_RESPONSE_NORMAL)
        _exit(2);
    amqp_channel_open(c, 1);
    amqp_confirm_select(c, 1);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
        _exit(2);
    uint64_t sent = 0, acked = 0;
    for (;;) {
        while (sent - acked < 200) {
            char b[64];
            snprintf(b, sizeof(b), "%u:%d:%llu", cycle, id, (unsigned long long)sent + 1);
            amqp_basic_properties_t p;
            memset(&p, 0, sizeof(p));
            p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
            p.delivery_mode = 2;
            if (amqp_basic_publish(c, 1, amqp_cstring_bytes(""), amqp_cstring_bytes("crashq"),
                                   0, 0, &p, amqp_cstring_bytes(b)) != AMQP_STATUS_OK)
                goto done;
            sent++;
        }
        amqp_frame_t f;
        if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK || f.frame_type != AMQP_FRAME_METHOD)
            goto done;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            if (a->multiple) {
                for (uint64_t s = acked + 1; s <= a->delivery_tag; s++)
                    fprintf(out, "%u:%d:%llu\n", cycle, id, (unsigned long long)s);
                acked = a->delivery_tag;
            } else {
                /* single ack: edad confirms in order, so it is the next one */
                fprintf(out, "%u:%d:%llu\n", cycle, id, (unsigned long long)a->delivery_tag);
                acked = a->delivery_tag;
            }
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            amqp_basic_nack_t *n = f.payload.method.decoded;
            acked = n->delivery_tag;
        } else {
            goto done;
        }
    }
done:
    fclose(out);
    amqp_destroy_connection(c);
    _exit(0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct strset {
    char **v;
    size_t n, cap;
};

static void strset_add(struct strset *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, sizeof(*s->v) * s->cap);
        ck_assert(s->v != NULL);
    }
    s->v[s->n++] = strdup(x);
}

static void strset_free(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Drain crashq (no-ack) into got. */
static void drain(amqp_connection_state_t c, struct strset *got)
{
    uint32_t n = 0;
    ck_assert(passive_queue(c, 9, "crashq", &n));
    amqp_basic_consume(c, 1, amqp_cstring_bytes("crashq"), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "basic.consume");
    for (uint32_t i = 0; i < n; i++) {
        amqp_envelope_t e;
        struct timeval tv = {10, 0};
        amqp_maybe_release_buffers(c);
        die_on_reply(amqp_consume_message(c, &e, &tv, 0), "consume");
        char b[64];
        size_t len = e.message.body.len < sizeof(b) - 1 ? e.message.body.len : sizeof(b) - 1;
        memcpy(b, e.message.body.bytes, len);
        b[len] = '\0';
        strset_add(got, b);
        amqp_destroy_envelope(&e);
    }
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_channel_open(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "channel.open");
}

/* Every line of the publishers' files of cycle must be in got (sorted). */
static uint64_t check_confirmed(const char *dir, unsigned cycle, struct strset *got)
{
    uint64_t confirmed = 0;
    qsort(got->v, got->n, sizeof(*got->v), cmp_str);
    for (size_t i = 1; i < got->n; i++)
        ck_assert_msg(strcmp(got->v[i - 1], got->v[i]) != 0, "duplicate %s", got->v[i]);
    /* the previous cycles' messages were consumed (no-ack) before their
     * kill: none may come back */
    for (size_t i = 0; i < got->n; i++)
        ck_assert_msg(strtoul(got->v[i], NULL, 10) == cycle, "message %s of an earlier "
                      "cycle came back in cycle %u", got->v[i], cycle);
    for (int id = 0; id < CRASH_PUBLISHERS; id++) {
        char path[800], line[128];
        snprintf(path, sizeof(path), "%s/pub-%u-%d", dir, cycle, id);
        FILE *f = fopen(path, "r");
        ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            char *key = line;
            ck_assert_msg(bsearch(&key, got->v, got->n, sizeof(*got->v), cmp_str) != NULL,
                          "confirmed message %s lost (cycle %u)", line, cycle);
            confirmed++;
        }
        fclose(f);
    }
    return confirmed;
}

static unsigned crash_cycles(void)
{
    const char *e = getenv("EDAD_CRASH_CYCLES");
    return e && atoi(e) > 0 ? (unsigned)atoi(e) : 20;
}

START_TEST(test_crash_kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "crash", "store.segment_size = 262144\n");
    const char *dir = harness_scratch_dir();
    unsigned cycles = crash_cycles();
    uint64_t total_confirmed = 0, total_recovered = 0;
    srand((unsigned)getpid());
    for (unsigned cycle = 0; cycle <= cycles; cycle++) {
        dsrv_start(&d);
        amqp_connection_state_t c = conn_open(&d);
        if (cycle == 0)
            qdeclare(c, "crashq", true);
        else {
            struct strset got = {0};
            drain(c, &got);
            total_recovered += got.n;
            total_confirmed += check_confirmed(dir, cycle - 1, &got);
            strset_free(&got);
        }
        conn_close(c);
        if (cycle == cycles) {
            dsrv_stop(&d);
            break;
        }
        pid_t kids[CRASH_PUBLISHERS];
        for (int id = 0; id < CRASH_PUBLISHERS; id++) {
            char path[800];
            snprintf(path, sizeof(path), "%s/pub-%u-%d", dir, cycle, id);
            kids[id] = fork();
            ck_assert(kids[id] >= 0);
            if (kids[id] == 0)
                crash_publisher(&d, id, cycle, path);
        }
        harness_sleep_ms(50 + rand() % 400);
        dsrv_kill(&d);
        for (int id = 0; id < CRASH_PUBLISHERS; id++) {
            int st;
            ck_assert(waitpid(kids[id], &st, 0) == kids[id]);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "publisher status %d", st);
        }
    }
    fprintf(stderr, "crash test: %u kill -9 cycles, %llu confirmed messages all recovered "
            "(%llu recovered in all)\n", cycles, (unsigned long long)total_confirmed,
            (unsigned long long)total_recovered);
    ck_assert_uint_gt(total_confirmed, 0);
}
END_TEST

static Suite *durability_suite(void)
{
    Suite *s = suite_create("durability");
    TCase *tc = tcase_create("restart");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_restart_clean);
    tcase_add_test(tc, test_restart_kill9);
    tcase_add_test(tc, test_restart_deleted_and_bindings);
    tcase_add_test(tc, test_ack_then_kill);
    tcase_add_test(tc, test_tx_commit_durable);
    tcase_add_test(tc, test_sync_off_confirms);
    tcase_add_test(tc, test_space_reclaimed);
    tcase_add_test(tc, test_lock);
    tcase_add_test(tc, test_write_error_nacks);
    suite_add_tcase(s, tc);
    TCase *crash = tcase_create("crash");
    tcase_set_timeout(crash, 600);
    tcase_add_test(crash, test_crash_kill9);
    suite_add_tcase(s, crash);
    return s;
}

int main(void)
{
    int rc = harness_init("check_durability");
    if (rc)
        return rc;
    return harness_run(srunner_create(durability_suite()));
}
