/*
 * test_engine_concurrency.c - one writer, many readers (design brief,
 * section 6).
 *
 * 1. Readers against a committing writer, for "lmdb:DIR" and
 *    "mem:16M>lmdb:DIR". A writer thread makes a fixed number of commits;
 *    commit v writes "__version" = v and puts or deletes a random subset of
 *    NKEYS keys "key%05d" (every key is put by commit 1). Before committing
 *    v it records in a shared table which version of each key commit v
 *    holds (0: absent), so every version is self-describing:
 *    - 4 reader threads loop: open a snapshot of "main", read its commit id
 *      and "__version", and check everything against the table: the commit
 *      message ("v<v>"), a forward scan (exact keys and values), a reverse
 *      scan, a second forward scan giving the same bytes, cairn_count of the
 *      whole range and of random ranges (and bounded iterators over them),
 *      and random point gets, present and absent.
 *    - a holder thread keeps snapshots open across many commits: it steps
 *      an iterator over one old snapshot a few keys per writer commit (so
 *      that one scan spans dozens of commits, without timing), and keeps a
 *      snapshot from every 20th commit; at the end it checks them all again.
 *    - a verifier thread runs cairn_verify (no problems allowed) at a third
 *      and two thirds of the commits and at the end.
 *    The same runs again on "mem" with a 256 KiB node cache, so that nodes
 *    are evicted while readers hold them.
 * 2. Writer exclusion for "lmdb:DIR": with a write transaction open, a
 *    second begin on the same handle, on a second handle of the same path
 *    and in another process (fork + exec of this program as
 *    --child-writer) is CAIRN_BUSY; a branch move on the second handle too.
 *    Readers in another process (--child-reader, CAIRN_RDONLY) still read
 *    the last commit meanwhile. After the commit a child writer succeeds.
 *    Then threads race for the lock on two handles, each winner doing a
 *    read-modify-write of a counter: no two hold it at once and no update
 *    is lost.
 * Pass/fail never depends on timing: how many versions readers see varies.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define NKEYS 2000
#define N_READERS 4
#define MAX_COMMITS 1024
#define MAX_HELD 16
#define HOLD_STEP 25   /* keys the holder reads per writer commit */

/* What commit v holds: the version of each key's value, 0 if absent. */
typedef struct version {
    uint16_t ver[NKEYS];
    uint32_t present;
} version;

static version *table;            /* [MAX_COMMITS + 1] */
static _Atomic int prepared;      /* table[1..prepared] are final */
static _Atomic int committed;     /* commits the writer has finished */
static _Atomic bool writer_done;
static int n_commits;
static pthread_mutex_t progress_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress_cv = PTHREAD_COND_INITIALIZER;

static double test_scale(void)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A per-thread random stream. */
static uint64_t next(uint64_t *st)
{
    *st += 0x9e3779b97f4a7c15ull;
    return mix64(*st);
}

static void key_name(int i, char buf[16])
{
    snprintf(buf, 16, "key%05d", i);
}

/* The value of key i as written by version ver: "v<ver>:k<i>:" and then
 * 0..1399 filler bytes, so some values are stored out of line. */
static size_t value_of(int ver, int i, uint8_t *buf)
{
    uint64_t h = mix64((uint64_t)ver << 32 | (uint64_t)i);
    int n = snprintf((char *)buf, 32, "v%05d:k%05d:", ver, i);
    size_t len = (size_t)n + h % 1400;

    for (size_t j = (size_t)n; j < len; j++)
        buf[j] = (uint8_t)('a' + (h >> 7) % 26 + j % 3);
    return len;
}

/* ---------------------------------------------------------------- writer */

