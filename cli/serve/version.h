/*
 * version.h - the version `cairn serve` serves, and its switches.
 *
 * One commit is served at a time. --at fixes it; --ref follows a branch:
 * with --follow S, a thread re-reads the store's refs every S seconds (an
 * S3 tier: one conditional GET of its head) and, when the branch moved,
 * publishes the new commit. Rolling back is moving the branch back
 * (cairn reset): the server follows it like any move.
 *
 * A switch is atomic per command: each worker thread holds a snapshot of
 * its own (snapshots are not shared between threads) and, before it runs
 * a command, compares the version's sequence number with its snapshot's;
 * if they differ it opens the new commit. So a command runs wholly on one
 * version, and a pipeline sees the switch between two commands.
 */
#ifndef CAIRN_SERVE_VERSION_H
#define CAIRN_SERVE_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cairn.h"

#define SERVE_RECENT 64

typedef struct serve_version {
    cairn_db *db;
    const char *ref;      /* the branch followed, or NULL (--at) */
    pthread_mutex_t mu;   /* guards commit */
    cairn_id commit;      /* what is served now */
    _Atomic uint64_t seq; /* bumped at each switch */
    _Atomic uint64_t switches;
    _Atomic int64_t switched_us; /* when (microseconds since the epoch) */
    /* the follow thread */
    uint32_t follow_s;    /* 0: no following */
    pthread_t thread;
    bool running;
    _Atomic bool stop;
    _Atomic bool failing; /* the last refresh failed (reported once) */
    /* The last SERVE_RECENT commits served, newest at recent[(n_recent -
     * 1) % SERVE_RECENT] (guarded by mu): a SCAN cursor names the version
     * it was made on, and finds it here after a switch. */
    cairn_id recent[SERVE_RECENT];
    uint64_t n_recent;
} serve_version;

/* The first bits (at most 32) of a commit id: what a SCAN cursor keeps
 * of the version it was made on. */
static inline uint32_t serve_commit_tag(const cairn_id *c, unsigned bits)
{
    return ((uint32_t)c->bytes[0] << 24 | (uint32_t)c->bytes[1] << 16 |
            (uint32_t)c->bytes[2] << 8 | c->bytes[3]) >> (32 - bits);
}

/* The newest of the commits served recently whose tag of tag_bits is
 * tag, into *commit; false if none. */
bool serve_version_recent(serve_version *v, uint32_t tag, unsigned tag_bits, cairn_id *commit);

/* Resolves what to serve (at: a commit, tag or branch, fixed; else ref,
 * default "main") and, with follow_s > 0 and a ref, starts following it.
 * Returns 0 or a cairn error with its detail set. */
int serve_version_start(serve_version *v, cairn_db *db, const char *at, const char *ref,
                        uint32_t follow_s);
/* Stops following; the version stays readable. */
void serve_version_stop(serve_version *v);

/* The commit served now, and its sequence number. */
uint64_t serve_version_get(serve_version *v, cairn_id *commit);

/* A worker thread's view: a snapshot of the version at seq. */
typedef struct serve_view {
    cairn_snapshot *snap;
    uint64_t seq;
    cairn_id commit;
} serve_view;

/* Brings view up to the version served now (opening its commit when it
 * changed). Returns 0 or a cairn error (the view keeps its old snapshot). */
int serve_view_refresh(serve_version *v, serve_view *view);
void serve_view_close(serve_view *view);

#endif /* CAIRN_SERVE_VERSION_H */
