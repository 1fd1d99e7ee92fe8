/*
 * snapshot.c - read-only versions: point reads, counts, keyspaces,
 * iterators and diffs.
 *
 * A snapshot is a commit's catalog root plus a small cache of resolved
 * keyspace roots. Everything it returns points into pinned cache nodes (or
 * into its scratch buffer for out-of-line values), which is why results
 * stay valid until the next call on the same handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytes.h"
#include "cursor.h"
#include "diff.h"
#include "engine.h"
#include "error.h"
#include "id.h"

#define SPACE_CACHE 8
/* Leaves an iterator reads ahead, in one batch, when it meets one that is
 * not cached (cold scans; see cursor.c). */
#define ITER_PREFETCH 32

struct cairn_snapshot {
    cairn_db *db;
    bool has_commit;
    cairn_id commit;
    cairn_id catalog;
    struct {
        char name[CAIRN_NAME_MAX + 1];
        cairn_id root;
        cairn_node *root_node; /* pinned on first read, so reads skip one lookup */
    } spaces[SPACE_CACHE];
    unsigned n_spaces, next_slot;
    cairn_node *pinned; /* leaf behind the last cairn_get result */
    cairn_buf scratch;  /* out-of-line value behind the last result */
};

struct cairn_iter {
    cairn_snapshot *snap;
    cairn_cursor cur;
    bool reverse;
    bool positioned;    /* a seek or the first next has placed the cursor */
    bool step_owed;     /* move before returning the next entry */
    int err;            /* sticky: after a failure every call returns it */
    char detail[1024];  /* ... with the detail of the first failure */
    uint8_t *lo, *hi;   /* copies of the bounds; NULL = unbounded */
    size_t lo_len, hi_len;
    /* A prefixed iterator (cairn__iter_open_prefixed): every key in range
     * starts with the strip bytes of lo, which are hidden from the caller
     * (cut from keys returned, put before keys sought). 0: none. */
    size_t strip;
    cairn_buf scratch;
};

struct cairn_diff {
    cairn_tree_diff td;
};

int cairn__check_space_name(const char *space)
{
    if (space == CAIRN_CATALOG)
        return cairn__fail(CAIRN_BADARG, "CAIRN_CATALOG is not a keyspace (only "
                                         "cairn_snapshot_root takes it)");
    if (space && strlen(space) > CAIRN_NAME_MAX)
        return cairn__fail(CAIRN_BADARG, "keyspace name longer than %d bytes", CAIRN_NAME_MAX);
    return 0;
}

int cairn__space_root(const cairn_index *ix, const cairn_id *catalog, const char *space,
                      cairn_id *root)
{
    cairn_node *leaf;
    uint32_t pos;
    int rc;

    if (!space)
        space = "";
    rc = cairn__tree_find(ix, catalog, space, strlen(space), &leaf, &pos);
    if (rc == CAIRN_NOTFOUND) {
        cairn__empty_root_id(root);
        return 0;
    }
    if (rc)
        return rc;
    if (leaf->e[pos].is_ref || leaf->e[pos].val_len != 32) {
        char hex[13];
        cairn__node_release(leaf);
        return cairn__fail(CAIRN_CORRUPT, "catalog %s: keyspace '%s' has no 32-byte root",
                           cairn__id_short(catalog, hex), space);
    }
    memcpy(root->bytes, leaf->bytes + leaf->e[pos].val_off, 32);
    cairn__node_release(leaf);
    return 0;
}

int cairn__catalog_each(const cairn_index *ix, const cairn_id *catalog, cairn__space_fn fn,
                        void *ctx)
{
    cairn_cursor cur;
    int rc;

    if ((rc = cairn__cursor_open(&cur, ix, catalog, 0)))
        return rc;
    for (rc = cairn__cursor_first(&cur); !rc && cur.valid; rc = cairn__cursor_next(&cur)) {
        const cairn_node *nd = cairn__cursor_node(&cur);
        const cairn_entry *e = &nd->e[cairn__cursor_pos(&cur)];
        if (e->is_ref || e->val_len != 32) {
            rc = cairn__fail(CAIRN_CORRUPT, "catalog entry without a 32-byte root");
            break;
        }
        if ((rc = fn(ctx, nd->bytes + e->key_off, e->key_len,
                     (const cairn_id *)(nd->bytes + e->val_off))))
            break;
    }
    cairn__cursor_close(&cur);
    return rc;
}

int cairn__tree_count(const cairn_index *ix, const cairn_id *root, uint64_t *count)
{
    return cairn__tree_rank(ix, root, NULL, 0, count);
}

