/*
 * test_resp_out.c - the reply encoder of `cairn serve` (cli/serve/resp.h):
 * every type's exact bytes in RESP2 and RESP3, marks (lengths known only at
 * the end), values appended by reference (released once, only when
 * written), the sticky out-of-memory state, and a model run that appends
 * random replies while writing them out in random partial writes through
 * iovecs, against the byte string they must make.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "resp.h"
#include "bytesutil.h"
#include "test.h"

#define LIT(s) (s), (sizeof(s) - 1)

/* Writes n of o's pending bytes into dst as a server would: gathers at most
 * max_iov iovecs, "writes" what fits, consumes that. */
static void write_out(resp_out *o, bytes *dst, size_t n, int max_iov)
{
    struct iovec iov[16];

    while (n > 0) {
        int k = resp_out_iov(o, iov, max_iov);
        size_t wrote = 0;

        ASSERT_TRUE(k >= 1 && k <= max_iov);
        for (int i = 0; i < k && wrote < n; i++) {
            size_t take = iov[i].iov_len < n - wrote ? iov[i].iov_len : n - wrote;
            ASSERT_TRUE(iov[i].iov_len > 0);
            bytes_add(dst, iov[i].iov_base, take);
            wrote += take;
        }
        resp_out_consume(o, wrote);
        n -= wrote;
    }
}

/* Takes every pending byte out of o in writes of at most max_write bytes
 * (0: all at once) over at most max_iov iovecs, appending them to dst. */
static void drain(resp_out *o, bytes *dst, size_t max_write, int max_iov)
{
    struct iovec iov[1];

    while (resp_out_pending(o)) {
        size_t n = resp_out_pending(o);
        if (max_write && n > max_write)
            n = 1 + test_rand_below(max_write);
        write_out(o, dst, n, max_iov);
    }
    ASSERT_EQ(resp_out_iov(o, iov, 1), 0);
}

/* One call of the encoder per case, exact bytes in RESP2 and RESP3. */
static void encode_case(resp_out *o, int which)
{
    resp_mark outer, inner;

    switch (which) {
    case 0: ASSERT_OK(resp_out_simple(o, "OK")); break;
    case 1: ASSERT_OK(resp_out_simple(o, "a\r\nb")); break;
    case 2: ASSERT_OK(resp_out_error(o, "ERR bad\nthing")); break;
    case 3: ASSERT_OK(resp_out_errorf(o, "ERR unknown command '%s', %d", "f\r\no", 7)); break;
    case 4: ASSERT_OK(resp_out_int(o, 0)); break;
    case 5: ASSERT_OK(resp_out_int(o, -42)); break;
    case 6: ASSERT_OK(resp_out_int(o, LLONG_MIN)); break;
    case 7: ASSERT_OK(resp_out_int(o, LLONG_MAX)); break;
    case 8: ASSERT_OK(resp_out_bulk(o, "", 0)); break;
    case 9: ASSERT_OK(resp_out_bulk(o, "a\0\r\n", 4)); break;
    case 10: ASSERT_OK(resp_out_null(o)); break;
    case 11: ASSERT_OK(resp_out_null_array(o)); break;
    case 12:
        ASSERT_OK(resp_out_array(o, 2));
        ASSERT_OK(resp_out_bulk(o, "a", 1));
        ASSERT_OK(resp_out_int(o, 1));
        break;
    case 13:
        ASSERT_OK(resp_out_map(o, 1));
        ASSERT_OK(resp_out_bulk(o, "k", 1));
        ASSERT_OK(resp_out_bulk(o, "v", 1));
        break;
    case 14:
        ASSERT_OK(resp_out_set(o, 2));
        ASSERT_OK(resp_out_bulk(o, "x", 1));
        ASSERT_OK(resp_out_bulk(o, "y", 1));
        break;
    case 15: ASSERT_OK(resp_out_double(o, 1.5)); break;
    case 16: ASSERT_OK(resp_out_double(o, 3.0)); break;
    case 17: ASSERT_OK(resp_out_double(o, 0.1)); break;
    case 18: ASSERT_OK(resp_out_double(o, -0.0)); break;
    case 19: ASSERT_OK(resp_out_double(o, INFINITY)); break;
    case 20: ASSERT_OK(resp_out_double(o, -INFINITY)); break;
    case 21: ASSERT_OK(resp_out_double(o, NAN)); break;
    case 22: ASSERT_OK(resp_out_double(o, 1e300)); break;
    case 23: ASSERT_OK(resp_out_double(o, 1.0 / 3)); break;
    case 24: ASSERT_OK(resp_out_bool(o, true)); break;
    case 25: ASSERT_OK(resp_out_bool(o, false)); break;
    case 26: ASSERT_OK(resp_out_verbatim(o, "txt", "a\r\nb", 4)); break;
    case 27: ASSERT_OK(resp_out_verbatim(o, "md", "#", 1)); break; /* padded */
    case 28: ASSERT_OK(resp_out_raw(o, "+PONG\r\n", 7)); break;
    case 29: /* an array of unknown length holding a map of unknown length */
        outer = resp_out_mark(o);
        ASSERT_OK(resp_out_bulk(o, "a", 1));
        inner = resp_out_mark(o);
        ASSERT_OK(resp_out_bulk(o, "k", 1));
        ASSERT_OK(resp_out_int(o, 2));
        ASSERT_OK(resp_out_end(o, inner, RESP_MAP, 1));
        ASSERT_OK(resp_out_end(o, outer, RESP_ARRAY, 2));
        break;
    case 30:
        outer = resp_out_mark(o);
        ASSERT_OK(resp_out_end(o, outer, RESP_SET, 0));
        break;
    case 31: ASSERT_OK(resp_out_double(o, 123456789012.25)); break;
    case 32: ASSERT_OK(resp_out_double(o, -2.5e-10)); break;
    }
}

