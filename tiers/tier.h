/*
 * tier.h - the tier interface: a store of content-addressed blobs plus a few
 * small named refs.
 *
 * Modelled on SQLite's sqlite3_io_methods: each backend fills a
 * cairn_tier_methods table and embeds struct cairn_tier first in its own
 * struct. The engine never calls a method directly; it goes through the
 * cairn__tier_* wrappers below, the single place for statistics, argument
 * checks and test fault injection.
 *
 * Contract every backend keeps:
 *  - A blob is immutable and named by the SHA-256 of its bytes. put of a blob
 *    that already exists succeeds and changes nothing (idempotent). Tiers do
 *    not hash: the stack verifies what it reads (see stack.h).
 *  - Blobs put before a successful sync() (or inside a successful publish())
 *    are durable, for tiers with CAIRN_TIER_DURABLE.
 *  - A ref is a name (at most CAIRN_NAME_MAX + 16 bytes, no NUL) holding one
 *    32-byte id. ref_cas is atomic against every other writer of the tier.
 *  - Capability bits, not type checks, decide behaviour.
 *  - Methods may be called from several threads at once. The writer lock
 *    serialises a store's commits (publish, ref_cas), but caches also take
 *    put_many (promotion) and remove_many (dropping a damaged blob) from
 *    reader threads, concurrently with everything else.
 *  - A damaged blob may come back from get_many absent or with wrong bytes;
 *    the stack's hash check is what keeps wrong bytes from being served.
 *  - Tiers never know what a blob means (node, commit, value): they only
 *    store bytes.
 */
#ifndef CAIRN_TIER_H
#define CAIRN_TIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

typedef struct cairn_tier cairn_tier;

/* A blob to write: borrowed bytes and their id. */
typedef struct cairn_blob {
    cairn_id id;
    const void *data;
    size_t len;
} cairn_blob;

/* A blob read back: data is malloc'd and owned by the caller (cairn__free()), or
 * NULL when the tier does not hold the blob. */
typedef struct cairn_buf {
    void *data;
    size_t len;
} cairn_buf;

/* Visitors return 0 to go on; anything else stops the walk and is returned. */
typedef int (*cairn_id_visitor)(void *ctx, const cairn_id *id, size_t len);
typedef int (*cairn_ref_fn)(void *ctx, const char *name, const cairn_id *id);

/* One ref change of ref_cas_many: name to new_id (NULL: deleted) if it
 * holds old_id (NULL: if it does not exist). */
typedef struct cairn_ref_move {
    const char *name;
    const cairn_id *old_id, *new_id;
} cairn_ref_move;
struct cairn_reclaim_result;
/* A pin record as a tier lists it: its name and its bytes, or bytes NULL
 * when the record could not be read whole (larger than
 * CAIRN_PIN_RECORD_MAX, or an I/O error: len then says why, see
 * pin_list). Tiers never decode the bytes (engine/pins.c does). */
typedef int (*cairn_pin_fn)(void *ctx, const char *name, const void *bytes, size_t len);

/* Pins (docs/gc.md, "Pins"): small records by name, apart from refs and
 * blobs, written without the writer lock and by read-only handles where
 * the tier allows it. A name is 1..CAIRN_PIN_NAME_MAX bytes of letters,
 * digits, '.', '_' and '-', not starting with '.' (so it is one safe path
 * component everywhere); the wrappers refuse others. */
#define CAIRN_PIN_RECORD_MAX 1024

/* Capability bits. */
#define CAIRN_TIER_DURABLE 0x1u /* survives the process: lmdb, file, s3 */
#define CAIRN_TIER_SHARED 0x2u  /* other processes see the same blobs and refs */