/* Commits version v: version table[v] is prepared (and published) first. */
static void write_version(cairn_db *db, int v, uint64_t *rng)
{
    version *cur = &table[v];
    uint8_t val[1500];
    char key[16], msg[16], vbuf[16];
    cairn_txn *txn;
    int changes = v == 1 ? NKEYS : 1 + (int)(next(rng) % (NKEYS / 4));

    if (v > 1)
        *cur = table[v - 1];
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int c = 0; c < changes; c++) {
        int i = v == 1 ? c : (int)(next(rng) % NKEYS);
        bool del = v > 1 && next(rng) % 6 == 0;
        key_name(i, key);
        if (del) {
            ASSERT_OK(cairn_txn_del(txn, NULL, key, strlen(key)));
            cur->ver[i] = 0;
        } else {
            size_t len = value_of(v, i, val);
            ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, len));
            cur->ver[i] = (uint16_t)v;
        }
    }
    snprintf(vbuf, sizeof(vbuf), "%d", v);
    ASSERT_OK(cairn_txn_put(txn, NULL, "__version", 9, vbuf, strlen(vbuf)));
    cur->present = 0;
    for (int i = 0; i < NKEYS; i++)
        cur->present += cur->ver[i] != 0;
    atomic_store_explicit(&prepared, v, memory_order_release);
    snprintf(msg, sizeof(msg), "v%d", v);
    ASSERT_OK(cairn_txn_commit(txn, msg, NULL));
    pthread_mutex_lock(&progress_mu);
    atomic_store(&committed, v);
    pthread_cond_broadcast(&progress_cv);
    pthread_mutex_unlock(&progress_mu);
}

static void *writer_main(void *arg)
{
    cairn_db *db = arg;
    uint64_t rng = test_seed ^ 0x57;

    for (int v = 2; v <= n_commits; v++)
        write_version(db, v, &rng);
    pthread_mutex_lock(&progress_mu);
    atomic_store(&writer_done, true);
    pthread_cond_broadcast(&progress_cv);
    pthread_mutex_unlock(&progress_mu);
    return NULL;
}

/* ---------------------------------------------------------------- readers */

/* Checks one entry (key k, value val) against version ex; returns the key
 * index. "__version" is checked against v and returns -1. */
static int check_entry(const version *ex, int v, cairn_val k, cairn_val val)
{
    uint8_t want[1500];
    char name[16];
    int i;

    if (k.len == 9 && memcmp(k.data, "__version", 9) == 0) {
        snprintf(name, sizeof(name), "%d", v);
        ASSERT_MEM_EQ(val.data, val.len, name, strlen(name));
        return -1;
    }
    snprintf(name, sizeof(name), "%.*s", k.len == 8 ? 8 : 0, (const char *)k.data);
    if (sscanf(name, "key%5d", &i) != 1 || i < 0 || i >= NKEYS)
        TEST_FAIL("version %d: unexpected key '%.*s'", v, (int)k.len, (const char *)k.data);
    key_name(i, name);
    ASSERT_MEM_EQ(k.data, k.len, name, 8);
    if (!ex->ver[i])
        TEST_FAIL("version %d: key %s should be absent", v, name);
    size_t len = value_of(ex->ver[i], i, want);
    if (val.len != len || memcmp(val.data, want, len) != 0)
        TEST_FAIL("version %d: key %s: got '%.*s...' (%zu bytes), want '%.*s...' (%zu bytes)", v,
                  name, (int)(val.len < 20 ? val.len : 20), (const char *)val.data, val.len, 20,
                  (const char *)want, len);
    return i;
}

/* Scans [lo_i, hi_i) of the key range (lo_i < 0: from "__version", hi_i
 * >= NKEYS: to the end) in either direction and checks it entry by entry
 * against the keys version ex holds there. Returns the number of entries
 * and (if hash) an FNV-1a hash of their bytes. */
