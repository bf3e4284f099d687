/*
 * check_amqp_methods.c - every AMQP 0-9-1 method against hand-written bytes:
 * encode gives them, decoding them gives the values back (re-encoded and
 * asserted field by field), every truncation, trailing byte and short
 * output buffer is refused.  A coverage test fails when the spec gains a
 * method this table lacks.  Frames, tables, headers: check_amqp.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/amqp.h"
#include "check_amqp_util.h"

/* ---- tables used as method arguments ------------------------------------ */

static struct amqp_table_entry t_product[] = {
    {SB("product"), {.kind = AMQP_FIELD_LONGSTR, .v.str = SB("edad")}},
};
static struct amqp_table_entry t_client[] = {
    {SB("x"), {.kind = AMQP_FIELD_BOOL, .v.b = true}},
};
static struct amqp_table_entry t_ae[] = {
    {SB("alternate-exchange"), {.kind = AMQP_FIELD_LONGSTR, .v.str = SB("ae")}},
};
static struct amqp_table_entry t_match[] = {
    {SB("x-match"), {.kind = AMQP_FIELD_LONGSTR, .v.str = SB("any")}},
};
static struct amqp_table_entry t_ttl[] = {
    {SB("x-message-ttl"), {.kind = AMQP_FIELD_I32, .v.i32 = 60000}},
};
static struct amqp_table_entry t_void[] = {
    {SB("h"), {.kind = AMQP_FIELD_VOID}},
};
static struct amqp_table_entry t_prio[] = {
    {SB("x-priority"), {.kind = AMQP_FIELD_I16, .v.i16 = 5}},
};

#define TABLE(arr) {EDAD_ARRAY_LEN(arr), arr, {NULL, 0}}
#define EMPTY_TABLE {0, NULL, {NULL, 0}}

/* ---- the cases ----------------------------------------------------------- */

struct method_case {
    struct amqp_method m;
    const char *wire;      /* expected payload in check_amqp_util.h notation */
};

