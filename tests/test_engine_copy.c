/*
 * test_engine_copy.c - cairn_copy: refs with their history from one store
 * into another, by Merkle delta.
 *
 *  - Every pair of mem, lmdb and file stores (S3: test_engine_s3_copy.c and
 *    tests/cli/test_s3_copy.sh): the copy has the same refs, commit ids,
 *    logs, roots and contents, verifies clean, and holds exactly the blobs
 *    the source's refs reach. A dry run reports what the real run then does
 *    and writes nothing. After more commits a copy moves exactly the new
 *    blobs (counted), and a third moves nothing.
 *  - A source after gc: the copy's log and verify stop at the same
 *    boundary; later copies follow the source across a boundary that names
 *    the copy's head as parent, refuse one where gc cut the history between
 *    them (unless forced), and a copy that brings a dropped parent back
 *    takes its child out of the boundary list.
 *  - Refusals change nothing: a branch that diverged, a tag elsewhere, a
 *    ref that would clash with a folder of refs, an unknown name, other
 *    settings (an empty store takes the source's instead, and then builds
 *    the same trees).
 *  - A fault at the Nth tier call of a copy, for every N (fail, half a
 *    batch written, a flipped byte read): the copy is valid as it was left,
 *    and a rerun gives the result of an undisturbed copy.
 *  - Random steps against a model (seeded): commits, tags, branches and gc
 *    in the source, commits of the copy's own, copies of random refs.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storeutil.h"
#include "test.h"
#include "tier.h"

static const char *const kinds[] = {"mem", "lmdb", "file"};
static char dir[PATH_MAX];

static cairn_copy_report copy_ok(cairn_db *src, cairn_db *dst, const char *const *refs, size_t n,
                                 unsigned flags)
{
    cairn_copy_options o;
    cairn_copy_report r;

    cairn_copy_options_init(&o);
    o.flags = flags;
    ASSERT_OK(cairn_copy(src, dst, refs, n, &o, &r));
    return r;
}

static int copy_rc(cairn_db *src, cairn_db *dst, const char *const *refs, size_t n,
                   unsigned flags)
{
    cairn_copy_options o;
    cairn_copy_options_init(&o);
    o.flags = flags;
    return cairn_copy(src, dst, refs, n, &o, NULL);
}

/* Blobs the refs of a store reach (commits, nodes, values) and its
 * settings blob: what a copy of all of it holds. */
static uint64_t reachable(cairn_db *db)
{
    cairn_verify_report rep;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &rep));
    return rep.commits + rep.nodes + rep.values + 1;
}

static void gc_keep(cairn_db *db, uint64_t keep_last)
{
    cairn_gc_options go;
    cairn_gc_options_init(&go);
    go.keep_last = keep_last;
    go.grace_s = 0;
    ASSERT_OK(cairn_gc(db, &go, NULL));
}

/* The store as a string to compare before and after a refusal: its refs
 * and how many blobs it holds. */
static void snapshot_of(cairn_db *db, char *out, size_t cap)
{
    size_t len;
    store_refs_text(db, out, cap);
    len = strlen(out);
    snprintf(out + len, cap - len, "blobs %llu\n", (unsigned long long)store_blobs(db));
}

static void assert_unchanged(cairn_db *db, const char *before, const char *what)
{
    static char now[1 << 15];
    snapshot_of(db, now, sizeof(now));
    if (strcmp(before, now) != 0)
        TEST_FAIL("%s changed the destination:\n%s--- now:\n%s", what, before, now);
}

/* ---------------------------------------------------------------- pairs */

static int delete_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    (void)commit;
    ASSERT_OK(cairn_ref_delete(ctx, kind, name, NULL));
    return 0;
}

