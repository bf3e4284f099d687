/*
 * check_durability_ext.c - issue 4's state that must survive a restart,
 * through a real client (rabbitmq-c): the x-death history of stored dead
 * letters, message TTLs counted on the wall clock across a restart (and
 * expiring, not delivered, when due during the downtime), messages held
 * by durable x-delayed-message exchanges (clean stop and kill -9), and the
 * dedup caches of durable queues and exchanges.  Not the store format:
 * check_store.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- a daemon on a data dir that outlives it -------------------------------------- */

struct dsrv {
    struct harness_server h;
    char data[600];
    char extra[1024];
};

static void dsrv_init(struct dsrv *d, const char *name)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->data, sizeof(d->data), "%s/%s", harness_scratch_dir(), name);
    snprintf(d->extra, sizeof(d->extra), "data_dir = %s\n", d->data);
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

/* Stop (clean or kill -9) and start again. */
static void dsrv_restart(struct dsrv *d, bool kill9, int down_ms)
{
    if (kill9)
        dsrv_kill(d);
    else
        dsrv_stop(d);
    if (down_ms)
        harness_sleep_ms(down_ms);
    dsrv_start(d);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* edad-check-store on the data dir of a stopped edad: exit 0 and "clean". */
static void check_store_clean(const struct dsrv *d)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "%s/edad-check-store %s 2>&1", EDAD_TOP_BUILDDIR, d->data);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "clean"),
                  "edad-check-store: status %d: %s", st, out);
}

/* ---- rabbitmq-c helpers ---------------------------------------------------------------- */

static void die_on_reply(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *cl = r.reply.decoded;
        ck_abort_msg("%s failed: channel closed %u %.*s", what, cl->reply_code,
                     (int)cl->reply_text.len, (const char *)cl->reply_text.bytes);
    }
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

/* Close cleanly, or just drop the connection when edad is killed. */
static void conn_end(amqp_connection_state_t c, bool kill9)
{
    if (kill9)
        amqp_destroy_connection(c);
    else
        conn_close(c);
}

static void confirm_select(amqp_connection_state_t c)
{
    amqp_confirm_select(c, 1);
    die_on_reply(amqp_get_rpc_reply(c), "confirm.select");
}

/* Arguments: up to 4 entries, string or long values. */
struct targs {
    amqp_table_entry_t e[4];
    amqp_table_t t;
};

static void targs_str(struct targs *a, const char *k, const char *v)
{
    amqp_table_entry_t *e = &a->e[a->t.num_entries++];
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(v);
    a->t.entries = a->e;
}

static void targs_long(struct targs *a, const char *k, int64_t v)
{
    amqp_table_entry_t *e = &a->e[a->t.num_entries++];
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_I64;
    e->value.value.i64 = v;
    a->t.entries = a->e;
}

static void qdeclare(amqp_connection_state_t c, const char *name, const struct targs *a)
{
    amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 0, 1, 0, 0,
                       a ? a->t : amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.declare");
}

static void xdeclare(amqp_connection_state_t c, const char *name, const char *type,
                     const struct targs *a)
{
    amqp_exchange_declare(c, 1, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1, 0, 0,
                          a ? a->t : amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "exchange.declare");
}

static void qbind(amqp_connection_state_t c, const char *q, const char *x, const char *rk)
{
    amqp_queue_bind(c, 1, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_cstring_bytes(rk),
                    amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.bind");
}

/* Publish persistent (or not) body with optional expiration and header table. */
static void publish(amqp_connection_state_t c, const char *x, const char *rk, const char *body,
                    bool persistent, const char *expiration, const struct targs *headers)
{
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = persistent ? 2 : 1;
    if (expiration) {
        p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p.expiration = amqp_cstring_bytes(expiration);
    }
    if (headers) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        p.headers = headers->t;
    }
    ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_cstring_bytes(x), amqp_cstring_bytes(rk), 0,
                                        0, &p, amqp_cstring_bytes(body)),
                     AMQP_STATUS_OK);
}

