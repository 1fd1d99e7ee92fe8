/*
 * test_index_delta.c - the blobs one tree needs beyond another.
 *
 * Random pairs of trees (a base and a tree made from it by a random batch,
 * or two unrelated trees, or either of them empty, of different heights)
 * at several node sizes. For each pair the delta must report exactly the
 * nodes of the tree that are not nodes of the base (computed by walking
 * both trees whole), each once and with its exact bytes, and every value
 * blob the tree names that the base does not, and nothing the tree does not
 * name; for a small change it must read a number of nodes that follows the
 * change, not the tree. Seed via CAIRN_TEST_SEED.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "id.h"
#include "stack.h"
#include "tree.h"

typedef struct env {
    cairn_stack *stack;
    cairn_cache *cache;
    cairn_index ix;
} env;

typedef struct idset {
    cairn_id *v;
    size_t n, cap;
} idset;

static void set_add(idset *s, const cairn_id *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        ASSERT_TRUE(s->v);
    }
    s->v[s->n++] = *id;
}

static int id_order(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

static void set_sort(idset *s)
{
    size_t out = 0;
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof(*s->v), id_order);
    for (size_t i = 0; i < s->n; i++)
        if (out == 0 || !cairn__id_eq(&s->v[out - 1], &s->v[i]))
            s->v[out++] = s->v[i];
    s->n = out;
}

static bool set_has(const idset *s, const cairn_id *id)
{
    return s->n && bsearch(id, s->v, s->n, sizeof(*s->v), id_order) != NULL;
}

/* Every node and value id of a tree, by walking it whole. */
typedef struct walked {
    idset nodes, values;
} walked;

static int walk_visit(void *ctx, const cairn_node *nd, bool is_last)
{
    walked *w = ctx;
    (void)is_last;
    if (!cairn__is_empty_root(&nd->id))
        set_add(&w->nodes, &nd->id);
    for (uint32_t i = 0; nd->level == 0 && i < nd->n; i++)
        if (nd->e[i].is_ref)
            set_add(&w->values, (const cairn_id *)(nd->bytes + nd->e[i].val_off));
    return 0;
}

static void walk_all(env *e, const cairn_id *root, walked *w)
{
    memset(w, 0, sizeof(*w));
    ASSERT_OK(cairn__tree_walk(&e->ix, root, walk_visit, w));
    set_sort(&w->nodes);
    set_sort(&w->values);
}

typedef struct reported {
    env *e;
    idset nodes, values;
    size_t repeats;
} reported;

static int on_delta(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    reported *r = ctx;
    if (bytes) {
        cairn_id actual;
        cairn__sha256(bytes, len, &actual);
        if (!cairn__id_eq(&actual, id))
            TEST_FAIL("delta reported a node with bytes that do not hash to its id");
        set_add(&r->nodes, id);
    } else {
        set_add(&r->values, id);
    }
    return 0;
}

/* A tree of random contents: keys k<num>, values inline or (one in five)
 * a reference to a value blob (ids drawn from a small pool, so that equal
 * values recur, as real large values do). */
static void add_random_edits(cairn_edits *e, uint64_t key_space, size_t n, unsigned del_pct)
{
    uint64_t *nums = malloc(n * sizeof(*nums));
    ASSERT_TRUE(nums);
    for (size_t i = 0; i < n; i++)
        nums[i] = test_rand_below(key_space);
    /* sort and unique: edits go in ascending key order */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
            uint64_t t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        char key[32], val[40];
        size_t key_len;
        if (i > 0 && nums[i] == nums[i - 1])
            continue;
        key_len = (size_t)snprintf(key, sizeof(key), "k%08llu", (unsigned long long)nums[i]);
        if (test_rand_below(100) < del_pct) {
            ASSERT_OK(cairn__edits_add(e, key, key_len, NULL, 0, false, true));
        } else if (test_rand_below(5) == 0) {
            cairn_id vid;
            uint64_t pool = test_rand_below(50);
            cairn__sha256(&pool, sizeof(pool), &vid);
            ASSERT_OK(cairn__edits_add(e, key, key_len, vid.bytes, 32, true, false));
        } else {
            size_t len = (size_t)snprintf(val, sizeof(val), "v%llu",
                                          (unsigned long long)test_rand_below(1000000));
            ASSERT_OK(cairn__edits_add(e, key, key_len, val, len, false, false));
        }
    }
    free(nums);
}

static void apply(env *e, const cairn_id *root, const cairn_edits *edits, cairn_id *out)
{
    cairn_blobset bs = {0};
    ASSERT_OK(cairn__tree_apply(&e->ix, root, edits, &bs, out));
    if (bs.n)
        ASSERT_OK(cairn__stack_put_many(e->stack, bs.v, bs.n));
    cairn__blobset_clear(&bs);
}

static void random_tree(env *e, const cairn_id *from, uint64_t key_space, size_t n,
                        unsigned del_pct, cairn_id *out)
{
    cairn_edits edits = {0};
    add_random_edits(&edits, key_space, n, del_pct);
    apply(e, from, &edits, out);
    cairn__edits_free(&edits);
}

