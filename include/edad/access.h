/*
 * access.h - users, password hashes, tags, per-vhost permissions and
 * vhost limits, with RabbitMQ's internal auth backend's semantics, and the
 * permission checks the AMQP handlers and the management API share.  Part
 * of the broker layer: the store lives in struct broker and changes are
 * reported through the definitions_changed hook (vh == NULL).  Not here:
 * SASL parsing (session), files (server), HTTP (mgmt).
 */
#ifndef EDAD_ACCESS_H
#define EDAD_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "edad/broker.h"
#include "edad/core.h"

enum access_perm {
    ACCESS_CONFIGURE,
    ACCESS_WRITE,
    ACCESS_READ,
};

enum access_kind {
    ACCESS_EXCHANGE,
    ACCESS_QUEUE,
};

/* RabbitMQ's password hashing modules. */
enum access_hash {
    ACCESS_HASH_SHA256,         /* rabbit_password_hashing_sha256 (what edad writes) */
    ACCESS_HASH_SHA512,         /* rabbit_password_hashing_sha512 */
    ACCESS_HASH_MD5,            /* rabbit_password_hashing_md5 (import only) */
};

/* Room for a base64 password hash (4-byte salt + SHA-512), NUL included. */
#define ACCESS_HASH_B64_MAX 96

/*
 * The user store is "enabled" once a user was added or users were
 * imported.  Before that (unit tests, a broker nobody seeded) every check
 * allows and the session falls back to its configured user.
 */
bool access_enabled(const struct broker *b);
/* Switch the store on without adding a user (an imported, empty "users"). */
void access_enable(struct broker *b);

/* ---- password hashes ------------------------------------------------------------- */

/* "rabbit_password_hashing_sha256" etc.; never NULL. */
const char *access_hash_name(enum access_hash h);
/* Parse a module name; false when unknown. */
bool access_hash_parse(const char *name, enum access_hash *out);
/*
 * RabbitMQ's scheme: base64(salt ++ H(salt ++ password)) with a 4-byte
 * random salt (getrandom).  out gets ACCESS_HASH_B64_MAX bytes at most.
 */
void access_password_hash(enum access_hash h, struct edad_bytes password, char *out,
                          size_t outlen);
/* Does password match hash_b64?  False for "" (no password) or bad base64. */
bool access_password_verify(enum access_hash h, const char *hash_b64,
                            struct edad_bytes password);

/* ---- users -------------------------------------------------------------------------- */

/*
 * What access_user_put sets.  password (clear text) wins over
 * password_hash; with neither, an existing user keeps its password and a
 * new one gets none (""; it cannot log in with PLAIN/AMQPLAIN).
 * hashing_algorithm applies to password_hash (NULL: sha256).  tags is a
 * comma-separated list ("" = none); NULL keeps an existing user's tags.
 */
struct access_user_spec {
    const char *password;
    const char *password_hash;
    const char *hashing_algorithm;
    const char *tags;
};

/*
 * Create or update a user (RabbitMQ's PUT /api/users/{name}).  Errors
 * (err->code 400 in the text's terms, EDAD_ERR_INVALID): empty name,
 * unknown hashing_algorithm, password_hash not base64.
 */
edad_status access_user_put(struct broker *b, const char *name,
                            const struct access_user_spec *spec, struct broker_err *err);
/* Delete a user and its permissions.  EDAD_ERR_NOT_FOUND when absent. */
edad_status access_user_delete(struct broker *b, const char *name);

struct access_user_info {
    const char *name;
    const char *password_hash;          /* base64; "" = no password */
    const char *hashing_algorithm;      /* access_hash_name() */
    const char *const *tags;            /* ntags entries */
    size_t ntags;
};
/* Fill *out (pointers valid until the user changes); false when absent. */
bool access_user_get(struct broker *b, const char *name, struct access_user_info *out);
/* Every user in creation order; stop when fn returns false.  fn must not
 * add or delete users. */
void access_foreach_user(struct broker *b,
                         bool (*fn)(void *ctx, const struct access_user_info *u), void *ctx);
bool access_user_has_tag(struct broker *b, const char *name, const char *tag);
/* The user exists, has a password and pass matches it. */
bool access_authenticate(struct broker *b, struct edad_bytes user, struct edad_bytes pass);
/* Does the user exist (for SASL EXTERNAL, which has no password)? */
bool access_user_exists(struct broker *b, struct edad_bytes user);

/* ---- permissions ----------------------------------------------------------------------- */

struct access_perm_info {
    const char *user;
    const char *vhost;
    const char *configure, *write, *read;   /* regexes; "" matches nothing */
};

