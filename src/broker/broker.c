/*
 * broker.c - the broker object: vhost registry, exclusive-queue owners,
 * the dirty-queue list that batches dispatch per event-loop iteration,
 * hooks, reply-text formatting and server-generated names.  Knows nothing
 * about frames or sockets; the server drives dispatch from its loop.
 */
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "args_int.h"
#include "broker_int.h"
#include "exchange_int.h"
#include "message_int.h"
#include "queue_int.h"

#define DEFAULT_DISPATCH_BATCH 256u
#define TRIM_THRESHOLD (16u << 20)  /* bytes freed at once worth a heap trim */

/* ---- errors and names ---------------------------------------------------------- */

static const char *reply_name(uint16_t code)
{
    switch (code) {
    case BROKER_ACCESS_REFUSED: return "ACCESS_REFUSED";
    case BROKER_NOT_FOUND: return "NOT_FOUND";
    case BROKER_RESOURCE_LOCKED: return "RESOURCE_LOCKED";
    case BROKER_PRECONDITION_FAILED: return "PRECONDITION_FAILED";
    case BROKER_RESOURCE_ERROR: return "RESOURCE_ERROR";
    case BROKER_COMMAND_INVALID: return "COMMAND_INVALID";
    case BROKER_NOT_ALLOWED: return "NOT_ALLOWED";
    case BROKER_NOT_IMPLEMENTED: return "NOT_IMPLEMENTED";
    default: return "INTERNAL_ERROR";
    }
}

static edad_status reply_status(uint16_t code)
{
    switch (code) {
    case BROKER_NOT_FOUND: return EDAD_ERR_NOT_FOUND;
    case BROKER_PRECONDITION_FAILED: return EDAD_ERR_INVALID;
    case BROKER_COMMAND_INVALID: return EDAD_ERR_INVALID;
    case BROKER_NOT_IMPLEMENTED: return EDAD_ERR_UNKNOWN;
    default: return EDAD_ERR_STATE;
    }
}

edad_status broker_err_set(struct broker_err *err, uint16_t code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        int n = snprintf(err->text, sizeof(err->text), "%s - ", reply_name(code));
        if (n < 0)
            n = 0;
        if ((size_t)n < sizeof(err->text)) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->text + n, sizeof(err->text) - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return reply_status(code);
}

bool broker_name_strip(struct edad_bytes in, char *buf, struct edad_bytes *out)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '\r' || c == '\n')
            continue;
        if (n == BROKER_NAME_MAX)
            return false;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    out->ptr = (const uint8_t *)buf;
    out->len = n;
    return true;
}

void broker_rs(char *buf, size_t n, const char *kind, const char *name, size_t name_len,
               const struct vhost *vh)
{
    snprintf(buf, n, "%s '%.*s' in vhost '%s'", kind, (int)name_len, name, vh->name);
}

uint64_t broker_hash_name(const struct broker *b, struct edad_bytes name)
{
    return hash_bytes(name.ptr, name.len, b->seed);
}

void broker_name_generate(const char *prefix, char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t rnd[16];
    size_t got = 0;
    while (got < sizeof(rnd)) {
        ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* no entropy source: fall back to a time/counter mix */
            static uint64_t ctr;
            uint64_t x = hash_mix(clock_mono_us() ^ (uint64_t)getpid(), ++ctr);
            uint64_t y = hash_mix(x, (uint64_t)time(NULL));
            memcpy(rnd, &x, 8);
            memcpy(rnd + 8, &y, 8);
            break;
        }
        got += (size_t)r;
    }
    size_t plen = strlen(prefix);
    if (outlen == 0)
        return;
    size_t o = 0;
    for (size_t i = 0; i < plen && o + 1 < outlen; i++)
        out[o++] = prefix[i];
    /* 16 bytes -> 22 base64url characters, no padding */
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        acc = (acc << 8) | rnd[i];
        bits += 8;
        while (bits >= 6 && o + 1 < outlen) {
            bits -= 6;
            out[o++] = alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0 && o + 1 < outlen)
        out[o++] = alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

