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
 * Step = d in (0, 2].
 *
 * Subspace update in burn-in (parameter "lis_update_every" = K > 0; the
 * target must have a Gauss-Newton Hessian, McTargetSetHessian). The MAP
 * point's Hessian informs the LIS only locally; Cui, Law and Marzouk build
 * it from the posterior expectation of the Gauss-Newton Hessian instead.
 * Every K burn-in iterations (at the first accepted step after that), the
 * Hessian H(x) at the chain's state x enters a running average
 *   S_k = (k-1)/k S_(k-1) + H(x_k)/k,   S_(k-1) ~ V diag(lambda) V^T (rank r),
 * and V, lambda become S_k's r leading eigenpairs: one block subspace
 * iteration (Rayleigh-Ritz) from the probes [V, Krylov(H(x), grad Phi(x))]
 * -- warm-started with the current LIS, completed by the directions the
 * data inform at x (grad Phi lies in the range of the Gauss-Newton
 * Hessian), deterministic, so no random numbers are drawn. The MAP
 * Hessian only starts the iteration (S_1 = H(x_1)): on a linear problem
 * every S_k is then the exact Hessian. The mean stays mu. Outside burn-in
 * the chain sets adaptation off and the reference is frozen, so the chain
 * after burn-in is a Markov chain with a fixed kernel, exact for any
 * reference. All of it is allocated at set-up; a checkpoint carries the
 * updated V and lambda. */
#include "mcmc/mcmc_impl.h"

#include <gsl/gsl_eigen.h>

#include <math.h>
#include <string.h>

#define DILI_PROBES 10 /* Krylov probes per update (fewer if r + p would exceed N) */

typedef struct {
  PetscInt     r;
  PetscScalar *cu, *cv, *gu, *gv, *zr, *coef, *vmu;
  PetscReal    beta_perp;
  /* subspace update in burn-in */
  PetscInt                   every;     /* burn-in iterations between updates (0: off) */
  PetscInt                   p, m;      /* Krylov probes, m = r + p */
  PetscReal                  since;     /* adaptation steps since the last update (reals: checkpointed as such) */
  PetscReal                  nupdate;   /* updates done, the running average's count */
  Vec                        evaluated; /* prop.xi of the last step: equals cur.xi after an accepted step */
  Vec                       *P, *Q, *Z; /* m each: probes (then the new V), orthonormal range of S P, S Q */
  PetscScalar               *dots;      /* m */
  PetscReal                 *T, *W;     /* m x m: Rayleigh quotient, its eigenvectors (row-major) */
  PetscReal                 *theta;     /* m Ritz values */
  PetscScalar               *col;       /* m: one eigenvector's coefficients */
  gsl_eigen_symmv_workspace *ws[DILI_PROBES + 1]; /* for nq = m - p .. m (GSL's own allocation, a few KB) */
} DILI;