typedef struct cairn_tier_methods {
    int version;      /* 2; append methods, bump, never reorder */
    const char *name; /* "mem", "lmdb", "file", "s3", "redis" */

    /* Reads n blobs. For each i, out[i] gets malloc'd bytes, or data = NULL
     * if absent. Returns 0, or an error for a failure that is not absence
     * (then every out[i] is left NULL). */
    int (*get_many)(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out);
    /* Writes n blobs (idempotent). */
    int (*put_many)(cairn_tier *t, const cairn_blob *blobs, size_t n);
    /* Reads ref name into *out; CAIRN_NOTFOUND if it does not exist. */
    int (*ref_get)(cairn_tier *t, const char *name, cairn_id *out);
    /* Sets ref name to *new_id (NULL: deletes it) if it currently holds
     * *old_id (NULL: if it does not exist); else CAIRN_CONFLICT. */
    int (*ref_cas)(cairn_tier *t, const char *name, const cairn_id *old_id,
                   const cairn_id *new_id);
    /* Calls fn for each ref whose name starts with prefix, in name order. A
     * ref whose stored value is damaged (not an id, a bad checksum) is
     * passed with id NULL and the listing goes on: one bad ref must not
     * hide the others; ref_get of it is CAIRN_CORRUPT. */
    int (*ref_list)(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx);
    /* Durability barrier: everything written before is durable after. */
    int (*sync)(cairn_tier *t);
    /* Frees the tier. Never fails. */
    void (*close)(cairn_tier *t);

    /* Optional methods (NULL: the wrapper supplies the default named). */

    /* Sets out[i] to whether blob i is held. Default: get_many. */
    int (*has_many)(cairn_tier *t, const cairn_id *ids, size_t n, bool *out);
    /* Deletes n blobs; absent ones are not an error. Default: -ENOTSUP. */
    int (*remove_many)(cairn_tier *t, const cairn_id *ids, size_t n);
    /* Calls fn for every blob id held. Default: -ENOTSUP. */
    int (*scan_ids)(cairn_tier *t, cairn_id_visitor fn, void *ctx);
    /* Writes blobs and then moves ref as one durable step (LMDB: one write
     * transaction, one fsync). Must never leave the ref naming a blob that
     * is not durable. Default: put_many, sync, ref_cas. */
    int (*publish)(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                   const cairn_id *old_id, const cairn_id *new_id);
    /* Takes (or releases) the store's writer lock without waiting;
     * CAIRN_BUSY if another handle, thread or process holds it.
     * Default: a flag in struct cairn_tier (one process only). */
    int (*writer_lock)(cairn_tier *t, bool acquire);
    /* Reports blobs and payload bytes held now. Default: scan_ids. */
    int (*usage)(cairn_tier *t, uint64_t *blobs, uint64_t *bytes);
    /* Calls fn for every blob id >= *from held, in ascending id order,
     * until fn returns nonzero (returned). Default: scan_ids, sorted. */
    int (*scan_from)(cairn_tier *t, const cairn_id *from, cairn_id_visitor fn, void *ctx);
    /* Re-reads refs that the tier caches (S3's head, with a conditional
     * GET); tiers that read refs live need none. Default: nothing. */
    int (*refresh)(cairn_tier *t);
    /* Adds what a remote tier counts (requests, latency, pending uploads)
     * to *out. Default: nothing. */
    void (*remote_stats)(cairn_tier *t, cairn_tier_stats *out);
    /* Gives back the space of removed blobs where remove_many cannot at
     * once: S3 rewrites the packs whose live bytes fell below half, LMDB
     * copies its file compacted when no other process has it open. Called
     * by gc under the writer lock after its last delete. Fills *out.
     * Default: nothing (out says so). */
    int (*reclaim)(cairn_tier *t, struct cairn_reclaim_result *out);
    /* Writes into out a name of the store the tier holds, the same for
     * every handle and spelling of its spec ("lmdb dev:ino", the S3
     * endpoint, bucket and prefix): gc keys its lock and its work files
     * by it. Default: the spec and this process (a mem tier is its
     * process's alone). */
    void (*identity)(cairn_tier *t, char *out, size_t cap);
    /* Makes n ref changes as one: all or none (CAIRN_CONFLICT naming the
     * first ref that moved), and with one write where the tier can (S3:
     * one head). Default: ref_cas of each in order, which is not atomic:
     * a failure leaves the earlier ones made. */
    int (*ref_cas_many)(cairn_tier *t, const cairn_ref_move *moves, size_t n);

    /* Version 2: pins (above). A tier without them cannot pin (the
     * wrappers say so, -ENOTSUP). Each may be called by a handle opened
     * read-only; a tier whose storage this process cannot write returns
     * CAIRN_RDONLY_STORE (or CAIRN_DENIED) naming it. */
    /* Creates or replaces pin name with bytes (at most
     * CAIRN_PIN_RECORD_MAX): atomically, a reader sees the old record or
     * the new one, never a mix. */
    int (*pin_put)(cairn_tier *t, const char *name, const void *bytes, size_t len);
    /* Calls fn for every pin, in no particular order. A record too large
     * is passed with bytes NULL and its length; names that are not valid
     * pin names (not written by cairn) are skipped. */
    int (*pin_list)(cairn_tier *t, cairn_pin_fn fn, void *ctx);
    /* Deletes pin name; an absent one is not an error. */
    int (*pin_delete)(cairn_tier *t, const char *name);
} cairn_tier_methods;

