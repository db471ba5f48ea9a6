/* Linear-Gaussian exactness: the field observed directly (d = B m + e) makes
 * the posterior in whitened coordinates exactly Gaussian,
 *   Phi(xi) + |xi|^2/2 = 0.5 xi^T H xi - b^T xi + const,
 *   H = I + G^T W G,  b = G^T W (d - B m0),  G = B L,
 * computed here densely with GSL. Our log density and gradient must imply
 * the same minimiser (the posterior mean) and Hessian (the inverse
 * posterior covariance) to 1e-8, in both parameterisations (nodal and KL). */
#include "modeltest.h"
#include "obj/obj.h"

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_rng.h>
#include <math.h>

static PetscErrorCode VecToGsl(Vec v, gsl_vector *g)
{
  const PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(v, &a));
  for (size_t i = 0; i < g->size; i++) gsl_vector_set(g, i, PetscRealPart(a[i]));
  PetscCall(VecRestoreArrayRead(v, &a));
  PetscFunctionReturn(0);
}

static PetscErrorCode GslToVec(const gsl_vector *g, Vec v)
{
  PetscScalar *a;
  PetscFunctionBeginUser;
  PetscCall(VecGetArrayWrite(v, &a));
  for (size_t i = 0; i < g->size; i++) a[i] = gsl_vector_get(g, i);
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}

/* grad of Phi(xi) + |xi|^2/2 into out. */
static PetscErrorCode NegLogPostGradient(McPosterior post, Vec xi, Vec work, gsl_vector *out)
{
  PetscReal         phi;
  McPosteriorStatus st;
  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential(post, xi, &phi, &st));
  PetscCall(McPosteriorGradient(post, work));
  PetscCall(VecAXPY(work, 1.0, xi));
  PetscCall(VecToGsl(work, out));
  PetscFunctionReturn(0);
}

