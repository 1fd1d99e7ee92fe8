/*
 * model.h - a plain sorted map of byte strings: the model that randomized
 * tests compare cairn with (tests/test_engine_model.c,
 * tests/test_engine_scale.c).
 *
 * Entries are kept in one array sorted by key (unsigned bytewise, then
 * length: cairn's order). Values are immutable, reference-counted boxes, so
 * copying a model (one per remembered commit) copies the entry array and
 * bumps counts, but never the value bytes. A model's entries are read
 * directly: m->v[i].key / key_len, m->v[i].val / val_len. Allocation
 * failures end the test (TEST_FAIL).
 */
#ifndef CAIRN_TEST_MODEL_H
#define CAIRN_TEST_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key a model holds, in bytes. */
#define MODEL_KEY_MAX 48

typedef struct model_box model_box; /* a shared value: count and bytes */

typedef struct model_entry {
    char key[MODEL_KEY_MAX];
    size_t key_len;
    const uint8_t *val; /* points into box; never NULL (a zero-length value too) */
    size_t val_len;
    model_box *box;
} model_entry;

typedef struct model {
    model_entry *v; /* sorted by key */
    size_t n, cap;
} model;

/* cairn's key order: memcmp, then the shorter first. */
int model_key_cmp(const void *a, size_t al, const void *b, size_t bl);

/* Returns the index of the first entry with a key >= key; *found says
 * whether that entry's key is key. */
size_t model_find(const model *m, const void *key, size_t len, bool *found);

/* Sets key to a copy of the value's bytes. key_len <= MODEL_KEY_MAX. */
void model_put(model *m, const void *key, size_t len, const void *val, size_t val_len);

/* Removes key; returns whether it was there. */
bool model_del(model *m, const void *key, size_t len);

/* Whether a and b hold the same keys with the same values. */
bool model_equal(const model *a, const model *b);

/* Returns a copy of m sharing its value boxes. */
model model_copy(const model *m);

/* Frees m's entries and zeroes it. Accepts a zeroed model. */
void model_free(model *m);

/* What an iterator over the keys lo <= key < hi of a model must return, in
 * order (cairn_iter_open's bounds; NULL: unbounded). */
typedef struct model_range {
    size_t a, b;  /* the entries in range: [a, b) */
    size_t i;     /* forward: the next entry; reverse: one past it */
    bool reverse;
} model_range;

model_range model_range_open(const model *m, const void *lo, size_t lo_len, const void *hi,
                             size_t hi_len, bool reverse);
/* How many entries are in the range (what cairn_count says). */
size_t model_range_count(const model_range *r);
/* Moves as cairn_iter_seek does: forward, to the first entry >= key;
 * reverse, to the last <= key; within the range either way. */
void model_range_seek(const model *m, model_range *r, const void *key, size_t len);
/* The next entry the iterator returns, or NULL past the end. */
const model_entry *model_range_next(const model *m, model_range *r);

#endif /* CAIRN_TEST_MODEL_H */
