/*
 * test_engine_repair.c - cairn_repair restores damaged or missing blobs from
 * another tier of the stack, and says what it cannot repair.
 *
 *  - lmdb:A>file:B with history: a leaf damaged in A (hash-valid id, other
 *    bytes written behind cairn's back) and another node deleted from B.
 *    verify reports both, naming each tier; repair copies each from the
 *    other tier, verify is then clean in both, and reads of the damaged
 *    leaf work again.
 *  - A blob damaged in every tier: repair reports it as a problem left
 *    ("no tier holds a good copy") and repairs the rest.
 *  - A cache is a source too: file:C?capacity=...>lmdb:A, a leaf damaged
 *    in A and cached good in C, is repaired from C.
 *  - A store opened read-only cannot be repaired (CAIRN_RDONLY_STORE), and
 *    CAIRN_EXISTING never creates a store to repair.
 */
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <unistd.h>

#include "engine.h"
#include "id.h"
#include "test.h"
#include "tierutil.h"

static void fill(cairn_db *db, int commits)
{
    for (int c = 0; c < commits; c++) {
        cairn_txn *txn;
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        for (int i = 0; i < (c == 0 ? 1500 : 200); i++) {
            char key[16], val[40];
            int k = c == 0 ? i : (int)test_rand_below(1500);
            snprintf(key, sizeof(key), "key%05d", k);
            snprintf(val, sizeof(val), "value %d of commit %d", k, c);
            ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, strlen(val)));
        }
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    }
}

/* The id of the leaf holding key at the head of main. */
static void leaf_of(cairn_db *db, const char *key, cairn_id *out)
{
    cairn_snapshot *snap;
    cairn_node *leaf;
    cairn_id root;
    uint32_t pos;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, &root));
    cairn_snapshot_close(snap);
    ASSERT_OK(cairn__tree_find(&db->ix, &root, key, strlen(key), &leaf, &pos));
    *out = leaf->id;
    cairn__node_release(leaf);
}

/* Removes a blob from the file store at dir: its loose file, or, when it
 * is in a pack (a big commit), through the tier (which rewrites the pack
 * without it). */
static void remove_file_blob(const char *dir, const cairn_id *id)
{
    char hex[CAIRN_ID_HEX + 1], path[PATH_MAX + 80];
    cairn_tier *t;
    bool has = true;

    cairn_id_to_hex(id, hex);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s", dir, hex, hex + 2);
    if (unlink(path) == 0)
        return;
    ASSERT_EQ(errno, ENOENT);
    snprintf(path, sizeof(path), "file:%s", dir);
    ASSERT_OK(cairn__tier_open(path, 0, &t));
    ASSERT_OK(cairn__tier_remove_many(t, id, 1));
    ASSERT_OK(cairn__tier_has_many(t, id, 1, &has));
    ASSERT_TRUE(!has);
    cairn__tier_close(t);
}

typedef struct log {
    char text[8192];
} log_t;

static int collect(void *ctx, const char *msg)
{
    log_t *l = ctx;
    snprintf(l->text + strlen(l->text), sizeof(l->text) - strlen(l->text), "%s\n", msg);
    return 0;
}

static void expect_in(const log_t *l, const char *needle, const char *what)
{
    if (!strstr(l->text, needle))
        TEST_FAIL("%s: '%s' not in:\n%s", what, needle, l->text);
}

