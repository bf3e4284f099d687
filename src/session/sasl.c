/*
 * sasl.c - the SASL responses edad offers (PLAIN, AMQPLAIN, EXTERNAL with
 * the TLS client certificate's subject as the user, as RabbitMQ's
 * rabbitmq_auth_mechanism_ssl) and the credentials checks, auth_check()
 * and auth_check_external() against the configured default_user, which
 * auth_login() (access.c) falls back to when there is no user store.
 * No I/O and no replies here: handle_connection.c decides what to send.
 */
#include <string.h>

#include "session_priv.h"

edad_status sasl_plain_parse(struct edad_bytes response, struct edad_bytes *user,
                             struct edad_bytes *pass)
{
    /* [authzid] NUL authcid NUL passwd (RFC 4616); exactly two NULs */
    const uint8_t *p = response.ptr;
    const uint8_t *end = p + response.len;
    if (response.len == 0)
        return EDAD_ERR_MALFORMED;
    const uint8_t *nul1 = memchr(p, 0, response.len);
    if (!nul1)
        return EDAD_ERR_MALFORMED;
    const uint8_t *nul2 = memchr(nul1 + 1, 0, (size_t)(end - (nul1 + 1)));
    if (!nul2 || memchr(nul2 + 1, 0, (size_t)(end - (nul2 + 1))))
        return EDAD_ERR_MALFORMED;
    user->ptr = nul1 + 1;
    user->len = (size_t)(nul2 - (nul1 + 1));
    pass->ptr = nul2 + 1;
    pass->len = (size_t)(end - (nul2 + 1));
    return EDAD_OK;
}

edad_status sasl_amqplain_parse(struct edad_bytes response, struct arena *a,
                                struct edad_bytes *user, struct edad_bytes *pass)
{
    struct amqp_table t;
    if (amqp_table_decode(response, a, &t) != EDAD_OK)
        return EDAD_ERR_MALFORMED;
    const struct amqp_field_value *login = amqp_table_get(&t, "LOGIN");
    const struct amqp_field_value *pw = amqp_table_get(&t, "PASSWORD");
    if (!login || !pw || login->kind != AMQP_FIELD_LONGSTR || pw->kind != AMQP_FIELD_LONGSTR)
        return EDAD_ERR_MALFORMED;
    *user = login->v.str;
    *pass = pw->v.str;
    return EDAD_OK;
}

/* Compare without an early exit so the time does not leak the match length. */
static bool secret_eq(struct edad_bytes a, const char *b)
{
    size_t bl = strlen(b);
    unsigned diff = (unsigned)(a.len ^ bl);
    for (size_t i = 0; i < a.len; i++)
        diff |= (unsigned)(a.ptr[i] ^ (uint8_t)(i < bl ? b[i] : 0));
    return diff == 0;
}

enum auth_result auth_check(const struct edad_conf *conf, struct edad_bytes user,
                            struct edad_bytes pass, bool peer_is_loopback)
{
    if (!conf->default_user || !conf->default_pass)
        return AUTH_BAD_CREDENTIALS;
    bool user_ok = bytes_eq_cstr(user, conf->default_user);
    bool pass_ok = secret_eq(pass, conf->default_pass);
    if (!user_ok || !pass_ok)
        return AUTH_BAD_CREDENTIALS;
    if (!peer_is_loopback && conf_is_loopback_user(conf, conf->default_user))
        return AUTH_LOOPBACK_ONLY;
    return AUTH_OK;
}

/* ---- EXTERNAL (TLS client certificates) --------------------------------------- */

bool session_mechanism_supported(const char *name)
{
    return strcmp(name, "PLAIN") == 0 || strcmp(name, "AMQPLAIN") == 0 ||
           strcmp(name, "EXTERNAL") == 0;
}

bool sasl_mechanism_offered(const struct connection *c, struct edad_bytes mechanism)
{
    char *const *m = c->srv->conf->auth_mechanisms.values;
    if (!m || !m[0])   /* a conf not from conf_init (unit tests): the default */
        return bytes_eq_cstr(mechanism, "PLAIN") || bytes_eq_cstr(mechanism, "AMQPLAIN");
    for (size_t i = 0; m[i]; i++) {
        if (!bytes_eq_cstr(mechanism, m[i]))
            continue;
        return strcmp(m[i], "EXTERNAL") != 0 || net_transport_is_tls(c->t);
    }
    return false;
}

const char *sasl_external_user(struct connection *c, char *buf, size_t len)
{
    const struct edad_conf *conf = c->srv->conf;
    bool cn = conf->ssl_cert_login_from == CONF_CERT_LOGIN_CN;
    switch (net_transport_peer_cert_name(c->t, cn, buf, len)) {
    case NET_PEER_CERT_OK:
        break;
    case NET_PEER_CERT_NOT_TLS:
        return "not TLS connection";
    case NET_PEER_CERT_NONE:
        return "connection peer presented no TLS (x.509) certificate";
    case NET_PEER_CERT_NO_NAME:
        return "no name found";
    }
    /* a distinguished name only means something when it was verified */
    if (!cn && conf->ssl_verify != CONF_SSL_VERIFY_PEER)
        return "TLS configuration is unsafe";
    return NULL;
}

enum auth_result auth_check_external(const struct edad_conf *conf, struct edad_bytes user,
                                     bool peer_is_loopback)
{
    if (!conf->default_user || !bytes_eq_cstr(user, conf->default_user))
        return AUTH_BAD_CREDENTIALS;
    if (!peer_is_loopback && conf_is_loopback_user(conf, conf->default_user))
        return AUTH_LOOPBACK_ONLY;
    return AUTH_OK;
}
