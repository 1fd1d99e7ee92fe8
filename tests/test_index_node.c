/*
 * test_index_node.c - the node codec and the chunking rule, as pure
 * functions: the bytes docs/format.md promises, strict decoding of bad
 * nodes, and the rule's bounds and size distribution.
 */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "chunker.h"
#include "id.h"
#include "node.h"

static void check_hex(const cairn_id *id, const char *want)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(id, hex);
    if (strcmp(hex, want) != 0)
        TEST_FAIL("id %s, want %s", hex, want);
}

/* The documented bytes of the empty tree and of a one-key leaf. */
static void documented_bytes(void)
{
    static const uint8_t leaf_a_x[] = {0x94, 0x01, 0x00, 0x91, 0xc4, 0x01, 0x61,
                                       0x91, 0xc4, 0x01, 0x78};
    cairn_item it = {.key = (const uint8_t *)"a", .key_len = 1, .val = (const uint8_t *)"x",
                     .val_len = 1};
    uint8_t *bytes;
    size_t len;
    cairn_id id;

    cairn_empty_root(&id);
    check_hex(&id, "1c8840ab0b3b36991abdd201acacf65defd574eedf4d5948a712eadc02b2b244");
    ASSERT_OK(cairn__node_encode(0, NULL, 0, &bytes, &len));
    ASSERT_MEM_EQ(bytes, len, cairn__empty_node_bytes, sizeof(cairn__empty_node_bytes));
    free(bytes);
    ASSERT_OK(cairn__node_encode(0, &it, 1, &bytes, &len));
    ASSERT_MEM_EQ(bytes, len, leaf_a_x, sizeof(leaf_a_x));
    ASSERT_EQ(cairn__item_size(0, &it), len - 5); /* everything but the 5 header bytes */
    free(bytes);
}

/* Encode, decode and compare every field, for leaves with inline and
 * out-of-line values and for internal nodes. */
static void round_trip(void)
{
    cairn_item items[50];
    uint8_t keys[50][8], vals[50][300];
    uint32_t level;

    for (level = 0; level < 3; level++) {
        uint8_t *bytes;
        size_t len, i, sum = 0;
        cairn_node *nd;
        cairn_id id;

        for (i = 0; i < 50; i++) {
            memset(&items[i], 0, sizeof(items[i]));
            snprintf((char *)keys[i], sizeof(keys[i]), "k%03zu", i);
            items[i].key = keys[i];
            items[i].key_len = 4;
            memset(vals[i], (int)i, sizeof(vals[i]));
            items[i].val = vals[i];
            items[i].val_len = (uint32_t)(i * 6 % 300);
            items[i].is_ref = level == 0 && i % 5 == 0;
            if (items[i].is_ref)
                items[i].val_len = 32;
            memset(items[i].child.bytes, (int)i + 1, 32);
            items[i].count = 1 + i * 1000;
            sum += cairn__item_size(level, &items[i]);
        }
        ASSERT_OK(cairn__node_encode(level, items, 50, &bytes, &len));
        ASSERT_TRUE(sum < len && len - sum <= 1 + 1 + 1 + 3 * 3); /* only headers besides */
        cairn__sha256(bytes, len, &id);
        ASSERT_OK(cairn__node_decode(&id, bytes, len, &nd));
        ASSERT_EQ(nd->level, level);
        ASSERT_EQ(nd->n, 50);
        for (i = 0; i < 50; i++) {
            cairn_item back;
            cairn__node_item(nd, (uint32_t)i, &back);
            ASSERT_MEM_EQ(back.key, back.key_len, items[i].key, items[i].key_len);
            if (level == 0) {
                ASSERT_EQ(back.is_ref, items[i].is_ref);
                ASSERT_MEM_EQ(back.val, back.val_len, items[i].val, items[i].val_len);
            } else {
                ASSERT_MEM_EQ(back.child.bytes, 32, items[i].child.bytes, 32);
                ASSERT_EQ(back.count, items[i].count);
            }
        }
        ASSERT_EQ(nd->count, level == 0 ? 50 : 50 + 1000 * (49 * 50 / 2));
        ASSERT_EQ(cairn__node_lower_bound(nd, "k010", 4), 10);
        ASSERT_EQ(cairn__node_lower_bound(nd, "k0100", 5), 11);
        ASSERT_EQ(cairn__node_child_for(nd, "a", 1), 0);
        ASSERT_EQ(cairn__node_child_for(nd, "k0105", 5), 10);
        ASSERT_EQ(cairn__node_child_for(nd, "z", 1), 49);
        free(nd);
        free(bytes);
    }
}

