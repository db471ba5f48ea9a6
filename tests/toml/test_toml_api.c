/* The parser's API: values and keys carry the line and column where they
 * were written; errors say where and what was expected; numbers, strings and
 * dates decode to exact values. */
#include "toml/toml.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK_INT(what, got, want)                                                                          \
  do {                                                                                                      \
    long long g_ = (long long)(got), w_ = (long long)(want);                                                \
    if (g_ != w_) {                                                                                         \
      printf("FAIL %s:%d %s: got %lld, expected %lld\n", __FILE__, __LINE__, what, g_, w_);                 \
      failures++;                                                                                           \
    }                                                                                                       \
  } while (0)

static McTomlValue *Parse(const char *text)
{
  McTomlValue *root;
  McTomlError  err;

  if (McTomlParse(text, strlen(text), "t.toml", &root, &err)) {
    printf("FAIL: unexpected parse error: %s\n", err.message);
    failures++;
    return NULL;
  }
  return root;
}

/* text must fail at line:col with exactly message. */
static void ExpectError(const char *text, int line, int col, const char *message)
{
  McTomlValue *root;
  McTomlError  err;

  if (McTomlParse(text, strlen(text), "t.toml", &root, &err) == 0) {
    printf("FAIL: parsed, expected error '%s'\n", message);
    McTomlFree(&root);
    failures++;
    return;
  }
  if (root) {
    printf("FAIL: root not NULL after an error\n");
    failures++;
  }
  CHECK_INT(message, err.line, line);
  CHECK_INT(message, err.col, col);
  if (strcmp(err.message, message)) {
    printf("FAIL: message\n  got      '%s'\n  expected '%s'\n", err.message, message);
    failures++;
  }
}

static void Positions(void)
{
  const char *text = "# comment\n"
                     "title = \"x\"\n"
                     "[prior]\n"
                     "  correlation_length  =   -0.1\n"
                     "  names = [ 'a',\n"
                     "            \"é\", 3 ]\n"
                     "[[pde.wells]]\n"
                     "centre = { x = 1, \"y\" = 2.5 }\n";
  McTomlValue       *root = Parse(text), *prior, *v, *names, *wells, *w0;
  const McTomlEntry *e;

  if (!root) return;
  prior = McTomlGet(root, "prior");
  CHECK_INT("prior is a table", prior && prior->type == MC_TOML_TABLE, 1);
  CHECK_INT("[prior] line", prior->line, 3);
  CHECK_INT("[prior] col", prior->col, 1);
  e = McTomlGetEntry(prior, "correlation_length");
  CHECK_INT("key line", e->line, 4);
  CHECK_INT("key col", e->col, 3);
  v = e->value;
  CHECK_INT("value type", v->type, MC_TOML_FLOAT);
  CHECK_INT("value line", v->line, 4);
  CHECK_INT("value col", v->col, 27);
  CHECK_INT("value exact", v->u.real == -0.1, 1);
  names = McTomlGet(prior, "names");
  CHECK_INT("array n", names->u.array.n, 3);
  CHECK_INT("array col", names->col, 11);
  CHECK_INT("item 0 col", names->u.array.items[0]->col, 13);
  CHECK_INT("item 1 line", names->u.array.items[1]->line, 6);
  CHECK_INT("item 1 col", names->u.array.items[1]->col, 13);
  /* columns count characters: the é before takes one column, not two bytes */
  CHECK_INT("item 2 col", names->u.array.items[2]->col, 18);
  CHECK_INT("item 2 value", names->u.array.items[2]->u.integer, 3);
  wells = McTomlGet(McTomlGet(root, "pde"), "wells");
  CHECK_INT("wells is an array", wells->type, MC_TOML_ARRAY);
  w0 = wells->u.array.items[0];
  CHECK_INT("[[pde.wells]] line", w0->line, 7);
  e = McTomlGetEntry(McTomlGet(w0, "centre"), "y");
  CHECK_INT("inline key col", e->col, 19);
  CHECK_INT("inline value col", e->value->col, 25);
  CHECK_INT("missing key", McTomlGet(root, "nope") == NULL, 1);
  CHECK_INT("get on non-table", McTomlGet(v, "x") == NULL, 1);
  McTomlFree(&root);
  CHECK_INT("free clears", root == NULL, 1);
}

