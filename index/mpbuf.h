/*
 * mpbuf.h - a growable output buffer for msgpack-c's packer, allocated
 * through cairn's allocator (msgpack_sbuffer would use libc's realloc):
 *
 *     mp_buf buf = {0};
 *     msgpack_packer pk;
 *     msgpack_packer_init(&pk, &buf, mp_buf_write);
 *     bad |= msgpack_pack_...(&pk, ...);
 *     if (bad) { cairn__free(buf.data); return CAIRN_NOMEM; }
 *
 * A failed write leaves buf as it was, so the caller frees buf.data (NULL
 * or a partial encoding) on every path. On success buf.data (cairn__free)
 * holds buf.len bytes.
 */
#ifndef CAIRN_MPBUF_H
#define CAIRN_MPBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

typedef struct mp_buf {
    uint8_t *data; /* cairn__malloc'd, or NULL before the first write */
    size_t len;    /* bytes written */
    size_t cap;    /* bytes allocated */
} mp_buf;

/* msgpack_packer_write: appends n bytes; returns 0, or -1 if the buffer
 * could not grow (msgpack-c passes that on from every pack call). */
static inline int mp_buf_write(void *ctx, const char *bytes, size_t n)
{
    mp_buf *b = ctx;

    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *grown;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        if (!(grown = cairn__realloc(b->data, cap)))
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

#endif /* CAIRN_MPBUF_H */
