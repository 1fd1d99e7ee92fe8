/*
 * test_engine_gc_mark.c - gc's mark (engine/gc_mark.h): the live set of a
 * store under a retention policy.
 *
 * A randomized history: commits on several branches (forked from each
 * other), keys deleted and added back with the same values (old nodes
 * referenced again: the resurrections content addressing makes common),
 * values large enough to be blobs of their own, several keyspaces, tags.
 * For each policy drawn, the live set the mark writes must be exactly the
 * oracle's: the union, over the commits the policy keeps (computed here
 * from the history as recorded, not by the mark's rules), of every blob of
 * each version taken whole (cairn__version_delta from the empty tree),
 * each commit, the meta/ refs' blobs and the empty node. The mark diffs
 * consecutive versions instead; this checks that nothing it skips is
 * missing and nothing extra is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "gc_mark.h"
#include "idset.h"
#include "node.h"
#include "test.h"

#define BRANCHES 3
#define COMMITS 40

typedef struct history {
    cairn_id chain[BRANCHES][COMMITS * BRANCHES]; /* newest last */
    int64_t time_us[BRANCHES][COMMITS * BRANCHES];
    int n[BRANCHES];
    int fork[BRANCHES]; /* main's commits when the branch was forked from it */
    cairn_id tag;
} history;

static void make_history(cairn_db *db, history *h)
{
    static const char *names[BRANCHES] = {"main", "b1", "b2"};
    char key[32], val[600];

    memset(h, 0, sizeof(*h));
    for (int c = 0; c < COMMITS * BRANCHES; c++) {
        int b = c < COMMITS ? 0 : (int)test_rand_below(BRANCHES);
        if (b && h->n[b] == 0) { /* fork the branch from main's head */
            ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, names[b], &h->chain[0][h->n[0] - 1], 0));
            h->fork[b] = h->n[0];
        }
        cairn_txn *txn;
        ASSERT_OK(cairn_txn_begin(db, names[b], &txn));
        for (int op = 0, ops = 1 + (int)test_rand_below(20); op < ops; op++) {
            int k = (int)test_rand_below(300);
            const char *space = test_rand_below(4) ? NULL : "side";
            int kl = snprintf(key, sizeof(key), "key%05d", k);
            if (test_rand_below(3) == 0) {
                ASSERT_OK(cairn_txn_del(txn, space, key, (size_t)kl));
            } else { /* values depend on the key only: deletes and re-adds resurrect */
                size_t vl = k % 7 == 0 ? 500 : 20;
                memset(val, 'a' + k % 26, vl);
                ASSERT_OK(cairn_txn_put(txn, space, key, (size_t)kl, val, vl));
            }
        }
        cairn_id id;
        ASSERT_OK(cairn_txn_commit(txn, "c", &id));
        if (h->n[b] && cairn__id_eq(&id, &h->chain[b][h->n[b] - 1]))
            continue; /* nothing changed: no new commit */
        cairn_commit_info info;
        ASSERT_OK(cairn_commit_get(db, &id, &info));
        h->time_us[b][h->n[b]] = info.time_us;
        cairn_commit_info_clear(&info);
        h->chain[b][h->n[b]++] = id;
        if (c == COMMITS / 2) {
            h->tag = id;
            ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, "t1", &id, 0));
        }
    }
}

/* Sorted ids, in memory: the oracle's set. */
typedef struct idvec {
    cairn_id *v;
    size_t n, cap;
} idvec;

static int vec_add(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    idvec *a = ctx;
    (void)bytes;
    (void)len;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        ASSERT_TRUE((a->v = realloc(a->v, a->cap * sizeof(*a->v))) != NULL);
    }
    a->v[a->n++] = *id;
    return 0;
}

