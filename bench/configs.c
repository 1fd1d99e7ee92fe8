/*
 * configs.c - the configurations cairn-bench knows: one table, one line per
 * configuration. A configuration is a name, an adapter, a spec template
 * ({dir}: the run's data directory, {tmp}: an empty scratch directory), a
 * durability class with what it means for that engine, and open options.
 *
 * To add a tier, add its configurations here: workloads see only the
 * adapter interface, and the cairn adapter takes any stack spec.
 *
 * Where the data lives decides how runs share it: the harness loads a
 * template once per configuration and, for writing runs, copies the {dir}
 * tree. A spec with no {dir} and no S3 tier (like "mem") is loaded inside
 * every run and skips the cold reads.
 *
 * S3 (issue 10). An S3 tier is written s3://{bucket}/{prefix}?endpoint=
 * {endpoint}: the bucket and endpoint come from the environment
 * (CAIRN_S3_BUCKET, AWS_ENDPOINT_URL; credentials from AWS_*), and without
 * them these configurations are left out with a one-line note (main.c).
 * {prefix} is the data directory made a name, so the S3 data follows the
 * local data: the template is loaded once per configuration under its own
 * prefix, and runs that read (cold and warm) reuse that prefix; loads get a
 * fresh prefix; writing runs get a copy of the {dir} tree and a fresh,
 * empty prefix, which an untimed cairn_sync before the timed section fills
 * from the copy (a catch-up by diff, run_job), so they start from the
 * template in both places. The S3 readers (s3+mem, s3+file) hold nothing
 * locally, so they run read workloads only ("only" below): a writer would
 * need a copy of the prefix, which the harness has no way to make. The
 * S3 section of the report (s3.c) measures requests per operation.
 *
 * Readahead: peers run with their own defaults; each line says what its
 * engine does about readahead. raw-lmdb-nordahead is raw LMDB opened with
 * MDB_NORDAHEAD (as cairn's lmdb tier with readahead=0), a second reference
 * for the cold reads, where readahead matters.
 *
 * Durability: BENCH_DURABLE means every commit is on disk when it returns
 * (one or more fsyncs per commit); BENCH_NONE means in memory or no fsync.
 * Ratios compare a configuration with raw LMDB of the same class:
 * raw-lmdb (default flags) for durable, raw-lmdb-nosync (MDB_NOSYNC) for none;
 * durable ones also with raw-lmdb-nordahead where it ran.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "adapter.h"

/* What each engine does about readahead (also in results.json). */
#define RA_CAIRN_LMDB                                                                   \
    "cairn's lmdb tier with LMDB's defaults (readahead=1): the kernel's readahead on the" \
    " map applies to page faults; a batch read also advises MADV_WILLNEED on its blobs"
#define RA_CAIRN_FILE                                                                   \
    "file tier: a blob is a loose file or a record of a pack, read with one"            \
    " pread/io_uring read of its bytes; kernel readahead (default) applies"
#define RA_CAIRN_MEM "memory tier: nothing is read from disk"
#define RA_S3                                                                           \
    "S3 tier: a batch of blobs is ranged GETs (neighbours within merge_gap=64K merged),"  \
    " up to inflight=32 in flight; no readahead beyond the batch the tree asks for"

