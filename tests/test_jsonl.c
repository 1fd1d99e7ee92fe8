/*
 * test_jsonl.c - the strict JSON scanner behind jsonl import: key
 * extraction (strings with every escape, numbers as written), the field's
 * type and presence, syntax errors with their columns and wording, and the
 * object check jsonl export applies to each value (cairn__jsonl_object).
 * Typed records (cairn__jsonl_record_parse): strings and hashes decoded
 * (escapes, byte escapes \udc80-\udcff, fields sorted), other members
 * ignored, untyped lines as before (byte escapes still errors there), and
 * every typed problem with its wording and column. The JSON string writer
 * of typed export (cairn__jsonl_write_string): exact escapes, and every
 * byte string read back the same through a typed record.
 */
#include "jsonl.h"
#include "test.h"

/* The line must give key want[0..want_len) for field. */
static void check_key(const char *line, const char *field, const void *want, size_t want_len)
{
    cairn__jsonl_error err;
    char *key = NULL, msg[256];
    size_t key_len = 0;
    int rc = cairn__jsonl_field(line, strlen(line), field, &key, &key_len, &err);

    if (rc)
        TEST_FAIL("line %s: %s", line, cairn__jsonl_describe(&err, field, msg, sizeof(msg)));
    ASSERT_MEM_EQ(key, key_len, want, want_len);
    ASSERT_EQ(key[key_len], '\0');
    free(key);
}

/* The line must fail with problem and the message want; the key
 * out-parameters must stay untouched. */
static void check_error(const char *line, size_t len, const char *field,
                        cairn__jsonl_problem problem, const char *want)
{
    cairn__jsonl_error err;
    char *key = (char *)"untouched", msg[256];
    size_t key_len = 12345;

    ASSERT_RC(cairn__jsonl_field(line, len, field, &key, &key_len, &err), CAIRN_BADINPUT);
    ASSERT_EQ(err.problem, problem);
    ASSERT_TRUE(strcmp(key, "untouched") == 0);
    ASSERT_EQ(key_len, 12345);
    cairn__jsonl_describe(&err, field, msg, sizeof(msg));
    if (strcmp(msg, want) != 0)
        TEST_FAIL("line %.*s: got \"%s\", want \"%s\"", (int)len, line, msg, want);
}

static void check_syntax(const char *line, const char *want)
{
    check_error(line, strlen(line), "id", CAIRN__JSONL_SYNTAX, want);
}

static void check_valid(const char *line)
{
    check_key(line, "id", "k", 1);
}

static void test_string_keys(void)
{
    check_key("{\"id\":\"abc\"}", "id", "abc", 3);
    check_key("{\"id\":\"\"}", "id", "", 0);
    check_key(" \t{ \"a\" : 1 , \"id\" : \"x y\" , \"b\":[1,2,{}]} \r", "id", "x y", 3);
    check_key("{\"id\":\"q\\\"b\\\\s\\/f\"}", "id", "q\"b\\s/f", 7);
    check_key("{\"id\":\"\\b\\f\\n\\r\\t\"}", "id", "\b\f\n\r\t", 5);
    check_key("{\"id\":\"\\u0041\\u00e9\\u20AC\"}", "id", "A\xc3\xa9\xe2\x82\xac", 6);
    check_key("{\"id\":\"\\ud83d\\ude00\"}", "id", "\xf0\x9f\x98\x80", 4);
    check_key("{\"id\":\"a\\u0000b\"}", "id", "a\0b", 3);
    /* Raw UTF-8 passes through unchanged. */
    check_key("{\"id\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac\"}", "id",
              "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac", 14);
    /* Member names are compared unescaped. */
    check_key("{\"\\u0069d\":\"esc\"}", "id", "esc", 3);
    check_key("{\"i\":\"no\",\"idx\":\"no\",\"id\":\"yes\"}", "id", "yes", 3);
    check_key("{\"caf\\u00e9\":\"k\"}", "caf\xc3\xa9", "k", 1);
    /* Only the top level counts. */
    check_key("{\"x\":{\"id\":\"inner\"},\"id\":\"outer\"}", "id", "outer", 5);
    check_key("{\"x\":[{\"id\":1},{\"id\":2}],\"id\":\"top\"}", "id", "top", 3);
}

