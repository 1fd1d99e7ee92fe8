/*
 * fuzz_pack.c - cairn__pack_index_parse on arbitrary bytes taken as a
 * whole pack, and as a pack of which only a suffix was read. A pack it
 * accepts must hold together: every entry is found by lookup, its record
 * lies within the records, and building a pack again from the records
 * gives one that parses to the same ids.
 */
#include <string.h>

#include "alloc.h"
#include "fuzz_common.h"
#include "id.h"
#include "pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_pack_index *ix, *again;
    cairn_pack_footer f;
    cairn_blob *blobs;
    uint8_t *pack;
    size_t len;

    /* A suffix read: the last bytes of a (claimed) larger pack. */
    if (size >= CAIRN_PACK_FOOTER &&
        cairn__pack_footer_parse("fuzz", data + size - CAIRN_PACK_FOOTER, (uint64_t)size + 4096,
                                 &f) == 0 &&
        cairn__pack_suffix_len(&f) <= size &&
        cairn__pack_index_parse("fuzz", data, size, (uint64_t)size + 4096, &ix) == 0)
        cairn__pack_index_free(ix);

    if (cairn__pack_index_parse("fuzz", data, size, size, &ix))
        return 0;
    FUZZ_CHECK(ix->size == size, "size %llu of %zu", (unsigned long long)ix->size, size);
    blobs = malloc((ix->count ? ix->count : 1) * sizeof(*blobs));
    FUZZ_CHECK(blobs != NULL, "no memory");
    for (uint64_t k = 0; k < ix->count; k++) {
        const cairn_pack_entry *e = &ix->entries[k];
        FUZZ_CHECK(cairn__pack_lookup(ix, &e->id) == e, "entry %llu not found",
                   (unsigned long long)k);
        FUZZ_CHECK(e->offset <= size && e->length <= size - e->offset, "record out of range");
        blobs[k] = (cairn_blob){e->id, data + e->offset, (size_t)e->length};
    }
    FUZZ_CHECK(cairn__pack_build(blobs, (size_t)ix->count, &pack, &len) == 0, "rebuild failed");
    FUZZ_CHECK(len == size, "rebuilt %zu bytes of %zu", len, size);
    FUZZ_CHECK(cairn__pack_index_parse("fuzz", pack, len, len, &again) == 0,
               "a rebuilt pack does not parse");
    FUZZ_CHECK(again->count == ix->count, "counts differ");
    for (uint64_t k = 0; k < ix->count; k++)
        FUZZ_CHECK(cairn__id_eq(&again->entries[k].id, &ix->entries[k].id), "ids differ");
    cairn__pack_index_free(again);
    cairn__free(pack);
    free(blobs);
    cairn__pack_index_free(ix);
    return 0;
}
