/*
 * test_engine_history.c - branches and history against a model: resets,
 * refused rollbacks, deletes, and the walk of every ref's history
 * (cairn_commit_walk, what `cairn log --all` prints).
 *
 *  - Model run (mem, lmdb, file, and an lmdb primary with a file follower):
 *    random commits on several branches (a new branch starts a history of
 *    its own), branches created at random commits, resets of branches
 *    (cairn_ref_set with CAIRN_REF_EXISTING) forward, backward and across,
 *    with and without CAIRN_REF_FORCE, resets of missing branches, tags
 *    made and deleted, branches deleted. The model keeps every commit's
 *    parent, seq and time. It predicts each refusal (CAIRN_REWIND exactly
 *    when the target does not descend from the head and there is no force;
 *    the detail then names both commits and the count of commits the
 *    branch would drop, which the model counts); after every step the refs
 *    equal the model's, and every few steps the walk from every ref's
 *    commit visits exactly the commits the refs reach, each once, in the
 *    order the header promises (seq, time, id), and a walk stopped after k
 *    commits visits the model's first k.
 *  - Damaged history (lmdb): a commit in the middle of one branch is lost;
 *    the walk visits every commit still reachable around it (a branch
 *    sharing no history with it entirely), then returns CAIRN_MISSING
 *    naming the lost commit and its child; a walk stopped before reaching
 *    it reports nothing. A hostile commit whose parent has a larger seq
 *    (no real writer makes one) is CAIRN_CORRUPT, and the walk ends.
 *  - Ties (forged commits): equal seqs go newest first, and equal times
 *    by id ascending.
 *  - Count limits: a refused rollback of a long branch counts its commits
 *    exactly (here 1200).
 *  - Out of memory: the walk with its Nth allocation refused, for every N,
 *    fails with CAIRN_NOMEM after a correct prefix and leaks nothing.
 */
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"
#include "id.h"
#include "test.h"
#include "tierutil.h"

/* ---------------------------------------------------------------- the model */

#define MAX_COMMITS 2000
#define N_BRANCHES 4
#define N_TAGS 4

typedef struct mcommit {
    cairn_id id;
    int parent; /* index, or -1 */
    uint64_t seq;
    int64_t time_us;
} mcommit;

typedef struct hmodel {
    mcommit c[MAX_COMMITS];
    int n;
    int branch[N_BRANCHES]; /* commit index, or -1: no such branch */
    int tag[N_TAGS];
} hmodel;

static const char *branch_names[N_BRANCHES] = {"main", "b1", "dev/b2", "b3"};
static const char *tag_names[N_TAGS] = {"t0", "t1", "rel/t2", "t3"};

/* Whether commit a descends from (or is) commit b. */
static bool m_descends(const hmodel *m, int a, int b)
{
    for (; a >= 0; a = m->c[a].parent)
        if (a == b)
            return true;
    return false;
}

/* The commits of head's history that to's lacks. */
static uint64_t m_dropped(const hmodel *m, int head, int to)
{
    uint64_t n = 0;
    for (; head >= 0; head = m->c[head].parent)
        if (!m_descends(m, to, head))
            n++;
    return n;
}

static int m_find(const hmodel *m, const cairn_id *id)
{
    for (int i = 0; i < m->n; i++)
        if (cairn__id_eq(&m->c[i].id, id))
            return i;
    return -1;
}

static const hmodel *sort_model;

static int walk_order(const void *x, const void *y)
{
    const mcommit *a = &sort_model->c[*(const int *)x], *b = &sort_model->c[*(const int *)y];
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1;
    if (a->time_us != b->time_us)
        return a->time_us > b->time_us ? -1 : 1;
    return cairn__id_cmp(&a->id, &b->id);
}

