/*
 * test_engine_redis.c - the Redis tier through the public API, against a
 * real redis-server (scripts/redis-server.sh run; ctest runs it under it):
 *  - the model-based test (tests/apimodel.c) on a redis:// store and on a
 *    stack with Redis as the cache in front of lmdb, and history
 *    independence: four histories on Redis give the root mem gives;
 *  - a shared cache: two reader processes in turn read a store through
 *    redis://...>lmdb:...; the second reads (nearly) nothing from lmdb;
 *  - the server killed (SIGKILL) and restarted under a reader: every read
 *    keeps working through lmdb, one outage is logged and counted, and
 *    after the restart the cache serves reads again;
 *  - a full Redis: with maxmemory and allkeys-lru reads stay right while
 *    it evicts; with noeviction (OOM on writes) caching becomes a no-op,
 *    said once;
 *  - the writer lease through transactions: a second writer is CAIRN_BUSY
 *    naming the first, which is then killed (SIGKILL) mid-transaction; a
 *    new writer commits once the lease lapses;
 *  - a damaged blob: CAIRN_CORRUPT from a Redis store; from a Redis cache,
 *    dropped and read from behind (and the cache repaired).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apimodel.h"
#include "test.h"
#include "tierutil.h"

static const char *url;

static void spec_of(char *out, size_t cap, const char *prefix, const char *opts, const char *behind)
{
    snprintf(out, cap, "%s?prefix=%s-%ld:%s%s%s%s", url, prefix, (long)getpid(),
             opts[0] ? "&" : "", opts, behind[0] ? ">" : "", behind);
}

static cairn_db *open_db(const char *spec, size_t cache_bytes)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.node_cache_bytes = cache_bytes;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

/* Writes n keys "key%06d" -> value_of(i) in one commit. */
static void value_of(size_t i, char *out, size_t cap)
{
    snprintf(out, cap, "value %zu %0*zu", i, (int)(40 + i % 60), i * 7919);
}

static void fill(const char *spec, size_t n)
{
    cairn_db *db = open_db(spec, 1 << 20);
    cairn_txn *txn;
    char key[32], val[160];

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key%06zu", i);
        value_of(i, val, sizeof(val));
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, strlen(val)));
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    cairn_close(db);
}

/* Reads every key of the head through a fresh snapshot and checks it. */
static void read_all(cairn_db *db, size_t n)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    char key[32], val[160];
    size_t i = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        snprintf(key, sizeof(key), "key%06zu", i);
        value_of(i, val, sizeof(val));
        ASSERT_MEM_EQ(k.data, k.len, key, strlen(key));
        ASSERT_MEM_EQ(v.data, v.len, val, strlen(val));
        i++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    ASSERT_EQ(i, n);
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
}

static cairn_tier_stats tier_stats(cairn_db *db, unsigned k)
{
    cairn_stats st;
    ASSERT_OK(cairn_stats_get(db, NULL, &st));
    ASSERT_TRUE(k < st.n_tiers);
    return st.tiers[k];
}

/* ---------------------------------------------------------------- model */

static void test_model(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;
    int ops = (int)(1500 * scale) + 300;
    char spec[600], dir[300];
    cairn_id first, root;

    spec_of(spec, sizeof(spec), "model", "", "");
    apimodel_run(spec, 512, ops, 2000);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "mem:256K>%s?prefix=model-cache-%ld:>lmdb:%s", url,
             (long)getpid(), dir);
    apimodel_run(spec, 1024, ops / 2, 2000);
    for (int how = 0; how < 4; how++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "history%d", how);
        spec_of(spec, sizeof(spec), prefix, "", "");
        apimodel_build_history(how ? spec : "mem", how, 2000, &first);
        apimodel_build_history(spec, how, 2000, &root);
        if (memcmp(first.bytes, root.bytes, 32) != 0)
            TEST_FAIL("history %d on %s gave another root than in mem", how, spec);
    }
    printf("model: %d operations on a redis store and a redis cache; history independence\n", ops);
}

/* ---------------------------------------------------------------- cache */

