/*
 * tsv.c - tsv field escaping (the table is in tsv.h).
 */
#include "alloc.h"
#include "tsv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "id.h"

static const char hex_digits[] = "0123456789abcdef";

/* The escape for byte c as a short string, or NULL if c stands for itself.
 * buf holds at least 5 bytes and backs the \xHH form. */
static const char *escape_of(unsigned char c, char buf[5])
{
    switch (c) {
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\\':
        return "\\\\";
    default:
        break;
    }
    if (c >= 0x20)
        return NULL;
    buf[0] = '\\';
    buf[1] = 'x';
    buf[2] = hex_digits[c >> 4];
    buf[3] = hex_digits[c & 0xf];
    buf[4] = '\0';
    return buf;
}

/* Bytes the escaped form of c takes. */
static size_t escaped_len(unsigned char c)
{
    if (c == '\t' || c == '\n' || c == '\r' || c == '\\')
        return 2;
    return c < 0x20 ? 4 : 1;
}

/* Describes the bad escape starting at field[i] (a backslash) as it appears:
 * the escape letter, and for \x the two bytes after it, printable bytes as
 * themselves and others as <HH>. */
static void describe_escape(const char *field, size_t len, size_t i, char *out, size_t out_size)
{
    size_t n, j, last = field[i + 1] == 'x' ? i + 3 : i + 1;
    int w;

    n = (size_t)snprintf(out, out_size, "bad escape '\\");
    for (j = i + 1; j < len && j <= last && n < out_size; j++) {
        unsigned char c = (unsigned char)field[j];
        if (c > 0x20 && c < 0x7f && c != '\'')
            w = snprintf(out + n, out_size - n, "%c", c);
        else
            w = snprintf(out + n, out_size - n, "<%02x>", c);
        n += (size_t)w;
    }
    if (n < out_size)
        snprintf(out + n, out_size - n, "'");
}

/* Checks field[0..len) and returns the length it unescapes to, or
 * (size_t)-1 with *err filled. */
static size_t check_field(const char *field, size_t len, cairn__tsv_error *err)
{
    size_t i, out_len = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)field[i];
        const char *raw = NULL;

        if (c == '\t')
            raw = "unescaped tab";
        else if (c == '\n')
            raw = "unescaped newline";
        else if (c == '\r')
            raw = "unescaped carriage return";
        if (raw) {
            err->offset = i;
            snprintf(err->what, sizeof(err->what), "%s", raw);
            return (size_t)-1;
        }
        out_len++;
        if (c != '\\')
            continue;
        if (i + 1 == len) {
            err->offset = i;
            snprintf(err->what, sizeof(err->what), "unfinished escape '\\' at end of field");
            return (size_t)-1;
        }
        switch (field[i + 1]) {
        case 't':
        case 'n':
        case 'r':
        case '\\':
            i += 1;
            break;
        case 'x':
            if (i + 3 < len && cairn__hex_digit((unsigned char)field[i + 2]) >= 0 &&
                cairn__hex_digit((unsigned char)field[i + 3]) >= 0) {
                i += 3;
                break;
            }
            /* fall through */
        default:
            err->offset = i;
            describe_escape(field, len, i, err->what, sizeof(err->what));
            return (size_t)-1;
        }
    }
    return out_len;
}

int cairn__tsv_unescape(char *field, size_t *len, cairn__tsv_error *err)
{
    size_t in_len = *len, out_len, i, o = 0;

    if ((out_len = check_field(field, in_len, err)) == (size_t)-1)
        return CAIRN_BADINPUT;
    /* The field is valid: rewrite it in place (o never passes i). */
    for (i = 0; i < in_len; i++) {
        char c = field[i];
        if (c != '\\') {
            field[o++] = c;
            continue;
        }
        switch (field[++i]) {
        case 't':
            field[o++] = '\t';
            break;
        case 'n':
            field[o++] = '\n';
            break;
        case 'r':
            field[o++] = '\r';
            break;
        case '\\':
            field[o++] = '\\';
            break;
        default: /* 'x', checked above */
            field[o++] = (char)(cairn__hex_digit((unsigned char)field[i + 1]) << 4 |
                                cairn__hex_digit((unsigned char)field[i + 2]));
            i += 2;
            break;
        }
    }
    *len = out_len;
    return 0;
}

