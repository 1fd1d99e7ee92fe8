/*
 * test_engine_verify.c - verify finds damage that hashes right.
 *
 * Every blob below is well formed msgpack with the right id, so reads may
 * even succeed; but each breaks a rule of docs/format.md that makes the
 * store's ids not the ones its contents give, and verify must report it:
 *  - an internal root with a single child (the child would be the root);
 *  - a commit whose key_count differs from its keyspaces' keys;
 *  - a commit with an integer in a wider msgpack form than the smallest
 *    (a signed int64 for the time; a uint64 for the key count);
 *  - a first commit whose seq is not 1; a commit whose seq is not its
 *    parent's + 1;
 *  - a catalog listing an empty keyspace;
 *  - settings in a non-canonical form.
 * Each case is a fresh store with one branch "bad" built by hand next to an
 * honest main; the problem must name what is wrong, and the honest store
 * alone verifies clean.
 */
#include <limits.h>
#include <msgpack.h>

#include "engine.h"
#include "id.h"
#include "test.h"
#include "tree.h"

typedef struct built {
    cairn_db *db;
    cairn_id leaf_root;   /* a small tree: one leaf */
    uint64_t leaf_keys;
} built;

static int collect(void *ctx, const char *msg)
{
    char *all = ctx;
    size_t len = strlen(all);
    snprintf(all + len, 8192 - len, "%s\n", msg);
    return 0;
}

/* Stores blobs and points ref at the last one (a commit), as a writer
 * would, through the stack (no checks). */
static void store(cairn_db *db, const cairn_blob *blobs, size_t n, const char *ref)
{
    ASSERT_OK(cairn__stack_publish(db->stack, blobs, n, ref, NULL, &blobs[n - 1].id));
}

static cairn_blob blob_of(uint8_t *bytes, size_t len)
{
    cairn_blob b = {.data = bytes, .len = len};
    cairn__sha256(bytes, len, &b.id);
    return b;
}

/* A catalog holding keyspace "" at root. */
static cairn_blob catalog_for(const cairn_id *root)
{
    cairn_item it = {.key = (const uint8_t *)"", .key_len = 0, .val = root->bytes, .val_len = 32};
    uint8_t *bytes;
    size_t len;
    ASSERT_OK(cairn__node_encode(0, &it, 1, &bytes, &len));
    return blob_of(bytes, len);
}

/* A commit, packed field by field; wide_time and wide_count write those
 * integers in a wider form than the smallest. */
static cairn_blob commit_for(const cairn_id *catalog, const cairn_id *parent, uint64_t seq,
                             uint64_t key_count, bool wide_time, bool wide_count)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    static const uint8_t time_int64[9] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 42};
    static const uint8_t count_uint64[1] = {0xcf};

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_bin_with_body(&pk, catalog->bytes, 32);
    if (parent)
        msgpack_pack_bin_with_body(&pk, parent->bytes, 32);
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_uint64(&pk, seq);
    if (wide_time)
        msgpack_sbuffer_write(&sb, (const char *)time_int64, sizeof(time_int64));
    else
        msgpack_pack_int64(&pk, 42);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_str_with_body(&pk, "", 0);
    if (wide_count) {
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)(key_count >> (56 - 8 * i));
        msgpack_sbuffer_write(&sb, (const char *)count_uint64, 1);
        msgpack_sbuffer_write(&sb, (const char *)be, 8);
    } else {
        msgpack_pack_uint64(&pk, key_count);
    }
    {
        size_t len = sb.size;
        uint8_t *bytes = (uint8_t *)msgpack_sbuffer_release(&sb);
        return blob_of(bytes, len);
    }
}