/* The commits the refs reach, in walk order. OUT: order[], returns count. */
static int m_walk(const hmodel *m, int *order)
{
    static bool reached[MAX_COMMITS];
    int n = 0;

    memset(reached, 0, sizeof(reached));
    for (int r = 0; r < N_BRANCHES + N_TAGS; r++) {
        int i = r < N_BRANCHES ? m->branch[r] : m->tag[r - N_BRANCHES];
        for (; i >= 0 && !reached[i]; i = m->c[i].parent)
            reached[i] = true;
    }
    for (int i = 0; i < m->n; i++)
        if (reached[i])
            order[n++] = i;
    sort_model = m;
    qsort(order, (size_t)n, sizeof(*order), walk_order);
    return n;
}

/* ---------------------------------------------------------------- checks */

typedef struct ref_check {
    const hmodel *m;
    int seen;
} ref_check;

static int check_one_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    ref_check *rc = ctx;
    int n = kind == CAIRN_TAG ? N_TAGS : N_BRANCHES;
    for (int i = 0; i < n; i++) {
        const char *want = kind == CAIRN_TAG ? tag_names[i] : branch_names[i];
        int at = kind == CAIRN_TAG ? rc->m->tag[i] : rc->m->branch[i];
        if (strcmp(name, want) == 0) {
            if (at < 0)
                TEST_FAIL("ref %s exists; the model deleted it", name);
            if (!cairn__id_eq(commit, &rc->m->c[at].id))
                TEST_FAIL("ref %s is not at the model's commit %d", name, at);
            rc->seen++;
            return 0;
        }
    }
    TEST_FAIL("unknown ref %s", name);
}

/* The store's refs are the model's. */
static void check_refs(cairn_db *db, const hmodel *m)
{
    ref_check rc = {m, 0};
    int want = 0;
    ASSERT_OK(cairn_ref_list(db, check_one_ref, &rc));
    for (int i = 0; i < N_BRANCHES; i++)
        want += m->branch[i] >= 0;
    for (int i = 0; i < N_TAGS; i++)
        want += m->tag[i] >= 0;
    ASSERT_EQ(rc.seen, want);
}

typedef struct walk_got {
    cairn_id ids[MAX_COMMITS];
    int n, stop_after; /* stop after this many (0: never) */
} walk_got;

