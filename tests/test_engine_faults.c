/*
 * test_engine_faults.c - the fault sweep: every tier call of an operation
 * fails in turn, and the store is never left broken and no call returns
 * wrong data.
 *
 * For each stack (lmdb, file, and a mem cache over a file cache over lmdb)
 * and each kind of fault (a call failing once with -EIO; every call from
 * the Nth on failing with -ENOSPC; a write that stores half its blobs, then
 * fails; a read that hands back a blob with one byte flipped), and for each
 * operation (a commit, an open with a point read, a full scan, verify, an
 * import of three batches, and cairn_sync bringing a file ref tier behind
 * an lmdb primary up to date), the fault is put on the 1st, 2nd, 3rd ... tier
 * call of the operation (any method, through the one wrapper layer every
 * tier call goes through) until the operation completes without reaching
 * it (the cache stack, and every stack under CAIRN_TEST_SCALE < 1, try every
 * call up to the 32nd, then every 8th). After every run, with the fault
 * gone and the store reopened:
 *  - it opens, cairn_verify finds nothing, and it holds exactly a committed
 *    version: the old one if the commit failed, the new one if it returned
 *    0 (an import: a whole number of batches, as many as it reported);
 *  - every key and value a scan or read returned before failing was right;
 *  - a failed call failed with an error, never a crash (and ASan, in the
 *    sanitizer build, finds no leak at exit).
 * Prints "cairn-summary: fault_points=N" for the suite's summary.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "test.h"
#include "tier.h"

#define KEYS 200
#define OPS 30

typedef struct model {
    uint8_t *val[KEYS]; /* NULL: absent */
    size_t len[KEYS];
} model;

static void key_name(int k, char *buf)
{
    snprintf(buf, 16, "k%04d", k);
}

static void model_set(model *m, int k, const uint8_t *v, size_t len)
{
    free(m->val[k]);
    m->val[k] = NULL;
    if (v) {
        m->val[k] = malloc(len ? len : 1);
        ASSERT_TRUE(m->val[k]);
        memcpy(m->val[k], v, len);
        m->len[k] = len;
    }
}

static void model_copy(model *dst, const model *src)
{
    for (int k = 0; k < KEYS; k++)
        model_set(dst, k, src->val[k], src->len[k]);
}

static void model_free(model *m)
{
    for (int k = 0; k < KEYS; k++)
        free(m->val[k]);
    memset(m, 0, sizeof(*m));
}

/* The operations of commit `seed`: puts (some values over the inline
 * limit) and deletes, applied to txn and to m. */
static void gen_ops(uint64_t seed, cairn_txn *txn, model *m)
{
    uint8_t val[1600];
    test_seed_set(seed);
    for (int i = 0; i < OPS; i++) {
        int k = (int)test_rand_below(KEYS);
        char key[16];
        key_name(k, key);
        if (test_rand_below(4) == 0) {
            ASSERT_OK(cairn_txn_del(txn, NULL, key, strlen(key)));
            model_set(m, k, NULL, 0);
        } else {
            size_t len = test_rand_below(8) == 0 ? 1100 + test_rand_below(400)
                                                 : test_rand_below(60);
            for (size_t b = 0; b < len; b++)
                val[b] = (uint8_t)test_rand();
            ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, len));
            model_set(m, k, val, len);
        }
    }
}

