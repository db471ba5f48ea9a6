/* TOML 1.0 parser: a recursive-descent reader over the whole document.
 *
 * The one idea a reader needs: every node the parser allocates is attached to
 * the tree (or to the parser's scratch space) *before* it is filled in, so
 * that an error anywhere can longjmp straight out to McTomlParse, which frees
 * the partial tree and the scratch and returns the message. No function below
 * needs its own cleanup path.
 *
 * The redefinition rules of TOML (a table is defined once; dotted keys and
 * headers may not reopen each other's tables; inline tables and arrays
 * written as values are closed) are enforced with the flags on each table
 * node, documented at their definitions. */
#include "toml/toml.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Table and array flags. A table with none of the first three was created
 * implicitly, as the parent in a header such as [a.b.c] (a and a.b), and may
 * still be defined by its own header later. */
enum {
  F_EXPLICIT = 1, /* defined by a [header] or as an [[array]] element */
  F_DOTTED = 2,   /* created by a dotted key (a.b = 1): no header may define it */
  F_FROZEN = 4,   /* an inline table or array value (and what it contains): closed */
  F_AOT = 8       /* an array created by [[header]]: more elements may be appended */
};

/* Deeper nesting is refused: it bounds the recursion of the parser and of
 * every reader of the tree (a few kB of input could otherwise nest deeply
 * enough to overflow the stack). */
#define MAX_DEPTH 128

typedef struct {
  char       *s;
  size_t      len;
  int         line, col;
  const char *at; /* where it starts in the text, for messages */
} Key;

typedef struct {
  const char  *text, *end, *p;
  const char  *source;
  int          line;       /* line of p */
  const char  *line_start; /* first byte of that line */
  McTomlError *err;
  jmp_buf      jump;
  McTomlValue *root;
  /* scratch: the parts of the current key, and a string buffer */
  Key   *keys;
  size_t nkeys, capkeys;
  char  *buf;
  size_t nbuf, capbuf;
} Parser;

/* ------------------------------------------------------------ errors */

static void LineCol(const Parser *P, const char *at, int *line, int *col)
{
  const char *q = P->text, *ls = P->text;
  int         l = 1, c = 1;

  if (at > P->end) at = P->end;
  if (at >= P->line_start) {
    q = ls = P->line_start;
    l = P->line;
  }
  for (; q < at; q++) {
    if (*q == '\n') {
      l++;
      ls = q + 1;
    }
  }
  for (q = ls; q < at; q++)
    if (((unsigned char)*q & 0xC0) != 0x80) c++;
  *line = l;
  *col = c;
}

/* Describes what is at `at`, for "expected X, got Y" messages. */
static void Describe(const Parser *P, const char *at, char *out, size_t n)
{
  unsigned char c;

  if (at >= P->end) {
    snprintf(out, n, "end of file");
    return;
  }
  c = (unsigned char)*at;
  if (c == '\n' || (c == '\r' && at + 1 < P->end && at[1] == '\n'))
    snprintf(out, n, "end of line");
  else if (c == '\t')
    snprintf(out, n, "a tab");
  else if (c < 0x20 || c == 0x7F)
    snprintf(out, n, "control character U+%04X", c);
  else if (c >= 0x80)
    snprintf(out, n, "a non-ASCII character");
  else
    snprintf(out, n, "'%c'", c);
}

static _Noreturn void Fail(Parser *P, const char *at, const char *fmt, ...)
{
  char    what[400];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  LineCol(P, at, &P->err->line, &P->err->col);
  snprintf(P->err->message, sizeof(P->err->message), "%s:%d:%d: %s", P->source, P->err->line, P->err->col, what);
  longjmp(P->jump, 1);
}

/* Fails with "expected <what>, got <what is at `at`>". */
static _Noreturn void Expected(Parser *P, const char *at, const char *what)
{
  char got[64];

  Describe(P, at, got, sizeof(got));
  Fail(P, at, "expected %s, got %s", what, got);
}

/* ------------------------------------------------------------ memory */

static McTomlAllocator mem = {malloc, realloc, free};

void McTomlSetAllocator(const McTomlAllocator *a)
{
  static const McTomlAllocator libc = {malloc, realloc, free};

  mem = a ? *a : libc;
}

void McTomlGetAllocator(McTomlAllocator *a)
{
  *a = mem;
}

static void *Alloc(Parser *P, size_t size)
{
  void *m = mem.malloc_fn(size);

  if (!m) Fail(P, P->p, "out of memory");
  memset(m, 0, size);
  return m;
}

static void *Grow(Parser *P, void *ptr, size_t *cap, size_t need, size_t elem)
{
  size_t c = *cap ? *cap : 8;
  void  *m;

  if (need <= *cap) return ptr;
  while (c < need)
    c *= 2;
  m = mem.realloc_fn(ptr, c * elem);
  if (!m) Fail(P, P->p, "out of memory");
  *cap = c;
  return m;
}

/* ------------------------------------------------------------ tree */

static void FreeValue(McTomlValue *v)
{
  if (!v) return;
  if (v->type == MC_TOML_STRING) {
    mem.free_fn(v->u.string.ptr);
  } else if (v->type == MC_TOML_ARRAY) {
    for (size_t i = 0; i < v->u.array.n; i++)
      FreeValue(v->u.array.items[i]);
    mem.free_fn(v->u.array.items);
  } else if (v->type == MC_TOML_TABLE) {
    for (size_t i = 0; i < v->u.table.n; i++) {
      mem.free_fn(v->u.table.entries[i].key);
      FreeValue(v->u.table.entries[i].value);
    }
    mem.free_fn(v->u.table.entries);
  }
  mem.free_fn(v);
}

