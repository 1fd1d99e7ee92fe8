/*
 * test_tsv.c - tsv field escaping: the escape table, unescaping (including
 * its errors and their columns), round trips of every byte, and which
 * records raw tsv can hold (cairn_tsv_raw_check).
 */
#include "test.h"
#include "tsv.h"

/* Escapes data and checks the result is want. */
static void check_escape(const void *data, size_t len, const char *want)
{
    char *out = NULL;

    ASSERT_OK(cairn_tsv_escape(data, len, &out));
    ASSERT_TRUE(out != NULL);
    if (strcmp(out, want) != 0)
        TEST_FAIL("escape gave \"%s\", want \"%s\"", out, want);
    cairn_free(out);
}

/* Unescapes text and checks the result is want[0..want_len). */
static void check_unescape(const char *text, const void *want, size_t want_len)
{
    char buf[256];
    size_t len = strlen(text);

    memcpy(buf, text, len);
    ASSERT_OK(cairn_tsv_unescape(buf, &len));
    ASSERT_MEM_EQ(buf, len, want, want_len);
}

/* Unescaping text must fail at column col with a detail containing what;
 * the field and its length must stay as they were. */
static void check_bad(const char *text, size_t col, const char *what)
{
    char buf[256], want_col[32];
    size_t len = strlen(text);
    cairn__tsv_error err;

    memcpy(buf, text, len);
    ASSERT_RC(cairn_tsv_unescape(buf, &len), CAIRN_BADINPUT);
    ASSERT_EQ(len, strlen(text));
    ASSERT_MEM_EQ(buf, len, text, strlen(text));
    snprintf(want_col, sizeof(want_col), "at column %zu", col);
    if (!strstr(cairn_errdetail(), want_col) || !strstr(cairn_errdetail(), what))
        TEST_FAIL("detail \"%s\" for \"%s\" lacks \"%s\" or \"%s\"", cairn_errdetail(), text,
                  want_col, what);

    /* The internal form reports the same offset. */
    ASSERT_RC(cairn__tsv_unescape(buf, &len, &err), CAIRN_BADINPUT);
    ASSERT_EQ(err.offset + 1, col);
}

static void test_escape_table(void)
{
    check_escape("", 0, "");
    check_escape("plain text", 10, "plain text");
    check_escape("a\tb", 3, "a\\tb");
    check_escape("a\nb", 3, "a\\nb");
    check_escape("a\rb", 3, "a\\rb");
    check_escape("a\\b", 3, "a\\\\b");
    check_escape("\x01\x1f", 2, "\\x01\\x1f");
    check_escape("\0", 1, "\\x00");
    check_escape("\x1b[0m", 4, "\\x1b[0m");
    /* 0x7f and high bytes stand for themselves. */
    check_escape("\x7f\x80\xff", 3, "\x7f\x80\xff");
    check_escape(" ~", 2, " ~");
}

static void test_unescape(void)
{
    check_unescape("", "", 0);
    check_unescape("plain", "plain", 5);
    check_unescape("a\\tb\\nc\\rd\\\\e", "a\tb\nc\rd\\e", 9);
    check_unescape("\\x00\\x01\\x1F\\x1f", "\0\x01\x1f\x1f", 4);
    /* \x may name any byte on input, and either hex case works. */
    check_unescape("\\xff\\xFF\\x41\\x7F", "\xff\xff\x41\x7f", 4);
    check_unescape("\xff\x80 raw", "\xff\x80 raw", 6);
    check_unescape("\x01raw control", "\x01raw control", 12);
}

static void test_unescape_errors(void)
{
    check_bad("ab\\q", 3, "bad escape '\\q'");
    check_bad("\\", 1, "unfinished escape");
    check_bad("abc\\", 4, "unfinished escape");
    check_bad("x\\x4", 2, "bad escape '\\x4'");
    check_bad("x\\x4g", 2, "bad escape '\\x4g'");
    check_bad("\\xg0", 1, "bad escape '\\xg0'");
    check_bad("a\\\x01", 2, "bad escape '\\<01>'");
    check_bad("a\tb", 2, "unescaped tab");
    check_bad("ab\rc", 3, "unescaped carriage return");
    check_bad("ab\n", 3, "unescaped newline");
    /* The first problem is the one reported. */
    check_bad("\\t\\q\\z", 3, "'\\q'");
}

