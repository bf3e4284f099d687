/*
 * log.c - leveled log lines to two sinks: the console (stderr, or a stream
 * set for tests) and an optional log file, each with its own level.
 * Console format: "2026-11-26 05:30:00.123 [info] message", or under
 * journald "<6>[info] message" (sd-daemon priority prefix, no timestamp:
 * the journal adds its own).  Each line is written with one fprintf so
 * concurrent writers would not interleave within a line.  Opening,
 * reopening and closing the file is the caller's (server.c).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "edad/core.h"

static enum log_level console_level = EDAD_LOG_INFO;
static enum log_level file_level = EDAD_LOG_NONE;
static enum log_level min_level = EDAD_LOG_INFO;   /* least of the two */
static FILE *log_stream;          /* console stream; NULL means stderr */
static FILE *log_file;            /* file sink or NULL */
static bool journal_prefix;

static const char *const level_names[] = {
    "debug", "info", "warning", "error", "critical", "none",
};

/* syslog priorities (sd-daemon.h SD_DEBUG..SD_CRIT) per level */
static const char journal_prio[] = {'7', '6', '4', '3', '2'};

static void log_update_min(void)
{
    min_level = console_level;
    if (log_file && file_level < min_level)
        min_level = file_level;
}

void log_set_level(enum log_level lvl)
{
    console_level = lvl;
    log_update_min();
}

enum log_level log_get_level(void) { return console_level; }
void log_set_stream(FILE *fp) { log_stream = fp; }
void log_set_journal(bool on) { journal_prefix = on; }

void log_set_file(FILE *fp, enum log_level lvl)
{
    log_file = fp;
    file_level = lvl;
    log_update_min();
}

bool log_enabled(enum log_level lvl) { return lvl >= min_level && lvl < EDAD_LOG_NONE; }

bool log_journal_detect(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

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
    if (!log_enabled(lvl))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    if (lvl >= console_level) {
        FILE *fp = log_stream ? log_stream : stderr;
        if (journal_prefix && !log_stream)
            fprintf(fp, "<%c>[%s] %s\n", journal_prio[lvl], level_names[lvl], msg);
        else
            fprintf(fp, "%s.%03d [%s] %s\n", ts, (int)(tv.tv_usec / 1000), level_names[lvl],
                    msg);
        fflush(fp);
    }
    if (log_file && lvl >= file_level) {
        fprintf(log_file, "%s.%03d [%s] %s\n", ts, (int)(tv.tv_usec / 1000), level_names[lvl],
                msg);
        fflush(log_file);
    }
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, fmt, ap);
    va_end(ap);
}
