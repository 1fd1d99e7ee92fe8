/*
 * test_base.c - error names and messages, thread-local details,
 * hex ids, SHA-256, and the size and option parsers of tier specs.
 */
#include <errno.h>
#include <pthread.h>

#include "error.h"
#include "id.h"
#include "test.h"
#include "tier.h"

static void test_names_and_messages(void)
{
    /* Every code of the map has its name and message, generated from the
     * same table the header declares. */
#define CHECK_CODE(name, value, msg)                                             \
    ASSERT_EQ(CAIRN_##name, value);                                              \
    ASSERT_TRUE(strcmp(cairn_errname(value), "CAIRN_" #name) == 0);              \
    ASSERT_TRUE(strcmp(cairn_strerror(value), msg) == 0);
    CAIRN_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE

    ASSERT_TRUE(strcmp(cairn_errname(0), "OK") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-ENOENT), "ENOENT") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EACCES), "EACCES") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-ENOSPC), "ENOSPC") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EIO), "EIO") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-ENOTSUP), "ENOTSUP") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EEXIST), "EEXIST") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EINVAL), "EINVAL") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-ENOMEM), "ENOMEM") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EAGAIN), "EAGAIN") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-ENOTDIR), "ENOTDIR") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EROFS), "EROFS") == 0);
    ASSERT_TRUE(strcmp(cairn_errname(-EDQUOT), "EDQUOT") == 0);
    /* Unknown values still get distinct, non-empty names, even two in one
     * expression (ASSERT_RC prints two). */
    const char *a = cairn_errname(-4000), *b = cairn_errname(-4001);
    ASSERT_TRUE(a && *a && b && *b && strcmp(a, b) != 0);
    ASSERT_TRUE(strstr(cairn_errname(12345), "12345") != NULL);

    ASSERT_TRUE(strcmp(cairn_strerror(-ENOENT), strerror(ENOENT)) == 0);
    ASSERT_TRUE(strcmp(cairn_strerror(-ENOSPC), strerror(ENOSPC)) == 0);
    ASSERT_TRUE(strcmp(cairn_strerror(0), "success") == 0);
    ASSERT_TRUE(strcmp(cairn_strerror(-999999), "unknown error") == 0);
    ASSERT_TRUE(strcmp(cairn_version(), CAIRN_VERSION_STRING) == 0);
}

static void *other_thread(void *arg)
{
    (void)arg;
    ASSERT_TRUE(strcmp(cairn_errdetail(), "") == 0);
    ASSERT_RC(cairn__fail(CAIRN_IO, "thread detail"), CAIRN_IO);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "thread detail") == 0);
    return NULL;
}

static void test_details(void)
{
    pthread_t th;
    char long_text[3000];

    cairn__detail_clear();
    ASSERT_TRUE(strcmp(cairn_errdetail(), "") == 0);
    ASSERT_RC(cairn__fail(CAIRN_BADSPEC, "bad '%s' at %d", "x", 3), CAIRN_BADSPEC);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "bad 'x' at 3") == 0);
    ASSERT_RC(cairn__fail_context(CAIRN_BADSPEC, "spec '%s'", "mem:x"), CAIRN_BADSPEC);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "spec 'mem:x': bad 'x' at 3") == 0);

    /* With no detail, the context is followed by the code's message. */
    cairn__detail_clear();
    ASSERT_RC(cairn__fail_context(-ENOENT, "opening %s", "f"), -ENOENT);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "opening f: No such file or directory") == 0);

    /* Details are per thread. */
    ASSERT_RC(cairn__fail(CAIRN_IO, "main detail"), CAIRN_IO);
    ASSERT_EQ(pthread_create(&th, NULL, other_thread, NULL), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "main detail") == 0);

    /* Long details are cut short, never overflowed. */
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    cairn__fail(CAIRN_IO, "%s", long_text);
    ASSERT_EQ(strlen(cairn_errdetail()), 1023);
    cairn__fail_context(CAIRN_IO, "%s", long_text);
    ASSERT_EQ(strlen(cairn_errdetail()), 1023);
    cairn__detail_clear();
}

