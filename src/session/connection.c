/*
 * connection.c - one client connection's lifecycle: the protocol header,
 * splitting input into frames (parsed in place, a budget of bytes per
 * loop turn), the connection state machine, handshake /
 * closing / heartbeat timers, blocking publishers during resource alarms
 * (connection.blocked / unblocked), and the list of connections of a server.
 * What each method means is in handle_connection.c and channel.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

/* RabbitMQ's initial_frame_max: the limit before tune-ok. */
#define CONN_INITIAL_FRAME_MAX AMQP_FRAME_MIN_SIZE
/* Input buffered before reading pauses, before tune-ok. */
#define CONN_INITIAL_READ_HIGH (64 * 1024)

static const char *const conn_state_names[] = {
    [CONN_AWAIT_HEADER] = "pre_init",
    [CONN_AWAIT_START_OK] = "starting",
    [CONN_AWAIT_TUNE_OK] = "tuning",
    [CONN_AWAIT_OPEN] = "opening",
    [CONN_OPEN] = "running",
    [CONN_CLOSING] = "closed",
    [CONN_DEAD] = "closed",
};

/* Legal transitions: bit n of conn_next[s] allows s -> n. */
#define B(s) (1u << (s))
static const unsigned conn_next[] = {
    [CONN_AWAIT_HEADER] = B(CONN_AWAIT_START_OK) | B(CONN_DEAD),
    [CONN_AWAIT_START_OK] = B(CONN_AWAIT_TUNE_OK) | B(CONN_CLOSING) | B(CONN_DEAD),
    [CONN_AWAIT_TUNE_OK] = B(CONN_AWAIT_OPEN) | B(CONN_CLOSING) | B(CONN_DEAD),
    [CONN_AWAIT_OPEN] = B(CONN_OPEN) | B(CONN_CLOSING) | B(CONN_DEAD),
    [CONN_OPEN] = B(CONN_CLOSING) | B(CONN_DEAD),
    [CONN_CLOSING] = B(CONN_DEAD),
    [CONN_DEAD] = 0,
};
#undef B

const char *connection_state_name(enum conn_state s)
{
    if ((unsigned)s < EDAD_ARRAY_LEN(conn_state_names))
        return conn_state_names[s];
    return "?";
}

static const char *conn_state_enum_name(enum conn_state s)
{
    static const char *const names[] = {
        "AWAIT_HEADER", "AWAIT_START_OK", "AWAIT_TUNE_OK", "AWAIT_OPEN",
        "OPEN", "CLOSING", "DEAD",
    };
    return (unsigned)s < EDAD_ARRAY_LEN(names) ? names[s] : "?";
}

void connection_set_state(struct connection *c, enum conn_state next)
{
    if (c->state == next)
        return;
    if (!(conn_next[c->state] & (1u << next))) {
        log_error("connection %s: illegal state change %s -> %s", c->name,
                  conn_state_enum_name(c->state), conn_state_enum_name(next));
        abort();
    }
    log_debug("connection %s: %s -> %s", c->name, conn_state_enum_name(c->state),
              conn_state_enum_name(next));
    c->state = next;
}

/* ---- closing ------------------------------------------------------------------ */

static void conn_flow_forget(struct connection *c);

void connection_kill(struct connection *c, uint64_t delay_ms)
{
    if (c->state == CONN_DEAD)
        return;
    connection_set_state(c, CONN_DEAD);
    channel_free_all(c);
    conn_flow_forget(c);
    net_timer_stop(c->hb_timer);
    net_transport_pause_read(c->t);
    if (delay_ms == 0) {
        net_timer_stop(c->timer);
        net_transport_close(c->t, SESSION_FLUSH_MS);
    } else {
        net_timer_start(c->timer, delay_ms, false);
    }
}

void connection_await_close_ok(struct connection *c, uint64_t ms)
{
    connection_set_state(c, CONN_CLOSING);
    net_timer_stop(c->hb_timer);
    net_timer_start(c->timer, ms, false);
}

uint64_t connection_closing_timeout_ms(const struct connection *c)
{
    if (c->heartbeat > 0 && (uint64_t)c->heartbeat * 1000 < SESSION_CLOSING_MAX_MS)
        return (uint64_t)c->heartbeat * 1000;
    return SESSION_CLOSING_MAX_MS;
}

