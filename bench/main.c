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
 * The order of a run: first one template per configuration, untimed, in a
 * child each (--template: sorted = key order in commits of up to
 * TEMPLATE_BATCH keys, compact, no history; aged = random order in durable
 * commits of --batch keys, then update/delete commits), then settled. Then
 * the timed runs, workload by workload: for each workload, --repeat rounds,
 * and in each round every selected configuration once, in table order in
 * odd rounds and in reverse order in even rounds (A B B A ...), so that a
 * configuration and its baseline are measured close together and drift on a
 * busy machine falls on both sides alike. Ratios are paired per round
 * (report.c): round k of a configuration over round k of its baseline; the
 * row shows their median, min and max.
 *
 * Every timed run is a forked child: fresh process caches, its own peak RSS
 * (wait4's rusage), its own /proc/self/io, its own memory sampler. The
 * child sends its row back through a pipe; a child that fails, crashes or
 * times out becomes an error row and the run goes on. Read-only runs open
 * the template in place, writing runs open a copy of it (removed right
 * after the run: an aged store can be gigabytes), load runs start empty; a
 * configuration that keeps nothing on disk (mem) builds its template inside
 * each run, untimed.
 * A configuration whose first open fails is reported "unavailable" with the
 * engine's message, and the run goes on with the others.
 *
 * S3 configurations (configs.c) run only when the environment names an S3
 * service (CAIRN_S3_BUCKET, AWS_ENDPOINT_URL); otherwise they are left out
 * with a one-line note. After the workloads, the S3 section (s3.c) probes
 * each of them on its template, and is printed after the table and
 * written to s3.json.
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

/* keys per commit of the sorted template */
#define TEMPLATE_BATCH 100000

typedef struct cli {
    bench_params p;
    const char *out;
    const char *dir;
    const char *configs;   /* comma list, NULL: all */
    const char *workloads; /* comma list, NULL: all */
    bool keep, no_plots, list, strict;
    const char *serve_spec; /* --serve: cairn serve against redis-server instead */
    const char *serve_opts; /* --serve-opts */
    uint64_t serve_requests; /* --ops given: redis-benchmark requests per run */
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
            "  --quick            small sizes, to check the plumbing: every configuration\n"
            "                     and workload, two rounds, in a few minutes on 2 cores\n"
            "  --out DIR          results, table and plots (default bench-out)\n"
            "  --dir DIR          where the data goes (default a temp dir under /tmp)\n"
            "  --configs a,b      configurations to run (default all; see --list)\n"
            "  --workloads x,y    workloads to run (default all; a trailing * matches a prefix)\n"
            "  --keys N           keys loaded (default 1M, quick 10k; suffixes k, M, G)\n"
            "  --large            --keys 10M\n"
            "  --template T       what the non-load workloads start from: sorted (key order,\n"
            "                     compact, no history; default) or aged (random order in\n"
            "                     commits of --batch keys, then update/delete commits);\n"
            "                     aged-gc (aged, then each engine gives back what old\n"
            "                     versions hold: cairn gc keeping the head, RocksDB a full\n"
            "                     compaction, SQLite VACUUM)\n"
            "  --batch B          keys per durable commit when loading (default 10000,\n"
            "                     quick 1000)\n"
            "  --age-commits C    update/delete commits of the aged template (default\n"
            "                     keys/batch)\n"
            "  --repeat R         rounds: timed runs per (workload, configuration), the\n"
            "                     configurations in alternating order (default 3, quick 2)\n"
            "  --max-seconds S    a timed section stops after S seconds (default 2, quick\n"
            "                     0.1) once it did --min-ops operations\n"
            "  --min-ops N        operations a timed section does at least, up to 5 x\n"
            "                     --max-seconds (default 2000, quick 50)\n"
            "  --ops N            at most N operations per YCSB workload (default 10M)\n"
            "  --read-ops N       at most N operations per warm read workload (default\n"
            "                     100M; scans do a quarter of that; cold-get does keys/50,\n"
            "                     at least 200, so that it stays cold)\n"
            "  --commit-window N  commits of commit-small (right after the load), and the\n"
            "                     untimed commits before commit-later (default 2000, quick 50)\n"
            "  --commits N        at most N commits of commit-later (default 1M)\n"
            "  --threads T        threads of point-2t and scan-2t (default 2)\n"
            "  --value-size V     bytes per value (default 100)\n"
            "  --scan-len L       keys per scan of scan-1t/scan-2t (default 100)\n"
            "  --seed S           PRNG seed (default 42)\n"
            "  --timeout SEC      kill a run after SEC seconds, a template build after\n"
            "                     4 x SEC (default 900, quick 60)\n"
            "  --keep             keep the data directory\n"
            "  --no-plots         do not run gnuplot\n"
            "  --strict           exit 1 if any run failed (unavailable and skipped are fine)\n"
            "  --list             list configurations and workloads, then exit\n"
            "  --serve SPEC       instead of the workloads: cairn serve against redis-server\n"
            "                     (bench/serve.sh) on --keys keys of --value-size bytes,\n"
            "                     SPEC the stack served ({dir}: a data directory, e.g.\n"
            "                     lmdb:{dir}/data); --threads server threads, --ops\n"
            "                     redis-benchmark requests per run; results in OUT/serve\n"
            "  --serve-opts 'O'   more options of cairn serve (e.g. '--cache 32M')\n");
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
    else if (*end == 'g' || *end == 'G')
        v *= 1000000000, end++;
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
           O_KEEP, O_NOPLOTS, O_STRICT, O_REPEAT, O_LIST, O_HELP, O_LARGE, O_TEMPLATE,
           O_MINOPS, O_WINDOW, O_AGE, O_SERVE, O_SERVE_OPTS };
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
        {"large", no_argument, NULL, O_LARGE},
        {"template", required_argument, NULL, O_TEMPLATE},
        {"min-ops", required_argument, NULL, O_MINOPS},
        {"commit-window", required_argument, NULL, O_WINDOW},
        {"age-commits", required_argument, NULL, O_AGE},
        {"list", no_argument, NULL, O_LIST},
        {"serve", required_argument, NULL, O_SERVE},
        {"serve-opts", required_argument, NULL, O_SERVE_OPTS},
        {"help", no_argument, NULL, O_HELP}, {NULL, 0, NULL, 0}};
    uint64_t keys = 0, ops = 0, read_ops = 0, commits = 0, timeout = 0, batch = 0;
    uint64_t min_ops = 0, window = 0, age = 0, repeat = 0;
    double max_seconds = 0;
    char *end;
    int o;

    memset(c, 0, sizeof(*c));
    c->out = "bench-out";
    c->p.threads = 2;
    c->p.tpl = TPL_SORTED;
    c->p.value_size = 100;
    c->p.scan_len = 100;
    c->p.seed = 42;
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
        case O_BATCH: batch = num(optarg, "--batch"); break;
        case O_COMMITS: commits = num(optarg, "--commits"); break;
        case O_THREADS: c->p.threads = (unsigned)num(optarg, "--threads"); break;
        case O_VSIZE: c->p.value_size = (size_t)num(optarg, "--value-size"); break;
        case O_SCANLEN: c->p.scan_len = (size_t)num(optarg, "--scan-len"); break;
        case O_SEED: c->p.seed = num(optarg, "--seed"); break;
        case O_TIMEOUT: timeout = num(optarg, "--timeout"); break;
        case O_KEEP: c->keep = true; break;
        case O_NOPLOTS: c->no_plots = true; break;
        case O_STRICT: c->strict = true; break;
        case O_REPEAT: repeat = num(optarg, "--repeat"); break;
        case O_LARGE: keys = 10000000; break;
        case O_TEMPLATE:
            if (strcmp(optarg, "sorted") == 0) {
                c->p.tpl = TPL_SORTED;
            } else if (strcmp(optarg, "aged") == 0) {
                c->p.tpl = TPL_AGED;
            } else if (strcmp(optarg, "aged-gc") == 0) {
                c->p.tpl = TPL_AGED_GC;
            } else {
                fprintf(stderr, "cairn-bench: --template is sorted, aged or aged-gc, not '%s'\n",
                        optarg);
                exit(2);
            }
            break;
        case O_MINOPS: min_ops = num(optarg, "--min-ops"); break;
        case O_WINDOW: window = num(optarg, "--commit-window"); break;
        case O_AGE: age = num(optarg, "--age-commits"); break;
        case O_LIST: c->list = true; break;
        case O_SERVE: c->serve_spec = optarg; break;
        case O_SERVE_OPTS: c->serve_opts = optarg; break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
    c->p.keys = keys ? keys : c->p.quick ? 10000 : 1000000;
    c->p.batch = batch ? batch : c->p.quick ? 1000 : 10000;
    c->p.ops = ops ? ops : c->p.quick ? 2000 : 10000000;
    c->serve_requests = ops ? ops : c->p.quick ? 20000 : 1000000;
    c->p.read_ops = read_ops ? read_ops : c->p.quick ? 200000 : 100000000;
    c->p.min_ops = min_ops ? min_ops : c->p.quick ? 50 : 2000;
    c->p.commits = commits ? commits : c->p.quick ? 300 : 1000000;
    c->p.commit_window = window ? window : c->p.quick ? 50 : 2000;
    c->p.age_commits = age ? age : c->p.keys / c->p.batch ? c->p.keys / c->p.batch : 1;
    c->p.repeat = (unsigned)(repeat ? repeat : c->p.quick ? 2 : 3);
    c->p.max_seconds = max_seconds > 0 ? max_seconds : c->p.quick ? 0.1 : 2.0;
    c->p.timeout = (unsigned)(timeout ? timeout : c->p.quick ? 60 : 900);
    if (c->p.value_size > (64u << 20) || c->p.threads > 64 || c->p.repeat > BENCH_MAX_ROUNDS) {
        fprintf(stderr, "cairn-bench: --value-size, --threads or --repeat (at most %d) out"
                        " of range\n", BENCH_MAX_ROUNDS);
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
    bool prepare;          /* the untimed template build, then settle */
    unsigned round, slot;  /* where this run sits in the schedule */
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

/* Builds the store the non-load workloads start from, untimed, as
 * --template says: sorted loads every key in key order in commits of up
 * to TEMPLATE_BATCH keys (compact, little history); aged loads them in
 * random order in commits of --batch keys, then ages the store
 * (bench_age: update and delete commits). */
static int build_template(bench_run *run)
{
    bench_params big = *run->p;
    const bench_params *saved = run->p;
    int rc;

    if (run->p->tpl == TPL_AGED || run->p->tpl == TPL_AGED_GC) {
        if ((rc = bench_load(run, run->p->keys, false, NULL)) || (rc = bench_age(run)))
            return rc;
        /* "after gc": each engine gives back what old versions hold */
        if (run->p->tpl == TPL_AGED_GC && run->store->a->reclaim &&
            (rc = run->store->a->reclaim(run->store)))
            bench_fmt(run->res->error, sizeof(run->res->error), "reclaim: %s",
                      run->store->err);
        return rc;
    }
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
        fprintf(stderr, "trace: %s on %s (round %u): %s %.3f s\n",
                j->prepare ? "template" : j->w->name, j->cfg->name, j->round, phase,
                (double)(now - *t) / 1e9);
    *t = now;
}

/* Runs one job in this (child) process. Returns the row. */
static void run_job(const job *j, bench_result *res, bench_hist *h)
{
    bool on_disk = bench_spec_on_disk(j->cfg->spec);
    bool load = (j->w->flags & WL_LOAD) || j->prepare;
    const char *dir = j->run_dir;
    bench_counters c1 = {0, 0, 0};
    bench_run run;
    double rb1, wb1, live;
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
    /* an S3 or Redis reader keeps nothing in {dir}: make it, for disk usage */
    if ((bench_spec_remote(j->cfg->spec) || bench_spec_redis(j->cfg->spec)) &&
        bench_mkdirs(dir)) {
        bench_fmt(res->error, sizeof(res->error), "mkdir %s: %s", dir, strerror(errno));
        return;
    }
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
            rc = build_template(&run);
            res->commits = res->keys_written = 0;
            if (rc)
                goto out;
        }
        /* A writing run on S3 starts from a fresh, empty prefix: an
         * untimed sync fills it from the copy of the template (a catch-up
         * by diff), so the timed section starts from the template there
         * too (configs.c, "S3"). */
        if (!load && (j->w->flags & WL_WRITES) && bench_spec_remote(j->cfg->spec) &&
            run.store->a->sync(run.store)) {
            bench_fmt(res->error, sizeof(res->error), "sync before the run: %s",
                      run.store->err);
            goto out;
        }
        if (!load && bench_warm(&run))
            goto out;
        trace(j, "load/warm-up", &t);
    }
    bench_run_mark(&run);
    bench_mem_start();
    if (j->prepare) {
        rc = build_template(&run);
    } else {
        rc = j->w->run(&run, h);
        if (!rc && run.store && res->commits && run.store->a->counters &&
            run.store->a->counters(run.store, &c1) == 0) {
            res->blobs_per_commit =
                (double)(c1.slow_puts - run.c0.slow_puts) / (double)res->commits;
            res->bytes_per_commit =
                (double)(c1.slow_put_bytes - run.c0.slow_put_bytes) / (double)res->commits;
        }
    }
    bench_mem_stop(res);
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
    if (res->keys_written && run.wb0 >= 0 && on_disk) {
        res->bytes_written = wb1 - run.wb0;
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
            run.store->a->settle(run.store, j->p->tpl == TPL_SORTED);
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
    res->round = j->round;
    res->slot = j->slot;
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
        static bench_result out;
        const char *p = (const char *)&out;
        size_t left = sizeof(out);

        close(fds[0]);
        signal(SIGINT, SIG_DFL);
        alarm(j->prepare ? 4 * j->p->timeout : j->p->timeout);
        bench_result_init(&out, j->w->name, j->cfg->name);
        out.round = j->round;
        out.slot = j->slot;
        out.status = ST_ERROR;
        run_job(j, &out, &h);
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
    /* read first (the row may be larger than the pipe's buffer), then reap */
    for (n = 0; n < (ssize_t)sizeof(got);) {
        ssize_t r = read(fds[0], (char *)&got + n, sizeof(got) - (size_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += r;
    }
    close(fds[0]);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
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

static void progress(size_t done, size_t total, const char *w, const char *c, unsigned round)
{
    if (!isatty(STDERR_FILENO))
        return;
    if (w)
        fprintf(stderr, "\r\033[K[%3zu/%zu] %s on %s, round %u", done + 1, total, w, c, round);
    else
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* What the harness knows about one selected configuration. */
typedef struct cstate {
    const bench_config *cfg;
    char base[4096];          /* ROOT/<index> */
    char tpl[4096];           /* ROOT/<index>/template */
    bool on_disk, have_tpl;
    char unavailable[384];    /* why it cannot be opened ("": it can) */
    char tpl_error[400];      /* why its template could not be built */
    bench_result tpl_row;     /* the template build (time, disk usage) */
} cstate;

static bool runs_workload(const cli *c, const cstate *cs, const bench_workload *w)
{
    return in_list(c->workloads, w->name) && (!cs->cfg->only || in_list(cs->cfg->only, w->name));
}

static void add_skip(rows *out, const bench_workload *w, const bench_config *cfg, int status,
                     const char *why)
{
    bench_result *res = add_row(out);

    bench_result_init(res, w->name, cfg->name);
    res->status = status;
    bench_fmt(res->error, sizeof(res->error), "%s", why);
}

/* Builds cs's template (untimed, in a child) if a selected workload needs
 * one. */
static void prepare_config(const cli *c, cstate *cs)
{
    bool needed = false;
    char tpl_tmp[4096];
    job pj;

    for (const bench_workload *w = bench_workloads; w->name; w++)
        needed |= runs_workload(c, cs, w) && !(w->flags & WL_LOAD);
    needed |= bench_spec_remote(cs->cfg->spec); /* the S3 section reads it */
    if (!needed || !cs->on_disk)
        return;
    bench_fmt(tpl_tmp, sizeof(tpl_tmp), "%s/template-tmp", cs->base);
    memset(&pj, 0, sizeof(pj));
    pj.p = &c->p;
    pj.w = bench_workload_find("load-random");
    pj.cfg = cs->cfg;
    pj.tpl = cs->tpl;
    pj.run_dir = cs->tpl;
    pj.tmp_dir = tpl_tmp;
    pj.prepare = true;
    run_child(&pj, &cs->tpl_row);
    if (cs->tpl_row.status == ST_OK)
        cs->have_tpl = true;
    else if (cs->tpl_row.status == ST_UNAVAILABLE)
        bench_copy(cs->unavailable, sizeof(cs->unavailable), cs->tpl_row.error);
    else
        bench_fmt(cs->tpl_error, sizeof(cs->tpl_error), "building the %s template: %s",
                  bench_template_name(c->p.tpl), cs->tpl_row.error);
    if (getenv("CAIRN_BENCH_TRACE"))
        fprintf(stderr, "trace: template on %s: %.1f s, %.1f B/key on disk\n", cs->cfg->name,
                cs->tpl_row.child_seconds, cs->tpl_row.bytes_on_disk_per_key);
}

static int cmp_rate(const void *a, const void *b)
{
    const bench_result *x = a, *y = b;

    return (x->ops_per_s > y->ops_per_s) - (x->ops_per_s < y->ops_per_s);
}

/* Folds the rounds of one (workload, configuration) into one row: the run
 * with the median ops/s (of those that succeeded) with every round's ops/s
 * beside it; the first failure makes the row an error. */
static void fold_rounds(const bench_result *runs, unsigned n, bench_result *row)
{
    bench_result ok[BENCH_MAX_ROUNDS];
    unsigned n_ok = 0, first_bad = n;

    for (unsigned k = 0; k < n; k++) {
        if (runs[k].status == ST_OK)
            ok[n_ok++] = runs[k];
        else if (first_bad == n)
            first_bad = k;
    }
    if (n_ok) {
        qsort(ok, n_ok, sizeof(ok[0]), cmp_rate);
        *row = ok[(n_ok - 1) / 2];
    } else {
        *row = runs[0];
    }
    if (first_bad < n && n_ok) {
        row->status = runs[first_bad].status;
        bench_fmt(row->error, sizeof(row->error), "round %u: %s", first_bad + 1,
                  runs[first_bad].error);
    }
    row->rounds = n;
    for (unsigned k = 0; k < BENCH_MAX_ROUNDS; k++) {
        row->round_ops_per_s[k] = k < n && runs[k].status == ST_OK ? runs[k].ops_per_s : -1;
        row->round_slot[k] = k < n ? runs[k].slot : 0;
    }
}

/* Runs workload w on every selected configuration, round by round: the
 * configurations run in table order in odd rounds and in reverse order in
 * even ones (A B B A ...), each run in its own child on its own copy. */
static void run_workload(const cli *c, const bench_workload *w, cstate *cs, size_t n_cs,
                         const char *root, rows *out, size_t *done, size_t total)
{
    static bench_result runs[64][BENCH_MAX_ROUNDS];
    bool active[64];
    char run_dir[4096], tmp_dir[4096], wl_dir[4096];

    bench_fmt(wl_dir, sizeof(wl_dir), "%s/runs-%s", root, w->name);
    for (size_t i = 0; i < n_cs; i++) {
        active[i] = false;
        if (!runs_workload(c, &cs[i], w))
            continue;
        if (cs[i].unavailable[0])
            add_skip(out, w, cs[i].cfg, ST_UNAVAILABLE, cs[i].unavailable);
        else if ((w->flags & WL_COLD) && !cs[i].on_disk)
            add_skip(out, w, cs[i].cfg, ST_SKIPPED,
                     "in-memory configuration: nothing to read cold");
        else if (cs[i].tpl_error[0] && !(w->flags & WL_LOAD))
            add_skip(out, w, cs[i].cfg, ST_ERROR, cs[i].tpl_error);
        else
            active[i] = true;
    }
    for (size_t i = 0; i < n_cs; i++)
        for (unsigned k = 0; k < BENCH_MAX_ROUNDS; k++)
            bench_result_init(&runs[i][k], w->name, cs[i].cfg->name);
    for (unsigned k = 0; k < c->p.repeat && !interrupted; k++) {
        unsigned slot = 0;
        for (size_t s = 0; s < n_cs && !interrupted; s++) {
            size_t i = k % 2 ? n_cs - 1 - s : s;
            job j;

            if (!active[i])
                continue;
            if (cs[i].unavailable[0]) { /* found out in an earlier round */
                runs[i][k].round = k + 1;
                runs[i][k].status = ST_UNAVAILABLE;
                bench_copy(runs[i][k].error, sizeof(runs[i][k].error), cs[i].unavailable);
                continue;
            }
            progress((*done)++, total, w->name, cs[i].cfg->name, k + 1);
            bench_fmt(run_dir, sizeof(run_dir), "%s/%zu.%u", wl_dir,
                      (size_t)(cs[i].cfg - bench_configs), k + 1);
            bench_fmt(tmp_dir, sizeof(tmp_dir), "%s-tmp", run_dir);
            if (bench_mkdirs(wl_dir)) {
                bench_result_init(&runs[i][k], w->name, cs[i].cfg->name);
                bench_fmt(runs[i][k].error, sizeof(runs[i][k].error), "mkdir %s: %s", wl_dir,
                          strerror(errno));
                runs[i][k].status = ST_ERROR;
                continue;
            }
            memset(&j, 0, sizeof(j));
            j.p = &c->p;
            j.w = w;
            j.cfg = cs[i].cfg;
            j.tpl = cs[i].tpl;
            j.run_dir = run_dir;
            j.tmp_dir = tmp_dir;
            j.round = k + 1;
            j.slot = ++slot;
            run_child(&j, &runs[i][k]);
            if (runs[i][k].status == ST_UNAVAILABLE)
                bench_copy(cs[i].unavailable, sizeof(cs[i].unavailable), runs[i][k].error);
            /* A copy of an aged store can be gigabytes: remove it now
             * (measured: also cheaper than removing a workload's copies
             * together at its end). */
            if (!c->keep) {
                uint64_t t = bench_now_ns();
                bench_rmtree(run_dir);
                bench_rmtree(tmp_dir);
                if (getenv("CAIRN_BENCH_TRACE"))
                    fprintf(stderr, "trace: %s on %s (round %u): remove %.3f s, child %.3f s\n",
                            w->name, cs[i].cfg->name, k + 1, (double)(bench_now_ns() - t) / 1e9,
                            runs[i][k].child_seconds);
            }
        }
    }
    for (size_t i = 0; i < n_cs; i++) {
        unsigned n = c->p.repeat;
        if (!active[i])
            continue;
        if (interrupted)
            for (n = 0; n < c->p.repeat && runs[i][n].round; n++)
                ;
        if (n)
            fold_rounds(runs[i], n, add_row(out));
    }
    if (!c->keep) {
        uint64_t t = bench_now_ns();
        bench_rmtree(wl_dir);
        sync();
        if (getenv("CAIRN_BENCH_TRACE"))
            fprintf(stderr, "trace: %s: remove and sync %.3f s\n", w->name,
                    (double)(bench_now_ns() - t) / 1e9);
    }
}

/* --serve: runs bench/serve.sh, which loads the same data into a cairn
 * store and a redis-server and runs redis-benchmark against cairn serve
 * and the server side by side; its report is the result. The cairn
 * command is the one built next to this program. Does not return. */
static void run_serve(const cli *c)
{
    char self[4096], cairn[4200], out[4200], keys[32], vsize[32], threads[32], requests[32];
    const char *script = CAIRN_BENCH_SOURCE_DIR "/serve.sh";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0) {
        fprintf(stderr, "cairn-bench: cannot find this program: %s\n", strerror(errno));
        exit(1);
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    bench_fmt(cairn, sizeof(cairn), "%s/cairn", self);
    bench_fmt(out, sizeof(out), "%s/serve", c->out);
    bench_fmt(keys, sizeof(keys), "%llu", (unsigned long long)c->p.keys);
    bench_fmt(vsize, sizeof(vsize), "%zu", c->p.value_size);
    bench_fmt(threads, sizeof(threads), "%u", c->p.threads);
    bench_fmt(requests, sizeof(requests), "%llu", (unsigned long long)c->serve_requests);
    char *args[] = {"bash", (char *)script, "--keys", keys, "--value-bytes", vsize,
                    "--threads", threads, "--requests", requests,
                    "--spec", (char *)c->serve_spec, "--serve-opts",
                    (char *)(c->serve_opts ? c->serve_opts : ""), "--out", out, cairn, NULL};
    fflush(NULL);
    execvp("bash", args);
    fprintf(stderr, "cairn-bench: cannot run %s: %s\n", script, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    cli c;
    char root[4096], path[4096], plots[1024] = "", no_s3[512] = "", no_redis[512] = "";
    bench_machine m;
    rows out = {NULL, 0, 0};
    static cstate cs[64];
    static bench_s3_row s3_rows[64];
    size_t n_s3 = 0;
    size_t total = 0, done = 0, n_cs = 0, n_wl = 0, failed = 0;
    uint64_t t0 = bench_now_ns();
    double seconds;
    FILE *f;

    parse(argc, argv, &c);
    if (c.serve_spec)
        run_serve(&c);
    if (c.list) {
        printf("configurations:\n");
        for (const bench_config *cfg = bench_configs; cfg->name; cfg++)
            printf("  %-18s %-8s %-52s %s%s%s\n", cfg->name,
                   cfg->durability == BENCH_DURABLE ? "durable" : "none", cfg->spec,
                   cfg->durability_desc, cfg->only ? "; runs only " : "",
                   cfg->only ? cfg->only : "");
        printf("workloads:\n");
        for (const bench_workload *w = bench_workloads; w->name; w++)
            printf("  %-18s op = %-7s %s\n", w->name, w->unit, w->desc);
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
    for (const bench_config *cfg = bench_configs; cfg->name && n_cs < 64; cfg++) {
        cstate *x = &cs[n_cs];
        if (!in_list(c.configs, cfg->name))
            continue;
        if (bench_spec_remote(cfg->spec) && !bench_s3_env()) {
            size_t len = strlen(no_s3);
            bench_fmt(no_s3 + len, sizeof(no_s3) - len, "%s%s", len ? ", " : "", cfg->name);
            continue;
        }
        if (bench_spec_redis(cfg->spec) && !bench_redis_env()) {
            size_t len = strlen(no_redis);
            bench_fmt(no_redis + len, sizeof(no_redis) - len, "%s%s", len ? ", " : "",
                      cfg->name);
            continue;
        }
        memset(x, 0, sizeof(*x));
        x->cfg = cfg;
        x->on_disk = bench_spec_on_disk(cfg->spec);
        bench_fmt(x->base, sizeof(x->base), "%s/%zu", root, (size_t)(cfg - bench_configs));
        bench_fmt(x->tpl, sizeof(x->tpl), "%s/template", x->base);
        if (bench_mkdirs(x->base)) {
            fprintf(stderr, "cairn-bench: cannot create %s: %s\n", x->base, strerror(errno));
            return 1;
        }
        n_cs++;
    }
    if (no_s3[0])
        fprintf(stderr, "cairn-bench: skipping %s: no S3 in the environment (CAIRN_S3_BUCKET,"
                        " AWS_ENDPOINT_URL; bench/s3.sh sets them)\n", no_s3);
    if (no_redis[0])
        fprintf(stderr, "cairn-bench: skipping %s: no Redis in the environment (CAIRN_REDIS_URL;"
                        " scripts/redis-server.sh run sets it)\n", no_redis);
    for (const bench_workload *w = bench_workloads; w->name; w++) {
        size_t k = 0;
        for (size_t i = 0; i < n_cs; i++)
            k += runs_workload(&c, &cs[i], w);
        n_wl += k > 0;
        total += k * c.p.repeat;
    }
    fprintf(stderr,
            "cairn-bench: %zu workloads x %zu configurations x %u rounds, %llu keys, %s"
            " template, data in %s\n",
            n_wl, n_cs, c.p.repeat, (unsigned long long)c.p.keys,
            bench_template_name(c.p.tpl), root);
    /* Templates first, untimed, one configuration after the other; then the
     * timed runs, workload by workload, configurations interleaved. */
    for (size_t i = 0; i < n_cs && !interrupted; i++) {
        progress(0, 0, NULL, NULL, 0);
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\r\033[Kbuilding the %s template of %s", bench_template_name(c.p.tpl),
                    cs[i].cfg->name);
        prepare_config(&c, &cs[i]);
    }
    for (size_t i = 0; i < n_cs; i++) {
        if (!cs[i].tpl_row.workload[0])
            continue; /* none built */
        bench_copy(cs[i].tpl_row.workload, sizeof(cs[i].tpl_row.workload), "template");
        *add_row(&out) = cs[i].tpl_row;
    }
    for (const bench_workload *w = bench_workloads; w->name && !interrupted; w++)
        run_workload(&c, w, cs, n_cs, root, &out, &done, total);
    /* the S3 section: probes on each S3 configuration's template */
    for (size_t i = 0; i < n_cs && !interrupted; i++) {
        if (!bench_spec_remote(cs[i].cfg->spec))
            continue;
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\r\033[KS3 section: %s", cs[i].cfg->name);
        bench_fmt(path, sizeof(path), "%s/s3-probe", cs[i].base);
        if (cs[i].have_tpl) {
            bench_s3_measure(&c.p, cs[i].cfg, cs[i].tpl, path, &s3_rows[n_s3++]);
        } else {
            memset(&s3_rows[n_s3], 0, sizeof(s3_rows[n_s3]));
            bench_copy(s3_rows[n_s3].config, sizeof(s3_rows[n_s3].config), cs[i].cfg->name);
            bench_fmt(s3_rows[n_s3].error, sizeof(s3_rows[n_s3].error), "no template: %s",
                      cs[i].unavailable[0] ? cs[i].unavailable : cs[i].tpl_error);
            n_s3++;
        }
    }
    progress(0, 0, NULL, NULL, 0);
    seconds = (double)(bench_now_ns() - t0) / 1e9;
    if (!c.keep)
        bench_rmtree(root);

    bench_compute_ratios(out.v, out.n);
    bench_report_table(stdout, &c.p, &m, out.v, out.n);
    bench_s3_report(stdout, s3_rows, n_s3);
    snprintf(path, sizeof(path), "%s/table.txt", c.out);
    if ((f = fopen(path, "w"))) {
        bench_report_table(f, &c.p, &m, out.v, out.n);
        bench_s3_report(f, s3_rows, n_s3);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/s3.json", c.out);
    if (n_s3 && bench_s3_json(path, s3_rows, n_s3))
        fprintf(stderr, "cairn-bench: cannot write %s: %s\n", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/results.json", c.out);
    if (bench_report_json(path, &c.p, &m, out.v, out.n, seconds))
        fprintf(stderr, "cairn-bench: cannot write %s: %s\n", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/results.csv", c.out);
    if (bench_report_csv(path, &c.p, out.v, out.n))
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
        printf("%zu row%s failed (ERROR rows above)\n", failed, failed == 1 ? "" : "s");
    free(out.v);
    return interrupted ? 130 : c.strict && failed ? 1 : 0;
}
