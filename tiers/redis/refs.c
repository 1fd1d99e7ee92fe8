/*
 * refs.c - the Redis tier's refs, pins and blob writes, and the Lua
 * scripts that make each of them one atomic step on the server.
 *
 * Refs live in one hash, P refs (name -> 64 lowercase hex). Every change
 * runs SCRIPT_CAS, which checks the writer lease first (lease.c,
 * "Fencing"), then every old value, and only then writes: all or none,
 * and no other command runs in between (Redis runs a script atomically).
 * publish writes the blobs, waits for every reply, and only then moves
 * the ref: a ref is never set while one of its blobs is not in Redis.
 *
 * Blobs are written by SCRIPT_PUT rather than SET NX: a key already
 * holding the same bytes is left alone (nothing is written, nothing goes
 * to the AOF), and one holding other bytes or another type (damage, a
 * stranger's key) is replaced, as verify's repair expects of a put.
 */
#include "redis_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "id.h"

redis_script cairn__redis_scripts[SCRIPT_N] = {
    [SCRIPT_PUT] = {"local t = redis.call('TYPE', KEYS[1]).ok\n"
                    "if t == 'string' then\n"
                    "  if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end\n"
                    "elseif t ~= 'none' then\n"
                    "  redis.call('DEL', KEYS[1])\n"
                    "end\n"
                    "redis.call('SET', KEYS[1], ARGV[1])\n"
                    "return 1\n",
                    ""},
    /* KEYS: refs, lock. ARGV: token ("" when no lease is held), n, then
     * n triples name, old ("": must not exist), new ("": delete). */
    [SCRIPT_CAS] = {"local lock = redis.call('GET', KEYS[2])\n"
                    "local tok = ARGV[1]\n"
                    "if tok ~= '' then\n"
                    "  if not lock or string.sub(lock, 1, #tok + 1) ~= tok .. ' ' then\n"
                    "    return {'fenced', lock or ''}\n"
                    "  end\n"
                    "elseif lock then\n"
                    "  return {'busy', lock}\n"
                    "end\n"
                    "local n = tonumber(ARGV[2])\n"
                    "for i = 0, n - 1 do\n"
                    "  local name, old = ARGV[3 + 3 * i], ARGV[4 + 3 * i]\n"
                    "  local cur = redis.call('HGET', KEYS[1], name)\n"
                    "  if (old == '' and cur) or (old ~= '' and cur ~= old) then\n"
                    "    return {'conflict', name, cur or ''}\n"
                    "  end\n"
                    "end\n"
                    "for i = 0, n - 1 do\n"
                    "  local name, new = ARGV[3 + 3 * i], ARGV[5 + 3 * i]\n"
                    "  if new == '' then redis.call('HDEL', KEYS[1], name)\n"
                    "  else redis.call('HSET', KEYS[1], name, new) end\n"
                    "end\n"
                    "return {'ok'}\n",
                    ""},
    /* KEYS: lock. ARGV: token, lease ms. */
    [SCRIPT_RENEW] = {"local v = redis.call('GET', KEYS[1])\n"
                      "if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then\n"
                      "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                      "  return 1\n"
                      "end\n"
                      "return 0\n",
                      ""},
    [SCRIPT_RELEASE] = {"local v = redis.call('GET', KEYS[1])\n"
                        "if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then\n"
                        "  redis.call('DEL', KEYS[1])\n"
                        "  return 1\n"
                        "end\n"
                        "return 0\n",
                        ""},
};

static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;

static void scripts_init(void)
{
    cairn__redis_scripts_init(cairn__redis_scripts, SCRIPT_N);
}

void cairn__redis_scripts_load(void)
{
    pthread_once(&scripts_once, scripts_init);
}

/* ---------------------------------------------------------------- blobs */