static void test_number_keys(void)
{
    check_key("{\"id\":42}", "id", "42", 2);
    check_key("{\"id\":0}", "id", "0", 1);
    check_key("{\"id\":-1.5e3}", "id", "-1.5e3", 6);
    check_key("{\"id\":1E+05 }", "id", "1E+05", 5);
    check_key("{\"id\":3.14159,\"z\":1}", "id", "3.14159", 7);
    check_key("{\"id\":-0.0e-7}", "id", "-0.0e-7", 7);
}

static void test_field_problems(void)
{
    const char *l;

    l = "{\"a\":1}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_MISSING, "field \"id\" missing");
    l = "{}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_MISSING, "field \"id\" missing");
    l = "{\"x\":{\"id\":1}}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_MISSING, "field \"id\" missing");
    l = "{\"id\":{\"a\":1}}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_BADTYPE,
                "field \"id\" is an object, want a string or number");
    l = "{\"id\":[1]}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_BADTYPE,
                "field \"id\" is an array, want a string or number");
    l = "{\"id\":true}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_BADTYPE,
                "field \"id\" is a boolean, want a string or number");
    l = "{\"id\":false}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_BADTYPE,
                "field \"id\" is a boolean, want a string or number");
    l = "{\"id\":null}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_BADTYPE,
                "field \"id\" is null, want a string or number");
    l = "{\"id\":1,\"id\":2}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_DUPLICATE,
                "field \"id\" appears more than once (again at column 9)");
    l = "{\"id\":1,\"\\u0069d\":2}";
    check_error(l, strlen(l), "id", CAIRN__JSONL_DUPLICATE,
                "field \"id\" appears more than once (again at column 9)");
    /* A syntax error anywhere wins over a missing field. */
    check_syntax("{\"a\":1,}", "invalid JSON at column 8: expected a string (a member name)");
}

