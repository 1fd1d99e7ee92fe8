/*
 * test_s3_sigv4.c - SigV4 signing for S3 (tiers/s3/sigv4.h): AWS's four
 * published S3 examples (tests/data/sigv4-s3.txt), every field each block
 * gives checked and every block counted; the percent-encoding rules byte by
 * byte; canonical query and header rules (sorting on encoded names, empty
 * values, trimming, repeated headers); and refused inputs, whose details
 * must never quote the secret.
 */
#include <stdbool.h>
#include <strings.h>

#include "alloc.h"
#include "sigv4.h"
#include "test.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

/* ---------------------------------------------------------------- helpers */

/* The n-th line (from 0) of text, into buf. */
static const char *nth_line(const char *text, int n, char *buf, size_t cap)
{
    const char *end;
    size_t len;

    for (; n > 0; n--) {
        if (!(text = strchr(text, '\n')))
            TEST_FAIL("canonical request has too few lines");
        text++;
    }
    end = strchr(text, '\n');
    len = end ? (size_t)(end - text) : strlen(text);
    if (len >= cap)
        TEST_FAIL("line too long");
    memcpy(buf, text, len);
    buf[len] = '\0';
    return buf;
}

static void expect_str(const char *what, const char *vector, const char *got, const char *want)
{
    if (strcmp(got, want))
        TEST_FAIL("%s: %s is '%s', want '%s'", vector, what, got, want);
}

/* ---------------------------------------------------------------- vectors */

#define MAX_HEADERS 16
#define MAX_QUERY 16

/* One block of the vector file; strings point into lines[]. */
typedef struct vector {
    char lines[64][512];
    int n_lines;
    const char *name, *method, *uri, *query, *payload;
    const char *access_key, *secret_key, *region, *service, *amz_date;
    const char *canonical_uri, *canonical_query, *signed_headers, *cr_hash, *signature,
        *authorization;
    cairn_http_pair headers[MAX_HEADERS];
    size_t n_headers;
} vector;

/* Defaults from the file's "Common to every case" comment lines. */
static char common[5][256];
static const char *const common_keys[5] = {"access-key", "secret-key", "region", "service",
                                           "x-amz-date"};

static void read_common(const char *line)
{
    const char *p = line + 1;

    while (*p == ' ')
        p++;
    for (int i = 0; i < 5; i++) {
        size_t klen = strlen(common_keys[i]);
        if (!strncmp(p, common_keys[i], klen) && p[klen] == ':') {
            p += klen + 1;
            while (*p == ' ')
                p++;
            snprintf(common[i], sizeof(common[i]), "%s", p);
        }
    }
}

/* Records "field: value" of v (the value starts after ": "). */
static void add_field(vector *v, char *line)
{
    char *colon = strchr(line, ':'), *value;

    if (!colon)
        TEST_FAIL("vector line without ':': '%s'", line);
    *colon = '\0';
    value = colon + 1;
    if (*value == ' ')
        value++;
#define FIELD(str, member)                                                        \
    if (!strcmp(line, str)) {                                                     \
        if (v->member)                                                            \
            TEST_FAIL("field %s given twice", str);                               \
        v->member = value;                                                        \
        return;                                                                   \
    }
    FIELD("name", name)
    FIELD("method", method)
    FIELD("uri", uri)
    FIELD("query", query)
    FIELD("payload", payload)
    FIELD("access-key", access_key)
    FIELD("secret-key", secret_key)
    FIELD("region", region)
    FIELD("service", service)
    FIELD("x-amz-date", amz_date)
    FIELD("canonical-uri", canonical_uri)
    FIELD("canonical-query", canonical_query)
    FIELD("signed-headers", signed_headers)
    FIELD("string-to-sign-hash-of-canonical-request", cr_hash)
    FIELD("signature", signature)
    FIELD("authorization", authorization)
#undef FIELD
    if (!strcmp(line, "header")) {
        char *sep = strchr(value, ':');
        if (!sep || v->n_headers == MAX_HEADERS)
            TEST_FAIL("bad header line '%s'", value);
        *sep++ = '\0';
        while (*sep == ' ')
            sep++;
        v->headers[v->n_headers].name = value;
        v->headers[v->n_headers].value = sep;
        v->n_headers++;
        return;
    }
    /* An unknown field would go unchecked: refuse it. */
    TEST_FAIL("unknown vector field '%s'", line);
}

