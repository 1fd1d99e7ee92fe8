/*
 * plot.c - cairn-bench's charts, drawn by gnuplot (Debian's gnuplot-nox).
 *
 * For each group of workloads (writes, ycsb, reads) it writes two data
 * files into DIR, plot-throughput-GROUP.dat and plot-ratio-GROUP.dat
 * (a row per workload, a column per configuration, '?' where a value is
 * missing), then DIR/plots.gp: the templates bench/plots/throughput.gp and
 * bench/plots/ratio.gp (compiled in by CMake as plot_templates.h) filled in
 * once per chart and format, and runs `gnuplot plots.gp` in DIR. Outputs:
 * throughput-GROUP.svg/.png and ratio-GROUP.svg/.png.
 *
 * PNG uses the pngcairo terminal when `gnuplot -e 'set terminal'` lists it,
 * else the libgd png terminal. A missing or failing gnuplot never fails the
 * run: the message says what happened (gnuplot's output is in
 * DIR/gnuplot.log).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "plot_templates.h"

/* One color per configuration, the same in every chart: cairn in blues,
 * greens and purples, the peers in reds, oranges and greys. A configuration
 * not listed here takes a color from the spare list by its table index. */
static const struct {
    const char *config, *color;
} colors[] = {
    {"mem", "#1f77b4"},         {"lmdb", "#2ca02c"},         {"lmdb-blobs", "#bcbd22"},
    {"lmdb-nosync", "#98df8a"}, {"file", "#17becf"}, {"file-loose", "#aec7e8"},
    {"mem>file", "#9edae5"},    {"mem>lmdb", "#9467bd"},
    {"file-cache>lmdb", "#c5b0d5"}, {"raw-lmdb", "#d62728"},
    {"raw-lmdb-nordahead", "#8c564b"},
    {"raw-lmdb-nosync", "#ff9896"}, {"rocksdb", "#ff7f0e"},
    {"rocksdb-nosync", "#ffbb78"},  {"sqlite", "#7f7f7f"},
    {"sqlite-nosync", "#c7c7c7"},
};
static const char *const spare_colors[] = {"#8c564b", "#bcbd22", "#e377c2", "#dbdb8d",
                                           "#f7b6d2", "#c49c94"};

static const char *color_of(const bench_config *c)
{
    size_t idx = (size_t)(c - bench_configs);

    for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
        if (strcmp(colors[i].config, c->name) == 0)
            return colors[i].color;
    return spare_colors[idx % (sizeof(spare_colors) / sizeof(spare_colors[0]))];
}

typedef struct group {
    const char *name, *title;
    const char *const *workloads;
} group;

static const char *const g_writes[] = {"load-sorted", "load-random", "commit-small",
                                       "commit-later", NULL};
static const char *const g_ycsb[] = {
    "ycsb-a-zipf", "ycsb-b-zipf", "ycsb-c-zipf", "ycsb-d-latest", "ycsb-e-zipf", "ycsb-f-zipf",
    "ycsb-a-unif", "ycsb-b-unif", "ycsb-c-unif", "ycsb-d-unif", "ycsb-e-unif", "ycsb-f-unif",
    NULL};
static const char *const g_reads[] = {"point-1t", "point-2t", "scan-1t", "scan-2t", "scan-full",
                                      "cold-get", "cold-scan", NULL};
static const group groups[] = {
    {"writes", "loads and small commits", g_writes},
    {"ycsb", "YCSB core workloads", g_ycsb},
    {"reads", "warm and cold reads", g_reads},
};

/* Runs argv with stdout and stderr into log (a path, or NULL: a pipe whose
 * output goes into buf), in directory dir. Returns the exit status, or -1. */
static int run_tool(char *const argv[], const char *dir, const char *log, char *buf,
                    size_t buflen)
{
    int fds[2], status;
    pid_t pid;
    size_t got = 0;
    ssize_t n;

    if (pipe(fds))
        return -1;
    fflush(NULL);
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644) : fds[1];
        if (fd < 0 || (dir && chdir(dir)))
            _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    while (buf && got + 1 < buflen && (n = read(fds[0], buf + got, buflen - 1 - got)) > 0)
        got += (size_t)n;
    if (buf)
        buf[got] = '\0';
    close(fds[0]);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool in_group(const group *g, const char *workload)
{
    for (const char *const *w = g->workloads; *w; w++)
        if (strcmp(*w, workload) == 0)
            return true;
    return false;
}

static const bench_result *row_of(const bench_result *rows, size_t n, const char *w,
                                  const char *c)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].workload, w) == 0 && strcmp(rows[i].config, c) == 0)
            return &rows[i];
    return NULL;
}