void McTomlFree(McTomlValue **root)
{
  if (!root) return;
  FreeValue(*root);
  *root = NULL;
}

static McTomlEntry *Find(const McTomlValue *t, const char *key, size_t len)
{
  for (size_t i = 0; i < t->u.table.n; i++) {
    McTomlEntry *e = &t->u.table.entries[i];
    if (e->key_len == len && memcmp(e->key, key, len) == 0) return e;
  }
  return NULL;
}

/* A new node of the given type, already attached as key k of table t. */
static McTomlValue *AddEntry(Parser *P, McTomlValue *t, const Key *k, McTomlType type)
{
  McTomlEntry *e;
  McTomlValue *v;

  if (t->depth + 1 > MAX_DEPTH) Fail(P, P->p, "nesting deeper than %d levels", MAX_DEPTH);
  t->u.table.entries = Grow(P, t->u.table.entries, &t->u.table.cap, t->u.table.n + 1, sizeof(McTomlEntry));
  e = &t->u.table.entries[t->u.table.n];
  memset(e, 0, sizeof(*e));
  e->key = Alloc(P, k->len + 1);
  memcpy(e->key, k->s, k->len);
  e->key_len = k->len;
  e->line = k->line;
  e->col = k->col;
  t->u.table.n++; /* attached from here on, so an error frees it */
  v = Alloc(P, sizeof(*v));
  e->value = v;
  v->type = type;
  v->line = k->line;
  v->col = k->col;
  v->depth = t->depth + 1;
  return v;
}

static McTomlValue *AddItem(Parser *P, McTomlValue *a, McTomlType type)
{
  McTomlValue *v;

  if (a->depth + 1 > MAX_DEPTH) Fail(P, P->p, "nesting deeper than %d levels", MAX_DEPTH);
  a->u.array.items = Grow(P, a->u.array.items, &a->u.array.cap, a->u.array.n + 1, sizeof(McTomlValue *));
  v = Alloc(P, sizeof(*v));
  a->u.array.items[a->u.array.n++] = v;
  v->type = type;
  v->depth = a->depth + 1;
  return v;
}

/* Closes an inline table or array value and everything in it. */
static void Freeze(McTomlValue *v)
{
  v->flags |= F_FROZEN;
  if (v->type == MC_TOML_TABLE)
    for (size_t i = 0; i < v->u.table.n; i++)
      Freeze(v->u.table.entries[i].value);
  else if (v->type == MC_TOML_ARRAY)
    for (size_t i = 0; i < v->u.array.n; i++)
      Freeze(v->u.array.items[i]);
}

/* ------------------------------------------------------------ lexing */

