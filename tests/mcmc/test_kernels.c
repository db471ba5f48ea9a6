/* Every kernel on targets with exact answers: posterior means and variances
 * of each coordinate within 4 Monte Carlo standard errors.
 *
 * Why 4 MCSE: the error of a chain average is asymptotically normal with the
 * MCSE (from the chain's own ESS) as its standard deviation, so a correct
 * kernel lands outside 4 MCSE with probability 6e-5 per comparison; over the
 * at most 200 comparisons of one run that is ~1%, while a wrong acceptance
 * ratio shifts the answer by many MCSE at these run lengths. Variances use
 * the MCSE of the mean of the squared centred draws.
 *
 * With -covariance (kernel rwm only) the random walk proposes with the
 * exact posterior covariance (McKernelRWMSetCovariance), as a user would
 * give one learnt from an earlier run in KL coordinates. Its adapted step
 * must then reach Roberts-Gelman-Gilks' 2.38/sqrt(N) in 100 dimensions
 * (within 15%: the isotropic walk adapts to ~0.6 of it here), which shows
 * the covariance shapes the proposal.
 *
 * Usage: mcmc_kernels -kernel NAME -problem gauss2d|gauss100|linear|pde
 *        [-iterations N -burn_in N -thin N] [-covariance] */
#include "mcmc/mcmc.h"
#include "obj/obj.h"
#include "mctest.h"

/* tests/mcmc/pde_linear.c: the model's linear-Gaussian field problem. */
PetscErrorCode PdeLinearProblem(McTarget *t, PetscInt *n, PetscReal *mu, PetscReal *C);

#define LG_N 20
#define LG_M 10

/* The linear-Gaussian problem: 20 parameters, 10 observations, A with
 * N(0, 1/20) entries, noise sd 0.3, data from a prior draw. The 10 observed
 * directions have posterior sd ~0.3, the others keep the prior's 1. */
static PetscErrorCode LinearProblem(McTarget *t, PetscReal *mean, PetscReal *C)
{
  PetscReal A[LG_M * LG_N], y[LG_M], sigma[LG_M], truth[LG_N];
  McRng     r;

  PetscFunctionBeginUser;
  PetscCall(McRngCreate(2024, 0, &r));
  McRngGaussianArray(r, LG_M * LG_N, A);
  for (int i = 0; i < LG_M * LG_N; i++) A[i] /= sqrt((double)LG_N);
  McRngGaussianArray(r, LG_N, truth);
  for (int k = 0; k < LG_M; k++) {
    sigma[k] = 0.3;
    y[k] = sigma[k] * McRngGaussian(r);
    for (int j = 0; j < LG_N; j++) y[k] += A[k * LG_N + j] * truth[j];
  }
  PetscCall(McRngDestroy(&r));
  PetscCall(McTargetCreateLinearGaussian(LG_N, LG_M, A, y, sigma, t));
  PetscCall(LinearGaussianPosterior(LG_N, LG_M, A, y, sigma, mean, C));
  PetscFunctionReturn(0);
}

