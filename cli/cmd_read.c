/*
 * cmd_read.c - the read commands: get, scan, count, export, root, log,
 * diff, spaces and refs. Each reads one version (--at, -b, or the head of
 * main) through a snapshot and writes its result to stdout.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---------------------------------------------------------------- ranges */

/* A key range [lo, hi); a NULL bound is unbounded. */
typedef struct range {
    const char *lo;
    size_t lo_len;
    const char *hi;
    size_t hi_len;
    char *succ;   /* malloc'd successor of the prefix, or NULL */
} range;

static int bytes_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;

    if (c)
        return c;
    return (a_len > b_len) - (a_len < b_len);
}

/*
 * Builds the range of --prefix, --from and --to: the prefix P gives
 * [P, successor(P)), where successor(P) drops P's trailing 0xff bytes and
 * increments the last byte left (none left: unbounded above); --from
 * raises the lower bound and --to lowers the upper one. Returns false if the
 * range is empty. r->succ must be freed by the caller.
 */
static bool range_build(const cli *c, range *r)
{
    size_t n;

    memset(r, 0, sizeof(*r));
    if (c->prefix) {
        r->lo = c->prefix;
        r->lo_len = strlen(c->prefix);
        n = r->lo_len;
        while (n && (unsigned char)c->prefix[n - 1] == 0xff)
            n--;
        if (n && (r->succ = malloc(n))) {
            memcpy(r->succ, c->prefix, n);
            r->succ[n - 1] = (char)((unsigned char)r->succ[n - 1] + 1);
            r->hi = r->succ;
            r->hi_len = n;
        }
    }
    if (c->from && (!r->lo || bytes_cmp(c->from, strlen(c->from), r->lo, r->lo_len) > 0)) {
        r->lo = c->from;
        r->lo_len = strlen(c->from);
    }
    if (c->to && (!r->hi || bytes_cmp(c->to, strlen(c->to), r->hi, r->hi_len) < 0)) {
        r->hi = c->to;
        r->hi_len = strlen(c->to);
    }
    return !(r->lo && r->hi && bytes_cmp(r->lo, r->lo_len, r->hi, r->hi_len) >= 0);
}

/* ---------------------------------------------------------------- get */

/* get KEY: prints the raw value and a newline; exit 1 if the key is
 * missing in the version read. */
int cmd_get(cli *c)
{
    const char *key = c->args[0];
    cairn_snapshot *snap;
    cairn_val val;
    char q[512];
    int rc, status;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    rc = cairn_get(snap, c->space, key, strlen(key), &val);
    if (rc == CAIRN_NOTFOUND)
        status = cli_say(EXIT_NOTFOUND, "key '%s' not found", cli_quote(key, strlen(key), q));
    else if (rc)
        status = cli_error(rc, "get '%s'", cli_quote(key, strlen(key), q));
    else {
        fwrite(val.data, 1, val.len, stdout);
        putchar('\n');
        status = cli_flush_stdout();
    }
    cairn_snapshot_close(snap);
    return status;
}

/* mget KEY...: one line per key, in argument order, all from one snapshot:
 * "KEY<TAB>VALUE" tsv-escaped for a key found, the escaped key alone (no
 * tab) for a key missing. Exit 1 if any key is missing, after every line. */
int cmd_mget(cli *c)
{
    cairn_snapshot *snap;
    cairn_val val;
    char q[512];
    int i, rc, missing = 0, status;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    for (i = 0; i < c->n_args; i++) {
        const char *key = c->args[i];
        rc = cairn_get(snap, c->space, key, strlen(key), &val);
        if (rc && rc != CAIRN_NOTFOUND) {
            status = cli_error(rc, "mget '%s'", cli_quote(key, strlen(key), q));
            break;
        }
        if ((status = cli_put_escaped(stdout, key, strlen(key))))
            break;
        if (rc == CAIRN_NOTFOUND)
            missing++;
        else {
            putchar('\t');
            status = cli_put_escaped(stdout, val.data, val.len);
        }
        putchar('\n');
    }
    if (!status)
        status = cli_flush_stdout();
    else
        cli_flush_stdout();
    if (!status && missing)
        status = cli_say(EXIT_NOTFOUND, "%d of %d keys not found", missing, c->n_args);
    cairn_snapshot_close(snap);
    return status;
}

