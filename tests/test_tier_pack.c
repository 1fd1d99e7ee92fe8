/*
 * test_tier_pack.c - the pack format (tiers/pack.h): building and reading
 * back, duplicate ids, the byte layout docs/format.md promises, and hostile
 * packs (wrong magic, version, counts, offsets out of range, unsorted and
 * duplicate ids, overlapping records, truncation, any flipped byte of the
 * index or footer): each is CAIRN_CORRUPT (or CAIRN_VERSION) naming the
 * pack, never a crash.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "id.h"
#include "pack.h"
#include "test.h"
#include "tierutil.h"

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void set_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Recomputes the footer checksum of a pack of len bytes after an edit, so
 * that the test reaches the check behind it. A count whose index would not
 * fit is refused before the checksum is looked at: nothing to seal. */
static void reseal(uint8_t *pack, size_t len)
{
    uint8_t *footer = pack + len - CAIRN_PACK_FOOTER;
    uint64_t count = be64(footer + 16);
    uint8_t *index;

    if (count > (len - CAIRN_PACK_FOOTER) / CAIRN_PACK_ENTRY)
        return;
    index = footer - count * CAIRN_PACK_ENTRY;
    set_be64(footer + 32, XXH64(footer, 32, XXH64(index, count * CAIRN_PACK_ENTRY, 0)));
}

static int parse(const uint8_t *pack, size_t len, cairn_pack_index **ix)
{
    return cairn__pack_index_parse("test.pack", pack, len, len, ix);
}

/* Expects the pack to be refused with want and a detail naming the pack
 * and containing part. */
static void refused(const uint8_t *pack, size_t len, int want, const char *part)
{
    cairn_pack_index *ix = NULL;

    ASSERT_RC(parse(pack, len, &ix), want);
    ASSERT_TRUE(ix == NULL);
    if (!strstr(cairn_errdetail(), "test.pack") || !strstr(cairn_errdetail(), part))
        TEST_FAIL("detail '%s' lacks '%s'", cairn_errdetail(), part);
}

#define N_BLOBS 5

struct fixture {
    test_blob tb[N_BLOBS];
    cairn_blob b[N_BLOBS + 1];
    uint8_t *pack;
    size_t len;
};

static void fixture_make(struct fixture *f)
{
    for (int i = 0; i < N_BLOBS; i++) {
        f->tb[i] = make_blob(100 + (uint64_t)i, i == 2 ? 0 : 50 + 37 * (size_t)i);
        f->b[i] = as_blob(&f->tb[i]);
    }
    f->b[N_BLOBS] = f->b[1]; /* a duplicate: written once */
    ASSERT_OK(cairn__pack_build(f->b, N_BLOBS + 1, &f->pack, &f->len));
}

static void fixture_free(struct fixture *f)
{
    for (int i = 0; i < N_BLOBS; i++)
        free(f->tb[i].data);
    cairn__free(f->pack);
}

