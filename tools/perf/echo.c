/*
 * echo.c - the do-nothing endpoint behind `edad-perf --ceiling`: a thread
 * per connection that answers the handshake and declarations with canned
 * replies and turns every publish straight into a delivery on the socket of
 * the queue's consumer (one write per read batch).  No queue, no storage, no
 * flow control: it shows what the client and the loopback can reach on this
 * machine, the upper bound any broker is compared with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "perf.h"

#define ECHO_QUEUES 256

struct echo_conn {
    struct pconn c;
    pthread_mutex_t wlock;     /* every write to c.fd, from any thread */
    uint64_t next_tag;         /* guarded by wlock */
    uint16_t consume_channel;
    bool dead;
    struct echo_conn *next;    /* every connection ever accepted (never freed) */
};

static struct echo_conn *echo_all;

static struct {
    pthread_mutex_t lock;
    char name[ECHO_QUEUES][256];
    struct echo_conn *consumer[ECHO_QUEUES];
    int count;
} queues = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct echo_conn *queue_consumer(const char *name)
{
    struct echo_conn *ec = NULL;
    pthread_mutex_lock(&queues.lock);
    for (int i = 0; i < queues.count; i++)
        if (strcmp(queues.name[i], name) == 0) {
            ec = queues.consumer[i];
            break;
        }
    pthread_mutex_unlock(&queues.lock);
    return ec;
}

static void queue_set_consumer(const char *name, struct echo_conn *ec)
{
    pthread_mutex_lock(&queues.lock);
    int i;
    for (i = 0; i < queues.count; i++)
        if (strcmp(queues.name[i], name) == 0)
            break;
    if (i == queues.count && queues.count < ECHO_QUEUES) {
        snprintf(queues.name[i], sizeof(queues.name[i]), "%s", name);
        queues.count++;
    }
    if (i < ECHO_QUEUES)
        queues.consumer[i] = ec;
    pthread_mutex_unlock(&queues.lock);
}

static void queue_drop_consumer(struct echo_conn *ec)
{
    pthread_mutex_lock(&queues.lock);
    for (int i = 0; i < queues.count; i++)
        if (queues.consumer[i] == ec)
            queues.consumer[i] = NULL;
    pthread_mutex_unlock(&queues.lock);
}

static int echo_write(struct echo_conn *ec, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&ec->wlock);
    int rc = ec->dead ? -1 : pconn_write(&ec->c, p, n, NULL);
    if (rc != 0)
        ec->dead = true;
    pthread_mutex_unlock(&ec->wlock);
    return rc;
}

/* Encode a reply method on ch into ec->c.out; the caller flushes. */
static size_t reply_begin(struct echo_conn *ec, uint16_t ch, uint32_t id)
{
    return pb_method_begin(&ec->c.out, ch, id);
}

static int reply_flush(struct echo_conn *ec)
{
    int rc = echo_write(ec, ec->c.out.p, ec->c.out.len);
    ec->c.out.len = 0;
    return rc;
}

/* Deliveries built for one consumer, written in one go. */
struct echo_batch {
    struct echo_conn *to;
    struct pbuf buf;
};

static void batch_flush(struct echo_batch *b)
{
    if (b->to && b->buf.len)
        echo_write(b->to, b->buf.p, b->buf.len);
    b->buf.len = 0;
}

