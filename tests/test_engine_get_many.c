/*
 * test_engine_get_many.c - cairn_get_many, the batched point read, against
 * the sorted model of tests/model.c.
 *
 *  - every position of small trees (empty, one key, one leaf, several
 *    levels at node size 256): each key, the gaps before, between and after
 *    them, duplicates, unsorted order, a key over CAIRN_KEY_MAX, n = 0, and
 *    counts that cross the batches of 64;
 *  - random binary keys with values some over the inline limit, in the
 *    default keyspace, a named one and a missing one;
 *  - batching, counted: on a cold lmdb store, 64 keys cost at most one tier
 *    read per level (the same keys one by one cost one per key and level);
 *  - errors: a tier read failing at each call of a cold batch (once, then
 *    for good), every error path taken twice; the calls made before an
 *    error are right and in order, and end with a whole batch or at a key
 *    whose value is a blob of its own; a callback that stops, and one
 *    that reads other keyspaces of the snapshot itself.
 */
#include "model.h"
#include "test.h"
#include "tier.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 64 /* cairn_get_many's batch, as documented */

/* What one cairn_get_many call must answer: keys[i] of the model m. */
typedef struct expect {
    const model *m;
    const cairn_val *keys;
    size_t calls;   /* fn calls so far: the next i */
    size_t stop_at; /* fn returns 42 at this i (SIZE_MAX: never) */
} expect;

static int check_one(void *ctx, size_t i, const cairn_val *val)
{
    expect *x = ctx;
    const cairn_val *key = &x->keys[i];
    bool found = false;
    size_t at;

    if (i != x->calls)
        TEST_FAIL("fn called for key %zu, expected key %zu next", i, x->calls);
    x->calls++;
    at = key->len <= MODEL_KEY_MAX ? model_find(x->m, key->data, key->len, &found) : 0;
    if (!found && val)
        TEST_FAIL("key %zu (%zu bytes) is absent but came back with %zu bytes", i, key->len,
                  val->len);
    if (found && !val)
        TEST_FAIL("key %zu (%zu bytes) is present but came back absent", i, key->len);
    if (found)
        ASSERT_MEM_EQ(val->data, val->len, x->m->v[at].val, x->m->v[at].val_len);
    return i == x->stop_at ? 42 : 0;
}

/* cairn_get_many of keys must give m's answer for each, in order. */
static void check_keys(cairn_snapshot *snap, const char *space, const model *m,
                       const cairn_val *keys, size_t n)
{
    expect x = {m, keys, 0, SIZE_MAX};

    ASSERT_OK(cairn_get_many(snap, space, keys, n, check_one, &x));
    ASSERT_EQ(x.calls, n);
}

static void commit_model(cairn_db *db, const char *space, const model *m)
{
    cairn_txn *txn;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (size_t i = 0; i < m->n; i++)
        ASSERT_OK(cairn_txn_put(txn, space, m->v[i].key, m->v[i].key_len, m->v[i].val,
                                m->v[i].val_len));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

static cairn_db *open_store(const char *spec, uint32_t node_size, size_t cache_bytes)
{
    cairn_options opts;
    cairn_db *db;

    cairn_options_init(&opts);
    opts.node_size = node_size;
    if (cache_bytes)
        opts.node_cache_bytes = cache_bytes;
    ASSERT_OK(cairn_open(spec, &opts, &db));
    return db;
}

/* A key buffer the keys of a check point into. */
typedef struct keyset {
    cairn_val *v;
    char (*bytes)[CAIRN_KEY_MAX + 2];
    size_t n, cap;
} keyset;

static void keyset_add(keyset *ks, const void *key, size_t len)
{
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? 2 * ks->cap : 256;
        ASSERT_TRUE((ks->v = realloc(ks->v, ks->cap * sizeof(*ks->v))) != NULL);
        ASSERT_TRUE((ks->bytes = realloc(ks->bytes, ks->cap * sizeof(*ks->bytes))) != NULL);
    }
    ASSERT_TRUE(len <= CAIRN_KEY_MAX + 1);
    memcpy(ks->bytes[ks->n], key, len);
    ks->v[ks->n].len = len;
    ks->n++;
}

/* The pointers, once the buffer stops moving. */
static const cairn_val *keyset_vals(keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        ks->v[i].data = ks->bytes[i];
    return ks->v;
}

static void keyset_free(keyset *ks)
{
    free(ks->v);
    free(ks->bytes);
    memset(ks, 0, sizeof(*ks));
}

