/*
 * fuzz_resp.c - the request parser of `cairn serve` (cli/serve/resp.h) on
 * arbitrary bytes, fed as a connection gets them: what any client on the
 * network can send.
 *
 * Input: byte 0 picks the limits (bit 0: small ones the fuzzer can reach,
 * else the defaults) and bit 1 requires AUTH (Redis's small pre-AUTH
 * limits); byte 1 seeds the read sizes; the rest is the byte stream. The
 * stream is parsed twice, whole and then in reads of pseudo-random sizes,
 * each call on a fresh allocation of exactly the unconsumed bytes (so ASan
 * sees any read past them). Checked at every call: consumed never exceeds
 * the input; an error consumes nothing, has a message and sticks;
 * arguments lie within the consumed bytes (or the parser's scratch, for
 * unescaped inline words) and within the limits; a request never comes
 * before resp_parser_need's bytes are there. Then: both runs give the same
 * requests and end the same way, and each request encoded again as
 * multibulk (resp_out) parses back to the same arguments. Leaks show
 * through LeakSanitizer.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz_common.h"
#include "resp.h"

/* What one run made of the stream: the requests, flattened (argc, then
 * each argument's length and bytes), and how it ended. */
typedef struct run {
    uint8_t *log;
    size_t log_len, log_cap;
    size_t n_requests;
    int rc;
    char message[128];
} run;

static void log_add(run *r, const void *bytes, size_t len)
{
    if (r->log_len + len > r->log_cap) {
        r->log_cap = (r->log_len + len) * 2 + 64;
        r->log = realloc(r->log, r->log_cap);
        FUZZ_CHECK(r->log != NULL, "out of memory");
    }
    if (len)
        memcpy(r->log + r->log_len, bytes, len);
    r->log_len += len;
}

/* Encodes req as multibulk with resp_out and parses it back with a
 * default parser: the same arguments must come out, in one request that
 * consumes every byte. */
static void round_trip(const resp_request *req)
{
    resp_parser again;
    resp_request back;
    resp_out o;
    size_t consumed;
    int rc;

    FUZZ_CHECK(resp_out_init(&o, 2) == 0, "resp_out_init");
    FUZZ_CHECK(resp_parser_init(&again, NULL) == 0, "resp_parser_init");
    resp_out_array(&o, req->argc);
    for (size_t i = 0; i < req->argc; i++)
        resp_out_bulk(&o, req->argv[i].ptr, req->argv[i].len);
    FUZZ_CHECK(resp_out_status(&o) == 0, "encoding failed");
    rc = resp_parse(&again, o.buf + o.head, o.len - o.head, &consumed, &back);
    FUZZ_CHECK(rc == RESP_REQUEST, "re-encoded request parses to %d: %s", rc,
               resp_parser_error(&again));
    FUZZ_CHECK(consumed == o.len - o.head, "re-encoded request: %zu of %zu bytes consumed",
               consumed, o.len - o.head);
    FUZZ_CHECK(back.argc == req->argc, "re-encoded: %zu arguments, not %zu", back.argc, req->argc);
    for (size_t i = 0; i < req->argc; i++)
        FUZZ_CHECK(back.argv[i].len == req->argv[i].len &&
                       (!back.argv[i].len ||
                        !memcmp(back.argv[i].ptr, req->argv[i].ptr, back.argv[i].len)),
                   "re-encoded argument %zu differs", i);
    resp_parser_free(&again);
    resp_out_free(&o);
}

/* The contract of one RESP_REQUEST answer from p on buf[0..len). */
static void check_request(const resp_parser *p, const char *buf, size_t len, size_t consumed,
                          const resp_request *req)
{
    FUZZ_CHECK(consumed > 0, "a request of no bytes");
    FUZZ_CHECK(req->argc >= 1 && req->argc <= p->limits.max_args, "argc %zu", req->argc);
    for (size_t i = 0; i < req->argc; i++) {
        const resp_arg *a = &req->argv[i];
        uintptr_t at = (uintptr_t)a->ptr;
        bool in_buf = at >= (uintptr_t)buf && at + a->len <= (uintptr_t)buf + consumed;
        bool in_scratch = req->is_inline && p->scratch && at >= (uintptr_t)p->scratch &&
                          at + a->len <= (uintptr_t)p->scratch + p->scratch_cap;

        FUZZ_CHECK(a->len == 0 || in_buf || in_scratch, "argument %zu out of bounds", i);
        FUZZ_CHECK(a->len <= (req->is_inline ? p->limits.max_inline : p->limits.max_bulk),
                   "argument %zu of %zu bytes is over the limit", i, a->len);
        if (req->is_inline)
            FUZZ_CHECK(a->len <= len, "inline argument longer than the input");
    }
}

/* One parse call on a fresh exact-size copy of in[0..in_len), with every
 * check; records a request in r. Returns resp_parse's result and sets
 * *consumed. */
