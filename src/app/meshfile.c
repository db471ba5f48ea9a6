/* The problem's mesh as plain arrays for the output's mesh file and XDMF
 * side-car: vertex coordinates in the order of the P1 parameter vector (so
 * that row i of the mesh file carries value i of every stored field) and
 * each cell's vertices in XDMF/VTK corner order. On a mesh distributed over
 * a chain's group, both come in the natural numbering (the serial mesh's
 * vertices and cells), gathered on every rank of the group: the same
 * arrays as on one rank. */
#include "app/app.h"

#include <petscdmplex.h>

/* Cell c's vertices (points in [vs, ve)) in XDMF/VTK corner order: Plex
 * orders tetrahedra and hexahedra with outward-facing first faces, XDMF
 * the other way. *k: how many (at most 8 are kept). */
static PetscErrorCode CellCorners(DM dm, PetscInt c, PetscInt vs, PetscInt ve, PetscInt verts[8], PetscInt *k)
{
  PetscInt      *closure = NULL, np;
  DMPolytopeType ct;

  PetscFunctionBeginUser;
  *k = 0;
  PetscCall(DMPlexGetCellType(dm, c, &ct));
  PetscCall(DMPlexGetTransitiveClosure(dm, c, PETSC_TRUE, &np, &closure));
  for (PetscInt i = 0; i < np; i++) {
    PetscInt p = closure[2 * i];
    if (p >= vs && p < ve && *k < 8) verts[(*k)++] = p;
  }
  PetscCall(DMPlexRestoreTransitiveClosure(dm, c, PETSC_TRUE, &np, &closure));
  PetscCall(DMPlexInvertCell(ct, verts));
  PetscFunctionReturn(0);
}

/* The distributed mesh: each rank contributes the vertices it owns (their
 * natural index and coordinates) and its cells (no overlap: each cell lives
 * on one rank; its natural index and its corners' natural indices). */