/* W: the noise precision, dense; NULL for the diagonal 1/sigma^2. */
static PetscErrorCode CheckExact(McPosterior post, McObsOperator obs, const gsl_matrix *W, const char *name)
{
  Vec               xi, work, m, m0, bm, d, sig;
  PetscInt          n, nobs;
  gsl_matrix       *G, *H, *Hf, *WG;
  gsl_vector       *b, *mean, *g0, *g1, *tmp;
  const PetscScalar *da, *sa, *ba;
  double            hmax = 0, herr = 0, gmax = 0, bmax = 0;
  char              what[128];

  PetscFunctionBeginUser;
  PetscCall(McPosteriorCreateParameterVector(post, &xi));
  PetscCall(VecDuplicate(xi, &work));
  PetscCall(VecGetSize(xi, &n));
  PetscCall(McPosteriorGetData(post, &d, &sig, NULL));
  PetscCall(VecGetSize(d, &nobs));
  PetscCall(McPosteriorGetField(post, &m));
  PetscCall(VecDuplicate(m, &m0));
  PetscCall(VecDuplicate(d, &bm));
  G    = gsl_matrix_alloc(nobs, n);
  H    = gsl_matrix_alloc(n, n);
  Hf   = gsl_matrix_alloc(n, n);
  b    = gsl_vector_alloc(n);
  mean = gsl_vector_alloc(n);
  g0   = gsl_vector_alloc(n);
  g1   = gsl_vector_alloc(n);
  tmp  = gsl_vector_alloc(nobs);
  /* G e_j = B (field(e_j) - field(0)) */
  PetscCall(VecZeroEntries(xi));
  PetscCall(McPosteriorParameterToField(post, xi, m0));
  for (PetscInt j = 0; j < n; j++) {
    PetscCall(VecZeroEntries(xi));
    PetscCall(VecSetValue(xi, j, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(xi));
    PetscCall(VecAssemblyEnd(xi));
    PetscCall(McPosteriorParameterToField(post, xi, m));
    PetscCall(VecAXPY(m, -1.0, m0));
    PetscCall(McObsOperatorApply(obs, m, bm));
    PetscCall(VecToGsl(bm, tmp));
    gsl_matrix_set_col(G, j, tmp);
  }
  PetscCall(McObsOperatorApply(obs, m0, bm));
  PetscCall(VecGetArrayRead(d, &da));
  PetscCall(VecGetArrayRead(sig, &sa));
  PetscCall(VecGetArrayRead(bm, &ba));
  /* WG = W G, then b = (WG)^T (d - B m0), H = I + G^T W G. */
  WG = gsl_matrix_alloc(nobs, n);
  for (PetscInt k = 0; k < nobs; k++)
    for (PetscInt j = 0; j < n; j++) {
      double v = 0;
      if (W)
        for (PetscInt l = 0; l < nobs; l++) v += gsl_matrix_get(W, k, l) * gsl_matrix_get(G, l, j);
      else v = gsl_matrix_get(G, k, j) / PetscSqr(PetscRealPart(sa[k]));
      gsl_matrix_set(WG, k, j, v);
    }
  for (PetscInt i = 0; i < n; i++) {
    double bi = 0;
    for (PetscInt k = 0; k < nobs; k++) bi += gsl_matrix_get(WG, k, i) * (PetscRealPart(da[k]) - PetscRealPart(ba[k]));
    gsl_vector_set(b, i, bi);
    bmax = PetscMax(bmax, fabs(bi));
    for (PetscInt j = 0; j < n; j++) {
      double h = i == j ? 1.0 : 0.0;
      for (PetscInt k = 0; k < nobs; k++) h += gsl_matrix_get(G, k, i) * gsl_matrix_get(WG, k, j);
      gsl_matrix_set(H, i, j, h);
      hmax = PetscMax(hmax, fabs(h));
    }
  }
  gsl_matrix_free(WG);
  PetscCall(VecRestoreArrayRead(d, &da));
  PetscCall(VecRestoreArrayRead(sig, &sa));
  PetscCall(VecRestoreArrayRead(bm, &ba));
  /* mean = H^-1 b */
  gsl_matrix_memcpy(Hf, H);
  gsl_linalg_cholesky_decomp1(Hf);
  gsl_linalg_cholesky_solve(Hf, b, mean);

  /* The gradient vanishes at the mean... */
  PetscCall(GslToVec(mean, xi));
  PetscCall(NegLogPostGradient(post, xi, work, g0));
  for (PetscInt i = 0; i < n; i++) gmax = PetscMax(gmax, fabs(gsl_vector_get(g0, i)));
  PetscCall(PetscSNPrintf(what, sizeof(what), "%s: |grad| at the exact posterior mean / |b|", name));
  PetscCall(Expect(what, gmax / bmax, 0.0, 1e-8));
  /* ...and its differences are the columns of H (exact for a quadratic). */
  for (PetscInt j = 0; j < n; j++) {
    PetscCall(GslToVec(mean, xi));
    PetscCall(VecSetValue(xi, j, gsl_vector_get(mean, j) + 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(xi));
    PetscCall(VecAssemblyEnd(xi));
    PetscCall(NegLogPostGradient(post, xi, work, g1));
    for (PetscInt i = 0; i < n; i++) herr = PetscMax(herr, fabs(gsl_vector_get(g1, i) - gsl_vector_get(g0, i) - gsl_matrix_get(H, i, j)));
  }
  PetscCall(PetscSNPrintf(what, sizeof(what), "%s: Hessian from the gradient vs dense H (max error / max |H|)", name));
  PetscCall(Expect(what, herr / hmax, 0.0, 1e-8));

  gsl_matrix_free(G);
  gsl_matrix_free(H);
  gsl_matrix_free(Hf);
  gsl_vector_free(b);
  gsl_vector_free(mean);
  gsl_vector_free(g0);
  gsl_vector_free(g1);
  gsl_vector_free(tmp);
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&work));
  PetscCall(VecDestroy(&m0));
  PetscCall(VecDestroy(&bm));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McMesh        mesh;
  McSpace       space;
  McPriorSpec   spec;
  McPrior       prior;
  McObsOperator obs;
  McPosterior   post;
  Vec           xi, mtrue;
  PetscReal     pts[2 * 36];
  gsl_rng      *rng = gsl_rng_alloc(gsl_rng_mt19937);

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  gsl_rng_set(rng, 99);
  PetscCall(UnitSquare(PETSC_COMM_WORLD, 8, &mesh, &space));
  PetscCall(McPriorSpecDefault(&spec));
  spec.correlation_length = 0.3;
  spec.mean               = 0.3;
  PetscCall(McPriorCreate(space, &spec, &prior));
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      pts[2 * (6 * i + j)]     = (i + 0.5) / 6.0;
      pts[2 * (6 * i + j) + 1] = (j + 0.3) / 6.0;
    }
  PetscCall(McObsOperatorCreate(space, 36, pts, &obs));
  PetscCall(McPosteriorCreate(NULL, obs, prior, &post));
  PetscCall(McPriorCreateVector(prior, &xi));
  PetscCall(VecDuplicate(xi, &mtrue));
  PetscCall(McPriorSampleWhite(prior, rng, xi));
  PetscCall(McPriorUnwhiten(prior, xi, mtrue));
  PetscCall(McPosteriorSynthesize(post, mtrue, 0.05, PETSC_FALSE, rng));
  PetscCall(CheckExact(post, obs, NULL, "nodal"));
  PetscCall(McPriorSetUpKL(prior, 30));
  PetscCall(McPosteriorSetParameterization(post, MC_PARAM_KL));
  PetscCall(CheckExact(post, obs, NULL, "KL (K=30)"));
  PetscCall(McPosteriorDestroy(&post));

  /* A full noise covariance: exponential correlation between the sensors,
   * Gamma_ij = 0.05^2 exp(-|x_i - x_j| / 0.3) + 1e-4 delta_ij. */
  {
    PetscReal  *Gamma;
    gsl_matrix *W = gsl_matrix_alloc(36, 36);
    PetscCall(PetscMalloc1(36 * 36, &Gamma));
    for (int i = 0; i < 36; i++)
      for (int j = 0; j < 36; j++) {
        const double r = hypot(pts[2 * i] - pts[2 * j], pts[2 * i + 1] - pts[2 * j + 1]);
        Gamma[36 * i + j] = 0.0025 * exp(-r / 0.3) + (i == j ? 1e-4 : 0.0);
        gsl_matrix_set(W, i, j, Gamma[36 * i + j]);
      }
    gsl_linalg_cholesky_decomp1(W);
    gsl_linalg_cholesky_invert(W);
    PetscCall(McPosteriorCreate(NULL, obs, prior, &post));
    PetscCall(McPosteriorSetNoiseCovariance(post, 36, Gamma));
    PetscCall(McPosteriorSynthesize(post, mtrue, 0.0, PETSC_FALSE, rng));
    PetscCall(CheckExact(post, obs, W, "nodal, full noise covariance"));
    PetscCall(McPosteriorSetParameterization(post, MC_PARAM_KL));
    PetscCall(CheckExact(post, obs, W, "KL, full noise covariance"));
    gsl_matrix_free(W);
    PetscCall(PetscFree(Gamma));
  }
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&mtrue));
  PetscCall(McPosteriorDestroy(&post));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(McGCCollect(2, NULL));
  gsl_rng_free(rng);
  PetscCall(PetscFinalize());
  return failures != 0;
}
