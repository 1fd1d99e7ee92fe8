/*
 * s3.c - the S3 tier: blobs in immutable packs, refs in one mutable head
 * object (DESIGN.md 5.1; the layout is specified in docs/format.md). This
 * file parses the spec, opens the tier and serves reads; s3_write.c
 * writes.
 *
 * Reads. The directory (which pack holds which blob) is built from the
 * packs' indexes, each fetched with one ranged GET of exactly its index
 * and footer (the head gives each pack's blob count, so the length is
 * known), all in parallel. A batch of blob reads becomes ranged GETs,
 * neighbours in one pack merged into one GET when the gap between them is
 * at most merge_gap bytes. The stack checks every blob against its id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "error.h"
#include "id.h"
#include "pack.h"
#include "s3_int.h"

#define DEFAULT_PACK_MAX (64u << 20)
#define DEFAULT_MERGE_GAP (64u << 10)
#define DEFAULT_MERGE_AT 16    /* small packs the head may name before a merge */
#define DEFAULT_GRACE_S 3600   /* a merged-away pack stays readable this long */
#define DEFAULT_RANGE_MAX (1u << 20) /* one merged GET reads at most this */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cairn__s3_key(const s3_tier *st, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", st->prefix, name);
}

void cairn__s3_pack_key(const s3_tier *st, const char *pack, char *out, size_t cap)
{
    snprintf(out, cap, "%spacks/%s.pack", st->prefix, pack);
}

/* ---------------------------------------------------------------- spec */

/* Options: what the spec may say. */
typedef struct s3_options {
    cairn_s3_client_config client;
    char bucket[64];
    char prefix[160];
    bool fencing;
    uint64_t pack_max;
    uint64_t merge_gap;
    uint64_t range_max;
    uint64_t merge_at;
    uint64_t grace_s;
    char addressing[16];
    char write[16];
} s3_options;

static int parse_uint(const char *key, const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(val, &end, 10);
    if (!*val || *end || v < min || v > max || val[0] == '-')
        return cairn__fail(CAIRN_BADSPEC, "s3: %s must be a whole number in [%llu, %llu], not '%s'",
                           key, (unsigned long long)min, (unsigned long long)max, val);
    *out = v;
    return 0;
}

