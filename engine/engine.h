/*
 * engine.h - what the engine's modules share: the store handle, ref names,
 * commit objects and keyspace lookup.
 *
 * Refs in the tiers are namespaced like git's: branch B is "heads/B", tag T
 * is "tags/T", and the store's settings blob is named by "meta/config".
 */
#ifndef CAIRN_ENGINE_H
#define CAIRN_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cairn.h"
#include "delta.h"
#include "idset.h"
#include "stack.h"
#include "tree.h"

#define CAIRN_COMMIT_FORMAT 1
#define CAIRN_CONFIG_REF "meta/config"
#define CAIRN_DEFAULT_BRANCH "main"
/* Longest tier ref name: a prefix plus a name. */
#define CAIRN_REF_NAME_MAX (CAIRN_NAME_MAX + 16)

struct cairn_db {
    cairn_stack *stack;
    cairn_cache *cache;
    cairn_index ix;          /* stack + cache + node size, no pending blobs */
    unsigned flags;          /* CAIRN_RDONLY */
    pthread_mutex_t mu;      /* guards the fields below */
    bool txn_open;           /* one write transaction per handle... */
    uint64_t writer_epoch;   /* this handle's epoch once it has committed */
    bool has_last;           /* last_commit is valid */
    cairn_commit_info last_commit; /* this handle's latest commit (message NULL), so
                                      the next transaction need not read it back */
    struct cairn_flusher *flusher; /* write-back in the background, or NULL */
    cairn_id early_id;             /* the commit main named at open, and its bytes, */
    cairn_buf early;               /* read with the settings (db.c); data may be NULL */
    pthread_mutex_t boundary_mu;   /* guards the three below */
    bool has_boundary;             /* boundary holds meta/boundary's set, read from */
    cairn_id boundary_id;          /* this blob (boundary.c) */
    cairn_idset boundary;
};

/* ---- refs (refs.c) ---------------------------------------------------- */

/* Checks a branch or tag name: 1..CAIRN_NAME_MAX bytes of letters, digits
 * and "._-/", not starting with '-' or '/' nor containing "..". */
int cairn__check_ref_name(const char *kind, const char *name);
/* Checks that a new ref path ("heads/a/b") neither lies inside an existing
 * ref ("heads/a") nor has refs inside it ("heads/a/b/c"), as git requires
 * and file-like tiers need. Errors: CAIRN_BADARG naming both. */
int cairn__ref_check_free(cairn_stack *st, const char *path);
/* Takes the writer lock for a change of refs outside a transaction (the
 * handle's flag, then every ref tier's): CAIRN_BUSY while a transaction
 * is open. */
int cairn__db_write_lock(cairn_db *db);
/* Catches followers left behind up (best effort), then releases it. */
void cairn__db_write_unlock(cairn_db *db);
/* Writes "heads/NAME" or "tags/NAME" into buf. */
void cairn__ref_path(cairn_ref_kind kind, const char *name, char buf[CAIRN_REF_NAME_MAX + 1]);

/* ---- history (history.c) --------------------------------------------- */

/* How many commits of head's history are not in to's: the commits a branch
 * at head drops when it moves to to. Reads at most about limit commits of
 * each. OUT: *out. Returns 0 (exact), 1 (the limit was reached: *out is a
 * lower bound), or an error of reading a commit. */
int cairn__commits_dropped(cairn_db *db, const cairn_id *head, const cairn_id *to,
                           uint64_t limit, uint64_t *out);

/* ---- commits (commit.c) ----------------------------------------------- */

/* Encodes info (id ignored; the message is its first msg_len bytes, which
 * may be any bytes) as a commit object. OUT: *bytes (free), *len. */
int cairn__commit_encode(const cairn_commit_info *info, size_t msg_len, uint8_t **bytes,
                         size_t *len);
/* Decodes a commit object; info->message is malloc'd (NUL-terminated;
 * *msg_len, if not NULL, gets its length, which counts any NUL inside). */
int cairn__commit_decode(const cairn_id *id, const void *bytes, size_t len,
                         cairn_commit_info *info, size_t *msg_len);

/* ---- store settings (db.c) --------------------------------------------- */

/* The settings blob: map(2) {"format": 1, "node_size": T}, canonical. */
int cairn__config_encode(uint32_t node_size, uint8_t **bytes, size_t *len);
/* Reads a settings blob. Errors: CAIRN_CORRUPT, CAIRN_VERSION. */
int cairn__config_decode(const cairn_buf *buf, uint32_t *node_size);
/* Whether tier k of st holds a store's data: any ref, or blobs beyond a
 * lone settings blob (which a creation cut short before its ref moved
 * leaves). A tier without settings that holds data lost them. */
