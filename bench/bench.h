/*
 * bench.h - the internals of cairn-bench shared by its files: run
 * parameters, generated data, latency histograms, result rows, the workload
 * table and small system helpers.
 *
 *   main.c       command line, the run loop (one forked child per
 *                workload x configuration), machine information
 *   configs.c    the configuration table and spec helpers
 *   workloads.c  the workloads, written against adapter.h only
 *   gen.c        seeded PRNG, keys and values, zipfian/latest generators
 *   hist.c       log-linear latency histograms
 *   report.c     terminal table, results.json, results.csv
 *   plot.c       gnuplot charts from the templates in plots/
 *   sys.c        directories, disk usage, /proc/self/io, page cache drops
 *   adapter_*.c  the engine adapters
 */
#ifndef CAIRN_BENCH_H
#define CAIRN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "adapter.h"

/* ---------------------------------------------------------------- params */

typedef struct bench_params {
    uint64_t keys;        /* keys loaded (N) */
    uint64_t ops;         /* operations per YCSB workload */
    uint64_t read_ops;    /* operations per warm/cold read workload */
    uint64_t batch;       /* keys per commit when loading (B) */
    uint64_t commits;     /* commits of the small-commit workload */
    unsigned threads;     /* reader threads of the *-2t workloads */
    size_t value_size;    /* bytes per value */
    size_t scan_len;      /* keys per scan of scan-1t/scan-2t */
    uint64_t seed;
    double max_seconds;   /* a timed section stops after this long */
    unsigned timeout;     /* seconds before a run is killed */
    bool quick;
} bench_params;

/* ---------------------------------------------------------------- data */

#define BENCH_KEY_LEN 20  /* "user" + 16 hex digits */

/* A splitmix64/xoshiro256** generator. */
typedef struct bench_rng {
    uint64_t s[4];
} bench_rng;

void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [0, n). */
uint64_t bench_rng_below(bench_rng *r, uint64_t n);
double bench_rng_double(bench_rng *r);

/* Key number i -> its key id (a bijective 64-bit mix) -> its key bytes
 * "user%016llx" (not NUL-terminated). Sorted key order is id order. */
uint64_t bench_key_id(uint64_t i);
void bench_key(uint64_t id, char out[BENCH_KEY_LEN]);
/* The value of key number i at version v: value_size pseudo-random bytes. */
void bench_value(uint64_t seed, uint64_t i, uint64_t version, uint8_t *out, size_t len);

/* YCSB's zipfian generator (Gray et al.), theta 0.99, over [0, n); n may
 * grow (zeta is extended incrementally, as YCSB does). */
typedef struct bench_zipf {
    uint64_t n;
    double theta, alpha, zetan, zeta2, eta;
} bench_zipf;

void bench_zipf_init(bench_zipf *z, uint64_t n, double theta);
uint64_t bench_zipf_next(bench_zipf *z, bench_rng *r, uint64_t n);

/* Key choice of a workload. */
typedef enum bench_dist { DIST_UNIFORM, DIST_ZIPF, DIST_LATEST } bench_dist;

typedef struct bench_chooser {
    bench_dist dist;
    bench_zipf zipf;
} bench_chooser;

void bench_chooser_init(bench_chooser *c, bench_dist dist, uint64_t n);
/* A key number in [0, n): uniform; zipfian scrambled by a hash (popular keys
 * are spread over the key space); or latest (n-1 minus a zipfian rank). */
uint64_t bench_choose(bench_chooser *c, bench_rng *r, uint64_t n);

/* ---------------------------------------------------------------- hist */

/* Log-linear buckets: 64 sub-buckets per power of two of nanoseconds, exact
 * below 64 ns, so any value is within 1/64 (1.6%) of its bucket. */
#define BENCH_HIST_SUB 64
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * 44)

typedef struct bench_hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[BENCH_HIST_BUCKETS];
} bench_hist;

void bench_hist_add(bench_hist *h, uint64_t ns);
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* The value at quantile q (0..1), 0 if empty. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

uint64_t bench_now_ns(void);

/* ---------------------------------------------------------------- results */

typedef enum bench_status {
    ST_OK = 0,
    ST_ERROR,        /* the run failed or crashed */
    ST_UNAVAILABLE,  /* the configuration cannot be opened */
    ST_SKIPPED       /* the workload does not apply to the configuration */
} bench_status;

/* One row: a workload on a configuration. Doubles are -1 when n/a. Plain
 * data, sent through a pipe from the child that ran it. */
