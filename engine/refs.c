/* refs.c - branch and tag names, resolving "at" strings, moving refs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "id.h"

int cairn__check_ref_name(const char *kind, const char *name)
{
    size_t i, len = name ? strlen(name) : 0;

    if (len == 0 || len > CAIRN_NAME_MAX)
        return cairn__fail(CAIRN_BADARG, "%s name must be 1 to %d bytes", kind, CAIRN_NAME_MAX);
    if (name[0] == '-' || name[0] == '/' || name[len - 1] == '/' || strstr(name, "..") ||
        strstr(name, "//"))
        return cairn__fail(CAIRN_BADARG, "bad %s name '%s'", kind, name);
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return cairn__fail(CAIRN_BADARG,
                               "bad %s name '%s': use letters, digits and . _ - /", kind, name);
    }
    return 0;
}

void cairn__ref_path(cairn_ref_kind kind, const char *name, char buf[CAIRN_REF_NAME_MAX + 1])
{
    snprintf(buf, CAIRN_REF_NAME_MAX + 1, "%s/%s", kind == CAIRN_TAG ? "tags" : "heads", name);
}

static int found_any(void *ctx, const char *name, const cairn_id *id)
{
    (void)id;
    snprintf(ctx, CAIRN_REF_NAME_MAX + 1, "%s", name);
    return 1;
}

int cairn__ref_check_free(cairn_stack *st, const char *path)
{
    char prefix[CAIRN_REF_NAME_MAX + 2], other[CAIRN_REF_NAME_MAX + 1];
    const char *slash = strchr(path, '/'); /* after the namespace ("heads/") */
    cairn_id id;
    int rc;

    /* A ref named by one of path's directories ("heads/a" for "heads/a/b"). */
    for (slash = slash ? strchr(slash + 1, '/') : NULL; slash; slash = strchr(slash + 1, '/')) {
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - path), path);
        if ((rc = cairn__stack_ref_get(st, prefix, &id)) == 0)
            return cairn__fail(CAIRN_BADARG, "ref '%s' cannot be created: '%s' exists (a ref "
                                             "cannot also be a folder of refs)", path, prefix);
        if (rc != CAIRN_NOTFOUND)
            return rc;
    }
    /* A ref inside path ("heads/a/b" for "heads/a"). */
    snprintf(prefix, sizeof(prefix), "%s/", path);
    rc = cairn__stack_ref_list(st, prefix, found_any, other);
    if (rc == 1)
        return cairn__fail(CAIRN_BADARG, "ref '%s' cannot be created: '%s' exists (a ref "
                                         "cannot also be a folder of refs)", path, other);
    return rc;
}

/* ---------------------------------------------------------------- resolving */

/* Length of the run of hex digits at s. */
static size_t hex_run(const char *s)
{
    size_t n = 0;
    while (cairn__hex_digit((unsigned char)s[n]) >= 0)
        n++;
    return n;
}

#define PREFIX_MIN 7

/* Finding the commits whose ids start with a hex prefix. */
typedef struct prefix_search {
    cairn_db *db;
    uint8_t bytes[32];   /* the prefix, padded with zeros */
    size_t nibbles;
    cairn_id found[4];   /* commits matching (the first few) */
    size_t n_found;
    size_t scanned;
} prefix_search;

static bool has_prefix(const prefix_search *ps, const cairn_id *id)
{
    size_t full = ps->nibbles / 2;
    if (memcmp(id->bytes, ps->bytes, full) != 0)
        return false;
    return ps->nibbles % 2 == 0 || (id->bytes[full] >> 4) == (ps->bytes[full] >> 4);
}

/* Visits ids in ascending order from the padded prefix: stops at the first
 * id past it. Each match that is a commit is kept. */
static int prefix_visit(void *ctx, const cairn_id *id, size_t len)
{
    prefix_search *ps = ctx;
    cairn_commit_info info;

    (void)len;
    if (!has_prefix(ps, id))
        return 1;
    ps->scanned++;
    if (cairn_commit_get(ps->db, id, &info) == 0) {
        cairn_commit_info_clear(&info);
        if (ps->n_found < sizeof(ps->found) / sizeof(ps->found[0]))
            ps->found[ps->n_found] = *id;
        ps->n_found++;
    }
    cairn__detail_clear();
    return 0;
}

