/*
 * adapter.h - the engine adapter interface of cairn-bench.
 *
 * Every store the harness measures (cairn in any stack, raw LMDB, RocksDB,
 * SQLite) is reached through one vtable, bench_adapter, in the style of
 * SQLite's sqlite3_io_methods: a backend embeds bench_store (or
 * bench_reader) first in its own struct and the workloads call only the
 * function pointers. Workloads never know which engine they drive.
 *
 * A configuration (bench_config) is a name, an adapter, a spec template and
 * a durability class. The spec template is expanded per run:
 *
 *     {dir}  the run's data directory (a fresh copy, or the loaded template)
 *     {tmp}  a scratch directory that is empty at the start of every run
 *            (for caches that must start cold, e.g. a file cache)
 *     {run}  a name unique to the run (for a remote prefix, e.g. on S3)
 *
 * cairn configurations use the spec as a stack spec ("mem:256M>lmdb:{dir}");
 * peers read it as PATH?key=value&... ("{dir}/lmdb?sync=full"). A spec that
 * names neither {dir} nor {tmp} keeps nothing on disk (an in-memory store):
 * such a configuration is loaded inside each run and skips cold reads.
 * Adding a tier (S3) is therefore one line in configs.c.
 *
 * Reads go through readers: each thread opens its own (a cairn snapshot, an
 * LMDB read transaction, an SQLite connection). A reader sees the data as of
 * the last commit it noticed: every commit bumps store->generation and the
 * next read on a reader with an older generation refreshes it first.
 *
 * Errors: every function returns 0, BENCH_NOTFOUND (get only) or -1 with a
 * message in store->err (for readers, in their store's err; readers in
 * other threads write their own reader->err).
 */
#ifndef CAIRN_BENCH_ADAPTER_H
#define CAIRN_BENCH_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_NOTFOUND 1
#define BENCH_ERR_MAX 512

/* Durability classes: results are compared only within a class. */
typedef enum bench_durability {
    BENCH_NONE = 0,    /* in memory, or writes not forced to disk */
    BENCH_DURABLE = 1  /* every commit is on disk when commit returns */
} bench_durability;

typedef struct bench_adapter bench_adapter;
typedef struct bench_config bench_config;

/* The base of every adapter's store. */
typedef struct bench_store {
    const bench_adapter *a;
    const bench_config *cfg;
    uint64_t generation;    /* bumped by every successful commit */
    char err[BENCH_ERR_MAX];
} bench_store;

/* The base of every adapter's reader. */
typedef struct bench_reader {
    bench_store *store;
    uint64_t generation;    /* the store generation this reader sees */
    char err[BENCH_ERR_MAX];
} bench_reader;

/* Counters an engine may report (cairn does): blobs and bytes written to
 * its slowest tier, and blobs asked of it. */
typedef struct bench_counters {
    uint64_t slow_puts, slow_put_bytes, slow_gets;
} bench_counters;

/* Called per key of a scan; the bytes are valid during the call only.
 * Return 0 to go on, anything else to stop. */
typedef int (*bench_scan_fn)(void *ctx, const void *key, size_t key_len, const void *val,
                             size_t val_len);

/* open flags */
#define BENCH_OPEN_READONLY 0x1u /* no writes will follow (peers may open read-only) */

struct bench_adapter {
    const char *name; /* "cairn", "lmdb", "rocksdb", "sqlite" */
    /* Opens the store named by spec (already expanded). On failure writes a
     * message into err (errlen bytes) and returns -1. */
    int (*open)(const bench_config *cfg, const char *spec, unsigned flags, bench_store **out,
                char *err, size_t errlen);
    void (*close)(bench_store *s);
    /* One write batch: begin, any number of put/del, commit. */
    int (*begin)(bench_store *s);
    int (*put)(bench_store *s, const void *key, size_t key_len, const void *val,
               size_t val_len);
    int (*del)(bench_store *s, const void *key, size_t key_len);
    int (*commit)(bench_store *s);
    /* Forces everything written so far to disk. */
    int (*sync)(bench_store *s);
    int (*reader_open)(bench_store *s, bench_reader **out);
    void (*reader_close)(bench_reader *r);
    /* Looks key up. OUT: *val and *val_len, valid until the next call on r. */
    int (*get)(bench_reader *r, const void *key, size_t key_len, const void **val,
               size_t *val_len);
    /* Calls fn for up to n keys >= start, ascending. OUT: *seen (keys). */
    int (*scan)(bench_reader *r, const void *start, size_t start_len, size_t n,
                bench_scan_fn fn, void *ctx, size_t *seen);
    /* Optional (NULL): engine counters. */
    int (*counters)(bench_store *s, bench_counters *out);
    /* Optional (NULL): encoded bytes of the live data (cairn: the nodes of
     * the current version, without older versions kept on storage). */
    int (*live_bytes)(bench_store *s, double *out);
    /* Optional (NULL): bring a freshly loaded template to a steady state
     * before the timed runs. full: a compact store (RocksDB compacts
     * everything); otherwise only finish the engine's pending background
     * work (RocksDB flushes and waits for its compactions), as an aged
     * store in use would be. Called once after the template is built. */
    int (*settle)(bench_store *s, int full);
    /* Optional (NULL): give back the space old versions hold, as an operator
     * of an aged store would (cairn: gc keeping the head; RocksDB: a full
     * compaction; SQLite: VACUUM; LMDB reuses free pages by itself). The
     * hook of the "after gc" template (--template aged-gc). */
    int (*reclaim)(bench_store *s);
};

/* A configuration: one row of the table in configs.c. */
struct bench_config {
    const char *name;             /* "mem>lmdb", "raw-lmdb" ... */
    const bench_adapter *adapter;
    const char *spec;             /* template with {dir} and {tmp} */
    bench_durability durability;
    const char *durability_desc;  /* what that means for this engine */
    const char *options;          /* adapter open options, "" if none */
    int is_peer;                  /* 1 for raw-lmdb, rocksdb, sqlite */
    const char *readahead;        /* what the engine does about readahead */
    const char *only;             /* workloads it runs (a --workloads list), NULL: all */
};

/* The adapters. rocksdb_adapter.open fails with a message when the harness
 * was built without RocksDB. */
extern const bench_adapter bench_cairn_adapter;
extern const bench_adapter bench_lmdb_adapter;
extern const bench_adapter bench_rocksdb_adapter;
extern const bench_adapter bench_sqlite_adapter;

/* The configuration table (configs.c), terminated by a zeroed entry. */
extern const bench_config bench_configs[];

/* The raw-LMDB configuration results of cfg are compared with. */
const bench_config *bench_config_baseline(const bench_config *cfg);
/* The second reference of cfg (raw LMDB with MDB_NORDAHEAD, as cairn's
 * lmdb tier opens it), or NULL: durable configurations only. */
const bench_config *bench_config_ref2(const bench_config *cfg);
const bench_config *bench_config_find(const char *name);

/* Helpers for adapters: write a message into s->err (printf style) and
 * return -1; read specs of the form "PATH?k=v&k=v" (configs.c). */
int bench_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Finds option key in a query "k=v&k=v" (bench_opt) or in the query part
 * of spec, after its '?' (bench_spec_opt), and copies its value into buf.
 * Returns 1 if found, 0 if not. */
int bench_opt(const char *query, const char *key, char *buf, size_t buflen);
int bench_spec_opt(const char *spec, const char *key, char *buf, size_t buflen);
/* Copies the path part of spec (before '?') into buf. */
void bench_spec_path(const char *spec, char *buf, size_t buflen);

#endif /* CAIRN_BENCH_ADAPTER_H */
