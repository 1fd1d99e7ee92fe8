/*
 * commit.c - commit objects.
 *
 * A commit is a content-addressed blob, one canonical msgpack array:
 *   [ 1 (format), catalog (bin 32), parent (bin 32, or nil for a first
 *     commit), seq (uint), time (int, microseconds since the Unix epoch),
 *     writer epoch (uint), message (str), key count (uint) ]
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "util.h"

#define COMMIT_FIELDS 8

int cairn__commit_encode(const cairn_commit_info *info, uint8_t **bytes, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t msg_len = info->message ? strlen(info->message) : 0;
    int bad = 0;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bad |= msgpack_pack_array(&pk, COMMIT_FIELDS);
    bad |= msgpack_pack_uint32(&pk, CAIRN_COMMIT_FORMAT);
    bad |= msgpack_pack_bin_with_body(&pk, info->catalog.bytes, 32);
    if (info->has_parent)
        bad |= msgpack_pack_bin_with_body(&pk, info->parent.bytes, 32);
    else
        bad |= msgpack_pack_nil(&pk);
    bad |= msgpack_pack_uint64(&pk, info->seq);
    bad |= msgpack_pack_int64(&pk, info->time_us);
    bad |= msgpack_pack_uint64(&pk, info->writer_epoch);
    bad |= msgpack_pack_str_with_body(&pk, msg_len ? info->message : "", msg_len);
    bad |= msgpack_pack_uint64(&pk, info->key_count);
    if (bad || !sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return cairn__fail(CAIRN_NOMEM, "encoding a commit");
    }
    *len = sb.size;
    *bytes = (uint8_t *)msgpack_sbuffer_release(&sb);
    return 0;
}

static bool get_u64(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

static bool get_id(const msgpack_object *o, cairn_id *id)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != 32)
        return false;
    memcpy(id->bytes, o->via.bin.ptr, 32);
    return true;
}

int cairn__commit_decode(const cairn_id *id, const void *bytes, size_t len,
                         cairn_commit_info *info)
{
    msgpack_unpacked up;
    const msgpack_object *f;
    size_t off = 0;
    char hex[13];
    int rc = 0;

    memset(info, 0, sizeof(*info));
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, bytes, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != COMMIT_FIELDS) {
        rc = cairn__fail(CAIRN_CORRUPT, "blob %s is not a commit", cairn__id_short(id, hex));
        goto done;
    }
    f = up.data.via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[0].via.u64 != CAIRN_COMMIT_FORMAT) {
        rc = cairn__fail(CAIRN_VERSION, "commit %s: unsupported format", cairn__id_short(id, hex));
        goto done;
    }
    info->id = *id;
    info->has_parent = f[2].type != MSGPACK_OBJECT_NIL;
    if (f[4].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        info->time_us = (int64_t)f[4].via.u64;
    else if (f[4].type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        info->time_us = f[4].via.i64;
    else
        goto bad;
    if (!get_id(&f[1], &info->catalog) || (info->has_parent && !get_id(&f[2], &info->parent)) ||
        !get_u64(&f[3], &info->seq) || !get_u64(&f[5], &info->writer_epoch) ||
        f[6].type != MSGPACK_OBJECT_STR || !get_u64(&f[7], &info->key_count))
        goto bad;
    if (!(info->message = malloc(f[6].via.str.size + 1))) {
        rc = cairn__fail(CAIRN_NOMEM, "reading a commit message");
        goto done;
    }
    memcpy(info->message, f[6].via.str.ptr, f[6].via.str.size);
    info->message[f[6].via.str.size] = '\0';
    goto done;
bad:
    rc = cairn__fail(CAIRN_CORRUPT, "commit %s: malformed field", cairn__id_short(id, hex));
done:
    msgpack_unpacked_destroy(&up);
    return rc;
}

int cairn_commit_get(cairn_db *db, const cairn_id *id, cairn_commit_info *out)
{
    cairn_buf buf = {0};
    int rc;

    cairn__detail_clear();
    memset(out, 0, sizeof(*out));
    if ((rc = cairn__stack_get(db->stack, id, &buf)))
        return rc;
    rc = cairn__commit_decode(id, buf.data, buf.len, out);
    free(buf.data);
    return rc;
}

void cairn_commit_info_clear(cairn_commit_info *info)
{
    free(info->message);
    memset(info, 0, sizeof(*info));
}