static uint64_t scan_check(cairn_snapshot *snap, const version *ex, int v, int lo_i, int hi_i,
                           bool reverse, uint64_t *hash)
{
    int want[NKEYS + 1], n_want = 0, rc;
    char lo[16], hi[16];
    cairn_iter *it;
    cairn_val k, val;
    uint64_t n = 0, h = 1469598103934665603ull;

    if (lo_i < 0)
        want[n_want++] = -1; /* "__version" sorts before "key..." */
    for (int i = lo_i < 0 ? 0 : lo_i; i < hi_i && i < NKEYS; i++)
        if (ex->ver[i])
            want[n_want++] = i;
    key_name(lo_i, lo);
    key_name(hi_i, hi);
    ASSERT_OK(cairn_iter_open(snap, NULL, lo_i < 0 ? NULL : lo, 8, hi_i >= NKEYS ? NULL : hi, 8,
                              reverse ? CAIRN_ITER_REVERSE : 0, &it));
    while ((rc = cairn_iter_next(it, &k, &val)) == 0) {
        if (n >= (uint64_t)n_want)
            TEST_FAIL("version %d: scan returns more than %d keys", v, n_want);
        ASSERT_EQ(check_entry(ex, v, k, val), want[reverse ? n_want - 1 - (int)n : (int)n]);
        for (size_t j = 0; j < k.len; j++)
            h = (h ^ ((const uint8_t *)k.data)[j]) * 1099511628211ull;
        for (size_t j = 0; j < val.len; j++)
            h = (h ^ ((const uint8_t *)val.data)[j]) * 1099511628211ull;
        n++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(n, n_want);
    cairn_iter_close(it);
    if (hash)
        *hash = h;
    return n;
}

/* Checks a whole snapshot against the table (see the file comment). */
static void check_snapshot(cairn_db *db, cairn_snapshot *snap, uint64_t *rng, int *out_v)
{
    cairn_commit_info info;
    cairn_id id;
    cairn_val val;
    char buf[16], want_msg[16];
    uint64_t count, h1, h2, n;
    int v;
    const version *ex;

    ASSERT_TRUE(cairn_snapshot_commit(snap, &id));
    ASSERT_OK(cairn_get(snap, NULL, "__version", 9, &val));
    ASSERT_TRUE(val.len > 0 && val.len < sizeof(buf));
    memcpy(buf, val.data, val.len);
    buf[val.len] = '\0';
    v = atoi(buf);
    ASSERT_TRUE(v >= 1 && v <= n_commits);
    ASSERT_TRUE(atomic_load_explicit(&prepared, memory_order_acquire) >= v);
    ex = &table[v];
    ASSERT_OK(cairn_commit_get(db, &id, &info));
    snprintf(want_msg, sizeof(want_msg), "v%d", v);
    if (strcmp(info.message, want_msg) != 0)
        TEST_FAIL("snapshot reads __version %d but its commit says '%s'", v, info.message);
    ASSERT_EQ(info.key_count, ex->present + 1);
    cairn_commit_info_clear(&info);

    n = scan_check(snap, ex, v, -1, NKEYS, false, &h1);
    ASSERT_EQ(n, ex->present + 1);
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, n);
    ASSERT_EQ(scan_check(snap, ex, v, -1, NKEYS, true, NULL), n);
    ASSERT_EQ(scan_check(snap, ex, v, -1, NKEYS, false, &h2), n);
    ASSERT_EQ(h1, h2);

    for (int r = 0; r < 8; r++) {
        int lo = (int)(next(rng) % NKEYS), hi = lo + (int)(next(rng) % 300);
        char klo[16], khi[16];
        uint64_t want = 0;
        for (int i = lo; i < hi && i < NKEYS; i++)
            want += ex->ver[i] != 0;
        key_name(lo, klo);
        key_name(hi, khi);
        ASSERT_OK(cairn_count(snap, NULL, klo, 8, khi, 8, &count));
        ASSERT_EQ(count, want);
        ASSERT_EQ(scan_check(snap, ex, v, lo, hi, r & 1, NULL), want);
    }
    for (int r = 0; r < 64; r++) {
        int i = (int)(next(rng) % NKEYS), rc;
        char key[16];
        key_name(i, key);
        rc = cairn_get(snap, NULL, key, 8, &val);
        if (!ex->ver[i]) {
            ASSERT_RC(rc, CAIRN_NOTFOUND);
        } else {
            ASSERT_OK(rc);
            check_entry(ex, v, (cairn_val){key, 8}, val);
        }
    }
    if (out_v)
        *out_v = v;
}

