/*
 * fuzz_tree.c - a store whose tree is made of arbitrary (hash-valid) blobs.
 *
 * Input: a sequence of chunks, each a 2-byte big-endian length and that
 * many bytes (a short last chunk takes what is left). Every chunk is stored
 * in a fresh "mem" store under its SHA-256; a catalog whose default keyspace
 * root is the first chunk's id and a commit over it are published as branch
 * main, and an empty version as branch "empty". Then every read runs on it:
 * point reads, counts, full scans both ways (after an error every later
 * call must fail again), diffs against the empty version both ways,
 * verify, and a commit of a put on top. None may crash, hang or leak.
 */
#include <string.h>

#include "cairn.h"
#include "engine.h"
#include "fuzz_common.h"
#include "id.h"
#include "node.h"

#define MAX_CHUNKS 64
#define MAX_STEPS 1000000 /* no tree of this input holds that many keys */

static int publish_version(cairn_db *db, const char *ref, const cairn_id *root, cairn_blob *blobs,
                           size_t n)
{
    cairn_item cat = {.key = (const uint8_t *)"", .key_len = 0, .val = root ? root->bytes : NULL,
                      .val_len = 32};
    cairn_commit_info info = {.seq = 1, .writer_epoch = 1, .key_count = n, .message = ""};
    uint8_t *cat_bytes, *commit_bytes;
    size_t cat_len, commit_len;
    int rc;

    if ((rc = cairn__node_encode(0, &cat, root ? 1 : 0, &cat_bytes, &cat_len)))
        return rc;
    blobs[n] = (cairn_blob){.data = cat_bytes, .len = cat_len};
    cairn__sha256(cat_bytes, cat_len, &blobs[n].id);
    info.catalog = blobs[n].id;
    if ((rc = cairn__commit_encode(&info, 0, &commit_bytes, &commit_len))) {
        free(cat_bytes);
        return rc;
    }
    blobs[n + 1] = (cairn_blob){.data = commit_bytes, .len = commit_len};
    cairn__sha256(commit_bytes, commit_len, &blobs[n + 1].id);
    rc = cairn__stack_publish(db->stack, blobs, n + 2, ref, NULL, &blobs[n + 1].id);
    free(cat_bytes);
    free(commit_bytes);
    return rc;
}

/* Runs a scan to its end; after an error, later calls must fail too. */
static void scan(cairn_snapshot *snap, unsigned flags)
{
    cairn_iter *it;
    cairn_val k, v;
    long steps = 0;
    int rc;

    if (cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, flags, &it))
        return;
    while ((rc = cairn_iter_next(it, &k, &v)) == 0)
        FUZZ_CHECK(++steps < MAX_STEPS, "a %s scan does not end", flags ? "reverse" : "forward");
    if (rc != CAIRN_NOTFOUND) {
        FUZZ_CHECK(cairn_iter_next(it, &k, &v) != 0, "next succeeded after %s", cairn_errname(rc));
        FUZZ_CHECK(cairn_iter_seek(it, "a", 1) != 0 || cairn_iter_next(it, &k, &v) != 0,
                   "seek and next succeeded after %s", cairn_errname(rc));
        FUZZ_CHECK(cairn_iter_next(it, &k, &v) != 0, "next succeeded after %s", cairn_errname(rc));
    }
    cairn_iter_close(it);

    /* a seek into the middle, then a few steps */
    if (cairn_iter_open(snap, NULL, NULL, 0, NULL, 0, flags, &it))
        return;
    if (cairn_iter_seek(it, "m", 1) == 0)
        for (int i = 0; i < 4 && cairn_iter_next(it, &k, &v) == 0; i++)
            ;
    cairn_iter_close(it);
}

static void diff(cairn_snapshot *a, cairn_snapshot *b)
{
    cairn_diff *d;
    cairn_diff_entry e;
    long steps = 0;
    int rc;

    if (cairn_diff_open(a, b, NULL, &d))
        return;
    while ((rc = cairn_diff_next(d, &e)) == 0)
        FUZZ_CHECK(++steps < MAX_STEPS, "a diff does not end");
    if (rc != CAIRN_NOTFOUND)
        FUZZ_CHECK(cairn_diff_next(d, &e) != 0, "diff_next succeeded after %s", cairn_errname(rc));
    cairn_diff_close(d);
}

static void read_all(cairn_db *db)
{
    static const char *const keys[] = {"", "a", "d", "m", "z", "\xff\xff"};
    cairn_snapshot *snap, *empty;
    cairn_val v;
    uint64_t count;

    if (cairn_snapshot_open(db, NULL, &snap))
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        (void)cairn_get(snap, NULL, keys[i], strlen(keys[i]), &v);
    (void)cairn_count(snap, NULL, NULL, 0, NULL, 0, &count);
    (void)cairn_count(snap, NULL, "b", 1, "y", 1, &count);
    scan(snap, 0);
    scan(snap, CAIRN_ITER_REVERSE);
    if (cairn_snapshot_open(db, "empty", &empty) == 0) {
        diff(empty, snap);
        diff(snap, empty);
        cairn_snapshot_close(empty);
    }
    cairn_snapshot_close(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_blob blobs[MAX_CHUNKS + 2];
    cairn_verify_report report;
    cairn_txn *txn;
    cairn_db *db;
    size_t n = 0;

    while (size > 0 && n < MAX_CHUNKS) {
        size_t len = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
        size_t skip = size >= 2 ? 2 : size;
        data += skip;
        size -= skip;
        if (len > size)
            len = size;
        blobs[n] = (cairn_blob){.data = data, .len = len};
        cairn__sha256(data, len, &blobs[n].id);
        n++;
        data += len;
        size -= len;
    }
    if (n == 0)
        return 0;
    if (cairn_open("mem", NULL, &db))
        return 0;
    if (publish_version(db, "heads/main", &blobs[0].id, blobs, n) == 0 &&
        publish_version(db, "heads/empty", NULL, blobs, 0) == 0) {
        read_all(db);
        (void)cairn_verify(db, NULL, NULL, &report);
        if (cairn_txn_begin(db, NULL, &txn) == 0) {
            (void)cairn_txn_put(txn, NULL, "k", 1, "v", 1);
            (void)cairn_txn_commit(txn, "fuzz", NULL);
        }
        read_all(db);
    }
    cairn_close(db);
    return 0;
}
