/*
 * test_tier_pins.c - pins at the tier level (tier.h) on mem, lmdb and file
 * (S3: test_tier_s3_pins.c):
 *  - put, replace, list, delete; hostile names and sizes refused
 *    (check_tier_pins in tierutil.c);
 *  - a handle opened read-only writes and deletes pins (lmdb, file), in a
 *    process of its own, and refuses every other write;
 *  - records left behind the tier's back: one too large is listed unread,
 *    names that are no pin names (a path, a dot file, a folder) are skipped,
 *    never followed.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "tier.h"
#include "tierutil.h"

static cairn_tier *open_tier(const char *spec, unsigned flags)
{
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    return t;
}

/* A store with one ref, so that a read-only open finds it. */
static void make_store(const char *spec)
{
    cairn_tier *t = open_tier(spec, 0);
    test_blob b = make_blob(test_seed, 100);
    cairn_blob c = as_blob(&b);
    ASSERT_OK(cairn__tier_publish(t, &c, 1, "heads/main", NULL, &b.id));
    cairn__tier_close(t);
    free(b.data);
}

/* In a child process (LMDB: one environment per path per process): a
 * read-only handle puts a pin, lists it and deletes one, and may not write
 * a blob or a ref. Exits 0 when all held. */
static void read_only_child(const char *spec)
{
    pid_t pid = fork();
    int status;

    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        cairn_tier *t = open_tier(spec, CAIRN_RDONLY);
        test_blob b = make_blob(test_seed + 1, 50);
        char got[CAIRN_PIN_RECORD_MAX];
        size_t len;
        ASSERT_OK(cairn__tier_pin_put(t, "reader-1", "lease", 5));
        ASSERT_OK(cairn__tier_pin_put(t, "reader-2", "lease2", 6));
        ASSERT_OK(cairn__tier_pin_delete(t, "reader-2"));
        ASSERT_EQ(list_pins(t, "reader-1", got, &len, NULL), 1);
        ASSERT_MEM_EQ(got, len, "lease", 5);
        ASSERT_RC(put_one(t, &b), CAIRN_RDONLY_STORE);
        ASSERT_RC(cairn__tier_ref_cas(t, "heads/x", NULL, &b.id), CAIRN_RDONLY_STORE);
        cairn__tier_close(t);
        free(b.data);
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        TEST_FAIL("%s: the read-only child failed (status %d)", spec, status);
    /* The writer's handle sees the reader's pin. */
    cairn_tier *t = open_tier(spec, 0);
    ASSERT_EQ(list_pins(t, "reader-1", NULL, NULL, NULL), 1);
    ASSERT_OK(cairn__tier_pin_delete(t, "reader-1"));
    cairn__tier_close(t);
    printf("%s: a read-only handle in another process pins, and writes nothing else\n", spec);
}

static void mem_tier(void)
{
    cairn_tier *t = open_tier("mem", 0);
    check_tier_pins(t, "mem");
    cairn__tier_close(t);
}

static void lmdb_tier(const char *dir)
{
    char spec[700], path[600];
    size_t len;
    bool unread;

    snprintf(path, sizeof(path), "%s/lmdb", dir);
    snprintf(spec, sizeof(spec), "lmdb:%s", path);
    make_store(spec);
    cairn_tier *t = open_tier(spec, 0);
    check_tier_pins(t, spec);
    cairn__tier_close(t);
    read_only_child(spec);
    t = open_tier(spec, 0);
    ASSERT_OK(cairn__tier_pin_put(t, "kept", "k", 1));
    cairn__tier_close(t);
    /* Behind the tier's back: a key that is no pin name, a record too large. */
    static char big[2000];
    memset(big, 'b', sizeof(big));
    raw_lmdb(path, "pins", "../evil", 7, "x", 1, NULL, NULL);
    raw_lmdb(path, "pins", "a/b", 3, "x", 1, NULL, NULL);
    raw_lmdb(path, "pins", "huge", 4, big, sizeof(big), NULL, NULL);
    t = open_tier(spec, 0);
    ASSERT_EQ(list_pins(t, "huge", NULL, &len, &unread), 2); /* kept and huge */
    ASSERT_TRUE(unread);
    ASSERT_EQ(len, sizeof(big));
    ASSERT_OK(cairn__tier_pin_delete(t, "huge"));
    ASSERT_EQ(list_pins(t, "kept", NULL, NULL, NULL), 1);
    cairn__tier_close(t);
    printf("%s: a record too large is listed unread; other keys are skipped\n", spec);
}

static void file_tier(const char *dir)
{
    char spec[600], path[700];
    size_t len;
    bool unread;

    snprintf(spec, sizeof(spec), "file:%s/file", dir);
    make_store(spec);
    cairn_tier *t = open_tier(spec, 0);
    check_tier_pins(t, spec);
    cairn__tier_close(t);
    read_only_child(spec);
    /* Behind the tier's back. */
    static char big[2000];
    memset(big, 'b', sizeof(big));
    snprintf(path, sizeof(path), "%s/file/pins/huge", dir);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f && fwrite(big, 1, sizeof(big), f) == sizeof(big) && fclose(f) == 0);
    snprintf(path, sizeof(path), "%s/file/pins/.hidden", dir);
    test_write_text(path, "x");
    snprintf(path, sizeof(path), "%s/file/pins/a b", dir);
    test_write_text(path, "x");
    snprintf(path, sizeof(path), "%s/file/pins/folder", dir);
    ASSERT_OK(mkdir(path, 0755));
    snprintf(path, sizeof(path), "%s/file/pins/link", dir);
    ASSERT_OK(symlink("/etc/passwd", path));
    snprintf(path, sizeof(path), "%s/file/pins/garbage", dir);
    test_write_text(path, "\xff\x01 not msgpack");
    t = open_tier(spec, 0);
    char got[CAIRN_PIN_RECORD_MAX];
    ASSERT_EQ(list_pins(t, "huge", NULL, &len, &unread), 2); /* huge and garbage */
    ASSERT_TRUE(unread);
    ASSERT_EQ(len, sizeof(big));
    list_pins(t, "garbage", got, &len, &unread);
    ASSERT_TRUE(!unread); /* bytes are the engine's to judge */
    ASSERT_MEM_EQ(got, len, "\xff\x01 not msgpack", 14);
    ASSERT_OK(cairn__tier_pin_delete(t, "huge"));
    ASSERT_OK(cairn__tier_pin_delete(t, "garbage"));
    ASSERT_EQ(list_pins(t, NULL, NULL, NULL, NULL), 0);
    cairn__tier_close(t);
    printf("%s: a record too large is listed unread; dot files, bad names, folders and "
           "links are skipped\n", spec);
}

int main(void)
{
    char dir[512];

    test_seed_init(11);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    mem_tier();
    lmdb_tier(dir);
    file_tier(dir);
    printf("ok\n");
    return 0;
}
