/*
 * test_engine_model.c - the public API against a plain sorted map.
 *
 * Thousands of random operations: puts (values of 0..3000 bytes, so some
 * go out of line), deletes, reads inside the transaction, commits, aborts,
 * point reads, forward and reverse range scans with seeks, range counts,
 * diffs between commits and reopening the store, over two keyspaces. Each
 * committed version is remembered with a copy of the model and re-read
 * later (time travel). Run on mem, lmdb and file stores, a stack with a
 * small file cache, and an lmdb store with a file ref tier behind it (whose
 * verify checks each tier on its own), with several node sizes.
 *
 * Deletes pick absent keys (before, between and after the present ones)
 * a third of the time, and phases drain the keyspaces to nothing so that
 * small trees recur; after every commit each keyspace root is compared with
 * a fresh build of the model's contents.
 *
 * Then history independence through the API: the same contents reached by
 * different orders, batchings and deletions give the same catalog root in
 * mem, lmdb and file, and that root is the same in all three.
 *
 * The model is the sorted map of tests/model.c, which test_engine_scale
 * (many seeds, reopens, crash steps) shares; the operations are
 * tests/apimodel.c's, which test_engine_redis runs on the Redis tier.
 */
#include "apimodel.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void history_independence(void)
{
    const char *dir = strdup(test_tmpdir());
    cairn_id first, root;
    char spec[512];
    int how, kind;

    mkdir(dir, 0700);
    for (kind = 0; kind < 3; kind++) {
        for (how = 0; how < 4; how++) {
            if (kind == 0)
                snprintf(spec, sizeof(spec), "mem");
            else if (kind == 1)
                snprintf(spec, sizeof(spec), "lmdb:%s/h%d", dir, how);
            else
                snprintf(spec, sizeof(spec), "file:%s/f%d", dir, how);
            apimodel_build_history(spec, how, 4000, &root);
            if (kind == 0 && how == 0)
                first = root;
            else if (memcmp(first.bytes, root.bytes, 32) != 0)
                TEST_FAIL("history %d on %s gave a different root", how, spec);
        }
    }
    printf("history independence: 12 histories in mem, lmdb and file, one root\n");
    free((void *)dir);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;
    int ops = (int)(6000 * scale) + 500;
    const char *dir;
    char spec[600];

    test_seed_init(42);
    history_independence();
    apimodel_run("mem", 256, ops, 400);
    dir = test_tmpdir();
    snprintf(spec, sizeof(spec), "lmdb:%s", dir);
    apimodel_run(spec, 512, ops, 3000);
    dir = test_tmpdir();
    snprintf(spec, sizeof(spec), "mem:1M>lmdb:%s", dir);
    apimodel_run(spec, 4096, ops / 2, 20000);
    dir = test_tmpdir();
    snprintf(spec, sizeof(spec), "file:%s", dir);
    apimodel_run(spec, 512, ops / 2, 3000);
    dir = test_tmpdir();
    snprintf(spec, sizeof(spec), "mem:1M>file:%s/cache?capacity=256K&io=syscall>lmdb:%s/data", dir,
             dir);
    apimodel_run(spec, 1024, ops / 2, 3000);
    dir = test_tmpdir();
    snprintf(spec, sizeof(spec), "lmdb:%s/primary>file:%s/follower", dir, dir);
    apimodel_run(spec, 512, ops / 3, 3000);
    printf("ok\n");
    return 0;
}
