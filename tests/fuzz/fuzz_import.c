/*
 * fuzz_import.c - cairn_import of arbitrary text into a fresh "mem" store,
 * as tsv, as raw tsv and as jsonl keyed by "id", in small batches (so that
 * a bad line lands after some commits).
 */
#include <stdio.h>

#include "cairn.h"
#include "fuzz_common.h"

static void import_as(const uint8_t *data, size_t size, cairn_format format)
{
    cairn_import_options opts = {.format = format, .key_field = "id", .source = "fuzz",
                                 .batch = 3};
    uint64_t records, commits;
    cairn_db *db;
    FILE *in;

    if (cairn_open("mem", NULL, &db))
        return;
    if ((in = fmemopen((void *)data, size, "r"))) {
        (void)cairn_import(db, in, &opts, &records, &commits);
        fclose(in);
    }
    cairn_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) /* fmemopen refuses an empty buffer */
        return 0;
    import_as(data, size, CAIRN_TSV);
    import_as(data, size, CAIRN_TSV_RAW);
    import_as(data, size, CAIRN_JSONL);
    return 0;
}
