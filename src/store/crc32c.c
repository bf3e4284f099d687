/*
 * crc32c.c - CRC-32C (Castagnoli), the checksum of every store record: the
 * SSE4.2 instruction when the CPU has it (three independent streams on
 * long inputs, joined with precomputed zero-shift tables), slicing-by-8
 * tables otherwise.  Not a general hashing module; nothing here allocates.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "edad/store.h"

#define POLY 0x82f63b78u        /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static bool have_hw;

/*
 * The instruction has a latency of 3 cycles and a throughput of 1: three
 * streams over consecutive lanes run in parallel, then
 * crc(A||B||C) = shift(shift(crc(A)) ^ crc(B)) ^ crc(C), where shift
 * appends a lane of zeros (linear in the register: 4 table lookups).
 */
#define LANE_LONG 4096u
#define LANE_SHORT 128u
static uint32_t shift_long[4][256], shift_short[4][256];

/* t: the register after `zeros` zero bytes, one table per register byte. */
static void shift_init(uint32_t t[4][256], size_t zeros)
{
    uint32_t img[32];
    for (int i = 0; i < 32; i++) {
        uint32_t c = 1u << i;
        for (size_t n = 0; n < zeros; n++)
            c = table[0][c & 0xff] ^ (c >> 8);
        img[i] = c;
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1)
                    v ^= img[8 * k + j];
            t[k][b] = v;
        }
}

static void table_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
    if (have_hw) {
        shift_init(shift_long, LANE_LONG);
        shift_init(shift_short, LANE_SHORT);
    }
#endif
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
            table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
            table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
            table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
static uint32_t crc_bytewise(uint32_t c, const uint8_t *p, size_t n)
{
    while (n--)
        c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
static inline uint32_t shift_apply(const uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

/* Whole triples of `lane`-byte lanes from *p (advanced past them). */
__attribute__((target("sse4.2")))
static uint64_t crc_hw_lanes(uint64_t c0, const uint8_t **pp, size_t *np, size_t lane,
                             const uint32_t t[4][256])
{
    const uint8_t *p = *pp;
    size_t n = *np;
    while (n >= 3 * lane) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + lane;
        do {
            uint64_t w0, w1, w2;
            memcpy(&w0, p, 8);
            memcpy(&w1, p + lane, 8);
            memcpy(&w2, p + 2 * lane, 8);
            c0 = __builtin_ia32_crc32di(c0, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
            p += 8;
        } while (p < end);
        c0 = shift_apply(t, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = shift_apply(t, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * lane;
        n -= 3 * lane;
    }
    *pp = p;
    *np = n;
    return c0;
}

__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n && ((uintptr_t)p & 7)) {
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
        n--;
    }
    c64 = crc_hw_lanes(c64, &p, &n, LANE_LONG, shift_long);
    c64 = crc_hw_lanes(c64, &p, &n, LANE_SHORT, shift_short);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        n -= 8;
    }
    while (n--)
        c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
    return (uint32_t)c64;
}
#endif

uint32_t store_crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;

    pthread_once(&table_once, table_init);
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_hw)
        return ~crc_hw(c, p, len);
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ~crc_sw(c, p, len);   /* word loads below assume little-endian */
#else
    return ~crc_bytewise(c, p, len);
#endif
}

uint32_t store_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;

    pthread_once(&table_once, table_init);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ~crc_sw(c, p, len);
#else
    return ~crc_bytewise(c, p, len);
#endif
}