/* c->timer: whichever deadline the state has. */
static void conn_timer_cb(void *arg)
{
    struct connection *c = arg;
    switch (c->state) {
    case CONN_AWAIT_HEADER:
    case CONN_AWAIT_START_OK:
    case CONN_AWAIT_TUNE_OK:
    case CONN_AWAIT_OPEN:
        log_error("closing AMQP connection %s: handshake_timeout in state %s",
                  c->name, connection_state_name(c->state));
        connection_kill(c, 0);
        break;
    case CONN_OPEN:
        break;
    case CONN_CLOSING:
        log_debug("connection %s: no close-ok in time, closing the socket", c->name);
        connection_kill(c, 0);
        break;
    case CONN_DEAD:
        /* end of a silent-close delay */
        net_transport_close(c->t, SESSION_FLUSH_MS);
        break;
    }
}

/* ---- heartbeats ------------------------------------------------------------------- */

/* Every heartbeat/2: send one if we sent nothing since the last tick; on
 * every second tick check that something arrived (RabbitMQ: timeout after
 * two checks without input, i.e. 2-3 intervals of silence). */
static void conn_heartbeat_cb(void *arg)
{
    struct connection *c = arg;
    if (c->state != CONN_OPEN && c->state != CONN_AWAIT_OPEN)
        return;
    if (net_transport_bytes_queued(c->t) == c->hb_mark)
        session_send_heartbeat(c);
    c->hb_mark = net_transport_bytes_queued(c->t);
    if (++c->hb_ticks % 2 != 0)
        return;
    if (c->recv_activity || net_transport_read_paused(c->t)) {
        c->hb_missed = 0;
    } else if (++c->hb_missed >= 2) {
        log_error("closing AMQP connection %s: missed heartbeats from client, timeout: %us",
                  c->name, (unsigned)c->heartbeat);
        connection_kill(c, 0);
        return;
    }
    c->recv_activity = false;
}

void connection_tuned(struct connection *c)
{
    /* room for one whole frame plus the next one's start; frame_max 0 (no
     * limit, only if the configuration allows it) means no input bound */
    size_t high = 0;
    if (c->frame_max) {
        high = (size_t)c->frame_max + AMQP_FRAME_OVERHEAD + 4096;
        if (high < CONN_INITIAL_READ_HIGH)
            high = CONN_INITIAL_READ_HIGH;
    }
    net_transport_set_read_high_water(c->t, high);
    size_t cap = (size_t)c->frame_max * 8;
    c->arena.cap = cap < (1u << 20) ? (1u << 20) : cap;
    if (c->heartbeat > 0) {
        c->hb_mark = net_transport_bytes_queued(c->t);
        c->recv_activity = true;
        net_timer_start(c->hb_timer, (uint64_t)c->heartbeat * 500, true);
    }
}

void connection_opened(struct connection *c)
{
    net_timer_stop(c->timer);
    /* the handshake's tables are gone: give the arena's chunk back */
    arena_free(&c->arena);
}

/* ---- resource alarms --------------------------------------------------------------------- */

/* "low on memory & disk", as RabbitMQ's blocked_by_message. */
static void conn_blocked_reason(unsigned alarms, char *buf, size_t len)
{
    snprintf(buf, len, "low on %s%s%s", (alarms & SESSION_ALARM_MEMORY) ? "memory" : "",
             (alarms & SESSION_ALARM_MEMORY) && (alarms & SESSION_ALARM_DISK) ? " & " : "",
             (alarms & SESSION_ALARM_DISK) ? "disk" : "");
}

/* Stop reading from c; tell the client once if it wants to know. */
static void conn_block(struct connection *c)
{
    if (!c->blocked) {
        c->blocked = true;
        c->srv->n_blocked_conns++;
        net_transport_pause_read(c->t);
        log_info("connection %s: blocked, publishing during a resource alarm", c->name);
    }
    if (!c->blocked_sent && (c->client_caps & CLIENT_CAP_CONNECTION_BLOCKED)) {
        char reason[64];
        conn_blocked_reason(c->srv->alarms, reason, sizeof(reason));
        struct amqp_method m;
        memset(&m, 0, sizeof(m));
        m.id = AMQP_CONNECTION_BLOCKED;
        m.u.connection_blocked.reason = bytes_from_cstr(reason);
        session_send_method(c, 0, &m);
        c->blocked_sent = true;
    }
}

