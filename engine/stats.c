/* stats.c - tier and cache counters, and the node size distribution. */
#include <math.h>
#include <string.h>

#include "engine.h"
#include "id.h"
#include "error.h"

typedef struct node_acc {
    const cairn_index *ix;
    cairn_stats *out;
    double sum, sum_sq;
    bool is_default;    /* walking the default keyspace: record its height */
} node_acc;

static int count_node(void *ctx, const cairn_node *nd, bool is_last)
{
    node_acc *acc = ctx;
    cairn_stats *st = acc->out;
    uint32_t bucket = nd->size / (acc->ix->node_size / 4);
    (void)is_last;

    if (bucket >= CAIRN_NODE_HIST_BUCKETS)
        bucket = CAIRN_NODE_HIST_BUCKETS - 1;
    st->node_size_hist[bucket]++;
    if (st->nodes == 0 || nd->size < st->node_size_min)
        st->node_size_min = nd->size;
    if (nd->size > st->node_size_max)
        st->node_size_max = nd->size;
    st->nodes++;
    st->leaf_nodes += nd->level == 0;
    st->node_bytes += nd->size;
    if (acc->is_default && (uint32_t)nd->level + 1 > st->height)
        st->height = nd->level + 1;
    acc->sum += nd->size;
    acc->sum_sq += (double)nd->size * nd->size;
    return 0;
}

static int walk_space(void *ctx, const uint8_t *name, size_t name_len, const cairn_id *root)
{
    node_acc *acc = ctx;
    uint64_t count;
    int rc;

    (void)name;
    acc->is_default = name_len == 0;
    if ((rc = cairn__tree_count(acc->ix, root, &count)))
        return rc;
    acc->out->keys += count;
    rc = cairn__tree_walk(acc->ix, root, count_node, acc);
    acc->is_default = false;
    return rc;
}

/* Where each ref tier's branch is: for a write-back tier, the newest
 * commit it holds (the durability watermark) and how many commits the
 * primary is ahead (the queue a sync would upload). Best effort: a tier
 * that cannot say shows no head. Commits are read only for a tier that
 * lags. */
static void tier_heads(cairn_db *db, const char *branch, cairn_tier_stats *out)
{
    char ref[CAIRN_REF_NAME_MAX + 1];
    cairn_commit_info primary_info;
    cairn_id primary_head;
    bool have_primary;

    cairn__ref_path(CAIRN_BRANCH, branch, ref);
    have_primary = cairn__stack_ref_get(db->stack, ref, &primary_head) == 0;
    bool read_primary = false;
    for (size_t k = 0; k < cairn__stack_n_tiers(db->stack) && k < CAIRN_STATS_MAX_TIERS; k++) {
        cairn_tier *t = cairn__stack_tier(db->stack, k);
        cairn_tier_stats *ts = &out[k];
        cairn_commit_info info;
        if (t->is_cache || cairn__tier_ref_get(t, ref, &ts->head))
            continue;
        ts->has_head = true;
        if (!have_primary || cairn__id_eq(&ts->head, &primary_head))
            continue;
        if (!read_primary && cairn_commit_get(db, &primary_head, &primary_info) != 0) {
            have_primary = false;
            continue;
        }
        read_primary = true;
        if (cairn_commit_get(db, &ts->head, &info) == 0) {
            if (primary_info.seq > info.seq)
                ts->commits_behind = primary_info.seq - info.seq;
            cairn_commit_info_clear(&info);
        }
    }
    if (read_primary)
        cairn_commit_info_clear(&primary_info);
    cairn__detail_clear();
}

int cairn_stats_get(cairn_db *db, const char *at, cairn_stats *out)
{
    cairn_cache_stats cs;
    cairn_snapshot *snap;
    cairn_id catalog;
    node_acc acc = {.ix = &db->ix, .out = out};
    int rc;

    cairn__detail_clear();
    memset(out, 0, sizeof(*out));
    if (at) {
        if ((rc = cairn_snapshot_open(db, at, &snap)))
            return rc;
        rc = cairn_snapshot_root(snap, CAIRN_CATALOG, &catalog);
        cairn_snapshot_close(snap);
        if (!rc)
            rc = cairn__catalog_each(&db->ix, &catalog, walk_space, &acc);
        if (rc)
            return rc;
        if (out->nodes) {
            double mean = acc.sum / out->nodes;
            out->node_size_mean = mean;
            out->node_size_stddev = sqrt(fmax(0.0, acc.sum_sq / out->nodes - mean * mean));
        }
    }
    /* Read the counters last, so that they include the walk above (and the
     * reads of the tiers' heads). */
    cairn_tier_stats heads[CAIRN_STATS_MAX_TIERS];
    memset(heads, 0, sizeof(heads));
    tier_heads(db, at ? at : "main", heads);
    if ((rc = cairn__stack_stats(db->stack, out)))
        return rc;
    for (unsigned k = 0; k < out->n_tiers && k < CAIRN_STATS_MAX_TIERS; k++) {
        out->tiers[k].has_head = heads[k].has_head;
        out->tiers[k].head = heads[k].head;
        out->tiers[k].commits_behind = heads[k].commits_behind;
    }
    cairn__cache_stats(db->cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_bytes = cs.bytes;
    out->cache_nodes = cs.nodes;
    return 0;
}
