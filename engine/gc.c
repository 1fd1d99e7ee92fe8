/* gc.c - list, mark, sweep (see gc.h and docs/gc.md). */
#include "gc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "idset.h"

#define RUN_BYTES (64u << 20)    /* memory for sorting ids */
#define BATCH 4096               /* ids deleted per tier per batch */
#define LOCK_WAIT_MS 600000      /* a writer holding the lock longer: CAIRN_BUSY */

typedef struct gc {
    cairn_db *db;
    const char *dir;
    cairn_gc_result *res;
    cairn_idset commits;    /* marked commits: the catch-up stops at them */
    cairn_idset late;       /* ids marked by the catch-up */
    cairn_idset boundaries; /* retained commits whose parent is not */
    bool boundaries_stored; /* meta/boundary says so */
} gc;

static void path_of(const gc *g, const char *name, size_t i, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.%zu", g->dir, name, i);
}

/* ---- listing: a tier's blobs not in the live set, in id order ---- */

struct lister {
    cairn_idfile *live;
    cairn_id live_id;
    int live_rc; /* 1: live_id valid, 0: no more live ids */
    cairn_idsort *dead;
    cairn_gc_tier_result *tr;
};

static int on_listed(void *ctx, const cairn_id *id, size_t len)
{
    struct lister *l = ctx;
    l->tr->blobs_before++;
    l->tr->bytes_before += len;
    while (l->live_rc == 1 && cairn__id_cmp(&l->live_id, id) < 0)
        l->live_rc = cairn__idfile_next(l->live, &l->live_id);
    if (l->live_rc < 0)
        return l->live_rc;
    if (l->live_rc == 1 && cairn__id_eq(&l->live_id, id))
        return 0;
    l->tr->blobs_dead++;
    l->tr->bytes_dead += len;
    return cairn__idsort_add(l->dead, id);
}

static int list_dead(gc *g, size_t i, const char *live_path)
{
    struct lister l = {.tr = &g->res->tiers[i]};
    cairn_id zero;
    char path[4200];
    uint64_t n;
    int rc;

    memset(&zero, 0, sizeof(zero));
    if ((rc = cairn__idfile_open(live_path, &l.live)))
        return rc;
    l.live_rc = cairn__idfile_next(l.live, &l.live_id);
    if (!(rc = cairn__idsort_open(g->dir, "dead-run", RUN_BYTES, &l.dead))) {
        rc = cairn__tier_scan_from(cairn__stack_tier(g->db->stack, i), &zero, on_listed, &l);
        path_of(g, "dead", i, path, sizeof(path));
        if (!rc)
            rc = cairn__idsort_finish(l.dead, path, &n);
        cairn__idsort_close(l.dead);
    }
    cairn__idfile_close(l.live);
    return rc;
}

/* ---- the catch-up: commits made since the mark ---- */

static int on_late(void *ctx, const cairn_id *id, const void *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    return cairn__idset_add(&((gc *)ctx)->late, id);
}

/* Marks what head reaches beyond the marked commits: the commits back to
 * a marked one, each as its delta against its parent, the oldest whole if
 * its parent is not marked (a ref set to a commit the policy dropped). */
