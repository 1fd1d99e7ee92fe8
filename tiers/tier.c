/*
 * tier.c - opening a tier from its spec, and the wrappers through which
 * every tier method is called: argument checks, counters, defaults for the
 * optional methods, and test fault injection (SQLite's os.c plays this part
 * for its VFS).
 */
#include "alloc.h"
#include "tier.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* ---------------------------------------------------------------- opening */

typedef struct backend {
    const char *scheme;
    int (*check)(cairn_tier_config *cfg);
    int (*open)(const cairn_tier_config *cfg, cairn_tier **out);
} backend;

static const backend backends[] = {
    {"mem", cairn__mem_check, cairn__mem_open},
    {"lmdb", cairn__lmdb_check, cairn__lmdb_open},
    {"file", cairn__file_check, cairn__file_open},
    {"s3", cairn__s3_check, cairn__s3_open},
    {"redis", cairn__redis_check, cairn__redis_open},
    {"rediss", cairn__redis_check, cairn__redis_open}, /* refused: no TLS (redis.c) */
};

static const backend *find_backend(const char *scheme)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i].scheme, scheme) == 0)
            return &backends[i];
    return NULL;
}

/* Splits spec into scheme, arg and options. The scheme ends at the first
 * ':' or '?'; the arg runs from after the ':' to the first '?'. A BADSPEC
 * from the backend gets the whole spec as context, so the detail reads
 * "spec 'mem:1X': mem: bad capacity ...". */
int cairn__tier_parse(const char *spec, unsigned open_flags, cairn_tier_config *cfg)
{
    const backend *be;
    size_t scheme_len;
    const char *q;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    if (!spec || !*spec)
        return cairn__fail(CAIRN_BADSPEC, "empty tier spec");
    if (strlen(spec) >= sizeof(cfg->spec))
        return cairn__fail(CAIRN_BADSPEC, "spec '%.60s...': longer than %zu bytes", spec,
                           sizeof(cfg->spec) - 1);
    snprintf(cfg->spec, sizeof(cfg->spec), "%s", spec);
    cfg->open_flags = open_flags;
    scheme_len = strcspn(spec, ":?");
    q = strchr(spec, '?');
    if (scheme_len < sizeof(cfg->scheme))
        memcpy(cfg->scheme, spec, scheme_len);
    if (!(be = find_backend(cfg->scheme)))
        return cairn__fail(CAIRN_BADSPEC,
                           "spec '%s': unknown tier '%.*s' (known: mem, lmdb, file, s3, redis)", spec,
                           (int)scheme_len, spec);
    if (spec[scheme_len] == ':')
        snprintf(cfg->arg, sizeof(cfg->arg), "%.*s",
                 (int)((q ? (size_t)(q - spec) : strlen(spec)) - scheme_len - 1),
                 spec + scheme_len + 1);
    if (q)
        snprintf(cfg->opts, sizeof(cfg->opts), "%s", q + 1);
    if ((rc = be->check(cfg)) && rc == CAIRN_BADSPEC) {
        char shown[sizeof(cfg->spec)];
        cairn__fail_context(rc, "spec '%s'", cairn_spec_redact(spec, shown, sizeof(shown)));
    }
    if (rc)
        cairn__tier_config_clear(cfg);
    return rc;
}

int cairn__tier_open_config(const cairn_tier_config *cfg, cairn_tier **out)
{
    const backend *be = find_backend(cfg->scheme);
    cairn_tier *t;
    int rc;

    *out = NULL;
    if (!be)
        return cairn__fail(CAIRN_BADSPEC, "spec '%s': unknown tier", cfg->spec);
    if ((rc = be->open(cfg, &t))) {
        if (rc == CAIRN_BADSPEC)
            cairn__fail_context(rc, "spec '%s'", cfg->spec);
        return rc;
    }
    snprintf(t->spec, sizeof(t->spec), "%s", cfg->spec);
    t->capacity = cfg->capacity;
    t->is_cache = cfg->is_cache;
    *out = t;
    return 0;
}

