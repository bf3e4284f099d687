/*
 * net.h - the network layer: event loop, listeners, byte transports over
 * sockets, and timers.  It hides libevent so the session layer sees only
 * "input bytes, output bytes, pause, close"; only src/net/ and server.c
 * include <event2/...>.  It knows nothing about AMQP.
 *
 * Threading: every object belongs to one loop and is used from that loop's
 * thread only.  A loop may have a writer thread (net_loop_set_io_threads)
 * that sends plain TCP output handed over once per loop turn; it is
 * invisible here: callbacks, add_ref cleanups and every call stay on the
 * loop's thread.
 */
#ifndef EDAD_NET_H
#define EDAD_NET_H

#include "edad/core.h"

struct event_base;       /* libevent's; only server.c looks inside */
struct net_loop;
struct net_listener;
struct net_transport;
struct net_timer;
struct net_tls;

/* ---- loop ------------------------------------------------------------------ */

/* A new event loop; aborts on failure (no loop, no daemon). */
struct net_loop *net_loop_new(void);
/* Free the loop; every listener, transport and timer must be gone. */
void net_loop_free(struct net_loop *loop);
/* Run until net_loop_exit(); EDAD_OK or EDAD_ERR_IO. */
edad_status net_loop_run(struct net_loop *loop);
/* Run the callbacks that are ready now (closing transports etc.), no wait. */
void net_loop_run_pending(struct net_loop *loop);
/* Make net_loop_run() return after the current iteration. */
void net_loop_exit(struct net_loop *loop);
/* The libevent base, for server.c's signal events (borrowed). */
struct event_base *net_loop_event_base(struct net_loop *loop);
/* Cached monotonic milliseconds of the current loop iteration. */
uint64_t net_loop_now_ms(struct net_loop *loop);
/*
 * Writer threads for the loop's plain TCP transports: 0 (the loop writes),
 * 1, or -1 for auto (1 when the machine has more than one CPU online).
 * Call before the first transport; a writer cannot be stopped before
 * net_loop_free.  The environment variable EDAD_NET_IO_THREADS (0, 1,
 * auto) overrides the value and, when set, also applies to loops that
 * never call this (tests).
 */
void net_loop_set_io_threads(struct net_loop *loop, int n);
/* Writer threads running for the loop (0 or 1). */
unsigned net_loop_io_threads(const struct net_loop *loop);

/* ---- timers ---------------------------------------------------------------- */

typedef void (*net_timer_fn)(void *arg);

/* A stopped timer calling fn(arg) on expiry; free with net_timer_free. */
struct net_timer *net_timer_new(struct net_loop *loop, net_timer_fn fn, void *arg);
/* (Re)start: fires after ms, then every ms when periodic.  Restarting a
 * running timer replaces its schedule. */
void net_timer_start(struct net_timer *t, uint64_t ms, bool periodic);
void net_timer_stop(struct net_timer *t);
bool net_timer_pending(const struct net_timer *t);
/* Stop and free; NULL is a no-op.  Safe inside the timer's own callback. */
void net_timer_free(struct net_timer *t);

/* ---- transports -------------------------------------------------------------- */

/* Limits applied to every transport a listener accepts. */
struct net_transport_opts {
    size_t output_high_water;  /* stop reading from a peer whose unsent output
                                  exceeds this; resume below half of it */
    size_t read_high_water;    /* input bytes buffered before reading pauses */
    bool tcp_nodelay;
    struct net_tls *tls;       /* TLS server context (borrowed, outlives the
                                  listener and its transports); NULL: plain TCP */
};

/*
 * What a transport reports to its owner (the session).  Callbacks run from
 * the loop, never from inside a net_transport_* call made by the owner.
 *   on_read     new input is buffered (parse what's there).
 *   on_drained  output fell below half the high watermark after having
 *               been above it (resume work that produces output).
 *   on_eof      peer closed, or a read/write error (errno text in reason).
 *               The owner normally calls net_transport_close().
 *   on_closed   the transport is gone (socket closed, memory freed); the
 *               owner frees itself here.  Called exactly once.
 */
