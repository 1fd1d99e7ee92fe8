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
 * A write-back follower (write=back: an object store the writer publishes
 * to on sync) gets heads only: each ref's new commit, as the delta of its
 * version against the one the follower's ref named, and not the commits
 * in between. Versions superseded between two syncs never reach it. Such a
 * head's parent is then missing there, so the follower keeps a boundary
 * list of its own (meta/boundary, as gc's: docs/gc.md), which its readers
 * and verify go by: the rule above holds down to it.
 *
 * Catching up runs with the store's writer lock held (every ref tier's), at
 * the start of a write transaction and after a commit or ref move that left
 * a follower behind, and in cairn_sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "copier.h"
#include "engine.h"
#include "error.h"
#include "id.h"

typedef cairn__ref ref_entry;
typedef cairn__ref_list ref_list;

/* Every ref of t, in name order. */
static int list_refs(cairn_tier *t, ref_list *out)
{
    return cairn__ref_list_tier(t, "", out);
}

static const ref_entry *find_ref(const ref_list *l, const char *name)
{
    return cairn__ref_list_find(l, name);
}

static int collect_ref(void *ctx, const char *name, const cairn_id *id)
{
    return cairn__ref_list_add(ctx, name, id);
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
        if (t->write_back && !strcmp(F.v[i].name, CAIRN_BOUNDARY_REF))
            continue; /* its own list (heads only): not the primary's */
        behind = true;
        if (!strcmp(F.v[i].name, CAIRN_CONFIG_REF) && mine) {
            rc = cairn__fail(CAIRN_BADSPEC,
                             "tier '%s' holds a store with other settings than the primary "
                             "'%s' (its meta/config differs); refusing to open them together",
                             t->spec, p->spec);
            break;
        }
        if (cairn__ref_is_meta(F.v[i].name) && strcmp(F.v[i].name, CAIRN_CONFIG_REF) != 0)
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
        behind = !find_ref(&F, P->v[i].name) &&
                 !(t->write_back && !strcmp(P->v[i].name, CAIRN_BOUNDARY_REF));
    if (!rc && behind)
        cairn__stack_set_behind(db->stack, k, true);
    cairn__free(F.v);
    return rc;
}

static int catch_up(cairn_db *db, cairn_tier *dst, const ref_list *P);

/* Before the primary takes history from write-back tier t (adopt_from):
 * the commits of t's own boundary list whose parent the primary lacks
 * join the primary's list, so that the walk stops there. Commits whose
 * parent the primary holds do not: there the primary's history goes on.
 * M, the refs the primary is to hold, names the new list. */
