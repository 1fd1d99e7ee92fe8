/*
 * test_tier_file.c - the file tier as a store: specs and refusals, the
 * on-disk layout, refs, a randomized comparison against a model (io_uring
 * and plain system calls, reopening in between), proof that batches go out
 * in few io_uring submissions, short writes, leftovers of dead writers,
 * copied stores, corrupt blobs, the writer lock, writers killed with
 * SIGKILL, concurrent readers, handles used across fork(), and the
 * fallback when io_uring is forbidden.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "id.h"
#include "pack.h"
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

static cairn_tier *open_file(const char *dir, const char *opts, unsigned flags)
{
    char spec[600];
    cairn_tier *t = NULL;

    snprintf(spec, sizeof(spec), "file:%s%s%s", dir, *opts ? "?" : "", opts);
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    ASSERT_TRUE(t != NULL);
    return t;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, data, len), (long long)len);
    close(fd);
}

/* Reads a whole small file into buf (NUL-terminated); returns its length. */
static size_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    ssize_t got;

    ASSERT_TRUE(fd >= 0);
    got = read(fd, buf, cap - 1);
    close(fd);
    ASSERT_TRUE(got >= 0);
    buf[got] = '\0';
    return (size_t)got;
}

static void blob_file(const char *dir, const cairn_id *id, char *path, size_t cap)
{
    char hex[CAIRN_ID_HEX + 1];

    cairn_id_to_hex(id, hex);
    snprintf(path, cap, "%s/objects/%.2s/%s", dir, hex, hex + 2);
}

static int scaled(int n, int min)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    int v = (int)(n * (f > 0 ? f : 1.0));
    return v > min ? v : min;
}

static void spec_bad(const char *spec, int want, const char *detail_part)
{
    cairn_tier *t = (cairn_tier *)1;

    ASSERT_RC(cairn__tier_open(spec, 0, &t), want);
    ASSERT_TRUE(t == NULL);
    if (!strstr(cairn_errdetail(), detail_part))
        TEST_FAIL("spec '%s': detail '%s' lacks '%s'", spec, cairn_errdetail(), detail_part);
}

/* ---------------------------------------------------------------- specs */

static void test_specs(void)
{
    char *dir = fresh_dir(), spec[700], path[600];
    cairn_tier *t;

    spec_bad("file:", CAIRN_BADSPEC, "needs a directory");
    spec_bad("file", CAIRN_BADSPEC, "needs a directory");
    snprintf(spec, sizeof(spec), "file:%s?bogus=1", dir);
    spec_bad(spec, CAIRN_BADSPEC, "unknown option 'bogus'");
    snprintf(spec, sizeof(spec), "file:%s?sync=fast", dir);
    spec_bad(spec, CAIRN_BADSPEC, "sync must be full or none");
    snprintf(spec, sizeof(spec), "file:%s?io=aio", dir);
    spec_bad(spec, CAIRN_BADSPEC, "io must be uring or syscall");
    snprintf(spec, sizeof(spec), "file:%s?queue=3", dir);
    spec_bad(spec, CAIRN_BADSPEC, "queue must be 8 to 4096");
    snprintf(spec, sizeof(spec), "file:%s?capacity=0", dir);
    spec_bad(spec, CAIRN_BADSPEC, "bad capacity '0'");
    snprintf(spec, sizeof(spec), "file:%s?promote=2", dir);
    spec_bad(spec, CAIRN_BADSPEC, "promote must be 0 or 1");
    ASSERT_TRUE(access(dir, F_OK) != 0); /* a bad spec creates nothing */

    /* Read-only opening creates nothing. */
    snprintf(spec, sizeof(spec), "file:%s", dir);
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_NOTFOUND);
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);

    /* A non-empty directory that is not a store is refused, untouched. */
    ASSERT_EQ(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "hello", 5);
    spec_bad(spec, CAIRN_BADSPEC, dir);
    ASSERT_TRUE(strstr(cairn_errdetail(), "not a cairn file store") != NULL);
    snprintf(path, sizeof(path), "%s/objects", dir);
    ASSERT_TRUE(access(path, F_OK) != 0);
    ASSERT_RC(cairn__tier_open(spec, CAIRN_RDONLY, &t), CAIRN_BADSPEC);

    /* A format this build does not read, and a garbled format file. */
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/cairn-file-store", dir);
    write_file(path, "cairn file store\nformat 2\n", 26);
    spec_bad(spec, CAIRN_VERSION, "format 2");
    ASSERT_TRUE(strstr(cairn_errdetail(), dir) != NULL);
    write_file(path, "something else\n", 15);
    spec_bad(spec, CAIRN_CORRUPT, "cairn-file-store");

    /* A file where the directory should be. */
    snprintf(spec, sizeof(spec), "file:%s", path);
    ASSERT_RC(cairn__tier_open(spec, 0, &t), -ENOTDIR);
    ASSERT_TRUE(strstr(cairn_errdetail(), path) != NULL);

    /* Nested directories are created; options are accepted. */
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    t = open_file(path, "sync=none&io=syscall&queue=8&promote=1", 0);
    ASSERT_EQ(t->caps, CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED);
    ASSERT_TRUE(t->promote);
    ASSERT_EQ(t->capacity, 0);
    ASSERT_TRUE(strcmp(t->m->name, "file") == 0);
    cairn__tier_close(t);
    t = open_file(path, "capacity=1M", 0);
    ASSERT_EQ(t->caps, CAIRN_TIER_SHARED);
    ASSERT_EQ(t->capacity, 1 << 20);
    cairn__tier_close(t);
    free(dir);
}

/* ---------------------------------------------------------------- layout */

struct ref_log {
    char text[1024];
};

static int ref_collect(void *ctx, const char *name, const cairn_id *id)
{
    struct ref_log *log = ctx;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof(log->text) - used, "%s=%02x ", name, id->bytes[0]);
    return 0;
}

