/*
 * cte.c - helpers for the issue-4 conformance suites (see cte.h).  Tables
 * are packed by hand from the 0-9-1 field types; x-death is decoded with a
 * small walker over arrays of tables.  Failure messages say what arrived.
 */
#include "cte.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- tables ------------------------------------------------------------------ */

static void cte_key(struct raw_buf *t, const char *key, uint8_t type)
{
    raw_put_shortstr(t, key);
    raw_put_u8(t, type);
}

void cte_vtable(struct raw_buf *t, const char *types, va_list ap)
{
    size_t m = raw_table_begin(t);
    for (const char *p = types; *p; p++) {
        const char *key = va_arg(ap, const char *);
        switch (*p) {
        case 'S': {
            const char *s = va_arg(ap, const char *);
            cte_key(t, key, 'S');
            raw_put_longstr(t, s, (uint32_t)strlen(s));
            break;
        }
        case 't':
            cte_key(t, key, 't');
            raw_put_u8(t, va_arg(ap, int) ? 1 : 0);
            break;
        case 'b':
            cte_key(t, key, 'b');
            raw_put_u8(t, (uint8_t)(int8_t)va_arg(ap, int));
            break;
        case 's':
            cte_key(t, key, 's');
            raw_put_u16(t, (uint16_t)(int16_t)va_arg(ap, int));
            break;
        case 'u':
            cte_key(t, key, 'u');
            raw_put_u16(t, (uint16_t)va_arg(ap, unsigned));
            break;
        case 'I':
            cte_key(t, key, 'I');
            raw_put_u32(t, (uint32_t)va_arg(ap, int));
            break;
        case 'i':
            cte_key(t, key, 'i');
            raw_put_u32(t, (uint32_t)va_arg(ap, unsigned));
            break;
        case 'l':
            cte_key(t, key, 'l');
            raw_put_u64(t, (uint64_t)va_arg(ap, long long));
            break;
        case 'T':
            cte_key(t, key, 'T');
            raw_put_u64(t, (uint64_t)va_arg(ap, long long));
            break;
        case 'd': {
            double d = va_arg(ap, double);
            uint64_t bits;
            memcpy(&bits, &d, sizeof(bits));
            cte_key(t, key, 'd');
            raw_put_u64(t, bits);
            break;
        }
        case 'V':
            cte_key(t, key, 'V');
            break;
        case 'A': {
            const char *s = va_arg(ap, const char *);
            uint32_t n = (uint32_t)strlen(s);
            cte_key(t, key, 'A');
            raw_put_u32(t, 1 + 4 + n);
            raw_put_u8(t, 'S');
            raw_put_longstr(t, s, n);
            break;
        }
        default:
            ck_abort_msg("cte_table: unknown type '%c'", *p);
        }
    }
    raw_table_end(t, m);
}

void cte_table(struct raw_buf *t, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cte_vtable(t, types, ap);
    va_end(ap);
}

void cte_queue_declare(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                       const char *types, ...)
{
    struct raw_buf t;
    va_list ap;
    raw_buf_init(&t);
    va_start(ap, types);
    cte_vtable(&t, types, ap);
    va_end(ap);
    ctm_queue_declare(c, ch, name, flags, &t, NULL, 0, NULL, NULL);
    raw_buf_free(&t);
}

void cte_queue_declare_fails(struct raw_conn *c, uint16_t ch, const char *name, unsigned flags,
                             uint16_t code, const char *fragments, const char *types, ...)
{
    struct raw_buf t;
    va_list ap;
    raw_buf_init(&t);
    va_start(ap, types);
    cte_vtable(&t, types, ap);
    va_end(ap);
    ctm_send_queue_declare(c, ch, name, flags, &t);
    raw_buf_free(&t);
    ctm_expect_channel_error(c, ch, code, fragments, RAW_QUEUE, CTM_QUEUE_DECLARE);
}

