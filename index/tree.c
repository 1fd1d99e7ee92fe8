/* tree.c - node fetching, point lookups, ranks, walks and rule checks. */
#include "alloc.h"
#include "tree.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "chunker.h"
#include "error.h"
#include "id.h"

static cairn_id empty_root;
static pthread_once_t empty_root_once = PTHREAD_ONCE_INIT;

static void empty_root_init(void)
{
    cairn__empty_root_id(&empty_root);
}

/* The empty tree needs no stored blob: every reader knows its bytes. */
bool cairn__is_empty_root(const cairn_id *id)
{
    pthread_once(&empty_root_once, empty_root_init);
    return cairn__id_eq(id, &empty_root);
}

/* Decodes a blob read from the stack (or pending) into a cached node. */
static int decode_and_cache(const cairn_index *ix, const cairn_id *id, const void *bytes,
                            size_t len, cairn_node **out)
{
    cairn_node *nd;
    int rc;
    if ((rc = cairn__node_decode(id, bytes, len, &nd)))
        return rc;
    *out = cairn__cache_put(ix->cache, nd);
    return 0;
}

/* Reads node id from the pending blobs or the stack, decodes and caches it.
 * OUT: *out, pinned. */
static int fetch_uncached(const cairn_index *ix, const cairn_id *id, cairn_node **out)
{
    const cairn_blob *pending;
    cairn_buf buf = {0};
    int rc;

    if (cairn__is_empty_root(id))
        return decode_and_cache(ix, id, cairn__empty_node_bytes,
                                sizeof(cairn__empty_node_bytes), out);
    if ((pending = cairn__blobset_get(ix->pending, id)))
        return decode_and_cache(ix, id, pending->data, pending->len, out);
    if ((rc = cairn__stack_get(ix->stack, id, &buf)))
        return rc;
    rc = decode_and_cache(ix, id, buf.data, buf.len, out);
    cairn__free(buf.data);
    return rc;
}

int cairn__node_fetch(const cairn_index *ix, const cairn_id *id, cairn_node **out)
{
    if ((*out = cairn__cache_get(ix->cache, id)))
        return 0;
    return fetch_uncached(ix, id, out);
}

int cairn__node_fetch_in_section(const cairn_index *ix, const cairn_id *id, cairn_node **out)
{
    int rc;

    if ((*out = cairn__cache_lookup(ix->cache, id)))
        return 0;
    if ((rc = fetch_uncached(ix, id, out)))
        return rc;
    /* Just cached: the cache's own reference is dropped no sooner than
     * every section open now has ended, this one included. */
    cairn__node_release(*out);
    return 0;
}

int cairn__child_check(const cairn_node *parent, uint32_t i, const cairn_node *child)
{
    const cairn_entry *e = &parent->e[i];
    const char *what = NULL;
    char hex[13], chex[13];

    /* The child is named by its hash, so a pair that matched once always
     * will: warm descents skip the comparisons. */
    if (atomic_load_explicit(&parent->e[i].checked, memory_order_relaxed))
        return 0;
    if (child->level + 1 != parent->level)
        what = "is not one level below it";
    else if (child->n == 0)
        what = "is empty";
    else if (cairn__bytes_cmp(cairn__node_key(child, 0), child->e[0].key_len,
                              parent->bytes + e->key_off, e->key_len) != 0)
        what = "does not start with the key its entry gives";
    else if (child->count != cairn__entry_count(parent, i))
        what = "holds another number of keys than its entry says";
    if (!what) {
        atomic_store_explicit((_Atomic uint8_t *)&parent->e[i].checked, 1, memory_order_relaxed);
        return 0;
    }
    return cairn__fail(CAIRN_CORRUPT, "node %s: child %u (%s) %s",
                       cairn__id_short(&parent->id, hex), i, cairn__id_short(&child->id, chex),
                       what);
}

int cairn__child_fetch(const cairn_index *ix, const cairn_node *parent, uint32_t i,
                       cairn_node **out)
{
    cairn_node *child;
    int rc;

    *out = NULL;
    if ((rc = cairn__node_fetch(ix, cairn__node_child(parent, i), &child)))
        return rc;
    if ((rc = cairn__child_check(parent, i, child))) {
        cairn__node_release(child);
        return rc;
    }
    *out = child;
    return 0;
}

/* cairn__child_fetch inside a read section: the child is not pinned.
 * Inlined into descend, the point reads' hot loop. */
