/*
 * report.c - what cairn-bench writes: the terminal table (also table.txt),
 * results.json and results.csv. Plots are in plot.c.
 *
 * The table has one block per workload, one line per configuration, and
 * ends with the matrix of ratios to raw LMDB of the same durability class
 * (rows: workloads, columns: configurations). Rows that failed show their
 * error; unavailable configurations are listed once, with the reason.
 *
 * results.json holds the machine, the parameters, the configurations and
 * one object per row; results.csv holds the rows. A number that does not
 * apply is null in JSON, empty in CSV and "-" in the table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cairn.h"

void bench_result_init(bench_result *r, const char *workload, const char *config)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->workload, sizeof(r->workload), "%s", workload);
    snprintf(r->config, sizeof(r->config), "%s", config);
    r->bytes_written = r->bytes_written_per_key = -1;
    r->bytes_on_disk = r->bytes_on_disk_per_key = r->live_bytes_per_key = -1;
    r->child_seconds = -1;
    r->blobs_per_commit = r->bytes_per_commit = -1;
    r->ratio_to_raw_lmdb = -1;
    r->ttfk_ns = r->slow_reads_per_key = r->read_bytes_per_key = r->majflt_per_key = -1;
    r->peak_rss = r->rss_anon = r->rss_file = -1;
    r->threads = 1;
    r->ratio_min = r->ratio_max = -1;
    r->ref2_ratio = r->ref2_min = r->ref2_max = -1;
    for (unsigned k = 0; k < BENCH_MAX_ROUNDS; k++)
        r->round_ops_per_s[k] = r->round_ratio[k] = -1;
}

const char *bench_template_name(bench_template t)
{
    return t == TPL_AGED ? "aged" : t == TPL_AGED_GC ? "aged-gc" : "sorted";
}

static const bench_result *find_row(const bench_result *rows, size_t n, const char *workload,
                                    const char *config)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].workload, workload) == 0 && strcmp(rows[i].config, config) == 0)
            return &rows[i];
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Pairs x's rounds with b's (round k with round k): fills per_round (if
 * not NULL) and the median, min and max of the paired ratios. Returns the
 * number of pairs. */
static unsigned pair_rounds(const bench_result *x, const bench_result *b, double *per_round,
                            double *median, double *min, double *max)
{
    double v[BENCH_MAX_ROUNDS];
    unsigned n = 0;

    *median = *min = *max = -1;
    if (x->status != ST_OK || !b || b->status != ST_OK)
        return 0;
    for (unsigned k = 0; k < x->rounds && k < b->rounds && k < BENCH_MAX_ROUNDS; k++) {
        if (x->round_ops_per_s[k] > 0 && b->round_ops_per_s[k] > 0) {
            v[n] = x->round_ops_per_s[k] / b->round_ops_per_s[k];
            if (per_round)
                per_round[k] = v[n];
            n++;
        }
    }
    if (!n)
        return 0;
    qsort(v, n, sizeof(v[0]), cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *min = v[0];
    *max = v[n - 1];
    return n;
}

void bench_compute_ratios(bench_result *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bench_config *cfg = bench_config_find(rows[i].config);
        const bench_config *base = cfg ? bench_config_baseline(cfg) : NULL;
        const bench_config *ref2 = cfg ? bench_config_ref2(cfg) : NULL;
        bench_result *x = &rows[i];

        if (base) {
            snprintf(x->baseline, sizeof(x->baseline), "%s", base->name);
            x->pairs = pair_rounds(x, find_row(rows, n, x->workload, base->name),
                                   x->round_ratio, &x->ratio_to_raw_lmdb, &x->ratio_min,
                                   &x->ratio_max);
        }
        if (ref2 && find_row(rows, n, x->workload, ref2->name)) {
            snprintf(x->ref2, sizeof(x->ref2), "%s", ref2->name);
            pair_rounds(x, find_row(rows, n, x->workload, ref2->name), NULL, &x->ref2_ratio,
                        &x->ref2_min, &x->ref2_max);
        }
    }
}

/* ---------------------------------------------------------------- table */

static const char *fmt_rate(double v, char *buf, size_t len)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

