/*
 * test_tier_s3_tls.c - the S3 tier over TLS and with virtual-host
 * addressing, against the fixture's RADOS Gateway (scripts/s3-server.sh
 * run: its HTTPS port, CAIRN_S3_TLS_ENDPOINT, has a certificate signed by
 * a CA made at start, CAIRN_S3_CA_FILE, for localhost, 127.0.0.1 and
 * CAIRN_S3_BUCKET.localhost; radosgw's rgw_dns_name is localhost).
 *
 *  - A certificate the client cannot verify (no CA given; another host
 *    name) fails the open at once: CAIRN_DENIED, one attempt, no retry,
 *    no breaker trip, a detail naming the endpoint, the certificate and
 *    the ways to name a CA, never a secret.
 *  - The CA named by the spec (ca_file=), by AWS_CA_BUNDLE and by the
 *    profile's ca_bundle each carry a short model run (two commits, a
 *    reopen, every blob and the ref read back and compared, over TLS and
 *    over plain HTTP); the spec's beats the variable's, which beats the
 *    profile's. tls_verify=0 needs no CA.
 *  - A CA file that is missing, a directory or holds no certificate is
 *    CAIRN_BADSPEC naming it and what named it, before any request.
 *  - addressing=virtual: the same model run with the bucket in the host
 *    name (BUCKET.localhost), through cairn-netproxy, whose log shows
 *    every request's target without the bucket; and over TLS, where the
 *    certificate must match BUCKET.localhost. An endpoint given as an IP
 *    address is refused for it.
 *
 * The run controls every CA setting: AWS_CA_BUNDLE, AWS_PROFILE and
 * AWS_CONFIG_FILE are cleared or set per case (a machine may export
 * AWS_CA_BUNDLE for its own use).
 */
#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "id.h"
#include "s3_int.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static char bucket[64];
static const char *tls_endpoint; /* https://127.0.0.1:PORT */
static const char *ca_file;      /* the fixture's CA certificate */
static char tls_port[16];
static char tmp[512];            /* this run's scratch folder */
static char config_path[600];

static void make_spec(char *out, size_t cap, const char *name, const char *opts)
{
    snprintf(out, cap, "s3://%s/tls-%s-%ld%s%s", bucket, name, (long)getpid(),
             opts[0] ? "?" : "", opts);
}

/* No CA anywhere but where a case puts one. */
static void clear_ca_settings(void)
{
    unsetenv("AWS_CA_BUNDLE");
    unsetenv("AWS_PROFILE");
    setenv("AWS_CONFIG_FILE", config_path, 1);
    unlink(config_path);
}

/* The last detail names no secret of the fixture's user. */
static void detail_has_no_secret(void)
{
    ASSERT_TRUE(!strstr(cairn_errdetail(), getenv("AWS_SECRET_ACCESS_KEY")));
}

/* ---------------------------------------------------------------- model */

#define MODEL_BLOBS 12

/* Checks that the store under spec holds blobs (all of them) and that
 * heads/main names the last one. */
static void expect_store(const char *spec, const test_blob *blobs)
{
    bool held[MODEL_BLOBS];
    size_t pick[MODEL_BLOBS];
    cairn_id got;
    for (size_t i = 0; i < MODEL_BLOBS; i++) {
        held[i] = true;
        pick[i] = i;
    }
    cairn_tier *r;
    ASSERT_OK(cairn__tier_open(spec, CAIRN_RDONLY, &r));
    ASSERT_OK(cairn__tier_ref_get(r, "heads/main", &got));
    ASSERT_TRUE(cairn__id_eq(&got, &blobs[MODEL_BLOBS - 1].id));
    expect_get(r, blobs, pick, MODEL_BLOBS, held, 0);
    cairn__tier_close(r);
}

/* A short model run with the spec options opts, under a prefix of its own
 * named name: two commits of six blobs each (a pack and a head each), a
 * reopen that reads every blob and the ref back and compares, and the same
 * read through the fixture's plain path-style endpoint, so the objects
 * are where any client looks for them. */