/* ---------------------------------------------------------------- scan, count */

/* Writes one scan line: KEY<TAB>VALUE, tsv-escaped, or with --raw the bytes
 * as they are, refusing (exit 2, naming the key) a record raw tsv cannot
 * hold (cairn_tsv_raw_check). Returns 0 or the exit status. */
static int put_record(const cli *c, const cairn_val *key, const cairn_val *val)
{
    char q[512];
    int rc, status;

    if (!c->raw) {
        if ((status = cli_put_escaped(stdout, key->data, key->len)))
            return status;
        putchar('\t');
        if ((status = cli_put_escaped(stdout, val->data, val->len)))
            return status;
        putchar('\n');
        return 0;
    }
    if ((rc = cairn_tsv_raw_check(key->data, key->len, val->data, val->len))) {
        cli_quote(key->data, key->len, q);
        return cli_say(EXIT_USAGE,
                       "scan --raw: the record of key '%s' cannot be a raw tsv line: %s; "
                       "scan without --raw to see it escaped",
                       q, cairn_errdetail());
    }
    fwrite(key->data, 1, key->len, stdout);
    putchar('\t');
    fwrite(val->data, 1, val->len, stdout);
    putchar('\n');
    return 0;
}

/* scan: one tsv line per key of the range (range_build) in the version
 * read, ascending or with --reverse descending, at most --limit lines. */
int cmd_scan(cli *c)
{
    cairn_snapshot *snap;
    cairn_iter *it = NULL;
    cairn_val key, val;
    uint64_t n = 0;
    range r;
    int rc, status;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    if (!range_build(c, &r) || ((c->seen & OPT_LIMIT) && c->limit == 0))
        goto done;
    rc = cairn_iter_open(snap, c->space, r.lo, r.lo_len, r.hi, r.hi_len,
                         c->reverse ? CAIRN_ITER_REVERSE : 0, &it);
    if (rc) {
        status = cli_error(rc, "scan");
        goto done;
    }
    while (!(rc = cairn_iter_next(it, &key, &val))) {
        if ((status = put_record(c, &key, &val)))
            goto done;
        if ((c->seen & OPT_LIMIT) && ++n >= c->limit)
            break;
    }
    if (rc && rc != CAIRN_NOTFOUND) {
        status = cli_error(rc, "scan");
        goto done;
    }
done:
    if (!status)
        status = cli_flush_stdout();
    else
        cli_flush_stdout(); /* the whole lines before the error */
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    free(r.succ);
    return status;
}

/* count: the number of keys in the range, from cairn_count (O(log n)). */
int cmd_count(cli *c)
{
    cairn_snapshot *snap;
    uint64_t count = 0;
    range r;
    int rc, status;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    if (range_build(c, &r) &&
        (rc = cairn_count(snap, c->space, r.lo, r.lo_len, r.hi, r.hi_len, &count)))
        status = cli_error(rc, "count");
    if (!status) {
        printf("%" PRIu64 "\n", count);
        status = cli_flush_stdout();
    }
    cairn_snapshot_close(snap);
    free(r.succ);
    return status;
}

/* ---------------------------------------------------------------- export */

/* export: every key of the keyspace at the version read, to stdout, with
 * a progress line on a terminal. */
int cmd_export(cli *c)
{
    cairn_snapshot *snap;
    cairn_id commit;
    char hex[CAIRN_ID_HEX + 1];
    const char *at = NULL;
    uint64_t records = 0;
    progress prog;
    int rc, status;

    if (c->pack)
        return cmd_export_pack(c);
    /* Resolve the version once, so that a branch moving meanwhile cannot
     * change what is exported, and so that an unknown ref says so. */
    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    if (cairn_snapshot_commit(snap, &commit)) {
        cairn_id_to_hex(&commit, hex);
        at = hex;
    }
    cairn_snapshot_close(snap);
    if (!at && cli_version(c))
        at = cli_version(c); /* an empty branch: let export say what it is */

    progress_init(&prog, "exporting");
    rc = cairn_export(c->db, at, c->space, cli_format(c), stdout, progress_update, &prog,
                      &records);
    progress_done(&prog);
    if (rc) {
        status = cli_error(rc, "export");
        if (records)
            cli_say(status, "export stopped after %" PRIu64 " record%s: the output is incomplete",
                    records, records == 1 ? "" : "s");
        return status;
    }
    if ((status = cli_flush_stdout()))
        return status;
    if (prog.on)
        fprintf(stderr, "exported %" PRIu64 " records\n", records);
    return 0;
}