static void test_layout(void)
{
    char *dir = fresh_dir(), path[700], text[256], hex[CAIRN_ID_HEX + 1];
    test_blob a = make_blob(1, 5000), e = make_blob(2, 0);
    cairn_tier *t = open_file(dir, "", 0);
    struct stat st;
    cairn_id r;

    snprintf(path, sizeof(path), "%s/cairn-file-store", dir);
    read_file(path, text, sizeof(text));
    ASSERT_TRUE(strcmp(text, "cairn file store\nformat 1\n") == 0);
    ASSERT_OK(put_one(t, &a));
    ASSERT_OK(put_one(t, &e));
    blob_file(dir, &a.id, path, sizeof(path));
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 5000);
    {
        char *buf = malloc(6000);
        size_t got = read_file(path, buf, 6000);
        ASSERT_MEM_EQ(buf, got, a.data, a.len);
        free(buf);
    }
    blob_file(dir, &e.id, path, sizeof(path));
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 0);
    ASSERT_TRUE(holds(t, &e));

    /* Refs are files of 64 hex digits and a newline, '/' making
     * directories; deleting one removes the directories it empties. */
    memset(&r, 0xab, sizeof(r));
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", NULL, &r));
    ASSERT_OK(cairn__tier_ref_cas(t, "meta/config", NULL, &a.id));
    snprintf(path, sizeof(path), "%s/refs/heads/main", dir);
    ASSERT_EQ(read_file(path, text, sizeof(text)), 65);
    cairn_id_to_hex(&r, hex);
    ASSERT_TRUE(strncmp(text, hex, 64) == 0 && text[64] == '\n');
    snprintf(path, sizeof(path), "%s/refs/meta/config", dir);
    read_file(path, text, sizeof(text));
    cairn_id_to_hex(&a.id, hex);
    ASSERT_TRUE(strncmp(text, hex, 64) == 0);
    ASSERT_OK(cairn__tier_ref_cas(t, "meta/config", &a.id, NULL));
    snprintf(path, sizeof(path), "%s/refs/meta", dir);
    ASSERT_TRUE(access(path, F_OK) != 0);

    /* Odd names are escaped and come back as they went in. */
    const char *odd[] = {"../x", "a b/.c", "x//y", "%", "-/", "/lead", "é"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        cairn_id id, got;
        memset(&id, (int)(0x10 + i), sizeof(id));
        ASSERT_OK(cairn__tier_ref_cas(t, odd[i], NULL, &id));
        ASSERT_OK(cairn__tier_ref_get(t, odd[i], &got));
        ASSERT_TRUE(cairn__id_eq(&id, &got));
    }
    snprintf(path, sizeof(path), "%s/x", dir);
    ASSERT_TRUE(access(path, F_OK) != 0); /* "../x" stayed inside refs/ */
    struct ref_log log = {""};
    ASSERT_OK(cairn__tier_ref_list(t, "", ref_collect, &log));
    ASSERT_TRUE(strcmp(log.text, "%=13 -/=14 ../x=10 /lead=15 a b/.c=11 heads/main=ab x//y=12 "
                                 "\xc3\xa9=16 ") == 0);
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        cairn_id id;
        memset(&id, (int)(0x10 + i), sizeof(id));
        ASSERT_OK(cairn__tier_ref_cas(t, odd[i], &id, NULL));
    }

    /* A ref cannot also be a directory of refs (as in git). */
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/a", NULL, &r));
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/a/b", NULL, &r), CAIRN_BADARG);
    ASSERT_TRUE(strstr(cairn_errdetail(), "heads/a/b") != NULL);
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/main/x/y", NULL, &r), CAIRN_BADARG);
    ASSERT_RC(cairn__tier_ref_cas(t, "heads", NULL, &r), CAIRN_BADARG);
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/a", &r, NULL));
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/a/b", NULL, &r));
    ASSERT_RC(cairn__tier_ref_cas(t, "heads/a", NULL, &r), CAIRN_BADARG);
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/a/b", &r, NULL));
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/a", NULL, &r));
    /* A corrupt ref file is reported, naming it. */
    snprintf(path, sizeof(path), "%s/refs/heads/a", dir);
    write_file(path, "zz\n", 3);
    ASSERT_RC(cairn__tier_ref_get(t, "heads/a", &r), CAIRN_CORRUPT);
    ASSERT_TRUE(strstr(cairn_errdetail(), "refs/heads/a") != NULL);
    cairn__tier_close(t);
    free(a.data), free(e.data);
    free(dir);
}

/* The CAS rules of tier.h (as for the other tiers), durable and not. */
static void test_refs(const char *opts)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_file(dir, opts, 0);
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

    /* Read-only: refs and blobs read, nothing writes. */
    t = open_file(dir, opts, CAIRN_RDONLY);
    ASSERT_OK(cairn__tier_ref_get(t, "tag", &got));
    ASSERT_RC(cairn__tier_ref_cas(t, "tag", &got, NULL), CAIRN_RDONLY_STORE);
    {
        test_blob x = make_blob(77, 10);
        ASSERT_RC(put_one(t, &x), CAIRN_RDONLY_STORE);
        ASSERT_RC(cairn__tier_remove_many(t, &x.id, 1), CAIRN_RDONLY_STORE);
        ASSERT_RC(cairn__tier_writer_lock(t, true), CAIRN_RDONLY_STORE);
        ASSERT_OK(cairn__tier_sync(t));
        free(x.data);
    }
    cairn__tier_close(t);
    free(dir);
}

/* ---------------------------------------------------------------- model */

#define MODEL_BLOBS 96
#define MODEL_REFS 6

struct scan_log {
    size_t n;
    uint64_t bytes;
    bool ordered;
    cairn_id last;
    const bool *held;
    const test_blob *blobs;
};

static int scan_check(void *ctx, const cairn_id *id, size_t len)
{
    struct scan_log *log = ctx;

    if (log->n && cairn__id_cmp(&log->last, id) >= 0)
        log->ordered = false;
    log->last = *id;
    log->n++;
    log->bytes += len;
    return 0;
}

/* Random put/get/has/remove/scan/usage/ref ops against a model of which
 * blobs are held and what each ref holds; now and then the tier is closed
 * and reopened (possibly in the other I/O mode: the layout is the same). */
