/*
 * api_util.c - helpers the API handlers share: broker tables <-> JSON,
 * base64, RabbitMQ's binding properties_key, and list replies with
 * RabbitMQ's filter / sort / pagination parameters.  No resource logic.
 */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgmt_int.h"

/* ---- tables <-> JSON ---------------------------------------------------------- */

json_t *mgmt_json_name(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    /* not UTF-8: keep it printable and reversible enough to read */
    char *buf = xmalloc(len * 4 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80)
            buf[n++] = (char)c;
        else
            n += (size_t)sprintf(buf + n, "\\x%02x", c);
    }
    j = json_stringn(buf, n);
    free(buf);
    return j ? j : json_string("");
}

static json_t *value_to_json(const struct broker_value *v)
{
    switch (v->kind) {
    case BROKER_V_BOOL: return json_boolean(v->v.b);
    case BROKER_V_I8: case BROKER_V_U8: case BROKER_V_I16: case BROKER_V_U16:
    case BROKER_V_I32: case BROKER_V_U32: case BROKER_V_I64: case BROKER_V_TIMESTAMP:
        return json_integer(v->v.i);
    case BROKER_V_U64: return json_integer((json_int_t)v->v.u);
    case BROKER_V_FLOAT: case BROKER_V_DOUBLE: return json_real(v->v.d);
    case BROKER_V_DECIMAL: {
        double d = v->v.dec.value;
        for (unsigned i = 0; i < v->v.dec.scale; i++)
            d /= 10;
        return json_real(d);
    }
    case BROKER_V_STRING: case BROKER_V_BYTES:
        return mgmt_json_name((const char *)v->v.str.ptr, v->v.str.len);
    case BROKER_V_TABLE: return mgmt_table_to_json(&v->v.table);
    case BROKER_V_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v->v.array.count; i++)
            json_array_append_new(a, value_to_json(&v->v.array.values[i]));
        return a;
    }
    default: return json_null();
    }
}

json_t *mgmt_table_to_json(const struct broker_table *t)
{
    json_t *o = json_object();
    for (uint32_t i = 0; t && i < t->count; i++) {
        const struct broker_arg *e = &t->entries[i];
        char *k = bytes_strdup(e->key);
        json_object_set_new(o, k, value_to_json(&e->value));
        free(k);
    }
    return o;
}

static bool value_from_json(const json_t *j, struct arena *a, struct broker_value *v,
                            char *err, size_t errlen, int depth)
{
    memset(v, 0, sizeof(*v));
    if (depth > 32) {
        snprintf(err, errlen, "arguments nested too deeply");
        return false;
    }
    switch (json_typeof(j)) {
    case JSON_STRING: {
        size_t n = json_string_length(j);
        uint8_t *p = arena_alloc(a, n + 1);
        memcpy(p, json_string_value(j), n);
        v->kind = BROKER_V_STRING;
        v->v.str = (struct edad_bytes){p, n};
        return true;
    }
    case JSON_INTEGER:
        v->kind = BROKER_V_I64;
        v->v.i = json_integer_value(j);
        return true;
    case JSON_REAL:
        v->kind = BROKER_V_DOUBLE;
        v->v.d = json_real_value(j);
        return true;
    case JSON_TRUE: case JSON_FALSE:
        v->kind = BROKER_V_BOOL;
        v->v.b = json_is_true(j);
        return true;
    case JSON_NULL:
        v->kind = BROKER_V_VOID;
        return true;
    case JSON_OBJECT:
        v->kind = BROKER_V_TABLE;
        return mgmt_table_from_json(j, a, &v->v.table, err, errlen);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        struct broker_value *vals = arena_alloc(a, (n ? n : 1) * sizeof(*vals));
        for (size_t i = 0; i < n; i++)
            if (!value_from_json(json_array_get(j, i), a, &vals[i], err, errlen, depth + 1))
                return false;
        v->kind = BROKER_V_ARRAY;
        v->v.array.count = (uint32_t)n;
        v->v.array.values = vals;
        return true;
    }
    }
    snprintf(err, errlen, "unsupported argument value");
    return false;
}

