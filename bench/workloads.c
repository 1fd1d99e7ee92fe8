/*
 * workloads.c - the workloads of cairn-bench, written against the adapter
 * interface (adapter.h) only: they never know which engine or tier stack
 * they drive.
 *
 *   load-sorted, load-random  N keys in batches of B, one commit per batch
 *                             (op = key; latency = one batch)
 *   ycsb-[a-f]-{zipf,unif}    YCSB core workloads on the loaded store, every
 *                             write its own commit (op = YCSB operation):
 *                             a 50% read / 50% update, b 95/5, c 100% read,
 *                             d 95% read latest / 5% insert, e 95% scan of
 *                             1..100 keys / 5% insert, f 50% read /
 *                             50% read-modify-write
 *   point-1t, point-2t        warm uniform point reads, 1 and T threads
 *   scan-1t, scan-2t          warm scans of L keys from uniform starts
 *   scan-full                 warm full forward scans (op = key)
 *   commit-small              one updated key per commit, the first W
 *                             (--commit-window) after the load (op = commit)
 *   commit-later              the same after W untimed commits
 *   cold-get                  fresh process, caches dropped: open, first key
 *                             (time to first key), then uniform point reads
 *                             of 2% of the keys (at least 200)
 *   cold-scan                 fresh process, caches dropped: a full scan
 *
 * Every workload but load and cold starts warm: one untimed full scan.
 * Timed sections stop at their operation bound or when bench_time_up says
 * (--max-seconds, once --min-ops are done); commit-small and the loads do a
 * fixed amount of work.
 * Reads check each value's length and fold a byte of it into a checksum.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

static int fail_store(bench_run *run, const char *what)
{
    bench_fmt(run->res->error, sizeof(run->res->error), "%s: %s", what, run->store->err);
    return -1;
}

static int fail_msg(bench_run *run, const char *msg)
{
    bench_fmt(run->res->error, sizeof(run->res->error), "%s", msg);
    return -1;
}

void bench_run_mark(bench_run *run)
{
    if (run->store && run->store->a->counters)
        run->store->a->counters(run->store, &run->c0);
    bench_proc_io(&run->rb0, &run->wb0);
}

int bench_run_open(bench_run *run, unsigned flags)
{
    const bench_adapter *a = run->cfg->adapter;
    char err[BENCH_ERR_MAX] = "";

    if (a->open(run->cfg, run->spec, flags, &run->store, err, sizeof(err))) {
        bench_fmt(run->res->error, sizeof(run->res->error), "%s", err);
        return -1;
    }
    run->store->a = a;
    run->store->cfg = run->cfg;
    return 0;
}

bool bench_time_up(const bench_run *run, uint64_t t0, uint64_t now, uint64_t done,
                   unsigned n_threads)
{
    uint64_t cap = (uint64_t)(run->p->max_seconds * 1e9);
    uint64_t min_ops = (run->p->min_ops + n_threads - 1) / (n_threads ? n_threads : 1);

    if (now - t0 < cap)
        return false;
    return done >= min_ops || now - t0 >= 5 * cap;
}

/* ---------------------------------------------------------------- writes */

/* One commit of one key: key number i gets a new version of its value. */
static int put_one(bench_run *run, uint64_t i, uint8_t *val)
{
    const bench_adapter *a = run->store->a;
    char key[BENCH_KEY_LEN];

    bench_key(bench_key_id(i), key);
    bench_value(run->p->seed, i, ++run->next_version, val, run->p->value_size);
    if (a->begin(run->store) ||
        a->put(run->store, key, sizeof(key), val, run->p->value_size) ||
        a->commit(run->store))
        return fail_store(run, "commit");
    run->res->commits++;
    run->res->keys_written++;
    return 0;
}

