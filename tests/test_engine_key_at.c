/*
 * test_engine_key_at.c - cairn_key_at, the rank-th key by subtree counts,
 * against the sorted model of tests/model.c.
 *
 *  - small trees at every rank and one past the end: empty, one key, one
 *    leaf, and trees of several levels (node size 256, whose height is
 *    checked, so that the descent crosses internal nodes at every level);
 *  - big random trees (binary keys, values some over the inline limit, so
 *    out-of-line values load too) at random ranks and at both ends, before
 *    and after deleting a random part of them;
 *  - the rank of cairn_key_at's key, counted back with cairn_count, is the
 *    rank asked for; a missing keyspace has no rank 0; a named keyspace
 *    and a reserved one answer like the default one.
 */
#include "model.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static cairn_db *open_store(uint32_t node_size)
{
    cairn_options opts;
    cairn_db *db;

    cairn_options_init(&opts);
    opts.node_size = node_size;
    ASSERT_OK(cairn_open("mem", &opts, &db));
    return db;
}

/* rank of space equals entry rank of m (key and value), and counting the
 * keys below that key gives rank back. */
static void check_rank(cairn_snapshot *snap, const char *space, const model *m, uint64_t rank)
{
    cairn_val key, val;
    uint64_t below;

    ASSERT_OK(cairn_key_at(snap, space, rank, &key, &val));
    if (model_key_cmp(key.data, key.len, m->v[rank].key, m->v[rank].key_len) != 0)
        TEST_FAIL("rank %" PRIu64 " of %zu: another key (%zu bytes, want %zu)", rank, m->n,
                  key.len, m->v[rank].key_len);
    ASSERT_MEM_EQ(val.data, val.len, m->v[rank].val, m->v[rank].val_len);
    ASSERT_OK(cairn_count(snap, space, NULL, 0, key.data, key.len, &below));
    ASSERT_EQ(below, rank);
}

/* Every rank of space, then the first ranks past the end. */
static void check_every_rank(cairn_snapshot *snap, const char *space, const model *m)
{
    cairn_val key, val;
    uint64_t r;

    for (r = 0; r < m->n; r++)
        check_rank(snap, space, m, r);
    ASSERT_RC(cairn_key_at(snap, space, m->n, &key, &val), CAIRN_NOTFOUND);
    ASSERT_RC(cairn_key_at(snap, space, m->n + 1, &key, &val), CAIRN_NOTFOUND);
    ASSERT_RC(cairn_key_at(snap, space, UINT64_MAX, &key, &val), CAIRN_NOTFOUND);
}

/* Commits the model's contents (all of it) into space of a fresh head. */
static void commit_model(cairn_db *db, const char *space, const model *m)
{
    cairn_txn *txn;
    size_t i;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (i = 0; i < m->n; i++)
        ASSERT_OK(cairn_txn_put(txn, space, m->v[i].key, m->v[i].key_len, m->v[i].val,
                                m->v[i].val_len));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

static uint32_t height_of(cairn_db *db)
{
    cairn_stats stats;
    ASSERT_OK(cairn_stats_get(db, "main", &stats));
    return stats.height;
}

static void test_small_trees(void)
{
    static const size_t sizes[] = {0, 1, 2, 7, 40, 300, 1500};
    size_t s;

    for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        cairn_db *db = open_store(256);
        cairn_snapshot *snap;
        model m = {0};
        char key[16];
        size_t i;

        for (i = 0; i < sizes[s]; i++) {
            int len = snprintf(key, sizeof(key), "k%05zu", i * 7919 % 100000);
            model_put(&m, key, (size_t)len, key + 1, (size_t)len - 1);
        }
        commit_model(db, NULL, &m);
        /* The shapes these sizes are meant to give: no tree, one leaf,
         * and at the largest a root three levels above the leaves. */
        if (sizes[s] == 0)
            ASSERT_EQ(height_of(db), 0);
        else if (sizes[s] <= 7)
            ASSERT_EQ(height_of(db), 1);
        else if (sizes[s] >= 1500)
            ASSERT_TRUE(height_of(db) >= 4);
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        check_every_rank(snap, NULL, &m);
        check_every_rank(snap, "absent", &(model){0});
        cairn_snapshot_close(snap);
        model_free(&m);
        cairn_close(db);
    }
}

/* Random binary keys of 1..40 bytes, values of 0..2000 (a fifth over the
 * inline limit). */
static void random_entry(model *m)
{
    uint8_t key[40], val[2000];
    size_t klen = 1 + test_rand_below(40), vlen = test_rand_below(5) ? test_rand_below(100)
                                                                      : test_rand_below(2000);
    size_t i;

    for (i = 0; i < klen; i++)
        key[i] = (uint8_t)test_rand_below(4) * 60; /* few byte values: shared prefixes */
    for (i = 0; i < vlen; i++)
        val[i] = (uint8_t)test_rand();
    model_put(m, key, klen, val, vlen);
}

static void check_random_ranks(cairn_snapshot *snap, const char *space, const model *m)
{
    cairn_val key, val;
    int i;

    ASSERT_RC(cairn_key_at(snap, space, m->n, &key, &val), CAIRN_NOTFOUND);
    if (!m->n)
        return;
    check_rank(snap, space, m, 0);
    check_rank(snap, space, m, m->n - 1);
    for (i = 0; i < 3000; i++)
        check_rank(snap, space, m, test_rand_below(m->n));
}

static void test_big_trees(uint32_t node_size)
{
    static const char *const spaces[] = {NULL, "named", ".reserved"};
    cairn_db *db = open_store(node_size);
    cairn_snapshot *snap;
    cairn_txn *txn;
    model m = {0};
    size_t i, s;

    while (m.n < 20000)
        random_entry(&m);
    for (s = 0; s < 3; s++)
        commit_model(db, spaces[s], &m);
    ASSERT_TRUE(height_of(db) >= 2);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    for (s = 0; s < 3; s++)
        check_random_ranks(snap, spaces[s], &m);
    cairn_snapshot_close(snap);

    /* Delete about a third, at random: counts change along many paths. */
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (i = 0; i < m.n;) {
        if (test_rand_below(3) == 0) {
            ASSERT_OK(cairn_txn_del(txn, NULL, m.v[i].key, m.v[i].key_len));
            char key[MODEL_KEY_MAX];
            size_t len = m.v[i].key_len;
            memcpy(key, m.v[i].key, len);
            model_del(&m, key, len);
        } else {
            i++;
        }
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    check_random_ranks(snap, NULL, &m);
    cairn_snapshot_close(snap);
    model_free(&m);
    cairn_close(db);
}

int main(void)
{
    test_seed_init(12);
    test_small_trees();
    test_big_trees(256);
    test_big_trees(4096);
    printf("ok\n");
    return 0;
}
