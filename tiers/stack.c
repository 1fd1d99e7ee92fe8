/*
 * stack.c - an ordered list of tiers with write-through and front-first
 * read policies (stack.h has the rules; this file follows them).
 *
 * Roles are fixed at open:
 *
 *     mem:256M  >  mem  >  lmdb:./a  >  lmdb:./b
 *     cache        cache   primary      ref tier
 *     (bounded)    (durable tier behind it)
 *
 * The read path allocates nothing but the blobs it returns when a call asks
 * for at most STACK_SMALL ids: its bookkeeping lives on the stack.
 */
#include "alloc.h"
#include "stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "id.h"

#define STACK_MAX_TIERS CAIRN_STATS_MAX_TIERS
#define STACK_SMALL 16

struct cairn_stack {
    size_t n_tiers;
    cairn_tier *tiers[STACK_MAX_TIERS]; /* front (fastest) first */
    size_t primary;                     /* index of the first ref tier */
    _Atomic unsigned behind;            /* bit k: follower k is behind */
    bool borrowed;                      /* a view: the tiers are not ours */
    uint32_t follow_ms;                 /* follow mode: refresh interval, 0 off */
    struct front {                      /* tier k's view of the caches before it */
        struct cairn_stack *st;
        size_t k;
    } fronts[STACK_MAX_TIERS];
    _Atomic uint64_t refreshed_ms;      /* the last refresh (monotonic) */
};

/* ---------------------------------------------------------------- open */

struct promote_scan {
    bool given;
};

static int promote_visit(void *ctx, const char *key, const char *val)
{
    struct promote_scan *scan = ctx;

    (void)val;
    if (strcmp(key, "promote") == 0)
        scan->given = true;
    return 0;
}

/* Whether the tier spec part sets promote itself (the backend has already
 * parsed and checked the value; here only its presence matters). */
static bool promote_given(const char *part)
{
    struct promote_scan scan = {false};
    const char *q = strchr(part, '?');

    if (q)
        cairn__opts_each(q + 1, promote_visit, &scan);
    return scan.given;
}

/* Assigns roles from back to front: a tier is a cache if it has a capacity
 * or is not durable with a durable tier behind it; the first other tier is
 * the primary. A tier durable_as_store (redis) is not durable for this
 * rule, so a durable tier behind it makes it a cache; once it is a store,
 * it counts as durable for the tiers in front of it. A bounded tier with nothing durable behind it would lose
 * refs and blobs to eviction, and a cache named on a directory that holds a
 * store would evict that store's blobs: both are bad specs, refused before
 * any tier is opened. */
static int assign_roles(const char *spec, cairn_tier_config *cfgs, size_t n)
{
    bool durable_behind = false;

    for (size_t i = n; i-- > 0;) {
        cairn_tier_config *c = &cfgs[i];

        if (c->capacity && !durable_behind)
            return cairn__fail(CAIRN_BADSPEC,
                               "spec '%s': %s is a cache and needs a durable tier behind it",
                               spec, c->spec);
        c->is_cache = c->capacity || (!(c->caps & CAIRN_TIER_DURABLE) && durable_behind);
        if (c->is_cache && c->holds_store)
            return cairn__fail(CAIRN_BADSPEC,
                               "spec '%s': %s would be a cache, but '%s' holds a store (it has "
                               "refs), whose blobs a cache evicts; refusing. Name it without a "
                               "capacity (redis: with role=store) to use it as a store",
                               spec, c->spec, c->arg);
        if ((c->caps & CAIRN_TIER_DURABLE) || (c->durable_as_store && !c->is_cache))
            durable_behind = true;
    }
    /* A write-back tier is written by sync from the tiers in front of it:
     * one of them must be a store (the primary). */
    bool store_in_front = false;
    for (size_t i = 0; i < n; i++) {
        if (cfgs[i].write_back && !store_in_front)
            return cairn__fail(CAIRN_BADSPEC,
                               "spec '%s': %s is write=back, which needs a durable store in front "
                               "of it to hold commits until they are synced "
                               "(lmdb:DIR>%s)",
                               spec, cfgs[i].spec, cfgs[i].spec);
        if (!cfgs[i].is_cache)
            store_in_front = true;
    }
    return 0;
}

