/*
 * cli.h - what the files of the cairn command share: the parsed command
 * line, the commands, and helpers for errors, versions and output.
 *
 * The command uses only the public API (cairn.h). Every command function
 * returns the process exit status:
 *
 *     0  success
 *     1  the key asked for does not exist (get, mget)
 *     2  bad usage or bad input: unknown command or option, missing or
 *        malformed argument, bad stack spec, malformed import line, key or
 *        value too long, unknown branch, tag or commit
 *     3  any other failure (I/O, corruption, busy store, verify problems)
 *     4  a compare-and-swap found another value (cas, apply), or the branch
 *        moved under a commit (CAIRN_CONFLICT)
 *
 * and prints its own message on stderr, "cairn: " first and the thread's
 * cairn_errdetail() last when there is one.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cairn.h"

enum {
    EXIT_NOTFOUND = 1,
    EXIT_USAGE = 2,
    EXIT_FAILURE_ = 3,
    EXIT_CONFLICT = 4
};

/* Option bits: which options were given, and which a command accepts.
 * 64 of them (an enum holds an int: 32 were not enough). */
typedef uint64_t cli_opts;
#define OPT_STACK ((cli_opts)1 << 0)
#define OPT_AT ((cli_opts)1 << 1)
#define OPT_BRANCH ((cli_opts)1 << 2)
#define OPT_SPACE ((cli_opts)1 << 3)
#define OPT_MESSAGE ((cli_opts)1 << 4)
#define OPT_PREFIX ((cli_opts)1 << 5)
#define OPT_FROM ((cli_opts)1 << 6)
#define OPT_TO ((cli_opts)1 << 7)
#define OPT_LIMIT ((cli_opts)1 << 8)
#define OPT_REVERSE ((cli_opts)1 << 9)
#define OPT_FORMAT ((cli_opts)1 << 10)
#define OPT_KEY ((cli_opts)1 << 11)
#define OPT_BATCH ((cli_opts)1 << 12)
#define OPT_N ((cli_opts)1 << 13)
#define OPT_JSON ((cli_opts)1 << 14)
#define OPT_HELP ((cli_opts)1 << 15)
#define OPT_VERSION ((cli_opts)1 << 16)
#define OPT_NODE_SIZE ((cli_opts)1 << 17)
#define OPT_FORCE ((cli_opts)1 << 18)
#define OPT_DELETE ((cli_opts)1 << 19)
#define OPT_RAW ((cli_opts)1 << 20)
#define OPT_REPAIR ((cli_opts)1 << 21)
#define OPT_FOLLOW ((cli_opts)1 << 22)
#define OPT_PROMETHEUS ((cli_opts)1 << 23)
#define OPT_ABSENT ((cli_opts)1 << 24)
#define OPT_ALL ((cli_opts)1 << 25)
#define OPT_KEEP_LAST ((cli_opts)1 << 26)
#define OPT_KEEP_NEWER ((cli_opts)1 << 27)
#define OPT_GRACE ((cli_opts)1 << 28)
#define OPT_DRY_RUN ((cli_opts)1 << 29)
#define OPT_PIN ((cli_opts)1 << 30)
#define OPT_CLEAR ((cli_opts)1 << 31)
#define OPT_LISTEN ((cli_opts)1 << 32)
#define OPT_THREADS ((cli_opts)1 << 33)
#define OPT_MAXCLIENTS ((cli_opts)1 << 34)
#define OPT_PASSFILE ((cli_opts)1 << 35)
#define OPT_METRICS ((cli_opts)1 << 36)
#define OPT_REF ((cli_opts)1 << 37)
#define OPT_IDLE ((cli_opts)1 << 38)
#define OPT_KEYS_MAX ((cli_opts)1 << 39)
#define OPT_TYPED ((cli_opts)1 << 40)
#define OPT_CACHE ((cli_opts)1 << 41)

