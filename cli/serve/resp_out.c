/*
 * resp_out.c - the reply encoder of resp.h: RESP2 and RESP3 values appended
 * to a connection's output buffer, handed to writev as iovecs.
 *
 * The pending output is one contiguous buffer, buf[head..len), with values
 * appended by reference spliced in at recorded offsets:
 *
 *     buf:   [written][$70000\r\n][\r\n:1\r\n]....       refs[k].at
 *                     ^head                ^             marks where
 *     refs:           ref k: 70000 bytes --'             its bytes go
 *
 * Small replies therefore cost one memcpy and go out as one iovec. The
 * buffer only grows while a reply is built (so offsets, marks included,
 * stay put); resp_out_consume moves the unwritten rest to the front once
 * the written part is half the buffer, so a connection that never drains
 * fully still reuses its memory.
 */
#include "resp.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; it doubles from there. */
#define OUT_MIN_CAP 1024
/* Room for a type byte, a 64-bit number with its sign, and CR LF. */
#define HEADER_MAX 24
/* Room for any double as resp_out_double writes it. */
#define DOUBLE_MAX 40

int resp_out_init(resp_out *o, int proto)
{
    memset(o, 0, sizeof(*o));
    o->proto = 2;
    return resp_out_set_proto(o, proto);
}

int resp_out_set_proto(resp_out *o, int proto)
{
    if (proto != 2 && proto != 3)
        return -EINVAL;
    o->proto = proto;
    return 0;
}

int resp_out_proto(const resp_out *o)
{
    return o->proto;
}

int resp_out_status(const resp_out *o)
{
    return o->error;
}

void resp_out_free(resp_out *o)
{
    if (!o)
        return;
    for (size_t k = o->ref_first; k < o->n_refs; k++)
        if (o->refs[k].release)
            o->refs[k].release(o->refs[k].ctx);
    free(o->buf);
    free(o->refs);
    memset(o, 0, sizeof(*o));
    o->proto = 2;
}

static int out_of_memory(resp_out *o)
{
    o->error = -ENOMEM;
    return -ENOMEM;
}

/* Makes room for extra more bytes at buf[len]. Never moves the pending
 * bytes within the buffer (marks are offsets). */
static int reserve(resp_out *o, size_t extra)
{
    size_t want, cap;
    char *buf;

    if (o->error)
        return o->error;
    if (extra <= o->cap - o->len)
        return 0;
    if (extra > SIZE_MAX / 4 - o->len)
        return out_of_memory(o);
    want = o->len + extra;
    cap = o->cap ? o->cap : OUT_MIN_CAP;
    while (cap < want)
        cap *= 2;
    if (!(buf = realloc(o->buf, cap)))
        return out_of_memory(o);
    o->buf = buf;
    o->cap = cap;
    return 0;
}

/* Writes v in decimal at dst; returns the end. */
static char *put_u64(char *dst, uint64_t v)
{
    char digits[20];
    size_t n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *dst++ = digits[--n];
    return dst;
}

/* Writes "<type><n>\r\n" at dst (HEADER_MAX bytes of room); returns its
 * length. */
static size_t format_header(char *dst, char type, uint64_t n)
{
    char *w = dst;

    *w++ = type;
    w = put_u64(w, n);
    *w++ = '\r';
    *w++ = '\n';
    return (size_t)(w - dst);
}

static int header(resp_out *o, char type, uint64_t n)
{
    if (reserve(o, HEADER_MAX))
        return o->error;
    o->len += format_header(o->buf + o->len, type, n);
    return 0;
}

static int append(resp_out *o, const void *bytes, size_t len)
{
    if (reserve(o, len))
        return o->error;
    if (len) {
        memcpy(o->buf + o->len, bytes, len);
        o->len += len;
    }
    return 0;
}

/* Writes type, s[0..len) with CR and LF turned into spaces, and CR LF: the
 * line of a simple string or error. */
static int line(resp_out *o, char type, const char *s, size_t len)
{
    char *w;

    if (len > SIZE_MAX / 4)
        return out_of_memory(o);
    if (reserve(o, len + 3))
        return o->error;
    w = o->buf + o->len;
    *w++ = type;
    for (size_t i = 0; i < len; i++)
        *w++ = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
    *w++ = '\r';
    *w++ = '\n';
    o->len = (size_t)(w - o->buf);
    return 0;
}

int resp_out_simple(resp_out *o, const char *s)
{
    return line(o, '+', s, strlen(s));
}

int resp_out_error(resp_out *o, const char *msg)
{
    return line(o, '-', msg, strlen(msg));
}

