/*
 * jsonl.h - a small strict JSON scanner for jsonl import.
 *
 * It checks that a line is exactly one JSON object (RFC 8259: objects,
 * arrays, strings with every escape including \uXXXX and surrogate pairs,
 * numbers, true, false, null, whitespace around tokens; strings must be
 * valid UTF-8) and pulls out one top-level field to serve as the key, or a
 * whole typed record (a string or a hash of Redis's data model), or only
 * checks the line (for jsonl export). It also writes JSON strings (for
 * typed jsonl export).
 * It builds no tree: one pass, recursion bounded by CAIRN__JSON_MAX_DEPTH.
 */
#ifndef CAIRN_JSONL_H
#define CAIRN_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cairn.h"
#include "error.h"

/* Deepest nesting of objects and arrays accepted (the line's own object is
 * level 1). */
#define CAIRN__JSON_MAX_DEPTH 256

typedef enum cairn__jsonl_problem {
    CAIRN__JSONL_SYNTAX = 1,    /* not one JSON object: col and what say where and why */
    CAIRN__JSONL_MISSING = 2,   /* no top-level field of that name */
    CAIRN__JSONL_BADTYPE = 3,   /* the field is not a string or number: what names it */
    CAIRN__JSONL_DUPLICATE = 4, /* the field appears twice: col is the second name's
                                   (name: "type" or "value" in a typed record) */
    /* Typed records only: */
    CAIRN__JSONL_TYPE_BAD = 5,        /* "type" is not a string: what says what it is */
    CAIRN__JSONL_TYPE_UNKNOWN = 6,    /* "type" is not "string" or "hash": name, as written */
    CAIRN__JSONL_VALUE_MISSING = 7,   /* no "value" */
    CAIRN__JSONL_VALUE_BAD = 8,       /* "value" is what, wrong for the type (name) */
    CAIRN__JSONL_HASH_FIELD_BAD = 9,  /* a hash field (name) whose value is what */
    CAIRN__JSONL_HASH_DUPLICATE = 10, /* a hash field (name) twice: col is the second's */
    CAIRN__JSONL_HASH_EMPTY = 11      /* a hash with no fields */
} cairn__jsonl_problem;

typedef struct cairn__jsonl_error {
    cairn__jsonl_problem problem;
    size_t col;        /* 1-based byte column, 0 if the problem has none */
    const char *what;  /* static text: "expected ':'", "an object", ... */
    char name[CAIRN__QUOTE_SIZE(48)]; /* typed records: the member, field or type
                                         concerned, quoted (cairn__quote), or "" */
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

/* What a jsonl line holds (cairn__jsonl_record_parse). */
typedef enum cairn__jsonl_type {
    CAIRN__JSONL_UNTYPED = 0, /* no top-level "type": the line is the value */
    CAIRN__JSONL_STRING = 1,  /* "type": "string", "value": a string */
    CAIRN__JSONL_HASH = 2     /* "type": "hash", "value": an object of strings */
} cairn__jsonl_type;

/* A field of a hash record, decoded, and the column of its name. */
typedef struct cairn__jsonl_pair {
    cairn_val field, value;
    size_t col;
} cairn__jsonl_pair;

/* A parsed line. Zero it before the first parse; the buffers are reused
 * from line to line; free them with cairn__jsonl_record_free. */
typedef struct cairn__jsonl_record {
    cairn__jsonl_type type;
    cairn_val key;              /* decoded: a string unescaped, a number as written */
    cairn_val value;            /* untyped: the line itself; string: decoded */
    cairn__jsonl_pair *pairs;   /* hash: its fields, sorted by field, each once */
    size_t n_pairs;
    /* storage */
    unsigned char *buf;
    size_t buf_cap, pairs_cap;
} cairn__jsonl_record;

/* Scans line[0..len) (no newline) as cairn__jsonl_field does and, if typed
 * (and key_field is neither "type" nor "value"), reads a line with a
 * top-level "type" member as a typed record: "type" must be "string" or
 * "hash" and "value" a string, or an object whose members are all strings,
 * at least one, each name once. Other members are ignored. In typed
 * records (only), the escapes \udc80-\udcff stand for the bytes 0x80-0xff
 * (jsonl.c). Decoded bytes point into rec's buffer (or, for an untyped
 * value, into line) and stay valid until the next parse or the free.
 * Returns 0, CAIRN_BADINPUT with *err filled, or CAIRN_NOMEM. Sets no
 * thread detail. */
int cairn__jsonl_record_parse(const char *line, size_t len, const char *key_field, bool typed,
                              cairn__jsonl_record *rec, cairn__jsonl_error *err);
void cairn__jsonl_record_free(cairn__jsonl_record *rec);

/* Writes data[0..len) to out as a JSON string: quotes around it; '"', '\\',
 * newline, carriage return and tab escaped as \", \\, \n, \r, \t, other
 * control characters as \u00XX; well-formed UTF-8 as it is; and every other
 * byte (0x80-0xff outside a UTF-8 sequence) as the byte escape \udcXX, so
 * that a typed import reads back exactly data. Returns 0 or a stream error
 * (-errno, else CAIRN_IO). */
int cairn__jsonl_write_string(FILE *out, const void *data, size_t len);

/* Words err for a message: "invalid JSON at column 12: expected ':'",
 * "field \"id\" missing", "field \"id\" is an object, want a string or
 * number", "field \"id\" appears more than once (column 30)". Writes a
 * NUL-terminated string of at most size bytes to buf and returns buf. */
const char *cairn__jsonl_describe(const cairn__jsonl_error *err, const char *field, char *buf,
                                  size_t size);

#endif /* CAIRN_JSONL_H */