static void model_run(const char *opts, const char *other_opts, int ops)
{
    static const char *ref_names[MODEL_REFS] = {"heads/main", "heads/dev", "tags/a",
                                                "tags/b",     "meta/config", "z"};
    char *dir = fresh_dir();
    cairn_tier *t = open_file(dir, opts, 0);
    test_blob blobs[MODEL_BLOBS];
    bool held[MODEL_BLOBS] = {false};
    bool ref_set[MODEL_REFS] = {false};
    cairn_id ref_val[MODEL_REFS];

    printf("model %s / %s: %d ops\n", opts, other_opts, ops);
    for (int i = 0; i < MODEL_BLOBS; i++) {
        size_t len = 8 + (size_t)test_rand_below(test_rand_below(4) ? 2000 : 12000);
        if (i == 0)
            len = 300000 + (size_t)test_rand_below(100000); /* one large blob */
        if (i == 1)
            len = 0; /* and the empty one */
        blobs[i] = make_blob(test_rand(), len);
    }
    for (int op = 0; op < ops; op++) {
        size_t k = 1 + (size_t)test_rand_below(test_rand_below(4) ? 8 : 64), pick[64];
        cairn_id ids[64];

        for (size_t j = 0; j < k; j++) {
            pick[j] = (size_t)test_rand_below(MODEL_BLOBS);
            ids[j] = blobs[pick[j]].id;
        }
        switch (test_rand_below(10)) {
        case 0:
        case 1: {
            cairn_blob c[64];
            for (size_t j = 0; j < k; j++) {
                c[j] = as_blob(&blobs[pick[j]]);
                held[pick[j]] = true;
            }
            ASSERT_OK(cairn__tier_put_many(t, c, k));
            break;
        }
        case 2:
        case 3:
            expect_get(t, blobs, pick, k, held, op);
            break;
        case 4: {
            bool has[64];
            ASSERT_OK(cairn__tier_has_many(t, ids, k, has));
            for (size_t j = 0; j < k; j++)
                ASSERT_EQ(has[j], held[pick[j]]);
            break;
        }
        case 5:
            ASSERT_OK(cairn__tier_remove_many(t, ids, k));
            for (size_t j = 0; j < k; j++)
                held[pick[j]] = false;
            break;
        case 6: {
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
        case 7: {
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
        case 8: {
            uint64_t n = 0, bytes = 0, want_n = 0, want_bytes = 0;
            struct scan_log log = {0, 0, true, {{0}}, held, blobs};
            for (int i = 0; i < MODEL_BLOBS; i++)
                if (held[i])
                    want_n++, want_bytes += blobs[i].len;
            if (test_rand_below(2)) {
                ASSERT_OK(cairn__tier_usage(t, &n, &bytes));
            } else {
                ASSERT_OK(cairn__tier_scan_ids(t, scan_check, &log));
                ASSERT_TRUE(log.ordered);
                n = log.n;
                bytes = log.bytes;
            }
            ASSERT_EQ(n, want_n);
            ASSERT_EQ(bytes, want_bytes);
            break;
        }
        case 9:
            if (test_rand_below(40) == 0) {
                cairn__tier_close(t);
                t = open_file(dir, test_rand_below(2) ? opts : other_opts, 0);
            }
            break;
        }
    }
    /* Every file on disk is a held blob. */
    {
        struct scan_log log = {0, 0, true, {{0}}, held, blobs};
        size_t want = 0;
        ASSERT_OK(cairn__tier_scan_ids(t, scan_check, &log));
        for (int i = 0; i < MODEL_BLOBS; i++)
            want += held[i];
        ASSERT_EQ(log.n, want);
    }
    cairn__tier_close(t);
    for (int i = 0; i < MODEL_BLOBS; i++)
        free(blobs[i].data);
    free(dir);
}

/* ---------------------------------------------------------------- batching */

/* 200 blobs in one put_many and one get_many: with io_uring, far fewer
 * submissions than blobs; on the fallback, none. */
static void test_batching(void)
{
    char *dir = fresh_dir();
    const size_t n = 200;
    test_blob *b = calloc(n, sizeof(*b));
    cairn_blob *c = calloc(n, sizeof(*c));
    cairn_id *ids = calloc(n, sizeof(*ids));
    cairn_buf *out = calloc(n, sizeof(*out));

    for (size_t i = 0; i < n; i++) {
        b[i] = make_blob(1000 + i, 4096);
        c[i] = as_blob(&b[i]);
        ids[i] = b[i].id;
    }
    for (int mode = 0; mode < 2; mode++) {
        char sub[700];
        snprintf(sub, sizeof(sub), "%s/%d", dir, mode);
        cairn_tier *t = open_file(sub, mode == 0 ? "io=uring&pack=0" : "io=syscall&pack=0", 0);
        uint64_t s0 = t->counters.io_submits, o0 = t->counters.io_ops, s1, o1;

        ASSERT_OK(cairn__tier_put_many(t, c, n));
        s1 = t->counters.io_submits;
        o1 = t->counters.io_ops;
        ASSERT_OK(cairn__tier_get_many(t, ids, n, out));
        for (size_t i = 0; i < n; i++) {
            ASSERT_MEM_EQ(out[i].data, out[i].len, b[i].data, b[i].len);
            free(out[i].data);
        }
        printf("%s: put_many(%zu): %" PRIu64 " submissions, %" PRIu64
               " ops; get_many: %" PRIu64 " submissions, %" PRIu64 " ops\n",
               mode == 0 ? "io_uring" : "syscalls", n, s1 - s0, o1 - o0,
               t->counters.io_submits - s1, t->counters.io_ops - o1);
        if (mode == 0) {
            if (!t->counters.io_uring) {
                printf("io_uring is not available here: batching not checked\n");
            } else {
                ASSERT_TRUE(s1 - s0 > 0 && s1 - s0 < n);
                ASSERT_TRUE(t->counters.io_submits - s1 > 0 && t->counters.io_submits - s1 < n);
                ASSERT_TRUE(o1 - o0 >= 5 * n); /* open, write, fsync, close, rename */
            }
        } else {
            ASSERT_TRUE(!t->counters.io_uring);
            ASSERT_EQ(t->counters.io_submits, 0);
            ASSERT_TRUE(o1 - o0 >= 5 * n);
        }
        /* Everything there already: nothing is rewritten (each file keeps
         * its inode), but each is read back (a damaged one would be written
         * again) and fsynced (sync=full): statx, then open/read/close, then
         * open/fsync/close per blob, in a few submissions. */
        {
            char path[PATH_MAX];
            struct stat before, after;
            blob_file(sub, &b[7].id, path, sizeof(path));
            ASSERT_TRUE(stat(path, &before) == 0);
            s0 = t->counters.io_submits;
            o0 = t->counters.io_ops;
            ASSERT_OK(cairn__tier_put_many(t, c, n));
            ASSERT_TRUE(stat(path, &after) == 0);
            ASSERT_EQ(after.st_ino, before.st_ino);
            ASSERT_TRUE(t->counters.io_ops - o0 >= 7 * n);
            ASSERT_TRUE(t->counters.io_ops - o0 <= 7 * n + 3 * 257);
            ASSERT_TRUE(t->counters.io_submits - s0 <= (mode == 0 ? 12 : 0));
        }
        cairn__tier_close(t);
    }
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b), free(c), free(ids), free(out);
    free(dir);
}

/* A file size limit makes the kernel write short, then refuse: the write is
 * resumed, fails with EFBIG, and leaves neither the blob nor a temporary
 * file behind. Runs in a child (the limit is process-wide). */
static void test_short_write(const char *opts)
{
    char *dir = fresh_dir();
    test_blob small = make_blob(5, 1000), big = make_blob(6, 50000);
    cairn_tier *t = open_file(dir, opts, 0);
    int status;
    pid_t pid;

    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        struct rlimit lim = {20000, 20000};
        cairn_tier *c = NULL;
        char spec[700], path[800];
        struct dirent *de;
        DIR *d;
        int rc;

        signal(SIGXFSZ, SIG_IGN);
        snprintf(spec, sizeof(spec), "file:%s?%s", dir, opts);
        if (cairn__tier_open(spec, 0, &c) || setrlimit(RLIMIT_FSIZE, &lim))
            _exit(2);
        if (put_one(c, &small) != 0)
            _exit(3);
        if ((rc = put_one(c, &big)) != -EFBIG) {
            fprintf(stderr, "big put: %s (%s)\n", cairn_errname(rc), cairn_errdetail());
            _exit(4);
        }
        if (!strstr(cairn_errdetail(), "write"))
            _exit(5);
        blob_file(dir, &big.id, path, sizeof(path));
        if (access(path, F_OK) == 0)
            _exit(6);
        snprintf(path, sizeof(path), "%s/tmp", dir);
        if (!(d = opendir(path)))
            _exit(7);
        while ((de = readdir(d)))
            if (de->d_name[0] != '.')
                _exit(8);
        closedir(d);
        cairn__tier_close(c);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("short-write child (%s) failed: status %d", opts, status);
    ASSERT_TRUE(holds(t, &small));
    ASSERT_TRUE(!holds(t, &big));
    ASSERT_OK(put_one(t, &big));
    ASSERT_TRUE(holds(t, &big));
    cairn__tier_close(t);
    free(small.data), free(big.data);
    free(dir);
}

/* ---------------------------------------------------------------- leftovers */

static pid_t dead_pid(void)
{
    pid_t pid;
    int status;

    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0)
        _exit(0);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return pid;
}

