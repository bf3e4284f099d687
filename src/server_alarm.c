/*
 * server_alarm.c - RabbitMQ's memory and disk alarms for edad: thresholds
 * parsed from the configuration (fractions, information units), a timer
 * sampling the resident set (/proc/self/statm) and the free space of
 * data_dir (statvfs), and a disk alarm raised by a failing store write
 * that holds until a test write succeeds.  It only decides which alarms
 * are active; blocking publishers is the session layer's job.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "server_alarm.h"

struct server_alarm {
    const struct edad_conf *conf;
    struct session_server *sessions;
    struct net_timer *timer;
    uint64_t mem_limit;          /* bytes */
    uint64_t disk_limit;         /* bytes; 0 = no disk check */
    const char *data_dir;        /* conf's, or NULL */
    bool mem_alarm;
    bool disk_alarm;             /* free space below disk_limit */
    bool store_alarm;            /* a store write failed; cleared by a probe */
    int store_errno;
    unsigned active;             /* SESSION_ALARM_* last given to the sessions */
    uint64_t total;              /* total memory, measured at start */
    char *seen[4];               /* the threshold strings the limits come from */
};

/* ---- parsing ------------------------------------------------------------------------ */

edad_status server_alarm_parse_bytes(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"k", 1024}, {"K", 1024}, {"kiB", 1024}, {"KiB", 1024}, {"KIB", 1024}, {"kib", 1024},
        {"M", 1u << 20}, {"m", 1u << 20}, {"MiB", 1u << 20}, {"MIB", 1u << 20},
        {"mib", 1u << 20},
        {"G", 1u << 30}, {"g", 1u << 30}, {"GiB", 1u << 30}, {"GIB", 1u << 30},
        {"gib", 1u << 30},
        {"kB", 1000}, {"KB", 1000}, {"kb", 1000}, {"Kb", 1000},
        {"MB", 1000000}, {"mB", 1000000}, {"mb", 1000000}, {"Mb", 1000000},
        {"GB", 1000000000}, {"gB", 1000000000}, {"gb", 1000000000}, {"Gb", 1000000000},
    };
    if (!s)
        return EDAD_ERR_INVALID;
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return EDAD_ERR_INVALID;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return EDAD_ERR_INVALID;
    for (size_t u = 0; u < EDAD_ARRAY_LEN(units); u++) {
        if (strcmp(s + i, units[u].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[u].mult)
            return EDAD_ERR_INVALID;
        *out = v * units[u].mult;
        return EDAD_OK;
    }
    return EDAD_ERR_INVALID;
}

edad_status server_alarm_parse_ratio(const char *s, double *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return EDAD_ERR_INVALID;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
        return EDAD_ERR_INVALID;
    /* strtod also takes "inf", "nan" and hex floats: digits and '.' first */
    if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.') || strpbrk(s, "xX"))
        return EDAD_ERR_INVALID;
    *out = v;
    return EDAD_OK;
}

/* ---- the machine ------------------------------------------------------------------------ */

/* A cgroup limit file: a byte count, or "max" / unreadable (0). */
static uint64_t read_limit_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return 0;
    char buf[64] = "";
    uint64_t v = 0;
    if (fgets(buf, sizeof(buf), fp)) {
        char *end = NULL;
        unsigned long long n = strtoull(buf, &end, 10);
        if (end != buf && (*end == '\n' || *end == '\0'))
            v = (uint64_t)n;
    }
    fclose(fp);
    return v;
}

/* The memory limit of our cgroup (v2 via /proc/self/cgroup, else v1); 0 = none. */
static uint64_t cgroup_memory_limit(void)
{
    uint64_t lim = 0;
    FILE *fp = fopen("/proc/self/cgroup", "re");
    if (fp) {
        char line[512];
        while (fgets(line, sizeof(line), fp)) {
            if (strncmp(line, "0::", 3) != 0)
                continue;
            line[strcspn(line, "\n")] = '\0';
            char path[700];
            snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max",
                     strcmp(line + 3, "/") == 0 ? "" : line + 3);
            lim = read_limit_file(path);
            break;
        }
        fclose(fp);
    }
    if (!lim)
        lim = read_limit_file("/sys/fs/cgroup/memory.max");
    if (!lim)
        lim = read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    return lim;
}

uint64_t server_alarm_total_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    uint64_t total = (pages > 0 && psize > 0) ? (uint64_t)pages * (uint64_t)psize : 0;
    uint64_t cg = cgroup_memory_limit();
    if (cg && (total == 0 || cg < total))
        total = cg;
    return total;
}

uint64_t server_alarm_rss(void)
{
    FILE *fp = fopen("/proc/self/statm", "re");
    if (!fp)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(fp, "%llu %llu", &size, &resident);
    fclose(fp);
    long psize = sysconf(_SC_PAGESIZE);
    if (n != 2 || psize <= 0)
        return 0;
    return (uint64_t)resident * (uint64_t)psize;
}

