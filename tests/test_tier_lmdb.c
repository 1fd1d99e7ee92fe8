/*
 * test_tier_lmdb.c - the LMDB tier: specs, persistence, read-only opening,
 * refs, publish atomicity, one shared env per directory, the writer lock
 * across handles and processes, fork safety, map growth (in this process
 * and by another), a fixed map filling up, batched scans, concurrent
 * readers during growth, and a randomized comparison against a model.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"
#include "stack.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static char *fresh_dir(void)
{
    char *dir = strdup(test_tmpdir());
    ASSERT_TRUE(dir != NULL);
    return dir;
}

static cairn_tier *open_lmdb(const char *dir, const char *opts, unsigned flags)
{
    char spec[512];
    cairn_tier *t = NULL;

    snprintf(spec, sizeof(spec), "lmdb:%s%s%s", dir, *opts ? "?" : "", opts);
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    ASSERT_TRUE(t != NULL);
    return t;
}

static void spec_bad(const char *spec, int want, const char *detail_part)
{
    cairn_tier *t = (cairn_tier *)1;

    ASSERT_RC(cairn__tier_open(spec, 0, &t), want);
    ASSERT_TRUE(t == NULL);
    if (!strstr(cairn_errdetail(), detail_part))
        TEST_FAIL("spec '%s': detail '%s' lacks '%s'", spec, cairn_errdetail(), detail_part);
}

static void test_specs(void)
{
    char *dir = fresh_dir(), spec[600], file[400];
    cairn_tier *t;
    int fd;

    spec_bad("lmdb:", CAIRN_BADSPEC, "needs a directory");
    spec_bad("lmdb", CAIRN_BADSPEC, "needs a directory");
    snprintf(spec, sizeof(spec), "lmdb:%s?bogus=1", dir);
    spec_bad(spec, CAIRN_BADSPEC, "unknown option 'bogus'");
    snprintf(spec, sizeof(spec), "lmdb:%s?sync=fast", dir);
    spec_bad(spec, CAIRN_BADSPEC, "sync must be full, meta or none");
    snprintf(spec, sizeof(spec), "lmdb:%s?map_size=0", dir);
    spec_bad(spec, CAIRN_BADSPEC, "bad map_size '0'");
    snprintf(spec, sizeof(spec), "lmdb:%s?map_size=12Q", dir);
    spec_bad(spec, CAIRN_BADSPEC, "bad map_size");
    snprintf(spec, sizeof(spec), "lmdb:%s?map_size=1M&map_initial=1M", dir);
    spec_bad(spec, CAIRN_BADSPEC, "exclude");
    snprintf(spec, sizeof(spec), "lmdb:%s?max_readers=-3", dir);
    spec_bad(spec, CAIRN_BADSPEC, "max_readers");
    snprintf(spec, sizeof(spec), "lmdb:%s?readahead=yes", dir);
    spec_bad(spec, CAIRN_BADSPEC, "readahead must be 0 or 1");

    /* Nested directories are created; a file in the way is named. */
    snprintf(spec, sizeof(spec), "%s/a/b/c", dir);
    t = open_lmdb(spec, "sync=none&max_readers=20&map_size=8M&readahead=0", 0);
    ASSERT_EQ(t->caps, CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED);
    ASSERT_TRUE(strcmp(t->m->name, "lmdb") == 0);
    cairn__tier_close(t);
    snprintf(file, sizeof(file), "%s/plain", dir);
    ASSERT_TRUE((fd = open(file, O_CREAT | O_WRONLY, 0644)) >= 0);
    close(fd);
    snprintf(spec, sizeof(spec), "lmdb:%s/sub", file);
    ASSERT_RC(cairn__tier_open(spec, 0, &t), -ENOTDIR);
    ASSERT_TRUE(strstr(cairn_errdetail(), file) != NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s", file);
    ASSERT_RC(cairn__tier_open(spec, 0, &t), -ENOTDIR);
    free(dir);
}

