/*
 * pins.c - pins: leases that keep a commit's version from gc (docs/gc.md,
 * "Pins"; the record is specified in docs/format.md, "Pin records").
 *
 * The tiers store a pin as opaque bytes under its name (tiers/tier.h);
 * this file gives the bytes their meaning. A record is a msgpack map of
 * four keys, written in this order with the smallest integer forms:
 *
 *     {"format": 1, "commit": bin 32, "expires_us": uint, "holder": str}
 *
 * expires_us is microseconds since the Unix epoch; holder is "host:pid"
 * (at most CAIRN_PIN_HOLDER_MAX bytes), for messages only.
 *
 * Records come from other processes and machines, so decoding treats them
 * as hostile. A record that does not decode, lacks a key, repeats one, has
 * one this version does not know or a format other than 1, or expires
 * further ahead than any pin may (CAIRN_PIN_TTL_MAX, plus an hour for
 * clocks that disagree) is damaged: gc ignores it and leaves it in place,
 * never crashes or stops on it, and says how many it ignored. Ignoring is
 * the choice because a damaged record names no commit one can trust
 * ("keep everything it might name" would be "keep everything", which one
 * stray file could then impose for ever), and because a pin is a lease:
 * its holder rewrites it whole at its next renewal, so a record damaged in
 * place protects nothing for at most a third of its lease.
 */
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "mp.h"
#include "mpbuf.h"
#include "retention.h"

#define PIN_FORMAT 1
/* Clocks of readers and gc may disagree by this much before a record's
 * expiry counts as absurd. */
#define SKEW_US (3600ll * 1000000)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- record */

static int encode(const cairn_pin_info *p, mp_buf *out)
{
    msgpack_packer pk;
    int bad = 0;

    msgpack_packer_init(&pk, out, mp_buf_write);
    bad |= msgpack_pack_map(&pk, 4);
    bad |= msgpack_pack_str_with_body(&pk, "format", 6);
    bad |= msgpack_pack_uint32(&pk, PIN_FORMAT);
    bad |= msgpack_pack_str_with_body(&pk, "commit", 6);
    bad |= msgpack_pack_bin_with_body(&pk, p->commit.bytes, 32);
    bad |= msgpack_pack_str_with_body(&pk, "expires_us", 10);
    bad |= msgpack_pack_uint64(&pk, (uint64_t)p->expires_us);
    bad |= msgpack_pack_str_with_body(&pk, "holder", 6);
    bad |= msgpack_pack_str_with_body(&pk, p->holder, strlen(p->holder));
    return bad ? cairn__fail(CAIRN_NOMEM, "encoding pin '%s'", p->name) : 0;
}

static bool key_is(const uint8_t *key, uint32_t len, const char *name)
{
    return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Decodes bytes into out (name already set); on a damaged record sets
 * out->problem and returns false. Never fails otherwise. */
static bool decode(const void *bytes, size_t len, cairn_pin_info *out)
{
    enum { FORMAT = 1, COMMIT = 2, EXPIRES = 4, HOLDER = 8 };
    const char *why = "not a pin record";
    unsigned seen = 0;
    uint64_t format = 0, expires = 0;
    mp_reader r;
    uint32_t n;

    if (!bytes) {
        snprintf(out->problem, sizeof(out->problem),
                 "damaged record: %zu bytes, more than a pin record can hold (%d)", len,
                 CAIRN_PIN_RECORD_MAX);
        return false;
    }
    mp_init(&r, bytes, len);
    if (!mp_map(&r, &n))
        goto bad;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *key, *data;
        uint32_t key_len, data_len;
        unsigned bit;
        if (!mp_str(&r, &key, &key_len))
            goto bad;
        bit = key_is(key, key_len, "format")       ? FORMAT
              : key_is(key, key_len, "commit")     ? COMMIT
              : key_is(key, key_len, "expires_us") ? EXPIRES
              : key_is(key, key_len, "holder")     ? HOLDER
                                                   : 0;
        if (!bit) {
            why = "a key this version does not know";
            goto bad;
        }
        if (seen & bit) {
            why = "a key given twice";
            goto bad;
        }
        seen |= bit;
        if (bit == FORMAT && !mp_uint(&r, &format))
            goto bad;
        if (bit == EXPIRES && (!mp_uint(&r, &expires) || expires > INT64_MAX))
            goto bad;
        if (bit == COMMIT) {
            if (!mp_bin(&r, &data, &data_len) || data_len != 32)
                goto bad;
            memcpy(out->commit.bytes, data, 32);
        }
        if (bit == HOLDER) {
            if (!mp_str(&r, &data, &data_len) || data_len > CAIRN_PIN_HOLDER_MAX ||
                memchr(data, 0, data_len))
                goto bad;
            memcpy(out->holder, data, data_len);
            out->holder[data_len] = '\0';
        }
    }
    if (!mp_at_end(&r) || seen != (FORMAT | COMMIT | EXPIRES | HOLDER)) {
        why = mp_at_end(&r) ? "a key missing" : why;
        goto bad;
    }
    if (format != PIN_FORMAT) {
        snprintf(out->problem, sizeof(out->problem),
                 "a record of format %llu, which this version does not read",
                 (unsigned long long)format);
        return false;
    }
    out->expires_us = (int64_t)expires;
    return true;
bad:
    memset(&out->commit, 0, sizeof(out->commit));
    out->holder[0] = '\0';
    snprintf(out->problem, sizeof(out->problem), "damaged record (%s)", why);
    return false;
}

