/*
 * node.h - the tree node: its canonical msgpack encoding and its decoded,
 * cached form.
 *
 * Encoding (format version 1; docs/format.md is the full specification).
 * Every node is one msgpack array, written in the smallest msgpack form of
 * each item, fields in this order and nothing else:
 *
 *   leaf (level 0):
 *     +-----+-------+--------------------+-------------------------------+
 *     | 1   | 0     | [ key_0 ... key_n ] | [ val_0 ... val_n ]           |
 *     | int | int   | array of bin        | array of bin | ext(1, 32 B)  |
 *     +-----+-------+--------------------+-------------------------------+
 *     A value of at most CAIRN_INLINE_MAX bytes is a bin holding it; a
 *     longer one is ext type 1 holding the 32-byte id of a value blob whose
 *     bytes are the value itself.
 *
 *   internal (level >= 1):
 *     +-----+-------+--------------------+-------------------+-----------+
 *     | 1   | level | [ first key of each | [ child id (bin   | [ keys in |
 *     |     |       |   child, as bin ]   |   of 32 bytes) ]  | subtree ] |
 *     +-----+-------+--------------------+-------------------+-----------+
 *
 * Keys strictly ascend within a node (memcmp, then length). A node's id is
 * the SHA-256 of these bytes. The empty tree is the leaf [1, 0, [], []]:
 * bytes 94 01 00 90 90.
 *
 * Decoded form: one allocation holding struct cairn_node, its entry array,
 * a search hint per entry, running key counts (internal nodes) and a copy of the
 * encoded bytes; keys and values point into those bytes, so reading a
 * cached node allocates and decodes nothing. A binary search compares the
 * hints, 8 bytes of each key after the prefix all its keys share, packed in
 * one array (few cache lines), and reads a key itself only on a tie.
 */
#ifndef CAIRN_NODE_H
#define CAIRN_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cairn.h"
#include "tier.h"

#define CAIRN_NODE_FORMAT 1
/* msgpack ext type of an out-of-line value reference. */
#define CAIRN_EXT_VALUE_REF 1
/* Deepest tree we accept; internal nodes hold at least two children, so
 * real trees stay far below it. */
#define CAIRN_MAX_HEIGHT 40

/* One item of a node, as offsets into the node's bytes (16 bytes, so a
 * search or a scan reads few cache lines). */
typedef struct cairn_entry {
    uint32_t key_off;
    uint32_t val_off;  /* leaf: inline value or 32-byte value id;
                          internal: the 32-byte child id */
    uint16_t key_len;  /* <= CAIRN_KEY_MAX */
    uint16_t val_len;  /* <= CAIRN_INLINE_MAX, or 32 */
    bool is_ref;       /* leaf: the value is out of line */
    _Atomic uint8_t checked; /* internal: the child was found to match this
                                entry (cairn__child_check) */
} cairn_entry;

typedef struct cairn_node {
    /* What a lookup and a search read first, together. */
    cairn_id id;
    _Atomic(struct cairn_node *) hash_next; /* the shard's hash chain (cache.c) */
    const uint64_t *hint;      /* per entry: key bytes [prefix_len, +8), big-endian,
                                  zero-padded */
    uint64_t prefix_head;      /* the first min(prefix_len, 8) bytes of the prefix,
                                  big-endian, zero-padded */
    uint32_t n;                /* entries */
    uint16_t prefix_len;       /* bytes every key of the node starts with */
    uint8_t level;             /* 0 for leaves; < CAIRN_MAX_HEIGHT */
    _Atomic uint8_t referenced; /* CLOCK: read since the hand passed (cache.c) */
    const uint8_t *bytes;      /* the encoded node */

    _Atomic uint32_t refs;     /* pins, plus one while in the cache */
    uint32_t size;             /* encoded bytes */
    uint64_t count;            /* keys in the subtree */
    size_t mem;                /* bytes of the whole allocation */
    const uint64_t *before;    /* internal: n + 1 running totals of the children's
                                  key counts (before[i]: keys in children < i) */
    struct cairn_node *ring_prev, *ring_next; /* the shard's CLOCK ring; once
                                                 retired, ring_next chains the
                                                 retired nodes (cache.c) */
    uint64_t retired_at;       /* the epoch it was evicted in (cache.c) */
    cairn_entry e[];           /* n entries */
} cairn_node;

/* An item being written into a node (by the tree builder). */
typedef struct cairn_item {
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *val;        /* leaf: inline bytes or 32-byte id */
    uint32_t val_len;
    bool is_ref;               /* leaf: val is a value-blob id */
    cairn_id child;            /* internal */
    uint64_t count;            /* internal: keys in the child */
} cairn_item;

static inline const uint8_t *cairn__node_key(const cairn_node *nd, uint32_t i)
{
    return nd->bytes + nd->e[i].key_off;
}

/* Keys in the entries before entry i (in a leaf, i). */
static inline uint64_t cairn__entry_before(const cairn_node *nd, uint32_t i)
{
    return nd->level ? nd->before[i] : i;
}

/* Keys under entry i (in a leaf, 1). */
static inline uint64_t cairn__entry_count(const cairn_node *nd, uint32_t i)
{
    return nd->level ? nd->before[i + 1] - nd->before[i] : 1;
}

static inline const cairn_id *cairn__node_child(const cairn_node *nd, uint32_t i)
{
    return (const cairn_id *)(nd->bytes + nd->e[i].val_off);
}

/* Fills *it with entry i of nd (pointers into nd). */
void cairn__node_item(const cairn_node *nd, uint32_t i, cairn_item *it);

/* Encodes items[0..n) as a node of the given level into a malloc'd buffer.
 * OUT: *bytes (free it), *len. Errors: CAIRN_NOMEM. */
int cairn__node_encode(uint32_t level, const cairn_item *items, size_t n, uint8_t **bytes,
                       size_t *len);

/* The encoded size an item adds to a node (used by the chunking rule). */
uint32_t cairn__item_size(uint32_t level, const cairn_item *it);

/* Decodes bytes (which must hash to id; not checked here) into a new node
 * with refs = 1. Strict: a wrong shape, type, version or key order is
 * CAIRN_CORRUPT with a detail naming the id.
 * OUT: *out (freed with cairn__free() when refs reach zero). */
int cairn__node_decode(const cairn_id *id, const void *bytes, size_t len, cairn_node **out);

/* Index of the first entry whose key is >= key (n if none). */
uint32_t cairn__node_lower_bound(const cairn_node *nd, const void *key, size_t key_len);

/* For internal nodes: the child to descend into for key, i.e. the last
 * entry whose first key is <= key, or 0. */
uint32_t cairn__node_child_for(const cairn_node *nd, const void *key, size_t key_len);

/* The encoded empty tree and its id. */
extern const uint8_t cairn__empty_node_bytes[5];
void cairn__empty_root_id(cairn_id *out);

#endif /* CAIRN_NODE_H */
