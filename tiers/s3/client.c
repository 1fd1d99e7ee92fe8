/*
 * client.c - the S3 client: signing, sending many requests at once on
 * libcurl's multi interface, retrying what can heal, and the breaker. The
 * contract is in client.h.
 */
#include "client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "error.h"
#include "tls.h"

#define DEFAULT_SESSIONS 8
#define DEFAULT_INFLIGHT 32
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RETRIES 6
#define DEFAULT_BACKOFF_MS 50
#define DEFAULT_BACKOFF_MAX_MS 5000
#define DEFAULT_BREAKER 3
#define DEFAULT_MAX_RESPONSE (64u << 20)
#define BREAKER_COOLDOWN_MS 1000
#define BREAKER_COOLDOWN_MAX_MS 30000
#define ERROR_BODY_MAX (64u << 10)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *const method_names[] = {"", "GET", "PUT", "HEAD", "DELETE", "POST"};

/* A curl multi handle and the easy handles it drives; kept between calls
 * so that their connections stay open. */
struct session {
    CURLM *multi;
    CURL **easy; /* cfg.inflight of them, created on first use */
    bool busy;
};

struct cairn_s3_client {
    cairn_s3_client_config cfg;
    char scheme[8];     /* "http" or "https" */
    char host[256];     /* host[:port] as in the endpoint */
    char endpoint[300]; /* scheme://host[:port], for messages */

    pthread_mutex_t mu; /* sessions and the breaker */
    pthread_cond_t session_free;
    struct session *sessions;

    unsigned failed_in_row; /* requests in a row that exhausted their retries */
    uint64_t open_until_ms; /* breaker open until then (monotonic ms) */
    unsigned cooldown_ms;

