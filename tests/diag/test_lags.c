/* The machinery under the statistics, against brute force: the ranks and
 * quantiles (a radix sort underneath) against counting, the FFT
 * autocovariances (every lag or only the first few) against the O(n^2)
 * sums, and the multi-chain ESS against the same formulas over lags
 * computed by brute force, on chains from mixing (phi = 0) to stuck (phi =
 * 0.999). */
#include "diag/diag.h"
#include "mcmc/mcmc.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../support/check.h"

static int CompareReal(const void *a, const void *b)
{
  PetscReal x = *(const PetscReal *)a, y = *(const PetscReal *)b;
  return (x > y) - (x < y);
}

/* Values with every kind of key the sort sees: negative and positive, both
 * zeros, infinities, subnormals, long runs of ties. */
static void AwkwardValues(McRng r, PetscInt S, PetscReal *x)
{
  for (PetscInt i = 0; i < S; i++) {
    PetscReal g = McRngGaussian(r);
    switch (i % 7) {
    case 0: x[i] = round(4 * g) / 4; break; /* ties */
    case 1: x[i] = g * 1e300; break;
    case 2: x[i] = g * 1e-310; break; /* subnormal */
    case 3: x[i] = (i % 2 ? 0.0 : -0.0); break;
    case 4: x[i] = (i % 3 == 0) ? INFINITY : (i % 3 == 1 ? -INFINITY : g); break;
    default: x[i] = g;
    }
  }
}

static PetscErrorCode TestRanks(McRng r)
{
  const PetscInt S = 3001;
  PetscReal     *x, *z, *sorted, q;
  PetscInt       bad = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(S, &x, S, &z, S, &sorted));
  AwkwardValues(r, S, x);
  PetscCall(McDiagRankNormalize(S, x, z));
  for (PetscInt i = 0; i < S; i++) {
    PetscInt below = 0, equal = 0;
    for (PetscInt j = 0; j < S; j++) {
      below += x[j] < x[i];
      equal += x[j] == x[i];
    }
    /* ties (both zeros among them) share the mean of their ranks */
    PetscReal want = gsl_cdf_ugaussian_Pinv((below + 0.5 * (equal + 1) - 0.375) / (S + 0.25));
    if (z[i] != want && bad++ < 5)
      CHECK(0, "rank-normalised x[%d] = %g: %.17g, want %.17g", (int)i, (double)x[i], (double)z[i], (double)want);
  }
  CHECK(bad == 0, "%d of %d rank-normalised values differ from counting", (int)bad, (int)S);

  PetscCall(PetscArraycpy(sorted, x, S));
  qsort(sorted, (size_t)S, sizeof(*sorted), CompareReal);
  for (int k = 0; k <= 20; k++) {
    PetscReal p = k / 20.0, h = (S - 1) * p, lo = sorted[(PetscInt)h], hi = sorted[PetscMin(S - 1, (PetscInt)h + 1)];
    PetscCall(McDiagQuantile(S, x, p, &q));
    /* between infinities or equal values the quantile is the order statistic */
    CHECK(q == lo || q == hi || (q > lo && q < hi), "quantile %g = %g, not between %g and %g", p, (double)q,
          (double)lo, (double)hi);
    if (h == floor(h)) CHECK(q == lo, "quantile %g = %g, want the order statistic %g", p, (double)q, (double)lo);
  }
  PetscCall(PetscFree3(x, z, sorted));
  PetscFunctionReturn(0);
}

static void AR1(McRng r, PetscInt C, PetscInt N, PetscReal phi, PetscReal *x)
{
  for (PetscInt c = 0; c < C; c++) {
    PetscReal v = McRngGaussian(r);
    for (PetscInt i = 0; i < N; i++) {
      v = phi * v + sqrt(1 - phi * phi) * McRngGaussian(r);
      x[c * N + i] = v + 0.01 * c; /* chains a little apart: B > 0 */
    }
  }
}

