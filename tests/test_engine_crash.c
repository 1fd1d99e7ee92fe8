/*
 * test_engine_crash.c - crash safety under SIGKILL (design brief, section 8:
 * "a crash at any instant leaves every store openable at its last committed
 * version").
 *
 * For each of the stacks "lmdb:DIR", "mem:8M>lmdb:DIR" and "file:DIR", many
 * cycles of:
 *   1. fork a child that opens the store and commits in a loop. Commit n of
 *      cycle c is generated deterministically from (seed, c, n): 1..200
 *      random puts and deletes of keys "k%08d" from a bounded range, values
 *      of 0..3000 bytes (so some exceed CAIRN_INLINE_MAX and become value
 *      blobs), and the key "at" of keyspace "marker" set to its message,
 *      "c<c>-<n>" (so that every commit changes something and is written). After each successful commit the
 *      child writes "<n> <hex id>\n" to a pipe: the acknowledgement.
 *   2. the parent reads acks for a random 2..100 ms (2..1200 ms for the
 *      file tier, whose commits fsync every new blob), SIGKILLs the child,
 *      drains the pipe (acks written before the kill count) and reaps it.
 *   3. the parent reopens the store and checks that
 *      - cairn_verify finds no problem;
 *      - the head of "main" is the last acknowledged commit or a later one
 *        (the child may commit after its last ack reached the pipe);
 *      - the log from the head runs c<c>-<n>, ..., c<c>-1 and then reaches
 *        the head the previous cycle left, with seq falling by one per step,
 *        and every acknowledged id is the commit of that number;
 *      - the head's contents (full iterator scan, cairn_count, the commit's
 *        key_count) equal the model: the previous head's state plus the
 *        replayed commits 1..n of this cycle.
 * The next cycle commits on top of the same store, so history accumulates
 * across kills. The kill moment is random; pass/fail never depends on it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define KEYS 1200       /* the key range k00000000 .. k00001199 */
#define MAX_BATCH 200   /* operations per commit: 1..MAX_BATCH */
#define MAX_VALUE 3000  /* value length: 0..MAX_VALUE */
#define CHILD_MAX 5000  /* a child stops (exit 0) after this many commits */
#define MAX_ACKS CHILD_MAX

/* One operation of a generated commit. */
typedef struct gen_op {
    uint32_t key;
    bool del;
    uint32_t len;    /* value length */
    uint64_t vseed;  /* value bytes are derived from it */
} gen_op;

/* The model: the expected value of each key (data NULL: absent). */
typedef struct slot {
    uint8_t *data;
    size_t len;
    bool present;
} slot;

typedef struct ack {
    int n;
    cairn_id id;
} ack;

static slot model[KEYS];
static uint64_t model_count;

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A private splitmix64 stream, so the child and the parent generate the
 * same commits whatever else consumed test_rand. */
static uint64_t next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix64(*state);
}

static double test_scale(void)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills ops with commit n of cycle cycle (store_tag tells the two stores
 * apart). Returns the number of operations. */
static size_t gen_commit(int store_tag, int cycle, int n, gen_op *ops)
{
    uint64_t st = mix64(test_seed ^ mix64((uint64_t)store_tag << 48 ^ (uint64_t)cycle << 24 ^
                                          (uint64_t)n));
    size_t count = 1 + next(&st) % MAX_BATCH;

    for (size_t i = 0; i < count; i++) {
        ops[i].key = (uint32_t)(next(&st) % KEYS);
        ops[i].del = next(&st) % 4 == 0;
        ops[i].len = (uint32_t)(next(&st) % (MAX_VALUE + 1));
        ops[i].vseed = next(&st);
    }
    return count;
}

static void gen_value(uint64_t vseed, size_t len, uint8_t *buf)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = next(&vseed);
        memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
    }
}

static void key_name(uint32_t k, char buf[16])
{
    snprintf(buf, 16, "k%08u", k);
}

/* Writes all of buf to fd; false on failure. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* The child: commits generated batches until killed, acknowledging each
 * commit on fd. Never returns; exits with _exit so the parent's atexit
 * handlers (which remove the temporary directory) do not run here, and
 * reports errors by exit status instead of the ASSERT macros. */
