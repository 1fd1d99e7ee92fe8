/*
 * apimodel.c - the public API against a plain sorted map (tests/model.c):
 * the random operations and the histories of test_engine_model, shared
 * with the tests that run them on other tiers (test_engine_redis). What
 * each checks is in apimodel.h.
 */
#include "apimodel.h"

#include "model.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_SPACES 2
static const char *space_names[N_SPACES] = {NULL, "second"};

static void random_key(char *key, size_t *len, unsigned key_space)
{
    unsigned k = (unsigned)test_rand_below(key_space);
    *len = (size_t)snprintf(key, 40, "%s%u", k % 5 == 0 ? "a/" : "b/", k * 7u % key_space);
}

static size_t random_val(uint8_t *buf)
{
    size_t len, i;
    uint64_t pick = test_rand_below(10);
    len = pick == 0 ? 0 : pick < 8 ? test_rand_below(40) : test_rand_below(3000);
    for (i = 0; i < len; i++)
        buf[i] = (uint8_t)test_rand();
    return len;
}

/* A key the model lacks: before every key ("" or "0..."), after every key
 * ("z..."), or right after a present key (it plus a zero byte). */
static void absent_key(const model *m, char *key, size_t *len)
{
    bool found;
    for (;;) {
        unsigned pick = (unsigned)test_rand_below(4), k = (unsigned)test_rand_below(100);
        if (pick == 0) {
            *len = 0;
        } else if (pick == 1) {
            *len = (size_t)snprintf(key, 40, "0%u", k);
        } else if (pick == 2) {
            *len = (size_t)snprintf(key, 40, "z%u", k);
        } else if (m->n) {
            const model_entry *near = &m->v[test_rand_below(m->n)];
            memcpy(key, near->key, near->key_len);
            key[near->key_len] = '\0';
            *len = near->key_len + 1;
        } else {
            continue;
        }
        model_find(m, key, *len, &found);
        if (!found)
            return;
    }
}

