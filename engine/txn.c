/*
 * txn.c - write transactions.
 *
 * A transaction records puts and deletes per keyspace in memory: a log of
 * operations, plus a hash index from key to its latest operation that is
 * built on the first cairn_txn_get of the keyspace (a write-only batch
 * never pays for it). Values longer than CAIRN_INLINE_MAX become value blobs
 * at once. Commit sorts each keyspace's operations, applies them to that
 * keyspace's tree as one batch, applies the changed keyspace roots to the
 * catalog, writes a commit object, and publishes every new blob together
 * with the branch move (one LMDB transaction for an LMDB primary).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <xxhash.h>

#include "alloc.h"
#include "bytes.h"
#include "engine.h"
#include "error.h"
#include "id.h"

/* One put or delete, in order of arrival. */
typedef struct op {
    uint32_t key_off, key_len;
    uint32_t val_off, val_len; /* value bytes, or a 32-byte value id */
    bool is_del, is_ref;
} op;

/* The operations on one keyspace. */
typedef struct space_ops {
    char *name;
    op *ops;
    size_t n, cap;
    cairn_bytes arena;  /* keys and values */
    size_t *index;      /* open addressing: op index + 1 of a key's latest op;
                           NULL until the first read of this keyspace */
    size_t n_index;     /* slots */
    size_t n_keys;      /* distinct keys in index */
} space_ops;

struct cairn_txn {
    cairn_db *db;
    char ref[CAIRN_REF_NAME_MAX + 1];
    bool has_parent;
    cairn_commit_info parent;  /* valid if has_parent */
    cairn_id base_catalog;
    int err;                   /* sticky: first error, then CAIRN_TXN_UNUSABLE */
    space_ops *spaces;
    size_t n_spaces;
    cairn_blobset blobs;       /* value blobs now, nodes and commit at commit */
    cairn_node *pinned;        /* leaf behind the last txn_get result */
    cairn_buf scratch;
};

static const uint8_t *op_key(const space_ops *s, const op *o)
{
    return s->arena.data + o->key_off;
}

static int txn_fail(cairn_txn *txn, int rc)
{
    if (!txn->err)
        txn->err = rc;
    return rc;
}

static int check_usable(cairn_txn *txn)
{
    if (!txn)
        return cairn__fail(CAIRN_BADARG, "no transaction");
    if (txn->err)
        return cairn__fail(CAIRN_TXN_UNUSABLE, "an earlier call failed with %s",
                           cairn_errname(txn->err));
    return 0;
}

int cairn__txn_usable(cairn_txn *txn)
{
    return check_usable(txn);
}

int cairn__txn_fail(cairn_txn *txn, int rc)
{
    return txn_fail(txn, rc);
}

int cairn_txn_begin(cairn_db *db, const char *branch, cairn_txn **out)
{
    cairn_txn *txn;
    cairn_id head;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "cannot write: the store was opened read-only");
    if (!branch)
        branch = CAIRN_DEFAULT_BRANCH;
    if ((rc = cairn__check_ref_name("branch", branch)))
        return rc;
    if (!(txn = cairn__calloc(1, sizeof(*txn))))
        return CAIRN_NOMEM;
    txn->db = db;
    cairn__ref_path(CAIRN_BRANCH, branch, txn->ref);

    /* A full write-back queue holds writers back (bounded: flusher.c). */
    if ((rc = cairn__flusher_wait_room(db)))
        goto fail_lock;
    pthread_mutex_lock(&db->mu);
    if (db->txn_open)
        rc = cairn__fail(CAIRN_BUSY, "a write transaction is already open on this store");
    else if (!(rc = cairn__stack_writer_lock(db->stack, true)))
        db->txn_open = true;
    pthread_mutex_unlock(&db->mu);
    if (rc)
        goto fail_lock;

    /* Followers left behind (by a failure, or added behind this store)
     * catch up now, under the lock; if one cannot, it stays behind and the
     * transaction goes on: the primary decides. */
    if (cairn__stack_behind(db->stack) && cairn__followers_catch_up(db, CAIRN__CATCH_UP_WRITE_THROUGH))
        cairn__detail_clear();
    rc = cairn__stack_ref_get(db->stack, txn->ref, &head);
    if (rc == CAIRN_NOTFOUND) {
        /* A new branch: its name must not clash with another ref's. */
        if ((rc = cairn__ref_check_free(db->stack, txn->ref)))
            goto fail_head;
        cairn__empty_root_id(&txn->base_catalog);
    } else if (rc) {
        goto fail_head;
    } else {
        pthread_mutex_lock(&db->mu);
        if (db->has_last && cairn__id_eq(&db->last_commit.id, &head))
            txn->parent = db->last_commit; /* our own latest commit: no need to read it */
        pthread_mutex_unlock(&db->mu);
        if (!cairn__id_eq(&txn->parent.id, &head) &&
            (rc = cairn_commit_get(db, &head, &txn->parent)))
            goto fail_head;
        txn->has_parent = true;
        txn->base_catalog = txn->parent.catalog;
    }
    *out = txn;
    return 0;

