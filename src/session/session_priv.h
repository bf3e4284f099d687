/*
 * session_priv.h - what the files of src/session/ share: the connection
 * and channel structs, their state machines, and the functions one file
 * offers the others.  Private to the session layer; other layers use
 * include/edad/session.h.
 */
#ifndef EDAD_SESSION_PRIV_H
#define EDAD_SESSION_PRIV_H

#include "edad/amqp.h"
#include "edad/broker.h"
#include "edad/conf.h"
#include "edad/net.h"
#include "edad/session.h"

/* RabbitMQ's SILENT_CLOSE_DELAY: a client that fails the handshake waits
 * this long before its socket is closed (relief from connection storms). */
#define SESSION_SILENT_CLOSE_MS 3000
/* RabbitMQ's NORMAL_TIMEOUT: wait for close-ok during the handshake. */
#define SESSION_HANDSHAKE_CLOSE_MS 3000
/* RabbitMQ's CLOSING_TIMEOUT cap once running. */
#define SESSION_CLOSING_MAX_MS 30000
/* How long queued output may take to leave before the socket is closed. */
#define SESSION_FLUSH_MS 3000
/* RabbitMQ's ?MAX_MSG_SIZE: the hard upper bound on a message body. */
#define SESSION_MAX_MSG_SIZE 536870912u

/* ---- the server: every connection of one loop ------------------------------ */

struct connection;

struct session_server {
    struct net_loop *loop;
    const struct edad_conf *conf;
    struct broker *broker;           /* NULL in unit tests: default_vhost only */
    struct connection *head;         /* all live connections */
    size_t n_connections;
    bool shutting_down;
    uint8_t *start_frame;            /* connection.start, encoded once */
    size_t start_frame_len;
    uint8_t *start_frame_tls;        /* the same for TLS connections (EXTERNAL
                                        offered); inside start_frame's block */
    size_t start_frame_tls_len;
    /* the store (durable.c) */
    struct session_store_ops store;
    bool has_store;
    uint64_t next_cookie;
    struct sync_wait *waits;         /* ring of cookies awaiting sync, cookie order */
    uint32_t waits_head, waits_len, waits_cap;   /* cap a power of two */
    struct connection **touched;     /* connections with confirms to flush */
    uint32_t n_touched, touched_cap;
    bool in_batch_end;               /* session_server_sync_batch_end running (durable.c) */
    struct connection **flow_wait;   /* publishers waiting for a lagging queue (connection.c) */
    uint32_t n_flow_wait, flow_wait_cap;
    uint64_t flow_release_seen;      /* broker_flow_release() when they began waiting */
    /* resource alarms (connection.c) */
    unsigned alarms;                 /* SESSION_ALARM_* bits active now */
    size_t n_blocked_conns;          /* connections with blocked set */
};

/* A confirm or tx.commit-ok waiting for the store's sync. */
struct sync_wait {
    uint64_t cookie;
    struct channel *ch;              /* NULL once the channel is gone */
    uint64_t seq;                    /* publish seq (confirm), 0 for a commit */
    bool done;
};

/* ---- connection ------------------------------------------------------------ */

/*
 * One client connection.  The handshake states follow the spec's order;
 * RabbitMQ's names for them (used in error texts) are in parentheses.
 */
enum conn_state {
    CONN_AWAIT_HEADER,    /* accepted; waiting for the 8-byte protocol header (pre_init) */
    CONN_AWAIT_START_OK,  /* connection.start sent; waiting for start-ok (starting) */
    CONN_AWAIT_TUNE_OK,   /* authenticated, connection.tune sent (tuning) */
    CONN_AWAIT_OPEN,      /* tune-ok accepted; waiting for connection.open (opening) */
    CONN_OPEN,            /* open-ok sent; channels carry methods (running) */
    CONN_CLOSING,         /* we sent connection.close; only close / close-ok are
                             read, until close-ok or the closing timeout (closed) */
    CONN_DEAD,            /* nothing more is read; the socket closes after a
                             flush or a delay; freed by on_closed */
};

