/*
 * replicate.c - keeping the ref tiers behind the primary ("followers") up
 * to date.
 *
 * The rule every tier keeps: it never holds a ref to a version whose blobs
 * it does not all hold (the version's commit, its ancestors, their catalogs,
 * keyspace trees and value blobs). A follower that missed a write (it
 * failed, or it was added behind an existing store) keeps its old refs,
 * whose blobs it does hold, and is marked behind (stack.h). Catching up
 * copies exactly what it lacks: for each ref of the primary, the commits
 * back to one the follower already holds completely, and for each of them
 * the delta of its trees against its parent's (index/delta.h), so the cost
 * follows what changed, not the size of the store. Only then does the
 * follower's ref move. A follower holding refs to commits the primary does
 * not know is another store: opening such a stack for writing is refused,
 * so that nothing of it is overwritten.
 *
 * Catching up runs with the store's writer lock held (every ref tier's), at
 * the start of a write transaction and after a commit or ref move that left
 * a follower behind, and in cairn_sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "delta.h"
#include "idset.h"
#include "engine.h"
#include "error.h"
#include "id.h"

/* Blobs are copied in batches of at most this many, or bytes. */
#define COPY_BATCH 256
#define COPY_BATCH_BYTES (16u << 20)

/* ---------------------------------------------------------------- refs */

typedef struct ref_entry {
    char name[CAIRN_REF_NAME_MAX + 1];
    cairn_id id;
} ref_entry;

typedef struct ref_list {
    ref_entry *v;
    size_t n, cap;
} ref_list;

static int collect_ref(void *ctx, const char *name, const cairn_id *id)
{
    ref_list *l = ctx;

    if (!id)
        return cairn__fail(CAIRN_CORRUPT, "ref '%s' is damaged; copying refs stops here "
                                          "(cairn verify reports it)", name);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ref_entry *v = cairn__realloc(l->v, cap * sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "out of memory listing refs");
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
    l->v[l->n++].id = *id;
    return 0;
}

/* Every ref of t, in name order. */
static int list_refs(cairn_tier *t, ref_list *out)
{
    memset(out, 0, sizeof(*out));
    return cairn__tier_ref_list(t, "", collect_ref, out);
}

/* Whether ref name names a record blob (meta/config, meta/boundary,
 * meta/retention, ...: engine/meta.c), not a commit: it is copied as one
 * blob, never walked as history. */
static bool is_record_ref(const char *name)
{
    return strncmp(name, "meta/", 5) == 0;
}

