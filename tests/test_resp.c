/*
 * test_resp.c - the request parser of `cairn serve` (cli/serve/resp.h).
 *
 * Parser: random pipelines of random requests (binary arguments, empty
 * ones, inline lines, requests of nothing) encoded and fed back split at
 * random points must come back identical; so must a fixed pipeline split
 * at every single point and fed a byte at a time. Inline lines split as
 * Redis's sdssplitargs splits them (the table was checked against a real
 * redis-server 7.0 with `EVAL "return ARGV" 0 <line>`). Every limit and
 * every malformed input fails with Redis's text, twice in a row, and a
 * reset parser works again. Each parse call gets a fresh copy of exactly
 * the unconsumed bytes, so ASan sees any read past them and the parser
 * sees its buffer move, as a connection's does. Some requests of the random
 * pipelines are encoded by resp_out: the encoder has its own test,
 * test_resp_out.c.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "resp.h"
#include "bytesutil.h"
#include "test.h"

/* ------------------------------------------------------------ the model */

/* A request as the test means it: argc arguments of any bytes. */
typedef struct model_req {
    size_t argc;
    char **argv;
    size_t *lens;
} model_req;

typedef struct model_list {
    model_req *reqs;
    size_t n, cap;
} model_list;

static void model_add(model_list *l, size_t argc, const char *const *argv, const size_t *lens)
{
    model_req *r;

    if (l->n == l->cap) {
        l->cap = l->cap * 2 + 8;
        l->reqs = xrealloc(l->reqs, l->cap * sizeof(*l->reqs));
    }
    r = &l->reqs[l->n++];
    r->argc = argc;
    r->argv = xrealloc(NULL, argc * sizeof(*r->argv));
    r->lens = xrealloc(NULL, argc * sizeof(*r->lens));
    for (size_t i = 0; i < argc; i++) {
        r->argv[i] = xrealloc(NULL, lens[i]);
        if (lens[i])
            memcpy(r->argv[i], argv[i], lens[i]);
        r->lens[i] = lens[i];
    }
}

static void model_clear(model_list *l)
{
    for (size_t k = 0; k < l->n; k++) {
        for (size_t i = 0; i < l->reqs[k].argc; i++)
            free(l->reqs[k].argv[i]);
        free(l->reqs[k].argv);
        free(l->reqs[k].lens);
    }
    free(l->reqs);
    memset(l, 0, sizeof(*l));
}

/* The multibulk form of a request, written by hand (not by resp_out). */
static void encode_multibulk(bytes *b, const model_req *r)
{
    char head[32];

    snprintf(head, sizeof(head), "*%zu\r\n", r->argc);
    bytes_str(b, head);
    for (size_t i = 0; i < r->argc; i++) {
        snprintf(head, sizeof(head), "$%zu\r\n", r->lens[i]);
        bytes_str(b, head);
        bytes_add(b, r->argv[i], r->lens[i]);
        bytes_str(b, "\r\n");
    }
}

/* ------------------------------------------------------------ feeding */

/* What a parser made of a byte stream. */
typedef struct outcome {
    model_list got;
    int rc;            /* RESP_NEED_MORE at the end, or the error */
    char message[128]; /* the error's text */
    size_t left;       /* bytes never consumed */
} outcome;

/* The argument must lie in the bytes the request consumed, or in the
 * parser's scratch (unescaped inline words). */
static void check_arg_bounds(const resp_parser *p, const char *buf, size_t consumed,
                             const resp_arg *a)
{
    uintptr_t at = (uintptr_t)a->ptr;
    bool in_buf = a->len == 0 || (at >= (uintptr_t)buf && at + a->len <= (uintptr_t)buf + consumed);
    bool in_scratch = p->scratch && at >= (uintptr_t)p->scratch &&
                      at + a->len <= (uintptr_t)p->scratch + p->scratch_cap;

    if (!in_buf && !in_scratch)
        TEST_FAIL("argument of %zu bytes lies outside the request and the scratch", a->len);
}

