/* stream.c - a long scan's read-ahead in the background (see stream.h).
 *
 * The workers share one cursor stopped at level 2 (`walk`): its entries are
 * the parents of leaves in the scan's order, so taking the next unit is
 * stepping it a few entries, under the stream's mutex, with no read but a
 * level-2 node now and then. A worker then reads its unit without the
 * mutex, two batched reads (the parents, then all their leaves), so
 * several units are in flight at once and none waits on another's reads.
 *
 * Waiting: a worker that is far enough ahead of the scan sleeps on `wake`.
 * It raises `waiting` before it looks at `entered`, and the scan adds to
 * `entered` before it looks at `waiting` (both sequentially consistent),
 * so one of the two always sees the other: no wake-up is lost. */
#include "stream.h"

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"
#include "cursor.h"
#include "error.h"

#define STREAM_WORKERS 6
#define STREAMS_MAX 8 /* at once in a process: a server's many scans share
                         the tier, and their threads stay bounded */

static _Atomic uint64_t streams_started;
static _Atomic int streams_running;

uint64_t cairn__streams_started(void)
{
    return atomic_load(&streams_started);
}

/* What a reader (a worker, or the scan) is reading: the parents numbered
 * [from, to) and their leaves, and the parents [scout_from, scout_to) of a
 * later unit; busy until they are all in the cache. */
struct flight {
    uint64_t from, to;
    uint64_t scout_from, scout_to;
    bool busy;
};

struct cairn_stream {
    const cairn_index *ix;
    int dir;
    uint32_t unit, lead;

    pthread_mutex_t mu;
    pthread_cond_t wake;   /* the scan moved on, or the stream stops */
    pthread_cond_t landed; /* a flight ended */
    cairn_cursor walk;     /* under mu: stands on the next parent to hand out */
    bool walk_done;        /* under mu: past the last parent, or failed */
    uint64_t issued;       /* under mu: parents handed out (skipped ones too) */
    cairn_cursor scout;    /* under mu: stands on the next parent to read
                              ahead of the units, with some unit's leaves */
    bool scout_done;
    uint64_t scouted;      /* under mu: parents read ahead (or passed) */
    bool stop;             /* under mu */
    struct flight flights[STREAM_WORKERS + 1]; /* under mu; the last: the scan's */
    _Atomic uint64_t entered;
    _Atomic bool waiting;

    pthread_t workers[STREAM_WORKERS];
    size_t n_workers;
};

struct worker_arg {
    cairn_stream *s;
    size_t k; /* its flight */
};

/* Under mu: steps the walk from parent number `from` (passing over the
 * ones before it unread) over up to s->unit parents, listing their ids;
 * records them as flight f. */
static uint32_t take_unit(cairn_stream *s, uint64_t from, cairn_id *ids, struct flight *f)
{
    uint32_t n = 0;

    while (!s->walk_done && (s->issued < from || (ids && n < s->unit))) {
        if (s->issued >= from) {
            if (!n)
                f->from = s->issued;
            ids[n++] = *cairn__node_child(cairn__cursor_node(&s->walk), cairn__cursor_pos(&s->walk));
        }
        s->issued++;
        int rc = s->dir > 0 ? cairn__cursor_next(&s->walk) : cairn__cursor_prev(&s->walk);
        if (rc || !s->walk.valid) {
            cairn__detail_clear(); /* advisory: the scan reports its own failures */
            s->walk_done = true;
        }
    }
    f->to = s->issued;
    f->busy = n > 0;
    return n;
}

/* Under mu: lists into ids the parents of the units a wave after the next
 * one (a wave: a unit per worker), SCOUT_BATCH at most; they go with a
 * unit's leaves, so a later unit finds its parents in the cache and costs
 * one round trip, not two. The next wave's parents are left to their own
 * units: they would be taken while a scouting read of them is still in
 * flight, and read twice. */
#define WAVE(s) (STREAM_WORKERS * (uint64_t)(s)->unit)
#define SCOUT_BATCH 64

static uint32_t take_scouts(cairn_stream *s, cairn_id *ids, struct flight *f)
{
    uint32_t n = 0;

    f->scout_from = f->scout_to = 0;
    while (!s->scout_done && n < SCOUT_BATCH && s->scouted < s->issued + 2 * WAVE(s)) {
        if (s->scouted >= s->issued + WAVE(s)) {
            if (!n)
                f->scout_from = s->scouted;
            f->scout_to = s->scouted + 1;
            ids[n++] = *cairn__node_child(cairn__cursor_node(&s->scout), cairn__cursor_pos(&s->scout));
        }
        s->scouted++;
        int rc = s->dir > 0 ? cairn__cursor_next(&s->scout) : cairn__cursor_prev(&s->scout);
        if (rc || !s->scout.valid) {
            cairn__detail_clear();
            s->scout_done = true;
        }
    }
    return n;
}