/* ---------------------------------------------------------------- reading */

/* Every pin of the store, one per name (a pin in several ref tiers: the
 * copy that expires last, a readable one before a damaged one), sorted by
 * name. */
typedef struct pin_set {
    cairn_pin_info *v;
    size_t n, cap;
} pin_set;

static int add_copy(void *ctx, size_t tier, const char *name, const void *bytes, size_t len)
{
    pin_set *s = ctx;
    cairn_pin_info p;
    size_t i;

    (void)tier;
    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "%s", name);
    bool good = decode(bytes, len, &p);
    for (i = 0; i < s->n && strcmp(s->v[i].name, name); i++)
        ;
    if (i < s->n) { /* another tier's copy */
        bool had_good = !s->v[i].problem[0];
        if (good && (!had_good || p.expires_us > s->v[i].expires_us))
            s->v[i] = p;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        cairn_pin_info *grown = cairn__realloc(s->v, cap * sizeof(*grown));
        if (!grown)
            return cairn__fail(CAIRN_NOMEM, "out of memory listing pins");
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = p;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const cairn_pin_info *)a)->name, ((const cairn_pin_info *)b)->name);
}

/* Reads the pins and judges them at now: expired, an expiry too far ahead,
 * and (for pins in force) whether the store holds their commit. Errors
 * other than a commit missing or damaged are returned. */
static int collect(cairn_db *db, int64_t now, bool need_pins, pin_set *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    if ((rc = cairn__stack_pin_list(db->stack, add_copy, s)) == -ENOTSUP && !need_pins) {
        cairn__detail_clear();
        rc = 0; /* no tier holds pins: there are none */
    }
    if (rc)
        return rc;
    if (s->n > 1)
        qsort(s->v, s->n, sizeof(*s->v), by_name);
    for (size_t i = 0; i < s->n; i++) {
        cairn_pin_info *p = &s->v[i];
        cairn_commit_info info;
        char hex[13];
        if (p->problem[0])
            continue;
        p->expired = p->expires_us <= now;
        if (p->expires_us > now + (int64_t)CAIRN_PIN_TTL_MAX * 1000000 + SKEW_US) {
            snprintf(p->problem, sizeof(p->problem),
                     "expires in %lld days, further ahead than any pin may (%u days)",
                     (long long)((p->expires_us - now) / 86400000000ll),
                     CAIRN_PIN_TTL_MAX / 86400);
            continue;
        }
        if (p->expired)
            continue;
        if ((rc = cairn_commit_get(db, &p->commit, &info)) == 0) {
            cairn_commit_info_clear(&info);
            continue;
        }
        if (rc != CAIRN_MISSING && rc != CAIRN_CORRUPT)
            return rc;
        cairn__detail_clear();
        snprintf(p->problem, sizeof(p->problem), "names %s, %s", cairn__id_short(&p->commit, hex),
                 rc == CAIRN_MISSING ? "which the store does not hold" : "which is not a commit");
        rc = 0;
    }
    return 0;
}