    _Atomic uint64_t seed; /* backoff jitter */
    cairn_s3_counters counters;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t next_random(cairn_s3_client *c)
{
    /* splitmix64 over an atomic counter: threads never share a value. */
    uint64_t z = atomic_fetch_add(&c->seed, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Copies the text between <tag> and </tag> (the first occurrence at or
 * after *from, which moves past it) into out; XML's five entities are
 * decoded. Returns false when there is none or it does not fit. */
bool cairn__s3_xml_take(const char *xml, size_t len, size_t *from, const char *tag, char *out,
                        size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *start = memmem(xml + *from, len - *from, open, strlen(open));
    if (!start)
        return false;
    start += strlen(open);
    const char *end = memmem(start, (size_t)(xml + len - start), close, strlen(close));
    if (!end)
        return false;
    *from = (size_t)(end - xml) + strlen(close);
    static const struct {
        const char *entity;
        char c;
    } entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t n = 0;
    for (const char *p = start; p < end;) {
        char c = *p++;
        if (c == '&')
            for (size_t e = 0; e < sizeof(entities) / sizeof(entities[0]); e++) {
                size_t el = strlen(entities[e].entity);
                if ((size_t)(end - (p - 1)) >= el && !memcmp(p - 1, entities[e].entity, el)) {
                    c = entities[e].c;
                    p += el - 1;
                    break;
                }
            }
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = 0;
    return true;
}

/* ---------------------------------------------------------------- open */

static int parse_endpoint(cairn_s3_client *c, const char *endpoint)
{
    const char *rest;
    if (!strncmp(endpoint, "http://", 7)) {
        strcpy(c->scheme, "http");
        rest = endpoint + 7;
    } else if (!strncmp(endpoint, "https://", 8)) {
        strcpy(c->scheme, "https");
        rest = endpoint + 8;
    } else {
        return cairn__fail(CAIRN_BADSPEC, "s3: endpoint '%s' is not http://HOST[:PORT] or https://HOST[:PORT]",
                           endpoint);
    }
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0 || hl >= sizeof(c->host) || (rest[hl] && strcmp(rest + hl, "/")))
        return cairn__fail(CAIRN_BADSPEC, "s3: endpoint '%s' must be scheme://HOST[:PORT] with no path",
                           endpoint);
    for (size_t i = 0; i < hl; i++)
        if (rest[i] == '@' || rest[i] <= ' ')
            return cairn__fail(CAIRN_BADSPEC, "s3: endpoint '%s' has a character a host cannot have",
                               endpoint);
    memcpy(c->host, rest, hl);
    c->host[hl] = 0;
    snprintf(c->endpoint, sizeof(c->endpoint), "%s://%s", c->scheme, c->host);
    return 0;
}

/* Whether host[:port] names its host by an IP address ("127.0.0.1:7480",
 * "[::1]:7480") rather than by a name. */
static bool host_is_address(const char *host)
{
    size_t name_len = strcspn(host, ":");
    if (host[0] == '[')
        return true;
    for (size_t i = 0; i < name_len; i++)
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
            return false;
    return true;
}

/* What the endpoint and addressing need before any request: a name to put
 * the bucket in front of (virtual-host style), and a CA file that can be
 * read when one is named and TLS is verified. */
static int check_config(const cairn_s3_client *c)
{
    if (c->cfg.virtual_host && host_is_address(c->host))
        return cairn__fail(CAIRN_BADSPEC, "s3: addressing=virtual puts the bucket in the host "
                           "name (%s.HOST), which endpoint '%s' gives as an address; name the "
                           "host, or use addressing=path", c->cfg.bucket, c->endpoint);
    if (!strcmp(c->scheme, "https") && c->cfg.tls_verify && c->cfg.settings.ca_file[0])
        return cairn__s3_ca_file_check(&c->cfg.settings);
    return 0;
}

int cairn__s3_client_open(const cairn_s3_client_config *cfg, cairn_s3_client **out)
{
    int rc;
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return cairn__fail(CAIRN_TIER, "s3: libcurl failed to start: %s", curl_easy_strerror(curl_init_rc));
    cairn_s3_client *c = cairn__calloc(1, sizeof(*c));
    if (!c)
        return CAIRN_NOMEM;
    c->cfg = *cfg;
    if (!c->cfg.sessions)
        c->cfg.sessions = DEFAULT_SESSIONS;
    if (!c->cfg.inflight)
        c->cfg.inflight = DEFAULT_INFLIGHT;
    if (c->cfg.inflight > 256)
        c->cfg.inflight = 256;
    if (!c->cfg.timeout_ms)
        c->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->cfg.retries < 0)
        c->cfg.retries = DEFAULT_RETRIES;
    if (!c->cfg.backoff_ms)
        c->cfg.backoff_ms = DEFAULT_BACKOFF_MS;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (!c->cfg.breaker_threshold)
        c->cfg.breaker_threshold = DEFAULT_BREAKER;
    c->cooldown_ms = BREAKER_COOLDOWN_MS;
    atomic_store(&c->seed, now_us() ^ (uint64_t)(uintptr_t)c);
    if ((rc = parse_endpoint(c, cfg->settings.endpoint)) || (rc = check_config(c)))
        goto fail;
    if (!(c->sessions = cairn__calloc(c->cfg.sessions, sizeof(*c->sessions)))) {
        rc = CAIRN_NOMEM;
        goto fail;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->session_free, NULL);
    *out = c;
    return 0;

fail:
    cairn__s3_settings_wipe(&c->cfg.settings);
    cairn__free(c);
    return rc;
}

void cairn__s3_client_close(cairn_s3_client *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->cfg.sessions; i++) {
        struct session *s = &c->sessions[i];
        if (s->easy)
            for (unsigned k = 0; k < c->cfg.inflight; k++)
                if (s->easy[k])
                    curl_easy_cleanup(s->easy[k]);
        cairn__free(s->easy);
        if (s->multi)
            curl_multi_cleanup(s->multi);
    }
    cairn__free(c->sessions);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->session_free);
    cairn__s3_settings_wipe(&c->cfg.settings);
    cairn__free(c);
}

const cairn_s3_counters *cairn__s3_counters(const cairn_s3_client *c)
{
    return &c->counters;
}

