/*
 * mem.c - checked allocation and byte-slice helpers.  Out-of-memory aborts
 * the process with a message: a broker that cannot allocate cannot keep its
 * promises, and every caller checking NULL would hide real bugs.  Hostile
 * input never reaches these with unbounded sizes: lengths are checked against
 * negotiated limits before any allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "edad/core.h"

static void oom(size_t n)
{
    fprintf(stderr, "edad: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p)
        oom(nmemb * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

struct edad_bytes bytes_from_cstr(const char *s)
{
    struct edad_bytes b = {(const uint8_t *)s, s ? strlen(s) : 0};
    return b;
}

bool bytes_eq(struct edad_bytes a, struct edad_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool bytes_eq_cstr(struct edad_bytes a, const char *s)
{
    return bytes_eq(a, bytes_from_cstr(s));
}

char *bytes_strdup(struct edad_bytes b)
{
    char *p = xmalloc(b.len + 1);
    if (b.len)
        memcpy(p, b.ptr, b.len);
    p[b.len] = '\0';
    return p;
}
