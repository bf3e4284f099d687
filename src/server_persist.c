/*
 * server_persist.c - see server_persist.h: the daemon side of the broker's
 * persisted per-message state (message_meta_encode / message_restore in
 * src/broker/persist.c do the encoding), held messages of durable delayed
 * exchanges and dedup caches.  Runs in the loop thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edad/amqp.h"
#include "server_persist.h"

struct dcache;

struct server_persist {
    struct broker *b;
    struct store *st;
    uint8_t *buf;               /* meta scratch */
    size_t cap;
    uint64_t bad_meta;          /* records whose meta could not be decoded */
    uint64_t long_names;        /* delayed exchanges whose names are too long to store */
    char *ddir;                 /* data_dir/dedup */
    bool ddir_dirty;            /* a file was created or renamed: fsync the directory */
    struct dcache *dcaches;     /* open cache files */
    uint64_t dedup_errors;
};

static void dcache_free(struct server_persist *p, struct dcache *dc, bool unlink_file);

uint64_t server_persist_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct server_persist *server_persist_new(struct broker *b, struct store *st)
{
    struct server_persist *p = xcalloc(1, sizeof(*p));
    p->b = b;
    p->st = st;
    const char *dd = store_data_dir(st);
    p->ddir = xmalloc(strlen(dd) + 8);
    sprintf(p->ddir, "%s/dedup", dd);
    if (mkdir(p->ddir, 0750) != 0 && errno != EEXIST)
        log_error("dedup: cannot create %s: %s", p->ddir, strerror(errno));
    return p;
}

void server_persist_free(struct server_persist *p)
{
    if (!p)
        return;
    server_persist_maintain(p);     /* a clean stop leaves the dedup files synced */
    while (p->dcaches)
        dcache_free(p, p->dcaches, false);
    free(p->ddir);
    free(p->buf);
    free(p);
}

static struct edad_bytes persist_encode(struct server_persist *p, const struct message *m,
                                        uint64_t due_wall_ms)
{
    uint64_t now = server_persist_wall_ms();
    size_t n = message_meta_encode(p->b, m, now, due_wall_ms, p->buf, p->cap);
    if (n > p->cap) {
        p->cap = n < 256 ? 256 : n;
        p->buf = xrealloc(p->buf, p->cap);
        n = message_meta_encode(p->b, m, now, due_wall_ms, p->buf, p->cap);
    }
    return (struct edad_bytes){p->buf, n};
}

struct edad_bytes server_persist_meta(struct server_persist *p, const struct message *m)
{
    return persist_encode(p, m, 0);
}

struct message *server_persist_message(struct server_persist *p, const struct store_rec *r,
                                       const struct queue *q, const struct message_info *info)
{
    struct message_restore mr = {
        .exchange = r->exchange,
        .routing_key = r->routing_key,
        .props = r->props,
        .body = r->body,
        .meta = r->meta,
        .info = *info,
        .queue = q,
        .wall_now_ms = server_persist_wall_ms(),
    };
    bool bad = false;
    struct message *m = message_restore(p->b, &mr, &bad);
    if (bad && p->bad_meta++ % 1000 == 0)
        log_error("store: a record's meta block is unreadable (%" PRIu64 " so far): its "
                  "x-death history and TTL start are lost", p->bad_meta);
    return m;
}

/* ---- held messages of durable x-delayed-message exchanges ------------------------------ */

/*
 * One internal store queue per exchange: vhost, and "\n" + the exchange
 * name as the queue name.  Queue names never contain a newline (they are
 * stripped at declare, as RabbitMQ does), so it cannot clash with a queue.
 */
#define DELAYED_MARK '\n'

/* store_msg.flags as server.c writes them for queues: bit 8 + the priority. */
#define PERSIST_F_PRIORITY 0x100u

