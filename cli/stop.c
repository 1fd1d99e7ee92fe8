/*
 * stop.c - SIGINT and SIGTERM during an import.
 *
 * The first signal only sets cli_stop_signal, which cairn_import polls
 * (cairn_import_options.stop) before each record: the import stops at a
 * record boundary, commits what it read, and the command prints its
 * summary. The handler is installed without SA_RESTART, so a read waiting
 * for input (a pipe, a FIFO, a terminal) is interrupted at once instead of
 * waiting for the next line. After its summary the process ends by the same
 * signal (cli_stop_finish), so that a shell sees 130 (SIGINT) or 143
 * (SIGTERM) and a script's loop stops as it would for any program killed
 * by Ctrl-C. The handler resets itself (SA_RESETHAND): a second signal of
 * the same kind ends the process at once.
 *
 * A signal the process inherited as ignored (a background job of a
 * non-interactive shell ignores SIGINT) stays ignored.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

volatile sig_atomic_t cli_stop_signal;

static void on_stop(int sig)
{
    cli_stop_signal = sig;
}

void cli_stop_catch(void)
{
    static const int signals[] = {SIGINT, SIGTERM};
    struct sigaction sa, old;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* and no SA_RESTART: interrupt a waiting read */
    for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(signals[i], &sa, NULL);
    }
}

const char *cli_stop_name(void)
{
    return cli_stop_signal == SIGTERM ? "SIGTERM" : "SIGINT";
}

void cli_stop_finish(void)
{
    int sig = cli_stop_signal;

    if (!sig)
        return;
    fflush(stdout);
    fflush(stderr);
    signal(sig, SIG_DFL);
    raise(sig);
}