typedef struct keyed {
    uint64_t id, i;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

int bench_load(bench_run *run, uint64_t n, bool sorted, bench_hist *h)
{
    const bench_adapter *a = run->store->a;
    keyed *order = malloc((size_t)n * sizeof(*order) + 1);
    uint8_t *val = malloc(run->p->value_size + 1);
    char key[BENCH_KEY_LEN];
    bench_rng rng;
    int rc = 0;

    if (!order || !val) {
        free(order);
        free(val);
        return fail_msg(run, "out of memory for the load order");
    }
    for (uint64_t i = 0; i < n; i++)
        order[i] = (keyed){bench_key_id(i), i};
    if (sorted) {
        qsort(order, (size_t)n, sizeof(*order), cmp_keyed);
    } else {
        bench_rng_seed(&rng, run->p->seed ^ 0x10adull);
        for (uint64_t i = n; i > 1; i--) {
            uint64_t j = bench_rng_below(&rng, i);
            keyed t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
    }
    for (uint64_t done = 0; !rc && done < n;) {
        uint64_t end = done + run->p->batch < n ? done + run->p->batch : n;
        uint64_t t0 = bench_now_ns();

        if (a->begin(run->store)) {
            rc = fail_store(run, "begin");
            break;
        }
        for (; done < end; done++) {
            bench_key(order[done].id, key);
            bench_value(run->p->seed, order[done].i, 0, val, run->p->value_size);
            if (a->put(run->store, key, sizeof(key), val, run->p->value_size)) {
                rc = fail_store(run, "put");
                break;
            }
        }
        if (!rc && a->commit(run->store))
            rc = fail_store(run, "commit");
        if (h)
            bench_hist_add(h, bench_now_ns() - t0);
        run->res->commits++;
    }
    run->res->keys_written += n;
    if (run->n_keys < n)
        run->n_keys = n;
    free(order);
    free(val);
    return rc;
}

int bench_age(bench_run *run)
{
    const bench_adapter *a = run->store->a;
    uint64_t n = run->n_keys, n_upd = run->p->batch / 10, n_del = run->p->batch / 20;
    uint64_t *prev = NULL, *cur = NULL, n_prev = 0;
    uint8_t *deleted = calloc((size_t)n + 1, 1), *val = malloc(run->p->value_size + 1);
    char key[BENCH_KEY_LEN];
    bench_rng rng;
    int rc = 0;

    n_upd = n_upd ? n_upd : 1;
    n_del = n_del ? n_del : 1;
    if (n_del > n / 4)
        n_del = n / 4;
    prev = malloc((size_t)(n_del + 1) * sizeof(*prev));
    cur = malloc((size_t)(n_del + 1) * sizeof(*cur));
    if (!deleted || !val || !prev || !cur) {
        rc = fail_msg(run, "out of memory for aging");
        goto out;
    }
    bench_rng_seed(&rng, run->p->seed ^ 0xa6edull);
    /* commits 0 .. age_commits-1 age the store; the last one only re-inserts */
    for (uint64_t c = 0; !rc && c <= run->p->age_commits; c++) {
        bool last = c == run->p->age_commits;
        uint64_t n_cur = 0;

        if (a->begin(run->store)) {
            rc = fail_store(run, "begin");
            break;
        }
        for (uint64_t k = 0; !rc && k < n_prev; k++) { /* back come the deleted keys */
            bench_key(bench_key_id(prev[k]), key);
            bench_value(run->p->seed, prev[k], ++run->next_version, val, run->p->value_size);
            deleted[prev[k]] = 0;
            if (a->put(run->store, key, sizeof(key), val, run->p->value_size))
                rc = fail_store(run, "put");
        }
        for (uint64_t k = 0; !rc && !last && k < n_upd; k++) {
            uint64_t i = bench_rng_below(&rng, n);
            bench_key(bench_key_id(i), key);
            bench_value(run->p->seed, i, ++run->next_version, val, run->p->value_size);
            if (a->put(run->store, key, sizeof(key), val, run->p->value_size))
                rc = fail_store(run, "put");
        }
        for (uint64_t k = 0; !rc && !last && k < n_del; k++) {
            uint64_t i = bench_rng_below(&rng, n);
            if (deleted[i])
                continue; /* already deleted in this commit */
            deleted[i] = 1;
            cur[n_cur++] = i;
            bench_key(bench_key_id(i), key);
            if (a->del(run->store, key, sizeof(key)))
                rc = fail_store(run, "del");
        }
        if (!rc && a->commit(run->store))
            rc = fail_store(run, "commit");
        run->res->commits++;
        memcpy(prev, cur, (size_t)n_cur * sizeof(*cur));
        n_prev = n_cur;
    }
out:
    free(deleted);
    free(val);
    free(prev);
    free(cur);
    return rc;
}

/* ---------------------------------------------------------------- reads */

typedef struct sink {
    uint64_t sum;
    uint64_t keys;
} sink;

static int scan_visit(void *ctx, const void *key, size_t key_len, const void *val,
                      size_t val_len)
{
    sink *s = ctx;

    s->sum += ((const uint8_t *)key)[key_len - 1] + (val_len ? ((const uint8_t *)val)[val_len - 1] : 0);
    s->keys++;
    return 0;
}

/* Reads key number i and checks its value's length. */
static int get_one(bench_run *run, bench_reader *r, uint64_t i, sink *s, char *err,
                   size_t errlen)
{
    char key[BENCH_KEY_LEN];
    const void *val;
    size_t len;
    int rc;

    bench_key(bench_key_id(i), key);
    rc = run->store->a->get(r, key, sizeof(key), &val, &len);
    if (rc == BENCH_NOTFOUND) {
        bench_fmt(err, errlen, "key %.20s (number %llu) not found", key, (unsigned long long)i);
        return -1;
    }
    if (rc) {
        bench_fmt(err, errlen, "get: %s", r->err[0] ? r->err : run->store->err);
        return -1;
    }
    if (len != run->p->value_size) {
        bench_fmt(err, errlen, "key %.20s: value of %zu bytes, expected %zu", key, len,
                 run->p->value_size);
        return -1;
    }
    s->sum += ((const uint8_t *)val)[len - 1];
    s->keys++;
    return 0;
}

static int scan_from(bench_run *run, bench_reader *r, uint64_t i, size_t n, sink *s,
                     char *err, size_t errlen)
{
    char key[BENCH_KEY_LEN];
    size_t seen;

    bench_key(bench_key_id(i), key);
    if (run->store->a->scan(r, key, sizeof(key), n, scan_visit, s, &seen)) {
        bench_fmt(err, errlen, "scan: %s", r->err[0] ? r->err : run->store->err);
        return -1;
    }
    return 0;
}

int bench_warm(bench_run *run)
{
    bench_reader *r;
    sink s = {0, 0};
    size_t seen;
    int rc;

    if (run->store->a->reader_open(run->store, &r))
        return fail_store(run, "reader_open");
    rc = run->store->a->scan(r, "", 0, SIZE_MAX, scan_visit, &s, &seen);
    if (rc)
        bench_fmt(run->res->error, sizeof(run->res->error), "warm-up scan: %s", r->err);
    else if (seen != run->n_keys)
        bench_fmt(run->res->error, sizeof(run->res->error),
                 "warm-up scan saw %zu keys, expected %llu", seen,
                 (unsigned long long)run->n_keys);
    run->store->a->reader_close(r);
    run->res->checksum += s.sum;
    return rc || seen != run->n_keys ? -1 : 0;
}

/* One reader thread of point-* and scan-*. */
typedef struct reader_job {
    bench_run *run;
    pthread_barrier_t *start;
    uint64_t ops, done;
    uint64_t seed;
    unsigned n_threads;
    bool scans;
    bench_hist *hist;
    uint64_t t_start, t_end; /* this thread's timed section */
    sink s;
    int rc;
    char err[BENCH_ERR_MAX];
} reader_job;

static void *reader_main(void *arg)
{
    reader_job *job = arg;
    bench_run *run = job->run;
    bench_reader *r = NULL;
    bench_rng rng;

    bench_rng_seed(&rng, job->seed);
    if (run->store->a->reader_open(run->store, &r)) {
        bench_fmt(job->err, sizeof(job->err), "reader_open: %s", run->store->err);
        job->rc = -1;
    }
    pthread_barrier_wait(job->start);
    job->t_start = bench_now_ns();
    for (uint64_t k = 0; !job->rc && k < job->ops; k++) {
        uint64_t i = bench_rng_below(&rng, run->n_keys);
        uint64_t t0 = bench_now_ns();

        if (bench_time_up(run, job->t_start, t0, k, job->n_threads))
            break;
        job->done++;
        if (job->scans)
            job->rc = scan_from(run, r, i, run->p->scan_len, &job->s, job->err,
                                sizeof(job->err));
        else
            job->rc = get_one(run, r, i, &job->s, job->err, sizeof(job->err));
        bench_hist_add(job->hist, bench_now_ns() - t0);
    }
    job->t_end = bench_now_ns();
    if (r)
        run->store->a->reader_close(r);
    return NULL;
}

static int run_readers(bench_run *run, bool scans, uint64_t ops, bench_hist *h)
{
    unsigned n = run->w->threads ? run->w->threads : run->p->threads;
    reader_job *jobs = calloc(n, sizeof(*jobs));
    pthread_t *tids = calloc(n, sizeof(*tids));
    pthread_barrier_t start;
    uint64_t t0, t1;
    int rc = 0;

    if (!jobs || !tids) {
        free(jobs);
        free(tids);
        return fail_msg(run, "out of memory");
    }
    pthread_barrier_init(&start, NULL, n + 1);
    for (unsigned t = 0; t < n; t++) {
        jobs[t] = (reader_job){.run = run, .start = &start, .ops = ops / n + (t < ops % n), .n_threads = n,
                               .seed = run->p->seed * 31 + t + 1, .scans = scans};
        jobs[t].hist = calloc(1, sizeof(bench_hist));
        if (!jobs[t].hist || pthread_create(&tids[t], NULL, reader_main, &jobs[t])) {
            fprintf(stderr, "cairn-bench: cannot start reader thread\n");
            exit(2); /* the parent reports the failed run */
        }
    }
    pthread_barrier_wait(&start);
    for (unsigned t = 0; t < n; t++)
        pthread_join(tids[t], NULL);
    /* wall time: first thread's start to last thread's end */
    t0 = jobs[0].t_start;
    t1 = jobs[0].t_end;
    for (unsigned t = 0; t < n; t++) {
        t0 = jobs[t].t_start < t0 ? jobs[t].t_start : t0;
        t1 = jobs[t].t_end > t1 ? jobs[t].t_end : t1;
        bench_hist_merge(h, jobs[t].hist);
        run->res->checksum += jobs[t].s.sum;
        if (jobs[t].rc && !rc) {
            bench_fmt(run->res->error, sizeof(run->res->error), "%s", jobs[t].err);
            rc = -1;
        }
        free(jobs[t].hist);
    }
    run->res->seconds = (double)(t1 - t0) / 1e9;
    run->res->ops = 0;
    for (unsigned t = 0; t < n; t++)
        run->res->ops += jobs[t].done;
    run->res->threads = n;
    pthread_barrier_destroy(&start);
    free(jobs);
    free(tids);
    return rc;
}

/* ---------------------------------------------------------------- workloads */

static int w_load(bench_run *run, bench_hist *h, bool sorted)
{
    uint64_t t0 = bench_now_ns();
    int rc = bench_load(run, run->p->keys, sorted, h);

    run->res->seconds = (double)(bench_now_ns() - t0) / 1e9;
    run->res->ops = run->p->keys;
    return rc;
}

static int w_load_sorted(bench_run *run, bench_hist *h)
{
    return w_load(run, h, true);
}

static int w_load_random(bench_run *run, bench_hist *h)
{
    return w_load(run, h, false);
}

static int w_ycsb(bench_run *run, bench_hist *h)
{
    const bench_workload *w = run->w;
    uint8_t *val = malloc(run->p->value_size + 1);
    bench_reader *r = NULL;
    bench_chooser ch;
    bench_rng rng;
    sink s = {0, 0};
    uint64_t t_start, done = 0;
    int rc = 0;
    /* per mix: read, update, insert, scan, rmw percentages */
    int read = 0, update = 0, insert = 0, scan = 0;

    switch (w->mix) {
    case 'a': read = 50, update = 50; break;
    case 'b': read = 95, update = 5; break;
    case 'c': read = 100; break;
    case 'd': read = 95, insert = 5; break;
    case 'e': scan = 95, insert = 5; break;
    case 'f': read = 50; break; /* the rest read-modify-write */
    default: break;
    }
    if (!val)
        return fail_msg(run, "out of memory");
    if (run->store->a->reader_open(run->store, &r)) {
        free(val);
        return fail_store(run, "reader_open");
    }
    bench_rng_seed(&rng, run->p->seed ^ (uint64_t)w->mix << 8 ^ (uint64_t)w->dist);
    bench_chooser_init(&ch, w->dist, run->n_keys);
    t_start = bench_now_ns();
    for (; !rc && done < run->p->ops; done++) {
        int dice = (int)bench_rng_below(&rng, 100);
        uint64_t t0 = bench_now_ns();
        char err[BENCH_ERR_MAX] = "";

        if (bench_time_up(run, t_start, t0, done, 1))
            break;
        if (dice < read) {
            rc = get_one(run, r, bench_choose(&ch, &rng, run->n_keys), &s, err, sizeof(err));
        } else if (dice < read + scan) {
            size_t len = 1 + (size_t)bench_rng_below(&rng, 100);
            rc = scan_from(run, r, bench_choose(&ch, &rng, run->n_keys), len, &s, err,
                           sizeof(err));
        } else if (dice < read + scan + update) {
            rc = put_one(run, bench_choose(&ch, &rng, run->n_keys), val);
        } else if (dice < read + scan + update + insert) {
            rc = put_one(run, run->n_keys, val);
            if (!rc)
                run->n_keys++;
        } else { /* read-modify-write */
            uint64_t i = bench_choose(&ch, &rng, run->n_keys);
            rc = get_one(run, r, i, &s, err, sizeof(err));
            if (!rc)
                rc = put_one(run, i, val);
        }
        if (err[0])
            bench_fmt(run->res->error, sizeof(run->res->error), "%s", err);
        bench_hist_add(h, bench_now_ns() - t0);
    }
    run->res->seconds = (double)(bench_now_ns() - t_start) / 1e9;
    run->res->ops = done;
    run->res->checksum += s.sum;
    run->store->a->reader_close(r);
    free(val);
    return rc;
}

static int w_point(bench_run *run, bench_hist *h)
{
    return run_readers(run, false, run->p->read_ops, h);
}

static int w_scan(bench_run *run, bench_hist *h)
{
    uint64_t ops = run->p->read_ops / 4 ? run->p->read_ops / 4 : 1;

    return run_readers(run, true, ops, h);
}

/* n one-key commits of random keys; timed (into h) if timed, and then
 * also stopped by the time cap. */
static int commits(bench_run *run, bench_hist *h, uint64_t n, bool timed, uint64_t seed)
{
    uint8_t *val = malloc(run->p->value_size + 1);
    bench_rng rng;
    uint64_t t_start, done = 0;
    int rc = 0;

    if (!val)
        return fail_msg(run, "out of memory");
    bench_rng_seed(&rng, run->p->seed ^ seed);
    t_start = bench_now_ns();
    for (; !rc && done < n; done++) {
        uint64_t t0 = bench_now_ns();
        if (timed && bench_time_up(run, t_start, t0, done, 1))
            break;
        rc = put_one(run, bench_rng_below(&rng, run->n_keys), val);
        if (h)
            bench_hist_add(h, bench_now_ns() - t0);
    }
    run->res->seconds = (double)(bench_now_ns() - t_start) / 1e9;
    run->res->ops = done;
    free(val);
    return rc;
}

/* The first commit_window one-key commits after the load: all of them, no
 * time cap (a window, not a rate over whatever time allows). */
static int w_commit_small(bench_run *run, bench_hist *h)
{
    return commits(run, h, run->p->commit_window, false, 0xc0ull);
}

/* The commits after those: commit_window untimed commits (the state
 * commit-small leaves), then up to --commits timed ones. */
static int w_commit_later(bench_run *run, bench_hist *h)
{
    int rc = commits(run, NULL, run->p->commit_window, false, 0xc0ull);

    if (rc)
        return rc;
    run->res->commits = run->res->keys_written = 0;
    bench_run_mark(run);
    return commits(run, h, run->p->commits, true, 0xc1ull);
}

/* Warm full scans, from the first key to the last, until the time cap
 * (at least one); op = key, latency = one full scan. */
static int w_scan_full(bench_run *run, bench_hist *h)
{
    bench_reader *r = NULL;
    sink s = {0, 0};
    uint64_t t_start, keys = 0, scans = 0;
    size_t seen;
    int rc = 0;

    if (run->store->a->reader_open(run->store, &r))
        return fail_store(run, "reader_open");
    t_start = bench_now_ns();
    for (;;) {
        uint64_t t0 = bench_now_ns();
        if (scans && (bench_time_up(run, t_start, t0, keys, 1) || keys >= run->p->read_ops))
            break;
        if (run->store->a->scan(r, "", 0, SIZE_MAX, scan_visit, &s, &seen)) {
            rc = fail_msg(run, r->err[0] ? r->err : run->store->err);
            break;
        }
        bench_hist_add(h, bench_now_ns() - t0);
        if (seen != run->n_keys) {
            rc = fail_msg(run, "full scan saw fewer keys than were loaded");
            break;
        }
        keys += seen;
        scans++;
    }
    run->res->seconds = (double)(bench_now_ns() - t_start) / 1e9;
    run->res->ops = keys;
    run->res->checksum += s.sum;
    run->store->a->reader_close(r);
    return rc;
}

/* Cold reads: the caller dropped the caches; open the store here. */
static int cold_finish(bench_run *run, uint64_t keys, double rb0, long majflt0)
{
    bench_counters c;
    struct rusage ru;
    double rb, wb;

    if (run->store->a->counters && run->store->a->counters(run->store, &c) == 0)
        run->res->slow_reads_per_key = (double)c.slow_gets / (double)(keys ? keys : 1);
    bench_proc_io(&rb, &wb);
    if (rb >= 0 && rb0 >= 0)
        run->res->read_bytes_per_key = (rb - rb0) / (double)(keys ? keys : 1);
    getrusage(RUSAGE_SELF, &ru);
    run->res->majflt_per_key = (double)(ru.ru_majflt - majflt0) / (double)(keys ? keys : 1);
    return 0;
}

static int cold_open(bench_run *run, uint64_t *t0, double *rb0, long *majflt0)
{
    struct rusage ru;
    double wb;

    bench_drop_caches(run->data_dir, run->res->cache_drop, sizeof(run->res->cache_drop));
    bench_proc_io(rb0, &wb);
    getrusage(RUSAGE_SELF, &ru);
    *majflt0 = ru.ru_majflt;
    *t0 = bench_now_ns();
    return bench_run_open(run, BENCH_OPEN_READONLY);
}

static int w_cold_get(bench_run *run, bench_hist *h)
{
    /* few reads (2% of the keys), so that they stay cold */
    uint64_t t0, ops = run->p->keys / 50 > 200 ? run->p->keys / 50 : 200, t_start, done = 0;
    bench_reader *r = NULL;
    bench_rng rng;
    sink s = {0, 0};
    char err[BENCH_ERR_MAX];
    double rb0;
    long majflt0;
    int rc;

    if (cold_open(run, &t0, &rb0, &majflt0))
        return -1;
    if (run->store->a->reader_open(run->store, &r))
        return fail_store(run, "reader_open");
    bench_rng_seed(&rng, run->p->seed ^ 0xc01dull);
    rc = get_one(run, r, bench_rng_below(&rng, run->n_keys), &s, err, sizeof(err));
    run->res->ttfk_ns = (double)(bench_now_ns() - t0);
    t_start = bench_now_ns();
    for (; !rc && done < ops; done++) {
        uint64_t t1 = bench_now_ns();
        if (bench_time_up(run, t_start, t1, done, 1))
            break;
        rc = get_one(run, r, bench_rng_below(&rng, run->n_keys), &s, err, sizeof(err));
        bench_hist_add(h, bench_now_ns() - t1);
    }
    run->res->seconds = (double)(bench_now_ns() - t_start) / 1e9;
    run->res->ops = done;
    run->res->checksum += s.sum;
    if (rc)
        bench_fmt(run->res->error, sizeof(run->res->error), "%s", err);
    run->store->a->reader_close(r);
    cold_finish(run, done + 1, rb0, majflt0);
    return rc;
}

typedef struct first_key {
    sink s;
    uint64_t t0, first_ns;
} first_key;

static int first_visit(void *ctx, const void *key, size_t key_len, const void *val,
                       size_t val_len)
{
    first_key *f = ctx;

    if (!f->first_ns)
        f->first_ns = bench_now_ns() - f->t0;
    return scan_visit(&f->s, key, key_len, val, val_len);
}

static int w_cold_scan(bench_run *run, bench_hist *h)
{
    first_key f = {{0, 0}, 0, 0};
    bench_reader *r = NULL;
    uint64_t t_start;
    double rb0;
    long majflt0;
    size_t seen;
    int rc;

    (void)h;
    if (cold_open(run, &f.t0, &rb0, &majflt0))
        return -1;
    if (run->store->a->reader_open(run->store, &r))
        return fail_store(run, "reader_open");
    t_start = bench_now_ns();
    rc = run->store->a->scan(r, "", 0, SIZE_MAX, first_visit, &f, &seen);
    run->res->seconds = (double)(bench_now_ns() - t_start) / 1e9;
    run->res->ttfk_ns = (double)f.first_ns;
    run->res->ops = seen;
    run->res->checksum += f.s.sum;
    if (rc)
        bench_fmt(run->res->error, sizeof(run->res->error), "scan: %s", r->err);
    else if (seen != run->n_keys)
        rc = fail_msg(run, "cold scan saw fewer keys than were loaded");
    run->store->a->reader_close(r);
    cold_finish(run, seen, rb0, majflt0);
    return rc;
}

/* ---------------------------------------------------------------- table */

#define YCSB(x, d, dn, desc)                                                        \
    {"ycsb-" #x "-" dn, "op", desc, WL_WRITES, w_ycsb, #x[0], d, 1}

const bench_workload bench_workloads[] = {
    {"load-sorted", "key", "bulk insert in key order, one commit per batch", WL_LOAD, w_load_sorted,
     0, DIST_UNIFORM, 1},
    {"load-random", "key", "bulk insert in random order, one commit per batch", WL_LOAD,
     w_load_random, 0, DIST_UNIFORM, 1},
    YCSB(a, DIST_ZIPF, "zipf", "50% read, 50% update (zipfian)"),
    YCSB(b, DIST_ZIPF, "zipf", "95% read, 5% update (zipfian)"),
    {"ycsb-c-zipf", "op", "100% read (zipfian)", 0, w_ycsb, 'c', DIST_ZIPF, 1},
    YCSB(d, DIST_LATEST, "latest", "95% read latest, 5% insert"),
    YCSB(e, DIST_ZIPF, "zipf", "95% scan of 1-100 keys, 5% insert (zipfian)"),
    YCSB(f, DIST_ZIPF, "zipf", "50% read, 50% read-modify-write (zipfian)"),
    YCSB(a, DIST_UNIFORM, "unif", "50% read, 50% update (uniform)"),
    YCSB(b, DIST_UNIFORM, "unif", "95% read, 5% update (uniform)"),
    {"ycsb-c-unif", "op", "100% read (uniform)", 0, w_ycsb, 'c', DIST_UNIFORM, 1},
    YCSB(d, DIST_UNIFORM, "unif", "95% read, 5% insert (uniform)"),
    YCSB(e, DIST_UNIFORM, "unif", "95% scan of 1-100 keys, 5% insert (uniform)"),
    YCSB(f, DIST_UNIFORM, "unif", "50% read, 50% read-modify-write (uniform)"),
    {"point-1t", "op", "warm uniform point reads, 1 thread", 0, w_point, 0, DIST_UNIFORM, 1},
    {"point-2t", "op", "warm uniform point reads, T threads", 0, w_point, 0, DIST_UNIFORM, 0},
    {"scan-1t", "scan", "warm scans of L keys from uniform starts, 1 thread", 0, w_scan, 0,
     DIST_UNIFORM, 1},
    {"scan-2t", "scan", "warm scans of L keys from uniform starts, T threads", 0, w_scan, 0,
     DIST_UNIFORM, 0},
    {"scan-full", "key", "warm full forward scans, 1 thread (latency = one scan)", 0,
     w_scan_full, 0, DIST_UNIFORM, 1},
    {"commit-small", "commit", "one updated key per durable commit: the first W after the load",
     WL_WRITES | WL_UNCAPPED, w_commit_small, 0, DIST_UNIFORM, 1},
    {"commit-later", "commit", "one updated key per durable commit: after W untimed ones",
     WL_WRITES, w_commit_later, 0, DIST_UNIFORM, 1},
    {"cold-get", "op", "fresh process, caches dropped: first key, then reads of 2% of the keys",
     WL_COLD,
     w_cold_get, 0, DIST_UNIFORM, 1},
    {"cold-scan", "key", "fresh process, caches dropped: one full scan", WL_COLD, w_cold_scan, 0,
     DIST_UNIFORM, 1},
    {NULL, NULL, NULL, 0, NULL, 0, DIST_UNIFORM, 0},
};

const bench_workload *bench_workload_find(const char *name)
{
    for (const bench_workload *w = bench_workloads; w->name; w++)
        if (strcmp(w->name, name) == 0)
            return w;
    return NULL;
}
