/*
 * server_tls.c - checks TLS and authentication-mechanism options and builds
 * the TLS context for the listeners.ssl listeners (see server_tls.h and
 * server_conf_check in server.h).  Wiring only: no TLS code of its own.
 */
#include <stdio.h>
#include <string.h>

#include "edad/server.h"
#include "edad/session.h"
#include "server_tls.h"

/* The mechanisms: known to the session layer; EXTERNAL wants TLS. */
static edad_status server_check_mechanisms(const struct edad_conf *conf, char *err,
                                           size_t errlen)
{
    const struct conf_strlist *m = &conf->auth_mechanisms;
    if (!m->values || !m->values[0]) {
        snprintf(err, errlen, "auth_mechanisms: the list is empty: no client could log in");
        return EDAD_ERR_INVALID;
    }
    for (size_t i = 0; m->values[i]; i++) {
        if (!session_mechanism_supported(m->values[i])) {
            snprintf(err, errlen, "auth_mechanisms.%s = %s: edad implements PLAIN, AMQPLAIN "
                     "and EXTERNAL", m->names[i], m->values[i]);
            return EDAD_ERR_INVALID;
        }
        if (strcmp(m->values[i], "EXTERNAL") == 0 && conf->n_ssl_listeners == 0)
            log_warning("auth_mechanisms.%s = EXTERNAL: offered on TLS connections only, and "
                        "no listeners.ssl listener is configured", m->names[i]);
        if (strcmp(m->values[i], "EXTERNAL") == 0 && conf->n_ssl_listeners &&
            conf->ssl_verify != CONF_SSL_VERIFY_PEER)
            log_warning("auth_mechanisms.%s = EXTERNAL needs ssl_options.verify = verify_peer: "
                        "without it no client certificate is requested and EXTERNAL logins "
                        "are refused", m->names[i]);
    }
    return EDAD_OK;
}

/* ssl_options.versions.<n>: which of TLS 1.2 / 1.3 (both when unset). */
static edad_status server_tls_versions(const struct edad_conf *conf, bool *tls12, bool *tls13,
                                       char *err, size_t errlen)
{
    const struct conf_strlist *v = &conf->ssl_versions;
    if (!v->values || !v->values[0]) {
        *tls12 = *tls13 = true;
        return EDAD_OK;
    }
    *tls12 = *tls13 = false;
    for (size_t i = 0; v->values[i]; i++) {
        const char *s = v->values[i];
        if (strcmp(s, "tlsv1.2") == 0) {
            *tls12 = true;
        } else if (strcmp(s, "tlsv1.3") == 0) {
            *tls13 = true;
        } else if (strcmp(s, "tlsv1.1") == 0 || strcmp(s, "tlsv1") == 0 ||
                   strcmp(s, "sslv3") == 0) {
            snprintf(err, errlen, "ssl_options.versions.%s = %s: edad accepts only TLS 1.2 and "
                     "1.3 (tlsv1.2, tlsv1.3)", v->names[i], s);
            return EDAD_ERR_INVALID;
        } else {
            snprintf(err, errlen, "ssl_options.versions.%s = %s: not a TLS version (tlsv1.2 or "
                     "tlsv1.3)", v->names[i], s);
            return EDAD_ERR_INVALID;
        }
    }
    return EDAD_OK;
}

edad_status server_tls_open(const struct edad_conf *conf, struct net_tls **out, char *err,
                            size_t errlen)
{
    char why[512];
    *out = NULL;
    edad_status st = server_check_mechanisms(conf, err, errlen);
    if (st != EDAD_OK || conf->n_ssl_listeners == 0)
        return st;
    if (!net_tls_available()) {
        snprintf(err, errlen, "listeners.ssl.%s: edad was built without TLS support "
                 "(configure found no OpenSSL / libevent_openssl)", conf->ssl_listeners[0].name);
        return EDAD_ERR_INVALID;
    }
    struct net_tls_opts o = {
        .cacertfile = conf->ssl_cacertfile,
        .certfile = conf->ssl_certfile,
        .keyfile = conf->ssl_keyfile,
        .verify_peer = conf->ssl_verify == CONF_SSL_VERIFY_PEER,
        .fail_if_no_peer_cert = conf->ssl_fail_if_no_peer_cert,
    };
    st = server_tls_versions(conf, &o.tls12, &o.tls13, err, errlen);
    if (st != EDAD_OK)
        return st;
    *out = net_tls_new(&o, why, sizeof(why));
    if (!*out) {
        snprintf(err, errlen, "TLS (listeners.ssl.%s): %s", conf->ssl_listeners[0].name, why);
        return EDAD_ERR_INVALID;
    }
    return EDAD_OK;
}

edad_status server_conf_check(const struct edad_conf *conf, char *err, size_t errlen)
{
    const char *io = conf->net_io_threads;
    if (io && strcmp(io, "auto") != 0 && strcmp(io, "0") != 0 && strcmp(io, "1") != 0) {
        snprintf(err, errlen, "net.io_threads must be 0, 1 or auto, not '%s'", io);
        return EDAD_ERR_INVALID;
    }
    struct net_tls *tls = NULL;
    edad_status st = server_tls_open(conf, &tls, err, errlen);
    net_tls_free(tls);
    return st;
}
