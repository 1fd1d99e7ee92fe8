/*
 * test_engine_badinput.c - bad input gets a clear error, never a crash, and
 * nothing committed is lost (design brief, section 8).
 *
 *  - bad stack specs: CAIRN_BADSPEC (or -errno for a file in the way) with a
 *    detail naming the offending part, and no directory created;
 *  - size limits: a key of CAIRN_KEY_MAX + 1 bytes is CAIRN_KEYTOOBIG in put,
 *    del, get, txn_get, iterator bounds and seek; CAIRN_KEY_MAX bytes and
 *    values of CAIRN_INLINE_MAX and + 1 bytes round trip (also the empty key
 *    and value); CAIRN_VALUE_MAX + 1 is CAIRN_VALTOOBIG; after a failed put
 *    the transaction is unusable, and dropping it leaves the branch as it
 *    was;
 *  - bad branch and keyspace names: CAIRN_BADARG; the longest legal ones
 *    work;
 *  - node size: out of range, or different from the recorded one, is
 *    CAIRN_BADARG (naming both sizes); 0 opens with the recorded one;
 *  - damaged storage, written with the LMDB API behind cairn's back: a
 *    flipped byte in a root node, a leaf (also read through a mem cache),
 *    the catalog, a value blob and a commit, and a deleted leaf, value blob
 *    and commit. Reads touching it fail with CAIRN_CORRUPT or CAIRN_MISSING
 *    and a detail naming the blob, twice (nothing bad is cached); reads
 *    elsewhere still work; cairn_verify reports the blob; a write
 *    transaction on a broken head fails without leaking the writer lock.
 *    Repairing the blob brings everything back. Blobs that hash right but
 *    are no commit or node (garbage behind a ref or a catalog id) are
 *    CAIRN_CORRUPT too;
 *  - a read-only store refuses writes; a missing path opened read-only is an
 *    error naming it;
 *  - an aborted transaction changes nothing (head, hence log, and catalog);
 *  - the error detail is not left over from an earlier call after a
 *    CAIRN_NOTFOUND from cairn_get / cairn_iter_next (fails today);
 *  - CAIRN_CATALOG passed where a keyspace name goes is an error, not a
 *    crash (fails today: SIGSEGV). These two run last, in their own checks,
 *    so that everything else is checked whatever they find.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "id.h"
#include "test.h"
#include "tierutil.h"
#include "tree.h"

#define ROWS 3000
#define BIGS 10

static char *fresh_dir(void)
{
    char *dir = strdup(test_tmpdir());
    ASSERT_TRUE(dir != NULL);
    return dir;
}

static cairn_db *open_spec(const char *prefix, const char *dir, unsigned flags)
{
    char spec[PATH_MAX + 64];
    cairn_options opts;
    cairn_db *db;

    cairn_options_init(&opts);
    opts.flags = flags;
    snprintf(spec, sizeof(spec), "%s%s", prefix, dir);
    ASSERT_OK(cairn_open(spec, &opts, &db));
    return db;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------- specs */

static void bad_specs(void)
{
    char *dir = fresh_dir(), *file = fresh_dir();
    char spec[PATH_MAX + 64];
    const struct { const char *spec, *names; } cases[] = {
        {"", "empty"},
        {"foo:x", "foo"},
        {"mem>", "tier 2"},
        {">mem", "tier 1"},
        {"mem>>lmdb:x", "tier 2"},
        {"lmdb:", "lmdb"},
        {"mem:64M", "mem:64M"},
        {"mem:0", "'0'"},
        {"mem:12Q", "12Q"},
        {"mem:64M>mem", "mem:64M"},
        {"mem?color=blue", "color"},
    };
    cairn_db *db = (cairn_db *)&db;
    int fd, rc;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = cairn_open(cases[i].spec, NULL, &db);
        if (rc != CAIRN_BADSPEC)
            TEST_FAIL("spec '%s': got %s, want CAIRN_BADSPEC", cases[i].spec, cairn_errname(rc));
        ASSERT_TRUE(db == NULL);
        ASSERT_DETAIL(cases[i].names);
    }
    /* Options are checked before anything is created. */
    snprintf(spec, sizeof(spec), "lmdb:%s?map_size=banana", dir);
    ASSERT_RC(cairn_open(spec, NULL, &db), CAIRN_BADSPEC);
    ASSERT_DETAIL("banana");
    ASSERT_DETAIL("map_size");
    snprintf(spec, sizeof(spec), "lmdb:%s?nosuchoption=1", dir);
    ASSERT_RC(cairn_open(spec, NULL, &db), CAIRN_BADSPEC);
    ASSERT_DETAIL("nosuchoption");
    snprintf(spec, sizeof(spec), "mem:64M>lmdb:%s?sync=sometimes", dir);
    ASSERT_RC(cairn_open(spec, NULL, &db), CAIRN_BADSPEC);
    ASSERT_DETAIL("sometimes");
    ASSERT_TRUE(!exists(dir));

    /* A regular file where the store's directory should be. */
    ASSERT_TRUE((fd = open(file, O_CREAT | O_WRONLY, 0644)) >= 0);
    ASSERT_TRUE(write(fd, "not a store", 11) == 11);
    close(fd);
    snprintf(spec, sizeof(spec), "lmdb:%s", file);
    rc = cairn_open(spec, NULL, &db);
    if (rc != CAIRN_BADSPEC && !(rc < 0 && rc > -4096))
        TEST_FAIL("a file as lmdb path: got %s", cairn_errname(rc));
    ASSERT_DETAIL(file);
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s", file);
    ASSERT_TRUE(cairn_open(spec, NULL, &db) < 0);
    ASSERT_DETAIL(file);
    free(dir);
    free(file);
}

