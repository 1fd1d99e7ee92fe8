/*
 * test_engine_bundle.c - cairn_bundle_export and cairn_bundle_import.
 *
 *  - Round trips from lmdb and file stores into lmdb and file stores (and
 *    mem): the same refs, commit ids, logs (gc's boundary included) and
 *    binary keys and values; verify clean; exactly the blobs the refs reach.
 *    The same store gives the same bytes twice. A bundle of some refs holds
 *    those. A second bundle after more commits imports only the new blobs;
 *    a dry run says so and writes nothing; a diverged branch is refused
 *    until forced.
 *  - Hostile bundles are refused with CAIRN_CORRUPT (CAIRN_VERSION for a
 *    newer format) naming the file, and the store is unchanged: cut at many
 *    lengths, a bit flipped anywhere, and valid packs with hash-valid
 *    manifests that lie (absent blobs, bad or unknown names, disorder,
 *    settings or boundary that are not, a branch that names no commit, a
 *    commit whose parent or tree is missing, a tree that is no node, no
 *    manifest at all).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "bundle.h"
#include "engine.h"
#include "id.h"
#include "pack.h"
#include "storeutil.h"
#include "test.h"

static char dir[PATH_MAX];

static uint64_t reachable(cairn_db *db)
{
    cairn_verify_report rep;
    ASSERT_OK(cairn_verify(db, NULL, NULL, &rep));
    return rep.commits + rep.nodes + rep.values + 1;
}

static cairn_copy_report export_to(cairn_db *db, const char *path, const char *const *refs,
                                   size_t n)
{
    cairn_copy_report r;
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f);
    ASSERT_OK(cairn_bundle_export(db, f, refs, n, NULL, &r));
    ASSERT_TRUE(fclose(f) == 0);
    return r;
}

static int import_rc(cairn_db *db, const char *path, unsigned flags, cairn_copy_report *r)
{
    cairn_copy_options o;
    cairn_copy_options_init(&o);
    o.flags = flags;
    return cairn_bundle_import(db, path, NULL, 0, &o, r);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long size;

    ASSERT_TRUE(f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0);
    rewind(f);
    data = malloc((size_t)size + 1);
    ASSERT_TRUE(data && fread(data, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return data;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

static void snapshot_of(cairn_db *db, char *out, size_t cap)
{
    size_t len;
    store_refs_text(db, out, cap);
    len = strlen(out);
    snprintf(out + len, cap - len, "blobs %llu\n", (unsigned long long)store_blobs(db));
}

/* ---------------------------------------------------------------- round trips */

