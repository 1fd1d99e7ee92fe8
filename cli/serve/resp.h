/*
 * resp.h - the Redis protocol (RESP2 and RESP3) for `cairn serve`: an
 * incremental request parser over a connection's input buffer, and a reply
 * encoder into a growable output buffer. No sockets and no commands here:
 * the server reads into its buffer, calls resp_parse until it answers
 * RESP_NEED_MORE, runs each request, encodes its reply into a resp_out and
 * writes what resp_out_iov hands it. Neither side knows about cairn.
 *
 * What a client sends (docs/serve.md, "Protocol"):
 *
 *     multibulk  *<count>\r\n  then <count> times  $<len>\r\n<len bytes>\r\n
 *                e.g. *2\r\n$3\r\nGET\r\n$1\r\nk\r\n      (every real client)
 *     inline     GET k\r\n   words split as redis-cli splits them: blanks
 *                separate, "double quotes" take \n \r \t \b \a \xHH and
 *                \<any>, 'single quotes' take \' only; \r before \n is
 *                dropped                                  (telnet, scripts)
 *
 * A request whose first byte is '*' is multibulk, any other is inline, as
 * in Redis. Requests with no arguments (an empty line, *0, *-1) are skipped
 * without a reply, as Redis skips them.
 *
 * What the server sends: one call per value, in the connection's protocol
 * version. RESP3's types fall back to their RESP2 forms on a version 2
 * connection, the way Redis answers:
 *
 *     call                  RESP3                 RESP2
 *     resp_out_simple       +OK\r\n               same
 *     resp_out_error        -ERR msg\r\n          same
 *     resp_out_int          :42\r\n               same
 *     resp_out_bulk         $3\r\nabc\r\n         same
 *     resp_out_null         _\r\n                 $-1\r\n
 *     resp_out_null_array   _\r\n                 *-1\r\n
 *     resp_out_array        *N\r\n + N values     same
 *     resp_out_map          %N\r\n + 2N values    *2N\r\n + 2N values
 *     resp_out_set          ~N\r\n + N values     *N\r\n + N values
 *     resp_out_double       ,1.5\r\n              $3\r\n1.5\r\n
 *     resp_out_bool         #t\r\n  #f\r\n        :1\r\n  :0\r\n
 *     resp_out_verbatim     =7\r\ntxt:abc\r\n     $3\r\nabc\r\n
 *
 * Errors follow the library's rule: 0 or a positive result is success, a
 * negative errno is a failure (-EPROTO bad input, -ENOMEM, -EINVAL misuse).
 * Not thread-safe: one parser and one resp_out per connection, used by one
 * thread at a time. Both structs are declared here so that a connection can
 * embed them; their fields are private (read them only through functions).
 */
#ifndef CAIRN_RESP_H
#define CAIRN_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* ------------------------------------------------------------ limits */

/* Longest argument of a multibulk request (Redis: proto-max-bulk-len, 512
 * MiB). Ours is 64 MiB, cairn's largest value (CAIRN_VALUE_MAX), so that a
 * SET of any value a store can hold still parses and gets -READONLY, while
 * one connection cannot make the server buffer half a gigabyte. */
#define RESP_DEFAULT_MAX_BULK (64u << 20)
/* Most arguments in one request. Redis takes up to INT_MAX; a million is
 * an MGET far beyond any reply the server should build. */
#define RESP_DEFAULT_MAX_ARGS (1u << 20)
/* Longest inline request line, CR LF not counted (Redis:
 * PROTO_INLINE_MAX_SIZE, 64 KiB). */
#define RESP_DEFAULT_MAX_INLINE (64u << 10)
/* Most bytes in one request, headers included (Redis closes a client whose
 * query buffer passes client-query-buffer-limit, 1 GiB). Room for one
 * argument of the largest size and plenty of small ones; it bounds what a
 * connection's input buffer must ever hold. */
#define RESP_DEFAULT_MAX_REQUEST (128u << 20)
/* No limit may be 0 or larger than this (2^40): the parser adds limits to
 * offsets and must not overflow. */
#define RESP_LIMIT_MAX ((size_t)1 << 40)

