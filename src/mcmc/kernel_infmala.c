/* Infinity-MALA (Cotter, Roberts, Stuart, White 2013, "MCMC methods for
 * functions", the semi-implicit Langevin proposal): with the prior N(0, I)
 * of the whitened coordinates and g = grad Phi,
 *   xi' = ((2-d) xi - 2d g(xi) + sqrt(8d) z) / (2+d),
 * which is pCN with a drift from the likelihood only. It is defined on
 * function space, so its acceptance does not degrade under mesh refinement.
 * Acceptance min(1, exp(rho(xi,xi') - rho(xi',xi))) with
 *   rho(u,v) = Phi(u) + <v-u, g(u)>/2 + d/4 <u+v, g(u)> + d/4 |g(u)|^2,
 * the Hastings ratio with the prior terms cancelled exactly (no |xi|^2
 * differences of size N left to cancel in floating point). Step = d > 0. */
#include "mcmc/mcmc_impl.h"

#include <math.h>

static PetscErrorCode StepInfMALA(McKernel k, McRng rng, McStepStats *stats)
{
  PetscReal d = McKernelStep_Private(k), lr = 0;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(McRngGaussianVec(rng, k->prop.xi));
  PetscCall(VecAXPBYPCZ(k->prop.xi, (2 - d) / (2 + d), -2 * d / (2 + d), PetscSqrtReal(8 * d) / (2 + d), k->cur.xi,
                        k->cur.grad));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  if (ok) {
    Vec         u = k->cur.xi, v = k->prop.xi;
    Vec         ys_u[3] = {u, v, k->cur.grad}, ys_v[3] = {u, v, k->prop.grad};
    PetscScalar gu[3], gv[3]; /* <g(u), u>, <g(u), v>, |g(u)|^2 and the same for g(v) */
    PetscReal   rho_uv, rho_vu;

    PetscCall(VecMDot(k->cur.grad, 3, ys_u, gu));
    PetscCall(VecMDot(k->prop.grad, 3, ys_v, gv));
    rho_uv = k->cur.phi + 0.5 * (gu[1] - gu[0]) + 0.25 * d * (gu[0] + gu[1]) + 0.25 * d * gu[2];
    rho_vu = k->prop.phi + 0.5 * (gv[0] - gv[1]) + 0.25 * d * (gv[0] + gv[1]) + 0.25 * d * gv[2];
    lr = rho_uv - rho_vu;
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_InfMALA(McKernel k)
{
  PetscFunctionBeginUser;
  k->need_grad = PETSC_TRUE;
  k->ops.step = StepInfMALA;
  k->log_step = log(0.5);
  k->target_accept = 0.574;
  PetscFunctionReturn(0);
}
