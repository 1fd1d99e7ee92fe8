/*
 * error.h - the ground floor's error helpers: every layer reports failures
 * as a negative code (cairn.h's CAIRN_ERRNO_MAP, or -errno) plus a detailed
 * message for the calling thread, read back with cairn_errdetail().
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#include "cairn.h"

/* Records a detailed message for the calling thread (read back with
 * cairn_errdetail()) and returns rc, so that callers can write
 *     return cairn__fail(CAIRN_BADSPEC, "mem: bad capacity '%s'", arg);   */
int cairn__fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the thread's current detail with "context: " (or sets it to the
 * context and strerror(rc) if there is none) and returns rc. */
int cairn__fail_context(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Room for cairn__quote's text of at most max bytes: each may take four
 * ("\xHH"), then "... (N bytes)" and the NUL. */
#define CAIRN__QUOTE_SIZE(max) (4 * (max) + 40)

/* Writes up to max bytes of data into buf (CAIRN__QUOTE_SIZE(max) bytes)
 * as printable ASCII, for naming keys and values in details: bytes
 * 0x20-0x7e as they are (the backslash as "\\"), every other byte as \xHH;
 * a cut adds "..." and the full length. Returns buf. */
const char *cairn__quote(const void *data, size_t len, size_t max, char *buf);

/* Clears the thread's detail; public entry points call it first. */
void cairn__detail_clear(void);

#endif /* CAIRN_ERROR_H */
