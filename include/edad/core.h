/*
 * core.h - the lowest layer: byte slices, a bump arena for per-frame data,
 * logging, clocks and checked allocation.  Knows nothing about AMQP,
 * sockets or the event loop; every other layer may include it.
 */
#ifndef EDAD_CORE_H
#define EDAD_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edad/status.h"

#define EDAD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define EDAD_UNUSED(x) ((void)(x))
#if defined(__GNUC__)
#define EDAD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define EDAD_LIKELY(x) __builtin_expect(!!(x), 1)
#define EDAD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define EDAD_PRINTF(f, a)
#define EDAD_LIKELY(x) (x)
#define EDAD_UNLIKELY(x) (x)
#endif

/* ---- byte slices ------------------------------------------------------ */

/* A borrowed, non-owning view of bytes (not NUL-terminated). */
struct edad_bytes {
    const uint8_t *ptr;
    size_t len;
};

#define EDAD_BYTES_NULL ((struct edad_bytes){NULL, 0})
/* Slice of a C string literal or NUL-terminated string (borrowed). */
struct edad_bytes bytes_from_cstr(const char *s);
bool bytes_eq(struct edad_bytes a, struct edad_bytes b);
bool bytes_eq_cstr(struct edad_bytes a, const char *s);
/* Newly malloc'ed NUL-terminated copy; caller frees.  Aborts on OOM. */
char *bytes_strdup(struct edad_bytes b);

/* ---- checked allocation (abort on out-of-memory, like redis' zmalloc) -- */

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Free *pp and set it to NULL; no-op when *pp is NULL. */
#define EDAD_FREE(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* ---- arena: bump allocator for data that lives as long as one frame ---- */

struct arena_chunk;
struct arena {
    struct arena_chunk *head;   /* current chunk, others chained behind */
    size_t used_total;          /* bytes handed out since the last reset */
    size_t cap;                 /* hard limit on used_total; 0 = unlimited */
};

/* cap bounds what one frame's decode may allocate (hostile-input guard). */
void arena_init(struct arena *a, size_t cap);
/* 8-byte aligned, zeroed memory, or NULL when the cap would be exceeded. */
void *arena_alloc(struct arena *a, size_t n);
/* Forget every allocation; keeps the first chunk for reuse. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

/* ---- logging ----------------------------------------------------------- */

enum log_level {
    EDAD_LOG_DEBUG = 0,
    EDAD_LOG_INFO = 1,
    EDAD_LOG_WARNING = 2,
    EDAD_LOG_ERROR = 3,
    EDAD_LOG_CRITICAL = 4,
    EDAD_LOG_NONE = 5,
};

/* Level of the console sink (stderr or the log_set_stream stream). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warning", "error", "critical", "none". */
edad_status log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);
/* Send console lines to this stream (default stderr); NULL restores stderr. */
void log_set_stream(FILE *fp);
/*
 * A second sink, the log file: lines at lvl or above are appended to fp
 * (borrowed; the caller opens, reopens and closes it).  NULL: no file.
 */
void log_set_file(FILE *fp, enum log_level lvl);
/* Console lines on stderr carry sd-daemon "<N>" priority prefixes and no
   timestamp (journald adds its own).  Off by default. */
void log_set_journal(bool on);
/* True when stderr is connected to the journal (JOURNAL_STREAM matches). */
bool log_journal_detect(void);
void log_write(enum log_level lvl, const char *fmt, ...) EDAD_PRINTF(2, 3);
void log_vwrite(enum log_level lvl, const char *fmt, va_list ap);
/* Whether a line at lvl would be written to any sink. */
bool log_enabled(enum log_level lvl);

#define log_debug(...) do { if (log_enabled(EDAD_LOG_DEBUG)) log_write(EDAD_LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_write(EDAD_LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_write(EDAD_LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_write(EDAD_LOG_ERROR, __VA_ARGS__)

/* ---- clocks ------------------------------------------------------------ */

/* Monotonic time in microseconds / milliseconds. */
uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
/* Wall-clock seconds since the epoch (for AMQP timestamps). */
uint64_t clock_wall_s(void);

/* ---- digests and base64 (hash.c; for RabbitMQ's password hashes) -------- */

/* One-shot digests of len bytes (FIPS 180-4 SHA-256/SHA-512, RFC 1321 MD5). */
void hash_sha256(const void *data, size_t len, uint8_t out[32]);
void hash_sha512(const void *data, size_t len, uint8_t out[64]);
void hash_md5(const void *data, size_t len, uint8_t out[16]);
/*
 * Standard base64 with '=' padding into out (NUL-terminated).  Returns the
 * length written, or 0 when outlen is below 4 * ceil(len / 3) + 1.
 */
size_t base64_encode(const void *data, size_t len, char *out, size_t outlen);
/* Decode padded base64; EDAD_ERR_MALFORMED on bad input, EDAD_ERR_NOSPACE
 * when more than outcap bytes would result. */
edad_status base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap,
                          size_t *outlen);

#endif
