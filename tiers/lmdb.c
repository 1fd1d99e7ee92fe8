/*
 * lmdb.c - the LMDB tier: "lmdb:PATH[?map_size=SIZE&sync=full|meta|none
 * &max_readers=N&promote=0|1&layout=packed|blobs&pack_pages=N&readahead=0|1]".
 *
 * PATH is a directory holding LMDB's data.mdb and lock.mdb, plus cairn.lock
 * (the writer lock file). A store has one of two layouts, fixed when it is
 * created and recorded by the named databases it holds:
 *
 *   packed (the default): "refs", "packs" and "where"; blobs are laid into
 *       page-sized packs (lmdb_packs.c);
 *   blobs (stores made before packed existed, or layout=blobs): "refs" and
 *       blobs   key: 32-byte id          value: the blob's bytes
 *
 *   refs    key: ref name (no NUL)   value: 32-byte id, XXH64 check (ref_record)
 *
 * docs/format.md has the exact bytes. An existing store keeps its layout
 * whatever the spec asks, unless the spec names the other one (then the
 * open is refused).
 *
 * LMDB rules this file keeps (design brief, section 9):
 *  - One MDB_env per directory per process. A registry keyed by the
 *    directory's st_dev and st_ino shares one env, with a reference count,
 *    between all tier handles of the same store.
 *  - An env is never used after fork(): the registry records the fork
 *    generation an env was opened in, and handles from before a fork fail
 *    cleanly in the child (which may open the store afresh).
 *  - mdb_reader_check at open frees reader slots of dead processes.
 *  - Map size: with no map_size option the map starts at 1 GiB (or the
 *    hidden map_initial option) and doubles whenever a write fills it.
 *    mdb_env_set_mapsize needs no transaction active in this process, so
 *    every transaction holds the env's resize_lock shared and a resize
 *    holds it exclusive. MDB_MAP_RESIZED (another process grew the map) is
 *    handled the same way with mdb_env_set_mapsize(env, 0). With map_size
 *    given, a full map is CAIRN_MAPFULL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "lmdb_int.h"
#include "local.h"

#define LMDB_DEFAULT_MAP (1ull << 30)
#define LMDB_SCAN_BATCH 1024
#define LMDB_MAX_RETRIES 48 /* map doublings or MAP_RESIZED rounds per txn */
#define LMDB_PACK_PAGES 4 /* the default of pack_pages (docs/benchmarks.md) */
#define REF_NAME_CAP (CAIRN_NAME_MAX + 16 + 1)

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static lmdb_env *registry;
static _Atomic unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* ---------------------------------------------------------------- fork */

/* Holding registry_mu across fork keeps the child from inheriting it
 * locked; the child then starts a new generation, so inherited envs are
 * never touched again. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_mu);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
    pthread_mutex_unlock(&registry_mu);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static int check_fork(const lmdb_tier *t)
{
    if (t->shared->generation != atomic_load(&fork_generation))
        return cairn__fail(CAIRN_TIER,
                           "lmdb %s: handle opened before fork(); open the store again in "
                           "this process",
                           t->path);
    return 0;
}

/* ---------------------------------------------------------------- errors */

/* Translates an LMDB return code (MDB_*, or a positive errno) into a cairn
 * code with a detail naming the store and the step. cairn codes and -errno
 * values pass through, keeping their detail. */
static int lmdb_err(const lmdb_tier *t, const char *path, int rc, const char *what)
{
    MDB_envinfo info;

    if (t)
        path = t->path;
    if (rc == 0)
        return 0;
    if (rc == ENOMEM) /* LMDB's own mallocs cannot go through cairn's allocator */
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: %s: out of memory", path, what);
    if (rc > 0)
        return cairn__fail(-rc, "lmdb %s: %s: %s", path, what, strerror(rc));
    if (rc <= CAIRN_NOTFOUND || (rc < 0 && rc > -4096))
        return rc;
    switch (rc) {
    case MDB_NOTFOUND:
        return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: %s: not found", path, what);
    case MDB_MAP_FULL:
        info.me_mapsize = 0;
        if (t)
            mdb_env_info(t->shared->env, &info);
        return cairn__fail(CAIRN_MAPFULL,
                           "lmdb %s: %s: the map (map_size %zu bytes) is full; reopen with a "
                           "larger map_size",
                           path, what, info.me_mapsize);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return cairn__fail(CAIRN_CORRUPT, "lmdb %s: %s: %s", path, what, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return cairn__fail(CAIRN_VERSION, "lmdb %s: %s: %s", path, what, mdb_strerror(rc));
    case MDB_MAP_RESIZED: /* only after every retry: see read_begin and write_txn */
        return cairn__fail(CAIRN_TIER,
                           "lmdb %s: %s: another process kept growing the map faster than this "
                           "one could follow (%d times); try again",
                           path, what, LMDB_MAX_RETRIES);
    default:
        return cairn__fail(CAIRN_TIER, "lmdb %s: %s: %s", path, what, mdb_strerror(rc));
    }
}

/* ---------------------------------------------------------------- txns */

/* Adopts a map size another process set (MDB_MAP_RESIZED). */
static void adopt_map_size(lmdb_env *e)
{
    pthread_rwlock_wrlock(&e->resize_lock);
    if (e->env)
        mdb_env_set_mapsize(e->env, 0);
    pthread_rwlock_unlock(&e->resize_lock);
}

/* Doubles the map, unless another thread already grew it past seen. */
static int grow_map(lmdb_tier *t, size_t seen)
{
    lmdb_env *e = t->shared;
    MDB_envinfo info;
    int rc = 0;

    pthread_rwlock_wrlock(&e->resize_lock);
    info.me_mapsize = SIZE_MAX;
    if (e->env)
        mdb_env_info(e->env, &info);
    if (info.me_mapsize <= seen) {
        if (seen > SIZE_MAX / 2)
            rc = MDB_MAP_FULL;
        else
            rc = mdb_env_set_mapsize(e->env, seen * 2);
    }
    pthread_rwlock_unlock(&e->resize_lock);
    return lmdb_err(t, NULL, rc, "growing the map");
}

/* Begins a read transaction holding resize_lock shared; end it with
 * read_end. */
static int read_begin(lmdb_tier *t, MDB_txn **txn)
{
    lmdb_env *e = t->shared;
    int rc;

    if ((rc = check_fork(t)))
        return rc;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&e->resize_lock);
        rc = e->env ? mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn) : MDB_PANIC;
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&e->resize_lock);
        if (rc != MDB_MAP_RESIZED || attempt >= LMDB_MAX_RETRIES)
            return lmdb_err(t, NULL, rc, "beginning a read transaction");
        adopt_map_size(e);
    }
}

static void read_end(lmdb_tier *t, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&t->shared->resize_lock);
}

/* A ref record: the 32-byte id, then XXH64 (seed 0) of the ref's name
 * followed by the id, big-endian. LMDB has no checksums, and a flipped bit
 * in a ref's key or value would otherwise rename or redirect it silently.
 * Records of exactly 32 bytes (written before the checksum) are read as
 * unchecked ids. */
#define REF_RECORD (32 + 8)

static uint64_t ref_sum(const void *name, size_t name_len, const uint8_t id[32])
{
    uint8_t buf[REF_NAME_CAP + 32];

    if (name_len > REF_NAME_CAP)
        name_len = REF_NAME_CAP; /* a damaged key: the sum will not match */
    memcpy(buf, name, name_len);
    memcpy(buf + name_len, id, 32);
    return XXH64(buf, name_len + 32, 0);
}