#define N_KEYS 20000

/* A reader process: reads every key through spec, reports the lmdb
 * tier's gets (tier 1) on fd. */
static void reader(const char *spec, int fd)
{
    cairn_db *db;
    cairn_options o;
    cairn_stats st;
    uint64_t gets;

    cairn_options_init(&o);
    o.node_cache_bytes = 1 << 16;
    o.flags = CAIRN_RDONLY;
    if (cairn_open(spec, &o, &db))
        _exit(2);
    read_all(db, N_KEYS);
    if (cairn_stats_get(db, NULL, &st) || st.n_tiers != 2)
        _exit(3);
    gets = st.tiers[1].gets;
    cairn_close(db);
    if (write(fd, &gets, sizeof(gets)) != sizeof(gets))
        _exit(4);
    _exit(0);
}

static uint64_t run_reader(const char *spec)
{
    int fds[2], status;
    uint64_t gets = 0;

    ASSERT_TRUE(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        reader(spec, fds[1]);
    }
    close(fds[1]);
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        TEST_FAIL("reader failed (status %d)", status);
    ASSERT_EQ(read(fds[0], &gets, sizeof(gets)), sizeof(gets));
    close(fds[0]);
    return gets;
}

static void test_shared_cache(const char *lmdb_spec)
{
    char spec[600];

    spec_of(spec, sizeof(spec), "shared", "", lmdb_spec);
    uint64_t first = run_reader(spec), second = run_reader(spec);
    printf("shared cache: lmdb reads by the first reader %llu, by the second %llu\n",
           (unsigned long long)first, (unsigned long long)second);
    ASSERT_TRUE(first >= 100);
    ASSERT_TRUE(second <= 2);
}

/* ---------------------------------------------------------------- outage */

static int stderr_saved = -1;

static void capture_stderr(const char *path)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0700);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_TRUE(fd >= 0);
    fflush(stderr);
    stderr_saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

