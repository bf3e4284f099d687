/*
 * channel.c - the channels of a connection: the lazily grown channel
 * table, the channel state machine, and content assembly (basic.publish ->
 * content header -> body frames up to body_size) with RabbitMQ's
 * unexpected-frame rules.  What a method does is in handle_channel.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

struct channel *channel_get(struct connection *c, uint16_t id)
{
    return id < c->n_channel_slots ? c->channels[id] : NULL;
}

struct channel *channel_open(struct connection *c, uint16_t id)
{
    if (id >= c->n_channel_slots) {
        uint32_t n = c->n_channel_slots ? c->n_channel_slots : 4;
        while (n <= id)
            n *= 2;
        if (n > 65536)
            n = 65536;
        c->channels = xrealloc(c->channels, n * sizeof(*c->channels));
        memset(c->channels + c->n_channel_slots, 0,
               (n - c->n_channel_slots) * sizeof(*c->channels));
        c->n_channel_slots = n;
    }
    struct channel *ch = xcalloc(1, sizeof(*ch));
    ch->conn = c;
    ch->id = id;
    ch->state = CHANNEL_OPEN;
    ch->content = CONTENT_IDLE;
    ch->flow_active = true;
    ch->next_tag = 1;
    unacked_init(&ch->unacked);
    c->channels[id] = ch;
    c->n_channels++;
    log_debug("connection %s: channel %u open", c->name, (unsigned)id);
    return ch;
}

static void channel_set_content(struct channel *ch, enum channel_content next)
{
    log_debug("connection %s: channel %u content %d -> %d", ch->conn->name, (unsigned)ch->id,
              (int)ch->content, (int)next);
    ch->content = next;
    if (next == CONTENT_IDLE) {
        message_unref(&ch->msg);
        ch->content_method = 0;
        ch->body_len = 0;
    }
}

void channel_set_state(struct channel *ch, enum channel_state next)
{
    if (ch->state == next)
        return;
    /* the only transition: OPEN -> CLOSING (closing ends in channel_free) */
    if (!(ch->state == CHANNEL_OPEN && next == CHANNEL_CLOSING)) {
        log_error("connection %s: channel %u: illegal state change %d -> %d", ch->conn->name,
                  (unsigned)ch->id, (int)ch->state, (int)next);
        abort();
    }
    log_debug("connection %s: channel %u OPEN -> CLOSING", ch->conn->name, (unsigned)ch->id);
    ch->state = next;
}

void channel_release(struct channel *ch)
{
    if (ch->released)
        return;
    ch->released = true;
    /* consumers first, so requeued messages are not delivered here again */
    deliver_cancel_all(ch);
    reply_release(ch);
    tx_release(ch);
    deliver_requeue_all(ch);
    confirm_unlist(ch);
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    struct connection *c = ch->conn;
    channel_release(ch);
    durable_forget(ch);
    confirm_free(ch);
    unacked_free(&ch->unacked);
    free(ch->tx_pubs);
    free(ch->tx_settles);
    message_unref(&ch->msg);
    free(ch->pub_names);
    c->channels[ch->id] = NULL;
    c->n_channels--;
    free(ch);
}

void channel_free_all(struct connection *c)
{
    /* a cancel here may delete an auto-delete queue whose consumers on
     * other channels of c would be told: c is going, tell nobody */
    c->dropping = true;
    for (uint32_t i = 0; i < c->n_channel_slots; i++)
        channel_free(c->channels[i]);
    c->dropping = false;
    /* the connection is going: so are its exclusive queues */
    if (c->vh)
        broker_connection_closed(vhost_broker(c->vh), c);
}

void channel_close_with_error(struct channel *ch, uint16_t code, const char *text,
                              uint32_t method_id)
{
    session_send_channel_close(ch->conn, ch->id, code, text, method_id);
    channel_set_content(ch, CONTENT_IDLE);
    channel_set_state(ch, CHANNEL_CLOSING);
    /* as RabbitMQ: the queues get their messages back at once */
    channel_release(ch);
}

/* ---- content assembly ------------------------------------------------------------------ */