bool mgmt_table_from_json(const json_t *obj, struct arena *a, struct broker_table *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!obj || json_is_null(obj))
        return true;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "arguments must be a JSON object");
        return false;
    }
    size_t n = json_object_size(obj);
    struct broker_arg *e = arena_alloc(a, (n ? n : 1) * sizeof(*e));
    const char *k;
    json_t *v;
    uint32_t i = 0;
    json_object_foreach((json_t *)obj, k, v) {
        size_t kl = strlen(k);
        if (kl > 255) {
            snprintf(err, errlen, "argument name too long");
            return false;
        }
        uint8_t *kp = arena_alloc(a, kl + 1);
        memcpy(kp, k, kl + 1);
        e[i].key = (struct edad_bytes){kp, kl};
        if (!value_from_json(v, a, &e[i].value, err, errlen, 0))
            return false;
        i++;
    }
    out->count = i;
    out->entries = e;
    return true;
}

/* ---- base64 ------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool mgmt_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
    while (len && (in[len - 1] == '=' || isspace((unsigned char)in[len - 1])))
        len--;
    uint8_t *o = xmalloc(len * 3 / 4 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)in[i]))
            continue;
        int v = b64_val((unsigned char)in[i]);
        if (v < 0) {
            free(o);
            return false;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6) {            /* a lone trailing character */
        free(o);
        return false;
    }
    *out = o;
    *outlen = n;
    return true;
}

