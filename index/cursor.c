/* cursor.c - tree paths: seek, step, skip (see cursor.h).
 *
 * Every move that looks above the stop level runs inside one read section.
 * c->path[l] is the node at level l on the path c->idx names, found
 * unpinned in the cache: usable in the section that found it, and in a
 * later one only if nothing was retired meanwhile (c->path_epoch, checked
 * with cairn__ebr_unchanged_since); else the path is walked down again. */
#include "cursor.h"

#include <string.h>

#include "alloc.h"
#include "bytes.h"
#include "error.h"
#include "id.h"
#include "stream.h"

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
    c->root = rn;
    c->ahead_at = UINT32_MAX;
    return 0;
}

void cairn__cursor_close(cairn_cursor *c)
{
    cairn__stream_stop(c->stream);
    c->stream = NULL;
    if (c->node != c->root)
        cairn__node_release(c->node);
    cairn__node_release(c->root);
    c->node = c->root = NULL;
    c->valid = false;
}

/* Inside a read section: makes nd (found in it) the node the cursor
 * stands in, pinning it so that it outlives the section, and unpins the
 * one before. The root is pinned already and gets no second pin. */
static void stand_in(cairn_cursor *c, cairn_node *nd)
{
    if (nd == c->node)
        return;
    if (c->node != c->root)
        cairn__node_release(c->node);
    if (nd != c->root)
        cairn__node_pin(nd);
    c->node = nd;
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
 * tiers that can, like file and S3, and one advice for all their pages on
 * LMDB):
 *   level 1: the node and its next siblings (parents_for: enough for two
 *            windows of leaves);
 *   level 0: the leaf and the next c->window - 1 leaves, listed across the
 *            level-1 nodes already cached, and in the same batch the next
 *            level-1 nodes not cached yet, which list the leaves of the
 *            next window. So a long scan waits one round trip per window,
 *            never two (the level-1 nodes, then their leaves).
 * The window starts at c->prefetch after a seek and grows fourfold with
 * every read-ahead of the same scan: a short scan reads little it will not
 * use. Once a window reaches STREAM_AT leaves the scan is a long one, and a
 * stream (stream.h) takes over: worker threads keep several units in
 * flight ahead of the scan, and the scan's misses go to it. A seek ends
 * the stream. Warm scans find their nodes cached and never get here. Runs
 * inside the move's read section; c->path[level + 1] and above are loaded.
 */
#define READ_AHEAD_GROWTH 4
#define READ_AHEAD_PARENTS_MAX 256

/* Level-1 nodes to read ahead for a window of `want` leaves: two windows'
 * worth at the fanout of nd (a level-1 node), and a few more. */
static uint32_t parents_for(const cairn_node *nd, uint32_t want)
{
    uint32_t fanout = nd && nd->n ? nd->n : 1;
    uint32_t n = 2 * (want / fanout) + 8;
    return n < READ_AHEAD_PARENTS_MAX ? n : READ_AHEAD_PARENTS_MAX;
}

/* The ids of the level-1 nodes after the cursor's, in the scan's
 * direction: the rest of path[2], then on into the next level-2 node if
 * the cache has it (a scan crosses into it without waiting); if not, that
 * node's id is added to the batch being listed and the walk ends. */
typedef struct level1_walk {
    const cairn_cursor *c;
    const cairn_node *parent; /* the level-2 node walked, or NULL: ended */
    int64_t gi;               /* the next entry of parent */
    int64_t pi;               /* parent's entry in path[3] (top >= 3) */
    int dir;
} level1_walk;

static void level1_walk_start(level1_walk *w, const cairn_cursor *c, int dir)
{
    *w = (level1_walk){c, c->top >= 2 ? c->path[2] : NULL, c->top >= 2 ? (int64_t)c->idx[2] + dir : 0,
                       c->top >= 3 ? (int64_t)c->idx[3] : 0, dir};
}