/* ---------------------------------------------------------------- root */

/* root: the catalog root of the version read, or with --space that
 * keyspace's root (the empty-tree id if it is empty or missing). */
int cmd_root(cli *c)
{
    cairn_snapshot *snap;
    cairn_id root;
    char hex[CAIRN_ID_HEX + 1], q[512];
    int rc, status;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    rc = cairn_snapshot_root(snap, (c->seen & OPT_SPACE) ? c->space : CAIRN_CATALOG, &root);
    if (rc)
        status = cli_error(rc, "root of keyspace '%s'", cli_quote(c->space, strlen(c->space), q));
    else {
        cairn_id_to_hex(&root, hex);
        printf("%s\n", hex);
        status = cli_flush_stdout();
    }
    cairn_snapshot_close(snap);
    return status;
}

/* ---------------------------------------------------------------- log */

/* Writes time_us (microseconds since the epoch) as ISO-8601 UTC. */
static void format_time(int64_t time_us, char buf[32])
{
    int64_t secs = time_us / 1000000;
    struct tm tm;
    time_t t;

    if (time_us < 0 && time_us % 1000000)
        secs--;
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, 32, "@%" PRId64, secs);
}

/* The refs of the store, sorted by commit id (then branches before tags,
 * then by name), so that log can find the refs of each commit it prints. */
typedef struct ref_entry {
    cairn_id commit;
    cairn_ref_kind kind;
    char *name; /* malloc'd */
} ref_entry;

typedef struct ref_table {
    ref_entry *refs;
    size_t n, cap;
} ref_table;

/* A cairn_ref_visitor: appends a copy of the ref. Returns 1 (stop) when out
 * of memory. */
static int collect_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    ref_table *t = ctx;
    ref_entry *grown;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        if (!(grown = realloc(t->refs, cap * sizeof(*grown))))
            return 1;
        t->refs = grown;
        t->cap = cap;
    }
    if (!(t->refs[t->n].name = strdup(name)))
        return 1;
    t->refs[t->n].commit = *commit;
    t->refs[t->n].kind = kind;
    t->n++;
    return 0;
}

static int ref_order(const void *a, const void *b)
{
    const ref_entry *x = a, *y = b;
    int c = memcmp(x->commit.bytes, y->commit.bytes, sizeof(x->commit.bytes));

    if (c)
        return c;
    if (x->kind != y->kind)
        return x->kind == CAIRN_BRANCH ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void ref_table_free(ref_table *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->refs[i].name);
    free(t->refs);
}

