/*
 * main.c - the cairn command: option parsing, dispatch, help, and the
 * error and output helpers the commands share (cli.h).
 *
 * Options may come before or after the subcommand; "--" ends the options
 * (so that a key may begin with '-'), and a lone "-" is an argument, as is
 * a word of '-' and a digit ("-5", a negative incr delta: no option is a
 * digit). Long
 * options take their value as "--opt VALUE" or "--opt=VALUE", short ones
 * as "-s VALUE" or "-sVALUE".
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_STACK "lmdb:./cairn-data"

/* ---------------------------------------------------------------- options */

typedef struct option_def {
    const char *long_name; /* without "--", or NULL */
    char short_name;       /* or 0 */
    bool has_arg;
    cli_opts bit;
} option_def;

static const option_def options[] = {
    {"stack", 's', true, OPT_STACK},     {"at", 0, true, OPT_AT},
    {"branch", 'b', true, OPT_BRANCH},   {"space", 0, true, OPT_SPACE},
    {"message", 'm', true, OPT_MESSAGE}, {"prefix", 0, true, OPT_PREFIX},
    {"from", 0, true, OPT_FROM},         {"to", 0, true, OPT_TO},
    {"limit", 0, true, OPT_LIMIT},       {"reverse", 0, false, OPT_REVERSE},
    {"format", 0, true, OPT_FORMAT},     {"key", 0, true, OPT_KEY},
    {"batch", 0, true, OPT_BATCH},       {NULL, 'n', true, OPT_N},
    {"json", 0, false, OPT_JSON},        {"help", 'h', false, OPT_HELP},
    {"version", 0, false, OPT_VERSION},  {"raw", 0, false, OPT_RAW},
    {"node-size", 0, true, OPT_NODE_SIZE}, {"force", 'f', false, OPT_FORCE},
    {"delete", 'd', false, OPT_DELETE},   {"repair", 0, false, OPT_REPAIR},
    {"follow", 0, true, OPT_FOLLOW},      {"prometheus", 0, false, OPT_PROMETHEUS},
    {"absent", 0, false, OPT_ABSENT},    {"all", 0, false, OPT_ALL},
    {"keep-last", 0, true, OPT_KEEP_LAST}, {"keep-newer", 0, true, OPT_KEEP_NEWER},
    {"grace", 0, true, OPT_GRACE},        {"dry-run", 0, false, OPT_DRY_RUN},
    {"pin", 0, true, OPT_PIN},            {"clear", 0, false, OPT_CLEAR},
    {"listen", 0, true, OPT_LISTEN},      {"threads", 0, true, OPT_THREADS},
    {"maxclients", 0, true, OPT_MAXCLIENTS}, {"requirepass-file", 0, true, OPT_PASSFILE},
    {"metrics", 0, true, OPT_METRICS},    {"ref", 0, true, OPT_REF},
    {"idle-timeout", 0, true, OPT_IDLE},  {"keys-max", 0, true, OPT_KEYS_MAX},
    {"cache", 0, true, OPT_CACHE},
    {"typed", 0, false, OPT_TYPED},
};
/* Options whose value is optional: given only as "--opt=VALUE" (a word
 * after a bare "--pin" stays an argument). */
#define OPTIONAL_VALUE_OPTS OPT_PIN
/* The pin's lease when --pin gives none. */
#define DEFAULT_PIN_TTL_S 300
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The name of an option for messages: "--at" or "-n". */
static const char *option_name(cli_opts bit)
{
    static char buf[32];
    size_t i;

    for (i = 0; i < N_OPTIONS; i++) {
        if (options[i].bit != bit)
            continue;
        if (options[i].long_name)
            snprintf(buf, sizeof(buf), "--%s", options[i].long_name);
        else
            snprintf(buf, sizeof(buf), "-%c", options[i].short_name);
        return buf;
    }
    return "?";
}

/* ---------------------------------------------------------------- commands */

#define READ_OPTS (OPT_AT | OPT_BRANCH)
#define RETENTION_SETS (OPT_KEEP_LAST | OPT_KEEP_NEWER | OPT_GRACE | OPT_CLEAR)
#define PIN_HELP                                                                    \
    "  --pin[=TTL]     pin the version while reading (docs/gc.md): gc keeps it\n" \
    "                  until the pin expires; renewed every TTL/3, removed at the\n" \
    "                  end (TTL: a duration, default 5m)\n"
#define WRITE_OPTS (OPT_BRANCH | OPT_MESSAGE)

typedef struct command {
    const char *name;
    int (*run)(cli *c);
    bool writes;        /* opens the store for writing; others open it read-only */
    cli_opts opts;      /* options accepted besides -s and -h */
    int min_args, max_args;
    const char *synopsis;
    const char *help;
} command;

/* Whether cmd opens the stores it names itself (copy): -s is not used. */
static bool own_stores(const command *cmd)
{
    return cmd->run == cmd_copy;
}

