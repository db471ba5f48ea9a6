/* A validating scanner for ASCII Gmsh files (formats 2.2 and 4.1), run
 * before PETSc's reader sees a file.
 *
 * The one idea: PETSc's Gmsh reader trusts the file -- a node tag an element
 * names is used as an array index unchecked, counts size allocations, a
 * physical name is copied into a fixed buffer -- so a truncated or
 * hand-edited mesh can crash the program instead of producing a message. This
 * scanner reads the same grammar strictly (sections in PETSc's order, every
 * count against what follows, every tag against its declaration, element
 * types we can use, lower-dimensional elements that really are faces of a
 * cell) and reports the first problem as "file:line: what was expected". A
 * file it accepts is one PETSc's reader handles without surprises. */
#include "fem_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_CHARS 1000 /* well below PETSc's PETSC_MAX_PATH_LEN line buffers */
#define MAX_PHYS_TAGS  4    /* physical tags per entity or element that are kept */
#define NAME_MAX_CHARS 63   /* physical names become mesh labels (64-byte buffers) */

/* Gmsh element types we accept: first-order cells and their faces. */
typedef struct {
  int         type, dim, nverts, simplex;
  const char *name;
} ElemType;

static const ElemType elem_types[] = {
    {15, 0, 1, 1, "point"},        {1, 1, 2, 1, "line"},        {2, 2, 3, 1, "triangle"},
    {3, 2, 4, 0, "quadrilateral"}, {4, 3, 4, 1, "tetrahedron"}, {5, 3, 8, 0, "hexahedron"},
};

static const ElemType *FindType(long t)
{
  for (size_t i = 0; i < sizeof(elem_types) / sizeof(elem_types[0]); i++)
    if (elem_types[i].type == t) return &elem_types[i];
  return NULL;
}

/* A cursor over the text, one line at a time. */
typedef struct {
  const char *p, *end; /* rest of the text */
  const char *ls, *le; /* current line [ls, le), without the newline */
  const char *tok;     /* parse position in the current line */
  int         line;    /* 1-based number of the current line */
  const char *name;    /* file name for messages */
  char       *msg;
  size_t      len;
  int         bad;
} Scan;

static int Fail(Scan *s, const char *fmt, ...)
{
  va_list ap;
  int     n;

  if (s->bad) return 0;
  n = snprintf(s->msg, s->len, "%s:%d: ", s->name, s->line);
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < s->len) vsnprintf(s->msg + n, s->len - (size_t)n, fmt, ap);
  va_end(ap);
  s->bad = 1;
  return 0;
}

/* Advances to the next line; 0 at the end of the text (an error "what"
 * was expected there) or on a line that is too long or holds control bytes. */
static int NextLine(Scan *s, const char *what)
{
  const char *q;

  if (s->bad) return 0;
  if (s->p >= s->end) {
    s->line++;
    return Fail(s, "unexpected end of file: expected %s", what);
  }
  s->line++;
  s->ls = s->p;
  q = memchr(s->p, '\n', (size_t)(s->end - s->p));
  s->le = q ? q : s->end;
  s->p = q ? q + 1 : s->end;
  if (s->le > s->ls && s->le[-1] == '\r') s->le--;
  if (s->le - s->ls > LINE_MAX_CHARS) return Fail(s, "line longer than %d characters", LINE_MAX_CHARS);
  for (const char *c = s->ls; c < s->le; c++)
    if ((unsigned char)*c < 32 && *c != '\t') return Fail(s, "unexpected control character 0x%02x", (unsigned char)*c);
  s->tok = s->ls;
  return 1;
}

/* The next blank-separated token of the current line into buf; 0 if none. */
static int Token(Scan *s, char *buf, size_t n)
{
  const char *a = s->tok, *b;

  while (a < s->le && (*a == ' ' || *a == '\t'))
    a++;
  b = a;
  while (b < s->le && *b != ' ' && *b != '\t')
    b++;
  s->tok = b;
  if (a == b) return 0;
  if ((size_t)(b - a) >= n) {
    Fail(s, "a number of more than %d characters ('%.20s...')", (int)n - 1, a);
    buf[0] = '\0';
    return 1;
  }
  snprintf(buf, n, "%.*s", (int)(b - a), a);
  return 1;
}

