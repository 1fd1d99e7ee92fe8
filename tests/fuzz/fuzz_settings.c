/*
 * fuzz_settings.c - cairn__config_decode (the store settings blob) on
 * arbitrary bytes; settings it accepts are encoded again.
 */
#include "engine.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_buf buf = {.data = (void *)data, .len = size};
    uint32_t node_size;
    uint8_t *bytes;
    size_t len;

    if (cairn__config_decode(&buf, &node_size))
        return 0;
    if (cairn__config_encode(node_size, &bytes, &len) == 0)
        free(bytes);
    return 0;
}