static void test_persist_and_rdonly(void)
{
    char *dir = fresh_dir(), spec[600];
    test_blob a = make_blob(1, 3000), b = make_blob(2, 9000), e = make_blob(3, 0);
    cairn_blob both[2] = {as_blob(&a), as_blob(&b)};
    cairn_tier *t, *ro;
    cairn_id r, got;
    uint64_t n, bytes;

    /* Read-only opening creates nothing and says so, naming the path. */
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_NOTFOUND);
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);
    ASSERT_TRUE(access(dir, F_OK) != 0);
    ASSERT_EQ(mkdir(dir, 0755), 0);
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_NOTFOUND);
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);

    t = open_lmdb(dir, "", 0);
    ASSERT_OK(cairn__tier_put_many(t, both, 2));
    ASSERT_OK(put_one(t, &e));
    memset(&r, 0x42, sizeof(r));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, &r));
    ASSERT_OK(cairn__tier_sync(t));
    cairn__tier_close(t);

    t = open_lmdb(dir, "", 0);
    ASSERT_TRUE(holds(t, &a) && holds(t, &b) && holds(t, &e));
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r));
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(bytes, 12000);
    /* A read-write handle cannot share an env opened read-only, and the
     * reverse is fine. */
    ro = open_lmdb(dir, "", CAIRN_RDONLY);
    ASSERT_TRUE(holds(ro, &a));
    ASSERT_RC(put_one(ro, &a), CAIRN_RDONLY_STORE);
    ASSERT_RC(cairn__tier_ref_cas(ro, "main", &r, NULL), CAIRN_RDONLY_STORE);
    ASSERT_RC(cairn__tier_writer_lock(ro, true), CAIRN_RDONLY_STORE);
    cairn__tier_close(ro);
    cairn__tier_close(t);

    ro = open_lmdb(dir, "", CAIRN_RDONLY);
    ASSERT_TRUE(holds(ro, &b));
    ASSERT_OK(cairn__tier_ref_get(ro, "main", &got));
    ASSERT_OK(cairn__tier_sync(ro));
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_BUSY);
    ASSERT_TRUE(strstr(cairn_errdetail(), "read-only") != NULL);
    cairn__tier_close(ro);

    free(a.data), free(b.data), free(e.data);
    free(dir);
}

struct ref_log {
    char text[512];
};

static int ref_collect(void *ctx, const char *name, const cairn_id *id)
{
    struct ref_log *log = ctx;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof(log->text) - used, "%s=%02x ", name, id->bytes[0]);
    return 0;
}

/* The CAS rules of tier.h (the same checks as for the mem tier). */
static void test_refs(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_lmdb(dir, "sync=none", 0);
    const char *names[] = {"tags/v2", "main", "tags/v1", "dev", "tags/v10", "tag"};
    struct ref_log log = {""};
    cairn_id a, b, c, got;

    memset(&a, 0xa1, sizeof(a));
    memset(&b, 0xb2, sizeof(b));
    memset(&c, 0xc3, sizeof(c));
    ASSERT_RC(cairn__tier_ref_get(t, "main", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &a, &b), CAIRN_CONFLICT);
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, &a));
    ASSERT_RC(cairn__tier_ref_cas(t, "main", NULL, &b), CAIRN_CONFLICT);
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &c, &b), CAIRN_CONFLICT);
    ASSERT_TRUE(strstr(cairn_errdetail(), "main") != NULL);
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &a));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", &a, &b));
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &b));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", &b, NULL));
    ASSERT_RC(cairn__tier_ref_get(t, "main", &got), CAIRN_NOTFOUND);
    ASSERT_RC(cairn__tier_ref_cas(t, "main", &b, NULL), CAIRN_CONFLICT);
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, NULL));

    char long_name[CAIRN_NAME_MAX + 17];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ASSERT_OK(cairn__tier_ref_cas(t, long_name, NULL, &a));
    ASSERT_OK(cairn__tier_ref_cas(t, long_name, &a, NULL));

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cairn_id id;
        memset(&id, (int)i, sizeof(id));
        ASSERT_OK(cairn__tier_ref_cas(t, names[i], NULL, &id));
    }
    ASSERT_OK(cairn__tier_ref_list(t, "", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "dev=03 main=01 tag=05 tags/v1=02 tags/v10=04 tags/v2=00 ") ==
                0);
    log.text[0] = '\0';
    ASSERT_OK(cairn__tier_ref_list(t, "tags/", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "tags/v1=02 tags/v10=04 tags/v2=00 ") == 0);
    log.text[0] = '\0';
    ASSERT_OK(cairn__tier_ref_list(t, "zzz", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "") == 0);
    cairn__tier_close(t);
    free(dir);
}

/* publish writes blobs and ref in one transaction: a CAS conflict or an
 * injected fault leaves no blob behind. */