/* The parsed command line. Strings point into argv. */
typedef struct cli {
    const char *spec;        /* -s, else $CAIRN_STACK, else the default */
    const char *at;          /* --at, or NULL */
    const char *branch;      /* -b, or NULL (main) */
    const char *space;       /* --space, "" by default */
    const char *message;     /* -m, or NULL */
    const char *prefix, *from, *to; /* scan and count bounds, or NULL */
    uint64_t limit;          /* --limit (only if OPT_LIMIT is set) */
    bool reverse;            /* --reverse */
    cairn_format format;     /* --format, CAIRN_TSV by default */
    bool pack;               /* --format pack: a bundle (export, import) */
    bool raw;                /* --raw: tsv without escapes (cli_format); import
                                jsonl: no typed records (CAIRN_IMPORT_UNTYPED) */
    bool typed;              /* --typed: typed jsonl (CAIRN_JSONL_TYPED) */
    const char *key_field;   /* --key, or NULL */
    uint64_t batch;          /* --batch, 10000 by default */
    uint64_t log_n;          /* -n (only if OPT_N is set) */
    bool json;               /* --json */
    uint64_t node_size;      /* --node-size (only if OPT_NODE_SIZE is set) */
    bool force;              /* -f, --force */
    bool delete_;            /* -d, --delete */
    bool repair;             /* --repair */
    bool prometheus;         /* --prometheus */
    bool absent;             /* --absent (cas) */
    uint64_t follow_s;       /* --follow (only if OPT_FOLLOW is set) */
    uint64_t keep_last;      /* gc --keep-last */
    uint64_t keep_newer_s;   /* gc --keep-newer */
    uint64_t grace_s;        /* gc --grace (only if OPT_GRACE is set) */
    bool dry_run;            /* gc --dry-run */
    uint64_t pin_ttl_s;      /* --pin[=TTL]: the lease (only if OPT_PIN is set) */
    struct cli_pins *pins;   /* the pins this run holds (cmd_pins.c), or NULL */
    const char *listen;      /* serve --listen HOST:PORT */
    const char *passfile;    /* serve --requirepass-file */
    const char *metrics;     /* serve --metrics HOST:PORT */
    const char *ref;         /* serve --ref BRANCH */
    uint64_t threads, maxclients, idle_s, keys_max; /* serve (only if given) */
    uint64_t cache_bytes;    /* serve --cache: the node cache (only if given) */
    cli_opts seen;           /* OPT_* bits given */
    const char *command;     /* the subcommand's name */
    char **args;             /* its positional arguments */
    int n_args;
    cairn_db *db;            /* the open store, for commands that need one */
} cli;

/* ---- commands (cmd_read.c, cmd_write.c, cmd_admin.c) */
int cmd_get(cli *c);
int cmd_mget(cli *c);
int cmd_scan(cli *c);
int cmd_count(cli *c);
int cmd_export(cli *c);
int cmd_root(cli *c);
int cmd_log(cli *c);
int cmd_diff(cli *c);
int cmd_spaces(cli *c);
int cmd_refs(cli *c);
int cmd_follow(cli *c);
int cmd_gc(cli *c);
int cmd_put(cli *c);
int cmd_del(cli *c);
int cmd_import(cli *c);
int cmd_tag(cli *c);
int cmd_branch(cli *c);
int cmd_reset(cli *c);
int cmd_verify(cli *c);
int cmd_stats(cli *c);
int cmd_init(cli *c);
int cmd_sync(cli *c);
int cmd_cas(cli *c);
int cmd_incr(cli *c);
int cmd_apply(cli *c);
int cmd_copy(cli *c);
/* export and import with --format pack (cmd_copy.c) */
int cmd_export_pack(cli *c);
int cmd_import_pack(cli *c);
int cmd_pins(cli *c);
int cmd_retention(cli *c);
int cmd_serve(cli *c);

/* ---- pins held while a read command runs (cmd_pins.c) */

/* With --pin: pins commit for c->pin_ttl_s and renews it in a background
 * thread until cli_pins_release. Returns 0, or an exit status after
 * printing the error (a reader that can pin nowhere is told what protects
 * it instead). Without --pin: nothing, 0. */
int cli_pin_commit(cli *c, const cairn_id *commit);
/* Stops renewing and deletes every pin this run took (before the store
 * closes). Safe when none was taken. */