/* Splits spec on '>' into at most STACK_MAX_TIERS parts of a private copy
 * (*copy, to free). An empty part is a bad spec naming its position. */
static int split_spec(const char *spec, char **copy, char **parts, size_t *n_parts)
{
    size_t n = 0, offset = 0;
    char *p;

    if (!spec || !*spec)
        return cairn__fail(CAIRN_BADSPEC, "empty stack spec");
    if (!(*copy = cairn__strdup(spec)))
        return cairn__fail(CAIRN_NOMEM, "spec '%s': out of memory", spec);
    for (p = *copy;; n++) {
        char *end = strchr(p, '>');

        if (end)
            *end = '\0';
        if (!*p) {
            const char *where = n == 0 ? "'>' at the start" : !end ? "'>' at the end"
                                                                   : "doubled '>'";
            cairn__free(*copy);
            *copy = NULL;
            return cairn__fail(CAIRN_BADSPEC, "spec '%s': tier %zu is empty (%s, character %zu)",
                               spec, n + 1, where, n == 0 ? 1 : end ? offset + 1 : offset);
        }
        if (n == STACK_MAX_TIERS) {
            cairn__free(*copy);
            *copy = NULL;
            return cairn__fail(CAIRN_BADSPEC, "spec '%s': more than %d tiers", spec,
                               STACK_MAX_TIERS);
        }
        parts[n] = p;
        if (!end)
            break;
        offset += (size_t)(end - p) + 1;
        p = end + 1;
    }
    *n_parts = n + 1;
    return 0;
}

/* A blob from the first cache in front of tier k that holds it, checked
 * against its id (a damaged copy is a miss). */
static void front_get(void *ctx, const cairn_id *id, cairn_buf *out)
{
    const struct front *f = ctx;
    *out = (cairn_buf){0};
    for (size_t j = 0; j < f->k; j++) {
        cairn_tier *t = f->st->tiers[j];
        cairn_id got;
        if (!t->is_cache || cairn__tier_get_many(t, id, 1, out) || !out->data)
            continue;
        if (cairn__sha256(out->data, out->len, &got) == 0 && cairn__id_eq(&got, id))
            break;
        cairn__free(out->data);
        *out = (cairn_buf){0};
    }
    cairn__detail_clear();
}

static void front_put(void *ctx, const cairn_blob *blob)
{
    const struct front *f = ctx;
    for (size_t j = 0; j < f->k; j++)
        if (f->st->tiers[j]->is_cache)
            cairn__tier_put_many(f->st->tiers[j], blob, 1);
    cairn__detail_clear();
}

/* A read-only open found no store in a tier in front of another: most
 * likely meant as a cache, which a capacity makes it (a cache is created
 * even by a read-only open). */
static int hint_missing_front(const char *part)
{
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
    return cairn__fail(CAIRN_NOTFOUND,
                       "%s (a tier in front of another without a capacity is a store of its "
                       "own; to make it a cache, give it one: '%s%scapacity=SIZE')",
                       detail, part, strchr(part, '?') ? "&" : "?");
}

/* Parses and checks every tier, assigns roles, and only then opens the
 * tiers: nothing is created or changed on disk for a spec that is refused. */