static void child_run(const char *spec, int store_tag, int cycle, int fd)
{
    static gen_op ops[MAX_BATCH];
    static uint8_t val[MAX_VALUE + 8];
    cairn_db *db;
    int rc;

    if ((rc = cairn_open(spec, NULL, &db))) {
        fprintf(stderr, "child: cairn_open: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
        _exit(2);
    }
    for (int n = 1; n <= CHILD_MAX; n++) {
        char msg[32], line[CAIRN_ID_HEX + 32], hex[CAIRN_ID_HEX + 1], key[16];
        size_t count = gen_commit(store_tag, cycle, n, ops);
        cairn_txn *txn;
        cairn_id id;

        if ((rc = cairn_txn_begin(db, NULL, &txn))) {
            fprintf(stderr, "child: begin: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
            _exit(3);
        }
        for (size_t i = 0; i < count && !rc; i++) {
            key_name(ops[i].key, key);
            if (ops[i].del) {
                rc = cairn_txn_del(txn, NULL, key, strlen(key));
            } else {
                gen_value(ops[i].vseed, ops[i].len, val);
                rc = cairn_txn_put(txn, NULL, key, strlen(key), val, ops[i].len);
            }
        }
        /* A commit that changes nothing writes nothing; the marker makes
         * every generated commit a real one. */
        snprintf(msg, sizeof(msg), "c%d-%d", cycle, n);
        if (!rc)
            rc = cairn_txn_put(txn, "marker", "at", 2, msg, strlen(msg));
        if (rc) {
            fprintf(stderr, "child: put/del: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
            _exit(4);
        }
        if ((rc = cairn_txn_commit(txn, msg, &id))) {
            fprintf(stderr, "child: commit: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
            _exit(5);
        }
        cairn_id_to_hex(&id, hex);
        snprintf(line, sizeof(line), "%d %s\n", n, hex);
        if (!write_all(fd, line, strlen(line)))
            _exit(6);
    }
    cairn_close(db);
    _exit(0);
}

/* Parses complete lines of buf (*len bytes) into acks, keeping a partial
 * last line in buf. */
static void parse_acks(char *buf, size_t *len, ack *acks, int *n_acks)
{
    char *start = buf, *nl;

    while ((nl = memchr(start, '\n', (size_t)(buf + *len - start)))) {
        char hex[CAIRN_ID_HEX + 1];
        int n;

        *nl = '\0';
        if (sscanf(start, "%d %64s", &n, hex) != 2)
            TEST_FAIL("bad ack line '%s'", start);
        ASSERT_TRUE(*n_acks < MAX_ACKS);
        ASSERT_EQ(n, *n_acks + 1); /* acks arrive in commit order, none lost */
        acks[*n_acks].n = n;
        ASSERT_OK(cairn_id_from_hex(hex, &acks[*n_acks].id));
        (*n_acks)++;
        start = nl + 1;
    }
    *len = (size_t)(buf + *len - start);
    memmove(buf, start, *len);
}

/* Reads acks from fd until deadline_ms (or EOF); with deadline_ms < 0, until
 * EOF. */
static void read_acks(int fd, int64_t deadline_ms, char *buf, size_t *len, ack *acks,
                      int *n_acks)
{
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int timeout = -1;
        ssize_t r;

        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - now_ms();
            if (left <= 0)
                return;
            timeout = (int)left;
        }
        if (poll(&pfd, 1, timeout) < 0) {
            if (errno == EINTR)
                continue;
            TEST_FAIL("poll: %s", strerror(errno));
        }
        if (!pfd.revents)
            continue;
        r = read(fd, buf + *len, 4096 - 1 - *len);
        if (r < 0 && errno == EINTR)
            continue;
        ASSERT_TRUE(r >= 0);
        if (r == 0)
            return;
        *len += (size_t)r;
        parse_acks(buf, len, acks, n_acks);
    }
}

static void model_apply(int store_tag, int cycle, int n)
{
    static gen_op ops[MAX_BATCH];
    size_t count = gen_commit(store_tag, cycle, n, ops);

    for (size_t i = 0; i < count; i++) {
        slot *s = &model[ops[i].key];
        model_count -= s->present;
        free(s->data);
        s->data = NULL;
        s->len = 0;
        s->present = !ops[i].del;
        model_count += s->present;
        if (s->present) {
            s->data = malloc(ops[i].len + 8);
            ASSERT_TRUE(s->data != NULL);
            gen_value(ops[i].vseed, ops[i].len, s->data);
            s->len = ops[i].len;
        }
    }
}

static void model_reset(void)
{
    for (int k = 0; k < KEYS; k++) {
        free(model[k].data);
        model[k] = (slot){NULL, 0, false};
    }
    model_count = 0;
}

static int print_problem(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", message);
    return 0;
}

/* Compares the version at head with the model: a full forward scan (keys in
 * order, values byte for byte), cairn_count and the commit's key count. */
static void check_contents(cairn_db *db, const cairn_id *head, uint64_t key_count)
{
    cairn_snapshot *snap;
    cairn_iter *it;
    cairn_val k, v;
    uint64_t seen = 0, count;
    uint32_t want = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open_commit(db, head, &snap));
    ASSERT_OK(cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, 0, &it));
    while ((rc = cairn_iter_next(it, &k, &v)) == 0) {
        char name[16];
        while (want < KEYS && !model[want].present)
            want++;
        if (want == KEYS)
            TEST_FAIL("store holds key '%.*s' past the model's last key", (int)k.len,
                      (const char *)k.data);
        key_name(want, name);
        if (k.len != strlen(name) || memcmp(k.data, name, k.len) != 0)
            TEST_FAIL("scan: got key '%.*s', model says '%s'", (int)k.len,
                      (const char *)k.data, name);
        if (v.len != model[want].len || (v.len && memcmp(v.data, model[want].data, v.len)))
            TEST_FAIL("key %s: value of %zu bytes differs from the model's %zu bytes", name,
                      v.len, model[want].len);
        want++;
        seen++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    cairn_iter_close(it);
    ASSERT_EQ(seen, model_count);
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, model_count);
    ASSERT_EQ(key_count, model_count + 1); /* and keyspace "marker"'s one key */
    cairn_snapshot_close(snap);
}