static void test_leftovers(void)
{
    char *dir = fresh_dir(), dead[700], live[700], odd[700];
    cairn_tier *t = open_file(dir, "", 0);
    pid_t pid = dead_pid();

    cairn__tier_close(t);
    snprintf(dead, sizeof(dead), "%s/tmp/x.%ld.1", dir, (long)pid);
    snprintf(live, sizeof(live), "%s/tmp/x.%ld.1", dir, (long)getpid());
    snprintf(odd, sizeof(odd), "%s/tmp/notes", dir);
    write_file(dead, "partial", 7);
    write_file(live, "in progress", 11);
    write_file(odd, "?", 1);
    t = open_file(dir, "", 0);
    ASSERT_TRUE(access(dead, F_OK) != 0);
    ASSERT_TRUE(access(live, F_OK) == 0);
    ASSERT_TRUE(access(odd, F_OK) == 0);
    cairn__tier_close(t);
    /* A read-only open removes nothing. */
    write_file(dead, "partial", 7);
    t = open_file(dir, "", CAIRN_RDONLY);
    ASSERT_TRUE(access(dead, F_OK) == 0);
    cairn__tier_close(t);
    free(dir);
}

/* ---------------------------------------------------------------- copies */

struct verify_ctx {
    cairn_tier *t;
    size_t n;
};

static int verify_visit(void *ctx, const cairn_id *id, size_t len)
{
    struct verify_ctx *v = ctx;
    cairn_buf buf;
    cairn_id actual;

    ASSERT_OK(cairn__tier_get_many(v->t, id, 1, &buf));
    ASSERT_TRUE(buf.data != NULL && buf.len == len);
    cairn__sha256(buf.data, buf.len, &actual);
    ASSERT_TRUE(cairn__id_eq(&actual, id));
    free(buf.data);
    v->n++;
    return 0;
}

