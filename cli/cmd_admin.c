/*
 * cmd_admin.c - the operator commands: init, verify and stats (text or
 * JSON).
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---------------------------------------------------------------- init */

/* init: main() opened (so created) the store, with --node-size if given;
 * this says so. */
int cmd_init(cli *c)
{
    printf("store '%s': node size %" PRIu32 "\n", c->spec, cairn_node_size(c->db));
    return cli_flush_stdout();
}

/* ---------------------------------------------------------------- verify */

static int print_problem(void *ctx, const char *message)
{
    (void)ctx;
    printf("%s: %s\n", strstr(message, "; repaired from tier") ? "repaired" : "problem", message);
    return 0;
}

/* verify: prints each problem and a summary to stdout; exit 3 if there
 * were problems or verification could not run. */
int cmd_verify(cli *c)
{
    cairn_verify_report report;
    int rc, status;

    memset(&report, 0, sizeof(report));
    rc = c->repair ? cairn_repair(c->db, print_problem, NULL, &report)
                   : cairn_verify(c->db, print_problem, NULL, &report);
    if (rc && rc != CAIRN_VERIFY) {
        status = cli_error(rc, "verify could not finish");
        cli_flush_stdout();
        return status;
    }
    printf("checked %" PRIu64 " refs, %" PRIu64 " commits, %" PRIu64 " nodes, %" PRIu64
           " values, %" PRIu64 " bytes",
           report.refs, report.commits, report.nodes, report.values, report.bytes);
    if (report.tiers > 1)
        printf(" in %" PRIu64 " ref tiers, each on its own", report.tiers);
    if (c->repair)
        printf(", %" PRIu64 " blob%s repaired", report.repaired, report.repaired == 1 ? "" : "s");
    printf(": %" PRIu64 " problem%s\n", report.problems, report.problems == 1 ? "" : "s");
    if ((status = cli_flush_stdout()))
        return status;
    if (rc == CAIRN_VERIFY || report.problems)
        return cli_say(EXIT_FAILURE_, "verify found %" PRIu64 " problem%s", report.problems,
                       report.problems == 1 ? "" : "s");
    return 0;
}

/* ---------------------------------------------------------------- gc */

/* gc's progress on a terminal: the phase and its count, redrawn at most
 * ten times a second (progress.c's line, with gc's words). */
static void gc_progress(void *ctx, const char *phase, uint64_t done)
{
    progress *p = ctx;
    struct timespec now;

    if (!p->on)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - p->last.tv_sec) * 1000000000LL + (now.tv_nsec - p->last.tv_nsec) <
        100000000LL)
        return;
    p->last = now;
    fprintf(stderr, "\rgc: %s, %llu\033[K", phase, (unsigned long long)done);
    fflush(stderr);
    p->shown = true;
}

int cmd_gc(cli *c)
{
    cairn_gc_options opts;
    cairn_gc_report r;
    char last[32], newer[40];
    progress p;
    int rc;

    cairn_gc_options_init(&opts);
    if (c->seen & OPT_KEEP_LAST)
        opts.keep_last = c->keep_last;
    if (c->seen & OPT_KEEP_NEWER)
        opts.keep_newer_s = c->keep_newer_s;
    if (c->seen & OPT_GRACE)
        opts.grace_s = (int64_t)c->grace_s;
    opts.dry_run = c->dry_run;
    progress_init(&p, "gc");
    opts.progress = gc_progress;
    opts.progress_ctx = &p;
    rc = cairn_gc(c->db, &opts, &r);
    progress_done(&p);
    if (rc)
        return cli_error(rc, "gc");
    if (r.resumed)
        printf("took up the mark of an earlier run that did not finish\n");
    printf("policy: keep-last %s, keep-newer %s, grace %" PRIu64 " s\n",
           r.keep_last ? (snprintf(last, sizeof(last), "%" PRIu64, r.keep_last), last) : "off",
           r.keep_newer_s ? (snprintf(newer, sizeof(newer), "%" PRIu64 " s", r.keep_newer_s), newer)
                          : "off",
           r.grace_s);
    printf("kept %" PRIu64 " commit%s (%" PRIu64 " whose history before was dropped), %" PRIu64
           " blobs they need\n",
           r.commits_kept, r.commits_kept == 1 ? "" : "s", r.boundaries, r.live_blobs);
    if (r.pins || r.pins_expired || r.pins_ignored)
        printf("pins: %" PRIu64 " in force (%" PRIu64 " commit%s kept only for them), %" PRIu64
               " expired %s, %" PRIu64 " ignored\n",
               r.pins, r.pinned_only, r.pinned_only == 1 ? "" : "s", r.pins_expired,
               c->dry_run ? "(would be deleted)" : "deleted", r.pins_ignored);
    if (r.pins_ignored)
        cli_say(0, "warning: %" PRIu64 " pin%s ignored (damaged, or naming a commit the store "
                   "lacks): 'cairn pins' says why, 'cairn pins -d NAME' removes one",
                r.pins_ignored, r.pins_ignored == 1 ? "" : "s");
    for (size_t i = 0; i < r.n_tiers; i++) {
        const struct cairn_gc_tier_report *t = &r.tiers[i];
        printf("tier %zu %s: %" PRIu64 " blobs, %" PRIu64 " bytes; %s %" PRIu64 " blobs, %" PRIu64
               " bytes\n",
               i, t->spec, t->blobs_before, t->bytes_before,
               c->dry_run ? "would free" : "freed", c->dry_run ? t->blobs_dead : t->blobs_freed,
               t->bytes_dead);
        if (t->stored_before && !c->dry_run)
            printf("  storage %" PRIu64 " -> %" PRIu64 " bytes\n", t->stored_before,
                   t->stored_after);
        if (t->packs_rewritten)
            printf("  %" PRIu64 " packs rewritten, retired or deleted\n", t->packs_rewritten);
        if (t->note[0])
            printf("  %s\n", t->note);
    }
    if (r.caught_up)
        printf("%" PRIu64 " commits made meanwhile were kept whole (%" PRIu64
               " blobs they reuse were spared)\n",
               r.caught_up, r.kept_late);
    return cli_flush_stdout();
}

