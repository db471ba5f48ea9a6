/* The natural numbering of a distributed mesh and of its P1 vectors.
 *
 * DMPlexDistribute renumbers the mesh's points per partition, so entry i of
 * a global vector is a different vertex on 1, 2 or 3 ranks. Whatever must
 * not depend on the layout -- random draws, the output file, checkpoints --
 * goes through the natural numbering instead: the numbering of the mesh as
 * built before distribution (on one rank), which is also the numbering a
 * one-rank run uses. The migration SF of DMPlexDistribute carries each
 * point's serial number to its new place; a P1 space (one value per vertex)
 * then knows the natural index of each entry it owns. (PETSc's own
 * DMSetUseNatural needs the field's section before distribution; here the
 * spaces are made afterwards, on the distributed mesh.)
 *
 * The map hangs on the point SF of the space's DM (a composed
 * PetscContainer): DMClone shares that one, so every vector created from
 * the space's DM or any clone of it (the prior's), and every duplicate of
 * one, finds it through VecGetDM. Only P1 fields have a map; a vector of
 * another size on such a DM is refused. Everything a gather needs is
 * allocated with the map: using it allocates nothing. */
#include "fem_impl.h"

#include <string.h>

#define MC_NATURAL_KEY "McNaturalMap"

typedef struct {
  PetscInt   N, n;  /* global size, entries owned here */
  PetscInt  *nat;   /* [n] natural index of owned entry i */
  PetscInt  *order; /* [n] owned entries by increasing natural index */
  PetscInt  *snat;  /* [n] nat[order[k]] */
  PetscInt  *perm;  /* [N] on rank 0: natural index of global entry g; NULL elsewhere */
  VecScatter toz;   /* global vector -> rank 0 (global order) */
  Vec        zero;  /* its target: N entries on rank 0, none elsewhere */
} NaturalMap;

PetscErrorCode McMeshSetNatural_Private(McMesh me, DM serial, PetscSF migration)
{
  PetscInt        ps, pe, qs, qe, nleaves, nroots, bounds[4] = {0, 0, 0, 0};
  const PetscInt *ilocal;
  PetscInt       *root, *leaf;
  PetscMPIInt     rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(me->comm, &rank));
  PetscCall(DMPlexGetChart(serial, &ps, &pe));
  /* Meshes are built on the first rank and distributed from there: its
   * point numbers are the serial mesh's. */
  PetscCheck(rank == 0 || pe == ps, PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "mesh %s: rank %d holds %d points before distribution; the natural numbering needs the whole mesh on "
             "the first rank",
             me->desc, (int)rank, (int)(pe - ps));
  if (rank == 0) {
    PetscCall(DMPlexGetDepthStratum(serial, 0, &bounds[0], &bounds[1]));
    PetscCall(DMPlexGetHeightStratum(serial, 0, &bounds[2], &bounds[3]));
  }
  PetscCallMPI(MPI_Bcast(bounds, 4, MPIU_INT, 0, me->comm));
  me->nat_vs = bounds[0];
  me->nat_nv = bounds[1] - bounds[0];
  me->nat_cs = bounds[2];
  me->nat_nc = bounds[3] - bounds[2];
  PetscCall(DMPlexGetChart(me->dm, &qs, &qe));
  PetscCall(PetscSFGetGraph(migration, &nroots, &nleaves, &ilocal, NULL));
  PetscCall(PetscMalloc1(pe - ps + 1, &root));
  for (PetscInt p = ps; p < pe; p++)
    root[p - ps] = p;
  PetscCall(PetscMalloc1(qe - qs + 1, &leaf));
  for (PetscInt q = qs; q < qe; q++)
    leaf[q - qs] = -1;
  PetscCheck(nleaves <= qe - qs, PETSC_COMM_SELF, PETSC_ERR_PLIB, "migration SF has %d leaves for %d points",
             (int)nleaves, (int)(qe - qs));
  PetscCall(PetscSFBcastBegin(migration, MPIU_INT, root, leaf, MPI_REPLACE));
  PetscCall(PetscSFBcastEnd(migration, MPIU_INT, root, leaf, MPI_REPLACE));
  PetscCall(PetscFree(root));
  me->nat_point = leaf;
  PetscFunctionReturn(0);
}

PetscErrorCode McMeshGetNatural(McMesh mesh, const PetscInt **point, PetscInt *vstart, PetscInt *nv, PetscInt *cstart,
                                PetscInt *nc)
{
  PetscFunctionBeginUser;
  *point = mesh->nat_point;
  if (vstart) *vstart = mesh->nat_vs;
  if (nv) *nv = mesh->nat_nv;
  if (cstart) *cstart = mesh->nat_cs;
  if (nc) *nc = mesh->nat_nc;
  PetscFunctionReturn(0);
}

