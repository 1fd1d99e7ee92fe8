/*
 * delta.c - the blobs one tree needs beyond another (delta.h).
 *
 * Each side keeps a frontier: the ids of its nodes at one level that are
 * not known to be shared. While the root side stands higher than the base
 * side, its nodes cannot be base nodes (a node's level is part of its
 * bytes): they are reported and replaced by their children. While the base
 * side stands higher, it descends alone. At equal levels, ids on both sides
 * are dropped from both (a shared node is a shared subtree), the root
 * side's remaining nodes are reported, and both sides descend into the
 * children of what remains. At the leaves, the value blobs of the root
 * side's leaves that the base side's leaves do not name are reported too.
 * Every step goes one level down, so the walk ends after at most
 * CAIRN_MAX_HEIGHT levels whatever the trees hold.
 */
#include "alloc.h"
#include "delta.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "id.h"

/* Nodes are fetched in chunks whose misses go to the stack in one batched
 * read (many reads in flight on tiers that can). */
#define DELTA_CHUNK 64

typedef struct idvec {
    cairn_id *v;
    size_t n, cap;
} idvec;

static int idvec_push(idvec *vec, const cairn_id *id)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 64;
        cairn_id *v = cairn__realloc(vec->v, cap * sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "tree delta: out of memory for %zu ids", cap);
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = *id;
    return 0;
}

static int id_order(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

/* Sorts vec and drops repeated ids. */
static void idvec_sort_unique(idvec *vec)
{
    size_t out = 0;

    if (vec->n < 2)
        return;
    qsort(vec->v, vec->n, sizeof(*vec->v), id_order);
    for (size_t i = 0; i < vec->n; i++)
        if (out == 0 || !cairn__id_eq(&vec->v[out - 1], &vec->v[i]))
            vec->v[out++] = vec->v[i];
    vec->n = out;
}

/* Removes from a and b every id both hold (both end sorted and unique). */
static void drop_common(idvec *a, idvec *b)
{
    size_t i = 0, j = 0, na = 0, nb = 0;

    idvec_sort_unique(a);
    idvec_sort_unique(b);
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : cairn__id_cmp(&a->v[i], &b->v[j]);
        if (c < 0)
            a->v[na++] = a->v[i++];
        else if (c > 0)
            b->v[nb++] = b->v[j++];
        else
            i++, j++;
    }
    a->n = na;
    b->n = nb;
}

/* What to do with each node of a frontier. */
typedef struct visit {
    cairn_delta_fn report; /* root side: report the node (NULL: base side) */
    void *ctx;
    idvec *children;       /* collects child ids (levels > 0) */
    idvec *values;         /* collects value ids (leaves) */
} visit;

/* Fetches every node of frontier (all at level), checks its level, and
 * does what vis says with it. */
static int visit_level(const cairn_index *ix, const idvec *frontier, uint32_t level,
                       const visit *vis)
{
    int rc = 0;

    for (size_t start = 0; start < frontier->n && !rc; start += DELTA_CHUNK) {
        size_t end = start + DELTA_CHUNK < frontier->n ? start + DELTA_CHUNK : frontier->n;

        cairn__node_prefetch(ix, frontier->v + start, end - start);
        for (size_t i = start; i < end && !rc; i++) {
            cairn_node *nd;
            char hex[13];

            if (cairn__is_empty_root(&frontier->v[i]))
                continue; /* readers know it: nothing to copy, nothing below */
            if ((rc = cairn__node_fetch(ix, &frontier->v[i], &nd)))
                break;
            if (nd->level != level)
                rc = cairn__fail(CAIRN_CORRUPT, "node %s: level %u where %u was expected",
                                 cairn__id_short(&nd->id, hex), nd->level, level);
            if (!rc && vis->report)
                rc = vis->report(vis->ctx, &nd->id, nd->bytes, nd->size);
            for (uint32_t k = 0; !rc && k < nd->n; k++) {
                if (level > 0)
                    rc = idvec_push(vis->children, cairn__node_child(nd, k));
                else if (nd->e[k].is_ref)
                    rc = idvec_push(vis->values, (const cairn_id *)(nd->bytes + nd->e[k].val_off));
            }
            cairn__node_release(nd);
        }
    }
    return rc;
}

/* The level of the tree named by id, or -1 for the empty tree. */
static int root_level(const cairn_index *ix, const cairn_id *id, int *level)
{
    cairn_node *nd;
    int rc;

    if (cairn__is_empty_root(id)) {
        *level = -1;
        return 0;
    }
    if ((rc = cairn__node_fetch(ix, id, &nd)))
        return rc;
    *level = (int)nd->level;
    cairn__node_release(nd);
    return 0;
}

int cairn__tree_delta(const cairn_index *ix, const cairn_id *base, const cairn_id *root,
                      cairn_delta_fn fn, void *ctx)
{
    idvec a = {0}, b = {0}, next_a = {0}, next_b = {0}, vals_a = {0}, vals_b = {0};
    int level_a, level_b, rc;

    if (cairn__id_eq(base, root))
        return 0;
    if ((rc = root_level(ix, root, &level_b)) || (rc = root_level(ix, base, &level_a)))
        return rc;
    if (level_b < 0)
        return 0;
    if ((rc = idvec_push(&b, root)) || (level_a >= 0 && (rc = idvec_push(&a, base))))
        goto done;
    while (b.n > 0) {
        visit vis_a = {NULL, NULL, &next_a, &vals_a}, vis_b = {fn, ctx, &next_b, &vals_b};
        idvec swap;

        if (level_a > level_b) { /* the base side catches up alone */
            next_a.n = 0;
            if ((rc = visit_level(ix, &a, (uint32_t)level_a, &vis_a)))
                goto done;
            swap = a, a = next_a, next_a = swap;
            level_a--;
            continue;
        }
        if (level_a == level_b)
            drop_common(&a, &b);
        else
            idvec_sort_unique(&b);
        next_b.n = 0;
        if ((rc = visit_level(ix, &b, (uint32_t)level_b, &vis_b)))
            goto done;
        if (level_a == level_b) {
            next_a.n = 0;
            if ((rc = visit_level(ix, &a, (uint32_t)level_a, &vis_a)))
                goto done;
            swap = a, a = next_a, next_a = swap;
            level_a--;
        }
        if (level_b == 0)
            break;
        swap = b, b = next_b, next_b = swap;
        level_b--;
    }
    /* Value blobs of the new leaves that the replaced leaves do not name. */
    drop_common(&vals_a, &vals_b);
    for (size_t i = 0; i < vals_b.n && !rc; i++)
        rc = fn(ctx, &vals_b.v[i], NULL, 0);
done:
    cairn__free(a.v);
    cairn__free(b.v);
    cairn__free(next_a.v);
    cairn__free(next_b.v);
    cairn__free(vals_a.v);
    cairn__free(vals_b.v);
    return rc;
}
