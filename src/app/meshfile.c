/* The problem's mesh as plain arrays for the output's mesh file and XDMF
 * side-car: vertex coordinates in the order of the P1 parameter vector (so
 * that row i of the mesh file carries value i of every stored field) and
 * each cell's vertices in XDMF/VTK corner order. */
#include "app/app.h"

#include <petscdmplex.h>

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
    PetscInt      *closure = NULL, n, k = 0, verts[8];
    DMPolytopeType ct;
    PetscCall(DMPlexGetCellType(dm, c, &ct));
    PetscCall(DMPlexGetTransitiveClosure(dm, c, PETSC_TRUE, &n, &closure));
    for (PetscInt i = 0; i < n; i++) {
      PetscInt p = closure[2 * i];
      if (p >= vs && p < ve && k < 8) verts[k++] = p;
    }
    PetscCall(DMPlexRestoreTransitiveClosure(dm, c, PETSC_TRUE, &n, &closure));
    if (corners < 0) {
      corners = k;
      PetscCall(McMalloc(sizeof(int64_t) * (size_t)(corners * (ce - cs)), cells));
    }
    PetscCheck(k == corners, PETSC_COMM_SELF, PETSC_ERR_SUP, "mesh file: mixed cell types (%d and %d vertices)",
               (int)corners, (int)k);
    /* Plex orders tetrahedra and hexahedra with outward-facing first faces;
     * XDMF (VTK) wants the other orientation. */
    PetscCall(DMPlexInvertCell(ct, verts));
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
