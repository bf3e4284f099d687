/*
 * durable.c - the sessions' side of the store: confirms and tx.commit-oks
 * that wait for the store's sync (a ring of cookies in request order), and
 * the flush at the end of each input batch.  Not the store itself: the
 * server supplies it through struct session_store_ops.
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

void session_server_set_store(struct session_server *srv, const struct session_store_ops *ops)
{
    if (ops) {
        srv->store = *ops;
        srv->has_store = true;
    } else {
        memset(&srv->store, 0, sizeof(srv->store));
        srv->has_store = false;
    }
}

static struct sync_wait *wait_at(struct session_server *srv, uint32_t i)
{
    return &srv->waits[(srv->waits_head + i) & (srv->waits_cap - 1)];
}

void durable_wait(struct channel *ch, uint64_t seq)
{
    struct session_server *srv = ch->conn->srv;
    if (srv->waits_len == srv->waits_cap) {
        uint32_t cap = srv->waits_cap ? srv->waits_cap * 2 : 256;
        struct sync_wait *w = xmalloc(sizeof(*w) * cap);
        for (uint32_t i = 0; i < srv->waits_len; i++)
            w[i] = *wait_at(srv, i);
        free(srv->waits);
        srv->waits = w;
        srv->waits_cap = cap;
        srv->waits_head = 0;
    }
    uint64_t cookie = ++srv->next_cookie;
    struct sync_wait *w = wait_at(srv, srv->waits_len++);
    w->cookie = cookie;
    w->ch = ch;
    w->seq = seq;
    w->done = false;
    ch->sync_waits++;
    srv->store.sync_request(srv->store.ctx, cookie);
}

void durable_forget(struct channel *ch)
{
    struct session_server *srv = ch->conn->srv;
    for (uint32_t i = 0; ch->sync_waits > 0 && i < srv->waits_len; i++) {
        struct sync_wait *w = wait_at(srv, i);
        if (w->ch == ch) {
            w->ch = NULL;
            ch->sync_waits--;
            /* a commit that will never complete here: stop holding input
             * (the next read event processes it) */
            if (w->seq == 0 && ch->conn->commits_held && --ch->conn->commits_held == 0)
                ch->conn->input_resume = true;
        }
    }
}

void durable_flush(struct session_server *srv)
{
    if (srv->has_store && srv->store.flush)
        srv->store.flush(srv->store.ctx);
}

void durable_touch(struct connection *c)
{
    struct session_server *srv = c->srv;
    if (c->sync_touched)
        return;
    if (srv->n_touched == srv->touched_cap) {
        srv->touched_cap = srv->touched_cap ? srv->touched_cap * 2 : 16;
        srv->touched = xrealloc(srv->touched, sizeof(*srv->touched) * srv->touched_cap);
    }
    srv->touched[srv->n_touched++] = c;
    c->sync_touched = true;
}

void session_server_sync_done(struct session_server *srv, uint64_t cookie, bool ok)
{
    /* completions come in cookie order as a rule: the head is the one */
    for (uint32_t i = 0; i < srv->waits_len; i++) {
        struct sync_wait *w = wait_at(srv, i);
        if (w->cookie != cookie)
            continue;
        struct channel *ch = w->ch;
        w->done = true;
        w->ch = NULL;
        if (ch) {
            ch->sync_waits--;
            if (w->seq)
                confirm_complete(ch, w->seq, ok);
            else
                tx_commit_complete(ch, ok);
            durable_touch(ch->conn);
        }
        break;
    }
    while (srv->waits_len > 0 && srv->waits[srv->waits_head].done) {
        srv->waits_head = (srv->waits_head + 1) & (srv->waits_cap - 1);
        srv->waits_len--;
    }
}

void session_server_sync_batch_end(struct session_server *srv)
{
    /* A resumed connection's input flushes the store, which ends a batch
     * again: that inner call leaves the list to this loop (no recursion
     * per pipelined commit). */
    if (srv->in_batch_end)
        return;
    srv->in_batch_end = true;
    /* popped one by one: resuming a connection's input may touch, close or
     * free connections (a freed one leaves the list itself) */
    while (srv->n_touched > 0) {
        struct connection *c = srv->touched[--srv->n_touched];
        c->sync_touched = false;
        if (c->confirm_head)
            confirm_flush_all(c);
        if (c->input_resume && c->commits_held == 0) {
            c->input_resume = false;
            connection_input_resume(c);
        }
    }
    srv->in_batch_end = false;
}