/* Wait until every publish from first to last is acked. */
static void wait_confirms(amqp_connection_state_t c, uint64_t first, uint64_t last)
{
    uint64_t done = first - 1;
    while (done < last) {
        amqp_frame_t f;
        struct timeval tv = {10, 0};
        int rc = amqp_simple_wait_frame_noblock(c, &f, &tv);
        ck_assert_msg(rc == AMQP_STATUS_OK, "waiting for confirms up to %llu: %llu acked (%d)",
                      (unsigned long long)last, (unsigned long long)done, rc);
        ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
        ck_assert_msg(f.payload.method.id == AMQP_BASIC_ACK_METHOD, "got method %x",
                      f.payload.method.id);
        amqp_basic_ack_t *a = f.payload.method.decoded;
        if (a->multiple || a->delivery_tag == done + 1)
            done = a->delivery_tag;
    }
}

static void sync_point(amqp_connection_state_t c)
{
    amqp_basic_qos(c, 1, 0, 0, 0);
    die_on_reply(amqp_get_rpc_reply(c), "basic.qos");
}

/* basic.get into *m (caller amqp_destroy_message()s); false when empty. */
static bool get_msg(amqp_connection_state_t c, const char *q, bool no_ack, amqp_message_t *m,
                    uint64_t *tag, bool *redelivered)
{
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(q), no_ack);
    die_on_reply(r, "basic.get");
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
        return false;
    amqp_basic_get_ok_t *ok = r.reply.decoded;
    if (tag)
        *tag = ok->delivery_tag;
    if (redelivered)
        *redelivered = ok->redelivered;
    die_on_reply(amqp_read_message(c, 1, m, 0), "read message");
    return true;
}

/* basic.get no-ack of the body only; false when empty. */
static bool get_body(amqp_connection_state_t c, const char *q, char *buf, size_t len)
{
    amqp_message_t m;
    if (!get_msg(c, q, true, &m, NULL, NULL))
        return false;
    size_t n = m.body.len < len - 1 ? m.body.len : len - 1;
    memcpy(buf, m.body.bytes, n);
    buf[n] = '\0';
    amqp_destroy_message(&m);
    return true;
}

/* Poll q with basic.get (no-ack) until a message comes (body into buf) or timeout. */
static bool poll_body(amqp_connection_state_t c, const char *q, char *buf, size_t len,
                      int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (get_body(c, q, buf, len))
            return true;
        harness_sleep_ms(20);
    }
    return false;
}

static uint32_t queue_count(amqp_connection_state_t c, const char *name)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(name), 1, 0, 0,
                                                     0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(c), "queue.declare passive");
    return ok->message_count;
}

/* ---- field-table equality (the x-death header, exactly) ------------------------------------ */

static bool table_eq(const amqp_table_t *a, const amqp_table_t *b);

static bool bytes_same(amqp_bytes_t a, amqp_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static bool value_eq(const amqp_field_value_t *a, const amqp_field_value_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        return bytes_same(a->value.bytes, b->value.bytes);
    case AMQP_FIELD_KIND_TABLE:
        return table_eq(&a->value.table, &b->value.table);
    case AMQP_FIELD_KIND_ARRAY:
        if (a->value.array.num_entries != b->value.array.num_entries)
            return false;
        for (int i = 0; i < a->value.array.num_entries; i++)
            if (!value_eq(&a->value.array.entries[i], &b->value.array.entries[i]))
                return false;
        return true;
    case AMQP_FIELD_KIND_I64:
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        return a->value.u64 == b->value.u64;
    case AMQP_FIELD_KIND_I32:
    case AMQP_FIELD_KIND_U32:
        return a->value.u32 == b->value.u32;
    case AMQP_FIELD_KIND_VOID:
        return true;
    default:
        return memcmp(&a->value, &b->value, sizeof(a->value)) == 0;
    }
}

