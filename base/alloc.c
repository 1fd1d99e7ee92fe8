/*
 * alloc.c - the library's one door to the heap (alloc.h). The only file of
 * library code that calls libc's allocator.
 */
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The installed allocator; NULL functions mean libc's. Written only while
 * no store is open (cairn_set_allocator), so reads need no lock. */
static cairn_allocator current;

void cairn__alloc_set(const cairn_allocator *a)
{
    if (a)
        current = *a;
    else
        memset(&current, 0, sizeof(current));
}

void *cairn__malloc(size_t size)
{
    if (!size)
        size = 1;
    if (!current.malloc_fn)
        return malloc(size);
    return current.malloc_fn(current.ctx, size);
}

void *cairn__calloc(size_t count, size_t size)
{
    void *p;

    if (size && count > SIZE_MAX / size)
        return NULL;
    if (!current.malloc_fn)
        return calloc(count ? count : 1, size ? size : 1);
    if ((p = cairn__malloc(count * size)))
        memset(p, 0, count * size);
    return p;
}

void *cairn__realloc(void *p, size_t size)
{
    if (!size)
        size = 1;
    if (!current.malloc_fn)
        return realloc(p, size);
    if (!p)
        return current.malloc_fn(current.ctx, size);
    return current.realloc_fn(current.ctx, p, size);
}

void *cairn__reallocarray(void *p, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return cairn__realloc(p, count * size);
}

void cairn__free(void *p)
{
    if (!p)
        return;
    if (!current.malloc_fn)
        free(p);
    else
        current.free_fn(current.ctx, p);
}

char *cairn__strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = cairn__malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

char *cairn__strdup(const char *s)
{
    return cairn__strndup(s, SIZE_MAX);
}

void *cairn__memdup(const void *p, size_t n)
{
    void *copy = cairn__malloc(n);

    if (copy && n)
        memcpy(copy, p, n);
    return copy;
}
