/* cursor.c - tree paths: seek, step, skip (see cursor.h). */
#include "cursor.h"

#include <string.h>

#include "bytes.h"
#include "error.h"
#include "id.h"

int cairn__cursor_open(cairn_cursor *c, const cairn_index *ix, const cairn_id *root,
                       uint32_t stop)
{
    cairn_node *rn;
    int rc;

    memset(c, 0, sizeof(*c));
    c->ix = ix;
    if ((rc = cairn__node_fetch(ix, root, &rn)))
        return rc;
    c->nodes_read = 1;
    if (stop > rn->level) {
        cairn__node_release(rn);
        return cairn__fail(CAIRN_BADARG, "cursor below level %u of a tree of height %u",
                           stop, rn->level + 1);
    }
    c->top = rn->level;
    c->stop = stop;
    c->node[c->top] = rn;
    return 0;
}

void cairn__cursor_close(cairn_cursor *c)
{
    uint32_t l;
    for (l = 0; l < CAIRN_MAX_HEIGHT; l++) {
        cairn__node_release(c->node[l]);
        c->node[l] = NULL;
    }
    c->valid = false;
}

/* Collects into ids (up to max) the child ids of nd from entry `from` on,
 * stepping in direction dir (+1 or -1); nothing if from is out of range. */
static uint32_t collect_children(const cairn_node *nd, int64_t from, int dir, cairn_id *ids,
                                 uint32_t max)
{
    uint32_t n = 0;
    for (int64_t i = from; n < max && i >= 0 && i < (int64_t)nd->n; i += dir)
        ids[n++] = *cairn__node_child(nd, (uint32_t)i);
    return n;
}

/*
 * Read-ahead for scans. When an iterating cursor needs a node at level 0 or
 * 1 that is not cached, it reads that node together with the next ones in
 * the scan's direction in one batched stack read (many reads in flight on
 * tiers that can, like file and S3):
 *   level 1: the node and its next 7 siblings;
 *   level 0: the next level-1 nodes as above, then the leaf and the next
 *            c->prefetch - 1 leaves, listed across those level-1 nodes.
 * Warm scans find their nodes cached and never get here.
 */
static void read_ahead(cairn_cursor *c, uint32_t level)
{
    cairn_id ids[64];
    uint32_t want = c->prefetch < 64 ? c->prefetch : 64, n;
    int dir = c->dir >= 0 ? 1 : -1;
    cairn_node *held = NULL;
    int64_t gi;

    if (c->top >= 2 && (n = collect_children(c->node[2], (int64_t)c->idx[2] + (level == 0 ? dir : 0),
                                             dir, ids, 8)))
        cairn__node_prefetch(c->ix, ids, n);
    if (level == 1)
        return;
    n = collect_children(c->node[1], c->idx[1], dir, ids, want);
    for (gi = (int64_t)c->idx[2] + dir; c->top >= 2 && n < want && gi >= 0 &&
                                        gi < (int64_t)c->node[2]->n; gi += dir) {
        cairn_node *next = cairn__cache_get(c->ix->cache, cairn__node_child(c->node[2], (uint32_t)gi));
        if (!next)
            break; /* not read ahead above; the scan will get there */
        cairn__node_release(held);
        held = next;
        if (next->level != 1)
            break;
        n += collect_children(next, dir > 0 ? 0 : (int64_t)next->n - 1, dir, ids + n, want - n);
    }
    cairn__node_release(held);
    cairn__node_prefetch(c->ix, ids, n);
}

/* Records a failed move: the cursor stands nowhere from now on. */
static int fail(cairn_cursor *c, int rc)
{
    c->valid = false;
    if (!c->err)
        c->err = rc;
    return rc;
}

/* Replaces node[level] with the child at node[level + 1]'s current index,
 * checked against its entry. */
static int load_child(cairn_cursor *c, uint32_t level)
{
    const cairn_node *parent = c->node[level + 1];
    uint32_t i = c->idx[level + 1];
    cairn_node *child = NULL;
    int rc;

    if (c->prefetch && level <= 1 &&
        !(child = cairn__cache_get(c->ix->cache, cairn__node_child(parent, i))))
        read_ahead(c, level);
    if (child && (rc = cairn__child_check(parent, i, child))) {
        cairn__node_release(child);
        return rc;
    }
    if (!child && (rc = cairn__child_fetch(c->ix, parent, i, &child)))
        return rc;
    c->nodes_read++;
    cairn__node_release(c->node[level]);
    c->node[level] = child;
    return 0;
}