/* A fresh store with an honest main of a few keys (one leaf). */
static void build(built *b)
{
    char spec[PATH_MAX + 8];
    cairn_snapshot *snap;
    cairn_txn *txn;

    snprintf(spec, sizeof(spec), "lmdb:%s", test_tmpdir());
    ASSERT_OK(cairn_open(spec, NULL, &b->db));
    ASSERT_OK(cairn_txn_begin(b->db, NULL, &txn));
    for (int i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        ASSERT_OK(cairn_txn_put(txn, NULL, key, strlen(key), "v", 1));
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_OK(cairn_verify(b->db, NULL, NULL, NULL));
    ASSERT_OK(cairn_snapshot_open(b->db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, NULL, &b->leaf_root));
    cairn_snapshot_close(snap);
    b->leaf_keys = 5;
}

static void expect_problem(built *b, const char *what, const char *needle)
{
    char *all = calloc(1, 8192);
    cairn_verify_report rep;

    ASSERT_TRUE(all);
    for (int round = 0; round < 2; round++) {
        all[0] = '\0';
        ASSERT_RC(cairn_verify(b->db, collect, all, &rep), CAIRN_VERIFY);
        if (!strstr(all, needle))
            TEST_FAIL("%s: verify did not say '%s'; it said:\n%s", what, needle, all);
    }
    printf("%-44s -> %s", what, all);
    free(all);
    cairn_close(b->db);
}

static void free_blobs(cairn_blob *blobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)blobs[i].data);
}

