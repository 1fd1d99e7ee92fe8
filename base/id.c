/* id.c - blob ids: SHA-256 and hex. */
#include "id.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include "error.h"

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
 * context: then the id is all zero bytes, which matches no real blob, and
 * the result CAIRN_NOMEM. */
int cairn__sha256(const void *data, size_t len, cairn_id *out)
{
    const EVP_MD *md = EVP_sha256();
    unsigned int out_len = 0;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md)
        md = sha256_md;
#endif
    if (!EVP_Digest(len ? data : "", len, out->bytes, &out_len, md, NULL) ||
        out_len != sizeof(out->bytes)) {
        memset(out->bytes, 0, sizeof(out->bytes));
        return cairn__fail(CAIRN_NOMEM, "SHA-256 of %zu bytes: OpenSSL is out of memory", len);
    }
    return 0;
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