static void ref_record(const char *name, const cairn_id *id, uint8_t out[REF_RECORD])
{
    uint64_t sum = ref_sum(name, strlen(name), id->bytes);
    memcpy(out, id->bytes, 32);
    for (int i = 0; i < 8; i++)
        out[32 + i] = (uint8_t)(sum >> (56 - 8 * i));
}

/* Reads the ref record val of key into *id: 0, or CAIRN_CORRUPT naming the
 * ref and what is wrong. */
static int ref_parse(const lmdb_tier *t, const MDB_val *key, const MDB_val *val, cairn_id *id)
{
    const uint8_t *v = val->mv_data;
    uint64_t sum = 0;

    if (val->mv_size != 32 && val->mv_size != REF_RECORD)
        return cairn__fail(CAIRN_CORRUPT, "lmdb %s: ref '%.*s' holds %zu bytes, not an id",
                           t->path, (int)(key->mv_size < 200 ? key->mv_size : 200),
                           (const char *)key->mv_data, val->mv_size);
    for (int i = 0; val->mv_size == REF_RECORD && i < 8; i++)
        sum = sum << 8 | v[32 + i];
    if (val->mv_size == REF_RECORD && sum != ref_sum(key->mv_data, key->mv_size, v))
        return cairn__fail(CAIRN_CORRUPT,
                           "lmdb %s: ref '%.*s' is damaged (its checksum does not match its "
                           "name and id)",
                           t->path, (int)(key->mv_size < 200 ? key->mv_size : 200),
                           (const char *)key->mv_data);
    memcpy(id->bytes, v, 32);
    return 0;
}

/* Compare-and-swap of one ref inside txn: CAIRN_CONFLICT unless the ref
 * holds old_id (NULL: is absent); then sets it to new_id (NULL: deletes). */
static int cas_in_txn(lmdb_tier *t, MDB_txn *txn, const char *name, const cairn_id *old_id,
                      const cairn_id *new_id)
{
    MDB_val key = {strlen(name), (void *)name}, val;
    uint8_t record[REF_RECORD];
    cairn_id current;
    bool found;
    int rc;

    if ((rc = mdb_get(txn, t->shared->refs, &key, &val)) && rc != MDB_NOTFOUND)
        return rc;
    found = rc == 0;
    if (found && (rc = ref_parse(t, &key, &val, &current)))
        return rc;
    if (found != (old_id != NULL) || (found && !cairn__id_eq(&current, old_id)))
        return cairn__fail(CAIRN_CONFLICT, "lmdb %s: ref '%s' %s", t->path, name,
                           !found ? "does not exist"
                           : old_id ? "moved (compare-and-swap failed)"
                                    : "already exists");
    if (new_id) {
        ref_record(name, new_id, record);
        val = (MDB_val){sizeof(record), record};
        return mdb_put(txn, t->shared->refs, &key, &val, 0);
    }
    return found ? mdb_del(txn, t->shared->refs, &key, NULL) : 0;
}

/* What one write transaction does, in this order: put blobs, delete the
 * ids in remove, move ref. Unused parts are NULL. */
struct write_op {
    const cairn_blob *blobs;
    const cairn_id *remove;
    size_t n; /* of blobs or of remove */
    const char *ref;
    const cairn_id *old_id, *new_id;
};

/* The database keyed by blob id: "blobs", or "where" when packed. */
static MDB_dbi id_dbi(const lmdb_env *e)
{
    return e->packed ? e->where : e->blobs;
}

/* The length of the blob an id's value in id_dbi records. */
static size_t stored_len(const lmdb_env *e, const MDB_val *val)
{
    return e->packed ? cairn__lmdb_loc_len(val) : val->mv_size;
}

/* layout=blobs: blobs are written without overwriting: an existing id
 * should hold the same bytes already, so no page is rewritten; but LMDB
 * keeps no checksums, so the bytes it has are compared (MDB_NOOVERWRITE
 * hands them back), and a damaged copy is overwritten with the good one. */
static int blobs_put(lmdb_tier *t, MDB_txn *txn, const cairn_blob *blobs, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val key = cairn__lmdb_id_val(&blobs[i].id);
        MDB_val val = {blobs[i].len, (void *)blobs[i].data};
        if ((rc = mdb_put(txn, t->shared->blobs, &key, &val, MDB_NOOVERWRITE)) != MDB_KEYEXIST)
            continue;
        rc = 0;
        if (val.mv_size != blobs[i].len || memcmp(val.mv_data, blobs[i].data, blobs[i].len)) {
            val = (MDB_val){blobs[i].len, (void *)blobs[i].data};
            rc = mdb_put(txn, t->shared->blobs, &key, &val, 0);
        }
    }
    return rc;
}

static int blobs_remove(lmdb_tier *t, MDB_txn *txn, const cairn_id *ids, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val key = cairn__lmdb_id_val(&ids[i]);
        if ((rc = mdb_del(txn, t->shared->blobs, &key, NULL)) == MDB_NOTFOUND)
            rc = 0;
    }
    return rc;
}

/* Returns 0, an MDB_* code or positive errno, or a cairn code with its
 * detail set. */
static int apply_write(lmdb_tier *t, MDB_txn *txn, const struct write_op *op)
{
    bool packed = t->shared->packed;
    int rc = 0;

    if (op->blobs)
        rc = packed ? cairn__lmdb_packed_put(t, txn, op->blobs, op->n)
                    : blobs_put(t, txn, op->blobs, op->n);
    if (!rc && op->remove)
        rc = packed ? cairn__lmdb_packed_remove(t, txn, op->remove, op->n)
                    : blobs_remove(t, txn, op->remove, op->n);
    if (!rc && op->ref)
        rc = cas_in_txn(t, txn, op->ref, op->old_id, op->new_id);
    return rc;
}

/* Whether the file system holding t has (almost) no space left: LMDB turns
 * a short write, which is how a full disk often shows, into EIO. "Almost":
 * less than 16 MiB or 0.5% free, since a commit needs room for its pages. */
static bool disk_full(const lmdb_tier *t)
{
    struct statvfs vfs;
    uint64_t avail, total;

    if (statvfs(t->path, &vfs) != 0)
        return false;
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    return avail < (16u << 20) || avail < total / 200;
}

/* Bytes of pages the packed layout's two databases use: what a cache
 * counts against its capacity (LMDB reuses freed pages, so the file
 * stops growing at about this). */
static uint64_t packed_bytes(lmdb_tier *t, MDB_txn *txn)
{
    MDB_dbi dbs[2] = {t->shared->packs, t->shared->where};
    uint64_t bytes = 0;
    for (int i = 0; i < 2; i++) {
        MDB_stat s;
        if (mdb_stat(txn, dbs[i], &s) == 0)
            bytes += ((uint64_t)s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) * s.ms_psize;
    }
    return bytes;
}

/* A cache over its capacity evicts its oldest packs, in the transaction
 * that wrote the new ones, down to nine tenths of it (so that not every
 * write evicts). */
static int cache_trim(lmdb_tier *t, MDB_txn *txn)
{
    uint64_t capacity = t->base.capacity;
    if (packed_bytes(t, txn) <= capacity)
        return 0;
    while (packed_bytes(t, txn) > capacity / 10 * 9) {
        uint64_t evicted;
        int rc = cairn__lmdb_packed_evict_oldest(t, txn, &evicted);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return rc;
        atomic_fetch_add(&t->base.counters.evictions, evicted);
    }
    return 0;
}

