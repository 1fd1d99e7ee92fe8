/*
 * test_s3_settings.c - credential, region and endpoint resolution for the
 * S3 tier (tiers/s3/settings.h) in a temporary HOME with its own
 * ~/.aws files, the environment set per case: every precedence rule, the
 * file sections of both files, missing files, unknown profiles, half
 * credentials, malformed and too-long lines (named by file:line), session
 * tokens, anonymous access, random garbage files, the CA file's
 * precedence (spec, AWS_CA_BUNDLE, the profile's ca_bundle) and what the
 * detail says named it, and never a secret in an error detail.
 *
 * Every secret and token below contains "sEcReT" or "tOkEn": check()
 * fails on any detail that contains either.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "settings.h"
#include "test.h"

static char home[2048], aws_dir[2100], cred_path[2200], config_path[2200];

static const char *const vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_CA_BUNDLE",
};

/* A clean slate: no AWS variable, HOME set, no ~/.aws files. */
static void reset(void)
{
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("HOME", home, 1);
    unlink(cred_path);
    unlink(config_path);
}

static void detail_has_no_secret(void)
{
    const char *d = cairn_errdetail();

    if (strstr(d, "sEcReT") || strstr(d, "tOkEn"))
        TEST_FAIL("detail quotes a secret: %s", d);
}

/* Resolves with the given spec options (NULL: not given); checks the
 * detail for secrets whatever the outcome. */
static int resolve(cairn_s3_settings *s, const char *profile, const char *region,
                   const char *endpoint)
{
    int rc;

    memset(s, 0, sizeof(*s));
    snprintf(s->profile, sizeof(s->profile), "%s", profile ? profile : "");
    snprintf(s->region, sizeof(s->region), "%s", region ? region : "");
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint ? endpoint : "");
    cairn__detail_clear();
    rc = cairn__s3_settings_resolve(s);
    detail_has_no_secret();
    if (rc) {
        /* A failure leaves no secret behind either. */
        ASSERT_TRUE(!s->access_key[0] && !s->secret_key[0] && !s->session_token[0]);
        ASSERT_TRUE(!strstr(s->source, "sEcReT"));
    }
    return rc;
}

/* The detail reads path:line. */
static void assert_detail_at(const char *path, int line)
{
    char where[4200];

    snprintf(where, sizeof(where), "%s:%d", path, line);
    ASSERT_DETAIL(where);
}

static void expect_keys(const cairn_s3_settings *s, const char *access, const char *secret,
                        const char *token)
{
    if (strcmp(s->access_key, access) || strcmp(s->secret_key, secret) ||
        strcmp(s->session_token, token) || s->anonymous)
        TEST_FAIL("credentials are '%s' (token '%s', anonymous %d, source '%s'), want '%s' "
                  "(token '%s')",
                  s->access_key, s->session_token, s->anonymous, s->source, access, token);
}

static void expect_str(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want))
        TEST_FAIL("%s is '%s', want '%s'", what, got, want);
}

/* ---------------------------------------------------------------- cases */

static const char default_cred[] = "[default]\n"
                                   "aws_access_key_id = AKIDFILEDEFAULT\n"
                                   "aws_secret_access_key = file-default-sEcReT\n"
                                   "\n"
                                   "[prod]\n"
                                   "aws_access_key_id=AKIDFILEPROD\n"
                                   "aws_secret_access_key=file-prod-sEcReT\n"
                                   "aws_session_token=file-prod-tOkEn\n";

static const char default_config[] = "[default]\n"
                                     "region = eu-west-1\n"
                                     "[profile prod]\n"
                                     "region = ap-south-1\n"
                                     "endpoint_url = http://127.0.0.1:7480\n";