/* ---------------------------------------------------------------- stats */

/* Writes text[0..strnlen(text, max)) as a JSON string. Bytes that are not
 * UTF-8 are written as the code points of the same value (Latin-1), so the
 * output is valid JSON whatever the bytes. */
static void json_string(const char *text, size_t max)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strnlen(text, max), i, n;

    putchar('"');
    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            printf("\\%c", s[i]);
        else if (s[i] < 0x20)
            printf("\\u%04x", s[i]);
        else if (s[i] < 0x80)
            putchar(s[i]);
        else if ((n = cli_utf8_len(s + i, len - i))) {
            fwrite(s + i, 1, n, stdout);
            i += n - 1;
        } else
            printf("\\u%04x", s[i]);
    }
    putchar('"');
}

/* A double JSON can hold (NaN and infinities are not JSON). */
static double json_number(double x)
{
    return isfinite(x) ? x : 0.0;
}

static void stats_json(const cairn_stats *st, const char *version, uint32_t node_size)
{
    unsigned i;

    printf("{\"node_size_target\":%" PRIu32 ",\"tiers\":[", node_size);
    for (i = 0; i < st->n_tiers && i < CAIRN_STATS_MAX_TIERS; i++) {
        const cairn_tier_stats *t = &st->tiers[i];
        printf("%s{\"name\":", i ? "," : "");
        json_string(t->name, sizeof(t->name));
        printf(",\"spec\":");
        json_string(t->spec, sizeof(t->spec));
        printf(",\"blobs\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"gets\":%" PRIu64
               ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"puts\":%" PRIu64
               ",\"put_bytes\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"io_uring\":%s"
               ",\"io_submits\":%" PRIu64 ",\"io_ops\":%" PRIu64 ",\"write_back\":%s",
               t->blobs, t->bytes, t->gets, t->hits, t->misses, t->puts, t->put_bytes,
               t->evictions, t->io_uring ? "true" : "false", t->io_submits, t->io_ops,
               t->write_back ? "true" : "false");
        if (t->has_head) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&t->head, hex);
            printf(",\"head\":\"%s\",\"commits_behind\":%" PRIu64, hex, t->commits_behind);
        }
        if (t->remote)
            printf(",\"requests\":{\"get\":%" PRIu64 ",\"put\":%" PRIu64 ",\"head\":%" PRIu64
                   ",\"delete\":%" PRIu64 ",\"post\":%" PRIu64 "},\"bytes_in\":%" PRIu64
                   ",\"bytes_out\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"retries\":%" PRIu64
                   ",\"breaker_trips\":%" PRIu64 ",\"latency_p50_us\":%" PRIu64
                   ",\"latency_p99_us\":%" PRIu64 ",\"pending_blobs\":%" PRIu64
                   ",\"pending_bytes\":%" PRIu64,
                   t->req_get, t->req_put, t->req_head, t->req_delete, t->req_post, t->bytes_in,
                   t->bytes_out, t->errors, t->retries, t->breaker_trips, t->latency_p50_us,
                   t->latency_p99_us, t->pending_blobs, t->pending_bytes);
        printf("}");
    }
    printf("],\"cache\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"nodes\":%" PRIu64 "},\"version\":",
           st->cache_hits, st->cache_misses, st->cache_bytes, st->cache_nodes);
    if (!version) {
        printf("null}\n");
        return;
    }
    printf("{\"at\":");
    json_string(version, strlen(version) + 1);
    printf(",\"keys\":%" PRIu64 ",\"nodes\":%" PRIu64 ",\"leaf_nodes\":%" PRIu64
           ",\"node_bytes\":%" PRIu64 ",\"height\":%" PRIu32 ",\"node_size_min\":%" PRIu32
           ",\"node_size_max\":%" PRIu32 ",\"node_size_mean\":%.1f"
           ",\"node_size_stddev\":%.1f,\"node_size_hist\":[",
           st->keys, st->nodes, st->leaf_nodes, st->node_bytes, st->height, st->node_size_min,
           st->node_size_max, json_number(st->node_size_mean), json_number(st->node_size_stddev));
    for (i = 0; i < CAIRN_NODE_HIST_BUCKETS; i++) {
        uint64_t lo = (uint64_t)i * node_size / 4;
        printf("%s{\"from\":%" PRIu64 ",\"to\":", i ? "," : "", lo);
        if (i + 1 < CAIRN_NODE_HIST_BUCKETS)
            printf("%" PRIu64, (uint64_t)(i + 1) * node_size / 4);
        else
            printf("null");
        printf(",\"count\":%" PRIu64 "}", st->node_size_hist[i]);
    }
    printf("]}}\n");
}

