/*
 * test_engine_import.c - cairn_import and cairn_export through the public
 * API:
 *
 *  - raw tsv (CAIRN_TSV_RAW): no unescaping on import, split at the first
 *    tab; raw export writes bytes as they are and refuses a record it
 *    cannot hold, naming the key, after the whole lines before it;
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

static uint64_t count_keys(cairn_db *db)
{
    cairn_snapshot *snap;
    uint64_t n;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_count(snap, NULL, NULL, 0, NULL, 0, &n));
    cairn_snapshot_close(snap);
    return n;
}

static bool has_key(cairn_db *db, const char *key)
{
    cairn_snapshot *snap;
    cairn_val val;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    rc = cairn_get(snap, NULL, key, strlen(key), &val);
    ASSERT_TRUE(rc == 0 || rc == CAIRN_NOTFOUND);
    cairn_snapshot_close(snap);
    return rc == 0;
}

/* The value of key, copied into buf (NUL-terminated). */
static const char *value_of(cairn_db *db, const char *key, char *buf, size_t size)
{
    cairn_snapshot *snap;
    cairn_val val;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_get(snap, NULL, key, strlen(key), &val));
    ASSERT_TRUE(val.len < size);
    memcpy(buf, val.data, val.len);
    buf[val.len] = '\0';
    cairn_snapshot_close(snap);
    return buf;
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

static void test_raw(void)
{
    /* A systemd unit path keeps its "\x2d"; the first tab splits, later
     * ones belong to the value; no escape is an error. */
    const char *in = "a\\x2d.mount\tC:\\dir\\q\tcol2\n"
                     "b\\\\\t\\n stays\n"
                     "c\t\n";
    char buf[64], *text = NULL;
    uint64_t records = 0;
    cairn_db *db = store_of(in, CAIRN_TSV_RAW);

    ASSERT_EQ(count_keys(db), 3);
    if (strcmp(value_of(db, "a\\x2d.mount", buf, sizeof(buf)), "C:\\dir\\q\tcol2") != 0)
        TEST_FAIL("raw value '%s'", buf);
    ASSERT_TRUE(strcmp(value_of(db, "b\\\\", buf, sizeof(buf)), "\\n stays") == 0);
    ASSERT_TRUE(strcmp(value_of(db, "c", buf, sizeof(buf)), "") == 0);

    /* The value holding a tab cannot be written raw: the export stops
     * there, naming the key, with nothing written. */
    ASSERT_RC(export_text(db, CAIRN_TSV_RAW, &text, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("key 'a\\\\x2d.mount'");
    ASSERT_DETAIL("the value holds a tab");
    ASSERT_EQ(records, 0);
    ASSERT_EQ(strlen(text), 0);
    free(text);
    cairn_close(db);

    /* Raw export of what raw tsv can hold gives the input back, and the
     * escaped export of the same store escapes the backslashes. */
    in = "a\\x2d.mount\tC:\\dir\\q\n"
         "b\\\\\t\\n stays\r inside\n";
    db = store_of(in, CAIRN_TSV_RAW);
    ASSERT_OK(export_text(db, CAIRN_TSV_RAW, &text, &records));
    ASSERT_EQ(records, 2);
    ASSERT_MEM_EQ(text, strlen(text), in, strlen(in));
    free(text);
    ASSERT_OK(export_text(db, CAIRN_TSV, &text, &records));
    in = "a\\\\x2d.mount\tC:\\\\dir\\\\q\n"
         "b\\\\\\\\\t\\\\n stays\\r inside\n";
    ASSERT_MEM_EQ(text, strlen(text), in, strlen(in));
    free(text);
    cairn_close(db);

    /* The escaped import still unescapes (the default is unchanged). */
    db = store_of("a\\x2d.mount\tv\n", CAIRN_TSV);
    ASSERT_TRUE(has_key(db, "a-.mount"));
    cairn_close(db);
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
    test_raw();
    test_jsonl_export();
    printf("ok\n");
    return 0;
}
