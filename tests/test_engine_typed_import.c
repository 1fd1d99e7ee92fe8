/*
 * test_engine_typed_import.c - typed jsonl through cairn_import and
 * cairn_export (docs/cli.md, "Typed records").
 *
 *  - typed strings store the unescaped value itself; typed hashes store
 *    their fields; untyped lines (no "type") store the line; all three
 *    mixed in one file, in a named keyspace too;
 *  - a record replaces what its key held: a hash replaces a string and an
 *    earlier hash (fields it does not name are gone), a string or an
 *    untyped line replaces a hash; also within one batch;
 *  - every error (unknown type, a type or value of the wrong JSON type,
 *    a missing value, a non-string hash value, duplicate fields, an empty
 *    hash, a field too long after encoding, a reserved keyspace) stops the
 *    import with "SOURCE:LINE: ..." and CAIRN_BADINPUT (CAIRN_BADARG for the
 *    keyspace), the earlier batches committed and the open one not;
 *  - CAIRN_IMPORT_UNTYPED keeps lines with a "type" of their own whole, and
 *    without it such a line says how to import it;
 *  - round trips: random strings and hashes of random bytes (invalid UTF-8,
 *    controls, quotes, out-of-line values) exported typed, imported into a
 *    fresh store (CAIRN_JSONL_TYPED, key field "key" by default) give the
 *    same catalog root, and export again to the same text; a key that is
 *    both a string and a hash is refused by name.
 */
#include "test.h"

static cairn_db *open_mem(void)
{
    cairn_db *db;
    ASSERT_OK(cairn_open("mem", NULL, &db));
    return db;
}

/* Imports text as jsonl (key field "key") into db with batch and flags.
 * OUT: *records. Returns what cairn_import returns. */
static int import_text(cairn_db *db, const char *text, const char *space, uint64_t batch,
                       unsigned flags, uint64_t *records)
{
    cairn_import_options opts;
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    int rc;

    ASSERT_TRUE(in != NULL);
    memset(&opts, 0, sizeof(opts));
    opts.format = CAIRN_JSONL;
    opts.key_field = "key";
    opts.space = space;
    opts.source = "src";
    opts.batch = batch;
    opts.flags = flags;
    rc = cairn_import(db, in, &opts, records, NULL);
    fclose(in);
    return rc;
}

static void expect_string(cairn_db *db, const char *space, const char *key, const void *want,
                          size_t want_len)
{
    cairn_snapshot *snap;
    cairn_key_type type;
    cairn_val v;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_type(snap, space, key, strlen(key), &type));
    if (type != CAIRN_TYPE_STRING)
        TEST_FAIL("key '%s' is of type %d, want a string", key, type);
    ASSERT_OK(cairn_get(snap, space, key, strlen(key), &v));
    ASSERT_MEM_EQ(v.data, v.len, want, want_len);
    cairn_snapshot_close(snap);
}

/* Hash key holds exactly the fields of want, "F=V;F=V;" in field order. */
static void expect_hash(cairn_db *db, const char *space, const char *key, const char *want)
{
    char got[1024];
    size_t n = 0;
    cairn_snapshot *snap;
    cairn_key_type type;
    cairn_iter *it;
    cairn_val f, v;
    uint64_t len, count = 0;
    int rc;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_type(snap, space, key, strlen(key), &type));
    if (type != CAIRN_TYPE_HASH)
        TEST_FAIL("key '%s' is of type %d, want a hash", key, type);
    ASSERT_OK(cairn_hiter_open(snap, space, key, strlen(key), NULL, 0, &it));
    while (!(rc = cairn_iter_next(it, &f, &v))) {
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%.*s=%.*s;", (int)f.len,
                              (const char *)f.data, (int)v.len, (const char *)v.data);
        count++;
    }
    ASSERT_RC(rc, CAIRN_NOTFOUND);
    cairn_iter_close(it);
    ASSERT_OK(cairn_hlen(snap, space, key, strlen(key), &len));
    ASSERT_EQ(len, count);
    if (strcmp(got, want) != 0)
        TEST_FAIL("hash '%s' holds %s, want %s", key, got, want);
    cairn_snapshot_close(snap);
}

