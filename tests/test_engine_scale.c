/*
 * test_engine_scale.c - the seeded model test at scale (issue 8).
 *
 * Many seeds (200 by default) of 5,000 operations each, every one checked
 * against the sorted-map model of tests/model.c. Each seed draws from its
 * own generator the node size, the key ranges and every operation:
 *
 *   put        values of 0..3000 bytes (some past CAIRN_INLINE_MAX, so they
 *              become value blobs, and some of exactly 1024 and 1025);
 *              keys from a small and a large range, binary keys of 0x00,
 *              0x7f, 0x80, 0xff bytes, and the empty key
 *   delete     present keys, and absent ones before, between and after them
 *   get        inside the transaction, and from the head
 *   scan       bounded ranges forward and reverse, with seeks, and counts of
 *              the same ranges
 *   travel     reads of a remembered older commit (up to 16 are kept with
 *              their models), by id or by tag; a snapshot held open across
 *              later commits and re-read
 *   diff       between two remembered commits, against the models
 *   commit, abort (a commit that changes nothing must write nothing)
 *   refs       tags of remembered commits, a branch forced to one and read
 *              by name, its deletion; CAIRN_BUSY while a transaction is open
 *   reopen     close the store and open it again from its spec (a mem store
 *              cannot: there it means go on)
 *   crash      the store is closed and a forked child opens it, applies a
 *              batch and commits with a tier fault armed at a drawn Nth tier
 *              call (from then on every call fails, as if the process had
 *              died there; or that one call writes half its blobs and fails),
 *              then _exits without closing anything. The parent reopens and
 *              requires the head to be the new commit if the child's commit
 *              returned 0 and the old one otherwise, with the matching
 *              contents, and every fourth time cairn_verify clean. A lost
 *              batch is committed again, so the seed goes on the same way on
 *              every stack. On mem the commit fails in-process instead.
 *
 * Phases of 100, 250 or 1,000 operations (drawn per seed): two normal, one
 * delete-heavy, one that drains the keyspaces so that tiny and empty trees
 * recur.
 *
 * The stack is drawn from the seed, apart from the operations: mem, lmdb,
 * file, three tiers (mem:1M>file:...?capacity=256K>lmdb:...), or follow
 * (lmdb:.../primary>file:.../follower: a crash after the primary moved its
 * ref leaves the follower behind, and it must catch up). Most
 * durable stores run with sync=none (a killed process loses nothing the
 * kernel holds, and fsync makes a commit cost milliseconds on a VM disk);
 * one seed in eight uses the default full sync. One file seed in four uses
 * io_uring, the others plain system calls. Stores go to /dev/shm when it
 * can be written (see store_base).
 *
 * Trace hash: XXH64 over every operation and every result observed (values
 * read, scan output, counts, keyspace roots, diffs, commit sequence numbers
 * and key counts), never over commit ids (they hold the time) or anything
 * else that depends on the stack. Each run runs three seeds twice and
 * requires equal hashes, and three seeds a second time on another stack,
 * also requiring equal hashes: tiers are interchangeable (two and two in
 * an ASan build, which runs 40 seeds per unit of CAIRN_TEST_SCALE, since
 * a seed takes ten times as long there).
 *
 * A failure prints the command that replays its seed and keeps its store:
 *   replay: CAIRN_TEST_SEED=S /path/test_engine_scale --seed S --stack KIND
 * Arguments: --seed S (that seed only), --stack KIND (mem, lmdb, file,
 * three, follow; for every seed), --ops N. Environment: CAIRN_TEST_SEED (first
 * seed; seeds are S, S+1, ...), CAIRN_TEST_SEEDS, CAIRN_TEST_OPS,
 * CAIRN_TEST_SCALE (multiplies the number of seeds).
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "model.h"
#include "test.h"
#include "tier.h"

#define N_SPACES 2
static const char *space_names[N_SPACES] = {NULL, "second"};

enum { STACK_MEM, STACK_LMDB, STACK_FILE, STACK_THREE, STACK_FOLLOW, N_STACKS };
static const char *stack_names[N_STACKS] = {"mem", "lmdb", "file", "three", "follow"};

#define MAX_VERSIONS 16 /* remembered commits, with their models */
#define MAX_VALUE 3000
#define MAX_BATCH 40    /* operations of a crash step's batch */
#ifndef REOPENS
#define REOPENS 2       /* reopens per 1,000 operations, on average */
#endif
#ifndef CRASHES
#define CRASHES 1       /* crash steps per 1,000 operations, on average */
#endif

/* A commit remembered with its contents. */
typedef struct version {
    cairn_id commit;
    uint64_t seq;
    model spaces[N_SPACES];
    bool tagged; /* the tag "v<seq>" names it */
} version;

/* One operation of a crash step's batch. */
typedef struct batch_op {
    int space;
    char key[MODEL_KEY_MAX];
    size_t key_len;
    bool del;
    uint8_t *val;
    size_t val_len;
} batch_op;

/* The state of one seed's run. */
typedef struct run {
    uint64_t seed, rng;
    int stack;
    bool full_sync; /* durable tiers fsync every commit (else sync=none) */
    bool uring;     /* the file tier uses io_uring (else plain system calls) */
    char dir[PATH_MAX];
    char spec[3 * PATH_MAX];
    XXH64_state_t *trace;
    bool mute; /* observations that depend on the stack: not traced */
    cairn_options opts;
    cairn_db *db;
    cairn_txn *txn;
    model cur[N_SPACES];  /* the head of "main" */
    model view[N_SPACES]; /* what the open transaction sees */
    bool has_head;
    cairn_id head;
    uint64_t head_seq;
    version vers[MAX_VERSIONS];
    size_t n_vers;
    cairn_snapshot *held; /* a snapshot kept open across operations */
    size_t held_ver;
    bool side_exists; /* the branch "side" */
    unsigned small_keys, large_keys;
    uint8_t *valbuf;
    /* counts */
    uint64_t commits, no_change, crashes, crash_lost, reopens;
} run;

/* What the failure hook prints. */
static const run *current;
static int current_op;
static const char *current_what = "";
static char self_path[PATH_MAX];