static PetscErrorCode NaturalMapDestroy(void *ctx)
{
  NaturalMap *m = ctx;

  PetscFunctionBeginUser;
  PetscCall(PetscFree3(m->nat, m->order, m->snat));
  PetscCall(PetscFree(m->perm));
  PetscCall(VecScatterDestroy(&m->toz));
  PetscCall(VecDestroy(&m->zero));
  PetscCall(PetscFree(m));
  PetscFunctionReturn(0);
}

PetscErrorCode McSpaceSetUpNatural_Private(McSpace sp)
{
  McMesh         me = sp->mesh;
  NaturalMap    *m;
  PetscSection   gsec;
  PetscInt       vs, ve, lo, hi;
  PetscMPIInt    size, rank;
  Vec            v;
  PetscContainer cont;
  PetscMPIInt   *cnt = NULL, *dsp = NULL;

  PetscFunctionBeginUser;
  if (!me->nat_point || sp->order != 1) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_size(me->comm, &size));
  PetscCallMPI(MPI_Comm_rank(me->comm, &rank));
  PetscCall(PetscNew(&m));
  PetscCall(DMCreateGlobalVector(sp->dm, &v));
  PetscCall(VecGetSize(v, &m->N));
  PetscCall(VecGetOwnershipRange(v, &lo, &hi));
  m->n = hi - lo;
  PetscCheck(m->N == me->nat_nv, me->comm, PETSC_ERR_PLIB, "P1 space of %d values on a mesh of %d vertices", (int)m->N,
             (int)me->nat_nv);
  PetscCall(PetscMalloc3(m->n + 1, &m->nat, m->n + 1, &m->order, m->n + 1, &m->snat));
  PetscCall(DMGetGlobalSection(sp->dm, &gsec));
  PetscCall(DMPlexGetDepthStratum(sp->dm, 0, &vs, &ve));
  for (PetscInt i = 0; i < m->n; i++)
    m->nat[i] = -1;
  for (PetscInt p = vs; p < ve; p++) {
    PetscInt dof, off, orig;
    PetscCall(PetscSectionGetDof(gsec, p, &dof));
    PetscCall(PetscSectionGetOffset(gsec, p, &off));
    if (dof <= 0 || off < 0) continue; /* a ghost: owned by another rank */
    orig = me->nat_point[p];
    PetscCheck(dof == 1 && off >= lo && off < hi && orig >= me->nat_vs && orig < me->nat_vs + me->nat_nv,
               PETSC_COMM_SELF, PETSC_ERR_PLIB, "vertex %d: %d values at %d, serial point %d: not a P1 vertex", (int)p,
               (int)dof, (int)off, (int)orig);
    m->nat[off - lo] = orig - me->nat_vs;
  }
  for (PetscInt i = 0; i < m->n; i++) {
    PetscCheck(m->nat[i] >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "entry %d of the P1 space has no vertex",
               (int)(lo + i));
    m->order[i] = i;
    m->snat[i] = m->nat[i];
  }
  PetscCall(PetscSortIntWithArray(m->n, m->snat, m->order));
  /* Rank 0's permutation: the ranks' nat arrays in rank order are the
   * global order (ownership ranges are contiguous and increasing). */
  if (rank == 0) {
    const PetscInt *ranges;
    PetscCall(PetscMalloc1(m->N + 1, &m->perm));
    PetscCall(PetscMalloc2(size, &cnt, size, &dsp));
    PetscCall(VecGetOwnershipRanges(v, &ranges));
    for (PetscMPIInt q = 0; q < size; q++) {
      cnt[q] = (PetscMPIInt)(ranges[q + 1] - ranges[q]);
      dsp[q] = (PetscMPIInt)ranges[q];
    }
  }
  PetscCallMPI(MPI_Gatherv(m->nat, (PetscMPIInt)m->n, MPIU_INT, m->perm, cnt, dsp, MPIU_INT, 0, me->comm));
  PetscCall(PetscFree2(cnt, dsp));
  PetscCall(VecScatterCreateToZero(v, &m->toz, &m->zero));
  PetscCall(VecDestroy(&v));
  PetscCall(PetscContainerCreate(PETSC_COMM_SELF, &cont));
  PetscCall(PetscContainerSetPointer(cont, m));
  PetscCall(PetscContainerSetUserDestroy(cont, NaturalMapDestroy));
  {
    PetscSF psf;
    PetscCall(DMGetPointSF(sp->dm, &psf));
    PetscCall(PetscObjectCompose((PetscObject)psf, MC_NATURAL_KEY, (PetscObject)cont));
  }
  PetscCall(PetscContainerDestroy(&cont));
  PetscFunctionReturn(0);
}

