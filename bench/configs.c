/*
 * configs.c - the configurations cairn-bench knows: one table, one line per
 * configuration. A configuration is a name, an adapter, a spec template
 * ({dir}: the run's data directory, {tmp}: an empty scratch directory), a
 * durability class with what it means for that engine, and open options.
 *
 * To add a tier (S3 next), add its configurations here and nothing else:
 * workloads see only the adapter interface, and the cairn adapter takes any
 * stack spec. For example
 *
 *   {"mem>s3", &bench_cairn_adapter, "mem:256M>s3://bench/{run}?endpoint=...",
 *    BENCH_DURABLE, "fsync per commit: ...", "", 0},
 *
 * Where the data lives decides how runs share it: the harness loads a
 * template once per configuration and, for writing runs, copies the {dir}
 * tree. A spec with no {dir} (like "mem") is loaded inside every run and
 * skips the cold reads; a remote tier that should reuse one template needs
 * its copy step too (main.c, run_job: where bench_copytree is called).
 *
 * Durability: BENCH_DURABLE means every commit is on disk when it returns
 * (one or more fsyncs per commit); BENCH_NONE means in memory or no fsync.
 * Ratios compare a configuration with raw LMDB of the same class:
 * raw-lmdb (default flags) for durable, raw-lmdb-nosync (MDB_NOSYNC) for none.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "adapter.h"

const bench_config bench_configs[] = {
    /* cairn, through its public API, one stack spec each. (The order keeps
     * each file-tier configuration after one that deletes few files; see
     * run_config in main.c.) */
    {"mem", &bench_cairn_adapter, "mem", BENCH_NONE,
     "none: in-process memory tier", "", 0},
    {"lmdb", &bench_cairn_adapter, "lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0},
    {"file", &bench_cairn_adapter, "file:{dir}/data", BENCH_DURABLE,
     "fsync per commit: file tier (default)", "", 0},
    /* the file tier as before packs: one file per blob (issue 9) */
    {"file-loose", &bench_cairn_adapter, "file:{dir}/data?pack=0", BENCH_DURABLE,
     "fsync per commit: file tier, one file per blob (pack=0)", "", 0},
    {"lmdb-nosync", &bench_cairn_adapter, "lmdb:{dir}/data?sync=none", BENCH_NONE,
     "none: lmdb tier sync=none (MDB_NOSYNC)", "", 0},
    {"mem>file", &bench_cairn_adapter, "mem:256M>file:{dir}/data", BENCH_DURABLE,
     "fsync per commit: file tier (default)", "", 0},
    {"mem>lmdb", &bench_cairn_adapter, "mem:256M>lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0},
    /* the cold reader: an empty file cache ({tmp}, new per run) before LMDB */
    {"file-cache>lmdb", &bench_cairn_adapter,
     "mem:64M>file:{tmp}/cache?capacity=1G>lmdb:{dir}/data", BENCH_DURABLE,
     "fsync per commit: lmdb tier sync=full (default)", "", 0},

    /* peers, on the same keys, values and batches */
    {"raw-lmdb", &bench_lmdb_adapter, "{dir}/lmdb?sync=full", BENCH_DURABLE,
     "fsync per commit: LMDB default flags", "", 1},
    {"raw-lmdb-nosync", &bench_lmdb_adapter, "{dir}/lmdb?sync=none", BENCH_NONE,
     "none: LMDB MDB_NOSYNC", "", 1},
    {"rocksdb", &bench_rocksdb_adapter, "{dir}/rocksdb?sync=1", BENCH_DURABLE,
     "fsync per commit: RocksDB WAL, WriteOptions sync=1", "", 1},
    {"rocksdb-nosync", &bench_rocksdb_adapter, "{dir}/rocksdb?sync=0", BENCH_NONE,
     "none: RocksDB WAL, sync=0", "", 1},
    {"sqlite", &bench_sqlite_adapter, "{dir}/kv.sqlite?synchronous=FULL", BENCH_DURABLE,
     "fsync per commit: SQLite WAL, synchronous=FULL", "", 1},
    {"sqlite-nosync", &bench_sqlite_adapter, "{dir}/kv.sqlite?synchronous=OFF", BENCH_NONE,
     "none: SQLite WAL, synchronous=OFF", "", 1},
    {NULL, NULL, NULL, BENCH_NONE, NULL, NULL, 0},
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
