/*
 * perf.h - edad-perf internals: a small blocking AMQP 0-9-1 client (its own
 * encoder and in-place frame parser, independent of libedad so the same
 * client measures edad and RabbitMQ alike), a latency histogram and the
 * do-nothing echo endpoint used by --ceiling.  Not a general client library:
 * only what the benchmark modes need.
 */
#ifndef EDAD_PERF_H
#define EDAD_PERF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- method ids (class << 16 | method) ------------------------------------ */
#define PM(c, m) (((uint32_t)(c) << 16) | (uint32_t)(m))
#define PM_CONN_START PM(10, 10)
#define PM_CONN_START_OK PM(10, 11)
#define PM_CONN_TUNE PM(10, 30)
#define PM_CONN_TUNE_OK PM(10, 31)
#define PM_CONN_OPEN PM(10, 40)
#define PM_CONN_OPEN_OK PM(10, 41)
#define PM_CONN_CLOSE PM(10, 50)
#define PM_CONN_CLOSE_OK PM(10, 51)
#define PM_CONN_BLOCKED PM(10, 60)
#define PM_CONN_UNBLOCKED PM(10, 61)
#define PM_CH_OPEN PM(20, 10)
#define PM_CH_OPEN_OK PM(20, 11)
#define PM_CH_CLOSE PM(20, 40)
#define PM_CH_CLOSE_OK PM(20, 41)
#define PM_EX_DECLARE PM(40, 10)
#define PM_EX_DECLARE_OK PM(40, 11)
#define PM_Q_DECLARE PM(50, 10)
#define PM_Q_DECLARE_OK PM(50, 11)
#define PM_Q_BIND PM(50, 20)
#define PM_Q_BIND_OK PM(50, 21)
#define PM_Q_PURGE PM(50, 30)
#define PM_Q_PURGE_OK PM(50, 31)
#define PM_Q_DELETE PM(50, 40)
#define PM_Q_DELETE_OK PM(50, 41)
#define PM_B_QOS PM(60, 10)
#define PM_B_QOS_OK PM(60, 11)
#define PM_B_CONSUME PM(60, 20)
#define PM_B_CONSUME_OK PM(60, 21)
#define PM_B_PUBLISH PM(60, 40)
#define PM_B_RETURN PM(60, 50)
#define PM_B_DELIVER PM(60, 60)
#define PM_B_ACK PM(60, 80)
#define PM_B_NACK PM(60, 120)
#define PM_CF_SELECT PM(85, 10)
#define PM_CF_SELECT_OK PM(85, 11)

/* ---- encoder ------------------------------------------------------------- */

/* A growable output buffer; the encoders append big-endian fields. */
struct pbuf {
    uint8_t *p;
    size_t len, cap;
};

void pbuf_reserve(struct pbuf *b, size_t extra);
void pbuf_free(struct pbuf *b);
void pb_u8(struct pbuf *b, uint8_t v);
void pb_u16(struct pbuf *b, uint16_t v);
void pb_u32(struct pbuf *b, uint32_t v);
void pb_u64(struct pbuf *b, uint64_t v);
void pb_mem(struct pbuf *b, const void *p, size_t n);
/* shortstr (truncated at 255 bytes) and longstr. */
void pb_sstr(struct pbuf *b, const char *s);
void pb_lstr(struct pbuf *b, const void *p, uint32_t n);
/* Start a frame (type, channel): returns the offset to pass to pb_frame_end,
   which patches the size and appends the frame-end octet. */
size_t pb_frame_begin(struct pbuf *b, uint8_t type, uint16_t channel);
void pb_frame_end(struct pbuf *b, size_t start);
/* Start a method frame on channel with its class/method id. */
size_t pb_method_begin(struct pbuf *b, uint16_t channel, uint32_t id);

/* Big-endian readers over a payload; they never read past end and return 0
   (or an empty string) once the payload is exhausted. */
struct preader {
    const uint8_t *p, *end;
};
uint8_t pr_u8(struct preader *r);
uint16_t pr_u16(struct preader *r);
uint32_t pr_u32(struct preader *r);
uint64_t pr_u64(struct preader *r);
/* shortstr into out (NUL-terminated, truncated to outsz-1). */
void pr_sstr(struct preader *r, char *out, size_t outsz);
void pr_skip_lstr(struct preader *r);

/* ---- connection ------------------------------------------------------------ */

struct pframe {
    uint8_t type;
    uint16_t channel;
    uint32_t size;
    const uint8_t *payload;    /* points into the connection's read buffer */
    uint32_t method;           /* PM id for method frames, else 0 */
};