static inline int child_in_section(const cairn_index *ix, const cairn_node *parent, uint32_t i,
                                   cairn_node **out)
{
    int rc;
    if ((rc = cairn__node_fetch_in_section(ix, cairn__node_child(parent, i), out)))
        return rc;
    return cairn__child_check(parent, i, *out);
}

int cairn__child_fetch_in_section(const cairn_index *ix, const cairn_node *parent, uint32_t i,
                                  cairn_node **out)
{
    return child_in_section(ix, parent, i, out);
}

void cairn__node_prefetch(const cairn_index *ix, const cairn_id *ids, size_t n)
{
    cairn_id *want = cairn__malloc((n ? n : 1) * sizeof(*want));
    cairn_buf *bufs = cairn__calloc(n ? n : 1, sizeof(*bufs));
    size_t i, m = 0;

    if (!want || !bufs)
        goto done; /* advisory: the real fetch will read what it needs */
    for (i = 0; i < n; i++) {
        cairn_node *nd = cairn__cache_get(ix->cache, &ids[i]);
        if (nd)
            cairn__node_release(nd);
        else if (!cairn__blobset_get(ix->pending, &ids[i]))
            want[m++] = ids[i];
    }
    if (m == 0 || cairn__stack_get_many(ix->stack, want, m, bufs) != 0)
        goto done; /* advisory: the real fetch reports errors */
    for (i = 0; i < m; i++) {
        cairn_node *nd;
        if (bufs[i].data && decode_and_cache(ix, &want[i], bufs[i].data, bufs[i].len, &nd) == 0)
            cairn__node_release(nd);
        cairn__free(bufs[i].data);
    }
done:
    cairn__free(bufs);
    cairn__free(want);
    cairn__detail_clear();
}

int cairn__bytes_append(cairn_bytes *b, const void *data, size_t len, uint32_t *off)
{
    if (b->len + len > UINT32_MAX)
        return cairn__fail(CAIRN_NOMEM, "a batch larger than 4 GiB");
    /* Allocated even for an empty first item, so that items (an empty key
     * too) always point into storage, never at NULL + 0. */
    if (!b->data || b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        uint8_t *p;
        while (cap < b->len + len)
            cap *= 2;
        if (!(p = cairn__realloc(b->data, cap)))
            return cairn__fail(CAIRN_NOMEM, "growing a batch to %zu bytes", cap);
        b->data = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    *off = (uint32_t)b->len;
    b->len += len;
    return 0;
}

void cairn__bytes_free(cairn_bytes *b)
{
    cairn__free(b->data);
    memset(b, 0, sizeof(*b));
}

int cairn__edits_add(cairn_edits *e, const void *key, size_t key_len, const void *val,
                     size_t val_len, bool is_ref, bool is_del)
{
    cairn_edit *ed;
    int rc;

    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        cairn_edit *v = cairn__realloc(e->v, cap * sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "growing a batch to %zu edits", cap);
        e->v = v;
        e->cap = cap;
    }
    ed = &e->v[e->n];
    memset(ed, 0, sizeof(*ed));
    ed->is_del = is_del;
    ed->is_ref = is_ref;
    ed->key_len = (uint32_t)key_len;
    ed->val_len = is_del ? 0 : (uint32_t)val_len;
    if ((rc = cairn__bytes_append(&e->arena, key, key_len, &ed->key_off)))
        return rc;
    if (!is_del && (rc = cairn__bytes_append(&e->arena, val, val_len, &ed->val_off)))
        return rc;
    e->n++;
    return 0;
}

void cairn__edits_free(cairn_edits *e)
{
    cairn__free(e->v);
    cairn__bytes_free(&e->arena);
    memset(e, 0, sizeof(*e));
}

/* Descends from root to the leaf that may hold key, inside the caller's
 * read section. */
static int descend(const cairn_index *ix, cairn_node *root, const void *key, size_t key_len,
                   cairn_node **leaf, uint64_t *rank)
{
    cairn_node *nd = root;
    uint64_t before = 0;
    int rc;

    while (nd->level > 0) {
        uint32_t i = cairn__node_child_for(nd, key, key_len);
        before += cairn__entry_before(nd, i);
        if ((rc = child_in_section(ix, nd, i, &nd)))
            return rc;
    }
    *leaf = nd;
    if (rank)
        *rank = before;
    return 0;
}

