/*
 * server.h - the daemon's wiring: one event loop, the configured
 * listeners, the session server, signal handling (SIGTERM/SIGINT graceful
 * stop, SIGHUP log reopen) and the shutdown order.  Only main.c uses it;
 * it holds no protocol logic.
 */
#ifndef EDAD_SERVER_H
#define EDAD_SERVER_H

#include "edad/conf.h"

struct edad_server;

/* How long a graceful stop waits for clients' close-ok / flushes. */
#define SERVER_SHUTDOWN_GRACE_MS 2000

/*
 * Create the loop and bind every listener of conf (borrowed; must outlive
 * the server).  NULL on failure with the reason in err (e.g.
 * "127.0.0.1:5672: Address already in use").
 */
struct edad_server *server_new(const struct edad_conf *conf, char *err, size_t errlen);
/* Run until SIGTERM/SIGINT and a graceful stop; EDAD_OK on a clean stop. */
edad_status server_run(struct edad_server *s);
void server_free(struct edad_server *s);

/*
 * Point logging at conf->log_file (append) or stderr, with conf's levels;
 * called at start and on SIGHUP.  EDAD_ERR_IO when the file can't be opened
 * (logging then stays on stderr).
 */
edad_status server_log_open(const struct edad_conf *conf, char *err, size_t errlen);
/* Close the log file, if any (logging returns to stderr). */
void server_log_close(void);

#endif
