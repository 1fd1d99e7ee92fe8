/*
 * gcmodel.c - the model-based gc test (gcutil.h, gc_model_run): random
 * commits on several branches, branches made and deleted, tags, resets,
 * pins, and gc runs with random retention under a clock of the test's
 * choosing (which also expires pins), checked against a model that keeps
 * every commit's contents and applies the retention rule of docs/gc.md
 * itself.
 *
 * After each gc:
 *  - every commit the model says is kept reads exactly its model contents
 *    (a full scan) and its commit object is there;
 *  - every other commit the model knows is gone (CAIRN_MISSING): gc frees
 *    what retention drops, not merely something;
 *  - the pins in force are those the model holds (expired ones deleted);
 *  - verify finds no problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gc.h"
#include "retention.h"
#include "gcutil.h"
#include "model.h"
#include "test.h"

#define BRANCHES 3
#define PINS 2
#define PIN_TTL_S 600
#define MODEL_COMMITS 400
#define MODEL_KEYS 60

typedef struct mcommit {
    cairn_id id;
    model contents;
    int parent;       /* index, -1: none */
    int64_t time_us;
    bool gone;        /* a gc dropped it */
} mcommit;

typedef struct gcm {
    cairn_db *db;
    const char *spec;
    uint64_t rng;
    mcommit c[MODEL_COMMITS];
    int n;
    int head[BRANCHES]; /* commit index; -1: no such branch (or no commit yet) */
    int tag[4];         /* commit index; -1: none */
    struct {
        cairn_pin_info info;
        int commit;     /* index; -1: no pin */
    } pin[PINS];
    char dir[600];      /* gc's work directory */
} gcm;

static const char *branch_name(int b)
{
    static const char *const names[BRANCHES] = {"main", "dev", "ops"};
    return names[b];
}

static uint64_t next(gcm *m)
{
    m->rng = m->rng * 6364136223846793005ull + 1442695040888963407ull;
    return m->rng >> 33;
}

/* One commit of 1..6 puts and deletes on branch b; values are one of three
 * per key, so deleted and re-put keys bring old leaves back. */
static void commit_on(gcm *m, int b)
{
    cairn_txn *txn;
    cairn_id id;
    model next_model = m->head[b] >= 0 ? model_copy(&m->c[m->head[b]].contents) : (model){0};
    ASSERT_OK(cairn_txn_begin(m->db, branch_name(b), &txn));
    for (int op = 0, ops = 1 + (int)(next(m) % 6); op < ops; op++) {
        char key[16], val[64];
        int k = (int)(next(m) % MODEL_KEYS), kl = snprintf(key, sizeof(key), "k%03d", k);
        if (next(m) % 4 == 0) {
            ASSERT_OK(cairn_txn_del(txn, NULL, key, (size_t)kl));
            model_del(&next_model, key, (size_t)kl);
        } else {
            int vl = snprintf(val, sizeof(val), "value %d of %s", (int)(next(m) % 3), key);
            ASSERT_OK(cairn_txn_put(txn, NULL, key, (size_t)kl, val, (size_t)vl));
            model_put(&next_model, key, (size_t)kl, val, (size_t)vl);
        }
    }
    ASSERT_OK(cairn_txn_commit(txn, "model", &id));
    if (m->head[b] >= 0 && cairn__id_eq(&id, &m->c[m->head[b]].id)) {
        model_free(&next_model); /* nothing changed: no new commit */
        return;
    }
    ASSERT_TRUE(m->n < MODEL_COMMITS);
    cairn_commit_info info;
    ASSERT_OK(cairn_commit_get(m->db, &id, &info));
    m->c[m->n] = (mcommit){.id = id, .contents = next_model, .parent = m->head[b],
                           .time_us = info.time_us};
    cairn_commit_info_clear(&info);
    m->head[b] = m->n++;
}

/* A commit of the model that is still there, at random; -1 if none. */
static int some_commit(gcm *m)
{
    for (int tries = 0; tries < 20 && m->n; tries++) {
        int i = (int)(next(m) % (uint64_t)m->n);
        if (!m->c[i].gone)
            return i;
    }
    return -1;
}

/* The model's retention (docs/gc.md, gc_mark.c's rule): a branch keeps its
 * head and, back along parents, every commit a rule keeps, up to the first
 * none keeps or one a gc dropped the parent of; a tag keeps its commit. */
