/* The diagnostics on chains whose answers are known: exact small cases
 * (quantiles, ranks with ties, R-hat by hand, splitting), AR(1) chains with
 * known integrated autocorrelation time, independent chains (R-hat ~ 1),
 * chains that disagree in location or only in scale (R-hat must see both),
 * and a heavy-tailed chain that mixes in the bulk but not in the tails. */
#include "diag/diag.h"
#include "mcmc/mcmc.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>

#include "../support/check.h"

static PetscErrorCode TestExact(void)
{
  PetscReal       x[4] = {4, 1, 3, 2}, q, z[6], r, ess;
  PetscReal       ties[6] = {5, 1, 5, 2, 5, 0};
  const PetscReal rank[6] = {5, 2, 5, 3, 5, 1}; /* the tied 5s share (4+5+6)/3 */
  PetscReal       two[4] = {0, 2, 2, 4};        /* chains {0,2} and {2,4} */
  PetscReal       odd[10] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, y[8];
  const PetscReal ysplit[8] = {0, 1, 3, 4, 10, 11, 13, 14};
  PetscReal       konst[12], nanx[12];

  PetscFunctionBeginUser;
  PetscCall(McDiagQuantile(4, x, 0.5, &q));
  CHECK(q == 2.5, "median of 1..4 = %g, want 2.5", (double)q);
  PetscCall(McDiagQuantile(4, x, 0.05, &q));
  CHECK(fabs(q - 1.15) < 1e-15, "5%% quantile of 1..4 = %.17g, want 1.15", (double)q);
  CHECK(x[0] == 4, "quantile modified its input");
  {
    /* Between two equal draws (a rejection repeats the draw) the quantile
     * is their value exactly; (1-t)a + ta is not (1.4627590096661722 for
     * this a at t = 0.2), and the tied draws' tail indicators would flip. */
    const PetscReal a = 1.462759009666172, rep[5] = {a, a, a, a, 9};
    PetscCall(McDiagQuantile(5, rep, 0.05, &q));
    CHECK(q == a, "5%% quantile between equal draws = %.17g, want %.17g", (double)q, (double)a);
  }

  PetscCall(McDiagRankNormalize(6, ties, z));
  for (int i = 0; i < 6; i++) {
    PetscReal want = gsl_cdf_ugaussian_Pinv((rank[i] - 0.375) / 6.25);
    CHECK(z[i] == want, "rank-normalised value %d = %.17g, want %.17g", i, (double)z[i], (double)want);
  }

  /* means 1 and 3, within variances 2: B = 2 * var(1,3) = 4, W = 2,
   * R-hat = sqrt((B/W + N - 1)/N) = sqrt(3/2) */
  PetscCall(McDiagRhatBasic(2, 2, two, &r));
  CHECK(fabs(r - sqrt(1.5)) < 1e-15, "R-hat by hand = %.17g, want sqrt(1.5)", (double)r);

  /* odd N = 5: the middle draw of each chain is dropped */
  PetscCall(McDiagSplitChains(2, 5, odd, y));
  for (int i = 0; i < 8; i++)
    CHECK(y[i] == ysplit[i], "split value %d = %g, want %g", i, (double)y[i], (double)ysplit[i]);

  for (int i = 0; i < 12; i++)
    konst[i] = 7, nanx[i] = i;
  nanx[5] = NAN;
  PetscCall(McDiagESS(3, 4, konst, &ess));
  CHECK(ess == 12, "ESS of a constant = %g, want the draw count 12", (double)ess);
  PetscCall(McDiagESS(3, 4, nanx, &ess));
  CHECK(isnan(ess), "ESS with a NaN = %g, want NaN", (double)ess);
  PetscFunctionReturn(0);
}

/* C chains of x_t = rho x_{t-1} + sqrt(1-rho^2) e_t started in the
 * stationary N(0,1): integrated autocorrelation time (1+rho)/(1-rho). */
static void AR1(McRng r, PetscInt C, PetscInt N, PetscReal rho, PetscReal *x)
{
  for (PetscInt c = 0; c < C; c++) {
    PetscReal *xc = x + c * N;
    xc[0] = McRngGaussian(r);
    for (PetscInt i = 1; i < N; i++)
      xc[i] = rho * xc[i - 1] + sqrt(1 - rho * rho) * McRngGaussian(r);
  }
}

/* The tolerances of the brief, 5% (rho <= 0.9) and 10% (rho = 0.99), are
 * about 3 and 1.6 standard deviations of the estimator (Sokal: var(tau)/tau^2
 * ~ 2(2M+1)/S with the window M where Geyer's sequence stops, ~ 5 tau for
 * rho = 0.5 and ~ 2 tau for rho = 0.99 at S = 4e5); the seed is fixed. */