static edad_status persist_delayed_hold(void *ctx, const char *vhost, const char *exchange,
                                        void **handle, const struct message *m, uint64_t seq,
                                        uint64_t delay_ms, uint64_t *loc)
{
    struct server_persist *p = ctx;
    struct qstore *qs = *handle;
    edad_status st;
    if (!qs) {
        char name[257];
        size_t n = strlen(exchange);
        if (n > 254) {
            if (p->long_names++ % 1000 == 0)
                log_warning("delayed exchange '%s' in vhost '%s': its name is too long to "
                            "store held messages; they are kept in memory only", exchange,
                            vhost);
            return EDAD_ERR_TOO_LARGE;
        }
        name[0] = DELAYED_MARK;
        memcpy(name + 1, exchange, n + 1);
        st = store_queue_open(p->st, bytes_from_cstr(vhost), bytes_from_cstr(name), &qs);
        if (st != EDAD_OK)
            return st;
        *handle = qs;
    }
    int prio = message_priority(m);
    struct store_msg sm = {
        .seq = seq,
        .flags = prio >= 0 ? PERSIST_F_PRIORITY | (uint32_t)prio : 0,
        .exchange = message_exchange(m),
        .routing_key = message_routing_key(m),
        .props = message_props(m),
        .body = message_body(m),
        .meta = persist_encode(p, m, server_persist_wall_ms() + delay_ms),
    };
    struct store_loc l;
    st = qstore_append(qs, &sm, &l);
    if (st == EDAD_OK)
        *loc = store_loc_pack(l);
    return st;
}

static void persist_delayed_release(void *ctx, void *handle, uint64_t loc)
{
    EDAD_UNUSED(ctx);
    qstore_ack(handle, store_loc_unpack(loc));
}

static void persist_delayed_delete(void *ctx, void *handle)
{
    EDAD_UNUSED(ctx);
    edad_status st = qstore_delete(handle);
    if (st != EDAD_OK)
        log_error("store: deleting a delayed exchange's messages failed: %s",
                  edad_strerror(st));
}

/* The expiration property (validated at publish): -1 when absent. */
static int64_t persist_expiration(struct edad_bytes raw, struct arena *a)
{
    struct amqp_basic_properties props;
    int64_t v = -1;
    if (amqp_basic_properties_decode(raw, a, &props) == EDAD_OK &&
        (props.flags & AMQP_BASIC_EXPIRATION_FLAG)) {
        v = 0;
        for (size_t i = 0; i < props.expiration.len && v >= 0; i++) {
            uint8_t c = props.expiration.ptr[i];
            v = c < '0' || c > '9' || v > INT64_MAX / 10 - 10 ? -1 : v * 10 + (c - '0');
        }
    }
    arena_reset(a);
    return v;
}

bool server_persist_recover_store(struct server_persist *p, struct qstore *qs,
                                  uint64_t *messages)
{
    struct edad_bytes name = qstore_name(qs);
    if (!name.len || name.ptr[0] != DELAYED_MARK)
        return false;
    struct edad_bytes xname = {name.ptr + 1, name.len - 1};
    struct vhost *vh = broker_vhost_find(p->b, qstore_vhost(qs));
    struct exchange *x = vh ? exchange_find(vh, xname) : NULL;
    struct exchange_info xi;
    if (x)
        exchange_get_info(x, &xi);
    if (!x || !xi.durable || !exchange_delayed_attach(x, qs, qstore_next_seq(qs))) {
        log_info("store: deleting the held messages of delayed exchange '%.*s' in vhost "
                 "'%s': no durable definition", (int)xname.len, (const char *)xname.ptr,
                 qstore_vhost(qs).ptr);
        qstore_delete(qs);
        return true;
    }
    struct arena a;
    arena_init(&a, 0);
    uint64_t now = broker_now_ms(p->b), wall = server_persist_wall_ms();
    struct qstore_iter *it = qstore_iter_new(qs);
    struct store_rec r;
    edad_status st;
    while ((st = qstore_iter_next(it, &r)) == EDAD_OK) {
        struct message_info info = {
            .persistent = true,
            .has_priority = (r.flags & PERSIST_F_PRIORITY) != 0,
            .priority = (uint8_t)r.flags,
            .expiration_ms = persist_expiration(r.props, &a),
        };
        struct message *m = server_persist_message(p, &r, NULL, &info);
        if (!m)
            continue;
        uint64_t due_wall = message_meta_due(r.meta);
        uint64_t due = due_wall > wall ? now + (due_wall - wall) : now;
        exchange_delayed_restore(x, m, r.seq, due, due_wall, store_loc_pack(r.loc));
        message_unref(&m);
        (*messages)++;
    }
    if (st != EDAD_AGAIN)
        log_error("store: reading the held messages of delayed exchange '%s' stopped: %s",
                  xi.name, edad_strerror(st));
    qstore_iter_free(it);
    arena_free(&a);
    return true;
}