/* acov[k] = (1/n) sum_{i < n-k} (x_i - m)(x_{i+k} - m), every lag. */
static void BruteAcov(PetscInt n, const PetscReal *x, PetscReal *acov)
{
  PetscReal m = 0;

  for (PetscInt i = 0; i < n; i++) m += x[i];
  m /= n;
  for (PetscInt k = 0; k < n; k++) {
    PetscReal s = 0;
    for (PetscInt i = 0; i + k < n; i++) s += (x[i] - m) * (x[i + k] - m);
    acov[k] = s / n;
  }
}

static PetscErrorCode TestAutocovariances(McRng r)
{
  const PetscInt C = 3, n = 500, lags[3] = {1, 37, 500};
  PetscReal     *x, *ref, *acov, *one;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(C * n, &x, C * n, &ref, C * n, &acov, 2 * n, &one));
  AR1(r, C, n, 0.9, x);
  for (PetscInt c = 0; c < C; c++) BruteAcov(n, x + c * n, ref + c * n);
  for (int l = 0; l < 3; l++) {
    PetscReal err = 0;
    for (PetscInt i = 0; i < C * n; i++) acov[i] = -12345;
    PetscCall(McAutocovariances(C, n, x, lags[l], acov));
    for (PetscInt c = 0; c < C; c++)
      for (PetscInt k = 0; k < n; k++) {
        if (k < lags[l]) err = PetscMax(err, PetscAbsReal(acov[c * n + k] - ref[c * n + k]) / ref[c * n]);
        else if (acov[c * n + k] != -12345) err = INFINITY;
      }
    CHECK(err < 1e-13, "autocovariances, %d lags: relative error %g (or a lag beyond them written)", (int)lags[l],
          (double)err);
  }
  /* the strided single-chain form: chain 1 interleaved with chain 2 */
  for (PetscInt i = 0; i < n; i++) one[2 * i] = x[n + i], one[2 * i + 1] = x[2 * n + i];
  PetscCall(McAutocovariance(n, one, 2, acov));
  {
    PetscReal err = 0;
    for (PetscInt k = 0; k < n; k++) err = PetscMax(err, PetscAbsReal(acov[k] - ref[n + k]) / ref[n]);
    CHECK(err < 1e-13, "strided autocovariance: relative error %g", (double)err);
  }
  PetscCall(PetscFree4(x, ref, acov, one));
  PetscFunctionReturn(0);
}

/* Vehtari et al. 2021's multi-chain ESS over every lag, as ArviZ writes it:
 * rho_t from the chains' autocovariances and var+, Geyer's initial positive
 * pair sums with the last even term, the monotone cap, tau >= 1/log10(S). */
static PetscReal BruteESS(PetscInt C, PetscInt N, const PetscReal *x)
{
  PetscReal *acov = malloc(sizeof(PetscReal) * C * N), *rho = calloc((size_t)N, sizeof(PetscReal));
  PetscReal  W = 0, mm = 0, B = 0, varplus, tau, even = 1, odd, m[64];
  PetscInt   t = 1, max_t;

  for (PetscInt c = 0; c < C; c++) {
    BruteAcov(N, x + c * N, acov + c * N);
    W += acov[c * N] * N / (N - 1.0) / C;
    m[c] = 0;
    for (PetscInt i = 0; i < N; i++) m[c] += x[c * N + i] / N;
    mm += m[c] / C;
  }
  for (PetscInt c = 0; c < C; c++) B += (m[c] - mm) * (m[c] - mm) / (C - 1);
  varplus = W * (N - 1.0) / N + B;
  for (PetscInt k = 0; k < N; k++) {
    PetscReal s = 0;
    for (PetscInt c = 0; c < C; c++) s += acov[c * N + k] / C;
    rho[k] = 1 - (W - s) / varplus;
  }
  rho[0] = 1; /* by definition, not from the formula */
  odd = rho[1];
  while (t < N - 3 && even + odd > 0) {
    even = rho[t + 1];
    odd = rho[t + 2];
    if (even + odd < 0) rho[t + 1] = rho[t + 2] = 0;
    t += 2;
  }
  max_t = t - 2;
  if (even > 0) rho[max_t + 1] = even;
  for (t = 1; t <= max_t - 2; t += 2)
    if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2;
  tau = -1;
  for (t = 0; t <= max_t; t++) tau += 2 * rho[t];
  tau += rho[max_t + 1];
  tau = PetscMax(tau, 1 / log10((double)(C * N)));
  free(acov);
  free(rho);
  return C * N / tau;
}

