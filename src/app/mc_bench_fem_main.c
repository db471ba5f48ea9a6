/* mc-bench-fem: cost of one forward step of the fem module, per phase.
 *
 * For P1 on triangles at 32^2, 64^2, 128^2 and on tetrahedra at 16^3: the
 * fast path's re-assembly, numeric refactorisation, solve, observation, the
 * full step (all of them, as McForwardSolve + B u), forward steps per second,
 * and the ratio full step / (factorisation + solve), all measured in one run;
 * then the generic PetscFE assembly path for comparison. m changes every step
 * (m_k = m_0 + 0.01 k dm), so every step really refactors.
 *
 * Then the direct solver table: PETSc's own Cholesky and mcchol (src/la)
 * on the same refactorising steps, P1 at 32^2, 64^2, 128^2, P2 at 32^2 and
 * P1 on 16^3 tetrahedra (-compare 0 leaves it out; on several ranks it is left out).
 *
 * Usage: mc-bench-fem [-steps N] [-generic_steps N] [-only 1..5] [-compare 0|1] [PETSc options, prefix fwd_] */
#include "fem/fem.h"
#include "la/la.h"
#include "obj/obj.h"

#include <stdio.h>
#include <string.h>

static PetscErrorCode Smooth(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx;
  *v = 0.5 * PetscSinReal(3 * x[0]) * PetscCosReal(2 * x[1]) + (dim == 3 ? 0.3 * x[2] : 0.0);
  return 0;
}

static PetscErrorCode Direction(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx, (void)dim;
  *v = PetscCosReal(x[0] + 2 * x[1]);
  return 0;
}

/* Reuse rows, printed as a second table. */
static char reuse_rows[4][256];
static int  nreuse = 0;

/* One problem, P1 (order 1) or P2 state. With solver set (a solver
 * package name), only the refactorising steps run, with that package for
 * the forward solve, and their mean factorisation, solve and full step
 * times (ms) and the dofs go to cmp[4] instead of the tables. */
