/*
 * cursor.c - SCAN's and HSCAN's cursors (docs/serve.md, "SCAN's cursor").
 *
 * Clients hold a cursor as a 64-bit number (redis-cli and go-redis parse
 * it with strtoull or ParseUint), so a cursor cannot be the last key
 * itself. It is the position after that key, tagged with the version it
 * was counted in:
 *
 *     cursor = tag << RANK_BITS | rank        (below 2^63; 0: start, end)
 *
 * tag: the first TAG_BITS bits of the commit id of that version; rank: how
 * many members of the set walked (a database's keys, strings and hash
 * names merged, or one hash's fields) sort up to and including the last
 * one returned, so >= 1.
 *
 * The next call finds the last key again as the rank-th member of the
 * version the tag names (the one read now, or one of the last
 * SERVE_RECENT served), then walks on after it in the version read now.
 * So a key present through the whole scan is returned exactly once even
 * if the version switches meanwhile, and replicas serving the same
 * version (the same commit: the same tree) continue each other's cursors.
 * A cursor whose version is not found (a server that never served it, a
 * restart, more than SERVE_RECENT switches) goes on from the same rank in
 * the version read now: keys added or removed before that position
 * meanwhile shift it, and that many keys may be repeated or skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define TAG_BITS 20
#define RANK_BITS 43 /* 8.8e12 members */
#define RANK_MASK (((uint64_t)1 << RANK_BITS) - 1)

/* ---------------------------------------------------------------- the sets */

int serve_scan_set_db(cmd_ctx *x, scan_set *set)
{
    const char *space = serve_space_of(x);
    memset(set, 0, sizeof(*set));
    if (!space)
        return CAIRN_NOTFOUND;
    snprintf(set->space, sizeof(set->space), "%s", space);
    return cairn_hash_spaces(space, NULL, set->names);
}

int serve_scan_set_hash(cmd_ctx *x, const resp_arg *key, scan_set *set)
{
    const char *space = serve_space_of(x);
    memset(set, 0, sizeof(*set));
    if (!space)
        return CAIRN_NOTFOUND;
    if (key->len > CAIRN_KEY_MAX)
        return CAIRN_NOTFOUND; /* no such hash can exist */
    int rc = cairn_hash_spaces(space, set->space, NULL);
    if (rc)
        return rc;
    /* A field's key: varint(len(key)) key field (include/cairn.h). */
    set->hash = true;
    for (uint64_t n = key->len;; n >>= 7) {
        set->prefix[set->prefix_len++] = (uint8_t)((n & 0x7f) | (n >> 7 ? 0x80 : 0));
        if (!(n >> 7))
            break;
    }
    memcpy(set->prefix + set->prefix_len, key->ptr, key->len);
    set->prefix_len += key->len;
    return 0;
}

/* Keys of space below key (all of them for key NULL); a keyspace that does
 * not exist has none. */
static int below(cairn_snapshot *snap, const char *space, const void *lo, size_t lo_len,
                 const void *key, size_t len, uint64_t *n)
{
    int rc = cairn_count(snap, space, lo, lo_len, key, len, n);
    if (rc == CAIRN_NOTFOUND)
        *n = 0, rc = 0;
    return rc;
}

/* The rank-th key of space, copied to out (CURSOR_KEY_MAX bytes). */
static int key_at(cairn_snapshot *snap, const char *space, uint64_t rank, uint8_t *out,
                  size_t *len)
{
    cairn_val k;
    int rc = cairn_key_at(snap, space, rank, &k, NULL);
    if (rc)
        return rc;
    memcpy(out, k.data, k.len);
    *len = k.len;
    return 0;
}

/* Members of set in snap that sort at or before member (which is one). */
static int set_rank(cairn_snapshot *snap, const scan_set *set, const uint8_t *member, size_t len,
                    uint64_t *rank)
{
    uint64_t a, b = 0;
    int rc;
    if (set->hash) {
        uint8_t full[sizeof(set->prefix) + CURSOR_KEY_MAX];
        memcpy(full, set->prefix, set->prefix_len);
        memcpy(full + set->prefix_len, member, len);
        rc = below(snap, set->space, set->prefix, set->prefix_len, full, set->prefix_len + len, &a);
    } else if (!(rc = below(snap, set->space, NULL, 0, member, len, &a))) {
        rc = below(snap, set->names, NULL, 0, member, len, &b);
    }
    *rank = a + b + 1;
    return rc;
}

/* The member of set at rank q (from 0) in snap, into out; CAIRN_NOTFOUND
 * past the last. A database's member q is the string or hash name with q
 * members before it: the strings s_i (i + the hash names below s_i) grow
 * with i, so a binary search over i finds the last string at or before q;
 * if it is not at q, the member is the hash name that follows. */