/* Capabilities the client announced in client-properties. */
enum {
    CLIENT_CAP_AUTH_FAILURE_CLOSE = 1u << 0,
    CLIENT_CAP_CONNECTION_BLOCKED = 1u << 1,
    CLIENT_CAP_CONSUMER_CANCEL_NOTIFY = 1u << 2,
    CLIENT_CAP_PUBLISHER_CONFIRMS = 1u << 3,
    CLIENT_CAP_BASIC_NACK = 1u << 4,
};

struct channel;

struct connection {
    struct session_server *srv;
    struct net_transport *t;
    struct connection *prev, *next;  /* srv->head list */
    enum conn_state state;
    struct arena arena;              /* per-frame decode memory, reset after each frame */
    struct net_timer *timer;         /* handshake / closing / silent-close deadline */
    struct net_timer *hb_timer;      /* heartbeat ticks, every heartbeat/2 */
    struct net_timer *flow_timer;    /* bounds a flow wait (created on first use) */
    bool flow_waiting;               /* on srv->flow_wait: input waits for delivery */
    uint64_t flow_grace_until;       /* clock_mono_ms() until which flow is ignored */
    uint64_t hb_mark;                /* bytes queued at the last heartbeat tick */
    uint32_t frame_max;              /* negotiated; 4096 until tune-ok */
    uint16_t channel_max;            /* negotiated */
    uint16_t heartbeat;              /* negotiated, seconds */
    uint8_t hb_ticks;
    uint8_t hb_missed;               /* receive checks without input */
    bool recv_activity;              /* bytes arrived since the last check */
    bool got_data;                   /* anything at all arrived */
    bool in_frames;                  /* inside conn_process_frames (no re-entry) */
    uint32_t client_caps;            /* CLIENT_CAP_* */
    uint8_t *client_props;           /* start-ok's client-properties table body (heap
                                        copy for the management API), or NULL */
    size_t client_props_len;
    char *user;                      /* authenticated user (heap) */
    char *vhost;                     /* opened vhost's name (heap) */
    struct vhost *vh;                /* opened vhost (NULL without a broker) */
    char auth_mechanism[16];
    char name[160];                  /* "peer -> local", RabbitMQ's connection name */
    uint64_t connected_at_ms;
    struct channel **channels;       /* index = channel id; grown on demand */
    uint32_t n_channel_slots;
    uint32_t n_channels;             /* open (incl. closing) channels */
    uint32_t n_blocked;              /* consumers refused by can_deliver (all channels) */
    bool dropping;                   /* channel_free_all running: send nothing on channels */
    struct channel *confirm_head;    /* channels with confirms to send at batch end */
    bool sync_touched;               /* on srv->touched */
    /* resource alarms (RabbitMQ's throttle): should_block once it published
     * during an alarm, blocked while reading is paused for it */
    bool should_block;
    bool blocked;
    bool blocked_sent;               /* connection.blocked sent, unblocked owed */
    /* tx.commit-oks of its channels waiting for a sync (handle_tx.c): input
     * processing pauses meanwhile, so replies to later methods cannot
     * overtake a commit-ok; input_resume: process it again at batch end */
    uint32_t commits_held;
    bool input_resume;
};

/* connection.c */
void connection_set_state(struct connection *c, enum conn_state next);
/* Process the input buffered while it was held (commits_held went to 0). */
void connection_input_resume(struct connection *c);
/* RabbitMQ's name of the state, for reply texts ("running"). */
const char *connection_state_name(enum conn_state s);
/* Stop reading; close the socket after delay_ms (0: now, after a flush). */
void connection_kill(struct connection *c, uint64_t delay_ms);
/* Enter CONN_CLOSING (close already sent): wait for close-ok up to ms. */
void connection_await_close_ok(struct connection *c, uint64_t ms);
/* Closing timeout once running: the heartbeat if 0 < hb < 30 s, else 30 s. */
uint64_t connection_closing_timeout_ms(const struct connection *c);
/* Negotiation done (tune-ok): apply limits, start heartbeats. */
void connection_tuned(struct connection *c);
/* Handshake complete (open-ok sent). */
void connection_opened(struct connection *c);

/* handle_connection.c: methods on channel 0. */
void handle_connection_method(struct connection *c, const struct amqp_method *m);
/* Build srv->start_frame. */
void handle_connection_build_start(struct session_server *srv);

