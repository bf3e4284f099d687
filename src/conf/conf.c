/*
 * conf.c - edad's configuration, driven by the option table options.def:
 * defaults, the rabbitmq.conf-style parser, -s overrides, --print-defaults,
 * the shipped conf file and SIGHUP reload all walk that one table, so no
 * code here names an individual option.  It only fills struct edad_conf:
 * opening listeners, logging and auth are the server's and session's job.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "edad/conf.h"

#define CONF_FILE_MAX (1024 * 1024)   /* a bigger file is not a conf file */
#define CONF_WRAP 76                  /* column for wrapped help text */

enum opt_type {
    OPT_TYPE_STRING,    /* char *, heap */
    OPT_TYPE_UINT,      /* unsigned integer of the field's width */
    OPT_TYPE_SECONDS,   /* same, in seconds */
    OPT_TYPE_MS,        /* same, in milliseconds */
    OPT_TYPE_BYTES,     /* same, in bytes; OPT_UNITS adds KB/MB/GB */
    OPT_TYPE_BOOL,      /* bool: true | false */
    OPT_TYPE_LOGLEVEL,  /* enum log_level */
    OPT_TYPE_LISTENER,  /* <field>[] + n_<field>, family by name */
    OPT_TYPE_USERFLAG,  /* NULL-terminated char ** of members set true */
    OPT_TYPE_CHOICE,    /* unsigned: index of a word of choice set <max> */
    OPT_TYPE_STRLIST,   /* struct conf_strlist, family: ordered values */
};

/* The words of each CHOICE set (enum conf_choice_set), in index order. */
static const char *const choice_words[][3] = {
    [CONF_CHOICES_SSL_VERIFY] = {"verify_none", "verify_peer", NULL},
    [CONF_CHOICES_CERT_LOGIN] = {"distinguished_name", "common_name", NULL},
};

enum {
    OPT_RELOAD = 1u << 0,     /* SIGHUP applies a new value */
    OPT_FAMILY = 1u << 1,     /* key is <prefix>.<member>; <prefix> = none */
    OPT_INFINITY = 1u << 2,   /* "infinity" accepted, stored as 0 */
    OPT_FALSE_NULL = 1u << 3, /* "false" accepted, stored as NULL */
    OPT_UNITS = 1u << 4,      /* KB/MB/GB suffixes, 1024-based */
    OPT_EDAD = 1u << 5,       /* edad's own key, not RabbitMQ's */
};

struct conf_option {
    const char *key;
    enum opt_type type;
    size_t offset;          /* of the field in struct edad_conf */
    size_t size;            /* of the field */
    size_t count_offset;    /* LISTENER: of the n_<field> count */
    const char *def;        /* default as conf-file text */
    uint64_t min;
    uint64_t max;
    unsigned flags;
    const char *shipped;    /* active value in conf/edad.conf, or NULL */
    const char *help;
};

#define FIELD_SIZE(field) sizeof(((struct edad_conf *)0)->field)

/* ---- compile-time checks: each field fits its option's type ----------- */

#define UINT_FITS(sz, max) \
    (((sz) == 1 || (sz) == 2 || (sz) == 4 || (sz) == 8) && \
     (uint64_t)(max) <= (UINT64_MAX >> (8 * (8 - (sz)))))
#define OPT_FITS_STRING(sz, max) ((sz) == sizeof(char *))
#define OPT_FITS_UINT(sz, max) UINT_FITS(sz, max)
#define OPT_FITS_SECONDS(sz, max) UINT_FITS(sz, max)
#define OPT_FITS_MS(sz, max) UINT_FITS(sz, max)
#define OPT_FITS_BYTES(sz, max) UINT_FITS(sz, max)
#define OPT_FITS_BOOL(sz, max) ((sz) == sizeof(bool))
#define OPT_FITS_LOGLEVEL(sz, max) ((sz) == sizeof(enum log_level))
#define OPT_FITS_LISTENER(sz, max) \
    ((sz) == sizeof(struct conf_listener) * CONF_MAX_LISTENERS && (max) <= 65535)
#define OPT_FITS_USERFLAG(sz, max) ((sz) == sizeof(char **))
#define OPT_FITS_CHOICE(sz, max) \
    ((sz) == sizeof(unsigned) && (max) < EDAD_ARRAY_LEN(choice_words))
#define OPT_FITS_STRLIST(sz, max) ((sz) == sizeof(struct conf_strlist))

/* Where a LISTENER option keeps its count: n_<field>, right after it. */
#define COUNT_OFFSET_LISTENER(field) offsetof(struct edad_conf, n_##field)
#define COUNT_OFFSET_STRING(field) 0
#define COUNT_OFFSET_UINT(field) 0
#define COUNT_OFFSET_SECONDS(field) 0
#define COUNT_OFFSET_MS(field) 0
#define COUNT_OFFSET_BYTES(field) 0
#define COUNT_OFFSET_BOOL(field) 0
#define COUNT_OFFSET_LOGLEVEL(field) 0
#define COUNT_OFFSET_USERFLAG(field) 0
#define COUNT_OFFSET_CHOICE(field) 0
#define COUNT_OFFSET_STRLIST(field) 0

#define EDAD_SECTION(title)
#define EDAD_OPT(key, type, field, def, min, max, flags, shipped, help)   \
    _Static_assert(OPT_FITS_##type(FIELD_SIZE(field), max) &&               \
                   (uint64_t)(min) <= (uint64_t)(max),                      \
                   key ": field width or bounds do not match the option");
#include "options.def"
#undef EDAD_OPT
#undef EDAD_SECTION

/* ---- the table ---------------------------------------------------------- */

enum opt_index {
#define EDAD_SECTION(title)
#define EDAD_OPT(key, type, field, ...) OPT_IDX_##field,
#include "options.def"
#undef EDAD_OPT
#undef EDAD_SECTION
    OPT_COUNT
};
_Static_assert(OPT_COUNT <= 64, "family_defaulted has one bit per option");