static const char *fmt_ns(double ns, char *buf, size_t len)
{
    if (ns < 0)
        snprintf(buf, len, "-");
    else if (ns < 1e3)
        snprintf(buf, len, "%.0fns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.1fus", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.2fms", ns / 1e6);
    else
        snprintf(buf, len, "%.2fs", ns / 1e9);
    return buf;
}

static const char *fmt_num(double v, int prec, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.*f", prec, v);
    return buf;
}

static const char *class_of(const char *config)
{
    const bench_config *c = bench_config_find(config);

    return c && c->durability == BENCH_DURABLE ? "durable" : "none";
}

/* The columns after p99.9, which depend on the kind of workload. */
enum { N_EXTRA = 5 };

static void extra_columns(const bench_workload *w, const bench_result *x,
                          const char *head[N_EXTRA], char val[N_EXTRA][24])
{
    bool cold = w->flags & WL_COLD, load = w->flags & WL_LOAD;

    head[0] = cold ? "ttfk" : "wr B/key";
    head[1] = "disk B/key";
    head[2] = cold ? "tier rd/k" : load ? "live B/key" : "blobs/c";
    head[3] = cold ? "rd B/key" : load ? "blobs/c" : "KiB/c";
    head[4] = cold ? "majflt/k" : load ? "KiB/c" : "";
    if (!x)
        return;
    if (cold)
        fmt_ns(x->ttfk_ns, val[0], 24);
    else
        fmt_num(x->bytes_written_per_key, 0, val[0], 24);
    fmt_num(x->bytes_on_disk_per_key, 1, val[1], 24);
    if (cold) {
        fmt_num(x->slow_reads_per_key, 2, val[2], 24);
        fmt_num(x->read_bytes_per_key, 0, val[3], 24);
        fmt_num(x->majflt_per_key, 2, val[4], 24);
    } else {
        double kib = x->bytes_per_commit < 0 ? -1 : x->bytes_per_commit / 1024;
        if (load)
            fmt_num(x->live_bytes_per_key, 1, val[2], 24);
        else
            fmt_num(x->blobs_per_commit, 1, val[2], 24);
        fmt_num(load ? x->blobs_per_commit : kib, 1, val[3], 24);
        if (load)
            fmt_num(kib, 1, val[4], 24);
        else
            val[4][0] = '\0';
    }
}

static const char *fmt_mib(double bytes, char *buf, size_t len)
{
    return fmt_num(bytes < 0 ? -1 : bytes / 1048576.0, 0, buf, len);
}

static const char *fmt_range(double min, double max, char *buf, size_t len)
{
    if (min < 0 || max < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f-%.2f", min, max);
    return buf;
}

static void print_block(FILE *f, const bench_params *p, const bench_workload *w,
                        const bench_result *rows, size_t n)
{
    const char *head[N_EXTRA];
    char val[N_EXTRA][24], a[24], b[24], c[24], d[24], m[3][24], r[24], rg[24], r2[40];
    bool ref2 = false;

    for (size_t i = 0; i < n; i++)
        ref2 |= strcmp(rows[i].workload, w->name) == 0 && rows[i].ref2[0];
    fprintf(f, "\n%s: %s (op = %s", w->name, w->desc, w->unit);
    if (w->flags & WL_LOAD)
        fprintf(f, "; latency = one batch of %llu keys", (unsigned long long)p->batch);
    if (strncmp(w->name, "scan-", 5) == 0 && strcmp(w->name, "scan-full") != 0)
        fprintf(f, " of %zu keys", p->scan_len);
    if (strncmp(w->name, "commit-", 7) == 0)
        fprintf(f, "; W = %llu", (unsigned long long)p->commit_window);
    fprintf(f, ")\n");
    extra_columns(w, NULL, head, val);
    fprintf(f, "  %-18s %-7s %9s %8s %8s %8s %8s %10s %10s %8s %*s %7s %8s %10s %9s %9s%s  %s\n",
            "config", "class", "ops/s", "p50", "p99", "p99.9", head[0], head[1], head[2],
            head[3], head[4][0] ? 8 : 0, head[4], "RSS MiB", "heap MiB", "mapped MiB",
            "x raw-lmdb", "min-max", ref2 ? "  x nordahead (min-max)" : "",
            "ops/s per round (order)");
    for (size_t i = 0; i < n; i++) {
        const bench_result *x = &rows[i];
        bool lat = x->lat_count > 0;
        if (strcmp(x->workload, w->name) != 0 || x->status == ST_UNAVAILABLE ||
            x->status == ST_SKIPPED)
            continue;
        if (x->status != ST_OK) {
            fprintf(f, "  %-18s %-7s ERROR: %.100s\n", x->config, class_of(x->config),
                    x->error);
            continue;
        }
        extra_columns(w, x, head, val);
        if (x->ref2[0] && x->ref2_ratio >= 0)
            snprintf(r2, sizeof(r2), "  %4.2f (%4.2f-%4.2f)     ", x->ref2_ratio, x->ref2_min,
                     x->ref2_max);
        else
            snprintf(r2, sizeof(r2), "  %-22s", ref2 ? "-" : "");
        fprintf(f, "  %-18s %-7s %9s %8s %8s %8s %8s %10s %10s %8s %*s %7s %8s %10s %9s %9s%s ",
                x->config, class_of(x->config), fmt_rate(x->ops_per_s, a, sizeof(a)),
                fmt_ns(lat ? (double)x->p50_ns : -1, b, sizeof(b)),
                fmt_ns(lat ? (double)x->p99_ns : -1, c, sizeof(c)),
                fmt_ns(lat ? (double)x->p999_ns : -1, d, sizeof(d)), val[0], val[1], val[2],
                val[3], head[4][0] ? 8 : 0, val[4], fmt_mib(x->peak_rss, m[0], 24),
                fmt_mib(x->rss_anon, m[1], 24), fmt_mib(x->rss_file, m[2], 24),
                fmt_num(x->ratio_to_raw_lmdb, 2, r, sizeof(r)),
                fmt_range(x->ratio_min, x->ratio_max, rg, sizeof(rg)), ref2 ? r2 : "");
        for (unsigned k = 0; k < x->rounds && k < BENCH_MAX_ROUNDS; k++)
            fprintf(f, " %s(%u)",
                    x->round_ops_per_s[k] < 0 ? "fail" : fmt_rate(x->round_ops_per_s[k], a, 24),
                    x->round_slot[k]);
        fprintf(f, "\n");
    }
}

/* The configurations present in rows, in table order. */
static size_t present_configs(const bench_result *rows, size_t n, const bench_config **out,
                              bool ok_only)
{
    size_t k = 0;

    for (const bench_config *c = bench_configs; c->name; c++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].config, c->name) == 0 &&
                (!ok_only || rows[i].status == ST_OK)) {
                out[k++] = c;
                break;
            }
        }
    }
    return k;
}

