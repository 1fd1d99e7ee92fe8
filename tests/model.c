/* model.c - the sorted map of model.h. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

struct model_box {
    size_t refs;
    size_t len;
    uint8_t bytes[];
};

int model_key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (al > bl) - (al < bl);
}

size_t model_find(const model *m, const void *key, size_t len, bool *found)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (model_key_cmp(m->v[mid].key, m->v[mid].key_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->n && model_key_cmp(m->v[lo].key, m->v[lo].key_len, key, len) == 0;
    return lo;
}

static void box_release(model_box *box)
{
    if (box && --box->refs == 0)
        free(box);
}

static void grow(model *m, size_t want)
{
    if (want <= m->cap)
        return;
    m->cap = m->cap ? m->cap : 64;
    while (m->cap < want)
        m->cap *= 2;
    m->v = realloc(m->v, m->cap * sizeof(*m->v));
    if (!m->v)
        TEST_FAIL("model: out of memory");
}

void model_put(model *m, const void *key, size_t len, const void *val, size_t val_len)
{
    model_box *box = malloc(sizeof(*box) + val_len);
    bool found;
    size_t i;

    if (!box)
        TEST_FAIL("model: out of memory");
    if (len > MODEL_KEY_MAX)
        TEST_FAIL("model: key of %zu bytes (at most %d)", len, MODEL_KEY_MAX);
    box->refs = 1;
    box->len = val_len;
    if (val_len)
        memcpy(box->bytes, val, val_len);
    i = model_find(m, key, len, &found);
    if (found) {
        box_release(m->v[i].box);
    } else {
        grow(m, m->n + 1);
        memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
        m->n++;
        if (len)
            memcpy(m->v[i].key, key, len);
        m->v[i].key_len = len;
    }
    m->v[i].box = box;
    m->v[i].val = box->bytes;
    m->v[i].val_len = val_len;
}

bool model_del(model *m, const void *key, size_t len)
{
    bool found;
    size_t i = model_find(m, key, len, &found);

    if (!found)
        return false;
    box_release(m->v[i].box);
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
    m->n--;
    return true;
}

bool model_equal(const model *a, const model *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const model_entry *x = &a->v[i], *y = &b->v[i];
        if (model_key_cmp(x->key, x->key_len, y->key, y->key_len) != 0)
            return false;
        if (x->box != y->box &&
            (x->val_len != y->val_len || memcmp(x->val, y->val, x->val_len) != 0))
            return false;
    }
    return true;
}

model model_copy(const model *m)
{
    model c = {0};

    if (!m->n)
        return c;
    grow(&c, m->n);
    memcpy(c.v, m->v, m->n * sizeof(*m->v));
    c.n = m->n;
    for (size_t i = 0; i < c.n; i++)
        c.v[i].box->refs++;
    return c;
}

void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++)
        box_release(m->v[i].box);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

model_range model_range_open(const model *m, const void *lo, size_t lo_len, const void *hi,
                             size_t hi_len, bool reverse)
{
    model_range r;
    bool found;

    r.a = lo ? model_find(m, lo, lo_len, &found) : 0;
    r.b = hi ? model_find(m, hi, hi_len, &found) : m->n;
    r.reverse = reverse;
    r.i = reverse ? r.b : r.a;
    return r;
}

size_t model_range_count(const model_range *r)
{
    return r->b > r->a ? r->b - r->a : 0;
}

void model_range_seek(const model *m, model_range *r, const void *key, size_t len)
{
    bool found;

    r->i = model_find(m, key, len, &found);
    if (!r->reverse) {
        if (r->i < r->a)
            r->i = r->a;
    } else {
        if (found) /* one past the last key <= key */
            r->i++;
        if (r->i > r->b)
            r->i = r->b;
    }
}

const model_entry *model_range_next(const model *m, model_range *r)
{
    if (!r->reverse)
        return r->i < r->b && r->i < m->n ? &m->v[r->i++] : NULL;
    return r->i > r->a && r->i > 0 ? &m->v[--r->i] : NULL;
}
