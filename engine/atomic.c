/*
 * atomic.c - conditional key operations in a write transaction:
 * compare-and-swap (cairn_txn_cas) and decimal counters (cairn_txn_incr).
 *
 * Both read the key through cairn_txn_get, so they see what the
 * transaction sees (its base version under its own earlier writes), decide,
 * and then record an ordinary put or delete through cairn_txn_put/del. They
 * need nothing at commit time: the writer lock, held from cairn_txn_begin
 * to the end of the transaction, keeps every other writer off the branch,
 * and the commit's compare-and-swap of the branch from the transaction's
 * base catches the one writer the lock cannot see (another machine on an
 * S3 primary). docs/architecture.md, "Atomic key operations", says why
 * that suffices.
 *
 * A refusal about the data (a check that fails, a value that is no
 * counter, an overflow) records nothing and leaves the transaction usable;
 * any other error makes it unusable, as every failed put does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "error.h"

/* Bytes of a value shown in a message; a longer one is cut. */
#define SHOW_MAX 32
/* Bytes of a key shown in a message. */
#define KEY_SHOW_MAX 64
/* The detail of a failed check: the key, what the check wanted, and what
 * the key holds. */
static int conflict(const void *key, size_t key_len, const void *expected, size_t expected_len,
                    bool absent_wanted, bool found, cairn_val cur)
{
    char kq[CAIRN__QUOTE_SIZE(KEY_SHOW_MAX)], eq[CAIRN__QUOTE_SIZE(SHOW_MAX)];
    char vq[CAIRN__QUOTE_SIZE(SHOW_MAX)];
    char wanted[sizeof(eq) + 32];

    cairn__quote(key, key_len, KEY_SHOW_MAX, kq);
    if (absent_wanted)
        snprintf(wanted, sizeof(wanted), "the key absent");
    else
        snprintf(wanted, sizeof(wanted), "the value '%s'",
                 cairn__quote(expected, expected_len, SHOW_MAX, eq));
    if (!found)
        return cairn__fail(CAIRN_CONFLICT, "key '%s': expected %s, found the key absent", kq,
                           wanted);
    cairn__quote(cur.data, cur.len, SHOW_MAX, vq);
    return cairn__fail(CAIRN_CONFLICT, "key '%s': expected %s, found %s (%zu byte%s: '%s')", kq,
                       wanted, absent_wanted ? "a value" : "another value", cur.len,
                       cur.len == 1 ? "" : "s", vq);
}

/* Checks the arguments of a cas before anything is read, so that a bad
 * call is refused whatever the key holds. */
static int check_cas_args(const void *expected, size_t expected_len, const void *val,
                          size_t val_len, unsigned flags)
{
    if (flags & ~(CAIRN_CAS_ABSENT | CAIRN_CAS_DELETE))
        return cairn__fail(CAIRN_BADARG, "cas: unknown flags 0x%x",
                           flags & ~(CAIRN_CAS_ABSENT | CAIRN_CAS_DELETE));
    if ((flags & CAIRN_CAS_ABSENT) && (expected || expected_len))
        return cairn__fail(CAIRN_BADARG, "cas: an expected value with CAIRN_CAS_ABSENT");
    if (!expected && expected_len)
        return cairn__fail(CAIRN_BADARG, "cas: NULL expected value of %zu bytes", expected_len);
    if ((flags & CAIRN_CAS_DELETE) && (val || val_len))
        return cairn__fail(CAIRN_BADARG, "cas: a new value with CAIRN_CAS_DELETE");
    if (!val && val_len)
        return cairn__fail(CAIRN_BADARG, "cas: NULL value of %zu bytes", val_len);
    if (val_len > CAIRN_VALUE_MAX)
        return cairn__fail(CAIRN_VALTOOBIG, "value of %zu bytes (the limit is %u)", val_len,
                           CAIRN_VALUE_MAX);
    return 0;
}

/* Reads key as the transaction sees it. OUT: *found, and *cur (valid until
 * the next call on txn) when found. Any error but absence makes the
 * transaction unusable. */
static int read_current(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                        bool *found, cairn_val *cur)
{
    int rc = cairn_txn_get(txn, space, key, key_len, cur);

    *found = rc == 0;
    if (rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        return 0;
    }
    return rc ? cairn__txn_fail(txn, rc) : 0;
}