/* Redis's limits for a client that has not yet authenticated (see
 * resp_parser_require_auth), with Redis's own messages. */
#define RESP_UNAUTH_MAX_ARGS 10
#define RESP_UNAUTH_MAX_BULK 16384

typedef struct resp_limits {
    size_t max_bulk;    /* longest multibulk argument, bytes */
    size_t max_args;    /* most arguments in one request */
    size_t max_inline;  /* longest inline line, bytes, CR LF not counted */
    size_t max_request; /* most bytes in one request, all headers counted */
} resp_limits;

/* The defaults above. */
resp_limits resp_limits_default(void);

/* ------------------------------------------------------------ parser */

/* resp_parse's results besides errors. */
#define RESP_NEED_MORE 0 /* no complete request yet: read more, call again */
#define RESP_REQUEST 1   /* *out holds one request */

/* One argument: len bytes at ptr, not NUL-terminated, any bytes. */
typedef struct resp_arg {
    const char *ptr;
    size_t len;
} resp_arg;

/* A complete request: argc >= 1 arguments, the command name first. */
typedef struct resp_request {
    size_t argc;
    const resp_arg *argv;
    bool is_inline; /* sent as an inline line (telnet), not multibulk */
} resp_request;

/* The parser of one connection. Private fields; offsets count from the
 * first byte of the request in progress. */
typedef struct resp_parser {
    resp_limits limits;
    bool unauthenticated; /* Redis's small pre-AUTH limits apply */
    int state;            /* where in a request the parser stands */
    int error;            /* 0, or the sticky negative errno */
    size_t pos;           /* bytes of the request parsed */
    size_t seen;          /* bytes of the request the last call was given */
    size_t need;          /* bytes the request needs before progress */
    size_t n_declared;    /* arguments the *<count> header announced */
    size_t bulk_len;      /* length of the argument being read */
    size_t argc;          /* arguments parsed so far */
    size_t arg_cap;       /* room in argv and arg_off */
    resp_arg *argv;       /* the arguments; ptr set when the request is done */
    size_t *arg_off;      /* each argument's offset in the request */
    char *scratch;        /* unescaped inline arguments */
    size_t scratch_cap;
    char message[96];     /* the error's text */
} resp_parser;

/* Sets up p with limits (NULL: resp_limits_default()). Allocates nothing;
 * the argument arrays grow with the arguments that actually arrive, never
 * with a count a client merely declares. Returns 0, or -EINVAL (p left
 * unusable) if a limit is 0 or above RESP_LIMIT_MAX. */
int resp_parser_init(resp_parser *p, const resp_limits *limits);

/* Replaces p's limits: they apply to every header read from now on, so set
 * them between requests. Returns 0, or -EINVAL as resp_parser_init, p
 * unchanged. */
int resp_parser_set_limits(resp_parser *p, const resp_limits *limits);

/* While on, a multibulk request may declare at most RESP_UNAUTH_MAX_ARGS
 * arguments and RESP_UNAUTH_MAX_BULK bytes per argument (on top of the
 * limits), failing with Redis's "unauthenticated multibulk length" and
 * "unauthenticated bulk length". A server with a password turns it on at
 * accept and off after AUTH, as Redis does, so that strangers cannot make
 * it buffer much. Off after init. */
void resp_parser_require_auth(resp_parser *p, bool on);

/* Parses the next request from buf[0..len), the connection's unconsumed
 * input.
 *
 * Returns RESP_REQUEST with *out filled: argv points into buf[0..*consumed)
 * (inline arguments that needed unescaping point into p instead), valid
 * until the caller moves, overwrites or frees those bytes or calls any
 * other function on p. The request ends at buf[*consumed]; drop those
 * bytes (or step past them) and call again for the next request of a
 * pipeline, before reading more.
 *
 * Returns RESP_NEED_MORE when buf holds no complete request. *consumed is
 * then the bytes of skipped empty requests, to drop; the rest,
 * buf[*consumed..len), begins a request the parser has partly read and
 * remembers. The next call must pass those same bytes at the start of buf
 * (the buffer may have moved or grown) followed by more: work done is not
 * redone, so a request arriving a byte at a time costs linear time.
 * resp_parser_need() says how many bytes that next buf needs at least.
 *
 * Returns a negative errno, *consumed 0, and stays failed (every later
 * call returns the same) until resp_parser_reset:
 *   -EPROTO  the client broke the protocol or a limit; resp_parser_error()
 *            gives Redis's text, e.g. "Protocol error: invalid bulk length".
 *            Reply "-ERR <text>" and close the connection, as Redis does.
 *   -ENOMEM  the argument array could not grow.
 *   -EINVAL  buf is shorter than the part of a request already given.
 * Never reads outside buf[0..len), never allocates more than a small
 * multiple of the bytes received, and returns after O(len) work. */