static int record(void *ctx, const cairn_commit_info *info)
{
    walk_got *g = ctx;
    if (g->n >= MAX_COMMITS)
        TEST_FAIL("the walk visits more than %d commits", MAX_COMMITS);
    g->ids[g->n++] = info->id;
    return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

/* The heads of every ref the model has (with repeats, as refs share). */
static size_t m_heads(const hmodel *m, cairn_id *heads)
{
    size_t n = 0;
    for (int i = 0; i < N_BRANCHES; i++)
        if (m->branch[i] >= 0)
            heads[n++] = m->c[m->branch[i]].id;
    for (int i = 0; i < N_TAGS; i++)
        if (m->tag[i] >= 0)
            heads[n++] = m->c[m->tag[i]].id;
    return n;
}

/* The walk from every ref visits the model's commits in the model's order,
 * and a walk stopped after k visits its first k. */
static void check_walk(cairn_db *db, const hmodel *m)
{
    static int order[MAX_COMMITS];
    static walk_got got;
    cairn_id heads[N_BRANCHES + N_TAGS];
    size_t n_heads = m_heads(m, heads);
    int n = m_walk(m, order), rc;

    memset(&got, 0, sizeof(got));
    ASSERT_OK(cairn_commit_walk(db, heads, n_heads, record, &got));
    ASSERT_EQ(got.n, n);
    for (int i = 0; i < n; i++)
        if (!cairn__id_eq(&got.ids[i], &m->c[order[i]].id))
            TEST_FAIL("walk position %d: commit %d of the model expected (seq %llu), got "
                      "model commit %d",
                      i, order[i], (unsigned long long)m->c[order[i]].seq,
                      m_find(m, &got.ids[i]));
    if (n > 1) {
        memset(&got, 0, sizeof(got));
        got.stop_after = 1 + (int)test_rand_below((uint64_t)n - 1);
        rc = cairn_commit_walk(db, heads, n_heads, record, &got);
        ASSERT_EQ(rc, 7); /* the visitor's value */
        ASSERT_EQ(got.n, got.stop_after);
        for (int i = 0; i < got.n; i++)
            ASSERT_TRUE(cairn__id_eq(&got.ids[i], &m->c[order[i]].id));
    }
}

/* The count in a CAIRN_REWIND detail ("would drop N commit"). */
static uint64_t detail_count(void)
{
    const char *p = strstr(cairn_errdetail(), "would drop ");
    unsigned long long n;
    if (!p || sscanf(p, "would drop %llu commit", &n) != 1)
        TEST_FAIL("no count in '%s'", cairn_errdetail());
    return n;
}

/* ---------------------------------------------------------------- the model run */

static int commit_on(cairn_db *db, hmodel *m, int b, uint64_t stamp)
{
    cairn_txn *txn;
    cairn_commit_info info;
    char key[16], val[32];
    mcommit *c = &m->c[m->n];

    snprintf(key, sizeof(key), "k%d", (int)test_rand_below(40));
    snprintf(val, sizeof(val), "v%llu", (unsigned long long)stamp);
    ASSERT_OK(cairn_txn_begin(db, branch_names[b], &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, strlen(val)));
    ASSERT_OK(cairn_txn_commit(txn, NULL, &c->id));
    ASSERT_OK(cairn_commit_get(db, &c->id, &info));
    c->parent = m->branch[b];
    c->seq = c->parent >= 0 ? m->c[c->parent].seq + 1 : 1;
    ASSERT_EQ(info.seq, c->seq);
    ASSERT_EQ(info.has_parent, c->parent >= 0);
    if (c->parent >= 0)
        ASSERT_TRUE(cairn__id_eq(&info.parent, &m->c[c->parent].id));
    c->time_us = info.time_us;
    cairn_commit_info_clear(&info);
    m->branch[b] = m->n;
    return m->n++;
}

static void run(const char *spec, int n_ops)
{
    static hmodel m;
    cairn_options o;
    cairn_db *db;
    uint64_t resets = 0, refused = 0, forced = 0;
    char a[13], b[13];

    memset(&m, 0, sizeof(m));
    for (int i = 0; i < N_BRANCHES; i++)
        m.branch[i] = -1;
    for (int i = 0; i < N_TAGS; i++)
        m.tag[i] = -1;
    cairn_options_init(&o);
    ASSERT_OK(cairn_open(spec, &o, &db));
    commit_on(db, &m, 0, 0);

    for (int op = 1; op <= n_ops; op++) {
        int r = (int)test_rand_below(100), bi = (int)test_rand_below(N_BRANCHES);
        int ti = (int)test_rand_below(N_TAGS), target = (int)test_rand_below((uint64_t)m.n);
        const cairn_id *tid = &m.c[target].id;

        if (r < 40 && m.n < MAX_COMMITS - 1) { /* commit (a missing branch: a new root) */
            commit_on(db, &m, bi, (uint64_t)op);
        } else if (r < 50) { /* create a branch, or move one forward only */
            int rc = cairn_ref_set(db, CAIRN_BRANCH, branch_names[bi], tid, 0);
            if (m.branch[bi] < 0 || m_descends(&m, target, m.branch[bi])) {
                ASSERT_OK(rc);
                m.branch[bi] = target;
            } else {
                ASSERT_RC(rc, CAIRN_REWIND);
            }
        } else if (r < 80) { /* reset */
            bool force = test_rand_below(3) == 0;
            unsigned flags = CAIRN_REF_EXISTING | (force ? CAIRN_REF_FORCE : 0);
            int rc = cairn_ref_set(db, CAIRN_BRANCH, branch_names[bi], tid, flags);
            int head = m.branch[bi];
            if (head < 0) {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
                ASSERT_DETAIL(branch_names[bi]);
            } else if (!force && !m_descends(&m, target, head)) {
                ASSERT_RC(rc, CAIRN_REWIND);
                ASSERT_DETAIL(cairn__id_short(&m.c[head].id, a));
                ASSERT_DETAIL(cairn__id_short(tid, b));
                ASSERT_EQ(detail_count(), m_dropped(&m, head, target));
                refused++;
            } else {
                ASSERT_OK(rc);
                forced += !m_descends(&m, target, head);
                m.branch[bi] = target;
                resets++;
            }
        } else if (r < 90) { /* tag, or delete a tag */
            if (m.tag[ti] < 0) {
                ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, tag_names[ti], tid, 0));
                m.tag[ti] = target;
            } else if (test_rand_below(2)) {
                ASSERT_RC(cairn_ref_set(db, CAIRN_TAG, tag_names[ti], tid, CAIRN_REF_FORCE),
                          CAIRN_EXISTS);
            } else {
                cairn_id was;
                ASSERT_OK(cairn_ref_delete(db, CAIRN_TAG, tag_names[ti], &was));
                ASSERT_TRUE(cairn__id_eq(&was, &m.c[m.tag[ti]].id));
                m.tag[ti] = -1;
            }
        } else { /* delete a branch */
            int rc = cairn_ref_delete(db, CAIRN_BRANCH, branch_names[bi], NULL);
            if (m.branch[bi] < 0) {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
            } else {
                ASSERT_OK(rc);
                m.branch[bi] = -1;
            }
        }
        check_refs(db, &m);
        if (op % 5 == 0 || op == n_ops)
            check_walk(db, &m);
    }
    printf("%s: %d commits, %llu resets (%llu past the check with force), %llu refused\n",
           spec, m.n, (unsigned long long)resets, (unsigned long long)forced,
           (unsigned long long)refused);
    /* Every kind of step happened. */
    ASSERT_TRUE(resets > 0 && refused > 0 && forced > 0);
    cairn_close(db);
}

