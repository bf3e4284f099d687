/*
 * queue.c - queues: declare/delete/purge with RabbitMQ's checks and texts,
 * the queue arguments applied (TTL, x-expires, length limits and
 * x-overflow, dead-letter exchange, priorities, delivery limit), enqueue,
 * basic.get and settlement of unacked entries.  Storage is ready.c's,
 * time expiry.c's, consumers and dispatch consumer.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "args_int.h"
#include "broker_int.h"
#include "dedup_int.h"
#include "exchange_int.h"
#include "message_int.h"
#include "queue_int.h"

static uint32_t queue_ready(const struct queue *q)
{
    return q->ready;
}

/* ---- lookup -------------------------------------------------------------------------- */

static bool queue_eq(const void *item, const void *key)
{
    const struct queue *q = item;
    const struct edad_bytes *k = key;
    return q->name_len == k->len && (k->len == 0 || memcmp(q->name, k->ptr, k->len) == 0);
}

static uint32_t qcache_slot(struct edad_bytes name)
{
    uint32_t k = (uint32_t)name.len;
    if (name.len)
        k += name.ptr[name.len - 1] * 3u + name.ptr[0];
    return k & (VHOST_QCACHE_SLOTS - 1);
}

struct queue *queue_find(struct vhost *vh, struct edad_bytes name)
{
    uint32_t slot = qcache_slot(name);
    struct queue *q = vh->qcache[slot];
    if (q && queue_eq(q, &name))
        return q;
    q = hmap_find(&vh->queues, broker_hash_name(vh->broker, name), queue_eq, &name);
    if (q)
        vh->qcache[slot] = q;
    return q;
}

static edad_status locked_err(struct broker_err *err, const struct queue *q)
{
    return broker_err_set(err, BROKER_RESOURCE_LOCKED,
                          "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "
                          "It could be originally declared on another connection or the "
                          "exclusive property value does not match that of the original "
                          "declaration.", q->name, q->vh->name);
}

struct queue *queue_lookup(struct vhost *vh, struct edad_bytes name, const void *owner,
                           struct broker_err *err)
{
    struct queue *q = queue_find(vh, name);
    if (!q) {
        broker_err_set(err, BROKER_NOT_FOUND, "no queue '%.*s' in vhost '%s'", (int)name.len,
                       (const char *)name.ptr, vh->name);
        return NULL;
    }
    if (q->exclusive && q->owner != owner) {
        locked_err(err, q);
        return NULL;
    }
    return q;
}

/* ---- lifetime -------------------------------------------------------------------------- */

struct queue *queue_ref(struct queue *q)
{
    q->refs++;
    return q;
}

void queue_free_memory(struct queue *q)
{
    expiry_free(q);
    ready_free(q);
    dedup_free(q->dedup);
    free(q->groups);
    free(q->args);
    free(q);
}

/* A deleted queue goes once nobody holds it and no entry is unacked. */
static void queue_maybe_free(struct queue *q)
{
    if (!q->deleted || q->refs || q->unacked)
        return;
    if (q->zombie)
        broker_zombie_remove(q->b, q);
    queue_free_memory(q);
}

void queue_unref(struct queue **qp)
{
    struct queue *q = *qp;
    if (!q)
        return;
    *qp = NULL;
    q->refs--;
    queue_maybe_free(q);
}

bool queue_is_deleted(const struct queue *q)
{
    return q->deleted;
}

const char *queue_name(const struct queue *q)
{
    return q->name;
}

struct vhost *queue_vhost(const struct queue *q)
{
    return q->vh;
}

static bool entry_stored(const struct queue *q, const struct queue_entry *e)
{
    return q->durable && message_persistent(e->msg) && !q->deleted;
}

/* Drop the entry's message reference (a paged entry holds none). */
static void entry_release(struct queue_entry *e)
{
    if (queue_entry_paged(e))
        e->msg = NULL;
    else
        message_unref(&e->msg);
}

/* ---- paging ------------------------------------------------------------------------------- */

/* Body bytes of ready messages held in memory. */
static uint64_t queue_ram_bytes(const struct queue *q)
{
    return q->ready_bytes - q->paged_bytes;
}

/* Can q page at all?  Messages with a TTL stay in memory (the TTL index
 * needs their expiry, which a paged entry has no room for).  Recovery
 * runs before the hooks are installed. */
