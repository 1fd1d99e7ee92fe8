/*
 * test_engine_specs.c - a spec that is refused changes nothing on disk, and
 * no spec can turn a store into something else.
 *
 * Two stores with data (a file store and an lmdb store), a directory of
 * unrelated files and an LMDB environment of another program are opened
 * with every kind of wrong spec: a cache with nothing durable behind it, a
 * store named as a cache, a store of one kind named as the other, a
 * non-empty foreign directory, a bad option or tier after a good tier,
 * a different node size, a read-only open of nothing. Each open must fail
 * with the expected code and a detail naming the problem, each twice (an
 * error path taken a second time must behave the same), and afterwards
 * every file of every directory (but LMDB's lock file, which any reader
 * touches) must be byte for byte what it was, no directory named by the
 * spec may have been created, and both stores must still count and verify.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "id.h"
#include "test.h"

#define KEYS 300

static char file_store[PATH_MAX], lmdb_store[PATH_MAX], other_dir[PATH_MAX];
static char foreign_lmdb[PATH_MAX], new_dir[PATH_MAX], new_dir2[PATH_MAX];

/* ---- a fingerprint of a directory tree: names, sizes, contents -------- */

typedef struct fingerprint {
    char text[65536];
    size_t len;
} fingerprint;

/* Appends the line "a b" (or "a" if b is empty). */
static void fp_line(fingerprint *fp, const char *a, const char *b)
{
    int n = snprintf(fp->text + fp->len, sizeof(fp->text) - fp->len, "%s%s%s\n", a,
                     *b ? " " : "", b);
    ASSERT_TRUE(n > 0 && (size_t)n < sizeof(fp->text) - fp->len);
    fp->len += (size_t)n;
}

static void fp_walk(fingerprint *fp, const char *dir, const char *rel)
{
    char path[PATH_MAX], child[PATH_MAX];
    struct dirent **names;
    int n;

    snprintf(path, sizeof(path), "%s%s", dir, rel);
    if ((n = scandir(path, &names, NULL, alphasort)) < 0) {
        fp_line(fp, rel, "absent");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "lock.mdb") == 0) {
            free(names[i]);
            continue;
        }
        snprintf(child, sizeof(child), "%s/%s", rel, name);
        snprintf(path, sizeof(path), "%s%s", dir, child);
        ASSERT_TRUE(lstat(path, &st) == 0);
        if (S_ISDIR(st.st_mode)) {
            fp_line(fp, child, "(directory)");
            fp_walk(fp, dir, child);
        } else {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id sum;
            int fd = open(path, O_RDONLY);
            void *data = malloc(st.st_size ? (size_t)st.st_size : 1);
            ASSERT_TRUE(fd >= 0 && data);
            ASSERT_EQ(read(fd, data, (size_t)st.st_size), st.st_size);
            close(fd);
            cairn__sha256(data, (size_t)st.st_size, &sum);
            cairn_id_to_hex(&sum, hex);
            free(data);
            fp_line(fp, child, hex);
        }
        free(names[i]);
    }
    free(names);
}

static void fingerprint_all(fingerprint *fp)
{
    const char *dirs[] = {file_store, lmdb_store, other_dir, foreign_lmdb, new_dir, new_dir2};
    fp->len = 0;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        fp_line(fp, "==", dirs[i]);
        fp_walk(fp, dirs[i], "");
    }
}

/* ---- setup ------------------------------------------------------------- */

static void fill(const char *spec)
{
    cairn_db *db;
    cairn_txn *txn;
    char key[32], val[32];

    ASSERT_OK(cairn_open(spec, NULL, &db));
    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        snprintf(val, sizeof(val), "value %d", i * 7);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), val, strlen(val)));
    }
    ASSERT_OK(cairn_txn_commit(txn, "fill", NULL));
    cairn_close(db);
}

