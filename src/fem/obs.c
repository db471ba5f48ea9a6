/* The observation operator: point values of a finite-element field as one
 * sparse matrix B (row p holds the basis functions of the cell containing
 * point p, at that point), so B u and B^T v are single products. Points are
 * located once; the rows follow the input order on any number of ranks. */
#include "fem_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ObsTraverse(McObject *o, McVisitProc visit, void *arg)
{
  MC_VISIT(((McObsOperator)o)->space);
  return 0;
}

static void ObsClear(McObject *o)
{
  MC_CLEAR(((McObsOperator)o)->space);
}

static void ObsDealloc(McObject *o)
{
  McObsOperator obs = (McObsOperator)o;
  PetscCallAbort(PETSC_COMM_SELF, MatDestroy(&obs->B));
  PetscCallAbort(PETSC_COMM_SELF, PetscFree(obs->coords));
}

static const McType McObsOperatorType = {
    "McObsOperator", sizeof(struct _p_McObsOperator), NULL, ObsDealloc, ObsTraverse, ObsClear};

/* The local cell containing each point (-1 if none), found through cell
 * bounding boxes and then the reference coordinates of the candidates.
 * Points on a face or vertex count as inside (tolerance 1e-10 in reference
 * coordinates), so observations on the boundary are allowed. */