/* ---------------------------------------------------------------- limits */

/* Reads key from a fresh snapshot of main; returns the rc, copying the
 * value (up to cap bytes) into buf. */
static int read_key(cairn_db *db, const void *key, size_t key_len, void *buf, size_t cap,
                    size_t *len)
{
    cairn_snapshot *snap;
    cairn_val v;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    if ((rc = cairn_get(snap, NULL, key, key_len, &v)) == 0) {
        ASSERT_TRUE(v.len <= cap);
        memcpy(buf, v.data, v.len);
        *len = v.len;
    }
    cairn_snapshot_close(snap);
    return rc;
}

/* Every call on an unusable transaction but abort fails the same way. */
static void assert_unusable(cairn_txn *txn)
{
    cairn_val v;
    ASSERT_RC(cairn_txn_put(txn, NULL, "ok", 2, "v", 1), CAIRN_TXN_UNUSABLE);
    ASSERT_RC(cairn_txn_del(txn, NULL, "ok", 2), CAIRN_TXN_UNUSABLE);
    ASSERT_RC(cairn_txn_get(txn, NULL, "ok", 2, &v), CAIRN_TXN_UNUSABLE);
}

static void limits(void)
{
    char *dir = fresh_dir();
    cairn_db *db = open_spec("lmdb:", dir, 0);
    uint8_t *big = malloc(CAIRN_VALUE_MAX + 1), *key = malloc(CAIRN_KEY_MAX + 1);
    uint8_t *got = malloc(CAIRN_INLINE_MAX + 2);
    cairn_txn *txn;
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    cairn_id head, after;
    uint64_t count;
    size_t len;

    ASSERT_TRUE(big && key && got);
    memset(big, 'v', CAIRN_VALUE_MAX + 1);
    memset(key, 'K', CAIRN_KEY_MAX + 1);

    /* The largest key, values at the inline limit and just past it, and
     * the empty key with an empty value. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, key, CAIRN_KEY_MAX, "max-key", 7));
    ASSERT_OK(cairn_txn_put(txn, NULL, "inline", 6, big, CAIRN_INLINE_MAX));
    ASSERT_OK(cairn_txn_put(txn, NULL, "outline", 7, big, CAIRN_INLINE_MAX + 1));
    ASSERT_OK(cairn_txn_put(txn, NULL, "", 0, "", 0));
    ASSERT_OK(cairn_txn_get(txn, NULL, "outline", 7, &v));
    ASSERT_MEM_EQ(v.data, v.len, big, CAIRN_INLINE_MAX + 1);
    ASSERT_OK(cairn_txn_commit(txn, "limits", &head));
    cairn_close(db);
    db = open_spec("lmdb:", dir, 0);
    ASSERT_OK(read_key(db, key, CAIRN_KEY_MAX, got, CAIRN_INLINE_MAX + 1, &len));
    ASSERT_MEM_EQ(got, len, "max-key", 7);
    ASSERT_OK(read_key(db, "inline", 6, got, CAIRN_INLINE_MAX + 1, &len));
    ASSERT_MEM_EQ(got, len, big, CAIRN_INLINE_MAX);
    ASSERT_OK(read_key(db, "outline", 7, got, CAIRN_INLINE_MAX + 1, &len));
    ASSERT_MEM_EQ(got, len, big, CAIRN_INLINE_MAX + 1);
    ASSERT_OK(read_key(db, "", 0, got, CAIRN_INLINE_MAX + 1, &len));
    ASSERT_EQ(len, 0);

    /* Too long a key, everywhere a key goes. */
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_RC(cairn_get(snap, NULL, key, CAIRN_KEY_MAX + 1, &v), CAIRN_KEYTOOBIG);
    ASSERT_RC(cairn_iter_open(snap, NULL, key, CAIRN_KEY_MAX + 1, NULL, 0, 0, &it),
              CAIRN_KEYTOOBIG);
    ASSERT_RC(cairn_iter_open(snap, NULL, NULL, 0, key, CAIRN_KEY_MAX + 1, 0, &it),
              CAIRN_KEYTOOBIG);
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    ASSERT_RC(cairn_iter_seek(it, key, CAIRN_KEY_MAX + 1), CAIRN_KEYTOOBIG);
    /* The iterator still works after the refused seek: "", then the
     * longest key ('K' < 'i'), "inline", "outline". */
    {
        const cairn_val want[4] = {{"", 0}, {key, CAIRN_KEY_MAX}, {"inline", 6},
                                   {"outline", 7}};
        for (int i = 0; i < 4; i++) {
            ASSERT_OK(cairn_iter_next(it, &k, &v));
            ASSERT_MEM_EQ(k.data, k.len, want[i].data, want[i].len);
        }
        ASSERT_RC(cairn_iter_next(it, &k, &v), CAIRN_NOTFOUND);
    }
    cairn_iter_close(it);
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, 4);
    cairn_snapshot_close(snap);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_get(txn, NULL, key, CAIRN_KEY_MAX + 1, &v), CAIRN_KEYTOOBIG);
    ASSERT_RC(cairn_txn_del(txn, NULL, key, CAIRN_KEY_MAX + 1), CAIRN_KEYTOOBIG);
    assert_unusable(txn);
    ASSERT_RC(cairn_txn_commit(txn, "must fail", NULL), CAIRN_TXN_UNUSABLE);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "before", 6, "x", 1));
    ASSERT_RC(cairn_txn_put(txn, NULL, key, CAIRN_KEY_MAX + 1, "v", 1), CAIRN_KEYTOOBIG);
    assert_unusable(txn);
    cairn_txn_abort(txn);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_del(txn, NULL, "inline", 6));
    ASSERT_RC(cairn_txn_put(txn, NULL, "huge", 4, big, (size_t)CAIRN_VALUE_MAX + 1),
              CAIRN_VALTOOBIG);
    assert_unusable(txn);
    ASSERT_RC(cairn_txn_commit(txn, "must fail", NULL), CAIRN_TXN_UNUSABLE);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_put(txn, NULL, NULL, 3, "v", 1), CAIRN_BADARG);
    assert_unusable(txn);
    cairn_txn_abort(txn);

    /* Nothing of the failed transactions reached the branch. */
    ASSERT_OK(cairn_resolve(db, NULL, &after));
    ASSERT_MEM_EQ(after.bytes, 32, head.bytes, 32);
    ASSERT_RC(read_key(db, "before", 6, got, 8, &len), CAIRN_NOTFOUND);
    ASSERT_OK(read_key(db, "inline", 6, got, CAIRN_INLINE_MAX + 1, &len));
    ASSERT_RC(read_key(db, "huge", 4, got, 8, &len), CAIRN_NOTFOUND);

    /* The longest key can be deleted again. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_del(txn, NULL, key, CAIRN_KEY_MAX));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_RC(read_key(db, key, CAIRN_KEY_MAX, got, 8, &len), CAIRN_NOTFOUND);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    cairn_close(db);
    free(big);
    free(key);
    free(got);
    free(dir);
}

/* ---------------------------------------------------------------- names */

