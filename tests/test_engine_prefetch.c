/*
 * test_engine_prefetch.c - a cold scan reads leaves ahead in batches.
 *
 * A store on the file tier is filled, closed and opened again (an empty
 * node cache). A full scan, forward and then backward on another fresh
 * handle, must return every key in order, and on the io_uring path must
 * read its nodes in far fewer submissions than nodes: the iterator reads
 * leaves (and the parents of the next ones) ahead in one batched get when
 * it meets one it lacks, 32 at first and four times as many each time the
 * scan goes on, until a stream (index/stream.h) reads ahead in the
 * background. A warm scan afterwards reads no node from the tier (and
 * starts no stream). Then streams are tried every way a scan can go, and
 * against a damaged leaf.
 */
#include "stream.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_KEYS 20000

static cairn_db *open_store_cache(const char *spec, size_t cache_bytes)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.node_size = 512; /* many leaves from few keys */
    if (cache_bytes)
        o.node_cache_bytes = cache_bytes;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

static cairn_db *open_store(const char *spec)
{
    return open_store_cache(spec, 0);
}

static void fill(const char *spec)
{
    cairn_db *db = open_store(spec);
    cairn_txn *txn;
    char key[32], val[32];
    int i;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (i = 0; i < N_KEYS; i++) {
        int kl = snprintf(key, sizeof(key), "key%08d", i);
        int vl = snprintf(val, sizeof(val), "value %d", i * 7);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, (size_t)kl, val, (size_t)vl));
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    cairn_close(db);
}

/* Scans everything in one direction, checking order and contents. */
static void scan_all(cairn_db *db, bool reverse)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    char want[32];
    int n = 0, rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, reverse ? CAIRN_ITER_REVERSE : 0,
                              &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        int i = reverse ? N_KEYS - 1 - n : n;
        int wl = snprintf(want, sizeof(want), "key%08d", i);
        ASSERT_MEM_EQ(k.data, k.len, want, (size_t)wl);
        wl = snprintf(want, sizeof(want), "value %d", i * 7);
        ASSERT_MEM_EQ(v.data, v.len, want, (size_t)wl);
        n++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(n, N_KEYS);
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
}

static void cold_scan(const char *spec, bool reverse, bool uring)
{
    cairn_db *db = open_store(spec);
    cairn_stats before, after;
    uint64_t gets, submits;

    uint64_t streams = cairn__streams_started();
    ASSERT_OK(cairn_stats_get(db, NULL, &before));
    scan_all(db, reverse);
    ASSERT_EQ(cairn__streams_started() - streams, 1); /* a long scan: one stream */
    ASSERT_OK(cairn_stats_get(db, NULL, &after));
    gets = after.tiers[0].gets - before.tiers[0].gets;
    submits = after.tiers[0].io_submits - before.tiers[0].io_submits;
    printf("%s %s cold scan: %llu blobs read, %llu io_uring submissions\n", spec,
           reverse ? "reverse" : "forward", (unsigned long long)gets,
           (unsigned long long)submits);
    ASSERT_TRUE(gets > 100); /* the scan really read leaves from the tier */
    /* ... each of them once: the tree's nodes and the catalog (a stream's
     * workers and the scan never read a node twice) */
    cairn_stats tree;
    ASSERT_OK(cairn_stats_get(db, "main", &tree));
    if (gets != tree.nodes + 1)
        TEST_FAIL("a cold scan of %llu nodes (and the catalog) read %llu blobs",
                  (unsigned long long)tree.nodes, (unsigned long long)gets);
    if (uring) {
        ASSERT_TRUE(after.tiers[0].io_uring);
        /* Node by node would be at least two submissions per blob (a size
         * probe, then the read). Reading ahead in windows that start at 32
         * leaves and grow, then in a stream's units (8 parents and their
         * leaves), stays far below that: with fixed windows of 32 this
         * scan took 161 submissions for 1,201 blobs; with windows doubling
         * to 512, 96; with the stream, 80. */
        if (submits * 10 > gets)
            TEST_FAIL("%llu submissions for %llu blobs: the scan did not read ahead",
                      (unsigned long long)submits, (unsigned long long)gets);
    } else {
        ASSERT_EQ(submits, 0);
    }
    /* Warm: the same scan again reads nothing from the tier (nodes all come
     * from the cache; the branch's commit is the one the open read with the
     * settings). */
    scan_all(db, reverse);
    ASSERT_OK(cairn_stats_get(db, NULL, &before));
    ASSERT_EQ(before.tiers[0].gets, after.tiers[0].gets);
    cairn_close(db);
}

/* Checks the key and value of the entry for key number i. */
static void expect_entry(const cairn_val *k, const cairn_val *v, int i)
{
    char want[32];
    int wl = snprintf(want, sizeof(want), "key%08d", i);
    ASSERT_MEM_EQ(k->data, k->len, want, (size_t)wl);
    wl = snprintf(want, sizeof(want), "value %d", i * 7);
    ASSERT_MEM_EQ(v->data, v->len, want, (size_t)wl);
}

/*
 * Streams under every way a scan can go: a randomized model of scans on
 * cold handles, each from a random key in a random direction for a random
 * length (often far enough that a stream starts: 160 leaves), with seeks in
 * the middle (a seek ends the stream) and iterators closed early (the
 * workers are joined), under node caches from tiny (the stream keeps
 * little ahead, leaves are evicted) to the default. Every entry is checked.
 */
