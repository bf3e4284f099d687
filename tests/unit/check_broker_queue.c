/*
 * check_broker_queue.c - queue storage and delivery: FIFO order, basic.get
 * with message_count, requeue to the original position, round-robin
 * dispatch with credit and resume, batching and wakeup, no-ack, purge,
 * deletion notifying consumers while unacked entries stay settleable,
 * counters, hooks, re-entrant callbacks, and a randomized run for leaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_broker_helpers.h"

static void pub_n(const char *queue, int from, int to)
{
    char b[16];
    for (int i = from; i <= to; i++) {
        snprintf(b, sizeof(b), "%d", i);
        ck_assert_int_eq(pub("", queue, b), 1);
    }
}

static int body_int(const struct queue_entry *e)
{
    char b[32];
    body_of(e, b, sizeof(b));
    return atoi(b);
}

START_TEST(queue_fifo_and_get)
{
    struct queue *q = mk_queue("q");
    pub_n("q", 1, 100);
    struct queue_entry e;
    uint32_t count;
    for (int i = 1; i <= 100; i++) {
        ck_assert(queue_get(q, true, &e, &count));
        ck_assert_int_eq(body_int(&e), i);
        ck_assert_uint_eq(count, (uint32_t)(100 - i));
        ck_assert_uint_eq(e.flags, 0);
        ck_assert_uint_eq(e.delivery_count, 0);
        message_unref(&e.msg);
    }
    ck_assert(!queue_get(q, true, &e, &count));
    ck_assert_uint_eq(count, 0);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.published, 100);
    ck_assert_uint_eq(st.got, 100);
    ck_assert_uint_eq(st.acked, 100);
    ck_assert_uint_eq(st.ready, 0);
    ck_assert_uint_eq(st.ready_bytes, 0);
}
END_TEST

START_TEST(queue_ring_growth_wraps)
{
    struct queue *q = mk_queue("q");
    struct queue_entry e;
    int next_out = 1, next_in = 1;
    /* interleave so the ring head wraps around several times while growing */
    for (int round = 0; round < 50; round++) {
        pub_n("q", next_in, next_in + 29);
        next_in += 30;
        for (int i = 0; i < 20; i++) {
            ck_assert(queue_get(q, true, &e, NULL));
            ck_assert_int_eq(body_int(&e), next_out++);
            message_unref(&e.msg);
        }
    }
    while (queue_get(q, true, &e, NULL)) {
        ck_assert_int_eq(body_int(&e), next_out++);
        message_unref(&e.msg);
    }
    ck_assert_int_eq(next_out, next_in);
}
END_TEST

START_TEST(queue_requeue_original_position)
{
    struct queue *q = mk_queue("q");
    pub_n("q", 1, 5);
    struct queue_entry e1, e2, e3, e4, e;
    ck_assert(queue_get(q, false, &e1, NULL));
    ck_assert(queue_get(q, false, &e2, NULL));
    ck_assert(queue_get(q, false, &e3, NULL));
    ck_assert_uint_eq(unacked(q), 3);
    ck_assert_uint_eq(ready(q), 2);
    queue_requeue(q, &e2);
    ck_assert_ptr_null(e2.msg);
    queue_requeue(q, &e1);
    ck_assert_uint_eq(ready(q), 4);
    ck_assert_uint_eq(unacked(q), 1);
    uint32_t count;
    ck_assert(queue_get(q, false, &e, &count));
    ck_assert_int_eq(body_int(&e), 1);
    ck_assert(e.flags & QUEUE_ENTRY_REDELIVERED);
    ck_assert_uint_eq(e.delivery_count, 1);
    ck_assert_uint_eq(count, 3);
    e1 = e;
    ck_assert(queue_get(q, false, &e2, NULL));
    ck_assert_int_eq(body_int(&e2), 2);
    ck_assert(queue_get(q, false, &e4, NULL));
    ck_assert_int_eq(body_int(&e4), 4);
    ck_assert(!(e4.flags & QUEUE_ENTRY_REDELIVERED));
    queue_requeue(q, &e3);          /* 3 goes back in front of 5 */
    queue_requeue(q, &e1);          /* 1 again, delivered twice now */
    ck_assert(queue_get(q, false, &e, NULL));
    ck_assert_int_eq(body_int(&e), 1);
    ck_assert_uint_eq(e.delivery_count, 2);
    queue_ack(q, &e);
    ck_assert(queue_get(q, false, &e, NULL));
    ck_assert_int_eq(body_int(&e), 3);
    queue_ack(q, &e);
    ck_assert(queue_get(q, false, &e, NULL));
    ck_assert_int_eq(body_int(&e), 5);
    queue_ack(q, &e);
    queue_ack(q, &e2);
    queue_reject_drop(q, &e4);
    ck_assert_uint_eq(unacked(q), 0);
    ck_assert_uint_eq(ready(q), 0);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.acked, 4);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.redelivered, 4);     /* 1, 2, 1 again, 3 */
    ck_assert_uint_eq(st.unacked_bytes, 0);
}
END_TEST