static void bad_names(void)
{
    char *dir = fresh_dir();
    cairn_db *db = open_spec("lmdb:", dir, 0);
    char name[CAIRN_NAME_MAX + 2];
    const char *bad[] = {"", "-x", "a..b", "a b", "/a", "a/", "a//b", "tab\there", "ünï"};
    cairn_txn *txn;
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_id head, id, root;
    cairn_val v;
    uint64_t count;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "k", 1, "v", 1));
    ASSERT_OK(cairn_txn_commit(txn, NULL, &head));

    memset(name, 'b', sizeof(name));
    name[CAIRN_NAME_MAX + 1] = '\0';
    for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        const char *n = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : name;
        txn = NULL;
        ASSERT_RC(cairn_txn_begin(db, n, &txn), CAIRN_BADARG);
        ASSERT_TRUE(txn == NULL);
        ASSERT_RC(cairn_ref_set(db, CAIRN_BRANCH, n, &head, 0), CAIRN_BADARG);
        ASSERT_RC(cairn_ref_set(db, CAIRN_TAG, n, &head, 0), CAIRN_BADARG);
    }
    /* The refusals left the writer lock free. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    cairn_txn_abort(txn);

    /* The longest branch name works. */
    name[CAIRN_NAME_MAX] = '\0';
    ASSERT_OK(cairn_txn_begin(db, name, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "k", 1, "long", 4));
    ASSERT_OK(cairn_txn_commit(txn, NULL, &id));
    ASSERT_OK(cairn_resolve(db, name, &head));
    ASSERT_MEM_EQ(head.bytes, 32, id.bytes, 32);

    /* Keyspace names: one byte too long is refused wherever a name goes. */
    memset(name, 's', sizeof(name));
    name[CAIRN_NAME_MAX + 1] = '\0';
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_RC(cairn_get(snap, name, "k", 1, &v), CAIRN_BADARG);
    ASSERT_RC(cairn_count(snap, name, NULL, 0, NULL, 0, &count), CAIRN_BADARG);
    ASSERT_RC(cairn_iter_open(snap, name, NULL, 0, NULL, 0, 0, &it), CAIRN_BADARG);
    ASSERT_RC(cairn_snapshot_root(snap, name, &root), CAIRN_BADARG);
    cairn_snapshot_close(snap);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_put(txn, name, "k", 1, "v", 1), CAIRN_BADARG);
    assert_unusable(txn);
    cairn_txn_abort(txn);
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_RC(cairn_txn_del(txn, name, "k", 1), CAIRN_BADARG);
    cairn_txn_abort(txn);

    /* ... and the longest one works. */
    name[CAIRN_NAME_MAX] = '\0';
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, name, "k", 1, "spaced", 6));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, name, "k", 1, &v));
    ASSERT_MEM_EQ(v.data, v.len, "spaced", 6);
    ASSERT_OK(cairn_get(snap, NULL, "k", 1, &v));
    ASSERT_MEM_EQ(v.data, v.len, "v", 1);
    cairn_snapshot_close(snap);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    cairn_close(db);
    free(dir);
}