static bool queue_can_page(const struct queue *q)
{
    return q->durable && !q->deleted && q->b->cfg.page_threshold && q->ttl_ms < 0;
}

/* Should stored message m go to q as a paged entry? */
static bool queue_should_page(const struct queue *q, const struct message *m)
{
    return queue_can_page(q) && q->b->hooks.store_load && m->expiration_ms < 0 &&
           !(m->flags & MESSAGE_F_DEATHS) &&
           queue_ram_bytes(q) + message_body_len(m) > q->b->cfg.page_threshold;
}

/* Turn a stored entry into a paged one (its reference is not taken). */
static void entry_page_out(struct queue_entry *e)
{
    struct message *m = e->msg;
    e->msg = message_paged_stub(message_priority(m));
    e->delivery_count = message_body_len(m);
    e->flags |= QUEUE_ENTRY_PAGED;
}

/*
 * Read a paged entry's message back; false when it cannot be read (the
 * entry is then gone: removed from the store, counted as dropped).
 */
static bool queue_entry_load(struct queue *q, struct queue_entry *e)
{
    struct message *m = q->b->hooks.store_load ? q->b->hooks.store_load(q->b->hooks.ctx, q, e)
                                               : NULL;
    if (!m) {
        log_error("queue '%s': message %llu could not be read back from the store: dropped",
                  q->name, (unsigned long long)e->seq);
        q->st_dropped++;
        if (entry_stored(q, e) && q->b->hooks.store_remove)
            q->b->hooks.store_remove(q->b->hooks.ctx, q, e);
        e->msg = NULL;
        return false;
    }
    e->msg = m;
    e->delivery_count = 0;
    e->flags &= ~QUEUE_ENTRY_PAGED;
    return true;
}

bool queue_would_page(const struct queue *q, const struct message *m)
{
    return queue_should_page(q, m);
}

void queue_unpage(struct queue *q, uint64_t seq, struct message *m)
{
    if (!q->deleted)
        ready_unpage(q, seq, m);
}

bool queue_recover_wants_paged(const struct queue *q)
{
    return queue_can_page(q) && queue_ram_bytes(q) >= q->b->cfg.page_threshold;
}

void queue_recover_paged(struct queue *q, uint64_t seq, uint64_t store_loc, uint32_t body_len,
                         int priority, bool redelivered, uint64_t next_seq)
{
    struct queue_entry e = {message_paged_stub(priority), seq, body_len,
                            QUEUE_ENTRY_PAGED | (redelivered ? QUEUE_ENTRY_REDELIVERED : 0),
                            store_loc};
    ready_push(q, &e);
    if (q->next_seq <= seq)
        q->next_seq = seq + 1;
    if (q->next_seq < next_seq)
        q->next_seq = next_seq;
    queue_maybe_dirty(q);
}

bool queue_is_durable(const struct queue *q)
{
    return q->durable;
}

void *queue_store_handle(const struct queue *q)
{
    return q->store;
}

void queue_set_store_handle(struct queue *q, void *h)
{
    q->store = h;
}

void queue_recover_entry(struct queue *q, struct message *m, uint64_t seq, uint64_t store_loc,
                         bool redelivered, uint64_t next_seq)
{
    if (!(m->flags & MESSAGE_F_TS) && (q->ttl_ms >= 0 || m->expiration_ms >= 0)) {
        m->flags |= MESSAGE_F_TS;
        m->ts_ms = broker_now_ms(q->b);
    }
    struct queue_entry e = {m, seq, 0, redelivered ? QUEUE_ENTRY_REDELIVERED : 0, store_loc};
    message_ref(m);
    if (q->ttl_ms >= 0 || m->expiration_ms >= 0)
        expiry_track(q, &e);            /* else no expiry to index */
    ready_push(q, &e);
    if (q->next_seq <= seq)
        q->next_seq = seq + 1;
    if (q->next_seq < next_seq)
        q->next_seq = next_seq;
    queue_maybe_dirty(q);
}

/* A stored entry is about to be delivered: let the store mark it. */
static void queue_entry_delivering(struct queue *q, const struct queue_entry *e)
{
    if (entry_stored(q, e) && q->b->hooks.store_deliver)
        q->b->hooks.store_deliver(q->b->hooks.ctx, q, e);
}

/* An entry leaves q for good (ack, drop, purge, deletion). */
static void queue_settle_gone(struct queue *q, struct queue_entry *e)
{
    if (entry_stored(q, e) && q->b->hooks.store_remove)
        q->b->hooks.store_remove(q->b->hooks.ctx, q, e);
    entry_release(e);
}