char *mgmt_base64_encode(const uint8_t *in, size_t len)
{
    char *o = xmalloc((len + 2) / 3 * 4 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        o[n++] = b64[v >> 18 & 63];
        o[n++] = b64[v >> 12 & 63];
        o[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        o[n++] = i + 2 < len ? b64[v & 63] : '=';
    }
    o[n] = '\0';
    return o;
}

/* ---- bindings ---------------------------------------------------------------- */

/* RabbitMQ's quote_plus, then "~" as %7E. */
static size_t quote_binding(struct edad_bytes s, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = s.ptr[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.')
            out[n++] = (char)c;
        else if (c == ' ')
            out[n++] = '+';
        else
            n += (size_t)sprintf(out + n, "%%%02X", c);
    }
    out[n] = '\0';
    return n;
}

char *mgmt_binding_props_key(struct edad_bytes routing_key, const struct broker_table *args)
{
    if (!args || args->count == 0) {
        if (routing_key.len == 0)
            return xstrdup("~");
        char *out = xmalloc(routing_key.len * 3 + 1);
        quote_binding(routing_key, out);
        return out;
    }
    /* a short hash of the arguments, as RabbitMQ's (values differ: opaque) */
    json_t *j = mgmt_table_to_json(args);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    uint32_t h = 2166136261u;
    for (const char *p = s ? s : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    free(s);
    uint8_t hb[4] = {(uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
    char *enc = mgmt_base64_encode(hb, 4);
    for (char *p = enc; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=')
            *p = '\0';
    }
    char *out = xmalloc(routing_key.len * 3 + strlen(enc) + 2);
    size_t n = quote_binding(routing_key, out);
    out[n++] = '~';
    strcpy(out + n, enc);
    free(enc);
    return out;
}

json_t *mgmt_rate(double r)
{
    return json_pack("{s:f}", "rate", r);
}

/* ---- lists ---------------------------------------------------------------------- */

json_t *mgmt_filter_vhost(json_t *items, const char *vhost)
{
    if (!vhost)
        return items;
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *v = json_string_value(json_object_get(it, "vhost"));
        if (v && strcmp(v, vhost) == 0)
            json_array_append(out, it);
    }
    json_decref(items);
    return out;
}

/* Field at a dotted path ("message_stats.publish_details.rate"), or NULL. */
static json_t *json_path(json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    return o;
}

static int vhost_name_cmp(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int c = strcmp(json_string_value(json_object_get(a, "vhost")),
                   json_string_value(json_object_get(b, "vhost")));
    return c ? c : strcmp(json_string_value(json_object_get(a, "name")),
                          json_string_value(json_object_get(b, "name")));
}

json_t *mgmt_sort_by_vhost_name(json_t *items)
{
    size_t n = json_array_size(items);
    json_t **v = xmalloc((n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(items, i));
    qsort(v, n, sizeof(*v), vhost_name_cmp);
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, v[i]);
    free(v);
    return items;
}

static const char *sort_key;

static int json_cmp_values(json_t *a, json_t *b)
{
    if (!a || !b || json_is_null(a) || json_is_null(b))
        return (a && !json_is_null(a)) - (b && !json_is_null(b));
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) - json_is_true(b);
    return json_typeof(a) - json_typeof(b);
}

static int sort_cmp(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    return json_cmp_values(json_path(a, sort_key), json_path(b, sort_key));
}

static bool truthy(const char *v)
{
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static bool parse_uint(const char *s, unsigned long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || s[0] == '-')
        return false;
    *out = v;
    return true;
}

static json_t *keep_columns(json_t *it, const char *columns)
{
    json_t *o = json_object();
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", columns);
    char *save = NULL;
    for (char *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        json_t *v = json_object_get(it, k);
        if (v)
            json_object_set(o, k, v);
    }
    return o;
}

void mgmt_reply_list(struct mgmt_req *r, struct mgmt_resp *o, json_t *items)
{
    /* objects of vhosts the user may not see are not listed */
    if (!(r->tags & MGMT_TAG_MONITORING)) {
        json_t *kept = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            json_t *v = json_object_get(it, "vhost");
            if (!v)
                v = json_object_get(json_object_get(it, "queue"), "vhost");
            if (!json_is_string(v) || mgmt_vhost_visible(r, json_string_value(v)))
                json_array_append(kept, it);
        }
        json_decref(items);
        items = kept;
    }
    size_t total = json_array_size(items);
    /* name filter: substring (case-insensitive) or a regular expression */
    const char *name = mgmt_req_query(r, "name");
    if (name && *name) {
        bool use_regex = truthy(mgmt_req_query(r, "use_regex"));
        regex_t re;
        if (use_regex && regcomp(&re, name, REG_EXTENDED | REG_NOSUB) != 0) {
            json_decref(items);
            mgmt_bad_request(o, "invalid regular expression");
            return;
        }
        json_t *kept = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            const char *n = json_string_value(json_object_get(it, "name"));
            if (!n)
                continue;
            bool ok = use_regex ? regexec(&re, n, 0, NULL, 0) == 0 : strcasestr(n, name) != NULL;
            if (ok)
                json_array_append(kept, it);
        }
        if (use_regex)
            regfree(&re);
        json_decref(items);
        items = kept;
    }
    size_t filtered = json_array_size(items);
    /* sort */
    const char *sort = mgmt_req_query(r, "sort");
    bool reverse = truthy(mgmt_req_query(r, "sort_reverse"));
    if ((sort && *sort) || reverse) {
        json_t **v = xmalloc((filtered ? filtered : 1) * sizeof(*v));
        for (size_t i = 0; i < filtered; i++)
            v[i] = json_incref(json_array_get(items, i));
        sort_key = sort && *sort ? sort : "name";
        qsort(v, filtered, sizeof(*v), sort_cmp);
        json_array_clear(items);
        for (size_t i = 0; i < filtered; i++)
            json_array_append_new(items, v[reverse ? filtered - 1 - i : i]);
        free(v);
    }
    /* columns */
    const char *columns = mgmt_req_query(r, "columns");
    if (columns && *columns) {
        json_t *c = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
            json_array_append_new(c, keep_columns(it, columns));
        json_decref(items);
        items = c;
    }
    /* pagination */
    const char *page_s = mgmt_req_query(r, "page");
    if (!page_s) {
        mgmt_reply_json(o, items);
        return;
    }
    unsigned long page = 0, page_size = 100;
    const char *ps = mgmt_req_query(r, "page_size");
    if (!parse_uint(page_s, &page) || page < 1) {
        json_decref(items);
        mgmt_bad_request(o, "Invalid page number");
        return;
    }
    if (ps && (!parse_uint(ps, &page_size) || page_size < 1 || page_size > 500)) {
        json_decref(items);
        mgmt_bad_request(o, "Page size out of range, should be between 1 and 500");
        return;
    }
    size_t page_count = (filtered + page_size - 1) / page_size;
    if (page > 1 && page > page_count) {
        json_decref(items);
        mgmt_bad_request(o, "Page out of range");
        return;
    }
    json_t *slice = json_array();
    for (size_t i = (page - 1) * page_size; i < filtered && i < page * page_size; i++)
        json_array_append(slice, json_array_get(items, i));
    json_decref(items);
    size_t n = json_array_size(slice);
    mgmt_reply_json(o, json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}",
                                 "filtered_count", (json_int_t)filtered,
                                 "item_count", (json_int_t)n,
                                 "items", slice,
                                 "page", (json_int_t)page,
                                 "page_count", (json_int_t)page_count,
                                 "page_size", (json_int_t)page_size,
                                 "total_count", (json_int_t)total));
}
