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

/* The kinds of store the non-load workloads start from (--template). */
typedef enum bench_template {
    TPL_SORTED = 0, /* key order, commits of up to 100,000 keys: compact, no history */
    TPL_AGED = 1,   /* random order in commits of B keys, then update/delete commits */
    TPL_AGED_GC = 2 /* aged, then each engine's reclaim (adapter.h) */
} bench_template;

/* At most this many rounds (--repeat). */
#define BENCH_MAX_ROUNDS 16

typedef struct bench_params {
    uint64_t keys;        /* keys loaded (N) */
    uint64_t ops;         /* operations per YCSB workload (an upper bound) */
    uint64_t read_ops;    /* operations per warm read workload (an upper bound) */
    uint64_t min_ops;     /* a timed section goes on past max_seconds until this many */
    uint64_t batch;       /* keys per commit when loading (B) */
    uint64_t commits;     /* commits of commit-later (an upper bound) */
    uint64_t commit_window; /* commits of commit-small; untimed prefix of commit-later */
    uint64_t age_commits; /* update/delete commits of the aged template */
    unsigned threads;     /* reader threads of the *-2t workloads */
    unsigned repeat;      /* rounds: timed runs per (workload, configuration) */
    size_t value_size;    /* bytes per value */
    size_t scan_len;      /* keys per scan of scan-1t/scan-2t */
    uint64_t seed;
    double max_seconds;   /* a timed section stops after this long (and min_ops) */
    unsigned timeout;     /* seconds before a run is killed */
    bench_template tpl;   /* what the non-load workloads start from */
    bool quick;
} bench_params;

const char *bench_template_name(bench_template t);

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
    double rss_anon;          /* peak RssAnon over the timed section (heap), bytes */
    double rss_file;          /* peak RssFile over the timed section (mapped files) */
    double child_seconds;     /* the whole child: setup, warm-up, run, close */
    /* Rounds. A row the child sends back is one timed run (round, slot);
     * the parent folds the rounds of a (workload, configuration) into one
     * row: the run with the median ops/s, plus what follows. */
    unsigned round;           /* 1-based round of this run */
    unsigned slot;            /* its position within the round (1 = first) */
    unsigned rounds;          /* runs folded into this row */
    double round_ops_per_s[BENCH_MAX_ROUNDS]; /* per round; -1: failed */
    double round_ratio[BENCH_MAX_ROUNDS];     /* paired ratio per round; -1: n/a */
    unsigned round_slot[BENCH_MAX_ROUNDS];    /* position within each round */
    double ratio_to_raw_lmdb; /* median of the paired ratios to the baseline */
    double ratio_min, ratio_max;
    unsigned pairs;           /* rounds in which both runs succeeded */
    char baseline[32];
    /* the second reference (raw LMDB without readahead), same pairing */
    double ref2_ratio, ref2_min, ref2_max;
    char ref2[32];
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
#define WL_UNCAPPED 0x8u /* a fixed amount of work: no time cap */

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
    /* where the timed section starts: engine counters and /proc/self/io
     * (bench_run_mark; the harness marks before the workload runs) */
    bench_counters c0;
    double rb0, wb0;
};

extern const bench_workload bench_workloads[];
const bench_workload *bench_workload_find(const char *name);

/* Loads keys [0, n) in batches of p->batch, in random (or sorted) order.
 * Times each batch into h if not NULL. */
int bench_load(bench_run *run, uint64_t n, bool sorted, bench_hist *h);
/* Ages a loaded store: p->age_commits durable commits, each re-inserting
 * the keys the previous one deleted, updating B/10 random keys and deleting
 * B/20 others; a last commit re-inserts the last deleted keys, so every key
 * of [0, n_keys) is there at the end. Untimed. */
int bench_age(bench_run *run);
/* Whether a timed section that started at t0 is over at now after done
 * operations: max_seconds passed and at least min_ops (of n threads) done,
 * or five times max_seconds passed. */
bool bench_time_up(const bench_run *run, uint64_t t0, uint64_t now, uint64_t done,
                   unsigned n_threads);
/* Takes the engine counters and /proc/self/io as the start of the timed
 * section (a workload with an untimed prefix calls it again after it). */
void bench_run_mark(bench_run *run);
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
/* Memory of this process: RssAnon and RssFile of /proc/self/status, in
 * bytes; -1 if unavailable. */
void bench_proc_rss(double *anon, double *file);
/* The peak of RssAnon and RssFile over a timed section: start samples now
 * and then every 50 ms from a thread of its own until stop, which samples
 * once more and writes the peaks into res (rss_anon, rss_file). mark()
 * samples once (at checkpoints). One sampler per process. */
