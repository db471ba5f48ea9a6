/* The Gaussian test targets against their formulas (exact up to rounding),
 * their gradients against central differences, a tilted one (McTargetCreate
 * Tilted: again Gaussian, mean shifted by -C g), and the errors a user can
 * cause: unknown kernel names, MALA without a gradient, bad step sizes. */
#include "mcmc/mcmc.h"
#include "mctest.h"

/* log posterior = -Phi - |xi|^2/2 at x[n]. */
static PetscErrorCode LogPost(McTarget t, Vec v, const PetscReal *x, PetscInt n, PetscReal *lp)
{
  PetscScalar *a;
  PetscReal    phi, x2 = 0;
  McEvalStatus st;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayWrite(v, &a));
  for (PetscInt i = 0; i < n; i++) {
    a[i] = x[i];
    x2 += x[i] * x[i];
  }
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscCall(McTargetPotential(t, v, &phi, &st));
  PetscCheck(st == MC_EVAL_OK, PETSC_COMM_SELF, PETSC_ERR_PLIB, "evaluation failed");
  *lp = -phi - 0.5 * x2;
  PetscFunctionReturn(0);
}

/* Checks differences of the log posterior against the exact Gaussian
 * log density (mean, covariance C) and the gradient against central
 * differences: the potential is quadratic, so the differences are exact up
 * to rounding. */
static PetscErrorCode CheckTarget(const char *what, McTarget t, PetscInt n, const PetscReal *mean, const PetscReal *C)
{
  PetscReal       x0[100], x1[100], P[10000], lp0, lp1, q0 = 0, q1 = 0, maxerr = 0;
  gsl_matrix_view Pv = gsl_matrix_view_array(P, (size_t)n, (size_t)n);
  Vec             v, g;
  McEvalStatus    st;
  McRng           r;
  PetscScalar    *ga;

  PetscFunctionBeginUser;
  PetscCall(McTargetCreateVec(t, &v));
  PetscCall(VecDuplicate(v, &g));
  PetscCall(McRngCreate(3, 0, &r));
  memcpy(P, C, sizeof(PetscReal) * n * n);
  gsl_linalg_cholesky_decomp1(&Pv.matrix);
  gsl_linalg_cholesky_invert(&Pv.matrix);
  McRngGaussianArray(r, n, x0);
  McRngGaussianArray(r, n, x1);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      q0 += (x0[i] - mean[i]) * P[i * n + j] * (x0[j] - mean[j]);
      q1 += (x1[i] - mean[i]) * P[i * n + j] * (x1[j] - mean[j]);
    }
  PetscCall(LogPost(t, v, x0, n, &lp0));
  PetscCall(LogPost(t, v, x1, n, &lp1));
  CHECK(fabs((lp1 - lp0) - (-0.5 * q1 + 0.5 * q0)) < 1e-9 * (1 + fabs(q0) + fabs(q1)),
        "%s: log posterior difference %.15g, exact %.15g", what, (double)(lp1 - lp0), -0.5 * q1 + 0.5 * q0);
  /* gradient at x0 (after a potential call there, as the contract says) */
  PetscCall(LogPost(t, v, x0, n, &lp0));
  PetscCall(McTargetGradient(t, v, g, &st));
  PetscCall(VecGetArray(g, &ga));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal h = 1e-4, lpp, lpm, fd;
    x0[i] += h;
    PetscCall(LogPost(t, v, x0, n, &lpp));
    x0[i] -= 2 * h;
    PetscCall(LogPost(t, v, x0, n, &lpm));
    x0[i] += h;
    /* d(-lp)/dx = grad Phi + x */
    fd = -(lpp - lpm) / (2 * h);
    maxerr = PetscMax(maxerr, fabs(fd - (ga[i] + x0[i])));
  }
  PetscCall(VecRestoreArray(g, &ga));
  /* central differences of a quadratic are exact; rounding ~ 1e-16/h */
  CHECK(maxerr < 1e-8, "%s: gradient differs from central differences by %g", what, (double)maxerr);
  PetscCall(McRngDestroy(&r));
  PetscCall(VecDestroy(&v));
  PetscCall(VecDestroy(&g));
  PetscFunctionReturn(0);
}