/* The template builds (rows of workload "template"): untimed, once per
 * configuration that keeps its data on disk. */
static void print_templates(FILE *f, const bench_params *p, const bench_result *rows, size_t n)
{
    char a[24], b[24], c[24], d[24], e[24];
    bool any = false;

    for (size_t i = 0; i < n; i++) {
        const bench_result *x = &rows[i];
        if (strcmp(x->workload, "template") != 0)
            continue;
        if (!any)
            fprintf(f, "\ntemplates (%s; untimed, built once per configuration; in-memory"
                       " configurations build theirs inside each run)\n"
                       "  %-18s %9s %8s %10s %10s %10s %8s\n",
                    bench_template_name(p->tpl), "config", "seconds", "commits", "disk B/key",
                    "wr B/key", "live B/key", "RSS MiB");
        any = true;
        if (x->status != ST_OK) {
            fprintf(f, "  %-18s ERROR: %.100s\n", x->config, x->error);
            continue;
        }
        fprintf(f, "  %-18s %9s %8llu %10s %10s %10s %8s\n", x->config,
                fmt_num(x->child_seconds, 1, a, sizeof(a)), (unsigned long long)x->commits,
                fmt_num(x->bytes_on_disk_per_key, 1, b, sizeof(b)),
                fmt_num(x->bytes_written_per_key, 0, c, sizeof(c)),
                fmt_num(x->live_bytes_per_key, 1, d, sizeof(d)), fmt_mib(x->peak_rss, e, 24));
    }
}

/* The ratio matrix: rows workloads, columns configurations; what() picks
 * the cell's text. Workloads with no cell are left out. */
