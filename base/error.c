/*
 * error.c - cairn's error codes (names and messages) and the per-thread
 * detail message that says what failed and where.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- details */

/* The calling thread's last detailed message. Thread-local so that readers
 * in many threads never see each other's failures. */
static _Thread_local char detail[1024];

int cairn__fail(int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return rc;
}

/* Appends s to buf (capacity cap) at *pos, cutting it short if it does not
 * fit: a detail is a message, and its start matters most. */
static void append(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t len = strlen(s);

    if (len > cap - 1 - *pos)
        len = cap - 1 - *pos;
    memcpy(buf + *pos, s, len);
    *pos += len;
    buf[*pos] = '\0';
}

int cairn__fail_context(int rc, const char *fmt, ...)
{
    char context[sizeof(detail)];
    char inner[sizeof(detail)];
    size_t pos = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    if (detail[0])
        memcpy(inner, detail, sizeof(inner));
    else
        snprintf(inner, sizeof(inner), "%s", cairn_strerror(rc));
    append(detail, sizeof(detail), &pos, context);
    append(detail, sizeof(detail), &pos, ": ");
    append(detail, sizeof(detail), &pos, inner);
    return rc;
}

void cairn__detail_clear(void)
{
    detail[0] = '\0';
}

const char *cairn_errdetail(void)
{
    return detail;
}

/* ---------------------------------------------------------------- codes */

/* Names of the errno values a storage engine meets in practice. Anything
 * else is named by the C library if it can, or as "E<number>". */
#define CAIRN__ERRNO_NAMES(XX)                                                   \
    XX(EPERM) XX(ENOENT) XX(EIO) XX(EBADF) XX(EAGAIN) XX(ENOMEM) XX(EACCES)       \
    XX(EBUSY) XX(EEXIST) XX(EXDEV) XX(ENOTDIR) XX(EISDIR) XX(EINVAL) XX(EMFILE)   \
    XX(ENFILE) XX(EFBIG) XX(ENOSPC) XX(EROFS) XX(EPIPE) XX(ERANGE) XX(ENAMETOOLONG) \
    XX(ENOSYS) XX(ENOTEMPTY) XX(ELOOP) XX(ENOTSUP) XX(ETIMEDOUT) XX(ECONNREFUSED) \
    XX(ECONNRESET) XX(EINTR) XX(EDQUOT) XX(ESTALE) XX(EOVERFLOW)

const char *cairn_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
#define CAIRN__ERR_MSG(name, value, msg)                                         \
    case CAIRN_##name:                                                           \
        return msg;
        CAIRN_ERRNO_MAP(CAIRN__ERR_MSG)
#undef CAIRN__ERR_MSG
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        /* strerrordesc_np returns static text and is thread-safe. */
        const char *msg = strerrordesc_np(-rc);
        if (msg)
            return msg;
#else
        return strerror(-rc);
#endif
    }
    return "unknown error";
}

const char *cairn_errname(int rc)
{
    /* A few buffers in turn, so one printf may name two unusual codes. */
    static _Thread_local char other[4][24];
    static _Thread_local unsigned next;
    char *buf;

    switch (rc) {
    case 0:
        return "OK";
#define CAIRN__ERR_NAME(name, value, msg)                                        \
    case CAIRN_##name:                                                           \
        return "CAIRN_" #name;
        CAIRN_ERRNO_MAP(CAIRN__ERR_NAME)
#undef CAIRN__ERR_NAME
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        switch (-rc) {
#define CAIRN__ERRNO_CASE(name)                                                  \
    case name:                                                                   \
        return #name;
            /* EWOULDBLOCK == EAGAIN and EOPNOTSUPP == ENOTSUP on Linux. */
            CAIRN__ERRNO_NAMES(CAIRN__ERRNO_CASE)
#undef CAIRN__ERRNO_CASE
        default:
            break;
        }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        {
            const char *name = strerrorname_np(-rc);
            if (name)
                return name;
        }
#endif
        buf = other[next++ % 4];
        snprintf(buf, sizeof(other[0]), "E%d", -rc);
        return buf;
    }
    buf = other[next++ % 4];
    snprintf(buf, sizeof(other[0]), "UNKNOWN(%d)", rc);
    return buf;
}

/* ---------------------------------------------------------------- quoting */

const char *cairn__quote(const void *data, size_t len, size_t max, char *buf)
{
    const unsigned char *bytes = data;
    size_t i, n = 0, shown = len < max ? len : max;

    for (i = 0; i < shown; i++) {
        unsigned char c = bytes[i];
        if (c == '\\')
            n += (size_t)sprintf(buf + n, "\\\\");
        else if (c >= 0x20 && c < 0x7f)
            buf[n++] = (char)c;
        else
            n += (size_t)sprintf(buf + n, "\\x%02x", c);
    }
    buf[n] = '\0';
    if (shown < len)
        sprintf(buf + n, "... (%zu bytes)", len);
    return buf;
}
