/*
 * check_amqp.c - the codec beyond per-method round trips: framing, field
 * tables with every type nested in tables and arrays, content headers with
 * all 14 properties, golden frames (hand-written here, kept as files in
 * tests/data/amqp), malformed and hostile input, edad_status messages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edad/amqp.h"
#include "check_amqp_util.h"

#ifndef EDAD_TEST_DATADIR
#define EDAD_TEST_DATADIR "tests/data"
#endif

static uint8_t g1[16384], g2[16384], g3[16384];

/* Compare bytes with a golden file under tests/data/amqp (or, with
   EDAD_DUMP_GOLDEN=1, rewrite the file). */
static void golden_file(const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/amqp/%s", EDAD_TEST_DATADIR, name);
    const char *dump = getenv("EDAD_DUMP_GOLDEN");
    if (dump && *dump == '1') {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        ck_assert_uint_eq(fwrite(p, 1, n, f), n);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "golden file %s missing", path);
    size_t got = fread(g3, 1, sizeof(g3), f);
    fclose(f);
    ck_assert_uint_eq(got, n);
    ck_assert_mem_eq(g3, p, n);
}

/* ======================================================================== */
/* golden: connection.start as a RabbitMQ-like server sends it               */

static struct amqp_table_entry caps[] = {
    {SB("publisher_confirms"), {.kind = 't', .v.b = true}},
    {SB("exchange_exchange_bindings"), {.kind = 't', .v.b = true}},
    {SB("basic.nack"), {.kind = 't', .v.b = true}},
    {SB("consumer_cancel_notify"), {.kind = 't', .v.b = true}},
    {SB("connection.blocked"), {.kind = 't', .v.b = true}},
    {SB("consumer_priorities"), {.kind = 't', .v.b = true}},
    {SB("authentication_failure_close"), {.kind = 't', .v.b = true}},
    {SB("per_consumer_qos"), {.kind = 't', .v.b = true}},
    {SB("direct_reply_to"), {.kind = 't', .v.b = true}},
};
static struct amqp_table_entry server_props[] = {
    {SB("capabilities"), {.kind = 'F', .v.table = {EDAD_ARRAY_LEN(caps), caps, {NULL, 0}}}},
    {SB("cluster_name"), {.kind = 'S', .v.str = SB("rabbit@localhost")}},
    {SB("copyright"), {.kind = 'S',
        .v.str = SB("Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries")}},
    {SB("information"), {.kind = 'S',
        .v.str = SB("Licensed under the MPL 2.0. Website: https://rabbitmq.com")}},
    {SB("platform"), {.kind = 'S', .v.str = SB("Erlang/OTP 26.2.5")}},
    {SB("product"), {.kind = 'S', .v.str = SB("RabbitMQ")}},
    {SB("version"), {.kind = 'S', .v.str = SB("3.13.7")}},
};

static const char golden_start[] =
    "01 0000 [4 000A 000A 00 09"
    "  [4 [1 'capabilities'] 'F' [4"
    "        [1 'publisher_confirms'] 't' 01"
    "        [1 'exchange_exchange_bindings'] 't' 01"
    "        [1 'basic.nack'] 't' 01"
    "        [1 'consumer_cancel_notify'] 't' 01"
    "        [1 'connection.blocked'] 't' 01"
    "        [1 'consumer_priorities'] 't' 01"
    "        [1 'authentication_failure_close'] 't' 01"
    "        [1 'per_consumer_qos'] 't' 01"
    "        [1 'direct_reply_to'] 't' 01]"
    "     [1 'cluster_name'] 'S' [4 'rabbit@localhost']"
    "     [1 'copyright'] 'S' [4 'Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries']"
    "     [1 'information'] 'S' [4 'Licensed under the MPL 2.0. Website: https://rabbitmq.com']"
    "     [1 'platform'] 'S' [4 'Erlang/OTP 26.2.5']"
    "     [1 'product'] 'S' [4 'RabbitMQ']"
    "     [1 'version'] 'S' [4 '3.13.7']]"
    "  [4 'AMQPLAIN PLAIN'] [4 'en_US']] CE";

START_TEST(test_golden_connection_start)
{
    struct amqp_method m = {.id = AMQP_CONNECTION_START};
    m.u.connection_start.version_major = 0;
    m.u.connection_start.version_minor = 9;
    m.u.connection_start.server_properties =
        (struct amqp_table){EDAD_ARRAY_LEN(server_props), server_props, {NULL, 0}};
    m.u.connection_start.mechanisms = B("AMQPLAIN PLAIN");
    m.u.connection_start.locales = B("en_US");

    size_t glen = hx(golden_start, g1, sizeof(g1));
    size_t len = 0;
    ck_assert_int_eq(amqp_frame_encode_method(0, &m, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);
    golden_file("connection_start.bin", g1, glen);
    dump_seed("golden-connection-start", g1, glen);

    /* decode it back */
    struct amqp_frame f;
    size_t used = 0, need = 0;
    ck_assert_int_eq(amqp_frame_parse(g1, glen, 131072, &f, &used, &need), EDAD_OK);
    ck_assert_uint_eq(used, glen);
    ck_assert_uint_eq(f.type, AMQP_FRAME_TYPE_METHOD);
    ck_assert_uint_eq(f.channel, 0);
    struct arena a;
    struct amqp_method d;
    arena_init(&a, 65536);
    ck_assert_int_eq(amqp_method_decode(f.payload, &a, &d), EDAD_OK);
    ck_assert_uint_eq(d.id, AMQP_CONNECTION_START);
    const struct amqp_table *sp = &d.u.connection_start.server_properties;
    ck_assert_uint_eq(sp->count, 7);
    const struct amqp_field_value *v = amqp_table_get(sp, "capabilities");
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->kind, AMQP_FIELD_TABLE);
    ck_assert_uint_eq(v->v.table.count, 9);
    const struct amqp_field_value *c = amqp_table_get(&v->v.table, "authentication_failure_close");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->kind, AMQP_FIELD_BOOL);
    ck_assert(c->v.b);
    v = amqp_table_get(sp, "product");
    ck_assert(bytes_eq_cstr(v->v.str, "RabbitMQ"));
    ck_assert(bytes_eq_cstr(d.u.connection_start.mechanisms, "AMQPLAIN PLAIN"));
    /* raw is the table body as received */
    ck_assert_uint_eq(sp->raw.len + 4, amqp_table_encoded_size(sp));
    ck_assert_ptr_eq(sp->raw.ptr, f.payload.ptr + 4 + 2 + 4);
    arena_free(&a);
}
END_TEST