static void *echo_conn_run(void *arg)
{
    struct echo_conn *ec = arg;
    struct pconn *c = &ec->c;
    struct echo_batch batch = {0};
    struct pframe f;
    bool confirm = false;
    uint64_t published = 0, confirmed = 0;
    struct echo_conn *target = NULL;
    char last_key[256] = "";
    char exchange[256] = "", key[256] = "";
    uint64_t body_left = 0;

    /* protocol header */
    while (c->rlen < 8)
        if (pconn_fill(c, false) < 0)
            goto done;
    c->rpos = 8;
    size_t s = reply_begin(ec, 0, PM_CONN_START);
    pb_u8(&c->out, 0);
    pb_u8(&c->out, 9);
    pb_u32(&c->out, 0);
    pb_lstr(&c->out, "PLAIN", 5);
    pb_lstr(&c->out, "en_US", 5);
    pb_frame_end(&c->out, s);
    if (reply_flush(ec) != 0)
        goto done;

    for (;;) {
        int r;
        while ((r = pconn_next(c, &f)) == 1) {
            if (f.type == 3) {                              /* body */
                if (target)
                    pb_mem(&batch.buf, f.payload - 7, (size_t)f.size + 8);
                body_left = body_left > f.size ? body_left - f.size : 0;
                if (body_left == 0)
                    published++;
                continue;
            }
            if (f.type == 2) {                              /* content header */
                struct preader hr = {f.payload + 4, f.payload + f.size};
                body_left = pr_u64(&hr);
                if (target) {
                    uint64_t tag;
                    pthread_mutex_lock(&target->wlock);
                    tag = ++target->next_tag;
                    pthread_mutex_unlock(&target->wlock);
                    size_t m = pb_method_begin(&batch.buf, target->consume_channel, PM_B_DELIVER);
                    pb_sstr(&batch.buf, "echo-ctag");
                    pb_u64(&batch.buf, tag);
                    pb_u8(&batch.buf, 0);
                    pb_sstr(&batch.buf, exchange);
                    pb_sstr(&batch.buf, key);
                    pb_frame_end(&batch.buf, m);
                    size_t h = pb_frame_begin(&batch.buf, 2, target->consume_channel);
                    pb_mem(&batch.buf, f.payload, f.size);
                    pb_frame_end(&batch.buf, h);
                }
                if (body_left == 0)
                    published++;
                continue;
            }
            if (f.type != 1)
                continue;
            struct preader rd = {f.payload + 4, f.payload + f.size};
            char name[256];
            switch (f.method) {
            case PM_B_PUBLISH:
                pr_u16(&rd);
                pr_sstr(&rd, exchange, sizeof(exchange));
                pr_sstr(&rd, key, sizeof(key));
                if (strcmp(key, last_key) != 0 || (target && target->dead) || !target) {
                    struct echo_conn *t = queue_consumer(key);
                    if (t != batch.to) {
                        batch_flush(&batch);
                        batch.to = t;
                    }
                    target = t;
                    snprintf(last_key, sizeof(last_key), "%s", key);
                }
                break;
            case PM_B_ACK:
            case PM_B_NACK:
                break;
            case PM_CONN_START_OK:
                s = reply_begin(ec, 0, PM_CONN_TUNE);
                pb_u16(&c->out, 2047);
                pb_u32(&c->out, 131072);
                pb_u16(&c->out, 0);
                pb_frame_end(&c->out, s);
                break;
            case PM_CONN_TUNE_OK:
                break;
            case PM_CONN_OPEN:
                s = reply_begin(ec, 0, PM_CONN_OPEN_OK);
                pb_sstr(&c->out, "");
                pb_frame_end(&c->out, s);
                break;
            case PM_CONN_CLOSE:
                s = reply_begin(ec, 0, PM_CONN_CLOSE_OK);
                pb_frame_end(&c->out, s);
                batch_flush(&batch);
                reply_flush(ec);
                goto done;
            case PM_CH_OPEN:
                s = reply_begin(ec, f.channel, PM_CH_OPEN_OK);
                pb_u32(&c->out, 0);
                pb_frame_end(&c->out, s);
                break;
            case PM_CH_CLOSE:
                s = reply_begin(ec, f.channel, PM_CH_CLOSE_OK);
                pb_frame_end(&c->out, s);
                break;
            case PM_EX_DECLARE:
                s = reply_begin(ec, f.channel, PM_EX_DECLARE_OK);
                pb_frame_end(&c->out, s);
                break;
            case PM_Q_DECLARE:
                pr_u16(&rd);
                pr_sstr(&rd, name, sizeof(name));
                if (!name[0])
                    snprintf(name, sizeof(name), "echo.gen-%p", (void *)ec);
                s = reply_begin(ec, f.channel, PM_Q_DECLARE_OK);
                pb_sstr(&c->out, name);
                pb_u32(&c->out, 0);
                pb_u32(&c->out, 0);
                pb_frame_end(&c->out, s);
                break;
            case PM_Q_BIND:
                s = reply_begin(ec, f.channel, PM_Q_BIND_OK);
                pb_frame_end(&c->out, s);
                break;
            case PM_Q_PURGE:
            case PM_Q_DELETE:
                s = reply_begin(ec, f.channel, f.method == PM_Q_PURGE ? PM_Q_PURGE_OK : PM_Q_DELETE_OK);
                pb_u32(&c->out, 0);
                pb_frame_end(&c->out, s);
                break;
            case PM_B_QOS:
                s = reply_begin(ec, f.channel, PM_B_QOS_OK);
                pb_frame_end(&c->out, s);
                break;
            case PM_B_CONSUME:
                pr_u16(&rd);
                pr_sstr(&rd, name, sizeof(name));
                s = reply_begin(ec, f.channel, PM_B_CONSUME_OK);
                pb_sstr(&c->out, "echo-ctag");
                pb_frame_end(&c->out, s);
                if (reply_flush(ec) != 0)
                    goto done;
                ec->consume_channel = f.channel;
                queue_set_consumer(name, ec);
                break;
            case PM_CF_SELECT:
                confirm = true;
                s = reply_begin(ec, f.channel, PM_CF_SELECT_OK);
                pb_frame_end(&c->out, s);
                break;
            default:
                break;
            }
        }
        if (r < 0)
            goto done;
        batch_flush(&batch);
        if (confirm && published > confirmed) {
            pconn_put_ack(c, published, true);
            confirmed = published;
        }
        if (c->out.len && reply_flush(ec) != 0)
            goto done;
        if (pconn_fill(c, false) < 0)
            goto done;
    }

done:
    queue_drop_consumer(ec);
    pthread_mutex_lock(&ec->wlock);
    ec->dead = true;
    close(c->fd);
    pthread_mutex_unlock(&ec->wlock);
    pbuf_free(&batch.buf);
    /* The connection object stays allocated: a producer thread may still
       hold a pointer to it (it checks ->dead under the lock). */
    free(c->rbuf);
    c->rbuf = NULL;
    pbuf_free(&c->out);
    return NULL;
}

static void *echo_accept_run(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct echo_conn *ec = calloc(1, sizeof(*ec));
        if (!ec)
            abort();
        ec->c.fd = fd;
        ec->c.rcap = 1u << 20;
        ec->c.rbuf = malloc(ec->c.rcap);
        if (!ec->c.rbuf)
            abort();
        pthread_mutex_init(&ec->wlock, NULL);
        ec->next = echo_all;      /* only this thread writes the list */
        echo_all = ec;
        pthread_t th;
        if (pthread_create(&th, NULL, echo_conn_run, ec) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(th);
    }
}

int echo_start(uint16_t *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
        close(lfd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    pthread_t th;
    if (pthread_create(&th, NULL, echo_accept_run, (void *)(intptr_t)lfd) != 0) {
        close(lfd);
        return -1;
    }
    pthread_detach(th);
    return 0;
}
