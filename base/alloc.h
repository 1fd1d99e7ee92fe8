/*
 * alloc.h - every allocation of the library goes through these functions,
 * which call the allocator installed with cairn_set_allocator (libc's by
 * default). Library code (base/, tiers/, index/, engine/) never calls
 * malloc, calloc, realloc, strdup or free itself; tests/lint/no_raw_alloc.sh
 * fails the suite if it does. Memory from one of these is released with
 * cairn__free, never with free().
 *
 * Third-party libraries allocate on their own (LMDB, liburing, libcrypto):
 * their memory is not counted here (docs/architecture.md, "Memory").
 */
#ifndef CAIRN_ALLOC_H
#define CAIRN_ALLOC_H

#include <stddef.h>

#include "cairn.h"

/* Returns size bytes (a zero size counts as one), or NULL when the
 * allocator refuses. */
void *cairn__malloc(size_t size);
/* Returns count * size zeroed bytes, or NULL if the product overflows or
 * the allocator refuses. */
void *cairn__calloc(size_t count, size_t size);
/* Resizes p (NULL: allocates) to size bytes (a zero size counts as one).
 * On failure returns NULL and p is left as it was, still owned by the
 * caller: write `if (!(q = cairn__realloc(p, n))) goto fail; p = q;`. */
void *cairn__realloc(void *p, size_t size);
/* Like cairn__realloc for count * size bytes; NULL on overflow as well. */
void *cairn__reallocarray(void *p, size_t count, size_t size);
/* Releases p. Accepts NULL. */
void cairn__free(void *p);
/* A copy of the NUL-terminated s, or NULL. */
char *cairn__strdup(const char *s);
/* A NUL-terminated copy of at most n bytes of s, or NULL. */
char *cairn__strndup(const char *s, size_t n);
/* A copy of the n bytes at p (n may be 0: a one-byte allocation), or NULL. */
void *cairn__memdup(const void *p, size_t n);

/* Installs a (NULL: libc's). Called by cairn_set_allocator, which checks
 * that no store is open. */
void cairn__alloc_set(const cairn_allocator *a);

#endif /* CAIRN_ALLOC_H */