int cairn__tree_find_in(const cairn_index *ix, cairn_node *root, const void *key,
                        size_t key_len, cairn_node **leaf, uint32_t *pos)
{
    cairn_node *nd;
    uint32_t i;
    int rc;

    *leaf = NULL;
    cairn__ebr_enter();
    if ((rc = descend(ix, root, key, key_len, &nd, NULL)))
        goto out;
    i = cairn__node_lower_bound(nd, key, key_len);
    if (i == nd->n ||
        cairn__bytes_cmp(cairn__node_key(nd, i), nd->e[i].key_len, key, key_len) != 0) {
        rc = CAIRN_NOTFOUND;
        goto out;
    }
    cairn__node_pin(nd);
    *leaf = nd;
    *pos = i;
out:
    cairn__ebr_exit();
    return rc;
}

int cairn__tree_find(const cairn_index *ix, const cairn_id *root, const void *key,
                     size_t key_len, cairn_node **leaf, uint32_t *pos)
{
    cairn_node *rn;
    int rc;

    *leaf = NULL;
    if ((rc = cairn__node_fetch(ix, root, &rn)))
        return rc;
    rc = cairn__tree_find_in(ix, rn, key, key_len, leaf, pos);
    cairn__node_release(rn);
    return rc;
}

/* Moves each of the n cursors at[i] one level down towards keys[i]:
 * children found in the cache are taken at once; the others are read
 * together (one batch, duplicates once) and then taken. Inside the
 * caller's read section. */
static int descend_level(const cairn_index *ix, const cairn_val *keys, size_t n,
                         cairn_node **at)
{
    uint32_t child[CAIRN_FIND_BATCH];
    cairn_id want[CAIRN_FIND_BATCH];
    size_t waiting[CAIRN_FIND_BATCH], n_waiting = 0, n_want = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        const cairn_id *id;
        cairn_node *nd;

        child[i] = cairn__node_child_for(at[i], keys[i].data, keys[i].len);
        id = cairn__node_child(at[i], child[i]);
        if ((nd = cairn__cache_lookup(ix->cache, id))) {
            if ((rc = cairn__child_check(at[i], child[i], nd)))
                return rc;
            at[i] = nd;
            continue;
        }
        waiting[n_waiting++] = i;
        size_t j = 0;
        while (j < n_want && !cairn__id_eq(&want[j], id))
            j++;
        if (j == n_want)
            want[n_want++] = *id;
    }
    if (n_want > 1)
        cairn__node_prefetch(ix, want, n_want);
    /* What the batch could not read (or the cache already dropped again)
     * is fetched one by one, which reports its error. */
    for (size_t w = 0; w < n_waiting; w++) {
        size_t i = waiting[w];
        if ((rc = child_in_section(ix, at[i], child[i], &at[i])))
            return rc;
    }
    return 0;
}

/* Up to CAIRN_FIND_BATCH keys: the descent, then the calls. */
static int find_batch(const cairn_index *ix, cairn_node *root, const cairn_val *keys, size_t n,
                      size_t first, cairn_found_fn fn, void *ctx)
{
    cairn_node *at[CAIRN_FIND_BATCH];
    uint32_t pos[CAIRN_FIND_BATCH];
    int rc = 0;

    cairn__ebr_enter();
    for (size_t i = 0; i < n; i++)
        at[i] = root;
    for (unsigned level = root->level; level > 0 && !rc; level--)
        rc = descend_level(ix, keys, n, at);
    for (size_t i = 0; i < n && !rc; i++) {
        pos[i] = cairn__node_lower_bound(at[i], keys[i].data, keys[i].len);
        if (pos[i] == at[i]->n || cairn__bytes_cmp(cairn__node_key(at[i], pos[i]),
                                                   at[i]->e[pos[i]].key_len, keys[i].data,
                                                   keys[i].len) != 0)
            at[i] = NULL;
        else
            cairn__node_pin(at[i]); /* fn runs outside the section */
    }
    cairn__ebr_exit();
    if (rc)
        return rc; /* nothing pinned yet: pins are taken after the descent */
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            rc = fn(ctx, first + i, at[i], at[i] ? pos[i] : 0);
        if (at[i])
            cairn__node_release(at[i]);
    }
    return rc;
}

int cairn__tree_find_many(const cairn_index *ix, cairn_node *root, const cairn_val *keys,
                          size_t n, cairn_found_fn fn, void *ctx)
{
    int rc = 0;

    for (size_t first = 0; first < n && !rc; first += CAIRN_FIND_BATCH) {
        size_t m = n - first < CAIRN_FIND_BATCH ? n - first : CAIRN_FIND_BATCH;
        rc = find_batch(ix, root, keys + first, m, first, fn, ctx);
    }
    return rc;
}