static void test_pairs(void)
{
    for (size_t s = 0; s < 3; s++)
        for (size_t d = 0; d < 3; d++) {
            char src_spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16], name[32];
            static char before[1 << 15];
            cairn_copy_report r, dry;
            cairn_db *src, *dst;
            uint64_t had;

            snprintf(name, sizeof(name), "src-%zu-%zu", s, d);
            store_spec(src_spec, sizeof(src_spec), kinds[s], dir, name);
            snprintf(name, sizeof(name), "dst-%zu-%zu", s, d);
            store_spec(dst_spec, sizeof(dst_spec), kinds[d], dir, name);
            src = store_open(src_spec, 0, 0);
            dst = store_open(dst_spec, 0, 0);
            store_history(src, 12);

            snapshot_of(dst, before, sizeof(before));
            dry = copy_ok(src, dst, NULL, 0, CAIRN_COPY_DRY_RUN);
            assert_unchanged(dst, before, "a dry run");
            r = copy_ok(src, dst, NULL, 0, 0);
            ASSERT_EQ(dry.blobs_copied, r.blobs_copied);
            ASSERT_EQ(dry.blobs_skipped, r.blobs_skipped);
            ASSERT_EQ(dry.commits, r.commits);
            ASSERT_EQ(dry.refs_moved, r.refs_moved);
            ASSERT_EQ(store_blobs(dst), reachable(src));
            ASSERT_EQ(r.blobs_copied, reachable(src) - 1); /* (the settings were there) */
            ASSERT_TRUE(!r.settings_adopted && r.boundaries == 0 && r.refs_same == 0);
            store_same_refs(src, dst, true);
            store_same_contents(src, dst, "main");
            store_same_contents(src, dst, "dev");
            store_verify_ok(dst, "a copy");

            /* More commits: exactly the new blobs move. */
            had = reachable(src);
            store_history(src, 4);
            snapshot_of(dst, before, sizeof(before));
            dry = copy_ok(src, dst, NULL, 0, CAIRN_COPY_DRY_RUN);
            assert_unchanged(dst, before, "a dry run");
            r = copy_ok(src, dst, NULL, 0, 0);
            ASSERT_EQ(r.blobs_copied, reachable(src) - had);
            ASSERT_EQ(dry.blobs_copied, r.blobs_copied);
            ASSERT_EQ(dry.commits, r.commits);
            ASSERT_TRUE(r.commits >= 1 && r.commits <= 4);
            ASSERT_EQ(store_blobs(dst), reachable(src));
            store_same_refs(src, dst, true);
            store_verify_ok(dst, "an incremental copy");

            /* And once more: nothing. */
            r = copy_ok(src, dst, NULL, 0, 0);
            ASSERT_TRUE(r.blobs_copied == 0 && r.commits == 0 && r.refs_moved == 0);
            ASSERT_TRUE(r.refs_same > 0);
            /* Refs the copy lost: the history is walked again, but every
             * blob is there already (as after a copy stopped before its
             * refs moved), and none is written. */
            ASSERT_OK(cairn_ref_list(dst, delete_ref, dst));
            r = copy_ok(src, dst, NULL, 0, 0);
            ASSERT_TRUE(r.commits > 0 && r.refs_moved > 0 && r.refs_same == 0);
            ASSERT_EQ(r.blobs_copied, 0);
            ASSERT_TRUE(r.blobs_skipped > 0);
            ASSERT_EQ(store_blobs(dst), reachable(src));
            printf("%s -> %s: %llu blobs, then %llu new ones\n", kinds[s], kinds[d],
                   (unsigned long long)(had - 1), (unsigned long long)(reachable(src) - had));
            cairn_close(src);
            cairn_close(dst);
        }
}

/* ---------------------------------------------------------------- gc */