static const struct method_case cases[] = {
    /* connection */
    {{AMQP_CONNECTION_START, .u.connection_start = {0, 9, TABLE(t_product),
        SB("PLAIN AMQPLAIN"), SB("en_US")}},
     "000A 000A 00 09 [4 [1 'product'] 'S' [4 'edad']] [4 'PLAIN AMQPLAIN'] [4 'en_US']"},
    {{AMQP_CONNECTION_START_OK, .u.connection_start_ok = {TABLE(t_client), SB("AMQPLAIN"),
        SB("\0guest\0guest"), SB("en_GB")}},
     "000A 000B [4 [1 'x'] 't' 01] [1 'AMQPLAIN'] [4 00 'guest' 00 'guest'] [1 'en_GB']"},
    {{AMQP_CONNECTION_SECURE, .u.connection_secure = {SB("chal")}},
     "000A 0014 [4 'chal']"},
    {{AMQP_CONNECTION_SECURE_OK, .u.connection_secure_ok = {SB("resp")}},
     "000A 0015 [4 'resp']"},
    {{AMQP_CONNECTION_TUNE, .u.connection_tune = {2047, 131072, 60}},
     "000A 001E 07FF 00020000 003C"},
    {{AMQP_CONNECTION_TUNE_OK, .u.connection_tune_ok = {1024, 65536, 30}},
     "000A 001F 0400 00010000 001E"},
    {{AMQP_CONNECTION_OPEN, .u.connection_open = {SB("/vh"), SB("cap"), true}},
     "000A 0028 [1 '/vh'] [1 'cap'] 01"},
    {{AMQP_CONNECTION_OPEN_OK, .u.connection_open_ok = {SB("kh")}},
     "000A 0029 [1 'kh']"},
    {{AMQP_CONNECTION_CLOSE, .u.connection_close = {320, SB("CONNECTION_FORCED - bye"), 60, 40}},
     "000A 0032 0140 [1 'CONNECTION_FORCED - bye'] 003C 0028"},
    {{AMQP_CONNECTION_CLOSE_OK, .u.connection_close_ok = {0}}, "000A 0033"},
    {{AMQP_CONNECTION_BLOCKED, .u.connection_blocked = {SB("low disk")}},
     "000A 003C [1 'low disk']"},
    {{AMQP_CONNECTION_UNBLOCKED, .u.connection_unblocked = {0}}, "000A 003D"},
    {{AMQP_CONNECTION_UPDATE_SECRET, .u.connection_update_secret = {SB("tok"), SB("refresh")}},
     "000A 0046 [4 'tok'] [1 'refresh']"},
    {{AMQP_CONNECTION_UPDATE_SECRET_OK, .u.connection_update_secret_ok = {0}}, "000A 0047"},
    /* channel */
    {{AMQP_CHANNEL_OPEN, .u.channel_open = {SB("oob")}}, "0014 000A [1 'oob']"},
    {{AMQP_CHANNEL_OPEN_OK, .u.channel_open_ok = {SB("cid")}}, "0014 000B [4 'cid']"},
    {{AMQP_CHANNEL_FLOW, .u.channel_flow = {true}}, "0014 0014 01"},
    {{AMQP_CHANNEL_FLOW_OK, .u.channel_flow_ok = {false}}, "0014 0015 00"},
    {{AMQP_CHANNEL_CLOSE, .u.channel_close = {406, SB("PRECONDITION_FAILED - x"), 50, 10}},
     "0014 0028 0196 [1 'PRECONDITION_FAILED - x'] 0032 000A"},
    {{AMQP_CHANNEL_CLOSE_OK, .u.channel_close_ok = {0}}, "0014 0029"},
    /* access */
    {{AMQP_ACCESS_REQUEST, .u.access_request = {SB("/data"), true, false, true, false, true}},
     "001E 000A [1 '/data'] 15"},
    {{AMQP_ACCESS_REQUEST_OK, .u.access_request_ok = {7}}, "001E 000B 0007"},
    /* exchange */
    {{AMQP_EXCHANGE_DECLARE, .u.exchange_declare = {1, SB("ex"), SB("topic"), false, true,
        false, true, true, TABLE(t_ae)}},
     "0028 000A 0001 [1 'ex'] [1 'topic'] 1A [4 [1 'alternate-exchange'] 'S' [4 'ae']]"},
    {{AMQP_EXCHANGE_DECLARE_OK, .u.exchange_declare_ok = {0}}, "0028 000B"},
    {{AMQP_EXCHANGE_DELETE, .u.exchange_delete = {2, SB("ex"), true, false}},
     "0028 0014 0002 [1 'ex'] 01"},
    {{AMQP_EXCHANGE_DELETE_OK, .u.exchange_delete_ok = {0}}, "0028 0015"},
    {{AMQP_EXCHANGE_BIND, .u.exchange_bind = {3, SB("d"), SB("s"), SB("rk"), true, EMPTY_TABLE}},
     "0028 001E 0003 [1 'd'] [1 's'] [1 'rk'] 01 00000000"},
    {{AMQP_EXCHANGE_BIND_OK, .u.exchange_bind_ok = {0}}, "0028 001F"},
    {{AMQP_EXCHANGE_UNBIND, .u.exchange_unbind = {4, SB("dd"), SB("ss"), SB("k"), true,
        TABLE(t_match)}},
     "0028 0028 0004 [1 'dd'] [1 'ss'] [1 'k'] 01 [4 [1 'x-match'] 'S' [4 'any']]"},
    {{AMQP_EXCHANGE_UNBIND_OK, .u.exchange_unbind_ok = {0}}, "0028 0033"},
    /* queue */
    {{AMQP_QUEUE_DECLARE, .u.queue_declare = {5, SB("q1"), true, true, false, true, false,
        TABLE(t_ttl)}},
     "0032 000A 0005 [1 'q1'] 0B [4 [1 'x-message-ttl'] 'I' 0000EA60]"},
    {{AMQP_QUEUE_DECLARE_OK, .u.queue_declare_ok = {SB("amq.gen-X"), 10, 2}},
     "0032 000B [1 'amq.gen-X'] 0000000A 00000002"},
    {{AMQP_QUEUE_BIND, .u.queue_bind = {6, SB("q"), SB("amq.topic"), SB("a.*.#"), true,
        EMPTY_TABLE}},
     "0032 0014 0006 [1 'q'] [1 'amq.topic'] [1 'a.*.#'] 01 00000000"},
    {{AMQP_QUEUE_BIND_OK, .u.queue_bind_ok = {0}}, "0032 0015"},
    {{AMQP_QUEUE_PURGE, .u.queue_purge = {7, SB("q"), true}}, "0032 001E 0007 [1 'q'] 01"},
    {{AMQP_QUEUE_PURGE_OK, .u.queue_purge_ok = {123456}}, "0032 001F 0001E240"},
    {{AMQP_QUEUE_DELETE, .u.queue_delete = {8, SB("qq"), false, true, true}},
     "0032 0028 0008 [1 'qq'] 06"},
    {{AMQP_QUEUE_DELETE_OK, .u.queue_delete_ok = {5}}, "0032 0029 00000005"},
    {{AMQP_QUEUE_UNBIND, .u.queue_unbind = {9, SB("q"), SB("x"), SB("r"), TABLE(t_void)}},
     "0032 0032 0009 [1 'q'] [1 'x'] [1 'r'] [4 [1 'h'] 'V']"},
    {{AMQP_QUEUE_UNBIND_OK, .u.queue_unbind_ok = {0}}, "0032 0033"},
    /* basic */
    {{AMQP_BASIC_QOS, .u.basic_qos = {1000, 250, true}}, "003C 000A 000003E8 00FA 01"},
    {{AMQP_BASIC_QOS_OK, .u.basic_qos_ok = {0}}, "003C 000B"},
    {{AMQP_BASIC_CONSUME, .u.basic_consume = {10, SB("q"), SB("ctag"), false, true, true, false,
        TABLE(t_prio)}},
     "003C 0014 000A [1 'q'] [1 'ctag'] 06 [4 [1 'x-priority'] 's' 0005]"},
    {{AMQP_BASIC_CONSUME_OK, .u.basic_consume_ok = {SB("amq.ctag-1")}},
     "003C 0015 [1 'amq.ctag-1']"},
    {{AMQP_BASIC_CANCEL, .u.basic_cancel = {SB("ctag"), true}}, "003C 001E [1 'ctag'] 01"},
    {{AMQP_BASIC_CANCEL_OK, .u.basic_cancel_ok = {SB("ctag")}}, "003C 001F [1 'ctag']"},
    {{AMQP_BASIC_PUBLISH, .u.basic_publish = {11, SB("ex"), SB("rk"), true, false}},
     "003C 0028 000B [1 'ex'] [1 'rk'] 01"},
    {{AMQP_BASIC_RETURN, .u.basic_return = {312, SB("NO_ROUTE"), SB("ex"), SB("rk")}},
     "003C 0032 0138 [1 'NO_ROUTE'] [1 'ex'] [1 'rk']"},
    {{AMQP_BASIC_DELIVER, .u.basic_deliver = {SB("ctag"), 0x0102030405060708u, true, SB("ex"),
        SB("rk")}},
     "003C 003C [1 'ctag'] 0102030405060708 01 [1 'ex'] [1 'rk']"},
    {{AMQP_BASIC_GET, .u.basic_get = {12, SB("q"), true}}, "003C 0046 000C [1 'q'] 01"},
    {{AMQP_BASIC_GET_OK, .u.basic_get_ok = {42, true, SB(""), SB("q"), 3}},
     "003C 0047 000000000000002A 01 00 [1 'q'] 00000003"},
    {{AMQP_BASIC_GET_EMPTY, .u.basic_get_empty = {SB("c")}}, "003C 0048 [1 'c']"},
    {{AMQP_BASIC_ACK, .u.basic_ack = {0x100000000u, true}}, "003C 0050 0000000100000000 01"},
    {{AMQP_BASIC_REJECT, .u.basic_reject = {9, false}}, "003C 005A 0000000000000009 00"},
    {{AMQP_BASIC_RECOVER_ASYNC, .u.basic_recover_async = {true}}, "003C 0064 01"},
    {{AMQP_BASIC_RECOVER, .u.basic_recover = {true}}, "003C 006E 01"},
    {{AMQP_BASIC_RECOVER_OK, .u.basic_recover_ok = {0}}, "003C 006F"},
    {{AMQP_BASIC_NACK, .u.basic_nack = {77, false, true}}, "003C 0078 000000000000004D 02"},
    /* tx */
    {{AMQP_TX_SELECT, .u.tx_select = {0}}, "005A 000A"},
    {{AMQP_TX_SELECT_OK, .u.tx_select_ok = {0}}, "005A 000B"},
    {{AMQP_TX_COMMIT, .u.tx_commit = {0}}, "005A 0014"},
    {{AMQP_TX_COMMIT_OK, .u.tx_commit_ok = {0}}, "005A 0015"},
    {{AMQP_TX_ROLLBACK, .u.tx_rollback = {0}}, "005A 001E"},
    {{AMQP_TX_ROLLBACK_OK, .u.tx_rollback_ok = {0}}, "005A 001F"},
    /* confirm */
    {{AMQP_CONFIRM_SELECT, .u.confirm_select = {true}}, "0055 000A 01"},
    {{AMQP_CONFIRM_SELECT_OK, .u.confirm_select_ok = {0}}, "0055 000B"},
};

