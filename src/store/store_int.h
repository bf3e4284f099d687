/*
 * store_int.h - store-private: the on-disk format (record, segment header,
 * footer, ack entry, meta and mark files), struct store / qstore / seg and
 * the helpers the store's files share.  Nothing outside src/store (and the
 * store's own tools through store.h) sees these.
 */
#ifndef EDAD_STORE_INT_H
#define EDAD_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edad/core.h"
#include "edad/store.h"

/* ---- format (little-endian; docs/store.md) ------------------------------------ */

/* Segment file header: "EDADSEG1", u32 version, u32 segment number. */
#define SEG_MAGIC "EDADSEG1"
#define SEG_VERSION 1u
#define SEG_HDR 16u

/*
 * Record: u32 magic, u32 len (whole record), u32 crc32c (over bytes 0..8
 * and 12..len), u32 type.  Message records go on with u64 seq, u32 flags,
 * u32 props_len, u32 body_len, u8 exchange_len, u8 rk_len, then exchange,
 * routing key, props, body.  A message record with meta (type 3) has a
 * u32 meta_len after rk_len (42-byte header) and the meta bytes after the
 * routing key; readers see it as REC_MSG with rec_view.meta set.  The
 * footer closes a segment: u32 records, u32 reserved, u64 highest seq.
 */
#define REC_MAGIC 0x31524445u   /* "EDR1" */
#define REC_BASE 16u
#define REC_MSG_HDR 38u
#define REC_MSG_META_HDR 42u
#define REC_FOOTER_LEN 32u
enum rec_type {
    REC_MSG = 1,
    REC_FOOTER = 2,
    REC_MSG_META = 3,           /* on disk only: rec_parse reports REC_MSG */
};

/* Ack entry: u32 offset, u32 crc32c(offset, segment number). */
#define ACK_ENTRY 8u

/* Delivered-mark file "dlv": u32 magic, u32 crc (bytes 8..32), u32 flags,
 * u32 reserved, u64 mark, u64 reserved.  Rewritten in place (32 bytes). */
#define DLV_MAGIC 0x564c4445u   /* "EDLV" */
#define DLV_LEN 32u
#define DLV_SET 0x1u

/* Meta file: u32 magic, u32 crc (bytes 8..), u32 version, u32 vhost_len,
 * u32 name_len, vhost, name. */
#define META_MAGIC 0x4d514445u  /* "EDQM" */
#define META_HDR 20u

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* What rec_parse found at an offset. */
enum rec_verdict {
    REC_OK,                     /* valid record of *len bytes */
    REC_BAD_SKIP,               /* damaged, but *len is sane: skip *len bytes */
    REC_BAD_STOP,               /* no usable header: stop reading this segment */
    REC_SHORT,                  /* header or body extends past the data given */
};

struct rec_view {
    uint32_t len, type;
    uint64_t seq;
    uint32_t flags;
    struct edad_bytes exchange, routing_key, props, body;
    struct edad_bytes meta;     /* empty unless the record carries meta */
    uint32_t footer_records;    /* REC_FOOTER */
};

/*
 * Check the record starting at p (avail bytes readable there).  REC_SHORT
 * when avail does not cover the header or the length it announces (the
 * caller reads more or, at the end of the file, treats it as torn).  With
 * REC_OK *v describes it; with REC_BAD_SKIP v->len is the announced length.
 */
enum rec_verdict rec_parse(const uint8_t *p, size_t avail, struct rec_view *v);
/* rec_parse, without the checksum when the record lies within the first
 * `trusted` bytes at p (already verified by the recovery scan). */
enum rec_verdict rec_parse_trusted(const uint8_t *p, size_t avail, struct rec_view *v,
                                   uint64_t trusted);