static void test_anonymous(void)
{
    cairn_s3_settings s;

    reset();
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    ASSERT_TRUE(!s.access_key[0] && !s.secret_key[0] && !s.session_token[0]);
    expect_str("profile", s.profile, "default");
    expect_str("region", s.region, "us-east-1");
    expect_str("endpoint", s.endpoint, "https://s3.us-east-1.amazonaws.com");
    ASSERT_TRUE(strstr(s.source, "anonymous") != NULL);

    /* No HOME at all, files named by variables that do not exist. */
    unsetenv("HOME");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    /* Files without the default profile: still anonymous. */
    reset();
    test_write_text(cred_path, "[other]\naws_access_key_id = A\naws_secret_access_key = sEcReT\n");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    /* An empty variable counts as unset. */
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    setenv("AWS_PROFILE", "", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
}

static void test_files(void)
{
    cairn_s3_settings s;
    char want[4200];

    /* The default profile from the credentials file, region from config. */
    reset();
    test_write_text(cred_path, default_cred);
    test_write_text(config_path, default_config);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDFILEDEFAULT", "file-default-sEcReT", "");
    snprintf(want, sizeof(want), "%s [default]", cred_path);
    expect_str("source", s.source, want);
    expect_str("region", s.region, "eu-west-1");
    expect_str("endpoint", s.endpoint, "https://s3.eu-west-1.amazonaws.com");

    /* AWS_PROFILE: its keys, its session token, its region and endpoint. */
    setenv("AWS_PROFILE", "prod", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDFILEPROD", "file-prod-sEcReT", "file-prod-tOkEn");
    expect_str("profile", s.profile, "prod");
    expect_str("region", s.region, "ap-south-1");
    expect_str("endpoint", s.endpoint, "http://127.0.0.1:7480");

    /* The spec's profile wins over AWS_PROFILE. */
    ASSERT_OK(resolve(&s, "default", NULL, NULL));
    expect_keys(&s, "AKIDFILEDEFAULT", "file-default-sEcReT", "");
    expect_str("region", s.region, "eu-west-1");

    /* Credentials in the config file, used when the credentials file has
     * none for the profile; the credentials file wins when both do. */
    reset();
    test_write_text(config_path, "[profile cfg]\n"
                            "aws_access_key_id = AKIDCONFIG\n"
                            "aws_secret_access_key = config-sEcReT\n"
                            "aws_session_token = config-tOkEn\n"
                            "[default]\n"
                            "aws_access_key_id = AKIDCONFIGDEFAULT\n"
                            "aws_secret_access_key = config-default-sEcReT\n");
    ASSERT_OK(resolve(&s, "cfg", NULL, NULL));
    expect_keys(&s, "AKIDCONFIG", "config-sEcReT", "config-tOkEn");
    snprintf(want, sizeof(want), "%s [profile cfg]", config_path);
    expect_str("source", s.source, want);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDCONFIGDEFAULT", "config-default-sEcReT", "");
    test_write_text(cred_path, default_cred);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDFILEDEFAULT", "file-default-sEcReT", "");

    /* The files the variables name, "~/" expanded, over HOME's. */
    reset();
    char alt_cred[4200], alt_config[4200];
    snprintf(alt_cred, sizeof(alt_cred), "%s/alt-credentials", home);
    snprintf(alt_config, sizeof(alt_config), "%s/alt-config", home);
    test_write_text(cred_path, default_cred);
    test_write_text(alt_cred, "[default]\naws_access_key_id=AKIDALT\naws_secret_access_key=alt-sEcReT\n");
    test_write_text(alt_config, "[default]\nregion=sa-east-1\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", alt_cred, 1);
    setenv("AWS_CONFIG_FILE", "~/alt-config", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDALT", "alt-sEcReT", "");
    expect_str("region", s.region, "sa-east-1");
    unlink(alt_cred);
    unlink(alt_config);

    /* Region and endpoint_url in the credentials file are not read (the
     * CLI reads them from the config file only); "[prod]" in the config
     * file is not profile prod. */
    reset();
    test_write_text(cred_path, "[default]\nregion = ca-central-1\nendpoint_url = http://x\n");
    test_write_text(config_path, "[prod]\nregion = us-west-2\n");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_str("region", s.region, "us-east-1");
    expect_str("endpoint", s.endpoint, "https://s3.us-east-1.amazonaws.com");
    ASSERT_RC(resolve(&s, "prod", NULL, NULL), CAIRN_BADSPEC);
}

static void test_environment(void)
{
    cairn_s3_settings s;

    reset();
    test_write_text(cred_path, default_cred);
    test_write_text(config_path, default_config);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-sEcReT", 1);

    /* The environment wins over the default profile... */
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDENV", "env-sEcReT", "");
    expect_str("source", s.source, "environment");
    setenv("AWS_SESSION_TOKEN", "env-tOkEn", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDENV", "env-sEcReT", "env-tOkEn");

    /* ... and over AWS_PROFILE's keys, though that profile still gives the
     * region and endpoint. */
    setenv("AWS_PROFILE", "prod", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDENV", "env-sEcReT", "env-tOkEn");
    expect_str("region", s.region, "ap-south-1");
    expect_str("endpoint", s.endpoint, "http://127.0.0.1:7480");

    /* A profile the spec names takes its keys from the files (the CLI's
     * --profile); no session token leaks in from the environment. */
    ASSERT_OK(resolve(&s, "default", NULL, NULL));
    expect_keys(&s, "AKIDFILEDEFAULT", "file-default-sEcReT", "");
    ASSERT_OK(resolve(&s, "prod", NULL, NULL));
    expect_keys(&s, "AKIDFILEPROD", "file-prod-sEcReT", "file-prod-tOkEn");
    /* ... and if it has none, requests are anonymous, not the env's. */
    test_write_text(config_path, "[profile nokeys]\nregion = eu-north-1\n");
    ASSERT_OK(resolve(&s, "nokeys", NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    ASSERT_TRUE(!s.access_key[0] && !s.secret_key[0] && !s.session_token[0]);
    expect_str("region", s.region, "eu-north-1");
}

static void test_region_endpoint(void)
{
    cairn_s3_settings s;

    reset();
    test_write_text(config_path, default_config);
    setenv("AWS_REGION", "env-region", 1);
    setenv("AWS_DEFAULT_REGION", "env-default-region", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3-env", 1);
    setenv("AWS_ENDPOINT_URL", "http://any-env", 1);

    ASSERT_OK(resolve(&s, NULL, "spec-region", "http://spec"));
    expect_str("region", s.region, "spec-region");
    expect_str("endpoint", s.endpoint, "http://spec");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_str("region", s.region, "env-region");
    expect_str("endpoint", s.endpoint, "http://s3-env");
    unsetenv("AWS_REGION");
    unsetenv("AWS_ENDPOINT_URL_S3");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_str("region", s.region, "env-default-region");
    expect_str("endpoint", s.endpoint, "http://any-env");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    ASSERT_OK(resolve(&s, "prod", NULL, NULL));
    expect_str("region", s.region, "ap-south-1");
    expect_str("endpoint", s.endpoint, "http://127.0.0.1:7480");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_str("region", s.region, "eu-west-1");
    expect_str("endpoint", s.endpoint, "https://s3.eu-west-1.amazonaws.com");
    /* The default endpoint follows the region, whichever source gave it. */
    ASSERT_OK(resolve(&s, NULL, "me-south-1", NULL));
    expect_str("endpoint", s.endpoint, "https://s3.me-south-1.amazonaws.com");
    unlink(config_path);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_str("region", s.region, "us-east-1");
    expect_str("endpoint", s.endpoint, "https://s3.us-east-1.amazonaws.com");
}

/* Resolves with a profile and ca_file from the spec (NULL: not given). */
static int resolve_ca(cairn_s3_settings *s, const char *profile, const char *ca_file)
{
    int rc;

    memset(s, 0, sizeof(*s));
    snprintf(s->profile, sizeof(s->profile), "%s", profile ? profile : "");
    snprintf(s->ca_file, sizeof(s->ca_file), "%s", ca_file ? ca_file : "");
    cairn__detail_clear();
    rc = cairn__s3_settings_resolve(s);
    detail_has_no_secret();
    return rc;
}

/* The CA file: spec > AWS_CA_BUNDLE > the profile's ca_bundle in the
 * config file (never the credentials file), with what named it. The file
 * is not opened here (the client checks it when it uses it). */
static void test_ca_file(void)
{
    cairn_s3_settings s;
    char where[4200];

    reset();
    ASSERT_OK(resolve_ca(&s, NULL, NULL));
    expect_str("ca_file", s.ca_file, "");
    expect_str("ca_source", s.ca_source, "");

    test_write_text(config_path, "[default]\nca_bundle = /config/default.pem\n"
                            "[profile prod]\nregion = x\nca_bundle=/config/prod.pem\n"
                            "[profile blank]\nca_bundle =\n");
    test_write_text(cred_path, "[default]\nca_bundle = /credentials/default.pem\n"
                          "[other]\nca_bundle = /credentials/other.pem\n");
    ASSERT_OK(resolve_ca(&s, NULL, NULL));
    expect_str("ca_file", s.ca_file, "/config/default.pem");
    snprintf(where, sizeof(where), "ca_bundle in %s:2 [default]", config_path);
    expect_str("ca_source", s.ca_source, where);
    ASSERT_OK(resolve_ca(&s, "prod", NULL));
    expect_str("ca_file", s.ca_file, "/config/prod.pem");
    snprintf(where, sizeof(where), "ca_bundle in %s:5 [profile prod]", config_path);
    expect_str("ca_source", s.ca_source, where);
    setenv("AWS_PROFILE", "prod", 1);
    ASSERT_OK(resolve_ca(&s, NULL, NULL));
    expect_str("ca_file", s.ca_file, "/config/prod.pem");
    unsetenv("AWS_PROFILE");
    /* An empty value names nothing; the credentials file is not read for
     * it (as the CLI, which reads ca_bundle from the config file only). */
    ASSERT_OK(resolve_ca(&s, "blank", NULL));
    expect_str("ca_file", s.ca_file, "");
    ASSERT_OK(resolve_ca(&s, "other", NULL));
    expect_str("ca_file", s.ca_file, "");

    setenv("AWS_CA_BUNDLE", "/env/bundle.pem", 1);
    ASSERT_OK(resolve_ca(&s, "prod", NULL));
    expect_str("ca_file", s.ca_file, "/env/bundle.pem");
    expect_str("ca_source", s.ca_source, "AWS_CA_BUNDLE");
    ASSERT_OK(resolve_ca(&s, "prod", "/spec/ca.pem"));
    expect_str("ca_file", s.ca_file, "/spec/ca.pem");
    expect_str("ca_source", s.ca_source, "ca_file in the spec");
    setenv("AWS_CA_BUNDLE", "", 1); /* empty: unset */
    ASSERT_OK(resolve_ca(&s, NULL, NULL));
    expect_str("ca_file", s.ca_file, "/config/default.pem");

    /* Too long, from the environment and from the file. */
    char *long_path = malloc(5000);
    memset(long_path, 'p', 4999);
    long_path[0] = '/';
    long_path[4999] = '\0';
    setenv("AWS_CA_BUNDLE", long_path, 1);
    ASSERT_RC(resolve_ca(&s, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("AWS_CA_BUNDLE is longer than");
    unsetenv("AWS_CA_BUNDLE");
    char *text = malloc(6000);
    snprintf(text, 6000, "[default]\nca_bundle = %s\n", long_path);
    test_write_text(config_path, text);
    ASSERT_RC(resolve_ca(&s, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(config_path, 2);
    ASSERT_DETAIL("ca_bundle is longer than");
    free(text);
    free(long_path);
    unlink(cred_path);
    unlink(config_path);
}

static void test_unknown_profile(void)
{
    cairn_s3_settings s;

    reset();
    test_write_text(cred_path, default_cred);
    ASSERT_RC(resolve(&s, "nope", NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("'nope'");
    ASSERT_DETAIL("the spec");
    ASSERT_DETAIL(cred_path);
    setenv("AWS_PROFILE", "gone", 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("'gone'");
    ASSERT_DETAIL("AWS_PROFILE");
    /* Even when the environment has keys (as the CLI, which fails too). */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-sEcReT", 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    /* No files at all. */
    reset();
    ASSERT_RC(resolve(&s, "nope", NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("'nope'");
    /* "default" named but absent is no error (botocore's rule). */
    ASSERT_OK(resolve(&s, "default", NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    setenv("AWS_PROFILE", "default", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    /* A profile named by a spec option too long for its field. */
    memset(&s, 'p', sizeof(s));
    cairn__detail_clear();
    ASSERT_RC(cairn__s3_settings_resolve(&s), CAIRN_BADSPEC);
    ASSERT_DETAIL("too long");
}

static void test_half_credentials(void)
{
    cairn_s3_settings s;

    reset();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("AWS_SECRET_ACCESS_KEY is not");
    ASSERT_DETAIL("environment");
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "env-sEcReT", 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("AWS_ACCESS_KEY_ID is not");
    /* A token alone is not a credential: anonymous. */
    reset();
    setenv("AWS_SESSION_TOKEN", "lone-tOkEn", 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
    ASSERT_TRUE(!s.session_token[0]);

    /* In the files: named by file:line and section. */
    reset();
    test_write_text(cred_path, "# mine\n[default]\naws_access_key_id = AKIDHALF\n");
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 3);
    ASSERT_DETAIL("[default]");
    ASSERT_DETAIL("no aws_secret_access_key");
    test_write_text(cred_path, "[default]\n\n\n  aws_secret_access_key = half-sEcReT\n");
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 4);
    ASSERT_DETAIL("no aws_access_key_id");
    test_write_text(cred_path, "[default]\naws_access_key_id =\naws_secret_access_key = e-sEcReT\n");
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 2);
    ASSERT_DETAIL("empty aws_access_key_id");
    unlink(cred_path);
    test_write_text(config_path, "[profile p]\naws_secret_access_key = cfg-sEcReT\n");
    ASSERT_RC(resolve(&s, "p", NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(config_path, 2);
    ASSERT_DETAIL("[profile p]");
    /* Half a pair in another profile is not this profile's business. */
    test_write_text(config_path, "[profile p]\naws_secret_access_key = cfg-sEcReT\n[default]\n");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    ASSERT_TRUE(s.anonymous);
}

static void test_syntax(void)
{
    cairn_s3_settings s;
    static char long_line[9000];

    /* Comments, blank lines, ':' and '=' with or without spaces, CRLF,
     * keys in any case, a later duplicate winning, nested settings. */
    reset();
    test_write_text(cred_path, "# a comment = with [brackets]\r\n"
                          "; another\r\n"
                          "\r\n"
                          "  [ default ]  \r\n"
                          "AWS_Access_Key_ID:AKIDOLD\r\n"
                          "aws_access_key_id \t=\t AKIDSYNTAX \r\n"
                          "aws_secret_access_key= with spaces sEcReT \r\n"
                          "    # indented comment\r\n"
                          "unknown_key = ignored\r\n");
    test_write_text(config_path, "[default]\n"
                            "s3 =\n"
                            "  addressing_style = path\n"
                            "  endpoint_url = http://nested\n"
                            "region = us-west-1 # not an inline comment\n");
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "AKIDSYNTAX", "with spaces sEcReT", "");
    expect_str("region", s.region, "us-west-1 # not an inline comment");
    expect_str("endpoint", s.endpoint,
               "https://s3.us-west-1 # not an inline comment.amazonaws.com");

    /* A line of exactly the limit is fine; one byte more is not. */
    memset(long_line, 'x', 8192);
    long_line[0] = '#';
    long_line[8192] = '\0';
    char *text = malloc(20000);
    snprintf(text, 20000, "[default]\n%s\naws_access_key_id = A\naws_secret_access_key = sEcReT\n",
             long_line);
    test_write_text(cred_path, text);
    unlink(config_path);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "A", "sEcReT", "");
    long_line[8192] = 'x';
    long_line[8193] = '\0';
    snprintf(text, 20000, "[default]\n%s\n", long_line);
    test_write_text(cred_path, text);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 2);
    ASSERT_DETAIL("longer than");
    /* The same without a final newline, and a secret too long for its field. */
    snprintf(text, 20000, "[default]\naws_secret_access_key = %.9000s", long_line);
    memcpy(strstr(text, "xxxx"), "sEcReT", 6);
    test_write_text(cred_path, text);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 2);
    snprintf(text, 20000, "[default]\naws_secret_access_key = sEcReT%.300s\n", long_line);
    test_write_text(cred_path, text);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(cred_path, 2);
    ASSERT_DETAIL("aws_secret_access_key is longer than");
    free(text);

    /* Malformed lines, each named by file:line, never quoted. */
    static const struct {
        const char *text;
        int line;
        const char *why;
    } bad[] = {
        {"[default]\naws_secret_access_key sEcReT-pasted-without-equals\n", 2, "expected"},
        {"aws_access_key_id = A\n[default]\n", 1, "before any [section]"},
        {"[default\n", 1, "lacks its ']'"},
        {"[default]\n\n[]x\n", 3, "lacks its ']'"},
        {"[default]\n= sEcReT\n", 2, "expected"},
        {"[default]\nregion =\n  us-west-2\n", 3, "continues"},
        {"[default]\naws_session_token = a-tOkEn\n  continued-tOkEn\n", 3, "continues"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reset();
        test_write_text(i == 5 ? config_path : cred_path, bad[i].text);
        if (resolve(&s, NULL, NULL, NULL) != CAIRN_BADSPEC)
            TEST_FAIL("case %zu accepted: %s", i, bad[i].text);
        assert_detail_at(i == 5 ? config_path : cred_path, bad[i].line);
        ASSERT_DETAIL(bad[i].why);
    }
    /* A malformed line in the config file counts even when the
     * credentials file has everything. */
    reset();
    test_write_text(cred_path, default_cred);
    test_write_text(config_path, "[default]\nregion = x\n[profile other]\njunk\n");
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    assert_detail_at(config_path, 4);

    /* Session tokens of a realistic size (a few KB) fit. */
    reset();
    char *token = malloc(3001);
    memset(token, 'T', 3000);
    memcpy(token, "tOkEn", 5);
    token[3000] = '\0';
    text = malloc(4000);
    snprintf(text, 4000, "[default]\naws_access_key_id=A\naws_secret_access_key=sEcReT\n"
                         "aws_session_token = %s\n", token);
    test_write_text(cred_path, text);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL));
    expect_keys(&s, "A", "sEcReT", token);
    free(token);
    free(text);
}

static void test_errors(void)
{
    cairn_s3_settings s;
    char secret[400];

    /* A value too long for its field, from the environment. */
    reset();
    memset(secret, 'S', sizeof(secret) - 1);
    memcpy(secret, "sEcReT", 6);
    secret[sizeof(secret) - 1] = '\0';
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("AWS_SECRET_ACCESS_KEY is longer");
    setenv("AWS_SECRET_ACCESS_KEY", "env-sEcReT", 1);
    setenv("AWS_SESSION_TOKEN", secret, 1);
    ASSERT_OK(resolve(&s, NULL, NULL, NULL)); /* 400 bytes of token fit */
    /* A failure after the keys were taken leaves none behind. */
    setenv("AWS_REGION", secret, 1);
    ASSERT_RC(resolve(&s, NULL, NULL, NULL), CAIRN_BADSPEC);
    ASSERT_DETAIL("AWS_REGION");

    /* A file that cannot be read: -errno naming it. */
    reset();
    mkdir(cred_path, 0700);
    int rc = resolve(&s, NULL, NULL, NULL);
    ASSERT_TRUE(rc == -EISDIR || rc == -EINVAL);
    ASSERT_DETAIL(cred_path);
    rmdir(cred_path);

    /* Wipe clears the secrets and accepts NULL. */
    reset();
    test_write_text(cred_path, default_cred);
    ASSERT_OK(resolve(&s, "prod", NULL, NULL));
    cairn__s3_settings_wipe(&s);
    for (size_t i = 0; i < sizeof(s.secret_key); i++)
        ASSERT_TRUE(!s.secret_key[i]);
    for (size_t i = 0; i < sizeof(s.session_token); i++)
        ASSERT_TRUE(!s.session_token[i]);
    ASSERT_TRUE(!s.access_key[0]);
    cairn__s3_settings_wipe(NULL);
}

/* Random files built from INI fragments and raw bytes: each resolves or
 * is CAIRN_BADSPEC, never crashes, never quotes a secret. */
static void test_garbage(void)
{
    static const char *const parts[] = {
        "[default]", "[profile default]", "[prod]", "[profile prod]", "[", "]", "=", ":", " ",
        "\t", "\n", "\n", "\n", "\r\n", "#", ";", "aws_access_key_id", "aws_secret_access_key",
        "aws_session_token", "region", "endpoint_url", "sEcReT", "tOkEn", "profile", "s3 =",
        "\n  ", "x",
    };
    char *text = malloc(20000);
    cairn_s3_settings s;
    int ok = 0, bad = 0;

    for (int round = 0; round < 400; round++) {
        size_t len = 0, target = test_rand_below(round % 10 ? 300 : 12000);
        bool lines = round % 4 >= 2; /* mostly well-formed lines, to get past the parser */
        if (lines) {
            memcpy(text, "[default]\n", 10);
            len = 10;
        }
        while (len < target) {
            if (lines) {
                static const char *const line_parts[] = {
                    "[default]\n", "[profile prod]\n", "[prod]\n", "# c\n", "\n",
                    "aws_access_key_id = AKID\n", "aws_secret_access_key = s-sEcReT\n",
                    "aws_session_token = t-tOkEn\n", "region = r\n", "endpoint_url = e\n",
                    "s3 =\n", "  nested = v\n", "Region:R2\n",
                };
                const char *p = line_parts[test_rand_below(sizeof(line_parts) /
                                                           sizeof(line_parts[0]))];
                size_t n = strlen(p);
                if (len + n >= 19999)
                    break;
                memcpy(text + len, p, n);
                len += n;
                if (test_rand_below(16) == 0) /* now and then a flipped byte */
                    text[len - 1 - test_rand_below(n)] = (char)test_rand_below(256);
            } else if (test_rand_below(8) == 0) {
                text[len++] = (char)test_rand_below(256);
            } else {
                const char *p = parts[test_rand_below(sizeof(parts) / sizeof(parts[0]))];
                size_t n = strlen(p);
                if (len + n >= 19999)
                    break;
                memcpy(text + len, p, n);
                len += n;
            }
        }
        reset();
        FILE *f = fopen(round % 2 ? cred_path : config_path, "wb");
        ASSERT_TRUE(f && fwrite(text, 1, len, f) == len && !fclose(f));
        if (round % 3 == 0)
            setenv("AWS_PROFILE", "prod", 1);
        int rc = resolve(&s, NULL, NULL, NULL);
        if (rc != 0 && rc != CAIRN_BADSPEC)
            TEST_FAIL("round %d: rc %d (%s)", round, rc, cairn_errdetail());
        rc ? bad++ : ok++;
    }
    printf("garbage: %d resolved, %d refused\n", ok, bad);
    ASSERT_TRUE(ok >= 20 && bad >= 20); /* both paths were exercised */
    free(text);
}

int main(void)
{
    const char *tmp;

    test_seed_init(20261206);
    tmp = test_tmpdir();
    if (mkdir(tmp, 0700))
        TEST_FAIL("mkdir %s: %s", tmp, strerror(errno));
    snprintf(home, sizeof(home), "%s/home", tmp);
    snprintf(aws_dir, sizeof(aws_dir), "%s/.aws", home);
    snprintf(cred_path, sizeof(cred_path), "%s/credentials", aws_dir);
    snprintf(config_path, sizeof(config_path), "%s/config", aws_dir);
    if (mkdir(home, 0700) || mkdir(aws_dir, 0700))
        TEST_FAIL("mkdir %s: %s", aws_dir, strerror(errno));

    test_anonymous();
    test_files();
    test_environment();
    test_region_endpoint();
    test_ca_file();
    test_unknown_profile();
    test_half_credentials();
    test_syntax();
    test_errors();
    test_garbage();
    printf("ok\n");
    return 0;
}