static const command commands[] = {
    {"init", cmd_init, true, OPT_NODE_SIZE, 0, 0, "init [--node-size N]",
     "Creates an empty store (nothing else does for read commands), or opens\n"
     "an existing one, and prints its node size target.\n"
     "  --node-size N  node size target in bytes for a new store (256 to 65536,\n"
     "                 default 4096); an existing store keeps its own, and a\n"
     "                 different N is an error\n"},
    {"put", cmd_put, true, WRITE_OPTS | OPT_SPACE, 2, 2, "put KEY VALUE|-",
     "Sets KEY to VALUE in one commit. Both are taken as raw bytes. A VALUE of\n"
     "- reads the value from stdin (all of it, binary-safe, up to 64 MiB); to\n"
     "store a lone '-', run: printf %s - | cairn put KEY -\n"
     "  -b BRANCH   write to BRANCH (created if new)\n"
     "  --space S   write to keyspace S\n"
     "  -m MSG      commit message (default \"put KEY\")\n"},
    {"get", cmd_get, false, READ_OPTS | OPT_SPACE, 1, 1, "get KEY",
     "Prints the value of KEY (raw bytes) and a newline; exit 1 if KEY is missing.\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S   read keyspace S\n"},
    {"mget", cmd_mget, false, READ_OPTS | OPT_SPACE, 1, INT_MAX, "mget KEY...",
     "Gets several keys from one version, one line per KEY in argument order:\n"
     "KEY<TAB>VALUE (tsv-escaped) if found, the escaped KEY alone (no tab) if\n"
     "missing. Exit 1 if any KEY is missing.\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S   read keyspace S\n"},
    {"del", cmd_del, true, WRITE_OPTS | OPT_SPACE, 1, 1, "del KEY",
     "Deletes KEY in one commit. Deleting a missing key is not an error.\n"
     "  -b BRANCH, --space S, -m MSG as for put\n"},
    {"cas", cmd_cas, true, WRITE_OPTS | OPT_SPACE | OPT_ABSENT | OPT_DELETE, 1, 3,
     "cas KEY EXPECTED NEW | cas --absent KEY NEW | cas -d KEY EXPECTED",
     "Compare-and-swap in one commit: sets KEY to NEW only if its value is\n"
     "EXPECTED (raw bytes, as for put), checked under the writer lock. If it is\n"
     "not, nothing is written, the message says what KEY holds, and the exit\n"
     "status is 4.\n"
     "  --absent      set KEY to NEW only if KEY does not exist\n"
     "  -d, --delete  delete KEY only if its value is EXPECTED\n"
     "  -b BRANCH, --space S, -m MSG as for put (default message \"cas KEY\")\n"},
    {"incr", cmd_incr, true, WRITE_OPTS | OPT_SPACE, 1, 2, "incr KEY [DELTA]",
     "Adds DELTA (default 1; may be negative: incr KEY -5) to the decimal\n"
     "counter KEY in one commit and prints the new value. A missing KEY counts\n"
     "as 0. A counter is an optional '-' then digits, within the range of a\n"
     "signed 64-bit integer; any other value, or a sum out of that range, is an\n"
     "error (exit 2) and nothing is written.\n"
     "  -b BRANCH, --space S, -m MSG as for put (default message \"incr KEY\")\n"},
    {"apply", cmd_apply, true, WRITE_OPTS | OPT_SPACE, 1, 1, "apply FILE|-",
     "Applies the operations in FILE (or stdin for -) in one commit, all or\n"
     "nothing. One operation per line, fields separated by a tab and\n"
     "tsv-escaped as for import:\n"
     "  put KEY VALUE        cas KEY OLD NEW      cas-del KEY OLD\n"
     "  del KEY              cas-absent KEY NEW   incr KEY [DELTA]\n"
     "Empty lines and lines starting with # are skipped. Each operation sees\n"
     "the ones before it. A malformed line (exit 2), a failed cas (exit 4) or\n"
     "any other error stops it with FILE:LINE and what is wrong, and nothing\n"
     "is committed.\n"
     "  -m MSG      commit message (default \"apply FILE: N operations\")\n"
     "  -b BRANCH   write to BRANCH;  --space S  write to keyspace S\n"},
    {"scan", cmd_scan, false,
     READ_OPTS | OPT_SPACE | OPT_PREFIX | OPT_FROM | OPT_TO | OPT_LIMIT | OPT_REVERSE | OPT_RAW |
         OPT_PIN,
     0, 0, "scan [--prefix P] [--from K] [--to K] [--limit N] [--reverse] [--raw] [--pin[=TTL]]",
     "Prints one KEY<TAB>VALUE line (tsv-escaped) per key, in key order.\n"
     "  --prefix P  only keys starting with P\n"
     "  --from K    keys >= K;  --to K  keys < K\n"
     "  --limit N   at most N lines;  --reverse  descending order\n"
     "  --raw       raw tsv: bytes as they are, no escapes (a key or value\n"
     "              holding a tab or newline is an error)\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S   read keyspace S\n" PIN_HELP},
    {"count", cmd_count, false, READ_OPTS | OPT_SPACE | OPT_PREFIX | OPT_FROM | OPT_TO, 0, 0,
     "count [--prefix P] [--from K] [--to K]",
     "Prints the number of keys in the range (as for scan), in O(log n).\n"
     "  --prefix P  only keys starting with P\n"
     "  --from K    keys >= K;  --to K  keys < K\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S   read keyspace S\n"},
    {"import", cmd_import, true,
     WRITE_OPTS | OPT_SPACE | OPT_FORMAT | OPT_KEY | OPT_BATCH | OPT_RAW | OPT_FORCE |
         OPT_DRY_RUN | OPT_TYPED,
     1, INT_MAX,
     "import [--format tsv|jsonl] [--raw] [--key FIELD] [--typed] [--batch N] FILE|- | "
     "import --format pack [--force] [--dry-run] FILE [REF...]",
     "Loads records from FILE (or stdin for -), one commit per N records.\n"
     "  --format tsv    KEY<TAB>VALUE lines, tsv-escaped (the default)\n"
     "  --raw           raw tsv: split at the first tab, no unescaping\n"
     "  --format jsonl  one JSON object per line; the line is the value of a\n"
     "                  string, unless it is a typed record: {\"key\":K,\n"
     "                  \"type\":\"string\",\"value\":V} is the string V, and\n"
     "                  {\"key\":K,\"type\":\"hash\",\"value\":{F:V,...}} a hash\n"
     "                  (replacing what K held); --raw: no typed records\n"
     "  --key FIELD     jsonl: top-level field holding the key (required\n"
     "                  unless --typed)\n"
     "  --typed         jsonl: what export --typed writes (--key key)\n"
     "  --batch N       records per commit (default 10000)\n"
     "  -m MSG          commit messages \"MSG records A-B\" (default \"import FILE\")\n"
     "  -b BRANCH       write to BRANCH;  --space S  write to keyspace S\n"
     "A malformed line stops the import (FILE:LINE: what), exit 2; batches\n"
     "committed before it stay. SIGINT or SIGTERM stops it after the records\n"
     "read so far are committed and says where to resume (FILE:LINE).\n"
     "  --format pack   FILE is a bundle (export --format pack): imports its\n"
     "                  branches and tags (REF...: only those) with their\n"
     "                  history, as copy does. The whole bundle is checked\n"
     "                  first; a damaged one changes nothing (exit 3)\n"
     "  -f, --force     pack: move refs that conflict (exit 4 otherwise)\n"
     "  --dry-run       pack: check the bundle, say what would change\n"},
    {"export", cmd_export, false,
     READ_OPTS | OPT_SPACE | OPT_FORMAT | OPT_RAW | OPT_PIN | OPT_TYPED, 0, INT_MAX,
     "export [--format tsv|jsonl] [--raw] [--typed] [--pin[=TTL]] | "
     "export --format pack FILE|- [REF...]",
     "Writes every key of the keyspace to stdout, in key order.\n"
     "  --format tsv    KEY<TAB>VALUE lines, tsv-escaped (the default)\n"
     "  --raw           raw tsv: bytes as they are (a key or value holding a\n"
     "                  tab or newline is an error)\n"
     "  --format jsonl  each value as a line (every value must be a JSON object)\n"
     "  --typed         jsonl: one typed record per string and hash, any bytes\n"
     "                  (import --format jsonl --typed reads them back)\n"
     "  --at REF        read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S       read keyspace S\n"
     "  --format pack   a bundle to FILE (- for stdout): the branches and tags\n"
     "                  REF... (default all) with all their history, the\n"
     "                  settings, every blob they need; import --format pack\n"
     "                  reads it. FILE appears only once it is whole\n" PIN_HELP},
    {"root", cmd_root, false, READ_OPTS | OPT_SPACE, 0, 0, "root [--space NAME]",
     "Prints the hex root id of the version (its catalog), or with --space\n"
     "that keyspace's root. An empty store prints the empty-tree id.\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"
     "  --space S   the root of keyspace S ('' for the default keyspace)\n"},
    {"log", cmd_log, false, READ_OPTS | OPT_N | OPT_ALL, 0, 0, "log [-n N] [--all]",
     "Lists commits newest first: ID SEQ TIME(UTC) KEYS MESSAGE, then, if\n"
     "branches or tags point at the commit, a tab and (BRANCH, tag: TAG).\n"
     "  -n N        at most N commits\n"
     "  --at REF    start at version REF;  -b BRANCH  start at BRANCH\n"
     "  --all       the history of every branch and tag together, each commit\n"
     "              once: by SEQ descending (every commit after its children),\n"
     "              then by time, newest first, then by id\n"},
    {"diff", cmd_diff, false, OPT_SPACE | OPT_PIN, 2, 2, "diff A B [--pin[=TTL]]",
     "Shows how version B differs from A (branches, tags or commit ids):\n"
     "  + KEY<TAB>VALUE         added in B\n"
     "  - KEY<TAB>OLD           removed in B\n"
     "  ~ KEY<TAB>OLD<TAB>NEW   changed\n"
     "  --space S  diff keyspace S\n" PIN_HELP},
    {"gc", cmd_gc, true, OPT_KEEP_LAST | OPT_KEEP_NEWER | OPT_GRACE | OPT_DRY_RUN, 0, 0,
     "gc [--keep-last N|off] [--keep-newer DURATION|off] [--grace DURATION] [--dry-run]",
     "Frees every blob no kept commit needs, in every tier. Kept: every\n"
     "branch and tag head and, back along each branch, the last N commits\n"
     "(--keep-last) and those newer than DURATION (--keep-newer, e.g. 7d);\n"
     "with neither, all history (then only blobs no commit reaches are\n"
     "freed). Commits superseded less than --grace ago (default 1h) are kept\n"
     "too, and every pinned commit until its pin expires ('cairn pins').\n"
     "Each option overrides the store's retention policy ('cairn retention')\n"
     "for this run; 'off' turns a rule off. Safe while others write and\n"
     "read: it deletes in short batches under the writer lock. --dry-run\n"
     "reports what would be freed. Prints the policy applied, then per tier\n"
     "the blobs and bytes found dead and freed. mem, lmdb and file tiers\n"
     "only, for now.\n"},
    {"retention", cmd_retention, false, RETENTION_SETS, 0, 0,
     "retention [--keep-last N|off] [--keep-newer DURATION|off] [--grace DURATION] [--clear]",
     "Shows the store's retention policy (meta/retention), or sets the rules\n"
     "given, keeping the others; gc applies it unless its own options say\n"
     "otherwise. The policy travels with the store (followers, copies).\n"
     "  --keep-last N      keep the last N commits of each branch ('off': unset)\n"
     "  --keep-newer D     keep commits newer than D, e.g. 30d ('off': unset)\n"
     "  --grace D          keep commits superseded less than D ago (0: none)\n"
     "  --clear            remove the policy (with other options: start empty)\n"},
    {"pins", cmd_pins, false, OPT_DELETE, 0, 1, "pins | pins -d NAME",
     "Lists the pins of the store, one line each, tab-separated: NAME COMMIT\n"
     "EXPIRES(UTC) HOLDER STATE, where STATE is 'in force', 'expired' (the\n"
     "next gc deletes it) or 'ignored: WHY' (a damaged record, or a commit\n"
     "the store lacks: gc ignores it and leaves it).\n"
     "  -d, --delete NAME  delete pin NAME (a damaged one too)\n"},
    {"verify", cmd_verify, false, OPT_REPAIR, 0, 0, "verify [--repair]",
     "Checks every blob reachable from every ref, in every ref tier of the\n"
     "stack on its own; prints each problem and a summary. Exit 3 if there\n"
     "are problems.\n"
     "  --repair  restore each missing or damaged blob from another tier of\n"
     "            the stack that holds a good copy (opens the store for\n"
     "            writing); problems left are reported as without it\n"},
    {"stats", cmd_stats, false, READ_OPTS | OPT_JSON | OPT_PROMETHEUS, 0, 0,
     "stats [--json|--prometheus]",
     "Prints tier and cache counters and the node statistics of the version;\n"
     "for a remote tier (s3) its requests, latency, retries and pending\n"
     "uploads, and for each ref tier the commit it holds (a write-back tier's\n"
     "durability watermark) and how many commits it lags.\n"
     "  --json        as one JSON object\n"
     "  --prometheus  in Prometheus' text format (counters and gauges)\n"
     "  --at REF    the version REF;  -b BRANCH  the head of BRANCH\n"},
    {"tag", cmd_tag, true, READ_OPTS | OPT_DELETE, 1, 1, "tag NAME [--at REF] | tag -d NAME",
     "Creates tag NAME at REF (default: the head of -b BRANCH or main).\n"
     "Tags never move: an existing NAME is an error.\n"
     "  --at REF    tag version REF;  -b BRANCH  tag the head of BRANCH\n"
     "  -d, --delete  delete tag NAME (prints the commit it named)\n"},
    {"branch", cmd_branch, true, READ_OPTS | OPT_FORCE | OPT_DELETE, 1, 1,
     "branch NAME [--at REF] [--force] | branch -d NAME [--force]",
     "Points branch NAME at REF (default: the head of -b BRANCH or main),\n"
     "creating it, or moving it forward. A move that would drop commits from\n"
     "the branch (REF does not descend from its head) needs --force.\n"
     "  --at REF    at version REF;  -b BRANCH  at the head of BRANCH\n"
     "  -f, --force   move it anyway (a rollback)\n"
     "  -d, --delete  delete branch NAME (prints the commit it named;\n"
     "                'branch NAME --at ID' restores it); main, the default\n"
     "                branch, only with --force\n"},
    {"reset", cmd_reset, true, OPT_FORCE, 2, 2, "reset BRANCH REF [--force]",
     "Moves the existing branch BRANCH to REF (a branch, tag, commit id or\n"
     "prefix, REF~N), and prints \"reset branch BRANCH: OLD -> NEW\". A move\n"
     "that would drop commits from the branch (REF does not descend from its\n"
     "head: a rollback) is refused, exit 2, naming both commits and how many\n"
     "commits would leave the branch, unless --force.\n"
     "  -f, --force   reset it anyway (stderr says how to undo it)\n"},
    {"refs", cmd_refs, false, 0, 0, 0, "refs", "Lists refs, one line each: KIND NAME COMMIT.\n"},
    {"follow", cmd_follow, false, OPT_BRANCH | OPT_FOLLOW, 0, 0, "follow [-b BRANCH] [--follow SECONDS]",
     "Prints the commit id of the branch's head, then each new one as it\n"
     "appears, one line each, until stopped (SIGINT, SIGTERM). On S3 each\n"
     "poll is one conditional GET (a 304 when nothing changed).\n"
     "  --follow SECONDS  poll interval (default 5)\n"
     "  -b BRANCH         the branch to follow (default main)\n"},
    {"serve", cmd_serve, false,
     OPT_AT | OPT_REF | OPT_FOLLOW | OPT_LISTEN | OPT_THREADS | OPT_MAXCLIENTS | OPT_PASSFILE |
         OPT_METRICS | OPT_IDLE | OPT_KEYS_MAX | OPT_CACHE,
     0, 0,
     "serve [--ref BRANCH|--at VERSION] [--listen 127.0.0.1:6380] [--follow SECONDS] "
     "[--threads N] [--maxclients N] [--requirepass-file FILE] [--metrics HOST:PORT]",
     "Serves a version of the store to Redis clients (RESP2 and RESP3), read\n"
     "only, until SIGTERM or SIGINT (docs/serve.md).\n"
     "  --ref BRANCH         serve the branch's head (default main)\n"
     "  --at VERSION         serve this commit, tag or branch, fixed\n"
     "  --follow SECONDS     re-read the branch every SECONDS and switch to each\n"
     "                       new head (a rollback too), atomically per command\n"
     "  --listen HOST:PORT   where to listen (default 127.0.0.1:6380; port 0: any)\n"
     "  --threads N          worker threads (default: one per core)\n"
     "  --maxclients N       connections at once (default 10000)\n"
     "  --idle-timeout D     close a client idle this long (default 300s; 0: never)\n"
     "  --keys-max N         KEYS refuses a database with more keys (default 100000)\n"
     "  --cache SIZE         the node cache (default 256M): decoded nodes in memory\n"
     "  --requirepass-file F clients must AUTH with the first line of F\n"
     "  --metrics HOST:PORT  Prometheus metrics over HTTP there\n"},
    {"copy", cmd_copy, false, OPT_FORCE | OPT_DRY_RUN, 2, INT_MAX,
     "copy SRC DST [REF...] [--force] [--dry-run]",
     "Copies branches and tags (REF...: those named; default all) with all\n"
     "their history from store SRC to store DST (specs, as for -s; DST is\n"
     "created if new), moving only the blobs DST lacks: both then have the\n"
     "same commit and root ids. History stops where gc dropped it in SRC,\n"
     "and DST records the same boundary. A DST with other settings (node\n"
     "size) is refused unless it is empty. A branch of DST that is not in\n"
     "the history of SRC's, or a tag at another commit, is a conflict:\n"
     "nothing is changed, exit 4. Blobs go before refs, so an interrupted\n"
     "copy leaves DST valid, and running it again finishes it.\n"
     "  -f, --force   move conflicting refs anyway\n"
     "  --dry-run     say what would be copied and moved; write nothing\n"},
    {"sync", cmd_sync, true, 0, 0, 0, "sync",
     "Brings every ref tier that is behind the primary up to date (copying\n"
     "only what it lacks) and makes every tier durable.\n"},
    {"spaces", cmd_spaces, false, READ_OPTS, 0, 0, "spaces",
     "Lists the keyspaces of the version: NAME<TAB>KEYS (tsv-escaped; the\n"
     "default keyspace has the empty name).\n"
     "  --at REF    read the version REF;  -b BRANCH  read BRANCH\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: cairn [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fprintf(f, "  help [COMMAND]\n\n"
               "Options (before or after the command):\n"
               "  -s, --stack SPEC   the store (default $CAIRN_STACK, else " DEFAULT_STACK ")\n"
               "  -b, --branch NAME  branch to write to or read from (default main)\n"
               "      --at REF       read version REF: a branch, tag or commit id\n"
               "      --space NAME   keyspace (default: the one with the empty name)\n"
               "  -m, --message MSG  commit message of a write (import: its prefix)\n"
               "  -h, --help         show help;  --version  show the version\n"
               "  --                 end of options (for keys starting with '-')\n\n"
               "Exit status: 0 ok, 1 key not found, 2 bad usage or input, 3 other failure,\n"
               "4 a compare-and-swap found another value (cas, apply), or a ref conflicts\n"
               "(copy, import --format pack).\n"
               "Run 'cairn help COMMAND' for a command's options; docs/cli.md has more.\n");
}