/* cp -r of a store is a store: same blobs, same refs, every blob verifies. */
static void test_copy(void)
{
    char *dir = fresh_dir(), copy[700], cmd[1600];
    cairn_tier *t = open_file(dir, "", 0);
    test_blob b[50];
    cairn_id got;

    for (int i = 0; i < 50; i++) {
        b[i] = make_blob(500 + i, 100 * (size_t)i);
        ASSERT_OK(put_one(t, &b[i]));
    }
    ASSERT_OK(cairn__tier_ref_cas(t, "heads/main", NULL, &b[7].id));
    ASSERT_OK(cairn__tier_writer_lock(t, true));
    cairn__tier_close(t);
    snprintf(copy, sizeof(copy), "%s-copy", dir);
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", dir, copy);
    ASSERT_EQ(system(cmd), 0);
    t = open_file(copy, "io=syscall", CAIRN_RDONLY);
    for (int i = 0; i < 50; i++)
        ASSERT_TRUE(holds(t, &b[i]));
    ASSERT_OK(cairn__tier_ref_get(t, "heads/main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &b[7].id));
    struct verify_ctx v = {t, 0};
    ASSERT_OK(cairn__tier_scan_ids(t, verify_visit, &v));
    ASSERT_EQ(v.n, 50);
    cairn__tier_close(t);
    test_rm_rf(copy);
    for (int i = 0; i < 50; i++)
        free(b[i].data);
    free(dir);
}

/* ---------------------------------------------------------------- corruption */

static void test_corrupt(const char *opts)
{
    char *dir = fresh_dir(), spec[700], path[800], hex[CAIRN_ID_HEX + 1];
    test_blob a = make_blob(9, 3000), b = make_blob(10, 3000);
    cairn_stack *st;
    cairn_tier *t;
    cairn_buf buf;
    int fd;

    snprintf(spec, sizeof(spec), "file:%s?%s", dir, opts);
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    t = cairn__stack_tier(st, 0);
    ASSERT_TRUE(!t->is_cache);
    ASSERT_OK(put_one(t, &a));
    ASSERT_OK(put_one(t, &b));
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    free(buf.data);

    /* Same size, one byte flipped: the stack's hash check catches it. */
    blob_file(dir, &a.id, path, sizeof(path));
    ASSERT_TRUE((fd = open(path, O_WRONLY)) >= 0);
    ASSERT_EQ(pwrite(fd, "X", 1, 1500), 1);
    close(fd);
    ASSERT_RC(cairn__stack_get(st, &a.id, &buf), CAIRN_CORRUPT);
    ASSERT_TRUE(buf.data == NULL);
    cairn_id_to_hex(&a.id, hex);
    ASSERT_TRUE(strstr(cairn_errdetail(), hex) != NULL);
    /* A truncated file is corrupt too. */
    blob_file(dir, &b.id, path, sizeof(path));
    ASSERT_EQ(truncate(path, 1000), 0);
    ASSERT_RC(cairn__stack_get(st, &b.id, &buf), CAIRN_CORRUPT);
    /* Putting a blob again repairs a file of the wrong size, and one of
     * the right size with the wrong bytes (a store reads back what it has
     * before trusting it: the old code skipped it, and damage spread). */
    ASSERT_OK(put_one(t, &b));
    ASSERT_OK(cairn__stack_get(st, &b.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, b.data, b.len);
    free(buf.data);
    ASSERT_OK(put_one(t, &a));
    ASSERT_OK(cairn__stack_get(st, &a.id, &buf));
    ASSERT_MEM_EQ(buf.data, buf.len, a.data, a.len);
    free(buf.data);
    cairn__stack_close(st);
    free(a.data), free(b.data);
    free(dir);
}

/* ---------------------------------------------------------------- locks */

/* In a child: can a fresh descriptor flock dir/cairn.lock right now? */
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
    cairn_tier *t1 = open_file(dir, "", 0), *t2 = open_file(dir, "", 0);
    int fd;

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
    /* Another process holding the lock file keeps every handle out. */
    snprintf(lock_path, sizeof(lock_path), "%s/cairn.lock", dir);
    ASSERT_TRUE((fd = open(lock_path, O_RDWR)) >= 0);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    ASSERT_RC(cairn__tier_writer_lock(t1, true), CAIRN_BUSY);
    close(fd);
    ASSERT_OK(cairn__tier_writer_lock(t1, true));
    cairn__tier_close(t1);
    free(dir);
}

/* ---------------------------------------------------------------- SIGKILL */

#define KILL_BATCH 24

/* The writer: forever, a batch of blobs plus a manifest listing their ids,
 * in one put_many, then the ref moves to the manifest. Never returns. */
static void killed_writer(const char *dir, const char *opts, uint64_t seed, int ack_fd)
{
    char spec[700];
    cairn_tier *t = NULL;
    cairn_id head, *have = NULL;
    int rc;

    snprintf(spec, sizeof(spec), "file:%s?%s", dir, opts);
    if (cairn__tier_open(spec, 0, &t) || cairn__tier_writer_lock(t, true))
        _exit(2);
    if ((rc = cairn__tier_ref_get(t, "heads/main", &head)) == 0)
        have = &head;
    else if (rc != CAIRN_NOTFOUND)
        _exit(3);
    for (uint64_t round = 0;; round++) {
        test_blob b[KILL_BATCH];
        cairn_blob c[KILL_BATCH + 1];
        unsigned char manifest[KILL_BATCH * 32];
        cairn_id id;

        for (int i = 0; i < KILL_BATCH; i++) {
            b[i] = make_blob(seed * 1000003 + round * KILL_BATCH + (uint64_t)i,
                             64 + (size_t)((seed + round * 7 + (uint64_t)i * 131) % 12000));
            c[i] = as_blob(&b[i]);
            memcpy(manifest + 32 * i, b[i].id.bytes, 32);
        }
        cairn__sha256(manifest, sizeof(manifest), &id);
        c[KILL_BATCH] = (cairn_blob){id, manifest, sizeof(manifest)};
        if (cairn__tier_put_many(t, c, KILL_BATCH + 1))
            _exit(4);
        if (cairn__tier_ref_cas(t, "heads/main", have, &id))
            _exit(5);
        head = id;
        have = &head;
        if (round == 0 && write(ack_fd, "a", 1) != 1) /* the ref has moved once */
            _exit(6);
        for (int i = 0; i < KILL_BATCH; i++)
            free(b[i].data);
    }
}

/* Reads the whole file at path into a malloc'd buffer. OUT: *len. */
static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    unsigned char *data;
    int fd;

    ASSERT_TRUE((fd = open(path, O_RDONLY)) >= 0);
    ASSERT_EQ(fstat(fd, &st), 0);
    data = malloc((size_t)st.st_size + 1);
    ASSERT_EQ(read(fd, data, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return data;
}

/* Parses every pack under packs/ (each must be valid: packs appear only
 * complete) and hashes every record against its id. Returns the count. */
static size_t hash_all_packs(const char *dir)
{
    char path[800];
    size_t n = 0;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/packs", dir);
    if (!(d = opendir(path)))
        return 0;
    while ((de = readdir(d))) {
        char file[1200];
        cairn_pack_index *ix;
        unsigned char *data;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        data = slurp(file, &len);
        ASSERT_OK(cairn__pack_index_parse(file, data, len, len, &ix));
        for (uint64_t k = 0; k < ix->count; k++) {
            cairn_id actual;
            cairn__sha256(data + ix->entries[k].offset, ix->entries[k].length, &actual);
            if (!cairn__id_eq(&actual, &ix->entries[k].id))
                TEST_FAIL("%s: record %llu holds the wrong bytes", file, (unsigned long long)k);
            n++;
        }
        cairn__pack_index_free(ix);
        free(data);
    }
    closedir(d);
    return n;
}

/* Hashes every file under objects/ against its name. Returns the count. */
static size_t hash_all_files(const char *dir)
{
    char path[800];
    size_t n = 0;
    DIR *top, *sub;
    struct dirent *de, *fe;

    snprintf(path, sizeof(path), "%s/objects", dir);
    ASSERT_TRUE((top = opendir(path)) != NULL);
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/objects/%s", dir, de->d_name);
        ASSERT_TRUE((sub = opendir(path)) != NULL);
        while ((fe = readdir(sub))) {
            char hex[CAIRN_ID_HEX + 8], file[1200], actual_hex[CAIRN_ID_HEX + 1];
            struct stat st;
            cairn_id actual;
            unsigned char *data;
            int fd;

            if (fe->d_name[0] == '.')
                continue;
            snprintf(hex, sizeof(hex), "%.2s%.64s", de->d_name, fe->d_name);
            snprintf(file, sizeof(file), "%s/%s", path, fe->d_name);
            ASSERT_TRUE((fd = open(file, O_RDONLY)) >= 0);
            ASSERT_EQ(fstat(fd, &st), 0);
            data = malloc((size_t)st.st_size + 1);
            ASSERT_EQ(read(fd, data, (size_t)st.st_size), st.st_size);
            close(fd);
            cairn__sha256(data, (size_t)st.st_size, &actual);
            cairn_id_to_hex(&actual, actual_hex);
            if (strcmp(hex, actual_hex) != 0)
                TEST_FAIL("%s holds the wrong bytes (%lld bytes)", file, (long long)st.st_size);
            free(data);
            n++;
        }
        closedir(sub);
    }
    closedir(top);
    return n + hash_all_packs(dir);
}

/* ---------------------------------------------------------------- packs */

/* The names of the packs under dir/packs, sorted; returns how many (at
 * most cap). */
static size_t list_packs(const char *dir, char names[][80], size_t cap)
{
    char path[800];
    struct dirent *de;
    size_t n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/packs", dir);
    ASSERT_TRUE((d = opendir(path)) != NULL);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && n < cap)
            snprintf(names[n++], 80, "%.79s", de->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: few names */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char tmp[80];
            memcpy(tmp, names[j], 80), memcpy(names[j], names[j - 1], 80);
            memcpy(names[j - 1], tmp, 80);
        }
    return n;
}

static size_t count_loose(const char *dir)
{
    char path[800];
    size_t n = 0;
    DIR *top, *sub;
    struct dirent *de, *fe;

    snprintf(path, sizeof(path), "%s/objects", dir);
    ASSERT_TRUE((top = opendir(path)) != NULL);
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/objects/%s", dir, de->d_name);
        ASSERT_TRUE((sub = opendir(path)) != NULL);
        while ((fe = readdir(sub)))
            n += fe->d_name[0] != '.';
        closedir(sub);
    }
    closedir(top);
    return n;
}

/* Reads every blob through the stack (hash-checked): each must be there
 * with its bytes, except bad (NULL: none), which must be CAIRN_CORRUPT. */
static void stack_reads(cairn_stack *st, const test_blob *b, size_t n, const test_blob *bad)
{
    for (size_t i = 0; i < n; i++) {
        cairn_buf buf = {0};
        if (bad && cairn__id_eq(&b[i].id, &bad->id)) {
            ASSERT_RC(cairn__stack_get(st, &b[i].id, &buf), CAIRN_CORRUPT);
            continue;
        }
        ASSERT_OK(cairn__stack_get(st, &b[i].id, &buf));
        ASSERT_MEM_EQ(buf.data, buf.len, b[i].data, b[i].len);
        free(buf.data);
    }
}

static int count_visit(void *ctx, const cairn_id *id, size_t len)
{
    (void)id, (void)len;
    ++*(size_t *)ctx;
    return 0;
}

#define PK_N 40

/* A store writes a put of many new blobs as one pack (and a put of few as
 * loose files), reads both, across reopens and read-only; a damaged record
 * is refused by the hash check and repaired loose; a damaged index or
 * footer, or a truncated pack, makes the pack untrusted and named, the
 * rest readable; a pack no ref names is harmless; remove_many rewrites a
 * pack; a store from before packs (no packs/) opens read-only and
 * read-write. */
