/*
 * gen_corpus.c - writes the seed corpus of every fuzz target:
 * DIR/<target>/seed-N for a handful of valid inputs (real node, commit and
 * settings bytes, trees as fuzz_tree reads them, import lines, specs, packs,
 * Redis requests).
 * Run: build-fuzz/fuzz_gen_corpus tests/fuzz/corpus (its output is
 * committed; rerun it when an encoding changes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "id.h"
#include "node.h"
#include "head.h"
#include "pack.h"
#include "alloc.h"

static const char *out_dir;

static void put_file(const char *target, int n, const void *bytes, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    if (mkdir(path, 0777) && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/seed-%d", out_dir, target, n);
    if (!(f = fopen(path, "wb")) || fwrite(bytes, 1, len, f) != len || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static void put_text(const char *target, int n, const char *text)
{
    put_file(target, n, text, strlen(text));
}

/* A node; *id gets its id. OUT: *len; the bytes are malloc'd. */
static uint8_t *node(uint32_t level, const char *const *keys, const cairn_id *kids, size_t n,
                     cairn_id *id, size_t *len)
{
    cairn_item items[8];
    uint8_t *bytes;

    for (size_t i = 0; i < n; i++) {
        items[i] = (cairn_item){.key = (const uint8_t *)keys[i],
                                .key_len = (uint32_t)strlen(keys[i])};
        if (level) {
            items[i].child = kids[i];
            items[i].count = 2;
        } else {
            items[i].val = (const uint8_t *)keys[i];
            items[i].val_len = items[i].key_len;
        }
    }
    if (cairn__node_encode(level, items, n, &bytes, len))
        exit(1);
    cairn__sha256(bytes, *len, id);
    return bytes;
}

/* fuzz_tree input: each chunk as a 2-byte big-endian length and its bytes. */
static void put_tree(int n, uint8_t *const *chunks, const size_t *lens, size_t n_chunks)
{
    uint8_t buf[8192];
    size_t len = 0;

    for (size_t i = 0; i < n_chunks; i++) {
        buf[len++] = (uint8_t)(lens[i] >> 8);
        buf[len++] = (uint8_t)lens[i];
        memcpy(buf + len, chunks[i], lens[i]);
        len += lens[i];
    }
    put_file("fuzz_tree", n, buf, len);
}

