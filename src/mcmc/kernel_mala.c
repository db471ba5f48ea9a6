/* Metropolis-adjusted Langevin (Roberts & Tweedie 1996) on the whole
 * posterior in xi: with G(xi) = grad Phi(xi) + xi = -grad log posterior,
 *   xi' = xi - (h^2/2) G(xi) + h z,
 * accepted with the Hastings ratio of the two Gaussian proposal densities.
 * The step must shrink like N^-1/6 as N grows (unlike infmala). Step = h. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

static PetscErrorCode StepMALA(McKernel k, McRng rng, McStepStats *stats)
{
  PetscReal h = McKernelStep_Private(k), c = 0.5 * h * h, z2, r2, lr;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McRngGaussianVec(rng, k->prop.xi));
  PetscCall(VecDot(k->prop.xi, k->prop.xi, &z2));
  /* xi' = (1 - c) xi - c grad Phi(xi) + h z */
  PetscCall(VecAXPBYPCZ(k->prop.xi, 1 - c, -c, h, k->cur.xi, k->cur.grad));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  if (ok) {
    /* Reverse move residual: xi - xi' + c G(xi') */
    PetscCall(VecCopy(k->cur.xi, k->work));
    PetscCall(VecAXPBYPCZ(k->work, -(1 - c), c, 1, k->prop.xi, k->prop.grad));
    PetscCall(VecDot(k->work, k->work, &r2));
    /* log q(xi|xi') - log q(xi'|xi), the forward residual being h z */
    lr = (k->cur.phi + 0.5 * k->cur.xi2) - (k->prop.phi + 0.5 * k->prop.xi2) + 0.5 * z2 - r2 / (2 * h * h);
  } else {
    lr = 0;
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_MALA(McKernel k)
{
  PetscFunctionBeginUser;
  k->need_grad = PETSC_TRUE;
  k->ops.step = StepMALA;
  k->log_step = log(PetscPowReal((PetscReal)k->target->N, -1.0 / 6));
  k->target_accept = 0.574;
  PetscFunctionReturn(0);
}