int cairn__redis_put_blobs(redis_tier *rt, const cairn_blob *blobs, size_t n)
{
    size_t group = n < REDIS_CHUNK_CMDS ? n : REDIS_CHUNK_CMDS;
    redis_cmd *cmds = cairn__calloc(group, sizeof(*cmds));
    const char **argv = cairn__calloc(group * 5, sizeof(*argv));
    size_t *lens = cairn__calloc(group * 5, sizeof(*lens));
    size_t key_cap = strlen(rt->key_blob) + CAIRN_ID_HEX + 1;
    char *keys = cairn__malloc(group * key_cap);
    int rc = 0;

    if (!cmds || !argv || !lens || !keys) {
        rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory writing %zu blobs", n);
        goto done;
    }
    for (size_t from = 0; from < n && !rc; from += group) {
        size_t k = n - from < group ? n - from : group;
        for (size_t j = 0; j < k; j++) {
            const cairn_blob *b = &blobs[from + j];
            char hex[CAIRN_ID_HEX + 1], *key = keys + j * key_cap;
            cairn_id_to_hex(&b->id, hex);
            snprintf(key, key_cap, "%s%s", rt->key_blob, hex);
            argv[5 * j + 2] = "1";
            lens[5 * j + 2] = 1;
            argv[5 * j + 3] = key;
            lens[5 * j + 3] = strlen(key);
            argv[5 * j + 4] = b->len ? (const char *)b->data : "";
            lens[5 * j + 4] = b->len;
            cmds[j] = (redis_cmd){5, argv + 5 * j, lens + 5 * j, RK_PUT,
                                  &cairn__redis_scripts[SCRIPT_PUT], NULL};
        }
        if ((rc = cairn__redis_run(rt->pool, cmds, k, true)))
            break;
        for (size_t j = 0; j < k && !rc; j++) {
            redisReply *r = cmds[j].reply;
            if (r->type != REDIS_REPLY_ERROR)
                continue;
            cairn__redis_note_error(rt->pool);
            if (strstr(r->str, "OOM")) {
                cairn__redis_note_full(rt->pool, true, r->str);
                rc = cairn__fail(CAIRN_TIER, "redis %s is out of memory writing %s: %.200s",
                                 rt->s.where, argv[5 * j + 3], r->str);
            } else {
                rc = cairn__fail(CAIRN_TIER, "redis %s: writing %s: %.200s", rt->s.where,
                                 argv[5 * j + 3], r->str);
            }
        }
        if (!rc)
            cairn__redis_note_full(rt->pool, false, NULL);
        cairn__redis_cmds_clear(cmds, k);
    }
done:
    cairn__free(cmds);
    cairn__free(argv);
    cairn__free(lens);
    cairn__free(keys);
    return rc;
}

/* ---------------------------------------------------------------- refs */

/* Decodes a ref's value: 64 lowercase hex. */
static bool ref_value(const redisReply *r, cairn_id *out)
{
    char hex[CAIRN_ID_HEX + 1];

    if (!r || r->type != REDIS_REPLY_STRING || r->len != CAIRN_ID_HEX)
        return false;
    memcpy(hex, r->str, CAIRN_ID_HEX);
    hex[CAIRN_ID_HEX] = '\0';
    for (size_t i = 0; i < CAIRN_ID_HEX; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return cairn_id_from_hex(hex, out) == 0;
}

/* One command's reply into *out (a single-command run); an error reply
 * becomes an error naming what and the key. */
static int call(redis_tier *rt, int kind, bool idempotent, const char *what, int argc,
                const char **argv, size_t *lens, redisReply **out)
{
    redis_cmd cmd = {argc, argv, lens, kind, NULL, NULL};
    int rc;

    *out = NULL;
    for (int i = 0; i < argc; i++)
        if (!lens[i])
            lens[i] = strlen(argv[i]);
    if ((rc = cairn__redis_run(rt->pool, &cmd, 1, idempotent)))
        return cairn__fail_context(rc, "%s", what);
    if (cmd.reply->type == REDIS_REPLY_ERROR) {
        cairn__redis_note_error(rt->pool);
        rc = cairn__fail(cairn__redis_is_error(cmd.reply, "WRONGTYPE") ? CAIRN_CORRUPT : CAIRN_TIER,
                         "redis %s: %s: key '%s': %.200s", rt->s.where, what, argv[1],
                         cmd.reply->str);
        cairn__redis_cmds_clear(&cmd, 1);
        return rc;
    }
    *out = cmd.reply;
    return 0;
}

int cairn__redis_ref_get(cairn_tier *t, const char *name, cairn_id *out)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[3] = {"HGET", rt->key_refs, name};
    size_t lens[3] = {0, 0, 0};
    redisReply *r;
    int rc;

    if ((rc = call(rt, RK_GET, true, "reading a ref", 3, argv, lens, &r)))
        return rc;
    if (r->type == REDIS_REPLY_NIL)
        rc = cairn__fail(CAIRN_NOTFOUND, "redis %s: no ref '%s'", rt->s.where, name);
    else if (!ref_value(r, out))
        rc = cairn__fail(CAIRN_CORRUPT,
                         "redis %s: ref '%s' in %s holds %zu bytes that are not an id (64 "
                         "lowercase hex)",
                         rt->s.where, name, rt->key_refs,
                         r->type == REDIS_REPLY_STRING ? (size_t)r->len : (size_t)0);
    freeReplyObject(r);
    return rc;
}

