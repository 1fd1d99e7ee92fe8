/* testutil.c - the helpers declared in test.h. */
#include "test.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* ---------------------------------------------------------------- netproxy */

static pid_t proxy_pid;

static void proxy_kill(void)
{
    if (proxy_pid > 0)
        kill(proxy_pid, SIGTERM);
}

void test_proxy_start(const char *const *args, char *endpoint, size_t cap)
{
    const char *proxy = getenv("CAIRN_NETPROXY");
    const char *up = getenv("AWS_ENDPOINT_URL");
    const char *argv[32] = {0};
    char port_file[PATH_MAX + 32], upstream[128];
    size_t n = 0;

    if (!proxy || access(proxy, X_OK))
        TEST_FAIL("no cairn-netproxy (CAIRN_NETPROXY=%s)", proxy ? proxy : "");
    if (!up || strncmp(up, "http://", 7))
        TEST_FAIL("no S3 fixture (AWS_ENDPOINT_URL=%s)", up ? up : "");
    const char *dir = test_tmpdir();
    if (mkdir(dir, 0700))
        TEST_FAIL("mkdir %s", dir);
    snprintf(port_file, sizeof(port_file), "%s/proxy-port", dir);
    snprintf(upstream, sizeof(upstream), "%s", up + 7);
    argv[n++] = proxy;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--upstream";
    argv[n++] = upstream;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    fflush(NULL); /* or the child repeats what stdio holds */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execv(proxy, (char *const *)argv);
        _exit(127);
    }
    proxy_pid = pid;
    test_fail_hook = proxy_kill;
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port;
        if (f && fscanf(f, "%u", &port) == 1) {
            fclose(f);
            snprintf(endpoint, cap, "http://127.0.0.1:%u", port);
            return;
        }
        if (f)
            fclose(f);
        usleep(10000);
    }
    TEST_FAIL("cairn-netproxy did not start");
}

void test_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f))
        TEST_FAIL("cannot write %s", path);
}

const char *test_s3_bucket(void)
{
    const char *b = getenv("CAIRN_S3_BUCKET");
    if (!b || !getenv("AWS_ENDPOINT_URL")) {
        fprintf(stderr, "skipped: no S3 service (run under scripts/s3-server.sh run)\n");
        exit(77);
    }
    return b;
}

void test_proxy_stop(void)
{
    if (proxy_pid <= 0)
        return;
    kill(proxy_pid, SIGTERM);
    waitpid(proxy_pid, NULL, 0);
    proxy_pid = 0;
}