typedef struct bench_result {
    char workload[32];
    char config[32];
    int status;
    char error[384];
    uint64_t ops;             /* operations timed (unit: see the workload) */
    unsigned threads;
    double seconds;
    double ops_per_s;
    uint64_t p50_ns, p99_ns, p999_ns;
    uint64_t lat_count;       /* latencies recorded (0: percentiles n/a) */
    uint64_t keys_written;    /* keys put (for bytes written per key) */
    double bytes_written;     /* /proc/self/io write_bytes; -1: n/a */
    double bytes_written_per_key;
    uint64_t keys_in_store;
    double bytes_on_disk, bytes_on_disk_per_key;
    double live_bytes_per_key; /* cairn: encoded bytes of the current tree */
    uint64_t commits;
    double blobs_per_commit, bytes_per_commit;   /* cairn: slowest tier */
    double peak_rss;          /* bytes, from wait4's rusage */
    double child_seconds;     /* the whole child: setup, warm-up, run, close */
    double ratio_to_raw_lmdb; /* ops/s over the baseline's, same workload */
    char baseline[32];
    /* cold reads */
    double ttfk_ns;           /* open + first key */
    double slow_reads_per_key;
    double read_bytes_per_key;
    double majflt_per_key;
    char cache_drop[32];      /* how the page cache was emptied */
    uint64_t checksum;        /* touched value bytes (keeps reads honest) */
} bench_result;

void bench_result_init(bench_result *r, const char *workload, const char *config);

/* ---------------------------------------------------------------- workloads */

#define WL_LOAD 0x1u    /* starts from an empty store in a fresh directory */
#define WL_WRITES 0x2u  /* modifies the store: runs on a copy of the template */
#define WL_COLD 0x4u    /* fresh process, empty caches, opens the store itself */

typedef struct bench_run bench_run;
typedef struct bench_workload bench_workload;

struct bench_workload {
    const char *name;
    const char *unit;      /* what an op is: "key", "op", "scan", "commit" */
    const char *desc;
    unsigned flags;
    int (*run)(bench_run *run, bench_hist *h); /* fills run->res; latencies into h */
    int mix;               /* YCSB mix 'a'..'f', or 0 */
    bench_dist dist;
    unsigned threads;      /* 0: use params->threads */
    int on_request;        /* 1: runs only when --workloads names it */
};

/* What a workload gets: the parameters, the configuration, the open store
 * (NULL for WL_COLD, which opens it through bench_run_open) and the row to
 * fill. */
struct bench_run {
    const bench_params *p;
    const bench_workload *w;
    const bench_config *cfg;
    const char *spec;       /* expanded */
    bench_store *store;
    bench_result *res;
    uint64_t n_keys;        /* keys in the store now (grows with inserts) */
    uint64_t next_version;  /* value version for updates */
    const char *data_dir;   /* for cold runs: where to drop caches */
};

extern const bench_workload bench_workloads[];
const bench_workload *bench_workload_find(const char *name);

/* Loads keys [0, n) in batches of p->batch, in random (or sorted) order.
 * Times each batch into h if not NULL. */
int bench_load(bench_run *run, uint64_t n, bool sorted, bench_hist *h);
/* Opens run->spec with run->cfg's adapter into run->store. */
int bench_run_open(bench_run *run, unsigned flags);
/* One untimed full scan through a fresh reader (warms every cache). */
int bench_warm(bench_run *run);

/* ---------------------------------------------------------------- sys */

int bench_mkdirs(const char *path);
int bench_rmtree(const char *path);
/* Copies the tree src into dst (created). */
int bench_copytree(const char *src, const char *dst);
/* Sum of st_blocks * 512 of the files under path. */
double bench_disk_usage(const char *path);
/* write_bytes and read_bytes of /proc/self/io; -1 if unavailable. */
void bench_proc_io(double *read_bytes, double *write_bytes);
/* Drops path's files from the page cache (fadvise, then drop_caches if
 * permitted). Writes what happened into how. */
void bench_drop_caches(const char *path, char *how, size_t howlen);
/* snprintf for strings that may be cut short (messages, paths), without
 * the compiler's truncation warnings. */
void bench_fmt(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies src into dst (size bytes), truncating, always NUL-terminated. */
void bench_copy(char *dst, size_t size, const char *src);
/* Expands {dir}, {tmp} and {run} (run, with '/' turned into '-': a name
 * unique to the run, e.g. for a remote prefix) in tmpl. Returns a malloc'd
 * string. */
char *bench_expand(const char *tmpl, const char *dir, const char *tmp, const char *run);
bool bench_spec_on_disk(const char *tmpl);

/* ---------------------------------------------------------------- report */

typedef struct bench_machine {
    long nproc;
    char cpu[128];
    char kernel[128];
    double mem_bytes;
    char disk[192];
    char date[40];
} bench_machine;

void bench_machine_info(bench_machine *m, const char *data_dir);
/* Fills ratio_to_raw_lmdb of every row from the baseline rows. */
void bench_compute_ratios(bench_result *rows, size_t n);
/* The table, grouped by workload, as the terminal shows it. */
void bench_report_table(FILE *f, const bench_params *p, const bench_machine *m,
                        const bench_result *rows, size_t n);
/* results.json and results.csv. Return 0 or -1 (errno set). */
int bench_report_json(const char *path, const bench_params *p, const bench_machine *m,
                      const bench_result *rows, size_t n, double total_seconds);
int bench_report_csv(const char *path, const bench_result *rows, size_t n);
/* Writes the plot data and script into dir and runs gnuplot on it. Writes
 * what happened (files made, or why not) into msg. Never fails the run. */
void bench_report_plots(const char *dir, const bench_result *rows, size_t n, char *msg,
                        size_t msglen);

#endif /* CAIRN_BENCH_H */
