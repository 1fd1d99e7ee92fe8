/*
 * resp.c - the request parser of resp.h: multibulk and inline requests, read
 * incrementally from a connection's input buffer.
 *
 * A small state machine over the request in progress:
 *
 *     START --'*'--> COUNT --> BULK_HEAD <--> BULK_BODY --> (request)
 *       |                \--> (count <= 0: skipped)
 *       \--other--> INLINE --> (request, or an empty line: skipped)
 *
 * Every position it keeps counts from the request's first byte, so the
 * caller may move or grow its buffer between calls; what has been parsed is
 * never parsed again (the arguments' offsets are kept, and an inline line's
 * search for '\n' resumes where it stopped). Nothing is allocated from a
 * length or count the client declares: the argument arrays grow with the
 * arguments that have arrived, the inline scratch with the line that has.
 *
 * Where Redis (networking.c, processMultibulkBuffer and processInlineBuffer)
 * is lax we are strict, with the same error texts: CR LF must follow each
 * header line and each bulk's bytes (Redis skips two bytes unseen), and a
 * header line that runs on for NUMBER_LINE_MAX bytes is refused at once
 * (Redis waits for 64 KiB). An inline line may hold any byte, NUL included
 * (Redis cannot take a NUL there at all).
 */
#include "resp.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum parse_state {
    ST_START,     /* at a request boundary */
    ST_COUNT,     /* after '*': the count line */
    ST_BULK_HEAD, /* expecting "$<len>\r\n" at pos */
    ST_BULK_BODY, /* expecting bulk_len bytes and "\r\n" at pos */
    ST_INLINE,    /* looking for the inline line's '\n' from pos on */
    ST_FAILED     /* error holds why */
};

/* A valid count or length line holds at most 20 characters ("-" and 19
 * digits) before its CR; one that runs on this long without CR is refused
 * without waiting for more. */
#define NUMBER_LINE_MAX 32

resp_limits resp_limits_default(void)
{
    resp_limits l = {
        .max_bulk = RESP_DEFAULT_MAX_BULK,
        .max_args = RESP_DEFAULT_MAX_ARGS,
        .max_inline = RESP_DEFAULT_MAX_INLINE,
        .max_request = RESP_DEFAULT_MAX_REQUEST,
    };
    return l;
}

static bool limits_ok(const resp_limits *l)
{
    return l->max_bulk >= 1 && l->max_bulk <= RESP_LIMIT_MAX && l->max_args >= 1 &&
           l->max_args <= RESP_LIMIT_MAX && l->max_inline >= 1 &&
           l->max_inline <= RESP_LIMIT_MAX && l->max_request >= 1 &&
           l->max_request <= RESP_LIMIT_MAX;
}

/* Puts p in the failed state with rc and a message; returns rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(resp_parser *p, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    p->state = ST_FAILED;
    p->error = rc;
    return rc;
}

/* Redis's message for a bulk header that does not start with '$'. Bytes
 * that are not printable ASCII are shown as \xHH (Redis prints them raw,
 * which can break its own reply line). */
static int fail_expected_dollar(resp_parser *p, unsigned char got)
{
    if (got >= 0x20 && got < 0x7f)
        return fail(p, -EPROTO, "Protocol error: expected '$', got '%c'", got);
    return fail(p, -EPROTO, "Protocol error: expected '$', got '\\x%02x'", got);
}

/* Ready for the next request: keeps limits, memory and error. */
static void next_request(resp_parser *p)
{
    p->state = ST_START;
    p->pos = 0;
    p->seen = 0;
    p->need = 0;
    p->n_declared = 0;
    p->bulk_len = 0;
    p->argc = 0;
}

int resp_parser_init(resp_parser *p, const resp_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = limits ? *limits : resp_limits_default();
    if (!limits_ok(&p->limits))
        return fail(p, -EINVAL, "invalid parser limits");
    next_request(p);
    return 0;
}

int resp_parser_set_limits(resp_parser *p, const resp_limits *limits)
{
    if (!limits || !limits_ok(limits))
        return -EINVAL;
    p->limits = *limits;
    return 0;
}

void resp_parser_require_auth(resp_parser *p, bool on)
{
    p->unauthenticated = on;
}