int resp_parse(resp_parser *p, const char *buf, size_t len, size_t *consumed, resp_request *out);

/* After RESP_NEED_MORE: the least length the next call's buf must have
 * (counted from the request's first byte) before it can return anything
 * but RESP_NEED_MORE. Inside a large argument this covers the whole
 * argument, so the server can size its buffer once (as Redis does for big
 * arguments); elsewhere it is one byte more than was given. */
size_t resp_parser_need(const resp_parser *p);

/* The text of p's error ("" if none): static within p, valid until
 * resp_parser_reset or resp_parser_free. Protocol errors start with
 * "Protocol error: " and never hold CR or LF. */
const char *resp_parser_error(const resp_parser *p);

/* Forgets the request in progress and any error; keeps the limits, the
 * AUTH mode and the memory. The next call starts at a request boundary. A
 * parser whose init failed stays failed. */
void resp_parser_reset(resp_parser *p);

/* Releases p's memory. p may then be initialised again. Accepts NULL. */
void resp_parser_free(resp_parser *p);

/* ------------------------------------------------------------ replies */

/* Called once when the bytes of a by-reference value are no longer needed
 * (see resp_out_bulk_ref). */
typedef void (*resp_release_fn)(void *ctx);

/* A value appended by reference: its bytes go out between buf[at - 1] and
 * buf[at]. */
typedef struct resp_out_ref {
    size_t at;
    const char *bytes;
    size_t len;
    resp_release_fn release;
    void *ctx;
} resp_out_ref;

/* The replies of one connection, waiting to be written: buf[head..len)
 * interleaved with refs[ref_first..n_refs). Private fields. */
typedef struct resp_out {
    char *buf;
    size_t head, len, cap;
    resp_out_ref *refs;
    size_t ref_first, n_refs, ref_cap;
    size_t ref_sent;  /* bytes of refs[ref_first] already written */
    size_t ref_bytes; /* bytes of refs[ref_first..n_refs) not yet written */
    int proto;       /* 2 or 3 */
    int error;       /* 0, or -ENOMEM since an append failed (sticky) */
} resp_out;

/* Values of resp_out_bulk_ref at least this long are sent from the
 * caller's memory; shorter ones are copied, which costs less than an extra
 * iovec and a callback (Redis copies replies in 16 KiB chunks). */
#define RESP_OUT_REF_MIN (16u << 10)

/* Sets up o for protocol version proto (2 or 3; RESP2 is what a connection
 * speaks until HELLO 3). Allocates nothing. Returns 0 or -EINVAL. */
int resp_out_init(resp_out *o, int proto);

/* Switches the version for the replies appended from now on (HELLO).
 * Returns 0 or -EINVAL (o unchanged). */
int resp_out_set_proto(resp_out *o, int proto);

/* The current protocol version, 2 or 3. */
int resp_out_proto(const resp_out *o);

/* Releases o's memory and calls the release function of every reference
 * not yet written. Accepts NULL. */
void resp_out_free(resp_out *o);

/* 0, or -ENOMEM if any append has failed since init. Appending is sticky:
 * after a failure every append returns -ENOMEM and adds nothing, so a
 * command can append its whole reply and check once; the pending output is
 * then incomplete and the connection should be closed. */
int resp_out_status(const resp_out *o);

/*
 * Appending. Each function returns 0 or -ENOMEM (see resp_out_status), and
 * copies what it is given unless it says otherwise. Aggregates take their
 * element count first; the caller then appends exactly that many values
 * (twice as many for a map: key, value, key, value ...).
 */

