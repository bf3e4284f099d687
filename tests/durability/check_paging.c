/*
 * check_paging.c - issue 5's backlog beyond memory through a real client
 * (rabbitmq-c): with a small store.paging_threshold, durable queues keep
 * persistent messages on disk only and read them back on delivery; every
 * message comes back in order with its body and properties, across
 * restarts, with priorities, requeue, dead-lettering, TTL, basic.get and
 * purge (which frees the disk).  Also: a tx.commit-ok that waits for the
 * sync holds back the replies to later methods.  Not the store's format:
 * check_store*.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

#define BODY_LEN 1024
#define PAGING_CONF "store.paging_threshold = 64KB\n"

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
    snprintf(d->extra, sizeof(d->extra), "data_dir = %s\n" PAGING_CONF "%s", d->data,
             extra ? extra : "");
}

static void dsrv_start(struct dsrv *d)
{
    harness_start(&d->h, d->extra);
}

static void dsrv_stop(struct dsrv *d)
{
    int st = harness_stop(&d->h);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "edad stop status %d", st);
}

static void dsrv_kill(struct dsrv *d)
{
    int st;
    ck_assert(harness_signal_wait(&d->h, SIGKILL, 10000, &st));
    harness_stop(&d->h);
}

/* ---- client helpers ------------------------------------------------------------------- */

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

static void qdeclare_args(amqp_connection_state_t c, const char *name, amqp_table_t args)
{
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    die_on_reply(amqp_get_rpc_reply(c), "queue.declare");
}

static void qdeclare(amqp_connection_state_t c, const char *name)
{
    qdeclare_args(c, name, amqp_empty_table);
}

static uint32_t qcount(amqp_connection_state_t c, const char *name)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 1, 0, 0,
                                                     0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.declare passive");
    return ok->message_count;
}

/* Body of message i: "m<i>:" then a pattern that depends on i. */
static void body_make(char *b, int i)
{
    int n = snprintf(b, BODY_LEN, "m%07d:", i);
    for (int k = n; k < BODY_LEN; k++)
        b[k] = (char)('a' + (i * 7 + k) % 26);
}

/* Index of a body made by body_make, -1 when it is not one (wrong bytes). */
static int body_index(amqp_bytes_t body)
{
    char want[BODY_LEN];
    if (body.len != BODY_LEN)
        return -1;
    int i = atoi((const char *)body.bytes + 1);
    body_make(want, i);
    return memcmp(want, body.bytes, BODY_LEN) == 0 ? i : -1;
}

struct pub {
    bool persistent;
    int priority;               /* -1: none */
    const char *expiration;     /* NULL: none */
};

/* Publish message i with a message-id "id-<i>" and a header "i" = i. */
static void publish_i(amqp_connection_state_t c, const char *rk, int i, const struct pub *o)
{
    char body[BODY_LEN], id[32];
    body_make(body, i);
    snprintf(id, sizeof(id), "id-%d", i);
    amqp_table_entry_t h = {amqp_cstring_bytes("i"), {AMQP_FIELD_KIND_I32, {.i32 = i}}};
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
               AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    p.delivery_mode = o->persistent ? 2 : 1;
    p.message_id = amqp_cstring_bytes(id);
    p.content_type = amqp_cstring_bytes("application/x-edad-test");
    p.headers.num_entries = 1;
    p.headers.entries = &h;
    if (o->priority >= 0) {
        p._flags |= AMQP_BASIC_PRIORITY_FLAG;
        p.priority = (uint8_t)o->priority;
    }
    if (o->expiration) {
        p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p.expiration = amqp_cstring_bytes(o->expiration);
    }
    amqp_bytes_t bb = {BODY_LEN, body};
    ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(rk), 0, 0,
                                        &p, bb), AMQP_STATUS_OK);
}

/* Every publish up to last confirmed. */
static void wait_confirms(amqp_connection_state_t c, uint64_t last)
{
    uint64_t done = 0;
    while (done < last) {
        amqp_frame_t f;
        struct timeval tv = {30, 0};
        ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
        ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
        ck_assert_msg(f.payload.method.id == AMQP_BASIC_ACK_METHOD, "got method %x",
                      f.payload.method.id);
        amqp_basic_ack_t *a = f.payload.method.decoded;
        if (a->multiple || a->delivery_tag == done + 1)
            done = a->delivery_tag;
    }
}

