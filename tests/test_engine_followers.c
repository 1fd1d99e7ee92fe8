/*
 * test_engine_followers.c - a ref tier behind the primary never holds a ref
 * to a version whose blobs it does not all hold.
 *
 *  - A durable tier added behind a store with history (branches, tags,
 *    keyspaces, large values) is behind at open, catches up at the first
 *    write, and then holds exactly the blobs the store's refs reach (no
 *    more: garbage the primary holds is not copied), with the same refs;
 *    opened alone it counts, exports and verifies like the primary.
 *  - A follower that fails after the primary committed (its ref move, or
 *    its blob writes) does not fail the commit: the commit stands,
 *    cairn_tiers_behind reports the follower, which keeps its old ref and
 *    verifies clean on its own; the next write (or cairn_sync) brings it
 *    up to date, copying only what it lacks (counted: a few blobs per
 *    missed commit, not the store). Each failure point is taken twice.
 *  - Catching up follows branch moves and tag removals the follower
 *    missed, and removes refs the primary no longer has.
 *  - A follower holding another store (refs to commits the primary does not
 *    hold, or other settings) is refused at a writable open, and neither
 *    store changes; a new primary in front of a store is refused the same
 *    way.
 *  - The writer lock covers the followers: while the stack writes, the
 *    follower alone cannot be opened for writing.
 *  - verify checks each ref tier on its own: a blob missing in the follower
 *    only is reported, naming the follower.
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "id.h"
#include "stack.h"
#include "test.h"
#include "tier.h"

static cairn_db *open_db(const char *spec, unsigned flags)
{
    cairn_options o;
    cairn_db *db;

    cairn_options_init(&o);
    o.flags = flags;
    o.node_size = 0;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

static void put(cairn_db *db, const char *branch, const char *space, const char *key,
                const char *val)
{
    cairn_txn *txn;
    ASSERT_OK(cairn_txn_begin(db, branch, &txn));
    ASSERT_OK(cairn_txn_put(txn, space, key, strlen(key), val, strlen(val)));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

/* A store with some history: 20 commits of random puts and deletes over two
 * keyspaces on main, a branch, tags, and values over the inline limit. */
static void make_history(cairn_db *db, int commits)
{
    char key[32], *big = malloc(3000);
    cairn_txn *txn;
    cairn_id head;

    ASSERT_TRUE(big);
    for (int c = 0; c < commits; c++) {
        ASSERT_OK(cairn_txn_begin(db, c % 5 == 4 ? "dev" : NULL, &txn));
        for (int i = 0; i < 300; i++) {
            int k = (int)test_rand_below(2000);
            snprintf(key, sizeof(key), "key%05d", k);
            if (test_rand_below(4) == 0) {
                ASSERT_OK(cairn_txn_del(txn, i % 3 ? NULL : "other", key, strlen(key)));
            } else if (test_rand_below(20) == 0) {
                memset(big, 'a' + k % 26, 3000);
                ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), big, 2000 + k % 1000));
            } else {
                ASSERT_OK(cairn_txn_put(txn, i % 3 ? NULL : "other", key, strlen(key), key, 8));
            }
        }
        ASSERT_OK(cairn_txn_commit(txn, NULL, &head));
        if (c % 7 == 3) {
            snprintf(key, sizeof(key), "v%d", c);
            ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, key, &head, 0));
        }
    }
    free(big);
}

/* Every ref of a store and its commit, as text. */
typedef struct refs_buf {
    char *p;
    size_t len, cap;
} refs_buf;

static int refs_visit(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    refs_buf *b = ctx;
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(commit, hex);
    b->len += (size_t)snprintf(b->p + b->len, b->cap - b->len, "%d %s %s\n", (int)kind, name,
                               hex);
    ASSERT_TRUE(b->len < b->cap);
    return 0;
}

static void refs_text(cairn_db *db, char *out, size_t cap)
{
    refs_buf b = {out, 0, cap};
    out[0] = '\0';
    ASSERT_OK(cairn_ref_list(db, refs_visit, &b));
}

