/*
 * client_ops.c - S3 operations made of several requests, on top of
 * cairn__s3_run: a listing that follows continuation tokens, and a
 * multipart upload (aborted when it fails).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "client.h"
#include "error.h"

/* ---------------------------------------------------------------- list */

int cairn__s3_list(cairn_s3_client *c, const char *prefix,
                   int (*fn)(void *ctx, const char *key, uint64_t size), void *ctx)
{
    char token[1024] = "";
    for (;;) {
        cairn_http_pair q[4] = {{"list-type", "2"}, {"prefix", prefix}, {"max-keys", "1000"}};
        size_t nq = 3;
        if (token[0])
            q[nq++] = (cairn_http_pair){"continuation-token", token};
        cairn_s3_request r = {.method = CAIRN_S3_GET, .key = NULL, .query = q, .n_query = nq};
        int rc = cairn__s3_run(c, &r, 1);
        if (!rc && (rc = r.rc) == CAIRN_NOTFOUND)
            rc = cairn__fail(CAIRN_NOTFOUND, "s3: bucket '%s' does not exist at %s", cairn__s3_bucket(c),
                             cairn__s3_endpoint(c));
        if (rc) {
            cairn__s3_request_reset(&r, 1);
            return rc;
        }
        const char *xml = (const char *)r.data;
        size_t len = r.len, at = 0;
        for (;;) {
            char key[1100], size_text[32];
            const char *start = xml ? memmem(xml + at, len - at, "<Contents>", 10) : NULL;
            if (!start)
                break;
            const char *end = memmem(start, (size_t)(xml + len - start), "</Contents>", 11);
            if (!end) {
                cairn__s3_request_reset(&r, 1);
                return cairn__fail(CAIRN_TIER, "s3: a listing of %s at %s is malformed", cairn__s3_bucket(c),
                                   cairn__s3_endpoint(c));
            }
            size_t from = 0, elen = (size_t)(end - start);
            if (!cairn__s3_xml_take(start, elen, &from, "Key", key, sizeof(key))) {
                cairn__s3_request_reset(&r, 1);
                return cairn__fail(CAIRN_TIER, "s3: a listing of %s at %s has an entry without a key",
                                   cairn__s3_bucket(c), cairn__s3_endpoint(c));
            }
            from = 0;
            uint64_t size = 0;
            if (cairn__s3_xml_take(start, elen, &from, "Size", size_text, sizeof(size_text)))
                size = strtoull(size_text, NULL, 10);
            at = (size_t)(end - xml) + 11;
            if ((rc = fn(ctx, key, size))) {
                cairn__s3_request_reset(&r, 1);
                return rc;
            }
        }
        size_t from = 0;
        char truncated[8] = "";
        bool more = xml && cairn__s3_xml_take(xml, len, &from, "IsTruncated", truncated, sizeof(truncated)) &&
                    !strcmp(truncated, "true");
        from = 0;
        if (more && !cairn__s3_xml_take(xml, len, &from, "NextContinuationToken", token, sizeof(token))) {
            cairn__s3_request_reset(&r, 1);
            return cairn__fail(CAIRN_TIER, "s3: a truncated listing of %s at %s has no continuation token",
                               cairn__s3_bucket(c), cairn__s3_endpoint(c));
        }
        cairn__s3_request_reset(&r, 1);
        if (!more)
            return 0;
    }
}

/* ---------------------------------------------------------------- multipart */

