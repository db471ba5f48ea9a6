/* Linear-Gaussian exactness: the field observed directly (d = B m + e) makes
 * the posterior in whitened coordinates exactly Gaussian,
 *   Phi(xi) + |xi|^2/2 = 0.5 xi^T H xi - b^T xi + const,
 *   H = I + G^T W G,  b = G^T W (d - B m0),  G = B L,
 * computed densely with GSL (tests/support/lingauss.c). Our log density and gradient must imply
 * the same minimiser (the posterior mean) and Hessian (the inverse
 * posterior covariance) to 1e-8, in both parameterisations (nodal and KL). */
#include "../support/lingauss.h"
#include "modeltest.h"
#include "obj/obj.h"

#include <gsl/gsl_linalg.h>
#include <gsl/gsl_rng.h>
#include <math.h>

/* grad of Phi(xi) + |xi|^2/2 into out. */
static PetscErrorCode NegLogPostGradient(McPosterior post, Vec xi, Vec work, gsl_vector *out)
{
  PetscReal         phi;
  McPosteriorStatus st;
  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential(post, xi, &phi, &st));
  PetscCall(McPosteriorGradient(post, work));
  PetscCall(VecAXPY(work, 1.0, xi));
  PetscCall(McTestVecToGsl(work, out));
  PetscFunctionReturn(0);
}

/* W: the noise precision, dense; NULL for the diagonal 1/sigma^2. */
static PetscErrorCode CheckExact(McPosterior post, McObsOperator obs, const gsl_matrix *W, const char *name)
{
  McTestLinGauss lg;
  Vec            xi, work;
  gsl_vector    *g0, *g1;
  double         hmax = 0, herr = 0, gmax = 0, bmax = 0;
  char           what[128];

  PetscFunctionBeginUser;
  PetscCall(McTestLinGaussCreate(post, obs, W, &lg));
  PetscCall(McPosteriorCreateParameterVector(post, &xi));
  PetscCall(VecDuplicate(xi, &work));
  g0 = gsl_vector_alloc(lg.n);
  g1 = gsl_vector_alloc(lg.n);
  for (PetscInt i = 0; i < lg.n; i++) {
    bmax = PetscMax(bmax, fabs(gsl_vector_get(lg.b, i)));
    for (PetscInt j = 0; j < lg.n; j++) hmax = PetscMax(hmax, fabs(gsl_matrix_get(lg.H, i, j)));
  }

  /* The gradient vanishes at the mean... */
  PetscCall(McTestGslToVec(lg.mean, xi));
  PetscCall(NegLogPostGradient(post, xi, work, g0));
  for (PetscInt i = 0; i < lg.n; i++) gmax = PetscMax(gmax, fabs(gsl_vector_get(g0, i)));
  PetscCall(PetscSNPrintf(what, sizeof(what), "%s: |grad| at the exact posterior mean / |b|", name));
  PetscCall(Expect(what, gmax / bmax, 0.0, 1e-8));
  /* ...and its differences are the columns of H (exact for a quadratic). */
  for (PetscInt j = 0; j < lg.n; j++) {
    PetscCall(McTestGslToVec(lg.mean, xi));
    PetscCall(VecSetValue(xi, j, gsl_vector_get(lg.mean, j) + 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(xi));
    PetscCall(VecAssemblyEnd(xi));
    PetscCall(NegLogPostGradient(post, xi, work, g1));
    for (PetscInt i = 0; i < lg.n; i++) herr = PetscMax(herr, fabs(gsl_vector_get(g1, i) - gsl_vector_get(g0, i) - gsl_matrix_get(lg.H, i, j)));
  }
  PetscCall(PetscSNPrintf(what, sizeof(what), "%s: Hessian from the gradient vs dense H (max error / max |H|)", name));
  PetscCall(Expect(what, herr / hmax, 0.0, 1e-8));

  gsl_vector_free(g0);
  gsl_vector_free(g1);
  McTestLinGaussFree(&lg);
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&work));
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
