/*
 * access.c - the user store (users, password hashes, tags), per-vhost
 * permissions with compiled regexes, vhost limits and the permission
 * checks of access.h, with RabbitMQ's internal backend's rules and texts.
 * Small linear lists: a broker has few users; the hot check (publish) is
 * served by a per-permission cache of recent names.  Not here: SASL,
 * files, the JSON form (definitions.c).
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker_int.h"
#include "edad/access.h"
#include "queue_int.h"

#define SALT_LEN 4
/* recent-name cache per permission entry and perm (direct-mapped) */
#define PERM_CACHE_SLOTS 16
#define PERM_CACHE_NAME 64

struct user {
    struct user *next;
    char *name;
    char *hash;                 /* base64; "" = no password */
    enum access_hash alg;
    char **tags;
    size_t ntags;
};

struct perm_cache_slot {
    uint8_t state;              /* 0 empty, 1 allowed, 2 refused */
    uint8_t kind;
    uint8_t len;
    char name[PERM_CACHE_NAME];
};

struct perm {
    struct perm *next;
    char *user, *vhost;
    char *re_src[3];            /* by enum access_perm */
    regex_t re[3];
    bool re_ok[3];              /* compiled (false for "": matches nothing) */
    struct perm_cache_slot cache[3][PERM_CACHE_SLOTS];
};

struct vlimit {
    struct vlimit *next;
    char *vhost;
    struct access_limits l;
};

struct access_store {
    bool enabled;
    struct user *users, **users_tail;
    struct perm *perms, **perms_tail;
    struct vlimit *limits;
};

static const char *const perm_names[3] = {"configure", "write", "read"};

static struct access_store *store_of(struct broker *b)
{
    if (!b->access) {
        b->access = xcalloc(1, sizeof(*b->access));
        b->access->users_tail = &b->access->users;
        b->access->perms_tail = &b->access->perms;
    }
    return b->access;
}

static void changed(struct broker *b)
{
    b->access_gen++;
    broker_definitions_changed(b, NULL);
}

uint64_t access_generation(const struct broker *b)
{
    return b->access_gen;
}

bool access_enabled(const struct broker *b)
{
    return b->access && b->access->enabled;
}

void access_enable(struct broker *b)
{
    store_of(b)->enabled = true;
    b->access_gen++;
}

/* ---- hashes --------------------------------------------------------------------------- */

static const char *const hash_names[] = {
    "rabbit_password_hashing_sha256",
    "rabbit_password_hashing_sha512",
    "rabbit_password_hashing_md5",
};

const char *access_hash_name(enum access_hash h)
{
    return (unsigned)h < EDAD_ARRAY_LEN(hash_names) ? hash_names[h] : hash_names[0];
}

bool access_hash_parse(const char *name, enum access_hash *out)
{
    for (size_t i = 0; i < EDAD_ARRAY_LEN(hash_names); i++) {
        if (strcmp(name, hash_names[i]) == 0) {
            *out = (enum access_hash)i;
            return true;
        }
    }
    return false;
}

static size_t digest_len(enum access_hash h)
{
    return h == ACCESS_HASH_SHA512 ? 64 : h == ACCESS_HASH_MD5 ? 16 : 32;
}

/* H(salt ++ password) into out (64 bytes of room). */
static void salted_digest(enum access_hash h, const uint8_t *salt, struct edad_bytes pw,
                          uint8_t *out)
{
    size_t n = SALT_LEN + pw.len;
    uint8_t stackbuf[256];
    uint8_t *buf = n <= sizeof(stackbuf) ? stackbuf : xmalloc(n);
    memcpy(buf, salt, SALT_LEN);
    if (pw.len)
        memcpy(buf + SALT_LEN, pw.ptr, pw.len);
    if (h == ACCESS_HASH_SHA512)
        hash_sha512(buf, n, out);
    else if (h == ACCESS_HASH_MD5)
        hash_md5(buf, n, out);
    else
        hash_sha256(buf, n, out);
    memset(buf, 0, n);
    if (buf != stackbuf)
        free(buf);
}