const bench_config bench_configs[] = {
    /* cairn, through its public API, one stack spec each. */
    {"mem", &bench_cairn_adapter, "mem", BENCH_NONE,
     "none: in-process memory tier", "", 0, RA_CAIRN_MEM, NULL},
    {"lmdb", &bench_cairn_adapter, "lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0, RA_CAIRN_LMDB, NULL},
    {"file", &bench_cairn_adapter, "file:{dir}/data", BENCH_DURABLE,
     "fsync per commit: file tier (default)", "", 0, RA_CAIRN_FILE, NULL},
    /* the file tier as before packs: one file per blob (issue 9); the same */
    {"file-loose", &bench_cairn_adapter, "file:{dir}/data?pack=0", BENCH_DURABLE,
     "fsync per commit: file tier, one file per blob (pack=0)", "", 0, RA_CAIRN_FILE,
     "load-*,commit-*,cold-*"},
    /* the lmdb tier as before packs: one LMDB value per blob (issue 9); warm
     * reads come from the node cache, so only writes and cold reads */
    {"lmdb-blobs", &bench_cairn_adapter, "lmdb:{dir}/data?layout=blobs", BENCH_DURABLE,
     "fsync per commit: lmdb tier, one LMDB value per blob (layout=blobs)", "", 0,
     RA_CAIRN_LMDB, "load-*,commit-*,cold-*"},
    {"lmdb-nosync", &bench_cairn_adapter, "lmdb:{dir}/data?sync=none", BENCH_NONE,
     "none: lmdb tier sync=none (MDB_NOSYNC)", "", 0, RA_CAIRN_LMDB, NULL},
    {"mem>file", &bench_cairn_adapter, "mem:256M>file:{dir}/data", BENCH_DURABLE,
     "fsync per commit: file tier (default)", "", 0, RA_CAIRN_FILE, NULL},
    {"mem>lmdb", &bench_cairn_adapter, "mem:256M>lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0, RA_CAIRN_LMDB, NULL},
    /* the cold reader: an empty file cache ({tmp}, new per run) before LMDB */
    {"file-cache>lmdb", &bench_cairn_adapter,
     "mem:64M>file:{tmp}/cache?capacity=1G>lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0, RA_CAIRN_LMDB, NULL},

    /* S3 (issue 10): the writers, LMDB in front of S3. Write-through: each
     * commit is in LMDB and in S3 (two PUTs: its pack and the head) when
     * it returns. Write-back: commits go to LMDB only; cairn_sync uploads
     * by diff (sync_on_close: the adapter syncs when it closes a store it
     * wrote to, so a load ends with S3 up to date, untimed). */
    {"mem>lmdb>s3", &bench_cairn_adapter,
     "mem:256M>lmdb:{dir}/data>s3://{bucket}/{prefix}?endpoint={endpoint}", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full, and S3 (pack + head PUT) before commit returns",
     "", 0, RA_CAIRN_LMDB, "load-*,commit-*,ycsb-a-*"},
    {"mem>lmdb>s3-wb", &bench_cairn_adapter,
     "mem:256M>lmdb:{dir}/data>s3://{bucket}/{prefix}?endpoint={endpoint}&write=back",
     BENCH_DURABLE, "fsync per commit: lmdb tier sync=full; S3 on cairn_sync (write-back)",
     "sync_on_close=1", 0, RA_CAIRN_LMDB, "load-*,commit-*,ycsb-a-*"},
    /* the S3 readers: S3 is the primary, caches in front; a fresh {tmp}
     * makes the file cache cold in every run */
    {"s3+mem", &bench_cairn_adapter, "mem:256M>s3://{bucket}/{prefix}?endpoint={endpoint}",
     BENCH_DURABLE, "S3 per commit (pack + head PUT)", "", 0, RA_S3,
     "cold-*,point-*,scan-*,ycsb-c-*"},
    {"s3+file", &bench_cairn_adapter,
     "mem:64M>file:{tmp}/cache?capacity=4G>s3://{bucket}/{prefix}?endpoint={endpoint}",
     BENCH_DURABLE, "S3 per commit (pack + head PUT)", "", 0, RA_S3,
     "cold-*,point-*,scan-*,ycsb-c-*"},

    /* Redis (issue 13), when the environment names a server
     * (CAIRN_REDIS_URL; scripts/redis-server.sh run sets it): Redis as the
     * store, its data under a prefix named after the data directory (as
     * S3's: loads get a fresh one, reads the template's; writers would need
     * a copy of the prefix, so only loads and reads). Durability is the
     * server's: the fixture keeps neither AOF nor RDB. */
    {"redis", &bench_cairn_adapter, "redis://{redis}?prefix={prefix}:", BENCH_NONE,
     "none: redis-server without AOF or RDB (the fixture's; appendfsync always would make"
     " each commit durable)", "", 0,
     "Redis tier: a batch of blobs is one pipeline of MGETs; nothing is read from disk",
     "load-*,cold-*,point-*,scan-*,ycsb-c-*"},
    /* Redis as a cache between memory and LMDB: one cache, {cache}, which
     * every run of the configuration shares, as a fleet's readers would
     * (so a cold run finds what earlier runs put there) */
    {"mem>redis>lmdb", &bench_cairn_adapter,
     "mem:256M>redis://{redis}?prefix={cache}-lmdb:>lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default); the Redis cache is written too", "", 0,
     RA_CAIRN_LMDB, NULL},
    /* the S3 reader with a shared Redis cache: the S3 section's fleet probe
     * (s3.c) compares its S3 GETs per key read with s3+mem's */
    {"s3+redis", &bench_cairn_adapter,
     "mem:256M>redis://{redis}?prefix={cache}-s3:>s3://{bucket}/{prefix}?endpoint={endpoint}",
     BENCH_DURABLE, "S3 per commit (pack + head PUT)", "", 0, RA_S3,
     "cold-*,point-*,scan-*,ycsb-c-*"},

    /* peers, on the same keys, values and batches, run as their users run
     * them: their own defaults, readahead included */
    {"raw-lmdb", &bench_lmdb_adapter, "{dir}/lmdb?sync=full", BENCH_DURABLE,
     "fsync per commit: LMDB default flags", "", 1,
     "LMDB defaults (no MDB_NORDAHEAD): the kernel's readahead on the map applies to"
     " page faults", NULL},
    {"raw-lmdb-nosync", &bench_lmdb_adapter, "{dir}/lmdb?sync=none", BENCH_NONE,
     "none: LMDB MDB_NOSYNC", "", 1,
     "LMDB defaults (no MDB_NORDAHEAD): the kernel's readahead on the map applies to"
     " page faults", NULL},
    /* the second reference: raw LMDB opened as cairn's lmdb tier opens it.
     * Readahead only matters when pages come from disk: cold reads only. */
    {"raw-lmdb-nordahead", &bench_lmdb_adapter, "{dir}/lmdb?sync=full&nordahead=1",
     BENCH_DURABLE, "fsync per commit: LMDB default flags + MDB_NORDAHEAD", "", 1,
     "MDB_NORDAHEAD (madvise MADV_RANDOM on the map), as cairn's lmdb:?readahead=0: no kernel"
     " readahead; a second reference, not how LMDB runs by default", "cold-*"},
    {"rocksdb", &bench_rocksdb_adapter, "{dir}/rocksdb?sync=1", BENCH_DURABLE,
     "fsync per commit: RocksDB WAL, WriteOptions sync=1", "", 1,
     "RocksDB defaults: advise_random_on_open=true (POSIX_FADV_RANDOM on SST files, no"
     " kernel readahead for gets); iterators read ahead themselves after 2 sequential"
     " block reads, 8 KiB doubling to 256 KiB; compaction_readahead_size 0", NULL},
    {"rocksdb-nosync", &bench_rocksdb_adapter, "{dir}/rocksdb?sync=0", BENCH_NONE,
     "none: RocksDB WAL, sync=0", "", 1,
     "RocksDB defaults: advise_random_on_open=true (POSIX_FADV_RANDOM on SST files, no"
     " kernel readahead for gets); iterators read ahead themselves after 2 sequential"
     " block reads, 8 KiB doubling to 256 KiB; compaction_readahead_size 0", NULL},
    {"sqlite", &bench_sqlite_adapter, "{dir}/kv.sqlite?synchronous=FULL", BENCH_DURABLE,
     "fsync per commit: SQLite WAL, synchronous=FULL", "", 1,
     "SQLite sets no advice: reads fault the mmap_size mapping (or pread past it), so"
     " the kernel's default readahead applies", NULL},
    {"sqlite-nosync", &bench_sqlite_adapter, "{dir}/kv.sqlite?synchronous=OFF", BENCH_NONE,
     "none: SQLite WAL, synchronous=OFF", "", 1,
     "SQLite sets no advice: reads fault the mmap_size mapping (or pread past it), so"
     " the kernel's default readahead applies", NULL},
    {NULL, NULL, NULL, BENCH_NONE, NULL, NULL, 0, NULL, NULL},
};

const bench_config *bench_config_find(const char *name)
{
    for (const bench_config *c = bench_configs; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const bench_config *bench_config_baseline(const bench_config *cfg)
{
    return bench_config_find(cfg->durability == BENCH_DURABLE ? "raw-lmdb"
                                                              : "raw-lmdb-nosync");
}

const bench_config *bench_config_ref2(const bench_config *cfg)
{
    const bench_config *ref = bench_config_find("raw-lmdb-nordahead");

    return cfg->durability == BENCH_DURABLE && ref != cfg ? ref : NULL;
}

int bench_fail(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, BENCH_ERR_MAX, fmt, ap);
    va_end(ap);
    return -1;
}

void bench_spec_path(const char *spec, char *buf, size_t buflen)
{
    size_t n = strcspn(spec, "?");

    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, spec, n);
    buf[n] = '\0';
}

int bench_opt(const char *query, const char *key, char *buf, size_t buflen)
{
    size_t key_len = strlen(key);
    const char *item = query;

    while (item && *item) {
        size_t item_len = strcspn(item, "&");

        if (item_len > key_len && strncmp(item, key, key_len) == 0 && item[key_len] == '=') {
            size_t n = item_len - key_len - 1;
            if (n >= buflen)
                n = buflen - 1;
            memcpy(buf, item + key_len + 1, n);
            buf[n] = '\0';
            return 1;
        }
        item = item[item_len] ? item + item_len + 1 : NULL;
    }
    return 0;
}

int bench_spec_opt(const char *spec, const char *key, char *buf, size_t buflen)
{
    const char *q = strchr(spec, '?');

    return q ? bench_opt(q + 1, key, buf, buflen) : 0;
}