#define NCASES ((int)EDAD_ARRAY_LEN(cases))

/* ---- the round trip ------------------------------------------------------ */

static uint8_t expect[8192];
static uint8_t buf[8192];

/* Encode case i, compare with its bytes, decode them into *d (arena a). */
static size_t roundtrip(int i, struct arena *a, struct amqp_method *d)
{
    const struct method_case *c = &cases[i];
    size_t elen = hx(c->wire, expect, sizeof(expect));
    size_t len = 0;

    ck_assert_int_eq(amqp_method_encode(&c->m, buf, sizeof(buf), &len), EDAD_OK);
    ck_assert_uint_eq(len, elen);
    ck_assert_mem_eq(buf, expect, elen);

    memset(d, 0xA5, sizeof(*d));
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){expect, elen}, a, d), EDAD_OK);
    ck_assert_uint_eq(d->id, c->m.id);
    return elen;
}

START_TEST(test_method_roundtrip)
{
    const struct method_case *c = &cases[_i];
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 1 << 20);
    size_t elen = roundtrip(_i, &a, &d);

    /* the decoded values encode back to exactly the same bytes */
    size_t len = 0;
    ck_assert_int_eq(amqp_method_encode(&d, buf, sizeof(buf), &len), EDAD_OK);
    ck_assert_uint_eq(len, elen);
    ck_assert_mem_eq(buf, expect, elen);

    /* the whole-frame helper wraps the same payload */
    uint8_t frame[8192];
    uint8_t wrapped[8192];
    size_t flen = 0;
    ck_assert_int_eq(amqp_frame_encode_method(5, &c->m, frame, sizeof(frame), &flen), EDAD_OK);
    size_t wlen = frame_wrap(AMQP_FRAME_METHOD, 5, expect, elen, wrapped, sizeof(wrapped));
    ck_assert_uint_eq(flen, wlen);
    ck_assert_mem_eq(frame, wrapped, wlen);
    {
        char name[64];
        const char *mn = amqp_method_name(c->m.id);
        ck_assert_ptr_nonnull(mn);
        snprintf(name, sizeof(name), "method-%s", mn);
        dump_seed(name, frame, flen);
    }

    /* every truncation is rejected and reads nothing outside the slice:
       copy the prefix to an exactly-sized heap block so ASan sees overruns */
    for (size_t n = 0; n < elen; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, expect, n);
        arena_reset(&a);
        edad_status st = amqp_method_decode((struct edad_bytes){p, n}, &a, &d);
        ck_assert_msg(st != EDAD_OK, "%s: truncation to %zu accepted",
                      amqp_method_name(c->m.id), n);
        ck_assert_int_lt(st, 0);
        free(p);
    }

    /* one trailing byte is rejected */
    memcpy(buf, expect, elen);
    buf[elen] = 0;
    arena_reset(&a);
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){buf, elen + 1}, &a, &d),
                     EDAD_ERR_MALFORMED);

    /* every short output buffer is refused, never overrun */
    for (size_t cap = 0; cap < elen; cap++) {
        uint8_t *p = malloc(cap ? cap : 1);
        len = 12345;
        ck_assert_int_eq(amqp_method_encode(&c->m, cap ? p : NULL, cap, &len), EDAD_ERR_NOSPACE);
        ck_assert_uint_eq(len, 12345);
        free(p);
    }
    /* and so is a short frame buffer */
    ck_assert_int_eq(amqp_frame_encode_method(5, &c->m, frame, flen - 1, &len), EDAD_ERR_NOSPACE);
    arena_free(&a);
}
END_TEST

