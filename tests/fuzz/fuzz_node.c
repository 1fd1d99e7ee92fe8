/*
 * fuzz_node.c - cairn__node_decode on arbitrary bytes; a node it accepts
 * is walked (items, lookups) and encoded again.
 */
#include <string.h>

#include "fuzz_common.h"
#include "id.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_node *nd;
    cairn_item *items;
    cairn_id id;
    uint8_t *bytes;
    size_t len;

    cairn__sha256(data, size, &id);
    if (cairn__node_decode(&id, data, size, &nd))
        return 0;
    FUZZ_CHECK(nd->size == size, "size %u of %zu bytes", nd->size, size);
    items = malloc((nd->n ? nd->n : 1) * sizeof(*items));
    FUZZ_CHECK(items != NULL, "no memory");
    for (uint32_t i = 0; i < nd->n; i++) {
        cairn__node_item(nd, i, &items[i]);
        (void)cairn__item_size(nd->level, &items[i]);
        FUZZ_CHECK(cairn__node_lower_bound(nd, items[i].key, items[i].key_len) <= i,
                   "entry %u is not found at or before itself", i);
        if (nd->level > 0)
            FUZZ_CHECK(cairn__node_child_for(nd, items[i].key, items[i].key_len) < nd->n,
                       "child out of range");
    }
    (void)cairn__node_lower_bound(nd, "m", 1);
    if (cairn__node_encode(nd->level, items, nd->n, &bytes, &len) == 0)
        free(bytes);
    free(items);
    free(nd);
    return 0;
}