/* ---- dedup caches of durable queues and exchanges ---------------------------------------------- */

/*
 * One file per cache, data_dir/dedup/<kind>-<16 hex>.ddc (FNV-1a 64 of
 * kind, vhost and name): a header (u32 magic "EDDC", u32 version, u8 kind,
 * 3 reserved bytes, u32 vhost_len, u32 name_len, vhost, name, u32 CRC-32C
 * of all that), then one record per key added: u32 CRC-32C of the rest,
 * u32 key_len, u64 expiry (wall ms; all ones: never), key.  Records are
 * appended with one write() as keys are added, so a key is on disk before
 * the confirm of its message can leave (a kill -9 loses nothing); files
 * are fdatasync'ed once a second (store_maintain's timer).  The file is
 * rewritten (temp file, rename) from the cache at recovery and whenever it
 * holds more than twice x-cache-size records, so it stays bounded.
 */
#define DDC_MAGIC 0x43444445u   /* "EDDC" */
#define DDC_VERSION 1u
#define DDC_NEVER UINT64_MAX

struct dcache {
    struct dcache *next, *prev;
    const struct dedup *d;
    int fd;
    char *path;
    uint64_t records;           /* in the file */
    bool dirty;                 /* written since the last fdatasync */
};

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static char *dedup_path(const struct server_persist *p, char kind, const char *vhost,
                        const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[3] = {&kind, vhost, name};
    size_t lens[3] = {1, strlen(vhost) + 1, strlen(name)};
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < lens[i]; j++)
            h = (h ^ (uint8_t)parts[i][j]) * 0x100000001b3ull;
    char *path = xmalloc(strlen(p->ddir) + 32);
    sprintf(path, "%s/%c-%016" PRIx64 ".ddc", p->ddir, kind, h);
    return path;
}

