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
 * \u escape of a low one (DC00-DFFF); a lone surrogate is an error. Raw
 * bytes of strings must be well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
#include "alloc.h"
#include "jsonl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"

typedef struct scanner {
    const unsigned char *start;   /* the line */
    const unsigned char *p;       /* next byte to read */
    const unsigned char *end;     /* one past the line's last byte */
    const char *field;            /* the key field's name */
    size_t field_len;
    const unsigned char *key_at;  /* the key field's value, once found */
    const unsigned char *key_end;
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
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(s, s->p, "lone low surrogate in \\u escape");
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

/* Whether the validated string body [p, end) unescapes to the key field's
 * name. Allocates nothing. */
static bool name_matches(const scanner *s, const unsigned char *p, const unsigned char *end)
{
    unsigned char unit[4];
    size_t matched = 0, n;

    while (p < end) {
        n = decode_next(&p, unit);
        if (n > s->field_len - matched || memcmp(s->field + matched, unit, n) != 0)
            return false;
        matched += n;
    }
    return matched == s->field_len;
}

/* Scans the object at s->p (a '{'). At the top level (top, and only when
 * there is a key field) it watches the member names for the key field and
 * records where its value is. */
static int scan_object(scanner *s, int depth, bool top)
{
    const unsigned char *name_at, *value_at;
    bool is_key;

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
        is_key = top && name_matches(s, name_at + 1, s->p - 1);
        if (is_key && s->key_at) {
            s->err->problem = CAIRN__JSONL_DUPLICATE;
            s->err->col = (size_t)(name_at - s->start) + 1;
            s->err->what = "appears more than once";
            return -1;
        }
        skip_ws(s);
        if (!at_char(s, ':'))
            return fail(s, s->p, "expected ':'");
        s->p++;
        skip_ws(s);
        value_at = s->p;
        if (scan_value(s, depth))
            return -1;
        if (is_key) {
            s->key_at = value_at;
            s->key_end = s->p;
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

/* Copies the key value [s->key_at, s->key_end) out: a string unescaped, a
 * number as written. Returns 0 or CAIRN_NOMEM. */
static int copy_key(const scanner *s, char **key, size_t *key_len)
{
    const unsigned char *p = s->key_at, *end = s->key_end;
    size_t n = 0;
    char *out;

    if (*p == '"') {
        p++;
        end--;
    }
    /* Unescaping never makes a string longer. */
    if (!(out = cairn__malloc((size_t)(end - p) + 1)))
        return CAIRN_NOMEM;
    if (*s->key_at == '"')
        while (p < end)
            n += decode_next(&p, (unsigned char *)out + n);
    else {
        n = (size_t)(end - p);
        memcpy(out, p, n);
    }
    out[n] = '\0';
    *key = out;
    *key_len = n;
    return 0;
}

/* Points s at line[0..len) and err, watching for field (NULL: none). */
static void scanner_init(scanner *s, const char *line, size_t len, const char *field,
                         cairn__jsonl_error *err)
{
    memset(err, 0, sizeof(*err));
    memset(s, 0, sizeof(*s));
    s->start = s->p = (const unsigned char *)line;
    s->end = s->start + len;
    s->field = field;
    s->field_len = field ? strlen(field) : 0;
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
    if (scan_object(s, 1, s->field != NULL))
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

    scanner_init(&s, line, len, NULL, err);
    return scan_line(&s);
}

int cairn__jsonl_field(const char *line, size_t len, const char *field, char **key,
                       size_t *key_len, cairn__jsonl_error *err)
{
    scanner s;

    scanner_init(&s, line, len, field, err);
    if (scan_line(&s))
        return CAIRN_BADINPUT;
    if (!s.key_at) {
        err->problem = CAIRN__JSONL_MISSING;
        err->what = "missing";
        return CAIRN_BADINPUT;
    }
    switch (*s.key_at) {
    case '{':
        err->what = "an object";
        break;
    case '[':
        err->what = "an array";
        break;
    case 't':
    case 'f':
        err->what = "a boolean";
        break;
    case 'n':
        err->what = "null";
        break;
    default: /* a string or a number */
        return copy_key(&s, key, key_len);
    }
    err->problem = CAIRN__JSONL_BADTYPE;
    err->col = (size_t)(s.key_at - s.start) + 1;
    return CAIRN_BADINPUT;
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
        snprintf(buf, size, "field \"%s\" appears more than once (again at column %zu)", field,
                 err->col);
        break;
    default:
        snprintf(buf, size, "no error");
        break;
    }
    return buf;
}
