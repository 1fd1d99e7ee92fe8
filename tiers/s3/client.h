/*
 * client.h - a small S3 client on libcurl's multi interface: many requests
 * in flight over reused connections, SigV4-signed (sigv4.h), with retries
 * and a circuit breaker. The S3 tier (s3.c) is its only user.
 *
 * Threads. A client may be used from several threads at once. Each call to
 * cairn__s3_run borrows one "session" (a curl multi handle and its easy
 * handles, which keep their connections open) from a bounded pool and
 * returns it afterwards; a call finding every session busy waits for one.
 * So connections are reused across calls, and their number is bounded by
 * sessions x inflight.
 *
 * Outcomes. A request ends with rc:
 *   0                 2xx, or 304 Not Modified (status says which)
 *   CAIRN_NOTFOUND    404 (error_code: NoSuchKey, NoSuchBucket, ...)
 *   CAIRN_CONFLICT    412 Precondition Failed
 *   CAIRN_DENIED      401/403 (InvalidAccessKeyId, SignatureDoesNotMatch,
 *                     AccessDenied, ...) and 400 XAmzContentSHA256Mismatch;
 *                     and, with status 0, a server certificate that did not
 *                     verify (no trusted issuer, another host name): never
 *                     retried, they do not heal (tls.h explains the last)
 *   CAIRN_BADSPEC     libcurl could not load the CA file (checked at open:
 *                     it changed since)
 *   CAIRN_UNAVAILABLE retries exhausted on timeouts, dropped connections,
 *                     500/502/503/504/SlowDown, or the circuit is open
 *   CAIRN_TIER        any other status (the detail has status and code)
 *   CAIRN_NOMEM
 * Retried (with exponential backoff and full jitter): transport errors
 * (a failed TLS handshake among them: a reset can cause one),
 * 409 (a conditional write racing another, OperationAborted), 500, 502,
 * 503, 504. A request that was retried after a failure whose effect is
 * unknown (a timeout or a dropped connection after the request was sent,
 * or a 5xx) has ambiguous set: for a conditional PUT, its final 412 may be
 * the echo of its own earlier success (the tier tells by its nonce).
 *
 * Circuit breaker. After breaker_threshold requests in a row have
 * exhausted their retries (a refused certificate is not one: the service
 * answered), the client fails every request at once with
 * CAIRN_UNAVAILABLE for a cool-down (1 s, doubling to 30 s); the first
 * request after it is a probe: its success closes the circuit.
 *
 * Secrets never appear in a message: details name the method, bucket, key,
 * endpoint, status and S3 error code.
 */
#ifndef CAIRN_S3_CLIENT_H
#define CAIRN_S3_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"
#include "sigv4.h"

typedef struct cairn_s3_client cairn_s3_client;

typedef struct cairn_s3_client_config {
    char bucket[64];
    cairn_s3_settings settings; /* resolved: endpoint, region, credentials */
    bool virtual_host;          /* bucket.host addressing, else /bucket/key */
    bool tls_verify;            /* verify the server's certificate (default),
                                   with settings.ca_file if it names one */
    unsigned sessions;          /* calls in flight at once (threads); 0: 8 */
    unsigned inflight;          /* requests in flight per call; 0: 32 */
    unsigned timeout_ms;        /* connect and per-request idle bound; 0: 10000 */
    int retries;                /* attempts after the first; < 0: 6 */
    unsigned backoff_ms;        /* first backoff ceiling; 0: 50 */
    unsigned backoff_max_ms;    /* 0: 5000 */
    unsigned breaker_threshold; /* 0: 3 */
} cairn_s3_client_config;

typedef enum cairn_s3_method {
    CAIRN_S3_GET = 1,
    CAIRN_S3_PUT,
    CAIRN_S3_HEAD,
    CAIRN_S3_DELETE,
    CAIRN_S3_POST,
} cairn_s3_method;

#define CAIRN_S3_SUFFIX UINT64_MAX /* range_from: the last range_len bytes */