/* Runs fn in one write transaction and commits it: one commit, one fsync,
 * and an error (a CAS conflict too) writes nothing. A full map in a
 * growable env aborts, doubles the map and runs fn again. A read-only
 * handle may write only when reader_may (pins), and only if its env is
 * writable. */
int cairn__lmdb_write(lmdb_tier *t, const char *what, bool reader_may,
                      int (*fn)(lmdb_tier *t, MDB_txn *txn, void *ctx), void *ctx)
{
    lmdb_env *e = t->shared;
    MDB_envinfo info;
    MDB_txn *txn;
    int rc;

    if ((t->rdonly && !reader_may) || e->env_rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "lmdb %s: %s: store is open read-only%s", t->path,
                           what, e->env_rdonly && reader_may
                                     ? " (this process may not write its files)" : "");
    if ((rc = check_fork(t)))
        return rc;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&e->resize_lock);
        if (!e->env) { /* a compaction could not reopen it (lmdb_compact.c) */
            pthread_rwlock_unlock(&e->resize_lock);
            return lmdb_err(t, NULL, MDB_PANIC, what);
        }
        mdb_env_info(e->env, &info);
        if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn))) {
            pthread_rwlock_unlock(&e->resize_lock);
            if (rc == MDB_MAP_RESIZED && attempt < LMDB_MAX_RETRIES) {
                adopt_map_size(e);
                continue;
            }
            return lmdb_err(t, NULL, rc, what);
        }
        if ((rc = fn(t, txn, ctx)) == 0)
            rc = mdb_txn_commit(txn); /* frees txn whatever happens */
        else
            mdb_txn_abort(txn);
        pthread_rwlock_unlock(&e->resize_lock);
        if (rc == EIO && disk_full(t))
            return cairn__fail(-ENOSPC,
                               "lmdb %s: %s: no space left on device (LMDB reported an I/O "
                               "error on a short write; the file system has almost no space "
                               "left)",
                               t->path, what);
        if (rc != MDB_MAP_FULL || !e->growable || attempt >= LMDB_MAX_RETRIES)
            return lmdb_err(t, NULL, rc, what);
        if ((rc = grow_map(t, info.me_mapsize)))
            return rc;
    }
}

static int apply_op(lmdb_tier *t, MDB_txn *txn, void *ctx)
{
    const struct write_op *op = ctx;
    int rc = apply_write(t, txn, op);

    if (rc == 0 && t->base.capacity && op->blobs)
        rc = cache_trim(t, txn);
    return rc;
}

static int write_txn(lmdb_tier *t, const char *what, const struct write_op *op)
{
    return cairn__lmdb_write(t, what, false, apply_op, (void *)op);
}

int cairn__lmdb_read_begin(lmdb_tier *t, MDB_txn **txn)
{
    return read_begin(t, txn);
}

void cairn__lmdb_read_end(lmdb_tier *t, MDB_txn *txn)
{
    read_end(t, txn);
}

int cairn__lmdb_err(lmdb_tier *t, int rc, const char *what)
{
    return lmdb_err(t, NULL, rc, what);
}

static int lmdb_put_many(cairn_tier *base, const cairn_blob *blobs, size_t n)
{
    struct write_op op = {.blobs = blobs, .n = n};
    return write_txn((lmdb_tier *)base, "writing blobs", &op);
}

static int lmdb_remove_many(cairn_tier *base, const cairn_id *ids, size_t n)
{
    struct write_op op = {.remove = ids, .n = n};
    return write_txn((lmdb_tier *)base, "removing blobs", &op);
}

static int lmdb_ref_cas(cairn_tier *base, const char *name, const cairn_id *old_id,
                        const cairn_id *new_id)
{
    struct write_op op = {.ref = name, .old_id = old_id, .new_id = new_id};
    return write_txn((lmdb_tier *)base, "moving a ref", &op);
}

/* Blobs and ref in one write transaction (tier.h's publish). */
static int lmdb_publish(cairn_tier *base, const cairn_blob *blobs, size_t n, const char *ref,
                        const cairn_id *old_id, const cairn_id *new_id)
{
    struct write_op op = {blobs, NULL, n, ref, old_id, new_id};
    return write_txn((lmdb_tier *)base, "publishing", &op);
}

/* ---------------------------------------------------------------- blobs */

/* Asks the kernel to read the pages under every blob in vals at once. The
 * map may be opened MDB_NORDAHEAD (readahead=0), and the kernel's readahead
 * only follows sequential faults, so a cold batch, such as a scan's
 * read-ahead of the next leaves, would otherwise fault its pages in one
 * synchronous read at a time; with the advice the reads are in flight
 * together. */
static void advise_willneed(const MDB_val *vals, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

    for (size_t i = 0; i < n; i++) {
        uintptr_t start = (uintptr_t)vals[i].mv_data & ~(page - 1);
        uintptr_t end = (uintptr_t)vals[i].mv_data + vals[i].mv_size;

        if (vals[i].mv_data && vals[i].mv_size)
            madvise((void *)start, end - start, MADV_WILLNEED); /* advice: errors ignored */
    }
}

/* One read transaction; each value is copied out with malloc (one byte for
 * an empty blob, so that a hit never has data NULL). A batch finds every
 * blob first and advises the kernel of all their pages before copying. */
static int lmdb_get_many(cairn_tier *base, const cairn_id *ids, size_t n, cairn_buf *out)
{
    lmdb_tier *t = (lmdb_tier *)base;
    MDB_val one, *vals = n > 1 ? cairn__calloc(n, sizeof(*vals)) : &one;
    MDB_txn *txn;
    int rc;

    if (!vals)
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory reading %zu blobs", t->path, n);
    if ((rc = read_begin(t, &txn))) {
        if (vals != &one)
            cairn__free(vals);
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val key = cairn__lmdb_id_val(&ids[i]);

        rc = t->shared->packed ? cairn__lmdb_packed_find(t, txn, &ids[i], &vals[i])
                               : mdb_get(txn, t->shared->blobs, &key, &vals[i]);
        if (rc == MDB_NOTFOUND) {
            vals[i].mv_data = NULL;
            rc = 0;
        }
    }
    if (!rc && n > 1)
        advise_willneed(vals, n);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!vals[i].mv_data)
            continue;
        if (!(out[i].data = cairn__malloc(vals[i].mv_size ? vals[i].mv_size : 1))) {
            rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory copying %zu bytes", t->path,
                             vals[i].mv_size);
            break;
        }
        memcpy(out[i].data, vals[i].mv_data, vals[i].mv_size);
        out[i].len = vals[i].mv_size;
    }
    read_end(t, txn);
    if (vals != &one)
        cairn__free(vals);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            cairn__free(out[i].data);
            out[i].data = NULL;
        }
        return lmdb_err(t, NULL, rc, "reading blobs");
    }
    return 0;
}

static int lmdb_has_many(cairn_tier *base, const cairn_id *ids, size_t n, bool *out)
{
    lmdb_tier *t = (lmdb_tier *)base;
    MDB_txn *txn;
    int rc = 0;

    if ((rc = read_begin(t, &txn)))
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        MDB_val key = cairn__lmdb_id_val(&ids[i]), val;

        rc = mdb_get(txn, id_dbi(t->shared), &key, &val);
        out[i] = rc == 0;
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    read_end(t, txn);
    return lmdb_err(t, NULL, rc, "looking blobs up");
}

/* Walks the blobs from id *from (NULL: the first) in id order, in batches
 * of LMDB_SCAN_BATCH ids, each batch in its own read transaction, and calls
 * fn with no transaction open: fn may call back into the tier, and a long
 * scan does not pin old pages. Blobs added or removed during the scan may
 * or may not be seen. */
