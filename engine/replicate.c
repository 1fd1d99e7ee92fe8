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
        if (mine && cairn__ref_is_meta(F.v[i].name))
            continue; /* the primary keeps its own boundary list; one it lacks is taken */
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

/* Brings follower dst up to date with the primary's refs P: its history
 * and the store's own blobs (settings, boundary list) first, synced, then
 * its refs; refs the primary no longer has are removed. */
static int catch_up(cairn_db *db, cairn_tier *dst, const ref_list *P)
{
    cairn__copier *c = cairn__malloc(sizeof(*c));
    cairn_idset complete = {0};
    ref_list D = {0};
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
        if (cairn__ref_is_meta(P->v[i].name))
            rc = cairn__copier_add(c, &P->v[i].id, NULL, 0);
        else
            rc = cairn__copier_history(c, &P->v[i].id, had ? &had->id : NULL, &complete);
    }
    if (!rc)
        rc = cairn__copier_flush(c);
    if (!rc)
        rc = cairn__tier_sync(dst);
    /* Then the refs: the store's own first, so that the tier never names a
     * version without the settings it was built with, nor a commit whose
     * dropped parent it lacks without the boundary saying so. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < P->n && !rc; i++) {
            const ref_entry *had = find_ref(&D, P->v[i].name);
            if ((pass == 0) != cairn__ref_is_meta(P->v[i].name) ||
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