/* What a reclaim did: the tier's storage (its files, its objects) before
 * and after, and a note for the operator when it could not do it all. */
typedef struct cairn_reclaim_result {
    uint64_t stored_before, stored_after; /* bytes; 0: not known */
    uint64_t rewritten;                   /* packs rewritten, retired or deleted */
    char note[200];                       /* "" or why space is still held */
} cairn_reclaim_result;

/* Counters kept by the wrappers, one set per tier. */
typedef struct cairn_tier_counters {
    _Atomic uint64_t gets, hits, misses, puts, put_bytes, get_bytes;
    /* Kept by backends themselves: */
    _Atomic uint64_t evictions;  /* blobs dropped by a bounded cache */
    _Atomic uint64_t io_submits; /* io_uring submissions */
    _Atomic uint64_t io_ops;     /* I/O operations issued (SQEs or syscalls) */
    _Atomic bool io_uring;       /* I/O goes through io_uring */
} cairn_tier_counters;

/* The base every backend embeds first. */
struct cairn_tier {
    const cairn_tier_methods *m;
    unsigned caps;                /* CAIRN_TIER_* bits */
    bool is_cache;                /* bounded or in front of a durable tier: holds no refs */
    bool promote;                 /* hits below are copied into this tier (caches) */
    bool write_back;              /* written on sync, not by each commit (stack.h) */
    uint64_t capacity;            /* bytes; 0 = unbounded */
    char spec[256];               /* this tier's part of the stack spec */
    cairn_tier_counters counters; /* maintained by the wrappers */
    _Atomic bool locked;          /* the default writer lock */
    /* Set by the stack: the caches in front of this tier, for blobs a tier
     * keeps about itself (S3's pack indexes), so that a restarted reader
     * finds them there. front_get gives a hash-checked copy or data NULL;
     * front_put is best effort. NULL when the tier is used alone. */
    void (*front_get)(void *ctx, const cairn_id *id, cairn_buf *out);
    void (*front_put)(void *ctx, const cairn_blob *blob);
    void *front_ctx;
};

/* ---- opening ----------------------------------------------------------
 *
 * Opening takes two steps so that a stack can refuse a spec before anything
 * changes on disk: every tier's spec is parsed and its target inspected
 * (read-only) first, the stack then decides each tier's role, and only when
 * the whole spec is accepted are the tiers opened (which may create
 * directories and files). */