/* RunKernel (mctest.h) with an rwm kernel and the proposal covariance C[n*n]. */
static PetscErrorCode RunChainCovariance(McTarget target, PetscInt n, const PetscReal *C, PetscInt burn,
                                         PetscInt iters, PetscInt thin, uint64_t seed, McSink *sink,
                                         McChainStats *stats)
{
  McKernel k;

  PetscFunctionBeginUser;
  PetscCall(McKernelCreate(target, MC_KERNEL_RWM, &k));
  PetscCall(McKernelRWMSetCovariance(k, n, C));
  PetscCall(RunKernel(k, n, burn, iters, thin, seed, sink, stats));
  PetscCall(McKernelDestroy(&k));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char         kernel[32] = "pcn", problem[32] = "gauss2d";
  PetscInt     n, iters = 20000, burn = 2000, thin = 1, nd;
  PetscReal   *mu, *C, zmax_m = 0, zmax_v = 0, essmin = PETSC_INFINITY;
  McTarget     t;
  McSink       sink;
  McChainStats st;
  const PetscReal   *x;
  const McStepStats *ss;
  PetscBool        cov = PETSC_FALSE;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-kernel", kernel, sizeof(kernel), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", problem, sizeof(problem), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-iterations", &iters, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-burn_in", &burn, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-thin", &thin, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-covariance", &cov, NULL));
  PetscCheck(!cov || !strcmp(kernel, MC_KERNEL_RWM), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG,
             "-covariance is for kernel rwm only, not %s", kernel);
  PetscCall(PetscMalloc2(G100, &mu, G100 * G100, &C));
  if (!strcmp(problem, "gauss2d")) {
    n = 2;
    Gauss2D(mu, C);
    PetscCall(McTargetCreateGaussian(n, mu, C, &t));
  } else if (!strcmp(problem, "gauss100")) {
    n = G100;
    Gauss100(mu, C);
    PetscCall(McTargetCreateGaussian(n, mu, C, &t));
  } else if (!strcmp(problem, "linear")) {
    n = LG_N;
    PetscCall(LinearProblem(&t, mu, C));
  } else if (!strcmp(problem, "pde")) {
    PetscCall(PdeLinearProblem(&t, &n, mu, C));
  } else {
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "unknown -problem %s", problem);
  }

  if (cov) PetscCall(RunChainCovariance(t, n, C, burn, iters, thin, 20240607, &sink, &st));
  else PetscCall(RunChain(t, kernel, burn, iters, thin, 20240607, &sink, &st));
  PetscCall(McSinkMemoryGetDraws(sink, &nd, &x, NULL, NULL, NULL));
  CHECK(nd == iters / thin, "%d draws kept, expected %d", (int)nd, (int)(iters / thin));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal m, sem, v, sev, ess, zm, zv;
    PetscCall(McMCSEMean(nd, x + i, n, &m, &sem));
    PetscCall(McMCSEVariance(nd, x + i, n, &v, &sev));
    PetscCall(McESS(nd, x + i, n, &ess));
    essmin = PetscMin(essmin, ess);
    zm = (m - mu[i]) / sem;
    zv = (v - C[i * n + i]) / sev;
    zmax_m = PetscMax(zmax_m, fabs(zm));
    zmax_v = PetscMax(zmax_v, fabs(zv));
    CHECK(fabs(zm) < 4, "%s %s x[%d]: mean %.5f, exact %.5f, MCSE %.5f (%.1f MCSE)", kernel, problem, (int)i,
          (double)m, (double)mu[i], (double)sem, (double)zm);
    CHECK(fabs(zv) < 4, "%s %s x[%d]: variance %.5f, exact %.5f, MCSE %.5f (%.1f MCSE)", kernel, problem, (int)i,
          (double)v, (double)C[i * n + i], (double)sev, (double)zv);
  }
  /* The adaptation must have brought the acceptance near its target; this
   * catches kernels that "pass" by barely moving (huge MCSE). */
  CHECK(st.acceptance > 0.1 && st.acceptance < 0.8, "%s %s: acceptance %.3f", kernel, problem, (double)st.acceptance);
  if (cov && n == G100)
    CHECK(fabs(st.step_size * PetscSqrtReal((PetscReal)n) / 2.38 - 1) < 0.15,
          "rwm with the posterior covariance, %s: adapted step %.4f, expected 2.38/sqrt(%d) = %.4f within 15%%", problem,
          (double)st.step_size, (int)n, 2.38 / PetscSqrtReal((PetscReal)n));
  if (strstr(kernel, "hmc")) {
    /* A trajectory of the unadapted step can diverge until the potential
     * overflows: a rejected proposal, counted as failed. Not once the step
     * is adapted: none among the kept draws. */
    PetscInt nfail = 0;
    PetscCall(McSinkMemoryGetDraws(sink, &nd, NULL, &ss, NULL, NULL));
    for (PetscInt i = 0; i < nd; i++)
      nfail += ss[i].failed;
    CHECK(nfail == 0, "%s %s: %d failed proposals after burn-in on a target that never fails", kernel, problem,
          (int)nfail);
  } else
    CHECK(st.failed == 0, "%s %s: %d failed proposals on a target that never fails", kernel, problem, (int)st.failed);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "%s%s %s: acceptance %.3f, step %.4g, min ESS %.0f of %d draws, max |z| mean %.2f variance "
                        "%.2f, %.0f it/s\n",
                        kernel, cov ? " (posterior covariance)" : "", problem, (double)st.acceptance,
                        (double)st.step_size, (double)essmin, (int)nd,
                        (double)zmax_m, (double)zmax_v, (double)st.samples_per_sec));
  PetscCall(McSinkDestroy(&sink));
  PetscCall(McTargetDestroy(&t));
  PetscCall(PetscFree2(mu, C));
  PetscCall(McGCCollect(2, NULL)); /* the pde problem's mesh <-> space cycle */
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
