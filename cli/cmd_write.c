/*
 * cmd_write.c - the write commands: put, del, import, tag, branch and
 * reset. put and del make one commit each on -b BRANCH (default main);
 * import commits once per --batch records; tag, branch and reset move refs
 * only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---------------------------------------------------------------- put, del */

static bool same_id(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* After a write: a ref tier of the stack that could not follow is named on
 * stderr (the write stands; the tier catches up later). Returns 0. */
int cli_warn_behind(cli *c)
{
    const char *spec = NULL;
    unsigned n = cairn_tiers_behind(c->db, &spec);

    if (n)
        fprintf(stderr,
                "cairn: warning: tier '%s'%s is behind the primary (the write stands; it "
                "catches up at the next write or 'cairn sync')\n",
                spec, n > 1 ? " and others" : "");
    return 0;
}

/*
 * Runs one single-key transaction: a put of value[0..value_len) (if value
 * is not NULL) or a delete of key, committed with -m MSG or "VERB KEY".
 * Returns the exit status.
 */
static int write_one(cli *c, const char *verb, const char *key, const char *value,
                     size_t value_len)
{
    cairn_txn *txn;
    cairn_id base, head;
    bool has_base;
    char message[600], q[512];
    int rc;

    if ((rc = cairn_txn_begin(c->db, c->branch, &txn)))
        return cli_error(rc, "%s: beginning a transaction on branch '%s'", verb,
                         c->branch ? c->branch : "main");
    if (value)
        rc = cairn_txn_put(txn, c->space, key, strlen(key), value, value_len);
    else
        rc = cairn_txn_del(txn, c->space, key, strlen(key));
    if (rc) {
        int status = cli_error(rc, "%s '%s'", verb, cli_quote(key, strlen(key), q));
        cairn_txn_abort(txn);
        return status;
    }
    if (!c->message)
        snprintf(message, sizeof(message), "%s %s", verb, cli_quote(key, strlen(key), q));
    has_base = cairn_txn_base(txn, &base);
    memset(&head, 0, sizeof(head));
    if ((rc = cairn_txn_commit(txn, c->message ? c->message : message, &head)))
        return cli_error(rc, "%s '%s': commit", verb, cli_quote(key, strlen(key), q));
    if (has_base ? same_id(&head, &base) : cairn_resolve(c->db, c->branch, &head) != 0)
        fprintf(stderr, "cairn: nothing to commit: %s '%s' changes nothing (%s)\n", verb,
                cli_quote(key, strlen(key), q),
                value ? "the key already has this value" : "the key is absent");
    return cli_warn_behind(c);
}

/*
 * Reads all of stdin into a malloc'd buffer (OUT: *out, free it; *len),
 * refusing more than CAIRN_VALUE_MAX bytes. Returns 0 or the exit status
 * after printing the error: EXIT_USAGE for too much input, EXIT_FAILURE_
 * for a read error or no memory.
 */
static int read_stdin_value(char **out, size_t *len)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = NULL, *grown;

    for (;;) {
        if (!(grown = realloc(buf, cap))) {
            free(buf);
            return cli_say(EXIT_FAILURE_, "put: out of memory reading the value from stdin");
        }
        buf = grown;
        errno = 0;
        n += fread(buf + n, 1, cap - n, stdin);
        if (n > CAIRN_VALUE_MAX) {
            free(buf);
            return cli_say(EXIT_USAGE,
                           "put: the value on stdin is too long (more than %u bytes, the "
                           "most a value can hold)",
                           (unsigned)CAIRN_VALUE_MAX);
        }
        if (ferror(stdin)) {
            free(buf);
            return cli_say(EXIT_FAILURE_, "put: reading the value from stdin: %s",
                           strerror(errno ? errno : EIO));
        }
        if (n < cap) /* fread stops short only at the end of the input */
            break;
        /* Grow, but never past one byte over the limit: reading that byte
         * tells "at the limit" from "over it". */
        cap = cap * 2 > (size_t)CAIRN_VALUE_MAX + 1 ? (size_t)CAIRN_VALUE_MAX + 1 : cap * 2;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* put KEY VALUE, or put KEY - with the value read from stdin. */
int cmd_put(cli *c)
{
    const char *value = c->args[1];
    char *input = NULL;
    size_t len = strlen(value);
    int status;

    if (strcmp(value, "-") == 0) {
        if ((status = read_stdin_value(&input, &len)))
            return status;
        value = input;
    }
    status = write_one(c, "put", c->args[0], value, len);
    free(input);
    return status;
}

int cmd_del(cli *c)
{
    return write_one(c, "del", c->args[0], NULL, 0);
}

/* ---------------------------------------------------------------- import */

/*
 * import FILE|-: cairn_import with the command's options, a progress line
 * on a terminal, and always the summary "imported N records in M commits"
 * on stderr (after the error, if there was one). A file that does not
 * exist is bad input. SIGINT or SIGTERM (stop.c) stops the import at a
 * record boundary after it commits the records read; the command then says
 * where a rerun resumes ("FILE:LINE": line N is record N, so it is the line
 * after the last committed record), prints the summary, and main ends the
 * process by the signal.
 */
int cmd_import(cli *c)
{
    const char *path = c->args[0];
    cairn_import_options opts;
    uint64_t records = 0, commits = 0;
    progress prog;
    FILE *in;
    int rc, status = 0;

    if (c->pack)
        return cmd_import_pack(c);
    if (strcmp(path, "-") == 0)
        in = stdin;
    else if (!(in = fopen(path, "r")))
        return cli_say(errno == ENOENT ? EXIT_USAGE : EXIT_FAILURE_, "cannot open '%s': %s",
                       path, strerror(errno));

    memset(&opts, 0, sizeof(opts));
    opts.format = cli_format(c);
    opts.key_field = c->key_field;
    if (c->raw && c->format == CAIRN_JSONL)
        opts.flags |= CAIRN_IMPORT_UNTYPED; /* jsonl lines as they are */
    opts.space = c->space;
    opts.branch = c->branch;
    opts.source = in == stdin ? "<stdin>" : path;
    opts.batch = c->batch;
    opts.message = c->message;
    opts.progress = progress_update;
    opts.progress_ctx = &prog;
    opts.stop = &cli_stop_signal;

    cli_stop_catch();
    progress_init(&prog, "importing");
    rc = cairn_import(c->db, in, &opts, &records, &commits);
    progress_done(&prog);
    if (rc == -ECANCELED)
        status = cli_say(128 + cli_stop_signal, "import interrupted by %s; resume at %s:%" PRIu64,
                         cli_stop_name(), opts.source, records + 1);
    else if (rc)
        status = cli_error(rc, "import '%s'", opts.source);
    fprintf(stderr, "imported %" PRIu64 " record%s in %" PRIu64 " commit%s%s\n", records,
            records == 1 ? "" : "s", commits, commits == 1 ? "" : "s",
            records && !commits ? " (the store already held them)" : "");
    if (in != stdin)
        fclose(in);
    if (!status)
        status = cli_warn_behind(c);
    return status;
}

/* ---------------------------------------------------------------- tag, branch */

/* Deletes ref name of kind and says which commit it named. The default
 * branch, main, goes only with --force: every command reads and writes it
 * unless told otherwise, and the next put would start a new history with
 * no parent there. */
static int delete_ref(cli *c, cairn_ref_kind kind)
{
    const char *kind_name = kind == CAIRN_TAG ? "tag" : "branch";
    const char *name = c->args[0];
    char q[512], hex[CAIRN_ID_HEX + 1];
    cairn_id was;
    int rc;

    if (kind == CAIRN_BRANCH && strcmp(name, "main") == 0 && !c->force)
        return cli_say(EXIT_USAGE,
                       "branch 'main' is the default branch (read and written unless -b says "
                       "otherwise; the next put there would start a new history): "
                       "'branch -d main --force' deletes it");
    if ((rc = cairn_ref_delete(c->db, kind, name, &was))) {
        if (rc == CAIRN_NOTFOUND)
            return cli_say(EXIT_USAGE, "no %s '%s'", kind_name, cli_quote(name, strlen(name), q));
        return cli_error(rc, "deleting %s '%s'", kind_name, cli_quote(name, strlen(name), q));
    }
    cairn_id_to_hex(&was, hex);
    printf("deleted %s %s (was %s)\n", kind_name, cli_quote(name, strlen(name), q), hex);
    if ((rc = cli_flush_stdout()))
        return rc;
    return cli_warn_behind(c);
}

/* Points ref name of kind at --at REF, or at the head of -b BRANCH or main. */
static int set_ref(cli *c, cairn_ref_kind kind)
{
    const char *kind_name = kind == CAIRN_TAG ? "tag" : "branch";
    const char *name = c->args[0];
    const char *target = c->at ? c->at : c->branch ? c->branch : "main";
    char q[512], q2[512];
    cairn_id commit;
    int rc;

    if (c->delete_)
        return delete_ref(c, kind);
    if ((rc = cairn_resolve(c->db, target, &commit))) {
        if (rc != CAIRN_NOTFOUND)
            return cli_error(rc, "%s: resolving '%s'", kind_name,
                             cli_quote(target, strlen(target), q));
        if (c->at)
            cli_error(rc, "unknown branch, tag or commit '%s'",
                      cli_quote(target, strlen(target), q));
        else
            cli_error(rc, "branch '%s' has no commits to point a %s at",
                      cli_quote(target, strlen(target), q), kind_name);
        return EXIT_USAGE;
    }
    rc = cairn_ref_set(c->db, kind, name, &commit, c->force ? CAIRN_REF_FORCE : 0);
    if (rc == CAIRN_EXISTS)
        return cli_say(EXIT_USAGE, "tag '%s' already exists (tags do not move; 'tag -d %s' "
                                   "deletes it)",
                       cli_quote(name, strlen(name), q), cli_quote(name, strlen(name), q2));
    if (rc == CAIRN_REWIND)
        return cli_say(EXIT_USAGE, "%s (use --force to move branch '%s' anyway)",
                       cairn_errdetail(), cli_quote(name, strlen(name), q));
    if (rc)
        return cli_error(rc, "%s '%s' at '%s'", kind_name, cli_quote(name, strlen(name), q),
                         cli_quote(target, strlen(target), q2));
    return cli_warn_behind(c);
}

/* sync: brings every ref tier behind the primary up to date and makes
 * every tier durable. */
int cmd_sync(cli *c)
{
    int rc;

    if ((rc = cairn_sync(c->db)))
        return cli_error(rc, "sync");
    return 0;
}

int cmd_tag(cli *c)
{
    return set_ref(c, CAIRN_TAG);
}

int cmd_branch(cli *c)
{
    return set_ref(c, CAIRN_BRANCH);
}

/* ---------------------------------------------------------------- reset */

typedef struct ref_lookup {
    const char *name;
    bool branch, tag; /* found as a branch, as a tag */
    cairn_id head;    /* the branch's commit */
} ref_lookup;

static int look_for_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    ref_lookup *l = ctx;

    if (strcmp(name, l->name) != 0)
        return 0;
    if (kind == CAIRN_BRANCH) {
        l->branch = true;
        l->head = *commit;
    } else {
        l->tag = true;
    }
    return 0;
}

/*
 * reset BRANCH REF [--force]: moves an existing branch to REF (any --at
 * syntax), a rollback or a fast-forward. As for 'branch NAME --at REF', a
 * move that would drop commits from the branch (REF does not descend from
 * its head) is refused, exit 2 and nothing changed, unless --force; forced,
 * it says on stderr what left the branch and how to undo it. A missing
 * branch is an error (exit 2: 'branch NAME --at REF' creates one). Prints
 * "reset branch NAME: OLD -> NEW" (full ids), or "branch NAME is already at
 * ID" (nothing written). OLD is the head read just before the move; the
 * move itself is checked against the head under the writer lock.
 */
int cmd_reset(cli *c)
{
    const char *name = c->args[0], *target = c->args[1];
    char q[512], q2[512], old_hex[CAIRN_ID_HEX + 1], new_hex[CAIRN_ID_HEX + 1];
    char refused[1024] = "";
    ref_lookup look = {name, false, false, {{0}}};
    cairn_id commit;
    int rc;

    if ((rc = cairn_resolve(c->db, target, &commit))) {
        if (rc != CAIRN_NOTFOUND)
            return cli_error(rc, "reset: resolving '%s'", cli_quote(target, strlen(target), q));
        cli_error(rc, "reset: unknown branch, tag or commit '%s'",
                  cli_quote(target, strlen(target), q));
        return EXIT_USAGE;
    }
    rc = cairn_ref_list(c->db, look_for_ref, &look);
    if (rc && rc != CAIRN_CORRUPT) /* (a damaged other ref does not matter here) */
        return cli_error(rc, "reset: listing refs");
    if (!look.branch) {
        if (look.tag)
            return cli_say(EXIT_USAGE, "reset: no branch '%s' ('%s' is a tag, and tags do not "
                                       "move)",
                           cli_quote(name, strlen(name), q), cli_quote(name, strlen(name), q2));
        return cli_say(EXIT_USAGE, "reset: no branch '%s' ('branch %s --at REF' creates one)",
                       cli_quote(name, strlen(name), q), cli_quote(name, strlen(name), q2));
    }
    cairn_id_to_hex(&look.head, old_hex);
    cairn_id_to_hex(&commit, new_hex);
    if (same_id(&look.head, &commit)) {
        printf("branch %s is already at %s\n", cli_quote(name, strlen(name), q), new_hex);
        return cli_flush_stdout();
    }
    rc = cairn_ref_set(c->db, CAIRN_BRANCH, name, &commit, CAIRN_REF_EXISTING);
    if (rc == CAIRN_REWIND) {
        if (!c->force)
            return cli_say(EXIT_USAGE, "reset refused: %s (nothing changed; use --force to "
                                       "reset branch '%s' anyway)",
                           cairn_errdetail(), cli_quote(name, strlen(name), q));
        snprintf(refused, sizeof(refused), "%s", cairn_errdetail());
        rc = cairn_ref_set(c->db, CAIRN_BRANCH, name, &commit,
                           CAIRN_REF_EXISTING | CAIRN_REF_FORCE);
    }
    if (rc == CAIRN_NOTFOUND) /* deleted since it was looked up */
        return cli_say(EXIT_USAGE, "reset: no branch '%s'", cli_quote(name, strlen(name), q));
    if (rc)
        return cli_error(rc, "reset branch '%s' to '%s'", cli_quote(name, strlen(name), q),
                         cli_quote(target, strlen(target), q2));
    printf("reset branch %s: %s -> %s\n", cli_quote(name, strlen(name), q), old_hex, new_hex);
    if ((rc = cli_flush_stdout()))
        return rc;
    if (refused[0])
        fprintf(stderr, "cairn: forced: %s; 'cairn reset %s %s' undoes it\n", refused,
                cli_quote(name, strlen(name), q), old_hex);
    return cli_warn_behind(c);
}
