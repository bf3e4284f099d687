/*
 * fuzz_frame.c - libFuzzer target: the input as a table body, then as a frame
 * stream (methods, content headers, and every payload as a table).  Besides
 * the sanitizers it checks that frame_max 4096 never accepts what no limit
 * rejects and that decode(encode(decode(x))) re-encodes byte-identically.
 * It asserts nothing about protocol semantics (session/ owns those).
 */
#include <stdlib.h>
#include <string.h>

#include "edad/amqp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static struct arena arena_a, arena_b;

static void table_roundtrip(const struct amqp_table *t, size_t body_len)
{
    size_t cap = amqp_table_encoded_size(t);
    CHECK(cap == body_len + 4);
    uint8_t *e1 = malloc(cap), *e2 = malloc(cap);
    size_t l1 = 0, l2 = 0;
    CHECK(amqp_table_encode(t, e1, cap, &l1) == EDAD_OK && l1 == cap);
    struct amqp_table t2;
    CHECK(amqp_table_decode((struct edad_bytes){e1 + 4, l1 - 4}, &arena_b, &t2) == EDAD_OK);
    CHECK(amqp_table_encode(&t2, e2, cap, &l2) == EDAD_OK && l2 == l1);
    CHECK(memcmp(e1, e2, l1) == 0);
    free(e1);
    free(e2);
}

static void method_roundtrip(const struct amqp_method *m, size_t payload_len)
{
    size_t cap = payload_len + 1;
    uint8_t *e1 = malloc(cap), *e2 = malloc(cap);
    size_t l1 = 0, l2 = 0;
    CHECK(amqp_method_encode(m, e1, cap, &l1) == EDAD_OK && l1 == payload_len);
    struct amqp_method m2;
    CHECK(amqp_method_decode((struct edad_bytes){e1, l1}, &arena_b, &m2) == EDAD_OK);
    CHECK(m2.id == m->id);
    CHECK(amqp_method_encode(&m2, e2, cap, &l2) == EDAD_OK && l2 == l1);
    CHECK(memcmp(e1, e2, l1) == 0);
    CHECK(amqp_method_name(m->id) != NULL);
    free(e1);
    free(e2);
}

static void header_roundtrip(const struct amqp_content_header *h, size_t payload_len)
{
    size_t cap = payload_len + 1;
    uint8_t *e1 = malloc(cap), *e2 = malloc(cap);
    size_t l1 = 0, l2 = 0;
    CHECK(amqp_basic_properties_encoded_size(&h->props) == h->raw_props.len);
    CHECK(amqp_content_header_encode(h->body_size, &h->props, e1, cap, &l1) == EDAD_OK);
    CHECK(l1 == payload_len);
    struct amqp_content_header h2;
    CHECK(amqp_content_header_decode((struct edad_bytes){e1, l1}, &arena_b, &h2) == EDAD_OK);
    CHECK(h2.body_size == h->body_size && h2.props.flags == h->props.flags);
    CHECK(amqp_content_header_encode(h2.body_size, &h2.props, e2, cap, &l2) == EDAD_OK);
    CHECK(l2 == l1 && memcmp(e1, e2, l1) == 0);
    free(e1);
    free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        arena_init(&arena_a, 1 << 20);
        arena_init(&arena_b, 1 << 22);
        initialised = 1;
    }

    /* the whole input as a table body */
    struct amqp_table t;
    if (amqp_table_decode((struct edad_bytes){data, size}, &arena_a, &t) == EDAD_OK)
        table_roundtrip(&t, size);
    arena_reset(&arena_a);
    arena_reset(&arena_b);

    /* the input as a stream of frames */
    size_t off = 0;
    while (off < size) {
        struct amqp_frame f, f2;
        size_t used = 0, need = 0, used2 = 0;
        edad_status st = amqp_frame_parse(data + off, size - off, 0, &f, &used, &need);
        edad_status st2 = amqp_frame_parse(data + off, size - off, 4096, &f2, &used2, NULL);
        if (st2 == EDAD_OK)
            CHECK(st == EDAD_OK && used2 == used && f2.payload.len == f.payload.len);
        if (st == EDAD_AGAIN)
            CHECK(need > size - off);
        if (st != EDAD_OK)
            break;
        CHECK(used == f.payload.len + AMQP_FRAME_OVERHEAD && used <= size - off);

        if (f.type == AMQP_FRAME_TYPE_METHOD) {
            struct amqp_method m;
            st = amqp_method_decode(f.payload, &arena_a, &m);
            if (st == EDAD_OK)
                method_roundtrip(&m, f.payload.len);
            else
                CHECK(st < 0);
        } else if (f.type == AMQP_FRAME_TYPE_HEADER) {
            struct amqp_content_header h;
            st = amqp_content_header_decode(f.payload, &arena_a, &h);
            if (st == EDAD_OK)
                header_roundtrip(&h, f.payload.len);
            else
                CHECK(st < 0);
        }
        arena_reset(&arena_a);
        arena_reset(&arena_b);
        if (amqp_table_decode(f.payload, &arena_a, &t) == EDAD_OK)
            table_roundtrip(&t, f.payload.len);
        arena_reset(&arena_a);
        arena_reset(&arena_b);
        off += used;
    }
    return 0;
}