static PetscErrorCode Bench(PetscInt dim, PetscInt n, PetscInt order, PetscInt steps, PetscInt gsteps,
                            const char *solver, double cmp[4])
{
  McMeshSpec     ms;
  McMesh         mesh;
  McPDESpec      ps;
  McForward      fw;
  McSpace        mspace, uspace;
  McObsOperator  obs;
  McWell         wells[2] = {{{0.3, 0.3, 0.5}, 0.05, 1.0}, {{0.7, 0.7, 0.5}, 0.05, -1.0}};
  Vec            m0, dm, m, u, d;
  PetscReal      pts[3 * 64];
  PetscInt       N;
  PetscBool      ok;
  PetscLogDouble t0, t1, t2, asm_ = 0, fac = 0, sol = 0, ob = 0, full = 0, gasm = 0, gfull = 0;
  McForwardTimes tm;
  KSP            ksp;
  PC             pc;
  const char    *stype = "?";
  char           solvername[64], user[64];
  PetscBool      user_set = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim = dim;
  ms.simplex = PETSC_TRUE;
  for (PetscInt k = 0; k < 3; k++)
    ms.cells[k] = n;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.source = 0.0;
  ps.nwells = 2;
  ps.wells = wells;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.0;
  ps.dirichlet_labels[1] = "right";
  ps.dirichlet_values[1] = 0.0;
  ps.options_prefix = "fwd_";
  ps.order = order;
  if (solver) { /* for this forward model only: the user's value comes back */
    PetscCall(PetscOptionsGetString(NULL, NULL, "-fwd_pc_factor_mat_solver_type", user, sizeof(user), &user_set));
    PetscCall(PetscOptionsSetValue(NULL, "-fwd_pc_factor_mat_solver_type", solver));
  }
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  if (solver && user_set)
    PetscCall(PetscOptionsSetValue(NULL, "-fwd_pc_factor_mat_solver_type", user));
  else if (solver)
    PetscCall(PetscOptionsClearValue(NULL, "-fwd_pc_factor_mat_solver_type"));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McForwardGetStateSpace(fw, &uspace));
  for (PetscInt p = 0; p < 64; p++)
    for (PetscInt k = 0; k < dim; k++)
      pts[p * dim + k] = 0.05 + 0.9 * ((p * (3 + 2 * k) + k) % 64) / 63.0;
  PetscCall(McObsOperatorCreate(uspace, 64, pts, &obs));
  PetscCall(McObsOperatorCreateVector(obs, &d));
  PetscCall(McSpaceCreateVector(mspace, &m0));
  PetscCall(VecDuplicate(m0, &dm));
  PetscCall(VecDuplicate(m0, &m));
  PetscCall(McSpaceInterpolate(mspace, Smooth, NULL, m0));
  PetscCall(McSpaceInterpolate(mspace, Direction, NULL, dm));
  PetscCall(McForwardGetState(fw, &u));
  PetscCall(VecGetSize(u, &N));
  PetscCall(McForwardGetKSP(fw, &ksp));
  PetscCall(KSPGetPC(ksp, &pc));
  {
    PCType    pctype;
    PetscBool isfactor;
    PetscCall(PCGetType(pc, &pctype));
    PetscCall(PetscStrcmp(pctype, PCCHOLESKY, &isfactor));
    if (!isfactor) PetscCall(PetscStrcmp(pctype, PCLU, &isfactor));
    if (isfactor) PetscCall(PCFactorGetMatSolverType(pc, &stype));
    PetscCall(
        PetscSNPrintf(solvername, sizeof(solvername), "%s%s%s", pctype, isfactor ? "/" : "", isfactor ? stype : ""));
  }
  for (PetscInt k = 0; k < 3; k++) { /* warm-up */
    PetscCall(VecWAXPY(m, 0.01 * k, dm, m0));
    PetscCall(McForwardSolve(fw, m, &ok));
    PetscCall(McObsOperatorApply(obs, u, d));
  }
  for (PetscInt k = 0; k < steps; k++) {
    PetscCall(VecWAXPY(m, 0.01 * (k % 50), dm, m0));
    PetscCall(PetscTime(&t0));
    PetscCall(McForwardSolve(fw, m, &ok));
    PetscCall(PetscTime(&t1));
    PetscCall(McObsOperatorApply(obs, u, d));
    PetscCall(PetscTime(&t2));
    PetscCheck(ok, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "solve failed at step %d", (int)k);
    PetscCall(McForwardGetTimes(fw, &tm));
    asm_ += tm.assembly;
    fac += tm.factorisation;
    sol += tm.solve;
    ob += t2 - t1;
    full += t2 - t0;
  }
  if (solver) {
    cmp[0] = fac * 1e3 / steps;
    cmp[1] = sol * 1e3 / steps;
    cmp[2] = full * 1e3 / steps;
    cmp[3] = (double)N;
    PetscCheck(!strcmp(stype, solver), PETSC_COMM_WORLD, PETSC_ERR_PLIB, "asked for solver %s, got %s", solver, stype);
    steps = gsteps = 0; /* only the comparison */
  } else {
    /* pCN-sized proposals solved with the factor of m0 (McForwardSolveReuse). */
    const PetscReal betas[2] = {0.025, 0.2};
    double          rt[2] = {0, 0}, its[2] = {0, 0};
    PetscInt        refactors = 0;
    for (int b = 0; b < 2; b++) {
      PetscCall(McForwardSolve(fw, m0, &ok));
      for (PetscInt k = 0; k < steps; k++) {
        PetscInt  it;
        PetscBool rf;
        PetscCall(VecAXPBYPCZ(m, PetscSqrtReal(1 - betas[b] * betas[b]), betas[b] * ((k % 7) - 3) / 3.0, 0.0, m0, dm));
        PetscCall(PetscTime(&t0));
        PetscCall(McForwardSolveReuse(fw, m, &ok, &it, &rf));
        PetscCall(McObsOperatorApply(obs, u, d));
        PetscCall(PetscTime(&t1));
        rt[b] += t1 - t0;
        its[b] += it;
        refactors += rf;
      }
    }
    snprintf(reuse_rows[nreuse++], sizeof(reuse_rows[0]),
             "| %-18s | %6d | %8.3f | %8.3f | %5.1f | %5.2f | %8.3f | %5.1f | %5.2f | %d |",
             dim == 2 ? (n == 32   ? "P1 32x32"
                         : n == 64 ? "P1 64x64"
                                   : "P1 128x128")
                      : "P1 16x16x16 tets",
             (int)N, full * 1e3 / steps, rt[0] * 1e3 / steps, its[0] / steps, full / rt[0], rt[1] * 1e3 / steps,
             its[1] / steps, full / rt[1], (int)refactors);
  }
  for (PetscInt k = 0; k < gsteps; k++) {
    PetscCall(VecWAXPY(m, 0.01 * k, dm, m0));
    PetscCall(PetscTime(&t0));
    PetscCall(McForwardSolveGeneric(fw, m, &ok));
    PetscCall(McObsOperatorApply(obs, u, d));
    PetscCall(PetscTime(&t1));
    PetscCall(McForwardGetTimes(fw, &tm));
    if (k > 0) { /* the first generic step builds its matrix and solver */
      gasm += tm.assembly;
      gfull += t1 - t0;
    }
  }
  if (!solver) {
    char   name[32];
    double s = 1e3 / steps, g = gsteps > 1 ? 1e3 / (gsteps - 1) : 0;
    if (dim == 2)
      snprintf(name, sizeof(name), "P1 %dx%d", (int)n, (int)n);
    else
      snprintf(name, sizeof(name), "P1 %dx%dx%d tets", (int)n, (int)n, (int)n);
    PetscCall(
        PetscPrintf(PETSC_COMM_WORLD,
                    "| %-18s | %6d | %-17s | %8.3f | %8.3f | %8.3f | %6.3f | %8.3f | %7.1f | %5.3f | %8.3f | %8.3f |\n",
                    name, (int)N, solvername, asm_ * s, fac * s, sol * s, ob * s, full * s, steps / full,
                    full / (fac + sol), gasm * g, gfull * g));
  }
  PetscCall(VecDestroy(&m0));
  PetscCall(VecDestroy(&dm));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&d));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(McGCCollect(2, NULL));
  PetscFunctionReturn(0);
}

