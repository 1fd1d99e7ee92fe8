/*
 * test_index_cursor.c - cursor seeks and steps from every position, with
 * the cache dropping the cursor's path under it, and a leaf that cannot be
 * read mid-scan.
 *
 * The cursor pins only the root and the node it stands in; the nodes above
 * are kept as unpinned pointers that a move may use again only while the
 * cache has retired nothing, and otherwise finds again from the root. So
 * the same scans run with two caches: a large one (the pointers stay good)
 * and one a few nodes large, where every fetch evicts and the global epoch
 * moves between any two moves; between steps the test also reads the nodes
 * of another tree through that cache, so that the path's nodes are freed
 * while the cursor stands still.
 *
 * For trees of every size up to a few leaves and some larger and deep
 * ones (node size 256; long keys for height), from every position (each
 * key and each gap; big trees sample):
 *   - seek_ge, then next to the end; seek_le, then prev to the start: the
 *     keys must be exactly the model's, and c->valid false at the end;
 *   - at every step, now and then, skip_node(0) must land on the key that
 *     steps to the next leaf reach, and seek_node on a node start;
 *   - first/last full scans; a cursor on level 1 must list the first keys
 *     of the leaves in order.
 * Then a tree is served from a stack that lacks one leaf: a scan from the
 * first key returns the keys before that leaf, then CAIRN_MISSING, and
 * every later move (next, prev, seeks, first) returns it again.
 * Seed via CAIRN_TEST_SEED.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "id.h"
#include "stack.h"
#include "tree.h"

#define KEY_MAX 256

typedef struct env {
    cairn_stack *stack;
    cairn_cache *cache;
    cairn_index ix;
    size_t pad;            /* bytes after the number: long keys, deep trees */
    cairn_id noise_root;   /* another tree, read between steps to evict */
    uint64_t checks;
} env;

/* Key i of a tree is made from 2i + 1; gap g (before key g) holds 2g. */
static size_t make_key(const env *e, uint64_t num, char *key)
{
    size_t len = (size_t)sprintf(key, "k%07llu", (unsigned long long)num);
    memset(key + len, 'x', e->pad);
    return len + e->pad;
}

/* Builds the tree of keys 1, 3, ..., 2n - 1 (and of keys with prefix
 * for the noise tree) into the stack; the blobs go to *bs if given. */
static void build(env *e, size_t n, const char *prefix, cairn_id *root, cairn_blobset *keep)
{
    cairn_edits edits = {0};
    cairn_blobset bs = {0};
    cairn_id empty;
    char key[KEY_MAX + 16];

    for (size_t i = 0; i < n; i++) {
        size_t len = make_key(e, 2 * i + 1, key);
        if (prefix) {
            memmove(key + strlen(prefix), key, len);
            memcpy(key, prefix, strlen(prefix));
            len += strlen(prefix);
        }
        ASSERT_OK(cairn__edits_add(&edits, key, len, "v", 1, false, false));
    }
    cairn__empty_root_id(&empty);
    ASSERT_OK(cairn__tree_apply(&e->ix, &empty, &edits, &bs, root));
    if (bs.n)
        ASSERT_OK(cairn__stack_put_many(e->stack, bs.v, bs.n));
    if (keep)
        *keep = bs;
    else
        cairn__blobset_clear(&bs);
    cairn__edits_free(&edits);
}

static int count_node(void *ctx, const cairn_node *nd, bool is_last)
{
    (void)nd;
    (void)is_last;
    ++*(size_t *)ctx;
    return 0;
}

/* Reads every node of the noise tree through the cache: with a tiny cache
 * this evicts (and lets the cache free) whatever the cursor's path held. */
static void evict(env *e)
{
    size_t n = 0;
    ASSERT_OK(cairn__tree_walk(&e->ix, &e->noise_root, count_node, &n));
}

static void expect_at(env *e, const cairn_cursor *c, uint64_t num, const char *what, size_t n,
                      size_t pos)
{
    char want[KEY_MAX + 16];
    size_t len = make_key(e, num, want);
    const cairn_node *nd;

    if (!c->valid)
        TEST_FAIL("%zu keys, position %zu, %s: cursor ended before key %llu", n, pos, what,
                  (unsigned long long)num);
    nd = cairn__cursor_node(c);
    ASSERT_MEM_EQ(cairn__node_key(nd, cairn__cursor_pos(c)), nd->e[cairn__cursor_pos(c)].key_len,
                  want, len);
}

/* Forward from gap or key pos (at_key) to the end, and backward from it to
 * the start, checking every key; evicts between steps if asked. */