void channel_begin_content(struct channel *ch, const struct amqp_method *m)
{
    const struct amqp_basic_publish *p = &m->u.basic_publish;
    if (!ch->pub_names)
        ch->pub_names = xmalloc(CHANNEL_PUB_NAMES);
    /* shortstrs: at most 255 bytes each, so both fit */
    if (p->exchange.len)
        memcpy(ch->pub_names, p->exchange.ptr, p->exchange.len);
    if (p->routing_key.len)
        memcpy(ch->pub_names + p->exchange.len, p->routing_key.ptr, p->routing_key.len);
    ch->publish = *p;
    ch->publish.exchange.ptr = ch->pub_names;
    ch->publish.routing_key.ptr = ch->pub_names + p->exchange.len;
    ch->content_method = m->id;
    ch->body_len = 0;
    ch->pub_reply_missing = false;
    channel_set_content(ch, CONTENT_AWAIT_HEADER);
}

static void channel_message_done(struct channel *ch)
{
    struct message *msg = ch->msg;
    struct amqp_basic_publish pub = ch->publish;
    ch->msg = NULL;
    channel_set_content(ch, CONTENT_IDLE);
    handle_channel_message(ch, &pub, msg);
}

/*
 * The expiration property as RabbitMQ parses it (string:to_integer, then
 * rabbit_misc:check_expiry): an optional sign and decimal digits, 0 ..
 * 315360000000 ms (10 years).  *ms = -1 when absent.  False with RabbitMQ's reason term in
 * why (no_integer, {leftover_string,"..."}, {value_negative,N},
 * {value_too_large,N}).
 */
static bool channel_parse_expiration(const struct amqp_basic_properties *p, int64_t *ms,
                                     char *why, size_t n)
{
    *ms = -1;
    if (!(p->flags & AMQP_BASIC_EXPIRATION_FLAG))
        return true;
    const uint8_t *s = p->expiration.ptr;
    size_t len = p->expiration.len, i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t d0 = i;
    while (i < len && s[i] == '0')
        i++;
    size_t nz = i;              /* first significant digit */
    uint64_t v = 0;
    bool big = false;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            big = true;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == d0) {
        snprintf(why, n, "no_integer");
        return false;
    }
    if (i < len) {
        snprintf(why, n, "{leftover_string,\"%.*s\"}", (int)(len - i), (const char *)s + i);
        return false;
    }
    if (neg && (v || big)) {
        snprintf(why, n, "{value_negative,-%.*s}", (int)(i - nz), (const char *)s + nz);
        return false;
    }
    if (big || v > UINT64_C(315360000000)) {
        snprintf(why, n, "{value_too_large,%.*s}", (int)(i - nz), (const char *)s + nz);
        return false;
    }
    *ms = (int64_t)v;
    return true;
}

/* The body size limits (RabbitMQ's, then max_message_size); false after
 * failing the channel. */
static bool channel_body_size_ok(struct channel *ch, uint32_t mid, uint64_t body_size)
{
    struct connection *c = ch->conn;
    if (body_size > SESSION_MAX_MSG_SIZE) {
        session_fail(c, ch->id, AMQP_FRAME_ERROR, mid, "content body size %llu exceeds "
                     "maximum allowed size %u", (unsigned long long)body_size,
                     SESSION_MAX_MSG_SIZE);
        return false;
    }
    uint64_t max = c->srv->conf->max_message_size;
    if (max && body_size > max) {
        /* checked on the header so a too-big body is never buffered; the
         * channel closes and ignores the body frames that follow */
        session_fail(c, ch->id, AMQP_PRECONDITION_FAILED, mid, "message size %llu is larger "
                     "than configured max size %llu", (unsigned long long)body_size,
                     (unsigned long long)max);
        return false;
    }
    return true;
}

/*
 * Decode and check a content header's properties the first time: on
 * success *info, *body_size and *raw_props (the bytes the message keeps;
 * a direct reply-to rewrites them) are set and the property bytes are
 * remembered when they may be reused; false after failing the channel.
 */
