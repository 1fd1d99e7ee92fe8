/*
 * pack.h - the pack format: many blobs in one immutable file (or S3
 * object), with an index sorted by id and a fixed-size footer at the end,
 * so that a reader gets the footer and the whole index in one suffix read
 * and then reads single blobs by offset (DESIGN.md 5.1; the file tier
 * writes a commit's blobs as one pack, the S3 tier will do the same).
 *
 *     offset 0                 index_offset          size - 40      size
 *     +------------------------+---------------------+--------------+
 *     | records: blob bytes,   | index: count        | footer       |
 *     | back to back, no gaps  | entries of 48 bytes | (40 bytes)   |
 *     +------------------------+---------------------+--------------+
 *
 * Index entry (48 bytes), entries in strictly ascending id order
 * (memcmp), so no id appears twice:
 *
 *     0   32  id            the blob's SHA-256
 *     32   8  offset        u64 big-endian: where its record starts
 *     40   8  length        u64 big-endian: the record's length in bytes
 *
 * Footer (40 bytes, the last bytes of the pack):
 *
 *     0    8  magic         "CAIRNPAK"
 *     8    4  version       u32 big-endian, 1
 *     12   4  reserved      0
 *     16   8  count         u64 big-endian: index entries
 *     24   8  index_offset  u64 big-endian: where the index starts
 *     32   8  checksum      u64 big-endian: XXH64 of footer bytes 0..31
 *                           with seed XXH64(index bytes, seed 0)
 *
 * A valid pack satisfies: size >= 40; index_offset + 48 * count + 40 ==
 * size; the records [offset, offset + length) lie within [0,
 * index_offset), do not overlap and together cover it exactly (a writer
 * puts them back to back; this one in id order); the checksum matches.
 *
 * Why XXH64 and not SHA-256: records need no checksum (a record is
 * checked against its id, a SHA-256, whenever it is read), so the index
 * and footer are the only bytes to protect, against accidental damage
 * (torn writes, flipped bits), not forgery: a forged index can only send
 * a reader to bytes that then fail the SHA-256 check. XXH64 does that at
 * memory speed and is already a dependency (the chunker, lmdb refs).
 *
 * Every parse treats its input as hostile: errors are CAIRN_CORRUPT with a
 * detail naming the pack and what is wrong; work and memory are bounded by
 * the input's size.
 */
#ifndef CAIRN_PACK_H
#define CAIRN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"
#include "tier.h"

#define CAIRN_PACK_MAGIC "CAIRNPAK"
#define CAIRN_PACK_VERSION 1
#define CAIRN_PACK_FOOTER 40 /* bytes */
#define CAIRN_PACK_ENTRY 48  /* bytes per index entry */

/* A footer, decoded and checked against the pack's size. */
typedef struct cairn_pack_footer {
    uint32_t version;
    uint64_t count;        /* index entries */
    uint64_t index_offset; /* where the index starts (= the records' size) */
    uint64_t checksum;
} cairn_pack_footer;

/* One blob of a parsed index. */
typedef struct cairn_pack_entry {
    cairn_id id;
    uint64_t offset;
    uint64_t length;
} cairn_pack_entry;

/* A parsed, validated index: entries sorted by id. */
typedef struct cairn_pack_index {
    uint64_t count;
    uint64_t size; /* the pack's size in bytes */
    cairn_pack_entry *entries;
} cairn_pack_index;

/* Bytes of a pack holding these blobs, or 0 when it would not fit a
 * size_t. Duplicate ids count once. Only lengths and ids are read. */
uint64_t cairn__pack_size(const cairn_blob *blobs, size_t n);

/* Builds a pack of the n blobs (ids are taken as given, not hashed;
 * duplicates are written once) into a buffer allocated with cairn__malloc.
 * OUT: *out (the caller frees it with cairn__free), *len. Errors:
 * CAIRN_NOMEM (also when it would not fit a size_t). */
int cairn__pack_build(const cairn_blob *blobs, size_t n, uint8_t **out, size_t *len);

/* Builds the same pack into out, which holds exactly len =
 * cairn__pack_size(blobs, n) bytes (else CAIRN_BADARG). Records are laid
 * back to back in the order given. Errors: CAIRN_NOMEM, CAIRN_BADARG. */
int cairn__pack_build_into(const cairn_blob *blobs, size_t n, uint8_t *out, size_t len);

/* Builds the same pack and writes it to fd from offset 0 (pwrite, resumed
 * after short writes); does not sync. Errors as above and -errno. */
int cairn__pack_write_fd(int fd, const cairn_blob *blobs, size_t n);

/* The end of a pack written as a stream (a writer that appended records
 * itself, remembering where each went): sorts entries by id, checks that
 * no id repeats and that the records tile [0, records_len), and passes the
 * index and the footer to write_fn in pieces of at most 12 KiB, so that
 * nothing but the entries is held. Errors: CAIRN_BADARG (a repeated id,
 * records that do not add up), or what write_fn returns. */
int cairn__pack_write_tail(cairn_pack_entry *entries, size_t n, uint64_t records_len,
                           int (*write_fn)(void *ctx, const void *bytes, size_t len), void *ctx);

/* Decodes the last CAIRN_PACK_FOOTER bytes of a pack of size bytes and
 * checks what can be checked without the index: magic, version, count and
 * index_offset consistent with size. name is for messages. OUT: *out.
 * Errors: CAIRN_CORRUPT (truncated, wrong magic, counts out of range),
 * CAIRN_VERSION (a version this build does not read). */
int cairn__pack_footer_parse(const char *name, const uint8_t *footer, uint64_t size,
                             cairn_pack_footer *out);

/* How many bytes at the end of a pack hold its index and footer, given a
 * footer that parsed (footer_parse): read that suffix and pass it to
 * index_parse. */
uint64_t cairn__pack_suffix_len(const cairn_pack_footer *f);

/* Parses and validates a pack from a suffix of it: suffix holds the last
 * suffix_len bytes of a pack of size bytes (at least the footer and the
 * index; more is ignored). Checks everything listed above. OUT: *out
 * (free with cairn__pack_index_free). Errors: CAIRN_CORRUPT naming the
 * pack and the problem, CAIRN_VERSION, CAIRN_NOMEM. */
int cairn__pack_index_parse(const char *name, const uint8_t *suffix, size_t suffix_len,
                            uint64_t size, cairn_pack_index **out);

/* Finds id in ix (binary search): returns the entry, or NULL. */
const cairn_pack_entry *cairn__pack_lookup(const cairn_pack_index *ix, const cairn_id *id);

/* Sorts entries by offset: the order their records were written in, which
 * a rewrite keeps (neighbours in a tree stay neighbours in the pack, so a
 * scan's reads merge into few ranged reads). */
void cairn__pack_entries_by_offset(cairn_pack_entry *entries, size_t n);

/* Frees an index. Accepts NULL. */
void cairn__pack_index_free(cairn_pack_index *ix);

#endif /* CAIRN_PACK_H */
