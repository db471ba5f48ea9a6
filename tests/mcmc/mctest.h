/* Shared by the mcmc tests: a failure counter with messages that print both
 * values, the exact test problems, and a helper that runs one chain into an
 * in-memory sink. */
#pragma once

#include "mcmc/mcmc.h"

#include <gsl/gsl_linalg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../support/check.h"

/* The 2D correlated Gaussian: sd (1, 0.6), correlation 0.8, mean (1, -0.5). */
static inline void Gauss2D(PetscReal *mu, PetscReal *C)
{
  mu[0] = 1.0;
  mu[1] = -0.5;
  C[0] = 1.0;
  C[1] = C[2] = 0.8 * 1.0 * 0.6;
  C[3] = 0.36;
}

/* The 100D Gaussian: mean 0.5 sin(i), sd from 0.6 to 1.0, correlation
 * 0.5^|i-j| (an AR(1) covariance, condition number ~ 8). */
#define G100 100
static inline void Gauss100(PetscReal *mu, PetscReal *C)
{
  for (int i = 0; i < G100; i++) {
    PetscReal si = 0.6 + 0.4 * i / (G100 - 1.0);
    mu[i] = 0.5 * sin((double)i);
    for (int j = 0; j < G100; j++) {
      PetscReal sj = 0.6 + 0.4 * j / (G100 - 1.0);
      C[i * G100 + j] = si * sj * pow(0.5, fabs((double)(i - j)));
    }
  }
}

/* Exact posterior of y = A xi + e, e ~ N(0, diag(sigma^2)), xi ~ N(0, I):
 * covariance (I + A^T S^-2 A)^-1 and mean C A^T S^-2 y, densely with GSL. */
static inline PetscErrorCode LinearGaussianPosterior(int n, int m, const PetscReal *A, const PetscReal *y,
                                              const PetscReal *sigma, PetscReal *mean, PetscReal *C)
{
  gsl_matrix_view Cv = gsl_matrix_view_array(C, (size_t)n, (size_t)n);
  PetscReal       b[256];

  PetscFunctionBeginUser;
  PetscCheck(n <= 256, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "test problem too large");
  for (int i = 0; i < n; i++) {
    b[i] = 0;
    for (int k = 0; k < m; k++) b[i] += A[k * n + i] * y[k] / (sigma[k] * sigma[k]);
    for (int j = 0; j < n; j++) {
      PetscReal s = i == j;
      for (int k = 0; k < m; k++) s += A[k * n + i] * A[k * n + j] / (sigma[k] * sigma[k]);
      C[i * n + j] = s;
    }
  }
  PetscCheck(!gsl_linalg_cholesky_decomp1(&Cv.matrix), PETSC_COMM_SELF, PETSC_ERR_LIB, "cholesky failed");
  PetscCheck(!gsl_linalg_cholesky_invert(&Cv.matrix), PETSC_COMM_SELF, PETSC_ERR_LIB, "inverse failed");
  for (int i = 0; i < n; i++) {
    mean[i] = 0;
    for (int j = 0; j < n; j++) mean[i] += C[i * n + j] * b[j];
  }
  PetscFunctionReturn(0);
}

/* Runs kernel k (borrowed) on its target from xi = 0 and returns a memory
 * sink holding the kept draws (the caller destroys it) and the chain's
 * statistics. */
static inline PetscErrorCode RunKernel(McKernel k, PetscInt n, PetscInt burn, PetscInt iters, PetscInt thin,
                                       uint64_t seed, McSink *sink, McChainStats *stats)
{
  McChain c;

  PetscFunctionBeginUser;
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, iters, burn, thin));
  PetscCall(McChainSetSeed(c, seed, 0));
  PetscCall(McSinkCreateMemory(n, 0, iters / thin, sink));
  PetscCall(McChainSetSink(c, *sink));
  PetscCall(McChainSetUp(c));
  PetscCall(McChainRun(c));
  PetscCall(McChainGetStats(c, stats));
  PetscCall(McChainDestroy(&c));
  PetscFunctionReturn(0);
}

/* RunKernel with a new kernel of the named kind. */
static inline PetscErrorCode RunChain(McTarget target, const char *kernel, PetscInt burn, PetscInt iters, PetscInt thin,
                               uint64_t seed, McSink *sink, McChainStats *stats)
{
  McKernel k;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(McTargetGetSizes(target, &n, NULL));
  PetscCall(McKernelCreate(target, kernel, &k));
  PetscCall(RunKernel(k, n, burn, iters, thin, seed, sink, stats));
  PetscCall(McKernelDestroy(&k));
  PetscFunctionReturn(0);
}