static void expect_none(cairn_db *db, const char *key)
{
    cairn_snapshot *snap;
    cairn_key_type type;

    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_type(snap, NULL, key, strlen(key), &type));
    ASSERT_EQ(type, CAIRN_TYPE_NONE);
    cairn_snapshot_close(snap);
}

static void test_kinds(void)
{
    const char *text =
        "{\"key\":\"s\",\"type\":\"string\",\"value\":\"line\\none \\\"q\\\" \\u00e9\"}\n"
        "{\"key\":\"h\",\"type\":\"hash\",\"value\":{\"f2\":\"b\",\"f1\":\"a\"}}\n"
        "{\"key\":\"u\",\"n\":1}\n"
        "{\"key\":42,\"type\":\"string\",\"value\":\"num\"}\n"
        "{\"db\":0,\"key\":\"bin\",\"ttl\":-1,\"type\":\"string\",\"value\":\"\\udcff\\u0000\"}\r\n";
    uint64_t records, n;
    cairn_snapshot *snap;
    cairn_db *db = open_mem();

    ASSERT_OK(import_text(db, text, NULL, 2, 0, &records));
    ASSERT_EQ(records, 5);
    expect_string(db, NULL, "s", "line\none \"q\" \xc3\xa9", 15);
    expect_hash(db, NULL, "h", "f1=a;f2=b;");
    expect_string(db, NULL, "u", "{\"key\":\"u\",\"n\":1}", 17);
    expect_string(db, NULL, "42", "num", 3);
    expect_string(db, NULL, "bin", "\xff\0", 2);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_dbsize(snap, NULL, &n));
    ASSERT_EQ(n, 5);
    cairn_snapshot_close(snap);

    /* Replacements, across batches and within one. */
    text = "{\"key\":\"s\",\"type\":\"hash\",\"value\":{\"x\":\"1\"}}\n"     /* string -> hash */
           "{\"key\":\"h\",\"type\":\"hash\",\"value\":{\"f3\":\"c\"}}\n"   /* hash -> hash */
           "{\"key\":\"u\",\"type\":\"hash\",\"value\":{\"y\":\"2\"}}\n"
           "{\"key\":\"u\",\"n\":2}\n"                                       /* hash -> line */
           "{\"key\":\"42\",\"type\":\"hash\",\"value\":{\"a\":\"1\",\"b\":\"2\"}}\n"
           "{\"key\":\"42\",\"type\":\"hash\",\"value\":{\"b\":\"3\"}}\n"    /* within a batch */
           "{\"key\":\"bin\",\"type\":\"hash\",\"value\":{\"z\":\"9\"}}\n"
           "{\"key\":\"bin\",\"type\":\"string\",\"value\":\"back\"}\n";    /* hash -> string */
    ASSERT_OK(import_text(db, text, NULL, 3, 0, &records));
    ASSERT_EQ(records, 8);
    expect_hash(db, NULL, "s", "x=1;");
    expect_hash(db, NULL, "h", "f3=c;");
    expect_string(db, NULL, "u", "{\"key\":\"u\",\"n\":2}", 17);
    expect_hash(db, NULL, "42", "b=3;");
    expect_string(db, NULL, "bin", "back", 4);
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_dbsize(snap, NULL, &n));
    ASSERT_EQ(n, 5);
    /* No field is left behind anywhere. */
    ASSERT_OK(cairn_count(snap, ".hash.", NULL, 0, NULL, 0, &n));
    ASSERT_EQ(n, 3);
    cairn_snapshot_close(snap);

    /* A named keyspace; the default one is untouched. */
    ASSERT_OK(import_text(db, "{\"key\":\"s\",\"type\":\"hash\",\"value\":{\"k\":\"v\"}}\n", "ns",
                          0, 0, &records));
    expect_hash(db, "ns", "s", "k=v;");
    expect_hash(db, NULL, "s", "x=1;");
    cairn_close(db);
}

