/*
 * test_engine_gc_model.c - gc interleaved with random commits, branches,
 * tags and resets, against a model (gcmodel.c), on mem, lmdb and file
 * stores, several seeds each. S3 runs the same model in
 * test_engine_s3_gc.c.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "gcutil.h"
#include "test.h"

int main(void)
{
    static const char *const kinds[] = {"mem", "lmdb", "file"};
    char spec[700], dir[600];

    test_seed_init(17);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_OK(mkdir(dir, 0700));
    for (int round = 0; round < 3; round++) {
        uint64_t seed = test_seed * 1000 + (uint64_t)round;
        for (int k = 0; k < 3; k++) {
            if (k == 0)
                snprintf(spec, sizeof(spec), "mem");
            else
                snprintf(spec, sizeof(spec), "%s:%s/model-%s-%d", kinds[k], dir, kinds[k],
                         round);
            gc_model_run(spec, seed, 300);
        }
    }
    printf("ok\n");
    return 0;
}
