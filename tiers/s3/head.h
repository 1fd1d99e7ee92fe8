/*
 * head.h - PREFIX/head, the one mutable object of an S3 store (DESIGN.md
 * 5.1): every ref, the live packs, the packs waiting out their grace
 * period, the writer's epoch, a sequence number and the nonce of the write
 * that produced it. Replaced only by a conditional PUT (s3.c).
 *
 * Text, one record per line, so that a reader in any language (and a
 * person with curl) can read it; docs/format.md gives the full grammar:
 *
 *     cairn-s3-head 1
 *     epoch 3
 *     seq 17
 *     nonce 9f86d081884c7d659a2feaa0c55ad015
 *     time 1796601600
 *     writer host-a:4242
 *     ref heads%2Fmain 5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592
 *     pack 0000000000000003-0000000000000001-1f2e3d4c 1200 4915200 8a1f...(64 hex)
 *     retired 0000000000000001-0000000000000007-aabbccdd 1796605200
 *     end 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
 *
 * The end line holds the SHA-256 (hex) of every byte before it, so a torn
 * or damaged head is CAIRN_CORRUPT, never half-read. Ref names are
 * percent-encoded (bytes outside '!'..'~', and '%', as %XX).
 */
#ifndef CAIRN_S3_HEAD_H
#define CAIRN_S3_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

#define CAIRN_S3_LAYOUT 1
#define CAIRN_S3_PACK_NAME_MAX 48 /* "%016x-%016x-%08x" is 42 */
#define CAIRN_S3_HEAD_MAX (64u << 20)

typedef struct cairn_s3_ref {
    char *name; /* decoded; cairn__malloc */
    cairn_id id;
} cairn_s3_ref;

typedef struct cairn_s3_pack_ref {
    char name[CAIRN_S3_PACK_NAME_MAX + 1]; /* object PREFIX/packs/NAME.pack */
    uint64_t count;                        /* blobs in its index */
    uint64_t bytes;                        /* the object's size */
    cairn_id index_id;                     /* SHA-256 of its index and footer (the
                                              last 48 * count + 40 bytes): checks
                                              them, and names them as a blob in a
                                              reader's cache */
} cairn_s3_pack_ref;

typedef struct cairn_s3_retired {
    char name[CAIRN_S3_PACK_NAME_MAX + 1];
    uint64_t delete_after; /* unix seconds: the writer deletes it after */
} cairn_s3_retired;

typedef struct cairn_s3_head {
    uint64_t epoch, seq, time;
    char nonce[33];
    char writer[128];
    cairn_s3_ref *refs; /* sorted by name (strcmp) */
    size_t n_refs;
    cairn_s3_pack_ref *packs; /* oldest first */
    size_t n_packs;
    cairn_s3_retired *retired;
    size_t n_retired;
} cairn_s3_head;

/* Encodes h (refs must be sorted). OUT: *out (cairn__malloc), *len.
 * Errors: CAIRN_NOMEM. */
int cairn__s3_head_encode(const cairn_s3_head *h, char **out, size_t *len);

/* Decodes and checks a head; where names the object for messages. Treats
 * data as hostile. OUT: *out (clear it with cairn__s3_head_clear).
 * Errors: CAIRN_CORRUPT (the detail names where and the line), CAIRN_VERSION,
 * CAIRN_NOMEM. */
int cairn__s3_head_decode(const char *where, const void *data, size_t len, cairn_s3_head *out);

/* A deep copy. OUT: *dst. Errors: CAIRN_NOMEM. */
int cairn__s3_head_copy(const cairn_s3_head *src, cairn_s3_head *dst);

/* Frees what h holds and zeroes it. */
void cairn__s3_head_clear(cairn_s3_head *h);

/* The ref named name, or NULL. */
const cairn_s3_ref *cairn__s3_head_ref(const cairn_s3_head *h, const char *name);

/* Sets ref name to *id, or deletes it (id NULL). Errors: CAIRN_NOMEM. */
int cairn__s3_head_ref_set(cairn_s3_head *h, const char *name, const cairn_id *id);

/* Whether s is a well-formed pack name: 1..48 of [0-9a-z-]. */
bool cairn__s3_pack_name_ok(const char *s);

/* Appends a live pack. Errors: CAIRN_NOMEM. */
int cairn__s3_head_pack_add(cairn_s3_head *h, const cairn_s3_pack_ref *p);

#endif /* CAIRN_S3_HEAD_H */