/* Resolves a hex prefix of PREFIX_MIN..63 digits among the primary's
 * commits. */
static int resolve_prefix(cairn_db *db, const char *hex, size_t nibbles, cairn_id *out)
{
    cairn_tier *p = cairn__stack_tier(db->stack, cairn__stack_primary(db->stack));
    prefix_search ps = {.db = db, .nibbles = nibbles};
    cairn_id from;
    int rc;

    for (size_t i = 0; i < nibbles; i++)
        ps.bytes[i / 2] |= (uint8_t)(cairn__hex_digit((unsigned char)hex[i]) << (i % 2 ? 0 : 4));
    memcpy(from.bytes, ps.bytes, 32);
    rc = cairn__tier_scan_from(p, &from, prefix_visit, &ps);
    if (rc < 0)
        return rc;
    if (ps.n_found == 0)
        return cairn__fail(CAIRN_NOTFOUND, "no commit starts with %.*s", (int)nibbles, hex);
    if (ps.n_found > 1) {
        char a[13], b[13];
        return cairn__fail(CAIRN_BADARG,
                           "%zu commits start with %.*s (%s, %s%s): give more digits",
                           ps.n_found, (int)nibbles, hex, cairn__id_short(&ps.found[0], a),
                           cairn__id_short(&ps.found[1], b), ps.n_found > 2 ? ", ..." : "");
    }
    *out = ps.found[0];
    return 0;
}

/* Resolves a name without "~N": branch, tag, full id, id prefix. */
static int resolve_base(cairn_db *db, const char *at, cairn_id *out)
{
    char path[CAIRN_REF_NAME_MAX + 1];
    size_t hex_len = hex_run(at);
    int rc;

    if (strlen(at) <= CAIRN_NAME_MAX) {
        cairn__ref_path(CAIRN_BRANCH, at, path);
        if ((rc = cairn__stack_ref_get(db->stack, path, out)) != CAIRN_NOTFOUND)
            return rc;
        cairn__ref_path(CAIRN_TAG, at, path);
        if ((rc = cairn__stack_ref_get(db->stack, path, out)) != CAIRN_NOTFOUND)
            return rc;
    }
    if (at[hex_len] == '\0' && hex_len == CAIRN_ID_HEX) {
        cairn_commit_info info;
        cairn_buf buf = {0};
        cairn_id id;
        cairn_id_from_hex(at, &id);
        /* Only a commit that exists resolves: a missing blob, or one that
         * is no commit (a tree's root id, say), is a name that names no
         * version, while a damaged blob stays an error of its own. */
        if ((rc = cairn__stack_get(db->stack, &id, &buf)))
            return rc == CAIRN_MISSING ? cairn__fail(CAIRN_NOTFOUND, "no commit %s", at) : rc;
        rc = cairn__commit_decode(&id, buf.data, buf.len, &info, NULL);
        cairn__free(buf.data);
        if (rc == CAIRN_CORRUPT)
            return cairn__fail(CAIRN_NOTFOUND,
                               "%s is not a commit (a blob of this store, but a tree node or "
                               "a value)",
                               at);
        if (rc)
            return rc;
        cairn_commit_info_clear(&info);
        *out = id;
        return 0;
    }
    if (at[hex_len] == '\0' && hex_len >= PREFIX_MIN && hex_len < CAIRN_ID_HEX)
        return resolve_prefix(db, at, hex_len, out);
    return cairn__fail(CAIRN_NOTFOUND, "no branch, tag or commit named '%s'", at);
}