const char *cairn__s3_endpoint(const cairn_s3_client *c)
{
    return c->endpoint;
}

const char *cairn__s3_bucket(const cairn_s3_client *c)
{
    return c->cfg.bucket;
}

/* ---------------------------------------------------------------- sessions */

static int session_take(cairn_s3_client *c, struct session **out)
{
    pthread_mutex_lock(&c->mu);
    for (;;) {
        for (unsigned i = 0; i < c->cfg.sessions; i++) {
            struct session *s = &c->sessions[i];
            if (s->busy)
                continue;
            if (!s->multi) {
                s->easy = cairn__calloc(c->cfg.inflight, sizeof(*s->easy));
                s->multi = s->easy ? curl_multi_init() : NULL;
                if (!s->multi) {
                    cairn__free(s->easy);
                    s->easy = NULL;
                    pthread_mutex_unlock(&c->mu);
                    return CAIRN_NOMEM;
                }
                curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->cfg.inflight);
            }
            s->busy = true;
            pthread_mutex_unlock(&c->mu);
            *out = s;
            return 0;
        }
        pthread_cond_wait(&c->session_free, &c->mu);
    }
}

static void session_give(cairn_s3_client *c, struct session *s)
{
    pthread_mutex_lock(&c->mu);
    s->busy = false;
    pthread_cond_signal(&c->session_free);
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- breaker */

/* Whether a request may go out now; sets *probe when it is the one that
 * tests a circuit after its cool-down (it then gets no retries). */
static bool breaker_allows(cairn_s3_client *c, bool *probe)
{
    pthread_mutex_lock(&c->mu);
    bool tripped = c->failed_in_row >= c->cfg.breaker_threshold;
    bool allow = !tripped || now_ms() >= c->open_until_ms;
    if (allow && tripped)
        c->open_until_ms = now_ms() + c->cfg.timeout_ms; /* one probe at a time */
    pthread_mutex_unlock(&c->mu);
    *probe = allow && tripped;
    return allow;
}

/* Records a request's outcome: reached (the service answered) or not. */
static void breaker_record(cairn_s3_client *c, bool reached)
{
    pthread_mutex_lock(&c->mu);
    if (reached) {
        c->failed_in_row = 0;
        c->cooldown_ms = BREAKER_COOLDOWN_MS;
    } else if (++c->failed_in_row >= c->cfg.breaker_threshold) {
        if (c->failed_in_row > c->cfg.breaker_threshold) /* a probe failed */
            c->cooldown_ms = c->cooldown_ms * 2 > BREAKER_COOLDOWN_MAX_MS
                                 ? BREAKER_COOLDOWN_MAX_MS
                                 : c->cooldown_ms * 2;
        c->open_until_ms = now_ms() + c->cooldown_ms;
        atomic_fetch_add(&c->counters.breaker_trips, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- one request */

/* What one in-flight attempt needs besides its request. */
struct attempt {
    cairn_s3_request *req;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    uint8_t *body;
    size_t len, cap;
    size_t max;      /* bytes the body callback accepts */
    size_t want_max; /* bytes a successful answer may have */
    bool too_big;
    bool probe;
    uint64_t started_us;
    uint64_t ready_ms; /* when a retry may start */
    char cause[900];   /* the last failure, for messages */
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct attempt *a = ctx;
    size_t n = size * nmemb;
    if (a->len + n > a->max) {
        a->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + n)
            cap *= 2;
        if (cap > a->max)
            cap = a->max;
        uint8_t *p = cairn__realloc(a->body, cap);
        if (!p)
            return 0;
        a->body = p;
        a->cap = cap;
    }
    memcpy(a->body + a->len, data, n);
    a->len += n;
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ctx)
{
    struct attempt *a = ctx;
    size_t n = size * nmemb;
    char buf[256];
    size_t l = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
    memcpy(buf, line, l);
    buf[l] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    if (!strncasecmp(buf, "HTTP/", 5)) { /* a new response (after 100, a redirect) */
        a->req->etag[0] = 0;
        a->req->object_size = 0;
    } else if (!strncasecmp(buf, "etag:", 5)) {
        const char *v = buf + 5;
        v += strspn(v, " \t\"");
        size_t vl = strcspn(v, "\"");
        if (vl < sizeof(a->req->etag)) {
            memcpy(a->req->etag, v, vl);
            a->req->etag[vl] = 0;
        }
    } else if (!strncasecmp(buf, "content-range:", 14)) {
        const char *slash = strrchr(buf, '/');
        if (slash && slash[1] != '*')
            a->req->object_size = strtoull(slash + 1, NULL, 10);
    } else if (!strncasecmp(buf, "content-length:", 15) && a->req->range_len == 0) {
        a->req->object_size = strtoull(buf + 15, NULL, 10);
    }
    return n;
}

/* Adds "Name: value" to the header list and to the pairs signed. */
static int add_header(struct curl_slist **list, cairn_http_pair *signed_hdrs, size_t *n_signed,
                      char *storage, size_t storage_cap, const char *name, const char *value)
{
    int w = snprintf(storage, storage_cap, "%s: %s", name, value);
    if (w < 0 || (size_t)w >= storage_cap)
        return CAIRN_BADARG;
    struct curl_slist *l = curl_slist_append(*list, storage);
    if (!l)
        return CAIRN_NOMEM;
    *list = l;
    if (signed_hdrs) {
        signed_hdrs[*n_signed].name = name;
        signed_hdrs[(*n_signed)++].value = value;
    }
    return 0;
}

/* Builds the URL path and query, signs, and configures the easy handle. */
static int prepare(cairn_s3_client *c, struct attempt *a)
{
    cairn_s3_request *r = a->req;
    int rc;

    /* Path: /bucket/key (path style) or /key (virtual host). */
    char host[320];
    char path[2048];
    const char *key = r->key ? r->key : "";
    if (c->cfg.virtual_host) {
        snprintf(host, sizeof(host), "%s.%s", c->cfg.bucket, c->host);
        if (snprintf(path, sizeof(path), "/%s", key) >= (int)sizeof(path))
            return cairn__fail(CAIRN_BADARG, "s3: key too long: %.64s...", key);
    } else {
        snprintf(host, sizeof(host), "%s", c->host);
        if (snprintf(path, sizeof(path), "/%s%s%s", c->cfg.bucket, r->key ? "/" : "", key) >=
            (int)sizeof(path))
            return cairn__fail(CAIRN_BADARG, "s3: key too long: %.64s...", key);
    }

    /* URL: encoded path, then the query encoded in the canonical order. */
    size_t url_cap = strlen(c->scheme) + strlen(host) + 3 * strlen(path) + 16;
    for (size_t i = 0; i < r->n_query; i++)
        url_cap += 3 * (strlen(r->query[i].name) + strlen(r->query[i].value)) + 2;
    if (!(a->url = cairn__malloc(url_cap)))
        return CAIRN_NOMEM;
    size_t u = (size_t)snprintf(a->url, url_cap, "%s://%s", c->scheme, host);
    size_t w = cairn__sigv4_encode(path, strlen(path), true, a->url + u, url_cap - u);
    if (w == (size_t)-1)
        return CAIRN_BADARG;
    u += w;
    /* Query order does not matter to the server; the canonical order is
     * the signer's business. */
    for (size_t i = 0; i < r->n_query; i++) {
        a->url[u++] = i ? '&' : '?';
        w = cairn__sigv4_encode(r->query[i].name, strlen(r->query[i].name), false, a->url + u,
                                url_cap - u);
        if (w == (size_t)-1)
            return CAIRN_BADARG;
        u += w;
        a->url[u++] = '=';
        w = cairn__sigv4_encode(r->query[i].value, strlen(r->query[i].value), false, a->url + u,
                                url_cap - u);
        if (w == (size_t)-1)
            return CAIRN_BADARG;
        u += w;
    }
    a->url[u] = 0;

    /* Headers: every one we send is signed. */
    char amz_date[20];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    char payload_hash[65];
    if (r->body_len)
        cairn__sigv4_sha256_hex(r->body, r->body_len, payload_hash);
    else
        strcpy(payload_hash, EMPTY_SHA256);
    char range[64] = "";
    if (r->range_len) {
        if (r->range_from == CAIRN_S3_SUFFIX)
            snprintf(range, sizeof(range), "bytes=-%llu", (unsigned long long)r->range_len);
        else
            snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)r->range_from,
                     (unsigned long long)(r->range_from + r->range_len - 1));
    }

    cairn_http_pair signed_hdrs[8];
    size_t n_signed = 0;
    char line[8][4200];
    int k = 0;
    const cairn_s3_settings *s = &c->cfg.settings;
    if ((rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++], sizeof(line[0]), "Host", host)) ||
        (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++], sizeof(line[0]), "x-amz-date",
                         amz_date)) ||
        (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++], sizeof(line[0]),
                         "x-amz-content-sha256", payload_hash)))
        return rc;
    if (s->session_token[0] &&
        (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++], sizeof(line[0]),
                         "x-amz-security-token", s->session_token)))
        return rc;
    if (range[0] && (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++], sizeof(line[0]),
                                     "Range", range)))
        return rc;
    if (r->if_match && (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++],
                                        sizeof(line[0]), "If-Match", r->if_match)))
        return rc;
    if (r->if_none_match && (rc = add_header(&a->headers, signed_hdrs, &n_signed, line[k++],
                                             sizeof(line[0]), "If-None-Match", r->if_none_match)))
        return rc;
    /* Not signed: no 100-continue round trip before a body; a neutral type. */
    char expect[] = "Expect:";
    char ctype[] = "Content-Type: application/octet-stream";
    struct curl_slist *l = curl_slist_append(a->headers, expect);
    if (!l || !(l = curl_slist_append(l, ctype)))
        return CAIRN_NOMEM;
    a->headers = l;

    if (!s->anonymous) {
        cairn_sigv4_input in = {
            .method = method_names[r->method],
            .path = path,
            .query = r->query,
            .n_query = r->n_query,
            .headers = signed_hdrs,
            .n_headers = n_signed,
            .payload_sha256 = payload_hash,
            .amz_date = amz_date,
            .region = s->region,
            .service = "s3",
            .access_key = s->access_key,
            .secret_key = s->secret_key,
        };
        cairn_sigv4_output sig = {0};
        rc = cairn__sigv4_sign(&in, &sig);
        if (!rc) {
            char auth[1600];
            snprintf(auth, sizeof(auth), "Authorization: %s", sig.authorization);
            if (!(l = curl_slist_append(a->headers, auth)))
                rc = CAIRN_NOMEM;
            else
                a->headers = l;
            explicit_bzero(auth, sizeof(auth));
        }
        cairn__sigv4_output_clear(&sig);
        if (rc)
            return rc;
    }
    explicit_bzero(line, sizeof(line));

    /* The handle. */
    CURL *e = a->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, a->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->cfg.tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->cfg.tls_verify ? 2L : 0L);
    if (c->cfg.tls_verify && c->cfg.settings.ca_file[0]) {
        /* The named CA certificates instead of the system's, as the AWS
         * CLI's ca_bundle: none of the system's directory either. */
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.settings.ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.timeout_ms);
    /* A bound on the whole exchange that grows with its bytes (at least
     * 1 MB/s), so a stalled server costs timeout_ms, a large pack does not
     * time out. */
    uint64_t bytes = r->body_len + r->range_len;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->cfg.timeout_ms + bytes / 1000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    a->errbuf[0] = 0;
    switch (r->method) {
    case CAIRN_S3_GET:
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        break;
    case CAIRN_S3_HEAD:
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
    case CAIRN_S3_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    case CAIRN_S3_PUT:
    case CAIRN_S3_POST:
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (r->method == CAIRN_S3_PUT)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        break;
    }
    a->want_max = r->max_response ? r->max_response : DEFAULT_MAX_RESPONSE;
    if (r->range_len && r->range_len < a->want_max)
        a->want_max = r->range_len;
    /* An error's XML may be longer than the range asked for. */
    a->max = a->want_max < ERROR_BODY_MAX ? ERROR_BODY_MAX : a->want_max;
    return 0;
}