void cairn__tier_config_clear(cairn_tier_config *cfg)
{
    if (cfg->checked && cfg->checked_free)
        cfg->checked_free(cfg->checked);
    cfg->checked = NULL;
}

int cairn__tier_open(const char *spec, unsigned open_flags, cairn_tier **out)
{
    cairn_tier_config cfg;
    int rc;

    *out = NULL;
    if (!(rc = cairn__tier_parse(spec, open_flags, &cfg))) {
        cfg.is_cache = cfg.capacity != 0;
        if (!cfg.role_check || !(rc = cfg.role_check(&cfg)))
            rc = cairn__tier_open_config(&cfg, out);
    }
    cairn__tier_config_clear(&cfg);
    return rc;
}

/* ---------------------------------------------------------------- faults */

/* One armed fault for the whole process. calls_left counts down matching
 * calls; the call that takes it from 1 to 0 fails, and with forever set so
 * does every matching call after it. The method name is set before
 * calls_left is published, so a racing reader that sees a nonzero count
 * also sees the name it belongs to. */
static char fault_method[32];
static _Atomic int fault_rc, fault_kind;
static _Atomic bool fault_forever, fault_fired, fault_hit;
static _Atomic uint64_t fault_calls_left;
static _Atomic uint64_t fault_seen;

void cairn__tier_fault_arm_kind(const char *method, uint64_t n, int rc, int kind, bool forever)
{
    atomic_store(&fault_calls_left, 0);
    atomic_store(&fault_seen, 0);
    atomic_store(&fault_fired, false);
    atomic_store(&fault_hit, false);
    snprintf(fault_method, sizeof(fault_method), "%s", method ? method : "*");
    atomic_store(&fault_rc, rc);
    atomic_store(&fault_kind, kind);
    atomic_store(&fault_forever, forever);
    atomic_store(&fault_calls_left, n);
}

void cairn__tier_fault_arm(const char *method, uint64_t n, int rc)
{
    cairn__tier_fault_arm_kind(method, n, rc, CAIRN_FAULT_FAIL, false);
}

void cairn__tier_fault_arm_forever(const char *method, uint64_t n, int rc)
{
    cairn__tier_fault_arm_kind(method, n, rc, CAIRN_FAULT_FAIL, true);
}

bool cairn__tier_fault_fired(void)
{
    return atomic_load(&fault_hit);
}

uint64_t cairn__tier_fault_seen(void)
{
    return atomic_load(&fault_seen);
}

/* Returns the armed rc if this call is the one that must fail, else 0. */
static int fault_check(const char *method)
{
    uint64_t left = atomic_load(&fault_calls_left);

    if (left == 0 && !atomic_load(&fault_fired))
        return 0;
    if (strcmp(fault_method, "*") != 0 && strcmp(fault_method, method) != 0)
        return 0;
    atomic_fetch_add(&fault_seen, 1);
    if (left == 0) /* fired, and forever */
        return cairn__fail(atomic_load(&fault_rc), "injected fault in %s", method);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&fault_calls_left, &left, left - 1)) {
            if (left != 1)
                return 0;
            if (atomic_load(&fault_forever))
                atomic_store(&fault_fired, true);
            atomic_store(&fault_hit, true);
            if (atomic_load(&fault_kind) == CAIRN_FAULT_KILL)
                raise(SIGKILL);
            return cairn__fail(atomic_load(&fault_rc), "injected fault in %s", method);
        }
    }
    return 0;
}

/* The kind of the fault that just fired (fault_check returned nonzero). */
static int fault_kind_now(void)
{
    return atomic_load(&fault_kind);
}

/* ---------------------------------------------------------------- checks */

static int check_ids(const char *method, const void *ids, size_t n, const void *out)
{
    if (n && (!ids || !out))
        return cairn__fail(CAIRN_BADARG, "%s: NULL array for %zu items", method, n);
    return 0;
}