static const cairn_id *level1_walk_next(level1_walk *w, cairn_id *batch, uint32_t *n)
{
    const cairn_cursor *c = w->c;
    while (w->parent && (w->gi < 0 || w->gi >= (int64_t)w->parent->n)) {
        w->pi += w->dir;
        if (c->top < 3 || w->pi < 0 || w->pi >= (int64_t)c->path[3]->n) {
            w->parent = NULL;
            break;
        }
        const cairn_id *pid = cairn__node_child(c->path[3], (uint32_t)w->pi);
        cairn_node *p = cairn__cache_lookup(c->ix->cache, pid);
        if (!p || p->level != 2) {
            if (!p)
                batch[(*n)++] = *pid;
            w->parent = NULL;
            break;
        }
        w->parent = p;
        w->gi = w->dir > 0 ? 0 : (int64_t)p->n - 1;
    }
    if (!w->parent)
        return NULL;
    const cairn_id *id = cairn__node_child(w->parent, (uint32_t)w->gi);
    w->gi += w->dir;
    return id;
}

/* Appends to ids[n..] the next parents of leaves the walk lists that the
 * cache lacks, taking at most `parents` - 1 steps (and a level-2 node the
 * walk asks for); returns the new n. */
static uint32_t add_parents_ahead(const cairn_cursor *c, level1_walk *w, uint32_t parents,
                                  cairn_id *ids, uint32_t n)
{
    const cairn_id *id;

    for (uint32_t k = 1; k < parents && (id = level1_walk_next(w, ids, &n)); k++)
        if (!cairn__cache_lookup(c->ix->cache, id))
            ids[n++] = *id;
    return n;
}

/* Once a scan has read this many leaves ahead in one window, it is a long
 * one: a stream (stream.h) takes over reading ahead, in the background. */
#define STREAM_AT 512
#define STREAM_UNIT 16        /* parents of leaves a worker reads in one batch */
#define STREAM_LEAD_MAX 256   /* parents a stream may keep ahead of the scan */

/* Starts a stream for the scan whose window was just read: it listed
 * leaves of `touched` parents, from c->path[1] on (the last one perhaps
 * in part: the stream reads that one again, and finds what the window read
 * in the cache). On failure the scan goes on with its own windows. What
 * the stream keeps ahead fits in a quarter of the node cache. */
static void stream_start(cairn_cursor *c, uint32_t touched)
{
    uint32_t fanout = c->path[1]->n ? c->path[1]->n : 1;
    uint64_t budget = cairn__cache_capacity(c->ix->cache) / 4 /
                      ((uint64_t)(c->ix->node_size ? c->ix->node_size : 4096) * (fanout + 1));
    uint64_t lead = budget < STREAM_LEAD_MAX ? budget : STREAM_LEAD_MAX;
    uint32_t unit = lead / 4 < STREAM_UNIT ? (uint32_t)(lead / 4) : STREAM_UNIT;
    const cairn_node *grand = c->top >= 2 ? c->path[2] : NULL;
    uint32_t i = c->idx[2];

    if (!grand || unit < 1)
        return;
    if (cairn__stream_start(c->ix, &c->root->id, cairn__node_key(grand, i), grand->e[i].key_len,
                            c->dir >= 0 ? 1 : -1, touched - 1, unit, (uint32_t)lead, &c->stream))
        cairn__detail_clear();
}

/* A parent of leaves is missing: reads it and the next ones in one batch,
 * across into the next level-2 node (asked for when not cached, so that
 * crossing into it later waits once, not twice). A cursor that walks
 * level 1 (a stream's) reads far ahead; a scan's own, a few windows. */
static void read_ahead_parents(cairn_cursor *c, int dir)
{
    cairn_id few[64], *ids = few;
    uint32_t parents = c->stop >= 1 ? READ_AHEAD_PARENTS_MAX : parents_for(NULL, c->prefetch);
    uint32_t n = 0;
    level1_walk w;

    if (c->top < 2)
        return;
    if (parents + 2 > 64 && !(ids = cairn__malloc((parents + 2) * sizeof(*ids)))) {
        cairn__detail_clear();
        ids = few;
        parents = 62;
    }
    ids[n++] = *cairn__node_child(c->path[2], c->idx[2]);
    level1_walk_start(&w, c, dir);
    n = add_parents_ahead(c, &w, parents, ids, n);
    cairn__node_prefetch(c->ix, ids, n);
    if (ids != few)
        cairn__free(ids);
}