static int scan_range(lmdb_tier *t, const cairn_id *from, cairn_id_visitor fn, void *ctx)
{
    struct item {
        cairn_id id;
        size_t len;
    } *items;
    cairn_id last;
    bool have_last = false;
    int rc = 0;

    if (!(items = cairn__malloc(LMDB_SCAN_BATCH * sizeof(*items))))
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory", t->path);
    for (;;) {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val key, val;
        size_t n = 0;

        if ((rc = read_begin(t, &txn)))
            break;
        if ((rc = mdb_cursor_open(txn, id_dbi(t->shared), &cur)) == 0) {
            if (have_last) {
                key = cairn__lmdb_id_val(&last);
                rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
                if (rc == 0 && key.mv_size == sizeof(last.bytes) &&
                    memcmp(key.mv_data, last.bytes, sizeof(last.bytes)) == 0)
                    rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
            } else if (from) {
                key = cairn__lmdb_id_val(from);
                rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
            } else {
                rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
            }
            for (; rc == 0 && n < LMDB_SCAN_BATCH;
                 rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
                if (key.mv_size != sizeof(last.bytes)) {
                    rc = cairn__fail(CAIRN_CORRUPT, "lmdb %s: a blob key of %zu bytes", t->path,
                                     key.mv_size);
                    break;
                }
                memcpy(items[n].id.bytes, key.mv_data, sizeof(last.bytes));
                items[n++].len = stored_len(t->shared, &val);
            }
            mdb_cursor_close(cur);
        }
        read_end(t, txn);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        if (rc) {
            rc = lmdb_err(t, NULL, rc, "listing blobs");
            break;
        }
        for (size_t i = 0; i < n && !rc; i++)
            rc = fn(ctx, &items[i].id, items[i].len);
        if (rc || n < LMDB_SCAN_BATCH)
            break;
        last = items[n - 1].id;
        have_last = true;
    }
    cairn__free(items);
    return rc;
}

static int lmdb_scan_ids(cairn_tier *base, cairn_id_visitor fn, void *ctx)
{
    return scan_range((lmdb_tier *)base, NULL, fn, ctx);
}

static int lmdb_scan_from(cairn_tier *base, const cairn_id *from, cairn_id_visitor fn,
                          void *ctx)
{
    return scan_range((lmdb_tier *)base, from, fn, ctx);
}

/* blobs: entries from mdb_stat. bytes: the sum of value lengths, from a
 * cursor walk (payload bytes, as cairn_tier_stats defines them; pages on
 * disk are larger because of overflow pages, see the design brief). The
 * walk reads only leaf pages, never the overflow pages of large values. */
static int lmdb_usage(cairn_tier *base, uint64_t *blobs, uint64_t *bytes)
{
    lmdb_tier *t = (lmdb_tier *)base;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_stat st = {0};
    MDB_val key, val;
    uint64_t sum = 0;
    int rc;

    if ((rc = read_begin(t, &txn)))
        return rc;
    if ((rc = mdb_stat(txn, id_dbi(t->shared), &st)) == 0 &&
        (rc = mdb_cursor_open(txn, id_dbi(t->shared), &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
            sum += stored_len(t->shared, &val);
        mdb_cursor_close(cur);
    }
    read_end(t, txn);
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_err(t, NULL, rc, "measuring usage");
    *blobs = st.ms_entries;
    *bytes = sum;
    return 0;
}

/* ---------------------------------------------------------------- refs */

static int lmdb_ref_get(cairn_tier *base, const char *name, cairn_id *out)
{
    lmdb_tier *t = (lmdb_tier *)base;
    MDB_val key = {strlen(name), (void *)name}, val;
    MDB_txn *txn;
    int rc;

    if ((rc = read_begin(t, &txn)))
        return rc;
    if ((rc = mdb_get(txn, t->shared->refs, &key, &val)) == 0)
        rc = ref_parse(t, &key, &val, out);
    read_end(t, txn);
    if (rc == MDB_NOTFOUND)
        return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: no ref '%s'", t->path, name);
    return lmdb_err(t, NULL, rc, "reading a ref");
}

/* Collects the matching refs in one read transaction, then calls fn with
 * none open (fn may call back into the tier). A damaged ref is passed with
 * id NULL (tier.h), and listing goes on. */
static int lmdb_ref_list(cairn_tier *base, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    lmdb_tier *t = (lmdb_tier *)base;
    struct ref_item {
        char name[REF_NAME_CAP];
        cairn_id id;
        bool damaged;
    } *items = NULL, *grown;
    size_t prefix_len = strlen(prefix), n = 0, cap = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val key = {prefix_len, (void *)prefix}, val;
    int rc;

    if ((rc = read_begin(t, &txn)))
        return rc;
    if ((rc = mdb_cursor_open(txn, t->shared->refs, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &key, &val, prefix_len ? MDB_SET_RANGE : MDB_FIRST);
             rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
            if (key.mv_size < prefix_len || memcmp(key.mv_data, prefix, prefix_len) != 0)
                break;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                if (!(grown = cairn__realloc(items, cap * sizeof(*items)))) {
                    rc = cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory listing refs",
                                     t->path);
                    break;
                }
                items = grown;
            }
            /* A name too long or holding a NUL is damage too: it is listed
             * cut short, as damaged. */
            {
                size_t len = key.mv_size < REF_NAME_CAP - 1 ? key.mv_size : REF_NAME_CAP - 1;
                memcpy(items[n].name, key.mv_data, len);
                items[n].name[len] = '\0';
                items[n].damaged = len != key.mv_size || strlen(items[n].name) != len ||
                                   ref_parse(t, &key, &val, &items[n].id) != 0;
                n++;
            }
        }
        mdb_cursor_close(cur);
    }
    read_end(t, txn);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if ((rc = lmdb_err(t, NULL, rc, "listing refs")) == 0)
        cairn__detail_clear(); /* left by a damaged ref's parse */
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(ctx, items[i].name, items[i].damaged ? NULL : &items[i].id);
    cairn__free(items);
    return rc;
}

/* ---------------------------------------------------------------- misc */

static int lmdb_sync(cairn_tier *base)
{
    lmdb_tier *t = (lmdb_tier *)base;
    int rc;

    if (t->shared->rdonly)
        return 0;
    if ((rc = check_fork(t)))
        return rc;
    /* Shared: a compaction swaps the env under the lock exclusive. */
    pthread_rwlock_rdlock(&t->shared->resize_lock);
    rc = t->shared->env ? mdb_env_sync(t->shared->env, 1) : MDB_PANIC;
    pthread_rwlock_unlock(&t->shared->resize_lock);
    return lmdb_err(t, NULL, rc, "syncing");
}

/* flock on PATH/cairn.lock (cairn__store_lock); the lock also goes away
 * when the process dies. */
static int lmdb_writer_lock(cairn_tier *base, bool acquire)
{
    lmdb_tier *t = (lmdb_tier *)base;

    if (acquire && t->rdonly)
        return cairn__fail(CAIRN_RDONLY_STORE, "lmdb %s: store is open read-only", t->path);
    return cairn__store_lock(&t->lock_fd, AT_FDCWD, t->path, acquire);
}

/* Drops a handle's reference; the last one closes the env. An env from
 * before a fork is left alone in the child (LMDB forbids touching it). */