/* Feeds stream[0..len) to p as a connection would: reads end at cuts[0],
 * cuts[1] ... (increasing, <= len) and at len; after each read the
 * unconsumed input is parsed until the parser wants more. Every call gets a
 * fresh allocation of exactly the unconsumed bytes. Checks the contract at
 * each call: consumed within the input, arguments within the request,
 * resp_parser_need honoured, errors sticky. */
static void feed(resp_parser *p, const char *stream, size_t len, const size_t *cuts,
                 size_t n_cuts, outcome *out)
{
    char *in = NULL;
    size_t in_len = 0, read_to = 0, need = 0;

    memset(out, 0, sizeof(*out));
    out->rc = RESP_NEED_MORE;
    for (size_t c = 0; c <= n_cuts; c++) {
        size_t end = c < n_cuts ? cuts[c] : len;

        if (end < read_to)
            TEST_FAIL("cuts not increasing");
        in = xrealloc(in, in_len + (end - read_to));
        memcpy(in + in_len, stream + read_to, end - read_to);
        in_len += end - read_to;
        read_to = end;
        for (;;) {
            char *copy = xrealloc(NULL, in_len);
            size_t consumed = 12345;
            resp_request req;
            int rc;

            memcpy(copy, in, in_len);
            rc = resp_parse(p, in_len ? copy : NULL, in_len, &consumed, &req);
            if (consumed > in_len)
                TEST_FAIL("consumed %zu of %zu bytes", consumed, in_len);
            if (in_len < need && rc != RESP_NEED_MORE)
                TEST_FAIL("answered %d with %zu bytes, fewer than the %zu it said it needs", rc,
                          in_len, need);
            if (rc < 0) {
                size_t again_consumed = 1;
                resp_request again;

                ASSERT_EQ(consumed, 0);
                out->rc = rc;
                snprintf(out->message, sizeof(out->message), "%s", resp_parser_error(p));
                /* Sticky: the same answer, with or without more input. */
                ASSERT_EQ(resp_parse(p, copy, in_len, &again_consumed, &again), rc);
                ASSERT_EQ(again_consumed, 0);
                ASSERT_TRUE(!strcmp(resp_parser_error(p), out->message));
                free(copy);
                out->left = in_len;
                free(in);
                return;
            }
            if (rc == RESP_REQUEST) {
                const char *argv[4096];
                size_t lens[4096];

                ASSERT_TRUE(consumed > 0);
                ASSERT_TRUE(req.argc >= 1 && req.argc <= 4096);
                for (size_t i = 0; i < req.argc; i++) {
                    check_arg_bounds(p, copy, consumed, &req.argv[i]);
                    argv[i] = req.argv[i].ptr;
                    lens[i] = req.argv[i].len;
                }
                model_add(&out->got, req.argc, argv, lens);
                need = 0;
            } else {
                ASSERT_EQ(rc, RESP_NEED_MORE);
                /* Counted from the request's start, after the drop. */
                need = resp_parser_need(p);
                if (need <= in_len - consumed)
                    TEST_FAIL("needs %zu bytes but was given %zu", need, in_len - consumed);
            }
            memmove(in, in + consumed, in_len - consumed);
            in_len -= consumed;
            /* Spoil the bytes before letting them go, so that a pointer
             * kept into them shows even without ASan. */
            memset(copy, 0xa5, consumed);
            free(copy);
            if (rc == RESP_NEED_MORE)
                break;
        }
    }
    out->left = in_len;
    free(in);
}

static void assert_same_requests(const model_list *want, const model_list *got)
{
    if (want->n != got->n)
        TEST_FAIL("%zu requests parsed, %zu sent", got->n, want->n);
    for (size_t k = 0; k < want->n; k++) {
        if (want->reqs[k].argc != got->reqs[k].argc)
            TEST_FAIL("request %zu: %zu arguments parsed, %zu sent", k, got->reqs[k].argc,
                      want->reqs[k].argc);
        for (size_t i = 0; i < want->reqs[k].argc; i++)
            if (want->reqs[k].lens[i] != got->reqs[k].lens[i] ||
                (want->reqs[k].lens[i] &&
                 memcmp(want->reqs[k].argv[i], got->reqs[k].argv[i], want->reqs[k].lens[i])))
                TEST_FAIL("request %zu argument %zu differs (%zu bytes parsed, %zu sent)", k, i,
                          got->reqs[k].lens[i], want->reqs[k].lens[i]);
    }
}

