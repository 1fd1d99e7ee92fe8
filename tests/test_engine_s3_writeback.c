/*
 * test_engine_s3_writeback.c - a write-back S3 tier gets heads only
 * (engine/replicate.c): versions superseded between two syncs are never
 * uploaded. Against the fixture's real S3 service.
 *
 *  - heads only: after commits and a sync, a reader of S3 alone finds the
 *    synced head whole and none of the commits before it (CAIRN_MISSING);
 *    its log is the head and the boundary; its verify is clean; S3 holds
 *    fewer blobs than the history has (counted); the writer's stack
 *    verifies, each tier by its own boundary list;
 *  - a sync of one commit on a synced head keeps the link (S3's log: both
 *    heads, then the boundary), and the sync uploads one pack and moves
 *    every ref in one head write (2 PUTs);
 *  - kills: a sync killed at each of its tier calls in turn, then synced
 *    again: S3 names the writer's head, which reads whole, and verifies;
 *  - failover: a writer on an empty directory takes S3's head over (its
 *    own boundary list gets the head), verifies, commits and syncs;
 *  - gc on the writer's stack with commits not yet synced, keeping only
 *    the last: S3's head, which the policy alone would drop, stays whole
 *    in S3 (and in the front store), and the next sync goes on from it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "gcutil.h"
#include "test.h"

static char s3_spec[600], dir[600];

static void writer_spec(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "lmdb:%s/%s>%s%swrite=back", dir, name, s3_spec,
             strchr(s3_spec, '?') ? "&" : "?");
}

/* n commits that change something, their ids into ids (may be NULL). */
static void commits(cairn_db *db, uint64_t *rng, int n, cairn_id *ids)
{
    cairn_id id, last;
    memset(&last, 0, sizeof(last));
    for (int made = 0; made < n;) {
        ASSERT_OK(gc_commit_batch(db, rng, &id));
        if (made && cairn__id_eq(&id, &last))
            continue;
        if (ids)
            ids[made] = id;
        last = id;
        made++;
    }
}

static int count_commit(void *ctx, const cairn_commit_info *info)
{
    (void)info;
    ++*(int *)ctx;
    return 0;
}

/* Commits S3 alone shows back from main, and whether the walk ended at
 * a boundary. */
static int s3_log_length(bool *at_boundary)
{
    cairn_db *r = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
    cairn_id head;
    cairn_commit_info info;
    int n = 0;
    ASSERT_OK(cairn_resolve(r, "main", &head));
    ASSERT_OK(cairn_commit_walk(r, &head, 1, count_commit, &n));
    /* the last commit walked: follow first parents to see how it ends */
    cairn_id id = head;
    for (;;) {
        ASSERT_OK(cairn_commit_get(r, &id, &info));
        bool more = info.has_parent && !info.history_dropped;
        *at_boundary = info.history_dropped;
        id = info.parent;
        cairn_commit_info_clear(&info);
        if (!more)
            break;
    }
    cairn_close(r);
    return n;
}

static void verify_ok(cairn_db *db, const char *what)
{
    cairn_verify_report vr;
    int rc = cairn_verify(db, NULL, NULL, &vr);
    if (rc || vr.problems)
        TEST_FAIL("%s: verify: %s", what, rc ? cairn_errdetail() : "problems");
}

static void heads_only(void)
{
    char spec[1400];
    cairn_id ids[12];
    uint64_t rng = test_seed * 3, digest;
    int rc;
    writer_spec(spec, sizeof(spec), "w");
    cairn_db *w = gc_open_db_flags(spec, 0);
    commits(w, &rng, 12, ids);
    digest = gc_digest_commit(w, &ids[11], &rc);
    ASSERT_OK(rc);
    ASSERT_OK(cairn_sync(w));

    cairn_db *r = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
    if (gc_digest_commit(r, &ids[11], &rc) != digest || rc)
        TEST_FAIL("S3's head does not read as the writer's (rc %d)", rc);
    for (int i = 0; i < 11; i++) {
        cairn_commit_info info;
        rc = cairn_commit_get(r, &ids[i], &info);
        if (rc == 0)
            TEST_FAIL("commit %d of 12, superseded before the sync, is in S3", i);
        ASSERT_RC(rc, CAIRN_MISSING);
    }
    verify_ok(r, "S3 alone after a sync of 12 commits");
    cairn_stats st;
    ASSERT_OK(cairn_stats_get(r, NULL, &st));
    uint64_t s3_blobs = st.tiers[0].blobs;
    cairn_close(r);
    cairn_stats wst;
    ASSERT_OK(cairn_stats_get(w, NULL, &wst));
    ASSERT_TRUE(s3_blobs < wst.tiers[0].blobs);
    bool boundary;
    ASSERT_EQ(s3_log_length(&boundary), 1);
    ASSERT_TRUE(boundary);
    verify_ok(w, "the writer's stack after a sync");

    /* One commit on the synced head: the link stays; one pack, one head. */
    commits(w, &rng, 1, ids);
    cairn_stats before, after;
    ASSERT_OK(cairn_stats_get(w, NULL, &before));
    ASSERT_OK(cairn_sync(w));
    ASSERT_OK(cairn_stats_get(w, NULL, &after));
    ASSERT_EQ(after.tiers[1].req_put - before.tiers[1].req_put, 2);
    ASSERT_EQ(s3_log_length(&boundary), 2);
    ASSERT_TRUE(boundary);
    verify_ok(w, "the writer's stack after a second sync");
    printf("heads only: 12 commits synced as one version: S3 holds %llu blobs against the "
           "writer's %llu, none of the 11 superseded commits, its log is the head and the "
           "boundary; a one-commit sync on it: 2 PUTs, the link kept; verify clean on both\n",
           (unsigned long long)s3_blobs, (unsigned long long)wst.tiers[0].blobs);
    cairn_close(w);
}

