/*
 * bundle.c - writing bundles as a stream, and reading one as a read-only
 * tier (the format: bundle.h, and docs/format.md "Bundles").
 */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "pack.h"

#define MAGIC_LINE CAIRN_BUNDLE_MAGIC " 1"

/* ---------------------------------------------------------------- manifest */

static bool name_ok(const char *name, size_t len)
{
    if (len == 0 || len > CAIRN_BUNDLE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] < '!' || name[i] > '~')
            return false;
    return true;
}

int cairn__bundle_manifest_encode(const cairn_bundle_ref *refs, size_t n, uint8_t **bytes,
                                  size_t *len)
{
    /* "ref " NAME " " HEX "\n" */
    size_t cap = sizeof(MAGIC_LINE "\nend\n"), used = 0;
    char *text;

    *bytes = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(refs[i].name);
        if (!name_ok(refs[i].name, l))
            return cairn__fail(CAIRN_BADARG, "bundle: bad ref name '%.60s'", refs[i].name);
        if (i && strcmp(refs[i - 1].name, refs[i].name) >= 0)
            return cairn__fail(CAIRN_BADARG, "bundle: refs out of order at '%s'", refs[i].name);
        cap += 4 + l + 1 + CAIRN_ID_HEX + 1;
    }
    if (!(text = cairn__malloc(cap)))
        return cairn__fail(CAIRN_NOMEM, "bundle: out of memory for a manifest of %zu refs", n);
    used += (size_t)snprintf(text, cap, "%s\n", MAGIC_LINE);
    for (size_t i = 0; i < n; i++) {
        char hex[CAIRN_ID_HEX + 1];
        cairn_id_to_hex(&refs[i].id, hex);
        used += (size_t)snprintf(text + used, cap - used, "ref %s %s\n", refs[i].name, hex);
    }
    used += (size_t)snprintf(text + used, cap - used, "end\n");
    *bytes = (uint8_t *)text;
    *len = used;
    return 0;
}

/* strcmp of NUL-terminated a with the name_len bytes at b. */
static int name_cmp(const char *a, const char *b, size_t b_len)
{
    size_t a_len = strlen(a);
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    return c ? c : (a_len > b_len) - (a_len < b_len);
}

typedef struct parsed_ref {
    char *name;
    cairn_id id;
} parsed_ref;

/* Parses manifest text; every problem names path and the line. OUT:
 * *refs, *n (free the names and the array). */
