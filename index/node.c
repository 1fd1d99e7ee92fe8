/* node.c - canonical node encoding (msgpack-c) and strict decoding. */
#include "alloc.h"
#include "node.h"

#include <msgpack.h>

#include "mp.h"
#include "mpbuf.h"
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "id.h"

const uint8_t cairn__empty_node_bytes[5] = {0x94, 0x01, 0x00, 0x90, 0x90};

/* SHA-256 of cairn__empty_node_bytes, written out so that it cannot fail
 * (test_index_node checks it against the hash). */
static const cairn_id empty_root = {{
    0x1c, 0x88, 0x40, 0xab, 0x0b, 0x3b, 0x36, 0x99, 0x1a, 0xbd, 0xd2, 0x01, 0xac, 0xac, 0xf6, 0x5d,
    0xef, 0xd5, 0x74, 0xee, 0xdf, 0x4d, 0x59, 0x48, 0xa7, 0x12, 0xea, 0xdc, 0x02, 0xb2, 0xb2, 0x44,
}};

void cairn__empty_root_id(cairn_id *out)
{
    *out = empty_root;
}

void cairn_empty_root(cairn_id *out)
{
    cairn__empty_root_id(out);
}

/* Bytes of the msgpack header of a bin of len bytes. */
static uint32_t bin_header(uint32_t len)
{
    return len < 256 ? 2 : len < 65536 ? 3 : 5;
}

/* Bytes of a msgpack unsigned integer. */
static uint32_t uint_size(uint64_t v)
{
    return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < (1ull << 32) ? 5 : 9;
}

uint32_t cairn__item_size(uint32_t level, const cairn_item *it)
{
    uint32_t size = bin_header(it->key_len) + it->key_len;
    if (level > 0)
        return size + 2 + 32 + uint_size(it->count);
    if (it->is_ref)
        return size + 3 + 32; /* ext8: c7 20 01 + id */
    return size + bin_header(it->val_len) + it->val_len;
}

void cairn__node_item(const cairn_node *nd, uint32_t i, cairn_item *it)
{
    const cairn_entry *e = &nd->e[i];
    it->key = nd->bytes + e->key_off;
    it->key_len = e->key_len;
    it->val = nd->bytes + e->val_off;
    it->val_len = e->val_len;
    it->is_ref = e->is_ref;
    if (nd->level > 0)
        memcpy(it->child.bytes, it->val, 32);
    it->count = cairn__entry_count(nd, i);
}

int cairn__node_encode(uint32_t level, const cairn_item *items, size_t n, uint8_t **bytes,
                       size_t *len)
{
    mp_buf sb = {0};
    msgpack_packer pk;
    size_t i;
    int ok = 0;

    *bytes = NULL;
    msgpack_packer_init(&pk, &sb, mp_buf_write);
    ok |= msgpack_pack_array(&pk, level ? 5 : 4);
    ok |= msgpack_pack_uint32(&pk, CAIRN_NODE_FORMAT);
    ok |= msgpack_pack_uint32(&pk, level);
    ok |= msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        ok |= msgpack_pack_bin(&pk, items[i].key_len);
        ok |= msgpack_pack_bin_body(&pk, items[i].key, items[i].key_len);
    }
    ok |= msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        if (level > 0) {
            ok |= msgpack_pack_bin(&pk, 32);
            ok |= msgpack_pack_bin_body(&pk, items[i].child.bytes, 32);
        } else if (items[i].is_ref) {
            ok |= msgpack_pack_ext(&pk, 32, CAIRN_EXT_VALUE_REF);
            ok |= msgpack_pack_ext_body(&pk, items[i].val, 32);
        } else {
            ok |= msgpack_pack_bin(&pk, items[i].val_len);
            ok |= msgpack_pack_bin_body(&pk, items[i].val, items[i].val_len);
        }
    }
    if (level > 0) {
        ok |= msgpack_pack_array(&pk, n);
        for (i = 0; i < n; i++)
            ok |= msgpack_pack_uint64(&pk, items[i].count);
    }
    if (ok != 0 || !sb.data) {
        cairn__free(sb.data);
        return cairn__fail(CAIRN_NOMEM, "encoding a node of %zu items", n);
    }
    *len = sb.len;
    *bytes = sb.data;
    return 0;
}

static int corrupt(const cairn_id *id, const char *what)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(id, hex);
    return cairn__fail(CAIRN_CORRUPT, "node %s: %s", hex, what);
}