/* ---------------------------------------------------------------- node size */

static void node_sizes(void)
{
    char *dir = fresh_dir();
    char spec[PATH_MAX + 8];
    const uint32_t bad[] = {1, CAIRN_NODE_SIZE_MIN - 1, CAIRN_NODE_SIZE_MAX + 1, 1u << 31};
    const uint32_t good[] = {CAIRN_NODE_SIZE_MIN, CAIRN_NODE_SIZE_MAX};
    cairn_options opts;
    cairn_db *db;

    cairn_options_init(&opts);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char num[16];
        opts.node_size = bad[i];
        ASSERT_RC(cairn_open("mem", &opts, &db), CAIRN_BADARG);
        snprintf(num, sizeof(num), "%u", bad[i]);
        ASSERT_DETAIL(num);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        opts.node_size = good[i];
        ASSERT_OK(cairn_open("mem", &opts, &db));
        ASSERT_EQ(cairn_node_size(db), good[i]);
        cairn_close(db);
    }

    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    opts.node_size = 1024;
    ASSERT_OK(cairn_open(spec, &opts, &db));
    ASSERT_EQ(cairn_node_size(db), 1024);
    cairn_close(db);
    opts.node_size = 2048;
    ASSERT_RC(cairn_open(spec, &opts, &db), CAIRN_BADARG);
    ASSERT_DETAIL("1024");
    ASSERT_DETAIL("2048");
    opts.node_size = 0;
    ASSERT_OK(cairn_open(spec, &opts, &db));
    ASSERT_EQ(cairn_node_size(db), 1024);
    cairn_close(db);
    opts.flags = CAIRN_RDONLY;
    ASSERT_OK(cairn_open(spec, &opts, &db));
    ASSERT_EQ(cairn_node_size(db), 1024);
    cairn_close(db);
    free(dir);
}

/* ---------------------------------------------------------------- damage */

typedef struct problems {
    const char *needle;
    int matched, total;
} problems;

static int on_problem(void *ctx, const char *message)
{
    problems *p = ctx;
    p->total++;
    p->matched += strstr(message, p->needle) != NULL;
    return 0;
}

/* cairn_verify must report a problem naming needle. */
static void assert_verify_names(cairn_db *db, const char *needle)
{
    problems p = {needle, 0, 0};
    cairn_verify_report rep;

    ASSERT_RC(cairn_verify(db, on_problem, &p, &rep), CAIRN_VERIFY);
    ASSERT_TRUE(rep.problems >= 1);
    ASSERT_EQ(p.total, rep.problems);
    if (!p.matched)
        TEST_FAIL("verify reported %d problems, none naming %s", p.total, needle);
}

