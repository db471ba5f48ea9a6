/* Karhunen-Loeve modes of the bilaplacian prior.
 *
 * With the lumped mass, Ml^(1/2) C Ml^(1/2) = S^2 for the symmetric
 * S = Ml^(1/2) A^-1 Ml^(1/2), so the covariance's eigenpairs in the Ml inner
 * product are those of S: s_k (eigenvalue of S, the mode's standard
 * deviation) and phi_k = Ml^(-1/2) psi_k. Each product with S is one solve
 * with the factor the prior already holds. Signs are fixed (largest entry
 * positive) so the reduced coordinates mean the same on every run. */
#include "model/model_impl.h"

#include <slepceps.h>

typedef struct {
  KSP ksp;
  Vec sqrtml, w;
} SCtx;

static PetscErrorCode SMult(Mat S, Vec x, Vec y)
{
  SCtx *c;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(S, &c));
  PetscCall(VecPointwiseMult(c->w, c->sqrtml, x));
  PetscCall(KSPSolve(c->ksp, c->w, y));
  PetscCall(VecPointwiseMult(y, c->sqrtml, y));
  PetscFunctionReturn(0);
}

/* SLEPc needs its own initialisation; the programs initialise PETSc only,
 * so SLEPc is brought up on first use and taken down inside PetscFinalize. */
static PetscErrorCode SlepcFinalizeHook(void)
{
  PetscFunctionBeginUser;
  PetscCall(SlepcFinalize());
  PetscFunctionReturn(0);
}