/*
 * Purge q's stored ready records through hooks.store_purge (whole
 * segments at once); false when there is no such hook (purge entry by
 * entry then).
 */
static bool queue_store_purge(struct queue *q)
{
    struct broker *b = q->b;
    if (!b->hooks.store_purge || !q->store || !q->durable || q->deleted)
        return false;
    if (q->unacked == 0) {
        b->hooks.store_purge(b->hooks.ctx, q, true, NULL, 0);
        return true;
    }
    /* unacked entries keep their records: name the ready ones */
    uint64_t *locs = xmalloc(sizeof(*locs) * (q->ready ? q->ready : 1));
    size_t n = ready_stored_locs(q, locs);
    b->hooks.store_purge(b->hooks.ctx, q, false, locs, n);
    free(locs);
    return true;
}

static uint32_t queue_discard_ready(struct queue *q)
{
    uint32_t n = 0;
    struct queue_entry e;
    bool stored_each = !queue_store_purge(q);
    while (ready_take(q, &e)) {
        if (stored_each)
            queue_settle_gone(q, &e);
        else
            entry_release(&e);
        n++;
    }
    /* nothing ready: the TTL index has only stale records */
    broker_timer_cancel(q->b, &q->ttl_timer);
    free(q->xheap);
    q->xheap = NULL;
    q->xn = q->xcap = 0;
    q->ttl_live = 0;
    return n;
}

void queue_delete_now(struct queue *q)
{
    if (q->deleted)
        return;
    struct broker *b = q->b;
    struct vhost *vh = q->vh;
    /* deleted first: callbacks below may re-enter (cancel, unbind) */
    q->deleted = true;
    queue_ref(q);
    hmap_remove(&vh->queues, q->hash, q);
    for (uint32_t i = 0; i < VHOST_QCACHE_SLOTS; i++)
        if (vh->qcache[i] == q)
            vh->qcache[i] = NULL;
    if (q->exclusive)
        broker_owner_remove(b, q);
    broker_dirty_remove(b, q);
    broker_timer_cancel(b, &q->expires_timer);
    consumer_cancel_all_notify(q);
    binding_remove_all_to_queue(q);
    /* the store forgets the whole queue at once, not entry by entry */
    if (q->durable)
        broker_definitions_changed(b, vh);
    /* after the definitions: a crash in between leaves an orphan store,
     * which recovery deletes, never a resurrected queue */
    if (q->store && b->hooks.store_delete)
        b->hooks.store_delete(b->hooks.ctx, q);
    q->store = NULL;
    uint64_t bytes = queue_ram_bytes(q) + (uint64_t)queue_ready(q) * sizeof(struct queue_entry);
    queue_discard_ready(q);
    q->vh = NULL;
    q->refs--;                  /* the vhost map's reference */
    if (q->refs > 1 || q->unacked) {
        q->zombie = true;
        broker_zombie_add(b, q);
    }
    queue_unref(&q);
    broker_memory_released(bytes);
}

/* ---- declare -------------------------------------------------------------------------- */

