/* Hessian-informed pCN (the generalised pCN of Rudolf & Sprungk 2018; gpCN
 * or h-pCN in Kim et al. 2021): pCN with the Gaussian reference N(mu, Sigma)
 * (the Laplace approximation) in place of the prior,
 *   xi' = mu + sqrt(1 - beta^2) (xi - mu) + beta Sigma^(1/2) z,  z ~ N(0, I),
 * reversible with respect to the reference, so the acceptance ratio is
 * exp(Psi(xi) - Psi(xi')) with Psi the potential with respect to the
 * reference (kernel_geom.c). Where the posterior is close to its Laplace
 * approximation Psi is nearly flat and large steps are accepted; the step
 * is dimension-independent. Step = beta in (0, 1]. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

static PetscErrorCode StepHPCN(McKernel k, McRng rng, McStepStats *stats)
{
  PetscReal beta = McKernelStep_Private(k), s = PetscSqrtReal(1 - beta * beta), psi0, psi1, lr = 0;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McRngGaussianVec(rng, k->work));
  PetscCall(McGaussRefApply_Private(k, k->work, k->work, PETSC_TRUE));
  /* xi' = s xi + beta Sigma^(1/2) z + (1 - s) mu */
  PetscCall(VecCopy(k->cur.xi, k->prop.xi));
  PetscCall(VecAXPBY(k->prop.xi, beta, s, k->work));
  PetscCall(VecAXPY(k->prop.xi, 1 - s, k->ref.mean));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  if (ok) {
    PetscCall(McGaussRefPsi_Private(k, &k->cur, &psi0));
    PetscCall(McGaussRefPsi_Private(k, &k->prop, &psi1));
    lr = psi0 - psi1;
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_HPCN(McKernel k)
{
  PetscFunctionBeginUser;
  k->need_ref = PETSC_TRUE;
  k->ops.step = StepHPCN;
  k->max_step = 1;
  k->log_step = log(0.5);
  k->target_accept = 0.3;
  PetscFunctionReturn(0);
}
