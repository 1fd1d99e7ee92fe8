/*
 * test_index_edges.c - batch apply at every position of small and deep
 * trees, each result compared with a from-scratch build.
 *
 * The model tests draw random batches, and random batches almost never
 * touch the places where a tree rewrite has special cases: the first and
 * last key, a tree of one leaf, the edge of a node, the top level. Here
 * every tree size up to a few leaves is built, plus larger and deep (long
 * key) trees, at two node sizes, and at every position (the gap before the
 * first key, between each pair of keys, after the last, and every key):
 *   - a delete of an absent key, which must leave the root as it was;
 *   - a put of a new key; a delete and an update of an existing key;
 *   - the same edit together with absent deletes before the first and
 *     after the last key;
 *   - absent deletes in every gap at once (the root must not change).
 * Each resulting root must equal the root that building the expected
 * contents from nothing gives (history independence), and its key count
 * the model's. Big trees sample positions: the first and last 24 and 48
 * random ones. Seed via CAIRN_TEST_SEED.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "stack.h"
#include "tree.h"

/* A key set: key i of a tree of n keys is made from 2i + 1, and absent
 * keys from even numbers, so that gap g (before key g; g == n is after the
 * last) holds the absent key made from 2g. */
typedef struct shape {
    const char *name;
    uint32_t node_size;
    size_t pad;      /* bytes of padding after the number: long keys, deep trees */
    size_t val_len;  /* value bytes */
} shape;

typedef struct env {
    cairn_stack *stack;
    cairn_cache *cache;
    cairn_index ix;
    uint64_t checks;
} env;

static size_t make_key(const shape *sh, uint64_t num, char *key)
{
    size_t len = (size_t)sprintf(key, "k%07llu", (unsigned long long)num);
    memset(key + len, 'x', sh->pad);
    return len + sh->pad;
}

static size_t make_val(const shape *sh, uint64_t num, unsigned version, char *val)
{
    size_t i;
    for (i = 0; i < sh->val_len; i++)
        val[i] = (char)('a' + (num * 7 + version + i) % 26);
    return sh->val_len;
}

/* The contents a test expects: for each present key number, its value
 * version (values differ by version). */
typedef struct contents {
    uint64_t *nums;
    unsigned *versions;
    size_t n;
} contents;

static void add_edit(cairn_edits *e, const shape *sh, uint64_t num, unsigned version, bool del)
{
    char key[2048], val[256];
    size_t key_len = make_key(sh, num, key), val_len = del ? 0 : make_val(sh, num, version, val);
    ASSERT_OK(cairn__edits_add(e, key, key_len, del ? NULL : val, val_len, false, del));
}

static void apply(env *e, const cairn_id *root, const cairn_edits *edits, cairn_id *out)
{
    cairn_blobset bs = {0};
    ASSERT_OK(cairn__tree_apply(&e->ix, root, edits, &bs, out));
    if (bs.n)
        ASSERT_OK(cairn__stack_put_many(e->stack, bs.v, bs.n));
    cairn__blobset_clear(&bs);
}

static void build(env *e, const shape *sh, const contents *c, cairn_id *out)
{
    cairn_edits edits = {0};
    cairn_id empty;
    for (size_t i = 0; i < c->n; i++)
        add_edit(&edits, sh, c->nums[i], c->versions[i], false);
    cairn__empty_root_id(&empty);
    apply(e, &empty, &edits, out);
    cairn__edits_free(&edits);
}

/* One edit at a position, as the test's table lists them. */
enum edit_kind { ABSENT_DEL, NEW_PUT, REAL_DEL, UPDATE, N_KINDS };
static const char *kind_names[N_KINDS] = {"delete of an absent key", "put of a new key",
                                          "delete of a key", "update of a key"};

/* Applies to the tree of n keys (root) the edit of kind at position pos,
 * with absent deletes around it if fenced, and checks the result against a
 * fresh build of the expected contents. */