static void conn_publish_received(struct connection *c)
{
    c->should_block = true;
    conn_block(c);
}

static void conn_process_input(struct connection *c);

/* Every alarm cleared: read again, and handle what waited in the input. */
static void conn_unblock(struct connection *c)
{
    c->should_block = false;
    if (!c->blocked)
        return;
    c->blocked = false;
    c->srv->n_blocked_conns--;
    if (c->state == CONN_CLOSING)
        net_transport_resume_read(c->t);   /* for the close-ok */
    if (c->state != CONN_OPEN)
        return;
    if (c->blocked_sent) {
        c->blocked_sent = false;
        session_send_simple(c, 0, AMQP_CONNECTION_UNBLOCKED);
    }
    log_info("connection %s: unblocked", c->name);
    net_transport_resume_read(c->t);
    conn_process_input(c);
}

void session_server_set_alarms(struct session_server *srv, unsigned alarms)
{
    if (srv->alarms == alarms)
        return;
    srv->alarms = alarms;
    for (struct connection *c = srv->head; c; c = c->next) {
        if (alarms == 0)
            conn_unblock(c);
        else if (c->should_block && c->state == CONN_OPEN)
            conn_block(c);   /* already blocked: connection.blocked was sent once */
    }
}

unsigned session_server_alarms(const struct session_server *srv)
{
    return srv->alarms;
}

size_t session_server_blocked_count(const struct session_server *srv)
{
    return srv->n_blocked_conns;
}

/* ---- input -------------------------------------------------------------------------- */

static void conn_handle_protocol_header(struct connection *c, const uint8_t hdr[8])
{
    bool ok091 = memcmp(hdr, amqp_protocol_header, 8) == 0;
    /* RabbitMQ treats the 0-9 header (AMQP 1 1 0 9) as 0-9-1 */
    static const uint8_t hdr09[8] = {'A', 'M', 'Q', 'P', 1, 1, 0, 9};
    if (!ok091 && memcmp(hdr, hdr09, 8) != 0) {
        char oct[96];
        session_format_octets(oct, sizeof(oct), (struct edad_bytes){hdr, 8});
        log_error("closing AMQP connection %s: client did not start with the AMQP 0-9-1 "
                  "protocol header: %s", c->name, oct);
        net_transport_output_add(c->t, amqp_protocol_header, 8);
        connection_kill(c, 0);
        return;
    }
    log_info("accepting AMQP connection %s", c->name);
    handle_connection_send_start(c);
    connection_set_state(c, CONN_AWAIT_START_OK);
}

/* A whole frame, checked for frame-end, before the channel layer. */
static void conn_handle_frame(struct connection *c, const struct amqp_frame *f)
{
    char oct[96];

    if (c->state == CONN_CLOSING) {
        /* only connection.close and close-ok matter now */
        if (f->channel != 0 || f->type != AMQP_FRAME_TYPE_METHOD)
            return;
        struct amqp_method m;
        if (amqp_method_decode(f->payload, &c->arena, &m) != EDAD_OK)
            return;
        if (m.id == AMQP_CONNECTION_CLOSE) {
            session_send_simple(c, 0, AMQP_CONNECTION_CLOSE_OK);
        } else if (m.id == AMQP_CONNECTION_CLOSE_OK) {
            connection_kill(c, 0);
        }
        return;
    }

    if (f->type == AMQP_FRAME_TYPE_HEARTBEAT && f->payload.len != 0) {
        session_format_octets(oct, sizeof(oct), f->payload);
        session_fail(c, f->channel, AMQP_FRAME_ERROR, 0, "type %u, %s: unknown_frame",
                     (unsigned)f->type, oct);
        return;
    }
    if (f->channel == 0) {
        switch (f->type) {
        case AMQP_FRAME_TYPE_HEARTBEAT:
            return;
        case AMQP_FRAME_TYPE_METHOD: {
            struct amqp_method m;
            if (!session_decode_method(c, 0, f, &m))
                return;
            handle_connection_method(c, &m);
            return;
        }
        default:
            session_format_octets(oct, sizeof(oct), f->payload);
            session_fail(c, 0, AMQP_UNEXPECTED_FRAME, 0, "type %u, %s", (unsigned)f->type, oct);
            return;
        }
    }
    if (c->state != CONN_OPEN) {
        session_format_octets(oct, sizeof(oct), f->payload);
        session_fail(c, f->channel, AMQP_UNEXPECTED_FRAME, 0, "type %u, %s",
                     (unsigned)f->type, oct);
        return;
    }
    if (f->type == AMQP_FRAME_TYPE_HEARTBEAT) {
        session_format_octets(oct, sizeof(oct), f->payload);
        session_fail(c, 0, AMQP_UNEXPECTED_FRAME, 0, "type %u, %s", (unsigned)f->type, oct);
        return;
    }
    channel_handle_frame(c, f);
}