static void confirm_select(amqp_connection_state_t c)
{
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
}

/* Check the properties publish_i gave message i. */
static void check_props(const amqp_basic_properties_t *p, int i, bool persistent)
{
    char id[32];
    snprintf(id, sizeof(id), "id-%d", i);
    ck_assert(p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG);
    ck_assert_int_eq((int)p->message_id.len, (int)strlen(id));
    ck_assert(memcmp(p->message_id.bytes, id, strlen(id)) == 0);
    ck_assert(p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG);
    ck_assert_int_eq(p->delivery_mode, persistent ? 2 : 1);
    ck_assert(p->_flags & AMQP_BASIC_HEADERS_FLAG);
    bool found = false;
    for (int k = 0; k < p->headers.num_entries; k++) {
        const amqp_table_entry_t *e = &p->headers.entries[k];
        if (e->key.len == 1 && ((const char *)e->key.bytes)[0] == 'i') {
            ck_assert_int_eq(e->value.kind, AMQP_FIELD_KIND_I32);
            ck_assert_int_eq(e->value.value.i32, i);
            found = true;
        }
    }
    ck_assert(found);
}

struct got {
    int i;                      /* body index */
    uint64_t tag;
    bool redelivered;
    int priority;               /* -1: none */
    bool has_death;             /* an x-death header */
};

/* basic.get one message; false when empty. */
static bool get_one(amqp_connection_state_t c, const char *q, bool no_ack, struct got *g)
{
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), no_ack);
    die_on_reply(r, "basic.get");
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return false;
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    g->tag = ok->delivery_tag;
    g->redelivered = ok->redelivered;
    amqp_message_t m;
    die_on_reply(amqp_read_message(c, 1, &m, 0), "read message");
    g->i = body_index(m.body);
    ck_assert_int_ge(g->i, 0);
    check_props(&m.properties, g->i, m.properties.delivery_mode == 2);
    amqp_destroy_message(&m);
    return true;
}

static void consume_start(amqp_connection_state_t c, const char *q, uint16_t prefetch,
                          bool no_ack)
{
    amqp_basic_qos(c, 1, 0, prefetch, 0);
    die_on_reply(amqp_get_rpc_reply(c), "basic.qos");
    amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes("ctag"), 0, no_ack, 0,
                       amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "basic.consume");
}

/* Next delivery of the consumer (fails after 10 s without one). */
static void consume_one(amqp_connection_state_t c, struct got *g, bool persistent)
{
    amqp_envelope_t env;
    struct timeval tv = {10, 0};
    amqp_maybe_release_buffers(c);
    die_on_reply(amqp_consume_message(c, &env, &tv, 0), "consume");
    g->tag = env.delivery_tag;
    g->redelivered = env.redelivered;
    g->i = body_index(env.message.body);
    ck_assert_msg(g->i >= 0, "bad body");
    check_props(&env.message.properties, g->i, persistent);
    g->priority = (env.message.properties._flags & AMQP_BASIC_PRIORITY_FLAG)
                      ? env.message.properties.priority : -1;
    g->has_death = false;
    const amqp_table_t *h = &env.message.properties.headers;
    for (int k = 0; k < h->num_entries; k++)
        if (h->entries[k].key.len == 7 && memcmp(h->entries[k].key.bytes, "x-death", 7) == 0)
            g->has_death = true;
    amqp_destroy_envelope(&env);
}

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

static const struct pub PERSISTENT = {true, -1, NULL};

/* ---- order, bodies, properties, basic.get, restart -------------------------------------- */

