/*
 * hmap.c - linear-probing hash set with backward-shift deletion (no
 * tombstones, so lookups stay short after churn) and the byte hash used for
 * names and routing keys.  Grows at 3/4 load, shrinks at 1/8.
 */
#include <stdlib.h>

#include "edad/core.h"
#include "hmap.h"

#define HMAP_MIN_CAP 8u

void hmap_init(struct hmap *m)
{
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

void hmap_free(struct hmap *m)
{
    free(m->slots);
    hmap_init(m);
}

static void hmap_place(struct hmap_slot *slots, uint32_t mask, uint64_t hash, void *item)
{
    uint32_t i = (uint32_t)hash & mask;
    while (slots[i].item)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].item = item;
}

static void hmap_resize(struct hmap *m, uint32_t cap)
{
    struct hmap_slot *old = m->slots;
    uint32_t oldcap = hmap_capacity(m);
    struct hmap_slot *slots = xcalloc(cap, sizeof(*slots));
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i].item)
            hmap_place(slots, cap - 1, old[i].hash, old[i].item);
    free(old);
    m->slots = slots;
    m->mask = cap - 1;
}

void hmap_insert(struct hmap *m, uint64_t hash, void *item)
{
    uint32_t cap = hmap_capacity(m);
    if (cap == 0)
        hmap_resize(m, HMAP_MIN_CAP);
    else if ((uint64_t)(m->count + 1) * 4 > (uint64_t)cap * 3)
        hmap_resize(m, cap * 2);
    hmap_place(m->slots, m->mask, hash, item);
    m->count++;
}

bool hmap_remove(struct hmap *m, uint64_t hash, const void *item)
{
    if (m->count == 0)
        return false;
    uint32_t mask = m->mask;
    uint32_t i = (uint32_t)hash & mask;
    while (m->slots[i].item != item) {
        if (!m->slots[i].item)
            return false;
        i = (i + 1) & mask;
    }
    /* backward-shift: pull later members of the probe run into the hole */
    uint32_t hole = i;
    for (uint32_t j = (hole + 1) & mask; m->slots[j].item; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)m->slots[j].hash & mask;
        /* move j to hole unless its home lies cyclically in (hole, j] */
        bool stays = (hole <= j) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].item = NULL;
    m->slots[hole].hash = 0;
    m->count--;
    uint32_t cap = mask + 1;
    if (m->count == 0) {
        hmap_free(m);
    } else if (cap > HMAP_MIN_CAP && m->count * 8 < cap) {
        hmap_resize(m, cap / 2);
    }
    return true;
}

/* ---- hashing ---------------------------------------------------------------- */

static inline uint64_t hash_mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#define HK0 0xa0761d6478bd642full
#define HK1 0xe7037ed1a0b428dbull
#define HK2 0x8ebc6af09c88c6e3ull

uint64_t hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ^ HK0 ^ ((uint64_t)n * HK2);
    size_t left = n;
    while (left >= 16) {
        h = hash_mum(read64(p) ^ HK1, read64(p + 8) ^ h);
        p += 16;
        left -= 16;
    }
    uint64_t a = 0, b = 0;
    if (left >= 8) {
        a = read64(p);
        b = read64(p + left - 8);
    } else if (left >= 4) {
        a = read32(p);
        b = read32(p + left - 4);
    } else if (left > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[left >> 1] << 8) | p[left - 1];
    }
    h = hash_mum(a ^ HK1, b ^ h);
    return hash_mum(h ^ HK2, (uint64_t)n ^ HK1);
}

uint64_t hash_ptr(const void *p, uint64_t seed)
{
    return hash_mum((uint64_t)(uintptr_t)p ^ HK0, seed ^ HK1);
}

uint64_t hash_mix(uint64_t a, uint64_t b)
{
    return hash_mum(a ^ HK2, b ^ HK0);
}
