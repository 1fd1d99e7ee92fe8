/*
 * sigv4.c - AWS Signature Version 4 (header-based) for S3, on libcrypto's
 * one-shot SHA-256 (EVP_Digest) and HMAC (HMAC()), neither deprecated in
 * OpenSSL 3.
 *
 * What gets signed, line by line (sigv4.h has the encoding rules):
 *
 *     canonical request            string to sign
 *     -----------------            --------------
 *     METHOD                       AWS4-HMAC-SHA256
 *     /encoded/path                20130524T000000Z
 *     a=1&b=2          (sorted)    20130524/us-east-1/s3/aws4_request
 *     host:example.com (sorted)    hex(SHA-256(canonical request))
 *     x-amz-date:2013...
 *     <empty line>
 *     host;x-amz-date
 *     PAYLOAD-SHA256
 *
 *     kDate    = HMAC("AWS4" secret, "20130524")
 *     kRegion  = HMAC(kDate, region)
 *     kService = HMAC(kRegion, service)
 *     kSigning = HMAC(kService, "aws4_request")
 *     signature = hex(HMAC(kSigning, string to sign))
 *
 * The secret and every derived key live in stack buffers wiped with
 * OPENSSL_cleanse before returning; no message ever quotes them.
 */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

/* The longest secret key accepted: settings.h holds 255 bytes. */
#define SIGV4_SECRET_MAX 255

/* ---------------------------------------------------------------- strings */

/* A growing NUL-terminated string; failed stays set after the first
 * allocation failure so that callers check once at the end. */
typedef struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} strbuf;

static bool sb_reserve(strbuf *sb, size_t extra)
{
    size_t need, cap;
    char *p;

    if (sb->failed)
        return false;
    if (extra > SIZE_MAX / 2 - sb->len) {
        sb->failed = true;
        return false;
    }
    need = sb->len + extra + 1;
    if (need <= sb->cap)
        return true;
    for (cap = sb->cap ? sb->cap : 256; cap < need; cap *= 2)
        ;
    if (!(p = cairn__realloc(sb->data, cap))) {
        sb->failed = true;
        return false;
    }
    sb->data = p;
    sb->cap = cap;
    return true;
}

static void sb_add(strbuf *sb, const char *s, size_t len)
{
    if (!sb_reserve(sb, len))
        return;
    memcpy(sb->data + sb->len, s, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

static void sb_putc(strbuf *sb, char c)
{
    sb_add(sb, &c, 1);
}

/* Appends len bytes of s percent-encoded (sigv4.h's rules). */
static void sb_encode(strbuf *sb, const char *s, size_t len, bool keep_slash)
{
    size_t n;

    if (len > SIZE_MAX / 4 || !sb_reserve(sb, 3 * len)) {
        sb->failed = true;
        return;
    }
    n = cairn__sigv4_encode(s, len, keep_slash, sb->data + sb->len, sb->cap - sb->len);
    sb->len += n; /* cannot fail: 3 * len + 1 bytes were reserved */
}

/* ---------------------------------------------------------------- encoding */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

size_t cairn__sigv4_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t pos = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (cap - pos < 2)
                goto too_small;
            out[pos++] = (char)c;
        } else {
            if (cap - pos < 4)
                goto too_small;
            out[pos++] = '%';
            out[pos++] = hex[c >> 4];
            out[pos++] = hex[c & 15];
        }
    }
    if (cap - pos < 1)
        goto too_small;
    out[pos] = '\0';
    return pos;

too_small:
    if (cap)
        out[0] = '\0';
    return (size_t)-1;
}

/* ---------------------------------------------------------------- crypto */

static void to_hex(const unsigned char *bytes, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* SHA-256 of data into hex; 0 or CAIRN_TIER. */
static int sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return cairn__fail(CAIRN_TIER, "sigv4: SHA-256 failed in libcrypto");
    to_hex(md, 32, hex);
    return 0;
}

void cairn__sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    if (sha256_hex(data, len, hex))
        hex[0] = '\0';
}

/* out = HMAC-SHA256(key, data); 0 or CAIRN_TIER. */
static int hmac(const unsigned char *key, size_t key_len, const char *data, size_t data_len,
                unsigned char out[32])
{
    unsigned int out_len = 0;

    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, data_len, out,
              &out_len) ||
        out_len != 32)
        return cairn__fail(CAIRN_TIER, "sigv4: HMAC-SHA256 failed in libcrypto");
    return 0;
}

