/*
 * util.h - small helpers every layer uses: error details, hashing, ids.
 * Lives in tiers/ because tiers are the bottom layer; it knows nothing of
 * nodes or commits.
 */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cairn.h"

/* Records a detailed message for the calling thread (read back with
 * cairn_errdetail()) and returns rc, so that callers can write
 *     return cairn__fail(CAIRN_BADSPEC, "mem: bad capacity '%s'", arg);   */
int cairn__fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the thread's current detail with "context: " (or sets it to the
 * context and strerror(rc) if there is none) and returns rc. */
int cairn__fail_context(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the thread's detail; public entry points call it first. */
void cairn__detail_clear(void);

/* SHA-256 of data (OpenSSL EVP). */
void cairn__sha256(const void *data, size_t len, cairn_id *out);

static inline int cairn__id_cmp(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

static inline int cairn__id_eq(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* A well-mixed 64-bit hash of an id for hash tables (ids are already
 * uniform, so the first eight bytes do). */
static inline uint64_t cairn__id_hash(const cairn_id *id)
{
    uint64_t h;
    memcpy(&h, id->bytes, sizeof(h));
    return h;
}

/* Compares byte strings: memcmp, then length (the key order). Keys are
 * usually short and compared in binary searches, so the first 32 bytes are
 * compared inline, 8 at a time, before handing longer ones to memcmp. */
static inline int cairn__bytes_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    const uint8_t *x = a, *y = b;
    size_t n = a_len < b_len ? a_len : b_len, done = 0;
    int c;

    for (; done + 8 <= n && done < 32; done += 8) {
        uint64_t u, v;
        memcpy(&u, x + done, 8);
        memcpy(&v, y + done, 8);
        if (u != v) {
            u = __builtin_bswap64(u);
            v = __builtin_bswap64(v);
            return u < v ? -1 : 1;
        }
    }
    if (n - done >= 8) {
        if ((c = memcmp(x + done, y + done, n - done)) != 0)
            return c < 0 ? -1 : 1;
    } else {
        for (; done < n; done++)
            if (x[done] != y[done])
                return x[done] < y[done] ? -1 : 1;
    }
    return (a_len > b_len) - (a_len < b_len);
}

/* The value of hex digit c (either case), or -1. */
static inline int cairn__hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* mkdir -p: creates path and any missing parents (mode 0755). Returns 0 if
 * path is, or now is, a directory; else -errno with a detail naming the
 * path (-ENOTDIR when a file is in the way). */
int cairn__mkdir_p(const char *path);

/* The writer lock of a local store: flock(LOCK_EX | LOCK_NB) on
 * cairn.lock in the store's directory (dirfd, or store_path when dirfd is
 * AT_FDCWD), opened afresh for each acquire, since flock locks belong to
 * the open file description: a second handle in this process is refused
 * just as another process is. *slot holds the lock's fd while held, else
 * -1; releasing closes it. Errors: CAIRN_BUSY, -errno (the detail names
 * store_path). */
int cairn__store_lock(_Atomic int *slot, int dirfd, const char *store_path, bool acquire);

/* Short hex of an id for messages: the first 12 digits. buf holds 13. */
const char *cairn__id_short(const cairn_id *id, char buf[13]);

#endif /* CAIRN_UTIL_H */