static const struct conf_option options[OPT_COUNT] = {
#define EDAD_SECTION(title)
#define EDAD_OPT(key, type, field, def, min, max, flags, shipped, help)   \
    {key, OPT_TYPE_##type, offsetof(struct edad_conf, field), FIELD_SIZE(field), \
     COUNT_OFFSET_##type(field), def, min, max, flags, shipped, help},
#include "options.def"
#undef EDAD_OPT
#undef EDAD_SECTION
};

/* Sections and options in file order, for the shipped conf file. */
struct conf_item {
    const char *section;   /* NULL for an option */
    int opt;               /* index into options[], -1 for a section */
};

static const struct conf_item layout[] = {
#define EDAD_SECTION(title) {title, -1},
#define EDAD_OPT(key, type, field, ...) {NULL, OPT_IDX_##field},
#include "options.def"
#undef EDAD_OPT
#undef EDAD_SECTION
};

/* ---- small helpers ------------------------------------------------------ */

static edad_status failf(char *err, size_t errlen, const char *fmt, ...) EDAD_PRINTF(3, 4);

/* Write a message into err (if any) and return EDAD_ERR_INVALID. */
static edad_status failf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return EDAD_ERR_INVALID;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Newly allocated copy of [p, p+n) without leading and trailing blanks. */
static char *trim_dup(const char *p, size_t n)
{
    while (n && is_blank(*p)) {
        p++;
        n--;
    }
    while (n && is_blank(p[n - 1]))
        n--;
    return bytes_strdup((struct edad_bytes){(const uint8_t *)p, n});
}

/* Copy s into dst for an error message: at most 64 bytes, control and
   non-ASCII bytes shown as '?', so hostile input can't garble a terminal. */
static const char *printable(char *dst, size_t dstlen, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < dstlen && i < 64; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    dst[i] = '\0';
    if (s[i] && dstlen > 4 && i >= 3)
        memcpy(dst + i - 3, "...", 3);
    return dst;
}

static void *field_ptr(struct edad_conf *c, const struct conf_option *o)
{
    return (char *)c + o->offset;
}

static const void *field_cptr(const struct edad_conf *c, const struct conf_option *o)
{
    return (const char *)c + o->offset;
}

static uint64_t bit_of(const struct conf_option *o)
{
    return UINT64_C(1) << (o - options);
}

static void uint_store(void *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1: { uint8_t x = (uint8_t)v; memcpy(p, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

/* Length of a family's prefix: the key without its last component. */
static size_t family_prefix_len(const struct conf_option *o)
{
    return (size_t)(strrchr(o->key, '.') - o->key);
}

/* Placeholder shown for a family member in help output. */
static const char *family_placeholder(const struct conf_option *o)
{
    if (o->type == OPT_TYPE_USERFLAG)
        return "<user>";
    return o->type == OPT_TYPE_STRLIST ? "<n>" : "<name>";
}

/*
 * The option key names, or NULL.  *member is NULL for a plain option,
 * "" for a family's bare prefix (listeners.tcp), else the member name.
 */
static const struct conf_option *option_find(const char *key, const char **member)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct conf_option *o = &options[i];
        if (o->flags & OPT_FAMILY) {
            size_t n = family_prefix_len(o);
            if (strncmp(key, o->key, n) != 0)
                continue;
            if (key[n] == '\0') {
                *member = "";
                return o;
            }
            if (key[n] == '.' && key[n + 1] != '\0') {
                *member = key + n + 1;
                return o;
            }
        } else if (strcmp(key, o->key) == 0) {
            *member = NULL;
            return o;
        }
    }
    return NULL;
}

/* ---- value parsers: each leaves *c untouched on error ------------------- */

/* Decimal digits only, no sign, no blanks; false on junk or overflow. */
static bool parse_u64(const char *s, const char **end, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *end = p;
    *out = v;
    return true;
}

static edad_status parse_number(const struct conf_option *o, const char *key,
                                const char *v, uint64_t *out, char *err, size_t errlen)
{
    char shown[80];
    const char *end;
    uint64_t n = 0, mult = 1;

    if ((o->flags & OPT_INFINITY) && strcmp(v, "infinity") == 0) {
        *out = 0;
        return EDAD_OK;
    }
    if (!parse_u64(v, &end, &n))
        goto bad;
    if (*end && (o->flags & OPT_UNITS)) {
        if (strcmp(end, "KB") == 0 || strcmp(end, "kb") == 0)
            mult = UINT64_C(1) << 10;
        else if (strcmp(end, "MB") == 0 || strcmp(end, "mb") == 0)
            mult = UINT64_C(1) << 20;
        else if (strcmp(end, "GB") == 0 || strcmp(end, "gb") == 0)
            mult = UINT64_C(1) << 30;
        else
            goto bad;
        if (n > UINT64_MAX / mult)
            return failf(err, errlen, "%s: %s is above the maximum %" PRIu64,
                         key, printable(shown, sizeof(shown), v), o->max);
        n *= mult;
    } else if (*end) {
        goto bad;
    }
    if (n < o->min)
        return failf(err, errlen, "%s: %s is below the minimum %" PRIu64 "%s",
                     key, printable(shown, sizeof(shown), v), o->min,
                     (o->flags & OPT_INFINITY) && o->min == 1
                         ? " (use infinity for no limit)" : "");
    if (n > o->max)
        return failf(err, errlen, "%s: %s is above the maximum %" PRIu64,
                     key, printable(shown, sizeof(shown), v), o->max);
    *out = n;
    return EDAD_OK;
bad:
    printable(shown, sizeof(shown), v);
    if (o->flags & OPT_UNITS)
        return failf(err, errlen, "%s: '%s' is not a size (an integer, optionally "
                     "followed by KB, MB or GB)", key, shown);
    if (o->flags & OPT_INFINITY)
        return failf(err, errlen, "%s: '%s' is neither an integer nor infinity", key, shown);
    return failf(err, errlen, "%s: '%s' is not a non-negative integer", key, shown);
}

static edad_status parse_bool(const char *key, const char *v, bool *out,
                              char *err, size_t errlen)
{
    char shown[80];
    if (strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0)
        *out = false;
    else
        return failf(err, errlen, "%s: '%s' is not true or false", key,
                     printable(shown, sizeof(shown), v));
    return EDAD_OK;
}

static edad_status parse_loglevel(const char *key, const char *v, enum log_level *out,
                                  char *err, size_t errlen)
{
    char shown[80];
    /* RabbitMQ's levels that edad folds into its own */
    static const struct { const char *name; enum log_level lvl; } aliases[] = {
        {"notice", EDAD_LOG_INFO},
        {"alert", EDAD_LOG_CRITICAL},
        {"emergency", EDAD_LOG_CRITICAL},
    };
    if (log_level_parse(v, out) == EDAD_OK)
        return EDAD_OK;
    for (size_t i = 0; i < EDAD_ARRAY_LEN(aliases); i++) {
        if (strcmp(v, aliases[i].name) == 0) {
            *out = aliases[i].lvl;
            return EDAD_OK;
        }
    }
    return failf(err, errlen, "%s: '%s' is not a log level (debug, info, warning, "
                 "error, critical or none)", key, printable(shown, sizeof(shown), v));
}

static bool is_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A host name: letters, digits, '-', '.', '_'; no empty label. */
static bool is_hostname(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  (ch == '.' && s[i + 1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

/*
 * PORT | IPv4:PORT | IPv6:PORT | [IPv6]:PORT | hostname:PORT into *l
 * (name untouched).  Port bounds come from the option.
 */
static edad_status parse_listener(const struct conf_option *o, const char *key,
                                  const char *v, struct conf_listener *l,
                                  char *err, size_t errlen)
{
    char shown[80], host[sizeof(l->host)];
    const char *colon = strrchr(v, ':');
    const char *port_s = v;
    size_t hlen = 0;
    uint64_t port = 0;
    const char *end;

    host[0] = '\0';
    if (colon) {
        const char *h = v;
        hlen = (size_t)(colon - v);
        port_s = colon + 1;
        if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
            h++;
            hlen -= 2;
            if (!memchr(h, ':', hlen))
                goto bad_host;   /* brackets only around IPv6 */
        }
        if (hlen == 0 || hlen >= sizeof(host))
            goto bad_host;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        unsigned char addr[16];
        if (strchr(host, ':')) {
            if (inet_pton(AF_INET6, host, addr) != 1)
                goto bad_host;
        } else if (strspn(host, "0123456789.") == hlen) {
            if (inet_pton(AF_INET, host, addr) != 1)
                goto bad_host;
        } else if (!is_hostname(host, hlen)) {
            goto bad_host;
        }
    }
    if (!is_digits(port_s, strlen(port_s)) || !parse_u64(port_s, &end, &port))
        return failf(err, errlen, "%s: '%s' is not a listener (PORT, IPv4:PORT, "
                     "IPv6:PORT or [IPv6]:PORT)", key, printable(shown, sizeof(shown), v));
    if (port < o->min || port > o->max)
        return failf(err, errlen, "%s: port %s is outside %" PRIu64 "..%" PRIu64, key,
                     printable(shown, sizeof(shown), port_s), o->min, o->max);
    memcpy(l->host, host, hlen + 1);
    l->port = (uint16_t)port;
    return EDAD_OK;
bad_host:
    return failf(err, errlen, "%s: '%s' is not a listener address (use PORT, IPv4:PORT, "
                 "IPv6:PORT or [IPv6]:PORT)", key, printable(shown, sizeof(shown), v));
}

/* ---- NULL-terminated string lists (loopback_users) ---------------------- */

static size_t list_len(char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

static bool list_has(char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void list_free(char ***plist)
{
    char **list = *plist;
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
    *plist = NULL;
}

static void list_clear(char ***plist)
{
    list_free(plist);
    *plist = xcalloc(1, sizeof(char *));
}

static void list_add(char ***plist, const char *s)
{
    size_t n = list_len(*plist);
    char **list = xrealloc(*plist, (n + 2) * sizeof(char *));
    list[n] = xstrdup(s);
    list[n + 1] = NULL;
    *plist = list;
}

static void list_remove(char ***plist, const char *s)
{
    char **list = *plist;
    size_t j = 0;
    for (size_t i = 0; list && list[i]; i++) {
        if (strcmp(list[i], s) == 0)
            free(list[i]);
        else
            list[j++] = list[i];
    }
    if (list)
        list[j] = NULL;
}

static char **list_dup(char *const *src)
{
    size_t n = list_len(src);
    char **list = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        list[i] = xstrdup(src[i]);
    return list;
}

/* Same members, in any order (lists never hold duplicates). */
static bool list_equal(char *const *a, char *const *b)
{
    if (list_len(a) != list_len(b))
        return false;
    for (size_t i = 0; a && a[i]; i++)
        if (!list_has(b, a[i]))
            return false;
    return true;
}

/* ---- setting one option ------------------------------------------------- */

static edad_status set_family_listener(struct edad_conf *c, const struct conf_option *o,
                                       const char *key, const char *member, const char *v,
                                       char *err, size_t errlen)
{
    char shown[80], shown_key[80];
    struct conf_listener l;
    struct conf_listener *list = field_ptr(c, o);
    unsigned *count = (unsigned *)((char *)c + o->count_offset);

    if (member[0] == '\0') {
        if (strcmp(v, "none") != 0)
            return failf(err, errlen, "%s: only 'none' is accepted here; set "
                         "%s.<name> = [host:]port to add a listener", key, key);
        *count = 0;
        c->family_defaulted &= ~bit_of(o);
        return EDAD_OK;
    }
    size_t n = strlen(member);
    if (n >= sizeof(l.name) ||
        strspn(member, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_-") != n)
        return failf(err, errlen, "%s: listener name '%s' must be 1..%zu letters, "
                     "digits, '_' or '-'", printable(shown_key, sizeof(shown_key), key),
                     printable(shown, sizeof(shown), member), sizeof(l.name) - 1);
    memset(&l, 0, sizeof(l));
    memcpy(l.name, member, n + 1);
    edad_status st = parse_listener(o, key, v, &l, err, errlen);
    if (st != EDAD_OK)
        return st;

    unsigned i = 0;
    bool defaulted = c->family_defaulted & bit_of(o);
    if (!defaulted) {
        while (i < *count && strcmp(list[i].name, l.name) != 0)
            i++;
        if (i == CONF_MAX_LISTENERS)
            return failf(err, errlen, "%s: too many listeners (at most %d)", key,
                         CONF_MAX_LISTENERS);
    }
    if (defaulted) {
        *count = 0;
        c->family_defaulted &= ~bit_of(o);
    }
    list[i] = l;
    if (i == *count)
        (*count)++;
    return EDAD_OK;
}

static edad_status set_family_userflag(struct edad_conf *c, const struct conf_option *o,
                                       const char *key, const char *member, const char *v,
                                       char *err, size_t errlen)
{
    char shown[80];
    char ***plist = field_ptr(c, o);
    bool on = false;

    if (member[0] == '\0') {
        if (strcmp(v, "none") != 0)
            return failf(err, errlen, "%s: only 'none' is accepted here; set "
                         "%s.<user> = true|false for one user", key, key);
        list_clear(plist);
        c->family_defaulted &= ~bit_of(o);
        return EDAD_OK;
    }
    size_t n = strlen(member);
    if (n < o->min || n > o->max)
        return failf(err, errlen, "%s: user name must be %" PRIu64 "..%" PRIu64
                     " bytes long", printable(shown, sizeof(shown), key), o->min, o->max);
    edad_status st = parse_bool(key, v, &on, err, errlen);
    if (st != EDAD_OK)
        return st;
    if (c->family_defaulted & bit_of(o)) {
        list_clear(plist);
        c->family_defaulted &= ~bit_of(o);
    }
    if (!*plist)
        list_clear(plist);
    if (on && !list_has(*plist, member))
        list_add(plist, member);
    else if (!on)
        list_remove(plist, member);
    return EDAD_OK;
}

/* An ordered list family: <prefix>.<name> = VALUE; <prefix> = none empties it. */
static edad_status set_family_strlist(struct edad_conf *c, const struct conf_option *o,
                                      const char *key, const char *member, const char *v,
                                      char *err, size_t errlen)
{
    char shown[80];
    struct conf_strlist *sl = field_ptr(c, o);

    if (member[0] == '\0') {
        if (strcmp(v, "none") != 0)
            return failf(err, errlen, "%s: only 'none' is accepted here; set "
                         "%s.<name> = VALUE for one entry", key, key);
        list_clear(&sl->names);
        list_clear(&sl->values);
        c->family_defaulted &= ~bit_of(o);
        return EDAD_OK;
    }
    size_t n = strlen(v);
    if (n < o->min || n > o->max)
        return failf(err, errlen, "%s: value must be %" PRIu64 "..%" PRIu64 " bytes long",
                     printable(shown, sizeof(shown), key), o->min, o->max);
    if (c->family_defaulted & bit_of(o)) {
        list_clear(&sl->names);
        list_clear(&sl->values);
        c->family_defaulted &= ~bit_of(o);
    }
    if (!sl->names)
        list_clear(&sl->names);
    if (!sl->values)
        list_clear(&sl->values);
    for (size_t i = 0; sl->names[i]; i++) {
        if (strcmp(sl->names[i], member) == 0) {
            free(sl->values[i]);
            sl->values[i] = xstrdup(v);
            return EDAD_OK;
        }
    }
    list_add(&sl->names, member);
    list_add(&sl->values, v);
    return EDAD_OK;
}

static void strlist_free(struct conf_strlist *sl)
{
    list_free(&sl->names);
    list_free(&sl->values);
}

static edad_status parse_choice(const struct conf_option *o, const char *key, const char *v,
                                unsigned *out, char *err, size_t errlen)
{
    char shown[80], words[160];
    const char *const *w = choice_words[o->max];
    size_t used = 0;
    words[0] = '\0';
    for (unsigned i = 0; w[i]; i++) {
        if (strcmp(v, w[i]) == 0) {
            *out = i;
            return EDAD_OK;
        }
        used += (size_t)snprintf(words + used, sizeof(words) - used, "%s%s",
                                 i == 0 ? "" : (w[i + 1] ? ", " : " or "), w[i]);
        if (used >= sizeof(words))
            used = sizeof(words) - 1;
    }
    return failf(err, errlen, "%s: '%s' is not %s", key, printable(shown, sizeof(shown), v),
                 words);
}

static edad_status set_string(struct edad_conf *c, const struct conf_option *o,
                              const char *key, const char *v, char *err, size_t errlen)
{
    char **p = field_ptr(c, o);
    size_t n = strlen(v);

    if ((o->flags & OPT_FALSE_NULL) && strcmp(v, "false") == 0) {
        EDAD_FREE(p);
        return EDAD_OK;
    }
    if (n == 0 && o->min > 0)
        return failf(err, errlen, "%s: value is empty", key);
    if (n < o->min)
        return failf(err, errlen, "%s: value is shorter than %" PRIu64 " bytes", key, o->min);
    if (n > o->max)
        return failf(err, errlen, "%s: value is longer than %" PRIu64 " bytes", key, o->max);
    free(*p);
    *p = xstrdup(v);
    return EDAD_OK;
}

/* Dispatch on the option's type; key is shown in messages. */
static edad_status option_set(struct edad_conf *c, const struct conf_option *o,
                              const char *key, const char *member, const char *v,
                              char *err, size_t errlen)
{
    edad_status st;
    uint64_t n = 0;

    if (member && !(o->flags & OPT_FAMILY))
        return failf(err, errlen, "%s: not a family key", key);   /* unreachable */
    switch (o->type) {
    case OPT_TYPE_STRING:
        return set_string(c, o, key, v, err, errlen);
    case OPT_TYPE_UINT:
    case OPT_TYPE_SECONDS:
    case OPT_TYPE_MS:
    case OPT_TYPE_BYTES:
        st = parse_number(o, key, v, &n, err, errlen);
        if (st == EDAD_OK)
            uint_store(field_ptr(c, o), o->size, n);
        return st;
    case OPT_TYPE_BOOL:
        return parse_bool(key, v, field_ptr(c, o), err, errlen);
    case OPT_TYPE_LOGLEVEL:
        return parse_loglevel(key, v, field_ptr(c, o), err, errlen);
    case OPT_TYPE_LISTENER:
        return set_family_listener(c, o, key, member, v, err, errlen);
    case OPT_TYPE_USERFLAG:
        return set_family_userflag(c, o, key, member, v, err, errlen);
    case OPT_TYPE_CHOICE:
        return parse_choice(o, key, v, field_ptr(c, o), err, errlen);
    case OPT_TYPE_STRLIST:
        return set_family_strlist(c, o, key, member, v, err, errlen);
    }
    return failf(err, errlen, "%s: option has an unknown type", key);
}

edad_status conf_set(struct edad_conf *c, const char *key, const char *value,
                     char *err, size_t errlen)
{
    char shown[80];
    char *k = trim_dup(key, strlen(key));
    char *v = trim_dup(value, strlen(value));
    const char *member = NULL;
    edad_status st;

    const struct conf_option *o = option_find(k, &member);
    if (!o) {
        st = failf(err, errlen, "unknown key '%s'", printable(shown, sizeof(shown), k));
        goto out;
    }
    for (const char *p = v; *p; p++) {
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
            st = failf(err, errlen, "%s: value contains a control character",
                       printable(shown, sizeof(shown), k));
            goto out;
        }
    }
    st = option_set(c, o, k, member, v, err, errlen);
out:
    free(k);
    free(v);
    return st;
}

/* ---- defaults and lifetime ---------------------------------------------- */

/*
 * Apply o's default.  A STRLIST default lists its values separated by
 * blanks, given the members 1, 2, ... ("PLAIN AMQPLAIN" is
 * auth_mechanisms.1 = PLAIN, auth_mechanisms.2 = AMQPLAIN).
 */
static bool init_default(struct edad_conf *c, const struct conf_option *o,
                         const char *member, char *err, size_t errlen)
{
    if (o->type != OPT_TYPE_STRLIST || member[0] == '\0')
        return option_set(c, o, o->key, member, o->def, err, errlen) == EDAD_OK;
    const char *p = o->def;
    for (unsigned i = 1; *p; i++) {
        char name[16], value[256];
        size_t n = strcspn(p, " ");
        if (n == 0 || n >= sizeof(value)) {
            failf(err, errlen, "%s: bad default", o->key);
            return false;
        }
        memcpy(value, p, n);
        value[n] = '\0';
        snprintf(name, sizeof(name), "%u", i);
        if (option_set(c, o, o->key, name, value, err, errlen) != EDAD_OK)
            return false;
        p += n;
        p += strspn(p, " ");
    }
    return true;
}

void conf_init(struct edad_conf *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct conf_option *o = &options[i];
        const char *member = NULL;
        if (o->flags & OPT_FAMILY)
            member = o->def && strcmp(o->def, "none") == 0 ? ""
                                                           : o->key + family_prefix_len(o) + 1;
        if (o->def && !init_default(c, o, member, err, sizeof(err))) {
            /* a bad default is a bug in options.def, caught by check_conf */
            fprintf(stderr, "edad: bad default in options.def: %s\n", err);
            abort();
        }
        if (o->type == OPT_TYPE_USERFLAG && !*(char ***)field_ptr(c, o))
            list_clear(field_ptr(c, o));
        if (o->type == OPT_TYPE_STRLIST) {
            struct conf_strlist *sl = field_ptr(c, o);
            if (!sl->names)
                list_clear(&sl->names);
            if (!sl->values)
                list_clear(&sl->values);
        }
        if (o->flags & OPT_FAMILY)
            c->family_defaulted |= bit_of(o);
    }
}

void conf_free(struct edad_conf *c)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct conf_option *o = &options[i];
        if (o->type == OPT_TYPE_STRING)
            EDAD_FREE((char **)field_ptr(c, o));
        else if (o->type == OPT_TYPE_USERFLAG)
            list_free(field_ptr(c, o));
        else if (o->type == OPT_TYPE_STRLIST)
            strlist_free(field_ptr(c, o));
        else if (o->type == OPT_TYPE_LISTENER)
            *(unsigned *)((char *)c + o->count_offset) = 0;
    }
}

bool conf_is_loopback_user(const struct edad_conf *c, const char *user)
{
    return user && list_has(c->loopback_users, user);
}

/* ---- parsing text ------------------------------------------------------- */

/* One line [p, eol): blank, comment, or key = value. */
static edad_status parse_line(struct edad_conf *c, const char *p, const char *eol,
                              char *msg, size_t msglen)
{
    while (p < eol && is_blank(*p))
        p++;
    if (p == eol || *p == '#')
        return EDAD_OK;
    const char *eq = memchr(p, '=', (size_t)(eol - p));
    if (!eq)
        return failf(msg, msglen, "syntax error: expected 'key = value'");
    char *key = trim_dup(p, (size_t)(eq - p));
    char *value = trim_dup(eq + 1, (size_t)(eol - eq - 1));
    edad_status st;
    if (key[0] == '\0')
        st = failf(msg, msglen, "syntax error: no key before '='");
    else
        st = conf_set(c, key, value, msg, msglen);
    free(key);
    free(value);
    return st;
}

static edad_status parse_text(struct edad_conf *c, const char *name, const char *text,
                              size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    unsigned long lineno = 0;
    char msg[512];

    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;   /* UTF-8 byte-order mark some editors write */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        edad_status st;
        lineno++;
        if (memchr(p, '\0', (size_t)(eol - p)))
            st = failf(msg, sizeof(msg), "NUL byte in line");
        else
            st = parse_line(c, p, eol, msg, sizeof(msg));
        if (st != EDAD_OK)
            return failf(err, errlen, "%s:%lu: %s", name, lineno, msg);
        p = nl ? nl + 1 : end;
    }
    return EDAD_OK;
}

edad_status conf_load_string(struct edad_conf *c, const char *name, const char *text,
                             char *err, size_t errlen)
{
    return parse_text(c, name, text, strlen(text), err, errlen);
}

edad_status conf_load_file(struct edad_conf *c, const char *path, char *err, size_t errlen)
{
    edad_status st = EDAD_ERR_IO;
    size_t len = 0, cap = 4096;
    char *buf = NULL;
    FILE *fp = fopen(path, "r");

    if (!fp) {
        failf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= CONF_FILE_MAX) {
                st = failf(err, errlen, "%s: %d bytes or more, not a configuration file",
                           path, CONF_FILE_MAX);
                goto fail;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            if (ferror(fp)) {
                failf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
                goto fail;
            }
            break;
        }
    }
    st = parse_text(c, path, buf, len, err, errlen);
fail:
    free(buf);
    if (fp)
        fclose(fp);
    return st;
}

/* ---- reload ------------------------------------------------------------- */

static bool option_equal(const struct conf_option *o, const struct edad_conf *a,
                         const struct edad_conf *b)
{
    const void *pa = field_cptr(a, o), *pb = field_cptr(b, o);
    switch (o->type) {
    case OPT_TYPE_STRING: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
    }
    case OPT_TYPE_USERFLAG:
        return list_equal(*(char **const *)pa, *(char **const *)pb);
    case OPT_TYPE_STRLIST: {
        const struct conf_strlist *la = pa, *lb = pb;
        size_t n = list_len(la->values);
        if (n != list_len(lb->values))
            return false;
        for (size_t i = 0; i < n; i++)
            if (strcmp(la->values[i], lb->values[i]) != 0)
                return false;
        return true;
    }
    case OPT_TYPE_LISTENER: {
        unsigned na = *(const unsigned *)((const char *)a + o->count_offset);
        unsigned nb = *(const unsigned *)((const char *)b + o->count_offset);
        if (na != nb)
            return false;
        for (unsigned i = 0; i < na; i++) {
            const struct conf_listener *la = (const struct conf_listener *)pa + i;
            const struct conf_listener *lb = (const struct conf_listener *)pb + i;
            if (strcmp(la->name, lb->name) || strcmp(la->host, lb->host) ||
                la->port != lb->port)
                return false;
        }
        return true;
    }
    default:
        return memcmp(pa, pb, o->size) == 0;
    }
}

static void option_copy(const struct conf_option *o, struct edad_conf *dst,
                        const struct edad_conf *src)
{
    void *pd = field_ptr(dst, o);
    const void *ps = field_cptr(src, o);
    switch (o->type) {
    case OPT_TYPE_STRING: {
        const char *s = *(char *const *)ps;
        free(*(char **)pd);
        *(char **)pd = s ? xstrdup(s) : NULL;
        break;
    }
    case OPT_TYPE_USERFLAG:
        list_free(pd);
        *(char ***)pd = list_dup(*(char **const *)ps);
        break;
    case OPT_TYPE_STRLIST: {
        struct conf_strlist *d = pd;
        const struct conf_strlist *sl = ps;
        strlist_free(d);
        d->names = list_dup(sl->names);
        d->values = list_dup(sl->values);
        break;
    }
    case OPT_TYPE_LISTENER:
        memcpy(pd, ps, o->size);
        memcpy((char *)dst + o->count_offset, (const char *)src + o->count_offset,
               sizeof(unsigned));
        break;
    default:
        memcpy(pd, ps, o->size);
        break;
    }
    dst->family_defaulted = (dst->family_defaulted & ~bit_of(o)) |
                            (src->family_defaulted & bit_of(o));
}

unsigned conf_apply_reloadable(struct edad_conf *live, const struct edad_conf *fresh)
{
    unsigned ignored = 0;
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct conf_option *o = &options[i];
        if (option_equal(o, live, fresh))
            continue;
        if (o->flags & OPT_RELOAD) {
            option_copy(o, live, fresh);
        } else {
            size_t n = (o->flags & OPT_FAMILY) ? family_prefix_len(o) : strlen(o->key);
            log_warning("conf: %.*s changed; restart edad to apply it", (int)n, o->key);
            ignored++;
        }
    }
    return ignored;
}

