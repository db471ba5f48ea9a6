/* PETSc's allocations through the counting hooks (installed before
 * PetscInitialize): a VecCreate/VecDestroy loop is counted and its bytes
 * return to the baseline; a loop over preallocated vectors allocates
 * nothing, in PETSc or in the project; a leaked Vec fails McMemCheck with
 * the PETSc bytes named. */
#include "objtest.h"

#include <petscvec.h>

#define N 1000

/* One steady-state iteration on preallocated vectors. */
static PetscErrorCode Step(Vec x, Vec y, Vec w)
{
  PetscScalar dot;
  PetscReal   nrm;

  PetscFunctionBeginUser;
  PetscCall(VecAXPY(y, 1e-3, x));
  PetscCall(VecWAXPY(w, -1.0, x, y));
  PetscCall(VecPointwiseMult(w, w, x));
  PetscCall(VecDot(w, x, &dot));
  PetscCall(VecNorm(w, NORM_2, &nrm));
  PetscCall(VecScale(w, 1.0 / (nrm + 1.0 + PetscAbsScalar(dot))));
  PetscCall(VecCopy(w, y));
  PetscCall(VecSwap(x, w)); /* accepting a proposal swaps, never copies */
  PetscFunctionReturn(0);
}

static PetscErrorCode Run(void)
{
  McMemUsage u0, u1;
  Vec        v, x, y, w, leak;
  PetscInt64 p0, p1, q0, q1, one;
  PetscBool  ok;
  int        nbad = 0;
  char       report[2048];

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u0));
  CHECK(u0.petsc_hooked);
  CHECK(u0.petsc_allocs > 0); /* PetscInitialize itself allocated through us */
  CHECK(u0.petsc_bytes > 0);

  /* warm-up: the first VecCreate registers the class, which stays */
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &v));
  PetscCall(VecDestroy(&v));

  /* one iteration's count, then 100: the same number each time */
  PetscCall(McMemGetUsage(&u0));
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &v));
  PetscCall(McMemGetUsage(&u1));
  CHECK(u1.petsc_bytes - u0.petsc_bytes >= N * (PetscInt64)sizeof(PetscScalar)); /* the array at least */
  PetscCall(VecSet(v, 1.0));
  PetscCall(VecDestroy(&v));
  PetscCall(McMemGetUsage(&u1));
  one = u1.petsc_allocs - u0.petsc_allocs;
  CHECK(one > 0);
  CHECK_INT(u1.petsc_bytes, u0.petsc_bytes);
  CHECK_INT(u1.petsc_blocks, u0.petsc_blocks);
  PetscCall(McMemGetUsage(&u0));
  for (int i = 0; i < 100; i++) {
    PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &v));
    PetscCall(VecSet(v, (PetscScalar)i));
    PetscCall(VecDestroy(&v));
  }
  PetscCall(McMemGetUsage(&u1));
  CHECK_INT(u1.petsc_allocs - u0.petsc_allocs, 100 * one);
  CHECK_INT(u1.petsc_bytes, u0.petsc_bytes);
  CHECK_INT(u1.petsc_blocks, u0.petsc_blocks);
  printf("VecCreateSeq+VecDestroy: %lld PETSc allocations each, bytes back to baseline\n", (long long)one);

  /* steady state: preallocated vectors, zero allocations of either kind */
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, N, &x));
  PetscCall(VecDuplicate(x, &y));
  PetscCall(VecDuplicate(x, &w));
  PetscCall(VecSet(x, 1.0));
  PetscCall(VecSet(y, 2.0));
  /* warm-up: a first call of some operations allocates once and keeps it */
  PetscCall(Step(x, y, w));
  PetscCall(McMemSetBaseline());
  PetscCall(McMemAllocCount(&p0, &q0));
  for (int i = 0; i < 1000; i++) {
    PetscCall(Step(x, y, w));
    PetscCall(McMemCheck(0, 0, &ok, NULL, 0));
    if (!ok) nbad++;
  }
  PetscCall(McMemAllocCount(&p1, &q1));
  CHECK_INT(p1 - p0, 0);
  CHECK_INT(q1 - q0, 0);
  CHECK_INT(nbad, 0);

  /* a leaked Vec: the check fails and names PETSc's bytes */
  PetscCall(VecDuplicate(x, &leak));
  PetscCall(McMemAllocCount(&p1, &q1));
  CHECK(q1 - q0 > 0); /* the counter does move when PETSc allocates */
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(!ok);
  CHECK_CONTAINS(report, "  PETSc bytes: ");
  CHECK(!strstr(report, "project bytes"));
  printf("a leaked Vec:\n%s", report);
  PetscCall(VecDestroy(&leak));
  PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
  CHECK(ok);

  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&w));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  ierr = McMemInstallPetscHooks();
  if (ierr) return 1;
  ierr = PetscInitialize(&argc, &argv, NULL, NULL);
  if (ierr) return 1;
  ierr = Run();
  if (ierr) printf("FAIL: error %d\n", (int)ierr);
  /* hooks after PetscInitialize are refused (PETSc's blocks would be freed
   * by the wrong allocator) */
  if (!ierr) {
    PetscErrorCode e2;
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    e2 = McMemInstallPetscHooks();
    PetscCall(PetscPopErrorHandler());
    CHECK_INT(e2, PETSC_ERR_ORDER);
  }
  printf("%d failures\n", failures);
  if (PetscFinalize()) return 1;
  return ierr || failures != 0;
}