void access_password_hash(enum access_hash h, struct edad_bytes password, char *out,
                          size_t outlen)
{
    uint8_t raw[SALT_LEN + 64];
    if (getrandom(raw, SALT_LEN, 0) != SALT_LEN) {
        uint64_t t = clock_mono_us() ^ ((uint64_t)getpid() << 32);
        memcpy(raw, &t, SALT_LEN);
    }
    salted_digest(h, raw, password, raw + SALT_LEN);
    if (base64_encode(raw, SALT_LEN + digest_len(h), out, outlen) == 0 && outlen)
        out[0] = '\0';
}

bool access_password_verify(enum access_hash h, const char *hash_b64, struct edad_bytes password)
{
    uint8_t raw[SALT_LEN + 64], want[64];
    size_t n;
    if (!hash_b64 || !*hash_b64 ||
        base64_decode(hash_b64, strlen(hash_b64), raw, sizeof(raw), &n) != EDAD_OK ||
        n != SALT_LEN + digest_len(h))
        return false;
    salted_digest(h, raw, password, want);
    unsigned diff = 0;
    for (size_t i = 0; i < digest_len(h); i++)
        diff |= (unsigned)(want[i] ^ raw[SALT_LEN + i]);
    return diff == 0;
}

/* ---- users ------------------------------------------------------------------------------ */

static struct user *user_find(struct access_store *s, const char *name, size_t len)
{
    for (struct user *u = s->users; u; u = u->next)
        if (strlen(u->name) == len && memcmp(u->name, name, len) == 0)
            return u;
    return NULL;
}

static void tags_free(struct user *u)
{
    for (size_t i = 0; i < u->ntags; i++)
        free(u->tags[i]);
    free(u->tags);
    u->tags = NULL;
    u->ntags = 0;
}

/* "a, b,,c" -> {"a", "b", "c"} (blanks trimmed, empties dropped). */
static void tags_set(struct user *u, const char *csv)
{
    tags_free(u);
    const char *p = csv;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if (t > p) {
            u->tags = xrealloc(u->tags, sizeof(*u->tags) * (u->ntags + 1));
            u->tags[u->ntags++] = bytes_strdup((struct edad_bytes){(const uint8_t *)p,
                                                                   (size_t)(t - p)});
        }
        p = e;
    }
}

edad_status access_user_put(struct broker *b, const char *name,
                            const struct access_user_spec *spec, struct broker_err *err)
{
    struct access_store *s = store_of(b);
    enum access_hash alg = ACCESS_HASH_SHA256;
    if (!name || !*name)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "user name must not be empty");
    if (!spec->password && spec->password_hash) {
        if (spec->hashing_algorithm && !access_hash_parse(spec->hashing_algorithm, &alg))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "unknown hashing_algorithm '%s' for user '%s'",
                                  spec->hashing_algorithm, name);
        uint8_t raw[SALT_LEN + 64];
        size_t n;
        if (*spec->password_hash &&
            base64_decode(spec->password_hash, strlen(spec->password_hash), raw, sizeof(raw),
                          &n) != EDAD_OK)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "password_hash of user '%s' is not base64", name);
    }
    s->enabled = true;
    struct user *u = user_find(s, name, strlen(name));
    if (!u) {
        u = xcalloc(1, sizeof(*u));
        u->name = xstrdup(name);
        u->hash = xstrdup("");
        *s->users_tail = u;
        s->users_tail = &u->next;
    }
    if (spec->password) {
        char h[ACCESS_HASH_B64_MAX];
        access_password_hash(ACCESS_HASH_SHA256, bytes_from_cstr(spec->password), h, sizeof(h));
        free(u->hash);
        u->hash = xstrdup(h);
        u->alg = ACCESS_HASH_SHA256;
    } else if (spec->password_hash) {
        free(u->hash);
        u->hash = xstrdup(spec->password_hash);
        u->alg = alg;
    }
    if (spec->tags)
        tags_set(u, spec->tags);
    changed(b);
    return EDAD_OK;
}