/* Every key of m and the gaps around each: the empty key, each key with
 * a 0 byte appended (just after it), and a key after the last. */
static void every_position(const model *m, keyset *ks)
{
    char key[MODEL_KEY_MAX + 1];

    keyset_add(ks, "", 0);
    for (size_t i = 0; i < m->n; i++) {
        keyset_add(ks, m->v[i].key, m->v[i].key_len);
        memcpy(key, m->v[i].key, m->v[i].key_len);
        key[m->v[i].key_len] = 0;
        keyset_add(ks, key, m->v[i].key_len + 1);
    }
    keyset_add(ks, "\xff\xff\xff", 3);
}

static void test_small_trees(void)
{
    static const size_t sizes[] = {0, 1, 2, 7, 40, 300, 1500};
    char big[CAIRN_KEY_MAX + 1];

    memset(big, 'k', sizeof(big));
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        cairn_db *db = open_store("mem", 256, 0);
        cairn_snapshot *snap;
        keyset ks = {0};
        model m = {0};
        char key[16];

        for (size_t i = 0; i < sizes[s]; i++) {
            int len = snprintf(key, sizeof(key), "k%05zu", i * 7919 % 100000);
            model_put(&m, key, (size_t)len, key + 1, (size_t)len - 1);
        }
        commit_model(db, NULL, &m);
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        every_position(&m, &ks);
        keyset_add(&ks, big, sizeof(big)); /* over the key limit: absent */
        /* the same keys again, in reverse order: duplicates, unsorted */
        for (size_t i = ks.n; i-- > 0;) {
            char copy[sizeof(big)]; /* keyset_add may move ks.bytes */
            memcpy(copy, ks.bytes[i], ks.v[i].len);
            keyset_add(&ks, copy, ks.v[i].len);
        }
        const cairn_val *keys = keyset_vals(&ks);
        check_keys(snap, NULL, &m, keys, ks.n);
        /* every count up to past two batches, from every start */
        for (size_t n = 0; n <= 2 * BATCH + 1 && n <= ks.n; n++)
            check_keys(snap, NULL, &m, keys + (ks.n - n) / 2, n);
        check_keys(snap, "absent", &(model){0}, keys, ks.n);
        ASSERT_OK(cairn_get_many(snap, NULL, NULL, 0, NULL, NULL));
        ASSERT_RC(cairn_get_many(snap, NULL, NULL, 1, check_one, NULL), CAIRN_BADARG);
        cairn_snapshot_close(snap);
        keyset_free(&ks);
        model_free(&m);
        cairn_close(db);
    }
}

/* Random binary keys of 1..40 bytes over few byte values (shared
 * prefixes), values of 0..2000 bytes (a fifth over the inline limit). */
static void random_entry(model *m, bool inline_only)
{
    uint8_t key[40], val[2000];
    size_t klen = 1 + test_rand_below(40);
    size_t vlen = inline_only || test_rand_below(5) ? test_rand_below(100) : test_rand_below(2000);

    for (size_t i = 0; i < klen; i++)
        key[i] = (uint8_t)test_rand_below(4) * 60;
    for (size_t i = 0; i < vlen; i++)
        val[i] = (uint8_t)test_rand();
    model_put(m, key, klen, val, vlen);
}

/* n keys: three in four present (random ranks), the rest random keys
 * (mostly absent). */
static void random_keys(const model *m, size_t n, keyset *ks)
{
    model other = {0};

    for (size_t i = 0; i < n; i++) {
        if (m->n && test_rand_below(4)) {
            const model_entry *e = &m->v[test_rand_below(m->n)];
            keyset_add(ks, e->key, e->key_len);
        } else {
            random_entry(&other, true);
            keyset_add(ks, other.v[0].key, other.v[0].key_len);
            model_free(&other);
        }
    }
}

static void test_random_trees(const char *dir)
{
    static const char *const spaces[] = {NULL, "named", ".reserved"};
    char spec[512];
    model m = {0};

    snprintf(spec, sizeof(spec), "lmdb:%s/random", dir);
    cairn_db *db = open_store(spec, 512, 0);
    while (m.n < 20000)
        random_entry(&m, false);
    for (size_t s = 0; s < 3; s++)
        commit_model(db, spaces[s], &m);
    cairn_close(db);
    /* a small node cache: most reads reach the tier */
    db = open_store(spec, 0, 256 << 10);
    cairn_snapshot *snap;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    for (int round = 0; round < 30; round++) {
        keyset ks = {0};
        random_keys(&m, test_rand_below(300), &ks);
        const cairn_val *keys = keyset_vals(&ks);
        for (size_t s = 0; s < 3; s++)
            check_keys(snap, spaces[s], &m, keys, ks.n);
        check_keys(snap, "missing", &(model){0}, keys, ks.n);
        keyset_free(&ks);
    }
    cairn_snapshot_close(snap);
    cairn_close(db);
    model_free(&m);
}