int cairn_resolve(cairn_db *db, const char *at, cairn_id *out)
{
    char base[CAIRN_ID_HEX + CAIRN_NAME_MAX + 2];
    const char *tilde;
    uint64_t steps = 0;
    cairn_id id;
    int rc;

    cairn__detail_clear();
    if (!at)
        at = CAIRN_DEFAULT_BRANCH;
    if (!(tilde = strrchr(at, '~')))
        return resolve_base(db, at, out);
    /* REF~N: N decimal digits, or none for 1. */
    if ((size_t)(tilde - at) >= sizeof(base) || tilde == at)
        return cairn__fail(CAIRN_BADARG, "bad version '%s'", at);
    if (!tilde[1]) {
        steps = 1;
    } else {
        for (const char *p = tilde + 1; *p; p++) {
            if (*p < '0' || *p > '9' || steps > 100000000)
                return cairn__fail(CAIRN_BADARG, "bad version '%s': want REF~N with N a number",
                                   at);
            steps = steps * 10 + (uint64_t)(*p - '0');
        }
    }
    snprintf(base, sizeof(base), "%.*s", (int)(tilde - at), at);
    if ((rc = resolve_base(db, base, &id)))
        return rc;
    for (uint64_t i = 0; i < steps; i++) {
        cairn_commit_info info;
        if ((rc = cairn_commit_get(db, &id, &info)))
            return rc;
        if (!info.has_parent || info.history_dropped) {
            bool dropped = info.history_dropped;
            cairn_commit_info_clear(&info);
            return cairn__fail(CAIRN_NOTFOUND, "'%s': %s has only %llu ancestors%s", at, base,
                               (unsigned long long)i,
                               dropped ? " (gc dropped the history before them)" : "");
        }
        id = info.parent;
        cairn_commit_info_clear(&info);
    }
    *out = id;
    return 0;
}

/* ---------------------------------------------------------------- moving refs */

/* Walks commit's history back only while seq is above ancestor's: a
 * descendant has a larger seq. */
int cairn__commit_descends(cairn_db *db, const cairn_id *commit, const cairn_id *ancestor,
                           bool *out)
{
    cairn_commit_info anc, info;
    cairn_id id = *commit;
    int rc;

    *out = false;
    if ((rc = cairn_commit_get(db, ancestor, &anc)))
        return rc;
    for (;;) {
        if (cairn__id_eq(&id, ancestor)) {
            *out = true;
            break;
        }
        if ((rc = cairn_commit_get(db, &id, &info)))
            break;
        if (!info.has_parent || info.history_dropped || info.seq <= anc.seq) {
            cairn_commit_info_clear(&info);
            break;
        }
        id = info.parent;
        cairn_commit_info_clear(&info);
    }
    cairn_commit_info_clear(&anc);
    return rc;
}

/* Takes the writer lock for a ref change (the handle's, then the tiers'). */
int cairn__ref_lock(cairn_db *db)
{
    int rc;

    if ((rc = cairn__flusher_wait_room(db)))
        return rc;
    pthread_mutex_lock(&db->mu);
    rc = db->txn_open ? cairn__fail(CAIRN_BUSY, "a write transaction is open on this store")
                      : cairn__stack_writer_lock(db->stack, true);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* After a ref change with the lock held: followers left behind catch up
 * (best effort: cairn_tiers_behind reports them), then the lock goes. */
void cairn__ref_unlock(cairn_db *db)
{
    cairn__flusher_committed(db); /* (a failed move only costs an idle round) */
    if (cairn__stack_behind(db->stack) && cairn__followers_catch_up(db, CAIRN__CATCH_UP_WRITE_THROUGH))
        cairn__detail_clear();
    cairn__stack_writer_lock(db->stack, false);
}

static int check_ref_args(cairn_db *db, cairn_ref_kind kind, const char *name)
{
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "cannot change a ref in a read-only store");
    if (kind != CAIRN_BRANCH && kind != CAIRN_TAG)
        return cairn__fail(CAIRN_BADARG, "unknown ref kind %d", (int)kind);
    return cairn__check_ref_name(kind == CAIRN_TAG ? "tag" : "branch", name);
}

/* Most commits counted for the detail of a refused move: a rollback past
 * more says "more than" (each is one commit read, maybe from a remote tier). */
#define DROPPED_COUNT_MAX 10000

/* The CAIRN_REWIND of moving branch name from old to commit: the detail
 * names both and how many commits would leave the branch. */
static int rewind_refused(cairn_db *db, const char *name, const cairn_id *old,
                          const cairn_id *commit)
{
    char old_hex[13], new_hex[13], count[64];
    uint64_t dropped = 0;
    int rc = cairn__commits_dropped(db, old, commit, DROPPED_COUNT_MAX, &dropped);

    if (rc < 0)
        snprintf(count, sizeof(count), "commits"); /* (the count is only a courtesy) */
    else
        snprintf(count, sizeof(count), "%s%llu commit%s", rc ? "more than " : "",
                 (unsigned long long)dropped, dropped == 1 && !rc ? "" : "s");
    return cairn__fail(CAIRN_REWIND,
                       "branch '%s' is at %s, which %s does not descend from: moving it "
                       "there would drop %s from the branch",
                       name, cairn__id_short(old, old_hex), cairn__id_short(commit, new_hex),
                       count);
}