struct net_transport_handler {
    void (*on_read)(void *ctx);
    void (*on_drained)(void *ctx);
    void (*on_eof)(void *ctx, const char *reason);
    void (*on_closed)(void *ctx);
};

/* Install the owner's callbacks and start reading.  Call once, from the
 * listener's accept callback. */
void net_transport_start(struct net_transport *t, const struct net_transport_handler *h,
                         void *ctx);
struct net_loop *net_transport_loop(struct net_transport *t);

/* Input: bytes buffered so far. */
size_t net_transport_input_len(struct net_transport *t);
/* Copy up to n bytes from the front without consuming them; returns count. */
size_t net_transport_input_peek(struct net_transport *t, void *dst, size_t n);
/* Make the first n bytes contiguous and return them (borrowed until the
 * next input call); NULL when fewer than n bytes are buffered. */
const uint8_t *net_transport_input_pullup(struct net_transport *t, size_t n);
/* The bytes at the front that are already contiguous (no copy): *len of
 * them, at least 1 unless the input is empty (then NULL).  Borrowed until
 * the next input call; parse the whole frames inside, drain once. */
const uint8_t *net_transport_input_contig(struct net_transport *t, size_t *len);
/* Consume n bytes from the front. */
void net_transport_input_drain(struct net_transport *t, size_t n);
/* Bounded input: reading pauses once this many bytes are buffered. Must be
 * at least one whole frame.  Plain TCP reads up to this much (256 KiB at a
 * time) before one on_read, so large values mean fewer, larger reads. */
void net_transport_set_read_high_water(struct net_transport *t, size_t bytes);
/*
 * Call on_read once more on a later turn of the loop even if no new bytes
 * arrive: for an owner that left whole frames unprocessed because it used
 * its per-turn budget.  Before that call, the I/O callbacks of other
 * transports and the 0 ms timers due in that turn (the broker's dispatch
 * pass) run.  Several calls before it fires make one call; no-op once the
 * transport is closing.  Plain TCP and TLS alike.
 */
void net_transport_input_again(struct net_transport *t);

/*
 * Output.  Writes are queued and sent once per loop turn, batched: many
 * frames queued in one turn leave in one sendmsg() (by the loop, or by
 * its writer thread for large output); nothing is written inside these
 * calls.
 *   reserve  returns n writable bytes at the end of the output; fill some,
 *            then commit how many were used (<= n).  One reservation at a time.
 *   add      copy bytes.
 *   add_ref  queue bytes by reference, zero-copy; cleanup(data, len, arg)
 *            runs once they are sent or dropped, always on the loop's
 *            thread (never the writer's).
 * All return EDAD_OK, or EDAD_ERR_STATE once the transport is closing (the
 * bytes are dropped; add_ref still runs cleanup).
 */
uint8_t *net_transport_output_reserve(struct net_transport *t, size_t n);
edad_status net_transport_output_commit(struct net_transport *t, size_t used);
edad_status net_transport_output_add(struct net_transport *t, const void *data, size_t len);
typedef void (*net_ref_cleanup_fn)(const void *data, size_t len, void *arg);
edad_status net_transport_output_add_ref(struct net_transport *t, const void *data, size_t len,
                                         net_ref_cleanup_fn cleanup, void *arg);
size_t net_transport_output_len(struct net_transport *t);
/* True while output is above the high watermark (reading is paused). */
bool net_transport_output_saturated(struct net_transport *t);
/* Total bytes queued for output since the transport was created. */
uint64_t net_transport_bytes_queued(struct net_transport *t);
/* Total bytes received since the transport was created (consumed or
 * buffered; TLS: decrypted bytes). */
uint64_t net_transport_bytes_received(struct net_transport *t);
/* How many times input arrived (read callbacks): RabbitMQ's recv_cnt. */
uint64_t net_transport_reads(struct net_transport *t);
/* Process-wide totals over every transport, open and closed: bytes
 * received (counted as consumed or dropped) and bytes queued for output. */
void net_transport_totals(uint64_t *received, uint64_t *sent);

/* Owner-driven read pause (independent of the output watermark pause). */
void net_transport_pause_read(struct net_transport *t);
void net_transport_resume_read(struct net_transport *t);
/* True when reading is paused for any reason. */
bool net_transport_read_paused(struct net_transport *t);