/* ---- snapshots --------------------------------------------------------- */

int cairn_snapshot_open_commit(cairn_db *db, const cairn_id *commit, cairn_snapshot **out)
{
    cairn_commit_info info;
    cairn_snapshot *snap;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if ((rc = cairn_commit_get(db, commit, &info)))
        return rc;
    if (!(snap = cairn__calloc(1, sizeof(*snap)))) {
        cairn_commit_info_clear(&info);
        return CAIRN_NOMEM;
    }
    snap->db = db;
    snap->has_commit = true;
    snap->commit = *commit;
    snap->catalog = info.catalog;
    cairn_commit_info_clear(&info);
    *out = snap;
    return 0;
}

int cairn_snapshot_open(cairn_db *db, const char *at, cairn_snapshot **out)
{
    cairn_snapshot *snap;
    cairn_id commit;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    rc = cairn_resolve(db, at, &commit);
    if (rc == 0)
        return cairn_snapshot_open_commit(db, &commit, out);
    /* A branch that has no commit yet reads as empty. */
    if (rc != CAIRN_NOTFOUND || (at && strcmp(at, CAIRN_DEFAULT_BRANCH) != 0))
        return rc;
    cairn__detail_clear();
    if (!(snap = cairn__calloc(1, sizeof(*snap))))
        return CAIRN_NOMEM;
    snap->db = db;
    cairn__empty_root_id(&snap->catalog);
    *out = snap;
    return 0;
}

void cairn_snapshot_close(cairn_snapshot *snap)
{
    unsigned i;

    if (!snap)
        return;
    for (i = 0; i < snap->n_spaces; i++)
        cairn__node_release(snap->spaces[i].root_node);
    cairn__node_release(snap->pinned);
    cairn__free(snap->scratch.data);
    cairn__free(snap);
}

bool cairn_snapshot_commit(const cairn_snapshot *snap, cairn_id *out)
{
    if (snap->has_commit)
        *out = snap->commit;
    return snap->has_commit;
}

/* The cache slot of keyspace space, filling it on a miss. */
static int snap_space(cairn_snapshot *snap, const char *space, unsigned *slot)
{
    cairn_id root;
    unsigned i;
    int rc;

    if (!space)
        space = "";
    if (space == CAIRN_CATALOG)
        return cairn__check_space_name(space);
    for (i = 0; i < snap->n_spaces; i++) {
        if (strcmp(snap->spaces[i].name, space) == 0) {
            *slot = i;
            return 0;
        }
    }
    if ((rc = cairn__check_space_name(space)) ||
        (rc = cairn__space_root(&snap->db->ix, &snap->catalog, space, &root)))
        return rc;
    i = snap->next_slot;
    snap->next_slot = (snap->next_slot + 1) % SPACE_CACHE;
    if (snap->n_spaces < SPACE_CACHE)
        snap->n_spaces++;
    cairn__node_release(snap->spaces[i].root_node);
    snap->spaces[i].root_node = NULL;
    strcpy(snap->spaces[i].name, space);
    snap->spaces[i].root = root;
    *slot = i;
    return 0;
}

/* The root of keyspace space. */
static int snap_space_root(cairn_snapshot *snap, const char *space, cairn_id *root)
{
    unsigned slot;
    int rc;
    if ((rc = snap_space(snap, space, &slot)))
        return rc;
    *root = snap->spaces[slot].root;
    return 0;
}

/* The pinned root node of keyspace space. */
static int snap_space_node(cairn_snapshot *snap, const char *space, cairn_node **node)
{
    unsigned slot;
    int rc;
    if ((rc = snap_space(snap, space, &slot)))
        return rc;
    if (!snap->spaces[slot].root_node &&
        (rc = cairn__node_fetch(&snap->db->ix, &snap->spaces[slot].root,
                                &snap->spaces[slot].root_node)))
        return rc;
    *node = snap->spaces[slot].root_node;
    return 0;
}

int cairn_snapshot_root(cairn_snapshot *snap, const char *space, cairn_id *out)
{
    cairn__detail_clear();
    if (space == CAIRN_CATALOG) {
        *out = snap->catalog;
        return 0;
    }
    return snap_space_root(snap, space, out);
}

int cairn_get(cairn_snapshot *snap, const char *space, const void *key, size_t key_len,
              cairn_val *val)
{
    cairn_node *leaf, *root;
    uint32_t pos;
    int rc;

    cairn__detail_clear();
    if (key_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "key of %zu bytes (the limit is %d)", key_len,
                           CAIRN_KEY_MAX);
    if ((rc = snap_space_node(snap, space, &root)))
        return rc;
    if ((rc = cairn__tree_find_in(&snap->db->ix, root, key, key_len, &leaf, &pos)))
        return rc;
    cairn__node_release(snap->pinned);
    snap->pinned = leaf;
    return cairn__value_load(&snap->db->ix, leaf, pos, &snap->scratch, val);
}