typedef struct reader_arg {
    cairn_db *db;
    int index;
    long scans;
    int versions_seen;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    uint64_t rng = test_seed ^ (uint64_t)(a->index + 1) << 40;
    int last_v = 0;

    /* At least a few rounds after the writer is done, however fast it was. */
    for (int after = 0; after < 3;) {
        cairn_snapshot *snap;
        int v;

        if (atomic_load(&writer_done))
            after++;
        ASSERT_OK(cairn_snapshot_open(a->db, "main", &snap));
        check_snapshot(a->db, snap, &rng, &v);
        /* A reader never goes back in time. */
        ASSERT_TRUE(v >= last_v);
        a->versions_seen += v != last_v;
        last_v = v;
        cairn_snapshot_close(snap);
        a->scans++;
    }
    ASSERT_EQ(last_v, n_commits);
    return NULL;
}

/* Waits until the writer has finished commit v (or all of them). */
static void wait_for_commit(int v)
{
    pthread_mutex_lock(&progress_mu);
    while (atomic_load(&committed) < v && !atomic_load(&writer_done))
        pthread_cond_wait(&progress_cv, &progress_mu);
    pthread_mutex_unlock(&progress_mu);
}

/* The holder: see the file comment. */
static void *holder_main(void *p)
{
    reader_arg *a = p;
    cairn_snapshot *held[MAX_HELD], *snap;
    int held_v[MAX_HELD], n_held = 0, v0, expect = -1, i;
    /* expect: the last key index returned, -1 after "__version" */
    uint64_t rng = test_seed ^ 0x401d, seen = 0;
    cairn_iter *it;
    cairn_val k, val;
    int rc, start;

    ASSERT_OK(cairn_snapshot_open(a->db, NULL, &snap));
    check_snapshot(a->db, snap, &rng, &v0);
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    start = atomic_load(&committed);
    for (int step = 1;; step++) {
        for (int j = 0; j < HOLD_STEP; j++) {
            if ((rc = cairn_iter_next(it, &k, &val)) == CAIRN_NOTFOUND)
                goto scanned;
            ASSERT_OK(rc);
            i = check_entry(&table[v0], v0, k, val);
            ASSERT_TRUE(seen == 0 ? i == -1 : i > expect);
            while (++expect < i) /* nothing present was skipped */
                ASSERT_EQ(table[v0].ver[expect], 0);
            expect = i;
            seen++;
        }
        wait_for_commit(start + step);
        if (n_held < MAX_HELD && atomic_load(&committed) >= 20 * (n_held + 1)) {
            ASSERT_OK(cairn_snapshot_open(a->db, NULL, &held[n_held]));
            check_snapshot(a->db, held[n_held], &rng, &held_v[n_held]);
            n_held++;
        }
    }
scanned:
    ASSERT_EQ(seen, table[v0].present + 1);
    cairn_iter_close(it);
    a->versions_seen = atomic_load(&committed) - start; /* commits the scan spanned */
    wait_for_commit(n_commits);
    check_snapshot(a->db, snap, &rng, &i);
    ASSERT_EQ(i, v0);
    cairn_snapshot_close(snap);
    for (int h = 0; h < n_held; h++) {
        check_snapshot(a->db, held[h], &rng, &i);
        ASSERT_EQ(i, held_v[h]);
        cairn_snapshot_close(held[h]);
    }
    a->scans = n_held;
    return NULL;
}

static int print_problem(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", message);
    return 0;
}

/* The verifier: cairn_verify of the whole store, while the writer commits,
 * at a third and two thirds of its commits and after the last. */
static void *verifier_main(void *p)
{
    reader_arg *a = p;

    for (int k = 1; k <= 3; k++) {
        cairn_verify_report rep;
        int rc;
        wait_for_commit(k * n_commits / 3);
        if ((rc = cairn_verify(a->db, print_problem, NULL, &rep)))
            TEST_FAIL("verify during commits: %s, %llu problems (%s)", cairn_errname(rc),
                      (unsigned long long)rep.problems, cairn_errdetail());
        a->scans++;
        a->versions_seen = (int)rep.commits;
    }
    return NULL;
}

