/* The Hessian-informed kernels (hpcn, hmala, dili, dr, hhmc) leave the posterior
 * invariant: posterior means and variances of every coordinate within 4
 * Monte Carlo standard errors (why 4: see tests/mcmc/test_kernels.c; at
 * most 40 comparisons per run here, so a correct kernel fails ~0.3% of
 * the time with a fixed seed, i.e. never once the seed passes, while a wrong
 * ratio is off by many MCSE).
 *
 * Problems:
 *   linear    the 20-parameter linear-Gaussian problem of the mcmc tests,
 *             reference = its exact posterior (the Laplace approximation of a
 *             linear-Gaussian problem is exact);
 *   perturbed the same posterior with a deliberately wrong reference (mean
 *             shifted, eigenvalues halved): the kernels must still be exact,
 *             now with a non-constant Psi;
 *   banana    a curved 2-D target embedded in 10 dimensions: x0 ~ N(0, 1),
 *             x1 | x0 ~ N(b (x0^2 - 1), s^2) (b = 0.5, s = 0.7), x2..x9 ~ N(0, 1),
 *             so E = 0, Var x0 = 1, Var x1 = s^2 + 2 b^2; reference = its
 *             Laplace approximation at the mode (0, -b): lambda = 1/s^2 - 1
 *             along e1;
 *   noref     no reference given: set-up must fail with a clear error;
 *   lis       (dili with -lis_update_every K) the linear problem with a
 *             deliberately wrong rank-10 reference: the null space of its
 *             Hessian (where the data say nothing) with the eigenvalues of
 *             its range. The subspace update must replace it during burn-in
 *             by the exact eigenpairs of the range (1e-8), then freeze it
 *             (bit for bit after burn-in), without allocating; the chain is
 *             checked like the others.
 * With -lis_update_every K on the banana (its target has the Gauss-Newton
 * Hessian J^T J / s^2 of the residual x1 - b (x0^2 - 1)), dili's reference
 * must change in burn-in, freeze after it, and the chain stay exact.
 * On the banana the reference has lighter tails in x1 than the target; with
 * beta -> 1 hpcn becomes an independence sampler with such a proposal,
 * which is not uniformly ergodic (Mengersen & Tweedie 1996): its chain
 * visits the tail too rarely for any run length a test can afford, and its
 * ESS estimate is not to be trusted. The banana runs of hpcn and dr
 * therefore ask for a higher acceptance (-target_acceptance 0.75), which
 * keeps beta near 0.6.
 *
 * With -surrogate the kernel is the first stage of delayed acceptance on a
 * surrogate target (see Surrogate) and the chain must still be exact for the
 * problem's posterior; a chain resumed from a checkpoint taken mid burn-in
 * must repeat all its draws bit for bit.
 *
 * Usage: geom_kernels -kernel NAME -problem linear|perturbed|banana|noref
 *        [-surrogate] [-iterations N -burn_in N -thin N -target_acceptance A] */
#include "../mcmc/mctest.h"
#include "obj/obj.h"

#include <gsl/gsl_eigen.h>

#define LG_N 20
#define LG_M 10
#define BN   10
#define BB   0.5
#define BS   0.7