static bool table_eq(const amqp_table_t *a, const amqp_table_t *b)
{
    if (a->num_entries != b->num_entries)
        return false;
    for (int i = 0; i < a->num_entries; i++)
        if (!bytes_same(a->entries[i].key, b->entries[i].key) ||
            !value_eq(&a->entries[i].value, &b->entries[i].value))
            return false;
    return true;
}

static const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key)
{
    for (int i = 0; i < t->num_entries; i++)
        if (t->entries[i].key.len == strlen(key) &&
            memcmp(t->entries[i].key.bytes, key, strlen(key)) == 0)
            return &t->entries[i].value;
    return NULL;
}

/* ---- x-death ------------------------------------------------------------------------------ */

/*
 * src -> (reject) -> dl1 -> (reject) -> dl2: two death records, an
 * original-expiration, x-first/last-death-*.  The dead letter in dl2 is
 * delivered, requeued, and must come back after the restart with the very
 * same headers (time included) and redelivered set.
 */
static void xdeath_case(bool kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, kill9 ? "xdeath-kill" : "xdeath-term");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs a1 = {0}, a2 = {0};
    targs_str(&a1, "x-dead-letter-exchange", "");
    targs_str(&a1, "x-dead-letter-routing-key", "dl1");
    qdeclare(c, "src", &a1);
    targs_str(&a2, "x-dead-letter-exchange", "");
    targs_str(&a2, "x-dead-letter-routing-key", "dl2");
    qdeclare(c, "dl1", &a2);
    qdeclare(c, "dl2", NULL);
    struct targs h = {0};
    targs_str(&h, "app", "kept");
    confirm_select(c);
    publish(c, "", "src", "dead", true, "600000", &h);
    wait_confirms(c, 1, 1);
    amqp_message_t m;
    uint64_t tag;
    bool redel;
    ck_assert(get_msg(c, "src", false, &m, &tag, &redel));
    amqp_destroy_message(&m);
    amqp_basic_reject(c, 1, tag, 0);
    sync_point(c);
    ck_assert(get_msg(c, "dl1", false, &m, &tag, &redel));
    amqp_destroy_message(&m);
    amqp_basic_reject(c, 1, tag, 0);
    sync_point(c);
    ck_assert(get_msg(c, "dl2", false, &m, &tag, &redel));
    ck_assert(m.properties._flags & AMQP_BASIC_HEADERS_FLAG);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_table_t before;
    ck_assert_int_eq(amqp_table_clone(&m.properties.headers, &before, &pool), AMQP_STATUS_OK);
    amqp_destroy_message(&m);
    const amqp_field_value_t *xd = table_get(&before, "x-death");
    ck_assert_ptr_nonnull(xd);
    ck_assert_int_eq(xd->kind, AMQP_FIELD_KIND_ARRAY);
    ck_assert_int_eq(xd->value.array.num_entries, 2);
    ck_assert_ptr_nonnull(table_get(&before, "app"));
    amqp_basic_reject(c, 1, tag, 1);    /* back to dl2, delivered once */
    sync_point(c);
    conn_end(c, kill9);
    dsrv_restart(&d, kill9, 1100);   /* a second passes: a re-stamped time would differ */

    c = conn_open(&d);
    ck_assert_uint_eq(queue_count(c, "dl2"), 1);
    ck_assert(get_msg(c, "dl2", false, &m, &tag, &redel));
    ck_assert(redel);
    ck_assert(m.properties._flags & AMQP_BASIC_HEADERS_FLAG);
    ck_assert_msg(table_eq(&before, &m.properties.headers),
                  "x-death headers differ after the restart");
    ck_assert(!(m.properties._flags & AMQP_BASIC_EXPIRATION_FLAG));
    ck_assert_int_eq((int)m.body.len, 4);
    amqp_destroy_message(&m);
    /* still a dead letter in every respect: rejecting it again counts on */
    amqp_basic_ack(c, 1, tag, 0);
    conn_close(c);
    empty_amqp_pool(&pool);
    dsrv_stop(&d);
    check_store_clean(&d);
}

