/*
 * fsio.c - the store's filesystem helpers: whole-buffer pread/pwrite that
 * survive EINTR and short transfers, mkdir -p, fsync of a directory, a
 * durably written small file, recursive removal and disk usage.  They keep
 * errno of the failing call for the caller; no store state here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

edad_status fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return EDAD_ERR_IO;
        }
        if (w == 0) {
            errno = ENOSPC;
            return EDAD_ERR_IO;
        }
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return EDAD_OK;
}

edad_status fs_pread_full(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    uint8_t *b = p;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, b + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return EDAD_ERR_IO;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return EDAD_OK;
}

edad_status fs_mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    edad_status rc = EDAD_OK;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0750) < 0 && errno != EEXIST) {
                rc = EDAD_ERR_IO;
                break;
            }
            *s = c;
            if (!c)
                break;
        }
    }
    if (rc == EDAD_OK) {
        struct stat sb;
        if (stat(path, &sb) < 0)
            rc = EDAD_ERR_IO;
        else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            rc = EDAD_ERR_IO;
        }
    }
    int e = errno;
    free(p);
    errno = e;
    return rc;
}

edad_status fs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return EDAD_ERR_IO;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? EDAD_ERR_IO : EDAD_OK;
}

edad_status fs_write_file_sync(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return EDAD_ERR_IO;
    edad_status rc = fs_pwrite_all(fd, p, n, 0);
    if (rc == EDAD_OK && fdatasync(fd) < 0)
        rc = EDAD_ERR_IO;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

char *fs_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = xmalloc(la + lb + 2);
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

edad_status fs_rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return errno == ENOENT ? EDAD_OK : EDAD_ERR_IO;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? EDAD_ERR_IO : EDAD_OK;
    DIR *d = opendir(path);
    if (!d)
        return EDAD_ERR_IO;
    edad_status rc = EDAD_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *sub = fs_join(path, de->d_name);
        if (fs_rm_rf(sub) != EDAD_OK)
            rc = EDAD_ERR_IO;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) < 0 && errno != ENOENT)
        rc = EDAD_ERR_IO;
    return rc;
}
