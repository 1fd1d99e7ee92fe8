/*
 * test_index_model.c - the tree against a plain sorted array.
 *
 * Random batches of puts and deletes are applied both to the tree (batch
 * apply, the incremental path) and to the model. After each batch:
 *  - a full scan, forward and backward, equals the model;
 *  - random point reads, ranks and seeks agree with the model;
 *  - the root equals that of the same contents built in one batch from
 *    nothing (history independence);
 *  - every node obeys the chunking rule;
 *  - the diff from the previous root lists exactly the model's changes,
 *    reading a number of nodes bounded by the change.
 * Batches include deletes of absent keys only (before, between, after the
 * present ones), and phases drain the tree to nothing so that small trees
 * (one leaf, empty) recur. Runs with several node sizes. Seed via
 * CAIRN_TEST_SEED.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cursor.h"
#include "diff.h"
#include "id.h"
#include "stack.h"
#include "tree.h"

typedef struct kv {
    uint8_t key[24];
    size_t key_len;
    uint8_t val[64];
    size_t val_len;
} kv;

typedef struct model {
    kv *v;
    size_t n, cap;
} model;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    return cairn__bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}

static size_t model_find(const model *m, const uint8_t *key, size_t key_len, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cairn__bytes_cmp(m->v[mid].key, m->v[mid].key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->n && cairn__bytes_cmp(m->v[lo].key, m->v[lo].key_len, key, key_len) == 0;
    return lo;
}

static void model_put(model *m, const kv *item)
{
    bool found;
    size_t i = model_find(m, item->key, item->key_len, &found);
    if (found) {
        m->v[i] = *item;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->v = realloc(m->v, m->cap * sizeof(kv));
        ASSERT_TRUE(m->v);
    }
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(kv));
    m->v[i] = *item;
    m->n++;
}

static void model_del(model *m, const uint8_t *key, size_t key_len)
{
    bool found;
    size_t i = model_find(m, key, key_len, &found);
    if (found) {
        memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(kv));
        m->n--;
    }
}

/* Keys from a small alphabet so that prefixes and neighbours collide. */
static void random_key(kv *item, uint64_t key_space)
{
    uint64_t k = test_rand_below(key_space);
    item->key_len = (size_t)snprintf((char *)item->key, sizeof(item->key), "k%llu",
                                     (unsigned long long)(k * 2654435761u % key_space));
    if (k % 7 == 0) /* some longer keys */
        item->key_len += (size_t)snprintf((char *)item->key + item->key_len,
                                          sizeof(item->key) - item->key_len, "/x%llu",
                                          (unsigned long long)k);
}

/* A key the model does not hold: before every key ("" or "a..."), after
 * every key ("z..."), or right after a present key (that key plus a zero
 * byte, which sorts before its successor). */
static void absent_key(kv *item, const model *m)
{
    bool found;
    for (;;) {
        uint64_t pick = test_rand_below(4), k = test_rand_below(1000);
        if (pick == 0) {
            item->key_len = 0;
        } else if (pick == 1) {
            item->key_len = (size_t)snprintf((char *)item->key, sizeof(item->key), "a%llu",
                                             (unsigned long long)k);
        } else if (pick == 2) {
            item->key_len = (size_t)snprintf((char *)item->key, sizeof(item->key), "z%llu",
                                             (unsigned long long)k);
        } else if (m->n) {
            const kv *near = &m->v[test_rand_below(m->n)];
            memcpy(item->key, near->key, near->key_len);
            item->key[near->key_len] = 0;
            item->key_len = near->key_len + 1;
        } else {
            continue;
        }
        model_find(m, item->key, item->key_len, &found);
        if (!found)
            return;
    }
}

static void random_val(kv *item)
{
    size_t i;
    item->val_len = test_rand_below(sizeof(item->val) + 1);
    for (i = 0; i < item->val_len; i++)
        item->val[i] = (uint8_t)test_rand();
}

typedef struct batch {
    kv *items;
    bool *is_del;
    size_t n;
} batch;

