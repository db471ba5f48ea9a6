/* Solving without refactorising (McForwardSolveReuse): CG preconditioned by
 * the factorisation of an earlier state gives the same state as a direct
 * solve (1e-8 relative; CG stops at 1e-10 relative residual) in a few
 * iterations for pCN-sized changes of m (beta = 0.025 and 0.2), falls back to
 * refactorising when CG cannot converge, and McForwardRefactor makes the
 * factorisation current. */
#include "fem_test.h"

static PetscErrorCode Smooth(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx, (void)dim;
  *v = 0.6 * PetscSinReal(3 * x[0]) * PetscCosReal(2 * x[1]);
  return 0;
}

static PetscErrorCode MakeForward(McMesh mesh, const char *prefix, McForward *fw)
{
  McPDESpec     ps;
  static McWell well = {{0.4, 0.6, 0}, 0.1, 2.0};

  PetscFunctionBeginUser;
  PetscCall(McPDESpecDefault(&ps));
  ps.nwells = 1;
  ps.wells = &well;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.0;
  ps.dirichlet_labels[1] = "right";
  ps.options_prefix = prefix;
  PetscCall(McForwardCreate(mesh, &ps, fw));
  PetscCall(McForwardSetUp(*fw));
  PetscFunctionReturn(0);
}

/* Relative difference between the state of a reuse solve of m1 (factor at
 * m0) and a direct solve of m1. */
static PetscErrorCode Compare(McForward fw, Vec m0, Vec m1, PetscReal *rel, PetscInt *its, PetscBool *refactored)
{
  Vec       u, ur;
  PetscBool ok;
  PetscReal nd, nu;

  PetscFunctionBeginUser;
  PetscCall(McForwardSolve(fw, m0, &ok));
  PetscCall(McForwardSolveReuse(fw, m1, &ok, its, refactored));
  CHECK(ok, "reuse solve failed");
  PetscCall(McForwardGetState(fw, &u));
  PetscCall(VecDuplicate(u, &ur));
  PetscCall(VecCopy(u, ur));
  PetscCall(McForwardSolve(fw, m1, &ok));
  PetscCall(VecAXPY(ur, -1.0, u));
  PetscCall(VecNorm(ur, NORM_2, &nd));
  PetscCall(VecNorm(u, NORM_2, &nu));
  *rel = nd / nu;
  PetscCall(VecDestroy(&ur));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McMeshSpec  ms;
  McMesh      mesh;
  McForward   fw, fb;
  McSpace     mspace;
  Vec         m0, m1, xi;
  PetscRandom rnd;
  PetscReal   rel, betas[2] = {0.025, 0.2};
  PetscInt    its;
  PetscBool   refactored, ok;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  ms = BoxSpec(2, 24, PETSC_TRUE);
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(MakeForward(mesh, "rt_", &fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m0));
  PetscCall(VecDuplicate(m0, &m1));
  PetscCall(VecDuplicate(m0, &xi));
  PetscCall(McSpaceInterpolate(mspace, Smooth, NULL, m0));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetInterval(rnd, -1.0, 1.0));
  PetscCall(PetscRandomSetSeed(rnd, 5));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(xi, rnd));
  for (int k = 0; k < 2; k++) {
    /* pCN: m1 = sqrt(1 - beta^2) m0 + beta xi */
    PetscCall(VecAXPBYPCZ(m1, PetscSqrtReal(1 - betas[k] * betas[k]), betas[k], 0.0, m0, xi));
    PetscCall(Compare(fw, m0, m1, &rel, &its, &refactored));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "beta %.3f: %d CG iterations, |u_reuse - u_direct| / |u| = %.2e%s\n",
                          (double)betas[k], (int)its, (double)rel, refactored ? " (refactored)" : ""));
    CHECK(!refactored, "beta %g: fell back to refactorising", (double)betas[k]);
    CHECK(rel < 1e-8, "beta %g: reuse and direct states differ by %g relative", (double)betas[k], (double)rel);
    CHECK(its >= 1 && its <= 20, "beta %g: %d CG iterations, expected 1..20", (double)betas[k], (int)its);
  }
  /* A large change with CG limited to 2 iterations: falls back. */
  PetscCall(PetscOptionsSetValue(NULL, "-fb_reuse_ksp_max_it", "2"));
  PetscCall(MakeForward(mesh, "fb_", &fb));
  PetscCall(VecWAXPY(m1, 3.0, xi, m0));
  PetscCall(Compare(fb, m0, m1, &rel, &its, &refactored));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "large change, max 2 CG iterations: %s, |u_reuse - u_direct| / |u| = %.2e\n",
                        refactored ? "refactored" : "not refactored", (double)rel));
  CHECK(refactored, "CG limited to 2 iterations on a large change did not fall back to refactorising");
  CHECK(rel < 1e-12, "fallback state differs from the direct one by %g", (double)rel);
  /* McForwardRefactor makes the factor current: the next reuse solve of the
   * same m converges at once. */
  PetscCall(McForwardSolve(fw, m0, &ok));
  PetscCall(McForwardSolveReuse(fw, m1, &ok, &its, &refactored));
  PetscCall(McForwardRefactor(fw, &ok));
  PetscCall(McForwardSolveReuse(fw, m1, &ok, &its, &refactored));
  CHECK(ok && !refactored && its <= 1, "after McForwardRefactor: %d CG iterations (expected <= 1), refactored %d",
        (int)its, (int)refactored);
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&m0));
  PetscCall(VecDestroy(&m1));
  PetscCall(VecDestroy(&xi));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McForwardDestroy(&fb));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