static PetscErrorCode NoGradientPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  PetscFunctionBeginUser;
  (void)ctx;
  PetscCall(VecNorm(xi, NORM_2, phi));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode TestErrors(void)
{
  McTarget       t;
  McKernel       k;
  McTargetOps    ops = {NoGradientPotential, NULL, NULL, NULL};
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(McTargetCreateShell(PETSC_COMM_SELF, 3, 3, &ops, NULL, 0, NULL, &t));
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = McKernelCreate(t, "nuts", &k);
  CHECK(ierr == PETSC_ERR_ARG_UNKNOWN_TYPE && !k, "unknown kernel name: error %d", (int)ierr);
  PetscCall(McKernelCreate(t, MC_KERNEL_MALA, &k));
  ierr = McKernelSetUp(k);
  CHECK(ierr == PETSC_ERR_ARG_WRONG, "mala without a gradient: error %d", (int)ierr);
  PetscCall(McKernelDestroy(&k));
  PetscCall(McKernelCreate(t, MC_KERNEL_PCN, &k));
  ierr = McKernelSetStepSize(k, 1.5);
  CHECK(ierr == PETSC_ERR_ARG_OUTOFRANGE, "pcn beta 1.5: error %d", (int)ierr);
  ierr = McKernelSetParameter(k, "t0", 5);
  CHECK(ierr == PETSC_ERR_ARG_WRONG, "pcn parameter t0: error %d", (int)ierr);
  PetscCall(McKernelDestroy(&k));
  PetscCall(McKernelCreate(t, MC_KERNEL_AM, &k));
  ierr = McKernelSetParameter(k, "epsilonn", 1);
  CHECK(ierr == PETSC_ERR_ARG_UNKNOWN_TYPE, "am parameter epsilonn: error %d", (int)ierr);
  PetscCall(McKernelSetParameter(k, "epsilon", 1e-5));
  PetscCall(McKernelDestroy(&k));
  PetscCall(PetscPopErrorHandler());
  PetscCall(McTargetDestroy(&t));
  CHECK(!t, "McTargetDestroy did not clear the handle");
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscReal mu[G100], C[G100 * G100], A[10 * 20], y[10], sigma[10], mean[20], PC[400];
  McTarget  t;
  McRng     r;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  Gauss2D(mu, C);
  PetscCall(McTargetCreateGaussian(2, mu, C, &t));
  PetscCall(CheckTarget("gauss2d", t, 2, mu, C));
  PetscCall(McTargetDestroy(&t));
  Gauss100(mu, C);
  PetscCall(McTargetCreateGaussian(G100, mu, C, &t));
  PetscCall(CheckTarget("gauss100", t, G100, mu, C));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McRngCreate(4, 0, &r));
  McRngGaussianArray(r, 200, A);
  McRngGaussianArray(r, 10, y);
  for (int i = 0; i < 10; i++) sigma[i] = 0.2 + 0.05 * i;
  PetscCall(McRngDestroy(&r));
  PetscCall(McTargetCreateLinearGaussian(20, 10, A, y, sigma, &t));
  PetscCall(LinearGaussianPosterior(20, 10, A, y, sigma, mean, PC));
  PetscCall(CheckTarget("linear-gaussian", t, 20, mean, PC));
  {
    /* tilted by <g, xi>: the Gaussian N(mean - PC g, PC), the same Hessian */
    McTarget     tt;
    Vec          g, v, h0, h1;
    PetscReal    gm[20], m2[20], dh;
    PetscScalar *a;
    PetscCall(McTargetCreateVec(t, &g));
    PetscCall(VecDuplicate(g, &v));
    PetscCall(VecDuplicate(g, &h0));
    PetscCall(VecDuplicate(g, &h1));
    PetscCall(VecGetArrayWrite(g, &a));
    for (int i = 0; i < 20; i++) a[i] = gm[i] = sin(1.0 + i);
    PetscCall(VecRestoreArrayWrite(g, &a));
    for (int i = 0; i < 20; i++) {
      m2[i] = mean[i];
      for (int j = 0; j < 20; j++) m2[i] -= PC[i * 20 + j] * gm[j];
    }
    PetscCall(McTargetCreateTilted(t, g, &tt));
    PetscCall(CheckTarget("tilted linear-gaussian", tt, 20, m2, PC));
    PetscCall(VecSet(v, 0.3));
    PetscCall(McTargetHessian(t, v, h0));
    PetscCall(McTargetHessian(tt, v, h1));
    PetscCall(VecAXPY(h1, -1.0, h0));
    PetscCall(VecNorm(h1, NORM_INFINITY, &dh));
    CHECK(dh == 0, "tilted target: Hessian action differs from the base's by %g", (double)dh);
    PetscCall(McTargetDestroy(&tt));
    PetscCall(VecDestroy(&g));
    PetscCall(VecDestroy(&v));
    PetscCall(VecDestroy(&h0));
    PetscCall(VecDestroy(&h1));
  }
  PetscCall(McTargetDestroy(&t));
  PetscCall(TestErrors());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