typedef struct get_many_ctx {
    cairn_snapshot *snap;
    cairn_get_fn fn;
    void *ctx;
} get_many_ctx;

static int get_many_found(void *arg, size_t i, const cairn_node *leaf, uint32_t pos)
{
    get_many_ctx *g = arg;
    cairn_val val;
    int rc;

    if (!leaf)
        return g->fn(g->ctx, i, NULL);
    if ((rc = cairn__value_load(&g->snap->db->ix, leaf, pos, &g->snap->scratch, &val)))
        return rc;
    return g->fn(g->ctx, i, &val);
}

int cairn_get_many(cairn_snapshot *snap, const char *space, const cairn_val *keys, size_t n,
                   cairn_get_fn fn, void *ctx)
{
    get_many_ctx g = {snap, fn, ctx};
    cairn_node *root;
    int rc;

    cairn__detail_clear();
    if (n && (!keys || !fn))
        return cairn__fail(CAIRN_BADARG, "get_many: NULL keys or callback for %zu keys", n);
    if ((rc = snap_space_node(snap, space, &root)))
        return rc;
    /* fn may read other keyspaces of snap, whose roots may take this
     * one's slot in the snapshot's cache: the root stays pinned here. */
    cairn__node_pin(root);
    rc = cairn__tree_find_many(&snap->db->ix, root, keys, n, get_many_found, &g);
    cairn__node_release(root);
    return rc;
}

int cairn_count(cairn_snapshot *snap, const char *space, const void *lo, size_t lo_len,
                const void *hi, size_t hi_len, uint64_t *count)
{
    uint64_t below_lo = 0, below_hi;
    cairn_id root;
    int rc;

    cairn__detail_clear();
    if ((rc = snap_space_root(snap, space, &root)))
        return rc;
    if ((lo && (rc = cairn__tree_rank(&snap->db->ix, &root, lo, lo_len, &below_lo))) ||
        (rc = cairn__tree_rank(&snap->db->ix, &root, hi, hi_len, &below_hi)))
        return rc;
    *count = below_hi > below_lo ? below_hi - below_lo : 0;
    return 0;
}

int cairn_key_at(cairn_snapshot *snap, const char *space, uint64_t rank, cairn_val *key,
                 cairn_val *val)
{
    cairn_node *leaf, *root;
    uint32_t pos;
    int rc;

    cairn__detail_clear();
    if ((rc = snap_space_node(snap, space, &root)))
        return rc;
    if ((rc = cairn__tree_key_at(&snap->db->ix, root, rank, &leaf, &pos)))
        return rc;
    cairn__node_release(snap->pinned);
    snap->pinned = leaf;
    if (val && (rc = cairn__value_load(&snap->db->ix, leaf, pos, &snap->scratch, val)))
        return rc;
    key->data = cairn__node_key(leaf, pos);
    key->len = leaf->e[pos].key_len;
    return 0;
}

typedef struct space_list_ctx {
    const cairn_index *ix;
    cairn_space_visitor fn;
    void *ctx;
} space_list_ctx;

static int list_space(void *ctx, const uint8_t *name, size_t name_len, const cairn_id *root)
{
    space_list_ctx *sl = ctx;
    char buf[CAIRN_NAME_MAX + 1];
    uint64_t count;
    int rc;

    if (name_len > CAIRN_NAME_MAX)
        return cairn__fail(CAIRN_CORRUPT, "keyspace name longer than %d bytes", CAIRN_NAME_MAX);
    memcpy(buf, name, name_len);
    buf[name_len] = '\0';
    if ((rc = cairn__tree_count(sl->ix, root, &count)))
        return rc;
    return sl->fn(sl->ctx, buf, count);
}

int cairn_space_list(cairn_snapshot *snap, cairn_space_visitor fn, void *ctx)
{
    space_list_ctx sl = {&snap->db->ix, fn, ctx};
    cairn__detail_clear();
    return cairn__catalog_each(&snap->db->ix, &snap->catalog, list_space, &sl);
}

/* ---- iterators --------------------------------------------------------- */

static int copy_bound(const void *key, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!key)
        return 0;
    if (len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "range bound of %zu bytes", len);
    if (!(*out = cairn__malloc(len ? len : 1)))
        return CAIRN_NOMEM;
    memcpy(*out, key, len);
    *out_len = len;
    return 0;
}

