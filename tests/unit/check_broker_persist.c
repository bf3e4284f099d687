/*
 * check_broker_persist.c - the broker's state that survives a restart
 * beside the stored bytes (persist.c, and the recovery entry points of
 * exchange_delayed.c and dedup.c): the meta block round trip (x-death
 * history exactly, CC routing keys included, records written before those
 * still read; TTL start as wall clock, due time), TTLs that expire at
 * the same wall-clock moment after a "restart" with a different broker
 * clock (also one smaller than the message's age), malformed meta ignored,
 * held delayed messages restored in due order, dedup keys restored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static uint64_t now_ms;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

static void setup(void)
{
    fx_setup();
    now_ms = 5000;
    broker_set_clock(B, fake_clock, NULL);
}

static void advance(uint64_t ms)
{
    now_ms += ms;
    for (int guard = 0; broker_next_deadline_ms(B) <= now_ms; guard++) {
        ck_assert_int_lt(guard, 1000);
        broker_run_timers(B, now_ms);
    }
}

static bool same(struct edad_bytes a, struct edad_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static struct message *take(struct queue *q, const char *body)
{
    struct queue_entry e;
    char b[64];
    ck_assert_msg(get_body(q, true, &e, b, sizeof(b)), "queue %s empty", queue_name(q));
    ck_assert_str_eq(b, body);
    return e.msg;
}

static void pub_exp(const char *x, const char *rk, const char *body, int64_t expiration,
                    bool persistent)
{
    struct message_info info = {.persistent = persistent, .expiration_ms = expiration};
    struct message *m = message_new(S(x), S(rk), S("\x80\x00"), strlen(body), &info);
    memcpy(message_body_mut(m), body, strlen(body));
    pub_msg(m, NULL);
    message_unref(&m);
}

/* Encode m's meta into buf (<= 4 KiB). */
static struct edad_bytes encode(const struct message *m, uint64_t wall, uint64_t due,
                                uint8_t *buf)
{
    size_t n = message_meta_encode(B, m, wall, due, buf, 4096);
    ck_assert_uint_le(n, 4096);
    return (struct edad_bytes){buf, n};
}

static struct message *restore(const struct message *m, struct edad_bytes meta,
                               const struct queue *q, uint64_t wall, bool *bad)
{
    struct message_restore r = {
        .exchange = message_exchange(m),
        .routing_key = message_routing_key(m),
        .props = message_props(m),
        .body = message_body(m),
        .meta = meta,
        .info = {.persistent = true, .expiration_ms = message_deaths(m) ? -1 :
                 message_expiration_ms(m)},
        .queue = q,
        .wall_now_ms = wall,
    };
    return message_restore(B, &r, bad);
}

/* ---- x-death --------------------------------------------------------------------------------- */

START_TEST(deaths_round_trip_exactly)
{
    struct targs a1, a2;
    ta_init(&a1);
    ta_str(&a1, "x-dead-letter-exchange", "");
    ta_str(&a1, "x-dead-letter-routing-key", "d1");
    ta_init(&a2);
    ta_str(&a2, "x-dead-letter-exchange", "");
    ta_str(&a2, "x-dead-letter-routing-key", "d2");
    struct queue *q = mk_queue_full("src", true, false, false, NULL, &a1.t);
    struct queue *d1 = mk_queue_full("d1", true, false, false, NULL, &a2.t);
    struct queue *d2 = mk_queue_full("d2", true, false, false, NULL, NULL);
    pub_exp("", "src", "m", 60000, true);
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    queue_reject_drop(q, &e);
    ck_assert(queue_get(d1, false, &e, NULL));
    queue_reject_drop(d1, &e);
    struct message *m = take(d2, "m");
    const struct broker_deaths *ds = message_deaths(m);
    ck_assert_ptr_nonnull(ds);
    ck_assert_uint_eq(ds->n, 2);

    uint8_t buf[4096];
    struct edad_bytes meta = encode(m, 1700000000000ull, 0, buf);
    ck_assert_uint_gt(meta.len, 0);
    bool bad = true;
    struct message *r = restore(m, meta, d2, 1700000009000ull, &bad);
    ck_assert(!bad);
    ck_assert_ptr_nonnull(r);
    const struct broker_deaths *rs = message_deaths(r);
    ck_assert_ptr_nonnull(rs);
    ck_assert_uint_eq(rs->n, ds->n);
    for (uint32_t i = 0; i < ds->n; i++) {
        ck_assert(same(rs->v[i].queue, ds->v[i].queue));
        ck_assert(same(rs->v[i].reason, ds->v[i].reason));
        ck_assert(same(rs->v[i].exchange, ds->v[i].exchange));
        ck_assert_uint_eq(rs->v[i].routing_keys_n, ds->v[i].routing_keys_n);
        for (uint32_t k = 0; k < ds->v[i].routing_keys_n; k++)
            ck_assert(same(rs->v[i].routing_keys[k], ds->v[i].routing_keys[k]));
        ck_assert(same(rs->v[i].original_expiration, ds->v[i].original_expiration));
        ck_assert_uint_eq(rs->v[i].count, ds->v[i].count);
        ck_assert_uint_eq(rs->v[i].time_s, ds->v[i].time_s);
    }
    ck_assert(same(rs->first_reason, ds->first_reason));
    ck_assert(same(rs->first_queue, ds->first_queue));
    ck_assert(same(rs->first_exchange, ds->first_exchange));
    ck_assert(same(rs->last_reason, ds->last_reason));
    ck_assert(same(rs->last_queue, ds->last_queue));
    ck_assert(same(rs->last_exchange, ds->last_exchange));
    ck_assert(same(message_body(r), message_body(m)));
    ck_assert(same(message_props(r), message_props(m)));
    ck_assert_int_eq(message_expiration_ms(r), -1);
    ck_assert(message_is_persistent(r));
    message_unref(&r);
    message_unref(&m);
}
END_TEST

