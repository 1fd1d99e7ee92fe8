/*
 * test_resp_glob.c - Redis's glob patterns of `cairn serve`
 * (cli/serve/resp_glob.h).
 *
 * A table of Redis's own cases; random patterns and subjects over a small
 * alphabet (so that stars, classes, ranges, escapes and unclosed classes
 * meet often) checked against a reference matcher that backtracks every
 * star, as Redis's stringmatchlen does; and patterns of many stars against
 * long subjects that do not match, which take a backtracking matcher
 * longer than any test may run (they ended issue 12's first review with a
 * worker spinning) and must come back here at once: a hang is this test's
 * failure, by ctest's timeout.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp_glob.h"
#include "test.h"

/* Redis's stringmatchlen, star by star: exponential, correct, small inputs only. */
static bool reference(const char *p, size_t pl, const char *s, size_t sl)
{
    while (pl && sl) {
        switch (*p) {
        case '*':
            while (pl > 1 && p[1] == '*')
                p++, pl--;
            if (pl == 1)
                return true;
            for (size_t k = 0; k <= sl; k++)
                if (reference(p + 1, pl - 1, s + k, sl - k))
                    return true;
            return false;
        case '?':
            s++, sl--;
            break;
        case '[': {
            bool negate = false, match = false;
            p++, pl--;
            if (pl && *p == '^')
                negate = true, p++, pl--;
            while (pl && *p != ']') {
                if (*p == '\\' && pl >= 2) {
                    p++, pl--;
                    match |= *p == *s;
                } else if (pl >= 3 && p[1] == '-') {
                    char a = p[0] < p[2] ? p[0] : p[2], b = p[0] < p[2] ? p[2] : p[0];
                    match |= *s >= a && *s <= b;
                    p += 2, pl -= 2;
                } else {
                    match |= *p == *s;
                }
                p++, pl--;
            }
            if (negate)
                match = !match;
            if (!match)
                return false;
            s++, sl--;
            break;
        }
        case '\\':
            if (pl >= 2)
                p++, pl--;
            /* fall through */
        default:
            if (*p != *s)
                return false;
            s++, sl--;
            break;
        }
        if (pl)
            p++, pl--;
    }
    while (pl && *p == '*')
        p++, pl--;
    return pl == 0 && sl == 0;
}

static bool match(const char *p, const char *s)
{
    return resp_glob_match(p, strlen(p), s, strlen(s));
}

static void table(void)
{
    static const struct {
        const char *pattern, *subject;
        bool want;
    } cases[] = {
        {"*", "", true},           {"*", "anything", true},     {"", "", true},
        {"", "a", false},          {"a", "", false},            {"?", "", false},
        {"?", "x", true},          {"??", "x", false},          {"h?llo", "hello", true},
        {"h*llo", "heeeello", true}, {"h*llo", "hllo", true},   {"h[ae]llo", "hallo", true},
        {"h[ae]llo", "hillo", false}, {"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false},
        {"h[a-b]llo", "hbllo", true}, {"h[b-a]llo", "hallo", true}, {"h[a-b]llo", "hcllo", false},
        {"\\*", "*", true},        {"\\*", "a", false},         {"a\\", "a\\", true},
        {"[\\]]", "]", true},      {"[abc", "b", true},         {"[abc", "bc", false},
        {"*a*b", "xaxxb", true},   {"*a*b", "xaxxbx", false},   {"a*a*a", "aa", false},
        {"a*a*a", "aaa", true},    {"*.txt", "notes.txt", true}, {"*.txt", "notes.txt2", false},
        {"user:*:name", "user:42:name", true}, {"user:*:name", "user:42:mail", false},
        {"**a**", "bab", true},    {"[*]", "*", true},          {"[?]", "x", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = match(cases[i].pattern, cases[i].subject);
        if (got != cases[i].want)
            TEST_FAIL("'%s' against '%s': %d, want %d", cases[i].pattern, cases[i].subject, got,
                      cases[i].want);
        if (got != reference(cases[i].pattern, strlen(cases[i].pattern), cases[i].subject,
                             strlen(cases[i].subject)))
            TEST_FAIL("the reference disagrees with the table on '%s' '%s'", cases[i].pattern,
                      cases[i].subject);
    }
}

static void random_cases(int rounds)
{
    static const char pattern_bytes[] = "ab*?*[]^-\\a";
    static const char subject_bytes[] = "ab-]^\\*c";
    char p[12], s[14];
    for (int r = 0; r < rounds; r++) {
        size_t pl = test_rand_below(sizeof(p)), sl = test_rand_below(sizeof(s));
        for (size_t i = 0; i < pl; i++)
            p[i] = pattern_bytes[test_rand_below(sizeof(pattern_bytes) - 1)];
        for (size_t i = 0; i < sl; i++)
            s[i] = subject_bytes[test_rand_below(sizeof(subject_bytes) - 1)];
        bool got = resp_glob_match(p, pl, s, sl), want = reference(p, pl, s, sl);
        if (got != want)
            TEST_FAIL("'%.*s' against '%.*s': %d, the reference says %d", (int)pl, p, (int)sl, s,
                      got, want);
    }
}

/* Patterns of many stars against long subjects they miss by their last
 * byte: a backtracking matcher tries about (len / stars)^stars splits. */
static void hostile(void)
{
    size_t len = 100000;
    char *s = malloc(len);
    ASSERT_TRUE(s != NULL);
    memset(s, 'a', len);
    static const char *const patterns[] = {
        "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c",
        "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?[b]",
        "*[a-a]*[^b]*[a]*\\a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b*",
    };
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
        if (resp_glob_match(patterns[i], strlen(patterns[i]), s, len))
            TEST_FAIL("hostile pattern %zu matched", i);
    /* and the same shapes where they do match */
    s[len - 1] = 'b';
    if (!resp_glob_match(patterns[0], strlen(patterns[0]), s, len) ||
        !resp_glob_match(patterns[2], strlen(patterns[2]), s, len) ||
        !resp_glob_match(patterns[3], strlen(patterns[3]), s, len))
        TEST_FAIL("a pattern of many stars missed a subject it matches");
    free(s);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;

    test_seed_init(20261207);
    table();
    random_cases((int)(200000 * scale) + 1000);
    hostile();
    printf("ok\n");
    return 0;
}