static void stats_text(const cairn_stats *st, const char *version, uint32_t node_size)
{
    unsigned i;

    printf("tiers:\n");
    for (i = 0; i < st->n_tiers && i < CAIRN_STATS_MAX_TIERS; i++) {
        const cairn_tier_stats *t = &st->tiers[i];
        printf("  %u %-5.*s %.*s\n", i, (int)sizeof(t->name), t->name, (int)sizeof(t->spec),
               t->spec);
        printf("      blobs %" PRIu64 ", bytes %" PRIu64 ", gets %" PRIu64 " (hits %" PRIu64
               ", misses %" PRIu64 "), puts %" PRIu64 " (%" PRIu64 " bytes)\n",
               t->blobs, t->bytes, t->gets, t->hits, t->misses, t->puts, t->put_bytes);
        if (t->evictions)
            printf("      evictions %" PRIu64 "\n", t->evictions);
        if (t->io_ops)
            printf("      io: %s, %" PRIu64 " submissions, %" PRIu64 " operations\n",
                   t->io_uring ? "io_uring" : "system calls", t->io_submits, t->io_ops);
        if (t->remote && strcmp(t->name, "redis") == 0) {
            /* the same counters, by kind of Redis command (docs/tiers.md) */
            printf("      requests: reads %" PRIu64 ", writes %" PRIu64 ", lookups %" PRIu64
                   ", deletes %" PRIu64 ", other %" PRIu64 "; bytes in %" PRIu64 ", out %" PRIu64
                   "\n",
                   t->req_get, t->req_put, t->req_head, t->req_delete, t->req_post, t->bytes_in,
                   t->bytes_out);
            printf("      latency p50 <= %" PRIu64 " us, p99 <= %" PRIu64 " us; errors %" PRIu64
                   ", retries %" PRIu64 ", outages %" PRIu64 "\n",
                   t->latency_p50_us, t->latency_p99_us, t->errors, t->retries, t->breaker_trips);
        } else if (t->remote) {
            printf("      requests: GET %" PRIu64 ", PUT %" PRIu64 ", HEAD %" PRIu64
                   ", DELETE %" PRIu64 ", POST %" PRIu64 "; bytes in %" PRIu64 ", out %" PRIu64
                   "\n",
                   t->req_get, t->req_put, t->req_head, t->req_delete, t->req_post, t->bytes_in,
                   t->bytes_out);
            printf("      latency p50 <= %" PRIu64 " us, p99 <= %" PRIu64 " us; errors %" PRIu64
                   ", retries %" PRIu64 ", breaker trips %" PRIu64 "; pending %" PRIu64
                   " blobs (%" PRIu64 " bytes)\n",
                   t->latency_p50_us, t->latency_p99_us, t->errors, t->retries, t->breaker_trips,
                   t->pending_blobs, t->pending_bytes);
        }
        if (t->has_head) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&t->head, hex);
            printf("      %s %s, %" PRIu64 " commits behind the primary%s\n",
                   t->write_back ? "synced up to" : "branch at", hex, t->commits_behind,
                   t->write_back ? " (write-back)" : "");
        }
    }
    printf("node cache: %" PRIu64 " nodes, %" PRIu64 " bytes, hits %" PRIu64 ", misses %" PRIu64
           "\n",
           st->cache_nodes, st->cache_bytes, st->cache_hits, st->cache_misses);
    if (!version) {
        printf("version: none (no commits yet)\n");
        return;
    }
    printf("version %s:\n", version);
    printf("  keys %" PRIu64 ", nodes %" PRIu64 " (%" PRIu64 " leaves), %" PRIu64
           " bytes, height %" PRIu32 "\n",
           st->keys, st->nodes, st->leaf_nodes, st->node_bytes, st->height);
    printf("  node size (target %" PRIu32 "): min %" PRIu32 ", max %" PRIu32
           ", mean %.1f, stddev %.1f\n",
           node_size, st->node_size_min, st->node_size_max, json_number(st->node_size_mean),
           json_number(st->node_size_stddev));
    printf("  node size histogram:\n");
    for (i = 0; i < CAIRN_NODE_HIST_BUCKETS; i++) {
        uint64_t lo = (uint64_t)i * node_size / 4;
        if (i + 1 < CAIRN_NODE_HIST_BUCKETS)
            printf("    [%6" PRIu64 ", %6" PRIu64 ")  %" PRIu64 "\n", lo,
                   (uint64_t)(i + 1) * node_size / 4, st->node_size_hist[i]);
        else
            printf("    [%6" PRIu64 ",    ...)  %" PRIu64 "\n", lo, st->node_size_hist[i]);
    }
}