static void order_case(bool kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, kill9 ? "order-kill" : "order-term", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "pq");
    confirm_select(c);
    /* 1000 KiB through a 64 KiB threshold: almost all paged; every 10th transient */
    const int n = 1000;
    for (int i = 0; i < n; i++) {
        struct pub o = {i % 10 != 5, -1, NULL};
        publish_i(c, "pq", i, &o);
    }
    wait_confirms(c, (uint64_t)n);
    ck_assert_uint_eq(qcount(c, "pq"), (uint32_t)n);
    /* basic.get takes the first ones (in memory), then paged ones */
    struct got g;
    for (int i = 0; i < 100; i++) {
        ck_assert(get_one(c, "pq", true, &g));
        ck_assert_int_eq(g.i, i);
        ck_assert(!g.redelivered);
    }
    /* consume 300 more (the prefetch), ack only the first 200: 100 unacked */
    consume_start(c, "pq", 300, false);
    uint64_t tag299 = 0;
    for (int i = 100; i < 400; i++) {
        consume_one(c, &g, i % 10 != 5);
        ck_assert_int_eq(g.i, i);
        ck_assert(!g.redelivered);
        if (i == 299)
            tag299 = g.tag;
    }
    amqp_basic_cancel(c, 1, amqp_cstring_bytes("ctag"));
    die_on_reply(amqp_get_rpc_reply(c), "basic.cancel");
    amqp_basic_ack(c, 1, tag299, 1);
    amqp_basic_qos(c, 1, 0, 300, 0);     /* a sync point: the ack was processed */
    die_on_reply(amqp_get_rpc_reply(c), "basic.qos");
    if (kill9) {
        dsrv_kill(&d);
        amqp_destroy_connection(c);
    } else {
        conn_close(c);      /* 300..399 requeued */
        dsrv_stop(&d);
    }
    dsrv_start(&d);
    c = conn_open(&d);
    /* persistent ones from 300 on; transient ones are gone */
    uint32_t want = 0;
    for (int i = 300; i < n; i++)
        want += i % 10 != 5;
    ck_assert_uint_eq(qcount(c, "pq"), want);
    consume_start(c, "pq", 100, false);
    for (int i = 300; i < n; i++) {
        if (i % 10 == 5)
            continue;
        consume_one(c, &g, true);
        ck_assert_int_eq(g.i, i);
        ck_assert_msg(g.redelivered == (i < 400), "message %d redelivered %d", i,
                      g.redelivered);
        amqp_basic_ack(c, 1, g.tag, 0);
    }
    conn_close(c);
    dsrv_stop(&d);
}

START_TEST(test_paged_order_restart)
{
    order_case(false);
}
END_TEST

START_TEST(test_paged_order_kill9)
{
    order_case(true);
}
END_TEST

/* ---- priorities ------------------------------------------------------------------------- */

START_TEST(test_paged_priority)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "prio", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    amqp_table_entry_t a = {amqp_cstring_bytes("x-max-priority"),
                            {AMQP_FIELD_KIND_I32, {.i32 = 4}}};
    amqp_table_t args = {1, &a};
    qdeclare_args(c, "prq", args);
    confirm_select(c);
    const int n = 500;
    for (int i = 0; i < n; i++) {
        struct pub o = {true, i % 5, NULL};
        publish_i(c, "prq", i, &o);
    }
    wait_confirms(c, (uint64_t)n);
    /* across a restart too: recovery pages past the threshold again */
    conn_close(c);
    dsrv_stop(&d);
    dsrv_start(&d);
    c = conn_open(&d);
    consume_start(c, "prq", 50, true);
    int last_prio = 99, last_i = -1;
    for (int k = 0; k < n; k++) {
        struct got g;
        consume_one(c, &g, true);
        ck_assert_int_eq(g.priority, g.i % 5);
        ck_assert_int_le(g.priority, last_prio);
        if (g.priority == last_prio)
            ck_assert_int_gt(g.i, last_i);
        last_prio = g.priority;
        last_i = g.i;
    }
    ck_assert_int_eq(last_prio, 0);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- requeue ---------------------------------------------------------------------------- */