/* A digest of every key and value of both keyspaces at a version. */
static void contents_digest(cairn_db *db, const char *at, cairn_id *out)
{
    cairn_snapshot *snap;
    size_t len = 0, cap = 1 << 20;
    uint8_t *all = malloc(cap);
    const char *spaces[2] = {NULL, "other"};

    ASSERT_TRUE(all);
    ASSERT_OK(cairn_snapshot_open(db, at, &snap));
    for (int s = 0; s < 2; s++) {
        cairn_iter *it;
        cairn_val k, v;
        int rc;
        ASSERT_OK(cairn_iter_open(snap, spaces[s], NULL, 0, NULL, 0, 0, &it));
        while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
            cairn_id h;
            cairn__sha256(v.data, v.len, &h);
            if (len + k.len + 40 > cap) {
                all = realloc(all, cap *= 2);
                ASSERT_TRUE(all);
            }
            memcpy(all + len, k.data, k.len);
            len += k.len;
            memcpy(all + len, h.bytes, 32);
            len += 32;
        }
        ASSERT_RC(rc, CAIRN_NOTFOUND);
        cairn_iter_close(it);
    }
    cairn_snapshot_close(snap);
    cairn__sha256(all, len, out);
    free(all);
}

static uint64_t tier_blobs(cairn_db *db, unsigned k)
{
    cairn_stats st;
    ASSERT_OK(cairn_stats_get(db, NULL, &st));
    ASSERT_TRUE(k < st.n_tiers);
    return st.tiers[k].blobs;
}

static uint64_t tier_puts(cairn_db *db, unsigned k)
{
    cairn_stats st;
    ASSERT_OK(cairn_stats_get(db, NULL, &st));
    return st.tiers[k].puts;
}

/* The follower, opened alone, equals the primary: refs, contents at every
 * ref, and a clean verify. */
static void assert_same(const char *primary_spec, const char *follower_spec)
{
    cairn_db *p = open_db(primary_spec, CAIRN_RDONLY), *f = open_db(follower_spec, CAIRN_RDONLY);
    static char rp[1 << 16], rf[1 << 16];
    cairn_verify_report rep;
    cairn_id dp, df;

    refs_text(p, rp, sizeof(rp));
    refs_text(f, rf, sizeof(rf));
    if (strcmp(rp, rf) != 0)
        TEST_FAIL("follower refs differ:\n%s--- vs\n%s", rp, rf);
    contents_digest(p, NULL, &dp);
    contents_digest(f, NULL, &df);
    ASSERT_TRUE(memcmp(dp.bytes, df.bytes, 32) == 0);
    contents_digest(p, "dev", &dp);
    contents_digest(f, "dev", &df);
    ASSERT_TRUE(memcmp(dp.bytes, df.bytes, 32) == 0);
    ASSERT_OK(cairn_verify(f, NULL, NULL, &rep));
    ASSERT_EQ(rep.problems, 0);
    ASSERT_EQ(cairn_node_size(f), cairn_node_size(p));
    cairn_close(p);
    cairn_close(f);
}

/* Blobs the refs of a store reach: the commits, nodes and values verify
 * counts, plus the settings blob. */
static uint64_t reachable_blobs(const char *spec)
{
    cairn_db *db = open_db(spec, CAIRN_RDONLY);
    cairn_verify_report rep;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &rep));
    cairn_close(db);
    /* nodes counts the empty tree when a keyspace is empty; none is here */
    return rep.commits + rep.nodes + rep.values + 1;
}