static PetscErrorCode LocateLocal(DM dm, PetscInt npoints, const PetscReal coords[], PetscInt cellOf[])
{
  PetscInt        dim, cStart, cEnd, ncells;
  PetscBool       simplex;
  PetscReal      *box;
  const PetscReal tol = 1e-10;

  PetscFunctionBeginUser;
  PetscCall(DMGetDimension(dm, &dim));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cStart, &cEnd));
  PetscCall(DMPlexIsSimplex(dm, &simplex));
  ncells = cEnd - cStart;
  PetscCall(PetscMalloc1(2 * dim * ncells, &box));
  for (PetscInt c = 0; c < ncells; c++) {
    PetscInt           nv;
    PetscBool          isDG;
    const PetscScalar *arr;
    PetscScalar       *xc = NULL;
    PetscReal         *lo = &box[2 * dim * c], *hi = lo + dim, h = 0;
    PetscCall(DMPlexGetCellCoordinates(dm, cStart + c, &isDG, &nv, &arr, &xc));
    for (PetscInt d = 0; d < dim; d++) {
      lo[d] = PETSC_MAX_REAL;
      hi[d] = PETSC_MIN_REAL;
    }
    for (PetscInt i = 0; i < nv / dim; i++)
      for (PetscInt d = 0; d < dim; d++) {
        lo[d] = PetscMin(lo[d], PetscRealPart(xc[i * dim + d]));
        hi[d] = PetscMax(hi[d], PetscRealPart(xc[i * dim + d]));
      }
    for (PetscInt d = 0; d < dim; d++)
      h = PetscMax(h, hi[d] - lo[d]);
    for (PetscInt d = 0; d < dim; d++) {
      lo[d] -= tol * h;
      hi[d] += tol * h;
    }
    PetscCall(DMPlexRestoreCellCoordinates(dm, cStart + c, &isDG, &nv, &arr, &xc));
  }
  for (PetscInt p = 0; p < npoints; p++) {
    const PetscReal *x = &coords[p * dim];
    cellOf[p] = -1;
    for (PetscInt c = 0; c < ncells && cellOf[p] < 0; c++) {
      const PetscReal *lo = &box[2 * dim * c], *hi = lo + dim;
      PetscBool        in = PETSC_TRUE;
      PetscReal        ref[3], sum = 0;
      for (PetscInt d = 0; d < dim; d++)
        if (x[d] < lo[d] || x[d] > hi[d]) in = PETSC_FALSE;
      if (!in) continue;
      PetscCall(DMPlexCoordinatesToReference(dm, cStart + c, 1, x, ref));
      for (PetscInt d = 0; d < dim; d++) {
        if (ref[d] < -1 - tol || (!simplex && ref[d] > 1 + tol)) in = PETSC_FALSE;
        sum += ref[d] + 1;
      }
      if (simplex && sum > 2 + tol) in = PETSC_FALSE;
      if (in) cellOf[p] = cStart + c;
    }
  }
  PetscCall(PetscFree(box));
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshLocatePoints(McMesh mesh, PetscInt npoints, const PetscReal coords[], PetscBool inside[])
{
  DM          dm;
  MPI_Comm    comm;
  PetscInt   *cellOf, *found;
  PetscMPIInt n;

  PetscFunctionBeginUser;
  PetscCall(McMeshGetDM(mesh, &dm));
  PetscCall(PetscObjectGetComm((PetscObject)dm, &comm));
  PetscCall(PetscMalloc2(npoints, &cellOf, npoints, &found));
  PetscCall(LocateLocal(dm, npoints, coords, cellOf));
  /* A distributed mesh: each rank holds only its cells, so a point is
   * inside if any rank finds it. */
  for (PetscInt p = 0; p < npoints; p++)
    found[p] = cellOf[p] >= 0;
  PetscCall(PetscMPIIntCast(npoints, &n));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, found, n, MPIU_INT, MPI_MAX, comm));
  for (PetscInt p = 0; p < npoints; p++)
    inside[p] = found[p] ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(PetscFree2(cellOf, found));
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorCreate(McSpace space, PetscInt npoints, const PetscReal coords[], McObsOperator *out)
{
  McObsOperator obs;
  DM            dm = space->dm;
  MPI_Comm      comm;
  PetscMPIInt   rank, size;
  PetscInt      dim, nb, nloc, N;
  Vec           gidx;
  PetscInt     *cellOf, *owner, *gowner;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)dm, &comm));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(DMGetDimension(dm, &dim));
  PetscCheck(npoints >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "need at least one observation point, got %" PetscInt_FMT,
             npoints);
  PetscCall(McObjectCreate(&McObsOperatorType, &obs));
  McIncref(space);
  obs->space = space;
  obs->npoints = npoints;
  PetscCall(PetscMalloc1(npoints * dim, &obs->coords));
  PetscCall(PetscArraycpy(obs->coords, coords, npoints * dim));

  /* Every rank searches its own cells for every point. */
  PetscCall(PetscMalloc3(npoints, &cellOf, npoints, &owner, npoints, &gowner));
  PetscCall(LocateLocal(dm, npoints, coords, cellOf));
  /* A point on a partition boundary is found by several ranks: the lowest
   * one evaluates it (any would give the same value). */
  for (PetscInt p = 0; p < npoints; p++)
    owner[p] = cellOf[p] >= 0 ? rank : size;
  PetscCall(MPIU_Allreduce(owner, gowner, npoints, MPIU_INT, MPI_MIN, comm));
  for (PetscInt p = 0; p < npoints; p++) {
    if (gowner[p] < size) continue;
    char xs[128];
    if (dim == 2)
      PetscCall(PetscSNPrintf(xs, sizeof(xs), "(%g, %g)", (double)coords[p * dim], (double)coords[p * dim + 1]));
    else
      PetscCall(PetscSNPrintf(xs, sizeof(xs), "(%g, %g, %g)", (double)coords[p * dim], (double)coords[p * dim + 1],
                              (double)coords[p * dim + 2]));
    PetscCall(PetscFree3(cellOf, owner, gowner));
    PetscCall(McObsOperatorDestroy(&obs));
    SETERRQ(comm, PETSC_ERR_ARG_OUTOFRANGE, "observation point %" PetscInt_FMT " at %s is outside the mesh", p, xs);
  }

  PetscCall(McFEGlobalIndexVector_Private(dm, &gidx));
  {
    Vec g;
    PetscCall(DMGetGlobalVector(dm, &g));
    PetscCall(VecGetLocalSize(g, &nloc));
    PetscCall(VecGetSize(g, &N));
    PetscCall(DMRestoreGlobalVector(dm, &g));
  }
  PetscCall(PetscFEGetDimension(space->fe, &nb));
  PetscCall(MatCreateAIJ(comm, PETSC_DECIDE, nloc, npoints, N, nb, NULL, nb, NULL, &obs->B));
  PetscCall(MatSetOption(obs->B, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
  for (PetscInt p = 0; p < npoints; p++) {
    PetscReal       ref[3];
    PetscTabulation T;
    PetscScalar    *vals = NULL, row[64];
    PetscInt        n, cols[64];
    if (gowner[p] != rank) continue;
    PetscCall(DMPlexCoordinatesToReference(dm, cellOf[p], 1, &coords[p * dim], ref));
    PetscCall(PetscFECreateTabulation(space->fe, 1, 1, ref, 0, &T));
    PetscCall(DMPlexVecGetClosure(dm, NULL, gidx, cellOf[p], &n, &vals));
    PetscCheck(n == nb && nb <= 64, PETSC_COMM_SELF, PETSC_ERR_PLIB, "unexpected closure size %" PetscInt_FMT, n);
    for (PetscInt i = 0; i < nb; i++) {
      cols[i] = (PetscInt)PetscRealPart(vals[i]);
      row[i] = T->T[0][i];
    }
    PetscCall(DMPlexVecRestoreClosure(dm, NULL, gidx, cellOf[p], &n, &vals));
    PetscCall(PetscTabulationDestroy(&T));
    PetscCall(MatSetValues(obs->B, 1, &p, nb, cols, row, INSERT_VALUES));
  }
  PetscCall(MatAssemblyBegin(obs->B, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(obs->B, MAT_FINAL_ASSEMBLY));
  PetscCall(VecDestroy(&gidx));
  PetscCall(PetscFree3(cellOf, owner, gowner));
  *out = obs;
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorDestroy(McObsOperator *obs)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(obs));
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorCreateVector(McObsOperator obs, Vec *d)
{
  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(obs->B, NULL, d));
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorApply(McObsOperator obs, Vec u, Vec d)
{
  PetscFunctionBeginUser;
  PetscCall(MatMult(obs->B, u, d));
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorApplyTranspose(McObsOperator obs, Vec d, Vec u)
{
  PetscFunctionBeginUser;
  PetscCall(MatMultTranspose(obs->B, d, u));
  PetscFunctionReturn(0);
}

PetscErrorCode McObsOperatorGetMatrix(McObsOperator obs, Mat *B)
{
  PetscFunctionBeginUser;
  *B = obs->B;
  PetscFunctionReturn(0);
}

/* Parses up to dim numbers from line into x; returns how many it found and,
 * in *junk, whether anything else was on the line. */
static int ParsePoint(char *line, int dim, PetscReal x[], int *junk)
{
  int   n = 0;
  char *p = line;
  *junk = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n')
      p++;
    if (!*p) break;
    char  *end;
    double v = strtod(p, &end);
    /* "nan", "inf" and overflowing numbers are not coordinates. */
    if (end == p || !isfinite(v)) {
      *junk = 1;
      break;
    }
    if (n < dim) x[n] = v;
    n++;
    p = end;
  }
  return n;
}

PetscErrorCode McObsReadPointsCSV(MPI_Comm comm, const char file[], PetscInt dim, PetscInt *npoints, PetscReal **coords)
{
  PetscMPIInt rank;
  char        err[PETSC_MAX_PATH_LEN + 256] = "";
  PetscInt    n = 0, cap = 0;
  PetscReal  *pts = NULL;

  PetscFunctionBeginUser;
  PetscCheck(dim >= 1 && dim <= 3, comm, PETSC_ERR_ARG_OUTOFRANGE, "dimension must be 1..3, got %" PetscInt_FMT, dim);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE *fp = fopen(file, "r");
    char  line[1024];
    int   lineno = 0;
    if (!fp) snprintf(err, sizeof(err), "observation points file '%s' cannot be opened (%s)", file, strerror(errno));
    while (fp && !err[0] && fgets(line, sizeof(line), fp)) {
      PetscReal x[3];
      int       junk, k;
      char     *s = line;
      lineno++;
      if (!strchr(line, '\n') && !feof(fp)) {
        snprintf(err, sizeof(err), "%s:%d: line longer than %d characters", file, lineno, (int)sizeof(line) - 2);
        break;
      }
      while (*s == ' ' || *s == '\t')
        s++;
      if (*s == '#' || *s == '\n' || *s == '\r' || !*s) continue;
      k = ParsePoint(s, (int)dim, x, &junk);
      if (junk && k == 0 && n == 0 && lineno == 1) continue; /* header */
      if (junk || k != dim) {
        line[strcspn(line, "\r\n")] = 0;
        snprintf(err, sizeof(err), "%s:%d: expected %d numbers (x%s), got '%.80s'", file, lineno, (int)dim,
                 dim == 1 ? "" : (dim == 2 ? ", y" : ", y, z"), line);
        break;
      }
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        PetscCall(PetscRealloc(sizeof(PetscReal) * cap * dim, &pts));
      }
      for (int d = 0; d < dim; d++)
        pts[n * dim + d] = x[d];
      n++;
    }
    if (fp) fclose(fp);
    if (!err[0] && n == 0) snprintf(err, sizeof(err), "observation points file '%s' holds no points", file);
  }
  PetscCallMPI(MPI_Bcast(err, sizeof(err), MPI_CHAR, 0, comm));
  if (err[0]) {
    PetscCall(PetscFree(pts));
    SETERRQ(comm, PETSC_ERR_FILE_READ, "%s", err);
  }
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, comm));
  if (rank != 0) PetscCall(PetscMalloc1(n * dim, &pts));
  PetscCallMPI(MPI_Bcast(pts, (int)(n * dim), MPIU_REAL, 0, comm));
  *npoints = n;
  *coords = pts;
  PetscFunctionReturn(0);
}