/* Signs vector v and checks every expected field it gives. Returns the
 * number of expected fields checked. */
static int check_vector(vector *v)
{
    cairn_http_pair query[MAX_QUERY];
    char query_buf[512], line[1024], payload_hash[65];
    cairn_sigv4_input in = {0};
    cairn_sigv4_output out = {0};
    const char *content_sha = NULL;
    size_t n_query = 0;
    int checked = 0;

    if (!v->name || !v->method || !v->uri || !v->payload)
        TEST_FAIL("vector '%s' lacks name, method, uri or payload", v->name ? v->name : "?");
    if (!v->signature)
        TEST_FAIL("vector '%s' has no expected signature", v->name);

    /* "a=1&b" -> {a, 1}, {b, ""}. */
    snprintf(query_buf, sizeof(query_buf), "%s", v->query ? v->query : "");
    for (char *p = query_buf; *p;) {
        char *amp = strchr(p, '&'), *eq;
        if (amp)
            *amp = '\0';
        if (n_query == MAX_QUERY)
            TEST_FAIL("too many query parameters");
        query[n_query].name = p;
        query[n_query].value = "";
        if ((eq = strchr(p, '='))) {
            *eq = '\0';
            query[n_query].value = eq + 1;
        }
        n_query++;
        p = amp ? amp + 1 : p + strlen(p);
    }

    /* The payload's hash must be the x-amz-content-sha256 the block sends. */
    cairn__sigv4_sha256_hex(v->payload, strlen(v->payload), payload_hash);
    for (size_t i = 0; i < v->n_headers; i++)
        if (!strcasecmp(v->headers[i].name, "x-amz-content-sha256"))
            content_sha = v->headers[i].value;
    if (content_sha)
        expect_str("x-amz-content-sha256 vs sha256(payload)", v->name, payload_hash,
                   content_sha);

    in.method = v->method;
    in.path = v->uri;
    in.query = query;
    in.n_query = n_query;
    in.headers = v->headers;
    in.n_headers = v->n_headers;
    in.payload_sha256 = payload_hash;
    in.amz_date = v->amz_date ? v->amz_date : common[4];
    in.region = v->region ? v->region : common[2];
    in.service = v->service ? v->service : common[3];
    in.access_key = v->access_key ? v->access_key : common[0];
    in.secret_key = v->secret_key ? v->secret_key : common[1];
    ASSERT_OK(cairn__sigv4_sign(&in, &out));

    /* Structure: method, uri, query, headers..., "", signed, hash. */
    expect_str("method line", v->name, nth_line(out.canonical_request, 0, line, sizeof(line)),
               v->method);
    if (v->canonical_uri) {
        expect_str("canonical-uri", v->name,
                   nth_line(out.canonical_request, 1, line, sizeof(line)), v->canonical_uri);
        checked++;
    }
    if (v->canonical_query) {
        expect_str("canonical-query", v->name,
                   nth_line(out.canonical_request, 2, line, sizeof(line)), v->canonical_query);
        checked++;
    }
    if (v->signed_headers) {
        expect_str("signed-headers", v->name, out.signed_headers, v->signed_headers);
        /* ... and the same list as the canonical request's next-to-last line. */
        const char *last = strrchr(out.canonical_request, '\n');
        ASSERT_TRUE(last && !strcmp(last + 1, payload_hash));
        char tail[1100];
        snprintf(tail, sizeof(tail), "\n\n%s\n%s", v->signed_headers, payload_hash);
        ASSERT_TRUE(strstr(out.canonical_request, tail) != NULL);
        checked++;
    }
    if (v->cr_hash) {
        char hash[65];
        cairn__sigv4_sha256_hex(out.canonical_request, strlen(out.canonical_request), hash);
        expect_str("hash of canonical request", v->name, hash, v->cr_hash);
        expect_str("string-to-sign's last line", v->name,
                   nth_line(out.string_to_sign, 3, line, sizeof(line)), v->cr_hash);
        checked++;
    }
    expect_str("signature", v->name, out.signature, v->signature);
    checked++;
    if (v->authorization) {
        expect_str("authorization", v->name, out.authorization, v->authorization);
        checked++;
    }
    ASSERT_TRUE(!strstr(out.canonical_request, in.secret_key));
    ASSERT_TRUE(!strstr(out.string_to_sign, in.secret_key));
    ASSERT_TRUE(!strstr(out.authorization, in.secret_key));
    cairn__sigv4_output_clear(&out);
    printf("ok %s (%d fields)\n", v->name, checked);
    return checked;
}

