/* Shared helpers of the fem tests: assertions that print both values.
 * Under MPI a check may fail on one rank only: CHECK prints on the rank
 * that sees it, and CollectAndCheck (called by every test before its
 * PASSED/FAILED line, which rank 0 prints) sums the failures over all
 * ranks, since CTest's pass regex ignores the other ranks' exit codes. */
#ifndef MC_FEM_TEST_H
#define MC_FEM_TEST_H

#include "fem/fem.h"
#include "obj/obj.h"

#include <stdio.h>

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "FAIL %s:%d: ", __FILE__, __LINE__));                                     \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, __VA_ARGS__));                                                            \
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n"));                                                                   \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static int failures = 0;

/* A box mesh spec. */
static inline McMeshSpec BoxSpec(PetscInt dim, PetscInt n, PetscBool simplex)
{
  McMeshSpec s;
  McMeshSpecDefault(&s);
  s.dim = dim;
  s.simplex = simplex;
  for (PetscInt d = 0; d < 3; d++)
    s.cells[d] = n;
  return s;
}

/* Collects the mesh <-> space cycles and checks that no fem object is
 * left alive: every test ends with it, before PetscFinalize. */
static inline PetscErrorCode CollectAndCheck(void)
{
  McMemUsage         u;
  static const char *types[] = {"McMesh", "McSpace", "McForward", "McObsOperator"};

  PetscFunctionBeginUser;
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetUsage(&u));
  for (int i = 0; i < 4; i++)
    CHECK(McMemUsageLive(&u, types[i]) == 0, "%lld %s objects alive after a full collection",
          (long long)McMemUsageLive(&u, types[i]), types[i]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscFunctionReturn(0);
}

#endif