START_TEST(queue_many_requeues_sorted)
{
    struct queue *q = mk_queue("q");
    pub_n("q", 1, 200);
    static struct queue_entry es[200];
    for (int i = 0; i < 200; i++)
        ck_assert(queue_get(q, false, &es[i], NULL));
    /* requeue in a scrambled order: they come back sorted */
    for (int i = 0; i < 200; i++)
        queue_requeue(q, &es[(i * 77) % 200]);
    for (int i = 1; i <= 200; i++) {
        struct queue_entry e;
        ck_assert(queue_get(q, true, &e, NULL));
        ck_assert_int_eq(body_int(&e), i);
        message_unref(&e.msg);
    }
}
END_TEST

START_TEST(dispatch_round_robin)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2, t3;
    tc_start(&t1, q, false, false, 100);
    tc_start(&t2, q, false, false, 100);
    tc_start(&t3, q, false, false, 100);
    pub_n("q", 1, 9);
    ck_assert_uint_eq(t1.n, 0);     /* enqueue never delivers */
    dispatch_all();
    ck_assert_uint_eq(t1.n, 3);
    ck_assert_uint_eq(t2.n, 3);
    ck_assert_uint_eq(t3.n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(body_int(&t1.got[i]), 1 + 3 * i);
        ck_assert_int_eq(body_int(&t2.got[i]), 2 + 3 * i);
        ck_assert_int_eq(body_int(&t3.got[i]), 3 + 3 * i);
    }
    ck_assert_uint_eq(unacked(q), 9);
    tc_ack_all(&t1);
    tc_ack_all(&t2);
    tc_ack_all(&t3);
    ck_assert_uint_eq(unacked(q), 0);
    consumer_cancel(t1.c);
    consumer_cancel(t2.c);
    consumer_cancel(t3.c);
}
END_TEST

START_TEST(dispatch_credit_and_resume)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2;
    tc_start(&t1, q, false, false, 2);
    tc_start(&t2, q, false, false, 0);
    pub_n("q", 1, 6);
    dispatch_all();
    ck_assert_uint_eq(t1.n, 2);
    ck_assert_uint_eq(t2.n, 0);
    ck_assert_uint_eq(ready(q), 4);
    /* credit alone does nothing: the broker waits for resume */
    t2.credit = 3;
    dispatch_all();
    ck_assert_uint_eq(t2.n, 0);
    uint32_t calls = t2.can_calls;
    consumer_resume(t2.c);
    dispatch_all();
    ck_assert_uint_eq(t2.n, 3);
    ck_assert_int_eq(body_int(&t2.got[0]), 3);
    ck_assert_uint_gt(t2.can_calls, calls);
    /* blocked consumers are not polled per message */
    calls = t1.can_calls;
    pub_n("q", 7, 20);
    dispatch_all();
    ck_assert_uint_eq(t1.can_calls, calls);
    t1.credit = 100;
    consumer_resume(t1.c);
    consumer_resume(t1.c);          /* idempotent */
    dispatch_all();
    ck_assert_uint_eq(t1.n, 2 + 1 + 14);
    ck_assert_uint_eq(ready(q), 0);
    tc_ack_all(&t1);
    tc_ack_all(&t2);
    consumer_cancel(t1.c);
    consumer_cancel(t2.c);
}
END_TEST

