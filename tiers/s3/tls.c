/*
 * tls.c - the CA file check and the TLS failure messages of the S3 client
 * (tls.h has the contract).
 *
 * Why check the CA file ourselves: libcurl reads it only when a connection
 * is made, and then reports a missing file, a directory and a file of
 * something else alike ("error setting certificate file"), in the middle
 * of the first request. Checked at open, a wrong path is refused before
 * any request, naming the file and what named it.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Ends every PEM certificate header: "-----BEGIN CERTIFICATE-----", also
 * "TRUSTED CERTIFICATE" and "X509 CERTIFICATE", which OpenSSL reads too. */
#define PEM_CERT_MARK "CERTIFICATE-----"

/* Whether the open file fd holds PEM_CERT_MARK; -errno if reading fails.
 * Reads in blocks, keeping the tail of each so that a mark across two is
 * found. */
static int holds_pem_certificate(int fd)
{
    char buf[65536];
    size_t mark_len = strlen(PEM_CERT_MARK), kept = 0;

    for (;;) {
        ssize_t n = read(fd, buf + kept, sizeof(buf) - kept);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        size_t len = kept + (size_t)n;
        if (memmem(buf, len, PEM_CERT_MARK, mark_len))
            return 1;
        kept = len < mark_len - 1 ? len : mark_len - 1;
        memmove(buf, buf + len - kept, kept);
    }
}

int cairn__s3_ca_file_check(const cairn_s3_settings *s)
{
    const char *path = s->ca_file;
    struct stat st;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return cairn__fail(CAIRN_BADSPEC, "s3: the CA file '%s' (named by %s) cannot be read: %s",
                           path, s->ca_source, strerror(errno));
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return cairn__fail(CAIRN_BADSPEC, "s3: the CA file '%s' (named by %s) is not a file "
                           "(want a PEM file of CA certificates)", path, s->ca_source);
    }
    rc = holds_pem_certificate(fd);
    close(fd);
    if (rc < 0)
        return cairn__fail(CAIRN_BADSPEC, "s3: the CA file '%s' (named by %s) cannot be read: %s",
                           path, s->ca_source, strerror(-rc));
    if (rc == 0)
        return cairn__fail(CAIRN_BADSPEC, "s3: the CA file '%s' (named by %s) holds no PEM "
                           "certificate (-----BEGIN CERTIFICATE-----)", path, s->ca_source);
    return 0;
}

cairn_s3_tls_failure cairn__s3_tls_failure(CURLcode cc)
{
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION: /* since 7.62 also "CA not trusted" */
        return CAIRN_S3_TLS_UNTRUSTED;
    case CURLE_SSL_CACERT_BADFILE:
        return CAIRN_S3_TLS_CA_FILE;
    default:
        return CAIRN_S3_TLS_NONE;
    }
}

void cairn__s3_tls_explain(char *out, size_t cap, cairn_s3_tls_failure f, const char *curl_msg,
                           const cairn_s3_settings *s)
{
    char checked[800];

    if (s->ca_file[0])
        snprintf(checked, sizeof(checked), "the CA file '%.300s' (named by %.400s)", s->ca_file,
                 s->ca_source);
    else
        snprintf(checked, sizeof(checked), "libcurl's default CA certificates (the system's)");
    if (f == CAIRN_S3_TLS_CA_FILE) {
        snprintf(out, cap, "TLS: %s could not be loaded (%.200s)", checked, curl_msg);
        return;
    }
    snprintf(out, cap,
             "TLS: the server's certificate did not verify against %s (%.200s); "
             "if a private CA signed it, name that CA's certificate with ca_file=PATH in the "
             "spec, AWS_CA_BUNDLE or ca_bundle in the profile's AWS config file "
             "(tls_verify=0 turns verification off: for a test server only)",
             checked, curl_msg);
}
