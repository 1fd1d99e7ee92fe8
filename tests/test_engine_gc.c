/*
 * test_engine_gc.c - gc's list, mark and sweep (engine/gc.h) on local
 * tiers, and its protocol against a writer that resurrects old nodes.
 *
 *  - orphans: blobs no commit reaches (written straight to the tiers) are
 *    exactly what a gc that keeps all history frees; verify passes after;
 *    a second gc finds nothing;
 *  - retention: a history where keys are deleted and added back with the
 *    same values (old leaves referenced again); gc keeping the last K
 *    commits frees blobs, and every kept commit still reads exactly what it
 *    held (a digest of its whole contents, taken when it was made); a
 *    second gc finds nothing;
 *  - the race: a writer process commits such a history in a loop while gc
 *    runs again and again in this one (keep_last 2, no grace: as much as
 *    possible is dead at each mark). Afterwards the head and the commits
 *    gc kept read whole and match the writer's model.
 *  - kills: gc killed at a random call into the tiers (any phase: mark,
 *    list, sweep, reclaim), commits made, gc run again: after each kill the
 *    store verifies and every commit that any run keeps reads as it did;
 *    the rerun takes up the killed run's mark when it finished one.
 * On lmdb and file (the file tier skips writing a blob it holds: the case
 * the protocol exists for). And on lmdb, the compaction after gc:
 *  - with no other process on the store, data.mdb shrinks, the kept
 *    commits read as they were (in a second handle of this process too)
 *    and verify passes;
 *  - with another process holding the store open, gc says it did not
 *    compact and the file keeps its size; that process still reads; once
 *    it has gone, the next gc compacts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "gcutil.h"
#include "test.h"

static void orphans(const char *spec)
{
    cairn_db *db = gc_open_db(spec);
    uint64_t rng = test_seed;
    cairn_id id;
    cairn_gc_report r;
    cairn_gc_options keep_all, dry;
    cairn_gc_options_init(&keep_all);
    dry = keep_all;
    dry.dry_run = true;

    for (int i = 0; i < 20; i++)
        ASSERT_OK(gc_commit_batch(db, &rng, &id));
    cairn_blob junk[50];
    char bytes[50][40];
    for (int i = 0; i < 50; i++) {
        snprintf(bytes[i], sizeof(bytes[i]), "orphan %d of seed %llu", i,
                 (unsigned long long)test_seed);
        junk[i].data = bytes[i];
        junk[i].len = strlen(bytes[i]);
        ASSERT_OK(cairn__sha256(junk[i].data, junk[i].len, &junk[i].id));
    }
    ASSERT_OK(cairn__stack_put_many(db->stack, junk, 50));
    ASSERT_OK(cairn_gc(db, &dry, &r)); /* dry run first */
    ASSERT_EQ(r.tiers[0].blobs_dead, 50);
    ASSERT_EQ(r.tiers[0].blobs_freed, 0);
    ASSERT_OK(cairn_gc(db, &keep_all, &r));
    ASSERT_EQ(r.tiers[0].blobs_dead, 50);
    ASSERT_EQ(r.tiers[0].blobs_freed, 50);
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    ASSERT_OK(cairn_gc(db, &keep_all, &r));
    ASSERT_EQ(r.tiers[0].blobs_dead, 0);
    printf("%s: orphans: the dry run found 50, gc freed exactly them, verify passes, a rerun "
           "finds none\n", spec);
    cairn_close(db);
}

static void retention(const char *spec)
{
    enum { COMMITS = 120, KEEP = 10 };
    cairn_db *db = gc_open_db(spec);
    uint64_t rng = test_seed * 7919, digests[COMMITS];
    cairn_id ids[COMMITS];
    int rc;

    gc_history(db, &rng, ids, digests, COMMITS);
    cairn_gc_options p;
    cairn_gc_options_init(&p);
    p.keep_last = KEEP;
    p.grace_s = 0;
    cairn_gc_report r;
    ASSERT_OK(cairn_gc(db, &p, &r));
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    ASSERT_EQ(r.tiers[0].blobs_freed, r.tiers[0].blobs_dead);
    uint64_t freed = r.tiers[0].blobs_freed, before = r.tiers[0].blobs_before;
    ASSERT_EQ(r.commits_kept, KEEP);
    for (int i = COMMITS - KEEP; i < COMMITS; i++)
        if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
            TEST_FAIL("%s: kept commit %d reads otherwise after gc (rc %d)", spec, i, rc);
    /* A fresh handle (nothing cached) reads them the same. */
    cairn_close(db);
    db = gc_open_db(spec);
    for (int i = COMMITS - KEEP; i < COMMITS; i++)
        if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
            TEST_FAIL("%s: kept commit %d reads otherwise after gc, reopened (rc %d)", spec, i,
                      rc);
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr)); /* the boundary's dropped parent is expected */
    ASSERT_EQ(vr.commits, KEEP);
    ASSERT_OK(cairn_gc(db, &p, &r));
    ASSERT_EQ(r.tiers[0].blobs_dead, 0);
    printf("%s: retention: %d commits, keep %d: %llu of %llu blobs freed; the kept ones read "
           "as they were; verify passes; a rerun finds none\n", spec, COMMITS, KEEP,
           (unsigned long long)freed, (unsigned long long)before);
    cairn_close(db);
}

