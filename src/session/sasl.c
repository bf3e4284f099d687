/*
 * sasl.c - the SASL responses edad offers (PLAIN, AMQPLAIN) and the one
 * credentials check, auth_check().  Today the only user is the configured
 * default_user; issue 7 replaces auth_check's body with a user store.
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