static bool has_amq_prefix(struct edad_bytes name)
{
    return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

static const char *tf(bool v)
{
    return v ? "true" : "false";
}

static void declare_ok_fill(struct queue_declare_ok *ok, struct queue *q)
{
    if (!ok)
        return;
    ok->queue = q;
    ok->name = q->name;
    ok->name_len = q->name_len;
    ok->message_count = queue_ready(q);
    ok->consumer_count = q->consumer_count;
}

/* Integer argument (validated already), or dflt when absent. */
static int64_t arg_int(const struct broker_table *args, const char *key, int64_t dflt)
{
    int64_t v;
    const struct broker_value *a = broker_table_get(args, key);
    if (!a)
        return dflt;
    if (!args_value_int(a, &v))
        return a->kind == BROKER_V_U64 ? INT64_MAX : dflt;
    return v;
}

/* The validated arguments as queue fields. */
static void queue_apply_args(struct queue *q)
{
    const struct broker_table *a = q->args;
    q->ttl_ms = arg_int(a, "x-message-ttl", -1);
    q->expires_ms = (uint64_t)arg_int(a, "x-expires", 0);
    q->max_len = arg_int(a, "x-max-length", -1);
    q->max_bytes = arg_int(a, "x-max-length-bytes", -1);
    const struct broker_value *ov = broker_table_get(a, "x-overflow");
    q->overflow = QUEUE_OVERFLOW_DROP_HEAD;
    if (ov && ov->kind == BROKER_V_STRING) {
        if (bytes_eq_cstr(ov->v.str, "reject-publish"))
            q->overflow = QUEUE_OVERFLOW_REJECT_PUBLISH;
        else if (bytes_eq_cstr(ov->v.str, "reject-publish-dlx"))
            q->overflow = QUEUE_OVERFLOW_REJECT_PUBLISH_DLX;
    }
    q->dlx = broker_table_get(a, "x-dead-letter-exchange");
    if (q->dlx && q->dlx->kind != BROKER_V_STRING)
        q->dlx = NULL;
    q->dlrk = q->dlx ? broker_table_get(a, "x-dead-letter-routing-key") : NULL;
    if (q->dlrk && q->dlrk->kind != BROKER_V_STRING)
        q->dlrk = NULL;
    int64_t maxp = arg_int(a, "x-max-priority", 0);
    ready_init(q, maxp > 0 ? (uint32_t)(maxp > 255 ? 255 : maxp) + 1 : 1);
    const struct broker_value *sac = broker_table_get(a, "x-single-active-consumer");
    q->sac = sac && sac->kind == BROKER_V_BOOL && sac->v.b;
    /* No default limit for quorum-declared queues: RabbitMQ 4's silent
     * default of 20 dropped poison-free messages for its users on upgrade
     * (ANCHORS.md §4.10); edad applies a limit only when one is asked for. */
    q->delivery_limit = arg_int(a, "x-delivery-limit", -1);
    if (q->delivery_limit < 0)
        q->delivery_limit = -1;
    q->count_header = q->quorum || q->delivery_limit >= 0;
}

static struct queue *queue_create(struct vhost *vh, struct edad_bytes name, bool durable,
                                  bool exclusive, bool auto_delete, const void *owner,
                                  const struct broker_table *args, bool quorum)
{
    struct queue *q = xcalloc(1, sizeof(*q) + name.len + 1);
    q->b = vh->broker;
    q->vh = vh;
    q->hash = broker_hash_name(vh->broker, name);
    q->next_seq = 1;
    q->refs = 1;                /* the vhost map */
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->quorum = quorum;
    q->owner = exclusive ? owner : NULL;
    q->args = args_dup(args);
    q->name_len = name.len;
    memcpy(q->name, name.ptr, name.len);
    q->name[name.len] = '\0';
    queue_apply_args(q);
    q->dedup = dedup_new(q->args);
    expiry_init(q);
    hmap_insert(&vh->queues, q->hash, q);
    if (exclusive)
        broker_owner_add(vh->broker, q);
    expiry_touch(q);
    return q;
}

static bool args_request_quorum(const struct broker_table *args)
{
    const struct broker_value *v = broker_table_get(args, "x-queue-type");
    return v && v->kind == BROKER_V_STRING && bytes_eq_cstr(v->v.str, "quorum");
}

edad_status queue_declare(struct vhost *vh, const struct queue_declare *d,
                          struct queue_declare_ok *ok, struct broker_err *err)
{
    char nb[BROKER_NAME_MAX + 1], what[BROKER_NAME_MAX * 2 + 64];
    struct edad_bytes name;
    edad_status st;
    if (!broker_name_strip(d->name, nb, &name))
        return broker_err_set(err, BROKER_PRECONDITION_FAILED, "queue name longer than 255 bytes");

    if (d->passive) {
        struct queue *q = queue_lookup(vh, name, d->owner, err);
        if (!q)
            return err ? (err->code == BROKER_NOT_FOUND ? EDAD_ERR_NOT_FOUND : EDAD_ERR_STATE)
                       : EDAD_ERR_NOT_FOUND;
        expiry_touch(q);
        declare_ok_fill(ok, q);
        return EDAD_OK;
    }

    bool durable = d->durable && !d->exclusive;
    if (name.len == 0) {
        if (args_request_quorum(d->args))
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "Cannot declare a server-named queue for type "
                                  "rabbit_quorum_queue");
        do {
            broker_name_generate("amq.gen-", nb, sizeof(nb));
            name = bytes_from_cstr(nb);
        } while (queue_find(vh, name));
    } else if (has_amq_prefix(name)) {
        return broker_err_set(err, BROKER_ACCESS_REFUSED,
                              "queue name '%s' contains reserved prefix 'amq.*'", nb);
    }
    broker_rs(what, sizeof(what), "queue", nb, name.len, vh);
    if ((st = args_check_dlx_type(d->args, what, err)) != EDAD_OK)
        return st;

    struct queue *q = queue_find(vh, name);
    if (q) {
        const void *want = d->exclusive ? d->owner : NULL;
        if (q->owner != want || q->exclusive != d->exclusive)
            return locked_err(err, q);
        if (q->durable != durable)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "inequivalent arg 'durable' for %s: received '%s' but current "
                                  "is '%s'", what, tf(durable), tf(q->durable));
        if (q->auto_delete != d->auto_delete)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "inequivalent arg 'auto_delete' for %s: received '%s' but "
                                  "current is '%s'", what, tf(d->auto_delete),
                                  tf(q->auto_delete));
        st = args_assert_queue_equivalent(q->args, d->args,
                                          q->quorum ? ARGS_QT_QUORUM : ARGS_QT_CLASSIC, what, err);
        if (st != EDAD_OK)
            return st;
        expiry_touch(q);
        declare_ok_fill(ok, q);
        return EDAD_OK;
    }

    enum args_qtype qtype;
    if ((st = args_queue_type(d->args, &qtype, what, err)) != EDAD_OK)
        return st;
    if (qtype == ARGS_QT_QUORUM) {
        const char *prop = d->exclusive ? "exclusive-owner" : !durable ? "non-durable"
                           : d->auto_delete ? "auto-delete" : NULL;
        if (prop)
            return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                                  "invalid property '%s' for %s", prop, what);
    }
    if ((st = args_validate_queue(d->args, qtype, what, err)) != EDAD_OK)
        return st;
    q = queue_create(vh, name, durable, d->exclusive, d->auto_delete, d->owner, d->args,
                     qtype == ARGS_QT_QUORUM);
    if (qtype == ARGS_QT_QUORUM)
        log_info("%s declared with x-queue-type=quorum: edad has no quorum queues, "
                 "it is an ordinary durable queue", what);
    if (q->durable)
        broker_definitions_changed(vh->broker, vh);
    declare_ok_fill(ok, q);
    return EDAD_OK;
}