static void test_syntax_errors(void)
{
    /* The column is that of the byte where the ':' should have been. */
    check_syntax("{\"id\":7, \"name\" \"x\"}", "invalid JSON at column 17: expected ':'");
    check_syntax("{\"id\":7,\"name\"  \"x\"}", "invalid JSON at column 17: expected ':'");
    check_syntax("", "invalid JSON at column 1: empty line (want one JSON object)");
    check_syntax("   ", "invalid JSON at column 1: empty line (want one JSON object)");
    check_syntax("[1,2]",
                 "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_syntax("\"id\"",
                 "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_syntax("{\"id\":1} x", "invalid JSON at column 10: unexpected text after the object");
    check_syntax("{\"id\":1}{}", "invalid JSON at column 9: unexpected text after the object");
    check_syntax("{\"id\":1", "invalid JSON at column 8: expected ',' or '}'");
    check_syntax("{\"id\":", "invalid JSON at column 7: expected a value");
    check_syntax("{\"id\":}", "invalid JSON at column 7: expected a value");
    check_syntax("{id:1}", "invalid JSON at column 2: expected a string (a member name)");
    check_syntax("{'id':1}", "invalid JSON at column 2: expected a string (a member name)");
    check_syntax("{\"id\":1 2}", "invalid JSON at column 9: expected ',' or '}'");
    check_syntax("{\"id\":[1 2]}", "invalid JSON at column 10: expected ',' or ']'");
    check_syntax("{\"id\":[1,]}", "invalid JSON at column 10: expected a value");
    check_syntax("{\"id\":[1,2}", "invalid JSON at column 11: expected ',' or ']'");
    check_syntax("{\"id\":\"abc}", "invalid JSON at column 7: unterminated string");
    check_syntax("{\"id\":\"abc\\", "invalid JSON at column 7: unterminated string");
    check_syntax("{\"id\":\"a\tb\"}",
                 "invalid JSON at column 9: control character in string (escape it)");
    check_syntax("{\"id\":\"a\\qb\"}", "invalid JSON at column 9: bad escape in string");
    check_syntax("{\"id\":\"\\u12g4\"}",
                 "invalid JSON at column 8: bad \\u escape (want four hex digits)");
    check_syntax("{\"id\":\"\\u12\"}",
                 "invalid JSON at column 8: bad \\u escape (want four hex digits)");
    check_syntax("{\"id\":\"\\ud83d\"}",
                 "invalid JSON at column 8: high surrogate not followed by a low one");
    check_syntax("{\"id\":\"\\ud83dx\\ude00\"}",
                 "invalid JSON at column 8: high surrogate not followed by a low one");
    check_syntax("{\"id\":\"\\ud83d\\u0041\"}",
                 "invalid JSON at column 8: high surrogate not followed by a low one");
    check_syntax("{\"id\":\"\\ude00\"}",
                 "invalid JSON at column 8: lone low surrogate in \\u escape");
    check_syntax("{\"id\":\"\xc0\x80\"}", "invalid JSON at column 8: invalid UTF-8 in string");
    check_syntax("{\"id\":\"\xed\xa0\x80\"}",
                 "invalid JSON at column 8: invalid UTF-8 in string");
    check_syntax("{\"id\":\"\xf4\x90\x80\x80\"}",
                 "invalid JSON at column 8: invalid UTF-8 in string");
    check_syntax("{\"id\":\"\xe2\x82\"}", "invalid JSON at column 8: invalid UTF-8 in string");
    check_syntax("{\"id\":\"\xff\"}", "invalid JSON at column 8: invalid UTF-8 in string");
    check_syntax("{\"id\":tru}",
                 "invalid JSON at column 7: invalid literal (want true, false or null)");
    check_syntax("{\"id\":nul",
                 "invalid JSON at column 7: invalid literal (want true, false or null)");
    check_syntax("{\"id\":True}", "invalid JSON at column 7: expected a value");
    check_syntax("{\"id\":-}", "invalid JSON at column 8: expected a digit");
    check_syntax("{\"id\":+1}", "invalid JSON at column 7: expected a value");
    check_syntax("{\"id\":.5}", "invalid JSON at column 7: expected a value");
    check_syntax("{\"id\":1.}", "invalid JSON at column 9: expected a digit after '.'");
    check_syntax("{\"id\":1e}", "invalid JSON at column 9: expected a digit in the exponent");
    check_syntax("{\"id\":1e+}", "invalid JSON at column 10: expected a digit in the exponent");
    check_syntax("{\"id\":01}", "invalid JSON at column 8: expected ',' or '}'");
    check_syntax("{\"id\":NaN}", "invalid JSON at column 7: expected a value");
    check_syntax("{\"id\":1,,}", "invalid JSON at column 9: expected a string (a member name)");
    /* A NUL byte outside a string is just an unexpected byte. */
    check_error("{\"id\":1}\0", 9, "id", CAIRN__JSONL_SYNTAX,
                "invalid JSON at column 9: unexpected text after the object");
}

static void test_valid_documents(void)
{
    check_valid("{\"id\":\"k\"}");
    check_valid("{\"id\":\"k\",\"n\":[],\"o\":{},\"a\":[[[]]],\"t\":true,\"f\":false,\"z\":null}");
    check_valid("{\"id\":\"k\",\"nums\":[0,-0,1.5,-2e10,3E-2,4.0e+1,123456789012345678901234]}");
    check_valid("{\"id\":\"k\",\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uFFFF\"}");
    check_valid("{\n\"id\"\r:\t\"k\"\n}");
    check_valid("{\"id\":\"k\",\"\":\"empty name\"}");
}

static void test_depth(void)
{
    char line[2048];
    size_t n = 0;
    int i, depth;

    /* CAIRN__JSON_MAX_DEPTH levels in all (the line's object is one) pass. */
    for (depth = CAIRN__JSON_MAX_DEPTH; depth <= CAIRN__JSON_MAX_DEPTH + 1; depth++) {
        n = (size_t)snprintf(line, sizeof(line), "{\"id\":\"k\",\"x\":");
        for (i = 1; i < depth; i++)
            line[n++] = '[';
        for (i = 1; i < depth; i++)
            line[n++] = ']';
        line[n++] = '}';
        line[n] = '\0';
        if (depth == CAIRN__JSON_MAX_DEPTH)
            check_valid(line);
        else
            check_error(line, n, "id", CAIRN__JSONL_SYNTAX,
                        "invalid JSON at column 270: objects and arrays nested too deeply");
    }
}

/* cairn__jsonl_object must accept line (one JSON object, whitespace
 * around it). */
static void check_object(const char *line)
{
    cairn__jsonl_error err;

    if (cairn__jsonl_object(line, strlen(line), &err))
        TEST_FAIL("cairn__jsonl_object rejected '%s' at column %zu: %s", line, err.col,
                  err.what);
}

/* cairn__jsonl_object must reject line with the message want. */
static void check_not_object(const char *line, const char *want)
{
    cairn__jsonl_error err;
    char msg[256];

    ASSERT_RC(cairn__jsonl_object(line, strlen(line), &err), CAIRN_BADINPUT);
    ASSERT_EQ(err.problem, CAIRN__JSONL_SYNTAX);
    cairn__jsonl_describe(&err, NULL, msg, sizeof(msg));
    if (strcmp(msg, want) != 0)
        TEST_FAIL("'%s': got \"%s\", want \"%s\"", line, msg, want);
}

/* What jsonl export accepts as a value: exactly one JSON object, with no
 * key field needed (duplicate or missing names are fine: only the syntax
 * counts). */
static void test_object_check(void)
{
    check_object("{}");
    check_object(" \t{\"a\":1} ");
    check_object("{\"a\":1,\"a\":2}");
    check_object("{\"id\":{\"x\":[1,{\"y\":null}]}}");
    check_object("{\"s\":\"caf\xc3\xa9 \\u00e9\"}");
    check_not_object("", "invalid JSON at column 1: empty line (want one JSON object)");
    check_not_object("plain text",
                     "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_not_object("42",
                     "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_not_object("\"str\"",
                     "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_not_object("[{}]",
                     "invalid JSON at column 1: expected '{' (each line must be one JSON object)");
    check_not_object("{\"a\":1}{\"b\":2}",
                     "invalid JSON at column 8: unexpected text after the object");
    check_not_object("{\"a\":1", "invalid JSON at column 7: expected ',' or '}'");
    check_not_object("{not json}",
                     "invalid JSON at column 2: expected a string (a member name)");
}

/* ---------------------------------------------------------------- typed records */

/* Parses line (typed) with key field "key" into *rec, or fails the test. */
static void parse_ok(const char *line, size_t len, cairn__jsonl_record *rec)
{
    cairn__jsonl_error err;
    char msg[512];

    if (cairn__jsonl_record_parse(line, len, "key", true, rec, &err))
        TEST_FAIL("line %.*s: %s", (int)len, line,
                  cairn__jsonl_describe(&err, "key", msg, sizeof(msg)));
}

/* line (typed, key field "key") fails with problem and exactly want. */
static void typed_error(const char *line, cairn__jsonl_problem problem, const char *want)
{
    cairn__jsonl_record rec = {0};
    cairn__jsonl_error err;
    char msg[512];

    ASSERT_RC(cairn__jsonl_record_parse(line, strlen(line), "key", true, &rec, &err),
              CAIRN_BADINPUT);
    cairn__jsonl_describe(&err, "key", msg, sizeof(msg));
    if (err.problem != problem || strcmp(msg, want) != 0)
        TEST_FAIL("line %s: got problem %d \"%s\", want %d \"%s\"", line, err.problem, msg,
                  problem, want);
    cairn__jsonl_record_free(&rec);
}

static void test_typed_records(void)
{
    cairn__jsonl_record rec = {0};
    const char *l;

    l = "{\"key\":\"k\",\"type\":\"string\",\"value\":\"a\\tb\\u00e9\"}";
    parse_ok(l, strlen(l), &rec);
    ASSERT_EQ(rec.type, CAIRN__JSONL_STRING);
    ASSERT_MEM_EQ(rec.key.data, rec.key.len, "k", 1);
    ASSERT_MEM_EQ(rec.value.data, rec.value.len, "a\tb\xc3\xa9", 5);

    /* The type may be escaped too. */
    l = "{\"key\":\"k\",\"type\":\"\\u0073tring\",\"value\":\"v\"}";
    parse_ok(l, strlen(l), &rec);
    ASSERT_EQ(rec.type, CAIRN__JSONL_STRING);

    /* Members in any order, others ignored (redis-dump writes db, ttl and
     * size), a number key as written, escaped member names. */
    l = "{\"db\":0,\"value\":{\"f2\":\"b\",\"\":\"\",\"f1\":\"a\"},\"ttl\":-1,"
        "\"\\u0074ype\":\"hash\",\"key\":12,\"size\":3}";
    parse_ok(l, strlen(l), &rec);
    ASSERT_EQ(rec.type, CAIRN__JSONL_HASH);
    ASSERT_MEM_EQ(rec.key.data, rec.key.len, "12", 2);
    ASSERT_EQ(rec.n_pairs, 3);
    /* Sorted by field. */
    ASSERT_MEM_EQ(rec.pairs[0].field.data, rec.pairs[0].field.len, "", 0);
    ASSERT_MEM_EQ(rec.pairs[1].field.data, rec.pairs[1].field.len, "f1", 2);
    ASSERT_MEM_EQ(rec.pairs[1].value.data, rec.pairs[1].value.len, "a", 1);
    ASSERT_MEM_EQ(rec.pairs[2].field.data, rec.pairs[2].field.len, "f2", 2);
    ASSERT_MEM_EQ(rec.pairs[2].value.data, rec.pairs[2].value.len, "b", 1);

    /* Byte escapes stand for bytes in key, fields and values; a pair of
     * surrogates is still one character. */
    l = "{\"key\":\"\\udcff\\udc80\",\"type\":\"hash\",\"value\":{\"\\udcc3\":"
        "\"x\\ud83d\\ude00\\udcfe\"}}";
    parse_ok(l, strlen(l), &rec);
    ASSERT_MEM_EQ(rec.key.data, rec.key.len, "\xff\x80", 2);
    ASSERT_MEM_EQ(rec.pairs[0].field.data, rec.pairs[0].field.len, "\xc3", 1);
    ASSERT_MEM_EQ(rec.pairs[0].value.data, rec.pairs[0].value.len, "x\xf0\x9f\x98\x80\xfe", 6);

    /* No "type": untyped, the line is the value, even with a "value" twice. */
    l = "{\"key\":\"u\",\"value\":1,\"value\":2}";
    parse_ok(l, strlen(l), &rec);
    ASSERT_EQ(rec.type, CAIRN__JSONL_UNTYPED);
    ASSERT_MEM_EQ(rec.key.data, rec.key.len, "u", 1);
    ASSERT_MEM_EQ(rec.value.data, rec.value.len, l, strlen(l));
    /* Untyped lines keep the strict rules: no byte escapes. */
    typed_error("{\"key\":\"u\",\"x\":\"\\udc80\"}", CAIRN__JSONL_SYNTAX,
                "invalid JSON at column 17: lone low surrogate in \\u escape");
    /* Nor does a typed record accept a lone low surrogate below dc80. */
    typed_error("{\"key\":\"k\",\"type\":\"string\",\"value\":\"\\udc7f\"}", CAIRN__JSONL_SYNTAX,
                "invalid JSON at column 37: lone low surrogate in \\u escape");
    /* A typed record with a byte escape and a later syntax error: the
     * syntax error. */
    typed_error("{\"type\":\"string\",\"key\":\"\\udc80\",\"value\":\"v\" x}",
                CAIRN__JSONL_SYNTAX, "invalid JSON at column 45: expected ',' or '}'");

    /* The typing off (flag, or a key field that is "type"): untyped. */
    cairn__jsonl_error err;
    l = "{\"key\":\"k\",\"type\":\"PushEvent\"}";
    ASSERT_OK(cairn__jsonl_record_parse(l, strlen(l), "key", false, &rec, &err));
    ASSERT_EQ(rec.type, CAIRN__JSONL_UNTYPED);
    ASSERT_OK(cairn__jsonl_record_parse(l, strlen(l), "type", true, &rec, &err));
    ASSERT_EQ(rec.type, CAIRN__JSONL_UNTYPED);
    ASSERT_MEM_EQ(rec.key.data, rec.key.len, "PushEvent", 9);
    cairn__jsonl_record_free(&rec);

    /* Every typed problem. */
    typed_error("{\"key\":\"k\",\"type\":\"PushEvent\",\"value\":\"v\"}",
                CAIRN__JSONL_TYPE_UNKNOWN,
                "unknown type \"PushEvent\" (column 19): want \"string\" or \"hash\" (a line "
                "with a top-level \"type\" field is a typed record; import untyped to keep such "
                "lines whole)");
    typed_error("{\"key\":\"k\",\"type\":\"list\",\"value\":[\"a\"]}", CAIRN__JSONL_TYPE_UNKNOWN,
                "unknown type \"list\" (column 19): want \"string\" or \"hash\" (a line with a "
                "top-level \"type\" field is a typed record; import untyped to keep such lines "
                "whole)");
    typed_error("{\"key\":\"k\",\"type\":1,\"value\":\"v\"}", CAIRN__JSONL_TYPE_BAD,
                "field \"type\" is a number (column 19), want \"string\" or \"hash\"");
    typed_error("{\"key\":\"k\",\"type\":\"string\"}", CAIRN__JSONL_VALUE_MISSING,
                "field \"value\" missing (a typed record needs one)");
    typed_error("{\"key\":\"k\",\"type\":\"string\",\"value\":7}", CAIRN__JSONL_VALUE_BAD,
                "field \"value\" is a number (column 36), want a string (type \"string\")");
    typed_error("{\"key\":\"k\",\"type\":\"string\",\"value\":{\"a\":\"b\"}}",
                CAIRN__JSONL_VALUE_BAD,
                "field \"value\" is an object (column 36), want a string (type \"string\")");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":\"v\"}", CAIRN__JSONL_VALUE_BAD,
                "field \"value\" is a string (column 34), want an object of strings (type "
                "\"hash\")");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":null}", CAIRN__JSONL_VALUE_BAD,
                "field \"value\" is null (column 34), want an object of strings (type \"hash\")");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{\"a\":\"1\",\"n\":2}}",
                CAIRN__JSONL_HASH_FIELD_BAD,
                "hash field \"n\" is a number (column 47), want a string");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{\"o\":{\"x\":\"y\"}}}",
                CAIRN__JSONL_HASH_FIELD_BAD,
                "hash field \"o\" is an object (column 39), want a string");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{\"t\":true}}",
                CAIRN__JSONL_HASH_FIELD_BAD,
                "hash field \"t\" is a boolean (column 39), want a string");
    /* Duplicates are found after unescaping; the message names the
     * second. */
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{\"f\":\"1\",\"g\":\"2\",\"\\u0066\":\"3\"}}",
                CAIRN__JSONL_HASH_DUPLICATE,
                "hash field \"f\" appears more than once (again at column 51)");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{\"z\":\"1\",\"a\":\"2\",\"z\":\"3\",\"a\":\"4\"}}",
                CAIRN__JSONL_HASH_DUPLICATE,
                "hash field \"z\" appears more than once (again at column 51)");
    typed_error("{\"key\":\"k\",\"type\":\"hash\",\"value\":{}}", CAIRN__JSONL_HASH_EMPTY,
                "a hash with no fields (column 34): such a hash does not exist, leave the line "
                "out");
    typed_error("{\"key\":\"k\",\"type\":\"string\",\"type\":\"hash\",\"value\":\"v\"}",
                CAIRN__JSONL_DUPLICATE,
                "field \"type\" appears more than once (again at column 28)");
    typed_error("{\"key\":\"k\",\"type\":\"string\",\"value\":\"v\",\"value\":\"w\"}",
                CAIRN__JSONL_DUPLICATE,
                "field \"value\" appears more than once (again at column 40)");
    typed_error("{\"type\":\"string\",\"value\":\"v\"}", CAIRN__JSONL_MISSING,
                "field \"key\" missing");
    typed_error("{\"key\":[1],\"type\":\"string\",\"value\":\"v\"}", CAIRN__JSONL_BADTYPE,
                "field \"key\" is an array, want a string or number");
}

