/*
 * s3.c - the S3 section of cairn-bench's report (issue 10): what S3 costs
 * in requests, round trips and dollars, measured from the S3 tier's
 * counters (cairn_stats_get: req_get/put/head/delete/post, bytes_in/out,
 * summed over the remote tiers of the stack).
 *
 * After the workloads, for each S3 configuration whose template was built,
 * a few probes run, each in a forked child (a fresh process: nothing
 * cached but what the stack's own caches hold on disk, and s3+file's cache
 * directory is new and empty):
 *
 *   readers (S3 primary: s3+mem, s3+file), on the template's prefix:
 *     cold point read  open + the first key: time, requests; then the
 *                      round-trip time (the median of 7 cairn_refresh, each
 *                      one conditional GET answered 304) and up to
 *                      READS_MAX more random reads (GETs per key read)
 *     cold scan        open + a full scan: the open and first key timed
 *                      apart (the cold point read's path), then keys/s,
 *                      GETs and bytes in of the rest against the bound
 *                      inflight x bytes per GET / round trip; the tree
 *                      height (cairn_stats_get "main", after the scan)
 *     idle follower    a handle with follow_ms = FOLLOW_MS reads a ref (a
 *                      snapshot open) every FOLLOW_MS for IDLE_S seconds:
 *                      requests counted, scaled to an hour
 *   writers (LMDB in front of S3), on a copy of the template's {dir} and a
 *   fresh prefix: an untimed cairn_sync uploads the copy (recorded as the
 *   upload), one untimed commit (+ sync) takes the store over (fencing),
 *   then WRITES one-key commits: write-through counts requests per commit;
 *   write-back times and counts each cairn_sync after a commit.
 *
 * Dollars use the price table below (AWS S3 Standard list prices, storage
 * ignored); edit it for another service or region.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cairn.h"

#define READS_MAX 100      /* random point reads after the first, at most */
#define READS_SECONDS 10.0 /* ... and for at most this long */
#define RTT_PROBES 7       /* cairn_refresh calls timed for the round trip */
#define FOLLOW_MS 1000     /* the idle follower's poll interval */
#define IDLE_S 5.0         /* how long the follower is watched */
#define WRITES 10          /* measured commits (write-through) or syncs (write-back) */
#define FLEET_READS 200    /* random keys each reader of the fleet reads */

/* US dollars per 1,000 requests (AWS S3 Standard, us-east-1 list prices;
 * storage and transfer ignored). DELETE is free. */
const bench_s3_price bench_s3_prices[] = {
    {"PUT, POST, LIST", 0.005},
    {"GET, HEAD", 0.0004},
    {"DELETE", 0.0},
};

double bench_s3_dollars(const bench_s3_req *r)
{
    return (double)(r->put + r->post) * bench_s3_prices[0].usd_per_1000 / 1000.0 +
           (double)(r->get + r->head) * bench_s3_prices[1].usd_per_1000 / 1000.0 +
           (double)r->del * bench_s3_prices[2].usd_per_1000 / 1000.0;
}

static uint64_t req_total(const bench_s3_req *r)
{
    return r->get + r->put + r->head + r->del + r->post;
}

/* Sums the counters of the S3 tiers of db into *out (a Redis tier counts
 * its requests in the same fields: not S3's). */
static int req_now(cairn_db *db, bench_s3_req *out)
{
    cairn_stats st;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    if ((rc = cairn_stats_get(db, NULL, &st)))
        return rc;
    for (unsigned i = 0; i < st.n_tiers; i++) {
        const cairn_tier_stats *t = &st.tiers[i];
        if (!t->remote || strcmp(t->name, "s3") != 0)
            continue;
        out->get += t->req_get;
        out->put += t->req_put;
        out->head += t->req_head;
        out->del += t->req_delete;
        out->post += t->req_post;
        out->bytes_in += t->bytes_in;
        out->bytes_out += t->bytes_out;
        out->retries += t->retries;
    }
    return 0;
}