static void read_ahead(cairn_cursor *c, uint32_t level)
{
    cairn_id few[64], *ids = few;
    uint32_t want = c->window ? c->window : c->prefetch, n = 0, touched = 1;
    uint32_t parents = parents_for(level == 0 ? c->path[1] : NULL, want);
    int dir = c->dir >= 0 ? 1 : -1;

    if (c->stream) {
        cairn__stream_missed(c->stream, level == 1); /* the stream reads ahead */
        return;
    }
    if (level == 1) {
        read_ahead_parents(c, dir);
        return;
    }
    if (want + parents + 2 > 64 && !(ids = cairn__malloc((want + parents + 2) * sizeof(*ids)))) {
        cairn__detail_clear(); /* read-ahead is an optimisation: read fewer */
        ids = few;
        want = 30;
        parents = 32;
    }
    n = collect_children(c->path[1], c->idx[1], dir, ids, want);
    level1_walk w;
    const cairn_id *id;
    level1_walk_start(&w, c, dir);
    while ((id = level1_walk_next(&w, ids, &n))) {
        /* unpinned: valid until the section ends */
        cairn_node *next = cairn__cache_lookup(c->ix->cache, id);
        if (!next || next->level != 1 || n >= want) {
            if (!next)
                ids[n++] = *id;
            break; /* the rest: level-1 nodes to read now, for the next window */
        }
        n += collect_children(next, dir > 0 ? 0 : (int64_t)next->n - 1, dir, ids + n, want - n);
        touched++;
    }
    n = add_parents_ahead(c, &w, parents, ids, n);
    cairn__node_prefetch(c->ix, ids, n);
    if (ids != few)
        cairn__free(ids);
    if (want >= STREAM_AT)
        stream_start(c, touched);
    /* next time more, while a window stays under a quarter of the cache:
     * more would evict the leaves read ahead before the scan gets to them */
    uint64_t next = (uint64_t)want * READ_AHEAD_GROWTH;
    if (next > CAIRN_READ_AHEAD_MAX)
        next = CAIRN_READ_AHEAD_MAX;
    while (next > want && next * c->ix->node_size * 4 > cairn__cache_capacity(c->ix->cache))
        next /= 2;
    c->window = next > want ? (uint32_t)next : want;
}

/* Records a failed move: the cursor stands nowhere from now on. */
static int fail(cairn_cursor *c, int rc)
{
    c->valid = false;
    if (!c->err)
        c->err = rc;
    return rc;
}

/* Sets c->path[level] to the child at c->path[level + 1]'s current index,
 * checked against its entry; a node newly on the path (fresh) counts as
 * read and may start a read-ahead, one walked back down to does not. */
static int load_child(cairn_cursor *c, uint32_t level, bool fresh)
{
    const cairn_node *parent = c->path[level + 1];
    uint32_t i = c->idx[level + 1];
    const cairn_id *id = cairn__node_child(parent, i);
    cairn_node *child = NULL;
    int rc;

    if (fresh) {
        c->nodes_read++;
        if (c->prefetch && level <= 1 && !(child = cairn__cache_lookup(c->ix->cache, id)))
            read_ahead(c, level);
    }
    if (!child && (rc = cairn__node_fetch_in_section(c->ix, id, &child)))
        return rc;
    if ((rc = cairn__child_check(parent, i, child)))
        return rc;
    c->path[level] = child;
    if (fresh && level == 1 && c->stream)
        cairn__stream_entered(c->stream);
    return 0;
}

/* Fills c->path[] from the root down to level `to` (>= stop) by following
 * the indices the cursor last stood on. */
