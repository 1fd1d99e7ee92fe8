/*
 * copy.c - copying branches and tags with their history from one store to
 * another (cairn_copy); also the second half of a bundle import, whose
 * source is the bundle opened as a store (bundle.c).
 *
 * A copy runs in four steps, all under the destination's writer lock:
 *
 *   1. plan   the source's refs to copy, the destination's settings (equal,
 *             or adopted by an empty store), and what each ref does there
 *             (created, moved forward, left, or refused as a conflict):
 *             every refusal happens here, before anything is written;
 *   2. walk   each ref's history back to what the destination holds whole
 *             (its refs), copying what it lacks (copier.h) - for a bundle
 *             first once without writing (CAIRN__COPY_CHECK), so that a
 *             hostile bundle is refused before the store changes;
 *   3. sync   the destination's tiers: the blobs are durable;
 *   4. refs   settings, then the boundary list (merged with the
 *             destination's own), then branches and tags, each by
 *             compare-and-swap from the value step 1 read.
 *
 * A copy stopped anywhere leaves blobs no ref names yet (never a ref to a
 * version whose blobs are not all there), and a rerun skips what is there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "copier.h"
#include "engine.h"
#include "error.h"
#include "id.h"

/* What one ref does in the destination. */
enum ref_action { REF_SAME, REF_CREATE, REF_FORWARD, REF_FORCED };

typedef struct planned_ref {
    cairn_ref_kind kind;
    const char *name;          /* the short name, into path */
    char path[CAIRN_REF_NAME_MAX + 1];
    cairn_id to;               /* the source's commit */
    bool had;                  /* the destination has the ref, at old */
    cairn_id old;
    enum ref_action action;
    bool cut;                  /* a conflict because the source's gc cut the
                                  history between old and to */
    cairn_id cut_at;           /* the source's boundary commit there */
} planned_ref;

typedef struct copy_job {
    cairn_db *src, *dst;
    cairn_copy_options opts;
    cairn_copy_report *report;
    bool dry_run;
    const char *bundle;        /* the source is this bundle: check it first */
    planned_ref *refs;
    size_t n_refs;
    cairn__ref_list dst_refs;  /* every ref of the destination at the start */
    cairn_id src_config;
    bool dst_has_config;
    cairn_id dst_config;
    bool adopt;                /* the (empty) destination takes src_config */
    uint32_t src_node_size;
    cairn_idset dst_boundary;  /* the destination's meta/boundary: commits
                                  whose history it lacks */
    bool dst_has_boundary;
    cairn_idset complete;      /* after the walk: commits dst holds whole */
    cairn_idset boundaries;    /* after the walk: boundaries reached */
} copy_job;

void cairn_copy_options_init(cairn_copy_options *opts)
{
    memset(opts, 0, sizeof(*opts));
}

/* ---------------------------------------------------------------- selecting */

static bool is_branch_or_tag(const char *path)
{
    return !strncmp(path, "heads/", 6) || !strncmp(path, "tags/", 5);
}

int cairn__copy_select(cairn_db *src, const char *const *names, size_t n_names,
                       cairn__ref_list *out)
{
    cairn__ref_list all;
    int rc;

    memset(out, 0, sizeof(*out));
    if (n_names && !names)
        return cairn__fail(CAIRN_BADARG, "refs is NULL with %zu names", n_names);
    if ((rc = cairn__ref_list_stack(src->stack, "", &all)))
        goto done;
    for (size_t i = 0; i < all.n && !rc && !n_names; i++)
        if (is_branch_or_tag(all.v[i].name))
            rc = cairn__ref_list_add(out, all.v[i].name, &all.v[i].id);
    for (size_t i = 0; i < n_names && !rc; i++) {
        char path[CAIRN_REF_NAME_MAX + 1];
        bool found = false;
        if ((rc = cairn__check_ref_name("branch or tag", names[i])))
            break;
        for (int kind = CAIRN_BRANCH; kind <= CAIRN_TAG && !rc; kind++) {
            const cairn__ref *r;
            cairn__ref_path((cairn_ref_kind)kind, names[i], path);
            if (!(r = cairn__ref_list_find(&all, path)))
                continue;
            found = true;
            if (!cairn__ref_list_find(out, path)) /* (a name given twice) */
                rc = cairn__ref_list_add(out, path, &r->id);
        }
        if (!rc && !found)
            rc = cairn__fail(CAIRN_NOTFOUND, "no branch or tag '%s' in the source", names[i]);
    }
    cairn__ref_list_sort(out);
done:
    cairn__ref_list_free(&all);
    if (rc)
        cairn__ref_list_free(out);
    return rc;
}

