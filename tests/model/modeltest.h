/* Shared by the model tests: a failure counter with a check that prints
 * both values and the tolerance, and the unit-square triangle mesh most of
 * them use. */
#pragma once

#include "model/model.h"
#include "obj/obj.h"

#include <math.h>

static int failures;

/* |got - want| <= tol, reported either way on rank 0 (NaN fails). */
static inline PetscErrorCode Expect(const char *what, double got, double want, double tol)
{
  PetscFunctionBeginUser;
  if (!(fabs(got - want) <= tol)) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL %s: got %.12g, expected %.12g (tolerance %.3g)\n", what, got, want, tol));
    failures++;
  } else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "ok   %s: %.8g (expected %.8g +- %.3g)\n", what, got, want, tol));
  PetscFunctionReturn(0);
}

/* The unit square in n x n squares, each split into two triangles, and its
 * P1 space (borrowed from the mesh). Ownership: *mesh is a new reference. */
static inline PetscErrorCode UnitSquare(MPI_Comm comm, PetscInt n, McMesh *mesh, McSpace *space)
{
  McMeshSpec ms;

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim      = 2;
  ms.cells[0] = ms.cells[1] = n;
  ms.simplex  = PETSC_TRUE;
  PetscCall(McMeshCreate(comm, &ms, mesh));
  PetscCall(McMeshGetSpace(*mesh, 1, space));
  PetscFunctionReturn(0);
}