/* ---- routing-keys with CC keys ---------------------------------------------------------------- */

static const struct broker_value cc_values[2] = {
    {.kind = BROKER_V_STRING, .v.str = {(const uint8_t *)"c1", 2}},
    {.kind = BROKER_V_STRING, .v.str = {(const uint8_t *)"", 0}},
};
static const struct broker_arg cc_arg = {
    .key = {(const uint8_t *)"CC", 2},
    .value = {.kind = BROKER_V_ARRAY, .v.array = {2, cc_values}},
};
static const struct broker_table cc_table = {1, &cc_arg, {NULL, 0}};
/* headers flag and a "CC" key: the broker's pre-check; the codec answers */
static const char cc_props[] = "\x20\x00" "\x00\x00\x00\x13" "\x02" "CC" "A" "\x00\x00\x00\x0b"
                               "S\x00\x00\x00\x02" "c1" "S\x00\x00\x00\x00";

static const struct broker_table *codec_cc(void *ctx, const struct message *m, struct arena *a)
{
    EDAD_UNUSED(ctx);
    EDAD_UNUSED(a);
    struct edad_bytes p = message_props(m);
    bool cc = p.len == sizeof(cc_props) - 1 && memcmp(p.ptr, cc_props, p.len) == 0;
    return cc ? &cc_table : NULL;
}

/* A dead letter whose death has routing-keys {"k", "c1", ""} (an empty CC
 * key is a key too); the caller unrefs. */
static struct message *dead_with_cc(void)
{
    struct broker_codec codec = {.headers = codec_cc};
    broker_set_codec(B, &codec);
    struct targs ta;
    ta_init(&ta);
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "dcc");
    struct queue *q = mk_queue_full("kcc", true, false, false, NULL, &ta.t);
    mk_queue_full("dcc", true, false, false, NULL, NULL);
    struct message_info info = {.persistent = true, .expiration_ms = -1};
    struct message *m = message_new(S(""), S("kcc"), (struct edad_bytes){(const uint8_t *)cc_props,
                                    sizeof(cc_props) - 1}, 1, &info);
    message_body_mut(m)[0] = 'm';
    pub_msg(m, &cc_table);
    message_unref(&m);
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    queue_reject_drop(q, &e);
    broker_set_codec(B, NULL);
    m = take(queue_lookup(V, S("dcc"), NULL, NULL), "m");
    const struct broker_deaths *ds = message_deaths(m);
    ck_assert_ptr_nonnull(ds);
    ck_assert_uint_eq(ds->v[0].routing_keys_n, 3);
    return m;
}