static PetscErrorCode LinearProblem(McTarget *t, PetscReal *mean, PetscReal *C, PetscReal *A, PetscReal *sigma,
                                    PetscReal *y)
{
  PetscReal truth[LG_N];
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

static PetscErrorCode BananaPotential(void *ctx, Vec xi, PetscReal *phi, McEvalStatus *status)
{
  const PetscScalar *x;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(xi, &x));
  *(PetscReal *)ctx = x[0]; /* where the Hessian acts */
  PetscReal r = x[1] - BB * (x[0] * x[0] - 1);
  *phi = r * r / (2 * BS * BS) - 0.5 * x[1] * x[1];
  PetscCall(VecRestoreArrayRead(xi, &x));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

static PetscErrorCode BananaGradient(void *ctx, Vec xi, Vec grad, McEvalStatus *status)
{
  const PetscScalar *x;
  PetscScalar       *g;

  PetscFunctionBeginUser;
  (void)ctx;
  PetscCall(VecGetArrayRead(xi, &x));
  PetscCall(VecGetArrayWrite(grad, &g));
  PetscReal r = x[1] - BB * (x[0] * x[0] - 1);
  for (int i = 0; i < BN; i++) g[i] = 0;
  g[0] = -2 * BB * x[0] * r / (BS * BS);
  g[1] = r / (BS * BS) - x[1];
  PetscCall(VecRestoreArrayWrite(grad, &g));
  PetscCall(VecRestoreArrayRead(xi, &x));
  *status = MC_EVAL_OK;
  PetscFunctionReturn(0);
}

/* Gauss-Newton Hessian of the residual x1 - b (x0^2 - 1) at the last x:
 * J^T J v / s^2 with J = (-2 b x0, 1, 0, ...). */
static PetscErrorCode BananaHessian(void *ctx, Vec v, Vec Hv)
{
  PetscReal          x0 = *(PetscReal *)ctx, jv;
  const PetscScalar *a;
  PetscScalar       *h;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(v, &a));
  jv = -2 * BB * x0 * a[0] + a[1];
  PetscCall(VecRestoreArrayRead(v, &a));
  PetscCall(VecGetArrayWrite(Hv, &h));
  for (int i = 0; i < BN; i++)
    h[i] = 0;
  h[0] = -2 * BB * x0 * jv / (BS * BS);
  h[1] = jv / (BS * BS);
  PetscCall(VecRestoreArrayWrite(Hv, &h));
  PetscFunctionReturn(0);
}

/* Copies the kernel's reference (V as n x r column-major, lambda). */
static PetscErrorCode Snapshot(McKernel k, PetscInt n, PetscReal *V, PetscReal *lambda)
{
  PetscInt         r;
  const Vec       *W;
  const PetscReal *l;

  PetscFunctionBeginUser;
  PetscCall(McKernelGetGaussianReference(k, NULL, &r, &W, &l));
  for (PetscInt j = 0; j < r; j++) {
    const PetscScalar *a;
    lambda[j] = l[j];
    PetscCall(VecGetArrayRead(W[j], &a));
    for (PetscInt i = 0; i < n; i++)
      V[j * n + i] = a[i];
    PetscCall(VecRestoreArrayRead(W[j], &a));
  }
  PetscFunctionReturn(0);
}

/* |V V^T - U U^T|_F for n x r orthonormal bases: 0 for the same subspace. */
static PetscReal SubspaceDistance(PetscInt n, PetscInt r, const PetscReal *V, const PetscReal *U)
{
  PetscReal s = 0;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      PetscReal a = 0;
      for (PetscInt q = 0; q < r; q++)
        a += V[q * n + i] * V[q * n + j] - U[q * n + i] * U[q * n + j];
      s += a * a;
    }
  return sqrt(s);
}

/* Eigenpairs of the n x n symmetric M (destroyed) with eigenvalue > tol,
 * descending, into V (as Vecs) and lambda; returns their number. */
static PetscErrorCode Eigen(PetscInt n, PetscReal *M, PetscReal tol, Vec tmpl, PetscInt *r, Vec **V, PetscReal *lambda)
{
  gsl_matrix_view            Mv = gsl_matrix_view_array(M, n, n);
  gsl_matrix                *U = gsl_matrix_alloc(n, n);
  gsl_vector                *S = gsl_vector_alloc(n);
  gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(n);

  PetscFunctionBeginUser;
  gsl_eigen_symmv(&Mv.matrix, S, U, ws);
  gsl_eigen_symmv_sort(S, U, GSL_EIGEN_SORT_VAL_DESC);
  *r = 0;
  while (*r < n && gsl_vector_get(S, *r) > tol) (*r)++;
  PetscCall(VecDuplicateVecs(tmpl, *r, V));
  for (PetscInt i = 0; i < *r; i++) {
    PetscScalar *a;
    lambda[i] = gsl_vector_get(S, i);
    PetscCall(VecGetArrayWrite((*V)[i], &a));
    for (PetscInt j = 0; j < n; j++) a[j] = gsl_matrix_get(U, j, i);
    PetscCall(VecRestoreArrayWrite((*V)[i], &a));
  }
  gsl_eigen_symmv_free(ws);
  gsl_vector_free(S);
  gsl_matrix_free(U);
  PetscFunctionReturn(0);
}

