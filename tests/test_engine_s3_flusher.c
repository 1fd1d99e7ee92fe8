/*
 * test_engine_s3_flusher.c - write-back in a long-running process, against
 * a real S3 service (run inside scripts/s3-server.sh): with
 * sync_interval_ms set, commits to lmdb:DIR>s3://...?write=back reach S3
 * without any cairn_sync, where a reader in another handle sees them; with
 * the service cut off (cairn-netproxy "down") commits go on into the front
 * store until the queue is full, then a write fails with CAIRN_BUSY in
 * bounded time naming the flusher's error; back up, everything is synced
 * and nothing was lost.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static void set_control(const char *control, const char *text)
{
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp", control);
    FILE *f = fopen(tmp, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    ASSERT_TRUE(rename(tmp, control) == 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int put_one(cairn_db *db, int i, cairn_id *commit)
{
    cairn_txn *txn;
    char key[32], val[32];
    int rc;
    snprintf(key, sizeof(key), "k%05d", i);
    snprintf(val, sizeof(val), "v%d", i);
    if ((rc = cairn_txn_begin(db, NULL, &txn)))
        return rc;
    if ((rc = cairn_txn_put(txn, NULL, key, strlen(key), val, strlen(val)))) {
        cairn_txn_abort(txn);
        return rc;
    }
    return cairn_txn_commit(txn, "put", commit);
}

/* Polls an S3 reader until main is at want (the flusher's work), bounded. */
static void wait_synced(const char *reader_spec, const cairn_id *want, double limit_s)
{
    double start = now_s();
    for (;;) {
        cairn_db *r;
        cairn_id got;
        cairn_options o;
        cairn_options_init(&o);
        o.flags = CAIRN_RDONLY;
        if (cairn_open(reader_spec, &o, &r) == 0) {
            int rc = cairn_resolve(r, "main", &got);
            cairn_close(r);
            if (rc == 0 && memcmp(&got, want, sizeof(got)) == 0)
                return;
        }
        if (now_s() - start > limit_s)
            TEST_FAIL("S3 did not reach the writer's head within %.0f s", limit_s);
        usleep(100000);
    }
}

int main(void)
{
    test_seed_init(5);
    const char *bucket = test_s3_bucket();
    const char *dir = test_tmpdir();
    ASSERT_TRUE(mkdir(dir, 0700) == 0);
    char control[512], endpoint[64], spec[1024], reader[512];
    snprintf(control, sizeof(control), "%s/control", dir);
    set_control(control, "up\n");
    test_proxy_start((const char *const[]){"--control", control, NULL}, endpoint, sizeof(endpoint));
    snprintf(spec, sizeof(spec),
             "lmdb:%s/w>s3://%s/flush-%ld?write=back&endpoint=%s&retries=1&timeout=500", dir,
             bucket, (long)getpid(), endpoint);
    snprintf(reader, sizeof(reader), "s3://%s/flush-%ld", bucket, (long)getpid());

    /* 1. Commits reach S3 with no cairn_sync. */
    cairn_options o;
    cairn_options_init(&o);
    o.sync_interval_ms = 200;
    o.sync_queue_max = 5;
    cairn_db *db;
    ASSERT_OK(cairn_open(spec, &o, &db));
    cairn_id head;
    int i = 0;
    for (; i < 12; i++)
        ASSERT_OK(put_one(db, i, &head));
    wait_synced(reader, &head, 30);
    printf("flusher: 12 commits reached S3 with no cairn_sync\n");

    /* 2. S3 cut off: commits go on into the front store until the queue is
     * full (5), then a write fails in bounded time, naming the cause. */
    set_control(control, "down\n");
    int accepted = 0, rc = 0;
    double start = now_s();
    for (; accepted < 50; accepted++, i++)
        if ((rc = put_one(db, i, &head)))
            break;
    double took = now_s() - start;
    ASSERT_RC(rc, CAIRN_BUSY);
    ASSERT_DETAIL("write-back queue is full");
    ASSERT_DETAIL("could not reach the service");
    ASSERT_TRUE(accepted >= 4 && accepted <= 6);
    ASSERT_TRUE(took < 60); /* bounded: ten intervals (2 s here) per full queue, not a hang */
    printf("flusher: S3 down, %d commits kept locally, then CAIRN_BUSY in %.1f s: %s\n", accepted,
           took, cairn_errdetail());

    /* 3. Back up: the queue drains, writes go on, nothing is lost. */
    set_control(control, "up\n");
    for (int j = 0; j < 5; j++, i++)
        ASSERT_OK(put_one(db, i, &head));
    wait_synced(reader, &head, 30);
    cairn_close(db);
    cairn_options_init(&o);
    o.flags = CAIRN_RDONLY;
    ASSERT_OK(cairn_open(reader, &o, &db));
    cairn_snapshot *snap;
    uint64_t count;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, (uint64_t)i); /* every key written (the refused write reused its key) */
    cairn_snapshot_close(snap);
    cairn_close(db);
    test_proxy_stop();
    printf("flusher: back up, S3 holds all %d keys\n", i);
    return 0;
}