static int descend_edge(cairn_cursor *c, uint32_t from, bool last)
{
    uint32_t l;
    int rc;
    for (l = from; l > c->stop; l--) {
        if ((rc = load_child(c, l - 1)))
            return fail(c, rc);
        c->idx[l - 1] = last ? c->node[l - 1]->n - 1 : 0;
    }
    c->valid = true;
    return 0;
}

int cairn__cursor_seek_node(cairn_cursor *c, const void *key, size_t key_len)
{
    uint32_t l;
    int rc;

    if (c->err)
        return c->err;
    c->valid = false;
    for (l = c->top; l > c->stop; l--) {
        c->idx[l] = cairn__node_child_for(c->node[l], key, key_len);
        if ((rc = load_child(c, l - 1)))
            return fail(c, rc);
    }
    c->idx[c->stop] = 0;
    c->valid = c->node[c->stop]->n > 0;
    return 0;
}

int cairn__cursor_first(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->idx[c->top] = 0;
    c->valid = false;
    if (c->node[c->top]->n == 0)
        return 0;
    return descend_edge(c, c->top, false);
}

int cairn__cursor_last(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->valid = false;
    if (c->node[c->top]->n == 0)
        return 0;
    c->idx[c->top] = c->node[c->top]->n - 1;
    return descend_edge(c, c->top, true);
}

/* Moves to the first entry of the next node at level - 1, from the node at
 * level `from` - 1 being finished; past the last, valid becomes false. */
static int advance_from(cairn_cursor *c, uint32_t from)
{
    uint32_t l;
    for (l = from; l <= c->top; l++) {
        if (c->idx[l] + 1 < c->node[l]->n) {
            c->idx[l]++;
            return descend_edge(c, l, false);
        }
    }
    c->valid = false;
    return 0;
}

static int retreat_from(cairn_cursor *c, uint32_t from)
{
    uint32_t l;
    for (l = from; l <= c->top; l++) {
        if (c->idx[l] > 0) {
            c->idx[l]--;
            return descend_edge(c, l, true);
        }
    }
    c->valid = false;
    return 0;
}

int cairn__cursor_next(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->dir = 1;
    if (!c->valid)
        return 0;
    if (++c->idx[c->stop] < c->node[c->stop]->n)
        return 0;
    return advance_from(c, c->stop + 1);
}

int cairn__cursor_prev(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->dir = -1;
    if (!c->valid)
        return 0;
    if (c->idx[c->stop] > 0) {
        c->idx[c->stop]--;
        return 0;
    }
    return retreat_from(c, c->stop + 1);
}

int cairn__cursor_skip_node(cairn_cursor *c, uint32_t level)
{
    if (c->err)
        return c->err;
    if (!c->valid)
        return 0;
    return advance_from(c, level + 1);
}

int cairn__cursor_seek_ge(cairn_cursor *c, const void *key, size_t key_len)
{
    int rc;
    if ((rc = cairn__cursor_seek_node(c, key, key_len)) || c->node[c->stop]->n == 0)
        return rc;
    c->idx[c->stop] = cairn__node_lower_bound(c->node[c->stop], key, key_len);
    if (c->idx[c->stop] < c->node[c->stop]->n)
        return 0;
    return advance_from(c, c->stop + 1);
}

int cairn__cursor_seek_le(cairn_cursor *c, const void *key, size_t key_len)
{
    const cairn_node *nd;
    uint32_t i;
    int rc;

    if ((rc = cairn__cursor_seek_node(c, key, key_len)) || c->node[c->stop]->n == 0)
        return rc;
    nd = c->node[c->stop];
    i = cairn__node_lower_bound(nd, key, key_len);
    if (i < nd->n && cairn__bytes_cmp(cairn__node_key(nd, i), nd->e[i].key_len, key,
                                      key_len) == 0) {
        c->idx[c->stop] = i;
        return 0;
    }
    if (i > 0) {
        c->idx[c->stop] = i - 1;
        return 0;
    }
    /* key sorts before this node's first key: only possible in the first
     * node, so there is nothing <= key. */
    c->idx[c->stop] = 0;
    return retreat_from(c, c->stop + 1);
}