bool conf_key_is_reloadable(const char *key)
{
    const char *member;
    const struct conf_option *o = option_find(key, &member);
    return o && (o->flags & OPT_RELOAD);
}

/* ---- printing ----------------------------------------------------------- */

/* Greedy word wrap of text at CONF_WRAP columns, each line led by prefix. */
static void print_wrapped(FILE *out, const char *prefix, const char *text)
{
    size_t plen = strlen(prefix), col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t w = strcspn(p, " ");
        if (col > 0 && col + 1 + w > CONF_WRAP) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0) {
            fputs(prefix, out);
            col = plen;
        } else {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, w, out);
        col += w;
        p += w;
    }
    if (col > 0)
        fputc('\n', out);
}

/* Display name: "heartbeat" or "listeners.tcp.<name>". */
static void option_display_key(const struct conf_option *o, char *buf, size_t len)
{
    if (o->flags & OPT_FAMILY)
        snprintf(buf, len, "%.*s.%s", (int)family_prefix_len(o), o->key,
                 family_placeholder(o));
    else
        snprintf(buf, len, "%s", o->key);
}

static void option_type_text(const struct conf_option *o, char *buf, size_t len)
{
    const char *t = "?";
    switch (o->type) {
    case OPT_TYPE_STRING: t = "string"; break;
    case OPT_TYPE_UINT: t = "integer"; break;
    case OPT_TYPE_SECONDS: t = "integer (seconds)"; break;
    case OPT_TYPE_MS: t = "integer (milliseconds)"; break;
    case OPT_TYPE_BYTES: t = "integer (bytes)"; break;
    case OPT_TYPE_BOOL: t = "true or false"; break;
    case OPT_TYPE_LOGLEVEL: t = "log level"; break;
    case OPT_TYPE_LISTENER: t = "listener (PORT, IP:PORT or [IPv6]:PORT)"; break;
    case OPT_TYPE_USERFLAG: t = "true or false, per user"; break;
    case OPT_TYPE_CHOICE: t = "one word"; break;
    case OPT_TYPE_STRLIST: t = "string per <n>, an ordered list"; break;
    }
    snprintf(buf, len, "%s%s%s%s", t,
             (o->flags & OPT_UNITS) ? ", KB/MB/GB suffix allowed" : "",
             (o->flags & OPT_INFINITY) ? ", or infinity" : "",
             (o->flags & OPT_FALSE_NULL) ? ", or false" : "");
}

