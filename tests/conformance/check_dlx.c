/*
 * check_dlx.c - dead-lettering on reject/nack, expiry and overflow; the
 * x-death header as RabbitMQ keeps it (per queue and reason, counted, most
 * recent first, x-first/last-death-*), cycles, a missing DLX, alternate
 * exchanges and mandatory on the dead-letter path, and the 406 replies.
 * Overflow policies: check_maxlen.c; delivery limits: check_delivery_limit.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cte.h"

#define S (&harness_default)

/*
 * A work queue q dead-lettering through a direct exchange dlx to queue dq
 * (bound with key dq); extra arguments of q come from types/varargs.
 */
static void dl_setup(struct raw_conn *c, char *q, char *dq, char *dlx, const char *base,
                     const char *types, ...)
{
    struct raw_buf t;
    va_list ap;
    char qb[64], db[64], xb[64];
    snprintf(qb, sizeof(qb), "%s-q", base);
    snprintf(db, sizeof(db), "%s-dlq", base);
    snprintf(xb, sizeof(xb), "%s-dlx", base);
    ctm_name(q, CTM_NAME_MAX, qb);
    ctm_name(dq, CTM_NAME_MAX, db);
    ctm_name(dlx, CTM_NAME_MAX, xb);
    ctm_exchange_declare(c, 1, dlx, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(c, 1, dq, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(c, 1, dq, dlx, dq, NULL);

    /* q's arguments: the dead-letter pair first, then the caller's */
    raw_buf_init(&t);
    size_t m = raw_table_begin(&t);
    raw_table_put_longstr(&t, "x-dead-letter-exchange", dlx);
    raw_table_put_longstr(&t, "x-dead-letter-routing-key", dq);
    if (types && *types) {
        struct raw_buf extra;
        raw_buf_init(&extra);
        va_start(ap, types);
        cte_vtable(&extra, types, ap);
        va_end(ap);
        raw_put_bytes(&t, extra.data + 4, extra.len - 4);  /* entries without the length */
        raw_buf_free(&extra);
    }
    raw_table_end(&t, m);
    ctm_queue_declare(c, 1, q, CTM_Q_EXCLUSIVE, &t, NULL, 0, NULL, NULL);
    raw_buf_free(&t);
}

/* basic.get (ack mode) one message and return its delivery tag. */
static uint64_t get_tag(struct raw_conn *c, const char *q, const char *body)
{
    struct ctm_in in;
    ck_assert_msg(ctm_basic_get(c, 1, q, false, &in), "queue '%s' is empty", q);
    if (body)
        ck_assert_str_eq((const char *)in.body, body);
    uint64_t tag = in.delivery_tag;
    ctm_in_free(&in);
    return tag;
}

/* Wait until q holds one message, then basic.get it (no-ack) into *in. */
static void get_dead(struct raw_conn *c, const char *q, struct ctm_in *in, const char *body)
{
    ctm_wait_count(c, 1, q, 1);
    ck_assert_msg(ctm_basic_get(c, 1, q, true, in), "dead-letter queue '%s' is empty", q);
    if (body)
        ck_assert_msg(strcmp((const char *)in->body, body) == 0, "dead-lettered '%s', want '%s'",
                      (const char *)in->body, body);
}

static void expect_header(const struct ctm_in *in, const char *key, const char *want)
{
    char v[256];
    ck_assert_msg(cte_header_str(in, key, v, sizeof(v)), "header %s is missing", key);
    ck_assert_msg(strcmp(v, want) == 0, "header %s is '%s', want '%s'", key, v, want);
}

/* x-last-death-* came with RabbitMQ 3.13; older servers leave them out. */
static void expect_last_death(const struct harness_server *s, const struct ctm_in *in,
                              const char *queue, const char *reason, const char *exchange)
{
    char v[256];
    if (!ctm_server_is_edad(s) && !cte_header_str(in, "x-last-death-queue", v, sizeof(v)))
        return;
    expect_header(in, "x-last-death-queue", queue);
    expect_header(in, "x-last-death-reason", reason);
    expect_header(in, "x-last-death-exchange", exchange);
}

static void expect_death(const struct cte_death *d, const char *queue, const char *reason,
                         int64_t count, const char *exchange)
{
    ck_assert_msg(strcmp(d->queue, queue) == 0, "x-death queue '%s', want '%s'", d->queue, queue);
    ck_assert_msg(strcmp(d->reason, reason) == 0, "x-death reason '%s', want '%s'", d->reason,
                  reason);
    ck_assert_msg(d->has_count && d->count == count, "x-death count %lld, want %lld",
                  (long long)d->count, (long long)count);
    ck_assert_msg(d->count_type == 'l', "x-death count has type '%c', want long ('l')",
                  d->count_type);
    ck_assert_msg(d->has_time && d->time_type == 'T', "x-death time missing or not a timestamp");
    ck_assert_msg(strcmp(d->exchange, exchange) == 0, "x-death exchange '%s', want '%s'",
                  d->exchange, exchange);
}

/* ---- reasons ---------------------------------------------------------------------- */

START_TEST(test_nack_dead_letters_with_x_death)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[4];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "nack", NULL);
    ctm_publish_str(&c, 1, "", q, "m1");
    ctm_send_basic_nack(&c, 1, get_tag(&c, q, "m1"), false, false);
    get_dead(&c, dq, &in, "m1");
    ck_assert_str_eq(in.exchange, dlx);
    ck_assert_str_eq(in.routing_key, dq);
    ck_assert_uint_eq(cte_deaths(&in, d, 4), 1);
    expect_death(&d[0], q, "rejected", 1, "");
    ck_assert_uint_eq(d[0].nrkeys, 1);
    ck_assert_str_eq(d[0].rkeys[0], q);
    ck_assert_msg(!d[0].has_original_expiration, "original-expiration without an expiration");
    expect_header(&in, "x-first-death-queue", q);
    expect_header(&in, "x-first-death-reason", "rejected");
    expect_header(&in, "x-first-death-exchange", "");
    expect_last_death(S, &in, q, "rejected", "");
    ctm_in_free(&in);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_reject_dead_letters)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "reject", NULL);
    ctm_publish_str(&c, 1, "", q, "r1");
    ctm_publish_str(&c, 1, "", q, "r2");
    ctm_send_basic_reject(&c, 1, get_tag(&c, q, "r1"), false);
    get_dead(&c, dq, &in, "r1");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "rejected", 1, "");
    ctm_in_free(&in);
    /* the other message is untouched */
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 1);
    raw_close(&c);
}
END_TEST

