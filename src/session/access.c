/*
 * access.c (session) - the connection's side of issue 7's access control:
 * the login check against the broker's user store (auth_login) and the
 * one helper that turns a failed permission check (edad/access.h) into a
 * channel error.  Which operation needs which permission is decided by
 * the handlers and access.h, not here.
 */
#include <string.h>

#include "edad/access.h"
#include "session_priv.h"

enum auth_result auth_login(const struct session_server *srv, struct edad_bytes user,
                            const struct edad_bytes *pass, bool peer_is_loopback)
{
    const struct edad_conf *conf = srv->conf;
    if (!srv->broker || !access_enabled(srv->broker)) {
        /* no user store: the configured user is the only one */
        if (pass)
            return auth_check(conf, user, *pass, peer_is_loopback);
        return auth_check_external(conf, user, peer_is_loopback);
    }
    bool ok = pass ? access_authenticate(srv->broker, user, *pass)
                   : access_user_exists(srv->broker, user);
    if (!ok)
        return AUTH_BAD_CREDENTIALS;
    if (!peer_is_loopback) {
        /* loopback_users holds C strings: compare a NUL-terminated copy */
        char name[256];
        if (user.len >= sizeof(name) || memchr(user.ptr, 0, user.len))
            return AUTH_BAD_CREDENTIALS;
        memcpy(name, user.ptr, user.len);
        name[user.len] = '\0';
        if (conf_is_loopback_user(conf, name))
            return AUTH_LOOPBACK_ONLY;
    }
    return AUTH_OK;
}

bool session_permitted(struct channel *ch, uint32_t method_id, edad_status st,
                       const struct broker_err *err)
{
    if (st == EDAD_OK)
        return true;
    session_fail_broker(ch, method_id, err);
    return false;
}
