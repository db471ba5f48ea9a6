/* The low-rank Laplace approximation of the posterior at the MAP point.
 *
 * In whitened coordinates the prior is N(0, I), so the generalised
 * eigenproblem H_misfit v = lambda Gamma_prior^-1 v is the standard one for
 * Ht = L^T H_misfit L, and with its r leading eigenpairs (V orthonormal)
 *   Gamma_post = (I + Ht)^-1 ~ I - V diag(lambda/(1+lambda)) V^T,
 *   Gamma_post^(1/2) ~ I - V diag(1 - 1/sqrt(1+lambda)) V^T,
 * both applied in O(n r). The eigenpairs come from the randomised
 * double-pass algorithm (Halko, Martinsson, Tropp 2011, algorithm 5.3) with
 * oversampling and optional subspace (power) iterations: Y = Ht Omega,
 * Q = orth(Y), T = Q^T Ht Q, T = U S U^T, V = Q U. Only Hessian actions are
 * needed, (2 + q)(r + p) of them; at k = r + p >= n it is exact. */
#include "model/model_impl.h"

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

struct _p_McLaplace {
  MC_OBJECT_HEAD;
  PetscInt   r;      /* eigenpairs kept */
  PetscReal *lambda; /* r eigenvalues, descending */
  Vec       *V;      /* r orthonormal eigenvectors */
  Vec        mean;   /* the MAP point */
  Vec        w;      /* work */
  PetscScalar *c;    /* r coefficients (work) */
  PetscInt   actions;
  PetscReal  seconds;
};

/* The eigenbasis holds no objects: not a container. */
static void LaplaceDealloc(McObject *o)
{
  McLaplace l = (McLaplace)o;
  /* dealloc cannot report errors; these only fail on corrupt objects */
  if (l->V) (void)VecDestroyVecs(l->r, &l->V);
  (void)VecDestroy(&l->mean);
  (void)VecDestroy(&l->w);
  (void)McFree(&l->lambda);
  (void)McFree(&l->c);
}

static const McType McLaplaceType = {"McLaplace", sizeof(struct _p_McLaplace), NULL, LaplaceDealloc, NULL, NULL};

PetscErrorCode McLaplaceOptionsDefault(McLaplaceOptions *opt)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(opt, sizeof(*opt)));
  opt->max_rank = 50;
  opt->oversampling = 10;
  opt->power_iterations = 1;
  opt->threshold = 1e-2;
  opt->hessian = MC_HESSIAN_GAUSS_NEWTON;
  opt->seed = 1;
  PetscFunctionReturn(0);
}

/* Orthonormalises the k vectors Q in place (modified Gram-Schmidt, twice:
 * "twice is enough", Giraud et al. 2005). A vector that vanishes against
 * the others (Ht of lower rank than k) is replaced by a fresh random one. */
