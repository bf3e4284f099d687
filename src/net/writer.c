/*
 * writer.c - the net layer's writer thread: plain TCP output that a loop
 * turn handed over is sent (sendmsg) here, on another core, while the loop
 * thread goes on with protocol and broker work.  Handoffs are lock-free
 * stacks of jobs (one push per connection per turn, each way), wake-ups one
 * eventfd each way, written only when the other side may be asleep.  The
 * writer only reads the bytes it is given; the loop frees them (and runs
 * add_ref cleanups) when the job comes back.  Knows nothing about AMQP.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "net_priv.h"

/* Pieces of the buffer handed to one sendmsg(). */
#define WRITER_IOV 64
#define WRITER_EVENTS 64

struct net_writer {
    struct net_loop *loop;
    pthread_t thread;
    int ep;                              /* writer's epoll: wake_w + full sockets */
    int wake_w;                          /* eventfd: loop -> writer */
    int wake_l;                          /* eventfd: writer -> loop */
    struct event *wake_ev;               /* loop side of wake_l */
    _Atomic(struct net_wjob *) submit;   /* loop pushes, writer takes all */
    _Atomic(struct net_wjob *) done;     /* writer pushes, loop takes all */
    atomic_bool asleep;                  /* writer is (about to be) in epoll_wait */
    atomic_bool loop_notified;           /* wake_l written, loop not yet there */
    atomic_bool abandon_pending;         /* some job was abandoned */
    atomic_bool stop;
    struct net_wjob *blocked;            /* writer only: jobs waiting for room */
};

static void writer_push(_Atomic(struct net_wjob *) *head, struct net_wjob *j)
{
    struct net_wjob *old = atomic_load_explicit(head, memory_order_relaxed);
    do {
        j->next = old;
    } while (!atomic_compare_exchange_weak_explicit(head, &old, j, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

/* Take every job of a stack, oldest first. */
static struct net_wjob *writer_take_all(_Atomic(struct net_wjob *) *head)
{
    struct net_wjob *j = atomic_exchange_explicit(head, NULL, memory_order_acquire);
    struct net_wjob *rev = NULL;
    while (j) {
        struct net_wjob *next = j->next;
        j->next = rev;
        rev = j;
        j = next;
    }
    return rev;
}

static void writer_signal(int fd)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

static void writer_blocked_remove(struct net_writer *w, struct net_wjob *j)
{
    if (!j->blocked)
        return;
    j->blocked = false;
    if (j->bprev)
        j->bprev->bnext = j->bnext;
    else
        w->blocked = j->bnext;
    if (j->bnext)
        j->bnext->bprev = j->bprev;
    j->bnext = j->bprev = NULL;
}

/* Writer thread: the job is finished (sent, failed or abandoned): give it
   back to the loop.  Touches nothing of j afterwards. */
static void writer_finish(struct net_writer *w, struct net_wjob *j)
{
    writer_blocked_remove(w, j);
    if (j->in_epoll) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, j->fd, NULL);
        j->in_epoll = false;
    }
    writer_push(&w->done, j);
    if (!atomic_exchange(&w->loop_notified, true))
        writer_signal(w->wake_l);
}

ssize_t net_send_evbuffer(int fd, struct evbuffer *buf, size_t off, size_t *want)
{
    struct evbuffer_ptr pos;
    *want = 0;
    if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0) {
        errno = EINVAL;
        return -1;
    }
    struct evbuffer_iovec v[WRITER_IOV];
    int nv = evbuffer_peek(buf, -1, &pos, v, WRITER_IOV);
    if (nv > WRITER_IOV)
        nv = WRITER_IOV;
    for (int i = 0; i < nv; i++)
        *want += v[i].iov_len;
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = v;
    mh.msg_iovlen = (size_t)nv;
    ssize_t n;
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* Writer thread: send what is left of j; false when the socket is full. */
static bool writer_send(struct net_wjob *j)
{
    size_t total = evbuffer_get_length(j->buf);
    while (j->sent < total) {
        size_t want;
        ssize_t n = net_send_evbuffer(j->fd, j->buf, j->sent, &want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            j->err = errno;
            return true;
        }
        j->sent += (size_t)n;
        if ((size_t)n < want)
            return false;   /* the socket took less: it is full */
    }
    return true;
}

/* Writer thread: work on j until it is done or its socket is full. */
static void writer_run(struct net_writer *w, struct net_wjob *j)
{
    if (atomic_load_explicit(&j->abandon, memory_order_acquire) || writer_send(j)) {
        writer_finish(w, j);
        return;
    }
    if (!j->blocked) {
        j->blocked = true;
        j->bprev = NULL;
        j->bnext = w->blocked;
        if (w->blocked)
            w->blocked->bprev = j;
        w->blocked = j;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = j};
    if (epoll_ctl(w->ep, j->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, j->fd, &ev) != 0) {
        j->err = errno;
        writer_finish(w, j);
        return;
    }
    j->in_epoll = true;
}

static void writer_scan_abandoned(struct net_writer *w)
{
    struct net_wjob *j = w->blocked;
    while (j) {
        struct net_wjob *next = j->bnext;
        if (atomic_load_explicit(&j->abandon, memory_order_acquire))
            writer_finish(w, j);
        j = next;
    }
}

static void *writer_main(void *arg)
{
    struct net_writer *w = arg;
    struct epoll_event evs[WRITER_EVENTS];
    for (;;) {
        for (struct net_wjob *j = writer_take_all(&w->submit), *next; j; j = next) {
            next = j->next;
            writer_run(w, j);
        }
        if (atomic_exchange(&w->abandon_pending, false))
            writer_scan_abandoned(w);
        if (atomic_load(&w->stop))
            break;
        /* sleep only if nothing came in meanwhile (the loop reads asleep
           after its push: one of us sees the other) */
        atomic_store(&w->asleep, true);
        if (atomic_load(&w->submit) || atomic_load(&w->abandon_pending) ||
            atomic_load(&w->stop)) {
            atomic_store(&w->asleep, false);
            continue;
        }
        int n = epoll_wait(w->ep, evs, WRITER_EVENTS, -1);
        atomic_store(&w->asleep, false);
        for (int i = 0; i < n; i++) {
            struct net_wjob *j = evs[i].data.ptr;
            if (!j) {
                uint64_t x;
                ssize_t r = read(w->wake_w, &x, sizeof(x));
                EDAD_UNUSED(r);
                continue;
            }
            writer_blocked_remove(w, j);
            writer_run(w, j);
        }
    }
    return NULL;
}

/* Loop thread: take the jobs that came back. */
static void writer_take_done(struct net_writer *w)
{
    uint64_t x;
    ssize_t r = read(w->wake_l, &x, sizeof(x));
    EDAD_UNUSED(r);
    /* cleared before taking: a push after this writes the eventfd again */
    atomic_store(&w->loop_notified, false);
    for (struct net_wjob *j = writer_take_all(&w->done), *next; j; j = next) {
        next = j->next;
        net_transport_write_done(j);
    }
}

static void writer_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    EDAD_UNUSED(fd);
    EDAD_UNUSED(what);
    writer_take_done(arg);
}