static void test_added_tier(const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX], stack[2 * PATH_MAX + 8];
    cairn_db *db;
    const char *spec = NULL;
    cairn_blob junk;
    uint64_t want;

    snprintf(a, sizeof(a), "lmdb:%s/a", dir);
    snprintf(b, sizeof(b), "file:%s/b", dir);
    snprintf(stack, sizeof(stack), "%s>%s", a, b);
    db = open_db(a, 0);
    make_history(db, 20);
    /* Garbage in the primary (no ref reaches it) must not be copied. */
    junk.data = "a blob no ref reaches";
    junk.len = strlen(junk.data);
    cairn__sha256(junk.data, junk.len, &junk.id);
    cairn_close(db);
    {
        cairn_tier *t;
        char lspec[PATH_MAX + 8];
        snprintf(lspec, sizeof(lspec), "%s", a);
        ASSERT_OK(cairn__tier_open(lspec, 0, &t));
        ASSERT_OK(cairn__tier_put_many(t, &junk, 1));
        cairn__tier_close(t);
    }
    want = reachable_blobs(a);

    db = open_db(stack, 0);
    ASSERT_EQ(cairn_tiers_behind(db, &spec), 1);
    ASSERT_TRUE(strcmp(spec, b) == 0);
    put(db, NULL, NULL, "after", "the follower joined");
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
    cairn_close(db);
    want = reachable_blobs(a);
    {
        cairn_db *f = open_db(b, CAIRN_RDONLY);
        ASSERT_EQ(tier_blobs(f, 0), want);
        cairn_close(f);
    }
    assert_same(a, b);
    printf("a file tier added behind an lmdb store with history: caught up with exactly the "
           "%llu blobs its refs reach\n",
           (unsigned long long)want);
}

/* Commits while the follower fails at fault point `method` (the Nth call),
 * then checks the commit stood, the follower is behind and clean, and the
 * next write brings it up to date copying only a little. */
static void test_failures(const char *dir)
{
    static const char *methods[] = {"ref_cas", "put_many"};
    char a[PATH_MAX], b[PATH_MAX], stack[2 * PATH_MAX + 8];
    cairn_db *db;

    snprintf(a, sizeof(a), "lmdb:%s/fa", dir);
    snprintf(b, sizeof(b), "file:%s/fb", dir);
    snprintf(stack, sizeof(stack), "%s>%s", a, b);
    db = open_db(stack, 0);
    make_history(db, 6);
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
    for (size_t m = 0; m < 2; m++) {
        for (int round = 0; round < 2; round++) {
            cairn_id before, after, fhead;
            cairn_db *f;
            uint64_t puts_before, copied;
            char key[32];

            ASSERT_OK(cairn_resolve(db, NULL, &before));
            snprintf(key, sizeof(key), "fail-%s-%d", methods[m], round);
            /* The primary commits with publish, so calls of these methods
             * are the follower's. Once: the commit's own catch-up mends it
             * at once. */
            cairn__tier_fault_arm(methods[m], 1, -ENOSPC);
            put(db, NULL, NULL, key, "once");
            cairn__tier_fault_arm(NULL, 0, 0);
            ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
            cairn_close(db);
            assert_same(a, b);
            db = open_db(stack, 0);
            /* Forever: the commit stands, the follower stays behind. */
            ASSERT_OK(cairn_resolve(db, NULL, &before));
            cairn__tier_fault_arm_forever(methods[m], 1, -ENOSPC);
            {
                cairn_txn *txn;
                ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
                ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), "v", 1));
                ASSERT_OK(cairn_txn_commit(txn, NULL, &after));
            }
            ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
            ASSERT_RC(cairn_sync(db), -ENOSPC);
            cairn__tier_fault_arm(NULL, 0, 0);
            ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
            /* The follower alone: its old head, and clean. */
            f = open_db(b, CAIRN_RDONLY);
            ASSERT_OK(cairn_resolve(f, NULL, &fhead));
            ASSERT_TRUE(memcmp(fhead.bytes, before.bytes, 32) == 0);
            ASSERT_OK(cairn_verify(f, NULL, NULL, NULL));
            cairn_close(f);
            /* The next write catches up: a few blobs, not the store. */
            puts_before = tier_puts(db, 1);
            put(db, NULL, NULL, "next", key);
            copied = tier_puts(db, 1) - puts_before;
            ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
            if (copied > 24)
                TEST_FAIL("catching up one missed commit wrote %llu blobs",
                          (unsigned long long)copied);
            cairn_close(db);
            assert_same(a, b);
            db = open_db(stack, 0);
            ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
        }
    }
    /* cairn_sync catches up too, and a branch move and tag removal the
     * follower missed are followed (the removal: the tag goes). */
    {
        cairn_id head;
        ASSERT_OK(cairn_resolve(db, NULL, &head));
        /* the first ref_cas is the primary's, the rest the follower's */
        cairn__tier_fault_arm_forever("ref_cas", 2, -EIO);
        ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, "dev", &head, CAIRN_REF_FORCE));
        cairn__tier_fault_arm(NULL, 0, 0);
        ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
        ASSERT_OK(cairn_sync(db));
        ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
    }
    cairn_close(db);
    assert_same(a, b);
    printf("follower failures after the commit point: commits stand, followers catch up\n");
}