/* The first stage's target under -surrogate (delayed acceptance): close to
 * the problem's posterior but not equal to it, so the second stage has
 * something to correct. linear/perturbed: the same A with shifted data and
 * 1.3 times the noise; banana: the Gaussian with the banana's mean and
 * covariance (no curvature at all). */
static PetscErrorCode Surrogate(const char *problem, PetscInt n, const PetscReal *A, const PetscReal *y,
                                const PetscReal *sigma, const PetscReal *mu, const PetscReal *C, McTarget *ts)
{
  PetscFunctionBeginUser;
  if (!strcmp(problem, "banana")) {
    PetscCall(McTargetCreateGaussian(n, mu, C, ts));
  } else {
    PetscReal ys[LG_M], ss[LG_M];
    for (int q = 0; q < LG_M; q++) {
      ys[q] = y[q] + 0.2 * sin(q + 1.0);
      ss[q] = 1.3 * sigma[q];
    }
    PetscCall(McTargetCreateLinearGaussian(LG_N, LG_M, A, ys, ss, ts));
  }
  PetscFunctionReturn(0);
}

/* -target_acceptance and -step for the kernel, dr's -second_step,
 * -second_target and -adapt_first, hhmc's -leapfrog_steps, then with a surrogate ts the kernel
 * becomes delayed acceptance's first stage for target t. */
static PetscErrorCode Finish(McTarget t, McTarget ts, McKernel *k)
{
  PetscReal ta;
  PetscBool set;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-target_acceptance", &ta, &set));
  if (set) PetscCall(McKernelSetTargetAcceptance(*k, ta));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-step", &ta, &set));
  if (set) PetscCall(McKernelSetStepSize(*k, ta));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-second_step", &ta, &set));
  if (set) PetscCall(McKernelSetParameter(*k, "delta2", ta));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-second_target", &ta, &set));
  if (set) PetscCall(McKernelSetParameter(*k, "target2", ta));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-adapt_first", &ta, &set));
  if (set) PetscCall(McKernelSetParameter(*k, "adapt_first", ta));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-leapfrog_steps", &ta, &set));
  if (set) PetscCall(McKernelSetParameter(*k, "leapfrog_steps", ta));
  if (ts) {
    McKernel first = *k;
    PetscCall(McKernelCreateDelayedAcceptance(t, first, k));
    PetscCall(McKernelDestroy(&first));
  }
  PetscFunctionReturn(0);
}

/* dr's second step at the end of `burn` adapted burn-in iterations towards
 * the second-stage acceptance target2 (the run's other settings). */