START_TEST(deaths_keep_cc_routing_keys)
{
    struct message *m = dead_with_cc();
    uint8_t buf[4096];
    struct edad_bytes meta = encode(m, 1700000000000ull, 0, buf);
    bool bad = true;
    struct message *r = restore(m, meta, NULL, 1700000000000ull, &bad);
    ck_assert(!bad);
    const struct broker_deaths *rs = message_deaths(r);
    ck_assert_ptr_nonnull(rs);
    ck_assert_uint_eq(rs->v[0].routing_keys_n, 3);
    ck_assert(same(rs->v[0].routing_keys[0], S("kcc")));
    ck_assert(same(rs->v[0].routing_keys[1], S("c1")));
    ck_assert(same(rs->v[0].routing_keys[2], S("")));
    /* cut anywhere inside the key list: rejected, nothing leaks (ASan) */
    for (size_t cut = 1; cut < meta.len; cut++) {
        bad = false;
        struct message *t = restore(m, (struct edad_bytes){meta.ptr, cut}, NULL, 1, &bad);
        ck_assert_msg(bad, "cut at %zu accepted", cut);
        message_unref(&t);
    }
    /* a key count far beyond the bytes left: rejected before allocating */
    uint8_t big[4096];
    memcpy(big, meta.ptr, meta.len);
    size_t at = 2 + 4 + 16 + 4 + 3 + 4 + 8 + 4;     /* head, n, count/time, queue, reason, exchange */
    ck_assert_uint_eq(big[at], 3);
    big[at + 3] = 0x7f;
    bad = false;
    struct message *t = restore(m, (struct edad_bytes){big, meta.len}, NULL, 1, &bad);
    ck_assert(bad);
    message_unref(&t);
    message_unref(&r);
    message_unref(&m);
}
END_TEST

/*
 * A record written before CC keys were kept (and still written when every
 * death has one key, so older binaries read it): each death holds one
 * routing key string, no key count.  Hand-built bytes: version 1, deaths.
 */
START_TEST(deaths_old_record_readable)
{
    static const uint8_t old[] = {
        1, 0x2,                                     /* version, META_F_DEATHS */
        1, 0, 0, 0,                                 /* one death */
        2, 0, 0, 0, 0, 0, 0, 0,                     /* count 2 */
        0x10, 0, 0, 0, 0, 0, 0, 0,                  /* time_s 16 */
        1, 0, 0, 0, 'q',
        8, 0, 0, 0, 'r', 'e', 'j', 'e', 'c', 't', 'e', 'd',
        1, 0, 0, 0, 'x',
        2, 0, 0, 0, 'r', 'k',                       /* the one routing key */
        0, 0, 0, 0,                                 /* no original-expiration */
        8, 0, 0, 0, 'r', 'e', 'j', 'e', 'c', 't', 'e', 'd',
        1, 0, 0, 0, 'q',
        1, 0, 0, 0, 'x',
        8, 0, 0, 0, 'r', 'e', 'j', 'e', 'c', 't', 'e', 'd',
        1, 0, 0, 0, 'q',
        1, 0, 0, 0, 'x',
    };
    struct message_info info = {.persistent = true, .expiration_ms = -1};
    struct message *m = message_new(S("x"), S("rk"), S("\x80\x00"), 1, &info);
    message_body_mut(m)[0] = 'b';
    bool bad = true;
    struct message *r = restore(m, (struct edad_bytes){old, sizeof(old)}, NULL, 1, &bad);
    ck_assert(!bad);
    const struct broker_deaths *ds = message_deaths(r);
    ck_assert_ptr_nonnull(ds);
    ck_assert_uint_eq(ds->n, 1);
    ck_assert_uint_eq(ds->v[0].count, 2);
    ck_assert_uint_eq(ds->v[0].time_s, 16);
    ck_assert(same(ds->v[0].queue, S("q")));
    ck_assert_uint_eq(ds->v[0].routing_keys_n, 1);
    ck_assert(same(ds->v[0].routing_keys[0], S("rk")));
    ck_assert(same(ds->last_exchange, S("x")));
    /* and one-key deaths are written in that same form again */
    uint8_t buf[4096];
    struct edad_bytes meta = encode(r, 1, 0, buf);
    ck_assert_uint_eq(meta.len, sizeof(old));
    ck_assert(memcmp(meta.ptr, old, sizeof(old)) == 0);
    message_unref(&r);
    message_unref(&m);
}
END_TEST

START_TEST(plain_message_has_no_meta)
{
    struct queue *q = mk_queue_full("plain", true, false, false, NULL, NULL);
    pub_exp("", "plain", "p", -1, true);
    struct message *m = take(q, "p");
    uint8_t buf[4096];
    ck_assert_uint_eq(encode(m, 1700000000000ull, 0, buf).len, 0);
    ck_assert_uint_gt(encode(m, 1700000000000ull, 1700000001000ull, buf).len, 0);
    ck_assert_uint_eq(message_meta_due(encode(m, 1, 1700000001000ull, buf)), 1700000001000ull);
    message_unref(&m);
}
END_TEST

