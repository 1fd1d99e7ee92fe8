/*
 * test_engine_refs.c - damaged refs are reported, one by one, and a store
 * that lost its refs or settings is never taken for a new one.
 *
 *  - One ref's stored value damaged (a file store's ref file of garbage; an
 *    LMDB ref record with a flipped bit in its value, or one moved under
 *    another name, which the record's checksum catches): listing goes on
 *    and lists every other ref, then says which is damaged; reading it is
 *    CAIRN_CORRUPT; verify reports it and checks every other ref.
 *  - LMDB ref records of the older 32-byte form (no checksum) still read.
 *  - A store whose refs/ folder or meta/config ref is gone refuses to open
 *    for writing (it is not new: opening it as new would start a fresh
 *    history, maybe with another node size), while a read-only open lets
 *    verify say what is wrong; a store that only holds a settings blob (a
 *    creation cut short) opens as new.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "id.h"
#include "test.h"
#include "tierutil.h"

static cairn_db *open_db(const char *spec, unsigned flags)
{
    cairn_options o;
    cairn_db *db;
    cairn_options_init(&o);
    o.flags = flags;
    ASSERT_OK(cairn_open(spec, &o, &db));
    return db;
}

/* A store with main and three tags. */
static void fill(const char *spec)
{
    cairn_db *db = open_db(spec, 0);
    for (int i = 0; i < 3; i++) {
        char key[8], tag[8];
        cairn_txn *txn;
        cairn_id head;
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(tag, sizeof(tag), "v%d", i);
        ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), "x", 1));
        ASSERT_OK(cairn_txn_commit(txn, NULL, &head));
        ASSERT_OK(cairn_ref_set(db, CAIRN_TAG, tag, &head, 0));
    }
    cairn_close(db);
}

typedef struct names {
    char text[512];
} names;

static int collect(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    names *n = ctx;
    (void)commit;
    snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text), "%s%s ",
             kind == CAIRN_TAG ? "tag:" : "", name);
    return 0;
}

static int note_problem(void *ctx, const char *msg)
{
    char *all = ctx;
    snprintf(all + strlen(all), 4096 - strlen(all), "%s\n", msg);
    return 0;
}

/* The damaged tag v1: listed around, reported by verify, corrupt to read. */
static void check_damaged_tag(const char *spec, const char *what)
{
    cairn_db *db = open_db(spec, CAIRN_RDONLY);
    names n = {""};
    char problems[4096] = "";
    cairn_verify_report rep;
    cairn_id id;

    ASSERT_RC(cairn_ref_list(db, collect, &n), CAIRN_CORRUPT);
    if (strcmp(n.text, "main tag:v0 tag:v2 ") != 0)
        TEST_FAIL("%s: listing with a damaged tag gave '%s'", what, n.text);
    if (!strstr(cairn_errdetail(), "tags/v1"))
        TEST_FAIL("%s: the listing error does not name the tag: %s", what, cairn_errdetail());
    ASSERT_RC(cairn_resolve(db, "v1", &id), CAIRN_CORRUPT);
    ASSERT_OK(cairn_resolve(db, "v2", &id));
    ASSERT_RC(cairn_verify(db, note_problem, problems, &rep), CAIRN_VERIFY);
    if (rep.problems != 1 || !strstr(problems, "ref 'tags/v1'") || rep.refs != 3)
        TEST_FAIL("%s: verify found %llu problems over %llu refs:\n%s", what,
                  (unsigned long long)rep.problems, (unsigned long long)rep.refs, problems);
    printf("%-40s listed around, verify: %s", what, problems);
    cairn_close(db);
}

static void expect_refused(const char *spec, const char *needle, const char *what)
{
    cairn_options o;
    cairn_db *db;
    char problems[4096] = "";

    cairn_options_init(&o);
    for (int round = 0; round < 2; round++) {
        ASSERT_RC(cairn_open(spec, &o, &db), CAIRN_CORRUPT);
        if (!strstr(cairn_errdetail(), "not new"))
            TEST_FAIL("%s: '%s'", what, cairn_errdetail());
    }
    db = open_db(spec, CAIRN_RDONLY);
    ASSERT_RC(cairn_verify(db, note_problem, problems, NULL), CAIRN_VERIFY);
    if (!strstr(problems, needle))
        TEST_FAIL("%s: verify said:\n%s", what, problems);
    printf("%-40s refused for writing; verify: %s", what, problems);
    cairn_close(db);
}

