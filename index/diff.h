/*
 * diff.h - the differences between two trees, in key order.
 *
 * Each side keeps a lazy path: its position is an entry at some level,
 * standing for that entry's whole subtree, and a child is loaded only when
 * the walk must look inside it. When both sides stand at entries with the
 * same first key and the same child id, both subtrees are skipped unread.
 * Since node boundaries depend only on content, equal regions line up on
 * equal nodes, and the cost follows the size of the change (about height
 * nodes per changed region on each side), not the size of the data.
 */
#ifndef CAIRN_DIFF_H
#define CAIRN_DIFF_H

#include "tree.h"

typedef struct cairn_diff_side {
    const cairn_index *ix;
    cairn_node *node[CAIRN_MAX_HEIGHT];
    uint32_t idx[CAIRN_MAX_HEIGHT];
    int level;             /* level of the current entry; -1 past the end */
    uint32_t top;          /* level of the root */
    bool advance_owed;     /* step past the entry returned last */
    uint64_t nodes_read;
    cairn_buf scratch;     /* out-of-line value of the entry returned last */
} cairn_diff_side;

typedef struct cairn_tree_diff {
    cairn_diff_side a, b;
    int err; /* sticky: after a failure every next returns it (nothing skipped) */
} cairn_tree_diff;

int cairn__tree_diff_open(cairn_tree_diff *d, const cairn_index *ix, const cairn_id *root_a,
                          const cairn_id *root_b);
/* OUT: *entry, valid until the next call. CAIRN_NOTFOUND at the end. */
int cairn__tree_diff_next(cairn_tree_diff *d, cairn_diff_entry *entry);
uint64_t cairn__tree_diff_nodes_read(const cairn_tree_diff *d);
void cairn__tree_diff_close(cairn_tree_diff *d);

#endif /* CAIRN_DIFF_H */