/* ---- delete / purge ------------------------------------------------------------------- */

edad_status queue_delete(struct vhost *vh, struct edad_bytes name_in, const void *owner,
                         bool if_unused, bool if_empty, uint32_t *message_count,
                         struct broker_err *err)
{
    char nb[BROKER_NAME_MAX + 1];
    struct edad_bytes name;
    if (message_count)
        *message_count = 0;
    if (!broker_name_strip(name_in, nb, &name))
        return EDAD_OK;         /* cannot exist */
    struct queue *q = queue_find(vh, name);
    if (!q)
        return EDAD_OK;
    if (q->exclusive && q->owner != owner)
        return locked_err(err, q);
    if (if_empty && queue_ready(q) > 0)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "queue '%s' in vhost '%s' not empty", q->name, vh->name);
    if (if_unused && q->consumer_count > 0)
        return broker_err_set(err, BROKER_PRECONDITION_FAILED,
                              "queue '%s' in vhost '%s' in use", q->name, vh->name);
    if (message_count)
        *message_count = queue_ready(q);
    queue_delete_now(q);
    return EDAD_OK;
}

edad_status queue_purge(struct vhost *vh, struct edad_bytes name, const void *owner,
                        uint32_t *message_count, struct broker_err *err)
{
    struct queue *q = queue_lookup(vh, name, owner, err);
    if (message_count)
        *message_count = 0;
    if (!q)
        return err ? (err->code == BROKER_NOT_FOUND ? EDAD_ERR_NOT_FOUND : EDAD_ERR_STATE)
                   : EDAD_ERR_NOT_FOUND;
    uint64_t bytes = queue_ram_bytes(q) + (uint64_t)queue_ready(q) * sizeof(struct queue_entry);
    uint32_t n = queue_discard_ready(q);
    q->st_dropped += n;
    broker_memory_released(bytes);
    if (message_count)
        *message_count = n;
    return EDAD_OK;
}

/* ---- enqueue, get, settle --------------------------------------------------------------- */

