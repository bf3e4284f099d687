/*
 * store.h - the durable store: per-queue append-only segment files of
 * checksummed message records, per-segment ack files, a delivered mark for
 * redelivered flags, group-committed fdatasync for publisher confirms,
 * crash recovery that skips damage, and the atomic definitions file.
 * Not here: broker types, AMQP, the event loop.  The store deals in queue
 * names, sequence numbers, property bytes and bodies; the broker calls it
 * through its hooks.  Single-threaded (the event-loop thread) apart from an
 * internal sync thread; docs/store.md describes the format and the design.
 */
#ifndef EDAD_STORE_H
#define EDAD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edad/core.h"
#include "edad/status.h"

struct store;
struct qstore;
struct qstore_iter;
struct json_t;                  /* jansson's json_t */

/* ---- opening ------------------------------------------------------------ */

#define STORE_SEGMENT_SIZE_DEFAULT (8u * 1024 * 1024)
#define STORE_SEGMENT_SIZE_MIN 256u
#define STORE_SEGMENT_SIZE_MAX (1024u * 1024 * 1024)
/* Largest record (header + exchange + routing key + properties + body). */
#define STORE_RECORD_MAX 0x7fff0000u

struct store_opts {
    const char *data_dir;       /* created (with parents) when missing */
    uint32_t segment_size;      /* roll segments past this many bytes */
    /*
     * true: confirms complete only after fdatasync (group commit on the
     * sync thread).  false: they complete as soon as the data is written
     * to the kernel (RabbitMQ's behaviour).
     */
    bool sync;
    /*
     * A write segment emptied by acks is deleted once no append happened
     * for this long (store_maintain); 0 deletes it as soon as it empties.
     */
    uint32_t idle_reclaim_ms;
    /*
     * Offline inspection (edad-check-store): takes a shared lock (fails
     * while edad runs), never writes, deletes or creates anything.
     */
    bool read_only;
    /*
     * Completion of store_sync_request(cookie): st is EDAD_OK, or
     * EDAD_ERR_IO when a write or fdatasync covering it failed (nack).
     * Called in the loop thread only, from store_sync_poll(), store_flush()
     * (sync=false) and store_close(); never from store_sync_request().
     */
    void (*sync_done)(void *ctx, uint64_t cookie, edad_status st);
    /*
     * Optional: called (at most once until the next store_flush) when the
     * store goes from nothing to write to something to write (append, ack,
     * delivered mark, sync request), so the loop can schedule its flush
     * rather than poll.  Must not call back into the store.
     */
    void (*wakeup)(void *ctx);
    void *ctx;
};

/* Defaults: 8 MiB segments, sync on, idle reclaim after 1000 ms. */
void store_opts_init(struct store_opts *o);

/*
 * Lock o->data_dir (flock on data_dir/.lock holding our pid) and recover
 * every queue directory in it: verify record checksums, skip acked records,
 * delete segments whose records are all acked, report damage (log lines and
 * counters in store_get_stats) without refusing to start over it.  *out is
 * the store on EDAD_OK.  Errors (message in err): EDAD_ERR_STATE when the
 * directory is in use ("data directory X is in use by pid N"), EDAD_ERR_IO
 * when it cannot be created or read, EDAD_ERR_INVALID for bad options.
 */
edad_status store_open(const struct store_opts *o, struct store **out, char *err, size_t errlen);

/*
 * Close every write segment with its footer (so the next start can drop
 * fully acked segments unread), flush, wait for the sync thread to finish
 * what is pending, deliver the remaining completions through sync_done,
 * release the lock and free every qstore (free iterators first).  NULL is
 * a no-op.
 */
void store_close(struct store *st);

/*
 * Write everything appended or acked since the last flush: one pwrite per
 * file touched (segment, ack file, delivered mark).  Call it once per
 * event-loop iteration, before the replies of that iteration leave, so an
 * ack or delivered mark is in the kernel before any later reply.  With
 * sync=false the sync requests registered since the last flush complete
 * here.  Returns EDAD_ERR_IO when a write failed (store_last_errno says
 * why): message records of that failed write are dropped from the store
 * (their segment is closed, nothing before them is touched) and the sync
 * requests they belong to complete with EDAD_ERR_IO; failed ack and mark
 * writes are retried at the next flush.
 */
edad_status store_flush(struct store *st);

/*
 * Ask for completion of cookie once everything appended before this call is
 * durable.  The cookie travels with the next store_flush() to the sync
 * thread; one fdatasync round covers every cookie handed over before it
 * started.  Completion arrives through sync_done.
 */
void store_sync_request(struct store *st, uint64_t cookie);

/* Readable when completions are waiting: watch it, then call store_sync_poll(). */
int store_sync_fd(const struct store *st);
/* Deliver waiting completions through sync_done; returns how many. */
size_t store_sync_poll(struct store *st);

/*
 * Housekeeping for a periodic timer (about once a second): deletes write
 * segments that were emptied by acks and stayed idle for idle_reclaim_ms.
 */
void store_maintain(struct store *st);