/* ---- channels ----------------------------------------------------------------- */

enum channel_state {
    CHANNEL_OPEN,        /* open-ok sent: methods are handled */
    CHANNEL_CLOSING,     /* we sent channel.close; only close / close-ok are read */
};

/* Content assembly: basic.publish -> content header -> body frames. */
enum channel_content {
    CONTENT_IDLE,        /* expecting a method frame */
    CONTENT_AWAIT_HEADER,/* a content method arrived; expecting its header */
    CONTENT_AWAIT_BODY,  /* header arrived; expecting body frames until body_size */
};

/* Room for a publish's exchange and routing key (shortstrs). */
#define CHANNEL_PUB_NAMES 512
/* Longest exchange name whose publish permission a channel remembers. */
#define CHANNEL_PUB_OK_MAX 64
/* Longest content-header property block a channel remembers. */
#define CHANNEL_PROPS_CACHE 64

/* ---- unacked deliveries (unacked.c) ------------------------------------------ */

struct chan_consumer;

/* One delivery awaiting ack: the queue's entry plus who got it. */
struct unacked_entry {
    uint64_t tag;                        /* delivery tag */
    struct queue *q;                     /* kept alive by the entry itself */
    struct chan_consumer *cons;          /* NULL for basic.get */
    struct queue_entry e;                /* e.msg == NULL: a settled slot (hole) */
};

/*
 * The unacked deliveries of a channel by delivery tag, O(1) per tag: a ring
 * indexed by tag - base (settled slots stay as holes until they reach the
 * head), and, for stragglers left behind when the ring is sparse, a sorted
 * side array of older entries (binary search).  Memory stays proportional
 * to the live entries however acks arrive.
 */
struct unacked {
    struct unacked_entry *ring;
    uint32_t cap;                        /* power of two, or 0 */
    uint32_t head;                       /* slot of tag == base */
    uint32_t span;                       /* slots in use from head (live + holes) */
    uint64_t base;                       /* tag of the head slot */
    struct unacked_entry *side;          /* tags < base, ascending, holes allowed */
    uint32_t side_start;                 /* side[0 .. side_start) are holes */
    uint32_t side_n, side_cap;
    uint32_t side_holes;                 /* holes in side[side_start .. side_n) */
    uint32_t live;                       /* outstanding entries in ring + side */
};

void unacked_init(struct unacked *u);
/* Settle nothing: free the arrays (entries must have been taken). */
void unacked_free(struct unacked *u);
/* Add an entry; its tag must be above every tag added before. */
void unacked_add(struct unacked *u, const struct unacked_entry *ue);
/* The outstanding entry with this tag, or NULL (unknown or settled). */
struct unacked_entry *unacked_find(struct unacked *u, uint64_t tag);
/* Remove the entry with this tag into *out; false when not outstanding. */
bool unacked_take(struct unacked *u, uint64_t tag, struct unacked_entry *out);
/* Remove the oldest outstanding entry with tag <= upto; false when none. */
bool unacked_take_first(struct unacked *u, uint64_t upto, struct unacked_entry *out);
/* Put back an entry taken earlier (tx.rollback); its tag must be free. */
void unacked_restore(struct unacked *u, const struct unacked_entry *ue);
static inline uint32_t unacked_count(const struct unacked *u) { return u->live; }

/* ---- consumers of a channel (deliver.c) ---------------------------------------- */

/*
 * A basic.consume of this channel: the broker consumer plus the credit
 * bookkeeping.  After cancellation (c == NULL) it lives on while deliveries
 * it received are unacked, then frees itself.
 */
struct chan_consumer {
    struct channel *ch;
    struct consumer *c;                  /* NULL once cancelled */
    struct chan_consumer *next, *prev;   /* ch->consumers (live ones only) */
    uint32_t unacked;                    /* its deliveries not settled yet */
    uint16_t prefetch;                   /* per-consumer limit, 0 = none */
    bool no_ack;
    bool blocked;                        /* can_deliver said no: awaits resume */
    uint8_t tag_len;
    char tag[256];
};