static void model_keep(const gcm *m, const cairn_gc_policy *p, bool *kept)
{
    bool keep_all = !p->keep_last && !p->keep_newer_us;
    memset(kept, 0, sizeof(bool) * MODEL_COMMITS);
    for (int k = 0; k < PINS; k++)
        if (m->pin[k].commit >= 0 && m->pin[k].info.expires_us > p->now_us)
            kept[m->pin[k].commit] = true;
    for (int b = 0; b < BRANCHES; b++) {
        int i = m->head[b], next_i = -1;
        for (uint64_t k = 0; i >= 0 && !m->c[i].gone; k++) {
            bool keep = k == 0 || keep_all || (p->keep_last && k < p->keep_last) ||
                        (p->keep_newer_us && m->c[i].time_us >= p->now_us - p->keep_newer_us) ||
                        (next_i >= 0 && m->c[next_i].time_us >= p->now_us - p->grace_us);
            if (!keep)
                break;
            kept[i] = true;
            next_i = i;
            i = m->c[i].parent;
        }
    }
    for (int t = 0; t < 4; t++)
        if (m->tag[t] >= 0)
            kept[m->tag[t]] = true;
}

static void check_contents(gcm *m, int i, const char *when)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    size_t at = 0;
    int rc;
    const model *want = &m->c[i].contents;
    if ((rc = cairn_snapshot_open_commit(m->db, &m->c[i].id, &snap)))
        TEST_FAIL("%s: %s: kept commit %d cannot be opened: %s: %s", m->spec, when, i,
                  cairn_errname(rc), cairn_errdetail());
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        if (at >= want->n ||
            model_key_cmp(k.data, k.len, want->v[at].key, want->v[at].key_len) != 0 ||
            v.len != want->v[at].val_len || memcmp(v.data, want->v[at].val, v.len) != 0)
            TEST_FAIL("%s: %s: kept commit %d differs from its model at entry %zu", m->spec, when,
                      i, at);
        at++;
    }
    if (rc != CAIRN_NOTFOUND || at != want->n)
        TEST_FAIL("%s: %s: kept commit %d: %zu of %zu entries, then %s: %s", m->spec, when, i,
                  at, want->n, cairn_errname(rc), cairn_errdetail());
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
}

static int count_pin(void *ctx, const cairn_pin_info *pin)
{
    (void)pin;
    ++*(int *)ctx;
    return 0;
}

static void run_gc(gcm *m, uint64_t *freed, int *dropped, int *expired)
{
    cairn_gc_options o;
    cairn_gc_report r;
    cairn_gc_policy p = {0};
    bool kept[MODEL_COMMITS];
    static const uint64_t lasts[] = {0, 1, 2, 3, 5};
    cairn_gc_options_init(&o);
    o.keep_last = lasts[next(m) % 5];
    o.keep_newer_s = 0;
    o.grace_s = 0;
    o.work_dir = m->dir;
    p.now_us = m->c[m->n - 1].time_us + 1000;
    if (next(m) % 3 == 0) {
        /* keep newer than a commit chosen at random: the clock is set so
         * that the cut falls at its time exactly */
        int i = (int)(next(m) % (uint64_t)m->n);
        o.keep_newer_s = 5;
        p.now_us = m->c[i].time_us + 5000000;
    }
    int k = (int)(next(m) % PINS);
    if (m->pin[k].commit >= 0 && next(m) % 2)
        p.now_us = m->pin[k].info.expires_us + 1000; /* a clock past the pin's expiry */
    p.keep_last = o.keep_last;
    p.keep_newer_us = (int64_t)o.keep_newer_s * 1000000;
    ASSERT_OK(cairn__gc_at(m->db, &o, p.now_us, &r));
    *freed += r.tiers[0].blobs_freed;
    model_keep(m, &p, kept);
    for (int i = 0; i < m->n; i++) {
        if (m->c[i].gone)
            continue;
        if (kept[i]) {
            check_contents(m, i, "after gc");
            continue;
        }
        cairn_commit_info info;
        int rc = cairn_commit_get(m->db, &m->c[i].id, &info);
        if (rc == 0)
            TEST_FAIL("%s: commit %d is still there after a gc (keep_last %llu, keep_newer %lld "
                      "us) whose policy drops it", m->spec, i, (unsigned long long)p.keep_last,
                      (long long)p.keep_newer_us);
        ASSERT_RC(rc, CAIRN_MISSING);
        m->c[i].gone = true;
        (*dropped)++;
    }
    int held = 0, want = 0;
    for (k = 0; k < PINS; k++) {
        if (m->pin[k].commit >= 0 && m->pin[k].info.expires_us <= p.now_us) {
            m->pin[k].commit = -1; /* gc deleted it */
            (*expired)++;
        }
        want += m->pin[k].commit >= 0;
    }
    ASSERT_OK(cairn_pin_list(m->db, count_pin, &held));
    if (held != want)
        TEST_FAIL("%s: %d pins after gc, the model holds %d", m->spec, held, want);
    cairn_verify_report vr;
    int rc = cairn_verify(m->db, NULL, NULL, &vr);
    if (rc || vr.problems)
        TEST_FAIL("%s: verify after gc: %s", m->spec, rc ? cairn_errdetail() : "problems");
}