/* errno of the last failed system call (0 when none). */
int store_last_errno(const struct store *st);
const char *store_data_dir(const struct store *st);

/* Upper bounds (microseconds) of the fdatasync latency histogram buckets;
 * the last bucket is unbounded. */
#define STORE_FSYNC_BUCKETS 12
extern const uint32_t store_fsync_bucket_us[STORE_FSYNC_BUCKETS];

struct store_stats {
    uint64_t queues;            /* queue stores open */
    uint64_t segments;          /* segment files */
    uint64_t messages;          /* live (unacked) records */
    uint64_t disk_bytes;        /* segment + ack file bytes */
    uint64_t flushes, writes, bytes_written, write_errors;
    uint64_t sync_rounds;       /* group commits */
    uint64_t fsyncs;            /* fdatasync/fsync calls (files + dirs) */
    uint64_t sync_errors;
    uint64_t fsync_us_total;
    uint64_t fsync_hist[STORE_FSYNC_BUCKETS];
    uint64_t segments_created, segments_deleted;
    /* recovery (store_open) */
    uint64_t recovery_us;
    uint64_t recovered_messages;
    uint64_t recovered_segments;    /* segments read */
    uint64_t skipped_segments;      /* fully acked, deleted without reading */
    uint64_t damaged_records;       /* bad checksum or header, skipped */
    uint64_t dropped_bytes;         /* bytes not recovered (damage, torn tails) */
    uint64_t unreadable_queues;     /* queue dirs without a readable meta file */
};
void store_get_stats(const struct store *st, struct store_stats *out);

/* ---- queues --------------------------------------------------------------- */

/*
 * The store of durable queue (vhost, name): the recovered one, or a new
 * empty one created durably (directory, meta file and delivered mark are
 * fsynced before this returns).  Errors: EDAD_ERR_IO, EDAD_ERR_STATE
 * (read-only store), EDAD_ERR_TOO_LARGE (name or vhost over 255 bytes).
 */
edad_status store_queue_open(struct store *st, struct edad_bytes vhost, struct edad_bytes name,
                             struct qstore **out);
/* NULL when the store holds no such queue. */
struct qstore *store_queue_find(struct store *st, struct edad_bytes vhost, struct edad_bytes name);
/*
 * Call fn for every queue store (recovered ones first thing after
 * store_open); stop early when fn returns false.  fn may delete the queue
 * it is given, no other.
 */
void store_foreach_queue(struct store *st, bool (*fn)(void *ctx, struct qstore *qs), void *ctx);

/* Names as given (NUL-terminated as well); valid while qs lives. */
struct edad_bytes qstore_vhost(const struct qstore *qs);
struct edad_bytes qstore_name(const struct qstore *qs);
/* Absolute path of the queue's directory (tools, tests). */
const char *qstore_dir(const struct qstore *qs);

/*
 * Where a record lives: segment number and byte offset.  Packs into 8
 * bytes (store_loc_pack) for the broker's queue entries.
 */
struct store_loc {
    uint32_t seg;
    uint32_t off;
};
static inline uint64_t store_loc_pack(struct store_loc l)
{
    return ((uint64_t)l.seg << 32) | l.off;
}
static inline struct store_loc store_loc_unpack(uint64_t v)
{
    struct store_loc l = {(uint32_t)(v >> 32), (uint32_t)v};
    return l;
}

/* What qstore_append writes; all slices are borrowed and copied. */
struct store_msg {
    uint64_t seq;               /* broker's position; strictly increasing per queue */
    uint32_t flags;             /* opaque to the store, returned on read */
    struct edad_bytes exchange;     /* <= 255 bytes */
    struct edad_bytes routing_key;  /* <= 255 bytes */
    struct edad_bytes props;        /* content-header property bytes, verbatim */
    struct edad_bytes body;
    /*
     * Optional, opaque to the store (the broker's x-death history and TTL
     * base): checksummed with the record and returned on read; empty
     * writes the older record layout.
     */
    struct edad_bytes meta;
};

/*
 * Buffer one message record (written at the next store_flush, durable after
 * a sync round) and return where it lives.  Rolls to a new segment past
 * segment_size.  Errors: EDAD_ERR_TOO_LARGE (names or record size),
 * EDAD_ERR_IO (a new segment file could not be created), EDAD_ERR_STATE
 * (read-only).  Nothing is buffered on error.
 */
edad_status qstore_append(struct qstore *qs, const struct store_msg *m, struct store_loc *loc);

/*
 * The record at loc left the queue for good (ack, reject, expiry, purge):
 * buffer an ack entry; a segment whose records are all acked is deleted
 * (the write segment per idle_reclaim_ms).  Returns EDAD_ERR_NOT_FOUND for
 * an unknown or already acked location (nothing changes).
 */
edad_status qstore_ack(struct qstore *qs, struct store_loc loc);

/*
 * Messages with seq up to this one may have been delivered: recovered
 * records with seq <= the highest mark come back with redelivered=true.
 * Call it before the delivery leaves edad (the mark is written by the next
 * store_flush, which the loop runs before replies go out).  Cheap: only
 * the maximum is kept.
 */