/* Line 4 of a file whose lines 1-3 are good fails with rc and a detail
 * holding want (and want2, if not NULL); batches of 2 mean records 1-2 are
 * committed and 3 is not. */
static void check_error_line2(const char *bad, int want_rc, const char *want, const char *want2)
{
    char text[2048];
    uint64_t records = 99;
    cairn_db *db = open_mem();

    snprintf(text, sizeof(text),
             "{\"key\":\"a\",\"type\":\"string\",\"value\":\"1\"}\n"
             "{\"key\":\"b\",\"type\":\"hash\",\"value\":{\"f\":\"2\"}}\n"
             "{\"key\":\"c\",\"type\":\"string\",\"value\":\"3\"}\n"
             "%s\n"
             "{\"key\":\"e\",\"type\":\"string\",\"value\":\"5\"}\n",
             bad);
    ASSERT_RC(import_text(db, text, NULL, 2, 0, &records), want_rc);
    ASSERT_DETAIL("src:4: ");
    ASSERT_DETAIL(want);
    if (want2)
        ASSERT_DETAIL(want2);
    ASSERT_EQ(records, 2);
    expect_string(db, NULL, "a", "1", 1);
    expect_hash(db, NULL, "b", "f=2;");
    expect_none(db, "c");
    expect_none(db, "e");
    cairn_close(db);
}

static void check_error_line(const char *bad, int want_rc, const char *want)
{
    check_error_line2(bad, want_rc, want, NULL);
}

static void test_errors(void)
{
    static char long_field[1100];

    check_error_line("{\"key\":\"d\",\"type\":\"list\",\"value\":[\"x\"]}", CAIRN_BADINPUT,
                     "unknown type \"list\" (column 19)");
    check_error_line("{\"key\":\"d\",\"type\":true,\"value\":\"x\"}", CAIRN_BADINPUT,
                     "field \"type\" is a boolean");
    check_error_line("{\"key\":\"d\",\"type\":\"string\"}", CAIRN_BADINPUT,
                     "field \"value\" missing");
    check_error_line("{\"key\":\"d\",\"type\":\"string\",\"value\":[1]}", CAIRN_BADINPUT,
                     "field \"value\" is an array (column 36), want a string");
    check_error_line("{\"key\":\"d\",\"type\":\"hash\",\"value\":\"x\"}", CAIRN_BADINPUT,
                     "want an object of strings");
    check_error_line("{\"key\":\"d\",\"type\":\"hash\",\"value\":{\"f\":1}}", CAIRN_BADINPUT,
                     "hash field \"f\" is a number (column 39), want a string");
    check_error_line("{\"key\":\"d\",\"type\":\"hash\",\"value\":{\"f\":null}}", CAIRN_BADINPUT,
                     "hash field \"f\" is null");
    check_error_line("{\"key\":\"d\",\"type\":\"hash\",\"value\":{\"f\":\"1\",\"f\":\"2\"}}",
                     CAIRN_BADINPUT, "hash field \"f\" appears more than once (again at column 43)");
    check_error_line("{\"key\":\"d\",\"type\":\"hash\",\"value\":{}}", CAIRN_BADINPUT,
                     "a hash with no fields");
    check_error_line("{\"key\":\"d\",\"type\":\"string\",\"value\":\"\\udc00\"}", CAIRN_BADINPUT,
                     "lone low surrogate");
    check_error_line("{\"key\":\"d\",\"type\":\"string\",\"value\":\"x\"", CAIRN_BADINPUT,
                     "invalid JSON at column 39");
    /* A field too long once the hash's name is before it. */
    memset(long_field, 'f', 1023);
    long_field[1023] = '\0';
    char line[1200];
    snprintf(line, sizeof(line), "{\"key\":\"d\",\"type\":\"hash\",\"value\":{\"%s\":\"v\"}}",
             long_field);
    check_error_line2(line, CAIRN_BADINPUT, "key too long: hash 'd', field 'ffff",
                      "would take 1025 bytes, over the key limit of 1024");

    /* A reserved keyspace: the typed writers refuse it, naming the line. */
    cairn_db *db = open_mem();
    uint64_t records;
    ASSERT_RC(import_text(db, "{\"key\":\"d\",\"type\":\"string\",\"value\":\"x\"}\n", ".hash.", 0,
                          0, &records),
              CAIRN_BADARG);
    ASSERT_DETAIL("src:1: ");
    ASSERT_DETAIL("reserved for cairn's own use");
    cairn_close(db);
}