static void expect_corrupt(const uint8_t *bytes, size_t len, const char *what)
{
    cairn_node *nd = NULL;
    cairn_id id;
    int rc;
    cairn__sha256(bytes, len, &id);
    rc = cairn__node_decode(&id, bytes, len, &nd);
    if (rc != CAIRN_CORRUPT && rc != CAIRN_VERSION)
        TEST_FAIL("%s: decode returned %d (%s), want CAIRN_CORRUPT", what, rc, cairn_errname(rc));
    ASSERT_TRUE(nd == NULL);
    ASSERT_TRUE(strlen(cairn_errdetail()) > 0);
}

/* Malformed nodes are rejected with CAIRN_CORRUPT, never crash. */
static void strict_decoding(void)
{
    static const uint8_t cases[][16] = {
        {0x93, 0x01, 0x00, 0x90},                              /* 3 fields */
        {0x94, 0x02, 0x00, 0x90, 0x90},                        /* version 2 */
        {0x94, 0x01, 0x00, 0x91, 0xc4, 0x01, 0x61, 0x90},      /* 1 key, 0 values */
        {0x94, 0x01, 0x00, 0x91, 0xa1, 0x61, 0x91, 0xc4, 0x00}, /* key is a str */
        {0x94, 0x01, 0x00, 0x92, 0xc4, 0x01, 0x62, 0xc4, 0x01, 0x61, 0x92, 0xc4, 0x00, 0xc4,
         0x00},                                                /* keys out of order */
        {0x94, 0x01, 0x01, 0x90, 0x90},                        /* internal with 4 fields */
        {0x94, 0x01, 0x00, 0x90},                              /* truncated */
        {0x94, 0x01, 0x00, 0x90, 0x90, 0x00},                  /* trailing byte */
        {0xc1},                                                /* never-used byte */
    };
    static const size_t lens[] = {4, 5, 8, 9, 15, 5, 4, 6, 1};
    size_t i;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char what[32];
        snprintf(what, sizeof(what), "case %zu", i);
        expect_corrupt(cases[i], lens[i], what);
    }
    /* random bytes: any verdict but a crash, and no node unless well formed */
    for (i = 0; i < 20000; i++) {
        uint8_t buf[64];
        size_t len = test_rand_below(sizeof(buf)) + 1, j;
        cairn_node *nd = NULL;
        cairn_id id;
        for (j = 0; j < len; j++)
            buf[j] = (uint8_t)test_rand();
        if (i % 2)
            buf[0] = 0x94, buf[1] = 0x01;
        cairn__sha256(buf, len, &id);
        if (cairn__node_decode(&id, buf, len, &nd) == 0)
            free(nd);
    }
}

/* The rule's hard bounds, and the distribution it gives. */
static void chunking_rule(void)
{
    uint32_t targets[] = {256, 4096};
    size_t t;

    for (t = 0; t < 2; t++) {
        uint32_t target = targets[t];
        cairn_chunker ch;
        uint64_t nodes = 0, items_in_node = 0;
        double sum = 0, sum_sq = 0, size = 0;
        size_t i;

        cairn__chunker_init(&ch, target, 0);
        for (i = 0; i < 400000; i++) {
            char key[16];
            uint32_t item = 20 + (uint32_t)test_rand_below(60);
            int len = snprintf(key, sizeof(key), "%zu", i);
            bool ends = cairn__chunker_add(&ch, key, (uint32_t)len, item);
            size += item;
            items_in_node++;
            if (size < target / 8)
                ASSERT_TRUE(!ends);
            if (size >= target * 4)
                ASSERT_TRUE(ends);
            if (ends) {
                nodes++;
                sum += size;
                sum_sq += size * size;
                size = 0;
                items_in_node = 0;
            }
        }
        {
            double mean = sum / nodes, sd = sqrt(sum_sq / nodes - mean * mean);
            printf("target %u: %llu nodes, mean %.0f, sd %.0f, cv %.2f\n", target,
                   (unsigned long long)nodes, mean, sd, sd / mean);
            /* Weibull(4, T) has mean 0.906 T and cv 0.28; items of tens of
             * bytes overshoot each cut a little. */
            ASSERT_TRUE(mean > 0.8 * target && mean < 1.15 * target);
            ASSERT_TRUE(sd / mean < 0.35);
        }
    }
    /* Internal levels never end a node after its first item. */
    {
        cairn_chunker ch;
        cairn__chunker_init(&ch, 256, 1);
        ASSERT_TRUE(!cairn__chunker_add(&ch, "big", 3, 5000));
        ASSERT_TRUE(cairn__chunker_add(&ch, "big2", 4, 5000));
    }
}

/* The empty tree's id is written out in node.c (so that it cannot fail):
 * it must be the hash of the empty node's bytes. */