START_TEST(test_xdeath_survives_clean_restart)
{
    xdeath_case(false);
}
END_TEST

START_TEST(test_xdeath_survives_kill9)
{
    xdeath_case(true);
}
END_TEST

/* ---- TTL on the wall clock --------------------------------------------------------------------- */

/*
 * A queue TTL and a per-message expiration of 4 s, edad down for 2.5 s of
 * it: the messages expire (dead-letter) 4 s after they were published, not
 * 4 s after the restart (which would be >= 6.5 s).
 */
START_TEST(test_ttl_counts_across_restart)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "ttl-wall");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs qa = {0}, ea = {0};
    targs_long(&qa, "x-message-ttl", 4000);
    targs_str(&qa, "x-dead-letter-exchange", "");
    targs_str(&qa, "x-dead-letter-routing-key", "ttl.dead");
    qdeclare(c, "ttl.q", &qa);
    targs_str(&ea, "x-dead-letter-exchange", "");
    targs_str(&ea, "x-dead-letter-routing-key", "ttl.dead");
    qdeclare(c, "exp.q", &ea);
    qdeclare(c, "ttl.dead", NULL);
    confirm_select(c);
    uint64_t t0 = wall_ms();
    publish(c, "", "ttl.q", "by-queue-ttl", true, NULL, NULL);
    publish(c, "", "exp.q", "by-expiration", true, "4000", NULL);
    wait_confirms(c, 1, 2);
    conn_close(c);
    dsrv_stop(&d);
    harness_sleep_ms(2500);
    uint64_t restart = wall_ms();   /* a TTL restarted at recovery ends >= restart + 4 s */
    dsrv_start(&d);

    c = conn_open(&d);
    if (wall_ms() - t0 < 3500) {
        ck_assert_uint_eq(queue_count(c, "ttl.q"), 1);    /* not expired early */
        ck_assert_uint_eq(queue_count(c, "exp.q"), 1);
    }
    char body[64];
    int got = 0;
    uint64_t last = 0;
    while (got < 2) {
        ck_assert_msg(poll_body(c, "ttl.dead", body, sizeof(body), 8000), "no dead letter");
        last = wall_ms();
        ck_assert_msg(last >= t0 + 4000 - 20, "%s expired after %llu ms", body,
                      (unsigned long long)(last - t0));
        got++;
    }
    ck_assert_msg(last < restart + 4000, "expired %llu ms after publishing, %llu ms after "
                  "the restart", (unsigned long long)(last - t0),
                  (unsigned long long)(last - restart));
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/*
 * Due while edad was down (kill -9 with the message delivered, unacked):
 * it is dead-lettered as expired right after recovery, never redelivered.
 */
START_TEST(test_ttl_due_during_downtime_expires)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "ttl-due");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs qa = {0};
    targs_long(&qa, "x-message-ttl", 1000);
    targs_str(&qa, "x-dead-letter-exchange", "");
    targs_str(&qa, "x-dead-letter-routing-key", "due.dead");
    qdeclare(c, "due.q", &qa);
    qdeclare(c, "due.dead", NULL);
    confirm_select(c);
    publish(c, "", "due.q", "late", true, NULL, NULL);
    publish(c, "", "due.q", "later", true, NULL, NULL);
    wait_confirms(c, 1, 2);
    amqp_message_t m;
    uint64_t tag;
    bool redel;
    ck_assert(get_msg(c, "due.q", false, &m, &tag, &redel));   /* delivered, unacked */
    amqp_destroy_message(&m);
    sync_point(c);
    conn_end(c, true);
    dsrv_restart(&d, true, 1300);

    c = conn_open(&d);
    char body[64];
    ck_assert_msg(!get_body(c, "due.q", body, sizeof(body)), "%s delivered after its TTL", body);
    for (int i = 0; i < 2; i++) {
        ck_assert(poll_body(c, "due.dead", body, sizeof(body), 3000));
        ck_assert_str_eq(body, i == 0 ? "late" : "later");
    }
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- delayed exchanges ---------------------------------------------------------------------- */