static void restore_stderr(void)
{
    fflush(stderr);
    dup2(stderr_saved, 2);
    close(stderr_saved);
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    ASSERT_TRUE(f != NULL);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void test_outage(const char *lmdb_spec)
{
    char spec[600], log[400];
    cairn_tier_stats before, during, after;

    /* Between capture_stderr and restore_stderr, read_all's assertions
     * would print into the log: a failure there shows as exit 1 alone. */
    spec_of(spec, sizeof(spec), "outage", "timeout=500", lmdb_spec);
    snprintf(log, sizeof(log), "%s/stderr", test_tmpdir());
    cairn_db *db = open_db(spec, 1 << 16);
    read_all(db, N_KEYS); /* fills the cache */
    before = tier_stats(db, 0);
    read_all(db, N_KEYS);
    during = tier_stats(db, 0);
    ASSERT_TRUE(during.hits > before.hits);
    capture_stderr(log);
    test_redis_fixture("kill");
    uint64_t lmdb_gets = tier_stats(db, 1).gets;
    read_all(db, N_KEYS);
    usleep(1200 * 1000); /* past the retry interval: it tries, and fails, again */
    read_all(db, N_KEYS);
    during = tier_stats(db, 0);
    uint64_t lmdb_gets_down = tier_stats(db, 1).gets;
    test_redis_fixture("restart");
    usleep(1200 * 1000);
    read_all(db, N_KEYS); /* back: misses (a fresh server), promotions */
    before = tier_stats(db, 0);
    read_all(db, N_KEYS);
    after = tier_stats(db, 0);
    restore_stderr(); /* (a failed assertion before this would go to the log) */
    ASSERT_TRUE(lmdb_gets_down > lmdb_gets); /* read through lmdb while down */
    ASSERT_EQ(during.breaker_trips, 1);
    printf("outage: redis hits %llu before the kill, %llu after the restart's second read\n",
           (unsigned long long)during.hits, (unsigned long long)(after.hits - before.hits));
    ASSERT_TRUE(after.hits > before.hits + 100); /* the cache serves again */
    ASSERT_EQ(after.breaker_trips, 1);
    ASSERT_EQ(count_lines(log, "is unreachable"), 1);
    ASSERT_EQ(count_lines(log, "is reachable again"), 1);
    cairn_close(db);
}

/* A server that takes connections and never answers: the first read
 * waits out its timeout and marks it down; the reads after it do not wait
 * (the breaker), but for one try a second. */
static void test_breaker(const char *lmdb_spec)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    char spec[600];
    struct timespec t0, t1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ASSERT_TRUE(fd >= 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_TRUE(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    ASSERT_TRUE(listen(fd, 512) == 0);
    ASSERT_TRUE(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d?timeout=200>%s", ntohs(addr.sin_port),
             lmdb_spec);
    cairn_db *db = open_db(spec, 1 << 16);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    read_all(db, N_KEYS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cairn_tier_stats ts = tier_stats(db, 0);
    cairn_close(db);
    close(fd);
    printf("breaker: %llu reads of a silent server took %.2f s (timeout 200 ms), %llu outage\n",
           (unsigned long long)ts.errors, s, (unsigned long long)ts.breaker_trips);
    ASSERT_TRUE(ts.errors > 100); /* each read of the cache failed... */
    ASSERT_TRUE(s < 5.0);         /* ...without waiting out the timeout each time */
    ASSERT_EQ(ts.breaker_trips, 1);
}

/* ---------------------------------------------------------------- full */

static long long info_field(const char *section, const char *field)
{
    redisReply *r = raw_redis("INFO %s", section);
    char needle[64];
    long long v = -1;
    snprintf(needle, sizeof(needle), "%s:", field);
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, needle) : NULL;
    if (p)
        v = atoll(p + strlen(needle));
    freeReplyObject(r);
    return v;
}

static void test_full(const char *lmdb_spec)
{
    char spec[600], log[400];
    long long used = info_field("memory", "used_memory");

    /* allkeys-lru, with room for a fraction of the data. */
    freeReplyObject(raw_redis("CONFIG SET maxmemory %lld", used + (1 << 20)));
    freeReplyObject(raw_redis("CONFIG SET maxmemory-policy allkeys-lru"));
    long long evicted = info_field("stats", "evicted_keys");
    spec_of(spec, sizeof(spec), "lru", "", lmdb_spec);
    cairn_db *db = open_db(spec, 1 << 16);
    read_all(db, N_KEYS);
    read_all(db, N_KEYS);
    cairn_close(db);
    long long evicted_now = info_field("stats", "evicted_keys");
    printf("full (allkeys-lru): reads right while redis evicted %lld keys\n", evicted_now - evicted);
    ASSERT_TRUE(evicted_now > evicted);

    /* noeviction and full: writes fail (OOM), reads stay right. */
    freeReplyObject(raw_redis("FLUSHALL"));
    used = info_field("memory", "used_memory");
    freeReplyObject(raw_redis("CONFIG SET maxmemory-policy noeviction"));
    freeReplyObject(raw_redis("CONFIG SET maxmemory %lld", used + (256 << 10)));
    snprintf(log, sizeof(log), "%s/stderr-full", test_tmpdir());
    spec_of(spec, sizeof(spec), "noevict", "", lmdb_spec);
    capture_stderr(log);
    db = open_db(spec, 1 << 16);
    read_all(db, N_KEYS);
    read_all(db, N_KEYS);
    cairn_tier_stats ts = tier_stats(db, 0);
    cairn_close(db);
    restore_stderr();
    freeReplyObject(raw_redis("CONFIG SET maxmemory 0"));
    printf("full (noeviction): reads right; %llu errors counted\n", (unsigned long long)ts.errors);
    ASSERT_TRUE(ts.errors > 0);
    ASSERT_EQ(count_lines(log, "refuses writes for memory"), 1);
}

/* ---------------------------------------------------------------- writers */

static void test_writers(void)
{
    char spec[600], want[64], c;
    int fds[2], rc, tries = 0;
    cairn_txn *txn;

    spec_of(spec, sizeof(spec), "writers", "lease=1", "");
    cairn_close(open_db(spec, 1 << 20)); /* created before the child races it */
    ASSERT_TRUE(pipe(fds) == 0);
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        cairn_db *db;
        cairn_txn *t;
        close(fds[0]);
        if (cairn_open(spec, NULL, &db) || cairn_txn_begin(db, NULL, &t) ||
            cairn_txn_put(t, NULL, "lost", 4, "x", 1) || write(fds[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    cairn_db *db = open_db(spec, 1 << 20);
    ASSERT_RC(cairn_txn_begin(db, NULL, &txn), CAIRN_BUSY);
    snprintf(want, sizeof(want), "pid %ld", (long)pid);
    ASSERT_DETAIL(want);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while ((rc = cairn_txn_begin(db, NULL, &txn)) == CAIRN_BUSY && tries++ < 40)
        usleep(100 * 1000);
    ASSERT_OK(rc);
    ASSERT_OK(cairn_txn_put(txn, NULL, "k", 1, "v", 1));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    cairn_snapshot *snap;
    cairn_val v;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, "k", 1, &v));
    ASSERT_RC(cairn_get(snap, NULL, "lost", 4, &v), CAIRN_NOTFOUND);
    cairn_snapshot_close(snap);
    cairn_close(db);
    printf("writers: the second waited %.1f s for the killed writer's lease\n", tries / 10.0);
}

/* ---------------------------------------------------------------- damage */

/* Overwrites, behind cairn's back, the blob of the default keyspace's root
 * under prefix with other bytes. */
static void damage_root(cairn_db *db, const char *prefix, char *key, size_t cap)
{
    cairn_snapshot *snap;
    cairn_id root;
    char hex[CAIRN_ID_HEX + 1];

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, &root));
    cairn_snapshot_close(snap);
    cairn_id_to_hex(&root, hex);
    snprintf(key, cap, "%s-%ld:blob:%s", prefix, (long)getpid(), hex);
    ASSERT_EQ(raw_redis_int("EXISTS %s", key), 1);
    freeReplyObject(raw_redis("SET %s %s", key, "damaged bytes"));
}

static void test_damage(const char *lmdb_spec)
{
    char spec[600], key[300];
    cairn_snapshot *snap;
    cairn_val v;

    /* A store: the damage is an error, never wrong data. */
    spec_of(spec, sizeof(spec), "damage", "", "");
    fill(spec, 50);
    cairn_db *db = open_db(spec, 1 << 20);
    damage_root(db, "damage", key, sizeof(key));
    cairn_close(db);
    db = open_db(spec, 1 << 20);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_RC(cairn_get(snap, NULL, "key000001", 9, &v), CAIRN_CORRUPT);
    ASSERT_DETAIL("does not match its id");
    cairn_snapshot_close(snap);
    cairn_close(db);
    /* A cache: dropped and read from behind, then cached right again. */
    spec_of(spec, sizeof(spec), "damage-cache", "", lmdb_spec);
    db = open_db(spec, 1 << 20);
    read_all(db, N_KEYS);
    damage_root(db, "damage-cache", key, sizeof(key));
    cairn_close(db);
    db = open_db(spec, 1 << 20);
    read_all(db, N_KEYS);
    cairn_close(db);
    redisReply *r = raw_redis("GET %s", key);
    ASSERT_TRUE(r->type == REDIS_REPLY_STRING && strcmp(r->str, "damaged bytes") != 0);
    freeReplyObject(r);
    printf("damage: CAIRN_CORRUPT from a store; a cache dropped it and read from lmdb\n");
}

int main(void)
{
    char lmdb_spec[400];

    url = test_redis_url();
    test_seed_init(17);
    test_model();
    snprintf(lmdb_spec, sizeof(lmdb_spec), "lmdb:%s", test_tmpdir());
    fill(lmdb_spec, N_KEYS);
    test_shared_cache(lmdb_spec);
    test_damage(lmdb_spec);
    test_writers();
    test_outage(lmdb_spec);
    test_breaker(lmdb_spec);
    test_full(lmdb_spec);
    printf("ok\n");
    return 0;
}