static void stream_model(const char *spec)
{
    enum { ROUNDS = 24 };
    static const size_t caches[] = {96 << 10, 512 << 10, 4 << 20, 0};
    uint64_t streams = cairn__streams_started();

    for (int round = 0; round < ROUNDS; round++) {
        cairn_db *db = open_store_cache(spec, caches[test_rand_below(4)]);
        cairn_snapshot *snap;
        cairn_iter *it;
        cairn_val k, v;
        bool reverse = test_rand_below(2);
        int at = (int)test_rand_below(N_KEYS), len = (int)test_rand_below(N_KEYS + 1), rc = 0;
        char key[32];
        int kl = snprintf(key, sizeof(key), "key%08d", at);

        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, reverse ? CAIRN_ITER_REVERSE : 0,
                                  &it));
        ASSERT_OK(cairn_iter_seek(it, key, (size_t)kl));
        for (int n = 0; n < len; n++) {
            if (test_rand_below(4000) == 0) { /* a jump in the middle of a scan */
                at = (int)test_rand_below(N_KEYS);
                kl = snprintf(key, sizeof(key), "key%08d", at);
                ASSERT_OK(cairn_iter_seek(it, key, (size_t)kl));
            }
            if ((rc = cairn_iter_next(it, &k, &v)))
                break;
            expect_entry(&k, &v, at);
            at += reverse ? -1 : 1;
        }
        if (rc) { /* only past an end */
            ASSERT_RC(rc, CAIRN_NOTFOUND);
            ASSERT_EQ(at, reverse ? -1 : N_KEYS);
        }
        cairn_iter_close(it); /* often mid-stream */
        cairn_snapshot_close(snap);
        cairn_close(db);
    }
    streams = cairn__streams_started() - streams;
    ASSERT_TRUE(streams > 0);
    printf("%s: %d randomized cold scans, %llu streams, seeks and early closes\n", spec, ROUNDS,
           (unsigned long long)streams);
}

#define SCANNERS 10 /* more than STREAMS_MAX: some scans go without */

static void *scanner_main(void *arg)
{
    cairn_db *db = open_store((const char *)arg);
    scan_all(db, false);
    cairn_close(db);
    return NULL;
}

/* Threads scanning cold handles of one store at once, each with its own
 * stream while there are streams to have (under ThreadSanitizer in the
 * suite). */
static void stream_threads(const char *spec)
{
    pthread_t th[SCANNERS];
    for (int i = 0; i < SCANNERS; i++)
        ASSERT_OK(pthread_create(&th[i], NULL, scanner_main, (void *)spec));
    for (int i = 0; i < SCANNERS; i++)
        pthread_join(th[i], NULL);
    printf("%s: %d threads scanned cold handles at once\n", spec, SCANNERS);
}

/* Flips one byte of the largest pack in dir at `frac` of its length. */
static void damage_pack(const char *dir, double frac)
{
    char cmd[1200], path[1024];
    FILE *p;
    snprintf(cmd, sizeof(cmd), "ls -S %s/packs/*.pack | head -n 1", dir);
    ASSERT_TRUE((p = popen(cmd, "r")) != NULL);
    ASSERT_TRUE(fgets(path, sizeof(path), p) != NULL);
    pclose(p);
    path[strcspn(path, "\n")] = 0;
    FILE *f = fopen(path, "r+b");
    ASSERT_TRUE(f != NULL);
    ASSERT_OK(fseek(f, 0, SEEK_END));
    long at = (long)((double)ftell(f) * frac);
    ASSERT_OK(fseek(f, at, SEEK_SET));
    int ch = fgetc(f);
    ASSERT_TRUE(ch != EOF);
    ASSERT_OK(fseek(f, at, SEEK_SET));
    fputc(ch ^ 0x20, f);
    ASSERT_OK(fclose(f));
}

/* A damaged leaf deep in a cold scan, where a stream reads ahead: the
 * workers' failed reads are dropped, and the scan itself stops at that
 * leaf with CAIRN_CORRUPT, having returned every entry before it right,
 * and says so again if asked again; in both directions. */
static void stream_damage(const char *dir)
{
    char spec[600];
    snprintf(spec, sizeof(spec), "file:%s", dir);
    fill(spec);
    damage_pack(dir, 0.6);
    for (int reverse = 0; reverse < 2; reverse++) {
        cairn_db *db = open_store(spec);
        cairn_snapshot *snap;
        cairn_iter *it;
        cairn_val k, v;
        int n = 0, rc;

        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, reverse ? CAIRN_ITER_REVERSE : 0,
                                  &it));
        while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
            expect_entry(&k, &v, reverse ? N_KEYS - 1 - n : n);
            n++;
        }
        ASSERT_RC(rc, CAIRN_CORRUPT);
        ASSERT_RC(cairn_iter_next(it, &k, &v), CAIRN_CORRUPT);
        ASSERT_TRUE(n > 3000 && n < N_KEYS - 3000); /* deep in, past a stream's start */
        printf("damaged leaf: a %s cold scan stops with CAIRN_CORRUPT after %d good entries\n",
               reverse ? "reverse" : "forward", n);
        cairn_iter_close(it);
        cairn_snapshot_close(snap);
        cairn_close(db);
    }
}

int main(void)
{
    const char *dir = test_tmpdir();
    char spec[600];

    test_seed_init(3);
    snprintf(spec, sizeof(spec), "file:%s", dir);
    fill(spec);
    cold_scan(spec, false, true);
    cold_scan(spec, true, true);
    snprintf(spec, sizeof(spec), "file:%s?io=syscall", dir);
    cold_scan(spec, false, false);
    snprintf(spec, sizeof(spec), "file:%s", dir);
    stream_model(spec);
    stream_threads(spec);
    stream_damage(test_tmpdir());
    printf("ok\n");
    return 0;
}