int cairn__stack_open(const char *spec, unsigned open_flags, cairn_stack **out)
{
    cairn_tier_config *cfgs = NULL;
    char *parts[STACK_MAX_TIERS];
    char *copy = NULL;
    cairn_stack *st = NULL;
    size_t n_parts = 0;
    int rc;

    *out = NULL;
    if ((rc = split_spec(spec, &copy, parts, &n_parts)))
        return rc;
    if (!(cfgs = cairn__calloc(n_parts, sizeof(*cfgs))) || !(st = cairn__calloc(1, sizeof(*st)))) {
        rc = cairn__fail(CAIRN_NOMEM, "spec '%s': out of memory", spec);
        goto done;
    }
    for (size_t i = 0; i < n_parts; i++)
        if ((rc = cairn__tier_parse(parts[i], open_flags, &cfgs[i]))) {
            if (rc == CAIRN_NOTFOUND && i + 1 < n_parts)
                rc = hint_missing_front(parts[i]);
            goto done;
        }
    if ((rc = assign_roles(spec, cfgs, n_parts)))
        goto done;
    for (size_t i = 0; i < n_parts; i++)
        if (cfgs[i].role_check && (rc = cfgs[i].role_check(&cfgs[i])))
            goto done;
    st->primary = n_parts;
    for (; st->n_tiers < n_parts; st->n_tiers++) {
        size_t i = st->n_tiers;
        cairn_tier *t;

        if ((rc = cairn__tier_open_config(&cfgs[i], &st->tiers[i])))
            goto done;
        t = st->tiers[i];
        t->write_back = cfgs[i].write_back;
        st->fronts[i] = (struct front){st, i};
        t->front_get = front_get;
        t->front_put = front_put;
        t->front_ctx = &st->fronts[i];
        if (!promote_given(parts[i]))
            t->promote = t->is_cache;
        if (!t->is_cache && st->primary == n_parts)
            st->primary = i;
    }
    /* The last tier is never a cache, so a primary always exists. */
    *out = st;
    st = NULL;
done:
    cairn__stack_close(st);
    for (size_t i = 0; cfgs && i < n_parts; i++)
        cairn__tier_config_clear(&cfgs[i]);
    cairn__free(cfgs);
    cairn__free(copy);
    return rc;
}

void cairn__stack_close(cairn_stack *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tiers && !st->borrowed; i++)
        cairn__tier_close(st->tiers[i]);
    cairn__free(st);
}

int cairn__stack_of_tier(cairn_tier *t, cairn_stack **out)
{
    cairn_stack *st;

    *out = NULL;
    if (!(st = cairn__calloc(1, sizeof(*st)))) {
        cairn__tier_close(t);
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    }
    t->is_cache = false;
    st->n_tiers = 1;
    st->tiers[0] = t;
    st->primary = 0;
    *out = st;
    return 0;
}

int cairn__stack_view(const cairn_stack *st, size_t k, cairn_stack **out)
{
    cairn_stack *view;

    *out = NULL;
    if (k >= st->n_tiers)
        return cairn__fail(CAIRN_BADARG, "no tier %zu in a stack of %zu", k, st->n_tiers);
    if (!(view = cairn__calloc(1, sizeof(*view))))
        return cairn__fail(CAIRN_NOMEM, "out of memory");
    view->n_tiers = 1;
    view->tiers[0] = st->tiers[k];
    view->borrowed = true;
    *out = view;
    return 0;
}

size_t cairn__stack_primary(const cairn_stack *st)
{
    return st->primary;
}

unsigned cairn__stack_behind(const cairn_stack *st)
{
    return atomic_load(&st->behind);
}

void cairn__stack_set_behind(cairn_stack *st, size_t k, bool behind)
{
    if (behind)
        atomic_fetch_or(&st->behind, 1u << k);
    else
        atomic_fetch_and(&st->behind, ~(1u << k));
}

size_t cairn__stack_n_tiers(const cairn_stack *st)
{
    return st->n_tiers;
}

cairn_tier *cairn__stack_tier(const cairn_stack *st, size_t i)
{
    return i < st->n_tiers ? st->tiers[i] : NULL;
}

bool cairn__stack_durable(const cairn_stack *st)
{
    return st->tiers[st->primary]->caps & CAIRN_TIER_DURABLE;
}