START_TEST(test_paged_requeue)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "requeue", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "rq");
    confirm_select(c);
    const int n = 600;
    for (int i = 0; i < n; i++)
        publish_i(c, "rq", i, &PERSISTENT);
    wait_confirms(c, (uint64_t)n);
    /* take 200 (from memory and paged), ack 0..99, nack-requeue 100..199 */
    consume_start(c, "rq", 200, false);
    struct got g;
    uint64_t tag99 = 0;
    for (int i = 0; i < 200; i++) {
        consume_one(c, &g, true);
        ck_assert_int_eq(g.i, i);
        if (i == 99)
            tag99 = g.tag;
    }
    amqp_basic_cancel(c, 1, amqp_cstring_bytes("ctag"));
    die_on_reply(amqp_get_rpc_reply(c), "basic.cancel");
    amqp_basic_ack(c, 1, tag99, 1);
    amqp_basic_nack(c, 1, g.tag, 1, 1);
    /* they come back first, in order, flagged, then the rest */
    for (int i = 100; i < n; i++) {
        ck_assert(get_one(c, "rq", false, &g));
        ck_assert_int_eq(g.i, i);
        ck_assert_msg(g.redelivered == (i < 200), "message %d redelivered %d", i,
                      g.redelivered);
        amqp_basic_ack(c, 1, g.tag, 0);
    }
    ck_assert(!get_one(c, "rq", false, &g));
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- dead-lettering --------------------------------------------------------------------- */

START_TEST(test_paged_deadletter)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "dlx", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "dlq");
    amqp_table_entry_t a[3] = {
        {amqp_cstring_bytes("x-dead-letter-exchange"),
         {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("")}}},
        {amqp_cstring_bytes("x-dead-letter-routing-key"),
         {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("dlq")}}},
        {amqp_cstring_bytes("x-max-length"), {AMQP_FIELD_KIND_I32, {.i32 = 300}}},
    };
    amqp_table_t args = {3, a};
    qdeclare_args(c, "src", args);
    confirm_select(c);
    /* 500 published, max-length 300: the 200 oldest dead-lettered (drop-head) */
    const int n = 500;
    for (int i = 0; i < n; i++)
        publish_i(c, "src", i, &PERSISTENT);
    wait_confirms(c, (uint64_t)n);
    ck_assert_uint_eq(qcount(c, "src"), 300);
    ck_assert_uint_eq(qcount(c, "dlq"), 200);
    /* reject 200..249 (paged ones) without requeue: dead-lettered too */
    struct got g;
    for (int i = 200; i < 250; i++) {
        ck_assert(get_one(c, "src", false, &g));
        ck_assert_int_eq(g.i, i);
        amqp_basic_reject(c, 1, g.tag, 0);
    }
    ck_assert_uint_eq(qcount(c, "dlq"), 250);
    conn_close(c);
    c = conn_open(&d);
    consume_start(c, "dlq", 100, true);
    for (int i = 0; i < 250; i++) {
        consume_one(c, &g, true);
        ck_assert_int_eq(g.i, i);
        ck_assert(g.has_death);
    }
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- x-max-length-bytes counts paged bodies --------------------------------------------- */

START_TEST(test_paged_maxlen_bytes)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "maxbytes", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    amqp_table_entry_t a = {amqp_cstring_bytes("x-max-length-bytes"),
                            {AMQP_FIELD_KIND_I32, {.i32 = 200 * BODY_LEN}}};
    amqp_table_t args = {1, &a};
    qdeclare_args(c, "mb", args);
    confirm_select(c);
    const int n = 500;
    for (int i = 0; i < n; i++)
        publish_i(c, "mb", i, &PERSISTENT);
    wait_confirms(c, (uint64_t)n);
    /* drop-head kept the newest 200 (the paged ones among them count too) */
    ck_assert_uint_eq(qcount(c, "mb"), 200);
    struct got g;
    for (int i = n - 200; i < n; i++) {
        ck_assert(get_one(c, "mb", true, &g));
        ck_assert_int_eq(g.i, i);
    }
    ck_assert(!get_one(c, "mb", true, &g));
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- TTL: messages with an expiration are kept in memory and expire --------------------- */

START_TEST(test_paged_ttl)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "ttl", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "tq");
    confirm_select(c);
    /* 400 messages; the odd ones past the threshold expire after 1 ms */
    const int n = 400;
    for (int i = 0; i < n; i++) {
        struct pub o = {true, -1, (i % 2 && i >= 100) ? "1" : NULL};
        publish_i(c, "tq", i, &o);
    }
    wait_confirms(c, (uint64_t)n);
    /* expired by the queue's timer (no timing assertion: wait for it) */
    for (int k = 0; k < 500 && qcount(c, "tq") != 250; k++)
        harness_sleep_ms(10);
    ck_assert_uint_eq(qcount(c, "tq"), 250);
    struct got g;
    for (int i = 0; i < n; i++) {
        if (i % 2 && i >= 100)
            continue;
        ck_assert(get_one(c, "tq", true, &g));
        ck_assert_int_eq(g.i, i);
    }
    ck_assert(!get_one(c, "tq", true, &g));
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- purge frees the disk at once, unacked ones stay ------------------------------------ */