/* An integer in [lo, hi] named what. */
static int Long(Scan *s, const char *what, long lo, long hi, long *v)
{
  char buf[64], *e;
  long x;

  if (s->bad) return 0;
  if (!Token(s, buf, sizeof(buf))) return Fail(s, "expected %s (an integer), got end of line", what);
  if (s->bad) return 0;
  errno = 0;
  x = strtol(buf, &e, 10);
  if (*e || e == buf || errno) return Fail(s, "expected %s (an integer), got '%s'", what, buf);
  if (x < lo || x > hi) return Fail(s, "%s must be in [%ld, %ld], got %ld", what, lo, hi, x);
  *v = x;
  return 1;
}

static int Double(Scan *s, const char *what, double *v)
{
  char   buf[64], *e;
  double x;

  if (s->bad) return 0;
  if (!Token(s, buf, sizeof(buf))) return Fail(s, "expected %s (a number), got end of line", what);
  if (s->bad) return 0;
  errno = 0;
  x = strtod(buf, &e);
  if (*e || e == buf || errno == ERANGE || !isfinite(x))
    return Fail(s, "expected %s (a finite number), got '%s'", what, buf);
  *v = x;
  return 1;
}

static int EndOfLine(Scan *s)
{
  char buf[64];

  if (s->bad) return 0;
  if (Token(s, buf, sizeof(buf))) return Fail(s, "unexpected '%s' at the end of the line", buf);
  return 1;
}

