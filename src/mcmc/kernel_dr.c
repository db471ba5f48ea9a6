/* Delayed rejection (Tierney & Mira 1999) combining two Hessian-informed
 * proposals from the current state x, as in Kim et al. 2021: first hpcn
 * (step beta, the kernel's step size, adapted on the first stage's
 * acceptance unless "adapt_first" is 0); if y1 is rejected, hmala (step
 * "delta2", default 1, adapted on the second stage's acceptance towards
 * "target2", default 0.574) proposes y2, accepted with
 *   alpha2 = pi(y2) q1(y2 -> y1) q2(y2 -> x) (1 - alpha1(y2, y1))
 *          / [pi(x) q1(x -> y1) q2(x -> y2) (1 - alpha1(x, y1))],
 * which keeps the posterior invariant. q1 and q2 are Gaussians with
 * covariances beta^2 Sigma and b^2 Sigma, their densities evaluated with
 * Sigma^-1 = I + V diag(lambda) V^T. The step's acceptance probability is
 * alpha1 + (1 - alpha1) alpha2.
 *
 * Each stage adapts on its own acceptance: the first stage's beta by the
 * kernel's Robbins-Monro on every step, delta2 by its own on the steps that
 * reach the second stage. With beta = 1 (an independence proposal from the
 * reference, the comparison's first stage) adapt_first = 0 keeps beta: the
 * independence proposal is accepted rarely, and adapting towards the
 * target would shrink beta, after which the q1 ratio (whose log has mean
 * -(1 - beta^2) |y2 - x|^2_{Sigma^-1} / (2 beta^2)) rejects nearly every
 * second-stage move in high dimension. */
#include "mcmc/mcmc_impl.h"

#include <math.h>
#include <string.h>

typedef struct {
  McState   y1;
  Vec       Gc, Pc, Gp, Pp, res;
  PetscReal delta2, n2, target2; /* the second stage's step, its adaptation steps and target */
  PetscBool adapt_first;
} DR;

static PetscErrorCode SetUpDR(McKernel k)
{
  DR *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(k->target->tmpl, &d->y1.xi));
  PetscCall(VecDuplicate(k->target->tmpl, &d->y1.grad));
  if (k->nqoi) PetscCall(McCalloc((size_t)k->nqoi * sizeof(PetscReal), &d->y1.qoi));
  PetscCall(VecDuplicate(k->target->tmpl, &d->Gc));
  PetscCall(VecDuplicate(k->target->tmpl, &d->Pc));
  PetscCall(VecDuplicate(k->target->tmpl, &d->Gp));
  PetscCall(VecDuplicate(k->target->tmpl, &d->Pp));
  PetscCall(VecDuplicate(k->target->tmpl, &d->res));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyDR(McKernel k)
{
  DR *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&d->y1.xi));
  PetscCall(VecDestroy(&d->y1.grad));
  PetscCall(McFree(&d->y1.qoi));
  PetscCall(VecDestroy(&d->Gc));
  PetscCall(VecDestroy(&d->Pc));
  PetscCall(VecDestroy(&d->Gp));
  PetscCall(VecDestroy(&d->Pp));
  PetscCall(VecDestroy(&d->res));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetParamDR(McKernel k, const char *name, PetscReal value)
{
  DR *d = k->data;

  PetscFunctionBeginUser;
  if (!strcmp(name, "delta2")) {
    PetscCheck(value > 0 && value <= 2, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "kernel 'dr': delta2 must be in (0, 2], got %g", (double)value);
    d->delta2 = value;
  } else if (!strcmp(name, "target2")) {
    PetscCheck(value > 0 && value < 1, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "kernel 'dr': target2 must be in (0, 1), got %g", (double)value);
    d->target2 = value;
  } else if (!strcmp(name, "adapt_first")) {
    PetscCheck(value == 0 || value == 1, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "kernel 'dr': adapt_first must be 0 or 1, got %g", (double)value);
    d->adapt_first = value == 1 ? PETSC_TRUE : PETSC_FALSE;
  } else {
    SETERRQ(k->target->comm, PETSC_ERR_ARG_WRONG, "kernel 'dr' has no parameter '%s' (it has: delta2, target2, adapt_first)",
            name);
  }
  PetscFunctionReturn(0);
}

