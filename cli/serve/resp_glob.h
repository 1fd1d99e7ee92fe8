/*
 * resp_glob.h - Redis's glob patterns (KEYS, SCAN MATCH, HSCAN MATCH), on
 * libc alone, in the protocol library (cairn_resp) so that a test can
 * check them without the server.
 *
 * The syntax is Redis's stringmatchlen: `*` any run of bytes, `?` one
 * byte, `[abc]` `[^abc]` `[a-z]` a class (a range may be written either
 * way round; an unclosed class runs to the end of the pattern), `\x` the
 * byte x; everything else matches itself, case-sensitively.
 *
 * Unlike a naive backtracking matcher (and Redis before 7.0.9,
 * CVE-2022-36021), it takes O(pattern x subject) time whatever the
 * pattern: after a mismatch only the last `*` is retried, one byte
 * further on, which is enough because every other token matches exactly
 * one byte. A client's pattern cannot stall a worker.
 */
#ifndef CAIRN_RESP_GLOB_H
#define CAIRN_RESP_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the pl bytes of pattern p match the sl bytes of s. */
bool resp_glob_match(const char *p, size_t pl, const char *s, size_t sl);

#endif /* CAIRN_RESP_GLOB_H */