int cairn_ref_set(cairn_db *db, cairn_ref_kind kind, const char *name, const cairn_id *commit,
                  unsigned flags)
{
    char path[CAIRN_REF_NAME_MAX + 1];
    cairn_commit_info info;
    cairn_id old;
    bool have_old, forward;
    int rc;

    cairn__detail_clear();
    if ((rc = check_ref_args(db, kind, name)))
        return rc;
    if ((rc = cairn_commit_get(db, commit, &info)))
        return rc;
    cairn_commit_info_clear(&info);
    cairn__ref_path(kind, name, path);
    if ((rc = cairn__ref_lock(db)))
        return rc;
    rc = cairn__stack_ref_get(db->stack, path, &old);
    if (rc && rc != CAIRN_NOTFOUND)
        goto done;
    have_old = rc == 0;
    rc = 0;
    if (!have_old && (flags & CAIRN_REF_EXISTING)) {
        rc = cairn__fail(CAIRN_NOTFOUND, "no %s '%s'", kind == CAIRN_TAG ? "tag" : "branch",
                         name);
    } else if (!have_old) {
        rc = cairn__ref_check_free(db->stack, path);
    } else if (kind == CAIRN_TAG) {
        rc = cairn__fail(CAIRN_EXISTS, "tag '%s' already exists (tags do not move)", name);
    } else if (!(flags & CAIRN_REF_FORCE) && !cairn__id_eq(&old, commit)) {
        if (!(rc = cairn__commit_descends(db, commit, &old, &forward)) && !forward)
            rc = rewind_refused(db, name, &old, commit);
    }
    if (!rc)
        rc = cairn__stack_ref_cas(db->stack, path, have_old ? &old : NULL, commit);
done:
    cairn__ref_unlock(db);
    return rc;
}

int cairn_ref_delete(cairn_db *db, cairn_ref_kind kind, const char *name, cairn_id *was)
{
    char path[CAIRN_REF_NAME_MAX + 1];
    cairn_id old;
    int rc;

    cairn__detail_clear();
    if ((rc = check_ref_args(db, kind, name)))
        return rc;
    cairn__ref_path(kind, name, path);
    if ((rc = cairn__ref_lock(db)))
        return rc;
    if ((rc = cairn__stack_ref_get(db->stack, path, &old)) == CAIRN_NOTFOUND)
        rc = cairn__fail(CAIRN_NOTFOUND, "no %s '%s'", kind == CAIRN_TAG ? "tag" : "branch",
                         name);
    else if (!rc && !(rc = cairn__stack_ref_cas(db->stack, path, &old, NULL)) && was)
        *was = old;
    cairn__ref_unlock(db);
    return rc;
}

typedef struct list_ctx {
    cairn_ref_kind kind;
    cairn_ref_visitor fn;
    void *ctx;
    size_t prefix_len;
    size_t damaged;       /* refs whose value is damaged, skipped */
    char first_damaged[CAIRN_REF_NAME_MAX + 1];
} list_ctx;

static int list_one(void *ctx, const char *name, const cairn_id *id)
{
    list_ctx *lc = ctx;

    if (!id) {
        if (lc->damaged++ == 0)
            snprintf(lc->first_damaged, sizeof(lc->first_damaged), "%s", name);
        return 0;
    }
    return lc->fn(lc->ctx, lc->kind, name + lc->prefix_len, id);
}

int cairn_ref_list(cairn_db *db, cairn_ref_visitor fn, void *ctx)
{
    list_ctx lc = {CAIRN_BRANCH, fn, ctx, strlen("heads/"), 0, ""};
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__stack_ref_list(db->stack, "heads/", list_one, &lc)))
        return rc;
    lc.kind = CAIRN_TAG;
    lc.prefix_len = strlen("tags/");
    if ((rc = cairn__stack_ref_list(db->stack, "tags/", list_one, &lc)))
        return rc;
    if (lc.damaged)
        return cairn__fail(CAIRN_CORRUPT,
                           "%zu damaged ref%s skipped (the first: '%s'); every other ref was "
                           "listed; cairn verify reports them",
                           lc.damaged, lc.damaged == 1 ? "" : "s", lc.first_damaged);
    return 0;
}