static const struct encode_want {
    const char *resp2;
    size_t len2;
    const char *resp3;
    size_t len3;
} encode_wants[] = {
    {LIT("+OK\r\n"), LIT("+OK\r\n")},
    {LIT("+a  b\r\n"), LIT("+a  b\r\n")},
    {LIT("-ERR bad thing\r\n"), LIT("-ERR bad thing\r\n")},
    {LIT("-ERR unknown command 'f  o', 7\r\n"), LIT("-ERR unknown command 'f  o', 7\r\n")},
    {LIT(":0\r\n"), LIT(":0\r\n")},
    {LIT(":-42\r\n"), LIT(":-42\r\n")},
    {LIT(":-9223372036854775808\r\n"), LIT(":-9223372036854775808\r\n")},
    {LIT(":9223372036854775807\r\n"), LIT(":9223372036854775807\r\n")},
    {LIT("$0\r\n\r\n"), LIT("$0\r\n\r\n")},
    {LIT("$4\r\na\0\r\n\r\n"), LIT("$4\r\na\0\r\n\r\n")},
    {LIT("$-1\r\n"), LIT("_\r\n")},
    {LIT("*-1\r\n"), LIT("_\r\n")},
    {LIT("*2\r\n$1\r\na\r\n:1\r\n"), LIT("*2\r\n$1\r\na\r\n:1\r\n")},
    {LIT("*2\r\n$1\r\nk\r\n$1\r\nv\r\n"), LIT("%1\r\n$1\r\nk\r\n$1\r\nv\r\n")},
    {LIT("*2\r\n$1\r\nx\r\n$1\r\ny\r\n"), LIT("~2\r\n$1\r\nx\r\n$1\r\ny\r\n")},
    {LIT("$3\r\n1.5\r\n"), LIT(",1.5\r\n")},
    {LIT("$1\r\n3\r\n"), LIT(",3\r\n")},
    {LIT("$3\r\n0.1\r\n"), LIT(",0.1\r\n")},
    {LIT("$2\r\n-0\r\n"), LIT(",-0\r\n")},
    {LIT("$3\r\ninf\r\n"), LIT(",inf\r\n")},
    {LIT("$4\r\n-inf\r\n"), LIT(",-inf\r\n")},
    {LIT("$3\r\nnan\r\n"), LIT(",nan\r\n")},
    {LIT("$6\r\n1e+300\r\n"), LIT(",1e+300\r\n")},
    {LIT("$18\r\n0.3333333333333333\r\n"), LIT(",0.3333333333333333\r\n")},
    {LIT(":1\r\n"), LIT("#t\r\n")},
    {LIT(":0\r\n"), LIT("#f\r\n")},
    {LIT("$4\r\na\r\nb\r\n"), LIT("=8\r\ntxt:a\r\nb\r\n")},
    {LIT("$1\r\n#\r\n"), LIT("=5\r\nmd :#\r\n")},
    {LIT("+PONG\r\n"), LIT("+PONG\r\n")},
    {LIT("*2\r\n$1\r\na\r\n*2\r\n$1\r\nk\r\n:2\r\n"), LIT("*2\r\n$1\r\na\r\n%1\r\n$1\r\nk\r\n:2\r\n")},
    {LIT("*0\r\n"), LIT("~0\r\n")},
    {LIT("$15\r\n123456789012.25\r\n"), LIT(",123456789012.25\r\n")},
    {LIT("$8\r\n-2.5e-10\r\n"), LIT(",-2.5e-10\r\n")},
};