static void empty_root_id(void)
{
    cairn_id hashed, fixed;
    ASSERT_OK(cairn__sha256(cairn__empty_node_bytes, sizeof(cairn__empty_node_bytes), &hashed));
    cairn__empty_root_id(&fixed);
    ASSERT_MEM_EQ(hashed.bytes, 32, fixed.bytes, 32);
}

/* A key of len bytes over a small alphabet, so that keys share prefixes,
 * equal each other's prefixes and tie on the search hints. */
static size_t random_key(uint8_t *k, size_t max)
{
    static const uint8_t alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0xfe, 0xff};
    size_t len = test_rand_below(max + 1);
    for (size_t i = 0; i < len; i++)
        k[i] = alphabet[test_rand_below(sizeof(alphabet))];
    return len;
}

static int key_order(const void *a, const void *b)
{
    const uint8_t *x = a, *y = b;
    return cairn__bytes_cmp(x + 1, x[0], y + 1, y[0]);
}

/* lower_bound and child_for, which search by the per-node prefix and
 * hints, against a linear scan: nodes whose keys share long prefixes, keys
 * that are prefixes of others, the empty key, and probes below, inside and
 * above the shared prefix. */
static void search_matches_scan(void)
{
    enum { MAX_KEY = 20, MAX_N = 40 };
    /* room for any length byte: GCC's -O3 cannot see that keys stay short */
    uint8_t keys[MAX_N][1 + 255], probe[255 + 8];
    long probes = 0;

    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + test_rand_below(MAX_N), m = 0;
        size_t shared = test_rand_below(12), plen;
        uint8_t prefix[12];
        cairn_item items[MAX_N];
        cairn_node *nd;
        uint8_t *bytes;
        size_t len;
        cairn_id id;

        for (size_t i = 0; i < shared; i++)
            prefix[i] = (uint8_t)('a' + test_rand_below(3));
        for (size_t i = 0; i < n; i++) { /* keys[i] = length byte, then the key */
            size_t tail = random_key(keys[m] + 1 + shared, MAX_KEY - shared);
            memcpy(keys[m] + 1, prefix, shared);
            keys[m][0] = (uint8_t)(shared + tail);
            m++;
        }
        qsort(keys, m, sizeof(keys[0]), key_order);
        n = 0;
        for (size_t i = 0; i < m; i++) /* drop duplicates */
            if (n == 0 || key_order(keys[n - 1], keys[i]) != 0)
                memmove(keys[n++], keys[i], sizeof(keys[0]));
        for (size_t i = 0; i < n; i++)
            items[i] = (cairn_item){.key = keys[i] + 1, .key_len = keys[i][0],
                                    .val = (const uint8_t *)"v", .val_len = 1};
        ASSERT_OK(cairn__node_encode(0, items, n, &bytes, &len));
        cairn__sha256(bytes, len, &id);
        ASSERT_OK(cairn__node_decode(&id, bytes, len, &nd));
        free(bytes);
        for (int p = 0; p < 60; p++, probes++) {
            if (p < (int)n) { /* each key, and it with a byte more or less */
                plen = keys[p][0];
                memcpy(probe, keys[p] + 1, plen);
                if (test_rand_below(3) == 0 && plen > 0)
                    plen--;
                else if (test_rand_below(3) == 0)
                    probe[plen++] = (uint8_t)test_rand_below(256);
            } else if (test_rand_below(2)) { /* the shared prefix, then anything */
                memcpy(probe, prefix, shared);
                plen = shared + random_key(probe + shared, MAX_KEY - shared);
            } else {
                plen = random_key(probe, MAX_KEY);
            }
            uint32_t below = 0, at_most = 0;
            for (size_t i = 0; i < n; i++) {
                int c = cairn__bytes_cmp(keys[i] + 1, keys[i][0], probe, plen);
                below += c < 0;
                at_most += c <= 0;
            }
            uint32_t lb = cairn__node_lower_bound(nd, plen ? probe : NULL, plen);
            uint32_t cf = cairn__node_child_for(nd, plen ? probe : NULL, plen);
            if (lb != below || cf != (at_most ? at_most - 1 : 0))
                TEST_FAIL("round %d probe %d (%zu bytes) in %zu keys sharing %u bytes: "
                          "lower_bound %u want %u, child_for %u want %u", round, p, plen, n,
                          nd->prefix_len, lb, below, cf, at_most ? at_most - 1 : 0);
        }
        free(nd);
    }
    printf("search by prefix and hints matches a linear scan: %ld probes\n", probes);
}

int main(void)
{
    test_seed_init(7);
    empty_root_id();
    documented_bytes();
    round_trip();
    strict_decoding();
    chunking_rule();
    search_matches_scan();
    printf("ok\n");
    return 0;
}