static bool channel_header_decode(struct channel *ch, const struct amqp_frame *f, uint32_t mid,
                                  struct message_info *info, uint64_t *body_size,
                                  struct edad_bytes *raw_props)
{
    struct connection *c = ch->conn;
    char oct[96];
    struct amqp_content_header h;
    if (amqp_content_header_decode(f->payload, &c->arena, &h) != EDAD_OK) {
        session_format_octets(oct, sizeof(oct), f->payload);
        session_fail(c, ch->id, AMQP_FRAME_ERROR, mid, "cannot decode %s", oct);
        return false;
    }
    if (!channel_body_size_ok(ch, mid, h.body_size))
        return false;
    if ((h.props.flags & AMQP_BASIC_USER_ID_FLAG) && c->user &&
        !bytes_eq_cstr(h.props.user_id, c->user)) {
        /* RabbitMQ's check_user_id (no impersonator tag in edad yet) */
        session_fail(c, ch->id, AMQP_PRECONDITION_FAILED, mid, "user_id property set to '%.*s' "
                     "but authenticated user was '%s'", (int)h.props.user_id.len,
                     (const char *)h.props.user_id.ptr, c->user);
        return false;
    }
    int64_t expiration;
    char why[300];
    if (!channel_parse_expiration(&h.props, &expiration, why, sizeof(why))) {
        session_fail(c, ch->id, AMQP_PRECONDITION_FAILED, mid, "invalid expiration '%.*s': %s",
                     (int)h.props.expiration.len, (const char *)h.props.expiration.ptr, why);
        return false;
    }
    *info = (struct message_info){
        .persistent = (h.props.flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && h.props.delivery_mode == 2,
        .has_priority = (h.props.flags & AMQP_BASIC_PRIORITY_FLAG) != 0,
        .priority = h.props.priority,
        .expiration_ms = expiration,
    };
    *body_size = h.body_size;
    *raw_props = h.raw_props;
    ch->hdr_cached = false;
    if (h.props.flags & AMQP_BASIC_REPLY_TO_FLAG) {
        /* direct reply-to: reply_to names the channel's pseudo-queue instead */
        reply_rewrite_props(ch, &h.props, raw_props);
    } else if (h.raw_props.len <= sizeof(ch->hdr_props)) {
        /* same bytes, same outcome: the user and the checks are fixed */
        ch->hdr_cached = true;
        ch->hdr_props_len = (uint8_t)h.raw_props.len;
        memcpy(ch->hdr_props, h.raw_props.ptr, h.raw_props.len);
        ch->hdr_info = *info;
    }
    return true;
}

static void channel_content_header(struct channel *ch, const struct amqp_frame *f)
{
    struct connection *c = ch->conn;
    uint32_t mid = ch->content_method;
    uint16_t want_class = AMQP_METHOD_CLASS_ID(mid);
    char oct[96];

    if (f->payload.len < 14) {
        /* RabbitMQ's analyze_frame: too short for class, weight, size, flags */
        session_format_octets(oct, sizeof(oct), f->payload);
        session_fail(c, ch->id, AMQP_FRAME_ERROR, 0, "type %u, %s: unknown_frame",
                     (unsigned)f->type, oct);
        return;
    }
    const uint8_t *p = f->payload.ptr;
    uint16_t klass = (uint16_t)(p[0] << 8 | p[1]);
    uint16_t weight = (uint16_t)(p[2] << 8 | p[3]);
    if (weight != 0) {
        session_fail(c, ch->id, AMQP_UNEXPECTED_FRAME, mid, "expected content header for "
                     "class %u, got non content header frame instead", (unsigned)want_class);
        return;
    }
    if (klass != want_class) {
        session_fail(c, ch->id, AMQP_UNEXPECTED_FRAME, mid, "expected content header for "
                     "class %u, got one for class %u instead", (unsigned)want_class,
                     (unsigned)klass);
        return;
    }
    struct message_info info;
    uint64_t body_size;
    struct edad_bytes raw_props = {p + 12, f->payload.len - 12};
    if (ch->hdr_cached && klass == AMQP_CLASS_BASIC && raw_props.len == ch->hdr_props_len &&
        memcmp(raw_props.ptr, ch->hdr_props, raw_props.len) == 0) {
        /* the properties of the last message again: known good */
        body_size = (uint64_t)p[4] << 56 | (uint64_t)p[5] << 48 | (uint64_t)p[6] << 40 |
                    (uint64_t)p[7] << 32 | (uint64_t)p[8] << 24 | (uint64_t)p[9] << 16 |
                    (uint64_t)p[10] << 8 | (uint64_t)p[11];
        if (!channel_body_size_ok(ch, mid, body_size))
            return;
        info = ch->hdr_info;
    } else if (!channel_header_decode(ch, f, mid, &info, &body_size, &raw_props)) {
        return;
    }
    /* one allocation: names, property bytes as received, room for the body */
    ch->msg = message_new(ch->publish.exchange, ch->publish.routing_key, raw_props,
                          body_size, &info);
    if (!ch->msg) {
        session_fail(c, ch->id, AMQP_INTERNAL_ERROR, mid, "cannot hold a message of %llu bytes",
                     (unsigned long long)body_size);
        return;
    }
    ch->body_len = 0;
    if (body_size == 0) {
        channel_message_done(ch);
        return;
    }
    channel_set_content(ch, CONTENT_AWAIT_BODY);
}

static void channel_content_body(struct channel *ch, const struct amqp_frame *f)
{
    struct edad_bytes body = message_body(ch->msg);
    uint64_t left = body.len - ch->body_len;
    if (f->payload.len > left) {
        session_fail(ch->conn, ch->id, AMQP_FRAME_ERROR, ch->content_method,
                     "content body frame exceeds remaining content size");
        return;
    }
    if (f->payload.len)
        memcpy(message_body_mut(ch->msg) + ch->body_len, f->payload.ptr, f->payload.len);
    ch->body_len += f->payload.len;
    if (ch->body_len == body.len)
        channel_message_done(ch);
}

/* ---- frames on a channel ------------------------------------------------------------------ */

static void channel_method_frame(struct connection *c, struct channel *ch, uint16_t id,
                                 const struct amqp_frame *f)
{
    struct amqp_method m;
    if (!session_decode_method(c, id, f, &m))
        return;

    if (!ch) {
        if (m.id != AMQP_CHANNEL_OPEN) {
            session_fail(c, id, AMQP_CHANNEL_ERROR, m.id, "expected 'channel.open'");
            return;
        }
        if (id > c->channel_max && c->channel_max != 0) {
            session_fail(c, id, AMQP_NOT_ALLOWED, m.id, "channel number %u is higher than the "
                         "negotiated channel_max (%u)", (unsigned)id, (unsigned)c->channel_max);
            return;
        }
        ch = channel_open(c, id);
        session_send_simple(c, id, AMQP_CHANNEL_OPEN_OK);
        return;
    }
    if (ch->state == CHANNEL_CLOSING) {
        if (m.id == AMQP_CHANNEL_CLOSE)
            session_send_simple(c, id, AMQP_CHANNEL_CLOSE_OK);
        else if (m.id == AMQP_CHANNEL_CLOSE_OK)
            channel_free(ch);
        return;
    }
    switch (ch->content) {
    case CONTENT_IDLE:
        dispatch_method(ch, &m);
        return;
    case CONTENT_AWAIT_HEADER:
        session_fail(c, id, AMQP_UNEXPECTED_FRAME, ch->content_method, "expected content "
                     "header for class %u, got non content header frame instead",
                     (unsigned)AMQP_METHOD_CLASS_ID(ch->content_method));
        return;
    case CONTENT_AWAIT_BODY:
        session_fail(c, id, AMQP_UNEXPECTED_FRAME, ch->content_method, "expected content body, "
                     "got non content body frame instead");
        return;
    }
}

void channel_handle_frame(struct connection *c, const struct amqp_frame *f)
{
    struct channel *ch = channel_get(c, f->channel);
    if (f->type == AMQP_FRAME_TYPE_METHOD) {
        channel_method_frame(c, ch, f->channel, f);
        return;
    }
    /* content header or body */
    if (ch && ch->state == CHANNEL_CLOSING)
        return;
    enum channel_content want = f->type == AMQP_FRAME_TYPE_HEADER ? CONTENT_AWAIT_HEADER
                                                                  : CONTENT_AWAIT_BODY;
    if (!ch || ch->content == CONTENT_IDLE) {
        session_fail(c, f->channel, AMQP_UNEXPECTED_FRAME, 0,
                     "expected method frame, got non method frame instead");
        return;
    }
    if (ch->content != want) {
        if (ch->content == CONTENT_AWAIT_HEADER)
            session_fail(c, f->channel, AMQP_UNEXPECTED_FRAME, ch->content_method,
                         "expected content header for class %u, got non content header frame "
                         "instead", (unsigned)AMQP_METHOD_CLASS_ID(ch->content_method));
        else
            session_fail(c, f->channel, AMQP_UNEXPECTED_FRAME, ch->content_method,
                         "expected content body, got non content body frame instead");
        return;
    }
    if (want == CONTENT_AWAIT_HEADER)
        channel_content_header(ch, f);
    else
        channel_content_body(ch, f);
}