static void test_gc(void)
{
    char spec[PATH_MAX + 16], full_spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16];
    static char before[1 << 15];
    const char *main_ref[] = {"main"}, *old_ref[] = {"old"};
    cairn_copy_report r;
    cairn_db *src, *full, *dst;
    cairn_id head;

    store_spec(spec, sizeof(spec), "lmdb", dir, "gc-src");
    store_spec(full_spec, sizeof(full_spec), "file", dir, "gc-full");
    store_spec(dst_spec, sizeof(dst_spec), "file", dir, "gc-dst");
    src = store_open(spec, 0, 0);
    full = store_open(full_spec, 0, 0);
    dst = store_open(dst_spec, 0, 0);
    store_history(src, 15);
    copy_ok(src, full, NULL, 0, 0); /* (the whole history, for later) */
    ASSERT_OK(cairn_resolve(src, "main", &head));
    ASSERT_OK(cairn_ref_set(full, CAIRN_BRANCH, "old", &head, 0));
    gc_keep(src, 3);

    r = copy_ok(src, dst, NULL, 0, 0);
    ASSERT_TRUE(r.boundaries >= 1);
    store_same_refs(src, dst, true);
    store_same_history(src, dst, "main"); /* (the logs end at the same commit) */
    store_same_history(src, dst, "dev");
    store_verify_ok(dst, "a copy of a store after gc");

    /* The source moves on and drops the copy's head: its boundary names it
     * as parent, so the copy follows. */
    store_commit_random(src, NULL, 30, NULL);
    gc_keep(src, 1);
    r = copy_ok(src, dst, main_ref, 1, 0);
    ASSERT_EQ(r.refs_moved, 1);
    ASSERT_EQ(r.boundaries, 0); /* (the copy holds that parent) */
    store_same_head(src, dst, "main"); /* (the copy keeps the history before it) */
    store_same_contents(src, dst, "main");
    store_verify_ok(dst, "a copy across the source's new boundary");

    /* Two more, and gc keeps one: the history between is gone, the move
     * cannot be shown to go forward. */
    store_commit_random(src, NULL, 30, NULL);
    store_commit_random(src, NULL, 30, NULL);
    gc_keep(src, 1);
    snapshot_of(dst, before, sizeof(before));
    ASSERT_RC(copy_rc(src, dst, main_ref, 1, 0), CAIRN_CONFLICT);
    ASSERT_DETAIL("branch 'main'");
    ASSERT_DETAIL("gc dropped");
    assert_unchanged(dst, before, "a refused copy");
    r = copy_ok(src, dst, main_ref, 1, CAIRN_COPY_FORCE);
    ASSERT_EQ(r.boundaries, 1);
    ASSERT_EQ(r.commits, 1);
    store_same_history(src, dst, "main");
    store_verify_ok(dst, "a forced copy across a cut");

    /* The whole history comes back from the store copied before gc: the
     * first boundary's parent is held again, and its log runs through. */
    r = copy_ok(full, dst, old_ref, 1, 0);
    store_same_history(full, dst, "old"); /* (fails if a boundary stayed) */
    store_verify_ok(dst, "a copy that brought dropped history back");
    printf("gc: copies stop at the source's boundary, follow it, refuse a cut, merge lists\n");
    cairn_close(src);
    cairn_close(full);
    cairn_close(dst);
}

/* ---------------------------------------------------------------- refusals */