/* ---------------------------------------------------------------- planning */

static int settings_node_size(cairn_db *db, const cairn_id *config, uint32_t *out)
{
    cairn_buf buf = {0};
    int rc;

    if ((rc = cairn__stack_get(db->stack, config, &buf)))
        return cairn__fail_context(rc, "reading store settings");
    rc = cairn__config_decode(&buf, out);
    cairn__free(buf.data);
    return rc;
}

/* Settings: equal, adopted by an empty destination, or a refusal. */
static int plan_settings(copy_job *j)
{
    uint32_t dst_size;
    bool empty = true;
    int rc;

    if ((rc = cairn__stack_ref_get(j->src->stack, CAIRN_CONFIG_REF, &j->src_config)))
        return rc == CAIRN_NOTFOUND
                   ? cairn__fail(CAIRN_CORRUPT, "the source has no settings (meta/config)")
                   : rc;
    if ((rc = settings_node_size(j->src, &j->src_config, &j->src_node_size)))
        return cairn__fail_context(rc, "the source's settings");
    const cairn__ref *cfg = cairn__ref_list_find(&j->dst_refs, CAIRN_CONFIG_REF);
    if ((j->dst_has_config = cfg != NULL))
        j->dst_config = cfg->id;
    if (cfg && cairn__id_eq(&cfg->id, &j->src_config))
        return 0;
    for (size_t i = 0; i < j->dst_refs.n; i++)
        if (strcmp(j->dst_refs.v[i].name, CAIRN_CONFIG_REF) != 0)
            empty = false;
    if (empty) {
        j->adopt = true;
        return 0;
    }
    dst_size = cairn_node_size(j->dst);
    return cairn__fail(CAIRN_BADARG,
                       "the stores have other settings: the source's node size is %u, the "
                       "destination's %u (its meta/config differs); a copy needs equal "
                       "settings, or a new destination (which takes the source's)",
                       j->src_node_size, dst_size);
}

/* Whether the destination's branch head r->old lies in the history of the
 * source's r->to, walking the source back from r->to while seqs stay above
 * old's. A boundary commit of the source still names its dropped parent,
 * so a head at that parent is found; one further back cannot be shown to
 * lie in the history (r->cut). A head the source does not hold is found
 * only by id. */
static int in_history(copy_job *j, planned_ref *r, bool *forward)
{
    cairn_commit_info old, info;
    cairn_id id = r->to;
    int rc;

    *forward = false;
    if ((rc = cairn_commit_get(j->dst, &r->old, &old)))
        return cairn__fail_context(rc, "reading the destination's branch '%s'", r->name);
    for (;;) {
        if (cairn__id_eq(&id, &r->old)) {
            *forward = true;
            break;
        }
        if ((rc = cairn_commit_get(j->src, &id, &info))) {
            if (rc == CAIRN_MISSING) {
                cairn__detail_clear();
                rc = 0;
            }
            break;
        }
        bool go_on = info.seq > old.seq && info.has_parent;
        if (go_on && cairn__id_eq(&info.parent, &r->old))
            *forward = true;
        else if (go_on && info.history_dropped) {
            r->cut = true;
            r->cut_at = id;
        }
        id = info.parent;
        cairn_commit_info_clear(&info);
        if (!go_on || *forward || r->cut)
            break;
    }
    cairn_commit_info_clear(&old);
    return rc;
}