/* Ref names: non-empty, no longer than CAIRN_NAME_MAX + 16 bytes. */
static int check_ref_name(const char *method, const char *name)
{
    size_t len;

    if (!name || !*name)
        return cairn__fail(CAIRN_BADARG, "%s: empty ref name", method);
    if ((len = strlen(name)) > CAIRN_NAME_MAX + 16)
        return cairn__fail(CAIRN_BADARG, "%s: ref name of %zu bytes (at most %d)", method,
                           len, CAIRN_NAME_MAX + 16);
    return 0;
}

/* ---------------------------------------------------------------- wrappers */

/* Clears out[] first, so a backend only fills what it finds and an error
 * leaves every entry NULL. Counts gets, hits, misses and bytes read. */
int cairn__tier_get_many(cairn_tier *t, const cairn_id *ids, size_t n, cairn_buf *out)
{
    uint64_t hits = 0, bytes = 0;
    bool flip = false;
    int rc;

    if ((rc = check_ids("get_many", ids, n, out)))
        return rc;
    if (n == 0)
        return 0;
    memset(out, 0, n * sizeof(*out));
    if ((rc = fault_check("get_many"))) {
        if (fault_kind_now() != CAIRN_FAULT_FLIP)
            return rc;
        cairn__detail_clear();
        flip = true;
    }
    if ((rc = t->m->get_many(t, ids, n, out))) {
        for (size_t i = 0; i < n; i++) {
            cairn__free(out[i].data);
            out[i].data = NULL;
            out[i].len = 0;
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (out[i].data && flip && out[i].len) {
            ((uint8_t *)out[i].data)[out[i].len / 2] ^= 0x01;
            flip = false;
        }
        if (out[i].data) {
            hits++;
            bytes += out[i].len;
        }
    }
    atomic_fetch_add(&t->counters.gets, n);
    atomic_fetch_add(&t->counters.hits, hits);
    atomic_fetch_add(&t->counters.misses, n - hits);
    atomic_fetch_add(&t->counters.get_bytes, bytes);
    return 0;
}

static void count_puts(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    uint64_t bytes = 0;

    for (size_t i = 0; i < n; i++)
        bytes += blobs[i].len;
    atomic_fetch_add(&t->counters.puts, n);
    atomic_fetch_add(&t->counters.put_bytes, bytes);
}

int cairn__tier_put_many(cairn_tier *t, const cairn_blob *blobs, size_t n)
{
    int rc;

    if ((rc = check_ids("put_many", blobs, n, blobs)))
        return rc;
    if (n == 0)
        return 0;
    if ((rc = fault_check("put_many"))) {
        if (fault_kind_now() == CAIRN_FAULT_SHORT && n / 2 && t->m->put_many(t, blobs, n / 2))
            cairn__detail_clear();
        return cairn__fail(rc, "injected fault in put_many%s",
                           fault_kind_now() == CAIRN_FAULT_SHORT ? " (half written)" : "");
    }
    if ((rc = t->m->put_many(t, blobs, n)))
        return rc;
    count_puts(t, blobs, n);
    return 0;
}

/* The default has_many reads the blobs and throws them away. */
int cairn__tier_has_many(cairn_tier *t, const cairn_id *ids, size_t n, bool *out)
{
    cairn_buf one;
    int rc;

    if ((rc = check_ids("has_many", ids, n, out)))
        return rc;
    if (n == 0)
        return 0;
    if ((rc = fault_check("has_many")))
        return rc;
    if (t->m->has_many)
        return t->m->has_many(t, ids, n, out);
    for (size_t i = 0; i < n; i++) {
        one.data = NULL;
        if ((rc = t->m->get_many(t, &ids[i], 1, &one)))
            return rc;
        out[i] = one.data != NULL;
        cairn__free(one.data);
    }
    return 0;
}

int cairn__tier_remove_many(cairn_tier *t, const cairn_id *ids, size_t n)
{
    int rc;

    if ((rc = check_ids("remove_many", ids, n, ids)))
        return rc;
    if (n == 0)
        return 0;
    if ((rc = fault_check("remove_many")))
        return rc;
    if (!t->m->remove_many)
        return cairn__fail(-ENOTSUP, "tier '%s' cannot remove blobs", t->spec);
    return t->m->remove_many(t, ids, n);
}

int cairn__tier_reclaim(cairn_tier *t, cairn_reclaim_result *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = fault_check("reclaim")))
        return rc;
    return t->m->reclaim ? t->m->reclaim(t, out) : 0;
}