/* Reopens the store after a kill and checks it (see the file comment).
 * *prev_head / *have_prev: the head the previous cycle left; updated. */
static void check_after_kill(const char *spec, int store_tag, int cycle, const ack *acks,
                             int n_acks, cairn_id *prev_head, bool *have_prev)
{
    cairn_verify_report rep;
    cairn_commit_info info;
    cairn_db *db;
    cairn_id head, id;
    int rc, msg_cycle = -1, head_n = 0;

    ASSERT_OK(cairn_open(spec, NULL, &db));
    rc = cairn_verify(db, print_problem, NULL, &rep);
    if (rc)
        TEST_FAIL("cycle %d: cairn_verify returned %s with %llu problems (%s)", cycle,
                  cairn_errname(rc), (unsigned long long)rep.problems, cairn_errdetail());

    rc = cairn_resolve(db, NULL, &head);
    if (rc == CAIRN_NOTFOUND) {
        /* Killed before the first commit ever: nothing may be acknowledged. */
        ASSERT_TRUE(!*have_prev);
        ASSERT_EQ(n_acks, 0);
        cairn_close(db);
        return;
    }
    ASSERT_OK(rc);
    ASSERT_OK(cairn_commit_get(db, &head, &info));
    if (sscanf(info.message, "c%d-%d", &msg_cycle, &head_n) != 2)
        TEST_FAIL("head message '%s' is not c<cycle>-<n>", info.message);
    cairn_commit_info_clear(&info);
    if (msg_cycle != cycle) {
        /* This cycle committed nothing: the head must not have moved. */
        ASSERT_EQ(n_acks, 0);
        ASSERT_TRUE(*have_prev);
        ASSERT_MEM_EQ(head.bytes, 32, prev_head->bytes, 32);
        head_n = 0;
    } else if (head_n < n_acks) {
        TEST_FAIL("cycle %d: head is commit %d but commit %d was acknowledged", cycle, head_n,
                  n_acks);
    }

    /* The log from the head: c<cycle>-<head_n> down to c<cycle>-1, then the
     * previous cycle's head. */
    id = head;
    for (int n = head_n; n >= 1; n--) {
        char want[32];
        uint64_t seq;
        bool has_parent;
        ASSERT_OK(cairn_commit_get(db, &id, &info));
        snprintf(want, sizeof(want), "c%d-%d", cycle, n);
        if (strcmp(info.message, want) != 0)
            TEST_FAIL("log: found '%s' where '%s' belongs", info.message, want);
        if (n <= n_acks && memcmp(acks[n - 1].id.bytes, id.bytes, 32) != 0)
            TEST_FAIL("acknowledged commit %s is not the one in the log", want);
        seq = info.seq;
        has_parent = info.has_parent;
        ASSERT_EQ(has_parent, *have_prev || n > 1);
        id = info.parent;
        cairn_commit_info_clear(&info);
        if (has_parent) {
            cairn_commit_info parent;
            ASSERT_OK(cairn_commit_get(db, &id, &parent));
            ASSERT_EQ(parent.seq + 1, seq);
            cairn_commit_info_clear(&parent);
        }
    }
    if (head_n > 0 && *have_prev)
        ASSERT_MEM_EQ(id.bytes, 32, prev_head->bytes, 32);

    for (int n = 1; n <= head_n; n++)
        model_apply(store_tag, cycle, n);
    ASSERT_OK(cairn_commit_get(db, &head, &info));
    check_contents(db, &head, info.key_count);
    cairn_commit_info_clear(&info);
    *prev_head = head;
    *have_prev = true;
    cairn_close(db);
}