static void option_bounds_text(const struct conf_option *o, char *buf, size_t len)
{
    switch (o->type) {
    case OPT_TYPE_STRING:
        snprintf(buf, len, "length %" PRIu64 "..%" PRIu64, o->min, o->max);
        break;
    case OPT_TYPE_BOOL:
        snprintf(buf, len, "-");
        break;
    case OPT_TYPE_LOGLEVEL:
        snprintf(buf, len, "debug|info|warning|error|critical|none");
        break;
    case OPT_TYPE_LISTENER:
        snprintf(buf, len, "port %" PRIu64 "..%" PRIu64 ", at most %d listeners",
                 o->min, o->max, CONF_MAX_LISTENERS);
        break;
    case OPT_TYPE_USERFLAG:
        snprintf(buf, len, "user name length %" PRIu64 "..%" PRIu64, o->min, o->max);
        break;
    case OPT_TYPE_CHOICE: {
        size_t used = 0;
        buf[0] = '\0';
        for (const char *const *w = choice_words[o->max]; *w && used < len; w++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     w == choice_words[o->max] ? "" : "|", *w);
        break;
    }
    case OPT_TYPE_STRLIST:
        snprintf(buf, len, "value length %" PRIu64 "..%" PRIu64, o->min, o->max);
        break;
    default:
        snprintf(buf, len, "%" PRIu64 "..%" PRIu64, o->min, o->max);
        break;
    }
}