static int s3_option(void *ctx, const char *key, const char *val)
{
    s3_options *o = ctx;
    uint64_t v;
    int rc;

    if (!strcmp(key, "endpoint")) {
        if (strlen(val) >= sizeof(o->client.settings.endpoint))
            return cairn__fail(CAIRN_BADSPEC, "s3: endpoint too long");
        snprintf(o->client.settings.endpoint, sizeof(o->client.settings.endpoint), "%s", val);
    } else if (!strcmp(key, "region")) {
        if (!*val || strlen(val) >= sizeof(o->client.settings.region))
            return cairn__fail(CAIRN_BADSPEC, "s3: bad region '%s'", val);
        snprintf(o->client.settings.region, sizeof(o->client.settings.region), "%s", val);
    } else if (!strcmp(key, "profile")) {
        if (!*val || strlen(val) >= sizeof(o->client.settings.profile))
            return cairn__fail(CAIRN_BADSPEC, "s3: bad profile '%s'", val);
        snprintf(o->client.settings.profile, sizeof(o->client.settings.profile), "%s", val);
    } else if (!strcmp(key, "addressing")) {
        if (strcmp(val, "path") && strcmp(val, "virtual"))
            return cairn__fail(CAIRN_BADSPEC, "s3: addressing must be path or virtual, not '%s'", val);
        snprintf(o->addressing, sizeof(o->addressing), "%s", val);
    } else if (!strcmp(key, "write")) {
        if (strcmp(val, "through") && strcmp(val, "back"))
            return cairn__fail(CAIRN_BADSPEC, "s3: write must be through or back, not '%s'", val);
        snprintf(o->write, sizeof(o->write), "%s", val);
    } else if (!strcmp(key, "fencing")) {
        if (strcmp(val, "on") && strcmp(val, "none"))
            return cairn__fail(CAIRN_BADSPEC, "s3: fencing must be on or none, not '%s'", val);
        o->fencing = !strcmp(val, "on");
    } else if (!strcmp(key, "ca_file")) {
        if (!*val || strlen(val) >= sizeof(o->client.settings.ca_file))
            return cairn__fail(CAIRN_BADSPEC, "s3: ca_file must be a path of 1 to %zu bytes",
                               sizeof(o->client.settings.ca_file) - 1);
        snprintf(o->client.settings.ca_file, sizeof(o->client.settings.ca_file), "%s", val);
    } else if (!strcmp(key, "tls_verify")) {
        if (strcmp(val, "0") && strcmp(val, "1"))
            return cairn__fail(CAIRN_BADSPEC, "s3: tls_verify must be 0 or 1, not '%s'", val);
        o->client.tls_verify = val[0] == '1';
    } else if (!strcmp(key, "timeout")) {
        if ((rc = parse_uint(key, val, 1, 600000, &v)))
            return rc;
        o->client.timeout_ms = (unsigned)v;
    } else if (!strcmp(key, "retries")) {
        if ((rc = parse_uint(key, val, 0, 20, &v)))
            return rc;
        o->client.retries = (int)v;
    } else if (!strcmp(key, "inflight")) {
        if ((rc = parse_uint(key, val, 1, 256, &v)))
            return rc;
        o->client.inflight = (unsigned)v;
    } else if (!strcmp(key, "merge_at")) {
        if ((rc = parse_uint(key, val, 2, 100000, &v)))
            return rc;
        o->merge_at = v;
    } else if (!strcmp(key, "grace")) {
        if ((rc = parse_uint(key, val, 0, 30 * 86400, &v)))
            return rc;
        o->grace_s = v;
    } else if (!strcmp(key, "pack_max") || !strcmp(key, "merge_gap") ||
               !strcmp(key, "range_max")) {
        if (cairn__parse_size(val, &v) || v > (1ull << 32))
            return cairn__fail(CAIRN_BADSPEC, "s3: %s must be a size up to 4G, not '%s'", key, val);
        if (key[0] != 'm' && v < 4096)
            return cairn__fail(CAIRN_BADSPEC, "s3: %s must be at least 4K, not '%s'", key, val);
        if (key[0] == 'p')
            o->pack_max = v;
        else if (key[0] == 'r')
            o->range_max = v;
        else
            o->merge_gap = v;
    } else if (!strcmp(key, "promote")) {
        return cairn__fail(CAIRN_BADSPEC, "s3: promote is for caches; an s3 tier is a store");
    } else {
        return cairn__fail(CAIRN_BADSPEC,
                           "s3: unknown option '%s' (known: endpoint, region, profile, addressing, "
                           "write, fencing, tls_verify, ca_file, timeout, retries, inflight, "
                           "pack_max, merge_gap, range_max, merge_at, grace)",
                           key);
    }
    return 0;
}

static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '.'))
            return false;
    return true;
}

static bool prefix_ok(const char *p)
{
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_./", *p)))
            return false;
    return true;
}

/* Parses "//BUCKET[/PREFIX]" and the options, then resolves the settings. */
static int parse_spec(const cairn_tier_config *cfg, s3_options *o)
{
    int rc;
    memset(o, 0, sizeof(*o));
    o->client.tls_verify = true;
    o->client.retries = -1;
    o->fencing = true;
    o->pack_max = DEFAULT_PACK_MAX;
    o->merge_gap = DEFAULT_MERGE_GAP;
    o->range_max = DEFAULT_RANGE_MAX;
    o->merge_at = DEFAULT_MERGE_AT;
    o->grace_s = DEFAULT_GRACE_S;
    if (strncmp(cfg->arg, "//", 2))
        return cairn__fail(CAIRN_BADSPEC, "s3: want s3://BUCKET[/PREFIX], not 's3:%s'", cfg->arg);
    const char *b = cfg->arg + 2;
    size_t bl = strcspn(b, "/");
    if (bl >= sizeof(o->bucket))
        return cairn__fail(CAIRN_BADSPEC, "s3: bucket name longer than 63 characters");
    memcpy(o->bucket, b, bl);
    o->bucket[bl] = 0;
    if (!bucket_ok(o->bucket))
        return cairn__fail(CAIRN_BADSPEC,
                           "s3: bad bucket name '%s' (3 to 63 of a-z, 0-9, '-' and '.')", o->bucket);
    const char *p = b[bl] == '/' ? b + bl + 1 : "";
    size_t pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    if (pl + 2 > sizeof(o->prefix))
        return cairn__fail(CAIRN_BADSPEC, "s3: prefix longer than %zu characters", sizeof(o->prefix) - 2);
    memcpy(o->prefix, p, pl);
    o->prefix[pl] = 0;
    if (!prefix_ok(o->prefix) || strstr(o->prefix, "//") || o->prefix[0] == '/' ||
        strstr(o->prefix, "..") || !strcmp(o->prefix, "."))
        return cairn__fail(CAIRN_BADSPEC,
                           "s3: bad prefix '%s' (letters, digits, '-', '_', '.', '/'; no empty "
                           "or '..' parts)",
                           o->prefix);
    if (pl)
        strcat(o->prefix, "/");
    if ((rc = cairn__opts_each(cfg->opts, s3_option, o)))
        return rc;
    snprintf(o->client.bucket, sizeof(o->client.bucket), "%s", o->bucket);
    if ((rc = cairn__s3_settings_resolve(&o->client.settings)))
        return rc;
    /* AWS itself prefers virtual-host addressing; a custom endpoint (a
     * local server) usually wants paths. */
    if (o->addressing[0])
        o->client.virtual_host = !strcmp(o->addressing, "virtual");
    else
        o->client.virtual_host = strstr(o->client.settings.endpoint, ".amazonaws.com") != NULL &&
                                 !strchr(o->bucket, '.');
    return 0;
}