/* One sample line of a metric, labelled with the tier. */
static void prom_tier(const char *metric, const cairn_tier_stats *t, unsigned i, uint64_t v)
{
    printf("%s{tier=\"%u\",kind=\"%.*s\"} %" PRIu64 "\n", metric, i, (int)sizeof(t->name),
           t->name, v);
}

/* The counters in Prometheus' text exposition format (version 0.0.4). */
static void stats_prometheus(const cairn_stats *st)
{
    static const struct {
        const char *name, *type, *help;
    } metrics[] = {
        {"cairn_tier_blobs", "gauge", "Blobs held now."},
        {"cairn_tier_bytes", "gauge", "Bytes of blobs held now."},
        {"cairn_tier_gets_total", "counter", "Blobs asked for."},
        {"cairn_tier_hits_total", "counter", "Blobs found."},
        {"cairn_tier_puts_total", "counter", "Blobs written."},
        {"cairn_tier_commits_behind", "gauge", "Commits the primary is ahead of this ref tier."},
        {"cairn_s3_requests_total", "counter", "Requests sent, by method."},
        {"cairn_s3_bytes_in_total", "counter", "Response bytes received."},
        {"cairn_s3_bytes_out_total", "counter", "Request bytes sent."},
        {"cairn_s3_errors_total", "counter", "Requests that failed for good."},
        {"cairn_s3_retries_total", "counter", "Attempts repeated after a retryable failure."},
        {"cairn_s3_breaker_trips_total", "counter", "Times the circuit breaker opened."},
        {"cairn_s3_latency_p50_seconds", "gauge", "Median request latency (bucket bound)."},
        {"cairn_s3_latency_p99_seconds", "gauge", "99th percentile request latency (bucket bound)."},
        {"cairn_s3_pending_blobs", "gauge", "Blobs written but not uploaded yet."},
    };
    for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        bool remote = !strncmp(metrics[m].name, "cairn_s3_", 9);
        printf("# HELP %s %s\n# TYPE %s %s\n", metrics[m].name, metrics[m].help, metrics[m].name,
               metrics[m].type);
        for (unsigned i = 0; i < st->n_tiers && i < CAIRN_STATS_MAX_TIERS; i++) {
            const cairn_tier_stats *t = &st->tiers[i];
            if (remote && !t->remote)
                continue;
            switch (m) {
            case 0: prom_tier(metrics[m].name, t, i, t->blobs); break;
            case 1: prom_tier(metrics[m].name, t, i, t->bytes); break;
            case 2: prom_tier(metrics[m].name, t, i, t->gets); break;
            case 3: prom_tier(metrics[m].name, t, i, t->hits); break;
            case 4: prom_tier(metrics[m].name, t, i, t->puts); break;
            case 5:
                if (t->has_head)
                    prom_tier(metrics[m].name, t, i, t->commits_behind);
                break;
            case 6: {
                const char *methods[] = {"GET", "PUT", "HEAD", "DELETE", "POST"};
                uint64_t v[] = {t->req_get, t->req_put, t->req_head, t->req_delete, t->req_post};
                for (int k = 0; k < 5; k++)
                    printf("%s{tier=\"%u\",method=\"%s\"} %" PRIu64 "\n", metrics[m].name, i,
                           methods[k], v[k]);
                break;
            }
            case 7: prom_tier(metrics[m].name, t, i, t->bytes_in); break;
            case 8: prom_tier(metrics[m].name, t, i, t->bytes_out); break;
            case 9: prom_tier(metrics[m].name, t, i, t->errors); break;
            case 10: prom_tier(metrics[m].name, t, i, t->retries); break;
            case 11: prom_tier(metrics[m].name, t, i, t->breaker_trips); break;
            case 12:
            case 13:
                printf("%s{tier=\"%u\",kind=\"%.*s\"} %.6f\n", metrics[m].name, i,
                       (int)sizeof(t->name), t->name,
                       (double)(m == 12 ? t->latency_p50_us : t->latency_p99_us) / 1e6);
                break;
            case 14: prom_tier(metrics[m].name, t, i, t->pending_blobs); break;
            }
        }
    }
    printf("# HELP cairn_node_cache_hits_total Node cache hits.\n"
           "# TYPE cairn_node_cache_hits_total counter\n"
           "cairn_node_cache_hits_total %" PRIu64 "\n"
           "# HELP cairn_node_cache_misses_total Node cache misses.\n"
           "# TYPE cairn_node_cache_misses_total counter\n"
           "cairn_node_cache_misses_total %" PRIu64 "\n",
           st->cache_hits, st->cache_misses);
}

