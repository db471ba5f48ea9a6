/* Gaussian targets with exact answers, for testing kernels and chains.
 *
 * Both are Gaussian posteriors written in the sampler's convention, prior
 * N(0, I) times exp(-Phi): a posterior N(mu, C) has
 * Phi = (xi-mu)^T C^-1 (xi-mu)/2 - |xi|^2/2 (constants dropped), and a linear
 * model y = A xi + e has Phi = |S^-1 (y - A xi)|^2/2. Serial, dense: these
 * are test problems of tens to hundreds of parameters. */
#include "mcmc/mcmc_impl.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

typedef struct {
  PetscInt   n, m;
  PetscReal *P;     /* gaussian: n x n precision; linear: m x n, rows scaled by 1/sigma */
  PetscReal *mu;    /* gaussian: n mean; linear: m data scaled by 1/sigma */
  PetscReal *sigma; /* linear: m noise standard deviations */
  PetscReal *r;     /* work: n or m */
  PetscReal *w;     /* linear: m, work of the Hessian action */
} GaussCtx;

static PetscErrorCode GaussDestroy(void *ctx)
{
  GaussCtx *g = ctx;

  PetscFunctionBeginUser;
  PetscCall(McFree(&g->P));
  PetscCall(McFree(&g->mu));
  PetscCall(McFree(&g->sigma));
  PetscCall(McFree(&g->r));
  PetscCall(McFree(&g->w));
  PetscCall(McFree(&g));
  PetscFunctionReturn(0);
}

/* r = P (x - mu), the negative gradient of the log posterior. */
static void GaussResidual(GaussCtx *g, const PetscScalar *x)
{
  for (PetscInt i = 0; i < g->n; i++) {
    PetscReal s = 0;
    for (PetscInt j = 0; j < g->n; j++) s += g->P[i * g->n + j] * (x[j] - g->mu[j]);
    g->r[i] = s;
  }
}

static PetscErrorCode GaussPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  GaussCtx          *g = ctx;
  const PetscScalar *x;
  PetscReal          q = 0, x2 = 0;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  GaussResidual(g, x);
  for (PetscInt i = 0; i < g->n; i++) {
    q += (x[i] - g->mu[i]) * g->r[i];
    x2 += x[i] * x[i];
  }
  PetscCall(VecRestoreArrayRead(xi, &x));
  *phi = 0.5 * q - 0.5 * x2;
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode GaussGradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  GaussCtx          *g = ctx;
  const PetscScalar *x;
  PetscScalar       *d;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  PetscCall(VecGetArrayWrite(grad, &d));
  GaussResidual(g, x);
  for (PetscInt i = 0; i < g->n; i++) d[i] = g->r[i] - x[i];
  PetscCall(VecRestoreArrayWrite(grad, &d));
  PetscCall(VecRestoreArrayRead(xi, &x));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetCreateGaussian(PetscInt n, const PetscReal *mu, const PetscReal *C, McTarget *target)
{
  GaussCtx       *g;
  gsl_matrix_view P;
  int             rc;
  McTargetOps     ops = {GaussPotential, GaussGradient, NULL, GaussDestroy};

  PetscFunctionBeginUser;
  PetscCheck(n > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Gaussian target needs n > 0, got %d", (int)n);
  PetscCall(McCalloc(sizeof(*g), &g));
  g->n = n;
  PetscCall(McMalloc((size_t)(n * n) * sizeof(*g->P), &g->P));
  PetscCall(McMalloc((size_t)(n) * sizeof(*g->mu), &g->mu));
  PetscCall(McMalloc((size_t)(n) * sizeof(*g->r), &g->r));
  PetscCall(PetscArraycpy(g->P, C, n * n));
  PetscCall(PetscArraycpy(g->mu, mu, n));
  P = gsl_matrix_view_array(g->P, (size_t)n, (size_t)n);
  rc = gsl_linalg_cholesky_decomp1(&P.matrix);
  if (!rc) rc = gsl_linalg_cholesky_invert(&P.matrix);
  if (rc) PetscCall(GaussDestroy(g));
  PetscCheck(!rc, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "Gaussian target: covariance is not positive definite (%s)",
             gsl_strerror(rc));
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, n, n, &ops, g, 0, NULL, target));
  PetscFunctionReturn(0);
}

/* r = S^-1 (y - A x). */
static void LinearResidual(GaussCtx *g, const PetscScalar *x)
{
  for (PetscInt i = 0; i < g->m; i++) {
    PetscReal s = g->mu[i];
    for (PetscInt j = 0; j < g->n; j++) s -= g->P[i * g->n + j] * x[j];
    g->r[i] = s;
  }
}