static void test_publish(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_lmdb(dir, "", 0);
    test_blob a = make_blob(10, 100), b = make_blob(11, 200);
    cairn_blob both[2] = {as_blob(&a), as_blob(&b)};
    cairn_id r1, r2, got;

    memset(&r1, 1, sizeof(r1));
    memset(&r2, 2, sizeof(r2));
    ASSERT_OK(cairn__tier_ref_cas(t, "main", NULL, &r1));
    ASSERT_RC(cairn__tier_publish(t, both, 2, "main", &r2, &r2), CAIRN_CONFLICT);
    ASSERT_TRUE(!holds(t, &a) && !holds(t, &b));
    ASSERT_RC(cairn__tier_publish(t, both, 2, "main", NULL, &r2), CAIRN_CONFLICT);
    ASSERT_TRUE(!holds(t, &a) && !holds(t, &b));

    cairn__tier_fault_arm("publish", 1, -EIO);
    ASSERT_RC(cairn__tier_publish(t, both, 2, "main", &r1, &r2), -EIO);
    ASSERT_TRUE(!holds(t, &a));

    ASSERT_OK(cairn__tier_publish(t, both, 2, "main", &r1, &r2));
    ASSERT_TRUE(holds(t, &a) && holds(t, &b));
    ASSERT_OK(cairn__tier_ref_get(t, "main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &r2));
    ASSERT_EQ(t->counters.puts, 2 + 2 + 2); /* conflicts count their blobs */
    cairn__tier_close(t);

    t = open_lmdb(dir, "", 0);
    ASSERT_TRUE(holds(t, &a) && holds(t, &b));
    cairn__tier_close(t);
    free(a.data), free(b.data);
    free(dir);
}

/* Number of this process's open descriptors on path. */
static int fds_on(const char *path)
{
    char real[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int n = 0;

    ASSERT_TRUE(realpath(path, real) != NULL);
    ASSERT_TRUE((d = opendir("/proc/self/fd")) != NULL);
    while ((de = readdir(d))) {
        ssize_t len;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        if ((len = readlink(link, target, sizeof(target) - 1)) < 0)
            continue;
        target[len] = '\0';
        n += strcmp(target, real) == 0;
    }
    closedir(d);
    return n;
}

/* Two handles on one directory (spelled differently) share one env: the
 * data file is opened once, writes through one are seen by the other, and
 * closing one leaves the other working. */
static void test_shared_env(void)
{
    char *dir = fresh_dir(), other[PATH_MAX], data[PATH_MAX];
    test_blob a = make_blob(20, 500);
    cairn_tier *t1, *t2, *t3;
    int fds;

    t1 = open_lmdb(dir, "", 0);
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    fds = fds_on(data);
    ASSERT_TRUE(fds >= 1);
    snprintf(other, sizeof(other), "%s/../%s/.", dir, strrchr(dir, '/') + 1);
    t2 = open_lmdb(other, "map_size=64M", 0);
    t3 = open_lmdb(dir, "", CAIRN_RDONLY);
    ASSERT_EQ(fds_on(data), fds);

    ASSERT_OK(put_one(t1, &a));
    ASSERT_TRUE(holds(t2, &a) && holds(t3, &a));
    cairn__tier_close(t1);
    ASSERT_TRUE(holds(t2, &a));
    ASSERT_OK(cairn__tier_remove_many(t2, &a.id, 1));
    ASSERT_TRUE(!holds(t3, &a));
    cairn__tier_close(t2);
    cairn__tier_close(t3);
    ASSERT_EQ(fds_on(data), 0);
    free(a.data);
    free(dir);
}

/* In a child: is the lock file free (flock succeeds on a fresh fd)? The
 * child touches no LMDB env and leaves with _exit (no atexit cleanup). */
static int child_can_lock(const char *dir)
{
    char lock_path[PATH_MAX];
    pid_t pid;
    int status;

    snprintf(lock_path, sizeof(lock_path), "%s/cairn.lock", dir);
    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        int fd = open(lock_path, O_RDWR | O_CREAT, 0644);
        if (fd < 0)
            _exit(3);
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            _exit(0);
        _exit(errno == EWOULDBLOCK ? 1 : 2);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) < 2);
    return WEXITSTATUS(status) == 0;
}

static void test_writer_lock(void)
{
    char *dir = fresh_dir(), lock_path[PATH_MAX];
    cairn_tier *t1 = open_lmdb(dir, "", 0), *t2 = open_lmdb(dir, "", 0);
    int pipe_to_parent[2], pipe_to_child[2], status;
    cairn_id got;
    pid_t pid;
    char c;

    ASSERT_TRUE(child_can_lock(dir));
    ASSERT_OK(cairn__tier_writer_lock(t1, true));
    ASSERT_RC(cairn__tier_writer_lock(t1, true), CAIRN_BUSY);
    ASSERT_RC(cairn__tier_writer_lock(t2, true), CAIRN_BUSY);
    ASSERT_TRUE(strstr(cairn_errdetail(), "is locked by another writer") != NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);
    ASSERT_TRUE(!child_can_lock(dir));
    ASSERT_OK(cairn__tier_writer_lock(t1, false));
    ASSERT_TRUE(child_can_lock(dir));
    ASSERT_OK(cairn__tier_writer_lock(t2, true));
    ASSERT_RC(cairn__tier_writer_lock(t1, true), CAIRN_BUSY);
    cairn__tier_close(t2); /* closing releases */
    ASSERT_OK(cairn__tier_writer_lock(t1, true));
    ASSERT_OK(cairn__tier_writer_lock(t1, false));

    /* A child holds the lock: the parent's handles are refused until it
     * exits. In the child the parent's handle fails cleanly. */
    snprintf(lock_path, sizeof(lock_path), "%s/cairn.lock", dir);
    ASSERT_EQ(pipe(pipe_to_parent), 0);
    ASSERT_EQ(pipe(pipe_to_child), 0);
    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        int fd = open(lock_path, O_RDWR);
        char ok = 'y';
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)
            ok = 'n';
        if (ok == 'y' && cairn__tier_ref_get(t1, "main", &got) != CAIRN_TIER)
            ok = 'f';
        if (ok == 'y' && !strstr(cairn_errdetail(), "fork"))
            ok = 'd';
        if (write(pipe_to_parent[1], &ok, 1) != 1 || read(pipe_to_child[0], &ok, 1) != 1)
            _exit(2);
        _exit(0);
    }
    ASSERT_EQ(read(pipe_to_parent[0], &c, 1), 1);
    if (c != 'y')
        TEST_FAIL("child reported '%c'", c);
    ASSERT_RC(cairn__tier_writer_lock(t1, true), CAIRN_BUSY);
    ASSERT_EQ(write(pipe_to_child[1], "x", 1), 1);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_OK(cairn__tier_writer_lock(t1, true));
    ASSERT_RC(cairn__tier_ref_get(t1, "main", &got), CAIRN_NOTFOUND); /* parent unaffected */
    cairn__tier_close(t1); /* releases the lock */
    ASSERT_TRUE(child_can_lock(dir));
    for (int i = 0; i < 2; i++) {
        close(pipe_to_parent[i]);
        close(pipe_to_child[i]);
    }
    free(dir);
}

