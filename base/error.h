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

/* Clears the thread's detail; public entry points call it first. */
void cairn__detail_clear(void);

#endif /* CAIRN_ERROR_H */