/* The refusal of moving ref r (the first of n_conflicts). */
static int conflict(const planned_ref *r, size_t n_conflicts)
{
    char old_hex[13], new_hex[13], more[64] = "";

    if (n_conflicts > 1)
        snprintf(more, sizeof(more), " (and %zu more refs)", n_conflicts - 1);
    cairn__id_short(&r->old, old_hex);
    cairn__id_short(&r->to, new_hex);
    if (r->kind == CAIRN_TAG)
        return cairn__fail(CAIRN_CONFLICT,
                           "tag '%s' is at %s in the destination and at %s in the source (tags "
                           "do not move); force to move it%s",
                           r->name, old_hex, new_hex, more);
    if (r->cut) {
        char cut_hex[13];
        return cairn__fail(CAIRN_CONFLICT,
                           "branch '%s' is at %s in the destination, which cannot be shown to lie "
                           "in the history of the source's %s: gc dropped the source's history "
                           "before %s; force to move it%s",
                           r->name, old_hex, new_hex, cairn__id_short(&r->cut_at, cut_hex), more);
    }
    return cairn__fail(CAIRN_CONFLICT,
                       "branch '%s' is at %s in the destination, which is not in the history "
                       "of the source's %s (moving it would drop commits from it); force to "
                       "move it%s",
                       r->name, old_hex, new_hex, more);
}

/* What each selected ref does in the destination; every refusal here. */
static int plan_refs(copy_job *j, const cairn__ref_list *sel)
{
    const planned_ref *first_conflict = NULL;
    size_t n_conflicts = 0;
    int rc = 0;

    if (!(j->refs = cairn__calloc(sel->n ? sel->n : 1, sizeof(*j->refs))))
        return cairn__fail(CAIRN_NOMEM, "out of memory planning %zu refs", sel->n);
    for (size_t i = 0; i < sel->n && !rc; i++) {
        planned_ref *r = &j->refs[j->n_refs++];
        const cairn__ref *d;
        bool forward = false;

        snprintf(r->path, sizeof(r->path), "%s", sel->v[i].name);
        r->kind = !strncmp(r->path, "tags/", 5) ? CAIRN_TAG : CAIRN_BRANCH;
        r->name = r->path + (r->kind == CAIRN_TAG ? 5 : 6);
        r->to = sel->v[i].id;
        if (!(d = cairn__ref_list_find(&j->dst_refs, r->path))) {
            r->action = REF_CREATE;
            rc = cairn__ref_check_free(j->dst->stack, r->path);
            continue;
        }
        r->had = true;
        r->old = d->id;
        if (cairn__id_eq(&r->old, &r->to)) {
            r->action = REF_SAME;
            continue;
        }
        if (r->kind == CAIRN_BRANCH && (rc = in_history(j, r, &forward)))
            break;
        if (forward) {
            r->action = REF_FORWARD;
        } else {
            r->action = REF_FORCED;
            if (!(j->opts.flags & CAIRN_COPY_FORCE) && n_conflicts++ == 0)
                first_conflict = r;
        }
    }
    if (!rc && first_conflict)
        rc = conflict(first_conflict, n_conflicts);
    return rc;
}

/* ---------------------------------------------------------------- walking */

static int dst_has(void *ctx, const cairn_id *ids, size_t n, bool *out)
{
    cairn_db *dst = ctx;
    cairn_tier *p = cairn__stack_tier(dst->stack, cairn__stack_primary(dst->stack));
    return cairn__tier_has_many(p, ids, n, out);
}

static int dst_put(void *ctx, const cairn_blob *blobs, size_t n)
{
    cairn_db *dst = ctx;
    return cairn__stack_put_many(dst->stack, blobs, n);
}

int cairn__bundle_refused(const char *path, int rc)
{
    char detail[1024];

    snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
    if (rc == CAIRN_MISSING)
        return cairn__fail(CAIRN_CORRUPT, "bundle %s lacks a blob its history needs: %s", path,
                           detail);
    if (strstr(detail, path))
        return rc; /* (the detail names the bundle already) */
    return cairn__fail(rc, "bundle %s: %s", path, detail);
}

/* One walk over every ref that moves (mode: copier.h). A writing walk
 * leaves what the refs step needs in j: the commits the destination now
 * holds whole, the boundaries reached, and the counts. */