static PetscErrorCode SetUpDILI(McKernel k)
{
  DILI    *d = k->data;
  PetscInt r = k->ref.r, N = k->target->N;

  PetscFunctionBeginUser;
  d->r = r;
  PetscCall(McMalloc((size_t)(7 * r) * sizeof(PetscScalar), &d->cu));
  d->cv = d->cu + r;
  d->gu = d->cv + r;
  d->gv = d->gu + r;
  d->zr = d->gv + r;
  d->coef = d->zr + r;
  d->vmu = d->coef + r;
  if (!d->every) PetscFunctionReturn(0);
  PetscCheck(k->target->hessian, k->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel 'dili': lis_update_every = %d needs the Gauss-Newton Hessian of the target, and this target "
             "has none (McTargetSetHessian); set lis_update_every = 0 to keep the subspace of the reference",
             (int)d->every);
  d->p = PetscMin(DILI_PROBES, N - r);
  d->m = r + d->p;
  PetscCall(VecDuplicateVecs(k->target->tmpl, d->m, &d->P));
  PetscCall(VecDuplicateVecs(k->target->tmpl, d->m, &d->Q));
  PetscCall(VecDuplicateVecs(k->target->tmpl, d->m, &d->Z));
  /* VecNorm and VecZeroEntries cache a norm in each Vec's composed data,
   * which PETSc allocates at the first one: take them here, so the updates
   * do not. */
  for (PetscInt i = 0; i < d->m; i++) {
    PetscReal nrm;
    PetscCall(VecNorm(d->P[i], NORM_2, &nrm));
    PetscCall(VecNorm(d->Q[i], NORM_2, &nrm));
    if (i < r) PetscCall(VecNorm(k->ref.V[i], NORM_2, &nrm));
  }
  PetscCall(McMalloc((size_t)d->m * sizeof(*d->dots), &d->dots));
  PetscCall(McMalloc((size_t)d->m * sizeof(*d->col), &d->col));
  PetscCall(McMalloc((size_t)(d->m * d->m) * sizeof(*d->T), &d->T));
  PetscCall(McMalloc((size_t)(d->m * d->m) * sizeof(*d->W), &d->W));
  PetscCall(McMalloc((size_t)d->m * sizeof(*d->theta), &d->theta));
  /* the range has between r and m vectors: one workspace per size, so the
   * update never allocates */
  for (PetscInt i = 0; i <= d->p; i++) {
    d->ws[i] = gsl_eigen_symmv_alloc((size_t)(r + i));
    PetscCheck(d->ws[i], PETSC_COMM_SELF, PETSC_ERR_MEM, "kernel 'dili': out of memory for an eigensolver workspace");
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyDILI(McKernel k)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(McFree(&d->cu));
  if (d->P) PetscCall(VecDestroyVecs(d->m, &d->P));
  if (d->Q) PetscCall(VecDestroyVecs(d->m, &d->Q));
  if (d->Z) PetscCall(VecDestroyVecs(d->m, &d->Z));
  PetscCall(McFree(&d->dots));
  PetscCall(McFree(&d->col));
  PetscCall(McFree(&d->T));
  PetscCall(McFree(&d->W));
  PetscCall(McFree(&d->theta));
  for (PetscInt i = 0; i <= DILI_PROBES; i++)
    if (d->ws[i]) gsl_eigen_symmv_free(d->ws[i]);
  PetscCall(McFree(&k->data));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetParamDILI(McKernel k, const char *name, PetscReal value)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  if (!strcmp(name, "lis_update_every")) {
    PetscCheck(value >= 0 && value == floor(value) && value < 1e9, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "kernel 'dili': lis_update_every must be a whole number >= 0 (0: no update), got %g", (double)value);
    PetscCheck(!k->setup, k->target->comm, PETSC_ERR_ORDER, "kernel 'dili': set lis_update_every before set-up");
    d->every = (PetscInt)value;
    PetscFunctionReturn(0);
  }
  PetscCheck(!strcmp(name, "beta_perp"), k->target->comm, PETSC_ERR_ARG_WRONG,
             "kernel 'dili' has no parameter '%s' (it has: beta_perp, lis_update_every)", name);
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
  /* The proposal's Vec: after an accepted step it is cur.xi (AdaptDILI). */
  d->evaluated = k->prop.xi;
  PetscCall(McKernelAcceptReject_Private(k, rng, ok, lr, stats));
  PetscFunctionReturn(0);
}

/* y = S x = w_old V diag(lambda) V^T x + w_new H x, H at the last evaluation. */
static PetscErrorCode ApplyAverage(McKernel k, PetscReal w_old, PetscReal w_new, Vec x, Vec y)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  PetscCall(McTargetHessian(k->target, x, y));
  PetscCall(VecScale(y, w_new));
  if (w_old == 0) PetscFunctionReturn(0);
  PetscCall(VecMDot(x, d->r, k->ref.V, d->coef));
  for (PetscInt i = 0; i < d->r; i++)
    d->coef[i] *= w_old * k->ref.lambda[i];
  PetscCall(VecMAXPY(y, d->r, d->coef, k->ref.V));
  PetscFunctionReturn(0);
}

/* Orthonormalises v against Q[0..j) (classical Gram-Schmidt twice, which is
 * enough for orthogonality to rounding); *keep is false when v lies in
 * their span (what is left is below 1e-10 of v's norm before). */
