/*
 * tree.h - the content-addressed, history-independent copy-on-write B+tree.
 *
 * A tree is named by its root id. Leaves (level 0) hold keys and values;
 * internal nodes hold, per child, its first key, its id and the number of
 * keys under it. Node boundaries come from the chunking rule (chunker.h),
 * so a set of keys and values has exactly one tree: the root id is a
 * function of the contents alone. The empty tree is an empty leaf.
 *
 * Canonical shape: level 0 is the leaves in key order, split by the rule;
 * level L+1 has one item per level-L node (its first key), split by the
 * rule with level L+1's seed; the first level with a single node is the
 * root.
 *
 * This module reads nodes through the node cache and the tier stack and
 * writes new nodes into a blob set; it never knows which tiers exist.
 */
#ifndef CAIRN_TREE_H
#define CAIRN_TREE_H

#include <stdbool.h>
#include <stdint.h>

#include "blobset.h"
#include "cache.h"
#include "node.h"
#include "stack.h"

/* What tree operations need: where nodes come from and the size target. */
typedef struct cairn_index {
    cairn_stack *stack;
    cairn_cache *cache;
    uint32_t node_size;
    /* Blobs written but not yet published (a transaction's), consulted
     * after the cache and before the stack. May be NULL. */
    const cairn_blobset *pending;
} cairn_index;

/* Returns node id pinned (release with cairn__node_release). Decodes and
 * caches it on a miss. Errors: CAIRN_MISSING, CAIRN_CORRUPT, tier errors. */
int cairn__node_fetch(const cairn_index *ix, const cairn_id *id, cairn_node **out);
/* The same inside a read section (cairn__ebr_enter): *out is not pinned,
 * and valid until the section ends. */
int cairn__node_fetch_in_section(const cairn_index *ix, const cairn_id *id, cairn_node **out);
/* Reads into the cache, in one batched stack read, those of ids[0..n) that
 * are not cached. Advisory: errors (out of memory too) are dropped, since the
 * fetch that needs a node reports them. */
void cairn__node_prefetch(const cairn_index *ix, const cairn_id *ids, size_t n);

/* Checks that child, fetched for entry i of parent, is what the entry says:
 * one level below, not empty, starting with the entry's key and holding the
 * entry's key count. A hash-valid but hostile or broken tree can say
 * otherwise, and every walk relies on it (a separator that disagrees with
 * its child's first key sends searches astray and rewrites in circles).
 * Returns 0 or CAIRN_CORRUPT naming the parent. */
int cairn__child_check(const cairn_node *parent, uint32_t i, const cairn_node *child);

/* Fetches the child of entry i of parent and checks it (cairn__child_check).
 * OUT: *out, pinned. */
int cairn__child_fetch(const cairn_index *ix, const cairn_node *parent, uint32_t i,
                       cairn_node **out);
/* The same inside a read section: *out is not pinned, and valid until the
 * section ends. */
int cairn__child_fetch_in_section(const cairn_index *ix, const cairn_node *parent, uint32_t i,
                                  cairn_node **out);

/* Whether id is the empty tree's, whose node readers know without
 * fetching it (it need not be stored). */
bool cairn__is_empty_root(const cairn_id *id);

/* ---- edits ------------------------------------------------------------- */

/* A growable byte arena; items refer to it by offset, so growth is safe. */
typedef struct cairn_bytes {
    uint8_t *data;
    size_t len, cap;
} cairn_bytes;

int cairn__bytes_append(cairn_bytes *b, const void *data, size_t len, uint32_t *off);
void cairn__bytes_free(cairn_bytes *b);

/* One change at one level of a tree, keyed by the item's key. */
typedef struct cairn_edit {
    uint32_t key_off, key_len; /* in the list's arena */
    uint32_t val_off, val_len; /* level 0 put: inline value or value id */
    bool is_del;
    bool is_ref;               /* level 0 put: the value is a value-blob id */
    cairn_id child;            /* level > 0 put: the child's id; del: old id */
    uint64_t count;            /* level > 0 put: keys under the child */
} cairn_edit;

/* A list of edits sorted by key, each key at most once. */
typedef struct cairn_edits {
    cairn_edit *v;
    size_t n, cap;
    cairn_bytes arena;
} cairn_edits;

/* Appends a level-0 put (val copied; is_ref: val is a 32-byte value id) or
 * delete (val NULL). Callers append in strictly ascending key order. */
