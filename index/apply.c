/*
 * apply.c - applying a sorted batch of puts and deletes to a tree.
 *
 * The batch is applied level by level, bottom up. At level L the edits are
 * keyed by item key: at level 0 they are the caller's puts and deletes; at
 * level L+1 they are "delete the entry of each old level-L node that was
 * rewritten" and "put an entry for each new level-L node".
 *
 * At each level, for the first pending edit, we seek to the old node whose
 * range holds its key. That node starts at an old boundary, which only
 * depends on items before it (unchanged), so a fresh chunker can start
 * there. We then stream the merge of old items and edits through the
 * chunker, writing new nodes, until a new boundary falls exactly on an old
 * node's end with no edit before the next old node: from there on the old
 * nodes are what rechunking would produce again, so we skip to the node of
 * the next edit (or stop). Only changed nodes are rewritten, and a batch
 * that changes k places costs about k * height node writes.
 *
 * When the old root's level is reached and the root was rewritten, the new
 * nodes of that level are the whole level (the root is the level's only
 * node, and the rewrite there runs to its end: it never stops at being in
 * step, see rewrite_level), and levels are built on top until one node
 * remains. A rewrite may also consume edits without touching any old node:
 * deletes of absent keys that sort before the level's first key. Below the
 * root that leaves no edits for the level above; at the root's level the
 * root is rewritten as it was. (Treating an empty output as "the whole
 * level" once emptied a one-leaf tree.)
 * Finally a root with a single child is replaced by that child (a
 * shrinking tree), which gives the canonical shape of tree.h.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytes.h"
#include "chunker.h"
#include "cursor.h"
#include "error.h"
#include "id.h"
#include "tree.h"

/* Collects the items of the node being built and writes it out when the
 * chunker says it ends. Items are copied, since the old nodes they come
 * from are released as the cursor moves on. */
typedef struct builder {
    const cairn_index *ix;
    cairn_blobset *out;
    uint32_t level;
    cairn_chunker ch;
    cairn_edits items;   /* the current node's items (offsets into items.arena) */
    cairn_edits *emit;   /* one put per finished node, for the level above */
    cairn_item *scratch; /* pointer form of items, for encoding */
    size_t scratch_cap;
} builder;

static void builder_init(builder *b, const cairn_index *ix, cairn_blobset *out, uint32_t level,
                         cairn_edits *emit)
{
    memset(b, 0, sizeof(*b));
    b->ix = ix;
    b->out = out;
    b->level = level;
    b->emit = emit;
    cairn__chunker_init(&b->ch, ix->node_size, level);
}

static void builder_free(builder *b)
{
    cairn__edits_free(&b->items);
    cairn__free(b->scratch);
}

/* Appends an internal-level entry (put of a child, or delete of an old
 * child) to e. */
static int add_child_edit(cairn_edits *e, const void *key, size_t key_len, const cairn_id *child,
                          uint64_t count, bool is_del)
{
    int rc;
    if ((rc = cairn__edits_add(e, key, key_len, NULL, 0, false, true)))
        return rc;
    e->v[e->n - 1].is_del = is_del;
    e->v[e->n - 1].child = *child;
    e->v[e->n - 1].count = count;
    return 0;
}

/* Encodes the collected items as one node, stores it and emits its entry
 * for the level above. */
static int builder_flush(builder *b)
{
    cairn_edits *it = &b->items;
    uint8_t *bytes;
    size_t len, i;
    uint64_t count = 0;
    cairn_id id;
    int rc;

    if (it->n == 0)
        return 0;
    if (it->n > b->scratch_cap) {
        cairn_item *s = cairn__realloc(b->scratch, it->n * sizeof(*s));
        if (!s)
            return cairn__fail(CAIRN_NOMEM, "building a node of %zu items", it->n);
        b->scratch = s;
        b->scratch_cap = it->n;
    }
    for (i = 0; i < it->n; i++) {
        const cairn_edit *e = &it->v[i];
        b->scratch[i] = (cairn_item){
            .key = it->arena.data + e->key_off, .key_len = e->key_len,
            .val = it->arena.data + e->val_off, .val_len = e->val_len,
            .is_ref = e->is_ref, .child = e->child, .count = e->count,
        };
        count += b->level ? e->count : 1;
    }
    if ((rc = cairn__node_encode(b->level, b->scratch, it->n, &bytes, &len)))
        return rc;
    if ((rc = cairn__sha256(bytes, len, &id))) {
        cairn__free(bytes);
        return rc;
    }
    if ((rc = cairn__blobset_add_owned(b->out, &id, bytes, len)))
        return rc;
    if ((rc = add_child_edit(b->emit, b->scratch[0].key, b->scratch[0].key_len, &id, count, false)))
        return rc;
    it->n = 0;
    it->arena.len = 0;
    return 0;
}