static void encoder_exact(void)
{
    int n_cases = (int)(sizeof(encode_wants) / sizeof(encode_wants[0]));

    for (int proto = 2; proto <= 3; proto++)
        for (int c = 0; c < n_cases; c++) {
            const struct encode_want *w = &encode_wants[c];
            const char *want = proto == 2 ? w->resp2 : w->resp3;
            size_t want_len = proto == 2 ? w->len2 : w->len3;
            bytes got = {0};
            resp_out o;

            ASSERT_OK(resp_out_init(&o, proto));
            ASSERT_EQ(resp_out_proto(&o), proto);
            /* Something already written and half sent: marks and appends
             * must not care where the buffer starts. */
            ASSERT_OK(resp_out_simple(&o, "x"));
            resp_out_consume(&o, 3); /* "+x\r" out, "\n" pending */
            encode_case(&o, c);
            ASSERT_OK(resp_out_status(&o));
            drain(&o, &got, 0, 16);
            if (got.len != want_len + 1 || memcmp(got.p + 1, want, want_len))
                TEST_FAIL("case %d RESP%d: got '%.*s', want '%.*s'", c, proto,
                          (int)(got.len - 1), got.p + 1, (int)want_len, want);
            resp_out_free(&o);
            free(got.p);
        }
}

/* The release callback's record: how often it ran. */
typedef struct release_count {
    int calls;
} release_count;

static void count_release(void *ctx)
{
    ((release_count *)ctx)->calls++;
}

/* References: small values are copied and released at once, large ones
 * are released exactly once, only when written, or when o is freed. A
 * mark's header lands in front of a reference appended after it. */
static void references(void)
{
    size_t big_len = RESP_OUT_REF_MIN + 7;
    char *big = xrealloc(NULL, big_len);
    release_count small = {0}, first = {0}, second = {0};
    bytes want = {0}, got = {0};
    char head[32];
    resp_mark mark;
    resp_out o;

    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    ASSERT_OK(resp_out_init(&o, 3));
    ASSERT_OK(resp_out_bulk_ref(&o, "tiny", 4, count_release, &small));
    ASSERT_EQ(small.calls, 1);
    mark = resp_out_mark(&o);
    ASSERT_OK(resp_out_bulk_ref(&o, big, big_len, count_release, &first));
    ASSERT_OK(resp_out_int(&o, 5));
    ASSERT_OK(resp_out_end(&o, mark, RESP_ARRAY, 2));
    ASSERT_OK(resp_out_bulk_ref(&o, big, big_len, count_release, &second));
    ASSERT_EQ(first.calls + second.calls, 0);
    ASSERT_EQ(resp_out_pending(&o), o.len + 2 * big_len);

    bytes_str(&want, "$4\r\ntiny\r\n*2\r\n");
    snprintf(head, sizeof(head), "$%zu\r\n", big_len);
    bytes_str(&want, head);
    bytes_add(&want, big, big_len);
    bytes_str(&want, "\r\n:5\r\n");
    bytes_str(&want, head);
    bytes_add(&want, big, big_len);
    bytes_str(&want, "\r\n");

    /* Write up to the last byte of the first value: not yet released. */
    write_out(&o, &got, strlen("$4\r\ntiny\r\n*2\r\n") + strlen(head) + big_len - 1, 2);
    ASSERT_EQ(first.calls, 0);
    write_out(&o, &got, 1, 1);
    ASSERT_EQ(first.calls, 1);
    ASSERT_EQ(second.calls, 0);
    drain(&o, &got, 3000, 3);
    ASSERT_EQ(first.calls, 1);
    ASSERT_EQ(second.calls, 1);
    ASSERT_MEM_EQ(got.p, got.len, want.p, want.len);

    /* Freed with a reference unwritten: released once. */
    ASSERT_OK(resp_out_bulk_ref(&o, big, big_len, count_release, &second));
    resp_out_consume(&o, 3);
    resp_out_free(&o);
    ASSERT_EQ(second.calls, 2);
    resp_out_free(NULL);

    /* Shrink gives the memory back only when nothing is pending. */
    ASSERT_OK(resp_out_init(&o, 2));
    ASSERT_RC(resp_out_init(&o, 4), -EINVAL);
    ASSERT_OK(resp_out_init(&o, 2));
    ASSERT_RC(resp_out_set_proto(&o, 1), -EINVAL);
    ASSERT_OK(resp_out_int(&o, 1));
    resp_out_shrink(&o);
    ASSERT_TRUE(o.buf != NULL);
    resp_out_consume(&o, resp_out_pending(&o));
    resp_out_shrink(&o);
    ASSERT_TRUE(o.buf == NULL && o.cap == 0);
    ASSERT_OK(resp_out_int(&o, 2));
    resp_out_free(&o);
    free(big);
    free(want.p);
    free(got.p);
}

