/*
 * jsonl.h - a small strict JSON scanner for jsonl import.
 *
 * It checks that a line is exactly one JSON object (RFC 8259: objects,
 * arrays, strings with every escape including \uXXXX and surrogate pairs,
 * numbers, true, false, null, whitespace around tokens; strings must be
 * valid UTF-8) and pulls out one top-level field to serve as the key, or
 * only checks the line (for jsonl export).
 * It builds no tree: one pass, recursion bounded by CAIRN__JSON_MAX_DEPTH.
 */
#ifndef CAIRN_JSONL_H
#define CAIRN_JSONL_H

#include <stddef.h>

#include "cairn.h"

/* Deepest nesting of objects and arrays accepted (the line's own object is
 * level 1). */
#define CAIRN__JSON_MAX_DEPTH 256

typedef enum cairn__jsonl_problem {
    CAIRN__JSONL_SYNTAX = 1,    /* not one JSON object: col and what say where and why */
    CAIRN__JSONL_MISSING = 2,   /* no top-level field of that name */
    CAIRN__JSONL_BADTYPE = 3,   /* the field is not a string or number: what names it */
    CAIRN__JSONL_DUPLICATE = 4  /* the field appears twice: col is the second name's */
} cairn__jsonl_problem;

typedef struct cairn__jsonl_error {
    cairn__jsonl_problem problem;
    size_t col;        /* 1-based byte column, 0 if the problem has none */
    const char *what;  /* static text: "expected ':'", "an object", ... */
} cairn__jsonl_error;

/* Scans line[0..len) (no newline) and finds its top-level field named
 * field (compared after unescaping the member names).
 * On success returns 0 and sets *key to a malloc'd copy of the key bytes
 * (NUL-terminated for convenience; the caller frees it) and *key_len: for a
 * string the unescaped UTF-8 bytes, for a number its text as written.
 * Returns CAIRN_BADINPUT with *err filled if the line is not one JSON object
 * or the field is missing, duplicated or of the wrong type; CAIRN_NOMEM.
 * Out-parameters are written only on success, except *err. Sets no thread
 * detail. */
int cairn__jsonl_field(const char *line, size_t len, const char *field, char **key,
                       size_t *key_len, cairn__jsonl_error *err);

/* Checks that line[0..len) (no newline) is exactly one JSON object, with
 * only whitespace around it: what jsonl import accepts as a line, and what
 * jsonl export therefore requires of a value. Returns 0, or CAIRN_BADINPUT
 * with *err filled (problem CAIRN__JSONL_SYNTAX). Sets no thread detail. */
int cairn__jsonl_object(const char *line, size_t len, cairn__jsonl_error *err);

/* Words err for a message: "invalid JSON at column 12: expected ':'",
 * "field \"id\" missing", "field \"id\" is an object, want a string or
 * number", "field \"id\" appears more than once (column 30)". Writes a
 * NUL-terminated string of at most size bytes to buf and returns buf. */
const char *cairn__jsonl_describe(const cairn__jsonl_error *err, const char *field, char *buf,
                                  size_t size);

#endif /* CAIRN_JSONL_H */