static void print_matrix(FILE *f, const bench_result *rows, size_t n, const bench_config **cfgs,
                         size_t n_cfgs, const char *(*what)(const bench_result *, char *, size_t))
{
    char buf[32];

    fprintf(f, "  %-14s", "workload");
    for (size_t i = 0; i < n_cfgs; i++)
        fprintf(f, " %*s", (int)(strlen(cfgs[i]->name) > 9 ? strlen(cfgs[i]->name) : 9),
                cfgs[i]->name);
    fprintf(f, "\n");
    for (const bench_workload *w = bench_workloads; w->name; w++) {
        bool any = false;
        for (size_t i = 0; i < n_cfgs && !any; i++) {
            const bench_result *x = find_row(rows, n, w->name, cfgs[i]->name);
            any = x && strcmp(what(x, buf, sizeof(buf)), "-") != 0;
        }
        if (!any)
            continue;
        fprintf(f, "  %-14s", w->name);
        for (size_t i = 0; i < n_cfgs; i++) {
            const bench_result *x = find_row(rows, n, w->name, cfgs[i]->name);
            int width = (int)(strlen(cfgs[i]->name) > 9 ? strlen(cfgs[i]->name) : 9);
            fprintf(f, " %*s", width, x ? what(x, buf, sizeof(buf)) : "-");
        }
        fprintf(f, "\n");
    }
}

static const char *cell_median(const bench_result *x, char *buf, size_t len)
{
    return fmt_num(x->ratio_to_raw_lmdb, 2, buf, len);
}

static const char *cell_range(const bench_result *x, char *buf, size_t len)
{
    return fmt_range(x->ratio_min, x->ratio_max, buf, len);
}

static const char *cell_ref2(const bench_result *x, char *buf, size_t len)
{
    return fmt_num(x->ref2[0] ? x->ref2_ratio : -1, 2, buf, len);
}

/* Thread scaling of cfg: ops/s of the T-thread workload over the
 * 1-thread one (each the median of its rounds); -1 if either is missing. */
static double scaling(const bench_result *rows, size_t n, const char *one, const char *many,
                      const char *cfg)
{
    const bench_result *a = find_row(rows, n, one, cfg), *b = find_row(rows, n, many, cfg);

    return a && b && a->status == ST_OK && b->status == ST_OK && a->ops_per_s > 0
               ? b->ops_per_s / a->ops_per_s
               : -1;
}