/* Writes n blobs of len bytes from seed in batches of batch. */
static void write_blobs(cairn_tier *t, uint64_t seed, size_t n, size_t len, size_t batch)
{
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        test_blob tb[64];
        cairn_blob cb[64];

        ASSERT_TRUE(m <= 64);
        for (size_t j = 0; j < m; j++) {
            tb[j] = make_blob(seed + i + j, len);
            cb[j] = as_blob(&tb[j]);
        }
        ASSERT_OK(cairn__tier_put_many(t, cb, m));
        for (size_t j = 0; j < m; j++)
            free(tb[j].data);
    }
}

static void check_blobs(cairn_tier *t, uint64_t seed, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        test_blob b = make_blob(seed + i, len);
        if (!holds(t, &b))
            TEST_FAIL("blob %zu of seed %" PRIu64 " missing", i, seed);
        free(b.data);
    }
}

struct growth_reader {
    cairn_tier *t;
    _Atomic bool *stop;
    uint64_t rounds;
};

static void *growth_read(void *arg)
{
    struct growth_reader *r = arg;

    while (!atomic_load(r->stop)) {
        check_blobs(r->t, 100, 16, 4096);
        r->rounds++;
    }
    return NULL;
}

/* Without map_size the map grows: 1 MiB to start, ~10 MB written in small
 * batches and one 3 MB batch, while another thread keeps reading. */