static int manifest_parse(const char *path, const uint8_t *text, size_t len, parsed_ref **refs,
                          size_t *n_refs)
{
    parsed_ref *v = NULL;
    size_t n = 0, cap = 0, pos = 0, line_no = 0;
    bool ended = false;
    int rc = 0;

    *refs = NULL;
    *n_refs = 0;
    if (len < sizeof(CAIRN_BUNDLE_MAGIC) ||
        memcmp(text, CAIRN_BUNDLE_MAGIC " ", sizeof(CAIRN_BUNDLE_MAGIC)) != 0)
        return cairn__fail(CAIRN_CORRUPT,
                           "bundle %s: not a bundle: its last record is no manifest (a plain "
                           "pack, or another file)",
                           path);
    while (pos < len && !rc) {
        const char *line = (const char *)text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t l;

        line_no++;
        if (!nl) {
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: manifest line %zu has no end of line",
                             path, line_no);
            break;
        }
        l = (size_t)(nl - line);
        pos += l + 1;
        if (memchr(line, '\0', l) || memchr(line, '\r', l)) {
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: manifest line %zu holds a NUL or CR", path,
                             line_no);
        } else if (ended) {
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: manifest has text after its end line",
                             path);
        } else if (line_no == 1) {
            size_t m = strlen(CAIRN_BUNDLE_MAGIC) + 1; /* (the magic and a space: checked) */
            if (l == strlen(MAGIC_LINE) && !memcmp(line, MAGIC_LINE, l))
                continue;
            rc = cairn__fail(CAIRN_VERSION,
                             "bundle %s: bundle format '%.*s'; this build reads format %d", path,
                             (int)(l - m > 20 ? 20 : l - m), line + m, CAIRN_BUNDLE_VERSION);
        } else if (l == 3 && !memcmp(line, "end", 3)) {
            ended = true;
        } else if (l > 4 && !memcmp(line, "ref ", 4)) {
            const char *name = line + 4, *sp = memchr(name, ' ', l - 4);
            size_t name_len = sp ? (size_t)(sp - name) : 0;
            char hex[CAIRN_ID_HEX + 1];
            cairn_id id;
            if (!sp || !name_ok(name, name_len) ||
                l - 4 - name_len - 1 != CAIRN_ID_HEX) {
                rc = cairn__fail(CAIRN_CORRUPT,
                                 "bundle %s: manifest line %zu is not 'ref NAME ID'", path,
                                 line_no);
                break;
            }
            memcpy(hex, sp + 1, CAIRN_ID_HEX);
            hex[CAIRN_ID_HEX] = '\0';
            for (size_t i = 0; i < CAIRN_ID_HEX && !rc; i++)
                if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
                    rc = cairn__fail(CAIRN_CORRUPT,
                                     "bundle %s: manifest line %zu: the id is not 64 lowercase "
                                     "hex digits", path, line_no);
            if (rc || (rc = cairn_id_from_hex(hex, &id)))
                break;
            if (n && name_cmp(v[n - 1].name, name, name_len) >= 0) {
                rc = cairn__fail(CAIRN_CORRUPT,
                                 "bundle %s: manifest line %zu: ref '%.*s' is out of order or "
                                 "repeated (names must ascend)",
                                 path, line_no, (int)name_len, name);
                break;
            }
            if (n == cap) {
                parsed_ref *grown = cairn__reallocarray(v, cap = cap ? cap * 2 : 16, sizeof(*v));
                if (!grown) {
                    rc = cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for its refs", path);
                    break;
                }
                v = grown;
            }
            if (!(v[n].name = cairn__malloc(name_len + 1))) {
                rc = cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for its refs", path);
                break;
            }
            memcpy(v[n].name, name, name_len);
            v[n].name[name_len] = '\0';
            v[n++].id = id;
        } else {
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: manifest line %zu is not a ref line", path,
                             line_no);
        }
    }
    if (!rc && !ended)
        rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: the manifest has no end line (cut short?)",
                         path);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            cairn__free(v[i].name);
        cairn__free(v);
        return rc;
    }
    *refs = v;
    *n_refs = n;
    return 0;
}

/* ---------------------------------------------------------------- writing */

struct cairn_bundle_writer {
    FILE *out;
    cairn_pack_entry *entries; /* one per record written, in file order */
    size_t n, cap;
    uint64_t *slots;           /* open addressing: entry index + 1, or 0 */
    size_t n_slots;
    uint64_t offset;           /* bytes written */
    int error;                 /* sticky */
};

int cairn__bundle_writer_new(FILE *out, cairn_bundle_writer **w)
{
    if (!(*w = cairn__calloc(1, sizeof(**w))))
        return cairn__fail(CAIRN_NOMEM, "bundle: out of memory");
    (*w)->out = out;
    return 0;
}

static bool writer_find(const cairn_bundle_writer *w, const cairn_id *id)
{
    if (!w->n_slots)
        return false;
    for (size_t i = cairn__id_hash(id) & (w->n_slots - 1); w->slots[i];
         i = (i + 1) & (w->n_slots - 1))
        if (cairn__id_eq(&w->entries[w->slots[i] - 1].id, id))
            return true;
    return false;
}

static void slot_insert(uint64_t *slots, size_t n_slots, const cairn_id *id, uint64_t value)
{
    size_t i = cairn__id_hash(id) & (n_slots - 1);
    while (slots[i])
        i = (i + 1) & (n_slots - 1);
    slots[i] = value;
}

