/*
 * test_tier_file_cache.c - the file tier as a cache ("file:DIR?capacity="):
 * capacity accounting and LRU eviction against a model, recency that
 * survives a restart (by the cache-order file, and by mtime for blobs
 * written after the last clean close), a warm restart in front of LMDB
 * that reads nothing from LMDB, and damaged cache files dropped and
 * refetched, and threads filling and reading one cache at once.
 * Everything runs with io_uring and with plain system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stack.h"
#include "test.h"
#include "tierutil.h"
#include "tier.h"


static char *fresh_dir(void)
{
    char *dir = strdup(test_tmpdir());
    ASSERT_TRUE(dir != NULL);
    return dir;
}

static cairn_tier *open_cache(const char *dir, const char *io, const char *capacity)
{
    char spec[600];
    cairn_tier *t = NULL;

    snprintf(spec, sizeof(spec), "file:%s?capacity=%s&io=%s", dir, capacity, io);
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    ASSERT_EQ(t->counters.io_uring, strcmp(io, "uring") == 0 && t->counters.io_uring);
    return t;
}

static int scaled(int n, int min)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    int v = (int)(n * (f > 0 ? f : 1.0));
    return v > min ? v : min;
}

static void blob_file(const char *dir, const cairn_id *id, char *path, size_t cap)
{
    char hex[CAIRN_ID_HEX + 1];

    cairn_id_to_hex(id, hex);
    snprintf(path, cap, "%s/objects/%.2s/%s", dir, hex, hex + 2);
}

/* Blob files on disk and their total size. */
static void disk_usage(const char *dir, uint64_t *files, uint64_t *bytes)
{
    char path[800];
    DIR *top, *sub;
    struct dirent *de, *fe;

    *files = *bytes = 0;
    snprintf(path, sizeof(path), "%s/objects", dir);
    ASSERT_TRUE((top = opendir(path)) != NULL);
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/objects/%.2s", dir, de->d_name);
        ASSERT_TRUE((sub = opendir(path)) != NULL);
        while ((fe = readdir(sub))) {
            char file[1200];
            struct stat st;
            if (fe->d_name[0] == '.')
                continue;
            snprintf(file, sizeof(file), "%s/%s", path, fe->d_name);
            ASSERT_EQ(stat(file, &st), 0);
            (*files)++;
            *bytes += (uint64_t)st.st_size;
        }
        closedir(sub);
    }
    closedir(top);
}

static void put_blobs(cairn_tier *t, test_blob *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        cairn_blob c = as_blob(&b[i]);
        ASSERT_OK(cairn__tier_put_many(t, &c, 1));
    }
}

static void read_blobs(cairn_tier *t, test_blob *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        cairn_buf buf;
        ASSERT_OK(cairn__tier_get_many(t, &b[i].id, 1, &buf));
        ASSERT_TRUE(buf.data != NULL);
        ASSERT_MEM_EQ(buf.data, buf.len, b[i].data, b[i].len);
        free(buf.data);
    }
}

/* has_many of b[from..to) must all be want. */
static void expect_held(cairn_tier *t, test_blob *b, size_t from, size_t to, bool want)
{
    for (size_t i = from; i < to; i++) {
        bool has;
        ASSERT_OK(cairn__tier_has_many(t, &b[i].id, 1, &has));
        if (has != want)
            TEST_FAIL("blob %zu: held %d, want %d", i, has, want);
    }
}

/* ---------------------------------------------------------------- LRU */

/* 16 blobs of 4 KiB fill 64 KiB. Reading some makes the others the
 * victims; the totals never pass the capacity. */
