/*
 * s3_int.h - what the S3 tier's files share: the tier's state, its pack
 * directory and its pending blobs. s3.c opens the tier and reads;
 * s3_write.c writes packs and replaces the head.
 *
 * Locks. write_mu serialises every writing path (put, publish, ref_cas,
 * sync, the takeover); it is held across the network calls of a write.
 * mu guards the state readers share (head, directory, pending blobs) and
 * is never held across a network call, except the directory's first load.
 * Order: write_mu, then mu.
 */
#ifndef CAIRN_S3_INT_H
#define CAIRN_S3_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "head.h"
#include "tier.h"

/* Where one blob lives: in directory pack `pack`, at [offset, offset+length).
 * gc's remove_many marks an entry dead (S3_DIR_DEAD in pack) rather than
 * removing it from the middle of the sorted array; lookups skip it, and
 * the next compaction of the directory drops it. */
typedef struct s3_dir_entry {
    cairn_id id;
    uint64_t offset;
    uint32_t length;
    uint32_t pack;
} s3_dir_entry;

#define S3_DIR_DEAD 0x80000000u

/* A blob written but not yet uploaded: held here, readable, until its pack
 * is in S3. */
typedef struct s3_pending {
    cairn_id id;
    uint8_t *data;
    size_t len;
} s3_pending;

/* A blob being fetched, which other calls wanting it wait for (single
 * flight). Owned by the table until it lands, then by its waiters. */
typedef struct s3_flight {
    cairn_id id;
    struct s3_flight *next;
    unsigned waiters;
    bool done;
    int rc;
    uint8_t *data; /* the result's copy for the waiters; NULL: absent */
    size_t len;
} s3_flight;

#define S3_FLIGHT_BUCKETS 256

typedef struct s3_tier {
    cairn_tier base;
    cairn_s3_client *client;
    char bucket[64];
    char prefix[160]; /* "" or "path/to/db/" */
    char where[260];  /* "s3://bucket/prefix" for messages */
    bool rdonly;
    bool fencing;          /* conditional writes guard the head (default) */
    uint64_t pack_max;     /* bytes of pending blobs that trigger an upload */
    uint64_t merge_gap;    /* neighbouring reads closer than this are one GET */
    uint64_t range_max;    /* ... of at most this many bytes (more GETs in
                              flight for a scan's window) */
    uint64_t merge_at;     /* small packs (under pack_max) the head may name */
    uint64_t grace_s;      /* a merged-away pack is deleted this long after */

    pthread_mutex_t write_mu;
    pthread_mutex_t mu;

    /* Blobs being fetched (single flight), under mu. */
    s3_flight *flights[S3_FLIGHT_BUCKETS];
    pthread_cond_t flight_done;

    /* The head as last read or written, and its ETag. */
    cairn_s3_head head;
    bool head_exists;
    char etag[80];
    uint64_t head_read_ms; /* when it was last fetched (monotonic) */

    /* Directory: every blob of the packs loaded, sorted by id. */
    bool dir_loaded;
    bool pack_vanished; /* a pack the head names answered 404 */
    s3_dir_entry *dir;
    size_t n_dir, cap_dir;
    cairn_s3_pack_ref *dir_packs; /* indexed by s3_dir_entry.pack */
    size_t n_dir_packs;

    /* Pending blobs and their id table (open addressing; slot = index + 1). */
    s3_pending *pending;
    size_t n_pending, cap_pending;
    uint64_t pending_bytes;
    uint32_t *pending_slots;
    size_t n_slots;

    /* Writer state. */
    _Atomic bool writer;  /* readied to write (ensure_writer) */
    _Atomic bool claimed; /* its first head write raised the epoch: my_epoch */
    _Atomic bool fenced;  /* another writer took over after us */
    uint64_t my_epoch;
    uint64_t pack_counter;
    cairn_s3_pack_ref *unnamed; /* uploaded packs the head does not name yet */
    size_t n_unnamed;
    char (*deleted)[CAIRN_S3_PACK_NAME_MAX + 1]; /* retired packs deleted, whose
                                                    lines the next head drops */
    size_t n_deleted;
    uint64_t merges;            /* packs written by merging (stats, tests) */
    size_t n_dead;              /* directory entries marked dead */
} s3_tier;

/* ---- s3.c: the spec, the head, reads ---- */

/* "PREFIX/NAME" into out. */
void cairn__s3_key(const s3_tier *st, const char *name, char *out, size_t cap);
/* "PREFIX/packs/NAME.pack" into out. */
void cairn__s3_pack_key(const s3_tier *st, const char *pack, char *out, size_t cap);