/* Room for one more entry, its table at most half full. */
static int writer_grow(cairn_bundle_writer *w)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        cairn_pack_entry *e = cairn__reallocarray(w->entries, cap, sizeof(*e));
        if (!e)
            return cairn__fail(CAIRN_NOMEM, "bundle: out of memory for an index of %zu blobs", cap);
        w->entries = e;
        w->cap = cap;
    }
    if ((w->n + 1) * 2 > w->n_slots) {
        size_t n_slots = w->n_slots ? w->n_slots * 2 : 2048;
        uint64_t *slots = cairn__calloc(n_slots, sizeof(*slots));
        if (!slots)
            return cairn__fail(CAIRN_NOMEM, "bundle: out of memory for a table of %zu blobs",
                               n_slots);
        for (size_t k = 0; k < w->n; k++)
            slot_insert(slots, n_slots, &w->entries[k].id, k + 1);
        cairn__free(w->slots);
        w->slots = slots;
        w->n_slots = n_slots;
    }
    return 0;
}

static int write_bytes(void *ctx, const void *bytes, size_t len)
{
    cairn_bundle_writer *w = ctx;

    if (len && fwrite(bytes, 1, len, w->out) != len) {
        int e = errno ? errno : EIO;
        return w->error = cairn__fail(-e, "writing the bundle: %s", strerror(e));
    }
    w->offset += len;
    return 0;
}

static int append(cairn_bundle_writer *w, const cairn_id *id, const void *data, size_t len)
{
    int rc;

    if ((rc = writer_grow(w)))
        return w->error = rc;
    w->entries[w->n] = (cairn_pack_entry){*id, w->offset, len};
    if ((rc = write_bytes(w, data, len)))
        return rc;
    slot_insert(w->slots, w->n_slots, id, ++w->n);
    return 0;
}

void cairn__bundle_writer_has(const cairn_bundle_writer *w, const cairn_id *ids, size_t n,
                              bool *held)
{
    for (size_t i = 0; i < n; i++)
        held[i] = writer_find(w, &ids[i]);
}

int cairn__bundle_writer_put(cairn_bundle_writer *w, const cairn_blob *blobs, size_t n)
{
    int rc;

    if (w->error)
        return w->error;
    for (size_t i = 0; i < n; i++)
        if (!writer_find(w, &blobs[i].id) &&
            (rc = append(w, &blobs[i].id, blobs[i].data, blobs[i].len)))
            return rc;
    return 0;
}

int cairn__bundle_writer_finish(cairn_bundle_writer *w, const cairn_bundle_ref *refs, size_t n)
{
    uint8_t *manifest;
    cairn_id id;
    size_t len;
    int rc;

    if (w->error)
        return w->error;
    for (size_t i = 0; i < n; i++)
        if (!writer_find(w, &refs[i].id)) {
            char a[13];
            return cairn__fail(CAIRN_BADARG, "bundle: ref '%s' names blob %s, not written",
                               refs[i].name, cairn__id_short(&refs[i].id, a));
        }
    if ((rc = cairn__bundle_manifest_encode(refs, n, &manifest, &len)))
        return rc;
    if ((rc = cairn__sha256(manifest, len, &id)))
        goto done;
    /* A blob equal to the manifest would have to hold the ids of commits
     * whose history holds it: a SHA-256 fixed point. Checked all the same,
     * since the manifest must be the last record. */
    if (writer_find(w, &id)) {
        rc = cairn__fail(CAIRN_BADARG, "bundle: a blob has the manifest's bytes");
        goto done;
    }
    if ((rc = append(w, &id, manifest, len)))
        goto done;
    if ((rc = cairn__pack_write_tail(w->entries, w->n, w->offset, write_bytes, w)))
        goto done;
    if (fflush(w->out) != 0) {
        int e = errno ? errno : EIO;
        rc = cairn__fail(-e, "writing the bundle: %s", strerror(e));
    }
done:
    /* (write_tail sorted the entries by id: the table no longer fits) */
    w->error = rc ? rc : CAIRN_BADARG;
    cairn__free(manifest);
    return rc;
}