static void test_round_trip_bytes(void)
{
    unsigned char all[256];
    char *escaped = NULL;
    size_t i, len;

    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    ASSERT_OK(cairn_tsv_escape(all, sizeof(all), &escaped));
    /* The escaped form never holds a raw tab, newline or return. */
    ASSERT_TRUE(!strchr(escaped, '\t') && !strchr(escaped, '\n') && !strchr(escaped, '\r'));
    len = strlen(escaped);
    ASSERT_OK(cairn_tsv_unescape(escaped, &len));
    ASSERT_MEM_EQ(escaped, len, all, sizeof(all));
    cairn_free(escaped);
}

static void test_round_trip_random(void)
{
    unsigned char data[64];
    char *escaped;
    size_t len, n, i;
    int round;

    for (round = 0; round < 20000; round++) {
        n = (size_t)test_rand_below(sizeof(data) + 1);
        for (i = 0; i < n; i++) {
            /* Favour the bytes that need escaping. */
            static const unsigned char special[] = {'\t', '\n', '\r', '\\', 0, 1, 0x1f,
                                                    'x', 0xff, 0x7f};
            if (test_rand_below(2))
                data[i] = special[test_rand_below(sizeof(special))];
            else
                data[i] = (unsigned char)test_rand_below(256);
        }
        ASSERT_OK(cairn_tsv_escape(data, n, &escaped));
        len = strlen(escaped);
        ASSERT_OK(cairn_tsv_unescape(escaped, &len));
        ASSERT_MEM_EQ(escaped, len, data, n);
        cairn_free(escaped);
    }
}

static void test_write(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    ASSERT_TRUE(f != NULL);
    ASSERT_OK(cairn__tsv_write(f, "k\t1\\\x02\xff", 6));
    ASSERT_OK(cairn__tsv_write(f, "", 0));
    ASSERT_EQ(fclose(f), 0);
    ASSERT_MEM_EQ(buf, size, "k\\t1\\\\\\x02\xff", 11);
    free(buf);
}

/* cairn_tsv_raw_check(key, val) must give want: NULL for success, else the
 * detail of its CAIRN_BADINPUT. */
static void check_raw(const char *key, size_t key_len, const char *val, size_t val_len,
                      const char *want)
{
    if (!want) {
        ASSERT_OK(cairn_tsv_raw_check(key, key_len, val, val_len));
        ASSERT_TRUE(cairn__tsv_raw_problem(key, key_len, val, val_len) == NULL);
        return;
    }
    ASSERT_RC(cairn_tsv_raw_check(key, key_len, val, val_len), CAIRN_BADINPUT);
    if (strcmp(cairn_errdetail(), want) != 0)
        TEST_FAIL("raw check gave \"%s\", want \"%s\"", cairn_errdetail(), want);
}

static void test_raw_check(void)
{
    /* Backslashes, control bytes other than tab, LF and CR, high bytes, a
     * CR inside a value, empty fields: all fine as raw bytes. */
    check_raw("sys\\x2dfoo", 10, "C:\\path\\x2d", 12, NULL);
    check_raw("\x01\xff", 2, "\x00\x1b[0m", 5, NULL);
    check_raw("k", 1, "a\rb", 3, NULL);
    check_raw("", 0, "", 0, NULL);
    check_raw("a\tb", 3, "v", 1, "the key holds a tab");
    check_raw("a\nb", 3, "v", 1, "the key holds a newline");
    check_raw("a\rb", 3, "v", 1, "the key holds a carriage return");
    check_raw("k", 1, "v\tw", 3, "the value holds a tab");
    check_raw("k", 1, "v\nw", 3, "the value holds a newline");
    /* A raw import would take a final CR for a CRLF line ending. */
    check_raw("k", 1, "v\r", 2, "the value ends in a carriage return");
}

int main(void)
{
    test_seed_init(20240601);
    test_escape_table();
    test_unescape();
    test_unescape_errors();
    test_round_trip_bytes();
    test_round_trip_random();
    test_write();
    test_raw_check();
    printf("ok\n");
    return 0;
}