/* Tier reads (get_many wrapper calls) that fn makes: a fault armed to
 * fire never counts them. */
static uint64_t tier_reads_of(void (*fn)(void *), void *ctx)
{
    cairn__tier_fault_arm("get_many", UINT64_MAX, CAIRN_IO);
    fn(ctx);
    uint64_t n = cairn__tier_fault_seen();
    cairn__tier_fault_arm("get_many", 0, 0);
    return n;
}

typedef struct count_run {
    cairn_snapshot *snap;
    const model *m;
    const cairn_val *keys;
    size_t n;
} count_run;

static void run_batched(void *ctx)
{
    count_run *r = ctx;
    check_keys(r->snap, NULL, r->m, r->keys, r->n);
}

static void run_one_by_one(void *ctx)
{
    count_run *r = ctx;
    for (size_t i = 0; i < r->n; i++) {
        cairn_val v;
        int rc = cairn_get(r->snap, NULL, r->keys[i].data, r->keys[i].len, &v);
        ASSERT_TRUE(rc == 0 || rc == CAIRN_NOTFOUND);
    }
}

/* A cold lmdb store of a few levels: 64 present keys cost at most one
 * read per level batched, and one per key and level one by one. */
static void test_batching_counted(const char *dir)
{
    char spec[512];
    model m = {0};
    cairn_stats stats;

    snprintf(spec, sizeof(spec), "lmdb:%s/counted", dir);
    cairn_db *db = open_store(spec, 512, 0);
    while (m.n < 30000)
        random_entry(&m, true);
    commit_model(db, NULL, &m);
    ASSERT_OK(cairn_stats_get(db, "main", &stats));
    uint32_t height = stats.height;
    ASSERT_TRUE(height >= 3);
    cairn_close(db);

    keyset ks = {0};
    for (size_t i = 0; i < BATCH; i++) {
        const model_entry *e = &m.v[(i * 7919 + 13) % m.n];
        keyset_add(&ks, e->key, e->key_len);
    }
    count_run r = {NULL, &m, keyset_vals(&ks), ks.n};
    uint64_t reads[2];
    for (int how = 0; how < 2; how++) {
        db = open_store(spec, 0, 0); /* a cold node cache */
        ASSERT_OK(cairn_snapshot_open(db, NULL, &r.snap));
        reads[how] = tier_reads_of(how ? run_one_by_one : run_batched, &r);
        cairn_snapshot_close(r.snap);
        cairn_close(db);
    }
    printf("64 cold keys, height %u: %" PRIu64 " tier reads batched, %" PRIu64
           " one by one\n",
           height, reads[0], reads[1]);
    /* the keyspace's entry in the catalog, its root, then one batch for
     * each of the height - 1 levels below the root */
    ASSERT_TRUE(reads[0] <= height + 1);
    ASSERT_TRUE(reads[1] >= BATCH);
    keyset_free(&ks);
    model_free(&m);
}

/* A tier read fails at the nth call of a cold run (once, or for good):
 * the calls made are whole batches, right and in order, and the error is
 * the tier's; the same run again succeeds. */