struct pconn {
    int fd;
    uint8_t *rbuf;
    size_t rcap, rpos, rlen;
    uint32_t frame_max;        /* negotiated, including the 8 overhead bytes */
    struct pbuf out;
    bool blocked;              /* connection.blocked seen */
    char err[256];             /* first error (close reply text, errno text) */
};

struct ptarget {
    char host[256];
    uint16_t port;
    char vhost[256];
    char user[128];
    char pass[128];
};

/* Parse amqp://user:pass@host:port/vhost (every part optional) into *t;
   false on a malformed URI. */
bool ptarget_parse(struct ptarget *t, const char *uri);

/*
 * Connect to t, run the handshake (PLAIN, heartbeat 0, frame_max 131072 or
 * the server's lower value) and open channel 1 when open_channel.
 * timeout_ms bounds each connect/read of the handshake.  0 on success;
 * -1 with c->err set (c->fd closed) on failure.
 */
int pconn_open(struct pconn *c, const struct ptarget *t, int timeout_ms, bool open_channel);
/* Send connection.close, wait briefly for close-ok, close the socket and
   free the buffers.  Safe on a failed or already closed connection. */
void pconn_close(struct pconn *c);
/* Set SO_RCVTIMEO/SO_SNDTIMEO (ms, 0 = block forever). */
void pconn_set_timeout(struct pconn *c, int ms);
/* Write all of buf (blocking); 0, or -1 with c->err. When stop is non-NULL
   and becomes true while the socket cannot take more, give up with -1 and
   errno EINTR-like err "stopped". */
int pconn_write(struct pconn *c, const uint8_t *buf, size_t len, const atomic_bool *stop);
/* Write and clear c->out. */
int pconn_flush(struct pconn *c, const atomic_bool *stop);
/*
 * One read() into the buffer (compacting it first).  dontwait: MSG_DONTWAIT.
 * Returns bytes read (>0), 0 when nothing is available (EAGAIN / timeout),
 * -1 on EOF or error (c->err set).
 */
long pconn_fill(struct pconn *c, bool dontwait);
/* Next complete frame already buffered: 1 (f filled, valid until the next
   fill), 0 need more bytes, -1 malformed (c->err set). */
int pconn_next(struct pconn *c, struct pframe *f);
/* Block (up to the socket timeout, retried until stop) for the next frame. */
int pconn_read_frame(struct pconn *c, struct pframe *f, const atomic_bool *stop);
/*
 * Flush c->out (one method just encoded) and wait for a method frame with
 * id want on any channel, skipping other frames.  A channel.close or
 * connection.close fails the call with the server's reply text in c->err
 * (and *reply_code when non-NULL).  Returns 0 and *f on success, else -1.
 */
int pconn_rpc(struct pconn *c, uint32_t want, struct pframe *f, int *reply_code);

/* Convenience RPCs on channel 1; 0 or -1 with c->err. */
int pconn_queue_declare(struct pconn *c, const char *name, bool passive, bool durable,
                        bool exclusive, bool auto_delete, uint32_t *messages, uint32_t *consumers);
int pconn_exchange_declare(struct pconn *c, const char *name, const char *type, bool durable);
int pconn_queue_bind(struct pconn *c, const char *queue, const char *exchange, const char *key);
int pconn_queue_delete(struct pconn *c, const char *name, uint32_t *messages);
int pconn_qos(struct pconn *c, uint16_t prefetch);
int pconn_consume(struct pconn *c, const char *queue, bool no_ack);
int pconn_confirm_select(struct pconn *c);
/* Append a basic.ack frame for channel 1 to c->out. */
void pconn_put_ack(struct pconn *c, uint64_t tag, bool multiple);

/* ---- latency histogram ------------------------------------------------------ */

#define HIST_BUCKETS 1280

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t n[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);
/* Value (ns) at quantile q in [0,1]; 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

/* ---- misc ----------------------------------------------------------------- */

uint64_t perf_now_ns(void);
/* VmRSS of pid in KiB, or -1. */
long perf_rss_kib(long pid);
/* The pid of the process listening on 127.0.0.1/0.0.0.0:port (scans
   /proc/net/tcp{,6} and /proc/[pid]/fd), or -1 when not found/permitted. */
long perf_pid_of_port(uint16_t port);

/* ---- echo endpoint (--ceiling) ---------------------------------------------- */

/* Start a do-nothing broker on 127.0.0.1 (ephemeral port, returned in *port):
   it completes handshakes, answers declarations, turns each publish into a
   delivery to the consumer of the queue named by the routing key (or drops
   it), confirms in batches and ignores acks.  Threads run until exit.
   0 or -1. */
int echo_start(uint16_t *port);

#endif