/* Every method of the spec has a case, and in spec order. */
START_TEST(test_method_coverage)
{
    ck_assert_int_eq(NCASES, AMQP_METHOD_COUNT);
    for (int i = 0; i < NCASES; i++) {
        ck_assert_uint_eq(cases[i].m.id, amqp_method_ids[i]);
        ck_assert(amqp_method_is_known(cases[i].m.id));
    }
}
END_TEST

static int case_index(uint32_t id)
{
    for (int i = 0; i < NCASES; i++)
        if (cases[i].m.id == id)
            return i;
    ck_abort_msg("no case for %#x", (unsigned)id);
    return -1;
}

/* ---- explicit value checks on the decoded side -------------------------- */

START_TEST(test_values_connection)
{
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 0);

    roundtrip(case_index(AMQP_CONNECTION_START), &a, &d);
    ck_assert_uint_eq(d.u.connection_start.version_major, 0);
    ck_assert_uint_eq(d.u.connection_start.version_minor, 9);
    ck_assert(bytes_eq_cstr(d.u.connection_start.mechanisms, "PLAIN AMQPLAIN"));
    ck_assert(bytes_eq_cstr(d.u.connection_start.locales, "en_US"));
    const struct amqp_table *sp = &d.u.connection_start.server_properties;
    ck_assert_uint_eq(sp->count, 1);
    const struct amqp_field_value *v = amqp_table_get(sp, "product");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->kind, AMQP_FIELD_LONGSTR);
    ck_assert(bytes_eq_cstr(v->v.str, "edad"));
    ck_assert_ptr_null(amqp_table_get(sp, "produc"));
    ck_assert_uint_eq(sp->raw.len, 17);

    roundtrip(case_index(AMQP_CONNECTION_START_OK), &a, &d);
    ck_assert(bytes_eq_cstr(d.u.connection_start_ok.mechanism, "AMQPLAIN"));
    ck_assert_uint_eq(d.u.connection_start_ok.response.len, 12);
    ck_assert_mem_eq(d.u.connection_start_ok.response.ptr, "\0guest\0guest", 12);
    ck_assert(bytes_eq_cstr(d.u.connection_start_ok.locale, "en_GB"));
    v = amqp_table_get(&d.u.connection_start_ok.client_properties, "x");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->kind, AMQP_FIELD_BOOL);
    ck_assert(v->v.b);

    roundtrip(case_index(AMQP_CONNECTION_TUNE), &a, &d);
    ck_assert_uint_eq(d.u.connection_tune.channel_max, 2047);
    ck_assert_uint_eq(d.u.connection_tune.frame_max, 131072);
    ck_assert_uint_eq(d.u.connection_tune.heartbeat, 60);

    roundtrip(case_index(AMQP_CONNECTION_OPEN), &a, &d);
    ck_assert(bytes_eq_cstr(d.u.connection_open.virtual_host, "/vh"));
    ck_assert(bytes_eq_cstr(d.u.connection_open.capabilities, "cap"));
    ck_assert(d.u.connection_open.insist);

    roundtrip(case_index(AMQP_CONNECTION_CLOSE), &a, &d);
    ck_assert_uint_eq(d.u.connection_close.reply_code, AMQP_CONNECTION_FORCED);
    ck_assert(bytes_eq_cstr(d.u.connection_close.reply_text, "CONNECTION_FORCED - bye"));
    ck_assert_uint_eq(d.u.connection_close.class_id, AMQP_CLASS_BASIC);
    ck_assert_uint_eq(d.u.connection_close.method_id, 40);
    arena_free(&a);
}
END_TEST

