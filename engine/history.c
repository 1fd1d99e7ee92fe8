/*
 * history.c - walking the history of several refs at once (cairn_commit_walk,
 * for `cairn log --all`), and counting the commits a branch move drops.
 *
 * A commit names one parent, and its seq is its parent's + 1, so the
 * history of a set of heads is a set of chains that merge where branches
 * forked. The walk merges them like sorted lists: a heap holds the next
 * commit of each chain, keyed by (seq, time, id); it pops the greatest,
 * hands it to the caller and pushes its parent unless some chain already
 * did (a set of the ids pushed). A parent's seq is below its child's, so
 * each commit comes after all its children, and the heap never holds more
 * entries than there were heads.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "id.h"

/* ---------------------------------------------------------------- the heap */

/* The next commit of one chain. A commit that could not be read (or whose
 * seq is not below its child's) is a problem entry: it waits at the place
 * its child says it has (the child's seq - 1, after the readable commits of
 * that seq), and is reported when it comes up, so a walk stopped before it
 * never mentions it. */
typedef struct walk_entry {
    cairn_commit_info info; /* info.id always; the rest if rc is 0 */
    int rc;                 /* 0, or the problem's code */
    cairn_id child;         /* the commit that names it (if has_child) */
    bool has_child;
} walk_entry;

typedef struct walk_heap {
    walk_entry *v;
    size_t n, cap;
} walk_heap;

/* Whether a comes before b: seq, then time, newest first; then id
 * ascending. */
static bool entry_before(const walk_entry *a, const walk_entry *b)
{
    if (a->info.seq != b->info.seq)
        return a->info.seq > b->info.seq;
    if (a->info.time_us != b->info.time_us)
        return a->info.time_us > b->info.time_us;
    return cairn__id_cmp(&a->info.id, &b->info.id) < 0;
}

static int heap_push(walk_heap *h, walk_entry *e)
{
    size_t i;

    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        walk_entry *v = cairn__reallocarray(h->v, cap, sizeof(*v));
        if (!v)
            return cairn__fail(CAIRN_NOMEM, "history walk: no memory for %zu heads", cap);
        h->v = v;
        h->cap = cap;
    }
    for (i = h->n++; i > 0 && entry_before(e, &h->v[(i - 1) / 2]); i = (i - 1) / 2)
        h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = *e;
    return 0;
}

/* Moves the first entry into *out. h->n > 0. */
static void heap_pop(walk_heap *h, walk_entry *out)
{
    walk_entry last = h->v[--h->n];
    size_t i = 0, child;

    *out = h->v[0];
    for (; (child = 2 * i + 1) < h->n; i = child) {
        if (child + 1 < h->n && entry_before(&h->v[child + 1], &h->v[child]))
            child++;
        if (!entry_before(&h->v[child], &last))
            break;
        h->v[i] = h->v[child];
    }
    if (h->n)
        h->v[i] = last;
}

static void heap_free(walk_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        cairn_commit_info_clear(&h->v[i].info);
    cairn__free(h->v);
}

/* ---------------------------------------------------------------- the walk */

typedef struct walker {
    cairn_db *db;
    walk_heap heap;
    cairn_idset pushed;
    int problem;          /* the first problem's code, or 0 */
    char detail[400];     /* and what it was */
    uint64_t n_problems;
} walker;

/* Records a problem (the first one's detail is kept). */
static void note_problem(walker *w, int rc, const cairn_id *id, const cairn_id *child)
{
    char hex[CAIRN_ID_HEX + 1], child_hex[CAIRN_ID_HEX + 1];

    if (w->n_problems++ == 0) {
        w->problem = rc;
        cairn_id_to_hex(id, hex);
        if (child) {
            cairn_id_to_hex(child, child_hex);
            snprintf(w->detail, sizeof(w->detail), "commit %s (the parent of %s): %s", hex,
                     child_hex, cairn_errdetail()[0] ? cairn_errdetail() : cairn_strerror(rc));
        } else {
            snprintf(w->detail, sizeof(w->detail), "commit %s: %s", hex,
                     cairn_errdetail()[0] ? cairn_errdetail() : cairn_strerror(rc));
        }
    }
    cairn__detail_clear();
}

/* Whether a failure to read a commit is damage to report and walk around
 * (the store's), rather than one that stops the walk (memory, I/O). */
static bool is_damage(int rc)
{
    return rc == CAIRN_MISSING || rc == CAIRN_CORRUPT;
}

/*
 * Reads commit id and pushes it, unless it was pushed already. child is the
 * commit naming it as its parent (NULL for a head). A commit that is
 * damaged, or whose seq is not below child's, goes in as a problem entry.
 * Errors: those that stop the walk (CAIRN_NOMEM, I/O).
 */
