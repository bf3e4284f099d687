/*
 * check_amqp_util.h - helpers shared by the codec's Check suites: a tiny
 * hand-written byte notation (independent of the codec under test) and a
 * dump hook that writes golden frames out as fuzz seeds.  Test-only.
 *
 * Notation (whitespace ignored):
 *   0A FF        hex byte pairs
 *   'text'       the bytes of text (no quote inside)
 *   [1 ...]      the enclosed bytes prefixed by their length in 1, 2 or 4
 *   [4 ...]      big-endian octets (nesting allowed): shortstr = [1 'x'],
 *                longstr/table = [4 ...], frame = 01 0000 [4 ...] CE
 */
#ifndef EDAD_CHECK_AMQP_UTIL_H
#define EDAD_CHECK_AMQP_UTIL_H

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edad/amqp.h"

/* Brace initialiser of a struct edad_bytes from a string literal. */
#define SB(lit) {(const uint8_t *)(lit), sizeof(lit) - 1}
/* Compound literal of the same, for expressions. */
#define B(lit) ((struct edad_bytes)SB(lit))

static inline int hx_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline size_t hx_parse(const char **sp, uint8_t *out, size_t cap, char close)
{
    const char *s = *sp;
    size_t n = 0;
    while (*s && *s != close) {
        char c = *s;
        if (c == ' ' || c == '\n' || c == '\t') {
            s++;
        } else if (c == '\'') {
            s++;
            while (*s && *s != '\'') {
                ck_assert_uint_lt(n, cap);
                out[n++] = (uint8_t)*s++;
            }
            ck_assert_msg(*s == '\'', "hx: unterminated quote");
            s++;
        } else if (c == '[') {
            int w = s[1] - '0';
            ck_assert_msg(w == 1 || w == 2 || w == 4, "hx: bad length width");
            s += 2;
            size_t at = n;
            ck_assert_uint_le(n + (size_t)w, cap);
            n += (size_t)w;
            size_t inner = hx_parse(&s, out + n, cap - n, ']');
            ck_assert_msg(*s == ']', "hx: unterminated [");
            s++;
            for (int i = w - 1; i >= 0; i--)
                out[at + (size_t)(w - 1 - i)] = (uint8_t)(inner >> (8 * i));
            n += inner;
        } else {
            int hi = hx_nibble(s[0]), lo = hx_nibble(s[1]);
            ck_assert_msg(hi >= 0 && lo >= 0, "hx: bad hex at '%.8s'", s);
            ck_assert_uint_lt(n, cap);
            out[n++] = (uint8_t)(hi << 4 | lo);
            s += 2;
        }
    }
    *sp = s;
    return n;
}

/* Parse notation into out[cap]; returns the byte count. */
static inline size_t hx(const char *spec, uint8_t *out, size_t cap)
{
    const char *s = spec;
    size_t n = hx_parse(&s, out, cap, '\0');
    ck_assert_msg(*s == '\0', "hx: stray ']'");
    return n;
}

/* When EDAD_DUMP_CORPUS names a directory, write data there as name: how
   fuzz/corpus/frame and tests/data/amqp are (re)made from the suites. */
static inline void dump_seed(const char *name, const uint8_t *data, size_t len)
{
    const char *dir = getenv("EDAD_DUMP_CORPUS");
    if (!dir || !*dir)
        return;
    char path[4096];
    (void)mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "dump %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Wrap a payload into a frame (test-side framing, not the codec's). */
static inline size_t frame_wrap(uint8_t type, uint16_t channel, const uint8_t *payload,
                                size_t len, uint8_t *out, size_t cap)
{
    ck_assert_uint_le(len + 8, cap);
    out[0] = type;
    out[1] = (uint8_t)(channel >> 8);
    out[2] = (uint8_t)channel;
    out[3] = (uint8_t)(len >> 24);
    out[4] = (uint8_t)(len >> 16);
    out[5] = (uint8_t)(len >> 8);
    out[6] = (uint8_t)len;
    if (len)
        memcpy(out + 7, payload, len);
    out[7 + len] = 0xCE;
    return len + 8;
}

#endif
