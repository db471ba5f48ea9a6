/* Effective sample size and Monte Carlo standard errors of a chain.
 *
 * ESS = n / tau with the integrated autocorrelation time tau from Geyer's
 * initial monotone sequence estimator (Geyer 1992): sums of adjacent
 * autocorrelation pairs Gamma_m = rho_2m + rho_2m+1 are positive and
 * decreasing for a reversible chain, so the sum stops at the first
 * non-positive pair and each pair is capped by the previous one. The
 * autocovariance comes from a zero-padded radix-2 FFT (O(n log n), exact up
 * to rounding: padding to >= 2n removes the circular wrap-around). */
#include "mcmc/mcmc_impl.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_fft_halfcomplex.h>
#include <gsl/gsl_fft_real.h>

PetscErrorCode McAutocovariance(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *acov)
{
  size_t     M = 1;
  PetscReal *a, mean = 0;
  int        rc;

  PetscFunctionBeginUser;
  PetscCheck(n >= 1 && stride >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "autocovariance needs n >= 1 and stride >= 1, got %d and %d", (int)n, (int)stride);
  while (M < 2 * (size_t)n) M *= 2;
  PetscCall(McCalloc((size_t)(M) * sizeof(*a), &a));
  for (PetscInt i = 0; i < n; i++) mean += x[i * stride];
  mean /= n;
  for (PetscInt i = 0; i < n; i++) a[i] = x[i * stride] - mean;
  rc = gsl_fft_real_radix2_transform(a, 1, M);
  if (!rc) {
    /* |X_k|^2 in GSL's half-complex layout: a[k] real, a[M-k] imaginary. */
    a[0] = a[0] * a[0];
    a[M / 2] = a[M / 2] * a[M / 2];
    for (size_t k = 1; k < M / 2; k++) {
      a[k] = a[k] * a[k] + a[M - k] * a[M - k];
      a[M - k] = 0;
    }
    rc = gsl_fft_halfcomplex_radix2_inverse(a, 1, M);
  }
  if (rc) PetscCall(McFree(&a));
  PetscCheck(!rc, PETSC_COMM_SELF, PETSC_ERR_LIB, "GSL FFT of length %zu failed: %s", M, gsl_strerror(rc));
  for (PetscInt k = 0; k < n; k++) acov[k] = a[k] / n;
  PetscCall(McFree(&a));
  PetscFunctionReturn(0);
}

PetscErrorCode McESS(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *ess)
{
  PetscReal *acov, tau = -1, prev = PETSC_INFINITY;

  PetscFunctionBeginUser;
  PetscCall(McMalloc((size_t)(n) * sizeof(*acov), &acov));
  PetscCall(McAutocovariance(n, x, stride, acov));
  if (!(acov[0] > 0)) {
    /* A constant sequence (a chain that never moved) carries one value's
     * worth of information. */
    PetscCall(McFree(&acov));
    *ess = 1;
    PetscFunctionReturn(0);
  }
  for (PetscInt m = 0; 2 * m + 1 < n; m++) {
    PetscReal pair = (acov[2 * m] + acov[2 * m + 1]) / acov[0];
    if (pair <= 0) break;
    if (pair > prev) pair = prev;
    tau += 2 * pair;
    prev = pair;
  }
  if (n == 1 || tau <= 0) tau = 1; /* too short to say anything: treat as independent */
  *ess = n / tau;
  PetscCall(McFree(&acov));
  PetscFunctionReturn(0);
}

PetscErrorCode McMCSEMean(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *mean, PetscReal *mcse)
{
  PetscReal m = 0, v = 0, ess;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; i++) m += x[i * stride];
  m /= n;
  for (PetscInt i = 0; i < n; i++) v += (x[i * stride] - m) * (x[i * stride] - m);
  v /= n;
  PetscCall(McESS(n, x, stride, &ess));
  *mean = m;
  *mcse = PetscSqrtReal(v / ess);
  PetscFunctionReturn(0);
}

PetscErrorCode McMCSEVariance(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *var, PetscReal *mcse)
{
  PetscReal m = 0, *y;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; i++) m += x[i * stride];
  m /= n;
  PetscCall(McMalloc((size_t)(n) * sizeof(*y), &y));
  for (PetscInt i = 0; i < n; i++) y[i] = (x[i * stride] - m) * (x[i * stride] - m);
  PetscCall(McMCSEMean(n, y, 1, var, mcse));
  PetscCall(McFree(&y));
  PetscFunctionReturn(0);
}