bool server_alarm_disk_free(const char *path, uint64_t *out)
{
    struct statvfs sv;
    if (statvfs(path, &sv) != 0)
        return false;
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return true;
}

/*
 * Can the store write again?  Reserve SERVER_ALARM_PROBE_BYTES in a file of
 * data_dir (posix_fallocate: ENOSPC when the space is not there), sync it,
 * remove it.
 */
static bool alarm_probe_write(const char *dir, int *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/.alarm-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = errno;
        return false;
    }
    static const char byte = 0;
    int rc = posix_fallocate(fd, 0, SERVER_ALARM_PROBE_BYTES);
    bool ok = rc == 0 && pwrite(fd, &byte, 1, 0) == 1 && fdatasync(fd) == 0;
    *err = rc != 0 ? rc : (ok ? 0 : errno);
    close(fd);
    unlink(path);
    return ok;
}

/* ---- the alarms --------------------------------------------------------------------------- */

static void alarm_publish(struct server_alarm *a)
{
    unsigned active = (a->mem_alarm ? SESSION_ALARM_MEMORY : 0) |
                      (a->disk_alarm || a->store_alarm ? SESSION_ALARM_DISK : 0);
    if (active == a->active)
        return;
    if (active && !a->active)
        log_warning("*** Publishers will be blocked until this alarm clears ***");
    else if (!active)
        log_info("resource alarms cleared: publishers are unblocked");
    a->active = active;
    session_server_set_alarms(a->sessions, active);
}

static void alarm_reload(struct server_alarm *a);

void server_alarm_check(struct server_alarm *a)
{
    alarm_reload(a);
    uint64_t rss = server_alarm_rss();
    bool mem = rss > a->mem_limit;
    if (mem != a->mem_alarm) {
        if (mem)
            log_warning("memory resource limit alarm set: vm_memory_high_watermark set. Memory "
                        "used: %" PRIu64 " allowed: %" PRIu64, rss, a->mem_limit);
        else
            log_info("memory resource limit alarm cleared: vm_memory_high_watermark clear. "
                     "Memory used: %" PRIu64 " allowed: %" PRIu64, rss, a->mem_limit);
        a->mem_alarm = mem;
    }
    if (a->data_dir) {
        uint64_t free_bytes = 0;
        if (!a->disk_limit || server_alarm_disk_free(a->data_dir, &free_bytes)) {
            bool low = a->disk_limit && free_bytes < a->disk_limit;
            if (low != a->disk_alarm) {
                if (low)
                    log_warning("disk resource limit alarm set: free disk space is "
                                "insufficient. Free bytes: %" PRIu64 ". Limit: %" PRIu64,
                                free_bytes, a->disk_limit);
                else
                    log_info("disk resource limit alarm cleared: free bytes: %" PRIu64
                             ". Limit: %" PRIu64, free_bytes, a->disk_limit);
                a->disk_alarm = low;
            }
        }
        if (a->store_alarm) {
            int err = 0;
            if (alarm_probe_write(a->data_dir, &err)) {
                log_info("disk resource limit alarm cleared: the store can write to %s again",
                         a->data_dir);
                a->store_alarm = false;
            } else if (err != a->store_errno) {
                log_warning("store: %s is still not writable: %s", a->data_dir, strerror(err));
                a->store_errno = err;
            }
        }
    }
    alarm_publish(a);
}

bool server_alarm_store_failed(struct server_alarm *a, int err)
{
    /* the device, not one file: EFBIG (a file-size limit) passes with the
     * store's next segment, EMFILE with the next open */
    if (err != ENOSPC && err != EDQUOT && err != EIO && err != EROFS)
        return false;
    if (!a->store_alarm)
        log_warning("disk resource limit alarm set: a store write failed (%s); publishers "
                    "are blocked until %s is writable again", strerror(err),
                    a->data_dir ? a->data_dir : "the data directory");
    a->store_alarm = true;
    a->store_errno = err;
    alarm_publish(a);
    return true;
}

unsigned server_alarm_active(const struct server_alarm *a)
{
    return a->active;
}

uint64_t server_alarm_memory_limit(const struct server_alarm *a)
{
    return a->mem_limit;
}

uint64_t server_alarm_disk_limit(const struct server_alarm *a)
{
    return a->disk_limit;
}

static void alarm_timer_cb(void *arg)
{
    server_alarm_check(arg);
}

/* limit = ratio x total (ratios above 1 count as 1, as RabbitMQ). */
static uint64_t alarm_relative(double ratio, uint64_t total)
{
    if (ratio > 1.0)
        ratio = 1.0;
    return (uint64_t)((double)total * ratio);
}

/* The conf's threshold strings, in one order (NULL when not set). */
static void alarm_conf_strings(const struct edad_conf *conf, const char *out[4])
{
    out[0] = conf->vm_memory_relative;
    out[1] = conf->vm_memory_absolute;
    out[2] = conf->disk_free_absolute;
    out[3] = conf->disk_free_relative;
}