/* The writer process of the race: commits until told to stop, retrying
 * while gc holds the lock; writes its commit ids, one per line, to log. */
static void race_writer(const char *spec, const char *log, uint64_t seed, int commits)
{
    cairn_db *db = gc_open_db(spec);
    FILE *f = fopen(log, "w");
    uint64_t rng = seed;
    cairn_id id, last;
    int n = 0, rc;

    memset(&last, 0, sizeof(last));
    while (n < commits) {
        uint64_t saved = rng;
        if ((rc = gc_commit_batch(db, &rng, &id)) == CAIRN_BUSY) {
            rng = saved; /* the same batch again */
            usleep(1000);
            continue;
        }
        if (rc) {
            fprintf(stderr, "writer: %s: %s\n", cairn_errname(rc), cairn_errdetail());
            _exit(1);
        }
        usleep(2000); /* a writer with gaps between its transactions, as most have */
        if (!cairn__id_eq(&id, &last)) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&id, hex);
            fprintf(f, "%s\n", hex);
            fflush(f);
            last = id;
        }
        n++;
    }
    fclose(f);
    cairn_close(db);
    _exit(0);
}

static void race(const char *spec, const char *log)
{
    enum { COMMITS = 300 };
    uint64_t seed = test_seed * 104729;
    cairn_close(gc_open_db(spec)); /* created here: not by two processes at once */
    pid_t pid = fork();
    if (pid == 0)
        race_writer(spec, log, seed, COMMITS);
    cairn_db *db = gc_open_db(spec);
    cairn_gc_options p;
    cairn_gc_options_init(&p);
    p.keep_last = 2;
    p.grace_s = 0;
    uint64_t runs = 0, freed = 0, caught = 0, late = 0;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        cairn_gc_report r;
        int rc = cairn_gc(db, &p, &r);
        if (rc == CAIRN_NOTFOUND) { /* no commit yet */
            usleep(1000);
            continue;
        }
        ASSERT_OK(rc);
        runs++;
        freed += r.tiers[0].blobs_freed;
        caught += r.caught_up;
        late += r.kept_late;
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The writer's last commits read whole, as its model says. */
    cairn_close(db);
    db = gc_open_db(spec);
    uint64_t rng = seed;
    FILE *f = fopen(log, "r");
    char line[100];
    cairn_id ids[COMMITS];
    int n = 0;
    ASSERT_TRUE(f != NULL);
    while (fgets(line, sizeof(line), f) && n < COMMITS) {
        line[strcspn(line, "\n")] = 0;
        ASSERT_OK(cairn_id_from_hex(line, &ids[n++]));
    }
    fclose(f);
    (void)rng;
    int rc;
    for (int i = n - 2; i < n; i++) {
        gc_digest_commit(db, &ids[i], &rc);
        if (rc)
            TEST_FAIL("%s: after the race, commit %d of %d cannot be read whole: %s", spec, i, n,
                      cairn_errdetail());
    }
    cairn_gc_report r;
    ASSERT_OK(cairn_gc(db, &p, &r)); /* and a last gc leaves them whole */
    for (int i = n - 2; i < n; i++) {
        gc_digest_commit(db, &ids[i], &rc);
        ASSERT_OK(rc);
    }
    printf("%s: race: %d commits by a writer process, %llu gc runs alongside freed %llu blobs, "
           "caught up %llu commits, kept %llu blobs dead at their mark; the last commits read "
           "whole\n", spec, n, (unsigned long long)runs, (unsigned long long)freed,
           (unsigned long long)caught, (unsigned long long)late);
    ASSERT_TRUE(runs >= 2);
    cairn_close(db);
}

/* gc in a child process that kills itself at the kill_at-th tier call
 * (0: never, counting the calls instead). Returns the calls counted, or 0
 * when it was killed. */
