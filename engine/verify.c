/*
 * verify.c - checking everything reachable from every ref.
 *
 * Every ref tier of the stack is checked on its own: blobs are read from
 * that tier alone (never from another tier or the store's node cache), so
 * the check covers what each tier stores: each blob must be present and
 * hash to its id (the stack checks that), decode strictly, be canonically
 * encoded,
 * keep its keys inside the range its parent gives it, agree with its
 * parent on level and key count, and split where the chunking rule says.
 * Blobs shared between versions are checked once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytes.h"
#include "engine.h"
#include "error.h"
#include "id.h"
#include "idset.h"
#include "retention.h"

#define SEEN_CHECKED 1u /* a seen-set entry that has been checked */

typedef struct seen_set {
    cairn_id *ids;
    uint8_t *flags;
    size_t n, n_slots;
} seen_set;

typedef struct verifier {
    cairn_db *db;
    cairn_index ix;       /* reads from the tier being checked, alone */
    cairn_problem_fn fn;
    void *ctx;
    cairn_verify_report rep;
    seen_set nodes, values, commits; /* apart: one id may be several kinds */
    const char *tier;     /* "file:./b" when the stack has several ref tiers */
    const char *where;    /* "commit abcdef012345, keyspace 'x'" */
    size_t tier_k;        /* the stack index of the tier being checked */
    bool repair;          /* restore damaged or missing blobs from other tiers */
    cairn_idset boundary; /* the tier's own meta/boundary: where its history ends
                             (a write-back tier's differs from the primary's) */
    bool stop;
    int err;              /* CAIRN_NOMEM: verification could not go on (not a finding) */
    /* Children of the nodes on the walk's path, read ahead in one batch per
     * parent (a remote tier then needs a few requests, not one a node);
     * read_blob takes them from here. */
    struct ahead {
        cairn_id id;
        cairn_buf buf;
    } *ahead;
    size_t n_ahead, cap_ahead;
} verifier;

/* Returns a pointer to the flags of id, adding it if new. NULL on OOM. */
static uint8_t *seen_slot(seen_set *s, const cairn_id *id)
{
    size_t mask, i;

    if ((s->n + 1) * 2 > s->n_slots) {
        seen_set g = {0};
        size_t j;
        g.n_slots = s->n_slots ? s->n_slots * 2 : 1024;
        g.ids = cairn__calloc(g.n_slots, sizeof(*g.ids));
        g.flags = cairn__calloc(g.n_slots, 1);
        if (!g.ids || !g.flags) {
            cairn__free(g.ids);
            cairn__free(g.flags);
            return NULL;
        }
        for (j = 0; j < s->n_slots; j++) {
            if (s->flags[j]) {
                uint8_t *f = seen_slot(&g, &s->ids[j]);
                *f = s->flags[j];
            }
        }
        cairn__free(s->ids);
        cairn__free(s->flags);
        *s = g;
    }
    mask = s->n_slots - 1;
    for (i = cairn__id_hash(id) & mask; s->flags[i]; i = (i + 1) & mask)
        if (cairn__id_eq(&s->ids[i], id))
            return &s->flags[i];
    s->ids[i] = *id;
    s->flags[i] = 0x80; /* present, nothing checked yet */
    s->n++;
    return &s->flags[i];
}

/* If rc says memory ran out, stops the walk: running out of memory is not a
 * finding about the store, and a check skipped for want of memory would
 * make a clean result a lie, so verify returns CAIRN_NOMEM instead. Returns
 * whether it did. */
static bool out_of_memory(verifier *v, int rc)
{
    if (rc != CAIRN_NOMEM)
        return false;
    if (!v->err)
        v->err = cairn__fail(CAIRN_NOMEM, "verify ran out of memory");
    v->stop = true;
    return true;
}

/* seen_slot, stopping the walk if memory runs out. */
static uint8_t *seen(verifier *v, seen_set *s, const cairn_id *id)
{
    uint8_t *flags = seen_slot(s, id);
    if (!flags)
        out_of_memory(v, CAIRN_NOMEM);
    return flags;
}