static cairn_db *open_db(const char *spec)
{
    cairn_db *db;
    cairn_options o;
    cairn_options_init(&o);
    o.node_size = 512;
    o.node_cache_bytes = 1 << 20;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

/* With no fault armed: the store verifies clean and its head holds m. */
static void check_store(const char *spec, const model *m, const char *what)
{
    cairn_db *db = open_db(spec);
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    int rc, want = 0;

    rc = cairn_verify(db, NULL, NULL, NULL);
    if (rc)
        TEST_FAIL("%s: verify after the fault: %s (%s)", what, cairn_errname(rc),
                  cairn_errdetail());
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, "k", 1, "l", 1, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        char name[16];
        while (want < KEYS && !m->val[want])
            want++;
        ASSERT_TRUE(want < KEYS);
        key_name(want, name);
        if (k.len != strlen(name) || memcmp(k.data, name, k.len) || v.len != m->len[want] ||
            (v.len && memcmp(v.data, m->val[want], v.len)))
            TEST_FAIL("%s: after the fault the store holds something else at %s", what, name);
        want++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    while (want < KEYS && !m->val[want])
        want++;
    if (want != KEYS)
        TEST_FAIL("%s: after the fault the store lacks key %d", what, want);
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    cairn_close(db);
}

typedef struct fault_kind {
    const char *name;
    int rc, kind;
    bool forever;
} fault_kind;

static const fault_kind kinds[] = {
    {"EIO once", -EIO, CAIRN_FAULT_FAIL, false},
    {"ENOSPC from then on", -ENOSPC, CAIRN_FAULT_FAIL, true},
    {"half a write, then EIO", -EIO, CAIRN_FAULT_SHORT, false},
    {"a flipped byte read", 0, CAIRN_FAULT_FLIP, false},
};

static uint64_t fault_points;
/* Fault positions tried: every one, except that past the 32nd a sampled
 * sweep tries every 8th (the cache stack makes several times as many tier
 * calls per operation, mostly to caches whose failures are skipped). */
static unsigned stride_after_32 = 1;

static uint64_t next_n(uint64_t n)
{
    return n < 32 ? n + 1 : n + stride_after_32;
}

static void arm(const fault_kind *f, uint64_t n)
{
    cairn__tier_fault_arm_kind("*", n, f->rc ? f->rc : -EIO, f->kind, f->forever);
}

static bool disarm(void)
{
    bool fired = cairn__tier_fault_fired();
    cairn__tier_fault_arm(NULL, 0, 0);
    fault_points += fired;
    return fired;
}

/* A commit, with the fault at each of its tier calls in turn. */
static void sweep_commit(const char *spec, const fault_kind *f, model *m, uint64_t *seed)
{
    for (uint64_t n = 1;; n = next_n(n)) {
        cairn_db *db = open_db(spec);
        cairn_txn *txn;
        model after = {0};
        char what[3 * PATH_MAX];
        int rc;

        model_copy(&after, m);
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        gen_ops(++*seed, txn, &after);
        arm(f, n);
        rc = cairn_txn_commit(txn, NULL, NULL);
        bool fired = disarm();
        cairn_close(db);
        snprintf(what, sizeof(what), "%.300s, commit, fault %s at call %llu (%s)", spec, f->name,
                 (unsigned long long)n, rc ? cairn_errname(rc) : "committed");
        if (rc == 0)
            model_copy(m, &after);
        check_store(spec, m, what);
        model_free(&after);
        if (!fired)
            break;
    }
}

/* Opening and one point read; a full scan; verify. Reads never change the
 * store; what they return before failing must be right. */
static void sweep_reads(const char *spec, const fault_kind *f, const model *m)
{
    for (int op = 0; op < 3; op++) {
        for (uint64_t n = 1;; n = next_n(n)) {
            cairn_options o;
            cairn_db *db = NULL;
            cairn_snapshot *snap = NULL;
            cairn_iter *it = NULL;
            cairn_val k, v;
            char what[3 * PATH_MAX];
            int rc = 0, want = 0;

            cairn_options_init(&o);
            o.node_size = 512;
            o.node_cache_bytes = 1 << 20;
            if (op > 0)
                ASSERT_OK(cairn_open(spec, &o, &db));
            arm(f, n);
            if (op == 0) { /* open, then read one key */
                if ((rc = cairn_open(spec, &o, &db)) == 0 &&
                    (rc = cairn_snapshot_open(db, NULL, &snap)) == 0) {
                    rc = cairn_get(snap, NULL, "k0100", 5, &v);
                    if (rc == 0 && (!m->val[100] || v.len != m->len[100] ||
                                    (v.len && memcmp(v.data, m->val[100], v.len))))
                        TEST_FAIL("%s: a read under fault %s returned a wrong value", spec,
                                  f->name);
                    if (rc == CAIRN_NOTFOUND && m->val[100])
                        TEST_FAIL("%s: a read under fault %s said a key is absent", spec,
                                  f->name);
                }
            } else if (op == 1) { /* a full scan, checked as it goes */
                if ((rc = cairn_snapshot_open(db, NULL, &snap)) == 0 &&
                    (rc = cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it)) == 0) {
                    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
                        char name[16];
                        while (want < KEYS && !m->val[want])
                            want++;
                        key_name(want, name);
                        if (want == KEYS || k.len != strlen(name) || memcmp(k.data, name, k.len) ||
                            v.len != m->len[want] ||
                            (v.len && memcmp(v.data, m->val[want], v.len)))
                            TEST_FAIL("%s: a scan under fault %s at call %llu returned wrong "
                                      "data at %s",
                                      spec, f->name, (unsigned long long)n, name);
                        want++;
                    }
                    /* an error is sticky: never more data after it */
                    if (rc != CAIRN_NOTFOUND && cairn_iter_next(it, &k, &v) != rc)
                        TEST_FAIL("%s: a failed scan went on", spec);
                }
            } else { /* verify: clean, or problems / an error because of the fault */
                rc = cairn_verify(db, NULL, NULL, NULL);
            }
            bool fired = disarm();
            cairn_iter_close(it);
            cairn_snapshot_close(snap);
            cairn_close(db);
            snprintf(what, sizeof(what), "%.300s, %s, fault %s at call %llu", spec,
                     op == 0 ? "open" : op == 1 ? "scan" : "verify", f->name,
                     (unsigned long long)n);
            if (!fired) {
                if (rc != 0 && rc != CAIRN_NOTFOUND)
                    TEST_FAIL("%s: failed with no fault: %s", what, cairn_errname(rc));
                break;
            }
        }
    }
    check_store(spec, m, "after the read sweeps");
}