static void purge_case(bool with_unacked)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, with_unacked ? "purge-unacked" : "purge", "store.segment_size = 64KB\n");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "uq");
    confirm_select(c);
    const int n = 2000;     /* ~2 MiB in ~32 segments */
    for (int i = 0; i < n; i++)
        publish_i(c, "uq", i, &PERSISTENT);
    wait_confirms(c, (uint64_t)n);
    uint64_t before = du(d.data);
    ck_assert_uint_gt(before, (uint64_t)n * BODY_LEN);
    struct got held[3];
    int nheld = with_unacked ? 3 : 0;
    for (int k = 0; k < nheld; k++) {
        ck_assert(get_one(c, "uq", false, &held[k]));
        ck_assert_int_eq(held[k].i, k);
    }
    amqp_queue_purge_ok_t *ok = amqp_queue_purge(c, 1, amqp_cstring_bytes("uq"));
    die_on_reply(amqp_get_rpc_reply(c), "queue.purge");
    ck_assert_uint_eq(ok->message_count, (uint32_t)(n - nheld));
    uint64_t after = du(d.data);
    ck_assert_msg(after < 256 * 1024, "%llu bytes left after purge",
                  (unsigned long long)after);
    /* the unacked ones survive the purge and a restart */
    conn_close(c);
    dsrv_stop(&d);
    dsrv_start(&d);
    c = conn_open(&d);
    ck_assert_uint_eq(qcount(c, "uq"), (uint32_t)nheld);
    struct got g;
    for (int k = 0; k < nheld; k++) {
        ck_assert(get_one(c, "uq", true, &g));
        ck_assert_int_eq(g.i, k);
        ck_assert(g.redelivered);
    }
    /* publishing after a purge works and pages again */
    confirm_select(c);
    for (int i = 0; i < 200; i++)
        publish_i(c, "uq", i, &PERSISTENT);
    wait_confirms(c, 200);
    for (int i = 0; i < 200; i++) {
        ck_assert(get_one(c, "uq", true, &g));
        ck_assert_int_eq(g.i, i);
    }
    conn_close(c);
    dsrv_stop(&d);
}

START_TEST(test_paged_purge)
{
    purge_case(false);
}
END_TEST

START_TEST(test_paged_purge_unacked)
{
    purge_case(true);
}
END_TEST

/* ---- a failed write never loses a paged message ----------------------------------------- */

/*
 * edad inherits a 100 KiB file-size limit: writes past it fail (EFBIG) and
 * the store forgets those records.  Messages paged out meanwhile must come
 * back to memory, so every one published (nacked ones included) is there.
 */
START_TEST(test_paged_write_error)
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
    qdeclare(c, "wq");
    confirm_select(c);
    const int n = 300;
    int nacks = 0;
    for (int i = 0; i < n; i++) {
        publish_i(c, "wq", i, &PERSISTENT);
        amqp_frame_t f;
        struct timeval tv = {10, 0};
        ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
        ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
        if (f.payload.method.id == AMQP_BASIC_NACK_METHOD)
            nacks++;
        else
            ck_assert_uint_eq(f.payload.method.id, AMQP_BASIC_ACK_METHOD);
    }
    ck_assert_int_gt(nacks, 0);
    ck_assert_uint_eq(qcount(c, "wq"), (uint32_t)n);
    struct got g;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(get_one(c, "wq", true, &g), "message %d lost", i);
        ck_assert_int_eq(g.i, i);
    }
    ck_assert(!get_one(c, "wq", true, &g));
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- memory stays bounded (a generous sanity bound, not a benchmark) -------------------- */