/* Parses stream with a fresh default parser and the given cuts; it must
 * give exactly want, consume everything and end wanting more. */
static void expect_stream(const char *stream, size_t len, const size_t *cuts, size_t n_cuts,
                          const model_list *want)
{
    resp_parser p;
    outcome got;

    ASSERT_OK(resp_parser_init(&p, NULL));
    feed(&p, stream, len, cuts, n_cuts, &got);
    if (got.rc != RESP_NEED_MORE)
        TEST_FAIL("failed %d: %s", got.rc, got.message);
    ASSERT_EQ(got.left, 0);
    assert_same_requests(want, &got.got);
    model_clear(&got.got);
    resp_parser_free(&p);
}

/* ------------------------------------------------------------ random pipelines */

/* A random argument: mostly short, sometimes empty or long, its bytes
 * drawn with a bias towards the protocol's own (CR, LF, NUL, '$', '*'). */
static size_t random_arg(char *dst, size_t cap)
{
    static const char special[] = "\r\n\0$*\"' \\";
    size_t len;

    switch (test_rand_below(10)) {
    case 0: len = 0; break;
    case 1: len = test_rand_below(cap); break;
    default: len = 1 + test_rand_below(12); break;
    }
    for (size_t i = 0; i < len; i++)
        dst[i] = test_rand_below(3) == 0 ? special[test_rand_below(sizeof(special))]
                                         : (char)test_rand();
    return len;
}

/* An inline word: letters and digits only, so it needs no quoting. */
static size_t random_word(char *dst)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-";
    size_t len = 1 + test_rand_below(10);

    for (size_t i = 0; i < len; i++)
        dst[i] = alphabet[test_rand_below(sizeof(alphabet) - 1)];
    return len;
}

/* Random requests, as multibulk (by hand or by resp_out) or inline, with
 * requests of nothing between them; want gets what must come back. */
static void random_pipeline(bytes *stream, model_list *want, size_t n_requests, size_t max_arg)
{
    static char store[16][6000];
    const char *argv[16];
    size_t lens[16];
    resp_out o;

    ASSERT_OK(resp_out_init(&o, 2));
    for (size_t k = 0; k < n_requests; k++) {
        size_t argc = 1 + test_rand_below(test_rand_below(4) == 0 ? 16 : 4);
        unsigned form = (unsigned)test_rand_below(10);

        switch (test_rand_below(8)) { /* something the parser must skip */
        case 0: bytes_str(stream, "*0\r\n"); break;
        case 1: bytes_str(stream, "*-1\r\n"); break;
        case 2: bytes_str(stream, test_rand_below(2) ? "\r\n" : " \t \n"); break;
        default: break;
        }
        for (size_t i = 0; i < argc; i++) {
            lens[i] = form < 2 ? random_word(store[i]) : random_arg(store[i], max_arg);
            argv[i] = store[i];
        }
        model_add(want, argc, argv, lens);
        if (form < 2) { /* inline, words separated by blanks of any kind */
            for (size_t i = 0; i < argc; i++) {
                if (i)
                    bytes_str(stream, test_rand_below(2) ? " " : "\t  ");
                bytes_add(stream, argv[i], lens[i]);
            }
            bytes_str(stream, form == 0 ? "\r\n" : "\n");
        } else if (form < 6) {
            encode_multibulk(stream, &want->reqs[want->n - 1]);
        } else { /* through the encoder: a request is an array of bulks */
            ASSERT_OK(resp_out_array(&o, argc));
            for (size_t i = 0; i < argc; i++)
                ASSERT_OK(resp_out_bulk(&o, argv[i], lens[i]));
            bytes_add(stream, o.buf + o.head, o.len - o.head);
            resp_out_consume(&o, resp_out_pending(&o));
        }
    }
    resp_out_free(&o);
}

