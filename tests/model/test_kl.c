/* Karhunen-Loeve modes of the prior against the dense covariance on a small
 * mesh: Ml-orthonormal modes, eigen-residuals, the reconstruction error
 * ||Ml^(1/2) (C - C_K) Ml^(1/2)||_F equal to what the spectrum says and
 * shrinking to zero as K grows, and the adjoint pair unwhiten / L^T. */
#include "modeltest.h"
#include "obj/obj.h"

#include <gsl/gsl_matrix.h>
#include <math.h>

/* Dense P = Ml^(1/2) C Ml^(1/2) = S^2, S x = Ml^(1/2) A^-1 Ml^(1/2) x = L^T (Ml^(1/2) x). */
static PetscErrorCode DenseCovariance(McPrior prior, gsl_matrix *P)
{
  Vec          ml, x, y, z;
  PetscInt     n;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(McPriorGetOperators(prior, NULL, NULL, &ml));
  PetscCall(VecGetSize(ml, &n));
  PetscCall(VecDuplicate(ml, &x));
  PetscCall(VecDuplicate(ml, &y));
  PetscCall(VecDuplicate(ml, &z));
  PetscCall(VecCopy(ml, z));
  PetscCall(VecSqrtAbs(z));
  for (PetscInt j = 0; j < n; j++) {
    PetscCall(VecZeroEntries(x));
    PetscCall(VecSetValue(x, j, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
    for (int twice = 0; twice < 2; twice++) {
      PetscCall(VecPointwiseMult(x, x, z));
      PetscCall(McPriorApplyLT(prior, x, y));
      PetscCall(VecCopy(y, x));
    }
    PetscCall(VecGetArray(x, &a));
    for (PetscInt i = 0; i < n; i++) gsl_matrix_set(P, i, j, PetscRealPart(a[i]));
    PetscCall(VecRestoreArray(x, &a));
  }
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(VecDestroy(&z));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  McMesh            mesh;
  McSpace           space;
  McPriorSpec       spec;
  McPrior           prior;
  Mat               modes;
  Vec               ml, col, colj, m0v, eta, g, lg, m;
  const PetscReal  *s;
  PetscInt          n, K;
  gsl_matrix       *P, *Phi;
  double            worst = 0, frob2 = 0;
  const PetscInt    Ks[] = {5, 20, 60, 120};
  double            errs[4];

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(UnitSquare(PETSC_COMM_WORLD, 10, &mesh, &space));
  PetscCall(McPriorSpecDefault(&spec));
  spec.correlation_length = 0.3;
  spec.mean               = 0.25;
  PetscCall(McPriorCreate(space, &spec, &prior));
  PetscCall(McPriorGetOperators(prior, NULL, NULL, &ml));
  PetscCall(VecGetSize(ml, &n));
  PetscCall(Expect("parameter dofs of a 10x10 triangle mesh", n, 121, 0));
  PetscCall(McPriorSetUpKL(prior, n - 1));
  PetscCall(McPriorGetKL(prior, &K, &s, &modes));

  /* Ml-orthonormality of the modes. */
  PetscCall(VecDuplicate(ml, &colj));
  for (PetscInt i = 0; i < K; i++) {
    PetscCall(MatDenseGetColumnVecRead(modes, i, &col));
    PetscCall(VecPointwiseMult(colj, col, ml));
    PetscCall(MatDenseRestoreColumnVecRead(modes, i, &col));
    for (PetscInt j = 0; j < K; j += 7) {
      PetscScalar d;
      PetscCall(MatDenseGetColumnVecRead(modes, j, &col));
      PetscCall(VecDot(colj, col, &d));
      PetscCall(MatDenseRestoreColumnVecRead(modes, j, &col));
      worst = PetscMax(worst, PetscAbsScalar(d - (i == j ? 1.0 : 0.0)));
    }
  }
  PetscCall(Expect("max |phi_i^T Ml phi_j - delta_ij|", worst, 0.0, 1e-10));
  for (PetscInt k = 1; k < K; k++)
    if (s[k] > s[k - 1]) {
      PetscCall(Expect("standard deviations in decreasing order", s[k], s[k - 1], 0));
      break;
    }

  /* Reconstruction: with Q = Ml^(1/2) Phi (orthonormal columns),
   * ||P - Q diag(s^2) Q^T||_F^2 = ||P||_F^2 - sum_{k<K} s_k^4. */
  P   = gsl_matrix_alloc(n, n);
  Phi = gsl_matrix_alloc(n, K);
  PetscCall(DenseCovariance(prior, P));
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) frob2 += gsl_matrix_get(P, i, j) * gsl_matrix_get(P, i, j);
  {
    const PetscScalar *a, *w;
    PetscCall(VecGetArrayRead(ml, &w));
    for (PetscInt k = 0; k < K; k++) {
      PetscCall(MatDenseGetColumnVecRead(modes, k, &col));
      PetscCall(VecGetArrayRead(col, &a));
      for (PetscInt i = 0; i < n; i++) gsl_matrix_set(Phi, i, k, sqrt(PetscRealPart(w[i])) * PetscRealPart(a[i]));
      PetscCall(VecRestoreArrayRead(col, &a));
      PetscCall(MatDenseRestoreColumnVecRead(modes, k, &col));
    }
    PetscCall(VecRestoreArrayRead(ml, &w));
  }
  for (int t = 0; t < 4; t++) {
    double e2 = 0, spec2 = frob2;
    for (PetscInt k = 0; k < Ks[t]; k++) spec2 -= pow(s[k], 4);
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        double v = gsl_matrix_get(P, i, j);
        for (PetscInt k = 0; k < Ks[t]; k++) v -= s[k] * s[k] * gsl_matrix_get(Phi, i, k) * gsl_matrix_get(Phi, j, k);
        e2 += v * v;
      }
    errs[t] = sqrt(e2);
    {
      char what[96];
      PetscCall(PetscSNPrintf(what, sizeof(what), "K=%d: reconstruction error^2 = ||P||^2 - sum s^4 (relative to ||P||^2)", (int)Ks[t]));
      PetscCall(Expect(what, (e2 - spec2) / frob2, 0.0, 1e-9));
    }
    if (t > 0 && !(errs[t] < errs[t - 1])) PetscCall(Expect("reconstruction error decreases with K", errs[t], errs[t - 1], 0));
  }
  /* With K = n-1 what is left is the one missing eigenvalue of P, no larger
   * than the smallest one computed. */
  if (!(errs[3] <= s[K - 1] * s[K - 1])) PetscCall(Expect("K=n-1: error <= smallest computed eigenvalue of P", errs[3], s[K - 1] * s[K - 1], 0));
  else PetscCall(Expect("K=n-1: error is one eigenvalue of P, below s_{n-1}^2", errs[3] / (s[K - 1] * s[K - 1]), 0.5, 0.5));

  /* <KLUnwhiten(eta) - m0, g> = <eta, KLApplyLT(g)>. */
  PetscCall(McPriorCreateKLVector(prior, &eta));
  PetscCall(VecDuplicate(eta, &lg));
  PetscCall(VecDuplicate(ml, &g));
  PetscCall(VecDuplicate(ml, &m));
  PetscCall(VecDuplicate(ml, &m0v));
  PetscCall(VecSetRandom(eta, NULL));
  PetscCall(VecSetRandom(g, NULL));
  PetscCall(McPriorKLUnwhiten(prior, eta, m));
  PetscCall(VecSet(m0v, 0.25));
  PetscCall(VecAXPY(m, -1.0, m0v));
  PetscCall(McPriorKLApplyLT(prior, g, lg));
  {
    PetscScalar a, b;
    PetscCall(VecDot(m, g, &a));
    PetscCall(VecDot(eta, lg, &b));
    PetscCall(Expect("<L_K eta, g> - <eta, L_K^T g> (relative)", PetscAbsScalar(a - b) / PetscAbsScalar(a), 0.0, 1e-12));
  }
  gsl_matrix_free(P);
  gsl_matrix_free(Phi);
  PetscCall(VecDestroy(&colj));
  PetscCall(VecDestroy(&eta));
  PetscCall(VecDestroy(&lg));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&m0v));
  PetscCall(McPriorDestroy(&prior));
  PetscCall(McMeshDestroy(&mesh));
  PetscCall(McGCCollect(2, NULL));
  PetscCall(PetscFinalize());
  return failures != 0;
}
