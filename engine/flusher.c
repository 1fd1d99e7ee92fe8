/*
 * flusher.c - write-back for long-running processes: a background thread
 * that brings the write-back tiers up to date every sync_interval_ms, and a
 * bounded queue of commits waiting for it (cairn_options).
 *
 * The flusher does not hold the store's writer lock while it uploads:
 * commits go on meanwhile (they write the front store only; a write-back
 * tier is written by nobody else). It snapshots the primary's refs, copies
 * what the tier lacks and moves the tier's refs to the snapshot; commits
 * made meanwhile are counted and left for the next round. flush_mu keeps
 * it and cairn_sync from catching the same tier up at once.
 *
 * The queue: each commit or ref move counts one; a transaction that would
 * begin with queue_max of them unsynced waits for the flusher, at most ten
 * intervals (1 to 60 s), then fails with CAIRN_BUSY naming the flusher's
 * last error. So a service that is down stops the writer with a clear error
 * after a bounded time, instead of letting the queue grow without bound or
 * blocking it for ever.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"

#define DEFAULT_QUEUE_MAX 1000

struct cairn_flusher {
    cairn_db *db;
    pthread_t thread;
    pthread_mutex_t mu;       /* the fields below */
    pthread_mutex_t flush_mu; /* one catch-up at a time (flusher, cairn_sync) */
    pthread_cond_t wake;      /* the thread: a round is due, or stop */
    pthread_cond_t room;      /* writers: the queue shrank */
    bool stop;
    uint32_t interval_ms;
    uint64_t queue_max;
    uint64_t unsynced; /* commits and ref moves not yet in the write-back tiers */
    int last_rc;
    char last_error[512];
};