static void attempt_release(struct attempt *a)
{
    curl_slist_free_all(a->headers);
    a->headers = NULL;
    cairn__free(a->url);
    a->url = NULL;
    cairn__free(a->body);
    a->body = NULL;
    a->len = a->cap = 0;
    a->too_big = false;
}

/* What a finished attempt means. */
enum verdict { DONE, RETRY };

/* Takes in a transfer that ended in a TLS verification failure f: never
 * retried (a certificate does not heal), explained. */
static enum verdict judge_tls(const cairn_s3_client *c, struct attempt *a,
                              cairn_s3_tls_failure f, const char *curl_msg)
{
    cairn__s3_tls_explain(a->cause, sizeof(a->cause), f, curl_msg, &c->cfg.settings);
    a->req->rc = f == CAIRN_S3_TLS_CA_FILE ? CAIRN_BADSPEC : CAIRN_DENIED;
    return DONE;
}

static enum verdict judge(const cairn_s3_client *c, struct attempt *a, CURLcode cc)
{
    cairn_s3_request *r = a->req;
    long status = 0;
    curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    bool mutating = r->method == CAIRN_S3_PUT || r->method == CAIRN_S3_POST ||
                    r->method == CAIRN_S3_DELETE;

    if (cc != CURLE_OK) {
        if (a->too_big) {
            r->rc = CAIRN_TIER;
            snprintf(a->cause, sizeof(a->cause), "response larger than the %zu bytes expected",
                     a->want_max);
            return DONE;
        }
        const char *curl_msg = a->errbuf[0] ? a->errbuf : curl_easy_strerror(cc);
        cairn_s3_tls_failure tls = cairn__s3_tls_failure(cc);
        if (tls)
            return judge_tls(c, a, tls, curl_msg);
        snprintf(a->cause, sizeof(a->cause), "%.200s", curl_msg);
        switch (cc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_OUT_OF_MEMORY:
            r->rc = cc == CURLE_OUT_OF_MEMORY ? CAIRN_NOMEM : CAIRN_TIER;
            return DONE;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
            break; /* never reached the server: not ambiguous */
        default:
            if (mutating)
                r->ambiguous = true;
            break;
        }
        r->rc = CAIRN_UNAVAILABLE;
        return RETRY;
    }

