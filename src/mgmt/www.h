/*
 * www.h - the dashboard's static files (src/mgmt/www/), compiled into the
 * binary by tools/embed_www.py as src/mgmt/www.gen.c, and their lookup by
 * URL path.  Read-only data: no I/O, no HTTP here (http.c serves them).
 */
#ifndef EDAD_MGMT_WWW_H
#define EDAD_MGMT_WWW_H

#include <stddef.h>
#include <stdint.h>

struct mgmt_asset {
    const char *path;            /* URL path, "/index.html" */
    const char *content_type;    /* "text/html; charset=utf-8" */
    const uint8_t *data;
    size_t len;
};

/* The generated table, sorted by path (www.gen.c). */
extern const struct mgmt_asset mgmt_www_assets[];
extern const size_t mgmt_www_nassets;

/*
 * The asset served at URL path (query excluded), or NULL.  "/" and "" give
 * index.html; "/static/x" is an alias of "/x" (RabbitMQ-style asset URLs).
 * NULL, paths outside the table, with "..", or not starting with '/' give
 * NULL.
 * The result is static data, valid for the life of the process.
 */
const struct mgmt_asset *mgmt_asset_find(const char *path);

#endif