/* The signature of string_to_sign (64 hex digits into sig) by the key
 * derived from secret, date, region and service. */
static int sign_string(const char *secret, const char *date, const char *region,
                       const char *service, const char *string_to_sign, char sig[65])
{
    unsigned char key[4 + SIGV4_SECRET_MAX];
    unsigned char k1[32], k2[32];
    size_t secret_len = strlen(secret);
    int rc;

    memcpy(key, "AWS4", 4);
    memcpy(key + 4, secret, secret_len);
    if ((rc = hmac(key, 4 + secret_len, date, 8, k1)) ||
        (rc = hmac(k1, 32, region, strlen(region), k2)) ||
        (rc = hmac(k2, 32, service, strlen(service), k1)) ||
        (rc = hmac(k1, 32, "aws4_request", 12, k2)) ||
        (rc = hmac(k2, 32, string_to_sign, strlen(string_to_sign), k1)))
        goto out;
    to_hex(k1, 32, sig);
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    return rc;
}

/* ---------------------------------------------------------------- checks */

/* RFC 9110's tchar: the characters a header name may use. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

static bool is_payload_hash(const char *s)
{
    if (!strcmp(s, "UNSIGNED-PAYLOAD"))
        return true;
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* "20130524T000000Z": 8 digits, 'T', 6 digits, 'Z'. */
static bool is_amz_date(const char *s)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !(s[i] >= '0' && s[i] <= '9'))
            return false;
    return true;
}

/* A scope part (region, service) or the access key: non-empty, and no
 * character that would break the Credential= field. */
static bool is_scope_part(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '/' || *s == ',' || *s == 0x7f)
            return false;
    return true;
}

/* Checks the fields of *in, naming the first bad one (never its value when
 * it is the secret). */
static int check_input(const cairn_sigv4_input *in)
{
    static const char *const names[] = {"method", "path", "payload_sha256", "amz_date",
                                        "region", "service", "access_key", "secret_key"};
    const char *const fields[] = {in->method, in->path, in->payload_sha256, in->amz_date,
                                  in->region, in->service, in->access_key, in->secret_key};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!fields[i] || !fields[i][0])
            return cairn__fail(CAIRN_BADARG, "sigv4: %s missing", names[i]);
    if (!is_token(in->method))
        return cairn__fail(CAIRN_BADARG, "sigv4: method '%s' is not a token", in->method);
    if (in->path[0] != '/')
        return cairn__fail(CAIRN_BADARG, "sigv4: path does not start with '/'");
    if (!is_payload_hash(in->payload_sha256))
        return cairn__fail(CAIRN_BADARG,
                           "sigv4: payload_sha256 is neither 64 lowercase hex digits nor "
                           "UNSIGNED-PAYLOAD");
    if (!is_amz_date(in->amz_date))
        return cairn__fail(CAIRN_BADARG, "sigv4: amz_date '%.32s' is not YYYYMMDDTHHMMSSZ",
                           in->amz_date);
    if (!is_scope_part(in->region) || strlen(in->region) > 64)
        return cairn__fail(CAIRN_BADARG, "sigv4: bad region '%.64s'", in->region);
    if (!is_scope_part(in->service) || strlen(in->service) > 64)
        return cairn__fail(CAIRN_BADARG, "sigv4: bad service '%.64s'", in->service);
    if (!is_scope_part(in->access_key) || strlen(in->access_key) > 128)
        return cairn__fail(CAIRN_BADARG, "sigv4: bad access_key (empty, too long or "
                                         "containing '/', ',' or a space)");
    if (strlen(in->secret_key) > SIGV4_SECRET_MAX)
        return cairn__fail(CAIRN_BADARG, "sigv4: secret_key longer than %d bytes",
                           SIGV4_SECRET_MAX);
    if (in->n_query && !in->query)
        return cairn__fail(CAIRN_BADARG, "sigv4: n_query is %zu but query is NULL", in->n_query);
    for (size_t i = 0; i < in->n_query; i++)
        if (!in->query[i].name || !in->query[i].value)
            return cairn__fail(CAIRN_BADARG, "sigv4: query parameter %zu has a NULL %s", i,
                               in->query[i].name ? "value" : "name");
    if (!in->n_headers || !in->headers)
        return cairn__fail(CAIRN_BADARG, "sigv4: no headers to sign (Host is required)");
    for (size_t i = 0; i < in->n_headers; i++) {
        const cairn_http_pair *h = &in->headers[i];
        if (!h->name || !h->value)
            return cairn__fail(CAIRN_BADARG, "sigv4: header %zu has a NULL %s", i,
                               h->name ? "value" : "name");
        if (!is_token(h->name))
            return cairn__fail(CAIRN_BADARG, "sigv4: header name '%.64s' is not a token",
                               h->name);
        for (const char *v = h->value; *v; v++)
            if (*v == '\r' || *v == '\n')
                return cairn__fail(CAIRN_BADARG, "sigv4: header '%.64s' has a line break",
                                   h->name);
    }
    return 0;
}