static uint64_t total_seeds, total_ops, total_crashes;
/* $CAIRN_SCALE_TRACE_LOG: a file that gets the trace hash after every
 * operation, to find where two runs part. */
static FILE *trace_log;

static void fail_hook(void)
{
    if (!current)
        return;
    fprintf(stderr, "failed: seed %" PRIu64 " stack %s (%s), operation %d (%s)\n",
            current->seed, stack_names[current->stack], current->spec, current_op,
            current_what);
    fprintf(stderr, "replay: CAIRN_TEST_SEED=%" PRIu64 " %s --seed %" PRIu64 " --stack %s\n",
            current->seed, self_path, current->seed, stack_names[current->stack]);
    if (current->stack != STACK_MEM)
        fprintf(stderr, "store kept: %s\n", current->dir);
    else
        rmdir(current->dir); /* empty: a mem store has nothing on disk */
}

/* ---------------------------------------------------------------- random */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd(run *r)
{
    r->rng += 0x9e3779b97f4a7c15ull;
    return mix64(r->rng);
}

static uint64_t below(run *r, uint64_t n)
{
    return n ? rnd(r) % n : 0;
}

/* The stack a seed runs on by default: drawn apart from the operations. */
static int seed_stack(uint64_t seed)
{
    return (int)(mix64(seed ^ 0x5eedc0de57acull) % N_STACKS);
}

static bool seed_full_sync(uint64_t seed)
{
    return mix64(seed ^ 0xf5f5f5f5ull) % 8 == 0;
}

static bool seed_uring(uint64_t seed)
{
    return mix64(seed ^ 0x0121c0ull) % 4 == 0;
}

/* ---------------------------------------------------------------- trace */

static void tr_u64(run *r, uint64_t x)
{
    if (r->mute)
        return;
    XXH64_update(r->trace, &x, sizeof(x));
}

static void tr_bytes(run *r, const void *p, size_t n)
{
    tr_u64(r, n);
    if (n && !r->mute)
        XXH64_update(r->trace, p, n);
}

/* Operation tags in the trace. */
enum {
    T_PUT = 1, T_DEL, T_TGET, T_COMMIT, T_NOCHANGE, T_ABORT, T_GET, T_RANGE, T_COUNT,
    T_ALL, T_DIFF, T_TRAVEL, T_HELD, T_TAG, T_BRANCH, T_REOPEN, T_CRASH, T_ROOT, T_END
};

/* ---------------------------------------------------------------- keys and values */

static void gen_key(run *r, char *key, size_t *len)
{
    static const uint8_t odd[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    uint64_t p = below(r, 100);

    if (p < 2) {
        *len = 0;
    } else if (p < 5) {
        *len = 1 + below(r, 3);
        for (size_t i = 0; i < *len; i++)
            key[i] = (char)odd[below(r, sizeof(odd))];
    } else if (p < 50) {
        *len = (size_t)snprintf(key, MODEL_KEY_MAX, "s%u", (unsigned)below(r, r->small_keys));
    } else {
        unsigned k = (unsigned)below(r, r->large_keys);
        *len = (size_t)snprintf(key, MODEL_KEY_MAX, "%s%05u", k % 5 ? "k/" : "a/",
                                k * 7919u % r->large_keys);
    }
}

/* A key of m, or a random one. */
static void pick_key(run *r, const model *m, char *key, size_t *len)
{
    if (m->n && below(r, 2)) {
        const model_entry *e = &m->v[below(r, m->n)];
        memcpy(key, e->key, e->key_len);
        *len = e->key_len;
    } else {
        gen_key(r, key, len);
    }
}

/* A key m lacks: before the present ones, after them, between two (a
 * present key plus a zero byte), or one of the ranges that is not there.
 * After a few tries it settles for whatever it drew (still deterministic). */
static void absent_key(run *r, const model *m, char *key, size_t *len)
{
    for (int tries = 0; tries < 8; tries++) {
        uint64_t p = below(r, 5);
        bool found;
        if (p == 0) {
            *len = 0;
        } else if (p == 1) {
            memset(key, 0, 4);
            *len = 4;
        } else if (p == 2) {
            memset(key, 0xff, 4);
            *len = 4;
        } else if (p == 3 && m->n) {
            const model_entry *e = &m->v[below(r, m->n)];
            if (e->key_len + 1 > MODEL_KEY_MAX)
                continue;
            memcpy(key, e->key, e->key_len);
            key[e->key_len] = '\0';
            *len = e->key_len + 1;
        } else {
            *len = (size_t)snprintf(key, MODEL_KEY_MAX, "s%u-", (unsigned)below(r, 100));
        }
        model_find(m, key, *len, &found);
        if (!found)
            return;
    }
}

static size_t gen_val(run *r, uint8_t *buf)
{
    uint64_t p = below(r, 40), s;
    size_t len;

    if (p == 0)
        len = 0;
    else if (p == 1)
        len = CAIRN_INLINE_MAX + below(r, 2);
    else if (p < 28)
        len = below(r, 64);
    else if (p < 34)
        len = below(r, 1100);
    else
        len = 900 + below(r, MAX_VALUE - 900 + 1);
    s = rnd(r);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = mix64(s + i);
        memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
    }
    return len;
}

/* ---------------------------------------------------------------- checks */

