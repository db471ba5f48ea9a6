/* Multi-chain ESS, R-hat, rank normalisation and the per-quantity summary
 * (Vehtari et al. 2021; Geyer 1992). The autocovariance of each chain is
 * the FFT one of src/mcmc/ess.c; what is added here is how chains are
 * combined: the autocorrelation at lag t is
 *   rho_t = 1 - (W - mean_c acov_c(t)) / var+,  var+ = (N-1)/N W + B/N,
 * so chains that disagree in location lower every rho_t less than they raise
 * var+, and the ESS drops. */
#include "diag/diag_impl.h"
#include "mcmc/mcmc.h"

#include <math.h>
#include <gsl/gsl_cdf.h>

static PetscBool AnyNaN(PetscInt S, const PetscReal *x)
{
  for (PetscInt i = 0; i < S; i++)
    if (isnan(x[i])) return PETSC_TRUE; /* inline, where PETSc's is a call per value */
  return PETSC_FALSE;
}

/* Geyer's truncation on the combined autocorrelation rho[0..N): the initial
 * positive sequence of pair sums, the last even term kept when positive
 * (reduces the variance for antithetic chains), then pairs made
 * monotone. Returns tau. rho is modified. */
static PetscReal GeyerTau(PetscInt N, PetscReal *rho, PetscReal (*r)(void *, PetscInt), void *ctx)
{
  PetscReal even = 1, odd, tau;
  PetscInt  t = 1, max_t;

  rho[0] = 1;
  rho[1] = odd = r(ctx, 1);
  while (t < N - 3 && even + odd > 0) {
    even = r(ctx, t + 1);
    odd = r(ctx, t + 2);
    if (even + odd >= 0) {
      rho[t + 1] = even;
      rho[t + 2] = odd;
    }
    t += 2;
  }
  max_t = t - 2;
  if (even > 0) rho[max_t + 1] = even;
  for (t = 1; t <= max_t - 2; t += 2) {
    if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) {
      rho[t + 1] = (rho[t - 1] + rho[t]) / 2;
      rho[t + 2] = rho[t + 1];
    }
  }
  tau = -1;
  for (t = 0; t <= max_t; t++)
    tau += 2 * rho[t];
  if (max_t + 1 < N) tau += rho[max_t + 1];
  return tau;
}

typedef struct {
  PetscInt   C, N;
  PetscReal *acov; /* C rows of N lags */
  PetscReal  W, varplus;
} Combined;

static PetscReal CombinedRho(void *ctx, PetscInt t)
{
  Combined *c = (Combined *)ctx;
  PetscReal m = 0;

  for (PetscInt k = 0; k < c->C; k++)
    m += c->acov[k * c->N + t];
  return 1 - (c->W - m / c->C) / c->varplus;
}