static PetscErrorCode Orthonormalise(DILI *d, Vec v, PetscInt j, Vec *Q, PetscBool *keep)
{
  PetscReal nrm0, nrm;

  PetscFunctionBeginUser;
  PetscCall(VecNorm(v, NORM_2, &nrm0));
  for (int pass = 0; pass < 2 && j > 0; pass++) {
    PetscCall(VecMDot(v, j, Q, d->dots));
    for (PetscInt i = 0; i < j; i++)
      d->dots[i] = -d->dots[i];
    PetscCall(VecMAXPY(v, j, d->dots, Q));
  }
  PetscCall(VecNorm(v, NORM_2, &nrm));
  *keep = nrm > 1e-10 * nrm0 && nrm > 0 ? PETSC_TRUE : PETSC_FALSE;
  if (*keep) PetscCall(VecScale(v, 1 / nrm));
  PetscFunctionReturn(0);
}

/* One update of the LIS at the current state (see the opening comment). */
static PetscErrorCode UpdateLIS(McKernel k)
{
  DILI     *d = k->data;
  PetscInt  r = d->r, np = r, nq = 0;
  PetscReal w_new = 1 / (d->nupdate + 1), w_old = d->nupdate / (d->nupdate + 1);
  PetscBool keep;
  int       rc;

  PetscFunctionBeginUser;
  /* probes: V, then the Krylov sequence of H(x) from grad Phi (Arnoldi) */
  for (PetscInt i = 0; i < r; i++)
    PetscCall(VecCopy(k->ref.V[i], d->P[i]));
  if (d->p > 0) {
    PetscCall(VecCopy(k->cur.grad, d->P[np]));
    PetscCall(Orthonormalise(d, d->P[np], np, d->P, &keep));
    if (keep) np++;
    while (keep && np < d->m) {
      PetscCall(McTargetHessian(k->target, d->P[np - 1], d->P[np]));
      PetscCall(Orthonormalise(d, d->P[np], np, d->P, &keep));
      if (keep) np++;
    }
  }
  /* the range of S P, orthonormal, and S on it */
  for (PetscInt i = 0; i < np; i++) {
    PetscCall(ApplyAverage(k, w_old, w_new, d->P[i], d->Q[nq]));
    PetscCall(Orthonormalise(d, d->Q[nq], nq, d->Q, &keep));
    if (keep) nq++;
  }
  /* S of lower rank than the LIS (a likelihood informing fewer than r
   * directions): the reference stays as it is. */
  if (nq < r) PetscFunctionReturn(0);
  for (PetscInt j = 0; j < nq; j++)
    PetscCall(ApplyAverage(k, w_old, w_new, d->Q[j], d->Z[j]));
  for (PetscInt j = 0; j < nq; j++) {
    PetscCall(VecMDot(d->Z[j], nq, d->Q, d->dots));
    for (PetscInt i = 0; i < nq; i++)
      d->T[i * nq + j] = PetscRealPart(d->dots[i]);
  }
  for (PetscInt j = 0; j < nq; j++) /* symmetric up to rounding: make it exactly so */
    for (PetscInt i = 0; i < j; i++)
      d->T[i * nq + j] = d->T[j * nq + i] = 0.5 * (d->T[i * nq + j] + d->T[j * nq + i]);
  {
    gsl_matrix_view T = gsl_matrix_view_array(d->T, (size_t)nq, (size_t)nq);
    gsl_matrix_view W = gsl_matrix_view_array(d->W, (size_t)nq, (size_t)nq);
    gsl_vector_view th = gsl_vector_view_array(d->theta, (size_t)nq);
    rc = gsl_eigen_symmv(&T.matrix, &th.vector, &W.matrix, d->ws[nq - r]);
    if (!rc) rc = gsl_eigen_symmv_sort(&th.vector, &W.matrix, GSL_EIGEN_SORT_VAL_DESC);
  }
  PetscCheck(!rc, k->target->comm, PETSC_ERR_LIB,
             "kernel 'dili': GSL's symmetric eigensolver failed (%d) in the subspace update", rc);
  for (PetscInt j = 0; j < r; j++) {
    for (PetscInt i = 0; i < nq; i++)
      d->col[i] = d->W[i * nq + j];
    PetscCall(VecZeroEntries(k->ref.V[j]));
    PetscCall(VecMAXPY(k->ref.V[j], nq, d->col, d->Q));
    k->ref.lambda[j] = PetscMax(0, d->theta[j]);
  }
  k->ref.stamp++;
  d->nupdate += 1;
  PetscFunctionReturn(0);
}