void bench_mem_start(void);
void bench_mem_mark(void);
void bench_mem_stop(bench_result *res);
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
 * unique to the run) in tmpl, and for S3: {prefix} (dir, with '/' turned
 * into '-': the template's prefix for runs that read the template in
 * place, a fresh one for loads and writing runs), {bucket}
 * (CAIRN_S3_BUCKET) and {endpoint} (AWS_ENDPOINT_URL_S3, else
 * AWS_ENDPOINT_URL), and for Redis {redis} (CAIRN_REDIS_URL's HOST:PORT)
 * and {cache} (the name of a Redis cache's prefix: "cache", one cache a
 * configuration's runs share as a fleet's readers do, unless
 * bench_set_cache_name gave another). Returns a malloc'd string. */
char *bench_expand(const char *tmpl, const char *dir, const char *tmp, const char *run);
/* Whether a configuration keeps its data (on disk, on S3 or in Redis): it
 * has a template and cold reads. */
bool bench_spec_on_disk(const char *tmpl);
/* Whether the spec names a remote tier (s3://). */
bool bench_spec_remote(const char *tmpl);
/* Whether the environment names an S3 service: CAIRN_S3_BUCKET and an
 * endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL). */
bool bench_s3_env(void);
/* Whether the spec names a Redis tier (redis://), and whether the
 * environment names a Redis server (CAIRN_REDIS_URL=redis://HOST:PORT). */
bool bench_spec_redis(const char *tmpl);
bool bench_redis_env(void);
/* What {cache} expands to from now on (NULL: "cache"). */
void bench_set_cache_name(const char *name);

/* ---------------------------------------------------------------- s3 */

/* S3 requests by kind and bytes (summed over a stack's remote tiers). */
typedef struct bench_s3_req {
    uint64_t get, put, head, del, post;
    uint64_t bytes_in, bytes_out, retries;
} bench_s3_req;

/* A price: US dollars per 1,000 requests of the kinds named. */
typedef struct bench_s3_price {
    const char *kind;
    double usd_per_1000;
} bench_s3_price;

/* PUT/POST/LIST, GET/HEAD, DELETE (s3.c: edit there). */
extern const bench_s3_price bench_s3_prices[3];
double bench_s3_dollars(const bench_s3_req *r);

/* The S3 section of one configuration (s3.c explains each measure). Plain
 * data, sent through a pipe from the children that measure it. */
typedef struct bench_s3_row {
    char config[32];
    char error[384];
    bool writer, write_back;
    double rtt_ms;            /* median cairn_refresh (one conditional GET) */
    double rtt_requests;      /* requests per refresh (expected: 1) */
    /* readers */
    double cold_ms;           /* open + first key, fresh process */
    bench_s3_req cold_req;
    uint32_t height;          /* tree height of "main" */
    uint64_t reads;           /* random point reads after the first */
    double read_ms;           /* per read */
    bench_s3_req read_req;
    uint64_t scan_keys;       /* cold full scan, fresh process: every key */
    double scan_s;            /* ... open + every key */
    bench_s3_req scan_req;
    double scan_first_ms;     /* ... open + the first key (the point-read path) */
    bench_s3_req scan_first_req;
    unsigned inflight;        /* the S3 tier's requests in flight per call */
    unsigned follow_ms;       /* idle follower */
    double idle_s;
    uint64_t idle_lookups;
    bench_s3_req idle_req;
    /* writers */
    double upload_ms;         /* the first sync of the copy to an empty prefix */
    bench_s3_req upload_req;
    /* fleet: two readers in turn, fresh processes sharing the stack's
     * shared caches (a Redis cache) but nothing else, read the same keys */
    uint64_t fleet_reads;     /* keys each reader read */
    bool fleet_shared;        /* the stack has a Redis cache */
    bench_s3_req fleet_req[2]; /* the S3 requests of the first and the second */
    unsigned writes;          /* measured one-key commits (and syncs) */
    double commit_ms, sync_ms; /* totals over writes */
    bench_s3_req commit_req, sync_req;
} bench_s3_row;

/* Measures cfg (an S3 configuration) on its template tpl, with scratch
 * directories under scratch, into *row (errors in row->error). */
void bench_s3_measure(const bench_params *p, const bench_config *cfg, const char *tpl,
                      const char *scratch, bench_s3_row *row);
/* The S3 section as text, and as JSON into path (0, or -1 with errno). */
void bench_s3_report(FILE *f, const bench_s3_row *rows, size_t n);
int bench_s3_json(const char *path, const bench_s3_row *rows, size_t n);

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
/* Fills the paired ratios of every row (round_ratio, ratio_to_raw_lmdb:
 * their median, ratio_min, ratio_max, and the ref2_* fields) from the
 * baseline rows' round_ops_per_s. */
void bench_compute_ratios(bench_result *rows, size_t n);
/* The table, grouped by workload, as the terminal shows it. */
void bench_report_table(FILE *f, const bench_params *p, const bench_machine *m,
                        const bench_result *rows, size_t n);
/* results.json and results.csv. Return 0 or -1 (errno set). */
int bench_report_json(const char *path, const bench_params *p, const bench_machine *m,
                      const bench_result *rows, size_t n, double total_seconds);
int bench_report_csv(const char *path, const bench_params *p, const bench_result *rows,
                     size_t n);
/* Writes the plot data and script into dir and runs gnuplot on it. Writes
 * what happened (files made, or why not) into msg. Never fails the run. */
void bench_report_plots(const char *dir, const bench_result *rows, size_t n, char *msg,
                        size_t msglen);

#endif /* CAIRN_BENCH_H */