/* One tier's spec, parsed and checked. */
typedef struct cairn_tier_config {
    char spec[256];        /* the tier's part of the stack spec, as given */
    char scheme[16];       /* "mem", "lmdb", "file", "s3", "redis", "rediss" */
    char arg[256];         /* the text after "scheme:" up to '?' (may be "") */
    char opts[256];        /* the text after '?' (may be "") */
    unsigned open_flags;   /* CAIRN_RDONLY */
    /* Set by the backend's check: */
    unsigned caps;         /* CAIRN_TIER_* bits the open tier will have */
    uint64_t capacity;     /* bytes; 0 = unbounded */
    bool holds_store;      /* the target already holds a store (refs): it must
                              not be opened as a cache, which would evict it */
    bool write_back;       /* write=back: the stack writes it on sync only */
    bool durable_as_store; /* durable when it is a store, a cache when a durable
                              tier is behind it (redis: its durability is the
                              server's): caps then lack CAIRN_TIER_DURABLE, and
                              the stack counts it durable once it is a store */
    /* Optional: called once roles are set (is_cache below), before any
     * tier of the stack opens, for a check that depends on the role (a
     * store must be reachable, a cache may start down). Returns 0 or an
     * error whose detail names the tier; nothing is opened then. */
    int (*role_check)(struct cairn_tier_config *cfg);
    void *checked;         /* what the check read that the open reuses (the
                              S3 tier: its client and the head it fetched),
                              freed by checked_free unless the open took it */
    void (*checked_free)(void *checked);
    /* Set by the stack before opening: */
    bool is_cache;
} cairn_tier_config;

/* Parses one tier spec ("mem", "mem:64M", "lmdb:PATH?map_size=1G", ...),
 * checks its options and inspects its target without changing anything.
 * Errors: CAIRN_BADSPEC for an unknown scheme or option, a bad value, or a
 * target that is not a store of this kind (the detail names it);
 * CAIRN_NOTFOUND for a read-only open of a store that does not exist;
 * CAIRN_VERSION, CAIRN_CORRUPT, -errno. OUT: *cfg. */
int cairn__tier_parse(const char *spec, unsigned open_flags, cairn_tier_config *cfg);

/* Opens the tier a parsed (and, in a stack, role-assigned) config names.
 * OUT: *out. */
int cairn__tier_open_config(const cairn_tier_config *cfg, cairn_tier **out);

/* Frees what the check left for the open (cfg->checked); cfg may be one
 * that was never opened, or already was. */
void cairn__tier_config_clear(cairn_tier_config *cfg);

/* Both steps for a tier on its own (a cache if it has a capacity). */
int cairn__tier_open(const char *spec, unsigned open_flags, cairn_tier **out);

/* Each backend's two steps, called by the functions above: check fills
 * caps, capacity and holds_store; open may assume check succeeded. */
int cairn__mem_check(cairn_tier_config *cfg);
int cairn__mem_open(const cairn_tier_config *cfg, cairn_tier **out);
int cairn__lmdb_check(cairn_tier_config *cfg);
int cairn__lmdb_open(const cairn_tier_config *cfg, cairn_tier **out);
int cairn__file_check(cairn_tier_config *cfg);
int cairn__file_open(const cairn_tier_config *cfg, cairn_tier **out);
int cairn__s3_check(cairn_tier_config *cfg);
int cairn__s3_open(const cairn_tier_config *cfg, cairn_tier **out);
int cairn__redis_check(cairn_tier_config *cfg);
int cairn__redis_open(const cairn_tier_config *cfg, cairn_tier **out);

/* Option parsing shared by backends: walks "k=v&k=v", calling fn per pair.
 * fn returns 0 or an error (after setting the detail). */
int cairn__opts_each(const char *opts, int (*fn)(void *ctx, const char *key, const char *val),
                     void *ctx);
/* Parses a size such as "4096", "64K", "256M", "20G", "1T" (powers of 1024). */
int cairn__parse_size(const char *s, uint64_t *out);

/* ---- the wrappers: the only way the engine calls a tier ---------------- */