struct ref_item {
    char *name;
    cairn_id id;
    bool ok;
};

static int ref_item_order(const void *a, const void *b)
{
    return strcmp(((const struct ref_item *)a)->name, ((const struct ref_item *)b)->name);
}

int cairn__redis_ref_list(cairn_tier *t, const char *prefix, cairn_ref_fn fn, void *ctx)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[2] = {"HGETALL", rt->key_refs};
    size_t lens[2] = {0, 0}, n = 0, plen = strlen(prefix);
    struct ref_item *items = NULL;
    redisReply *r;
    int rc;

    if ((rc = call(rt, RK_GET, true, "listing refs", 2, argv, lens, &r)))
        return rc;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return cairn__fail(CAIRN_CORRUPT, "redis %s: %s is not a hash", rt->s.where, rt->key_refs);
    }
    if (!(items = cairn__calloc(r->elements / 2 + 1, sizeof(*items)))) {
        freeReplyObject(r);
        return cairn__fail(CAIRN_NOMEM, "redis: out of memory listing refs");
    }
    for (size_t i = 0; i + 1 < r->elements && !rc; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || memchr(k->str, '\0', k->len) ||
            (size_t)k->len < plen || memcmp(k->str, prefix, plen))
            continue;
        if (!(items[n].name = cairn__strndup(k->str, k->len)))
            rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory listing refs");
        else
            items[n].ok = ref_value(v, &items[n].id), n++;
    }
    freeReplyObject(r);
    if (!rc)
        qsort(items, n, sizeof(*items), ref_item_order);
    for (size_t i = 0; i < n && !rc; i++)
        rc = fn(ctx, items[i].name, items[i].ok ? &items[i].id : NULL);
    for (size_t i = 0; i < n; i++)
        cairn__free(items[i].name);
    cairn__free(items);
    return rc;
}

