/*
 * hashes.c - strings and hashes, the Redis data model over keyspaces
 * (cairn.h, "hashes"; docs/format.md, "Redis types").
 *
 * Layout, for a hash h of keyspace S:
 *
 *     keyspace ".hash." S    key  varint(len(h)) | h | field    value  the field's value
 *     keyspace ".hlen." S    key  h                             value  field count, decimal
 *
 *     varint: unsigned LEB128, 7 bits a byte, low bits first, high bit set
 *     on every byte but the last (1 byte below 128, 2 below 16384).
 *
 * The length prefix keeps one hash's fields together: without it the
 * fields of "ab" (key "ab" "c") would sort among those of "a" (key "a"
 * "bc"). With it every key of hash h starts with the same prefix and no
 * other hash's key does (a prefix decodes to exactly one name), so a hash
 * is one contiguous range: HGET is one point read, HGETALL and HSCAN one
 * range scan, and the prefix's successor bounds it.
 *
 * The count makes HLEN one read and the number of hashes of S the key
 * count of ".hlen." S (a root read). It is also how the writers tell that
 * a hash exists: a hash with no fields has no count, so clearing a hash
 * that does not exist costs one read, and setting a string (which must
 * remove a hash of its name) costs one more read than a plain put.
 *
 * Writers keep the counts through the transaction's own reads
 * (cairn_txn_get sees the base version under the transaction's writes),
 * and record ordinary puts and deletes: nothing here is needed at commit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "cursor.h"

#define FIELDS_PREFIX ".hash."
#define COUNTS_PREFIX ".hlen."
#define RESERVED_PREFIX_LEN 6
/* Longest keyspace name that can hold hashes. */
#define HASH_SPACE_NAME_MAX (CAIRN_NAME_MAX - RESERVED_PREFIX_LEN)
/* Bytes of a hash name or field shown in a message. */
#define SHOW_MAX 48

/* The keyspaces of one keyspace's strings and hashes. */
typedef struct spaces {
    const char *strings; /* the keyspace itself ("" for the default) */
    char fields[CAIRN_NAME_MAX + 1];
    char counts[CAIRN_NAME_MAX + 1];
} spaces;

/* A field's key in the fields keyspace: prefix (varint and name), then the
 * field. */
typedef struct field_key {
    uint8_t bytes[CAIRN_KEY_MAX];
    size_t len;
    size_t prefix_len;
} field_key;

static int spaces_of(const char *space, spaces *out)
{
    size_t len;

    if (space == CAIRN_CATALOG)
        return cairn__fail(CAIRN_BADARG, "CAIRN_CATALOG is not a keyspace");
    if (!space)
        space = "";
    len = strlen(space);
    if (space[0] == '.')
        return cairn__fail(CAIRN_BADARG,
                           "keyspace '%.*s': names beginning with '.' are reserved for cairn's "
                           "own use (hashes live in '" FIELDS_PREFIX "NAME' and '" COUNTS_PREFIX
                           "NAME')",
                           SHOW_MAX, space);
    if (len > HASH_SPACE_NAME_MAX)
        return cairn__fail(CAIRN_BADARG,
                           "keyspace '%.*s...' of %zu bytes: one with strings and hashes may "
                           "have at most %d (its hashes live in '" FIELDS_PREFIX
                           "NAME', and names are at most %d bytes)",
                           SHOW_MAX, space, len, HASH_SPACE_NAME_MAX, CAIRN_NAME_MAX);
    out->strings = space;
    memcpy(out->fields, FIELDS_PREFIX, RESERVED_PREFIX_LEN);
    memcpy(out->fields + RESERVED_PREFIX_LEN, space, len + 1);
    memcpy(out->counts, COUNTS_PREFIX, RESERVED_PREFIX_LEN);
    memcpy(out->counts + RESERVED_PREFIX_LEN, space, len + 1);
    return 0;
}

int cairn_hash_spaces(const char *space, char *fields, char *counts)
{
    spaces sp;
    int rc;

    cairn__detail_clear();
    if ((rc = spaces_of(space, &sp)))
        return rc;
    if (fields)
        memcpy(fields, sp.fields, strlen(sp.fields) + 1);
    if (counts)
        memcpy(counts, sp.counts, strlen(sp.counts) + 1);
    return 0;
}

/* The check every hash name passes: it is a key of the counts keyspace. */
static int check_name(const void *key, size_t key_len)
{
    char kq[CAIRN__QUOTE_SIZE(SHOW_MAX)];

    if (!key && key_len)
        return cairn__fail(CAIRN_BADARG, "NULL hash name");
    if (key_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG, "hash name '%s' of %zu bytes (the limit is %d)",
                           cairn__quote(key, key_len, SHOW_MAX, kq), key_len, CAIRN_KEY_MAX);
    return 0;
}