/* Runs the writer, the readers, the holder and the verifier against one
 * store: prefix is the spec up to the directory ("lmdb:"), or a whole spec
 * without one ("mem"). node_cache: bytes of node cache, 0 for the default. */
static void readers_vs_writer(const char *prefix, size_t node_cache)
{
    char spec[PATH_MAX + 32];
    reader_arg args[N_READERS + 2];
    pthread_t threads[N_READERS + 2], writer;
    cairn_options opts;
    cairn_db *db;
    uint64_t rng = test_seed;
    char *dir = strdup(test_tmpdir());
    bool has_dir = prefix[strlen(prefix) - 1] == ':';

    ASSERT_TRUE(dir != NULL);
    /* The file tier fsyncs each new blob file; durability is not what this
     * test is about, so it runs without (sync=none). */
    snprintf(spec, sizeof(spec), "%s%s%s", prefix, has_dir ? dir : "",
             strcmp(prefix, "file:") == 0 ? "?sync=none" : "");
    atomic_store(&prepared, 0);
    atomic_store(&committed, 0);
    atomic_store(&writer_done, false);
    cairn_options_init(&opts);
    if (node_cache)
        opts.node_cache_bytes = node_cache;
    ASSERT_OK(cairn_open(spec, &opts, &db));
    write_version(db, 1, &rng);
    for (int t = 0; t < N_READERS + 2; t++) {
        args[t] = (reader_arg){db, t, 0, 0};
        ASSERT_TRUE(pthread_create(&threads[t], NULL,
                                   t < N_READERS    ? reader_main
                                   : t == N_READERS ? holder_main
                                                    : verifier_main,
                                   &args[t]) == 0);
    }
    ASSERT_TRUE(pthread_create(&writer, NULL, writer_main, db) == 0);
    ASSERT_TRUE(pthread_join(writer, NULL) == 0);
    for (int t = 0; t < N_READERS + 2; t++)
        ASSERT_TRUE(pthread_join(threads[t], NULL) == 0);
    for (int t = 0; t < N_READERS; t++)
        printf("%s%s: reader %d: %ld snapshots checked, %d versions seen\n", prefix,
               has_dir ? "DIR" : "", t, args[t].scans, args[t].versions_seen);
    printf("holder: one scan spanned %d commits, %ld snapshots held; verifier: %ld runs\n",
           args[N_READERS].versions_seen, args[N_READERS].scans, args[N_READERS + 1].scans);
    ASSERT_EQ(args[N_READERS + 1].versions_seen, n_commits);
    cairn_close(db);
    free(dir);
}

/* ---------------------------------------------------------------- processes */

enum { CHILD_OK = 0, CHILD_BUSY = 10 };

/* --child-writer DIR: begins a write transaction and commits "child" =
 * "was here". Exits CHILD_BUSY on CAIRN_BUSY, 0 on success, else 2..5. */
static int child_writer(const char *dir)
{
    char spec[PATH_MAX + 8];
    cairn_db *db;
    cairn_txn *txn;
    int rc;

    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    if (cairn_open(spec, NULL, &db))
        return 2;
    if ((rc = cairn_txn_begin(db, NULL, &txn))) {
        cairn_close(db);
        return rc == CAIRN_BUSY ? CHILD_BUSY : 3;
    }
    if (cairn_txn_put(txn, NULL, "child", 5, "was here", 8) || cairn_txn_commit(txn, "child", NULL))
        return 4;
    cairn_close(db);
    return CHILD_OK;
}

/* --child-reader DIR HEX: opens read-only, checks that main is at HEX and
 * holds "parent-key" = "parent-value", and that writing is refused. */
static int child_reader(const char *dir, const char *hex)
{
    char spec[PATH_MAX + 8];
    cairn_options opts;
    cairn_db *db;
    cairn_snapshot *snap;
    cairn_txn *txn;
    cairn_id want, head;
    cairn_val v;

    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    cairn_options_init(&opts);
    opts.flags = CAIRN_RDONLY;
    if (cairn_open(spec, &opts, &db) || cairn_id_from_hex(hex, &want))
        return 2;
    if (cairn_resolve(db, NULL, &head) || memcmp(head.bytes, want.bytes, 32) != 0)
        return 3;
    if (cairn_snapshot_open_commit(db, &want, &snap) ||
        cairn_get(snap, NULL, "parent-key", 10, &v) || v.len != 12 ||
        memcmp(v.data, "parent-value", 12) != 0)
        return 4;
    cairn_snapshot_close(snap);
    if (cairn_txn_begin(db, NULL, &txn) != CAIRN_RDONLY_STORE)
        return 5;
    cairn_close(db);
    return CHILD_OK;
}