static void deadline_in(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* One round: the write-back tiers catch up with the primary's refs as they
 * are now. Commits made meanwhile stay counted (and their tier behind). */
static int flush_round(cairn_flusher *fl)
{
    cairn_stack *st = fl->db->stack;
    pthread_mutex_lock(&fl->mu);
    uint64_t taken = fl->unsynced;
    pthread_mutex_unlock(&fl->mu);

    pthread_mutex_lock(&fl->flush_mu);
    int rc = cairn__followers_catch_up(fl->db, CAIRN__CATCH_UP_WRITE_BACK);
    pthread_mutex_unlock(&fl->flush_mu);

    pthread_mutex_lock(&fl->mu);
    fl->last_rc = rc;
    if (rc) {
        snprintf(fl->last_error, sizeof(fl->last_error), "%s", cairn_errdetail());
    } else {
        fl->last_error[0] = 0;
        fl->unsynced -= taken;
    }
    if (fl->unsynced) /* commits during the round: not in the snapshot */
        for (size_t k = 0; k < cairn__stack_n_tiers(st); k++)
            if (cairn__stack_tier(st, k)->write_back)
                cairn__stack_set_behind(st, k, true);
    pthread_cond_broadcast(&fl->room);
    pthread_mutex_unlock(&fl->mu);
    cairn__detail_clear();
    return rc;
}

static void *flusher_main(void *arg)
{
    cairn_flusher *fl = arg;
    pthread_mutex_lock(&fl->mu);
    while (!fl->stop) {
        struct timespec until;
        deadline_in(&until, fl->interval_ms);
        while (!fl->stop && pthread_cond_timedwait(&fl->wake, &fl->mu, &until) != ETIMEDOUT)
            if (fl->unsynced >= fl->queue_max)
                break; /* woken by a full queue: go now */
        if (fl->stop)
            break;
        if (!fl->unsynced)
            continue;
        pthread_mutex_unlock(&fl->mu);
        flush_round(fl);
        pthread_mutex_lock(&fl->mu);
    }
    pthread_mutex_unlock(&fl->mu);
    return NULL;
}

int cairn__flusher_start(cairn_db *db, uint32_t interval_ms, uint32_t queue_max)
{
    cairn_flusher *fl;
    bool any = false;

    for (size_t k = 0; k < cairn__stack_n_tiers(db->stack); k++)
        any |= cairn__stack_tier(db->stack, k)->write_back;
    if (!interval_ms || !any || (db->flags & CAIRN_RDONLY))
        return 0;
    if (!(fl = cairn__calloc(1, sizeof(*fl))))
        return CAIRN_NOMEM;
    fl->db = db;
    fl->interval_ms = interval_ms;
    fl->queue_max = queue_max ? queue_max : DEFAULT_QUEUE_MAX;
    pthread_mutex_init(&fl->mu, NULL);
    pthread_mutex_init(&fl->flush_mu, NULL);
    pthread_cond_init(&fl->wake, NULL);
    pthread_cond_init(&fl->room, NULL);
    /* What a previous process left unsynced counts from the start. */
    if (cairn__stack_behind(db->stack))
        fl->unsynced = 1;
    int rc = pthread_create(&fl->thread, NULL, flusher_main, fl);
    if (rc) {
        pthread_mutex_destroy(&fl->mu);
        pthread_mutex_destroy(&fl->flush_mu);
        pthread_cond_destroy(&fl->wake);
        pthread_cond_destroy(&fl->room);
        cairn__free(fl);
        return cairn__fail(-rc, "starting the write-back flusher: %s", strerror(rc));
    }
    db->flusher = fl;
    return 0;
}

void cairn__flusher_stop(cairn_db *db)
{
    cairn_flusher *fl = db->flusher;
    if (!fl)
        return;
    pthread_mutex_lock(&fl->mu);
    fl->stop = true;
    pthread_cond_broadcast(&fl->wake);
    pthread_cond_broadcast(&fl->room);
    pthread_mutex_unlock(&fl->mu);
    pthread_join(fl->thread, NULL);
    pthread_mutex_destroy(&fl->mu);
    pthread_mutex_destroy(&fl->flush_mu);
    pthread_cond_destroy(&fl->wake);
    pthread_cond_destroy(&fl->room);
    cairn__free(fl);
    db->flusher = NULL;
}

void cairn__flusher_committed(cairn_db *db)
{
    cairn_flusher *fl = db->flusher;
    if (!fl)
        return;
    pthread_mutex_lock(&fl->mu);
    if (++fl->unsynced >= fl->queue_max)
        pthread_cond_signal(&fl->wake);
    pthread_mutex_unlock(&fl->mu);
}

int cairn__flusher_wait_room(cairn_db *db)
{
    cairn_flusher *fl = db->flusher;
    struct timespec until;
    int rc = 0;
    if (!fl)
        return 0;
    uint64_t wait_ms = (uint64_t)fl->interval_ms * 10;
    wait_ms = wait_ms < 1000 ? 1000 : wait_ms > 60000 ? 60000 : wait_ms;
    deadline_in(&until, wait_ms);
    pthread_mutex_lock(&fl->mu);
    while (!fl->stop && fl->unsynced >= fl->queue_max)
        if (pthread_cond_timedwait(&fl->room, &fl->mu, &until) == ETIMEDOUT)
            break;
    if (fl->unsynced >= fl->queue_max)
        rc = cairn__fail(CAIRN_BUSY,
                         "the write-back queue is full: %llu commits wait to be synced, and the "
                         "flusher could not catch up within %.1f s%s%s",
                         (unsigned long long)fl->unsynced, (double)wait_ms / 1000,
                         fl->last_error[0] ? "; its last error: " : "", fl->last_error);
    pthread_mutex_unlock(&fl->mu);
    return rc;
}

int cairn__flusher_sync(cairn_db *db)
{
    cairn_flusher *fl = db->flusher;
    int rc = flush_round(fl);
    if (rc) {
        pthread_mutex_lock(&fl->mu);
        rc = cairn__fail(rc, "%s", fl->last_error);
        pthread_mutex_unlock(&fl->mu);
    }
    return rc;
}

uint64_t cairn__flusher_queued(cairn_db *db)
{
    cairn_flusher *fl = db->flusher;
    if (!fl)
        return 0;
    pthread_mutex_lock(&fl->mu);
    uint64_t n = fl->unsynced;
    pthread_mutex_unlock(&fl->mu);
    return n;
}

void cairn__flusher_hold(cairn_db *db, bool hold)
{
    cairn_flusher *fl = db->flusher;
    if (!fl)
        return;
    if (hold)
        pthread_mutex_lock(&fl->flush_mu);
    else
        pthread_mutex_unlock(&fl->flush_mu);
}