static void row_key(int i, char buf[16])
{
    snprintf(buf, 16, "row%06d", i);
}

/* Checks every key of the test store (all rows and big values). */
static void check_all(cairn_db *db)
{
    cairn_snapshot *snap;
    cairn_val v;
    char key[16], want[64];
    uint64_t count;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    for (int i = 0; i < ROWS; i++) {
        row_key(i, key);
        snprintf(want, sizeof(want), "value of row %d, some padding to fill", i);
        ASSERT_OK(cairn_get(snap, NULL, key, strlen(key), &v));
        ASSERT_MEM_EQ(v.data, v.len, want, strlen(want));
    }
    for (int i = 0; i < BIGS; i++) {
        snprintf(key, sizeof(key), "big%03d", i);
        ASSERT_OK(cairn_get(snap, NULL, key, strlen(key), &v));
        ASSERT_EQ(v.len, 2000 + i);
        ASSERT_EQ(((const uint8_t *)v.data)[1999], (uint8_t)i);
    }
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, ROWS + BIGS);
    cairn_snapshot_close(snap);
}

/* A damage case: which blob, what to do to it, and what reading shows. */
typedef struct damage {
    const char *what;
    cairn_id id;
    bool delete;
    int want_rc;        /* of the probing read */
    const char *probe;  /* key whose read must fail; NULL: the snapshot open */
    const char *spec;   /* the stack to read through */
    const char *intact; /* a key elsewhere that must still read, or NULL */
} damage;

/* Damages one blob, checks reads and verify, then repairs it. */
static void damage_case(const char *dir, const damage *d)
{
    char hex[CAIRN_ID_HEX + 1];
    void *orig;
    size_t len;
    cairn_db *db;
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_val v;

    cairn_id_to_hex(&d->id, hex);
    raw_lmdb_blob(dir, &d->id, NULL, 0, &orig, &len);
    ((uint8_t *)orig)[len / 2] ^= 0x5a; /* one byte flipped, same length */
    raw_lmdb_blob(dir, &d->id, d->delete ? NULL : orig, len, NULL, NULL);
    ((uint8_t *)orig)[len / 2] ^= 0x5a;
    db = open_spec(d->spec, dir, 0);
    if (!d->probe) {
        ASSERT_RC(cairn_snapshot_open(db, NULL, &snap), d->want_rc);
        ASSERT_DETAIL(hex);
        /* A writer cannot start on a broken head, and does not keep the
         * lock when it fails. */
        ASSERT_RC(cairn_txn_begin(db, NULL, &txn), d->want_rc);
        ASSERT_RC(cairn_txn_begin(db, NULL, &txn), d->want_rc);
    } else {
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_RC(cairn_get(snap, NULL, d->probe, strlen(d->probe), &v), d->want_rc);
        ASSERT_DETAIL(hex);
        if (d->intact)
            ASSERT_OK(cairn_get(snap, NULL, d->intact, strlen(d->intact), &v));
        /* The same read again: the damage is not cached as good data. */
        ASSERT_RC(cairn_get(snap, NULL, d->probe, strlen(d->probe), &v), d->want_rc);
        cairn_snapshot_close(snap);
    }
    assert_verify_names(db, hex);
    cairn_close(db);
    printf("damage: %s %s: %s\n", d->delete ? "deleted" : "corrupt", d->what,
           cairn_errname(d->want_rc));

    raw_lmdb_blob(dir, &d->id, orig, len, NULL, NULL);
    free(orig);
    db = open_spec(d->spec, dir, 0);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    check_all(db);
    cairn_close(db);
}

/* Finds the leaf that holds key and, if its value is out of line, the
 * value blob's id. */
static void find_leaf(cairn_db *db, const char *key, cairn_id *leaf_id, cairn_id *value_id)
{
    cairn_snapshot *snap;
    cairn_node *leaf;
    cairn_id root;
    uint32_t pos;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, &root));
    ASSERT_OK(cairn__tree_find(&db->ix, &root, key, strlen(key), &leaf, &pos));
    *leaf_id = leaf->id;
    if (value_id) {
        ASSERT_TRUE(leaf->e[pos].is_ref);
        memcpy(value_id->bytes, leaf->bytes + leaf->e[pos].val_off, 32);
    }
    cairn__node_release(leaf);
    cairn_snapshot_close(snap);
}