static void test_map_growth(void)
{
    char *dir = fresh_dir(), info_path[PATH_MAX];
    cairn_tier *t = open_lmdb(dir, "map_initial=1M&sync=none", 0);
    _Atomic bool stop = false;
    struct growth_reader r = {t, &stop, 0};
    pthread_t th;
    struct stat st;
    uint64_t n, bytes;

    write_blobs(t, 100, 16, 4096, 16);
    ASSERT_EQ(pthread_create(&th, NULL, growth_read, &r), 0);
    write_blobs(t, 1000, 150, 64 << 10, 8);
    write_blobs(t, 5000, 48, 64 << 10, 48);
    atomic_store(&stop, true);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_TRUE(r.rounds > 0);
    check_blobs(t, 1000, 150, 64 << 10);
    check_blobs(t, 5000, 48, 64 << 10);
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_EQ(n, 16 + 150 + 48);
    ASSERT_EQ(bytes, 16 * 4096 + (150 + 48) * (64 << 10));
    snprintf(info_path, sizeof(info_path), "%s/data.mdb", dir);
    ASSERT_EQ(stat(info_path, &st), 0);
    ASSERT_TRUE(st.st_size > 10 << 20);
    cairn__tier_close(t);
    free(dir);
}

/* With map_size given, a full map is CAIRN_MAPFULL naming the path and the
 * size; what was committed stays, and a larger map_size continues. */
static void test_map_full(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_lmdb(dir, "map_size=1M&sync=none", 0);
    size_t written = 0;
    int rc = 0;

    for (; written < 64; written++) {
        test_blob b = make_blob(9000 + written, 64 << 10);
        rc = put_one(t, &b);
        free(b.data);
        if (rc)
            break;
    }
    ASSERT_RC(rc, CAIRN_MAPFULL);
    ASSERT_TRUE(written > 0 && written < 16);
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);
    ASSERT_TRUE(strstr(cairn_errdetail(), "map_size") != NULL);
    check_blobs(t, 9000, written, 64 << 10);
    cairn__tier_close(t);

    t = open_lmdb(dir, "map_size=16M&sync=none", 0);
    check_blobs(t, 9000, written, 64 << 10);
    write_blobs(t, 9000 + written, 64, 64 << 10, 16);
    check_blobs(t, 9000, written + 64, 64 << 10);
    cairn__tier_close(t);
    free(dir);
}

/* Another process grows the map; this process's open handle then meets
 * MDB_MAP_RESIZED and adopts the new size. The child opens the store
 * afresh (the registry does not hand it the parent's env). */
static void test_resized_by_other_process(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_lmdb(dir, "map_initial=1M&sync=none", 0);
    int status;
    pid_t pid;

    write_blobs(t, 100, 4, 1000, 4);
    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        cairn_tier *c = NULL;
        char spec[600];
        snprintf(spec, sizeof(spec), "lmdb:%s?map_initial=1M&sync=none", dir);
        if (cairn__tier_open(spec, 0, &c) != 0)
            _exit(2);
        for (size_t i = 0; i < 100; i++) {
            test_blob b = make_blob(20000 + i, 64 << 10);
            if (put_one(c, &b) != 0)
                _exit(3);
            free(b.data);
        }
        cairn__tier_close(c);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("child failed: status %d", status);
    check_blobs(t, 20000, 100, 64 << 10);
    write_blobs(t, 30000, 40, 64 << 10, 8);
    check_blobs(t, 30000, 40, 64 << 10);
    cairn__tier_close(t);
    free(dir);
}

struct scan_log {
    size_t n;
    uint64_t bytes;
    size_t stop_after;
    cairn_id last;
    bool ordered;
};

static int scan_visit(void *ctx, const cairn_id *id, size_t len)
{
    struct scan_log *log = ctx;

    if (log->n && cairn__id_cmp(&log->last, id) >= 0)
        log->ordered = false;
    log->last = *id;
    log->n++;
    log->bytes += len;
    return log->stop_after && log->n == log->stop_after ? 99 : 0;
}

/* Scans cross the internal batch boundary (1024 ids) exactly once each. */
static void test_scan(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_lmdb(dir, "sync=none", 0);
    struct scan_log log = {0, 0, 0, {{0}}, true};

    ASSERT_OK(cairn__tier_scan_ids(t, scan_visit, &log));
    ASSERT_EQ(log.n, 0);
    write_blobs(t, 1, 2500, 40, 64);
    ASSERT_OK(cairn__tier_scan_ids(t, scan_visit, &log));
    ASSERT_EQ(log.n, 2500);
    ASSERT_EQ(log.bytes, 2500 * 40);
    ASSERT_TRUE(log.ordered);
    log = (struct scan_log){0, 0, 1500, {{0}}, true};
    ASSERT_RC(cairn__tier_scan_ids(t, scan_visit, &log), 99);
    ASSERT_EQ(log.n, 1500);
    cairn__tier_close(t);
    free(dir);
}