static void Values(void)
{
  McTomlValue *root = Parse("a = -9223372036854775808\nb = 0x7fff_ffff_ffff_ffff\nc = 0o17\nd = 0b101\n"
                            "e = 1_000\nf = 6.02e23\ng = -inf\nh = nan\n"
                            "s = \"tab\\there \\u00e9 \\U0001F600\"\nl = 'C:\\x'\n"
                            "m = \"\"\"\nline1\n  line2\\\n    cont\"\"\"\n"
                            "dt = 1979-05-27T07:32:00.999999-07:30\nld = 1979-05-27\nlt = 07:32:00\n");
  McTomlValue *v;

  if (!root) return;
  CHECK_INT("INT64_MIN", McTomlGet(root, "a")->u.integer == INT64_MIN, 1);
  CHECK_INT("hex max", McTomlGet(root, "b")->u.integer == INT64_MAX, 1);
  CHECK_INT("octal", McTomlGet(root, "c")->u.integer, 15);
  CHECK_INT("binary", McTomlGet(root, "d")->u.integer, 5);
  CHECK_INT("underscores", McTomlGet(root, "e")->u.integer, 1000);
  CHECK_INT("float", McTomlGet(root, "f")->u.real == 6.02e23, 1);
  CHECK_INT("-inf", isinf(McTomlGet(root, "g")->u.real) && McTomlGet(root, "g")->u.real < 0, 1);
  CHECK_INT("nan", isnan(McTomlGet(root, "h")->u.real), 1);
  v = McTomlGet(root, "s");
  CHECK_INT("escapes", strcmp(v->u.string.ptr, "tab\there \xc3\xa9 \xf0\x9f\x98\x80"), 0);
  CHECK_INT("literal", strcmp(McTomlGet(root, "l")->u.string.ptr, "C:\\x"), 0);
  CHECK_INT("multi-line", strcmp(McTomlGet(root, "m")->u.string.ptr, "line1\n  line2cont"), 0);
  v = McTomlGet(root, "dt");
  CHECK_INT("datetime type", v->type, MC_TOML_DATETIME);
  CHECK_INT("datetime offset", v->u.datetime.offset_minutes, -450);
  CHECK_INT("datetime frac", strcmp(v->u.datetime.frac, "999999"), 0);
  CHECK_INT("local date", McTomlGet(root, "ld")->type, MC_TOML_DATE_LOCAL);
  CHECK_INT("local time", McTomlGet(root, "lt")->u.datetime.minute, 32);
  McTomlFree(&root);
}

static void Errors(void)
{
  ExpectError("a = 1\nb = \n", 2, 5,
              "t.toml:2:5: expected a value (string, number, boolean, date-time, array or inline table), got end of line");
  ExpectError("[mesh]\ndim = 2\ndim = 3\n", 3, 1, "t.toml:3:1: duplicate key 'dim' (first defined at line 2)");
  ExpectError("[a]\nx=1\n[a]\n", 3, 1, "t.toml:3:1: table [a] is defined twice (first at line 1)");
  ExpectError("x = 0123\n", 1, 5, "t.toml:1:5: leading zeros are not allowed in a decimal number");
  ExpectError("x = 1__0\n", 1, 6, "t.toml:1:6: an underscore in a number must be between two digits");
  ExpectError("x = \"abc\n", 1, 5, "t.toml:1:5: unterminated basic string: expected closing \" before the end of the line");
  ExpectError("x = \"a\\qb\"\n", 1, 7,
              "t.toml:1:7: invalid escape sequence '\\q': expected one of \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX");
  ExpectError("x = 2021-02-29\n", 1, 13, "t.toml:1:13: day 29 out of range for 2021-02 (01 to 28)");
  ExpectError("x = 9223372036854775808\n", 1, 5,
              "t.toml:1:5: integer 9223372036854775808 does not fit in 64 bits (max 9223372036854775807)");
  ExpectError("x = { a = 1,\n b = 2 }\n", 1, 13, "t.toml:1:13: expected a key (letters, digits, '_', '-', or a quoted string), got end of line");
  ExpectError("x = 1 y = 2\n", 1, 7, "t.toml:1:7: expected end of line after a value, got 'y'");
  ExpectError("é = 1\n", 1, 1, "t.toml:1:1: expected a key, a [table] header or a comment, got a non-ASCII character");
  ExpectError("a = 'x'\n# bad \x01 byte\n", 2, 7, "t.toml:2:7: control character U+0001 is not allowed in a comment");
  ExpectError("a = \"\xff\"\n", 1, 6, "t.toml:1:6: invalid UTF-8 byte 0xFF: a TOML document must be UTF-8");
  ExpectError("a.b = 1\n[a]\n", 2, 1, "t.toml:2:1: table [a] is defined twice (first at line 1)");
  ExpectError("a = [1]\n[[a]]\n", 2, 1, "t.toml:2:1: cannot define [[a]]: 'a' is already defined as an array value at line 1");
  ExpectError("x = 1 # ok\n\n\n  [t\n", 4, 5, "t.toml:4:5: expected ']' to close the table header, got end of line");
}

static void ParseFileMissing(void)
{
  McTomlValue *root = (McTomlValue *)&root;
  McTomlError  err;

  CHECK_INT("missing file fails", McTomlParseFile("/nonexistent/x.toml", &root, &err), -1);
  CHECK_INT("root NULL", root == NULL, 1);
  CHECK_INT("message", strcmp(err.message, "/nonexistent/x.toml: cannot open: No such file or directory"), 0);
}

int main(void)
{
  Positions();
  Values();
  Errors();
  ParseFileMissing();
  printf("%d failures\n", failures);
  return failures != 0;
}