static void damaged_blobs(void)
{
    char *dir = fresh_dir();
    cairn_db *db = open_spec("lmdb:", dir, 0);
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_id head, root, catalog, leaf, first_leaf, big_leaf, value;
    cairn_val v;
    uint8_t bigval[2100];
    char key[16], want[64];

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int i = 0; i < ROWS; i++) {
        row_key(i, key);
        snprintf(want, sizeof(want), "value of row %d, some padding to fill", i);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), want, strlen(want)));
    }
    for (int i = 0; i < BIGS; i++) {
        memset(bigval, 'a' + i, sizeof(bigval));
        bigval[1999] = (uint8_t)i;
        snprintf(key, sizeof(key), "big%03d", i);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), bigval, 2000 + (size_t)i));
    }
    ASSERT_OK(cairn_txn_commit(txn, "data", &head));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, &root));
    ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, &catalog));
    cairn_snapshot_close(snap);
    find_leaf(db, "row002500", &leaf, NULL);
    find_leaf(db, "big005", &big_leaf, &value);
    find_leaf(db, "row000000", &first_leaf, NULL);
    /* The tree must have an inner root for the leaf cases to mean much. */
    ASSERT_TRUE(memcmp(root.bytes, leaf.bytes, 32) != 0);
    ASSERT_TRUE(memcmp(first_leaf.bytes, leaf.bytes, 32) != 0);
    ASSERT_TRUE(memcmp(big_leaf.bytes, leaf.bytes, 32) != 0);
    check_all(db);
    cairn_close(db);

    const damage cases[] = {
        {"root node", root, false, CAIRN_CORRUPT, "row000007", "lmdb:", NULL},
        {"leaf", leaf, false, CAIRN_CORRUPT, "row002500", "lmdb:", "row000000"},
        {"leaf behind a cache", leaf, false, CAIRN_CORRUPT, "row002500", "mem:64M>lmdb:",
         "big005"},
        {"catalog", catalog, false, CAIRN_CORRUPT, "row000007", "lmdb:", NULL},
        {"value blob", value, false, CAIRN_CORRUPT, "big005", "lmdb:", "big004"},
        {"commit", head, false, CAIRN_CORRUPT, NULL, "lmdb:", NULL},
        {"leaf", leaf, true, CAIRN_MISSING, "row002500", "lmdb:", "row000000"},
        {"value blob", value, true, CAIRN_MISSING, "big005", "lmdb:", "big004"},
        {"commit", head, true, CAIRN_MISSING, NULL, "lmdb:", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        damage_case(dir, &cases[i]);

    /* Garbage stored under its true id: behind a branch (not a commit),
     * and as a commit's catalog (not a node). */
    {
        static const char junk[] = "hashes fine, means nothing";
        cairn_commit_info info = {.seq = 1, .message = "catalog is junk"};
        cairn_id junk_id, commit_id;
        char hex[CAIRN_ID_HEX + 1], short_hex[13];
        uint8_t *bytes;
        size_t len;

        cairn__sha256(junk, sizeof(junk) - 1, &junk_id);
        raw_lmdb_blob(dir, &junk_id, junk, sizeof(junk) - 1, NULL, NULL);
        raw_lmdb(dir, "refs", "heads/junk", 10, junk_id.bytes, 32, NULL, NULL);
        info.catalog = junk_id;
        ASSERT_OK(cairn__commit_encode(&info, strlen(info.message), &bytes, &len));
        cairn__sha256(bytes, len, &commit_id);
        raw_lmdb_blob(dir, &commit_id, bytes, len, NULL, NULL);
        free(bytes);
        raw_lmdb(dir, "refs", "heads/junk2", 11, commit_id.bytes, 32, NULL, NULL);

        db = open_spec("lmdb:", dir, 0);
        cairn__id_short(&junk_id, short_hex);
        cairn_id_to_hex(&junk_id, hex);
        ASSERT_RC(cairn_snapshot_open(db, "junk", &snap), CAIRN_CORRUPT);
        ASSERT_DETAIL(short_hex);
        ASSERT_RC(cairn_txn_begin(db, "junk", &txn), CAIRN_CORRUPT);
        ASSERT_OK(cairn_snapshot_open(db, "junk2", &snap));
        ASSERT_RC(cairn_get(snap, NULL, "k", 1, &v), CAIRN_CORRUPT);
        ASSERT_DETAIL(hex);
        cairn_snapshot_close(snap);
        assert_verify_names(db, short_hex);
        check_all(db);
        cairn_close(db);
        raw_lmdb(dir, "refs", "heads/junk", 10, NULL, 0, NULL, NULL);
        raw_lmdb(dir, "refs", "heads/junk2", 11, NULL, 0, NULL, NULL);
    }

    /* Nothing committed was lost. */
    db = open_spec("lmdb:", dir, 0);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    check_all(db);
    cairn_close(db);
    free(dir);
}

/* ---------------------------------------------------------------- read-only */

static void read_only(void)
{
    char *dir = fresh_dir(), *missing = fresh_dir();
    char spec[PATH_MAX + 8];
    cairn_options opts;
    cairn_db *db = open_spec("lmdb:", dir, 0);
    cairn_txn *txn;
    cairn_snapshot *snap;
    cairn_id head, now;
    cairn_val v;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "k", 1, "v", 1));
    ASSERT_OK(cairn_txn_commit(txn, NULL, &head));
    cairn_close(db);

    db = open_spec("lmdb:", dir, CAIRN_RDONLY);
    ASSERT_RC(cairn_txn_begin(db, NULL, &txn), CAIRN_RDONLY_STORE);
    ASSERT_RC(cairn_ref_set(db, CAIRN_BRANCH, "other", &head, 0), CAIRN_RDONLY_STORE);
    ASSERT_RC(cairn_ref_set(db, CAIRN_TAG, "v1", &head, 0), CAIRN_RDONLY_STORE);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, "k", 1, &v));
    ASSERT_MEM_EQ(v.data, v.len, "v", 1);
    cairn_snapshot_close(snap);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    cairn_close(db);
    db = open_spec("lmdb:", dir, 0);
    ASSERT_OK(cairn_resolve(db, NULL, &now));
    ASSERT_MEM_EQ(now.bytes, 32, head.bytes, 32);
    ASSERT_RC(cairn_resolve(db, "v1", &now), CAIRN_NOTFOUND);
    cairn_close(db);

    cairn_options_init(&opts);
    opts.flags = CAIRN_RDONLY;
    snprintf(spec, sizeof(spec), "lmdb:%s", missing);
    db = (cairn_db *)&db;
    ASSERT_TRUE(cairn_open(spec, &opts, &db) < 0);
    ASSERT_TRUE(db == NULL);
    ASSERT_DETAIL(missing);
    ASSERT_TRUE(!exists(missing));
    free(dir);
    free(missing);
}