/*
 * Input bytes handled per connection per loop turn before the other
 * connections and the broker's dispatch pass get their turn: a publisher
 * whose socket holds thousands of messages must not outrun delivery (the
 * queue would grow and every message get slower).  About 1,400 small
 * messages or 60 of 1 KiB; a frame bigger than this still goes whole.
 */
#define CONN_TURN_BUDGET (128 * 1024)
/* Longest wait of a publisher for a lagging queue to deliver.  A queue
   that delivered nothing for that long has a stuck or slow consumer, not a
   busy broker: the publisher then ignores flow for CONN_FLOW_GRACE_MS, so
   a slow consumer costs its publishers at most a tenth of their rate. */
#define CONN_FLOW_WAIT_MS 10
#define CONN_FLOW_GRACE_MS 100

/* Remove c from the server's flow waiters. */
static void conn_flow_forget(struct connection *c)
{
    struct session_server *srv = c->srv;
    if (!c->flow_waiting)
        return;
    c->flow_waiting = false;
    net_timer_stop(c->flow_timer);
    for (uint32_t i = 0; i < srv->n_flow_wait; i++) {
        if (srv->flow_wait[i] == c) {
            srv->flow_wait[i] = srv->flow_wait[--srv->n_flow_wait];
            break;
        }
    }
}

static void conn_flow_timeout(void *arg)
{
    struct connection *c = arg;
    conn_flow_forget(c);
    c->flow_grace_until = clock_mono_ms() + CONN_FLOW_GRACE_MS;
    conn_process_input(c);
}

/*
 * Publisher flow: a message this connection published joined the backlog
 * of a queue whose consumers lag far behind (broker_flow_events).  Stop
 * taking input until such a queue delivers again (session_server_flow_poll,
 * after each dispatch pass) or CONN_FLOW_WAIT_MS pass.
 */
static void conn_flow_wait(struct connection *c, struct broker *br)
{
    struct session_server *srv = c->srv;
    if (c->flow_waiting)
        return;
    if (srv->n_flow_wait == 0)
        srv->flow_release_seen = broker_flow_release(br);
    if (srv->n_flow_wait == srv->flow_wait_cap) {
        srv->flow_wait_cap = srv->flow_wait_cap ? srv->flow_wait_cap * 2 : 16;
        srv->flow_wait = xrealloc(srv->flow_wait, sizeof(*srv->flow_wait) * srv->flow_wait_cap);
    }
    srv->flow_wait[srv->n_flow_wait++] = c;
    c->flow_waiting = true;
    if (!c->flow_timer)
        c->flow_timer = net_timer_new(net_transport_loop(c->t), conn_flow_timeout, c);
    net_timer_start(c->flow_timer, CONN_FLOW_WAIT_MS, false);
}

static bool conn_flow_grace(struct connection *c)
{
    if (c->flow_grace_until == 0)
        return false;
    if (clock_mono_ms() < c->flow_grace_until)
        return true;
    c->flow_grace_until = 0;
    return false;
}

void session_server_flow_poll(struct session_server *srv)
{
    if (srv->n_flow_wait == 0 || !srv->broker)
        return;
    uint64_t r = broker_flow_release(srv->broker);
    if (r == srv->flow_release_seen)
        return;
    srv->flow_release_seen = r;
    while (srv->n_flow_wait > 0) {
        struct connection *c = srv->flow_wait[srv->n_flow_wait - 1];
        conn_flow_forget(c);
        net_transport_input_again(c->t);
    }
}