/* *acc += b - a */
static void req_add_delta(bench_s3_req *acc, const bench_s3_req *a, const bench_s3_req *b)
{
    acc->get += b->get - a->get;
    acc->put += b->put - a->put;
    acc->head += b->head - a->head;
    acc->del += b->del - a->del;
    acc->post += b->post - a->post;
    acc->bytes_in += b->bytes_in - a->bytes_in;
    acc->bytes_out += b->bytes_out - a->bytes_out;
    acc->retries += b->retries - a->retries;
}

static double ms_since(uint64_t t0)
{
    return (double)(bench_now_ns() - t0) / 1e6;
}

static int fail(bench_s3_row *row, const char *what, int rc)
{
    bench_fmt(row->error, sizeof(row->error), "%s: %s: %s", what, cairn_strerror(rc),
              cairn_errdetail());
    return -1;
}

/* What a probe gets: the run parameters, the configuration, its template
 * and a scratch directory of its own (empty). */
typedef struct probe {
    const bench_params *p;
    const bench_config *cfg;
    const char *tpl;
    char scratch[4096];
} probe;

/* Opens cfg's spec on dir (the template or a copy) with {tmp} in scratch. */
static int probe_open(const probe *pr, const char *dir, uint32_t follow_ms, cairn_db **db,
                      bench_s3_row *row)
{
    char tmp[4200];
    char *spec;
    cairn_options opts;
    int rc;

    bench_fmt(tmp, sizeof(tmp), "%s/tmp", pr->scratch);
    if (bench_mkdirs(tmp) || !(spec = bench_expand(pr->cfg->spec, dir, tmp, pr->scratch))) {
        bench_fmt(row->error, sizeof(row->error), "scratch %s: %s", tmp, strerror(errno));
        return -1;
    }
    cairn_options_init(&opts);
    opts.follow_ms = follow_ms;
    rc = cairn_open(spec, &opts, db);
    free(spec);
    return rc ? fail(row, "cairn_open", rc) : 0;
}