int main(int argc, char **argv)
{
    static const char *const left_keys[] = {"a", "b"}, *const right_keys[] = {"d", "e"};
    static const char *const seps[] = {"a", "d"}, *const bad_seps[] = {"a", "f"};
    cairn_id left_id, right_id, root_id, bad_id, kids[2];
    uint8_t *left, *right, *root, *bad, *bytes;
    size_t left_len, right_len, root_len, bad_len, len;
    cairn_commit_info info = {.seq = 1, .time_us = 1700000000000000, .writer_epoch = 1,
                              .key_count = 4, .message = "first"};

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }

    /* nodes: two leaves, an internal node over them, one whose second
     * separator disagrees with its child, and the empty tree */
    left = node(0, left_keys, NULL, 2, &left_id, &left_len);
    right = node(0, right_keys, NULL, 2, &right_id, &right_len);
    kids[0] = left_id;
    kids[1] = right_id;
    root = node(1, seps, kids, 2, &root_id, &root_len);
    bad = node(1, bad_seps, kids, 2, &bad_id, &bad_len);
    put_file("fuzz_node", 1, left, left_len);
    put_file("fuzz_node", 2, root, root_len);
    put_file("fuzz_node", 3, cairn__empty_node_bytes, sizeof(cairn__empty_node_bytes));

    /* trees: root first, then the blobs it reaches */
    put_tree(1, (uint8_t *[]){left}, (size_t[]){left_len}, 1);
    put_tree(2, (uint8_t *[]){root, left, right}, (size_t[]){root_len, left_len, right_len}, 3);
    put_tree(3, (uint8_t *[]){bad, left, right}, (size_t[]){bad_len, left_len, right_len}, 3);
    put_tree(4, (uint8_t *[]){root, left}, (size_t[]){root_len, left_len}, 2); /* one missing */
    put_tree(5, (uint8_t *[]){(uint8_t *)cairn__empty_node_bytes},
             (size_t[]){sizeof(cairn__empty_node_bytes)}, 1);

    /* commits: a first one, and one with a parent */
    info.catalog = root_id;
    if (cairn__commit_encode(&info, strlen(info.message), &bytes, &len))
        return 1;
    put_file("fuzz_commit", 1, bytes, len);
    free(bytes);
    info.has_parent = true;
    info.parent = left_id;
    info.seq = 2;
    info.message = "second\nwith two lines";
    if (cairn__commit_encode(&info, strlen(info.message), &bytes, &len))
        return 1;
    put_file("fuzz_commit", 2, bytes, len);
    free(bytes);

    /* settings */
    for (int i = 0; i < 3; i++) {
        if (cairn__config_encode(1024u << (i * 3), &bytes, &len))
            return 1;
        put_file("fuzz_settings", i + 1, bytes, len);
        free(bytes);
    }

    /* packs: empty, one blob, several blobs of several sizes */
    {
        static const char *const texts[] = {"", "a", "node bytes", "value blob"};
        cairn_blob bl[4];
        for (int k = 0; k < 4; k++) {
            bl[k].data = texts[k];
            bl[k].len = strlen(texts[k]);
            if (cairn__sha256(bl[k].data, bl[k].len, &bl[k].id))
                return 1;
        }
        for (int i = 0; i < 3; i++) {
            size_t n = i == 0 ? 0 : i == 1 ? 1 : 4;
            uint8_t *pack;
            if (cairn__pack_build(bl + (i == 1), n, &pack, &len))
                return 1;
            put_file("fuzz_pack", i + 1, pack, len);
            cairn__free(pack);
        }
    }

    /* S3 heads: empty, and one with refs (a name to encode), packs and a
     * retired pack */
    {
        cairn_s3_head h = {.epoch = 1, .seq = 1, .time = 1796601600};
        memcpy(h.nonce, "0123456789abcdef0123456789abcdef", 33);
        snprintf(h.writer, sizeof(h.writer), "host:1");
        for (int i = 0; i < 2; i++) {
            char *text;
            if (i == 1) {
                cairn_s3_pack_ref p = {.count = 2, .bytes = 4096, .index_id = left_id};
                snprintf(p.name, sizeof(p.name), "0000000000000001-0000000000000001-0a0b0c0d");
                if (cairn__s3_head_ref_set(&h, "heads/main", &root_id) ||
                    cairn__s3_head_ref_set(&h, "tags/with space%", &left_id) ||
                    cairn__s3_head_pack_add(&h, &p))
                    return 1;
            }
            if (cairn__s3_head_encode(&h, &text, &len))
                return 1;
            put_file("fuzz_s3head", i + 1, text, len);
            cairn__free(text);
        }
        cairn__s3_head_clear(&h);
    }

    /* import lines (each seed is read as tsv, raw tsv and jsonl) */
    put_text("fuzz_import", 1, "apple\tred\nbanana\tyellow\ncherry\tdark red\n");
    put_text("fuzz_import", 2, "k\\x41\\t\tv\\n\\\\\r\nplain\tvalue\n");
    put_text("fuzz_import", 3, "{\"id\":\"a\",\"n\":1}\n{\"id\":2,\"s\":\"x\\u00e9\"}\n"
                               "{\"n\":[1,{\"id\":3}],\"id\":\"c\\\"q\"}\n");
    put_text("fuzz_import", 4, "a\tb\tc\n\n");

    /* Redis requests: byte 0 picks the limits (1: small) and AUTH (2),
     * byte 1 seeds the read sizes, then the stream. */
    {
        static const char resp_pipeline[] =
            "\0\0*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*0\r\n"
            "*3\r\n$4\r\nMGET\r\n$0\r\n\r\n$6\r\na\r\n\0$*\r\nPING\r\n\r\n*-1\r\n";
        static const char resp_inline[] =
            "\0\5ECHO \"a b\" 'c\\'d' \"\\x41\\n\"\r\nGET k\n  \r\nfoo\"bar\"\r\n";
        static const char resp_limits[] =
            "\1\7*4\r\n$1\r\na\r\n$16\r\n0123456789abcdef\r\n$0\r\n\r\n$1\r\nb\r\n"
            "a b c d\r\n";
        static const char resp_auth[] =
            "\2\3*2\r\n$4\r\nAUTH\r\n$3\r\npwd\r\n*10\r\n$5\r\nHELLO\r\n";
        static const char resp_bad[] = "\0\11*1\r\n$3\r\nabc\r\n*1\r\n$3\r\nabcXY";

        put_file("fuzz_resp", 1, resp_pipeline, sizeof(resp_pipeline) - 1);
        put_file("fuzz_resp", 2, resp_inline, sizeof(resp_inline) - 1);
        put_file("fuzz_resp", 3, resp_limits, sizeof(resp_limits) - 1);
        put_file("fuzz_resp", 4, resp_auth, sizeof(resp_auth) - 1);
        put_file("fuzz_resp", 5, resp_bad, sizeof(resp_bad) - 1);
    }

    /* globs: pattern, NUL, subject */
    {
        static const char glob_stars[] = "a*a*a*a*a*a*a*b\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        static const char glob_class[] = "h[^e]l[a-z]o\\*?\0hallo*x";
        static const char glob_open[] = "[abc\0b";

        put_file("fuzz_resp_glob", 1, glob_stars, sizeof(glob_stars) - 1);
        put_file("fuzz_resp_glob", 2, glob_class, sizeof(glob_class) - 1);
        put_file("fuzz_resp_glob", 3, glob_open, sizeof(glob_open) - 1);
    }

    /* specs */
    put_text("fuzz_spec", 1, "mem");
    put_text("fuzz_spec", 2, "mem:64M>lmdb:data?map_size=1G&sync=0");
    put_text("fuzz_spec", 3, "file:store>mem:1M");
    put_text("fuzz_spec", 4, "lmdb:db?max_readers=8&promote=1>file:x?sync=1");
    put_text("fuzz_spec", 5, "mem:16K?promote=0>lmdb:/nonexistent/path");

    free(left);
    free(right);
    free(root);
    free(bad);
    return 0;
}