int cairn__edits_add(cairn_edits *e, const void *key, size_t key_len, const void *val,
                     size_t val_len, bool is_ref, bool is_del);
void cairn__edits_free(cairn_edits *e);

/* ---- operations -------------------------------------------------------- */

/* Applies edits (a level-0 list) to the tree root and writes the new nodes
 * into out. Only nodes whose content changes are rewritten: rechunking
 * starts at the first affected node of each level and stops where a new
 * boundary meets an old one. OUT: *new_root. */
int cairn__tree_apply(const cairn_index *ix, const cairn_id *root, const cairn_edits *edits,
                      cairn_blobset *out, cairn_id *new_root);

/* Finds key under root. On success *leaf is the pinned leaf (release it)
 * and *pos the entry. Returns CAIRN_NOTFOUND if absent (no leaf pinned). */
int cairn__tree_find(const cairn_index *ix, const cairn_id *root, const void *key,
                     size_t key_len, cairn_node **leaf, uint32_t *pos);

/* The same, starting from a root node the caller has pinned (and keeps). */
int cairn__tree_find_in(const cairn_index *ix, cairn_node *root, const void *key,
                        size_t key_len, cairn_node **leaf, uint32_t *pos);

/* Finds n keys under root (a node the caller has pinned) at once: the
 * descent goes level by level, and the nodes of a level that are not
 * cached are read in one stack batch, so n lookups past the caches cost
 * one tier round per level instead of n (a file tier's one io_uring
 * submission, S3's requests in flight together). Then, for each key in
 * order, calls fn(ctx, i, leaf, pos): leaf is the leaf holding key i
 * (pinned for the call only; NULL when the key is absent). fn returns 0
 * to go on, anything else to stop, and that value is returned. Errors
 * (before any call of fn for the batch of up to CAIRN_FIND_BATCH keys
 * that meets them): CAIRN_CORRUPT, CAIRN_MISSING, tier errors. */
#define CAIRN_FIND_BATCH 64
typedef int (*cairn_found_fn)(void *ctx, size_t i, const cairn_node *leaf, uint32_t pos);
int cairn__tree_find_many(const cairn_index *ix, cairn_node *root, const cairn_val *keys,
                          size_t n, cairn_found_fn fn, void *ctx);

/* Number of keys < key under root (key NULL: all keys). */
int cairn__tree_rank(const cairn_index *ix, const cairn_id *root, const void *key,
                     size_t key_len, uint64_t *out);

/* Finds the rank-th key (0-based, in key order) under root, a node the
 * caller has pinned (and keeps), descending by the subtree counts: one
 * node per level. On success *leaf is the pinned leaf (release it) and
 * *pos the entry. Returns CAIRN_NOTFOUND if rank >= the tree's key count
 * (no leaf pinned); CAIRN_CORRUPT, CAIRN_MISSING, tier errors. */
int cairn__tree_key_at(const cairn_index *ix, cairn_node *root, uint64_t rank,
                       cairn_node **leaf, uint32_t *pos);

/* Calls fn for every node under root, parents before children, children
 * in key order. is_last says whether the node is the last at its level. */
typedef int (*cairn_node_visitor)(void *ctx, const cairn_node *nd, bool is_last);
int cairn__tree_walk(const cairn_index *ix, const cairn_id *root, cairn_node_visitor fn,
                     void *ctx);

/* Whether items split exactly as the chunking rule says: the rule fires
 * after the last item and nowhere before it, except that the last node of
 * a level may end without a boundary. */
bool cairn__node_obeys_rule(const cairn_node *nd, uint32_t node_size, bool is_last);

/* Loads the value of leaf entry pos: inline values point into the node;
 * out-of-line ones are read from the stack into *scratch (freed and
 * replaced; the caller frees the last one). OUT: *val. Inline here so that
 * a scan's per-key call costs nothing for inline values. */
int cairn__value_load_ref(const cairn_index *ix, const cairn_node *leaf, uint32_t pos,
                          cairn_buf *scratch, cairn_val *val);

static inline int cairn__value_load(const cairn_index *ix, const cairn_node *leaf, uint32_t pos,
                                    cairn_buf *scratch, cairn_val *val)
{
    const cairn_entry *e = &leaf->e[pos];

    if (e->is_ref)
        return cairn__value_load_ref(ix, leaf, pos, scratch, val);
    val->data = leaf->bytes + e->val_off;
    val->len = e->val_len;
    return 0;
}

#endif /* CAIRN_TREE_H */