/* +s: a status ("OK", "PONG"). s is a NUL-terminated string; CR and LF in it
 * become spaces, since they would end the line early. */
int resp_out_simple(resp_out *o, const char *s);
/* -msg: msg starts with its code ("ERR ...", "READONLY ...", "NOAUTH ...",
 * "WRONGTYPE ..."); CR and LF become spaces. */
int resp_out_error(resp_out *o, const char *msg);
/* resp_out_error with a printf format. */
int resp_out_errorf(resp_out *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* :v */
int resp_out_int(resp_out *o, long long v);
/* $len + the bytes: the GET reply. One capacity check and one memcpy. */
int resp_out_bulk(resp_out *o, const void *bytes, size_t len);
/* The same reply, but a value of RESP_OUT_REF_MIN bytes or more is not
 * copied: its bytes must stay valid and unchanged until release(ctx) is
 * called, which happens exactly once, after they have been written (by
 * resp_out_consume) or when o is freed. A shorter value is copied and
 * release(ctx) called before this returns. On failure release is never
 * called and the bytes remain the caller's. release may be NULL. */
int resp_out_bulk_ref(resp_out *o, const void *bytes, size_t len, resp_release_fn release,
                      void *ctx);
/* The null reply of a missing value (GET of an absent key). */
int resp_out_null(resp_out *o);
/* The null of a missing aggregate (RESP2 distinguishes it). */
int resp_out_null_array(resp_out *o);
/* Aggregate headers; n elements follow. */
int resp_out_array(resp_out *o, size_t n);
int resp_out_map(resp_out *o, size_t n_pairs);
int resp_out_set(resp_out *o, size_t n);
/* The shortest text that reads back as d, as Redis writes doubles:
 * integral values without a point ("3", "-0"), "inf", "-inf", "nan". */
int resp_out_double(resp_out *o, double d);
/* true or false. */
int resp_out_bool(resp_out *o, bool b);
/* Text for humans (INFO, CLIENT INFO): format is three characters, "txt"
 * or "mkd"; RESP2 gets the text alone as a bulk string. */
int resp_out_verbatim(resp_out *o, const char *format, const void *text, size_t len);
/* Bytes already in RESP form (a reply encoded once and kept). The caller
 * answers for their being valid in o's protocol version. */
int resp_out_raw(resp_out *o, const void *bytes, size_t len);

/*
 * Aggregates whose size is known only at the end (SCAN, KEYS, INFO-like
 * lists): take a mark, append the elements, then end the aggregate with its
 * count. The header is inserted at the mark, which moves the elements
 * appended since: O(their bytes), once. Marks nest (end the inner first).
 * No resp_out_consume and no resp_out_shrink between a mark and its end.
 */
typedef size_t resp_mark;
typedef enum resp_aggregate { RESP_ARRAY, RESP_MAP, RESP_SET } resp_aggregate;

resp_mark resp_out_mark(const resp_out *o);
/* Inserts at mark the header of an aggregate of kind with n elements
 * (n pairs for RESP_MAP). Returns 0 or -ENOMEM. */
int resp_out_end(resp_out *o, resp_mark mark, resp_aggregate kind, size_t n);

/*
 * Writing out. The server gathers the pending bytes into iovecs, writes
 * them (writev, or sendmsg), then tells o how many went out.
 */

/* Bytes waiting to be written, by-reference values included. */
size_t resp_out_pending(const resp_out *o);
/* Fills up to max_iov entries of iov with the pending bytes in order and
 * returns how many it filled (0 if nothing is pending). They point into o
 * and the callers' referenced values: valid until the next call on o. */
int resp_out_iov(const resp_out *o, struct iovec *iov, int max_iov);
/* Marks the first n pending bytes as written (n <= resp_out_pending) and
 * calls the release function of each reference now written in full. */
void resp_out_consume(resp_out *o, size_t n);
/* With nothing pending, frees the buffer (an idle connection then holds no
 * reply memory; the next append allocates again). Otherwise does nothing. */
void resp_out_shrink(resp_out *o);

#endif /* CAIRN_RESP_H */