int cairn_iter_open(cairn_snapshot *snap, const char *space, const void *lo, size_t lo_len,
                    const void *hi, size_t hi_len, unsigned flags, cairn_iter **out)
{
    cairn_iter *it;
    cairn_id root;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if (flags & ~CAIRN_ITER_REVERSE)
        return cairn__fail(CAIRN_BADARG, "unknown iterator flags 0x%x", flags);
    if ((rc = snap_space_root(snap, space, &root)))
        return rc;
    if (!(it = cairn__calloc(1, sizeof(*it))))
        return CAIRN_NOMEM;
    it->snap = snap;
    it->reverse = flags & CAIRN_ITER_REVERSE;
    if ((rc = copy_bound(lo, lo_len, &it->lo, &it->lo_len)) ||
        (rc = copy_bound(hi, hi_len, &it->hi, &it->hi_len)) ||
        (rc = cairn__cursor_open(&it->cur, &snap->db->ix, &root, 0))) {
        cairn__free(it->lo);
        cairn__free(it->hi);
        cairn__free(it);
        return rc;
    }
    it->cur.prefetch = ITER_PREFETCH;
    it->cur.dir = it->reverse ? -1 : 1;
    *out = it;
    return 0;
}

/* The least key above every key that starts with prefix[0..len): the
 * prefix with its last byte below 0xff raised by one and the bytes after it
 * dropped. OUT: *succ_len. Returns false if there is none (every byte is
 * 0xff: no key above them all). */
static bool prefix_successor(const uint8_t *prefix, size_t len, uint8_t *succ, size_t *succ_len)
{
    while (len > 0 && prefix[len - 1] == 0xff)
        len--;
    if (len == 0)
        return false;
    memcpy(succ, prefix, len);
    succ[len - 1]++;
    *succ_len = len;
    return true;
}

int cairn__iter_open_prefixed(cairn_snapshot *snap, const char *space, const void *prefix,
                              size_t prefix_len, const void *from, size_t from_len,
                              cairn_iter **out)
{
    uint8_t lo[CAIRN_KEY_MAX], hi[CAIRN_KEY_MAX];
    size_t hi_len = 0;
    bool bounded;
    int rc;

    *out = NULL;
    if (prefix_len == 0)
        return cairn__fail(CAIRN_BADARG, "a prefixed iterator without a prefix");
    if (prefix_len + from_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "a start of %zu bytes after a prefix of %zu: longer "
                                            "than the key limit (%d)",
                           from_len, prefix_len, CAIRN_KEY_MAX);
    memcpy(lo, prefix, prefix_len);
    if (from_len)
        memcpy(lo + prefix_len, from, from_len);
    bounded = prefix_successor(prefix, prefix_len, hi, &hi_len);
    if ((rc = cairn_iter_open(snap, space, lo, prefix_len + from_len, bounded ? hi : NULL,
                              hi_len, 0, out)))
        return rc;
    (*out)->strip = prefix_len;
    return 0;
}

void cairn_iter_close(cairn_iter *it)
{
    if (!it)
        return;
    cairn__cursor_close(&it->cur);
    cairn__free(it->lo);
    cairn__free(it->hi);
    cairn__free(it->scratch.data);
    cairn__free(it);
}

static int cursor_cmp(const cairn_cursor *c, const void *key, size_t key_len)
{
    const cairn_node *nd = cairn__cursor_node(c);
    uint32_t i = cairn__cursor_pos(c);
    return cairn__bytes_cmp(cairn__node_key(nd, i), nd->e[i].key_len, key, key_len);
}

/* Places the cursor on the first entry at or after key in the iterator's
 * direction (key NULL: the start of its range). */
static int iter_place(cairn_iter *it, const void *key, size_t key_len)
{
    int rc;

    if (!it->reverse) {
        if (!key || (it->lo && cairn__bytes_cmp(key, key_len, it->lo, it->lo_len) < 0)) {
            key = it->lo;
            key_len = it->lo_len;
        }
        rc = key ? cairn__cursor_seek_ge(&it->cur, key, key_len) : cairn__cursor_first(&it->cur);
    } else {
        bool exclusive = false;
        if (!key || (it->hi && cairn__bytes_cmp(key, key_len, it->hi, it->hi_len) >= 0)) {
            key = it->hi;
            key_len = it->hi_len;
            exclusive = true;
        }
        rc = key ? cairn__cursor_seek_le(&it->cur, key, key_len) : cairn__cursor_last(&it->cur);
        if (!rc && key && exclusive && it->cur.valid && cursor_cmp(&it->cur, key, key_len) == 0)
            rc = cairn__cursor_prev(&it->cur);
    }
    it->positioned = true;
    it->step_owed = false;
    return rc;
}