static PetscErrorCode Orthonormalise(McPrior prior, gsl_rng *rng, PetscInt k, Vec *Q, PetscScalar *c)
{
  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < k; j++) {
    PetscReal nrm0, nrm;
    PetscCall(VecNorm(Q[j], NORM_2, &nrm0));
    for (PetscInt attempt = 0;; attempt++) {
      for (int pass = 0; pass < 2 && j > 0; pass++) {
        PetscCall(VecMDot(Q[j], j, Q, c));
        for (PetscInt i = 0; i < j; i++) c[i] = -c[i];
        PetscCall(VecMAXPY(Q[j], j, c, Q));
      }
      PetscCall(VecNorm(Q[j], NORM_2, &nrm));
      if (nrm > 1e-10 * nrm0 && nrm > 0) break;
      PetscCheck(attempt < 3, PETSC_COMM_SELF, PETSC_ERR_PLIB, "cannot complete an orthonormal basis");
      PetscCall(McPriorSampleWhite(prior, rng, Q[j]));
      PetscCall(VecNorm(Q[j], NORM_2, &nrm0));
    }
    PetscCall(VecScale(Q[j], 1.0 / nrm));
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckOptions(MPI_Comm comm, const McLaplaceOptions *o)
{
  PetscFunctionBeginUser;
  PetscCheck(o->max_rank >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "Laplace approximation: the rank must be >= 1, got %" PetscInt_FMT, o->max_rank);
  PetscCheck(o->oversampling >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "Laplace approximation: the oversampling must be >= 0, got %" PetscInt_FMT, o->oversampling);
  PetscCheck(o->power_iterations >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "Laplace approximation: the power iterations must be >= 0, got %" PetscInt_FMT, o->power_iterations);
  PetscCheck(o->threshold >= 0, comm, PETSC_ERR_ARG_OUTOFRANGE, "Laplace approximation: the eigenvalue threshold must be >= 0, got %g", (double)o->threshold);
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceCreate(McPosterior post, Vec xi_map, const McLaplaceOptions *o, McLaplace *out)
{
  MPI_Comm          comm = PetscObjectComm((PetscObject)post->d);
  McLaplace         l;
  PetscInt          N, k;
  Vec              *Q, *Y;
  PetscScalar      *c;
  PetscReal                  phi, top;
  McPosteriorStatus st;
  gsl_rng          *rng;
  gsl_matrix       *T, *U;
  gsl_vector       *S;
  gsl_eigen_symmv_workspace *ws;
  PetscLogDouble    t0, t1;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCall(CheckOptions(comm, o));
  PetscCall(PetscTime(&t0));
  PetscCall(VecGetSize(xi_map, &N));
  k = PetscMin(o->max_rank + o->oversampling, N);
  PetscCall(McPosteriorPotential(post, xi_map, &phi, &st));
  PetscCheck(st == MC_POST_OK, comm, PETSC_ERR_ARG_WRONG, "Laplace approximation: the forward problem cannot be solved at the MAP point");
  PetscCall(McObjectCreate(&McLaplaceType, &l));
  PetscCall(VecDuplicate(xi_map, &l->mean));
  PetscCall(VecCopy(xi_map, l->mean));
  PetscCall(VecDuplicate(xi_map, &l->w));
  if (o->hessian == MC_HESSIAN_NEWTON) PetscCall(McPosteriorGradient(post, l->w)); /* the adjoint the full Hessian needs */

  rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, (unsigned long)o->seed);
  PetscCall(VecDuplicateVecs(xi_map, k, &Q));
  PetscCall(VecDuplicateVecs(xi_map, k, &Y));
  PetscCall(PetscMalloc1(k, &c));
  for (PetscInt j = 0; j < k; j++) PetscCall(McPriorSampleWhite(post->prior, rng, Y[j]));
  for (PetscInt pass = 0; pass <= o->power_iterations; pass++) {
    /* Y <- Ht Y, then orthonormalise */
    for (PetscInt j = 0; j < k; j++) PetscCall(McPosteriorHessianApply(post, o->hessian, Y[j], Q[j]));
    l->actions += k;
    PetscCall(Orthonormalise(post->prior, rng, k, Q, c));
    for (PetscInt j = 0; j < k; j++) PetscCall(VecCopy(Q[j], Y[j]));
  }
  /* T = Q^T Ht Q (symmetrised), eigenpairs descending. */
  T = gsl_matrix_alloc(k, k);
  U = gsl_matrix_alloc(k, k);
  S = gsl_vector_alloc(k);
  ws = gsl_eigen_symmv_alloc(k);
  for (PetscInt j = 0; j < k; j++) {
    PetscCall(McPosteriorHessianApply(post, o->hessian, Q[j], Y[j]));
    PetscCall(VecMDot(Y[j], k, Q, c));
    for (PetscInt i = 0; i < k; i++) gsl_matrix_set(T, i, j, PetscRealPart(c[i]));
  }
  l->actions += k;
  for (PetscInt i = 0; i < k; i++)
    for (PetscInt j = 0; j < i; j++) {
      double s = 0.5 * (gsl_matrix_get(T, i, j) + gsl_matrix_get(T, j, i));
      gsl_matrix_set(T, i, j, s);
      gsl_matrix_set(T, j, i, s);
    }
  PetscCheck(!gsl_eigen_symmv(T, S, U, ws), comm, PETSC_ERR_LIB, "GSL symmetric eigensolver failed");
  PetscCheck(!gsl_eigen_symmv_sort(S, U, GSL_EIGEN_SORT_VAL_DESC), comm, PETSC_ERR_LIB, "GSL eigenvalue sort failed");
  l->r = 0;
  while (l->r < PetscMin(o->max_rank, k) && gsl_vector_get(S, l->r) > o->threshold) l->r++;
  top = gsl_vector_get(S, 0);
  if (l->r > 0) {
    PetscCall(McMalloc((size_t)l->r * sizeof(PetscReal), &l->lambda));
    PetscCall(McMalloc((size_t)l->r * sizeof(PetscScalar), &l->c));
    PetscCall(VecDuplicateVecs(xi_map, l->r, &l->V));
  }
  for (PetscInt i = 0; i < l->r; i++) {
    l->lambda[i] = gsl_vector_get(S, i);
    for (PetscInt j = 0; j < k; j++) c[j] = gsl_matrix_get(U, j, i);
    PetscCall(VecZeroEntries(l->V[i]));
    PetscCall(VecMAXPY(l->V[i], k, c, Q));
  }
  gsl_eigen_symmv_free(ws);
  gsl_vector_free(S);
  gsl_matrix_free(U);
  gsl_matrix_free(T);
  gsl_rng_free(rng);
  PetscCall(PetscFree(c));
  PetscCall(VecDestroyVecs(k, &Q));
  PetscCall(VecDestroyVecs(k, &Y));
  if (l->r == 0) {
    /* The user's setting, not a failure: nothing is kept, and the message says why. */
    PetscCall(McLaplaceDestroy(&l));
    SETERRQ(comm, PETSC_ERR_ARG_OUTOFRANGE,
            "Laplace approximation: no eigenvalue of the prior-preconditioned Hessian exceeds the threshold %g (the "
            "largest is %g): the data inform nothing at this threshold",
            (double)o->threshold, (double)top);
  }
  PetscCall(PetscTime(&t1));
  l->seconds = t1 - t0;
  *out = l;
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceDestroy(McLaplace *lap)
{
  PetscFunctionBeginUser;
  PetscCall(McObjectDestroy(lap));
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceGetEigenpairs(McLaplace l, PetscInt *r, const PetscReal **lambda, const Vec **V)
{
  PetscFunctionBeginUser;
  if (r) *r = l->r;
  if (lambda) *lambda = l->lambda;
  if (V) *V = l->V;
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceGetMean(McLaplace l, Vec *mean)
{
  PetscFunctionBeginUser;
  *mean = l->mean;
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceGetCost(McLaplace l, PetscInt *actions, PetscReal *seconds)
{
  PetscFunctionBeginUser;
  if (actions) *actions = l->actions;
  if (seconds) *seconds = l->seconds;
  PetscFunctionReturn(0);
}

/* y = x - V diag(f(lambda)) V^T x. */
static PetscErrorCode LowRankUpdate(McLaplace l, Vec x, Vec y, PetscBool sqrt_)
{
  PetscFunctionBeginUser;
  PetscCall(VecMDot(x, l->r, l->V, l->c));
  for (PetscInt i = 0; i < l->r; i++) {
    PetscReal f = sqrt_ ? 1 - 1 / PetscSqrtReal(1 + l->lambda[i]) : l->lambda[i] / (1 + l->lambda[i]);
    l->c[i] *= -f;
  }
  if (x != y) PetscCall(VecCopy(x, y));
  PetscCall(VecMAXPY(y, l->r, l->c, l->V));
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceApplyCovariance(McLaplace l, Vec x, Vec y)
{
  PetscFunctionBeginUser;
  PetscCall(LowRankUpdate(l, x, y, PETSC_FALSE));
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceApplyCovarianceSqrt(McLaplace l, Vec z, Vec y)
{
  PetscFunctionBeginUser;
  PetscCall(LowRankUpdate(l, z, y, PETSC_TRUE));
  PetscFunctionReturn(0);
}

PetscErrorCode McLaplaceSample(McLaplace l, gsl_rng *rng, Vec xi)
{
  PetscFunctionBeginUser;
  /* White noise in global index order (layout-independent), as the prior draws it. */
  {
    PetscInt     n, lo, hi;
    PetscScalar *a;
    PetscCall(VecGetSize(l->w, &n));
    PetscCall(VecGetOwnershipRange(l->w, &lo, &hi));
    PetscCall(VecGetArrayWrite(l->w, &a));
    for (PetscInt i = 0; i < n; i++) {
      const double z = gsl_ran_gaussian_ziggurat(rng, 1.0);
      if (i >= lo && i < hi) a[i - lo] = z;
    }
    PetscCall(VecRestoreArrayWrite(l->w, &a));
  }
  PetscCall(LowRankUpdate(l, l->w, xi, PETSC_TRUE));
  PetscCall(VecAXPY(xi, 1.0, l->mean));
  PetscFunctionReturn(0);
}