void queue_drop_entry(struct queue *q, struct queue_entry *e, enum broker_drop_reason reason)
{
    /* dead-lettering and the hook need the message itself */
    if (queue_entry_paged(e) && !q->deleted && (q->dlx || q->b->hooks.dropped) &&
        !queue_entry_load(q, e))
        return;
    if (!q->deleted) {
        if (reason != BROKER_DROP_EXPIRED)
            q->st_dropped++;
        if (q->b->hooks.dropped)
            q->b->hooks.dropped(q->b->hooks.ctx, q, e, reason);
        deadletter_entry(q, e, reason);
    }
    queue_settle_gone(q, e);
}

static bool over_limit(const struct queue *q, uint32_t extra_n, uint64_t extra_bytes)
{
    return (q->max_len >= 0 && (uint64_t)q->ready + extra_n > (uint64_t)q->max_len) ||
           (q->max_bytes >= 0 && q->ready_bytes + extra_bytes > (uint64_t)q->max_bytes);
}

/* x-overflow=drop-head: drop (dead-letter) from the head until within limits. */
static void queue_trim_head(struct queue *q)
{
    struct queue_entry e;
    while (q->ready && over_limit(q, 0, 0) && ready_take(q, &e)) {
        expiry_untrack(q, &e);
        queue_drop_entry(q, &e, BROKER_DROP_MAXLEN);
    }
}

/*
 * A queue whose consumers lag this far behind tells the publishers
 * (broker_flow_events): a publishing connection then waits until the queue
 * has delivered a quarter of that (broker_flow_release), so that intake
 * cannot starve delivery on a busy loop.
 */
#define QUEUE_FLOW_READY 4096
#define QUEUE_FLOW_BYTES (16u * 1024 * 1024)

static bool queue_lags(const struct queue *q)
{
    return q->ready > QUEUE_FLOW_READY || q->ready_bytes > QUEUE_FLOW_BYTES;
}

/* Hysteresis: publishers go on once a quarter of the threshold is delivered. */
static bool queue_caught_up(const struct queue *q)
{
    return q->ready <= QUEUE_FLOW_READY / 4 * 3 && q->ready_bytes <= QUEUE_FLOW_BYTES / 4 * 3;
}

edad_status queue_enqueue(struct queue *q, struct message *m, bool *stored)
{
    if (stored)
        *stored = false;
    struct broker *b = q->b;
    if (!(m->flags & MESSAGE_F_TS) && (q->ttl_ms >= 0 || m->expiration_ms >= 0)) {
        /* the TTL clock starts at the first enqueue (one publish: one time) */
        m->flags |= MESSAGE_F_TS;
        m->ts_ms = broker_now_ms(b);
    }
    struct queue_entry e = {m, q->next_seq, 0, 0, 0};
    if (q->overflow != QUEUE_OVERFLOW_DROP_HEAD && over_limit(q, 1, message_body_len(m))) {
        /* reject-publish: not enqueued here; the publisher gets a nack */
        if (q->overflow == QUEUE_OVERFLOW_REJECT_PUBLISH_DLX)
            deadletter_entry(q, &e, BROKER_DROP_MAXLEN);
        q->st_dropped++;
        return EDAD_ERR_STATE;
    }
    bool in_store = false;
    if (q->durable && message_persistent(m) && b->hooks.store_enqueue) {
        edad_status st = b->hooks.store_enqueue(b->hooks.ctx, q, &e);
        if (st != EDAD_OK)
            return st;
        in_store = true;
        if (stored)
            *stored = true;
    }
    q->next_seq++;
    if (in_store && queue_should_page(q, m))
        entry_page_out(&e);
    else
        message_ref(m);
    if (q->ttl_ms >= 0 || m->expiration_ms >= 0)
        expiry_track(q, &e);            /* else no expiry to index */
    ready_push(q, &e);
    q->st_published++;
    if (q->consumer_count > 0 && queue_lags(q)) {
        q->flow = true;
        b->flow_events++;
    }
    if (q->max_len >= 0 || q->max_bytes >= 0) {
        b->route_busy++;
        queue_trim_head(q);
        b->route_busy--;
        deadletter_flush(b);
    }
    queue_maybe_dirty(q);
    return EDAD_OK;
}

void queue_maybe_dirty(struct queue *q)
{
    if (!q->deleted && !q->dirty && queue_has_active(q) && q->ready > 0)
        broker_dirty_add(q->b, q);
}