/* A frame-level protocol error: the reply (or, while closing, just the end). */
static void conn_frame_error(struct connection *c, const uint8_t *buf, size_t total,
                             edad_status st)
{
    uint32_t size = (uint32_t)(total - AMQP_FRAME_OVERHEAD);
    char oct[96];
    session_format_octets(oct, sizeof(oct), (struct edad_bytes){buf + AMQP_FRAME_HEADER_SIZE, size});
    if (st == EDAD_ERR_FRAME_END) {
        if (c->state == CONN_CLOSING) {
            connection_kill(c, 0);
            return;
        }
        session_fail_fatal(c, AMQP_FRAME_ERROR, "type %u, %s: {invalid_frame_end_marker,%u}",
                           (unsigned)buf[0], oct, (unsigned)buf[total - 1]);
        return;
    }
    if (c->state != CONN_CLOSING)
        session_fail(c, (uint16_t)(buf[1] << 8 | buf[2]), AMQP_FRAME_ERROR, 0,
                     "type %u, %s: unknown_frame", (unsigned)buf[0], oct);
}

/* One parsed frame (or a frame-level error), then the alarm check.  False
 * when processing must stop before this frame (a bad frame-end marker: as
 * before, the frame stays in the input and the connection is closing). */
static bool conn_take_frame(struct connection *c, const uint8_t *buf, size_t total)
{
    struct amqp_frame f;
    size_t used = 0;
    edad_status st = amqp_frame_parse(buf, total, 0, &f, &used, NULL);
    if (st == EDAD_ERR_FRAME_END) {
        conn_frame_error(c, buf, total, st);
        return false;
    }
    c->recv_activity = true;
    if (st == EDAD_ERR_UNKNOWN) {
        conn_frame_error(c, buf, total, st);
    } else if (st == EDAD_OK) {
        conn_handle_frame(c, &f);
        /* RabbitMQ's publish_received: content during an alarm blocks */
        if ((f.type == AMQP_FRAME_TYPE_HEADER || f.type == AMQP_FRAME_TYPE_BODY) &&
            c->srv->alarms && c->state == CONN_OPEN)
            conn_publish_received(c);
    }
    arena_reset(&c->arena);
    return true;
}

/* The frame header at h announces a payload the connection refuses. */
static bool conn_frame_too_large(struct connection *c, const uint8_t *h, uint32_t size)
{
    /* RabbitMQ's fudge: a payload may be as large as frame_max itself */
    if (c->frame_max == 0 || size <= c->frame_max)
        return false;
    if (c->state == CONN_CLOSING) {
        connection_kill(c, 0);
        return true;
    }
    session_fail_fatal(c, AMQP_FRAME_ERROR,
                       "type %u, all octets = <<>>: {frame_too_large,%u,%u}",
                       (unsigned)h[0], (unsigned)size,
                       (unsigned)(c->frame_max - AMQP_FRAME_OVERHEAD));
    return true;
}

static bool conn_may_take_input(struct connection *c)
{
    return c->state != CONN_DEAD && !net_transport_output_saturated(c->t) && !c->blocked &&
           !c->commits_held && !c->flow_waiting;
}

