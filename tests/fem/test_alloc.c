/* After set-up, 1000 forward steps (re-assembly, refactorisation, solve,
 * observation, misfit, adjoint gradient) allocate nothing through PETSc:
 * counted by our own PetscMallocSet hooks, installed before PetscInitialize
 * so every PETSc allocation passes them.
 *
 * With MUMPS (-expect_zero) the count must be exactly zero. With PETSc's own
 * Cholesky (the default up to ~20k dofs) its numeric factorisation takes one
 * workspace block per call and frees it before returning
 * (MatCholeskyFactorNumeric_SeqAIJ); that block is counted apart, and every
 * other allocation must still be zero and the balance must be zero. */
#include "fem_test.h"

#include <stdlib.h>
#include <string.h>

static long nmalloc = 0, nfree = 0, nfactor = 0;
static int  tracing = 0;

static PetscErrorCode CountMalloc(size_t n, PetscBool clear, int line, const char fn[], const char file[], void **p)
{
  if (!n) {
    *p = NULL;
    return 0;
  }
  *p = clear ? calloc(1, n) : malloc(n);
  if (!*p) return PETSC_ERR_MEM;
  if (tracing && !strcmp(fn, "MatCholeskyFactorNumeric_SeqAIJ")) nfactor++;
  else nmalloc++;
  if (getenv("MC_TRACE_ALLOC") && tracing) fprintf(stderr, "alloc %zu in %s (%s:%d)\n", n, fn, file, line);
  return 0;
}

static PetscErrorCode CountFree(void *p, int line, const char fn[], const char file[])
{
  (void)line, (void)fn, (void)file;
  if (p) nfree++;
  free(p);
  return 0;
}

static PetscErrorCode CountRealloc(size_t n, int line, const char fn[], const char file[], void **p)
{
  (void)line, (void)fn, (void)file;
  void *q = realloc(*p, n);
  if (n && !q) return PETSC_ERR_MEM;
  if (!*p) nmalloc++;
  *p = q;
  return 0;
}

int main(int argc, char **argv)
{
  McMesh        mesh;
  McMeshSpec    ms;
  McPDESpec     ps;
  McForward     fw;
  McSpace       mspace, uspace;
  McObsOperator obs;
  McNoise       noise = {100.0, NULL};
  McWell        well  = {{0.5, 0.5, 0}, 0.1, 1.0};
  Vec           m, g, d, u;
  PetscReal     pts[2 * 10], J;
  PetscRandom   rnd;
  PetscBool     ok;
  long          m0, f0;
  PetscInt      nsolves = 1000, failed = 0;
  PetscBool     expect_zero = PETSC_FALSE;

  if (PetscMallocSet(CountMalloc, CountFree, CountRealloc)) return 2;
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &nsolves, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-expect_zero", &expect_zero, NULL));
  ms = BoxSpec(2, 16, PETSC_TRUE);
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.nwells              = 1;
  ps.wells               = &well;
  ps.ndirichlet          = 1;
  ps.dirichlet_labels[0] = "boundary";
  ps.options_prefix      = "fwd_";
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McForwardGetStateSpace(fw, &uspace));
  for (PetscInt p = 0; p < 10; p++) {
    pts[2 * p]     = 0.05 + 0.09 * p;
    pts[2 * p + 1] = 0.9 - 0.08 * p;
  }
  PetscCall(McObsOperatorCreate(uspace, 10, pts, &obs));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(VecDuplicate(m, &g));
  PetscCall(McObsOperatorCreateVector(obs, &d));
  PetscCall(VecSet(d, 0.01));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 3));
  PetscCall(PetscRandomSeed(rnd));
  /* Warm-up: first use of the gradient's work vectors, PETSc's lazily
   * created scatter buffers. */
  for (PetscInt i = 0; i < 2; i++) {
    PetscCall(VecSetRandom(m, rnd));
    PetscCall(McForwardSolve(fw, m, &ok));
    PetscCall(McForwardGetState(fw, &u));
    PetscCall(McObsOperatorApply(obs, u, d));
    PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &J, g));
  }
  m0      = nmalloc;
  f0      = nfree;
  tracing = 1;
  for (PetscInt i = 0; i < nsolves; i++) {
    /* Change m in place (no random generator: its own state is not ours). */
    PetscCall(VecScale(m, i % 2 ? -1.0 : 0.9));
    PetscCall(McForwardSolve(fw, m, &ok));
    if (!ok) failed++;
    PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &J, g));
  }
  tracing = 0;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d steps: %ld PETSc allocations (+ %ld transient in PETSc's numeric Cholesky), %ld frees, %d failed solves\n", (int)nsolves, nmalloc - m0, nfactor, nfree - f0, (int)failed));
  CHECK(failed == 0, "%d solves failed", (int)failed);
  CHECK(nmalloc - m0 == 0, "%ld allocations in %d steady-state steps, expected 0", nmalloc - m0, (int)nsolves);
  CHECK(nfree - f0 == nfactor, "%ld frees in %d steady-state steps, expected %ld (the factorisation's workspace)", nfree - f0, (int)nsolves, nfactor);
  CHECK(nfactor <= nsolves, "%ld factorisation workspaces for %d steps", nfactor, (int)nsolves);
  if (expect_zero) CHECK(nfactor == 0, "%ld allocations in the factorisation, expected none", nfactor);
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&d));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