/* ---------------------------------------------------------------- abort */

/* An aborted transaction changes nothing. The head's id names the whole
 * log (each commit's id covers its parent's), so an unchanged head id is an
 * unchanged log. */
static void aborted_txn(void)
{
    char *dir = fresh_dir();
    cairn_db *db = open_spec("lmdb:", dir, 0);
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_id head_before, head_after, cat_before, cat_after;
    char key[16];
    cairn_val v;

    for (int c = 0; c < 3; c++) {
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        for (int i = 0; i < 100; i++) {
            row_key(c * 100 + i, key);
            ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), key, strlen(key)));
        }
        ASSERT_OK(cairn_txn_commit(txn, NULL, &head_before));
    }
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, &cat_before));
    cairn_snapshot_close(snap);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int i = 0; i < 500; i++) {
        row_key(i, key);
        if (i % 3 == 0)
            ASSERT_OK(cairn_txn_del(txn, NULL, key, strlen(key)));
        else
            ASSERT_OK(cairn_txn_put(txn, "other", key, strlen(key), "new", 3));
    }
    ASSERT_OK(cairn_txn_get(txn, "other", "row000001", 9, &v));
    cairn_txn_abort(txn);

    for (int pass = 0; pass < 2; pass++) { /* this handle, then a fresh one */
        ASSERT_OK(cairn_resolve(db, NULL, &head_after));
        ASSERT_MEM_EQ(head_after.bytes, 32, head_before.bytes, 32);
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, &cat_after));
        ASSERT_MEM_EQ(cat_after.bytes, 32, cat_before.bytes, 32);
        ASSERT_OK(cairn_get(snap, NULL, "row000000", 9, &v));
        ASSERT_RC(cairn_get(snap, "other", "row000001", 9, &v), CAIRN_NOTFOUND);
        cairn_snapshot_close(snap);
        cairn_close(db);
        db = open_spec("lmdb:", dir, 0);
    }
    /* The lock was released: writing works. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    cairn_txn_abort(txn);
    cairn_close(db);
    free(dir);
}

/* ---------------------------------------------------------------- known bugs */

/* Two contracts the engine breaks today; returns the number of failures.
 * 1. cairn.h: cairn_errdetail() is the last failing call's detail, "" if it
 *    left none; a NOTFOUND from cairn_get or cairn_iter_next must not leave
 *    an unrelated earlier detail behind.
 * 2. CAIRN_CATALOG, a public keyspace sentinel (for cairn_snapshot_root),
 *    passed where a keyspace name goes must give an error (or read the
 *    catalog), never a crash. Each such call runs in a child, which exits 0
 *    if the call returned at all (it avoids the ASSERT macros, whose exit()
 *    would run the parent's atexit cleanup). */