/* tx: held publishes and settlements until tx.commit. */
enum tx_op {
    TX_OP_ACK,
    TX_OP_REQUEUE,
    TX_OP_DROP,
};

struct tx_publish {
    struct message *msg;                 /* one reference */
    bool mandatory;
};

struct tx_settle {
    struct unacked_entry ue;
    uint8_t op;                          /* enum tx_op */
};

struct channel {
    struct connection *conn;
    uint16_t id;
    enum channel_state state;
    enum channel_content content;
    bool flow_active;                    /* channel.flow: deliveries allowed */
    bool released;                       /* consumers and unacked already given back */
    /* content assembly: one broker message per publish, filled in place */
    uint32_t content_method;             /* AMQP_BASIC_PUBLISH while assembling */
    struct amqp_basic_publish publish;   /* exchange/routing_key -> pub_names */
    uint8_t *pub_names;                  /* CHANNEL_PUB_NAMES, kept for reuse */
    struct message *msg;                 /* after the header: body being filled */
    uint64_t body_len;                   /* body bytes received so far */
    /* the last content header's property bytes, accepted, and what they
     * gave: the same bytes again (a publisher's usual case) skip the
     * decode and checks (channel.c); never with reply_to set */
    bool hdr_cached;
    uint8_t hdr_props_len;
    uint8_t hdr_props[CHANNEL_PROPS_CACHE];
    struct message_info hdr_info;
    /* consuming */
    struct chan_consumer *consumers;     /* live consumers */
    uint32_t n_consumers;
    uint32_t n_blocked;                  /* live consumers with blocked set */
    uint16_t consumer_prefetch;          /* basic.qos global=false: for new consumers */
    uint16_t channel_prefetch;           /* basic.qos global=true: 0 = none */
    uint32_t consumer_unacked;           /* unacked deliveries to consumers */
    uint64_t next_tag;                   /* next delivery tag (from 1) */
    struct unacked unacked;
    /* basic.publish's write permission was granted on exchange pub_ok_x
     * at access generation pub_ok_gen: reused while neither changes */
    bool pub_ok;
    uint8_t pub_ok_len;
    uint64_t pub_ok_gen;
    char pub_ok_x[CHANNEL_PUB_OK_MAX];
    /* the most recently declared queue: the "" shortcut */
    uint8_t mrdq_len;
    bool has_mrdq;
    char mrdq[256];
    /* direct reply-to (reply.c) */
    struct chan_reply *reply;            /* the reply consumer, or NULL */
    bool pub_reply_missing;              /* this publish asks amq.rabbitmq.reply-to
                                            and there is no reply consumer */
    /* publisher confirms */
    bool confirm;                        /* confirm.select seen */
    bool confirm_listed;                 /* on conn->confirm_head */
    struct channel *confirm_next;
    uint64_t pub_seq;                    /* last publish sequence number */
    uint64_t confirm_sent;               /* acks/nacks sent up to this seq */
    uint64_t confirm_ready;              /* acks ready to send up to this seq */
    /*
     * Publishes settled out of order wait here so confirms go out in seq
     * order: states (CONFIRM_W_*) of seq win_base .. win_base + win_len - 1,
     * a ring of win_cap (power of two).  Empty unless a persistent publish
     * waits for the store's sync.
     */
    uint8_t *win;
    uint64_t win_base;
    uint32_t win_head, win_len, win_cap;
    uint32_t sync_waits;                 /* this channel's entries in srv->waits */
    uint32_t commits_waiting;            /* tx.commit-ok waiting for a sync */
    /* transactions */
    bool tx;                             /* tx.select seen */
    struct tx_publish *tx_pubs;
    uint32_t tx_npubs, tx_pubs_cap;
    struct tx_settle *tx_settles;
    uint32_t tx_nsettles, tx_settles_cap;
};

/* channel.c */
struct channel *channel_get(struct connection *c, uint16_t id);
struct channel *channel_open(struct connection *c, uint16_t id);
/* Forget the channel (its id is free again), releasing what it holds. */
void channel_free(struct channel *ch);
/*
 * Give back what the channel holds in the broker: cancel its consumers,
 * requeue its unacked deliveries (tx-held ones too), drop uncommitted
 * publishes.  Idempotent; called when the channel closes or fails.
 */