START_TEST(test_values_bits)
{
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 0);

    roundtrip(case_index(AMQP_ACCESS_REQUEST), &a, &d);
    ck_assert(d.u.access_request.exclusive);
    ck_assert(!d.u.access_request.passive);
    ck_assert(d.u.access_request.active);
    ck_assert(!d.u.access_request.write);
    ck_assert(d.u.access_request.read);

    roundtrip(case_index(AMQP_EXCHANGE_DECLARE), &a, &d);
    const struct amqp_exchange_declare *xd = &d.u.exchange_declare;
    ck_assert_uint_eq(xd->ticket, 1);
    ck_assert(bytes_eq_cstr(xd->exchange, "ex"));
    ck_assert(bytes_eq_cstr(xd->type, "topic"));
    ck_assert(!xd->passive);
    ck_assert(xd->durable);
    ck_assert(!xd->auto_delete);
    ck_assert(xd->internal);
    ck_assert(xd->nowait);
    const struct amqp_field_value *v = amqp_table_get(&xd->arguments, "alternate-exchange");
    ck_assert_ptr_nonnull(v);
    ck_assert(bytes_eq_cstr(v->v.str, "ae"));

    roundtrip(case_index(AMQP_QUEUE_DECLARE), &a, &d);
    const struct amqp_queue_declare *qd = &d.u.queue_declare;
    ck_assert(qd->passive && qd->durable && !qd->exclusive && qd->auto_delete && !qd->nowait);
    int64_t ttl = 0;
    ck_assert(amqp_field_as_int64(amqp_table_get(&qd->arguments, "x-message-ttl"), &ttl));
    ck_assert_int_eq(ttl, 60000);

    roundtrip(case_index(AMQP_QUEUE_DELETE), &a, &d);
    ck_assert(!d.u.queue_delete.if_unused);
    ck_assert(d.u.queue_delete.if_empty);
    ck_assert(d.u.queue_delete.nowait);

    roundtrip(case_index(AMQP_BASIC_CONSUME), &a, &d);
    const struct amqp_basic_consume *bc = &d.u.basic_consume;
    ck_assert(!bc->no_local && bc->no_ack && bc->exclusive && !bc->nowait);
    ck_assert(bytes_eq_cstr(bc->consumer_tag, "ctag"));
    v = amqp_table_get(&bc->arguments, "x-priority");
    ck_assert_int_eq(v->kind, AMQP_FIELD_I16);
    ck_assert_int_eq(v->v.i16, 5);

    roundtrip(case_index(AMQP_BASIC_NACK), &a, &d);
    ck_assert_uint_eq(d.u.basic_nack.delivery_tag, 77);
    ck_assert(!d.u.basic_nack.multiple);
    ck_assert(d.u.basic_nack.requeue);

    roundtrip(case_index(AMQP_BASIC_REJECT), &a, &d);
    ck_assert_uint_eq(d.u.basic_reject.delivery_tag, 9);
    ck_assert(!d.u.basic_reject.requeue);

    roundtrip(case_index(AMQP_CHANNEL_FLOW), &a, &d);
    ck_assert(d.u.channel_flow.active);
    roundtrip(case_index(AMQP_CONFIRM_SELECT), &a, &d);
    ck_assert(d.u.confirm_select.nowait);
    arena_free(&a);
}
END_TEST