int main(void)
{
    built b;

    test_seed_init(1);

    { /* an internal root with a single child */
        cairn_item it;
        cairn_blob blobs[3];
        uint8_t *bytes;
        size_t len;
        build(&b);
        it = (cairn_item){.key = (const uint8_t *)"k0", .key_len = 2, .child = b.leaf_root,
                          .count = b.leaf_keys};
        ASSERT_OK(cairn__node_encode(1, &it, 1, &bytes, &len));
        blobs[0] = blob_of(bytes, len);
        blobs[1] = catalog_for(&blobs[0].id);
        blobs[2] = commit_for(&blobs[1].id, NULL, 1, b.leaf_keys, false, false);
        store(b.db, blobs, 3, "heads/bad");
        expect_problem(&b, "internal root with one child", "single child");
        free_blobs(blobs, 3);
    }
    { /* a commit whose key_count is wrong */
        cairn_blob blobs[2];
        build(&b);
        blobs[0] = catalog_for(&b.leaf_root);
        blobs[1] = commit_for(&blobs[0].id, NULL, 1, b.leaf_keys + 1, false, false);
        store(b.db, blobs, 2, "heads/bad");
        expect_problem(&b, "commit key_count off by one", "key_count 6, but its keyspaces hold 5 keys (commit");
        free_blobs(blobs, 2);
    }
    { /* the time as a signed int64 */
        cairn_blob blobs[2];
        build(&b);
        blobs[0] = catalog_for(&b.leaf_root);
        blobs[1] = commit_for(&blobs[0].id, NULL, 1, b.leaf_keys, true, false);
        store(b.db, blobs, 2, "heads/bad");
        expect_problem(&b, "commit time as int64", "not canonically encoded");
        free_blobs(blobs, 2);
    }
    { /* the key count as a uint64 */
        cairn_blob blobs[2];
        build(&b);
        blobs[0] = catalog_for(&b.leaf_root);
        blobs[1] = commit_for(&blobs[0].id, NULL, 1, b.leaf_keys, false, true);
        store(b.db, blobs, 2, "heads/bad");
        expect_problem(&b, "commit key_count as uint64", "not canonically encoded");
        free_blobs(blobs, 2);
    }
    { /* seq: a first commit with seq 2, then a child with seq 5 */
        cairn_blob blobs[3];
        build(&b);
        blobs[0] = catalog_for(&b.leaf_root);
        blobs[1] = commit_for(&blobs[0].id, NULL, 2, b.leaf_keys, false, false);
        blobs[2] = commit_for(&blobs[0].id, &blobs[1].id, 5, b.leaf_keys, false, false);
        store(b.db, blobs, 3, "heads/bad");
        {
            char *all = calloc(1, 8192);
            ASSERT_RC(cairn_verify(b.db, collect, all, NULL), CAIRN_VERIFY);
            if (!strstr(all, "first commit with seq 2") || !strstr(all, "seq 5 after a parent "
                                                                         "with seq 2"))
                TEST_FAIL("seq problems not reported:\n%s", all);
            printf("%-44s -> %s", "commit seq wrong", all);
            free(all);
        }
        cairn_close(b.db);
        free_blobs(blobs, 3);
    }
    { /* a catalog listing an empty keyspace */
        cairn_blob blobs[2];
        cairn_id empty;
        cairn_item its[2];
        uint8_t *bytes;
        size_t len;
        build(&b);
        cairn__empty_root_id(&empty);
        its[0] = (cairn_item){.key = (const uint8_t *)"", .key_len = 0,
                              .val = b.leaf_root.bytes, .val_len = 32};
        its[1] = (cairn_item){.key = (const uint8_t *)"void", .key_len = 4, .val = empty.bytes,
                              .val_len = 32};
        ASSERT_OK(cairn__node_encode(0, its, 2, &bytes, &len));
        blobs[0] = blob_of(bytes, len);
        blobs[1] = commit_for(&blobs[0].id, NULL, 1, b.leaf_keys, false, false);
        store(b.db, blobs, 2, "heads/bad");
        expect_problem(&b, "catalog lists an empty keyspace", "keyspace 'void' with the empty tree");
        free_blobs(blobs, 2);
    }
    { /* settings with node_size as a uint32 */
        static uint8_t wide[] = {0x82, 0xa6, 'f', 'o', 'r', 'm', 'a', 't', 0x01,
                                 0xa9, 'n', 'o', 'd', 'e', '_', 's', 'i', 'z', 'e',
                                 0xce, 0x00, 0x00, 0x10, 0x00};
        cairn_blob blob = blob_of(wide, sizeof(wide));
        cairn_id old;
        build(&b);
        ASSERT_OK(cairn__stack_ref_get(b.db->stack, "meta/config", &old));
        ASSERT_OK(cairn__stack_put_many(b.db->stack, &blob, 1));
        ASSERT_OK(cairn__stack_ref_cas(b.db->stack, "meta/config", &old, &blob.id));
        expect_problem(&b, "settings with a wide integer", "settings: not canonically encoded");
    }
    { /* a node seen first as main's root, then as a child whose entry's
       * count and first key disagree with it (the second parent sorts
       * after the first, so a check-once verify never compared them); and
       * a ref naming a tree node instead of a commit */
        static const char *const keys[] = {"zz0", "zz1"};
        cairn_item items[2], entries[2];
        cairn_blob blobs[4];
        uint8_t *bytes;
        size_t len;
        build(&b);
        for (int i = 0; i < 2; i++)
            items[i] = (cairn_item){.key = (const uint8_t *)keys[i], .key_len = 3,
                                    .val = (const uint8_t *)"v", .val_len = 1};
        ASSERT_OK(cairn__node_encode(0, items, 2, &bytes, &len));
        blobs[0] = blob_of(bytes, len);
        entries[0] = (cairn_item){.key = (const uint8_t *)"k", .key_len = 1,
                                  .child = b.leaf_root, .count = b.leaf_keys + 1};
        entries[1] = (cairn_item){.key = (const uint8_t *)"zz0", .key_len = 3,
                                  .child = blobs[0].id, .count = 2};
        ASSERT_OK(cairn__node_encode(1, entries, 2, &bytes, &len));
        blobs[1] = blob_of(bytes, len);
        blobs[2] = catalog_for(&blobs[1].id);
        blobs[3] = commit_for(&blobs[2].id, NULL, 1, b.leaf_keys + 3, false, false);
        store(b.db, blobs, 4, "heads/zbad");
        ASSERT_OK(cairn__stack_ref_cas(b.db->stack, "tags/tree", NULL, &b.leaf_root));
        {
            char *all = calloc(1, 8192);
            ASSERT_RC(cairn_verify(b.db, collect, all, NULL), CAIRN_VERIFY);
            if (!strstr(all, "holds 5 keys, its parent says 6") ||
                !strstr(all, "first key differs from its parent's entry") ||
                !strstr(all, "is not a commit"))
                TEST_FAIL("a shared node's second parent or a ref to a tree not reported:\n%s",
                          all);
            printf("%-44s -> %s", "second parent disagrees; ref to a tree", all);
            free(all);
        }
        {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id got;
            cairn_id_to_hex(&b.leaf_root, hex);
            ASSERT_RC(cairn_resolve(b.db, hex, &got), CAIRN_NOTFOUND);
            if (!strstr(cairn_errdetail(), "is not a commit"))
                TEST_FAIL("resolving a tree id: '%s'", cairn_errdetail());
        }
        cairn_close(b.db);
        free_blobs(blobs, 4);
    }
    printf("ok\n");
    return 0;
}