int cairn_txn_cas(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                  const void *expected, size_t expected_len, const void *val, size_t val_len,
                  unsigned flags)
{
    cairn_val cur = {NULL, 0};
    bool found, match;
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__txn_usable(txn)))
        return rc;
    if ((rc = check_cas_args(expected, expected_len, val, val_len, flags)))
        return cairn__txn_fail(txn, rc);
    if ((rc = read_current(txn, space, key, key_len, &found, &cur)))
        return rc;
    if (flags & CAIRN_CAS_ABSENT)
        match = !found;
    else
        match = found && cur.len == expected_len &&
                (expected_len == 0 || memcmp(cur.data, expected, expected_len) == 0);
    if (!match)
        return conflict(key, key_len, expected, expected_len, (flags & CAIRN_CAS_ABSENT) != 0,
                        found, cur);
    if (flags & CAIRN_CAS_DELETE)
        return cairn_txn_del(txn, space, key, key_len);
    return cairn_txn_put(txn, space, key, key_len, val ? val : "", val_len);
}

/* Parses a counter (the grammar is at cairn_txn_incr in cairn.h). Returns
 * 0 with *out set, CAIRN_BADINPUT for a value that is not one, or -ERANGE
 * for one outside int64_t. Sets no detail. */
static int parse_counter(const uint8_t *s, size_t len, int64_t *out)
{
    bool negative = len > 0 && s[0] == '-';
    size_t i = negative ? 1 : 0;
    uint64_t magnitude = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool too_big = false;

    if (i == len)
        return CAIRN_BADINPUT;
    for (; i < len; i++) {
        unsigned digit;
        if (s[i] < '0' || s[i] > '9')
            return CAIRN_BADINPUT;
        digit = (unsigned)(s[i] - '0');
        if (magnitude > (limit - digit) / 10)
            too_big = true; /* keep going: a later non-digit is the worse news */
        else
            magnitude = magnitude * 10 + digit;
    }
    if (too_big)
        return -ERANGE;
    *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return 0;
}

/* The detail of a value that is not a counter, or one out of range. */
static int not_a_counter(int rc, const void *key, size_t key_len, cairn_val cur)
{
    char kq[CAIRN__QUOTE_SIZE(KEY_SHOW_MAX)], vq[CAIRN__QUOTE_SIZE(SHOW_MAX)];

    cairn__quote(key, key_len, KEY_SHOW_MAX, kq);
    cairn__quote(cur.data, cur.len, SHOW_MAX, vq);
    if (rc == -ERANGE)
        return cairn__fail(rc, "key '%s': the value '%s' lies outside the range of int64 "
                               "(%" PRId64 " to %" PRId64 ")",
                           kq, vq, INT64_MIN, INT64_MAX);
    return cairn__fail(rc, "key '%s': the value '%s' is not a decimal integer (an optional "
                           "'-' and digits only)",
                       kq, vq);
}

int cairn_txn_incr(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                   int64_t delta, int64_t *out)
{
    char kq[CAIRN__QUOTE_SIZE(KEY_SHOW_MAX)], text[24];
    cairn_val cur = {NULL, 0};
    int64_t now = 0, sum;
    bool found;
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__txn_usable(txn)))
        return rc;
    if ((rc = read_current(txn, space, key, key_len, &found, &cur)))
        return rc;
    if (found && (rc = parse_counter(cur.data, cur.len, &now)))
        return not_a_counter(rc, key, key_len, cur);
    if (__builtin_add_overflow(now, delta, &sum))
        return cairn__fail(-ERANGE, "key '%s': %" PRId64 " %s %" PRIu64 " lies outside the range "
                                    "of int64 (%" PRId64 " to %" PRId64 ")",
                           cairn__quote(key, key_len, KEY_SHOW_MAX, kq), now,
                           delta < 0 ? "-" : "+",
                           delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta,
                           INT64_MIN, INT64_MAX);
    snprintf(text, sizeof(text), "%" PRId64, sum);
    if ((rc = cairn_txn_put(txn, space, key, key_len, text, strlen(text))))
        return rc;
    if (out)
        *out = sum;
    return 0;
}