/* Both thresholds from conf; EDAD_ERR_INVALID naming the key in err. */
static edad_status alarm_limits(const struct edad_conf *conf, uint64_t total, uint64_t *mem,
                                uint64_t *disk, char *err, size_t errlen)
{
    double ratio = 0;
    const char *key = NULL, *val = NULL;
    *disk = 0;
    if (conf->vm_memory_absolute) {
        key = "vm_memory_high_watermark.absolute";
        val = conf->vm_memory_absolute;
        if (server_alarm_parse_bytes(val, mem) != EDAD_OK)
            goto bad;
    } else {
        key = "vm_memory_high_watermark.relative";
        val = conf->vm_memory_relative ? conf->vm_memory_relative : "0.4";
        if (server_alarm_parse_ratio(val, &ratio) != EDAD_OK)
            goto bad;
        if (ratio > 1.0)
            log_warning("%s = %s: more than all the memory; using 1.0", key, val);
        *mem = total ? alarm_relative(ratio, total) : UINT64_MAX;
    }
    if (conf->disk_free_relative) {
        key = "disk_free_limit.relative";
        val = conf->disk_free_relative;
        if (server_alarm_parse_ratio(val, &ratio) != EDAD_OK)
            goto bad;
        *disk = (uint64_t)((double)total * ratio);
    } else if (conf->disk_free_absolute) {
        key = "disk_free_limit.absolute";
        val = conf->disk_free_absolute;
        if (server_alarm_parse_bytes(val, disk) != EDAD_OK)
            goto bad;
    }
    return EDAD_OK;

bad:
    snprintf(err, errlen, "%s: invalid value '%s' (%s)", key, val,
             strstr(key, "relative") ? "a fraction such as 0.4" :
             "bytes, optionally with a unit such as 50MB, 512MiB or 2GB");
    return EDAD_ERR_INVALID;
}

static void alarm_log_limits(const struct server_alarm *a)
{
    log_info("memory high watermark set to %" PRIu64 " MiB (%" PRIu64 " bytes) of %" PRIu64
             " MiB total; disk free limit %" PRIu64 " bytes%s", a->mem_limit >> 20,
             a->mem_limit, a->total >> 20, a->disk_limit,
             a->data_dir ? "" : " (no data_dir: not checked)");
}

/* Keep copies of the strings the limits were computed from. */
static void alarm_remember(struct server_alarm *a)
{
    const char *now[4];
    alarm_conf_strings(a->conf, now);
    for (int i = 0; i < 4; i++) {
        free(a->seen[i]);
        a->seen[i] = now[i] ? xstrdup(now[i]) : NULL;
    }
}

/* SIGHUP may have changed the thresholds (they are reloadable). */
static void alarm_reload(struct server_alarm *a)
{
    const char *now[4];
    alarm_conf_strings(a->conf, now);
    bool changed = false;
    for (int i = 0; i < 4 && !changed; i++)
        changed = (now[i] == NULL) != (a->seen[i] == NULL) ||
                  (now[i] && strcmp(now[i], a->seen[i]) != 0);
    if (!changed)
        return;
    char err[256];
    uint64_t mem, disk;
    if (alarm_limits(a->conf, a->total, &mem, &disk, err, sizeof(err)) != EDAD_OK) {
        log_error("%s: keeping the alarm thresholds in force", err);
    } else {
        a->mem_limit = mem;
        a->disk_limit = a->data_dir ? disk : 0;
        alarm_log_limits(a);
    }
    alarm_remember(a);
}

struct server_alarm *server_alarm_new(struct net_loop *loop, const struct edad_conf *conf,
                                      struct session_server *sessions, char *err,
                                      size_t errlen)
{
    uint64_t total = server_alarm_total_memory();
    uint64_t mem_limit = 0, disk_limit = 0;
    if (alarm_limits(conf, total, &mem_limit, &disk_limit, err, errlen) != EDAD_OK)
        return NULL;
    struct server_alarm *a = xcalloc(1, sizeof(*a));
    a->conf = conf;
    a->sessions = sessions;
    a->total = total;
    a->mem_limit = mem_limit;
    a->data_dir = conf->data_dir;
    a->disk_limit = a->data_dir ? disk_limit : 0;
    alarm_remember(a);
    alarm_log_limits(a);
    a->timer = net_timer_new(loop, alarm_timer_cb, a);
    server_alarm_check(a);
    uint64_t every = conf->alarm_check_interval ? conf->alarm_check_interval : 1000;
    net_timer_start(a->timer, every, true);
    return a;
}

void server_alarm_free(struct server_alarm *a)
{
    if (!a)
        return;
    net_timer_free(a->timer);
    for (int i = 0; i < 4; i++)
        free(a->seen[i]);
    free(a);
}