static inline uint32_t conn_frame_size(const uint8_t *h)
{
    return (uint32_t)h[3] << 24 | (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
}

/*
 * Parse and handle the whole frames in the input, up to the turn's
 * budget.  Frames are taken in place from the input's first contiguous
 * piece and the bytes drained once per piece; only a frame that straddles
 * two pieces is pulled up (copied) on its own.  Stops when the input holds
 * no whole frame, when the connection stops reading, when our output to
 * the peer is saturated (resumed by conn_on_drained), or at the budget
 * (resumed on a later turn by net_transport_input_again).
 */
static void conn_process_frames(struct connection *c)
{
    if (c->in_frames) {
        /* re-entered from a handler (a resumed commit): the outer call has
           bytes in hand that are not drained yet; come back later */
        net_transport_input_again(c->t);
        return;
    }
    c->in_frames = true;
    size_t budget = CONN_TURN_BUDGET;
    struct broker *br = c->vh ? vhost_broker(c->vh) : NULL;
    uint64_t flow_mark = br ? broker_flow_events(br) : 0;
    bool stop = false;
    while (!stop && conn_may_take_input(c)) {
        if (c->state == CONN_AWAIT_HEADER) {
            uint8_t hdr[8];
            if (net_transport_input_len(c->t) < 8)
                break;
            net_transport_input_peek(c->t, hdr, 8);
            net_transport_input_drain(c->t, 8);
            conn_handle_protocol_header(c, hdr);
            continue;
        }
        if (budget == 0) {
            if (net_transport_input_len(c->t) >= AMQP_FRAME_OVERHEAD)
                net_transport_input_again(c->t);
            break;
        }
        size_t piece = 0;
        const uint8_t *p = net_transport_input_contig(c->t, &piece);
        size_t off = 0;
        /* every whole frame inside this piece, without copying */
        while (piece - off >= AMQP_FRAME_HEADER_SIZE && off < budget) {
            uint32_t size = conn_frame_size(p + off);
            if (conn_frame_too_large(c, p + off, size)) {
                stop = true;
                break;
            }
            size_t total = (size_t)size + AMQP_FRAME_OVERHEAD;
            if (piece - off < total)
                break;
            if (!conn_take_frame(c, p + off, total)) {
                stop = true;
                break;
            }
            off += total;
            if (!conn_may_take_input(c) || c->state == CONN_AWAIT_HEADER)
                break;
            if (br && broker_flow_events(br) != flow_mark && !conn_flow_grace(c)) {
                /* intake outruns delivery: wait for the queue to deliver */
                conn_flow_wait(c, br);
                break;
            }
        }
        if (off > 0) {
            /* the transport is never freed inside this call: draining is safe */
            net_transport_input_drain(c->t, off);
            budget = off < budget ? budget - off : 0;
            continue;
        }
        if (stop || !conn_may_take_input(c))
            break;
        /* no whole frame at the front of the piece: one straddles pieces */
        uint8_t h[AMQP_FRAME_HEADER_SIZE];
        size_t avail = net_transport_input_len(c->t);
        if (avail < sizeof(h))
            break;
        net_transport_input_peek(c->t, h, sizeof(h));
        uint32_t size = conn_frame_size(h);
        if (conn_frame_too_large(c, h, size))
            break;
        size_t total = (size_t)size + AMQP_FRAME_OVERHEAD;
        if (avail < total)
            break;
        if (!conn_take_frame(c, net_transport_input_pullup(c->t, total), total))
            break;
        net_transport_input_drain(c->t, total);
        budget = total < budget ? budget - total : 0;
    }
    c->in_frames = false;
}

/* Every whole frame of the input, then the confirms the batch produced:
 * one basic.ack per channel per batch. */
static void conn_process_input(struct connection *c)
{
    conn_process_frames(c);
    /* the store writes this batch's acks and marks before any reply leaves */
    durable_flush(c->srv);
    if (c->confirm_head)
        confirm_flush_all(c);
}

void connection_input_resume(struct connection *c)
{
    conn_process_input(c);
}

/* ---- transport callbacks ---------------------------------------------------------------- */

static void conn_on_read(void *ctx)
{
    struct connection *c = ctx;
    c->got_data = true;
    c->recv_activity = true;
    conn_process_input(c);
}

static void conn_on_drained(void *ctx)
{
    struct connection *c = ctx;
    /* consumers refused for a full output buffer may go on */
    if (c->n_blocked)
        deliver_output_drained(c);
    conn_process_input(c);
}

static void conn_on_eof(void *ctx, const char *reason)
{
    struct connection *c = ctx;
    if (c->state == CONN_OPEN) {
        log_warning("closing AMQP connection %s (vhost: '%s', user: '%s'): client unexpectedly "
                    "closed TCP connection (%s)", c->name, c->vhost ? c->vhost : "",
                    c->user ? c->user : "", reason);
    } else if (c->state == CONN_AWAIT_HEADER && !c->got_data) {
        log_debug("connection %s closed before any data (health check?)", c->name);
    } else if (c->state != CONN_CLOSING && c->state != CONN_DEAD) {
        log_warning("closing AMQP connection %s in state %s: client closed TCP connection (%s)",
                    c->name, connection_state_name(c->state), reason);
    }
    if (c->state != CONN_DEAD)
        connection_set_state(c, CONN_DEAD);
    /* the queues get their unacked messages back now, not at the free */
    channel_free_all(c);
    net_timer_stop(c->timer);
    net_timer_stop(c->hb_timer);
    net_transport_close(c->t, 0);
}

static void conn_on_closed(void *ctx)
{
    struct connection *c = ctx;
    struct session_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_connections--;
    if (c->blocked)
        srv->n_blocked_conns--;
    conn_flow_forget(c);
    net_timer_free(c->flow_timer);
    for (uint32_t i = 0; c->sync_touched && i < srv->n_touched; i++) {
        if (srv->touched[i] == c) {
            srv->touched[i] = srv->touched[--srv->n_touched];
            break;
        }
    }
    if (c->user && c->vhost)
        log_info("closing AMQP connection %s (vhost: '%s', user: '%s')", c->name, c->vhost,
                 c->user);
    channel_free_all(c);
    free(c->channels);
    net_timer_free(c->timer);
    net_timer_free(c->hb_timer);
    arena_free(&c->arena);
    free(c->user);
    free(c->vhost);
    free(c->client_props);
    free(c);
}

static const struct net_transport_handler conn_handler = {
    .on_read = conn_on_read,
    .on_drained = conn_on_drained,
    .on_eof = conn_on_eof,
    .on_closed = conn_on_closed,
};

/* ---- the server ---------------------------------------------------------------------------- */

void session_server_accept(void *arg, struct net_transport *t)
{
    struct session_server *srv = arg;
    struct connection *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->t = t;
    c->state = CONN_AWAIT_HEADER;
    c->frame_max = CONN_INITIAL_FRAME_MAX;
    c->connected_at_ms = clock_mono_ms();
    arena_init(&c->arena, 1u << 20);
    snprintf(c->name, sizeof(c->name), "%s -> %s", net_transport_peer(t), net_transport_local(t));
    c->timer = net_timer_new(net_transport_loop(t), conn_timer_cb, c);
    c->hb_timer = net_timer_new(net_transport_loop(t), conn_heartbeat_cb, c);
    c->next = srv->head;
    if (srv->head)
        srv->head->prev = c;
    srv->head = c;
    srv->n_connections++;

    net_transport_set_read_high_water(t, CONN_INITIAL_READ_HIGH);
    net_transport_start(t, &conn_handler, c);
    if (srv->shutting_down) {
        connection_kill(c, 0);
        return;
    }
    /* 0 is "infinity": no handshake deadline */
    if (srv->conf->handshake_timeout)
        net_timer_start(c->timer, srv->conf->handshake_timeout, false);
}

struct session_server *session_server_new(struct net_loop *loop, const struct edad_conf *conf,
                                          struct broker *broker)
{
    struct session_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->conf = conf;
    srv->broker = broker;
    if (broker)
        session_codec_register(broker);   /* stateless: stays valid after free */
    handle_connection_build_start(srv);
    return srv;
}

void session_server_shutdown(struct session_server *srv, const char *reason)
{
    srv->shutting_down = true;
    for (struct connection *c = srv->head; c; c = c->next) {
        switch (c->state) {
        case CONN_OPEN: {
            if (c->blocked) {
                /* read its close-ok: nothing else is handled once closing */
                c->blocked = false;
                srv->n_blocked_conns--;
                net_transport_resume_read(c->t);
            }
            char text[256];
            snprintf(text, sizeof(text),
                     "CONNECTION_FORCED - broker forced connection closure with reason '%s'",
                     reason);
            session_send_connection_close(c, AMQP_CONNECTION_FORCED, text, 0);
            channel_free_all(c);
            connection_await_close_ok(c, connection_closing_timeout_ms(c));
            break;
        }
        case CONN_CLOSING:
        case CONN_DEAD:
            break;
        default:
            connection_kill(c, 0);
            break;
        }
    }
}

size_t session_server_connection_count(const struct session_server *srv)
{
    return srv->n_connections;
}

void session_server_free(struct session_server *srv)
{
    if (!srv)
        return;
    for (struct connection *c = srv->head; c; c = c->next) {
        if (c->state != CONN_DEAD)
            connection_set_state(c, CONN_DEAD);
        net_timer_stop(c->timer);
        net_timer_stop(c->hb_timer);
        net_transport_close(c->t, 0);
    }
    /* closing transports free themselves from the loop */
    for (int i = 0; i < 100 && srv->head; i++)
        net_loop_run_pending(srv->loop);
    free(srv->start_frame);
    free(srv->waits);
    free(srv->touched);
    free(srv->flow_wait);
    free(srv);
}
