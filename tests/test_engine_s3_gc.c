/*
 * test_engine_s3_gc.c - gc on S3 stores, against the fixture's real
 * service (scripts/s3-server.sh). S3 packs are immutable, so gc marks
 * blobs dead and then rewrites the packs mostly dead (tiers/s3/repack.c):
 *
 *  - retention: a history of deletes and puts back, gc keeping the last K
 *    commits: the kept commits read as they were, in this handle and in a
 *    fresh one; verify passes; storage shrank; every pack left is at least
 *    half live, so a second gc rewrites nothing; a pack with nothing live
 *    is retired, not rewritten;
 *  - a reader process that loaded the head before gc keeps reading the
 *    version it opened after gc rewrote the packs (the old ones are
 *    retired, readable for the grace period), and a new reader reads the
 *    new packs;
 *  - orphans: a pack under packs/ of an older epoch that no head names (a
 *    writer killed between its upload and its head write) is deleted; one
 *    of a later epoch is not touched;
 *  - a blob removed and written again before the packs are rewritten (a
 *    commit between two of gc's batches resurrects it) is found, in the
 *    same handle, after the rewrite, and in a fresh handle;
 *  - the model of gcmodel.c (random commits, branches, tags, resets, gc
 *    with random retention; kept commits read their model, dropped ones
 *    are gone, verify passes);
 *  - the race, in one process (S3 gc runs in the writer's process): a
 *    writer thread resurrecting old nodes while gc runs again and again
 *    on the same handle; afterwards the last commits read whole, in a
 *    fresh handle too, and verify passes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "engine.h"
#include "gcutil.h"
#include "s3_int.h"
#include "settings.h"
#include "test.h"
#include "tierutil.h"

static char bucket[64];

static void make_spec(char *out, size_t cap, const char *prefix, const char *opts)
{
    snprintf(out, cap, "s3://%s/gc%s-%ld%s%s", bucket, prefix, (long)getpid(), opts[0] ? "?" : "",
             opts);
}

static s3_tier *s3_of(cairn_db *db)
{
    return (s3_tier *)cairn__stack_tier(db->stack, 0);
}

/* The rc of a request on key (PUT with body, else HEAD). */
static int object_op(const char *key, const char *body)
{
    cairn_s3_client *c = test_s3_client(bucket);
    cairn_s3_request r = {.method = body ? CAIRN_S3_PUT : CAIRN_S3_HEAD, .key = key, .body = body,
                          .body_len = body ? strlen(body) : 0};
    ASSERT_OK(cairn__s3_run(c, &r, 1));
    int rc = r.rc;
    cairn__s3_request_reset(&r, 1);
    cairn__s3_client_close(c);
    return rc;
}

static void check_kept(cairn_db *db, const char *what, const cairn_id *ids, const uint64_t *digests,
                       int from, int to)
{
    int rc;
    for (int i = from; i < to; i++)
        if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
            TEST_FAIL("%s: kept commit %d reads otherwise after gc (rc %d: %s)", what, i, rc,
                      rc ? cairn_errdetail() : "");
}

/* ---------------------------------------------------------------- retention */

static void retention(void)
{
    enum { COMMITS = 60, KEEP = 5 };
    char spec[512];
    cairn_id ids[COMMITS];
    uint64_t digests[COMMITS], rng = test_seed * 31;
    /* merge_at high: every commit's pack stays its own, so gc has packs
     * all dead, mostly dead and mostly live to deal with. */
    make_spec(spec, sizeof(spec), "ret", "merge_at=1000");
    cairn_db *db = gc_open_db(spec);
    gc_history(db, &rng, ids, digests, COMMITS);
    size_t packs_before = s3_of(db)->head.n_packs;

    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_options_init(&o);
    o.keep_last = KEEP;
    o.grace_s = 0;
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_EQ(r.commits_kept, KEEP);
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    ASSERT_TRUE(r.tiers[0].packs_rewritten > 0);
    ASSERT_TRUE(r.tiers[0].stored_after < r.tiers[0].stored_before);
    size_t packs_after = s3_of(db)->head.n_packs;
    ASSERT_TRUE(packs_after < packs_before);
    ASSERT_TRUE(s3_of(db)->head.n_retired > 0);
    check_kept(db, "s3 retention", ids, digests, COMMITS - KEEP, COMMITS);
    uint64_t stored_before = r.tiers[0].stored_before, stored_after = r.tiers[0].stored_after;
    uint64_t freed = r.tiers[0].blobs_freed, rewritten = r.tiers[0].packs_rewritten;

    /* A fresh handle loads the directory from the new head alone. */
    cairn_close(db);
    db = gc_open_db(spec);
    check_kept(db, "s3 retention, reopened", ids, digests, COMMITS - KEEP, COMMITS);
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    ASSERT_EQ(vr.commits, KEEP);
    /* Every pack left is at least half live: nothing to rewrite. What a
     * second gc still finds dead sits in such packs. */
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_EQ(r.tiers[0].packs_rewritten, 0);
    ASSERT_TRUE(r.tiers[0].bytes_dead * 2 <= r.tiers[0].bytes_before);
    check_kept(db, "s3 retention, second gc", ids, digests, COMMITS - KEEP, COMMITS);
    printf("s3 retention: %d commits in %zu packs, keep %d: %llu blobs freed, %llu packs "
           "rewritten or retired, %zu named after; storage %llu -> %llu bytes; kept commits read "
           "as they were, fresh handle too; verify passes; a second gc rewrites nothing\n",
           COMMITS, packs_before, KEEP, (unsigned long long)freed, (unsigned long long)rewritten,
           packs_after, (unsigned long long)stored_before, (unsigned long long)stored_after);
    cairn_close(db);
}

