/*
 * resp_glob.c - Redis's glob patterns in linear-times-pattern time
 * (resp_glob.h).
 */
#include "resp_glob.h"

/* Whether the token at p (not '*') matches byte c; *len is the token's
 * length in the pattern. */
static bool token_matches(const char *p, size_t pl, char c, size_t *len)
{
    if (*p == '?') {
        *len = 1;
        return true;
    }
    if (*p == '\\' && pl >= 2) {
        *len = 2;
        return p[1] == c;
    }
    if (*p != '[') {
        *len = 1;
        return *p == c;
    }
    size_t i = 1;
    bool negate = false, match = false;
    if (i < pl && p[i] == '^')
        negate = true, i++;
    while (i < pl && p[i] != ']') {
        if (p[i] == '\\' && i + 1 < pl) {
            match |= p[i + 1] == c;
            i += 2;
        } else if (i + 2 < pl && p[i + 1] == '-') {
            char lo = p[i] < p[i + 2] ? p[i] : p[i + 2];
            char hi = p[i] < p[i + 2] ? p[i + 2] : p[i];
            match |= c >= lo && c <= hi;
            i += 3;
        } else {
            match |= p[i] == c;
            i++;
        }
    }
    *len = i < pl ? i + 1 : i; /* the ']', when there is one */
    return match != negate;
}

bool resp_glob_match(const char *p, size_t pl, const char *s, size_t sl)
{
    size_t pi = 0, si = 0;
    bool star = false;   /* a '*' was passed: a mismatch may retry it */
    size_t star_pi = 0;  /* the pattern just after that '*' */
    size_t star_si = 0;  /* where in s its run now ends */
    while (si < sl) {
        if (pi < pl && p[pi] == '*') {
            while (pi < pl && p[pi] == '*')
                pi++;
            if (pi == pl)
                return true;
            star = true, star_pi = pi, star_si = si;
            continue;
        }
        size_t len;
        if (pi < pl && token_matches(p + pi, pl - pi, s[si], &len)) {
            pi += len;
            si++;
            continue;
        }
        if (!star)
            return false;
        pi = star_pi; /* let the last '*' take one byte more */
        si = ++star_si;
    }
    while (pi < pl && p[pi] == '*')
        pi++;
    return pi == pl;
}