static void perm_free(struct perm *p)
{
    for (int i = 0; i < 3; i++) {
        if (p->re_ok[i])
            regfree(&p->re[i]);
        free(p->re_src[i]);
    }
    free(p->user);
    free(p->vhost);
    free(p);
}

/* Remove every permission entry for which match(p) holds. */
static unsigned perms_remove(struct access_store *s, const char *user, const char *vhost)
{
    unsigned n = 0;
    struct perm **pp = &s->perms;
    s->perms_tail = &s->perms;
    while (*pp) {
        struct perm *p = *pp;
        if ((!user || strcmp(p->user, user) == 0) && (!vhost || strcmp(p->vhost, vhost) == 0)) {
            *pp = p->next;
            perm_free(p);
            n++;
            continue;
        }
        pp = &p->next;
        s->perms_tail = pp;
    }
    return n;
}

edad_status access_user_delete(struct broker *b, const char *name)
{
    struct access_store *s = store_of(b);
    struct user **pp = &s->users;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    struct user *u = *pp;
    if (!u)
        return EDAD_ERR_NOT_FOUND;
    *pp = u->next;
    if (s->users_tail == &u->next)
        s->users_tail = pp;
    perms_remove(s, name, NULL);
    tags_free(u);
    free(u->hash);
    free(u->name);
    free(u);
    changed(b);
    return EDAD_OK;
}

static void user_info(const struct user *u, struct access_user_info *out)
{
    out->name = u->name;
    out->password_hash = u->hash;
    out->hashing_algorithm = access_hash_name(u->alg);
    out->tags = (const char *const *)u->tags;
    out->ntags = u->ntags;
}

bool access_user_get(struct broker *b, const char *name, struct access_user_info *out)
{
    struct user *u = user_find(store_of(b), name, strlen(name));
    if (u)
        user_info(u, out);
    return u != NULL;
}

void access_foreach_user(struct broker *b,
                         bool (*fn)(void *ctx, const struct access_user_info *u), void *ctx)
{
    for (struct user *u = store_of(b)->users; u; u = u->next) {
        struct access_user_info info;
        user_info(u, &info);
        if (!fn(ctx, &info))
            break;
    }
}

bool access_user_has_tag(struct broker *b, const char *name, const char *tag)
{
    struct user *u = user_find(store_of(b), name, strlen(name));
    for (size_t i = 0; u && i < u->ntags; i++)
        if (strcmp(u->tags[i], tag) == 0)
            return true;
    return false;
}

bool access_authenticate(struct broker *b, struct edad_bytes user, struct edad_bytes pass)
{
    struct user *u = user_find(store_of(b), (const char *)user.ptr, user.len);
    if (!u || !*u->hash)
        return false;
    return access_password_verify(u->alg, u->hash, pass);
}

bool access_user_exists(struct broker *b, struct edad_bytes user)
{
    return user_find(store_of(b), (const char *)user.ptr, user.len) != NULL;
}

/* ---- permissions ---------------------------------------------------------------------------- */

static struct perm *perm_find(struct access_store *s, const char *user, const char *vhost)
{
    for (struct perm *p = s->perms; p; p = p->next)
        if (strcmp(p->user, user) == 0 && strcmp(p->vhost, vhost) == 0)
            return p;
    return NULL;
}

edad_status access_permission_set(struct broker *b, const char *user, const char *vhost,
                                  const char *configure, const char *write, const char *read,
                                  struct broker_err *err)
{
    struct access_store *s = store_of(b);
    if (!user_find(s, user, strlen(user)))
        return broker_err_set(err, BROKER_NOT_FOUND, "no user '%s'", user);
    if (!broker_vhost_find(b, bytes_from_cstr(vhost)))
        return broker_err_set(err, BROKER_NOT_FOUND, "no vhost '%s'", vhost);
    struct perm *p = xcalloc(1, sizeof(*p));
    const char *src[3] = {configure, write, read};
    for (int i = 0; i < 3; i++) {
        p->re_src[i] = xstrdup(src[i] ? src[i] : "");
        if (!*p->re_src[i])
            continue;       /* "" matches nothing (RabbitMQ) */
        int rc = regcomp(&p->re[i], p->re_src[i], REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &p->re[i], why, sizeof(why));
            broker_err_set(err, BROKER_PRECONDITION_FAILED, "invalid %s regex '%s': %s",
                           perm_names[i], p->re_src[i], why);
            p->user = xstrdup(user);
            p->vhost = xstrdup(vhost);
            perm_free(p);
            return EDAD_ERR_INVALID;
        }
        p->re_ok[i] = true;
    }
    p->user = xstrdup(user);
    p->vhost = xstrdup(vhost);
    perms_remove(s, user, vhost);
    *s->perms_tail = p;
    s->perms_tail = &p->next;
    changed(b);
    return EDAD_OK;
}

