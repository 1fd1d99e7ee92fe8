/*
 * import.c - cairn_import and cairn_export: tsv, raw tsv and jsonl streams
 * in and out of a keyspace, written with the public API only (transactions,
 * snapshots, iterators).
 *
 * Import reads lines of any length (get_line, getline's behaviour with
 * cairn's allocator), strips "\n" and then one
 * "\r" before it (CRLF input), and turns each line into one record:
 *
 *     tsv      KEY<TAB>VALUE, both escaped as in tsv.h; the first tab splits
 *     raw tsv  KEY<TAB>VALUE, split at the first tab, bytes taken as they are
 *     jsonl    one JSON object; the key is top-level field key_field (string:
 *              unescaped bytes; number: its text), the value the whole line;
 *              or, if the object has a top-level "type", a typed record: a
 *              string, or a hash whose fields replace the key's (jsonl.h)
 *
 * jsonl records are written through the typed writers (cairn.h, "hashes"):
 * a string replaces a hash of its name, and a hash a string, so a store
 * loaded from jsonl keeps every key one kind. tsv records are plain puts.
 *
 * Records are committed every opts->batch records, each commit with the
 * message "import SOURCE records A-B" (1-based record numbers; opts->message
 * replaces "import SOURCE"). Since line N is record N, the committed records
 * are always lines 1..committed of the input. The first malformed line
 * stops the import: the open batch is aborted, batches already committed
 * stay, and the error is CAIRN_BADINPUT with the detail "SOURCE:LINE: what
 * is wrong". A stop request (*opts->stop, polled before each record and
 * after a read interrupted by a signal) commits the open batch, whose
 * records are all whole and valid, and returns -ECANCELED.
 *
 * Export writes one line per key; a value the format cannot hold (jsonl: not
 * one JSON object on one line; raw tsv: tsv.h) stops it before that line.
 * Typed jsonl export walks the strings and the hash names together in key
 * order and writes one typed record per key (a hash's fields in field
 * order), which a jsonl import reads back as the same strings and hashes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "alloc.h"
#include "bytes.h"
#include "cairn.h"
#include "error.h"
#include "jsonl.h"
#include "tsv.h"

#define IMPORT_BATCH_DEFAULT 10000

/* The state of one import. */
typedef struct importer {
    cairn_db *db;
    const cairn_import_options *opts;
    const char *source;    /* for messages and commit messages */
    uint64_t batch;        /* records per commit */
    cairn_txn *txn;        /* the open batch, or NULL */
    uint64_t line_no;      /* 1-based number of the line being read */
    uint64_t records;      /* records read, including the open batch */
    uint64_t committed;    /* records in committed batches */
    uint64_t commits;      /* commits written (a batch that changed nothing writes none) */
    uint64_t bytes;        /* input bytes consumed */
    uint64_t total_bytes;  /* size of the input if it is a regular file, else 0 */
    cairn__jsonl_record rec; /* jsonl: the current line, parsed */
    char *line;            /* the line being parsed (get_line's buffer) */
    size_t line_cap;
    char *rest;            /* the rest of a line whose read a signal interrupted */
    size_t rest_cap;
} importer;

/* Aborts the open batch, then records the detail "SOURCE:LINE: message" and
 * returns rc. The abort comes first so that it cannot clobber the detail. */
