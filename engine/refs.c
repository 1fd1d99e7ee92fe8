/* refs.c - branch and tag names, resolving "at" strings, moving refs. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "error.h"

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

static bool is_hex_id(const char *s)
{
    size_t i;
    for (i = 0; i < CAIRN_ID_HEX; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return s[CAIRN_ID_HEX] == '\0';
}

int cairn_resolve(cairn_db *db, const char *at, cairn_id *out)
{
    char path[CAIRN_REF_NAME_MAX + 1];
    int rc;

    cairn__detail_clear();
    if (!at)
        at = CAIRN_DEFAULT_BRANCH;
    if (strlen(at) <= CAIRN_NAME_MAX) {
        cairn__ref_path(CAIRN_BRANCH, at, path);
        if ((rc = cairn__stack_ref_get(db->stack, path, out)) != CAIRN_NOTFOUND)
            return rc;
        cairn__ref_path(CAIRN_TAG, at, path);
        if ((rc = cairn__stack_ref_get(db->stack, path, out)) != CAIRN_NOTFOUND)
            return rc;
    }
    if (is_hex_id(at)) {
        cairn_commit_info info;
        cairn_id id;
        cairn_id_from_hex(at, &id);
        /* Only a commit that exists resolves. */
        if ((rc = cairn_commit_get(db, &id, &info)))
            return rc == CAIRN_MISSING ? cairn__fail(CAIRN_NOTFOUND, "no commit %s", at) : rc;
        cairn_commit_info_clear(&info);
        *out = id;
        return 0;
    }
    return cairn__fail(CAIRN_NOTFOUND, "no branch, tag or commit named '%s'", at);
}

int cairn_ref_set(cairn_db *db, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    char path[CAIRN_REF_NAME_MAX + 1];
    cairn_commit_info info;
    cairn_id old;
    int rc, have_old;

    cairn__detail_clear();
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "cannot set a ref in a read-only store");
    if (kind != CAIRN_BRANCH && kind != CAIRN_TAG)
        return cairn__fail(CAIRN_BADARG, "unknown ref kind %d", (int)kind);
    if ((rc = cairn__check_ref_name(kind == CAIRN_TAG ? "tag" : "branch", name)))
        return rc;
    if ((rc = cairn_commit_get(db, commit, &info)))
        return rc;
    cairn_commit_info_clear(&info);
    cairn__ref_path(kind, name, path);
    rc = cairn__stack_ref_get(db->stack, path, &old);
    if (rc && rc != CAIRN_NOTFOUND)
        return rc;
    have_old = rc == 0;
    if (!have_old && (rc = cairn__ref_check_free(db->stack, path)))
        return rc;
    if (kind == CAIRN_TAG) {
        if (have_old)
            return cairn__fail(CAIRN_CONFLICT, "tag '%s' already exists", name);
        return cairn__stack_ref_cas(db->stack, path, NULL, commit);
    }
    /* Moving a branch is a write: it takes the writer lock. */
    pthread_mutex_lock(&db->mu);
    rc = db->txn_open ? cairn__fail(CAIRN_BUSY, "a write transaction is open on this store")
                      : cairn__stack_writer_lock(db->stack, true);
    pthread_mutex_unlock(&db->mu);
    if (rc)
        return rc;
    rc = cairn__stack_ref_cas(db->stack, path, have_old ? &old : NULL, commit);
    if (!rc && cairn__stack_behind(db->stack) && cairn__followers_catch_up(db))
        cairn__detail_clear();
    cairn__stack_writer_lock(db->stack, false);
    return rc;
}

typedef struct list_ctx {
    cairn_ref_kind kind;
    cairn_ref_visitor fn;
    void *ctx;
    size_t prefix_len;
} list_ctx;

static int list_one(void *ctx, const char *name, const cairn_id *id)
{
    list_ctx *lc = ctx;
    return lc->fn(lc->ctx, lc->kind, name + lc->prefix_len, id);
}

int cairn_ref_list(cairn_db *db, cairn_ref_visitor fn, void *ctx)
{
    list_ctx lc = {CAIRN_BRANCH, fn, ctx, strlen("heads/")};
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__stack_ref_list(db->stack, "heads/", list_one, &lc)))
        return rc;
    lc.kind = CAIRN_TAG;
    lc.prefix_len = strlen("tags/");
    return cairn__stack_ref_list(db->stack, "tags/", list_one, &lc);
}
