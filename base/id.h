/*
 * id.h - blob ids (the SHA-256 of a blob's bytes) and their hex form.
 * Knows nothing of what a blob holds.
 */
#ifndef CAIRN_ID_H
#define CAIRN_ID_H

#include <stdint.h>
#include <string.h>

#include "cairn.h"

/* SHA-256 of data (OpenSSL EVP). Returns 0, or CAIRN_NOMEM if OpenSSL
 * could not allocate its context (its allocations do not go through
 * cairn's allocator); *out is then all zero bytes, which matches no real
 * blob. A writer must check: a blob stored under a wrong id is lost. */
int cairn__sha256(const void *data, size_t len, cairn_id *out);

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

/* Short hex of an id for messages: the first 12 digits. buf holds 13. */
const char *cairn__id_short(const cairn_id *id, char buf[13]);

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

#endif /* CAIRN_ID_H */