static void test_lru(const char *io)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_cache(dir, io, "64K");
    test_blob b[40], huge = make_blob(999, 65 * 1024);
    uint64_t n, bytes, files, disk_bytes;
    cairn_blob c;

    for (size_t i = 0; i < 40; i++)
        b[i] = make_blob(100 + i, 4096);
    put_blobs(t, b, 0, 16);
    ASSERT_EQ(t->counters.evictions, 0);
    read_blobs(t, b, 0, 8);     /* 8..15 are now the oldest */
    put_blobs(t, b, 16, 24);    /* evicts 8..15 */
    ASSERT_EQ(t->counters.evictions, 8);
    expect_held(t, b, 0, 8, true);
    expect_held(t, b, 8, 16, false);
    expect_held(t, b, 16, 24, true);
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_EQ(n, 16);
    ASSERT_EQ(bytes, 16 * 4096);
    disk_usage(dir, &files, &disk_bytes);
    ASSERT_EQ(files, 16);
    ASSERT_TRUE(disk_bytes <= 64 * 1024);

    /* Putting a blob it holds refreshes it too: 0 survives, 1..4 go. */
    put_blobs(t, b, 0, 1);
    put_blobs(t, b, 24, 28);
    expect_held(t, b, 0, 1, true);
    expect_held(t, b, 1, 5, false);
    expect_held(t, b, 5, 8, true);
    ASSERT_EQ(t->counters.evictions, 12);

    /* A blob larger than the capacity is not cached (and evicts nothing). */
    c = as_blob(&huge);
    ASSERT_OK(cairn__tier_put_many(t, &c, 1));
    ASSERT_EQ(t->counters.evictions, 12);
    {
        bool has;
        ASSERT_OK(cairn__tier_has_many(t, &huge.id, 1, &has));
        ASSERT_TRUE(!has);
    }
    /* Removing frees room without evicting. */
    ASSERT_OK(cairn__tier_remove_many(t, &b[0].id, 1));
    put_blobs(t, b, 28, 29);
    ASSERT_EQ(t->counters.evictions, 12);
    cairn__tier_close(t);

    /* Reopening with a smaller capacity evicts the oldest at once. */
    t = open_cache(dir, io, "32K");
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_EQ(n, 8);
    ASSERT_EQ(t->counters.evictions, 8);
    disk_usage(dir, &files, &disk_bytes);
    ASSERT_EQ(files, 8);
    expect_held(t, b, 21, 29, true);
    cairn__tier_close(t);
    for (size_t i = 0; i < 40; i++)
        free(b[i].data);
    free(huge.data);
    free(dir);
}

/* Model: moves order[pos] to the newest end. */
static void lru_touch(int *order, int n_order, int pos)
{
    int id = order[pos];

    memmove(order + pos, order + pos + 1, sizeof(int) * (size_t)(n_order - pos - 1));
    order[n_order - 1] = id;
}

/* Random puts, gets, removes and reopens against a model of an LRU list
 * by bytes. The tier's order rules: a get refreshes its hits in order; a
 * put refreshes the blobs held in order, then adds the new ones in order;
 * then the oldest go until the total fits. */