/* An LMDB environment of some other program: one named database. */
static void make_foreign_lmdb(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {5, "alice"}, v = {3, "123"};

    ASSERT_TRUE(mkdir(dir, 0755) == 0);
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 4), 0);
    ASSERT_EQ(mdb_env_open(env, dir, 0, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "users", MDB_CREATE, &dbi), 0);
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void check_store(const char *spec)
{
    cairn_options o;
    cairn_db *db;
    cairn_snapshot *snap;
    uint64_t count;

    cairn_options_init(&o);
    o.flags = CAIRN_RDONLY;
    ASSERT_OK(cairn_open(spec, &o, &db));
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &count));
    ASSERT_EQ(count, KEYS);
    cairn_snapshot_close(snap);
    ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
    cairn_close(db);
}

/* ---- the cases ------------------------------------------------------- */

typedef struct refusal {
    const char *fmt;     /* the spec; %1$s..%6$s are the directories below */
    unsigned flags;      /* CAIRN_RDONLY */
    uint32_t node_size;  /* opts.node_size */
    int want;            /* the error */
    const char *needle;  /* a word the detail must contain */
} refusal;

static void expand(const char *fmt, char *out, size_t cap)
{
    const char *dirs[] = {file_store, lmdb_store, other_dir, foreign_lmdb, new_dir, new_dir2};
    size_t n = 0;

    for (const char *p = fmt; *p && n + 1 < cap; p++) {
        if (*p == '%' && p[1] >= '1' && p[1] <= '6') {
            n += (size_t)snprintf(out + n, cap - n, "%s", dirs[p[1] - '1']);
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* cairn_spec_redact: the user part of every address, and nothing else. */
static void test_redact(void)
{
    static const char *const cases[][2] = {
        {"redis://bob:pw@h:1/0", "redis://***@h:1/0"},
        {"redis://:pw@h", "redis://***@h"},
        {"mem>redis://u:p@h:1?prefix=a@b>lmdb:/x@y", "mem>redis://***@h:1?prefix=a@b>lmdb:/x@y"},
        {"s3://b/p?endpoint=http://k:s@h:9000", "s3://b/p?endpoint=http://***@h:9000"},
        {"redis://a@h>redis://b@h", "redis://***@h>redis://***@h"},
        {"lmdb:/data>file:/cache", "lmdb:/data>file:/cache"},
        {"redis://h/0", "redis://h/0"},
        {"redis://", "redis://"},
        {"", ""},
    };
    char out[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cairn_spec_redact(cases[i][0], out, sizeof(out));
        if (strcmp(out, cases[i][1]) != 0)
            TEST_FAIL("redact '%s': '%s', want '%s'", cases[i][0], out, cases[i][1]);
    }
    /* truncated, always terminated, never past cap */
    memset(out, 'z', sizeof(out));
    cairn_spec_redact("redis://user:secret@host", out, 12);
    ASSERT_TRUE(strcmp(out, "redis://***") == 0);
    ASSERT_TRUE(out[12] == 'z');
    ASSERT_TRUE(cairn_spec_redact(NULL, out, sizeof(out)) == out && out[0] == 0);
}

int main(void)
{
    test_redact();
    /* %1 file store, %2 lmdb store, %3 unrelated files, %4 foreign LMDB,
     * %5 and %6 do not exist. */
    static const refusal cases[] = {
        {"file:%1?capacity=1K", 0, 0, CAIRN_BADSPEC, "needs a durable tier"},
        {"file:%1?capacity=1K", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "needs a durable tier"},
        {"file:%1?capacity=100K>lmdb:%5", 0, 0, CAIRN_BADSPEC, "holds a store"},
        {"file:%1?capacity=100K>lmdb:%2", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "holds a store"},
        {"mem>file:%1?capacity=100K>lmdb:%2", 0, 0, CAIRN_BADSPEC, "holds a store"},
        {"lmdb:%5>file:%1?capacity=1K", 0, 0, CAIRN_BADSPEC, "needs a durable tier"},
        {"lmdb:%1", 0, 0, CAIRN_BADSPEC, "file store"},
        {"lmdb:%1", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "file store"},
        {"file:%2", 0, 0, CAIRN_BADSPEC, "lmdb store"},
        {"file:%2", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "lmdb store"},
        {"lmdb:%3", 0, 0, CAIRN_BADSPEC, "not empty"},
        {"lmdb:%3", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "not empty"},
        {"file:%3", 0, 0, CAIRN_BADSPEC, "not empty"},
        {"lmdb:%4", 0, 0, CAIRN_BADSPEC, "not a cairn store"},
        {"lmdb:%4", CAIRN_RDONLY, 0, CAIRN_BADSPEC, "not a cairn store"},
        {"lmdb:%5>lmdb:%3", 0, 0, CAIRN_BADSPEC, "not empty"},
        {"file:%5>file:%6?capacity=-1", 0, 0, CAIRN_BADSPEC, "capacity"},
        {"lmdb:%2>bogus:x", 0, 0, CAIRN_BADSPEC, "unknown tier"},
        {"lmdb:%2?map_size=lots", 0, 0, CAIRN_BADSPEC, "map_size"},
        {"file:%1?sync=sometimes", 0, 0, CAIRN_BADSPEC, "sync"},
        {"lmdb:%2", 0, 512, CAIRN_BADARG, "node size"},
        {"file:%1", 0, 1024, CAIRN_BADARG, "node size"},
        {"lmdb:%5", CAIRN_RDONLY, 0, CAIRN_NOTFOUND, "no store"},
        {"file:%5", CAIRN_RDONLY, 0, CAIRN_NOTFOUND, "no store"},
        {"mem:1M>file:%5>lmdb:%2", CAIRN_RDONLY, 0, CAIRN_NOTFOUND, "?capacity=SIZE"},
        {"file:%5?sync=none>lmdb:%2", CAIRN_RDONLY, 0, CAIRN_NOTFOUND, "&capacity=SIZE"},
        {"mem:1K", 0, 0, CAIRN_BADSPEC, "needs a durable tier"},
    };
    fingerprint *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
    char spec[PATH_MAX * 3], path[PATH_MAX + 16];
    int fd;

    ASSERT_TRUE(before && after);
    test_seed_init(1);
    snprintf(file_store, sizeof(file_store), "%s", test_tmpdir());
    snprintf(lmdb_store, sizeof(lmdb_store), "%s", test_tmpdir());
    snprintf(other_dir, sizeof(other_dir), "%s", test_tmpdir());
    snprintf(foreign_lmdb, sizeof(foreign_lmdb), "%s", test_tmpdir());
    snprintf(new_dir, sizeof(new_dir), "%s", test_tmpdir());
    snprintf(new_dir2, sizeof(new_dir2), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s", file_store);
    fill(spec);
    snprintf(spec, sizeof(spec), "lmdb:%s", lmdb_store);
    fill(spec);
    ASSERT_TRUE(mkdir(other_dir, 0755) == 0);
    snprintf(path, sizeof(path), "%s/notes.txt", other_dir);
    ASSERT_TRUE((fd = open(path, O_WRONLY | O_CREAT, 0644)) >= 0);
    ASSERT_EQ(write(fd, "not a store\n", 12), 12);
    close(fd);
    make_foreign_lmdb(foreign_lmdb);
    fingerprint_all(before);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const refusal *c = &cases[i];
        cairn_options o;
        cairn_db *db = NULL;

        expand(c->fmt, spec, sizeof(spec));
        cairn_options_init(&o);
        o.flags = c->flags;
        o.node_size = c->node_size;
        for (int round = 0; round < 2; round++) {
            ASSERT_RC(cairn_open(spec, &o, &db), c->want);
            ASSERT_TRUE(db == NULL);
            if (!strstr(cairn_errdetail(), c->needle))
                TEST_FAIL("case %zu (%s): detail '%s' does not say '%s'", i, c->fmt,
                          cairn_errdetail(), c->needle);
        }
        fingerprint_all(after);
        if (after->len != before->len || memcmp(after->text, before->text, after->len) != 0)
            TEST_FAIL("case %zu: refusing '%s' changed files on disk:\n--- before\n%s--- after\n%s",
                      i, spec, before->text, after->text);
    }
    snprintf(spec, sizeof(spec), "file:%s", file_store);
    check_store(spec);
    snprintf(spec, sizeof(spec), "lmdb:%s", lmdb_store);
    check_store(spec);
    printf("%zu refused specs, each twice: nothing changed on disk\n",
           sizeof(cases) / sizeof(cases[0]));
    free(before);
    free(after);
    printf("ok\n");
    return 0;
}
