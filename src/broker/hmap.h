/*
 * hmap.h - the broker's open-addressing hash set of items keyed by a
 * caller-computed 64-bit hash, plus a seeded byte hash.  Items own their
 * keys; the map stores (hash, item pointer) pairs only, so one map type
 * serves names, routing keys, bindings and owners.  Not thread-safe, no
 * allocation per item; lookups inline the equality callback.
 */
#ifndef EDAD_BROKER_HMAP_H
#define EDAD_BROKER_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct hmap_slot {
    uint64_t hash;
    void *item;                 /* NULL: empty slot */
};

struct hmap {
    struct hmap_slot *slots;    /* NULL while empty */
    uint32_t mask;              /* capacity - 1 (capacity is a power of two) */
    uint32_t count;
};

void hmap_init(struct hmap *m);
/* Release the slot array (not the items). */
void hmap_free(struct hmap *m);
/* Add item (caller makes sure an equal item is not present). */
void hmap_insert(struct hmap *m, uint64_t hash, void *item);
/* Remove this exact item pointer; false when not present. */
bool hmap_remove(struct hmap *m, uint64_t hash, const void *item);

typedef bool (*hmap_eq_fn)(const void *item, const void *key);

/* The item with this hash for which eq(item, key) holds, or NULL. */
static inline void *hmap_find(const struct hmap *m, uint64_t hash, hmap_eq_fn eq,
                              const void *key)
{
    if (m->count == 0)
        return NULL;
    for (uint32_t i = (uint32_t)hash & m->mask;; i = (i + 1) & m->mask) {
        const struct hmap_slot *s = &m->slots[i];
        if (!s->item)
            return NULL;
        if (s->hash == hash && eq(s->item, key))
            return s->item;
    }
}

/* Iterate: for (uint32_t i = 0; i < hmap_capacity(m); i++) if (m->slots[i].item) ... */
static inline uint32_t hmap_capacity(const struct hmap *m)
{
    return m->slots ? m->mask + 1 : 0;
}

/* Seeded hash of n bytes (fast, flood-resistant enough with a random seed). */
uint64_t hash_bytes(const void *p, size_t n, uint64_t seed);
/* Hash of a pointer value. */
uint64_t hash_ptr(const void *p, uint64_t seed);
/* Combine two hashes. */
uint64_t hash_mix(uint64_t a, uint64_t b);

#endif