/*
 * The default as conf-file lines, each led by lead and ended by sep:
 * "heartbeat = 60", "listeners.ssl = none", "auth_mechanisms.1 = PLAIN"
 * then "auth_mechanisms.2 = AMQPLAIN", or "key = (not set)".
 */
static void print_default_lines(FILE *out, const struct conf_option *o, const char *lead,
                                const char *sep)
{
    int plen = (int)((o->flags & OPT_FAMILY) ? family_prefix_len(o) : strlen(o->key));
    if (!o->def) {
        fprintf(out, "%s%s = (not set)%s", lead, o->key, sep);
    } else if ((o->flags & OPT_FAMILY) && strcmp(o->def, "none") == 0) {
        fprintf(out, "%s%.*s = none%s", lead, plen, o->key, sep);
    } else if (o->type == OPT_TYPE_STRLIST) {
        const char *p = o->def;
        for (unsigned i = 1; *p; i++) {
            size_t n = strcspn(p, " ");
            fprintf(out, "%s%.*s.%u = %.*s%s", lead, plen, o->key, i, (int)n, p, sep);
            p += n;
            p += strspn(p, " ");
        }
    } else {
        fprintf(out, "%s%s = %s%s", lead, o->key, o->def, sep);
    }
}

void conf_print_defaults(FILE *out)
{
    char key[128], type[128], bounds[128];
    fprintf(out, "# edad configuration options: key, type, default, bounds, whether\n"
                 "# SIGHUP reloads it, and what it does.  File format: one\n"
                 "# \"key = value\" per line, '#' starts a comment line.\n");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct conf_option *o = &options[i];
        option_display_key(o, key, sizeof(key));
        option_type_text(o, type, sizeof(type));
        option_bounds_text(o, bounds, sizeof(bounds));
        fprintf(out, "\n%s%s\n", key, (o->flags & OPT_EDAD) ? "  (edad)" : "");
        fprintf(out, "    type: %s\n", type);
        if (!o->def)
            fprintf(out, "    default: not set\n");
        else if (o->flags & OPT_FAMILY)
            print_default_lines(out, o, "    default: ", "\n");
        else
            fprintf(out, "    default: %s\n", o->def);
        fprintf(out, "    bounds: %s\n", bounds);
        fprintf(out, "    reloadable: %s\n", (o->flags & OPT_RELOAD) ? "yes" : "no");
        print_wrapped(out, "    ", o->help);
    }
}