static void env_release(lmdb_env *e)
{
    lmdb_env **p;

    pthread_mutex_lock(&registry_mu);
    if (--e->refcount > 0) {
        pthread_mutex_unlock(&registry_mu);
        return;
    }
    for (p = &registry; *p != e; p = &(*p)->next)
        ;
    *p = e->next;
    pthread_mutex_unlock(&registry_mu);
    if (e->generation != atomic_load(&fork_generation))
        return;
    if (e->env)
        mdb_env_close(e->env);
    if (e->users_fd >= 0)
        close(e->users_fd); /* releases the users lock */
    pthread_rwlock_destroy(&e->resize_lock);
    pthread_mutex_destroy(&e->pins_mu);
    cairn__free(e);
}

static void lmdb_close(cairn_tier *base)
{
    lmdb_tier *t = (lmdb_tier *)base;

    lmdb_writer_lock(base, false);
    env_release(t->shared);
    cairn__free(t);
}

static void lmdb_identity(cairn_tier *base, char *out, size_t cap)
{
    lmdb_tier *t = (lmdb_tier *)base;
    snprintf(out, cap, "lmdb %llu:%llu", (unsigned long long)t->shared->dev,
             (unsigned long long)t->shared->ino);
}

static const cairn_tier_methods lmdb_methods = {
    .version = 2,
    .name = "lmdb",
    .get_many = lmdb_get_many,
    .put_many = lmdb_put_many,
    .ref_get = lmdb_ref_get,
    .ref_cas = lmdb_ref_cas,
    .ref_list = lmdb_ref_list,
    .sync = lmdb_sync,
    .close = lmdb_close,
    .has_many = lmdb_has_many,
    .remove_many = lmdb_remove_many,
    .scan_ids = lmdb_scan_ids,
    .publish = lmdb_publish,
    .writer_lock = lmdb_writer_lock,
    .usage = lmdb_usage,
    .scan_from = lmdb_scan_from,
    .reclaim = cairn__lmdb_reclaim,
    .identity = lmdb_identity,
    .pin_put = cairn__lmdb_pin_put,
    .pin_list = cairn__lmdb_pin_list,
    .pin_delete = cairn__lmdb_pin_delete,
};

/* ---------------------------------------------------------------- open */

struct lmdb_opts {
    uint64_t map_size;     /* fixed size, 0: growable */
    uint64_t map_initial;  /* first size of a growable map, 0: default */
    unsigned env_flags;    /* MDB_NOSYNC / MDB_NOMETASYNC */
    unsigned max_readers;  /* 0: LMDB's default */
    int promote;           /* -1: not given */
    int layout;            /* -1: not given (a new store: packed), 0: blobs, 1: packed */
    unsigned pack_pages;   /* LMDB pages a pack fills (packed layout), 0: default */
    int readahead;         /* -1: not given (on), 0: MDB_NORDAHEAD, 1: the kernel's */
    uint64_t capacity;     /* a cache of at most this many bytes; 0: a store */
    bool sync_given;
};

static int lmdb_option(void *ctx, const char *key, const char *val)
{
    struct lmdb_opts *o = ctx;
    uint64_t *size = NULL;
    char *end;

    if (strcmp(key, "map_size") == 0)
        size = &o->map_size;
    else if (strcmp(key, "map_initial") == 0) /* hidden: tests of map growth */
        size = &o->map_initial;
    if (size) {
        if (cairn__parse_size(val, size) || *size == 0 || *size > SIZE_MAX)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: bad %s '%s' (want a size such as 4G)", key,
                               val);
        return 0;
    }
    if (strcmp(key, "capacity") == 0) {
        if (cairn__parse_size(val, &o->capacity) || o->capacity < (1u << 20))
            return cairn__fail(CAIRN_BADSPEC,
                               "lmdb: bad capacity '%s' (want a size of at least 1M, such as 20G)",
                               val);
        return 0;
    }
    if (strcmp(key, "sync") == 0) {
        o->sync_given = true;
        if (strcmp(val, "full") == 0)
            o->env_flags = 0;
        else if (strcmp(val, "meta") == 0)
            o->env_flags = MDB_NOMETASYNC;
        else if (strcmp(val, "none") == 0)
            o->env_flags = MDB_NOSYNC;
        else
            return cairn__fail(CAIRN_BADSPEC, "lmdb: sync must be full, meta or none, not '%s'",
                               val);
        return 0;
    }
    if (strcmp(key, "max_readers") == 0) {
        unsigned long n;
        errno = 0;
        n = strtoul(val, &end, 10);
        if (!*val || *end || errno || n == 0 || n > 1000000 || val[0] == '-')
            return cairn__fail(CAIRN_BADSPEC, "lmdb: bad max_readers '%s'", val);
        o->max_readers = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "pack_pages") == 0) {
        unsigned long n;
        errno = 0;
        n = strtoul(val, &end, 10);
        if (!*val || *end || errno || n == 0 || n > 64 || val[0] == '-')
            return cairn__fail(CAIRN_BADSPEC, "lmdb: pack_pages must be 1 to 64, not '%s'",
                               val);
        o->pack_pages = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "readahead") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: readahead must be 0 or 1, not '%s'", val);
        o->readahead = val[0] == '1';
        return 0;
    }
    if (strcmp(key, "promote") == 0) {
        if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: promote must be 0 or 1, not '%s'", val);
        o->promote = val[0] == '1';
        return 0;
    }
    if (strcmp(key, "layout") == 0) {
        if (strcmp(val, "blobs") != 0 && strcmp(val, "packed") != 0)
            return cairn__fail(CAIRN_BADSPEC, "lmdb: layout must be blobs or packed, not '%s'",
                               val);
        o->layout = val[0] == 'p';
        return 0;
    }
    return cairn__fail(CAIRN_BADSPEC,
                       "lmdb: unknown option '%s' (known: map_size, capacity, sync, max_readers, "
                       "promote, layout, pack_pages, readahead)",
                       key);
}

/* Refuses an LMDB environment that holds anything but cairn's named
 * databases: the directory belongs to some other program. */
static int check_ours(MDB_txn *txn, const char *path)
{
    MDB_dbi main_db;
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;

    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_db)) ||
        (rc = mdb_cursor_open(txn, main_db, &cur)))
        return lmdb_err(NULL, path, rc, "opening");
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if ((key.mv_size == 5 && memcmp(key.mv_data, "blobs", 5) == 0) ||
            (key.mv_size == 4 && memcmp(key.mv_data, "refs", 4) == 0) ||
            (key.mv_size == 5 && memcmp(key.mv_data, "packs", 5) == 0) ||
            (key.mv_size == 5 && memcmp(key.mv_data, "where", 5) == 0) ||
            (key.mv_size == 4 && memcmp(key.mv_data, "pins", 4) == 0))
            continue;
        mdb_cursor_close(cur);
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' holds an LMDB database that is not a cairn store "
                           "(it has a key '%.*s'); refusing to write into it",
                           path, (int)(key.mv_size < 64 ? key.mv_size : 64),
                           (const char *)key.mv_data);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : lmdb_err(NULL, path, rc, "opening");
}

/* CAIRN_BADSPEC when a spec names a layout (0 blobs, 1 packed; -1: none)
 * other than the store's. */
static int layout_matches(const char *path, bool packed, int layout)
{
    if (layout < 0 || layout == (int)packed)
        return 0;
    return cairn__fail(CAIRN_BADSPEC,
                       "lmdb %s: the store has layout=%s, the spec asks for layout=%s (a store "
                       "keeps the layout it was created with)",
                       path, packed ? "packed" : "blobs", layout ? "packed" : "blobs");
}

