/*
 * server_access.h - issue 7's start-up wiring: seeding a new node's
 * default user and vhost, importing load_definitions, and the offline
 * `edad --export-definitions FILE`.  The user store itself is the
 * broker's (edad/access.h); private to the daemon (server.c, main.c).
 */
#ifndef EDAD_SERVER_ACCESS_H
#define EDAD_SERVER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "edad/broker.h"
#include "edad/conf.h"

/*
 * After the data dir's definitions were restored: import load_definitions
 * (if set; an unreadable or invalid file is an error, as in RabbitMQ),
 * then, on a fresh node (fresh: no stored definitions with users) without
 * load_definitions, create default_vhost and default_user with tag
 * administrator and permissions ".*" ".*" ".*" there.
 */
edad_status server_access_start(struct broker *b, const struct edad_conf *conf, bool fresh,
                                char *err, size_t errlen);

/*
 * True when stored definitions (data_dir/definitions.json, or NULL when
 * there is none) describe a node that already has a user store.
 */
bool server_access_defs_have_users(const struct json_t *defs);

/*
 * `edad --export-definitions FILE`: read the definitions of conf's data
 * dir without starting (a shared lock: fails while edad runs on it) and
 * write them in RabbitMQ's JSON format to path ("-" for standard output).
 * EDAD_OK, or an error with the reason in err.
 */
edad_status server_export_definitions(const struct edad_conf *conf, const char *path, char *err,
                                      size_t errlen);

#endif