int main(void)
{
    char dir[PATH_MAX], spec[PATH_MAX + 32], path[PATH_MAX + 64];

    test_seed_init(1);

    /* ---- file store: a ref file of garbage */
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s", dir);
    fill(spec);
    snprintf(path, sizeof(path), "%s/refs/tags/v1", dir);
    test_write_text(path, "not an id\n");
    check_damaged_tag(spec, "file: a ref file of garbage");

    /* ---- lmdb: a flipped bit in a record, a record under another name */
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    fill(spec);
    {
        uint8_t rec[64], *good;
        size_t len;
        raw_lmdb(dir, "refs", "tags/v1", 7, NULL, 0, (void **)&good, &len);
        ASSERT_EQ(len, 40);
        memcpy(rec, good, len);
        rec[5] ^= 0x10;
        raw_lmdb(dir, "refs", "tags/v1", 7, rec, len, NULL, NULL);
        check_damaged_tag(spec, "lmdb: a flipped bit in a ref's value");
        /* the good record moved under another name (a flipped key bit) */
        raw_lmdb(dir, "refs", "tags/v1", 7, NULL, 0, NULL, NULL);
        raw_lmdb(dir, "refs", "tags/v3", 7, good, len, NULL, NULL);
        {
            cairn_db *db = open_db(spec, CAIRN_RDONLY);
            cairn_id id;
            ASSERT_RC(cairn_resolve(db, "v3", &id), CAIRN_CORRUPT);
            if (!strstr(cairn_errdetail(), "checksum"))
                TEST_FAIL("a renamed ref record: '%s'", cairn_errdetail());
            cairn_close(db);
        }
        /* the older form: a bare 32-byte id reads as it is */
        raw_lmdb(dir, "refs", "tags/v3", 7, NULL, 0, NULL, NULL);
        raw_lmdb(dir, "refs", "tags/v1", 7, good, 32, NULL, NULL);
        {
            cairn_db *db = open_db(spec, 0);
            cairn_id id;
            ASSERT_OK(cairn_resolve(db, "v1", &id));
            ASSERT_TRUE(memcmp(id.bytes, good, 32) == 0);
            ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
            cairn_close(db);
        }
        free(good);
        printf("lmdb: a renamed record fails its checksum; a 32-byte record still reads\n");
    }

    /* ---- lost refs and settings */
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s", dir);
    fill(spec);
    snprintf(path, sizeof(path), "rm -rf '%s/refs'", dir);
    ASSERT_EQ(system(path), 0);
    expect_refused(spec, "holds blobs but no refs", "file: refs/ deleted");

    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s", dir);
    fill(spec);
    snprintf(path, sizeof(path), "%s/refs/meta/config", dir);
    ASSERT_TRUE(unlink(path) == 0);
    expect_refused(spec, "no settings (ref meta/config): missing", "file: meta/config deleted");

    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    fill(spec);
    raw_lmdb(dir, "refs", "meta/config", 11, NULL, 0, NULL, NULL);
    expect_refused(spec, "no settings (ref meta/config): missing", "lmdb: meta/config deleted");

    /* ---- a creation cut short: only a settings blob; it opens as new */
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s?sync=none", dir);
    {
        cairn_db *db = open_db(spec, 0);
        cairn_close(db);
    }
    snprintf(path, sizeof(path), "%s/refs/meta/config", dir);
    ASSERT_TRUE(unlink(path) == 0);
    {
        cairn_db *db = open_db(spec, 0);
        ASSERT_OK(cairn_verify(db, NULL, NULL, NULL));
        cairn_close(db);
    }
    printf("a store holding only a settings blob opens as new\n");
    printf("ok\n");
    return 0;
}