/*
 * Close: stop reading, send what is queued, then close the socket and
 * free; on_closed follows.  When the output has not drained after
 * flush_timeout_ms (0 = close without waiting for a flush), close anyway.
 * Idempotent; a shorter timeout given later wins.
 */
void net_transport_close(struct net_transport *t, uint64_t flush_timeout_ms);
bool net_transport_is_closing(struct net_transport *t);

/* "1.2.3.4:5678" / "[::1]:5678" of the peer and of our end (borrowed). */
const char *net_transport_peer(struct net_transport *t);
const char *net_transport_local(struct net_transport *t);
bool net_transport_peer_is_loopback(struct net_transport *t);

/* True when t speaks TLS (accepted by a TLS listener). */
bool net_transport_is_tls(struct net_transport *t);

enum net_peer_cert {
    NET_PEER_CERT_OK,        /* a verified client certificate; name written */
    NET_PEER_CERT_NOT_TLS,   /* plain TCP */
    NET_PEER_CERT_NONE,      /* TLS, but the client presented no certificate */
    NET_PEER_CERT_NO_NAME,   /* the certificate has no such name (no CN) */
};
/*
 * The name of the client certificate's subject: its common name (CN) when
 * common_name, else the whole distinguished name as an RFC 4514 string
 * ("CN=app,O=example", openssl's -nameopt RFC2253), written to buf
 * (truncated to len).  Only certificates that verified count.
 */
enum net_peer_cert net_transport_peer_cert_name(struct net_transport *t, bool common_name,
                                                char *buf, size_t len);

/* ---- TLS ------------------------------------------------------------------- */

/* What a TLS server context is made of (paths are read at net_tls_new). */
struct net_tls_opts {
    const char *cacertfile;    /* trusted CAs for client certificates, or NULL */
    const char *certfile;      /* server certificate chain (PEM) */
    const char *keyfile;       /* its private key (PEM, unencrypted) */
    bool verify_peer;          /* request and verify client certificates */
    bool fail_if_no_peer_cert; /* with verify_peer: refuse clients without one */
    bool tls12, tls13;         /* versions accepted (at least one) */
};

/* False when edad was built without OpenSSL (then net_tls_new fails). */
bool net_tls_available(void);
/*
 * Load the files and build the context; NULL on failure with the reason in
 * err ("ssl_options.keyfile /x.pem: No such file or directory", "...: key
 * values mismatch").  Ciphers are fixed to forward-secret AEAD suites.
 */
struct net_tls *net_tls_new(const struct net_tls_opts *o, char *err, size_t errlen);
/* Free the context; transports still open keep what they use.  NULL ok. */
void net_tls_free(struct net_tls *tls);
/* TLS handshakes that failed (each also logged with its reason). */
uint64_t net_tls_handshake_failures(const struct net_tls *tls);
/* TLS handshakes that completed. */
uint64_t net_tls_handshakes(const struct net_tls *tls);

/* ---- listeners ----------------------------------------------------------- */

/* Called with a new transport; the callee must call net_transport_start()
 * (or net_transport_close()) before returning. */
typedef void (*net_accept_fn)(void *arg, struct net_transport *t);

/*
 * Listen on host:port (host: numeric IPv4/IPv6 or a name; "" = every
 * interface, IPv6 dual-stack when available).  On failure returns NULL and
 * writes the reason (e.g. "127.0.0.1:5672: Address already in use") to err.
 */
struct net_listener *net_listener_new(struct net_loop *loop, const char *host, uint16_t port,
                                      int backlog, const struct net_transport_opts *opts,
                                      net_accept_fn fn, void *arg, char *err, size_t errlen);
/* Stop accepting and close the socket; NULL is a no-op. */
void net_listener_free(struct net_listener *l);
/* "127.0.0.1:5672" as bound (the real port when 0 was asked). */
const char *net_listener_address(const struct net_listener *l);
uint16_t net_listener_port(const struct net_listener *l);

/* Open transports on this loop (accepted, not yet freed). */
size_t net_loop_transport_count(struct net_loop *loop);

#endif