typedef struct cairn_s3_request {
    /* In. */
    cairn_s3_method method;
    const char *key;              /* object key, unencoded; NULL: the bucket */
    const cairn_http_pair *query; /* unencoded */
    size_t n_query;
    const void *body;             /* PUT/POST payload (borrowed) */
    size_t body_len;
    const char *if_match;         /* an ETag (sent unquoted: RGW wants that) */
    const char *if_none_match;    /* "*" or an ETag */
    uint64_t range_from;          /* with range_len > 0: bytes [from, from+len),
                                     or CAIRN_S3_SUFFIX: the last range_len */
    uint64_t range_len;           /* 0: the whole object */
    size_t max_response;          /* bound on the body accepted; 0: 64 MiB */
    /* Out. */
    int rc;
    long status;                  /* the last HTTP status, 0 if none */
    bool ambiguous;               /* an earlier attempt may have taken effect */
    unsigned attempts;
    char etag[80];                /* unquoted */
    uint64_t object_size;         /* the whole object's size (Content-Range or
                                     Content-Length), when known */
    uint8_t *data;                /* the response body (cairn__malloc; the
                                     caller frees it), NULL if empty */
    size_t len;
    char error_code[64];          /* S3's <Code>, "" if none */
} cairn_s3_request;

/* Counters, read with atomic loads (stats). */
typedef struct cairn_s3_counters {
    _Atomic uint64_t requests[6]; /* by cairn_s3_method, [0] unused */
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t errors;      /* requests that ended in an error rc
                                     other than NOTFOUND/CONFLICT */
    _Atomic uint64_t retries;
    _Atomic uint64_t breaker_trips;
    _Atomic uint64_t latency_us[32]; /* histogram: [i] counts latencies in
                                        [2^i, 2^(i+1)) microseconds */
} cairn_s3_counters;

/* Creates a client (no request is made). The config is copied. OUT: *out.
 * With an https endpoint and tls_verify, the CA file settings name (if
 * any) is checked here, and used for every request instead of the
 * system's CA certificates.
 * Errors: CAIRN_BADSPEC (an endpoint that is not http(s)://host[:port];
 * virtual_host with an endpoint given as an IP address; a CA file that is
 * missing, unreadable, not a file or holds no PEM certificate, the detail
 * naming it and what named it), CAIRN_NOMEM, CAIRN_TIER (libcurl failed to
 * start). */
int cairn__s3_client_open(const cairn_s3_client_config *cfg, cairn_s3_client **out);

/* Frees the client; every call must have returned. Wipes the secrets.
 * Accepts NULL. */
void cairn__s3_client_close(cairn_s3_client *c);

/* Runs n requests, up to cfg.inflight at once, and fills each one's out
 * fields. Returns 0 when every request has an outcome (look at each rc),
 * CAIRN_NOMEM if the call itself could not run. The thread's error detail
 * is set from the first request that failed (not NOTFOUND/CONFLICT). */
int cairn__s3_run(cairn_s3_client *c, cairn_s3_request *reqs, size_t n);

/* Frees the response bodies of n requests and clears their out fields, so
 * the requests can be run again. */
void cairn__s3_request_reset(cairn_s3_request *reqs, size_t n);

/* Lists the keys under prefix (ListObjectsV2, following continuation
 * tokens), calling fn(ctx, key, size) for each in key order; fn returns 0
 * to go on, anything else stops the listing and is returned. */
int cairn__s3_list(cairn_s3_client *c, const char *prefix,
                   int (*fn)(void *ctx, const char *key, uint64_t size), void *ctx);

/* Uploads len bytes as key, in parts of part_size bytes (multipart upload,
 * parts in flight at once) when len > part_size, else as one PUT. A failed
 * multipart upload is aborted. Errors: as the requests'. */
int cairn__s3_put_large(cairn_s3_client *c, const char *key, const void *data, size_t len,
                        size_t part_size);

/* Copies the text between the first <tag> and </tag> at or after *from
 * (which then moves past it) into out (cap bytes), XML's five entities
 * decoded. Returns false when there is none or it does not fit. */
bool cairn__s3_xml_take(const char *xml, size_t len, size_t *from, const char *tag, char *out,
                        size_t cap);

/* The client's counters (live, owned by the client). */
const cairn_s3_counters *cairn__s3_counters(const cairn_s3_client *c);

/* "http://127.0.0.1:7480", "bucket": for messages. */
const char *cairn__s3_endpoint(const cairn_s3_client *c);
const char *cairn__s3_bucket(const cairn_s3_client *c);

#endif /* CAIRN_S3_CLIENT_H */
