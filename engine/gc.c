/* gc.c - list, mark, sweep (see gc.h and docs/gc.md). */
#include "gc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "copier.h"
#include "error.h"
#include "idset.h"
#include "retention.h"

#define RUN_BYTES (64u << 20)    /* memory for sorting ids */
#define BATCH 4096               /* ids deleted per tier per batch */
#define LOCK_WAIT_MS 600000      /* a writer holding the lock longer: CAIRN_BUSY */

typedef struct gc {
    cairn_db *db;
    const char *dir;
    cairn_gc_report *res;
    cairn__gc_progress_fn progress;
    void *progress_ctx;
    uint64_t progress_done;
    cairn_idset commits;    /* marked commits: the catch-up stops at them */
    cairn_idset late;       /* ids marked by the catch-up */
    cairn_idset boundaries; /* retained commits whose parent is not */
    bool boundaries_stored; /* meta/boundary says so */
    cairn_idset doomed;     /* dropped commit objects: deleted first */
    bool doomed_deleted;
} gc;

static void path_of(const gc *g, const char *name, size_t i, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.%zu", g->dir, name, i);
}

/* ---- listing: a tier's blobs not in the live set, in id order ---- */

struct lister {
    gc *g;
    cairn_idfile *live;
    cairn_id live_id;
    int live_rc; /* 1: live_id valid, 0: no more live ids */
    cairn_idsort *dead;
    struct cairn_gc_tier_report *tr;
};

static int on_listed(void *ctx, const cairn_id *id, size_t len)
{
    struct lister *l = ctx;
    l->tr->blobs_before++;
    l->tr->bytes_before += len;
    if (l->g->progress && (l->tr->blobs_before & 0xffff) == 0)
        l->g->progress(l->g->progress_ctx, "listing", l->tr->blobs_before);
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
    struct lister l = {.tr = &g->res->tiers[i], .g = g};
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
        g->res->caught_up++;
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

static int on_follower_ref(void *ctx, const char *name, const cairn_id *id)
{
    return cairn__ref_is_meta(name) ? on_meta(ctx, name, id) : catch_up_head(ctx, id);
}

/* ---- dropped commits ---- */

/* The commit objects this gc drops: below each new boundary, back to a
 * kept commit, a first commit or history an earlier gc dropped. They go
 * first, so that a ref set meanwhile to one of them fails (the commit is
 * gone) rather than naming a version whose nodes are half deleted. */
static int find_doomed(gc *g)
{
    const cairn_id *b;
    int rc = 0;
    for (size_t pos = 0; !rc && (b = cairn__idset_next(&g->boundaries, &pos));) {
        cairn_commit_info info;
        if ((rc = cairn_commit_get(g->db, b, &info)))
            break;
        bool more = info.has_parent && !info.history_dropped;
        cairn_id id = info.parent;
        cairn_commit_info_clear(&info);
        while (more && !cairn__idset_has(&g->commits, &id) && !cairn__idset_has(&g->doomed, &id)) {
            if ((rc = cairn_commit_get(g->db, &id, &info))) {
                if (rc == CAIRN_MISSING) { /* gone already */
                    cairn__detail_clear();
                    rc = 0;
                }
                break;
            }
            if ((rc = cairn__idset_add(&g->doomed, &id))) {
                cairn_commit_info_clear(&info);
                break;
            }
            more = info.has_parent && !info.history_dropped;
            id = info.parent;
            cairn_commit_info_clear(&info);
        }
    }
    return rc;
}

/* Under the writer lock, after the catch-up: deletes the doomed commits
 * no later commit needs, in every tier. */
static int delete_doomed(gc *g)
{
    cairn_id *ids = cairn__calloc(g->doomed.n ? g->doomed.n : 1, sizeof(*ids));
    const cairn_id *id;
    size_t n = 0;
    int rc = 0;
    if (!ids)
        return CAIRN_NOMEM;
    for (size_t pos = 0; (id = cairn__idset_next(&g->doomed, &pos));)
        if (!cairn__idset_has(&g->late, id))
            ids[n++] = *id;
    for (size_t t = 0; t < g->res->n_tiers && n && !rc; t++)
        rc = cairn__tier_remove_many(cairn__stack_tier(g->db->stack, t), ids, n);
    cairn__free(ids);
    return rc;
}

/* ---- the sweep ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Takes the writer lock, waiting while a writer holds it, and holds the
 * flusher (a write-back sync) between its rounds. */
static int lock_writer(gc *g)
{
    for (long waited = 0;; waited++) {
        int rc = cairn__stack_writer_lock(g->db->stack, true);
        if (rc == 0)
            cairn__flusher_hold(g->db, true);
        if (rc != CAIRN_BUSY)
            return rc;
        if (waited >= LOCK_WAIT_MS)
            return cairn__fail(CAIRN_BUSY, "gc: a writer held the lock for %d s; nothing more "
                               "was deleted (rerun gc)", LOCK_WAIT_MS / 1000);
        cairn__detail_clear();
        sleep_ms(1);
    }
}

static void unlock_writer(gc *g)
{
    cairn__flusher_hold(g->db, false);
    cairn__stack_writer_lock(g->db->stack, false);
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
        (rc = cairn__follower_refs(g->db, on_follower_ref, g)) ||
        (rc = cairn__stack_ref_list(g->db->stack, "meta/", on_meta, g)))
        goto unlock;
    /* Before anything is deleted: walks of history stop at the boundary. */
    if (!g->boundaries_stored) {
        if ((rc = cairn__boundary_store(g->db, &g->boundaries)))
            goto unlock;
        g->boundaries_stored = true;
        /* The new record may be an old one's blob again (the same set as
         * an earlier run's), dead at the mark: it is live now. */
        if ((rc = cairn__stack_ref_list(g->db->stack, "meta/", on_meta, g)))
            goto unlock;
    }
    if (!g->doomed_deleted) {
        if ((rc = delete_doomed(g)))
            goto unlock;
        g->doomed_deleted = true;
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
        g->progress_done += n;
    }
    if (g->progress)
        g->progress(g->progress_ctx, "sweeping", g->progress_done);
unlock:
    unlock_writer(g);
    cairn__free(ids);
    return rc;
}