static void model_run(const char *name, const char *opts)
{
    char spec[1400], plain[512];
    test_blob blobs[MODEL_BLOBS];
    cairn_blob cb[MODEL_BLOBS];
    for (size_t i = 0; i < MODEL_BLOBS; i++) {
        blobs[i] = make_blob(7000 + i, 100 + 731 * i);
        cb[i] = as_blob(&blobs[i]);
    }
    make_spec(spec, sizeof(spec), name, opts);
    cairn_tier *w;
    ASSERT_OK(cairn__tier_open(spec, 0, &w));
    ASSERT_OK(cairn__tier_writer_lock(w, true));
    ASSERT_OK(cairn__tier_publish(w, cb, 6, "heads/main", NULL, &blobs[5].id));
    ASSERT_OK(cairn__tier_publish(w, cb + 6, 6, "heads/main", &blobs[5].id,
                                  &blobs[MODEL_BLOBS - 1].id));
    cairn__tier_close(w);
    expect_store(spec, blobs);
    make_spec(plain, sizeof(plain), name, "");
    expect_store(plain, blobs);
    for (size_t i = 0; i < MODEL_BLOBS; i++)
        free(blobs[i].data);
}

/* ---------------------------------------------------------------- refusals */

/* A client of the fixture's bucket at endpoint, as the tier makes it. */
static cairn_s3_client *open_client(const char *endpoint, bool virtual_host)
{
    cairn_s3_client_config cfg = {0};
    cairn_s3_client *c;
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", bucket);
    snprintf(cfg.settings.endpoint, sizeof(cfg.settings.endpoint), "%s", endpoint);
    cfg.retries = -1; /* the default: 6 */
    cfg.tls_verify = true;
    cfg.virtual_host = virtual_host;
    ASSERT_OK(cairn__s3_settings_resolve(&cfg.settings));
    ASSERT_OK(cairn__s3_client_open(&cfg, &c));
    return c;
}

/* Opening spec fails with the certificate refused: at once (the client
 * says "after retries" when it retried), naming the endpoint, the cause
 * and the remedies. */
static void expect_refused_open(const char *spec, const char *endpoint, const char *cause)
{
    cairn_tier *t;
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_DENIED);
    ASSERT_DETAIL(endpoint);
    ASSERT_DETAIL("certificate did not verify");
    ASSERT_DETAIL(cause);
    ASSERT_DETAIL("ca_file=PATH");
    ASSERT_DETAIL("AWS_CA_BUNDLE");
    ASSERT_DETAIL("ca_bundle");
    ASSERT_DETAIL("tls_verify=0");
    ASSERT_TRUE(!strstr(cairn_errdetail(), "after retries"));
    detail_has_no_secret();
}

/* Requests to a server whose certificate does not verify: each is refused
 * after one attempt, and many in a row do not trip the breaker (it is for
 * a service that does not answer; this one answers, with a certificate
 * we refuse). */
static void expect_refused_requests(const char *endpoint)
{
    cairn_s3_client *c = open_client(endpoint, false);
    const cairn_s3_counters *n = cairn__s3_counters(c);
    for (int i = 0; i < 5; i++) {
        cairn_s3_request r = {.method = CAIRN_S3_GET, .key = "any"};
        ASSERT_OK(cairn__s3_run(c, &r, 1));
        ASSERT_RC(r.rc, CAIRN_DENIED);
        ASSERT_EQ(r.attempts, 1);
        ASSERT_EQ(r.status, 0);
        ASSERT_DETAIL("certificate did not verify");
        cairn__s3_request_reset(&r, 1);
    }
    ASSERT_EQ(atomic_load(&n->requests[CAIRN_S3_GET]), 5);
    ASSERT_EQ(atomic_load(&n->retries), 0);
    ASSERT_EQ(atomic_load(&n->breaker_trips), 0);
    cairn__s3_client_close(c);
}