/* ---------------------------------------------------------------- damage */

static cairn_id commit_key(cairn_db *db, const char *branch, const char *key)
{
    cairn_txn *txn;
    cairn_id id;
    ASSERT_OK(cairn_txn_begin(db, branch, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), key, strlen(key)));
    ASSERT_OK(cairn_txn_commit(txn, NULL, &id));
    return id;
}

static bool has_id(const walk_got *g, const cairn_id *id)
{
    for (int i = 0; i < g->n; i++)
        if (cairn__id_eq(&g->ids[i], id))
            return true;
    return false;
}

/* main: m1..m6; side forks at m2 with s1, s2; other is a root of its own
 * (o1, o2). m4 is lost: the walk visits m6, m5, then around m4 (m3 stays
 * reachable through nothing: m3 is only below m4), s2, s1, m2, m1, o2, o1. */
static void damaged(const char *dir)
{
    static walk_got got;
    char spec[600], hex[CAIRN_ID_HEX + 1], child_hex[CAIRN_ID_HEX + 1];
    cairn_id mc[7], s[3], oc[3], heads[3];
    cairn_options o;
    cairn_db *db;
    int rc;

    snprintf(spec, sizeof(spec), "lmdb:%s/damaged", dir);
    cairn_options_init(&o);
    ASSERT_OK(cairn_open(spec, &o, &db));
    for (int i = 1; i <= 6; i++) {
        char key[8];
        snprintf(key, sizeof(key), "m%d", i);
        mc[i] = commit_key(db, "main", key);
        if (i == 2)
            ASSERT_OK(cairn_ref_set(db, CAIRN_BRANCH, "side", &mc[2], 0));
    }
    s[1] = commit_key(db, "side", "s1");
    s[2] = commit_key(db, "side", "s2");
    oc[1] = commit_key(db, "other", "o1");
    oc[2] = commit_key(db, "other", "o2");
    cairn_close(db);

    snprintf(spec, sizeof(spec), "%s/damaged", dir);
    raw_lmdb_blob(spec, &mc[4], NULL, 0, NULL, NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s/damaged", dir);
    o.flags = CAIRN_RDONLY;
    ASSERT_OK(cairn_open(spec, &o, &db));
    heads[0] = mc[6];
    heads[1] = s[2];
    heads[2] = oc[2];
    memset(&got, 0, sizeof(got));
    rc = cairn_commit_walk(db, heads, 3, record, &got);
    ASSERT_RC(rc, CAIRN_MISSING);
    cairn_id_to_hex(&mc[4], hex);
    cairn_id_to_hex(&mc[5], child_hex);
    ASSERT_DETAIL(hex);
    ASSERT_DETAIL(child_hex);
    /* Everything reachable without m4 was visited; m3 only through it. */
    ASSERT_EQ(got.n, 8);
    ASSERT_TRUE(cairn__id_eq(&got.ids[0], &mc[6]));
    ASSERT_TRUE(cairn__id_eq(&got.ids[1], &mc[5]));
    ASSERT_TRUE(has_id(&got, &s[1]) && has_id(&got, &s[2]) && has_id(&got, &mc[2]) &&
                has_id(&got, &mc[1]) && has_id(&got, &oc[1]) && has_id(&got, &oc[2]));
    ASSERT_TRUE(!has_id(&got, &mc[3]));
    /* Stopped after the first two (m6, m5): m4 was never reached. */
    memset(&got, 0, sizeof(got));
    got.stop_after = 2;
    ASSERT_RC(cairn_commit_walk(db, heads, 3, record, &got), 7);
    /* A lost head is reported too, and the other heads walked. */
    memset(&got, 0, sizeof(got));
    heads[0] = mc[4];
    rc = cairn_commit_walk(db, heads, 3, record, &got);
    ASSERT_RC(rc, CAIRN_MISSING);
    ASSERT_DETAIL(hex);
    ASSERT_EQ(got.n, 6); /* s2 s1 m2 m1 o2 o1 */
    cairn_close(db);
}

/* A commit whose parent has a larger seq than its own: the walk reports it
 * (its order would put the parent first) and ends. */
static void hostile_seq(const char *dir)
{
    static walk_got got;
    char spec[600], path[600], hex[CAIRN_ID_HEX + 1];
    cairn_commit_info info, parent;
    cairn_options o;
    cairn_db *db;
    cairn_id base, forged;
    uint8_t *bytes;
    size_t len;

    snprintf(spec, sizeof(spec), "lmdb:%s/hostile", dir);
    snprintf(path, sizeof(path), "%s/hostile", dir);
    cairn_options_init(&o);
    ASSERT_OK(cairn_open(spec, &o, &db));
    commit_key(db, "main", "a");
    commit_key(db, "main", "b");
    base = commit_key(db, "main", "c"); /* seq 3 */
    ASSERT_OK(cairn_commit_get(db, &base, &parent));
    info = parent;
    info.parent = base;
    info.has_parent = true;
    info.seq = 2; /* below its parent's 3 */
    info.message = "forged";
    ASSERT_OK(cairn__commit_encode(&info, strlen(info.message), &bytes, &len));
    ASSERT_OK(cairn__sha256(bytes, len, &forged));
    cairn_commit_info_clear(&parent);
    cairn_close(db);
    raw_lmdb_blob(path, &forged, bytes, len, NULL, NULL);
    free(bytes);

    ASSERT_OK(cairn_open(spec, &o, &db));
    ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, "forged", &forged, 0));
    memset(&got, 0, sizeof(got));
    ASSERT_RC(cairn_commit_walk(db, &forged, 1, record, &got), CAIRN_CORRUPT);
    cairn_id_to_hex(&base, hex);
    ASSERT_DETAIL(hex);
    ASSERT_DETAIL("not below");
    ASSERT_EQ(got.n, 1); /* the forged commit only */
    /* With main as a head too, main's three are visited and base, reached
     * first from main, is not reported. */
    cairn_id heads[2] = {forged, base};
    memset(&got, 0, sizeof(got));
    ASSERT_OK(cairn_commit_walk(db, heads, 2, record, &got));
    ASSERT_EQ(got.n, 4);
    /* No heads: nothing; NULL heads with a count: bad argument. */
    ASSERT_OK(cairn_commit_walk(db, NULL, 0, record, &got));
    ASSERT_RC(cairn_commit_walk(db, NULL, 1, record, &got), CAIRN_BADARG);
    cairn_close(db);
}