/* Sorts a batch and keeps the last operation per key, as the engine does. */
static void batch_to_edits(batch *b, cairn_edits *e)
{
    size_t *order = malloc(b->n * sizeof(*order)), i, j;
    ASSERT_TRUE(order);
    for (i = 0; i < b->n; i++)
        order[i] = i;
    /* insertion sort by key, stable so later ops follow earlier ones */
    for (i = 1; i < b->n; i++) {
        size_t x = order[i];
        for (j = i; j > 0 && kv_cmp(&b->items[order[j - 1]], &b->items[x]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = x;
    }
    for (i = 0; i < b->n; i++) {
        const kv *it = &b->items[order[i]];
        if (i + 1 < b->n && kv_cmp(it, &b->items[order[i + 1]]) == 0)
            continue; /* a later op on the same key wins */
        ASSERT_OK(cairn__edits_add(e, it->key, it->key_len, it->val, it->val_len, false,
                                   b->is_del[order[i]]));
    }
    free(order);
}

typedef struct env {
    cairn_stack *stack;
    cairn_cache *cache;
    cairn_index ix;
} env;

/* Applies edits to root, storing the new nodes in the stack. */
static void apply(env *e, const cairn_id *root, const cairn_edits *edits, cairn_id *out)
{
    cairn_blobset bs = {0};
    ASSERT_OK(cairn__tree_apply(&e->ix, root, edits, &bs, out));
    if (bs.n)
        ASSERT_OK(cairn__stack_put_many(e->stack, bs.v, bs.n));
    cairn__blobset_clear(&bs);
}

static void build_from_model(env *e, const model *m, cairn_id *out)
{
    cairn_edits edits = {0};
    cairn_id empty;
    size_t i;
    for (i = 0; i < m->n; i++)
        ASSERT_OK(cairn__edits_add(&edits, m->v[i].key, m->v[i].key_len, m->v[i].val,
                                   m->v[i].val_len, false, false));
    cairn__empty_root_id(&empty);
    apply(e, &empty, &edits, out);
    cairn__edits_free(&edits);
}

static void check_scan(env *e, const cairn_id *root, const model *m)
{
    cairn_cursor c;
    size_t i = 0;

    ASSERT_OK(cairn__cursor_open(&c, &e->ix, root, 0));
    ASSERT_OK(cairn__cursor_first(&c));
    while (c.valid) {
        const cairn_node *nd = cairn__cursor_node(&c);
        const cairn_entry *en = &nd->e[cairn__cursor_pos(&c)];
        ASSERT_TRUE(i < m->n);
        ASSERT_MEM_EQ(nd->bytes + en->key_off, en->key_len, m->v[i].key, m->v[i].key_len);
        ASSERT_MEM_EQ(nd->bytes + en->val_off, en->val_len, m->v[i].val, m->v[i].val_len);
        ASSERT_OK(cairn__cursor_next(&c));
        i++;
    }
    ASSERT_EQ(i, m->n);
    ASSERT_OK(cairn__cursor_last(&c));
    while (c.valid) {
        const cairn_node *nd = cairn__cursor_node(&c);
        const cairn_entry *en = &nd->e[cairn__cursor_pos(&c)];
        ASSERT_TRUE(i > 0);
        i--;
        ASSERT_MEM_EQ(nd->bytes + en->key_off, en->key_len, m->v[i].key, m->v[i].key_len);
        ASSERT_OK(cairn__cursor_prev(&c));
    }
    ASSERT_EQ(i, 0);
    cairn__cursor_close(&c);
}

static void check_points(env *e, const cairn_id *root, const model *m, uint64_t key_space)
{
    int k;
    for (k = 0; k < 50; k++) {
        kv probe;
        bool found;
        size_t i;
        uint64_t rank;
        cairn_node *leaf;
        uint32_t pos;
        cairn_cursor c;
        int rc;

        random_key(&probe, key_space);
        i = model_find(m, probe.key, probe.key_len, &found);
        rc = cairn__tree_find(&e->ix, root, probe.key, probe.key_len, &leaf, &pos);
        if (found) {
            ASSERT_OK(rc);
            ASSERT_MEM_EQ(leaf->bytes + leaf->e[pos].val_off, leaf->e[pos].val_len, m->v[i].val,
                          m->v[i].val_len);
            cairn__node_release(leaf);
        } else {
            ASSERT_RC(rc, CAIRN_NOTFOUND);
        }
        ASSERT_OK(cairn__tree_rank(&e->ix, root, probe.key, probe.key_len, &rank));
        ASSERT_EQ(rank, i);
        /* seek_ge lands on model[i], seek_le on model[i] if found else model[i-1] */
        ASSERT_OK(cairn__cursor_open(&c, &e->ix, root, 0));
        ASSERT_OK(cairn__cursor_seek_ge(&c, probe.key, probe.key_len));
        ASSERT_EQ(c.valid, i < m->n);
        if (c.valid)
            ASSERT_MEM_EQ(cairn__node_key(cairn__cursor_node(&c), cairn__cursor_pos(&c)),
                          cairn__cursor_node(&c)->e[cairn__cursor_pos(&c)].key_len, m->v[i].key,
                          m->v[i].key_len);
        ASSERT_OK(cairn__cursor_seek_le(&c, probe.key, probe.key_len));
        {
            size_t want = found ? i + 1 : i; /* entries <= probe */
            ASSERT_EQ(c.valid, want > 0);
            if (c.valid)
                ASSERT_MEM_EQ(cairn__node_key(cairn__cursor_node(&c), cairn__cursor_pos(&c)),
                              cairn__cursor_node(&c)->e[cairn__cursor_pos(&c)].key_len,
                              m->v[want - 1].key, m->v[want - 1].key_len);
        }
        cairn__cursor_close(&c);
    }
}

typedef struct rule_ctx {
    uint32_t node_size;
    uint64_t nodes;
} rule_ctx;

static int check_rule(void *ctx, const cairn_node *nd, bool is_last)
{
    rule_ctx *rc = ctx;
    rc->nodes++;
    if (!cairn__node_obeys_rule(nd, rc->node_size, is_last))
        TEST_FAIL("node at level %u breaks the chunking rule", nd->level);
    if (nd->level > 0 && !is_last && nd->n < 2)
        TEST_FAIL("internal node with one child that is not the last of its level");
    return 0;
}

/* Diffs old_root -> new_root and checks it against the two models. */
static void check_diff(env *e, const cairn_id *old_root, const model *old_m,
                       const cairn_id *new_root, const model *new_m, uint32_t height)
{
    cairn_tree_diff d;
    cairn_diff_entry en;
    size_t i = 0, j = 0, changes = 0;
    int rc;

    ASSERT_OK(cairn__tree_diff_open(&d, &e->ix, old_root, new_root));
    while ((rc = cairn__tree_diff_next(&d, &en)) == 0) {
        /* Advance the models past equal entries to the next difference. */
        for (;;) {
            int c = i >= old_m->n ? 1 : j >= new_m->n ? -1 : kv_cmp(&old_m->v[i], &new_m->v[j]);
            if (c == 0 && old_m->v[i].val_len == new_m->v[j].val_len &&
                memcmp(old_m->v[i].val, new_m->v[j].val, old_m->v[i].val_len) == 0) {
                i++, j++;
                continue;
            }
            if (c < 0) {
                ASSERT_EQ(en.change, CAIRN_REMOVED);
                ASSERT_MEM_EQ(en.key.data, en.key.len, old_m->v[i].key, old_m->v[i].key_len);
                i++;
            } else if (c > 0) {
                ASSERT_EQ(en.change, CAIRN_ADDED);
                ASSERT_MEM_EQ(en.key.data, en.key.len, new_m->v[j].key, new_m->v[j].key_len);
                ASSERT_MEM_EQ(en.new_val.data, en.new_val.len, new_m->v[j].val,
                              new_m->v[j].val_len);
                j++;
            } else {
                ASSERT_EQ(en.change, CAIRN_CHANGED);
                ASSERT_MEM_EQ(en.key.data, en.key.len, new_m->v[j].key, new_m->v[j].key_len);
                ASSERT_MEM_EQ(en.old_val.data, en.old_val.len, old_m->v[i].val,
                              old_m->v[i].val_len);
                i++, j++;
            }
            break;
        }
        changes++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    /* Whatever is left in the models must be equal. */
    while (i < old_m->n && j < new_m->n && kv_cmp(&old_m->v[i], &new_m->v[j]) == 0 &&
           old_m->v[i].val_len == new_m->v[j].val_len &&
           memcmp(old_m->v[i].val, new_m->v[j].val, old_m->v[i].val_len) == 0)
        i++, j++;
    ASSERT_EQ(i, old_m->n);
    ASSERT_EQ(j, new_m->n);
    /* Cost bound: each change touches at most a few nodes per level on
     * each side, plus the walk down. Generous constant, real bound. */
    if (cairn__tree_diff_nodes_read(&d) > (changes + 1) * (height + 1) * 16)
        TEST_FAIL("diff of %zu changes read %llu nodes (height %u)", changes,
                  (unsigned long long)cairn__tree_diff_nodes_read(&d), height);
    cairn__tree_diff_close(&d);
}

static model model_copy(const model *m)
{
    model c = {0};
    c.n = c.cap = m->n;
    c.v = malloc((m->n ? m->n : 1) * sizeof(kv));
    ASSERT_TRUE(c.v);
    if (m->n)
        memcpy(c.v, m->v, m->n * sizeof(kv));
    return c;
}

static void run(uint32_t node_size, int rounds, uint64_t key_space, size_t max_batch)
{
    env e = {0};
    model m = {0};
    cairn_id root;
    int r;

    printf("node size %u: %d rounds, key space %llu\n", node_size, rounds,
           (unsigned long long)key_space);
    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    ASSERT_OK(cairn__cache_open(64 << 20, &e.cache));
    e.ix = (cairn_index){e.stack, e.cache, node_size, NULL};
    cairn__empty_root_id(&root);

    for (r = 0; r < rounds; r++) {
        batch b = {0};
        cairn_edits edits = {0};
        cairn_id new_root, fresh;
        model before = model_copy(&m);
        rule_ctx rctx = {node_size, 0};
        cairn_node *rn;
        size_t i;
        /* Mostly small batches, sometimes large. Phases of 20 rounds: two
         * normal, one delete-heavy, one that drains the tree to nothing
         * (so small trees, one leaf and the empty tree, keep coming back).
         * One batch in five deletes only absent keys: before the first
         * key, after the last, between neighbours. */
        int phase = (r / 20) % 4;
        bool absent_only = test_rand_below(5) == 0;
        size_t n = test_rand_below(4) == 0 ? test_rand_below(max_batch) + 1
                                           : test_rand_below(8) + 1;
        unsigned del_pct = phase == 2 ? 70 : 25;

        if (phase == 3 && !absent_only)
            n = m.n / 3 + 1;
        b.items = calloc(n, sizeof(kv));
        b.is_del = calloc(n, sizeof(bool));
        ASSERT_TRUE(b.items && b.is_del);
        for (i = 0; i < n; i++) {
            if (absent_only) {
                absent_key(&b.items[i], &m);
                b.is_del[i] = true;
                continue;
            }
            if (phase == 3 && m.n) { /* drain: delete present keys */
                b.items[i] = m.v[test_rand_below(m.n)];
                b.is_del[i] = true;
                continue;
            }
            random_key(&b.items[i], key_space);
            b.is_del[i] = test_rand_below(100) < del_pct;
            if (!b.is_del[i])
                random_val(&b.items[i]);
        }
        b.n = n;
        batch_to_edits(&b, &edits);
        for (i = 0; i < n; i++) {
            if (b.is_del[i])
                model_del(&m, b.items[i].key, b.items[i].key_len);
            else
                model_put(&m, &b.items[i]);
        }
        apply(&e, &root, &edits, &new_root);

        check_scan(&e, &new_root, &m);
        check_points(&e, &new_root, &m, key_space);
        build_from_model(&e, &m, &fresh);
        if (!cairn__id_eq(&fresh, &new_root)) {
            char a[65], c[65];
            cairn_id_to_hex(&new_root, a);
            cairn_id_to_hex(&fresh, c);
            TEST_FAIL("round %d: incremental root %s != fresh build %s (%zu keys)", r, a, c,
                      m.n);
        }
        ASSERT_OK(cairn__tree_walk(&e.ix, &new_root, check_rule, &rctx));
        ASSERT_OK(cairn__node_fetch(&e.ix, &new_root, &rn));
        ASSERT_EQ(rn->count, m.n);
        check_diff(&e, &root, &before, &new_root, &m, rn->level + 1);
        cairn__node_release(rn);

        root = new_root;
        free(before.v);
        free(b.items);
        free(b.is_del);
        cairn__edits_free(&edits);
    }
    {
        cairn_node *rn;
        ASSERT_OK(cairn__node_fetch(&e.ix, &root, &rn));
        printf("  final: %zu keys, height %u\n", m.n, rn->level + 1);
        cairn__node_release(rn);
    }
    free(m.v);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
}

/* The same contents reached by different histories give one root. */
static void history_independence(uint32_t node_size)
{
    env e = {0};
    model m = {0};
    cairn_id roots[4];
    int h;
    size_t i, n = 3000;
    kv *items = calloc(n, sizeof(kv));

    ASSERT_TRUE(items);
    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    ASSERT_OK(cairn__cache_open(64 << 20, &e.cache));
    e.ix = (cairn_index){e.stack, e.cache, node_size, NULL};
    for (i = 0; i < n; i++) {
        items[i].key_len = (size_t)snprintf((char *)items[i].key, sizeof(items[i].key), "key%06zu", i * 7919 % 100000);
        random_val(&items[i]);
        model_put(&m, &items[i]);
    }
    for (h = 0; h < 4; h++) {
        cairn_id root;
        size_t done = 0;
        cairn__empty_root_id(&root);
        /* h 0: one batch; 1: batches of 7 in random order; 2: one key at a
         * time in reverse; 3: random batches with junk keys put then deleted. */
        while (done < n) {
            batch b = {0};
            cairn_edits edits = {0};
            size_t k, size = h == 0 ? n : h == 1 ? 7 : h == 2 ? 1 : test_rand_below(200) + 1;
            if (size > n - done)
                size = n - done;
            b.items = calloc(size * 2, sizeof(kv));
            b.is_del = calloc(size * 2, sizeof(bool));
            for (k = 0; k < size; k++) {
                size_t idx = h == 2 ? n - 1 - (done + k) : done + k;
                b.items[b.n++] = items[idx];
                if (h == 3) { /* a junk key, deleted in a later batch below */
                    kv junk = items[idx];
                    junk.key[0] = 'j';
                    b.items[b.n++] = junk;
                }
            }
            batch_to_edits(&b, &edits);
            apply(&e, &root, &edits, &root);
            cairn__edits_free(&edits);
            if (h == 3) {
                for (k = 0; k < b.n; k++)
                    b.is_del[k] = b.items[k].key[0] == 'j';
                batch_to_edits(&b, &edits);
                apply(&e, &root, &edits, &root);
                cairn__edits_free(&edits);
            }
            free(b.items);
            free(b.is_del);
            done += size;
        }
        roots[h] = root;
        if (h > 0 && !cairn__id_eq(&roots[h], &roots[0]))
            TEST_FAIL("history %d gave a different root than history 0 (node size %u)", h,
                      node_size);
    }
    free(items);
    free(m.v);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;
    int rounds = (int)(300 * scale) + 20;

    test_seed_init(20261121);
    history_independence(256);
    history_independence(4096);
    run(256, rounds, 2000, 400);
    run(512, rounds, 5000, 2000);
    run(4096, rounds / 2 + 10, 20000, 5000);
    printf("ok\n");
    return 0;
}
