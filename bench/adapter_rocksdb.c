/*
 * adapter_rocksdb.c - the RocksDB peer, through its C API (rocksdb/c.h).
 *
 * Spec: PATH?sync=1|0. PATH is the database directory. Options are RocksDB's
 * defaults (leveled compaction, its default compression, 64 MiB memtables)
 * plus what a reader-heavy user sets: a 256 MiB LRU block cache (the size
 * of cairn's default node cache) and a 10-bit bloom filter. The WAL is on;
 * sync=1 makes every write batch fsync it (durable), sync=0 leaves it to the
 * OS. Read-only runs open with rocksdb_open_for_read_only. After a sorted
 * template load the store is compacted (settle), as after a bulk load;
 * after an aged one, settle only flushes and waits for the background
 * compactions. Readahead is RocksDB's default (advise_random_on_open, its
 * own iterator readahead); see configs.c.
 *
 * A batch is one WriteBatch. A get uses rocksdb_get_pinned (no copy); a
 * reader keeps one iterator for its scans, recreated when the store's
 * generation moves on (an iterator reads the version it was created at).
 *
 * Without librocksdb at build time the adapter exists but every open fails
 * with "unavailable: built without RocksDB".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "bench.h"

#ifdef CAIRN_BENCH_HAVE_ROCKSDB
#include <rocksdb/c.h>

typedef struct rdb_store {
    bench_store base; /* must be first */
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_writebatch_t *batch;
} rdb_store;

typedef struct rdb_reader {
    bench_reader base; /* must be first */
    rocksdb_iterator_t *it;
    rocksdb_pinnableslice_t *pinned;
} rdb_reader;

/* Moves a RocksDB error string into err and frees it. */
static int rfail(char *err, const char *what, char *msg)
{
    bench_fail(err, "%s: %s", what, msg ? msg : "failed");
    free(msg);
    return -1;
}

static void destroy(rdb_store *s)
{
    if (s->db)
        rocksdb_close(s->db);
    if (s->batch)
        rocksdb_writebatch_destroy(s->batch);
    if (s->wo)
        rocksdb_writeoptions_destroy(s->wo);
    if (s->ro)
        rocksdb_readoptions_destroy(s->ro);
    if (s->opts)
        rocksdb_options_destroy(s->opts);
    if (s->table)
        rocksdb_block_based_options_destroy(s->table);
    if (s->cache)
        rocksdb_cache_destroy(s->cache);
    free(s);
}

static int r_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    rdb_store *s;
    char path[4096], buf[16];
    char *msg = NULL;
    int sync = 1;

    (void)cfg;
    (void)errlen;
    bench_spec_path(spec, path, sizeof(path));
    if (bench_spec_opt(spec, "sync", buf, sizeof(buf)))
        sync = atoi(buf);
    if (bench_mkdirs(path)) /* RocksDB creates only the last component */
        return bench_fail(err, "mkdir %s: %s", path, strerror(errno));
    if (!(s = calloc(1, sizeof(*s))))
        return bench_fail(err, "out of memory");
    s->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->opts, 1);
    s->table = rocksdb_block_based_options_create();
    s->cache = rocksdb_cache_create_lru((size_t)256 << 20);
    rocksdb_block_based_options_set_block_cache(s->table, s->cache);
    rocksdb_block_based_options_set_filter_policy(s->table,
                                                  rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(s->opts, s->table);
    s->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wo, (unsigned char)(sync != 0));
    s->ro = rocksdb_readoptions_create();
    s->batch = rocksdb_writebatch_create();
    if (flags & BENCH_OPEN_READONLY)
        s->db = rocksdb_open_for_read_only(s->opts, path, 0, &msg);
    else
        s->db = rocksdb_open(s->opts, path, &msg);
    if (!s->db) {
        rfail(err, "rocksdb_open", msg);
        destroy(s);
        return -1;
    }
    *out = &s->base;
    return 0;
}

static void r_close(bench_store *bs)
{
    destroy((rdb_store *)bs);
}

static int r_begin(bench_store *bs)
{
    rocksdb_writebatch_clear(((rdb_store *)bs)->batch);
    return 0;
}

static int r_put(bench_store *bs, const void *key, size_t key_len, const void *val,
                 size_t val_len)
{
    rocksdb_writebatch_put(((rdb_store *)bs)->batch, key, key_len, val, val_len);
    return 0;
}

static int r_del(bench_store *bs, const void *key, size_t key_len)
{
    rocksdb_writebatch_delete(((rdb_store *)bs)->batch, key, key_len);
    return 0;
}

static int r_commit(bench_store *bs)
{
    rdb_store *s = (rdb_store *)bs;
    char *msg = NULL;

    rocksdb_write(s->db, s->wo, s->batch, &msg);
    rocksdb_writebatch_clear(s->batch);
    if (msg)
        return rfail(bs->err, "rocksdb_write", msg);
    bs->generation++;
    return 0;
}