/* Whether a header that passes the cheap checks starts at p. */
bool rec_header_plausible(const uint8_t *p, size_t avail);
/* Size of the record a store_msg encodes to (0 when a field is too large). */
uint64_t rec_msg_size(const struct store_msg *m);
/* Encode m into out (rec_msg_size bytes). */
void rec_encode_msg(uint8_t *out, uint64_t len, const struct store_msg *m);
void rec_encode_footer(uint8_t *out, uint32_t records, uint64_t max_seq);
void seg_encode_header(uint8_t *out, uint32_t seg_id);
bool seg_header_valid(const uint8_t *p, size_t avail, uint32_t seg_id);
void ack_encode(uint8_t *out, uint32_t seg_id, uint32_t off);
/* Offset of a valid entry, or 0 when the entry is garbage. */
uint32_t ack_decode(const uint8_t *p, uint32_t seg_id);

/* ---- small containers --------------------------------------------------------- */

/* Growable byte buffer. */
struct sbuf {
    uint8_t *p;
    size_t len, cap;
};
uint8_t *sbuf_reserve(struct sbuf *b, size_t n);   /* room for n more; returns end */
void sbuf_release(struct sbuf *b);                 /* free; keep nothing */
void sbuf_shrink(struct sbuf *b);                  /* len = 0, trim large buffers */

/* Set of nonzero u32 (acked record offsets): open addressing. */
struct u32set {
    uint32_t *slots;
    uint32_t mask;              /* capacity - 1, or 0 when empty */
    uint32_t count;
};
bool u32set_has(const struct u32set *s, uint32_t v);
bool u32set_add(struct u32set *s, uint32_t v);     /* false when present */
bool u32set_del(struct u32set *s, uint32_t v);
void u32set_free(struct u32set *s);

/* ---- segments ------------------------------------------------------------------ */

struct seg {
    struct qstore *qs;
    uint32_t id;
    int fd;                     /* -1 when closed; the write segment keeps one */
    uint64_t size;              /* bytes on disk */
    uint64_t end;               /* size + pending bytes: the next record offset */
    uint64_t limit;             /* readers stop here (recovered: where the scan stopped) */
    uint64_t verified;          /* recovered without damage: the scan checked every record
                                   below this offset, so readers skip their checksums */
    struct sbuf wbuf;           /* pending bytes for [size, end) */
    uint64_t records;           /* valid message records */
    uint64_t live;              /* of which not acked */
    uint64_t max_seq;
    uint64_t damaged;           /* recovery report */
    uint64_t dropped_bytes;
    bool active;                /* appends go here */
    bool footer;
    bool closing;               /* rolled: close fd after the pending bytes are written */
    /* acks */
    struct u32set acked;
    int ack_fd;
    uint64_t ack_size;          /* aligned end of the ack file */
    struct sbuf abuf;
    /* flush bookkeeping */
    bool dirty;
    struct seg *dnext, *dprev;  /* store's dirty list */
    uint64_t sync_epoch, ack_sync_epoch;   /* last epoch listed for the sync thread */
};

/* ---- queue stores ---------------------------------------------------------------- */

struct qstore {
    struct store *st;
    char *vhost;                /* NUL-terminated copies */
    size_t vhost_len;
    char *name;
    size_t name_len;
    uint64_t hash;
    char *dir;                  /* absolute path */
    struct qstore *hnext;       /* hash chain */
    struct qstore *next, *prev; /* store's list, creation order */
    struct seg **segs;          /* sorted by id */
    size_t nsegs, capsegs;
    struct seg *active;
    uint32_t next_seg_id;
    uint64_t live;
    uint64_t next_seq;
    uint64_t last_append_ms;    /* as seen by store_maintain */
    bool appended;              /* since the last store_maintain */
    /* delivered mark */
    bool mark_set, mark_dirty, mark_damaged;
    uint64_t mark;
    int dlv_fd;
    uint8_t *dlv_map;           /* shared mapping of dlv's first 32 bytes, or NULL */
    uint64_t dlv_sync_epoch;
    struct qstore *mnext;       /* store's dirty-mark list */
    /* reading */
    int rfd;                    /* cached read fd of segment rfd_seg */
    uint32_t rfd_seg;
    struct sbuf rbuf;           /* qstore_read_at: also its read-ahead window */
    uint32_t ra_seg, ra_off;    /* the window holds segment ra_seg's bytes */
    size_t ra_len;              /* [ra_off, ra_off + ra_len) (flushed bytes only) */
    bool ra_used;               /* read since the last qstore_maintain (else freed) */
    uint32_t iters;             /* open iterators */
    uint64_t damaged, dropped_bytes;
};