static int id_cmp_void(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

static void vec_sort_unique(idvec *a)
{
    size_t m = 0;
    qsort(a->v, a->n, sizeof(*a->v), id_cmp_void);
    for (size_t i = 0; i < a->n; i++)
        if (!m || !cairn__id_eq(&a->v[m - 1], &a->v[i]))
            a->v[m++] = a->v[i];
    a->n = m;
}

/* The commit (and its whole version) into the oracle. */
static void oracle_commit(cairn_db *db, idvec *a, const cairn_id *commit)
{
    cairn_commit_info info;
    cairn_id empty;
    cairn__empty_root_id(&empty);
    ASSERT_OK(cairn_commit_get(db, commit, &info));
    vec_add(a, commit, NULL, 0);
    ASSERT_OK(cairn__version_delta(&db->ix, &empty, &info.catalog, vec_add, a));
    cairn_commit_info_clear(&info);
}

static int oracle_meta(void *ctx, const char *name, const cairn_id *id)
{
    (void)name;
    return vec_add(ctx, id, NULL, 0);
}

/* What the policy keeps, from the recorded history: per branch, the head,
 * then back while a rule keeps the commit; and the tag's commit. */
static void oracle(cairn_db *db, const history *h, const cairn_gc_policy *p, idvec *a,
                   uint64_t *commits)
{
    cairn_id empty;
    cairn__empty_root_id(&empty);
    vec_add(a, &empty, NULL, 0);
    ASSERT_OK(cairn__stack_ref_list(db->stack, "meta/", oracle_meta, a));
    cairn_idset kept = {0};
    for (int b = 0; b < BRANCHES; b++) {
        /* the branch's history: its own commits, then main's up to the fork */
        const cairn_id *ids[2 * BRANCHES * COMMITS];
        int64_t times[2 * BRANCHES * COMMITS];
        int n = 0;
        for (int i = h->n[b] - 1; i >= 0; i--, n++) {
            ids[n] = &h->chain[b][i];
            times[n] = h->time_us[b][i];
        }
        if (b) { /* forked from main's head when it had fork[b] commits */
            for (int i = h->fork[b] - 1; i >= 0; i--, n++) {
                ids[n] = &h->chain[0][i];
                times[n] = h->time_us[0][i];
            }
        }
        for (int k = 0; k < n; k++) {
            bool keep = k == 0 || (!p->keep_last && !p->keep_newer_us) ||
                        (p->keep_last && (uint64_t)k < p->keep_last) ||
                        (p->keep_newer_us && times[k] >= p->now_us - p->keep_newer_us) ||
                        (times[k - 1] >= p->now_us - p->grace_us);
            if (!keep)
                break;
            if (!cairn__idset_has(&kept, ids[k])) {
                ASSERT_OK(cairn__idset_add(&kept, ids[k]));
                oracle_commit(db, a, ids[k]);
            }
        }
    }
    if (!cairn__idset_has(&kept, &h->tag)) {
        ASSERT_OK(cairn__idset_add(&kept, &h->tag));
        oracle_commit(db, a, &h->tag);
    }
    *commits = kept.n;
    cairn__idset_free(&kept);
    vec_sort_unique(a);
}

static void check_policy(cairn_db *db, const history *h, const cairn_gc_policy *p, const char *dir,
                         int round)
{
    cairn_idsort *live, *commits;
    cairn_gc_mark_stats st;
    char path[700];
    uint64_t n_live, n_commits, oracle_commits;
    idvec want = {0};

    ASSERT_OK(cairn__idsort_open(dir, "live", 64 << 10, &live));
    ASSERT_OK(cairn__idsort_open(dir, "commits", 64 << 10, &commits));
    cairn_idset boundaries = {0};
    ASSERT_OK(cairn__gc_mark(db, p, live, commits, &boundaries, &st));
    ASSERT_EQ(boundaries.n, st.boundaries);
    cairn__idset_free(&boundaries);
    snprintf(path, sizeof(path), "%s/live%d", dir, round);
    ASSERT_OK(cairn__idsort_finish(live, path, &n_live));
    char cpath[700];
    snprintf(cpath, sizeof(cpath), "%s/commits%d", dir, round);
    ASSERT_OK(cairn__idsort_finish(commits, cpath, &n_commits));
    cairn__idsort_close(live);
    cairn__idsort_close(commits);

    oracle(db, h, p, &want, &oracle_commits);
    ASSERT_EQ(n_commits, oracle_commits);
    ASSERT_EQ(st.commits, oracle_commits);
    cairn_idfile *f;
    cairn_id id;
    size_t i = 0;
    int rc;
    ASSERT_OK(cairn__idfile_open(path, &f));
    while ((rc = cairn__idfile_next(f, &id)) == 1) {
        if (i >= want.n || !cairn__id_eq(&id, &want.v[i])) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&id, hex);
            TEST_FAIL("round %d (keep_last %llu, keep_newer %lld us, grace %lld us): live id %zu "
                      "%s is not the oracle's (%zu ids)", round, (unsigned long long)p->keep_last,
                      (long long)p->keep_newer_us, (long long)p->grace_us, i, hex, want.n);
        }
        i++;
    }
    ASSERT_EQ(rc, 0);
    cairn__idfile_close(f);
    if (i != want.n)
        TEST_FAIL("round %d: the mark kept %zu ids, the oracle %zu", round, i, want.n);
    printf("round %d: keep_last %llu keep_newer %s grace %s: %llu commits, %llu boundaries, "
           "%zu live ids (%llu emitted)\n", round, (unsigned long long)p->keep_last,
           p->keep_newer_us ? "on" : "off", p->grace_us ? "on" : "off",
           (unsigned long long)st.commits, (unsigned long long)st.boundaries, i,
           (unsigned long long)st.ids_emitted);
    free(want.v);
}

int main(void)
{
    enum { ROUNDS = 12 };
    char spec[700], dir[512];
    cairn_options o;
    cairn_db *db;
    history h;

    test_seed_init(7);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    snprintf(spec, sizeof(spec), "lmdb:%s/store", dir);
    cairn_options_init(&o);
    o.node_size = 512; /* many nodes from few keys */
    ASSERT_OK(cairn_open(spec, &o, &db));
    make_history(db, &h);
    int64_t first = h.time_us[0][0], last = h.time_us[0][h.n[0] - 1];
    for (int r = 0; r < ROUNDS; r++) {
        cairn_gc_policy p = {0};
        p.now_us = last;
        if (r == 0) {
            /* nothing set: all history */
        } else {
            if (test_rand_below(3))
                p.keep_last = 1 + test_rand_below(COMMITS);
            if (test_rand_below(3) == 0)
                p.keep_newer_us = (int64_t)test_rand_below((uint64_t)(last - first) + 1);
            if (!p.keep_last && !p.keep_newer_us)
                p.keep_last = 1;
            if (test_rand_below(2))
                p.grace_us = (int64_t)test_rand_below((uint64_t)(last - first) + 1);
        }
        check_policy(db, &h, &p, dir, r);
    }
    cairn_close(db);
    printf("ok\n");
    return 0;
}