/* Writes data with cairn__jsonl_write_string; OUT: the text (malloc'd). */
static char *written(const void *data, size_t len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    ASSERT_TRUE(out != NULL);
    ASSERT_OK(cairn__jsonl_write_string(out, data, len));
    ASSERT_EQ(fclose(out), 0);
    return text;
}

static void check_written(const void *data, size_t len, const char *want)
{
    char *text = written(data, len);
    if (strcmp(text, want) != 0)
        TEST_FAIL("wrote %s, want %s", text, want);
    free(text);
}

static void test_string_writer(void)
{
    cairn__jsonl_record rec = {0};
    uint8_t bytes[64];
    char line[1024];
    int round;

    check_written("", 0, "\"\"");
    check_written("plain text", 10, "\"plain text\"");
    check_written("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    check_written("\n\r\t\b\x01\x1f\x7f", 7, "\"\\n\\r\\t\\u0008\\u0001\\u001f\x7f\"");
    check_written("a\0b", 3, "\"a\\u0000b\"");
    /* UTF-8 as it is; bytes of no UTF-8 sequence as byte escapes. */
    check_written("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    check_written("\xff\x80\xc3", 3, "\"\\udcff\\udc80\\udcc3\"");
    check_written("\xc0\x80", 2, "\"\\udcc0\\udc80\"");             /* overlong */
    check_written("\xed\xa0\x80", 3, "\"\\udced\\udca0\\udc80\"");   /* a surrogate */
    check_written("\xe2\x82", 2, "\"\\udce2\\udc82\"");             /* cut short */

    /* Any bytes read back the same through a typed record. */
    for (round = 0; round < 20000; round++) {
        size_t len = test_rand_below(sizeof(bytes) + 1), i, n;
        char *text;
        for (i = 0; i < len; i++) {
            /* Mostly bytes that matter: controls, quotes, UTF-8 lead and
             * continuation bytes. */
            static const uint8_t pick[] = {0, 1, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0xbf,
                                           0xc2, 0xc3, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xff};
            bytes[i] = test_rand_below(3) ? pick[test_rand_below(sizeof(pick))]
                                          : (uint8_t)test_rand();
        }
        text = written(bytes, len);
        n = (size_t)snprintf(line, sizeof(line), "{\"key\":%s,\"type\":\"string\",\"value\":%s}",
                             text, text);
        ASSERT_TRUE(n < sizeof(line));
        parse_ok(line, n, &rec);
        ASSERT_MEM_EQ(rec.key.data, rec.key.len, bytes, len);
        ASSERT_MEM_EQ(rec.value.data, rec.value.len, bytes, len);
        free(text);
    }
    cairn__jsonl_record_free(&rec);
}

int main(void)
{
    test_seed_init(1);
    test_string_keys();
    test_number_keys();
    test_field_problems();
    test_syntax_errors();
    test_valid_documents();
    test_depth();
    test_object_check();
    test_typed_records();
    test_string_writer();
    printf("ok\n");
    return 0;
}
