/*
 * main.c - cairn-bench: runs named workloads against named configurations
 * of cairn and its peers (raw LMDB, RocksDB, SQLite) in one run, and writes
 * a table to the terminal plus results.json, results.csv, table.txt and
 * gnuplot plots (SVG and PNG) into --out DIR.
 *
 *   cairn-bench [--quick] [--out DIR] [--configs a,b] [--workloads x,y] ...
 *   cairn-bench --list
 *
 * docs/benchmarks.md explains the workloads, the columns, the durability
 * classes and how to read the results; --help lists the flags.
 *
 * Every (workload, configuration) pair runs in a forked child: fresh
 * process caches, its own peak RSS (wait4's rusage), its own /proc/self/io.
 * The child sends its row back through a pipe; a child that fails, crashes
 * or times out becomes an error row and the run goes on.
 *
 * Data layout under the data root (--dir, default a new /tmp/cairn-bench-*,
 * removed at the end): per configuration one template, loaded once, untimed,
 * in key order in commits of up to TEMPLATE_BATCH keys (so every engine
 * starts from a compact store with little history), then settled; read-only
 * runs open the template in place, writing runs open a copy of it, load
 * runs start empty.
 * A configuration whose first open fails is reported "unavailable" with the
 * engine's message, and the run goes on with the others.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define TEMPLATE_BATCH 100000

typedef struct cli {
    bench_params p;
    const char *out;
    const char *dir;
    const char *configs;   /* comma list, NULL: all */
    const char *workloads; /* comma list, NULL: all */
    bool keep, no_plots, list, strict;
    unsigned repeat;       /* runs per (workload, configuration); the median is kept */
} cli;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn-bench [options]\n"
            "  --quick            small sizes: the whole run in under a minute on 2 cores\n"
            "  --out DIR          results, table and plots (default bench-out)\n"
            "  --dir DIR          where the data goes (default a temp dir under /tmp)\n"
            "  --configs a,b      configurations to run (default all but on-request ones; see --list)\n"
            "  --workloads x,y    workloads to run (default all but on-request ones; a trailing * matches a prefix)\n"
            "  --keys N           keys loaded (default 100000, quick 20000)\n"
            "  --ops N            operations per YCSB workload (default 50000, quick 2000)\n"
            "  --read-ops N       operations per warm read workload (default 2000000,\n"
            "                     quick 200000; scans do a quarter of that; cold-get does\n"
            "                     keys/50, at least 200, so that it stays cold)\n"
            "  --max-seconds S    stop a timed section after S seconds (default 0.75,\n"
            "                     quick 0.15); the ops done so far count\n"
            "  --batch B          keys per commit when loading (default 1000)\n"
            "  --commits N        commits of commit-small (default 10000, quick 300)\n"
            "  --threads T        threads of point-2t and scan-2t (default 2)\n"
            "  --value-size V     bytes per value (default 100)\n"
            "  --scan-len L       keys per scan of scan-1t/scan-2t (default 100)\n"
            "  --seed S           PRNG seed (default 42)\n"
            "  --timeout SEC      kill a run after SEC seconds (default 600, quick 60)\n"
            "  --keep             keep the data directory\n"
            "  --no-plots         do not run gnuplot\n"
            "  --strict           exit 1 if any run failed (unavailable and skipped are fine)\n"
            "  --repeat R         run each pair R times and keep the run with the median\n"
            "                     ops/s (default 1)\n"
            "  --list             list configurations and workloads, then exit\n");
}

