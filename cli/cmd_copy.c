/*
 * cmd_copy.c - copying refs with their history between stores (copy), and
 * through a bundle file (export and import --format pack).
 *
 * Each prints one line per ref it creates or moves and a summary on
 * stdout, a progress line on a terminal, and exits 4 when a ref conflicts
 * (the destination is then unchanged; --force moves it anyway).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* What the ref lines need: whether it is a dry run, and the progress
 * line to clear first (it is on stderr, they are on stdout: a terminal
 * shows both). */
typedef struct ref_printer {
    bool dry_run;
    progress *progress;
} ref_printer;

/* Prints "branch NAME: OLD -> NEW" (full ids; OLD "(new)" for a ref
 * created) for each ref moved (cairn_copy_options on_ref). */
static void print_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *old_commit,
                      const cairn_id *new_commit, bool forced)
{
    const ref_printer *rp = ctx;
    char old_hex[CAIRN_ID_HEX + 1], new_hex[CAIRN_ID_HEX + 1];

    progress_done(rp->progress);
    cairn_id_to_hex(new_commit, new_hex);
    if (old_commit)
        cairn_id_to_hex(old_commit, old_hex);
    printf("%s%s %s: %s -> %s%s\n", rp->dry_run ? "would move " : "",
           kind == CAIRN_TAG ? "tag" : "branch", name, old_commit ? old_hex : "(new)", new_hex,
           forced ? " (forced)" : "");
}

static void print_report(const cairn_copy_report *r, bool dry_run, const char *what)
{
    printf("%s %" PRIu64 " ref%s (%" PRIu64 " already there), %" PRIu64 " commit%s, %" PRIu64
           " blob%s (%.1f MB); %" PRIu64 " blob%s the destination held\n",
           dry_run ? (strcmp(what, "copied") ? "would import" : "would copy") : what,
           r->refs_moved, r->refs_moved == 1 ? "" : "s", r->refs_same, r->commits,
           r->commits == 1 ? "" : "s", r->blobs_copied, r->blobs_copied == 1 ? "" : "s",
           (double)r->bytes_copied / 1e6, r->blobs_skipped, r->blobs_skipped == 1 ? "" : "s");
    if (r->boundaries)
        printf("%" PRIu64 " commit%s whose earlier history gc dropped in the source %s listed as "
               "boundaries\n",
               r->boundaries, r->boundaries == 1 ? "" : "s", dry_run ? "would be" : "now");
    if (r->settings_adopted)
        printf("the destination %s the source's settings (it was empty)\n",
               dry_run ? "would take" : "took");
    if (dry_run)
        printf("dry run: nothing was written\n");
}

static void options_for(cli *c, cairn_copy_options *o, progress *p, ref_printer *rp)
{
    cairn_copy_options_init(o);
    o->flags = (c->force ? CAIRN_COPY_FORCE : 0) | (c->dry_run ? CAIRN_COPY_DRY_RUN : 0);
    o->progress = progress_phase;
    o->progress_ctx = p;
    *rp = (ref_printer){c->dry_run, p};
    o->on_ref = print_ref;
    o->on_ref_ctx = rp;
}

/* The exit status of a failed copy or import, after its message. */
static int copy_failed(int rc, const char *what)
{
    if (rc == CAIRN_NOTFOUND) { /* an unknown REF: bad input, as everywhere */
        cli_error(rc, "%s", what);
        return EXIT_USAGE;
    }
    if (rc != CAIRN_CONFLICT)
        return cli_error(rc, "%s", what);
    /* (not strerror's "compare-and-swap failed": the detail says it all) */
    fprintf(stderr, "cairn: %s: %s\ncairn: nothing was changed; --force moves the ref anyway\n",
            what, cairn_errdetail());
    return cli_exit_code(rc);
}

/* ---------------------------------------------------------------- copy */

static int open_store(const char *spec, unsigned flags, cairn_db **out)
{
    cairn_options o;
    int rc;

    cairn_options_init(&o);
    o.flags = flags;
    if ((rc = cairn_open(spec, &o, out)) == 0)
        return 0;
    char shown[1024];
    cairn_spec_redact(spec, shown, sizeof(shown));
    if (rc == CAIRN_NOTFOUND) {
        cli_error(rc, "no store at '%s' (nothing has been written there yet)", shown);
        return EXIT_USAGE;
    }
    return cli_error(rc, "cannot open store '%s'", shown);
}

