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
 *
 * This file holds the tier methods; lmdb_open.c checks specs and opens
 * environments (the registry, fork generations, creation, layouts).
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "lmdb_int.h"
#include "local.h"

#define LMDB_SCAN_BATCH 1024
#define REF_NAME_CAP (CAIRN_NAME_MAX + 16 + 1)

/* ---------------------------------------------------------------- errors */

/* Translates an LMDB return code (MDB_*, or a positive errno) into a cairn
 * code with a detail naming the store and the step. cairn codes and -errno
 * values pass through, keeping their detail. */
int cairn__lmdb_err_at(const lmdb_tier *t, const char *path, int rc, const char *what)
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
                           path, what, CAIRN_LMDB_MAX_RETRIES);
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
    return cairn__lmdb_err_at(t, NULL, rc, "growing the map");
}

/* Begins a read transaction holding resize_lock shared; end it with
 * read_end. */
static int read_begin(lmdb_tier *t, MDB_txn **txn)
{
    lmdb_env *e = t->shared;
    int rc;

    if ((rc = cairn__lmdb_check_fork(t)))
        return rc;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&e->resize_lock);
        rc = e->env ? mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn) : MDB_PANIC;
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&e->resize_lock);
        if (rc != MDB_MAP_RESIZED || attempt >= CAIRN_LMDB_MAX_RETRIES)
            return cairn__lmdb_err_at(t, NULL, rc, "beginning a read transaction");
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
    if ((rc = cairn__lmdb_check_fork(t)))
        return rc;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&e->resize_lock);
        if (!e->env) { /* a compaction could not reopen it (lmdb_compact.c) */
            pthread_rwlock_unlock(&e->resize_lock);
            return cairn__lmdb_err_at(t, NULL, MDB_PANIC, what);
        }
        mdb_env_info(e->env, &info);
        if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn))) {
            pthread_rwlock_unlock(&e->resize_lock);
            if (rc == MDB_MAP_RESIZED && attempt < CAIRN_LMDB_MAX_RETRIES) {
                adopt_map_size(e);
                continue;
            }
            return cairn__lmdb_err_at(t, NULL, rc, what);
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
        if (rc != MDB_MAP_FULL || !e->growable || attempt >= CAIRN_LMDB_MAX_RETRIES)
            return cairn__lmdb_err_at(t, NULL, rc, what);
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
    return cairn__lmdb_err_at(t, NULL, rc, what);
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
        return cairn__lmdb_err_at(t, NULL, rc, "reading blobs");
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
    return cairn__lmdb_err_at(t, NULL, rc, "looking blobs up");
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
            rc = cairn__lmdb_err_at(t, NULL, rc, "listing blobs");
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
        return cairn__lmdb_err_at(t, NULL, rc, "measuring usage");
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
    return cairn__lmdb_err_at(t, NULL, rc, "reading a ref");
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
    if ((rc = cairn__lmdb_err_at(t, NULL, rc, "listing refs")) == 0)
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
    if ((rc = cairn__lmdb_check_fork(t)))
        return rc;
    /* Shared: a compaction swaps the env under the lock exclusive. */
    pthread_rwlock_rdlock(&t->shared->resize_lock);
    rc = t->shared->env ? mdb_env_sync(t->shared->env, 1) : MDB_PANIC;
    pthread_rwlock_unlock(&t->shared->resize_lock);
    return cairn__lmdb_err_at(t, NULL, rc, "syncing");
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

static void lmdb_close(cairn_tier *base)
{
    lmdb_tier *t = (lmdb_tier *)base;

    lmdb_writer_lock(base, false);
    cairn__lmdb_env_release(t->shared);
    cairn__free(t);
}

static void lmdb_identity(cairn_tier *base, char *out, size_t cap)
{
    lmdb_tier *t = (lmdb_tier *)base;
    snprintf(out, cap, "lmdb %llu:%llu", (unsigned long long)t->shared->dev,
             (unsigned long long)t->shared->ino);
}

const cairn_tier_methods cairn__lmdb_methods = {
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