static void test_conflicts(void)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16];
    static char before[1 << 15];
    const char *rel[] = {"rel"}, *dev[] = {"dev"}, *ab[] = {"a/b"}, *nope[] = {"nope"};
    cairn_db *src, *dst;
    cairn_id head;
    cairn_copy_report r;

    store_spec(spec, sizeof(spec), "lmdb", dir, "cf-src");
    store_spec(dst_spec, sizeof(dst_spec), "lmdb", dir, "cf-dst");
    src = store_open(spec, 0, 0);
    dst = store_open(dst_spec, 0, 0);
    store_history(src, 6);
    copy_ok(src, dst, NULL, 0, 0);

    /* Both sides commit on main: diverged. */
    store_commit_random(dst, NULL, 10, &head);
    ASSERT_OK(cairn_ref_set(dst, CAIRN_TAG, "rel", &head, 0));
    store_commit_random(src, NULL, 10, &head);
    ASSERT_OK(cairn_ref_set(src, CAIRN_TAG, "rel", &head, 0));
    snapshot_of(dst, before, sizeof(before));
    ASSERT_RC(copy_rc(src, dst, NULL, 0, 0), CAIRN_CONFLICT);
    ASSERT_DETAIL("branch 'main'");
    ASSERT_DETAIL("(and 1 more refs)");
    assert_unchanged(dst, before, "a refused copy");
    ASSERT_RC(copy_rc(src, dst, rel, 1, 0), CAIRN_CONFLICT);
    ASSERT_DETAIL("tag 'rel'");
    assert_unchanged(dst, before, "a refused tag");
    r = copy_ok(src, dst, dev, 1, 0); /* (dev did not diverge) */
    ASSERT_EQ(r.refs_moved + r.refs_same, 1);

    /* A new ref that would clash with a folder of refs; an unknown name. */
    {
        cairn_id dst_head;
        ASSERT_OK(cairn_resolve(dst, "main", &dst_head));
        ASSERT_OK(cairn_ref_set(dst, CAIRN_BRANCH, "a", &dst_head, 0));
    }
    ASSERT_OK(cairn_ref_set(src, CAIRN_BRANCH, "a/b", &head, 0));
    snapshot_of(dst, before, sizeof(before));
    ASSERT_RC(copy_rc(src, dst, ab, 1, 0), CAIRN_BADARG);
    ASSERT_DETAIL("a/b");
    assert_unchanged(dst, before, "a copy clashing with a folder");
    ASSERT_RC(copy_rc(src, dst, nope, 1, 0), CAIRN_NOTFOUND);
    ASSERT_DETAIL("'nope'");
    assert_unchanged(dst, before, "a copy of an unknown ref");

    /* Forced: every ref the source has, as the source has it. */
    r = copy_ok(src, dst, (const char *const[]){"main", "rel", "dev", "t1", "t2"}, 2,
                CAIRN_COPY_FORCE);
    ASSERT_EQ(r.refs_moved, 2);
    store_same_ref(src, dst, "main");
    store_same_ref(src, dst, "rel");
    store_verify_ok(dst, "a forced copy");
    printf("conflicts: refused unchanged (branch, tag, folder, name), then forced\n");
    cairn_close(src);
    cairn_close(dst);
}

static void test_settings(void)
{
    char spec[PATH_MAX + 16], other[PATH_MAX + 16], fresh[PATH_MAX + 16];
    static char before[1 << 15];
    cairn_db *src, *dst, *mem;
    cairn_snapshot *a, *b;
    cairn_id ra, rb;
    cairn_copy_report r;

    store_spec(spec, sizeof(spec), "lmdb", dir, "set-src");
    store_spec(other, sizeof(other), "lmdb", dir, "set-other");
    store_spec(fresh, sizeof(fresh), "file", dir, "set-fresh");
    src = store_open(spec, 1024, 0);
    store_history(src, 5);
    dst = store_open(other, 0, 0);
    store_commit_random(dst, NULL, 5, NULL);
    snapshot_of(dst, before, sizeof(before));
    ASSERT_RC(copy_rc(src, dst, NULL, 0, 0), CAIRN_BADARG);
    ASSERT_DETAIL("node size is 1024");
    ASSERT_DETAIL("4096");
    assert_unchanged(dst, before, "a copy into a store with other settings");
    cairn_close(dst);

    /* An empty store takes the source's settings, and then builds the same
     * trees from the same changes. */
    dst = store_open(fresh, 0, 0);
    ASSERT_EQ(cairn_node_size(dst), 4096);
    r = copy_ok(src, dst, NULL, 0, 0);
    ASSERT_TRUE(r.settings_adopted);
    ASSERT_EQ(cairn_node_size(dst), 1024);
    store_same_refs(src, dst, true);
    uint64_t seed = test_seed;
    test_seed_set(seed + 1); /* the same changes on both sides */
    store_commit_random(src, NULL, 300, NULL);
    test_seed_set(seed + 1);
    store_commit_random(dst, NULL, 300, NULL);
    test_seed = seed; /* (what a failure prints: the run's seed) */
    ASSERT_OK(cairn_snapshot_open(src, "main", &a));
    ASSERT_OK(cairn_snapshot_open(dst, "main", &b));
    ASSERT_OK(cairn_snapshot_root(a, CAIRN_CATALOG, &ra));
    ASSERT_OK(cairn_snapshot_root(b, CAIRN_CATALOG, &rb));
    ASSERT_TRUE(memcmp(&ra, &rb, sizeof(ra)) == 0);
    cairn_snapshot_close(a);
    cairn_snapshot_close(b);
    store_verify_ok(dst, "a store that took the source's settings");
    cairn_close(dst);
    dst = store_open(fresh, 0, 0);
    ASSERT_EQ(cairn_node_size(dst), 1024); /* (recorded) */
    cairn_close(dst);
    mem = store_open("mem", 0, 0);
    copy_ok(src, mem, NULL, 0, 0);
    ASSERT_EQ(cairn_node_size(mem), 1024);
    store_same_refs(src, mem, true);
    cairn_close(mem);
    printf("settings: other ones refused unchanged; an empty store takes them\n");
    cairn_close(src);
}