int cairn__tree_rank(const cairn_index *ix, const cairn_id *root, const void *key,
                     size_t key_len, uint64_t *out)
{
    cairn_node *rn, *leaf;
    uint64_t before;
    int rc;

    cairn__ebr_enter();
    if ((rc = cairn__node_fetch_in_section(ix, root, &rn)))
        goto out;
    if (!key) {
        *out = rn->count;
        goto out;
    }
    if ((rc = descend(ix, rn, key, key_len, &leaf, &before)))
        goto out;
    *out = before + cairn__node_lower_bound(leaf, key, key_len);
out:
    cairn__ebr_exit();
    return rc;
}

int cairn__tree_key_at(const cairn_index *ix, cairn_node *root, uint64_t rank,
                       cairn_node **leaf, uint32_t *pos)
{
    cairn_node *nd = root;
    int rc = 0;

    *leaf = NULL;
    if (rank >= root->count)
        return CAIRN_NOTFOUND;
    cairn__ebr_enter();
    while (nd->level > 0) {
        /* The child holding the rank-th key: the last i with before[i] <=
         * rank. Children are never empty (cairn__child_check), so before[]
         * strictly ascends and the search is exact. */
        uint32_t lo = 0, hi = nd->n;
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (nd->before[mid] <= rank)
                lo = mid;
            else
                hi = mid;
        }
        rank -= nd->before[lo];
        if ((rc = child_in_section(ix, nd, lo, &nd)))
            goto out;
    }
    /* The child checks matched every count on the way down, so the rank
     * left falls inside this leaf; the test costs nothing and keeps a
     * mistake from reading past the entries. */
    if (rank >= nd->n) {
        char hex[13];
        rc = cairn__fail(CAIRN_CORRUPT, "leaf %s: rank %" PRIu64 " beyond its %u keys",
                         cairn__id_short(&nd->id, hex), rank, nd->n);
        goto out;
    }
    cairn__node_pin(nd);
    *leaf = nd;
    *pos = (uint32_t)rank;
out:
    cairn__ebr_exit();
    return rc;
}

/* Depth-first walk from nd (pinned; released here); is_last tells whether
 * nd is the rightmost node of its level. */
static int walk(const cairn_index *ix, cairn_node *nd, bool is_last, cairn_node_visitor fn,
                void *ctx)
{
    uint32_t i;
    int rc;

    rc = fn(ctx, nd, is_last);
    for (i = 0; !rc && nd->level > 0 && i < nd->n; i++) {
        cairn_node *child;
        if ((rc = cairn__child_fetch(ix, nd, i, &child)))
            break;
        rc = walk(ix, child, is_last && i + 1 == nd->n, fn, ctx);
    }
    cairn__node_release(nd);
    return rc;
}

int cairn__tree_walk(const cairn_index *ix, const cairn_id *root, cairn_node_visitor fn,
                     void *ctx)
{
    cairn_node *nd;
    int rc;

    if ((rc = cairn__node_fetch(ix, root, &nd)))
        return rc;
    return walk(ix, nd, true, fn, ctx);
}

bool cairn__node_obeys_rule(const cairn_node *nd, uint32_t node_size, bool is_last)
{
    cairn_chunker ch;
    cairn_item it;
    uint32_t i;

    cairn__chunker_init(&ch, node_size, nd->level);
    for (i = 0; i < nd->n; i++) {
        bool ends;
        cairn__node_item(nd, i, &it);
        ends = cairn__chunker_add(&ch, it.key, it.key_len, cairn__item_size(nd->level, &it));
        if (ends != (i + 1 == nd->n) && !(is_last && !ends))
            return false;
    }
    return true;
}

/* The out-of-line case of cairn__value_load (tree.h). */
int cairn__value_load_ref(const cairn_index *ix, const cairn_node *leaf, uint32_t pos,
                          cairn_buf *scratch, cairn_val *val)
{
    const cairn_entry *e = &leaf->e[pos];
    const cairn_blob *pending;
    int rc;

    cairn__free(scratch->data);
    scratch->data = NULL;
    if ((pending = cairn__blobset_get(ix->pending, (const cairn_id *)(leaf->bytes + e->val_off)))) {
        val->data = pending->data;
        val->len = pending->len;
        return 0;
    }
    if ((rc = cairn__stack_get(ix->stack, (const cairn_id *)(leaf->bytes + e->val_off), scratch)))
        return rc;
    val->data = scratch->data;
    val->len = scratch->len;
    return 0;
}
