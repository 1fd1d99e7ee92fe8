/*
 * test_engine_idsort.c - id sets sorted on disk (engine/idsort.h), the
 * building block of gc's bounded memory.
 *
 * A randomized model: ids with many duplicates, added in random order
 * through runs from tiny (64 ids: hundreds of run files, a deep merge) to
 * larger than the set, must read back exactly as the sorted unique set,
 * and the runs must be gone after close. Then damage: a truncated file, a
 * flipped byte in an id, a wrong count, another file's magic; each is
 * CAIRN_CORRUPT (or refused at open), every time it is read, never a
 * short set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "idsort.h"
#include "test.h"

static int id_cmp_void(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

static cairn_id random_id(uint64_t space)
{
    cairn_id id;
    uint64_t v = test_rand_below(space);
    memset(&id, 0, sizeof(id));
    for (int i = 0; i < 8; i++)
        id.bytes[i * 4] = (uint8_t)(v >> (8 * i)); /* spread: runs see varied prefixes */
    id.bytes[31] = (uint8_t)(v * 131);
    return id;
}

static size_t files_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    ASSERT_TRUE(d != NULL);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Reads path back whole; returns the count read, or the error. */
static int read_all(const char *path, cairn_id *out, size_t cap, size_t *n)
{
    cairn_idfile *f;
    int rc;
    *n = 0;
    if ((rc = cairn__idfile_open(path, &f)))
        return rc;
    cairn_id id;
    while ((rc = cairn__idfile_next(f, &id)) == 1) {
        if (*n < cap)
            out[*n] = id;
        (*n)++;
    }
    if (rc == 0 && cairn__idfile_next(f, &id) != 0) /* the end stays the end */
        rc = -1;
    cairn__idfile_close(f);
    return rc;
}

static void model_round(const char *dir, int round)
{
    size_t n = test_rand_below(5000);
    uint64_t space = 1 + test_rand_below(n ? 2 * n : 10);
    size_t run_bytes = test_rand_below(2) ? 64 * 32 : (1 + test_rand_below(8192)) * 32;
    cairn_id *all = calloc(n ? n : 1, sizeof(*all));
    cairn_id *back = calloc(n ? n : 1, sizeof(*back));
    cairn_idsort *s;
    char path[600];
    size_t unique = 0, got;
    uint64_t count;

    ASSERT_TRUE(all && back);
    snprintf(path, sizeof(path), "%s/set%d", dir, round);
    ASSERT_OK(cairn__idsort_open(dir, "model", run_bytes, &s));
    for (size_t i = 0; i < n; i++) {
        all[i] = random_id(space);
        ASSERT_OK(cairn__idsort_add(s, &all[i]));
    }
    ASSERT_OK(cairn__idsort_finish(s, path, &count));
    cairn__idsort_close(s);
    qsort(all, n, sizeof(*all), id_cmp_void);
    for (size_t i = 0; i < n; i++)
        if (!unique || !cairn__id_eq(&all[unique - 1], &all[i]))
            all[unique++] = all[i];
    ASSERT_EQ(count, unique);
    ASSERT_OK(read_all(path, back, n, &got));
    ASSERT_EQ(got, unique);
    for (size_t i = 0; i < unique; i++)
        if (!cairn__id_eq(&all[i], &back[i]))
            TEST_FAIL("round %d: id %zu of %zu differs", round, i, unique);
    ASSERT_EQ(files_in(dir), 1); /* the set; no run, no .tmp */
    unlink(path);
    free(all);
    free(back);
}

static void write_set(const char *path, size_t n)
{
    cairn_idsort *s;
    uint64_t count;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = 0;
    ASSERT_OK(cairn__idsort_open(dir, "dmg", 64 * 32, &s));
    for (size_t i = 0; i < n; i++) {
        cairn_id id = random_id(1000000);
        ASSERT_OK(cairn__idsort_add(s, &id));
    }
    ASSERT_OK(cairn__idsort_finish(s, path, &count));
    cairn__idsort_close(s);
}

static void flip(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    ASSERT_TRUE(f != NULL);
    ASSERT_OK(fseek(f, at, SEEK_SET));
    int ch = fgetc(f);
    ASSERT_OK(fseek(f, at, SEEK_SET));
    fputc(ch ^ 0x01, f);
    fclose(f);
}

static void expect_corrupt(const char *path, const char *what)
{
    cairn_id back[512];
    size_t n;
    for (int twice = 0; twice < 2; twice++) {
        int rc = read_all(path, back, 512, &n);
        if (rc != CAIRN_CORRUPT)
            TEST_FAIL("%s: read back with %d (%zu ids), not CAIRN_CORRUPT", what, rc, n);
    }
}

static void damage(const char *dir)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/damaged", dir);

    write_set(path, 300);
    ASSERT_OK(stat(path, &st));
    ASSERT_OK(truncate(path, st.st_size - 40));
    expect_corrupt(path, "truncated");

    write_set(path, 300);
    flip(path, 16 + 32 * 100 + 31); /* the last byte of an id: order may hold */
    expect_corrupt(path, "a flipped byte");

    write_set(path, 300);
    flip(path, 8); /* the count */
    expect_corrupt(path, "a wrong count");

    write_set(path, 300);
    flip(path, 0); /* the magic */
    expect_corrupt(path, "a wrong magic");
    unlink(path);
    printf("damage: truncated, flipped, miscounted and foreign files are CAIRN_CORRUPT, twice\n");
}

int main(void)
{
    enum { ROUNDS = 60 };
    char dir[512];

    test_seed_init(1);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    for (int r = 0; r < ROUNDS; r++)
        model_round(dir, r);
    printf("model: %d rounds of up to 5000 ids, runs of 64 ids and up, read back exactly\n",
           ROUNDS);
    damage(dir);
    printf("ok\n");
    return 0;
}
