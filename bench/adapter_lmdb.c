/*
 * adapter_lmdb.c - the raw LMDB peer: mdb_put / mdb_get / cursors on one
 * unnamed database, as a program using LMDB directly would.
 *
 * Spec: PATH?sync=full|none&nordahead=1&map_size=BYTES. PATH is a directory
 * (created). sync=full keeps LMDB's default flags (a commit syncs the data
 * pages and then the meta page); sync=none adds MDB_NOSYNC; nordahead=1
 * adds MDB_NORDAHEAD (madvise MADV_RANDOM on the map: no kernel readahead),
 * as cairn's lmdb tier opens LMDB; without it the kernel's readahead applies
 * to the map's page faults, as for any LMDB user with default flags. Every environment is
 * opened with MDB_NOTLS so that a thread may hold a read transaction while
 * it writes, and readers may live in any thread; read-only runs add
 * MDB_RDONLY. The map is 64 GiB by default (address space only).
 * mdb_reader_check runs at open (stale slots of killed runs).
 *
 * A batch is one write transaction; plain mdb_put (no MDB_APPEND, so sorted
 * and random loads take the same path). A reader is a read transaction and
 * a cursor, reset and renewed when the store's generation moves on.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "bench.h"

typedef struct lmdb_store {
    bench_store base; /* must be first */
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
} lmdb_store;

typedef struct lmdb_reader {
    bench_reader base; /* must be first */
    MDB_txn *txn;
    MDB_cursor *cur;
} lmdb_reader;

static int l_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    lmdb_store *s;
    char path[4096], buf[64];
    unsigned env_flags = MDB_NOTLS;
    size_t map_size = (size_t)64 << 30;
    MDB_txn *txn;
    int rc, dead;

    (void)cfg;
    (void)errlen;
    bench_spec_path(spec, path, sizeof(path));
    if (bench_spec_opt(spec, "sync", buf, sizeof(buf)) && strcmp(buf, "none") == 0)
        env_flags |= MDB_NOSYNC;
    if (bench_spec_opt(spec, "nordahead", buf, sizeof(buf)) && strcmp(buf, "1") == 0)
        env_flags |= MDB_NORDAHEAD;
    if (bench_spec_opt(spec, "map_size", buf, sizeof(buf)))
        map_size = (size_t)strtoull(buf, NULL, 10);
    if (flags & BENCH_OPEN_READONLY)
        env_flags |= MDB_RDONLY;
    if (bench_mkdirs(path))
        return bench_fail(err, "mkdir %s: %s", path, strerror(errno));
    if (!(s = calloc(1, sizeof(*s))))
        return bench_fail(err, "out of memory");
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_mapsize(s->env, map_size)) ||
        (rc = mdb_env_set_maxreaders(s->env, 126)) ||
        (rc = mdb_env_open(s->env, path, env_flags, 0644))) {
        bench_fail(err, "mdb_env_open %s: %s", path, mdb_strerror(rc));
        goto fail;
    }
    mdb_reader_check(s->env, &dead);
    if ((rc = mdb_txn_begin(s->env, NULL, env_flags & MDB_RDONLY, &txn))) {
        bench_fail(err, "mdb_txn_begin: %s", mdb_strerror(rc));
        goto fail;
    }
    if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) || (rc = mdb_txn_commit(txn))) {
        bench_fail(err, "mdb_dbi_open: %s", mdb_strerror(rc));
        goto fail;
    }
    *out = &s->base;
    return 0;

fail:
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    return -1;
}

static void l_close(bench_store *bs)
{
    lmdb_store *s = (lmdb_store *)bs;

    if (s->txn)
        mdb_txn_abort(s->txn);
    mdb_env_close(s->env);
    free(s);
}

static int l_begin(bench_store *bs)
{
    lmdb_store *s = (lmdb_store *)bs;
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);

    return rc ? bench_fail(bs->err, "mdb_txn_begin: %s", mdb_strerror(rc)) : 0;
}

static int l_put(bench_store *bs, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
    lmdb_store *s = (lmdb_store *)bs;
    MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
    int rc = mdb_put(s->txn, s->dbi, &k, &v, 0);

    return rc ? bench_fail(bs->err, "mdb_put: %s", mdb_strerror(rc)) : 0;
}