static void test_packs(const char *opts)
{
    char *dir = fresh_dir(), spec[700], path[1000], names[8][80], hex[13];
    test_blob b[PK_N + 3];
    cairn_blob c[PK_N + 3];
    cairn_stack *st;
    cairn_tier *t;
    size_t n_scan = 0;
    uint64_t blobs = 0, bytes = 0, want_bytes = 0;

    printf("packs %s\n", opts);
    snprintf(spec, sizeof(spec), "file:%s?%s", dir, opts);
    for (size_t i = 0; i < PK_N + 3; i++) {
        b[i] = make_blob(7000 + i, i == 5 ? 0 : 100 + 97 * i);
        c[i] = as_blob(&b[i]);
        want_bytes += b[i].len;
    }
    ASSERT_OK(cairn__stack_open(spec, 0, &st));
    t = cairn__stack_tier(st, 0);
    ASSERT_OK(cairn__tier_put_many(t, c, PK_N)); /* one pack */
    ASSERT_OK(cairn__tier_put_many(t, c + PK_N, 3)); /* loose */
    ASSERT_EQ(list_packs(dir, names, 8), 1);
    ASSERT_EQ(count_loose(dir), 3);
    ASSERT_EQ(hash_all_packs(dir), PK_N);
    stack_reads(st, b, PK_N + 3, NULL);
    /* Putting them again writes nothing new. */
    ASSERT_OK(cairn__tier_put_many(t, c, PK_N + 3));
    ASSERT_EQ(list_packs(dir, names, 8), 1);
    ASSERT_EQ(count_loose(dir), 3);
    cairn__stack_close(st);

    /* Reopened, and read-only: the same, scans and usage included. */
    for (int ro = 0; ro < 2; ro++) {
        ASSERT_OK(cairn__stack_open(spec, ro ? CAIRN_RDONLY : 0, &st));
        t = cairn__stack_tier(st, 0);
        stack_reads(st, b, PK_N + 3, NULL);
        n_scan = 0;
        ASSERT_OK(cairn__tier_scan_ids(t, count_visit, &n_scan));
        ASSERT_EQ(n_scan, PK_N + 3);
        ASSERT_OK(cairn__tier_usage(t, &blobs, &bytes));
        ASSERT_EQ(blobs, PK_N + 3);
        ASSERT_EQ(bytes, want_bytes);
        cairn__stack_close(st);
    }

    /* Another handle writes a pack: a reader opened before finds it. */
    {
        cairn_tier *reader = open_file(dir, opts, CAIRN_RDONLY), *writer = open_file(dir, opts, 0);
        test_blob more[10];
        cairn_blob mc[10];
        cairn_buf out[10];
        cairn_id ids[10];
        for (int i = 0; i < 10; i++) {
            more[i] = make_blob(9100 + (uint64_t)i, 500);
            mc[i] = as_blob(&more[i]);
            ids[i] = more[i].id;
        }
        ASSERT_OK(cairn__tier_put_many(writer, mc, 10));
        ASSERT_OK(cairn__tier_get_many(reader, ids, 10, out));
        for (int i = 0; i < 10; i++) {
            ASSERT_MEM_EQ(out[i].data, out[i].len, more[i].data, more[i].len);
            free(out[i].data);
        }
        /* remove_many rewrites the pack without the blobs removed. */
        ASSERT_OK(cairn__tier_remove_many(writer, ids, 4));
        ASSERT_OK(cairn__tier_get_many(writer, ids, 10, out));
        for (int i = 0; i < 10; i++) {
            ASSERT_TRUE((out[i].data != NULL) == (i >= 4));
            free(out[i].data);
        }
        ASSERT_OK(cairn__tier_get_many(reader, ids, 10, out)); /* its pack is gone */
        for (int i = 0; i < 10; i++) {
            ASSERT_TRUE((out[i].data != NULL) == (i >= 4));
            free(out[i].data);
        }
        ASSERT_OK(cairn__tier_get_many(writer, ids + 4, 6, out + 4));
        for (int i = 4; i < 10; i++)
            free(out[i].data);
        ASSERT_OK(cairn__tier_remove_many(writer, ids + 4, 6)); /* the whole pack */
        ASSERT_EQ(list_packs(dir, names, 8), 1);
        cairn__tier_close(reader);
        cairn__tier_close(writer);
        for (int i = 0; i < 10; i++)
            free(more[i].data);
    }

    /* One flipped byte in a record: that blob fails the hash check, the
     * others read; putting it again writes a good copy loose, which reads
     * prefer. */
    {
        char pack_path[1000];
        cairn_pack_index *ix;
        unsigned char *data;
        size_t len;
        const cairn_pack_entry *e;
        int fd;

        ASSERT_EQ(list_packs(dir, names, 8), 1);
        snprintf(pack_path, sizeof(pack_path), "%s/packs/%s", dir, names[0]);
        data = slurp(pack_path, &len);
        ASSERT_OK(cairn__pack_index_parse(pack_path, data, len, len, &ix));
        e = cairn__pack_lookup(ix, &b[7].id);
        ASSERT_TRUE(e != NULL && e->length > 10);
        ASSERT_TRUE((fd = open(pack_path, O_WRONLY)) >= 0);
        ASSERT_EQ(pwrite(fd, "\xff", 1, (off_t)e->offset + 5) , 1);
        close(fd);
        cairn__pack_index_free(ix);
        free(data);
        ASSERT_OK(cairn__stack_open(spec, 0, &st));
        t = cairn__stack_tier(st, 0);
        stack_reads(st, b, PK_N + 3, &b[7]);
        ASSERT_OK(cairn__tier_put_many(t, &c[7], 1));
        ASSERT_EQ(count_loose(dir), 4);
        stack_reads(st, b, PK_N + 3, NULL);
        cairn__stack_close(st);
    }

    /* A flipped byte in the index or footer: the pack is not trusted; the
     * store opens, names the pack when a blob is found nowhere else, and
     * reads everything else. Putting the blobs again restores them. */
    {
        char pack_path[1000];
        unsigned char *data;
        size_t len;
        cairn_buf buf = {0};
        int fd;

        snprintf(pack_path, sizeof(pack_path), "%s/packs/%s", dir, names[0]);
        data = slurp(pack_path, &len);
        ASSERT_TRUE((fd = open(pack_path, O_WRONLY)) >= 0);
        ASSERT_EQ(pwrite(fd, "\x01", 1, (off_t)len - CAIRN_PACK_FOOTER - 20), 1);
        close(fd);
        free(data);
        ASSERT_OK(cairn__stack_open(spec, 0, &st));
        t = cairn__stack_tier(st, 0);
        ASSERT_RC(cairn__stack_get(st, &b[0].id, &buf), CAIRN_CORRUPT);
        if (!strstr(cairn_errdetail(), names[0]) || !strstr(cairn_errdetail(), "checksum"))
            TEST_FAIL("detail '%s' does not name pack %s and its damage", cairn_errdetail(),
                      names[0]);
        cairn_id_to_hex(&b[0].id, path);
        memcpy(hex, path, 12), hex[12] = '\0';
        ASSERT_TRUE(strstr(cairn_errdetail(), hex) != NULL);
        stack_reads(st, b + PK_N, 3, NULL); /* loose ones */
        stack_reads(st, b + 7, 1, NULL);    /* the loose repair */
        ASSERT_OK(cairn__tier_put_many(t, c, PK_N)); /* restores: a new pack */
        ASSERT_EQ(list_packs(dir, names, 8), 2);
        stack_reads(st, b, PK_N + 3, NULL);
        cairn__stack_close(st);
        /* Away with the damaged pack. */
        for (int i = 0; i < 2; i++) {
            snprintf(pack_path, sizeof(pack_path), "%s/packs/%s", dir, names[i]);
            data = slurp(pack_path, &len);
            cairn_pack_index *ix = NULL;
            if (cairn__pack_index_parse(pack_path, data, len, len, &ix) != 0)
                ASSERT_EQ(unlink(pack_path), 0);
            cairn__pack_index_free(ix);
            free(data);
        }
        ASSERT_EQ(list_packs(dir, names, 8), 1);
    }

    /* A truncated pack (as if it had been renamed into place before its
     * bytes were durable: the writer never does, but a disk may lose them)
     * is refused, never trusted; a pack no ref names is just more blobs; a
     * leftover tmp/pack file of a dead writer goes at open. */
    {
        char src[1000], dst[1000], tmp_left[1000];
        unsigned char *data;
        size_t len;
        test_blob lone = make_blob(424242, 2000);
        cairn_buf buf = {0};
        int fd;

        snprintf(src, sizeof(src), "%s/packs/%s", dir, names[0]);
        data = slurp(src, &len);
        for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
            cairn_tier *r;
            cairn_buf out[PK_N];
            cairn_id ids[PK_N];
            snprintf(dst, sizeof(dst), "%s/packs/0000000000000000-truncated.pack", dir);
            ASSERT_TRUE((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
            ASSERT_EQ(write(fd, data, cut), (long long)cut);
            close(fd);
            r = open_file(dir, opts, CAIRN_RDONLY);
            for (int i = 0; i < PK_N; i++)
                ids[i] = b[i].id;
            ASSERT_OK(cairn__tier_get_many(r, ids, PK_N, out)); /* from the good pack */
            for (int i = 0; i < PK_N; i++) {
                ASSERT_MEM_EQ(out[i].data, out[i].len, b[i].data, b[i].len);
                free(out[i].data);
            }
            ASSERT_RC(cairn__tier_get_many(r, &lone.id, 1, &buf), CAIRN_CORRUPT);
            ASSERT_TRUE(strstr(cairn_errdetail(), "truncated.pack") != NULL);
            cairn__tier_close(r);
        }
        ASSERT_EQ(unlink(dst), 0);
        free(data);
        snprintf(tmp_left, sizeof(tmp_left), "%s/tmp/pack.%ld.3", dir, (long)dead_pid());
        write_file(tmp_left, "CAIRN", 5);
        t = open_file(dir, opts, 0);
        ASSERT_TRUE(access(tmp_left, F_OK) != 0);
        ASSERT_RC(cairn__tier_get_many(t, &lone.id, 1, &buf), 0); /* absent, not an error */
        ASSERT_TRUE(buf.data == NULL);
        cairn__tier_close(t);
        free(lone.data);
    }

    /* A store from before packs: no packs/ directory. */
    snprintf(path, sizeof(path), "rm -rf '%s/packs'", dir);
    ASSERT_EQ(system(path), 0);
    {
        cairn_tier *r = open_file(dir, opts, CAIRN_RDONLY);
        cairn_buf buf = {0};
        ASSERT_OK(cairn__tier_get_many(r, &b[PK_N].id, 1, &buf));
        ASSERT_MEM_EQ(buf.data, buf.len, b[PK_N].data, b[PK_N].len);
        free(buf.data);
        cairn__tier_close(r);
        r = open_file(dir, opts, 0);
        ASSERT_OK(cairn__tier_put_many(r, c, PK_N));
        cairn__tier_close(r);
        ASSERT_EQ(list_packs(dir, names, 8), 1);
    }
    for (size_t i = 0; i < PK_N + 3; i++)
        free(b[i].data);
    free(dir);
}

static void test_sigkill(const char *opts, int rounds)
{
    char *dir = fresh_dir(), tmp_dir[800];
    cairn_id prev_head;
    bool had_head = false;
    int advanced = 0;

    for (int round = 0; round < rounds; round++) {
        struct timespec pause = {0, (long)(20 + test_rand_below(180)) * 1000000L};
        cairn_tier *t;
        cairn_id head;
        cairn_buf man;
        pid_t pid;
        int status, rc, fds[2];
        char ack;

        fflush(NULL);
        ASSERT_EQ(pipe(fds), 0);
        ASSERT_TRUE((pid = fork()) >= 0);
        if (pid == 0) {
            close(fds[0]);
            killed_writer(dir, opts, test_seed + (uint64_t)round, fds[1]);
        }
        close(fds[1]);
        /* Kill at a random moment after the writer has moved the ref once
         * (a fixed pause alone may end before a slow build writes at all). */
        if (read(fds[0], &ack, 1) != 1)
            TEST_FAIL("round %d: the writer died before moving the ref", round);
        close(fds[0]);
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            TEST_FAIL("writer exited by itself: status %d", status);

        /* Reopen: the ref names a complete manifest of complete blobs. */
        t = open_file(dir, opts, 0);
        snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp", dir);
        {
            DIR *d = opendir(tmp_dir);
            struct dirent *de;
            ASSERT_TRUE(d != NULL);
            while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                    TEST_FAIL("round %d: leftover tmp/%s", round, de->d_name);
            closedir(d);
        }
        if ((rc = cairn__tier_ref_get(t, "heads/main", &head)) == CAIRN_NOTFOUND) {
            ASSERT_TRUE(!had_head);
            cairn__tier_close(t);
            continue;
        }
        ASSERT_OK(rc);
        if (!had_head || !cairn__id_eq(&head, &prev_head))
            advanced++;
        prev_head = head;
        had_head = true;
        ASSERT_OK(cairn__tier_get_many(t, &head, 1, &man));
        ASSERT_TRUE(man.data != NULL && man.len == KILL_BATCH * 32);
        {
            cairn_id ids[KILL_BATCH], actual;
            cairn_buf out[KILL_BATCH];
            cairn__sha256(man.data, man.len, &actual);
            ASSERT_TRUE(cairn__id_eq(&actual, &head));
            for (int i = 0; i < KILL_BATCH; i++)
                memcpy(ids[i].bytes, (unsigned char *)man.data + 32 * i, 32);
            ASSERT_OK(cairn__tier_get_many(t, ids, KILL_BATCH, out));
            for (int i = 0; i < KILL_BATCH; i++) {
                ASSERT_TRUE(out[i].data != NULL);
                cairn__sha256(out[i].data, out[i].len, &actual);
                ASSERT_TRUE(cairn__id_eq(&actual, &ids[i]));
                free(out[i].data);
            }
        }
        free(man.data);
        cairn__tier_close(t);
        hash_all_files(dir);
    }
    printf("sigkill %s: %d rounds, the ref advanced in %d, %zu files verified\n", opts, rounds,
           advanced, hash_all_files(dir));
    ASSERT_TRUE(advanced > 0);
    free(dir);
}

/* ---------------------------------------------------------------- threads */

struct reader_arg {
    cairn_tier *t;
    test_blob *blobs;
    size_t n;
    int rounds;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    cairn_id ids[32];
    cairn_buf out[32];

    for (int r = 0; r < a->rounds; r++) {
        size_t k = 1 + (size_t)(r * 7 % 32), start = (size_t)(r * 13) % a->n;
        for (size_t j = 0; j < k; j++)
            ids[j] = a->blobs[(start + j) % a->n].id;
        if (cairn__tier_get_many(a->t, ids, k, out) != 0)
            return (void *)1;
        for (size_t j = 0; j < k; j++) {
            const test_blob *b = &a->blobs[(start + j) % a->n];
            if (!out[j].data || out[j].len != b->len || memcmp(out[j].data, b->data, b->len))
                return (void *)2;
            free(out[j].data);
        }
    }
    return NULL;
}

/* Readers in several threads at once share the tier (and its rings) while
 * a writer adds more blobs. */
static void test_threads(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_file(dir, "sync=none", 0);
    enum { N = 256, THREADS = 6 };
    test_blob *b = calloc(N * 2, sizeof(*b));
    pthread_t th[THREADS];
    struct reader_arg arg;

    for (size_t i = 0; i < N * 2; i++) {
        b[i] = make_blob(7000 + i, 100 + i * 13);
        if (i < N)
            ASSERT_OK(put_one(t, &b[i]));
    }
    arg = (struct reader_arg){t, b, N, scaled(300, 30)};
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, reader_main, &arg), 0);
    for (size_t i = N; i < 2 * N; i++)
        ASSERT_OK(put_one(t, &b[i]));
    for (int i = 0; i < THREADS; i++) {
        void *res;
        ASSERT_EQ(pthread_join(th[i], &res), 0);
        ASSERT_TRUE(res == NULL);
    }
    for (size_t i = 0; i < 2 * N; i++) {
        ASSERT_TRUE(holds(t, &b[i]));
        free(b[i].data);
    }
    cairn__tier_close(t);
    free(b);
    free(dir);
}