/* Syncs in a child that SIGKILLs itself at its kill_at-th tier call.
 * Returns whether it was killed. */
static bool sync_child(const char *spec, uint64_t kill_at)
{
    pid_t pid = fork();
    if (pid == 0) {
        cairn_db *w = gc_open_db_flags(spec, 0);
        cairn__tier_fault_arm_kind("*", kill_at, CAIRN_TIER, CAIRN_FAULT_KILL, false);
        int rc = cairn_sync(w);
        if (rc) {
            fprintf(stderr, "sync child: %s: %s\n", cairn_errname(rc), cairn_errdetail());
            _exit(1);
        }
        cairn_close(w);
        _exit(0);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return true;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return false;
}

static void kills(void)
{
    char spec[1400];
    uint64_t rng = test_seed * 5;
    int killed = 0;
    writer_spec(spec, sizeof(spec), "w");
    for (uint64_t kill_at = 1;; kill_at++) {
        cairn_db *w = gc_open_db_flags(spec, 0);
        commits(w, &rng, 3, NULL);
        cairn_close(w);
        if (!sync_child(spec, kill_at))
            break; /* it made fewer calls than kill_at: every point was tried */
        killed++;
        w = gc_open_db_flags(spec, 0);
        ASSERT_OK(cairn_sync(w));
        cairn_id head, s3_head;
        int rc;
        ASSERT_OK(cairn_resolve(w, "main", &head));
        uint64_t want = gc_digest_commit(w, &head, &rc);
        ASSERT_OK(rc);
        cairn_close(w);
        cairn_db *r = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
        ASSERT_OK(cairn_resolve(r, "main", &s3_head));
        if (!cairn__id_eq(&head, &s3_head) || gc_digest_commit(r, &head, &rc) != want || rc)
            TEST_FAIL("a sync killed at call %llu, then synced: S3 does not hold the writer's "
                      "head whole (rc %d)", (unsigned long long)kill_at, rc);
        verify_ok(r, "S3 alone after a killed sync and a rerun");
        cairn_close(r);
        ASSERT_TRUE(kill_at < 500);
    }
    ASSERT_TRUE(killed > 3);
    printf("kills: a sync killed at each of its %d tier calls in turn, then synced again: S3 "
           "holds the writer's head whole and verifies\n", killed);
}

static void failover(void)
{
    char spec[1400];
    uint64_t rng = test_seed * 7;
    cairn_id s3_head, head;
    writer_spec(spec, sizeof(spec), "w2");
    cairn_db *r = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
    ASSERT_OK(cairn_resolve(r, "main", &s3_head));
    cairn_close(r);
    cairn_db *w = gc_open_db_flags(spec, 0); /* an empty directory: takes S3's history */
    ASSERT_OK(cairn_resolve(w, "main", &head));
    ASSERT_TRUE(cairn__id_eq(&head, &s3_head));
    verify_ok(w, "a new writer after taking S3's head over");
    commits(w, &rng, 2, NULL);
    ASSERT_OK(cairn_sync(w));
    verify_ok(w, "the new writer after its sync");
    ASSERT_OK(cairn_resolve(w, "main", &head));
    cairn_close(w);
    r = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
    ASSERT_OK(cairn_resolve(r, "main", &s3_head));
    ASSERT_TRUE(cairn__id_eq(&head, &s3_head));
    verify_ok(r, "S3 alone after the new writer's sync");
    cairn_close(r);
    printf("failover: a writer on an empty directory took S3's head over, verified, "
           "committed and synced\n");
}

static void gc_before_sync(void)
{
    char spec[1400];
    uint64_t rng = test_seed * 11;
    cairn_id s3_head;
    int rc;
    writer_spec(spec, sizeof(spec), "w2");
    cairn_db *w = gc_open_db_flags(spec, 0);
    commits(w, &rng, 3, NULL);
    ASSERT_OK(cairn_sync(w));
    ASSERT_OK(cairn_resolve(w, "main", &s3_head));
    uint64_t want = gc_digest_commit(w, &s3_head, &rc);
    ASSERT_OK(rc);
    commits(w, &rng, 20, NULL); /* not synced: S3 still names s3_head */
    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_options_init(&o);
    o.keep_last = 1;
    o.grace_s = 0;
    ASSERT_OK(cairn_gc(w, &o, &r));
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    verify_ok(w, "the writer's stack after gc");
    cairn_close(w);
    cairn_db *rd = gc_open_db_flags(s3_spec, CAIRN_RDONLY);
    cairn_id got;
    ASSERT_OK(cairn_resolve(rd, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &s3_head));
    if (gc_digest_commit(rd, &s3_head, &rc) != want || rc)
        TEST_FAIL("gc on the writer's stack broke S3's synced head (rc %d)", rc);
    verify_ok(rd, "S3 alone after gc on the writer's stack");
    cairn_close(rd);
    w = gc_open_db_flags(spec, 0);
    ASSERT_OK(cairn_sync(w));
    verify_ok(w, "the writer's stack after gc and a sync");
    cairn_close(w);
    printf("gc before a sync: keep-last 1 with 20 commits unsynced freed %llu blobs; S3's head "
           "stayed whole; the next sync went on from it\n",
           (unsigned long long)r.tiers[0].blobs_freed);
}

int main(void)
{
    test_seed_init(23);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    snprintf(s3_spec, sizeof(s3_spec), "s3://%s/wb-%ld", test_s3_bucket(), (long)getpid());
    heads_only();
    kills();
    failover();
    gc_before_sync();
    printf("ok\n");
    return 0;
}