static int l_del(bench_store *bs, const void *key, size_t key_len)
{
    lmdb_store *s = (lmdb_store *)bs;
    MDB_val k = {key_len, (void *)key};
    int rc = mdb_del(s->txn, s->dbi, &k, NULL);

    return rc && rc != MDB_NOTFOUND ? bench_fail(bs->err, "mdb_del: %s", mdb_strerror(rc))
                                    : 0;
}

static int l_commit(bench_store *bs)
{
    lmdb_store *s = (lmdb_store *)bs;
    int rc = mdb_txn_commit(s->txn);

    s->txn = NULL;
    if (rc)
        return bench_fail(bs->err, "mdb_txn_commit: %s", mdb_strerror(rc));
    bs->generation++;
    return 0;
}

static int l_sync(bench_store *bs)
{
    lmdb_store *s = (lmdb_store *)bs;
    int rc = mdb_env_sync(s->env, 1);

    return rc && rc != EACCES ? bench_fail(bs->err, "mdb_env_sync: %s", mdb_strerror(rc))
                              : 0;
}

static int l_reader_open(bench_store *bs, bench_reader **out)
{
    lmdb_store *s = (lmdb_store *)bs;
    lmdb_reader *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return bench_fail(bs->err, "out of memory");
    r->base.store = bs;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn)) ||
        (rc = mdb_cursor_open(r->txn, s->dbi, &r->cur))) {
        if (r->txn)
            mdb_txn_abort(r->txn);
        free(r);
        return bench_fail(bs->err, "mdb read txn: %s", mdb_strerror(rc));
    }
    r->base.generation = bs->generation;
    *out = &r->base;
    return 0;
}

static void l_reader_close(bench_reader *br)
{
    lmdb_reader *r = (lmdb_reader *)br;

    if (!r)
        return;
    mdb_cursor_close(r->cur);
    mdb_txn_abort(r->txn);
    free(r);
}

static int refresh(lmdb_reader *r)
{
    int rc;

    if (r->base.generation == r->base.store->generation)
        return 0;
    mdb_txn_reset(r->txn);
    if ((rc = mdb_txn_renew(r->txn)) || (rc = mdb_cursor_renew(r->txn, r->cur)))
        return bench_fail(r->base.err, "mdb_txn_renew: %s", mdb_strerror(rc));
    r->base.generation = r->base.store->generation;
    return 0;
}

static int l_get(bench_reader *br, const void *key, size_t key_len, const void **val,
                 size_t *val_len)
{
    lmdb_reader *r = (lmdb_reader *)br;
    lmdb_store *s = (lmdb_store *)br->store;
    MDB_val k = {key_len, (void *)key}, v;
    int rc;

    if (refresh(r))
        return -1;
    rc = mdb_get(r->txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return BENCH_NOTFOUND;
    if (rc)
        return bench_fail(br->err, "mdb_get: %s", mdb_strerror(rc));
    *val = v.mv_data;
    *val_len = v.mv_size;
    return 0;
}

static int l_scan(bench_reader *br, const void *start, size_t start_len, size_t n,
                  bench_scan_fn fn, void *ctx, size_t *seen)
{
    lmdb_reader *r = (lmdb_reader *)br;
    MDB_val k = {start_len, (void *)start}, v;
    size_t i = 0;
    int rc;

    *seen = 0;
    if (refresh(r))
        return -1;
    /* LMDB rejects an empty key: the smallest start is the first key */
    rc = !n ? MDB_NOTFOUND
            : mdb_cursor_get(r->cur, &k, &v, start_len ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        i++;
        if (fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size) || i >= n)
            break;
        rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        return bench_fail(br->err, "mdb_cursor_get: %s", mdb_strerror(rc));
    *seen = i;
    return 0;
}

const bench_adapter bench_lmdb_adapter = {
    .name = "lmdb",
    .open = l_open,
    .close = l_close,
    .begin = l_begin,
    .put = l_put,
    .del = l_del,
    .commit = l_commit,
    .sync = l_sync,
    .reader_open = l_reader_open,
    .reader_close = l_reader_close,
    .get = l_get,
    .scan = l_scan,
    .counters = NULL,
    .settle = NULL,
};