void cairn__tier_identity(cairn_tier *t, char *out, size_t cap)
{
    if (t->m->identity)
        t->m->identity(t, out, cap);
    else
        snprintf(out, cap, "%s pid %ld at %p", t->spec, (long)getpid(), (void *)t);
}

int cairn__tier_scan_ids(cairn_tier *t, cairn_id_visitor fn, void *ctx)
{
    int rc;

    if (!fn)
        return cairn__fail(CAIRN_BADARG, "scan_ids: NULL visitor");
    if ((rc = fault_check("scan_ids")))
        return rc;
    if (!t->m->scan_ids)
        return cairn__fail(-ENOTSUP, "tier '%s' cannot list its blobs", t->spec);
    return t->m->scan_ids(t, fn, ctx);
}

/* The default scan_from: every id from scan_ids, sorted. */
struct id_list {
    cairn_id *ids;
    size_t *lens;
    size_t n, cap;
};

static int id_list_add(void *ctx, const cairn_id *id, size_t len)
{
    struct id_list *l = ctx;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        cairn_id *ids = cairn__realloc(l->ids, cap * sizeof(*ids));
        size_t *lens = ids ? cairn__realloc(l->lens, cap * sizeof(*lens)) : NULL;
        if (ids)
            l->ids = ids;
        if (!ids || !lens)
            return cairn__fail(CAIRN_NOMEM, "out of memory listing %zu blobs", cap);
        l->lens = lens;
        l->cap = cap;
    }
    l->ids[l->n] = *id;
    l->lens[l->n++] = len;
    return 0;
}

static int id_order(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cairn_id));
}

int cairn__tier_scan_from(cairn_tier *t, const cairn_id *from, cairn_id_visitor fn, void *ctx)
{
    struct id_list l = {0};
    int rc;

    if (!fn || !from)
        return cairn__fail(CAIRN_BADARG, "scan_from: NULL visitor or start");
    if ((rc = fault_check("scan_from")))
        return rc;
    if (t->m->scan_from)
        return t->m->scan_from(t, from, fn, ctx);
    if (!t->m->scan_ids)
        return cairn__fail(-ENOTSUP, "tier '%s' cannot list its blobs", t->spec);
    if ((rc = t->m->scan_ids(t, id_list_add, &l)) == 0) {
        /* the lengths travel with the ids: sort pairs by id */
        struct pair {
            cairn_id id;
            size_t len;
        } *pairs = cairn__malloc((l.n ? l.n : 1) * sizeof(*pairs));
        if (!pairs) {
            rc = cairn__fail(CAIRN_NOMEM, "out of memory sorting %zu blobs", l.n);
        } else {
            for (size_t i = 0; i < l.n; i++)
                pairs[i] = (struct pair){l.ids[i], l.lens[i]};
            qsort(pairs, l.n, sizeof(*pairs), id_order);
            for (size_t i = 0; i < l.n && !rc; i++)
                if (memcmp(&pairs[i].id, from, sizeof(*from)) >= 0)
                    rc = fn(ctx, &pairs[i].id, pairs[i].len);
            cairn__free(pairs);
        }
    }
    cairn__free(l.ids);
    cairn__free(l.lens);
    return rc;
}

int cairn__tier_ref_get(cairn_tier *t, const char *name, cairn_id *out)
{
    int rc;

    if ((rc = check_ref_name("ref_get", name)))
        return rc;
    if ((rc = fault_check("ref_get")))
        return rc;
    return t->m->ref_get(t, name, out);
}

int cairn__tier_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                        const cairn_id *new_id)
{
    int rc;

    if ((rc = check_ref_name("ref_cas", name)))
        return rc;
    if ((rc = fault_check("ref_cas")))
        return rc;
    return t->m->ref_cas(t, name, old_id, new_id);
}