int resp_out_errorf(resp_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *w;

    if (o->error)
        return o->error;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return resp_out_error(o, "ERR (unprintable error message)");
    if (reserve(o, (size_t)n + 3))
        return o->error;
    /* The text goes after the '-'; its NUL lands where CR will. */
    w = o->buf + o->len;
    va_start(ap, fmt);
    vsnprintf(w + 1, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *w = '-';
    for (int i = 1; i <= n; i++)
        if (w[i] == '\r' || w[i] == '\n')
            w[i] = ' ';
    w[n + 1] = '\r';
    w[n + 2] = '\n';
    o->len += (size_t)n + 3;
    return 0;
}

int resp_out_int(resp_out *o, long long v)
{
    char *w;

    if (reserve(o, HEADER_MAX))
        return o->error;
    w = o->buf + o->len;
    *w++ = ':';
    if (v < 0)
        *w++ = '-';
    /* The magnitude as unsigned: -LLONG_MIN does not fit a long long. */
    w = put_u64(w, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    *w++ = '\r';
    *w++ = '\n';
    o->len = (size_t)(w - o->buf);
    return 0;
}

int resp_out_bulk(resp_out *o, const void *bytes, size_t len)
{
    char *w;

    if (len > SIZE_MAX / 4)
        return out_of_memory(o);
    if (reserve(o, HEADER_MAX + len + 2))
        return o->error;
    w = o->buf + o->len;
    w += format_header(w, '$', len);
    if (len)
        memcpy(w, bytes, len);
    w += len;
    *w++ = '\r';
    *w++ = '\n';
    o->len = (size_t)(w - o->buf);
    return 0;
}

int resp_out_bulk_ref(resp_out *o, const void *bytes, size_t len, resp_release_fn release,
                      void *ctx)
{
    resp_out_ref *ref;
    int rc;

    if (len < RESP_OUT_REF_MIN) {
        if ((rc = resp_out_bulk(o, bytes, len)) == 0 && release)
            release(ctx);
        return rc;
    }
    if (o->error)
        return o->error;
    if (o->n_refs == o->ref_cap) {
        if (o->ref_first > 0) { /* reuse the room of released references */
            memmove(o->refs, o->refs + o->ref_first,
                    (o->n_refs - o->ref_first) * sizeof(*o->refs));
            o->n_refs -= o->ref_first;
            o->ref_first = 0;
        } else {
            size_t cap = o->ref_cap ? o->ref_cap * 2 : 4;
            resp_out_ref *refs = realloc(o->refs, cap * sizeof(*refs));
            if (!refs)
                return out_of_memory(o);
            o->refs = refs;
            o->ref_cap = cap;
        }
    }
    if (reserve(o, HEADER_MAX + 2))
        return o->error;
    o->len += format_header(o->buf + o->len, '$', len);
    ref = &o->refs[o->n_refs++];
    ref->at = o->len;
    ref->bytes = bytes;
    ref->len = len;
    ref->release = release;
    ref->ctx = ctx;
    o->ref_bytes += len;
    o->buf[o->len++] = '\r';
    o->buf[o->len++] = '\n';
    return 0;
}

int resp_out_null(resp_out *o)
{
    return o->proto == 3 ? append(o, "_\r\n", 3) : append(o, "$-1\r\n", 5);
}

int resp_out_null_array(resp_out *o)
{
    return o->proto == 3 ? append(o, "_\r\n", 3) : append(o, "*-1\r\n", 5);
}

int resp_out_array(resp_out *o, size_t n)
{
    return header(o, '*', n);
}

int resp_out_map(resp_out *o, size_t n_pairs)
{
    return o->proto == 3 ? header(o, '%', n_pairs) : header(o, '*', (uint64_t)n_pairs * 2);
}

int resp_out_set(resp_out *o, size_t n)
{
    return header(o, o->proto == 3 ? '~' : '*', n);
}

/* Writes d at dst (DOUBLE_MAX bytes of room) as Redis's d2string does:
 * "nan", "inf", "-inf", "0", "-0", integral values of magnitude below
 * 2^62 as integers, others in the shortest %g form that reads back as d.
 * Returns the length. */
static size_t format_double(char *dst, double d)
{
    const char *fixed = NULL;
    int n = 0;

    if (isnan(d))
        fixed = "nan";
    else if (isinf(d))
        fixed = d > 0 ? "inf" : "-inf";
    else if (d == 0)
        fixed = signbit(d) ? "-0" : "0";
    if (fixed) {
        strcpy(dst, fixed);
        return strlen(fixed);
    }
    if (d > -(double)(LLONG_MAX / 2) && d < (double)(LLONG_MAX / 2) &&
        d == (double)(long long)d)
        return (size_t)snprintf(dst, DOUBLE_MAX, "%lld", (long long)d);
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(dst, DOUBLE_MAX, "%.*g", precision, d);
        if (strtod(dst, NULL) == d)
            break;
    }
    return (size_t)n;
}

int resp_out_double(resp_out *o, double d)
{
    char text[DOUBLE_MAX];
    size_t n = format_double(text, d);
    char *w;

    if (o->proto == 2)
        return resp_out_bulk(o, text, n);
    if (reserve(o, n + 3))
        return o->error;
    w = o->buf + o->len;
    *w++ = ',';
    memcpy(w, text, n);
    w += n;
    *w++ = '\r';
    *w++ = '\n';
    o->len = (size_t)(w - o->buf);
    return 0;
}

int resp_out_bool(resp_out *o, bool b)
{
    if (o->proto == 3)
        return append(o, b ? "#t\r\n" : "#f\r\n", 4);
    return append(o, b ? ":1\r\n" : ":0\r\n", 4);
}

int resp_out_verbatim(resp_out *o, const char *format, const void *text, size_t len)
{
    char *w;

    if (o->proto == 2)
        return resp_out_bulk(o, text, len);
    if (len > SIZE_MAX / 4)
        return out_of_memory(o);
    if (reserve(o, HEADER_MAX + 4 + len + 2))
        return o->error;
    w = o->buf + o->len;
    w += format_header(w, '=', (uint64_t)len + 4);
    /* Three characters of format, padded with spaces as Redis pads. */
    for (int i = 0, done = 0; i < 3; i++) {
        done = done || format[i] == '\0';
        *w++ = done ? ' ' : format[i];
    }
    *w++ = ':';
    if (len)
        memcpy(w, text, len);
    w += len;
    *w++ = '\r';
    *w++ = '\n';
    o->len = (size_t)(w - o->buf);
    return 0;
}

int resp_out_raw(resp_out *o, const void *bytes, size_t len)
{
    return append(o, bytes, len);
}

resp_mark resp_out_mark(const resp_out *o)
{
    return o->len;
}

int resp_out_end(resp_out *o, resp_mark mark, resp_aggregate kind, size_t n)
{
    char head[HEADER_MAX];
    size_t h;

    if (o->error)
        return o->error;
    assert(mark >= o->head && mark <= o->len);
    switch (kind) {
    case RESP_MAP:
        h = o->proto == 3 ? format_header(head, '%', n) : format_header(head, '*', (uint64_t)n * 2);
        break;
    case RESP_SET:
        h = format_header(head, o->proto == 3 ? '~' : '*', n);
        break;
    default:
        h = format_header(head, '*', n);
        break;
    }
    if (reserve(o, h))
        return o->error;
    memmove(o->buf + mark + h, o->buf + mark, o->len - mark);
    memcpy(o->buf + mark, head, h);
    o->len += h;
    /* References appended after the mark move with their bytes; one just
     * before it has at == mark at most and stays. */
    for (size_t k = o->ref_first; k < o->n_refs; k++)
        if (o->refs[k].at > mark)
            o->refs[k].at += h;
    return 0;
}

size_t resp_out_pending(const resp_out *o)
{
    return o->len - o->head + o->ref_bytes;
}

int resp_out_iov(const resp_out *o, struct iovec *iov, int max_iov)
{
    size_t pos = o->head, k = o->ref_first, sent = o->ref_sent;
    int count = 0;

    while (count < max_iov) {
        size_t next = k < o->n_refs ? o->refs[k].at : o->len;

        if (pos < next) {
            iov[count].iov_base = o->buf + pos;
            iov[count].iov_len = next - pos;
            count++;
            pos = next;
        } else if (k < o->n_refs) {
            iov[count].iov_base = (void *)(uintptr_t)(o->refs[k].bytes + sent);
            iov[count].iov_len = o->refs[k].len - sent;
            count++;
            sent = 0;
            k++;
        } else {
            break;
        }
    }
    return count;
}

void resp_out_consume(resp_out *o, size_t n)
{
    assert(n <= resp_out_pending(o));
    if (n > resp_out_pending(o)) /* a caller's bug: never walk past the end */
        n = resp_out_pending(o);
    while (n > 0) {
        size_t next = o->ref_first < o->n_refs ? o->refs[o->ref_first].at : o->len;

        if (o->head < next) {
            size_t step = n < next - o->head ? n : next - o->head;
            o->head += step;
            n -= step;
        } else {
            resp_out_ref *ref = &o->refs[o->ref_first];
            size_t step = n < ref->len - o->ref_sent ? n : ref->len - o->ref_sent;

            o->ref_sent += step;
            o->ref_bytes -= step;
            n -= step;
            if (o->ref_sent == ref->len) {
                o->ref_first++;
                o->ref_sent = 0;
                if (ref->release)
                    ref->release(ref->ctx);
            }
        }
    }
    if (o->head == o->len && o->ref_first == o->n_refs) {
        o->head = o->len = 0;
        o->ref_first = o->n_refs = 0;
    } else if (o->head > OUT_MIN_CAP && o->head >= o->cap / 2) {
        memmove(o->buf, o->buf + o->head, o->len - o->head);
        for (size_t k = o->ref_first; k < o->n_refs; k++)
            o->refs[k].at -= o->head;
        o->len -= o->head;
        o->head = 0;
    }
}

void resp_out_shrink(resp_out *o)
{
    if (resp_out_pending(o))
        return;
    free(o->buf);
    free(o->refs);
    o->buf = NULL;
    o->refs = NULL;
    o->head = o->len = o->cap = 0;
    o->ref_first = o->n_refs = o->ref_cap = 0;
}