/* A full forward scan and count of space equal m. */
static void check_all(run *r, cairn_snapshot *snap, int sp, const model *m)
{
    cairn_iter *it;
    cairn_val k, v;
    size_t i = 0;
    uint64_t count;
    int rc;

    ASSERT_OK(cairn_iter_open(snap, space_names[sp], NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        if (i >= m->n)
            TEST_FAIL("scan: key '%.*s' past the model's %zu keys", (int)k.len,
                      (const char *)k.data, m->n);
        ASSERT_MEM_EQ(k.data, k.len, m->v[i].key, m->v[i].key_len);
        ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
        tr_bytes(r, k.data, k.len);
        tr_bytes(r, v.data, v.len);
        i++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(i, m->n);
    cairn_iter_close(it);
    ASSERT_OK(cairn_count(snap, space_names[sp], NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, m->n);
    tr_u64(r, T_ALL);
    tr_u64(r, count);
}

static void check_gets(run *r, cairn_snapshot *snap, int sp, const model *m, int n)
{
    for (int j = 0; j < n; j++) {
        char key[MODEL_KEY_MAX];
        size_t len, i;
        bool found;
        cairn_val v;
        int rc;

        pick_key(r, m, key, &len);
        i = model_find(m, key, len, &found);
        rc = cairn_get(snap, space_names[sp], key, len, &v);
        tr_u64(r, T_GET);
        tr_u64(r, (uint64_t)rc);
        if (found) {
            ASSERT_OK(rc);
            ASSERT_MEM_EQ(v.data, v.len, m->v[i].val, m->v[i].val_len);
            tr_bytes(r, v.data, v.len);
        } else {
            ASSERT_RC(rc, CAIRN_NOTFOUND);
        }
    }
}

/* A bounded scan, forward or reverse, maybe from a seek, and a count of the
 * same range; output hashed. Long ranges stop after a drawn number of
 * steps. */
static void check_range(run *r, cairn_snapshot *snap, int sp, const model *m)
{
    char lo[MODEL_KEY_MAX], hi[MODEL_KEY_MAX], sk[MODEL_KEY_MAX];
    size_t lo_len, hi_len, sk_len, steps = 0, max_steps;
    bool has_lo = below(r, 4) != 0, has_hi = below(r, 4) != 0;
    bool reverse = below(r, 2), seek = below(r, 3) == 0;
    model_range mr;
    cairn_iter *it;
    cairn_val k, v;
    uint64_t count;
    int rc;

    pick_key(r, m, lo, &lo_len);
    pick_key(r, m, hi, &hi_len);
    pick_key(r, m, sk, &sk_len);
    max_steps = 1 + below(r, 80);
    mr = model_range_open(m, has_lo ? lo : NULL, lo_len, has_hi ? hi : NULL, hi_len, reverse);
    ASSERT_OK(cairn_count(snap, space_names[sp], has_lo ? lo : NULL, lo_len, has_hi ? hi : NULL,
                          hi_len, &count));
    ASSERT_EQ(count, model_range_count(&mr));
    tr_u64(r, T_COUNT);
    tr_u64(r, count);
    ASSERT_OK(cairn_iter_open(snap, space_names[sp], has_lo ? lo : NULL, lo_len,
                              has_hi ? hi : NULL, hi_len, reverse ? CAIRN_ITER_REVERSE : 0, &it));
    if (seek) {
        ASSERT_OK(cairn_iter_seek(it, sk, sk_len));
        model_range_seek(m, &mr, sk, sk_len);
    }
    tr_u64(r, T_RANGE);
    for (;;) {
        const model_entry *e = model_range_next(m, &mr);
        rc = cairn_iter_next(it, &k, &v);
        if (!e)
            break;
        ASSERT_OK(rc);
        ASSERT_MEM_EQ(k.data, k.len, e->key, e->key_len);
        ASSERT_MEM_EQ(v.data, v.len, e->val, e->val_len);
        tr_bytes(r, k.data, k.len);
        tr_bytes(r, v.data, v.len);
        if (++steps >= max_steps)
            goto out;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
out:
    tr_u64(r, steps);
    cairn_iter_close(it);
}

static void check_snapshot(run *r, cairn_snapshot *snap, const model *spaces, bool all)
{
    for (int sp = 0; sp < N_SPACES; sp++) {
        if (all)
            check_all(r, snap, sp, &spaces[sp]);
        check_gets(r, snap, sp, &spaces[sp], 4);
        check_range(r, snap, sp, &spaces[sp]);
    }
}

/* The diff of space from version a to version b equals the models'. */
static void check_diff(run *r, const version *va, const version *vb, int sp)
{
    const model *ma = &va->spaces[sp], *mb = &vb->spaces[sp];
    cairn_snapshot *sa, *sb;
    cairn_diff *d;
    cairn_diff_entry e;
    size_t i = 0, j = 0, n = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open_commit(r->db, &va->commit, &sa));
    ASSERT_OK(cairn_snapshot_open_commit(r->db, &vb->commit, &sb));
    ASSERT_OK(cairn_diff_open(sa, sb, space_names[sp], &d));
    tr_u64(r, T_DIFF);
    for (;;) {
        int c;
        while (i < ma->n && j < mb->n &&
               model_key_cmp(ma->v[i].key, ma->v[i].key_len, mb->v[j].key,
                             mb->v[j].key_len) == 0 &&
               ma->v[i].val_len == mb->v[j].val_len &&
               memcmp(ma->v[i].val, mb->v[j].val, ma->v[i].val_len) == 0)
            i++, j++;
        rc = cairn_diff_next(d, &e);
        if (i == ma->n && j == mb->n)
            break;
        if (rc == CAIRN_NOTFOUND)
            TEST_FAIL("diff ended early: the models differ at %zu/%zu of %zu/%zu keys", i, j,
                      ma->n, mb->n);
        ASSERT_OK(rc);
        c = i == ma->n ? 1
            : j == mb->n
                ? -1
                : model_key_cmp(ma->v[i].key, ma->v[i].key_len, mb->v[j].key, mb->v[j].key_len);
        tr_u64(r, (uint64_t)e.change);
        tr_bytes(r, e.key.data, e.key.len);
        if (c < 0) {
            ASSERT_EQ(e.change, CAIRN_REMOVED);
            ASSERT_MEM_EQ(e.key.data, e.key.len, ma->v[i].key, ma->v[i].key_len);
            ASSERT_MEM_EQ(e.old_val.data, e.old_val.len, ma->v[i].val, ma->v[i].val_len);
            i++;
        } else if (c > 0) {
            ASSERT_EQ(e.change, CAIRN_ADDED);
            ASSERT_MEM_EQ(e.key.data, e.key.len, mb->v[j].key, mb->v[j].key_len);
            ASSERT_MEM_EQ(e.new_val.data, e.new_val.len, mb->v[j].val, mb->v[j].val_len);
            tr_bytes(r, e.new_val.data, e.new_val.len);
            j++;
        } else {
            ASSERT_EQ(e.change, CAIRN_CHANGED);
            ASSERT_MEM_EQ(e.key.data, e.key.len, ma->v[i].key, ma->v[i].key_len);
            ASSERT_MEM_EQ(e.old_val.data, e.old_val.len, ma->v[i].val, ma->v[i].val_len);
            ASSERT_MEM_EQ(e.new_val.data, e.new_val.len, mb->v[j].val, mb->v[j].val_len);
            tr_bytes(r, e.new_val.data, e.new_val.len);
            i++, j++;
        }
        n++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    tr_u64(r, n);
    cairn_diff_close(d);
    cairn_snapshot_close(sa);
    cairn_snapshot_close(sb);
}

static int print_problem(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", message);
    return 0;
}

static void verify_store(run *r)
{
    cairn_verify_report rep;
    int rc = cairn_verify(r->db, print_problem, NULL, &rep);
    if (rc)
        TEST_FAIL("cairn_verify returned %s with %llu problems (%s)", cairn_errname(rc),
                  (unsigned long long)rep.problems, cairn_errdetail());
}

/* ---------------------------------------------------------------- the store */

static void make_spec(run *r)
{
    const char *sync = r->full_sync ? "" : "?sync=none";

    switch (r->stack) {
    case STACK_MEM:
        snprintf(r->spec, sizeof(r->spec), "mem");
        break;
    case STACK_LMDB:
        snprintf(r->spec, sizeof(r->spec), "lmdb:%s/lmdb%s", r->dir, sync);
        break;
    case STACK_FILE:
        snprintf(r->spec, sizeof(r->spec), "file:%s/file%s%sio=%s", r->dir, sync,
                 *sync ? "&" : "?", r->uring ? "uring" : "syscall");
        break;
    case STACK_THREE:
        snprintf(r->spec, sizeof(r->spec), "mem:1M>file:%s/cache?capacity=256K>lmdb:%s/data%s",
                 r->dir, r->dir, sync);
        break;
    default:
        snprintf(r->spec, sizeof(r->spec), "lmdb:%s/primary%s>file:%s/follower%s%sio=%s", r->dir,
                 sync, r->dir, sync, *sync ? "&" : "?", r->uring ? "uring" : "syscall");
        break;
    }
}

static void store_open(run *r)
{
    ASSERT_OK(cairn_open(r->spec, &r->opts, &r->db));
}

/* The head of "main" is where the model says. */
static void check_head(run *r)
{
    cairn_id head;
    int rc = cairn_resolve(r->db, NULL, &head);

    if (!r->has_head) {
        ASSERT_RC(rc, CAIRN_NOTFOUND);
        return;
    }
    ASSERT_OK(rc);
    if (memcmp(head.bytes, r->head.bytes, 32) != 0)
        TEST_FAIL("the head of main is not the last commit");
}

static void close_held(run *r)
{
    cairn_snapshot_close(r->held);
    r->held = NULL;
}

static void txn_begin(run *r)
{
    if (r->txn)
        return;
    ASSERT_OK(cairn_txn_begin(r->db, NULL, &r->txn));
    for (int sp = 0; sp < N_SPACES; sp++) {
        model_free(&r->view[sp]);
        r->view[sp] = model_copy(&r->cur[sp]);
    }
}

static void txn_abort(run *r)
{
    if (!r->txn)
        return;
    cairn_txn_abort(r->txn);
    r->txn = NULL;
}

/* Every keyspace root of the head equals that of the same contents built
 * from nothing in a mem store (history independence). */
static void check_fresh(run *r)
{
    cairn_db *fresh;
    cairn_snapshot *a, *b;
    cairn_txn *txn;

    ASSERT_OK(cairn_open("mem", &r->opts, &fresh));
    ASSERT_OK(cairn_txn_begin(fresh, NULL, &txn));
    for (int sp = 0; sp < N_SPACES; sp++)
        for (size_t i = 0; i < r->cur[sp].n; i++)
            ASSERT_OK(cairn_txn_put(txn, space_names[sp], r->cur[sp].v[i].key,
                                    r->cur[sp].v[i].key_len, r->cur[sp].v[i].val,
                                    r->cur[sp].v[i].val_len));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open_commit(r->db, &r->head, &a));
    ASSERT_OK(cairn_snapshot_open(fresh, NULL, &b));
    for (int sp = -1; sp < N_SPACES; sp++) {
        const char *space = sp < 0 ? CAIRN_CATALOG : space_names[sp];
        cairn_id ra, rb;
        ASSERT_OK(cairn_snapshot_root(a, space, &ra));
        ASSERT_OK(cairn_snapshot_root(b, space, &rb));
        if (memcmp(ra.bytes, rb.bytes, 32) != 0)
            TEST_FAIL("keyspace %d: root differs from a fresh build of the same contents", sp);
    }
    cairn_snapshot_close(a);
    cairn_snapshot_close(b);
    cairn_close(fresh);
}

/* The head moved to id, holding r->cur: check its commit object, hash its
 * roots, remember it. */
static void new_head(run *r, const cairn_id *id)
{
    cairn_commit_info info;
    cairn_snapshot *snap;
    uint64_t keys = 0;
    version *v;
    size_t slot;

    ASSERT_OK(cairn_commit_get(r->db, id, &info));
    for (int sp = 0; sp < N_SPACES; sp++)
        keys += r->cur[sp].n;
    ASSERT_EQ(info.key_count, keys);
    ASSERT_EQ(info.seq, r->has_head ? r->head_seq + 1 : 1);
    ASSERT_EQ(info.has_parent, r->has_head);
    if (r->has_head && memcmp(info.parent.bytes, r->head.bytes, 32) != 0)
        TEST_FAIL("the new commit's parent is not the old head");
    cairn_commit_info_clear(&info);
    r->has_head = true;
    r->head = *id;
    r->head_seq++;
    r->commits++;
    tr_u64(r, T_ROOT);
    tr_u64(r, r->head_seq);
    tr_u64(r, keys);
    ASSERT_OK(cairn_snapshot_open_commit(r->db, id, &snap));
    for (int sp = -1; sp < N_SPACES; sp++) {
        cairn_id root;
        ASSERT_OK(cairn_snapshot_root(snap, sp < 0 ? CAIRN_CATALOG : space_names[sp], &root));
        tr_bytes(r, root.bytes, 32);
    }
    cairn_snapshot_close(snap);

    if (r->n_vers < MAX_VERSIONS) {
        slot = r->n_vers++;
    } else {
        slot = below(r, MAX_VERSIONS);
        if (r->held && r->held_ver == slot)
            close_held(r);
        for (int sp = 0; sp < N_SPACES; sp++)
            model_free(&r->vers[slot].spaces[sp]);
    }
    v = &r->vers[slot];
    v->commit = *id;
    v->seq = r->head_seq;
    v->tagged = false;
    for (int sp = 0; sp < N_SPACES; sp++)
        v->spaces[sp] = model_copy(&r->cur[sp]);
    if (below(r, 32) == 0)
        check_fresh(r);
}

static void op_commit(run *r, int op)
{
    bool same = true, has_base;
    cairn_id base, id;
    char msg[32];

    for (int sp = 0; sp < N_SPACES; sp++)
        same = same && model_equal(&r->cur[sp], &r->view[sp]);
    has_base = cairn_txn_base(r->txn, &base);
    ASSERT_EQ(has_base, r->has_head);
    snprintf(msg, sizeof(msg), "op %d", op);
    memset(&id, 0xee, sizeof(id));
    ASSERT_OK(cairn_txn_commit(r->txn, msg, &id));
    r->txn = NULL;
    if (same) {
        tr_u64(r, T_NOCHANGE);
        r->no_change++;
        if (has_base)
            ASSERT_TRUE(memcmp(id.bytes, base.bytes, 32) == 0);
        check_head(r);
        return;
    }
    tr_u64(r, T_COMMIT);
    for (int sp = 0; sp < N_SPACES; sp++) {
        model_free(&r->cur[sp]);
        r->cur[sp] = model_copy(&r->view[sp]);
    }
    new_head(r, &id);
}

/* Tags, the branch "side", and CAIRN_BUSY while a transaction is open. */
static void op_refs(run *r)
{
    uint64_t what = below(r, 4);
    size_t vi;
    version *v;
    char name[32];
    int rc;

    tr_u64(r, T_TAG);
    tr_u64(r, what);
    if (!r->n_vers)
        return;
    vi = below(r, r->n_vers);
    v = &r->vers[vi];
    if (r->txn) {
        ASSERT_RC(cairn_ref_set(r->db, CAIRN_TAG, "busy", &v->commit, 0), CAIRN_BUSY);
        return;
    }
    if (what < 2) {
        snprintf(name, sizeof(name), "v%" PRIu64, v->seq);
        rc = cairn_ref_set(r->db, CAIRN_TAG, name, &v->commit, 0);
        ASSERT_RC(rc, v->tagged ? CAIRN_EXISTS : 0);
        v->tagged = true;
    } else if (what == 2) {
        cairn_snapshot *snap;
        tr_u64(r, T_BRANCH);
        ASSERT_OK(cairn_ref_set(r->db, CAIRN_BRANCH, "side", &v->commit, CAIRN_REF_FORCE));
        r->side_exists = true;
        ASSERT_OK(cairn_snapshot_open(r->db, "side", &snap));
        check_snapshot(r, snap, v->spaces, false);
        cairn_snapshot_close(snap);
    } else {
        rc = cairn_ref_delete(r->db, CAIRN_BRANCH, "side", NULL);
        ASSERT_RC(rc, r->side_exists ? 0 : CAIRN_NOTFOUND);
        r->side_exists = false;
    }
}

static void op_reopen(run *r)
{
    tr_u64(r, T_REOPEN);
    close_held(r);
    txn_abort(r);
    if (r->stack == STACK_MEM)
        return; /* a mem store cannot reopen: go on */
    cairn_close(r->db);
    r->db = NULL;
    store_open(r);
    ASSERT_EQ(cairn_node_size(r->db), r->opts.node_size);
    check_head(r);
    r->reopens++;
}

/* Applies the batch to txn; returns the first error. */
static int apply_batch(cairn_txn *txn, const batch_op *ops, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = ops[i].del ? cairn_txn_del(txn, space_names[ops[i].space], ops[i].key, ops[i].key_len)
                        : cairn_txn_put(txn, space_names[ops[i].space], ops[i].key,
                                        ops[i].key_len, ops[i].val, ops[i].val_len);
    return rc;
}

/* Commits the batch with the fault armed. Returns 1 if the commit
 * returned 0, 0 if it failed, or a negative step number if something else
 * failed. */
static int faulty_commit(const char *spec, const cairn_options *opts, cairn_db *db,
                         const batch_op *ops, size_t n, uint64_t fault_n, int kind)
{
    cairn_txn *txn;
    int rc;

    if (!db && (rc = cairn_open(spec, opts, &db))) {
        fprintf(stderr, "crash child: cairn_open: %s (%s)\n", cairn_errname(rc),
                cairn_errdetail());
        return -1;
    }
    if ((rc = cairn_txn_begin(db, NULL, &txn))) {
        fprintf(stderr, "crash child: begin: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
        return -2;
    }
    if ((rc = apply_batch(txn, ops, n))) {
        fprintf(stderr, "crash child: put/del: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
        return -3;
    }
    if (kind == 0)
        cairn__tier_fault_arm_kind("*", fault_n, -EIO, CAIRN_FAULT_FAIL, true);
    else
        cairn__tier_fault_arm_kind("*", fault_n, -EIO, CAIRN_FAULT_SHORT, false);
    rc = cairn_txn_commit(txn, "crash", NULL);
    cairn__tier_fault_arm(NULL, 0, 0);
    return rc == 0;
}

/* A simulated crash in the middle of a commit (see the file comment). */
static void op_crash(run *r)
{
    batch_op ops[MAX_BATCH];
    model after[N_SPACES];
    size_t n = 1 + below(r, MAX_BATCH);
    uint64_t fault_n = 1 + below(r, 1 + below(r, 48)); /* early calls more often */
    int kind = (int)below(r, 2), committed;
    bool same = true, moved;
    cairn_id head;

    tr_u64(r, T_CRASH);
    close_held(r);
    txn_abort(r);
    for (int sp = 0; sp < N_SPACES; sp++)
        after[sp] = model_copy(&r->cur[sp]);
    for (size_t i = 0; i < n; i++) {
        batch_op *o = &ops[i];
        o->space = (int)below(r, N_SPACES);
        o->del = below(r, 3) == 0;
        o->val = NULL;
        o->val_len = 0;
        if (o->del && below(r, 2))
            absent_key(r, &after[o->space], o->key, &o->key_len);
        else
            gen_key(r, o->key, &o->key_len);
        if (o->del) {
            model_del(&after[o->space], o->key, o->key_len);
        } else {
            o->val_len = gen_val(r, r->valbuf);
            o->val = malloc(o->val_len + 1);
            ASSERT_TRUE(o->val != NULL);
            memcpy(o->val, r->valbuf, o->val_len);
            model_put(&after[o->space], o->key, o->key_len, o->val, o->val_len);
        }
        tr_u64(r, o->del);
        tr_bytes(r, o->key, o->key_len);
        tr_bytes(r, o->val, o->val_len);
    }
    for (int sp = 0; sp < N_SPACES; sp++)
        same = same && model_equal(&r->cur[sp], &after[sp]);

    if (r->stack == STACK_MEM) {
        committed = faulty_commit(r->spec, &r->opts, r->db, ops, n, fault_n, kind);
        if (committed < 0)
            TEST_FAIL("the faulty commit failed before committing (step %d)", -committed);
    } else {
        int status;
        pid_t pid;

        cairn_close(r->db);
        r->db = NULL;
        fflush(NULL);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            /* The child: no cleanup at all, as if it had been killed. */
            int res = faulty_commit(r->spec, &r->opts, NULL, ops, n, fault_n, kind);
            _exit(res < 0 ? 10 - res : res ? 0 : 1);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
            TEST_FAIL("crash child failed (status 0x%x)", status);
        committed = WEXITSTATUS(status) == 0;
        store_open(r);
    }

    /* The head is the old commit or the new one, as the commit said. */
    {
        int rc = cairn_resolve(r->db, NULL, &head);
        if (rc == CAIRN_NOTFOUND && !r->has_head) {
            moved = false;
        } else {
            ASSERT_OK(rc);
            moved = !r->has_head || memcmp(head.bytes, r->head.bytes, 32) != 0;
        }
        if (moved && (!committed || same))
            TEST_FAIL("the head moved, but the crashed commit %s",
                      same ? "changed nothing" : "failed");
        if (!moved && committed && !same)
            TEST_FAIL("the crashed commit returned 0, but the head did not move");
    }
    /* Its contents are the batch's result or what was there before. Which
     * one depends on the stack (how many tier calls a commit makes), so
     * these reads stay out of the trace. */
    {
        const model *want = committed && !same ? after : r->cur;
        cairn_snapshot *snap;
        r->mute = true;
        if (r->has_head || moved)
            ASSERT_OK(cairn_snapshot_open_commit(r->db, &head, &snap));
        else
            ASSERT_OK(cairn_snapshot_open(r->db, NULL, &snap));
        for (int sp = 0; sp < N_SPACES; sp++)
            check_all(r, snap, sp, &want[sp]);
        cairn_snapshot_close(snap);
        r->mute = false;
    }
    if (r->crashes % 4 == 0)
        verify_store(r);
    r->crashes++;
    r->crash_lost += !committed && !same;

    /* A lost batch is committed again, so that every stack goes on from
     * the same state. */
    if (!committed && !same) {
        cairn_txn *txn;
        ASSERT_OK(cairn_txn_begin(r->db, NULL, &txn));
        ASSERT_OK(apply_batch(txn, ops, n));
        ASSERT_OK(cairn_txn_commit(txn, "again", &head));
    }
    if (!same) {
        for (int sp = 0; sp < N_SPACES; sp++) {
            model_free(&r->cur[sp]);
            r->cur[sp] = model_copy(&after[sp]);
        }
        new_head(r, &head);
    }
    check_head(r);
    tr_u64(r, r->head_seq);
    for (int sp = 0; sp < N_SPACES; sp++)
        model_free(&after[sp]);
    for (size_t i = 0; i < n; i++)
        free(ops[i].val);
}

/* ---------------------------------------------------------------- a seed */

static const uint32_t node_sizes[] = {256, 512, 1024, 4096};
/* Operations per phase: with long phases the trees grow to a thousand
 * keys and more before they are drained. */
static const int phase_lengths[] = {100, 250, 250, 1000};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where the stores go: $CAIRN_SCALE_DIR, else /dev/shm if it can be
 * written (the test checks logic, not disks: on tmpfs a file tier commit
 * costs a tenth of what it costs on a VM disk, and a killed process loses
 * nothing there either), else $TMPDIR, else /tmp. */
static const char *store_base(void)
{
    const char *env = getenv("CAIRN_SCALE_DIR");

    if (env && *env)
        return env;
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    env = getenv("TMPDIR");
    return env && *env ? env : "/tmp";
}

/* Runs seed on stack for n_ops operations; returns the trace hash. */
static uint64_t run_seed(uint64_t seed, int stack, int n_ops, bool quiet)
{
    const char *base = store_base();
    double t0 = now_s();
    run *r = calloc(1, sizeof(*r));
    uint64_t hash, keys;
    int phase_ops;

    ASSERT_TRUE(r != NULL);
    r->seed = seed;
    r->rng = mix64(seed);
    r->stack = stack;
    r->full_sync = seed_full_sync(seed);
    r->uring = seed_uring(seed);
    r->valbuf = malloc(MAX_VALUE + 8);
    r->trace = XXH64_createState();
    ASSERT_TRUE(r->valbuf && r->trace);
    XXH64_reset(r->trace, 0);
    snprintf(r->dir, sizeof(r->dir), "%s/cairn-scale-XXXXXX", base);
    if (!mkdtemp(r->dir))
        TEST_FAIL("mkdtemp %s: %s", r->dir, strerror(errno));
    make_spec(r);
    test_seed_set(seed);
    current = r;
    current_op = -1;
    current_what = "open";

    cairn_options_init(&r->opts);
    r->opts.node_size = node_sizes[below(r, 4)];
    r->opts.node_cache_bytes = below(r, 2) ? (256u << 10) : (4u << 20);
    r->small_keys = 8 + (unsigned)below(r, 56);
    r->large_keys = 500 + (unsigned)below(r, 3500);
    phase_ops = phase_lengths[below(r, 4)];
    tr_u64(r, r->opts.node_size);
    store_open(r);

    for (int op = 0; op < n_ops; op++) {
        int phase = (op / phase_ops) % 4, sp = (int)below(r, N_SPACES);
        uint64_t p = below(r, 100);
        char key[MODEL_KEY_MAX];
        size_t len;

        current_op = op;
        if (phase == 2 && p >= 52 && p < 70)
            p -= 12; /* delete-heavy: some reads become deletes */
        if (p < 40) {
            txn_begin(r);
            if (phase == 3 && r->view[sp].n) {
                /* drain: delete a present key instead of putting */
                const model_entry *e = &r->view[sp].v[below(r, r->view[sp].n)];
                current_what = "drain delete";
                len = e->key_len;
                memcpy(key, e->key, len);
                ASSERT_OK(cairn_txn_del(r->txn, space_names[sp], key, len));
                model_del(&r->view[sp], key, len);
                tr_u64(r, T_DEL);
            } else {
                size_t vl;
                current_what = "put";
                gen_key(r, key, &len);
                vl = gen_val(r, r->valbuf);
                ASSERT_OK(cairn_txn_put(r->txn, space_names[sp], key, len, r->valbuf, vl));
                model_put(&r->view[sp], key, len, r->valbuf, vl);
                tr_u64(r, T_PUT);
                tr_u64(r, vl);
            }
            tr_bytes(r, key, len);
        } else if (p < 52) {
            txn_begin(r);
            current_what = "delete";
            if (below(r, 3) == 0)
                absent_key(r, &r->view[sp], key, &len);
            else
                pick_key(r, &r->view[sp], key, &len);
            ASSERT_OK(cairn_txn_del(r->txn, space_names[sp], key, len));
            tr_u64(r, T_DEL);
            tr_u64(r, model_del(&r->view[sp], key, len));
            tr_bytes(r, key, len);
        } else if (p < 60) {
            bool found;
            size_t i;
            cairn_val v;
            int rc;
            txn_begin(r);
            current_what = "get in the transaction";
            pick_key(r, &r->view[sp], key, &len);
            i = model_find(&r->view[sp], key, len, &found);
            rc = cairn_txn_get(r->txn, space_names[sp], key, len, &v);
            tr_u64(r, T_TGET);
            tr_u64(r, (uint64_t)rc);
            if (found) {
                ASSERT_OK(rc);
                ASSERT_MEM_EQ(v.data, v.len, r->view[sp].v[i].val, r->view[sp].v[i].val_len);
                tr_bytes(r, v.data, v.len);
            } else {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
            }
        } else if (p < 67) {
            txn_begin(r);
            current_what = "commit";
            op_commit(r, op);
        } else if (p < 69) {
            current_what = "abort";
            tr_u64(r, T_ABORT);
            txn_abort(r);
        } else if (p < 79 || !r->n_vers) {
            cairn_snapshot *snap;
            current_what = "read the head";
            ASSERT_OK(cairn_snapshot_open(r->db, NULL, &snap));
            check_gets(r, snap, sp, &r->cur[sp], 4);
            check_range(r, snap, sp, &r->cur[sp]);
            cairn_snapshot_close(snap);
        } else if (p < 85) {
            const version *v = &r->vers[below(r, r->n_vers)];
            bool by_tag = v->tagged && below(r, 2), all = below(r, 4) == 0;
            cairn_snapshot *snap;
            current_what = "time travel";
            tr_u64(r, T_TRAVEL);
            if (by_tag) {
                char name[32];
                snprintf(name, sizeof(name), "v%" PRIu64, v->seq);
                ASSERT_OK(cairn_snapshot_open(r->db, name, &snap));
            } else {
                ASSERT_OK(cairn_snapshot_open_commit(r->db, &v->commit, &snap));
            }
            check_snapshot(r, snap, v->spaces, all);
            cairn_snapshot_close(snap);
        } else if (p < 89) {
            current_what = "diff";
            /* two statements: the order of two draws in one call's
             * arguments is up to the compiler (gcc and clang differ) */
            size_t va = below(r, r->n_vers), vb = below(r, r->n_vers);
            check_diff(r, &r->vers[va], &r->vers[vb], sp);
        } else if (p < 91) {
            current_what = "held snapshot";
            tr_u64(r, T_HELD);
            if (!r->held) {
                r->held_ver = below(r, r->n_vers);
                ASSERT_OK(cairn_snapshot_open_commit(r->db, &r->vers[r->held_ver].commit,
                                                     &r->held));
            } else if (below(r, 3)) {
                check_snapshot(r, r->held, r->vers[r->held_ver].spaces, false);
            } else {
                close_held(r);
            }
        } else if (p < 93) {
            current_what = "refs";
            op_refs(r);
        } else if (p < 95) {
            /* rare steps: 2 in 100 operations come here, so that per
             * 1,000 operations REOPENS reopens and CRASHES crash steps
             * happen on average */
            uint64_t q = below(r, 20);
            if (q < REOPENS) {
                current_what = "reopen";
                op_reopen(r);
            } else if (q >= 20 - CRASHES) {
                current_what = "crash";
                op_crash(r);
            }
        } else {
            cairn_snapshot *snap;
            current_what = "read the head, all";
            ASSERT_OK(cairn_snapshot_open(r->db, NULL, &snap));
            if (below(r, 8) == 0)
                check_all(r, snap, sp, &r->cur[sp]);
            else
                check_range(r, snap, sp, &r->cur[sp]);
            cairn_snapshot_close(snap);
        }
        if (trace_log)
            fprintf(trace_log, "%d %s %016" PRIx64 "\n", op, current_what,
                    (uint64_t)XXH64_digest(r->trace));
    }

    /* The end: the head holds the model, and the store verifies. */
    current_op = n_ops;
    current_what = "final check";
    close_held(r);
    txn_abort(r);
    {
        cairn_snapshot *snap;
        ASSERT_OK(cairn_snapshot_open(r->db, NULL, &snap));
        for (int sp = 0; sp < N_SPACES; sp++)
            check_all(r, snap, sp, &r->cur[sp]);
        cairn_snapshot_close(snap);
    }
    check_head(r);
    verify_store(r);
    tr_u64(r, T_END);
    hash = XXH64_digest(r->trace);
    keys = r->cur[0].n + r->cur[1].n;
    if (!quiet)
        printf("seed %" PRIu64 " %-5s node %4u: %d ops, %" PRIu64 " commits (%" PRIu64
               " unchanged), %" PRIu64 " reopens, %" PRIu64 " crashes (%" PRIu64
               " lost), %" PRIu64 " keys, trace %016" PRIx64 ", %.2f s\n",
               seed, stack_names[stack], r->opts.node_size, n_ops, r->commits, r->no_change,
               r->reopens, r->crashes, r->crash_lost, keys, hash, now_s() - t0);
    if (!quiet)
        total_crashes += r->crashes;

    cairn_close(r->db);
    for (size_t i = 0; i < r->n_vers; i++)
        for (int sp = 0; sp < N_SPACES; sp++)
            model_free(&r->vers[i].spaces[sp]);
    for (int sp = 0; sp < N_SPACES; sp++) {
        model_free(&r->cur[sp]);
        model_free(&r->view[sp]);
    }
    XXH64_freeState(r->trace);
    free(r->valbuf);
    test_rm_rf(r->dir);
    current = NULL;
    free(r);
    return hash;
}

/* ---------------------------------------------------------------- main */

#if defined(__SANITIZE_ADDRESS__)
#define SCALE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCALE_ASAN 1
#endif
#endif
#if defined(SCALE_ASAN)
/* AddressSanitizer fills the first 4 KiB of every block malloc and realloc
 * return with garbage; in this test, which grows many buffers, that took
 * half the run time. ASAN_OPTIONS can still set it. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void)
{
    return "max_malloc_fill_size=0";
}
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static int parse_stack(const char *name)
{
    for (int k = 0; k < N_STACKS; k++)
        if (strcmp(name, stack_names[k]) == 0)
            return k;
    fprintf(stderr, "unknown stack '%s' (mem, lmdb, file, three, follow)\n", name);
    exit(2);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : def;
}

/* Runs seed a second time, on stack, and requires the same trace hash. */
static void same_trace(uint64_t seed, int first_stack, uint64_t first, int stack, int n_ops)
{
    uint64_t again = run_seed(seed, stack, n_ops, true);

    if (again != first) {
        fprintf(stderr,
                "seed %" PRIu64 ": trace %016" PRIx64 " on %s, %016" PRIx64 " on %s\n"
                "replay: CAIRN_TEST_SEED=%" PRIu64 " %s --seed %" PRIu64 " --stack %s\n"
                "replay: CAIRN_TEST_SEED=%" PRIu64 " %s --seed %" PRIu64 " --stack %s\n",
                seed, first, stack_names[first_stack], again, stack_names[stack], seed,
                self_path, seed, stack_names[first_stack], seed, self_path, seed,
                stack_names[stack]);
        test_seed_set(seed);
        TEST_FAIL("seed %" PRIu64 ": the trace hash is not deterministic%s", seed,
                  stack == first_stack ? "" : " across stacks");
    }
}

int main(int argc, char **argv)
{
    double scale = getenv("CAIRN_TEST_SCALE") ? atof(getenv("CAIRN_TEST_SCALE")) : 1.0;
    uint64_t first = env_u64("CAIRN_TEST_SEED", 1), n_seeds, only = 0;
    int n_ops = (int)env_u64("CAIRN_TEST_OPS", 5000), force_stack = -1;
    bool have_only = false;
    double t0 = now_s();
    ssize_t len;

    /* Large blocks (LMDB's 2 MiB dirty list at every open) come straight
     * from mmap: fresh zero pages, where a heap block would be cleared
     * page by page, and pages copied after each fork. */
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines interleave with failures */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            only = strtoull(argv[++i], NULL, 10);
            have_only = true;
        } else if (strcmp(argv[i], "--stack") == 0 && i + 1 < argc) {
            force_stack = parse_stack(argv[++i]);
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            n_ops = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--seed S] [--stack mem|lmdb|file|three|follow] [--ops N]\n",
                    argv[0]);
            return 2;
        }
    }
    if ((len = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1)) > 0)
        self_path[len] = '\0';
    else
        snprintf(self_path, sizeof(self_path), "%s", argv[0]);
    test_fail_hook = fail_hook;
    if (getenv("CAIRN_SCALE_TRACE_LOG") &&
        !(trace_log = fopen(getenv("CAIRN_SCALE_TRACE_LOG"), "w")))
        TEST_FAIL("cannot write %s", getenv("CAIRN_SCALE_TRACE_LOG"));
    if (scale <= 0)
        scale = 1.0;
    /* A sanitizer build (-O0, ASan) runs a seed about ten times slower:
     * 40 seeds per unit of scale there, 200 in a release build. */
    n_seeds = env_u64("CAIRN_TEST_SEEDS", (uint64_t)((SANITIZED ? 40 : 200) * scale + 0.5));
    if (n_seeds < 8 && !getenv("CAIRN_TEST_SEEDS"))
        n_seeds = 8;
    if (have_only) {
        first = only;
        n_seeds = 1;
    }
    printf("seeds %" PRIu64 "..%" PRIu64 ", %d operations each\n", first, first + n_seeds - 1,
           n_ops);

    for (uint64_t i = 0, checks = SANITIZED ? 2 : 3; i < n_seeds; i++) {
        uint64_t seed = first + i;
        int stack = force_stack >= 0 ? force_stack : seed_stack(seed);
        uint64_t hash = run_seed(seed, stack, n_ops, false);

        total_seeds++;
        total_ops += (uint64_t)n_ops;
        /* Determinism: the first three seeds (two in a sanitizer build)
         * run again on the same stack, the next three (two) on another. */
        if (i < checks || have_only)
            same_trace(seed, stack, hash, stack, n_ops);
        else if (i < 2 * checks)
            same_trace(seed, stack, hash, (stack + 1 + (int)(i % 3)) % N_STACKS, n_ops);
    }
    printf("%.1f s\n", now_s() - t0);
    printf("cairn-summary: model_seeds=%" PRIu64 " model_ops=%" PRIu64 " model_crashes=%" PRIu64
           "\n",
           total_seeds, total_ops, total_crashes);
    printf("ok\n");
    return 0;
}