/* Adds one item; *ended says whether it closed a node. */
static int builder_add(builder *b, const cairn_item *item, bool *ended)
{
    cairn_edits *it = &b->items;
    int rc;

    if ((rc = cairn__edits_add(it, item->key, item->key_len, item->val, b->level ? 0 : item->val_len,
                               item->is_ref, false)))
        return rc;
    it->v[it->n - 1].child = item->child;
    it->v[it->n - 1].count = item->count;
    *ended = cairn__chunker_add(&b->ch, item->key, item->key_len, cairn__item_size(b->level, item));
    return *ended ? builder_flush(b) : 0;
}

static void edit_item(const cairn_edits *E, size_t i, cairn_item *it)
{
    const cairn_edit *e = &E->v[i];
    *it = (cairn_item){
        .key = E->arena.data + e->key_off, .key_len = e->key_len,
        .val = E->arena.data + e->val_off, .val_len = e->val_len,
        .is_ref = e->is_ref, .child = e->child, .count = e->count,
    };
}

static int edit_cmp(const cairn_edits *E, size_t i, const void *key, size_t key_len)
{
    return cairn__bytes_cmp(E->arena.data + E->v[i].key_off, E->v[i].key_len, key, key_len);
}

/* Rewrites level L of the tree root with the edits E (sorted, unique).
 * New nodes go to out and their entries to *emitted; the entries of the
 * old nodes they replace go to *deleted. Both come out sorted by key.
 * With to_end (the root's level) the rewrite never stops early: it runs to
 * the end of the level, so that *emitted is the whole new level. There the
 * one old node is the root, and new items before its first key that end a
 * node leave the builder empty at the root's start, which looks like being
 * in step again; stopping there dropped every key of the old tree. */
static int rewrite_level(const cairn_index *ix, const cairn_id *root, uint32_t level,
                         bool to_end, const cairn_edits *E, cairn_blobset *out,
                         cairn_edits *emitted, cairn_edits *deleted)
{
    cairn_cursor cur;
    builder b;
    size_t i = 0;
    int rc;

    builder_init(&b, ix, out, level, emitted);
    if ((rc = cairn__cursor_open(&cur, ix, root, level)))
        goto done;
    while (i < E->n) {
        bool synced = false, level_done = false;
        size_t first = i;
        if ((rc = cairn__cursor_seek_node(&cur, E->arena.data + E->v[i].key_off, E->v[i].key_len)))
            goto done;
        while (!synced && !level_done) {
            cairn_item old, ed;
            bool ended = false;
            int c;

            if (!cur.valid && i >= E->n) {
                level_done = true;
                break;
            }
            if (cur.valid)
                cairn__node_item(cairn__cursor_node(&cur), cairn__cursor_pos(&cur), &old);
            c = !cur.valid ? 1 : i >= E->n ? -1 : -edit_cmp(E, i, old.key, old.key_len);
            if (c <= 0 && cairn__cursor_at_node_start(&cur, level) &&
                (rc = add_child_edit(deleted, old.key, old.key_len, &cairn__cursor_node(&cur)->id,
                                     0, true)))
                goto done;
            if (c < 0) {
                rc = builder_add(&b, &old, &ended);
            } else {
                edit_item(E, i, &ed);
                if (!E->v[i].is_del)
                    rc = builder_add(&b, &ed, &ended);
                i++;
            }
            if (rc || (c <= 0 && (rc = cairn__cursor_next(&cur))))
                goto done;
            /* In step with the old tree? The chunker is fresh exactly when
             * the builder holds nothing. */
            if (!to_end && b.items.n == 0 && cur.valid &&
                cairn__cursor_at_node_start(&cur, level)) {
                cairn__node_item(cairn__cursor_node(&cur), cairn__cursor_pos(&cur), &old);
                if (i >= E->n || edit_cmp(E, i, old.key, old.key_len) >= 0)
                    synced = true;
            }
            (void)ended;
        }
        if (level_done)
            break;
        /* The node seek_node picks holds the edit's key, so the rewrite
         * from its start consumes that edit before it can fall in step
         * again. If not, the tree's separators disagree with its nodes
         * (cursor.c checks what it loads, but this loop must end whatever
         * it is given). */
        if (i == first) {
            rc = cairn__fail(CAIRN_CORRUPT, "tree rewrite made no progress at level %u: the "
                                            "tree's separators disagree with its nodes",
                             level);
            goto done;
        }
    }
    rc = builder_flush(&b);
done:
    cairn__cursor_close(&cur);
    builder_free(&b);
    return rc;
}

/* Merges the entries of rewritten old nodes (deletes) and new nodes (puts)
 * into the edits of the level above, dropping a delete and put of the same
 * key and id (a node rewritten unchanged). */