static int r_sync(bench_store *bs)
{
    rdb_store *s = (rdb_store *)bs;
    char *msg = NULL;

    rocksdb_flush_wal(s->db, 1, &msg);
    return msg ? rfail(bs->err, "rocksdb_flush_wal", msg) : 0;
}

/* full: compact everything (a compact store, as after a bulk load and a
 * manual compaction). Otherwise flush the memtable and wait (up to 10
 * minutes) until no compaction is pending or running, so that none runs
 * into the timed runs: an aged store keeps its levels as they are. */
static int r_settle(bench_store *bs, int full)
{
    rdb_store *s = (rdb_store *)bs;
    rocksdb_flushoptions_t *fo;
    char *msg = NULL;

    if (full) {
        rocksdb_compact_range(s->db, NULL, 0, NULL, 0);
        return 0;
    }
    fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(s->db, fo, &msg);
    rocksdb_flushoptions_destroy(fo);
    if (msg)
        return rfail(bs->err, "rocksdb_flush", msg);
    for (int i = 0; i < 6000; i++) {
        uint64_t pending = 1, running = 1;
        if (rocksdb_property_int(s->db, "rocksdb.compaction-pending", &pending) ||
            rocksdb_property_int(s->db, "rocksdb.num-running-compactions", &running) ||
            (!pending && !running))
            break;
        usleep(100000);
    }
    return 0;
}

/* RocksDB gives back what old versions hold by compacting everything. */
static int r_reclaim(bench_store *bs)
{
    return r_settle(bs, 1);
}

static int r_reader_open(bench_store *bs, bench_reader **out)
{
    rdb_reader *r = calloc(1, sizeof(*r));

    if (!r)
        return bench_fail(bs->err, "out of memory");
    r->base.store = bs;
    r->base.generation = bs->generation;
    *out = &r->base;
    return 0;
}

static void r_reader_close(bench_reader *br)
{
    rdb_reader *r = (rdb_reader *)br;

    if (!r)
        return;
    if (r->it)
        rocksdb_iter_destroy(r->it);
    if (r->pinned)
        rocksdb_pinnableslice_destroy(r->pinned);
    free(r);
}

static int r_get(bench_reader *br, const void *key, size_t key_len, const void **val,
                 size_t *val_len)
{
    rdb_reader *r = (rdb_reader *)br;
    rdb_store *s = (rdb_store *)br->store;
    char *msg = NULL;

    if (r->pinned) {
        rocksdb_pinnableslice_destroy(r->pinned);
        r->pinned = NULL;
    }
    r->pinned = rocksdb_get_pinned(s->db, s->ro, key, key_len, &msg);
    if (msg)
        return rfail(br->err, "rocksdb_get", msg);
    if (!r->pinned)
        return BENCH_NOTFOUND;
    *val = rocksdb_pinnableslice_value(r->pinned, val_len);
    return 0;
}

static int r_scan(bench_reader *br, const void *start, size_t start_len, size_t n,
                  bench_scan_fn fn, void *ctx, size_t *seen)
{
    rdb_reader *r = (rdb_reader *)br;
    rdb_store *s = (rdb_store *)br->store;
    size_t i = 0, kl, vl;
    const char *k, *v;
    char *msg = NULL;

    *seen = 0;
    if (r->it && r->base.generation != br->store->generation) {
        rocksdb_iter_destroy(r->it);
        r->it = NULL;
    }
    if (!r->it) {
        r->it = rocksdb_create_iterator(s->db, s->ro);
        r->base.generation = br->store->generation;
    }
    for (rocksdb_iter_seek(r->it, start, start_len); i < n && rocksdb_iter_valid(r->it);) {
        k = rocksdb_iter_key(r->it, &kl);
        v = rocksdb_iter_value(r->it, &vl);
        i++;
        if (fn(ctx, k, kl, v, vl) || i >= n)
            break;
        rocksdb_iter_next(r->it);
    }
    rocksdb_iter_get_error(r->it, &msg);
    if (msg)
        return rfail(br->err, "rocksdb iterator", msg);
    *seen = i;
    return 0;
}

const bench_adapter bench_rocksdb_adapter = {
    .name = "rocksdb",
    .open = r_open,
    .close = r_close,
    .begin = r_begin,
    .put = r_put,
    .del = r_del,
    .commit = r_commit,
    .sync = r_sync,
    .reader_open = r_reader_open,
    .reader_close = r_reader_close,
    .get = r_get,
    .scan = r_scan,
    .counters = NULL,
    .settle = r_settle,
    .reclaim = r_reclaim,
};

#else /* !CAIRN_BENCH_HAVE_ROCKSDB */

static int r_open(const bench_config *cfg, const char *spec, unsigned flags,
                  bench_store **out, char *err, size_t errlen)
{
    (void)cfg;
    (void)spec;
    (void)flags;
    (void)out;
    (void)errlen;
    return bench_fail(err, "built without RocksDB (install librocksdb-dev and reconfigure)");
}

const bench_adapter bench_rocksdb_adapter = {
    .name = "rocksdb",
    .open = r_open,
};

#endif
