/*
 * spec.c - the small parsers tier specs share: sizes ("64M") and option
 * lists ("k=v&k=v").
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "tier.h"

/* ---------------------------------------------------------------- parsing */

/* Accepts decimal digits, an optional K/M/G/T (powers of 1024, any case),
 * then an optional "B", or "iB" after a unit. Rejects signs, spaces, an
 * empty string and values above UINT64_MAX. Zero is accepted; callers that
 * need a positive size say so. */
int cairn__parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    uint64_t value = 0;
    unsigned shift = 0;

    if (!s || !isdigit((unsigned char)*p))
        return cairn__fail(CAIRN_BADARG, "bad size '%s': want digits and K, M, G or T",
                           s ? s : "(null)");
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return cairn__fail(CAIRN_BADARG, "bad size '%s': too large", s);
        value = value * 10 + digit;
    }
    switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift) {
        p++;
        if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'b' || p[1] == 'B'))
            p += 2;
        else if (p[0] == 'b' || p[0] == 'B')
            p++;
    } else if (p[0] == 'b' || p[0] == 'B') {
        p++;
    }
    if (*p)
        return cairn__fail(CAIRN_BADARG, "bad size '%s': unexpected '%s'", s, p);
    if (shift && value > (UINT64_MAX >> shift))
        return cairn__fail(CAIRN_BADARG, "bad size '%s': too large", s);
    *out = value << shift;
    return 0;
}

/* Splits a private copy of opts on '&' and each pair on its first '='.
 * Empty pairs ("a=1&&b=2", a trailing '&'), a missing '=' and an empty key
 * are CAIRN_BADSPEC; an empty value ("k=") is passed on as "". */
int cairn__opts_each(const char *opts, int (*fn)(void *ctx, const char *key, const char *val),
                     void *ctx)
{
    char *copy, *pair, *next;
    int rc = 0;

    if (!opts || !*opts)
        return 0;
    if (!(copy = cairn__strdup(opts)))
        return cairn__fail(CAIRN_NOMEM, "options '%s': out of memory", opts);
    for (pair = copy; pair; pair = next) {
        char *eq;

        if ((next = strchr(pair, '&')))
            *next++ = '\0';
        if (!*pair) {
            rc = cairn__fail(CAIRN_BADSPEC, "options '%s': empty option", opts);
            break;
        }
        if (!(eq = strchr(pair, '=')) || eq == pair) {
            rc = cairn__fail(CAIRN_BADSPEC, "options '%s': '%s' is not key=value", opts, pair);
            break;
        }
        *eq = '\0';
        if ((rc = fn(ctx, pair, eq + 1)))
            break;
    }
    cairn__free(copy);
    return rc;
}

/* ---------------------------------------------------------------- messages */

char *cairn_spec_redact(const char *spec, char *out, size_t cap)
{
    size_t len = 0;

    if (!cap)
        return out;
    for (const char *p = spec ? spec : ""; *p && len + 1 < cap;) {
        const char *host = strstr(p, "://"), *at, *end;

        if (!host) {
            out[len++] = *p++;
            continue;
        }
        host += 3;
        /* the address ends at the first '/', '?' or '>' after "://" */
        end = host + strcspn(host, "/?>");
        at = memchr(host, '@', (size_t)(end - host));
        for (const char *q = p; q < host && len + 1 < cap; q++)
            out[len++] = *q;
        if (at) {
            for (const char *q = "***"; *q && len + 1 < cap; q++)
                out[len++] = *q;
            host = at;
        }
        p = host;
        for (; p < end && len + 1 < cap; p++)
            out[len++] = *p;
    }
    out[len] = '\0';
    return out;
}
