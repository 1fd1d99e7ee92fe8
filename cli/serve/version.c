/* version.c - the served version and its follow thread (version.h). */
#include "version.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void publish(serve_version *v, const cairn_id *commit)
{
    pthread_mutex_lock(&v->mu);
    v->commit = *commit;
    v->recent[v->n_recent++ % SERVE_RECENT] = *commit;
    atomic_fetch_add(&v->seq, 1);
    pthread_mutex_unlock(&v->mu);
    atomic_fetch_add(&v->switches, 1);
    atomic_store(&v->switched_us, now_us());
}

/* Every follow_s seconds: re-reads the refs; publishes the ref's commit
 * when it moved. A failing refresh (S3 unreachable) is reported once per
 * outage; the old version is served meanwhile. */
static void *follow_main(void *arg)
{
    serve_version *v = arg;
    while (!atomic_load(&v->stop)) {
        for (uint32_t slept = 0; slept < v->follow_s * 20 && !atomic_load(&v->stop); slept++) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&v->stop))
            break;
        cairn_id now, served;
        int rc = cairn_refresh(v->db);
        if (!rc)
            rc = cairn_resolve(v->db, v->ref, &now);
        if (rc) {
            if (!atomic_exchange(&v->failing, true))
                fprintf(stderr, "cairn serve: following '%s': %s (%s); serving the last "
                        "version, retrying every %u s\n", v->ref, cairn_strerror(rc),
                        cairn_errdetail(), v->follow_s);
            continue;
        }
        if (atomic_exchange(&v->failing, false))
            fprintf(stderr, "cairn serve: following '%s': reachable again\n", v->ref);
        serve_version_get(v, &served);
        if (memcmp(&now, &served, sizeof(now)) != 0)
            publish(v, &now);
    }
    return NULL;
}

int serve_version_start(serve_version *v, cairn_db *db, const char *at, const char *ref,
                        uint32_t follow_s)
{
    cairn_id commit;
    int rc;

    memset(v, 0, sizeof(*v));
    v->db = db;
    v->ref = at ? NULL : ref ? ref : "main";
    pthread_mutex_init(&v->mu, NULL);
    if ((rc = cairn_resolve(db, at ? at : v->ref, &commit)))
        return rc;
    publish(v, &commit);
    atomic_store(&v->switches, 0);
    if (v->ref && follow_s) {
        v->follow_s = follow_s;
        if (pthread_create(&v->thread, NULL, follow_main, v) != 0)
            return CAIRN_NOMEM;
        v->running = true;
    }
    return 0;
}

void serve_version_stop(serve_version *v)
{
    atomic_store(&v->stop, true);
    if (v->running)
        pthread_join(v->thread, NULL);
    v->running = false;
}

bool serve_version_recent(serve_version *v, uint32_t tag, unsigned tag_bits, cairn_id *commit)
{
    bool found = false;
    pthread_mutex_lock(&v->mu);
    uint64_t n = v->n_recent < SERVE_RECENT ? v->n_recent : SERVE_RECENT;
    for (uint64_t i = 0; i < n && !found; i++) {
        const cairn_id *c = &v->recent[(v->n_recent - 1 - i) % SERVE_RECENT];
        if (serve_commit_tag(c, tag_bits) == tag) {
            *commit = *c;
            found = true;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return found;
}

uint64_t serve_version_get(serve_version *v, cairn_id *commit)
{
    pthread_mutex_lock(&v->mu);
    *commit = v->commit;
    uint64_t seq = atomic_load(&v->seq);
    pthread_mutex_unlock(&v->mu);
    return seq;
}

int serve_view_refresh(serve_version *v, serve_view *view)
{
    if (view->snap && view->seq == atomic_load(&v->seq))
        return 0;
    cairn_id commit;
    uint64_t seq = serve_version_get(v, &commit);
    if (view->snap && memcmp(&commit, &view->commit, sizeof(commit)) == 0) {
        view->seq = seq;
        return 0;
    }
    cairn_snapshot *snap;
    int rc = cairn_snapshot_open_commit(v->db, &commit, &snap);
    if (rc)
        return rc;
    if (view->snap)
        cairn_snapshot_close(view->snap);
    view->snap = snap;
    view->seq = seq;
    view->commit = commit;
    return 0;
}

void serve_view_close(serve_view *view)
{
    if (view->snap)
        cairn_snapshot_close(view->snap);
    view->snap = NULL;
}
