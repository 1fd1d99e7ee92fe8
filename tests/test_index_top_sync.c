/*
 * test_index_top_sync.c - regression test for keys lost when a batch puts
 * new keys before the first key of a tree and a node boundary falls right
 * after them (found by test_engine_scale, seed 69).
 *
 * The rewrite of the root's level stopped as soon as it was "in step" with
 * the old tree again: the builder empty at the start of an old node. At
 * the root's level that node is the root itself, not yet consumed, and the
 * new nodes were then taken for the whole level: every key of the old tree
 * was dropped. The smallest case: a leaf {s6, s7} at node size 256, then a
 * put of s4 with 150 bytes, whose item ends a node; the commit held s4
 * alone.
 *
 * Here, at several node sizes, trees of one leaf and of several levels get
 * batches of new keys that all sort before their first key, with values of
 * many sizes (so that boundaries fall after some of the new items, at the
 * leaf level and, with many new keys, at internal levels). Each result
 * must hold every key (scan and count) and have the root a build of the
 * same contents from nothing gives.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

static cairn_db *open_mem(uint32_t node_size)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.node_size = node_size;
    ASSERT_OK(cairn_open("mem", &o, &db));
    return db;
}

static void put_keys(cairn_txn *txn, char prefix, size_t n, size_t val_len, uint64_t salt)
{
    static char val[4096];
    for (size_t i = 0; i < n; i++) {
        char key[32];
        size_t len = (size_t)snprintf(key, sizeof(key), "%c%06zu", prefix, i);
        size_t vl = val_len ? val_len : (size_t)((i * 37 + salt) % 300);
        memset(val, (int)('a' + (i + salt) % 26), vl);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, len, val, vl));
    }
}

static void root_of(cairn_db *db, cairn_id *root)
{
    cairn_snapshot *snap;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, root));
    cairn_snapshot_close(snap);
}

/* n_old keys "m..." committed first, then n_new keys "a..." (all before
 * them) in a second commit. */
static void check_case(uint32_t node_size, size_t n_old, size_t n_new, size_t val_len,
                       uint64_t salt)
{
    cairn_db *db = open_mem(node_size), *fresh = open_mem(node_size);
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_id a, b;
    uint64_t count;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    put_keys(txn, 'm', n_old, 10, salt);
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    put_keys(txn, 'a', n_new, val_len, salt);
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));

    ASSERT_OK(cairn_txn_begin(fresh, NULL, &txn));
    put_keys(txn, 'm', n_old, 10, salt);
    put_keys(txn, 'a', n_new, val_len, salt);
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    cairn_snapshot_close(snap);
    if (count != n_old + n_new)
        TEST_FAIL("node size %u, %zu old keys, %zu new before them (values %zu, salt %llu): "
                  "%llu keys after the commit",
                  node_size, n_old, n_new, val_len, (unsigned long long)salt,
                  (unsigned long long)count);
    root_of(db, &a);
    root_of(fresh, &b);
    if (memcmp(a.bytes, b.bytes, 32) != 0)
        TEST_FAIL("node size %u, %zu old keys, %zu new: root differs from a fresh build",
                  node_size, n_old, n_new);
    cairn_close(db);
    cairn_close(fresh);
}

/* The case test_engine_scale found, as it was. */
static void seed_69(void)
{
    cairn_db *db = open_mem(256);
    cairn_snapshot *snap;
    cairn_txn *txn;
    uint64_t count;
    char val[200];

    memset(val, 'x', sizeof(val));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, "second", "s7", 2, val, 8));
    ASSERT_OK(cairn_txn_put(txn, "second", "s6", 2, val, 10));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, "second", "s4", 2, val, 150));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, "second", NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, 3);
    cairn_snapshot_close(snap);
    cairn_close(db);
}

int main(void)
{
    static const uint32_t node_sizes[] = {256, 512, 4096};
    static const size_t olds[] = {1, 2, 5, 40, 400};
    static const size_t news[] = {1, 2, 3, 8, 60, 600};
    static const size_t vals[] = {0, 40, 150, 600, 1000};
    uint64_t cases = 0;

    test_seed_init(1);
    for (size_t a = 0; a < sizeof(node_sizes) / sizeof(*node_sizes); a++)
        for (size_t b = 0; b < sizeof(olds) / sizeof(*olds); b++)
            for (size_t c = 0; c < sizeof(news) / sizeof(*news); c++)
                for (size_t d = 0; d < sizeof(vals) / sizeof(*vals); d++)
                    for (uint64_t salt = 0; salt < 3; salt++, cases++)
                        check_case(node_sizes[a], olds[b], news[c], vals[d], salt + test_seed);
    seed_69();
    printf("%llu cases\nok\n", (unsigned long long)cases);
    return 0;
}