static int catch_up_head(gc *g, const cairn_id *head)
{
    cairn_id *chain = NULL, empty, id = *head;
    size_t n = 0, cap = 0;
    bool base_marked = false;
    int rc = 0;

    cairn__empty_root_id(&empty);
    while (!cairn__idset_has(&g->commits, &id)) {
        cairn_commit_info info;
        if (n == cap) {
            cairn_id *grown = cairn__reallocarray(chain, cap = cap ? 2 * cap : 16, sizeof(*chain));
            if (!grown) {
                rc = CAIRN_NOMEM;
                goto done;
            }
            chain = grown;
        }
        chain[n++] = id;
        if ((rc = cairn_commit_get(g->db, &id, &info)))
            goto done;
        bool more = info.has_parent && !info.history_dropped;
        if (info.has_parent && !more) { /* a boundary already: it stays one */
            if ((rc = cairn__idset_add(&g->boundaries, &info.id))) {
                cairn_commit_info_clear(&info);
                goto done;
            }
            g->boundaries_stored = false;
        }
        id = info.parent;
        cairn_commit_info_clear(&info);
        if (!more)
            break;
        base_marked = cairn__idset_has(&g->commits, &id);
    }
    for (size_t k = n; k-- > 0;) {
        cairn_commit_info info, parent;
        cairn_id base = empty;
        if ((rc = cairn_commit_get(g->db, &chain[k], &info)))
            goto done;
        if (info.has_parent && !info.history_dropped && k + 1 == n && !base_marked) {
            /* the oldest, its parent not kept: marked whole, a boundary now */
            if ((rc = cairn__idset_add(&g->boundaries, &chain[k]))) {
                cairn_commit_info_clear(&info);
                goto done;
            }
            g->boundaries_stored = false;
        }
        if (info.has_parent && !info.history_dropped && (k + 1 < n || base_marked)) {
            if ((rc = cairn_commit_get(g->db, &info.parent, &parent))) {
                cairn_commit_info_clear(&info);
                goto done;
            }
            base = parent.catalog;
            cairn_commit_info_clear(&parent);
        }
        if (!(rc = cairn__idset_add(&g->late, &chain[k])) &&
            !(rc = cairn__version_delta(&g->db->ix, &base, &info.catalog, on_late, g)))
            rc = cairn__idset_add(&g->commits, &chain[k]);
        cairn_commit_info_clear(&info);
        if (rc)
            goto done;
        g->res->caught_up_commits++;
    }
done:
    cairn__free(chain);
    return rc;
}

static int on_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    (void)kind;
    (void)name;
    return catch_up_head(ctx, commit);
}

static int on_meta(void *ctx, const char *name, const cairn_id *id)
{
    (void)name;
    return id ? cairn__idset_add(&((gc *)ctx)->late, id) : 0;
}

/* ---- the sweep ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Takes the writer lock, waiting while a writer holds it. */
static int lock_writer(gc *g)
{
    for (long waited = 0;; waited++) {
        int rc = cairn__stack_writer_lock(g->db->stack, true);
        if (rc != CAIRN_BUSY)
            return rc;
        if (waited >= LOCK_WAIT_MS)
            return cairn__fail(CAIRN_BUSY, "gc: a writer held the lock for %d s; nothing more "
                               "was deleted (rerun gc)", LOCK_WAIT_MS / 1000);
        cairn__detail_clear();
        sleep_ms(1);
    }
}

/* One batch: under the writer lock, the catch-up, then up to BATCH dead
 * ids of each tier not marked late. Sets *more while any remain. */
static int sweep_batch(gc *g, cairn_idfile **dead, bool *more)
{
    cairn_id *ids = cairn__malloc(BATCH * sizeof(*ids));
    int rc;

    *more = false;
    if (!ids)
        return CAIRN_NOMEM;
    if ((rc = lock_writer(g))) {
        cairn__free(ids);
        return rc;
    }
    if ((rc = cairn_ref_list(g->db, on_ref, g)) ||
        (rc = cairn__stack_ref_list(g->db->stack, "meta/", on_meta, g)))
        goto unlock;
    /* Before anything is deleted: walks of history stop at the boundary. */
    if (!g->boundaries_stored) {
        if ((rc = cairn__boundary_store(g->db, &g->boundaries)))
            goto unlock;
        g->boundaries_stored = true;
    }
    for (size_t i = 0; i < g->res->n_tiers && !rc; i++) {
        size_t n = 0;
        cairn_id id;
        while (dead[i] && n < BATCH && (rc = cairn__idfile_next(dead[i], &id)) == 1) {
            if (cairn__idset_has(&g->late, &id))
                g->res->kept_late++;
            else
                ids[n++] = id;
        }
        if (rc == 1)
            *more = true;
        if (rc < 0)
            break;
        if (rc == 0) {
            cairn__idfile_close(dead[i]);
            dead[i] = NULL;
        }
        rc = 0;
        if (n && !(rc = cairn__tier_remove_many(cairn__stack_tier(g->db->stack, i), ids, n)))
            g->res->tiers[i].blobs_freed += n;
    }
    g->res->batches++;
unlock:
    cairn__stack_writer_lock(g->db->stack, false);
    cairn__free(ids);
    return rc;
}