/* ---- memory ------------------------------------------------------------------------ */

void broker_memory_released(uint64_t bytes)
{
    /* glibc keeps freed small chunks (fastbins, tcache) mapped: after a big
     * queue goes, give the pages back so RSS returns to its baseline */
#if defined(__GLIBC__)
    if (bytes >= TRIM_THRESHOLD) {
        message_cache_trim();
        malloc_trim(0);
    }
#else
    if (bytes >= TRIM_THRESHOLD)
        message_cache_trim();
#endif
}

/* ---- broker lifetime --------------------------------------------------------------- */

struct broker *broker_new(const struct broker_config *cfg)
{
    struct broker *b = xcalloc(1, sizeof(*b));
    if (cfg)
        b->cfg = *cfg;
    if (b->cfg.dispatch_batch == 0)
        b->cfg.dispatch_batch = DEFAULT_DISPATCH_BATCH;
    if (getrandom(&b->seed, sizeof(b->seed), GRND_NONBLOCK) != (ssize_t)sizeof(b->seed))
        b->seed = hash_mix(clock_mono_us(), (uint64_t)getpid());
    hmap_init(&b->vhosts);
    hmap_init(&b->owners);
    b->deadline_reported = UINT64_MAX;
    return b;
}

void broker_free(struct broker *b)
{
    if (!b)
        return;
    while (b->vhosts.count) {
        struct vhost *vh = NULL;
        for (uint32_t i = 0; i < hmap_capacity(&b->vhosts) && !vh; i++)
            vh = b->vhosts.slots[i].item;
        hmap_remove(&b->vhosts, vh->hash, vh);
        vhost_destroy(vh);
    }
    while (b->zombies) {
        struct queue *q = b->zombies;
        broker_zombie_remove(b, q);
        queue_free_memory(q);
    }
    hmap_free(&b->vhosts);
    hmap_free(&b->owners);
    deadletter_free_pending(b);
    broker_timers_free(b);
    broker_codec_free(b);
    access_free(b);
    free(b->route_q);
    free(b->route_x);
    free(b);
}

void broker_set_hooks(struct broker *b, const struct broker_hooks *hooks)
{
    if (hooks)
        b->hooks = *hooks;
    else
        memset(&b->hooks, 0, sizeof(b->hooks));
}

void broker_definitions_changed(struct broker *b, struct vhost *vh)
{
    if (b->hooks.definitions_changed)
        b->hooks.definitions_changed(b->hooks.ctx, vh);
}

/* ---- vhost registry -------------------------------------------------------------------- */

static bool vhost_eq(const void *item, const void *key)
{
    const struct vhost *vh = item;
    const struct edad_bytes *k = key;
    return vh->name_len == k->len && memcmp(vh->name, k->ptr, k->len) == 0;
}

struct vhost *broker_vhost_find(struct broker *b, struct edad_bytes name)
{
    return hmap_find(&b->vhosts, broker_hash_name(b, name), vhost_eq, &name);
}

struct vhost *broker_vhost_add(struct broker *b, const char *name)
{
    struct edad_bytes n = bytes_from_cstr(name);
    struct vhost *vh = broker_vhost_find(b, n);
    if (vh)
        return vh;
    vh = vhost_new(b, n);
    hmap_insert(&b->vhosts, vh->hash, vh);
    return vh;
}

edad_status broker_vhost_delete(struct broker *b, struct edad_bytes name)
{
    struct vhost *vh = broker_vhost_find(b, name);
    if (!vh)
        return EDAD_ERR_NOT_FOUND;
    hmap_remove(&b->vhosts, vh->hash, vh);
    vhost_destroy(vh);
    return EDAD_OK;
}

/* ---- exclusive owners -------------------------------------------------------------------- */

static bool owner_eq(const void *item, const void *key)
{
    return ((const struct owner_rec *)item)->owner == key;
}