    r->data = a->body;
    r->len = a->len;
    a->body = NULL;
    a->len = a->cap = 0;
    r->error_code[0] = 0;
    if (status >= 300 && status != 304 && r->data) {
        size_t from = 0;
        char code[64];
        if (cairn__s3_xml_take((const char *)r->data, r->len, &from, "Code", code, sizeof(code)))
            snprintf(r->error_code, sizeof(r->error_code), "%s", code);
    }
    if ((status >= 200 && status < 300) || status == 304) {
        if (r->len > a->want_max) {
            r->rc = CAIRN_TIER;
            snprintf(a->cause, sizeof(a->cause), "response larger than the %zu bytes expected",
                     a->want_max);
            return DONE;
        }
        /* A ranged GET answered with the whole object: keep the range. */
        if (r->range_len && status == 200 && r->method == CAIRN_S3_GET) {
            r->rc = CAIRN_TIER;
            snprintf(a->cause, sizeof(a->cause), "the server ignored the byte range");
            return DONE;
        }
        r->rc = 0;
        return DONE;
    }
    snprintf(a->cause, sizeof(a->cause), "HTTP %ld%s%s", status, r->error_code[0] ? " " : "",
             r->error_code);
    switch (status) {
    case 404:
        r->rc = CAIRN_NOTFOUND;
        return DONE;
    case 412:
        r->rc = CAIRN_CONFLICT;
        return DONE;
    case 401:
    case 403:
        r->rc = CAIRN_DENIED;
        return DONE;
    case 400:
        r->rc = strstr(r->error_code, "SHA256") || strstr(r->error_code, "Signature") ||
                        strstr(r->error_code, "Authorization")
                    ? CAIRN_DENIED
                    : CAIRN_TIER;
        return DONE;
    case 409:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
        if (mutating && status != 429)
            r->ambiguous = true;
        r->rc = CAIRN_UNAVAILABLE;
        return RETRY;
    default:
        r->rc = CAIRN_TIER;
        return DONE;
    }
}