static int walk(copy_job *j, enum cairn__copy_mode mode)
{
    cairn__copier *c = cairn__malloc(sizeof(*c));
    cairn_idset complete = {0};
    int rc = 0;

    if (!c)
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    cairn__copier_init(c, j->src, (cairn__sink){dst_has, dst_put, j->dst}, mode);
    c->progress = j->opts.progress;
    c->progress_ctx = j->opts.progress_ctx;
    /* What the destination holds whole: its refs' commits with their
     * history, unless the history is cut there (a boundary of its own,
     * whose parent the source may still have: then the walk goes on). */
    for (size_t i = 0; i < j->dst_refs.n && !rc; i++)
        if (!cairn__ref_is_meta(j->dst_refs.v[i].name) &&
            !cairn__idset_has(&j->dst_boundary, &j->dst_refs.v[i].id))
            rc = cairn__idset_add(&complete, &j->dst_refs.v[i].id);
    if (!rc && j->adopt)
        rc = cairn__copier_add(c, &j->src_config, NULL, 0);
    for (size_t i = 0; i < j->n_refs && !rc; i++)
        if (j->refs[i].action != REF_SAME)
            rc = cairn__copier_history(c, &j->refs[i].to, j->refs[i].had ? &j->refs[i].old : NULL,
                                       &complete);
    if (!rc)
        rc = cairn__copier_flush(c);
    /* What a check finds missing or undecodable is the bundle's fault;
     * other errors (the destination's, the system's) are not. */
    if (j->bundle && mode != CAIRN__COPY_WRITE &&
        (rc == CAIRN_MISSING || rc == CAIRN_CORRUPT || rc == CAIRN_VERSION))
        rc = cairn__bundle_refused(j->bundle, rc);
    if (mode != CAIRN__COPY_CHECK || j->dry_run) {
        j->report->commits = c->commits;
        j->report->blobs_copied = c->blobs_copied;
        j->report->bytes_copied = c->bytes_copied;
        j->report->blobs_skipped = c->blobs_skipped;
    }
    if (!rc && mode != CAIRN__COPY_CHECK) {
        cairn__idset_free(&j->complete);
        cairn__idset_free(&j->boundaries);
        j->complete = complete;
        j->boundaries = c->boundaries;
        memset(&complete, 0, sizeof(complete));
        memset(&c->boundaries, 0, sizeof(c->boundaries));
    }
    cairn__copier_clear(c);
    cairn__free(c);
    cairn__idset_free(&complete);
    return rc;
}

/* ---------------------------------------------------------------- refs */

/* The destination's boundary list after the copy: its own, less the
 * commits whose parent it now holds whole, plus the boundaries the walk
 * reached (commits whose parent neither store holds). Stored only if it
 * changed. A dry run only counts. */
static int merge_boundaries(copy_job *j)
{
    cairn_idset merged = {0};
    const cairn_id *id;
    bool changed = false;
    int rc = 0;

    if (j->boundaries.n == 0 && !j->dst_has_boundary)
        return 0; /* the usual case: no gc anywhere */
    for (size_t pos = 0; !rc && (id = cairn__idset_next(&j->dst_boundary, &pos));) {
        cairn_commit_info info;
        bool keep = true;
        if (cairn_commit_get(j->dst, id, &info) == 0) {
            keep = !(info.has_parent && cairn__idset_has(&j->complete, &info.parent));
            cairn_commit_info_clear(&info);
        }
        cairn__detail_clear();
        if (keep)
            rc = cairn__idset_add(&merged, id);
        else
            changed = true;
    }
    for (size_t pos = 0; !rc && (id = cairn__idset_next(&j->boundaries, &pos));) {
        if (cairn__idset_has(&merged, id))
            continue;
        if (!(rc = cairn__idset_add(&merged, id))) {
            changed = true;
            j->report->boundaries++;
        }
    }
    if (!rc && changed && !j->dry_run)
        rc = cairn__boundary_store(j->dst, &merged);
    cairn__idset_free(&merged);
    return rc;
}

static void tell_ref(copy_job *j, const planned_ref *r)
{
    if (j->opts.on_ref)
        j->opts.on_ref(j->opts.on_ref_ctx, r->kind, r->name, r->had ? &r->old : NULL, &r->to,
                       r->action == REF_FORCED);
}