void cte_consume_args(struct raw_conn *c, uint16_t ch, const char *queue, const char *tag,
                      unsigned flags, const struct raw_buf *args, char *tag_out,
                      size_t tag_len)
{
    struct ctm_in in;
    ctm_send_basic_consume(c, ch, queue, tag, flags, args);
    if (flags & CTM_C_NOWAIT) {
        if (tag_out)
            snprintf(tag_out, tag_len, "%s", tag);
        return;
    }
    ctm_expect(c, &in, ch, RAW_BASIC, CTM_BASIC_CONSUME_OK);
    if (tag[0])
        ck_assert_msg(strcmp(in.consumer_tag, tag) == 0, "consume-ok tag '%s', want '%s'",
                      in.consumer_tag, tag);
    if (tag_out)
        snprintf(tag_out, tag_len, "%s", in.consumer_tag);
    ctm_in_free(&in);
}

void cte_publish_headers(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                         unsigned flags, const struct raw_buf *headers, const char *body)
{
    struct ctm_props p;
    memset(&p, 0, sizeof(p));
    p.headers = headers;
    ctm_publish(c, ch, exchange, rk, flags, &p, body, strlen(body));
}

void cte_publish_expiring(struct raw_conn *c, uint16_t ch, const char *exchange, const char *rk,
                          const char *expiration, const char *body)
{
    struct ctm_props p;
    memset(&p, 0, sizeof(p));
    p.expiration = expiration;
    ctm_publish(c, ch, exchange, rk, 0, &p, body, strlen(body));
}

void cte_publish_priority(struct raw_conn *c, uint16_t ch, const char *rk, uint8_t priority,
                          const char *body)
{
    struct ctm_props p;
    memset(&p, 0, sizeof(p));
    p.has_priority = true;
    p.priority = priority;
    ctm_publish(c, ch, "", rk, 0, &p, body, strlen(body));
}

void cte_expect_confirms_any(struct raw_conn *c, uint16_t ch, uint64_t first, uint64_t last,
                             struct ctm_confirms *out)
{
    struct ctm_confirms st = {0, 0, 0, 0};
    size_t n = (size_t)(last - first + 1), left = n;
    uint8_t *done = calloc(n, 1);
    ck_assert(done != NULL);
    while (left > 0) {
        struct ctm_in in;
        char d[512] = "";
        enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
        bool ack = rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_ACK);
        bool nack = rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_NACK);
        if (!ack && !nack) {
            if (in.frame.payload)
                ctm_in_describe(&in, d, sizeof(d));
            ctm_in_free(&in);
            free(done);
            ck_abort_msg("waiting for %zu more confirms up to %llu: got %s (rc %d)", left,
                         (unsigned long long)last, d, (int)rc);
        }
        st.frames++;
        uint64_t lo = in.multiple ? first : in.delivery_tag;
        if (in.multiple)
            st.multiple_frames++;
        ck_assert_msg(in.delivery_tag >= first && in.delivery_tag <= last,
                      "confirm for %llu outside %llu..%llu", (unsigned long long)in.delivery_tag,
                      (unsigned long long)first, (unsigned long long)last);
        for (uint64_t t = lo; t <= in.delivery_tag; t++) {
            if (done[t - first])
                continue;
            done[t - first] = 1;
            left--;
            if (ack)
                st.acked++;
            else
                st.nacked++;
        }
        ctm_in_free(&in);
    }
    free(done);
    if (out)
        *out = st;
}

void cte_queue_delete_busy(struct raw_conn *c, uint16_t ch, const char *q)
{
    ctm_send_queue_delete(c, ch, q, 0);
    for (;;) {
        struct ctm_in in;
        char d[512] = "";
        enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
        bool done = rc == RAW_OK && ctm_in_is(&in, ch, RAW_QUEUE, CTM_QUEUE_DELETE_OK);
        bool skip = rc == RAW_OK && in.class_id == RAW_BASIC &&
                    (in.method_id == CTM_BASIC_CANCEL || in.method_id == CTM_BASIC_DELIVER);
        if (!done && !skip && in.frame.payload)
            ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        if (done)
            return;
        ck_assert_msg(skip, "deleting '%s': expected queue.delete-ok, got %s (rc %d)", q, d,
                      (int)rc);
    }
}

