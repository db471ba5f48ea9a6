/* MAP point and Laplace approximation on the linear-Gaussian problem (the
 * field observed directly, d = B m + e), whose posterior is exactly
 * Gaussian and computed densely with GSL (tests/support/lingauss.c):
 *   H = I + G^T W G (G = B L), mean = H^-1 G^T W (d - B m0), C = H^-1.
 * - Newton-CG's MAP equals the exact posterior mean (1e-8 relative);
 * - at full rank the Laplace covariance equals C (1e-8 relative to max |C|);
 * - the square root squares to the covariance;
 * - rank 0 and a negative threshold are errors. */
#include "../support/lingauss.h"
#include "geomtest.h"


static PetscErrorCode SetUnit(Vec v, PetscInt j)
{
  PetscFunctionBeginUser;
  PetscCall(VecZeroEntries(v));
  PetscCall(VecSetValue(v, j, 1.0, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(v));
  PetscCall(VecAssemblyEnd(v));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McMeshSpec       ms;
  McMesh           mesh;
  McSpace          space;
  McPriorSpec      spec;
  McPrior          prior;
  McObsOperator    obs;
  McPosterior      post;
  McLaplace        lap;
  McMAPOptions     mo;
  McMAPResult      mr;
  McLaplaceOptions lo;
  Vec              xi, mtrue, x, y, y2;
  PetscInt         n, r;
  PetscReal        pts[2 * 36], err = 0, cmax = 0, mnorm = 0;
  McTestLinGauss   lg;
  gsl_matrix      *C;
  gsl_vector      *mean, *tmp;
  gsl_rng         *rng = gsl_rng_alloc(gsl_rng_mt19937);
  PetscErrorCode   ierr;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  gsl_rng_set(rng, 99);
  PetscCall(McMeshSpecDefault(&ms));
  ms.dim = 2;
  ms.cells[0] = ms.cells[1] = 8;
  ms.simplex = PETSC_TRUE;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McMeshGetSpace(mesh, 1, &space));
  PetscCall(McPriorSpecDefault(&spec));
  spec.correlation_length = 0.3;
  spec.mean = 0.3;
  PetscCall(McPriorCreate(space, &spec, &prior));
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      pts[2 * (6 * i + j)] = (i + 0.5) / 6.0;
      pts[2 * (6 * i + j) + 1] = (j + 0.3) / 6.0;
    }
  PetscCall(McObsOperatorCreate(space, 36, pts, &obs));
  PetscCall(McPosteriorCreate(NULL, obs, prior, &post));
  PetscCall(McPriorCreateVector(prior, &xi));
  PetscCall(VecDuplicate(xi, &mtrue));
  PetscCall(VecDuplicate(xi, &x));
  PetscCall(VecDuplicate(xi, &y));
  PetscCall(VecDuplicate(xi, &y2));
  PetscCall(McPriorSampleWhite(prior, rng, xi));
  PetscCall(McPriorUnwhiten(prior, xi, mtrue));
  PetscCall(McPosteriorSynthesize(post, mtrue, 0.05, PETSC_FALSE, rng));
  PetscCall(VecGetSize(xi, &n));
  tmp = gsl_vector_alloc(n);
  PetscCall(McTestLinGaussCreate(post, obs, NULL, &lg));
  C    = lg.C;
  mean = lg.mean;

  /* MAP by Newton-CG from the prior mean. */
  PetscCall(McMAPOptionsDefault(&mo));
  mo.rtol = 1e-13;
  mo.monitor = PETSC_TRUE;
  PetscCall(VecZeroEntries(xi));
  PetscCall(McPosteriorComputeMAP(post, &mo, xi, &mr));
  PetscCall(McTestVecToGsl(xi, tmp));
  err = 0;
  for (PetscInt i = 0; i < n; i++) {
    err = PetscMax(err, PetscAbsReal(gsl_vector_get(tmp, i) - gsl_vector_get(mean, i)));
    mnorm = PetscMax(mnorm, PetscAbsReal(gsl_vector_get(mean, i)));
  }
  CHECK(mr.converged, "MAP converged (%s) in %d Newton / %d CG iterations", mr.reason, (int)mr.iterations, (int)mr.cg_iterations);
  CHECK(err <= 1e-8 * mnorm, "MAP = exact posterior mean: max error %.3e, max |mean| %.3e", (double)err, (double)mnorm);

  /* Full rank: the Laplace covariance is the exact one. */
  PetscCall(McLaplaceOptionsDefault(&lo));
  lo.max_rank = n;
  lo.oversampling = 0;
  lo.power_iterations = 0;
  lo.threshold = 0;
  PetscCall(McLaplaceCreate(post, xi, &lo, &lap));
  err = 0;
  for (PetscInt j = 0; j < n; j++) {
    PetscCall(SetUnit(x, j));
    PetscCall(McLaplaceApplyCovariance(lap, x, y));
    PetscCall(McTestVecToGsl(y, tmp));
    for (PetscInt i = 0; i < n; i++) {
      err = PetscMax(err, PetscAbsReal(gsl_vector_get(tmp, i) - gsl_matrix_get(C, i, j)));
      cmax = PetscMax(cmax, PetscAbsReal(gsl_matrix_get(C, i, j)));
    }
  }
  PetscCall(McLaplaceGetEigenpairs(lap, &r, NULL, NULL));
  CHECK(err <= 1e-8 * cmax, "full-rank (%d) Laplace covariance = exact covariance: max error %.3e, max |C| %.3e", (int)r, (double)err, (double)cmax);
  /* Gamma^(1/2) Gamma^(1/2) = Gamma */
  PetscCall(RandomVec(rng, 1.0, x));
  PetscCall(McLaplaceApplyCovarianceSqrt(lap, x, y));
  PetscCall(McLaplaceApplyCovarianceSqrt(lap, y, y));
  PetscCall(McLaplaceApplyCovariance(lap, x, y2));
  PetscCall(VecAXPY(y, -1.0, y2));
  PetscCall(VecNorm(y, NORM_INFINITY, &err));
  PetscCall(VecNorm(y2, NORM_INFINITY, &cmax));
  CHECK(err <= 1e-12 * cmax, "square root squared = covariance: max error %.3e of %.3e", (double)err, (double)cmax);
  PetscCall(McLaplaceDestroy(&lap));

  /* Bad settings are clear errors. */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  lo.max_rank = 0;
  ierr = McLaplaceCreate(post, xi, &lo, &lap);
  CHECK(ierr == PETSC_ERR_ARG_OUTOFRANGE && !lap, "rank 0 is an error (code %d)", (int)ierr);
  lo.max_rank = 10;
  lo.threshold = -1;
  ierr = McLaplaceCreate(post, xi, &lo, &lap);
  CHECK(ierr == PETSC_ERR_ARG_OUTOFRANGE && !lap, "a negative threshold is an error (code %d)", (int)ierr);
  lo.threshold = 1e12;
  ierr = McLaplaceCreate(post, xi, &lo, &lap);
  CHECK(ierr == PETSC_ERR_ARG_OUTOFRANGE && !lap, "a threshold above every eigenvalue is an error (code %d)",
        (int)ierr);
  PetscCall(PetscPopErrorHandler());

  McTestLinGaussFree(&lg);
  gsl_vector_free(tmp);
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&mtrue));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&y2));
  PetscCall(McPosteriorDestroy(&post));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(McGCCollect(2, NULL));
  gsl_rng_free(rng);
  printf("%d failures\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