int cairn__tier_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n)
{
    int rc;

    for (size_t i = 0; i < n; i++)
        if ((rc = check_ref_name("ref_cas_many", moves[i].name)))
            return rc;
    if (n == 0)
        return 0;
    if ((rc = fault_check("ref_cas")))
        return rc;
    if (t->m->ref_cas_many)
        return t->m->ref_cas_many(t, moves, n);
    for (size_t i = 0; i < n; i++)
        if ((rc = t->m->ref_cas(t, moves[i].name, moves[i].old_id, moves[i].new_id)))
            return rc;
    return 0;
}

int cairn__tier_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    int rc;

    if (!fn)
        return cairn__fail(CAIRN_BADARG, "ref_list: NULL visitor");
    if ((rc = fault_check("ref_list")))
        return rc;
    if (!t->m->ref_list)
        return cairn__fail(-ENOTSUP, "tier '%s' cannot list refs", t->spec);
    return t->m->ref_list(t, prefix ? prefix : "", fn, ctx);
}

/* The default publish is put_many, sync, ref_cas: the ref moves only after
 * the blobs are durable, though not in one step, so a crash between them
 * leaves blobs no ref names (harmless garbage), never the reverse. */
int cairn__tier_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                        const cairn_id *old_id, const cairn_id *new_id)
{
    int rc;

    if ((rc = check_ids("publish", blobs, n, blobs)) || (rc = check_ref_name("publish", ref)))
        return rc;
    if ((rc = fault_check("publish"))) {
        if (fault_kind_now() == CAIRN_FAULT_SHORT && n / 2 && t->m->put_many(t, blobs, n / 2))
            cairn__detail_clear();
        return cairn__fail(rc, "injected fault in publish%s",
                           fault_kind_now() == CAIRN_FAULT_SHORT ? " (half the blobs written)"
                                                                 : "");
    }
    if (t->m->publish) {
        rc = t->m->publish(t, blobs, n, ref, old_id, new_id);
    } else {
        if (n && (rc = t->m->put_many(t, blobs, n)))
            return rc;
        if ((rc = t->m->sync(t)))
            return rc;
        rc = t->m->ref_cas(t, ref, old_id, new_id);
    }
    /* The blobs count as written even when the ref CAS lost: they were. */
    if (rc == 0 || rc == CAIRN_CONFLICT)
        count_puts(t, blobs, n);
    return rc;
}

int cairn__tier_sync(cairn_tier *t)
{
    int rc;

    if ((rc = fault_check("sync")))
        return rc;
    return t->m->sync(t);
}

/* The default writer lock is the tier's own flag: it keeps out other
 * threads and handles of this tier object only. */
int cairn__tier_writer_lock(cairn_tier *t, bool acquire)
{
    int rc;

    /* Releasing cannot fail (a lock left held would lock the store out
     * until this process ends), so no fault is injected there. */
    if (acquire && (rc = fault_check("writer_lock")))
        return rc;
    if (t->m->writer_lock)
        return t->m->writer_lock(t, acquire);
    if (!acquire) {
        atomic_store(&t->locked, false);
        return 0;
    }
    bool expected = false;
    if (!atomic_compare_exchange_strong(&t->locked, &expected, true))
        return cairn__fail(CAIRN_BUSY, "tier '%s' is locked by another writer", t->spec);
    return 0;
}

struct usage_sum {
    uint64_t blobs, bytes;
};

static int usage_visit(void *ctx, const cairn_id *id, size_t len)
{
    struct usage_sum *sum = ctx;

    (void)id;
    sum->blobs++;
    sum->bytes += len;
    return 0;
}

int cairn__tier_refresh(cairn_tier *t)
{
    int rc;

    if ((rc = fault_check("refresh")))
        return rc;
    return t->m->refresh ? t->m->refresh(t) : 0;
}

int cairn__tier_usage(cairn_tier *t, uint64_t *blobs, uint64_t *bytes)
{
    struct usage_sum sum = {0, 0};
    int rc;

    if ((rc = fault_check("usage")))
        return rc;
    if (t->m->usage)
        return t->m->usage(t, blobs, bytes);
    if (!t->m->scan_ids)
        return cairn__fail(-ENOTSUP, "tier '%s' cannot report its usage", t->spec);
    if ((rc = t->m->scan_ids(t, usage_visit, &sum)))
        return rc;
    *blobs = sum.blobs;
    *bytes = sum.bytes;
    return 0;
}