/* Runs the kill cycles against one stack spec, killing the writer a random
 * 2..max_wait_ms after it starts (slower stores need a longer window to
 * get commits acknowledged and killed in the middle). */
static long kills_checked, acks_checked; /* for the suite's summary */

static void crash_cycles(const char *prefix, int store_tag, int cycles, int max_wait_ms)
{
    static ack acks[MAX_ACKS];
    char *dir = strdup(test_tmpdir());
    char spec[512];
    cairn_id prev_head;
    bool have_prev = false;
    long total_acks = 0, killed = 0;

    ASSERT_TRUE(dir != NULL);
    snprintf(spec, sizeof(spec), "%s%s", prefix, dir);
    model_reset();
    for (int cycle = 1; cycle <= cycles; cycle++) {
        char buf[4096];
        size_t len = 0;
        int fds[2], status, n_acks = 0;
        int64_t wait_ms = 2 + (int64_t)test_rand_below((uint64_t)max_wait_ms - 1);
        pid_t pid;

        ASSERT_TRUE(pipe(fds) == 0);
        fflush(NULL);
        ASSERT_TRUE((pid = fork()) >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_run(spec, store_tag, cycle, fds[1]);
        }
        close(fds[1]);
        read_acks(fds[0], now_ms() + wait_ms, buf, &len, acks, &n_acks);
        kill(pid, SIGKILL);
        read_acks(fds[0], -1, buf, &len, acks, &n_acks);
        close(fds[0]);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if (WIFSIGNALED(status)) {
            ASSERT_EQ(WTERMSIG(status), SIGKILL);
            killed++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            TEST_FAIL("cycle %d: the child failed (status 0x%x)", cycle, status);
        }
        total_acks += n_acks;
        check_after_kill(spec, store_tag, cycle, acks, n_acks, &prev_head, &have_prev);
    }
    printf("%sDIR: %d cycles, %ld killed, %ld acknowledged commits, final model %llu keys\n",
           prefix, cycles, killed, total_acks, (unsigned long long)model_count);
    kills_checked += killed;
    acks_checked += total_acks;
    model_reset();
    free(dir);
}

int main(void)
{
    int cycles = (int)(40 * test_scale());

    if (cycles < 8)
        cycles = 8;
    test_seed_init(20240611);
    signal(SIGPIPE, SIG_IGN);
    crash_cycles("lmdb:", 1, cycles, 100);
    crash_cycles("mem:8M>lmdb:", 2, cycles, 100);
    /* The file tier fsyncs every new blob file: commits take longer. */
    crash_cycles("file:", 3, cycles / 2 > 8 ? cycles / 2 : 8, 1200);
    /* Any lost acknowledged commit or a store that does not verify has
     * failed the test before this line. */
    printf("cairn-summary: kills=%ld acked_commits_checked=%ld lost_acked=0 "
           "corrupt_recoveries=0\n", kills_checked, acks_checked);
    printf("ok\n");
    return 0;
}