/* follow [-b BRANCH] [--follow SECONDS]: prints the branch's commit id now
 * and whenever it changes, until a signal. A failed refresh (the service
 * is down) is reported once per outage and the loop goes on. */
int cmd_follow(cli *c)
{
    const char *branch = c->branch ? c->branch : "main";
    uint64_t interval_ms = (c->seen & OPT_FOLLOW) ? c->follow_s * 1000 : 5000;
    cairn_id last, now;
    bool have_last = false, failing = false;
    int rc;

    cli_stop_catch();
    while (!cli_stop_signal) {
        rc = cairn_refresh(c->db);
        if (rc) {
            if (!failing)
                fprintf(stderr, "cairn: follow: %s (%s); retrying every %" PRIu64 " s\n",
                        cairn_strerror(rc), cairn_errdetail(), interval_ms / 1000);
            failing = true;
        } else {
            if (failing)
                fprintf(stderr, "cairn: follow: reachable again\n");
            failing = false;
            rc = cairn_resolve(c->db, branch, &now);
            if (rc == 0 && (!have_last || memcmp(&now, &last, sizeof(now)) != 0)) {
                char hex[CAIRN_ID_HEX + 1];
                cairn_id_to_hex(&now, hex);
                printf("%s\n", hex);
                if (fflush(stdout))
                    return cli_flush_stdout();
                last = now;
                have_last = true;
            } else if (rc && rc != CAIRN_NOTFOUND) {
                return cli_error(rc, "follow: resolving branch '%s'", branch);
            }
        }
        /* Sleep in short steps so a signal ends the wait promptly. */
        for (uint64_t slept = 0; slept < interval_ms && !cli_stop_signal; slept += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

/* stats [--json]: tier and cache counters and the node statistics of the
 * version read; on a store with no commits, the counters only. */
int cmd_stats(cli *c)
{
    const char *version = cli_version(c);
    const char *shown = version ? version : "main";
    cairn_stats st;
    char q[512];
    int rc;

    memset(&st, 0, sizeof(st));
    rc = cairn_stats_get(c->db, shown, &st);
    if (rc == CAIRN_NOTFOUND && !version) {
        /* main has no commits yet: tier and cache counters only. */
        memset(&st, 0, sizeof(st));
        shown = NULL;
        rc = cairn_stats_get(c->db, NULL, &st);
    } else if (rc == CAIRN_NOTFOUND) {
        cli_error(rc, "unknown branch, tag or commit '%s'", cli_quote(version, strlen(version), q));
        return EXIT_USAGE;
    }
    if (rc)
        return cli_error(rc, "stats");
    if (c->json && c->prometheus)
        return cli_usage("--json and --prometheus: choose one");
    if (c->prometheus)
        stats_prometheus(&st);
    else if (c->json)
        stats_json(&st, shown, cairn_node_size(c->db));
    else
        stats_text(&st, shown, cairn_node_size(c->db));
    return cli_flush_stdout();
}