int cairn_pin_list(cairn_db *db, cairn_pin_visitor fn, void *ctx)
{
    pin_set s;
    int rc;

    cairn__detail_clear();
    if (!fn)
        return cairn__fail(CAIRN_BADARG, "cairn_pin_list: NULL visitor");
    if (!(rc = collect(db, now_us(), true, &s)))
        for (size_t i = 0; i < s.n && !rc; i++)
            rc = fn(ctx, &s.v[i]);
    cairn__free(s.v);
    return rc;
}

/* ---------------------------------------------------------------- writing */

/* "host:pid" for messages, and a unique name "host-pid-RANDOM" from it
 * (the host cut to its safe characters). */
static void make_identity(cairn_pin_info *p)
{
    char host[64] = "";
    char safe[33];
    uint64_t nonce = 0;
    size_t n = 0;

    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    for (const char *c = host; *c && n < sizeof(safe) - 1; c++)
        safe[n++] = (char)(((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                            (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')
                               ? *c
                               : '_');
    safe[n] = '\0';
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce))
        nonce = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p;
    snprintf(p->holder, sizeof(p->holder), "%s:%ld", host, (long)getpid());
    snprintf(p->name, sizeof(p->name), "%s-%ld-%016llx", safe, (long)getpid(),
             (unsigned long long)nonce);
}

/* Whether rc says this process may not write pins there. */
static bool refused(int rc)
{
    return rc == CAIRN_RDONLY_STORE || rc == CAIRN_DENIED || rc == -ENOTSUP || rc == -EACCES ||
           rc == -EPERM || rc == -EROFS;
}

/* Writes p's record (expiring ttl_s from now) to every ref tier that takes
 * it. A reader that can write it nowhere is told what protects it then. */
static int write_record(cairn_db *db, cairn_pin_info *p, uint32_t ttl_s)
{
    mp_buf buf = {0};
    char hex[13];
    unsigned written;
    int rc;

    if (ttl_s == 0 || ttl_s > CAIRN_PIN_TTL_MAX)
        return cairn__fail(CAIRN_BADARG, "pin: a lease of %u s (1 to %u)", ttl_s,
                           CAIRN_PIN_TTL_MAX);
    p->expires_us = now_us() + (int64_t)ttl_s * 1000000;
    p->expired = false;
    p->problem[0] = '\0';
    if ((rc = encode(p, &buf)) == 0)
        rc = cairn__stack_pin_put(db->stack, p->name, buf.data, buf.len, &written);
    cairn__free(buf.data);
    if (refused(rc)) {
        char detail[400];
        snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
        return cairn__fail(CAIRN_RDONLY_STORE,
                           "cannot pin %s: no tier of the stack takes pins from this process "
                           "(%s); without a pin, this version is protected only by gc's grace "
                           "period (the store's, 1 hour unless its retention policy says "
                           "otherwise) once it is no longer kept",
                           cairn__id_short(&p->commit, hex), detail);
    }
    return rc ? cairn__fail_context(rc, "writing pin '%s'", p->name) : 0;
}

/* The commit exists (CAIRN_MISSING, naming it, if not). */
static int check_commit(cairn_db *db, const cairn_id *commit)
{
    cairn_commit_info info;
    int rc = cairn_commit_get(db, commit, &info);

    if (rc == 0)
        cairn_commit_info_clear(&info);
    return rc;
}

int cairn_pin(cairn_db *db, const cairn_id *commit, uint32_t ttl_s, cairn_pin_info *out)
{
    cairn_pin_info p;
    int rc;

    cairn__detail_clear();
    if (!commit || !out)
        return cairn__fail(CAIRN_BADARG, "cairn_pin: NULL argument");
    if ((rc = check_commit(db, commit)))
        return rc;
    memset(&p, 0, sizeof(p));
    p.commit = *commit;
    make_identity(&p);
    if ((rc = write_record(db, &p, ttl_s)))
        return rc;
    /* gc may have dropped the commit before the pin was there to see. */
    if ((rc = check_commit(db, commit))) {
        if (cairn__stack_pin_delete(db->stack, p.name))
            cairn__detail_clear();
        return rc;
    }
    *out = p;
    return 0;
}

int cairn_pin_renew(cairn_db *db, cairn_pin_info *pin, uint32_t ttl_s)
{
    cairn_pin_info p;
    int rc;

    cairn__detail_clear();
    if (!pin || !cairn__pin_name_ok(pin->name))
        return cairn__fail(CAIRN_BADARG, "cairn_pin_renew: not a pin");
    p = *pin;
    if ((rc = write_record(db, &p, ttl_s)))
        return rc;
    if ((rc = check_commit(db, &p.commit)))
        return cairn__fail_context(rc, "pin '%s' expired and gc freed its commit", p.name);
    pin->expires_us = p.expires_us;
    return 0;
}

int cairn_unpin(cairn_db *db, const char *name)
{
    cairn__detail_clear();
    if (!cairn__pin_name_ok(name))
        return cairn__fail(CAIRN_BADARG, "unpin: bad pin name '%.80s'", name ? name : "");
    return cairn__stack_pin_delete(db->stack, name);
}

/* ---------------------------------------------------------------- gc */

static int by_id(const void *a, const void *b)
{
    return cairn__id_cmp(a, b);
}

int cairn__gc_pins_read(cairn_db *db, int64_t now, cairn__gc_pins *out)
{
    pin_set s;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = collect(db, now, false, &s)))
        goto done;
    if (s.n && (!(out->commits = cairn__calloc(s.n, sizeof(*out->commits))) ||
                !(out->expired = cairn__calloc(s.n, sizeof(*out->expired))) ||
                !(out->expired_at = cairn__calloc(s.n, sizeof(*out->expired_at))))) {
        rc = cairn__fail(CAIRN_NOMEM, "out of memory reading %zu pins", s.n);
        goto done;
    }
    for (size_t i = 0; i < s.n; i++) {
        const cairn_pin_info *p = &s.v[i];
        if (p->problem[0]) {
            out->ignored++;
        } else if (p->expired) {
            memcpy(out->expired[out->n_expired], p->name, sizeof(p->name));
            out->expired_at[out->n_expired++] = p->expires_us;
        } else {
            out->in_force++;
            out->commits[out->n_commits++] = p->commit;
        }
    }
    if (out->n_commits > 1)
        qsort(out->commits, out->n_commits, sizeof(*out->commits), by_id);
    size_t kept = 0;
    for (size_t i = 0; i < out->n_commits; i++)
        if (!kept || !cairn__id_eq(&out->commits[kept - 1], &out->commits[i]))
            out->commits[kept++] = out->commits[i];
    out->n_commits = kept;
done:
    cairn__free(s.v);
    return rc;
}

int cairn__gc_pins_expire(cairn_db *db, const cairn__gc_pins *pins, int64_t now,
                          uint64_t *deleted)
{
    pin_set s;
    int rc;

    *deleted = 0;
    if (!pins->n_expired)
        return 0;
    if ((rc = collect(db, now, false, &s))) {
        cairn__free(s.v);
        return rc;
    }
    for (size_t i = 0; i < pins->n_expired && !rc; i++) {
        for (size_t j = 0; j < s.n; j++) {
            const cairn_pin_info *p = &s.v[j];
            if (strcmp(p->name, pins->expired[i]) || p->problem[0] || !p->expired ||
                p->expires_us != pins->expired_at[i])
                continue; /* renewed meanwhile, or gone */
            if (!(rc = cairn__stack_pin_delete(db->stack, p->name)))
                (*deleted)++;
            break;
        }
    }
    cairn__free(s.v);
    return rc;
}

void cairn__gc_pins_free(cairn__gc_pins *pins)
{
    cairn__free(pins->commits);
    cairn__free(pins->expired);
    cairn__free(pins->expired_at);
    memset(pins, 0, sizeof(*pins));
}