static void test_lru_model(const char *io, int ops)
{
    enum { NB = 120, CAP = 100 * 1024 };
    char *dir = fresh_dir();
    cairn_tier *t = open_cache(dir, io, "100K");
    test_blob b[NB];
    int order[NB], n_order = 0; /* model: oldest first */
    uint64_t evictions = 0;

    for (int i = 0; i < NB; i++)
        b[i] = make_blob(5000 + (uint64_t)i, 8 + (size_t)test_rand_below(9000));
    for (int op = 0; op < ops; op++) {
        int k = 1 + (int)test_rand_below(6), pick[6];
        for (int j = 0; j < k; j++)
            pick[j] = (int)test_rand_below(NB);
        int what = (int)test_rand_below(10);
        if (what < 4) { /* put */
            cairn_blob c[6];
            int fresh[6], n_fresh = 0;
            /* Held ones are refreshed in order; the others are written,
             * then added in order (a repeat refreshes the first). */
            for (int j = 0; j < k; j++) {
                int pos = -1;
                c[j] = as_blob(&b[pick[j]]);
                for (int q = 0; q < n_order; q++)
                    if (order[q] == pick[j])
                        pos = q;
                if (pos >= 0) {
                    lru_touch(order, n_order, pos);
                } else {
                    fresh[n_fresh++] = pick[j];
                }
            }
            for (int f = 0; f < n_fresh; f++) {
                int pos = -1;
                for (int q = 0; q < n_order; q++)
                    if (order[q] == fresh[f])
                        pos = q;
                if (pos >= 0) {
                    lru_touch(order, n_order, pos);
                } else {
                    order[n_order++] = fresh[f];
                }
            }
            uint64_t total = 0;
            for (int q = 0; q < n_order; q++)
                total += b[order[q]].len;
            while (total > CAP) {
                total -= b[order[0]].len;
                memmove(order, order + 1, sizeof(int) * (size_t)--n_order);
                evictions++;
            }
            ASSERT_OK(cairn__tier_put_many(t, c, (size_t)k));
        } else if (what < 8) { /* get */
            cairn_id ids[6];
            cairn_buf out[6];
            for (int j = 0; j < k; j++)
                ids[j] = b[pick[j]].id;
            ASSERT_OK(cairn__tier_get_many(t, ids, (size_t)k, out));
            for (int j = 0; j < k; j++) {
                int pos = -1;
                for (int q = 0; q < n_order; q++)
                    if (order[q] == pick[j])
                        pos = q;
                if ((pos >= 0) != (out[j].data != NULL))
                    TEST_FAIL("op %d: blob %d held %d, got %p", op, pick[j], pos >= 0,
                              out[j].data);
                if (pos >= 0) {
                    ASSERT_MEM_EQ(out[j].data, out[j].len, b[pick[j]].data, b[pick[j]].len);
                    lru_touch(order, n_order, pos);
                }
                free(out[j].data);
            }
        } else if (what == 8) { /* remove */
            cairn_id ids[6];
            for (int j = 0; j < k; j++) {
                ids[j] = b[pick[j]].id;
                for (int q = 0; q < n_order; q++)
                    if (order[q] == pick[j]) {
                        memmove(order + q, order + q + 1, sizeof(int) * (size_t)(n_order - q - 1));
                        n_order--;
                        break;
                    }
            }
            ASSERT_OK(cairn__tier_remove_many(t, ids, (size_t)k));
        } else if (test_rand_below(10) == 0) { /* restart */
            evictions -= t->counters.evictions;
            cairn__tier_close(t);
            t = open_cache(dir, io, "100K");
            evictions += t->counters.evictions;
        }
        ASSERT_EQ(t->counters.evictions, evictions);
    }
    /* Final check: exactly the model's blobs, within capacity. */
    uint64_t n, bytes, want = 0;
    for (int q = 0; q < n_order; q++)
        want += b[order[q]].len;
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_EQ(n, n_order);
    ASSERT_EQ(bytes, want);
    ASSERT_TRUE(bytes <= CAP);
    cairn__tier_close(t);
    for (int i = 0; i < NB; i++)
        free(b[i].data);
    free(dir);
}

/* ---------------------------------------------------------------- restarts */

/* Recency survives a clean restart (cache-order), and blobs written after
 * it, by a process that never closed, rank by mtime after the listed ones. */