/* Opens the databases of the store's layout (a new store: layout, -1 is
 * packed): created in a write txn, or, read-only, looked up in a read txn
 * (committed, which keeps the handles). An existing store keeps its
 * layout; a layout named explicitly that differs is CAIRN_BADSPEC. The env
 * is not shared yet, so a map another process grew is adopted without the
 * resize lock. */
static int open_dbis(lmdb_env *e, const char *path, int layout, unsigned pack_pages)
{
    unsigned flags = e->rdonly ? 0 : MDB_CREATE;
    bool has_blobs, has_packs;
    MDB_stat env_stat;
    MDB_dbi probe;
    MDB_txn *txn;
    int rc;

    for (int attempt = 0;; attempt++) {
        rc = mdb_txn_begin(e->env, NULL, e->rdonly ? MDB_RDONLY : 0, &txn);
        if (rc != MDB_MAP_RESIZED || attempt >= LMDB_MAX_RETRIES)
            break;
        mdb_env_set_mapsize(e->env, 0);
    }
    if (rc)
        return lmdb_err(NULL, path, rc, "opening");
    if ((rc = check_ours(txn, path))) {
        mdb_txn_abort(txn);
        return rc;
    }
    has_blobs = mdb_dbi_open(txn, "blobs", 0, &probe) == 0;
    has_packs = mdb_dbi_open(txn, "packs", 0, &probe) == 0;
    if (has_blobs && has_packs) {
        mdb_txn_abort(txn);
        return cairn__fail(CAIRN_CORRUPT,
                           "lmdb %s: holds the databases of both layouts (blobs, and packs "
                           "with where); refusing to guess which is the store",
                           path);
    }
    e->packed = has_packs || (!has_blobs && layout != 0);
    if ((rc = layout_matches(path, e->packed, layout))) {
        mdb_txn_abort(txn);
        return rc;
    }
    mdb_env_stat(e->env, &env_stat);
    /* whole overflow pages: LMDB's page header is 16 bytes */
    e->pack_max = (pack_pages ? pack_pages : LMDB_PACK_PAGES) * (size_t)env_stat.ms_psize - 16;
    if (e->packed)
        rc = mdb_dbi_open(txn, "packs", flags, &e->packs);
    else
        rc = mdb_dbi_open(txn, "blobs", flags, &e->blobs);
    if (rc || (e->packed && (rc = mdb_dbi_open(txn, "where", flags, &e->where))) ||
        (rc = mdb_dbi_open(txn, "refs", flags, &e->refs))) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: holds no cairn data", path);
        return lmdb_err(NULL, path, rc, "opening databases");
    }
    /* Pins have a database of their own once the first is written
     * (lmdb_pins.c creates it). */
    e->pins_open = mdb_dbi_open(txn, "pins", 0, &e->pins) == 0;
    return lmdb_err(NULL, path, mdb_txn_commit(txn), "opening databases");
}

/* Creates an MDB_env with a map of map_size bytes and max_readers slots
 * (0: LMDB's default) and opens path with flags. Returns 0 or an LMDB code
 * (the env is closed on failure, as LMDB requires). */
static int create_env_sized(const char *path, size_t map_size, unsigned max_readers,
                            unsigned flags, MDB_env **out)
{
    MDB_env *env;
    int rc;

    if ((rc = mdb_env_create(&env)))
        return rc;
    rc = mdb_env_set_maxdbs(env, 5);
    if (!rc)
        rc = mdb_env_set_mapsize(env, map_size);
    if (!rc && max_readers)
        rc = mdb_env_set_maxreaders(env, max_readers);
    if (!rc)
        rc = mdb_env_open(env, path, flags, 0644);
    if (rc) {
        mdb_env_close(env);
        return rc;
    }
    *out = env;
    return 0;
}

/* The same with o's settings. */
static int create_env(const char *path, const struct lmdb_opts *o, unsigned flags, MDB_env **out)
{
    return create_env_sized(path, o->map_size ? o->map_size
                                  : o->map_initial ? o->map_initial
                                                   : LMDB_DEFAULT_MAP,
                            o->max_readers, flags, out);
}

#define NEW_DATA_PREFIX ".data.mdb."

/* Removes the leftovers of creations and compactions cut short:
 * .data.mdb.<pid> and its "-lock" file, for pids that no longer run. Best
 * effort. */