static const ref_entry *find_ref(const ref_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

/* ---------------------------------------------------------------- checking */

/* Whether the primary holds blob id. */
static int primary_has(cairn_db *db, const cairn_id *id, bool *has)
{
    cairn_tier *p = cairn__stack_tier(db->stack, cairn__stack_primary(db->stack));
    return cairn__tier_has_many(p, id, 1, has);
}

/* Compares follower k's refs with the primary's (P). Marks it behind if
 * they differ; refuses it (CAIRN_BADSPEC) if it holds a ref to a commit the
 * primary does not hold, or other store settings. */
static int check_follower(cairn_db *db, size_t k, const ref_list *P)
{
    cairn_tier *t = cairn__stack_tier(db->stack, k);
    cairn_tier *p = cairn__stack_tier(db->stack, cairn__stack_primary(db->stack));
    ref_list F;
    bool behind = false;
    int rc;

    if ((rc = list_refs(t, &F)))
        return cairn__fail_context(rc, "listing the refs of tier '%s'", t->spec);
    for (size_t i = 0; i < F.n && !rc; i++) {
        const ref_entry *mine = find_ref(P, F.v[i].name);
        char hex[13];
        bool known = false;

        if (mine && cairn__id_eq(&mine->id, &F.v[i].id))
            continue;
        behind = true;
        if (!strcmp(F.v[i].name, CAIRN_CONFIG_REF) && mine) {
            rc = cairn__fail(CAIRN_BADSPEC,
                             "tier '%s' holds a store with other settings than the primary "
                             "'%s' (its meta/config differs); refusing to open them together",
                             t->spec, p->spec);
            break;
        }
        if (is_record_ref(F.v[i].name) && strcmp(F.v[i].name, CAIRN_CONFIG_REF) != 0)
            continue; /* an older record (gc may have freed its blob): behind */
        if ((rc = primary_has(db, &F.v[i].id, &known)))
            break;
        if (!known)
            rc = cairn__fail(CAIRN_BADSPEC,
                             "tier '%s' holds ref '%s' at %s, which the primary '%s' does not "
                             "hold: it is another store, not a copy of this one; refusing to "
                             "open them together (name the store that holds this data first)",
                             t->spec, F.v[i].name, cairn__id_short(&F.v[i].id, hex), p->spec);
    }
    for (size_t i = 0; i < P->n && !behind; i++)
        behind = !find_ref(&F, P->v[i].name);
    if (!rc && behind)
        cairn__stack_set_behind(db->stack, k, true);
    cairn__free(F.v);
    return rc;
}

static int catch_up(cairn_db *db, cairn_tier *dst, const ref_list *P);

/* A write-back follower (an object store that other writers publish to)
 * may be ahead of the primary (a local working copy, new or left behind by
 * a writer that failed over). Each ref the follower holds at a commit the
 * primary lacks is taken into the primary when the primary's ref is absent
 * or an ancestor of it (a fast-forward, copying only what the primary
 * lacks); a ref where the two forked is refused, naming both commits. The
 * primary keeps its refs that are ahead; the follower then is behind. */
static int adopt_from(cairn_db *db, size_t k, ref_list *P)
{
    cairn_tier *t = cairn__stack_tier(db->stack, k);
    cairn_tier *p = cairn__stack_tier(db->stack, cairn__stack_primary(db->stack));
    ref_list F, M = {0};
    bool ahead = false;
    int rc;

    if ((rc = list_refs(t, &F)))
        return cairn__fail_context(rc, "listing the refs of tier '%s'", t->spec);
    for (size_t i = 0; i < P->n && !rc; i++)
        rc = collect_ref(&M, P->v[i].name, &P->v[i].id);
    for (size_t i = 0; i < F.n && !rc; i++) {
        const ref_entry *mine = find_ref(P, F.v[i].name);
        bool known = false, forward = false;
        char a[13], b[13];

        if (mine && cairn__id_eq(&mine->id, &F.v[i].id))
            continue;
        if ((rc = primary_has(db, &F.v[i].id, &known)) || known)
            continue; /* the primary is ahead: the follower catches up on sync */
        if (mine && !strcmp(F.v[i].name, CAIRN_CONFIG_REF)) {
            rc = cairn__fail(CAIRN_BADSPEC,
                             "tier '%s' holds a store with other settings than the primary "
                             "'%s' (its meta/config differs); refusing to open them together",
                             t->spec, p->spec);
            break;
        }
        if (mine && is_record_ref(F.v[i].name))
            continue; /* a record the primary has: the primary's stands */
        if (mine && !is_record_ref(F.v[i].name) &&
            (rc = cairn__commit_descends(db, &F.v[i].id, &mine->id, &forward)))
            break;
        if (mine && !forward && !is_record_ref(F.v[i].name)) {
            rc = cairn__fail(CAIRN_REWIND,
                             "ref '%s' forked: tier '%s' holds %s and the primary '%s' holds %s, "
                             "and neither descends from the other; refusing to write, which "
                             "would lose one side. To take the tier's history, open it with a "
                             "new, empty primary directory (the local one holds the other "
                             "side); to keep the local one, publish it under another branch "
                             "name",
                             F.v[i].name, t->spec, cairn__id_short(&F.v[i].id, a), p->spec,
                             cairn__id_short(&mine->id, b));
            break;
        }
        ahead = true;
        ref_entry *slot = (ref_entry *)find_ref(&M, F.v[i].name);
        if (slot)
            slot->id = F.v[i].id;
        else
            rc = collect_ref(&M, F.v[i].name, &F.v[i].id);
    }
    if (!rc && ahead) {
        /* Sorted by name, as list_refs gives them: catch_up wants that. */
        for (size_t i = 1; i < M.n; i++)
            for (size_t j = i; j > 0 && strcmp(M.v[j - 1].name, M.v[j].name) > 0; j--) {
                ref_entry tmp = M.v[j];
                M.v[j] = M.v[j - 1];
                M.v[j - 1] = tmp;
            }
        if (!(rc = cairn__stack_writer_lock(db->stack, true))) {
            rc = catch_up(db, p, &M);
            cairn__stack_writer_lock(db->stack, false);
        }
        if (!rc) {
            cairn__free(P->v);
            rc = list_refs(p, P);
        }
    }
    cairn__free(F.v);
    cairn__free(M.v);
    return rc;
}

int cairn__followers_check(cairn_db *db)
{
    size_t primary = cairn__stack_primary(db->stack), n = cairn__stack_n_tiers(db->stack);
    ref_list P;
    int rc;

    if (primary + 1 >= n)
        return 0; /* no tier behind the primary */
    if ((rc = list_refs(cairn__stack_tier(db->stack, primary), &P)))
        return rc;
    for (size_t k = primary + 1; k < n && !rc; k++)
        if (cairn__stack_tier(db->stack, k)->write_back)
            rc = adopt_from(db, k, &P);
    for (size_t k = primary + 1; k < n && !rc; k++)
        if (!cairn__stack_tier(db->stack, k)->is_cache)
            rc = check_follower(db, k, &P);
    cairn__free(P.v);
    return rc;
}

/* ---------------------------------------------------------------- copying */

/* Blobs waiting to be copied into dst: ids, with their bytes when the
 * caller had them at hand (nodes), else read from the stack at flush. */
typedef struct copier {
    cairn_db *db;
    cairn_tier *dst;
    cairn_id ids[COPY_BATCH];
    void *bytes[COPY_BATCH];
    size_t lens[COPY_BATCH];
    size_t n, batch_bytes;
    uint64_t blobs_copied, bytes_copied;
} copier;

/* Writes the batch to dst: the blobs dst lacks, read from the stack when
 * the batch does not carry their bytes. */
static int copier_flush(copier *c)
{
    bool has[COPY_BATCH];
    cairn_id want[COPY_BATCH];
    cairn_buf got[COPY_BATCH];
    cairn_blob out[COPY_BATCH];
    size_t n_want = 0, n_out = 0;
    int rc;

    if (c->n == 0)
        return 0;
    if ((rc = cairn__tier_has_many(c->dst, c->ids, c->n, has)))
        goto done;
    for (size_t i = 0; i < c->n; i++)
        if (!has[i] && !c->bytes[i])
            want[n_want++] = c->ids[i];
    if (n_want && (rc = cairn__stack_get_many(c->db->stack, want, n_want, got)))
        goto done;
    for (size_t i = 0, w = 0; i < c->n; i++) {
        if (has[i])
            continue;
        if (c->bytes[i]) {
            out[n_out++] = (cairn_blob){c->ids[i], c->bytes[i], c->lens[i]};
            continue;
        }
        if (!got[w].data) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&c->ids[i], hex);
            rc = cairn__fail(CAIRN_MISSING, "blob %s is in no tier", hex);
            break;
        }
        out[n_out++] = (cairn_blob){c->ids[i], got[w].data, got[w].len};
        w++;
    }
    if (!rc && n_out && (rc = cairn__tier_put_many(c->dst, out, n_out)) == 0) {
        c->blobs_copied += n_out;
        for (size_t i = 0; i < n_out; i++)
            c->bytes_copied += out[i].len;
    }
    for (size_t i = 0; i < n_want; i++)
        cairn__free(got[i].data);
