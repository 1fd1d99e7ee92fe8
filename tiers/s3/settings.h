/*
 * settings.h - where an S3 tier's credentials, region and endpoint come
 * from: the spec's options, then the environment, then the shared AWS
 * files, the way the AWS CLI and SDKs read them (docs/tiers.md, "S3
 * credentials and settings", lists the exact order).
 *
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   AWS_REGION, then AWS_DEFAULT_REGION
 *   AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL
 *   AWS_CA_BUNDLE (the CA certificates that verify the server's)
 *   AWS_PROFILE (else "default"), AWS_SHARED_CREDENTIALS_FILE (else
 *   ~/.aws/credentials), AWS_CONFIG_FILE (else ~/.aws/config)
 *
 * A secret never appears in a message, a log line or stats: errors name
 * the profile and the file, never a key's value.
 */
#ifndef CAIRN_S3_SETTINGS_H
#define CAIRN_S3_SETTINGS_H

#include <limits.h>
#include <stdbool.h>

typedef struct cairn_s3_settings {
    /* In: set by the spec's options before resolving ("" = not given);
     * out: every field resolved. */
    char profile[128];      /* spec "profile=" */
    char region[64];        /* spec "region=" */
    char endpoint[512];     /* spec "endpoint=": "http://127.0.0.1:7480" */
    char ca_file[PATH_MAX]; /* spec "ca_file=": a PEM file of CA certificates
                               that verify the server's ("": the system's) */
    /* Out only (never from the spec: a spec is printed in messages). */
    char access_key[128];
    char secret_key[256];
    char session_token[4096]; /* "" when none */
    bool anonymous;           /* no credentials anywhere: requests go unsigned */
    char source[600];         /* where the credentials came from, for messages:
                                 "environment", "/root/.aws/credentials [prod]" */
    char ca_source[600];      /* what named ca_file, for messages: "ca_file in
                                 the spec", "AWS_CA_BUNDLE", "ca_bundle in
                                 /root/.aws/config:7 [profile prod]"; "" when
                                 ca_file is "" */
} cairn_s3_settings;

/* Resolves every field of *s not already set; the out-only fields are
 * always overwritten (settings.c's opening comment gives the order). The
 * region defaults to "us-east-1" and the endpoint to
 * "https://s3.REGION.amazonaws.com" when nothing names them; ca_file stays
 * "" (the system's CA certificates). The CA file is not opened here: the
 * client checks it when it will use it (cairn__s3_ca_file_check). A named
 * profile (spec or AWS_PROFILE) other than "default" that no file holds is
 * an error; missing files are not. On failure the secrets in *s are
 * zeroed. Errors: CAIRN_BADSPEC (the detail names the variable, the file
 * and line, or the profile), CAIRN_NOMEM, -errno reading a file that
 * exists. */
int cairn__s3_settings_resolve(cairn_s3_settings *s);

/* Overwrites the secrets in *s with zeros (before it is freed). */
void cairn__s3_settings_wipe(cairn_s3_settings *s);

#endif /* CAIRN_S3_SETTINGS_H */
