/*
 * sigv4.h - AWS Signature Version 4 for S3 requests (header-based
 * authorization), computed on libcrypto's SHA-256 and HMAC.
 *
 * Pure functions, no I/O: the HTTP client (client.c) builds the request,
 * calls cairn__sigv4_sign, and sends the Authorization header it returns.
 * Tested against AWS's published examples (tests/data/sigv4-s3.txt).
 *
 * Encoding rules (S3's, not the generic SigV4's): the path is encoded once,
 * each segment on its own ('/' kept), unreserved characters A-Z a-z 0-9
 * - . _ ~ left as they are, every other byte as %XX (upper-case hex);
 * query names and values are encoded the same way but with '/' encoded too.
 */
#ifndef CAIRN_SIGV4_H
#define CAIRN_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

/* A name/value pair: a header or a query parameter, unencoded. */
typedef struct cairn_http_pair {
    const char *name;
    const char *value; /* "" for a query parameter without a value */
} cairn_http_pair;

typedef struct cairn_sigv4_input {
    const char *method;             /* "GET", "PUT", ... */
    const char *path;               /* unencoded, starts with '/': "/bucket/key" */
    const cairn_http_pair *query;   /* unencoded, any order */
    size_t n_query;
    const cairn_http_pair *headers; /* every header to sign, Host included, any
                                       order and case; values are trimmed and
                                       inner runs of spaces folded to one */
    size_t n_headers;
    const char *payload_sha256;     /* 64 lowercase hex digits, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;           /* "20130524T000000Z" (its first 8 chars are the date) */
    const char *region;             /* "us-east-1" */
    const char *service;            /* "s3" */
    const char *access_key;
    const char *secret_key;
} cairn_sigv4_input;

typedef struct cairn_sigv4_output {
    char *canonical_request;   /* malloc'd (cairn__malloc); for tests and debugging */
    char *string_to_sign;      /* malloc'd (cairn__malloc) */
    char signed_headers[1024]; /* "host;range;x-amz-content-sha256;x-amz-date" */
    char signature[65];        /* 64 lowercase hex digits */
    char authorization[1536];  /* the whole Authorization header value */
} cairn_sigv4_output;

/* Signs one request. OUT: *out, overwritten whole (release with
 * cairn__sigv4_output_clear, also after a failure). Errors: CAIRN_BADARG (a field missing or too long
 * for the fixed buffers, a header name that is not a token), CAIRN_NOMEM,
 * CAIRN_TIER (libcrypto failed). Never puts the secret in a message. */
int cairn__sigv4_sign(const cairn_sigv4_input *in, cairn_sigv4_output *out);

/* Frees what cairn__sigv4_sign allocated in *out. Accepts a zeroed struct. */
void cairn__sigv4_output_clear(cairn_sigv4_output *out);

/* Percent-encodes len bytes of s by the rules above ('/' kept when
 * keep_slash) into out, NUL-terminated. Returns the encoded length, or
 * (size_t)-1 when out (cap bytes) is too small. */
size_t cairn__sigv4_encode(const char *s, size_t len, bool keep_slash, char *out, size_t cap);

/* SHA-256 of len bytes as 64 lowercase hex digits plus NUL (the empty
 * string if libcrypto fails, which it does not in practice). */
void cairn__sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

#endif /* CAIRN_SIGV4_H */