static void random_streams(int rounds)
{
    for (int round = 0; round < rounds; round++) {
        bytes stream = {0};
        model_list want = {0};
        size_t cuts[64], n_cuts = 0;

        random_pipeline(&stream, &want, 1 + test_rand_below(20),
                        test_rand_below(5) == 0 ? 6000 : 300);
        /* Whole, then cut at random points (some a few bytes apart). */
        expect_stream(stream.p, stream.len, NULL, 0, &want);
        n_cuts = 1 + test_rand_below(63);
        for (size_t i = 0; i < n_cuts; i++)
            cuts[i] = test_rand_below(stream.len + 1);
        for (size_t i = 1; i < n_cuts; i++) /* insertion sort */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        expect_stream(stream.p, stream.len, cuts, n_cuts, &want);
        model_clear(&want);
        free(stream.p);
    }
}

/* ------------------------------------------------------------ a fixed pipeline */

#define LIT(s) (s), (sizeof(s) - 1)

static const char fixed_pipeline[] =
    "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
    "*0\r\n"
    "*3\r\n$4\r\nMGET\r\n$0\r\n\r\n$6\r\na\r\n\0$*\r\n"
    "PING\r\n"
    "\r\n"
    "ECHO \"a b\" 'c\\'d' \"\\x41\\n\"\n"
    "*-1\r\n"
    "*1\r\n$4\r\nQUIT\r\n";

static void fixed_want(model_list *want)
{
    const char *get[] = {"GET", "key"}, *mget[] = {"MGET", "", "a\r\n\0$*"}, *ping[] = {"PING"},
               *echo[] = {"ECHO", "a b", "c'd", "A\n"}, *quit[] = {"QUIT"};
    size_t get_l[] = {3, 3}, mget_l[] = {4, 0, 6}, ping_l[] = {4}, echo_l[] = {4, 3, 3, 2},
           quit_l[] = {4};

    model_add(want, 2, get, get_l);
    model_add(want, 3, mget, mget_l);
    model_add(want, 1, ping, ping_l);
    model_add(want, 4, echo, echo_l);
    model_add(want, 1, quit, quit_l);
}

/* The fixed pipeline cut at every single point, then fed a byte at a time. */
static void every_split(void)
{
    size_t len = sizeof(fixed_pipeline) - 1;
    size_t *cuts = xrealloc(NULL, len * sizeof(*cuts));
    model_list want = {0};

    fixed_want(&want);
    for (size_t at = 0; at <= len; at++)
        expect_stream(fixed_pipeline, len, &at, 1, &want);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    expect_stream(fixed_pipeline, len, cuts, len, &want);
    model_clear(&want);
    free(cuts);
}

/* ------------------------------------------------------------ inline lines */

/* A line (sent with CR LF), how many arguments Redis splits it into (0: no
 * request at all; -1: "unbalanced quotes"), and those arguments joined with
 * '|'. Checked against redis-server 7.0.15. */