/* What check read, handed to open (cfg->checked): its client, whose
 * connections are warm, and the head's answer, so opening a stack costs
 * one head GET, not two. */
typedef struct s3_checked {
    cairn_s3_client *client;
    cairn_s3_request head; /* rc 0 (the head in data) or CAIRN_NOTFOUND */
} s3_checked;

static void checked_free(void *p)
{
    s3_checked *ck = p;
    cairn__s3_client_close(ck->client);
    cairn__s3_request_reset(&ck->head, 1);
    cairn__free(ck);
}

/* Reads the head object into r for check: is there one, does it hold refs. */
static int peek_head(cairn_s3_client *c, const s3_options *o, cairn_s3_request *r, bool *exists,
                     bool *has_refs)
{
    char key[256];
    snprintf(key, sizeof(key), "%shead", o->prefix);
    *r = (cairn_s3_request){.method = CAIRN_S3_GET, .key = key, .max_response = CAIRN_S3_HEAD_MAX};
    int rc = cairn__s3_run(c, r, 1);
    if (!rc)
        rc = r->rc;
    r->key = NULL; /* key is ours, and gone on return */
    *exists = *has_refs = false;
    if (rc == CAIRN_NOTFOUND && !strcmp(r->error_code, "NoSuchBucket"))
        rc = cairn__fail(CAIRN_NOTFOUND, "s3: bucket '%s' does not exist at %s", o->bucket,
                         cairn__s3_endpoint(c));
    else if (rc == CAIRN_NOTFOUND)
        rc = 0;
    else if (!rc) {
        cairn_s3_head h;
        char where[300];
        snprintf(where, sizeof(where), "s3://%s/%shead", o->bucket, o->prefix);
        if (!(rc = cairn__s3_head_decode(where, r->data, r->len, &h))) {
            *exists = true;
            *has_refs = h.n_refs > 0;
            cairn__s3_head_clear(&h);
        }
    } else if (rc == CAIRN_DENIED && r->status) {
        /* The service refused us (without a status, it was the client that
         * refused the service's certificate: the client's detail says so). */
        rc = cairn__fail(CAIRN_DENIED,
                         "s3: %s refused the request for bucket '%s' (%s): check the credentials "
                         "(from %s) and the region '%s'",
                         cairn__s3_endpoint(c), o->bucket, r->error_code[0] ? r->error_code : "denied",
                         o->client.settings.anonymous ? "nowhere: anonymous" : o->client.settings.source,
                         o->client.settings.region);
    }
    return rc;
}

