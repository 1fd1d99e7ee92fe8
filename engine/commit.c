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

#include "alloc.h"
#include "engine.h"
#include "error.h"
#include "id.h"
#include "mp.h"
#include "mpbuf.h"

#define COMMIT_FIELDS 8

int cairn__commit_encode(const cairn_commit_info *info, size_t msg_len, uint8_t **bytes,
                         size_t *len)
{
    mp_buf sb = {0};
    msgpack_packer pk;
    int bad = 0;
    msgpack_packer_init(&pk, &sb, mp_buf_write);
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
        cairn__free(sb.data);
        return cairn__fail(CAIRN_NOMEM, "encoding a commit");
    }
    *len = sb.len;
    *bytes = sb.data;
    return 0;
}

static bool read_id(mp_reader *r, cairn_id *id)
{
    const uint8_t *data;
    uint32_t len;
    if (!mp_bin(r, &data, &len) || len != 32)
        return false;
    memcpy(id->bytes, data, 32);
    return true;
}

int cairn__commit_decode(const cairn_id *id, const void *bytes, size_t len,
                         cairn_commit_info *info, size_t *msg_len_out)
{
    mp_reader r;
    uint32_t fields, msg_len;
    uint64_t version;
    const uint8_t *msg;
    char hex[13];

    memset(info, 0, sizeof(*info));
    mp_init(&r, bytes, len);
    if (!mp_array(&r, &fields) || fields != COMMIT_FIELDS)
        return cairn__fail(CAIRN_CORRUPT, "blob %s is not a commit", cairn__id_short(id, hex));
    if (!mp_uint(&r, &version) || version != CAIRN_COMMIT_FORMAT)
        return cairn__fail(CAIRN_VERSION, "commit %s: unsupported format",
                           cairn__id_short(id, hex));
    info->id = *id;
    if (!read_id(&r, &info->catalog))
        return cairn__fail(CAIRN_CORRUPT, "commit %s: malformed catalog id",
                           cairn__id_short(id, hex));
    info->has_parent = !mp_nil(&r);
    if ((info->has_parent && !read_id(&r, &info->parent)) ||
        !mp_uint(&r, &info->seq) || !mp_int(&r, &info->time_us) ||
        !mp_uint(&r, &info->writer_epoch) || !mp_str(&r, &msg, &msg_len) ||
        !mp_uint(&r, &info->key_count) || !mp_at_end(&r))
        return cairn__fail(CAIRN_CORRUPT, "commit %s: malformed field", cairn__id_short(id, hex));
    if (!(info->message = cairn__malloc(msg_len + 1)))
        return cairn__fail(CAIRN_NOMEM, "reading a commit message");
    memcpy(info->message, msg, msg_len);
    info->message[msg_len] = '\0';
    if (msg_len_out)
        *msg_len_out = msg_len;
    return 0;
}

int cairn_commit_get(cairn_db *db, const cairn_id *id, cairn_commit_info *out)
{
    cairn_buf buf = {0};
    int rc;

    cairn__detail_clear();
    memset(out, 0, sizeof(*out));
    /* The commit read at open with the settings (immutable, like any blob). */
    if (db->early.data && cairn__id_eq(&db->early_id, id)) {
        rc = cairn__commit_decode(id, db->early.data, db->early.len, out, NULL);
    } else {
        if ((rc = cairn__stack_get(db->stack, id, &buf)))
            return rc;
        rc = cairn__commit_decode(id, buf.data, buf.len, out, NULL);
        cairn__free(buf.data);
    }
    if (!rc && out->has_parent && (rc = cairn__boundary_has(db, id, &out->history_dropped)))
        cairn_commit_info_clear(out);
    return rc;
}

void cairn_commit_info_clear(cairn_commit_info *info)
{
    cairn__free(info->message);
    memset(info, 0, sizeof(*info));
}