/* ---- decoding headers ------------------------------------------------------------ */

/* Skip one value of `type` at cur; val and len get its bytes (strings, arrays, tables: body). */
static bool cte_skip(struct raw_cursor *cur, uint8_t type, const uint8_t **val, uint32_t *len)
{
    uint32_t fixed;
    switch (type) {
    case 't': case 'b': case 'B': fixed = 1; break;
    case 's': case 'u': fixed = 2; break;
    case 'I': case 'i': case 'f': fixed = 4; break;
    case 'l': case 'L': case 'd': case 'T': fixed = 8; break;
    case 'D': fixed = 5; break;
    case 'V': fixed = 0; break;
    case 'S': case 'x': case 'A': case 'F':
        *val = raw_get_longstr(cur, len);
        return !cur->bad;
    default:
        return false;
    }
    if (cur->left < fixed)
        return false;
    *val = cur->p;
    *len = fixed;
    cur->p += fixed;
    cur->left -= fixed;
    return true;
}

static bool cte_int_of(uint8_t type, const uint8_t *v, int64_t *out)
{
    switch (type) {
    case 'b': *out = (int8_t)v[0]; return true;
    case 'B': *out = v[0]; return true;
    case 's': *out = (int16_t)((v[0] << 8) | v[1]); return true;
    case 'u': *out = (uint16_t)((v[0] << 8) | v[1]); return true;
    case 'I':
    case 'i': {
        uint32_t u = ((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) | ((uint32_t)v[2] << 8) | v[3];
        *out = type == 'I' ? (int64_t)(int32_t)u : (int64_t)u;
        return true;
    }
    case 'l':
    case 'L':
    case 'T': {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = (u << 8) | v[i];
        *out = (int64_t)u;
        return true;
    }
    default:
        return false;
    }
}

bool cte_header_find(const struct ctm_in *in, const char *key, uint8_t *type,
                     const uint8_t **val, uint32_t *len)
{
    const uint8_t *tbl;
    uint32_t tlen;
    if (!ctm_prop_headers(in, &tbl, &tlen))
        return false;
    return raw_table_find(tbl, tlen, key, type, val, len);
}

bool cte_header_str(const struct ctm_in *in, const char *key, char *out, size_t len)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t n;
    if (!cte_header_find(in, key, &t, &v, &n) || t != 'S' || len == 0)
        return false;
    size_t k = n < len - 1 ? n : len - 1;
    memcpy(out, v, k);
    out[k] = '\0';
    return true;
}

bool cte_header_int(const struct ctm_in *in, const char *key, int64_t *out)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t n;
    if (!cte_header_find(in, key, &t, &v, &n))
        return false;
    return cte_int_of(t, v, out);
}

bool cte_table_int(const uint8_t *tbl, uint32_t len, const char *key, int64_t *out,
                   uint8_t *type)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t n;
    if (!raw_table_find(tbl, len, key, &t, &v, &n))
        return false;
    if (type)
        *type = t;
    return cte_int_of(t, v, out);
}

static void cte_copy_str(char *out, size_t outlen, const uint8_t *v, uint32_t n)
{
    size_t k = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, v, k);
    out[k] = '\0';
}

static void cte_death_decode(const uint8_t *tbl, uint32_t len, struct cte_death *d)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t n;
    memset(d, 0, sizeof(*d));
    raw_table_get_string(tbl, len, "queue", d->queue, sizeof(d->queue));
    raw_table_get_string(tbl, len, "reason", d->reason, sizeof(d->reason));
    raw_table_get_string(tbl, len, "exchange", d->exchange, sizeof(d->exchange));
    d->has_count = cte_table_int(tbl, len, "count", &d->count, &d->count_type);
    if (raw_table_find(tbl, len, "time", &t, &v, &n)) {
        d->has_time = true;
        d->time_type = t;
    }
    if (raw_table_find(tbl, len, "original-expiration", &t, &v, &n) && t == 'S') {
        d->has_original_expiration = true;
        cte_copy_str(d->original_expiration, sizeof(d->original_expiration), v, n);
    }
    if (raw_table_find(tbl, len, "routing-keys", &t, &v, &n) && t == 'A') {
        struct raw_cursor cur;
        raw_cursor_init(&cur, v, n);
        while (cur.left > 0 && !cur.bad) {
            uint8_t et = raw_get_u8(&cur);
            const uint8_t *ev;
            uint32_t en;
            if (!cte_skip(&cur, et, &ev, &en))
                break;
            if (et == 'S' && d->nrkeys < CTE_MAX_RKEYS)
                cte_copy_str(d->rkeys[d->nrkeys++], sizeof(d->rkeys[0]), ev, en);
        }
    }
}

