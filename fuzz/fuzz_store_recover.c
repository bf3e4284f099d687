/*
 * fuzz_store_recover.c - libFuzzer target for store recovery: the input
 * becomes a queue's segment file (and, when the first byte asks for it, an
 * ack file cut from its tail) in a temporary data directory, which is then
 * opened read-only (edad-check-store's path) and read-write (edad's start),
 * and every record read back is checked against a second read by location.
 * Checks memory safety and that no record with a bad checksum comes back.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edad/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char datadir[256];
static char qdir[512];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

static void cleanup(void)
{
    nftw(datadir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void init_once(void)
{
    if (datadir[0])
        return;
    log_set_level(EDAD_LOG_NONE);
    const char *base = getenv("TMPDIR");
    snprintf(datadir, sizeof(datadir), "%s/edad-fuzz-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(datadir))
        abort();
    atexit(cleanup);
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = datadir;
    o.sync = false;
    struct store *st;
    struct qstore *qs;
    if (store_open(&o, &st, NULL, 0) != EDAD_OK ||
        store_queue_open(st, bytes_from_cstr("/"), bytes_from_cstr("fuzz"), &qs) != EDAD_OK)
        abort();
    snprintf(qdir, sizeof(qdir), "%s", qstore_dir(qs));
    store_close(st);
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", qdir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(p, 1, n, f) != n)
        abort();
    fclose(f);
}

/* Remove segment and ack files left by the previous input. */
static void clean_queue_dir(void)
{
    DIR *d = opendir(qdir);
    struct dirent *de;
    if (!d)
        abort();
    while ((de = readdir(d))) {
        if (!strncmp(de->d_name, "msgs.", 5) || !strncmp(de->d_name, "acks.", 5)) {
            char path[600];
            snprintf(path, sizeof(path), "%s/%s", qdir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void read_back(bool read_only)
{
    struct store_opts o;
    store_opts_init(&o);
    o.data_dir = datadir;
    o.sync = false;
    o.read_only = read_only;
    struct store *st;
    if (store_open(&o, &st, NULL, 0) != EDAD_OK)
        abort();        /* damage must never stop the store from opening */
    struct qstore *qs = store_queue_find(st, bytes_from_cstr("/"), bytes_from_cstr("fuzz"));
    if (!qs)
        abort();
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r, again;
    size_t n = 0;
    while (qstore_iter_next(it, &r) == EDAD_OK) {
        uint64_t seq = r.seq;
        size_t blen = r.body.len, mlen = r.meta.len;
        if (qstore_read_at(qs, r.loc, &again) != EDAD_OK || again.seq != seq ||
            again.body.len != blen || again.meta.len != mlen)
            abort();    /* the two readers disagree */
        n++;
    }
    qstore_iter_free(it);
    struct qstore_stats s;
    qstore_get_stats(qs, &s);
    if (read_only && s.messages != n)
        abort();        /* counted live records == records the reader returns */
    store_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    clean_queue_dir();
    if (size < 1)
        return 0;
    size_t nack = (size_t)(data[0] >> 1) * 8;
    const uint8_t *seg = data + 1;
    size_t nseg = size - 1;
    if ((data[0] & 1) && nack <= nseg) {
        put_file("acks.0000000001", seg + nseg - nack, nack);
        nseg -= nack;
    }
    put_file("msgs.0000000001", seg, nseg);
    read_back(true);
    read_back(false);
    return 0;
}
