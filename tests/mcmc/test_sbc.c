/* Simulation-based calibration (Talts et al. 2018) of the whole chain
 * (pCN with burn-in adaptation) on a tiny linear-Gaussian problem.
 *
 * For each replication: draw xi* from the prior, data y from the model,
 * run a chain on the posterior given y, and take the rank of xi*_j among L
 * thinned draws. If the chain samples the posterior, ranks are uniform on
 * {0..L}. 400 replications, L = 19, ranks pooled in 10 bins of 2: Pearson's
 * chi-square with 9 degrees of freedom must not reject uniformity at level
 * 0.001 (per parameter; with fixed seeds the outcome is deterministic).
 * A negative control runs the same with a misspecified noise level (the
 * sampler assumes sigma 0.2 where the data have 0.5: overconfident, too
 * narrow posteriors, U-shaped ranks) and must be rejected, so the test can
 * fail. (A too large sigma is a weak control: the posterior tends to the
 * prior, from which the truth is drawn, so ranks stay nearly uniform.) */
#include "mcmc/mcmc.h"
#include "mctest.h"

#include <gsl/gsl_cdf.h>

#define NP    2
#define NO    3
#define L     19
#define REPS  400
#define BINS  10
#define THIN  20

static PetscErrorCode SBC(PetscReal sigma_model, PetscReal pvalue[NP])
{
  const PetscReal A[NO * NP] = {1.0, 0.3, -0.4, 0.8, 0.5, 0.5};
  PetscReal       sigma_true[NO] = {0.5, 0.5, 0.5}, sigma[NO], y[NO], truth[NP];
  PetscInt        counts[NP][BINS] = {{0}};
  McTarget        t;
  McRng           gen;

  PetscFunctionBeginUser;
  for (int k = 0; k < NO; k++) {
    sigma[k] = sigma_model;
    y[k] = 0;
  }
  PetscCall(McTargetCreateLinearGaussian(NP, NO, A, y, sigma, &t));
  PetscCall(McRngCreate(2718, 0, &gen));
  for (PetscInt r = 0; r < REPS; r++) {
    McKernel         k;
    McChain          c;
    McSink           s;
    PetscInt         nd;
    const PetscReal *x;

    McRngGaussianArray(gen, NP, truth);
    for (int i = 0; i < NO; i++) {
      y[i] = sigma_true[i] * McRngGaussian(gen);
      for (int j = 0; j < NP; j++) y[i] += A[i * NP + j] * truth[j];
    }
    PetscCall(McTargetLinearGaussianSetData(t, y));
    PetscCall(McKernelCreate(t, MC_KERNEL_PCN, &k));
    PetscCall(McChainCreate(k, &c));
    PetscCall(McChainSetIterations(c, L * THIN, 200, THIN));
    PetscCall(McChainSetSeed(c, 31415, r));
    PetscCall(McSinkCreateMemory(NP, 0, L, &s));
    PetscCall(McChainSetSink(c, s));
    PetscCall(McChainSetUp(c));
    PetscCall(McChainRun(c));
    PetscCall(McSinkMemoryGetDraws(s, &nd, &x, NULL, NULL, NULL));
    PetscCheck(nd == L, PETSC_COMM_SELF, PETSC_ERR_PLIB, "expected %d draws, got %d", L, (int)nd);
    for (int j = 0; j < NP; j++) {
      PetscInt rank = 0;
      for (PetscInt i = 0; i < L; i++) rank += x[i * NP + j] < truth[j];
      counts[j][rank * BINS / (L + 1)]++;
    }
    PetscCall(McChainDestroy(&c));
    PetscCall(McKernelDestroy(&k));
    PetscCall(McSinkDestroy(&s));
  }
  for (int j = 0; j < NP; j++) {
    PetscReal e = (PetscReal)REPS / BINS, chi2 = 0;
    for (int b = 0; b < BINS; b++) chi2 += (counts[j][b] - e) * (counts[j][b] - e) / e;
    pvalue[j] = gsl_cdf_chisq_Q(chi2, BINS - 1);
    printf("sigma_model %.2f, parameter %d: rank histogram", (double)sigma_model, j);
    for (int b = 0; b < BINS; b++) printf(" %d", (int)counts[j][b]);
    printf("  chi2 %.2f, p %.3g\n", (double)chi2, (double)pvalue[j]);
  }
  PetscCall(McRngDestroy(&gen));
  PetscCall(McTargetDestroy(&t));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscReal p[NP];

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(SBC(0.5, p));
  for (int j = 0; j < NP; j++) CHECK(p[j] > 0.001, "SBC rejects uniformity of parameter %d: p = %g", j, (double)p[j]);
  PetscCall(SBC(0.2, p));
  for (int j = 0; j < NP; j++)
    CHECK(p[j] < 0.001, "negative control: SBC did not detect the misspecified posterior of parameter %d: p = %g", j,
          (double)p[j]);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
