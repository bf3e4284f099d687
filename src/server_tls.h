/*
 * server_tls.h - the daemon's TLS wiring: checks the TLS and SASL
 * mechanism options at start (files loadable, versions 1.2/1.3 only, known
 * mechanisms) and builds the one TLS context every listeners.ssl listener
 * shares.  The TLS itself is src/net/tls.c; private to server.c.
 */
#ifndef EDAD_SERVER_TLS_H
#define EDAD_SERVER_TLS_H

#include "edad/conf.h"
#include "edad/net.h"

/*
 * The TLS context of conf's listeners.ssl listeners in *out (NULL when there
 * is none).  EDAD_ERR_INVALID with the reason in err when an option is
 * wrong or a file can't be loaded ("ssl_options.certfile /x.pem: No such
 * file or directory"), or when edad was built without TLS support.
 */
edad_status server_tls_open(const struct edad_conf *conf, struct net_tls **out, char *err,
                            size_t errlen);

#endif
