/*
 * definitions.c - data_dir/definitions.json: the durable exchanges, queues
 * and bindings (whatever JSON the caller builds) written atomically (temp
 * file, fdatasync, rename, fsync of the directory) and read back with
 * jansson.  Not here: what the JSON contains (the broker's business).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

edad_status store_definitions_write(struct store *st, const struct json_t *defs)
{
    if (st->o.read_only)
        return EDAD_ERR_STATE;
    char *text = json_dumps(defs, JSON_INDENT(2));
    if (!text)
        return EDAD_ERR_INVALID;
    char *tmp = fs_join(st->dir, "definitions.json.tmp");
    char *path = fs_join(st->dir, "definitions.json");
    size_t len = strlen(text);
    text[len] = '\n';           /* the NUL becomes the final newline */
    edad_status rc = fs_write_file_sync(tmp, text, len + 1);
    if (rc == EDAD_OK && rename(tmp, path) < 0)
        rc = EDAD_ERR_IO;
    if (rc == EDAD_OK)
        rc = fs_fsync_dir(st->dir);
    if (rc != EDAD_OK) {
        int e = errno;
        store_set_errno(st, e);
        log_error("store: writing %s failed: %s", path, strerror(e));
        unlink(tmp);
    }
    free(text);
    free(tmp);
    free(path);
    return rc;
}

edad_status store_definitions_read(struct store *st, struct json_t **out, char *err,
                                   size_t errlen)
{
    *out = NULL;
    char *path = fs_join(st->dir, "definitions.json");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    edad_status rc = EDAD_OK;
    if (fd < 0) {
        rc = errno == ENOENT ? EDAD_ERR_NOT_FOUND : EDAD_ERR_IO;
        store_set_errno(st, errno);
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    json_error_t je;
    json_t *j = json_loadfd(fd, 0, &je);
    close(fd);
    if (!j) {
        if (err)
            snprintf(err, errlen, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        rc = EDAD_ERR_MALFORMED;
    }
    *out = j;
    free(path);
    return rc;
}