static int adopt_boundaries(cairn_db *db, cairn_tier *t, cairn_tier *p, ref_list *M)
{
    cairn_idset theirs, ours;
    const cairn_id *id;
    bool exists, ours_exist, added = false;
    int rc;

    if ((rc = cairn__boundary_load_tier(t, &theirs, &exists)) || !exists)
        return rc;
    if ((rc = cairn__boundary_load_tier(p, &ours, &ours_exist))) {
        cairn__idset_free(&theirs);
        return rc;
    }
    for (size_t pos = 0; !rc && (id = cairn__idset_next(&theirs, &pos));) {
        cairn_commit_info info;
        bool held = false;
        if (cairn__idset_has(&ours, id))
            continue;
        if ((rc = cairn_commit_get(db, id, &info))) {
            if (rc == CAIRN_MISSING) { /* a commit no ref of t reaches any more */
                cairn__detail_clear();
                rc = 0;
            }
            continue;
        }
        if (info.has_parent && !(rc = cairn__tier_has_many(p, &info.parent, 1, &held)) && !held) {
            rc = cairn__idset_add(&ours, id);
            added = true;
        }
        cairn_commit_info_clear(&info);
    }
    if (!rc && added && !(rc = cairn__boundary_store_tier(p, &ours))) {
        cairn_id list_id;
        ref_entry *slot = (ref_entry *)find_ref(M, CAIRN_BOUNDARY_REF);
        if (!(rc = cairn__tier_ref_get(p, CAIRN_BOUNDARY_REF, &list_id))) {
            if (slot)
                slot->id = list_id;
            else if (!(rc = collect_ref(M, CAIRN_BOUNDARY_REF, &list_id)))
                cairn__ref_list_sort(M);
        }
    }
    cairn__idset_free(&theirs);
    cairn__idset_free(&ours);
    return rc;
}

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
        if (!strcmp(F.v[i].name, CAIRN_BOUNDARY_REF))
            continue; /* the tier's own list: adopt_boundaries takes what is needed */
        if (mine && cairn__ref_is_meta(F.v[i].name))
            continue; /* the primary keeps its own record; one it lacks is taken */
        if (mine && (rc = cairn__commit_descends(db, &F.v[i].id, &mine->id, &forward)))
            break;
        if (mine && !forward) {
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
        cairn__ref_list_sort(&M);
        if (!(rc = cairn__stack_writer_lock(db->stack, true))) {
            if (!(rc = adopt_boundaries(db, t, p, &M)))
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

/* A write-back tier's own boundary list once its refs name P's commits:
 * walking back from each, the commit that ends the chain the tier holds
 * (held: what it held before and what this sync copies, complete),
 * because the tier lacks its parent, or because the primary's list, the
 * tier's list or the sync's new heads (candidates) have it already. Old
 * entries no chain reaches any more go. */
static int write_back_boundary(cairn_db *db, cairn_tier *dst, const ref_list *P,
                               const cairn_idset *candidates, const cairn_idset *complete,
                               cairn_idset *out)
{
    int rc = 0;
    for (size_t i = 0; i < P->n && !rc; i++) {
        cairn_id id = P->v[i].id;
        if (cairn__ref_is_meta(P->v[i].name))
            continue;
        while (!rc && !cairn__idset_has(out, &id)) {
            cairn_commit_info info;
            bool held = false;
            if (cairn__idset_has(candidates, &id)) {
                rc = cairn__idset_add(out, &id);
                break;
            }
            if ((rc = cairn_commit_get(db, &id, &info)))
                break;
            bool has_parent = info.has_parent;
            cairn_id parent = info.parent;
            cairn_commit_info_clear(&info);
            if (!has_parent)
                break;
            held = cairn__idset_has(complete, &parent);
            if (!held && (rc = cairn__tier_has_many(dst, &parent, 1, &held)))
                break;
            if (!held) {
                rc = cairn__idset_add(out, &id);
                break;
            }
            id = parent;
        }
    }
    return rc;
}

/* Heads only (a write-back tier): its boundary list's blob joins the
 * sync's blobs (one upload). OUT: *id, *changed: whether the tier's
 * meta/boundary must move to it. */
static int queue_write_back_boundary(cairn_db *db, cairn__copier *c, cairn_tier *dst,
                                     const ref_list *P, const cairn_idset *complete,
                                     cairn_id *id, bool *changed)
{
    cairn_idset candidates = {0}, list = {0}, more;
    const cairn_id *next;
    cairn_id old;
    uint8_t *bytes = NULL;
    size_t len;
    bool exists = false;
    int rc;

    *changed = false;
    for (int which = 0; which < 2; which++) {
        rc = which ? cairn__boundary_load_tier(dst, &more, &exists)
                   : cairn__boundary_load(db, &more, &exists);
        for (size_t pos = 0; !rc && (next = cairn__idset_next(&more, &pos));)
            rc = cairn__idset_add(&candidates, next);
        cairn__idset_free(&more);
        if (rc)
            goto done;
    }
    for (size_t pos = 0; !rc && (next = cairn__idset_next(&c->boundaries, &pos));)
        rc = cairn__idset_add(&candidates, next);
    if (rc || (rc = write_back_boundary(db, dst, P, &candidates, complete, &list)) ||
        (!list.n && !exists) || (rc = cairn__boundary_encode(&list, &bytes, &len, id)))
        goto done;
    if (exists && (rc = cairn__tier_ref_get(dst, CAIRN_BOUNDARY_REF, &old)))
        goto done;
    if (!exists || !cairn__id_eq(&old, id)) {
        *changed = true;
        rc = cairn__copier_add(c, id, bytes, len);
    }
done:
    cairn__free(bytes);
    cairn__idset_free(&candidates);
    cairn__idset_free(&list);
    return rc;
}

/* Brings follower dst up to date with the primary's refs P: its history
 * (a write-back tier: the heads alone) and the store's own blobs
 * (settings, boundary list) first, synced, then its refs; refs the
 * primary no longer has are removed. */
static int catch_up(cairn_db *db, cairn_tier *dst, const ref_list *P)
{
    cairn__copier *c = cairn__malloc(sizeof(*c));
    cairn_idset complete = {0};
    ref_list D = {0};
    bool heads_only = dst->write_back, boundary_moves = false;
    cairn_id boundary_id;
    cairn_ref_move *moves = NULL;
    size_t n_moves = 0;
    int rc;

    if (!c)
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    cairn__copier_init(c, db, cairn__sink_tier(dst), CAIRN__COPY_WRITE);
    if ((rc = list_refs(dst, &D)))
        goto done;
    for (size_t i = 0; i < D.n && !rc; i++)
        if (!cairn__ref_is_meta(D.v[i].name))
            rc = cairn__idset_add(&complete, &D.v[i].id);
    /* Blobs first: every version a primary ref names, and the store's own
     * blobs, which are no commits (meta/config, meta/boundary). */
    for (size_t i = 0; i < P->n && !rc; i++) {
        const ref_entry *had = find_ref(&D, P->v[i].name);
        if (had && cairn__id_eq(&had->id, &P->v[i].id))
            continue;
        if (heads_only && !strcmp(P->v[i].name, CAIRN_BOUNDARY_REF))
            continue; /* its own list: below */
        if (cairn__ref_is_meta(P->v[i].name))
            rc = cairn__copier_add(c, &P->v[i].id, NULL, 0);
        else if (heads_only)
            rc = cairn__copier_head(c, &P->v[i].id, had ? &had->id : NULL, &complete);
        else
            rc = cairn__copier_history(c, &P->v[i].id, had ? &had->id : NULL, &complete);
    }
    if (!rc && heads_only)
        rc = queue_write_back_boundary(db, c, dst, P, &complete, &boundary_id, &boundary_moves);
    if (!rc)
        rc = cairn__copier_flush(c);
    if (!rc)
        rc = cairn__tier_sync(dst);
    /* Then the refs: the store's own first, so that the tier never names a
     * version without the settings it was built with, nor a commit whose
     * dropped parent it lacks without the boundary saying so. */
    /* All in one change where the tier can (S3: one head write). */
    if (!rc && !(moves = cairn__calloc(P->n + D.n + 1, sizeof(*moves))))
        rc = cairn__fail(CAIRN_NOMEM, "out of memory");
    if (!rc && boundary_moves) {
        const ref_entry *had = find_ref(&D, CAIRN_BOUNDARY_REF);
        moves[n_moves++] = (cairn_ref_move){CAIRN_BOUNDARY_REF, had ? &had->id : NULL, &boundary_id};
    }
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < P->n; i++) {
            const ref_entry *had = find_ref(&D, P->v[i].name);
            if ((pass == 0) != cairn__ref_is_meta(P->v[i].name) ||
                (had && cairn__id_eq(&had->id, &P->v[i].id)) ||
                (heads_only && !strcmp(P->v[i].name, CAIRN_BOUNDARY_REF)))
                continue;
            moves[n_moves++] = (cairn_ref_move){P->v[i].name, had ? &had->id : NULL, &P->v[i].id};
        }
    }
    for (size_t i = 0; i < D.n && !rc; i++)
        if (!find_ref(P, D.v[i].name) &&
            !(heads_only && !strcmp(D.v[i].name, CAIRN_BOUNDARY_REF)))
            moves[n_moves++] = (cairn_ref_move){D.v[i].name, &D.v[i].id, NULL};
    if (!rc)
        rc = cairn__tier_ref_cas_many(dst, moves, n_moves);
    cairn__free(moves);
    if (rc)
        cairn__fail_context(rc, "bringing tier '%s' up to date", dst->spec);
done:
    cairn__copier_clear(c);
    cairn__free(c);
    cairn__ref_list_free(&D);
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

int cairn__follower_refs(cairn_db *db, cairn_ref_fn fn, void *ctx)
{
    cairn_stack *st = db->stack;
    int rc = 0;
    for (size_t k = cairn__stack_primary(st) + 1; k < cairn__stack_n_tiers(st) && !rc; k++) {
        cairn_tier *t = cairn__stack_tier(st, k);
        ref_list F;
        if (t->is_cache)
            continue;
        if ((rc = list_refs(t, &F)))
            break;
        for (size_t i = 0; i < F.n && !rc; i++)
            rc = fn(ctx, F.v[i].name, &F.v[i].id);
        cairn__ref_list_free(&F);
    }
    return rc;
}
