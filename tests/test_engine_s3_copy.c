/*
 * test_engine_s3_copy.c - cairn_copy and bundles with S3 stores, in the S3
 * fixture (scripts/s3-server.sh run): every pair of mem, lmdb, file and s3
 * that has an s3 side (mem lives in this process only, hence here and not
 * in tests/cli/test_s3_copy.sh): the copy has the same refs, logs, roots
 * and contents, and verifies clean; a second copy after more commits moves
 * exactly the new blobs; a bundle exported from S3 imports into S3.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storeutil.h"
#include "test.h"

static char dir[PATH_MAX];
static const char *bucket;

static void spec_of(char *out, size_t cap, const char *kind, const char *name)
{
    if (!strcmp(kind, "s3"))
        snprintf(out, cap, "s3://%s/copy-%ld-%s", bucket, (long)getpid(), name);
    else
        store_spec(out, cap, kind, dir, name);
}

static uint64_t reachable(cairn_db *db)
{
    cairn_verify_report rep;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &rep));
    return rep.commits + rep.nodes + rep.values + 1;
}

static cairn_copy_report copy_ok(cairn_db *src, cairn_db *dst)
{
    cairn_copy_report r;
    ASSERT_OK(cairn_copy(src, dst, NULL, 0, NULL, &r));
    return r;
}

static void pair(const char *from, const char *to)
{
    char src_spec[PATH_MAX + 64], dst_spec[PATH_MAX + 64], name[64];
    cairn_copy_report r;
    cairn_db *src, *dst;
    uint64_t had;

    snprintf(name, sizeof(name), "src-%s-%s", from, to);
    spec_of(src_spec, sizeof(src_spec), from, name);
    snprintf(name, sizeof(name), "dst-%s-%s", from, to);
    spec_of(dst_spec, sizeof(dst_spec), to, name);
    src = store_open(src_spec, 0, 0);
    dst = store_open(dst_spec, 0, 0);
    store_history(src, 8);
    r = copy_ok(src, dst);
    ASSERT_EQ(r.blobs_copied, reachable(src) - 1);
    store_same_refs(src, dst, true);
    store_same_contents(src, dst, "main");
    store_verify_ok(dst, "a copy");
    had = reachable(src);
    store_history(src, 3);
    r = copy_ok(src, dst);
    ASSERT_EQ(r.blobs_copied, reachable(src) - had);
    store_same_refs(src, dst, true);
    store_verify_ok(dst, "a second copy");
    r = copy_ok(src, dst);
    ASSERT_TRUE(r.blobs_copied == 0 && r.refs_moved == 0);
    printf("%s -> %s: %llu blobs, then %llu\n", from, to, (unsigned long long)(had - 1),
           (unsigned long long)(reachable(src) - had));
    cairn_close(src);
    cairn_close(dst);
}

static void bundle_s3_to_s3(void)
{
    char src_spec[PATH_MAX + 64], dst_spec[PATH_MAX + 64], path[PATH_MAX + 32];
    cairn_copy_report r;
    cairn_db *src, *dst;
    FILE *f;

    spec_of(src_spec, sizeof(src_spec), "s3", "bundle-src");
    spec_of(dst_spec, sizeof(dst_spec), "s3", "bundle-dst");
    snprintf(path, sizeof(path), "%s/s3.pack", dir);
    src = store_open(src_spec, 0, 0);
    store_history(src, 8);
    ASSERT_TRUE((f = fopen(path, "wb")));
    ASSERT_OK(cairn_bundle_export(src, f, NULL, 0, NULL, &r));
    ASSERT_TRUE(fclose(f) == 0);
    dst = store_open(dst_spec, 0, 0);
    ASSERT_OK(cairn_bundle_import(dst, path, NULL, 0, NULL, &r));
    store_same_refs(src, dst, true);
    store_verify_ok(dst, "a bundle imported into S3");
    cairn_close(dst);
    /* Another process's view: a fresh handle reads what the import wrote. */
    dst = store_open(dst_spec, 0, CAIRN_RDONLY);
    store_same_refs(src, dst, true);
    cairn_close(dst);
    cairn_close(src);
    printf("a bundle from S3 into S3\n");
}

int main(void)
{
    static const char *const kinds[] = {"mem", "lmdb", "file"};
    test_seed_init(17);
    bucket = test_s3_bucket();
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_TRUE(mkdir(dir, 0755) == 0);
    for (size_t k = 0; k < 3; k++) {
        pair(kinds[k], "s3");
        pair("s3", kinds[k]);
    }
    pair("s3", "s3");
    bundle_s3_to_s3();
    printf("ok\n");
    return 0;
}
