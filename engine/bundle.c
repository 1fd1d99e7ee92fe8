/*
 * bundle.c - cairn_bundle_export and cairn_bundle_import: a copy into a
 * file, and a copy out of one (the format: tiers/bundle.h, docs/format.md
 * "Bundles").
 *
 * Export walks history as cairn_copy does (copier.h), with a bundle writer
 * as the destination: every blob once, in the order the walk offers them
 * (so a tree's nodes lie together), then the boundary list of the commits
 * where the walk stopped at the store's gc, then the manifest.
 *
 * Import opens the bundle as a read-only store (its manifest is the tier's
 * ref table) and copies from it with cairn__copy, after it has checked
 * everything a hostile file could get wrong: the pack (footer, index), the
 * manifest (names, the blobs it names), every record's hash, the
 * settings, the boundary list and the commits the refs name; cairn__copy
 * then walks the history once without writing (a blob missing, a node
 * that does not decode), and only then copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bundle.h"
#include "copier.h"
#include "engine.h"
#include "error.h"
#include "id.h"

/* Node cache of the store a bundle is read as. */
#define BUNDLE_CACHE_BYTES ((size_t)64 << 20)

/* ---------------------------------------------------------------- export */

static int writer_has(void *ctx, const cairn_id *ids, size_t n, bool *out)
{
    cairn__bundle_writer_has(ctx, ids, n, out);
    return 0;
}

static int writer_put(void *ctx, const cairn_blob *blobs, size_t n)
{
    return cairn__bundle_writer_put(ctx, blobs, n);
}

/* The manifest: the refs exported, the settings, the boundary list. */
static int finish(cairn_bundle_writer *w, const cairn__ref_list *sel, const cairn_id *config,
                  const cairn_id *boundary)
{
    cairn__ref_list all = {0};
    cairn_bundle_ref *refs = NULL;
    int rc = 0;

    for (size_t i = 0; i < sel->n && !rc; i++)
        rc = cairn__ref_list_add(&all, sel->v[i].name, &sel->v[i].id);
    if (!rc)
        rc = cairn__ref_list_add(&all, CAIRN_CONFIG_REF, config);
    if (!rc && boundary)
        rc = cairn__ref_list_add(&all, CAIRN_BOUNDARY_REF, boundary);
    if (!rc && !(refs = cairn__calloc(all.n, sizeof(*refs))))
        rc = cairn__fail(CAIRN_NOMEM, "out of memory");
    if (!rc) {
        cairn__ref_list_sort(&all);
        for (size_t i = 0; i < all.n; i++)
            refs[i] = (cairn_bundle_ref){all.v[i].name, all.v[i].id};
        rc = cairn__bundle_writer_finish(w, refs, all.n);
    }
    cairn__free(refs);
    cairn__ref_list_free(&all);
    return rc;
}

int cairn_bundle_export(cairn_db *db, void *out, const char *const *names, size_t n_names,
                        const cairn_copy_options *opts, cairn_copy_report *report)
{
    cairn_copy_report local;
    cairn__ref_list sel = {0};
    cairn_bundle_writer *w = NULL;
    cairn__copier *c = NULL;
    cairn_idset complete = {0};
    cairn_id config, boundary;
    bool has_boundary = false;
    int rc;

    cairn__detail_clear();
    if (!report)
        report = &local;
    memset(report, 0, sizeof(*report));
    if (!db || !out)
        return cairn__fail(CAIRN_BADARG, "cairn_bundle_export needs a store and a stream");
    if ((rc = cairn__copy_select(db, names, n_names, &sel)))
        goto done;
    if ((rc = cairn__stack_ref_get(db->stack, CAIRN_CONFIG_REF, &config))) {
        if (rc == CAIRN_NOTFOUND)
            rc = cairn__fail(CAIRN_CORRUPT, "the store has no settings (meta/config)");
        goto done;
    }
    if ((rc = cairn__bundle_writer_new(out, &w)))
        goto done;
    if (!(c = cairn__malloc(sizeof(*c)))) {
        rc = cairn__fail(CAIRN_NOMEM, "out of memory");
        goto done;
    }
    cairn__copier_init(c, db, (cairn__sink){writer_has, writer_put, w}, CAIRN__COPY_WRITE);
    c->phase = "exporting";
    if (opts) {
        c->progress = opts->progress;
        c->progress_ctx = opts->progress_ctx;
    }
    rc = cairn__copier_add(c, &config, NULL, 0);
    for (size_t i = 0; i < sel.n && !rc; i++)
        rc = cairn__copier_history(c, &sel.v[i].id, NULL, &complete);
    if (!rc)
        rc = cairn__copier_flush(c);
    if (!rc && c->boundaries.n) {
        uint8_t *bytes;
        size_t len;
        if (!(rc = cairn__boundary_encode(&c->boundaries, &bytes, &len, &boundary))) {
            cairn_blob blob = {boundary, bytes, len};
            rc = cairn__bundle_writer_put(w, &blob, 1);
            cairn__free(bytes);
            has_boundary = true;
            report->boundaries = c->boundaries.n;
        }
    }
    if (!rc)
        rc = finish(w, &sel, &config, has_boundary ? &boundary : NULL);
    report->refs_moved = rc ? 0 : sel.n;
    report->commits = c->commits;
    report->blobs_skipped = c->blobs_skipped;
    cairn__bundle_writer_counts(w, &report->blobs_copied, &report->bytes_copied);
done:
    if (c) {
        cairn__copier_clear(c);
        cairn__free(c);
    }
    cairn__bundle_writer_free(w);
    cairn__idset_free(&complete);
    cairn__ref_list_free(&sel);
    return rc;
}