void bench_report_table(FILE *f, const bench_params *p, const bench_machine *m,
                        const bench_result *rows, size_t n)
{
    const bench_config *cfgs[64];
    size_t n_cfgs = present_configs(rows, n, cfgs, false), n_ok;
    char b1[24], b2[24];
    bool any_ref2 = false;

    fprintf(f, "cairn-bench (cairn %s) on %s\n", cairn_version(), m->date);
    fprintf(f, "machine: %ld cores, %s, %.1f GiB RAM, %s; data on %s\n", m->nproc, m->cpu,
            m->mem_bytes / 1073741824.0, m->kernel, m->disk);
    fprintf(f,
            "sizes: %llu keys of %d bytes, %zu-byte values, durable commits of %llu keys when"
            " loading; template: %s",
            (unsigned long long)p->keys, BENCH_KEY_LEN, p->value_size,
            (unsigned long long)p->batch, bench_template_name(p->tpl));
    if (p->tpl != TPL_SORTED)
        fprintf(f, " (random order in commits of %llu keys, then %llu commits of %llu updates"
                   " and %llu deletes)",
                (unsigned long long)p->batch, (unsigned long long)p->age_commits,
                (unsigned long long)(p->batch / 10 ? p->batch / 10 : 1),
                (unsigned long long)(p->batch / 20 ? p->batch / 20 : 1));
    else
        fprintf(f, " (key order, compact, no history)");
    fprintf(f,
            "\ntimed sections: %.2f s each, at least %llu ops (up to %.3g s); commit-small ="
            " the first %llu commits after the load, commit-later = the ones after them;"
            " %u threads, scans of %zu keys, seed %llu%s\n",
            p->max_seconds, (unsigned long long)p->min_ops, 5 * p->max_seconds,
            (unsigned long long)p->commit_window, p->threads, p->scan_len,
            (unsigned long long)p->seed, p->quick ? " (--quick)" : "");
    fprintf(f,
            "rounds: %u; per workload the configurations run in table order in odd rounds and"
            " in reverse order in even rounds; ops/s is the run with the median ops/s; x"
            " raw-lmdb is the median of the per-round ratios (round k over the baseline's"
            " round k), min-max their range\n",
            p->repeat);
    fprintf(f, "durability (x raw-lmdb compares with raw-lmdb of the same class: durable ->"
               " raw-lmdb, none -> raw-lmdb-nosync):\n");
    for (size_t i = 0; i < n_cfgs; i++)
        fprintf(f, "  %-18s %-7s %s  [%s]\n", cfgs[i]->name,
                cfgs[i]->durability == BENCH_DURABLE ? "durable" : "none",
                cfgs[i]->durability_desc, cfgs[i]->spec);
    fprintf(f, "readahead:\n");
    for (size_t i = 0; i < n_cfgs; i++)
        fprintf(f, "  %-18s %s\n", cfgs[i]->name, cfgs[i]->readahead ? cfgs[i]->readahead : "-");
    print_templates(f, p, rows, n);
    for (const bench_workload *w = bench_workloads; w->name; w++)
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].workload, w->name) == 0) {
                print_block(f, p, w, rows, n);
                break;
            }
    for (size_t i = 0; i < n_cfgs; i++) {
        for (size_t k = 0; k < n; k++) {
            if (strcmp(rows[k].config, cfgs[i]->name) == 0 &&
                rows[k].status == ST_UNAVAILABLE) {
                fprintf(f, "\nunavailable: %s: %s", cfgs[i]->name, rows[k].error);
                break;
            }
        }
    }
    for (size_t k = 0; k < n; k++)
        if (rows[k].status == ST_SKIPPED) {
            fprintf(f, "\nskipped: cold reads on in-memory configurations");
            break;
        }
    for (size_t k = 0; k < n; k++)
        any_ref2 |= rows[k].ref2[0] && rows[k].ref2_ratio >= 0;
    n_ok = present_configs(rows, n, cfgs, true);
    fprintf(f, "\n\nops/s relative to raw LMDB of the same durability class (>1: faster),"
               " median of %u paired rounds\n", p->repeat);
    print_matrix(f, rows, n, cfgs, n_ok, cell_median);
    if (p->repeat > 1) {
        fprintf(f, "\nthe same ratios, min-max over the rounds\n");
        print_matrix(f, rows, n, cfgs, n_ok, cell_range);
    }
    if (any_ref2) {
        fprintf(f, "\nops/s relative to raw-lmdb-nordahead (raw LMDB with MDB_NORDAHEAD, as"
                   " cairn's lmdb tier opens it), durable configurations, median of the"
                   " paired rounds\n");
        print_matrix(f, rows, n, cfgs, n_ok, cell_ref2);
    }
    fprintf(f, "\nthread scaling: %u-thread ops/s over 1-thread ops/s (medians of the"
               " rounds)\n  %-18s %9s %9s\n", p->threads, "config", "point", "scan");
    for (size_t i = 0; i < n_ok; i++) {
        double pt = scaling(rows, n, "point-1t", "point-2t", cfgs[i]->name);
        double sc = scaling(rows, n, "scan-1t", "scan-2t", cfgs[i]->name);
        if (pt >= 0 || sc >= 0)
            fprintf(f, "  %-18s %9s %9s\n", cfgs[i]->name, fmt_num(pt, 2, b1, sizeof(b1)),
                    fmt_num(sc, 2, b2, sizeof(b2)));
    }
}

/* ---------------------------------------------------------------- json */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (v < 0 || isnan(v) || isinf(v))
        fprintf(f, "null");
    else if (v == floor(v) && v < 1e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.6g", v);
}

static const char *status_name(int st)
{
    switch (st) {
    case ST_OK: return "ok";
    case ST_UNAVAILABLE: return "unavailable";
    case ST_SKIPPED: return "skipped";
    default: return "error";
    }
}

