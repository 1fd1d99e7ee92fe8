/* diff.c - see diff.h. */
#include "alloc.h"
#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cache.h"
#include "error.h"
#include "id.h"

static int side_open(cairn_diff_side *s, const cairn_index *ix, const cairn_id *root)
{
    cairn_node *rn;
    int rc;

    memset(s, 0, sizeof(*s));
    s->ix = ix;
    s->level = -1;
    if ((rc = cairn__node_fetch(ix, root, &rn)))
        return rc;
    s->nodes_read = 1;
    s->top = rn->level;
    s->node[s->top] = rn;
    if (rn->n > 0)
        s->level = (int)s->top;
    return 0;
}

static void side_close(cairn_diff_side *s)
{
    uint32_t l;
    for (l = 0; l < CAIRN_MAX_HEIGHT; l++)
        cairn__node_release(s->node[l]);
    cairn__free(s->scratch.data);
    memset(s, 0, sizeof(*s));
    s->level = -1;
}

static const cairn_node *cur_node(const cairn_diff_side *s)
{
    return s->node[s->level];
}

static const cairn_entry *cur_entry(const cairn_diff_side *s)
{
    return &s->node[s->level]->e[s->idx[s->level]];
}

static void cur_key(const cairn_diff_side *s, cairn_val *key)
{
    key->data = cur_node(s)->bytes + cur_entry(s)->key_off;
    key->len = cur_entry(s)->key_len;
}

/* Steps past the current entry; at a node's end, up to the parent's next
 * entry (a whole subtree at once); past the root's last entry, the end. */
static void side_advance(cairn_diff_side *s)
{
    uint32_t l = (uint32_t)s->level;
    while (++s->idx[l] >= s->node[l]->n) {
        if (++l > s->top) {
            s->level = -1;
            return;
        }
    }
    s->level = (int)l;
}

/* Loads the child of the current (internal) entry and stands on its first
 * entry. */
static int side_descend(cairn_diff_side *s)
{
    uint32_t l = (uint32_t)s->level;
    cairn_node *child;
    int rc;

    if ((rc = cairn__child_fetch(s->ix, s->node[l], s->idx[l], &child)))
        return rc;
    s->nodes_read++;
    cairn__node_release(s->node[l - 1]);
    s->node[l - 1] = child;
    s->idx[l - 1] = 0;
    s->level = (int)l - 1;
    return 0;
}

int cairn__tree_diff_open(cairn_tree_diff *d, const cairn_index *ix, const cairn_id *root_a,
                          const cairn_id *root_b)
{
    int rc;

    memset(d, 0, sizeof(*d));
    d->a.level = d->b.level = -1;
    if (cairn__id_eq(root_a, root_b))
        return 0; /* nothing differs; nothing to read */
    if ((rc = side_open(&d->a, ix, root_a)) || (rc = side_open(&d->b, ix, root_b))) {
        cairn__tree_diff_close(d);
        return rc;
    }
    return 0;
}

void cairn__tree_diff_close(cairn_tree_diff *d)
{
    side_close(&d->a);
    side_close(&d->b);
}

uint64_t cairn__tree_diff_nodes_read(const cairn_tree_diff *d)
{
    return d->a.nodes_read + d->b.nodes_read;
}

static bool same_value(const cairn_diff_side *a, const cairn_diff_side *b)
{
    const cairn_entry *ea = cur_entry(a), *eb = cur_entry(b);
    return ea->is_ref == eb->is_ref && ea->val_len == eb->val_len &&
           memcmp(cur_node(a)->bytes + ea->val_off, cur_node(b)->bytes + eb->val_off,
                  ea->val_len) == 0;
}

/* Fills the key and one value of entry from side s's current leaf entry,
 * and owes s a step. */
static int take(cairn_diff_side *s, cairn_diff_entry *entry, cairn_val *val)
{
    cur_key(s, &entry->key);
    s->advance_owed = true;
    return cairn__value_load(s->ix, cur_node(s), s->idx[0], &s->scratch, val);
}

static int diff_step(cairn_tree_diff *d, cairn_diff_entry *entry);

/* A failure is sticky: the walk may have consumed the entry it failed on,
 * and going on would skip it. */
int cairn__tree_diff_next(cairn_tree_diff *d, cairn_diff_entry *entry)
{
    int rc;

    if (d->err)
        return cairn__fail(d->err, "the diff failed earlier");
    rc = diff_step(d, entry);
    if (rc && rc != CAIRN_NOTFOUND)
        d->err = rc;
    return rc;
}

static int diff_step(cairn_tree_diff *d, cairn_diff_entry *entry)
{
    cairn_diff_side *a = &d->a, *b = &d->b;
    int rc = 0;

    memset(entry, 0, sizeof(*entry));
    if (a->advance_owed)
        side_advance(a);
    if (b->advance_owed)
        side_advance(b);
    a->advance_owed = b->advance_owed = false;
    for (;;) {
        cairn_val ka, kb;
        int c;

        if (a->level < 0 && b->level < 0)
            return CAIRN_NOTFOUND;
        if (a->level < 0 || b->level < 0) {
            cairn_diff_side *s = a->level < 0 ? b : a;
            if (s->level > 0) {
                if ((rc = side_descend(s)))
                    return rc;
                continue;
            }
            entry->change = s == a ? CAIRN_REMOVED : CAIRN_ADDED;
            return take(s, entry, s == a ? &entry->old_val : &entry->new_val);
        }
        cur_key(a, &ka);
        cur_key(b, &kb);
        c = cairn__bytes_cmp(ka.data, ka.len, kb.data, kb.len);
        if (c < 0 || c > 0) {
            /* The side that is behind holds keys the other lacks. */
            cairn_diff_side *s = c < 0 ? a : b;
            if (s->level > 0) {
                if ((rc = side_descend(s)))
                    return rc;
                continue;
            }
            entry->change = c < 0 ? CAIRN_REMOVED : CAIRN_ADDED;
            return take(s, entry, c < 0 ? &entry->old_val : &entry->new_val);
        }
        if (a->level == b->level && a->level > 0 &&
            cairn__id_eq(cairn__node_child(cur_node(a), a->idx[a->level]),
                         cairn__node_child(cur_node(b), b->idx[b->level]))) {
            side_advance(a); /* the same subtree on both sides */
            side_advance(b);
            continue;
        }
        if (a->level == 0 && b->level == 0) {
            if (same_value(a, b)) {
                side_advance(a);
                side_advance(b);
                continue;
            }
            entry->change = CAIRN_CHANGED;
            if ((rc = take(a, entry, &entry->old_val)) || (rc = take(b, entry, &entry->new_val)))
                return rc;
            return 0;
        }
        /* Same first key, different subtrees: look inside the taller one
         * (both if they stand at the same level). */
        {
            int la = a->level, lb = b->level;
            if (la >= lb && la > 0 && (rc = side_descend(a)))
                return rc;
            if (lb >= la && lb > 0 && (rc = side_descend(b)))
                return rc;
        }
    }
}
