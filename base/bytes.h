/* bytes.h - the key order: byte strings compared as memcmp, then length. */
#ifndef CAIRN_BYTES_H
#define CAIRN_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

#endif /* CAIRN_BYTES_H */