void channel_release(struct channel *ch);
void channel_set_state(struct channel *ch, enum channel_state next);
/* Send channel.close(code, text, method) and enter CHANNEL_CLOSING. */
void channel_close_with_error(struct channel *ch, uint16_t code, const char *text,
                              uint32_t method_id);
/* A frame on a channel > 0 of an open connection. */
void channel_handle_frame(struct connection *c, const struct amqp_frame *f);
/* Content method decoded (basic.publish): start assembling. */
void channel_begin_content(struct channel *ch, const struct amqp_method *m);
/* Every channel of c goes away (connection closing), then the
 * connection's exclusive queues. */
void channel_free_all(struct connection *c);

/* dispatch.c: run the handler of m on an open channel (not mid-content). */
void dispatch_method(struct channel *ch, const struct amqp_method *m);

/* handle_channel.c: method handlers of an open channel (see dispatch.c). */
typedef void (*method_handler_fn)(struct channel *ch, const struct amqp_method *m);
void handle_channel_open_again(struct channel *ch, const struct amqp_method *m);
void handle_channel_close(struct channel *ch, const struct amqp_method *m);
void handle_channel_flow(struct channel *ch, const struct amqp_method *m);
void handle_access_request(struct channel *ch, const struct amqp_method *m);
void handle_basic_publish(struct channel *ch, const struct amqp_method *m);
void handle_command_invalid(struct channel *ch, const struct amqp_method *m);

/* handle_exchange.c */
void handle_exchange_declare(struct channel *ch, const struct amqp_method *m);
void handle_exchange_delete(struct channel *ch, const struct amqp_method *m);
void handle_exchange_bind(struct channel *ch, const struct amqp_method *m);
void handle_exchange_unbind(struct channel *ch, const struct amqp_method *m);

/* handle_queue.c */
void handle_queue_declare(struct channel *ch, const struct amqp_method *m);
void handle_queue_bind(struct channel *ch, const struct amqp_method *m);
void handle_queue_unbind(struct channel *ch, const struct amqp_method *m);
void handle_queue_purge(struct channel *ch, const struct amqp_method *m);
void handle_queue_delete(struct channel *ch, const struct amqp_method *m);
/*
 * Resolve the "" shortcut: name, or the channel's most recently declared
 * queue.  False after failing the channel (404 no previously declared queue).
 */
bool handle_queue_name(struct channel *ch, uint32_t method_id, struct edad_bytes name,
                       struct edad_bytes *out);

/* handle_basic.c */
void handle_basic_qos(struct channel *ch, const struct amqp_method *m);
void handle_basic_consume(struct channel *ch, const struct amqp_method *m);
void handle_basic_cancel(struct channel *ch, const struct amqp_method *m);
void handle_basic_get(struct channel *ch, const struct amqp_method *m);
void handle_basic_ack(struct channel *ch, const struct amqp_method *m);
void handle_basic_nack(struct channel *ch, const struct amqp_method *m);
void handle_basic_reject(struct channel *ch, const struct amqp_method *m);
void handle_basic_recover(struct channel *ch, const struct amqp_method *m);
void handle_basic_recover_async(struct channel *ch, const struct amqp_method *m);
/*
 * A whole message arrived on ch (content assembly done).  pub holds the
 * basic.publish arguments (valid during the call); the caller hands over
 * its reference to msg.
 */
void handle_channel_message(struct channel *ch, const struct amqp_basic_publish *pub,
                            struct message *msg);
/*
 * Route msg now (not tx-buffered): 404/403 fail the channel and return
 * false; mandatory and unroutable -> basic.return; *rejected (may be NULL)
 * tells whether a queue refused it.  The caller keeps its reference.
 */
bool handle_basic_route(struct channel *ch, struct message *msg, bool mandatory,
                        bool *rejected, uint32_t *pending);

/* handle_confirm.c */
void handle_confirm_select(struct channel *ch, const struct amqp_method *m);
/*
 * The publish numbered seq (the next one, in order) was routed: pending
 * (waits for the store's sync: confirm_complete later), else ack or nack.
 */
