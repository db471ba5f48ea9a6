/* Supernodal left-looking sparse Cholesky, L L^T = P A P^T.
 *
 * The one idea: everything that depends only on the pattern is done once.
 * The symbolic step orders the matrix (nested dissection, then the
 * elimination tree's postorder, so that each supernode is a run of
 * consecutive columns), counts columns, groups columns into relaxed
 * supernodes (a few explicit zeros buy wider dense blocks), computes each
 * supernode's sorted row list, maps every entry of A straight to its slot in
 * the factor, and sizes the one update buffer. The numeric step is then only
 * dense arithmetic on fixed arrays: scatter A, and for each supernode S in
 * turn, subtract the updates of the earlier supernodes D that have rows in S
 * (D waits in a linked list keyed by the next supernode it touches, as in
 * CHOLMOD's left-looking method), then factor S's dense panel in place.
 *
 * Dense kernels are plain C loops with unit-stride inner loops that the
 * compiler vectorises at -O2; the operation order is fixed by the pattern,
 * so a refactorisation with the same values gives the same bits. */
#include "la/la.h"
#include "obj/obj.h"

#include <math.h>
#include <string.h>

#if defined(PETSC_USE_COMPLEX)
#error "mcchol is written for real scalars"
#endif

struct _p_McChol {
  PetscInt         n, nsuper, maxcols;
  PetscBool        analysed; /* McCholSymbolic completed */
  PetscInt        *perm;     /* new -> old */
  PetscInt        *super;    /* nsuper + 1: first column of each supernode */
  PetscInt        *snode;    /* column -> supernode */
  PetscInt        *rowp;     /* nsuper + 1: offsets into rows */
  PetscInt        *rows;     /* each supernode's rows: its own columns, then the rows below, ascending */
  PetscInt64      *lxp;      /* nsuper + 1: offsets of the column-major panels in Lx */
  PetscScalar     *Lx;       /* the factor */
  PetscInt         nnzA;     /* stored entries of A (both triangles) */
  PetscInt         nmap;     /* entries of A that land in L */
  PetscInt        *asrc;     /* nmap: position in A's value array */
  PetscInt64      *adst;     /* nmap: position in Lx */
  PetscObjectState nzstate;  /* A's nonzero state at the symbolic step */
  PetscInt        *arow;     /* n + 1: A's row pointers (A's numbering) */
  PetscInt        *adiag;    /* n: position of the diagonal entry of row perm[k] of A, or -1 */
  PetscReal       *rs;       /* n: sum of |off-diagonal| of each (permuted) row of A, for the zero-pivot test */
  PetscScalar     *dinv;     /* n: 1 / L's diagonal, so the solves multiply (see McCholSolveArray) */
  PetscReal        zeropivot;
  /* numeric workspace */
  PetscInt    *relmap; /* n: row -> local row of the current supernode */
  PetscInt    *map;    /* rows of the widest supernode: local rows of one update */
  PetscInt    *head;   /* nsuper: first supernode waiting to update this one */
  PetscInt    *next;   /* nsuper: next in the same waiting list */
  PetscInt    *pos;    /* nsuper: first row of each supernode not yet applied */
  PetscInt    *col;    /* maxcols: the columns of S that one update touches */
  PetscScalar *y;      /* n: the permuted right-hand side, then one supernode's unknowns and gathered rows */
  McCholInfo   info;
};

static PetscErrorCode Alloc(McChol c, size_t n, size_t size, void *ptr)
{
  PetscFunctionBeginUser;
  PetscCall(McMalloc(n * size, ptr));
  c->info.bytes += n * size;
  PetscFunctionReturn(0);
}

static PetscErrorCode FreeAll(McChol c)
{
  PetscFunctionBeginUser;
  PetscCall(McFree(&c->perm));
  PetscCall(McFree(&c->super));
  PetscCall(McFree(&c->snode));
  PetscCall(McFree(&c->rowp));
  PetscCall(McFree(&c->rows));
  PetscCall(McFree(&c->lxp));
  PetscCall(McFree(&c->Lx));
  PetscCall(McFree(&c->asrc));
  PetscCall(McFree(&c->adst));
  PetscCall(McFree(&c->relmap));
  PetscCall(McFree(&c->arow));
  PetscCall(McFree(&c->adiag));
  PetscCall(McFree(&c->rs));
  PetscCall(McFree(&c->dinv));
  PetscCall(McFree(&c->map));
  PetscCall(McFree(&c->head));
  PetscCall(McFree(&c->next));
  PetscCall(McFree(&c->pos));
  PetscCall(McFree(&c->col));
  PetscCall(McFree(&c->y));
  memset(&c->info, 0, sizeof(c->info));
  c->info.failed_row = -1;
  c->n = c->nsuper = c->maxcols = 0;
  c->analysed = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McCholCreate(McChol *chol)
{
  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(**chol), chol));
  (*chol)->info.failed_row = -1;
  PetscFunctionReturn(0);
}

PetscErrorCode McCholDestroy(McChol *chol)
{
  PetscFunctionBeginUser;
  if (!*chol) PetscFunctionReturn(0);
  PetscCall(FreeAll(*chol));
  PetscCall(McFree(chol));
  PetscFunctionReturn(0);
}

PetscErrorCode McCholSetZeroPivot(McChol chol, PetscReal tol)
{
  PetscFunctionBeginUser;
  PetscCheck(tol >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "mcchol: zero-pivot tolerance must be >= 0, got %g",
             (double)tol);
  chol->zeropivot = tol;
  PetscFunctionReturn(0);
}