/* Checks the delta from base to root against whole walks. Returns the
 * nodes the delta read. */
static uint64_t check_delta(env *e, const cairn_id *base, const cairn_id *root)
{
    walked wb, wr;
    reported rep = {e, {0}, {0}, 0};
    cairn_cache_stats before, after;
    size_t want_nodes = 0;

    walk_all(e, base, &wb);
    walk_all(e, root, &wr);
    /* A cold cache, so that the delta's reads can be counted. */
    cairn__cache_close(e->cache);
    ASSERT_OK(cairn__cache_open(64 << 20, &e->cache));
    e->ix.cache = e->cache;
    cairn__cache_stats(e->cache, &before);
    ASSERT_OK(cairn__tree_delta(&e->ix, base, root, on_delta, &rep));
    cairn__cache_stats(e->cache, &after);
    {
        size_t n_reported = rep.nodes.n;
        set_sort(&rep.nodes);
        if (rep.nodes.n != n_reported)
            TEST_FAIL("delta reported a node twice");
    }
    set_sort(&rep.values);
    for (size_t i = 0; i < wr.nodes.n; i++) {
        bool in_base = set_has(&wb.nodes, &wr.nodes.v[i]);
        bool got = set_has(&rep.nodes, &wr.nodes.v[i]);
        if (!in_base)
            want_nodes++;
        if (in_base == got)
            TEST_FAIL("delta %s a node that the base %s", got ? "reported" : "missed",
                      in_base ? "holds" : "lacks");
    }
    ASSERT_EQ(rep.nodes.n, want_nodes);
    for (size_t i = 0; i < rep.values.n; i++)
        if (!set_has(&wr.values, &rep.values.v[i]))
            TEST_FAIL("delta reported a value blob the tree does not name");
    for (size_t i = 0; i < wr.values.n; i++)
        if (!set_has(&wb.values, &wr.values.v[i]) && !set_has(&rep.values, &wr.values.v[i]))
            TEST_FAIL("delta missed a value blob the base lacks");
    free(wb.nodes.v);
    free(wb.values.v);
    free(wr.nodes.v);
    free(wr.values.v);
    free(rep.nodes.v);
    free(rep.values.v);
    return after.misses - before.misses;
}

static void run(uint32_t node_size, int rounds, uint64_t key_space)
{
    env e = {0};
    cairn_id empty, base, root;
    uint64_t small_reads = 0, small_cases = 0, height_sum = 0;

    ASSERT_OK(cairn__stack_open("mem", 0, &e.stack));
    ASSERT_OK(cairn__cache_open(64 << 20, &e.cache));
    e.ix = (cairn_index){e.stack, e.cache, node_size, NULL};
    cairn__empty_root_id(&empty);
    check_delta(&e, &empty, &empty);
    for (int r = 0; r < rounds; r++) {
        size_t n = test_rand_below(3) == 0 ? test_rand_below(20) : test_rand_below(4000);
        int kind = (int)test_rand_below(6);
        cairn_node *rn;

        random_tree(&e, &empty, key_space, n, 0, &base);
        switch (kind) {
        case 0: /* a small change */
        case 1:
            random_tree(&e, &base, key_space, test_rand_below(8) + 1, 30, &root);
            break;
        case 2: /* a large change */
            random_tree(&e, &base, key_space, test_rand_below(3000) + 1, 40, &root);
            break;
        case 3: /* an unrelated tree */
            random_tree(&e, &empty, key_space, test_rand_below(4000), 0, &root);
            break;
        case 4: /* to and from the empty tree */
            root = empty;
            break;
        default:
            root = base;
            base = empty;
            break;
        }
        {
            uint64_t reads = check_delta(&e, &base, &root), reads_back;
            reads_back = check_delta(&e, &root, &base);
            ASSERT_OK(cairn__node_fetch(&e.ix, &root, &rn));
            if (kind <= 1 && rn->count > 500) {
                /* a change of at most 8 keys: a few nodes per level on each side */
                uint64_t bound = 2 * 8 * 3 * (rn->level + 2);
                small_reads += reads + reads_back;
                small_cases++;
                height_sum += rn->level + 1;
                if (reads > bound || reads_back > bound)
                    TEST_FAIL("a delta of at most 8 keys read %llu and %llu nodes (bound %llu)",
                              (unsigned long long)reads, (unsigned long long)reads_back,
                              (unsigned long long)bound);
            }
            cairn__node_release(rn);
        }
    }
    printf("node size %u: %d tree pairs; small changes read %.1f nodes per delta (mean "
           "height %.1f)\n",
           node_size, rounds, small_cases ? (double)small_reads / (2.0 * small_cases) : 0.0,
           small_cases ? (double)height_sum / small_cases : 0.0);
    cairn__cache_close(e.cache);
    cairn__stack_close(e.stack);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;
    int rounds = (int)(60 * scale) + 10;

    test_seed_init(20261127);
    run(256, rounds, 5000);
    run(1024, rounds, 20000);
    run(4096, rounds / 2 + 5, 20000);
    printf("ok\n");
    return 0;
}