void conf_print_conf(FILE *out)
{
    char type[128], bounds[128], note[512];
    fputs("# edad.conf - configuration of edad, an AMQP 0-9-1 message broker.\n"
          "#\n"
          "# The format is RabbitMQ's rabbitmq.conf format: one \"key = value\" per\n"
          "# line, blanks around '=' are ignored. A line whose first non-blank\n"
          "# character is '#' is a comment; a '#' after a value is part of the\n"
          "# value. Keys are RabbitMQ's where RabbitMQ has the option; options\n"
          "# marked (edad) are edad's own. Unknown keys and bad values stop edad\n"
          "# at start with the file, line and reason.\n"
          "#\n"
          "# Every option is listed below, commented out, with its default value;\n"
          "# uncomment a line to change it. `edad --print-defaults` prints the\n"
          "# same options with their types and bounds. Options marked reloadable\n"
          "# take effect on SIGHUP (systemctl reload edad); the others need a\n"
          "# restart.\n"
          "#\n"
          "# Generated from src/conf/options.def by `make regen-conf`.\n", out);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(layout); i++) {
        if (layout[i].section) {
            fprintf(out, "\n## ====================================================================\n"
                         "## %s\n"
                         "## ====================================================================\n",
                    layout[i].section);
            continue;
        }
        const struct conf_option *o = &options[layout[i].opt];
        option_type_text(o, type, sizeof(type));
        option_bounds_text(o, bounds, sizeof(bounds));
        fputs("\n", out);
        print_wrapped(out, "## ", o->help);
        snprintf(note, sizeof(note), "Type: %s%s%s; %s.%s", type,
                 strcmp(bounds, "-") ? "; " : "", strcmp(bounds, "-") ? bounds : "",
                 (o->flags & OPT_RELOAD) ? "reloadable" : "restart to change",
                 (o->flags & OPT_EDAD) ? " (edad's own option)" : "");
        print_wrapped(out, "## ", note);
        fputs("##\n", out);
        print_default_lines(out, o, "# ", "\n");
        if (o->shipped)
            fprintf(out, "%s = %s\n", o->key, o->shipped);
    }
}