/* ======================================================================== */
/* golden: basic.publish + content header with all 14 properties + body      */

static const char golden_publish[] =            /* fully spelled out */
    "01 0001 0000000E"                           /* method, channel 1, 14 */
    "003C 0028 0000 00 05 'hello' 00"            /* ticket, "", "hello", bits */
    "CE";

static const char golden_header[] =
    "02 0001 00000068"                           /* header, channel 1, 104 */
    "003C 0000 0000000000000400 FFFC"            /* basic, weight, 1024, all 14 */
    "0A 'text/plain' 05 'utf-8'"
    "00000008 01 'k' 'S' 00000001 'v'"           /* headers */
    "02 05"                                      /* delivery-mode, priority */
    "04 'corr' 15 'amq.rabbitmq.reply-to' 05 '60000' 02 'm1'"
    "0000000065A0BC00"                           /* timestamp */
    "01 't' 05 'guest' 03 'app' 02 'cl'"
    "CE";

static struct amqp_table_entry hdrs[] = {
    {SB("k"), {.kind = 'S', .v.str = SB("v")}},
};

static struct amqp_basic_properties all_props(void)
{
    struct amqp_basic_properties p;
    memset(&p, 0, sizeof(p));
    p.flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
              AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
              AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
              AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG |
              AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
              AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_CLUSTER_ID_FLAG;
    p.content_type = B("text/plain");
    p.content_encoding = B("utf-8");
    p.headers = (struct amqp_table){1, hdrs, {NULL, 0}};
    p.delivery_mode = 2;
    p.priority = 5;
    p.correlation_id = B("corr");
    p.reply_to = B("amq.rabbitmq.reply-to");
    p.expiration = B("60000");
    p.message_id = B("m1");
    p.timestamp = 0x65A0BC00u;
    p.type = B("t");
    p.user_id = B("guest");
    p.app_id = B("app");
    p.cluster_id = B("cl");
    return p;
}