static void test_untrusted(void)
{
    char spec[1400], opts[1024], endpoint[128];
    clear_ca_settings();
    /* No CA named: the system's certificates do not know the fixture's. */
    snprintf(opts, sizeof(opts), "endpoint=%s", tls_endpoint);
    make_spec(spec, sizeof(spec), "untrusted", opts);
    expect_refused_open(spec, tls_endpoint, "libcurl's default CA certificates");
    expect_refused_requests(tls_endpoint);
    /* The right CA, another host name: the certificate is not for it. */
    snprintf(endpoint, sizeof(endpoint), "https://other.localhost:%s", tls_port);
    snprintf(opts, sizeof(opts), "endpoint=%s&ca_file=%s", endpoint, ca_file);
    make_spec(spec, sizeof(spec), "untrusted", opts);
    expect_refused_open(spec, endpoint, "host name 'other.localhost'"); /* curl's words */
    ASSERT_DETAIL(ca_file);
    ASSERT_DETAIL("ca_file in the spec");
    printf("untrusted: no CA and a wrong host name refused at once, once, no breaker trip\n");
}

/* ---------------------------------------------------------------- CA sources */

static void test_ca_sources(void)
{
    char opts[1024], text[1024];
    clear_ca_settings();
    /* The spec's ca_file. */
    snprintf(opts, sizeof(opts), "endpoint=%s&ca_file=%s", tls_endpoint, ca_file);
    model_run("spec", opts);
    /* AWS_CA_BUNDLE. */
    snprintf(opts, sizeof(opts), "endpoint=%s", tls_endpoint);
    setenv("AWS_CA_BUNDLE", ca_file, 1);
    model_run("env", opts);
    /* The profile's ca_bundle in the config file (the credentials stay
     * those of the environment: AWS_PROFILE is not the spec's profile). */
    clear_ca_settings();
    snprintf(text, sizeof(text), "[profile cairn-tls]\nca_bundle = %s\n", ca_file);
    test_write_text(config_path, text);
    setenv("AWS_PROFILE", "cairn-tls", 1);
    model_run("profile", opts);
    /* tls_verify=0: no CA needed, none checked. */
    clear_ca_settings();
    snprintf(opts, sizeof(opts), "endpoint=%s&tls_verify=0&ca_file=%s/missing.pem",
             tls_endpoint, tmp);
    model_run("noverify", opts);
    printf("CA sources: ca_file, AWS_CA_BUNDLE, the profile's ca_bundle, tls_verify=0\n");
}

/* Which CA wins: the spec's over AWS_CA_BUNDLE's over the profile's. The
 * loser is a real bundle without the fixture's CA (the system's), so
 * using it would fail. */
static void test_ca_precedence(void)
{
    const char *other = "/etc/ssl/certs/ca-certificates.crt";
    char spec[1400], opts[1024], text[1024];
    cairn_tier *t;
    if (access(other, R_OK)) {
        printf("CA precedence: skipped (no system bundle at %s to lose with)\n", other);
        return;
    }
    clear_ca_settings();
    snprintf(text, sizeof(text), "[default]\nca_bundle = %s\n", other);
    test_write_text(config_path, text);
    snprintf(opts, sizeof(opts), "endpoint=%s", tls_endpoint);
    make_spec(spec, sizeof(spec), "precedence", opts);
    expect_refused_open(spec, tls_endpoint, "ca_bundle in");
    ASSERT_DETAIL(config_path);
    setenv("AWS_CA_BUNDLE", ca_file, 1); /* beats the profile's */
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    cairn__tier_close(t);
    setenv("AWS_CA_BUNDLE", other, 1);
    expect_refused_open(spec, tls_endpoint, "named by AWS_CA_BUNDLE");
    snprintf(opts, sizeof(opts), "endpoint=%s&ca_file=%s", tls_endpoint, ca_file);
    make_spec(spec, sizeof(spec), "precedence", opts); /* beats both */
    ASSERT_OK(cairn__tier_open(spec, 0, &t));
    cairn__tier_close(t);
    clear_ca_settings();
    printf("CA precedence: spec over AWS_CA_BUNDLE over the profile's ca_bundle\n");
}

/* ---------------------------------------------------------------- bad CA files */