static bool in_list(const char *list, const char *name)
{
    size_t name_len = strlen(name);

    if (!list)
        return true;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n && p[n - 1] == '*' ? strncmp(p, name, n - 1) == 0
                                 : n == name_len && strncmp(p, name, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* Checks that every name in list is known. */
/* Whether cfg runs: named (or matched) by --configs, or, with no list, any
 * configuration not marked on_request. */
static bool config_selected(const char *list, const bench_config *cfg)
{
    return list ? in_list(list, cfg->name) : !cfg->on_request;
}

/* The same for workloads. */
static bool workload_selected(const char *list, const bench_workload *w)
{
    return list ? in_list(list, w->name) : !w->on_request;
}

static int check_names(const char *list, bool configs)
{
    char name[64];

    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (configs)
            for (const bench_config *c = bench_configs; c->name && !found; c++)
                found = in_list(name, c->name);
        else
            for (const bench_workload *w = bench_workloads; w->name && !found; w++)
                found = in_list(name, w->name);
        if (!found && n) {
            fprintf(stderr, "cairn-bench: unknown %s '%s' (see --list)\n",
                    configs ? "configuration" : "workload", name);
            return -1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

static uint64_t num(const char *s, const char *opt)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*end == 'k' || *end == 'K')
        v *= 1000, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1000000, end++;
    if (*end || v == 0) {
        fprintf(stderr, "cairn-bench: %s wants a positive number, not '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv, cli *c)
{
    enum { O_QUICK = 256, O_OUT, O_DIR, O_CONFIGS, O_WORKLOADS, O_KEYS, O_OPS, O_READOPS,
           O_MAXSEC, O_BATCH, O_COMMITS, O_THREADS, O_VSIZE, O_SCANLEN, O_SEED, O_TIMEOUT,
           O_KEEP, O_NOPLOTS, O_STRICT, O_REPEAT, O_LIST, O_HELP };
    static const struct option opts[] = {
        {"quick", no_argument, NULL, O_QUICK}, {"out", required_argument, NULL, O_OUT},
        {"dir", required_argument, NULL, O_DIR},
        {"configs", required_argument, NULL, O_CONFIGS},
        {"workloads", required_argument, NULL, O_WORKLOADS},
        {"keys", required_argument, NULL, O_KEYS}, {"ops", required_argument, NULL, O_OPS},
        {"read-ops", required_argument, NULL, O_READOPS},
        {"max-seconds", required_argument, NULL, O_MAXSEC},
        {"batch", required_argument, NULL, O_BATCH},
        {"commits", required_argument, NULL, O_COMMITS},
        {"threads", required_argument, NULL, O_THREADS},
        {"value-size", required_argument, NULL, O_VSIZE},
        {"scan-len", required_argument, NULL, O_SCANLEN},
        {"seed", required_argument, NULL, O_SEED},
        {"timeout", required_argument, NULL, O_TIMEOUT}, {"keep", no_argument, NULL, O_KEEP},
        {"no-plots", no_argument, NULL, O_NOPLOTS}, {"strict", no_argument, NULL, O_STRICT},
        {"repeat", required_argument, NULL, O_REPEAT},
        {"list", no_argument, NULL, O_LIST},
        {"help", no_argument, NULL, O_HELP}, {NULL, 0, NULL, 0}};
    uint64_t keys = 0, ops = 0, read_ops = 0, commits = 0, timeout = 0;
    double max_seconds = 0;
    char *end;
    int o;

    memset(c, 0, sizeof(*c));
    c->out = "bench-out";
    c->p.batch = 1000;
    c->p.threads = 2;
    c->p.value_size = 100;
    c->p.scan_len = 100;
    c->p.seed = 42;
    c->repeat = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_QUICK: c->p.quick = true; break;
        case O_OUT: c->out = optarg; break;
        case O_DIR: c->dir = optarg; break;
        case O_CONFIGS: c->configs = optarg; break;
        case O_WORKLOADS: c->workloads = optarg; break;
        case O_KEYS: keys = num(optarg, "--keys"); break;
        case O_OPS: ops = num(optarg, "--ops"); break;
        case O_READOPS: read_ops = num(optarg, "--read-ops"); break;
        case O_MAXSEC:
            max_seconds = strtod(optarg, &end);
            if (*end || !(max_seconds > 0)) {
                fprintf(stderr, "cairn-bench: --max-seconds wants a positive number\n");
                exit(2);
            }
            break;
        case O_BATCH: c->p.batch = num(optarg, "--batch"); break;
        case O_COMMITS: commits = num(optarg, "--commits"); break;
        case O_THREADS: c->p.threads = (unsigned)num(optarg, "--threads"); break;
        case O_VSIZE: c->p.value_size = (size_t)num(optarg, "--value-size"); break;
        case O_SCANLEN: c->p.scan_len = (size_t)num(optarg, "--scan-len"); break;
        case O_SEED: c->p.seed = num(optarg, "--seed"); break;
        case O_TIMEOUT: timeout = num(optarg, "--timeout"); break;
        case O_KEEP: c->keep = true; break;
        case O_NOPLOTS: c->no_plots = true; break;
        case O_STRICT: c->strict = true; break;
        case O_REPEAT: c->repeat = (unsigned)num(optarg, "--repeat"); break;
        case O_LIST: c->list = true; break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    c->p.keys = keys ? keys : c->p.quick ? 20000 : 100000;
    c->p.ops = ops ? ops : c->p.quick ? 2000 : 50000;
    c->p.read_ops = read_ops ? read_ops : c->p.quick ? 200000 : 2000000;
    c->p.commits = commits ? commits : c->p.quick ? 300 : 10000;
    c->p.max_seconds = max_seconds > 0 ? max_seconds : c->p.quick ? 0.15 : 0.75;
    c->p.timeout = (unsigned)(timeout ? timeout : c->p.quick ? 60 : 600);
    if (c->p.value_size > (64u << 20) || c->p.threads > 64 || c->repeat > 99) {
        fprintf(stderr, "cairn-bench: --value-size, --threads or --repeat out of range\n");
        exit(2);
    }
    if (check_names(c->configs, true) || check_names(c->workloads, false))
        exit(2);
}

/* ---------------------------------------------------------------- child */

typedef struct job {
    const bench_params *p;
    const bench_workload *w;
    const bench_config *cfg;
    const char *tpl;       /* template directory (NULL: none yet) */
    const char *run_dir;   /* fresh directory for this run */
    const char *tmp_dir;   /* fresh scratch directory ({tmp}) */
    bool prepare;          /* the untimed template load, then settle */
} job;

static void finish_row(bench_result *res, const bench_hist *h)
{
    res->p50_ns = bench_hist_quantile(h, 0.50);
    res->p99_ns = bench_hist_quantile(h, 0.99);
    res->p999_ns = bench_hist_quantile(h, 0.999);
    res->lat_count = h->count;
    if (res->seconds > 0)
        res->ops_per_s = (double)res->ops / res->seconds;
}

/* Loads every key the way templates are loaded: in key order, in commits
 * of up to TEMPLATE_BATCH keys. Untimed. */
static int load_template(bench_run *run)
{
    bench_params big = *run->p;
    const bench_params *saved = run->p;
    int rc;

    big.batch = run->p->keys < TEMPLATE_BATCH ? run->p->keys : TEMPLATE_BATCH;
    run->p = &big;
    rc = bench_load(run, saved->keys, true, NULL);
    run->p = saved;
    return rc;
}

/* With CAIRN_BENCH_TRACE set, prints how long each phase of a run took. */
static void trace(const job *j, const char *phase, uint64_t *t)
{
    static int on = -1;
    uint64_t now = bench_now_ns();

    if (on < 0)
        on = getenv("CAIRN_BENCH_TRACE") != NULL;
    if (on)
        fprintf(stderr, "trace: %s on %s: %s %.3f s\n", j->prepare ? "template" : j->w->name,
                j->cfg->name, phase,
                (double)(now - *t) / 1e9);
    *t = now;
}

/* Runs one job in this (child) process. Returns the row. */
static void run_job(const job *j, bench_result *res, bench_hist *h)
{
    bool on_disk = bench_spec_on_disk(j->cfg->spec);
    bool load = (j->w->flags & WL_LOAD) || j->prepare;
    const char *dir = j->run_dir;
    bench_counters c0 = {0, 0, 0}, c1 = {0, 0, 0};
    bench_run run;
    double rb0, wb0, rb1, wb1, live;
    uint64_t t = bench_now_ns();
    int rc;

    memset(&run, 0, sizeof(run));
    run.p = j->p;
    run.w = j->w;
    run.cfg = j->cfg;
    run.res = res;
    if (bench_mkdirs(j->tmp_dir)) {
        bench_fmt(res->error, sizeof(res->error), "mkdir %s: %s", j->tmp_dir, strerror(errno));
        return;
    }
    if (!load && on_disk) {
        if (j->w->flags & WL_WRITES) {
            if (bench_copytree(j->tpl, j->run_dir)) {
                bench_fmt(res->error, sizeof(res->error), "copy %s: %s", j->tpl,
                         strerror(errno));
                return;
            }
            /* Write the copy out now, or the run's first fsync pays for it. */
            sync();
        } else {
            dir = j->tpl;
        }
        run.n_keys = j->p->keys;
        trace(j, "copy", &t);
    }
    run.data_dir = dir;
    if (!(run.spec = bench_expand(j->cfg->spec, dir, j->tmp_dir, j->run_dir))) {
        bench_fmt(res->error, sizeof(res->error), "out of memory");
        return;
    }
    if (!(j->w->flags & WL_COLD)) {
        unsigned flags = load || (j->w->flags & WL_WRITES) ? 0 : BENCH_OPEN_READONLY;
        if (bench_run_open(&run, flags)) {
            res->status = ST_UNAVAILABLE;
            return;
        }
        trace(j, "open", &t);
        if (!on_disk && !load) {
            rc = load_template(&run);
            res->commits = res->keys_written = 0;
            if (rc)
                goto out;
        }
        if (!load && bench_warm(&run))
            goto out;
        trace(j, "load/warm-up", &t);
        if (run.store->a->counters)
            run.store->a->counters(run.store, &c0);
    }
    bench_proc_io(&rb0, &wb0);
    if (j->prepare) {
        rc = load_template(&run);
    } else {
        rc = j->w->run(&run, h);
        if (!rc && run.store && res->commits && run.store->a->counters &&
            run.store->a->counters(run.store, &c1) == 0) {
            res->blobs_per_commit = (double)(c1.slow_puts - c0.slow_puts) / (double)res->commits;
            res->bytes_per_commit =
                (double)(c1.slow_put_bytes - c0.slow_put_bytes) / (double)res->commits;
        }
    }
    trace(j, "run", &t);
    if (rc)
        goto out;
    if (run.store && load && run.store->a->live_bytes &&
        run.store->a->live_bytes(run.store, &live) == 0 && run.n_keys)
        res->live_bytes_per_key = live / (double)run.n_keys;
    if (run.store) {
        run.store->a->close(run.store);
        run.store = NULL;
    }
    trace(j, "close", &t);
    bench_proc_io(&rb1, &wb1);
    if (res->keys_written && wb0 >= 0 && on_disk) {
        res->bytes_written = wb1 - wb0;
        res->bytes_written_per_key = res->bytes_written / (double)res->keys_written;
    }
    res->keys_in_store = run.n_keys;
    if (on_disk) {
        res->bytes_on_disk = bench_disk_usage(dir) + bench_disk_usage(j->tmp_dir);
        if (run.n_keys)
            res->bytes_on_disk_per_key = res->bytes_on_disk / (double)run.n_keys;
    }
    trace(j, "disk usage", &t);
    finish_row(res, h);
    res->status = ST_OK;
    if (j->prepare && run.cfg->adapter->settle) {
        /* untimed: bring the store to its steady state for later runs */
        if (bench_run_open(&run, 0) == 0) {
            run.store->a->settle(run.store);
            run.store->a->close(run.store);
            run.store = NULL;
        }
    }
out:
    if (res->status != ST_OK && !res->error[0])
        bench_copy(res->error, sizeof(res->error), run.store ? run.store->err : "failed");
    if (res->status != ST_OK && res->status != ST_UNAVAILABLE)
        res->status = ST_ERROR;
    if (run.store)
        run.store->a->close(run.store);
    free((char *)run.spec);
}

/* Forks a child for j and waits for its row. */
static void run_child(const job *j, bench_result *res)
{
    int fds[2];
    pid_t pid;
    int status;
    struct rusage ru;
    bench_result got;
    ssize_t n;
    uint64_t t0 = bench_now_ns();

    bench_result_init(res, j->w->name, j->cfg->name);
    if (pipe(fds)) {
        bench_fmt(res->error, sizeof(res->error), "pipe: %s", strerror(errno));
        res->status = ST_ERROR;
        return;
    }
    fflush(NULL);
    if ((pid = fork()) < 0) {
        bench_fmt(res->error, sizeof(res->error), "fork: %s", strerror(errno));
        res->status = ST_ERROR;
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        static bench_hist h;
        bench_result out;

        close(fds[0]);
        signal(SIGINT, SIG_DFL);
        alarm(j->p->timeout);
        bench_result_init(&out, j->w->name, j->cfg->name);
        out.status = ST_ERROR;
        run_job(j, &out, &h);
        if (write(fds[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    n = read(fds[0], &got, sizeof(got));
    close(fds[0]);
    if (n == (ssize_t)sizeof(got)) {
        *res = got;
    } else {
        res->status = ST_ERROR;
        if (WIFSIGNALED(status))
            bench_fmt(res->error, sizeof(res->error), "killed by signal %d (%s)%s",
                     WTERMSIG(status), strsignal(WTERMSIG(status)),
                     WTERMSIG(status) == SIGALRM ? ": timed out" : "");
        else
            bench_fmt(res->error, sizeof(res->error), "exited with status %d, no result",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    res->peak_rss = (double)ru.ru_maxrss * 1024.0;
    res->child_seconds = (double)(bench_now_ns() - t0) / 1e9;
}

/* ---------------------------------------------------------------- run */

typedef struct rows {
    bench_result *v;
    size_t n, cap;
} rows;

static bench_result *add_row(rows *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        bench_result *v = realloc(r->v, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, "cairn-bench: out of memory\n");
            exit(1);
        }
        r->v = v;
        r->cap = cap;
    }
    return &r->v[r->n++];
}

static void progress(size_t done, size_t total, const char *w, const char *c)
{
    if (!isatty(STDERR_FILENO))
        return;
    if (w)
        fprintf(stderr, "\r\033[K[%3zu/%zu] %s on %s", done + 1, total, w, c);
    else
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

static int cmp_rate(const void *a, const void *b)
{
    const bench_result *x = a, *y = b;

    return (x->ops_per_s > y->ops_per_s) - (x->ops_per_s < y->ops_per_s);
}

/* Runs j n times, each in a fresh child on its own copy (directories
 * RUN.k, removed with the rest at the configuration's end), and keeps the
 * run with the median ops/s; a failed run is the answer at once. */
static void run_repeated(const job *j, unsigned n, bench_result *res)
{
    bench_result runs[99];
    char run_dir[4096], tmp_dir[4096];
    job jk = *j;
    unsigned k;

    for (k = 0; k < n && k < 99; k++) {
        if (k) {
            bench_fmt(run_dir, sizeof(run_dir), "%s.%u", j->run_dir, k);
            bench_fmt(tmp_dir, sizeof(tmp_dir), "%s.%u", j->tmp_dir, k);
            jk.run_dir = run_dir;
            jk.tmp_dir = tmp_dir;
        }
        run_child(&jk, &runs[k]);
        if (runs[k].status != ST_OK) {
            *res = runs[k];
            return;
        }
    }
    qsort(runs, k, sizeof(runs[0]), cmp_rate);
    *res = runs[k / 2];
}

static void add_skip(rows *out, const bench_workload *w, const bench_config *cfg, int status,
                     const char *why)
{
    bench_result *res = add_row(out);

    bench_result_init(res, w->name, cfg->name);
    res->status = status;
    bench_fmt(res->error, sizeof(res->error), "%s", why);
}

/* Runs every selected workload on cfg; appends the rows. */
static void run_config(const cli *c, const bench_config *cfg, const char *root, rows *out,
                       size_t *done, size_t total)
{
    char base[4096], tpl[4096], tpl_tmp[4096], run_dir[4096], tmp_dir[4096];
    bool have_tpl = false, on_disk = bench_spec_on_disk(cfg->spec);
    char unavailable[384] = "", tpl_error[400] = "";
    size_t idx = (size_t)(cfg - bench_configs);

    if (snprintf(base, sizeof(base), "%s/%zu", root, idx) >= (int)sizeof(base) - 64 ||
        bench_mkdirs(base))
        return;
    bench_fmt(tpl, sizeof(tpl), "%s/template", base);
    bench_fmt(tpl_tmp, sizeof(tpl_tmp), "%s/template-tmp", base);
    for (const bench_workload *w = bench_workloads; w->name && !interrupted; w++) {
        bench_result *res;
        job j = {&c->p, w, cfg, tpl, run_dir, tmp_dir, false};

        if (!workload_selected(c->workloads, w))
            continue;
        progress((*done)++, total, w->name, cfg->name);
        bench_fmt(run_dir, sizeof(run_dir), "%s/%s", base, w->name);
        bench_fmt(tmp_dir, sizeof(tmp_dir), "%s/%s-tmp", base, w->name);
        if (!unavailable[0] && !(w->flags & WL_LOAD) && on_disk && !have_tpl &&
            !tpl_error[0]) {
            /* an untimed load into the template (no load-random run made one) */
            bench_result prep;
            job pj = j;
            pj.run_dir = tpl;
            pj.tmp_dir = tpl_tmp;
            pj.prepare = true;
            pj.w = bench_workload_find("load-random");
            run_child(&pj, &prep);
            if (prep.status == ST_OK)
                have_tpl = true;
            else if (prep.status == ST_UNAVAILABLE)
                snprintf(unavailable, sizeof(unavailable), "%s", prep.error);
            else
                if (snprintf(tpl_error, sizeof(tpl_error), "loading the data: %s", prep.error) < 0)
                    tpl_error[0] = '?';
        }
        if (unavailable[0]) {
            add_skip(out, w, cfg, ST_UNAVAILABLE, unavailable);
            continue;
        }
        if ((w->flags & WL_COLD) && !on_disk) {
            add_skip(out, w, cfg, ST_SKIPPED, "in-memory configuration: nothing to read cold");
            continue;
        }
        if (tpl_error[0] && !(w->flags & WL_LOAD)) {
            add_skip(out, w, cfg, ST_ERROR, tpl_error);
            continue;
        }
        res = add_row(out);
        run_repeated(&j, c->repeat, res);
        if (res->status == ST_UNAVAILABLE)
            snprintf(unavailable, sizeof(unavailable), "%s", res->error);
    }
    /* Deleting files slows ext4's next file creations for a while (it
     * skips recently deleted inodes), which would penalise the next runs of
     * a tier that creates files; so a configuration's runs are removed
     * together, at its end, and synced. */
    if (!c->keep) {
        bench_rmtree(base);
        sync();
    }
}

int main(int argc, char **argv)
{
    cli c;
    char root[4096], path[4096], plots[1024] = "";
    bench_machine m;
    rows out = {NULL, 0, 0};
    size_t total = 0, done = 0, n_cfg = 0, n_wl = 0, failed = 0;
    uint64_t t0 = bench_now_ns();
    double seconds;
    FILE *f;

    parse(argc, argv, &c);
    if (c.list) {
        printf("configurations:\n");
        for (const bench_config *cfg = bench_configs; cfg->name; cfg++)
            printf("  %-16s %-8s %-52s %s\n", cfg->name,
                   cfg->durability == BENCH_DURABLE ? "durable" : "none", cfg->spec,
                   cfg->durability_desc);
        printf("workloads:\n");
        for (const bench_workload *w = bench_workloads; w->name; w++)
            printf("  %-16s op = %-7s %s\n", w->name, w->unit, w->desc);
        return 0;
    }
    snprintf(root, sizeof(root), "%s/cairn-bench-XXXXXX", c.dir ? c.dir : "/tmp");
    if ((c.dir && bench_mkdirs(c.dir)) || !mkdtemp(root) || bench_mkdirs(c.out)) {
        fprintf(stderr, "cairn-bench: cannot create %s or %s: %s\n", root, c.out,
                strerror(errno));
        return 1;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    bench_machine_info(&m, root);
    for (const bench_config *cfg = bench_configs; cfg->name; cfg++)
        n_cfg += config_selected(c.configs, cfg);
    for (const bench_workload *w = bench_workloads; w->name; w++)
        n_wl += workload_selected(c.workloads, w);
    total = n_cfg * n_wl;
    fprintf(stderr, "cairn-bench: %zu workloads x %zu configurations, %llu keys, data in %s\n",
            n_wl, n_cfg, (unsigned long long)c.p.keys, root);
    for (const bench_config *cfg = bench_configs; cfg->name && !interrupted; cfg++)
        if (config_selected(c.configs, cfg))
            run_config(&c, cfg, root, &out, &done, total);
    progress(0, 0, NULL, NULL);
    seconds = (double)(bench_now_ns() - t0) / 1e9;
    if (!c.keep)
        bench_rmtree(root);

    bench_compute_ratios(out.v, out.n);
    bench_report_table(stdout, &c.p, &m, out.v, out.n);
    snprintf(path, sizeof(path), "%s/table.txt", c.out);
    if ((f = fopen(path, "w"))) {
        bench_report_table(f, &c.p, &m, out.v, out.n);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/results.json", c.out);
    if (bench_report_json(path, &c.p, &m, out.v, out.n, seconds))
        fprintf(stderr, "cairn-bench: cannot write %s: %s\n", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/results.csv", c.out);
    if (bench_report_csv(path, out.v, out.n))
        fprintf(stderr, "cairn-bench: cannot write %s: %s\n", path, strerror(errno));
    if (c.no_plots)
        snprintf(plots, sizeof(plots), "plots: skipped (--no-plots)");
    else
        bench_report_plots(c.out, out.v, out.n, plots, sizeof(plots));
    printf("\n%s\nresults: %s/results.json, %s/results.csv, %s/table.txt\n", plots, c.out,
           c.out, c.out);
    printf("total time: %.1f s%s%s\n", seconds, c.keep ? "; data kept in " : "",
           c.keep ? root : "");
    for (size_t i = 0; i < out.n; i++)
        failed += out.v[i].status == ST_ERROR;
    if (failed)
        printf("%zu run%s failed (ERROR rows above)\n", failed, failed == 1 ? "" : "s");
    free(out.v);
    return interrupted ? 130 : c.strict && failed ? 1 : 0;
}