static void test_hex_and_hash(void)
{
    static const char abc_hex[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    static const char empty_hex[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char hex[CAIRN_ID_HEX + 1], upper[CAIRN_ID_HEX + 1], short_hex[13];
    cairn_id id, back;

    cairn__sha256("abc", 3, &id);
    cairn_id_to_hex(&id, hex);
    ASSERT_TRUE(strcmp(hex, abc_hex) == 0);
    cairn__sha256(NULL, 0, &id);
    cairn_id_to_hex(&id, hex);
    ASSERT_TRUE(strcmp(hex, empty_hex) == 0);
    ASSERT_TRUE(strcmp(cairn__id_short(&id, short_hex), "e3b0c44298fc") == 0);

    for (int round = 0; round < 1000; round++) {
        for (size_t i = 0; i < sizeof(id.bytes); i++)
            id.bytes[i] = (uint8_t)test_rand();
        cairn_id_to_hex(&id, hex);
        ASSERT_EQ(strlen(hex), CAIRN_ID_HEX);
        ASSERT_OK(cairn_id_from_hex(hex, &back));
        ASSERT_TRUE(cairn__id_eq(&id, &back));
        for (size_t i = 0; i <= CAIRN_ID_HEX; i++)
            upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
        ASSERT_OK(cairn_id_from_hex(upper, &back));
        ASSERT_TRUE(cairn__id_eq(&id, &back));
    }

    /* Wrong lengths and characters are refused and leave *out alone. */
    memset(&back, 0x5a, sizeof(back));
    ASSERT_RC(cairn_id_from_hex(NULL, &back), CAIRN_BADARG);
    ASSERT_RC(cairn_id_from_hex("", &back), CAIRN_BADARG);
    hex[63] = '\0';
    ASSERT_RC(cairn_id_from_hex(hex, &back), CAIRN_BADARG);
    cairn_id_to_hex(&id, hex);
    char longer[CAIRN_ID_HEX + 2];
    snprintf(longer, sizeof(longer), "%s0", hex);
    ASSERT_RC(cairn_id_from_hex(longer, &back), CAIRN_BADARG);
    ASSERT_TRUE(strstr(cairn_errdetail(), "longer") != NULL);
    hex[10] = 'g';
    ASSERT_RC(cairn_id_from_hex(hex, &back), CAIRN_BADARG);
    for (size_t i = 0; i < sizeof(back.bytes); i++)
        ASSERT_EQ(back.bytes[i], 0x5a);
}

static void size_ok(const char *s, uint64_t want)
{
    uint64_t got = 12345;
    int rc = cairn__parse_size(s, &got);
    if (rc != 0 || got != want)
        TEST_FAIL("parse_size('%s'): rc %d, %" PRIu64 ", want %" PRIu64, s, rc, got, want);
}

static void size_bad(const char *s)
{
    uint64_t got = 777;
    int rc = cairn__parse_size(s, &got);
    if (rc == 0 || got != 777)
        TEST_FAIL("parse_size('%s') accepted: %" PRIu64, s, got);
    ASSERT_EQ(rc, CAIRN_BADARG);
    ASSERT_TRUE(*cairn_errdetail() != '\0');
}

static void test_parse_size(void)
{
    size_ok("0", 0);
    size_ok("4096", 4096);
    size_ok("4096B", 4096);
    size_ok("64K", 64 << 10);
    size_ok("64k", 64 << 10);
    size_ok("64KB", 64 << 10);
    size_ok("64KiB", 64 << 10);
    size_ok("64kib", 64 << 10);
    size_ok("256M", 256ull << 20);
    size_ok("256mb", 256ull << 20);
    size_ok("20G", 20ull << 30);
    size_ok("1T", 1ull << 40);
    size_ok("1tib", 1ull << 40);
    size_ok("007", 7);
    size_ok("18446744073709551615", UINT64_MAX);
    size_ok("16777215T", 16777215ull << 40);

    size_bad(NULL);
    size_bad("");
    size_bad("K");
    size_bad("B");
    size_bad("64X");
    size_bad("64 K");
    size_bad(" 64");
    size_bad("64 ");
    size_bad("-1");
    size_bad("+1");
    size_bad("64KK");
    size_bad("64iB");
    size_bad("64KiBB");
    size_bad("64Ki");
    size_bad("1.5G");
    size_bad("0x10");
    size_bad("18446744073709551616");
    size_bad("99999999999999999999999");
    size_bad("16777216T");
    size_bad("17179869184G");
}

struct opt_log {
    char text[256];
    int calls;
    int fail_at; /* 1-based call that fails, 0 none */
};

static int opt_collect(void *ctx, const char *key, const char *val)
{
    struct opt_log *log = ctx;
    size_t used = strlen(log->text);

    if (++log->calls == log->fail_at)
        return cairn__fail(CAIRN_BADSPEC, "refused '%s'", key);
    snprintf(log->text + used, sizeof(log->text) - used, "[%s|%s]", key, val);
    return 0;
}

static void opts_ok(const char *opts, const char *want)
{
    struct opt_log log = {"", 0, 0};
    ASSERT_OK(cairn__opts_each(opts, opt_collect, &log));
    if (strcmp(log.text, want) != 0)
        TEST_FAIL("opts '%s' gave %s, want %s", opts, log.text, want);
}

static void opts_bad(const char *opts)
{
    struct opt_log log = {"", 0, 0};
    ASSERT_RC(cairn__opts_each(opts, opt_collect, &log), CAIRN_BADSPEC);
    ASSERT_TRUE(strstr(cairn_errdetail(), opts) != NULL);
}

static void test_opts(void)
{
    struct opt_log log = {"", 0, 2};

    opts_ok(NULL, "");
    opts_ok("", "");
    opts_ok("a=1", "[a|1]");
    opts_ok("a=1&b=2", "[a|1][b|2]");
    opts_ok("path=/x/y&k=", "[path|/x/y][k|]");
    opts_ok("a=b=c", "[a|b=c]");
    opts_bad("&a=1");
    opts_bad("a=1&");
    opts_bad("a=1&&b=2");
    opts_bad("a");
    opts_bad("a=1&b");
    opts_bad("=1");

    /* A callback's error stops the walk and is returned with its detail. */
    ASSERT_RC(cairn__opts_each("x=1&y=2&z=3", opt_collect, &log), CAIRN_BADSPEC);
    ASSERT_EQ(log.calls, 2);
    ASSERT_TRUE(strcmp(cairn_errdetail(), "refused 'y'") == 0);
    ASSERT_TRUE(strcmp(log.text, "[x|1]") == 0);
}

int main(void)
{
    test_seed_init(20240601);
    test_names_and_messages();
    test_details();
    test_hex_and_hash();
    test_parse_size();
    test_opts();
    printf("ok\n");
    return 0;
}