static int walk_back(cairn_cursor *c, uint32_t to)
{
    uint32_t l;
    int rc;

    if (c->path_epoch && cairn__ebr_unchanged_since(c->path_epoch))
        return 0; /* the last move's path is still there */
    c->path[c->top] = c->root;
    for (l = c->top; l > to; l--)
        if ((rc = load_child(c, l - 1, false)))
            return rc;
    return 0;
}

/* From c->path[from] (loaded) down to the stop level along the first (or the
 * last) entries, and stands there. */
static int descend_edge(cairn_cursor *c, uint32_t from, bool last)
{
    uint32_t l;
    int rc;

    for (l = from; l > c->stop; l--) {
        if ((rc = load_child(c, l - 1, true)))
            return rc;
        c->idx[l - 1] = last ? c->path[l - 1]->n - 1 : 0;
    }
    stand_in(c, c->path[c->stop]);
    c->valid = true;
    return 0;
}

/* Moves to the first entry of the next node at level `from` - 1, the node
 * there being finished; past the last, valid becomes false. */
static int advance_from(cairn_cursor *c, uint32_t from)
{
    uint32_t l;
    int rc;

    if ((rc = walk_back(c, from)))
        return rc;
    for (l = from; l <= c->top; l++) {
        if (c->idx[l] + 1 < c->path[l]->n) {
            c->idx[l]++;
            return descend_edge(c, l, false);
        }
    }
    c->valid = false;
    c->path_epoch = 0; /* levels below from were not followed */
    return 0;
}

static int retreat_from(cairn_cursor *c, uint32_t from)
{
    uint32_t l;
    int rc;

    if ((rc = walk_back(c, from)))
        return rc;
    for (l = from; l <= c->top; l++) {
        if (c->idx[l] > 0) {
            c->idx[l]--;
            return descend_edge(c, l, true);
        }
    }
    c->valid = false;
    c->path_epoch = 0; /* levels below from were not followed */
    return 0;
}

/* Inside a read section: the walk of seek_node. A level whose node and
 * index are those of the last move's path (still there) is not looked up
 * again, so seeks near the last position touch fewer nodes. */
static int seek_node(cairn_cursor *c, const void *key, size_t key_len)
{
    bool same = c->path_epoch && cairn__ebr_unchanged_since(c->path_epoch);
    uint32_t l, i;
    int rc;

    c->valid = false;
    c->window = 0; /* a new scan: read-ahead starts small */
    c->path[c->top] = c->root;
    for (l = c->top; l > c->stop; l--) {
        i = cairn__node_child_for(c->path[l], key, key_len);
        if (same && i == c->idx[l])
            continue;
        same = false;
        c->idx[l] = i;
        if ((rc = load_child(c, l - 1, true)))
            return rc;
    }
    stand_in(c, c->path[c->stop]);
    c->idx[c->stop] = 0;
    c->valid = c->node->n > 0;
    return 0;
}

/* Steps before the end of a node at which a scan starts loading the next
 * node's bucket and header: enough to cover a memory miss or two. */
#define WARM_LEAD 12

/* Inside the section of a move that left the cursor valid: notes the next
 * node at level stop in the scan's direction, if its parent is this one's,
 * and starts loading its cache bucket; the steps then warm its header
 * WARM_LEAD entries before they reach it, so that crossing into it waits
 * on no miss in the cache's table. */
static void plan_ahead(cairn_cursor *c)
{
    const cairn_node *parent;
    uint32_t i = c->idx[c->stop], n = c->node->n;
    int64_t next;

    c->ahead = NULL;
    c->ahead_at = UINT32_MAX;
    if (c->stop == c->top)
        return;
    parent = c->path[c->stop + 1];
    next = (int64_t)c->idx[c->stop + 1] + (c->dir >= 0 ? 1 : -1);
    if (next < 0 || next >= (int64_t)parent->n)
        return;
    c->ahead = cairn__cache_bucket(c->ix->cache, cairn__node_child(parent, (uint32_t)next));
    if (c->dir >= 0)
        c->ahead_at = n > WARM_LEAD && n - WARM_LEAD > i ? n - WARM_LEAD : i + 1;
    else
        c->ahead_at = i > WARM_LEAD ? WARM_LEAD : (i > 0 ? i - 1 : UINT32_MAX);
}