START_TEST(malformed_meta_is_ignored)
{
    struct queue *q = mk_queue_full("mal", true, false, false, NULL, NULL);
    pub_exp("", "mal", "x", 1000, true);
    struct message *m = take(q, "x");
    uint8_t buf[4096];
    struct edad_bytes meta = encode(m, 1700000000000ull, 0, buf);
    ck_assert_uint_gt(meta.len, 2);
    const uint8_t junk[] = {9, 1, 2, 3};
    struct edad_bytes cases[3] = {
        {junk, sizeof(junk)},               /* unknown version */
        {meta.ptr, meta.len - 1},           /* truncated */
        {buf, 1},                           /* header cut */
    };
    for (int i = 0; i < 3; i++) {
        bool bad = false;
        struct message *r = restore(m, cases[i], NULL, 1700000000000ull, &bad);
        ck_assert_msg(bad, "case %d accepted", i);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_null(message_deaths(r));
        ck_assert(same(message_body(r), message_body(m)));
        message_unref(&r);
    }
    ck_assert_uint_eq(message_meta_due(cases[0]), 0);
    message_unref(&m);
}
END_TEST

/* ---- TTL on the wall clock ------------------------------------------------------------------- */

/*
 * A message of a queue with x-message-ttl 10 s, 3 s old at the "restart";
 * the new broker clock reads restart_now (small: the machine rebooted).
 * It must expire 7 s after the restart, not before.
 */
static void ttl_case(uint64_t restart_now)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-message-ttl", BROKER_V_I32, 10000);
    ta_str(&ta, "x-dead-letter-exchange", "");
    ta_str(&ta, "x-dead-letter-routing-key", "ttl-dead");
    struct queue *q = mk_queue_full("ttl", true, false, false, NULL, &ta.t);
    struct queue *dead = mk_queue_full("ttl-dead", true, false, false, NULL, NULL);
    pub_exp("", "ttl", "t", -1, true);
    uint64_t wall0 = 1700000000000ull;
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    uint8_t buf[4096];
    struct edad_bytes meta = encode(e.msg, wall0, 0, buf);
    ck_assert_uint_gt(meta.len, 0);
    struct message *copy = message_ref(e.msg);
    queue_ack(q, &e);                   /* gone from q: the copy comes back */

    now_ms = restart_now;
    bool bad = true;
    struct message *r = restore(copy, meta, q, wall0 + 3000, &bad);
    ck_assert(!bad);
    queue_recover_entry(q, r, 100, 0, false, 101);
    message_unref(&r);
    message_unref(&copy);
    advance(6990);
    ck_assert_uint_eq(ready(q), 1);
    ck_assert_uint_eq(ready(dead), 0);
    advance(20);
    ck_assert_uint_eq(ready(q), 0);
    ck_assert_uint_eq(ready(dead), 1);
}

START_TEST(ttl_expires_at_the_same_wall_moment)
{
    ttl_case(900000);
}
END_TEST

START_TEST(ttl_with_a_broker_clock_below_the_age)
{
    ttl_case(100);      /* 100 ms since boot, the message 3 s old */
}
END_TEST

START_TEST(ttl_due_during_downtime_expires_at_once)
{
    struct targs ta;
    ta_init(&ta);
    ta_int(&ta, "x-message-ttl", BROKER_V_I32, 1000);
    struct queue *q = mk_queue_full("due", true, false, false, NULL, &ta.t);
    pub_exp("", "due", "d", -1, true);
    struct queue_entry e;
    ck_assert(queue_get(q, false, &e, NULL));
    uint8_t buf[4096];
    struct edad_bytes meta = encode(e.msg, 1700000000000ull, 0, buf);
    struct message *copy = message_ref(e.msg);
    queue_ack(q, &e);
    now_ms = 50;
    struct message *r = restore(copy, meta, q, 1700000000000ull + 60000, NULL);
    queue_recover_entry(q, r, 7, 0, true, 8);
    message_unref(&r);
    message_unref(&copy);
    advance(0);
    ck_assert_uint_eq(ready(q), 0);
}
END_TEST

/* ---- delayed exchanges -------------------------------------------------------------------------- */