START_TEST(test_values_basic)
{
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 0);

    roundtrip(case_index(AMQP_BASIC_PUBLISH), &a, &d);
    ck_assert_uint_eq(d.u.basic_publish.ticket, 11);
    ck_assert(bytes_eq_cstr(d.u.basic_publish.exchange, "ex"));
    ck_assert(bytes_eq_cstr(d.u.basic_publish.routing_key, "rk"));
    ck_assert(d.u.basic_publish.mandatory);
    ck_assert(!d.u.basic_publish.immediate);

    roundtrip(case_index(AMQP_BASIC_DELIVER), &a, &d);
    ck_assert(bytes_eq_cstr(d.u.basic_deliver.consumer_tag, "ctag"));
    ck_assert_uint_eq(d.u.basic_deliver.delivery_tag, 0x0102030405060708u);
    ck_assert(d.u.basic_deliver.redelivered);
    ck_assert(bytes_eq_cstr(d.u.basic_deliver.exchange, "ex"));
    ck_assert(bytes_eq_cstr(d.u.basic_deliver.routing_key, "rk"));

    roundtrip(case_index(AMQP_BASIC_GET_OK), &a, &d);
    ck_assert_uint_eq(d.u.basic_get_ok.delivery_tag, 42);
    ck_assert(d.u.basic_get_ok.redelivered);
    ck_assert_uint_eq(d.u.basic_get_ok.exchange.len, 0);
    ck_assert(bytes_eq_cstr(d.u.basic_get_ok.routing_key, "q"));
    ck_assert_uint_eq(d.u.basic_get_ok.message_count, 3);

    roundtrip(case_index(AMQP_BASIC_ACK), &a, &d);
    ck_assert_uint_eq(d.u.basic_ack.delivery_tag, 0x100000000u);
    ck_assert(d.u.basic_ack.multiple);

    roundtrip(case_index(AMQP_BASIC_QOS), &a, &d);
    ck_assert_uint_eq(d.u.basic_qos.prefetch_size, 1000);
    ck_assert_uint_eq(d.u.basic_qos.prefetch_count, 250);
    ck_assert(d.u.basic_qos.global);

    roundtrip(case_index(AMQP_BASIC_RETURN), &a, &d);
    ck_assert_uint_eq(d.u.basic_return.reply_code, AMQP_NO_ROUTE);
    ck_assert(bytes_eq_cstr(d.u.basic_return.reply_text, "NO_ROUTE"));

    roundtrip(case_index(AMQP_QUEUE_DECLARE_OK), &a, &d);
    ck_assert(bytes_eq_cstr(d.u.queue_declare_ok.queue, "amq.gen-X"));
    ck_assert_uint_eq(d.u.queue_declare_ok.message_count, 10);
    ck_assert_uint_eq(d.u.queue_declare_ok.consumer_count, 2);
    arena_free(&a);
}
END_TEST