/* The help of "cairn help help", which is not in the command table. */
static const char help_help[] =
    "usage: cairn help [COMMAND]\n\n"
    "Without COMMAND, lists the commands and the global options; with one,\n"
    "prints its usage and every option it accepts. 'cairn COMMAND --help'\n"
    "is the same as 'cairn help COMMAND'. docs/cli.md has the full manual.\n";

static void print_command_help(const command *cmd)
{
    printf("usage: cairn %s\n\n%s", cmd->synopsis, cmd->help);
    if (own_stores(cmd))
        printf("  -s SPEC  not used: %s names its stores as arguments\n", cmd->name);
    else
        printf("  -s SPEC  the store (default $CAIRN_STACK, else " DEFAULT_STACK ")\n");
}

/* ---------------------------------------------------------------- helpers */

int cli_exit_code(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case CAIRN_NOTFOUND:
        return EXIT_NOTFOUND;
    case CAIRN_CONFLICT:
        return EXIT_CONFLICT;
    case -ERANGE: /* a counter out of range (incr) */
    case CAIRN_BADSPEC:
    case CAIRN_BADARG:
    case CAIRN_BADINPUT:
    case CAIRN_KEYTOOBIG:
    case CAIRN_VALTOOBIG:
        return EXIT_USAGE;
    default:
        return EXIT_FAILURE_;
    }
}

