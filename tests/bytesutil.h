/*
 * bytesutil.h - a growable byte string for tests that build wire data
 * (test_resp, test_resp_out).
 */
#ifndef CAIRN_BYTESUTIL_H
#define CAIRN_BYTESUTIL_H

#include <stdlib.h>
#include <string.h>

#include "test.h"

typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

/* realloc, or fails the test. */
static inline void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        TEST_FAIL("out of memory (%zu bytes)", size);
    return q;
}

static inline void bytes_add(bytes *b, const void *p, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
}

static inline void bytes_str(bytes *b, const char *s)
{
    bytes_add(b, s, strlen(s));
}

#endif /* CAIRN_BYTESUTIL_H */
