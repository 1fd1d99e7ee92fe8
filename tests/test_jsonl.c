/*
 * test_jsonl.c - the strict JSON scanner behind jsonl import: key
 * extraction (strings with every escape, numbers as written), the field's
 * type and presence, syntax errors with their columns and wording, and the
 * object check jsonl export applies to each value (cairn__jsonl_object).
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
    printf("ok\n");
    return 0;
}