PetscErrorCode McCholGetInfo(McChol chol, McCholInfo *info)
{
  PetscFunctionBeginUser;
  *info = chol->info;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------ symbolic */

/* Liu's elimination tree with path compression: row k of P A P^T (the
 * columns j < k of row perm[k] of A) links each subtree it touches to k. */
static void EliminationTree(PetscInt n, const PetscInt *ia, const PetscInt *ja, const PetscInt *perm,
                            const PetscInt *iperm, PetscInt *parent, PetscInt *anc)
{
  for (PetscInt k = 0; k < n; k++) {
    parent[k] = -1;
    anc[k] = -1;
    for (PetscInt p = ia[perm[k]]; p < ia[perm[k] + 1]; p++) {
      PetscInt i = iperm[ja[p]], inext;
      for (; i != -1 && i < k; i = inext) {
        inext = anc[i];
        anc[i] = k;
        if (inext == -1) parent[i] = k;
      }
    }
  }
}

/* post[k] = the k-th node of a depth-first postorder, children in
 * ascending order. head, next, stack: n each. */
static void Postorder(PetscInt n, const PetscInt *parent, PetscInt *post, PetscInt *head, PetscInt *next,
                      PetscInt *stack)
{
  PetscInt k = 0;
  for (PetscInt j = 0; j < n; j++)
    head[j] = -1;
  for (PetscInt j = n - 1; j >= 0; j--)
    if (parent[j] != -1) {
      next[j] = head[parent[j]];
      head[parent[j]] = j;
    }
  for (PetscInt r = 0; r < n; r++) {
    PetscInt top = 0;
    if (parent[r] != -1) continue;
    stack[0] = r;
    while (top >= 0) {
      PetscInt p = stack[top], i = head[p];
      if (i == -1) {
        top--;
        post[k++] = p;
      } else {
        head[p] = next[i];
        stack[++top] = i;
      }
    }
  }
}

/* Column counts of L (diagonal included) by walking each row's subtree:
 * row k of L has a nonzero in every column on the tree paths from the
 * columns of row k of A up to k. O(nnz(L)). */
static void ColumnCounts(PetscInt n, const PetscInt *ia, const PetscInt *ja, const PetscInt *perm,
                         const PetscInt *iperm, const PetscInt *parent, PetscInt *cc, PetscInt *mark)
{
  for (PetscInt k = 0; k < n; k++) {
    cc[k] = 1;
    mark[k] = -1;
  }
  for (PetscInt k = 0; k < n; k++) {
    mark[k] = k;
    for (PetscInt p = ia[perm[k]]; p < ia[perm[k] + 1]; p++)
      for (PetscInt j = iperm[ja[p]]; j < k && mark[j] != k; j = parent[j]) {
        cc[j]++;
        mark[j] = k;
      }
  }
}

/* Entries of a supernode panel of w columns and h rows that belong to the
 * lower triangle. */
static double Trapezoid(double w, double h)
{
  return w * h - w * (w - 1) / 2;
}

/* Should a run of w columns with z of t lower entries explicitly zero be
 * one supernode? CHOLMOD's default relaxation: always up to 4 columns, then
 * fewer and fewer zeros as the block grows. */
static PetscBool Relax(PetscInt w, double z, double t)
{
  double f = t > 0 ? z / t : 0;
  if (w <= 4) return PETSC_TRUE;
  if (w <= 16) return f < 0.8 ? PETSC_TRUE : PETSC_FALSE;
  if (w <= 48) return f < 0.1 ? PETSC_TRUE : PETSC_FALSE;
  return f < 0.05 ? PETSC_TRUE : PETSC_FALSE;
}

/* Fundamental supernodes (j+1 is j's only child's parent with one column
 * less), then greedy relaxed amalgamation of each run with the supernode
 * that follows it when that one holds the run's parent. Fills c->super,
 * c->nsuper and the predicted row count of each supernode in h. */
static void Supernodes(McChol c, const PetscInt *parent, const PetscInt *cc, PetscInt *nchild, PetscInt *h)
{
  PetscInt n = c->n, ns = 0, cur_f = 0, cur_w = 0, cur_h = 0;
  double   cur_z = 0;

  for (PetscInt j = 0; j < n; j++)
    nchild[j] = 0;
  for (PetscInt j = 0; j < n; j++)
    if (parent[j] != -1) nchild[parent[j]]++;
  for (PetscInt f = 0; f < n;) {
    /* the fundamental supernode starting at f */
    PetscInt l = f;
    while (l + 1 < n && parent[l] == l + 1 && cc[l] == cc[l + 1] + 1 && nchild[l + 1] == 1)
      l++;
    PetscInt w = l - f + 1, hh = cc[f];
    if (cur_w > 0 && parent[cur_f + cur_w - 1] == f) {
      PetscInt nw = cur_w + w, nh = cur_w + hh;
      double   t = Trapezoid(nw, nh);
      double   z = t - (Trapezoid(cur_w, cur_h) - cur_z) - Trapezoid(w, hh);
      if (Relax(nw, z, t)) {
        cur_w = nw;
        cur_h = nh;
        cur_z = z;
        f = l + 1;
        continue;
      }
    }
    if (cur_w > 0) {
      c->super[ns] = cur_f;
      h[ns++] = cur_h;
    }
    cur_f = f;
    cur_w = w;
    cur_h = hh;
    cur_z = 0;
    f = l + 1;
  }
  if (cur_w > 0) {
    c->super[ns] = cur_f;
    h[ns++] = cur_h;
  }
  c->super[ns] = n;
  c->nsuper = ns;
}

/* Each supernode's rows: its columns, then the rows of A below them and the
 * rows of its child supernodes below them, sorted. Children come first in
 * the postorder, so their lists are ready. */
static PetscErrorCode SupernodeRows(McChol c, const PetscInt *ia, const PetscInt *ja, const PetscInt *iperm,
                                    const PetscInt *parent, PetscInt *mark, PetscInt *chead, PetscInt *cnext)
{
  PetscInt ns = c->nsuper;

  PetscFunctionBeginUser;
  for (PetscInt s = 0; s < ns; s++) {
    chead[s] = -1;
    mark[s] = -1;
  }
  for (PetscInt j = 0; j < c->n; j++)
    mark[j] = -1;
  for (PetscInt s = ns - 1; s >= 0; s--) {
    PetscInt l = c->super[s + 1] - 1;
    if (parent[l] != -1) {
      PetscInt t = c->snode[parent[l]];
      cnext[s] = chead[t];
      chead[t] = s;
    }
  }
  for (PetscInt s = 0; s < ns; s++) {
    PetscInt  f = c->super[s], l = c->super[s + 1] - 1, cnt = 0;
    PetscInt *R = c->rows + c->rowp[s], hmax = c->rowp[s + 1] - c->rowp[s];
    for (PetscInt j = f; j <= l; j++) {
      R[cnt++] = j;
      mark[j] = s;
    }
    for (PetscInt j = f; j <= l; j++)
      for (PetscInt p = ia[c->perm[j]]; p < ia[c->perm[j] + 1]; p++) {
        PetscInt i = iperm[ja[p]];
        if (i > l && mark[i] != s) {
          PetscCheck(cnt < hmax, PETSC_COMM_SELF, PETSC_ERR_PLIB,
                     "supernode %" PetscInt_FMT " has more rows than counted", s);
          mark[i] = s;
          R[cnt++] = i;
        }
      }
    for (PetscInt d = chead[s]; d != -1; d = cnext[d]) {
      const PetscInt *Rd = c->rows + c->rowp[d];
      for (PetscInt q = 0; q < c->rowp[d + 1] - c->rowp[d]; q++) {
        PetscInt i = Rd[q];
        if (i > l && mark[i] != s) {
          PetscCheck(cnt < hmax, PETSC_COMM_SELF, PETSC_ERR_PLIB,
                     "supernode %" PetscInt_FMT " has more rows than counted", s);
          mark[i] = s;
          R[cnt++] = i;
        }
      }
    }
    PetscCheck(cnt == hmax, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "supernode %" PetscInt_FMT " has %" PetscInt_FMT " rows, %" PetscInt_FMT " counted", s, cnt, hmax);
    PetscCall(PetscSortInt(cnt - (l - f + 1), R + (l - f + 1)));
  }
  PetscFunctionReturn(0);
}

/* Where each entry of A goes in Lx: entry (perm[j], c) of A is L's (iperm[c], j)
 * when iperm[c] >= j, i.e. row j of A's upper triangle read as column j of
 * the lower one (A is symmetric). */
static PetscErrorCode ValueMap(McChol c, const PetscInt *ia, const PetscInt *ja, const PetscInt *iperm)
{
  PetscInt k = 0;

  PetscFunctionBeginUser;
  for (PetscInt s = 0; s < c->nsuper; s++) {
    PetscInt        f = c->super[s], h = c->rowp[s + 1] - c->rowp[s];
    const PetscInt *R = c->rows + c->rowp[s];
    for (PetscInt q = 0; q < h; q++)
      c->relmap[R[q]] = q;
    for (PetscInt j = f; j < c->super[s + 1]; j++)
      for (PetscInt p = ia[c->perm[j]]; p < ia[c->perm[j] + 1]; p++) {
        PetscInt i = iperm[ja[p]];
        if (i < j) continue;
        c->asrc[k] = p;
        c->adst[k++] = c->lxp[s] + (PetscInt64)(j - f) * h + c->relmap[i];
      }
  }
  PetscCheck(k == c->nmap, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "value map has %" PetscInt_FMT " entries, expected %" PetscInt_FMT, k, c->nmap);
  PetscFunctionReturn(0);
}

/* Whether every entry (r, c) of the pattern has its mirror (c, r): the
 * factor reads only one triangle, so a one-sided entry would be lost
 * silently. SeqAIJ rows are sorted: a binary search per entry. */
static PetscBool StructurallySymmetric(PetscInt n, const PetscInt *ia, const PetscInt *ja, PetscInt *row, PetscInt *col)
{
  for (PetscInt r = 0; r < n; r++)
    for (PetscInt p = ia[r]; p < ia[r + 1]; p++) {
      PetscInt c = ja[p], lo = ia[c], hi = ia[c + 1] - 1;
      while (lo <= hi) {
        PetscInt mid = lo + (hi - lo) / 2;
        if (ja[mid] == r) break;
        if (ja[mid] < r)
          lo = mid + 1;
        else
          hi = mid - 1;
      }
      if (lo > hi) {
        *row = r;
        *col = c;
        return PETSC_FALSE;
      }
    }
  return PETSC_TRUE;
}

PetscErrorCode McCholSymbolic(McChol c, Mat A, IS perm)
{
  PetscInt        n, m, nrows;
  const PetscInt *ia, *ja, *pidx = NULL;
  PetscBool       done, isseqaij;
  IS              rperm = NULL, cperm = NULL;
  PetscInt       *iperm, *parent, *w1, *w2, *w3, *post, *cc, *h;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectTypeCompare((PetscObject)A, MATSEQAIJ, &isseqaij));
  if (!isseqaij) {
    MatType type;
    PetscCall(MatGetType(A, &type));
    SETERRQ(PetscObjectComm((PetscObject)A), PETSC_ERR_SUP, "mcchol factors MATSEQAIJ matrices, got %s", type);
  }
  PetscCall(MatGetSize(A, &m, &n));
  PetscCheck(m == n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ,
             "mcchol needs a square matrix, got %" PetscInt_FMT " x %" PetscInt_FMT, m, n);
  PetscCall(FreeAll(c));
  c->n = n;
  PetscCall(MatGetRowIJ(A, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
  PetscCheck(done, PETSC_COMM_SELF, PETSC_ERR_SUP, "mcchol cannot read the matrix pattern");
  c->nnzA = ia[n];
  {
    PetscInt  r = -1, cc = -1;
    PetscBool sym = StructurallySymmetric(n, ia, ja, &r, &cc);
    if (!sym) PetscCall(MatRestoreRowIJ(A, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
    PetscCheck(sym, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "mcchol needs a structurally symmetric matrix (both triangles stored): entry (%" PetscInt_FMT
               ", %" PetscInt_FMT ") has no mirror (%" PetscInt_FMT ", %" PetscInt_FMT ")",
               r, cc, cc, r);
  }
  PetscCall(MatGetNonzeroState(A, &c->nzstate));
  if (!perm) {
    PetscCall(MatGetOrdering(A, MATORDERINGND, &rperm, &cperm));
    perm = rperm;
  }

  /* pattern-only scratch, freed at the end: PETSc's allocator */
  PetscCall(PetscMalloc1(8 * (size_t)n + 1, &iperm));
  parent = iperm + n;
  w1 = parent + n;
  w2 = w1 + n;
  w3 = w2 + n;
  post = w3 + n;
  cc = post + n;
  h = cc + n;
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscInt), &c->perm));
  PetscCall(ISGetIndices(perm, &pidx));
  for (PetscInt k = 0; k < n; k++)
    iperm[k] = -1;
  for (PetscInt k = 0; k < n; k++) {
    PetscCheck(pidx[k] >= 0 && pidx[k] < n && iperm[pidx[k]] == -1, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
               "mcchol: the ordering is not a permutation (entry %" PetscInt_FMT ")", k);
    iperm[pidx[k]] = k;
  }
  /* the ordering followed by the elimination tree's postorder */
  EliminationTree(n, ia, ja, pidx, iperm, parent, w1);
  Postorder(n, parent, post, w1, w2, w3);
  for (PetscInt k = 0; k < n; k++)
    c->perm[k] = pidx[post[k]];
  PetscCall(ISRestoreIndices(perm, &pidx));
  for (PetscInt k = 0; k < n; k++)
    iperm[c->perm[k]] = k;
  EliminationTree(n, ia, ja, c->perm, iperm, parent, w1);
  ColumnCounts(n, ia, ja, c->perm, iperm, parent, cc, w1);

  PetscCall(Alloc(c, (size_t)n + 1, sizeof(PetscInt), &c->super));
  Supernodes(c, parent, cc, w1, h);
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscInt), &c->snode));
  PetscCall(Alloc(c, (size_t)c->nsuper + 1, sizeof(PetscInt), &c->rowp));
  PetscCall(Alloc(c, (size_t)c->nsuper + 1, sizeof(PetscInt64), &c->lxp));
  c->rowp[0] = 0;
  c->lxp[0] = 0;
  c->maxcols = 0;
  for (PetscInt s = 0; s < c->nsuper; s++) {
    PetscInt w = c->super[s + 1] - c->super[s];
    for (PetscInt j = c->super[s]; j < c->super[s + 1]; j++)
      c->snode[j] = s;
    c->rowp[s + 1] = c->rowp[s] + h[s];
    c->lxp[s + 1] = c->lxp[s] + (PetscInt64)w * h[s];
    c->maxcols = PetscMax(c->maxcols, w);
  }
  PetscCall(Alloc(c, (size_t)c->rowp[c->nsuper], sizeof(PetscInt), &c->rows));
  PetscCall(SupernodeRows(c, ia, ja, iperm, parent, w1, w2, w3));

  c->nmap = 0;
  for (PetscInt k = 0; k < n; k++)
    for (PetscInt p = ia[c->perm[k]]; p < ia[c->perm[k] + 1]; p++)
      if (iperm[ja[p]] >= k) c->nmap++;
  PetscCall(Alloc(c, (size_t)c->nmap, sizeof(PetscInt), &c->asrc));
  PetscCall(Alloc(c, (size_t)c->nmap, sizeof(PetscInt64), &c->adst));
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscInt), &c->relmap));
  PetscCall(Alloc(c, (size_t)n + 1, sizeof(PetscInt), &c->arow));
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscInt), &c->adiag));
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscReal), &c->rs));
  PetscCall(Alloc(c, (size_t)n, sizeof(PetscScalar), &c->dinv));
  for (PetscInt k = 0; k <= n; k++)
    c->arow[k] = ia[k];
  for (PetscInt k = 0; k < n; k++) {
    c->adiag[k] = -1;
    for (PetscInt p = ia[c->perm[k]]; p < ia[c->perm[k] + 1]; p++)
      if (ja[p] == c->perm[k]) c->adiag[k] = p;
  }
  PetscCall(ValueMap(c, ia, ja, iperm));
  PetscCall(Alloc(c, (size_t)c->lxp[c->nsuper], sizeof(PetscScalar), &c->Lx));
  PetscCall(Alloc(c, (size_t)c->nsuper, sizeof(PetscInt), &c->head));
  PetscCall(Alloc(c, (size_t)c->nsuper, sizeof(PetscInt), &c->next));
  PetscCall(Alloc(c, (size_t)c->nsuper, sizeof(PetscInt), &c->pos));
  PetscCall(Alloc(c, (size_t)c->maxcols, sizeof(PetscInt), &c->col));
  {
    PetscInt hmax = 0;
    for (PetscInt s = 0; s < c->nsuper; s++)
      hmax = PetscMax(hmax, c->rowp[s + 1] - c->rowp[s]);
    PetscCall(Alloc(c, (size_t)n + (size_t)hmax, sizeof(PetscScalar), &c->y)); /* y, then t */
    PetscCall(Alloc(c, (size_t)hmax, sizeof(PetscInt), &c->map));
  }

  c->info.n = n;
  c->info.nsuper = c->nsuper;
  c->info.maxcols = c->maxcols;
  c->info.nnzL = c->lxp[c->nsuper];
  c->info.nnzA = c->nmap;
  c->info.flops = 0;
  for (PetscInt s = 0; s < c->nsuper; s++) {
    PetscInt h0 = c->rowp[s + 1] - c->rowp[s];
    for (PetscInt j = 0; j < c->super[s + 1] - c->super[s]; j++)
      c->info.flops += (double)(h0 - j) * (h0 - j);
  }
  c->info.factored = PETSC_FALSE;
  c->info.failed_row = -1;
  c->analysed = PETSC_TRUE;

  PetscCall(PetscFree(iperm));
  PetscCall(MatRestoreRowIJ(A, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
  PetscCall(ISDestroy(&rperm));
  PetscCall(ISDestroy(&cperm));
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------- numeric */

/* One update of supernode S by an earlier supernode D: Ls -= X Y^T on the
 * rows and columns of S that D touches, where X is D's panel from its first
 * row in S down (m rows, w columns, leading dimension ld) and Y its first k
 * rows (D's rows that are columns of S). Row i of X is row dst[i] of the
 * panel Ls (or row r0 + i when dst is NULL: D's rows are one run in S's
 * list), and column j of Y is column col[j] of Ls (leading dimension h).
 *
 * The products are summed in registers over 4 x NC tiles and subtracted
 * from Ls once. Each sum adds its w products in order t = 0, 1, ..., so the
 * bits do not depend on the tiling. The earlier version summed into a
 * buffer row by row inside the t loop and then scattered the buffer: it
 * loaded and stored every sum w times and ran at about 2 flop per cycle. */
typedef double McV4 __attribute__((vector_size(32)));

/* The dense kernels (Update, BlockAxpy, BelowDots) are compiled twice, for
 * x86-64's baseline SSE2 and for AVX2, chosen at load time by the CPU (an
 * ifunc): the 4-wide sums are one register with AVX2, two without. No FMA
 * in either, so both give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MC_CLONES
#endif

/* rows r..r+3 (r + 4 <= m) of the columns c..c+NC-1 */
static inline __attribute__((always_inline)) void Tile(PetscInt NC, PetscInt w, const PetscScalar *X, PetscInt ld,
                                                       PetscInt r, PetscInt c, const PetscInt *dst, PetscInt r0,
                                                       const PetscInt *col, PetscScalar *Ls, PetscInt h)
{
  McV4 s[4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
  for (PetscInt t = 0; t < w; t++) {
    const PetscScalar *Xt = X + (size_t)t * ld;
    McV4               x;
    memcpy(&x, Xt + r, sizeof(x)); /* unaligned */
    for (PetscInt j = 0; j < NC; j++) {
      PetscScalar b = Xt[c + j];
      s[j] += x * (McV4){b, b, b, b};
    }
  }
  if (!dst && r >= c + NC - 1) { /* a run of rows, all on or below the diagonal */
    for (PetscInt j = 0; j < NC; j++) {
      PetscScalar *Lc = Ls + (size_t)col[c + j] * h + r0 + r;
      McV4         v;
      memcpy(&v, Lc, sizeof(v));
      v -= s[j];
      memcpy(Lc, &v, sizeof(v));
    }
    return;
  }
  for (PetscInt j = 0; j < NC; j++) {
    PetscScalar *Lc = Ls + (size_t)col[c + j] * h;
    for (PetscInt i = 0; i < 4; i++) {
      if (r + i < c + j) continue; /* above the diagonal of the update: never read, left alone */
      Lc[dst ? dst[r + i] : r0 + r + i] -= s[j][i];
    }
  }
}

/* the last m - r < 4 rows of the columns c..c+NC-1 */
static inline __attribute__((always_inline)) void TileTail(PetscInt NC, PetscInt m, PetscInt w, const PetscScalar *X,
                                                           PetscInt ld, PetscInt r, PetscInt c, const PetscInt *dst,
                                                           PetscInt r0, const PetscInt *col, PetscScalar *Ls,
                                                           PetscInt h)
{
  for (; r < m; r++) {
    PetscScalar s[4] = {0, 0, 0, 0};
    for (PetscInt t = 0; t < w; t++) {
      const PetscScalar *Xt = X + (size_t)t * ld;
      PetscScalar        x = Xt[r];
      for (PetscInt j = 0; j < NC; j++)
        s[j] += x * Xt[c + j];
    }
    for (PetscInt j = 0; j < NC; j++)
      if (r >= c + j) Ls[(size_t)col[c + j] * h + (dst ? dst[r] : r0 + r)] -= s[j];
  }
}

static inline __attribute__((always_inline)) void Columns(PetscInt NC, PetscInt m, PetscInt w, const PetscScalar *X,
                                                          PetscInt ld, PetscInt c, const PetscInt *dst, PetscInt r0,
                                                          const PetscInt *col, PetscScalar *Ls, PetscInt h)
{
  PetscInt r = c;
  for (; r + 4 <= m; r += 4)
    Tile(NC, w, X, ld, r, c, dst, r0, col, Ls, h);
  TileTail(NC, m, w, X, ld, r, c, dst, r0, col, Ls, h);
}

MC_CLONES static void Update(PetscInt m, PetscInt k, PetscInt w, const PetscScalar *X, PetscInt ld, const PetscInt *dst,
                             PetscInt r0, const PetscInt *col, PetscScalar *Ls, PetscInt h)
{
  PetscInt c = 0;
  for (; c + 4 <= k; c += 4)
    Columns(4, m, w, X, ld, c, dst, r0, col, Ls, h);
  switch (k - c) {
  case 3:
    Columns(3, m, w, X, ld, c, dst, r0, col, Ls, h);
    break;
  case 2:
    Columns(2, m, w, X, ld, c, dst, r0, col, Ls, h);
    break;
  case 1:
    Columns(1, m, w, X, ld, c, dst, r0, col, Ls, h);
    break;
  }
}

/* In-place Cholesky of a dense h x w panel (diagonal block on top, the rows
 * below divided by its transpose), left-looking by blocks of 4 columns:
 * the updates from all earlier columns go through the register tiles of
 * Update, then the block's own columns are factored one by one. A pivot d
 * fails when d <= tol * rs[j] (PETSc's zero-pivot test: d is below rounding
 * relative to its row of A; tol = 0 leaves d <= 0) or is NaN. Returns the
 * local column of the failed pivot or -1. */
static PetscInt FactorPanel(PetscInt h, PetscInt w, PetscScalar *L, PetscReal tol, const PetscReal *rs,
                            PetscScalar *dinv, PetscReal *pivot)
{
  for (PetscInt jb = 0; jb < w; jb += 4) {
    PetscInt nb = PetscMin(4, w - jb), col[4] = {jb, jb + 1, jb + 2, jb + 3};
    if (jb) Update(h - jb, nb, jb, L + jb, h, NULL, jb, col, L, h);
    for (PetscInt j = jb; j < jb + nb; j++) {
      PetscScalar *Lj = L + (size_t)j * h, d;
      for (PetscInt t = jb; t < j; t++) {
        const PetscScalar *Lt = L + (size_t)t * h;
        PetscScalar        a = Lt[j];
        for (PetscInt r = j; r < h; r++)
          Lj[r] -= Lt[r] * a;
      }
      d = Lj[j];
      if (!(d > 0) || PetscIsInfOrNanReal(d) || d <= tol * rs[j]) {
        *pivot = d;
        return j;
      }
      d = PetscSqrtReal(d);
      Lj[j] = d;
      d = 1 / d;
      dinv[j] = d;
      for (PetscInt r = j + 1; r < h; r++)
        Lj[r] *= d;
    }
  }
  return -1;
}

PetscErrorCode McCholNumeric(McChol c, Mat A, PetscBool *ok)
{
  const PetscScalar *a;
  PetscObjectState   nzstate;

  PetscFunctionBeginUser;
  PetscCheck(c->analysed, PETSC_COMM_SELF, PETSC_ERR_ORDER, "mcchol: numeric factorisation before the symbolic one");
  PetscCall(MatGetNonzeroState(A, &nzstate));
  PetscCheck(nzstate == c->nzstate, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "mcchol: the matrix's nonzero pattern changed since the symbolic factorisation");
  c->info.factored = PETSC_FALSE;
  c->info.failed_row = -1;
  *ok = PETSC_TRUE;
  if (c->n == 0) {
    c->info.factored = PETSC_TRUE;
    PetscFunctionReturn(0);
  }
  memset(c->Lx, 0, (size_t)c->lxp[c->nsuper] * sizeof(PetscScalar));
  PetscCall(MatSeqAIJGetArrayRead(A, &a));
  for (PetscInt k = 0; k < c->n; k++) {
    PetscReal sum = 0;
    if (c->zeropivot > 0) { /* the whole row, then less its diagonal: no branch in the loop */
      for (PetscInt p = c->arow[c->perm[k]]; p < c->arow[c->perm[k] + 1]; p++)
        sum += PetscAbsScalar(a[p]);
      if (c->adiag[k] >= 0) sum -= PetscAbsScalar(a[c->adiag[k]]);
    }
    c->rs[k] = sum;
  }
  for (PetscInt k = 0; k < c->nmap; k++)
    c->Lx[c->adst[k]] = a[c->asrc[k]];
  PetscCall(MatSeqAIJRestoreArrayRead(A, &a));
  for (PetscInt s = 0; s < c->nsuper; s++)
    c->head[s] = -1;

  for (PetscInt s = 0; s < c->nsuper; s++) {
    PetscInt        f = c->super[s], l = c->super[s + 1] - 1, w = l - f + 1, h = c->rowp[s + 1] - c->rowp[s], bad;
    const PetscInt *R = c->rows + c->rowp[s];
    PetscScalar    *Ls = c->Lx + c->lxp[s];
    PetscReal       pivot = 0;

    for (PetscInt q = 0; q < h; q++)
      c->relmap[R[q]] = q;
    for (PetscInt d = c->head[s], dnext; d != -1; d = dnext) {
      PetscInt        hd = c->rowp[d + 1] - c->rowp[d], wd = c->super[d + 1] - c->super[d], p = c->pos[d], q = p;
      const PetscInt *Rd = c->rows + c->rowp[d];
      PetscInt        mm, kk;
      dnext = c->next[d];
      while (q < hd && Rd[q] <= l)
        q++;
      mm = hd - p;
      kk = q - p;
      /* the columns of S that D's rows p..q-1 are, and where D's rows go:
       * usually one run of S's list, then no index per row */
      for (PetscInt cc = 0; cc < kk; cc++)
        c->col[cc] = Rd[p + cc] - f;
      PetscInt r0 = c->relmap[Rd[p]];
      if (c->relmap[Rd[hd - 1]] - r0 == mm - 1) {
        Update(mm, kk, wd, c->Lx + c->lxp[d] + p, hd, NULL, r0, c->col, Ls, h);
      } else {
        for (PetscInt r = 0; r < mm; r++)
          c->map[r] = c->relmap[Rd[p + r]];
        Update(mm, kk, wd, c->Lx + c->lxp[d] + p, hd, c->map, 0, c->col, Ls, h);
      }
      c->pos[d] = q;
      if (q < hd) {
        PetscInt t = c->snode[Rd[q]];
        c->next[d] = c->head[t];
        c->head[t] = d;
      }
    }
    bad = FactorPanel(h, w, Ls, c->zeropivot, c->rs + f, c->dinv + f, &pivot);
    if (bad >= 0) {
      c->info.failed_row = c->perm[f + bad];
      c->info.failed_pivot = pivot;
      *ok = PETSC_FALSE;
      PetscFunctionReturn(0);
    }
    c->pos[s] = w;
    if (w < h) {
      PetscInt t = c->snode[R[w]];
      c->next[s] = c->head[t];
      c->head[t] = s;
    }
  }
  c->info.factored = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* --------------------------------------------------------------- solve */

/* The rows below a supernode of W <= 4 columns (W a constant at each call,
 * so the column loop unrolls): y[R] -= L21 ys in one pass ... */
static inline __attribute__((always_inline)) void
NarrowForward(PetscInt W, PetscInt h, const PetscScalar *Ls, const PetscScalar *ys, const PetscInt *R, PetscScalar *y)
{
  for (PetscInt r = W; r < h; r++) {
    PetscScalar acc = 0;
    for (PetscInt j = 0; j < W; j++)
      acc += Ls[(size_t)j * h + r] * ys[j];
    y[R[r - W]] -= acc;
  }
}

/* ... and acc = L21^T y[R], also in one pass. */
static inline __attribute__((always_inline)) void
NarrowBackward(PetscInt W, PetscInt h, const PetscScalar *Ls, const PetscInt *R, const PetscScalar *y, PetscScalar *acc)
{
  for (PetscInt r = W; r < h; r++) {
    PetscScalar yr = y[R[r - W]];
    for (PetscInt j = 0; j < W; j++)
      acc[j] += Ls[(size_t)j * h + r] * yr;
  }
}

/* dst[r] -= sum_b L[b h + r] v[b] for r < m, b < nb <= 4 (nb a constant
 * in each branch, so the column loop unrolls and the row loop vectorises) */
static inline __attribute__((always_inline)) void BlockAxpyN(PetscInt NB, PetscInt m, const PetscScalar *restrict L,
                                                             PetscInt h, const PetscScalar *restrict v,
                                                             PetscScalar *restrict dst)
{
  const PetscScalar  v0 = v[0], v1 = NB > 1 ? v[1] : 0, v2 = NB > 2 ? v[2] : 0, v3 = NB > 3 ? v[3] : 0;
  const PetscScalar *L0 = L, *L1 = L + h, *L2 = L + 2 * h, *L3 = L + 3 * h;
  for (PetscInt r = 0; r < m; r++) {
    PetscScalar a = L0[r] * v0;
    if (NB > 1) a += L1[r] * v1;
    if (NB > 2) a += L2[r] * v2;
    if (NB > 3) a += L3[r] * v3;
    dst[r] -= a;
  }
}

MC_CLONES static void BlockAxpy(PetscInt nb, PetscInt m, const PetscScalar *L, PetscInt h, const PetscScalar *v,
                                PetscScalar *dst)
{
  switch (nb) {
  case 1:
    BlockAxpyN(1, m, L, h, v, dst);
    break;
  case 2:
    BlockAxpyN(2, m, L, h, v, dst);
    break;
  case 3:
    BlockAxpyN(3, m, L, h, v, dst);
    break;
  default:
    BlockAxpyN(4, m, L, h, v, dst);
    break;
  }
}

/* acc[j] = <L[:, j], tb> for the w columns of a panel's rows below its
 * triangle (hb rows, leading dimension h): sums in four lanes over the rows,
 * four columns per pass over tb. */
MC_CLONES static void BelowDots(PetscInt hb, PetscInt w, const PetscScalar *L, PetscInt h, const PetscScalar *tb,
                                PetscScalar *acc)
{
  PetscInt j = 0;
  for (; j < w; j += 4) {
    const PetscInt     nc = PetscMin(4, w - j);
    const PetscScalar *Lc[4];
    McV4               s[4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    PetscInt           q = 0;
    for (PetscInt b = 0; b < 4; b++)
      Lc[b] = L + (size_t)(j + (b < nc ? b : 0)) * h;
    for (; q + 4 <= hb; q += 4) {
      McV4 x, l;
      memcpy(&x, tb + q, sizeof(x));
      for (PetscInt b = 0; b < 4; b++) {
        memcpy(&l, Lc[b] + q, sizeof(l));
        s[b] += l * x;
      }
    }
    for (PetscInt b = 0; b < nc; b++) {
      PetscScalar tail = 0;
      for (PetscInt qq = q; qq < hb; qq++)
        tail += Lc[b][qq] * tb[qq];
      acc[j + b] = ((s[b][0] + s[b][1]) + (s[b][2] + s[b][3])) + tail;
    }
  }
}

PetscErrorCode McCholSolveArray(McChol c, const PetscScalar *b, PetscScalar *x)
{
  PetscScalar *y = c->y, *t = c->y + c->n;

  PetscFunctionBeginUser;
  PetscCheck(c->info.factored, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "mcchol: solve without a successful numeric factorisation");
  for (PetscInt k = 0; k < c->n; k++)
    y[k] = b[c->perm[k]];
  /* L z = y, supernode by supernode: the diagonal block's triangle, then
   * the rows below gathered in t (one indirect access per row, not per
   * entry). Both sweeps multiply by dinv: a division's latency per column
   * was a third of a P1 solve's time. */
  for (PetscInt s = 0; s < c->nsuper; s++) {
    PetscInt           f = c->super[s], w = c->super[s + 1] - f, h = c->rowp[s + 1] - c->rowp[s], hb = h - w;
    const PetscInt    *R = c->rows + c->rowp[s] + w;
    const PetscScalar *Ls = c->Lx + c->lxp[s];
    PetscScalar       *ys = y + f;
    const PetscScalar *dinv = c->dinv + f;
    if (w <= 4) { /* narrow: the triangle, then one pass over the rows below, no buffer */
      for (PetscInt j = 0; j < w; j++) {
        const PetscScalar *Lj = Ls + (size_t)j * h;
        PetscScalar        v = ys[j] * dinv[j];
        ys[j] = v;
        for (PetscInt r = j + 1; r < w; r++)
          ys[r] -= Lj[r] * v;
      }
      if (!hb) continue;
      switch (w) {
      case 1:
        NarrowForward(1, h, Ls, ys, R, y);
        break;
      case 2:
        NarrowForward(2, h, Ls, ys, R, y);
        break;
      case 3:
        NarrowForward(3, h, Ls, ys, R, y);
        break;
      default:
        NarrowForward(4, h, Ls, ys, R, y);
        break;
      }
      continue;
    }
    /* wide: by blocks of 4 columns, the block's own triangle, then all the
     * rows below it at once, the triangle's into ys and the panel's rows
     * below (gathered in t, as minus their sums) */
    for (PetscInt r = 0; r < hb; r++)
      t[r] = 0;
    for (PetscInt j0 = 0; j0 < w; j0 += 4) {
      const PetscInt nb = PetscMin(4, w - j0);
      for (PetscInt j = j0; j < j0 + nb; j++) {
        const PetscScalar *Lj = Ls + (size_t)j * h;
        PetscScalar        v = ys[j] * dinv[j];
        ys[j] = v;
        for (PetscInt r = j + 1; r < j0 + nb; r++)
          ys[r] -= Lj[r] * v;
      }
      BlockAxpy(nb, w - j0 - nb, Ls + (size_t)j0 * h + j0 + nb, h, ys + j0, ys + j0 + nb);
      BlockAxpy(nb, hb, Ls + (size_t)j0 * h + w, h, ys + j0, t);
    }
    for (PetscInt r = 0; r < hb; r++)
      y[R[r]] += t[r];
  }
  /* L^T x = z, in reverse */
  for (PetscInt s = c->nsuper - 1; s >= 0; s--) {
    PetscInt           f = c->super[s], w = c->super[s + 1] - f, h = c->rowp[s + 1] - c->rowp[s], hb = h - w;
    const PetscInt    *R = c->rows + c->rowp[s] + w;
    const PetscScalar *Ls = c->Lx + c->lxp[s];
    PetscScalar       *ys = y + f;
    const PetscScalar *dinv = c->dinv + f;
    if (w <= 4) { /* narrow: the rows below in one pass, then the triangle */
      PetscScalar acc[4] = {0, 0, 0, 0};
      switch (w) {
      case 1:
        NarrowBackward(1, h, Ls, R, y, acc);
        break;
      case 2:
        NarrowBackward(2, h, Ls, R, y, acc);
        break;
      case 3:
        NarrowBackward(3, h, Ls, R, y, acc);
        break;
      default:
        NarrowBackward(4, h, Ls, R, y, acc);
        break;
      }
      for (PetscInt j = w - 1; j >= 0; j--) {
        const PetscScalar *Lj = Ls + (size_t)j * h;
        PetscScalar        v = ys[j] - acc[j];
        for (PetscInt q = j + 1; q < w; q++)
          v -= Lj[q] * ys[q];
        ys[j] = v * dinv[j];
      }
      continue;
    }
    /* wide: t = (this supernode's unknowns, the rows below gathered); by
     * blocks of 4 columns from the right, the dot products of the block's
     * columns with all of t below the block (vectorised, one pass for the
     * four), then the block's own triangle */
    for (PetscInt q = 0; q < w; q++)
      t[q] = ys[q];
    for (PetscInt r = 0; r < hb; r++)
      t[w + r] = y[R[r]];
    for (PetscInt j0 = ((w - 1) / 4) * 4; j0 >= 0; j0 -= 4) {
      const PetscInt nb = PetscMin(4, w - j0);
      PetscScalar    acc[4];
      BelowDots(h - j0 - nb, nb, Ls + (size_t)j0 * h + j0 + nb, h, t + j0 + nb, acc);
      for (PetscInt j = j0 + nb - 1; j >= j0; j--) {
        const PetscScalar *Lj = Ls + (size_t)j * h;
        PetscScalar        v = t[j] - acc[j - j0];
        for (PetscInt q = j + 1; q < j0 + nb; q++)
          v -= Lj[q] * t[q];
        t[j] = v * dinv[j];
      }
    }
    for (PetscInt q = 0; q < w; q++)
      ys[q] = t[q];
  }
  for (PetscInt k = 0; k < c->n; k++)
    x[c->perm[k]] = y[k];
  PetscFunctionReturn(0);
}

PetscErrorCode McCholSolve(McChol c, Vec b, Vec x)
{
  const PetscScalar *bb;
  PetscScalar       *xx;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(b, &bb));
  PetscCall(VecGetArrayWrite(x, &xx));
  PetscCall(McCholSolveArray(c, bb, xx));
  PetscCall(VecRestoreArrayWrite(x, &xx));
  PetscCall(VecRestoreArrayRead(b, &bb));
  PetscFunctionReturn(0);
}