/* ---------------------------------------------------------------- reads */

/* Per-call bookkeeping of a read: which ids are still missing, the
 * sub-request for one tier, and where each hit came from. */
struct read_work {
    size_t *missing;      /* indexes into ids/out still to find */
    cairn_id *sub_ids;    /* ids of the current sub-request */
    cairn_buf *sub_out;   /* its results */
    unsigned char *found; /* tier index + 1 of each hit, 0 if none */
    cairn_blob *promote;  /* blobs to copy into one earlier tier */
};

struct read_small {
    size_t missing[STACK_SMALL];
    cairn_id sub_ids[STACK_SMALL];
    cairn_buf sub_out[STACK_SMALL];
    unsigned char found[STACK_SMALL];
    cairn_blob promote[STACK_SMALL];
};

static int work_init(struct read_work *w, struct read_small *small, size_t n)
{
    if (n <= STACK_SMALL) {
        w->missing = small->missing;
        w->sub_ids = small->sub_ids;
        w->sub_out = small->sub_out;
        w->found = small->found;
        w->promote = small->promote;
        return 0;
    }
    w->missing = cairn__malloc(n * sizeof(*w->missing));
    w->sub_ids = cairn__malloc(n * sizeof(*w->sub_ids));
    w->sub_out = cairn__malloc(n * sizeof(*w->sub_out));
    w->found = cairn__malloc(n * sizeof(*w->found));
    w->promote = cairn__malloc(n * sizeof(*w->promote));
    if (w->missing && w->sub_ids && w->sub_out && w->found && w->promote)
        return 0;
    return CAIRN_NOMEM;
}

static void work_free(struct read_work *w, const struct read_small *small)
{
    if (w->missing == small->missing)
        return;
    cairn__free(w->missing);
    cairn__free(w->sub_ids);
    cairn__free(w->sub_out);
    cairn__free(w->found);
    cairn__free(w->promote);
}

static void free_bufs(cairn_buf *bufs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cairn__free(bufs[i].data);
        bufs[i].data = NULL;
        bufs[i].len = 0;
    }
}

/* Asks tier k for the m ids still missing and moves the verified hits to
 * out. A blob that does not match its id is dropped from a cache (and
 * stays missing) but is CAIRN_CORRUPT from any other tier. A cache that
 * fails is skipped: caches are best-effort, the tiers behind them are not. */
static int read_tier(cairn_stack *st, size_t k, const cairn_id *ids, cairn_buf *out,
                     struct read_work *w, size_t *m)
{
    cairn_tier *t = st->tiers[k];
    size_t still = 0;
    int rc;

    for (size_t j = 0; j < *m; j++)
        w->sub_ids[j] = ids[w->missing[j]];
    if ((rc = cairn__tier_get_many(t, w->sub_ids, *m, w->sub_out))) {
        if (!t->is_cache)
            return rc;
        cairn__detail_clear();
        return 0;
    }
    for (size_t j = 0; j < *m; j++) {
        size_t i = w->missing[j];
        cairn_id actual;

        if (!w->sub_out[j].data) {
            w->missing[still++] = i;
            continue;
        }
        if (cairn__sha256(w->sub_out[j].data, w->sub_out[j].len, &actual)) {
            free_bufs(w->sub_out + j, *m - j);
            return CAIRN_NOMEM; /* cannot check it: never serve it unchecked */
        }
        if (!cairn__id_eq(&actual, &ids[i])) {
            char hex[CAIRN_ID_HEX + 1];
            if (!t->is_cache) {
                free_bufs(w->sub_out + j, *m - j);
                cairn_id_to_hex(&ids[i], hex);
                return cairn__fail(CAIRN_CORRUPT, "blob %s in tier '%s' does not match its id",
                                   hex, t->spec);
            }
            free_bufs(w->sub_out + j, 1);
            cairn__tier_remove_many(t, &ids[i], 1);
            cairn__detail_clear();
            w->missing[still++] = i;
            continue;
        }
        out[i] = w->sub_out[j];
        w->found[i] = (unsigned char)(k + 1);
    }
    *m = still;
    return 0;
}

