/*
 * exchange_topic.c - topic exchanges: a trie over the dot-separated words
 * of binding keys with separate '*' and '#' edges, so routing follows only
 * the edges a routing key can take instead of testing every binding.
 * RabbitMQ's semantics: "" has zero words, empty words count ("a..b" is
 * three words), '*' is exactly one word, '#' zero or more.
 */
#include <stdlib.h>
#include <string.h>

#include "exchange_int.h"

/*
 * Consecutive '#' words fold into one trie edge ("#.#" matches what "#"
 * matches), which bounds the matching work; the binding keeps its key as
 * given, for listing and unbinding.
 */

#define TOPIC_MAX_WORDS (BROKER_NAME_MAX + 1)

struct topic_node {
    struct topic_node *parent;
    struct topic_node *star;    /* '*' edge */
    struct topic_node *hash;    /* '#' edge */
    struct hmap children;       /* literal-word edges by word */
    struct bvec bindings;       /* bindings whose key ends here */
    uint64_t whash;             /* hash of word (literal edges) */
    uint8_t edge;               /* how the parent reaches it: 'w', '*', '#', 0 = root */
    uint32_t word_len;
    char word[];
};

struct topic_words {
    uint32_t n;
    struct edad_bytes w[TOPIC_MAX_WORDS];
    uint64_t h[TOPIC_MAX_WORDS];
};

static bool node_eq(const void *item, const void *key)
{
    const struct topic_node *n = item;
    const struct edad_bytes *k = key;
    return n->word_len == k->len && (k->len == 0 || memcmp(n->word, k->ptr, k->len) == 0);
}

/* Split key into words ("" -> none); hashes filled when b is given. */
static void topic_split(struct edad_bytes key, struct topic_words *tw, const struct broker *b)
{
    tw->n = 0;
    if (key.len == 0)
        return;
    size_t start = 0;
    for (size_t i = 0; i <= key.len; i++) {
        if (i == key.len || key.ptr[i] == '.') {
            struct edad_bytes w = {key.ptr + start, i - start};
            tw->w[tw->n] = w;
            if (b)
                tw->h[tw->n] = broker_hash_name(b, w);
            tw->n++;
            start = i + 1;
        }
    }
}

static struct topic_node *node_new(struct topic_node *parent, uint8_t edge,
                                   struct edad_bytes word, uint64_t whash)
{
    struct topic_node *n = xcalloc(1, sizeof(*n) + word.len + 1);
    n->parent = parent;
    n->edge = edge;
    n->whash = whash;
    hmap_init(&n->children);
    n->word_len = (uint32_t)word.len;
    if (word.len)
        memcpy(n->word, word.ptr, word.len);
    n->word[word.len] = '\0';
    return n;
}

static bool word_is(struct edad_bytes w, char c)
{
    return w.len == 1 && w.ptr[0] == (uint8_t)c;
}

static void topic_add(struct exchange *x, struct binding *b)
{
    struct broker *br = x->vh->broker;
    struct topic_node *n = x->index;
    if (!n)
        n = x->index = node_new(NULL, 0, EDAD_BYTES_NULL, 0);
    struct topic_words tw;
    topic_split((struct edad_bytes){(const uint8_t *)b->key, b->key_len}, &tw, br);
    for (uint32_t i = 0; i < tw.n; i++) {
        struct edad_bytes w = tw.w[i];
        if (word_is(w, '#')) {
            if (n->edge == '#')
                continue;       /* "#.#" == "#" */
            if (!n->hash)
                n->hash = node_new(n, '#', w, 0);
            n = n->hash;
        } else if (word_is(w, '*')) {
            if (!n->star)
                n->star = node_new(n, '*', w, 0);
            n = n->star;
        } else {
            struct topic_node *c = hmap_find(&n->children, tw.h[i], node_eq, &w);
            if (!c) {
                c = node_new(n, 'w', w, tw.h[i]);
                hmap_insert(&n->children, tw.h[i], c);
            }
            n = c;
        }
    }
    bvec_push(&n->bindings, b);
    b->tdata = n;
}

static bool node_empty(const struct topic_node *n)
{
    return n->bindings.n == 0 && n->children.count == 0 && !n->star && !n->hash;
}

static void node_free(struct topic_node *n)
{
    hmap_free(&n->children);
    bvec_free(&n->bindings);
    free(n);
}

static void topic_remove(struct exchange *x, struct binding *b)
{
    struct topic_node *n = b->tdata;
    bvec_remove(&n->bindings, b);
    while (n->parent && node_empty(n)) {
        struct topic_node *p = n->parent;
        if (n->edge == '#')
            p->hash = NULL;
        else if (n->edge == '*')
            p->star = NULL;
        else
            hmap_remove(&p->children, n->whash, n);
        node_free(n);
        n = p;
    }
    if (!n->parent && node_empty(n)) {
        node_free(n);
        x->index = NULL;
    }
}

static void node_free_tree(struct topic_node *n)
{
    for (uint32_t i = 0; i < hmap_capacity(&n->children); i++)
        if (n->children.slots[i].item)
            node_free_tree(n->children.slots[i].item);
    if (n->star)
        node_free_tree(n->star);
    if (n->hash)
        node_free_tree(n->hash);
    node_free(n);
}

static void topic_free_index(struct exchange *x)
{
    if (x->index)
        node_free_tree(x->index);
    x->index = NULL;
}

static void topic_match(struct route_ctx *rc, const struct topic_words *tw,
                        const struct topic_node *n, uint32_t i)
{
    if (i == tw->n) {
        for (uint32_t k = 0; k < n->bindings.n; k++)
            route_emit(rc, n->bindings.v[k]);
        if (n->hash)
            topic_match(rc, tw, n->hash, i);    /* '#' matching zero words */
        return;
    }
    if (n->children.count) {
        const struct topic_node *c = hmap_find(&n->children, tw->h[i], node_eq, &tw->w[i]);
        if (c)
            topic_match(rc, tw, c, i + 1);
    }
    if (n->star)
        topic_match(rc, tw, n->star, i + 1);
    if (n->hash)
        for (uint32_t j = i; j <= tw->n; j++)
            topic_match(rc, tw, n->hash, j);
}

static void topic_route(struct exchange *x, struct route_ctx *rc)
{
    const struct topic_node *root = x->index;
    if (!root)
        return;
    struct topic_words tw;
    topic_split(rc->rk, &tw, rc->b);
    topic_match(rc, &tw, root, 0);
}

const struct exchange_type exchange_type_topic = {
    .name = "topic",
    .validate_binding = NULL,
    .add = topic_add,
    .remove = topic_remove,
    .route = topic_route,
    .free_index = topic_free_index,
};