static PetscErrorCode TestESS(McRng r)
{
  const PetscInt  C = 4, N = 3000;
  const PetscReal phis[5] = {0, 0.5, 0.95, 0.99, 0.999};
  PetscReal      *x, ess, want;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(C * N, &x));
  for (int k = 0; k < 5; k++) {
    AR1(r, C, N, phis[k], x);
    PetscCall(McDiagESS(C, N, x, &ess));
    want = BruteESS(C, N, x);
    CHECK(PetscAbsReal(ess / want - 1) < 1e-10, "ESS of AR(1) phi %g: %.15g, brute force over every lag %.15g",
          (double)phis[k], (double)ess, (double)want);
  }
  PetscCall(PetscFree(x));
  PetscFunctionReturn(0);
}

/* McDiagSummarize sorts once and derives the ranks of the split chains and
 * of the distances from the median from that order; here they are made the
 * long way (split, then McDiagRankNormalize each), for an even and an odd
 * N (whose middle draws the split drops) and draws with many ties. The
 * same ranks must give the same bits. */
static PetscErrorCode TestSummaryRanks(McRng r)
{
  const PetscInt C = 3, Ns[2] = {400, 401};
  PetscReal     *x, *w, *y, med, ess, rb, rt;
  McDiagSummary  s;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(C * 401, &x, C * 401, &w, C * 401, &y));
  for (int k = 0; k < 2; k++) {
    const PetscInt N = Ns[k], S = C * N, h = N / 2;
    AR1(r, C, N, 0.7, x);
    for (PetscInt i = 0; i < S; i++) x[i] = round(8 * x[i]) / 8 * (1 + 2.0 * (i >= 2 * N)); /* ties; chain 3 wider */
    PetscCall(McDiagSummarize(C, N, x, &s));
    PetscCall(McDiagQuantile(S, x, 0.5, &med));
    PetscCall(McDiagSplitChains(C, N, x, y));
    PetscCall(McDiagRankNormalize(2 * C * h, y, y));
    PetscCall(McDiagESS(2 * C, h, y, &ess));
    PetscCall(McDiagRhatBasic(2 * C, h, y, &rb));
    for (PetscInt i = 0; i < S; i++) w[i] = PetscAbsReal(x[i] - med);
    PetscCall(McDiagSplitChains(C, N, w, y));
    PetscCall(McDiagRankNormalize(2 * C * h, y, y));
    PetscCall(McDiagRhatBasic(2 * C, h, y, &rt));
    CHECK(s.q50 == med, "N = %d: median %.17g, want %.17g", (int)N, (double)s.q50, (double)med);
    CHECK(s.ess_bulk == ess, "N = %d: bulk ESS %.17g, want %.17g", (int)N, (double)s.ess_bulk, (double)ess);
    CHECK(s.rhat == PetscMax(rb, rt) && rt > rb, "N = %d: R-hat %.17g, want max(%.17g, folded %.17g) from the folded",
          (int)N, (double)s.rhat, (double)rb, (double)rt);
  }
  PetscCall(PetscFree3(x, w, y));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McRng r;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McRngCreate(7, 0, &r));
  PetscCall(TestRanks(r));
  PetscCall(TestAutocovariances(r));
  PetscCall(TestESS(r));
  PetscCall(TestSummaryRanks(r));
  PetscCall(McRngDestroy(&r));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%d failures\n", failures));
  PetscCall(PetscFinalize());
  return failures != 0;
}
