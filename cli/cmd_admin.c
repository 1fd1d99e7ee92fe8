/*
 * cmd_admin.c - the operator commands: init, verify and stats (text or
 * JSON).
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

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
               ",\"io_submits\":%" PRIu64 ",\"io_ops\":%" PRIu64 "}",
               t->blobs, t->bytes, t->gets, t->hits, t->misses, t->puts, t->put_bytes,
               t->evictions, t->io_uring ? "true" : "false", t->io_submits, t->io_ops);
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
    if (c->json)
        stats_json(&st, shown, cairn_node_size(c->db));
    else
        stats_text(&st, shown, cairn_node_size(c->db));
    return cli_flush_stdout();
}
