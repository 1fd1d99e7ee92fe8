/*
 * pack.c - building, parsing and searching packs; the format is drawn in
 * pack.h and written out byte by byte in docs/format.md.
 */
#include "pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* an XXH64 state on the stack: no allocation */
#include <xxhash.h>

#include "alloc.h"
#include "error.h"
#include "id.h"

/* ---------------------------------------------------------------- bytes */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The footer's checksum: XXH64 of footer bytes 0..31, seeded with XXH64
 * (seed 0) of the index: one pass over each, no hashing state to keep. */
static uint64_t checksum(const uint8_t *index, size_t index_len, const uint8_t *footer)
{
    return XXH64(footer, 32, XXH64(index, index_len, 0));
}

/* ---------------------------------------------------------------- building */

/* A blob's id and position, sorted by id then position (so the first
 * copy of a duplicate id comes first). Sorting copies, not a static
 * pointer, keeps building reentrant. */
struct slot {
    cairn_id id;
    size_t i;
};

static int by_id(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    int c = cairn__id_cmp(&x->id, &y->id);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The plan of a pack: which blobs (indexes into blobs, sorted by id, no
 * duplicates) and the size. */
struct plan {
    size_t *order; /* n_unique indexes, by id */
    bool *keep;    /* per blob: written (the first copy of its id) */
    size_t n_unique;
    uint64_t records, size;
};

static void plan_free(struct plan *p)
{
    cairn__free(p->order);
    cairn__free(p->keep);
}

static int plan_make(const cairn_blob *blobs, size_t n, struct plan *p)
{
    struct slot *slots;

    memset(p, 0, sizeof(*p));
    slots = cairn__calloc(n ? n : 1, sizeof(*slots));
    p->order = cairn__calloc(n ? n : 1, sizeof(*p->order));
    p->keep = cairn__calloc(n ? n : 1, sizeof(*p->keep));
    if (!slots || !p->order || !p->keep) {
        cairn__free(slots);
        plan_free(p);
        return cairn__fail(CAIRN_NOMEM, "pack: out of memory planning %zu blobs", n);
    }
    for (size_t i = 0; i < n; i++)
        slots[i] = (struct slot){blobs[i].id, i};
    if (n > 1)
        qsort(slots, n, sizeof(*slots), by_id);
    for (size_t k = 0; k < n; k++) {
        size_t i = slots[k].i;
        if (p->n_unique && cairn__id_eq(&blobs[p->order[p->n_unique - 1]].id, &blobs[i].id))
            continue;
        p->order[p->n_unique++] = i;
        p->keep[i] = true;
        if (p->records + blobs[i].len < p->records)
            goto too_big;
        p->records += blobs[i].len;
    }
    cairn__free(slots);
    p->size = p->records + (uint64_t)p->n_unique * CAIRN_PACK_ENTRY + CAIRN_PACK_FOOTER;
    if (p->size < p->records || p->size > SIZE_MAX / 2)
        goto too_big;
    return 0;

too_big:
    cairn__free(slots);
    plan_free(p);
    return cairn__fail(CAIRN_NOMEM, "pack: %zu blobs are too large for one pack", n);
}

uint64_t cairn__pack_size(const cairn_blob *blobs, size_t n)
{
    struct plan p;
    uint64_t size;

    if (plan_make(blobs, n, &p))
        return 0;
    size = p.size;
    plan_free(&p);
    return size;
}

/* Lays out the pack of plan p into buf (p->size bytes). */
static int write_planned(const cairn_blob *blobs, size_t n, const struct plan *p, uint8_t *buf)
{
    uint64_t *offset_of, off = 0;
    uint8_t *index, *footer;

    if (!(offset_of = cairn__calloc(n ? n : 1, sizeof(*offset_of))))
        return cairn__fail(CAIRN_NOMEM, "pack: out of memory building a pack of %zu blobs", n);
    for (size_t i = 0; i < n; i++) {
        if (!p->keep[i])
            continue;
        offset_of[i] = off;
        if (blobs[i].len)
            memcpy(buf + off, blobs[i].data, blobs[i].len);
        off += blobs[i].len;
    }
    index = buf + p->records;
    for (size_t k = 0; k < p->n_unique; k++) {
        size_t i = p->order[k];
        uint8_t *e = index + k * CAIRN_PACK_ENTRY;
        memcpy(e, blobs[i].id.bytes, 32);
        put_u64(e + 32, offset_of[i]);
        put_u64(e + 40, blobs[i].len);
    }
    footer = index + p->n_unique * CAIRN_PACK_ENTRY;
    memcpy(footer, CAIRN_PACK_MAGIC, 8);
    put_u32(footer + 8, CAIRN_PACK_VERSION);
    put_u32(footer + 12, 0);
    put_u64(footer + 16, p->n_unique);
    put_u64(footer + 24, p->records);
    put_u64(footer + 32, checksum(index, p->n_unique * CAIRN_PACK_ENTRY, footer));
    cairn__free(offset_of);
    return 0;
}

int cairn__pack_build(const cairn_blob *blobs, size_t n, uint8_t **out, size_t *len)
{
    struct plan p;
    uint8_t *buf;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = plan_make(blobs, n, &p)))
        return rc;
    if (!(buf = cairn__malloc((size_t)p.size))) {
        plan_free(&p);
        return cairn__fail(CAIRN_NOMEM, "pack: out of memory building a pack of %llu bytes",
                           (unsigned long long)p.size);
    }
    if ((rc = write_planned(blobs, n, &p, buf)) == 0) {
        *out = buf;
        *len = (size_t)p.size;
    } else {
        cairn__free(buf);
    }
    plan_free(&p);
    return rc;
}