static int line_fail(importer *im, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int line_fail(importer *im, int rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cairn_txn_abort(im->txn);
    im->txn = NULL;
    return cairn__fail(rc, "%s:%" PRIu64 ": %s", im->source, im->line_no, msg);
}

static bool id_is_zero(const cairn_id *id)
{
    for (size_t i = 0; i < sizeof(id->bytes); i++)
        if (id->bytes[i])
            return false;
    return true;
}

/* Commits the open batch (if any) as "import SOURCE records A-B". */
static int commit_batch(importer *im)
{
    char message[512];
    char detail[512];
    cairn_txn *txn = im->txn;
    cairn_id base, head;
    bool has_base;
    int rc;

    if (!txn)
        return 0;
    im->txn = NULL;
    if (im->opts->message)
        snprintf(message, sizeof(message), "%s records %" PRIu64 "-%" PRIu64, im->opts->message,
                 im->committed + 1, im->records);
    else
        snprintf(message, sizeof(message), "import %s records %" PRIu64 "-%" PRIu64, im->source,
                 im->committed + 1, im->records);
    has_base = cairn_txn_base(txn, &base);
    memset(&head, 0, sizeof(head));
    if ((rc = cairn_txn_commit(txn, message, &head))) {
        snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
        return cairn__fail(rc, "%s: committing records %" PRIu64 "-%" PRIu64 ": %s%s%s",
                           im->source, im->committed + 1, im->records, cairn_strerror(rc),
                           detail[0] ? ": " : "", detail);
    }
    im->committed = im->records;
    /* A batch that changed nothing (the same records again) wrote none. */
    if (has_base ? memcmp(head.bytes, base.bytes, 32) != 0 : !id_is_zero(&head))
        im->commits++;
    return 0;
}

/* Splits a tsv line at its first tab and, unless raw, unescapes both
 * fields in place. OUT: key and value spans. */
static int parse_tsv(importer *im, char *line, size_t len, bool raw, cairn_val *key,
                     cairn_val *val)
{
    char *tab = memchr(line, '\t', len);
    size_t key_len, val_len, val_off;
    cairn__tsv_error err;

    if (!tab)
        return line_fail(im, CAIRN_BADINPUT, "no tab between key and value");
    key_len = (size_t)(tab - line);
    val_off = key_len + 1;
    val_len = len - val_off;
    if (raw)
        goto done;
    if (cairn__tsv_unescape(line, &key_len, &err))
        return line_fail(im, CAIRN_BADINPUT, "%s in key at column %zu", err.what,
                         err.offset + 1);
    if (cairn__tsv_unescape(line + val_off, &val_len, &err))
        return line_fail(im, CAIRN_BADINPUT, "%s in value at column %zu", err.what,
                         val_off + err.offset + 1);
done:
    key->data = line;
    key->len = key_len;
    val->data = line + val_off;
    val->len = val_len;
    return 0;
}

/* Checks a jsonl line and parses it into im->rec: its key and, for an
 * untyped line or a typed string, the value; for a typed hash, its fields.
 * OUT: key and value spans (a hash's value: empty). */
static int parse_jsonl(importer *im, char *line, size_t len, cairn_val *key, cairn_val *val)
{
    bool typed = !(im->opts->flags & CAIRN_IMPORT_UNTYPED);
    cairn__jsonl_error err;
    char what[768];
    int rc;

    rc = cairn__jsonl_record_parse(line, len, im->opts->key_field, typed, &im->rec, &err);
    if (rc == CAIRN_BADINPUT)
        return line_fail(im, rc, "%s",
                         cairn__jsonl_describe(&err, im->opts->key_field, what, sizeof(what)));
    if (rc)
        return line_fail(im, rc, "%s", cairn_strerror(rc));
    *key = im->rec.key;
    *val = im->rec.type == CAIRN__JSONL_HASH ? (cairn_val){"", 0} : im->rec.value;
    return 0;
}

/* Records a parsed jsonl line: a string (an untyped line is one, the line
 * its value), or a hash replacing whatever the key held. */
static int record_jsonl(importer *im, const cairn_val *key, const cairn_val *val)
{
    const char *space = im->opts->space;
    size_t i;
    int rc;

    if (im->rec.type != CAIRN__JSONL_HASH)
        return cairn_txn_set_string(im->txn, space, key->data, key->len, val->data, val->len);
    if ((rc = cairn_txn_hclear(im->txn, space, key->data, key->len, NULL)))
        return rc;
    /* (The first field's hset removes a string of the name.) */
    for (i = 0; !rc && i < im->rec.n_pairs; i++) {
        const cairn__jsonl_pair *p = &im->rec.pairs[i];
        rc = cairn_txn_hset(im->txn, space, key->data, key->len, p->field.data, p->field.len,
                            p->value.data, p->value.len, NULL);
    }
    return rc;
}

/* Adds one record to the open batch (beginning one if needed) and commits
 * the batch when it is full. */
static int add_record(importer *im, cairn_format format, const cairn_val *key,
                      const cairn_val *val)
{
    char detail[512];
    int rc;

    if (key->len > CAIRN_KEY_MAX)
        return line_fail(im, CAIRN_BADINPUT, "key too long (%zu bytes, max %d)", key->len,
                         CAIRN_KEY_MAX);
    if (val->len > CAIRN_VALUE_MAX)
        return line_fail(im, CAIRN_BADINPUT, "value too long (%zu bytes, max %u)", val->len,
                         (unsigned)CAIRN_VALUE_MAX);
    if (!im->txn && (rc = cairn_txn_begin(im->db, im->opts->branch, &im->txn))) {
        im->txn = NULL;
        return cairn__fail_context(rc, "%s: beginning a transaction", im->source);
    }
    if (format == CAIRN_JSONL)
        rc = record_jsonl(im, key, val);
    else
        rc = cairn_txn_put(im->txn, im->opts->space, key->data, key->len, val->data, val->len);
    if (rc) {
        const char *what = cairn_strerror(rc);
        snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
        if (rc == CAIRN_KEYTOOBIG || rc == CAIRN_VALTOOBIG)
            rc = CAIRN_BADINPUT;
        return line_fail(im, rc, "%s%s%s", what, detail[0] ? ": " : "", detail);
    }
    im->records++;
    if (im->records - im->committed >= im->batch)
        return commit_batch(im);
    return 0;
}

/* Size of the stream if it is a regular file, else 0. */
static uint64_t stream_size(FILE *in)
{
    struct stat st;
    int fd = fileno(in);

    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode))
        return 0;
    return (uint64_t)st.st_size;
}

