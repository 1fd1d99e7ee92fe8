/*
 * mp.h - a bounds-checked msgpack reader for cairn's fixed schemas.
 *
 * Encoding goes through msgpack-c. Decoding does not: msgpack-c's unpacker
 * allocates an array's element storage from its declared length before
 * looking at the data, so a corrupt header can ask for gigabytes. Our
 * objects have fixed shapes, so reading them field by field with every
 * length checked against the bytes that remain is both safer and faster
 * (no allocation at all). Every reader returns false, and leaves the
 * reader unusable, on a wrong type or a length past the end.
 */
#ifndef CAIRN_MP_H
#define CAIRN_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mp_reader {
    const uint8_t *p, *end;
} mp_reader;

static inline void mp_init(mp_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
}

static inline bool mp_at_end(const mp_reader *r)
{
    return r->p == r->end;
}

static inline size_t mp_left(const mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

/* Reads a big-endian unsigned integer of n bytes after the type byte. */
static inline bool mp_be(mp_reader *r, unsigned n, uint64_t *v)
{
    unsigned i;
    if (mp_left(r) < n)
        return false;
    *v = 0;
    for (i = 0; i < n; i++)
        *v = (*v << 8) | r->p[i];
    r->p += n;
    return true;
}

static inline bool mp_fail(mp_reader *r)
{
    r->p = r->end;
    return false;
}

/* An array header; n is checked against the bytes left (each element
 * takes at least one byte). */
static inline bool mp_array(mp_reader *r, uint32_t *n)
{
    uint64_t v;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (t >= 0x90 && t <= 0x9f)
        v = t & 0x0f;
    else if (!((t == 0xdc && mp_be(r, 2, &v)) || (t == 0xdd && mp_be(r, 4, &v))))
        return mp_fail(r);
    if (v > mp_left(r))
        return mp_fail(r);
    *n = (uint32_t)v;
    return true;
}

/* A map header: n key/value pairs, checked against the bytes left (each
 * pair takes at least two). */
static inline bool mp_map(mp_reader *r, uint32_t *n)
{
    uint64_t v;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (t >= 0x80 && t <= 0x8f)
        v = t & 0x0f;
    else if (!((t == 0xde && mp_be(r, 2, &v)) || (t == 0xdf && mp_be(r, 4, &v))))
        return mp_fail(r);
    if (v > mp_left(r) / 2)
        return mp_fail(r);
    *n = (uint32_t)v;
    return true;
}

static inline bool mp_uint(mp_reader *r, uint64_t *v)
{
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (t <= 0x7f) {
        *v = t;
        return true;
    }
    if ((t == 0xcc && mp_be(r, 1, v)) || (t == 0xcd && mp_be(r, 2, v)) ||
        (t == 0xce && mp_be(r, 4, v)) || (t == 0xcf && mp_be(r, 8, v)))
        return true;
    return mp_fail(r);
}

/* A signed integer in any msgpack integer form. */
static inline bool mp_int(mp_reader *r, int64_t *v)
{
    uint64_t u;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p;
    if (t <= 0x7f || (t >= 0xcc && t <= 0xcf)) {
        if (!mp_uint(r, &u) || u > INT64_MAX)
            return mp_fail(r);
        *v = (int64_t)u;
        return true;
    }
    r->p++;
    if (t >= 0xe0) {
        *v = (int8_t)t;
        return true;
    }
    if (t >= 0xd0 && t <= 0xd3 && mp_be(r, 1u << (t - 0xd0), &u)) {
        unsigned bits = 8u << (t - 0xd0);
        *v = bits == 64 ? (int64_t)u : (int64_t)(u ^ (1ull << (bits - 1))) - (int64_t)(1ull << (bits - 1));
        return true;
    }
    return mp_fail(r);
}

/* A bin; *data points into the input. */
static inline bool mp_bin(mp_reader *r, const uint8_t **data, uint32_t *len)
{
    uint64_t n;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (!((t == 0xc4 && mp_be(r, 1, &n)) || (t == 0xc5 && mp_be(r, 2, &n)) ||
          (t == 0xc6 && mp_be(r, 4, &n))) || n > mp_left(r))
        return mp_fail(r);
    *data = r->p;
    *len = (uint32_t)n;
    r->p += n;
    return true;
}

/* A str; *data points into the input. */
static inline bool mp_str(mp_reader *r, const uint8_t **data, uint32_t *len)
{
    uint64_t n;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (t >= 0xa0 && t <= 0xbf)
        n = t & 0x1f;
    else if (!((t == 0xd9 && mp_be(r, 1, &n)) || (t == 0xda && mp_be(r, 2, &n)) ||
               (t == 0xdb && mp_be(r, 4, &n))))
        return mp_fail(r);
    if (n > mp_left(r))
        return mp_fail(r);
    *data = r->p;
    *len = (uint32_t)n;
    r->p += n;
    return true;
}

/* An ext of any size form; *data points into the input. */
static inline bool mp_ext(mp_reader *r, int8_t *type, const uint8_t **data, uint32_t *len)
{
    static const uint8_t fixed[] = {1, 2, 4, 8, 16};
    uint64_t n;
    uint8_t t;
    if (mp_left(r) < 1)
        return false;
    t = *r->p++;
    if (t >= 0xd4 && t <= 0xd8)
        n = fixed[t - 0xd4];
    else if (!((t == 0xc7 && mp_be(r, 1, &n)) || (t == 0xc8 && mp_be(r, 2, &n)) ||
               (t == 0xc9 && mp_be(r, 4, &n))))
        return mp_fail(r);
    if (mp_left(r) < 1 + n)
        return mp_fail(r);
    *type = (int8_t)*r->p++;
    *data = r->p;
    *len = (uint32_t)n;
    r->p += n;
    return true;
}

static inline bool mp_nil(mp_reader *r)
{
    if (mp_left(r) < 1 || *r->p != 0xc0)
        return false;
    r->p++;
    return true;
}

/* The type byte of the next value, or -1 at the end. */
static inline int mp_peek(const mp_reader *r)
{
    return mp_left(r) ? *r->p : -1;
}

#endif /* CAIRN_MP_H */