/* Reads parents ids[0..n) (found in the cache, mostly: scouted), then all
 * their leaves and the scouts[0..n_scouts) in one batch; leaves is
 * scratch for those ids (room for `room`). Outside mu. */
static void read_unit(const cairn_stream *s, const cairn_id *ids, uint32_t n,
                      const cairn_id *scouts, uint32_t n_scouts, cairn_id **leaves, size_t *room)
{
    size_t m = 0;

    cairn__node_prefetch(s->ix, ids, n);
    for (uint32_t i = 0; i < n; i++) {
        cairn_node *p;
        if (cairn__node_fetch(s->ix, &ids[i], &p))
            continue; /* the scan will say why */
        if (p->level == 1 && m + p->n > *room) {
            size_t want = (m + p->n) * 2;
            cairn_id *grown = cairn__reallocarray(*leaves, want, sizeof(**leaves));
            if (grown) {
                *leaves = grown;
                *room = want;
            }
        }
        for (uint32_t j = 0; p->level == 1 && j < p->n && m < *room; j++)
            (*leaves)[m++] = *cairn__node_child(p, s->dir > 0 ? j : p->n - 1 - j);
        cairn__node_release(p);
    }
    if (m + n_scouts > *room) {
        cairn_id *grown = cairn__reallocarray(*leaves, m + n_scouts, sizeof(**leaves));
        if (grown) {
            *leaves = grown;
            *room = m + n_scouts;
        }
    }
    for (uint32_t k = 0; k < n_scouts && m < *room; k++)
        (*leaves)[m++] = scouts[k];
    if (m)
        cairn__node_prefetch(s->ix, *leaves, m);
    cairn__detail_clear();
}

/* How far ahead of the scan the workers may read: twice as far as the
 * scan has come since the stream started (at least a unit per worker), up
 * to lead; so a scan that stops soon leaves little read for nothing. */
static uint64_t ahead(const cairn_stream *s)
{
    uint64_t far = 2 * atomic_load(&s->entered);
    if (far < STREAM_WORKERS * (uint64_t)s->unit)
        far = STREAM_WORKERS * (uint64_t)s->unit;
    return far < s->lead ? far : s->lead;
}

/* Under mu: waits until the stream may hand out more, or must end.
 * Returns whether to go on. */
static bool wait_for_room(cairn_stream *s)
{
    for (;;) {
        atomic_store(&s->waiting, true);
        if (s->stop || s->walk_done)
            return false;
        if (s->issued < atomic_load(&s->entered) + ahead(s))
            return true;
        pthread_cond_wait(&s->wake, &s->mu);
    }
}

/* Under mu: whether a reader other than `self` is reading any parent
 * numbered [from, to) (as its unit, or scouting), or the leaves of one
 * (its unit). */
static bool in_flight(const cairn_stream *s, uint64_t from, uint64_t to, const struct flight *self)
{
    for (size_t k = 0; k <= STREAM_WORKERS; k++) {
        const struct flight *f = &s->flights[k];
        if (f != self && f->busy &&
            ((f->from < to && from < f->to) || (f->scout_from < to && from < f->scout_to)))
            return true;
    }
    return false;
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    cairn_stream *s = wa->s;
    struct flight *f = &s->flights[wa->k];
    cairn_id *ids = cairn__malloc((size_t)s->unit * sizeof(*ids)), *leaves = NULL;
    cairn_id scouts[SCOUT_BATCH];
    size_t room = 0;

    pthread_mutex_lock(&s->mu);
    while (ids && wait_for_room(s)) {
        uint32_t n = take_unit(s, s->issued, ids, f);
        uint32_t n_scouts = take_scouts(s, scouts, f);
        /* parents still being scouted by another: not read twice */
        while (n && in_flight(s, f->from, f->to, f))
            pthread_cond_wait(&s->landed, &s->mu);
        pthread_mutex_unlock(&s->mu);
        if (n)
            read_unit(s, ids, n, scouts, n_scouts, &leaves, &room);
        pthread_mutex_lock(&s->mu);
        f->busy = false;
        pthread_cond_broadcast(&s->landed);
    }
    pthread_mutex_unlock(&s->mu);
    cairn__free(leaves);
    cairn__free(ids);
    cairn__free(wa);
    cairn__detail_clear();
    return NULL;
}


