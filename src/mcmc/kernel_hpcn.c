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

/* Psi of the current state, kept while that state and the reference stay
 * (a rejected step then skips one projection onto the reference's basis);
 * keyed on the evaluation that made the state, so an accepted proposal that
 * was evaluated again exactly gets its Psi recomputed. */
typedef struct {
  PetscReal  psic, psip;
  PetscInt64 serial_c, stamp_c, serial_p;
} HPCN;

static PetscErrorCode StepHPCN(McKernel k, McRng rng, McStepStats *stats)
{
  HPCN     *h = k->data;
  PetscReal beta = McKernelStep_Private(k), s = PetscSqrtReal(1 - beta * beta), lr = 0;
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
    if (h->serial_c != k->cur.serial || h->stamp_c != k->ref.stamp) {
      PetscCall(McGaussRefPsi_Private(k, &k->cur, &h->psic));
      h->serial_c = k->cur.serial;
      h->stamp_c = k->ref.stamp;
    }
    PetscCall(McGaussRefPsi_Private(k, &k->prop, &h->psip));
    h->serial_p = k->prop.serial;
    lr = h->psic - h->psip;
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  if (ok && k->cur.serial == h->serial_p) {
    h->psic = h->psip;
    h->serial_c = h->serial_p;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyHPCN(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_HPCN(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(HPCN), &k->data));
  k->need_ref = PETSC_TRUE;
  k->ops.step = StepHPCN;
  k->ops.destroy = DestroyHPCN;
  k->max_step = 1;
  k->log_step = log(0.5);
  k->target_accept = 0.3;
  PetscFunctionReturn(0);
}