/* Opening with the CA file named as set up fails before any request: the
 * endpoint is a port where nothing listens, so a request would have made
 * it CAIRN_UNAVAILABLE. */
static void expect_bad_ca(const char *opts, const char *path, const char *named_by,
                          const char *why)
{
    char spec[1400];
    cairn_tier *t;
    make_spec(spec, sizeof(spec), "badca", opts);
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL(path);
    ASSERT_DETAIL(named_by);
    ASSERT_DETAIL(why);
    detail_has_no_secret();
}

static void test_bad_ca_files(void)
{
    const char *nowhere = "https://127.0.0.1:1";
    char opts[1024], missing[600], not_pem[600];
    char text[1024];
    snprintf(missing, sizeof(missing), "%s/no-such-ca.pem", tmp);
    snprintf(not_pem, sizeof(not_pem), "%s/not-a-ca.pem", tmp);
    test_write_text(not_pem, "not a certificate\n");
    clear_ca_settings();

    snprintf(opts, sizeof(opts), "endpoint=%s&retries=0&ca_file=%s", nowhere, missing);
    expect_bad_ca(opts, missing, "ca_file in the spec", "No such file");
    snprintf(opts, sizeof(opts), "endpoint=%s&retries=0&ca_file=%s", nowhere, tmp);
    expect_bad_ca(opts, tmp, "ca_file in the spec", "not a file");
    snprintf(opts, sizeof(opts), "endpoint=%s&retries=0&ca_file=%s", nowhere, not_pem);
    expect_bad_ca(opts, not_pem, "ca_file in the spec", "no PEM certificate");

    snprintf(opts, sizeof(opts), "endpoint=%s&retries=0", nowhere);
    setenv("AWS_CA_BUNDLE", missing, 1);
    expect_bad_ca(opts, missing, "named by AWS_CA_BUNDLE", "No such file");
    clear_ca_settings();
    snprintf(text, sizeof(text), "[profile cairn-tls]\nregion = us-east-1\nca_bundle = %s\n",
             missing);
    test_write_text(config_path, text);
    setenv("AWS_PROFILE", "cairn-tls", 1);
    char where[1024];
    snprintf(where, sizeof(where), "ca_bundle in %s:3 [profile cairn-tls]", config_path);
    expect_bad_ca(opts, missing, where, "No such file");
    clear_ca_settings();

    /* With the real endpoint the same refusal comes before a request is
     * made: the client is never created. */
    cairn_s3_client_config cfg = {0};
    cairn_s3_client *c = (cairn_s3_client *)1;
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", bucket);
    snprintf(cfg.settings.endpoint, sizeof(cfg.settings.endpoint), "%s", tls_endpoint);
    snprintf(cfg.settings.ca_file, sizeof(cfg.settings.ca_file), "%s", missing);
    cfg.tls_verify = true;
    ASSERT_OK(cairn__s3_settings_resolve(&cfg.settings));
    ASSERT_RC(cairn__s3_client_open(&cfg, &c), CAIRN_BADSPEC);
    ASSERT_TRUE(c == NULL);
    printf("bad CA files: missing, a folder, not PEM; from spec, environment, profile\n");
}

/* ---------------------------------------------------------------- virtual host */

static int count_key(void *ctx, const char *key, uint64_t size)
{
    (void)key;
    (void)size;
    ++*(size_t *)ctx;
    return 0;
}

/* Every request line of the proxy's log (START END METHOD TARGET RANGE
 * STATUS) has a target without the bucket: "/tls-vhost-PID/..." or
 * "/?list-type=2...", never "/BUCKET/...". Returns how many there are. */
static size_t virtual_host_targets(const char *log, const char *prefix)
{
    char line[4096], method[16], target[2048], bucket_path[80];
    size_t n = 0;
    FILE *f = fopen(log, "r");
    if (!f)
        TEST_FAIL("no proxy log %s", log);
    snprintf(bucket_path, sizeof(bucket_path), "/%s", bucket);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%*s %*s %15s %2047s", method, target) != 2)
            TEST_FAIL("proxy log line: %s", line);
        if (!strncmp(target, bucket_path, strlen(bucket_path)) ||
            (strncmp(target, prefix, strlen(prefix)) && strncmp(target, "/?", 2)))
            TEST_FAIL("not a virtual-host target: %s", line);
        n++;
    }
    fclose(f);
    return n;
}

