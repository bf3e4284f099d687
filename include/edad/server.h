/*
 * server.h - the daemon's wiring: one event loop, the configured
 * listeners, the session server, signal handling (SIGTERM/SIGINT graceful
 * stop, SIGHUP configuration reload and log reopen), service notifications
 * and the shutdown order.  Only main.c uses it;
 * it holds no protocol logic.
 */
#ifndef EDAD_SERVER_H
#define EDAD_SERVER_H

#include "edad/conf.h"

struct edad_server;

/* How long a graceful stop waits for clients' close-ok / flushes. */
#define SERVER_SHUTDOWN_GRACE_MS 2000
/* Bound on a whole graceful stop (clients, then the store's pending syncs):
   past it edad exits at once with SERVER_EXIT_FORCED.  Below the unit's
   TimeoutStopSec, so systemd never needs SIGKILL. */
#define SERVER_STOP_FORCE_S 20
#define SERVER_EXIT_FORCED 1

/*
 * Create the loop and bind every listener of conf (borrowed; must outlive
 * the server).  NULL on failure with the reason in err (e.g.
 * "127.0.0.1:5672: Address already in use").
 */
struct edad_server *server_new(const struct edad_conf *conf, char *err, size_t errlen);
/*
 * Check what only the daemon can check in conf: the TLS options (the
 * certificate, key and CA files load, versions are 1.2/1.3, TLS is built
 * in) and auth_mechanisms.  EDAD_ERR_INVALID with the reason in err (a
 * configuration error: exit 78); server_new runs it too.  Opens no socket.
 */
edad_status server_conf_check(const struct edad_conf *conf, char *err, size_t errlen);
/* Run until SIGTERM/SIGINT and a graceful stop; EDAD_OK on a clean stop. */
edad_status server_run(struct edad_server *s);
void server_free(struct edad_server *s);

/*
 * SIGHUP reload: fn re-reads the configuration and applies its reloadable
 * options to the conf the server was created with (main.c owns it), or
 * returns an error (reason in err) and leaves it unchanged.  The server then
 * reopens the log with the (new) levels and file.  Without fn, SIGHUP only
 * reopens the log.
 */
typedef edad_status (*server_reload_fn)(void *ctx, char *err, size_t errlen);
void server_set_reload(struct edad_server *s, server_reload_fn fn, void *ctx);

/*
 * Point logging at conf->log_file (append) or stderr, with conf's levels;
 * called at start and on SIGHUP.  EDAD_ERR_IO when the file can't be opened
 * (logging then stays on stderr).
 */
edad_status server_log_open(const struct edad_conf *conf, char *err, size_t errlen);
/* Close the log file, if any (logging returns to stderr). */
void server_log_close(void);

#endif
