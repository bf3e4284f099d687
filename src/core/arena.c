/*
 * arena.c - bump allocator for per-frame decode results (field tables,
 * arrays).  Everything is released at once by arena_reset() after the frame
 * has been handled.  A cap bounds what hostile input can make one frame
 * allocate.
 */
#include <stdlib.h>
#include <string.h>

#include "edad/core.h"

#define ARENA_CHUNK_MIN 4096

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;   /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t cap)
{
    a->head = NULL;
    a->used_total = 0;
    a->cap = cap;
}

void *arena_alloc(struct arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)   /* rounding and the chunk header must not wrap */
        return NULL;
    n = (n + 7) & ~(size_t)7;
    if (n == 0)
        n = 8;
    if (a->cap && (n > a->cap || a->used_total > a->cap - n))
        return NULL;
    struct arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = ARENA_CHUNK_MIN;
        if (c && c->size * 2 > sz)
            sz = c->size * 2;
        if (sz < n)
            sz = n;
        struct arena_chunk *nc = xmalloc(sizeof(*nc) + sz);
        nc->size = sz;
        nc->used = 0;
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

void arena_reset(struct arena *a)
{
    struct arena_chunk *c = a->head;
    if (!c)
        return;
    /* Keep the newest (largest) chunk, free the rest. */
    struct arena_chunk *rest = c->next;
    while (rest) {
        struct arena_chunk *n = rest->next;
        free(rest);
        rest = n;
    }
    c->next = NULL;
    c->used = 0;
    a->used_total = 0;
}

void arena_free(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