START_TEST(dispatch_requeue_on_close_keeps_order)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2;
    tc_start(&t1, q, false, false, 5);
    pub_n("q", 1, 8);
    dispatch_all();
    ck_assert_uint_eq(t1.n, 5);
    /* channel closes: its unacked go back (in any order), consumer cancelled */
    consumer_cancel(t1.c);
    for (int i = (int)t1.n - 1; i >= 0; i--)
        queue_requeue(q, &t1.got[i]);
    tc_start(&t2, q, false, false, 100);
    dispatch_all();
    ck_assert_uint_eq(t2.n, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(body_int(&t2.got[i]), i + 1);
        ck_assert_uint_eq((t2.got[i].flags & QUEUE_ENTRY_REDELIVERED) != 0, i < 5);
    }
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.redelivered, 5);
    ck_assert_uint_eq(st.delivered, 13);
    tc_ack_all(&t2);
    consumer_cancel(t2.c);
}
END_TEST

START_TEST(dispatch_no_ack)
{
    struct queue *q = mk_queue("q");
    struct tcons t;
    tc_start(&t, q, true, false, 1000);
    pub_n("q", 1, 10);
    dispatch_all();
    ck_assert_uint_eq(t.n, 10);
    ck_assert_uint_eq(unacked(q), 0);
    struct queue_stats st;
    queue_get_stats(q, &st);
    ck_assert_uint_eq(st.acked, 10);
    tc_ack_all(&t);                 /* unrefs */
    consumer_cancel(t.c);
}
END_TEST

static int wakeups;

static void on_wakeup(void *ctx)
{
    EDAD_UNUSED(ctx);
    wakeups++;
}

START_TEST(dispatch_batching_and_wakeup)
{
    broker_free(B);
    struct broker_config cfg = {.dispatch_batch = 10};
    B = broker_new(&cfg);
    V = broker_vhost_add(B, "/");
    wakeups = 0;
    broker_set_wakeup(B, on_wakeup, NULL);
    struct queue *q = mk_queue("q");
    pub_n("q", 1, 5);
    ck_assert_int_eq(wakeups, 0);   /* no consumer: nothing to do */
    struct tcons t;
    tc_start(&t, q, true, false, 1000);
    ck_assert_int_eq(wakeups, 1);
    pub_n("q", 6, 35);
    ck_assert_int_eq(wakeups, 1);   /* already pending */
    ck_assert(broker_dispatch_pending(B));
    ck_assert_uint_eq(t.n, 10);
    ck_assert(broker_dispatch_pending(B));
    ck_assert(broker_dispatch_pending(B));
    ck_assert(!broker_dispatch_pending(B));
    ck_assert_uint_eq(t.n, 35);
    ck_assert(!broker_dispatch_pending(B));
    pub_n("q", 36, 36);
    ck_assert_int_eq(wakeups, 2);
    dispatch_all();
    ck_assert_uint_eq(t.n, 36);
    tc_ack_all(&t);
    consumer_cancel(t.c);
}
END_TEST