size_t cte_deaths(const struct ctm_in *in, struct cte_death *out, size_t max)
{
    uint8_t t;
    const uint8_t *v;
    uint32_t n;
    if (!cte_header_find(in, "x-death", &t, &v, &n))
        return 0;
    ck_assert_msg(t == 'A', "x-death has field type '%c', want an array ('A')", t);
    struct raw_cursor cur;
    size_t count = 0;
    raw_cursor_init(&cur, v, n);
    while (cur.left > 0) {
        uint8_t et = raw_get_u8(&cur);
        const uint8_t *ev;
        uint32_t en;
        ck_assert_msg(!cur.bad && cte_skip(&cur, et, &ev, &en), "x-death array is malformed");
        ck_assert_msg(et == 'F', "x-death entry %zu has type '%c', want a table ('F')", count,
                      et);
        if (count < max)
            cte_death_decode(ev, en, &out[count]);
        count++;
    }
    return count;
}

/* ---- waiting --------------------------------------------------------------------- */

bool cte_queue_exists(struct raw_conn *c, uint16_t ch, const char *q)
{
    char err[256];
    struct ctm_in in;
    ctm_send_queue_declare(c, ch, q, CTM_Q_PASSIVE, NULL);
    ck_assert_msg(ctm_read(c, &in, CT_REPLY_MS) == RAW_OK, "no reply to a passive declare");
    if (ctm_in_is(&in, ch, RAW_CHANNEL, RAW_CHANNEL_CLOSE)) {
        ck_assert_msg(in.reply_code == RAW_NOT_FOUND, "passive declare of '%s': %u '%s'", q,
                      in.reply_code, in.reply_text);
        ctm_in_free(&in);
        ck_assert(raw_send_close_ok(c, ch, RAW_CHANNEL) == 0);
        ck_assert_msg(raw_channel_open(c, ch, err, sizeof(err)), "reopen: %s", err);
        return false;
    }
    ck_assert_msg(ctm_in_is(&in, ch, RAW_QUEUE, CTM_QUEUE_DECLARE_OK), "passive declare: %s",
                  ctm_in_describe(&in, err, sizeof(err)));
    ctm_in_free(&in);
    return true;
}

void cte_wait_queue_gone(struct raw_conn *c, uint16_t ch, const char *q)
{
    for (int waited = 0; waited <= CT_CLOSE_MS; waited += 20) {
        if (!cte_queue_exists(c, ch, q))
            return;
        harness_sleep_ms(20);
    }
    ck_abort_msg("queue '%s' still exists", q);
}

/* A probe delivered to a consumer of the probed queue (ignored by the helpers). */
static bool cte_is_probe_delivery(const struct ctm_in *in)
{
    return in->class_id == RAW_BASIC && in->method_id == CTM_BASIC_DELIVER && in->body &&
           strcmp((const char *)in->body, "probe") == 0;
}