/* An append that cannot be satisfied fails, and every later one too. */
static void sticky_nomem(void)
{
    static const char dummy[1];
    release_count r = {0};
    resp_out o;

    ASSERT_OK(resp_out_init(&o, 3));
    ASSERT_OK(resp_out_int(&o, 1));
    ASSERT_RC(resp_out_bulk(&o, dummy, SIZE_MAX / 2), -ENOMEM);
    ASSERT_RC(resp_out_status(&o), -ENOMEM);
    ASSERT_RC(resp_out_int(&o, 2), -ENOMEM);
    ASSERT_RC(resp_out_simple(&o, "OK"), -ENOMEM);
    ASSERT_RC(resp_out_bulk_ref(&o, dummy, RESP_OUT_REF_MIN, count_release, &r), -ENOMEM);
    ASSERT_RC(resp_out_end(&o, resp_out_mark(&o), RESP_ARRAY, 0), -ENOMEM);
    ASSERT_EQ(r.calls, 0); /* a failed call never releases */
    ASSERT_EQ(resp_out_pending(&o), 4);
    resp_out_free(&o);
}

/* The model run: random replies appended to o (some by reference, some
 * behind marks) while o is written out in random partial writes; what comes
 * out must be exactly what was appended, and every reference released once
 * by the end. */
static void encoder_model(int rounds)
{
    static char big[3][RESP_OUT_REF_MIN * 2];
    release_count released = {0};
    int refs_taken = 0;

    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < sizeof(big[i]); j++)
            big[i][j] = (char)test_rand();
    for (int round = 0; round < rounds; round++) {
        bytes want = {0}, got = {0};
        resp_out o;

        ASSERT_OK(resp_out_init(&o, 2 + (int)test_rand_below(2)));
        for (int step = 0; step < 200; step++) {
            char text[64];
            size_t len;

            switch (test_rand_below(6)) {
            case 0: {
                long long v = (long long)test_rand();
                snprintf(text, sizeof(text), ":%lld\r\n", v);
                ASSERT_OK(resp_out_int(&o, v));
                bytes_str(&want, text);
                break;
            }
            case 1:
                len = test_rand_below(sizeof(text));
                for (size_t i = 0; i < len; i++)
                    text[i] = (char)test_rand();
                ASSERT_OK(resp_out_bulk(&o, text, len));
                {
                    char head[32];
                    snprintf(head, sizeof(head), "$%zu\r\n", len);
                    bytes_str(&want, head);
                    bytes_add(&want, text, len);
                    bytes_str(&want, "\r\n");
                }
                break;
            case 2: {
                const char *value = big[test_rand_below(3)];
                char head[32];

                len = RESP_OUT_REF_MIN + test_rand_below(RESP_OUT_REF_MIN);
                ASSERT_OK(resp_out_bulk_ref(&o, value, len, count_release, &released));
                refs_taken++;
                snprintf(head, sizeof(head), "$%zu\r\n", len);
                bytes_str(&want, head);
                bytes_add(&want, value, len);
                bytes_str(&want, "\r\n");
                break;
            }
            case 3: { /* a deferred array of two integers */
                resp_mark mark = resp_out_mark(&o);
                ASSERT_OK(resp_out_int(&o, 7));
                ASSERT_OK(resp_out_int(&o, 8));
                ASSERT_OK(resp_out_end(&o, mark, RESP_ARRAY, 2));
                bytes_str(&want, "*2\r\n:7\r\n:8\r\n");
                break;
            }
            case 4: { /* a partial write */
                size_t n = test_rand_below(40000);
                if (n > resp_out_pending(&o))
                    n = resp_out_pending(&o);
                write_out(&o, &got, n, 1 + (int)test_rand_below(8));
                break;
            }
            default:
                ASSERT_OK(resp_out_simple(&o, "OK"));
                bytes_str(&want, "+OK\r\n");
                break;
            }
            ASSERT_EQ(resp_out_pending(&o), want.len - got.len);
        }
        drain(&o, &got, 1 + test_rand_below(70000), 1 + (int)test_rand_below(16));
        ASSERT_MEM_EQ(got.p, got.len, want.p, want.len);
        ASSERT_TRUE(o.head == 0 && o.len == 0); /* drained: the buffer starts over */
        resp_out_free(&o);
        free(want.p);
        free(got.p);
    }
    ASSERT_EQ(released.calls, refs_taken);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;

    test_seed_init(20260513);
    encoder_exact();
    references();
    sticky_nomem();
    encoder_model((int)(200 * scale) + 10);
    printf("ok\n");
    return 0;
}