START_TEST(queue_purge_keeps_unacked)
{
    struct queue *q = mk_queue("q");
    pub_n("q", 1, 6);
    struct queue_entry e1, e2;
    ck_assert(queue_get(q, false, &e1, NULL));
    ck_assert(queue_get(q, false, &e2, NULL));
    queue_requeue(q, &e2);
    uint32_t n;
    ck_assert_int_eq(queue_purge(V, S("q"), NULL, &n, &E), EDAD_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(ready(q), 0);
    ck_assert_uint_eq(unacked(q), 1);
    queue_requeue(q, &e1);
    ck_assert_uint_eq(ready(q), 1);
    struct queue_entry e;
    ck_assert(queue_get(q, true, &e, NULL));
    ck_assert_int_eq(body_int(&e), 1);
    message_unref(&e.msg);
}
END_TEST

START_TEST(queue_delete_with_consumers_and_unacked)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2;
    tc_start(&t1, q, false, false, 2);
    tc_start(&t2, q, false, false, 2);
    pub_n("q", 1, 10);
    dispatch_all();
    ck_assert_uint_eq(t1.n + t2.n, 4);
    uint32_t n;
    ck_assert_int_eq(queue_delete(V, S("q"), NULL, false, false, &n, &E), EDAD_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert(t1.cancelled);
    ck_assert(t2.cancelled);
    ck_assert(queue_is_deleted(q));
    ck_assert_ptr_null(queue_vhost(q));
    /* the session still settles what it holds: acks and requeues are safe */
    queue_ack(q, &t1.got[0]);
    queue_requeue(q, &t1.got[1]);
    queue_reject_drop(q, &t2.got[0]);
    queue_ack(q, &t2.got[1]);       /* last holder: the queue is freed here */
    /* a new queue of that name is a new queue */
    struct queue *q2 = mk_queue("q");
    ck_assert_uint_eq(ready(q2), 0);
}
END_TEST

START_TEST(queue_refs_keep_deleted_queue)
{
    struct queue *q = queue_ref(mk_queue("q"));
    ck_assert_int_eq(queue_delete(V, S("q"), NULL, false, false, NULL, &E), EDAD_OK);
    ck_assert(queue_is_deleted(q));
    ck_assert_str_eq(queue_name(q), "q");
    struct queue_entry e;
    ck_assert(!queue_get(q, true, &e, NULL));
    queue_unref(&q);
    ck_assert_ptr_null(q);
    /* zombie queues left at broker_free are freed there (teardown, ASan) */
    struct queue *q3 = mk_queue("q3");
    pub_n("q3", 1, 1);
    ck_assert(queue_get(q3, false, &e, NULL));
    ck_assert_int_eq(queue_delete(V, S("q3"), NULL, false, false, NULL, &E), EDAD_OK);
    message_unref(&e.msg);          /* the session went away without settling */
}
END_TEST

START_TEST(consumer_cancel_in_deliver_auto_delete)
{
    struct queue *q = mk_queue_full("ad", false, false, true, NULL, NULL);
    struct tcons t;
    tc_start(&t, q, false, false, 100);
    t.cancel_in_deliver = true;
    pub_n("ad", 1, 3);
    dispatch_all();
    ck_assert_uint_eq(t.n, 1);
    ck_assert_ptr_null(queue_lookup(V, S("ad"), NULL, NULL));   /* auto-deleted */
    queue_ack(q, &t.got[0]);        /* frees the zombie */
}
END_TEST

START_TEST(consumer_cancel_in_deliver_other_consumers_continue)
{
    struct queue *q = mk_queue("q");
    struct tcons t1, t2;
    tc_start(&t1, q, false, false, 100);
    tc_start(&t2, q, false, false, 100);
    t1.cancel_in_deliver = true;
    pub_n("q", 1, 6);
    dispatch_all();
    ck_assert_uint_eq(t1.n, 1);
    ck_assert_uint_eq(t2.n, 5);
    tc_ack_all(&t1);
    tc_ack_all(&t2);
    consumer_cancel(t2.c);
}
END_TEST

START_TEST(connection_closed_cancels_consumers)
{
    static const int owner = 7;
    struct queue *q = mk_queue_full("ex", false, true, false, &owner, NULL);
    struct tcons t;
    tc_start(&t, q, false, false, 1);
    pub_n("ex", 1, 3);
    dispatch_all();
    broker_connection_closed(B, &owner);
    ck_assert(t.cancelled);
    queue_requeue(q, &t.got[0]);    /* dropped: queue is gone */
}
END_TEST

/* ---- hooks ---------------------------------------------------------------------------------- */

struct hook_log {
    int enq, rem, dropped;
    enum broker_drop_reason reason;
    bool refuse;
};

static edad_status h_enq(void *ctx, struct queue *q, struct queue_entry *e)
{
    struct hook_log *h = ctx;
    EDAD_UNUSED(q);
    ck_assert(message_is_persistent(e->msg));
    h->enq++;
    return h->refuse ? EDAD_ERR_IO : EDAD_OK;
}

static void h_rem(void *ctx, struct queue *q, const struct queue_entry *e)
{
    struct hook_log *h = ctx;
    EDAD_UNUSED(q);
    EDAD_UNUSED(e);
    h->rem++;
}

static void h_drop(void *ctx, struct queue *q, const struct queue_entry *e,
                   enum broker_drop_reason reason)
{
    struct hook_log *h = ctx;
    EDAD_UNUSED(q);
    ck_assert_ptr_nonnull(e->msg);
    h->dropped++;
    h->reason = reason;
}

START_TEST(hooks_store_and_drop)
{
    struct hook_log log = {0};
    struct broker_hooks hooks = {.ctx = &log, .store_enqueue = h_enq, .store_remove = h_rem,
                                 .dropped = h_drop};
    broker_set_hooks(B, &hooks);
    struct queue *dq = mk_queue_full("dq", true, false, false, NULL, NULL);
    struct queue *tq = mk_queue("tq");
    mk_bind("dq", "amq.fanout", "", NULL);
    mk_bind("tq", "amq.fanout", "", NULL);
    struct message *pm = msg("amq.fanout", "", "p", true);
    struct message *tm = msg("amq.fanout", "", "t", false);
    ck_assert_int_eq(pub_msg(pm, NULL), 2);
    ck_assert_int_eq(pub_msg(tm, NULL), 2);
    ck_assert_int_eq(log.enq, 1);       /* persistent on the durable queue only */
    struct queue_entry e;
    ck_assert(queue_get(dq, false, &e, NULL));
    queue_ack(dq, &e);
    ck_assert_int_eq(log.rem, 1);
    ck_assert(queue_get(dq, false, &e, NULL));  /* transient one: no store */
    queue_reject_drop(dq, &e);
    ck_assert_int_eq(log.rem, 1);
    ck_assert_int_eq(log.dropped, 1);
    ck_assert_int_eq(log.reason, BROKER_DROP_REJECTED);
    ck_assert(queue_get(tq, false, &e, NULL));
    queue_reject_drop(tq, &e);
    ck_assert_int_eq(log.dropped, 2);
    /* a refusing store: reported as rejected, not enqueued there */
    log.refuse = true;
    struct broker_publish_result r;
    ck_assert_int_eq(broker_publish(V, pm, NULL, &r, &E), EDAD_OK);
    ck_assert_uint_eq(r.routed, 1);
    ck_assert_uint_eq(r.rejected, 1);
    ck_assert_uint_eq(r.pending, 0);
    ck_assert_uint_eq(ready(dq), 0);
    ck_assert_uint_eq(ready(tq), 2);
    message_unref(&pm);
    message_unref(&tm);
    broker_set_hooks(B, NULL);
}
END_TEST

/* ---- randomized run (ASan checks for leaks and misuse) -------------------------------------- */

START_TEST(random_operations)
{
    unsigned seed = 4242;
    enum { NQ = 6, NC = 6 };
    static struct tcons tcs[NC];
    static struct queue_entry held[512];
    static struct queue *held_q[512];
    int nheld = 0;
    char name[16], key[16], body[16];
    memset(tcs, 0, sizeof(tcs));
    mk_exchange("t", "topic");
    mk_exchange("f", "fanout");
    mk_xbind("f", "t", "a.#");
    for (int step = 0; step < 5000; step++) {
        int op = (int)(rand_r(&seed) % 12);
        int qi = (int)(rand_r(&seed) % NQ);
        snprintf(name, sizeof(name), "q%d", qi);
        struct queue *q = queue_lookup(V, S(name), NULL, NULL);
        switch (op) {
        case 0: {
            struct queue_declare d = {.name = S(name), .auto_delete = rand_r(&seed) % 4 == 0};
            queue_declare(V, &d, NULL, &E);     /* may be inequivalent: fine */
            break;
        }
        case 1:
            if (q) {
                snprintf(key, sizeof(key), "%s.%d", rand_r(&seed) % 2 ? "a" : "b",
                         (int)(rand_r(&seed) % 3));
                queue_bind(V, S(name), S(rand_r(&seed) % 2 ? "t" : "f"), S(key), NULL, NULL,
                           &E);
            }
            break;
        case 2:
        case 3:
        case 4:
            snprintf(key, sizeof(key), "%s.%d", rand_r(&seed) % 2 ? "a" : "b",
                     (int)(rand_r(&seed) % 3));
            snprintf(body, sizeof(body), "%d", step);
            pub(rand_r(&seed) % 3 ? "t" : "", rand_r(&seed) % 3 ? key : name, body);
            break;
        case 5:
            if (q && nheld < 512) {
                struct queue_entry e;
                if (queue_get(q, false, &e, NULL)) {
                    held[nheld] = e;
                    held_q[nheld++] = q;
                }
            }
            break;
        case 6:
            if (nheld) {
                int i = (int)(rand_r(&seed) % (unsigned)nheld);
                int how = (int)(rand_r(&seed) % 3);
                if (how == 0)
                    queue_ack(held_q[i], &held[i]);
                else if (how == 1)
                    queue_requeue(held_q[i], &held[i]);
                else
                    queue_reject_drop(held_q[i], &held[i]);
                held[i] = held[nheld - 1];
                held_q[i] = held_q[nheld - 1];
                nheld--;
            }
            break;
        case 7:
            if (q)
                queue_delete(V, S(name), NULL, false, false, NULL, &E);
            break;
        case 8: {
            int ci = (int)(rand_r(&seed) % NC);
            if (tcs[ci].c) {
                tc_ack_all(&tcs[ci]);
                consumer_cancel(tcs[ci].c);
                tcs[ci].c = NULL;
            } else if (q && !tcs[ci].q) {
                tc_start(&tcs[ci], q, rand_r(&seed) % 2, false, 3);
            } else if (!tcs[ci].c && tcs[ci].q) {
                /* cancelled by deletion earlier: settle and forget */
                tc_ack_all(&tcs[ci]);
                memset(&tcs[ci], 0, sizeof(tcs[ci]));
            }
            break;
        }
        case 9:
            for (int ci = 0; ci < NC; ci++) {
                if (tcs[ci].c && tcs[ci].credit == 0) {
                    tc_ack_all(&tcs[ci]);
                    tcs[ci].n = 0;
                    tcs[ci].credit = 3;
                    consumer_resume(tcs[ci].c);
                }
            }
            break;
        case 10:
            broker_dispatch_pending(B);
            break;
        default:
            if (q)
                queue_purge(V, S(name), NULL, NULL, &E);
            break;
        }
        /* invariant: stats agree with what we hold */
        for (int i = 0; i < NQ; i++) {
            snprintf(name, sizeof(name), "q%d", i);
            struct queue *qq = queue_lookup(V, S(name), NULL, NULL);
            if (!qq)
                continue;
            uint32_t mine = 0;
            for (int h = 0; h < nheld; h++)
                mine += held_q[h] == qq;
            for (int ci = 0; ci < NC; ci++)
                if (tcs[ci].q == qq && !tcs[ci].no_ack)
                    for (uint32_t k = 0; k < tcs[ci].n; k++)
                        mine += tcs[ci].got[k].msg != NULL;
            ck_assert_uint_eq(unacked(qq), mine);
        }
    }
    for (int i = 0; i < nheld; i++)
        queue_ack(held_q[i], &held[i]);
    for (int ci = 0; ci < NC; ci++) {
        tc_ack_all(&tcs[ci]);
        if (tcs[ci].c)
            consumer_cancel(tcs[ci].c);
    }
}
END_TEST

static Suite *queue_suite(void)
{
    Suite *s = suite_create("broker_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, queue_fifo_and_get);
    tcase_add_test(tc, queue_ring_growth_wraps);
    tcase_add_test(tc, queue_requeue_original_position);
    tcase_add_test(tc, queue_many_requeues_sorted);
    tcase_add_test(tc, dispatch_round_robin);
    tcase_add_test(tc, dispatch_credit_and_resume);
    tcase_add_test(tc, dispatch_requeue_on_close_keeps_order);
    tcase_add_test(tc, dispatch_no_ack);
    tcase_add_test(tc, dispatch_batching_and_wakeup);
    tcase_add_test(tc, queue_purge_keeps_unacked);
    tcase_add_test(tc, queue_delete_with_consumers_and_unacked);
    tcase_add_test(tc, queue_refs_keep_deleted_queue);
    tcase_add_test(tc, consumer_cancel_in_deliver_auto_delete);
    tcase_add_test(tc, consumer_cancel_in_deliver_other_consumers_continue);
    tcase_add_test(tc, connection_closed_cancels_consumers);
    tcase_add_test(tc, hooks_store_and_drop);
    tcase_add_test(tc, random_operations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(queue_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