static void round_trip(const char *src_kind, const char *dst_kind)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16], path[PATH_MAX + 32], again[PATH_MAX + 32];
    char name[64];
    cairn_copy_report r, dry;
    static char before[1 << 15];
    cairn_db *src, *dst;
    uint8_t *a, *b;
    size_t la, lb;
    uint64_t had;

    snprintf(name, sizeof(name), "rt-%s-%s-src", src_kind, dst_kind);
    store_spec(spec, sizeof(spec), src_kind, dir, name);
    snprintf(name, sizeof(name), "rt-%s-%s-dst", src_kind, dst_kind);
    store_spec(dst_spec, sizeof(dst_spec), dst_kind, dir, name);
    snprintf(path, sizeof(path), "%s/rt-%s-%s.pack", dir, src_kind, dst_kind);
    snprintf(again, sizeof(again), "%s/rt-%s-%s-again.pack", dir, src_kind, dst_kind);
    src = store_open(spec, 0, 0);
    dst = store_open(dst_spec, 0, 0);
    store_history(src, 12);

    r = export_to(src, path, NULL, 0);
    ASSERT_EQ(r.blobs_copied, reachable(src) + 1); /* (and the manifest) */
    export_to(src, again, NULL, 0);
    a = read_file(path, &la);
    b = read_file(again, &lb);
    ASSERT_MEM_EQ(a, la, b, lb); /* the same store, the same bytes */
    free(a);
    free(b);

    ASSERT_OK(import_rc(dst, path, 0, &r));
    store_same_refs(src, dst, true);
    store_same_history(src, dst, "main");
    store_same_history(src, dst, "dev");
    store_same_contents(src, dst, "main");
    store_same_contents(src, dst, "dev");
    store_verify_ok(dst, "an imported bundle");
    ASSERT_EQ(store_blobs(dst), reachable(src));

    /* More commits, a new bundle: only the new blobs move. */
    had = reachable(src);
    store_history(src, 4);
    export_to(src, path, NULL, 0);
    snapshot_of(dst, before, sizeof(before));
    ASSERT_OK(import_rc(dst, path, CAIRN_COPY_DRY_RUN, &dry));
    {
        static char now[1 << 15];
        snapshot_of(dst, now, sizeof(now));
        ASSERT_TRUE(strcmp(before, now) == 0);
    }
    ASSERT_OK(import_rc(dst, path, 0, &r));
    ASSERT_EQ(r.blobs_copied, reachable(src) - had);
    ASSERT_EQ(dry.blobs_copied, r.blobs_copied);
    ASSERT_EQ(dry.refs_moved, r.refs_moved);
    store_same_refs(src, dst, true);
    store_verify_ok(dst, "a second bundle");
    printf("bundle %s -> %s: %llu blobs, then %llu new ones\n", src_kind, dst_kind,
           (unsigned long long)had, (unsigned long long)(reachable(src) - had));
    cairn_close(src);
    cairn_close(dst);
}

static void test_subset_and_conflicts(void)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16], path[PATH_MAX + 32];
    static char before[1 << 15], now[1 << 15];
    cairn_db *src, *dst, *only;
    cairn_copy_report r;

    store_spec(spec, sizeof(spec), "lmdb", dir, "sub-src");
    store_spec(dst_spec, sizeof(dst_spec), "file", dir, "sub-dst");
    snprintf(path, sizeof(path), "%s/sub.pack", dir);
    src = store_open(spec, 0, 0);
    store_history(src, 10);
    export_to(src, path, (const char *const[]){"dev"}, 1);
    only = store_open("mem", 0, 0);
    ASSERT_OK(import_rc(only, path, 0, &r));
    ASSERT_EQ(r.refs_moved, 1);
    store_same_history(src, only, "dev");
    ASSERT_RC(cairn_resolve(only, "main", &(cairn_id){{0}}), CAIRN_NOTFOUND);
    cairn_close(only);

    export_to(src, path, NULL, 0);
    dst = store_open(dst_spec, 0, 0);
    ASSERT_OK(import_rc(dst, path, 0, NULL));
    store_commit_random(dst, NULL, 10, NULL);
    store_commit_random(src, NULL, 10, NULL);
    export_to(src, path, NULL, 0);
    snapshot_of(dst, before, sizeof(before));
    ASSERT_RC(import_rc(dst, path, 0, NULL), CAIRN_CONFLICT);
    ASSERT_DETAIL("branch 'main'");
    snapshot_of(dst, now, sizeof(now));
    ASSERT_TRUE(strcmp(before, now) == 0);
    ASSERT_OK(import_rc(dst, path, CAIRN_COPY_FORCE, NULL));
    store_same_refs(src, dst, true);
    store_verify_ok(dst, "a forced import");
    printf("bundles of some refs, and conflicts refused until forced\n");
    cairn_close(src);
    cairn_close(dst);
}