static bool stop_requested(const importer *im)
{
    return im->opts->stop && *im->opts->stop;
}

/*
 * getline(3) with the buffer grown through cairn's allocator (getline's own
 * would come from libc's): reads up to and including the next "\n" into
 * *line (NUL-terminated; *cap bytes allocated). Returns the bytes read, or
 * -1 if the stream is at its end or fails before a byte is read (errno and
 * the stream's flags say which). Like glibc's getline, a read error after
 * some bytes returns those bytes with the error flag set. Returns
 * CAIRN_NOMEM if the buffer cannot grow; the bytes read so far are lost.
 */
static ssize_t get_line(char **line, size_t *cap, FILE *in)
{
    size_t n = 0;
    ssize_t result;
    int c;

    flockfile(in);
    for (;;) {
        if (n + 2 > *cap) {
            size_t grown_cap = *cap ? *cap * 2 : 128;
            char *grown = cairn__realloc(*line, grown_cap);
            if (!grown) {
                result = CAIRN_NOMEM;
                goto done;
            }
            *line = grown;
            *cap = grown_cap;
        }
        if ((c = getc_unlocked(in)) == EOF)
            break;
        (*line)[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0) {
        result = -1;
        goto done;
    }
    (*line)[n] = '\0';
    result = (ssize_t)n;
done:
    funlockfile(in);
    return result;
}

/* Appends rest[0..n) to the line, whose first have bytes are kept. */
static int append_rest(importer *im, size_t have, size_t n)
{
    char *grown;
    size_t need = have + n + 1;

    if (need > im->line_cap) {
        if (!(grown = cairn__realloc(im->line, need)))
            return CAIRN_NOMEM;
        im->line = grown;
        im->line_cap = need;
    }
    memcpy(im->line + have, im->rest, n);
    im->line[have + n] = '\0';
    return 0;
}

/*
 * Reads the next line into im->line. OUT: *len, its length without the
 * "\n" or "\r\n" ending. Returns 1 for a line, 0 at the end of the input,
 * -ECANCELED if a stop was requested while a read was interrupted (the part
 * of the line read so far is dropped), or a read error (-errno).
 *
 * A read interrupted by a signal (EINTR: the caller's handler was installed
 * without SA_RESTART, so that a stop request does not wait for input) makes
 * get_line return the part of the line it had, with the stream's error flag
 * set; without a stop request the read is resumed and the parts joined.
 */
static int read_line(importer *im, FILE *in, size_t *len)
{
    size_t have = 0;
    ssize_t got;
    int err, rc;

    for (;;) {
        errno = 0;
        if (!have)
            got = get_line(&im->line, &im->line_cap, in);
        else
            got = get_line(&im->rest, &im->rest_cap, in);
        err = errno;
        if (got == CAIRN_NOMEM)
            return cairn__fail(CAIRN_NOMEM, "%s:%" PRIu64 ": reading a line", im->source,
                               im->line_no);
        if (got > 0 && have && (rc = append_rest(im, have, (size_t)got)))
            return rc;
        if (got > 0)
            have += (size_t)got;
        if (have && im->line[have - 1] == '\n')
            break;
        if (!ferror(in)) {
            if (!have)
                return 0; /* the end of the input */
            break;        /* a last line without "\n" */
        }
        if (err != EINTR)
            return err > 0 ? -err : CAIRN_IO;
        clearerr(in);
        if (stop_requested(im))
            return -ECANCELED;
    }
    im->bytes += have;
    if (im->line[have - 1] == '\n') {
        have--;
        if (have && im->line[have - 1] == '\r')
            have--;
    }
    *len = have;
    return 1;
}

/*
 * Public: reads records from in and commits them in batches (the format
 * and the failure rules are in the comment at the top of this file).
 * Errors: CAIRN_BADARG (bad options), CAIRN_BADINPUT (a malformed line; the
 * detail is "SOURCE:LINE: what"), -ECANCELED (a stop request), read errors
 * as -errno, and the errors of cairn_txn_begin, cairn_txn_put and
 * cairn_txn_commit. *records and *commits (if not NULL) receive the records
 * committed and the commits written, on failure as well as on success.
 */
int cairn_import(cairn_db *db, void *in, const cairn_import_options *opts, uint64_t *records,
                 uint64_t *commits)
{
    cairn_import_options opts_copy;
    cairn_format format;
    importer im;
    size_t len = 0;
    cairn_val key = {NULL, 0}, val = {NULL, 0};
    int rc = 0;

    cairn__detail_clear();
    if (records)
        *records = 0;
    if (commits)
        *commits = 0;
    if (!db || !in || !opts)
        return cairn__fail(CAIRN_BADARG, "import: db, input and options are required");
    format = opts->format ? opts->format : CAIRN_TSV;
    if (format != CAIRN_TSV && format != CAIRN_JSONL && format != CAIRN_TSV_RAW &&
        format != CAIRN_JSONL_TYPED)
        return cairn__fail(CAIRN_BADARG, "import: unknown format %d", (int)format);
    if (opts->flags & ~CAIRN_IMPORT_UNTYPED)
        return cairn__fail(CAIRN_BADARG, "import: unknown flags 0x%x",
                           opts->flags & ~CAIRN_IMPORT_UNTYPED);
    /* Typed jsonl is jsonl whose key field defaults to "key" (what typed
     * export writes). */
    opts_copy = *opts;
    if (format == CAIRN_JSONL_TYPED) {
        format = CAIRN_JSONL;
        if (!opts_copy.key_field || !opts_copy.key_field[0])
            opts_copy.key_field = "key";
    }
    if (format == CAIRN_JSONL && (!opts_copy.key_field || !opts_copy.key_field[0]))
        return cairn__fail(CAIRN_BADARG, "import: jsonl needs a key field");

    memset(&im, 0, sizeof(im));
    im.db = db;
    im.opts = &opts_copy;
    im.source = opts->source ? opts->source : "input";
    im.batch = opts->batch ? opts->batch : IMPORT_BATCH_DEFAULT;
    im.total_bytes = stream_size(in);

    for (;;) {
        if (stop_requested(&im)) {
            rc = -ECANCELED;
            break;
        }
        if ((rc = read_line(&im, in, &len)) <= 0) {
            if (rc && rc != -ECANCELED) {
                im.line_no++;
                rc = line_fail(&im, rc, "read error: %s", cairn_strerror(rc));
            }
            break;
        }
        im.line_no++;
        if (format == CAIRN_JSONL)
            rc = parse_jsonl(&im, im.line, len, &key, &val);
        else
            rc = parse_tsv(&im, im.line, len, format == CAIRN_TSV_RAW, &key, &val);
        if (rc || (rc = add_record(&im, format, &key, &val)))
            break;
        if (opts->progress)
            opts->progress(opts->progress_ctx, im.records, im.bytes, im.total_bytes);
    }
    if (rc == -ECANCELED) {
        /* Every record read is whole and valid: keep them. */
        if (!(rc = commit_batch(&im)))
            rc = cairn__fail(-ECANCELED, "%s:%" PRIu64 ": stopped on request before this line",
                             im.source, im.committed + 1);
    } else if (!rc)
        rc = commit_batch(&im);
    else if (im.txn) {
        cairn_txn_abort(im.txn);
        im.txn = NULL;
    }
    if (opts->progress && (!rc || rc == -ECANCELED))
        opts->progress(opts->progress_ctx, im.records, im.bytes, im.total_bytes);
    cairn__jsonl_record_free(&im.rec);
    cairn__free(im.line);
    cairn__free(im.rest);
    if (records)
        *records = im.committed;
    if (commits)
        *commits = im.commits;
    return rc;
}

/* Writes n bytes of data to out. Returns 0 or a stream error. */
static int write_bytes(FILE *out, const void *data, size_t n)
{
    errno = 0;
    if (n && fwrite(data, 1, n, out) != n)
        return errno > 0 ? -errno : CAIRN_IO;
    return 0;
}

/* Writes one record as a line. Returns 0 or a stream error. */
static int write_record(FILE *out, cairn_format format, const cairn_val *key,
                        const cairn_val *val)
{
    int rc;

    if (format == CAIRN_JSONL)
        rc = write_bytes(out, val->data, val->len);
    else if (format == CAIRN_TSV_RAW)
        rc = write_bytes(out, key->data, key->len);
    else
        rc = cairn__tsv_write(out, key->data, key->len);
    if (rc || format == CAIRN_JSONL)
        goto end;
    if ((rc = write_bytes(out, "\t", 1)))
        return rc;
    if (format == CAIRN_TSV_RAW)
        rc = write_bytes(out, val->data, val->len);
    else
        rc = cairn__tsv_write(out, val->data, val->len);
end:
    return rc ? rc : write_bytes(out, "\n", 1);
}

/* Whether format can hold the record as a line that reads back the same.
 * If not, returns false with the reason, naming the key, in why. */
static bool record_fits(cairn_format format, const cairn_val *key, const cairn_val *val,
                        char *why, size_t why_size)
{
    cairn__jsonl_error err;
    char problem[320], *key_text = NULL;
    const char *raw_problem;

    if (format == CAIRN_JSONL) {
        if (val->len && memchr(val->data, '\n', val->len))
            snprintf(problem, sizeof(problem), "holds a newline, so it is not a JSON line");
        else if (cairn__jsonl_object(val->len ? val->data : "", val->len, &err) == 0)
            return true;
        else {
            snprintf(problem, sizeof(problem),
                     "is not a JSON object, so it cannot be a jsonl line (");
            cairn__jsonl_describe(&err, NULL, problem + strlen(problem),
                                  sizeof(problem) - strlen(problem));
            snprintf(problem + strlen(problem), sizeof(problem) - strlen(problem),
                     "); export it as tsv, or as typed jsonl, instead");
        }
    } else if (format == CAIRN_TSV_RAW &&
               (raw_problem = cairn__tsv_raw_problem(key->data, key->len, val->data, val->len)))
        snprintf(problem, sizeof(problem),
                 "cannot be a raw tsv line: %s; export it as (escaped) tsv instead",
                 raw_problem);
    else
        return true;
    if (cairn_tsv_escape(key->data, key->len, &key_text))
        key_text = NULL;
    snprintf(why, why_size, "export: the %s of key '%.200s' %s",
             format == CAIRN_JSONL ? "value" : "record", key_text ? key_text : "?", problem);
    cairn__free(key_text);
    return false;
}

/* ---------------------------------------------------------------- typed export */

/* The state of a typed export. */
typedef struct typed_export {
    FILE *out;
    cairn_snapshot *snap;
    const char *space;
    cairn_iter *strings, *hashes; /* the keys of space, and of its counts keyspace */
    cairn_val str_key, str_val;   /* the next string (has_str) */
    cairn_val hash_key;           /* the next hash name (has_hash) */
    bool has_str, has_hash;
    uint64_t bytes;               /* written so far, roughly */
    char *detail;                 /* what went wrong, for the caller's message */
    size_t detail_size;
} typed_export;

static int typed_write(typed_export *tx, const char *text)
{
    size_t n = strlen(text);
    tx->bytes += n;
    return write_bytes(tx->out, text, n);
}

static int typed_write_string(typed_export *tx, const cairn_val *v)
{
    tx->bytes += v->len + 2;
    return cairn__jsonl_write_string(tx->out, v->data, v->len);
}

/* {"key":K,"type":"string","value":V} */
static int write_typed_string(typed_export *tx)
{
    int rc;

    if ((rc = typed_write(tx, "{\"key\":")) || (rc = typed_write_string(tx, &tx->str_key)) ||
        (rc = typed_write(tx, ",\"type\":\"string\",\"value\":")) ||
        (rc = typed_write_string(tx, &tx->str_val)) || (rc = typed_write(tx, "}\n")))
        return rc;
    return 0;
}

/* {"key":K,"type":"hash","value":{"F1":"V1",...}}, fields in field order. */
static int write_typed_hash(typed_export *tx)
{
    cairn_iter *fields;
    cairn_val field, value;
    bool first = true;
    int rc;

    if ((rc = cairn_hiter_open(tx->snap, tx->space, tx->hash_key.data, tx->hash_key.len, NULL,
                               0, &fields))) {
        snprintf(tx->detail, tx->detail_size, "%s", cairn_errdetail());
        return rc;
    }
    if ((rc = typed_write(tx, "{\"key\":")) || (rc = typed_write_string(tx, &tx->hash_key)) ||
        (rc = typed_write(tx, ",\"type\":\"hash\",\"value\":{")))
        goto done;
    while (!(rc = cairn_iter_next(fields, &field, &value))) {
        if ((!first && (rc = typed_write(tx, ","))) || (rc = typed_write_string(tx, &field)) ||
            (rc = typed_write(tx, ":")) || (rc = typed_write_string(tx, &value)))
            goto done;
        first = false;
    }
    if (rc != CAIRN_NOTFOUND) {
        snprintf(tx->detail, tx->detail_size, "%s", cairn_errdetail());
        goto done;
    }
    rc = typed_write(tx, "}}\n");
done:
    cairn_iter_close(fields);
    return rc;
}

/* Steps one of the two walks. OUT: *has and the entry. */
static int typed_step(typed_export *tx, cairn_iter *it, bool *has, cairn_val *key,
                      cairn_val *val)
{
    int rc = cairn_iter_next(it, key, val);

    *has = rc == 0;
    if (rc == CAIRN_NOTFOUND)
        return 0;
    if (rc)
        snprintf(tx->detail, tx->detail_size, "%s", cairn_errdetail());
    return rc;
}

/* Writes the strings and hashes of tx->space in key order, one typed record
 * each, as cairn_export does for CAIRN_JSONL_TYPED. OUT: *records. */
static int export_typed(typed_export *tx, cairn_progress_fn progress, void *progress_ctx,
                        uint64_t *records)
{
    char counts[CAIRN_NAME_MAX + 1], *key_text = NULL;
    cairn_val count;
    int rc, c;

    if ((rc = cairn_hash_spaces(tx->space, NULL, counts)) ||
        (rc = cairn_iter_open(tx->snap, tx->space, NULL, 0, NULL, 0, 0, &tx->strings)) ||
        (rc = cairn_iter_open(tx->snap, counts, NULL, 0, NULL, 0, 0, &tx->hashes))) {
        snprintf(tx->detail, tx->detail_size, "export: %s", cairn_errdetail());
        return rc;
    }
    if ((rc = typed_step(tx, tx->strings, &tx->has_str, &tx->str_key, &tx->str_val)) ||
        (rc = typed_step(tx, tx->hashes, &tx->has_hash, &tx->hash_key, &count)))
        return rc;
    while (tx->has_str || tx->has_hash) {
        c = !tx->has_hash ? -1
            : !tx->has_str
                ? 1
                : cairn__bytes_cmp(tx->str_key.data, tx->str_key.len, tx->hash_key.data,
                                   tx->hash_key.len);
        if (c == 0) {
            /* Only the general writers can make one (cairn.h, "hashes"). */
            if (cairn_tsv_escape(tx->str_key.data, tx->str_key.len, &key_text))
                key_text = NULL;
            snprintf(tx->detail, tx->detail_size,
                     "export: key '%.200s' is both a string and a hash (written through "
                     "cairn_txn_put, which does not know about hashes), so it cannot be one "
                     "typed record",
                     key_text ? key_text : "?");
            cairn__free(key_text);
            return CAIRN_BADINPUT;
        }
        rc = c < 0 ? write_typed_string(tx) : write_typed_hash(tx);
        if (rc) {
            if (!tx->detail[0])
                snprintf(tx->detail, tx->detail_size, "export: write error: %s",
                         cairn_strerror(rc));
            return rc;
        }
        (*records)++;
        if (progress)
            progress(progress_ctx, *records, tx->bytes, 0);
        if ((rc = c < 0 ? typed_step(tx, tx->strings, &tx->has_str, &tx->str_key, &tx->str_val)
                        : typed_step(tx, tx->hashes, &tx->has_hash, &tx->hash_key, &count)))
            return rc;
    }
    return 0;
}

/*
 * Public: writes every key of space at version at to out, in key order, one
 * line per record in format (the rules are at cairn_export in cairn.h); a
 * record the format cannot hold stops the export with CAIRN_BADINPUT before
 * its line. Errors: those of cairn_snapshot_open and cairn_iter_open/next,
 * CAIRN_BADARG (format), stream errors as -errno. *records (if not NULL)
 * receives the records written, also on failure.
 */
int cairn_export(cairn_db *db, const char *at, const char *space, cairn_format format,
                 void *out, cairn_progress_fn progress, void *progress_ctx, uint64_t *records)
{
    cairn_snapshot *snap = NULL;
    cairn_iter *it = NULL;
    cairn_val key, val;
    uint64_t n = 0, bytes = 0;
    char detail[768];
    int rc;

    cairn__detail_clear();
    if (records)
        *records = 0;
    if (!db || !out)
        return cairn__fail(CAIRN_BADARG, "export: db and output are required");
    if (format != CAIRN_TSV && format != CAIRN_JSONL && format != CAIRN_TSV_RAW &&
        format != CAIRN_JSONL_TYPED)
        return cairn__fail(CAIRN_BADARG, "export: unknown format %d", (int)format);
    if ((rc = cairn_snapshot_open(db, at, &snap)))
        return rc;
    if (format == CAIRN_JSONL_TYPED) {
        typed_export tx = {.out = out, .snap = snap, .space = space, .detail = detail,
                           .detail_size = sizeof(detail)};
        detail[0] = '\0';
        rc = export_typed(&tx, progress, progress_ctx, &n);
        cairn_iter_close(tx.strings);
        cairn_iter_close(tx.hashes);
        if (!rc) {
            errno = 0;
            if (fflush(out)) {
                rc = errno > 0 ? -errno : CAIRN_IO;
                snprintf(detail, sizeof(detail), "export: write error: %s", cairn_strerror(rc));
            }
        }
        if (!rc) {
            cairn_snapshot_close(snap);
            if (records)
                *records = n;
            return 0;
        }
        it = NULL;
        goto fail_record;
    }
    if ((rc = cairn_iter_open(snap, space, NULL, 0, NULL, 0, 0, &it)))
        goto fail_iter;
    while (!(rc = cairn_iter_next(it, &key, &val))) {
        if (!record_fits(format, &key, &val, detail, sizeof(detail))) {
            rc = CAIRN_BADINPUT;
            goto fail_record;
        }
        if ((rc = write_record(out, format, &key, &val))) {
            snprintf(detail, sizeof(detail), "export: write error: %s", cairn_strerror(rc));
            goto fail_record;
        }
        n++;
        bytes += key.len + val.len + 2;
        if (progress)
            progress(progress_ctx, n, bytes, 0);
    }
    if (rc != CAIRN_NOTFOUND) {
        snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
        goto fail_record;
    }
    errno = 0;
    if (fflush(out)) {
        rc = errno > 0 ? -errno : CAIRN_IO;
        snprintf(detail, sizeof(detail), "export: write error: %s", cairn_strerror(rc));
        goto fail_record;
    }
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    if (records)
        *records = n;
    return 0;

fail_record:
    /* Flush the whole lines written so far, so the output holds exactly
     * the *records records before the one refused. */
    fflush(out);
    cairn_iter_close(it);
    cairn_snapshot_close(snap);
    if (records)
        *records = n;
    return cairn__fail(rc, "%s", detail);
fail_iter:
    snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
    cairn_snapshot_close(snap);
    return cairn__fail(rc, "%s", detail);
}