int cairn__s3_check(cairn_tier_config *cfg)
{
    s3_options o;
    s3_checked *ck = NULL;
    bool exists, has_refs;
    int rc;

    if ((rc = parse_spec(cfg, &o)))
        goto out;
    if (!(ck = cairn__calloc(1, sizeof(*ck)))) {
        rc = CAIRN_NOMEM;
        goto out;
    }
    if ((rc = cairn__s3_client_open(&o.client, &ck->client)))
        goto out;
    if ((rc = peek_head(ck->client, &o, &ck->head, &exists, &has_refs)))
        goto out;
    if (!exists && (cfg->open_flags & (CAIRN_RDONLY | CAIRN_EXISTING))) {
        rc = cairn__fail(CAIRN_NOTFOUND, "s3://%s/%s holds no cairn store (no head object)", o.bucket,
                         o.prefix);
        goto out;
    }
    cfg->caps = CAIRN_TIER_DURABLE | CAIRN_TIER_SHARED;
    cfg->holds_store = has_refs;
    cfg->write_back = !strcmp(o.write, "back");
    cfg->checked = ck;
    cfg->checked_free = checked_free;
    ck = NULL;
out:
    if (ck)
        checked_free(ck);
    cairn__s3_settings_wipe(&o.client.settings);
    return rc;
}

/* ---------------------------------------------------------------- head */

/* Takes in the answer to a GET of the head (r: rc as the request ended):
 * no head, unchanged (304), or a new head to decode. Sets *changed. */
static int head_take(s3_tier *st, const cairn_s3_request *r, int rc, bool *changed)
{
    *changed = false;
    if (rc == CAIRN_NOTFOUND && strcmp(r->error_code, "NoSuchBucket")) {
        pthread_mutex_lock(&st->mu);
        *changed = st->head_exists;
        cairn__s3_head_clear(&st->head);
        st->head_exists = false;
        st->etag[0] = 0;
        st->head_read_ms = now_ms();
        pthread_mutex_unlock(&st->mu);
        rc = 0;
    } else if (!rc && r->status == 304) {
        pthread_mutex_lock(&st->mu);
        st->head_read_ms = now_ms();
        pthread_mutex_unlock(&st->mu);
    } else if (!rc) {
        cairn_s3_head h;
        char where[300];
        snprintf(where, sizeof(where), "%s/head", st->where);
        if (!(rc = cairn__s3_head_decode(where, r->data, r->len, &h))) {
            pthread_mutex_lock(&st->mu);
            *changed = !st->head_exists || strcmp(st->head.nonce, h.nonce) != 0;
            cairn__s3_head_clear(&st->head);
            st->head = h;
            st->head_exists = true;
            snprintf(st->etag, sizeof(st->etag), "%s", r->etag);
            st->head_read_ms = now_ms();
            pthread_mutex_unlock(&st->mu);
        }
    }
    return rc;
}

int cairn__s3_head_fetch(s3_tier *st, bool conditional, bool *changed)
{
    char key[256];
    char etag[80];
    cairn__s3_key(st, "head", key, sizeof(key));
    pthread_mutex_lock(&st->mu);
    snprintf(etag, sizeof(etag), "%s", st->etag);
    pthread_mutex_unlock(&st->mu);
    cairn_s3_request r = {.method = CAIRN_S3_GET, .key = key, .max_response = CAIRN_S3_HEAD_MAX,
                          .if_none_match = conditional && etag[0] ? etag : NULL};
    int rc = cairn__s3_run(st->client, &r, 1);
    rc = head_take(st, &r, rc ? rc : r.rc, changed);
    cairn__s3_request_reset(&r, 1);
    return rc;
}

/* A reader's refresh: a conditional GET of the head (304 when nothing
 * changed: an idle follower costs one small request a poll), and the
 * directory brought along when it did. A writer's head is its own. */