static void publish_delayed(amqp_connection_state_t c, const char *x, const char *body,
                            int64_t delay, bool persistent)
{
    struct targs h = {0};
    targs_long(&h, "x-delay", delay);
    publish(c, x, "k", body, persistent, NULL, &h);
}

static int count_dirs(const char *data)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/queues", data);
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "ls -1 %s | grep -v '\\.' | wc -l", path);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    int n = -1;
    ck_assert_int_eq(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

/*
 * Held persistent messages of a durable delayed exchange survive a
 * restart: those due during the downtime are released right after it in
 * their due order (not publish order), the rest at their original due
 * time; transient ones are gone; released ones are not released again
 * after a second restart.
 */
static void delayed_case(bool kill9)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, kill9 ? "delayed-kill" : "delayed-term");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs xa = {0};
    targs_str(&xa, "x-delayed-type", "direct");
    xdeclare(c, "dlx.x", "x-delayed-message", &xa);
    qdeclare(c, "dlx.q", NULL);
    qbind(c, "dlx.q", "dlx.x", "k");
    confirm_select(c);
    uint64_t t0 = wall_ms();
    publish_delayed(c, "dlx.x", "due-3500", 3500, true);
    publish_delayed(c, "dlx.x", "due-900", 900, true);
    publish_delayed(c, "dlx.x", "transient-800", 800, false);
    publish_delayed(c, "dlx.x", "due-600", 600, true);
    publish(c, "dlx.x", "k", "now", true, NULL, NULL);
    wait_confirms(c, 1, 5);    /* acks only: every held persistent one was synced */
    char body[64];
    ck_assert(poll_body(c, "dlx.q", body, sizeof(body), 2000));
    ck_assert_str_eq(body, "now");
    conn_end(c, kill9);
    dsrv_restart(&d, kill9, 1500);
    /* a delay restarted at recovery would end >= restart + 3.5 s (t0 + 5 s) */
    uint64_t restart = t0 + 1500;

    c = conn_open(&d);
    ck_assert(poll_body(c, "dlx.q", body, sizeof(body), 3000));
    ck_assert_str_eq(body, "due-600");
    ck_assert(poll_body(c, "dlx.q", body, sizeof(body), 3000));
    ck_assert_str_eq(body, "due-900");
    ck_assert(poll_body(c, "dlx.q", body, sizeof(body), 6000));
    uint64_t at = wall_ms();
    ck_assert_str_eq(body, "due-3500");
    ck_assert_msg(at >= t0 + 3500 - 20, "released %llu ms after publishing",
                  (unsigned long long)(at - t0));
    ck_assert_msg(at < restart + 3500, "released %llu ms after publishing (restart + delay?)",
                  (unsigned long long)(at - t0));
    harness_sleep_ms(200);
    ck_assert(!get_body(c, "dlx.q", body, sizeof(body)));   /* the transient one is gone */
    conn_end(c, kill9);
    dsrv_restart(&d, kill9, 0);

    c = conn_open(&d);
    harness_sleep_ms(300);
    ck_assert_uint_eq(queue_count(c, "dlx.q"), 0);   /* released ones stay released */
    /* one more held across a clean stop: the checker reads its meta record */
    publish_delayed(c, "dlx.x", "kept", 60000, true);
    sync_point(c);
    conn_close(c);
    dsrv_stop(&d);
    check_store_clean(&d);
}

START_TEST(test_delayed_survives_clean_restart)
{
    delayed_case(false);
}
END_TEST

START_TEST(test_delayed_survives_kill9)
{
    delayed_case(true);
}
END_TEST