static void test_recency_restart(const char *io)
{
    char *dir = fresh_dir(), order_path[700];
    cairn_tier *t = open_cache(dir, io, "64K");
    test_blob b[32];
    struct stat st;
    int status;
    pid_t pid;

    for (size_t i = 0; i < 32; i++)
        b[i] = make_blob(300 + i, 4096);
    put_blobs(t, b, 0, 16);
    read_blobs(t, b, 0, 8); /* oldest to newest: 8..15, 0..7 */
    cairn__tier_close(t);
    snprintf(order_path, sizeof(order_path), "%s/cache-order", dir);
    ASSERT_EQ(stat(order_path, &st), 0);
    ASSERT_EQ(st.st_size, 20 + 16 * 32);

    t = open_cache(dir, io, "64K");
    read_blobs(t, b, 8, 12);    /* now: 12..15, 0..7, 8..11 */
    put_blobs(t, b, 16, 20);    /* evicts 12..15 */
    expect_held(t, b, 12, 16, false);
    expect_held(t, b, 0, 12, true);
    expect_held(t, b, 16, 20, true);
    cairn__tier_close(t); /* order: 0..7, 8..11, 16..19 */

    /* A process adds 20..23 and dies without closing: not in cache-order. */
    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        char spec[700];
        cairn_tier *c = NULL;
        snprintf(spec, sizeof(spec), "file:%s?capacity=1M&io=%s", dir, io);
        if (cairn__tier_open(spec, 0, &c))
            _exit(2);
        for (size_t i = 20; i < 24; i++) {
            cairn_blob one = as_blob(&b[i]);
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL); /* distinct mtimes */
            if (cairn__tier_put_many(c, &one, 1))
                _exit(3);
        }
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* 20 blobs now; 64K holds 16: the four oldest listed ones (0..3) go
     * at open, and the unlisted 20..23 rank newest, in mtime order. */
    t = open_cache(dir, io, "64K");
    ASSERT_EQ(t->counters.evictions, 4);
    expect_held(t, b, 0, 4, false);
    expect_held(t, b, 4, 12, true);
    expect_held(t, b, 16, 24, true);
    put_blobs(t, b, 24, 28); /* evicts 4..7 */
    expect_held(t, b, 4, 8, false);
    expect_held(t, b, 8, 12, true);
    cairn__tier_close(t);
    for (size_t i = 0; i < 32; i++)
        free(b[i].data);
    free(dir);
}

/* The case: a reader restarted in front of LMDB reads nothing from
 * LMDB that its file cache already had. */
static void test_warm_restart(const char *io)
{
    char *dir = fresh_dir(), spec[1600], cache_dir[700], lmdb_dir[700];
    const size_t n = (size_t)scaled(400, 100);
    test_blob *b = calloc(n, sizeof(*b));
    cairn_blob *c = calloc(n, sizeof(*c));
    cairn_id *ids = calloc(n, sizeof(*ids));
    cairn_buf *out = calloc(n, sizeof(*out));
    cairn_stack *st;
    cairn_tier *file, *lmdb;

    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", dir);
    snprintf(lmdb_dir, sizeof(lmdb_dir), "%s/lmdb", dir);
    snprintf(spec, sizeof(spec), "mem:1M>file:%s?capacity=64M&io=%s>lmdb:%s?sync=none",
             cache_dir, io, lmdb_dir);
    for (size_t i = 0; i < n; i++) {
        b[i] = make_blob(9000 + i, 1000 + (size_t)test_rand_below(6000));
        c[i] = as_blob(&b[i]);
        ids[i] = b[i].id;
    }
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    file = cairn__stack_tier(st, 1);
    lmdb = cairn__stack_tier(st, 2);
    ASSERT_TRUE(file->is_cache && file->promote);
    ASSERT_OK(cairn__tier_put_many(lmdb, c, n));
    for (size_t i = 0; i < n; i += 50) {
        size_t k = n - i < 50 ? n - i : 50;
        ASSERT_OK(cairn__stack_get_many(st, ids + i, k, out + i));
    }
    for (size_t i = 0; i < n; i++) {
        ASSERT_MEM_EQ(out[i].data, out[i].len, b[i].data, b[i].len);
        free(out[i].data);
    }
    ASSERT_EQ(lmdb->counters.hits, n);
    ASSERT_EQ(file->counters.puts, n); /* promoted */
    cairn__stack_close(st);

    /* Restart: the file cache serves everything; LMDB is not asked. */
    ASSERT_OK(cairn__stack_open(spec, CAIRN_RDONLY, &st));
    file = cairn__stack_tier(st, 1);
    lmdb = cairn__stack_tier(st, 2);
    {
        uint64_t blobs, bytes;
        ASSERT_OK(cairn__tier_usage(file, &blobs, &bytes));
        ASSERT_EQ(blobs, n);
    }
    for (size_t i = 0; i < n; i += 50) {
        size_t k = n - i < 50 ? n - i : 50;
        ASSERT_OK(cairn__stack_get_many(st, ids + i, k, out + i));
    }
    for (size_t i = 0; i < n; i++) {
        ASSERT_MEM_EQ(out[i].data, out[i].len, b[i].data, b[i].len);
        free(out[i].data);
    }
    printf("warm restart (%s): %zu blobs, file cache hits %" PRIu64 ", lmdb gets %" PRIu64
           ", lmdb hits %" PRIu64 "\n",
           io, n, (uint64_t)file->counters.hits, (uint64_t)lmdb->counters.gets,
           (uint64_t)lmdb->counters.hits);
    ASSERT_EQ(file->counters.hits, n);
    ASSERT_EQ(lmdb->counters.hits, 0);
    ASSERT_EQ(lmdb->counters.gets, 0);
    cairn__stack_close(st);
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b), free(c), free(ids), free(out);
    free(dir);
}