START_TEST(test_golden_publish)
{
    size_t glen = hx(golden_publish, g1, sizeof(g1));
    struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
    m.u.basic_publish.routing_key = B("hello");
    size_t len = 0;
    ck_assert_int_eq(amqp_frame_encode_method(1, &m, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);
    golden_file("basic_publish.bin", g1, glen);
}
END_TEST

START_TEST(test_golden_content_header)
{
    ck_assert_uint_eq(AMQP_BASIC_CONTENT_TYPE_FLAG, 1u << 15);
    ck_assert_uint_eq(AMQP_BASIC_HEADERS_FLAG, 1u << 13);
    ck_assert_uint_eq(AMQP_BASIC_TIMESTAMP_FLAG, 1u << 6);
    ck_assert_uint_eq(AMQP_BASIC_CLUSTER_ID_FLAG, 1u << 2);
    ck_assert_uint_eq(AMQP_BASIC_PROPERTY_MASK, 0xFFFCu);

    size_t glen = hx(golden_header, g1, sizeof(g1));
    struct amqp_basic_properties p = all_props();
    size_t len = 0;
    ck_assert_int_eq(amqp_frame_encode_content_header(1, 1024, &p, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);
    ck_assert_uint_eq(amqp_basic_properties_encoded_size(&p), glen - 8 - 12);
    golden_file("content_header_all_props.bin", g1, glen);
    dump_seed("golden-content-header", g1, glen);

    struct amqp_frame f;
    size_t used, need;
    ck_assert_int_eq(amqp_frame_parse(g1, glen, 4096, &f, &used, &need), EDAD_OK);
    ck_assert_uint_eq(f.type, AMQP_FRAME_TYPE_HEADER);
    struct arena a;
    struct amqp_content_header h;
    arena_init(&a, 4096);
    ck_assert_int_eq(amqp_content_header_decode(f.payload, &a, &h), EDAD_OK);
    ck_assert_uint_eq(h.class_id, AMQP_CLASS_BASIC);
    ck_assert_uint_eq(h.body_size, 1024);
    ck_assert_ptr_eq(h.raw_props.ptr, f.payload.ptr + 12);
    ck_assert_uint_eq(h.raw_props.len, f.payload.len - 12);
    const struct amqp_basic_properties *q = &h.props;
    ck_assert_uint_eq(q->flags, 0xFFFC);
    ck_assert(bytes_eq_cstr(q->content_type, "text/plain"));
    ck_assert(bytes_eq_cstr(q->content_encoding, "utf-8"));
    ck_assert_uint_eq(q->headers.count, 1);
    ck_assert(bytes_eq_cstr(amqp_table_get(&q->headers, "k")->v.str, "v"));
    ck_assert_uint_eq(q->delivery_mode, 2);
    ck_assert_uint_eq(q->priority, 5);
    ck_assert(bytes_eq_cstr(q->correlation_id, "corr"));
    ck_assert(bytes_eq_cstr(q->reply_to, "amq.rabbitmq.reply-to"));
    ck_assert(bytes_eq_cstr(q->expiration, "60000"));
    ck_assert(bytes_eq_cstr(q->message_id, "m1"));
    ck_assert_uint_eq(q->timestamp, 0x65A0BC00u);
    ck_assert(bytes_eq_cstr(q->type, "t"));
    ck_assert(bytes_eq_cstr(q->user_id, "guest"));
    ck_assert(bytes_eq_cstr(q->app_id, "app"));
    ck_assert(bytes_eq_cstr(q->cluster_id, "cl"));

    /* re-encoding the decoded properties gives the same frame */
    ck_assert_int_eq(amqp_frame_encode_content_header(1, h.body_size, q, g2, sizeof(g2), &len),
                     EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);

    /* every truncation of the payload is rejected, reading nothing beyond */
    for (size_t n = 0; n < f.payload.len; n++) {
        uint8_t *b = malloc(n ? n : 1);
        memcpy(b, f.payload.ptr, n);
        arena_reset(&a);
        ck_assert_int_lt(amqp_content_header_decode((struct edad_bytes){b, n}, &a, &h), 0);
        free(b);
    }
    /* every short output buffer is refused */
    for (size_t cap = 0; cap < glen - 8; cap++)
        ck_assert_int_eq(amqp_content_header_encode(1024, &p, g2, cap, &len), EDAD_ERR_NOSPACE);
    arena_free(&a);
}
END_TEST

START_TEST(test_content_header_subsets)
{
    struct arena a;
    struct amqp_content_header h;
    uint8_t p[256];
    size_t n, len;
    arena_init(&a, 4096);

    /* no properties at all: 14 bytes */
    struct amqp_basic_properties none;
    memset(&none, 0, sizeof(none));
    ck_assert_int_eq(amqp_content_header_encode(7, &none, g2, sizeof(g2), &len), EDAD_OK);
    n = hx("003C 0000 0000000000000007 0000", p, sizeof(p));
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(g2, p, n);
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h), EDAD_OK);
    ck_assert_uint_eq(h.props.flags, 0);
    ck_assert_uint_eq(h.body_size, 7);

    /* delivery-mode only (what a persistent publish from most clients has) */
    n = hx("003C 0000 0000000000000010 1000 02", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h), EDAD_OK);
    ck_assert_uint_eq(h.props.flags, AMQP_BASIC_DELIVERY_MODE_FLAG);
    ck_assert_uint_eq(h.props.delivery_mode, 2);
    ck_assert_uint_eq(h.props.priority, 0);
    ck_assert_uint_eq(h.props.content_type.len, 0);

    /* a nonzero weight is ignored, as RabbitMQ does */
    n = hx("003C 0001 0000000000000010 0000", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h), EDAD_OK);

    /* continuation bit: basic has only 14 properties */
    n = hx("003C 0000 0000000000000010 0001", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_MALFORMED);
    /* bit 1 has no property either */
    n = hx("003C 0000 0000000000000010 0002", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_MALFORMED);
    /* trailing byte */
    n = hx("003C 0000 0000000000000010 1000 02 00", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_MALFORMED);
    /* shortstr longer than what is left */
    n = hx("003C 0000 0000000000000010 8000 09 'abc'", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_MALFORMED);
    /* headers table length past the end */
    n = hx("003C 0000 0000000000000010 2000 00000010 01 'k' 'V'", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_MALFORMED);
    /* bad type code inside the headers table */
    n = hx("003C 0000 0000000000000010 2000 00000003 01 'k' 'Z'", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_UNKNOWN);
    /* not class basic: reported with the class id */
    n = hx("0032 0000 0000000000000010 0000", p, sizeof(p));
    ck_assert_int_eq(amqp_content_header_decode((struct edad_bytes){p, n}, &a, &h),
                     EDAD_ERR_UNKNOWN);
    ck_assert_uint_eq(h.class_id, 50);
    ck_assert_uint_eq(h.body_size, 16);

    /* encoding refuses flags with no property */
    none.flags = 0x0001;
    ck_assert_int_eq(amqp_content_header_encode(7, &none, g2, sizeof(g2), &len),
                     EDAD_ERR_INVALID);
    arena_free(&a);
}
END_TEST

/* ======================================================================== */
/* field tables: every type, nested in tables and arrays                     */

static struct amqp_table_entry inner_entries[] = {
    {SB("n"), {.kind = 'I', .v.i32 = 42}},
};

static struct amqp_field_value every_values[] = {
    {.kind = 't', .v.b = true},
    {.kind = 'b', .v.i8 = -2},
    {.kind = 'B', .v.u8 = 254},
    {.kind = 's', .v.i16 = -2},
    {.kind = 'u', .v.u16 = 65534},
    {.kind = 'U', .v.i16 = -32768},
    {.kind = 'I', .v.i32 = -2},
    {.kind = 'i', .v.u32 = 4294967294u},
    {.kind = 'l', .v.i64 = -2},
    {.kind = 'L', .v.u64 = 0xFFFFFFFFFFFFFFFEu},
    {.kind = 'f', .v.f = 1.5f},
    {.kind = 'd', .v.d = 3.5},
    {.kind = 'D', .v.decimal = {2, 1234}},
    {.kind = 'S', .v.str = SB("str")},
    {.kind = 'x', .v.str = SB("\0\377\1")},
    {.kind = 'A', .v.array = {0, NULL}},
    {.kind = 'T', .v.u64 = 0x65A0BC00u},
    {.kind = 'F', .v.table = {1, inner_entries, {NULL, 0}}},
    {.kind = 'V'},
};