static void test_faults(const char *dir)
{
    char spec[512];
    model m = {0};
    keyset ks = {0};
    uint64_t faults = 0;

    snprintf(spec, sizeof(spec), "lmdb:%s/faults", dir);
    cairn_db *db = open_store(spec, 256, 0);
    while (m.n < 5000)
        random_entry(&m, false);
    commit_model(db, NULL, &m);
    cairn_close(db);
    random_keys(&m, 3 * BATCH + 10, &ks);
    const cairn_val *keys = keyset_vals(&ks);
    for (int forever = 0; forever < 2; forever++) {
        for (uint64_t nth = 1;; nth++) {
            db = open_store(spec, 0, 0);
            cairn_snapshot *snap;
            ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
            expect x = {&m, keys, 0, SIZE_MAX};
            cairn__tier_fault_arm_kind("get_many", nth, CAIRN_IO, CAIRN_FAULT_FAIL,
                                       forever);
            int rc = cairn_get_many(snap, NULL, keys, ks.n, check_one, &x);
            bool fired = cairn__tier_fault_fired();
            cairn__tier_fault_arm("get_many", 0, 0);
            if (!fired) {
                ASSERT_OK(rc);
                ASSERT_EQ(x.calls, ks.n);
                cairn_snapshot_close(snap);
                cairn_close(db);
                break;
            }
            faults++;
            /* A failed batch read is advisory (each node is then read on
             * its own): once, the run may still succeed. */
            if (rc == 0) {
                ASSERT_TRUE(!forever);
                ASSERT_EQ(x.calls, ks.n);
            } else {
                ASSERT_RC(rc, CAIRN_IO);
                ASSERT_TRUE(x.calls < ks.n);
                /* stopped before its batch's first call, or at a key whose
                 * value is a blob of its own */
                if (x.calls % BATCH != 0) {
                    bool found;
                    size_t at = model_find(&m, keys[x.calls].data, keys[x.calls].len, &found);
                    ASSERT_TRUE(found && m.v[at].val_len > CAIRN_INLINE_MAX);
                }
            }
            /* and the same run again, on the same snapshot: it heals */
            x.calls = 0;
            ASSERT_OK(cairn_get_many(snap, NULL, keys, ks.n, check_one, &x));
            ASSERT_EQ(x.calls, ks.n);
            cairn_snapshot_close(snap);
            cairn_close(db);
        }
    }
    printf("tier read faults injected: %" PRIu64 "\n", faults);
    printf("cairn-summary: fault_points=%" PRIu64 "\n", faults);
    ASSERT_TRUE(faults > 10);

    /* a callback that stops: its value, and no call after it */
    db = open_store(spec, 0, 0);
    cairn_snapshot *snap;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    for (size_t stop = 0; stop < ks.n; stop += 37) {
        expect x = {&m, keys, 0, stop};
        ASSERT_RC(cairn_get_many(snap, NULL, keys, ks.n, check_one, &x), 42);
        ASSERT_EQ(x.calls, stop + 1);
    }
    cairn_snapshot_close(snap);
    cairn_close(db);
    keyset_free(&ks);
    model_free(&m);
}

/* fn may read the snapshot itself: here every call reads more keyspaces
 * than the snapshot keeps roots of (8), so the batch's own keyspace loses
 * its slot while the batch goes on (its root must stay valid). */
typedef struct reading_fn {
    expect x;
    cairn_snapshot *snap;
    const model *m;
} reading_fn;

static int read_inside(void *ctx, size_t i, const cairn_val *val)
{
    reading_fn *r = ctx;
    int rc = check_one(&r->x, i, val);
    for (int s = 0; s < 12; s++) {
        char space[8];
        cairn_val v;
        snprintf(space, sizeof(space), "s%d", s);
        const model_entry *e = &r->m->v[(i + (size_t)s) % r->m->n];
        ASSERT_OK(cairn_get(r->snap, space, e->key, e->key_len, &v));
        ASSERT_MEM_EQ(v.data, v.len, e->val, e->val_len);
    }
    return rc;
}

static void test_reads_inside_fn(void)
{
    cairn_db *db = open_store("mem", 256, 64 << 10); /* a node cache that evicts */
    cairn_snapshot *snap;
    keyset ks = {0};
    model m = {0};

    while (m.n < 3000)
        random_entry(&m, true);
    commit_model(db, NULL, &m);
    for (int s = 0; s < 12; s++) {
        char space[8];
        snprintf(space, sizeof(space), "s%d", s);
        commit_model(db, space, &m);
    }
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    random_keys(&m, 3 * BATCH, &ks);
    reading_fn r = {{&m, keyset_vals(&ks), 0, SIZE_MAX}, snap, &m};
    ASSERT_OK(cairn_get_many(snap, NULL, r.x.keys, ks.n, read_inside, &r));
    ASSERT_EQ(r.x.calls, ks.n);
    cairn_snapshot_close(snap);
    keyset_free(&ks);
    model_free(&m);
    cairn_close(db);
}

int main(void)
{
    const char *dir = test_tmpdir();

    test_seed_init(64);
    test_small_trees();
    test_random_trees(dir);
    test_batching_counted(dir);
    test_faults(dir);
    test_reads_inside_fn();
    printf("ok\n");
    return 0;
}