/* The fields of a row, in one place for JSON and CSV. */
#define ROW_FIELDS(X)                                                                   \
    X(ops, (double)r->ops)                                                              \
    X(threads, (double)r->threads)                                                      \
    X(seconds, r->status == ST_OK ? r->seconds : -1)                                    \
    X(ops_per_s, r->status == ST_OK ? r->ops_per_s : -1)                                \
    X(p50_ns, r->lat_count ? (double)r->p50_ns : -1)                                    \
    X(p99_ns, r->lat_count ? (double)r->p99_ns : -1)                                    \
    X(p999_ns, r->lat_count ? (double)r->p999_ns : -1)                                  \
    X(bytes_written_per_key, r->bytes_written_per_key)                                  \
    X(bytes_on_disk_per_key, r->bytes_on_disk_per_key)                                  \
    X(live_bytes_per_key, r->live_bytes_per_key)                                        \
    X(keys_in_store, (double)r->keys_in_store)                                          \
    X(commits, (double)r->commits)                                                      \
    X(blobs_per_commit, r->blobs_per_commit)                                            \
    X(bytes_per_commit, r->bytes_per_commit)                                            \
    X(peak_rss_bytes, r->peak_rss)                                                      \
    X(heap_bytes, r->rss_anon)                                                          \
    X(mapped_bytes, r->rss_file)                                                        \
    X(child_seconds, r->child_seconds)                                                  \
    X(ratio_to_raw_lmdb, r->ratio_to_raw_lmdb)                                          \
    X(ratio_min, r->ratio_min)                                                          \
    X(ratio_max, r->ratio_max)                                                          \
    X(pairs, (double)r->pairs)                                                          \
    X(rounds, (double)r->rounds)                                                        \
    X(ratio_to_ref2, r->ref2_ratio)                                                     \
    X(ref2_min, r->ref2_min)                                                            \
    X(ref2_max, r->ref2_max)                                                            \
    X(ttfk_ns, r->ttfk_ns)                                                              \
    X(slow_tier_reads_per_key, r->slow_reads_per_key)                                   \
    X(read_bytes_per_key, r->read_bytes_per_key)                                        \
    X(major_faults_per_key, r->majflt_per_key)