static void remove_leftovers(const char *path)
{
    struct dirent *de;
    DIR *d;

    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        char *end;
        long pid;

        if (strncmp(n, NEW_DATA_PREFIX, strlen(NEW_DATA_PREFIX)) != 0)
            continue;
        pid = strtol(n + strlen(NEW_DATA_PREFIX), &end, 10);
        if (pid <= 0 || (*end && strcmp(end, "-lock") != 0) || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* A new store's data.mdb appears whole or not at all. LMDB creates its
 * file in place and writes the first meta pages without syncing them, so a
 * power cut while a store is being created could leave a data.mdb whose
 * meta pages never reached the disk while later pages did: LMDB refuses
 * such a file (MDB_INVALID) for ever, and the directory can be neither
 * opened nor created again. So a new environment is made under
 * .data.mdb.<pid> (MDB_NOSUBDIR), with cairn's two databases, committed
 * with full syncs whatever the sync option, closed, and linked into place
 * (link, not rename: if another process created the store meanwhile, its
 * data.mdb stays). The caller syncs the directory. Found by the simulated
 * power-loss test (tests/cli/test_powerloss.sh). */
static int create_data_file(const char *path, const struct lmdb_opts *o, unsigned flags)
{
    char data[PATH_MAX], tmp[PATH_MAX], tmp_lock[PATH_MAX + 8];
    lmdb_env e = {0};
    struct stat st;
    int rc;

    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (stat(data, &st) == 0 || errno != ENOENT)
        return 0; /* there already (or LMDB will say what is wrong) */
    snprintf(tmp, sizeof(tmp), "%s/" NEW_DATA_PREFIX "%ld", path, (long)getpid());
    snprintf(tmp_lock, sizeof(tmp_lock), "%s-lock", tmp);
    unlink(tmp);
    flags &= ~(unsigned)(MDB_NOSYNC | MDB_NOMETASYNC);
    if ((rc = create_env(tmp, o, flags | MDB_NOSUBDIR, &e.env))) {
        rc = lmdb_err(NULL, path, rc, "creating the environment");
        goto done;
    }
    rc = open_dbis(&e, path, o->layout, o->pack_pages);
    mdb_env_close(e.env);
    if (rc == 0 && link(tmp, data) != 0 && errno != EEXIST)
        rc = cairn__fail(-errno, "lmdb %s: cannot create data.mdb: %s", path, strerror(errno));
done:
    unlink(tmp);
    unlink(tmp_lock);
    return rc;
}

/* LMDB reads data.mdb through a map: a page past the end of a file that
 * was cut short (a damaged copy, a disk that lost the tail of a write it
 * acknowledged) would kill the process with SIGBUS at the first read. So a
 * file shorter than the last page its meta page names is refused at open
 * (CAIRN_CORRUPT). The file only grows while a store is in use. */
static int check_length(MDB_env *env, const char *path)
{
    char data[PATH_MAX];
    MDB_envinfo info;
    MDB_stat stat_info;
    struct stat st;
    uint64_t need;

    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (mdb_env_info(env, &info) || mdb_env_stat(env, &stat_info) || stat(data, &st) != 0)
        return 0; /* nothing to compare: LMDB itself reports what is wrong */
    need = ((uint64_t)info.me_last_pgno + 1) * stat_info.ms_psize;
    if ((uint64_t)st.st_size < need)
        return cairn__fail(CAIRN_CORRUPT,
                           "lmdb %s: data.mdb is %llu bytes but its pages end at byte %llu: "
                           "the file was cut short",
                           path, (unsigned long long)st.st_size, (unsigned long long)need);
    return 0;
}

int cairn__lmdb_env_reopen(lmdb_env *e, const char *path, size_t map_size)
{
    int rc = create_env_sized(path, map_size, e->max_readers, e->open_flags, &e->env);
    if (rc) {
        e->env = NULL;
        return lmdb_err(NULL, path, rc, "reopening the environment");
    }
    if ((rc = check_length(e->env, path)) || (rc = open_dbis(e, path, e->layout, e->pack_pages))) {
        mdb_env_close(e->env);
        e->env = NULL;
    }
    return rc;
}

/* Whether this process may write data.mdb and lock.mdb of the existing
 * store at path (a read-only handle's env may then be writable). */
static bool store_files_writable(const char *path)
{
    char file[PATH_MAX];

    snprintf(file, sizeof(file), "%s/data.mdb", path);
    if (access(file, W_OK) != 0)
        return false;
    snprintf(file, sizeof(file), "%s/lock.mdb", path);
    return access(file, W_OK) == 0 || (errno == ENOENT && access(path, W_OK) == 0);
}

/* Creates and opens a new env for path (registry_mu held by the caller).
 * A read-only open without write permission on lock.mdb (a store owned by
 * another user) falls back to MDB_NOLOCK: this reader then has no slot in
 * LMDB's reader table, so a writer active at the same time may reuse pages
 * it is reading; the stack's hash check turns such a torn read into
 * CAIRN_CORRUPT, never into wrong data (docs/tiers.md). */
static int env_open(const char *path, const struct stat *st, const struct lmdb_opts *o,
                    bool rdonly, lmdb_env **out)
{
    unsigned flags = MDB_NOTLS | (o->readahead == 0 ? MDB_NORDAHEAD : 0) | o->env_flags |
                     (rdonly ? MDB_RDONLY : 0);
    pthread_rwlockattr_t attr;
    lmdb_env *e;
    bool users_created = false;
    int rc, dead;

    if (!(e = cairn__calloc(1, sizeof(*e))))
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory", path);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->generation = atomic_load(&fork_generation);
    e->rdonly = rdonly;
    e->env_rdonly = rdonly; /* until a writable env is opened below */
    e->growable = o->map_size == 0;
    /* Prefer the resizer: readers arrive all the time and must not starve
     * it. No thread ever takes the lock shared twice, so this is safe. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(&e->resize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (!rc && (rc = pthread_mutex_init(&e->pins_mu, NULL)))
        pthread_rwlock_destroy(&e->resize_lock);
    if (rc) {
        rc = cairn__fail(-rc, "lmdb %s: cannot create a lock", path);
        goto fail_rwlock;
    }
    e->max_readers = o->max_readers;
    e->layout = o->layout;
    e->pack_pages = o->pack_pages;
    if ((e->users_fd = cairn__lmdb_users_lock(path, rdonly, &users_created)) < -1) {
        rc = e->users_fd;
        goto fail_users;
    }
    if (!rdonly)
        remove_leftovers(path); /* of creations and compactions cut short */
    if (!rdonly && (rc = create_data_file(path, o, flags)))
        goto fail_create;
    /* A read-only handle still writes pins (lmdb_pins.c) when this process
     * may write the store's files: its env is opened writable, and the
     * handle refuses every other write (lmdb_tier.rdonly). Only when that
     * is refused is the env read-only (and then without the lock file if
     * that is not writable either). */
    rc = ENOENT;
    if (rdonly && store_files_writable(path))
        rc = create_env(path, o, flags & ~(unsigned)MDB_RDONLY, &e->env);
    if (rc)
        rc = create_env(path, o, flags, &e->env);
    else
        e->env_rdonly = false;
    if (rc == EACCES && rdonly)
        rc = create_env(path, o, flags |= MDB_NOLOCK, &e->env);
    e->open_flags = flags;
    if (rc == ENOENT && rdonly) {
        rc = cairn__fail(CAIRN_NOTFOUND, "lmdb %s: no store here (read-only open creates none)",
                         path);
        goto fail_create;
    }
    if (rc) {
        rc = lmdb_err(NULL, path, rc, "opening the environment");
        goto fail_create;
    }
    if ((rc = check_length(e->env, path)))
        goto fail_open;
    if ((rc = mdb_reader_check(e->env, &dead))) {
        rc = lmdb_err(NULL, path, rc, "checking readers");
        goto fail_open;
    }
    if ((rc = open_dbis(e, path, o->layout, o->pack_pages)))
        goto fail_open;
    /* LMDB may just have created data.mdb and lock.mdb: their names are
     * durable once the directory is synced. */
    if (!rdonly && (rc = cairn__sync_dir(path)))
        goto fail_open;
    e->refcount = 1;
    *out = e;
    return 0;

fail_open:
    mdb_env_close(e->env);
fail_create:
    if (users_created) {
        char name[PATH_MAX];
        snprintf(name, sizeof(name), "%s/cairn.users", path);
        unlink(name);
    }
    if (e->users_fd >= 0)
        close(e->users_fd);
fail_users:
    pthread_rwlock_destroy(&e->resize_lock);
    pthread_mutex_destroy(&e->pins_mu);
fail_rwlock:
    cairn__free(e);
    return rc;
}

/* Finds the env of the directory st in this process and generation and
 * takes a reference, or opens a new one. */
static int env_get(const char *path, const struct stat *st, const struct lmdb_opts *o,
                   bool rdonly, lmdb_env **out)
{
    unsigned gen = atomic_load(&fork_generation);
    lmdb_env *e;
    int rc = 0;

    pthread_mutex_lock(&registry_mu);
    for (e = registry; e; e = e->next)
        if (e->dev == st->st_dev && e->ino == st->st_ino && e->generation == gen)
            break;
    if (e) {
        rc = layout_matches(path, e->packed, o->layout);
        if (!rc && e->rdonly && !rdonly)
            rc = cairn__fail(CAIRN_BUSY,
                             "lmdb %s: already open read-only in this process; close that "
                             "handle first",
                             path);
        if (!rc)
            e->refcount++;
    } else if ((rc = env_open(path, st, o, rdonly, &e)) == 0) {
        e->next = registry;
        registry = e;
    }
    pthread_mutex_unlock(&registry_mu);
    if (rc == 0)
        *out = e;
    return rc;
}

/* For check, which changes nothing: CAIRN_BADSPEC when the store in path
 * has another layout than the one a spec names. The layout comes from
 * this process's env of the store when there is one (LMDB allows one per
 * process), else from a read-only open without the lock file. A store that
 * cannot be read here is left for the open to report. */
static int check_layout(const char *path, int layout)
{
    unsigned gen = atomic_load(&fork_generation);
    bool known = false, packed = false;
    struct stat st;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    if (stat(path, &st) != 0)
        return 0;
    pthread_mutex_lock(&registry_mu);
    for (lmdb_env *e = registry; e; e = e->next)
        if (e->dev == st.st_dev && e->ino == st.st_ino && e->generation == gen) {
            known = true;
            packed = e->packed;
        }
    if (!known && mdb_env_create(&env) == 0) {
        if (mdb_env_set_maxdbs(env, 4) == 0 &&
            mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644) == 0 &&
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            packed = mdb_dbi_open(txn, "packs", 0, &dbi) == 0;
            known = packed || mdb_dbi_open(txn, "blobs", 0, &dbi) == 0;
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
    }
    pthread_mutex_unlock(&registry_mu);
    return known ? layout_matches(path, packed, layout) : 0;
}

/* Whether the LMDB store at path holds refs: a store, which must not be
 * opened as a cache (it would evict the store's blobs). Read-only, as
 * check_layout. Unknown (it cannot be opened) counts as a store. */
static bool holds_refs(const char *path)
{
    unsigned gen = atomic_load(&fork_generation);
    bool has = true;
    struct stat st;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat ms;

    if (stat(path, &st) != 0)
        return false;
    pthread_mutex_lock(&registry_mu);
    lmdb_env *open = NULL;
    for (lmdb_env *e = registry; e; e = e->next)
        if (e->dev == st.st_dev && e->ino == st.st_ino && e->generation == gen)
            open = e;
    if (open) {
        if (mdb_txn_begin(open->env, NULL, MDB_RDONLY, &txn) == 0) {
            has = mdb_stat(txn, open->refs, &ms) != 0 || ms.ms_entries > 0;
            mdb_txn_abort(txn);
        }
    } else if (mdb_env_create(&env) == 0) {
        if (mdb_env_set_maxdbs(env, 4) == 0 &&
            mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644) == 0 &&
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            int rc = mdb_dbi_open(txn, "refs", 0, &dbi);
            has = rc == MDB_NOTFOUND ? false
                  : rc || mdb_stat(txn, dbi, &ms) != 0 ? true
                                                       : ms.ms_entries > 0;
            mdb_txn_abort(txn);
        }
        mdb_env_close(env);
    }
    pthread_mutex_unlock(&registry_mu);
    return has;
}

/* What a directory named as an lmdb store holds. */
enum dir_kind { DIR_MISSING, DIR_EMPTY, DIR_LMDB, DIR_FILE_STORE, DIR_OTHER };

/* Looks at path without changing anything. Only LMDB's own files, our
 * lock file and a data file being created (.data.mdb.<pid>) count as
 * "empty" leftovers (a creation cut short). */
static int inspect_dir(const char *path, enum dir_kind *kind)
{
    struct dirent *de;
    struct stat st;
    DIR *d;

    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            *kind = DIR_MISSING;
            return 0;
        }
        return cairn__fail(-errno, "lmdb: cannot open '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "lmdb: '%s' is not a directory", path);
    if (!(d = opendir(path)))
        return cairn__fail(-errno, "lmdb: cannot list '%s': %s", path, strerror(errno));
    *kind = DIR_EMPTY;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, "data.mdb") == 0) {
            *kind = DIR_LMDB;
            break;
        }
        if (strcmp(n, "cairn-file-store") == 0)
            *kind = DIR_FILE_STORE;
        else if (*kind == DIR_EMPTY && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 &&
                 strcmp(n, "lock.mdb") != 0 && strcmp(n, "cairn.lock") != 0 &&
                 strcmp(n, "cairn.users") != 0 &&
                 strncmp(n, NEW_DATA_PREFIX, strlen(NEW_DATA_PREFIX)) != 0)
            *kind = DIR_OTHER;
    }
    closedir(d);
    return 0;
}