/* Writes one data file; returns the number of configuration columns. */
static size_t write_data(const char *path, const group *g, const bench_result *rows, size_t n,
                         bool ratio, const bench_config **cols)
{
    size_t n_cols = 0, n_rows = 0;
    FILE *f;

    for (const bench_config *c = bench_configs; c->name; c++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].config, c->name) == 0 && rows[i].status == ST_OK &&
                in_group(g, rows[i].workload) && (!ratio || rows[i].ratio_to_raw_lmdb > 0)) {
                cols[n_cols++] = c;
                break;
            }
        }
    }
    if (!n_cols || !(f = fopen(path, "w")))
        return 0;
    fprintf(f, "workload");
    for (size_t k = 0; k < n_cols; k++)
        fprintf(f, " \"%s\"", cols[k]->name);
    fprintf(f, "\n");
    for (const char *const *w = g->workloads; *w; w++) {
        bool any = false;
        for (size_t k = 0; k < n_cols && !any; k++)
            any = row_of(rows, n, *w, cols[k]->name) != NULL;
        if (!any)
            continue;
        fprintf(f, "\"%s\"", *w);
        for (size_t k = 0; k < n_cols; k++) {
            const bench_result *r = row_of(rows, n, *w, cols[k]->name);
            double v = !r || r->status != ST_OK ? -1 : ratio ? r->ratio_to_raw_lmdb : r->ops_per_s;
            if (v > 0)
                fprintf(f, " %.6g", v);
            else
                fprintf(f, " ?");
        }
        fprintf(f, "\n");
        n_rows++;
    }
    fclose(f);
    return n_rows ? n_cols : 0;
}

/* Writes tpl into f with each @KEY@ replaced by its value. */
static void fill(FILE *f, const char *tpl, const char *const *keys, const char *const *vals)
{
    for (const char *p = tpl; *p;) {
        bool done = false;
        if (*p == '@') {
            for (size_t k = 0; keys[k]; k++) {
                size_t len = strlen(keys[k]);
                if (strncmp(p + 1, keys[k], len) == 0 && p[1 + len] == '@') {
                    fputs(vals[k], f);
                    p += len + 2;
                    done = true;
                    break;
                }
            }
        }
        if (!done)
            fputc(*p++, f);
    }
}

void bench_report_plots(const char *dir, const bench_result *rows, size_t n, char *msg,
                        size_t msglen)
{
    char terms[8192], script[4096], log[4096], path[4096];
    char *probe[] = {"gnuplot", "-e", "set terminal", NULL};
    char *draw[] = {"gnuplot", "plots.gp", NULL};
    const char *png;
    size_t charts = 0;
    FILE *f;
    int rc;

    rc = run_tool(probe, NULL, NULL, terms, sizeof(terms));
    if (rc == 127 || rc < 0) {
        snprintf(msg, msglen, "plots: skipped: gnuplot not found (apt-get install gnuplot-nox)");
        return;
    }
    png = strstr(terms, "pngcairo") ? "pngcairo size 1600,760 font 'sans,10'"
                                    : "png size 1600,760";
    snprintf(script, sizeof(script), "%s/plots.gp", dir);
    if (!(f = fopen(script, "w"))) {
        snprintf(msg, msglen, "plots: skipped: cannot write %s", script);
        return;
    }
    fprintf(f, "# plots.gp - generated by cairn-bench; run `gnuplot plots.gp` in this"
               " directory.\n");
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        for (int ratio = 0; ratio < 2; ratio++) {
            const bench_config *cols[64];
            char data[256], ncols[24], title[256], out[256], palette[2048];
            size_t n_cols, off = 0;

            snprintf(data, sizeof(data), "plot-%s-%s.dat", ratio ? "ratio" : "throughput",
                     groups[g].name);
            snprintf(path, sizeof(path), "%s/%s", dir, data);
            if (!(n_cols = write_data(path, &groups[g], rows, n, ratio, cols)))
                continue;
            snprintf(ncols, sizeof(ncols), "%zu", n_cols + 1);
            snprintf(title, sizeof(title), "%s: %s", groups[g].title,
                     ratio ? "ops/s relative to raw LMDB of the same durability class"
                           : "throughput");
            for (size_t k = 0; k < n_cols && off < sizeof(palette); k++)
                off += (size_t)snprintf(palette + off, sizeof(palette) - off,
                                        "set linetype %zu linecolor rgb '%s'\n", k + 1,
                                        color_of(cols[k]));
            for (int fmt = 0; fmt < 2; fmt++) {
                const char *keys[] = {"TERMINAL", "OUTPUT", "TITLE", "DATA", "NCOLS",
                                      "PALETTE", NULL};
                const char *vals[] = {fmt ? png
                                          : "svg size 1600,760 dynamic font 'sans,11'"
                                            " background '#ffffff'",
                                      out, title, data, ncols, palette, NULL};
                snprintf(out, sizeof(out), "%s-%s.%s", ratio ? "ratio" : "throughput",
                         groups[g].name, fmt ? "png" : "svg");
                fill(f, ratio ? bench_tpl_ratio : bench_tpl_throughput, keys, vals);
                charts++;
            }
        }
    }
    fclose(f);
    if (!charts) {
        snprintf(msg, msglen, "plots: skipped: no successful rows to plot");
        return;
    }
    snprintf(log, sizeof(log), "%s/gnuplot.log", dir);
    rc = run_tool(draw, dir, log, NULL, 0);
    if (rc)
        snprintf(msg, msglen, "plots: gnuplot failed (status %d): see %s and %s", rc, log,
                 script);
    else
        snprintf(msg, msglen,
                 "plots: %zu charts in %s (throughput-*.svg/png, ratio-*.svg/png; png via %s)",
                 charts, dir, strncmp(png, "pngcairo", 8) == 0 ? "pngcairo" : "png");
}