/* ---------------------------------------------------------------- a reader */

static void old_reader(void)
{
    enum { COMMITS = 30, KEEP = 3 };
    char spec[512];
    cairn_id ids[COMMITS];
    uint64_t digests[COMMITS], rng = test_seed * 37;
    int to_child[2], to_parent[2];
    make_spec(spec, sizeof(spec), "reader", "merge_at=1000");
    cairn_db *db = gc_open_db(spec);
    gc_history(db, &rng, ids, digests, COMMITS);
    ASSERT_OK(pipe(to_child));
    ASSERT_OK(pipe(to_parent));

    pid_t pid = fork();
    if (pid == 0) {
        /* The reader: opens, reads one key (the directory and the head are
         * loaded, few nodes), waits for gc, then reads its version whole. */
        cairn_options opts;
        cairn_db *rdb;
        cairn_snapshot *snap;
        cairn_val v;
        char c;
        int rc;
        cairn_options_init(&opts);
        if (cairn_open(spec, &opts, &rdb) || cairn_snapshot_open(rdb, NULL, &snap))
            _exit(2);
        rc = cairn_get(snap, NULL, "key00001", 8, &v);
        if (rc && rc != CAIRN_NOTFOUND)
            _exit(3);
        cairn_snapshot_close(snap);
        if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
            _exit(4);
        uint64_t d = gc_digest_commit(rdb, &ids[COMMITS - 1], &rc);
        if (rc) {
            fprintf(stderr, "reader: %s: %s\n", cairn_errname(rc), cairn_errdetail());
            _exit(5);
        }
        _exit(d == digests[COMMITS - 1] ? 0 : 6);
    }
    char c;
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_options_init(&o);
    o.keep_last = KEEP;
    o.grace_s = 0;
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_TRUE(r.tiers[0].packs_rewritten > 0);
    ASSERT_OK(cairn_gc(db, &o, &r)); /* a second run must not delete what the grace keeps */
    ASSERT_EQ(write(to_child[1], "g", 1), 1);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("the reader that loaded the head before gc failed (exit %d)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cairn_close(db);
    db = gc_open_db(spec);
    check_kept(db, "a new reader after gc", ids, digests, COMMITS - KEEP, COMMITS);
    cairn_close(db);
    printf("s3 reader: a reader that loaded the head before gc read its version whole after "
           "gc rewrote its packs; a new reader reads the new ones\n");
}

/* ---------------------------------------------------------------- orphans */

static void orphans(void)
{
    char spec[512], old_key[256], new_key[256];
    cairn_id ids[4];
    uint64_t digests[4], rng = test_seed * 41;
    make_spec(spec, sizeof(spec), "orphan", "");
    cairn_db *db = gc_open_db(spec);
    gc_history(db, &rng, ids, digests, 4);
    const char *prefix = s3_of(db)->prefix;
    snprintf(old_key, sizeof(old_key), "%spacks/0000000000000000-0000000000000001-0badcafe.pack",
             prefix);
    snprintf(new_key, sizeof(new_key), "%spacks/7fffffffffffffff-0000000000000001-0badcafe.pack",
             prefix);
    ASSERT_OK(object_op(old_key, "left by a writer killed before its head write"));
    ASSERT_OK(object_op(new_key, "a pack of an epoch after ours"));
    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_options_init(&o);
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_RC(object_op(old_key, NULL), CAIRN_NOTFOUND);
    ASSERT_OK(object_op(new_key, NULL));
    check_kept(db, "s3 orphans", ids, digests, 0, 4);
    cairn_close(db);
    printf("s3 orphans: an unnamed pack of an older epoch deleted, one of a later epoch kept\n");
}

/* ---------------------------------------------------------------- resurrection */

static void resurrected_between_batches(void)
{
    char spec[512];
    cairn_id ref_id;
    make_spec(spec, sizeof(spec), "resurrect", "merge_at=1000");
    test_blob b[3] = {make_blob(1, 300), make_blob(2, 300), make_blob(3, 300)};
    cairn_blob put[3] = {as_blob(&b[0]), as_blob(&b[1]), as_blob(&b[2])};
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    ref_id = b[0].id;
    ASSERT_OK(cairn__tier_publish(t, put, 3, "heads/main", NULL, &ref_id));
    ASSERT_OK(cairn__tier_remove_many(t, &b[0].id, 1));
    ASSERT_TRUE(!holds(t, &b[0]));
    ASSERT_TRUE(holds(t, &b[1]));
    /* The commit after the batch needs it again, and writes it again. */
    ASSERT_OK(cairn__tier_publish(t, put, 1, "heads/main", &ref_id, &b[1].id));
    ASSERT_TRUE(holds(t, &b[0]));
    cairn_reclaim_result r;
    ASSERT_OK(cairn__tier_reclaim(t, &r));
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(holds(t, &b[i]));
    cairn__tier_close(t);
    ASSERT_OK(cairn__tier_open(spec, CAIRN_RDONLY, &t));
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(holds(t, &b[i]));
    cairn__tier_close(t);
    for (int i = 0; i < 3; i++)
        free(b[i].data);
    printf("s3 resurrection: a blob removed and written again before its pack is rewritten "
           "is found after the rewrite, in a fresh handle too\n");
}

/* ---------------------------------------------------------------- the race */

#define RACE_COMMITS_MAX 1000
#define RACE_COMMITS 150 /* at least, while gc runs */
#define RACE_GC_RUNS 6

struct writer {
    cairn_db *db;
    uint64_t rng;
    cairn_id ids[RACE_COMMITS_MAX];
    _Atomic int n;
    _Atomic bool stop;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    cairn_id id;
    while (!atomic_load(&w->stop) && w->n < RACE_COMMITS_MAX) {
        uint64_t saved = w->rng;
        int rc = gc_commit_batch(w->db, &w->rng, &id);
        if (rc == CAIRN_BUSY) {
            w->rng = saved;
            usleep(500);
            continue;
        }
        if (rc)
            TEST_FAIL("writer: %s: %s", cairn_errname(rc), cairn_errdetail());
        if (!w->n || !cairn__id_eq(&id, &w->ids[w->n - 1]))
            w->ids[w->n++] = id;
        usleep(20000); /* a writer with gaps between its commits, as most have */
    }
    return NULL;
}

static void race(void)
{
    char spec[512];
    make_spec(spec, sizeof(spec), "race", "merge_at=4");
    static struct writer w;
    w.db = gc_open_db(spec);
    w.rng = test_seed * 43;
    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, writer_main, &w));
    cairn_gc_options o;
    cairn_gc_options_init(&o);
    o.keep_last = 2;
    o.grace_s = 0;
    uint64_t runs = 0, freed = 0, caught = 0, late = 0, rewritten = 0;
    while (runs < RACE_GC_RUNS || atomic_load(&w.n) < RACE_COMMITS) {
        cairn_gc_report r;
        int rc = cairn_gc(w.db, &o, &r);
        if (rc == CAIRN_NOTFOUND) { /* no commit yet */
            usleep(1000);
            continue;
        }
        ASSERT_OK(rc);
        runs++;
        freed += r.tiers[0].blobs_freed;
        rewritten += r.tiers[0].packs_rewritten;
        caught += r.caught_up;
        late += r.kept_late;
    }
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    int rc;
    for (int i = w.n - 2; i < w.n; i++) {
        gc_digest_commit(w.db, &w.ids[i], &rc);
        if (rc)
            TEST_FAIL("s3 race: commit %d of %d cannot be read whole: %s", i, w.n,
                      cairn_errdetail());
    }
    /* verify reads every blob from the tier, not the node cache: the
     * writer's handle must find each one, resurrected ones too. */
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(w.db, NULL, NULL, &vr));
    cairn_close(w.db);
    cairn_db *db = gc_open_db(spec);
    for (int i = w.n - 2; i < w.n; i++) {
        gc_digest_commit(db, &w.ids[i], &rc);
        if (rc)
            TEST_FAIL("s3 race, fresh handle: commit %d of %d cannot be read whole: %s", i, w.n,
                      cairn_errdetail());
    }
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    cairn_close(db);
    ASSERT_TRUE(caught > 0);
    printf("s3 race: %d commits by a writer thread, %llu gc runs alongside freed %llu blobs, "
           "rewrote %llu packs, caught up %llu commits, kept %llu blobs dead at their mark; "
           "the last commits read whole, fresh handle too; verify passes\n",
           w.n, (unsigned long long)runs, (unsigned long long)freed,
           (unsigned long long)rewritten, (unsigned long long)caught, (unsigned long long)late);
}

int main(void)
{
    snprintf(bucket, sizeof(bucket), "%s", test_s3_bucket());
    test_seed_init(13);
    retention();
    old_reader();
    orphans();
    resurrected_between_batches();
    char spec[512];
    make_spec(spec, sizeof(spec), "model", "merge_at=6");
    gc_model_run(spec, test_seed * 1000, 150);
    race();
    printf("ok\n");
    return 0;
}