static struct amqp_table_entry every_entries[] = {
    {SB("t"), {.kind = 't', .v.b = true}},
    {SB("b"), {.kind = 'b', .v.i8 = -2}},
    {SB("B"), {.kind = 'B', .v.u8 = 254}},
    {SB("s"), {.kind = 's', .v.i16 = -2}},
    {SB("u"), {.kind = 'u', .v.u16 = 65534}},
    {SB("U"), {.kind = 'U', .v.i16 = -32768}},
    {SB("I"), {.kind = 'I', .v.i32 = -2}},
    {SB("i"), {.kind = 'i', .v.u32 = 4294967294u}},
    {SB("l"), {.kind = 'l', .v.i64 = -2}},
    {SB("L"), {.kind = 'L', .v.u64 = 0xFFFFFFFFFFFFFFFEu}},
    {SB("f"), {.kind = 'f', .v.f = 1.5f}},
    {SB("d"), {.kind = 'd', .v.d = 3.5}},
    {SB("D"), {.kind = 'D', .v.decimal = {2, 1234}}},
    {SB("S"), {.kind = 'S', .v.str = SB("str")}},
    {SB("x"), {.kind = 'x', .v.str = SB("\0\377\1")}},
    {SB("A"), {.kind = 'A', .v.array = {EDAD_ARRAY_LEN(every_values), every_values}}},
    {SB("T"), {.kind = 'T', .v.u64 = 0x65A0BC00u}},
    {SB("F"), {.kind = 'F', .v.table = {1, inner_entries, {NULL, 0}}}},
    {SB("V"), {.kind = 'V'}},
};

#define EVERY_WIRE_VALUES                                                           \
    "'t' 01  'b' FE  'B' FE  's' FFFE  'u' FFFE  'U' 8000  'I' FFFFFFFE"            \
    "'i' FFFFFFFE  'l' FFFFFFFFFFFFFFFE  'L' FFFFFFFFFFFFFFFE"                      \
    "'f' 3FC00000  'd' 400C000000000000  'D' 02 000004D2"                           \
    "'S' 00000003 'str'  'x' 00000003 00FF01  'A' 00000000"                         \
    "'T' 0000000065A0BC00  'F' 00000007 01 'n' 'I' 0000002A  'V'"

static const char every_wire[] =                /* the table with its length */
    "[4"
    " 01 't' 't' 01"
    " 01 'b' 'b' FE"
    " 01 'B' 'B' FE"
    " 01 's' 's' FFFE"
    " 01 'u' 'u' FFFE"
    " 01 'U' 'U' 8000"
    " 01 'I' 'I' FFFFFFFE"
    " 01 'i' 'i' FFFFFFFE"
    " 01 'l' 'l' FFFFFFFFFFFFFFFE"
    " 01 'L' 'L' FFFFFFFFFFFFFFFE"
    " 01 'f' 'f' 3FC00000"
    " 01 'd' 'd' 400C000000000000"
    " 01 'D' 'D' 02 000004D2"
    " 01 'S' 'S' 00000003 'str'"
    " 01 'x' 'x' 00000003 00 FF 01"
    " 01 'A' 'A' [4 " EVERY_WIRE_VALUES "]"
    " 01 'T' 'T' 0000000065A0BC00"
    " 01 'F' 'F' [4 01 'n' 'I' 0000002A]"
    " 01 'V' 'V'"
    "]";

static void check_every_value(const struct amqp_field_value *v, char kind)
{
    ck_assert_int_eq(v->kind, kind);
    switch (kind) {
    case 't': ck_assert(v->v.b); break;
    case 'b': ck_assert_int_eq(v->v.i8, -2); break;
    case 'B': ck_assert_uint_eq(v->v.u8, 254); break;
    case 's': ck_assert_int_eq(v->v.i16, -2); break;
    case 'u': ck_assert_uint_eq(v->v.u16, 65534); break;
    case 'U': ck_assert_int_eq(v->v.i16, -32768); break;
    case 'I': ck_assert_int_eq(v->v.i32, -2); break;
    case 'i': ck_assert_uint_eq(v->v.u32, 4294967294u); break;
    case 'l': ck_assert_int_eq(v->v.i64, -2); break;
    case 'L': ck_assert_uint_eq(v->v.u64, 0xFFFFFFFFFFFFFFFEu); break;
    case 'f': ck_assert(v->v.f == 1.5f); break;
    case 'd': ck_assert(v->v.d == 3.5); break;
    case 'D':
        ck_assert_uint_eq(v->v.decimal.scale, 2);
        ck_assert_uint_eq(v->v.decimal.value, 1234);
        break;
    case 'S': ck_assert(bytes_eq_cstr(v->v.str, "str")); break;
    case 'x':
        ck_assert_uint_eq(v->v.str.len, 3);
        ck_assert_mem_eq(v->v.str.ptr, "\0\377\1", 3);
        break;
    case 'T': ck_assert_uint_eq(v->v.u64, 0x65A0BC00u); break;
    case 'F': {
        ck_assert_uint_eq(v->v.table.count, 1);
        const struct amqp_field_value *n = amqp_table_get(&v->v.table, "n");
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(n->kind, 'I');
        ck_assert_int_eq(n->v.i32, 42);
        break;
    }
    case 'V': break;
    case 'A': break;   /* checked by the caller */
    default: ck_abort_msg("unexpected kind %c", kind);
    }
}