fail_head:
    cairn__stack_writer_lock(db->stack, false);
    pthread_mutex_lock(&db->mu);
    db->txn_open = false;
    pthread_mutex_unlock(&db->mu);
fail_lock:
    cairn__free(txn);
    return rc;
}

static space_ops *find_space(cairn_txn *txn, const char *name)
{
    size_t i;
    for (i = 0; i < txn->n_spaces; i++)
        if (strcmp(txn->spaces[i].name, name) == 0)
            return &txn->spaces[i];
    return NULL;
}

static int get_space(cairn_txn *txn, const char *name, space_ops **out)
{
    space_ops *s, *v;
    if ((*out = find_space(txn, name)))
        return 0;
    if (!(v = cairn__realloc(txn->spaces, (txn->n_spaces + 1) * sizeof(*v))))
        return CAIRN_NOMEM;
    txn->spaces = v;
    s = &v[txn->n_spaces];
    memset(s, 0, sizeof(*s));
    if (!(s->name = cairn__strdup(name)))
        return CAIRN_NOMEM;
    txn->n_spaces++;
    *out = s;
    return 0;
}

static size_t index_slot(const space_ops *s, const void *key, size_t key_len)
{
    size_t mask = s->n_index - 1, i = XXH64(key, key_len, 0) & mask;
    while (s->index[i]) {
        const op *o = &s->ops[s->index[i] - 1];
        if (cairn__bytes_cmp(op_key(s, o), o->key_len, key, key_len) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static int index_grow(space_ops *s)
{
    size_t *old = s->index, old_n = s->n_index, i;
    size_t n = old_n ? old_n * 2 : 256;

    if (!(s->index = cairn__calloc(n, sizeof(*s->index)))) {
        s->index = old;
        return CAIRN_NOMEM;
    }
    s->n_index = n;
    for (i = 0; i < old_n; i++) {
        if (old[i]) {
            const op *o = &s->ops[old[i] - 1];
            s->index[index_slot(s, op_key(s, o), o->key_len)] = old[i];
        }
    }
    cairn__free(old);
    return 0;
}

/* Points the index at op i (the latest for its key), growing it first. */
static int index_add(space_ops *s, size_t i)
{
    const op *o = &s->ops[i];
    size_t slot;
    int rc;

    if ((s->n_keys + 1) * 2 > s->n_index && (rc = index_grow(s)))
        return rc;
    slot = index_slot(s, op_key(s, o), o->key_len);
    if (!s->index[slot])
        s->n_keys++;
    s->index[slot] = i + 1;
    return 0;
}

/* Builds the index of a keyspace from its log, on its first read. */
static int index_build(space_ops *s)
{
    size_t i;
    int rc;
    for (i = 0; i < s->n; i++)
        if ((rc = index_add(s, i)))
            return rc;
    return 0;
}

/* Appends one operation to the keyspace's log (and to its index, once it
 * has one). */
static int record(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                  const void *val, size_t val_len, bool is_ref, bool is_del)
{
    space_ops *s;
    op *o;
    int rc;

    if ((rc = get_space(txn, space ? space : "", &s)))
        return rc;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        op *v = cairn__realloc(s->ops, cap * sizeof(*v));
        if (!v)
            return CAIRN_NOMEM;
        s->ops = v;
        s->cap = cap;
    }
    o = &s->ops[s->n];
    memset(o, 0, sizeof(*o));
    o->is_del = is_del;
    o->is_ref = is_ref;
    o->key_len = (uint32_t)key_len;
    o->val_len = (uint32_t)val_len;
    if ((rc = cairn__bytes_append(&s->arena, key, key_len, &o->key_off)) ||
        (!is_del && (rc = cairn__bytes_append(&s->arena, val, val_len, &o->val_off))))
        return rc;
    s->n++;
    return s->index ? index_add(s, s->n - 1) : 0;
}

static int check_key(const void *key, size_t key_len)
{
    if (key_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "key of %zu bytes (the limit is %d)", key_len,
                           CAIRN_KEY_MAX);
    if (!key && key_len)
        return cairn__fail(CAIRN_BADARG, "NULL key");
    return 0;
}

int cairn_txn_put(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                  const void *val, size_t val_len)
{
    int rc;

    cairn__detail_clear();
    if ((rc = check_usable(txn)))
        return rc;
    if ((rc = check_key(key, key_len)) || (rc = cairn__check_space_name(space)))
        return txn_fail(txn, rc);
    if (val_len > CAIRN_VALUE_MAX)
        return txn_fail(txn, cairn__fail(CAIRN_VALTOOBIG, "value of %zu bytes (the limit is %u)",
                                         val_len, CAIRN_VALUE_MAX));
    if (!val && val_len)
        return txn_fail(txn, cairn__fail(CAIRN_BADARG, "NULL value"));
    if (val_len > CAIRN_INLINE_MAX) {
        cairn_id vid;
        if ((rc = cairn__sha256(val, val_len, &vid)) ||
            (rc = cairn__blobset_add_copy(&txn->blobs, &vid, val, val_len)) ||
            (rc = record(txn, space, key, key_len, vid.bytes, 32, true, false)))
            return txn_fail(txn, rc);
        return 0;
    }
    if ((rc = record(txn, space, key, key_len, val ? val : "", val_len, false, false)))
        return txn_fail(txn, rc);
    return 0;
}

int cairn_txn_del(cairn_txn *txn, const char *space, const void *key, size_t key_len)
{
    int rc;

    cairn__detail_clear();
    if ((rc = check_usable(txn)))
        return rc;
    if ((rc = check_key(key, key_len)) || (rc = cairn__check_space_name(space)))
        return txn_fail(txn, rc);
    if ((rc = record(txn, space, key, key_len, NULL, 0, false, true)))
        return txn_fail(txn, rc);
    return 0;
}

int cairn_txn_get(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                  cairn_val *val)
{
    const cairn_index *ix;
    cairn_index with_pending;
    space_ops *s;
    cairn_id root;
    uint32_t pos;
    int rc;

    cairn__detail_clear();
    if ((rc = check_usable(txn)) || (rc = check_key(key, key_len)) ||
        (rc = cairn__check_space_name(space)))
        return rc;
    with_pending = txn->db->ix;
    with_pending.pending = &txn->blobs;
    ix = &with_pending;
    cairn__node_release(txn->pinned);
    txn->pinned = NULL;
    if ((s = find_space(txn, space ? space : "")) && s->n) {
        size_t slot;
        if (!s->index && (rc = index_build(s)))
            return rc;
        slot = index_slot(s, key, key_len);
        if (s->index[slot]) {
            const op *o = &s->ops[s->index[slot] - 1];
            const uint8_t *v = s->arena.data + o->val_off;
            const cairn_blob *b;
            if (o->is_del)
                return CAIRN_NOTFOUND;
            if (!o->is_ref) {
                *val = (cairn_val){v, o->val_len};
                return 0;
            }
            b = cairn__blobset_get(&txn->blobs, (const cairn_id *)v);
            *val = (cairn_val){b->data, b->len};
            return 0;
        }
    }
    if ((rc = cairn__space_root(ix, &txn->base_catalog, space, &root)))
        return rc;
    if ((rc = cairn__tree_find(ix, &root, key, key_len, &txn->pinned, &pos)))
        return rc;
    return cairn__value_load(ix, txn->pinned, pos, &txn->scratch, val);
}

/* ---- what the typed writers (hashes.c) need of a transaction ----------- */

void cairn__txn_base(const cairn_txn *txn, const cairn_index **ix, cairn_id *catalog)
{
    *ix = &txn->db->ix;
    *catalog = txn->base_catalog;
}

int cairn__txn_pending_has(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                           bool *has)
{
    space_ops *s;
    int rc;

    *has = false;
    if (!(s = find_space(txn, space ? space : "")) || !s->n)
        return 0;
    if (!s->index && (rc = index_build(s)))
        return txn_fail(txn, rc);
    *has = s->index[index_slot(s, key, key_len)] != 0;
    return 0;
}

int cairn__txn_pending_each(cairn_txn *txn, const char *space, const void *prefix,
                            size_t prefix_len, cairn__txn_key_fn fn, void *ctx)
{
    space_ops *s;
    size_t i;
    int rc;

    if (!(s = find_space(txn, space ? space : "")))
        return 0;
    for (i = 0; i < s->n; i++) {
        const op *o = &s->ops[i];
        if (o->key_len >= prefix_len && memcmp(op_key(s, o), prefix, prefix_len) == 0 &&
            (rc = fn(ctx, op_key(s, o), o->key_len)))
            return rc;
    }
    return 0;
}

/* An operation to sort: the first eight key bytes, big-endian, decide most
 * comparisons without touching the arena. */
typedef struct sort_op {
    uint64_t prefix;
    size_t i; /* index into the log; ties keep log order */
} sort_op;

static uint64_t key_prefix(const uint8_t *key, size_t len)
{
    uint8_t buf[8] = {0};
    uint64_t p;
    memcpy(buf, key, len < 8 ? len : 8);
    memcpy(&p, buf, 8);
    return __builtin_bswap64(p);
}

static int cmp_ops(const void *a, const void *b, void *ctx)
{
    const sort_op *x = a, *y = b;
    const space_ops *s = ctx;
    const op *ox, *oy;
    int c;

    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    ox = &s->ops[x->i];
    oy = &s->ops[y->i];
    if ((c = cairn__bytes_cmp(op_key(s, ox), ox->key_len, op_key(s, oy), oy->key_len)))
        return c;
    return (x->i > y->i) - (x->i < y->i);
}

/* Builds the level-0 edit list of a keyspace: its operations sorted by
 * key, the latest one per key winning. */
static int space_edits(space_ops *s, cairn_edits *edits)
{
    sort_op *order;
    size_t i;
    int rc = 0;

    if (!(order = cairn__malloc((s->n ? s->n : 1) * sizeof(*order))))
        return CAIRN_NOMEM;
    for (i = 0; i < s->n; i++)
        order[i] = (sort_op){key_prefix(op_key(s, &s->ops[i]), s->ops[i].key_len), i};
    qsort_r(order, s->n, sizeof(*order), cmp_ops, s);
    for (i = 0; !rc && i < s->n; i++) {
        const op *o = &s->ops[order[i].i];
        if (i + 1 < s->n) {
            const op *next = &s->ops[order[i + 1].i];
            if (cairn__bytes_cmp(op_key(s, o), o->key_len, op_key(s, next), next->key_len) == 0)
                continue; /* a later operation on the same key wins */
        }
        rc = cairn__edits_add(edits, op_key(s, o), o->key_len,
                              o->is_del ? NULL : s->arena.data + o->val_off, o->val_len,
                              o->is_ref, o->is_del);
    }
    cairn__free(order);
    return rc;
}

static int cmp_space_names(const void *a, const void *b)
{
    const space_ops *x = a, *y = b;
    return cairn__bytes_cmp(x->name, strlen(x->name), y->name, strlen(y->name));
}

/* Applies every keyspace's batch and then the catalog's. OUT: *catalog
 * and the change in key count. */
static int apply_all(cairn_txn *txn, const cairn_index *ix, cairn_id *catalog, int64_t *delta)
{
    cairn_edits cat = {0};
    size_t i;
    int rc = 0;

    *delta = 0;
    if (txn->n_spaces)
        qsort(txn->spaces, txn->n_spaces, sizeof(*txn->spaces), cmp_space_names);
    for (i = 0; !rc && i < txn->n_spaces; i++) {
        space_ops *s = &txn->spaces[i];
        cairn_edits edits = {0};
        cairn_id old_root, new_root, empty;
        uint64_t before = 0, after = 0;

        cairn__empty_root_id(&empty);
        if (!(rc = cairn__space_root(ix, &txn->base_catalog, s->name, &old_root)) &&
            !(rc = space_edits(s, &edits)) &&
            !(rc = cairn__tree_apply(ix, &old_root, &edits, &txn->blobs, &new_root)) &&
            !(rc = cairn__tree_count(ix, &old_root, &before)) &&
            !(rc = cairn__tree_count(ix, &new_root, &after))) {
            *delta += (int64_t)after - (int64_t)before;
            if (!cairn__id_eq(&old_root, &new_root))
                rc = cairn__edits_add(&cat, s->name, strlen(s->name), new_root.bytes, 32, false,
                                      cairn__id_eq(&new_root, &empty));
        }
        cairn__edits_free(&edits);
    }
    if (!rc)
        rc = cairn__tree_apply(ix, &txn->base_catalog, &cat, &txn->blobs, catalog);
    cairn__edits_free(&cat);
    return rc;
}

static void txn_free(cairn_txn *txn)
{
    size_t i;
    cairn_db *db = txn->db;

    for (i = 0; i < txn->n_spaces; i++) {
        cairn__free(txn->spaces[i].name);
        cairn__free(txn->spaces[i].ops);
        cairn__free(txn->spaces[i].index);
        cairn__bytes_free(&txn->spaces[i].arena);
    }
    cairn__free(txn->spaces);
    cairn__blobset_clear(&txn->blobs);
    cairn__node_release(txn->pinned);
    cairn__free(txn->scratch.data);
    cairn_commit_info_clear(&txn->parent);
    cairn__stack_writer_lock(db->stack, false);
    pthread_mutex_lock(&db->mu);
    db->txn_open = false;
    pthread_mutex_unlock(&db->mu);
    cairn__free(txn);
}

/* Puts the nodes a commit wrote into the node cache: the next transaction
 * and readers would otherwise read them back from the tiers, hash and
 * decode them again (measured: a fifth of a random bulk load's time).
 * Best effort: a node that fails to decode is simply left out. */
static void cache_new_nodes(cairn_db *db, const cairn_blobset *blobs, size_t from, size_t to)
{
    size_t i;
    for (i = from; i < to; i++) {
        cairn_node *nd;
        if (cairn__node_decode(&blobs->v[i].id, blobs->v[i].data, blobs->v[i].len, &nd) == 0)
            cairn__node_release(cairn__cache_put(db->cache, nd));
    }
    cairn__detail_clear();
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int cairn_txn_commit(cairn_txn *txn, const char *message, cairn_id *commit_id)
{
    cairn_db *db;
    cairn_index ix;
    cairn_commit_info info = {0};
    cairn_blob commit;
    uint8_t *bytes = NULL;
    size_t len, first_node, end_nodes;
    int64_t delta;
    int rc;

    cairn__detail_clear();
    if ((rc = check_usable(txn)))
        goto done;
    db = txn->db;
    ix = db->ix;
    ix.pending = &txn->blobs;
    first_node = txn->blobs.n; /* blobs added by apply_all are tree nodes */
    if ((rc = apply_all(txn, &ix, &info.catalog, &delta)))
        goto done;
    end_nodes = txn->blobs.n;
    if (cairn__id_eq(&info.catalog, &txn->base_catalog)) {
        /* Nothing changed: no commit, the branch stays. */
        if (commit_id && txn->has_parent)
            *commit_id = txn->parent.id;
        goto done;
    }

    pthread_mutex_lock(&db->mu);
    if (db->writer_epoch == 0 || (txn->has_parent && db->writer_epoch <= txn->parent.writer_epoch))
        db->writer_epoch = txn->has_parent ? txn->parent.writer_epoch + 1 : 1;
    info.writer_epoch = db->writer_epoch;
    pthread_mutex_unlock(&db->mu);
    info.has_parent = txn->has_parent;
    info.parent = txn->parent.id;
    info.seq = txn->has_parent ? txn->parent.seq + 1 : 1;
    info.time_us = now_us();
    info.key_count = (uint64_t)((int64_t)(txn->has_parent ? txn->parent.key_count : 0) + delta);
    info.message = (char *)(message ? message : "");
    if ((rc = cairn__commit_encode(&info, strlen(info.message), &bytes, &len)))
        goto done;
    if ((rc = cairn__sha256(bytes, len, &commit.id))) {
        cairn__free(bytes);
        goto done;
    }
    commit.data = bytes;
    commit.len = len;
    if ((rc = cairn__blobset_add_owned(&txn->blobs, &commit.id, bytes, len)))
        goto done;
    rc = cairn__stack_publish(db->stack, txn->blobs.v, txn->blobs.n, txn->ref,
                              txn->has_parent ? &txn->parent.id : NULL, &commit.id);
    if (rc)
        goto done;
    if (commit_id)
        *commit_id = commit.id;
    cairn__flusher_committed(db);
    /* The commit stands; a follower that could not follow catches up now
     * or at the next write (cairn_tiers_behind reports it meanwhile). */
    if (cairn__stack_behind(db->stack) && cairn__followers_catch_up(db, CAIRN__CATCH_UP_WRITE_THROUGH))
        cairn__detail_clear();
    cache_new_nodes(db, &txn->blobs, first_node, end_nodes);
    info.id = commit.id;
    info.message = NULL;
    pthread_mutex_lock(&db->mu);
    db->last_commit = info;
    db->has_last = true;
    pthread_mutex_unlock(&db->mu);
done:
    if (txn)
        txn_free(txn);
    return rc;
}

bool cairn_txn_base(const cairn_txn *txn, cairn_id *out)
{
    if (!txn || !txn->has_parent)
        return false;
    *out = txn->parent.id;
    return true;
}

void cairn_txn_abort(cairn_txn *txn)
{
    if (txn)
        txn_free(txn);
}
