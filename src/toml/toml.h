/* TOML 1.0 documents as a tree of plain C values.
 *
 * The parser reads a whole document into memory and returns its root table;
 * every value and every key carries the line and column (1-based, columns
 * counted in characters) where it was written, so that a consumer such as the
 * configuration schema can report "file:line:col: message" about a value
 * long after parsing. A syntax error stops the parse and is reported the same
 * way, saying what was expected.
 *
 * This module sits at the bottom of the project next to obj and uses nothing
 * from PETSc, so that the fuzz target and the conformance decoder can link
 * it alone: it allocates through a hook that is libc's malloc/realloc/free
 * unless a layer above installs another (the configuration installs the
 * project's counting allocator while it parses). The tree is read-only after parsing;
 * its struct layout is public so that readers can walk it directly. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  MC_TOML_STRING,
  MC_TOML_INTEGER,
  MC_TOML_FLOAT,
  MC_TOML_BOOL,
  MC_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
  MC_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
  MC_TOML_DATE_LOCAL,     /* 1979-05-27 */
  MC_TOML_TIME_LOCAL,     /* 07:32:00 */
  MC_TOML_ARRAY,
  MC_TOML_TABLE
} McTomlType;

/* Date and time fields as written; which fields are meaningful depends on
 * the value's type. The fraction of a second is kept as its digits so that no
 * precision is lost (TOML allows more than nanoseconds). */
typedef struct {
  int  year, month, day;
  int  hour, minute, second;
  char frac[32];       /* digits after the decimal point, "" if none (truncated to 31) */
  int  offset_minutes; /* MC_TOML_DATETIME only: offset from UTC, Z is 0 */
} McTomlDatetime;

typedef struct McTomlValue McTomlValue;

/* One key of a table: the key (may contain NUL through \u0000, hence the
 * length), where it was written, and its value. */
typedef struct {
  char        *key;
  size_t       key_len;
  int          line, col;
  McTomlValue *value;
} McTomlEntry;

struct McTomlValue {
  McTomlType type;
  int        line, col; /* where the value (or a table's header or first key) starts */
  union {
    struct {
      char  *ptr; /* NUL-terminated; may contain NULs from \u0000 */
      size_t len;
    } string;
    int64_t        integer;
    double         real;
    int            boolean;
    McTomlDatetime datetime;
    struct {
      McTomlValue **items;
      size_t        n, cap;
    } array;
    struct {
      McTomlEntry *entries; /* in the order the keys were first written */
      size_t       n, cap;
    } table;
  } u;
  /* Parser bookkeeping for the redefinition rules (see toml.c). */
  unsigned char flags;
  int           depth;
};

/* Where and why a parse failed. message is complete and ready to print:
 * "source:line:col: expected ..., got ...". */
typedef struct {
  int  line, col;
  char message[512];
} McTomlError;

/* Parses len bytes of text as a TOML 1.0 document. source names the text in
 * messages (a file name, "<stdin>"). On success returns 0 and sets *root to
 * a new table; on failure returns -1, sets *root to NULL and fills *err.
 * Ownership: the caller owns *root and releases it with McTomlFree. */
int McTomlParse(const char *text, size_t len, const char *source, McTomlValue **root, McTomlError *err);

/* Reads the file at path and parses it; the file's path is the source name in
 * messages. A file that cannot be read is reported in *err as
 * "path: cannot open: reason" with line and col 0.
 * Ownership: as McTomlParse. */
int McTomlParseFile(const char *path, McTomlValue **root, McTomlError *err);

/* The allocator behind every allocation of the parser (trees, scratch, a
 * file's text). malloc_fn(n) and realloc_fn(p, n) return NULL when out of
 * memory (the parse then fails with "out of memory"); n is never 0. */
typedef struct {
  void *(*malloc_fn)(size_t n);
  void *(*realloc_fn)(void *p, size_t n);
  void (*free_fn)(void *p);
} McTomlAllocator;

/* Installs *a (copied) as the allocator; NULL restores libc's. A tree must
 * be freed with the allocator it was parsed with: change it only while no
 * tree exists. Process-wide, not thread-safe. */
void McTomlSetAllocator(const McTomlAllocator *a);
/* The allocator in use (to restore it after a change). */
void McTomlGetAllocator(McTomlAllocator *a);

/* Releases a tree from McTomlParse and sets *root to NULL. NULL is allowed.
 * Ownership: takes the caller's tree. */
void McTomlFree(McTomlValue **root);

/* The value of key in table, or NULL if table is not a table or has no such
 * key. Ownership: returns a borrowed pointer into table. */
McTomlValue *McTomlGet(const McTomlValue *table, const char *key);

/* The entry of key in table (for the key's own position), or NULL.
 * Ownership: returns a borrowed pointer into table. */
const McTomlEntry *McTomlGetEntry(const McTomlValue *table, const char *key);

/* The name of a type as used in messages: "string", "integer", "float",
 * "boolean", "offset date-time", ..., "array", "table". */
const char *McTomlTypeName(McTomlType type);

/* Writes v as toml-test's tagged JSON (see ../shared/toml-test/README.md).
 * Ownership: borrows v. */
void McTomlWriteTaggedJSON(FILE *out, const McTomlValue *v);

/* Writes s (len bytes) as a TOML basic string with quotes and escapes.
 * Ownership: borrows s. */
void McTomlWriteString(FILE *out, const char *s, size_t len);

/* Writes a double as a TOML float that reads back to the same bits
 * (inf, -inf, nan; always with a '.' or exponent). */
void McTomlWriteFloat(FILE *out, double x);