/* Forges a first commit (seq 1, no parent) with time and message into the
 * closed LMDB store at path. OUT: its id. */
static cairn_id forge_root(const char *path, const cairn_id *catalog, int64_t time_us,
                           const char *message)
{
    cairn_commit_info info;
    cairn_id id;
    uint8_t *bytes;
    size_t len;

    memset(&info, 0, sizeof(info));
    info.catalog = *catalog;
    info.seq = 1;
    info.time_us = time_us;
    info.writer_epoch = 1;
    info.message = (char *)message;
    ASSERT_OK(cairn__commit_encode(&info, strlen(message), &bytes, &len));
    ASSERT_OK(cairn__sha256(bytes, len, &id));
    raw_lmdb_blob(path, &id, bytes, len, NULL, NULL);
    free(bytes);
    return id;
}

/* Commits of equal seq: the newer first, and of equal time too, the
 * smaller id first (forged: real commits rarely share a microsecond). */
static void ties(const char *dir)
{
    static walk_got got;
    char spec[600], path[600], msg[16];
    cairn_commit_info info;
    cairn_options o;
    cairn_db *db;
    cairn_id real, same[6], later, heads[8];
    int order[6];

    snprintf(spec, sizeof(spec), "lmdb:%s/ties", dir);
    snprintf(path, sizeof(path), "%s/ties", dir);
    cairn_options_init(&o);
    ASSERT_OK(cairn_open(spec, &o, &db));
    real = commit_key(db, "main", "a");
    ASSERT_OK(cairn_commit_get(db, &real, &info));
    cairn_close(db);
    for (int i = 0; i < 6; i++) {
        snprintf(msg, sizeof(msg), "same %d", i);
        same[i] = forge_root(path, &info.catalog, 1000, msg);
        order[i] = i;
    }
    later = forge_root(path, &info.catalog, 2000, "later");
    cairn_commit_info_clear(&info);
    /* Expected: later, then the six by id ascending. */
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            if (cairn__id_cmp(&same[order[j]], &same[order[i]]) < 0) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    ASSERT_OK(cairn_open(spec, &o, &db));
    for (int i = 0; i < 6; i++)
        heads[i] = same[i];
    heads[6] = later;
    memset(&got, 0, sizeof(got));
    ASSERT_OK(cairn_commit_walk(db, heads, 7, record, &got));
    ASSERT_EQ(got.n, 7);
    ASSERT_TRUE(cairn__id_eq(&got.ids[0], &later));
    for (int i = 0; i < 6; i++)
        if (!cairn__id_eq(&got.ids[1 + i], &same[order[i]]))
            TEST_FAIL("tie %d: not in id order", i);
    cairn_close(db);
}