static void scan_from(env *e, const cairn_id *root, size_t n, size_t pos, bool at_key,
                      bool churn)
{
    char key[KEY_MAX + 16];
    size_t len = make_key(e, at_key ? 2 * pos + 1 : 2 * pos, key);
    cairn_cursor c;
    size_t i, steps = 0;

    ASSERT_OK(cairn__cursor_open(&c, &e->ix, root, 0));
    c.dir = 1;
    ASSERT_OK(cairn__cursor_seek_ge(&c, key, len));
    for (i = pos; i < n; i++) {
        expect_at(e, &c, 2 * i + 1, "seek_ge and next", n, pos);
        if (churn && (steps++ % 7 == 0))
            evict(e);
        /* now and then, skip the rest of the leaf and come back */
        if (test_rand_below(16) == 0) {
            uint32_t left = cairn__cursor_node(&c)->n - cairn__cursor_pos(&c);
            ASSERT_OK(cairn__cursor_skip_node(&c, 0));
            i += left;
            if (i < n) {
                ASSERT_TRUE(cairn__cursor_at_node_start(&c, 0));
                expect_at(e, &c, 2 * i + 1, "skip_node", n, pos);
            }
            i--;
            continue;
        }
        ASSERT_OK(cairn__cursor_next(&c));
    }
    ASSERT_TRUE(!c.valid);
    ASSERT_OK(cairn__cursor_next(&c)); /* past the end stays there */
    ASSERT_TRUE(!c.valid);

    /* backward: the last key <= key */
    c.dir = -1;
    ASSERT_OK(cairn__cursor_seek_le(&c, key, len));
    for (i = at_key ? pos + 1 : pos; i-- > 0;) {
        expect_at(e, &c, 2 * i + 1, "seek_le and prev", n, pos);
        if (churn && (steps++ % 7 == 0))
            evict(e);
        ASSERT_OK(cairn__cursor_prev(&c));
    }
    ASSERT_TRUE(!c.valid);

    /* seek_node lands on a node start holding the key's range */
    ASSERT_OK(cairn__cursor_seek_node(&c, key, len));
    ASSERT_TRUE(n == 0 || (c.valid && cairn__cursor_at_node_start(&c, 0)));
    cairn__cursor_close(&c);
    e->checks++;
}

/* first/next and last/prev over everything; a level-1 cursor lists the
 * leaves' first keys. */
static void full_scans(env *e, const cairn_id *root, size_t n, bool churn)
{
    cairn_cursor c, up;
    size_t i;
    uint32_t height;

    ASSERT_OK(cairn__cursor_open(&c, &e->ix, root, 0));
    height = c.top + 1;
    ASSERT_OK(cairn__cursor_first(&c));
    if (height > 1) {
        ASSERT_OK(cairn__cursor_open(&up, &e->ix, root, 1));
        ASSERT_OK(cairn__cursor_first(&up));
    }
    for (i = 0; i < n; i++) {
        expect_at(e, &c, 2 * i + 1, "first and next", n, 0);
        if (height > 1 && cairn__cursor_pos(&c) == 0) {
            const cairn_node *nd = cairn__cursor_node(&up);
            uint32_t p = cairn__cursor_pos(&up);
            ASSERT_TRUE(up.valid);
            ASSERT_MEM_EQ(cairn__node_key(nd, p), nd->e[p].key_len,
                          cairn__node_key(cairn__cursor_node(&c), 0),
                          cairn__cursor_node(&c)->e[0].key_len);
            ASSERT_TRUE(cairn__id_eq(cairn__node_child(nd, p), &cairn__cursor_node(&c)->id));
            ASSERT_OK(cairn__cursor_next(&up));
        }
        if (churn && i % 5 == 0)
            evict(e);
        ASSERT_OK(cairn__cursor_next(&c));
    }
    ASSERT_TRUE(!c.valid);
    if (height > 1) {
        ASSERT_TRUE(!up.valid);
        cairn__cursor_close(&up);
    }
    ASSERT_OK(cairn__cursor_last(&c));
    for (i = n; i-- > 0;) {
        expect_at(e, &c, 2 * i + 1, "last and prev", n, n);
        if (churn && i % 5 == 0)
            evict(e);
        ASSERT_OK(cairn__cursor_prev(&c));
    }
    ASSERT_TRUE(!c.valid);
    cairn__cursor_close(&c);
}

static bool chosen(size_t n, size_t pos)
{
    if (n <= 60 || pos < 4 || pos + 4 > n)
        return true;
    return test_rand_below(n) < 8;
}

static void run_tree(env *e, size_t n, bool churn)
{
    cairn_id root;
    build(e, n, NULL, &root, NULL);
    full_scans(e, &root, n, churn);
    for (size_t pos = 0; pos <= n; pos++) {
        if (!chosen(n, pos))
            continue;
        scan_from(e, &root, n, pos, false, churn);
        if (pos < n)
            scan_from(e, &root, n, pos, true, churn);
    }
}