int cairn__tier_holds_data(cairn_stack *st, size_t k, bool *holds);

/* Opens a store on stack (a stack of a tier opened otherwise than by spec,
 * such as a bundle's: cairn__stack_of_tier), which the handle owns from
 * now on (closed here if this fails). Otherwise as cairn_open. */
int cairn__db_open_stack(cairn_stack *stack, const cairn_options *opts, cairn_db **out);

/* ---- keyspaces (snapshot.c) ------------------------------------------- */

/* Checks a keyspace name (NULL means ""). */
int cairn__check_space_name(const char *space);
/* The root of keyspace space in catalog (the empty-tree id if absent). */
int cairn__space_root(const cairn_index *ix, const cairn_id *catalog, const char *space,
                      cairn_id *root);
/* Calls fn(ctx, name, name_len, root) for every keyspace in catalog. */
typedef int (*cairn__space_fn)(void *ctx, const uint8_t *name, size_t name_len,
                               const cairn_id *root);
int cairn__catalog_each(const cairn_index *ix, const cairn_id *catalog, cairn__space_fn fn,
                        void *ctx);

/* ---- records named by meta/ refs (meta.c) ------------------------------- */

/* Reads the record ref name names: *id gets the blob's id and *bytes its
 * bytes (cairn__free them), except when *known (may be NULL) is that id
 * already: then bytes->data is NULL (the caller's copy is current).
 * Errors: CAIRN_NOTFOUND (no such ref), CAIRN_MISSING, tier errors. */
int cairn__meta_get(cairn_db *db, const char *name, const cairn_id *known, cairn_id *id,
                    cairn_buf *bytes);
/* Stores bytes as a blob and moves ref name to it from what it names now
 * (compare-and-swap, in every ref tier); bytes NULL deletes the ref. Call
 * with the writer lock held. */
int cairn__meta_put(cairn_db *db, const char *name, const void *bytes, size_t len);

/* ---- commits whose history gc dropped (boundary.c) ---------------------- */

/* Whether commit is in meta/boundary (its parent may be gone). Errors:
 * those of reading the ref and its blob, CAIRN_CORRUPT. */
int cairn__boundary_has(cairn_db *db, const cairn_id *commit, bool *out);
/* Publishes set as meta/boundary (its blob, then the ref). Call with the
 * writer lock held. */
int cairn__boundary_store(cairn_db *db, const cairn_idset *set);
/* A copy of the current set. OUT: *out (free it; empty if none),
 * *exists: whether meta/boundary exists. Errors: as cairn__boundary_has. */
int cairn__boundary_load(cairn_db *db, cairn_idset *out, bool *exists);
/* The boundary list blob of set (format.md): OUT: *bytes (cairn__free),
 * *len, *id. Errors: CAIRN_NOMEM. */
int cairn__boundary_encode(const cairn_idset *set, uint8_t **bytes, size_t *len, cairn_id *id);
/* The same for one tier's own list (a write-back tier keeps one of its
 * own: replicate.c), read from that tier alone; *exists as above. */
int cairn__boundary_load_tier(cairn_tier *t, cairn_idset *out, bool *exists);
/* Writes set as tier t's meta/boundary (its blob, synced, then the ref),
 * unless it holds that list already. */
int cairn__boundary_store_tier(cairn_tier *t, const cairn_idset *set);
#define CAIRN_BOUNDARY_REF "meta/boundary"

/* ---- what a version needs beyond another (version_delta.c) -------------- */

/* Calls fn for every blob version `catalog` needs beyond version `base`
 * (both catalog roots; the empty tree's id for nothing): the catalog's own
 * nodes, and for each keyspace that is new or differs, its tree's delta
 * (index/delta.h: nodes top down, then value blobs; equal subtrees are
 * skipped unread, so the cost follows the change). Followers catching up
 * and copies send these blobs; gc marks them live. Errors: those of
 * reading nodes, CAIRN_CORRUPT for a catalog entry that is not a root id,
 * or what fn returns. */
int cairn__version_delta(const cairn_index *ix, const cairn_id *base, const cairn_id *catalog,
                         cairn_delta_fn fn, void *ctx);

/* ---- ref tiers behind the primary (replicate.c) ------------------------ */

/* At a writable open: compares every follower's refs with the primary's.
 * A follower that differs is marked behind (the stack's mask); one holding
 * refs to commits the primary does not hold, or other settings, is another
 * store: CAIRN_BADSPEC naming it, and nothing is written. */
int cairn__followers_check(cairn_db *db);
/* Whether commit descends from (or is) ancestor. OUT: *out. Errors: those
 * of reading commits. */