/*
 * Public: escapes len bytes of data into a new NUL-terminated string.
 * Returns 0 with *out set (the caller frees it) or CAIRN_NOMEM (then *out
 * is untouched).
 */
int cairn_tsv_escape(const void *data, size_t len, char **out)
{
    const unsigned char *bytes = data;
    size_t i, n = 0, o = 0;
    char buf[5], *s;

    cairn__detail_clear();
    if (len > (SIZE_MAX - 1) / 4)
        return cairn__fail(CAIRN_NOMEM, "tsv escape: %zu bytes is too long", len);
    for (i = 0; i < len; i++)
        n += escaped_len(bytes[i]);
    if (!(s = cairn__malloc(n + 1)))
        return cairn__fail(CAIRN_NOMEM, "tsv escape: cannot allocate %zu bytes", n + 1);
    for (i = 0; i < len; i++) {
        const char *esc = escape_of(bytes[i], buf);
        if (!esc) {
            s[o++] = (char)bytes[i];
            continue;
        }
        size_t esc_len = strlen(esc);
        memcpy(s + o, esc, esc_len);
        o += esc_len;
    }
    s[o] = '\0';
    *out = s;
    return 0;
}

/*
 * Public: unescapes a tsv field in place. Returns 0 with *len updated, or
 * CAIRN_BADINPUT with the detail "bad escape '\q' at column N" (or
 * "unescaped tab at column N" and the like; columns count bytes from 1),
 * leaving field and *len untouched.
 */
int cairn_tsv_unescape(char *field, size_t *len)
{
    cairn__tsv_error err;
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__tsv_unescape(field, len, &err)))
        return cairn__fail(rc, "%s at column %zu", err.what, err.offset + 1);
    return 0;
}

const char *cairn__tsv_raw_problem(const void *key, size_t key_len, const void *val,
                                   size_t val_len)
{
    const unsigned char *v = val;

    if (key_len && memchr(key, '\t', key_len))
        return "the key holds a tab";
    if (key_len && memchr(key, '\n', key_len))
        return "the key holds a newline";
    if (key_len && memchr(key, '\r', key_len))
        return "the key holds a carriage return";
    if (val_len && memchr(val, '\t', val_len))
        return "the value holds a tab";
    if (val_len && memchr(val, '\n', val_len))
        return "the value holds a newline";
    if (val_len && v[val_len - 1] == '\r')
        return "the value ends in a carriage return";
    return NULL;
}

/*
 * Public: whether a record can be written as raw tsv. Returns 0, or
 * CAIRN_BADINPUT with the detail cairn__tsv_raw_problem gives.
 */
int cairn_tsv_raw_check(const void *key, size_t key_len, const void *val, size_t val_len)
{
    const char *problem = cairn__tsv_raw_problem(key, key_len, val, val_len);

    cairn__detail_clear();
    if (problem)
        return cairn__fail(CAIRN_BADINPUT, "%s", problem);
    return 0;
}

static int stream_error(void)
{
    return errno > 0 ? -errno : CAIRN_IO;
}

int cairn__tsv_write(FILE *f, const void *data, size_t len)
{
    const unsigned char *bytes = data;
    size_t i = 0, run;
    char buf[5];

    while (i < len) {
        /* Write the longest run of bytes that stand for themselves at once. */
        for (run = i; run < len && !escape_of(bytes[run], buf); run++)
            ;
        if (run > i) {
            errno = 0;
            if (fwrite(bytes + i, 1, run - i, f) != run - i)
                return stream_error();
            i = run;
        }
        if (i < len) {
            errno = 0;
            if (fputs(escape_of(bytes[i], buf), f) == EOF)
                return stream_error();
            i++;
        }
    }
    return 0;
}
