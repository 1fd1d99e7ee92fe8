/* chunker.c - the boundary rule described in chunker.h. */
#include "chunker.h"

#include <math.h>
#include <xxhash.h>

void cairn__chunker_init(cairn_chunker *ch, uint32_t target, uint32_t level)
{
    ch->target = target;
    ch->level = level;
    ch->size = 0;
    ch->n_items = 0;
}

/* Whether a node of start bytes that grows to end bytes with an item whose
 * key hashes to h ends after that item. */
static bool boundary(uint32_t target, uint64_t start, uint64_t end, uint64_t h)
{
    double s, e, p, u;

    if (end < target / 8)
        return false;
    if (end >= (uint64_t)target * 4)
        return true;
    s = (double)start / target;
    e = (double)end / target;
    p = -expm1(s * s * s * s - e * e * e * e);
    u = (double)(h >> 11) * 0x1p-53;
    return u < p;
}

bool cairn__chunker_add(cairn_chunker *ch, const void *key, uint32_t key_len,
                        uint32_t item_size)
{
    uint64_t start = ch->size, end = start + item_size;
    bool ends;

    ch->n_items++;
    if (ch->level > 0 && ch->n_items < 2)
        ends = false;
    else
        ends = boundary(ch->target, start, end, XXH64(key, key_len, ch->level));
    if (ends) {
        ch->size = 0;
        ch->n_items = 0;
    } else {
        ch->size = end;
    }
    return ends;
}