static void test_gc(void)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16], path[PATH_MAX + 32];
    cairn_gc_options go;
    cairn_copy_report r;
    cairn_db *src, *dst;

    store_spec(spec, sizeof(spec), "lmdb", dir, "gc-src");
    store_spec(dst_spec, sizeof(dst_spec), "lmdb", dir, "gc-dst");
    snprintf(path, sizeof(path), "%s/gc.pack", dir);
    src = store_open(spec, 0, 0);
    store_history(src, 15);
    cairn_gc_options_init(&go);
    go.keep_last = 3;
    go.grace_s = 0;
    ASSERT_OK(cairn_gc(src, &go, NULL));
    r = export_to(src, path, NULL, 0);
    ASSERT_TRUE(r.boundaries >= 1);
    dst = store_open(dst_spec, 0, 0);
    ASSERT_OK(import_rc(dst, path, 0, &r));
    ASSERT_TRUE(r.boundaries >= 1);
    store_same_refs(src, dst, true);
    store_same_history(src, dst, "main");
    store_same_history(src, dst, "dev");
    store_verify_ok(dst, "a bundle of a store after gc");
    printf("a bundle of a store after gc carries its boundary\n");
    cairn_close(src);
    cairn_close(dst);
}

/* ---------------------------------------------------------------- hostile */

/* A valid bundle taken apart: its records (the manifest last) and index. */
typedef struct parts {
    uint8_t *file;
    size_t len;
    cairn_pack_index *ix;
    cairn_blob *blobs; /* every record but the manifest, in file order */
    size_t n;
    cairn_id manifest_id;
    uint64_t manifest_offset, manifest_len;
} parts;

static void take_apart(const char *path, parts *p)
{
    cairn_pack_footer f;
    memset(p, 0, sizeof(*p));
    p->file = read_file(path, &p->len);
    ASSERT_OK(cairn__pack_footer_parse(path, p->file + p->len - CAIRN_PACK_FOOTER, p->len, &f));
    ASSERT_OK(cairn__pack_index_parse(path, p->file, p->len, p->len, &p->ix));
    cairn__pack_entries_by_offset(p->ix->entries, p->ix->count);
    p->blobs = calloc(p->ix->count, sizeof(*p->blobs));
    for (uint64_t k = 0; k < p->ix->count; k++) {
        const cairn_pack_entry *e = &p->ix->entries[k];
        if (e->offset + e->length == f.index_offset) {
            p->manifest_id = e->id;
            p->manifest_offset = e->offset;
            p->manifest_len = e->length;
            continue;
        }
        p->blobs[p->n++] = (cairn_blob){e->id, p->file + e->offset, e->length};
    }
}

/* Writes a pack of p's records (less the one with id skip, if given) plus
 * extra (if given), then manifest as the last record. */
static void rebuild(const parts *p, const char *path, const char *manifest, const cairn_id *skip,
                    const cairn_blob *extra)
{
    cairn_blob *all = calloc(p->n + 2, sizeof(*all));
    size_t n = 0, len;
    uint8_t *pack;

    for (size_t i = 0; i < p->n; i++)
        if (!skip || memcmp(&p->blobs[i].id, skip, sizeof(*skip)) != 0)
            all[n++] = p->blobs[i];
    if (extra)
        all[n++] = *extra;
    if (manifest) {
        all[n].data = manifest;
        all[n].len = strlen(manifest);
        ASSERT_OK(cairn__sha256(manifest, all[n].len, &all[n].id));
        n++;
    }
    ASSERT_OK(cairn__pack_build(all, n, &pack, &len));
    write_file(path, pack, len);
    cairn__free(pack);
    free(all);
}

typedef struct hostile {
    cairn_db *dst;
    char before[1 << 15];
    int cases;
} hostile;

/* Importing path must fail with want (or, for want 0, CAIRN_CORRUPT or
 * CAIRN_VERSION), the detail naming path and detail_part, and change
 * nothing. */
static void refused(hostile *h, const char *path, int want, const char *detail_part)
{
    static char now[1 << 15];
    int rc = import_rc(h->dst, path, 0, NULL);
    if (want ? rc != want : (rc != CAIRN_CORRUPT && rc != CAIRN_VERSION))
        TEST_FAIL("importing %s: %s (%s), want %s", path, cairn_errname(rc), cairn_errdetail(),
                  want ? cairn_errname(want) : "CAIRN_CORRUPT or CAIRN_VERSION");
    ASSERT_DETAIL(path);
    if (detail_part)
        ASSERT_DETAIL(detail_part);
    snapshot_of(h->dst, now, sizeof(now));
    if (strcmp(h->before, now) != 0)
        TEST_FAIL("a refused bundle (%s) changed the store:\n%s--- now:\n%s", cairn_errdetail(),
                  h->before, now);
    h->cases++;
}