/* Unused bits of a bit octet are ignored (RabbitMQ does the same). */
START_TEST(test_unused_bits_ignored)
{
    uint8_t p[64];
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 0);
    size_t n = hx("003C 0028 000B [1 'ex'] [1 'rk'] FD", p, sizeof(p));
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){p, n}, &a, &d), EDAD_OK);
    ck_assert(d.u.basic_publish.mandatory);
    ck_assert(!d.u.basic_publish.immediate);
    arena_free(&a);
}
END_TEST

/* ---- ids, names, flags --------------------------------------------------- */

START_TEST(test_names_and_flags)
{
    ck_assert_str_eq(amqp_method_name(AMQP_BASIC_PUBLISH), "basic.publish");
    ck_assert_str_eq(amqp_method_name(AMQP_EXCHANGE_UNBIND_OK), "exchange.unbind-ok");
    ck_assert_str_eq(amqp_method_name(AMQP_CONFIRM_SELECT), "confirm.select");
    ck_assert_ptr_null(amqp_method_name(0x003C0001u));
    ck_assert_str_eq(amqp_class_name(AMQP_CLASS_TX), "tx");
    ck_assert_ptr_null(amqp_class_name(11));

    ck_assert_uint_eq(AMQP_CONNECTION_START_OK, 0x000A000Bu);
    ck_assert_uint_eq(AMQP_EXCHANGE_UNBIND_OK, (40u << 16) | 51u);
    ck_assert_uint_eq(AMQP_METHOD_ID(AMQP_CLASS_BASIC, 40), AMQP_BASIC_PUBLISH);
    ck_assert_uint_eq(AMQP_METHOD_CLASS_ID(AMQP_BASIC_NACK), 60);
    ck_assert_uint_eq(AMQP_METHOD_METHOD_ID(AMQP_BASIC_NACK), 120);

    int content = 0;
    for (int i = 0; i < AMQP_METHOD_COUNT; i++)
        content += amqp_method_has_content(amqp_method_ids[i]);
    ck_assert_int_eq(content, 4);
    ck_assert(amqp_method_has_content(AMQP_BASIC_PUBLISH));
    ck_assert(amqp_method_has_content(AMQP_BASIC_RETURN));
    ck_assert(amqp_method_has_content(AMQP_BASIC_DELIVER));
    ck_assert(amqp_method_has_content(AMQP_BASIC_GET_OK));
    ck_assert(!amqp_method_has_content(AMQP_BASIC_GET));

    ck_assert(amqp_method_is_synchronous(AMQP_QUEUE_DECLARE));
    ck_assert(amqp_method_is_synchronous(AMQP_CONNECTION_CLOSE));
    ck_assert(!amqp_method_is_synchronous(AMQP_QUEUE_DECLARE_OK));
    ck_assert(!amqp_method_is_synchronous(AMQP_BASIC_PUBLISH));
    ck_assert(!amqp_method_is_synchronous(AMQP_BASIC_ACK));
    ck_assert(!amqp_method_is_known(0));
    ck_assert(!amqp_method_is_known(0x003C0079u));

    ck_assert(amqp_constant_is_hard_error(AMQP_CONNECTION_FORCED));
    ck_assert(amqp_constant_is_hard_error(AMQP_FRAME_ERROR));
    ck_assert(amqp_constant_is_hard_error(AMQP_NOT_ALLOWED));
    ck_assert(amqp_constant_is_hard_error(AMQP_INTERNAL_ERROR));
    ck_assert(!amqp_constant_is_hard_error(AMQP_NOT_FOUND));
    ck_assert(!amqp_constant_is_hard_error(AMQP_PRECONDITION_FAILED));
    ck_assert(!amqp_constant_is_hard_error(AMQP_REPLY_SUCCESS));
    ck_assert_str_eq(amqp_constant_name(404), "NOT_FOUND");
    ck_assert_str_eq(amqp_constant_name(200), "REPLY_SUCCESS");
    ck_assert_str_eq(amqp_constant_name(540), "NOT_IMPLEMENTED");
    ck_assert_ptr_null(amqp_constant_name(1));
    ck_assert_ptr_null(amqp_constant_name(999));

    ck_assert_int_eq(AMQP_FRAME_METHOD, 1);
    ck_assert_int_eq(AMQP_FRAME_MIN_SIZE, 4096);
    ck_assert_int_eq(AMQP_FRAME_END, AMQP_FRAME_END_OCTET);
    ck_assert_int_eq(AMQP_CONTENT_TOO_LARGE, 311);
    ck_assert_int_eq(AMQP_RESOURCE_ERROR, 506);
}
END_TEST

