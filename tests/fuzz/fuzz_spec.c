/*
 * fuzz_spec.c - cairn__tier_parse on each '>'-separated part of the input,
 * writable and read-only. Parsing only inspects its target, never writes;
 * it runs with an empty temporary directory as the current directory (and
 * goes back after, since libFuzzer reads its corpus by relative paths), so
 * that relative paths meet nothing of ours.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "fuzz_common.h"
#include "tier.h"

static char tmp_dir[] = "/tmp/cairn-fuzz-spec-XXXXXX";

static void remove_tmp(void)
{
    (void)rmdir(tmp_dir); /* empty: nothing was written */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made_tmp;
    char text[1024], *part, *save;
    cairn_tier_config cfg;
    int cwd;

    if (!made_tmp) {
        FUZZ_CHECK(mkdtemp(tmp_dir) != NULL, "no temporary directory");
        atexit(remove_tmp);
        made_tmp = 1;
    }
    if (size >= sizeof(text))
        size = sizeof(text) - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    FUZZ_CHECK((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0, "no current directory");
    FUZZ_CHECK(chdir(tmp_dir) == 0, "cannot enter %s", tmp_dir);
    for (part = strtok_r(text, ">", &save); part; part = strtok_r(NULL, ">", &save)) {
        (void)cairn__tier_parse(part, 0, &cfg);
        cairn__tier_config_clear(&cfg);
        (void)cairn__tier_parse(part, CAIRN_RDONLY, &cfg);
        cairn__tier_config_clear(&cfg);
    }
    FUZZ_CHECK(fchdir(cwd) == 0, "cannot go back");
    close(cwd);
    return 0;
}