/* ---- the store -------------------------------------------------------------------- */

struct sync_cookie {
    uint64_t cookie;
    edad_status st;
};

struct sync_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
    uint64_t epoch;             /* bumped when a round takes the pending segments */
    uint64_t side_epoch;        /* bumped when a round takes the ack and mark files */
    uint64_t side_last_us;      /* when ack and mark files were last taken */
    int *fds;                   /* dup()ed descriptors to fdatasync: segments */
    size_t nfds, capfds;
    int *sfds;                  /* ... ack files and marks: after the completions, at most
                                   every SIDE_SYNC_MS while confirms keep coming */
    size_t nsfds, capsfds;
    char **dirs;                /* directories to fsync */
    size_t ndirs, capdirs;
    struct sync_cookie *pend;   /* handed over, waiting for a round */
    size_t npend, cappend;
    struct sync_cookie *done;   /* completed, waiting for store_sync_poll */
    size_t ndone, capdone;
    /* stats written by the sync thread */
    uint64_t rounds, fsyncs, errors, us_total;
    uint64_t hist[STORE_FSYNC_BUCKETS];
    int err_no;                 /* errno of the last failed sync, for store_last_errno */
};

struct store {
    struct store_opts o;
    char *dir;                  /* data_dir */
    char *qdir;                 /* data_dir/queues */
    int lock_fd;
    int efd;                    /* eventfd: completions waiting */
    struct qstore **buckets;    /* hash of queues by (vhost, name) */
    size_t nbuckets;
    struct qstore *qhead, *qtail;
    size_t nqueues;
    struct seg *dirty;          /* segments with pending bytes */
    struct qstore *mdirty;      /* queues with a pending mark */
    char **newdirs;             /* directories to fsync with the next round */
    size_t nnewdirs, capnewdirs;
    struct sync_cookie *batch;  /* requested since the last flush */
    size_t nbatch, capbatch;
    bool batch_failed;          /* a segment write failed since the last hand-over */
    struct sync_file *ffiles;   /* scratch for store_flush */
    size_t nffiles, capffiles;
    struct seg **fsegs;
    size_t nfsegs, capfsegs;
    struct sync_state sync;
    int last_errno;
    bool woken;                 /* wakeup called since the last flush */
    struct store_stats stats;   /* loop-thread counters (sync ones live in sync) */
};

/* store.c */
void store_set_errno(struct store *st, int e);
void store_seg_dirty(struct store *st, struct seg *s);
void store_seg_undirty(struct store *st, struct seg *s);
void store_mark_dirty(struct store *st, struct qstore *qs);
void store_dir_created(struct store *st, const char *dir);
void store_register_queue(struct store *st, struct qstore *qs);
void store_unregister_queue(struct store *st, struct qstore *qs);
uint64_t store_name_hash(struct edad_bytes vhost, struct edad_bytes name);
/* Complete cookies in the loop thread. */
void store_complete(struct store *st, struct sync_cookie *c, size_t n);

/* sync.c: init/destroy always; start/stop the thread when syncing */
void sync_init(struct store *st);
edad_status sync_start(struct store *st);
void sync_stop(struct store *st);
void sync_destroy(struct store *st);
/*
 * A file written by a flush: its descriptor, its last listed epoch, and
 * whether confirms wait for it (segments) or it only rides along (ack
 * files and delivered marks: synced after a round's completions, in the
 * first round at least SIDE_SYNC_MS after the previous such sync, or in a
 * round without confirms).
 */
struct sync_file {
    int fd;
    uint64_t *epoch;
    bool data;
};
/*
 * Hand what one flush wrote to the sync thread: the files (dup()ed unless
 * already listed for the coming round), the new directories and the
 * cookies requested since the last flush.
 */
void sync_handover(struct store *st, const struct sync_file *files, size_t nfiles);
/* Deliver completed cookies (loop thread). */
size_t sync_poll(struct store *st);