/* v's natural map; NULL when it has none. *plain: the global order is the
 * natural one (one rank, or a vector not laid out by a mesh). */
static PetscErrorCode GetMap(Vec v, NaturalMap **map, PetscBool *plain)
{
  DM             dm;
  PetscSF        psf = NULL;
  PetscContainer cont = NULL;
  PetscMPIInt    size;
  PetscInt       N, n;

  PetscFunctionBeginUser;
  *map = NULL;
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)v), &size));
  *plain = size == 1 ? PETSC_TRUE : PETSC_FALSE;
  if (size == 1) PetscFunctionReturn(0);
  PetscCall(VecGetDM(v, &dm));
  if (!dm) {
    *plain = PETSC_TRUE; /* a layout of its own (observations, coefficients): not the mesh's */
    PetscFunctionReturn(0);
  }
  PetscCall(DMGetPointSF(dm, &psf));
  if (psf) PetscCall(PetscObjectQuery((PetscObject)psf, MC_NATURAL_KEY, (PetscObject *)&cont));
  if (cont) {
    PetscCall(PetscContainerGetPointer(cont, (void **)map));
    PetscCall(VecGetSize(v, &N));
    PetscCall(VecGetLocalSize(v, &n));
    if (N != (*map)->N || n != (*map)->n) *map = NULL; /* not the P1 field */
  }
  PetscCheck(*map, PetscObjectComm((PetscObject)v), PETSC_ERR_SUP,
             "this vector of a distributed mesh has no natural numbering: only P1 fields have one");
  PetscFunctionReturn(0);
}

PetscErrorCode McVecFillNatural(Vec v, double (*next)(void *), void *ctx)
{
  NaturalMap  *m;
  PetscBool    plain;
  PetscInt     N, lo, hi;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(GetMap(v, &m, &plain));
  PetscCall(VecGetSize(v, &N));
  PetscCall(VecGetArrayWrite(v, &a));
  if (m) {
    for (PetscInt j = 0, k = 0; j < N; j++) {
      const double z = next(ctx);
      if (k < m->n && m->snat[k] == j) a[m->order[k++]] = z;
    }
  } else {
    PetscCall(VecGetOwnershipRange(v, &lo, &hi));
    for (PetscInt j = 0; j < N; j++) {
      const double z = next(ctx);
      if (j >= lo && j < hi) a[j - lo] = z;
    }
  }
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode McVecGatherNatural(Vec v, PetscScalar *dst)
{
  NaturalMap        *m;
  PetscBool          plain;
  PetscMPIInt        rank, size;
  const PetscScalar *a;
  PetscInt           N;

  PetscFunctionBeginUser;
  PetscCall(GetMap(v, &m, &plain));
  PetscCallMPI(MPI_Comm_rank(PetscObjectComm((PetscObject)v), &rank));
  PetscCallMPI(MPI_Comm_size(PetscObjectComm((PetscObject)v), &size));
  PetscCall(VecGetSize(v, &N));
  if (size == 1) {
    PetscCall(VecGetArrayRead(v, &a));
    if (N) PetscCall(PetscArraycpy(dst, a, N));
    PetscCall(VecRestoreArrayRead(v, &a));
  } else if (m) {
    PetscCall(VecScatterBegin(m->toz, v, m->zero, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(m->toz, v, m->zero, INSERT_VALUES, SCATTER_FORWARD));
    if (rank == 0) {
      PetscCall(VecGetArrayRead(m->zero, &a));
      for (PetscInt g = 0; g < N; g++)
        dst[m->perm[g]] = a[g];
      PetscCall(VecRestoreArrayRead(m->zero, &a));
    }
  } else { /* set-up only: a scatter of its own */
    VecScatter sc;
    Vec        z;
    PetscCall(VecScatterCreateToZero(v, &sc, &z));
    PetscCall(VecScatterBegin(sc, v, z, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(sc, v, z, INSERT_VALUES, SCATTER_FORWARD));
    if (rank == 0) {
      PetscCall(VecGetArrayRead(z, &a));
      if (N) PetscCall(PetscArraycpy(dst, a, N));
      PetscCall(VecRestoreArrayRead(z, &a));
    }
    PetscCall(VecScatterDestroy(&sc));
    PetscCall(VecDestroy(&z));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McVecSetNatural(Vec v, const PetscScalar *src)
{
  NaturalMap  *m;
  PetscBool    plain;
  PetscInt     lo, hi;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(GetMap(v, &m, &plain));
  PetscCall(VecGetOwnershipRange(v, &lo, &hi));
  PetscCall(VecGetArrayWrite(v, &a));
  if (m)
    for (PetscInt i = 0; i < m->n; i++)
      a[i] = src[m->nat[i]];
  else
    for (PetscInt i = lo; i < hi; i++)
      a[i - lo] = src[i];
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}