static void seen_free(seen_set *s)
{
    cairn__free(s->ids);
    cairn__free(s->flags);
    memset(s, 0, sizeof(*s));
}

/* Sends a message to the caller's fn: "tier 'X': " first when the stack has
 * several ref tiers, " (where)" after it when known. */
static void say(verifier *v, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void say(verifier *v, const char *fmt, va_list ap)
{
    char msg[1024];
    size_t len = 0;

    if (!v->fn || v->stop)
        return;
    if (v->tier)
        len = (size_t)snprintf(msg, sizeof(msg), "tier '%.200s': ", v->tier);
    vsnprintf(msg + len, sizeof(msg) - len, fmt, ap);
    len = strlen(msg);
    if (v->where && len + 4 < sizeof(msg))
        snprintf(msg + len, sizeof(msg) - len, " (%s)", v->where);
    if (v->fn(v->ctx, msg))
        v->stop = true;
}

static void problem(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(verifier *v, const char *fmt, ...)
{
    va_list ap;

    v->rep.problems++;
    va_start(ap, fmt);
    say(v, fmt, ap);
    va_end(ap);
}

/* A finding that is not a problem (a repair made). */
static void note(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(verifier *v, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(v, fmt, ap);
    va_end(ap);
}

/* Looks for a good copy of id in every other tier of the stack (caches
 * too: blobs never change, so any copy that hashes right is the blob) and
 * writes it into the tier being checked, which overwrites a damaged copy
 * (tier.h: a put never trusts bytes that differ). Returns the spec of the
 * tier it came from, or NULL. */
static const char *repair_blob(verifier *v, const cairn_id *id)
{
    cairn_stack *st = v->db->stack;
    cairn_tier *dst = cairn__stack_tier(st, v->tier_k);

    for (size_t k = 0; k < cairn__stack_n_tiers(st); k++) {
        cairn_tier *src = cairn__stack_tier(st, k);
        cairn_buf got = {0};
        cairn_blob blob;
        cairn_id actual;
        bool ok;

        if (k == v->tier_k || cairn__tier_get_many(src, id, 1, &got) || !got.data)
            continue;
        cairn__sha256(got.data, got.len, &actual);
        blob = (cairn_blob){*id, got.data, got.len};
        ok = cairn__id_eq(&actual, id) && cairn__tier_put_many(dst, &blob, 1) == 0 &&
             cairn__tier_sync(dst) == 0;
        cairn__free(got.data);
        if (ok)
            return src->spec;
    }
    cairn__detail_clear();
    return NULL;
}

/* Takes id's bytes from the read-ahead set, if they are there. */
static bool take_ahead(verifier *v, const cairn_id *id, cairn_buf *buf)
{
    for (size_t i = v->n_ahead; i-- > 0;)
        if (cairn__id_eq(&v->ahead[i].id, id)) {
            *buf = v->ahead[i].buf;
            v->ahead[i] = v->ahead[--v->n_ahead];
            return true;
        }
    return false;
}

static void ahead_free(verifier *v)
{
    for (size_t i = 0; i < v->n_ahead; i++)
        cairn__free(v->ahead[i].buf.data);
    cairn__free(v->ahead);
    v->ahead = NULL;
    v->n_ahead = v->cap_ahead = 0;
}

/* Reads the children of nd not read yet in one batch. Best effort: a batch
 * that fails (a child missing or damaged) is dropped, and each child is
 * then read, and reported, on its own. */
static void read_ahead(verifier *v, const cairn_node *nd)
{
    cairn_id *ids = cairn__calloc(nd->n ? nd->n : 1, sizeof(*ids));
    cairn_buf *bufs = cairn__calloc(nd->n ? nd->n : 1, sizeof(*bufs));
    size_t n = 0;

    for (uint32_t i = 0; ids && bufs && i < nd->n; i++) {
        const cairn_id *c = cairn__node_child(nd, i);
        uint8_t *flags = seen_slot(&v->nodes, c);
        if (flags && *flags == 0x80 && !cairn__is_empty_root(c))
            ids[n++] = *c;
    }
    if (n > 1 && v->n_ahead + n <= 65536 && cairn__stack_get_many(v->ix.stack, ids, n, bufs) == 0) {
        if (v->n_ahead + n > v->cap_ahead) {
            size_t cap = v->cap_ahead ? v->cap_ahead : 256;
            while (cap < v->n_ahead + n)
                cap *= 2;
            struct ahead *grown = cairn__reallocarray(v->ahead, cap, sizeof(*grown));
            if (grown) {
                v->ahead = grown;
                v->cap_ahead = cap;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (bufs[i].data && v->n_ahead < v->cap_ahead)
                v->ahead[v->n_ahead++] = (struct ahead){ids[i], bufs[i]};
            else
                cairn__free(bufs[i].data);
        }
    }
    cairn__detail_clear();
    cairn__free(ids);
    cairn__free(bufs);
}

/* Reads a blob from the tier being checked, reporting absence or
 * corruption; in repair mode, restores it from another tier first. */
static bool read_blob(verifier *v, const cairn_id *id, const char *what, cairn_buf *buf)
{
    char hex[CAIRN_ID_HEX + 1], why[512];
    const char *from;
    int rc = take_ahead(v, id, buf) ? 0 : cairn__stack_get(v->ix.stack, id, buf);

    if (rc == 0) {
        v->rep.bytes += buf->len;
        return true;
    }
    if (out_of_memory(v, rc))
        return false;
    cairn_id_to_hex(id, hex);
    snprintf(why, sizeof(why), "%s", rc == CAIRN_MISSING ? "missing" : cairn_errdetail());
    if (v->repair && (from = repair_blob(v, id)) &&
        cairn__stack_get(v->ix.stack, id, buf) == 0) {
        v->rep.repaired++;
        v->rep.bytes += buf->len;
        note(v, "%s %s: %s; repaired from tier '%s'", what, hex, why, from);
        return true;
    }
    problem(v, "%s %s: %s%s", what, hex, why, v->repair ? " (no tier holds a good copy)" : "");
    return false;
}

/* Checks that re-encoding nd gives back its exact bytes. Out of memory it
 * cannot tell: it stops the walk and returns true. */
static bool canonical(verifier *v, const cairn_node *nd)
{
    cairn_item *items = cairn__calloc(nd->n, sizeof(*items));
    uint8_t *bytes = NULL;
    size_t len = 0;
    uint32_t i;
    bool ok;
    int rc;

    if (!items)
        return !out_of_memory(v, CAIRN_NOMEM);
    for (i = 0; i < nd->n; i++)
        cairn__node_item(nd, i, &items[i]);
    rc = cairn__node_encode(nd->level, items, nd->n, &bytes, &len);
    ok = out_of_memory(v, rc) || rc != 0 ||
         (len == nd->size && memcmp(bytes, nd->bytes, len) == 0);
    cairn__free(bytes);
    cairn__free(items);
    return ok;
}

/* Expectations a parent places on a child. */
typedef struct bounds {
    const uint8_t *first; /* the child's first key, as the parent lists it */
    size_t first_len;
    const uint8_t *next;  /* the next sibling's first key, or NULL */
    size_t next_len;
    int level;            /* expected level, or -1 for a root */
    uint64_t count;       /* expected key count, or 0 for a root */
    bool is_last;
} bounds;

static void check_node(verifier *v, const cairn_id *id, const bounds *b);

static void check_values(verifier *v, const cairn_node *nd)
{
    uint32_t i;
    for (i = 0; i < nd->n && !v->stop; i++) {
        const cairn_id *vid = (const cairn_id *)(nd->bytes + nd->e[i].val_off);
        cairn_buf buf = {0};
        uint8_t *flags;
        if (!nd->e[i].is_ref)
            continue;
        if (!(flags = seen(v, &v->values, vid)))
            return;
        if (*flags != 0x80)
            continue;
        *flags |= SEEN_CHECKED;
        v->rep.values++;
        if (read_blob(v, vid, "value", &buf))
            cairn__free(buf.data);
    }
}

/* Checks nd against what its parent's entry (b) says, and the chunking
 * rule for its position; the first time nd is seen, also its encoding. */
static void check_structure(verifier *v, const cairn_node *nd, const bounds *b, const char *hex,
                            bool first_time)
{
    if (b->level >= 0 && nd->level != (uint32_t)b->level)
        problem(v, "node %s: level %u where %d was expected", hex, nd->level, b->level);
    if (b->count && nd->count != b->count)
        problem(v, "node %s: holds %llu keys, its parent says %llu", hex,
                (unsigned long long)nd->count, (unsigned long long)b->count);
    if (b->first && nd->n > 0 &&
        cairn__bytes_cmp(cairn__node_key(nd, 0), nd->e[0].key_len, b->first, b->first_len) != 0)
        problem(v, "node %s: first key differs from its parent's entry", hex);
    if (b->next && nd->n > 0 &&
        cairn__bytes_cmp(cairn__node_key(nd, nd->n - 1), nd->e[nd->n - 1].key_len, b->next,
                         b->next_len) >= 0)
        problem(v, "node %s: keys reach into its right sibling's range", hex);
    if (b->level != 0 && b->level != -1 && nd->n == 0)
        problem(v, "node %s: empty non-root node", hex);
    if (b->level == -1 && nd->level > 0 && nd->n == 1)
        problem(v, "node %s: a root with a single child is not the canonical shape (the "
                   "child would be the root)", hex);
    if (!cairn__node_obeys_rule(nd, v->ix.node_size, b->is_last))
        problem(v, "node %s: boundaries do not follow the chunking rule", hex);
    if (first_time && !canonical(v, nd))
        problem(v, "node %s: not canonically encoded", hex);
}

/* A node checked before, reached from another parent entry (or in another
 * position): the pair must agree too. Shared subtrees are the rule in a
 * store with history, so each (parent entry, child) pair is checked once
 * per distinct parent, and the child's subtree is not walked again. */
static void check_again(verifier *v, const cairn_id *id, const bounds *b)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_node *nd;
    int rc;

    if (cairn__is_empty_root(id))
        return;
    if ((rc = cairn__node_fetch(&v->ix, id, &nd))) {
        if (!out_of_memory(v, rc))
            cairn__detail_clear(); /* reported the first time it was read */
        return;
    }
    cairn_id_to_hex(id, hex);
    check_structure(v, nd, b, hex, false);
    cairn__node_release(nd);
}

static void check_node(verifier *v, const cairn_id *id, const bounds *b)
{
    char hex[CAIRN_ID_HEX + 1];
    cairn_buf buf = {0};
    cairn_node *nd;
    uint8_t *flags;
    uint32_t i;
    int rc;

    if (v->stop)
        return;
    if (!(flags = seen(v, &v->nodes, id)))
        return;
    if (*flags != 0x80) {
        check_again(v, id, b);
        return;
    }
    *flags |= SEEN_CHECKED;
    v->rep.nodes++;
    if (cairn__is_empty_root(id))
        return; /* its bytes are fixed; it need not be stored */
    if (!read_blob(v, id, "node", &buf))
        return;
    cairn_id_to_hex(id, hex);
    rc = cairn__node_decode(id, buf.data, buf.len, &nd);
    cairn__free(buf.data);
    if (rc) {
        if (!out_of_memory(v, rc))
            problem(v, "%s", cairn_errdetail());
        return;
    }
    /* Kept in the walk's node cache: a shared subtree's root is met again
     * from other parents (check_again), and must not be read again. */
    nd = cairn__cache_put(v->ix.cache, nd);
    check_structure(v, nd, b, hex, true);
    if (nd->level == 0) {
        check_values(v, nd);
    } else {
        read_ahead(v, nd);
        for (i = 0; i < nd->n && !v->stop; i++) {
            bounds cb = {
                .first = cairn__node_key(nd, i), .first_len = nd->e[i].key_len,
                .next = i + 1 < nd->n ? cairn__node_key(nd, i + 1) : b->next,
                .next_len = i + 1 < nd->n ? nd->e[i + 1].key_len : b->next_len,
                .level = (int)nd->level - 1, .count = cairn__entry_count(nd, i),
                .is_last = b->is_last && i + 1 == nd->n,
            };
            check_node(v, cairn__node_child(nd, i), &cb);
        }
    }
    cairn__node_release(nd);
}

static void check_tree(verifier *v, const cairn_id *root)
{
    bounds b = {.level = -1, .is_last = true};
    check_node(v, root, &b);
}

/* Per commit: the keys its keyspaces hold, summed while they are checked. */
typedef struct space_sum {
    verifier *v;
    uint64_t keys;
    bool known; /* false once a keyspace root could not be counted */
} space_sum;

static int check_space(void *ctx, const uint8_t *name, size_t name_len, const cairn_id *root)
{
    space_sum *sum = ctx;
    verifier *v = sum->v;
    uint64_t keys;
    int rc = 0;

    check_tree(v, root);
    if (cairn__is_empty_root(root))
        problem(v, "catalog lists keyspace '%.*s' with the empty tree (an empty keyspace is "
                   "absent from the catalog)",
                (int)(name_len < 200 ? name_len : 200), (const char *)name);
    if (sum->known && (rc = cairn__tree_count(&v->ix, root, &keys)) == 0)
        sum->keys += keys;
    else if (!out_of_memory(v, rc))
        sum->known = false;
    if (!v->err)
        cairn__detail_clear();
    return v->stop;
}

/* Checks what a commit says against its parent (read quietly: the walk
 * reports a parent that is missing or broken when it gets there) and
 * against the bytes it was read from. */
static void check_commit_fields(verifier *v, const cairn_commit_info *info, size_t msg_len,
                                const cairn_buf *buf)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    char hex[13];
    int rc;

    cairn__id_short(&info->id, hex);
    rc = cairn__commit_encode(info, msg_len, &bytes, &len);
    if (out_of_memory(v, rc)) {
        cairn__free(bytes);
        return;
    }
    if (rc == 0 && (len != buf->len || memcmp(bytes, buf->data, len) != 0))
        problem(v, "commit %s: not canonically encoded (re-encoding it gives other bytes)",
                hex);
    cairn__free(bytes);
    if (info->history_dropped) {
        /* gc dropped the parent: nothing to check it against */
    } else if (!info->has_parent) {
        if (info->seq != 1)
            problem(v, "commit %s: a first commit with seq %llu (want 1)", hex,
                    (unsigned long long)info->seq);
    } else {
        cairn_buf pbuf = {0};
        cairn_commit_info parent;
        if ((rc = cairn__stack_get(v->ix.stack, &info->parent, &pbuf)) == 0 &&
            (rc = cairn__commit_decode(&info->parent, pbuf.data, pbuf.len, &parent, NULL)) ==
                0) {
            if (info->seq != parent.seq + 1)
                problem(v, "commit %s: seq %llu after a parent with seq %llu", hex,
                        (unsigned long long)info->seq, (unsigned long long)parent.seq);
            if (info->writer_epoch < parent.writer_epoch)
                problem(v, "commit %s: writer epoch %llu below its parent's %llu", hex,
                        (unsigned long long)info->writer_epoch,
                        (unsigned long long)parent.writer_epoch);
            cairn_commit_info_clear(&parent);
        }
        cairn__free(pbuf.data);
        if (!out_of_memory(v, rc))
            cairn__detail_clear();
    }
}

/* Checks one commit and its ancestors not yet seen. */
static void check_commits(verifier *v, const cairn_id *head)
{
    cairn_id id = *head;
    for (;;) {
        char where[64], hex[13];
        cairn_commit_info info;
        cairn_buf buf = {0};
        space_sum sum;
        size_t msg_len;
        uint8_t *flags;
        int rc;

        if (v->stop || !(flags = seen(v, &v->commits, &id)) || *flags != 0x80)
            return;
        *flags |= SEEN_CHECKED;
        v->rep.commits++;
        if (!read_blob(v, &id, "commit", &buf))
            return;
        rc = cairn__commit_decode(&id, buf.data, buf.len, &info, &msg_len);
        if (!rc)
            info.history_dropped = info.has_parent && cairn__idset_has(&v->boundary, &id);
        if (rc) {
            cairn__free(buf.data);
            if (!out_of_memory(v, rc))
                problem(v, "%s", cairn_errdetail());
            return;
        }
        check_commit_fields(v, &info, msg_len, &buf);
        cairn__free(buf.data);
        snprintf(where, sizeof(where), "commit %s", cairn__id_short(&id, hex));
        v->where = where;
        check_tree(v, &info.catalog);
        /* Each keyspace root, unless the catalog itself is broken; their
         * key counts must add up to the commit's. */
        sum = (space_sum){v, 0, true};
        if (!v->stop && (rc = cairn__catalog_each(&v->ix, &info.catalog, check_space, &sum)) &&
            !out_of_memory(v, rc) && !v->stop) {
            problem(v, "catalog %s unreadable: %s", cairn__id_short(&info.catalog, hex),
                    cairn_errdetail());
        } else if (!v->stop && sum.known && sum.keys != info.key_count) {
            problem(v, "key_count %llu, but its keyspaces hold %llu keys",
                    (unsigned long long)info.key_count, (unsigned long long)sum.keys);
        }
        v->where = NULL;
        if (!info.has_parent || info.history_dropped) { /* the end, or gc's boundary */
            cairn_commit_info_clear(&info);
            return;
        }
        id = info.parent;
        cairn_commit_info_clear(&info);
    }
}

static int check_ref(void *ctx, const char *name, const cairn_id *commit)
{
    verifier *v = ctx;

    if (!commit) {
        problem(v, "ref '%s': its stored value is damaged", name);
        return v->stop;
    }
    if (strncmp(name, "heads/", 6) != 0 && strncmp(name, "tags/", 5) != 0)
        return 0; /* meta/config names the settings, read at open */
    v->rep.refs++;
    check_commits(v, commit);
    return v->stop;
}

/* The tier's settings blob: present (if the tier has branches or tags),
 * canonical, and the node size the store is read with. */
static void check_settings(verifier *v, size_t k, bool has_refs)
{
    cairn_tier *t = cairn__stack_tier(v->db->stack, k);
    uint8_t *bytes = NULL;
    cairn_buf buf = {0};
    uint32_t node_size;
    size_t len = 0;
    cairn_id id;
    int rc;

    if ((rc = cairn__tier_ref_get(t, CAIRN_CONFIG_REF, &id))) {
        bool holds = false;
        if (out_of_memory(v, rc))
            return;
        if (rc != CAIRN_NOTFOUND || has_refs) {
            problem(v, "no settings (ref meta/config): %s",
                    rc == CAIRN_NOTFOUND ? "missing" : cairn_errdetail());
            return;
        }
        /* No refs at all: a new store, unless it holds blobs (its refs were
         * lost; at most a settings blob is left by a creation cut short). */
        if ((rc = cairn__tier_holds_data(v->db->stack, k, &holds)) == 0 && holds)
            problem(v, "the tier holds blobs but no refs and no settings: its refs were lost");
        if (!out_of_memory(v, rc))
            cairn__detail_clear();
        return;
    }
    if (!read_blob(v, &id, "settings", &buf))
        return;
    if ((rc = cairn__config_decode(&buf, &node_size)))
        problem(v, "settings: %s", cairn_errdetail());
    else if (node_size != v->ix.node_size)
        problem(v, "settings: node size %u, but the store is read with %u", node_size,
                v->ix.node_size);
    else if (out_of_memory(v, rc = cairn__config_encode(node_size, &bytes, &len)))
        ;
    else if (rc == 0 && (len != buf.len || memcmp(bytes, buf.data, len) != 0))
        problem(v, "settings: not canonically encoded");
    cairn__free(bytes);
    cairn__free(buf.data);
}

/* Checks every ref of ref tier k on its own: blobs are read from that tier
 * alone, through a node cache of its own, so that each ref tier must hold
 * everything its refs reach. */
/* The tier's retention policy, if it has one, must decode: a damaged one
 * stops gc (retention.c). */
static void check_retention(verifier *v, size_t k)
{
    cairn_tier *t = cairn__stack_tier(v->db->stack, k);
    cairn_buf buf = {0};
    cairn_retention policy;
    cairn_id id;
    int rc;

    if ((rc = cairn__tier_ref_get(t, CAIRN_RETENTION_REF, &id))) {
        if (rc == CAIRN_NOTFOUND)
            cairn__detail_clear();
        else if (!out_of_memory(v, rc))
            problem(v, "retention policy (ref meta/retention): %s", cairn_errdetail());
        return;
    }
    if (!read_blob(v, &id, "retention policy", &buf))
        return;
    if ((rc = cairn__retention_decode(&id, buf.data, buf.len, &policy)) && !out_of_memory(v, rc))
        problem(v, "retention policy: %s", cairn_errdetail());
    cairn__free(buf.data);
}

static int check_tier(verifier *v, size_t k, bool name_it)
{
    cairn_tier *t = cairn__stack_tier(v->db->stack, k);
    uint64_t refs_before;
    cairn_stack *view;
    int rc;

    if ((rc = cairn__stack_view(v->db->stack, k, &view)))
        return rc;
    if ((rc = cairn__cache_open(16u << 20, &v->ix.cache))) {
        cairn__stack_close(view);
        return rc;
    }
    v->ix.stack = view;
    v->tier = name_it ? t->spec : NULL;
    v->tier_k = k;
    refs_before = v->rep.refs;
    bool has_boundary;
    if ((rc = cairn__boundary_load_tier(t, &v->boundary, &has_boundary)) && !out_of_memory(v, rc))
        problem(v, "its boundary list: %s", cairn_errdetail());
    rc = cairn__tier_ref_list(t, "", check_ref, v);
    if (rc >= 0 && !v->stop)
        check_settings(v, k, v->rep.refs > refs_before);
    if (rc >= 0 && !v->stop)
        check_retention(v, k);
    if (rc < 0)
        cairn__fail_context(rc, "listing the refs of tier '%s'", t->spec);
    cairn__cache_close(v->ix.cache);
    cairn__stack_close(view);
    ahead_free(v);
    seen_free(&v->nodes);
    seen_free(&v->values);
    seen_free(&v->commits);
    cairn__idset_free(&v->boundary);
    return rc < 0 ? rc : 0;
}

static int run(cairn_db *db, bool repair, cairn_problem_fn fn, void *ctx,
               cairn_verify_report *report)
{
    verifier v = {.db = db, .fn = fn, .ctx = ctx, .repair = repair};
    size_t primary = cairn__stack_primary(db->stack), n = cairn__stack_n_tiers(db->stack);
    size_t ref_tiers = 0;
    int rc = 0;

    cairn__detail_clear();
    v.ix = db->ix;
    for (size_t k = primary; k < n; k++)
        ref_tiers += !cairn__stack_tier(db->stack, k)->is_cache;
    for (size_t k = primary; k < n && !rc && !v.stop; k++) {
        if (cairn__stack_tier(db->stack, k)->is_cache)
            continue;
        rc = check_tier(&v, k, ref_tiers > 1);
        v.rep.tiers++;
    }
    if (report)
        *report = v.rep;
    if (rc < 0)
        return rc;
    if (v.err)
        return v.err;
    return v.rep.problems ? CAIRN_VERIFY : 0;
}

int cairn_verify(cairn_db *db, cairn_problem_fn fn, void *ctx, cairn_verify_report *report)
{
    return run(db, false, fn, ctx, report);
}

int cairn_repair(cairn_db *db, cairn_problem_fn fn, void *ctx, cairn_verify_report *report)
{
    if (db->flags & CAIRN_RDONLY)
        return cairn__fail(CAIRN_RDONLY_STORE, "cannot repair a store opened read-only");
    return run(db, true, fn, ctx, report);
}
