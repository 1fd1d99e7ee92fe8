/*
 * tierutil.h - blobs for the tier tests: deterministic contents from a
 * seed, with their ids, and the checks every tier test makes with them.
 */
#ifndef CAIRN_TIERUTIL_H
#define CAIRN_TIERUTIL_H

#include <lmdb.h>
#include <stdbool.h>

#include "tier.h"

typedef struct test_blob {
    cairn_id id;
    unsigned char *data; /* malloc'd; free it */
    size_t len;
} test_blob;

/* A blob of len bytes derived from seed (distinct seeds, len >= 8: distinct
 * blobs), with its id. */
test_blob make_blob(uint64_t seed, size_t len);
/* The blob as the tier interface takes it (borrowing b's bytes). */
cairn_blob as_blob(const test_blob *b);
/* Puts one blob into t. */
int put_one(cairn_tier *t, const test_blob *b);
/* Whether t holds b; if it does, the bytes must be exactly b's (a test
 * failure otherwise). */
bool holds(cairn_tier *t, const test_blob *b);

/* Reads blobs[pick[0..k)] from t in one batch and checks each against the
 * model: present with its exact bytes when held[pick[j]], absent otherwise
 * (a test failure naming op and the blob otherwise). */
void expect_get(cairn_tier *t, const test_blob *blobs, const size_t *pick, size_t k,
                const bool *held, int op);

/* Behind cairn's back: opens the closed LMDB store at dir (its own env:
 * LMDB allows one per path per process) and begins a transaction, writing
 * or read-only; raw_lmdb_end commits (or aborts) it and closes the env. */
MDB_txn *raw_lmdb_begin(const char *dir, bool write);
void raw_lmdb_end(MDB_txn *txn, bool commit);

/* Behind cairn's back, in the LMDB database dbname ("refs", or "blobs" of
 * layout=blobs) of
 * the closed LMDB store at dir: reads one record into a malloc'd copy (out
 * set), writes one (data set) or deletes one (neither). The environment is
 * opened and closed around it, since LMDB allows one environment per path
 * per process. */
void raw_lmdb(const char *dir, const char *dbname, const void *key, size_t key_len,
              const void *data, size_t len, void **out, size_t *out_len);
/* The same for one blob, in either layout of the lmdb tier: reads its
 * bytes (out set), overwrites them (data set; a blob not held, or with
 * another length, gets a pack of its own in a packed store) or forgets it
 * (neither). */
void raw_lmdb_blob(const char *dir, const cairn_id *id, const void *data, size_t len,
                   void **out, size_t *out_len);
/* Flips one byte in the middle of the blob id of the LMDB store at dir. */
void raw_lmdb_damage(const char *dir, const cairn_id *id);

/* Pins (tier.h): lists t's pins and returns how many; when name is
 * listed, copies its record into bytes (CAIRN_PIN_RECORD_MAX bytes) and
 * sets *len and *unread (passed without bytes); when it is not, *len is
 * SIZE_MAX. Any out may be NULL. */
size_t list_pins(cairn_tier *t, const char *name, void *bytes, size_t *len, bool *unread);
/* The checks every tier with pins passes (t must hold none): put, replace,
 * list, delete, hostile names and sizes refused, a version 1 table refused
 * clearly. Leaves no pin. */
void check_tier_pins(cairn_tier *t, const char *what);

/* A client of the S3 fixture's service for bucket (the settings of the
 * environment, TLS checked, no retries), to reach objects behind the
 * tier's back. Fails the test if it cannot be made. */
struct cairn_s3_client *test_s3_client(const char *bucket);

/* The Redis fixture's URL ($CAIRN_REDIS_URL, "redis://127.0.0.1:PORT")
 * when the test runs under scripts/redis-server.sh run; else says the test
 * is skipped and exits 77. */
const char *test_redis_url(void);
/* One command to the fixture's server behind the tier's back, in
 * hiredis's redisCommand format ("SET %s %b", key, bytes, len), on a
 * connection of its own (database 0; "SELECT" is yours to send). Returns
 * the reply (free it with freeReplyObject); fails the test if the command
 * cannot be sent. */
struct redisReply *raw_redis(const char *fmt, ...);
/* The same, returning the reply's integer (an integer reply, else -1). */
long long raw_redis_int(const char *fmt, ...);
/* Runs the fixture script on the fixture's server: "kill" (SIGKILL),
 * "restart" (the same port and folder). Fails the test if it fails. */
void test_redis_fixture(const char *verb);

#endif /* CAIRN_TIERUTIL_H */