static int s3_refresh(cairn_tier *t)
{
    s3_tier *st = (s3_tier *)t;
    if (st->claimed)
        return 0;
    bool changed;
    int rc = cairn__s3_head_fetch(st, true, &changed);
    if (rc || !changed)
        return rc;
    pthread_mutex_lock(&st->mu);
    if (st->dir_loaded)
        rc = cairn__s3_dir_sync(st);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---------------------------------------------------------------- reads */

/* One blob to fetch: where it is and where its bytes go. */
struct want {
    size_t i; /* index into the caller's ids */
    uint32_t pack;
    uint32_t length;
    uint64_t offset;
};

static int want_cmp(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    if (x->pack != y->pack)
        return x->pack < y->pack ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void free_outs(cairn_buf *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cairn__free(out[i].data);
        out[i].data = NULL;
        out[i].len = 0;
    }
}

/* One round of reads; *gone is set when a pack the directory names was
 * not found (merged and deleted since this handle read the head). */
/* ---- single flight: one request for a blob however many threads want it */

static size_t flight_bucket(const cairn_id *id)
{
    return cairn__id_hash(id) % S3_FLIGHT_BUCKETS;
}

/* The flight fetching id, or NULL. Caller holds mu. */
static s3_flight *flight_find(s3_tier *st, const cairn_id *id)
{
    for (s3_flight *f = st->flights[flight_bucket(id)]; f; f = f->next)
        if (cairn__id_eq(&f->id, id))
            return f;
    return NULL;
}

static s3_flight *flight_start(s3_tier *st, const cairn_id *id)
{
    s3_flight *f = cairn__calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->id = *id;
    f->next = st->flights[flight_bucket(id)];
    st->flights[flight_bucket(id)] = f;
    return f;
}

/* Ends the flights this call started: waiting callers get a copy of the
 * result (or its error); a flight nobody joined is freed at once. */
static void flights_land(s3_tier *st, s3_flight **mine, size_t n, const struct want *wants,
                         const cairn_buf *out, int rc)
{
    pthread_mutex_lock(&st->mu);
    for (size_t w = 0; w < n; w++) {
        s3_flight *f = mine[w];
        if (!f)
            continue;
        for (s3_flight **p = &st->flights[flight_bucket(&f->id)]; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        if (!f->waiters) {
            cairn__free(f);
            continue;
        }
        const cairn_buf *b = &out[wants[w].i];
        f->rc = rc;
        if (!rc && b->data && !(f->data = cairn__memdup(b->data, b->len ? b->len : 1)))
            f->rc = CAIRN_NOMEM;
        f->len = b->len;
        f->done = true;
    }
    pthread_cond_broadcast(&st->flight_done);
    pthread_mutex_unlock(&st->mu);
}

/* Waits for a flight another call started and takes a copy of its result. */
static int flight_wait(s3_tier *st, s3_flight *f, cairn_buf *out)
{
    int rc;
    pthread_mutex_lock(&st->mu);
    while (!f->done)
        pthread_cond_wait(&st->flight_done, &st->mu);
    rc = f->rc;
    if (!rc && f->data) {
        if ((out->data = cairn__memdup(f->data, f->len ? f->len : 1)))
            out->len = f->len;
        else
            rc = CAIRN_NOMEM;
    }
    if (--f->waiters == 0) {
        cairn__free(f->data);
        cairn__free(f);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int get_once(s3_tier *st, const cairn_id *ids, size_t n, cairn_buf *out, bool *gone)
{
    struct want *wants = NULL;
    s3_flight **mine = NULL;   /* per want: the flight this call started */
    s3_flight **joined = NULL; /* per id: a flight another call started */
    cairn_s3_request *reqs = NULL;
    char(*keys)[256] = NULL;
    size_t *first = NULL; /* the first want of each request */
    size_t n_wants = 0, n_reqs = 0;
    int rc;

    for (size_t i = 0; i < n; i++)
        out[i] = (cairn_buf){0};
    if (!(wants = cairn__calloc(n ? n : 1, sizeof(*wants))) ||
        !(joined = cairn__calloc(n ? n : 1, sizeof(*joined)))) {
        cairn__free(wants);
        return CAIRN_NOMEM;
    }

    pthread_mutex_lock(&st->mu);
    if ((rc = cairn__s3_dir_ensure(st))) {
        pthread_mutex_unlock(&st->mu);
        goto done;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        /* (an id wanted twice in one call joins its own first flight) */
        const s3_pending *p = cairn__s3_pending_find(st, &ids[i]);
        const s3_dir_entry *e;
        if (p) {
            if (!(out[i].data = cairn__memdup(p->data, p->len ? p->len : 1)))
                rc = CAIRN_NOMEM;
            out[i].len = p->len;
        } else if ((joined[i] = flight_find(st, &ids[i]))) {
            joined[i]->waiters++;
        } else if ((e = cairn__s3_dir_find(st, &ids[i]))) {
            wants[n_wants++] = (struct want){i, e->pack, e->length, e->offset};
            if (!flight_start(st, &ids[i]))
                rc = CAIRN_NOMEM;
        }
    }
    /* Keys are built under mu: the pack table may grow meanwhile. */
    if (!rc && n_wants) {
        qsort(wants, n_wants, sizeof(*wants), want_cmp);
        if (!(mine = cairn__calloc(n_wants, sizeof(*mine))))
            rc = CAIRN_NOMEM;
        for (size_t w = 0; !rc && w < n_wants; w++)
            mine[w] = flight_find(st, &ids[wants[w].i]);
        if (!(reqs = cairn__calloc(n_wants, sizeof(*reqs))) ||
            !(keys = cairn__calloc(n_wants, sizeof(*keys))) ||
            !(first = cairn__calloc(n_wants + 1, sizeof(*first))))
            rc = CAIRN_NOMEM;
        for (size_t w = 0; !rc && w < n_wants;) {
            size_t end = w + 1;
            uint64_t from = wants[w].offset, to = from + wants[w].length;
            while (end < n_wants && wants[end].pack == wants[w].pack &&
                   wants[end].offset <= to + st->merge_gap &&
                   wants[end].offset + wants[end].length - from <= st->range_max) {
                if (wants[end].offset + wants[end].length > to)
                    to = wants[end].offset + wants[end].length;
                end++;
            }
            cairn__s3_pack_key(st, st->dir_packs[wants[w].pack].name, keys[n_reqs], sizeof(keys[0]));
            reqs[n_reqs] = (cairn_s3_request){.method = CAIRN_S3_GET, .key = keys[n_reqs],
                                              .range_from = from, .range_len = to - from,
                                              .max_response = (size_t)(to - from)};
            first[n_reqs++] = w;
            w = end;
        }
        if (first)
            first[n_reqs] = n_wants;
    }
    pthread_mutex_unlock(&st->mu);
    if (rc || !n_wants || (rc = cairn__s3_run(st->client, reqs, n_reqs)))
        goto land;
    for (size_t r = 0; r < n_reqs && !rc; r++) {
        if (reqs[r].rc == CAIRN_NOTFOUND) {
            *gone = true; /* merged and deleted: absent, unless a new head says */
            continue;
        }
        if ((rc = reqs[r].rc))
            break;
        for (size_t w = first[r]; w < first[r + 1]; w++) {
            uint64_t at = wants[w].offset - reqs[r].range_from;
            if (at + wants[w].length > reqs[r].len)
                continue; /* short answer: absent; the stack reports it */
            size_t i = wants[w].i;
            if (!(out[i].data = cairn__memdup(reqs[r].data + at, wants[w].length ? wants[w].length : 1))) {
                rc = CAIRN_NOMEM;
                break;
            }
            out[i].len = wants[w].length;
        }
    }
land:
    /* Every flight started is landed and every one joined waited for,
     * whatever happened above: other threads depend on it. */
    if (mine)
        flights_land(st, mine, n_wants, wants, out, rc);
    for (size_t i = 0; i < n; i++) {
        int joined_rc;
        if (joined[i] && (joined_rc = flight_wait(st, joined[i], &out[i])) && !rc)
            rc = joined_rc;
    }
done:
    if (reqs)
        cairn__s3_request_reset(reqs, n_reqs);
    cairn__free(reqs);
    cairn__free(keys);
    cairn__free(first);
    cairn__free(wants);
    cairn__free(mine);
    cairn__free(joined);
    if (rc)
        free_outs(out, n);
    return rc;
}

static int s3_refresh(cairn_tier *t);

/* Reads blobs; if a pack had gone (a merge retired it and its grace period
 * passed while this reader kept an old head), refreshes the head once and
 * reads what is still missing from the packs it names now. */
static int s3_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out)
{
    s3_tier *st = (s3_tier *)t;
    bool gone = false;
    int rc = get_once(st, ids, n, out, &gone);
    if (rc == CAIRN_CORRUPT && st->pack_vanished && !st->claimed) {
        /* The directory could not load: a pack of an old head is gone. */
        st->pack_vanished = false;
        if ((rc = s3_refresh(t)))
            return rc;
        rc = get_once(st, ids, n, out, &gone);
    }
    if (rc || !gone || st->claimed)
        return rc;
    if ((rc = s3_refresh(t))) {
        free_outs(out, n);
        return rc;
    }
    size_t n_miss = 0;
    for (size_t i = 0; i < n; i++)
        n_miss += !out[i].data;
    if (!n_miss)
        return 0;
    cairn_id *miss = cairn__calloc(n_miss, sizeof(*miss));
    cairn_buf *got = cairn__calloc(n_miss, sizeof(*got));
    if (!miss || !got) {
        rc = CAIRN_NOMEM;
        goto done;
    }
    for (size_t i = 0, j = 0; i < n; i++)
        if (!out[i].data)
            miss[j++] = ids[i];
    gone = false;
    if ((rc = get_once(st, miss, n_miss, got, &gone)))
        goto done;
    for (size_t i = 0, j = 0; i < n; i++)
        if (!out[i].data)
            out[i] = got[j++];
done:
    cairn__free(miss);
    cairn__free(got);
    if (rc)
        free_outs(out, n);
    return rc;
}

static int s3_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out)
{
    s3_tier *st = (s3_tier *)t;
    int rc;
    pthread_mutex_lock(&st->mu);
    if (!(rc = cairn__s3_dir_ensure(st)))
        for (size_t i = 0; i < n; i++)
            out[i] = cairn__s3_pending_find(st, &ids[i]) || cairn__s3_dir_find(st, &ids[i]);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int s3_ref_get(cairn_tier *t, const char *name, cairn_id *out)
{
    s3_tier *st = (s3_tier *)t;
    pthread_mutex_lock(&st->mu);
    const cairn_s3_ref *r = cairn__s3_head_ref(&st->head, name);
    if (r)
        *out = r->id;
    pthread_mutex_unlock(&st->mu);
    return r ? 0 : CAIRN_NOTFOUND;
}

static int s3_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    s3_tier *st = (s3_tier *)t;
    cairn_s3_head copy;
    int rc;
    /* A copy: fn may call back into the tier. */
    pthread_mutex_lock(&st->mu);
    rc = cairn__s3_head_copy(&st->head, &copy);
    pthread_mutex_unlock(&st->mu);
    if (rc)
        return rc;
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < copy.n_refs && !rc; i++)
        if (!strncmp(copy.refs[i].name, prefix, pl))
            rc = fn(ctx, copy.refs[i].name, &copy.refs[i].id);
    cairn__s3_head_clear(&copy);
    return rc;
}

static int s3_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx)
{
    s3_tier *st = (s3_tier *)t;
    s3_dir_entry *copy = NULL;
    s3_pending *pend = NULL;
    size_t n = 0, n_pend = 0;
    int rc;

    pthread_mutex_lock(&st->mu);
    if (!(rc = cairn__s3_dir_ensure(st))) {
        n = st->n_dir;
        n_pend = st->n_pending;
        if ((n && !(copy = cairn__memdup(st->dir, n * sizeof(*copy)))) ||
            (n_pend && !(pend = cairn__memdup(st->pending, n_pend * sizeof(*pend)))))
            rc = CAIRN_NOMEM;
        /* pending data pointers are not used below: only ids and lengths */
    }
    pthread_mutex_unlock(&st->mu);
    for (size_t i = 0; !rc && i < n; i++)
        if (!(copy[i].pack & S3_DIR_DEAD))
            rc = fn(ctx, &copy[i].id, copy[i].length);
    for (size_t i = 0; !rc && i < n_pend; i++)
        rc = fn(ctx, &pend[i].id, pend[i].len);
    cairn__free(copy);
    cairn__free(pend);
    return rc;
}

