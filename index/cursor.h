/*
 * cursor.h - a position in a tree: the path of pinned nodes from the root
 * down to one level (the leaves for iteration and diff; any level for
 * batch apply), with an entry index at each level.
 */
#ifndef CAIRN_CURSOR_H
#define CAIRN_CURSOR_H

#include "tree.h"

typedef struct cairn_cursor {
    const cairn_index *ix;
    uint32_t top;                         /* level of the root */
    uint32_t stop;                        /* level the cursor walks */
    bool valid;                           /* positioned on an entry */
    cairn_node *node[CAIRN_MAX_HEIGHT];   /* node[l]: the node at level l */
    uint32_t idx[CAIRN_MAX_HEIGHT];       /* entry index within node[l] */
    uint64_t nodes_read;                  /* fetches made, for cost tests */
    uint32_t prefetch;                    /* leaves to read ahead on a miss; 0: off */
    int dir;                              /* +1 after next, -1 after prev */
    int err;                              /* sticky: the first failure of a move */
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
/* Steps one entry; past the end c->valid becomes false (not an error). */
int cairn__cursor_next(cairn_cursor *c);
int cairn__cursor_prev(cairn_cursor *c);
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

static inline const cairn_node *cairn__cursor_node(const cairn_cursor *c)
{
    return c->node[c->stop];
}

static inline uint32_t cairn__cursor_pos(const cairn_cursor *c)
{
    return c->idx[c->stop];
}

#endif /* CAIRN_CURSOR_H */