void confirm_publish(struct channel *ch, uint64_t seq, bool ack, bool pending);
/* A pending publish's sync completed. */
void confirm_complete(struct channel *ch, uint64_t seq, bool ok);
void confirm_free(struct channel *ch);

/* durable.c: the store seam (cookies awaiting sync) */
/* Register a wait for ch (seq 0: a tx.commit) and ask the store to sync. */
void durable_wait(struct channel *ch, uint64_t seq);
/* ch goes away: its waits complete into nothing. */
void durable_forget(struct channel *ch);
/* End of an input batch: the store writes what it buffered. */
void durable_flush(struct session_server *srv);
/* Connection c has confirms to flush at the batch end. */
void durable_touch(struct connection *c);
/* The publish with sequence number seq is settled (ack, or nack). */
void confirm_settle(struct channel *ch, uint64_t seq, bool ack);
/* Send the channel's ready acks now (one ack, multiple=true when several). */
void confirm_flush(struct channel *ch);
/* Flush every channel of c that has acks ready (end of an input batch). */
void confirm_flush_all(struct connection *c);
/* Forget ch's pending flush (channel freed). */
void confirm_unlist(struct channel *ch);

/* handle_tx.c */
void handle_tx_select(struct channel *ch, const struct amqp_method *m);
void handle_tx_commit(struct channel *ch, const struct amqp_method *m);
void handle_tx_rollback(struct channel *ch, const struct amqp_method *m);
/* Hold a publish until commit (takes the reference). */
void tx_add_publish(struct channel *ch, struct message *msg, bool mandatory);
/* Hold a settlement until commit. */
void tx_add_settle(struct channel *ch, const struct unacked_entry *ue, enum tx_op op);
/* Drop held publishes, requeue held settlements (channel closing). */
void tx_release(struct channel *ch);
/* A tx.commit waiting for the store's sync completed. */
void tx_commit_complete(struct channel *ch, bool ok);

/* ---- deliver.c: consumers, deliveries, settlement ------------------------------------ */

/* Register a consumer on q for ch (tag already unique); *err on failure. */
edad_status deliver_consume(struct channel *ch, struct queue *q, struct edad_bytes tag,
                            bool no_ack, bool exclusive, const struct broker_table *args,
                            struct broker_err *err);
struct chan_consumer *deliver_find_consumer(struct channel *ch, struct edad_bytes tag);
/* basic.cancel of cc (may delete an auto-delete queue). */
void deliver_cancel(struct chan_consumer *cc);
/* Cancel every consumer of ch. */
void deliver_cancel_all(struct channel *ch);
/* Settle one taken entry: ack, requeue or drop; credit bookkeeping. */
void deliver_settle(struct channel *ch, struct unacked_entry *ue, enum tx_op op);
/* Credit may be back on ch (acks, qos, flow): resume blocked consumers. */
void deliver_credit_changed(struct channel *ch);
/* The transport drained: resume every consumer of c blocked on output. */
void deliver_output_drained(struct connection *c);
/* Requeue every outstanding (not tx-held) delivery of ch. */
void deliver_requeue_all(struct channel *ch);
/* basic.get-ok for an entry just taken from q. */
void deliver_get_ok(struct channel *ch, struct queue *q, struct queue_entry *e, bool no_ack,
                    uint32_t message_count);

/* ---- reply.c: direct reply-to ------------------------------------------------------ */

struct chan_reply;
/* Is name (after the "" shortcut) amq.rabbitmq.reply-to itself? */
bool reply_is_pseudo_queue(struct edad_bytes name);
/* basic.consume of amq.rabbitmq.reply-to (tag already checked for reuse). */
void reply_consume(struct channel *ch, const struct amqp_basic_consume *a, uint32_t method_id);
/* basic.cancel: true when tag was the reply consumer's (now cancelled). */
bool reply_cancel(struct channel *ch, struct edad_bytes tag);
/* Drop the reply consumer (channel closing); replies to it are unroutable. */
void reply_release(struct channel *ch);
/*
 * A publish's properties: when reply_to is amq.rabbitmq.reply-to, *out
 * gets them re-encoded (in the connection arena) with the channel's
 * pseudo-queue name and true is returned; without a reply consumer the
 * channel is marked (pub_reply_missing) for the 406 after the exchange
 * checks.
 */