START_TEST(test_table_every_type)
{
    static const char kinds[] = "tbBsuUIilLfdDSxATFV";
    struct amqp_table t = {EDAD_ARRAY_LEN(every_entries), every_entries, {NULL, 0}};
    size_t glen = hx(every_wire, g1, sizeof(g1));
    size_t len = 0;

    ck_assert_uint_eq(amqp_table_encoded_size(&t), glen);
    ck_assert_int_eq(amqp_table_encode(&t, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);
    golden_file("table_every_type.bin", g1, glen);

    struct arena a;
    struct amqp_table d;
    arena_init(&a, 65536);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1 + 4, glen - 4}, &a, &d), EDAD_OK);
    ck_assert_uint_eq(d.count, 19);
    ck_assert_ptr_eq(d.raw.ptr, g1 + 4);
    ck_assert_uint_eq(d.raw.len, glen - 4);
    for (int i = 0; i < 19; i++) {
        char key[2] = {kinds[i], 0};
        ck_assert(bytes_eq_cstr(d.entries[i].key, key));
        const struct amqp_field_value *v = amqp_table_get(&d, key);
        ck_assert_ptr_eq(v, &d.entries[i].value);
        check_every_value(v, kinds[i]);
    }
    /* the array holds every type again, an empty array among them */
    const struct amqp_field_value *arr = amqp_table_get(&d, "A");
    ck_assert_uint_eq(arr->v.array.count, 19);
    for (int i = 0; i < 19; i++)
        check_every_value(&arr->v.array.values[i], kinds[i]);
    ck_assert_uint_eq(arr->v.array.values[15].v.array.count, 0);

    /* decoded tables re-encode to the same bytes */
    ck_assert_uint_eq(amqp_table_encoded_size(&d), glen);
    ck_assert_int_eq(amqp_table_encode(&d, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, glen);
    ck_assert_mem_eq(g2, g1, glen);

    /* as method arguments, every truncation is rejected */
    struct amqp_method m = {.id = AMQP_QUEUE_DECLARE};
    m.u.queue_declare.queue = B("q");
    m.u.queue_declare.arguments = t;
    size_t plen;
    ck_assert_int_eq(amqp_method_encode(&m, g2, sizeof(g2), &plen), EDAD_OK);
    uint8_t frame[16384];
    size_t flen = frame_wrap(AMQP_FRAME_METHOD, 1, g2, plen, frame, sizeof(frame));
    dump_seed("table-every-type-in-queue-declare", frame, flen);
    dump_seed("table-every-type", g1 + 4, glen - 4);
    for (size_t n = 0; n < plen; n++) {
        uint8_t *b = malloc(n ? n : 1);
        memcpy(b, g2, n);
        arena_reset(&a);
        struct amqp_method dm;
        ck_assert_int_lt(amqp_method_decode((struct edad_bytes){b, n}, &a, &dm), 0);
        free(b);
    }
    /* every short output buffer is refused */
    for (size_t cap = 0; cap < glen; cap++)
        ck_assert_int_eq(amqp_table_encode(&t, g2, cap, &len), EDAD_ERR_NOSPACE);
    arena_free(&a);
}
END_TEST

START_TEST(test_table_as_int64)
{
    struct arena a;
    struct amqp_table d;
    int64_t x;
    size_t glen = hx(every_wire, g1, sizeof(g1));
    arena_init(&a, 65536);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1 + 4, glen - 4}, &a, &d), EDAD_OK);
    static const struct { const char *k; int64_t v; } ints[] = {
        {"b", -2}, {"B", 254}, {"s", -2}, {"u", 65534}, {"U", -32768}, {"I", -2},
        {"i", 4294967294}, {"l", -2}, {"L", -2},
    };
    for (size_t i = 0; i < EDAD_ARRAY_LEN(ints); i++) {
        x = 0;
        ck_assert_msg(amqp_field_as_int64(amqp_table_get(&d, ints[i].k), &x), "%s", ints[i].k);
        ck_assert_int_eq(x, ints[i].v);
    }
    static const char *nonint[] = {"t", "f", "d", "D", "S", "x", "A", "T", "F", "V"};
    for (size_t i = 0; i < EDAD_ARRAY_LEN(nonint); i++)
        ck_assert_msg(!amqp_field_as_int64(amqp_table_get(&d, nonint[i]), &x), "%s", nonint[i]);
    arena_free(&a);
}
END_TEST

START_TEST(test_table_empty)
{
    struct arena a;
    struct amqp_table d;
    arena_init(&a, 64);
    ck_assert_int_eq(amqp_table_decode(EDAD_BYTES_NULL, &a, &d), EDAD_OK);
    ck_assert_uint_eq(d.count, 0);
    ck_assert_ptr_null(amqp_table_get(&d, "x"));
    struct amqp_table e = {0, NULL, {NULL, 0}};
    uint8_t out[8];
    size_t len;
    ck_assert_uint_eq(amqp_table_encoded_size(&e), 4);
    ck_assert_int_eq(amqp_table_encode(&e, out, sizeof(out), &len), EDAD_OK);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(out, "\0\0\0\0", 4);
    arena_free(&a);
}
END_TEST

