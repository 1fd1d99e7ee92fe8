/* testutil.c - the helpers declared in test.h. */
#include "test.h"

#include <limits.h>
#include <stdint.h>
#include <unistd.h>

uint64_t test_seed;
void (*test_fail_hook)(void);
static uint64_t rng_state;
static char tmp_root[PATH_MAX];

void test_fail_note(void)
{
    fprintf(stderr, "seed: %" PRIu64 " (rerun with CAIRN_TEST_SEED=%" PRIu64 ")\n",
            test_seed, test_seed);
    if (tmp_root[0])
        fprintf(stderr, "temporary files: %s\n", tmp_root);
    if (test_fail_hook)
        test_fail_hook();
}

void test_seed_set(uint64_t seed)
{
    test_seed = seed;
    rng_state = seed;
}

void test_seed_init(uint64_t def)
{
    const char *env = getenv("CAIRN_TEST_SEED");
    test_seed_set(env ? strtoull(env, NULL, 10) : def);
    printf("seed %" PRIu64 "\n", test_seed);
}

uint64_t test_rand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t test_rand_below(uint64_t n)
{
    return n ? test_rand() % n : 0;
}

void test_rm_rf(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

static void cleanup(void)
{
    if (tmp_root[0])
        test_rm_rf(tmp_root);
}

const char *test_tmpdir(void)
{
    static int n;
    static char path[PATH_MAX + 32];
    if (!tmp_root[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_root, sizeof(tmp_root), "%s/cairn-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmp_root)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(cleanup);
    }
    snprintf(path, sizeof(path), "%s/%d", tmp_root, n++);
    return path;
}