PetscErrorCode McDiagESS(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *ess)
{
  const PetscInt S = C * N;
  Combined       cb = {C, N, NULL, 0, 0};
  PetscReal     *rho, *means, lo = PETSC_MAX_REAL, hi = -PETSC_MAX_REAL, tau, a0 = 0, mm = 0, bvar = 0;

  PetscFunctionBeginUser;
  PetscCheck(C >= 1 && N >= 4, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "ESS needs >= 1 chain of >= 4 draws, got %d x %d", (int)C, (int)N);
  if (AnyNaN(S, x)) {
    *ess = NAN;
    PetscFunctionReturn(0);
  }
  for (PetscInt i = 0; i < S; i++) {
    lo = PetscMin(lo, x[i]);
    hi = PetscMax(hi, x[i]);
  }
  /* A constant quantity (an indicator never crossing its quantile, a stuck
   * chain) is as informative as independent draws would be: ArviZ's rule. */
  if (hi - lo < 1e-15) {
    *ess = (PetscReal)S;
    PetscFunctionReturn(0);
  }
  PetscCall(PetscMalloc3(S, &cb.acov, N, &rho, C, &means));
  PetscCall(McAutocovariances(C, N, x, N, cb.acov));
  for (PetscInt c = 0; c < C; c++) {
    means[c] = 0;
    for (PetscInt i = 0; i < N; i++)
      means[c] += x[c * N + i];
    means[c] /= N;
    a0 += cb.acov[c * N];
    mm += means[c];
  }
  cb.W = a0 / C * N / (N - 1.0); /* mean within-chain variance, divisor N-1 */
  mm /= C;
  for (PetscInt c = 0; c < C; c++)
    bvar += (means[c] - mm) * (means[c] - mm);
  cb.varplus = cb.W * (N - 1.0) / N + (C > 1 ? bvar / (C - 1) : 0);
  PetscCall(PetscArrayzero(rho, N));
  tau = GeyerTau(N, rho, CombinedRho, &cb);
  tau = PetscMax(tau, 1 / PetscLog10Real((PetscReal)S));
  *ess = S / tau;
  if (AnyNaN(N, rho)) *ess = NAN;
  PetscCall(PetscFree3(cb.acov, rho, means));
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagRhatBasic(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *rhat)
{
  PetscReal mm = 0, bvar = 0, W = 0, *means;

  PetscFunctionBeginUser;
  PetscCheck(C >= 2 && N >= 2, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "R-hat needs >= 2 chains of >= 2 draws, got %d x %d", (int)C, (int)N);
  PetscCall(PetscMalloc1(C, &means));
  for (PetscInt c = 0; c < C; c++) {
    PetscReal m = 0, v = 0;
    for (PetscInt i = 0; i < N; i++)
      m += x[c * N + i];
    m /= N;
    for (PetscInt i = 0; i < N; i++)
      v += (x[c * N + i] - m) * (x[c * N + i] - m);
    W += v / (N - 1);
    means[c] = m;
    mm += m;
  }
  W /= C;
  mm /= C;
  for (PetscInt c = 0; c < C; c++)
    bvar += (means[c] - mm) * (means[c] - mm);
  bvar /= C - 1;
  /* B = N * var(chain means); R-hat = sqrt((B/W + N - 1) / N) */
  *rhat = PetscSqrtReal((N * bvar / W + N - 1) / N);
  PetscCall(PetscFree(means));
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagSplitChains(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *y)
{
  const PetscInt h = N / 2;

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < C; c++) {
    PetscCall(PetscArraycpy(y + 2 * c * h, x + c * N, h));
    PetscCall(PetscArraycpy(y + (2 * c + 1) * h, x + c * N + N - h, h));
  }
  PetscFunctionReturn(0);
}

/* z[at[k]] = Phi^-1((r_k - 3/8)/(S + 1/4)) for the k-th smallest of S
 * values v[0] <= v[1] <= ..., r_k its 1-based rank, ties the mean of
 * theirs. */
static void RankSorted(PetscInt S, const PetscReal *v, const PetscInt *at, PetscReal *z)
{
  for (PetscInt i = 0; i < S;) {
    PetscInt j = i + 1;
    /* ties share the average of their 1-based ranks i+1 .. j */
    while (j < S && v[j] == v[i])
      j++;
    PetscReal r = 0.5 * ((i + 1) + j);
    PetscReal z0 = gsl_cdf_ugaussian_Pinv((r - 0.375) / (S + 0.25));
    for (PetscInt k = i; k < j; k++)
      z[at[k]] = z0;
    i = j;
  }
}

PetscErrorCode McDiagRankNormalize(PetscInt S, const PetscReal *x, PetscReal *z)
{
  PetscInt  *perm;
  PetscReal *v;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(S, &perm, S, &v));
  PetscCall(McDiagSort(S, x, perm, v));
  RankSorted(S, v, perm, z);
  PetscCall(PetscFree2(perm, v));
  PetscFunctionReturn(0);
}

/* The rank-normalised split chains (McDiagSplitChains of C chains of N)
 * from values already in ascending order: v[k] is draw order[k] (an index
 * c*N + i). The draws the split drops (the middle one of an odd N) are
 * left out of the ranks, so z is what McDiagRankNormalize of the split
 * chains gives, without sorting them again. at and vs are scratch (C*N). */
static void RankSplitSorted(PetscInt C, PetscInt N, const PetscReal *v, const PetscInt *order, PetscInt *at,
                            PetscReal *vs, PetscReal *z)
{
  const PetscInt h = N / 2;
  PetscInt       m = 0;

  for (PetscInt k = 0; k < C * N; k++) {
    PetscInt c = order[k] / N, i = order[k] % N;
    if (i < h) at[m] = 2 * c * h + i;
    else if (i >= N - h) at[m] = (2 * c + 1) * h + i - (N - h);
    else continue;
    vs[m++] = v[k];
  }
  RankSorted(m, vs, at, z);
}

/* The p-quantile of S sorted values, linear interpolation at (S-1)p written
 * as numpy writes it (a + (b-a)t, or b - (b-a)(1-t) from t = 1/2 on), not
 * as GSL's (1-t)a + tb: a chain that rejects repeats its draw, and between
 * two equal draws GSL's form can miss their value by an ulp, which flips
 * every tied draw's indicator x <= q in the tail ESS and parts from what
 * numpy-based tools (ArviZ) report; numpy's form gives the value exactly. */
static PetscReal QuantileSorted(PetscInt S, const PetscReal *v, PetscReal p)
{
  PetscReal h = (PetscReal)(S - 1) * p, t;
  PetscInt  i = (PetscInt)PetscFloorReal(h);

  if (i >= S - 1) return v[S - 1];
  t = h - (PetscReal)i;
  if (t == 0 || v[i] == v[i + 1]) return v[i]; /* also between infinite draws, where the lerp is NaN */
  return t < 0.5 ? v[i] + (v[i + 1] - v[i]) * t : v[i + 1] - (v[i + 1] - v[i]) * (1 - t);
}

