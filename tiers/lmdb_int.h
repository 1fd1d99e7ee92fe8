/*
 * lmdb_int.h - what the LMDB tier's files share: the environment and
 * handle structs (lmdb_open.c: checking and opening; lmdb.c: transactions,
 * refs, the "blobs" layout) and the packed layout (lmdb_packs.c).
 */
#ifndef CAIRN_LMDB_INT_H
#define CAIRN_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tier.h"

/* One open environment, shared by every handle on the same directory. */
typedef struct lmdb_env {
    struct lmdb_env *next; /* registry list, guarded by registry_mu */
    dev_t dev;             /* identity of the directory */
    ino_t ino;
    unsigned generation; /* fork generation the env belongs to */
    int refcount;        /* handles using it, guarded by registry_mu */
    MDB_env *env;
    MDB_dbi refs;
    MDB_dbi blobs;                /* layout=blobs */
    MDB_dbi packs, where;         /* layout=packed */
    bool packed;                  /* the store's layout is packed */
    size_t pack_max;              /* bytes of a pack record that fill one overflow page */
    pthread_rwlock_t resize_lock; /* shared: any txn; exclusive: resizing */
    bool rdonly;                  /* opened by a read-only handle */
    bool env_rdonly;              /* opened with MDB_RDONLY: nothing can be
                                     written, pins neither */
    MDB_dbi pins;                 /* "pins" (lmdb_pins.c), once pins_open */
    bool pins_open;
    pthread_mutex_t pins_mu;      /* guards opening "pins" (mdb_dbi_open must
                                     not run in two transactions at once) */
    bool growable;                /* no map_size given: double when full */
    int users_fd;                 /* PATH/cairn.users, read-locked while open
                                     (lmdb_compact.c); -1: none */
    unsigned open_flags;          /* mdb_env_open's flags: a reopen reuses them */
    unsigned max_readers;         /* 0: LMDB's default */
    int layout;                   /* as the spec gave it (open_dbis) */
    unsigned pack_pages;
} lmdb_env;

/* One tier handle. */
typedef struct lmdb_tier {
    cairn_tier base; /* must be first */
    lmdb_env *shared;
    bool rdonly;         /* this handle may not write */
    _Atomic int lock_fd; /* cairn.lock while holding the writer lock, else -1 */
    char path[256];      /* as given in the spec, for messages */
} lmdb_tier;

static inline MDB_val cairn__lmdb_id_val(const cairn_id *id)
{
    MDB_val v = {sizeof(id->bytes), (void *)id->bytes};
    return v;
}

/* Map doublings or MAP_RESIZED rounds a transaction tries before it gives up. */
#define CAIRN_LMDB_MAX_RETRIES 48

/* ---- what lmdb_open.c lends the other files ---- */

/* The tier's methods (lmdb.c), for the handles cairn__lmdb_open makes. */
extern const cairn_tier_methods cairn__lmdb_methods;
/* Drops a handle's reference to its env; the last one closes it. An env
 * from before a fork is left alone in the child (LMDB forbids touching it). */
void cairn__lmdb_env_release(lmdb_env *e);
/* CAIRN_TIER when t was opened before a fork() of this process. */
int cairn__lmdb_check_fork(const lmdb_tier *t);

/* ---- what lmdb.c lends the other files ---- */

/* Translates an LMDB return code (MDB_*, or a positive errno) into a cairn
 * code with a detail naming the store (t's path, or path when t is NULL)
 * and the step. cairn codes and -errno values pass through. */
int cairn__lmdb_err_at(const lmdb_tier *t, const char *path, int rc, const char *what);

/* Opens e->env afresh on path's data.mdb with e's settings and a map of
 * map_size bytes, and its databases. On failure e->env is NULL. */
int cairn__lmdb_env_reopen(lmdb_env *e, const char *path, size_t map_size);

/* Runs fn(t, txn, ctx) in a write transaction, committed if fn returns 0,
 * growing the map and retrying as every write does. reader_may: a handle
 * opened read-only may run it (pins), if its env is writable. Returns 0,
 * or a cairn code with its detail set (what names the step). */
int cairn__lmdb_write(lmdb_tier *t, const char *what, bool reader_may,
                      int (*fn)(lmdb_tier *t, MDB_txn *txn, void *ctx), void *ctx);
/* A read transaction (end it with cairn__lmdb_read_end). */
int cairn__lmdb_read_begin(lmdb_tier *t, MDB_txn **txn);
void cairn__lmdb_read_end(lmdb_tier *t, MDB_txn *txn);
/* An MDB code or errno as a cairn code, naming the store and what. */
int cairn__lmdb_err(lmdb_tier *t, int rc, const char *what);

/* ---- pins (lmdb_pins.c): the tier methods of the same names ---- */

int cairn__lmdb_pin_put(cairn_tier *base, const char *name, const void *bytes, size_t len);
int cairn__lmdb_pin_list(cairn_tier *base, cairn_pin_fn fn, void *ctx);
int cairn__lmdb_pin_delete(cairn_tier *base, const char *name);
/* ---- lmdb_compact.c ---- */

/* Takes the users lock of the store at path (a shared lock on
 * PATH/cairn.users, waiting while a compaction holds it exclusive).
 * Returns the fd that holds it, or -1 when a read-only open cannot open
 * the file (an older store; then a compaction cannot see this process,
 * docs/tiers.md). *created: this call made the file (an open that then
 * fails removes it: a refused spec changes nothing on disk). Errors of a
 * writable open: -errno (below -1). */
int cairn__lmdb_users_lock(const char *path, bool rdonly, bool *created);

/* The reclaim method (tier.h): copies data.mdb compacted and swaps it in,
 * when it would shrink by a third or more and no other process has the
 * store open. */
int cairn__lmdb_reclaim(cairn_tier *base, cairn_reclaim_result *out);

/* ---- the packed layout (lmdb_packs.c; the format is in docs/format.md) */

/* Bytes of a "where" value: pack sequence (u64), offset (u32), length (u32). */
#define CAIRN_LMDB_LOC 16

/* Finds blob id: *out points into LMDB's map, valid until txn ends.
 * Returns 0, MDB_NOTFOUND, another MDB code, or CAIRN_CORRUPT naming the
 * blob when its location does not resolve. */
int cairn__lmdb_packed_find(const lmdb_tier *t, MDB_txn *txn, const cairn_id *id,
                            MDB_val *out);

/* Writes the blobs the store does not hold (or holds with other bytes: a
 * damaged copy is replaced) into new pack records, and their locations.
 * Duplicate ids are written once. Returns 0, an MDB code, or a cairn code
 * with its detail set. */
int cairn__lmdb_packed_put(lmdb_tier *t, MDB_txn *txn, const cairn_blob *blobs, size_t n);

/* Forgets the ids' locations (absent ids are skipped), deletes each pack
 * left with no live blob and rewrites each pack left less than half live.
 * Returns as cairn__lmdb_packed_put. */
int cairn__lmdb_packed_remove(lmdb_tier *t, MDB_txn *txn, const cairn_id *ids, size_t n);

/* Evicts the oldest pack (a cache's eviction is first in, first out): the
 * locations of its live blobs, then the pack. OUT: *evicted, the blobs
 * forgotten. Returns 0, MDB_NOTFOUND when no pack is left, an MDB code or
 * a cairn code. */
int cairn__lmdb_packed_evict_oldest(lmdb_tier *t, MDB_txn *txn, uint64_t *evicted);

/* The blob length a "where" value records (0 for a damaged value). */
size_t cairn__lmdb_loc_len(const MDB_val *loc);

#endif /* CAIRN_LMDB_INT_H */