START_TEST(test_nack_multiple_dead_letters_in_order)
{
    struct raw_conn c;
    struct ctm_in ins[3];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX], got[256], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    dl_setup(&c, q, dq, dlx, "nackmulti", NULL);
    ctm_publish_str(&c, 1, "", q, "a");
    ctm_publish_str(&c, 1, "", q, "b");
    ctm_publish_str(&c, 1, "", q, "c");
    ctm_basic_consume(&c, 2, q, "nacker", 0, NULL, 0);
    cte_collect(&c, 2, ins, 3, false);
    ctm_send_basic_nack(&c, 2, ins[2].delivery_tag, true, false);
    cte_ins_free(ins, 3);
    ctm_wait_count(&c, 1, dq, 3);
    cte_drain_bodies(&c, 1, dq, got, sizeof(got));
    ck_assert_str_eq(got, "a,b,c");
    raw_close(&c);
}
END_TEST

START_TEST(test_nack_requeue_does_not_dead_letter)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "requeue", NULL);
    ctm_publish_str(&c, 1, "", q, "again");
    ctm_send_basic_nack(&c, 1, get_tag(&c, q, "again"), false, true);
    ctm_send_basic_reject(&c, 1, get_tag(&c, q, "again"), true);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, dq, NULL), 0);
    raw_close(&c);
}
END_TEST