static PetscErrorCode TestAR1(void)
{
  const PetscInt  C = 4, N = 100000;
  const PetscReal rhos[3] = {0.5, 0.9, 0.99}, tol[3] = {0.05, 0.05, 0.10};
  PetscReal      *x;
  McRng           r;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(C * N, &x));
  PetscCall(McRngCreate(2021, 0, &r));
  for (int k = 0; k < 3; k++) {
    McDiagSummary s;
    PetscReal     want = (1 + rhos[k]) / (1 - rhos[k]);
    AR1(r, C, N, rhos[k], x);
    PetscCall(McDiagSummarize(C, N, x, &s));
    printf("AR(1) rho %.2f: IAT %.3f (exact %.3f), bulk-ESS %.0f, tail-ESS %.0f, R-hat %.4f, mean %.4f +- %.4f\n",
           (double)rhos[k], (double)s.iat, (double)want, (double)s.ess_bulk, (double)s.ess_tail, (double)s.rhat,
           (double)s.mean, (double)s.mcse_mean);
    CHECK(fabs(s.iat / want - 1) < tol[k], "AR(1) rho %g: IAT %g, want %g within %g%%", (double)rhos[k], (double)s.iat,
          (double)want, 100 * (double)tol[k]);
    /* The mean is 0: |mean| / MCSE is a standard normal deviate. */
    CHECK(fabs(s.mean) < 4 * s.mcse_mean, "AR(1) rho %g: mean %g is more than 4 MCSE (%g) from 0", (double)rhos[k],
          (double)s.mean, (double)s.mcse_mean);
  }
  PetscCall(McRngDestroy(&r));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

/* Independent N(0,1) chains: R-hat's deviation from 1 is O(1/N) and its
 * spread ~ 1/sqrt(C N) ~ 0.005 at 4 x 1e4, so 1 +- 0.01 holds; the shifted
 * chain (one mean 2 sd away) gives R-hat ~ 1.3 (~ 1.1 at 1 sd, too close); a chain three times as
 * wide but centred escapes the bulk R-hat and is caught by folding. */
static PetscErrorCode TestRhat(void)
{
  const PetscInt C = 4, N = 10000;
  PetscReal     *x, rb;
  McDiagSummary  s;
  McRng          r;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(C * N, &x));
  PetscCall(McRngCreate(7, 0, &r));
  McRngGaussianArray(r, C * N, x);
  PetscCall(McDiagSummarize(C, N, x, &s));
  printf("independent: R-hat %.5f, bulk-ESS %.0f, tail-ESS %.0f of %d\n", (double)s.rhat, (double)s.ess_bulk,
         (double)s.ess_tail, (int)(C * N));
  CHECK(fabs(s.rhat - 1) < 0.01, "independent chains: R-hat %g, want 1 +- 0.01", (double)s.rhat);
  /* ESS of S independent draws: S within 10% (the estimator's sd is ~3%) */
  CHECK(fabs(s.ess_bulk / (C * N) - 1) < 0.1, "independent chains: bulk-ESS %g, want %d within 10%%",
        (double)s.ess_bulk, (int)(C * N));
  CHECK(fabs(s.ess_tail / (C * N) - 1) < 0.1, "independent chains: tail-ESS %g, want %d within 10%%",
        (double)s.ess_tail, (int)(C * N));

  for (PetscInt i = 0; i < N; i++)
    x[3 * N + i] += 2;
  PetscCall(McDiagSummarize(C, N, x, &s));
  printf("one chain shifted by 2 sd: R-hat %.4f\n", (double)s.rhat);
  CHECK(s.rhat > 1.1, "shifted chain: R-hat %g, want > 1.1", (double)s.rhat);

  McRngGaussianArray(r, C * N, x);
  for (PetscInt i = 0; i < N; i++)
    x[3 * N + i] *= 3;
  PetscCall(McDiagRhatBasic(C, N, x, &rb));
  PetscCall(McDiagSummarize(C, N, x, &s));
  printf("one chain 3x wider: basic R-hat %.4f, rank-normalised folded R-hat %.4f\n", (double)rb, (double)s.rhat);
  CHECK(fabs(rb - 1) < 0.01, "wider chain: the basic R-hat %g should not see it", (double)rb);
  CHECK(s.rhat > 1.1, "wider chain: R-hat %g, want > 1.1 (folding)", (double)s.rhat);
  PetscCall(McRngDestroy(&r));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

/* Random-walk Metropolis with step 1 on a standard Cauchy: it mixes well
 * in the bulk but takes long excursions into the tails, where the step is
 * tiny compared with the distance; the tail indicators are then far more
 * autocorrelated than the ranks (Vehtari et al. 2021, section 5.1). */
static PetscErrorCode TestHeavyTail(void)
{
  const PetscInt C = 4, N = 50000;
  PetscReal     *x;
  McDiagSummary  s;
  McRng          r;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(C * N, &x));
  PetscCall(McRngCreate(11, 0, &r));
  for (PetscInt c = 0; c < C; c++) {
    PetscReal cur = 0;
    for (PetscInt i = 0; i < N; i++) {
      PetscReal prop = cur + McRngGaussian(r);
      if (McRngUniform(r) < (1 + cur * cur) / (1 + prop * prop)) cur = prop;
      x[c * N + i] = cur;
    }
  }
  PetscCall(McDiagSummarize(C, N, x, &s));
  printf("RWM on Cauchy: bulk-ESS %.0f, tail-ESS %.0f, R-hat %.4f\n", (double)s.ess_bulk, (double)s.ess_tail,
         (double)s.rhat);
  CHECK(s.ess_tail < s.ess_bulk, "heavy tails: tail-ESS %g, want < bulk-ESS %g", (double)s.ess_tail,
        (double)s.ess_bulk);
  PetscCall(McRngDestroy(&r));
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(TestExact());
  PetscCall(TestAR1());
  PetscCall(TestRhat());
  PetscCall(TestHeavyTail());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
