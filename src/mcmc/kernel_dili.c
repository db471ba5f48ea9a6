/* Dimension-independent likelihood-informed MCMC (Cui, Law, Marzouk 2016),
 * in the form built on the Gaussian reference N(mu, Sigma): the
 * likelihood-informed subspace (LIS) is the span of the reference's r
 * Hessian eigenvectors V, the rest is its complement. In the coordinates
 * c = V^T (xi - mu) (reference N(0, S), S = diag(1/(1+lambda))) the proposal
 * is a Langevin step with the gradient of Psi (infinity-MALA, step d); in
 * the complement, where the data say little, it is pCN with its own step
 * beta_perp (parameter "beta_perp", default 0.5):
 *   c'      = ((2 - d) c - 2 d S Gc + sqrt(8 d) S^(1/2) z_r) / (2 + d),  Gc = V^T grad Psi,
 *   eta_p'  = sqrt(1 - beta_perp^2) eta_p + beta_perp (I - V V^T) z,
 * one N-vector of normals giving both (z_r = V^T z). The complement move is
 * reversible with respect to its reference and cancels from the ratio,
 * which is the r-dimensional infinity-MALA one:
 *   rho(u, v) = Psi(u) + (c_v - c_u).Gc_u/2 + d/4 (c_u + c_v).Gc_u + d/4 Gc_u^T S Gc_u.
 * Step = d in (0, 2]. (The LIS is fixed at the reference's; it is not
 * re-estimated during burn-in.) */
#include "mcmc/mcmc_impl.h"

#include <math.h>
#include <string.h>

typedef struct {
  PetscInt     r;
  PetscScalar *cu, *cv, *gu, *gv, *zr, *coef, *vmu;
  PetscReal    beta_perp;
} DILI;

static PetscErrorCode SetUpDILI(McKernel k)
{
  DILI    *d = k->data;
  PetscInt r = k->ref.r;

  PetscFunctionBeginUser;
  d->r = r;
  PetscCall(McMalloc((size_t)(7 * r) * sizeof(PetscScalar), &d->cu));
  d->cv = d->cu + r;
  d->gu = d->cv + r;
  d->gv = d->gu + r;
  d->zr = d->gv + r;
  d->coef = d->zr + r;
  d->vmu = d->coef + r;
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyDILI(McKernel k)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(McFree(&d->cu));
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetParamDILI(McKernel k, const char *name, PetscReal value)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  PetscCheck(!strcmp(name, "beta_perp"), k->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel 'dili' has no parameter '%s' (it has: beta_perp)", name);
  PetscCheck(value > 0 && value <= 1, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "kernel 'dili': beta_perp must be in (0, 1], got %g", (double)value);
  d->beta_perp = value;
  PetscFunctionReturn(0);
}

/* Psi, c = V^T (xi - mu) and Gc = V^T grad Psi = V^T g + V^T mu - lambda c at s. */
static PetscErrorCode LISState(McKernel k, const McState *s, PetscReal *psi, PetscScalar *c, PetscScalar *g)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(McGaussRefPsi_Private(k, s, psi));
  PetscCall(VecMDot(s->grad, d->r, k->ref.V, g));
  for (PetscInt i = 0; i < d->r; i++) {
    c[i] = k->ref.c[i];
    g[i] += d->vmu[i] - k->ref.lambda[i] * c[i];
  }
  PetscFunctionReturn(0);
}

static PetscReal Rho(const DILI *d, const PetscReal *lambda, PetscReal psi, const PetscScalar *cu, const PetscScalar *cv,
                     const PetscScalar *gu, PetscReal delta)
{
  PetscReal rho = psi;
  for (PetscInt i = 0; i < d->r; i++) {
    PetscReal g = PetscRealPart(gu[i]), u = PetscRealPart(cu[i]), v = PetscRealPart(cv[i]);
    rho += 0.5 * (v - u) * g + 0.25 * delta * (u + v) * g + 0.25 * delta * g * g / (1 + lambda[i]);
  }
  return rho;
}

static PetscErrorCode StepDILI(McKernel k, McRng rng, McStepStats *stats)
{
  DILI     *d = k->data;
  PetscReal delta = McKernelStep_Private(k), a = (2 - delta) / (2 + delta), c = 2 * delta / (2 + delta);
  PetscReal b = PetscSqrtReal(8 * delta) / (2 + delta), bp = d->beta_perp, sp = PetscSqrtReal(1 - bp * bp);
  PetscReal psiu, psiv, lr = 0;
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCheck(d->r == k->ref.r, k->target->comm, PETSC_ERR_ARG_WRONGSTATE,
             "kernel 'dili': the reference's rank changed from %d to %d after set-up", (int)d->r, (int)k->ref.r);
  PetscCall(VecMDot(k->ref.mean, d->r, k->ref.V, d->vmu));
  PetscCall(LISState(k, &k->cur, &psiu, d->cu, d->gu));
  PetscCall(McRngGaussianVec(rng, k->work));
  PetscCall(VecMDot(k->work, d->r, k->ref.V, d->zr));
  /* complement: sp (xi - mu) + bp z + mu, then replace the LIS part */
  PetscCall(VecCopy(k->cur.xi, k->prop.xi));
  PetscCall(VecAXPBY(k->prop.xi, bp, sp, k->work));
  PetscCall(VecAXPY(k->prop.xi, 1 - sp, k->ref.mean));
  for (PetscInt i = 0; i < d->r; i++) {
    PetscReal S = 1 / (1 + k->ref.lambda[i]);
    d->coef[i] = a * d->cu[i] - c * S * d->gu[i] + b * PetscSqrtReal(S) * d->zr[i] - sp * d->cu[i] - bp * d->zr[i];
  }
  PetscCall(VecMAXPY(k->prop.xi, d->r, d->coef, k->ref.V));
  PetscCall(McKernelEvaluate_Private(k, &k->prop, &ok));
  if (ok) {
    PetscCall(LISState(k, &k->prop, &psiv, d->cv, d->gv));
    lr = Rho(d, k->ref.lambda, psiu, d->cu, d->cv, d->gu, delta) - Rho(d, k->ref.lambda, psiv, d->cv, d->cu, d->gv, delta);
  }
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelCreate_DILI(McKernel k)
{
  DILI *d;

  PetscFunctionBeginUser;
  PetscCall(McCalloc(sizeof(DILI), &d));
  d->beta_perp = 0.5;
  k->data = d;
  k->need_grad = PETSC_TRUE;
  k->need_ref = PETSC_TRUE;
  k->ops.setup = SetUpDILI;
  k->ops.step = StepDILI;
  k->ops.set_param = SetParamDILI;
  k->ops.destroy = DestroyDILI;
  k->max_step = 2;
  k->log_step = log(1.0);
  k->target_accept = 0.574;
  PetscFunctionReturn(0);
}