/* Reads one leaf value (bin or value reference) into e. */
static int read_value(const cairn_id *id, mp_reader *r, const uint8_t *base, cairn_entry *e)
{
    const uint8_t *data;
    uint32_t len;
    int8_t type;

    if (mp_peek(r) == 0xc4 || mp_peek(r) == 0xc5 || mp_peek(r) == 0xc6) {
        if (!mp_bin(r, &data, &len) || len > CAIRN_INLINE_MAX)
            return corrupt(id, "inline value malformed or longer than CAIRN_INLINE_MAX");
        e->is_ref = false;
    } else if (!mp_ext(r, &type, &data, &len) || type != CAIRN_EXT_VALUE_REF || len != 32) {
        return corrupt(id, "value is neither a bin nor a value reference");
    } else {
        e->is_ref = true;
    }
    e->val_off = (uint32_t)(data - base);
    e->val_len = (uint16_t)len;
    return 0;
}

/* Fills nd's entries from the reader positioned at the key array's first
 * element; base is where the node's bytes begin. */
static int read_entries(const cairn_id *id, mp_reader *r, const uint8_t *base, cairn_node *nd)
{
    const uint8_t *data;
    uint32_t i, len, n2;
    uint64_t total = 0;
    int rc;

    for (i = 0; i < nd->n; i++) {
        cairn_entry *e = &nd->e[i];
        if (!mp_bin(r, &data, &len) || len > CAIRN_KEY_MAX)
            return corrupt(id, "key is not a bin of at most CAIRN_KEY_MAX bytes");
        e->key_off = (uint32_t)(data - base);
        e->key_len = (uint16_t)len;
        if (i > 0 && cairn__bytes_cmp(base + e[-1].key_off, e[-1].key_len, data, len) >= 0)
            return corrupt(id, "keys out of order");
    }
    if (!mp_array(r, &n2) || n2 != nd->n)
        return corrupt(id, "value array missing or of the wrong length");
    for (i = 0; i < nd->n; i++) {
        cairn_entry *e = &nd->e[i];
        if (nd->level == 0) {
            if ((rc = read_value(id, r, base, e)))
                return rc;
            continue;
        }
        if (!mp_bin(r, &data, &len) || len != 32)
            return corrupt(id, "child id is not a 32-byte bin");
        e->val_off = (uint32_t)(data - base);
        e->val_len = 32;
        e->is_ref = false;
    }
    if (nd->level == 0) {
        nd->count = nd->n;
        return 0;
    }
    uint64_t *before = (uint64_t *)nd->before;
    if (!mp_array(r, &n2) || n2 != nd->n)
        return corrupt(id, "count array missing or of the wrong length");
    for (i = 0; i < nd->n; i++) {
        uint64_t c;
        if (!mp_uint(r, &c) || c == 0 || total + c < total)
            return corrupt(id, "child count is not a positive integer");
        before[i] = total;
        total += c;
    }
    before[nd->n] = total;
    nd->count = total;
    return 0;
}

/* 8 bytes of key from offset at, big-endian, zero-padded: comparing two
 * hints orders the keys unless they are equal. */
static inline uint64_t key_hint(const uint8_t *key, size_t key_len, size_t at)
{
    uint8_t b[8] = {0};
    uint64_t h;
    if (key_len >= at + 8) {
        memcpy(&h, key + at, 8);
    } else {
        if (key_len > at)
            memcpy(b, key + at, key_len - at);
        memcpy(&h, b, 8);
    }
    return __builtin_bswap64(h);
}

static void set_hints(cairn_node *nd)
{
    uint64_t *hint = (uint64_t *)nd->hint;
    uint32_t p = 0;

    if (nd->n > 1) { /* keys ascend: what the first and last share, all do */
        const uint8_t *a = cairn__node_key(nd, 0), *b = cairn__node_key(nd, nd->n - 1);
        uint32_t max = nd->e[0].key_len < nd->e[nd->n - 1].key_len ? nd->e[0].key_len
                                                                     : nd->e[nd->n - 1].key_len;
        while (p < max && a[p] == b[p])
            p++;
    }
    nd->prefix_len = (uint16_t)p;
    nd->prefix_head = p ? key_hint(cairn__node_key(nd, 0), p, 0) : 0;
    for (uint32_t i = 0; i < nd->n; i++)
        hint[i] = key_hint(cairn__node_key(nd, i), nd->e[i].key_len, p);
}

