/* Preconditioned Crank-Nicolson (Cotter, Roberts, Stuart, White 2013):
 * xi' = sqrt(1 - beta^2) xi + beta z, z ~ N(0, I). The proposal is reversible
 * with respect to the prior, so the acceptance ratio is exp(Phi(xi) -
 * Phi(xi')) alone and does not degrade as the discretisation is refined: the
 * default kernel for field parameters. Step size = beta in (0, 1]. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

static PetscErrorCode StepPCN(McKernel k, McRng rng, McStepStats *stats)
{
  PetscReal beta = McKernelStep_Private(k);
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McRngGaussianVec(rng, k->prop.xi));
  PetscCall(VecAXPBY(k->prop.xi, PetscSqrtReal(1 - beta * beta), beta, k->cur.xi));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, k->cur.phi - k->prop.phi, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_PCN(McKernel k)
{
  PetscFunctionBeginUser;
  k->ops.step = StepPCN;
  k->max_step = 1;
  k->log_step = log(0.2);
  k->target_accept = 0.234;
  PetscFunctionReturn(0);
}