static uint64_t gc_child(const char *spec, const cairn_gc_options *o, uint64_t kill_at)
{
    int fd[2];
    uint64_t seen = 0;
    ASSERT_OK(pipe(fd));
    pid_t pid = fork();
    if (pid == 0) {
        cairn_db *db = gc_open_db(spec);
        cairn_gc_report r;
        cairn__tier_fault_arm_kind("*", kill_at ? kill_at : UINT64_MAX, CAIRN_TIER,
                                   CAIRN_FAULT_KILL, false);
        int rc = cairn_gc(db, o, &r);
        uint64_t n = cairn__tier_fault_seen();
        if (rc) {
            fprintf(stderr, "gc child: %s: %s\n", cairn_errname(rc), cairn_errdetail());
            _exit(1);
        }
        cairn_close(db);
        _exit(write(fd[1], &n, sizeof(n)) == sizeof(n) ? 0 : 2);
    }
    close(fd[1]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        close(fd[0]);
        return 0;
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(read(fd[0], &seen, sizeof(seen)), (ssize_t)sizeof(seen));
    close(fd[0]);
    return seen;
}

/* gc killed at every tier call it makes, each time on a fresh copy of
 * the same store (40 commits, keep the last 3: the first gc of a store,
 * which drops most). After each kill the store verifies and the kept
 * commits read as they did; commits are made; a rerun finishes, taking up
 * the killed run's mark if it had finished one, and the store verifies. */
static void kills(const char *kind, const char *dir)
{
    enum { COMMITS = 40, KEEP = 3, MAX = COMMITS + 4 };
    uint64_t rng = test_seed * 7907, digests[MAX];
    cairn_id ids[MAX];
    char template_spec[700], spec[700], cmd[1600];
    int n = 0, rc, killed = 0, resumed = 0;
    cairn_gc_options o;
    cairn_gc_options_init(&o);
    o.keep_last = KEEP;
    o.grace_s = 0;

    snprintf(template_spec, sizeof(template_spec), "%s:%s/kills-%s", kind, dir, kind);
    cairn_db *db = gc_open_db(template_spec);
    gc_history(db, &rng, ids, digests, COMMITS);
    n = COMMITS;
    cairn_close(db);
    snprintf(spec, sizeof(spec), "%s:%s/kills-%s-run", kind, dir, kind);
    snprintf(cmd, sizeof(cmd), "rm -rf %s/kills-%s-run && cp -a %s/kills-%s %s/kills-%s-run", dir,
             kind, dir, kind, dir, kind);
    ASSERT_OK(system(cmd));
    uint64_t calls = gc_child(spec, &o, 0); /* the calls of a whole run */
    ASSERT_TRUE(calls > 0);

    for (uint64_t kill_at = 1; kill_at <= calls; kill_at++) {
        ASSERT_OK(system(cmd));
        killed += gc_child(spec, &o, kill_at) == 0;
        db = gc_open_db(spec);
        cairn_verify_report vr;
        if ((rc = cairn_verify(db, NULL, NULL, &vr)) || vr.problems)
            TEST_FAIL("%s: gc killed at call %llu of %llu: verify: %s", spec,
                      (unsigned long long)kill_at, (unsigned long long)calls,
                      rc ? cairn_errdetail() : "problems");
        for (int i = COMMITS - KEEP; i < COMMITS; i++)
            if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
                TEST_FAIL("%s: gc killed at call %llu: kept commit %d reads otherwise (rc %d)",
                          spec, (unsigned long long)kill_at, i, rc);
        /* commits between the killed run and the next: its catch-up */
        uint64_t r2 = rng;
        for (n = COMMITS; n < COMMITS + 1 + (int)(kill_at % 4);) {
            ASSERT_OK(gc_commit_batch(db, &r2, &ids[n]));
            if (cairn__id_eq(&ids[n], &ids[n - 1]))
                continue;
            digests[n] = gc_digest_commit(db, &ids[n], &rc);
            ASSERT_OK(rc);
            n++;
        }
        cairn_gc_report r;
        ASSERT_OK(cairn_gc(db, &o, &r));
        resumed += r.resumed;
        for (int i = n - KEEP; i < n; i++)
            if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
                TEST_FAIL("%s: the rerun after a kill at call %llu: kept commit %d reads "
                          "otherwise (rc %d)", spec, (unsigned long long)kill_at, i, rc);
        if ((rc = cairn_verify(db, NULL, NULL, &vr)) || vr.problems)
            TEST_FAIL("%s: the rerun after a kill at call %llu: verify: %s", spec,
                      (unsigned long long)kill_at, rc ? cairn_errdetail() : "problems");
        cairn_close(db);
    }
    ASSERT_EQ(killed, (int)calls);
    ASSERT_TRUE(resumed >= 1);
    printf("%s: kills: gc killed at each of its %llu tier calls in turn; after each, verify "
           "passes and the kept commits read as they were; a rerun after new commits finishes "
           "(%d took up the killed run's mark) and verify passes\n", kind,
           (unsigned long long)calls, resumed);
}

static uint64_t size_of(const char *path)
{
    struct stat st;
    ASSERT_OK(stat(path, &st));
    return (uint64_t)st.st_size;
}

static void compaction(const char *dir)
{
    enum { COMMITS = 150, KEEP = 3 };
    char spec[700], data[700];
    uint64_t rng = test_seed * 6151, digests[COMMITS];
    cairn_id ids[COMMITS];
    int rc, to_child[2], to_parent[2];
    char c;

    snprintf(spec, sizeof(spec), "lmdb:%s/compact", dir);
    snprintf(data, sizeof(data), "%s/compact/data.mdb", dir);
    cairn_db *db = gc_open_db(spec);
    gc_history(db, &rng, ids, digests, COMMITS);
    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_options_init(&o);
    o.keep_last = KEEP;
    o.grace_s = 0;

    /* Another process has the store open: no compaction, and it reads on. */
    ASSERT_OK(pipe(to_child));
    ASSERT_OK(pipe(to_parent));
    pid_t pid = fork();
    if (pid == 0) {
        cairn_options opts;
        cairn_db *other;
        cairn_options_init(&opts);
        opts.flags = CAIRN_RDONLY;
        if (cairn_open(spec, &opts, &other) || write(to_parent[1], "o", 1) != 1 ||
            read(to_child[0], &c, 1) != 1)
            _exit(2);
        uint64_t d = gc_digest_commit(other, &ids[COMMITS - 1], &rc);
        cairn_close(other);
        _exit(rc ? 3 : d == digests[COMMITS - 1] ? 0 : 4);
    }
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);
    uint64_t before = size_of(data);
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_TRUE(r.tiers[0].blobs_freed > 0);
    ASSERT_TRUE(strstr(r.tiers[0].note, "not compacted: another process") != NULL);
    ASSERT_EQ(r.tiers[0].stored_after, r.tiers[0].stored_before);
    ASSERT_TRUE(size_of(data) >= before);
    ASSERT_EQ(write(to_child[1], "g", 1), 1);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Alone now (with a second handle in this process): compacted. */
    cairn_db *second = gc_open_db(spec);
    for (int i = 0; i < 20; i++) /* more history to drop */
        ASSERT_OK(gc_commit_batch(db, &rng, &ids[COMMITS - 1 - (i % 2)]));
    for (int i = COMMITS - 2; i < COMMITS; i++) {
        digests[i] = gc_digest_commit(db, &ids[i], &rc);
        ASSERT_OK(rc);
    }
    uint64_t full = size_of(data);
    ASSERT_OK(cairn_gc(db, &o, &r));
    ASSERT_EQ(r.tiers[0].note[0], 0);
    ASSERT_EQ(r.tiers[0].stored_before, full);
    ASSERT_EQ(r.tiers[0].stored_after, size_of(data));
    ASSERT_TRUE(size_of(data) * 2 < full);
    for (int i = COMMITS - 2; i < COMMITS; i++) {
        if (gc_digest_commit(db, &ids[i], &rc) != digests[i] || rc)
            TEST_FAIL("compaction: commit %d reads otherwise after it (rc %d)", i, rc);
        if (gc_digest_commit(second, &ids[i], &rc) != digests[i] || rc)
            TEST_FAIL("compaction: commit %d reads otherwise in a second handle (rc %d)", i, rc);
    }
    ASSERT_OK(gc_commit_batch(second, &rng, &ids[0])); /* and writes go on */
    cairn_close(second);
    cairn_verify_report vr;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    cairn_close(db);
    db = gc_open_db(spec);
    ASSERT_OK(cairn_verify(db, NULL, NULL, &vr));
    cairn_close(db);
    printf("lmdb compaction: with another process on the store gc left data.mdb at %llu bytes "
           "and said why; alone, it went from %llu to %llu bytes; kept commits read as they "
           "were, in a second handle too; verify passes\n", (unsigned long long)before,
           (unsigned long long)full, (unsigned long long)size_of(data));
}

int main(void)
{
    static const char *const kinds[] = {"lmdb", "file"};
    char dir[512], spec[700], log[700];

    test_seed_init(11);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    snprintf(log, sizeof(log), "%s/writer.log", dir);
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof(spec), "%s:%s/orphans-%s", kinds[k], dir, kinds[k]);
        orphans(spec);
        snprintf(spec, sizeof(spec), "%s:%s/retention-%s", kinds[k], dir, kinds[k]);
        retention(spec);
        snprintf(spec, sizeof(spec), "%s:%s/race-%s", kinds[k], dir, kinds[k]);
        race(spec, log);
        kills(kinds[k], dir);
    }
    compaction(dir);
    printf("ok\n");
    return 0;
}