static void test_roundtrip(void)
{
    struct fixture f;
    cairn_pack_index *ix;
    cairn_pack_footer ft;
    size_t records = 0;

    fixture_make(&f);
    for (int i = 0; i < N_BLOBS; i++)
        records += f.tb[i].len;
    ASSERT_EQ(f.len, records + N_BLOBS * CAIRN_PACK_ENTRY + CAIRN_PACK_FOOTER);
    ASSERT_EQ(cairn__pack_size(f.b, N_BLOBS + 1), f.len);
    /* The layout docs/format.md draws. */
    ASSERT_MEM_EQ(f.pack + f.len - 40, 8, "CAIRNPAK", 8);
    ASSERT_EQ(be64(f.pack + f.len - 32) >> 32, 1);         /* version */
    ASSERT_EQ(be64(f.pack + f.len - 32) & 0xffffffffu, 0); /* reserved */
    ASSERT_EQ(be64(f.pack + f.len - 24), N_BLOBS);
    ASSERT_EQ(be64(f.pack + f.len - 16), records);
    ASSERT_OK(cairn__pack_footer_parse("test.pack", f.pack + f.len - 40, f.len, &ft));
    ASSERT_EQ(cairn__pack_suffix_len(&ft), N_BLOBS * CAIRN_PACK_ENTRY + CAIRN_PACK_FOOTER);

    /* A suffix holding just the index and footer is enough. */
    ASSERT_OK(cairn__pack_index_parse("test.pack", f.pack + records, f.len - records, f.len,
                                      &ix));
    ASSERT_EQ(ix->count, N_BLOBS);
    for (uint64_t k = 1; k < ix->count; k++)
        ASSERT_TRUE(cairn__id_cmp(&ix->entries[k - 1].id, &ix->entries[k].id) < 0);
    for (int i = 0; i < N_BLOBS; i++) {
        const cairn_pack_entry *e = cairn__pack_lookup(ix, &f.tb[i].id);
        cairn_id got;
        ASSERT_TRUE(e != NULL);
        ASSERT_EQ(e->length, f.tb[i].len);
        ASSERT_MEM_EQ(f.pack + e->offset, e->length, f.tb[i].data, f.tb[i].len);
        ASSERT_OK(cairn__sha256(f.pack + e->offset, e->length, &got));
        ASSERT_TRUE(cairn__id_eq(&got, &f.tb[i].id));
    }
    /* Records keep the caller's order. */
    ASSERT_EQ(cairn__pack_lookup(ix, &f.tb[0].id)->offset, 0);
    {
        test_blob other = make_blob(999, 20);
        ASSERT_TRUE(cairn__pack_lookup(ix, &other.id) == NULL);
        free(other.data);
    }
    cairn__pack_index_free(ix);

    /* The same through a file. */
    {
        char path[4200];
        uint8_t *back = malloc(f.len);
        int fd;
        const char *dir = test_tmpdir();
        ASSERT_EQ(mkdir(dir, 0755), 0);
        snprintf(path, sizeof(path), "%s/x.pack", dir);
        ASSERT_TRUE((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644)) >= 0);
        ASSERT_OK(cairn__pack_write_fd(fd, f.b, N_BLOBS + 1));
        ASSERT_EQ(pread(fd, back, f.len + 1, 0), (long long)f.len);
        ASSERT_MEM_EQ(back, f.len, f.pack, f.len);
        close(fd);
        free(back);
    }
    fixture_free(&f);

    /* An empty pack is valid. */
    {
        uint8_t *pack;
        size_t len;
        ASSERT_OK(cairn__pack_build(NULL, 0, &pack, &len));
        ASSERT_EQ(len, CAIRN_PACK_FOOTER);
        ASSERT_OK(parse(pack, len, &ix));
        ASSERT_EQ(ix->count, 0);
        cairn__pack_index_free(ix);
        cairn__free(pack);
    }
}