static const struct inline_case {
    const char *line;
    size_t line_len;
    int argc;
    const char *want;
    size_t want_len;
} inline_cases[] = {
    {LIT("a b"), 2, LIT("a|b")},
    {LIT("\"a b\""), 1, LIT("a b")},
    {LIT("\"\\x41\""), 1, LIT("A")},
    {LIT("\"\\x4\""), 1, LIT("x4")},   /* one hex digit: \x is just x */
    {LIT("\"\\xZZ\""), 1, LIT("xZZ")},
    {LIT("\"\\xg1\""), 1, LIT("xg1")},
    {LIT("\"\\X41\""), 1, LIT("X41")}, /* only a lowercase x */
    {LIT("\"\\xfF\""), 1, LIT("\xff")},
    {LIT("\"\\x00\""), 1, LIT("\0")},
    {LIT("\"a\\\"b\""), 1, LIT("a\"b")},
    {LIT("\"a\\nb\""), 1, LIT("a\nb")},
    {LIT("\"\\t\\r\\b\\a\""), 1, LIT("\t\r\b\a")},
    {LIT("\"\\\\\""), 1, LIT("\\")},
    {LIT("\"it's\""), 1, LIT("it's")},
    {LIT("'a b'"), 1, LIT("a b")},
    {LIT("'it\\'s'"), 1, LIT("it's")},
    {LIT("'a\\nb'"), 1, LIT("a\\nb")}, /* no escapes in single quotes but \' */
    {LIT("foo\"bar\""), 1, LIT("foobar")},
    {LIT("a'b'"), 1, LIT("ab")},
    {LIT("\"\""), 1, LIT("")},          /* one empty argument */
    {LIT("'' \"\""), 2, LIT("|")},      /* two */
    {LIT("  lead  trail  "), 2, LIT("lead|trail")},
    {LIT("a\tb"), 2, LIT("a|b")},
    {LIT("a\\b"), 1, LIT("a\\b")},      /* a backslash outside quotes is a byte */
    {LIT("\\x41"), 1, LIT("\\x41")},
    {LIT("a\vb"), 1, LIT("a\vb")},      /* \v ends no word ... */
    {LIT("\vlead"), 1, LIT("lead")},    /* ... but is skipped before one */
    {LIT("\"a\"\v"), 1, LIT("a")},      /* and may follow a closing quote */
    {LIT("\"a\"  \"b\""), 2, LIT("a|b")},
    {LIT("\"a\"\t\"b\""), 2, LIT("a|b")},
    {LIT("\"a\rb\""), 1, LIT("a\rb")},  /* CR inside quotes is kept */
    {LIT("a\rb"), 2, LIT("a|b")},       /* outside it separates */
    {LIT("a\0b"), 1, LIT("a\0b")},      /* NUL is a byte (Redis cannot take one) */
    {LIT("  "), 0, LIT("")},            /* blanks only: no request */
    {LIT(""), 0, LIT("")},
    {LIT("foo\"bar\"baz"), -1, NULL, 0},
    {LIT("\"foo\"bar"), -1, NULL, 0},
    {LIT("'a'b"), -1, NULL, 0},
    {LIT("a\"b c\"d"), -1, NULL, 0},
    {LIT("\"unterminated"), -1, NULL, 0},
    {LIT("'unterminated"), -1, NULL, 0},
    {LIT("\"a\\\""), -1, NULL, 0},      /* the backslash takes the quote */
    {LIT("\"trailing\\"), -1, NULL, 0},
    {LIT("'\\\\'"), -1, NULL, 0},       /* \ then \' : never closed */
};

static void inline_table(void)
{
    for (size_t c = 0; c < sizeof(inline_cases) / sizeof(inline_cases[0]); c++) {
        const struct inline_case *ic = &inline_cases[c];
        bytes stream = {0}, joined = {0};
        resp_parser p;
        outcome got;

        bytes_add(&stream, ic->line, ic->line_len);
        bytes_str(&stream, "\r\n");
        ASSERT_OK(resp_parser_init(&p, NULL));
        feed(&p, stream.p, stream.len, NULL, 0, &got);
        if (ic->argc < 0) {
            if (got.rc != -EPROTO ||
                strcmp(got.message, "Protocol error: unbalanced quotes in request"))
                TEST_FAIL("inline case %zu: want unbalanced quotes, got %d '%s'", c, got.rc,
                          got.message);
        } else {
            if (got.rc != RESP_NEED_MORE)
                TEST_FAIL("inline case %zu: failed: %s", c, got.message);
            ASSERT_EQ(got.left, 0);
            ASSERT_EQ(got.got.n, ic->argc > 0 ? 1 : 0);
            if (ic->argc > 0)
                ASSERT_EQ(got.got.reqs[0].argc, ic->argc);
            for (size_t k = 0; k < got.got.n; k++)
                for (size_t i = 0; i < got.got.reqs[k].argc; i++) {
                    if (i)
                        bytes_str(&joined, "|");
                    bytes_add(&joined, got.got.reqs[k].argv[i], got.got.reqs[k].lens[i]);
                }
            if (joined.len != ic->want_len || (joined.len && memcmp(joined.p, ic->want, joined.len)))
                TEST_FAIL("inline case %zu: split into '%.*s', want '%.*s'", c, (int)joined.len,
                          joined.p ? joined.p : "", (int)ic->want_len, ic->want);
        }
        model_clear(&got.got);
        resp_parser_free(&p);
        free(stream.p);
        free(joined.p);
    }
}