/* An import of three batches into a fresh branch: afterwards the branch
 * holds a whole number of them, exactly as many as the import reported
 * committed. The branch is deleted after each run, so that the store's
 * history (which every verify walks) does not grow with the sweep. */
static void sweep_import(const char *spec, const fault_kind *f, int round)
{
    for (uint64_t n = 1;; n = next_n(n)) {
        char text[150 * 32], what[3 * PATH_MAX];
        size_t len = 0;
        uint64_t records = 0, count = 0;
        cairn_import_options opts;
        cairn_db *db = open_db(spec);
        cairn_snapshot *snap;
        FILE *in;
        int rc;

        for (int i = 0; i < 150; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "i%04d\tr%d-%llu\n", i, round,
                                    (unsigned long long)n);
        ASSERT_TRUE((in = fmemopen(text, len, "r")) != NULL);
        memset(&opts, 0, sizeof(opts));
        opts.batch = 50;
        opts.source = "sweep";
        opts.branch = "imported";
        arm(f, n);
        rc = cairn_import(db, in, &opts, &records, NULL);
        bool fired = disarm();
        fclose(in);
        snprintf(what, sizeof(what), "%.300s, import, fault %s at call %llu (%llu records)", spec,
                 f->name, (unsigned long long)n, (unsigned long long)records);
        if (records % 50 != 0 || (rc == 0 && records != 150))
            TEST_FAIL("%s: reported a partial batch", what);
        if ((rc = cairn_snapshot_open(db, "imported", &snap)) == CAIRN_NOTFOUND) {
            ASSERT_EQ(records, 0);
        } else {
            ASSERT_OK(rc);
            ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
            if (count != records)
                TEST_FAIL("%s: the branch holds %llu records", what, (unsigned long long)count);
            cairn_snapshot_close(snap);
            ASSERT_OK(cairn_ref_delete(db, CAIRN_BRANCH, "imported", NULL));
        }
        ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
        cairn_close(db);
        if (!fired)
            break;
    }
}