static int push_commit(walker *w, const cairn_id *id, const cairn_commit_info *child)
{
    walk_entry e;
    int rc;

    if (cairn__idset_has(&w->pushed, id))
        return 0;
    if ((rc = cairn__idset_add(&w->pushed, id)))
        return rc;
    memset(&e, 0, sizeof(e));
    rc = cairn_commit_get(w->db, id, &e.info);
    if (rc && !is_damage(rc))
        return rc;
    if (!rc && child && e.info.seq >= child->seq) {
        rc = CAIRN_CORRUPT; /* (report_entry says why when it comes up) */
        cairn_commit_info_clear(&e.info);
    }
    if (rc) {
        if (!child) { /* a head: reported now (its place is unknown) */
            note_problem(w, rc, id, NULL);
            return 0;
        }
        cairn__detail_clear(); /* (rebuilt when the entry comes up) */
        e.rc = rc;
        e.info.id = *id;
        e.info.seq = child->seq ? child->seq - 1 : 0;
        e.info.time_us = INT64_MIN;
        e.child = child->id;
        e.has_child = true;
    }
    if ((rc = heap_push(&w->heap, &e)))
        cairn_commit_info_clear(&e.info);
    return rc;
}

/* A problem entry has come up: reads the commit again to say what is wrong
 * with it (the read is what a verify would report), and records it. */
static void report_entry(walker *w, walk_entry *e)
{
    cairn_commit_info info;
    int rc = cairn_commit_get(w->db, &e->info.id, &info);

    if (rc == 0) { /* readable: its seq was out of order */
        char child_hex[13];
        rc = cairn__fail(CAIRN_CORRUPT, "its seq %llu is not below its child %s's",
                         (unsigned long long)info.seq, cairn__id_short(&e->child, child_hex));
        cairn_commit_info_clear(&info);
    }
    note_problem(w, rc, &e->info.id, &e->child);
}

int cairn_commit_walk(cairn_db *db, const cairn_id *heads, size_t n_heads,
                      cairn_commit_visitor fn, void *ctx)
{
    walker w;
    walk_entry e;
    int rc = 0, stop = 0;

    cairn__detail_clear();
    memset(&w, 0, sizeof(w));
    w.db = db;
    if (n_heads && !heads)
        return cairn__fail(CAIRN_BADARG, "cairn_commit_walk: heads is NULL");
    for (size_t i = 0; i < n_heads && !rc; i++)
        rc = push_commit(&w, &heads[i], NULL);
    while (!rc && !stop && w.heap.n) {
        heap_pop(&w.heap, &e);
        if (e.rc) {
            report_entry(&w, &e);
        } else {
            stop = fn(ctx, &e.info);
            if (!stop && e.info.has_parent && !e.info.history_dropped)
                rc = push_commit(&w, &e.info.parent, &e.info);
        }
        cairn_commit_info_clear(&e.info);
    }
    heap_free(&w.heap);
    cairn__idset_free(&w.pushed);
    if (rc)
        return rc;
    if (w.problem) {
        if (w.n_problems > 1)
            return cairn__fail(w.problem, "%s (and %llu more damaged commits, skipped; cairn "
                                          "verify lists them)",
                               w.detail, (unsigned long long)(w.n_problems - 1));
        return cairn__fail(w.problem, "%s (skipped; every other commit was visited)", w.detail);
    }
    cairn__detail_clear();
    return stop;
}

/* ---------------------------------------------------------------- dropped commits */

/* Steps *info to its parent. Returns 1 at a first commit (no parent). */
static int step_back(cairn_db *db, cairn_commit_info *info)
{
    cairn_id parent = info->parent;
    bool has_parent = info->has_parent && !info->history_dropped; /* gc's boundary: the end */
    int rc;

    cairn_commit_info_clear(info);
    if (!has_parent)
        return 1;
    return (rc = cairn_commit_get(db, &parent, info)) ? rc : 0;
}

int cairn__commits_dropped(cairn_db *db, const cairn_id *head, const cairn_id *to,
                           uint64_t limit, uint64_t *out)
{
    cairn_commit_info a, b;
    uint64_t dropped = 0, steps = 0;
    int rc, end_a = 0, end_b = 0;

    if ((rc = cairn_commit_get(db, head, &a)))
        return rc;
    if ((rc = cairn_commit_get(db, to, &b))) {
        cairn_commit_info_clear(&a);
        return rc;
    }
    /* Bring both to the same seq, then step both until they meet: a's steps
     * are the commits only head's history holds. (Seq falls by one a step
     * in a sound store; in another the loop still ends, at a first commit
     * or the limit.) */
    while (!cairn__id_eq(&a.id, &b.id) && steps < limit) {
        bool move_a = a.seq >= b.seq || end_b, move_b = b.seq >= a.seq && !end_b;
        if (end_a)
            break;
        steps++;
        if (move_a) {
            dropped++;
            if ((end_a = step_back(db, &a)) < 0)
                break;
        }
        if (move_b && (end_b = step_back(db, &b)) < 0)
            break;
    }
    rc = end_a < 0 ? end_a : end_b < 0 ? end_b : 0;
    cairn_commit_info_clear(&a); /* (zeroed already if it ended) */
    cairn_commit_info_clear(&b);
    if (rc)
        return rc;
    *out = dropped;
    return steps < limit ? 0 : 1;
}