done:
    for (size_t i = 0; i < c->n; i++)
        cairn__free(c->bytes[i]);
    c->n = 0;
    c->batch_bytes = 0;
    return rc;
}

/* Queues one blob (bytes, if given, are copied). */
static int copier_add(copier *c, const cairn_id *id, const void *bytes, size_t len)
{
    void *copy = NULL;

    if (bytes) {
        if (!(copy = cairn__malloc(len ? len : 1)))
            return cairn__fail(CAIRN_NOMEM, "out of memory copying a blob of %zu bytes", len);
        memcpy(copy, bytes, len);
        c->batch_bytes += len;
    }
    c->ids[c->n] = *id;
    c->bytes[c->n] = copy;
    c->lens[c->n++] = len;
    if (c->n == COPY_BATCH || c->batch_bytes >= COPY_BATCH_BYTES)
        return copier_flush(c);
    return 0;
}

static int on_delta(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    return copier_add(ctx, id, bytes, len);
}

/* Copies into c->dst the history of head that it lacks: the commits back
 * to one in complete (versions dst holds whole), and for each the delta
 * against its parent's version (or, for the oldest when the walk reached
 * the first commit, against fallback, a commit dst holds whole, if any).
 * Adds every commit copied to complete. */
static int copy_history(copier *c, const cairn_id *head, const cairn_id *fallback,
                        cairn_idset *complete)
{
    cairn_commit_info info, base_info;
    cairn_id *chain = NULL, empty, base_catalog;
    size_t n = 0, cap = 0;
    cairn_id id = *head;
    int rc = 0;

    cairn__empty_root_id(&empty);
    while (!cairn__idset_has(complete, &id)) {
        if (n == cap) {
            cairn_id *grown = cairn__realloc(chain, (cap = cap ? cap * 2 : 16) * sizeof(*chain));
            if (!grown) {
                rc = cairn__fail(CAIRN_NOMEM, "out of memory walking history");
                goto done;
            }
            chain = grown;
        }
        chain[n++] = id;
        if ((rc = cairn_commit_get(c->db, &id, &info)))
            goto done;
        id = info.parent;
        if (!info.has_parent || info.history_dropped) {
            cairn_commit_info_clear(&info);
            break;
        }
        cairn_commit_info_clear(&info);
    }
    /* The version the oldest new commit is diffed against: the parent the
     * walk stopped at, else (it reached a first commit) the fallback. */
    base_catalog = empty;
    if (cairn__idset_has(complete, &id))
        fallback = &id;
    if (fallback) {
        if ((rc = cairn_commit_get(c->db, fallback, &base_info)))
            goto done;
        base_catalog = base_info.catalog;
        cairn_commit_info_clear(&base_info);
    }
    while (n > 0) {
        id = chain[--n];
        if ((rc = cairn_commit_get(c->db, &id, &info)))
            goto done;
        rc = cairn__version_delta(&c->db->ix, &base_catalog, &info.catalog, on_delta, c);
        base_catalog = info.catalog;
        cairn_commit_info_clear(&info);
        if (rc || (rc = copier_add(c, &id, NULL, 0)) || (rc = cairn__idset_add(complete, &id)))
            goto done;
    }
done:
    cairn__free(chain);
    return rc;
}