START_TEST(test_queue_ttl_dead_letters_expired)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "ttl", "l", "x-message-ttl", 20LL);
    ctm_publish_str(&c, 1, "", q, "aged");
    get_dead(&c, dq, &in, "aged");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "expired", 1, "");
    ck_assert_msg(!d[0].has_original_expiration,
                  "a queue TTL expiry must not add original-expiration");
    expect_header(&in, "x-first-death-reason", "expired");
    expect_last_death(S, &in, q, "expired", "");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_expiration_dead_letters_with_original_expiration)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX], exp[32];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "msgexp", NULL);
    cte_publish_expiring(&c, 1, "", q, "20", "timed");
    get_dead(&c, dq, &in, "timed");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "expired", 1, "");
    ck_assert_msg(d[0].has_original_expiration, "x-death lacks original-expiration");
    ck_assert_str_eq(d[0].original_expiration, "20");
    ck_assert_msg(!ctm_prop_str(&in, CTM_PROP_EXPIRATION, exp, sizeof(exp)),
                  "a dead-lettered message keeps expiration '%s'", exp);
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_maxlen_drop_head_dead_letters)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "maxlen", "l", "x-max-length", 1LL);
    ctm_publish_str(&c, 1, "", q, "old");
    ctm_publish_str(&c, 1, "", q, "new");
    get_dead(&c, dq, &in, "old");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "maxlen", 1, "");
    ctm_in_free(&in);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "new");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_dead_letter_keeps_properties_and_headers)
{
    struct raw_conn c;
    struct ctm_in in;
    struct raw_buf h;
    struct ctm_props p;
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX], v[64];
    int64_t n = 0;
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "props", NULL);
    raw_buf_init(&h);
    cte_table(&h, "SI", "app-header", "kept", "attempt", 3);
    memset(&p, 0, sizeof(p));
    p.headers = &h;
    p.content_type = "text/plain";
    p.message_id = "mid-1";
    p.correlation_id = "cid-1";
    p.delivery_mode = 2;
    ctm_publish(&c, 1, "", q, 0, &p, "payload", 7);
    raw_buf_free(&h);
    ctm_send_basic_reject(&c, 1, get_tag(&c, q, "payload"), false);
    get_dead(&c, dq, &in, "payload");
    expect_header(&in, "app-header", "kept");
    ck_assert(cte_header_int(&in, "attempt", &n) && n == 3);
    ck_assert(ctm_prop_str(&in, CTM_PROP_CONTENT_TYPE, v, sizeof(v)));
    ck_assert_str_eq(v, "text/plain");
    ck_assert(ctm_prop_str(&in, CTM_PROP_MESSAGE_ID, v, sizeof(v)));
    ck_assert_str_eq(v, "mid-1");
    ck_assert(ctm_prop_str(&in, CTM_PROP_CORRELATION_ID, v, sizeof(v)));
    ck_assert_str_eq(v, "cid-1");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* Purging or deleting a queue discards its messages: nothing is dead-lettered. */
START_TEST(test_purge_and_delete_do_not_dead_letter)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    dl_setup(&c, q, dq, dlx, "purge", NULL);
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "", q, "purged");
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ck_assert_uint_eq(ctm_queue_purge(&c, 1, q), 1);
    ctm_publish_str(&c, 1, "", q, "deleted");
    ctm_expect_confirms(&c, 1, 2, 2, NULL);
    ck_assert_uint_eq(ctm_queue_delete(&c, 1, q, 0), 1);
    harness_sleep_ms(100);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, dq, NULL), 0);
    raw_close(&c);
}
END_TEST

/* Unacked messages of a closed channel go back to the queue, not to the DLX. */
START_TEST(test_channel_close_requeues_not_dead_letters)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    dl_setup(&c, q, dq, dlx, "chclose", NULL);
    ctm_publish_str(&c, 1, "", q, "held");
    ctm_basic_consume(&c, 2, q, "holder", 0, NULL, 0);
    ctm_expect_deliver(&c, &in, 2, "held");
    ctm_in_free(&in);
    ck_assert(raw_send_close(&c, 2, RAW_CHANNEL, RAW_REPLY_SUCCESS, "bye") == 0);
    ctm_expect(&c, &in, 2, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
    ctm_in_free(&in);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, dq, NULL), 0);
    raw_close(&c);
}
END_TEST

/* ---- routing ------------------------------------------------------------------------ */

START_TEST(test_original_routing_key_without_dlrk)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX], dlx[CTM_NAME_MAX], rk[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "origrk-q");
    ctm_name(dq, sizeof(dq), "origrk-dlq");
    ctm_name(dlx, sizeof(dlx), "origrk-dlx");
    ctm_name(rk, sizeof(rk), "origrk-key");
    ctm_exchange_declare(&c, 1, dlx, "direct", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(&c, 1, dq, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, dq, dlx, rk, NULL);
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", dlx);
    ctm_queue_bind(&c, 1, q, "amq.direct", rk, NULL);
    ctm_publish_str(&c, 1, "amq.direct", rk, "via-original-key");
    ctm_send_basic_nack(&c, 1, get_tag(&c, q, "via-original-key"), false, false);
    get_dead(&c, dq, &in, "via-original-key");
    ck_assert_str_eq(in.routing_key, rk);
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "rejected", 1, "amq.direct");
    ck_assert_uint_eq(d[0].nrkeys, 1);
    ck_assert_str_eq(d[0].rkeys[0], rk);
    expect_header(&in, "x-first-death-exchange", "amq.direct");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

