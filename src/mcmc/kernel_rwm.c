/* Random-walk Metropolis: xi' = xi + sigma L z, z ~ N(0, I), with L = I or
 * the Cholesky factor of a covariance the user gives (McKernelRWMSetCovariance).
 * The proposal is symmetric, so the ratio is the posterior ratio. Its
 * acceptance collapses as N grows (step ~ N^-1/2): use it in low dimension,
 * e.g. KL coordinates. Step size = sigma. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

typedef struct {
  McDenseProposal dense; /* used only with a covariance */
} RWM;

static PetscErrorCode SetUpRWM(McKernel k)
{
  RWM      *r = k->data;
  PetscBool ok;

  PetscFunctionBeginUser;
  if (!k->dense_C) PetscFunctionReturn(0);
  PetscCall(McDenseProposalCreate_Private(k, &r->dense));
  PetscCall(McDenseProposalFactor_Private(&r->dense, k->dense_C, 0, &ok));
  PetscCheck(ok, k->target->comm, PETSC_ERR_ARG_WRONG, "rwm: the proposal covariance is not positive definite");
  PetscFunctionReturn(0);
}

static PetscErrorCode StepRWM(McKernel k, McRng rng, McStepStats *stats)
{
  RWM      *r = k->data;
  PetscReal sigma = McKernelStep_Private(k);
  PetscBool ok;

  PetscFunctionBeginUser;
  if (k->dense_C) {
    PetscCall(McDenseProposalDraw_Private(k, &r->dense, rng, sigma));
  } else {
    PetscCall(McRngGaussianVec(rng, k->prop.xi));
    PetscCall(VecAYPX(k->prop.xi, sigma, k->cur.xi));
  }
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  PetscCall(McKernelAcceptReject_Private(
    k, rng, ok, (k->cur.phi + 0.5 * k->cur.xi2) - (k->prop.phi + 0.5 * k->prop.xi2), stats));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyRWM(McKernel k)
{
  RWM *r = k->data;

  PetscFunctionBeginUser;
  PetscCall(McDenseProposalDestroy_Private(&r->dense));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_RWM(McKernel k)
{
  RWM *r;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(*r), &r));
  k->data = r;
  k->ops.setup = SetUpRWM;
  k->ops.step = StepRWM;
  k->ops.destroy = DestroyRWM;
  k->log_step = log(2.38 / PetscSqrtReal((PetscReal)k->target->N));
  k->target_accept = 0.234;
  PetscFunctionReturn(0);
}