/* The current line is exactly "$Name" (trailing blanks allowed). */
static int IsHeader(Scan *s, const char *name)
{
  size_t      n = strlen(name);
  const char *e = s->le;

  while (e > s->ls && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  return (size_t)(e - s->ls) == n && !memcmp(s->ls, name, n);
}

/* How much of the current line a message quotes (the text is not
 * NUL-terminated). */
static int LineShown(const Scan *s)
{
  return s->le - s->ls < 40 ? (int)(s->le - s->ls) : 40;
}

static int Expect(Scan *s, const char *name)
{
  if (!NextLine(s, name)) return 0;
  if (!IsHeader(s, name)) return Fail(s, "expected '%s', got '%.*s'", name, LineShown(s), s->ls);
  return 1;
}

/* Lines left in the text: an upper bound for any count that needs a line each. */
static long LinesLeft(Scan *s)
{
  long n = 0;

  for (const char *c = s->p; c < s->end; c++)
    if (*c == '\n') n++;
  return n + (s->p < s->end && s->end[-1] != '\n'); /* a last line without a newline */
}

/* ------------------------------------------------------------ the mesh */

/* An element of the file: its type and first vertex in the vertex array. */
typedef struct {
  const ElemType *t;
  long            first; /* offset in Mesh.verts */
  int             line;
} Elem;

typedef struct {
  long *ntag; /* node tags, in file order */
  long  nnodes, minTag, maxTag;
  long *index; /* maxTag - minTag + 1 entries: node tag -> file index, -1 if none */
  Elem *elems;
  long  nelems;
  long *verts; /* node tags of all elements */
  long  nverts;
  long *ents[4]; /* 4.1: entity tags per dimension */
  long  nents[4];
} Mesh;

/* Blocks come from McMallocHook & co. (counted like every project
 * allocation): the scanner's int-returning style reports out of memory
 * as a Fail message. Sizes are never 0 here. */
static void MeshFree(Mesh *m)
{
  McFreeHook(m->ntag);
  McFreeHook(m->index);
  McFreeHook(m->elems);
  McFreeHook(m->verts);
  for (int d = 0; d < 4; d++)
    McFreeHook(m->ents[d]);
}

static int HasEntity(const Mesh *m, long dim, long tag)
{
  for (long i = 0; i < m->nents[dim]; i++)
    if (m->ents[dim][i] == tag) return 1;
  return 0;
}

/* Reads "tag" lines or "tag x y z" lines of a node block into m. */
static int AddNode(Scan *s, Mesh *m, long tag)
{
  if (m->nnodes == 0 || tag < m->minTag) m->minTag = tag;
  if (m->nnodes == 0 || tag > m->maxTag) m->maxTag = tag;
  m->ntag[m->nnodes++] = tag;
  return !s->bad;
}

static int ReadPhysicalNames(Scan *s)
{
  long n;

  if (!NextLine(s, "the number of physical names") || !Long(s, "the number of physical names", 0, LinesLeft(s), &n) ||
      !EndOfLine(s))
    return 0;
  for (long i = 0; i < n; i++) {
    long        d, tag;
    const char *q, *r;
    if (!NextLine(s, "a physical name line 'dim tag \"name\"'")) return 0;
    if (!Long(s, "the physical dimension", 0, 3, &d) || !Long(s, "the physical tag", 1, INT_MAX, &tag)) return 0;
    /* As Gmsh writes it: one space, then "name" -- one word, which is how
     * PETSc's reader takes it apart (other layouts make it misread). */
    q = s->tok + 1;
    r = s->tok < s->le && *s->tok == ' ' && q < s->le && *q == '"' ? memchr(q + 1, '"', (size_t)(s->le - q - 1)) : NULL;
    if (!r) return Fail(s, "expected one space and a quoted physical name after the tag");
    if (r - q - 1 < 1 || r - q - 1 > NAME_MAX_CHARS)
      return Fail(s, "a physical name must have 1 to %d characters, got %d", NAME_MAX_CHARS, (int)(r - q - 1));
    for (const char *c = q + 1; c < r; c++)
      if (*c == ':' || *c == ' ' || *c == '\t')
        return Fail(s, "a physical name must be one word without ':' (got '%.*s')", (int)(r - q - 1), q + 1);
    s->tok = r + 1;
    if (!EndOfLine(s)) return 0;
  }
  return Expect(s, "$EndPhysicalNames");
}

static int ReadEntities(Scan *s, Mesh *m)
{
  long cnt[4];
  long left = LinesLeft(s);

  if (!NextLine(s, "the entity counts")) return 0;
  for (int d = 0; d < 4; d++) {
    static const char *what[4] = {"the number of points", "the number of curves", "the number of surfaces",
                                  "the number of volumes"};
    if (!Long(s, what[d], 0, left, &cnt[d])) return 0;
  }
  if (!EndOfLine(s)) return 0;
  for (int d = 0; d < 4; d++) {
    m->ents[d] = McMallocHook(sizeof(long) * (size_t)(cnt[d] ? cnt[d] : 1));
    if (!m->ents[d]) return Fail(s, "out of memory for %ld entities", cnt[d]);
    for (long i = 0; i < cnt[d]; i++) {
      long   tag, np, nb;
      double x;
      if (!NextLine(s, "an entity line")) return 0;
      if (!Long(s, "the entity tag", 1, INT_MAX, &tag)) return 0;
      if (HasEntity(m, d, tag)) return Fail(s, "entity %ld of dimension %d is declared twice", tag, d);
      for (int k = 0; k < (d == 0 ? 3 : 6); k++)
        if (!Double(s, d == 0 ? "a point coordinate" : "a bounding box coordinate", &x)) return 0;
      if (!Long(s, "the number of physical tags", 0, MAX_PHYS_TAGS, &np)) return 0;
      for (long k = 0; k < np; k++)
        if (!Long(s, "a physical tag", INT_MIN + 1, INT_MAX, &nb)) return 0;
      if (d > 0) {
        if (!Long(s, "the number of bounding entities", 0, LINE_MAX_CHARS, &nb)) return 0;
        for (long k = 0; k < nb; k++) {
          long b;
          if (!Long(s, "a bounding entity tag", INT_MIN + 1, INT_MAX, &b)) return 0;
        }
      }
      if (!EndOfLine(s)) return 0;
      m->ents[d][m->nents[d]++] = tag;
    }
  }
  return Expect(s, "$EndEntities");
}

static int ReadNodes(Scan *s, Mesh *m, int v41)
{
  long nblocks = 1, n, lo = 0, hi = 0, left;

  if (!NextLine(s, "the node counts")) return 0;
  left = LinesLeft(s);
  if (v41 && !Long(s, "the number of node blocks", 0, left, &nblocks)) return 0;
  if (!Long(s, "the number of nodes", 1, LONG_MAX, &n)) return 0;
  if (n > left) return Fail(s, "$Nodes announces %ld nodes, but only %ld lines follow (a truncated file?)", n, left);
  if (v41 && (!Long(s, "the smallest node tag", 1, INT_MAX, &lo) || !Long(s, "the largest node tag", lo, INT_MAX, &hi)))
    return 0;
  if (!EndOfLine(s)) return 0;
  m->ntag = McMallocHook(sizeof(long) * (size_t)n);
  if (!m->ntag) return Fail(s, "out of memory for %ld nodes", n);
  for (long b = 0; b < nblocks; b++) {
    long count = n;
    if (v41) {
      long d, tag, par;
      if (!NextLine(s, "a node block line 'dim entity parametric count'")) return 0;
      if (!Long(s, "the entity dimension", 0, 3, &d) || !Long(s, "the entity tag", 1, INT_MAX, &tag) ||
          !Long(s, "the parametric flag", 0, 0, &par) ||
          !Long(s, "the number of nodes in the block", 0, n - m->nnodes, &count) || !EndOfLine(s))
        return 0;
      if (!HasEntity(m, d, tag))
        return Fail(s, "node block of entity %ld (dimension %ld), which $Entities does not declare", tag, d);
      for (long i = 0; i < count; i++) {
        long t;
        if (!NextLine(s, "a node tag") || !Long(s, "the node tag", lo, hi, &t) || !EndOfLine(s)) return 0;
        if (!AddNode(s, m, t)) return 0;
      }
    }
    for (long i = 0; i < count; i++) {
      double x;
      long   t;
      if (!NextLine(s, v41 ? "a node line 'x y z'" : "a node line 'tag x y z'")) return 0;
      if (!v41) {
        if (!Long(s, "the node tag", 1, INT_MAX, &t)) return 0;
        if (!AddNode(s, m, t)) return 0;
      }
      for (int k = 0; k < 3; k++)
        if (!Double(s, "a node coordinate", &x)) return 0;
      if (!EndOfLine(s)) return 0;
    }
  }
  if (m->nnodes != n) return Fail(s, "the node blocks hold %ld nodes, the header said %ld", m->nnodes, n);
  if (v41 && (m->minTag != lo || m->maxTag != hi))
    return Fail(s, "node tags run from %ld to %ld, the header said %ld to %ld", m->minTag, m->maxTag, lo, hi);
  /* Tags may be sparse, but PETSc maps them through an array spanning them. */
  if (m->maxTag - m->minTag > 16 * n + 1024)
    return Fail(s, "node tags run from %ld to %ld for only %ld nodes (too sparse)", m->minTag, m->maxTag, n);
  m->index = McMallocHook(sizeof(long) * (size_t)(m->maxTag - m->minTag + 1));
  if (!m->index) return Fail(s, "out of memory for the node tags");
  for (long t = 0; t <= m->maxTag - m->minTag; t++)
    m->index[t] = -1;
  for (long i = 0; i < n; i++) {
    if (m->index[m->ntag[i] - m->minTag] >= 0) return Fail(s, "node tag %ld appears twice in $Nodes", m->ntag[i]);
    m->index[m->ntag[i] - m->minTag] = i;
  }
  return Expect(s, "$EndNodes");
}

/* The element's node tags (the rest of the line) into m, each declared. */
static int ReadElemNodes(Scan *s, Mesh *m, const ElemType *t, long id)
{
  Elem *e = &m->elems[m->nelems];

  e->t = t;
  e->first = m->nverts;
  e->line = s->line;
  for (int k = 0; k < t->nverts; k++) {
    long v;
    if (!Long(s, "a node tag of the element", 1, INT_MAX, &v)) return 0;
    if (v < m->minTag || v > m->maxTag || m->index[v - m->minTag] < 0)
      return Fail(s, "element %ld names node %ld, which $Nodes does not declare", id, v);
    for (int j = 0; j < k; j++)
      if (m->verts[e->first + j] == v) return Fail(s, "element %ld names node %ld twice", id, v);
    m->verts[m->nverts++] = v;
  }
  if (!EndOfLine(s)) return 0;
  m->nelems++;
  return 1;
}

static int CheckType(Scan *s, long type, const ElemType **t)
{
  *t = FindType(type);
  if (!*t)
    return Fail(s,
                "element type %ld is not supported (expected 15 point, 1 line, 2 triangle, 3 quadrilateral, "
                "4 tetrahedron or 5 hexahedron)",
                type);
  return 1;
}

static int ReadElements(Scan *s, Mesh *m, int v41)
{
  long nblocks = 1, n, left, lo, hi;

  if (!NextLine(s, "the element counts")) return 0;
  left = LinesLeft(s);
  if (v41 && !Long(s, "the number of element blocks", 0, left, &nblocks)) return 0;
  if (!Long(s, "the number of elements", 1, LONG_MAX, &n)) return 0;
  if (n > left)
    return Fail(s, "$Elements announces %ld elements, but only %ld lines follow (a truncated file?)", n, left);
  if (v41 && (!Long(s, "the smallest element tag", 1, LONG_MAX, &lo) ||
              !Long(s, "the largest element tag", lo, LONG_MAX, &hi)))
    return 0;
  if (!EndOfLine(s)) return 0;
  m->elems = McMallocHook(sizeof(Elem) * (size_t)n);
  m->verts = McMallocHook(sizeof(long) * 8 * (size_t)n);
  if (!m->elems || !m->verts) return Fail(s, "out of memory for %ld elements", n);
  for (long b = 0; b < nblocks; b++) {
    long            count = n, d = 0, tag, type;
    const ElemType *t = NULL;
    if (v41) {
      if (!NextLine(s, "an element block line 'dim entity type count'")) return 0;
      if (!Long(s, "the entity dimension", 0, 3, &d) || !Long(s, "the entity tag", 1, INT_MAX, &tag) ||
          !Long(s, "the element type", LONG_MIN, LONG_MAX, &type) || !CheckType(s, type, &t) ||
          !Long(s, "the number of elements in the block", 0, n - m->nelems, &count) || !EndOfLine(s))
        return 0;
      if (!HasEntity(m, d, tag))
        return Fail(s, "element block of entity %ld (dimension %ld), which $Entities does not declare", tag, d);
      if (t->dim != d)
        return Fail(s, "element type %ld (%s) is %dD, the block's entity is %ldD", type, t->name, t->dim, d);
    }
    for (long i = 0; i < count; i++) {
      long id, ntags, x;
      if (!NextLine(s, "an element line")) return 0;
      if (!Long(s, "the element tag", 1, LONG_MAX, &id)) return 0;
      if (!v41) {
        if (!Long(s, "the element type", LONG_MIN, LONG_MAX, &type) || !CheckType(s, type, &t) ||
            !Long(s, "the number of element tags", 0, MAX_PHYS_TAGS, &ntags))
          return 0;
        for (long k = 0; k < ntags; k++)
          if (!Long(s, "an element tag", INT_MIN + 1, INT_MAX, &x)) return 0;
      }
      if (!ReadElemNodes(s, m, t, id)) return 0;
    }
  }
  if (m->nelems != n) return Fail(s, "the element blocks hold %ld elements, the header said %ld", m->nelems, n);
  return Expect(s, "$EndElements");
}

/* ---------------------------------------------------- faces of the cells */

/* A set of sorted vertex tuples (faces and edges of the cells), open addressing. */
typedef struct {
  long (*key)[4];
  size_t cap;
} FaceSet;

static void SortKey(const long *v, int n, long k[4])
{
  for (int i = 0; i < 4; i++)
    k[i] = i < n ? v[i] : -1;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && k[j - 1] > k[j]; j--) {
      long t = k[j];
      k[j] = k[j - 1];
      k[j - 1] = t;
    }
}