/* Runs SCRIPT_CAS for n moves. */
static int cas(redis_tier *rt, const cairn_ref_move *moves, size_t n, const char *what)
{
    size_t argc = 7 + 3 * n;
    const char **argv = cairn__calloc(argc, sizeof(*argv));
    size_t *lens = cairn__calloc(argc, sizeof(*lens));
    char (*hex)[CAIRN_ID_HEX + 1] = cairn__calloc(2 * n + 1, sizeof(*hex));
    char token[REDIS_TOKEN_HEX + 1], count[24];
    redis_cmd cmd = {(int)argc, argv, lens, RK_OTHER, &cairn__redis_scripts[SCRIPT_CAS], NULL};
    redisReply *r;
    int rc = 0;

    if (!argv || !lens || !hex) {
        rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory moving %zu refs", n);
        goto done;
    }
    cairn__redis_token(rt, token);
    snprintf(count, sizeof(count), "%zu", n);
    argv[2] = "2";
    argv[3] = rt->key_refs;
    argv[4] = rt->key_lock;
    argv[5] = token;
    argv[6] = count;
    for (size_t i = 0; i < n; i++) {
        argv[7 + 3 * i] = moves[i].name;
        hex[2 * i][0] = hex[2 * i + 1][0] = '\0';
        if (moves[i].old_id)
            cairn_id_to_hex(moves[i].old_id, hex[2 * i]);
        if (moves[i].new_id)
            cairn_id_to_hex(moves[i].new_id, hex[2 * i + 1]);
        argv[8 + 3 * i] = hex[2 * i];
        argv[9 + 3 * i] = hex[2 * i + 1];
    }
    for (size_t i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    /* Not idempotent: a dropped connection leaves the outcome unknown,
     * and the caller must read the ref to learn it. */
    if ((rc = cairn__redis_run(rt->pool, &cmd, 1, false))) {
        cairn__fail_context(rc, "%s", what);
        goto done;
    }
    r = cmd.reply;
    if (r->type == REDIS_REPLY_ERROR) {
        cairn__redis_note_error(rt->pool);
        rc = cairn__fail(cairn__redis_is_error(r, "WRONGTYPE") || strstr(r->str, "WRONGTYPE")
                             ? CAIRN_CORRUPT
                             : CAIRN_TIER,
                         "redis %s: %s (keys %s, %s): %.200s", rt->s.where, what, rt->key_refs,
                         rt->key_lock, r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               r->element[0]->type != REDIS_REPLY_STRING) {
        rc = cairn__fail(CAIRN_TIER, "redis %s: %s: unexpected reply", rt->s.where, what);
    } else if (!strcmp(r->element[0]->str, "ok")) {
        rc = 0;
    } else if (!strcmp(r->element[0]->str, "conflict") && r->elements == 3) {
        const redisReply *name = r->element[1], *cur = r->element[2];
        rc = cairn__fail(CAIRN_CONFLICT, "redis %s: ref '%.*s' %s", rt->s.where,
                         (int)name->len, name->str,
                         cur->len == 0 ? "does not exist" : "moved (compare-and-swap failed)");
        for (size_t i = 0; i < n; i++)
            if (!strncmp(moves[i].name, name->str, name->len) && !moves[i].name[name->len] &&
                !moves[i].old_id && cur->len)
                rc = cairn__fail(CAIRN_CONFLICT, "redis %s: ref '%s' already exists",
                                 rt->s.where, moves[i].name);
    } else if (r->elements == 2) {
        rc = cairn__redis_fence_fail(rt, what, r->element[0]->str, r->element[1]->str,
                                     r->element[1]->len);
    } else {
        rc = cairn__fail(CAIRN_TIER, "redis %s: %s: unexpected reply '%s'", rt->s.where, what,
                         r->element[0]->str);
    }
done:
    cairn__redis_cmds_clear(&cmd, 1);
    cairn__free(argv);
    cairn__free(lens);
    cairn__free(hex);
    return rc;
}

int cairn__redis_ref_cas(cairn_tier *t, const char *name, const cairn_id *old_id,
                         const cairn_id *new_id)
{
    cairn_ref_move move = {name, old_id, new_id};

    return cas((redis_tier *)t, &move, 1, "moving a ref");
}

int cairn__redis_ref_cas_many(cairn_tier *t, const cairn_ref_move *moves, size_t n)
{
    return cas((redis_tier *)t, moves, n, "moving refs");
}

int cairn__redis_publish(cairn_tier *t, const cairn_blob *blobs, size_t n, const char *ref,
                         const cairn_id *old_id, const cairn_id *new_id)
{
    redis_tier *rt = (redis_tier *)t;
    cairn_ref_move move = {ref, old_id, new_id};
    int rc;

    if (n && (rc = cairn__redis_put_blobs(rt, blobs, n)))
        return cairn__fail_context(rc, "publishing '%s' (no ref moved)", ref);
    return cas(rt, &move, 1, "publishing a commit");
}

/* ---------------------------------------------------------------- pins */

int cairn__redis_pin_put(cairn_tier *t, const char *name, const void *bytes, size_t len)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[4] = {"HSET", rt->key_pins, name, bytes};
    size_t lens[4] = {0, 0, 0, len};
    redisReply *r;
    int rc;

    if ((rc = call(rt, RK_PUT, true, "writing a pin", 4, argv, lens, &r)))
        return rc;
    freeReplyObject(r);
    return 0;
}

int cairn__redis_pin_delete(cairn_tier *t, const char *name)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[3] = {"HDEL", rt->key_pins, name};
    size_t lens[3] = {0, 0, 0};
    redisReply *r;
    int rc;

    if ((rc = call(rt, RK_DELETE, true, "deleting a pin", 3, argv, lens, &r)))
        return rc;
    freeReplyObject(r);
    return 0;
}

int cairn__redis_pin_list(cairn_tier *t, cairn_pin_fn fn, void *ctx)
{
    redis_tier *rt = (redis_tier *)t;
    const char *argv[2] = {"HGETALL", rt->key_pins};
    size_t lens[2] = {0, 0};
    cairn_pin_records recs = {0};
    redisReply *r;
    int rc;

    if ((rc = call(rt, RK_GET, true, "listing pins", 2, argv, lens, &r)))
        return rc;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements && !rc; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        char name[CAIRN_PIN_NAME_MAX + 1];
        cairn_pin_record *rec;
        if (k->type != REDIS_REPLY_STRING || (size_t)k->len > CAIRN_PIN_NAME_MAX ||
            v->type != REDIS_REPLY_STRING)
            continue;
        memcpy(name, k->str, k->len);
        name[k->len] = '\0';
        if (strlen(name) != (size_t)k->len || !cairn__pin_name_ok(name))
            continue;
        if (!(rec = cairn__pin_records_add(&recs, name))) {
            rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory listing pins");
            break;
        }
        rec->len = v->len;
        if ((size_t)v->len <= CAIRN_PIN_RECORD_MAX && v->len &&
            !(rec->bytes = cairn__memdup(v->str, v->len)))
            rc = cairn__fail(CAIRN_NOMEM, "redis: out of memory listing pins");
    }
    freeReplyObject(r);
    return cairn__pin_records_emit(&recs, rc, fn, ctx);
}