/* ---------------------------------------------------------------- canonical */

/* One query parameter, encoded. */
typedef struct enc_pair {
    char *name, *value; /* cairn__malloc'd */
} enc_pair;

static int cmp_enc_pair(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}

/* One header: its lowercased name and its index in the input, so that the
 * sort keeps the input order of headers sharing a name. */
typedef struct lc_header {
    char name[128];
    size_t index;
} lc_header;

static int cmp_lc_header(const void *a, const void *b)
{
    const lc_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* An encoded copy of s (cairn__malloc'd), or NULL. */
static char *encode_dup(const char *s, bool keep_slash)
{
    size_t len = strlen(s), cap;
    char *out;

    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    cap = 3 * len + 1;
    if (!(out = cairn__malloc(cap)))
        return NULL;
    cairn__sigv4_encode(s, len, keep_slash, out, cap);
    return out;
}

/* Appends the canonical query string: every parameter encoded, sorted by
 * encoded name then encoded value, "name=value" joined by '&'. */
static int add_query(strbuf *sb, const cairn_sigv4_input *in)
{
    enc_pair *pairs;
    size_t n = in->n_query, done = 0;
    int rc = 0;

    if (!n)
        return 0;
    if (!(pairs = cairn__calloc(n, sizeof(*pairs))))
        return CAIRN_NOMEM;
    for (; done < n; done++) {
        pairs[done].name = encode_dup(in->query[done].name, false);
        pairs[done].value = encode_dup(in->query[done].value, false);
        if (!pairs[done].name || !pairs[done].value) {
            done++;
            rc = CAIRN_NOMEM;
            goto out;
        }
    }
    qsort(pairs, n, sizeof(*pairs), cmp_enc_pair);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putc(sb, '&');
        sb_puts(sb, pairs[i].name);
        sb_putc(sb, '=');
        sb_puts(sb, pairs[i].value);
    }
out:
    for (size_t i = 0; i < done; i++) {
        cairn__free(pairs[i].name);
        cairn__free(pairs[i].value);
    }
    cairn__free(pairs);
    return rc;
}

/* Appends value trimmed of spaces and tabs, inner runs folded to one space. */
static void add_trimmed(strbuf *sb, const char *value)
{
    bool pending_space = false, any = false;

    for (; *value; value++) {
        if (*value == ' ' || *value == '\t') {
            pending_space = any;
            continue;
        }
        if (pending_space)
            sb_putc(sb, ' ');
        sb_putc(sb, *value);
        pending_space = false;
        any = true;
    }
}

/* Appends the canonical headers ("name:value\n" each, sorted by lowercased
 * name, values of a repeated name joined by ',') and writes the signed
 * header list into out->signed_headers. */
static int add_headers(strbuf *sb, const cairn_sigv4_input *in, cairn_sigv4_output *out)
{
    size_t n = in->n_headers, pos = 0;
    lc_header *hs;
    int rc = 0;

    if (!(hs = cairn__calloc(n, sizeof(*hs))))
        return CAIRN_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = in->headers[i].name;
        size_t len = strlen(name);
        if (len >= sizeof(hs[i].name)) {
            rc = cairn__fail(CAIRN_BADARG, "sigv4: header name '%.64s...' longer than %zu bytes",
                             name, sizeof(hs[i].name) - 1);
            goto out;
        }
        for (size_t j = 0; j <= len; j++)
            hs[i].name[j] = (name[j] >= 'A' && name[j] <= 'Z') ? (char)(name[j] - 'A' + 'a')
                                                                : name[j];
        hs[i].index = i;
    }
    qsort(hs, n, sizeof(*hs), cmp_lc_header);
    for (size_t i = 0; i < n; i++) {
        bool repeat = i > 0 && !strcmp(hs[i].name, hs[i - 1].name);
        if (repeat) {
            sb->len--; /* the previous value's '\n' */
            sb_putc(sb, ',');
        } else {
            size_t len = strlen(hs[i].name);
            if (pos + len + (pos > 0) >= sizeof(out->signed_headers)) {
                rc = cairn__fail(CAIRN_BADARG,
                                 "sigv4: the signed header names exceed %zu bytes",
                                 sizeof(out->signed_headers) - 1);
                goto out;
            }
            if (pos)
                out->signed_headers[pos++] = ';';
            memcpy(out->signed_headers + pos, hs[i].name, len + 1);
            pos += len;
            sb_puts(sb, hs[i].name);
            sb_putc(sb, ':');
        }
        add_trimmed(sb, in->headers[hs[i].index].value);
        sb_putc(sb, '\n');
        if (sb->failed) {
            rc = CAIRN_NOMEM;
            goto out;
        }
    }
out:
    cairn__free(hs);
    return rc;
}