/* Copies hits into every earlier tier with promote set: tier p gets the
 * blobs found behind it. Best-effort: a failed copy costs only speed. */
static void promote_hits(cairn_stack *st, const cairn_id *ids, size_t n, cairn_buf *out,
                         struct read_work *w)
{
    for (size_t p = 0; p + 1 < st->n_tiers; p++) {
        size_t m = 0;

        if (!st->tiers[p]->promote)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (w->found[i] > p + 1) {
                w->promote[m].id = ids[i];
                w->promote[m].data = out[i].data;
                w->promote[m++].len = out[i].len;
            }
        }
        if (m && cairn__tier_put_many(st->tiers[p], w->promote, m))
            cairn__detail_clear();
    }
}

int cairn__stack_get_many(cairn_stack *st, const cairn_id *ids, size_t n, cairn_buf *out)
{
    struct read_small small;
    struct read_work w;
    size_t m = n;
    int rc;

    if (n == 0)
        return 0;
    if (!ids || !out)
        return cairn__fail(CAIRN_BADARG, "get_many: NULL array for %zu ids", n);
    memset(out, 0, n * sizeof(*out));
    if ((rc = work_init(&w, &small, n))) {
        rc = cairn__fail(rc, "out of memory reading %zu blobs", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        w.missing[i] = i;
        w.found[i] = 0;
    }
    for (size_t k = 0; k < st->n_tiers && m > 0; k++) {
        if ((rc = read_tier(st, k, ids, out, &w, &m))) {
            free_bufs(out, n);
            goto done;
        }
    }
    if (m < n)
        promote_hits(st, ids, n, out, &w);
done:
    work_free(&w, &small);
    return rc;
}

int cairn__stack_get(cairn_stack *st, const cairn_id *id, cairn_buf *out)
{
    char hex[CAIRN_ID_HEX + 1];
    int rc;

    if ((rc = cairn__stack_get_many(st, id, 1, out)))
        return rc;
    if (!out->data) {
        cairn_id_to_hex(id, hex);
        return cairn__fail(CAIRN_MISSING, "blob %s is in no tier", hex);
    }
    return 0;
}

/* ---------------------------------------------------------------- writes */

/* Writes blobs to every tier but the primary, back to front, so that the
 * durable tiers hold them before any cache in front of them. A cache that
 * fails is skipped (a blob it lacks is a miss); a follower that fails is
 * marked behind (it will catch up by diff). Neither fails the write: only
 * the primary decides a commit. */
static void put_others(cairn_stack *st, const cairn_blob *blobs, size_t n)
{
    for (size_t k = st->n_tiers; k-- > 0;) {
        cairn_tier *t = st->tiers[k];

        if (t->write_back)
            cairn__stack_set_behind(st, k, true);
        if (k == st->primary || (!t->is_cache && (cairn__stack_behind(st) & (1u << k))))
            continue; /* a follower behind gets everything when it catches up */
        if (cairn__tier_put_many(t, blobs, n) && !t->is_cache)
            cairn__stack_set_behind(st, k, true);
        cairn__detail_clear();
    }
}

int cairn__stack_put_many(cairn_stack *st, const cairn_blob *blobs, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    if ((rc = cairn__tier_put_many(st->tiers[st->primary], blobs, n)))
        return cairn__fail_context(rc, "writing %zu blobs to tier '%s'", n,
                                   st->tiers[st->primary]->spec);
    put_others(st, blobs, n);
    return 0;
}

/* Moves name from old_id to new_id in every follower that is not behind.
 * A follower whose CAS fails (it failed, or its ref was not at old_id) is
 * marked behind instead: it keeps the ref it has, whose blobs it holds. */
static void follow_all(cairn_stack *st, const char *name, const cairn_id *old_id,
                       const cairn_id *new_id)
{
    for (size_t k = st->primary + 1; k < st->n_tiers; k++) {
        if (st->tiers[k]->write_back)
            cairn__stack_set_behind(st, k, true);
        if (st->tiers[k]->is_cache || (cairn__stack_behind(st) & (1u << k)))
            continue;
        if (cairn__tier_ref_cas(st->tiers[k], name, old_id, new_id))
            cairn__stack_set_behind(st, k, true);
        cairn__detail_clear();
    }
}

int cairn__stack_publish(cairn_stack *st, const cairn_blob *blobs, size_t n, const char *ref,
                         const cairn_id *old_id, const cairn_id *new_id)
{
    int rc;

    if (n)
        put_others(st, blobs, n);
    if ((rc = cairn__tier_publish(st->tiers[st->primary], blobs, n, ref, old_id, new_id)))
        return rc;
    follow_all(st, ref, old_id, new_id);
    return 0;
}

int cairn__stack_ref_cas(cairn_stack *st, const char *name, const cairn_id *old_id,
                         const cairn_id *new_id)
{
    int rc;

    if ((rc = cairn__tier_ref_cas(st->tiers[st->primary], name, old_id, new_id)))
        return rc;
    follow_all(st, name, old_id, new_id);
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cairn__stack_refresh(cairn_stack *st)
{
    atomic_store(&st->refreshed_ms, mono_ms());
    return cairn__tier_refresh(st->tiers[st->primary]);
}

void cairn__stack_set_follow(cairn_stack *st, uint32_t ms)
{
    st->follow_ms = ms;
    atomic_store(&st->refreshed_ms, mono_ms());
}

/* Follow mode: one thread refreshes when due (the others go on with the
 * refs they have); a failure keeps the old refs, as a reader that lost
 * its service must. */
static void maybe_follow(cairn_stack *st)
{
    if (!st->follow_ms)
        return;
    uint64_t last = atomic_load(&st->refreshed_ms), now = mono_ms();
    if (now - last < st->follow_ms || !atomic_compare_exchange_strong(&st->refreshed_ms, &last, now))
        return;
    if (cairn__tier_refresh(st->tiers[st->primary]))
        cairn__detail_clear();
}

int cairn__stack_ref_get(cairn_stack *st, const char *name, cairn_id *out)
{
    maybe_follow(st);
    return cairn__tier_ref_get(st->tiers[st->primary], name, out);
}

int cairn__stack_ref_list(cairn_stack *st, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    maybe_follow(st);
    return cairn__tier_ref_list(st->tiers[st->primary], prefix, fn, ctx);
}

int cairn__stack_writer_lock(cairn_stack *st, bool acquire)
{
    int rc = 0;
    size_t k;

    for (k = st->primary; k < st->n_tiers; k++) {
        if (st->tiers[k]->is_cache)
            continue;
        if (!acquire)
            cairn__tier_writer_lock(st->tiers[k], false);
        else if ((rc = cairn__tier_writer_lock(st->tiers[k], true)))
            break;
    }
    if (rc) /* release what was taken, primary first */
        while (k-- > st->primary)
            if (!st->tiers[k]->is_cache)
                cairn__tier_writer_lock(st->tiers[k], false);
    return rc;
}

/* Syncs every tier, even after one fails, and returns the first error. */
int cairn__stack_sync(cairn_stack *st)
{
    int first = 0;

    for (size_t k = st->n_tiers; k-- > 0;) {
        int rc = cairn__tier_sync(st->tiers[k]);
        if (rc && !first)
            first = cairn__fail_context(rc, "syncing tier '%s'", st->tiers[k]->spec);
    }
    return first;
}

/* Counters and usage of each tier. A tier that cannot report its usage
 * shows 0 blobs and 0 bytes rather than failing the whole call. */
int cairn__stack_stats(cairn_stack *st, cairn_stats *out)
{
    out->n_tiers = (unsigned)st->n_tiers;
    for (size_t k = 0; k < st->n_tiers; k++) {
        cairn_tier *t = st->tiers[k];
        cairn_tier_stats *ts = &out->tiers[k];

        memset(ts, 0, sizeof(*ts));
        snprintf(ts->name, sizeof(ts->name), "%s", t->m->name);
        snprintf(ts->spec, sizeof(ts->spec), "%s", t->spec);
        ts->gets = atomic_load(&t->counters.gets);
        ts->hits = atomic_load(&t->counters.hits);
        ts->misses = atomic_load(&t->counters.misses);
        ts->puts = atomic_load(&t->counters.puts);
        ts->put_bytes = atomic_load(&t->counters.put_bytes);
        ts->evictions = atomic_load(&t->counters.evictions);
        ts->io_submits = atomic_load(&t->counters.io_submits);
        ts->io_ops = atomic_load(&t->counters.io_ops);
        ts->io_uring = atomic_load(&t->counters.io_uring);
        ts->behind = (cairn__stack_behind(st) >> k) & 1u;
        ts->write_back = t->write_back;
        if (t->m->remote_stats)
            t->m->remote_stats(t, ts);
        if (cairn__tier_usage(t, &ts->blobs, &ts->bytes)) {
            ts->blobs = ts->bytes = 0;
            cairn__detail_clear();
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- pins */

/* Pins live in the ref tiers (caches hold blobs only, and may be another
 * store's): a gc sweeping a ref tier runs on a stack that holds refs there,
 * and reads the pins of every ref tier it has. So a pin written to every
 * ref tier of the reader's stack is seen by every gc that can delete what
 * the reader reads through its ref tiers. */

int cairn__stack_pin_put(cairn_stack *st, const char *name, const void *bytes, size_t len,
                         unsigned *written)
{
    int first = 0;

    *written = 0;
    for (size_t k = st->primary; k < st->n_tiers; k++) {
        cairn_tier *t = st->tiers[k];
        int rc;
        if (t->is_cache)
            continue;
        if ((rc = cairn__tier_pin_put(t, name, bytes, len)) == 0)
            *written |= 1u << k;
        else if (!first)
            first = rc;
        else
            cairn__detail_clear();
    }
    return *written ? 0 : first ? first : cairn__fail(-ENOTSUP, "the stack has no ref tier");
}

int cairn__stack_pin_delete(cairn_stack *st, const char *name)
{
    int first = 0;

    for (size_t k = st->primary; k < st->n_tiers; k++) {
        cairn_tier *t = st->tiers[k];
        int rc;
        if (t->is_cache || !cairn__tier_can_pin(t))
            continue;
        if ((rc = cairn__tier_pin_delete(t, name)) && !first)
            first = rc;
    }
    return first;
}

struct tier_pin_ctx {
    size_t k;
    cairn__stack_pin_fn fn;
    void *ctx;
};

static int tier_pin_visit(void *ctx, const char *name, const void *bytes, size_t len)
{
    struct tier_pin_ctx *tc = ctx;
    return tc->fn(tc->ctx, tc->k, name, bytes, len);
}

int cairn__stack_pin_list(cairn_stack *st, cairn__stack_pin_fn fn, void *ctx)
{
    bool any = false;
    int rc = 0;

    for (size_t k = st->primary; k < st->n_tiers && !rc; k++) {
        struct tier_pin_ctx tc = {k, fn, ctx};
        if (st->tiers[k]->is_cache || !cairn__tier_can_pin(st->tiers[k]))
            continue;
        any = true;
        if ((rc = cairn__tier_pin_list(st->tiers[k], tier_pin_visit, &tc)))
            cairn__fail_context(rc, "listing the pins of tier '%s'", st->tiers[k]->spec);
    }
    if (!rc && !any)
        rc = cairn__fail(-ENOTSUP, "no ref tier of the stack holds pins");
    return rc;
}