bool reply_rewrite_props(struct channel *ch, const struct amqp_basic_properties *props,
                         struct edad_bytes *out);
/* queue.declare of an amq.rabbitmq.reply-to* name: answered (true), or
 * false when the name is an ordinary one. */
bool reply_declare(struct channel *ch, const struct amqp_queue_declare *a, uint32_t method_id);

/* ---- codec.c: the broker's message codec ---------------------------------------------- */

/* Register the session's codec with b (session_server_new). */
void session_codec_register(struct broker *b);

/* ---- args.c: AMQP field tables -> broker tables --------------------------------------- */

/*
 * Convert a decoded table kind for kind ('U' becomes 's'), entries in the
 * arena (valid until it is reset).  EDAD_ERR_NOMEM when the arena is full.
 */
edad_status session_table_convert(const struct amqp_table *in, struct arena *a,
                                  struct broker_table *out);

/* ---- dispatch.c: errors ---------------------------------------------------------- */

/*
 * The one place that turns an error into a reply.  code is the AMQP reply
 * code, method_id the offending method (0 = none, as class/method 0/0),
 * fmt the explanation (the "NAME - " prefix is added).  Soft codes on a
 * channel > 0 close that channel; hard codes, or any error on channel 0,
 * close the connection.  Before the connection is open, RabbitMQ's
 * handshake rules apply (see docs/protocol-errors.md).
 */
/*
 * Decode a method frame; on failure reply as RabbitMQ does (540 for an
 * unknown method, 501 for malformed arguments or non-UTF-8 shortstrs) and
 * return false.
 */
bool session_decode_method(struct connection *c, uint16_t channel, const struct amqp_frame *f,
                           struct amqp_method *m);
void session_fail(struct connection *c, uint16_t channel, uint16_t code, uint32_t method_id,
                  const char *fmt, ...) EDAD_PRINTF(5, 6);
/* Frame-level error after which the stream has lost sync: reply, read
 * nothing more, close after the silent-close delay. */
void session_fail_fatal(struct connection *c, uint16_t code, const char *fmt, ...)
    EDAD_PRINTF(3, 4);
/* Format "<<1,2,3>>" of at most 16 bytes of b: "all octets = ..." or
 * "first 16 octets = ...". */
void session_format_octets(char *buf, size_t len, struct edad_bytes b);
/* session_fail with a broker error (its text already has "NAME - "). */
void session_fail_broker(struct channel *ch, uint32_t method_id, const struct broker_err *err);

/* ---- output.c ---------------------------------------------------------------- */

/* Encode one method frame into the output; EDAD_OK or an error (logged). */
edad_status session_send_method(struct connection *c, uint16_t channel, const struct amqp_method *m);
edad_status session_send_heartbeat(struct connection *c);
/* Send connection.close / channel.close with "NAME - text" already built. */
edad_status session_send_connection_close(struct connection *c, uint16_t code, const char *text,
                                          uint32_t method_id);
edad_status session_send_channel_close(struct connection *c, uint16_t channel, uint16_t code,
                                       const char *text, uint32_t method_id);
/*
 * Send m (basic.deliver, basic.get-ok, basic.return) with msg's content:
 * header frame with the property bytes as published, then body frames of
 * at most frame_max.  Small bodies are copied; large ones are queued by
 * reference, holding a reference to msg until sent (the caller keeps its own).
 */
edad_status session_send_content(struct connection *c, uint16_t channel,
                                 const struct amqp_method *m, struct message *msg);
/* Same with the method payload (class, method, arguments) already encoded. */
edad_status session_send_content_raw(struct connection *c, uint16_t channel,
                                     const uint8_t *method, size_t method_len,
                                     struct message *msg);
/* Same with property bytes other than the message's (copied). */
edad_status session_send_content_props(struct connection *c, uint16_t channel,
                                       const uint8_t *method, size_t method_len,
                                       struct message *msg, struct edad_bytes props);
