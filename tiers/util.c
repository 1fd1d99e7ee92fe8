/*
 * util.c - error codes and details, ids and hashing, and the small parsers
 * (sizes, "k=v&k=v" options) that tier specs use.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "tier.h"

/* ---------------------------------------------------------------- details */

/* The calling thread's last detailed message. Thread-local so that readers
 * in many threads never see each other's failures. */
static _Thread_local char detail[1024];

int cairn__fail(int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return rc;
}

/* Appends s to buf (capacity cap) at *pos, cutting it short if it does not
 * fit: a detail is a message, and its start matters most. */
static void append(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t len = strlen(s);

    if (len > cap - 1 - *pos)
        len = cap - 1 - *pos;
    memcpy(buf + *pos, s, len);
    *pos += len;
    buf[*pos] = '\0';
}

int cairn__fail_context(int rc, const char *fmt, ...)
{
    char context[sizeof(detail)];
    char inner[sizeof(detail)];
    size_t pos = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    if (detail[0])
        memcpy(inner, detail, sizeof(inner));
    else
        snprintf(inner, sizeof(inner), "%s", cairn_strerror(rc));
    append(detail, sizeof(detail), &pos, context);
    append(detail, sizeof(detail), &pos, ": ");
    append(detail, sizeof(detail), &pos, inner);
    return rc;
}

void cairn__detail_clear(void)
{
    detail[0] = '\0';
}

const char *cairn_errdetail(void)
{
    return detail;
}

/* ---------------------------------------------------------------- codes */

/* Names of the errno values a storage engine meets in practice. Anything
 * else is named by the C library if it can, or as "E<number>". */
#define CAIRN__ERRNO_NAMES(XX)                                                   \
    XX(EPERM) XX(ENOENT) XX(EIO) XX(EBADF) XX(EAGAIN) XX(ENOMEM) XX(EACCES)       \
    XX(EBUSY) XX(EEXIST) XX(EXDEV) XX(ENOTDIR) XX(EISDIR) XX(EINVAL) XX(EMFILE)   \
    XX(ENFILE) XX(EFBIG) XX(ENOSPC) XX(EROFS) XX(EPIPE) XX(ERANGE) XX(ENAMETOOLONG) \
    XX(ENOSYS) XX(ENOTEMPTY) XX(ELOOP) XX(ENOTSUP) XX(ETIMEDOUT) XX(ECONNREFUSED) \
    XX(ECONNRESET) XX(EINTR) XX(EDQUOT) XX(ESTALE) XX(EOVERFLOW)

const char *cairn_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
#define CAIRN__ERR_MSG(name, value, msg)                                         \
    case CAIRN_##name:                                                           \
        return msg;
        CAIRN_ERRNO_MAP(CAIRN__ERR_MSG)
#undef CAIRN__ERR_MSG
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        /* strerrordesc_np returns static text and is thread-safe. */
        const char *msg = strerrordesc_np(-rc);
        if (msg)
            return msg;
#else
        return strerror(-rc);
#endif
    }
    return "unknown error";
}

const char *cairn_errname(int rc)
{
    /* A few buffers in turn, so one printf may name two unusual codes. */
    static _Thread_local char other[4][24];
    static _Thread_local unsigned next;
    char *buf;

    switch (rc) {
    case 0:
        return "OK";
#define CAIRN__ERR_NAME(name, value, msg)                                        \
    case CAIRN_##name:                                                           \
        return "CAIRN_" #name;
        CAIRN_ERRNO_MAP(CAIRN__ERR_NAME)
#undef CAIRN__ERR_NAME
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        switch (-rc) {
#define CAIRN__ERRNO_CASE(name)                                                  \
    case name:                                                                   \
        return #name;
            /* EWOULDBLOCK == EAGAIN and EOPNOTSUPP == ENOTSUP on Linux. */
            CAIRN__ERRNO_NAMES(CAIRN__ERRNO_CASE)
#undef CAIRN__ERRNO_CASE
        default:
            break;
        }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        {
            const char *name = strerrorname_np(-rc);
            if (name)
                return name;
        }
#endif
        buf = other[next++ % 4];
        snprintf(buf, sizeof(other[0]), "E%d", -rc);
        return buf;
    }
    buf = other[next++ % 4];
    snprintf(buf, sizeof(other[0]), "UNKNOWN(%d)", rc);
    return buf;
}

const char *cairn_version(void)
{
    return CAIRN_VERSION_STRING;
}

/* ---------------------------------------------------------------- ids */

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
/* Fetching the digest once avoids OpenSSL 3's implicit fetch (a provider
 * lookup under a lock) on every hash; reads hash every blob they load. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}
#endif

/* Hashes with EVP_Digest. It can fail only when OpenSSL cannot allocate its
 * context; the id is then all zero bytes, which matches no real blob, so a
 * read check reports corruption instead of passing (see the report on
 * util.h: returning int would be better). */
void cairn__sha256(const void *data, size_t len, cairn_id *out)
{
    const EVP_MD *md = EVP_sha256();
    unsigned int out_len = 0;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md)
        md = sha256_md;
#endif
    if (!EVP_Digest(len ? data : "", len, out->bytes, &out_len, md, NULL) ||
        out_len != sizeof(out->bytes))
        memset(out->bytes, 0, sizeof(out->bytes));
}