/* Steps 3 and 4: durable blobs, then settings, boundaries, refs. */
static int move_refs(copy_job *j)
{
    int rc;

    if (j->dry_run) {
        for (size_t i = 0; i < j->n_refs; i++)
            if (j->refs[i].action != REF_SAME)
                tell_ref(j, &j->refs[i]);
        j->report->settings_adopted = j->adopt;
        return merge_boundaries(j);
    }
    if ((rc = cairn__stack_sync(j->dst->stack)))
        return rc;
    if (j->adopt) {
        if ((rc = cairn__stack_ref_cas(j->dst->stack, CAIRN_CONFIG_REF,
                                       j->dst_has_config ? &j->dst_config : NULL, &j->src_config)))
            return cairn__fail_context(rc, "adopting the source's settings");
        j->dst->ix.node_size = j->src_node_size;
        j->report->settings_adopted = true;
    }
    if ((rc = merge_boundaries(j)))
        return cairn__fail_context(rc, "updating the destination's meta/boundary");
    for (size_t i = 0; i < j->n_refs; i++) {
        planned_ref *r = &j->refs[i];
        if (r->action == REF_SAME)
            continue;
        if ((rc = cairn__stack_ref_cas(j->dst->stack, r->path, r->had ? &r->old : NULL, &r->to)))
            return cairn__fail_context(rc, "moving ref '%s' in the destination", r->path);
        j->report->refs_moved++;
        tell_ref(j, r);
    }
    return 0;
}

/* ---------------------------------------------------------------- copy */

int cairn__copy(cairn_db *src, cairn_db *dst, const char *const *names, size_t n_names,
                const cairn_copy_options *opts, cairn_copy_report *report, const char *bundle)
{
    cairn_copy_report local;
    cairn__ref_list sel = {0};
    copy_job j;
    bool locked = false;
    int rc;

    memset(&j, 0, sizeof(j));
    j.src = src;
    j.dst = dst;
    if (opts)
        j.opts = *opts;
    j.report = report ? report : &local;
    memset(j.report, 0, sizeof(*j.report));
    j.dry_run = j.opts.flags & CAIRN_COPY_DRY_RUN;
    j.bundle = bundle;
    if (!src || !dst)
        return cairn__fail(CAIRN_BADARG, "cairn_copy needs a source and a destination");
    if (src == dst)
        return cairn__fail(CAIRN_BADARG, "the source and the destination are the same handle");
    if (!j.dry_run && (dst->flags & CAIRN_RDONLY))
        return cairn__fail(CAIRN_RDONLY_STORE, "the destination is open read-only");
    if ((rc = cairn__copy_select(src, names, n_names, &sel)))
        goto done;
    if (!j.dry_run) {
        if ((rc = cairn__db_write_lock(dst)))
            goto done;
        locked = true;
    }
    if ((rc = cairn__ref_list_stack(dst->stack, "", &j.dst_refs)))
        goto done;
    if ((rc = cairn__boundary_load(dst, &j.dst_boundary, &j.dst_has_boundary)) ||
        (rc = plan_settings(&j)) || (rc = plan_refs(&j, &sel)))
        goto done;
    for (size_t i = 0; i < j.n_refs; i++)
        j.report->refs_same += j.refs[i].action == REF_SAME;
    if (j.dry_run)
        j.report->refs_moved = j.n_refs - j.report->refs_same;
    if (bundle && !j.dry_run && (rc = walk(&j, CAIRN__COPY_CHECK)))
        goto done;
    if ((rc = walk(&j, j.dry_run ? CAIRN__COPY_CHECK_SAME : CAIRN__COPY_WRITE)))
        goto done;
    rc = move_refs(&j);
done:
    if (locked)
        cairn__db_write_unlock(dst);
    cairn__ref_list_free(&sel);
    cairn__ref_list_free(&j.dst_refs);
    cairn__free(j.refs);
    cairn__idset_free(&j.complete);
    cairn__idset_free(&j.boundaries);
    cairn__idset_free(&j.dst_boundary);
    return rc;
}

int cairn_copy(cairn_db *src, cairn_db *dst, const char *const *refs, size_t n_refs,
               const cairn_copy_options *opts, cairn_copy_report *report)
{
    cairn__detail_clear();
    return cairn__copy(src, dst, refs, n_refs, opts, report, NULL);
}
