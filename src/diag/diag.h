/* diag: convergence diagnostics and posterior summaries of several MCMC
 * chains of one scalar quantity, with the definitions of Vehtari, Gelman,
 * Simpson, Carpenter and Buerkner (2021), "Rank-normalization, folding, and
 * localization: an improved R-hat", as Stan and ArviZ compute them.
 *
 * The one idea: every statistic is a plain function of C chains of N draws
 * stored chain-major (x[c*N + i]); split-chain, rank-normalised and
 * quantile-indicator variants are the same multi-chain ESS and R-hat applied
 * to transformed copies. Reading files lives in src/app/, not here. */
#pragma once
#include <petscsys.h>

/* What mcmc-diag reports for one quantity. */
typedef struct {
  PetscReal mean, sd;      /* over all C*N draws; sd with divisor S-1 */
  PetscReal mcse_mean;     /* sd / sqrt(ess_mean) */
  PetscReal q05, q50, q95; /* quantiles, linear interpolation (R type 7, numpy's default) */
  PetscReal ess_bulk;      /* ESS of the split, rank-normalised chains */
  PetscReal ess_tail;      /* min of the ESS of the indicators x <= q05 and x <= q95 (split) */
  PetscReal ess_mean;      /* ESS of the split chains (for the MCSE of the mean) */
  PetscReal rhat;          /* max of the rank-normalised split R-hat of x and of |x - median| */
  PetscReal iat;           /* integrated autocorrelation time C*N / ess_mean */
} McDiagSummary;

/* Multi-chain effective sample size (Vehtari et al. 2021, eqs. 10-11):
 * the autocorrelation combines each chain's FFT autocovariance with the
 * between-chain variance, truncated by Geyer's initial positive sequence
 * and made monotone; tau is bounded below by 1/log10(C*N) as Stan and ArviZ
 * do. No splitting or ranking here. A constant input gives C*N; a NaN gives
 * NaN. Needs N >= 4. Ownership: borrows x. */
PetscErrorCode McDiagESS(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *ess);

/* Potential scale reduction sqrt((N-1)/N + B/(N W)) of C chains, no
 * splitting or ranking (the building block of the split R-hat). Needs
 * C >= 2, N >= 2. Ownership: borrows x. */
PetscErrorCode McDiagRhatBasic(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *rhat);

/* Splits each chain into its first and last floor(N/2) draws (the middle
 * draw of an odd N is dropped): y gets 2C chains of floor(N/2) draws.
 * Ownership: borrows x; y is the caller's (2C*floor(N/2) values). */
PetscErrorCode McDiagSplitChains(PetscInt C, PetscInt N, const PetscReal *x, PetscReal *y);

/* Rank normalisation over all S values: z = Phi^-1((r - 3/8)/(S + 1/4))
 * with r the 1-based rank, ties given their average rank. z may be x.
 * Ownership: borrows x; z is the caller's. */
PetscErrorCode McDiagRankNormalize(PetscInt S, const PetscReal *x, PetscReal *z);

/* Quantile p of S values (linear interpolation between order statistics,
 * R type 7). Ownership: borrows x (not modified). */
PetscErrorCode McDiagQuantile(PetscInt S, const PetscReal *x, PetscReal p, PetscReal *q);

/* Everything above for one quantity. Needs C >= 1 and N >= 4 (R-hat of a
 * single chain comes from its two halves). Ownership: borrows x. */
PetscErrorCode McDiagSummarize(PetscInt C, PetscInt N, const PetscReal *x, McDiagSummary *s);