int cairn__commit_descends(cairn_db *db, const cairn_id *commit, const cairn_id *ancestor,
                           bool *out);
/* Which followers marked behind cairn__followers_catch_up brings up to
 * date: write-through ones (at a write, with the writer lock held), all
 * (cairn_sync, with the lock), or write-back ones only (the flusher, which
 * needs no lock: nothing else writes them). */
enum cairn__catch_up {
    CAIRN__CATCH_UP_WRITE_THROUGH,
    CAIRN__CATCH_UP_ALL,
    CAIRN__CATCH_UP_WRITE_BACK,
};
/* Brings followers marked behind up to date (which: above): copies what
 * each lacks, found by diff, then moves its refs. Returns the first
 * failure; a follower that failed stays marked. */
int cairn__followers_catch_up(cairn_db *db, enum cairn__catch_up which);
/* Calls fn for every ref of every ref tier behind the primary: gc keeps
 * what they name as it keeps the primary's (a write-back tier names its
 * last synced commit until the next sync, and its own boundary list). */
int cairn__follower_refs(cairn_db *db, cairn_ref_fn fn, void *ctx);

/* ---- write-back in the background (flusher.c) -------------------------- */

typedef struct cairn_flusher cairn_flusher;
/* Starts the flusher if the stack has a write-back tier and interval_ms is
 * not 0 (cairn_options.sync_interval_ms, sync_queue_max). */
int cairn__flusher_start(cairn_db *db, uint32_t interval_ms, uint32_t queue_max);
/* Stops and frees it (at close; what is queued stays in the front store). */
void cairn__flusher_stop(cairn_db *db);
/* Counts a commit or ref move the write-back tiers lack. */
void cairn__flusher_committed(cairn_db *db);
/* Before a write: waits while the queue is full, at most ten intervals
 * (1 to 60 s), then CAIRN_BUSY naming the flusher's last error. */
int cairn__flusher_wait_room(cairn_db *db);
/* Flushes now (cairn_sync with a flusher running). */
int cairn__flusher_sync(cairn_db *db);
/* Commits and ref moves not yet in the write-back tiers. */
uint64_t cairn__flusher_queued(cairn_db *db);
/* Holds (or lets go) the flusher between its rounds: gc's batches delete
 * under it, so that no sync moves a tier's ref to a version whose blobs a
 * batch is deleting there. Nothing without a flusher. */
void cairn__flusher_hold(cairn_db *db, bool hold);

/* ---- transactions (txn.c), for the conditional operations (atomic.c) -- */

/* 0 if txn can take another call; else CAIRN_BADARG (NULL) or
 * CAIRN_TXN_UNUSABLE, with the detail set. */
int cairn__txn_usable(cairn_txn *txn);
/* Makes txn unusable (the first error sticks) and returns rc. */
int cairn__txn_fail(cairn_txn *txn, int rc);

/* ---- transactions (txn.c), for the typed writers (hashes.c) ------------ */

/* The index to read the version txn began from, and that version's
 * catalog root. */
void cairn__txn_base(const cairn_txn *txn, const cairn_index **ix, cairn_id *catalog);
/* Whether txn has recorded an operation (a put or a delete) on key in
 * space. OUT: *has. Errors: CAIRN_NOMEM (the transaction is then unusable). */
int cairn__txn_pending_has(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                           bool *has);
/* Calls fn(ctx, key, key_len) for the key of every operation txn recorded on
 * space whose key starts with prefix, in the order recorded (a key as often
 * as it was written). Costs one look at each operation on space. fn must
 * not write to txn (the keys point into its log); a nonzero return stops
 * the walk and is returned. */
typedef int (*cairn__txn_key_fn)(void *ctx, const uint8_t *key, size_t key_len);
int cairn__txn_pending_each(cairn_txn *txn, const char *space, const void *prefix,
                            size_t prefix_len, cairn__txn_key_fn fn, void *ctx);

/* ---- iterators (snapshot.c), for hash fields (hashes.c) ----------------- */

/* Opens an ascending iterator over the keys of space that start with
 * prefix[0..prefix_len) (1 or more bytes) and, after it, are >= from: keys
 * it returns, and keys cairn_iter_seek takes, are without the prefix.
 * Errors: CAIRN_KEYTOOBIG (prefix and from together longer than
 * CAIRN_KEY_MAX), those of cairn_iter_open. */
int cairn__iter_open_prefixed(cairn_snapshot *snap, const char *space, const void *prefix,
                              size_t prefix_len, const void *from, size_t from_len,
                              cairn_iter **out);

/* Key count of a tree (its root's subtree count). */
int cairn__tree_count(const cairn_index *ix, const cairn_id *root, uint64_t *count);

#endif /* CAIRN_ENGINE_H */