void cli_pins_release(cli *c);

/* After a write: names on stderr a ref tier of the stack that could not
 * follow (the write stands; the tier catches up later). Returns 0.
 * (cmd_write.c) */
int cli_warn_behind(cli *c);

/* ---- errors and helpers (main.c) */

/* The exit status for rc (see the table above; NOTFOUND is 1). */
int cli_exit_code(int rc);

/* Prints "cairn: CONTEXT: STRERROR(rc): DETAIL" (the detail only if the
 * thread has one; for CAIRN_BADINPUT with a detail, just "cairn: DETAIL")
 * and returns cli_exit_code(rc). Call it right after the failing cairn call,
 * before any other call into cairn, which may replace the detail. */
int cli_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "cairn: MESSAGE" and a hint to run help, and returns EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "cairn: MESSAGE" and returns status. */
int cli_say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The version a read command reads: --at, else -b (NULL for "main", so an
 * empty store reads as empty), else NULL (the head of main). */
const char *cli_version(const cli *c);

/* Opens the snapshot named by name (NULL: the head of main). An unknown
 * name is bad input: prints "cairn: unknown branch, tag or commit 'NAME'"
 * and returns EXIT_USAGE. Other failures print and return their status. */
int cli_snapshot(cli *c, const char *name, cairn_snapshot **out);

/* The line format of --format, --raw and --typed: CAIRN_TSV_RAW for tsv
 * with --raw, CAIRN_JSONL_TYPED for jsonl with --typed (check_command
 * allows them only there), else --format. */
cairn_format cli_format(const cli *c);

/* Quotes bytes for a message: valid UTF-8 text as is; control characters
 * (C0, DEL, C1), bytes that are not UTF-8 and the backslash as \xHH (the
 * backslash as \\); at most about 64 bytes shown. Returns buf. Calls
 * nothing in cairn, so it is safe in the arguments of cli_error. */
const char *cli_quote(const void *data, size_t len, char buf[512]);

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes; the
 * strict rules of Unicode table 3-7: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0 if s[0] does not start one. s[0] >= 0x80. */
size_t cli_utf8_len(const unsigned char *s, size_t avail);

/* Writes data tsv-escaped (cairn_tsv_escape) to f. Returns 0 or an exit
 * status after printing the error. */
int cli_put_escaped(FILE *f, const void *data, size_t len);

/* Flushes stdout. Returns 0, or EXIT_FAILURE_ after printing the error. */
int cli_flush_stdout(void);

/* ---- SIGINT and SIGTERM during an import (stop.c) */

/* The signal received since cli_stop_catch, or 0. cairn_import polls it. */
extern volatile sig_atomic_t cli_stop_signal;
/* Catches SIGINT and SIGTERM (unless inherited as ignored): the first one
 * sets cli_stop_signal and interrupts a waiting read; a second one ends the
 * process at once. */
void cli_stop_catch(void);
/* "SIGINT" or "SIGTERM", for messages. */
const char *cli_stop_name(void);
/* If a signal was caught, flushes the output and ends the process by that
 * signal (the shell sees 128 + its number); else returns. */
void cli_stop_finish(void);

/* ---- progress (progress.c) */

/* A progress line on stderr, shown only when stderr is a terminal. */
typedef struct progress {
    bool on;                 /* stderr is a terminal */
    bool shown;              /* a line is on screen */
    const char *verb;        /* "importing", "exporting" */
    const char *unit;        /* "records" (default), "blobs" */
    struct timespec start;   /* when it began */
    struct timespec last;    /* when the line was last drawn */
} progress;

void progress_init(progress *p, const char *verb);
/* A cairn_progress_fn: redraws the line at most ten times a second. */
void progress_update(void *ctx, uint64_t records, uint64_t bytes, uint64_t total_bytes);
/* For copies (cairn_copy_options.progress): the phase becomes the verb,
 * blobs the unit. */
void progress_phase(void *ctx, const char *phase, uint64_t blobs, uint64_t bytes);
/* Clears the line if one is shown. */
void progress_done(progress *p);

#endif /* CAIRN_CLI_H */
