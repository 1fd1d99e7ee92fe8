/*
 * fuzz_s3head.c - cairn__s3_head_decode (tiers/s3/head.c) on arbitrary
 * bytes: the one object of an S3 store that anyone who can write to the
 * bucket can replace. A head it accepts must hold together: refs sorted
 * and unique, packs named once and large enough for their index, and
 * encoding it again gives a head that decodes to the same contents.
 */
#include <string.h>

#include "alloc.h"
#include "fuzz_common.h"
#include "head.h"
#include "id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_s3_head h, again;
    char *text;
    size_t len;

    if (cairn__s3_head_decode("fuzz", data, size, &h))
        return 0;
    for (size_t i = 1; i < h.n_refs; i++)
        FUZZ_CHECK(strcmp(h.refs[i - 1].name, h.refs[i].name) < 0, "refs out of order at %zu", i);
    for (size_t i = 0; i < h.n_packs; i++) {
        FUZZ_CHECK(cairn__s3_pack_name_ok(h.packs[i].name), "pack name %zu", i);
        FUZZ_CHECK(h.packs[i].bytes >= 40 + 48 * h.packs[i].count, "pack %zu too small", i);
    }
    FUZZ_CHECK(cairn__s3_head_encode(&h, &text, &len) == 0, "encode failed");
    FUZZ_CHECK(cairn__s3_head_decode("again", text, len, &again) == 0, "re-decode failed");
    FUZZ_CHECK(again.epoch == h.epoch && again.seq == h.seq && again.n_refs == h.n_refs &&
                   again.n_packs == h.n_packs && again.n_retired == h.n_retired &&
                   !strcmp(again.nonce, h.nonce),
               "fields differ after a round trip");
    for (size_t i = 0; i < h.n_refs; i++)
        FUZZ_CHECK(!strcmp(again.refs[i].name, h.refs[i].name) &&
                       cairn__id_eq(&again.refs[i].id, &h.refs[i].id),
                   "ref %zu differs", i);
    for (size_t i = 0; i < h.n_packs; i++)
        FUZZ_CHECK(!memcmp(&again.packs[i], &h.packs[i], sizeof(h.packs[i])), "pack %zu differs", i);
    cairn__free(text);
    cairn__s3_head_clear(&again);
    cairn__s3_head_clear(&h);
    return 0;
}