/* libcurl resolves *.localhost to loopback by itself from 7.85 on (RFC
 * 6761); before, BUCKET.localhost would need /etc/hosts, which a test may
 * not edit. */
static bool resolves_localhost_names(void)
{
    return curl_version_info(CURLVERSION_NOW)->version_num >= 0x075500;
}

static void test_virtual_host(void)
{
    char endpoint[64], opts[1024], log[600], prefix[64], spec[1400];
    char port[16];
    cairn_tier *t;
    /* An endpoint given as an address has no name to put the bucket in. */
    make_spec(spec, sizeof(spec), "vhost-ip", "endpoint=http://127.0.0.1:1&addressing=virtual");
    ASSERT_RC(cairn__tier_open(spec, 0, &t), CAIRN_BADSPEC);
    ASSERT_DETAIL("addressing=virtual");
    ASSERT_DETAIL("http://127.0.0.1:1");
    if (!resolves_localhost_names()) {
        printf("virtual host: skipped (libcurl %s resolves no *.localhost name)\n",
               curl_version_info(CURLVERSION_NOW)->version);
        return;
    }
    clear_ca_settings();
    snprintf(log, sizeof(log), "%s/vhost.log", tmp);
    test_proxy_start((const char *const[]){"--log", log, NULL}, endpoint, sizeof(endpoint));
    snprintf(port, sizeof(port), "%s", strrchr(endpoint, ':') + 1);
    snprintf(endpoint, sizeof(endpoint), "http://localhost:%s", port);
    snprintf(opts, sizeof(opts), "endpoint=%s&addressing=virtual", endpoint);
    model_run("vhost", opts);
    /* A bucket-level request (a listing): the path is "/" alone. */
    snprintf(prefix, sizeof(prefix), "tls-vhost-%ld/", (long)getpid());
    cairn_s3_client *c = open_client(endpoint, true);
    size_t listed = 0;
    ASSERT_OK(cairn__s3_list(c, prefix, count_key, &listed));
    ASSERT_TRUE(listed >= 3); /* format, head, packs */
    cairn__s3_client_close(c);
    test_proxy_stop();
    snprintf(prefix, sizeof(prefix), "/tls-vhost-%ld/", (long)getpid());
    size_t n = virtual_host_targets(log, prefix);
    ASSERT_TRUE(n >= 6);

    /* Over TLS: the certificate names BUCKET.localhost. */
    snprintf(opts, sizeof(opts), "endpoint=https://localhost:%s&addressing=virtual&ca_file=%s",
             tls_port, ca_file);
    model_run("vhost-tls", opts);
    printf("virtual host: %zu requests to %s.localhost, none naming the bucket in the path; "
           "over TLS too\n", n, bucket);
}

int main(void)
{
    test_seed_init(1);
    const char *b = test_s3_bucket();
    tls_endpoint = getenv("CAIRN_S3_TLS_ENDPOINT");
    ca_file = getenv("CAIRN_S3_CA_FILE");
    if (!tls_endpoint || !ca_file || !strrchr(tls_endpoint, ':'))
        TEST_FAIL("the fixture set no CAIRN_S3_TLS_ENDPOINT or CAIRN_S3_CA_FILE");
    snprintf(bucket, sizeof(bucket), "%s", b);
    snprintf(tls_port, sizeof(tls_port), "%s", strrchr(tls_endpoint, ':') + 1);
    snprintf(tmp, sizeof(tmp), "%s", test_tmpdir());
    if (mkdir(tmp, 0700))
        TEST_FAIL("mkdir %s", tmp);
    snprintf(config_path, sizeof(config_path), "%s/aws-config", tmp);
    test_untrusted();
    test_ca_sources();
    test_ca_precedence();
    test_bad_ca_files();
    test_virtual_host();
    return 0;
}
