/*
 * chunker.h - the content-defined node boundary rule.
 *
 * Items are fed one at a time; after each, the rule says whether the node
 * ends there. The decision depends only on the item's key, the tree level
 * and the node's size before and after the item, so the same items always
 * split into the same nodes, whatever history produced them.
 *
 * With T the node size target, size counting the encoded bytes of the items
 * so far (cairn__item_size), start and end the size before and after the
 * item, and h = XXH64(key, seed = level):
 *   - end < T/8 (the minimum):           no boundary;
 *   - end >= 4T (the maximum):           boundary;
 *   - internal levels, first item:       no boundary (so every internal node
 *                                        has at least two children and the
 *                                        tree always converges to one root);
 *   - else boundary iff (h >> 11) * 2^-53 < 1 - exp((start/T)^4 - (end/T)^4),
 *     i.e. the conditional probability of a Weibull(shape 4, scale T) node
 *     size ending in [start, end) given that it did not end before start.
 *     Computed in IEEE-754 double: -expm1((start/T)^4 - (end/T)^4).
 */
#ifndef CAIRN_CHUNKER_H
#define CAIRN_CHUNKER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cairn_chunker {
    uint32_t target;  /* T */
    uint32_t level;
    uint64_t size;    /* bytes of the items in the current node */
    uint32_t n_items; /* items in the current node */
} cairn_chunker;

void cairn__chunker_init(cairn_chunker *ch, uint32_t target, uint32_t level);

/* Adds an item of item_size bytes with the given key. Returns true if the
 * node ends after it (and the chunker starts the next node empty). */
bool cairn__chunker_add(cairn_chunker *ch, const void *key, uint32_t key_len,
                        uint32_t item_size);

/* Starts a new node without an item (when a caller re-enters a level at a
 * known boundary). */
static inline void cairn__chunker_reset(cairn_chunker *ch)
{
    ch->size = 0;
    ch->n_items = 0;
}

#endif /* CAIRN_CHUNKER_H */