/* segment.c */
struct seg *seg_new(struct qstore *qs, uint32_t id);
void seg_free(struct seg *s);
/* Create the file of a new write segment (header buffered). */
edad_status seg_create(struct seg *s);
/* Unlink its files and free it (caller removed it from qs->segs). */
void seg_destroy(struct seg *s);
/*
 * Write pending bytes; on failure drops the pending records and closes the
 * segment for appends (see store_flush).  The caller closes the fd of a
 * closing segment once the sync thread has its copy.
 */
edad_status seg_flush(struct seg *s, bool *wrote_seg, bool *wrote_ack);
/* Read [off, off+len) of the segment, from the file or the pending buffer. */
edad_status seg_read(struct seg *s, uint64_t off, uint8_t *dst, size_t len, size_t *got);
int seg_read_fd(struct seg *s);
char *seg_path(const struct qstore *qs, const char *kind, uint32_t id);

/*
 * Sequential record reader over one segment, shared by recovery, the
 * iterators, purge and the checker.  It applies the damage rules: a record
 * with a bad checksum but a believable length is skipped when the next
 * header is plausible (or it ends exactly at the limit); anything else
 * stops the segment there.  Footer records are returned like messages
 * (v.type tells them apart).
 */
struct seg_reader {
    struct seg *s;
    uint64_t off;               /* next record */
    struct sbuf buf;            /* cached bytes [boff, boff + buf.len) */
    uint64_t boff;
    size_t chunk;               /* read size */
    uint64_t damaged;           /* records skipped */
    uint64_t dropped;           /* bytes skipped or left behind */
    uint64_t first_damage;      /* offset of the first damage (when damaged/dropped) */
    bool stopped;               /* gave up before the limit ... */
    uint64_t stop_off;          /* ... at this offset */
};
enum seg_next {
    SEGR_RECORD,
    SEGR_END,
    SEGR_ERROR,                 /* read error, errno set */
};
void seg_reader_init(struct seg_reader *r, struct seg *s, uint64_t off, size_t chunk);
void seg_reader_free(struct seg_reader *r);
/* Next record below limit: *rec_off is where it starts, v borrows r's buffer. */
enum seg_next seg_reader_next(struct seg_reader *r, uint64_t limit, struct rec_view *v,
                              uint64_t *rec_off);

/* qstore.c */
struct qstore *qstore_alloc(struct store *st, struct edad_bytes vhost, struct edad_bytes name,
                            const char *dir);
void qstore_free_mem(struct qstore *qs);
struct seg *qstore_seg_find(const struct qstore *qs, uint32_t id);
/* First segment with id >= id, or NULL. */
struct seg *qstore_seg_at_or_after(const struct qstore *qs, uint32_t id);
void qstore_seg_insert(struct qstore *qs, struct seg *s);
void qstore_seg_remove(struct qstore *qs, struct seg *s);
/* Delete a segment that has no live records (files and memory). */
void qstore_seg_drop(struct qstore *qs, struct seg *s);
bool qstore_redelivered(const struct qstore *qs, uint64_t seq);
/* Close the write segment (footer; an empty one is deleted). */
void qstore_roll_active(struct qstore *qs);
/* Reclaim the write segment of a queue that emptied and went idle. */
void qstore_maintain(struct qstore *qs, uint64_t now_ms);
edad_status qstore_write_meta(const char *dir, struct edad_bytes vhost, struct edad_bytes name);
edad_status qstore_write_mark(struct qstore *qs);

/* recover.c */
edad_status recover_queues(struct store *st, char *err, size_t errlen);

/* fsio.c: filesystem helpers (EINTR-safe, errno preserved) */
edad_status fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
edad_status fs_pread_full(int fd, void *p, size_t n, uint64_t off, size_t *got);
edad_status fs_mkdir_p(const char *path);
edad_status fs_fsync_dir(const char *path);
edad_status fs_write_file_sync(const char *path, const void *p, size_t n);
edad_status fs_rm_rf(const char *path);
char *fs_join(const char *a, const char *b);

#endif
