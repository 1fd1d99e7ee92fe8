/*
 * fuzz_resp_glob.c - Redis's glob patterns of `cairn serve`
 * (cli/serve/resp_glob.h) on arbitrary patterns and subjects: what any
 * client can send as KEYS, SCAN MATCH or HSCAN MATCH. A pattern that took
 * a backtracking matcher exponential time is a hang here (-timeout).
 *
 * Input: the pattern, a NUL byte, the subject (no NUL: the input split in
 * half). Checked: the subject escaped byte by byte matches itself, and so
 * does that with a star on each side, and a '?' per byte (one more does
 * not); a pattern that matches still matches with a star before it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "resp_glob.h"

static bool match(const char *p, size_t pl, const char *s, size_t sl)
{
    return resp_glob_match(p, pl, s, sl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, 0, size);
    size_t pl = nul ? (size_t)(nul - in) : size / 2;
    const char *p = in, *s = in + pl + (nul != NULL);
    size_t sl = size - pl - (nul != NULL);
    char *buf = malloc(2 * sl + pl + 2);
    size_t n = 0;

    FUZZ_CHECK(buf != NULL, "out of memory");
    bool matched = match(p, pl, s, sl);

    /* the subject escaped: itself, literally */
    buf[n++] = '*';
    for (size_t i = 0; i < sl; i++) {
        if (strchr("*?[]\\", s[i]) && s[i])
            buf[n++] = '\\';
        buf[n++] = s[i];
    }
    buf[n++] = '*';
    FUZZ_CHECK(match(buf + 1, n - 2, s, sl), "the escaped subject does not match itself");
    FUZZ_CHECK(match(buf, n, s, sl), "*escaped subject* does not match it");
    memset(buf, '?', sl + 1);
    FUZZ_CHECK(match(buf, sl, s, sl), "%zu '?' do not match as many bytes", sl);
    FUZZ_CHECK(!match(buf, sl + 1, s, sl), "%zu '?' matched %zu bytes", sl + 1, sl);

    /* a star before a pattern never unmatches (one after it could: it
     * would be escaped by a final '\\', or join an unclosed class) */
    if (matched) {
        buf[0] = '*';
        memcpy(buf + 1, p, pl);
        FUZZ_CHECK(match(buf, pl + 1, s, sl), "a match lost with a star before the pattern");
    }
    free(buf);
    return 0;
}