void cairn__stream_missed(cairn_stream *s, bool parent)
{
    uint64_t entered = atomic_load(&s->entered);
    uint64_t at = parent ? entered : (entered ? entered - 1 : 0);
    struct flight *mine = &s->flights[STREAM_WORKERS];
    cairn_id *ids = NULL, *leaves = NULL;
    size_t room = 0;
    uint32_t n = 0;

    pthread_mutex_lock(&s->mu);
    while (in_flight(s, at, at + 1, NULL))
        pthread_cond_wait(&s->landed, &s->mu);
    if (at >= s->issued && !s->walk_done && (ids = cairn__malloc((size_t)s->unit * sizeof(*ids))))
        n = take_unit(s, at, ids, mine);
    pthread_mutex_unlock(&s->mu);
    if (n) {
        read_unit(s, ids, n, NULL, 0, &leaves, &room);
        pthread_mutex_lock(&s->mu);
        mine->busy = false;
        pthread_cond_broadcast(&s->landed);
        pthread_mutex_unlock(&s->mu);
    }
    cairn__free(leaves);
    cairn__free(ids);
    cairn__detail_clear();
}

void cairn__stream_entered(cairn_stream *s)
{
    atomic_fetch_add(&s->entered, 1);
    if (atomic_load(&s->waiting)) {
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->waiting, false);
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Frees what start set up; the workers, if any, have been joined. */
static void stream_free(cairn_stream *s)
{
    cairn__cursor_close(&s->scout);
    cairn__cursor_close(&s->walk);
    pthread_cond_destroy(&s->landed);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    cairn__free(s);
    atomic_fetch_sub(&streams_running, 1);
}

int cairn__stream_start(const cairn_index *ix, const cairn_id *root, const void *key,
                        size_t key_len, int dir, uint32_t skip, uint32_t unit, uint32_t lead,
                        cairn_stream **out)
{
    cairn_stream *s;
    int rc;

    *out = NULL;
    if (atomic_fetch_add(&streams_running, 1) >= STREAMS_MAX) {
        atomic_fetch_sub(&streams_running, 1);
        return cairn__fail(CAIRN_BUSY, "%d scans read ahead in the background already",
                           STREAMS_MAX);
    }
    if (!(s = cairn__calloc(1, sizeof(*s)))) {
        atomic_fetch_sub(&streams_running, 1);
        return CAIRN_NOMEM;
    }
    *s = (cairn_stream){.ix = ix, .dir = dir > 0 ? 1 : -1, .unit = unit ? unit : 1,
                        .lead = lead, .issued = 0, .entered = 1};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->landed, NULL);
    if ((rc = cairn__cursor_open(&s->walk, ix, root, 2)) ||
        (rc = dir > 0 ? cairn__cursor_seek_ge(&s->walk, key, key_len)
                      : cairn__cursor_seek_le(&s->walk, key, key_len)) ||
        (rc = cairn__cursor_open(&s->scout, ix, root, 2)) ||
        (rc = dir > 0 ? cairn__cursor_seek_ge(&s->scout, key, key_len)
                      : cairn__cursor_seek_le(&s->scout, key, key_len))) {
        stream_free(s);
        return rc;
    }
    s->walk_done = !s->walk.valid;
    s->scout_done = !s->scout.valid;
    /* the parents the scan's own window has: passed over, never read */
    struct flight none;
    take_unit(s, skip, NULL, &none);
    s->scouted = s->issued;
    for (uint32_t k = 0; k < skip && !s->scout_done; k++)
        if ((s->dir > 0 ? cairn__cursor_next(&s->scout) : cairn__cursor_prev(&s->scout)) ||
            !s->scout.valid)
            s->scout_done = true;
    for (; s->n_workers < STREAM_WORKERS; s->n_workers++) {
        struct worker_arg *wa = cairn__malloc(sizeof(*wa));
        if (!wa)
            break;
        *wa = (struct worker_arg){s, s->n_workers};
        if (pthread_create(&s->workers[s->n_workers], NULL, worker_main, wa)) {
            cairn__free(wa);
            break;
        }
    }
    if (s->n_workers == 0) {
        stream_free(s);
        return cairn__fail(CAIRN_NOMEM, "no thread for a scan's read-ahead");
    }
    atomic_fetch_add(&streams_started, 1);
    *out = s;
    return 0;
}

void cairn__stream_stop(cairn_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    stream_free(s);
}