/* ---------------------------------------------------------------- model */

#define MODEL_BLOBS 64
#define MODEL_REFS 6

/* Random put/get/has/remove/ref_cas/ref_get/usage against a model of
 * which blobs are held and what each ref holds; every few hundred
 * operations the tier is closed and reopened. */
static void model_run(int ops, const char *layout)
{
    static const char *ref_names[MODEL_REFS] = {"main", "dev", "tags/a", "tags/b", "m", "z"};
    char *dir = fresh_dir();
    char opts[64];
    cairn_tier *t;
    test_blob blobs[MODEL_BLOBS];
    bool held[MODEL_BLOBS] = {false};
    bool ref_set[MODEL_REFS] = {false};
    cairn_id ref_val[MODEL_REFS];

    snprintf(opts, sizeof(opts), "sync=none&map_initial=1M&layout=%s", layout);
    t = open_lmdb(dir, opts, 0);
    for (int i = 0; i < MODEL_BLOBS; i++)
        blobs[i] = make_blob(test_rand(), 8 + (size_t)test_rand_below(5000));
    for (int op = 0; op < ops; op++) {
        size_t k = 1 + (size_t)test_rand_below(8), pick[8];
        cairn_id ids[8];

        for (size_t j = 0; j < k; j++) {
            pick[j] = (size_t)test_rand_below(MODEL_BLOBS);
            ids[j] = blobs[pick[j]].id;
        }
        switch (test_rand_below(8)) {
        case 0: {
            cairn_blob c[8];
            for (size_t j = 0; j < k; j++) {
                c[j] = as_blob(&blobs[pick[j]]);
                held[pick[j]] = true;
            }
            ASSERT_OK(cairn__tier_put_many(t, c, k));
            break;
        }
        case 1:
            expect_get(t, blobs, pick, k, held, op);
            break;
        case 2: {
            bool has[8];
            ASSERT_OK(cairn__tier_has_many(t, ids, k, has));
            for (size_t j = 0; j < k; j++)
                ASSERT_EQ(has[j], held[pick[j]]);
            break;
        }
        case 3:
            ASSERT_OK(cairn__tier_remove_many(t, ids, k));
            for (size_t j = 0; j < k; j++)
                held[pick[j]] = false;
            break;
        case 4: {
            size_t r = (size_t)test_rand_below(MODEL_REFS);
            bool right = test_rand_below(3) != 0;
            cairn_id old_id = ref_val[r], new_id = blobs[pick[0]].id;
            const cairn_id *old_p = ref_set[r] ? &old_id : NULL;
            const cairn_id *new_p = test_rand_below(4) ? &new_id : NULL;
            if (!right) {
                old_p = ref_set[r] ? (test_rand_below(2) ? NULL : &blobs[pick[0]].id) : &new_id;
                if (old_p && ref_set[r] && cairn__id_eq(old_p, &ref_val[r]))
                    right = true;
            }
            int rc = cairn__tier_ref_cas(t, ref_names[r], old_p, new_p);
            if (right) {
                ASSERT_OK(rc);
                ref_set[r] = new_p != NULL;
                if (new_p)
                    ref_val[r] = *new_p;
            } else {
                ASSERT_RC(rc, CAIRN_CONFLICT);
            }
            break;
        }
        case 5: {
            size_t r = (size_t)test_rand_below(MODEL_REFS);
            cairn_id got;
            int rc = cairn__tier_ref_get(t, ref_names[r], &got);
            if (ref_set[r]) {
                ASSERT_OK(rc);
                ASSERT_TRUE(cairn__id_eq(&got, &ref_val[r]));
            } else {
                ASSERT_RC(rc, CAIRN_NOTFOUND);
            }
            break;
        }
        case 6: {
            uint64_t n = 0, bytes = 0, want_n = 0, want_bytes = 0;
            for (int i = 0; i < MODEL_BLOBS; i++)
                if (held[i])
                    want_n++, want_bytes += blobs[i].len;
            ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
            ASSERT_EQ(n, want_n);
            ASSERT_EQ(bytes, want_bytes);
            break;
        }
        case 7:
            if (test_rand_below(50) == 0) {
                cairn__tier_close(t);
                t = open_lmdb(dir, opts, 0);
            }
            break;
        }
    }
    cairn__tier_close(t);
    for (int i = 0; i < MODEL_BLOBS; i++)
        free(blobs[i].data);
    free(dir);
}