static PetscReal SecondStepDR(McKernel k)
{
  DR *d = k->data;

  return d->delta2;
}

/* The kernel's Robbins-Monro on log delta2, counted over the second-stage
 * steps only. */
static void AdaptSecond(McKernel k, PetscReal alpha2)
{
  DR *d = k->data;

  if (k->adapt) d->delta2 = exp(McKernelAdaptLogStep_Private(k, log(d->delta2), &d->n2, alpha2, d->target2, log(2.0)));
}

static PetscErrorCode AdaptSizeDR(McKernel k, PetscInt *n)
{
  PetscFunctionBeginUser;
  (void)k;
  *n = 2;
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSaveDR(McKernel k, PetscReal *buf)
{
  DR *d = k->data;

  PetscFunctionBeginUser;
  buf[0] = d->delta2;
  buf[1] = d->n2;
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptRestoreDR(McKernel k, const PetscReal *buf)
{
  DR *d = k->data;

  PetscFunctionBeginUser;
  d->delta2 = buf[0];
  d->n2 = buf[1];
  PetscFunctionReturn(0);
}

/* -|v - (a u + (1 - a) mu - c P)|^2_{Sigma^-1} / (2 b^2): log of a Gaussian
 * proposal density from u to v, constants dropped (they cancel). */
static PetscErrorCode LogQ(McKernel k, Vec u, Vec v, PetscReal a, PetscReal c, Vec P, PetscReal b, PetscReal *lq)
{
  DR       *d = k->data;
  PetscReal n2;

  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(d->res, -a, u, v));
  PetscCall(VecAXPY(d->res, -(1 - a), k->ref.mean));
  if (P) PetscCall(VecAXPY(d->res, c, P));
  PetscCall(McGaussRefNormPrec_Private(k, d->res, &n2));
  *lq = -n2 / (2 * b * b);
  PetscFunctionReturn(0);
}

/* The acceptance the kernel's adaptation of beta sees: the first stage's,
 * or the target itself (no change to beta) with adapt_first = 0. */
static PetscReal FirstAdaptAlpha(McKernel k, PetscReal alpha1)
{
  DR *d = k->data;

  return d->adapt_first ? alpha1 : k->target_accept;
}

static PetscErrorCode StepDR(McKernel k, McRng rng, McStepStats *stats)
{
  DR       *d = k->data;
  PetscReal beta = McKernelStep_Private(k), s = PetscSqrtReal(1 - beta * beta);
  PetscReal d2 = d->delta2, a2 = (2 - d2) / (2 + d2), c2 = 2 * d2 / (2 + d2), b2 = PetscSqrtReal(8 * d2) / (2 + d2);
  PetscReal psix, psi1 = 0, psi2, alpha1 = 0, lr1 = 0, lr2, alpha2 = 0, q1n, q1d, q2n, q2d, lnum, lden;
  PetscBool ok1, ok2, accept;

  PetscFunctionBeginUser;
  PetscCall(McGaussRefPsi_Private(k, &k->cur, &psix));
  /* Stage 1: hpcn. */
  PetscCall(McRngGaussianVec(rng, k->work));
  PetscCall(McGaussRefApply_Private(k, k->work, k->work, PETSC_TRUE));
  PetscCall(VecCopy(k->cur.xi, k->prop.xi));
  PetscCall(VecAXPBY(k->prop.xi, beta, s, k->work));
  PetscCall(VecAXPY(k->prop.xi, 1 - s, k->ref.mean));
  /* Stage 1 needs no gradient at y1 unless y1 is accepted (a few percent
   * of the steps with beta = 1): it is computed then. */
  PetscCall(McKernelEvaluatePotential_Private(k, &k->prop, &ok1));
  if (ok1) {
    PetscCall(McGaussRefPsi_Private(k, &k->prop, &psi1));
    lr1 = psix - psi1;
    if (PetscIsNanReal(lr1)) ok1 = PETSC_FALSE;
  }
  if (ok1) {
    alpha1 = lr1 >= 0 ? 1 : exp(lr1);
    accept = lr1 >= 0 || log(McRngUniform(rng)) < lr1 ? PETSC_TRUE : PETSC_FALSE;
    if (accept) {
      /* a gradient failure counts as a failed evaluation of y1, as in stage 2 */
      PetscCall(McKernelEvaluateGradient_Private(k, &k->prop, &ok1));
      if (!ok1) {
        accept = PETSC_FALSE;
        alpha1 = 0;
      }
    }
    if (accept) {
      PetscCall(McKernelFinishStep_Private(k, PETSC_TRUE, PETSC_TRUE, alpha1, FirstAdaptAlpha(k, alpha1), stats));
      PetscFunctionReturn(0);
    }
  }
  {
    McState t = k->prop;
    k->prop = d->y1;
    d->y1 = t;
  }
  /* Stage 2: hmala from x. */
  PetscCall(McGaussRefPsiGradPrec_Private(k, &k->cur, NULL, d->Gc, d->Pc));
  PetscCall(McHMALAPropose_Private(k, rng, d2, d->Pc, k->prop.xi));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok2));
  if (!ok2) {
    AdaptSecond(k, 0);
    PetscCall(McKernelFinishStep_Private(k, PETSC_FALSE, PETSC_FALSE, alpha1, FirstAdaptAlpha(k, alpha1), stats));
    PetscFunctionReturn(0);
  }
  PetscCall(McGaussRefPsiGradPrec_Private(k, &k->prop, &psi2, d->Gp, d->Pp));
  /* 1 - alpha1(y2, y1) = 0 when y1 would certainly be accepted from y2. */
  if (ok1 && psi2 - psi1 >= 0) {
    lr2 = -PETSC_INFINITY;
  } else {
    PetscReal num1 = ok1 ? log1p(-exp(psi2 - psi1)) : 0, den1 = ok1 ? log1p(-alpha1) : 0;
    PetscCall(LogQ(k, k->prop.xi, d->y1.xi, s, 0, NULL, beta, &q1n));
    PetscCall(LogQ(k, k->cur.xi, d->y1.xi, s, 0, NULL, beta, &q1d));
    PetscCall(LogQ(k, k->prop.xi, k->cur.xi, a2, c2, d->Pp, b2, &q2n));
    PetscCall(LogQ(k, k->cur.xi, k->prop.xi, a2, c2, d->Pc, b2, &q2d));
    lnum = -(k->prop.phi + 0.5 * k->prop.xi2) + q1n + q2n + num1;
    lden = -(k->cur.phi + 0.5 * k->cur.xi2) + q1d + q2d + den1;
    lr2 = lnum - lden;
  }
  if (PetscIsNanReal(lr2)) {
    AdaptSecond(k, 0);
    PetscCall(McKernelFinishStep_Private(k, PETSC_FALSE, PETSC_FALSE, alpha1, FirstAdaptAlpha(k, alpha1), stats));
    PetscFunctionReturn(0);
  }
  if (lr2 >= 0) {
    alpha2 = 1;
    accept = PETSC_TRUE;
  } else if (lr2 == -PETSC_INFINITY) {
    alpha2 = 0;
    accept = PETSC_FALSE;
  } else {
    alpha2 = exp(lr2);
    accept = log(McRngUniform(rng)) < lr2 ? PETSC_TRUE : PETSC_FALSE;
  }
  AdaptSecond(k, alpha2);
  PetscCall(McKernelFinishStep_Private(k, PETSC_TRUE, accept, alpha1 + (1 - alpha1) * alpha2, FirstAdaptAlpha(k, alpha1),
                                       stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_DR(McKernel k)
{
  DR *d;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(DR), &d));
  d->delta2 = 1.0;
  d->target2 = 0.574;
  d->adapt_first = PETSC_TRUE;
  k->data = d;
  k->need_grad = PETSC_TRUE;
  k->need_ref = PETSC_TRUE;
  k->ops.setup = SetUpDR;
  k->ops.step = StepDR;
  k->ops.set_param = SetParamDR;
  k->ops.second_step = SecondStepDR;
  k->ops.adapt_size = AdaptSizeDR;
  k->ops.adapt_save = AdaptSaveDR;
  k->ops.adapt_restore = AdaptRestoreDR;
  k->ops.destroy = DestroyDR;
  k->max_step = 1;
  k->log_step = log(0.5);
  k->target_accept = 0.3;
  PetscFunctionReturn(0);
}
