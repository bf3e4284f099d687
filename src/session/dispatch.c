/*
 * dispatch.c - the one place where an error becomes a reply: soft errors
 * close the channel, hard errors (and anything on channel 0) close the
 * connection, and during the handshake RabbitMQ's rules decide between a
 * close frame and a silent close.  Also the octet formatting RabbitMQ uses
 * in its frame-error texts.  The method handlers are in handle_*.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "session_priv.h"

void session_format_octets(char *buf, size_t len, struct edad_bytes b)
{
    size_t n = b.len <= 16 ? b.len : 16;
    size_t off = (size_t)snprintf(buf, len, "%s octets = <<", b.len <= 16 ? "all" : "first 16");
    for (size_t i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, i ? ",%u" : "%u", (unsigned)b.ptr[i]);
    if (off < len)
        snprintf(buf + off, len - off, ">>");
}

/* "NAME - explanation", cut to a shortstr. */
static void fail_text(char *text, size_t len, uint16_t code, const char *fmt, va_list ap)
{
    const char *name = amqp_constant_name(code);
    int n = snprintf(text, len, "%s - ", name ? name : "INTERNAL_ERROR");
    if (n > 0 && (size_t)n < len)
        vsnprintf(text + n, len - (size_t)n, fmt, ap);
}

static const char *method_label(uint32_t method_id)
{
    const char *n = method_id ? amqp_method_name(method_id) : NULL;
    return n ? n : "none";
}

/* Hard error on an open (or opening) connection: connection.close, then
 * wait for close-ok. */
static void fail_connection(struct connection *c, uint16_t channel, uint16_t code,
                            const char *text, uint32_t method_id, uint64_t wait_ms)
{
    log_error("Error on AMQP connection %s (vhost: '%s', user: '%s', state: %s), channel %u: "
              "operation %s caused a connection exception: %s", c->name,
              c->vhost ? c->vhost : "", c->user ? c->user : "", connection_state_name(c->state),
              (unsigned)channel, method_label(method_id), text);
    session_send_connection_close(c, code, text, method_id);
    channel_free_all(c);
    connection_await_close_ok(c, wait_ms);
}

void session_fail(struct connection *c, uint16_t channel, uint16_t code, uint32_t method_id,
                  const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    fail_text(text, sizeof(text), code, fmt, ap);
    va_end(ap);

    switch (c->state) {
    case CONN_CLOSING:
    case CONN_DEAD:
        log_debug("connection %s: ignoring error while closing: %s", c->name, text);
        return;

    case CONN_OPEN:
        if (channel != 0 && !amqp_constant_is_hard_error(code)) {
            struct channel *ch = channel_get(c, channel);
            if (ch && ch->state == CHANNEL_OPEN) {
                log_error("Channel error on connection %s (vhost: '%s', user: '%s'), channel %u: "
                          "operation %s caused a channel exception: %s", c->name,
                          c->vhost ? c->vhost : "", c->user ? c->user : "", (unsigned)channel,
                          method_label(method_id), text);
                channel_close_with_error(ch, code, text, method_id);
                return;
            }
            if (ch)
                return;   /* already closing: RabbitMQ ignores it too */
        }
        fail_connection(c, channel, code, text, method_id, connection_closing_timeout_ms(c));
        return;

    case CONN_AWAIT_OPEN:
        /* RabbitMQ answers every error in "opening" with connection.close */
        fail_connection(c, channel, code, text, method_id, connection_closing_timeout_ms(c));
        return;

    case CONN_AWAIT_START_OK:
        if (code == AMQP_ACCESS_REFUSED) {
            if (c->client_caps & CLIENT_CAP_AUTH_FAILURE_CLOSE) {
                session_send_connection_close(c, code, text, 0);
                connection_await_close_ok(c, SESSION_HANDSHAKE_CLOSE_MS);
            } else {
                connection_kill(c, SESSION_HANDSHAKE_CLOSE_MS);
            }
            return;
        }
        break;

    case CONN_AWAIT_TUNE_OK:
        if (code == AMQP_NOT_ALLOWED) {
            log_error("Error on AMQP connection %s (user: '%s', state: tuning): %s", c->name,
                      c->user ? c->user : "", text);
            session_send_connection_close(c, code, text, method_id);
            connection_await_close_ok(c, SESSION_HANDSHAKE_CLOSE_MS);
            return;
        }
        break;

    case CONN_AWAIT_HEADER:
        break;
    }
    /* any other handshake error: logged, socket closed after a delay, no frame */
    log_error("closing AMQP connection %s: handshake error in state %s: %s", c->name,
              connection_state_name(c->state), text);
    connection_kill(c, SESSION_SILENT_CLOSE_MS);
}

void session_fail_fatal(struct connection *c, uint16_t code, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    fail_text(text, sizeof(text), code, fmt, ap);
    va_end(ap);

    if (c->state == CONN_OPEN || c->state == CONN_AWAIT_OPEN) {
        log_error("Error on AMQP connection %s (vhost: '%s', user: '%s', state: %s), channel 0: "
                  "%s", c->name, c->vhost ? c->vhost : "", c->user ? c->user : "",
                  connection_state_name(c->state), text);
        session_send_connection_close(c, code, text, 0);
        channel_free_all(c);
    } else if (c->state != CONN_DEAD && c->state != CONN_CLOSING) {
        log_error("closing AMQP connection %s: handshake error in state %s: %s", c->name,
                  connection_state_name(c->state), text);
    }
    if (c->state != CONN_DEAD)
        connection_kill(c, SESSION_SILENT_CLOSE_MS);
}