/* After the last batch, under the writer lock: each tier gives back the
 * space its deletes could not (tier.h, reclaim). */
static int reclaim(gc *g)
{
    int rc;
    if ((rc = lock_writer(g)))
        return rc;
    for (size_t i = 0; i < g->res->n_tiers && !rc; i++) {
        struct cairn_gc_tier_report *tr = &g->res->tiers[i];
        cairn_reclaim_result r;
        if (g->progress)
            g->progress(g->progress_ctx, "reclaiming", i);
        if ((rc = cairn__tier_reclaim(cairn__stack_tier(g->db->stack, i), &r)))
            break;
        tr->stored_before = r.stored_before;
        tr->stored_after = r.stored_after;
        tr->packs_rewritten = r.rewritten;
        snprintf(tr->note, sizeof(tr->note), "%s", r.note);
    }
    unlock_writer(g);
    return rc;
}

/* Keeps of the mark's boundaries those whose parent no branch kept (a
 * branch may drop a commit another keeps). */
static int settle_boundaries(gc *g)
{
    cairn_idset kept = {0};
    const cairn_id *b;
    int rc = 0;
    for (size_t pos = 0; !rc && (b = cairn__idset_next(&g->boundaries, &pos));) {
        cairn_commit_info info;
        if ((rc = cairn_commit_get(g->db, b, &info)))
            break;
        if (info.history_dropped || !cairn__idset_has(&g->commits, &info.parent))
            rc = cairn__idset_add(&kept, &info.id);
        cairn_commit_info_clear(&info);
    }
    cairn__idset_free(&g->boundaries);
    g->boundaries = kept;
    return rc;
}

static int load_set(const char *path, cairn_idset *set)
{
    cairn_idfile *f;
    cairn_id id;
    int rc;
    if ((rc = cairn__idfile_open(path, &f)))
        return rc;
    while ((rc = cairn__idfile_next(f, &id)) == 1)
        if ((rc = cairn__idset_add(set, &id)))
            break;
    cairn__idfile_close(f);
    return rc;
}

/* ---- resuming: a finished mark is kept until the run ends well ---- */