/* Deleting the exchange frees what it held, on disk too. */
START_TEST(test_delayed_exchange_delete_frees)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "delayed-delete");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs xa = {0};
    targs_str(&xa, "x-delayed-type", "direct");
    xdeclare(c, "del.x", "x-delayed-message", &xa);
    qdeclare(c, "del.q", NULL);
    qbind(c, "del.q", "del.x", "k");
    confirm_select(c);
    for (int i = 0; i < 10; i++)
        publish_delayed(c, "del.x", "held", 1000, true);
    wait_confirms(c, 1, 10);
    int with = count_dirs(d.data);
    amqp_exchange_delete(c, 1, amqp_cstring_bytes("del.x"), 0);
    die_on_reply(amqp_get_rpc_reply(c), "exchange.delete");
    ck_assert_int_eq(count_dirs(d.data), with - 1);
    conn_close(c);
    dsrv_restart(&d, true, 1200);

    c = conn_open(&d);
    xdeclare(c, "del.x", "x-delayed-message", &xa);
    qbind(c, "del.q", "del.x", "k");
    harness_sleep_ms(300);
    ck_assert_uint_eq(queue_count(c, "del.q"), 0);
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* A 255-byte exchange name cannot name its store: held in memory, still confirmed. */
START_TEST(test_delayed_long_name_held_in_memory)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "delayed-long");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    char name[256];
    memset(name, 'x', 255);
    name[255] = '\0';
    struct targs xa = {0};
    targs_str(&xa, "x-delayed-type", "direct");
    xdeclare(c, name, "x-delayed-message", &xa);
    qdeclare(c, "long.q", NULL);
    qbind(c, "long.q", name, "k");
    confirm_select(c);
    publish_delayed(c, name, "held", 200, true);
    wait_confirms(c, 1, 1);     /* an ack, not a nack */
    char body[64];
    ck_assert(poll_body(c, "long.q", body, sizeof(body), 3000));
    ck_assert_str_eq(body, "held");
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

/* ---- dedup caches ------------------------------------------------------------------------------ */

static void publish_key(amqp_connection_state_t c, const char *x, const char *rk,
                        const char *key, const char *body)
{
    struct targs h = {0};
    targs_str(&h, "x-deduplication-header", key);
    publish(c, x, rk, body, true, NULL, &h);
}