int cairn__pack_build_into(const cairn_blob *blobs, size_t n, uint8_t *out, size_t len)
{
    struct plan p;
    int rc;

    if ((rc = plan_make(blobs, n, &p)))
        return rc;
    if (p.size != len)
        rc = cairn__fail(CAIRN_BADARG, "pack: a buffer of %zu bytes for a pack of %llu", len,
                         (unsigned long long)p.size);
    else
        rc = write_planned(blobs, n, &p, out);
    plan_free(&p);
    return rc;
}

int cairn__pack_write_fd(int fd, const cairn_blob *blobs, size_t n)
{
    uint8_t *buf;
    size_t len, done = 0;
    int rc;

    if ((rc = cairn__pack_build(blobs, n, &buf, &len)))
        return rc;
    while (done < len) {
        ssize_t got = pwrite(fd, buf + done, len - done, (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = cairn__fail(got < 0 ? -errno : -EIO, "pack: write failed: %s",
                             strerror(got < 0 ? errno : EIO));
            break;
        }
        done += (size_t)got;
    }
    cairn__free(buf);
    return rc;
}

/* ---------------------------------------------------------------- streaming */

static int entry_by_id(const void *a, const void *b)
{
    return cairn__id_cmp(&((const cairn_pack_entry *)a)->id, &((const cairn_pack_entry *)b)->id);
}

int cairn__pack_write_tail(cairn_pack_entry *entries, size_t n, uint64_t records_len,
                           int (*write_fn)(void *ctx, const void *bytes, size_t len), void *ctx)
{
    uint8_t chunk[CAIRN_PACK_ENTRY * 256], footer[CAIRN_PACK_FOOTER];
    XXH64_state_t state;
    uint64_t end = 0;
    size_t used = 0;
    int rc;

    if (n > 1)
        qsort(entries, n, sizeof(*entries), entry_by_id);
    for (size_t k = 0; k < n; k++) {
        if (k && cairn__id_eq(&entries[k - 1].id, &entries[k].id)) {
            char a[13];
            return cairn__fail(CAIRN_BADARG, "pack: blob %s twice in one pack",
                               cairn__id_short(&entries[k].id, a));
        }
        if (entries[k].offset > records_len || entries[k].length > records_len - entries[k].offset)
            return cairn__fail(CAIRN_BADARG, "pack: a record past the %llu bytes of records",
                               (unsigned long long)records_len);
        end += entries[k].length;
    }
    if (end != records_len)
        return cairn__fail(CAIRN_BADARG, "pack: records of %llu bytes in all, not %llu",
                           (unsigned long long)end, (unsigned long long)records_len);
    XXH64_reset(&state, 0);
    for (size_t k = 0; k < n; k++) {
        uint8_t *e = chunk + used;
        memcpy(e, entries[k].id.bytes, 32);
        put_u64(e + 32, entries[k].offset);
        put_u64(e + 40, entries[k].length);
        used += CAIRN_PACK_ENTRY;
        if (used == sizeof(chunk) || k + 1 == n) {
            XXH64_update(&state, chunk, used);
            if ((rc = write_fn(ctx, chunk, used)))
                return rc;
            used = 0;
        }
    }
    memcpy(footer, CAIRN_PACK_MAGIC, 8);
    put_u32(footer + 8, CAIRN_PACK_VERSION);
    put_u32(footer + 12, 0);
    put_u64(footer + 16, n);
    put_u64(footer + 24, records_len);
    put_u64(footer + 32, XXH64(footer, 32, XXH64_digest(&state)));
    return write_fn(ctx, footer, sizeof(footer));
}

/* ---------------------------------------------------------------- parsing */

int cairn__pack_footer_parse(const char *name, const uint8_t *footer, uint64_t size,
                             cairn_pack_footer *out)
{
    cairn_pack_footer f;
    uint64_t room;

    if (size < CAIRN_PACK_FOOTER)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: truncated: %llu bytes, shorter than the %d-byte footer",
                           name, (unsigned long long)size, CAIRN_PACK_FOOTER);
    if (memcmp(footer, CAIRN_PACK_MAGIC, 8) != 0)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: no pack footer (wrong magic): truncated or not a pack",
                           name);
    f.version = get_u32(footer + 8);
    if (f.version != CAIRN_PACK_VERSION)
        return cairn__fail(CAIRN_VERSION, "pack %s: pack format %u; this build reads format %d",
                           name, f.version, CAIRN_PACK_VERSION);
    if (get_u32(footer + 12) != 0)
        return cairn__fail(CAIRN_CORRUPT, "pack %s: reserved footer bytes are not zero", name);
    f.count = get_u64(footer + 16);
    f.index_offset = get_u64(footer + 24);
    f.checksum = get_u64(footer + 32);
    room = size - CAIRN_PACK_FOOTER;
    if (f.index_offset > room)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: index offset %llu is past the footer (pack of %llu bytes)",
                           name, (unsigned long long)f.index_offset, (unsigned long long)size);
    if (f.count > room / CAIRN_PACK_ENTRY ||
        f.count * CAIRN_PACK_ENTRY != room - f.index_offset)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: count %llu does not fit the index: %llu bytes between "
                           "offset %llu and the footer",
                           name, (unsigned long long)f.count,
                           (unsigned long long)(room - f.index_offset),
                           (unsigned long long)f.index_offset);
    *out = f;
    return 0;
}