/* Makes a failure sticky: the iterator may have lost its place (a leaf it
 * could not load), so it must neither go on from elsewhere nor skip. */
static int iter_fail(cairn_iter *it, int rc)
{
    if (!it->err) {
        it->err = rc;
        snprintf(it->detail, sizeof(it->detail), "%s", cairn_errdetail());
    }
    return cairn__fail(it->err, "%s", it->detail[0] ? it->detail : "the iterator failed earlier");
}

/* Seeks a prefixed iterator to the prefix followed by key. */
static int seek_prefixed(cairn_iter *it, const void *key, size_t key_len)
{
    uint8_t full[CAIRN_KEY_MAX];
    int rc;

    if (key_len > CAIRN_KEY_MAX - it->strip)
        return cairn__fail(CAIRN_KEYTOOBIG, "seek to a field of %zu bytes: with the %zu bytes "
                                            "of its hash's prefix it would be longer than "
                                            "the key limit (%d)",
                           key_len, it->strip, CAIRN_KEY_MAX);
    memcpy(full, it->lo, it->strip);
    if (key_len)
        memcpy(full + it->strip, key, key_len);
    if ((rc = iter_place(it, full, it->strip + key_len)))
        return iter_fail(it, rc);
    return 0;
}

int cairn_iter_seek(cairn_iter *it, const void *key, size_t key_len)
{
    int rc;

    cairn__detail_clear();
    if (it->err)
        return iter_fail(it, it->err);
    if (it->strip)
        return seek_prefixed(it, key, key_len);
    if (key_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "seek key of %zu bytes", key_len);
    if ((rc = iter_place(it, key ? key : "", key_len)))
        return iter_fail(it, rc);
    return 0;
}

int cairn_iter_next(cairn_iter *it, cairn_val *key, cairn_val *val)
{
    const cairn_node *nd;
    uint32_t i;
    int rc;

    cairn__detail_clear();
    if (it->err)
        return iter_fail(it, it->err);
    if (!it->positioned && (rc = iter_place(it, NULL, 0)))
        return iter_fail(it, rc);
    if (it->step_owed) {
        rc = it->reverse ? cairn__cursor_prev(&it->cur) : cairn__cursor_next(&it->cur);
        if (rc)
            return iter_fail(it, rc);
        it->step_owed = false;
    }
    if (!it->cur.valid)
        return CAIRN_NOTFOUND;
    if (!it->reverse && it->hi && cursor_cmp(&it->cur, it->hi, it->hi_len) >= 0)
        return CAIRN_NOTFOUND;
    if (it->reverse && it->lo && cursor_cmp(&it->cur, it->lo, it->lo_len) < 0)
        return CAIRN_NOTFOUND;
    nd = cairn__cursor_node(&it->cur);
    i = cairn__cursor_pos(&it->cur);
    if ((rc = cairn__value_load(&it->snap->db->ix, nd, i, &it->scratch, val)))
        return iter_fail(it, rc);
    /* (In range, a prefixed iterator's keys all hold the prefix.) */
    key->data = cairn__node_key(nd, i) + it->strip;
    key->len = nd->e[i].key_len - it->strip;
    it->step_owed = true;
    return 0;
}

/* ---- diffs ------------------------------------------------------------- */

int cairn_diff_open(cairn_snapshot *a, cairn_snapshot *b, const char *space, cairn_diff **out)
{
    cairn_id root_a, root_b;
    cairn_diff *d;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if (a->db != b->db)
        return cairn__fail(CAIRN_BADARG, "diff of snapshots from two stores");
    if ((rc = snap_space_root(a, space, &root_a)) || (rc = snap_space_root(b, space, &root_b)))
        return rc;
    if (!(d = cairn__calloc(1, sizeof(*d))))
        return CAIRN_NOMEM;
    if ((rc = cairn__tree_diff_open(&d->td, &a->db->ix, &root_a, &root_b))) {
        cairn__free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int cairn_diff_next(cairn_diff *d, cairn_diff_entry *entry)
{
    cairn__detail_clear();
    return cairn__tree_diff_next(&d->td, entry);
}

uint64_t cairn_diff_nodes_read(const cairn_diff *d)
{
    return cairn__tree_diff_nodes_read(&d->td);
}

void cairn_diff_close(cairn_diff *d)
{
    if (!d)
        return;
    cairn__tree_diff_close(&d->td);
    cairn__free(d);
}
