/* Effective sample size and Monte Carlo standard errors of a chain.
 *
 * ESS = n / tau with the integrated autocorrelation time tau from Geyer's
 * initial monotone sequence estimator (Geyer 1992): sums of adjacent
 * autocorrelation pairs Gamma_m = rho_2m + rho_2m+1 are positive and
 * decreasing for a reversible chain, so the sum stops at the first
 * non-positive pair and each pair is capped by the previous one. The
 * autocovariance comes from a zero-padded FFT (FFTW; O(n log n), exact up
 * to rounding). */
#include "mcmc/mcmc_impl.h"

#include <fftw3.h>

/* The smallest 2^a 3^b 5^c >= n: FFTW is as fast on these as on powers of
 * two, and they waste less padding. */
static size_t SmoothSize(size_t n)
{
  size_t best = 1;

  while (best < n) best *= 2;
  for (size_t p5 = 1; p5 < best; p5 *= 5)
    for (size_t p35 = p5; p35 < best; p35 *= 3) {
      size_t m = p35;
      while (m < n) m *= 2;
      if (m < best) best = m;
    }
  return best;
}

static void DestroyPlans(fftw_plan fwd, fftw_plan bwd)
{
#ifdef _OPENMP
#pragma omp critical(mc_fftw_planner)
#endif
  {
    if (fwd) fftw_destroy_plan(fwd);
    if (bwd) fftw_destroy_plan(bwd);
  }
}

PetscErrorCode McAutocovariances(PetscInt C, PetscInt n, const PetscReal *x, PetscInt nlags, PetscReal *acov)
{
  size_t     M, H;
  PetscReal *a, *spec;
  fftw_plan  fwd, bwd;

  PetscFunctionBeginUser;
  PetscCheck(C >= 1 && n >= 1 && nlags >= 1 && nlags <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "autocovariances need C >= 1, n >= 1 and 1 <= nlags <= n, got %d, %d and %d", (int)C, (int)n,
             (int)nlags);
  /* Zero padding to M >= n + nlags - 1 keeps the circular correlation's
   * wrap-around out of the lags asked for. */
  M = SmoothSize((size_t)n + (size_t)nlags);
  H = M / 2 + 1;
  /* PETSc's allocator, not McMalloc: mcmc-diag calls this from several
   * threads, and the object layer's counters are not thread-safe. */
  PetscCall(PetscMalloc2(M, &a, 2 * H, &spec));
  /* FFTW_ESTIMATE plans without running trial transforms (and without
   * touching the arrays), so the plans cost little next to C transforms.
   * FFTW's planner is not thread-safe (its transforms are). */
#ifdef _OPENMP
#pragma omp critical(mc_fftw_planner)
#endif
  {
    fwd = fftw_plan_dft_r2c_1d((int)M, a, (fftw_complex *)spec, FFTW_ESTIMATE);
    bwd = fftw_plan_dft_c2r_1d((int)M, (fftw_complex *)spec, a, FFTW_ESTIMATE);
  }
  if (!fwd || !bwd) {
    DestroyPlans(fwd, bwd);
    PetscCall(PetscFree2(a, spec));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_LIB, "FFTW could not plan a transform of length %zu", M);
  }
  for (PetscInt c = 0; c < C; c++) {
    const PetscReal *xc = x + (size_t)c * n;
    PetscReal        mean = 0;

    for (PetscInt i = 0; i < n; i++) mean += xc[i];
    mean /= n;
    for (PetscInt i = 0; i < n; i++) a[i] = xc[i] - mean;
    for (size_t i = (size_t)n; i < M; i++) a[i] = 0;
    fftw_execute(fwd);
    for (size_t k = 0; k < H; k++) {
      spec[2 * k] = spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
      spec[2 * k + 1] = 0;
    }
    fftw_execute(bwd); /* unnormalised: M times the circular autocorrelation */
    for (PetscInt k = 0; k < nlags; k++) acov[(size_t)c * n + k] = a[k] / ((PetscReal)M * n);
  }
  DestroyPlans(fwd, bwd);
  PetscCall(PetscFree2(a, spec));
  PetscFunctionReturn(0);
}

PetscErrorCode McAutocovariance(PetscInt n, const PetscReal *x, PetscInt stride, PetscReal *acov)
{
  PetscReal *y;

  PetscFunctionBeginUser;
  PetscCheck(n >= 1 && stride >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "autocovariance needs n >= 1 and stride >= 1, got %d and %d", (int)n, (int)stride);
  PetscCall(McMalloc((size_t)n * sizeof(*y), &y));
  for (PetscInt i = 0; i < n; i++) y[i] = x[i * stride];
  PetscCall(McAutocovariances(1, n, y, n, acov));
  PetscCall(McFree(&y));
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