/* The first commits of the long history (long_rollback), for oom_walk. */
#define N_EARLY 61
static cairn_id early[N_EARLY];

/* A refused rollback of 1200 commits counts them all. */
static void long_rollback(const char *dir)
{
    char spec[600];
    cairn_options o;
    cairn_db *db;
    cairn_id first;

    snprintf(spec, sizeof(spec), "lmdb:%s/long", dir);
    cairn_options_init(&o);
    ASSERT_OK(cairn_open(spec, &o, &db));
    first = early[0] = commit_key(db, "main", "k0");
    for (int i = 1; i <= 1200; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        cairn_id id = commit_key(db, "main", key);
        if (i < N_EARLY)
            early[i] = id;
    }
    ASSERT_RC(cairn_ref_set(db, CAIRN_BRANCH, "main", &first, CAIRN_REF_EXISTING),
              CAIRN_REWIND);
    ASSERT_EQ(detail_count(), 1200);
    ASSERT_DETAIL("would drop 1200 commits");
    /* A new root on another branch: main would drop all 1201. */
    cairn_id other = commit_key(db, "other", "x");
    ASSERT_RC(cairn_ref_set(db, CAIRN_BRANCH, "main", &other, CAIRN_REF_EXISTING),
              CAIRN_REWIND);
    ASSERT_EQ(detail_count(), 1201);
    cairn_close(db);
}