static size_t Hash(const long k[4], size_t cap)
{
  unsigned long long h = 1469598103934665603ULL;
  for (int i = 0; i < 4; i++)
    h = (h ^ (unsigned long long)k[i]) * 1099511628211ULL;
  return (size_t)(h % cap);
}

/* Inserts (insert = 1) or looks up the tuple v[n]. */
static int FaceSetOp(FaceSet *f, const long *v, int n, int insert)
{
  long   k[4];
  size_t i;

  SortKey(v, n, k);
  for (i = Hash(k, f->cap); f->key[i][0] != 0; i = (i + 1) % f->cap)
    if (!memcmp(f->key[i], k, sizeof(k))) return 1;
  if (insert) memcpy(f->key[i], k, sizeof(k));
  return 0;
}

/* Faces (and in 3D edges) of each cell type, as local vertex numbers (Gmsh order). */
static const int tri_edges[3][2] = {{0, 1}, {1, 2}, {2, 0}};
static const int quad_edges[4][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 0}};
static const int tet_faces[4][3] = {{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {1, 2, 3}};
static const int tet_edges[6][2] = {{0, 1}, {1, 2}, {2, 0}, {0, 3}, {1, 3}, {2, 3}};
static const int hex_faces[6][4] = {{0, 1, 2, 3}, {4, 5, 6, 7}, {0, 1, 5, 4}, {1, 2, 6, 5}, {2, 3, 7, 6}, {3, 0, 4, 7}};
static const int hex_edges[12][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 0}, {4, 5}, {5, 6},
                                     {6, 7}, {7, 4}, {0, 4}, {1, 5}, {2, 6}, {3, 7}};