/* Prints "<TAB>(main, tag: v1)" for the refs pointing at id, or nothing. */
static void print_decorations(const ref_table *t, const cairn_id *id)
{
    size_t lo = 0, hi = t->n, mid;
    bool first = true;

    while (lo < hi) { /* the first entry whose commit is >= id */
        mid = lo + (hi - lo) / 2;
        if (memcmp(t->refs[mid].commit.bytes, id->bytes, sizeof(id->bytes)) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < t->n && memcmp(t->refs[lo].commit.bytes, id->bytes, sizeof(id->bytes)) == 0;
         lo++) {
        printf("%s%s%s", first ? "\t(" : ", ", t->refs[lo].kind == CAIRN_TAG ? "tag: " : "",
               t->refs[lo].name);
        first = false;
    }
    if (!first)
        putchar(')');
}

/* Prints one log line: ID SEQ TIME KEYS MESSAGE, and the refs at it.
 * Returns 0 or an exit status. */
static int print_log_line(const ref_table *refs, const cairn_commit_info *info)
{
    char hex[CAIRN_ID_HEX + 1], when[32];
    int status;

    cairn_id_to_hex(&info->id, hex);
    format_time(info->time_us, when);
    printf("%s %" PRIu64 " %s %" PRIu64 " ", hex, info->seq, when, info->key_count);
    status = cli_put_escaped(stdout, info->message, strlen(info->message));
    print_decorations(refs, &info->id);
    putchar('\n');
    return status;
}

/* Lists the refs into refs, sorted for print_decorations. A damaged ref is
 * a warning (the others still count). Returns 0 or an exit status. */
static int load_refs(cli *c, ref_table *refs)
{
    int rc;

    if ((rc = cairn_ref_list(c->db, collect_ref, refs))) {
        if (rc == CAIRN_CORRUPT) { /* the other refs still decorate the log */
            fprintf(stderr, "cairn: warning: %s\n", cairn_errdetail());
        } else {
            if (rc == 1)
                return cli_say(EXIT_FAILURE_, "log: out of memory listing refs");
            return cli_error(rc, "log: listing refs");
        }
    }
    if (refs->n)
        qsort(refs->refs, refs->n, sizeof(refs->refs[0]), ref_order);
    return 0;
}

/* What log --all's visitor needs. */
typedef struct log_all_ctx {
    cli *c;
    const ref_table *refs;
    uint64_t shown;
    int status; /* an output failure's exit status */
} log_all_ctx;

static int log_all_line(void *ctx, const cairn_commit_info *info)
{
    log_all_ctx *l = ctx;

    if ((l->status = print_log_line(l->refs, info)))
        return 1;
    if (info->history_dropped)
        printf("(history before this commit is not kept in this store)\n");
    l->shown++;
    return (l->c->seen & OPT_N) && l->shown >= l->c->log_n;
}

/*
 * log --all: the history of every branch and tag together, each commit
 * once, in cairn_commit_walk's order (seq descending, so every commit after
 * its children; then time, newest first; then id), at most -n N. A commit
 * that cannot be read is reported after the others are listed (exit 3);
 * a damaged ref is a warning, as for log.
 */
static int log_all(cli *c)
{
    ref_table refs = {NULL, 0, 0};
    log_all_ctx l = {c, &refs, 0, 0};
    cairn_id *heads = NULL;
    int rc, status;

    if ((c->seen & OPT_N) && c->log_n == 0)
        return 0;
    if ((status = load_refs(c, &refs)))
        goto done;
    if (refs.n && !(heads = malloc(refs.n * sizeof(*heads)))) {
        status = cli_say(EXIT_FAILURE_, "log: out of memory");
        goto done;
    }
    for (size_t i = 0; i < refs.n; i++)
        heads[i] = refs.refs[i].commit;
    rc = cairn_commit_walk(c->db, heads, refs.n, log_all_line, &l);
    if (!(status = l.status) && !(status = cli_flush_stdout()) && rc < 0)
        status = cli_error(rc, "log --all");
done:
    free(heads);
    ref_table_free(&refs);
    return status;
}

/* log: commits from the version read back through their parents, newest
 * first, at most -n N, each followed by the branches and tags pointing at
 * it. The head of main on an empty store prints nothing; an unknown --at or
 * -b is bad input. With --all, log_all. */
int cmd_log(cli *c)
{
    const char *at = cli_version(c);
    cairn_commit_info info;
    char hex[CAIRN_ID_HEX + 1], q[512];
    ref_table refs = {NULL, 0, 0};
    cairn_id id;
    uint64_t shown = 0;
    int rc, status = 0;

    if (c->seen & OPT_ALL)
        return log_all(c);
    if ((rc = cairn_resolve(c->db, at, &id))) {
        if (rc == CAIRN_NOTFOUND && !at)
            return 0; /* main has no commits yet */
        if (rc == CAIRN_NOTFOUND) {
            cli_error(rc, "unknown branch, tag or commit '%s'", cli_quote(at, strlen(at), q));
            return EXIT_USAGE;
        }
        return cli_error(rc, "log");
    }
    if ((status = load_refs(c, &refs))) {
        ref_table_free(&refs);
        return status;
    }
    while (!(c->seen & OPT_N) || shown < c->log_n) {
        memset(&info, 0, sizeof(info));
        cairn_id_to_hex(&id, hex);
        if ((rc = cairn_commit_get(c->db, &id, &info))) {
            status = cli_error(rc, "reading commit %s", hex);
            break;
        }
        status = print_log_line(&refs, &info);
        shown++;
        id = info.parent;
        if (!status && info.history_dropped)
            printf("(history before this commit is not kept in this store)\n");
        if (status || !info.has_parent || info.history_dropped) {
            cairn_commit_info_clear(&info);
            break;
        }
        cairn_commit_info_clear(&info);
    }
    ref_table_free(&refs);
    if (!status)
        status = cli_flush_stdout();
    return status;
}

/* ---------------------------------------------------------------- diff */

/* Writes "\t" and the escaped bytes of v. */
static int put_field(const cairn_val *v)
{
    putchar('\t');
    return cli_put_escaped(stdout, v->data, v->len);
}

/* diff A B: the changes of the keyspace from version A to version B, one
 * tsv-escaped line each ("+", "-" or "~"). */
int cmd_diff(cli *c)
{
    cairn_snapshot *a = NULL, *b = NULL;
    cairn_diff *d = NULL;
    cairn_diff_entry e;
    int rc, status;

    if ((status = cli_snapshot(c, c->args[0], &a)))
        return status;
    if ((status = cli_snapshot(c, c->args[1], &b)))
        goto done;
    if ((rc = cairn_diff_open(a, b, c->space, &d))) {
        status = cli_error(rc, "diff");
        goto done;
    }
    while (!status && !(rc = cairn_diff_next(d, &e))) {
        putchar(e.change == CAIRN_ADDED ? '+' : e.change == CAIRN_REMOVED ? '-' : '~');
        putchar(' ');
        status = cli_put_escaped(stdout, e.key.data, e.key.len);
        if (!status && e.change != CAIRN_ADDED)
            status = put_field(&e.old_val);
        if (!status && e.change != CAIRN_REMOVED)
            status = put_field(&e.new_val);
        putchar('\n');
    }
    if (!status && rc != CAIRN_NOTFOUND)
        status = cli_error(rc, "diff");
done:
    if (!status)
        status = cli_flush_stdout();
    cairn_diff_close(d);
    cairn_snapshot_close(b);
    cairn_snapshot_close(a);
    return status;
}

/* ---------------------------------------------------------------- spaces, refs */

static int print_space(void *ctx, const char *name, uint64_t key_count)
{
    int *status = ctx;

    if ((*status = cli_put_escaped(stdout, name, strlen(name))))
        return 1;
    printf("\t%" PRIu64 "\n", key_count);
    return 0;
}

/* spaces: NAME<TAB>KEYS per keyspace of the version read. */
int cmd_spaces(cli *c)
{
    cairn_snapshot *snap;
    int rc, status, visit_status = 0;

    if ((status = cli_snapshot(c, cli_version(c), &snap)))
        return status;
    rc = cairn_space_list(snap, print_space, &visit_status);
    if (visit_status)
        status = visit_status;
    else if (rc)
        status = cli_error(rc, "listing keyspaces");
    else
        status = cli_flush_stdout();
    cairn_snapshot_close(snap);
    return status;
}

static int print_ref(void *ctx, cairn_ref_kind kind, const char *name, const cairn_id *commit)
{
    char hex[CAIRN_ID_HEX + 1];

    (void)ctx;
    cairn_id_to_hex(commit, hex);
    printf("%s %s %s\n", kind == CAIRN_TAG ? "tag" : "branch", name, hex);
    return 0;
}

/* refs: KIND NAME COMMIT per ref, in name order. */
int cmd_refs(cli *c)
{
    int rc, status;

    rc = cairn_ref_list(c->db, print_ref, NULL);
    if ((status = cli_flush_stdout()))
        return status;
    if (rc) /* (a damaged ref: the others are listed above) */
        return cli_error(rc, "listing refs");
    return 0;
}