/* Files of a directory tree, for "nothing changed". */
static void listing(const char *dir, char *out, size_t cap)
{
    char cmd[PATH_MAX + 128];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof(cmd),
             "cd '%s' && find . -type f ! -name lock.mdb ! -name cairn.lock -exec sha256sum {} + "
             "| sort",
             dir);
    ASSERT_TRUE((p = popen(cmd, "r")) != NULL);
    n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
}

static void test_foreign(const char *dir)
{
    char a[PATH_MAX], c[PATH_MAX], n[PATH_MAX], stack[2 * PATH_MAX + 8], path[PATH_MAX];
    static char before_a[1 << 16], before_c[1 << 16], after[1 << 16];
    cairn_options o;
    cairn_db *db;

    snprintf(a, sizeof(a), "lmdb:%s/a", dir); /* test_added_tier's store */
    snprintf(c, sizeof(c), "lmdb:%s/c", dir);
    snprintf(n, sizeof(n), "lmdb:%s/new", dir);
    db = open_db(c, 0);
    put(db, NULL, NULL, "mine", "another store");
    cairn_close(db);
    snprintf(path, sizeof(path), "%s/a", dir);
    listing(path, before_a, sizeof(before_a));
    snprintf(path, sizeof(path), "%s/c", dir);
    listing(path, before_c, sizeof(before_c));
    cairn_options_init(&o);
    for (int round = 0; round < 2; round++) {
        /* another store behind this one */
        snprintf(stack, sizeof(stack), "%s>%s", a, c);
        ASSERT_RC(cairn_open(stack, &o, &db), CAIRN_BADSPEC);
        if (!strstr(cairn_errdetail(), "another store"))
            TEST_FAIL("detail '%s' does not say it is another store", cairn_errdetail());
        /* a new, empty primary in front of a store */
        snprintf(stack, sizeof(stack), "%s>%s", n, c);
        ASSERT_RC(cairn_open(stack, &o, &db), CAIRN_BADSPEC);
        /* other settings */
        snprintf(stack, sizeof(stack), "%s>%s", c, a);
        ASSERT_RC(cairn_open(stack, &o, &db), CAIRN_BADSPEC);
    }
    snprintf(path, sizeof(path), "%s/a", dir);
    listing(path, after, sizeof(after));
    ASSERT_TRUE(strcmp(after, before_a) == 0);
    snprintf(path, sizeof(path), "%s/c", dir);
    listing(path, after, sizeof(after));
    ASSERT_TRUE(strcmp(after, before_c) == 0);
    /* Read-only, such a stack reads the primary (nothing is written). */
    snprintf(stack, sizeof(stack), "%s>%s", c, a);
    db = open_db(stack, CAIRN_RDONLY);
    {
        cairn_snapshot *snap;
        cairn_val v;
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_get(snap, NULL, "mine", 4, &v));
        cairn_snapshot_close(snap);
    }
    cairn_close(db);
    printf("a follower holding another store is refused, both stores untouched\n");
}