int main(void)
{
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], spec[3 * PATH_MAX];
    cairn_verify_report rep;
    cairn_options o;
    cairn_db *db;
    cairn_id leaf, other, both;
    log_t l;

    test_seed_init(5);
    snprintf(a, sizeof(a), "%s", test_tmpdir());
    snprintf(b, sizeof(b), "%s", test_tmpdir());
    snprintf(c, sizeof(c), "%s", test_tmpdir());

    /* ---- two ref tiers, each missing what the other has */
    snprintf(spec, sizeof(spec), "lmdb:%s>file:%s", a, b);
    ASSERT_OK(cairn_open(spec, NULL, &db));
    fill(db, 6);
    leaf_of(db, "key00100", &leaf);
    leaf_of(db, "key01400", &other);
    leaf_of(db, "key00700", &both);
    ASSERT_TRUE(!cairn__id_eq(&leaf, &other) && !cairn__id_eq(&leaf, &both) &&
                !cairn__id_eq(&other, &both));
    cairn_close(db);
    raw_lmdb_damage(a, &leaf);
    remove_file_blob(b, &other);
    raw_lmdb_damage(a, &both);
    remove_file_blob(b, &both);

    cairn_options_init(&o);
    o.flags = CAIRN_RDONLY;
    ASSERT_OK(cairn_open(spec, &o, &db));
    memset(&l, 0, sizeof(l));
    ASSERT_RC(cairn_verify(db, collect, &l, &rep), CAIRN_VERIFY);
    ASSERT_EQ(rep.problems, 4);
    ASSERT_RC(cairn_repair(db, NULL, NULL, NULL), CAIRN_RDONLY_STORE);
    cairn_close(db);

    ASSERT_OK(cairn_open(spec, NULL, &db));
    memset(&l, 0, sizeof(l));
    ASSERT_RC(cairn_repair(db, collect, &l, &rep), CAIRN_VERIFY);
    ASSERT_EQ(rep.repaired, 2);
    ASSERT_EQ(rep.problems, 2); /* the blob damaged in both, once per tier */
    expect_in(&l, "repaired from tier 'file:", "the damaged leaf in A");
    expect_in(&l, "repaired from tier 'lmdb:", "the missing node in B");
    expect_in(&l, "no tier holds a good copy", "the blob damaged in both");
    printf("repair: %s", l.text);
    cairn_close(db);
    ASSERT_OK(cairn_open(spec, NULL, &db));
    memset(&l, 0, sizeof(l));
    ASSERT_RC(cairn_verify(db, collect, &l, &rep), CAIRN_VERIFY);
    ASSERT_EQ(rep.problems, 2);
    {
        cairn_snapshot *snap;
        cairn_val v;
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_get(snap, NULL, "key00100", 8, &v));
        ASSERT_RC(cairn_get(snap, NULL, "key00700", 8, &v), CAIRN_CORRUPT);
        cairn_snapshot_close(snap);
    }
    cairn_close(db);

    /* ---- a cache as the source */
    {
        char a2[PATH_MAX];
        snprintf(a2, sizeof(a2), "%s", test_tmpdir());
        snprintf(spec, sizeof(spec), "file:%s?capacity=64M>lmdb:%s", c, a2);
        ASSERT_OK(cairn_open(spec, NULL, &db));
        fill(db, 2);
        leaf_of(db, "key00100", &leaf);
        cairn_close(db);
        ASSERT_OK(cairn_open(spec, NULL, &db)); /* a cold node cache: reads fill C */
        {
            cairn_snapshot *snap;
            cairn_val v;
            ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
            ASSERT_OK(cairn_get(snap, NULL, "key00100", 8, &v));
            cairn_snapshot_close(snap);
        }
        cairn_close(db);
        raw_lmdb_damage(a2, &leaf);
        ASSERT_OK(cairn_open(spec, NULL, &db));
        memset(&l, 0, sizeof(l));
        ASSERT_OK(cairn_repair(db, collect, &l, &rep));
        ASSERT_EQ(rep.repaired, 1);
        expect_in(&l, "repaired from tier 'file:", "repair from a cache");
        ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
        cairn_close(db);
        printf("a cache is a source: %s", l.text);
    }

    /* ---- CAIRN_EXISTING creates nothing */
    {
        char missing[PATH_MAX + 16];
        snprintf(missing, sizeof(missing), "lmdb:%s/none", c);
        cairn_options_init(&o);
        o.flags = CAIRN_EXISTING;
        ASSERT_RC(cairn_open(missing, &o, &db), CAIRN_NOTFOUND);
        ASSERT_TRUE(access(missing + 5, F_OK) != 0);
    }
    printf("ok\n");
    return 0;
}