static PetscErrorCode EnsureSlepc(void)
{
  PetscBool up;

  PetscFunctionBeginUser;
  PetscCall(SlepcInitialized(&up));
  if (up) PetscFunctionReturn(0);
  PetscCall(SlepcInitialize(NULL, NULL, NULL, NULL));
  PetscCall(PetscRegisterFinalize(SlepcFinalizeHook));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorSetUpKL(McPrior prior, PetscInt K)
{
  Vec      psi, col;
  PetscInt n, N, nconv;
  Mat      S;
  EPS      eps;
  SCtx     ctx;
  MPI_Comm comm = prior->comm;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(prior->m0, &n));
  PetscCall(VecGetSize(prior->m0, &N));
  PetscCheck(K >= 1 && K < N, comm, PETSC_ERR_ARG_OUTOFRANGE, "the number of Karhunen-Loeve modes must be between 1 and %" PetscInt_FMT " (the parameter dofs - 1), got %" PetscInt_FMT, N - 1, K);
  PetscCheck(prior->K == 0, comm, PETSC_ERR_ORDER, "the Karhunen-Loeve modes are already set up");
  PetscCall(EnsureSlepc());
  ctx.ksp    = prior->ksp;
  ctx.sqrtml = prior->sqrtml;
  PetscCall(VecDuplicate(prior->m0, &ctx.w));
  PetscCall(MatCreateShell(comm, n, n, N, N, &ctx, &S));
  PetscCall(MatShellSetOperation(S, MATOP_MULT, (void (*)(void))SMult));
  PetscCall(MatSetOption(S, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(EPSCreate(comm, &eps));
  PetscCall(EPSSetOperators(eps, S, NULL));
  PetscCall(EPSSetProblemType(eps, EPS_HEP));
  PetscCall(EPSSetWhichEigenpairs(eps, EPS_LARGEST_MAGNITUDE));
  PetscCall(EPSSetDimensions(eps, K, PETSC_DEFAULT, PETSC_DEFAULT));
  PetscCall(EPSSetTolerances(eps, 1e-12, 10000));
  PetscCall(EPSSetOptionsPrefix(eps, "kl_"));
  PetscCall(EPSSetFromOptions(eps));
  PetscCall(EPSSolve(eps));
  PetscCall(EPSGetConverged(eps, &nconv));
  PetscCheck(nconv >= K, comm, PETSC_ERR_NOT_CONVERGED, "only %" PetscInt_FMT " of %" PetscInt_FMT " Karhunen-Loeve modes converged (try fewer modes or -kl_eps_max_it)", nconv, K);

  PetscCall(McMalloc((size_t)K * sizeof(PetscReal), &prior->kls));
  PetscCall(MatCreateDense(comm, n, PETSC_DECIDE, N, K, NULL, &prior->klmodes));
  PetscCall(VecDuplicate(prior->m0, &psi));
  for (PetscInt k = 0; k < K; k++) {
    PetscScalar lambda;
    PetscReal   vmax, vmin;
    PetscCall(EPSGetEigenpair(eps, k, &lambda, NULL, psi, NULL));
    prior->kls[k] = PetscRealPart(lambda);
    PetscCall(VecMax(psi, NULL, &vmax));
    PetscCall(VecMin(psi, NULL, &vmin));
    if (-vmin > vmax) PetscCall(VecScale(psi, -1.0));
    PetscCall(MatDenseGetColumnVecWrite(prior->klmodes, k, &col));
    PetscCall(VecPointwiseMult(col, prior->isqrtml, psi));
    PetscCall(MatDenseRestoreColumnVecWrite(prior->klmodes, k, &col));
  }
  PetscCall(MatCreateVecs(prior->klmodes, &prior->kleta, NULL));
  prior->K = K;
  PetscCall(VecDestroy(&psi));
  PetscCall(VecDestroy(&ctx.w));
  PetscCall(EPSDestroy(&eps));
  PetscCall(MatDestroy(&S));
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckKL(McPrior prior)
{
  PetscFunctionBeginUser;
  PetscCheck(prior->K > 0, prior->comm, PETSC_ERR_ORDER, "the Karhunen-Loeve modes are not set up (McPriorSetUpKL)");
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorGetKL(McPrior prior, PetscInt *K, const PetscReal **s, Mat *modes)
{
  PetscFunctionBeginUser;
  PetscCall(CheckKL(prior));
  if (K) *K = prior->K;
  if (s) *s = prior->kls;
  if (modes) *modes = prior->klmodes;
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorCreateKLVector(McPrior prior, Vec *v)
{
  PetscFunctionBeginUser;
  PetscCall(CheckKL(prior));
  PetscCall(VecDuplicate(prior->kleta, v));
  PetscFunctionReturn(0);
}

/* w = s .* x in the reduced layout (s is held whole on every rank). */
static PetscErrorCode ScaleBySdev(Vec x, const PetscReal *s, Vec w)
{
  PetscInt           lo, hi;
  const PetscScalar *xa;
  PetscScalar       *wa;

  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(x, &lo, &hi));
  PetscCall(VecGetArrayRead(x, &xa));
  PetscCall(VecGetArrayWrite(w, &wa));
  for (PetscInt i = lo; i < hi; i++) wa[i - lo] = s[i] * xa[i - lo];
  PetscCall(VecRestoreArrayWrite(w, &wa));
  PetscCall(VecRestoreArrayRead(x, &xa));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorKLUnwhiten(McPrior prior, Vec eta, Vec m)
{
  PetscFunctionBeginUser;
  PetscCall(CheckKL(prior));
  PetscCall(ScaleBySdev(eta, prior->kls, prior->kleta));
  PetscCall(MatMult(prior->klmodes, prior->kleta, m));
  PetscCall(VecAXPY(m, 1.0, prior->m0));
  PetscFunctionReturn(0);
}

PetscErrorCode McPriorKLApplyLT(McPrior prior, Vec gm, Vec geta)
{
  PetscFunctionBeginUser;
  PetscCall(CheckKL(prior));
  PetscCall(MatMultTranspose(prior->klmodes, gm, prior->kleta));
  PetscCall(ScaleBySdev(prior->kleta, prior->kls, geta));
  PetscFunctionReturn(0);
}