void cairn__bundle_writer_counts(const cairn_bundle_writer *w, uint64_t *blobs, uint64_t *bytes)
{
    *blobs = w->n;
    *bytes = w->offset;
}

void cairn__bundle_writer_free(cairn_bundle_writer *w)
{
    if (!w)
        return;
    cairn__free(w->entries);
    cairn__free(w->slots);
    cairn__free(w);
}

/* ---------------------------------------------------------------- reading */

typedef struct bundle_tier {
    cairn_tier base; /* must be first */
    int fd;
    char path[4096];
    cairn_pack_index *ix; /* entries by id */
    uint64_t records;     /* bytes of records (= the index's offset) */
    parsed_ref *refs;     /* the manifest's, by name */
    size_t n_refs;
} bundle_tier;

static const cairn_tier_methods bundle_methods;

bool cairn__is_bundle(const cairn_tier *t)
{
    return t && t->m == &bundle_methods;
}

/* Reads len bytes at offset: a short read means the file changed since it
 * was opened (it was checked then). */
static int read_at(bundle_tier *b, void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t got = pread(b->fd, (uint8_t *)buf + done, len - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return cairn__fail(-errno, "bundle %s: read at offset %llu: %s", b->path,
                               (unsigned long long)(offset + done), strerror(errno));
        if (got == 0)
            return cairn__fail(CAIRN_CORRUPT,
                               "bundle %s: ends at offset %llu, inside a record (it changed "
                               "while it was read?)",
                               b->path, (unsigned long long)(offset + done));
        done += (size_t)got;
    }
    return 0;
}

static int b_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out)
{
    bundle_tier *b = (bundle_tier *)t;
    int rc;

    for (size_t i = 0; i < n; i++) {
        const cairn_pack_entry *e = cairn__pack_lookup(b->ix, &ids[i]);
        if (!e)
            continue;
        if (!(out[i].data = cairn__malloc(e->length ? (size_t)e->length : 1)))
            return cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for a record of %llu "
                                            "bytes", b->path, (unsigned long long)e->length);
        out[i].len = (size_t)e->length;
        if ((rc = read_at(b, out[i].data, out[i].len, e->offset)))
            return rc; /* (the wrapper frees what was read) */
    }
    return 0;
}

static int b_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out)
{
    bundle_tier *b = (bundle_tier *)t;
    for (size_t i = 0; i < n; i++)
        out[i] = cairn__pack_lookup(b->ix, &ids[i]) != NULL;
    return 0;
}

static int b_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    (void)blobs;
    (void)n;
    return cairn__fail(CAIRN_RDONLY_STORE, "bundle %s is read-only", ((bundle_tier *)t)->path);
}

static int b_ref_get(cairn_tier *t, const char *name, cairn_id *out)
{
    bundle_tier *b = (bundle_tier *)t;
    for (size_t i = 0; i < b->n_refs; i++)
        if (!strcmp(b->refs[i].name, name)) {
            *out = b->refs[i].id;
            return 0;
        }
    return CAIRN_NOTFOUND;
}

static int b_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                     const cairn_id *new_id)
{
    (void)name;
    (void)old_id;
    (void)new_id;
    return cairn__fail(CAIRN_RDONLY_STORE, "bundle %s is read-only", ((bundle_tier *)t)->path);
}

static int b_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    bundle_tier *b = (bundle_tier *)t;
    size_t plen = strlen(prefix);
    int rc;

    for (size_t i = 0; i < b->n_refs; i++)
        if (!strncmp(b->refs[i].name, prefix, plen) && (rc = fn(ctx, b->refs[i].name, &b->refs[i].id)))
            return rc;
    return 0;
}

static int b_sync(cairn_tier *t)
{
    (void)t;
    return 0;
}