void broker_owner_add(struct broker *b, struct queue *q)
{
    uint64_t h = hash_ptr(q->owner, b->seed);
    struct owner_rec *r = hmap_find(&b->owners, h, owner_eq, q->owner);
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->owner = q->owner;
        hmap_insert(&b->owners, h, r);
    }
    q->oprev = NULL;
    q->onext = r->head;
    if (r->head)
        r->head->oprev = q;
    r->head = q;
}

void broker_owner_remove(struct broker *b, struct queue *q)
{
    uint64_t h = hash_ptr(q->owner, b->seed);
    struct owner_rec *r = hmap_find(&b->owners, h, owner_eq, q->owner);
    if (!r)
        return;
    if (q->oprev)
        q->oprev->onext = q->onext;
    else
        r->head = q->onext;
    if (q->onext)
        q->onext->oprev = q->oprev;
    q->onext = q->oprev = NULL;
    if (!r->head) {
        hmap_remove(&b->owners, h, r);
        free(r);
    }
}

void broker_connection_closed(struct broker *b, const void *owner)
{
    uint64_t h = hash_ptr(owner, b->seed);
    struct owner_rec *r;
    /* each deletion unlinks its queue; the record goes with the last one */
    while ((r = hmap_find(&b->owners, h, owner_eq, owner)) != NULL)
        queue_delete_now(r->head);
}

/* ---- zombies ---------------------------------------------------------------------------- */

void broker_zombie_add(struct broker *b, struct queue *q)
{
    q->zprev = NULL;
    q->znext = b->zombies;
    if (b->zombies)
        b->zombies->zprev = q;
    b->zombies = q;
}

void broker_zombie_remove(struct broker *b, struct queue *q)
{
    if (q->zprev)
        q->zprev->znext = q->znext;
    else
        b->zombies = q->znext;
    if (q->znext)
        q->znext->zprev = q->zprev;
    q->znext = q->zprev = NULL;
}

/* ---- dispatch scheduling ------------------------------------------------------------------ */

void broker_set_wakeup(struct broker *b, void (*fn)(void *ctx), void *ctx)
{
    b->wakeup = fn;
    b->wakeup_ctx = ctx;
    b->wakeup_sent = false;
}

void broker_dirty_add(struct broker *b, struct queue *q)
{
    if (q->dirty)
        return;
    q->dirty = true;
    q->dnext = NULL;
    q->dprev = b->dirty_tail;
    if (b->dirty_tail)
        b->dirty_tail->dnext = q;
    else
        b->dirty_head = q;
    b->dirty_tail = q;
    b->dirty_count++;
    if (b->wakeup && !b->wakeup_sent) {
        b->wakeup_sent = true;
        b->wakeup(b->wakeup_ctx);
    }
}

void broker_dirty_remove(struct broker *b, struct queue *q)
{
    if (!q->dirty)
        return;
    if (q->dprev)
        q->dprev->dnext = q->dnext;
    else
        b->dirty_head = q->dnext;
    if (q->dnext)
        q->dnext->dprev = q->dprev;
    else
        b->dirty_tail = q->dprev;
    q->dnext = q->dprev = NULL;
    q->dirty = false;
    b->dirty_count--;
}

bool broker_dispatch_pending(struct broker *b)
{
    /* no wakeups during the pass: the return value tells the caller */
    b->wakeup_sent = true;
    /* one pass over as many queues as are dirty now; re-added ones wait */
    uint32_t n = b->dirty_count;
    for (uint32_t i = 0; i < n && b->dirty_head; i++) {
        struct queue *q = b->dirty_head;
        broker_dirty_remove(b, q);
        queue_ref(q);
        bool more = queue_dispatch(q, b->cfg.dispatch_batch);
        if (more && !q->deleted)
            broker_dirty_add(b, q);
        queue_unref(&q);
    }
    if (b->dirty_head)
        return true;            /* the caller comes back without a wakeup */
    b->wakeup_sent = false;
    return false;
}

uint64_t broker_flow_events(const struct broker *b)
{
    return b->flow_events;
}

uint64_t broker_flow_release(const struct broker *b)
{
    return b->flow_release;
}
