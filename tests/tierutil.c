/* tierutil.c - the helpers declared in tierutil.h. */
#include "tierutil.h"

#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "test.h"

test_blob make_blob(uint64_t seed, size_t len)
{
    test_blob b;

    b.len = len;
    b.data = malloc(len ? len : 1);
    ASSERT_TRUE(b.data != NULL);
    for (size_t i = 0; i < len; i++)
        b.data[i] = (unsigned char)((seed * 31 + i * 7 + (seed >> 3)) & 0xff);
    if (len)
        memcpy(b.data, &seed, len < sizeof(seed) ? len : sizeof(seed));
    cairn__sha256(b.data, len, &b.id);
    return b;
}

cairn_blob as_blob(const test_blob *b)
{
    cairn_blob c = {b->id, b->data, b->len};
    return c;
}

int put_one(cairn_tier *t, const test_blob *b)
{
    cairn_blob c = as_blob(b);
    return cairn__tier_put_many(t, &c, 1);
}

bool holds(cairn_tier *t, const test_blob *b)
{
    cairn_buf buf;
    bool ok;

    ASSERT_OK(cairn__tier_get_many(t, &b->id, 1, &buf));
    if (!buf.data)
        return false;
    ok = buf.len == b->len && memcmp(buf.data, b->data, b->len) == 0;
    ASSERT_TRUE(ok);
    free(buf.data);
    return true;
}