/* A full forward scan of space equals the model. */
static void check_all(cairn_snapshot *snap, const char *space, const model *m)
{
    cairn_iter *it;
    cairn_val k, v;
    size_t i = 0;
    uint64_t count;
    int rc;

    ASSERT_OK(cairn_iter_open(snap, space, NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        ASSERT_TRUE(i < m->n);
        ASSERT_MEM_EQ(k.data, k.len, m->v[i].key, m->v[i].key_len);
        ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
        i++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(i, m->n);
    cairn_iter_close(it);
    ASSERT_OK(cairn_count(snap, space, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, m->n);
}

/* A random bounded scan, forward or reverse, with an optional seek, and a
 * count of the same range. */
static void check_range(cairn_snapshot *snap, const char *space, const model *m, unsigned ks)
{
    char lo[40], hi[40], sk[40];
    size_t lo_len, hi_len, sk_len, steps = 0;
    bool has_lo = test_rand_below(4) != 0, has_hi = test_rand_below(4) != 0;
    bool reverse = test_rand_below(2), seek = test_rand_below(3) == 0;
    model_range mr;
    cairn_iter *it;
    cairn_val k, v;
    uint64_t count;
    int rc;

    random_key(lo, &lo_len, ks);
    random_key(hi, &hi_len, ks);
    random_key(sk, &sk_len, ks);
    mr = model_range_open(m, has_lo ? lo : NULL, lo_len, has_hi ? hi : NULL, hi_len, reverse);
    ASSERT_OK(cairn_count(snap, space, has_lo ? lo : NULL, lo_len, has_hi ? hi : NULL, hi_len,
                          &count));
    ASSERT_EQ(count, model_range_count(&mr));
    ASSERT_OK(cairn_iter_open(snap, space, has_lo ? lo : NULL, lo_len, has_hi ? hi : NULL,
                              hi_len, reverse ? CAIRN_ITER_REVERSE : 0, &it));
    if (seek) {
        ASSERT_OK(cairn_iter_seek(it, sk, sk_len));
        model_range_seek(m, &mr, sk, sk_len);
    }
    for (;;) {
        const model_entry *e = model_range_next(m, &mr);
        rc = cairn_iter_next(it, &k, &v);
        if (!e)
            break;
        ASSERT_OK(rc);
        ASSERT_MEM_EQ(k.data, k.len, e->key, e->key_len);
        ASSERT_MEM_EQ(v.data, v.len, e->val, e->val_len);
        if (++steps > 50 && test_rand_below(2))
            goto out; /* long ranges: stop early sometimes */
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
out:
    cairn_iter_close(it);
}

static void check_gets(cairn_snapshot *snap, const char *space, const model *m, unsigned ks)
{
    int j;
    for (j = 0; j < 20; j++) {
        char key[40];
        size_t len, i;
        bool found;
        cairn_val v;
        random_key(key, &len, ks);
        i = model_find(m, key, len, &found);
        if (found) {
            ASSERT_OK(cairn_get(snap, space, key, len, &v));
            ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
        } else {
            ASSERT_RC(cairn_get(snap, space, key, len, &v), CAIRN_NOTFOUND);
        }
    }
}

typedef struct version {
    cairn_id commit;
    model spaces[N_SPACES];
} version;

/* The diff from version a to b equals the difference of their models. */
static void check_diff(cairn_db *db, const version *a, const version *b, int space)
{
    cairn_snapshot *sa, *sb;
    cairn_diff *d;
    cairn_diff_entry e;
    const model *ma = &a->spaces[space], *mb = &b->spaces[space];
    size_t i = 0, j = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open_commit(db, &a->commit, &sa));
    ASSERT_OK(cairn_snapshot_open_commit(db, &b->commit, &sb));
    ASSERT_OK(cairn_diff_open(sa, sb, space_names[space], &d));
    for (;;) {
        int c;
        /* skip equal entries in the models */
        while (i < ma->n && j < mb->n &&
               model_key_cmp(ma->v[i].key, ma->v[i].key_len, mb->v[j].key, mb->v[j].key_len) == 0 &&
               ma->v[i].val_len == mb->v[j].val_len &&
               memcmp(ma->v[i].val, mb->v[j].val, ma->v[i].val_len) == 0)
            i++, j++;
        rc = cairn_diff_next(d, &e);
        if (i == ma->n && j == mb->n)
            break;
        ASSERT_OK(rc);
        c = i == ma->n ? 1 : j == mb->n ? -1
            : model_key_cmp(ma->v[i].key, ma->v[i].key_len, mb->v[j].key, mb->v[j].key_len);
        if (c < 0) {
            ASSERT_EQ(e.change, CAIRN_REMOVED);
            ASSERT_MEM_EQ(e.key.data, e.key.len, ma->v[i].key, ma->v[i].key_len);
            i++;
        } else if (c > 0) {
            ASSERT_EQ(e.change, CAIRN_ADDED);
            ASSERT_MEM_EQ(e.key.data, e.key.len, mb->v[j].key, mb->v[j].key_len);
            ASSERT_MEM_EQ(e.new_val.data, e.new_val.len, mb->v[j].val, mb->v[j].val_len);
            j++;
        } else {
            ASSERT_EQ(e.change, CAIRN_CHANGED);
            ASSERT_MEM_EQ(e.old_val.data, e.old_val.len, ma->v[i].val, ma->v[i].val_len);
            ASSERT_MEM_EQ(e.new_val.data, e.new_val.len, mb->v[j].val, mb->v[j].val_len);
            i++, j++;
        }
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    cairn_diff_close(d);
    cairn_snapshot_close(sa);
    cairn_snapshot_close(sb);
}

static void check_version(cairn_db *db, const version *ver, unsigned ks)
{
    cairn_snapshot *snap;
    int s;
    ASSERT_OK(cairn_snapshot_open_commit(db, &ver->commit, &snap));
    for (s = 0; s < N_SPACES; s++) {
        check_all(snap, space_names[s], &ver->spaces[s]);
        check_gets(snap, space_names[s], &ver->spaces[s], ks);
        check_range(snap, space_names[s], &ver->spaces[s], ks);
    }
    cairn_snapshot_close(snap);
}

static cairn_db *open_store(const char *spec, uint32_t node_size);

/* Every keyspace root of commit equals the root of its contents built
 * from nothing in one transaction (history independence), and the
 * commit's key count is the models' total. */
static void check_fresh(cairn_db *db, const cairn_id *commit, const model *spaces,
                        uint32_t node_size)
{
    cairn_db *fresh = open_store("mem", node_size);
    cairn_snapshot *a, *b;
    cairn_commit_info info;
    cairn_txn *txn;
    uint64_t keys = 0;
    int s;

    ASSERT_OK(cairn_txn_begin(fresh, NULL, &txn));
    for (s = 0; s < N_SPACES; s++) {
        for (size_t i = 0; i < spaces[s].n; i++)
            ASSERT_OK(cairn_txn_put(txn, space_names[s], spaces[s].v[i].key,
                                    spaces[s].v[i].key_len, spaces[s].v[i].val,
                                    spaces[s].v[i].val_len));
        keys += spaces[s].n;
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open_commit(db, commit, &a));
    ASSERT_OK(cairn_snapshot_open(fresh, NULL, &b));
    for (s = -1; s < N_SPACES; s++) {
        const char *space = s < 0 ? CAIRN_CATALOG : space_names[s];
        cairn_id ra, rb;
        ASSERT_OK(cairn_snapshot_root(a, space, &ra));
        ASSERT_OK(cairn_snapshot_root(b, space, &rb));
        if (memcmp(ra.bytes, rb.bytes, 32) != 0)
            TEST_FAIL("%s root after a commit differs from a fresh build of the same contents",
                      s < 0 ? "catalog" : s == 0 ? "default keyspace" : space_names[s]);
    }
    ASSERT_OK(cairn_commit_get(db, commit, &info));
    ASSERT_EQ(info.key_count, keys);
    cairn_commit_info_clear(&info);
    cairn_snapshot_close(a);
    cairn_snapshot_close(b);
    cairn_close(fresh);
}

static cairn_db *open_store(const char *spec, uint32_t node_size)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.node_size = node_size;
    o.node_cache_bytes = 1 << 20; /* small: exercise eviction and refetch */
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

void apimodel_run(const char *spec, uint32_t node_size, int n_ops, unsigned key_space)
{
    cairn_db *db = open_store(spec, node_size);
    bool reopenable = strncmp(spec, "mem", 3) != 0 || strchr(spec, '>') != NULL;
    version *versions = NULL;
    size_t n_versions = 0;
    model cur[N_SPACES] = {{0}}, txn_view[N_SPACES] = {{0}};
    cairn_txn *txn = NULL;
    uint8_t *valbuf = malloc(3000);
    unsigned no_change_commits = 0;
    int op, s;

    printf("%s node size %u: %d operations\n", spec, node_size, n_ops);
    ASSERT_TRUE(valbuf);
    for (op = 0; op < n_ops; op++) {
        /* Phases of 300 operations: two normal, one delete-heavy, one that
         * drains the keyspaces (small trees, one leaf and empty ones keep
         * coming back). Deletes pick absent keys a third of the time. */
        int phase = (op / 300) % 4;
        uint64_t r = test_rand_below(100);
        char key[40];
        size_t len;
        int sp = (int)test_rand_below(N_SPACES);

        if (phase == 2 && r >= 45 && r < 70)
            r -= 25; /* delete-heavy: some reads become deletes */
        if (!txn) {
            ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
            for (s = 0; s < N_SPACES; s++) {
                model_free(&txn_view[s]);
                txn_view[s] = model_copy(&cur[s]);
            }
        }
        random_key(key, &len, key_space);
        if (phase == 3 && r < 45 && txn_view[sp].n) {
            /* drain: delete a present key instead of putting */
            const model_entry *victim = &txn_view[sp].v[test_rand_below(txn_view[sp].n)];
            len = victim->key_len;
            memcpy(key, victim->key, len);
            ASSERT_OK(cairn_txn_del(txn, space_names[sp], key, len));
            model_del(&txn_view[sp], key, len);
        } else if (r < 45) {
            size_t vl = random_val(valbuf);
            ASSERT_OK(cairn_txn_put(txn, space_names[sp], key, len, valbuf, vl));
            model_put(&txn_view[sp], key, len, valbuf, vl);
        } else if (r < 60) {
            if (test_rand_below(3) == 0)
                absent_key(&txn_view[sp], key, &len);
            ASSERT_OK(cairn_txn_del(txn, space_names[sp], key, len));
            model_del(&txn_view[sp], key, len);
        } else if (r < 70) {
            bool found;
            size_t i = model_find(&txn_view[sp], key, len, &found);
            cairn_val v;
            if (found) {
                ASSERT_OK(cairn_txn_get(txn, space_names[sp], key, len, &v));
                ASSERT_MEM_EQ(v.data, v.len, txn_view[sp].v[i].val, txn_view[sp].v[i].val_len);
            } else {
                ASSERT_RC(cairn_txn_get(txn, space_names[sp], key, len, &v), CAIRN_NOTFOUND);
            }
        } else if (r < 80) {
            /* A commit that changes nothing writes nothing: the head stays
             * (and a branch with no commits stays without one). */
            bool same = true, has_base;
            cairn_id base, id;
            char msg[32];
            for (s = 0; s < N_SPACES; s++)
                same = same && model_equal(&cur[s], &txn_view[s]);
            has_base = cairn_txn_base(txn, &base);
            ASSERT_EQ(has_base, n_versions > 0);
            snprintf(msg, sizeof(msg), "op %d", op);
            memset(&id, 0xee, sizeof(id));
            ASSERT_OK(cairn_txn_commit(txn, msg, &id));
            txn = NULL;
            if (same) {
                cairn_id head;
                no_change_commits++;
                if (has_base) {
                    ASSERT_TRUE(memcmp(id.bytes, base.bytes, 32) == 0);
                    ASSERT_OK(cairn_resolve(db, NULL, &head));
                    ASSERT_TRUE(memcmp(head.bytes, base.bytes, 32) == 0);
                } else {
                    ASSERT_RC(cairn_resolve(db, NULL, &head), CAIRN_NOTFOUND);
                }
                continue;
            }
            ASSERT_TRUE(!has_base || memcmp(id.bytes, base.bytes, 32) != 0);
            versions = realloc(versions, (n_versions + 1) * sizeof(*versions));
            ASSERT_TRUE(versions);
            versions[n_versions].commit = id;
            for (s = 0; s < N_SPACES; s++) {
                model_free(&cur[s]);
                cur[s] = model_copy(&txn_view[s]);
                versions[n_versions].spaces[s] = model_copy(&cur[s]);
            }
            n_versions++;
            check_fresh(db, &id, cur, node_size);
        } else if (r < 83) {
            cairn_txn_abort(txn);
            txn = NULL;
        } else if (r < 93 || !n_versions) {
            /* read the head (not the open transaction) */
            cairn_snapshot *snap;
            ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
            check_gets(snap, space_names[sp], &cur[sp], key_space);
            check_range(snap, space_names[sp], &cur[sp], key_space);
            cairn_snapshot_close(snap);
        } else if (r < 97) {
            /* time travel and diff against a random earlier version */
            const version *old = &versions[test_rand_below(n_versions)];
            check_version(db, old, key_space);
            check_diff(db, old, &versions[n_versions - 1], sp);
        } else if (reopenable && !txn) {
            cairn_close(db);
            db = open_store(spec, 0);
            ASSERT_EQ(cairn_node_size(db), node_size);
        }
    }
    if (txn)
        cairn_txn_abort(txn);
    {
        cairn_snapshot *snap;
        cairn_verify_report rep;
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        for (s = 0; s < N_SPACES; s++)
            check_all(snap, space_names[s], &cur[s]);
        cairn_snapshot_close(snap);
        ASSERT_OK(cairn_verify(db, NULL, NULL, &rep));
        printf("  %zu commits (and %u that changed nothing), %zu keys; verify: %llu nodes "
               "%llu values\n",
               n_versions, no_change_commits, cur[0].n + cur[1].n, (unsigned long long)rep.nodes,
               (unsigned long long)rep.values);
    }
    while (n_versions > 0) {
        n_versions--;
        for (s = 0; s < N_SPACES; s++)
            model_free(&versions[n_versions].spaces[s]);
    }
    for (s = 0; s < N_SPACES; s++) {
        model_free(&cur[s]);
        model_free(&txn_view[s]);
    }
    free(versions);
    free(valbuf);
    cairn_close(db);
}

void apimodel_build_history(const char *spec, int how, size_t n, cairn_id *root)
{
    cairn_db *db = open_store(spec, 512);
    cairn_snapshot *snap;
    cairn_txn *txn = NULL;
    char key[32], val[64];
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = how == 1 ? n - 1 - i : how == 2 ? (i * 7919) % n : i;
        if (!txn)
            ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        snprintf(key, sizeof(key), "key%06zu", k);
        snprintf(val, sizeof(val), "value-%zu", k * 31);
        ASSERT_OK(cairn_txn_put(txn, k % 3 ? NULL : "other", key, strlen(key), val, strlen(val)));
        if (how == 3) { /* junk put now, deleted in a later commit */
            snprintf(key, sizeof(key), "junk%06zu", k);
            ASSERT_OK(cairn_txn_put(txn, "junk", key, strlen(key), val, strlen(val)));
        }
        if (how == 0 ? i + 1 == n : how == 1 ? i % 97 == 96 : how == 2 ? i % 13 == 12 : i % 50 == 49) {
            ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
            txn = NULL;
        }
    }
    if (txn)
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    if (how == 3) {
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        for (i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "junk%06zu", i);
            ASSERT_OK(cairn_txn_del(txn, "junk", key, strlen(key)));
        }
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    }
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, root));
    cairn_snapshot_close(snap);
    cairn_close(db);
}

