/*
 * service.c - edad under a service manager: sd_notify messages to
 * $NOTIFY_SOCKET (libsystemd when configured with it, else a small
 * implementation of the same datagram protocol, so tests and non-systemd
 * supervisors see identical behaviour) and the open-file limit.  No event
 * loop, no configuration: callers decide when to notify.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
/* EDAD_OWN_SD_NOTIFY: use edad's implementation even with libsystemd (tests) */
#if defined(HAVE_SYSTEMD) && !defined(EDAD_OWN_SD_NOTIFY)
#define SERVICE_LIBSYSTEMD 1
#include <systemd/sd-daemon.h>
#endif

#include "edad/service.h"

#ifndef SERVICE_LIBSYSTEMD
/* One datagram to $NOTIFY_SOCKET (a path, or '@' for an abstract name). */
static int service_send(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    if (!path || !*path)
        return 0;
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
        return -EINVAL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    ssize_t w = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    int rc = w < 0 ? -errno : 1;
    close(fd);
    return rc;
}
#endif

bool service_notify(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
#ifdef SERVICE_LIBSYSTEMD
    int rc = sd_notify(0, msg);
#else
    int rc = service_send(msg);
#endif
    if (rc < 0)
        log_debug("sd_notify: %s", strerror(-rc));
    return rc > 0;
}

uint64_t service_raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rlim_t old = rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            /* an "unlimited" hard limit can exceed fs.nr_open */
            rl.rlim_cur = rl.rlim_max < 1048576 ? rl.rlim_max : 1048576;
            if (rl.rlim_cur < old || setrlimit(RLIMIT_NOFILE, &rl) != 0)
                rl.rlim_cur = old;
        }
    }
    if (rl.rlim_cur != old)
        log_info("open file limit raised from %llu to %llu", (unsigned long long)old,
                 (unsigned long long)rl.rlim_cur);
    else
        log_info("open file limit: %llu", (unsigned long long)rl.rlim_cur);
    return (uint64_t)rl.rlim_cur;
}