static void AddSub(FaceSet *f, const long *cv, const int *loc, int nsub, int nv)
{
  for (int s = 0; s < nsub; s++) {
    long v[4];
    for (int k = 0; k < nv; k++)
      v[k] = cv[loc[s * nv + k]];
    FaceSetOp(f, v, nv, 1);
  }
}

/* The cells (elements of the highest dimension) must be one kind (simplices
 * or tensor cells); every lower-dimensional element must be a face, an edge
 * or a vertex of a cell, so that PETSc can label it. */
static int CheckTopology(Scan *s, Mesh *m)
{
  int     dim = 0, simplex = -1;
  long    ncells = 0, nsub = 0;
  FaceSet f = {NULL, 0};
  char   *used;

  for (long e = 0; e < m->nelems; e++)
    dim = m->elems[e].t->dim > dim ? m->elems[e].t->dim : dim;
  if (dim < 2) return Fail(s, "the mesh has no 2D or 3D elements (cells)");
  used = McCallocHook((size_t)(m->maxTag - m->minTag + 1));
  if (!used) return Fail(s, "out of memory");
  for (long e = 0; e < m->nelems; e++) {
    const Elem *c = &m->elems[e];
    if (c->t->dim != dim) continue;
    if (simplex < 0) simplex = c->t->simplex;
    if (c->t->simplex != simplex) {
      McFreeHook(used);
      s->line = c->line;
      return Fail(s, "the mesh mixes %s and %s cells; one kind is supported", simplex ? "simplex" : "tensor",
                  c->t->name);
    }
    ncells++;
    for (int k = 0; k < c->t->nverts; k++)
      used[m->verts[c->first + k] - m->minTag] = 1;
  }
  f.cap = (size_t)(ncells * 18 * 2 + 7);
  f.key = McCallocHook(f.cap * sizeof(*f.key));
  if (!f.key) {
    McFreeHook(used);
    return Fail(s, "out of memory");
  }
  for (long e = 0; e < m->nelems; e++) {
    const Elem *c = &m->elems[e];
    const long *cv = &m->verts[c->first];
    if (c->t->dim != dim) continue;
    switch (c->t->type) {
    case 2:
      AddSub(&f, cv, &tri_edges[0][0], 3, 2);
      break;
    case 3:
      AddSub(&f, cv, &quad_edges[0][0], 4, 2);
      break;
    case 4:
      AddSub(&f, cv, &tet_faces[0][0], 4, 3);
      AddSub(&f, cv, &tet_edges[0][0], 6, 2);
      break;
    case 5:
      AddSub(&f, cv, &hex_faces[0][0], 6, 4);
      AddSub(&f, cv, &hex_edges[0][0], 12, 2);
      break;
    }
  }
  for (long e = 0; e < m->nelems && !s->bad; e++) {
    const Elem *c = &m->elems[e];
    const long *cv = &m->verts[c->first];
    if (c->t->dim == dim) continue;
    nsub++;
    if (c->t->dim == 0) {
      if (!used[cv[0] - m->minTag]) {
        s->line = c->line;
        Fail(s, "point element on node %ld, which is not a vertex of any cell", cv[0]);
      }
    } else if (!FaceSetOp(&f, cv, c->t->nverts, 0)) {
      s->line = c->line;
      Fail(s, "this %s is not a %s of any cell", c->t->name, c->t->dim == dim - 1 ? "face" : "edge");
    }
  }
  (void)nsub;
  McFreeHook(f.key);
  McFreeHook(used);
  return !s->bad;
}