/* ---------------------------------------------------------------- out of memory */

/* An allocator that refuses the Nth allocation after it is armed (once),
 * and counts the blocks alive. */
static struct {
    long countdown; /* 0: disarmed */
    long live;
    bool fired;
} oom;

static bool refuse(void)
{
    if (oom.countdown > 0 && --oom.countdown == 0) {
        oom.fired = true;
        return true;
    }
    return false;
}

static void *oom_malloc(void *ctx, size_t size)
{
    void *p;
    (void)ctx;
    if (refuse() || !(p = malloc(size)))
        return NULL;
    oom.live++;
    return p;
}

static void *oom_realloc(void *ctx, void *p, size_t size)
{
    void *q;
    (void)ctx;
    if (refuse() || !(q = realloc(p, size)))
        return NULL;
    if (!p)
        oom.live++;
    return q;
}

static void oom_free(void *ctx, void *p)
{
    (void)ctx;
    if (p)
        oom.live--;
    free(p);
}

/* The walk of 21 heads over the first 61 commits of the long history (the
 * id set and the heap both grow) with allocation N refused, for every N
 * until one completes: each run returns CAIRN_NOMEM after visiting a
 * correct prefix, or 0 after visiting all; nothing is left alive. */
static void oom_walk(const char *dir)
{
    static const cairn_allocator counting = {oom_malloc, oom_realloc, oom_free, NULL};
    static walk_got got;
    cairn_id heads[21];
    char spec[600];
    cairn_options o;
    cairn_db *db;
    long n;
    int rc;

    for (int i = 0; i < 21; i++)
        heads[i] = early[i * 3];
    snprintf(spec, sizeof(spec), "lmdb:%s/long", dir);
    cairn_options_init(&o);
    o.flags = CAIRN_RDONLY;
    for (n = 1;; n++) {
        ASSERT_OK(cairn_set_allocator(&counting));
        oom.live = 0;
        oom.fired = false;
        ASSERT_OK(cairn_open(spec, &o, &db));
        memset(&got, 0, sizeof(got));
        oom.countdown = n;
        rc = cairn_commit_walk(db, heads, 21, record, &got);
        oom.countdown = 0;
        for (int i = 0; i < got.n; i++)
            if (!cairn__id_eq(&got.ids[i], &early[N_EARLY - 1 - i]))
                TEST_FAIL("allocation %ld refused: visit %d is wrong", n, i);
        if (oom.fired)
            ASSERT_RC(rc, CAIRN_NOMEM);
        else
            ASSERT_OK(rc);
        cairn_close(db);
        if (oom.live != 0)
            TEST_FAIL("allocation %ld refused: %ld blocks alive after close", n, oom.live);
        ASSERT_OK(cairn_set_allocator(NULL));
        if (!oom.fired) {
            ASSERT_EQ(got.n, N_EARLY);
            break;
        }
    }
    printf("oom: %ld allocation points\n", n - 1);
}

int main(void)
{
    const char *dir;
    char spec[600];
    int ops = getenv("CAIRN_TEST_OPS") ? atoi(getenv("CAIRN_TEST_OPS")) : 300;

    test_seed_init(11);
    dir = test_tmpdir();
    run("mem", ops);
    snprintf(spec, sizeof(spec), "lmdb:%s/lmdb", dir);
    run(spec, ops);
    snprintf(spec, sizeof(spec), "file:%s/file", dir);
    run(spec, ops);
    snprintf(spec, sizeof(spec), "lmdb:%s/primary>file:%s/follower", dir, dir);
    run(spec, ops / 2);
    damaged(dir);
    hostile_seq(dir);
    ties(dir);
    long_rollback(dir);
    oom_walk(dir);
    printf("ok\n");
    return 0;
}
