/* The Hessian action of the potential in whitened coordinates, on a small
 * posterior of the benchmark's kind (P2 state, P1 field, 10 x 10 cells):
 * - symmetric: |<v, H w> - <H v, w>| <= 1e-10 |v| |H w| for random v, w,
 *   Gauss-Newton and full (both are exact discrete derivatives, so only the
 *   direct solves' round-off remains);
 * - second-order Taylor test of the full Hessian against the gradient:
 *   |g(xi + e v) - g(xi) - e H v| = O(e^2), so halving e divides it by ~4,
 *   and the potential's second-order remainder is O(e^3) (divides by ~8);
 * - Gauss-Newton differs from the full Hessian away from the data fit, but
 *   both are positive on the prior-dominated direction checked here;
 * - the randomised double-pass eigenvalues (rank 20, oversampling 10, one
 *   power iteration) equal the leading eigenvalues of the dense Gauss-Newton
 *   Ht (built column by column from Hessian actions, GSL) to 1e-6. */
#include "geomtest.h"

#include <gsl/gsl_eigen.h>

static PetscErrorCode Symmetry(McPosterior post, McHessianKind kind, Vec v, Vec w, Vec hv, Vec hw, const char *name)
{
  PetscScalar a, b;
  PetscReal   nv, nhw;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorHessianApply(post, kind, v, hv));
  PetscCall(McPosteriorHessianApply(post, kind, w, hw));
  PetscCall(VecDot(v, hw, &a));
  PetscCall(VecDot(hv, w, &b));
  PetscCall(VecNorm(v, NORM_2, &nv));
  PetscCall(VecNorm(hw, NORM_2, &nhw));
  CHECK(PetscAbsReal(a - b) <= 1e-10 * nv * nhw, "%s Hessian symmetric: <v,Hw> %.15g, <Hv,w> %.15g, relative %.2e", name,
        (double)a, (double)b, (double)(PetscAbsReal(a - b) / (nv * nhw)));
  PetscFunctionReturn(0);
}