static int merge_level_edits(const cairn_edits *puts, const cairn_edits *dels, cairn_edits *next)
{
    size_t p = 0, d = 0;
    int rc = 0;

    while (!rc && (p < puts->n || d < dels->n)) {
        const cairn_edit *pe = p < puts->n ? &puts->v[p] : NULL;
        const cairn_edit *de = d < dels->n ? &dels->v[d] : NULL;
        int c = !pe ? 1 : !de ? -1
                : cairn__bytes_cmp(puts->arena.data + pe->key_off, pe->key_len,
                                   dels->arena.data + de->key_off, de->key_len);
        if (c < 0 || (c == 0 && !cairn__id_eq(&pe->child, &de->child))) {
            rc = add_child_edit(next, puts->arena.data + pe->key_off, pe->key_len, &pe->child,
                                pe->count, false);
        } else if (c > 0) {
            rc = add_child_edit(next, dels->arena.data + de->key_off, de->key_len, &de->child, 0,
                                true);
        }
        if (c <= 0)
            p++;
        if (c >= 0)
            d++;
    }
    return rc;
}

/* Builds levels on top of the node entries in *level_nodes (the whole of
 * level `level` - 1) until one node remains. OUT: *root. */
static int build_up(const cairn_index *ix, cairn_blobset *out, uint32_t level,
                    cairn_edits *level_nodes, cairn_id *root)
{
    cairn_edits cur = *level_nodes, next;
    int rc = 0;

    memset(level_nodes, 0, sizeof(*level_nodes));
    while (cur.n > 1) {
        builder b;
        size_t i;
        bool ended;
        cairn_item it;

        if (level >= CAIRN_MAX_HEIGHT) {
            rc = cairn__fail(CAIRN_BADARG, "tree would be deeper than %d levels",
                             CAIRN_MAX_HEIGHT);
            break;
        }
        memset(&next, 0, sizeof(next));
        builder_init(&b, ix, out, level, &next);
        for (i = 0; !rc && i < cur.n; i++) {
            edit_item(&cur, i, &it);
            rc = builder_add(&b, &it, &ended);
        }
        if (!rc)
            rc = builder_flush(&b);
        builder_free(&b);
        cairn__edits_free(&cur);
        cur = next;
        level++;
    }
    if (!rc && cur.n == 0) {
        cairn__empty_root_id(root);
        rc = cairn__blobset_add_copy(out, root, cairn__empty_node_bytes,
                                     sizeof(cairn__empty_node_bytes));
    } else if (!rc) {
        *root = cur.v[0].child;
    }
    cairn__edits_free(&cur);
    return rc;
}

/* Replaces a root that has a single child by that child, repeatedly (each
 * step goes a level down, so at most CAIRN_MAX_HEIGHT of them). */
static int collapse(const cairn_index *ix, cairn_id *root)
{
    cairn_node *nd, *child;
    int rc;

    if ((rc = cairn__node_fetch(ix, root, &nd)))
        return rc;
    while (nd->level > 0 && nd->n == 1) {
        rc = cairn__child_fetch(ix, nd, 0, &child);
        cairn__node_release(nd);
        if (rc)
            return rc;
        nd = child;
    }
    *root = nd->id;
    cairn__node_release(nd);
    return 0;
}

int cairn__tree_apply(const cairn_index *ix_in, const cairn_id *root, const cairn_edits *edits,
                      cairn_blobset *out, cairn_id *new_root)
{
    cairn_index ix = *ix_in;
    cairn_edits owned = {0};
    const cairn_edits *cur = edits;
    cairn_node *rn;
    cairn_id result = *root;
    uint32_t top, level;
    int rc;

    if (edits->n == 0) {
        *new_root = *root;
        return 0;
    }
    ix.pending = out; /* collapse may read nodes written here */
    if ((rc = cairn__node_fetch(&ix, root, &rn)))
        return rc;
    top = rn->level;
    cairn__node_release(rn);
    for (level = 0;; level++) {
        cairn_edits emitted = {0}, deleted = {0}, next = {0};
        rc = rewrite_level(&ix, root, level, level == top, cur, out, &emitted, &deleted);
        if (!rc && level == top && (emitted.n || deleted.n))
            rc = build_up(&ix, out, level + 1, &emitted, &result);
        else if (!rc && level < top)
            rc = merge_level_edits(&emitted, &deleted, &next);
        cairn__edits_free(&emitted);
        cairn__edits_free(&deleted);
        cairn__edits_free(&owned);
        owned = next;
        cur = &owned;
        if (rc || level == top)
            break;
        if (owned.n == 0) /* every rewritten node came out the same */
            break;
    }
    cairn__edits_free(&owned);
    if (!rc)
        rc = collapse(&ix, &result);
    if (!rc)
        *new_root = result;
    return rc;
}