static void run(size_t cache_bytes, size_t pad, bool churn, const char *name)
{
    static const size_t sizes[] = {150, 700, 3000};
    env e = {0};
    cairn_cache_stats st;

    e.pad = pad;
    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    ASSERT_OK(cairn__cache_open(cache_bytes, &e.cache));
    e.ix = (cairn_index){e.stack, e.cache, 256, NULL};
    build(&e, 200, "noise", &e.noise_root, NULL);
    for (size_t n = 0; n <= 40; n++)
        run_tree(&e, n, churn);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        run_tree(&e, pad ? sizes[i] / 5 : sizes[i], churn);
    cairn__cache_stats(e.cache, &st);
    printf("%s: %llu scans, cache %llu nodes, %llu misses\n", name,
           (unsigned long long)e.checks, (unsigned long long)st.nodes,
           (unsigned long long)st.misses);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
}

/* A stack that lacks the k-th leaf (in key order) of a tree: scans stop
 * there with CAIRN_MISSING, and it sticks. */
static void run_missing_leaf(void)
{
    env e = {0};
    cairn_stack *full;
    cairn_blobset bs = {0};
    cairn_id root;
    cairn_cursor c;
    size_t i, n = 2000, seen = 0, leaves = 0, before_missing = 0, missing_n = 0;
    cairn_id missing;
    char key[KEY_MAX + 16];
    int rc;

    ASSERT_OK(cairn__stack_open("mem", 0, &full));
    ASSERT_OK(cairn__cache_open(64 << 20, &e.cache));
    e.stack = full;
    e.ix = (cairn_index){full, e.cache, 256, NULL};
    build(&e, n, NULL, &root, &bs);

    /* pick a leaf in the middle, and count the keys before it */
    ASSERT_OK(cairn__cursor_open(&c, &e.ix, &root, 0));
    ASSERT_OK(cairn__cursor_first(&c));
    while (c.valid) {
        if (cairn__cursor_pos(&c) == 0 && ++leaves == 7) {
            missing = cairn__cursor_node(&c)->id;
            missing_n = cairn__cursor_node(&c)->n;
            before_missing = seen;
        }
        seen++;
        ASSERT_OK(cairn__cursor_next(&c));
    }
    cairn__cursor_close(&c);
    ASSERT_EQ(seen, n);
    ASSERT_TRUE(leaves > 7);

    /* the same tree on a stack without that leaf, and a cold tiny cache */
    cairn__cache_close(e.cache);
    ASSERT_OK(cairn__cache_open(4096, &e.cache));
    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    for (i = 0; i < bs.n; i++)
        if (!cairn__id_eq(&bs.v[i].id, &missing))
            ASSERT_OK(cairn__stack_put_many(e.stack, &bs.v[i], 1));
    e.ix = (cairn_index){e.stack, e.cache, 256, NULL};

    ASSERT_OK(cairn__cursor_open(&c, &e.ix, &root, 0));
    c.prefetch = 8; /* the read-ahead path too; it must not hide the error */
    ASSERT_OK(cairn__cursor_first(&c));
    for (seen = 0, rc = 0; c.valid; seen++) {
        expect_at(&e, &c, 2 * seen + 1, "scan toward a missing leaf", n, 0);
        if ((rc = cairn__cursor_next(&c)))
            break;
    }
    ASSERT_EQ(rc, CAIRN_MISSING);
    ASSERT_EQ(seen + 1, before_missing); /* the last key before it, then the error */
    ASSERT_TRUE(!c.valid);
    /* sticky: every move fails the same way, even ones that could work */
    ASSERT_RC(cairn__cursor_next(&c), CAIRN_MISSING);
    ASSERT_RC(cairn__cursor_prev(&c), CAIRN_MISSING);
    ASSERT_RC(cairn__cursor_first(&c), CAIRN_MISSING);
    make_key(&e, 1, key);
    ASSERT_RC(cairn__cursor_seek_ge(&c, key, strlen(key)), CAIRN_MISSING);
    ASSERT_RC(cairn__cursor_skip_node(&c, 0), CAIRN_MISSING);
    ASSERT_TRUE(!c.valid);
    cairn__cursor_close(&c);

    /* backward from the end meets it too */
    ASSERT_OK(cairn__cursor_open(&c, &e.ix, &root, 0));
    c.dir = -1;
    ASSERT_OK(cairn__cursor_last(&c));
    for (seen = 0, rc = 0; c.valid;) {
        expect_at(&e, &c, 2 * (n - 1 - seen) + 1, "reverse scan toward a missing leaf", n, n);
        seen++;
        if ((rc = cairn__cursor_prev(&c)))
            break;
    }
    ASSERT_EQ(rc, CAIRN_MISSING);
    ASSERT_EQ(seen, n - before_missing - missing_n);
    ASSERT_RC(cairn__cursor_last(&c), CAIRN_MISSING);
    cairn__cursor_close(&c);
    printf("missing leaf: forward stops after %zu keys, backward after %zu\n", before_missing,
           seen);

    cairn__blobset_clear(&bs);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
    cairn__stack_close(full);
}

int main(void)
{
    test_seed_init(7);
    run(64 << 20, 0, false, "large cache");
    run(4096, 0, true, "tiny cache, evicting between steps");
    run(4096, 120, true, "tiny cache, 128-byte keys (deep trees)");
    run_missing_leaf();
    return 0;
}