static void test_untyped(void)
{
    const char *line = "{\"key\":\"e1\",\"type\":\"PushEvent\",\"value\":\"x\"}\n";
    uint64_t records;
    cairn_db *db = open_mem();

    ASSERT_RC(import_text(db, line, NULL, 0, 0, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("src:1: unknown type \"PushEvent\"");
    ASSERT_DETAIL("import untyped to keep such lines whole");
    ASSERT_OK(import_text(db, line, NULL, 0, CAIRN_IMPORT_UNTYPED, &records));
    ASSERT_EQ(records, 1);
    expect_string(db, NULL, "e1", line, strlen(line) - 1);
    ASSERT_RC(import_text(db, line, NULL, 0, 0x10, &records), CAIRN_BADARG);
    cairn_close(db);
}

/* ---------------------------------------------------------------- round trips */

static void random_bytes(uint8_t *buf, size_t len)
{
    static const uint8_t pick[] = {0, '\n', '\t', '"', '\\', 'a', 'z', 0x7f, 0x80,
                                   0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xff};
    for (size_t i = 0; i < len; i++)
        buf[i] = test_rand_below(2) ? pick[test_rand_below(sizeof(pick))] : (uint8_t)test_rand();
}

/* Writes random strings and hashes (names from a small set, so some are
 * both over time: the typed writers keep each one kind). */
static void random_contents(cairn_db *db)
{
    uint8_t key[8], field[6], val[1500];
    cairn_txn *txn;
    int i;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    for (i = 0; i < 600; i++) {
        size_t klen = 1 + test_rand_below(sizeof(key)), flen = test_rand_below(sizeof(field));
        size_t vlen = test_rand_below(10) ? test_rand_below(30) : sizeof(val);
        random_bytes(key, klen);
        key[0] = (uint8_t)('a' + test_rand_below(8)); /* collide on purpose */
        random_bytes(field, flen);
        random_bytes(val, vlen);
        if (test_rand_below(3) == 0)
            ASSERT_OK(cairn_txn_set_string(txn, NULL, key, klen > 2 ? 2 : klen, val, vlen));
        else
            ASSERT_OK(cairn_txn_hset(txn, NULL, key, klen > 2 ? 2 : klen, field, flen, val,
                                     vlen, NULL));
    }
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
}

static int export_typed(cairn_db *db, char **text, size_t *size, uint64_t *records)
{
    FILE *out = open_memstream(text, size);
    int rc;

    ASSERT_TRUE(out != NULL);
    rc = cairn_export(db, NULL, NULL, CAIRN_JSONL_TYPED, out, NULL, NULL, records);
    ASSERT_EQ(fclose(out), 0);
    return rc;
}

static void catalog_root(cairn_db *db, cairn_id *out)
{
    cairn_snapshot *snap;
    ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
    ASSERT_OK(cairn_snapshot_root(snap, CAIRN_CATALOG, out));
    cairn_snapshot_close(snap);
}

static void test_round_trip(void)
{
    cairn_import_options opts;
    char *text = NULL, *again_text = NULL;
    size_t size = 0, again_size = 0;
    uint64_t records = 0, again_records = 0, dbsize;
    cairn_id root, again_root;
    cairn_snapshot *snap;
    cairn_db *db, *again;
    FILE *in;
    int round;

    for (round = 0; round < 5; round++) {
        db = open_mem();
        random_contents(db);
        ASSERT_OK(export_typed(db, &text, &size, &records));
        ASSERT_OK(cairn_snapshot_open(db, NULL, &snap));
        ASSERT_OK(cairn_dbsize(snap, NULL, &dbsize));
        cairn_snapshot_close(snap);
        ASSERT_EQ(records, dbsize);
        /* What the round trip is meant to cover is there. */
        ASSERT_TRUE(memmem(text, size, "\"type\":\"hash\"", 13) != NULL);
        ASSERT_TRUE(memmem(text, size, "\"type\":\"string\"", 15) != NULL);
        ASSERT_TRUE(memmem(text, size, "\\udc", 4) != NULL);
        ASSERT_TRUE(memmem(text, size, "\xc3\xa9", 2) != NULL);

        again = open_mem();
        ASSERT_TRUE((in = fmemopen(text, size, "r")) != NULL);
        memset(&opts, 0, sizeof(opts));
        opts.format = CAIRN_JSONL_TYPED; /* key field "key" */
        opts.batch = 1 + test_rand_below(50);
        ASSERT_OK(cairn_import(again, in, &opts, &again_records, NULL));
        fclose(in);
        ASSERT_EQ(again_records, records);
        catalog_root(db, &root);
        catalog_root(again, &again_root);
        ASSERT_MEM_EQ(root.bytes, 32, again_root.bytes, 32);
        ASSERT_OK(export_typed(again, &again_text, &again_size, &again_records));
        ASSERT_MEM_EQ(again_text, again_size, text, size);
        free(text);
        free(again_text);
        cairn_close(again);
        cairn_close(db);
    }
}

static void test_export_refusals(void)
{
    char *text = NULL;
    size_t size = 0;
    uint64_t records = 99;
    cairn_txn *txn;
    cairn_db *db = open_mem();
    FILE *out;

    ASSERT_OK(cairn_txn_begin(db, NULL, &txn));
    ASSERT_OK(cairn_txn_set_string(txn, NULL, "a", 1, "1", 1));
    ASSERT_OK(cairn_txn_hset(txn, NULL, "b", 1, "f", 1, "v", 1, NULL));
    ASSERT_OK(cairn_txn_put(txn, NULL, "b", 1, "str", 3)); /* both kinds: put knows no hashes */
    ASSERT_OK(cairn_txn_set_string(txn, NULL, "c", 1, "3", 1));
    ASSERT_OK(cairn_txn_commit(txn, NULL, NULL));
    ASSERT_RC(export_typed(db, &text, &size, &records), CAIRN_BADINPUT);
    ASSERT_DETAIL("key 'b' is both a string and a hash");
    ASSERT_EQ(records, 1);
    const char *first = "{\"key\":\"a\",\"type\":\"string\",\"value\":\"1\"}\n";
    ASSERT_MEM_EQ(text, size, first, strlen(first));
    free(text);

    ASSERT_TRUE((out = open_memstream(&text, &size)) != NULL);
    ASSERT_RC(cairn_export(db, NULL, ".hlen.", CAIRN_JSONL_TYPED, out, NULL, NULL, &records),
              CAIRN_BADARG);
    ASSERT_DETAIL("reserved");
    fclose(out);
    free(text);
    cairn_close(db);
}

int main(void)
{
    test_seed_init(12);
    test_kinds();
    test_errors();
    test_untyped();
    test_round_trip();
    test_export_refusals();
    printf("ok\n");
    return 0;
}