int cairn__s3_put_large(cairn_s3_client *c, const char *key, const void *data, size_t len,
                        size_t part_size)
{
    int rc;
    if (len <= part_size || part_size == 0) {
        cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = data, .body_len = len};
        rc = cairn__s3_run(c, &r, 1);
        if (!rc)
            rc = r.rc;
        cairn__s3_request_reset(&r, 1);
        return rc;
    }

    /* Start: POST ?uploads answers the upload id. */
    cairn_http_pair q_start[1] = {{"uploads", ""}};
    cairn_s3_request start = {.method = CAIRN_S3_POST, .key = key, .query = q_start, .n_query = 1};
    if ((rc = cairn__s3_run(c, &start, 1)) || (rc = start.rc)) {
        cairn__s3_request_reset(&start, 1);
        return rc;
    }
    char upload_id[512];
    size_t from = 0;
    bool ok = start.data && cairn__s3_xml_take((const char *)start.data, start.len, &from, "UploadId", upload_id,
                                     sizeof(upload_id));
    cairn__s3_request_reset(&start, 1);
    if (!ok)
        return cairn__fail(CAIRN_TIER, "s3: starting a multipart upload of %s/%s at %s gave no upload id",
                           cairn__s3_bucket(c), key, cairn__s3_endpoint(c));

    size_t n_parts = (len + part_size - 1) / part_size;
    cairn_s3_request *parts = cairn__calloc(n_parts, sizeof(*parts));
    cairn_http_pair(*q)[2] = cairn__calloc(n_parts, sizeof(*q));
    char(*numbers)[24] = cairn__calloc(n_parts, sizeof(*numbers));
    char *complete = NULL;
    if (!parts || !q || !numbers) {
        rc = CAIRN_NOMEM;
        goto abort;
    }
    for (size_t i = 0; i < n_parts; i++) {
        snprintf(numbers[i], sizeof(numbers[i]), "%zu", i + 1);
        q[i][0] = (cairn_http_pair){"partNumber", numbers[i]};
        q[i][1] = (cairn_http_pair){"uploadId", upload_id};
        size_t off = i * part_size;
        parts[i] = (cairn_s3_request){.method = CAIRN_S3_PUT, .key = key, .query = q[i], .n_query = 2,
                                      .body = (const uint8_t *)data + off,
                                      .body_len = len - off < part_size ? len - off : part_size};
    }
    if ((rc = cairn__s3_run(c, parts, n_parts)))
        goto abort;
    for (size_t i = 0; i < n_parts; i++)
        if ((rc = parts[i].rc))
            goto abort;

    /* Complete: the parts and their ETags, in order. */
    size_t cap = 64 + n_parts * 160;
    if (!(complete = cairn__malloc(cap))) {
        rc = CAIRN_NOMEM;
        goto abort;
    }
    size_t w = (size_t)snprintf(complete, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n_parts; i++)
        w += (size_t)snprintf(complete + w, cap - w,
                              "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                              parts[i].etag);
    w += (size_t)snprintf(complete + w, cap - w, "</CompleteMultipartUpload>");
    cairn_http_pair q_done[1] = {{"uploadId", upload_id}};
    cairn_s3_request done = {.method = CAIRN_S3_POST, .key = key, .query = q_done, .n_query = 1,
                             .body = complete, .body_len = w};
    rc = cairn__s3_run(c, &done, 1);
    if (!rc)
        rc = done.rc;
    /* S3 may answer 200 and put an error in the body. */
    if (!rc && done.data && memmem(done.data, done.len, "<Error>", 7))
        rc = cairn__fail(CAIRN_UNAVAILABLE, "s3: completing a multipart upload of %s/%s at %s failed",
                         cairn__s3_bucket(c), key, cairn__s3_endpoint(c));
    cairn__s3_request_reset(&done, 1);
    if (rc)
        goto abort;
    cairn__s3_request_reset(parts, n_parts);
    cairn__free(parts);
    cairn__free(q);
    cairn__free(numbers);
    cairn__free(complete);
    return 0;

abort:
    if (parts)
        cairn__s3_request_reset(parts, n_parts);
    {
        cairn_http_pair q_abort[1] = {{"uploadId", upload_id}};
        cairn_s3_request ab = {.method = CAIRN_S3_DELETE, .key = key, .query = q_abort, .n_query = 1};
        cairn__s3_run(c, &ab, 1); /* best effort; the bucket's lifecycle rule is the backstop */
        cairn__s3_request_reset(&ab, 1);
    }
    cairn__free(parts);
    cairn__free(q);
    cairn__free(numbers);
    cairn__free(complete);
    return rc;
}