/* ---------------------------------------------------------------- damage */

/* A cache file that does not match its name is dropped by the stack and
 * refetched from LMDB, and the cache then holds the right bytes again. A
 * file shorter than the index says is a miss, and is rewritten. */
static void test_damaged(const char *io)
{
    char *dir = fresh_dir(), spec[1600], path[800], cache_dir[700], *buf2;
    test_blob a = make_blob(77, 5000), b = make_blob(78, 5000);
    cairn_blob c[2] = {as_blob(&a), as_blob(&b)};
    cairn_stack *st;
    cairn_tier *file, *lmdb;
    cairn_buf buf;
    int fd;

    snprintf(spec, sizeof(spec), "file:%s/cache?capacity=1M&io=%s>lmdb:%s/lmdb?sync=none", dir,
             io, dir);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    file = cairn__stack_tier(st, 0);
    lmdb = cairn__stack_tier(st, 1);
    ASSERT_OK(cairn__tier_put_many(lmdb, c, 2));
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(cairn__stack_get(st, &c[i].id, &buf));
        free(buf.data);
    }
    ASSERT_EQ(lmdb->counters.hits, 2);

    /* Flip a byte of a's file. */
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", dir);
    blob_file(cache_dir, &a.id, path, sizeof(path));
    ASSERT_TRUE((fd = open(path, O_WRONLY)) >= 0);
    ASSERT_EQ(pwrite(fd, "Z", 1, 100), 1);
    close(fd);
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    ASSERT_EQ(lmdb->counters.hits, 3);
    buf2 = malloc(6000);
    ASSERT_TRUE((fd = open(path, O_RDONLY)) >= 0);
    ASSERT_EQ(read(fd, buf2, 6000), 5000);
    close(fd);
    ASSERT_MEM_EQ(buf2, 5000, a.data, a.len); /* rewritten by the promotion */
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    free(buf.data);
    ASSERT_EQ(lmdb->counters.hits, 3); /* and served from the cache again */

    /* Truncate b's file: a short read is a miss, then b is rewritten. */
    blob_file(cache_dir, &b.id, path, sizeof(path));
    ASSERT_EQ(truncate(path, 10), 0);
    ASSERT_OK(cairn__stack_get(st, &b.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, b.data, b.len);
    free(buf.data);
    ASSERT_EQ(lmdb->counters.hits, 4);
    ASSERT_TRUE((fd = open(path, O_RDONLY)) >= 0);
    ASSERT_EQ(read(fd, buf2, 6000), 5000);
    close(fd);
    ASSERT_MEM_EQ(buf2, 5000, b.data, b.len);

    /* A file removed behind the cache's back is a miss, then refetched. */
    ASSERT_EQ(unlink(path), 0);
    ASSERT_OK(cairn__stack_get(st, &b.id, &buf));
    free(buf.data);
    ASSERT_EQ(lmdb->counters.hits, 5);
    ASSERT_EQ(access(path, F_OK), 0);
    {
        uint64_t blobs, bytes;
        ASSERT_OK(cairn__tier_usage(file, &blobs, &bytes));
        ASSERT_EQ(blobs, 2);
        ASSERT_EQ(bytes, 10000);
    }
    cairn__stack_close(st);
    free(buf2);
    free(a.data), free(b.data);
    free(dir);
}