static void test_hostile(void)
{
    char spec[PATH_MAX + 16], dst_spec[PATH_MAX + 16], good[PATH_MAX + 32], bad[PATH_MAX + 32];
    static hostile h;
    cairn_db *src;
    parts p;
    char *text, *manifest;

    store_spec(spec, sizeof(spec), "lmdb", dir, "hostile-src");
    store_spec(dst_spec, sizeof(dst_spec), "lmdb", dir, "hostile-dst");
    snprintf(good, sizeof(good), "%s/good.pack", dir);
    snprintf(bad, sizeof(bad), "%s/bad.pack", dir);
    src = store_open(spec, 0, 0);
    store_history(src, 6);
    export_to(src, good, NULL, 0);
    /* The store bundles are refused into holds something of its own. */
    h.dst = store_open(dst_spec, 0, 0);
    store_commit_random(h.dst, "mine", 20, NULL);
    snapshot_of(h.dst, h.before, sizeof(h.before));
    take_apart(good, &p);

    /* Cut short: at every few bytes, and around the footer and index. */
    for (size_t cut = 0; cut < p.len; cut += cut < 64 || cut > p.len - 200 ? 1 : p.len / 97) {
        write_file(bad, p.file, cut);
        refused(&h, bad, CAIRN_CORRUPT, NULL);
    }
    /* One bit flipped, anywhere (a third of them in the index and footer). */
    for (int i = 0; i < 150; i++) {
        size_t tail = p.len < 400 ? p.len : 400;
        size_t at = i % 3 == 0 ? p.len - 1 - (size_t)test_rand_below(tail)
                               : (size_t)test_rand_below(p.len);
        uint8_t was = p.file[at];
        p.file[at] ^= (uint8_t)(1u << test_rand_below(8));
        write_file(bad, p.file, p.len);
        p.file[at] = was;
        refused(&h, bad, 0, NULL);
    }
    /* Every byte of the manifest, one bit each. */
    for (uint64_t at = p.manifest_offset; at < p.manifest_offset + p.manifest_len; at++) {
        uint8_t was = p.file[at];
        p.file[at] ^= (uint8_t)(1u << (at % 8));
        write_file(bad, p.file, p.len);
        p.file[at] = was;
        refused(&h, bad, 0, NULL);
    }
    /* Damage in a record the store does not need (it holds that blob): the
     * bundle is refused all the same. */
    {
        char copy_spec[PATH_MAX + 16], before_copy[1 << 12];
        cairn_db *full;
        const cairn_blob *victim = &p.blobs[p.n / 2];
        size_t at = (size_t)((const uint8_t *)victim->data - p.file) + victim->len / 2;
        store_spec(copy_spec, sizeof(copy_spec), "lmdb", dir, "hostile-full");
        full = store_open(copy_spec, 0, 0);
        ASSERT_OK(import_rc(full, good, 0, NULL));
        p.file[at] ^= 0x10;
        write_file(bad, p.file, p.len);
        p.file[at] ^= 0x10;
        snapshot_of(full, before_copy, sizeof(before_copy));
        ASSERT_RC(import_rc(full, bad, 0, NULL), CAIRN_CORRUPT);
        ASSERT_DETAIL("does not hash to its id");
        snapshot_of(full, h.before, sizeof(h.before)); /* (borrowed for the comparison) */
        ASSERT_TRUE(strcmp(before_copy, h.before) == 0);
        snapshot_of(h.dst, h.before, sizeof(h.before));
        cairn_close(full);
    }
    free(p.file);
    p.file = NULL;
    cairn__pack_index_free(p.ix);
    free(p.blobs);
    take_apart(good, &p);

    /* The manifest as written, to vary. */
    manifest = calloc(p.manifest_len + 1, 1);
    memcpy(manifest, p.file + p.manifest_offset, p.manifest_len);
    char *end = strstr(manifest, "end\n");
    ASSERT_TRUE(end);
    size_t head_len = (size_t)(end - manifest);
    text = malloc(strlen(manifest) + 4096);
    char config_hex[CAIRN_ID_HEX + 1], main_hex[CAIRN_ID_HEX + 1];
    {
        const char *c = strstr(manifest, "ref meta/config ");
        const char *m = strstr(manifest, "ref heads/main ");
        ASSERT_TRUE(c && m);
        memcpy(config_hex, c + 16, 64);
        config_hex[64] = 0;
        memcpy(main_hex, m + 15, 64);
        main_hex[64] = 0;
    }
#define WITH(...)                                                                               \
    do {                                                                                        \
        snprintf(text, strlen(manifest) + 4096, __VA_ARGS__);                                   \
    } while (0)

    /* A valid pack that is no bundle: no manifest, or an empty pack. */
    rebuild(&p, bad, NULL, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "not a bundle");
    {
        uint8_t *pack;
        size_t len;
        ASSERT_OK(cairn__pack_build(NULL, 0, &pack, &len));
        write_file(bad, pack, len);
        cairn__free(pack);
        refused(&h, bad, CAIRN_CORRUPT, "not a bundle");
    }
    /* A manifest naming a blob the bundle lacks. */
    WITH("cairn-bundle 1\nref heads/ghost %064d\nref heads/main %s\nref meta/config %s\nend\n",
         7, main_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "does not hold");
    /* Names that no store has, or that are no branch's. */
    WITH("%.*sref refs/x %s\nend\n", (int)head_len, manifest, main_hex); /* (sorts last) */
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "refs/x");
    WITH("cairn-bundle 1\nref heads/.. %s\nref meta/config %s\nend\n", main_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "heads/..");
    WITH("cairn-bundle 1\nref heads/a %s\nref heads/a-b %s\nref heads/a/b %s\nref meta/config %s\n"
         "end\n", main_hex, main_hex, main_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "folder of refs");
    /* Out of order, twice, no settings. */
    WITH("cairn-bundle 1\nref meta/config %s\nref heads/main %s\nend\n", config_hex, main_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "out of order");
    WITH("cairn-bundle 1\nref heads/main %s\nref heads/main %s\nref meta/config %s\nend\n",
         main_hex, main_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "repeated");
    WITH("cairn-bundle 1\nref heads/main %s\nend\n", main_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "no settings");
    /* Lines that do not parse; a newer format. */
    static const char *const broken[][2] = {
        {"cairn-bundle 1\nref heads/main ", "\n"},                /* no end */
        {"cairn-bundle 1\nref heads/main ", "\nend\nmore\n"},     /* text after it */
        {"cairn-bundle 1\r\nref heads/main ", "\nend\n"},         /* CR */
        {"cairn-bundle 1\nref heads/main  ", "\nend\n"},          /* two spaces */
        {"cairn-bundle 1\nref heads/main ", "\nend"},             /* no last newline */
        {"cairn-bundle 1\nreference heads/main ", "\nend\n"},     /* another keyword */
        {"something else ", "\n"},                                /* no magic */
    };
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        WITH("%s%s%s", broken[i][0], main_hex, broken[i][1]);
        rebuild(&p, bad, text, NULL, NULL);
        refused(&h, bad, CAIRN_CORRUPT, NULL);
    }
    {
        char upper[CAIRN_ID_HEX + 1];
        for (int i = 0; i <= 64; i++)
            upper[i] = (char)(main_hex[i] >= 'a' ? main_hex[i] - 32 : main_hex[i]);
        WITH("cairn-bundle 1\nref heads/main %s\nref meta/config %s\nend\n", upper, config_hex);
        rebuild(&p, bad, text, NULL, NULL);
        refused(&h, bad, CAIRN_CORRUPT, "lowercase");
    }
    WITH("cairn-bundle 2\nref heads/main %s\nend\n", main_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_VERSION, "format");

    /* Blobs that are not what the names say. */
    WITH("cairn-bundle 1\nref heads/main %s\nref meta/config %s\nend\n", config_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "not a commit");
    WITH("cairn-bundle 1\nref heads/main %s\nref meta/config %s\nend\n", main_hex, main_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "settings");
    WITH("cairn-bundle 1\nref heads/main %s\nref meta/boundary %s\nref meta/config %s\nend\n",
         main_hex, config_hex, config_hex);
    rebuild(&p, bad, text, NULL, NULL);
    refused(&h, bad, CAIRN_CORRUPT, "boundary");

    /* History that is not all there: main's parent, a node of its tree. */
    {
        cairn_commit_info info;
        cairn_id main_id, node;
        cairn_snapshot *snap;
        ASSERT_OK(cairn_id_from_hex(main_hex, &main_id));
        ASSERT_OK(cairn_commit_get(src, &main_id, &info));
        ASSERT_TRUE(info.has_parent);
        rebuild(&p, bad, manifest, &info.parent, NULL);
        refused(&h, bad, CAIRN_CORRUPT, "lacks a blob");
        cairn_commit_info_clear(&info);
        ASSERT_OK(cairn_snapshot_open(src, "main", &snap));
        ASSERT_OK(cairn_snapshot_root(snap, NULL, &node));
        cairn_snapshot_close(snap);
        rebuild(&p, bad, manifest, &node, NULL);
        refused(&h, bad, CAIRN_CORRUPT, "lacks a blob");
    }
    /* A commit, hash-valid, whose catalog is a blob that is no node. */
    {
        cairn_commit_info c = {0};
        uint8_t *bytes;
        size_t len;
        cairn_blob junk = {{{0}}, "this is not a tree node", 23}, commit;
        ASSERT_OK(cairn__sha256(junk.data, junk.len, &junk.id));
        c.catalog = junk.id;
        c.seq = 1;
        c.writer_epoch = 1;
        c.message = "";
        ASSERT_OK(cairn__commit_encode(&c, 0, &bytes, &len));
        commit = (cairn_blob){{{0}}, bytes, len};
        ASSERT_OK(cairn__sha256(bytes, len, &commit.id));
        char hex[CAIRN_ID_HEX + 1];
        cairn_id_to_hex(&commit.id, hex);
        cairn_blob both[2] = {junk, commit};
        parts q = p;
        cairn_blob *more = calloc(p.n + 1, sizeof(*more));
        memcpy(more, p.blobs, p.n * sizeof(*more));
        more[p.n] = junk;
        q.blobs = more;
        q.n = p.n + 1;
        WITH("cairn-bundle 1\nref heads/evil %s\nref meta/config %s\nend\n", hex, config_hex);
        rebuild(&q, bad, text, NULL, &both[1]);
        refused(&h, bad, CAIRN_CORRUPT, NULL);
        free(more);
        cairn__free(bytes);
    }
    /* After all that, the good bundle still imports. */
    ASSERT_OK(import_rc(h.dst, good, 0, NULL));
    store_same_refs(src, h.dst, false);
    store_verify_ok(h.dst, "the good bundle after the bad ones");
    printf("hostile bundles: %d refused, the store unchanged each time\n", h.cases);
    free(text);
    free(manifest);
    free(p.file);
    free(p.blobs);
    cairn__pack_index_free(p.ix);
    cairn_close(src);
    cairn_close(h.dst);
}

int main(void)
{
    static const char *const kinds[] = {"lmdb", "file"};
    test_seed_init(13);
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    ASSERT_TRUE(mkdir(dir, 0755) == 0);
    for (size_t s = 0; s < 2; s++)
        for (size_t d = 0; d < 2; d++)
            round_trip(kinds[s], kinds[d]);
    round_trip("mem", "lmdb");
    round_trip("file", "mem");
    test_subset_and_conflicts();
    test_gc();
    test_hostile();
    printf("ok\n");
    return 0;
}