int cli_error(int rc, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;

    snprintf(detail, sizeof(detail), "%s", cairn_errdetail());
    if (rc == CAIRN_BADINPUT && detail[0]) {
        fprintf(stderr, "cairn: %s\n", detail);
        return cli_exit_code(rc);
    }
    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s%s%s\n", cairn_strerror(rc), detail[0] ? ": " : "", detail);
    return cli_exit_code(rc);
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(run 'cairn --help' for usage)\n", stderr);
    return EXIT_USAGE;
}

int cli_say(int status, const char *fmt, ...)
{
    va_list ap;

    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

const char *cli_version(const cli *c)
{
    if (c->at)
        return c->at;
    if (c->branch && strcmp(c->branch, "main") != 0)
        return c->branch;
    return NULL;
}

int cli_snapshot(cli *c, const char *name, cairn_snapshot **out)
{
    char q[512];
    int rc;

    if (!(rc = cairn_snapshot_open(c->db, name, out))) {
        cairn_id commit;
        int status;
        if ((c->seen & OPT_PIN) && cairn_snapshot_commit(*out, &commit) &&
            (status = cli_pin_commit(c, &commit))) {
            cairn_snapshot_close(*out);
            *out = NULL;
            return status;
        }
        return 0;
    }
    if (rc == CAIRN_NOTFOUND) {
        cli_error(rc, "unknown branch, tag or commit '%s'",
                  cli_quote(name ? name : "main", strlen(name ? name : "main"), q));
        return EXIT_USAGE;
    }
    return cli_error(rc, "opening version '%s'",
                     cli_quote(name ? name : "main", strlen(name ? name : "main"), q));
}

cairn_format cli_format(const cli *c)
{
    if (c->raw && c->format == CAIRN_TSV)
        return CAIRN_TSV_RAW;
    if (c->typed && c->format == CAIRN_JSONL)
        return CAIRN_JSONL_TYPED;
    return c->format;
}

size_t cli_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0; /* no overlong forms */
    else if (s[0] == 0xed)
        hi = 0x9f; /* no surrogates */
    else if (s[0] == 0xf0)
        lo = 0x90; /* no overlong forms */
    else if (s[0] == 0xf4)
        hi = 0x8f; /* nothing above U+10FFFF */
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

const char *cli_quote(const void *data, size_t len, char buf[512])
{
    const unsigned char *bytes = data;
    size_t i = 0, n = 0, seq;

    while (i < len && n < 64) {
        if (bytes[i] >= 0x20 && bytes[i] < 0x7f && bytes[i] != '\\') {
            buf[n++] = (char)bytes[i++];
        } else if (bytes[i] == '\\') {
            n += (size_t)snprintf(buf + n, 512 - n, "\\\\");
            i++;
        } else if (bytes[i] >= 0x80 && (seq = cli_utf8_len(bytes + i, len - i)) &&
                   !(bytes[i] == 0xc2 && bytes[i + 1] < 0xa0)) {
            /* A UTF-8 character (not a C1 control, U+0080-U+009F): as is. */
            memcpy(buf + n, bytes + i, seq);
            n += seq;
            i += seq;
        } else {
            n += (size_t)snprintf(buf + n, 512 - n, "\\x%02x", bytes[i]);
            i++;
        }
    }
    if (i < len)
        n += (size_t)snprintf(buf + n, 512 - n, "... (%zu bytes)", len);
    buf[n] = '\0';
    return buf;
}

int cli_put_escaped(FILE *f, const void *data, size_t len)
{
    char *text;
    int rc;

    if ((rc = cairn_tsv_escape(data, len, &text)))
        return cli_error(rc, "escaping output");
    fputs(text, f);
    cairn_free(text);
    return 0;
}

int cli_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    return cli_say(EXIT_FAILURE_, "writing output: %s", strerror(errno ? errno : EIO));
}