void cairn__tier_close(cairn_tier *t)
{
    if (t)
        t->m->close(t);
}

/* ---------------------------------------------------------------- pins */

cairn_pin_record *cairn__pin_records_add(cairn_pin_records *r, const char *name)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        cairn_pin_record *grown = cairn__realloc(r->v, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        r->v = grown;
        r->cap = cap;
    }
    cairn_pin_record *rec = &r->v[r->n++];
    snprintf(rec->name, sizeof(rec->name), "%.*s", CAIRN_PIN_NAME_MAX, name);
    rec->bytes = NULL;
    rec->len = 0;
    return rec;
}

int cairn__pin_records_emit(cairn_pin_records *r, int rc, cairn_pin_fn fn, void *ctx)
{
    for (size_t i = 0; i < r->n && !rc; i++)
        rc = fn(ctx, r->v[i].name, r->v[i].bytes, r->v[i].len);
    for (size_t i = 0; i < r->n; i++)
        cairn__free(r->v[i].bytes);
    cairn__free(r->v);
    memset(r, 0, sizeof(*r));
    return rc;
}

bool cairn__pin_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > CAIRN_PIN_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Pins came with version 2 of the method table. */
bool cairn__tier_can_pin(const cairn_tier *t)
{
    return t->m->version >= 2 && t->m->pin_put && t->m->pin_list && t->m->pin_delete;
}

static int check_pin(const cairn_tier *t, const char *method, const char *name)
{
    if (name && !cairn__pin_name_ok(name))
        return cairn__fail(CAIRN_BADARG,
                           "%s: bad pin name '%.80s' (1 to %d letters, digits, '.', '_' or "
                           "'-', not starting with '.')",
                           method, name, CAIRN_PIN_NAME_MAX);
    if (!cairn__tier_can_pin(t))
        return cairn__fail(-ENOTSUP, "tier '%s' cannot hold pins", t->spec);
    return 0;
}

int cairn__tier_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len)
{
    int rc;

    if ((rc = check_pin(t, "pin_put", name ? name : "")))
        return rc;
    if (!bytes || len == 0 || len > CAIRN_PIN_RECORD_MAX)
        return cairn__fail(CAIRN_BADARG, "pin_put: a record of %zu bytes (1 to %d)", len,
                           CAIRN_PIN_RECORD_MAX);
    if ((rc = fault_check("pin_put")))
        return rc;
    return t->m->pin_put(t, name, bytes, len);
}

int cairn__tier_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx)
{
    int rc;

    if (!fn)
        return cairn__fail(CAIRN_BADARG, "pin_list: NULL visitor");
    if ((rc = check_pin(t, "pin_list", NULL)) || (rc = fault_check("pin_list")))
        return rc;
    return t->m->pin_list(t, fn, ctx);
}

int cairn__tier_pin_delete(cairn_tier *t, const char *name)
{
    int rc;

    if ((rc = check_pin(t, "pin_delete", name ? name : "")) || (rc = fault_check("pin_delete")))
        return rc;
    return t->m->pin_delete(t, name);
}

/* ---------------------------------------------------------------- stats */

uint64_t cairn__latency_quantile(const _Atomic uint64_t hist[CAIRN_LATENCY_BUCKETS], double p)
{
    uint64_t total = 0, seen = 0;

    for (int i = 0; i < CAIRN_LATENCY_BUCKETS; i++)
        total += atomic_load(&hist[i]);
    if (!total)
        return 0;
    for (int i = 0; i < CAIRN_LATENCY_BUCKETS; i++) {
        seen += atomic_load(&hist[i]);
        if ((double)seen >= p * (double)total)
            return (uint64_t)2 << i;
    }
    return (uint64_t)1 << CAIRN_LATENCY_BUCKETS;
}