int cairn__node_decode(const cairn_id *id, const void *bytes, size_t len, cairn_node **out)
{
    mp_reader r;
    uint32_t fields, n;
    uint64_t version, level;
    cairn_node *nd;
    size_t mem, header;
    int rc;

    *out = NULL;
    if (len > UINT32_MAX)
        return corrupt(id, "node too large");
    mp_init(&r, bytes, len);
    if (!mp_array(&r, &fields) || (fields != 4 && fields != 5))
        return corrupt(id, "not a node (want a msgpack array of 4 or 5)");
    if (!mp_uint(&r, &version) || version != CAIRN_NODE_FORMAT)
        return cairn__fail(CAIRN_VERSION, "node format version is not %d", CAIRN_NODE_FORMAT);
    if (!mp_uint(&r, &level) || level >= CAIRN_MAX_HEIGHT || fields != (level ? 5u : 4u))
        return corrupt(id, "bad level, or wrong number of fields for its level");
    if (!mp_array(&r, &n) || (level > 0 && n == 0))
        return corrupt(id, "key array missing, or an internal node without children");
    /* one allocation: the node, entries, hints, running key counts
     * (internal nodes), bytes */
    mem = sizeof(*nd) + (size_t)n * (sizeof(cairn_entry) + sizeof(uint64_t)) + len +
          (level ? ((size_t)n + 1) * sizeof(uint64_t) : 0);
    if (!(nd = cairn__malloc(mem)))
        return cairn__fail(CAIRN_NOMEM, "decoding a node of %zu bytes", len);
    memset(nd, 0, sizeof(*nd));
    nd->id = *id;
    atomic_init(&nd->refs, 1);
    nd->level = (uint8_t)level;
    nd->n = n;
    nd->size = (uint32_t)len;
    nd->mem = mem;
    memset(nd->e, 0, (size_t)n * sizeof(cairn_entry)); /* the checked flags among them */
    nd->hint = (const uint64_t *)&nd->e[n];
    nd->before = level ? &nd->hint[n] : NULL;
    nd->bytes = (const uint8_t *)(level ? &nd->before[n + 1] : &nd->hint[n]);
    memcpy((uint8_t *)nd->bytes, bytes, len);
    /* Parse the entries from the private copy, so that offsets are
     * relative to nd->bytes. */
    header = (size_t)(r.p - (const uint8_t *)bytes);
    mp_init(&r, nd->bytes + header, len - header);
    if ((rc = read_entries(id, &r, nd->bytes, nd)) ||
        (!mp_at_end(&r) && (rc = corrupt(id, "trailing bytes after the node")))) {
        cairn__free(nd);
        return rc;
    }
    set_hints(nd);
    *out = nd;
    return 0;
}

/* Where key stands against the prefix every key of nd shares: below all
 * of nd's keys (-1), above them all (1), or sharing it (0). The prefix's
 * first 8 bytes are in the node's header: most prefixes are no longer,
 * and then the keys' bytes are not read. */
static int prefix_side(const cairn_node *nd, const uint8_t *key, size_t key_len)
{
    uint32_t p = nd->prefix_len, head = p < 8 ? p : 8;
    uint64_t k;
    int c;

    if (p == 0)
        return 0;
    k = key_hint(key, key_len < head ? key_len : head, 0);
    if (k != nd->prefix_head)
        return k < nd->prefix_head ? -1 : 1;
    if (key_len < head)
        return -1; /* a proper prefix of the prefix (the same bytes, zero-padded) */
    if (p > 8 && (c = memcmp(key + 8, cairn__node_key(nd, 0) + 8,
                             (key_len < p ? key_len : p) - 8)) != 0)
        return c < 0 ? -1 : 1;
    return key_len < p ? -1 : 0;
}

/* Entry i's key against key, whose hint is h. */
static inline int entry_cmp(const cairn_node *nd, uint32_t i, const uint8_t *key, size_t key_len,
                            uint64_t h)
{
    if (nd->hint[i] != h)
        return nd->hint[i] < h ? -1 : 1;
    return cairn__bytes_cmp(cairn__node_key(nd, i), nd->e[i].key_len, key, key_len);
}

/* The number of entries whose key is below key (or_equal: at most key). */
static uint32_t count_below(const cairn_node *nd, const uint8_t *key, size_t key_len,
                            bool or_equal)
{
    uint32_t lo = 0, hi = nd->n;
    uint64_t h;
    int side = prefix_side(nd, key, key_len);

    if (side != 0)
        return side < 0 ? 0 : nd->n;
    h = key_hint(key, key_len, nd->prefix_len);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = entry_cmp(nd, mid, key, key_len, h);
        if (c < 0 || (or_equal && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t cairn__node_lower_bound(const cairn_node *nd, const void *key, size_t key_len)
{
    return count_below(nd, key, key_len, false);
}

uint32_t cairn__node_child_for(const cairn_node *nd, const void *key, size_t key_len)
{
    /* The last entry with first key <= key: one before the first entry
     * whose key is > key. */
    uint32_t n = count_below(nd, key, key_len, true);
    return n ? n - 1 : 0;
}
