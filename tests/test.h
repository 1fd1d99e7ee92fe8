/*
 * test.h - assertions and helpers shared by the test programs.
 * A test program exits 0 on pass, 1 on failure, 77 to skip (CTest's
 * SKIP_RETURN_CODE). Failed assertions print file, line, both values and the
 * seed in use, then exit 1.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"

/* The seed of the current randomized run, printed on failure. */
extern uint64_t test_seed;

void test_fail_note(void);
/* If set, called by test_fail_note after it has printed the seed: a test
 * adds what its failure needs to say (a replay command, a kept store). */
extern void (*test_fail_hook)(void);

#define TEST_FAIL(...)                                                            \
    do {                                                                          \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                          \
        fprintf(stderr, __VA_ARGS__);                                             \
        fprintf(stderr, "\n");                                                    \
        test_fail_note();                                                         \
        exit(1);                                                                  \
    } while (0)

/* rc must be 0; prints the error's name and detail otherwise. */
#define ASSERT_OK(expr)                                                           \
    do {                                                                          \
        int rc_ = (expr);                                                         \
        if (rc_ != 0)                                                             \
            TEST_FAIL("%s returned %d %s (%s)", #expr, rc_, cairn_errname(rc_),   \
                      cairn_errdetail());                                         \
    } while (0)

/* rc must equal want. */
#define ASSERT_RC(expr, want)                                                     \
    do {                                                                          \
        int rc_ = (expr), want_ = (want);                                         \
        if (rc_ != want_)                                                         \
            TEST_FAIL("%s returned %d %s, want %d %s (%s)", #expr, rc_,           \
                      cairn_errname(rc_), want_, cairn_errname(want_),            \
                      cairn_errdetail());                                         \
    } while (0)

/* The last error's detail names needle (a key, a path, an id...). */
#define ASSERT_DETAIL(needle)                                                     \
    do {                                                                          \
        if (!strstr(cairn_errdetail(), (needle)))                                 \
            TEST_FAIL("detail '%s' does not name '%s'", cairn_errdetail(), (needle)); \
    } while (0)

#define ASSERT_TRUE(cond)                                                         \
    do {                                                                          \
        if (!(cond))                                                              \
            TEST_FAIL("assertion failed: %s", #cond);                             \
    } while (0)

#define ASSERT_EQ(a, b)                                                           \
    do {                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                       \
        if (a_ != b_)                                                             \
            TEST_FAIL("%s == %s failed: %lld != %lld", #a, #b, a_, b_);          \
    } while (0)

#define ASSERT_MEM_EQ(p, plen, q, qlen)                                           \
    do {                                                                          \
        size_t pl_ = (plen), ql_ = (qlen);                                        \
        if (pl_ != ql_ || (pl_ && memcmp((p), (q), pl_) != 0))                    \
            TEST_FAIL("bytes differ: %s (%zu bytes) vs %s (%zu bytes)", #p, pl_,  \
                      #q, ql_);                                                   \
    } while (0)

/* Deterministic PRNG (splitmix64), seeded by test_seed_init. */
uint64_t test_rand(void);
/* Uniform in [0, n). */
uint64_t test_rand_below(uint64_t n);
/* Sets test_seed from $CAIRN_TEST_SEED if set, else from def, and prints it. */
void test_seed_init(uint64_t def);
void test_seed_set(uint64_t seed);

/* Creates a fresh temporary directory (removed by test_cleanup at exit
 * unless the test failed and $CAIRN_KEEP_TMP is set). Returns its path. */
const char *test_tmpdir(void);
/* Starts cairn-netproxy ($CAIRN_NETPROXY) in front of the S3 fixture's
 * $AWS_ENDPOINT_URL with extra arguments (NULL-terminated: "--delay-ms",
 * "100", ...), and writes its endpoint ("http://127.0.0.1:PORT") into
 * endpoint. One at a time; a failing test kills it (it would outlive the
 * test and hold its output open). */
void test_proxy_start(const char *const *args, char *endpoint, size_t cap);
/* The bucket of the S3 fixture ($CAIRN_S3_BUCKET) when the test runs under
 * scripts/s3-server.sh run; else says the test is skipped and exits 77. */
const char *test_s3_bucket(void);
/* Stops the proxy test_proxy_start started. */
void test_proxy_stop(void);
/* Writes text (a C string) as the whole of the file at path, or fails the
 * test. */
void test_write_text(const char *path, const char *text);
/* Runs "rm -rf" on path. */
void test_rm_rf(const char *path);

#endif /* CAIRN_TEST_H */