int cmd_copy(cli *c)
{
    const char *src_spec = c->args[0], *dst_spec = c->args[1];
    cairn_db *src = NULL, *dst = NULL;
    cairn_copy_options o;
    cairn_copy_report r;
    ref_printer rp;
    progress p;
    int rc, status;

    if ((status = open_store(src_spec, CAIRN_RDONLY, &src)))
        return status;
    if (c->dry_run) {
        /* Read-only; a store not made yet is an empty one. */
        cairn_options mo;
        cairn_options_init(&mo);
        mo.flags = CAIRN_RDONLY;
        rc = cairn_open(dst_spec, &mo, &dst);
        if (rc == CAIRN_NOTFOUND) {
            cairn_options_init(&mo);
            rc = cairn_open("mem", &mo, &dst);
        }
        char shown[1024];
        status = rc ? cli_error(rc, "cannot open store '%s'",
                                cairn_spec_redact(dst_spec, shown, sizeof(shown)))
                    : 0;
    } else {
        status = open_store(dst_spec, 0, &dst);
    }
    if (status) {
        cairn_close(src);
        return status;
    }
    progress_init(&p, "copying");
    options_for(c, &o, &p, &rp);
    rc = cairn_copy(src, dst, (const char *const *)c->args + 2, (size_t)c->n_args - 2, &o, &r);
    progress_done(&p);
    if (rc) {
        status = copy_failed(rc, "copy");
    } else {
        print_report(&r, c->dry_run, "copied");
        status = cli_flush_stdout();
        c->db = dst;
        if (!status && !c->dry_run)
            status = cli_warn_behind(c);
        c->db = NULL;
    }
    cairn_close(dst);
    cairn_close(src);
    return status;
}

/* ---------------------------------------------------------------- bundles */

/* export --format pack FILE|- [REF...]: the bundle is written under a
 * temporary name beside FILE, synced and renamed into place, so that FILE
 * is either the old file or a whole bundle. */
int cmd_export_pack(cli *c)
{
    const char *path = c->args[0];
    char tmp[4096];
    cairn_copy_options o;
    cairn_copy_report r;
    ref_printer rp;
    progress p;
    FILE *out;
    int rc, status = 0;

    if (strcmp(path, "-") == 0) {
        if (isatty(STDOUT_FILENO) == 1)
            return cli_say(EXIT_USAGE, "refusing to write a bundle to a terminal (redirect it, "
                                       "or give a FILE)");
        out = stdout;
    } else {
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
            return cli_say(EXIT_USAGE, "path too long: '%s'", path);
        if (!(out = fopen(tmp, "wb")))
            return cli_say(EXIT_FAILURE_, "cannot create '%s': %s", tmp, strerror(errno));
    }
    progress_init(&p, "exporting");
    options_for(c, &o, &p, &rp);
    o.on_ref = NULL;
    rc = cairn_bundle_export(c->db, out, (const char *const *)c->args + 1, (size_t)c->n_args - 1,
                             &o, &r);
    progress_done(&p);
    if (rc)
        status = copy_failed(rc, "export");
    if (out == stdout) {
        if (!status)
            status = cli_flush_stdout();
    } else {
        if (!status && (fflush(out) != 0 || fsync(fileno(out)) != 0))
            status = cli_say(EXIT_FAILURE_, "writing '%s': %s", tmp, strerror(errno));
        if (fclose(out) != 0 && !status)
            status = cli_say(EXIT_FAILURE_, "writing '%s': %s", tmp, strerror(errno));
        if (!status && rename(tmp, path) != 0)
            status = cli_say(EXIT_FAILURE_, "renaming '%s' to '%s': %s", tmp, path,
                             strerror(errno));
        if (status)
            unlink(tmp);
    }
    if (status)
        return status;
    fprintf(out == stdout ? stderr : stdout,
            "exported %" PRIu64 " ref%s, %" PRIu64 " commit%s, %" PRIu64 " blobs (%.1f MB)\n",
            r.refs_moved, r.refs_moved == 1 ? "" : "s", r.commits, r.commits == 1 ? "" : "s",
            r.blobs_copied, (double)r.bytes_copied / 1e6);
    return out == stdout ? 0 : cli_flush_stdout();
}

/* import --format pack FILE [REF...] */
int cmd_import_pack(cli *c)
{
    const char *path = c->args[0];
    cairn_copy_options o;
    cairn_copy_report r;
    struct stat sb;
    ref_printer rp;
    progress p;
    int rc, status;

    if (strcmp(path, "-") == 0)
        return cli_say(EXIT_USAGE, "a bundle is read from its end: give a FILE, not stdin");
    if (stat(path, &sb) != 0)
        return cli_say(errno == ENOENT ? EXIT_USAGE : EXIT_FAILURE_, "cannot open '%s': %s",
                       path, strerror(errno));
    progress_init(&p, "importing");
    options_for(c, &o, &p, &rp);
    rc = cairn_bundle_import(c->db, path, (const char *const *)c->args + 1, (size_t)c->n_args - 1,
                             &o, &r);
    progress_done(&p);
    if (rc)
        return copy_failed(rc, "import");
    print_report(&r, c->dry_run, "imported");
    if ((status = cli_flush_stdout()))
        return status;
    return c->dry_run ? 0 : cli_warn_behind(c);
}
