/* gc_mark.c - what a store keeps, into sorted id sets (see gc_mark.h). */
#include "gc_mark.h"

#include "copier.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "idset.h"
#include "node.h"

typedef struct marker {
    cairn_db *db;
    const cairn_gc_policy *policy;
    cairn_idsort *live, *commits;
    cairn_idset *boundaries;
    cairn_gc_mark_stats *stats;
    cairn_idset marked; /* retained commits marked already (branches share history) */
} marker;

static int emit(marker *m, const cairn_id *id)
{
    m->stats->ids_emitted++;
    return cairn__idsort_add(m->live, id);
}

static int on_blob(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    return emit(ctx, id);
}

/* Whether the policy keeps a commit that is number k (0: the head) of its
 * branch, committed at time_us, whose successor on the branch (none for
 * the head) was committed at next_us. */
static bool keeps(const cairn_gc_policy *p, uint64_t k, int64_t time_us, bool has_next,
                  int64_t next_us)
{
    if (k == 0 || (!p->keep_last && !p->keep_newer_us))
        return true;
    if (p->keep_last && k < p->keep_last)
        return true;
    if (p->keep_newer_us && time_us >= p->now_us - p->keep_newer_us)
        return true;
    return has_next && next_us >= p->now_us - p->grace_us;
}

/* One retained commit, marked: its id and its version's blobs beyond the
 * version of base (its parent's catalog when the parent is retained too,
 * else the empty tree: the oldest retained commit is marked whole). */
static int mark_commit(marker *m, const cairn_commit_info *c, const cairn_id *base)
{
    int rc;
    if ((rc = emit(m, &c->id)) || (rc = cairn__idsort_add(m->commits, &c->id)))
        return rc;
    m->stats->commits++;
    return cairn__version_delta(&m->db->ix, base, &c->catalog, on_blob, m);
}

/* Walks a branch back from head while the policy keeps its commits, and
 * marks each not marked already. A commit another branch marked is walked
 * through, not stopped at: this branch's count may keep ancestors that the
 * other's did not (a branch forked lately is shorter). Only when all
 * history is kept does a marked commit end the walk (all below it is
 * marked). A tag keeps its commit only. */
static int mark_chain(marker *m, const cairn_id *head, bool branch)
{
    bool keep_all = !m->policy->keep_last && !m->policy->keep_newer_us;
    cairn_commit_info cur, parent;
    cairn_id empty;
    uint64_t k = 0;
    int rc;

    cairn__empty_root_id(&empty);
    if ((rc = cairn_commit_get(m->db, head, &cur)))
        return rc;
    for (;;) {
        bool marked = cairn__idset_has(&m->marked, &cur.id), parent_kept = false;
        if (marked && (keep_all || !branch))
            break;
        bool has_parent = branch && cur.has_parent && !cur.history_dropped;
        if (has_parent) {
            if ((rc = cairn_commit_get(m->db, &cur.parent, &parent)))
                break;
            parent_kept = keeps(m->policy, k + 1, parent.time_us, true, cur.time_us);
        }
        if (!marked) {
            if ((rc = cairn__idset_add(&m->marked, &cur.id)))
                goto fail_parent;
            if (cur.has_parent && !parent_kept) {
                m->stats->boundaries++;
                if ((rc = cairn__idset_add(m->boundaries, &cur.id)))
                    goto fail_parent;
            }
            if ((rc = mark_commit(m, &cur, parent_kept ? &parent.catalog : &empty)))
                goto fail_parent;
        }
        if (!parent_kept) {
            if (has_parent)
                cairn_commit_info_clear(&parent);
            break;
        }
        cairn_commit_info_clear(&cur);
        cur = parent;
        k++;
    }
    cairn_commit_info_clear(&cur);
    return rc;

fail_parent:
    if (branch && cur.has_parent && !cur.history_dropped)
        cairn_commit_info_clear(&parent);
    cairn_commit_info_clear(&cur);
    return rc;
}

/* A pinned commit the rules did not keep: marked whole (a pin keeps its
 * version, not its history), a boundary if it has a parent (gc.c settles
 * boundaries: one whose parent another rule kept is none). */
/* Marks commit whole, alone (a pin's, a follower's head): its parent may
 * be dropped, so it is a boundary. pinned: count it as kept for a pin. */
static int mark_alone(marker *m, const cairn_id *commit, bool pinned)
{
    cairn_commit_info c;
    cairn_id empty;
    int rc;

    if (cairn__idset_has(&m->marked, commit))
        return 0;
    cairn__empty_root_id(&empty);
    if ((rc = cairn_commit_get(m->db, commit, &c)))
        return rc;
    if (!(rc = cairn__idset_add(&m->marked, commit)) &&
        (!c.has_parent || !(rc = cairn__idset_add(m->boundaries, commit))) &&
        !(rc = mark_commit(m, &c, &empty)) && pinned)
        m->stats->pinned_only++;
    if (!rc && c.has_parent)
        m->stats->boundaries++;
    cairn_commit_info_clear(&c);
    return rc;
}

static int on_follower_ref(void *ctx, const char *name, const cairn_id *id)
{
    if (cairn__ref_is_meta(name))
        return emit(ctx, id); /* a record of its own (a write-back tier's boundary list) */
    return mark_alone(ctx, id, false);
}

struct ref_walk {
    marker *m;
    int rc;
};

static int on_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    struct ref_walk *w = ctx;
    (void)name;
    return w->rc = mark_chain(w->m, commit, kind == CAIRN_BRANCH);
}

/* The blobs meta/ refs name (the settings blob, and later the policy and
 * the boundaries): live as long as the store. */
static int on_meta(void *ctx, const char *name, const cairn_id *id)
{
    if (!id)
        return cairn__fail(CAIRN_CORRUPT, "ref '%s' is damaged: gc stops (cairn verify)", name);
    return emit(ctx, id);
}

int cairn__gc_mark(cairn_db *db, const cairn_gc_policy *policy, cairn_idsort *live,
                   cairn_idsort *commits, cairn_idset *boundaries, cairn_gc_mark_stats *stats)
{
    marker m = {db, policy, live, commits, boundaries, stats, {0}};
    struct ref_walk w = {&m, 0};
    cairn_id empty;
    int rc;

    memset(stats, 0, sizeof(*stats));
    cairn__empty_root_id(&empty);
    if ((rc = emit(&m, &empty)) ||
        (rc = cairn__stack_ref_list(db->stack, "meta/", on_meta, &m)))
        goto done;
    /* Branches first: a tag on a branch's retained history is marked by
     * the walk of the branch, as part of its chain. */
    rc = cairn_ref_list(db, on_ref, &w);
    if (!rc && w.rc)
        rc = w.rc;
    /* The refs of the tiers behind the primary: a write-back tier names
     * its last synced commit until the next sync, and a list of its own. */
    if (!rc)
        rc = cairn__follower_refs(db, on_follower_ref, &m);
    /* Then pins: a commit a ref's walk kept is marked already. */
    for (size_t i = 0; i < policy->n_pinned && !rc; i++)
        rc = mark_alone(&m, &policy->pinned[i], true);
done:
    cairn__idset_free(&m.marked);
    return rc;
}
