/*
 * head.c - encoding and decoding PREFIX/head; the format is drawn in
 * head.h and specified in docs/format.md.
 */
#include "head.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "sigv4.h"

#define MAGIC "cairn-s3-head"

/* ---------------------------------------------------------------- refs */

static size_t ref_pos(const cairn_s3_head *h, const char *name, bool *found)
{
    size_t lo = 0, hi = h->n_refs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(h->refs[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

const cairn_s3_ref *cairn__s3_head_ref(const cairn_s3_head *h, const char *name)
{
    bool found;
    size_t at = ref_pos(h, name, &found);
    return found ? &h->refs[at] : NULL;
}

int cairn__s3_head_ref_set(cairn_s3_head *h, const char *name, const cairn_id *id)
{
    bool found;
    size_t at = ref_pos(h, name, &found);
    if (!id) {
        if (found) {
            cairn__free(h->refs[at].name);
            memmove(&h->refs[at], &h->refs[at + 1], (h->n_refs - at - 1) * sizeof(*h->refs));
            h->n_refs--;
        }
        return 0;
    }
    if (found) {
        h->refs[at].id = *id;
        return 0;
    }
    cairn_s3_ref *refs = cairn__reallocarray(h->refs, h->n_refs + 1, sizeof(*refs));
    if (!refs)
        return CAIRN_NOMEM;
    h->refs = refs;
    char *copy = cairn__strdup(name);
    if (!copy)
        return CAIRN_NOMEM;
    memmove(&refs[at + 1], &refs[at], (h->n_refs - at) * sizeof(*refs));
    refs[at].name = copy;
    refs[at].id = *id;
    h->n_refs++;
    return 0;
}

int cairn__s3_head_pack_add(cairn_s3_head *h, const cairn_s3_pack_ref *p)
{
    cairn_s3_pack_ref *packs = cairn__reallocarray(h->packs, h->n_packs + 1, sizeof(*packs));
    if (!packs)
        return CAIRN_NOMEM;
    h->packs = packs;
    packs[h->n_packs++] = *p;
    return 0;
}

static int retired_add(cairn_s3_head *h, const cairn_s3_retired *r)
{
    cairn_s3_retired *all = cairn__reallocarray(h->retired, h->n_retired + 1, sizeof(*all));
    if (!all)
        return CAIRN_NOMEM;
    h->retired = all;
    all[h->n_retired++] = *r;
    return 0;
}

void cairn__s3_head_clear(cairn_s3_head *h)
{
    for (size_t i = 0; i < h->n_refs; i++)
        cairn__free(h->refs[i].name);
    cairn__free(h->refs);
    cairn__free(h->packs);
    cairn__free(h->retired);
    memset(h, 0, sizeof(*h));
}

int cairn__s3_head_copy(const cairn_s3_head *src, cairn_s3_head *dst)
{
    memset(dst, 0, sizeof(*dst));
    dst->epoch = src->epoch;
    dst->seq = src->seq;
    dst->time = src->time;
    memcpy(dst->nonce, src->nonce, sizeof(dst->nonce));
    memcpy(dst->writer, src->writer, sizeof(dst->writer));
    if ((src->n_refs && !(dst->refs = cairn__calloc(src->n_refs, sizeof(*dst->refs)))) ||
        (src->n_packs && !(dst->packs = cairn__memdup(src->packs, src->n_packs * sizeof(*src->packs)))) ||
        (src->n_retired &&
         !(dst->retired = cairn__memdup(src->retired, src->n_retired * sizeof(*src->retired)))))
        goto nomem;
    dst->n_packs = src->n_packs;
    dst->n_retired = src->n_retired;
    for (size_t i = 0; i < src->n_refs; i++) {
        if (!(dst->refs[i].name = cairn__strdup(src->refs[i].name)))
            goto nomem;
        dst->refs[i].id = src->refs[i].id;
        dst->n_refs++;
    }
    return 0;
nomem:
    cairn__s3_head_clear(dst);
    return CAIRN_NOMEM;
}

/* ---------------------------------------------------------------- encode */

/* A growing text buffer. */
struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = cairn__realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    text_add(t, line, n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static bool name_char_plain(unsigned char c)
{
    return c > ' ' && c <= '~' && c != '%';
}

int cairn__s3_head_encode(const cairn_s3_head *h, char **out, size_t *len)
{
    struct text t = {0};
    char hex[CAIRN_ID_HEX + 1];

    text_printf(&t, "%s %d\n", MAGIC, CAIRN_S3_LAYOUT);
    text_printf(&t, "epoch %llu\nseq %llu\nnonce %s\ntime %llu\nwriter %s\n",
                (unsigned long long)h->epoch, (unsigned long long)h->seq, h->nonce,
                (unsigned long long)h->time, h->writer[0] ? h->writer : "-");
    for (size_t i = 0; i < h->n_refs; i++) {
        text_add(&t, "ref ", 4);
        for (const unsigned char *p = (const unsigned char *)h->refs[i].name; *p; p++) {
            char enc[4];
            if (name_char_plain(*p))
                text_add(&t, (const char *)p, 1);
            else {
                snprintf(enc, sizeof(enc), "%%%02X", *p);
                text_add(&t, enc, 3);
            }
        }
        cairn_id_to_hex(&h->refs[i].id, hex);
        text_printf(&t, " %s\n", hex);
    }
    for (size_t i = 0; i < h->n_packs; i++) {
        cairn_id_to_hex(&h->packs[i].index_id, hex);
        text_printf(&t, "pack %s %llu %llu %s\n", h->packs[i].name,
                    (unsigned long long)h->packs[i].count, (unsigned long long)h->packs[i].bytes, hex);
    }
    for (size_t i = 0; i < h->n_retired; i++)
        text_printf(&t, "retired %s %llu\n", h->retired[i].name,
                    (unsigned long long)h->retired[i].delete_after);
    if (t.failed) {
        cairn__free(t.p);
        return CAIRN_NOMEM;
    }
    char digest[65];
    cairn__sigv4_sha256_hex(t.p, t.len, digest);
    text_printf(&t, "end %s\n", digest);
    if (t.failed) {
        cairn__free(t.p);
        return CAIRN_NOMEM;
    }
    *out = t.p;
    *len = t.len;
    return 0;
}

/* ---------------------------------------------------------------- decode */

static bool parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

bool cairn__s3_pack_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CAIRN_S3_PACK_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return false;
    return true;
}

static int decode_name(const char *enc, char **out)
{
    size_t n = strlen(enc);
    char *name = cairn__malloc(n + 1);
    if (!name)
        return CAIRN_NOMEM;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (enc[i] != '%') {
            name[w++] = enc[i];
            continue;
        }
        int hi = i + 2 < n ? cairn__hex_digit((unsigned char)enc[i + 1]) : -1;
        int lo = hi >= 0 ? cairn__hex_digit((unsigned char)enc[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            cairn__free(name);
            return CAIRN_CORRUPT;
        }
        name[w++] = (char)(hi << 4 | lo);
        i += 2;
    }
    name[w] = 0;
    if (w == 0 || w > CAIRN_NAME_MAX + 16) {
        cairn__free(name);
        return CAIRN_CORRUPT;
    }
    *out = name;
    return 0;
}

int cairn__s3_head_decode(const char *where, const void *data, size_t len, cairn_s3_head *out)
{
    const char *text = data;
    cairn_s3_head h = {0};
    int rc = 0;
    unsigned line_no = 0;
    bool seen_end = false, seen[5] = {false};

    memset(out, 0, sizeof(*out));
    if (len > CAIRN_S3_HEAD_MAX)
        return cairn__fail(CAIRN_CORRUPT, "%s: %zu bytes, more than a head may hold", where, len);
    if (len == 0 || text[len - 1] != '\n')
        return cairn__fail(CAIRN_CORRUPT, "%s: truncated (no final newline)", where);
    if (memchr(text, 0, len))
        return cairn__fail(CAIRN_CORRUPT, "%s: holds a NUL byte", where);

    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t ll = (size_t)(nl - (text + at));
        line_no++;
        if (seen_end) {
            rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: text after the end line", where, line_no);
            goto fail;
        }
        char line[1024];
        if (ll >= sizeof(line)) {
            rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: line longer than %zu bytes", where, line_no,
                             sizeof(line) - 1);
            goto fail;
        }
        memcpy(line, text + at, ll);
        line[ll] = 0;
        char *words[6] = {0};
        size_t nw = 0;
        for (char *save = NULL, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            if (nw == 6) {
                nw = 7;
                break;
            }
            words[nw++] = w;
        }
        if (nw == 0 || nw > 5)
            goto bad_line;
        if (line_no == 1) {
            uint64_t version;
            if (nw != 2 || strcmp(words[0], MAGIC) || !parse_u64(words[1], &version)) {
                rc = cairn__fail(CAIRN_CORRUPT, "%s: not a cairn head (first line is not '%s N')",
                                 where, MAGIC);
                goto fail;
            }
            if (version != CAIRN_S3_LAYOUT) {
                rc = cairn__fail(CAIRN_VERSION, "%s: layout version %llu; this build reads %d", where,
                                 (unsigned long long)version, CAIRN_S3_LAYOUT);
                goto fail;
            }
        } else if (!strcmp(words[0], "end")) {
            char digest[65];
            cairn__sigv4_sha256_hex(text, at, digest);
            if (nw != 2 || strcmp(words[1], digest)) {
                rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: checksum does not match: the head is damaged",
                                 where, line_no);
                goto fail;
            }
            seen_end = true;
        } else if (!strcmp(words[0], "epoch") || !strcmp(words[0], "seq") || !strcmp(words[0], "time")) {
            int k = words[0][0] == 'e' ? 0 : words[0][0] == 's' ? 1 : 2;
            uint64_t *field = k == 0 ? &h.epoch : k == 1 ? &h.seq : &h.time;
            if (nw != 2 || seen[k] || !parse_u64(words[1], field))
                goto bad_line;
            seen[k] = true;
        } else if (!strcmp(words[0], "nonce")) {
            if (nw != 2 || seen[3] || strlen(words[1]) != 32)
                goto bad_line;
            memcpy(h.nonce, words[1], 33);
            seen[3] = true;
        } else if (!strcmp(words[0], "writer")) {
            if (nw != 2 || seen[4] || strlen(words[1]) >= sizeof(h.writer))
                goto bad_line;
            snprintf(h.writer, sizeof(h.writer), "%s", words[1]);
            seen[4] = true;
        } else if (!strcmp(words[0], "ref")) {
            cairn_id id;
            char *name;
            if (nw != 3 || cairn_id_from_hex(words[2], &id))
                goto bad_line;
            if ((rc = decode_name(words[1], &name))) {
                if (rc == CAIRN_CORRUPT)
                    goto bad_line;
                goto fail;
            }
            if (h.n_refs && strcmp(h.refs[h.n_refs - 1].name, name) >= 0) {
                cairn__free(name);
                rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: refs out of order or repeated", where, line_no);
                goto fail;
            }
            cairn_s3_ref *refs = cairn__reallocarray(h.refs, h.n_refs + 1, sizeof(*refs));
            if (!refs) {
                cairn__free(name);
                rc = CAIRN_NOMEM;
                goto fail;
            }
            h.refs = refs;
            refs[h.n_refs].name = name;
            refs[h.n_refs++].id = id;
        } else if (!strcmp(words[0], "pack")) {
            cairn_s3_pack_ref p = {0};
            if (nw != 5 || !cairn__s3_pack_name_ok(words[1]) || !parse_u64(words[2], &p.count) ||
                !parse_u64(words[3], &p.bytes) || cairn_id_from_hex(words[4], &p.index_id))
                goto bad_line;
            /* The index alone takes 48 bytes a blob plus the footer. */
            if (p.count > (UINT64_MAX - 40) / 48 || p.bytes < 40 + 48 * p.count)
                goto bad_line;
            memcpy(p.name, words[1], strlen(words[1]) + 1);
            for (size_t i = 0; i < h.n_packs; i++)
                if (!strcmp(h.packs[i].name, p.name)) {
                    rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: pack %s named twice", where, line_no, p.name);
                    goto fail;
                }
            if ((rc = cairn__s3_head_pack_add(&h, &p)))
                goto fail;
        } else if (!strcmp(words[0], "retired")) {
            cairn_s3_retired r = {0};
            if (nw != 3 || !cairn__s3_pack_name_ok(words[1]) || !parse_u64(words[2], &r.delete_after))
                goto bad_line;
            memcpy(r.name, words[1], strlen(words[1]) + 1);
            if ((rc = retired_add(&h, &r)))
                goto fail;
        } else {
            goto bad_line;
        }
        at += ll + 1;
        continue;
    bad_line:
        rc = cairn__fail(CAIRN_CORRUPT, "%s:%u: malformed line", where, line_no);
        goto fail;
    }
    if (!seen_end) {
        rc = cairn__fail(CAIRN_CORRUPT, "%s: no end line (truncated)", where);
        goto fail;
    }
    for (int k = 0; k < 4; k++)
        if (!seen[k]) {
            rc = cairn__fail(CAIRN_CORRUPT, "%s: lacks its %s line", where,
                             (const char *[]){"epoch", "seq", "time", "nonce"}[k]);
            goto fail;
        }
    *out = h;
    return 0;
fail:
    cairn__s3_head_clear(&h);
    return rc;
}