static const char hex_digits[] = "0123456789abcdef";

static void hex_encode(const uint8_t *bytes, size_t n, char *hex)
{
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = hex_digits[bytes[i] >> 4];
        hex[2 * i + 1] = hex_digits[bytes[i] & 15];
    }
    hex[2 * n] = '\0';
}

const char *cairn__id_short(const cairn_id *id, char buf[13])
{
    hex_encode(id->bytes, 6, buf);
    return buf;
}

void cairn_id_to_hex(const cairn_id *id, char hex[CAIRN_ID_HEX + 1])
{
    hex_encode(id->bytes, sizeof(id->bytes), hex);
}

int cairn_id_from_hex(const char *hex, cairn_id *out)
{
    cairn_id id;

    if (!hex)
        return cairn__fail(CAIRN_BADARG, "id is NULL");
    for (size_t i = 0; i < sizeof(id.bytes); i++) {
        int hi = cairn__hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : cairn__hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return cairn__fail(CAIRN_BADARG, "bad id '%.80s': want 64 hex digits", hex);
        id.bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[CAIRN_ID_HEX] != '\0')
        return cairn__fail(CAIRN_BADARG, "bad id '%.80s': longer than 64 hex digits", hex);
    *out = id;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

/* Accepts decimal digits, an optional K/M/G/T (powers of 1024, any case),
 * then an optional "B", or "iB" after a unit. Rejects signs, spaces, an
 * empty string and values above UINT64_MAX. Zero is accepted; callers that
 * need a positive size say so. */
int cairn__parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    uint64_t value = 0;
    unsigned shift = 0;

    if (!s || !isdigit((unsigned char)*p))
        return cairn__fail(CAIRN_BADARG, "bad size '%s': want digits and K, M, G or T",
                           s ? s : "(null)");
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return cairn__fail(CAIRN_BADARG, "bad size '%s': too large", s);
        value = value * 10 + digit;
    }
    switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift) {
        p++;
        if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'b' || p[1] == 'B'))
            p += 2;
        else if (p[0] == 'b' || p[0] == 'B')
            p++;
    } else if (p[0] == 'b' || p[0] == 'B') {
        p++;
    }
    if (*p)
        return cairn__fail(CAIRN_BADARG, "bad size '%s': unexpected '%s'", s, p);
    if (shift && value > (UINT64_MAX >> shift))
        return cairn__fail(CAIRN_BADARG, "bad size '%s': too large", s);
    *out = value << shift;
    return 0;
}

/* Splits a private copy of opts on '&' and each pair on its first '='.
 * Empty pairs ("a=1&&b=2", a trailing '&'), a missing '=' and an empty key
 * are CAIRN_BADSPEC; an empty value ("k=") is passed on as "". */
int cairn__opts_each(const char *opts, int (*fn)(void *ctx, const char *key, const char *val),
                     void *ctx)
{
    char *copy, *pair, *next;
    int rc = 0;

    if (!opts || !*opts)
        return 0;
    if (!(copy = strdup(opts)))
        return cairn__fail(CAIRN_NOMEM, "options '%s': out of memory", opts);
    for (pair = copy; pair; pair = next) {
        char *eq;

        if ((next = strchr(pair, '&')))
            *next++ = '\0';
        if (!*pair) {
            rc = cairn__fail(CAIRN_BADSPEC, "options '%s': empty option", opts);
            break;
        }
        if (!(eq = strchr(pair, '=')) || eq == pair) {
            rc = cairn__fail(CAIRN_BADSPEC, "options '%s': '%s' is not key=value", opts, pair);
            break;
        }
        *eq = '\0';
        if ((rc = fn(ctx, pair, eq + 1)))
            break;
    }
    free(copy);
    return rc;
}

/* ---------------------------------------------------------------- files */

int cairn__mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    struct stat st;

    if (strlen(path) >= sizeof(buf))
        return cairn__fail(-ENAMETOOLONG, "path '%.60s...' is too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return cairn__fail(-errno, "cannot create directory '%s': %s", buf,
                               strerror(errno));
        *p = saved;
        if (!saved)
            break;
    }
    if (stat(path, &st) != 0)
        return cairn__fail(-errno, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cairn__fail(-ENOTDIR, "'%s' is not a directory", path);
    return 0;
}

int cairn__store_lock(_Atomic int *slot, int dirfd, const char *store_path, bool acquire)
{
    char path[PATH_MAX];
    int fd, expected = -1;

    if (!acquire) {
        if ((fd = atomic_exchange(slot, -1)) >= 0)
            close(fd); /* releases the flock */
        return 0;
    }
    if (atomic_load(slot) >= 0)
        return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
    if (dirfd == AT_FDCWD)
        snprintf(path, sizeof(path), "%s/cairn.lock", store_path);
    else
        snprintf(path, sizeof(path), "cairn.lock");
    if ((fd = openat(dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return cairn__fail(-errno, "store %s: cannot open cairn.lock: %s", store_path,
                           strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
        return cairn__fail(-err, "store %s: cannot lock cairn.lock: %s", store_path,
                           strerror(err));
    }
    if (!atomic_compare_exchange_strong(slot, &expected, fd)) {
        close(fd); /* another thread of this handle won the race */
        return cairn__fail(CAIRN_BUSY, "store %s is locked by another writer", store_path);
    }
    return 0;
}