static int scaled(int n)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    int v = (int)(n * (f > 0 ? f : 1.0));
    return v > 100 ? v : 100;
}

/* A blob damaged behind cairn's back (LMDB keeps no checksums) is written
 * again by the next put of it, not skipped as present: damage must not
 * spread to the commits that reuse the blob. */
static void test_damaged_rewritten(const char *layout)
{
    char *dir = fresh_dir();
    test_blob a = make_blob(77, 5000);
    cairn_blob ca = as_blob(&a);
    cairn_tier *t = open_lmdb(dir, layout, 0);
    cairn_buf got = {0};

    ASSERT_OK(cairn__tier_put_many(t, &ca, 1));
    cairn__tier_close(t);
    ((uint8_t *)a.data)[2500] ^= 1; /* the same length, one bit off */
    raw_lmdb_blob(dir, &a.id, a.data, a.len, NULL, NULL);
    ((uint8_t *)a.data)[2500] ^= 1;

    t = open_lmdb(dir, "", 0);
    ASSERT_OK(cairn__tier_get_many(t, &a.id, 1, &got));
    ASSERT_TRUE(got.len == a.len && memcmp(got.data, a.data, a.len) != 0);
    free(got.data);
    ASSERT_OK(cairn__tier_put_many(t, &ca, 1));
    ASSERT_OK(cairn__tier_get_many(t, &a.id, 1, &got));
    ASSERT_MEM_EQ(got.data, got.len, a.data, a.len);
    free(got.data);
    cairn__tier_close(t);
    free(a.data);
    free(dir);
    printf("%s: a damaged blob is written again by the next put of it\n", layout);
}

/* Regression (power loss while a store is created): LMDB writes a new
 * data.mdb's meta pages in place without syncing them, so a power cut could
 * leave a data.mdb LMDB refuses for ever (MDB_INVALID; found by
 * tests/cli/test_powerloss.sh). A new data file is now made whole under
 * .data.mdb.<pid> and linked into place. What such a cut leaves is that
 * file (half written) and its -lock file: the directory still counts as
 * empty, opens as a new store, and the leftovers of dead processes go. */