struct net_writer *net_writer_new(struct net_loop *loop)
{
    struct net_writer *w = xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->wake_w = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->wake_l = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&w->submit, NULL);
    atomic_init(&w->done, NULL);
    atomic_init(&w->asleep, false);
    atomic_init(&w->loop_notified, false);
    atomic_init(&w->abandon_pending, false);
    atomic_init(&w->stop, false);
    if (w->ep < 0 || w->wake_w < 0 || w->wake_l < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake_w, &ev) != 0)
        goto fail;
    w->wake_ev = event_new(loop->base, w->wake_l, EV_READ | EV_PERSIST, writer_wake_cb, w);
    if (!w->wake_ev || event_add(w->wake_ev, NULL) != 0)
        goto fail;
    /* signals stay with the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    return w;

fail:
    log_warning("net: cannot start the writer thread (%s); writing from the loop",
                strerror(errno));
    if (w->wake_ev)
        event_free(w->wake_ev);
    if (w->ep >= 0)
        close(w->ep);
    if (w->wake_w >= 0)
        close(w->wake_w);
    if (w->wake_l >= 0)
        close(w->wake_l);
    free(w);
    return NULL;
}

void net_writer_free(struct net_writer *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    writer_signal(w->wake_w);
    pthread_join(w->thread, NULL);
    event_free(w->wake_ev);
    close(w->ep);
    close(w->wake_w);
    close(w->wake_l);
    free(w);
}

void net_writer_submit(struct net_writer *w, struct net_wjob *j)
{
    writer_push(&w->submit, j);
    if (atomic_exchange(&w->asleep, false))
        writer_signal(w->wake_w);
}

void net_writer_reclaim(struct net_writer *w, struct net_wjob *j, const bool *held)
{
    atomic_store(&j->abandon, true);
    atomic_store(&w->abandon_pending, true);
    if (atomic_exchange(&w->asleep, false))
        writer_signal(w->wake_w);
    /* the writer lets go within one sendmsg(): wait for the job here */
    while (*held) {
        struct pollfd p = {.fd = w->wake_l, .events = POLLIN};
        poll(&p, 1, 10);
        writer_take_done(w);
    }
}