bool queue_take_ready(struct queue *q, struct queue_entry *e, bool for_consumer)
{
    uint64_t now = 0;
    bool have_now = false;
    while (ready_take(q, e)) {
        if (q->ttl_live)
            expiry_untrack(q, e);
        if (q->xn) {
            if (!have_now) {
                now = broker_now_ms(q->b);
                have_now = true;
            }
            if (expiry_is_expired(q, e, now, for_consumer)) {
                q->st_expired++;
                queue_drop_entry(q, e, BROKER_DROP_EXPIRED);
                continue;
            }
        }
        if (queue_entry_paged(e) && !queue_entry_load(q, e))
            continue;
        if (q->count_header)
            e->flags |= QUEUE_ENTRY_COUNT_HEADER;
        queue_entry_delivering(q, e);
        if (q->flow && queue_caught_up(q)) {
            /* waiting publishers may go on (broker_flow_release) */
            q->flow = false;
            q->b->flow_release++;
        }
        return true;
    }
    return false;
}

bool queue_get(struct queue *q, bool no_ack, struct queue_entry *e, uint32_t *message_count)
{
    if (!q->deleted)
        expiry_touch(q);
    if (q->deleted || !queue_take_ready(q, e, false)) {
        if (message_count)
            *message_count = 0;
        return false;
    }
    q->st_got++;
    if (e->flags & QUEUE_ENTRY_REDELIVERED)
        q->st_redelivered++;
    if (no_ack) {
        q->st_acked++;
        if (entry_stored(q, e) && q->b->hooks.store_remove)
            q->b->hooks.store_remove(q->b->hooks.ctx, q, e);
    } else {
        q->unacked++;
        q->unacked_bytes += message_body_len(e->msg);
    }
    if (message_count)
        *message_count = queue_ready(q);
    return true;
}

static void unacked_release(struct queue *q, const struct queue_entry *e)
{
    q->unacked--;
    q->unacked_bytes -= message_body_len(e->msg);
}

void queue_ack(struct queue *q, struct queue_entry *e)
{
    unacked_release(q, e);
    q->st_acked++;
    queue_settle_gone(q, e);
    queue_maybe_free(q);
}

void queue_requeue(struct queue *q, struct queue_entry *e)
{
    unacked_release(q, e);
    if (q->deleted) {
        message_unref(&e->msg);
        queue_maybe_free(q);
        return;
    }
    e->flags |= QUEUE_ENTRY_REDELIVERED;
    e->flags &= ~QUEUE_ENTRY_COUNT_HEADER;
    e->delivery_count++;
    if (q->delivery_limit >= 0 && (int64_t)e->delivery_count > q->delivery_limit) {
        /* a poison message: returned more often than the limit allows */
        queue_drop_entry(q, e, BROKER_DROP_DELIVERY_LIMIT);
        return;
    }
    expiry_track(q, e);
    ready_requeue(q, e);
    e->msg = NULL;
    if (q->max_len >= 0 || q->max_bytes >= 0) {
        struct broker *b = q->b;
        b->route_busy++;
        queue_trim_head(q);
        b->route_busy--;
        deadletter_flush(b);
    }
    queue_maybe_dirty(q);
}

void queue_reject_drop(struct queue *q, struct queue_entry *e)
{
    unacked_release(q, e);
    queue_drop_entry(q, e, BROKER_DROP_REJECTED);
    queue_maybe_free(q);
}

/* ---- info -------------------------------------------------------------------------------- */

void queue_get_info(const struct queue *q, struct queue_info *out)
{
    out->name = q->name;
    out->name_len = q->name_len;
    out->durable = q->durable;
    out->exclusive = q->exclusive;
    out->auto_delete = q->auto_delete;
    out->owner = q->owner;
    out->args = q->args;
}

void queue_get_stats(const struct queue *q, struct queue_stats *out)
{
    out->ready = queue_ready(q);
    out->unacked = q->unacked;
    out->consumers = q->consumer_count;
    out->ready_bytes = q->ready_bytes;
    out->unacked_bytes = q->unacked_bytes;
    out->published = q->st_published;
    out->delivered = q->st_delivered;
    out->got = q->st_got;
    out->redelivered = q->st_redelivered;
    out->acked = q->st_acked;
    out->dropped = q->st_dropped;
    out->expired = q->st_expired;
    out->dead_lettered = q->st_dead_lettered;
    out->paged = q->paged;
    out->paged_bytes = q->paged_bytes;
}