static int count_files(const char *dir)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "ls -1 %s 2>/dev/null | grep -c '\\.ddc$'", dir);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    int n = -1;
    ck_assert_int_eq(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

static void drain_expect(amqp_connection_state_t c, const char *q, const char *want)
{
    char got[512] = "", body[64];
    while (get_body(c, q, body, sizeof(body))) {
        if (got[0])
            strcat(got, ",");
        strcat(got, body);
    }
    ck_assert_msg(strcmp(got, want) == 0, "queue '%s' held '%s', want '%s'", q, got, want);
}

/*
 * The caches of a durable queue and a durable exchange survive kill -9 and
 * a clean restart: a key confirmed before the crash is still a duplicate;
 * x-cache-ttl keeps counting on the wall clock across the downtime;
 * deleting the queue removes its cache file.
 */
START_TEST(test_dedup_survives_restart)
{
    HARNESS_NEEDS_OWN_SERVER();
    struct dsrv d;
    dsrv_init(&d, "dedup");
    dsrv_start(&d);
    amqp_connection_state_t c = conn_open(&d);
    struct targs qa = {0}, xa = {0}, ta = {0};
    qa.e[0].key = amqp_cstring_bytes("x-message-deduplication");
    qa.e[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    qa.e[0].value.value.boolean = 1;
    qa.t.num_entries = 1;
    qa.t.entries = qa.e;
    targs_long(&qa, "x-cache-size", 10);
    xa = qa;
    xa.t.entries = xa.e;
    ta = qa;
    ta.t.entries = ta.e;
    targs_long(&ta, "x-cache-ttl", 3000);
    qdeclare(c, "dd.q", &qa);
    xdeclare(c, "dd.x", "direct", &xa);
    qdeclare(c, "dd.xq", NULL);
    qbind(c, "dd.xq", "dd.x", "k");
    qdeclare(c, "dd.ttl", &ta);
    confirm_select(c);
    uint64_t t0 = wall_ms();
    publish_key(c, "", "dd.q", "id1", "a1");
    publish_key(c, "dd.x", "k", "e1", "x1");
    publish_key(c, "", "dd.ttl", "t1", "t1");
    wait_confirms(c, 1, 3);
    uint64_t t1 = wall_ms();    /* every key was added before its confirm left */
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/dedup", d.data);
    ck_assert_int_eq(count_files(dir), 3);
    conn_end(c, true);
    dsrv_restart(&d, true, 1500);

    c = conn_open(&d);
    confirm_select(c);
    publish_key(c, "", "dd.q", "id1", "a2");     /* duplicate of a confirmed key */
    publish_key(c, "", "dd.q", "id2", "a3");
    publish_key(c, "dd.x", "k", "e1", "x2");
    wait_confirms(c, 1, 3);                          /* duplicates are confirmed too */
    bool ttl_checked = wall_ms() - t0 < 2700;
    if (ttl_checked) {
        publish_key(c, "", "dd.ttl", "t1", "t2");   /* still within its 3 s */
        wait_confirms(c, 4, 4);
    }
    /* past its 3 s the key is gone, though only ~1.5 s passed since the restart
     * (a TTL restarted at recovery would last until >= t1 + 4.5 s) */
    while (wall_ms() < t1 + 3200)
        harness_sleep_ms(50);
    publish_key(c, "", "dd.ttl", "t1", "t3");
    wait_confirms(c, ttl_checked ? 5 : 4, ttl_checked ? 5 : 4);
    drain_expect(c, "dd.q", "a1,a3");
    drain_expect(c, "dd.xq", "x1");
    drain_expect(c, "dd.ttl", "t1,t3");
    conn_close(c);
    dsrv_restart(&d, false, 0);

    c = conn_open(&d);
    confirm_select(c);
    publish_key(c, "", "dd.q", "id2", "a4");
    publish_key(c, "dd.x", "k", "e1", "x3");
    publish_key(c, "", "dd.q", "id3", "a5");
    wait_confirms(c, 1, 3);
    drain_expect(c, "dd.q", "a5");
    drain_expect(c, "dd.xq", "");
    amqp_queue_delete(c, 1, amqp_cstring_bytes("dd.q"), 0, 0);
    die_on_reply(amqp_get_rpc_reply(c), "queue.delete");
    ck_assert_int_eq(count_files(dir), 2);
    conn_close(c);
    dsrv_stop(&d);

    /* a torn tail (a crash in the middle of an append): the keys before it count */
    char cmd[900];
    snprintf(cmd, sizeof(cmd), "for f in %s/x-*.ddc; do printf 'torn\\001\\002' >> $f; done",
             dir);
    ck_assert_int_eq(system(cmd), 0);
    dsrv_start(&d);
    c = conn_open(&d);
    confirm_select(c);
    publish_key(c, "dd.x", "k", "e1", "x4");
    publish_key(c, "dd.x", "k", "e9", "x5");
    wait_confirms(c, 1, 2);
    drain_expect(c, "dd.xq", "x5");
    conn_close(c);
    dsrv_stop(&d);
}
END_TEST

static Suite *durability_ext_suite(void)
{
    Suite *s = suite_create("durability_ext");
    TCase *tc = tcase_create("xdeath_ttl");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_xdeath_survives_clean_restart);
    tcase_add_test(tc, test_xdeath_survives_kill9);
    tcase_add_test(tc, test_ttl_counts_across_restart);
    tcase_add_test(tc, test_ttl_due_during_downtime_expires);
    suite_add_tcase(s, tc);
    tc = tcase_create("delayed");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_delayed_survives_clean_restart);
    tcase_add_test(tc, test_delayed_survives_kill9);
    tcase_add_test(tc, test_delayed_exchange_delete_frees);
    tcase_add_test(tc, test_delayed_long_name_held_in_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("dedup");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dedup_survives_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_durability_ext");
    if (rc)
        return rc;
    return harness_run(srunner_create(durability_ext_suite()));
}