int cairn__tier_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out);
int cairn__tier_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n);
int cairn__tier_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out);
int cairn__tier_remove_many(cairn_tier *t, const cairn_id *ids, size_t n);
int cairn__tier_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx);
int cairn__tier_scan_from(cairn_tier *t, const cairn_id *from, cairn_id_visitor fn, void *ctx);
int cairn__tier_ref_get(cairn_tier *t, const char *name, cairn_id *out);
int cairn__tier_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                        const cairn_id *new_id);
int cairn__tier_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n);
int cairn__tier_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx);
int cairn__tier_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                        const cairn_id *old_id, const cairn_id *new_id);
int cairn__tier_sync(cairn_tier *t);
int cairn__tier_writer_lock(cairn_tier *t, bool acquire);
int cairn__tier_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes);
int cairn__tier_refresh(cairn_tier *t);
int cairn__tier_reclaim(cairn_tier *t, cairn_reclaim_result *out);
void cairn__tier_identity(cairn_tier *t, char *out, size_t cap);
void cairn__tier_close(cairn_tier *t);
/* Pins: the name is checked (CAIRN_BADARG naming it), the record's size
 * too; a tier without pin methods is -ENOTSUP naming it. */
bool cairn__tier_can_pin(const cairn_tier *t);
bool cairn__pin_name_ok(const char *name);
int cairn__tier_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len);
int cairn__tier_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx);
int cairn__tier_pin_delete(cairn_tier *t, const char *name);

/* The common half of a backend's pin_list: records are gathered while its
 * storage is held (a lock, a read transaction, an open directory), then
 * handed to the visitor with nothing held (fn may call back into it). */
typedef struct cairn_pin_record {
    char name[CAIRN_PIN_NAME_MAX + 1];
    uint8_t *bytes; /* cairn__malloc'd; NULL: larger than a record, or unreadable */
    size_t len;
} cairn_pin_record;
typedef struct cairn_pin_records {
    cairn_pin_record *v;
    size_t n, cap;
} cairn_pin_records;
/* A new record named name (bytes NULL, len 0), or NULL when out of memory. */
cairn_pin_record *cairn__pin_records_add(cairn_pin_records *r, const char *name);
/* Unless rc is an error already, calls fn for each record in turn; frees
 * them. Returns rc, else fn's first nonzero value. */
int cairn__pin_records_emit(cairn_pin_records *r, int rc, cairn_pin_fn fn, void *ctx);

/* The p-quantile (0 to 1) of a remote tier's latency histogram, whose
 * bucket i counts round trips of [2^i, 2^(i+1)) microseconds, as the upper
 * bound of its bucket; 0 when it is empty (remote_stats' p50 and p99). */
#define CAIRN_LATENCY_BUCKETS 32
uint64_t cairn__latency_quantile(const _Atomic uint64_t hist[CAIRN_LATENCY_BUCKETS], double p);

/* ---- fault injection (tests) ------------------------------------------ */

/* Makes the nth wrapper call from now on (1 = the next) on any tier whose
 * method name matches method ("get_many", "publish", ... or "*") fail with
 * rc, once. n = 0 disarms. Process-wide; for tests only. */
void cairn__tier_fault_arm(const char *method, uint64_t n, int rc);
/* The same, but the nth matching call and every one after it fail, until
 * the next arm (n = 0 disarms). */
void cairn__tier_fault_arm_forever(const char *method, uint64_t n, int rc);

/* What an armed fault does to the call it hits. */
#define CAIRN_FAULT_FAIL 0  /* the call fails with rc, having done nothing */
#define CAIRN_FAULT_SHORT 1 /* put_many, publish: the first half of the blobs are
                               written, then the call fails with rc (no ref moves) */
#define CAIRN_FAULT_FLIP 2  /* get_many: succeeds, with one byte of the first blob
                               returned flipped (a tier handing back wrong bytes) */
#define CAIRN_FAULT_KILL 3  /* the process SIGKILLs itself at the call: a crash
                               at that point (gc's kill test) */
/* Arms a fault of that kind (once, or forever from the nth call). */
void cairn__tier_fault_arm_kind(const char *method, uint64_t n, int rc, int kind, bool forever);
/* Whether the armed fault has fired since it was armed. */
bool cairn__tier_fault_fired(void);
/* The calls an armed fault has counted (matching its method) since it was
 * armed: arm one that never fires to count the calls of an operation. */
uint64_t cairn__tier_fault_seen(void);

#endif /* CAIRN_TIER_H */