void session_fail_broker(struct channel *ch, uint32_t method_id, const struct broker_err *err)
{
    /* the broker's text is complete ("NOT_FOUND - no queue ..."): keep
     * what follows the name, session_fail puts the name back */
    const char *text = err->text;
    const char *dash = strstr(text, " - ");
    if (dash)
        text = dash + 3;
    session_fail(ch->conn, ch->id, err->code, method_id, "%s", text);
}

/* ---- method id -> handler ---------------------------------------------------------- */

/*
 * The dispatch table for channels > 0 (channel 0 is handle_connection.c).
 * A switch compiles to a jump table.
 */
static method_handler_fn dispatch_lookup(uint32_t id)
{
    switch (id) {
    case AMQP_CHANNEL_OPEN:        return handle_channel_open_again;
    case AMQP_CHANNEL_CLOSE:       return handle_channel_close;
    case AMQP_CHANNEL_FLOW:        return handle_channel_flow;
    case AMQP_ACCESS_REQUEST:      return handle_access_request;
    case AMQP_BASIC_PUBLISH:       return handle_basic_publish;

    case AMQP_EXCHANGE_DECLARE:    return handle_exchange_declare;
    case AMQP_EXCHANGE_DELETE:     return handle_exchange_delete;
    case AMQP_EXCHANGE_BIND:       return handle_exchange_bind;
    case AMQP_EXCHANGE_UNBIND:     return handle_exchange_unbind;
    case AMQP_QUEUE_DECLARE:       return handle_queue_declare;
    case AMQP_QUEUE_BIND:          return handle_queue_bind;
    case AMQP_QUEUE_PURGE:         return handle_queue_purge;
    case AMQP_QUEUE_DELETE:        return handle_queue_delete;
    case AMQP_QUEUE_UNBIND:        return handle_queue_unbind;
    case AMQP_BASIC_QOS:           return handle_basic_qos;
    case AMQP_BASIC_CONSUME:       return handle_basic_consume;
    case AMQP_BASIC_CANCEL:        return handle_basic_cancel;
    case AMQP_BASIC_GET:           return handle_basic_get;
    case AMQP_BASIC_ACK:           return handle_basic_ack;
    case AMQP_BASIC_REJECT:        return handle_basic_reject;
    case AMQP_BASIC_RECOVER_ASYNC: return handle_basic_recover_async;
    case AMQP_BASIC_RECOVER:       return handle_basic_recover;
    case AMQP_BASIC_NACK:          return handle_basic_nack;
    case AMQP_TX_SELECT:           return handle_tx_select;
    case AMQP_TX_COMMIT:           return handle_tx_commit;
    case AMQP_TX_ROLLBACK:         return handle_tx_rollback;
    case AMQP_CONFIRM_SELECT:      return handle_confirm_select;

    default:                       return handle_command_invalid;
    }
}

/* Classes that need the broker (a unit test may run without one). */
static bool dispatch_needs_broker(uint32_t id)
{
    uint16_t cls = AMQP_METHOD_CLASS_ID(id);
    return cls == AMQP_CLASS_EXCHANGE || cls == AMQP_CLASS_QUEUE || cls == AMQP_CLASS_BASIC ||
           cls == AMQP_CLASS_TX || cls == AMQP_CLASS_CONFIRM;
}

void dispatch_method(struct channel *ch, const struct amqp_method *m)
{
    /* confirms of earlier publishes leave before any other reply */
    if (ch->confirm_listed && m->id != AMQP_BASIC_PUBLISH)
        confirm_flush(ch);
    if (!ch->conn->vh && dispatch_needs_broker(m->id)) {
        const char *name = amqp_method_name(m->id);
        session_fail(ch->conn, ch->id, AMQP_NOT_IMPLEMENTED, m->id,
                     "%s needs a broker", name ? name : "method");
        return;
    }
    dispatch_lookup(m->id)(ch, m);
}

bool session_decode_method(struct connection *c, uint16_t channel, const struct amqp_frame *f,
                           struct amqp_method *m)
{
    edad_status st = amqp_method_decode(f->payload, &c->arena, m);
    if (st == EDAD_OK)
        return true;
    if (st == EDAD_ERR_UNKNOWN && !amqp_method_is_known(m->id)) {
        session_fail(c, channel, AMQP_NOT_IMPLEMENTED, m->id, "unknown method {%u,%u}",
                     (unsigned)AMQP_METHOD_CLASS_ID(m->id), (unsigned)AMQP_METHOD_METHOD_ID(m->id));
        return false;
    }
    struct edad_bytes args = f->payload;
    uint32_t id = 0;
    if (args.len >= 4) {
        id = (uint32_t)args.ptr[0] << 24 | (uint32_t)args.ptr[1] << 16 |
             (uint32_t)args.ptr[2] << 8 | args.ptr[3];
        args.ptr += 4;
        args.len -= 4;
    }
    if (st == EDAD_ERR_ENCODING) {
        session_fail(c, channel, AMQP_FRAME_ERROR, id, "Malformed UTF-8 in shortstr");
        return false;
    }
    char oct[96];
    session_format_octets(oct, sizeof(oct), args);
    session_fail(c, channel, AMQP_FRAME_ERROR, id, "cannot decode %s", oct);
    return false;
}