/* ------------------------------------------------------------ errors and limits */

/* Feeds input (cut after every byte as well as whole) to a parser with
 * limits (NULL: defaults) and auth required or not; it must fail with rc
 * and exactly message, after n_ok requests. The fed-whole parser is then
 * reset and must parse a PING. */
static void expect_error_with(const resp_limits *limits, bool unauth, const char *input,
                              size_t len, size_t n_ok, int rc, const char *message)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        size_t *cuts = xrealloc(NULL, (len + 1) * sizeof(*cuts));
        resp_parser p;
        outcome got;

        for (size_t i = 0; i < len; i++)
            cuts[i] = i + 1;
        ASSERT_OK(resp_parser_init(&p, limits));
        resp_parser_require_auth(&p, unauth);
        feed(&p, input, len, cuts, bytewise ? len : 0, &got);
        if (got.rc != rc || strcmp(got.message, message))
            TEST_FAIL("input '%.*s' (%s): got %d '%s', want %d '%s'", (int)(len > 60 ? 60 : len),
                      input, bytewise ? "a byte at a time" : "whole", got.rc, got.message, rc,
                      message);
        ASSERT_EQ(got.got.n, n_ok);
        model_clear(&got.got);
        if (!bytewise) {
            size_t consumed;
            resp_request req;

            resp_parser_reset(&p);
            resp_parser_require_auth(&p, false);
            ASSERT_TRUE(!strcmp(resp_parser_error(&p), ""));
            ASSERT_EQ(resp_parse(&p, LIT("*1\r\n$4\r\nPING\r\n"), &consumed, &req), RESP_REQUEST);
            ASSERT_EQ(consumed, 14);
            ASSERT_MEM_EQ(req.argv[0].ptr, req.argv[0].len, "PING", 4);
        }
        resp_parser_free(&p);
        free(cuts);
    }
}

static void expect_error(const char *input, size_t len, const char *message)
{
    expect_error_with(NULL, false, input, len, 0, -EPROTO, message);
}

/* input parses into n requests with no error, under limits. */
static void expect_ok_with(const resp_limits *limits, bool unauth, const char *input, size_t len,
                           size_t n)
{
    resp_parser p;
    outcome got;

    ASSERT_OK(resp_parser_init(&p, limits));
    resp_parser_require_auth(&p, unauth);
    feed(&p, input, len, NULL, 0, &got);
    if (got.rc != RESP_NEED_MORE)
        TEST_FAIL("input '%.*s': failed: %s", (int)(len > 60 ? 60 : len), input, got.message);
    ASSERT_EQ(got.got.n, n);
    model_clear(&got.got);
    resp_parser_free(&p);
}