static PetscErrorCode AdaptedSecondStep(McTarget t, Vec mean, PetscInt r, const Vec V[], const PetscReal lambda[],
                                        PetscInt burn, PetscReal target2, PetscReal *delta2)
{
  McKernel     k;
  McChain      c;
  McChainStats st;

  PetscFunctionBeginUser;
  PetscCall(McKernelCreate(t, "dr", &k));
  PetscCall(McKernelSetGaussianReference(k, mean, r, V, lambda));
  PetscCall(Finish(t, NULL, &k));
  PetscCall(McKernelSetParameter(k, "target2", target2));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, burn, burn, 1));
  PetscCall(McChainSetSeed(c, 20240607, 0));
  PetscCall(McChainSetUp(c));
  PetscCall(McChainRun(c));
  PetscCall(McChainGetStats(c, &st));
  *delta2 = st.second_step;
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char             kernel[32] = "hpcn", problem[32] = "linear";
  PetscInt         n, iters = 20000, burn = 2000, thin = 1, nd, r = 0;
  PetscReal        mu[LG_N], C[LG_N * LG_N], A[LG_M * LG_N], sigma[LG_M], M[LG_N * LG_N], lambda[LG_N], y[LG_M];
  PetscReal        zmax_m = 0, zmax_v = 0, essmin = PETSC_INFINITY;
  PetscReal        banana_x0 = 0, lis_lambda[LG_N], refI[LG_N * LG_N], refA[LG_N * LG_N], refB[LG_N * LG_N];
  PetscReal        refC[LG_N * LG_N], lamI[LG_N], lamA[LG_N], lamB[LG_N], lamC[LG_N], lis_V[LG_N * LG_N];
  PetscInt         every = 0;
  PetscBool        surrogate = PETSC_FALSE, resume = PETSC_FALSE;
  McTarget         ts = NULL;
  PetscInt64       p0 = 0, q0 = 0, p1 = 0, q1 = 0;
  McCheckpoint    *ck = NULL;
  Vec              mean, *V = NULL;
  McTarget         t;
  McKernel         k;
  McChain          c;
  McSink           sink;
  McChainStats     st;
  const PetscReal *x;

  PetscCall(McMemInstallPetscHooks());
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-kernel", kernel, sizeof(kernel), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", problem, sizeof(problem), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-iterations", &iters, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-burn_in", &burn, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-thin", &thin, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-lis_update_every", &every, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-surrogate", &surrogate, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-resume", &resume, NULL));
  if (!strcmp(problem, "banana")) {
    McTargetOps ops = {BananaPotential, BananaGradient, NULL, NULL};
    n = BN;
    PetscCall(McTargetCreateShell(PETSC_COMM_SELF, BN, BN, &ops, &banana_x0, 0, NULL, &t));
    PetscCall(McTargetSetHessian(t, BananaHessian));
    for (int i = 0; i < BN; i++) mu[i] = 0;
    for (int i = 0; i < BN * BN; i++) C[i] = M[i] = 0;
    for (int i = 0; i < BN; i++) C[i * BN + i] = 1;
    C[1 * BN + 1] = BS * BS + 2 * BB * BB;
    M[1 * BN + 1] = 1 / (BS * BS) - 1;
  } else {
    n = LG_N;
    PetscCall(LinearProblem(&t, mu, C, A, sigma, y));
    for (int i = 0; i < LG_N; i++)
      for (int j = 0; j < LG_N; j++) {
        M[i * LG_N + j] = 0;
        for (int q = 0; q < LG_M; q++) M[i * LG_N + j] += A[q * LG_N + i] * A[q * LG_N + j] / PetscSqr(sigma[q]);
      }
  }
  PetscCall(McTargetCreateVec(t, &mean));
  if (strcmp(problem, "noref")) {
    PetscScalar *a;
    PetscCall(Eigen(n, M, 1e-10, mean, &r, &V, lambda));
    PetscCall(VecGetArrayWrite(mean, &a));
    for (int i = 0; i < n; i++) a[i] = strcmp(problem, "banana") ? mu[i] : (i == 1 ? -BB : 0);
    if (!strcmp(problem, "perturbed")) {
      for (int i = 0; i < n; i++) a[i] += 0.3 * sin(i + 1.0);
      for (int i = 0; i < r; i++) lambda[i] *= 0.5;
    }
    PetscCall(VecRestoreArrayWrite(mean, &a));
  }
  if (!strcmp(problem, "lis")) {
    /* the exact eigenpairs of the Hessian's range (kept for the
     * comparison), then the reference: its null space, where the data say
     * nothing, with the range's eigenvalues */
    PetscCheck(r == LG_M, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the linear problem's Hessian has rank %d", (int)r);
    for (int j = 0; j < r; j++) {
      const PetscScalar *a;
      lis_lambda[j] = lambda[j];
      PetscCall(VecGetArrayRead(V[j], &a));
      for (int i = 0; i < n; i++)
        lis_V[j * n + i] = a[i];
      PetscCall(VecRestoreArrayRead(V[j], &a));
    }
    PetscCall(VecDestroyVecs(r, &V));
    for (int i = 0; i < LG_N; i++)
      for (int j = 0; j < LG_N; j++) {
        M[i * LG_N + j] = 0;
        for (int q = 0; q < LG_M; q++)
          M[i * LG_N + j] += A[q * LG_N + i] * A[q * LG_N + j] / PetscSqr(sigma[q]);
      }
    {
      Vec *all;
      PetscCall(Eigen(n, M, -PETSC_INFINITY, mean, &r, &all, lambda));
      PetscCall(VecDuplicateVecs(mean, LG_M, &V));
      for (int j = 0; j < LG_M; j++) {
        PetscCall(VecCopy(all[LG_M + j], V[j]));
        lambda[j] = lis_lambda[j];
      }
      PetscCall(VecDestroyVecs(r, &all));
      r = LG_M;
    }
  }

  if (surrogate) PetscCall(Surrogate(problem, n, A, y, sigma, mu, C, &ts));
  PetscCall(McKernelCreate(ts ? ts : t, kernel, &k));
  if (!strcmp(problem, "noref")) {
    PetscErrorCode ierr;
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = McKernelSetUp(k);
    PetscCall(PetscPopErrorHandler());
    CHECK(ierr == PETSC_ERR_ORDER, "%s without a reference: set-up error code %d, expected %d", kernel, (int)ierr,
          (int)PETSC_ERR_ORDER);
    PetscCall(McKernelDestroy(&k));
    PetscCall(VecDestroy(&mean));
    PetscCall(McTargetDestroy(&t));
    printf("%d failures\n", failures);
    PetscCall(PetscFinalize());
    return failures != 0;
  }
  PetscCall(McKernelSetGaussianReference(k, mean, r, V, lambda));
  PetscCall(Finish(t, ts, &k));
  PetscCall(McChainCreate(k, &c));
  PetscCall(McChainSetIterations(c, iters, burn, thin));
  PetscCall(McChainSetSeed(c, 20240607, 0));
  PetscCall(McSinkCreateMemory(n, 0, iters / thin, &sink));
  PetscCall(McChainSetSink(c, sink));
  if (every) PetscCall(McKernelSetParameter(k, "lis_update_every", (PetscReal)every));
  PetscCall(McChainSetUp(c));
  if (every) {
    /* Updates in burn-in (the first after `every` steps): none may allocate. */
    PetscCall(Snapshot(k, n, refI, lamI));
    PetscCall(McCheckpointCreate(c, &ck));
    PetscCall(McChainRunSteps(c, 10));
    PetscCall(McMemAllocCount(&p0, &q0));
    PetscCall(McChainRunSteps(c, burn / 2 - 10));
    PetscCall(McChainCheckpointSave(c, ck));
    PetscCall(Snapshot(k, n, refA, lamA));
    PetscCall(McChainRunSteps(c, burn - burn / 2));
    PetscCall(McMemAllocCount(&p1, &q1));
    PetscCall(Snapshot(k, n, refB, lamB));
  }
  if (ts || resume) {
    /* a checkpoint mid burn-in: the resumed chain must repeat every draw */
    PetscCall(McCheckpointCreate(c, &ck));
    PetscCall(McChainRunSteps(c, burn / 2));
    PetscCall(McChainCheckpointSave(c, ck));
  }
  PetscCall(McChainRun(c));
  PetscCall(McChainGetStats(c, &st));
  if (every) {
    PetscReal dIB = SubspaceDistance(n, r, refI, refB), dl = 0;
    PetscCall(Snapshot(k, n, refC, lamC));
    for (PetscInt j = 0; j < r; j++)
      dl = PetscMax(dl, fabs(lamB[j] - lamI[j]) / PetscMax(lamI[j], 1e-300));
    CHECK(p1 == p0 && q1 == q0, "%s %s: %lld project and %lld PETSc allocations in burn-in with subspace updates",
          kernel, problem, (long long)(p1 - p0), (long long)(q1 - q0));
    CHECK(dIB > 0.1 || dl > 0.1, "%s %s: in burn-in the subspace moved by %.3g, the eigenvalues by %.3g (relative)",
          kernel, problem, (double)dIB, (double)dl);
    CHECK(!memcmp(refB, refC, sizeof(PetscReal) * (size_t)(n * r)) &&
              !memcmp(lamB, lamC, sizeof(PetscReal) * (size_t)r),
          "%s %s: the reference after burn-in is frozen (distance %.3g)", kernel, problem,
          (double)SubspaceDistance(n, r, refB, refC));
    printf("%s %s: burn-in moved the subspace by %.3g and the eigenvalues by %.3g (relative); %lld allocations\n",
           kernel, problem, (double)dIB, (double)dl, (long long)(p1 - p0 + q1 - q0));
    if (!strcmp(problem, "lis")) {
      PetscReal dA = SubspaceDistance(n, r, refA, lis_V), dB = SubspaceDistance(n, r, refB, lis_V), el = 0;
      for (PetscInt j = 0; j < r; j++)
        el = PetscMax(el, fabs(lamB[j] - lis_lambda[j]) / lis_lambda[j]);
      CHECK(dA < 1e-8 && dB < 1e-8, "%s %s: distance to the exact leading subspace %.3g mid burn-in, %.3g at its end",
            kernel, problem, (double)dA, (double)dB);
      printf("%s %s: distance to the exact subspace %.3g mid burn-in, %.3g at its end; eigenvalue error %.3g\n", kernel,
             problem, (double)dA, (double)dB, (double)el);
      CHECK(el < 1e-8, "%s %s: eigenvalues %.6g ... %.6g, exact %.6g ... %.6g (relative error %.3g)", kernel, problem,
            (double)lamB[0], (double)lamB[r - 1], (double)lis_lambda[0], (double)lis_lambda[r - 1], (double)el);
    }
  }

  PetscCall(McSinkMemoryGetDraws(sink, &nd, &x, NULL, NULL, NULL));
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
    CHECK(fabs(zm) < 4, "%s %s x[%d]: mean %.5f, exact %.5f, MCSE %.5f (%.1f MCSE)", kernel, problem, (int)i, (double)m,
          (double)mu[i], (double)sem, (double)zm);
    CHECK(fabs(zv) < 4, "%s %s x[%d]: variance %.5f, exact %.5f, MCSE %.5f (%.1f MCSE)", kernel, problem, (int)i,
          (double)v, (double)C[i * n + i], (double)sev, (double)zv);
  }
  CHECK(st.acceptance > 0.1, "%s %s: acceptance %.3f", kernel, problem, (double)st.acceptance);
  CHECK(essmin > 200, "%s %s: min ESS %.0f (enough for the MCSE to be trusted)", kernel, problem, (double)essmin);
  printf("%s %s: acceptance %.3f, step %.4g, min ESS %.0f of %d draws, max |z| mean %.2f variance %.2f, %.0f it/s\n",
         kernel, problem, (double)st.acceptance, (double)st.step_size, (double)essmin, (int)nd, (double)zmax_m,
         (double)zmax_v, (double)st.samples_per_sec);
  {
    /* dr's adaptation of its second step: each stage on its own acceptance,
     * and beta kept with -adapt_first 0; a lower target acceptance must end
     * at a larger step. */
    PetscReal t2, t2hi, s0 = 1, b0, d2 = 0;
    PetscBool set2, setb;
    PetscCall(PetscOptionsGetReal(NULL, NULL, "-second_target", &t2, &set2));
    PetscCall(PetscOptionsGetReal(NULL, NULL, "-step", &b0, &setb));
    if (set2 && !strcmp(kernel, "dr")) {
      t2hi = PetscMin(t2 + 0.3, 0.95);
      PetscCall(PetscOptionsGetReal(NULL, NULL, "-second_step", &s0, NULL));
      CHECK(st.second_step != s0 && st.second_step > 0 && st.second_step <= 2,
            "%s %s: second step %.4g after burn-in, started at %.4g", kernel, problem, (double)st.second_step, (double)s0);
      if (setb) CHECK(st.step_size == b0, "%s %s: beta %.17g after burn-in, kept at %.17g", kernel, problem,
                      (double)st.step_size, (double)b0);
      PetscCall(AdaptedSecondStep(t, mean, r, V, lambda, burn, t2hi, &d2));
      CHECK(d2 < st.second_step, "%s %s: second step %.4g for target %.2f, %.4g for target %.2f", kernel, problem,
            (double)st.second_step, (double)t2, (double)d2, (double)t2hi);
      printf("%s %s: beta %.4g; second step %.4g (from %.4g) for second-stage target %.2f, %.4g for %.2f\n", kernel,
             problem, (double)st.step_size, (double)st.second_step, (double)s0, (double)t2, (double)d2, (double)t2hi);
    }
  }
  if (ck) {
    /* A chain resumed from the checkpoint taken mid burn-in (the updated
     * subspace in it) repeats the draws bit for bit. */
    McKernel         k2;
    McChain          c2;
    McSink           s2;
    PetscInt         nd2;
    const PetscReal *x2;
    PetscCall(McKernelCreate(ts ? ts : t, kernel, &k2));
    PetscCall(McKernelSetGaussianReference(k2, mean, r, V, lambda));
    if (every) PetscCall(McKernelSetParameter(k2, "lis_update_every", (PetscReal)every));
    PetscCall(Finish(t, ts, &k2));
    PetscCall(McChainCreate(k2, &c2));
    PetscCall(McChainSetIterations(c2, iters, burn, thin));
    PetscCall(McChainSetSeed(c2, 20240607, 0));
    PetscCall(McSinkCreateMemory(n, 0, iters / thin, &s2));
    PetscCall(McChainSetSink(c2, s2));
    PetscCall(McChainSetUp(c2));
    PetscCall(McChainCheckpointRestore(c2, ck));
    PetscCall(McChainRun(c2));
    PetscCall(McSinkMemoryGetDraws(s2, &nd2, &x2, NULL, NULL, NULL));
    CHECK(nd2 == nd && !memcmp(x, x2, sizeof(PetscReal) * (size_t)(nd * n)),
          "%s %s: the chain resumed mid burn-in repeats its %d draws bit for bit (%d draws)", kernel, problem, (int)nd,
          (int)nd2);
    printf("%s %s: resumed from iteration %d (burn-in), %d draws compared bit for bit\n", kernel, problem,
           (int)ck->iteration, (int)nd2);
    PetscCall(McChainDestroy(&c2));
    PetscCall(McKernelDestroy(&k2));
    PetscCall(McSinkDestroy(&s2));
    PetscCall(McCheckpointDestroy(&ck));
  }
  PetscCall(McChainDestroy(&c));
  PetscCall(McKernelDestroy(&k));
  PetscCall(McSinkDestroy(&sink));
  PetscCall(VecDestroyVecs(r, &V));
  PetscCall(VecDestroy(&mean));
  PetscCall(McTargetDestroy(&t));
  PetscCall(McTargetDestroy(&ts));
  printf("%d failures\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
