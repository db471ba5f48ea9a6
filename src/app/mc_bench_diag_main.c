/* mc-bench-diag: what mcmc-diag's statistics cost per quantity. Prints a
 * table over C chains of N draws of an AR(1) process x_i = phi x_{i-1} +
 * sqrt(1 - phi^2) e_i (IAT (1 + phi)/(1 - phi)), from chains that mix
 * (phi = 0) to stuck ones (phi = 0.999):
 *   - "ESS ms": one McDiagESS of the split chains (an FFT per chain);
 *   - "rank ms": one rank normalisation of the C*N draws;
 *   - "summary ms": McDiagSummarize, everything mcmc-diag computes for one
 *     quantity (four ESS, two rank normalisations, the quantiles);
 *   - the bulk ESS it finds, against C*N / IAT.
 * Each time is the median of repeated calls. Run by scripts/bench-diag.
 *
 * Usage: mc-bench-diag [--quick] */
#include "diag/diag.h"
#include "mcmc/mcmc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double Now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int CompareDouble(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef enum { TIME_ESS, TIME_RANK, TIME_SUMMARY } What;

typedef struct {
  PetscInt   C, N;
  PetscReal *x, *split, *work;
} Case;

static PetscErrorCode Once(Case *k, What what, PetscReal *out)
{
  const PetscInt h = k->N / 2;
  McDiagSummary  s;

  PetscFunctionBeginUser;
  switch (what) {
  case TIME_ESS:
    PetscCall(McDiagESS(2 * k->C, h, k->split, out));
    break;
  case TIME_RANK:
    PetscCall(McDiagRankNormalize(k->C * k->N, k->x, k->work));
    break;
  case TIME_SUMMARY:
    PetscCall(McDiagSummarize(k->C, k->N, k->x, &s));
    *out = s.ess_bulk;
    break;
  }
  PetscFunctionReturn(0);
}

/* Median milliseconds of repeated calls, at least 5 and about 0.3 s. */
static PetscErrorCode Time(Case *k, What what, double *ms, PetscReal *out)
{
  double t[64], t0;
  int    n = 0;

  PetscFunctionBeginUser;
  t0 = Now();
  while (n < 64 && (n < 5 || Now() - t0 < 0.3)) {
    double a = Now();
    PetscCall(Once(k, what, out));
    t[n++] = (Now() - a) * 1e3;
  }
  qsort(t, (size_t)n, sizeof(*t), CompareDouble);
  *ms = t[n / 2];
  PetscFunctionReturn(0);
}

static PetscErrorCode Row(PetscInt C, PetscInt N, double phi, McRng rng)
{
  Case      k = {C, N, NULL, NULL, NULL};
  double    ms[3] = {0, 0, 0}, iat = (1 + phi) / (1 - phi);
  PetscReal ess = 0, bulk = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(C * N, &k.x, C * N, &k.split, C * N, &k.work));
  for (PetscInt c = 0; c < C; c++) {
    double v = McRngGaussian(rng);
    for (PetscInt i = 0; i < N; i++) {
      v = phi * v + sqrt(1 - phi * phi) * McRngGaussian(rng);
      k.x[c * N + i] = v;
    }
  }
  PetscCall(McDiagSplitChains(C, N, k.x, k.split));
  PetscCall(Time(&k, TIME_ESS, &ms[0], &ess));
  PetscCall(Time(&k, TIME_RANK, &ms[1], NULL));
  PetscCall(Time(&k, TIME_SUMMARY, &ms[2], &bulk));
  printf("| %3d | %6d | %5.3f | %9.3f | %9.3f | %10.3f | %9.0f | %9.0f |\n", (int)C, (int)N, phi, ms[0], ms[1],
         ms[2], (double)bulk, C * N / iat);
  fflush(stdout);
  PetscCall(PetscFree3(k.x, k.split, k.work));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const PetscInt Cs[2] = {4, 64}, Ns[3] = {2000, 20000, 100000};
  const double   phis[4] = {0, 0.9, 0.99, 0.999};
  PetscBool      quick = PETSC_FALSE;
  McRng          rng;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = PETSC_TRUE;
    else {
      fprintf(stderr, "mc-bench-diag: unknown argument '%s' (usage: mc-bench-diag [--quick])\n", argv[i]);
      return 2;
    }
  }
  argc = 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McRngCreate(2026, 0, &rng));
  printf("| C | N | phi | ESS ms | rank ms | summary ms | bulk ESS | C*N/IAT |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++) {
      if (Cs[a] * Ns[b] > 2000000 || (quick && Cs[a] * Ns[b] > 100000)) continue;
      for (int p = 0; p < 4; p++)
        PetscCall(Row(Cs[a], Ns[b], phis[p], rng));
    }
  PetscCall(McRngDestroy(&rng));
  PetscCall(PetscFinalize());
  return 0;
}