edad_status access_permission_clear(struct broker *b, const char *user, const char *vhost)
{
    if (perms_remove(store_of(b), user, vhost) == 0)
        return EDAD_ERR_NOT_FOUND;
    changed(b);
    return EDAD_OK;
}

static void perm_info(const struct perm *p, struct access_perm_info *out)
{
    out->user = p->user;
    out->vhost = p->vhost;
    out->configure = p->re_src[ACCESS_CONFIGURE];
    out->write = p->re_src[ACCESS_WRITE];
    out->read = p->re_src[ACCESS_READ];
}

bool access_permission_get(struct broker *b, const char *user, const char *vhost,
                           struct access_perm_info *out)
{
    struct perm *p = perm_find(store_of(b), user, vhost);
    if (p)
        perm_info(p, out);
    return p != NULL;
}

void access_foreach_permission(struct broker *b,
                               bool (*fn)(void *ctx, const struct access_perm_info *p),
                               void *ctx)
{
    for (struct perm *p = store_of(b)->perms; p; p = p->next) {
        struct access_perm_info info;
        perm_info(p, &info);
        if (!fn(ctx, &info))
            break;
    }
}

bool access_vhost_allowed(struct broker *b, const char *user, const char *vhost)
{
    if (!access_enabled(b))
        return true;
    return perm_find(b->access, user, vhost) != NULL;
}

/* Unanchored regex search of name, cached per entry for short names. */
static bool perm_match(struct perm *p, enum access_perm perm, enum access_kind kind,
                       struct edad_bytes name)
{
    if (!p->re_ok[perm])
        return false;
    struct perm_cache_slot *slot = NULL;
    if (name.len < PERM_CACHE_NAME) {
        uint32_t h = 2166136261u ^ (uint32_t)kind;
        for (size_t i = 0; i < name.len; i++)
            h = (h ^ name.ptr[i]) * 16777619u;
        slot = &p->cache[perm][h % PERM_CACHE_SLOTS];
        if (slot->state && slot->kind == kind && slot->len == name.len &&
            memcmp(slot->name, name.ptr, name.len) == 0)
            return slot->state == 1;
    }
    /* regexec needs a C string: a name with a NUL is checked up to it */
    char stackbuf[BROKER_NAME_MAX + 1];
    char *buf = name.len < sizeof(stackbuf) ? stackbuf : xmalloc(name.len + 1);
    if (name.len)
        memcpy(buf, name.ptr, name.len);
    buf[name.len] = '\0';
    bool ok = regexec(&p->re[perm], buf, 0, NULL, 0) == 0;
    if (buf != stackbuf)
        free(buf);
    if (slot) {
        slot->state = ok ? 1 : 2;
        slot->kind = (uint8_t)kind;
        slot->len = (uint8_t)name.len;
        memcpy(slot->name, name.ptr, name.len);
    }
    return ok;
}

edad_status access_check(struct broker *b, const char *user, const char *vhost,
                         enum access_perm perm, enum access_kind kind, struct edad_bytes name,
                         struct broker_err *err)
{
    if (!access_enabled(b))
        return EDAD_OK;
    if (kind == ACCESS_EXCHANGE && name.len == 0)
        name = bytes_from_cstr("amq.default");
    struct perm *p = user ? perm_find(b->access, user, vhost) : NULL;
    if (p && perm_match(p, perm, kind, name))
        return EDAD_OK;
    return broker_err_set(err, BROKER_ACCESS_REFUSED,
                          "access to %s '%.*s' in vhost '%s' refused for user '%s'",
                          kind == ACCESS_EXCHANGE ? "exchange" : "queue",
                          (int)(name.len > 255 ? 255 : name.len), (const char *)name.ptr, vhost,
                          user ? user : "");
}