/* Table bodies that must be refused, each with the status expected. */
static const struct {
    const char *wire;
    edad_status st;
} bad_tables[] = {
    {"00 'V'", EDAD_ERR_MALFORMED},                       /* zero-length key */
    {"05 'abc'", EDAD_ERR_MALFORMED},                     /* key past the end */
    {"01 'k'", EDAD_ERR_MALFORMED},                       /* no type */
    {"01 'k' 'Z'", EDAD_ERR_UNKNOWN},                     /* unknown type code */
    {"01 'k' 00", EDAD_ERR_UNKNOWN},
    {"01 'k' 'I' 0000", EDAD_ERR_MALFORMED},              /* short int */
    {"01 'k' 'S' 00000004 'abc'", EDAD_ERR_MALFORMED},    /* longstr past the end */
    {"01 'k' 'S' FFFFFFFF 'abc'", EDAD_ERR_MALFORMED},
    {"01 'k' 'x' 80000000", EDAD_ERR_MALFORMED},
    {"01 'k' 'F' 00000009 01 'n' 'V'", EDAD_ERR_MALFORMED},     /* nested past end */
    {"01 'k' 'F' 00000002 01 'n'", EDAD_ERR_MALFORMED},         /* nested truncated */
    {"01 'k' 'F' 00000003 00 'n' 'V'", EDAD_ERR_MALFORMED},     /* nested empty key */
    {"01 'k' 'A' 00000001 'Z'", EDAD_ERR_UNKNOWN},              /* bad code in array */
    {"01 'k' 'A' 00000002 'I' 00", EDAD_ERR_MALFORMED},         /* array value short */
    {"01 'k' 'A' 00000005 'A' 00000001", EDAD_ERR_MALFORMED},   /* inner array past end */
    {"01 'k' 'D' 02 0000", EDAD_ERR_MALFORMED},
    {"01 'k' 'V' 00", EDAD_ERR_MALFORMED},                /* trailing garbage */
};

START_TEST(test_table_malformed)
{
    struct arena a;
    struct amqp_table d;
    arena_init(&a, 65536);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(bad_tables); i++) {
        size_t n = hx(bad_tables[i].wire, g1, sizeof(g1));
        uint8_t *b = malloc(n);
        memcpy(b, g1, n);
        arena_reset(&a);
        edad_status st = amqp_table_decode((struct edad_bytes){b, n}, &a, &d);
        ck_assert_msg(st == bad_tables[i].st, "case %zu (%s): got %d", i, bad_tables[i].wire,
                      (int)st);
        free(b);
    }
    arena_free(&a);
}
END_TEST

/* Build a body of `levels` nested containers ('F' or 'A'); the innermost
   one is empty.  Returns the body length (without the outer length). */
static size_t nest(uint8_t *out, size_t cap, int levels, char kind)
{
    size_t n = 0;                /* built from the inside out, at the end */
    size_t pos = cap;
    for (int i = 1; i < levels; i++) {
        size_t body = n;
        size_t hdr = (kind == 'F' ? 3 : 1) + 4;
        ck_assert_uint_ge(pos, hdr);
        pos -= hdr;
        uint8_t *p = out + pos;
        if (kind == 'F') {
            *p++ = 1;
            *p++ = 'k';
        }
        *p++ = (uint8_t)kind;
        *p++ = (uint8_t)(body >> 24);
        *p++ = (uint8_t)(body >> 16);
        *p++ = (uint8_t)(body >> 8);
        *p++ = (uint8_t)body;
        n += hdr;
    }
    memmove(out, out + pos, n);
    return n;
}

START_TEST(test_table_depth)
{
    struct arena a;
    struct amqp_table d;
    arena_init(&a, 1 << 20);

    /* a table nested AMQP_TABLE_MAX_DEPTH deep is fine, one more is not */
    size_t n = nest(g1, sizeof(g1), AMQP_TABLE_MAX_DEPTH, 'F');
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, n}, &a, &d), EDAD_OK);
    size_t len;
    ck_assert_int_eq(amqp_table_encode(&d, g2, sizeof(g2), &len), EDAD_OK);
    ck_assert_uint_eq(len, n + 4);
    n = nest(g1, sizeof(g1), AMQP_TABLE_MAX_DEPTH + 1, 'F');
    arena_reset(&a);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, n}, &a, &d), EDAD_ERR_MALFORMED);
    dump_seed("table-too-deep", g1, n);

    /* arrays count as nesting too: top table + k arrays */
    g1[0] = 1;
    g1[1] = 'k';
    g1[2] = 'A';
    size_t inner = nest(g1 + 7, sizeof(g1) - 7, AMQP_TABLE_MAX_DEPTH - 1, 'A');
    g1[3] = (uint8_t)(inner >> 24);
    g1[4] = (uint8_t)(inner >> 16);
    g1[5] = (uint8_t)(inner >> 8);
    g1[6] = (uint8_t)inner;
    arena_reset(&a);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, inner + 7}, &a, &d), EDAD_OK);
    inner = nest(g1 + 7, sizeof(g1) - 7, AMQP_TABLE_MAX_DEPTH, 'A');
    g1[3] = (uint8_t)(inner >> 24);
    g1[4] = (uint8_t)(inner >> 16);
    g1[5] = (uint8_t)(inner >> 8);
    g1[6] = (uint8_t)inner;
    arena_reset(&a);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, inner + 7}, &a, &d),
                     EDAD_ERR_MALFORMED);

    /* very deep hostile nesting (64 KiB of headers) is refused without
       deep recursion */
    n = nest(g1, sizeof(g1), 2000, 'F');
    arena_reset(&a);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, n}, &a, &d), EDAD_ERR_MALFORMED);
    arena_free(&a);
}
END_TEST

