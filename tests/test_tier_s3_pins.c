/*
 * test_tier_s3_pins.c - pins of the S3 tier (tier.h) against the real S3
 * fixture (scripts/s3-server.sh run): PREFIX/pins/NAME objects, put,
 * replaced, listed and deleted (check_tier_pins), written by a handle
 * opened read-only, and objects left there behind the tier's back: one too
 * large is listed unread, keys that are no pin names are skipped.
 */
#include <unistd.h>

#include "client.h"
#include "s3_int.h"
#include "test.h"
#include "tier.h"
#include "tierutil.h"

static cairn_tier *open_tier(const char *spec, unsigned flags)
{
    cairn_tier *t;
    ASSERT_OK(cairn__tier_open(spec, flags, &t));
    return t;
}

/* PUTs body as PREFIX/rest behind the tier's back. */
static void raw_put(cairn_tier *t, const char *rest, const void *body, size_t len)
{
    s3_tier *st = (s3_tier *)t;
    char key[512];

    snprintf(key, sizeof(key), "%s%s", st->prefix, rest);
    cairn_s3_request r = {.method = CAIRN_S3_PUT, .key = key, .body = body, .body_len = len};
    ASSERT_OK(cairn__s3_run(st->client, &r, 1));
    ASSERT_OK(r.rc);
    cairn__s3_request_reset(&r, 1);
}

int main(void)
{
    const char *bucket = test_s3_bucket();
    char spec[512];
    size_t len;
    bool unread;

    test_seed_init(13);
    snprintf(spec, sizeof(spec), "s3://%s/pins-%ld", bucket, (long)getpid());
    cairn_tier *t = open_tier(spec, 0);
    test_blob b = make_blob(test_seed, 100);
    cairn_blob c = as_blob(&b);
    ASSERT_OK(cairn__tier_publish(t, &c, 1, "heads/main", NULL, &b.id));
    check_tier_pins(t, spec);

    /* A reader's handle (read-only) pins; the writer's sees it. */
    cairn_tier *r = open_tier(spec, CAIRN_RDONLY);
    ASSERT_OK(cairn__tier_pin_put(r, "reader-1", "lease", 5));
    ASSERT_RC(put_one(r, &b), CAIRN_RDONLY_STORE);
    char got[CAIRN_PIN_RECORD_MAX];
    ASSERT_EQ(list_pins(t, "reader-1", got, &len, NULL), 1);
    ASSERT_MEM_EQ(got, len, "lease", 5);
    ASSERT_OK(cairn__tier_pin_delete(r, "reader-1"));
    cairn__tier_close(r);

    /* Behind the tier's back. */
    static char big[3000];
    memset(big, 'b', sizeof(big));
    raw_put(t, "pins/huge", big, sizeof(big));
    raw_put(t, "pins/.hidden", "x", 1);
    raw_put(t, "pins/a/b", "x", 1);
    raw_put(t, "pins/garbage", "\xff\x01 junk", 7);
    ASSERT_EQ(list_pins(t, "huge", NULL, &len, &unread), 2); /* huge and garbage */
    ASSERT_TRUE(unread);
    ASSERT_EQ(len, sizeof(big));
    list_pins(t, "garbage", got, &len, &unread);
    ASSERT_TRUE(!unread);
    ASSERT_MEM_EQ(got, len, "\xff\x01 junk", 7);
    ASSERT_OK(cairn__tier_pin_delete(t, "huge"));
    ASSERT_OK(cairn__tier_pin_delete(t, "garbage"));
    ASSERT_EQ(list_pins(t, NULL, NULL, NULL, NULL), 0);
    cairn__tier_close(t);
    free(b.data);
    printf("%s: a read-only handle pins; a record too large is listed unread; keys that are "
           "no pin names are skipped\nok\n", spec);
    return 0;
}