START_TEST(delayed_restore_in_due_order)
{
    struct targs ta;
    ta_init(&ta);
    ta_str(&ta, "x-delayed-type", "direct");
    mk_exchange_full("dx", "x-delayed-message", true, false, false, &ta.t);
    struct queue *q = mk_queue("dq");
    mk_bind("dq", "dx", "k", NULL);
    struct exchange *x = exchange_find(V, S("dx"));
    ck_assert_ptr_nonnull(x);
    ck_assert(exchange_delayed_attach(x, NULL, 10));
    const char *bodies[4] = {"late-due-2", "late-due-1", "future", "late-due-3"};
    uint64_t due[4] = {now_ms - 10, now_ms - 20, now_ms + 500, now_ms};
    uint64_t order[4] = {2000, 1000, 9000, 3000};
    for (int i = 0; i < 4; i++) {
        struct message *m = msg("dx", "k", bodies[i], true);
        exchange_delayed_restore(x, m, (uint64_t)i + 1, due[i], order[i], 0);
        message_unref(&m);
    }
    ck_assert(!exchange_delayed_attach(exchange_find(V, S("amq.direct")), NULL, 1));
    advance(0);
    char b[64];
    struct queue_entry e;
    const char *want[3] = {"late-due-1", "late-due-2", "late-due-3"};
    for (int i = 0; i < 3; i++) {
        ck_assert(get_body(q, true, &e, b, sizeof(b)));
        ck_assert_str_eq(b, want[i]);
        message_unref(&e.msg);
    }
    ck_assert_uint_eq(ready(q), 0);
    advance(499);
    ck_assert_uint_eq(ready(q), 0);
    advance(1);
    ck_assert(get_body(q, true, &e, b, sizeof(b)));
    ck_assert_str_eq(b, "future");
    message_unref(&e.msg);
}
END_TEST

/* ---- dedup caches ---------------------------------------------------------------------------------- */

static int keys_seen;
static void count_key(void *ctx, const uint8_t *key, size_t len, uint64_t exp)
{
    (void)ctx;
    (void)key;
    (void)len;
    (void)exp;
    keys_seen++;
}

START_TEST(dedup_of_durable_owners_and_restore)
{
    struct targs ta;
    ta_init(&ta);
    ta_bool(&ta, "x-message-deduplication", true);
    ta_int(&ta, "x-cache-size", BROKER_V_I32, 2);
    mk_queue_full("dd", true, false, false, NULL, &ta.t);
    mk_queue_full("dd-transient", false, false, false, NULL, &ta.t);
    mk_queue_full("dd-none", true, false, false, NULL, NULL);
    ck_assert_ptr_null(dedup_of(V, 'q', S("dd-transient")));
    ck_assert_ptr_null(dedup_of(V, 'q', S("dd-none")));
    ck_assert_ptr_null(dedup_of(V, 'q', S("missing")));
    ck_assert_ptr_null(dedup_of(V, 'x', S("dd")));
    struct dedup *d = dedup_of(V, 'q', S("dd"));
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(dedup_capacity(d), 2);
    /* three keys into a cache of two: the oldest goes; a repeat moves to the end */
    dedup_restore(d, (const uint8_t *)"a", 1, UINT64_MAX);
    dedup_restore(d, (const uint8_t *)"b", 1, UINT64_MAX);
    dedup_restore(d, (const uint8_t *)"a", 1, UINT64_MAX);
    dedup_restore(d, (const uint8_t *)"c", 1, now_ms + 100);
    keys_seen = 0;
    dedup_foreach(d, count_key, NULL);
    ck_assert_int_eq(keys_seen, 2);
}
END_TEST

static Suite *persist_suite(void)
{
    Suite *s = suite_create("broker_persist");
    TCase *tc = tcase_create("persist");
    tcase_add_checked_fixture(tc, setup, fx_teardown);
    tcase_add_test(tc, deaths_round_trip_exactly);
    tcase_add_test(tc, deaths_keep_cc_routing_keys);
    tcase_add_test(tc, deaths_old_record_readable);
    tcase_add_test(tc, plain_message_has_no_meta);
    tcase_add_test(tc, malformed_meta_is_ignored);
    tcase_add_test(tc, ttl_expires_at_the_same_wall_moment);
    tcase_add_test(tc, ttl_with_a_broker_clock_below_the_age);
    tcase_add_test(tc, ttl_due_during_downtime_expires_at_once);
    tcase_add_test(tc, delayed_restore_in_due_order);
    tcase_add_test(tc, dedup_of_durable_owners_and_restore);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(persist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