/* ---- whole operations ----------------------------------------------------------------------- */

static struct vlimit *limit_find(struct access_store *s, const char *vhost)
{
    for (struct vlimit *l = s->limits; l; l = l->next)
        if (strcmp(l->vhost, vhost) == 0)
            return l;
    return NULL;
}

edad_status access_check_open(struct broker *b, const char *user, struct edad_bytes vhost,
                              uint64_t conns, struct broker_err *err)
{
    int vlen = (int)(vhost.len > 200 ? 200 : vhost.len);
    struct vhost *vh = broker_vhost_find(b, vhost);
    if (!vh)
        return broker_err_set(err, BROKER_NOT_ALLOWED, "vhost %.*s not found", vlen,
                              (const char *)vhost.ptr);
    /* limits hold even without a user store; permissions need one */
    struct vlimit *l = b->access ? limit_find(b->access, vh->name) : NULL;
    if (l && l->l.max_connections >= 0 && conns >= (uint64_t)l->l.max_connections)
        return broker_err_set(err, BROKER_NOT_ALLOWED, "access to vhost '%s' refused for user "
                              "'%s': connection limit (%lld) is reached", vh->name, user,
                              (long long)l->l.max_connections);
    if (access_enabled(b) && !perm_find(b->access, user, vh->name))
        return broker_err_set(err, BROKER_NOT_ALLOWED,
                              "access to vhost '%s' refused for user '%s'", vh->name, user);
    return EDAD_OK;
}

/* A string argument naming an exchange (alternate / dead-letter); false when absent. */
static bool arg_exchange(const struct broker_table *args, const char *key, struct edad_bytes *out)
{
    const struct broker_value *v = broker_table_get(args, key);
    if (!v || (v->kind != BROKER_V_STRING && v->kind != BROKER_V_BYTES))
        return false;
    *out = v->v.str;
    return true;
}

edad_status access_check_exchange_declare(struct vhost *vh, const char *user,
                                          const struct exchange_declare *d,
                                          struct broker_err *err)
{
    struct broker *b = vh->broker;
    if (!access_enabled(b) || d->passive || d->name.len == 0)
        return EDAD_OK;
    edad_status st = access_check(b, user, vh->name, ACCESS_CONFIGURE, ACCESS_EXCHANGE, d->name,
                                  err);
    struct edad_bytes ae;
    if (st == EDAD_OK && !exchange_find(vh, d->name) && arg_exchange(d->args, "alternate-exchange",
                                                                     &ae)) {
        st = access_check(b, user, vh->name, ACCESS_READ, ACCESS_EXCHANGE, d->name, err);
        if (st == EDAD_OK)
            st = access_check(b, user, vh->name, ACCESS_WRITE, ACCESS_EXCHANGE, ae, err);
    }
    return st;
}

edad_status access_check_queue_declare(struct vhost *vh, const char *user, struct edad_bytes name,
                                       const struct broker_table *args, struct broker_err *err)
{
    struct broker *b = vh->broker;
    if (!b->access)
        return EDAD_OK;
    /* access_check allows everything without a user store; limits still hold */
    edad_status st = access_check(b, user, vh->name, ACCESS_CONFIGURE, ACCESS_QUEUE, name, err);
    if (st != EDAD_OK || queue_find(vh, name))
        return st;
    /* the limit applies to new queues only */
    struct vlimit *l = limit_find(b->access, vh->name);
    if (l && l->l.max_queues >= 0 && vh->queues.count >= (uint64_t)l->l.max_queues)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "cannot declare queue '%.*s': "
                              "queue limit in vhost '%s' (%lld) is reached",
                              (int)(name.len > 255 ? 255 : name.len), (const char *)name.ptr,
                              vh->name, (long long)l->l.max_queues);
    struct edad_bytes dlx;
    if (arg_exchange(args, "x-dead-letter-exchange", &dlx)) {
        st = access_check(b, user, vh->name, ACCESS_READ, ACCESS_QUEUE, name, err);
        if (st == EDAD_OK)
            st = access_check(b, user, vh->name, ACCESS_WRITE, ACCESS_EXCHANGE, dlx, err);
    }
    return st;
}

