/*
 * log.c - leveled log lines to stderr (journald picks them up) or a stream.
 * Format: "2026-11-26 05:30:00.123 [info] message".  Single-threaded use
 * today; each line is written with one fprintf so concurrent writers would
 * still not interleave within a line.
 */
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "edad/core.h"

static enum log_level current_level = EDAD_LOG_INFO;
static FILE *log_stream;

static const char *const level_names[] = {
    "debug", "info", "warning", "error", "critical", "none",
};

void log_set_level(enum log_level lvl) { current_level = lvl; }
enum log_level log_get_level(void) { return current_level; }
void log_set_stream(FILE *fp) { log_stream = fp; }

const char *log_level_name(enum log_level lvl)
{
    if ((unsigned)lvl < EDAD_ARRAY_LEN(level_names))
        return level_names[lvl];
    return "?";
}

edad_status log_level_parse(const char *s, enum log_level *out)
{
    for (unsigned i = 0; i < EDAD_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return EDAD_OK;
        }
    }
    if (strcmp(s, "warn") == 0) {
        *out = EDAD_LOG_WARNING;
        return EDAD_OK;
    }
    return EDAD_ERR_INVALID;
}

void log_vwrite(enum log_level lvl, const char *fmt, va_list ap)
{
    if (lvl < current_level || lvl >= EDAD_LOG_NONE)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    FILE *fp = log_stream ? log_stream : stderr;
    fprintf(fp, "%s.%03d [%s] %s\n", ts, (int)(tv.tv_usec / 1000),
            level_names[lvl], msg);
    fflush(fp);
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, fmt, ap);
    va_end(ap);
}