/* The record of a finished mark, in the work directory next to the live,
 * commits and boundaries files it describes. */
typedef struct mark_record {
    cairn_gc_policy policy;
    uint64_t live_blobs, commits, boundaries, pinned_only;
} mark_record;

#define MARK_MAGIC "cairn-gc-mark 1"
#define RESUME_MAX_AGE_US (24ll * 3600 * 1000000) /* an older mark is made again */

static int mark_save(gc *g, const mark_record *m)
{
    char path[4200], tmp[4300];
    cairn_idsort *b = NULL;
    const cairn_id *id;
    uint64_t n;
    int rc;

    path_of(g, "boundaries", 0, path, sizeof(path));
    if ((rc = cairn__idsort_open(g->dir, "boundaries-run", RUN_BYTES / 64, &b)))
        return rc;
    for (size_t pos = 0; !rc && (id = cairn__idset_next(&g->boundaries, &pos));)
        rc = cairn__idsort_add(b, id);
    if (!rc)
        rc = cairn__idsort_finish(b, path, &n);
    cairn__idsort_close(b);
    if (rc)
        return rc;
    path_of(g, "marked", 0, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cairn__fail(-errno, "gc: cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, MARK_MAGIC "\n%" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64
            " %" PRIu64 " %" PRIu64 "\n", m->policy.keep_last, m->policy.keep_newer_us,
            m->policy.grace_us, m->policy.now_us, m->live_blobs, m->commits, m->boundaries,
            m->pinned_only);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        rc = cairn__fail(-errno, "gc: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

/* Whether the work directory holds a finished mark this run may use: the
 * same policy, made less than a day ago. Using it is safe however much
 * happened since: what it keeps was kept then, and the sweep's catch-up
 * marks every commit made after it (docs/gc.md). Loads its commits and
 * boundaries. A record that does not parse, or files that fail their
 * checks (a run killed while writing them), mean no. */
static bool mark_resume(gc *g, const cairn_gc_policy *p, const char *commits_path, mark_record *m)
{
    char path[4200], magic[32];
    path_of(g, "marked", 0, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%31[^\n] %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNu64
                     " %" SCNu64 " %" SCNu64 " %" SCNu64, magic, &m->policy.keep_last,
                     &m->policy.keep_newer_us, &m->policy.grace_us, &m->policy.now_us,
                     &m->live_blobs, &m->commits, &m->boundaries, &m->pinned_only) == 9 &&
              !strcmp(magic, MARK_MAGIC);
    fclose(f);
    ok = ok && m->policy.keep_last == p->keep_last && m->policy.keep_newer_us == p->keep_newer_us &&
         m->policy.grace_us == p->grace_us && m->policy.now_us <= p->now_us &&
         p->now_us - m->policy.now_us < RESUME_MAX_AGE_US;
    path_of(g, "boundaries", 0, path, sizeof(path));
    ok = ok && !load_set(commits_path, &g->commits) && !load_set(path, &g->boundaries) &&
         g->commits.n == m->commits && g->boundaries.n == m->boundaries;
    /* A pin taken since on a commit that mark dropped (possible when the
     * run was killed before it deleted anything) needs a new mark. */
    for (size_t i = 0; ok && i < p->n_pinned; i++)
        ok = cairn__idset_has(&g->commits, &p->pinned[i]);
    if (ok)
        return true;
    cairn__detail_clear();
    cairn__idset_free(&g->commits);
    cairn__idset_free(&g->boundaries);
    return false;
}

/* Removes the files of the work directory a run writes. */
static void remove_files(gc *g, bool the_mark_too)
{
    static const char *const mark_files[] = {"live", "commits", "boundaries", "marked"};
    char path[4200];
    for (size_t i = 0; i < CAIRN_GC_TIERS_MAX; i++) {
        path_of(g, "dead", i, path, sizeof(path));
        unlink(path);
    }
    for (size_t i = 0; the_mark_too && i < sizeof(mark_files) / sizeof(mark_files[0]); i++) {
        path_of(g, mark_files[i], 0, path, sizeof(path));
        unlink(path);
    }
}

int cairn__gc_run(cairn_db *db, const cairn_gc_policy *policy, const char *work_dir,
                  bool dry_run, cairn__gc_progress_fn progress, void *progress_ctx,
                  cairn_gc_report *out)
{
    gc g = {.db = db, .dir = work_dir, .res = out, .progress = progress,
            .progress_ctx = progress_ctx};
    cairn_gc_mark_stats mark;
    cairn_idsort *live = NULL, *commits = NULL;
    cairn_idfile *dead[CAIRN_GC_TIERS_MAX] = {0};
    char live_path[4200], commits_path[4200], path[4200];
    mark_record rec = {.policy = *policy};
    uint64_t n;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->n_tiers = cairn__stack_n_tiers(db->stack);
    if (out->n_tiers > CAIRN_GC_TIERS_MAX)
        return cairn__fail(CAIRN_BADARG, "gc: more than %d tiers", CAIRN_GC_TIERS_MAX);
    path_of(&g, "live", 0, live_path, sizeof(live_path));
    path_of(&g, "commits", 0, commits_path, sizeof(commits_path));
    out->resumed = mark_resume(&g, policy, commits_path, &rec);
    if (!out->resumed) {
        remove_files(&g, true);
        rec = (mark_record){.policy = *policy};
        if ((rc = cairn__idsort_open(work_dir, "live-run", RUN_BYTES, &live)) ||
            (rc = cairn__idsort_open(work_dir, "commits-run", RUN_BYTES, &commits)) ||
            (rc = cairn__gc_mark(db, policy, live, commits, &g.boundaries, &mark)) ||
            (rc = cairn__idsort_finish(live, live_path, &rec.live_blobs)) ||
            (rc = cairn__idsort_finish(commits, commits_path, &n)) ||
            (rc = load_set(commits_path, &g.commits)))
            goto done;
        rec.commits = mark.commits;
        rec.boundaries = g.boundaries.n;
        rec.pinned_only = mark.pinned_only;
        if ((rc = mark_save(&g, &rec)))
            goto done;
    }
    out->live_blobs = rec.live_blobs;
    out->commits_kept = rec.commits;
    out->pinned_only = rec.pinned_only;
    if ((rc = settle_boundaries(&g)) || (rc = find_doomed(&g)))
        goto done;
    out->boundaries = g.boundaries.n;
    if (progress)
        progress(progress_ctx, "marking", out->live_blobs);
    for (size_t i = 0; i < out->n_tiers && !rc; i++) {
        snprintf(out->tiers[i].spec, sizeof(out->tiers[i].spec), "%s",
                 cairn__stack_tier(db->stack, i)->spec);
        rc = list_dead(&g, i, live_path);
    }
    if (rc || dry_run)
        goto done;
    for (size_t i = 0; i < out->n_tiers && !rc; i++) {
        path_of(&g, "dead", i, path, sizeof(path));
        rc = cairn__idfile_open(path, &dead[i]);
    }
    for (bool more = true; !rc && more;)
        rc = sweep_batch(&g, dead, &more);
    if (!rc)
        rc = reclaim(&g);
done:
    for (size_t i = 0; i < CAIRN_GC_TIERS_MAX; i++)
        cairn__idfile_close(dead[i]);
    cairn__idsort_close(live);
    cairn__idsort_close(commits);
    /* A run that ended well leaves nothing (a dry run too: a mark can be
     * gigabytes); one that failed after its mark leaves it for the next. */
    remove_files(&g, !rc);
    cairn__idset_free(&g.commits);
    cairn__idset_free(&g.late);
    cairn__idset_free(&g.boundaries);
    cairn__idset_free(&g.doomed);
    return rc;
}

/* ---- the public entry ---- */

void cairn_gc_options_init(cairn_gc_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->keep_last = CAIRN_GC_UNSET; /* the store's policy (retention.c) */
    opts->keep_newer_s = CAIRN_GC_UNSET;
    opts->grace_s = -1;
}

/* Every tier must list and delete: names the first that cannot. */
static int check_tiers(cairn_db *db)
{
    for (size_t i = 0; i < cairn__stack_n_tiers(db->stack); i++) {
        cairn_tier *t = cairn__stack_tier(db->stack, i);
        if (!t->m->remove_many || (!t->m->scan_from && !t->m->scan_ids))
            return cairn__fail(CAIRN_BADARG, "gc: tier '%s' cannot list and delete blobs; "
                               "nothing done", t->spec);
    }
    return 0;
}

/* The work directory of db's gc runs: BASE/cairn-gc-HASH, HASH naming the
 * store (its primary tier's identity), so that a rerun finds what a run
 * that was killed left, and two runs on one store find each other: the
 * directory's lock file is held (flock) for the whole run. OUT: dir,
 * *lock_fd. Errors: CAIRN_BUSY naming the other run, -errno. */
static int work_dir_take(cairn_db *db, const char *base, char *dir, size_t cap, int *lock_fd)
{
    char identity[512], path[4200];
    cairn__tier_identity(cairn__stack_tier(db->stack, 0), identity, sizeof(identity));
    if (snprintf(dir, cap, "%s/cairn-gc-%016llx", base,
                 (unsigned long long)XXH64(identity, strlen(identity), 0)) >= (int)cap)
        return cairn__fail(CAIRN_BADARG, "gc: work directory path too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cairn__fail(-errno, "gc: cannot make the work directory %s: %s", dir,
                           strerror(errno));
    snprintf(path, sizeof(path), "%s/lock", dir);
    if ((*lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return cairn__fail(-errno, "gc: cannot open %s: %s", path, strerror(errno));
    if (flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(*lock_fd);
        if (err == EWOULDBLOCK)
            return cairn__fail(CAIRN_BUSY, "gc: another gc is running on this store (its work "
                               "directory is %s)", dir);
        return cairn__fail(-err, "gc: cannot lock %s: %s", path, strerror(err));
    }
    return 0;
}

/* Ends a run: a run that left nothing to resume removes its directory. */
static void work_dir_release(const char *dir, int lock_fd)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/marked", dir);
    if (access(path, F_OK) != 0) {
        snprintf(path, sizeof(path), "%s/lock", dir);
        unlink(path);
        rmdir(dir);
    }
    close(lock_fd); /* releases the flock */
}

int cairn_gc(cairn_db *db, const cairn_gc_options *opts, cairn_gc_report *report)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return cairn__gc_at(db, opts, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, report);
}

int cairn__gc_at(cairn_db *db, const cairn_gc_options *opts_in, int64_t now_us,
                 cairn_gc_report *report)
{
    cairn_gc_options opts;
    cairn_gc_report local;
    cairn_gc_policy policy;
    cairn__gc_pins pins = {0};
    char dir[4096];
    const char *base;
    int rc, lock_fd = -1;

    cairn__detail_clear();
    if (!report)
        report = &local;
    memset(report, 0, sizeof(*report));
    if (opts_in)
        opts = *opts_in;
    else
        cairn_gc_options_init(&opts);
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "gc deletes: open the store for writing");
    if ((rc = check_tiers(db)))
        return rc;
    /* The store's policy under the options, and the pins (retention.h). */
    if ((rc = cairn__gc_policy_resolve(db, &opts, now_us, &policy)) ||
        (rc = cairn__gc_pins_read(db, now_us, &pins)))
        goto fail_policy;
    policy.pinned = pins.commits;
    policy.n_pinned = pins.n_commits;
    base = opts.work_dir ? opts.work_dir : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if ((rc = work_dir_take(db, base, dir, sizeof(dir), &lock_fd)))
        goto fail_policy;
    rc = cairn__gc_run(db, &policy, dir, opts.dry_run, opts.progress, opts.progress_ctx, report);
    work_dir_release(dir, lock_fd);
    report->keep_last = policy.keep_last;
    report->keep_newer_s = (uint64_t)(policy.keep_newer_us / 1000000);
    report->grace_s = (uint64_t)(policy.grace_us / 1000000);
    report->pins = pins.in_force;
    report->pins_ignored = pins.ignored;
    report->pins_expired = pins.n_expired;
    /* Expired pins go at the end, once nothing needs them (a dry run
     * only counts them). */
    if (!rc && !opts.dry_run)
        rc = cairn__gc_pins_expire(db, &pins, now_us, &report->pins_expired);
fail_policy:
    cairn__gc_pins_free(&pins);
    return rc;
}