START_TEST(test_missing_dlx_drops_silently)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], nope[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "nodlx-q");
    ctm_name(nope, sizeof(nope), "no-such-dlx");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", nope);
    ctm_publish_str(&c, 1, "", q, "lost");
    ctm_send_basic_reject(&c, 1, get_tag(&c, q, "lost"), false);
    ctm_wait_count(&c, 1, q, 0);
    /* the channel is fine and the message is gone */
    ck_assert(!ctm_basic_get(&c, 1, q, true, &in));
    raw_close(&c);
}
END_TEST

START_TEST(test_default_exchange_as_dlx)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dq[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "defdlx-q");
    ctm_queue_temp(&c, 1, dq, sizeof(dq));
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", dq);
    ctm_publish_str(&c, 1, "", q, "to-default");
    ctm_send_basic_nack(&c, 1, get_tag(&c, q, "to-default"), false, false);
    get_dead(&c, dq, &in, "to-default");
    ck_assert_str_eq(in.exchange, "");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "rejected", 1, "");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/*
 * An expiry cycle (dead-lettered back into the queue it died in, with no
 * rejection on the way) is dropped for that queue.  A fanout DLX also
 * feeds an observer queue, which sees the one dead-lettering: without
 * cycle detection it would see the message again every TTL.
 */
START_TEST(test_expiry_cycle_dropped)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], obs[CTM_NAME_MAX], fx[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "cycle-q");
    ctm_name(obs, sizeof(obs), "cycle-observer");
    ctm_name(fx, sizeof(fx), "cycle-fanout");
    ctm_exchange_declare(&c, 1, fx, "fanout", CTM_X_AUTO_DELETE, NULL);
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "Sl", "x-dead-letter-exchange", fx,
                      "x-message-ttl", 20LL);
    ctm_queue_declare(&c, 1, obs, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, q, fx, "", NULL);
    ctm_queue_bind(&c, 1, obs, fx, "", NULL);
    ctm_publish_str(&c, 1, "", q, "around");
    ctm_wait_count(&c, 1, obs, 1);
    harness_sleep_ms(300);          /* a dozen TTLs: a cycling message would show up again */
    ck_assert_uint_eq(ctm_queue_count(&c, 1, obs, NULL), 1);
    ck_assert_uint_eq(ctm_queue_count(&c, 1, q, NULL), 0);
    raw_close(&c);
}
END_TEST

/* Same cycle through the default exchange and a length limit (RabbitMQ's test 6). */
START_TEST(test_maxlen_cycle_dropped)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "cycle-maxlen");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "lS", "x-max-length", 1LL,
                      "x-dead-letter-exchange", "");
    ctm_confirm_select(&c, 1);
    ctm_publish_str(&c, 1, "", q, "p1");
    ctm_publish_str(&c, 1, "", q, "p2");
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ctm_wait_count(&c, 1, q, 1);
    ck_assert(ctm_basic_get(&c, 1, q, true, &in));
    ck_assert_str_eq((const char *)in.body, "p2");
    ctm_in_free(&in);
    harness_sleep_ms(100);
    ck_assert_msg(!ctm_basic_get(&c, 1, q, true, &in), "p1 came back: '%s'",
                  (const char *)in.body);
    raw_close(&c);
}
END_TEST

/* A cycle that includes a rejection keeps going; the x-death count grows in place. */
START_TEST(test_reject_cycle_counts_up)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[2];
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "cycle-reject");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", "");
    ctm_publish_str(&c, 1, "", q, "boomerang");
    for (int64_t round = 1; round <= 3; round++) {
        ctm_send_basic_nack(&c, 1, get_tag(&c, q, "boomerang"), false, false);
        ctm_wait_count(&c, 1, q, 1);
        ck_assert(ctm_basic_get(&c, 1, q, false, &in));
        ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
        expect_death(&d[0], q, "rejected", round, "");
        ctm_send_basic_nack(&c, 1, in.delivery_tag, false, true);  /* back for the next round */
        ctm_in_free(&in);
    }
    raw_close(&c);
}
END_TEST