static PetscErrorCode GatherMesh(McProblem *pb, McSpace space, DM dm, McOutputMesh *m, double **coords, int64_t **cells)
{
  McMesh             mesh;
  const PetscInt    *nat;
  PetscInt           vs0, nv, cs0, nc, dim, vs, ve, cs, ce, corners = 0, lv = 0;
  PetscSection       sec, csec;
  Vec                cl;
  const PetscScalar *ca;
  double            *vrec, *vall;
  int64_t           *crec, *call;
  PetscMPIInt        size, *cnt, *dsp, n, lcorners, gcorners;

  PetscFunctionBeginUser;
  PetscCall(McSpaceGetMesh(space, &mesh));
  PetscCall(McMeshGetNatural(mesh, &nat, &vs0, &nv, &cs0, &nc));
  PetscCallMPI(MPI_Comm_size(pb->comm, &size));
  PetscCall(DMGetDimension(dm, &dim));
  PetscCall(DMPlexGetDepthStratum(dm, 0, &vs, &ve));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cs, &ce));
  PetscCall(DMGetGlobalSection(dm, &sec));
  PetscCall(DMGetCoordinatesLocal(dm, &cl));
  PetscCall(DMGetCoordinateSection(dm, &csec));
  PetscCall(PetscMalloc1((size_t)(ve - vs) * (size_t)(dim + 1) + 1, &vrec));
  PetscCall(VecGetArrayRead(cl, &ca));
  for (PetscInt v = vs; v < ve; v++) {
    PetscInt dof, off, coff;
    PetscCall(PetscSectionGetDof(sec, v, &dof));
    PetscCall(PetscSectionGetOffset(sec, v, &off));
    if (dof <= 0 || off < 0) continue; /* owned by another rank */
    PetscCall(PetscSectionGetOffset(csec, v, &coff));
    vrec[lv * (dim + 1)] = (double)(nat[v] - vs0);
    for (PetscInt d = 0; d < dim; d++) vrec[lv * (dim + 1) + 1 + d] = PetscRealPart(ca[coff + d]);
    lv++;
  }
  PetscCall(VecRestoreArrayRead(cl, &ca));
  for (PetscInt c = cs; c < ce && !corners; c++) {
    PetscInt *closure = NULL, np;
    PetscCall(DMPlexGetTransitiveClosure(dm, c, PETSC_TRUE, &np, &closure));
    for (PetscInt i = 0; i < np; i++) corners += closure[2 * i] >= vs && closure[2 * i] < ve;
    PetscCall(DMPlexRestoreTransitiveClosure(dm, c, PETSC_TRUE, &np, &closure));
  }
  lcorners = (PetscMPIInt)corners;
  PetscCallMPI(MPI_Allreduce(&lcorners, &gcorners, 1, MPI_INT, MPI_MAX, pb->comm));
  corners = gcorners;
  PetscCheck(corners >= 1 && corners <= 8, PETSC_COMM_SELF, PETSC_ERR_SUP, "mesh file: cells of %d vertices",
             (int)corners);
  PetscCall(PetscMalloc1((size_t)(ce - cs) * (size_t)(corners + 1) + 1, &crec));
  for (PetscInt c = cs; c < ce; c++) {
    PetscInt k, verts[8];
    PetscCall(CellCorners(dm, c, vs, ve, verts, &k));
    PetscCheck(k == corners, PETSC_COMM_SELF, PETSC_ERR_SUP, "mesh file: mixed cell types (%d and %d vertices)",
               (int)corners, (int)k);
    crec[(c - cs) * (corners + 1)] = nat[c] - cs0;
    for (PetscInt j = 0; j < k; j++) crec[(c - cs) * (corners + 1) + 1 + j] = nat[verts[j]] - vs0;
  }
  PetscCall(PetscMalloc2(size, &cnt, size, &dsp));
  PetscCall(PetscMalloc1((size_t)nv * (size_t)(dim + 1) + 1, &vall));
  PetscCall(PetscMalloc1((size_t)nc * (size_t)(corners + 1) + 1, &call));
  n = (PetscMPIInt)(lv * (dim + 1));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, pb->comm));
  dsp[0] = 0;
  for (PetscMPIInt q = 1; q < size; q++) dsp[q] = dsp[q - 1] + cnt[q - 1];
  PetscCheck(dsp[size - 1] + cnt[size - 1] == nv * (dim + 1), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "mesh file: %d vertex values gathered, expected %d", (int)(dsp[size - 1] + cnt[size - 1]),
             (int)(nv * (dim + 1)));
  PetscCallMPI(MPI_Allgatherv(vrec, n, MPI_DOUBLE, vall, cnt, dsp, MPI_DOUBLE, pb->comm));
  n = (PetscMPIInt)((ce - cs) * (corners + 1));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, cnt, 1, MPI_INT, pb->comm));
  for (PetscMPIInt q = 1; q < size; q++) dsp[q] = dsp[q - 1] + cnt[q - 1];
  PetscCheck(dsp[size - 1] + cnt[size - 1] == nc * (corners + 1), PETSC_COMM_SELF, PETSC_ERR_PLIB,
             "mesh file: %d cell values gathered, expected %d", (int)(dsp[size - 1] + cnt[size - 1]),
             (int)(nc * (corners + 1)));
  PetscCallMPI(MPI_Allgatherv(crec, n, MPI_INT64_T, call, cnt, dsp, MPI_INT64_T, pb->comm));
  PetscCall(McMalloc(sizeof(double) * (size_t)(dim * nv), coords));
  PetscCall(McMalloc(sizeof(int64_t) * (size_t)(corners * nc), cells));
  for (PetscInt i = 0; i < nv; i++) {
    PetscInt row = (PetscInt)vall[i * (dim + 1)];
    for (PetscInt d = 0; d < dim; d++) (*coords)[row * dim + d] = vall[i * (dim + 1) + 1 + d];
  }
  for (PetscInt i = 0; i < nc; i++) {
    int64_t row = call[i * (corners + 1)];
    for (PetscInt j = 0; j < corners; j++) (*cells)[row * corners + j] = call[i * (corners + 1) + 1 + j];
  }
  PetscCall(PetscFree(vrec));
  PetscCall(PetscFree(crec));
  PetscCall(PetscFree(vall));
  PetscCall(PetscFree(call));
  PetscCall(PetscFree2(cnt, dsp));
  m->dim = dim;
  m->nvertices = nv;
  m->coords = *coords;
  m->ncells = nc;
  m->corners = corners;
  m->cells = *cells;
  PetscFunctionReturn(0);
}