static int parse_once(resp_parser *p, const char *in, size_t in_len, size_t need, run *r,
                      size_t *consumed)
{
    char *copy = in_len ? malloc(in_len) : NULL;
    resp_request req;
    int rc;

    FUZZ_CHECK(!in_len || copy, "out of memory");
    if (in_len)
        memcpy(copy, in, in_len);
    rc = resp_parse(p, copy, in_len, consumed, &req);
    FUZZ_CHECK(*consumed <= in_len, "consumed %zu of %zu bytes", *consumed, in_len);
    FUZZ_CHECK(in_len >= need || rc == RESP_NEED_MORE,
               "answered %d with %zu bytes, under the %zu it needs", rc, in_len, need);
    if (rc == RESP_REQUEST) {
        uint64_t argc = req.argc;

        check_request(p, copy, in_len, *consumed, &req);
        log_add(r, &argc, sizeof(argc));
        for (size_t i = 0; i < req.argc; i++) {
            uint64_t len = req.argv[i].len;
            log_add(r, &len, sizeof(len));
            log_add(r, req.argv[i].ptr, req.argv[i].len);
        }
        r->n_requests++;
        round_trip(&req);
    } else if (rc == RESP_NEED_MORE) {
        FUZZ_CHECK(resp_parser_need(p) > in_len - *consumed, "need %zu, given %zu",
                   resp_parser_need(p), in_len - *consumed);
    } else {
        size_t again_consumed = 1;

        FUZZ_CHECK(rc == -EPROTO || rc == -ENOMEM, "unexpected error %d", rc);
        FUZZ_CHECK(*consumed == 0, "an error consumed %zu bytes", *consumed);
        FUZZ_CHECK(resp_parser_error(p)[0] != '\0', "an error without a message");
        FUZZ_CHECK(!strchr(resp_parser_error(p), '\r') && !strchr(resp_parser_error(p), '\n'),
                   "CR or LF in the message");
        snprintf(r->message, sizeof(r->message), "%s", resp_parser_error(p));
        FUZZ_CHECK(resp_parse(p, copy, in_len, &again_consumed, &req) == rc && again_consumed == 0,
                   "the error did not stick");
    }
    free(copy);
    return rc;
}

/* Parses stream[0..len) in reads whose sizes come from seed (0: one read
 * of everything), as a connection's loop does. */
static void run_stream(const char *stream, size_t len, const resp_limits *limits, bool unauth,
                       uint32_t seed, run *r)
{
    resp_parser p;
    char *in = NULL;
    size_t in_len = 0, read_to = 0, need = 0;
    uint32_t rng = seed;

    memset(r, 0, sizeof(*r));
    r->rc = RESP_NEED_MORE;
    FUZZ_CHECK(resp_parser_init(&p, limits) == 0, "resp_parser_init");
    resp_parser_require_auth(&p, unauth);
    while (read_to < len || read_to == 0) {
        size_t step = len - read_to;

        if (seed) { /* xorshift32: reads of 1 to 64 bytes, now and then 1000 */
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            step = rng % 16 == 0 ? 1000 : 1 + rng % 64;
            if (step > len - read_to)
                step = len - read_to;
        }
        in = realloc(in, in_len + step + 1);
        FUZZ_CHECK(in != NULL, "out of memory");
        if (step)
            memcpy(in + in_len, stream + read_to, step);
        in_len += step;
        read_to += step;
        for (;;) {
            size_t consumed;
            int rc = parse_once(&p, in, in_len, need, r, &consumed);

            if (rc < 0) {
                r->rc = rc;
                goto done;
            }
            memmove(in, in + consumed, in_len - consumed);
            in_len -= consumed;
            need = rc == RESP_NEED_MORE ? resp_parser_need(&p) : 0;
            if (rc == RESP_NEED_MORE)
                break;
        }
        if (len == 0)
            break;
    }
done:
    free(in);
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    resp_limits limits = resp_limits_default();
    run whole, pieces;
    bool unauth;
    uint32_t seed;

    if (size < 2)
        return 0;
    if (data[0] & 1) {
        limits.max_bulk = 16;
        limits.max_args = 4;
        limits.max_inline = 24;
        limits.max_request = 80;
    }
    unauth = data[0] & 2;
    seed = 0x9e3779b9u ^ data[1];
    run_stream((const char *)data + 2, size - 2, &limits, unauth, 0, &whole);
    run_stream((const char *)data + 2, size - 2, &limits, unauth, seed, &pieces);
    FUZZ_CHECK(whole.rc == pieces.rc, "whole ends with %d, in pieces with %d", whole.rc, pieces.rc);
    FUZZ_CHECK(!strcmp(whole.message, pieces.message), "'%s' whole, '%s' in pieces",
               whole.message, pieces.message);
    FUZZ_CHECK(whole.n_requests == pieces.n_requests, "%zu requests whole, %zu in pieces",
               whole.n_requests, pieces.n_requests);
    FUZZ_CHECK(whole.log_len == pieces.log_len &&
                   (!whole.log_len || !memcmp(whole.log, pieces.log, whole.log_len)),
               "the requests differ whole and in pieces");
    free(whole.log);
    free(pieces.log);
    return 0;
}