size_t resp_parser_need(const resp_parser *p)
{
    return p->need;
}

const char *resp_parser_error(const resp_parser *p)
{
    return p->error ? p->message : "";
}

void resp_parser_reset(resp_parser *p)
{
    if (p->error == -EINVAL && !limits_ok(&p->limits))
        return; /* init failed: stays unusable */
    p->error = 0;
    p->message[0] = '\0';
    next_request(p);
}

void resp_parser_free(resp_parser *p)
{
    if (!p)
        return;
    free(p->argv);
    free(p->arg_off);
    free(p->scratch);
    p->argv = NULL;
    p->arg_off = NULL;
    p->scratch = NULL;
    p->arg_cap = 0;
    p->scratch_cap = 0;
}

/* Reads s[0..len) as a long long by Redis's rules (string2ll): an optional
 * '-', then digits with no leading zero unless the number is "0"; nothing
 * else, not even "+" or "-0". Returns 1 with *out, or 0. */
static int parse_ll(const char *s, size_t len, long long *out)
{
    bool negative = false;
    uint64_t v = 0;
    size_t i = 0;

    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    if (len > 0 && s[0] == '-') {
        negative = true;
        i = 1;
    }
    if (i == len || s[i] < '1' || s[i] > '9')
        return 0;
    for (; i < len; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (digit > 9 || v > (UINT64_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    if (negative) {
        if (v > (uint64_t)LLONG_MAX + 1)
            return 0;
        *out = v == (uint64_t)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (uint64_t)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

enum { LINE_OK, LINE_SHORT, LINE_LONG, LINE_BAD };

/* The number of a header line whose digits start at r[from] (after the type
 * byte) of the n bytes at r. LINE_OK: *value, and *end is the offset just
 * past its CR LF. LINE_SHORT: the line is not all there yet. LINE_LONG: no
 * CR within NUMBER_LINE_MAX bytes. LINE_BAD: not a number, or CR not
 * followed by LF. */
static int number_line(const char *r, size_t n, size_t from, long long *value, size_t *end)
{
    size_t window, at;
    const char *cr;

    if (from >= n)
        return LINE_SHORT;
    window = n - from < NUMBER_LINE_MAX ? n - from : NUMBER_LINE_MAX;
    if (!(cr = memchr(r + from, '\r', window)))
        return n - from >= NUMBER_LINE_MAX ? LINE_LONG : LINE_SHORT;
    at = (size_t)(cr - r);
    if (at + 1 == n)
        return LINE_SHORT;
    if (r[at + 1] != '\n' || !parse_ll(r + from, at - from, value))
        return LINE_BAD;
    *end = at + 2;
    return LINE_OK;
}

/* Appends an argument of len bytes at offset off of the request; its
 * pointer is set when the request is complete. The arrays double, so they
 * hold at most twice the arguments received. */
static int add_arg(resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->arg_cap) {
        size_t cap = p->arg_cap ? p->arg_cap * 2 : 8;
        resp_arg *argv;
        size_t *arg_off;

        if (!(argv = realloc(p->argv, cap * sizeof(*argv))))
            return fail(p, -ENOMEM, "out of memory");
        p->argv = argv;
        if (!(arg_off = realloc(p->arg_off, cap * sizeof(*arg_off))))
            return fail(p, -ENOMEM, "out of memory");
        p->arg_off = arg_off;
        p->arg_cap = cap;
    }
    p->argv[p->argc].ptr = NULL;
    p->argv[p->argc].len = len;
    p->arg_off[p->argc] = off;
    p->argc++;
    return 0;
}

/* isspace() in the C locale: what sdssplitargs skips between words. */
static bool is_blank(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* What ends an unquoted word in sdssplitargs: fewer bytes than is_blank
 * (a \v or \f inside a word is part of it). */
static bool ends_word(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int fail_unbalanced(resp_parser *p)
{
    return fail(p, -EPROTO, "Protocol error: unbalanced quotes in request");
}

/* Splits the inline line r[0..len) into p's arguments the way Redis's
 * sdssplitargs splits it (what redis-cli and Redis's inline protocol do):
 * words are separated by blanks; a word may hold "double-quoted" parts,
 * where \xHH is a byte, \n \r \t \b \a the usual controls and \ before any
 * other byte that byte, and 'single-quoted' parts, where only \' is an
 * escape. A closing quote must be followed by a blank or the end of the
 * line. A word without quotes is a view into r; one with quotes is
 * unescaped into p->scratch, which is first made as large as the line, so
 * no pointer into it moves while the line is split. Returns 0 or an error. */
static int split_inline(resp_parser *p, const char *r, size_t len)
{
    enum { PLAIN, DOUBLE, SINGLE } mode;
    size_t i = 0, used = 0;

    if (len > p->scratch_cap) {
        char *scratch = realloc(p->scratch, len);
        if (!scratch)
            return fail(p, -ENOMEM, "out of memory");
        p->scratch = scratch;
        p->scratch_cap = len;
    }
    for (;;) {
        size_t start;
        char *copy = NULL; /* the unescaped word in scratch, if it has quotes */
        size_t copy_len = 0;
        int rc;

        while (i < len && is_blank((unsigned char)r[i]))
            i++;
        if (i == len)
            return 0;
        if (p->argc == p->limits.max_args)
            return fail(p, -EPROTO, "Protocol error: too many arguments in inline request");
        start = i;
        mode = PLAIN;
        for (;;) {
            unsigned char c;

            if (mode == PLAIN) {
                if (i == len || ends_word((unsigned char)r[i]))
                    break;
                c = (unsigned char)r[i++];
                /* A closing quote must end the word, so a word has at most
                 * one quoted part, its last: the plain bytes before it are
                 * all there is to copy. */
                if (c == '"' || c == '\'') {
                    copy = p->scratch + used;
                    copy_len = i - 1 - start;
                    memcpy(copy, r + start, copy_len);
                    mode = c == '"' ? DOUBLE : SINGLE;
                }
                continue;
            }
            if (i == len)
                return fail_unbalanced(p);
            c = (unsigned char)r[i];
            if (mode == DOUBLE && c == '\\' && i + 3 < len && r[i + 1] == 'x' &&
                hex_value((unsigned char)r[i + 2]) >= 0 && hex_value((unsigned char)r[i + 3]) >= 0) {
                copy[copy_len++] = (char)(hex_value((unsigned char)r[i + 2]) * 16 +
                                          hex_value((unsigned char)r[i + 3]));
                i += 4;
            } else if (mode == DOUBLE && c == '\\' && i + 1 < len) {
                switch (r[i + 1]) {
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                case 'b': c = '\b'; break;
                case 'a': c = '\a'; break;
                default: c = (unsigned char)r[i + 1]; break;
                }
                copy[copy_len++] = (char)c;
                i += 2;
            } else if (mode == SINGLE && c == '\\' && i + 1 < len && r[i + 1] == '\'') {
                copy[copy_len++] = '\'';
                i += 2;
            } else if ((mode == DOUBLE && c == '"') || (mode == SINGLE && c == '\'')) {
                if (i + 1 < len && !is_blank((unsigned char)r[i + 1]))
                    return fail_unbalanced(p);
                i++;
                break;
            } else {
                copy[copy_len++] = (char)c;
                i++;
            }
        }
        if ((rc = add_arg(p, start, copy ? copy_len : i - start)))
            return rc;
        p->argv[p->argc - 1].ptr = copy ? copy : r + start;
        used += copy_len;
    }
}

int resp_parse(resp_parser *p, const char *buf, size_t len, size_t *consumed, resp_request *out)
{
    size_t base = 0; /* where the request in progress starts in buf */

    *consumed = 0;
    if (p->error)
        return p->error;
    if (len < p->seen)
        return fail(p, -EINVAL, "resp_parse: given fewer bytes of a request than before");
    if (len == 0) {
        p->need = 1;
        return RESP_NEED_MORE;
    }
    for (;;) {
        const char *r = buf + base;
        size_t n = len - base, end, line, i;
        long long v;
        const char *nl;
        int rc;

        switch (p->state) {
        case ST_START:
            if (n == 0)
                goto more;
            p->state = r[0] == '*' ? ST_COUNT : ST_INLINE;
            p->pos = 0;
            continue;

        case ST_COUNT:
            switch (number_line(r, n, 1, &v, &end)) {
            case LINE_SHORT:
                goto more;
            case LINE_LONG:
                return fail(p, -EPROTO, "Protocol error: too big mbulk count string");
            case LINE_BAD:
                return fail(p, -EPROTO, "Protocol error: invalid multibulk length");
            }
            if (v > 0 && (uint64_t)v > p->limits.max_args)
                return fail(p, -EPROTO, "Protocol error: invalid multibulk length");
            if (p->unauthenticated && v > RESP_UNAUTH_MAX_ARGS)
                return fail(p, -EPROTO, "Protocol error: unauthenticated multibulk length");
            if (v <= 0) { /* Redis accepts *0 and *-1 as requests of nothing */
                base += end;
                next_request(p);
                continue;
            }
            p->n_declared = (size_t)v;
            p->argc = 0;
            p->pos = end;
            p->state = ST_BULK_HEAD;
            continue;

        case ST_BULK_HEAD:
            if (p->pos >= n)
                goto more;
            if (r[p->pos] != '$')
                return fail_expected_dollar(p, (unsigned char)r[p->pos]);
            switch (number_line(r, n, p->pos + 1, &v, &end)) {
            case LINE_SHORT:
                goto more;
            case LINE_LONG:
                return fail(p, -EPROTO, "Protocol error: too big bulk count string");
            case LINE_BAD:
                return fail(p, -EPROTO, "Protocol error: invalid bulk length");
            }
            if (v < 0 || (uint64_t)v > p->limits.max_bulk)
                return fail(p, -EPROTO, "Protocol error: invalid bulk length");
            if (p->unauthenticated && v > RESP_UNAUTH_MAX_BULK)
                return fail(p, -EPROTO, "Protocol error: unauthenticated bulk length");
            /* end and v are below 2^41: no overflow. */
            if (end + (size_t)v + 2 > p->limits.max_request)
                return fail(p, -EPROTO, "Protocol error: too big request");
            p->bulk_len = (size_t)v;
            p->pos = end;
            p->state = ST_BULK_BODY;
            continue;

        case ST_BULK_BODY:
            if (n - p->pos < p->bulk_len + 2) {
                p->need = p->pos + p->bulk_len + 2;
                goto wait;
            }
            end = p->pos + p->bulk_len;
            if (r[end] != '\r' || r[end + 1] != '\n')
                return fail(p, -EPROTO, "Protocol error: expected CRLF after bulk data");
            if ((rc = add_arg(p, p->pos, p->bulk_len)))
                return rc;
            p->pos = end + 2;
            if (p->argc < p->n_declared) {
                p->state = ST_BULK_HEAD;
                continue;
            }
            for (i = 0; i < p->argc; i++)
                p->argv[i].ptr = r + p->arg_off[i];
            out->argc = p->argc;
            out->argv = p->argv;
            out->is_inline = false;
            *consumed = base + p->pos;
            next_request(p);
            return RESP_REQUEST;

        case ST_INLINE:
            /* Search at most one byte past the longest line and its CR LF. */
            end = n < p->limits.max_inline + 2 ? n : p->limits.max_inline + 2;
            nl = p->pos < end ? memchr(r + p->pos, '\n', end - p->pos) : NULL;
            if (!nl) {
                if (n >= p->limits.max_inline + 2)
                    return fail(p, -EPROTO, "Protocol error: too big inline request");
                p->pos = n;
                goto more;
            }
            end = (size_t)(nl - r);
            line = end > 0 && r[end - 1] == '\r' ? end - 1 : end;
            if (line > p->limits.max_inline)
                return fail(p, -EPROTO, "Protocol error: too big inline request");
            p->argc = 0;
            if ((rc = split_inline(p, r, line)))
                return rc;
            if (p->argc == 0) { /* a blank line: Redis ignores it */
                base += end + 1;
                next_request(p);
                continue;
            }
            out->argc = p->argc;
            out->argv = p->argv;
            out->is_inline = true;
            *consumed = base + end + 1;
            next_request(p);
            return RESP_REQUEST;

        default:
            return fail(p, -EINVAL, "resp_parse: parser in an unknown state");
        }
    more:
        p->need = n + 1;
    wait:
        p->seen = n;
        *consumed = base;
        return RESP_NEED_MORE;
    }
}