/* After each burn-in step: an update every `every` steps, at an accepted
 * step (the target's last evaluation, which the Hessian acts at, is then
 * the chain's state). */
static PetscErrorCode AdaptDILI(McKernel k)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  if (!d->every) PetscFunctionReturn(0);
  d->since += 1;
  if (d->since < d->every || k->cur.xi != d->evaluated) PetscFunctionReturn(0);
  PetscCall(UpdateLIS(k));
  d->since = 0;
  PetscFunctionReturn(0);
}

/* Checkpoint: since, nupdate, lambda[r], then V as r rows of the N global
 * values (each rank writes its slice, a sum gathers them). */
static PetscErrorCode AdaptSizeDILI(McKernel k, PetscInt *n)
{
  DILI *d = k->data;

  PetscFunctionBeginUser;
  *n = d->every ? 2 + k->ref.r + k->ref.r * k->target->N : 0;
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptSaveDILI(McKernel k, PetscReal *buf)
{
  DILI              *d = k->data;
  PetscInt           r = k->ref.r, N = k->target->N, lo, hi;
  const PetscScalar *v;

  PetscFunctionBeginUser;
  if (!d->every) PetscFunctionReturn(0);
  buf[0] = d->since;
  buf[1] = d->nupdate;
  for (PetscInt i = 0; i < r; i++)
    buf[2 + i] = k->ref.lambda[i];
  buf += 2 + r;
  PetscCall(PetscArrayzero(buf, r * N));
  PetscCall(VecGetOwnershipRange(k->target->tmpl, &lo, &hi));
  for (PetscInt i = 0; i < r; i++) {
    PetscCall(VecGetArrayRead(k->ref.V[i], &v));
    for (PetscInt j = lo; j < hi; j++)
      buf[i * N + j] = PetscRealPart(v[j - lo]);
    PetscCall(VecRestoreArrayRead(k->ref.V[i], &v));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, buf, (PetscMPIInt)(r * N), MPIU_REAL, MPIU_SUM, k->target->comm));
  PetscFunctionReturn(0);
}

static PetscErrorCode AdaptRestoreDILI(McKernel k, const PetscReal *buf)
{
  DILI        *d = k->data;
  PetscInt     r = k->ref.r, N = k->target->N, lo, hi;
  PetscScalar *v;

  PetscFunctionBeginUser;
  if (!d->every) PetscFunctionReturn(0);
  d->since = buf[0];
  d->nupdate = buf[1];
  for (PetscInt i = 0; i < r; i++)
    k->ref.lambda[i] = buf[2 + i];
  k->ref.stamp++;
  buf += 2 + r;
  PetscCall(VecGetOwnershipRange(k->target->tmpl, &lo, &hi));
  for (PetscInt i = 0; i < r; i++) {
    PetscCall(VecGetArrayWrite(k->ref.V[i], &v));
    for (PetscInt j = lo; j < hi; j++)
      v[j - lo] = buf[i * N + j];
    PetscCall(VecRestoreArrayWrite(k->ref.V[i], &v));
  }
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
  k->ops.adapt = AdaptDILI;
  k->ops.adapt_size = AdaptSizeDILI;
  k->ops.adapt_save = AdaptSaveDILI;
  k->ops.adapt_restore = AdaptRestoreDILI;
  k->ops.destroy = DestroyDILI;
  k->max_step = 2;
  k->log_step = log(1.0);
  k->target_accept = 0.574;
  PetscFunctionReturn(0);
}