/* Reads the vector file and checks every block; fails unless every block
 * that names a vector was checked, and there are at least four. */
static void test_vectors(void)
{
    const char *path = CAIRN_TEST_DATA_DIR "/sigv4-s3.txt";
    FILE *f = fopen(path, "r");
    char raw[512];
    vector *v;
    int in_file = 0, checked = 0, fields = 0;
    bool eof = false;

    if (!f)
        TEST_FAIL("cannot open %s", path);
    if (!(v = calloc(1, sizeof(*v))))
        TEST_FAIL("out of memory");
    while (!eof) {
        size_t len;
        if (!fgets(raw, sizeof(raw), f)) {
            eof = true;
            raw[0] = '\0';
        }
        len = strlen(raw);
        if (len && raw[len - 1] != '\n' && !feof(f))
            TEST_FAIL("vector line too long: '%.40s...'", raw);
        while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
            raw[--len] = '\0';
        if (raw[0] == '#') {
            read_common(raw);
            continue;
        }
        if (len) {
            if (!strncmp(raw, "name:", 5))
                in_file++;
            if (v->n_lines == 64)
                TEST_FAIL("vector block too long");
            memcpy(v->lines[v->n_lines], raw, len + 1);
            add_field(v, v->lines[v->n_lines++]);
            continue;
        }
        /* A blank line or the end: the block is complete. */
        if (v->n_lines) {
            fields += check_vector(v);
            checked++;
            memset(v, 0, sizeof(*v));
        }
    }
    fclose(f);
    free(v);
    for (int i = 0; i < 5; i++)
        if (!common[i][0])
            TEST_FAIL("the vector file does not give the common %s", common_keys[i]);
    printf("vectors: %d in the file, %d checked (%d expected fields)\n", in_file, checked,
           fields);
    ASSERT_EQ(checked, in_file);
    ASSERT_TRUE(in_file >= 4);
}

/* ---------------------------------------------------------------- encoding */

static void expect_encode(const char *s, size_t len, bool keep_slash, const char *want)
{
    char out[256];
    size_t n = cairn__sigv4_encode(s, len, keep_slash, out, sizeof(out));

    if (n == (size_t)-1 || strcmp(out, want) || n != strlen(want))
        TEST_FAIL("encode('%.*s', slash %d) is '%s', want '%s'", (int)len, s, keep_slash, out,
                  want);
}

