/*
 * cursor.h - a position in a tree: an entry index at each level from the
 * root down to one level (the leaves for iteration; any level for batch
 * apply), and the node at that level.
 *
 * Between calls the cursor pins two nodes: the root (for its whole life)
 * and the node at level stop (the one it stands in, whose keys and values
 * callers read). The nodes between them are not pinned: the path is kept
 * as entry indices plus the unpinned pointers the last move found. A move
 * that must look above the stop level (a seek, or a step off the end of
 * the node) runs inside one read section (ebr.h); it uses those pointers
 * again only if nothing has been retired from the cache since they were
 * found (one load of the global epoch), and otherwise walks down from the
 * root again along idx: nodes are immutable and named by their hash, so
 * the same indices lead to the same nodes whether or not the cache dropped
 * them meanwhile. So a warm seek writes one reference count (the new
 * node's, plus the release of the old one) however tall the tree, and
 * steps within a node write nothing. No read section is held across a
 * return: a cursor may live arbitrarily long without holding back the
 * freeing of evicted nodes.
 */
#ifndef CAIRN_CURSOR_H
#define CAIRN_CURSOR_H

#include "tree.h"

/* The most leaves one read-ahead of a long cold scan asks for at once. */
#define CAIRN_READ_AHEAD_MAX 4096

typedef struct cairn_cursor {
    const cairn_index *ix;
    cairn_node *root;                     /* pinned until close */
    cairn_node *node;                     /* the node at level stop: pinned (unless it
                                             is the root); NULL before the first move */
    uint32_t top;                         /* level of the root */
    uint32_t stop;                        /* level the cursor walks */
    bool valid;                           /* positioned on an entry */
    uint32_t idx[CAIRN_MAX_HEIGHT];       /* entry index within the path's node at
                                             level l, from the root down to stop */
    cairn_node *path[CAIRN_MAX_HEIGHT];   /* path[l]: the node at level l, NOT pinned
                                             (cursor.c says when it may be used) */
    uint64_t path_epoch;                  /* the read section path[] was found in
                                             began in this epoch; 0: unknown */
    _Atomic(cairn_node *) *ahead;         /* the cache bucket of the next node at level
                                             stop in the scan's direction (a hint;
                                             cairn__cache_bucket); NULL: none */
    uint32_t ahead_at;                    /* on reaching this index, warm `ahead` */
    uint64_t nodes_read;                  /* nodes loaded onto the path (the walks
                                             back down to them are not counted) */
    uint32_t prefetch;                    /* leaves to read ahead on a miss; 0: off */
    uint32_t window;                      /* leaves the next read-ahead reads: prefetch
                                             after a seek, doubling with each read-ahead
                                             of the scan up to CAIRN_READ_AHEAD_MAX */
    int dir;                              /* +1 after next, -1 after prev */
    int err;                              /* sticky: the first failure of a move */
    struct cairn_stream *stream;          /* a long scan's background read-ahead
                                             (stream.h), or NULL; ended by a seek */
} cairn_cursor;

/* Opens a cursor on root walking level stop (stop above the root's level
 * is CAIRN_BADARG). Not positioned until a seek, first or last.
 *
 * Errors are sticky: a move that fails (a child that cannot be read, or
 * does not match its parent's entry) leaves the cursor not valid, and
 * every later move returns the same error, so that no caller can read
 * past a node it failed to load or silently skip it. */
int cairn__cursor_open(cairn_cursor *c, const cairn_index *ix, const cairn_id *root,
                       uint32_t stop);
void cairn__cursor_close(cairn_cursor *c);

/* Positions at entry 0 of the level-stop node whose range holds key (the
 * node a key would be inserted into). */
int cairn__cursor_seek_node(cairn_cursor *c, const void *key, size_t key_len);
/* Positions at the first entry >= key, or the last entry <= key. */
int cairn__cursor_seek_ge(cairn_cursor *c, const void *key, size_t key_len);
int cairn__cursor_seek_le(cairn_cursor *c, const void *key, size_t key_len);
int cairn__cursor_first(cairn_cursor *c);
int cairn__cursor_last(cairn_cursor *c);
/* Steps one entry; past the end c->valid becomes false (not an error).
 * Inline: a step within the node is a few instructions; the rest (errors,
 * the read-ahead hint, leaving the node) is out of line. */
int cairn__cursor_next_slow(cairn_cursor *c);
int cairn__cursor_prev_slow(cairn_cursor *c);

static inline int cairn__cursor_next(cairn_cursor *c)
{
    uint32_t i = c->idx[c->stop] + 1;

    if (c->valid && !c->err && c->dir > 0 && i < c->node->n && i != c->ahead_at) {
        c->idx[c->stop] = i;
        return 0;
    }
    return cairn__cursor_next_slow(c);
}

static inline int cairn__cursor_prev(cairn_cursor *c)
{
    uint32_t i = c->idx[c->stop];

    if (c->valid && !c->err && c->dir < 0 && i > 0 && i - 1 != c->ahead_at) {
        c->idx[c->stop] = i - 1;
        return 0;
    }
    return cairn__cursor_prev_slow(c);
}
/* Moves to the first entry after the whole node at level (>= stop). */
int cairn__cursor_skip_node(cairn_cursor *c, uint32_t level);

/* Whether the position is the first entry under the node at level, i.e.
 * the index is 0 at every level from stop up to level. */
static inline bool cairn__cursor_at_node_start(const cairn_cursor *c, uint32_t level)
{
    uint32_t l;
    for (l = c->stop; l <= level; l++)
        if (c->idx[l] != 0)
            return false;
    return true;
}

/* The node at level stop, valid (pinned) until the cursor's next move or
 * close. Only meaningful while c->valid. */
static inline const cairn_node *cairn__cursor_node(const cairn_cursor *c)
{
    return c->node;
}

static inline uint32_t cairn__cursor_pos(const cairn_cursor *c)
{
    return c->idx[c->stop];
}

#endif /* CAIRN_CURSOR_H */