/* Brings follower dst up to date with the primary's refs P: its history
 * and settings first, synced, then its refs; refs the primary no longer
 * has are removed. */
static int catch_up(cairn_db *db, cairn_tier *dst, const ref_list *P)
{
    copier *c = cairn__calloc(1, sizeof(*c));
    cairn_idset complete = {0};
    ref_list D;
    int rc;

    if (!c)
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    c->db = db;
    c->dst = dst;
    if ((rc = list_refs(dst, &D)))
        goto done;
    for (size_t i = 0; i < D.n && !rc; i++)
        if (!is_record_ref(D.v[i].name))
            rc = cairn__idset_add(&complete, &D.v[i].id);
    /* Blobs first: every version a primary ref names, and the records of
     * the meta/ refs (settings, boundary, retention policy). */
    for (size_t i = 0; i < P->n && !rc; i++) {
        const ref_entry *had = find_ref(&D, P->v[i].name);
        if (had && cairn__id_eq(&had->id, &P->v[i].id))
            continue;
        if (is_record_ref(P->v[i].name))
            rc = copier_add(c, &P->v[i].id, NULL, 0);
        else
            rc = copy_history(c, &P->v[i].id, had ? &had->id : NULL, &complete);
    }
    if (!rc)
        rc = copier_flush(c);
    if (!rc)
        rc = cairn__tier_sync(dst);
    /* Then the refs: the settings first, so that the tier never names a
     * version without the settings it was built with. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < P->n && !rc; i++) {
            const ref_entry *had = find_ref(&D, P->v[i].name);
            if ((pass == 0) != !strcmp(P->v[i].name, CAIRN_CONFIG_REF) ||
                (had && cairn__id_eq(&had->id, &P->v[i].id)))
                continue;
            rc = cairn__tier_ref_cas(dst, P->v[i].name, had ? &had->id : NULL, &P->v[i].id);
        }
    }
    for (size_t i = 0; i < D.n && !rc; i++)
        if (!find_ref(P, D.v[i].name))
            rc = cairn__tier_ref_cas(dst, D.v[i].name, &D.v[i].id, NULL);
    if (rc)
        cairn__fail_context(rc, "bringing tier '%s' up to date", dst->spec);
done:
    for (size_t i = 0; i < c->n; i++)
        cairn__free(c->bytes[i]);
    cairn__free(c);
    cairn__free(D.v);
    cairn__idset_free(&complete);
    return rc;
}

int cairn__followers_catch_up(cairn_db *db, enum cairn__catch_up which)
{
    cairn_stack *st = db->stack;
    unsigned behind = cairn__stack_behind(st);
    ref_list P;
    int rc, first = 0;

    if (!behind)
        return 0;
    if ((rc = list_refs(cairn__stack_tier(st, cairn__stack_primary(st)), &P)))
        return rc;
    for (size_t k = 0; k < cairn__stack_n_tiers(st); k++) {
        bool wb = cairn__stack_tier(st, k)->write_back;
        if (!(behind & (1u << k)) || (wb && which == CAIRN__CATCH_UP_WRITE_THROUGH) ||
            (!wb && which == CAIRN__CATCH_UP_WRITE_BACK))
            continue;
        if ((rc = catch_up(db, cairn__stack_tier(st, k), &P)) == 0)
            cairn__stack_set_behind(st, k, false);
        else if (!first)
            first = rc;
    }
    cairn__free(P.v);
    return first;
}