/* PETSc's own Cholesky and mcchol on the same problem, one row each. */
static PetscErrorCode CompareSolvers(PetscInt dim, PetscInt n, PetscInt order, PetscInt steps)
{
  double p[4], c[4];
  char   name[32];

  PetscFunctionBeginUser;
  PetscCall(Bench(dim, n, order, steps, 0, MATSOLVERPETSC, p));
  PetscCall(Bench(dim, n, order, steps, 0, MATSOLVERMCCHOL, c));
  if (dim == 2)
    snprintf(name, sizeof(name), "P%d %dx%d", (int)order, (int)n, (int)n);
  else
    snprintf(name, sizeof(name), "P%d %dx%dx%d tets", (int)order, (int)n, (int)n, (int)n);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "| %-18s | %6d | %-8s | %8.3f | %7.3f | %8.3f | %15s | %13s |\n", name,
                        (int)p[3], MATSOLVERPETSC, p[0], p[1], p[2], "", ""));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "| %-18s | %6d | %-8s | %8.3f | %7.3f | %8.3f | %15.2f | %13.2f |\n", name,
                        (int)c[3], MATSOLVERMCCHOL, c[0], c[1], c[2], p[0] / c[0], p[2] / c[2]));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscInt  steps = 200, gsteps = 6, only = 0;
  PetscBool compare = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-steps", &steps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-generic_steps", &gsteps, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-only", &only, NULL)); /* 1..4: one problem; 5: P2 32^2 (comparison only) */
  {
    PetscMPIInt size;
    /* mcchol and PETSc's own Cholesky factor on one rank only */
    PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
    compare = (PetscBool)(size == 1);
  }
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-compare", &compare, NULL)); /* the direct solver table */
  PetscCall(PetscPrintf(
      PETSC_COMM_WORLD,
      "Forward step cost, ms per step (mean of %d fast steps, %d generic); ratio = full / (factorisation + solve)\n\n",
      (int)steps, (int)(gsteps - 1)));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "| mesh               |   dofs | solver            | assembly |   factor |    "
                        "solve |    obs |     full | steps/s | ratio | generic asm | generic full |\n"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "|--------------------|--------|-------------------|----------|----------|---------"
                        "-|--------|----------|---------|-------|-------------|--------------|\n"));
  if (!only || only == 1) PetscCall(Bench(2, 32, 1, steps, gsteps, NULL, NULL));
  if (!only || only == 2) PetscCall(Bench(2, 64, 1, steps, gsteps, NULL, NULL));
  if (!only || only == 3) PetscCall(Bench(2, 128, 1, steps / 4 > 10 ? steps / 4 : 10, gsteps, NULL, NULL));
  if (!only || only == 4) PetscCall(Bench(3, 16, 1, steps / 4 > 10 ? steps / 4 : 10, gsteps, NULL, NULL));
  PetscCall(PetscPrintf(
      PETSC_COMM_WORLD,
      "\nReusing the factorisation (McForwardSolveReuse: CG preconditioned by the factor of m0) for pCN proposals m = "
      "sqrt(1 - beta^2) m0 + beta xi; ms per step incl. observation; speed-up vs the refactorising step above\n\n"));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "| mesh               |   dofs | refactor | beta .025 | CG its | speed-up | "
                                          "beta 0.2 | CG its | speed-up | fallbacks |\n"));
  PetscCall(PetscPrintf(
      PETSC_COMM_WORLD,
      "|--------------------|--------|----------|----------|-------|-------|----------|-------|-------|---|\n"));
  for (int r = 0; r < nreuse; r++)
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", reuse_rows[r]));
  if (compare) {
    PetscInt s4 = steps / 4 > 10 ? steps / 4 : 10;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "\nDirect solvers, refactorising steps (ms per step; speed-up = PETSc's / mcchol's, of the "
                          "numeric factorisation and of the full step)\n\n"));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                          "| mesh               |   dofs | solver   |   factor |   solve |     full | "
                          "factor speed-up | step speed-up |\n"));
    PetscCall(
        PetscPrintf(PETSC_COMM_WORLD,
                    "|--------------------|--------|----------|----------|---------|----------|-----------------|-----"
                    "----------|\n"));
    if (!only || only == 1) PetscCall(CompareSolvers(2, 32, 1, steps));
    if (!only || only == 2) PetscCall(CompareSolvers(2, 64, 1, steps));
    if (!only || only == 3) PetscCall(CompareSolvers(2, 128, 1, s4));
    if (!only || only == 5) PetscCall(CompareSolvers(2, 32, 2, steps));
    if (!only || only == 4) PetscCall(CompareSolvers(3, 16, 1, s4));
  }
  PetscCall(PetscFinalize());
  return 0;
}