static void test_creation_cut_short(void)
{
    char *dir = fresh_dir(), path[PATH_MAX + 64];
    test_blob a = make_blob(78, 3000);
    cairn_blob ca = as_blob(&a);
    cairn_buf got = {0};
    struct stat st;
    cairn_tier *t;
    pid_t dead;
    int status, fd;

    ASSERT_EQ(mkdir(dir, 0755), 0);
    if ((dead = fork()) == 0)
        _exit(0);
    ASSERT_TRUE(dead > 0 && waitpid(dead, &status, 0) == dead);
    snprintf(path, sizeof(path), "%s/.data.mdb.%ld", dir, (long)dead);
    ASSERT_TRUE((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0);
    ASSERT_EQ(ftruncate(fd, 12288), 0); /* meta pages never written */
    ASSERT_EQ(pwrite(fd, "x", 1, 8192), 1);
    close(fd);
    strcat(path, "-lock");
    ASSERT_TRUE((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0);
    close(fd);

    t = open_lmdb(dir, "", 0);
    ASSERT_OK(cairn__tier_put_many(t, &ca, 1));
    cairn__tier_close(t);
    ASSERT_EQ(stat(path, &st), -1);
    path[strlen(path) - 5] = '\0';
    ASSERT_EQ(stat(path, &st), -1);
    t = open_lmdb(dir, "", CAIRN_RDONLY);
    ASSERT_OK(cairn__tier_get_many(t, &a.id, 1, &got));
    ASSERT_MEM_EQ(got.data, got.len, a.data, a.len);
    free(got.data);
    cairn__tier_close(t);
    free(a.data);
    free(dir);
    printf("a creation cut short leaves a directory that opens as a new store\n");
}

/* Regression: a data.mdb cut short (shorter than the pages its meta page
 * names) killed the process with SIGBUS at the first read through LMDB's
 * map; it is now refused at open with CAIRN_CORRUPT. */
static void test_cut_short_file(void)
{
    char *dir = fresh_dir(), path[PATH_MAX + 16], spec[PATH_MAX + 16];
    test_blob a = make_blob(79, 200000);
    cairn_blob ca = as_blob(&a);
    cairn_tier *t = open_lmdb(dir, "", 0);

    ASSERT_OK(cairn__tier_put_many(t, &ca, 1));
    cairn__tier_close(t);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    ASSERT_EQ(truncate(path, 16384), 0);
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    ASSERT_EQ(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_CORRUPT);
    ASSERT_TRUE(strstr(cairn_errdetail(), "cut short") != NULL);
    ASSERT_EQ(cairn__tier_open(spec, 0, &t), CAIRN_CORRUPT);
    free(a.data);
    free(dir);
    printf("a data.mdb cut short is refused at open, not a SIGBUS at the first read\n");
}

/* capacity=: a bounded cache that evicts its oldest packs, keeps what it
 * holds across reopens, is made even for a read-only stack, and is never
 * made of a directory that holds a store. */
static void test_cache(void)
{
    enum { N = 400, LEN = 8000 };
    char *dir = fresh_dir();
    char spec[600];
    static test_blob b[N];
    bool held[N];
    size_t pick[N];
    /* Read-only: the cache is made anyway (filling it is its point). */
    cairn_tier *t = open_lmdb(dir, "capacity=1M", CAIRN_RDONLY);
    ASSERT_EQ(t->capacity, 1 << 20);
    for (int i = 0; i < N; i++) {
        b[i] = make_blob(77000 + (uint64_t)i, LEN);
        ASSERT_OK(put_one(t, &b[i]));
        pick[i] = (size_t)i;
    }
    /* 3.2 MB written into 1 MiB: the oldest went, the newest stayed. */
    ASSERT_TRUE(atomic_load(&t->counters.evictions) > 0);
    uint64_t blobs, bytes;
    ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
    ASSERT_TRUE(bytes <= (1u << 20));
    ASSERT_TRUE(!holds(t, &b[0]));
    ASSERT_TRUE(holds(t, &b[N - 1]));
    for (int i = 0; i < N; i++)
        held[i] = holds(t, &b[i]);
    ASSERT_TRUE(held[N - 1] && held[N - 10]);
    cairn__tier_close(t);
    /* Reopened, it holds the same. */
    t = open_lmdb(dir, "capacity=1M", 0);
    expect_get(t, b, pick, N, held, 0);
    cairn__tier_close(t);
    /* A store is never opened as a cache; a cache needs packs. */
    char *store = fresh_dir();
    t = open_lmdb(store, "", 0);
    cairn_id id = b[0].id;
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", NULL, &id));
    cairn__tier_close(t);
    snprintf(spec, sizeof(spec), "lmdb:%s?capacity=1M", store);
    cairn_stack *st = (cairn_stack *)1;
    char stack_spec[1300];
    snprintf(stack_spec, sizeof(stack_spec), "%s>lmdb:%s", spec, dir);
    ASSERT_RC(cairn__stack_open(stack_spec, 0, &st), CAIRN_BADSPEC);
    ASSERT_DETAIL("holds a store");
    snprintf(spec, sizeof(spec), "lmdb:%s?capacity=1M&layout=blobs", dir);
    spec_bad(spec, CAIRN_BADSPEC, "needs layout=packed");
    snprintf(spec, sizeof(spec), "lmdb:%s?capacity=1K", dir);
    spec_bad(spec, CAIRN_BADSPEC, "bad capacity");
    for (int i = 0; i < N; i++)
        free(b[i].data);
    free(store);
    free(dir);
    printf("cache: bounded, oldest packs evicted, kept across reopens; stores refused\n");
}

int main(void)
{
    test_seed_init(2);
    test_damaged_rewritten("layout=packed");
    test_damaged_rewritten("layout=blobs");
    test_creation_cut_short();
    test_cut_short_file();
    test_specs();
    test_persist_and_rdonly();
    test_refs();
    test_publish();
    test_shared_env();
    test_writer_lock();
    test_map_growth();
    test_map_full();
    test_resized_by_other_process();
    test_scan();
    test_cache();
    model_run(scaled(6000), "packed");
    model_run(scaled(3000), "blobs");
    printf("ok\n");
    return 0;
}