/* One mandatory probe on a confirm channel: true when it was routed. */
static bool cte_probe(struct raw_conn *c, uint16_t ch, const char *q, uint64_t seq)
{
    bool returned = false;
    ctm_publish(c, ch, "", q, CTM_P_MANDATORY, NULL, "probe", 5);
    for (;;) {
        struct ctm_in in;
        char d[512] = "";
        enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
        if (rc == RAW_OK && cte_is_probe_delivery(&in)) {
            ctm_in_free(&in);
            continue;
        }
        if (rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_RETURN)) {
            returned = true;
            ctm_in_free(&in);
            continue;
        }
        if (rc == RAW_OK && ctm_in_is(&in, ch, RAW_BASIC, CTM_BASIC_ACK) &&
            in.delivery_tag == seq) {
            ctm_in_free(&in);
            return !returned;
        }
        if (in.frame.payload)
            ctm_in_describe(&in, d, sizeof(d));
        ctm_in_free(&in);
        ck_abort_msg("probing queue '%s': expected basic.return or basic.ack %llu, got %s (rc %d)",
                     q, (unsigned long long)seq, d, (int)rc);
    }
}

static void cte_probe_channel(struct raw_conn *c, uint16_t ch, bool open)
{
    char err[256];
    if (open) {
        ck_assert_msg(raw_channel_open(c, ch, err, sizeof(err)), "probe channel: %s", err);
        ctm_confirm_select(c, ch);
    } else {
        ck_assert(raw_send_close(c, ch, RAW_CHANNEL, RAW_REPLY_SUCCESS, "probe done") == 0);
        for (;;) {
            struct ctm_in in;
            char d[512] = "";
            enum raw_rc rc = ctm_read(c, &in, CT_REPLY_MS);
            bool probe = rc == RAW_OK && cte_is_probe_delivery(&in);
            bool done = rc == RAW_OK && ctm_in_is(&in, ch, RAW_CHANNEL, RAW_CHANNEL_CLOSE_OK);
            if (!probe && !done && in.frame.payload)
                ctm_in_describe(&in, d, sizeof(d));
            ctm_in_free(&in);
            if (done)
                break;
            ck_assert_msg(probe, "closing probe channel %u: got %s (rc %d)", ch, d, (int)rc);
        }
    }
}

bool cte_queue_alive_quietly(struct raw_conn *c, uint16_t ch, const char *q)
{
    cte_probe_channel(c, ch, true);
    bool alive = cte_probe(c, ch, q, 1);
    cte_probe_channel(c, ch, false);
    return alive;
}

void cte_wait_queue_gone_quietly(struct raw_conn *c, uint16_t ch, const char *q)
{
    cte_probe_channel(c, ch, true);
    for (uint64_t seq = 1; seq <= (uint64_t)CT_CLOSE_MS / 20; seq++) {
        if (!cte_probe(c, ch, q, seq)) {
            cte_probe_channel(c, ch, false);
            return;
        }
        harness_sleep_ms(20);
    }
    ck_abort_msg("queue '%s' still exists", q);
}

void cte_collect(struct raw_conn *c, uint16_t ch, struct ctm_in *ins, size_t n, bool ack)
{
    for (size_t i = 0; i < n; i++) {
        char d[512] = "";
        enum raw_rc rc = ctm_read(c, &ins[i], CT_CLOSE_MS);
        if (rc != RAW_OK || !ctm_in_is(&ins[i], ch, RAW_BASIC, CTM_BASIC_DELIVER)) {
            if (ins[i].frame.payload)
                ctm_in_describe(&ins[i], d, sizeof(d));
            ck_abort_msg("delivery %zu of %zu on channel %u: got %s (rc %d)", i + 1, n, ch, d,
                         (int)rc);
        }
        if (ack)
            ctm_send_basic_ack(c, ch, ins[i].delivery_tag, false);
    }
}

void cte_ins_free(struct ctm_in *ins, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ctm_in_free(&ins[i]);
}

void cte_drain_bodies(struct raw_conn *c, uint16_t ch, const char *q, char *out, size_t len)
{
    size_t used = 0;
    struct ctm_in in;
    out[0] = '\0';
    while (ctm_basic_get(c, ch, q, true, &in)) {
        int k = snprintf(out + used, len - used, "%s%s", used ? "," : "",
                         (const char *)in.body);
        ctm_in_free(&in);
        ck_assert_msg(k >= 0 && (size_t)k < len - used, "drained bodies do not fit");
        used += (size_t)k;
    }
}

int64_t cte_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