/* cairn_sync catching a ref tier up with the primary (the commits it lacks
 * were made with the primary alone), with the fault at each tier call of
 * the sync. Afterwards the stack verifies (each ref tier on its own: a
 * follower left behind must still be whole), its head holds m, and a sync
 * without a fault brings the follower level, holding m too. */
static void sweep_sync(const char *dir, const fault_kind *f, model *m, uint64_t *seed)
{
    char primary[PATH_MAX + 16], stack[2 * PATH_MAX + 32], follower[PATH_MAX + 16];

    snprintf(primary, sizeof(primary), "lmdb:%s/sp", dir);
    snprintf(follower, sizeof(follower), "file:%s/sf", dir);
    snprintf(stack, sizeof(stack), "%s>%s", primary, follower);
    for (uint64_t n = 1;; n = next_n(n)) {
        char what[3 * PATH_MAX];
        cairn_db *db = open_db(primary);
        cairn_txn *txn;
        int rc;

        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        gen_ops(++*seed, txn, m);
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
        cairn_close(db);

        db = open_db(stack);
        ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
        arm(f, n);
        rc = cairn_sync(db);
        bool fired = disarm();
        cairn_close(db);
        snprintf(what, sizeof(what), "%.300s, sync, fault %s at call %llu (%s)", stack, f->name,
                 (unsigned long long)n, rc ? cairn_errname(rc) : "synced");
        check_store(stack, m, what);
        db = open_db(stack);
        ASSERT_OK(cairn_sync(db));
        ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
        cairn_close(db);
        check_store(follower, m, what);
        if (!fired)
            break;
    }
}

int main(void)
{
    char dir[PATH_MAX], specs[3][2 * PATH_MAX + 80];
    uint64_t seed = 1000;

    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;

    test_seed_init(11);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(specs[0], sizeof(specs[0]), "lmdb:%s/l", dir);
    snprintf(specs[1], sizeof(specs[1]), "file:%s/f", dir);
    snprintf(specs[2], sizeof(specs[2]), "mem:256K>file:%s/c?capacity=64K>lmdb:%s/p", dir, dir);
    for (int s = 0; s < 3; s++) {
        model m = {0};
        uint64_t before = fault_points;
        stride_after_32 = s == 2 || scale < 1 ? 8 : 1; /* sampled: see next_n */
        /* a store with some history first */
        for (int c = 0; c < 2; c++) {
            cairn_db *db = open_db(specs[s]);
            cairn_txn *txn;
            ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
            gen_ops(++seed, txn, &m);
            ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
            cairn_close(db);
        }
        for (size_t f = 0; f < sizeof(kinds) / sizeof(kinds[0]); f++) {
            uint64_t p0 = fault_points;
            sweep_commit(specs[s], &kinds[f], &m, &seed);
            sweep_reads(specs[s], &kinds[f], &m);
            sweep_import(specs[s], &kinds[f], (int)f);
            printf("  %s: %llu fault points\n", kinds[f].name,
                   (unsigned long long)(fault_points - p0));
            fflush(stdout);
        }
        printf("%s: %llu fault points, each followed by a clean verify and the committed "
               "contents\n",
               specs[s], (unsigned long long)(fault_points - before));
        model_free(&m);
    }
    {
        model m = {0};
        uint64_t before = fault_points;
        char stack[2 * PATH_MAX + 32];
        stride_after_32 = scale < 1 ? 8 : 1;
        snprintf(stack, sizeof(stack), "lmdb:%s/sp>file:%s/sf", dir, dir);
        for (int c = 0; c < 2; c++) { /* some history, on both tiers */
            cairn_db *db = open_db(stack);
            cairn_txn *txn;
            ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
            gen_ops(++seed, txn, &m);
            ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
            cairn_close(db);
        }
        for (size_t f = 0; f < sizeof(kinds) / sizeof(kinds[0]); f++)
            sweep_sync(dir, &kinds[f], &m, &seed);
        printf("%s: sync, %llu fault points\n", stack,
               (unsigned long long)(fault_points - before));
        model_free(&m);
    }
    printf("cairn-summary: fault_points=%llu\n", (unsigned long long)fault_points);
    printf("ok\n");
    return 0;
}
