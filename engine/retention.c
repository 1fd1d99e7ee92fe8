/*
 * retention.c - the store's retention policy, meta/retention (docs/gc.md,
 * "What is kept"; docs/format.md, "meta/retention"), and the policy a gc
 * run applies: the store's, with the run's options over it.
 *
 * The record is a msgpack map of the rules that are set, keys in this
 * order, each value an unsigned integer in its smallest form:
 *
 *     {"keep_last": N, "keep_newer_s": S, "grace_s": G}
 *
 * An absent key is a rule not set; {} is never written (clearing the
 * policy deletes the ref). Decoding treats the blob as hostile: a key this
 * version does not know is CAIRN_VERSION (a newer cairn wrote a rule that
 * an older gc must not ignore), a duplicate key, a value that is no
 * unsigned integer or a duration above CAIRN_RETENTION_SECONDS_MAX is
 * CAIRN_CORRUPT. gc stops on either rather than guess a policy.
 */
#include <msgpack.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "gc.h"
#include "mp.h"
#include "mpbuf.h"
#include "retention.h"

#define RETENTION_REF CAIRN_RETENTION_REF
#define DEFAULT_GRACE_S 3600

static const char *const rule_names[3] = {"keep_last", "keep_newer_s", "grace_s"};

static int encode(const cairn_retention *p, mp_buf *out)
{
    const bool has[3] = {p->has_keep_last, p->has_keep_newer, p->has_grace};
    const uint64_t val[3] = {p->keep_last, p->keep_newer_s, p->grace_s};
    msgpack_packer pk;
    uint32_t n = 0;
    int bad = 0;

    for (int i = 0; i < 3; i++)
        n += has[i];
    msgpack_packer_init(&pk, out, mp_buf_write);
    bad |= msgpack_pack_map(&pk, n);
    for (int i = 0; i < 3; i++) {
        if (!has[i])
            continue;
        bad |= msgpack_pack_str_with_body(&pk, rule_names[i], strlen(rule_names[i]));
        bad |= msgpack_pack_uint64(&pk, val[i]);
    }
    return bad ? cairn__fail(CAIRN_NOMEM, "encoding the retention policy") : 0;
}

int cairn__retention_decode(const cairn_id *blob, const void *data, size_t len,
                            cairn_retention *out)
{
    char hex[CAIRN_ID_HEX + 1];
    bool *has[3] = {&out->has_keep_last, &out->has_keep_newer, &out->has_grace};
    uint64_t *val[3] = {&out->keep_last, &out->keep_newer_s, &out->grace_s};
    const char *why = "not a map of rules";
    mp_reader r;
    uint32_t n;

    memset(out, 0, sizeof(*out));
    cairn_id_to_hex(blob, hex);
    mp_init(&r, data, len);
    if (!mp_map(&r, &n))
        goto bad;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *key;
        uint32_t key_len;
        int k;
        if (!mp_str(&r, &key, &key_len)) {
            why = "a key that is not a string";
            goto bad;
        }
        for (k = 0; k < 3; k++)
            if (strlen(rule_names[k]) == key_len && memcmp(rule_names[k], key, key_len) == 0)
                break;
        if (k == 3)
            return cairn__fail(CAIRN_VERSION,
                               "meta/retention (blob %s) has a rule '%.*s' this version does "
                               "not know (a newer cairn wrote it); gc will not guess the policy",
                               hex, (int)(key_len < 40 ? key_len : 40), (const char *)key);
        if (*has[k]) {
            why = "a rule given twice";
            goto bad;
        }
        if (!mp_uint(&r, val[k])) {
            why = "a value that is not an unsigned integer";
            goto bad;
        }
        if (k > 0 && *val[k] > CAIRN_RETENTION_SECONDS_MAX) {
            why = "a duration out of range";
            goto bad;
        }
        *has[k] = true;
    }
    if (mp_at_end(&r))
        return 0;
    why = "bytes after the map";
bad:
    memset(out, 0, sizeof(*out));
    return cairn__fail(CAIRN_CORRUPT, "meta/retention: blob %s is not a retention policy (%s)",
                       hex, why);
}

int cairn_retention_get(cairn_db *db, cairn_retention *out)
{
    cairn_buf buf;
    cairn_id id;
    int rc;

    cairn__detail_clear();
    memset(out, 0, sizeof(*out));
    if ((rc = cairn__meta_get(db, RETENTION_REF, NULL, &id, &buf)) == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        return 0;
    }
    if (rc)
        return rc;
    rc = cairn__retention_decode(&id, buf.data, buf.len, out);
    cairn__free(buf.data);
    return rc;
}

int cairn_retention_set(cairn_db *db, const cairn_retention *policy)
{
    cairn_retention none = {0};
    mp_buf buf = {0};
    int rc;

    cairn__detail_clear();
    if (!policy)
        policy = &none;
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "cannot set the retention policy of a store "
                                               "open read-only");
    if ((policy->has_keep_newer && policy->keep_newer_s > CAIRN_RETENTION_SECONDS_MAX) ||
        (policy->has_grace && policy->grace_s > CAIRN_RETENTION_SECONDS_MAX))
        return cairn__fail(CAIRN_BADARG, "retention: a duration above %lld seconds",
                           (long long)CAIRN_RETENTION_SECONDS_MAX);
    bool any = policy->has_keep_last || policy->has_keep_newer || policy->has_grace;
    if (any && (rc = encode(policy, &buf))) {
        cairn__free(buf.data);
        return rc;
    }
    if (!(rc = cairn__db_write_lock(db))) {
        rc = cairn__meta_put(db, RETENTION_REF, any ? buf.data : NULL, buf.len);
        cairn__db_write_unlock(db);
    }
    cairn__free(buf.data);
    return rc;
}

int cairn__gc_policy_resolve(cairn_db *db, const cairn_gc_options *opts, int64_t now_us,
                             cairn_gc_policy *out)
{
    cairn_retention store;
    uint64_t keep_last = 0, keep_newer_s = 0, grace_s = DEFAULT_GRACE_S;
    int rc;

    if ((rc = cairn_retention_get(db, &store)))
        return cairn__fail_context(rc, "gc: reading the store's retention policy");
    if (store.has_keep_last)
        keep_last = store.keep_last;
    if (store.has_keep_newer)
        keep_newer_s = store.keep_newer_s;
    if (store.has_grace)
        grace_s = store.grace_s;
    if (opts->keep_last != CAIRN_GC_UNSET)
        keep_last = opts->keep_last;
    if (opts->keep_newer_s != CAIRN_GC_UNSET)
        keep_newer_s = opts->keep_newer_s;
    if (opts->grace_s >= 0)
        grace_s = (uint64_t)opts->grace_s;
    if (keep_newer_s > CAIRN_RETENTION_SECONDS_MAX || grace_s > CAIRN_RETENTION_SECONDS_MAX)
        return cairn__fail(CAIRN_BADARG, "gc: a duration out of range (at most %lld s)",
                           (long long)CAIRN_RETENTION_SECONDS_MAX);
    memset(out, 0, sizeof(*out));
    out->keep_last = keep_last;
    out->keep_newer_us = (int64_t)keep_newer_s * 1000000;
    out->grace_us = (int64_t)grace_s * 1000000;
    out->now_us = now_us;
    return 0;
}