/* Keeps of the mark's boundaries those whose parent no branch kept (a
 * branch may drop a commit another keeps). */
static int settle_boundaries(gc *g)
{
    cairn_idset kept = {0};
    int rc = 0;
    for (size_t i = 0; i < g->boundaries.slots && !rc; i++) {
        cairn_commit_info info;
        if (!g->boundaries.used[i])
            continue;
        if ((rc = cairn_commit_get(g->db, &g->boundaries.v[i], &info)))
            break;
        if (info.history_dropped || !cairn__idset_has(&g->commits, &info.parent))
            rc = cairn__idset_add(&kept, &info.id);
        cairn_commit_info_clear(&info);
    }
    cairn__idset_free(&g->boundaries);
    g->boundaries = kept;
    return rc;
}

static int load_commits(gc *g, const char *path)
{
    cairn_idfile *f;
    cairn_id id;
    int rc;
    if ((rc = cairn__idfile_open(path, &f)))
        return rc;
    while ((rc = cairn__idfile_next(f, &id)) == 1)
        if ((rc = cairn__idset_add(&g->commits, &id)))
            break;
    cairn__idfile_close(f);
    return rc;
}

int cairn__gc_run(cairn_db *db, const cairn_gc_policy *policy, const char *work_dir,
                  bool dry_run, cairn_gc_result *out)
{
    gc g = {.db = db, .dir = work_dir, .res = out};
    cairn_idsort *live = NULL, *commits = NULL;
    cairn_idfile *dead[CAIRN_GC_TIERS_MAX] = {0};
    char live_path[4200], commits_path[4200], path[4200];
    uint64_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    out->n_tiers = cairn__stack_n_tiers(db->stack);
    if (out->n_tiers > CAIRN_GC_TIERS_MAX)
        return cairn__fail(CAIRN_BADARG, "gc: more than %d tiers", CAIRN_GC_TIERS_MAX);
    path_of(&g, "live", 0, live_path, sizeof(live_path));
    path_of(&g, "commits", 0, commits_path, sizeof(commits_path));
    if ((rc = cairn__idsort_open(work_dir, "live-run", RUN_BYTES, &live)) ||
        (rc = cairn__idsort_open(work_dir, "commits-run", RUN_BYTES, &commits)) ||
        (rc = cairn__gc_mark(db, policy, live, commits, &g.boundaries, &out->mark)) ||
        (rc = cairn__idsort_finish(live, live_path, &out->live_ids)) ||
        (rc = cairn__idsort_finish(commits, commits_path, &n)) ||
        (rc = load_commits(&g, commits_path)) || (rc = settle_boundaries(&g)))
        goto done;
    for (size_t i = 0; i < out->n_tiers && !rc; i++)
        rc = list_dead(&g, i, live_path);
    if (rc || dry_run)
        goto done;
    for (size_t i = 0; i < out->n_tiers && !rc; i++) {
        path_of(&g, "dead", i, path, sizeof(path));
        rc = cairn__idfile_open(path, &dead[i]);
    }
    for (bool more = true; !rc && more;)
        rc = sweep_batch(&g, dead, &more);
done:
    for (size_t i = 0; i < CAIRN_GC_TIERS_MAX; i++) {
        cairn__idfile_close(dead[i]);
        path_of(&g, "dead", i, path, sizeof(path));
        unlink(path);
    }
    cairn__idsort_close(live);
    cairn__idsort_close(commits);
    unlink(live_path);
    unlink(commits_path);
    cairn__idset_free(&g.commits);
    cairn__idset_free(&g.late);
    cairn__idset_free(&g.boundaries);
    return rc;
}