int bench_report_json(const char *path, const bench_params *p, const bench_machine *m,
                      const bench_result *rows, size_t n, double total_seconds)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "{\n  \"tool\": \"cairn-bench\",\n  \"cairn_version\": ");
    json_str(f, cairn_version());
    fprintf(f, ",\n  \"date\": ");
    json_str(f, m->date);
    fprintf(f, ",\n  \"machine\": {\"nproc\": %ld, \"cpu\": ", m->nproc);
    json_str(f, m->cpu);
    fprintf(f, ", \"kernel\": ");
    json_str(f, m->kernel);
    fprintf(f, ", \"memory_bytes\": %.0f, \"disk\": ", m->mem_bytes);
    json_str(f, m->disk);
    fprintf(f,
            "},\n  \"params\": {\"keys\": %llu, \"key_bytes\": %d, \"value_bytes\": %zu,"
            " \"batch\": %llu, \"ops\": %llu, \"read_ops\": %llu, \"commits\": %llu,"
            " \"max_seconds\": %.3g, \"min_ops\": %llu, \"threads\": %u,"
            " \"scan_len\": %zu, \"seed\": %llu, \"quick\": %s, \"rounds\": %u,"
            " \"order\": \"per workload: table order in odd rounds, reverse order in even"
            " rounds\", \"ratio\": \"median of the per-round ratios (round k over the"
            " baseline's round k)\", \"template\": \"%s\", \"commit_window\": %llu,"
            " \"age_commits\": %llu, \"age_updates_per_commit\": %llu,"
            " \"age_deletes_per_commit\": %llu},\n",
            (unsigned long long)p->keys, BENCH_KEY_LEN, p->value_size,
            (unsigned long long)p->batch, (unsigned long long)p->ops,
            (unsigned long long)p->read_ops, (unsigned long long)p->commits, p->max_seconds,
            (unsigned long long)p->min_ops, p->threads, p->scan_len,
            (unsigned long long)p->seed, p->quick ? "true" : "false", p->repeat,
            bench_template_name(p->tpl), (unsigned long long)p->commit_window,
            (unsigned long long)(p->tpl != TPL_SORTED ? p->age_commits : 0),
            (unsigned long long)(p->batch / 10 ? p->batch / 10 : 1),
            (unsigned long long)(p->batch / 20 ? p->batch / 20 : 1));
    fprintf(f, "  \"total_seconds\": %.1f,\n  \"configs\": [", total_seconds);
    for (const bench_config *c = bench_configs; c->name; c++) {
        fprintf(f, "%s\n    {\"name\": ", c == bench_configs ? "" : ",");
        json_str(f, c->name);
        fprintf(f, ", \"engine\": ");
        json_str(f, c->adapter->name);
        fprintf(f, ", \"spec\": ");
        json_str(f, c->spec);
        fprintf(f, ", \"durability\": \"%s\", \"durability_desc\": ",
                c->durability == BENCH_DURABLE ? "durable" : "none");
        json_str(f, c->durability_desc);
        fprintf(f, ", \"baseline\": ");
        json_str(f, bench_config_baseline(c)->name);
        fprintf(f, ", \"second_reference\": ");
        if (bench_config_ref2(c))
            json_str(f, bench_config_ref2(c)->name);
        else
            fprintf(f, "null");
        fprintf(f, ", \"readahead\": ");
        json_str(f, c->readahead ? c->readahead : "");
        fprintf(f, ", \"runs_only\": ");
        if (c->only)
            json_str(f, c->only);
        else
            fprintf(f, "null");
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"results\": [");
    for (size_t i = 0; i < n; i++) {
        const bench_result *r = &rows[i];
        const bench_config *c = bench_config_find(r->config);
        const bench_workload *w = bench_workload_find(r->workload);

        fprintf(f, "%s\n    {\"workload\": ", i ? "," : "");
        json_str(f, r->workload);
        fprintf(f, ", \"config\": ");
        json_str(f, r->config);
        fprintf(f, ", \"durability\": \"%s\", \"durability_desc\": ",
                c && c->durability == BENCH_DURABLE ? "durable" : "none");
        json_str(f, c ? c->durability_desc : "");
        fprintf(f, ", \"status\": \"%s\", \"error\": ", status_name(r->status));
        json_str(f, r->error);
        fprintf(f, ", \"op\": ");
        json_str(f, w ? w->unit : "");
        fprintf(f, ", \"baseline\": ");
        json_str(f, r->baseline);
        fprintf(f, ", \"cache_drop\": ");
        json_str(f, r->cache_drop);
        fprintf(f, ", \"second_reference\": ");
        json_str(f, r->ref2);
#define X(name, expr) fprintf(f, ", \"" #name "\": "), json_num(f, (expr));
        ROW_FIELDS(X)
#undef X
        fprintf(f, ",\n     \"per_round\": [");
        for (unsigned k = 0; k < r->rounds && k < BENCH_MAX_ROUNDS; k++) {
            fprintf(f, "%s{\"round\": %u, \"order\": %u, \"ops_per_s\": ", k ? ", " : "",
                    k + 1, r->round_slot[k]);
            json_num(f, r->round_ops_per_s[k]);
            fprintf(f, ", \"ratio\": ");
            json_num(f, r->round_ratio[k]);
            fprintf(f, "}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ],\n  \"thread_scaling\": [");
    for (const bench_config *c = bench_configs, *first = NULL; c->name; c++) {
        double pt = scaling(rows, n, "point-1t", "point-2t", c->name);
        double sc = scaling(rows, n, "scan-1t", "scan-2t", c->name);
        if (pt < 0 && sc < 0)
            continue;
        fprintf(f, "%s\n    {\"config\": ", first ? "," : "");
        first = c;
        json_str(f, c->name);
        fprintf(f, ", \"threads\": %u, \"point\": ", p->threads);
        json_num(f, pt);
        fprintf(f, ", \"scan\": ");
        json_num(f, sc);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- csv */

static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
    if (v < 0 || isnan(v) || isinf(v))
        return;
    if (v == floor(v) && v < 1e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.6g", v);
}

int bench_report_csv(const char *path, const bench_params *p, const bench_result *rows,
                     size_t n)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "workload,config,durability,status,op,baseline,second_reference,cache_drop");
#define X(name, expr) fprintf(f, "," #name);
    ROW_FIELDS(X)
#undef X
    for (unsigned k = 1; k <= p->repeat; k++)
        fprintf(f, ",round%u_order,round%u_ops_per_s,round%u_ratio", k, k, k);
    fprintf(f, ",error\n");
    for (size_t i = 0; i < n; i++) {
        const bench_result *r = &rows[i];
        const bench_workload *w = bench_workload_find(r->workload);

        fprintf(f, "%s,%s,%s,%s,%s,%s,%s,%s", r->workload, r->config, class_of(r->config),
                status_name(r->status), w ? w->unit : "", r->baseline, r->ref2, r->cache_drop);
#define X(name, expr) fputc(',', f), csv_num(f, (expr));
        ROW_FIELDS(X)
#undef X
        for (unsigned k = 0; k < p->repeat && k < BENCH_MAX_ROUNDS; k++) {
            fputc(',', f);
            if (k < r->rounds)
                csv_num(f, (double)r->round_slot[k]);
            fputc(',', f);
            csv_num(f, k < r->rounds ? r->round_ops_per_s[k] : -1);
            fputc(',', f);
            csv_num(f, k < r->rounds ? r->round_ratio[k] : -1);
        }
        fputc(',', f);
        csv_str(f, r->error);
        fputc('\n', f);
    }
    return fclose(f) ? -1 : 0;
}