START_TEST(test_table_arena_cap)
{
    /* 1000 void entries: 3 bytes each on the wire, far more decoded */
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        g1[n++] = 1;
        g1[n++] = 'k';
        g1[n++] = 'V';
    }
    struct arena a;
    struct amqp_table d;
    arena_init(&a, 4096);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, n}, &a, &d), EDAD_ERR_NOMEM);
    arena_free(&a);
    arena_init(&a, 0);
    ck_assert_int_eq(amqp_table_decode((struct edad_bytes){g1, n}, &a, &d), EDAD_OK);
    ck_assert_uint_eq(d.count, 1000);
    arena_free(&a);
}
END_TEST

START_TEST(test_table_encode_errors)
{
    uint8_t out[256];
    size_t len;
    struct amqp_table_entry e[1] = {{SB(""), {.kind = 'V'}}};
    struct amqp_table t = {1, e, {NULL, 0}};
    ck_assert_int_eq(amqp_table_encode(&t, out, sizeof(out), &len), EDAD_ERR_INVALID);
    e[0].key = B("k");
    ck_assert_int_eq(amqp_table_encode(&t, out, sizeof(out), &len), EDAD_OK);
    e[0].value.kind = 'Z';
    ck_assert_int_eq(amqp_table_encode(&t, out, sizeof(out), &len), EDAD_ERR_INVALID);
    e[0].value.kind = 'A';
    e[0].value.v.array = (struct amqp_array){2, NULL};
    ck_assert_int_eq(amqp_table_encode(&t, out, sizeof(out), &len), EDAD_ERR_INVALID);
    t.entries = NULL;
    ck_assert_int_eq(amqp_table_encode(&t, out, sizeof(out), &len), EDAD_ERR_INVALID);

    /* a self-referencing table (a caller bug) stops at the depth limit */
    struct amqp_table_entry loop[1];
    loop[0].key = B("self");
    loop[0].value.kind = 'F';
    loop[0].value.v.table = (struct amqp_table){1, loop, {NULL, 0}};
    struct amqp_table lt = {1, loop, {NULL, 0}};
    (void)amqp_table_encoded_size(&lt);
    ck_assert_int_eq(amqp_table_encode(&lt, g2, sizeof(g2), &len), EDAD_ERR_INVALID);
}
END_TEST

/* ======================================================================== */
/* frames                                                                    */

START_TEST(test_frame_stream)
{
    /* method + header + two body frames + heartbeat, back to back */
    size_t n = hx("01 0001 [4 003C 0028 0000 00 01 'q' 00] CE"
                  "02 0001 [4 003C 0000 0000000000000005 0000] CE"
                  "03 0001 [4 'hel'] CE"
                  "03 0001 [4 'lo'] CE"
                  "08 0000 00000000 CE", g1, sizeof(g1));
    static const uint8_t types[] = {1, 2, 3, 3, 8};
    static const size_t sizes[] = {10, 14, 3, 2, 0};
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        struct amqp_frame f;
        size_t used = 0, need = 0;
        ck_assert_int_eq(amqp_frame_parse(g1 + off, n - off, 4096, &f, &used, &need), EDAD_OK);
        ck_assert_uint_eq(f.type, types[i]);
        ck_assert_uint_eq(f.payload.len, sizes[i]);
        ck_assert_uint_eq(used, sizes[i] + 8);
        ck_assert_uint_eq(f.channel, i == 4 ? 0 : 1);
        off += used;
    }
    ck_assert_uint_eq(off, n);
    dump_seed("stream-publish", g1, n);

    /* the heartbeat constant is such a frame */
    ck_assert_mem_eq(amqp_heartbeat_frame, g1 + n - 8, 8);
    ck_assert_mem_eq(amqp_protocol_header, "AMQP\0\0\x09\x01", 8);

    uint8_t hdr[7];
    amqp_frame_header_write(hdr, 3, 0x0102, 0x0A0B0C0D);
    ck_assert_mem_eq(hdr, "\x03\x01\x02\x0A\x0B\x0C\x0D", 7);
}
END_TEST

START_TEST(test_frame_truncated)
{
    size_t n = hx("01 0001 [4 003C 0028 0000 00 01 'q' 00] CE", g1, sizeof(g1));
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, g1, len);
        struct amqp_frame f;
        size_t used = 99, need = 0;
        ck_assert_int_eq(amqp_frame_parse(b, len, 4096, &f, &used, &need), EDAD_AGAIN);
        ck_assert_uint_eq(need, len < 7 ? 7 : n);
        ck_assert_uint_eq(used, 99);
        ck_assert_int_eq(amqp_frame_parse(b, len, 4096, &f, &used, NULL), EDAD_AGAIN);
        free(b);
    }
}
END_TEST