static PetscErrorCode LinearPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  GaussCtx          *g = ctx;
  const PetscScalar *x;
  PetscReal          q = 0;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  LinearResidual(g, x);
  PetscCall(VecRestoreArrayRead(xi, &x));
  for (PetscInt i = 0; i < g->m; i++) q += g->r[i] * g->r[i];
  *phi = 0.5 * q;
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode LinearGradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  GaussCtx          *g = ctx;
  const PetscScalar *x;
  PetscScalar       *d;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  LinearResidual(g, x);
  PetscCall(VecRestoreArrayRead(xi, &x));
  PetscCall(VecGetArrayWrite(grad, &d));
  for (PetscInt j = 0; j < g->n; j++) d[j] = 0;
  for (PetscInt i = 0; i < g->m; i++)
    for (PetscInt j = 0; j < g->n; j++) d[j] -= g->P[i * g->n + j] * g->r[i];
  PetscCall(VecRestoreArrayWrite(grad, &d));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

/* Hv = A^T S^-2 A v: the Hessian of Phi, constant (Gauss-Newton is exact). */
static PetscErrorCode LinearHessian(void *ctx, Vec v, Vec Hv)
{
  GaussCtx          *g = ctx;
  const PetscScalar *x;
  PetscScalar       *d;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(v, &x));
  for (PetscInt i = 0; i < g->m; i++) {
    PetscReal s = 0;
    for (PetscInt j = 0; j < g->n; j++)
      s += g->P[i * g->n + j] * x[j];
    g->w[i] = s;
  }
  PetscCall(VecRestoreArrayRead(v, &x));
  PetscCall(VecGetArrayWrite(Hv, &d));
  for (PetscInt j = 0; j < g->n; j++)
    d[j] = 0;
  for (PetscInt i = 0; i < g->m; i++)
    for (PetscInt j = 0; j < g->n; j++)
      d[j] += g->P[i * g->n + j] * g->w[i];
  PetscCall(VecRestoreArrayWrite(Hv, &d));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetCreateLinearGaussian(PetscInt n, PetscInt m, const PetscReal *A, const PetscReal *y,
                                            const PetscReal *sigma, McTarget *target)
{
  GaussCtx   *g;
  McTargetOps ops = {LinearPotential, LinearGradient, NULL, GaussDestroy};

  PetscFunctionBeginUser;
  PetscCheck(n > 0 && m > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "linear-Gaussian target needs n > 0 parameters and m > 0 data, got %d and %d", (int)n, (int)m);
  for (PetscInt i = 0; i < m; i++)
    PetscCheck(sigma[i] > 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
               "linear-Gaussian target: noise sigma[%d] must be > 0, got %g", (int)i, (double)sigma[i]);
  PetscCall(McCalloc(sizeof(*g), &g));
  g->n = n;
  g->m = m;
  PetscCall(McMalloc((size_t)(m * n) * sizeof(*g->P), &g->P));
  PetscCall(McMalloc((size_t)(m) * sizeof(*g->mu), &g->mu));
  PetscCall(McMalloc((size_t)(m) * sizeof(*g->sigma), &g->sigma));
  PetscCall(McMalloc((size_t)(m) * sizeof(*g->r), &g->r));
  PetscCall(McMalloc((size_t)(m) * sizeof(*g->w), &g->w));
  for (PetscInt i = 0; i < m; i++) {
    g->sigma[i] = sigma[i];
    for (PetscInt j = 0; j < n; j++) g->P[i * n + j] = A[i * n + j] / sigma[i];
  }
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, n, n, &ops, g, 0, NULL, target));
  PetscCall(McTargetSetHessian(*target, LinearHessian));
  PetscCall(McTargetLinearGaussianSetData(*target, y));
  PetscFunctionReturn(0);
}

PetscErrorCode McTargetLinearGaussianSetData(McTarget target, const PetscReal *y)
{
  GaussCtx *g = target->ctx;

  PetscFunctionBeginUser;
  PetscCheck(target->ops.potential == LinearPotential, target->comm, PETSC_ERR_ARG_WRONG,
             "McTargetLinearGaussianSetData needs a linear-Gaussian target");
  for (PetscInt i = 0; i < g->m; i++) g->mu[i] = y[i] / g->sigma[i];
  PetscFunctionReturn(0);
}