/*
 * Set (replace) user's permissions in vhost.  The regexes are POSIX
 * extended ones matched unanchored, as RabbitMQ's re:run (so "^...$" for
 * an exact name); "" matches nothing.  Errors: 404 user or vhost absent
 * (EDAD_ERR_NOT_FOUND), 400 a regex does not compile (EDAD_ERR_INVALID).
 */
edad_status access_permission_set(struct broker *b, const char *user, const char *vhost,
                                  const char *configure, const char *write, const char *read,
                                  struct broker_err *err);
/* EDAD_ERR_NOT_FOUND when there were none. */
edad_status access_permission_clear(struct broker *b, const char *user, const char *vhost);
bool access_permission_get(struct broker *b, const char *user, const char *vhost,
                           struct access_perm_info *out);
void access_foreach_permission(struct broker *b,
                               bool (*fn)(void *ctx, const struct access_perm_info *p),
                               void *ctx);

/* Has user any permissions in vhost (connection.open's check)? */
bool access_vhost_allowed(struct broker *b, const char *user, const char *vhost);

/*
 * Bumped by every change to users, permissions, limits or whether access
 * control is on: an access_check result may be reused while it stays the
 * same (a channel's publish permission, handle_basic.c).
 */
uint64_t access_generation(const struct broker *b);

/*
 * The one resource check.  name is the exchange or queue name ("" for an
 * exchange means the default exchange, checked as "amq.default" as
 * RabbitMQ does).  EDAD_OK, or 403 ACCESS_REFUSED with RabbitMQ's text
 * "access to exchange 'x' in vhost 'v' refused for user 'u'".
 */
edad_status access_check(struct broker *b, const char *user, const char *vhost,
                         enum access_perm perm, enum access_kind kind, struct edad_bytes name,
                         struct broker_err *err);

/* ---- the checks of whole operations (AMQP handlers, management API) ---------------------- */

/*
 * connection.open of vhost by user while the vhost has conns connections
 * (this one not counted), in RabbitMQ's order: 530 "vhost X not found",
 * 530 "access to vhost 'X' refused for user 'Y': connection limit (N) is
 * reached", 530 "access to vhost 'X' refused for user 'Y'".
 */
edad_status access_check_open(struct broker *b, const char *user, struct edad_bytes vhost,
                              uint64_t conns, struct broker_err *err);
/*
 * exchange.declare (not passive): configure on the exchange; when it does
 * not exist yet and has an alternate-exchange argument, read on it and
 * write on the alternate.  The default exchange and "amq." names are left
 * to exchange_declare's own 403.
 */
edad_status access_check_exchange_declare(struct vhost *vh, const char *user,
                                          const struct exchange_declare *d,
                                          struct broker_err *err);
/*
 * queue.declare (not passive) of name (the generated one for a
 * server-named queue): configure on it; when it does not exist yet the
 * vhost's max-queues limit (406 "cannot declare queue 'q': queue limit in
 * vhost 'v' (N) is reached") and, with x-dead-letter-exchange, read on the
 * queue and write on the dead-letter exchange.
 */
edad_status access_check_queue_declare(struct vhost *vh, const char *user, struct edad_bytes name,
                                       const struct broker_table *args, struct broker_err *err);
/*
 * queue.bind / unbind (dest_is_queue) and exchange.bind / unbind: write
 * on the destination, then read on the source.
 */
edad_status access_check_bind(struct vhost *vh, const char *user, bool dest_is_queue,
                              struct edad_bytes destination, struct edad_bytes source,
                              struct broker_err *err);

/* ---- vhosts and their limits ------------------------------------------------------------ */

/* Create a vhost (broker_vhost_add) and record the change; the vhost. */
struct vhost *access_vhost_add(struct broker *b, const char *name);
/*
 * Delete a vhost with its queues and exchanges, permissions and limits.
 * Connections to it must be closed first (the session's job).
 * EDAD_ERR_NOT_FOUND when absent.
 */
edad_status access_vhost_delete(struct broker *b, const char *name);

/* RabbitMQ's vhost limits; a negative value means no limit. */
struct access_limits {
    int64_t max_connections;
    int64_t max_queues;
};
/* Set (replace) the limits of vhost; {-1, -1} clears them.  404 when absent. */
edad_status access_vhost_limits_set(struct broker *b, const char *vhost,
                                    const struct access_limits *l);
/* The limits of vhost ({-1, -1} when none set). */
void access_vhost_limits_get(struct broker *b, const char *vhost, struct access_limits *out);

/*
 * First start: create vhost, user with password, tag administrator and
 * permissions ".*" ".*" ".*" on vhost, as RabbitMQ seeds an empty node.
 */
void access_seed_default(struct broker *b, const char *user, const char *password,
                         const char *vhost);

#endif