static int s3_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes)
{
    s3_tier *st = (s3_tier *)t;
    int rc;
    pthread_mutex_lock(&st->mu);
    if (!(rc = cairn__s3_dir_ensure(st))) {
        uint64_t sum = st->pending_bytes;
        for (size_t i = 0; i < st->n_dir; i++)
            if (!(st->dir[i].pack & S3_DIR_DEAD))
                sum += st->dir[i].length;
        *blobs = st->n_dir - st->n_dead + st->n_pending;
        *bytes = sum;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void s3_remote_stats(cairn_tier *t, cairn_tier_stats *out)
{
    s3_tier *st = (s3_tier *)t;
    const cairn_s3_counters *c = cairn__s3_counters(st->client);
    out->remote = true;
    out->req_get = atomic_load(&c->requests[CAIRN_S3_GET]);
    out->req_put = atomic_load(&c->requests[CAIRN_S3_PUT]);
    out->req_head = atomic_load(&c->requests[CAIRN_S3_HEAD]);
    out->req_delete = atomic_load(&c->requests[CAIRN_S3_DELETE]);
    out->req_post = atomic_load(&c->requests[CAIRN_S3_POST]);
    out->bytes_in = atomic_load(&c->bytes_in);
    out->bytes_out = atomic_load(&c->bytes_out);
    out->errors = atomic_load(&c->errors);
    out->retries = atomic_load(&c->retries);
    out->breaker_trips = atomic_load(&c->breaker_trips);
    out->latency_p50_us = cairn__latency_quantile(c->latency_us, 0.50);
    out->latency_p99_us = cairn__latency_quantile(c->latency_us, 0.99);
    pthread_mutex_lock(&st->mu);
    out->pending_blobs = st->n_pending;
    out->pending_bytes = st->pending_bytes;
    pthread_mutex_unlock(&st->mu);
}

static void s3_close(cairn_tier *t)
{
    s3_tier *st = (s3_tier *)t;
    cairn__s3_client_close(st->client);
    cairn__s3_head_clear(&st->head);
    cairn__free(st->dir);
    cairn__free(st->dir_packs);
    cairn__free(st->unnamed);
    cairn__free(st->deleted);
    cairn__s3_pending_free(st);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->write_mu);
    pthread_cond_destroy(&st->flight_done);
    cairn__free(st);
}

static void s3_identity(cairn_tier *t, char *out, size_t cap)
{
    s3_tier *st = (s3_tier *)t;
    snprintf(out, cap, "s3 %s %s/%s", cairn__s3_endpoint(st->client), st->bucket, st->prefix);
}

static const cairn_tier_methods s3_methods = {
    .version = 2,
    .name = "s3",
    .get_many = s3_get_many,
    .put_many = cairn__s3_put_many,
    .ref_get = s3_ref_get,
    .ref_cas = cairn__s3_ref_cas,
    .ref_list = s3_ref_list,
    .sync = cairn__s3_sync,
    .close = s3_close,
    .has_many = s3_has_many,
    .scan_ids = s3_scan_ids,
    .publish = cairn__s3_publish,
    .writer_lock = cairn__s3_writer_lock,
    .usage = s3_usage,
    .refresh = s3_refresh,
    .remote_stats = s3_remote_stats,
    .remove_many = cairn__s3_remove_many,
    .reclaim = cairn__s3_reclaim,
    .identity = s3_identity,
    .ref_cas_many = cairn__s3_ref_cas_many,
    .pin_put = cairn__s3_pin_put,
    .pin_list = cairn__s3_pin_list,
    .pin_delete = cairn__s3_pin_delete,
};

int cairn__s3_open(const cairn_tier_config *cfg, cairn_tier **out)
{
    s3_options o;
    s3_tier *st;
    int rc;
    bool changed;

    *out = NULL;
    if ((rc = parse_spec(cfg, &o)))
        goto fail_opts;
    if (!(st = cairn__calloc(1, sizeof(*st)))) {
        rc = CAIRN_NOMEM;
        goto fail_opts;
    }
    st->base.m = &s3_methods;
    snprintf(st->bucket, sizeof(st->bucket), "%s", o.bucket);
    snprintf(st->prefix, sizeof(st->prefix), "%s", o.prefix);
    snprintf(st->where, sizeof(st->where), "s3://%s/%.*s", o.bucket,
             (int)(strlen(o.prefix) ? strlen(o.prefix) - 1 : 0), o.prefix);
    st->rdonly = cfg->open_flags & CAIRN_RDONLY;
    st->fencing = o.fencing;
    st->pack_max = o.pack_max;
    st->merge_gap = o.merge_gap;
    st->range_max = o.range_max;
    st->merge_at = o.merge_at;
    st->grace_s = o.grace_s;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_cond_init(&st->flight_done, NULL);
    /* The check's client and head when it left them (a stack's open),
     * else a client of our own and a fresh head. */
    s3_checked *ck = cfg->checked;
    if (ck && ck->client) {
        st->client = ck->client;
        ck->client = NULL;
        rc = head_take(st, &ck->head, ck->head.rc, &changed);
    } else if (!(rc = cairn__s3_client_open(&o.client, &st->client)))
        rc = cairn__s3_head_fetch(st, false, &changed);
    if (rc)
        goto fail;
    cairn__s3_settings_wipe(&o.client.settings);
    *out = &st->base;
    return 0;

fail:
    s3_close(&st->base);
fail_opts:
    cairn__s3_settings_wipe(&o.client.settings);
    return rc;
}