static void malformed(void)
{
    char long_line[80];

    expect_error(LIT("*abc\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*-0\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*+1\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*01\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*1 \r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*2\rX"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*9223372036854775807\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*9223372036854775808\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*99999999999999999999999\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*-9223372036854775809\r\n"), "Protocol error: invalid multibulk length");
    expect_error(LIT("*1\r\nx"), "Protocol error: expected '$', got 'x'");
    expect_error(LIT("*2\r\n$1\r\na\r\n*1\r\n"), "Protocol error: expected '$', got '*'");
    expect_error(LIT("*1\r\n\0"), "Protocol error: expected '$', got '\\x00'");
    expect_error(LIT("*1\r\n\r\n"), "Protocol error: expected '$', got '\\x0d'");
    expect_error(LIT("*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$abc\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$01\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$ 1\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$1\rx"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$9223372036854775807\r\n"), "Protocol error: invalid bulk length");
    expect_error(LIT("*1\r\n$3\r\nabcXY"), "Protocol error: expected CRLF after bulk data");
    expect_error(LIT("*1\r\n$3\r\nabc\rX"), "Protocol error: expected CRLF after bulk data");
    expect_error(LIT("*1\r\n$3\r\nabc\n\r"), "Protocol error: expected CRLF after bulk data");
    memset(long_line, '1', sizeof(long_line));
    long_line[0] = '*';
    expect_error(long_line, sizeof(long_line), "Protocol error: too big mbulk count string");
    memcpy(long_line, "*1\r\n$", 5);
    expect_error(long_line, sizeof(long_line), "Protocol error: too big bulk count string");
    expect_error(LIT("\"abc\r\n"), "Protocol error: unbalanced quotes in request");
    /* After good requests: they come out, then the error. */
    expect_error_with(NULL, false, LIT("PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPINGXY"), 2,
                      -EPROTO, "Protocol error: expected CRLF after bulk data");
    /* Requests of nothing are skipped, as Redis skips them. */
    expect_ok_with(NULL, false, LIT("*0\r\n*-1\r\n*-9223372036854775808\r\n\r\n \t\r\n\n"), 0);
}

static resp_limits small_limits(void)
{
    resp_limits l = {.max_bulk = 10, .max_args = 3, .max_inline = 16, .max_request = 64};
    return l;
}

static void limits(void)
{
    resp_limits l = small_limits(), bad;
    resp_parser p;
    size_t consumed;
    resp_request req;
    char line[80];

    /* max_bulk: 10 bytes pass, 11 do not. */
    expect_ok_with(&l, false, LIT("*1\r\n$10\r\n0123456789\r\n"), 1);
    expect_error_with(&l, false, LIT("*1\r\n$11\r\n"), 0, -EPROTO,
                      "Protocol error: invalid bulk length");
    /* max_args: 3 pass, 4 do not, inline or multibulk. */
    expect_ok_with(&l, false, LIT("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\na b c\r\n"), 2);
    expect_error_with(&l, false, LIT("*4\r\n"), 0, -EPROTO,
                      "Protocol error: invalid multibulk length");
    expect_error_with(&l, false, LIT("a b c d\r\n"), 0, -EPROTO,
                      "Protocol error: too many arguments in inline request");
    /* max_inline: a line of 16 bytes passes, 17 do not, whole or unended
     * (18 bytes with no LF cannot be a line of 16 with its CR LF). */
    memset(line, 'x', sizeof(line));
    memcpy(line + 16, "\r\n", 2);
    expect_ok_with(&l, false, line, 18, 1);
    memcpy(line + 16, "\n", 1);
    expect_ok_with(&l, false, line, 17, 1);
    memset(line, 'x', sizeof(line));
    memcpy(line + 17, "\r\n", 2);
    expect_error_with(&l, false, line, 19, 0, -EPROTO, "Protocol error: too big inline request");
    expect_ok_with(&l, false, line, 17, 0); /* might still end in CR LF */
    expect_error_with(&l, false, line, 18, 0, -EPROTO, "Protocol error: too big inline request");
    line[17] = '\n'; /* 17 bytes ended by LF alone: whole, and too long */
    expect_error_with(&l, false, line, 18, 0, -EPROTO, "Protocol error: too big inline request");
    /* max_request: this request is 4 + 3 * 17 = 55 bytes. */
    l.max_request = 55;
    expect_ok_with(&l, false,
                   LIT("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n01234567\r\n\r\n"),
                   1);
    l.max_request = 54; /* refused at the third header, before its bytes arrive */
    expect_error_with(&l, false, LIT("*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n"), 0,
                      -EPROTO, "Protocol error: too big request");
    /* Before AUTH: Redis's 10 arguments and 16 KiB. */
    expect_ok_with(NULL, true, LIT("*10\r\n"), 0);
    expect_error_with(NULL, true, LIT("*11\r\n"), 0, -EPROTO,
                      "Protocol error: unauthenticated multibulk length");
    expect_ok_with(NULL, true, LIT("*1\r\n$16384\r\n"), 0);
    expect_error_with(NULL, true, LIT("*1\r\n$16385\r\n"), 0, -EPROTO,
                      "Protocol error: unauthenticated bulk length");
    expect_ok_with(NULL, false, LIT("*11\r\n"), 0); /* after AUTH */
    expect_ok_with(NULL, false, LIT("*1\r\n$16385\r\n"), 0);
    /* Limits must be within 1 .. RESP_LIMIT_MAX. */
    bad = small_limits();
    bad.max_args = 0;
    ASSERT_RC(resp_parser_init(&p, &bad), -EINVAL);
    ASSERT_RC(resp_parser_init(&p, NULL), 0);
    ASSERT_RC(resp_parser_set_limits(&p, &bad), -EINVAL);
    bad = small_limits();
    bad.max_bulk = RESP_LIMIT_MAX + 1;
    ASSERT_RC(resp_parser_set_limits(&p, &bad), -EINVAL);
    ASSERT_EQ(p.limits.max_bulk, RESP_DEFAULT_MAX_BULK);
    resp_parser_free(&p);
    /* A parser whose init failed stays failed, reset or not. */
    bad.max_bulk = 0;
    ASSERT_RC(resp_parser_init(&p, &bad), -EINVAL);
    resp_parser_reset(&p);
    ASSERT_RC(resp_parse(&p, LIT("PING\r\n"), &consumed, &req), -EINVAL);
    resp_parser_free(&p);
    /* New limits apply from the next header on: between requests. */
    l = small_limits();
    ASSERT_OK(resp_parser_init(&p, NULL));
    ASSERT_EQ(resp_parse(&p, LIT("*1\r\n$11\r\n01234567890\r\n"), &consumed, &req),
              RESP_REQUEST);
    ASSERT_OK(resp_parser_set_limits(&p, &l));
    ASSERT_EQ(p.limits.max_bulk, 10);
    ASSERT_RC(resp_parse(&p, LIT("*1\r\n$11\r\n01234567890\r\n"), &consumed, &req), -EPROTO);
    ASSERT_TRUE(!strcmp(resp_parser_error(&p), "Protocol error: invalid bulk length"));
    resp_parser_free(&p);
}

/* What a hostile client declares costs nothing until it arrives, and a
 * caller that breaks the contract gets -EINVAL, not a read out of bounds. */
static void hostile(void)
{
    resp_parser p;
    size_t consumed;
    resp_request req;
    char head[64];
    int n;

    ASSERT_OK(resp_parser_init(&p, NULL));
    ASSERT_EQ(resp_parse(&p, LIT("*1048576\r\n$1\r\na\r\n$1\r\n"), &consumed, &req),
              RESP_NEED_MORE);
    ASSERT_EQ(consumed, 0);
    ASSERT_TRUE(p.arg_cap <= 8); /* one argument arrived: no room for a million */
    resp_parser_free(&p);

    ASSERT_OK(resp_parser_init(&p, NULL));
    n = snprintf(head, sizeof(head), "*1\r\n$%u\r\n", RESP_DEFAULT_MAX_BULK);
    ASSERT_EQ(resp_parse(&p, head, (size_t)n, &consumed, &req), RESP_NEED_MORE);
    ASSERT_EQ(resp_parser_need(&p), (size_t)n + RESP_DEFAULT_MAX_BULK + 2);
    ASSERT_TRUE(p.arg_cap == 0 && p.scratch_cap == 0); /* nothing allocated for it */
    /* The request's bytes must come back, and more: fewer is a caller bug. */
    ASSERT_EQ(resp_parse(&p, head, (size_t)n - 1, &consumed, &req), -EINVAL);
    ASSERT_EQ(resp_parse(&p, head, (size_t)n, &consumed, &req), -EINVAL);
    resp_parser_reset(&p);
    ASSERT_EQ(resp_parse(&p, LIT("PING\r\n"), &consumed, &req), RESP_REQUEST);
    ASSERT_TRUE(req.is_inline);
    /* No input at all. */
    ASSERT_EQ(resp_parse(&p, NULL, 0, &consumed, &req), RESP_NEED_MORE);
    ASSERT_EQ(resp_parser_need(&p), 1);
    resp_parser_free(&p);
    resp_parser_free(NULL);
}

int main(void)
{
    const char *scale_env = getenv("CAIRN_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;

    test_seed_init(20260512);
    every_split();
    inline_table();
    malformed();
    limits();
    hostile();
    random_streams((int)(1500 * scale) + 20);
    printf("ok\n");
    return 0;
}
