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
    r->peak_rss = -1;
    r->threads = 1;
}

static const bench_result *find_row(const bench_result *rows, size_t n, const char *workload,
                                    const char *config)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].workload, workload) == 0 && strcmp(rows[i].config, config) == 0)
            return &rows[i];
    return NULL;
}

void bench_compute_ratios(bench_result *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bench_config *cfg = bench_config_find(rows[i].config);
        const bench_config *base = cfg ? bench_config_baseline(cfg) : NULL;
        const bench_result *b;

        if (!base)
            continue;
        snprintf(rows[i].baseline, sizeof(rows[i].baseline), "%s", base->name);
        b = find_row(rows, n, rows[i].workload, base->name);
        if (rows[i].status == ST_OK && b && b->status == ST_OK && b->ops_per_s > 0)
            rows[i].ratio_to_raw_lmdb = rows[i].ops_per_s / b->ops_per_s;
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

static void print_block(FILE *f, const bench_params *p, const bench_workload *w,
                        const bench_result *rows, size_t n)
{
    const char *head[N_EXTRA];
    char val[N_EXTRA][24], a[24], b[24], c[24], d[24], m[24], r[24];

    fprintf(f, "\n%s: %s (op = %s", w->name, w->desc, w->unit);
    if (w->flags & WL_LOAD)
        fprintf(f, "; latency = one batch of %llu keys", (unsigned long long)p->batch);
    if (strncmp(w->name, "scan", 4) == 0)
        fprintf(f, " of %zu keys", p->scan_len);
    fprintf(f, ")\n");
    extra_columns(w, NULL, head, val);
    fprintf(f, "  %-16s %-7s %9s %8s %8s %8s %8s %10s %10s %8s %*s %7s %9s\n", "config",
            "class", "ops/s", "p50", "p99", "p99.9", head[0], head[1], head[2], head[3],
            head[4][0] ? 8 : 0, head[4], "RSS MiB", "x raw-lmdb");
    for (size_t i = 0; i < n; i++) {
        const bench_result *x = &rows[i];
        bool lat = x->lat_count > 0;
        if (strcmp(x->workload, w->name) != 0 || x->status == ST_UNAVAILABLE ||
            x->status == ST_SKIPPED)
            continue;
        if (x->status != ST_OK) {
            fprintf(f, "  %-16s %-7s ERROR: %.100s\n", x->config, class_of(x->config),
                    x->error);
            continue;
        }
        extra_columns(w, x, head, val);
        fprintf(f, "  %-16s %-7s %9s %8s %8s %8s %8s %10s %10s %8s %*s %7s %9s\n", x->config,
                class_of(x->config), fmt_rate(x->ops_per_s, a, sizeof(a)),
                fmt_ns(lat ? (double)x->p50_ns : -1, b, sizeof(b)),
                fmt_ns(lat ? (double)x->p99_ns : -1, c, sizeof(c)),
                fmt_ns(lat ? (double)x->p999_ns : -1, d, sizeof(d)), val[0], val[1], val[2],
                val[3], head[4][0] ? 8 : 0, val[4],
                fmt_num(x->peak_rss < 0 ? -1 : x->peak_rss / 1048576.0, 0, m, sizeof(m)),
                fmt_num(x->ratio_to_raw_lmdb, 2, r, sizeof(r)));
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

void bench_report_table(FILE *f, const bench_params *p, const bench_machine *m,
                        const bench_result *rows, size_t n)
{
    const bench_config *cfgs[64];
    size_t n_cfgs = present_configs(rows, n, cfgs, false), n_ok;
    char buf[24];

    fprintf(f, "cairn-bench (cairn %s) on %s\n", cairn_version(), m->date);
    fprintf(f, "machine: %ld cores, %s, %.1f GiB RAM, %s; data on %s\n", m->nproc, m->cpu,
            m->mem_bytes / 1073741824.0, m->kernel, m->disk);
    fprintf(f,
            "sizes: %llu keys of %d bytes, %zu-byte values, batches of %llu; up to %llu ops"
            " per YCSB workload, %llu per read workload, %llu small commits, each for at most"
            " %.2f s; %u threads, scans of %zu keys, seed %llu%s\n",
            (unsigned long long)p->keys, BENCH_KEY_LEN, p->value_size,
            (unsigned long long)p->batch, (unsigned long long)p->ops,
            (unsigned long long)p->read_ops, (unsigned long long)p->commits, p->max_seconds,
            p->threads, p->scan_len, (unsigned long long)p->seed, p->quick ? " (--quick)" : "");
    fprintf(f, "durability (x raw-lmdb compares with raw-lmdb of the same class: durable ->"
               " raw-lmdb, none -> raw-lmdb-nosync):\n");
    for (size_t i = 0; i < n_cfgs; i++)
        fprintf(f, "  %-16s %-7s %s  [%s]\n", cfgs[i]->name,
                cfgs[i]->durability == BENCH_DURABLE ? "durable" : "none",
                cfgs[i]->durability_desc, cfgs[i]->spec);
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
    /* the ratio matrix */
    n_ok = present_configs(rows, n, cfgs, true);
    fprintf(f, "\n\nops/s relative to raw LMDB of the same durability class (>1: faster)\n");
    fprintf(f, "  %-14s", "workload");
    for (size_t i = 0; i < n_ok; i++)
        fprintf(f, " %*s", (int)(strlen(cfgs[i]->name) > 6 ? strlen(cfgs[i]->name) : 6),
                cfgs[i]->name);
    fprintf(f, "\n");
    for (const bench_workload *w = bench_workloads; w->name; w++) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = strcmp(rows[i].workload, w->name) == 0;
        if (!any)
            continue;
        fprintf(f, "  %-14s", w->name);
        for (size_t i = 0; i < n_ok; i++) {
            const bench_result *x = find_row(rows, n, w->name, cfgs[i]->name);
            int width = (int)(strlen(cfgs[i]->name) > 6 ? strlen(cfgs[i]->name) : 6);
            fprintf(f, " %*s", width,
                    x ? fmt_num(x->ratio_to_raw_lmdb, 2, buf, sizeof(buf)) : "-");
        }
        fprintf(f, "\n");
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
    X(child_seconds, r->child_seconds)                                                  \
    X(ratio_to_raw_lmdb, r->ratio_to_raw_lmdb)                                          \
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
            " \"max_seconds\": %.3g, \"threads\": %u,"
            " \"scan_len\": %zu, \"seed\": %llu, \"quick\": %s},\n",
            (unsigned long long)p->keys, BENCH_KEY_LEN, p->value_size,
            (unsigned long long)p->batch, (unsigned long long)p->ops,
            (unsigned long long)p->read_ops, (unsigned long long)p->commits, p->max_seconds,
            p->threads, p->scan_len,
            (unsigned long long)p->seed, p->quick ? "true" : "false");
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
#define X(name, expr) fprintf(f, ", \"" #name "\": "), json_num(f, (expr));
        ROW_FIELDS(X)
#undef X
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

int bench_report_csv(const char *path, const bench_result *rows, size_t n)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "workload,config,durability,status,op,baseline,cache_drop");
#define X(name, expr) fprintf(f, "," #name);
    ROW_FIELDS(X)
#undef X
    fprintf(f, ",error\n");
    for (size_t i = 0; i < n; i++) {
        const bench_result *r = &rows[i];
        const bench_workload *w = bench_workload_find(r->workload);

        fprintf(f, "%s,%s,%s,%s,%s,%s,%s", r->workload, r->config, class_of(r->config),
                status_name(r->status), w ? w->unit : "", r->baseline, r->cache_drop);
#define X(name, expr) fputc(',', f), csv_num(f, (expr));
        ROW_FIELDS(X)
#undef X
        fputc(',', f);
        csv_str(f, r->error);
        fputc('\n', f);
    }
    return fclose(f) ? -1 : 0;
}