/* ---------------------------------------------------------------- parsing */

/* Parses a decimal count. */
/* A size: a whole number with an optional K, M or G (powers of 1024). */
static bool parse_bytes(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || text[0] == '-')
        return false;
    unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
                     : *end == 'G' || *end == 'g' ? 30 : 0;
    if (shift)
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

static bool parse_count(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    const char *p;

    if (!*text)
        return false;
    for (p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* A duration: digits and a unit, s, m, h or d ("90m", "7d"); bare digits
 * are seconds. At most 100 years. */
static bool parse_duration(const char *text, uint64_t *seconds)
{
    static const struct { char unit; uint64_t s; } units[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char digits[32];
    size_t n = strspn(text, "0123456789");
    uint64_t v, mul = 1;

    if (n == 0 || n >= sizeof(digits) || (text[n] && text[n + 1]))
        return false;
    if (text[n]) {
        size_t u = 0;
        while (u < 4 && units[u].unit != text[n])
            u++;
        if (u == 4)
            return false;
        mul = units[u].s;
    }
    memcpy(digits, text, n);
    digits[n] = 0;
    if (!parse_count(digits, &v) || v > 100ull * 365 * 86400 / mul)
        return false;
    *seconds = v * mul;
    return true;
}

/* Stores the value of option def into c. Returns 0 or EXIT_USAGE. */
static int set_option(cli *c, const option_def *def, const char *value)
{
    const char *name = option_name(def->bit);

    c->seen |= def->bit;
    switch (def->bit) {
    case OPT_STACK:
        c->spec = value;
        break;
    case OPT_AT:
        c->at = value;
        break;
    case OPT_BRANCH:
        c->branch = value;
        break;
    case OPT_SPACE:
        c->space = value;
        break;
    case OPT_MESSAGE:
        c->message = value;
        break;
    case OPT_PREFIX:
        c->prefix = value;
        break;
    case OPT_FROM:
        c->from = value;
        break;
    case OPT_TO:
        c->to = value;
        break;
    case OPT_KEY:
        c->key_field = value;
        break;
    case OPT_REVERSE:
        c->reverse = true;
        break;
    case OPT_JSON:
        c->json = true;
        break;
    case OPT_RAW:
        c->raw = true;
        break;
    case OPT_TYPED:
        c->typed = true;
        break;
    case OPT_FORCE:
        c->force = true;
        break;
    case OPT_REPAIR:
        c->repair = true;
        break;
    case OPT_DELETE:
        c->delete_ = true;
        break;
    case OPT_ABSENT:
        c->absent = true;
        break;
    case OPT_NODE_SIZE:
        if (!parse_count(value, &c->node_size) || c->node_size < CAIRN_NODE_SIZE_MIN ||
            c->node_size > CAIRN_NODE_SIZE_MAX)
            return cli_usage("--node-size needs a whole number from %d to %d, not '%s'",
                             CAIRN_NODE_SIZE_MIN, CAIRN_NODE_SIZE_MAX, value);
        break;
    case OPT_FOLLOW:
        if (!parse_count(value, &c->follow_s) || c->follow_s == 0 || c->follow_s > 86400)
            return cli_usage("--follow needs a number of seconds from 1 to 86400, not '%s'", value);
        break;
    case OPT_PROMETHEUS:
        c->prometheus = true;
        break;
    case OPT_KEEP_LAST:
        if (strcmp(value, "off") == 0)
            c->keep_last = 0; /* the rule off (gc), or unset (retention) */
        else if (!parse_count(value, &c->keep_last) || c->keep_last == 0)
            return cli_usage("--keep-last needs a number of commits of 1 or more, or off, "
                             "not '%s'", value);
        break;
    case OPT_PIN:
        c->pin_ttl_s = DEFAULT_PIN_TTL_S;
        if (value && (!parse_duration(value, &c->pin_ttl_s) || c->pin_ttl_s == 0 ||
                      c->pin_ttl_s > CAIRN_PIN_TTL_MAX))
            return cli_usage("--pin=TTL needs a duration from 1s to %ud, not '%s'",
                             CAIRN_PIN_TTL_MAX / 86400, value);
        break;
    case OPT_CLEAR:
        break;
    case OPT_KEEP_NEWER:
        if (strcmp(value, "off") == 0) {
            c->keep_newer_s = 0;
            break;
        }
        /* fall through */
    case OPT_GRACE:
        if (!parse_duration(value, def->bit == OPT_GRACE ? &c->grace_s : &c->keep_newer_s))
            return cli_usage("%s needs a duration (a number and s, m, h or d: 90m, 7d), not '%s'",
                             def->bit == OPT_GRACE ? "--grace" : "--keep-newer", value);
        if (def->bit == OPT_KEEP_NEWER && c->keep_newer_s == 0)
            return cli_usage("--keep-newer needs a duration above 0, not '%s'", value);
        break;
    case OPT_DRY_RUN:
        c->dry_run = true;
        break;
    case OPT_LIMIT:
    case OPT_BATCH:
    case OPT_N:
        if (!parse_count(value, def->bit == OPT_LIMIT   ? &c->limit
                                : def->bit == OPT_BATCH ? &c->batch
                                                        : &c->log_n))
            return cli_usage("%s needs a non-negative whole number, not '%s'", name, value);
        if (def->bit == OPT_BATCH && c->batch == 0)
            return cli_usage("--batch must be at least 1");
        break;
    case OPT_FORMAT:
        if (strcmp(value, "tsv") == 0)
            c->format = CAIRN_TSV;
        else if (strcmp(value, "jsonl") == 0)
            c->format = CAIRN_JSONL;
        else if (strcmp(value, "pack") == 0)
            c->pack = true;
        else
            return cli_usage("unknown format '%s' (want tsv, jsonl or pack)", value);
        if (strcmp(value, "pack") != 0)
            c->pack = false;
        break;
    case OPT_LISTEN:
        c->listen = value;
        break;
    case OPT_METRICS:
        c->metrics = value;
        break;
    case OPT_PASSFILE:
        c->passfile = value;
        break;
    case OPT_REF:
        c->ref = value;
        break;
    case OPT_THREADS:
        if (!parse_count(value, &c->threads) || c->threads == 0 || c->threads > 256)
            return cli_usage("--threads needs a number from 1 to 256, not '%s'", value);
        break;
    case OPT_MAXCLIENTS:
        if (!parse_count(value, &c->maxclients) || c->maxclients == 0 || c->maxclients > 1000000)
            return cli_usage("--maxclients needs a number from 1 to 1000000, not '%s'", value);
        break;
    case OPT_IDLE:
        if (!parse_duration(value, &c->idle_s) || c->idle_s > 31 * 86400)
            return cli_usage("--idle-timeout needs a duration (0: never), not '%s'", value);
        break;
    case OPT_CACHE:
        if (!parse_bytes(value, &c->cache_bytes) || c->cache_bytes < (1u << 20))
            return cli_usage("--cache needs a size of at least 1M (such as 64M), not '%s'", value);
        break;
    case OPT_KEYS_MAX:
        if (!parse_count(value, &c->keys_max) || c->keys_max > UINT32_MAX)
            return cli_usage("--keys-max needs a number up to %u, not '%s'", UINT32_MAX, value);
        break;
    default: /* --help, --version */
        break;
    }
    return 0;
}

/* Parses argv into c: options anywhere, the first other word as the
 * command, the rest as its arguments (collected in place in argv). */
static int parse_args(cli *c, int argc, char **argv)
{
    const option_def *def;
    bool options_done = false;
    const char *arg, *value, *eq;
    size_t i, name_len;
    int k, rc;

    c->args = argv + 1;
    for (k = 1; k < argc; k++) {
        arg = argv[k];
        if (options_done || arg[0] != '-' || arg[1] == '\0' || (arg[1] >= '0' && arg[1] <= '9')) {
            if (!c->command)
                c->command = arg;
            else
                c->args[c->n_args++] = argv[k];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        def = NULL;
        value = NULL;
        if (arg[1] == '-') {
            eq = strchr(arg + 2, '=');
            name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
            for (i = 0; i < N_OPTIONS && !def; i++)
                if (options[i].long_name && strlen(options[i].long_name) == name_len &&
                    memcmp(options[i].long_name, arg + 2, name_len) == 0)
                    def = &options[i];
            if (!def)
                return cli_usage("unknown option '%.*s'", (int)(name_len + 2), arg);
            if (eq && !def->has_arg)
                return cli_usage("option --%s takes no value", def->long_name);
            if (eq)
                value = eq + 1;
        } else {
            for (i = 0; i < N_OPTIONS && !def; i++)
                if (options[i].short_name == arg[1])
                    def = &options[i];
            if (!def)
                return cli_usage("unknown option '-%c'", arg[1]);
            if (arg[2] && !def->has_arg)
                return cli_usage("option -%c takes no value", arg[1]);
            if (arg[2])
                value = arg + 2;
        }
        if (def->has_arg && !value && (def->bit & OPTIONAL_VALUE_OPTS)) {
            /* (no value: the option's default) */
        } else if (def->has_arg && !value) {
            if (k + 1 >= argc)
                return cli_usage("option %s needs a value", option_name(def->bit));
            value = argv[++k];
        }
        if ((rc = set_option(c, def, value)))
            return rc;
    }
    return 0;
}

/* Checks that cmd accepts every option given and its argument count. */
static int check_command(const cli *c, const command *cmd)
{
    cli_opts extra = c->seen & ~(cmd->opts | OPT_STACK | OPT_HELP | OPT_VERSION);
    cli_opts bit;

    for (bit = 1; extra; bit <<= 1)
        if (extra & bit)
            return cli_usage("option %s does not apply to %s", option_name(bit), cmd->name);
    if ((c->seen & OPT_AT) && (c->seen & OPT_BRANCH))
        return cli_usage("give --at or --branch, not both");
    if (c->n_args < cmd->min_args)
        return cli_usage("%s: missing argument (usage: cairn %s)", cmd->name, cmd->synopsis);
    if (c->n_args > cmd->max_args)
        return cli_usage("%s: too many arguments (usage: cairn %s)", cmd->name, cmd->synopsis);
    if ((c->seen & OPT_DELETE) && (c->seen & READ_OPTS) && cmd->run != cmd_cas)
        return cli_usage("%s -d takes only a name%s", cmd->name,
                         cmd->opts & OPT_FORCE ? " (and --force)" : "");
    if ((c->seen & OPT_ALL) && (c->seen & READ_OPTS))
        return cli_usage("log --all shows every branch and tag: give --all or --at/-b, not both");
    if ((c->seen & OPT_STACK) && own_stores(cmd))
        return cli_usage("%s names its stores as arguments (usage: cairn %s); -s is not used",
                         cmd->name, cmd->synopsis);
    if ((c->seen & (OPT_FORCE | OPT_DRY_RUN)) && !c->pack && cmd->run == cmd_import)
        return cli_usage("%s applies only to import --format pack",
                         option_name(c->seen & OPT_FORCE ? OPT_FORCE : OPT_DRY_RUN));
    if (c->pack) {
        cli_opts other = c->seen & (cmd->run == cmd_import ? (WRITE_OPTS | OPT_SPACE | OPT_KEY |
                                                              OPT_BATCH | OPT_RAW | OPT_TYPED)
                                                           : (READ_OPTS | OPT_SPACE | OPT_RAW |
                                                              OPT_TYPED));
        if (other)
            return cli_usage("%s does not go with --format pack (a bundle holds whole "
                             "branches and tags: name them as arguments)",
                             option_name(other & -other));
    } else if (cmd->run == cmd_export && c->n_args > 0) {
        return cli_usage("export: too many arguments (a FILE is for --format pack)");
    } else if (cmd->run == cmd_import && c->n_args > 1) {
        return cli_usage("import: too many arguments (REFs are for --format pack)");
    }
    if (cmd->run == cmd_export && c->pack && c->n_args < 1)
        return cli_usage("export --format pack: missing FILE (- for stdout)");
    if (c->typed && c->format != CAIRN_JSONL)
        return cli_usage("--typed applies only to --format jsonl");
    if (strcmp(cmd->name, "import") == 0 && !c->pack) {
        if (c->format == CAIRN_JSONL && !c->key_field && !c->typed)
            return cli_usage("import --format jsonl needs --key FIELD (or --typed: --key key)");
        if (c->format != CAIRN_JSONL && c->key_field)
            return cli_usage("--key applies only to --format jsonl");
        if (c->raw && c->typed)
            return cli_usage("give --raw (no typed records) or --typed, not both");
    }
    if (c->raw && c->format != CAIRN_TSV && !(c->format == CAIRN_JSONL && cmd->run == cmd_import))
        return cli_usage("--raw applies only to --format tsv (and to import --format jsonl)");
    return 0;
}

/* Runs "cairn help [COMMAND]". */
static int run_help(const cli *c)
{
    const command *cmd;

    if (c->n_args == 0) {
        print_usage(stdout);
        return cli_flush_stdout();
    }
    if (c->n_args > 1)
        return cli_usage("help: too many arguments");
    if (strcmp(c->args[0], "help") == 0) {
        fputs(help_help, stdout);
        return cli_flush_stdout();
    }
    if (!(cmd = find_command(c->args[0])))
        return cli_usage("no command '%s'", c->args[0]);
    print_command_help(cmd);
    return cli_flush_stdout();
}

int main(int argc, char **argv)
{
    const command *cmd;
    const char *env;
    cairn_options opts;
    cli c;
    int rc, status;

    memset(&c, 0, sizeof(c));
    c.space = "";
    c.format = CAIRN_TSV;
    c.batch = 10000;
    if ((status = parse_args(&c, argc, argv)))
        return status;
    if (c.seen & OPT_VERSION) {
        printf("cairn %s\n", cairn_version());
        return cli_flush_stdout();
    }
    if (!c.command) {
        if (c.seen & OPT_HELP) {
            print_usage(stdout);
            return cli_flush_stdout();
        }
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(c.command, "help") == 0)
        return run_help(&c);
    if (!(cmd = find_command(c.command)))
        return cli_usage("unknown command '%s'", c.command);
    if (c.seen & OPT_HELP) {
        print_command_help(cmd);
        return cli_flush_stdout();
    }
    if ((status = check_command(&c, cmd)))
        return status;

    if (own_stores(cmd))
        return cmd->run(&c);
    if (!c.spec) {
        env = getenv("CAIRN_STACK");
        c.spec = env && *env ? env : DEFAULT_STACK;
    }
    /* Read commands open the store read-only: they never create one, and
     * they work with read permission only or on read-only media. */
    cairn_options_init(&opts);
    if (c.repair || (cmd->run == cmd_retention && (c.seen & RETENTION_SETS)))
        opts.flags |= CAIRN_EXISTING; /* writes, but only to a store that exists */
    else if (!cmd->writes || (c.pack && c.dry_run))
        opts.flags |= CAIRN_RDONLY; /* (a dry run of an import writes nothing either) */
    if (c.seen & OPT_NODE_SIZE)
        opts.node_size = (uint32_t)c.node_size;
    if (c.seen & OPT_FOLLOW)
        opts.follow_ms = (uint32_t)(c.follow_s * 1000);
    if (c.seen & OPT_CACHE)
        opts.node_cache_bytes = (size_t)c.cache_bytes;
    rc = cairn_open(c.spec, &opts, &c.db);
    if (rc == CAIRN_NOTFOUND && c.pack && c.dry_run) {
        cairn_options_init(&opts); /* a store not made yet imports as an empty one */
        rc = cairn_open("mem", &opts, &c.db);
    }
    if (rc) {
        char shown[1024];
        cairn_spec_redact(c.spec, shown, sizeof(shown));
        if (rc == CAIRN_NOTFOUND && (opts.flags & (CAIRN_RDONLY | CAIRN_EXISTING))) {
            cli_error(rc, "no store at '%s' (nothing has been written there yet)", shown);
            return EXIT_USAGE;
        }
        return cli_error(rc, "cannot open store '%s'", shown);
    }
    status = cmd->run(&c);
    cli_pins_release(&c); /* the pins of --pin go before the store closes */
    cairn_close(c.db);
    cli_stop_finish(); /* ends the process by the signal an import caught */
    return status;
}