/* Encodes the prefix of hash key's fields and, after it, field (NULL, 0:
 * none). */
static int encode(const void *key, size_t key_len, const void *field, size_t field_len,
                  field_key *fk)
{
    char kq[CAIRN__QUOTE_SIZE(SHOW_MAX)], fq[CAIRN__QUOTE_SIZE(SHOW_MAX)];
    size_t n = 0, v = key_len;
    int rc;

    if ((rc = check_name(key, key_len)))
        return rc;
    if (!field && field_len)
        return cairn__fail(CAIRN_BADARG, "NULL field");
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        fk->bytes[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    if (key_len + n + field_len > CAIRN_KEY_MAX)
        return cairn__fail(CAIRN_KEYTOOBIG,
                           "hash '%s', field '%s': the field's key (the %zu-byte name, its "
                           "%zu-byte length before it and the %zu-byte field) would take %zu "
                           "bytes, over the key limit of %d",
                           cairn__quote(key, key_len, SHOW_MAX, kq),
                           cairn__quote(field, field_len, SHOW_MAX, fq), key_len, n, field_len,
                           key_len + n + field_len, CAIRN_KEY_MAX);
    if (key_len)
        memcpy(fk->bytes + n, key, key_len);
    fk->prefix_len = n + key_len;
    if (field_len)
        memcpy(fk->bytes + fk->prefix_len, field, field_len);
    fk->len = fk->prefix_len + field_len;
    return 0;
}

/* Parses a stored count: decimal digits, no leading zero, not zero (a
 * hash with no fields has no count). */
static int parse_count(const spaces *sp, const void *key, size_t key_len, cairn_val v,
                       uint64_t *out)
{
    char kq[CAIRN__QUOTE_SIZE(SHOW_MAX)], vq[CAIRN__QUOTE_SIZE(24)];
    const uint8_t *s = v.data;
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v.len; i++) {
        if (s[i] < '0' || s[i] > '9' || (i == 0 && s[i] == '0') ||
            n > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            break;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    if (v.len == 0 || i < v.len)
        return cairn__fail(CAIRN_CORRUPT,
                           "keyspace '%s': the field count of hash '%s' is '%s', not a positive "
                           "decimal number",
                           sp->counts, cairn__quote(key, key_len, SHOW_MAX, kq),
                           cairn__quote(v.data, v.len, 24, vq));
    *out = n;
    return 0;
}

/* ---------------------------------------------------------------- reads */

int cairn_type(cairn_snapshot *snap, const char *space, const void *key, size_t key_len,
               cairn_key_type *out)
{
    cairn_val val;
    spaces sp;
    int rc;

    cairn__detail_clear();
    if ((rc = spaces_of(space, &sp)) || (rc = check_name(key, key_len)))
        return rc;
    rc = cairn_get(snap, sp.strings, key, key_len, &val);
    if (rc == 0) {
        *out = CAIRN_TYPE_STRING;
        return 0;
    }
    if (rc != CAIRN_NOTFOUND)
        return rc;
    rc = cairn_get(snap, sp.counts, key, key_len, &val);
    if (rc == 0 || rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        *out = rc == 0 ? CAIRN_TYPE_HASH : CAIRN_TYPE_NONE;
        return 0;
    }
    return rc;
}

int cairn_hget(cairn_snapshot *snap, const char *space, const void *key, size_t key_len,
               const void *field, size_t field_len, cairn_val *val)
{
    field_key fk;
    spaces sp;
    int rc;

    cairn__detail_clear();
    if ((rc = spaces_of(space, &sp)) || (rc = encode(key, key_len, field, field_len, &fk)))
        return rc;
    return cairn_get(snap, sp.fields, fk.bytes, fk.len, val);
}

int cairn_hlen(cairn_snapshot *snap, const char *space, const void *key, size_t key_len,
               uint64_t *out)
{
    cairn_val val;
    spaces sp;
    int rc;

    cairn__detail_clear();
    if ((rc = spaces_of(space, &sp)) || (rc = check_name(key, key_len)))
        return rc;
    rc = cairn_get(snap, sp.counts, key, key_len, &val);
    if (rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        *out = 0;
        return 0;
    }
    return rc ? rc : parse_count(&sp, key, key_len, val, out);
}

int cairn_hiter_open(cairn_snapshot *snap, const char *space, const void *key, size_t key_len,
                     const void *from_field, size_t from_len, cairn_iter **out)
{
    field_key fk;
    spaces sp;
    int rc;

    cairn__detail_clear();
    *out = NULL;
    if (!from_field)
        from_len = 0;
    if ((rc = spaces_of(space, &sp)) || (rc = encode(key, key_len, from_field, from_len, &fk)))
        return rc;
    return cairn__iter_open_prefixed(snap, sp.fields, fk.bytes, fk.prefix_len,
                                     fk.bytes + fk.prefix_len, from_len, out);
}

int cairn_dbsize(cairn_snapshot *snap, const char *space, uint64_t *out)
{
    uint64_t strings, hashes;
    spaces sp;
    int rc;

    cairn__detail_clear();
    if ((rc = spaces_of(space, &sp)) ||
        (rc = cairn_count(snap, sp.strings, NULL, 0, NULL, 0, &strings)) ||
        (rc = cairn_count(snap, sp.counts, NULL, 0, NULL, 0, &hashes)))
        return rc;
    *out = strings + hashes;
    return 0;
}

/* ---------------------------------------------------------------- writes */

/* Checks txn and the keyspace, making txn unusable on a bad name. */
static int begin_write(cairn_txn *txn, const char *space, spaces *sp)
{
    int rc;

    cairn__detail_clear();
    if ((rc = cairn__txn_usable(txn)))
        return rc;
    if ((rc = spaces_of(space, sp)))
        return cairn__txn_fail(txn, rc);
    return 0;
}

/* Reads key of space as txn sees it. OUT: *found, and *val (valid until
 * the next call on txn) when found. */
static int txn_read(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                    bool *found, cairn_val *val)
{
    int rc = cairn_txn_get(txn, space, key, key_len, val);

    *found = rc == 0;
    if (rc == CAIRN_NOTFOUND) {
        cairn__detail_clear();
        return 0;
    }
    return rc ? cairn__txn_fail(txn, rc) : 0;
}

/* The field count of hash key as txn sees it (0: no such hash). */
static int txn_count(cairn_txn *txn, const spaces *sp, const void *key, size_t key_len,
                     uint64_t *count)
{
    cairn_val val;
    bool found;
    int rc;

    *count = 0;
    if ((rc = txn_read(txn, sp->counts, key, key_len, &found, &val)) || !found)
        return rc;
    if ((rc = parse_count(sp, key, key_len, val, count)))
        return cairn__txn_fail(txn, rc);
    return 0;
}

/* Records the count of hash key: n, or no count (no hash) for 0. */
static int put_count(cairn_txn *txn, const spaces *sp, const void *key, size_t key_len,
                     uint64_t n)
{
    char text[24];

    if (n == 0)
        return cairn_txn_del(txn, sp->counts, key, key_len);
    snprintf(text, sizeof(text), "%" PRIu64, n);
    return cairn_txn_put(txn, sp->counts, key, key_len, text, strlen(text));
}

/* A field write's start: the writer's keyspaces, the field's key, and
 * whether the transaction sees the field now. */
static int field_begin(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                       const void *field, size_t field_len, spaces *sp, field_key *fk,
                       bool *exists)
{
    cairn_val old;
    int rc;
    if ((rc = begin_write(txn, space, sp)))
        return rc;
    if ((rc = encode(key, key_len, field, field_len, fk)))
        return cairn__txn_fail(txn, rc);
    return txn_read(txn, sp->fields, fk->bytes, fk->len, exists, &old);
}

int cairn_txn_hset(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                   const void *field, size_t field_len, const void *val, size_t val_len,
                   bool *created)
{
    field_key fk;
    uint64_t count;
    bool exists;
    spaces sp;
    int rc;

    if ((rc = field_begin(txn, space, key, key_len, field, field_len, &sp, &fk, &exists)))
        return rc;
    if (!exists) {
        if ((rc = txn_count(txn, &sp, key, key_len, &count)))
            return rc;
        /* A new hash takes the place of a string of its name. */
        if (count == 0 && (rc = cairn_txn_del(txn, sp.strings, key, key_len)))
            return rc;
        if ((rc = put_count(txn, &sp, key, key_len, count + 1)))
            return rc;
    }
    if ((rc = cairn_txn_put(txn, sp.fields, fk.bytes, fk.len, val, val_len)))
        return rc;
    if (created)
        *created = !exists;
    return 0;
}

int cairn_txn_hdel(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                   const void *field, size_t field_len, bool *removed)
{
    char kq[CAIRN__QUOTE_SIZE(SHOW_MAX)], fq[CAIRN__QUOTE_SIZE(SHOW_MAX)];
    field_key fk;
    uint64_t count;
    bool exists;
    spaces sp;
    int rc;

    if ((rc = field_begin(txn, space, key, key_len, field, field_len, &sp, &fk, &exists)))
        return rc;
    if (exists) {
        if ((rc = txn_count(txn, &sp, key, key_len, &count)))
            return rc;
        if (count == 0)
            return cairn__txn_fail(
                txn, cairn__fail(CAIRN_CORRUPT, "hash '%s' has the field '%s' but no count in '%s'",
                                 cairn__quote(key, key_len, SHOW_MAX, kq),
                                 cairn__quote(field, field_len, SHOW_MAX, fq), sp.counts));
        if ((rc = cairn_txn_del(txn, sp.fields, fk.bytes, fk.len)) ||
            (rc = put_count(txn, &sp, key, key_len, count - 1)))
            return rc;
    }
    if (removed)
        *removed = exists;
    return 0;
}

/* Field keys to delete, gathered before any is deleted (the transaction's
 * log cannot be written while it is walked). */
typedef struct key_list {
    cairn_bytes arena;
    uint32_t *offs, *lens;
    size_t n, cap;
} key_list;

static int key_list_add(void *ctx, const uint8_t *key, size_t key_len)
{
    key_list *kl = ctx;
    int rc;

    if (kl->n == kl->cap) {
        size_t cap = kl->cap ? kl->cap * 2 : 64;
        uint32_t *offs = cairn__realloc(kl->offs, cap * sizeof(*offs)), *lens;
        if (!offs)
            return CAIRN_NOMEM;
        kl->offs = offs;
        if (!(lens = cairn__realloc(kl->lens, cap * sizeof(*lens))))
            return CAIRN_NOMEM;
        kl->lens = lens;
        kl->cap = cap;
    }
    if ((rc = cairn__bytes_append(&kl->arena, key, key_len, &kl->offs[kl->n])))
        return rc;
    kl->lens[kl->n++] = (uint32_t)key_len;
    return 0;
}

static void key_list_free(key_list *kl)
{
    cairn__bytes_free(&kl->arena);
    cairn__free(kl->offs);
    cairn__free(kl->lens);
}

/* Deletes every field of the hash whose keys start with prefix, as of the
 * version txn began from. */
static int delete_base_fields(cairn_txn *txn, const spaces *sp, const field_key *fk)
{
    const cairn_index *ix;
    cairn_id catalog, root;
    cairn_cursor cur;
    int rc;

    cairn__txn_base(txn, &ix, &catalog);
    if ((rc = cairn__space_root(ix, &catalog, sp->fields, &root)))
        return rc;
    if ((rc = cairn__cursor_open(&cur, ix, &root, 0)))
        return rc;
    for (rc = cairn__cursor_seek_ge(&cur, fk->bytes, fk->prefix_len); !rc && cur.valid;
         rc = cairn__cursor_next(&cur)) {
        const cairn_node *nd = cairn__cursor_node(&cur);
        uint32_t i = cairn__cursor_pos(&cur);
        if (nd->e[i].key_len < fk->prefix_len ||
            memcmp(cairn__node_key(nd, i), fk->bytes, fk->prefix_len) != 0)
            break; /* past the hash's range */
        if ((rc = cairn_txn_del(txn, sp->fields, cairn__node_key(nd, i), nd->e[i].key_len)))
            break;
    }
    cairn__cursor_close(&cur);
    return rc;
}

int cairn_txn_hclear(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                     bool *removed)
{
    key_list written = {0};
    field_key fk;
    uint64_t count;
    bool touched;
    spaces sp;
    size_t i;
    int rc;

    if ((rc = begin_write(txn, space, &sp)))
        return rc;
    if ((rc = encode(key, key_len, NULL, 0, &fk)))
        return cairn__txn_fail(txn, rc);
    if ((rc = txn_count(txn, &sp, key, key_len, &count)))
        return rc;
    if (removed)
        *removed = count > 0;
    if (count == 0)
        return 0; /* no fields without a count */
    /* The fields: those of the base version, and those this transaction
     * added, which it did only if it wrote the count too. Gathered before
     * the base fields' deletes join the log. */
    if ((rc = cairn__txn_pending_has(txn, sp.counts, key, key_len, &touched)))
        return rc;
    if (touched && (rc = cairn__txn_pending_each(txn, sp.fields, fk.bytes, fk.prefix_len,
                                                 key_list_add, &written)))
        goto done;
    if ((rc = delete_base_fields(txn, &sp, &fk)))
        goto done;
    for (i = 0; !rc && i < written.n; i++)
        rc = cairn_txn_del(txn, sp.fields, written.arena.data + written.offs[i], written.lens[i]);
    if (!rc)
        rc = put_count(txn, &sp, key, key_len, 0);
done:
    key_list_free(&written);
    return rc ? cairn__txn_fail(txn, rc) : 0;
}

int cairn_txn_set_string(cairn_txn *txn, const char *space, const void *key, size_t key_len,
                         const void *val, size_t val_len)
{
    spaces sp;
    int rc;

    if ((rc = begin_write(txn, space, &sp)) ||
        (rc = cairn_txn_hclear(txn, space, key, key_len, NULL)))
        return rc;
    return cairn_txn_put(txn, sp.strings, key, key_len, val, val_len);
}
