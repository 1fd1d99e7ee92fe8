/*
 * fuzz_commit.c - cairn__commit_decode on arbitrary bytes; a commit it
 * accepts is encoded again.
 */
#include "alloc.h"
#include "engine.h"
#include "fuzz_common.h"
#include "id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_commit_info info = {0};
    size_t msg_len = 0, len;
    uint8_t *bytes;
    cairn_id id;

    cairn__sha256(data, size, &id);
    if (cairn__commit_decode(&id, data, size, &info, &msg_len)) {
        cairn__free(info.message);
        return 0;
    }
    FUZZ_CHECK(info.message != NULL, "no message");
    if (cairn__commit_encode(&info, msg_len, &bytes, &len) == 0)
        free(bytes);
    cairn__free(info.message);
    return 0;
}
