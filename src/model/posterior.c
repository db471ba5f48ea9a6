/* The posterior the sampler sees: Phi(xi) = 0.5 |(B u(m0 + L xi) - d)/sigma|^2.
 *
 * Everything an evaluation touches is allocated here once. A proposal whose
 * forward problem cannot be solved (solver failure, exp(m) overflow, NaN)
 * is reported through McPosteriorStatus: the sampler rejects it and counts
 * it; it is never an error. The gradient reuses the forward solve of the
 * last potential evaluation (the sampler's call-order contract). */
#include "model/model_impl.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_randist.h>
#include <math.h>

/* struct _p_McPosterior is in model_impl.h (the Hessian, MAP and Laplace
 * files use it). */

static int PosteriorTraverse(McObject *o, McVisitProc visit, void *arg)
{
  McPosterior p = (McPosterior)o;
  MC_VISIT(p->fw);
  MC_VISIT(p->obs);
  MC_VISIT(p->prior);
  for (PetscInt i = 0; i < p->nqoi; i++) MC_VISIT(p->qoi_obs[i]);
  return 0;
}

static void PosteriorClear(McObject *o)
{
  McPosterior p = (McPosterior)o;
  MC_CLEAR(p->fw);
  MC_CLEAR(p->obs);
  MC_CLEAR(p->prior);
  for (PetscInt i = 0; i < p->nqoi; i++) MC_CLEAR(p->qoi_obs[i]);
}

static void PosteriorDealloc(McObject *o)
{
  McPosterior p = (McPosterior)o;
  /* dealloc cannot report errors; VecDestroy only fails on corrupt objects */
  (void)VecDestroy(&p->m);
  (void)VecDestroy(&p->manchor);
  (void)VecDestroy(&p->mspread);
  (void)VecDestroy(&p->xdirect);
  (void)VecDestroy(&p->d);
  (void)VecDestroy(&p->sigmas);
  (void)VecDestroy(&p->weights);
  (void)VecDestroy(&p->clean);
  (void)VecDestroy(&p->gm);
  (void)VecDestroy(&p->r);
  (void)VecDestroy(&p->wr);
  (void)VecScatterDestroy(&p->toall);
  (void)VecDestroy(&p->rall);
  (void)VecDestroy(&p->bu);
  (void)VecDestroy(&p->hdm);
  (void)VecDestroy(&p->hHm);
  (void)VecDestroy(&p->hdu);
  (void)VecDestroy(&p->hrhs);
  (void)VecDestroy(&p->hbdu);
  (void)VecDestroy(&p->hwbdu);
  if (p->gchol) gsl_matrix_free(p->gchol);
  if (p->grfull) gsl_vector_free(p->grfull);
  if (p->gzfull) gsl_vector_free(p->gzfull);
  for (PetscInt i = 0; i < p->nqoi; i++) {
    (void)VecDestroy(&p->qoi_w[i]);
    (void)VecDestroy(&p->qoi_v[i]);
  }
}

static const McType McPosteriorType = {"McPosterior", sizeof(struct _p_McPosterior), NULL, PosteriorDealloc, PosteriorTraverse, PosteriorClear};

