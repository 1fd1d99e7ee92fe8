/*
 * test_engine_import.c - cairn_import and cairn_export through the public
 * API:
 *
 *  - jsonl export refuses a value that is not one JSON object, naming the
 *    key, and never writes it.
 */
#include "test.h"

#define ASSERT_DETAIL(needle)                                                     \
    do {                                                                          \
        if (!strstr(cairn_errdetail(), (needle)))                                 \
            TEST_FAIL("detail '%s' does not name '%s'", cairn_errdetail(), (needle)); \
    } while (0)

static cairn_db *open_mem(void)
{
    cairn_db *db;

    ASSERT_OK(cairn_open("mem", NULL, &db));
    return db;
}

/* ---------------------------------------------------------------- export */

/* Imports text, in format, into a fresh mem store. */
static cairn_db *store_of(const char *text, cairn_format format)
{
    cairn_import_options opts;
    cairn_db *db = open_mem();
    FILE *in = fmemopen((void *)text, strlen(text), "r");

    ASSERT_TRUE(in != NULL);
    memset(&opts, 0, sizeof(opts));
    opts.format = format;
    ASSERT_OK(cairn_import(db, in, &opts, NULL));
    fclose(in);
    return db;
}

/* Exports db in format; OUT: the text written (malloc'd) and *records.
 * Returns the result of cairn_export. */
static int export_text(cairn_db *db, cairn_format format, char **text, uint64_t *records)
{
    size_t size = 0;
    FILE *out = open_memstream(text, &size);
    int rc;

    ASSERT_TRUE(out != NULL);
    rc = cairn_export(db, NULL, NULL, format, out, NULL, NULL, records);
    ASSERT_EQ(fclose(out), 0);
    return rc;
}

static void test_jsonl_export(void)
{
    char *text = NULL;
    uint64_t records = 0;
    cairn_db *db;

    /* Keys in order: a, b, c, d. b is not an object. */
    db = store_of("a\t{\"id\":\"a\"}\nb\tplain\nc\t{\"id\":\"c\"}\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("the value of key 'b' is not a JSON object");
    ASSERT_DETAIL("expected '{'");
    ASSERT_EQ(records, 1);
    ASSERT_MEM_EQ(text, strlen(text), "{\"id\":\"a\"}\n", 11);
    free(text);
    cairn_close(db);

    /* Text after the object, and an empty value, are refused too. */
    db = store_of("a\t{} {}\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("unexpected text after the object");
    ASSERT_EQ(strlen(text), 0);
    free(text);
    cairn_close(db);
    db = store_of("e\t\n", CAIRN_TSV);
    ASSERT_RC(export_text(db, CAIRN_JSONL, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("key 'e'");
    free(text);
    cairn_close(db);

    /* Objects are written as they are. */
    db = store_of("a\t {\"x\": [1, {}]} \nb\t{}\n", CAIRN_TSV);
    ASSERT_OK(export_text(db, CAIRN_JSONL, &text, &records));
    ASSERT_EQ(records, 2);
    ASSERT_MEM_EQ(text, strlen(text), " {\"x\": [1, {}]} \n{}\n", 20);
    free(text);
    cairn_close(db);
}

int main(void)
{
    test_seed_init(1);
    test_jsonl_export();
    printf("ok\n");
    return 0;
}