/* ---------------------------------------------------------------- signing */

int cairn__sigv4_sign(const cairn_sigv4_input *in, cairn_sigv4_output *out)
{
    strbuf cr = {0}, sts = {0};
    char date[9], cr_hash[65];
    int rc, n;

    memset(out, 0, sizeof(*out));
    if (!in)
        return cairn__fail(CAIRN_BADARG, "sigv4: no input");
    if ((rc = check_input(in)))
        return rc;

    /* The canonical request. */
    sb_puts(&cr, in->method);
    sb_putc(&cr, '\n');
    sb_encode(&cr, in->path, strlen(in->path), true);
    sb_putc(&cr, '\n');
    if ((rc = add_query(&cr, in)))
        goto fail;
    sb_putc(&cr, '\n');
    if ((rc = add_headers(&cr, in, out)))
        goto fail;
    sb_putc(&cr, '\n');
    sb_puts(&cr, out->signed_headers);
    sb_putc(&cr, '\n');
    sb_puts(&cr, in->payload_sha256);
    if (cr.failed) {
        rc = CAIRN_NOMEM;
        goto fail;
    }

    /* The string to sign. */
    memcpy(date, in->amz_date, 8);
    date[8] = '\0';
    if ((rc = sha256_hex(cr.data, cr.len, cr_hash)))
        goto fail;
    sb_puts(&sts, "AWS4-HMAC-SHA256\n");
    sb_puts(&sts, in->amz_date);
    sb_putc(&sts, '\n');
    sb_puts(&sts, date);
    sb_putc(&sts, '/');
    sb_puts(&sts, in->region);
    sb_putc(&sts, '/');
    sb_puts(&sts, in->service);
    sb_puts(&sts, "/aws4_request\n");
    sb_puts(&sts, cr_hash);
    if (sts.failed) {
        rc = CAIRN_NOMEM;
        goto fail;
    }

    if ((rc = sign_string(in->secret_key, date, in->region, in->service, sts.data,
                          out->signature)))
        goto fail;
    n = snprintf(out->authorization, sizeof(out->authorization),
                 "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,SignedHeaders=%s,"
                 "Signature=%s",
                 in->access_key, date, in->region, in->service, out->signed_headers,
                 out->signature);
    if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
        rc = cairn__fail(CAIRN_BADARG, "sigv4: the Authorization header exceeds %zu bytes",
                         sizeof(out->authorization) - 1);
        goto fail;
    }
    out->canonical_request = cr.data;
    out->string_to_sign = sts.data;
    return 0;

fail:
    if (rc == CAIRN_NOMEM)
        cairn__fail(rc, "sigv4: out of memory building the canonical request");
    cairn__free(sts.data);
    cairn__free(cr.data);
    out->signed_headers[0] = out->signature[0] = out->authorization[0] = '\0';
    return rc;
}

void cairn__sigv4_output_clear(cairn_sigv4_output *out)
{
    if (!out)
        return;
    cairn__free(out->canonical_request);
    cairn__free(out->string_to_sign);
    out->canonical_request = out->string_to_sign = NULL;
}
