/*
 * delta.h - the blobs one tree needs beyond another.
 *
 * A tier that holds every blob of tree `base` needs, to hold tree `root`
 * too, exactly the nodes and value blobs of root that base does not share.
 * Since node boundaries depend only on content, unchanged regions of the
 * two trees are the same nodes with the same ids at the same level, and a
 * node that is the same on both sides is the same subtree: it is skipped
 * unread. The walk goes level by level, top down, keeping on each side only
 * the nodes that differ, so its cost follows the size of the change (about
 * height nodes per changed region), not the size of the trees. Copying a
 * version into a tier that lags behind (a ref tier catching up, write-back,
 * copy between stores) is this walk plus the copy of what it finds.
 */
#ifndef CAIRN_DELTA_H
#define CAIRN_DELTA_H

#include "tree.h"

/* Called once per blob root needs beyond base. For a node, bytes and len
 * are its encoded bytes (valid during the call only), so a copier need not
 * read it again; for a value blob bytes is NULL. Return 0 to go on;
 * anything else stops the walk and is returned. */
typedef int (*cairn_delta_fn)(void *ctx, const cairn_id *id, const void *bytes, size_t len);

/* Reports every node of root that is not a node of base at the same level
 * (base may be the empty tree: then every node of root), and every value
 * blob referenced by those of root's leaves that base's differing leaves do
 * not also reference. The empty tree's node is never reported (readers know
 * it). Nodes come in level order, top down; a value blob may be reported
 * although base holds it elsewhere (a copier's has-check makes that
 * cheap), but no blob that root needs is ever left out.
 * Errors: those of reading nodes (CAIRN_MISSING, CAIRN_CORRUPT, tier
 * errors), CAIRN_NOMEM, or what fn returns. */
int cairn__tree_delta(const cairn_index *ix, const cairn_id *base, const cairn_id *root,
                      cairn_delta_fn fn, void *ctx);

#endif /* CAIRN_DELTA_H */