PetscErrorCode McDiagQuantile(PetscInt S, const PetscReal *x, PetscReal p, PetscReal *q)
{
  PetscReal *v;
  PetscInt  *perm;

  PetscFunctionBeginUser;
  PetscCheck(S >= 1 && p >= 0 && p <= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "quantile %g of %d values",
             (double)p, (int)S);
  PetscCall(PetscMalloc2(S, &v, S, &perm));
  PetscCall(McDiagSort(S, x, perm, v));
  *q = QuantileSorted(S, v, p);
  PetscCall(PetscFree2(v, perm));
  PetscFunctionReturn(0);
}

/* ESS of the split indicator x <= q. */
static PetscErrorCode IndicatorESS(PetscInt C, PetscInt N, const PetscReal *x, PetscReal q, PetscReal *work,
                                   PetscReal *split, PetscReal *ess)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < C * N; i++)
    work[i] = x[i] <= q ? 1.0 : 0.0;
  PetscCall(McDiagSplitChains(C, N, work, split));
  PetscCall(McDiagESS(2 * C, N / 2, split, ess));
  PetscFunctionReturn(0);
}

PetscErrorCode McDiagSummarize(PetscInt C, PetscInt N, const PetscReal *x, McDiagSummary *s)
{
  const PetscInt S = C * N, h = N / 2;
  PetscReal     *sorted, *work, *split, *fv, e05, e95, med, rb, rt;
  PetscInt      *perm, *fo, *at;

  PetscFunctionBeginUser;
  PetscCheck(C >= 1 && N >= 4, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE,
             "a summary needs >= 1 chain of >= 4 draws, got %d x %d", (int)C, (int)N);
  if (AnyNaN(S, x)) {
    /* An unwritten or failed value: nothing below means anything. */
    PetscReal nan = NAN;
    *s = (McDiagSummary){nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan};
    PetscFunctionReturn(0);
  }
  PetscCall(PetscMalloc7(S, &sorted, S, &perm, S, &work, 2 * C * h, &split, S, &fv, S, &fo, S, &at));
  /* The one sort: the quantiles, and the ranks of the draws and of their
   * distances from the median all come from it. */
  PetscCall(McDiagSort(S, x, perm, sorted));
  /* The corrected two-pass sums (Chan, Golub and LeVeque 1983): the second
   * pass's sum of deviations corrects the mean's rounding. GSL's running
   * mean divides once per draw, which cost as much as the sort. */
  {
    PetscReal m = 0, dev = 0, ss = 0;
    for (PetscInt i = 0; i < S; i++)
      m += x[i];
    m /= S;
    for (PetscInt i = 0; i < S; i++) {
      PetscReal d = x[i] - m;
      dev += d;
      ss += d * d;
    }
    s->mean = m + dev / S;
    s->sd = PetscSqrtReal((ss - dev * dev / S) / (S - 1));
  }
  s->q05 = QuantileSorted(S, sorted, 0.05);
  s->q50 = med = QuantileSorted(S, sorted, 0.5);
  s->q95 = QuantileSorted(S, sorted, 0.95);

  PetscCall(McDiagSplitChains(C, N, x, split));
  PetscCall(McDiagESS(2 * C, h, split, &s->ess_mean));
  s->mcse_mean = s->sd / PetscSqrtReal(s->ess_mean);
  s->iat = S / s->ess_mean;
  RankSplitSorted(C, N, sorted, perm, at, work, split);
  PetscCall(McDiagESS(2 * C, h, split, &s->ess_bulk));
  PetscCall(McDiagRhatBasic(2 * C, h, split, &rb));

  /* Folding around the median turns a difference in scale (which leaves
   * the location-based R-hat blind) into one in location. |x - med| falls
   * along the sorted draws up to the median and rises after it (fl(x -
   * med) is monotone in x), so merging the two runs orders the distances. */
  {
    PetscInt lo = 0, hi, k = 0;
    while (lo < S && sorted[lo] <= med)
      lo++;
    hi = lo--; /* lo: the last draw <= med, walked down; hi: the first > med, walked up */
    while (lo >= 0 || hi < S) {
      /* fl(med - a) = -fl(a - med): these are the distances |x - med| exactly */
      PetscReal dl = lo >= 0 ? med - sorted[lo] : PETSC_INFINITY, dh = hi < S ? sorted[hi] - med : PETSC_INFINITY;
      PetscBool left = lo >= 0 && (hi >= S || dl <= dh);
      fv[k] = left ? dl : dh;
      fo[k++] = perm[left ? lo-- : hi++];
    }
  }
  RankSplitSorted(C, N, fv, fo, at, work, split);
  PetscCall(McDiagRhatBasic(2 * C, h, split, &rt));
  s->rhat = PetscMax(rb, rt);

  PetscCall(IndicatorESS(C, N, x, s->q05, work, split, &e05));
  PetscCall(IndicatorESS(C, N, x, s->q95, work, split, &e95));
  s->ess_tail = PetscMin(e05, e95);
  PetscCall(PetscFree7(sorted, perm, work, split, fv, fo, at));
  PetscFunctionReturn(0);
}