START_TEST(test_decode_unknown_method)
{
    uint8_t p[16];
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 0);
    size_t n = hx("003C 0079 01", p, sizeof(p));
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){p, n}, &a, &d), EDAD_ERR_UNKNOWN);
    ck_assert_uint_eq(d.id, 0x003C0079u);
    n = hx("0063 000A", p, sizeof(p));
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){p, n}, &a, &d), EDAD_ERR_UNKNOWN);
    ck_assert_uint_eq(d.id, 0x0063000Au);
    d.id = 7;
    ck_assert_int_eq(amqp_method_decode((struct edad_bytes){p, 3}, &a, &d), EDAD_ERR_MALFORMED);
    ck_assert_uint_eq(d.id, 0);
    ck_assert_int_eq(amqp_method_decode(EDAD_BYTES_NULL, &a, &d), EDAD_ERR_MALFORMED);
    arena_free(&a);
}
END_TEST

START_TEST(test_encode_errors)
{
    uint8_t out[1024];
    size_t len = 0;
    struct amqp_method m;
    static const char long_name[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    memset(&m, 0, sizeof(m));
    m.id = 0x003C0079u;
    ck_assert_int_eq(amqp_method_encode(&m, out, sizeof(out), &len), EDAD_ERR_UNKNOWN);

    /* a 256-byte shortstr is the caller's bug: refused, not truncated */
    m.id = AMQP_BASIC_PUBLISH;
    m.u.basic_publish.exchange = B(long_name);
    ck_assert_uint_eq(m.u.basic_publish.exchange.len, 256);
    ck_assert_int_eq(amqp_method_encode(&m, out, sizeof(out), &len), EDAD_ERR_INVALID);
    m.u.basic_publish.exchange.len = 255;
    ck_assert_int_eq(amqp_method_encode(&m, out, sizeof(out), &len), EDAD_OK);
    ck_assert_uint_eq(len, 4 + 2 + 256 + 1 + 1);
}
END_TEST

static Suite *methods_suite(void)
{
    Suite *s = suite_create("amqp_methods");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_loop_test(tc, test_method_roundtrip, 0, NCASES);
    tcase_add_test(tc, test_method_coverage);
    tcase_add_test(tc, test_values_connection);
    tcase_add_test(tc, test_values_bits);
    tcase_add_test(tc, test_values_basic);
    tcase_add_test(tc, test_unused_bits_ignored);
    suite_add_tcase(s, tc);
    tc = tcase_create("ids");
    tcase_add_test(tc, test_names_and_flags);
    tcase_add_test(tc, test_decode_unknown_method);
    tcase_add_test(tc, test_encode_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(methods_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
