/*
 * cmd_atomic.c - the conditional write commands: cas and incr (one commit
 * each, on -b BRANCH, default main) and apply (a file of operations, all in
 * one commit or none).
 *
 * They run on cairn_txn_cas and cairn_txn_incr, whose checks hold at the
 * commit (the writer lock is held from begin to commit). Like every write
 * command they do not wait for a busy store: another writer holding the
 * lock is exit 3 and nothing is written, so a script retries. A check that
 * fails is exit 4 (EXIT_CONFLICT).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Whether s[0..len) is a signed decimal as counters are written
 * (cairn_txn_incr): an optional '-', then digits only, within int64_t.
 * OUT: *out. */
static bool parse_int64(const char *s, size_t len, int64_t *out)
{
    bool negative = len > 0 && s[0] == '-';
    uint64_t magnitude = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t i = negative ? 1 : 0;

    if (i == len)
        return false;
    for (; i < len; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || magnitude > (limit - digit) / 10)
            return false;
        magnitude = magnitude * 10 + digit;
    }
    *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return true;
}

static bool same_id(const cairn_id *a, const cairn_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Commits txn with -m MSG or message. OUT: *changed (may be NULL): whether
 * a commit was written (a transaction that changes nothing writes none).
 * Returns 0 or the exit status after printing the error, whose context is
 * what (a command and key). */
static int commit(cli *c, cairn_txn *txn, const char *message, const char *what, bool *changed)
{
    cairn_id base, head;
    bool has_base = cairn_txn_base(txn, &base);
    int rc;

    memset(&head, 0, sizeof(head));
    if ((rc = cairn_txn_commit(txn, c->message ? c->message : message, &head)))
        return cli_error(rc, "%s: commit", what);
    if (changed)
        *changed = has_base ? !same_id(&head, &base) : cairn_resolve(c->db, c->branch, &head) == 0;
    return 0;
}

static int begin(cli *c, const char *verb, cairn_txn **txn)
{
    int rc = cairn_txn_begin(c->db, c->branch, txn);

    if (rc)
        return cli_error(rc, "%s: beginning a transaction on branch '%s'", verb,
                         c->branch ? c->branch : "main");
    return 0;
}

/* ---------------------------------------------------------------- cas */

/*
 * cas KEY EXPECTED NEW, cas --absent KEY NEW, cas -d KEY EXPECTED: one
 * cairn_txn_cas and its commit. A failed check prints what KEY holds and
 * returns EXIT_CONFLICT; nothing is written.
 */
int cmd_cas(cli *c)
{
    const char *key = c->args[0], *expected = NULL, *val = NULL;
    unsigned flags = (c->absent ? CAIRN_CAS_ABSENT : 0) | (c->delete_ ? CAIRN_CAS_DELETE : 0);
    int want_args = c->absent || c->delete_ ? 2 : 3;
    char q[512], what[600], message[600];
    cairn_txn *txn;
    bool changed;
    int rc, status;

    if (c->absent && c->delete_)
        return cli_usage("cas: give --absent or -d, not both");
    if (c->n_args != want_args)
        return cli_usage("cas%s takes %d arguments, not %d (usage: cairn cas KEY EXPECTED NEW | "
                         "cas --absent KEY NEW | cas -d KEY EXPECTED)",
                         c->absent ? " --absent" : c->delete_ ? " -d" : "", want_args, c->n_args);
    if (!c->absent)
        expected = c->args[1];
    if (!c->delete_)
        val = c->args[want_args - 1];
    cli_quote(key, strlen(key), q);
    snprintf(what, sizeof(what), "cas '%s'", q);
    snprintf(message, sizeof(message), "cas %s", q);
    if ((status = begin(c, "cas", &txn)))
        return status;
    rc = cairn_txn_cas(txn, c->space, key, strlen(key), expected, expected ? strlen(expected) : 0,
                       val, val ? strlen(val) : 0, flags);
    if (rc) {
        status = rc == CAIRN_CONFLICT ? cli_say(EXIT_CONFLICT, "cas failed: %s", cairn_errdetail())
                                      : cli_error(rc, "%s", what);
        cairn_txn_abort(txn);
        return status;
    }
    if ((status = commit(c, txn, message, what, &changed)))
        return status;
    if (!changed)
        fprintf(stderr, "cairn: nothing to commit: %s changes nothing (%s)\n", what,
                c->delete_ ? "the key is absent" : "the key already has this value");
    return cli_warn_behind(c);
}

/* ---------------------------------------------------------------- incr */

/* incr KEY [DELTA]: one cairn_txn_incr and its commit; prints the new
 * value. */
int cmd_incr(cli *c)
{
    const char *key = c->args[0];
    char q[512], what[600], message[600];
    int64_t delta = 1, value;
    cairn_txn *txn;
    int rc, status;

    if (c->n_args > 1 && !parse_int64(c->args[1], strlen(c->args[1]), &delta))
        return cli_usage("incr: DELTA must be a whole number from %" PRId64 " to %" PRId64
                         " written as digits with an optional '-', not '%s'",
                         INT64_MIN, INT64_MAX, cli_quote(c->args[1], strlen(c->args[1]), q));
    cli_quote(key, strlen(key), q);
    snprintf(what, sizeof(what), "incr '%s'", q);
    snprintf(message, sizeof(message), "incr %s", q);
    if ((status = begin(c, "incr", &txn)))
        return status;
    if ((rc = cairn_txn_incr(txn, c->space, key, strlen(key), delta, &value))) {
        status = cli_error(rc, "%s", what);
        cairn_txn_abort(txn);
        return status;
    }
    if ((status = commit(c, txn, message, what, NULL)))
        return status;
    printf("%" PRId64 "\n", value);
    if ((status = cli_flush_stdout()))
        return status;
    return cli_warn_behind(c);
}

/* ---------------------------------------------------------------- apply */

#define MAX_FIELDS 4

/* One apply: where it reads, and the line being parsed. */
typedef struct applier {
    cli *c;
    cairn_txn *txn;
    const char *source;    /* FILE, or "<stdin>" as import names it */
    uint64_t line_no;
    uint64_t ops;          /* operations applied so far */
    uint64_t bytes;        /* input read so far */
    char *fields[MAX_FIELDS];
    size_t lens[MAX_FIELDS];
    int n_fields;
} applier;

/* Prints "cairn: SOURCE:LINE: MESSAGE" and returns status. */
static int line_error(const applier *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int line_error(const applier *a, int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cli_say(status, "%s:%" PRIu64 ": %s", a->source, a->line_no, msg);
}

/* Splits line[0..len) at its tabs into a->fields (at most MAX_FIELDS). */
static int split_fields(applier *a, char *line, size_t len)
{
    char *end = line + len, *p = line, *tab;

    a->n_fields = 0;
    for (;;) {
        if (a->n_fields == MAX_FIELDS)
            return line_error(a, EXIT_USAGE, "too many fields (at most %d: an operation and "
                                             "its arguments; escape a tab in data as \\t)",
                              MAX_FIELDS);
        tab = memchr(p, '\t', (size_t)(end - p));
        a->fields[a->n_fields] = p;
        a->lens[a->n_fields++] = (size_t)((tab ? tab : end) - p);
        if (!tab)
            break;
        p = tab + 1;
    }
    return 0;
}

/* One operation of the apply language: its name, its arguments' names
 * (for messages) and how many it takes. */
typedef struct apply_op {
    const char *name;
    int min_args, max_args;
    const char *arg_names[3];
    const char *synopsis;
} apply_op;

static const apply_op apply_ops[] = {
    {"put", 2, 2, {"KEY", "VALUE"}, "put KEY VALUE"},
    {"del", 1, 1, {"KEY"}, "del KEY"},
    {"cas", 3, 3, {"KEY", "OLD", "NEW"}, "cas KEY OLD NEW"},
    {"cas-absent", 2, 2, {"KEY", "NEW"}, "cas-absent KEY NEW"},
    {"cas-del", 2, 2, {"KEY", "OLD"}, "cas-del KEY OLD"},
    {"incr", 1, 2, {"KEY", "DELTA"}, "incr KEY [DELTA]"},
};
#define N_APPLY_OPS (sizeof(apply_ops) / sizeof(apply_ops[0]))

static const apply_op *find_apply_op(const char *name, size_t len)
{
    for (size_t i = 0; i < N_APPLY_OPS; i++)
        if (strlen(apply_ops[i].name) == len && memcmp(apply_ops[i].name, name, len) == 0)
            return &apply_ops[i];
    return NULL;
}

/* Runs the operation of the parsed line on the transaction. Returns 0 or
 * the exit status after printing "SOURCE:LINE: OP 'KEY': what". */
static int run_op(applier *a, const apply_op *op)
{
    const char *key = a->fields[1], *space = a->c->space;
    size_t key_len = a->lens[1];
    char q[512], q2[512], detail[1024];
    int64_t delta = 1, value;
    int rc;

    if (strcmp(op->name, "incr") == 0 && a->n_fields == 3 &&
        !parse_int64(a->fields[2], a->lens[2], &delta))
        return line_error(a, EXIT_USAGE,
                          "incr '%s': DELTA '%s' is not a whole number from %" PRId64 " to %" PRId64
                          " (digits with an optional '-')",
                          cli_quote(key, key_len, q), cli_quote(a->fields[2], a->lens[2], q2),
                          INT64_MIN, INT64_MAX);
    if (strcmp(op->name, "put") == 0)
        rc = cairn_txn_put(a->txn, space, key, key_len, a->fields[2], a->lens[2]);
    else if (strcmp(op->name, "del") == 0)
        rc = cairn_txn_del(a->txn, space, key, key_len);
    else if (strcmp(op->name, "cas") == 0)
        rc = cairn_txn_cas(a->txn, space, key, key_len, a->fields[2], a->lens[2], a->fields[3],
                           a->lens[3], 0);
    else if (strcmp(op->name, "cas-absent") == 0)
        rc = cairn_txn_cas(a->txn, space, key, key_len, NULL, 0, a->fields[2], a->lens[2],
                           CAIRN_CAS_ABSENT);
    else if (strcmp(op->name, "cas-del") == 0)
        rc = cairn_txn_cas(a->txn, space, key, key_len, a->fields[2], a->lens[2], NULL, 0,
                           CAIRN_CAS_DELETE);
    else
        rc = cairn_txn_incr(a->txn, space, key, key_len, delta, &value);
    if (!rc)
        return 0;
    snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
    if (rc == CAIRN_CONFLICT)
        return line_error(a, EXIT_CONFLICT, "%s failed: %s", op->name, detail);
    return line_error(a, cli_exit_code(rc), "%s '%s': %s%s%s", op->name,
                      cli_quote(key, key_len, q), cairn_strerror(rc), detail[0] ? ": " : "",
                      detail);
}

/* Unescapes the arguments of the line (every field after the
 * operation's) in place, with cairn_tsv_unescape: the escaping of import. */
static int unescape_args(applier *a, const apply_op *op)
{
    for (int i = 1; i < a->n_fields; i++)
        if (cairn_tsv_unescape(a->fields[i], &a->lens[i]))
            return line_error(a, EXIT_USAGE, "%s (field %d): %s of the field",
                              op->arg_names[i - 1], i + 1, cairn_errdetail());
    return 0;
}

/* Parses and runs one line (without its line ending). */
static int apply_line(applier *a, char *line, size_t len)
{
    const apply_op *op;
    char q[512];
    int status, n_args;

    if (len == 0 || line[0] == '#')
        return 0;
    if ((status = split_fields(a, line, len)))
        return status;
    if (!(op = find_apply_op(a->fields[0], a->lens[0])))
        return line_error(a, EXIT_USAGE,
                          "unknown operation '%s' (want put, del, cas, cas-absent, cas-del or "
                          "incr, then a tab)",
                          cli_quote(a->fields[0], a->lens[0], q));
    n_args = a->n_fields - 1;
    if (n_args < op->min_args || n_args > op->max_args)
        return line_error(a, EXIT_USAGE, "%s takes %s%d tab-separated argument%s, not %d (%s)",
                          op->name, op->min_args < op->max_args ? "at most " : "",
                          op->max_args, op->max_args == 1 ? "" : "s", n_args, op->synopsis);
    if ((status = unescape_args(a, op)) || (status = run_op(a, op)))
        return status;
    a->ops++;
    return 0;
}

/* Reads every line of in into the transaction. Returns 0 or the exit
 * status after printing the error. */
static int apply_stream(applier *a, FILE *in, progress *prog, uint64_t total)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int status = 0;

    for (;;) {
        errno = 0;
        if ((got = getline(&line, &cap, in)) < 0)
            break;
        a->line_no++;
        a->bytes += (uint64_t)got;
        if (got && line[got - 1] == '\n' && --got && line[got - 1] == '\r')
            got--; /* CRLF, as import takes it */
        if ((status = apply_line(a, line, (size_t)got)))
            break;
        progress_update(prog, a->ops, a->bytes, total);
    }
    if (!status && ferror(in))
        status = cli_say(EXIT_FAILURE_, "%s: read error after line %" PRIu64 ": %s", a->source,
                         a->line_no, strerror(errno ? errno : EIO));
    free(line);
    return status;
}

/* Size of the stream if it is a regular file (for the progress line). */
static uint64_t file_size(FILE *in)
{
    struct stat st;
    return fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

/*
 * apply FILE|-: every operation in one transaction, committed only if every
 * line parses and runs. The summary ("applied N operations in 1 commit")
 * goes to stderr as import's does, after the error if there was one, and a
 * progress line is shown when stderr is a terminal. A signal ends the
 * process with nothing committed (no handler: there is nothing to keep).
 */
int cmd_apply(cli *c)
{
    const char *path = c->args[0];
    char message[600];
    applier a;
    progress prog;
    bool changed = false;
    FILE *in;
    int status;

    if (strcmp(path, "-") == 0)
        in = stdin;
    else if (!(in = fopen(path, "r")))
        return cli_say(errno == ENOENT ? EXIT_USAGE : EXIT_FAILURE_, "cannot open '%s': %s", path,
                       strerror(errno));
    memset(&a, 0, sizeof(a));
    a.c = c;
    a.source = in == stdin ? "<stdin>" : path;
    if ((status = begin(c, "apply", &a.txn)))
        goto done;
    progress_init(&prog, "applying");
    status = apply_stream(&a, in, &prog, file_size(in));
    progress_done(&prog);
    if (status) {
        cairn_txn_abort(a.txn);
    } else {
        snprintf(message, sizeof(message), "apply %s: %" PRIu64 " operation%s", a.source, a.ops,
                 a.ops == 1 ? "" : "s");
        status = commit(c, a.txn, message, a.source, &changed);
    }
    if (status)
        fprintf(stderr, "applied nothing: no commit (%s)\n", a.source);
    else
        fprintf(stderr, "applied %" PRIu64 " operation%s in %d commit%s%s\n", a.ops,
                a.ops == 1 ? "" : "s", changed ? 1 : 0, changed ? "" : "s",
                changed ? "" : " (they change nothing)");
done:
    if (in != stdin)
        fclose(in);
    return status ? status : cli_warn_behind(c);
}