edad_status access_check_bind(struct vhost *vh, const char *user, bool dest_is_queue,
                              struct edad_bytes destination, struct edad_bytes source,
                              struct broker_err *err)
{
    struct broker *b = vh->broker;
    if (!access_enabled(b))
        return EDAD_OK;
    edad_status st = access_check(b, user, vh->name, ACCESS_WRITE,
                                  dest_is_queue ? ACCESS_QUEUE : ACCESS_EXCHANGE, destination, err);
    /* then the default-exchange refusal (the broker's), then read on the source */
    if (st != EDAD_OK || source.len == 0 || (!dest_is_queue && destination.len == 0))
        return st;
    return access_check(b, user, vh->name, ACCESS_READ, ACCESS_EXCHANGE, source, err);
}

/* ---- vhosts and limits ---------------------------------------------------------------------- */

struct vhost *access_vhost_add(struct broker *b, const char *name)
{
    bool existed = broker_vhost_find(b, bytes_from_cstr(name)) != NULL;
    struct vhost *vh = broker_vhost_add(b, name);
    if (!existed)
        changed(b);
    return vh;
}

static void limit_remove(struct access_store *s, const char *vhost)
{
    for (struct vlimit **lp = &s->limits; *lp; lp = &(*lp)->next) {
        if (strcmp((*lp)->vhost, vhost) == 0) {
            struct vlimit *l = *lp;
            *lp = l->next;
            free(l->vhost);
            free(l);
            return;
        }
    }
}

edad_status access_vhost_delete(struct broker *b, const char *name)
{
    struct access_store *s = store_of(b);
    if (broker_vhost_delete(b, bytes_from_cstr(name)) != EDAD_OK)
        return EDAD_ERR_NOT_FOUND;
    perms_remove(s, NULL, name);
    limit_remove(s, name);
    changed(b);
    return EDAD_OK;
}

edad_status access_vhost_limits_set(struct broker *b, const char *vhost,
                                    const struct access_limits *l)
{
    struct access_store *s = store_of(b);
    if (!broker_vhost_find(b, bytes_from_cstr(vhost)))
        return EDAD_ERR_NOT_FOUND;
    limit_remove(s, vhost);
    if (l->max_connections >= 0 || l->max_queues >= 0) {
        struct vlimit *v = xcalloc(1, sizeof(*v));
        v->vhost = xstrdup(vhost);
        v->l = *l;
        v->next = s->limits;
        s->limits = v;
    }
    changed(b);
    return EDAD_OK;
}

void access_vhost_limits_get(struct broker *b, const char *vhost, struct access_limits *out)
{
    struct vlimit *l = limit_find(store_of(b), vhost);
    out->max_connections = l ? l->l.max_connections : -1;
    out->max_queues = l ? l->l.max_queues : -1;
}

void access_seed_default(struct broker *b, const char *user, const char *password,
                         const char *vhost)
{
    access_vhost_add(b, vhost);
    struct access_user_spec spec = {.password = password, .tags = "administrator"};
    if (access_user_put(b, user, &spec, NULL) == EDAD_OK)
        access_permission_set(b, user, vhost, ".*", ".*", ".*", NULL);
}

void access_free(struct broker *b)
{
    struct access_store *s = b->access;
    if (!s)
        return;
    while (s->users) {
        struct user *u = s->users;
        s->users = u->next;
        tags_free(u);
        free(u->hash);
        free(u->name);
        free(u);
    }
    perms_remove(s, NULL, NULL);
    while (s->limits)
        limit_remove(s, s->limits->vhost);
    free(s);
    b->access = NULL;
}
