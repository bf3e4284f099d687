/*
 * server_access.c - start-up wiring of users, vhosts and permissions:
 * first-start seeding (RabbitMQ's default user), load_definitions, and
 * the offline definitions export.  What users and permissions mean is
 * edad/access.h's; the file format is the broker's definitions.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "edad/access.h"
#include "edad/store.h"
#include "server_access.h"

bool server_access_defs_have_users(const struct json_t *defs)
{
    return defs && json_is_array(json_object_get(defs, "users"));
}

edad_status server_access_start(struct broker *b, const struct edad_conf *conf, bool fresh,
                                char *err, size_t errlen)
{
    const char *vhost = conf->default_vhost ? conf->default_vhost : "/";
    if (conf->load_definitions) {
        struct import_report r = {0};
        edad_status st = broker_definitions_load_file(b, conf->load_definitions, &r, err,
                                                      errlen);
        if (st != EDAD_OK)
            return st;
    }
    /* RabbitMQ: a node importing definitions at boot gets no default user */
    if (fresh && !conf->load_definitions && conf->default_user && conf->default_pass) {
        access_seed_default(b, conf->default_user, conf->default_pass, vhost);
        log_info("created default user '%s' with full permissions on vhost '%s'",
                 conf->default_user, vhost);
    }
    return EDAD_OK;
}

edad_status server_export_definitions(const struct edad_conf *conf, const char *path, char *err,
                                      size_t errlen)
{
    if (!conf->data_dir) {
        snprintf(err, errlen, "no data_dir configured: nothing to export");
        return EDAD_ERR_INVALID;
    }
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = conf->data_dir;
    o.read_only = true;
    struct store *st = NULL;
    struct broker *b = NULL;
    json_t *defs = NULL, *out = NULL;
    char why[512];
    edad_status rc = store_open(&o, &st, why, sizeof(why));
    if (rc != EDAD_OK) {
        snprintf(err, errlen, "cannot open data_dir %s: %s", conf->data_dir, why);
        goto done;
    }
    rc = store_definitions_read(st, &defs, why, sizeof(why));
    if (rc == EDAD_ERR_NOT_FOUND) {
        snprintf(err, errlen, "data_dir %s holds no definitions (edad has not run on it)",
                 conf->data_dir);
        goto done;
    }
    if (rc != EDAD_OK) {
        snprintf(err, errlen, "%s", why);
        goto done;
    }
    /* through the broker, so the output is exactly what edad would export */
    b = broker_new(NULL);
    struct import_report r;
    broker_definitions_import(b, defs, &r);
    out = broker_definitions_export(b);
    int flags = JSON_INDENT(2) | JSON_SORT_KEYS;
    int wr = strcmp(path, "-") == 0 ? json_dumpf(out, stdout, flags)
                                    : json_dump_file(out, path, flags);
    if (wr != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        rc = EDAD_ERR_IO;
        goto done;
    }
    if (strcmp(path, "-") == 0)
        fputc('\n', stdout);
    rc = EDAD_OK;
done:
    json_decref(out);
    json_decref(defs);
    broker_free(b);
    store_close(st);
    return rc;
}