static int b_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx)
{
    bundle_tier *b = (bundle_tier *)t;
    int rc;

    for (uint64_t k = 0; k < b->ix->count; k++)
        if ((rc = fn(ctx, &b->ix->entries[k].id, (size_t)b->ix->entries[k].length)))
            return rc;
    return 0;
}

static int b_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes)
{
    bundle_tier *b = (bundle_tier *)t;
    *blobs = b->ix->count;
    *bytes = b->records;
    return 0;
}

static void b_close(cairn_tier *t)
{
    bundle_tier *b = (bundle_tier *)t;

    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    for (size_t i = 0; i < b->n_refs; i++)
        cairn__free(b->refs[i].name);
    cairn__free(b->refs);
    cairn__pack_index_free(b->ix);
    cairn__free(b);
}

static const cairn_tier_methods bundle_methods = {
    .version = 1,
    .name = "bundle",
    .get_many = b_get_many,
    .put_many = b_put_many,
    .ref_get = b_ref_get,
    .ref_cas = b_ref_cas,
    .ref_list = b_ref_list,
    .sync = b_sync,
    .close = b_close,
    .has_many = b_has_many,
    .scan_ids = b_scan_ids,
    .usage = b_usage,
};

/* Footer, index, record sizes; then the manifest: the record that ends
 * where the index begins. */
static int open_checked(bundle_tier *b)
{
    uint8_t footer[CAIRN_PACK_FOOTER], *suffix = NULL, *manifest = NULL;
    const cairn_pack_entry *last = NULL;
    cairn_pack_footer f;
    struct stat stat_buf;
    cairn_id got;
    int rc;

    if (fstat(b->fd, &stat_buf) != 0)
        return cairn__fail(-errno, "bundle %s: %s", b->path, strerror(errno));
    if (!S_ISREG(stat_buf.st_mode))
        return cairn__fail(CAIRN_BADARG, "bundle %s: not a regular file (a bundle is read from "
                                         "its end: save it to a file first)", b->path);
    uint64_t size = (uint64_t)stat_buf.st_size;
    if (size < CAIRN_PACK_FOOTER)
        return cairn__fail(CAIRN_CORRUPT, "bundle %s: truncated: %llu bytes, shorter than a "
                                          "pack's %d-byte footer",
                           b->path, (unsigned long long)size, CAIRN_PACK_FOOTER);
    if ((rc = read_at(b, footer, sizeof(footer), size - CAIRN_PACK_FOOTER)) ||
        (rc = cairn__pack_footer_parse(b->path, footer, size, &f)))
        goto done;
    uint64_t suffix_len = cairn__pack_suffix_len(&f);
    if (!(suffix = cairn__malloc((size_t)suffix_len))) {
        rc = cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for an index of %llu blobs",
                         b->path, (unsigned long long)f.count);
        goto done;
    }
    if ((rc = read_at(b, suffix, (size_t)suffix_len, size - suffix_len)) ||
        (rc = cairn__pack_index_parse(b->path, suffix, (size_t)suffix_len, size, &b->ix)))
        goto done;
    cairn__free(suffix);
    suffix = NULL;
    b->records = f.index_offset;
    for (uint64_t k = 0; k < b->ix->count; k++) {
        const cairn_pack_entry *e = &b->ix->entries[k];
        char a[13];
        if (e->length > CAIRN_BUNDLE_RECORD_MAX) {
            rc = cairn__fail(CAIRN_CORRUPT,
                             "bundle %s: record %s of %llu bytes is longer than any blob (at "
                             "most %llu)",
                             b->path, cairn__id_short(&e->id, a), (unsigned long long)e->length,
                             (unsigned long long)CAIRN_BUNDLE_RECORD_MAX);
            goto done;
        }
        if (e->length && e->offset + e->length == b->records)
            last = e;
    }
    if (!last) {
        rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: not a bundle: a pack with no records%s",
                         b->path, b->ix->count ? " but empty ones" : "");
        goto done;
    }
    if (!(manifest = cairn__malloc((size_t)last->length))) {
        rc = cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for its manifest", b->path);
        goto done;
    }
    if ((rc = read_at(b, manifest, (size_t)last->length, last->offset)) ||
        (rc = cairn__sha256(manifest, (size_t)last->length, &got)))
        goto done;
    if (!cairn__id_eq(&got, &last->id)) {
        rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: its manifest (the last record) does not "
                                        "hash to its id: damaged", b->path);
        goto done;
    }
    if ((rc = manifest_parse(b->path, manifest, (size_t)last->length, &b->refs, &b->n_refs)))
        goto done;
    for (size_t i = 0; i < b->n_refs; i++)
        if (!cairn__pack_lookup(b->ix, &b->refs[i].id)) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&b->refs[i].id, hex);
            rc = cairn__fail(CAIRN_CORRUPT,
                             "bundle %s: its manifest names blob %s (ref '%s'), which the bundle "
                             "does not hold",
                             b->path, hex, b->refs[i].name);
            goto done;
        }
