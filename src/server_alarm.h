/*
 * server_alarm.h - resource alarms (RabbitMQ's memory and disk alarms):
 * the thresholds from the configuration, a periodic sample of edad's
 * resident memory and of the free space of data_dir, and the disk alarm a
 * failing store write raises.  The active set goes to the sessions, which
 * block publishers (connection.blocked); no protocol logic here.  Private
 * to the daemon's wiring (server.c) and its unit test.
 */
#ifndef EDAD_SERVER_ALARM_H
#define EDAD_SERVER_ALARM_H

#include "edad/conf.h"
#include "edad/net.h"
#include "edad/session.h"

struct server_alarm;

/* ---- parsing (RabbitMQ's formats) --------------------------------------------- */

/*
 * An information size as RabbitMQ 3.x reads it: digits, optionally followed
 * by k, K, kiB, KiB, KIB, kib (1024), M, m, MiB, MIB, mib (1024^2), G, g,
 * GiB, GIB, gib (1024^3), kB, KB, kb, Kb (1000), MB, mB, mb, Mb (10^6) or
 * GB, gB, gb, Gb (10^9).  EDAD_ERR_INVALID for anything else or overflow.
 */
edad_status server_alarm_parse_bytes(const char *s, uint64_t *out);
/* A non-negative decimal fraction ("0.4", "1", ".5", "4e-1"); EDAD_ERR_INVALID otherwise. */
edad_status server_alarm_parse_ratio(const char *s, double *out);

/* ---- the machine ---------------------------------------------------------------- */

/* Physical memory in bytes, or the cgroup memory limit when that is lower
 * (0 when unknown). */
uint64_t server_alarm_total_memory(void);
/* This process's resident set size in bytes (0 when unknown). */
uint64_t server_alarm_rss(void);
/* Bytes available to edad on the file system holding path; false on error. */
bool server_alarm_disk_free(const char *path, uint64_t *out);

/* ---- the alarms --------------------------------------------------------------------- */

/*
 * Thresholds from conf (borrowed; must outlive the alarms): memory limit
 * from vm_memory_high_watermark.absolute or .relative x total memory, disk
 * limit from disk_free_limit.relative x total memory or .absolute (only
 * when conf->data_dir is set).  Samples once at once, then every
 * conf->alarm_check_interval ms on loop; changes go to
 * session_server_set_alarms(sessions).  NULL with the reason in err for
 * an invalid value ("vm_memory_high_watermark.absolute: invalid value
 * 'x'").
 */
struct server_alarm *server_alarm_new(struct net_loop *loop, const struct edad_conf *conf,
                                      struct session_server *sessions, char *err,
                                      size_t errlen);
/* Stop the timer and free; NULL is a no-op. */
void server_alarm_free(struct server_alarm *a);
/* Sample now (the timer does this on its own). */
void server_alarm_check(struct server_alarm *a);
/*
 * The store failed to write (errno err).  For a device-wide error (ENOSPC,
 * EDQUOT, EIO, EROFS) raise the disk alarm and return true: it holds until
 * a test write of SERVER_ALARM_PROBE_BYTES in data_dir succeeds at a later
 * check (the space came back), on top of the free-space check.  Other
 * errors (EFBIG, EMFILE ...) only concern the file at hand: false.
 */
bool server_alarm_store_failed(struct server_alarm *a, int err);
#define SERVER_ALARM_PROBE_BYTES (1024u * 1024)
/* Active alarms: SESSION_ALARM_* bits. */
unsigned server_alarm_active(const struct server_alarm *a);
/* The thresholds in bytes (memory, disk; disk 0 without data_dir). */
uint64_t server_alarm_memory_limit(const struct server_alarm *a);
uint64_t server_alarm_disk_limit(const struct server_alarm *a);

#endif