static void test_lock_and_verify(const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX], stack[2 * PATH_MAX + 8];
    cairn_db *db, *alone;
    cairn_txn *txn, *other;
    cairn_verify_report rep;

    snprintf(a, sizeof(a), "lmdb:%s/fa", dir);
    snprintf(b, sizeof(b), "file:%s/fb", dir);
    snprintf(stack, sizeof(stack), "%s>%s", a, b);
    db = open_db(stack, 0);
    alone = open_db(b, 0);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_begin(alone, NULL, &other), CAIRN_BUSY);
    cairn_txn_abort(txn);
    ASSERT_OK(cairn_txn_begin(alone, NULL, &other));
    ASSERT_RC(cairn_txn_begin(db, NULL, &txn), CAIRN_BUSY);
    cairn_txn_abort(other);
    cairn_close(alone);

    /* A blob missing in the follower only: verify names the follower. */
    {
        cairn_snapshot *snap;
        cairn_id root;
        char path[PATH_MAX + 80], hex[CAIRN_ID_HEX + 1];
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_snapshot_root(snap, NULL, &root));
        cairn_snapshot_close(snap);
        cairn_id_to_hex(&root, hex);
        snprintf(path, sizeof(path), "%s/fb/objects/%.2s/%s", dir, hex, hex + 2);
        ASSERT_TRUE(unlink(path) == 0);
    }
    ASSERT_RC(cairn_verify(db, NULL, NULL, &rep), CAIRN_VERIFY);
    ASSERT_EQ(rep.tiers, 2);
    ASSERT_TRUE(rep.problems >= 1);
    cairn_close(db);
    printf("the writer lock covers followers; verify checks each ref tier on its own\n");
}

static int first_problem(void *ctx, const char *msg)
{
    snprintf(ctx, 1024, "%s", msg);
    return 1;
}

static void test_verify_names_tier(const char *dir)
{
    char stack[2 * PATH_MAX + 8], first[1024] = "";
    cairn_db *db;

    snprintf(stack, sizeof(stack), "lmdb:%s/fa>file:%s/fb", dir, dir);
    db = open_db(stack, CAIRN_RDONLY);
    ASSERT_RC(cairn_verify(db, first_problem, first, NULL), CAIRN_VERIFY);
    if (!strstr(first, "tier 'file:") || !strstr(first, "missing"))
        TEST_FAIL("verify's problem '%s' does not name the follower and the missing blob",
                  first);
    cairn_close(db);
}

/* Regression: a follower catching up with a store after gc copied
 * meta/boundary's blob as if it were a commit ("blob ... is not a
 * commit") and never caught up. It must take the boundary list as the
 * store's own blob, with its ref before the branches that need it. */
static void test_added_tier_after_gc(const char *dir)
{
    char a[PATH_MAX], b[PATH_MAX], stack[2 * PATH_MAX + 8];
    cairn_gc_options go;
    cairn_commit_info info;
    cairn_id head;
    cairn_db *db;

    snprintf(a, sizeof(a), "lmdb:%s/gc-a", dir);
    snprintf(b, sizeof(b), "file:%s/gc-b", dir);
    snprintf(stack, sizeof(stack), "%s>%s", a, b);
    db = open_db(a, 0);
    make_history(db, 10);
    cairn_gc_options_init(&go);
    go.keep_last = 2;
    go.grace_s = 0;
    ASSERT_OK(cairn_gc(db, &go, NULL));
    cairn_close(db);

    db = open_db(stack, 0);
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 1);
    ASSERT_OK(cairn_sync(db));
    ASSERT_EQ(cairn_tiers_behind(db, NULL), 0);
    cairn_close(db);
    assert_same(a, b);
    db = open_db(b, CAIRN_RDONLY);
    ASSERT_OK(cairn_resolve(db, "main~1", &head));
    ASSERT_OK(cairn_commit_get(db, &head, &info));
    ASSERT_TRUE(info.history_dropped); /* the follower knows where history ends */
    cairn_commit_info_clear(&info);
    cairn_close(db);
    printf("a follower added behind a store after gc: caught up, boundary included\n");
}

int main(void)
{
    char *dir;

    test_seed_init(7);
    dir = strdup(test_tmpdir());
    ASSERT_TRUE(dir && mkdir(dir, 0755) == 0);
    test_added_tier(dir);
    test_added_tier_after_gc(dir);
    test_failures(dir);
    test_foreign(dir);
    test_lock_and_verify(dir);
    test_verify_names_tier(dir);
    free(dir);
    printf("ok\n");
    return 0;
}