struct worker_arg {
    cairn_tier *t;
    test_blob *b;
    int n_blobs, rounds, id;
};

/* Puts (as promotions do, from reader threads) and gets at random. */
static void *worker_main(void *p)
{
    struct worker_arg *a = p;
    uint64_t state = 0x9e3779b97f4a7c15ull * (uint64_t)(a->id + 1);

    for (int r = 0; r < a->rounds; r++) {
        cairn_id ids[4];
        cairn_blob c[4];
        cairn_buf out[4];
        int pick[4];

        for (int j = 0; j < 4; j++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            pick[j] = (int)((state >> 33) % (uint64_t)a->n_blobs);
            ids[j] = a->b[pick[j]].id;
            c[j] = as_blob(&a->b[pick[j]]);
        }
        if (r % 2 == 0) {
            if (cairn__tier_put_many(a->t, c, 4))
                return (void *)1;
            continue;
        }
        if (cairn__tier_get_many(a->t, ids, 4, out))
            return (void *)2;
        for (int j = 0; j < 4; j++) {
            const test_blob *want = &a->b[pick[j]];
            if (out[j].data && (out[j].len != want->len || memcmp(out[j].data, want->data,
                                                                  want->len) != 0))
                return (void *)3;
            free(out[j].data);
        }
    }
    return NULL;
}

/* Several threads fill and read one small cache at once: every blob read
 * is right, and the cache ends within its capacity. */
static void test_threads(const char *io)
{
    enum { NB = 200, THREADS = 4 };
    char *dir = fresh_dir();
    cairn_tier *t = open_cache(dir, io, "200K");
    test_blob *b = calloc(NB, sizeof(*b));
    struct worker_arg args[THREADS];
    pthread_t th[THREADS];
    uint64_t n, bytes;

    for (int i = 0; i < NB; i++)
        b[i] = make_blob(40000 + (uint64_t)i, 1000 + (size_t)(i * 37 % 5000));
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){t, b, NB, scaled(400, 60), i};
        ASSERT_EQ(pthread_create(&th[i], NULL, worker_main, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *res;
        ASSERT_EQ(pthread_join(th[i], &res), 0);
        if (res)
            TEST_FAIL("worker %d failed: %p", i, res);
    }
    ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
    ASSERT_TRUE(bytes <= 200 * 1024);
    ASSERT_TRUE(t->counters.evictions > 0);
    cairn__tier_close(t);
    for (int i = 0; i < NB; i++)
        free(b[i].data);
    free(b);
    free(dir);
}

/* Roles: a cache needs a durable tier behind it; it holds no refs. */
static void test_roles(void)
{
    char *dir = fresh_dir(), spec[800];
    cairn_stack *st;

    snprintf(spec, sizeof(spec), "file:%s?capacity=1M", dir);
    ASSERT_RC(cairn__stack_open(spec, 0, &st), CAIRN_BADSPEC);
    ASSERT_TRUE(strstr(cairn_errdetail(), "needs a durable tier behind it") != NULL);
    snprintf(spec, sizeof(spec), "file:%s/c?capacity=1M>file:%s/s", dir, dir);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    ASSERT_TRUE(cairn__stack_tier(st, 0)->is_cache);
    ASSERT_TRUE(!cairn__stack_tier(st, 1)->is_cache);
    ASSERT_TRUE(cairn__stack_durable(st));
    cairn__stack_close(st);
    free(dir);
}

int main(void)
{
    static const char *const modes[] = {"uring", "syscall"};

    test_seed_init(4);
    test_roles();
    for (int m = 0; m < 2; m++) {
        printf("io=%s\n", modes[m]);
        test_lru(modes[m]);
        test_lru_model(modes[m], scaled(2000, 300));
        test_recency_restart(modes[m]);
        test_warm_restart(modes[m]);
        test_damaged(modes[m]);
        test_threads(modes[m]);
    }
    printf("ok\n");
    return 0;
}
