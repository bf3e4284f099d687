/*
 * www.c - mgmt_asset_find(): the URL path of a dashboard request to one of
 * the files embedded by tools/embed_www.py.  Lookup only: serving (headers,
 * methods) is http.c's, the files themselves are in src/mgmt/www/.
 */
#include <stdlib.h>
#include <string.h>

#include "www.h"

static int asset_cmp(const void *key, const void *elem)
{
    const struct mgmt_asset *a = elem;
    return strcmp(key, a->path);
}

const struct mgmt_asset *mgmt_asset_find(const char *path)
{
    if (!path)
        return NULL;
    if (*path == '\0' || strcmp(path, "/") == 0)
        path = "/index.html";
    if (path[0] != '/' || strstr(path, ".."))
        return NULL;
    if (strncmp(path, "/static/", 8) == 0)
        path += 7;
    return bsearch(path, mgmt_www_assets, mgmt_www_nassets, sizeof(mgmt_www_assets[0]),
                   asset_cmp);
}