PetscErrorCode McProblemGetMesh(McProblem *pb, McOutputMesh *m, double **coords, int64_t **cells)
{
  McSpace            space;
  DM                 dm;
  PetscSection       sec, csec;
  Vec                cl;
  const PetscScalar *ca;
  PetscInt           dim, vs, ve, cs, ce, corners = -1, nv;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(pb->m0, &nv)); /* the field's values (the sampler's parameters may be KL coordinates) */
  PetscCall(McForwardGetParameterSpace(pb->fw, &space));
  PetscCall(McSpaceGetDM(space, &dm));
  {
    McMesh          mesh;
    const PetscInt *nat;
    PetscCall(McSpaceGetMesh(space, &mesh));
    PetscCall(McMeshGetNatural(mesh, &nat, NULL, NULL, NULL, NULL));
    if (nat) {
      PetscCall(GatherMesh(pb, space, dm, m, coords, cells));
      PetscFunctionReturn(0);
    }
  }
  PetscCall(DMGetDimension(dm, &dim));
  PetscCall(DMPlexGetDepthStratum(dm, 0, &vs, &ve));
  PetscCall(DMPlexGetHeightStratum(dm, 0, &cs, &ce));
  PetscCheck(ve - vs == nv, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "mesh file: %d vertices but %d field values (the mesh file needs a P1 parameter field)", (int)(ve - vs),
             (int)nv);
  PetscCall(DMGetGlobalSection(dm, &sec));
  PetscCall(DMGetCoordinatesLocal(dm, &cl));
  PetscCall(DMGetCoordinateSection(dm, &csec));
  PetscCall(McMalloc(sizeof(double) * (size_t)(dim * (ve - vs)), coords));
  PetscCall(VecGetArrayRead(cl, &ca));
  for (PetscInt v = vs; v < ve; v++) {
    PetscInt dof, row, coff;
    PetscCall(PetscSectionGetDof(sec, v, &dof));
    PetscCall(PetscSectionGetOffset(sec, v, &row));
    PetscCheck(dof == 1 && row >= 0 && row < nv, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "vertex %d: %d parameter values at offset %d (expected one, serial)", (int)v, (int)dof, (int)row);
    PetscCall(PetscSectionGetOffset(csec, v, &coff));
    for (PetscInt d = 0; d < dim; d++) (*coords)[row * dim + d] = PetscRealPart(ca[coff + d]);
  }
  PetscCall(VecRestoreArrayRead(cl, &ca));
  for (PetscInt c = cs; c < ce; c++) {
    PetscInt k, verts[8];
    PetscCall(CellCorners(dm, c, vs, ve, verts, &k));
    if (corners < 0) {
      corners = k;
      PetscCall(McMalloc(sizeof(int64_t) * (size_t)(corners * (ce - cs)), cells));
    }
    PetscCheck(k == corners, PETSC_COMM_SELF, PETSC_ERR_SUP, "mesh file: mixed cell types (%d and %d vertices)",
               (int)corners, (int)k);
    for (PetscInt j = 0; j < k; j++) {
      PetscInt row;
      PetscCall(PetscSectionGetOffset(sec, verts[j], &row));
      (*cells)[(c - cs) * corners + j] = row;
    }
  }
  m->dim = dim;
  m->nvertices = ve - vs;
  m->coords = *coords;
  m->ncells = ce - cs;
  m->corners = corners;
  m->cells = *cells;
  PetscFunctionReturn(0);
}
