/* ESS and MCSE: the FFT autocovariance against direct sums (exact up to
 * rounding), ESS of independent and AR(1) sequences against their known
 * integrated autocorrelation times, and the coverage of mean +- 1.96 MCSE. */
#include "mcmc/mcmc.h"
#include "mctest.h"

/* x_t = phi x_{t-1} + sqrt(1-phi^2) e_t: stationary N(0,1), integrated
 * autocorrelation time (1+phi)/(1-phi). */
static void AR1(McRng r, PetscReal phi, PetscInt n, PetscReal *x)
{
  x[0] = McRngGaussian(r);
  for (PetscInt i = 1; i < n; i++) x[i] = phi * x[i - 1] + sqrt(1 - phi * phi) * McRngGaussian(r);
}

static PetscErrorCode TestAutocovariance(void)
{
  const PetscInt n = 777; /* not a power of two: padding must be right */
  PetscReal      x[2 * 777], acov[777], mean = 0, err = 0;
  McRng          r;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(5, 0, &r));
  for (PetscInt i = 0; i < 2 * n; i++) x[i] = 3 + McRngGaussian(r);
  PetscCall(McRngDestroy(&r));
  /* stride 2: every other value */
  PetscCall(McAutocovariance(n, x, 2, acov));
  for (PetscInt i = 0; i < n; i++) mean += x[2 * i];
  mean /= n;
  for (PetscInt k = 0; k < n; k++) {
    PetscReal s = 0;
    for (PetscInt i = 0; i + k < n; i++) s += (x[2 * i] - mean) * (x[2 * (i + k)] - mean);
    err = PetscMax(err, fabs(s / n - acov[k]));
  }
  CHECK(err < 1e-12, "FFT autocovariance differs from direct sums by %g", (double)err);
  PetscFunctionReturn(0);
}

static PetscErrorCode TestESS(void)
{
  const PetscInt n = 200000;
  PetscReal     *x, ess, m, se, v, sev;
  McRng          r;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n, &x));
  PetscCall(McRngCreate(11, 0, &r));
  /* Independent draws: the Geyer sum stops within a few lags, its error is
   * ~ sqrt(2*lags/n) ~ 1%; 5% is several times that. */
  for (PetscInt i = 0; i < n; i++) x[i] = McRngGaussian(r);
  PetscCall(McESS(n, x, 1, &ess));
  CHECK(fabs(ess / n - 1) < 0.05, "ESS of iid draws %g, expected ~%d", (double)ess, (int)n);
  /* The variance's MCSE for iid N(0,1) is sqrt(2/n). */
  PetscCall(McMCSEVariance(n, x, 1, &v, &sev));
  CHECK(fabs(sev / sqrt(2.0 / n) - 1) < 0.05, "variance MCSE %g, expected %g", (double)sev, sqrt(2.0 / n));
  CHECK(fabs(v - 1) < 4 * sev, "variance %g, MCSE %g", (double)v, (double)sev);
  /* AR(1), phi = 0.9: tau = 19. The estimator's relative error is about
   * sqrt(2 (2L+1) / n) with cut-off lag L ~ 100, i.e. ~4.5%; allow 15%. */
  AR1(r, 0.9, n, x);
  PetscCall(McESS(n, x, 1, &ess));
  CHECK(fabs(ess / (n / 19.0) - 1) < 0.15, "ESS of AR(1) phi=0.9: %g, expected ~%g", (double)ess, n / 19.0);
  /* Antithetic AR(1), phi = -0.5: tau = 1/3, ESS > n. */
  AR1(r, -0.5, n, x);
  PetscCall(McESS(n, x, 1, &ess));
  CHECK(fabs(ess / (3.0 * n) - 1) < 0.15, "ESS of AR(1) phi=-0.5: %g, expected ~%g", (double)ess, 3.0 * n);
  /* A constant sequence. */
  for (PetscInt i = 0; i < 100; i++) x[i] = 2.5;
  PetscCall(McMCSEMean(100, x, 1, &m, &se));
  CHECK(m == 2.5 && se == 0, "constant sequence: mean %g, MCSE %g", (double)m, (double)se);
  PetscCall(McESS(100, x, 1, &ess));
  CHECK(ess == 1, "constant sequence: ESS %g, expected 1", (double)ess);
  PetscCall(McRngDestroy(&r));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

/* Coverage: over 1000 AR(1) chains (phi = 0.7, n = 2000) the interval
 * mean +- 1.96 MCSE must contain the true mean 0 about 95% of the time. The
 * binomial sd of the fraction is 0.007; the ESS estimate's own noise and its
 * small downward bias cost about a point. [0.925, 0.975] is 3.5 sd wide
 * on each side of 0.95. */
static PetscErrorCode TestCoverage(void)
{
  const PetscInt n = 2000, reps = 1000;
  PetscReal      x[2000], m, se;
  PetscInt       covered = 0;
  McRng          r;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(12, 0, &r));
  for (PetscInt k = 0; k < reps; k++) {
    AR1(r, 0.7, n, x);
    PetscCall(McMCSEMean(n, x, 1, &m, &se));
    covered += fabs(m) <= 1.96 * se;
  }
  printf("MCSE coverage of 95%% intervals: %.3f\n", (double)covered / reps);
  CHECK(fabs((double)covered / reps - 0.95) < 0.025, "coverage %g, expected 0.95", (double)covered / reps);
  PetscCall(McRngDestroy(&r));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(TestAutocovariance());
  PetscCall(TestESS());
  PetscCall(TestCoverage());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