/* Two hops: entries most recent first; first-death stays, last-death moves. */
START_TEST(test_two_hops_x_death_order)
{
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[4];
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX], q3[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "hop1");
    ctm_name(q2, sizeof(q2), "hop2");
    ctm_name(q3, sizeof(q3), "hop3");
    ctm_queue_declare(&c, 1, q3, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "SSl", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", q3, "x-message-ttl", 20LL);
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", q2);
    ctm_publish_str(&c, 1, "", q1, "traveller");
    ctm_send_basic_reject(&c, 1, get_tag(&c, q1, "traveller"), false);
    get_dead(&c, q3, &in, "traveller");
    ck_assert_uint_eq(cte_deaths(&in, d, 4), 2);
    expect_death(&d[0], q2, "expired", 1, "");
    expect_death(&d[1], q1, "rejected", 1, "");
    ck_assert_uint_eq(d[0].nrkeys, 1);
    ck_assert_str_eq(d[0].rkeys[0], q2);
    expect_header(&in, "x-first-death-queue", q1);
    expect_header(&in, "x-first-death-reason", "rejected");
    expect_last_death(S, &in, q2, "expired", "");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/*
 * q1 --rejected--> q2 --expired--> q3 --expired--> q1 twice: the cycle holds
 * a rejection, so it is not dropped; each {queue, reason} entry counts 2 and
 * the most recent death comes first (RabbitMQ's reject_expire_expire).
 */
START_TEST(test_reject_expire_cycle_continues)
{
    CTM_EDAD_ONLY(S, "RabbitMQ 3.10 drops the message in the second round; current RabbitMQ "
                     "(dead_lettering_SUITE dead_letter_reject_expire_expire) keeps it");
    struct raw_conn c;
    struct ctm_in in;
    struct cte_death d[4];
    char q1[CTM_NAME_MAX], q2[CTM_NAME_MAX], q3[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q1, sizeof(q1), "rcycle1");
    ctm_name(q2, sizeof(q2), "rcycle2");
    ctm_name(q3, sizeof(q3), "rcycle3");
    cte_queue_declare(&c, 1, q1, CTM_Q_EXCLUSIVE, "SS", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", q2);
    cte_queue_declare(&c, 1, q2, CTM_Q_EXCLUSIVE, "SSl", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", q3, "x-message-ttl", 5LL);
    cte_queue_declare(&c, 1, q3, CTM_Q_EXCLUSIVE, "SSl", "x-dead-letter-exchange", "",
                      "x-dead-letter-routing-key", q1, "x-message-ttl", 5LL);
    ctm_publish_str(&c, 1, "", q1, "loop");
    ctm_send_basic_reject(&c, 1, get_tag(&c, q1, "loop"), false);
    ctm_wait_count(&c, 1, q1, 1);
    ctm_send_basic_reject(&c, 1, get_tag(&c, q1, "loop"), false);
    ctm_wait_count(&c, 1, q1, 1);
    ck_assert(ctm_basic_get(&c, 1, q1, true, &in));
    ck_assert_uint_eq(cte_deaths(&in, d, 4), 3);
    expect_death(&d[0], q3, "expired", 2, "");
    expect_death(&d[1], q2, "expired", 2, "");
    expect_death(&d[2], q1, "rejected", 2, "");
    expect_header(&in, "x-first-death-queue", q1);
    expect_last_death(S, &in, q3, "expired", "");
    ctm_in_free(&in);
    raw_close(&c);
}
END_TEST

/* ---- alternate exchanges and mandatory ------------------------------------------------ */

START_TEST(test_dead_letter_follows_alternate_exchange)
{
    struct raw_conn c;
    struct ctm_in in;
    struct raw_buf a;
    struct cte_death d[2];
    char q[CTM_NAME_MAX], dlx[CTM_NAME_MAX], ae[CTM_NAME_MAX], aeq[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "ae-q");
    ctm_name(dlx, sizeof(dlx), "ae-dlx");
    ctm_name(ae, sizeof(ae), "ae-fanout");
    ctm_name(aeq, sizeof(aeq), "ae-sink");
    ctm_exchange_declare(&c, 1, ae, "fanout", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(&c, 1, aeq, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, aeq, ae, "", NULL);
    raw_buf_init(&a);
    ctm_table_str(&a, "alternate-exchange", ae);
    ctm_exchange_declare(&c, 1, dlx, "direct", 0, &a);    /* no bindings: all goes to ae */
    raw_buf_free(&a);
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", dlx);
    ctm_publish_str(&c, 1, "", q, "alternate");
    ctm_send_basic_reject(&c, 1, get_tag(&c, q, "alternate"), false);
    get_dead(&c, aeq, &in, "alternate");
    ck_assert_uint_eq(cte_deaths(&in, d, 2), 1);
    expect_death(&d[0], q, "rejected", 1, "");
    ctm_in_free(&in);
    ctm_exchange_delete(&c, 1, dlx, 0);
    raw_close(&c);
}
END_TEST

/* Dead-lettering never sends basic.return, even for a mandatory publish. */
START_TEST(test_dead_lettering_never_returns)
{
    struct raw_conn c;
    struct ctm_in in;
    char q[CTM_NAME_MAX], dlx[CTM_NAME_MAX], err[256];
    ct_open_channel(&c, S, 1);
    ck_assert_msg(raw_channel_open(&c, 2, err, sizeof(err)), "%s", err);
    ctm_name(q, sizeof(q), "noreturn-q");
    ctm_name(dlx, sizeof(dlx), "noreturn-dlx");
    ctm_exchange_declare(&c, 1, dlx, "direct", CTM_X_AUTO_DELETE, NULL);   /* unbound */
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "Sl", "x-dead-letter-exchange", dlx,
                      "x-max-length", 1LL);
    ctm_confirm_select(&c, 1);
    ctm_publish(&c, 1, "", q, CTM_P_MANDATORY, NULL, "first", 5);
    ctm_publish(&c, 1, "", q, CTM_P_MANDATORY, NULL, "second", 6);  /* drops 'first' */
    ctm_expect_confirms(&c, 1, 1, 2, NULL);
    ctm_basic_consume(&c, 2, q, "rejecter", 0, NULL, 0);
    ctm_expect_deliver(&c, &in, 2, "second");
    ctm_send_basic_reject(&c, 2, in.delivery_tag, false);
    ctm_in_free(&in);
    ct_expect_silence(&c, 300);
    raw_close(&c);
}
END_TEST

/* Mandatory with an alternate exchange: routed by the AE means no return. */
START_TEST(test_mandatory_routed_by_alternate_exchange)
{
    struct raw_conn c;
    struct ctm_in in;
    struct raw_buf a;
    char x[CTM_NAME_MAX], ae[CTM_NAME_MAX], aeq[CTM_NAME_MAX], x2[CTM_NAME_MAX],
        gone[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(x, sizeof(x), "mand-x");
    ctm_name(x2, sizeof(x2), "mand-x2");
    ctm_name(ae, sizeof(ae), "mand-ae");
    ctm_name(aeq, sizeof(aeq), "mand-aeq");
    ctm_name(gone, sizeof(gone), "mand-absent-ae");
    ctm_exchange_declare(&c, 1, ae, "fanout", CTM_X_AUTO_DELETE, NULL);
    ctm_queue_declare(&c, 1, aeq, CTM_Q_EXCLUSIVE, NULL, NULL, 0, NULL, NULL);
    ctm_queue_bind(&c, 1, aeq, ae, "", NULL);
    raw_buf_init(&a);
    ctm_table_str(&a, "alternate-exchange", ae);
    ctm_exchange_declare(&c, 1, x, "direct", 0, &a);
    raw_buf_free(&a);
    raw_buf_init(&a);
    ctm_table_str(&a, "alternate-exchange", gone);
    ctm_exchange_declare(&c, 1, x2, "direct", 0, &a);
    raw_buf_free(&a);
    ctm_confirm_select(&c, 1);
    ctm_publish(&c, 1, x, "nowhere", CTM_P_MANDATORY, NULL, "to-ae", 5);
    ctm_expect_confirms(&c, 1, 1, 1, NULL);
    ctm_wait_count(&c, 1, aeq, 1);
    ctm_publish(&c, 1, x2, "nowhere", CTM_P_MANDATORY, NULL, "lost", 4);
    ctm_expect(&c, &in, 1, RAW_BASIC, CTM_BASIC_RETURN);
    ck_assert_uint_eq(in.reply_code, CTM_NO_ROUTE);
    ck_assert_str_eq(in.exchange, x2);
    ctm_in_free(&in);
    ctm_expect_confirms(&c, 1, 2, 2, NULL);
    ctm_exchange_delete(&c, 1, x, 0);
    ctm_exchange_delete(&c, 1, x2, 0);
    raw_close(&c);
}
END_TEST

/* ---- validation ------------------------------------------------------------------------ */

START_TEST(test_dlx_not_a_string_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dlxint");
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED,
                            "PRECONDITION_FAILED|'x-dead-letter-exchange'|signedint", "I",
                            "x-dead-letter-exchange", 7);
    raw_close(&c);
}
END_TEST

START_TEST(test_dlrk_without_dlx_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dlrkonly");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '%s' in "
             "vhost '/': routing_key_but_no_dlx_defined", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "S",
                            "x-dead-letter-routing-key", "somewhere");
    raw_close(&c);
}
END_TEST

START_TEST(test_dlrk_not_a_string_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dlrkint");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '%s' in "
             "vhost '/': {unacceptable_type,signedint}", q);
    cte_queue_declare_fails(&c, 1, q, 0, CTM_PRECONDITION_FAILED, frag, "SI",
                            "x-dead-letter-exchange", "", "x-dead-letter-routing-key", 5);
    raw_close(&c);
}
END_TEST

START_TEST(test_dlx_redeclare_inequivalent_406)
{
    struct raw_conn c;
    char q[CTM_NAME_MAX], frag[512];
    ct_open_channel(&c, S, 1);
    ctm_name(q, sizeof(q), "dlxequiv");
    cte_queue_declare(&c, 1, q, CTM_Q_EXCLUSIVE, "S", "x-dead-letter-exchange", "one");
    snprintf(frag, sizeof(frag),
             "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue '%s' in "
             "vhost '/': received 'two' but current is 'one'", q);
    cte_queue_declare_fails(&c, 1, q, CTM_Q_EXCLUSIVE, CTM_PRECONDITION_FAILED, frag, "S",
                            "x-dead-letter-exchange", "two");
    raw_close(&c);
}
END_TEST

static Suite *dlx_suite(void)
{
    Suite *s = suite_create("dlx");
    TCase *tc;

    tc = tcase_create("reasons");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_nack_dead_letters_with_x_death);
    tcase_add_test(tc, test_reject_dead_letters);
    tcase_add_test(tc, test_nack_multiple_dead_letters_in_order);
    tcase_add_test(tc, test_nack_requeue_does_not_dead_letter);
    tcase_add_test(tc, test_queue_ttl_dead_letters_expired);
    tcase_add_test(tc, test_expiration_dead_letters_with_original_expiration);
    tcase_add_test(tc, test_maxlen_drop_head_dead_letters);
    tcase_add_test(tc, test_dead_letter_keeps_properties_and_headers);
    tcase_add_test(tc, test_purge_and_delete_do_not_dead_letter);
    tcase_add_test(tc, test_channel_close_requeues_not_dead_letters);
    suite_add_tcase(s, tc);

    tc = tcase_create("routing");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, test_original_routing_key_without_dlrk);
    tcase_add_test(tc, test_missing_dlx_drops_silently);
    tcase_add_test(tc, test_default_exchange_as_dlx);
    tcase_add_test(tc, test_expiry_cycle_dropped);
    tcase_add_test(tc, test_maxlen_cycle_dropped);
    tcase_add_test(tc, test_reject_cycle_counts_up);
    tcase_add_test(tc, test_two_hops_x_death_order);
    tcase_add_test(tc, test_reject_expire_cycle_continues);
    suite_add_tcase(s, tc);

    tc = tcase_create("alternate_mandatory");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_dead_letter_follows_alternate_exchange);
    tcase_add_test(tc, test_dead_lettering_never_returns);
    tcase_add_test(tc, test_mandatory_routed_by_alternate_exchange);
    suite_add_tcase(s, tc);

    tc = tcase_create("validation");
    CT_DEFAULT_FIXTURE(tc);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_dlx_not_a_string_406);
    tcase_add_test(tc, test_dlrk_without_dlx_406);
    tcase_add_test(tc, test_dlrk_not_a_string_406);
    tcase_add_test(tc, test_dlx_redeclare_inequivalent_406);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = harness_init("check_dlx");
    if (rc != 0)
        return rc;
    return harness_run(srunner_create(dlx_suite()));
}