/* ---- man page (edad.conf(5)) --------------------------------------------- */

/* text with roff specials escaped: '\' and '-' everywhere, '.'/'\'' at a
   line start. */
static void man_escaped(FILE *out, const char *text)
{
    bool bol = true;
    for (const char *p = text; *p; p++) {
        if (bol && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
        bol = *p == '\n';
    }
}

void conf_print_man(FILE *out)
{
    char key[128], type[128], bounds[128];
    fputs(".\\\" edad.conf.5 - generated from src/conf/options.def by `make regen-man`;\n"
          ".\\\" do not edit: a test fails when it differs from the option table.\n"
          ".TH EDAD.CONF 5 \"\" \"edad\" \"File Formats Manual\"\n"
          ".SH NAME\n"
          "edad.conf \\- configuration file of edad, an AMQP 0\\-9\\-1 message broker\n"
          ".SH SYNOPSIS\n"
          ".I SYSCONFDIR/edad/edad.conf\n"
          ".RI ( /etc/edad/edad.conf\n"
          "in a package; another file is chosen with\n.BR \"edad \\-c\" )\n"
          ".SH DESCRIPTION\n"
          "The format is RabbitMQ's rabbitmq.conf format: one\n"
          ".I key\n= \n.I value\n"
          "per line; blanks around the = are ignored.\n"
          "A line whose first non\\-blank character is # is a comment; a # after a value\n"
          "is part of the value.\n"
          "Keys are RabbitMQ's where RabbitMQ has the option; options marked\n"
          ".B (edad)\nare edad's own.\n"
          "An unknown key or a bad value stops edad at start with the file, line and\n"
          "reason (exit status 78).\n"
          ".PP\n"
          "Options marked\n.B reloadable\n"
          "take effect when edad receives SIGHUP\n"
          ".RB ( \"systemctl reload edad\" );\n"
          "a reload that finds the file invalid logs why and keeps the running\n"
          "configuration, and an option that needs a restart is reported in a log line\n"
          "and keeps its running value.\n"
          "Options given with\n.B edad \\-s\n"
          "are applied after the file, at start and on every reload.\n"
          ".PP\n"
          "The installed file lists every option, commented out, with its default;\n"
          ".B edad \\-\\-print\\-defaults\n"
          "prints the same table.\n"
          ".SH OPTIONS\n", out);
    for (size_t i = 0; i < EDAD_ARRAY_LEN(layout); i++) {
        if (layout[i].section) {
            fputs(".SS ", out);
            man_escaped(out, layout[i].section);
            fputs("\n", out);
            continue;
        }
        const struct conf_option *o = &options[layout[i].opt];
        option_display_key(o, key, sizeof(key));
        option_type_text(o, type, sizeof(type));
        option_bounds_text(o, bounds, sizeof(bounds));
        fputs(".TP\n.B ", out);
        man_escaped(out, key);
        fputs((o->flags & OPT_EDAD) ? " \" (edad)\"\n" : "\n", out);
        man_escaped(out, o->help);
        fputs("\n.br\nType: ", out);
        man_escaped(out, type);
        if (strcmp(bounds, "-")) {
            fputs("; ", out);
            man_escaped(out, bounds);
        }
        fputs((o->flags & OPT_RELOAD) ? "; reloadable.\n" : "; restart to change.\n", out);
        char *dflt = NULL;
        size_t dlen = 0;
        FILE *mem = open_memstream(&dflt, &dlen);
        if (mem) {
            print_default_lines(mem, o, "", "\n");
            fclose(mem);
            fputs(".br\nDefault:\n.nf\n", out);
            man_escaped(out, dflt);
            fputs(".fi\n", out);
            free(dflt);
        }
    }
    fputs(".SH SEE ALSO\n"
          ".BR edad (8),\n"
          ".BR systemctl (1)\n", out);
}