done:
    cairn__free(suffix);
    cairn__free(manifest);
    return rc;
}

int cairn__bundle_open(const char *path, cairn_tier **out)
{
    bundle_tier *b;
    int rc;

    *out = NULL;
    if (!(b = cairn__calloc(1, sizeof(*b))))
        return cairn__fail(CAIRN_NOMEM, "bundle: out of memory");
    b->base.m = &bundle_methods;
    b->base.caps = CAIRN_TIER_DURABLE;
    snprintf(b->path, sizeof(b->path), "%s", path);
    snprintf(b->base.spec, sizeof(b->base.spec), "bundle:%s", path);
    if ((b->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = cairn__fail(-errno, "bundle %s: %s", path, strerror(errno));
        b_close(&b->base);
        return rc;
    }
    if ((rc = open_checked(b))) {
        b_close(&b->base);
        return rc;
    }
    *out = &b->base;
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const cairn_pack_entry *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int by_id(const void *a, const void *b)
{
    return cairn__id_cmp(&((const cairn_pack_entry *)a)->id, &((const cairn_pack_entry *)b)->id);
}

int cairn__bundle_check(cairn_tier *t, void (*progress)(void *ctx, uint64_t blobs, uint64_t bytes),
                        void *ctx)
{
    bundle_tier *b = (bundle_tier *)t;
    cairn_pack_entry *e = b->ix->entries;
    uint64_t n = b->ix->count, bytes = 0, max = 1;
    uint8_t *buf;
    int rc = 0;

    if (!cairn__is_bundle(t))
        return cairn__fail(CAIRN_BADARG, "not a bundle");
    for (uint64_t k = 0; k < n; k++)
        if (e[k].length > max)
            max = e[k].length;
    if (!(buf = cairn__malloc((size_t)max)))
        return cairn__fail(CAIRN_NOMEM, "bundle %s: out of memory for a record of %llu bytes",
                           b->path, (unsigned long long)max);
    /* In file order (one pass forward), then back to id order for lookups:
     * sorting in place costs no memory. */
    qsort(e, (size_t)n, sizeof(*e), by_offset);
    posix_fadvise(b->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (uint64_t k = 0; k < n && !rc; k++) {
        cairn_id got;
        if ((rc = read_at(b, buf, (size_t)e[k].length, e[k].offset)) ||
            (rc = cairn__sha256(buf, (size_t)e[k].length, &got)))
            break;
        if (!cairn__id_eq(&got, &e[k].id)) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&e[k].id, hex);
            rc = cairn__fail(CAIRN_CORRUPT,
                             "bundle %s: the record at offset %llu (%llu bytes) does not hash "
                             "to its id %s: damaged",
                             b->path, (unsigned long long)e[k].offset,
                             (unsigned long long)e[k].length, hex);
        }
        bytes += e[k].length;
        if (progress && (k % 256 == 255 || k + 1 == n))
            progress(ctx, k + 1, bytes);
    }
    qsort(e, (size_t)n, sizeof(*e), by_id);
    cairn__free(buf);
    return rc;
}
