/*
 * tsv.h - the tsv field escaping shared by import, export and the public
 * cairn_tsv_escape / cairn_tsv_unescape.
 *
 * A tsv line is KEY<TAB>VALUE. Inside a field these bytes are escaped:
 *
 *     byte            written as
 *     0x09 tab        \t
 *     0x0a newline    \n
 *     0x0d return     \r
 *     0x5c backslash  \\
 *     other < 0x20    \xHH   (lowercase hex on output, either case on input)
 *
 * Every other byte (including 0x7f and 0x80-0xff) stands for itself. On
 * input a raw tab, newline or carriage return inside a field is an error:
 * they are structure, never data.
 *
 * Raw tsv (CAIRN_TSV_RAW) has no escapes: a line is the key's bytes, a tab,
 * the value's bytes. It can hold only the records cairn__tsv_raw_problem
 * accepts.
 */
#ifndef CAIRN_TSV_H
#define CAIRN_TSV_H

#include <stdio.h>

#include "cairn.h"

/* What is wrong with a field that failed to unescape. */
typedef struct cairn__tsv_error {
    size_t offset;   /* 0-based byte offset of the offending byte in the field */
    char what[48];   /* e.g. "bad escape '\q'", "unescaped tab" */
} cairn__tsv_error;

/* Unescapes field[0..*len) in place. On success updates *len (the result is
 * never longer) and returns 0. On a bad escape or a raw tab, newline or
 * carriage return returns CAIRN_BADINPUT, fills *err and leaves field and
 * *len untouched. Sets no thread detail: callers word the message. */
int cairn__tsv_unescape(char *field, size_t *len, cairn__tsv_error *err);

/* Writes data escaped to f. Returns 0, or -errno (CAIRN_IO if errno says
 * nothing) when the stream fails. */
int cairn__tsv_write(FILE *f, const void *data, size_t len);

/* Why the record cannot be a raw tsv line that reads back the same, as a
 * static phrase ("the key holds a tab", "the value holds a newline", "the
 * key holds a carriage return", "the value ends in a carriage return"), or
 * NULL if it can. */
const char *cairn__tsv_raw_problem(const void *key, size_t key_len, const void *val,
                                   size_t val_len);

#endif /* CAIRN_TSV_H */
