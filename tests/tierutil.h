/*
 * tierutil.h - blobs for the tier tests: deterministic contents from a
 * seed, with their ids, and the checks every tier test makes with them.
 */
#ifndef CAIRN_TIERUTIL_H
#define CAIRN_TIERUTIL_H

#include <stdbool.h>

#include "tier.h"

typedef struct test_blob {
    cairn_id id;
    unsigned char *data; /* malloc'd; free it */
    size_t len;
} test_blob;

/* A blob of len bytes derived from seed (distinct seeds, len >= 8: distinct
 * blobs), with its id. */
test_blob make_blob(uint64_t seed, size_t len);
/* The blob as the tier interface takes it (borrowing b's bytes). */
cairn_blob as_blob(const test_blob *b);
/* Puts one blob into t. */
int put_one(cairn_tier *t, const test_blob *b);
/* Whether t holds b; if it does, the bytes must be exactly b's (a test
 * failure otherwise). */
bool holds(cairn_tier *t, const test_blob *b);

#endif /* CAIRN_TIERUTIL_H */