/* A handle used in a child after fork() never touches the parent's rings
 * (they are shared memory): the child's batches run on system calls, and
 * the parent's handle keeps working. */
static void test_fork(void)
{
    char *dir = fresh_dir();
    cairn_tier *t = open_file(dir, "", 0);
    test_blob a = make_blob(61, 3000), b = make_blob(62, 3000);
    int status;
    pid_t pid;

    ASSERT_OK(put_one(t, &a));
    fflush(NULL);
    ASSERT_TRUE((pid = fork()) >= 0);
    if (pid == 0) {
        uint64_t submits = t->counters.io_submits, ops = t->counters.io_ops;
        if (put_one(t, &b) != 0 || !holds(t, &a) || !holds(t, &b))
            _exit(2);
        if (t->counters.io_submits != submits || t->counters.io_ops == ops)
            _exit(3);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("fork child failed: status %d", status);
    ASSERT_TRUE(holds(t, &b));
    ASSERT_OK(cairn__tier_remove_many(t, &b.id, 1));
    ASSERT_OK(put_one(t, &b));
    ASSERT_TRUE(holds(t, &a) && holds(t, &b));
    cairn__tier_close(t);
    free(a.data), free(b.data);
    free(dir);
}

/* ---------------------------------------------------------------- fallback */

/* Forbids io_uring_setup (EPERM) in this process, as container sandboxes
 * do. */
static int forbid_io_uring(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Runs in a child with stderr in a file: opens two tiers (and a forced
 * fallback, which says nothing), uses them, exits 0 if all went well. */
static void fallback_child(const char *dir, const char *log_path, bool forbid)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    test_blob b = make_blob(42, 10000);
    cairn_tier *t1 = NULL, *t2 = NULL;
    char spec[700];

    if (fd < 0 || dup2(fd, 2) < 0)
        _exit(2);
    if (forbid && forbid_io_uring() != 0)
        _exit(77);
    snprintf(spec, sizeof(spec), "file:%s/%s", dir, forbid ? "a" : "forced?io=syscall");
    if (cairn__tier_open(spec, 0, &t1))
        _exit(3);
    snprintf(spec, sizeof(spec), "file:%s/%s", dir, forbid ? "b" : "forced2?io=syscall");
    if (cairn__tier_open(spec, 0, &t2))
        _exit(3);
    if (t1->counters.io_uring || t2->counters.io_uring)
        _exit(4);
    if (put_one(t1, &b) || !holds(t1, &b) || put_one(t2, &b) || !holds(t2, &b))
        _exit(5);
    if (t1->counters.io_submits || !t1->counters.io_ops)
        _exit(6);
    cairn__tier_close(t1);
    cairn__tier_close(t2);
    free(b.data);
    _exit(0);
}

static void test_fallback(void)
{
    char *dir = fresh_dir(), log_path[700], text[1024];
    int status, forbid_start = 1;

    ASSERT_EQ(mkdir(dir, 0755), 0);
    {
        char sub[700];
        snprintf(sub, sizeof(sub), "%s/probe", dir);
        cairn_tier *t = open_file(sub, "", 0);
        bool works = t->counters.io_uring;
        cairn__tier_close(t);
        if (!works) {
            printf("io_uring unavailable here: only the forced fallback is checked\n");
            forbid_start = 0;
        }
    }
    for (int forbid = forbid_start; forbid >= 0; forbid--) {
        pid_t pid;

        snprintf(log_path, sizeof(log_path), "%s/stderr-%d", dir, forbid);
        fflush(NULL);
        ASSERT_TRUE((pid = fork()) >= 0);
        if (pid == 0)
            fallback_child(dir, log_path, forbid);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            printf("seccomp unavailable: forbidden-io_uring fallback not checked\n");
            continue;
        }
        read_file(log_path, text, sizeof(text));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            TEST_FAIL("fallback child (forbid %d): status %d, stderr: %s", forbid, status, text);
        if (forbid) {
            const char *msg = "cairn: io_uring unavailable (io_uring_setup: Operation not "
                              "permitted); the file tier uses plain system calls\n";
            if (strcmp(text, msg) != 0)
                TEST_FAIL("stderr was '%s', want it once: '%s'", text, msg);
        } else if (text[0]) {
            TEST_FAIL("io=syscall printed '%s'", text);
        }
    }
    free(dir);
}

int main(void)
{
    test_seed_init(3);
    test_specs();
    test_layout();
    test_refs("");
    test_refs("sync=none&io=syscall");
    test_batching();
    test_short_write("io=uring");
    test_short_write("io=syscall");
    test_leftovers();
    test_copy();
    test_corrupt("io=uring");
    test_corrupt("io=syscall");
    test_packs("io=uring");
    test_packs("io=syscall&sync=none");
    test_writer_lock();
    test_fallback();
    test_threads();
    test_fork();
    model_run("io=uring&sync=none", "io=syscall&sync=none", scaled(3000, 300));
    model_run("io=syscall", "io=uring&queue=8", scaled(1500, 200));
    model_run("pack=2", "pack=0", scaled(1500, 200)); /* mixed loose and packed */
    test_sigkill("io=uring", scaled(6, 3));
    test_sigkill("io=syscall&queue=8", scaled(3, 2));
    printf("ok\n");
    return 0;
}
