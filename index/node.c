/* node.c - canonical node encoding (msgpack-c) and strict decoding. */
#include "node.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const uint8_t cairn__empty_node_bytes[5] = {0x94, 0x01, 0x00, 0x90, 0x90};

void cairn__empty_root_id(cairn_id *out)
{
    cairn__sha256(cairn__empty_node_bytes, sizeof(cairn__empty_node_bytes), out);
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
    it->count = e->count;
}

int cairn__node_encode(uint32_t level, const cairn_item *items, size_t n, uint8_t **bytes,
                       size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t i;
    int ok = 0;

    *bytes = NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
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
        msgpack_sbuffer_destroy(&sb);
        return cairn__fail(CAIRN_NOMEM, "encoding a node of %zu items", n);
    }
    *len = sb.size;
    *bytes = (uint8_t *)msgpack_sbuffer_release(&sb);
    return 0;
}

static int corrupt(const cairn_id *id, const char *what)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_id_to_hex(id, hex);
    return cairn__fail(CAIRN_CORRUPT, "node %s: %s", hex, what);
}

static bool is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

/* Checks the shape of a decoded msgpack object as a node; on success sets
 * *level and *n. */
static int check_shape(const cairn_id *id, const msgpack_object *root, uint32_t *level,
                       uint32_t *n)
{
    const msgpack_object *f;

    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 4)
        return corrupt(id, "not a node (want a msgpack array of 4 or 5)");
    f = root->via.array.ptr;
    if (!is_uint(&f[0]) || f[0].via.u64 != CAIRN_NODE_FORMAT)
        return cairn__fail(CAIRN_VERSION, "node format version is not %d", CAIRN_NODE_FORMAT);
    if (!is_uint(&f[1]) || f[1].via.u64 >= CAIRN_MAX_HEIGHT)
        return corrupt(id, "bad level");
    *level = (uint32_t)f[1].via.u64;
    if (root->via.array.size != (*level ? 5u : 4u))
        return corrupt(id, "wrong number of fields for its level");
    if (f[2].type != MSGPACK_OBJECT_ARRAY || f[3].type != MSGPACK_OBJECT_ARRAY ||
        f[3].via.array.size != f[2].via.array.size)
        return corrupt(id, "key and value arrays missing or of different lengths");
    if (*level && (f[4].type != MSGPACK_OBJECT_ARRAY ||
                   f[4].via.array.size != f[2].via.array.size))
        return corrupt(id, "count array missing or of the wrong length");
    if (*level && f[2].via.array.size < 1)
        return corrupt(id, "internal node without children");
    *n = f[2].via.array.size;
    return 0;
}

/* Fills entry i of nd from the decoded fields; raw is where the msgpack
 * buffer began, so that pointers become offsets into nd->bytes. */
static int fill_entry(const cairn_id *id, cairn_node *nd, const msgpack_object *f, uint32_t i,
                      const char *raw, uint64_t *total)
{
    const msgpack_object *k = &f[2].via.array.ptr[i], *v = &f[3].via.array.ptr[i];
    cairn_entry *e = &nd->e[i];

    if (k->type != MSGPACK_OBJECT_BIN || k->via.bin.size > CAIRN_KEY_MAX)
        return corrupt(id, "key is not a bin of at most CAIRN_KEY_MAX bytes");
    e->key_off = (uint32_t)(k->via.bin.ptr - raw);
    e->key_len = k->via.bin.size;
    if (nd->level > 0) {
        const msgpack_object *c = &f[4].via.array.ptr[i];
        if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != 32)
            return corrupt(id, "child id is not a 32-byte bin");
        if (!is_uint(c) || c->via.u64 == 0)
            return corrupt(id, "child count is not a positive integer");
        e->val_off = (uint32_t)(v->via.bin.ptr - raw);
        e->val_len = 32;
        e->count = c->via.u64;
        e->before = *total;
        e->is_ref = false;
        *total += c->via.u64;
    } else if (v->type == MSGPACK_OBJECT_BIN) {
        if (v->via.bin.size > CAIRN_INLINE_MAX)
            return corrupt(id, "inline value longer than CAIRN_INLINE_MAX");
        e->val_off = (uint32_t)(v->via.bin.ptr - raw);
        e->val_len = v->via.bin.size;
        e->is_ref = false;
    } else if (v->type == MSGPACK_OBJECT_EXT && v->via.ext.type == CAIRN_EXT_VALUE_REF &&
               v->via.ext.size == 32) {
        e->val_off = (uint32_t)(v->via.ext.ptr - raw);
        e->val_len = 32;
        e->is_ref = true;
    } else {
        return corrupt(id, "value is neither a bin nor a value reference");
    }
    if (nd->level == 0) {
        e->count = 1;
        e->before = i;
        *total += 1;
    }
    if (i > 0) {
        const cairn_entry *p = &nd->e[i - 1];
        if (cairn__bytes_cmp(nd->bytes + p->key_off, p->key_len, nd->bytes + e->key_off,
                             e->key_len) >= 0)
            return corrupt(id, "keys out of order");
    }
    return 0;
}

int cairn__node_decode(const cairn_id *id, const void *bytes, size_t len, cairn_node **out)
{
    msgpack_unpacked up;
    size_t off = 0, mem;
    uint32_t level = 0, n = 0, i;
    uint64_t total = 0;
    cairn_node *nd = NULL;
    int rc;

    *out = NULL;
    if (len > UINT32_MAX)
        return corrupt(id, "node too large");
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, bytes, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = corrupt(id, "not a single well-formed msgpack value");
        goto done;
    }
    if ((rc = check_shape(id, &up.data, &level, &n)))
        goto done;
    mem = sizeof(*nd) + (size_t)n * sizeof(cairn_entry) + len;
    if (!(nd = malloc(mem))) {
        rc = cairn__fail(CAIRN_NOMEM, "decoding a node of %zu bytes", len);
        goto done;
    }
    memset(nd, 0, sizeof(*nd));
    nd->id = *id;
    atomic_init(&nd->refs, 1);
    nd->level = level;
    nd->n = n;
    nd->size = (uint32_t)len;
    nd->mem = mem;
    nd->bytes = (const uint8_t *)&nd->e[n];
    memcpy((uint8_t *)&nd->e[n], bytes, len);
    for (i = 0; i < n; i++)
        if ((rc = fill_entry(id, nd, up.data.via.array.ptr, i, bytes, &total)))
            goto done;
    nd->count = total;
    *out = nd;
    nd = NULL;
    rc = 0;
done:
    free(nd);
    msgpack_unpacked_destroy(&up);
    return rc;
}

uint32_t cairn__node_lower_bound(const cairn_node *nd, const void *key, size_t key_len)
{
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const cairn_entry *e = &nd->e[mid];
        if (cairn__bytes_cmp(nd->bytes + e->key_off, e->key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t cairn__node_child_for(const cairn_node *nd, const void *key, size_t key_len)
{
    /* The last entry with first key <= key: one before the first entry
     * whose key is > key. */
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const cairn_entry *e = &nd->e[mid];
        if (cairn__bytes_cmp(nd->bytes + e->key_off, e->key_len, key, key_len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}
