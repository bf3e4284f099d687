/*
 * service.h - edad as a service under a service manager: the sd_notify
 * protocol (READY=1, STATUS=, STOPPING=1 to $NOTIFY_SOCKET) and the
 * process's open-file limit.  Wiring only (main.c and server.c use it);
 * without $NOTIFY_SOCKET every notification is a silent no-op.
 */
#ifndef EDAD_SERVICE_H
#define EDAD_SERVICE_H

#include "edad/core.h"

/*
 * Send one sd_notify message (newline-separated VAR=value assignments,
 * formatted like printf) to the socket named by $NOTIFY_SOCKET: through
 * libsystemd's sd_notify when built with it, else through edad's own
 * implementation of the same datagram protocol.  Returns true when it was
 * sent, false when $NOTIFY_SOCKET is unset or sending failed (logged at
 * debug level; a failed notification never stops edad).
 */
bool service_notify(const char *fmt, ...) EDAD_PRINTF(1, 2);

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit (so 10,000 connections fit
 * under a default soft limit of 1024) and log the result at info level.
 * Returns the soft limit in force afterwards.
 */
uint64_t service_raise_nofile_limit(void);

#endif