/* ---------------------------------------------------------------- run */

static void set_detail(cairn_s3_client *c, const cairn_s3_request *r, const char *cause)
{
    cairn__fail(r->rc, "s3 %s %s/%s at %s: %s%s", method_names[r->method], c->cfg.bucket,
                r->key ? r->key : "", c->endpoint, cause,
                r->attempts > 1 ? " (after retries)" : "");
}

int cairn__s3_run(cairn_s3_client *c, cairn_s3_request *reqs, size_t n)
{
    if (!n)
        return 0;
    struct session *s;
    int rc = session_take(c, &s);
    if (rc)
        return rc;
    struct attempt *att = cairn__calloc(n, sizeof(*att));
    /* Free lanes: an easy handle per lane, up to inflight. */
    unsigned lanes = c->cfg.inflight < n ? c->cfg.inflight : (unsigned)n;
    size_t *waiting = cairn__calloc(n, sizeof(*waiting)); /* retries, by index */
    if (!att || !waiting) {
        cairn__free(att);
        cairn__free(waiting);
        session_give(c, s);
        return CAIRN_NOMEM;
    }
    bool lane_used[256] = {0}; /* which easy handles are in flight */
    if (lanes > 256)
        lanes = 256;

    size_t next_new = 0, n_waiting = 0, active = 0, done = 0;
    bool detail_set = false;
    for (size_t i = 0; i < n; i++) {
        att[i].req = &reqs[i];
        reqs[i].rc = 0;
        reqs[i].status = 0;
        reqs[i].ambiguous = false;
        reqs[i].attempts = 0;
        reqs[i].etag[0] = 0;
        reqs[i].object_size = 0;
        reqs[i].data = NULL;
        reqs[i].len = 0;
        reqs[i].error_code[0] = 0;
    }

    while (done < n) {
        /* Start what can start: retries whose backoff is over, then new. */
        uint64_t now = now_ms(), next_ready = UINT64_MAX;
        while (active < lanes) {
            size_t pick = SIZE_MAX;
            for (size_t w = 0; w < n_waiting; w++)
                if (att[waiting[w]].ready_ms <= now) {
                    pick = waiting[w];
                    waiting[w] = waiting[--n_waiting];
                    break;
                }
            if (pick == SIZE_MAX && next_new < n)
                pick = next_new++;
            if (pick == SIZE_MAX)
                break;
            struct attempt *a = &att[pick];
            bool probe;
            if (!breaker_allows(c, &probe)) {
                a->req->rc = CAIRN_UNAVAILABLE;
                snprintf(a->cause, sizeof(a->cause),
                         "failing fast: the last %u requests could not reach the service",
                         c->cfg.breaker_threshold);
                if (!detail_set) {
                    set_detail(c, a->req, a->cause);
                    detail_set = true;
                }
                atomic_fetch_add(&c->counters.errors, 1);
                done++;
                continue;
            }
            a->probe = probe;
            unsigned lane = 0;
            while (lane_used[lane])
                lane++;
            if (!s->easy[lane] && !(s->easy[lane] = curl_easy_init())) {
                rc = CAIRN_NOMEM;
                goto out;
            }
            lane_used[lane] = true;
            a->easy = s->easy[lane];
            a->req->attempts++;
            if ((rc = prepare(c, a))) {
                lane_used[lane] = false;
                a->req->rc = rc;
                attempt_release(a);
                if (!detail_set) {
                    set_detail(c, a->req, "the request could not be built");
                    detail_set = true;
                }
                rc = 0;
                done++;
                continue;
            }
            a->started_us = now_us();
            curl_multi_add_handle(s->multi, a->easy);
            active++;
        }
        for (size_t w = 0; w < n_waiting; w++)
            if (att[waiting[w]].ready_ms < next_ready)
                next_ready = att[waiting[w]].ready_ms;
        if (done >= n)
            break;

        /* Drive the transfers, then take what finished; wait only when
         * nothing did (a transfer can finish inside curl_multi_perform,
         * and waiting then would sleep a whole poll timeout for nothing). */
        int running;
        size_t finished = 0;
        curl_multi_perform(s->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            finished++;
            struct attempt *a;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(s->multi, a->easy);
            for (unsigned lane = 0; lane < lanes; lane++)
                if (s->easy[lane] == a->easy)
                    lane_used[lane] = false;
            active--;
            cairn_s3_request *r = a->req;
            uint64_t us = now_us() - a->started_us;
            unsigned bucket = 0;
            while (bucket < 31 && (us >> (bucket + 1)))
                bucket++;
            atomic_fetch_add(&c->counters.latency_us[bucket], 1);
            atomic_fetch_add(&c->counters.requests[r->method], 1);
            atomic_fetch_add(&c->counters.bytes_out, r->body_len);

            cairn__free(r->data); /* a previous attempt's answer */
            r->data = NULL;
            r->len = 0;
            enum verdict v = judge(c, a, cc);
            atomic_fetch_add(&c->counters.bytes_in, r->len);
            bool reached = cc == CURLE_OK && r->status && r->status < 500;
            if (v == RETRY && !a->probe && r->attempts <= (unsigned)c->cfg.retries) {
                attempt_release(a);
                cairn__free(r->data);
                r->data = NULL;
                r->len = 0;
                atomic_fetch_add(&c->counters.retries, 1);
                /* Full jitter: uniform in [0, min(max, base * 2^attempt)). */
                uint64_t ceiling = (uint64_t)c->cfg.backoff_ms << (r->attempts < 20 ? r->attempts : 20);
                if (ceiling > c->cfg.backoff_max_ms)
                    ceiling = c->cfg.backoff_max_ms;
                a->ready_ms = now_ms() + next_random(c) % (ceiling + 1);
                waiting[n_waiting++] = (size_t)(a - att);
                continue;
            }
            breaker_record(c, reached || v == DONE);
            if (r->rc != 0 && r->rc != CAIRN_NOTFOUND && r->rc != CAIRN_CONFLICT) {
                atomic_fetch_add(&c->counters.errors, 1);
                if (!detail_set) {
                    set_detail(c, r, a->cause);
                    detail_set = true;
                }
            }
            attempt_release(a);
            done++;
        }
        if (finished || done >= n)
            continue;
        int timeout = 1000;
        if (next_ready != UINT64_MAX) {
            uint64_t t = now_ms();
            timeout = next_ready <= t ? 0 : (int)(next_ready - t < 1000 ? next_ready - t : 1000);
        }
        if (active)
            curl_multi_poll(s->multi, NULL, 0, timeout, NULL);
        else if (timeout > 0) {
            struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }

out:
    for (size_t i = 0; i < n; i++) {
        if (att[i].easy && rc) {
            curl_multi_remove_handle(s->multi, att[i].easy);
        }
        attempt_release(&att[i]);
    }
    cairn__free(att);
    cairn__free(waiting);
    session_give(c, s);
    return rc;
}

void cairn__s3_request_reset(cairn_s3_request *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cairn__free(reqs[i].data);
        reqs[i].data = NULL;
        reqs[i].len = 0;
        reqs[i].rc = 0;
        reqs[i].status = 0;
        reqs[i].etag[0] = 0;
        reqs[i].error_code[0] = 0;
        reqs[i].attempts = 0;
        reqs[i].ambiguous = false;
        reqs[i].object_size = 0;
    }
}

