/* After set-up, 1000 forward steps (re-assembly, refactorisation, solve,
 * misfit, adjoint gradient) allocate nothing: counted by the object layer's
 * PETSc hooks (McMemInstallPetscHooks before PetscInitialize) and its own
 * allocator, through McMemAllocCount, and the live objects/bytes checked
 * against a baseline with McMemCheck.
 *
 * With mcchol (the default on one rank) and with MUMPS
 * (-expect_zero) both counts must be exactly zero. With PETSc's own Cholesky
 * (-fwd_pc_factor_mat_solver_type petsc) its numeric factorisation
 * (MatCholeskyFactorNumeric_SeqAIJ) takes one workspace block per call and
 * frees it before returning: then PETSc's count must be exactly one per step
 * and live bytes must not move. -expect_solver NAME checks which solver
 * package the forward model's factor is (so the default is tested as the
 * default).
 *
 * Then 1000 steps that reuse the factorisation (McForwardSolveReuse: CG
 * preconditioned by the factor of an earlier state, small changes of m):
 * exactly zero allocations with any direct solver. */
#include "fem_test.h"
#include "obj/obj.h"

int main(int argc, char **argv)
{
  McMesh        mesh;
  McMeshSpec    ms;
  McPDESpec     ps;
  McForward     fw;
  McSpace       mspace, uspace;
  McObsOperator obs;
  McNoise       noise = {100.0, NULL};
  McWell        well = {{0.5, 0.5, 0}, 0.1, 1.0};
  Vec           m, g, d, u;
  PetscReal     pts[2 * 10], J;
  PetscRandom   rnd;
  PetscBool     ok;
  PetscInt64    p0, q0, p1, q1;
  PetscInt      nsolves = 1000, failed = 0;
  PetscBool     expect_zero = PETSC_FALSE, has_expect_solver;
  char          expect_solver[64] = "";

  if (McMemInstallPetscHooks()) return 2;
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &nsolves, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-expect_zero", &expect_zero, NULL));
  PetscCall(
      PetscOptionsGetString(NULL, NULL, "-expect_solver", expect_solver, sizeof(expect_solver), &has_expect_solver));
  ms = BoxSpec(2, 16, PETSC_TRUE);
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.nwells = 1;
  ps.wells = &well;
  ps.ndirichlet = 1;
  ps.dirichlet_labels[0] = "boundary";
  ps.options_prefix = "fwd_";
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McForwardGetStateSpace(fw, &uspace));
  {
    KSP           ksp;
    PC            pc;
    MatSolverType stype = NULL;
    PetscBool     same;
    PetscCall(McForwardGetKSP(fw, &ksp));
    PetscCall(KSPGetPC(ksp, &pc));
    PetscCall(PCFactorGetMatSolverType(pc, &stype));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "solver package: %s\n", stype ? stype : "(none)"));
    if (has_expect_solver) {
      PetscCall(PetscStrcmp(stype, expect_solver, &same));
      CHECK(same, "the forward model's solver package is %s, expected %s", stype ? stype : "(none)", expect_solver);
    }
  }
  for (PetscInt p = 0; p < 10; p++) {
    pts[2 * p] = 0.05 + 0.09 * p;
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
  PetscCall(McMemSetBaseline());
  PetscCall(McMemAllocCount(&p0, &q0));
  for (PetscInt i = 0; i < nsolves; i++) {
    /* Change m in place (no random generator: its own state is not ours). */
    PetscCall(VecScale(m, i % 2 ? -1.0 : 0.9));
    PetscCall(McForwardSolve(fw, m, &ok));
    if (!ok) failed++;
    PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &J, g));
  }
  PetscCall(McMemAllocCount(&p1, &q1));
  {
    PetscBool ok;
    char      report[1024];
    PetscCall(McMemCheck(0, 0, &ok, report, sizeof(report)));
    CHECK(ok, "memory grew over %d steps: %s", (int)nsolves, report);
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "%d steps: %lld project allocations, %lld PETSc allocations, %d failed solves\n", (int)nsolves,
                        (long long)(p1 - p0), (long long)(q1 - q0), (int)failed));
  CHECK(failed == 0, "%d solves failed", (int)failed);
  CHECK(p1 - p0 == 0, "%lld project allocations in %d steady-state steps, expected 0", (long long)(p1 - p0),
        (int)nsolves);
  if (expect_zero)
    CHECK(q1 - q0 == 0, "%lld PETSc allocations in %d steady-state steps, expected 0", (long long)(q1 - q0),
          (int)nsolves);
  else
    CHECK(q1 - q0 == nsolves,
          "%lld PETSc allocations in %d steady-state steps, expected exactly one factorisation workspace per step",
          (long long)(q1 - q0), (int)nsolves);
  {
    Vec       mb, dm;
    PetscInt  its, refactors = 0, maxits = 0;
    PetscBool refactored;
    PetscCall(VecDuplicate(m, &mb));
    PetscCall(VecDuplicate(m, &dm));
    PetscCall(VecSetRandom(mb, rnd));
    PetscCall(VecScale(mb, 0.3));
    PetscCall(VecSetRandom(dm, rnd));
    PetscCall(McForwardSolve(fw, mb, &ok)); /* factor at mb */
    PetscCall(McForwardSolveReuse(fw, mb, &ok, &its, &refactored));
    PetscCall(McMemAllocCount(&p0, &q0));
    for (PetscInt i = 0; i < nsolves; i++) {
      PetscCall(VecWAXPY(m, 0.02 * (i % 5), dm, mb));
      PetscCall(McForwardSolveReuse(fw, m, &ok, &its, &refactored));
      if (!ok) failed++;
      if (refactored) refactors++;
      maxits = PetscMax(maxits, its);
      PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &J, NULL));
    }
    PetscCall(McMemAllocCount(&p1, &q1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "%d reuse steps: %lld project allocations, %lld PETSc allocations, %d refactorisations, at "
                          "most %d CG iterations\n",
                          (int)nsolves, (long long)(p1 - p0), (long long)(q1 - q0), (int)refactors, (int)maxits));
    CHECK(failed == 0 && refactors == 0, "%d failed, %d refactorised reuse steps", (int)failed, (int)refactors);
    CHECK(p1 - p0 == 0 && q1 - q0 == 0, "%lld project and %lld PETSc allocations in %d reuse steps, expected 0",
          (long long)(p1 - p0), (long long)(q1 - q0), (int)nsolves);
    PetscCall(VecDestroy(&mb));
    PetscCall(VecDestroy(&dm));
  }
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&d));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