uint64_t cairn__pack_suffix_len(const cairn_pack_footer *f)
{
    return f->count * CAIRN_PACK_ENTRY + CAIRN_PACK_FOOTER;
}

/* A record's place, for the overlap check. */
struct span {
    uint64_t offset, length;
};

static int by_offset(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->offset != y->offset)
        return (x->offset > y->offset) - (x->offset < y->offset);
    return (x->length > y->length) - (x->length < y->length);
}

int cairn__pack_index_parse(const char *name, const uint8_t *suffix, size_t suffix_len,
                            uint64_t size, cairn_pack_index **out)
{
    cairn_pack_footer f;
    cairn_pack_index *ix = NULL;
    struct span *spans = NULL;
    const uint8_t *index, *footer;
    uint64_t need, end;
    char a[13];
    int rc;

    *out = NULL;
    if (suffix_len > size)
        return cairn__fail(CAIRN_BADARG, "pack %s: %zu bytes of suffix for a pack of %llu", name,
                           suffix_len, (unsigned long long)size);
    if (suffix_len < CAIRN_PACK_FOOTER)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: truncated: %zu bytes, shorter than the %d-byte footer",
                           name, suffix_len, CAIRN_PACK_FOOTER);
    footer = suffix + suffix_len - CAIRN_PACK_FOOTER;
    if ((rc = cairn__pack_footer_parse(name, footer, size, &f)))
        return rc;
    need = cairn__pack_suffix_len(&f);
    if (need > suffix_len)
        return cairn__fail(CAIRN_BADARG, "pack %s: the index needs a suffix of %llu bytes, got %zu",
                           name, (unsigned long long)need, suffix_len);
    index = footer - f.count * CAIRN_PACK_ENTRY;
    if (checksum(index, (size_t)(f.count * CAIRN_PACK_ENTRY), footer) != f.checksum)
        return cairn__fail(CAIRN_CORRUPT,
                           "pack %s: index checksum mismatch (the index or footer is damaged)",
                           name);
    if (!(ix = cairn__calloc(1, sizeof(*ix))) ||
        !(ix->entries = cairn__calloc(f.count ? f.count : 1, sizeof(*ix->entries))) ||
        !(spans = cairn__calloc(f.count ? f.count : 1, sizeof(*spans)))) {
        rc = cairn__fail(CAIRN_NOMEM, "pack %s: out of memory for an index of %llu entries",
                         name, (unsigned long long)f.count);
        goto fail;
    }
    ix->count = f.count;
    ix->size = size;
    for (uint64_t k = 0; k < f.count; k++) {
        const uint8_t *e = index + k * CAIRN_PACK_ENTRY;
        cairn_pack_entry *en = &ix->entries[k];
        memcpy(en->id.bytes, e, 32);
        en->offset = get_u64(e + 32);
        en->length = get_u64(e + 40);
        if (k && cairn__id_cmp(&ix->entries[k - 1].id, &en->id) >= 0) {
            rc = cairn__fail(CAIRN_CORRUPT, "pack %s: index entry %llu (%s) is %s", name,
                             (unsigned long long)k, cairn__id_short(&en->id, a),
                             cairn__id_eq(&ix->entries[k - 1].id, &en->id)
                                 ? "a duplicate id"
                                 : "out of order (ids must ascend)");
            goto fail;
        }
        if (en->offset > f.index_offset || en->length > f.index_offset - en->offset) {
            rc = cairn__fail(CAIRN_CORRUPT,
                             "pack %s: record of %s (offset %llu, length %llu) lies outside the "
                             "%llu bytes of records",
                             name, cairn__id_short(&en->id, a), (unsigned long long)en->offset,
                             (unsigned long long)en->length, (unsigned long long)f.index_offset);
            goto fail;
        }
        spans[k] = (struct span){en->offset, en->length};
    }
    if (f.count > 1)
        qsort(spans, (size_t)f.count, sizeof(*spans), by_offset);
    end = 0;
    for (uint64_t k = 0; k < f.count; k++) {
        if (spans[k].offset != end) {
            rc = cairn__fail(CAIRN_CORRUPT, "pack %s: records %s at offset %llu (expected %llu)",
                             name, spans[k].offset < end ? "overlap" : "leave a gap",
                             (unsigned long long)spans[k].offset, (unsigned long long)end);
            goto fail;
        }
        end += spans[k].length;
    }
    if (end != f.index_offset) {
        rc = cairn__fail(CAIRN_CORRUPT,
                         "pack %s: records cover %llu bytes, but the index starts at %llu", name,
                         (unsigned long long)end, (unsigned long long)f.index_offset);
        goto fail;
    }
    cairn__free(spans);
    *out = ix;
    return 0;

fail:
    cairn__free(spans);
    cairn__pack_index_free(ix);
    return rc;
}

const cairn_pack_entry *cairn__pack_lookup(const cairn_pack_index *ix, const cairn_id *id)
{
    uint64_t lo = 0, hi = ix->count;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = cairn__id_cmp(&ix->entries[mid].id, id);
        if (c == 0)
            return &ix->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void cairn__pack_index_free(cairn_pack_index *ix)
{
    if (!ix)
        return;
    cairn__free(ix->entries);
    cairn__free(ix);
}

static int entry_by_offset(const void *a, const void *b)
{
    const cairn_pack_entry *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

void cairn__pack_entries_by_offset(cairn_pack_entry *entries, size_t n)
{
    if (n > 1)
        qsort(entries, n, sizeof(*entries), entry_by_offset);
}