void gc_model_run(const char *spec, uint64_t seed, int steps)
{
    static gcm m; /* large: not on the stack */
    int gcs = 0, dropped = 0, resets = 0, pins = 0, expired = 0;
    uint64_t freed = 0;
    memset(&m, 0, sizeof(m));
    m.spec = spec;
    m.rng = seed;
    m.db = gc_open_db(spec);
    for (int b = 0; b < BRANCHES; b++)
        m.head[b] = -1;
    for (int t = 0; t < 4; t++)
        m.tag[t] = -1;
    for (int k = 0; k < PINS; k++)
        m.pin[k].commit = -1;
    snprintf(m.dir, sizeof(m.dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(m.dir, 0700));
    commit_on(&m, 0);

    for (int step = 0; step < steps && m.n < MODEL_COMMITS - 8; step++) {
        uint64_t what = next(&m) % 100;
        int b = (int)(next(&m) % BRANCHES), t = (int)(next(&m) % 4), i;
        char name[16];
        if (what < 60) {
            if (m.head[b] < 0 && b != 0)
                continue; /* made below */
            commit_on(&m, b);
        } else if (what < 68 && b != 0 && m.head[b] < 0) {
            ASSERT_OK(cairn_ref_set(m.db, CAIRN_BRANCH, branch_name(b), &m.c[m.head[0]].id, 0));
            m.head[b] = m.head[0];
        } else if (what < 72 && b != 0 && m.head[b] >= 0) {
            ASSERT_OK(cairn_ref_delete(m.db, CAIRN_BRANCH, branch_name(b), NULL));
            m.head[b] = -1;
        } else if (what < 78 && m.tag[t] < 0 && (i = some_commit(&m)) >= 0) {
            snprintf(name, sizeof(name), "t%d", t);
            ASSERT_OK(cairn_ref_set(m.db, CAIRN_TAG, name, &m.c[i].id, 0));
            m.tag[t] = i;
        } else if (what < 82 && m.tag[t] >= 0) {
            snprintf(name, sizeof(name), "t%d", t);
            ASSERT_OK(cairn_ref_delete(m.db, CAIRN_TAG, name, NULL));
            m.tag[t] = -1;
        } else if (what < 88 && m.head[b] >= 0) {
            /* reset to an ancestor still there */
            int to = m.head[b];
            for (int back = (int)(next(&m) % 4); back > 0 && m.c[to].parent >= 0 &&
                                                 !m.c[m.c[to].parent].gone; back--)
                to = m.c[to].parent;
            ASSERT_OK(cairn_ref_set(m.db, CAIRN_BRANCH, branch_name(b), &m.c[to].id,
                                    CAIRN_REF_FORCE));
            m.head[b] = to;
            resets++;
        } else if (what < 91 && (i = some_commit(&m)) >= 0) {
            int k = t % PINS;
            if (m.pin[k].commit >= 0)
                ASSERT_OK(cairn_unpin(m.db, m.pin[k].info.name));
            ASSERT_OK(cairn_pin(m.db, &m.c[i].id, PIN_TTL_S, &m.pin[k].info));
            m.pin[k].commit = i;
            pins++;
        } else if (what >= 91) {
            run_gc(&m, &freed, &dropped, &expired);
            gcs++;
        }
    }
    run_gc(&m, &freed, &dropped, &expired);
    gcs++;
    /* A fresh handle reads what the model keeps (a mem store ends with
     * its handle). */
    if (strncmp(spec, "mem", 3) != 0) {
        cairn_close(m.db);
        m.db = gc_open_db(spec);
        for (int i = 0; i < m.n; i++)
            if (!m.c[i].gone)
                check_contents(&m, i, "reopened");
    }
    cairn_close(m.db);
    ASSERT_TRUE(dropped > 0 && freed > 0 && pins > 0);
    printf("%s: gc model (seed %llu): %d commits on %d branches, %d resets, %d pins (%d expired "
           "under the test's clock), %d gc runs dropped %d commits and freed %llu blobs; every "
           "kept commit read its model, every dropped one was gone, verify passed after each\n",
           spec, (unsigned long long)seed, m.n, BRANCHES, resets, pins, expired, gcs, dropped,
           (unsigned long long)freed);
    for (int i = 0; i < m.n; i++)
        model_free(&m.c[i].contents);
}