struct dbuf {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *dbuf_grow(struct dbuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        b->cap = (b->len + n) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static void ddc_header(struct dbuf *b, char kind, const char *vhost, const char *name)
{
    size_t vl = strlen(vhost), nl = strlen(name);
    uint8_t *h = dbuf_grow(b, 20 + vl + nl + 4);
    le32(h, DDC_MAGIC);
    le32(h + 4, DDC_VERSION);
    memset(h + 8, 0, 4);
    h[8] = (uint8_t)kind;
    le32(h + 12, (uint32_t)vl);
    le32(h + 16, (uint32_t)nl);
    memcpy(h + 20, vhost, vl);
    memcpy(h + 20 + vl, name, nl);
    le32(h + 20 + vl + nl, store_crc32c(0, h, 20 + vl + nl));
}

/* Expiry on the broker clock <-> wall clock (never stays never). */
static uint64_t to_wall(uint64_t exp, uint64_t now, uint64_t wall)
{
    if (exp == UINT64_MAX)
        return DDC_NEVER;
    return exp > now ? wall + (exp - now) : wall;
}

static void ddc_record(struct dbuf *b, const uint8_t *key, size_t len, uint64_t wall_exp)
{
    uint8_t *r = dbuf_grow(b, 16 + len);
    le32(r + 4, (uint32_t)len);
    le64(r + 8, wall_exp);
    memcpy(r + 16, key, len);
    le32(r, store_crc32c(0, r + 4, 12 + len));
}

struct snap_ctx {
    struct dbuf *b;
    uint64_t now, wall, n;
};

static void snap_key(void *arg, const uint8_t *key, size_t len, uint64_t expires_ms)
{
    struct snap_ctx *sc = arg;
    if (expires_ms != UINT64_MAX && expires_ms <= sc->now)
        return;                 /* expired: not worth keeping */
    ddc_record(sc->b, key, len, to_wall(expires_ms, sc->now, sc->wall));
    sc->n++;
}

/*
 * (Re)write dc's file from its cache: temp file, fdatasync, rename (a new
 * inode: an older handle of the same path never touches it), then append
 * to it.  Returns false (logged) when the file cannot be written.
 */
static bool dcache_rewrite(struct server_persist *p, struct dcache *dc, char kind,
                           const char *vhost, const char *name)
{
    struct dbuf b = {0};
    ddc_header(&b, kind, vhost, name);
    struct snap_ctx sc = {&b, broker_now_ms(p->b), server_persist_wall_ms(), 0};
    if (dc->d)
        dedup_foreach(dc->d, snap_key, &sc);
    size_t plen = strlen(dc->path);
    char *tmp = xmalloc(plen + 5);
    memcpy(tmp, dc->path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    bool ok = false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd >= 0) {
        size_t off = 0;
        while (off < b.len) {
            ssize_t w = write(fd, b.p + off, b.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        ok = off == b.len && fdatasync(fd) == 0 && rename(tmp, dc->path) == 0;
        if (!ok) {
            close(fd);
            unlink(tmp);
        }
    }
    if (ok) {
        if (dc->fd >= 0)
            close(dc->fd);
        dc->fd = fd;
        dc->records = sc.n;
        dc->dirty = true;       /* the directory entry: fsync'ed with the next round */
        p->ddir_dirty = true;
    } else {
        log_error("dedup: cannot write %s: %s; the cache of %s '%s' in vhost '%s' will not "
                  "survive a restart", tmp, strerror(errno), kind == 'q' ? "queue" : "exchange",
                  name, vhost);
    }
    free(tmp);
    free(b.p);
    return ok;
}

static struct dcache *dcache_new(struct server_persist *p, const struct dedup *d, char kind,
                                 const char *vhost, const char *name)
{
    struct dcache *dc = xcalloc(1, sizeof(*dc));
    dc->d = d;
    dc->fd = -1;
    dc->path = dedup_path(p, kind, vhost, name);
    if (!dcache_rewrite(p, dc, kind, vhost, name)) {
        free(dc->path);
        free(dc);
        return NULL;
    }
    dc->next = p->dcaches;
    if (p->dcaches)
        p->dcaches->prev = dc;
    p->dcaches = dc;
    return dc;
}

static void dcache_free(struct server_persist *p, struct dcache *dc, bool unlink_file)
{
    if (unlink_file && dc->fd >= 0) {
        /* only our own file: a newer cache of the same owner has its own inode */
        struct stat a, b;
        if (fstat(dc->fd, &a) == 0 && stat(dc->path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            unlink(dc->path);
    }
    if (dc->fd >= 0)
        close(dc->fd);
    if (dc->prev)
        dc->prev->next = dc->next;
    else
        p->dcaches = dc->next;
    if (dc->next)
        dc->next->prev = dc->prev;
    free(dc->path);
    free(dc);
}

static void persist_dedup_add(void *ctx, void **handle, const struct dedup *d, char kind,
                              const char *vhost, const char *name, const uint8_t *key,
                              size_t len, uint64_t expires_ms)
{
    struct server_persist *p = ctx;
    struct dcache *dc = *handle;
    if (!dc) {
        /* a new cache (its owner was declared since the start): a fresh file */
        dc = dcache_new(p, d, kind, vhost, name);
        if (dc)
            *handle = dc;
        return;                 /* its snapshot holds the new key already */
    }
    if (dc->fd < 0)
        return;
    if (dc->records >= 2 * (uint64_t)dedup_capacity(d) + 1024) {
        dcache_rewrite(p, dc, kind, vhost, name);     /* the cache holds the new key */
        return;
    }
    struct dbuf b = {0};
    ddc_record(&b, key, len,
               to_wall(expires_ms, broker_now_ms(p->b), server_persist_wall_ms()));
    ssize_t w;
    do
        w = write(dc->fd, b.p, b.len);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)b.len && p->dedup_errors++ % 1000 == 0)
        log_error("dedup: writing %s failed: %s", dc->path, w < 0 ? strerror(errno) : "short");
    dc->records++;
    dc->dirty = true;
    free(b.p);
}

static void persist_dedup_delete(void *ctx, void *handle)
{
    dcache_free(ctx, handle, true);
}

/* Load one cache file into its owner's cache; false: the file goes (orphan or unreadable). */
static bool dedup_load(struct server_persist *p, const char *path, uint64_t *keys)
{
    struct dbuf b = {0};
    bool ok = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    for (;;) {
        uint8_t *at = dbuf_grow(&b, 65536);
        ssize_t r = read(fd, at, 65536);
        if (r < 0 && errno == EINTR) {
            b.len -= 65536;
            continue;
        }
        b.len -= 65536 - (size_t)(r > 0 ? r : 0);
        if (r <= 0)
            break;
    }
    close(fd);
    if (b.len < 24 || rd32(b.p) != DDC_MAGIC || rd32(b.p + 4) != DDC_VERSION)
        goto done;
    uint32_t vl = rd32(b.p + 12), nl = rd32(b.p + 16);
    if (vl > 255 || nl > 255 || b.len < (size_t)24 + vl + nl ||
        rd32(b.p + 20 + vl + nl) != store_crc32c(0, b.p, 20 + vl + nl))
        goto done;
    char kind = (char)b.p[8];
    char vhost[256], name[256];
    memcpy(vhost, b.p + 20, vl);
    vhost[vl] = '\0';
    memcpy(name, b.p + 20 + vl, nl);
    name[nl] = '\0';
    struct vhost *vh = broker_vhost_find(p->b, (struct edad_bytes){(const uint8_t *)vhost, vl});
    struct dedup *d = vh ? dedup_of(vh, kind, (struct edad_bytes){(const uint8_t *)name, nl})
                         : NULL;
    if (!d)
        goto done;              /* no durable owner with a cache any more */
    uint64_t now = broker_now_ms(p->b), wall = server_persist_wall_ms();
    size_t off = 24 + vl + nl;
    while (b.len - off >= 16) {
        const uint8_t *r = b.p + off;
        uint32_t kl = rd32(r + 4);
        if (kl > b.len - off - 16 || rd32(r) != store_crc32c(0, r + 4, 12 + (size_t)kl))
            break;              /* a torn or damaged tail: what follows is lost */
        uint64_t exp = rd64(r + 8);
        if (exp == DDC_NEVER)
            dedup_restore(d, r + 16, kl, UINT64_MAX);
        else if (exp > wall)
            dedup_restore(d, r + 16, kl, now + (exp - wall));   /* TTL kept counting */
        off += 16 + (size_t)kl;
        (*keys)++;
    }
    /* compacted into a fresh file the cache appends to from now on */
    struct dcache *dc = dcache_new(p, d, kind, vhost, name);
    if (dc)
        dedup_attach(d, dc);
    ok = true;
done:
    free(b.p);
    return ok;
}

void server_persist_recover_dedup(struct server_persist *p)
{
    DIR *dir = opendir(p->ddir);
    if (!dir)
        return;
    uint64_t files = 0, keys = 0, dropped = 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++) {
        char *path = xmalloc(strlen(p->ddir) + strlen(names[i]) + 2);
        sprintf(path, "%s/%s", p->ddir, names[i]);
        size_t l = strlen(names[i]);
        if (l > 4 && strcmp(names[i] + l - 4, ".ddc") == 0 && dedup_load(p, path, &keys)) {
            files++;
        } else {
            /* an orphan (owner gone), an unreadable file or a leftover temp file */
            unlink(path);
            dropped++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (files || dropped)
        log_info("dedup: restored %" PRIu64 " caches (%" PRIu64 " keys read), %" PRIu64
                 " stale files removed", files, keys, dropped);
}

void server_persist_maintain(struct server_persist *p)
{
    for (struct dcache *dc = p->dcaches; dc; dc = dc->next)
        if (dc->dirty && dc->fd >= 0) {
            fdatasync(dc->fd);
            dc->dirty = false;
        }
    if (p->ddir_dirty) {
        int fd = open(p->ddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        p->ddir_dirty = false;
    }
}

/* ---- hooks ---------------------------------------------------------------------------------- */

void server_persist_hooks(struct server_persist *p, struct broker_hooks *h)
{
    h->persist_ctx = p;
    h->delayed_hold = persist_delayed_hold;
    h->delayed_release = persist_delayed_release;
    h->delayed_delete = persist_delayed_delete;
    h->dedup_add = persist_dedup_add;
    h->dedup_delete = persist_dedup_delete;
}