/* --------------------------------------------------------------- public */

PetscErrorCode McGmshValidate(const char *text, size_t len, const char *name, char *msg, size_t msglen,
                              PetscBool *valid)
{
  Scan   s;
  Mesh   m;
  double version = 0;
  long   ftype = -1, dsize = 0;
  int    v41;
  char   buf[64];

  PetscFunctionBeginUser;
  memset(&s, 0, sizeof(s));
  memset(&m, 0, sizeof(m));
  s.p = text;
  s.end = text + len;
  s.name = name;
  s.msg = msg;
  s.len = msglen;
  msg[0] = '\0';
  *valid = PETSC_FALSE;
  if (!NextLine(&s, "'$MeshFormat'") || !IsHeader(&s, "$MeshFormat")) {
    snprintf(msg, msglen, "mesh file '%s' is not a Gmsh mesh: line 1 should be '$MeshFormat'", name);
    PetscFunctionReturn(0);
  }
  s.bad = 0;
  if (!NextLine(&s, "'<version> <file-type> <data-size>'") || !Double(&s, "the version", &version) ||
      !Long(&s, "the file type", LONG_MIN, LONG_MAX, &ftype) ||
      !Long(&s, "the data size", LONG_MIN, LONG_MAX, &dsize)) {
    s.bad = 0;
    snprintf(msg, msglen, "mesh file '%s': line 2 should be '<version> <file-type> <data-size>'", name);
    PetscFunctionReturn(0);
  }
  /* Exactly 2.2 or 4.1: PETSc rounds 10 x version to pick its reader. */
  if (fabs(version - 2.2) > 1e-9 && fabs(version - 4.1) > 1e-9) {
    snprintf(msg, msglen, "mesh file '%s': Gmsh format %g is not supported (expected 2.2 or 4.1)", name, version);
    PetscFunctionReturn(0);
  }
  if (ftype != 0) {
    snprintf(msg, msglen, "mesh file '%s': binary Gmsh files are not supported (expected ASCII, file-type 0)", name);
    PetscFunctionReturn(0);
  }
  v41 = version >= 4;
  if (dsize != 8) {
    Fail(&s, "data size must be 8, got %ld", dsize);
    PetscFunctionReturn(0);
  }
  if (!EndOfLine(&s) || !Expect(&s, "$EndMeshFormat")) PetscFunctionReturn(0);
  /* Sections in the order PETSc reads them. */
  if (!NextLine(&s, "a section")) PetscFunctionReturn(0);
  if (IsHeader(&s, "$PhysicalNames")) {
    if (!ReadPhysicalNames(&s) || !NextLine(&s, "a section")) goto done;
  }
  if (IsHeader(&s, "$Entities")) {
    if (!v41) {
      Fail(&s, "$Entities is a section of format 4.1, but the file says %g", version);
      goto done;
    }
    if (!ReadEntities(&s, &m) || !NextLine(&s, "'$Nodes'")) goto done;
  } else if (v41) {
    Fail(&s, "expected '$Entities' (format 4.1 needs it before $Nodes), got '%.*s'", LineShown(&s), s.ls);
    goto done;
  }
  if (!IsHeader(&s, "$Nodes")) {
    Fail(&s, "expected '$Nodes', got '%.*s'", LineShown(&s), s.ls);
    goto done;
  }
  if (!ReadNodes(&s, &m, v41) || !Expect(&s, "$Elements") || !ReadElements(&s, &m, v41)) goto done;
  while (s.p < s.end && !s.bad) {
    NextLine(&s, "");
    if (s.bad) break;
    if (!Token(&s, buf, sizeof(buf))) continue;
    Fail(&s, "unexpected '%s' after $EndElements (sections such as $Periodic or $NodeData are not supported)", buf);
  }
  if (s.bad || !CheckTopology(&s, &m)) goto done;
  *valid = PETSC_TRUE;
done:
  MeshFree(&m);
  PetscFunctionReturn(0);
}
