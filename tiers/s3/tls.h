/*
 * tls.h - the S3 client's TLS beyond libcurl's defaults: the CA file that
 * verifies the server's certificate, checked before any request is made,
 * and how a failed verification is told apart and explained.
 *
 * Where the CA file comes from is settings.h's business (spec ca_file,
 * AWS_CA_BUNDLE, the profile's ca_bundle); the client hands it to libcurl
 * as CURLOPT_CAINFO, instead of the system's certificates.
 */
#ifndef CAIRN_S3_TLS_H
#define CAIRN_S3_TLS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "settings.h"

/* Checks that the CA file s->ca_file can be used: it opens for reading, is
 * a regular file and holds at least one PEM certificate ("-----BEGIN
 * CERTIFICATE-----"). Nothing is sent anywhere. Errors: CAIRN_BADSPEC, the
 * detail naming the file, what named it (s->ca_source) and the reason. */
int cairn__s3_ca_file_check(const cairn_s3_settings *s);

/* What a transfer that ended in cc means for TLS. */
typedef enum cairn_s3_tls_failure {
    CAIRN_S3_TLS_NONE = 0,  /* not a TLS verification failure */
    CAIRN_S3_TLS_UNTRUSTED, /* the server's certificate did not verify: no
                               trusted issuer, another host name, expired */
    CAIRN_S3_TLS_CA_FILE,   /* the CA file could not be loaded */
} cairn_s3_tls_failure;

/* Classifies a libcurl result. Either failure is a matter of
 * configuration: retrying cannot heal it. */
cairn_s3_tls_failure cairn__s3_tls_failure(CURLcode cc);

/* Writes into out[cap] what went wrong for a failure f (not NONE), with
 * libcurl's own message curl_msg, which CA certificates were used (s), and
 * how to fix it. Names no secret. */
void cairn__s3_tls_explain(char *out, size_t cap, cairn_s3_tls_failure f, const char *curl_msg,
                           const cairn_s3_settings *s);

#endif /* CAIRN_S3_TLS_H */