static void test_hostile(void)
{
    struct fixture f;
    uint8_t *p;
    size_t len, index_at;

    fixture_make(&f);
    len = f.len;
    index_at = len - CAIRN_PACK_FOOTER - N_BLOBS * CAIRN_PACK_ENTRY;
    p = malloc(len);

#define FRESH() memcpy(p, f.pack, len)
    /* Truncated: any prefix is refused (a power cut before fdatasync). */
    for (size_t cut = 0; cut < len; cut++) {
        cairn_pack_index *ix = NULL;
        int rc = cairn__pack_index_parse("test.pack", f.pack, cut, cut, &ix);
        ASSERT_TRUE(rc == CAIRN_CORRUPT);
        ASSERT_TRUE(ix == NULL);
    }
    refused(f.pack, 10, CAIRN_CORRUPT, "truncated");
    refused(f.pack, len - 1, CAIRN_CORRUPT, "wrong magic");

    FRESH();
    p[len - 40] ^= 1;
    refused(p, len, CAIRN_CORRUPT, "wrong magic");

    FRESH();
    p[len - 29] = 2;
    refused(p, len, CAIRN_VERSION, "pack format 2");

    FRESH();
    p[len - 25] = 1;
    refused(p, len, CAIRN_CORRUPT, "reserved");

    /* Counts: too many for the file, too few, absurd. */
    uint64_t counts[] = {N_BLOBS + 1, N_BLOBS - 1, UINT64_MAX, UINT64_MAX / 48 + 1};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        FRESH();
        set_be64(p + len - 24, counts[k]);
        reseal(p, len);
        refused(p, len, CAIRN_CORRUPT, "does not fit the index");
    }
    /* Index offset past the footer, or not where the index starts. */
    FRESH();
    set_be64(p + len - 16, len);
    refused(p, len, CAIRN_CORRUPT, "past the footer");
    FRESH();
    set_be64(p + len - 16, index_at - 1);
    refused(p, len, CAIRN_CORRUPT, "does not fit");

    /* Any flipped byte of the index or footer: refused, whatever it hit. */
    for (size_t at = index_at; at < len; at++) {
        cairn_pack_index *ix = NULL;
        int rc;
        FRESH();
        p[at] ^= 0x20;
        rc = parse(p, len, &ix);
        ASSERT_TRUE(rc == CAIRN_CORRUPT || rc == CAIRN_VERSION);
        ASSERT_TRUE(ix == NULL);
    }
    FRESH();
    p[index_at + 3] ^= 1;
    refused(p, len, CAIRN_CORRUPT, "checksum mismatch");

    /* Below the checksum (resealed): unsorted and duplicate ids. */
    FRESH();
    memcpy(p + index_at, p + index_at + CAIRN_PACK_ENTRY, 32);
    reseal(p, len);
    refused(p, len, CAIRN_CORRUPT, "a duplicate id");
    FRESH();
    {
        uint8_t tmp[CAIRN_PACK_ENTRY];
        memcpy(tmp, p + index_at, CAIRN_PACK_ENTRY);
        memcpy(p + index_at, p + index_at + CAIRN_PACK_ENTRY, CAIRN_PACK_ENTRY);
        memcpy(p + index_at + CAIRN_PACK_ENTRY, tmp, CAIRN_PACK_ENTRY);
    }
    reseal(p, len);
    refused(p, len, CAIRN_CORRUPT, "out of order");

    /* Records out of range (and offsets that overflow). */
    FRESH();
    set_be64(p + index_at + 40, index_at + 1);
    reseal(p, len);
    refused(p, len, CAIRN_CORRUPT, "outside");
    FRESH();
    set_be64(p + index_at + 32, UINT64_MAX - 3);
    reseal(p, len);
    refused(p, len, CAIRN_CORRUPT, "outside");
    FRESH();
    set_be64(p + index_at + 32, 8);
    set_be64(p + index_at + 40, UINT64_MAX - 4);
    reseal(p, len);
    refused(p, len, CAIRN_CORRUPT, "outside");

    /* Overlapping records, and a gap (between two non-empty records). */
    {
        size_t e[2], m = 0;
        for (size_t k = 0; k < N_BLOBS && m < 2; k++)
            if (be64(f.pack + index_at + k * CAIRN_PACK_ENTRY + 40) > 1)
                e[m++] = index_at + k * CAIRN_PACK_ENTRY;
        ASSERT_EQ(m, 2);
        FRESH();
        set_be64(p + e[1] + 32, be64(p + e[0] + 32)); /* e1 starts where e0 does */
        reseal(p, len);
        refused(p, len, CAIRN_CORRUPT, "records");
        FRESH();
        set_be64(p + e[0] + 40, be64(p + e[0] + 40) - 1); /* one byte shorter: a gap */
        reseal(p, len);
        refused(p, len, CAIRN_CORRUPT, "records");
    }

    /* Random garbage never crashes and is never accepted with a wrong
     * footer. */
    for (int round = 0; round < 2000; round++) {
        size_t n = test_rand_below(300);
        uint8_t *g = malloc(n ? n : 1);
        cairn_pack_index *ix = NULL;
        for (size_t i = 0; i < n; i++)
            g[i] = (uint8_t)test_rand();
        if (n >= 40 && round % 2)
            memcpy(g + n - 40, "CAIRNPAK\0\0\0\1\0\0\0\0", 16);
        if (parse(g, n, &ix) == 0)
            cairn__pack_index_free(ix);
        free(g);
    }
#undef FRESH
    free(p);
    fixture_free(&f);
}

int main(void)
{
    test_seed_init(20261127);
    test_roundtrip();
    test_hostile();
    printf("ok\n");
    return 0;
}
