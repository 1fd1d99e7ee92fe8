/*
 * fuzz_spec.c - cairn__tier_parse on each '>'-separated part of the input,
 * writable and read-only. Parsing only inspects its target, never writes;
 * it runs from an empty temporary directory so that relative paths meet
 * nothing of ours.
 */
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "fuzz_common.h"
#include "tier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int in_tmp;
    char text[1024], *part, *save;
    cairn_tier_config cfg;

    if (!in_tmp) {
        char dir[] = "/tmp/cairn-fuzz-spec-XXXXXX";
        FUZZ_CHECK(mkdtemp(dir) && chdir(dir) == 0, "no temporary directory");
        in_tmp = 1;
    }
    if (size >= sizeof(text))
        size = sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    for (part = strtok_r(text, ">", &save); part; part = strtok_r(NULL, ">", &save)) {
        (void)cairn__tier_parse(part, 0, &cfg);
        (void)cairn__tier_parse(part, CAIRN_RDONLY, &cfg);
    }
    return 0;
}