/* basic.deliver (get_ok false) or basic.get-ok arguments besides msg's
 * exchange and routing key. */
struct session_deliver {
    const char *ctag;                    /* consumer tag (deliver only) */
    uint8_t ctag_len;
    bool get_ok;
    bool redelivered;
    uint64_t tag;                        /* delivery tag */
    uint32_t message_count;              /* get-ok only */
};
/*
 * Send basic.deliver / basic.get-ok with msg's content, encoded straight
 * into the output (as session_send_content_props; props NULL: the
 * message's own property bytes).
 */
edad_status session_send_deliver(struct connection *c, uint16_t channel,
                                 const struct session_deliver *d, struct message *msg,
                                 const struct edad_bytes *props);
/*
 * props.c: the property bytes of a delivery of msg from entry e when the
 * broker's annotations must show (x-death and friends of a dead letter,
 * x-delivery-count of a redelivery), encoded into a; false when the
 * message's own bytes go unchanged.
 */
bool session_delivery_props(struct arena *a, const struct message *msg,
                            const struct queue_entry *e, struct edad_bytes *out);
/* Send an argument-less method (close-ok, open-ok ...). */
edad_status session_send_simple(struct connection *c, uint16_t channel, uint32_t method_id);

/* ---- sasl.c: authentication -------------------------------------------------- */

/* PLAIN: "\0user\0pass" or "authzid\0user\0pass" (authzid ignored). */
edad_status sasl_plain_parse(struct edad_bytes response, struct edad_bytes *user,
                             struct edad_bytes *pass);
/* AMQPLAIN: a field-table body (no length prefix) with LOGIN and PASSWORD. */
edad_status sasl_amqplain_parse(struct edad_bytes response, struct arena *a,
                                struct edad_bytes *user, struct edad_bytes *pass);

enum auth_result {
    AUTH_OK,
    AUTH_BAD_CREDENTIALS,   /* unknown user or wrong password */
    AUTH_LOOPBACK_ONLY,     /* a loopback_users user from a remote address */
};

/*
 * The configured user only: default_user / default_pass, and
 * loopback_users (what auth_login falls back to without a user store).
 */
enum auth_result auth_check(const struct edad_conf *conf, struct edad_bytes user,
                            struct edad_bytes pass, bool peer_is_loopback);
/*
 * The one credentials check of a connection: user with password pass
 * (NULL: a mechanism without a password such as EXTERNAL, where the user
 * only has to exist) against the broker's user store (access.h), then
 * loopback_users.  Without a broker, or before its store was seeded (unit
 * tests), auth_check's configured user is the only one.
 */
enum auth_result auth_login(const struct session_server *srv, struct edad_bytes user,
                            const struct edad_bytes *pass, bool peer_is_loopback);

/*
 * Permission checks of the channel handlers (access.h): fail the channel
 * with the 403/406 and return false when st is an error.
 */
bool session_permitted(struct channel *ch, uint32_t method_id, edad_status st,
                       const struct broker_err *err);
/*
 * SASL EXTERNAL: user was named by a verified client certificate, no
 * password is checked; the user must exist (and loopback_users applies).
 */
enum auth_result auth_check_external(const struct edad_conf *conf, struct edad_bytes user,
                                     bool peer_is_loopback);
/*
 * EXTERNAL's user name for connection c from its client certificate
 * (ssl_cert_login_from) into buf.  NULL on success, else the reason the
 * login is refused, in RabbitMQ's words ("connection peer presented no TLS
 * (x.509) certificate").
 */
const char *sasl_external_user(struct connection *c, char *buf, size_t len);
/* Whether c was offered mechanism (auth_mechanisms; EXTERNAL on TLS only). */
bool sasl_mechanism_offered(const struct connection *c, struct edad_bytes mechanism);
/* Send the connection.start for c's kind of transport. */
void handle_connection_send_start(struct connection *c);

/* ---- vhosts ---------------------------------------------------------------------- */

/* True when name exists (the broker's vhost, or conf's default_vhost
 * without a broker); *vh gets the broker's vhost or NULL. */
bool session_vhost_find(const struct session_server *srv, struct edad_bytes name,
                        struct vhost **vh);

#endif
