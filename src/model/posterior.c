/* The posterior the sampler sees: Phi(xi) = 0.5 |(B u(m0 + L xi) - d)/sigma|^2.
 *
 * Everything an evaluation touches is allocated here once. A proposal whose
 * forward problem cannot be solved (solver failure, exp(m) overflow, NaN)
 * is reported through McPosteriorStatus: the sampler rejects it and counts
 * it; it is never an error. The gradient reuses the forward solve of the
 * last potential evaluation (the sampler's call-order contract). */
#include "model/model.h"
#include "obj/obj.h"

#include <gsl/gsl_randist.h>
#include <math.h>

struct _p_McPosterior {
  MC_OBJECT_HEAD;
  McForward     fw;    /* reference */
  McObsOperator obs;   /* reference */
  McPrior       prior; /* reference */
  Vec           m;       /* field of the last evaluation */
  Vec           d;       /* data */
  Vec           sigmas;  /* noise standard deviation per observation */
  Vec           weights; /* 1/sigma^2, the noise precision the adjoint uses */
  Vec           clean;   /* noise-free observations of the truth, if synthesized */
  Vec           gm;      /* gradient w.r.t. m */
  Vec           r, wr;   /* residual and weighted residual (direct observation) */
  McParameterization param;
  PetscBool     have_data, last_ok;
};

static int PosteriorTraverse(McObject *o, McVisitProc visit, void *arg)
{
  McPosterior p = (McPosterior)o;
  MC_VISIT(p->fw);
  MC_VISIT(p->obs);
  MC_VISIT(p->prior);
  return 0;
}

static void PosteriorClear(McObject *o)
{
  McPosterior p = (McPosterior)o;
  MC_CLEAR(p->fw);
  MC_CLEAR(p->obs);
  MC_CLEAR(p->prior);
}

static void PosteriorDealloc(McObject *o)
{
  McPosterior p = (McPosterior)o;
  /* dealloc cannot report errors; VecDestroy only fails on corrupt objects */
  (void)VecDestroy(&p->m);
  (void)VecDestroy(&p->d);
  (void)VecDestroy(&p->sigmas);
  (void)VecDestroy(&p->weights);
  (void)VecDestroy(&p->clean);
  (void)VecDestroy(&p->gm);
  (void)VecDestroy(&p->r);
  (void)VecDestroy(&p->wr);
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
  PetscCall(SetSigmas(p, sigma, sigmas));
  p->have_data = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* Forward solve at m, classified. */
static PetscErrorCode SolveAt(McPosterior p, Vec m, McPosteriorStatus *status)
{
  PetscReal mmax;
  PetscBool converged;

  PetscFunctionBeginUser;
  PetscCall(VecMax(m, NULL, &mmax));
  if (PetscIsNanReal(mmax)) {
    *status = MC_POST_NAN;
    PetscFunctionReturn(0);
  }
  if (mmax > MC_POSTERIOR_MAX_LOG_COEFF) {
    *status = MC_POST_OVERFLOW;
    PetscFunctionReturn(0);
  }
  if (!p->fw) {
    *status = MC_POST_OK;
    PetscFunctionReturn(0);
  }
  PetscCall(McForwardSolve(p->fw, m, &converged));
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

PetscErrorCode McPosteriorGetData(McPosterior p, Vec *d, Vec *sigmas, Vec *clean)
{
  PetscFunctionBeginUser;
  if (d) *d = p->d;
  if (sigmas) *sigmas = p->sigmas;
  if (clean) *clean = p->clean;
  PetscFunctionReturn(0);
}

/* 0.5 (B u - d)^T W (B u - d) and, with gm, its gradient w.r.t. m: through
 * the adjoint for the PDE, B^T W (B m - d) for a directly observed field. */
static PetscErrorCode Misfit(McPosterior p, PetscReal *phi, Vec gm)
{
  McNoise     noise = {1.0, p->weights};
  PetscScalar rwr;

  PetscFunctionBeginUser;
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

PetscErrorCode McPosteriorPotential(McPosterior p, Vec xi, PetscReal *phi, McPosteriorStatus *status)
{
  PetscFunctionBeginUser;
  PetscCheck(p->have_data, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ORDER, "the posterior has no data: call McPosteriorSetData or McPosteriorSynthesize first");
  p->last_ok = PETSC_FALSE;
  *phi       = PETSC_MAX_REAL;
  PetscCall(McPosteriorParameterToField(p, xi, p->m));
  PetscCall(SolveAt(p, p->m, status));
  if (*status != MC_POST_OK) PetscFunctionReturn(0);
  PetscCall(Misfit(p, phi, NULL));
  if (PetscIsInfOrNanReal(*phi)) {
    *status = MC_POST_NAN;
    *phi    = PETSC_MAX_REAL;
    PetscFunctionReturn(0);
  }
  p->last_ok = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorGradient(McPosterior p, Vec grad)
{
  PetscReal phi;

  PetscFunctionBeginUser;
  PetscCheck(p->last_ok, PetscObjectComm((PetscObject)p->d), PETSC_ERR_ORDER, "McPosteriorGradient needs a successful McPosteriorPotential at the same point first");
  PetscCall(Misfit(p, &phi, p->gm));
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