PetscErrorCode McPosteriorCreate(McForward fw, McObsOperator obs, McPrior prior, McPosterior *post)
{
  McPosterior p;

  PetscFunctionBeginUser;
  PetscCall(McObjectCreate(&McPosteriorType, &p));
  McIncref(fw); /* NULL-safe: NULL means the field is observed directly */
  p->fw = fw;
  McIncref(obs);
  p->obs = obs;
  McIncref(prior);
  p->prior = prior;
  PetscCall(McPriorCreateVector(prior, &p->m));
  PetscCall(VecDuplicate(p->m, &p->gm));
  PetscCall(McObsOperatorCreateVector(obs, &p->d));
  PetscCall(VecDuplicate(p->d, &p->sigmas));
  PetscCall(VecDuplicate(p->d, &p->weights));
  PetscCall(VecDuplicate(p->d, &p->r));
  PetscCall(VecDuplicate(p->d, &p->wr));
  *post = p;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorDestroy(McPosterior *post)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(post));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetSigmas(McPosterior p, PetscReal sigma, Vec sigmas)
{
  PetscReal smin;

  PetscFunctionBeginUser;
  if (sigmas) PetscCall(VecCopy(sigmas, p->sigmas));
  else PetscCall(VecSet(p->sigmas, sigma));
  PetscCall(VecMin(p->sigmas, NULL, &smin));
  PetscCheck(smin > 0, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_OUTOFRANGE, "noise standard deviations must be > 0, the smallest is %g", (double)smin);
  PetscCall(VecPointwiseMult(p->weights, p->sigmas, p->sigmas));
  PetscCall(VecReciprocal(p->weights));
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSetData(McPosterior p, Vec d, PetscReal sigma, Vec sigmas)
{
  PetscFunctionBeginUser;
  PetscCall(VecCopy(d, p->d));
  if (!p->gchol) PetscCall(SetSigmas(p, sigma, sigmas));
  p->have_data = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* A field no solver should see: NaN, or exp(m) overflowing. */
static PetscErrorCode Classify(Vec m, McPosteriorStatus *status)
{
  PetscReal mmax;

  PetscFunctionBeginUser;
  PetscCall(VecMax(m, NULL, &mmax));
  *status = MC_POST_OK;
  if (PetscIsNanReal(mmax)) *status = MC_POST_NAN;
  else if (mmax > MC_POSTERIOR_MAX_LOG_COEFF) *status = MC_POST_OVERFLOW;
  PetscFunctionReturn(0);
}

/* Forward solve at m, classified. */
static PetscErrorCode SolveAt(McPosterior p, Vec m, McPosteriorStatus *status)
{
  PetscBool converged;

  PetscFunctionBeginUser;
  PetscCall(Classify(m, status));
  if (*status != MC_POST_OK || !p->fw) PetscFunctionReturn(0);
  p->factor_at_anchor = PETSC_FALSE; /* the caller re-anchors if it should */
  PetscCall(McForwardSolve(p->fw, m, &converged));
  *status = converged ? MC_POST_OK : MC_POST_SOLVER_FAILED;
  PetscFunctionReturn(0);
}

/* CG iterations to rtol 1e-10 preconditioned by the anchor's factor, for a
 * field that differs from the anchor's by a spread s = max - min of m -
 * m_anchor: the factor's operator differs from the new one by exp(dm), so
 * the preconditioned condition number is at most exp(s). Fitted to pcn and
 * hpcn chains on P1 32^2 to 128^2, 8^3 tetrahedra and P2 32^2 (spreads
 * 0.3-1.6, 7.8-20 iterations on average; correlation of s and the count
 * 0.97 within a chain). */
static PetscReal PredictedIterations(PetscReal s)
{
  return 6.0 * PetscExpReal(0.8 * s);
}

/* Forward solve at m by CG preconditioned by the anchor's factorisation,
 * or, when CG is predicted to cost more than a refactorisation (breakeven,
 * from the factor's operation counts: a function of the problem and of m
 * and the anchor only, so runs and resumes repeat the choice), by
 * refactorising at m at once (*direct).
 * The factorisation is put back at the anchor first if something moved it,
 * so the result depends on m and the anchor only (bit-identical resume). */
static PetscErrorCode SolveNear(McPosterior p, Vec m, McPosteriorStatus *status, PetscBool *direct)
{
  PetscBool converged, refactored, ok = PETSC_TRUE;
  PetscInt  its = 0;

  PetscFunctionBeginUser;
  *direct = PETSC_FALSE;
  PetscCall(Classify(m, status));
  if (*status != MC_POST_OK) PetscFunctionReturn(0);
  if (p->breakeven > 0) {
    PetscReal hi, lo;
    PetscCall(VecWAXPY(p->mspread, -1.0, p->manchor, m));
    PetscCall(VecMax(p->mspread, NULL, &hi));
    PetscCall(VecMin(p->mspread, NULL, &lo));
    /* 0.8: in a chain a CG iteration cost more than mc-bench-fem's
     * isolated one (P1 128^2 pcn: 10 iterations predicted and taken, a
     * break-even of 9.9, and the reuse 20% slower than refactorising). */
    if (PredictedIterations(hi - lo) > 0.8 * p->breakeven) {
      p->reuse_stats.direct++;
      *direct = PETSC_TRUE;
      PetscCall(SolveAt(p, m, status));
      PetscFunctionReturn(0);
    }
  }
  if (!p->factor_at_anchor) {
    Mat A;
    Vec b;
    PetscCall(McForwardAssemble(p->fw, p->manchor, &A, &b));
    PetscCall(McForwardRefactor(p->fw, &ok));
    p->factor_at_anchor = ok;
    p->reuse_stats.anchor_refactor++;
  }
  if (!ok) { /* cannot happen for an anchor that was solved; stay exact */
    PetscCall(SolveAt(p, m, status));
    PetscFunctionReturn(0);
  }
  PetscCall(McForwardSolveReuse(p->fw, m, &converged, &its, &refactored));
  p->reuse_stats.near++;
  p->reuse_stats.cg_its += its;
  if (refactored) {
    p->reuse_stats.fallback++;
    p->factor_at_anchor = PETSC_FALSE;
  }
  *status = converged ? MC_POST_OK : MC_POST_SOLVER_FAILED;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSynthesize(McPosterior p, Vec mtrue, PetscReal sigma, PetscBool relative, gsl_rng *rng)
{
  McPosteriorStatus status;
  Vec               u;
  PetscReal         scale = 1.0;
  PetscInt          n, lo, hi;
  PetscScalar      *a;
  const PetscScalar *s;

  PetscFunctionBeginUser;
  PetscCall(SolveAt(p, mtrue, &status));
  PetscCheck(status == MC_POST_OK, PetscObjectComm((PetscObject)p->d), PETSC_ERR_NOT_CONVERGED, "the forward problem cannot be solved for the synthetic truth (%s)", status == MC_POST_OVERFLOW ? "exp(m) overflows" : status == MC_POST_NAN ? "the truth has NaN" : "the solver failed");
  if (p->fw) PetscCall(McForwardGetState(p->fw, &u));
  else u = mtrue;
  if (!p->clean) PetscCall(VecDuplicate(p->d, &p->clean));
  PetscCall(McObsOperatorApply(p->obs, u, p->clean));
  if (p->gchol) {
    /* Correlated noise e = L xi, L the covariance's Cholesky factor; the
     * whole vector on every rank, each keeping its rows. */
    PetscCall(VecGetOwnershipRange(p->d, &lo, &hi));
    for (size_t i = 0; i < p->grfull->size; i++) gsl_vector_set(p->grfull, i, gsl_ran_gaussian_ziggurat(rng, 1.0));
    PetscCheck(!gsl_blas_dtrmv(CblasLower, CblasNoTrans, CblasNonUnit, p->gchol, p->grfull), PETSC_COMM_SELF, PETSC_ERR_LIB, "GSL triangular product failed");
    PetscCall(VecGetArrayRead(p->clean, &s));
    PetscCall(VecGetArrayWrite(p->d, &a));
    for (PetscInt i = lo; i < hi; i++) a[i - lo] = s[i - lo] + gsl_vector_get(p->grfull, i);
    PetscCall(VecRestoreArrayWrite(p->d, &a));
    PetscCall(VecRestoreArrayRead(p->clean, &s));
    p->have_data = PETSC_TRUE;
    PetscFunctionReturn(0);
  }
  if (relative) PetscCall(VecNorm(p->clean, NORM_INFINITY, &scale));
  PetscCall(SetSigmas(p, sigma * scale, NULL));
  /* Noise drawn in observation order on every rank, each keeping its rows:
   * the data do not depend on the layout. */
  PetscCall(VecGetSize(p->d, &n));
  PetscCall(VecGetOwnershipRange(p->d, &lo, &hi));
  PetscCall(VecGetArrayRead(p->clean, &s));
  PetscCall(VecGetArrayWrite(p->d, &a));
  for (PetscInt i = 0; i < n; i++) {
    const double e = gsl_ran_gaussian_ziggurat(rng, 1.0);
    if (i >= lo && i < hi) a[i - lo] = s[i - lo] + sigma * scale * e;
  }
  PetscCall(VecRestoreArrayWrite(p->d, &a));
  PetscCall(VecRestoreArrayRead(p->clean, &s));
  p->have_data = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSetNoiseCovariance(McPosterior p, PetscInt M, const PetscReal *Gamma)
{
  PetscInt nobs;
  MPI_Comm comm = PetscObjectComm((PetscObject)p->d);
  int      status;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(p->d, &nobs));
  PetscCheck(M == nobs, comm, PETSC_ERR_ARG_SIZ, "the noise covariance is %" PetscInt_FMT " x %" PetscInt_FMT ", but there are %" PetscInt_FMT " observations", M, M, nobs);
  PetscCheck(!p->gchol, comm, PETSC_ERR_ORDER, "the noise covariance is already set");
  p->gchol = gsl_matrix_alloc(M, M);
  p->grfull = gsl_vector_alloc(M);
  p->gzfull = gsl_vector_alloc(M);
  PetscCheck(p->gchol && p->grfull && p->gzfull, comm, PETSC_ERR_MEM, "out of memory for a %" PetscInt_FMT " x %" PetscInt_FMT " noise covariance", M, M);
  for (PetscInt i = 0; i < M; i++)
    for (PetscInt j = 0; j < M; j++) {
      PetscCheck(Gamma[i * M + j] == Gamma[j * M + i], comm, PETSC_ERR_ARG_WRONG, "the noise covariance is not symmetric: entry (%" PetscInt_FMT ",%" PetscInt_FMT ") is %g, (%" PetscInt_FMT ",%" PetscInt_FMT ") is %g", i, j, (double)Gamma[i * M + j], j, i, (double)Gamma[j * M + i]);
      gsl_matrix_set(p->gchol, i, j, Gamma[i * M + j]);
    }
  status = gsl_linalg_cholesky_decomp1(p->gchol);
  PetscCheck(status == 0, comm, PETSC_ERR_ARG_WRONG, "the noise covariance is not positive definite");
  PetscCall(VecScatterCreateToAll(p->d, &p->toall, &p->rall));
  PetscCall(VecDuplicate(p->d, &p->bu));
  /* The marginal standard deviations, for reports and relative scaling. */
  {
    PetscInt     lo, hi;
    PetscScalar *a;
    PetscCall(VecGetOwnershipRange(p->sigmas, &lo, &hi));
    PetscCall(VecGetArrayWrite(p->sigmas, &a));
    for (PetscInt i = lo; i < hi; i++) a[i - lo] = PetscSqrtReal(Gamma[i * M + i]);
    PetscCall(VecRestoreArrayWrite(p->sigmas, &a));
  }
  p->last_ok = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetData(McPosterior p, Vec *d, Vec *sigmas, Vec *clean)
{
  PetscFunctionBeginUser;
  if (d) *d = p->d;
  if (sigmas) *sigmas = p->sigmas;
  if (clean) *clean = p->clean;
  PetscFunctionReturn(0);
}

/* With a full noise covariance: r = B u - d gathered on every rank,
 * z = Gamma^-1 r by the stored Cholesky factor, Phi = r^T z / 2. The
 * gradient B^T z goes through the forward model's adjoint with unit weights
 * and the data shifted to B u - z, whose residual is exactly z. */
static PetscErrorCode MisfitCovariance(McPosterior p, PetscReal *phi, Vec gm)
{
  Vec                u;
  PetscScalar       *ra;
  const PetscScalar *ba;
  PetscInt           lo, hi;
  double             rz;

  PetscFunctionBeginUser;
  if (p->fw) PetscCall(McForwardGetState(p->fw, &u));
  else u = p->m;
  PetscCall(McObsOperatorApply(p->obs, u, p->bu));
  PetscCall(VecWAXPY(p->r, -1.0, p->d, p->bu));
  PetscCall(VecScatterBegin(p->toall, p->r, p->rall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(p->toall, p->r, p->rall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArray(p->rall, &ra));
  for (size_t i = 0; i < p->grfull->size; i++) gsl_vector_set(p->grfull, i, PetscRealPart(ra[i]));
  PetscCall(VecRestoreArray(p->rall, &ra));
  PetscCheck(!gsl_linalg_cholesky_solve(p->gchol, p->grfull, p->gzfull), PETSC_COMM_SELF, PETSC_ERR_LIB, "GSL could not apply the noise covariance");
  PetscCheck(!gsl_blas_ddot(p->grfull, p->gzfull, &rz), PETSC_COMM_SELF, PETSC_ERR_LIB, "GSL dot product failed");
  *phi = 0.5 * rz;
  if (!gm) PetscFunctionReturn(0);
  PetscCall(VecGetOwnershipRange(p->r, &lo, &hi));
  PetscCall(VecGetArrayRead(p->bu, &ba));
  PetscCall(VecGetArray(p->wr, &ra));
  for (PetscInt i = lo; i < hi; i++) ra[i - lo] = gsl_vector_get(p->gzfull, i);
  PetscCall(VecRestoreArray(p->wr, &ra));
  PetscCall(VecRestoreArrayRead(p->bu, &ba));
  if (p->fw) {
    McNoise   unit = {1.0, NULL};
    PetscReal junk;
    PetscCall(VecWAXPY(p->r, -1.0, p->wr, p->bu)); /* shifted data: B u - z */
    PetscCall(McForwardMisfitGradient(p->fw, p->obs, p->r, &unit, &junk, gm));
  } else {
    PetscCall(McObsOperatorApplyTranspose(p->obs, p->wr, gm));
  }
  PetscFunctionReturn(0);
}

/* 0.5 (B u - d)^T W (B u - d) and, with gm, its gradient w.r.t. m: through
 * the adjoint for the PDE, B^T W (B m - d) for a directly observed field. */
static PetscErrorCode Misfit(McPosterior p, PetscReal *phi, Vec gm)
{
  McNoise     noise = {1.0, p->weights};
  PetscScalar rwr;

  PetscFunctionBeginUser;
  if (p->gchol) {
    PetscCall(MisfitCovariance(p, phi, gm));
    PetscFunctionReturn(0);
  }
  if (p->fw) {
    PetscCall(McForwardMisfitGradient(p->fw, p->obs, p->d, &noise, phi, gm));
    PetscFunctionReturn(0);
  }
  PetscCall(McObsOperatorApply(p->obs, p->m, p->r));
  PetscCall(VecAXPY(p->r, -1.0, p->d));
  PetscCall(VecPointwiseMult(p->wr, p->r, p->weights));
  PetscCall(VecDot(p->r, p->wr, &rwr));
  *phi = 0.5 * PetscRealPart(rwr);
  if (gm) PetscCall(McObsOperatorApplyTranspose(p->obs, p->wr, gm));
  PetscFunctionReturn(0);
}

static PetscErrorCode Evaluate(McPosterior p, Vec xi, PetscBool near, PetscReal *phi, McPosteriorStatus *status)
{
  PetscBool direct = PETSC_FALSE; /* a near evaluation that refactorised at xi */

  PetscFunctionBeginUser;
  PetscCheck(p->have_data, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ORDER, "the posterior has no data: call McPosteriorSetData or McPosteriorSynthesize first");
  if (!near && p->xdirect_valid) {
    /* The exact evaluation of the proposal just solved directly (its
     * acceptance): that solve was this evaluation, bit for bit; the state
     * (field, solution, factorisation) is still its. */
    PetscBool same;
    p->xdirect_valid = PETSC_FALSE;
    PetscCall(VecEqual(xi, p->xdirect, &same));
    if (same) {
      p->grad_ok   = PETSC_FALSE;
      p->last_near = PETSC_FALSE;
      p->last_ok   = PETSC_TRUE;
      *phi         = p->phidirect;
      *status      = MC_POST_OK;
      PetscFunctionReturn(0);
    }
  }
  p->xdirect_valid = PETSC_FALSE;
  p->last_ok       = PETSC_FALSE;
  p->grad_ok       = PETSC_FALSE;
  p->last_near     = near;
  *phi             = PETSC_MAX_REAL;
  PetscCall(McPosteriorParameterToField(p, xi, p->m));
  if (near) PetscCall(SolveNear(p, p->m, status, &direct));
  else PetscCall(SolveAt(p, p->m, status));
  if (*status != MC_POST_OK) PetscFunctionReturn(0);
  PetscCall(Misfit(p, phi, NULL));
  if (PetscIsInfOrNanReal(*phi)) {
    *status = MC_POST_NAN;
    *phi    = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  p->last_ok = PETSC_TRUE;
  if (direct) {
    PetscCall(VecCopy(xi, p->xdirect));
    p->phidirect     = *phi;
    p->xdirect_valid = PETSC_TRUE;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorPotential(McPosterior p, Vec xi, PetscReal *phi, McPosteriorStatus *status)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate(p, xi, PETSC_FALSE, phi, status));
  if (!p->reuse) PetscFunctionReturn(0);
  /* The new anchor: this field, whose factorisation the solve just made. */
  p->have_anchor      = *status == MC_POST_OK ? PETSC_TRUE : PETSC_FALSE;
  p->factor_at_anchor = p->have_anchor;
  if (p->have_anchor) PetscCall(VecCopy(p->m, p->manchor));
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorPotentialNear(McPosterior p, Vec xi, PetscReal *phi, McPosteriorStatus *status)
{
  PetscFunctionBeginUser;
  PetscCall(Evaluate(p, xi, p->reuse && p->have_anchor ? PETSC_TRUE : PETSC_FALSE, phi, status));
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSetReuse(McPosterior p, PetscBool reuse)
{
  PetscBool has;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorGetReuse(p, NULL, &has));
  PetscCheck(has || !reuse, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_WRONG, "reusing the factorisation across proposals needs a PDE model with a direct solver (KSP preonly with PC cholesky or lu)");
  if (reuse && !p->manchor) {
    PetscCall(VecDuplicate(p->m, &p->manchor));
    PetscCall(VecDuplicate(p->m, &p->mspread));
    PetscCall(McPosteriorCreateParameterVector(p, &p->xdirect));
  }
  p->breakeven = 0;
  if (reuse) PetscCall(McForwardGetReuseBreakEven(p->fw, &p->breakeven));
  p->reuse            = reuse;
  p->have_anchor      = PETSC_FALSE;
  p->factor_at_anchor = PETSC_FALSE;
  p->xdirect_valid    = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSetReuseBreakEven(McPosterior p, PetscReal its)
{
  PetscFunctionBeginUser;
  p->breakeven = its > 0 ? its : 0;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetReuseBreakEven(McPosterior p, PetscReal *its)
{
  PetscFunctionBeginUser;
  *its = p->breakeven;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetReuse(McPosterior p, PetscBool *reuse, PetscBool *has)
{
  PetscFunctionBeginUser;
  if (reuse) *reuse = p->reuse;
  if (has) {
    *has = PETSC_FALSE;
    if (p->fw) PetscCall(McForwardHasReuse(p->fw, has));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetReuseStats(McPosterior p, McPosteriorReuseStats *stats)
{
  PetscFunctionBeginUser;
  *stats = p->reuse_stats;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGradient(McPosterior p, Vec grad)
{
  PetscReal phi;

  PetscFunctionBeginUser;
  PetscCheck(p->last_ok, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ORDER, "McPosteriorGradient needs a successful McPosteriorPotential at the same point first");
  if (p->last_near) p->factor_at_anchor = PETSC_FALSE; /* the adjoint refactorises at this point */
  PetscCall(Misfit(p, &phi, p->gm));
  p->grad_ok = PETSC_TRUE;
  if (p->param == MC_PARAM_KL) PetscCall(McPriorKLApplyLT(p->prior, p->gm, grad));
  else PetscCall(McPriorApplyLT(p->prior, p->gm, grad));
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetField(McPosterior p, Vec *m)
{
  PetscFunctionBeginUser;
  *m = p->m;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetPrior(McPosterior p, McPrior *prior)
{
  PetscFunctionBeginUser;
  *prior = p->prior;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetForward(McPosterior p, McForward *fw)
{
  PetscFunctionBeginUser;
  *fw = p->fw;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetObsOperator(McPosterior p, McObsOperator *obs)
{
  PetscFunctionBeginUser;
  *obs = p->obs;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorSetParameterization(McPosterior p, McParameterization kind)
{
  PetscFunctionBeginUser;
  if (kind == MC_PARAM_KL) PetscCall(McPriorGetKL(p->prior, NULL, NULL, NULL)); /* errors when not set up */
  p->param   = kind;
  p->last_ok = PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetParameterization(McPosterior p, McParameterization *kind)
{
  PetscFunctionBeginUser;
  *kind = p->param;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorCreateParameterVector(McPosterior p, Vec *xi)
{
  PetscFunctionBeginUser;
  if (p->param == MC_PARAM_KL) PetscCall(McPriorCreateKLVector(p->prior, xi));
  else PetscCall(McPriorCreateVector(p->prior, xi));
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorParameterToField(McPosterior p, Vec xi, Vec m)
{
  PetscFunctionBeginUser;
  if (p->param == MC_PARAM_KL) PetscCall(McPriorKLUnwhiten(p->prior, xi, m));
  else PetscCall(McPriorUnwhiten(p->prior, xi, m));
  PetscFunctionReturn(0);
}

typedef struct {
  PetscInt d;
} CoordCtx;

static PetscErrorCode Coordinate(PetscInt dim, const PetscReal x[], PetscScalar *val, void *ctx)
{
  const CoordCtx *c = (const CoordCtx *)ctx;
  (void)dim;
  *val = x[c->d];
  return 0;
}

/* Lumped-mass weights of the parameter-space vertices inside the region,
 * normalised to sum to one. */
static PetscErrorCode RegionWeights(McPosterior p, const McQoISpec *q, Vec w)
{
  McSpace   space;
  Vec       ml, x;
  PetscInt  dim, n;
  PetscBool whole = PETSC_TRUE;
  PetscReal total;
  DM        dm;

  PetscFunctionBeginUser;
  PetscCall(McPriorGetOperators(p->prior, NULL, NULL, &ml));
  PetscCall(VecCopy(ml, w));
  PetscCall(McPriorGetSpace_Private(p->prior, &space));
  PetscCall(McSpaceGetDM(space, &dm));
  PetscCall(DMGetDimension(dm, &dim));
  for (PetscInt d = 0; d < dim; d++) whole = (PetscBool)(whole && q->lower[d] >= q->upper[d]);
  if (!whole) {
    PetscCall(VecDuplicate(w, &x));
    PetscCall(VecGetLocalSize(w, &n));
    for (PetscInt d = 0; d < dim; d++) {
      CoordCtx           c = {d};
      const PetscScalar *xa;
      PetscScalar       *wa;
      PetscCall(McSpaceInterpolate(space, Coordinate, &c, x));
      PetscCall(VecGetArrayRead(x, &xa));
      PetscCall(VecGetArray(w, &wa));
      for (PetscInt i = 0; i < n; i++)
        if (PetscRealPart(xa[i]) < q->lower[d] || PetscRealPart(xa[i]) > q->upper[d]) wa[i] = 0;
      PetscCall(VecRestoreArray(w, &wa));
      PetscCall(VecRestoreArrayRead(x, &xa));
    }
    PetscCall(VecDestroy(&x));
  }
  PetscCall(VecSum(w, &total));
  PetscCheck(total > 0, PetscObjectComm((PetscObject)w), PETSC_ERR_ARG_OUTOFRANGE, "quantity of interest '%s': its region contains no mesh vertex", q->name);
  PetscCall(VecScale(w, 1.0 / total));
  PetscFunctionReturn(0);
}

typedef struct {
  PetscInt  axis;
  PetscReal near, far;
} FluxCtx;

/* 1 at the nodes on the side the flux crosses, 0 at every other node. The
 * flux sum_cells exp(m) grad u . grad w is the same for any w that is 1 on
 * that side and 0 on the opposite one: two such w differ by a test function
 * of the discrete problem (zero on both Dirichlet sides), against which the
 * residual of the solved state vanishes (f = 0). This w leaves only the
 * cells touching the side to sum (64 of 2,048 on the benchmark's mesh; a w
 * linear across the box made every cell count, 3% of a sampling run). */
static PetscErrorCode FluxWeight(PetscInt dim, const PetscReal x[], PetscScalar *val, void *ctx)
{
  const FluxCtx *f = (const FluxCtx *)ctx;
  (void)dim;
  *val = PetscAbsReal(x[f->axis] - f->near) <= 1e-10 * PetscAbsReal(f->near - f->far) ? 1.0 : 0.0;
  return 0;
}

PetscErrorCode McPosteriorAddQoI(McPosterior p, const McQoISpec *q)
{
  const PetscInt i = p->nqoi;

  PetscFunctionBeginUser;
  PetscCheck(i < MC_QOI_MAX, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_OUTOFRANGE, "at most %d quantities of interest", MC_QOI_MAX);
  PetscCheck(!q->state || q->kind == MC_QOI_POINT, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_WRONG, "quantity of interest '%s': only point values of the state are supported", q->name);
  PetscCheck(!q->state || p->fw, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_WRONG, "quantity of interest '%s': a directly observed field has no state", q->name);
  p->qoi[i]       = *q;
  p->qoi_names[i] = p->qoi[i].name;
  p->nqoi++; /* first, so a failure below leaves what was made to dealloc */
  if (q->kind == MC_QOI_MEAN) {
    PetscCall(VecDuplicate(p->m, &p->qoi_w[i]));
    PetscCall(RegionWeights(p, q, p->qoi_w[i]));
  } else if (q->kind == MC_QOI_LOG_FLUX) {
    McSpace   space;
    FluxCtx   fc;
    Vec       u;
    PetscCheck(p->fw, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_WRONG, "quantity of interest '%s': a directly observed field has no flux", q->name);
    PetscCheck(q->axis >= 0 && q->axis < 3 && (q->side == 0 || q->side == 1) && q->upper[q->axis] > q->lower[q->axis], PetscObjectComm((PetscObject)p->d), PETSC_ERR_ARG_OUTOFRANGE, "quantity of interest '%s': the flux needs an axis in 0..2, a side 0 or 1 and a box with upper > lower along the axis", q->name);
    fc.axis = q->axis;
    fc.near = q->side ? q->upper[q->axis] : q->lower[q->axis];
    fc.far  = q->side ? q->lower[q->axis] : q->upper[q->axis];
    PetscCall(McForwardGetStateSpace(p->fw, &space));
    PetscCall(McForwardGetState(p->fw, &u));
    PetscCall(VecDuplicate(u, &p->qoi_w[i]));
    PetscCall(McSpaceInterpolate(space, FluxWeight, &fc, p->qoi_w[i]));
  } else {
    McSpace space;
    if (q->state) PetscCall(McForwardGetStateSpace(p->fw, &space));
    else PetscCall(McPriorGetSpace_Private(p->prior, &space));
    PetscCall(McObsOperatorCreate(space, 1, q->point, &p->qoi_obs[i]));
    PetscCall(McObsOperatorCreateVector(p->qoi_obs[i], &p->qoi_v[i]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGetQoI(McPosterior p, PetscInt *n, const char *const **names)
{
  PetscFunctionBeginUser;
  if (n) *n = p->nqoi;
  if (names) *names = p->qoi_names;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorEvaluateQoI(McPosterior p, PetscReal *values)
{
  PetscFunctionBeginUser;
  PetscCheck(p->last_ok, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ORDER, "quantities of interest need a successful McPosteriorPotential first");
  for (PetscInt i = 0; i < p->nqoi; i++) {
    PetscScalar v;
    if (p->qoi[i].kind == MC_QOI_MEAN) {
      PetscCall(VecDot(p->qoi_w[i], p->m, &v));
    } else if (p->qoi[i].kind == MC_QOI_LOG_FLUX) {
      PetscReal flux;
      PetscCall(McForwardWeightedFlux(p->fw, p->qoi_w[i], &flux));
      v = PetscLogReal(PetscAbsReal(flux));
    } else {
      Vec u = p->m;
      if (p->qoi[i].state) PetscCall(McForwardGetState(p->fw, &u));
      PetscCall(McObsOperatorApply(p->qoi_obs[i], u, p->qoi_v[i]));
      PetscCall(VecSum(p->qoi_v[i], &v)); /* one entry, on whichever rank owns it */
    }
    values[i] = PetscRealPart(v);
  }
  PetscFunctionReturn(0);
}