static int AtEnd(const Parser *P)
{
  return P->p >= P->end;
}
static int Peek(const Parser *P, size_t k)
{
  return P->p + k < P->end ? (unsigned char)P->p[k] : -1;
}
static int IsDigit(int c)
{
  return c >= '0' && c <= '9';
}
static int IsHex(int c)
{
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int IsBare(int c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-';
}
/* Control characters TOML forbids in comments and strings (tab is allowed). */
static int IsControl(int c)
{
  return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static void SkipWs(Parser *P)
{
  while (!AtEnd(P) && (*P->p == ' ' || *P->p == '\t'))
    P->p++;
}

static int AtNewline(const Parser *P)
{
  return Peek(P, 0) == '\n' || (Peek(P, 0) == '\r' && Peek(P, 1) == '\n');
}

/* Consumes a newline (LF or CRLF) at p. */
static void Newline(Parser *P)
{
  if (*P->p == '\r') P->p++;
  P->p++;
  P->line++;
  P->line_start = P->p;
}

static void Comment(Parser *P)
{
  P->p++; /* '#' */
  while (!AtEnd(P) && !AtNewline(P)) {
    if (IsControl(Peek(P, 0))) Fail(P, P->p, "control character U+%04X is not allowed in a comment", Peek(P, 0));
    P->p++;
  }
}

/* Whitespace, newlines and comments, as allowed between array elements. */
static void SkipWsCommentsNewlines(Parser *P)
{
  for (;;) {
    SkipWs(P);
    if (AtNewline(P))
      Newline(P);
    else if (Peek(P, 0) == '#')
      Comment(P);
    else
      return;
  }
}

/* After a key/value pair or a header: whitespace, a comment, then a newline or
 * the end of the file. */
static void EndOfLine(Parser *P, const char *after)
{
  SkipWs(P);
  if (Peek(P, 0) == '#') Comment(P);
  if (AtEnd(P)) return;
  if (!AtNewline(P)) {
    char what[128];
    snprintf(what, sizeof(what), "end of line after %s", after);
    Expected(P, P->p, what);
  }
  Newline(P);
}

/* Byte length of the UTF-8 sequence at s (s < end), or 0 if invalid
 * (truncated, overlong, surrogate, beyond U+10FFFF). */
static size_t Utf8Len(const unsigned char *s, const unsigned char *end)
{
  unsigned c = s[0], cp;
  size_t   n;

  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if ((size_t)(end - s) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return n;
}

/* ------------------------------------------------------------ strings */

static void BufPut(Parser *P, const char *s, size_t n)
{
  P->buf = Grow(P, P->buf, &P->capbuf, P->nbuf + n + 1, 1);
  memcpy(P->buf + P->nbuf, s, n);
  P->nbuf += n;
  P->buf[P->nbuf] = '\0';
}

static void BufPutCodepoint(Parser *P, unsigned long cp)
{
  char   u[4];
  size_t n;

  if (cp < 0x80)
    u[0] = (char)cp, n = 1;
  else if (cp < 0x800)
    u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)),
    n = 3;
  else
    u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
  BufPut(P, u, n);
}

/* An escape sequence at p (which points at the backslash). */
static void Escape(Parser *P)
{
  const char   *at = P->p;
  int           c = Peek(P, 1), ndig;
  unsigned long cp = 0;

  P->p += 2;
  switch (c) {
  case 'b':
    BufPut(P, "\b", 1);
    return;
  case 't':
    BufPut(P, "\t", 1);
    return;
  case 'n':
    BufPut(P, "\n", 1);
    return;
  case 'f':
    BufPut(P, "\f", 1);
    return;
  case 'r':
    BufPut(P, "\r", 1);
    return;
  case '"':
    BufPut(P, "\"", 1);
    return;
  case '\\':
    BufPut(P, "\\", 1);
    return;
  case 'u':
    ndig = 4;
    break;
  case 'U':
    ndig = 8;
    break;
  default:
    if (c < 0 || c == '\n' || c == '\r' || IsControl(c) || c >= 0x80)
      Fail(P, at, "invalid escape sequence: expected one of \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX");
    Fail(P, at, "invalid escape sequence '\\%c': expected one of \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX", c);
  }
  for (int i = 0; i < ndig; i++) {
    int h = Peek(P, 0);
    if (!IsHex(h)) Expected(P, P->p, ndig == 4 ? "4 hex digits after \\u" : "8 hex digits after \\U");
    cp = cp * 16 + (unsigned long)(IsDigit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    P->p++;
  }
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    Fail(P, at, "escape \\%c%.*s is not a Unicode scalar value (allowed: U+0000-U+D7FF, U+E000-U+10FFFF)", c, ndig,
         at + 2);
  BufPutCodepoint(P, cp);
}

/* One character of string content at p, checked and copied. */
static void StringChar(Parser *P, const char *kind)
{
  int c = Peek(P, 0);

  if (IsControl(c)) Fail(P, P->p, "control character U+%04X is not allowed in a %s (use an escape)", c, kind);
  BufPut(P, P->p, 1);
  P->p++;
}

/* Parses a string of any of the four kinds at p into the scratch buffer.
 * allow_multi is false for keys. */
static void ParseString(Parser *P, int allow_multi)
{
  const char *open = P->p;
  char        q = *P->p;
  int         literal = q == '\'';
  const char *kind = literal ? "literal string" : "basic string";

  P->nbuf = 0;
  BufPut(P, "", 0);
  if (allow_multi && Peek(P, 1) == q && Peek(P, 2) == q) {
    kind = literal ? "multi-line literal string" : "multi-line basic string";
    P->p += 3;
    if (AtNewline(P)) Newline(P); /* a newline right after the opening quotes is trimmed */
    for (;;) {
      int c = Peek(P, 0);
      if (c < 0) Fail(P, open, "unterminated %s: expected closing %c%c%c", kind, q, q, q);
      if (c == q && Peek(P, 1) == q && Peek(P, 2) == q) {
        int run = 3;
        while (Peek(P, run) == q)
          run++;
        if (run > 5)
          Fail(P, P->p + 5, "too many quotes at the end of a %s (at most 2 may precede the closing %c%c%c)", kind, q, q,
               q);
        BufPut(P, P->p, (size_t)(run - 3));
        P->p += run;
        return;
      }
      if (AtNewline(P)) {
        BufPut(P, "\n", 1);
        Newline(P);
      } else if (c == '\\' && !literal) {
        /* A backslash at the end of a line eats the newline and all
         * whitespace up to the next non-whitespace character. */
        const char *q2 = P->p + 1;
        while (q2 < P->end && (*q2 == ' ' || *q2 == '\t'))
          q2++;
        if (q2 < P->end && (*q2 == '\n' || (*q2 == '\r' && q2 + 1 < P->end && q2[1] == '\n'))) {
          P->p = q2;
          for (;;) {
            SkipWs(P);
            if (!AtNewline(P)) break;
            Newline(P);
          }
        } else {
          Escape(P);
        }
      } else if (c == '\r') {
        Fail(P, P->p, "bare carriage return in a %s: expected a newline (LF or CRLF)", kind);
      } else {
        StringChar(P, kind);
      }
    }
  }
  P->p++;
  for (;;) {
    int c = Peek(P, 0);
    if (c < 0 || c == '\n' || (c == '\r' && Peek(P, 1) == '\n'))
      Fail(P, open, "unterminated %s: expected closing %c before the end of the line", kind, q);
    if (c == q) {
      P->p++;
      return;
    }
    if (c == '\\' && !literal)
      Escape(P);
    else
      StringChar(P, kind);
  }
}

/* ------------------------------------------------------------ keys */

static void ParseSimpleKey(Parser *P)
{
  Key        *k;
  int         line, col;
  const char *at = P->p;

  LineCol(P, P->p, &line, &col);
  if (Peek(P, 0) == '"' || Peek(P, 0) == '\'') {
    ParseString(P, 0);
  } else if (IsBare(Peek(P, 0))) {
    const char *s = P->p;
    while (IsBare(Peek(P, 0)))
      P->p++;
    P->nbuf = 0;
    BufPut(P, s, (size_t)(P->p - s));
  } else {
    Expected(P, P->p, "a key (letters, digits, '_', '-', or a quoted string)");
  }
  P->keys = Grow(P, P->keys, &P->capkeys, P->nkeys + 1, sizeof(Key));
  k = &P->keys[P->nkeys];
  k->s = Alloc(P, P->nbuf + 1);
  P->nkeys++;
  memcpy(k->s, P->buf, P->nbuf);
  k->len = P->nbuf;
  k->line = line;
  k->col = col;
  k->at = at;
}

static void ClearKeys(Parser *P)
{
  for (size_t i = 0; i < P->nkeys; i++)
    mem.free_fn(P->keys[i].s);
  P->nkeys = 0;
}

/* A possibly dotted key into P->keys. */
static void ParseKey(Parser *P)
{
  ClearKeys(P);
  for (;;) {
    ParseSimpleKey(P);
    SkipWs(P);
    if (Peek(P, 0) != '.') return;
    P->p++;
    SkipWs(P);
  }
}

/* The dotted key keys[0..n) as text for messages, e.g. a.b."c d". */
static const char *KeyText(Parser *P, size_t n, char *out, size_t size)
{
  size_t o = 0;

  out[0] = '\0';
  for (size_t i = 0; i < n && o + 1 < size; i++) {
    const Key *k = &P->keys[i];
    int        bare = k->len > 0;
    for (size_t j = 0; j < k->len; j++)
      bare = bare && IsBare((unsigned char)k->s[j]);
    o += (size_t)snprintf(out + o, size - o, bare ? "%s%.*s" : "%s\"%.*s\"", i ? "." : "", (int)k->len, k->s);
    if (o >= size) o = size - 1;
  }
  return out;
}

/* ------------------------------------------------------------ tables */

/* Walks the first n-1 parts of the current key from table t for a header:
 * creates missing tables (implicitly), descends into the last element of an
 * array of tables. */
static McTomlValue *WalkHeader(Parser *P, McTomlValue *t, size_t n)
{
  char name[256];

  for (size_t i = 0; i + 1 < n; i++) {
    McTomlEntry *e = Find(t, P->keys[i].s, P->keys[i].len);
    if (!e) {
      t = AddEntry(P, t, &P->keys[i], MC_TOML_TABLE);
      continue;
    }
    if (e->value->type == MC_TOML_TABLE) {
      if (e->value->flags & F_FROZEN)
        Fail(P, P->keys[i].at, "cannot add to inline table '%s' (defined at line %d): inline tables are complete",
             KeyText(P, i + 1, name, sizeof(name)), e->line);
      t = e->value;
    } else if (e->value->type == MC_TOML_ARRAY && (e->value->flags & F_AOT)) {
      t = e->value->u.array.items[e->value->u.array.n - 1];
    } else {
      Fail(P, P->keys[i].at, "key '%s' is already defined as %s at line %d, not a table",
           KeyText(P, i + 1, name, sizeof(name)), McTomlTypeName(e->value->type), e->line);
    }
  }
  return t;
}

static McTomlValue *Header(Parser *P)
{
  const char  *at = P->p;
  int          aot = Peek(P, 1) == '[';
  McTomlValue *t;
  McTomlEntry *e;
  const Key   *last;
  char         name[256];

  P->p += aot ? 2 : 1;
  SkipWs(P);
  ParseKey(P);
  if (Peek(P, 0) != ']')
    Expected(P, P->p, aot ? "']]' to close the array-of-tables header" : "']' to close the table header");
  if (aot && Peek(P, 1) != ']') Expected(P, P->p, "']]' to close the array-of-tables header");
  P->p += aot ? 2 : 1;
  t = WalkHeader(P, P->root, P->nkeys);
  last = &P->keys[P->nkeys - 1];
  e = Find(t, last->s, last->len);
  KeyText(P, P->nkeys, name, sizeof(name));
  if (aot) {
    McTomlValue *a, *el;
    if (!e) {
      a = AddEntry(P, t, last, MC_TOML_ARRAY);
      a->flags = F_AOT;
    } else if (e->value->type == MC_TOML_ARRAY && (e->value->flags & F_AOT)) {
      a = e->value;
    } else {
      Fail(P, at, "cannot define [[%s]]: '%s' is already defined as %s at line %d", name, name,
           e->value->type == MC_TOML_ARRAY ? "an array value" : McTomlTypeName(e->value->type), e->line);
    }
    el = AddItem(P, a, MC_TOML_TABLE);
    el->flags = F_EXPLICIT;
    LineCol(P, at, &el->line, &el->col);
    return el;
  }
  if (!e) {
    McTomlValue *v = AddEntry(P, t, last, MC_TOML_TABLE);
    v->flags = F_EXPLICIT;
    LineCol(P, at, &v->line, &v->col);
    return v;
  }
  if (e->value->type != MC_TOML_TABLE)
    Fail(P, at, "cannot define table [%s]: '%s' is already defined as %s at line %d", name, name,
         McTomlTypeName(e->value->type), e->line);
  if (e->value->flags & (F_EXPLICIT | F_DOTTED | F_FROZEN))
    Fail(P, at, "table [%s] is defined twice (first at line %d)", name, e->line);
  e->value->flags |= F_EXPLICIT;
  LineCol(P, at, &e->value->line, &e->value->col);
  return e->value;
}

/* Creates the node for the current (dotted) key in table t, for a key/value
 * pair: intermediate tables are created as dotted tables; a table defined by
 * a header or closed as an inline table cannot be extended this way. */
static McTomlValue *KeyvalTarget(Parser *P, McTomlValue *t)
{
  char         name[256];
  McTomlEntry *e;
  const Key   *last;

  for (size_t i = 0; i + 1 < P->nkeys; i++) {
    e = Find(t, P->keys[i].s, P->keys[i].len);
    if (!e) {
      t = AddEntry(P, t, &P->keys[i], MC_TOML_TABLE);
      t->flags = F_DOTTED;
      continue;
    }
    if (e->value->type != MC_TOML_TABLE)
      Fail(P, P->keys[i].at, "key '%s' is already defined as %s at line %d, not a table",
           KeyText(P, i + 1, name, sizeof(name)), McTomlTypeName(e->value->type), e->line);
    if (e->value->flags & (F_EXPLICIT | F_FROZEN))
      Fail(P, P->keys[i].at, "cannot add keys to table '%s' with a dotted key: it was defined at line %d",
           KeyText(P, i + 1, name, sizeof(name)), e->line);
    t = e->value;
  }
  last = &P->keys[P->nkeys - 1];
  e = Find(t, last->s, last->len);
  if (e)
    Fail(P, last->at, "duplicate key '%s' (first defined at line %d)", KeyText(P, P->nkeys, name, sizeof(name)),
         e->line);
  return AddEntry(P, t, last, MC_TOML_BOOL); /* a placeholder that owns nothing until ParseValue fills it */
}

/* ------------------------------------------------------------ values */

static void ParseValue(Parser *P, McTomlValue *v);

/* Digits of one base with single underscores between digits, at p. Copies the
 * digits (without underscores) into the scratch buffer; returns the count. */
static size_t Digits(Parser *P, int (*isdig)(int), const char *what)
{
  size_t n = 0;

  if (!isdig(Peek(P, 0))) Expected(P, P->p, what);
  for (;;) {
    int c = Peek(P, 0);
    if (isdig(c)) {
      BufPut(P, P->p, 1);
      n++;
      P->p++;
    } else if (c == '_') {
      if (!isdig(Peek(P, 1))) Fail(P, P->p, "an underscore in a number must be between two digits");
      P->p++;
    } else {
      return n;
    }
  }
}

static int IsOct(int c)
{
  return c >= '0' && c <= '7';
}
static int IsBin(int c)
{
  return c == '0' || c == '1';
}

static void ParseNumber(Parser *P, McTomlValue *v)
{
  const char *start = P->p;
  int         neg = 0, sign = 0, isfloat = 0;

  if (Peek(P, 0) == '+' || Peek(P, 0) == '-') {
    neg = Peek(P, 0) == '-';
    sign = 1;
    P->p++;
  }
  if ((Peek(P, 0) == 'i' && Peek(P, 1) == 'n' && Peek(P, 2) == 'f') ||
      (Peek(P, 0) == 'n' && Peek(P, 1) == 'a' && Peek(P, 2) == 'n')) {
    v->type = MC_TOML_FLOAT;
    v->u.real = Peek(P, 0) == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
    P->p += 3;
    return;
  }
  P->nbuf = 0;
  if (Peek(P, 0) == '0' && (Peek(P, 1) == 'x' || Peek(P, 1) == 'o' || Peek(P, 1) == 'b')) {
    int      base = Peek(P, 1) == 'x' ? 16 : Peek(P, 1) == 'o' ? 8 : 2;
    uint64_t x = 0;
    if (sign) Fail(P, start, "a sign is not allowed on a hexadecimal, octal or binary integer");
    P->p += 2;
    Digits(P,
           base == 16  ? IsHex
           : base == 8 ? IsOct
                       : IsBin,
           base == 16  ? "hexadecimal digits after 0x"
           : base == 8 ? "octal digits after 0o"
                       : "binary digits after 0b");
    for (size_t i = 0; i < P->nbuf; i++) {
      int d = IsDigit(P->buf[i]) ? P->buf[i] - '0' : (P->buf[i] | 0x20) - 'a' + 10;
      if (x > ((uint64_t)INT64_MAX - (uint64_t)d) / (uint64_t)base)
        Fail(P, start, "integer %.*s does not fit in 64 bits (max 9223372036854775807)", (int)(P->p - start), start);
      x = x * (uint64_t)base + (uint64_t)d;
    }
    v->type = MC_TOML_INTEGER;
    v->u.integer = (int64_t)x;
    return;
  }
  if (neg) BufPut(P, "-", 1);
  if (Peek(P, 0) == '0' && (IsDigit(Peek(P, 1)) || Peek(P, 1) == '_'))
    Fail(P, start, "leading zeros are not allowed in a decimal number");
  Digits(P, IsDigit, "a digit");
  if (Peek(P, 0) == '.') {
    isfloat = 1;
    BufPut(P, ".", 1);
    P->p++;
    Digits(P, IsDigit, "a digit after the decimal point");
  }
  if (Peek(P, 0) == 'e' || Peek(P, 0) == 'E') {
    isfloat = 1;
    BufPut(P, "e", 1);
    P->p++;
    if (Peek(P, 0) == '+' || Peek(P, 0) == '-') {
      BufPut(P, P->p, 1);
      P->p++;
    }
    Digits(P, IsDigit, "a digit in the exponent");
  }
  if (isfloat) {
    v->type = MC_TOML_FLOAT;
    v->u.real = strtod(P->buf, NULL);
    return;
  }
  {
    /* Accumulate negatively so that -9223372036854775808 fits. */
    int64_t x = 0;
    for (size_t i = neg; i < P->nbuf; i++) {
      int d = P->buf[i] - '0';
      if (x < (INT64_MIN + d) / 10)
        Fail(P, start, "integer %.*s does not fit in 64 bits (range -9223372036854775808 to 9223372036854775807)",
             (int)(P->p - start), start);
      x = x * 10 - d;
    }
    if (!neg && x == INT64_MIN)
      Fail(P, start, "integer %.*s does not fit in 64 bits (max 9223372036854775807)", (int)(P->p - start), start);
    v->type = MC_TOML_INTEGER;
    v->u.integer = neg ? x : -x;
  }
}

/* n decimal digits at p as an integer in [lo, hi]. */
static int Fixed(Parser *P, int n, int lo, int hi, const char *what)
{
  const char *at = P->p;
  int         x = 0;

  for (int i = 0; i < n; i++) {
    if (!IsDigit(Peek(P, 0))) {
      char e[96];
      snprintf(e, sizeof(e), "%d digits for the %s", n, what);
      Expected(P, P->p, e);
    }
    x = x * 10 + (*P->p - '0');
    P->p++;
  }
  if (x < lo || x > hi) Fail(P, at, "%s %0*d out of range (%02d to %02d)", what, n, x, lo, hi);
  return x;
}

static void Expect(Parser *P, char c, const char *what)
{
  if (Peek(P, 0) != (unsigned char)c) Expected(P, P->p, what);
  P->p++;
}

static void ParseTime(Parser *P, McTomlDatetime *d)
{
  d->hour = Fixed(P, 2, 0, 23, "hour");
  Expect(P, ':', "':' between hour and minute");
  d->minute = Fixed(P, 2, 0, 59, "minute");
  Expect(P, ':', "':' between minute and second (seconds are required in TOML 1.0)");
  d->second = Fixed(P, 2, 0, 60, "second");
  if (Peek(P, 0) == '.') {
    size_t n = 0;
    P->p++;
    if (!IsDigit(Peek(P, 0))) Expected(P, P->p, "digits after the decimal point of the seconds");
    while (IsDigit(Peek(P, 0))) {
      if (n + 1 < sizeof(d->frac)) d->frac[n++] = *P->p;
      P->p++;
    }
    d->frac[n] = '\0';
  }
}

static int IsLeap(int y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void ParseDatetime(Parser *P, McTomlValue *v)
{
  McTomlDatetime  *d = &v->u.datetime;
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

  memset(d, 0, sizeof(*d));
  if (Peek(P, 2) == ':') {
    ParseTime(P, d);
    v->type = MC_TOML_TIME_LOCAL;
    return;
  }
  d->year = Fixed(P, 4, 0, 9999, "year");
  Expect(P, '-', "'-' between year and month");
  d->month = Fixed(P, 2, 1, 12, "month");
  Expect(P, '-', "'-' between month and day");
  {
    const char *at = P->p;
    int         max = mdays[d->month - 1] + (d->month == 2 && IsLeap(d->year));
    d->day = Fixed(P, 2, 1, 31, "day");
    if (d->day > max) Fail(P, at, "day %02d out of range for %04d-%02d (01 to %02d)", d->day, d->year, d->month, max);
  }
  v->type = MC_TOML_DATE_LOCAL;
  if (Peek(P, 0) == 'T' || Peek(P, 0) == 't' || (Peek(P, 0) == ' ' && IsDigit(Peek(P, 1)))) {
    P->p++;
    ParseTime(P, d);
    v->type = MC_TOML_DATETIME_LOCAL;
    if (Peek(P, 0) == 'Z' || Peek(P, 0) == 'z') {
      P->p++;
      v->type = MC_TOML_DATETIME;
    } else if (Peek(P, 0) == '+' || Peek(P, 0) == '-') {
      int sign = Peek(P, 0) == '-' ? -1 : 1, h, m;
      P->p++;
      h = Fixed(P, 2, 0, 23, "offset hour");
      Expect(P, ':', "':' in the time offset");
      m = Fixed(P, 2, 0, 59, "offset minute");
      d->offset_minutes = sign * (h * 60 + m);
      v->type = MC_TOML_DATETIME;
    }
  }
}

static void ParseArray(Parser *P, McTomlValue *v)
{
  v->type = MC_TOML_ARRAY;
  P->p++;
  for (;;) {
    McTomlValue *item;
    SkipWsCommentsNewlines(P);
    if (Peek(P, 0) == ']') break;
    item = AddItem(P, v, MC_TOML_BOOL); /* placeholder, as in KeyvalTarget */
    ParseValue(P, item);
    SkipWsCommentsNewlines(P);
    if (Peek(P, 0) == ',') {
      P->p++;
      continue;
    }
    if (Peek(P, 0) != ']') Expected(P, P->p, "',' or ']' in an array");
    break;
  }
  P->p++;
  Freeze(v);
}

static void ParseInlineTable(Parser *P, McTomlValue *v)
{
  v->type = MC_TOML_TABLE;
  P->p++;
  SkipWs(P);
  if (Peek(P, 0) == '}') {
    P->p++;
    Freeze(v);
    return;
  }
  for (;;) {
    McTomlValue *x;
    ParseKey(P);
    Expect(P, '=', "'=' after the key");
    SkipWs(P);
    x = KeyvalTarget(P, v);
    ClearKeys(P);
    ParseValue(P, x);
    SkipWs(P);
    if (Peek(P, 0) == '}') break;
    if (Peek(P, 0) != ',') Expected(P, P->p, "',' or '}' in an inline table (which must be on one line)");
    P->p++;
    SkipWs(P);
    if (Peek(P, 0) == '}') Fail(P, P->p, "a trailing comma is not allowed in an inline table");
  }
  P->p++;
  Freeze(v);
}

/* Fills v (already attached to the tree) from the value at p. */
static void ParseValue(Parser *P, McTomlValue *v)
{
  int c = Peek(P, 0);

  LineCol(P, P->p, &v->line, &v->col);
  if (c == '"' || c == '\'') {
    ParseString(P, 1);
    v->type = MC_TOML_STRING;
    v->u.string.ptr = Alloc(P, P->nbuf + 1);
    memcpy(v->u.string.ptr, P->buf, P->nbuf);
    v->u.string.len = P->nbuf;
  } else if (c == 't' && P->end - P->p >= 4 && !memcmp(P->p, "true", 4)) {
    v->type = MC_TOML_BOOL;
    v->u.boolean = 1;
    P->p += 4;
  } else if (c == 'f' && P->end - P->p >= 5 && !memcmp(P->p, "false", 5)) {
    v->type = MC_TOML_BOOL;
    P->p += 5;
  } else if (c == '[') {
    ParseArray(P, v);
  } else if (c == '{') {
    ParseInlineTable(P, v);
  } else if (IsDigit(c) && ((IsDigit(Peek(P, 1)) && Peek(P, 2) == ':') ||
                            (IsDigit(Peek(P, 1)) && IsDigit(Peek(P, 2)) && IsDigit(Peek(P, 3)) && Peek(P, 4) == '-'))) {
    ParseDatetime(P, v);
  } else if (IsDigit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') {
    ParseNumber(P, v);
  } else {
    Expected(P, P->p, "a value (string, number, boolean, date-time, array or inline table)");
  }
  /* Whatever follows a value must end it. */
  c = Peek(P, 0);
  if (!(c < 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' || c == '#'))
    Expected(P, P->p, "end of value (whitespace, ',', ']', '}', comment or newline)");
}

/* ------------------------------------------------------------ document */

static void Document(Parser *P)
{
  McTomlValue *current = P->root;

  if (P->end - P->p >= 3 && !memcmp(P->p, "\xEF\xBB\xBF", 3)) P->p += 3, P->line_start = P->p;
  while (!AtEnd(P)) {
    SkipWs(P);
    if (AtEnd(P)) break;
    if (Peek(P, 0) == '#') {
      EndOfLine(P, "a comment");
    } else if (AtNewline(P)) {
      Newline(P);
    } else if (Peek(P, 0) == '[') {
      current = Header(P);
      EndOfLine(P, "a table header");
    } else if (IsBare(Peek(P, 0)) || Peek(P, 0) == '"' || Peek(P, 0) == '\'') {
      McTomlValue *v;
      ParseKey(P);
      Expect(P, '=', "'=' after the key");
      SkipWs(P);
      v = KeyvalTarget(P, current);
      ClearKeys(P);
      ParseValue(P, v);
      EndOfLine(P, "a value");
    } else {
      Expected(P, P->p, "a key, a [table] header or a comment");
    }
  }
}

int McTomlParse(const char *text, size_t len, const char *source, McTomlValue **root, McTomlError *err)
{
  Parser P;
  int    ok;

  memset(&P, 0, sizeof(P));
  memset(err, 0, sizeof(*err));
  P.text = P.p = P.line_start = text;
  P.end = text + len;
  P.source = source ? source : "<input>";
  P.line = 1;
  P.err = err;
  *root = NULL;
  if (setjmp(P.jump) == 0) {
    /* The whole document must be UTF-8: checked once here, so that the
     * lexer can copy bytes without decoding them. */
    for (const char *q = text; q < P.end;) {
      size_t n = Utf8Len((const unsigned char *)q, (const unsigned char *)P.end);
      if (!n) Fail(&P, q, "invalid UTF-8 byte 0x%02X: a TOML document must be UTF-8", (unsigned char)*q);
      q += n;
    }
    P.root = Alloc(&P, sizeof(McTomlValue));
    P.root->type = MC_TOML_TABLE;
    P.root->line = P.root->col = 1;
    Document(&P);
    ok = 1;
  } else {
    ok = 0;
  }
  ClearKeys(&P);
  mem.free_fn(P.keys);
  mem.free_fn(P.buf);
  if (!ok) {
    FreeValue(P.root);
    return -1;
  }
  *root = P.root;
  return 0;
}

int McTomlParseFile(const char *path, McTomlValue **root, McTomlError *err)
{
  FILE  *f = fopen(path, "rb");
  char  *text = NULL;
  size_t n = 0, cap = 0;
  int    r;

  *root = NULL;
  memset(err, 0, sizeof(*err));
  if (!f) {
    snprintf(err->message, sizeof(err->message), "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  for (;;) {
    size_t got;
    if (n == cap) {
      char *m = mem.realloc_fn(text, cap = cap ? 2 * cap : 4096);
      if (!m) {
        mem.free_fn(text);
        fclose(f);
        snprintf(err->message, sizeof(err->message), "%s: out of memory reading the file", path);
        return -1;
      }
      text = m;
    }
    got = fread(text + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    snprintf(err->message, sizeof(err->message), "%s: read error: %s", path, strerror(errno));
    mem.free_fn(text);
    fclose(f);
    return -1;
  }
  fclose(f);
  r = McTomlParse(text, n, path, root, err);
  mem.free_fn(text);
  return r;
}

/* ------------------------------------------------------------ access and output */

McTomlValue *McTomlGet(const McTomlValue *table, const char *key)
{
  const McTomlEntry *e = McTomlGetEntry(table, key);
  return e ? e->value : NULL;
}

const McTomlEntry *McTomlGetEntry(const McTomlValue *table, const char *key)
{
  if (!table || table->type != MC_TOML_TABLE) return NULL;
  return Find(table, key, strlen(key));
}

const char *McTomlTypeName(McTomlType type)
{
  switch (type) {
  case MC_TOML_STRING:
    return "string";
  case MC_TOML_INTEGER:
    return "integer";
  case MC_TOML_FLOAT:
    return "float";
  case MC_TOML_BOOL:
    return "boolean";
  case MC_TOML_DATETIME:
    return "offset date-time";
  case MC_TOML_DATETIME_LOCAL:
    return "local date-time";
  case MC_TOML_DATE_LOCAL:
    return "local date";
  case MC_TOML_TIME_LOCAL:
    return "local time";
  case MC_TOML_ARRAY:
    return "array";
  case MC_TOML_TABLE:
    return "table";
  }
  return "unknown";
}

static void WriteJSONString(FILE *out, const char *s, size_t len)
{
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

static void WriteDatetime(FILE *out, const McTomlValue *v)
{
  const McTomlDatetime *d = &v->u.datetime;

  if (v->type != MC_TOML_TIME_LOCAL) fprintf(out, "%04d-%02d-%02d", d->year, d->month, d->day);
  if (v->type == MC_TOML_DATETIME || v->type == MC_TOML_DATETIME_LOCAL) fputc('T', out);
  if (v->type != MC_TOML_DATE_LOCAL) {
    fprintf(out, "%02d:%02d:%02d", d->hour, d->minute, d->second);
    if (d->frac[0]) fprintf(out, ".%s", d->frac);
  }
  if (v->type == MC_TOML_DATETIME) {
    int m = d->offset_minutes < 0 ? -d->offset_minutes : d->offset_minutes;
    if (m == 0)
      fputc('Z', out);
    else
      fprintf(out, "%c%02d:%02d", d->offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
  }
}

void McTomlWriteFloat(FILE *out, double x)
{
  char s[40];

  if (isnan(x)) {
    fputs("nan", out);
    return;
  }
  if (isinf(x)) {
    fputs(x < 0 ? "-inf" : "inf", out);
    return;
  }
  /* The shortest text that reads back to the same double: plain decimals
   * for everyday magnitudes (60.0, 0.001), else the shortest %g. */
  s[0] = '\0';
  if (fabs(x) >= 1e-4 && fabs(x) < 1e15) {
    for (int dec = 1; dec <= 19; dec++) {
      snprintf(s, sizeof(s), "%.*f", dec, x);
      if (strtod(s, NULL) == x) break;
      s[0] = '\0';
    }
  }
  for (int prec = 1; !s[0] && prec <= 17; prec++) {
    snprintf(s, sizeof(s), "%.*g", prec, x);
    if (strtod(s, NULL) != x) s[0] = '\0';
  }
  if (!s[0]) snprintf(s, sizeof(s), "%.17g", x);
  fputs(s, out);
  if (!strpbrk(s, ".e")) fputs(".0", out);
}

void McTomlWriteString(FILE *out, const char *s, size_t len)
{
  fputc('"', out);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c == '\t')
      fputs("\\t", out);
    else if (c < 0x20 || c == 0x7F)
      fprintf(out, "\\u%04X", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

static const char *TaggedType(McTomlType t)
{
  switch (t) {
  case MC_TOML_STRING:
    return "string";
  case MC_TOML_INTEGER:
    return "integer";
  case MC_TOML_FLOAT:
    return "float";
  case MC_TOML_BOOL:
    return "bool";
  case MC_TOML_DATETIME:
    return "datetime";
  case MC_TOML_DATETIME_LOCAL:
    return "datetime-local";
  case MC_TOML_DATE_LOCAL:
    return "date-local";
  case MC_TOML_TIME_LOCAL:
    return "time-local";
  default:
    return "";
  }
}

void McTomlWriteTaggedJSON(FILE *out, const McTomlValue *v)
{
  if (v->type == MC_TOML_TABLE) {
    fputc('{', out);
    for (size_t i = 0; i < v->u.table.n; i++) {
      const McTomlEntry *e = &v->u.table.entries[i];
      if (i) fputc(',', out);
      WriteJSONString(out, e->key, e->key_len);
      fputc(':', out);
      McTomlWriteTaggedJSON(out, e->value);
    }
    fputc('}', out);
    return;
  }
  if (v->type == MC_TOML_ARRAY) {
    fputc('[', out);
    for (size_t i = 0; i < v->u.array.n; i++) {
      if (i) fputc(',', out);
      McTomlWriteTaggedJSON(out, v->u.array.items[i]);
    }
    fputc(']', out);
    return;
  }
  fprintf(out, "{\"type\":\"%s\",\"value\":", TaggedType(v->type));
  switch (v->type) {
  case MC_TOML_STRING:
    WriteJSONString(out, v->u.string.ptr, v->u.string.len);
    break;
  case MC_TOML_INTEGER:
    fprintf(out, "\"%lld\"", (long long)v->u.integer);
    break;
  case MC_TOML_FLOAT:
    fputc('"', out);
    McTomlWriteFloat(out, v->u.real);
    fputc('"', out);
    break;
  case MC_TOML_BOOL:
    fputs(v->u.boolean ? "\"true\"" : "\"false\"", out);
    break;
  default:
    fputc('"', out);
    WriteDatetime(out, v);
    fputc('"', out);
    break;
  }
  fputc('}', out);
}