/* ---------------------------------------------------------------- faults */

/* Each ref of dst is one src has, at the same commit, or not there yet. */
static int ref_in_source(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    cairn_db *src = ctx;
    cairn_id there;
    (void)kind;
    if (cairn_resolve(src, name, &there) || memcmp(&there, commit, sizeof(there)) != 0)
        TEST_FAIL("after a fault the copy has ref '%s' at a commit the source's lacks", name);
    return 0;
}

static void test_faults(void)
{
    static const int fault_kinds[] = {CAIRN_FAULT_FAIL, CAIRN_FAULT_SHORT, CAIRN_FAULT_FLIP};
    char spec[PATH_MAX + 16];
    cairn_db *src;
    uint64_t want;
    int runs = 0;

    store_spec(spec, sizeof(spec), "lmdb", dir, "fault-src");
    src = store_open(spec, 0, 0);
    store_history(src, 10);
    want = reachable(src);
    for (size_t k = 1; k < 3; k++) {
        for (uint64_t n = 1;; n += 1 + test_rand_below(n / 8 + 1), runs++) {
            char dst_spec[PATH_MAX + 16], name[64];
            int kind = fault_kinds[runs % 3];
            cairn_db *dst;
            bool fired;
            int rc;

            snprintf(name, sizeof(name), "fault-%zu-%llu", k, (unsigned long long)n);
            store_spec(dst_spec, sizeof(dst_spec), kinds[k], dir, name);
            dst = store_open(dst_spec, 0, 0);
            cairn__tier_fault_arm_kind(kind == CAIRN_FAULT_FLIP ? "get_many" : "*", n, CAIRN_IO,
                                       kind, false);
            rc = copy_rc(src, dst, NULL, 0, 0);
            fired = cairn__tier_fault_fired();
            cairn__tier_fault_arm("*", 0, 0);
            if (!fired) {
                ASSERT_OK(rc);
                store_same_refs(src, dst, true);
                cairn_close(dst);
                if (kind == CAIRN_FAULT_FLIP)
                    continue; /* (fewer get_many calls than calls: go on with the others) */
                break;
            }
            /* Whatever the copy left, the store is valid: refs only to
             * versions it holds whole, each the source's. */
            store_verify_ok(dst, "a copy stopped by a fault");
            ASSERT_OK(cairn_ref_list(dst, ref_in_source, src));
            ASSERT_OK(copy_rc(src, dst, NULL, 0, 0));
            store_same_refs(src, dst, true);
            store_verify_ok(dst, "a copy run again after a fault");
            ASSERT_EQ(store_blobs(dst), want);
            cairn_close(dst);
        }
    }
    printf("faults: %d copies stopped at a tier call, each valid, each finished by a rerun\n",
           runs);
    cairn_close(src);
}

/* ---------------------------------------------------------------- model */