static int set_member(cairn_snapshot *snap, const scan_set *set, uint64_t q, uint8_t *out,
                      size_t *len)
{
    uint64_t n_strings, n_names, before;
    int rc;
    if (set->hash) {
        uint8_t key[CURSOR_KEY_MAX];
        size_t key_len;
        if ((rc = below(snap, set->space, NULL, 0, set->prefix, set->prefix_len, &before)) ||
            (rc = key_at(snap, set->space, before + q, key, &key_len)))
            return rc;
        if (key_len < set->prefix_len || memcmp(key, set->prefix, set->prefix_len) != 0)
            return CAIRN_NOTFOUND; /* past the hash's fields */
        *len = key_len - set->prefix_len;
        memmove(out, key + set->prefix_len, *len);
        return 0;
    }
    if ((rc = below(snap, set->space, NULL, 0, NULL, 0, &n_strings)) ||
        (rc = below(snap, set->names, NULL, 0, NULL, 0, &n_names)))
        return rc;
    if (q >= n_strings + n_names)
        return CAIRN_NOTFOUND;
    if (!n_names)
        return key_at(snap, set->space, q, out, len);
    /* lo: the last string index i known with i + names below s_i <= q (-1:
     * none); hi: the first known past q. */
    int64_t lo = -1, hi = (int64_t)(n_strings < q + 1 ? n_strings : q + 1);
    bool lo_at_q = false;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = key_at(snap, set->space, (uint64_t)mid, out, len)) ||
            (rc = below(snap, set->names, NULL, 0, out, *len, &before)))
            return rc;
        if ((uint64_t)mid + before <= q)
            lo = mid, lo_at_q = (uint64_t)mid + before == q;
        else
            hi = mid;
    }
    if (lo_at_q)
        return key_at(snap, set->space, (uint64_t)lo, out, len);
    return key_at(snap, set->names, q - (uint64_t)(lo + 1), out, len);
}

/* ---------------------------------------------------------------- cursors */

int serve_cursor_resume(cmd_ctx *x, const scan_set *set, const resp_arg *arg, scan_page *pg)
{
    char digits[24];
    char *end;
    pg->started = false;
    pg->from_len = 0;
    if (arg->len == 0 || arg->len >= sizeof(digits) || arg->ptr[0] < '0' || arg->ptr[0] > '9')
        goto invalid;
    memcpy(digits, arg->ptr, arg->len);
    digits[arg->len] = 0;
    unsigned long long cursor = strtoull(digits, &end, 10);
    if (*end || cursor >> 63)
        goto invalid;
    if (cursor == 0)
        return 0;
    uint64_t rank = cursor & RANK_MASK;
    uint32_t tag = (uint32_t)(cursor >> RANK_BITS);
    if (rank == 0)
        goto invalid;
    /* The version the cursor was counted in: the one read now, else a
     * recent one, else (its key unknown) the one read now, approximately. */
    cairn_snapshot *now = serve_snap(x), *then = now;
    cairn_id commit;
    if (cairn_snapshot_commit(now, &commit) && serve_commit_tag(&commit, TAG_BITS) != tag &&
        serve_version_recent(&x->w->srv->version, tag, TAG_BITS, &commit) &&
        cairn_snapshot_open_commit(x->w->srv->db, &commit, &then) != 0)
        then = now; /* gone meanwhile (a gc): as if never served */
    int rc = set_member(then, set, rank - 1, pg->from, &pg->from_len);
    if (then != now)
        cairn_snapshot_close(then);
    if (rc == CAIRN_NOTFOUND)
        return 1; /* nothing is left after it */
    if (rc) {
        serve_reply_error(x, rc);
        return -1;
    }
    pg->started = true;
    return 0;
invalid:
    resp_out_error(x->out, "ERR invalid cursor");
    return -1;
}

int serve_cursor_after(cmd_ctx *x, const scan_set *set, const uint8_t *last, size_t len,
                       uint64_t *cursor)
{
    cairn_id commit;
    uint64_t rank;
    int rc = set_rank(serve_snap(x), set, last, len, &rank);
    if (rc)
        return rc;
    if (rank > RANK_MASK)
        return CAIRN_BADARG; /* beyond what a 64-bit cursor counts */
    uint32_t tag = cairn_snapshot_commit(serve_snap(x), &commit) ? serve_commit_tag(&commit, TAG_BITS)
                                                                 : 0;
    *cursor = (uint64_t)tag << RANK_BITS | rank;
    return 0;
}