static void check_edit(env *e, const shape *sh, size_t n, const cairn_id *root, int kind,
                       size_t pos, bool fenced)
{
    cairn_edits edits = {0};
    contents want = {malloc((n + 1) * sizeof(uint64_t)), malloc((n + 1) * sizeof(unsigned)), 0};
    cairn_id got, fresh;
    cairn_node *rn;
    size_t i;

    ASSERT_TRUE(want.nums && want.versions);
    if (fenced) /* before every key: number 0 is never a key */
        add_edit(&edits, sh, 0, 0, true);
    for (i = 0; i <= n; i++) {
        uint64_t gap = 2 * i, key = 2 * i + 1;
        if (i == pos && (kind == ABSENT_DEL || kind == NEW_PUT) && !(fenced && gap == 0)) {
            add_edit(&edits, sh, gap, 1, kind == ABSENT_DEL);
            if (kind == NEW_PUT) {
                want.nums[want.n] = gap;
                want.versions[want.n++] = 1;
            }
        }
        if (i == n)
            break;
        if (i == pos && (kind == REAL_DEL || kind == UPDATE)) {
            add_edit(&edits, sh, key, 1, kind == REAL_DEL);
            if (kind == REAL_DEL)
                continue;
        }
        want.nums[want.n] = key;
        want.versions[want.n++] = i == pos && kind == UPDATE ? 1 : 0;
    }
    if (fenced) /* after every key */
        add_edit(&edits, sh, 2 * n + 2, 0, true);
    apply(e, root, &edits, &got);
    build(e, sh, &want, &fresh);
    if (!cairn__id_eq(&got, &fresh))
        TEST_FAIL("%s, %zu keys: %s at position %zu%s gives a root other than a fresh build",
                  sh->name, n, kind_names[kind], pos, fenced ? " (with absent deletes around)" : "");
    if (kind == ABSENT_DEL && !cairn__id_eq(&got, root))
        TEST_FAIL("%s, %zu keys: %s at position %zu changed the root", sh->name, n,
                  kind_names[kind], pos);
    ASSERT_OK(cairn__node_fetch(&e->ix, &got, &rn));
    ASSERT_EQ(rn->count, want.n);
    cairn__node_release(rn);
    e->checks++;
    cairn__edits_free(&edits);
    free(want.nums);
    free(want.versions);
}

/* Absent deletes in every gap (and before and after everything) at once:
 * nothing may change. */
static void check_all_gaps(env *e, const shape *sh, size_t n, const cairn_id *root)
{
    cairn_edits edits = {0};
    cairn_id got;
    for (size_t i = 0; i <= n; i++)
        add_edit(&edits, sh, 2 * i, 0, true);
    apply(e, root, &edits, &got);
    if (!cairn__id_eq(&got, root))
        TEST_FAIL("%s, %zu keys: deletes of absent keys in every gap changed the root", sh->name,
                  n);
    e->checks++;
    cairn__edits_free(&edits);
}

/* Whether to test position pos of a tree of n keys: all of them in small
 * trees, the ends and a random sample in big ones. */
static bool chosen(size_t n, size_t pos)
{
    if (n <= 120 || pos < 24 || pos + 24 > n)
        return true;
    return test_rand_below(n) < 48;
}

/* Runs every chosen check on the tree of n keys. Returns its height. */
static uint32_t run_size(env *e, const shape *sh, size_t n)
{
    contents c = {malloc((n + 1) * sizeof(uint64_t)), calloc(n + 1, sizeof(unsigned)), n};
    cairn_id root;
    cairn_node *rn;
    uint32_t height;

    ASSERT_TRUE(c.nums && c.versions);
    for (size_t i = 0; i < n; i++)
        c.nums[i] = 2 * i + 1;
    build(e, sh, &c, &root);
    ASSERT_OK(cairn__node_fetch(&e->ix, &root, &rn));
    ASSERT_EQ(rn->count, n);
    height = rn->level + 1;
    cairn__node_release(rn);
    check_all_gaps(e, sh, n, &root);
    for (size_t pos = 0; pos <= n; pos++) {
        if (!chosen(n, pos))
            continue;
        for (int kind = 0; kind < N_KINDS; kind++) {
            if (pos == n && (kind == REAL_DEL || kind == UPDATE))
                continue; /* no key after the last gap */
            check_edit(e, sh, n, &root, kind, pos, false);
            check_edit(e, sh, n, &root, kind, pos, true);
        }
    }
    free(c.nums);
    free(c.versions);
    return height;
}

static void run_shape(const shape *sh, const size_t *sizes, size_t n_sizes, size_t all_up_to)
{
    env e = {0};
    uint32_t height = 0;

    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    ASSERT_OK(cairn__cache_open(64 << 20, &e.cache));
    e.ix = (cairn_index){e.stack, e.cache, sh->node_size, NULL};
    for (size_t n = 0; n <= all_up_to; n++)
        run_size(&e, sh, n);
    for (size_t i = 0; i < n_sizes; i++) {
        uint32_t h = run_size(&e, sh, sizes[i]);
        if (h > height)
            height = h;
    }
    printf("%s: every size up to %zu keys and %zu larger ones (height up to %u): %llu checks\n",
           sh->name, all_up_to, n_sizes, height, (unsigned long long)e.checks);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
}

int main(void)
{
    static const shape small = {"node size 256, short keys", 256, 0, 8};
    static const shape large = {"node size 4096, short keys", 4096, 0, 8};
    static const shape deep = {"node size 256, 120-byte keys", 256, 112, 4};
    static const size_t small_sizes[] = {150, 400, 2000};
    static const size_t large_sizes[] = {300, 800, 1500, 5000};
    static const size_t deep_sizes[] = {64, 300};

    test_seed_init(20261127);
    run_shape(&small, small_sizes, 3, 80);
    run_shape(&large, large_sizes, 4, 30);
    run_shape(&deep, deep_sizes, 2, 40);
    printf("ok\n");
    return 0;
}