void qstore_mark_delivered(struct qstore *qs, uint64_t seq);

/*
 * Drop every live record except those at keep[0..nkeep) (the unacked
 * ones): segments without a kept record are deleted at once, the others
 * get ack entries.  *purged (may be NULL) gets how many were dropped.
 */
edad_status qstore_purge(struct qstore *qs, const struct store_loc *keep, size_t nkeep,
                         uint64_t *purged);

/*
 * The records at locs[0..n) (packed store_loc_pack values; sorted in
 * place) left the queue for good: a segment whose live records are all
 * listed is deleted at once, the others get ack entries (as qstore_ack).
 * Unknown or already acked locations are ignored.  *acked (may be NULL)
 * gets how many records went.  Errors: EDAD_ERR_STATE (read-only).
 */
edad_status qstore_ack_many(struct qstore *qs, uint64_t *locs, size_t n, uint64_t *acked);

/*
 * Delete the queue's directory and free qs (its iterators must be freed
 * first).  The directory is renamed first, so a crash midway never brings
 * the queue back.  NULL is a no-op.
 */
edad_status qstore_delete(struct qstore *qs);

/* One past the highest sequence number the queue ever held or marked:
 * the broker continues numbering from here after a restart. */
uint64_t qstore_next_seq(const struct qstore *qs);

struct qstore_stats {
    uint64_t messages;          /* live records */
    uint64_t segments;
    uint64_t disk_bytes;
    uint64_t next_seq;
    bool delivered_set;
    uint64_t delivered_mark;
    uint64_t damaged_records;   /* found at recovery */
    uint64_t dropped_bytes;
    bool mark_damaged;          /* unreadable mark: everything recovered is redelivered */
};
void qstore_get_stats(const struct qstore *qs, struct qstore_stats *out);

struct store_segment_info {
    uint32_t id;
    uint64_t bytes;             /* on disk, plus buffered */
    uint64_t records;           /* valid message records */
    uint64_t live;              /* of which not acked */
    uint64_t damaged_records;
    uint64_t dropped_bytes;
    bool footer;                /* closed cleanly with a record count */
    bool active;                /* current write segment */
};
void qstore_foreach_segment(const struct qstore *qs,
                            void (*fn)(void *ctx, const struct store_segment_info *si), void *ctx);

/* ---- reading (paging) -------------------------------------------------------- */

/* A record read back; slices borrow the reader's buffer until its next call. */
struct store_rec {
    struct store_loc loc;
    uint64_t seq;
    uint32_t flags;
    bool redelivered;           /* seq <= delivered mark: may have been delivered */
    struct edad_bytes exchange, routing_key, props, body;
    struct edad_bytes meta;     /* store_msg.meta as appended (empty: none) */
};

/*
 * Sequential reader over the live records of qs, oldest first, across
 * segments, skipping acked and damaged records and verifying checksums.
 * Records appended later are returned too: at the end next() answers
 * EDAD_AGAIN, and may return more after further appends.
 */
struct qstore_iter *qstore_iter_new(struct qstore *qs);
/* EDAD_OK with *rec filled, EDAD_AGAIN at the end, EDAD_ERR_IO on a read error. */
edad_status qstore_iter_next(struct qstore_iter *it, struct store_rec *rec);
void qstore_iter_free(struct qstore_iter *it);

/*
 * One record by location; *rec borrows a per-queue buffer until the next
 * qstore_read_at on qs.  Errors: EDAD_ERR_NOT_FOUND (no such live record),
 * EDAD_ERR_MALFORMED (checksum mismatch), EDAD_ERR_IO.
 */
edad_status qstore_read_at(struct qstore *qs, struct store_loc loc, struct store_rec *rec);

/* ---- definitions ---------------------------------------------------------------- */

/*
 * Replace data_dir/definitions.json with defs (borrowed): write a temp
 * file, fsync it, rename it over the old one, fsync the directory.  On
 * error the previous file is intact.  Errors: EDAD_ERR_IO, EDAD_ERR_STATE.
 */
edad_status store_definitions_write(struct store *st, const struct json_t *defs);
/*
 * *out gets a new reference to the parsed file (caller json_decref()s).
 * Errors: EDAD_ERR_NOT_FOUND (no file yet), EDAD_ERR_MALFORMED (not valid
 * JSON; message in err when err is not NULL), EDAD_ERR_IO.
 */
edad_status store_definitions_read(struct store *st, struct json_t **out, char *err,
                                   size_t errlen);

/* ---- checksums (exported for tools and tests) --------------------------------- */

/* CRC-32C (Castagnoli), chainable: crc32c(crc32c(0, a), b) == crc32c(0, a||b). */
uint32_t store_crc32c(uint32_t crc, const void *data, size_t len);
/*
 * The same checksum computed without the CPU's CRC instruction (the
 * slicing-by-8 tables store_crc32c falls back to): for tests that check
 * both paths against the same vectors.  Not for the data path.
 */
uint32_t store_crc32c_portable(uint32_t crc, const void *data, size_t len);

#endif