/* Runs this program again with the given arguments; returns its exit
 * status (or fails if it died of a signal). */
static int spawn_self(const char *mode, const char *dir, const char *arg)
{
    char *argv[5] = {"test_engine_concurrency", (char *)mode, (char *)dir, (char *)arg, NULL};
    int status;
    pid_t pid;

    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status))
        TEST_FAIL("child %s died (status 0x%x)", mode, status);
    return WEXITSTATUS(status);
}

static void commit_kv(cairn_db *db, const char *k, const char *v, cairn_id *id)
{
    cairn_txn *txn;
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, k, strlen(k), v, strlen(v)));
    ASSERT_OK(cairn_txn_commit(txn, k, id));
}

static void writer_exclusion(void)
{
    char *dir = strdup(test_tmpdir());
    char spec[PATH_MAX + 8], hex[CAIRN_ID_HEX + 1];
    cairn_db *db1, *db2;
    cairn_txn *txn, *other;
    cairn_snapshot *snap;
    cairn_id first, second, head;
    cairn_val v;

    ASSERT_TRUE(dir != NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    ASSERT_OK(cairn_open(spec, NULL, &db1));
    ASSERT_OK(cairn_open(spec, NULL, &db2));
    commit_kv(db1, "parent-key", "parent-value", &first);

    ASSERT_OK(cairn_txn_begin(db1, NULL, &txn));
    ASSERT_OK(cairn_txn_put(txn, NULL, "pending", 7, "x", 1));
    /* (a) the same handle, also for another branch */
    ASSERT_RC(cairn_txn_begin(db1, NULL, &other), CAIRN_BUSY);
    ASSERT_RC(cairn_txn_begin(db1, "other", &other), CAIRN_BUSY);
    /* (b) a second handle on the same path */
    ASSERT_RC(cairn_txn_begin(db2, NULL, &other), CAIRN_BUSY);
    ASSERT_RC(cairn_ref_set(db2, CAIRN_BRANCH, "main", &first, 0), CAIRN_BUSY);
    /* (c) another process */
    ASSERT_EQ(spawn_self("--child-writer", dir, ""), CHILD_BUSY);
    /* (d) a reader in another process sees the last commit meanwhile */
    cairn_id_to_hex(&first, hex);
    ASSERT_EQ(spawn_self("--child-reader", dir, hex), CHILD_OK);
    /* the open transaction still works after all that */
    ASSERT_OK(cairn_txn_commit(txn, "pending", &second));
    ASSERT_OK(cairn_resolve(db2, NULL, &head));
    ASSERT_MEM_EQ(head.bytes, 32, second.bytes, 32);
    cairn_id_to_hex(&second, hex);
    ASSERT_EQ(spawn_self("--child-reader", dir, hex), CHILD_OK);

    /* Released by commit: now a child writer gets in, and both handles
     * see its commit on top of ours. */
    ASSERT_EQ(spawn_self("--child-writer", dir, ""), CHILD_OK);
    ASSERT_OK(cairn_snapshot_open(db1, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, "child", 5, &v));
    ASSERT_MEM_EQ(v.data, v.len, "was here", 8);
    ASSERT_OK(cairn_get(snap, NULL, "pending", 7, &v));
    cairn_snapshot_close(snap);

    /* Released by abort, too; and a handle's lock does not stop itself
     * once released. */
    ASSERT_OK(cairn_txn_begin(db2, NULL, &txn));
    ASSERT_RC(cairn_txn_begin(db1, NULL, &other), CAIRN_BUSY);
    ASSERT_EQ(spawn_self("--child-writer", dir, ""), CHILD_BUSY);
    cairn_txn_abort(txn);
    ASSERT_OK(cairn_txn_begin(db1, NULL, &txn));
    cairn_txn_abort(txn);
    ASSERT_EQ(spawn_self("--child-writer", dir, ""), CHILD_OK);

    cairn_close(db2);
    cairn_close(db1);
    free(dir);
}

/* Lock race: threads on two handles of one store try to begin; each winner
 * increments "counter" (read-modify-write) and commits. */
typedef struct race_arg {
    cairn_db *db;
    int rounds, wins, busy;
} race_arg;

static _Atomic int holders;

static void *race_main(void *p)
{
    race_arg *a = p;

    for (int r = 0; r < a->rounds; r++) {
        cairn_txn *txn;
        cairn_val v;
        int rc = cairn_txn_begin(a->db, NULL, &txn), n = 0;

        if (rc == CAIRN_BUSY) {
            a->busy++;
            sched_yield();
            continue;
        }
        ASSERT_OK(rc);
        ASSERT_EQ(atomic_fetch_add(&holders, 1), 0);
        if ((rc = cairn_txn_get(txn, NULL, "counter", 7, &v)) == 0) {
            ASSERT_EQ(v.len, sizeof(n));
            memcpy(&n, v.data, sizeof(n));
        }
        ASSERT_TRUE(rc == 0 || rc == CAIRN_NOTFOUND);
        n++;
        ASSERT_OK(cairn_txn_put(txn, NULL, "counter", 7, &n, sizeof(n)));
        atomic_fetch_sub(&holders, 1);
        ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
        a->wins++;
    }
    return NULL;
}

static void lock_race(int rounds)
{
    char *dir = strdup(test_tmpdir());
    char spec[PATH_MAX + 8];
    cairn_db *db[2];
    race_arg args[4];
    pthread_t th[4];
    cairn_snapshot *snap;
    cairn_val v;
    int wins = 0, busy = 0, n;

    ASSERT_TRUE(dir != NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s?sync=none", dir);
    ASSERT_OK(cairn_open(spec, NULL, &db[0]));
    ASSERT_OK(cairn_open(spec, NULL, &db[1]));
    for (int t = 0; t < 4; t++) {
        args[t] = (race_arg){db[t % 2], rounds, 0, 0};
        ASSERT_TRUE(pthread_create(&th[t], NULL, race_main, &args[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        ASSERT_TRUE(pthread_join(th[t], NULL) == 0);
        wins += args[t].wins;
        busy += args[t].busy;
    }
    ASSERT_TRUE(wins > 0);
    ASSERT_OK(cairn_snapshot_open(db[1], NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, "counter", 7, &v));
    ASSERT_EQ(v.len, sizeof(n));
    memcpy(&n, v.data, sizeof(n));
    ASSERT_EQ(n, wins); /* no update lost */
    cairn_snapshot_close(snap);
    printf("lock race: %d commits, %d busy refusals\n", wins, busy);
    cairn_close(db[1]);
    cairn_close(db[0]);
    free(dir);
}

int main(int argc, char **argv)
{
    double scale = test_scale();

    if (argc >= 3 && strcmp(argv[1], "--child-writer") == 0)
        return child_writer(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "--child-reader") == 0)
        return child_reader(argv[2], argv[3]);
    test_seed_init(777);
    n_commits = (int)(200 * scale);
    if (n_commits < 30)
        n_commits = 30;
    if (n_commits > MAX_COMMITS)
        n_commits = MAX_COMMITS;
    table = calloc(MAX_COMMITS + 1, sizeof(*table));
    ASSERT_TRUE(table != NULL);
    writer_exclusion();
    lock_race((int)(100 * scale) + 10);
    readers_vs_writer("lmdb:", 0);
    readers_vs_writer("mem:16M>lmdb:", 0);
    readers_vs_writer("file:", 0);
    /* The in-process store, with a node cache small enough that nodes are
     * evicted while readers hold them. */
    readers_vs_writer("mem", 256 << 10);
    free(table);
    printf("ok\n");
    return 0;
}