START_TEST(test_paged_rss_bounded)
{
    HARNESS_NEEDS_OWN_SERVER();
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's quarantine keeps freed messages resident: nothing to measure */
    return;
#endif
    struct dsrv d;
    dsrv_init(&d, "rss", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "big");
    confirm_select(c);
    long rss0 = harness_rss_kib(&d.h);
    const int n = 60000;    /* ~60 MiB of bodies */
    for (int i = 0; i < n; i++) {
        publish_i(c, "big", i, &PERSISTENT);
        if (i % 1000 == 999)
            wait_confirms(c, (uint64_t)i + 1);
    }
    ck_assert_uint_eq(qcount(c, "big"), (uint32_t)n);
    long rss1 = harness_rss_kib(&d.h);
    ck_assert_msg(rss1 - rss0 < 24 * 1024, "RSS grew by %ld KiB for %d paged KiB", rss1 - rss0,
                  n);
    /* restart: recovery pages too */
    conn_close(c);
    dsrv_stop(&d);
    dsrv_start(&d);
    long rss2 = harness_rss_kib(&d.h);
    ck_assert_msg(rss2 < 48 * 1024, "RSS after recovering %d paged messages: %ld KiB", n, rss2);
    c = conn_open(&d);
    consume_start(c, "big", 500, true);
    for (int i = 0; i < n; i++) {
        struct got g;
        consume_one(c, &g, true);
        ck_assert_int_eq(g.i, i);
    }
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- tx.commit-ok waiting for the sync holds later replies back ------------------------- */

/* The next method on channel 1 (content frames skipped); its id. */
static amqp_method_number_t next_method(amqp_connection_state_t c)
{
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = {10, 0};
        ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
        if (f.frame_type == AMQP_FRAME_METHOD)
            return f.payload.method.id;
    }
}

START_TEST(test_tx_commit_reply_order)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "txorder", NULL);
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    qdeclare(c, "txq");
    amqp_tx_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "tx.select");
    for (int round = 0; round < 20; round++) {
        /* publish, commit, commit, declare, qos, all pipelined */
        for (int i = 0; i < 10; i++)
            publish_i(c, "txq", round * 10 + i, &PERSISTENT);
        amqp_tx_commit_t commit = {0};
        ck_assert_int_eq(amqp_send_method(c, 1, AMQP_TX_COMMIT_METHOD, &commit), 0);
        publish_i(c, "txq", 1000 + round, &PERSISTENT);
        ck_assert_int_eq(amqp_send_method(c, 1, AMQP_TX_COMMIT_METHOD, &commit), 0);
        amqp_queue_declare_t qd;
        memset(&qd, 0, sizeof(qd));
        qd.queue = amqp_cstring_bytes("txq");
        qd.durable = 1;
        qd.arguments = amqp_empty_table;
        ck_assert_int_eq(amqp_send_method(c, 1, AMQP_QUEUE_DECLARE_METHOD, &qd), 0);
        amqp_basic_qos_t qos = {0, 10, 0};
        ck_assert_int_eq(amqp_send_method(c, 1, AMQP_BASIC_QOS_METHOD, &qos), 0);
        ck_assert_uint_eq(next_method(c), AMQP_TX_COMMIT_OK_METHOD);
        ck_assert_uint_eq(next_method(c), AMQP_TX_COMMIT_OK_METHOD);
        ck_assert_uint_eq(next_method(c), AMQP_QUEUE_DECLARE_OK_METHOD);
        ck_assert_uint_eq(next_method(c), AMQP_BASIC_QOS_OK_METHOD);
    }
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

static Suite *paging_suite(void)
{
    Suite *s = suite_create("paging");
    TCase *tc = tcase_create("paging");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_paged_order_restart);
    tcase_add_test(tc, test_paged_order_kill9);
    tcase_add_test(tc, test_paged_priority);
    tcase_add_test(tc, test_paged_requeue);
    tcase_add_test(tc, test_paged_deadletter);
    tcase_add_test(tc, test_paged_maxlen_bytes);
    tcase_add_test(tc, test_paged_ttl);
    tcase_add_test(tc, test_paged_purge);
    tcase_add_test(tc, test_paged_purge_unacked);
    tcase_add_test(tc, test_paged_write_error);
    tcase_add_test(tc, test_paged_rss_bounded);
    tcase_add_test(tc, test_tx_commit_reply_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_paging");
    if (rc)
        return rc;
    return harness_run(srunner_create(paging_suite()));
}