/* ---------------------------------------------------------------- import */

/* bsearch of a name among refs sorted by name. */
static int by_name(const void *key, const void *elem)
{
    return strcmp(key, ((const cairn__ref *)elem)->name);
}

/* The manifest names only what a store's refs may be, and the settings. */
static int check_names(cairn_tier *t, const char *path)
{
    cairn__ref_list refs;
    bool config = false;
    int rc;

    if ((rc = cairn__ref_list_tier(t, "", &refs)))
        return rc;
    for (size_t i = 0; i < refs.n && !rc; i++) {
        const char *name = refs.v[i].name;
        if (!strcmp(name, CAIRN_CONFIG_REF))
            config = true;
        else if (!strcmp(name, CAIRN_BOUNDARY_REF))
            ;
        else if (!strncmp(name, "heads/", 6) || !strncmp(name, "tags/", 5)) {
            if (cairn__check_ref_name("branch or tag", name + (name[0] == 'h' ? 6 : 5))) {
                cairn__detail_clear();
                rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: its manifest names ref '%s', whose "
                                                "name is not a branch's or tag's", path, name);
            }
        } else {
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: its manifest names ref '%s', which no "
                                            "store has", path, name);
        }
    }
    if (!rc && !config)
        rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: its manifest names no settings (meta/config)",
                         path);
    /* A ref cannot also be a folder of refs ("heads/a" and "heads/a/b"): a
     * store refuses to hold both, so a bundle cannot name both. Each
     * name's folders are looked up (the names are sorted). */
    for (size_t i = 0; i < refs.n && !rc; i++) {
        const char *name = refs.v[i].name, *slash = strchr(name, '/');
        for (slash = slash ? strchr(slash + 1, '/') : NULL; slash && !rc;
             slash = strchr(slash + 1, '/')) {
            char folder[CAIRN_REF_NAME_MAX + 1];
            snprintf(folder, sizeof(folder), "%.*s", (int)(slash - name), name);
            if (bsearch(folder, refs.v, refs.n, sizeof(*refs.v), by_name))
                rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: its manifest names both '%s' and "
                                                "'%s' (a ref cannot also be a folder of refs)",
                                 path, folder, name);
        }
    }
    cairn__ref_list_free(&refs);
    return rc;
}

/* Of the bundle read as a store: the boundary list decodes, and every
 * branch and tag names a commit. */
static int check_refs(cairn_db *b, const char *path)
{
    cairn__ref_list refs;
    cairn_idset boundary;
    bool exists;
    int rc;

    if ((rc = cairn__boundary_load(b, &boundary, &exists)))
        return cairn__bundle_refused(path, rc);
    cairn__idset_free(&boundary);
    if ((rc = cairn__ref_list_stack(b->stack, "", &refs)))
        return cairn__bundle_refused(path, rc);
    for (size_t i = 0; i < refs.n && !rc; i++) {
        cairn_commit_info info;
        if (cairn__ref_is_meta(refs.v[i].name))
            continue;
        if ((rc = cairn_commit_get(b, &refs.v[i].id, &info))) {
            char hex[CAIRN_ID_HEX + 1];
            cairn_id_to_hex(&refs.v[i].id, hex);
            rc = cairn__fail(CAIRN_CORRUPT, "bundle %s: ref '%s' names blob %s, which is not a "
                                            "commit", path, refs.v[i].name, hex);
        }
        cairn_commit_info_clear(&info);
    }
    cairn__ref_list_free(&refs);
    return rc;
}

struct check_progress {
    const cairn_copy_options *opts;
};

static void on_check(void *ctx, uint64_t blobs, uint64_t bytes)
{
    const struct check_progress *p = ctx;
    p->opts->progress(p->opts->progress_ctx, "checking", blobs, bytes);
}

int cairn_bundle_import(cairn_db *db, const char *path, const char *const *names,
                        size_t n_names, const cairn_copy_options *opts, cairn_copy_report *report)
{
    cairn_copy_options o;
    cairn_copy_report local;
    struct check_progress cp = {&o};
    cairn_tier *t = NULL;
    cairn_stack *st;
    cairn_db *b = NULL;
    cairn_options bo;
    int rc;

    cairn__detail_clear();
    if (!report)
        report = &local;
    memset(report, 0, sizeof(*report));
    if (opts)
        o = *opts;
    else
        cairn_copy_options_init(&o);
    if (!db || !path)
        return cairn__fail(CAIRN_BADARG, "cairn_bundle_import needs a store and a path");
    if (!(o.flags & CAIRN_COPY_DRY_RUN) && (db->flags & CAIRN_RDONLY))
        return cairn__fail(CAIRN_RDONLY_STORE, "the store is open read-only");
    if ((rc = cairn__bundle_open(path, &t)))
        return rc;
    if ((rc = check_names(t, path)) ||
        (rc = cairn__bundle_check(t, o.progress ? on_check : NULL, &cp))) {
        cairn__tier_close(t);
        return rc;
    }
    if ((rc = cairn__stack_of_tier(t, &st)))
        return rc;
    cairn_options_init(&bo);
    bo.flags = CAIRN_RDONLY;
    bo.node_cache_bytes = BUNDLE_CACHE_BYTES;
    if ((rc = cairn__db_open_stack(st, &bo, &b)))
        return cairn__bundle_refused(path, rc);
    if (!(rc = check_refs(b, path)))
        rc = cairn__copy(b, db, names, n_names, &o, report, path);
    cairn_close(b);
    return rc;
}
