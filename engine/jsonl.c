/*
 * jsonl.c - a strict one-pass JSON scanner that validates a line as one
 * JSON object and extracts one top-level field (the contract is in
 * jsonl.h). Export uses the same scanner to check that a value is one
 * JSON object before writing it as a line.
 *
 * Grammar checked (RFC 8259):
 *
 *     line   = ws object ws
 *     value  = object / array / string / number / "true" / "false" / "null"
 *     object = '{' ws [ member *( ws ',' ws member ) ] ws '}'
 *     member = string ws ':' ws value
 *     array  = '[' ws [ value *( ws ',' ws value ) ] ws ']'
 *     number = [ '-' ] ( '0' / [1-9] *DIGIT ) [ '.' 1*DIGIT ] [ ( 'e' / 'E' ) [ '+' / '-' ] 1*DIGIT ]
 *     string = '"' *( unescaped UTF-8 >= 0x20 except '"' '\' / escape ) '"'
 *     escape = '\' ( '"' / '\' / '/' / 'b' / 'f' / 'n' / 'r' / 't' / 'u' 4HEXDIG )
 *     ws     = *( ' ' / '\t' / '\n' / '\r' )
 *
 * A \u escape of a high surrogate (D800-DBFF) must be followed at once by a
 * \u escape of a low one (DC00-DFFF); a lone surrogate is an error, except
 * in typed records (below). Raw bytes of strings must be well-formed UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF).
 *
 * Typed records (cairn__jsonl_record_parse): a line with a top-level "type"
 * member is a string or a hash of Redis's data model, its key, field names
 * and values JSON strings. Bytes that are not UTF-8 are written as lone
 * low surrogates: \udc80 to \udcff stand for the bytes 0x80 to 0xff (the
 * convention of Python's "surrogateescape" error handler), which no UTF-8
 * text can hold, so every byte string has exactly one spelling. Such a line
 * is scanned twice: strictly first, as every line, and again accepting
 * those escapes only if the strict scan stopped at one; so untyped lines
 * are checked exactly as before typed records existed.
 */
#include "alloc.h"
#include "jsonl.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "id.h"

/* The message of a lone low surrogate: what a strict scan stops at, and
 * what the second scan of a typed record looks for. */
static const char lone_low_surrogate[] = "lone low surrogate in \\u escape";

/* A top-level member the scanner looks for. */
typedef struct watched {
    const char *name;
    size_t name_len;
    bool dup_fails;              /* a second one stops the scan (the key field) */
    const unsigned char *at;     /* its value, once found */
    const unsigned char *end;
    const unsigned char *dup_at; /* the name of a second one, or NULL */
} watched;

typedef struct scanner {
    const unsigned char *start;   /* the line */
    const unsigned char *p;       /* next byte to read */
    const unsigned char *end;     /* one past the line's last byte */
    watched *watch;               /* top-level members looked for; watch[0] the key */
    size_t n_watch;
    bool byte_escapes;            /* accept \udc80-\udcff alone (typed records) */
    cairn__jsonl_error *err;
} scanner;

static int scan_value(scanner *s, int depth);

/* Records a syntax error at byte at and returns -1. */
static int fail(scanner *s, const unsigned char *at, const char *what)
{
    s->err->problem = CAIRN__JSONL_SYNTAX;
    s->err->col = (size_t)(at - s->start) + 1;
    s->err->what = what;
    return -1;
}