/* Fetches the head; with conditional, answers 304 cheaply when it has not
 * changed. Sets *changed. Caller holds write_mu or nothing (takes mu).
 * Errors: the client's, CAIRN_CORRUPT, CAIRN_VERSION. */
int cairn__s3_head_fetch(s3_tier *st, bool conditional, bool *changed);

/* ---- pins.c: the tier methods of the same names ---- */

int cairn__s3_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len);
int cairn__s3_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx);
int cairn__s3_pin_delete(cairn_tier *t, const char *name);

/* ---- dir.c: the directory and the pending blobs ---- */

/* Brings the directory in line with the head's packs (and unnamed ones):
 * loads the indexes of packs it lacks, in parallel; drops packs the head no
 * longer names. Caller holds mu. */
int cairn__s3_dir_sync(s3_tier *st);

/* Forgets the blobs of the packs named (merged into another). Caller
 * holds mu. */
void cairn__s3_dir_drop(s3_tier *st, char (*names)[CAIRN_S3_PACK_NAME_MAX + 1], size_t n);

/* Adds a pack whose index is known (just uploaded). Caller holds mu. */
int cairn__s3_dir_add(s3_tier *st, const cairn_s3_pack_ref *p, const void *pack_bytes);

/* Loads the directory on first use (cairn__s3_dir_sync). Caller holds mu. */
int cairn__s3_dir_ensure(s3_tier *st);

/* Marks id's entry dead (gc removed the blob): lookups no longer find it,
 * so a writer that needs it again writes it again, and a rewrite of its
 * pack leaves it out. Caller holds mu. */
void cairn__s3_dir_kill(s3_tier *st, const cairn_id *id);

/* Drops dead entries, and those of packs dropped. Caller holds mu. */
void cairn__s3_dir_compact(s3_tier *st);

/* The directory entry of id (a live one), or NULL. Caller holds mu. */
const s3_dir_entry *cairn__s3_dir_find(const s3_tier *st, const cairn_id *id);

/* The pending blob of id, or NULL. Caller holds mu. */
const s3_pending *cairn__s3_pending_find(const s3_tier *st, const cairn_id *id);

/* ---- s3_write.c: pending blobs, uploads, the head ---- */

/* A change to the next head (cairn__s3_head_write); returns 0 or an error
 * that abandons the write. */
typedef int (*cairn__s3_head_change)(s3_tier *st, cairn_s3_head *next, void *ctx);

/* Readies this handle to write: the head as it is now, the directory, and
 * for a new store the format object. Caller holds write_mu. */
int cairn__s3_ensure_writer(s3_tier *st);
/* Names a built pack (epoch, counter, random: never reused), hashes its
 * index for the head and uploads it. OUT: *p. Caller holds write_mu. */
int cairn__s3_upload_pack(s3_tier *st, const uint8_t *bytes, size_t len, cairn_s3_pack_ref *p);
/* Records an uploaded pack for the next head write. Caller holds mu. */
int cairn__s3_unnamed_add(s3_tier *st, const cairn_s3_pack_ref *p);
/* Writes a new head: the current one with this writer's epoch, the next
 * sequence number, a fresh nonce, the packs uploaded since, and change
 * applied (fencing and retries: s3_write.c). Caller holds write_mu. */
int cairn__s3_head_write(s3_tier *st, cairn__s3_head_change change, void *ctx);

int cairn__s3_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n);
int cairn__s3_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                      const cairn_id *new_id);
int cairn__s3_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n);
int cairn__s3_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                      const cairn_id *old_id, const cairn_id *new_id);
int cairn__s3_sync(cairn_tier *t);
int cairn__s3_writer_lock(cairn_tier *t, bool acquire);
/* Frees the pending blobs (close). */
void cairn__s3_pending_free(s3_tier *st);

/* ---- repack.c: rewriting packs ---- */

/* Merges small packs when the head names more than merge_at of them.
 * Caller holds write_mu and is the writer. */
int cairn__s3_merge_small_packs(s3_tier *st);
/* gc's delete: marks the blobs dead in the directory (reclaim gives the
 * space back). */
int cairn__s3_remove_many(cairn_tier *t, const cairn_id *ids, size_t n);
/* Rewrites packs mostly dead, retires those all dead, deletes retired
 * packs past their grace and packs no head will ever name. */
int cairn__s3_reclaim(cairn_tier *t, cairn_reclaim_result *out);

#endif /* CAIRN_S3_INT_H */