/* arg is the directory: an LMDB cairn store, or a directory that is empty
 * or does not exist yet (a new store, unless read-only). Anything else is
 * refused, so that a mistyped spec never writes into a random place. */
int cairn__lmdb_check(cairn_tier_config *cfg)
{
    struct lmdb_opts o = {0, 0, 0, 0, -1, -1, 0, -1, 0, false};
    enum dir_kind kind = DIR_OTHER;
    int rc;

    if (!cfg->arg[0])
        return cairn__fail(CAIRN_BADSPEC, "lmdb: needs a directory (lmdb:PATH)");
    if ((rc = cairn__opts_each(cfg->opts, lmdb_option, &o)))
        return rc;
    if (o.map_size && o.map_initial)
        return cairn__fail(CAIRN_BADSPEC, "lmdb: map_size and map_initial exclude each other");
    if (o.capacity && o.layout == 0)
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: a cache (capacity=) evicts whole packs: it needs layout=packed");
    if (strlen(cfg->arg) >= sizeof(((lmdb_tier *)0)->path))
        return cairn__fail(CAIRN_BADSPEC, "lmdb: path '%.40s...' is too long", cfg->arg);
    if ((rc = inspect_dir(cfg->arg, &kind)))
        return rc;
    switch (kind) {
    case DIR_FILE_STORE:
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' is a cairn file store, not an lmdb one (open it as "
                           "file:%s)",
                           cfg->arg, cfg->arg);
    case DIR_OTHER:
        return cairn__fail(CAIRN_BADSPEC,
                           "lmdb: '%s' is not empty and holds no data.mdb: not a cairn lmdb "
                           "store, refusing to write into it",
                           cfg->arg);
    case DIR_MISSING:
    case DIR_EMPTY:
        /* A cache is made where it is missing, even for a read-only stack:
         * filling it is its purpose. */
        if ((cfg->open_flags & (CAIRN_RDONLY | CAIRN_EXISTING)) && !o.capacity)
            return cairn__fail(CAIRN_NOTFOUND, "lmdb %s: no store here", cfg->arg);
        break;
    case DIR_LMDB:
        cfg->holds_store = !o.capacity || holds_refs(cfg->arg);
        if ((o.layout >= 0 || o.capacity) &&
            (rc = check_layout(cfg->arg, o.capacity ? 1 : o.layout)))
            return rc;
        break;
    }
    cfg->caps = CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    cfg->capacity = o.capacity;
    return 0;
}

/* Opens the store checked by cairn__lmdb_check, creating the directory if
 * needed (not read-only). A second handle on a directory already open
 * shares its env; the first handle's map_size, sync and max_readers
 * settings then hold. */
int cairn__lmdb_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    struct lmdb_opts o = {0, 0, 0, 0, -1, -1, 0, -1, 0, false};
    bool rdonly = (cfg->open_flags & CAIRN_RDONLY) && !cfg->capacity;
    const char *path = cfg->arg;
    struct stat st;
    lmdb_tier *t;
    int rc;

    *out = NULL;
    pthread_once(&atfork_once, atfork_register);
    if ((rc = cairn__opts_each(cfg->opts, lmdb_option, &o)))
        return rc;
    if (o.capacity && !o.sync_given)
        o.env_flags = MDB_NOSYNC; /* a cache loses nothing a crash can take */
    if (o.capacity && o.layout < 0)
        o.layout = 1;
    if (!rdonly && (rc = cairn__mkdir_p(path)))
        return cairn__fail_context(rc, "lmdb");
    if (stat(path, &st) != 0)
        return cairn__fail(errno == ENOENT ? CAIRN_NOTFOUND : -errno,
                           "lmdb %s: no store here (%s)", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "lmdb: '%s' is not a directory", path);
    if (!(t = cairn__calloc(1, sizeof(*t))))
        return cairn__fail(CAIRN_NOMEM, "lmdb %s: out of memory", path);
    t->base.m = &lmdb_methods;
    t->base.caps = CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    t->base.promote = o.promote == 1;
    t->base.capacity = o.capacity;
    t->rdonly = rdonly;
    atomic_init(&t->lock_fd, -1);
    snprintf(t->path, sizeof(t->path), "%s", path);
    if ((rc = env_get(path, &st, &o, rdonly, &t->shared)))
        goto fail_env;
    *out = &t->base;
    return 0;

fail_env:
    cairn__free(t);
    return rc;
}