static void skip_ws(scanner *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool at_char(const scanner *s, unsigned char c)
{
    return s->p < s->end && *s->p == c;
}

/* Reads the four hex digits at p (bounded by end) into *cp. Returns false if
 * they are not four hex digits. */
static bool read_hex4(const unsigned char *p, const unsigned char *end, unsigned *cp)
{
    unsigned v = 0;
    int i, d;

    if (end - p < 4)
        return false;
    for (i = 0; i < 4; i++) {
        if ((d = cairn__hex_digit(p[i])) < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *cp = v;
    return true;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), or 0
 * if it is not one. p < end and *p >= 0x80. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* Scans the string at s->p (a '"') and leaves s->p after its closing quote.
 * Returns 0 or -1 (error recorded). */
static int scan_string(scanner *s)
{
    const unsigned char *open = s->p;
    unsigned cp, low;
    size_t n;

    s->p++;
    for (;;) {
        if (s->p == s->end)
            return fail(s, open, "unterminated string");
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, s->p, "control character in string (escape it)");
        if (c >= 0x80) {
            if (!(n = utf8_len(s->p, s->end)))
                return fail(s, s->p, "invalid UTF-8 in string");
            s->p += n;
            continue;
        }
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (s->end - s->p < 2)
            return fail(s, open, "unterminated string");
        switch (s->p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            s->p += 2;
            break;
        case 'u':
            if (!read_hex4(s->p + 2, s->end, &cp))
                return fail(s, s->p, "bad \\u escape (want four hex digits)");
            if (cp >= 0xdc00 && cp <= 0xdfff &&
                !(s->byte_escapes && cp >= 0xdc80 && cp <= 0xdcff))
                return fail(s, s->p, lone_low_surrogate);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (s->end - s->p < 12 || s->p[6] != '\\' || s->p[7] != 'u' ||
                    !read_hex4(s->p + 8, s->end, &low) || low < 0xdc00 || low > 0xdfff)
                    return fail(s, s->p, "high surrogate not followed by a low one");
                s->p += 6;
            }
            s->p += 6;
            break;
        default:
            return fail(s, s->p, "bad escape in string");
        }
    }
}

static bool is_digit(const scanner *s)
{
    return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* Scans the number at s->p. Returns 0 or -1. */
static int scan_number(scanner *s)
{
    if (at_char(s, '-'))
        s->p++;
    if (at_char(s, '0'))
        s->p++;
    else if (is_digit(s))
        while (is_digit(s))
            s->p++;
    else
        return fail(s, s->p, "expected a digit");
    if (at_char(s, '.')) {
        s->p++;
        if (!is_digit(s))
            return fail(s, s->p, "expected a digit after '.'");
        while (is_digit(s))
            s->p++;
    }
    if (at_char(s, 'e') || at_char(s, 'E')) {
        s->p++;
        if (at_char(s, '+') || at_char(s, '-'))
            s->p++;
        if (!is_digit(s))
            return fail(s, s->p, "expected a digit in the exponent");
        while (is_digit(s))
            s->p++;
    }
    return 0;
}

static int scan_literal(scanner *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, s->p, "invalid literal (want true, false or null)");
    s->p += n;
    return 0;
}

/* Decodes one unit of the validated string body at *pp (a raw byte or an
 * escape, a surrogate pair counting as one) into out and advances *pp.
 * Returns the number of bytes written (1 to 4). */
static size_t decode_next(const unsigned char **pp, unsigned char out[4])
{
    const unsigned char *p = *pp;
    unsigned cp = 0, low = 0; /* set by read_hex4 on validated input */

    if (*p != '\\') {
        out[0] = *p;
        *pp = p + 1;
        return 1;
    }
    *pp = p + 2;
    switch (p[1]) {
    case 'b':
        out[0] = '\b';
        return 1;
    case 'f':
        out[0] = '\f';
        return 1;
    case 'n':
        out[0] = '\n';
        return 1;
    case 'r':
        out[0] = '\r';
        return 1;
    case 't':
        out[0] = '\t';
        return 1;
    case 'u':
        break;
    default: /* '"', '\\', '/' */
        out[0] = p[1];
        return 1;
    }
    read_hex4(p + 2, p + 6, &cp);
    *pp = p + 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        read_hex4(p + 8, p + 12, &low);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        *pp = p + 12;
    }
    if (cp >= 0xdc80 && cp <= 0xdcff) {
        out[0] = (unsigned char)(cp & 0xff); /* a byte escape: only a typed record has one */
        return 1;
    }
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Whether the validated string body [p, end) unescapes to name[0..len).
 * Allocates nothing. */
static bool name_matches(const char *name, size_t len, const unsigned char *p,
                         const unsigned char *end)
{
    unsigned char unit[4];
    size_t matched = 0, n;

    while (p < end) {
        n = decode_next(&p, unit);
        if (n > len - matched || memcmp(name + matched, unit, n) != 0)
            return false;
        matched += n;
    }
    return matched == len;
}

/* The watched member whose name is the string body [p, end), or NULL. */
static watched *watched_of(const scanner *s, const unsigned char *p, const unsigned char *end)
{
    size_t i;
    for (i = 0; i < s->n_watch; i++)
        if (name_matches(s->watch[i].name, s->watch[i].name_len, p, end))
            return &s->watch[i];
    return NULL;
}

/* Scans the object at s->p (a '{'). At the top level (top) it watches the
 * member names for the watched ones and records where their values are. */
static int scan_object(scanner *s, int depth, bool top)
{
    const unsigned char *name_at, *value_at;
    watched *w;

    if (depth > CAIRN__JSON_MAX_DEPTH)
        return fail(s, s->p, "objects and arrays nested too deeply");
    s->p++;
    skip_ws(s);
    if (at_char(s, '}')) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (!at_char(s, '"'))
            return fail(s, s->p, "expected a string (a member name)");
        name_at = s->p;
        if (scan_string(s))
            return -1;
        w = top ? watched_of(s, name_at + 1, s->p - 1) : NULL;
        if (w && w->at) {
            if (w->dup_fails) {
                s->err->problem = CAIRN__JSONL_DUPLICATE;
                s->err->col = (size_t)(name_at - s->start) + 1;
                s->err->what = "appears more than once";
                return -1;
            }
            if (!w->dup_at)
                w->dup_at = name_at;
            w = NULL; /* the first one stays */
        }
        skip_ws(s);
        if (!at_char(s, ':'))
            return fail(s, s->p, "expected ':'");
        s->p++;
        skip_ws(s);
        value_at = s->p;
        if (scan_value(s, depth))
            return -1;
        if (w) {
            w->at = value_at;
            w->end = s->p;
        }
        skip_ws(s);
        if (at_char(s, ',')) {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (at_char(s, '}')) {
            s->p++;
            return 0;
        }
        return fail(s, s->p, "expected ',' or '}'");
    }
}

/* Scans the array at s->p (a '['). */
static int scan_array(scanner *s, int depth)
{
    if (depth > CAIRN__JSON_MAX_DEPTH)
        return fail(s, s->p, "objects and arrays nested too deeply");
    s->p++;
    skip_ws(s);
    if (at_char(s, ']')) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (scan_value(s, depth))
            return -1;
        skip_ws(s);
        if (at_char(s, ',')) {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (at_char(s, ']')) {
            s->p++;
            return 0;
        }
        return fail(s, s->p, "expected ',' or ']'");
    }
}

/* Scans the value at s->p (whitespace already skipped); depth is that of
 * the container holding it. */
static int scan_value(scanner *s, int depth)
{
    if (s->p == s->end)
        return fail(s, s->p, "expected a value");
    switch (*s->p) {
    case '{':
        return scan_object(s, depth + 1, false);
    case '[':
        return scan_array(s, depth + 1);
    case '"':
        return scan_string(s);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return scan_number(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        return fail(s, s->p, "expected a value");
    }
}

/* Decodes the validated JSON string [at, end) (quotes included) into out.
 * Returns the bytes written: never more than end - at. */
static size_t decode_string(const unsigned char *at, const unsigned char *end,
                            unsigned char *out)
{
    const unsigned char *p = at + 1;
    size_t n = 0;

    while (p < end - 1)
        n += decode_next(&p, out + n);
    return n;
}

/* Decodes a key value [at, end) into out: a string unescaped, a number as
 * written. Returns the bytes written (at most end - at). */
static size_t decode_key(const unsigned char *at, const unsigned char *end, unsigned char *out)
{
    if (*at == '"')
        return decode_string(at, end, out);
    memcpy(out, at, (size_t)(end - at));
    return (size_t)(end - at);
}

/* What a JSON value that is not a string or a number is, for messages. */
static const char *kind_of(const unsigned char *at)
{
    switch (*at) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* Points s at line[0..len) and err, watching for watch[0..n_watch). */
static void scanner_init(scanner *s, const char *line, size_t len, watched *watch,
                         size_t n_watch, cairn__jsonl_error *err)
{
    memset(err, 0, sizeof(*err));
    memset(s, 0, sizeof(*s));
    s->start = s->p = (const unsigned char *)line;
    s->end = s->start + len;
    s->watch = watch;
    s->n_watch = n_watch;
    s->err = err;
}

/* Scans the whole line as ws object ws. Returns 0 or CAIRN_BADINPUT with
 * the error recorded. */
static int scan_line(scanner *s)
{
    skip_ws(s);
    if (s->p == s->end) {
        fail(s, s->start, "empty line (want one JSON object)");
        return CAIRN_BADINPUT;
    }
    if (*s->p != '{') {
        fail(s, s->p, "expected '{' (each line must be one JSON object)");
        return CAIRN_BADINPUT;
    }
    if (scan_object(s, 1, s->n_watch > 0))
        return CAIRN_BADINPUT;
    skip_ws(s);
    if (s->p != s->end) {
        fail(s, s->p, "unexpected text after the object");
        return CAIRN_BADINPUT;
    }
    return 0;
}

int cairn__jsonl_object(const char *line, size_t len, cairn__jsonl_error *err)
{
    scanner s;

    scanner_init(&s, line, len, NULL, 0, err);
    return scan_line(&s);
}

static watched watch_of(const char *name, bool dup_fails)
{
    watched w = {name, strlen(name), dup_fails, NULL, NULL, NULL};
    return w;
}

/* Checks the key member (present, a string or a number). Returns 0 or
 * CAIRN_BADINPUT with *err filled. */
static int check_key_member(const scanner *s, const watched *key, cairn__jsonl_error *err)
{
    if (!key->at) {
        err->problem = CAIRN__JSONL_MISSING;
        err->what = "missing";
        return CAIRN_BADINPUT;
    }
    if (*key->at == '"' || *key->at == '-' || (*key->at >= '0' && *key->at <= '9'))
        return 0;
    err->problem = CAIRN__JSONL_BADTYPE;
    err->what = kind_of(key->at);
    err->col = (size_t)(key->at - s->start) + 1;
    return CAIRN_BADINPUT;
}

int cairn__jsonl_field(const char *line, size_t len, const char *field, char **key,
                       size_t *key_len, cairn__jsonl_error *err)
{
    watched w = watch_of(field, true);
    scanner s;
    char *out;
    size_t n;

    scanner_init(&s, line, len, &w, 1, err);
    if (scan_line(&s) || check_key_member(&s, &w, err))
        return CAIRN_BADINPUT;
    /* Decoding never makes a key longer. */
    if (!(out = cairn__malloc((size_t)(w.end - w.at) + 1)))
        return CAIRN_NOMEM;
    n = decode_key(w.at, w.end, (unsigned char *)out);
    out[n] = '\0';
    *key = out;
    *key_len = n;
    return 0;
}

/* ---------------------------------------------------------------- typed records */

enum { W_KEY, W_TYPE, W_VALUE, N_WATCHED };

/* Records a typed-record problem about the member or field name (shown
 * quoted, cut at 48 bytes) at byte at (NULL: no column). Returns
 * CAIRN_BADINPUT. */
static int typed_fail(const scanner *s, cairn__jsonl_problem problem, const void *name,
                      size_t name_len, const unsigned char *at, const char *what)
{
    cairn__jsonl_error *err = s->err;

    err->problem = problem;
    err->col = at ? (size_t)(at - s->start) + 1 : 0;
    err->what = what;
    if (name)
        cairn__quote(name, name_len, 48, err->name);
    return CAIRN_BADINPUT;
}

/* Makes room for n pairs in rec. */
static int reserve_pairs(cairn__jsonl_record *rec, size_t n)
{
    cairn__jsonl_pair *v;
    size_t cap = rec->pairs_cap ? rec->pairs_cap : 16;

    if (n <= rec->pairs_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    if (!(v = cairn__realloc(rec->pairs, cap * sizeof(*v))))
        return CAIRN_NOMEM;
    rec->pairs = v;
    rec->pairs_cap = cap;
    return 0;
}

static int cmp_pairs(const void *a, const void *b)
{
    const cairn__jsonl_pair *x = a, *y = b;
    size_t n = x->field.len < y->field.len ? x->field.len : y->field.len;
    int c = n ? memcmp(x->field.data, y->field.data, n) : 0;

    if (c)
        return c;
    if (x->field.len != y->field.len)
        return x->field.len < y->field.len ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

/* Decodes the members of the hash object at at (validated) into
 * rec->pairs, sorted by field, and checks that each value is a string and
 * each field comes once. *out_at is where decoded bytes go. */
static int decode_hash(const scanner *top, cairn__jsonl_record *rec, const unsigned char *at,
                       unsigned char *out_at)
{
    const unsigned char *dup_at = NULL;
    const cairn__jsonl_pair *dup = NULL;
    scanner s = *top;
    size_t i;
    int rc;

    s.p = at + 1;
    s.n_watch = 0;
    s.byte_escapes = true; /* (the line scanned already: nothing can fail) */
    rec->n_pairs = 0;
    skip_ws(&s);
    while (*s.p != '}') {
        const unsigned char *name_at = s.p, *name_end, *value_at;
        cairn__jsonl_pair *pair;

        scan_string(&s);
        name_end = s.p;
        skip_ws(&s);
        s.p++; /* ':' */
        skip_ws(&s);
        value_at = s.p;
        if ((rc = reserve_pairs(rec, rec->n_pairs + 1)))
            return rc;
        pair = &rec->pairs[rec->n_pairs++];
        pair->col = (size_t)(name_at - s.start) + 1;
        pair->field.data = out_at;
        pair->field.len = decode_string(name_at, name_end, out_at);
        out_at += pair->field.len;
        if (*value_at != '"')
            return typed_fail(&s, CAIRN__JSONL_HASH_FIELD_BAD, pair->field.data,
                              pair->field.len, value_at, kind_of(value_at));
        scan_string(&s);
        pair->value.data = out_at;
        pair->value.len = decode_string(value_at, s.p, out_at);
        out_at += pair->value.len;
        skip_ws(&s);
        if (*s.p == ',') {
            s.p++;
            skip_ws(&s);
        }
    }
    if (rec->n_pairs == 0)
        return typed_fail(&s, CAIRN__JSONL_HASH_EMPTY, NULL, 0, at, NULL);
    qsort(rec->pairs, rec->n_pairs, sizeof(*rec->pairs), cmp_pairs);
    /* Of the fields that come again, name the one whose second coming is
     * first in the line. */
    for (i = 1; i < rec->n_pairs; i++) {
        const cairn__jsonl_pair *a = &rec->pairs[i - 1], *b = &rec->pairs[i];
        if (a->field.len == b->field.len &&
            (!a->field.len || memcmp(a->field.data, b->field.data, a->field.len) == 0) &&
            (!dup || b->col < dup->col))
            dup = b;
    }
    if (dup) {
        dup_at = s.start + dup->col - 1;
        return typed_fail(&s, CAIRN__JSONL_HASH_DUPLICATE, dup->field.data, dup->field.len,
                          dup_at, NULL);
    }
    return 0;
}

/* Decodes the typed record whose members s found (w[W_TYPE] is set). */
static int decode_typed(const scanner *s, const watched *w, cairn__jsonl_record *rec,
                        unsigned char *out_at)
{
    const watched *type = &w[W_TYPE], *value = &w[W_VALUE];
    /* "string" and "hash" take at most 6 characters of 6 bytes each
     * ("\u0073..."): a longer type is neither, and is not decoded. */
    unsigned char type_name[6 * 6];
    size_t type_raw = (size_t)(type->end - type->at) - 2, type_len = 0;

    if (type->dup_at)
        return typed_fail(s, CAIRN__JSONL_DUPLICATE, "type", 4, type->dup_at, NULL);
    if (value->dup_at)
        return typed_fail(s, CAIRN__JSONL_DUPLICATE, "value", 5, value->dup_at, NULL);
    if (*type->at != '"')
        return typed_fail(s, CAIRN__JSONL_TYPE_BAD, NULL, 0, type->at, kind_of(type->at));
    if (type_raw <= sizeof(type_name))
        type_len = decode_string(type->at, type->end, type_name);
    if (type_len == 6 && memcmp(type_name, "string", 6) == 0)
        rec->type = CAIRN__JSONL_STRING;
    else if (type_len == 4 && memcmp(type_name, "hash", 4) == 0)
        rec->type = CAIRN__JSONL_HASH;
    else /* shown as written, escapes too: what the user typed */
        return typed_fail(s, CAIRN__JSONL_TYPE_UNKNOWN, type->at + 1, type_raw, type->at, NULL);
    if (!value->at)
        return typed_fail(s, CAIRN__JSONL_VALUE_MISSING, NULL, 0, NULL, NULL);
    if (rec->type == CAIRN__JSONL_STRING) {
        if (*value->at != '"')
            return typed_fail(s, CAIRN__JSONL_VALUE_BAD, "string", 6, value->at,
                              kind_of(value->at));
        rec->value.data = out_at;
        rec->value.len = decode_string(value->at, value->end, out_at);
        return 0;
    }
    if (*value->at != '{')
        return typed_fail(s, CAIRN__JSONL_VALUE_BAD, "hash", 4, value->at, kind_of(value->at));
    return decode_hash(s, rec, value->at, out_at);
}

int cairn__jsonl_record_parse(const char *line, size_t len, const char *key_field, bool typed,
                              cairn__jsonl_record *rec, cairn__jsonl_error *err)
{
    watched w[N_WATCHED];
    size_t n_watch = 1;
    unsigned char *out;
    scanner s;
    int rc;

    w[W_KEY] = watch_of(key_field, true);
    w[W_TYPE] = watch_of("type", false);
    w[W_VALUE] = watch_of("value", false);
    /* A key field named "type" or "value" would be both: no typed records. */
    if (typed && strcmp(key_field, "type") != 0 && strcmp(key_field, "value") != 0)
        n_watch = N_WATCHED;
    scanner_init(&s, line, len, w, n_watch, err);
    if ((rc = scan_line(&s))) {
        cairn__jsonl_error strict = *err;
        /* A byte escape stops the strict scan: a typed record may hold
         * them. The strict error stands unless the line is one. */
        if (n_watch == 1 || strict.what != lone_low_surrogate)
            return rc;
        w[W_KEY] = watch_of(key_field, true);
        w[W_TYPE] = watch_of("type", false);
        w[W_VALUE] = watch_of("value", false);
        scanner_init(&s, line, len, w, n_watch, err);
        s.byte_escapes = true;
        if (scan_line(&s)) {
            /* Another problem: a typed record's own, if the scan had
             * found a "type" by then. */
            if (!w[W_TYPE].at)
                *err = strict;
            return CAIRN_BADINPUT;
        }
        if (!w[W_TYPE].at) {
            *err = strict;
            return CAIRN_BADINPUT;
        }
    }
    if (check_key_member(&s, &w[W_KEY], err))
        return CAIRN_BADINPUT;
    /* Every decoded string (key, value, fields) is no longer than its JSON
     * text, so the line's length bounds them all. */
    if (len + 1 > rec->buf_cap) {
        if (!(out = cairn__realloc(rec->buf, len + 1)))
            return CAIRN_NOMEM;
        rec->buf = out;
        rec->buf_cap = len + 1;
    }
    out = rec->buf;
    rec->type = CAIRN__JSONL_UNTYPED;
    rec->key.data = out;
    rec->key.len = decode_key(w[W_KEY].at, w[W_KEY].end, out);
    rec->n_pairs = 0;
    if (n_watch == 1 || !w[W_TYPE].at) {
        rec->value.data = line;
        rec->value.len = len;
        return 0;
    }
    return decode_typed(&s, w, rec, out + rec->key.len);
}

void cairn__jsonl_record_free(cairn__jsonl_record *rec)
{
    cairn__free(rec->buf);
    cairn__free(rec->pairs);
    memset(rec, 0, sizeof(*rec));
}

const char *cairn__jsonl_describe(const cairn__jsonl_error *err, const char *field, char *buf,
                                  size_t size)
{
    switch (err->problem) {
    case CAIRN__JSONL_SYNTAX:
        snprintf(buf, size, "invalid JSON at column %zu: %s", err->col, err->what);
        break;
    case CAIRN__JSONL_MISSING:
        snprintf(buf, size, "field \"%s\" missing", field);
        break;
    case CAIRN__JSONL_BADTYPE:
        snprintf(buf, size, "field \"%s\" is %s, want a string or number", field, err->what);
        break;
    case CAIRN__JSONL_DUPLICATE:
        snprintf(buf, size, "field \"%s\" appears more than once (again at column %zu)",
                 err->name[0] ? err->name : field, err->col);
        break;
    case CAIRN__JSONL_TYPE_BAD:
        snprintf(buf, size, "field \"type\" is %s (column %zu), want \"string\" or \"hash\"",
                 err->what, err->col);
        break;
    case CAIRN__JSONL_TYPE_UNKNOWN:
        snprintf(buf, size,
                 "unknown type \"%s\" (column %zu): want \"string\" or \"hash\" (a line with a "
                 "top-level \"type\" field is a typed record; import untyped to keep such "
                 "lines whole)",
                 err->name, err->col);
        break;
    case CAIRN__JSONL_VALUE_MISSING:
        snprintf(buf, size, "field \"value\" missing (a typed record needs one)");
        break;
    case CAIRN__JSONL_VALUE_BAD:
        snprintf(buf, size, "field \"value\" is %s (column %zu), want %s (type \"%s\")",
                 err->what, err->col,
                 strcmp(err->name, "hash") == 0 ? "an object of strings" : "a string", err->name);
        break;
    case CAIRN__JSONL_HASH_FIELD_BAD:
        snprintf(buf, size, "hash field \"%s\" is %s (column %zu), want a string", err->name,
                 err->what, err->col);
        break;
    case CAIRN__JSONL_HASH_DUPLICATE:
        snprintf(buf, size, "hash field \"%s\" appears more than once (again at column %zu)",
                 err->name, err->col);
        break;
    case CAIRN__JSONL_HASH_EMPTY:
        snprintf(buf, size, "a hash with no fields (column %zu): such a hash does not exist, "
                            "leave the line out",
                 err->col);
        break;
    default:
        snprintf(buf, size, "no error");
        break;
    }
    return buf;
}

/* ---------------------------------------------------------------- writing */

int cairn__jsonl_write_string(FILE *out, const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len, *run = p;
    char esc[8];
    size_t n;

    errno = 0;
    if (putc('"', out) == EOF)
        goto fail;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0x80 && (n = utf8_len(p, end))) {
            p += n;
            continue;
        }
        if (p > run && fwrite(run, 1, (size_t)(p - run), out) != (size_t)(p - run))
            goto fail;
        switch (c) {
        case '"':
        case '\\':
            snprintf(esc, sizeof(esc), "\\%c", c);
            break;
        case '\n':
            snprintf(esc, sizeof(esc), "\\n");
            break;
        case '\r':
            snprintf(esc, sizeof(esc), "\\r");
            break;
        case '\t':
            snprintf(esc, sizeof(esc), "\\t");
            break;
        default:
            /* Another control character, or a byte of no UTF-8 sequence:
             * \u00XX, or the byte escape \udcXX. */
            snprintf(esc, sizeof(esc), "\\u%s%02x", c < 0x80 ? "00" : "dc", c);
            break;
        }
        if (fputs(esc, out) == EOF)
            goto fail;
        run = ++p;
    }
    if (p > run && fwrite(run, 1, (size_t)(p - run), out) != (size_t)(p - run))
        goto fail;
    if (putc('"', out) == EOF)
        goto fail;
    return 0;
fail:
    return errno > 0 ? -errno : CAIRN_IO;
}
