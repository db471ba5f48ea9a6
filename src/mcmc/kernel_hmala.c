/* Hessian-informed MALA: infinity-MALA (Cotter, Roberts, Stuart, White
 * 2013) with the Gaussian reference N(mu, Sigma) (the Laplace
 * approximation) in place of the prior, i.e. a Langevin proposal
 * preconditioned by the inverse Hessian at the MAP point -- stochastic-Newton
 * MALA (Martin et al. 2012) in its Crank-Nicolson form, which keeps the
 * acceptance dimension-independent. With eta = xi - mu, G = grad Psi:
 *   eta' = ((2 - d) eta - 2 d Sigma G(xi) + sqrt(8 d) Sigma^(1/2) z) / (2 + d),
 * accepted with exp(rho(xi, xi') - rho(xi', xi)),
 *   rho(u, v) = Psi(u) + <v - u, G(u)>/2 + d/4 <eta_u + eta_v, G(u)> + d/4 G(u)^T Sigma G(u).
 * Exact Laplace approximation (Gaussian posterior): Psi constant, every
 * proposal accepted, d = 2 an independent draw. Step = d in (0, 2]. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

static PetscErrorCode SetUpHMALA(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(McForceCacheSetUp_Private(k, k->data));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyHMALA(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(McForceCacheDestroy_Private(k->data));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

/* rho(u, v) given Psi(u), G(u), Sigma G(u); xu, xv the two states. */
static PetscErrorCode Rho(McKernel k, PetscReal psi, Vec G, Vec P, Vec xu, Vec xv, PetscReal d, PetscReal *rho)
{
  Vec         ys[4] = {xu, xv, k->ref.mean, P};
  PetscScalar dots[4]; /* <G, xu>, <G, xv>, <G, mu>, <G, Sigma G> */

  PetscFunctionBeginUser;
  PetscCall(VecMDot(G, 4, ys, dots));
  *rho = psi + 0.5 * PetscRealPart(dots[1] - dots[0]) + 0.25 * d * PetscRealPart(dots[0] + dots[1] - 2 * dots[2]) +
         0.25 * d * PetscRealPart(dots[3]);
  PetscFunctionReturn(0);
}

PetscErrorCode McHMALAPropose_Private(McKernel k, McRng rng, PetscReal d, Vec P, Vec out)
{
  PetscReal a = (2 - d) / (2 + d), c = 2 * d / (2 + d), b = PetscSqrtReal(8 * d) / (2 + d);

  PetscFunctionBeginUser;
  PetscCall(McRngGaussianVec(rng, k->work));
  PetscCall(McGaussRefApply_Private(k, k->work, k->work, PETSC_TRUE));
  /* xi' = a xi - c P + b Sigma^(1/2) z + (1 - a) mu */
  PetscCall(VecCopy(k->cur.xi, out));
  PetscCall(VecAXPBY(out, -c, a, P));
  PetscCall(VecAXPY(out, b, k->work));
  PetscCall(VecAXPY(out, 1 - a, k->ref.mean));
  PetscFunctionReturn(0);
}

static PetscErrorCode StepHMALA(McKernel k, McRng rng, McStepStats *stats)
{
  McForceCache *h = k->data;
  PetscReal     d = McKernelStep_Private(k), r01 = 0, r10 = 0, lr = 0;
  PetscBool     ok;

  PetscFunctionBeginUser;
  if (McForceCacheStale_Private(k, h)) {
    PetscCall(McGaussRefPsiGradPrec_Private(k, &k->cur, &h->psic, h->Gc, h->Pc));
    McForceCacheMark_Private(k, h);
  }
  PetscCall(McHMALAPropose_Private(k, rng, d, h->Pc, k->prop.xi));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  if (ok) {
    PetscCall(McGaussRefPsiGradPrec_Private(k, &k->prop, &h->psip, h->Gp, h->Pp));
    PetscCall(Rho(k, h->psic, h->Gc, h->Pc, k->cur.xi, k->prop.xi, d, &r01));
    PetscCall(Rho(k, h->psip, h->Gp, h->Pp, k->prop.xi, k->cur.xi, d, &r10));
    lr = r01 - r10;
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  McForceCacheAccepted_Private(k, h);
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_HMALA(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(McForceCache), &k->data));
  k->need_grad = PETSC_TRUE;
  k->need_ref = PETSC_TRUE;
  k->ops.setup = SetUpHMALA;
  k->ops.step = StepHMALA;
  k->ops.destroy = DestroyHMALA;
  k->max_step = 2;
  k->log_step = log(1.0);
  k->target_accept = 0.574;
  PetscFunctionReturn(0);
}