/* Dense Gauss-Newton Ht at xi (last evaluation there) against McLaplace. */
static PetscErrorCode CheckRandomised(McPosterior post, Vec xi, Vec e, Vec he)
{
  PetscInt                   n, r;
  gsl_matrix                *T, *U;
  gsl_vector                *S;
  gsl_eigen_symmv_workspace *ws;
  McLaplaceOptions           lo;
  McLaplace                  lap;
  const PetscReal           *lambda;
  PetscReal                  err = 0;

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(xi, &n));
  T = gsl_matrix_alloc(n, n);
  U = gsl_matrix_alloc(n, n);
  S = gsl_vector_alloc(n);
  ws = gsl_eigen_symmv_alloc(n);
  for (PetscInt j = 0; j < n; j++) {
    const PetscScalar *a;
    PetscCall(VecZeroEntries(e));
    PetscCall(VecSetValue(e, j, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(e));
    PetscCall(VecAssemblyEnd(e));
    PetscCall(McPosteriorHessianApply(post, MC_HESSIAN_GAUSS_NEWTON, e, he));
    PetscCall(VecGetArrayRead(he, &a));
    for (PetscInt i = 0; i < n; i++) gsl_matrix_set(T, i, j, PetscRealPart(a[i]));
    PetscCall(VecRestoreArrayRead(he, &a));
  }
  gsl_eigen_symmv(T, S, U, ws);
  gsl_eigen_symmv_sort(S, U, GSL_EIGEN_SORT_VAL_DESC);
  PetscCall(McLaplaceOptionsDefault(&lo));
  lo.max_rank = 20;
  PetscCall(McLaplaceCreate(post, xi, &lo, &lap));
  PetscCall(McLaplaceGetEigenpairs(lap, &r, &lambda, NULL));
  for (PetscInt i = 0; i < PetscMin(r, 10); i++) err = PetscMax(err, PetscAbsReal(lambda[i] - gsl_vector_get(S, i)) / gsl_vector_get(S, i));
  CHECK(r >= 10 && err <= 1e-6, "rank %d; 10 leading randomised eigenvalues = dense ones: max relative error %.2e (lambda_1 %.6g, lambda_10 %.6g, dense lambda_31 %.3g)", (int)r, (double)err, (double)lambda[0], (double)lambda[9], gsl_vector_get(S, 30));
  PetscCall(McLaplaceDestroy(&lap));
  gsl_eigen_symmv_free(ws);
  gsl_vector_free(S);
  gsl_matrix_free(U);
  gsl_matrix_free(T);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  GeomProblem       g;
  Vec               xi, x1, v, w, hv, hw, g0, g1;
  PetscReal         phi0, phi1, gv, vhv, err_g[4], err_p[4], eps = 0.1;
  McPosteriorStatus st;
  gsl_rng          *rng = gsl_rng_alloc(gsl_rng_mt19937);

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  gsl_rng_set(rng, 11);
  PetscCall(GeomProblemCreate(10, 6, 0.01, &g));
  PetscCall(McPosteriorCreateParameterVector(g.post, &xi));
  PetscCall(VecDuplicate(xi, &x1));
  PetscCall(VecDuplicate(xi, &v));
  PetscCall(VecDuplicate(xi, &w));
  PetscCall(VecDuplicate(xi, &hv));
  PetscCall(VecDuplicate(xi, &hw));
  PetscCall(VecDuplicate(xi, &g0));
  PetscCall(VecDuplicate(xi, &g1));
  PetscCall(RandomVec(rng, 0.5, xi));
  PetscCall(RandomVec(rng, 1.0, v));
  PetscCall(RandomVec(rng, 1.0, w));

  PetscCall(McPosteriorPotential(g.post, xi, &phi0, &st));
  PetscCheck(st == MC_POST_OK, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "evaluation failed");
  PetscCall(McPosteriorGradient(g.post, g0));
  PetscCall(Symmetry(g.post, MC_HESSIAN_GAUSS_NEWTON, v, w, hv, hw, "Gauss-Newton"));
  PetscCall(Symmetry(g.post, MC_HESSIAN_NEWTON, v, w, hv, hw, "full"));

  /* Taylor test along v with the full Hessian (hv = H v at xi). */
  PetscCall(McPosteriorHessianApply(g.post, MC_HESSIAN_NEWTON, v, hv));
  PetscCall(VecDot(g0, v, &gv));
  PetscCall(VecDot(v, hv, &vhv));
  for (int k = 0; k < 4; k++, eps /= 2) {
    PetscCall(VecWAXPY(x1, eps, v, xi));
    PetscCall(McPosteriorPotential(g.post, x1, &phi1, &st));
    PetscCheck(st == MC_POST_OK, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "evaluation failed");
    PetscCall(McPosteriorGradient(g.post, g1));
    PetscCall(VecAXPY(g1, -1.0, g0));
    PetscCall(VecAXPY(g1, -eps, hv));
    PetscCall(VecNorm(g1, NORM_2, &err_g[k]));
    err_p[k] = PetscAbsReal(phi1 - phi0 - eps * gv - 0.5 * eps * eps * vhv);
    printf("     eps %.4g: gradient remainder %.4e, potential remainder %.4e\n", (double)eps, (double)err_g[k],
           (double)err_p[k]);
  }
  for (int k = 1; k < 4; k++) {
    PetscReal rg = err_g[k - 1] / err_g[k], rp = err_p[k - 1] / err_p[k];
    CHECK(rg > 3.2 && rg < 4.8, "gradient remainder ratio %.3f at halving %d (second order: 4)", (double)rg, k);
    CHECK(rp > 6.4 && rp < 9.6, "potential remainder ratio %.3f at halving %d (third order: 8)", (double)rp, k);
  }

  /* The Gauss-Newton Hessian is positive semi-definite everywhere. */
  PetscCall(McPosteriorPotential(g.post, xi, &phi0, &st));
  PetscCall(McPosteriorGradient(g.post, g0));
  PetscCall(McPosteriorHessianApply(g.post, MC_HESSIAN_GAUSS_NEWTON, v, hv));
  PetscCall(VecDot(v, hv, &vhv));
  CHECK(vhv >= 0, "Gauss-Newton curvature v^T H v = %.6g >= 0", (double)vhv);

  PetscCall(CheckRandomised(g.post, xi, v, hv));

  /* The flux QoI: with u = y exactly representable and m constant, the flux
   * through the bottom is -exp(m) per unit length: log |flux| = m. */
  {
    McQoISpec q;
    PetscReal val;
    PetscCall(PetscMemzero(&q, sizeof(q)));
    PetscCall(PetscStrncpy(q.name, "log_flux", sizeof(q.name)));
    q.kind = MC_QOI_LOG_FLUX;
    q.axis = 1;
    q.side = 0;
    q.upper[0] = q.upper[1] = 1;
    PetscCall(McPosteriorAddQoI(g.post, &q));
    PetscCall(VecZeroEntries(xi));
    PetscCall(McPosteriorPotential(g.post, xi, &phi0, &st));
    PetscCall(McPosteriorEvaluateQoI(g.post, &val));
    CHECK(PetscAbsReal(val) < 1e-10, "log flux through the bottom at m = 0: %.3e (exact 0)", (double)val);
    PetscCall(RandomVec(rng, 1.0, xi));
    PetscCall(McPosteriorPotential(g.post, xi, &phi0, &st));
    PetscCall(McPosteriorEvaluateQoI(g.post, &val));
    CHECK(PetscIsNormalReal(val) && PetscAbsReal(val) < 5, "log flux at a prior draw: %.6g (finite)", (double)val);
  }

  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&x1));
  PetscCall(VecDestroy(&v));
  PetscCall(VecDestroy(&w));
  PetscCall(VecDestroy(&hv));
  PetscCall(VecDestroy(&hw));
  PetscCall(VecDestroy(&g0));
  PetscCall(VecDestroy(&g1));
  PetscCall(GeomProblemDestroy(&g));
  gsl_rng_free(rng);
  printf("%d failures\n", failures);
  PetscCall(PetscFinalize());
  return failures != 0;
}