/* The moves below enter a read section, run one of the walks above in it
 * and leave it here, before returning. On success the path is stamped
 * with the section's epoch; a failure is made sticky. */
static int leave(cairn_cursor *c, int rc)
{
    if (!rc && c->valid) {
        c->path_epoch = cairn__ebr_section_epoch();
        plan_ahead(c);
    } else {
        c->path_epoch = 0;
    }
    cairn__ebr_exit();
    return rc ? fail(c, rc) : 0;
}

/* The start of a move to a new position (a seek, first, last): the scan
 * before it is over, and so is its stream (stopped outside any read
 * section: it waits for its workers' reads). Then enters the move's
 * section. */
static void jump(cairn_cursor *c)
{
    cairn__stream_stop(c->stream);
    c->stream = NULL;
    cairn__ebr_enter();
}

int cairn__cursor_seek_node(cairn_cursor *c, const void *key, size_t key_len)
{
    if (c->err)
        return c->err;
    jump(c);
    return leave(c, seek_node(c, key, key_len));
}

static int first_or_last(cairn_cursor *c, bool last)
{
    c->valid = false;
    c->window = 0;
    if (c->root->n == 0)
        return 0;
    c->path[c->top] = c->root;
    c->idx[c->top] = last ? c->root->n - 1 : 0;
    return descend_edge(c, c->top, last);
}

int cairn__cursor_first(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    jump(c);
    return leave(c, first_or_last(c, false));
}

int cairn__cursor_last(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    jump(c);
    return leave(c, first_or_last(c, true));
}

/* Leaves the node at level from - 1 for the next node (back: the previous
 * one) at that level: the slow path of next, prev and skip_node, kept out
 * of line so that a step within a node stays a few instructions. */
static int cross(cairn_cursor *c, uint32_t from, bool back)
{
    cairn__ebr_enter();
    return leave(c, back ? retreat_from(c, from) : advance_from(c, from));
}

int cairn__cursor_next_slow(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->dir = 1;
    if (!c->valid)
        return 0;
    if (++c->idx[c->stop] < c->node->n) {
        if (c->idx[c->stop] == c->ahead_at)
            cairn__cache_warm(c->ahead);
        return 0;
    }
    return cross(c, c->stop + 1, false);
}

int cairn__cursor_prev_slow(cairn_cursor *c)
{
    if (c->err)
        return c->err;
    c->dir = -1;
    if (!c->valid)
        return 0;
    if (c->idx[c->stop] > 0) {
        if (--c->idx[c->stop] == c->ahead_at)
            cairn__cache_warm(c->ahead);
        return 0;
    }
    return cross(c, c->stop + 1, true);
}

int cairn__cursor_skip_node(cairn_cursor *c, uint32_t level)
{
    if (c->err)
        return c->err;
    if (!c->valid)
        return 0;
    return cross(c, level + 1, false);
}

static int seek_ge(cairn_cursor *c, const void *key, size_t key_len)
{
    int rc;

    if ((rc = seek_node(c, key, key_len)) || c->node->n == 0)
        return rc;
    c->idx[c->stop] = cairn__node_lower_bound(c->node, key, key_len);
    if (c->idx[c->stop] < c->node->n)
        return 0;
    return advance_from(c, c->stop + 1);
}

int cairn__cursor_seek_ge(cairn_cursor *c, const void *key, size_t key_len)
{
    if (c->err)
        return c->err;
    jump(c);
    return leave(c, seek_ge(c, key, key_len));
}

static int seek_le(cairn_cursor *c, const void *key, size_t key_len)
{
    const cairn_node *nd;
    uint32_t i;
    int rc;

    if ((rc = seek_node(c, key, key_len)) || c->node->n == 0)
        return rc;
    nd = c->node;
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

int cairn__cursor_seek_le(cairn_cursor *c, const void *key, size_t key_len)
{
    if (c->err)
        return c->err;
    jump(c);
    return leave(c, seek_le(c, key, key_len));
}