typedef struct name_set {
    char v[64][CAIRN_NAME_MAX + 1];
    cairn_id ids[64];
    size_t n;
} name_set;

static int add_name(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    name_set *s = ctx;
    (void)kind;
    if (s->n < 64) {
        snprintf(s->v[s->n], sizeof(s->v[0]), "%s", name);
        s->ids[s->n++] = *commit;
    }
    return 0;
}

static void test_model(void)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16];
    static char before[1 << 15];
    cairn_db *src, *dst;
    int copies = 0, conflicts = 0, gcs = 0;

    store_spec(spec, sizeof(spec), "lmdb", dir, "model-src");
    store_spec(dst_spec, sizeof(dst_spec), "file", dir, "model-dst");
    src = store_open(spec, 0, 0);
    dst = store_open(dst_spec, 0, 0);
    store_commit_random(src, NULL, 50, NULL);
    for (int step = 0; step < 120; step++) {
        uint64_t op = test_rand_below(10);
        if (op < 3) {
            static const char *const branches[] = {NULL, "dev", "f1", "f2/x"};
            store_commit_random(src, branches[test_rand_below(4)], 5 + (int)test_rand_below(60),
                                NULL);
        } else if (op == 3) {
            char tag[32];
            cairn_id head;
            snprintf(tag, sizeof(tag), "m%d", step);
            if (cairn_resolve(src, test_rand_below(2) ? "main" : "main~1", &head))
                ASSERT_OK(cairn_resolve(src, "main", &head)); /* (main~1 dropped by gc) */
            ASSERT_OK(cairn_ref_set(src, CAIRN_TAG, tag, &head, 0));
        } else if (op == 4) {
            store_commit_random(dst, "local", 10, NULL); /* the copy's own branch */
        } else if (op == 5) {
            gc_keep(src, 1 + test_rand_below(4));
            gcs++;
        } else if (op >= 6) {
            name_set all = {0}, had = {0};
            const char *pick[3];
            size_t n_pick = 0;
            int rc;
            ASSERT_OK(cairn_ref_list(src, add_name, &all));
            ASSERT_OK(cairn_ref_list(dst, add_name, &had));
            if (test_rand_below(3) != 0)
                for (size_t i = 0, want = 1 + test_rand_below(3); i < want; i++)
                    pick[n_pick++] = all.v[test_rand_below(all.n)];
            snapshot_of(dst, before, sizeof(before));
            rc = copy_rc(src, dst, pick, n_pick, 0);
            if (rc == CAIRN_CONFLICT) {
                /* (the source's gc cut a branch's history below the copy's head) */
                assert_unchanged(dst, before, "a refused copy");
                conflicts++;
                rc = copy_rc(src, dst, pick, n_pick, CAIRN_COPY_FORCE);
            }
            ASSERT_OK(rc);
            copies++;
            for (size_t i = 0; i < (n_pick ? n_pick : all.n); i++)
                store_same_ref(src, dst, n_pick ? pick[i] : all.v[i]);
            for (size_t i = 0; i < had.n; i++) { /* the refs not copied stay */
                bool picked = false;
                cairn_id now;
                for (size_t j = 0; j < (n_pick ? n_pick : all.n); j++)
                    picked |= !strcmp(n_pick ? pick[j] : all.v[j], had.v[i]);
                if (picked)
                    continue;
                ASSERT_OK(cairn_resolve(dst, had.v[i], &now));
                ASSERT_TRUE(memcmp(&now, &had.ids[i], sizeof(now)) == 0);
            }
            store_verify_ok(dst, "a copy in the model");
        }
    }
    printf("model: 120 steps, %d copies (%d refused, then forced), %d gc runs\n", copies,
           conflicts, gcs);
    cairn_close(src);
    cairn_close(dst);
}

int main(void)
{
    test_seed_init(11);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_TRUE(mkdir(dir, 0755) == 0);
    test_pairs();
    test_gc();
    test_conflicts();
    test_settings();
    test_faults();
    test_model();
    printf("ok\n");
    return 0;
}