START_TEST(test_frame_errors)
{
    struct amqp_frame f;
    size_t used, need;
    size_t n;

    /* bad frame-end octet */
    n = hx("01 0001 00000004 003C 0028 00", g1, sizeof(g1));
    ck_assert_int_eq(amqp_frame_parse(g1, n, 4096, &f, &used, &need), EDAD_ERR_FRAME_END);
    dump_seed("bad-frame-end", g1, n);

    /* unknown frame types, known as soon as the header is in */
    for (unsigned t = 0; t < 256; t++) {
        if (t == 1 || t == 2 || t == 3 || t == 8)
            continue;
        n = hx("00 0000 00000010", g1, sizeof(g1));
        g1[0] = (uint8_t)t;
        ck_assert_int_eq(amqp_frame_parse(g1, n, 4096, &f, &used, &need), EDAD_ERR_UNKNOWN);
    }

    /* size vs frame_max, checked with only the 7 header bytes present */
    n = hx("03 0001 00000FF9", g1, sizeof(g1));          /* 4089 + 8 = 4097 */
    ck_assert_int_eq(amqp_frame_parse(g1, n, 4096, &f, &used, &need), EDAD_ERR_TOO_LARGE);
    need = 0;
    ck_assert_int_eq(amqp_frame_parse(g1, n, 4097, &f, &used, &need), EDAD_AGAIN);
    ck_assert_uint_eq(need, 4097);
    ck_assert_int_eq(amqp_frame_parse(g1, n, 0, &f, &used, &need), EDAD_AGAIN);
    /* the size check comes before the type check */
    n = hx("04 0001 FFFFFFFF", g1, sizeof(g1));
    ck_assert_int_eq(amqp_frame_parse(g1, n, 131072, &f, &used, &need), EDAD_ERR_TOO_LARGE);
    /* frame_max 0 = no limit: a 4 GiB frame is just not complete yet */
    n = hx("03 0001 FFFFFFFF", g1, sizeof(g1));
    ck_assert_int_eq(amqp_frame_parse(g1, n, 0, &f, &used, &need), EDAD_AGAIN);
    ck_assert_uint_eq(need, 0xFFFFFFFFull + 8);
    dump_seed("huge-size", g1, n);

    /* a frame of exactly frame_max is accepted */
    memset(g1, 0, 4096);
    n = hx("03 0001 00000FF8", g1, sizeof(g1));
    g1[4095] = 0xCE;
    ck_assert_int_eq(amqp_frame_parse(g1, 4096, 4096, &f, &used, &need), EDAD_OK);
    ck_assert_uint_eq(used, 4096);
    ck_assert_uint_eq(f.payload.len, 4088);

    /* encoding into a buffer smaller than the overhead */
    struct amqp_method m = {.id = AMQP_TX_SELECT};
    ck_assert_int_eq(amqp_frame_encode_method(0, &m, g2, 7, &used), EDAD_ERR_NOSPACE);
    ck_assert_int_eq(amqp_frame_encode_method(0, &m, g2, 11, &used), EDAD_ERR_NOSPACE);
    ck_assert_int_eq(amqp_frame_encode_method(0, &m, g2, 12, &used), EDAD_OK);
    ck_assert_uint_eq(used, 12);
}
END_TEST

/* ======================================================================== */
/* seeds for the fuzzer: one frame of each kind not made elsewhere           */

START_TEST(test_seed_misc)
{
    size_t n = hx("03 0001 [4 'body bytes'] CE", g1, sizeof(g1));
    dump_seed("body", g1, n);
    dump_seed("heartbeat", amqp_heartbeat_frame, 8);
    dump_seed("protocol-header", amqp_protocol_header, 8);
    n = hx("02 0001 [4 003C 0000 0000000000000005 0001] CE", g1, sizeof(g1));
    dump_seed("header-continuation-bit", g1, n);
}
END_TEST

/* ======================================================================== */

START_TEST(test_method_shortstr_utf8)
{
    /* channel.open's reserved shortstr: RabbitMQ rejects non-UTF-8 shortstrs
     * in methods (501 "Malformed UTF-8 in shortstr"). */
    static const struct { const char *s; size_t len; bool ok; } cases[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"caf\xc3\xa9", 5, true},                 /* U+00E9 */
        {"\xe2\x82\xac", 3, true},               /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, true},           /* U+1F600 */
        {"\xff\xfe", 2, false},                   /* never valid */
        {"\xc0\xaf", 2, false},                   /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},               /* overlong */
        {"\xed\xa0\x80", 3, false},               /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false},           /* > U+10FFFF */
        {"\xc3", 1, false},                       /* truncated sequence */
        {"a\x80", 2, false},                      /* stray continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[64] = {0x00, 0x14, 0x00, 0x0A};
        buf[4] = (uint8_t)cases[i].len;
        memcpy(buf + 5, cases[i].s, cases[i].len);
        struct arena a;
        arena_init(&a, 0);
        struct amqp_method m;
        edad_status st = amqp_method_decode((struct edad_bytes){buf, 5 + cases[i].len}, &a, &m);
        ck_assert_msg(st == (cases[i].ok ? EDAD_OK : EDAD_ERR_ENCODING), "case %zu: %d", i, (int)st);
        arena_free(&a);
    }
}
END_TEST

START_TEST(test_status_messages)
{
    for (int st = EDAD_STATUS_MIN; st <= EDAD_AGAIN; st++) {
        const char *msg = edad_strerror((edad_status)st);
        ck_assert_ptr_nonnull(msg);
        ck_assert_msg(strcmp(msg, "unknown status") != 0, "status %d has no message", st);
    }
    ck_assert_str_eq(edad_strerror((edad_status)(EDAD_STATUS_MIN - 1)), "unknown status");
}
END_TEST

static Suite *amqp_suite(void)
{
    Suite *s = suite_create("amqp");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_connection_start);
    tcase_add_test(tc, test_golden_publish);
    tcase_add_test(tc, test_golden_content_header);
    tcase_add_test(tc, test_content_header_subsets);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_add_test(tc, test_table_every_type);
    tcase_add_test(tc, test_table_as_int64);
    tcase_add_test(tc, test_table_empty);
    tcase_add_test(tc, test_table_malformed);
    tcase_add_test(tc, test_table_depth);
    tcase_add_test(tc, test_table_arena_cap);
    tcase_add_test(tc, test_table_encode_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("frame");
    tcase_add_test(tc, test_frame_stream);
    tcase_add_test(tc, test_frame_truncated);
    tcase_add_test(tc, test_frame_errors);
    tcase_add_test(tc, test_seed_misc);
    tcase_add_test(tc, test_method_shortstr_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("status");
    tcase_add_test(tc, test_status_messages);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(amqp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