static int known_bugs(void)
{
    static const char *const calls[] = {"cairn_get", "cairn_count", "cairn_iter_open",
                                        "cairn_txn_put", "cairn_txn_del", "cairn_txn_get"};
    cairn_db *db, *none;
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_txn *txn;
    cairn_val k, v;
    uint64_t n;
    int failures = 0, status, rc = 0;

    ASSERT_OK(cairn_open("mem", NULL, &db));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "a", 1, "b", 1));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    ASSERT_OK(cairn_iter_next(it, &k, &v));
    for (int c = 0; c < 2; c++) {
        ASSERT_RC(cairn_open("stale:spec", NULL, &none), CAIRN_BADSPEC);
        ASSERT_RC(c ? cairn_iter_next(it, &k, &v) : cairn_get(snap, NULL, "zz", 2, &v),
                  CAIRN_NOTFOUND);
        if (strstr(cairn_errdetail(), "stale") && ++failures)
            fprintf(stderr, "BUG: %s returned CAIRN_NOTFOUND with the detail of an earlier "
                    "call: '%s'\n", c ? "cairn_iter_next" : "cairn_get", cairn_errdetail());
    }
    cairn_iter_close(it);

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int c = 0; c < (int)(sizeof(calls) / sizeof(calls[0])); c++) {
        pid_t pid;
        fflush(NULL);
        ASSERT_TRUE((pid = fork()) >= 0);
        if (pid == 0) {
            switch (c) {
            case 0: rc = cairn_get(snap, CAIRN_CATALOG, "", 0, &v); break;
            case 1: rc = cairn_count(snap, CAIRN_CATALOG, NULL, 0, NULL, 0, &n); break;
            case 2: rc = cairn_iter_open(snap, CAIRN_CATALOG, NULL, 0, NULL, 0, 0, &it); break;
            case 3: rc = cairn_txn_put(txn, CAIRN_CATALOG, "k", 1, "v", 1); break;
            case 4: rc = cairn_txn_del(txn, CAIRN_CATALOG, "k", 1); break;
            default: rc = cairn_txn_get(txn, CAIRN_CATALOG, "k", 1, &v); break;
            }
            printf("%s(CAIRN_CATALOG): %s\n", calls[c], cairn_errname(rc));
            fflush(NULL);
            _exit(0);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && ++failures)
            fprintf(stderr, "BUG: %s with space CAIRN_CATALOG crashed (wait status 0x%x)\n",
                    calls[c], status);
    }
    cairn_txn_abort(txn);
    cairn_snapshot_close(snap);
    cairn_close(db);
    return failures;
}

/* A ref cannot also be a folder of refs ("a" and "a/b"), in every tier:
 * git's rule, which a file-per-ref tier needs. Tags and branches are
 * separate namespaces. */
static void ref_folders(void)
{
    const char *prefixes[] = {"lmdb:", "file:", "mem"};
    size_t p;

    for (p = 0; p < 3; p++) {
        char *dir = fresh_dir();
        cairn_db *db = open_spec(prefixes[p], p == 2 ? "" : dir, 0);
        cairn_txn *txn;
        cairn_id head;

        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        ASSERT_OK(cairn_txn_put(txn, NULL, "k", 1, "v", 1));
        ASSERT_OK(cairn_txn_commit(txn, NULL, &head));
        ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, "a", &head, 0));
        ASSERT_RC(cairn_ref_set(db, CAIRN_BRANCH, "a/b", &head, 0), CAIRN_BADARG);
        ASSERT_DETAIL("heads/a");
        ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, "x/y", &head, 0));
        ASSERT_RC(cairn_txn_begin(db, "x", &txn), CAIRN_BADARG);
        ASSERT_DETAIL("heads/x/y");
        ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, "a/b", &head, 0)); /* tags/ is its own folder */
        ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, "a", &head, 0)); /* moving is not creating */
        printf("%s: a ref is never also a folder of refs\n", prefixes[p]);
        cairn_close(db);
        free(dir);
    }
}

int main(void)
{
    int bugs;

    test_seed_init(1);
    bad_specs();
    limits();
    bad_names();
    node_sizes();
    damaged_blobs();
    read_only();
    aborted_txn();
    ref_folders();
    /* Known failures last, so that everything above runs regardless. */
    bugs = known_bugs();
    if (bugs)
        TEST_FAIL("%d engine bug(s), reported above", bugs);
    printf("ok\n");
    return 0;
}