/* Looks key number i up in snap and checks its length. */
static int get_key(const probe *pr, cairn_snapshot *snap, uint64_t i, bench_s3_row *row)
{
    char key[BENCH_KEY_LEN];
    cairn_val v;
    int rc;

    bench_key(bench_key_id(i), key);
    if ((rc = cairn_get(snap, NULL, key, sizeof(key), &v)))
        return fail(row, "cairn_get", rc);
    if (v.len != pr->p->value_size) {
        bench_fmt(row->error, sizeof(row->error), "key %.20s: %zu bytes, expected %zu", key,
                  v.len, pr->p->value_size);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The round-trip time: the median of RTT_PROBES cairn_refresh calls, each
 * one conditional GET of the head (304 when nothing changed). */
static int measure_rtt(cairn_db *db, bench_s3_row *row)
{
    double t[RTT_PROBES];
    bench_s3_req r0, r1;
    int rc;

    req_now(db, &r0);
    for (int k = 0; k < RTT_PROBES; k++) {
        uint64_t t0 = bench_now_ns();
        if ((rc = cairn_refresh(db)))
            return fail(row, "cairn_refresh", rc);
        t[k] = ms_since(t0);
    }
    req_now(db, &r1);
    qsort(t, RTT_PROBES, sizeof(t[0]), cmp_double);
    row->rtt_ms = t[RTT_PROBES / 2];
    row->rtt_requests = (double)(req_total(&r1) - req_total(&r0)) / RTT_PROBES;
    return 0;
}

/* Reader: open + first key cold, then random reads, then the round trip. */
static int probe_cold_get(const probe *pr, bench_s3_row *row)
{
    cairn_db *db = NULL;
    cairn_snapshot *snap = NULL;
    bench_s3_req r0, r1;
    bench_rng rng;
    uint64_t t0 = bench_now_ns(), t1;
    int rc = -1;

    bench_rng_seed(&rng, pr->p->seed ^ 0x53c01dull);
    if (probe_open(pr, pr->tpl, 0, &db, row))
        return -1;
    if ((rc = cairn_snapshot_open(db, NULL, &snap))) {
        rc = fail(row, "cairn_snapshot_open", rc);
        goto out;
    }
    if ((rc = get_key(pr, snap, bench_rng_below(&rng, pr->p->keys), row)))
        goto out;
    row->cold_ms = ms_since(t0);
    req_now(db, &row->cold_req);
    req_now(db, &r0);
    t1 = bench_now_ns();
    while (row->reads < READS_MAX && ms_since(t1) < READS_SECONDS * 1e3) {
        if ((rc = get_key(pr, snap, bench_rng_below(&rng, pr->p->keys), row)))
            goto out;
        row->reads++;
    }
    row->read_ms = row->reads ? ms_since(t1) / (double)row->reads : -1;
    req_now(db, &r1);
    req_add_delta(&row->read_req, &r0, &r1);
    rc = measure_rtt(db, row);
out:
    cairn_snapshot_close(snap);
    cairn_close(db);
    return rc;
}

/* The inflight= of the spec's S3 tier, or the client's default (32). */
static unsigned spec_inflight(const char *spec)
{
    const char *s3 = strstr(spec, "s3://");
    char buf[16];

    return s3 && bench_spec_opt(s3, "inflight", buf, sizeof(buf)) ? (unsigned)atoi(buf) : 32;
}

/* Reader: open + full scan, cold; the round trip and the tree height. */
static int probe_cold_scan(const probe *pr, bench_s3_row *row)
{
    cairn_db *db = NULL;
    cairn_snapshot *snap = NULL;
    cairn_iter *it = NULL;
    cairn_val k, v;
    cairn_stats st;
    uint64_t t0 = bench_now_ns();
    int rc;

    if (probe_open(pr, pr->tpl, 0, &db, row))
        return -1;
    if ((rc = cairn_snapshot_open(db, NULL, &snap))) {
        rc = fail(row, "cairn_snapshot_open", rc);
        goto out;
    }
    if ((rc = cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it))) {
        rc = fail(row, "cairn_iter_open", rc);
        goto out;
    }
    while ((rc = cairn_iter_next(it, &k, &v)) == 0)
        if (row->scan_keys++ == 0) {
            row->scan_first_ms = ms_since(t0);
            req_now(db, &row->scan_first_req);
        }
    if (rc != CAIRN_NOTFOUND) {
        rc = fail(row, "cairn_iter_next", rc);
        goto out;
    }
    row->scan_s = ms_since(t0) / 1e3;
    req_now(db, &row->scan_req);
    row->inflight = spec_inflight(pr->cfg->spec);
    memset(&st, 0, sizeof(st));
    if ((rc = cairn_stats_get(db, "main", &st))) {
        rc = fail(row, "cairn_stats_get", rc);
        goto out;
    }
    row->height = st.height;
    if (row->rtt_ms <= 0 && (rc = measure_rtt(db, row)))
        goto out;
    rc = 0;
out:
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    cairn_close(db);
    return rc;
}

/* One reader of the fleet: a fresh process reads FLEET_READS random keys
 * (the same for both readers) and counts its S3 requests. */
static int fleet_reader(const probe *pr, bench_s3_row *row, int which)
{
    cairn_db *db = NULL;
    cairn_snapshot *snap = NULL;
    bench_s3_req r0;
    bench_rng rng;
    int rc;

    bench_rng_seed(&rng, pr->p->seed ^ 0xf1ee7ull);
    if (probe_open(pr, pr->tpl, 0, &db, row))
        return -1;
    req_now(db, &r0);
    if ((rc = cairn_snapshot_open(db, NULL, &snap))) {
        rc = fail(row, "cairn_snapshot_open", rc);
        goto out;
    }
    row->fleet_reads = 0;
    while (row->fleet_reads < FLEET_READS && row->fleet_reads < pr->p->keys) {
        if ((rc = get_key(pr, snap, bench_rng_below(&rng, pr->p->keys), row)))
            goto out;
        row->fleet_reads++;
    }
    bench_s3_req r1;
    req_now(db, &r1);
    memset(&row->fleet_req[which], 0, sizeof(row->fleet_req[which]));
    req_add_delta(&row->fleet_req[which], &r0, &r1);
    rc = 0;
out:
    cairn_snapshot_close(snap);
    cairn_close(db);
    return rc;
}

static int fleet_first(const probe *pr, bench_s3_row *row)
{
    return fleet_reader(pr, row, 0);
}

static int fleet_second(const probe *pr, bench_s3_row *row)
{
    return fleet_reader(pr, row, 1);
}

static void sleep_ms(double ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1e3);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Reader: an idle follower, watched for IDLE_S seconds. */
static int probe_follower(const probe *pr, bench_s3_row *row)
{
    cairn_db *db = NULL;
    cairn_snapshot *snap = NULL;
    bench_s3_req r0, r1;
    uint64_t t0;
    int rc;

    if (probe_open(pr, pr->tpl, FOLLOW_MS, &db, row))
        return -1;
    if ((rc = cairn_snapshot_open(db, NULL, &snap)) ||
        (rc = get_key(pr, snap, 0, row))) {
        rc = snap ? rc : fail(row, "cairn_snapshot_open", rc);
        goto out;
    }
    cairn_snapshot_close(snap);
    snap = NULL;
    row->follow_ms = FOLLOW_MS;
    req_now(db, &r0);
    t0 = bench_now_ns();
    for (uint64_t n = 1; ms_since(t0) < IDLE_S * 1e3; n++) {
        sleep_ms((double)n * FOLLOW_MS - ms_since(t0));
        if ((rc = cairn_snapshot_open(db, NULL, &snap))) {
            rc = fail(row, "cairn_snapshot_open", rc);
            goto out;
        }
        cairn_snapshot_close(snap);
        snap = NULL;
        row->idle_lookups++;
    }
    row->idle_s = ms_since(t0) / 1e3;
    req_now(db, &r1);
    req_add_delta(&row->idle_req, &r0, &r1);
    rc = 0;
out:
    cairn_snapshot_close(snap);
    cairn_close(db);
    return rc;
}

/* One commit of one key (number i, a new version). */
static int commit_one(const probe *pr, cairn_db *db, uint64_t i, uint64_t version,
                      bench_s3_row *row)
{
    char key[BENCH_KEY_LEN];
    uint8_t val[4096];
    size_t len = pr->p->value_size < sizeof(val) ? pr->p->value_size : sizeof(val);
    cairn_txn *txn;
    int rc;

    bench_key(bench_key_id(i), key);
    bench_value(pr->p->seed, i, version, val, len);
    if ((rc = cairn_txn_begin(db, NULL, &txn)))
        return fail(row, "cairn_txn_begin", rc);
    if ((rc = cairn_txn_put(txn, NULL, key, sizeof(key), val, len))) {
        cairn_txn_abort(txn);
        return fail(row, "cairn_txn_put", rc);
    }
    if ((rc = cairn_txn_commit(txn, NULL, NULL)))
        return fail(row, "cairn_txn_commit", rc);
    return 0;
}

/* Writer: a copy of the template, uploaded to a fresh prefix; then WRITES
 * one-key commits (write-through) or commit + sync rounds (write-back). */
static int probe_writes(const probe *pr, bench_s3_row *row)
{
    char dir[4200];
    cairn_db *db = NULL;
    bench_s3_req r0, r1, r2;
    bench_rng rng;
    uint64_t t0;
    int rc;

    bench_fmt(dir, sizeof(dir), "%s/data", pr->scratch);
    if (bench_copytree(pr->tpl, dir)) {
        bench_fmt(row->error, sizeof(row->error), "copy %s: %s", pr->tpl, strerror(errno));
        return -1;
    }
    if (probe_open(pr, dir, 0, &db, row))
        return -1;
    t0 = bench_now_ns();
    if ((rc = cairn_sync(db))) {
        rc = fail(row, "cairn_sync (upload)", rc);
        goto out;
    }
    row->upload_ms = ms_since(t0);
    req_now(db, &row->upload_req);
    bench_rng_seed(&rng, pr->p->seed ^ 0x5317ull);
    /* the first write of a handle takes the store over: untimed */
    if ((rc = commit_one(pr, db, bench_rng_below(&rng, pr->p->keys), 1, row)))
        goto out;
    if (row->write_back && (rc = cairn_sync(db))) {
        rc = fail(row, "cairn_sync", rc);
        goto out;
    }
    for (unsigned k = 0; k < WRITES; k++) {
        req_now(db, &r0);
        t0 = bench_now_ns();
        if ((rc = commit_one(pr, db, bench_rng_below(&rng, pr->p->keys), 2 + k, row)))
            goto out;
        row->commit_ms += ms_since(t0);
        req_now(db, &r1);
        req_add_delta(&row->commit_req, &r0, &r1);
        if (row->write_back) {
            t0 = bench_now_ns();
            if ((rc = cairn_sync(db))) {
                rc = fail(row, "cairn_sync", rc);
                goto out;
            }
            row->sync_ms += ms_since(t0);
            req_now(db, &r2);
            req_add_delta(&row->sync_req, &r1, &r2);
        }
        row->writes++;
    }
    rc = 0;
out:
    cairn_close(db);
    return rc;
}

/* Runs fn in a forked child on a copy of *row; the row comes back through
 * a pipe. A child that fails, dies or times out leaves its error in row. */
static void in_child(probe *pr, const char *what, int (*fn)(const probe *, bench_s3_row *),
                     bench_s3_row *row)
{
    bench_s3_row got;
    int fds[2], status;
    ssize_t n = 0;
    pid_t pid;
    static unsigned seq;

    bench_fmt(pr->scratch + strlen(pr->scratch), 16, "/%u", ++seq);
    if (row->error[0])
        goto done; /* an earlier probe failed: keep its message */
    if (bench_mkdirs(pr->scratch) || pipe(fds)) {
        bench_fmt(row->error, sizeof(row->error), "%s: %s", what, strerror(errno));
        goto done;
    }
    fflush(NULL);
    if ((pid = fork()) < 0) {
        bench_fmt(row->error, sizeof(row->error), "%s: fork: %s", what, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        goto done;
    }
    if (pid == 0) {
        const char *p = (const char *)row;
        size_t left = sizeof(*row);

        close(fds[0]);
        signal(SIGINT, SIG_DFL);
        alarm(pr->p->timeout);
        if (fn(pr, row) && !row->error[0])
            bench_fmt(row->error, sizeof(row->error), "%s failed", what);
        while (left) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0)
                _exit(3);
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    while (n < (ssize_t)sizeof(got)) {
        ssize_t r = read(fds[0], (char *)&got + n, sizeof(got) - (size_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += r;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(got)) {
        *row = got;
        if (row->error[0] && !strstr(row->error, what)) {
            char msg[sizeof(row->error)];
            bench_fmt(msg, sizeof(msg), "%s: %s", what, row->error);
            bench_copy(row->error, sizeof(row->error), msg);
        }
    } else {
        bench_fmt(row->error, sizeof(row->error), "%s: the child %s", what,
                  WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? "timed out"
                                                                     : "died without a result");
    }
done:
    if (!getenv("CAIRN_BENCH_KEEP_S3"))
        bench_rmtree(pr->scratch);
    *strrchr(pr->scratch, '/') = '\0';
}

void bench_s3_measure(const bench_params *p, const bench_config *cfg, const char *tpl,
                      const char *scratch, bench_s3_row *row)
{
    probe pr;

    memset(row, 0, sizeof(*row));
    bench_copy(row->config, sizeof(row->config), cfg->name);
    row->writer = strstr(cfg->spec, "lmdb:") != NULL;
    row->write_back = strstr(cfg->spec, "write=back") != NULL;
    row->fleet_shared = bench_spec_redis(cfg->spec);
    row->rtt_ms = -1;
    memset(&pr, 0, sizeof(pr));
    pr.p = p;
    pr.cfg = cfg;
    pr.tpl = tpl;
    bench_copy(pr.scratch, sizeof(pr.scratch) - 32, scratch);
    if (row->writer) {
        in_child(&pr, "writes", probe_writes, row);
        return;
    }
    in_child(&pr, "cold point read", probe_cold_get, row);
    in_child(&pr, "cold scan", probe_cold_scan, row);
    in_child(&pr, "idle follower", probe_follower, row);
    /* A Redis cache of the fleet's own, empty at its start, shared by its
     * two readers only. */
    char name[64];
    bench_fmt(name, sizeof(name), "fleet%d", (int)getpid());
    bench_set_cache_name(name);
    in_child(&pr, "fleet, first reader", fleet_first, row);
    in_child(&pr, "fleet, second reader", fleet_second, row);
    bench_set_cache_name(NULL);
}

/* ---------------------------------------------------------------- report */

/* Requests and dollars per million operations of r spread over ops. */
static void per_million(FILE *f, const char *what, const bench_s3_req *r, double ops)
{
    if (ops <= 0)
        return;
    fprintf(f, "    %-34s %9.0f GET %9.0f PUT %9.0f HEAD %8.0f POST  $%10.2f\n", what,
            (double)r->get * 1e6 / ops, (double)r->put * 1e6 / ops,
            (double)r->head * 1e6 / ops, (double)r->post * 1e6 / ops,
            bench_s3_dollars(r) * 1e6 / ops);
}

static const char *goal(bool met)
{
    return met ? "met" : "MISSED";
}

void bench_s3_report(FILE *f, const bench_s3_row *rows, size_t n)
{
    if (!n)
        return;
    fprintf(f, "\nS3 (issue 10): requests from the S3 tier's counters (cairn_stats_get)\n");
    fprintf(f, "prices (edit bench_s3_prices in bench/s3.c), per 1,000 requests:");
    for (size_t i = 0; i < sizeof(bench_s3_prices) / sizeof(bench_s3_prices[0]); i++)
        fprintf(f, "%s %s $%g", i ? ";" : "", bench_s3_prices[i].kind,
                bench_s3_prices[i].usd_per_1000);
    fprintf(f, "; storage ignored\n");
    for (size_t i = 0; i < n; i++) {
        const bench_s3_row *r = &rows[i];

        fprintf(f, "\n  %s (%s)\n", r->config,
                r->writer ? (r->write_back ? "write-back writer" : "write-through writer")
                          : "reader, S3 primary");
        if (r->error[0]) {
            fprintf(f, "    ERROR: %s\n", r->error);
            continue;
        }
        if (r->writer) {
            double w = r->writes ? (double)r->writes : 1;
            fprintf(f, "    upload of the template copy (cairn_sync to an empty prefix): %.0f ms,"
                       " %llu PUT, %llu POST, %llu GET, %llu HEAD, %.0f KB out\n",
                    r->upload_ms, (unsigned long long)r->upload_req.put,
                    (unsigned long long)r->upload_req.post, (unsigned long long)r->upload_req.get,
                    (unsigned long long)r->upload_req.head, (double)r->upload_req.bytes_out / 1e3);
            fprintf(f, "    per commit of one key (%u commits): %.1f ms, %.2f PUT, %.2f GET,"
                       " %.2f HEAD, %.0f bytes out\n",
                    r->writes, r->commit_ms / w, (double)r->commit_req.put / w,
                    (double)r->commit_req.get / w, (double)r->commit_req.head / w,
                    (double)r->commit_req.bytes_out / w);
            if (r->write_back)
                fprintf(f, "    per cairn_sync after it: %.1f ms, %.2f PUT, %.2f GET, %.2f HEAD,"
                           " %.0f bytes out   goal: at most 2 PUTs per sync of a small change:"
                           " %s\n",
                        r->sync_ms / w, (double)r->sync_req.put / w,
                        (double)r->sync_req.get / w, (double)r->sync_req.head / w,
                        (double)r->sync_req.bytes_out / w,
                        goal((double)r->sync_req.put / w <= 2.0));
            fprintf(f, "    requests and dollars per million operations:\n");
            per_million(f, "commit of one key", &r->commit_req, w);
            if (r->write_back)
                per_million(f, "sync after a one-key commit", &r->sync_req, w);
            continue;
        }
        {
            double path = 2.0 + r->height; /* commit, catalog node, height tree nodes */
            double trips = r->rtt_ms > 0 ? r->cold_ms / r->rtt_ms : -1;
            /* The scan after its first key: the open and the path down to
             * the first leaf are the cold point read's business; the bound
             * is about keeping reads in flight once the scan streams. */
            bench_s3_req rest = {0};
            req_add_delta(&rest, &r->scan_first_req, &r->scan_req);
            uint64_t rest_keys = r->scan_keys ? r->scan_keys - 1 : 0;
            double rest_s = r->scan_s - r->scan_first_ms / 1e3;
            double keys_per_get = rest.get ? (double)rest_keys / (double)rest.get : 0;
            double bytes_per_get = rest.get ? (double)rest.bytes_in / (double)rest.get : 0;
            double bound = r->rtt_ms > 0 ? r->inflight * keys_per_get / (r->rtt_ms / 1e3) : 0;
            double rate = rest_s > 0 ? (double)rest_keys / rest_s : 0;
            double hours = r->idle_s / 3600.0;

            fprintf(f, "    round trip: %.2f ms (median of %d cairn_refresh, %.1f request each)\n",
                    r->rtt_ms, RTT_PROBES, r->rtt_requests);
            fprintf(f, "    cold point read (fresh process: open + first key): %.1f ms, %llu GET,"
                       " %llu HEAD = %.1f round trips; goal: blobs on the path (commit + catalog"
                       " + %u tree levels = %.0f) + 2 = %.0f: %s\n",
                    r->cold_ms, (unsigned long long)r->cold_req.get,
                    (unsigned long long)r->cold_req.head, trips, r->height, path, path + 2,
                    goal(trips >= 0 && trips <= path + 2));
            fprintf(f, "    point reads after it (%llu random keys): %.2f GET per key read, %.1f"
                       " ms per key\n",
                    (unsigned long long)r->reads,
                    r->reads ? (double)r->read_req.get / (double)r->reads : 0, r->read_ms);
            fprintf(f, "    cold scan (fresh process): open + first key %.1f ms; the other %llu"
                       " keys %.2f s = %.0f keys/s; %llu GET, %.0f bytes per GET = %.1f keys per"
                       " GET\n",
                    r->scan_first_ms, (unsigned long long)rest_keys, rest_s, rate,
                    (unsigned long long)rest.get, bytes_per_get, keys_per_get);
            fprintf(f, "      bound: %u in flight x %.0f bytes per GET / %.2f ms = %.1f MB/s ="
                       " %.0f keys/s; measured %.2f of it; goal: half the bound or more: %s\n",
                    r->inflight, bytes_per_get, r->rtt_ms,
                    r->rtt_ms > 0 ? r->inflight * bytes_per_get / (r->rtt_ms / 1e3) / 1e6 : 0,
                    bound, bound > 0 ? rate / bound : 0, goal(bound > 0 && rate >= bound / 2));
            fprintf(f, "    idle follower (follow_ms=%u, a ref read every %u ms for %.1f s, %llu"
                       " reads): %llu requests = %.0f requests/hour, $%.6f/hour\n",
                    r->follow_ms, r->follow_ms, r->idle_s, (unsigned long long)r->idle_lookups,
                    (unsigned long long)req_total(&r->idle_req),
                    hours > 0 ? (double)req_total(&r->idle_req) / hours : 0,
                    hours > 0 ? bench_s3_dollars(&r->idle_req) / hours : 0);
            if (r->fleet_reads)
                fprintf(f, "    fleet of two readers (fresh processes in turn, the same %llu"
                           " random keys; shared: %s): S3 GET per key read: first %.2f, second"
                           " %.2f\n",
                        (unsigned long long)r->fleet_reads,
                        r->fleet_shared ? "a Redis cache" : "nothing",
                        (double)r->fleet_req[0].get / (double)r->fleet_reads,
                        (double)r->fleet_req[1].get / (double)r->fleet_reads);
            fprintf(f, "    requests and dollars per million operations:\n");
            per_million(f, "cold open + first key", &r->cold_req, 1);
            per_million(f, "point read (after the first)", &r->read_req, (double)r->reads);
            per_million(f, "key of a cold full scan", &r->scan_req, (double)r->scan_keys);
        }
    }
}

static void json_req(FILE *f, const char *name, const bench_s3_req *r, double ops)
{
    fprintf(f,
            ",\n     \"%s\": {\"ops\": %.0f, \"get\": %llu, \"put\": %llu, \"head\": %llu,"
            " \"delete\": %llu, \"post\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu,"
            " \"retries\": %llu, \"dollars_per_million_ops\": %.4f}",
            name, ops, (unsigned long long)r->get, (unsigned long long)r->put,
            (unsigned long long)r->head, (unsigned long long)r->del,
            (unsigned long long)r->post, (unsigned long long)r->bytes_in,
            (unsigned long long)r->bytes_out, (unsigned long long)r->retries,
            ops > 0 ? bench_s3_dollars(r) * 1e6 / ops : 0);
}

int bench_s3_json(const char *path, const bench_s3_row *rows, size_t n)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "{\"prices_usd_per_1000\": {");
    for (size_t i = 0; i < sizeof(bench_s3_prices) / sizeof(bench_s3_prices[0]); i++)
        fprintf(f, "%s\"%s\": %g", i ? ", " : "", bench_s3_prices[i].kind,
                bench_s3_prices[i].usd_per_1000);
    fprintf(f, "},\n \"configs\": [");
    for (size_t i = 0; i < n; i++) {
        const bench_s3_row *r = &rows[i];
        fprintf(f, "%s\n    {\"config\": \"%s\", \"writer\": %s, \"write_back\": %s,"
                   " \"error\": \"",
                i ? "," : "", r->config, r->writer ? "true" : "false",
                r->write_back ? "true" : "false");
        for (const char *c = r->error; *c; c++)
            fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 32 ? " " : "%c",
                    *c);
        fprintf(f, "\", \"rtt_ms\": %.3f, \"cold_ms\": %.3f, \"height\": %u, \"reads\": %llu,"
                   " \"read_ms\": %.3f, \"scan_keys\": %llu, \"scan_s\": %.3f,"
                   " \"scan_first_ms\": %.3f, \"inflight\": %u,"
                   " \"follow_ms\": %u, \"idle_s\": %.3f, \"idle_lookups\": %llu,"
                   " \"writes\": %u, \"upload_ms\": %.3f, \"commit_ms\": %.3f, \"sync_ms\": %.3f",
                r->rtt_ms, r->cold_ms, r->height, (unsigned long long)r->reads, r->read_ms,
                (unsigned long long)r->scan_keys, r->scan_s, r->scan_first_ms, r->inflight,
                r->follow_ms,
                r->idle_s, (unsigned long long)r->idle_lookups, r->writes, r->upload_ms,
                r->commit_ms, r->sync_ms);
        json_req(f, "cold", &r->cold_req, 1);
        json_req(f, "reads", &r->read_req, (double)r->reads);
        json_req(f, "scan", &r->scan_req, (double)r->scan_keys);
        json_req(f, "scan_first", &r->scan_first_req, 1);
        json_req(f, "idle", &r->idle_req, (double)r->idle_lookups);
        json_req(f, "fleet_first", &r->fleet_req[0], (double)r->fleet_reads);
        json_req(f, "fleet_second", &r->fleet_req[1], (double)r->fleet_reads);
        json_req(f, "upload", &r->upload_req, 1);
        json_req(f, "commits", &r->commit_req, r->writes);
        json_req(f, "syncs", &r->sync_req, r->write_back ? r->writes : 0);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    return fclose(f);
}