static void test_encode(void)
{
    char out[8];

    /* Unreserved characters stay as they are. */
    expect_encode("AZaz09-._~", 10, false, "AZaz09-._~");
    /* Reserved and other ASCII: upper-case %XX. */
    expect_encode(" !\"#$%&'()*+,:;<=>?@[\\]^`{|}", 28, false,
                  "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E"
                  "%60%7B%7C%7D");
    /* '/' kept in paths, encoded in query parts. */
    expect_encode("/a b/c+d/", 9, true, "/a%20b/c%2Bd/");
    expect_encode("/a b/c+d/", 9, false, "%2Fa%20b%2Fc%2Bd%2F");
    /* UTF-8 bytes one by one, and control bytes including NUL. */
    expect_encode("\xc3\xa9\xe6\x97\xa5", 5, true, "%C3%A9%E6%97%A5");
    expect_encode("a\0b\n\x7f\xff", 6, false, "a%00b%0A%7F%FF");
    expect_encode("", 0, false, "");

    /* Too small: room for the output and its NUL or nothing. */
    ASSERT_EQ(cairn__sigv4_encode("abc", 3, false, out, 3), (size_t)-1);
    ASSERT_EQ(cairn__sigv4_encode("abc", 3, false, out, 4), 3);
    ASSERT_EQ(cairn__sigv4_encode("/", 1, false, out, 3), (size_t)-1);
    ASSERT_EQ(cairn__sigv4_encode("/", 1, false, out, 4), 3);
    ASSERT_TRUE(!strcmp(out, "%2F"));
    ASSERT_EQ(cairn__sigv4_encode("/", 1, true, out, 2), 1);
    ASSERT_EQ(cairn__sigv4_encode("a/", 2, true, out, 2), (size_t)-1);
    ASSERT_EQ(cairn__sigv4_encode("", 0, true, out, 1), 0);
    ASSERT_EQ(cairn__sigv4_encode("", 0, true, out, 0), (size_t)-1);
    ASSERT_EQ(cairn__sigv4_encode("\xff\xff", 2, true, out, 6), (size_t)-1);
    ASSERT_EQ(cairn__sigv4_encode("\xff\xff", 2, true, out, 7), 6);

    /* SHA-256 of nothing. */
    char hex[65];
    cairn__sigv4_sha256_hex("", 0, hex);
    ASSERT_TRUE(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

/* ---------------------------------------------------------------- canonical */

static cairn_sigv4_input base_input(const cairn_http_pair *headers, size_t n_headers)
{
    cairn_sigv4_input in = {0};

    in.method = "GET";
    in.path = "/";
    in.headers = headers;
    in.n_headers = n_headers;
    in.payload_sha256 = "UNSIGNED-PAYLOAD";
    in.amz_date = "20130524T000000Z";
    in.region = "us-east-1";
    in.service = "s3";
    in.access_key = "AKIAIOSFODNN7EXAMPLE";
    in.secret_key = SECRET;
    return in;
}

static void test_canonical(void)
{
    const cairn_http_pair headers[] = {
        {"X-Amz-Meta-B", "  two   words  "},
        {"host", "h.example"},
        {"X-AMZ-META-A", "first"},
        {"x-amz-meta-a", "\tsecond "},
        {"x-amz-meta-empty", "   "},
    };
    const cairn_http_pair query[] = {
        {"~x", "1"}, {"\xc3\xa9x", "1"}, {"b", "2"}, {"b", "10"}, {"acl", ""}, {"k/y", "v w"},
    };
    cairn_sigv4_input in = base_input(headers, 5);
    cairn_sigv4_output out;
    char line[512];

    in.path = "/bucket/a b/\xc3\xa9+c";
    in.query = query;
    in.n_query = 6;
    ASSERT_OK(cairn__sigv4_sign(&in, &out));
    expect_str("uri", "canonical", nth_line(out.canonical_request, 1, line, sizeof(line)),
               "/bucket/a%20b/%C3%A9%2Bc");
    /* Sorted by encoded name ("%C3%A9x" before "~x"), then encoded value
     * ("10" before "2"); no value is "name=". */
    expect_str("query", "canonical", nth_line(out.canonical_request, 2, line, sizeof(line)),
               "%C3%A9x=1&acl=&b=10&b=2&k%2Fy=v%20w&~x=1");
    expect_str("header 1", "canonical", nth_line(out.canonical_request, 3, line, sizeof(line)),
               "host:h.example");
    expect_str("header 2", "canonical", nth_line(out.canonical_request, 4, line, sizeof(line)),
               "x-amz-meta-a:first,second");
    expect_str("header 3", "canonical", nth_line(out.canonical_request, 5, line, sizeof(line)),
               "x-amz-meta-b:two words");
    expect_str("header 4", "canonical", nth_line(out.canonical_request, 6, line, sizeof(line)),
               "x-amz-meta-empty:");
    expect_str("blank", "canonical", nth_line(out.canonical_request, 7, line, sizeof(line)), "");
    expect_str("signed", "canonical", out.signed_headers,
               "host;x-amz-meta-a;x-amz-meta-b;x-amz-meta-empty");
    expect_str("payload", "canonical", nth_line(out.canonical_request, 9, line, sizeof(line)),
               "UNSIGNED-PAYLOAD");
    expect_str("string to sign", "canonical",
               nth_line(out.string_to_sign, 2, line, sizeof(line)),
               "20130524/us-east-1/s3/aws4_request");
    ASSERT_EQ(strlen(out.signature), 64);
    cairn__sigv4_output_clear(&out);
    cairn__sigv4_output_clear(&out); /* twice is harmless */
}

/* ---------------------------------------------------------------- errors */

/* in must be refused with CAIRN_BADARG, naming part, never the secret. */
static void refused(const cairn_sigv4_input *in, const char *part)
{
    cairn_sigv4_output out;

    ASSERT_RC(cairn__sigv4_sign(in, &out), CAIRN_BADARG);
    ASSERT_DETAIL(part);
    if (strstr(cairn_errdetail(), SECRET) || strstr(cairn_errdetail(), "wJalrXUtnFEMI"))
        TEST_FAIL("detail quotes the secret: %s", cairn_errdetail());
    ASSERT_TRUE(out.canonical_request == NULL && out.string_to_sign == NULL);
    cairn__sigv4_output_clear(&out);
}

static void test_errors(void)
{
    const cairn_http_pair host[] = {{"Host", "h"}};
    const cairn_sigv4_input good = base_input(host, 1);
    cairn_sigv4_input in;
    cairn_sigv4_output out;
    char long_name[300], long_secret[300];

    ASSERT_OK(cairn__sigv4_sign(&good, &out));
    cairn__sigv4_output_clear(&out);
    ASSERT_RC(cairn__sigv4_sign(NULL, &out), CAIRN_BADARG);

#define MISSING(field)                                                            \
    in = good;                                                                    \
    in.field = NULL;                                                              \
    refused(&in, #field);                                                         \
    in.field = "";                                                                \
    refused(&in, #field);
    MISSING(method)
    MISSING(path)
    MISSING(payload_sha256)
    MISSING(amz_date)
    MISSING(region)
    MISSING(service)
    MISSING(access_key)
    MISSING(secret_key)
#undef MISSING

    in = good;
    in.path = "bucket/key";
    refused(&in, "path");
    in = good;
    in.payload_sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    refused(&in, "payload_sha256");
    in = good;
    in.amz_date = "2013-05-24";
    refused(&in, "amz_date");
    in = good;
    in.region = "us-east-1/x";
    refused(&in, "region");
    in = good;
    in.method = "GET /";
    refused(&in, "method");
    in = good;
    in.headers = NULL;
    refused(&in, "headers");
    in = good;
    in.n_headers = 0;
    refused(&in, "headers");
    in = good;
    in.n_query = 1;
    refused(&in, "query");

    const cairn_http_pair bad_name[] = {{"Host", "h"}, {"Bad Name", "v"}};
    in = good;
    in.headers = bad_name;
    in.n_headers = 2;
    refused(&in, "Bad Name");
    const cairn_http_pair null_value[] = {{"Host", NULL}};
    in = good;
    in.headers = null_value;
    refused(&in, "header 0");
    const cairn_http_pair crlf[] = {{"Host", "h\r\nX-Injected: 1"}};
    in = good;
    in.headers = crlf;
    refused(&in, "line break");
    const cairn_http_pair null_query[] = {{"acl", NULL}};
    in = good;
    in.query = null_query;
    in.n_query = 1;
    refused(&in, "query parameter 0");

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    const cairn_http_pair too_long[] = {{"Host", "h"}, {long_name, "v"}};
    in = good;
    in.headers = too_long;
    in.n_headers = 2;
    refused(&in, "longer than");

    /* Many headers whose names overflow signed_headers[1024]. */
    static char names[12][120];
    cairn_http_pair many[12];
    for (int i = 0; i < 12; i++) {
        memset(names[i], 'a' + i, 110);
        names[i][110] = '\0';
        many[i].name = names[i];
        many[i].value = "v";
    }
    in = good;
    in.headers = many;
    in.n_headers = 12;
    refused(&in, "signed header names");

    memset(long_secret, 'S', sizeof(long_secret) - 1);
    long_secret[sizeof(long_secret) - 1] = '\0';
    in = good;
    in.secret_key = long_secret;
    refused(&in, "secret_key");
    ASSERT_TRUE(!strstr(cairn_errdetail(), "SSSS"));
}

int main(void)
{
    test_vectors();
    test_encode();
    test_canonical();
    test_errors();
    printf("ok\n");
    return 0;
}
