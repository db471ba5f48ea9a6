#include "lingauss.h"

#include <gsl/gsl_linalg.h>

PetscErrorCode McTestVecToGsl(Vec v, gsl_vector *g)
{
  const PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayRead(v, &a));
  for (size_t i = 0; i < g->size; i++) gsl_vector_set(g, i, PetscRealPart(a[i]));
  PetscCall(VecRestoreArrayRead(v, &a));
  PetscFunctionReturn(0);
}

PetscErrorCode McTestGslToVec(const gsl_vector *g, Vec v)
{
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(VecGetArrayWrite(v, &a));
  for (size_t i = 0; i < g->size; i++) a[i] = gsl_vector_get(g, i);
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}

/* G e_j = B (field(e_j) - field(0)); bm0 = B field(0). */
static PetscErrorCode ForwardMatrix(McPosterior post, McObsOperator obs, gsl_matrix *G, Vec bm0)
{
  Vec         xi, m, m0;
  gsl_vector *col = gsl_vector_alloc(G->size1);

  PetscFunctionBeginUser;
  PetscCall(McPosteriorCreateParameterVector(post, &xi));
  PetscCall(McPosteriorGetField(post, &m)); /* the posterior's work field, free between evaluations */
  PetscCall(VecDuplicate(m, &m0));
  PetscCall(VecZeroEntries(xi));
  PetscCall(McPosteriorParameterToField(post, xi, m0));
  for (size_t j = 0; j < G->size2; j++) {
    PetscCall(VecZeroEntries(xi));
    PetscCall(VecSetValue(xi, (PetscInt)j, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(xi));
    PetscCall(VecAssemblyEnd(xi));
    PetscCall(McPosteriorParameterToField(post, xi, m));
    PetscCall(VecAXPY(m, -1.0, m0));
    PetscCall(McObsOperatorApply(obs, m, bm0));
    PetscCall(McTestVecToGsl(bm0, col));
    gsl_matrix_set_col(G, j, col);
  }
  PetscCall(McObsOperatorApply(obs, m0, bm0));
  gsl_vector_free(col);
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&m0));
  PetscFunctionReturn(0);
}

PetscErrorCode McTestLinGaussCreate(McPosterior post, McObsOperator obs, const gsl_matrix *W, McTestLinGauss *lg)
{
  Vec                xi, d, sig, bm0;
  const PetscScalar *da, *sa, *ba;
  gsl_matrix        *G, *WG;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorCreateParameterVector(post, &xi));
  PetscCall(VecGetSize(xi, &lg->n));
  PetscCall(VecDestroy(&xi));
  PetscCall(McPosteriorGetData(post, &d, &sig, NULL));
  PetscCall(VecGetSize(d, &lg->nobs));
  PetscCall(VecDuplicate(d, &bm0));
  G        = gsl_matrix_alloc(lg->nobs, lg->n);
  WG       = gsl_matrix_alloc(lg->nobs, lg->n);
  lg->H    = gsl_matrix_alloc(lg->n, lg->n);
  lg->C    = gsl_matrix_alloc(lg->n, lg->n);
  lg->b    = gsl_vector_alloc(lg->n);
  lg->mean = gsl_vector_alloc(lg->n);
  PetscCall(ForwardMatrix(post, obs, G, bm0));

  PetscCall(VecGetArrayRead(d, &da));
  PetscCall(VecGetArrayRead(sig, &sa));
  PetscCall(VecGetArrayRead(bm0, &ba));
  for (PetscInt k = 0; k < lg->nobs; k++)
    for (PetscInt j = 0; j < lg->n; j++) {
      double v = 0;
      if (W)
        for (PetscInt l = 0; l < lg->nobs; l++) v += gsl_matrix_get(W, k, l) * gsl_matrix_get(G, l, j);
      else v = gsl_matrix_get(G, k, j) / PetscSqr(PetscRealPart(sa[k]));
      gsl_matrix_set(WG, k, j, v);
    }
  for (PetscInt i = 0; i < lg->n; i++) {
    double bi = 0;
    for (PetscInt k = 0; k < lg->nobs; k++) bi += gsl_matrix_get(WG, k, i) * (PetscRealPart(da[k]) - PetscRealPart(ba[k]));
    gsl_vector_set(lg->b, i, bi);
    for (PetscInt j = 0; j < lg->n; j++) {
      double h = i == j ? 1.0 : 0.0;
      for (PetscInt k = 0; k < lg->nobs; k++) h += gsl_matrix_get(G, k, i) * gsl_matrix_get(WG, k, j);
      gsl_matrix_set(lg->H, i, j, h);
    }
  }
  PetscCall(VecRestoreArrayRead(d, &da));
  PetscCall(VecRestoreArrayRead(sig, &sa));
  PetscCall(VecRestoreArrayRead(bm0, &ba));

  gsl_matrix_memcpy(lg->C, lg->H);
  PetscCheck(!gsl_linalg_cholesky_decomp1(lg->C), PETSC_COMM_SELF, PETSC_ERR_LIB, "dense posterior: H is not positive definite");
  gsl_linalg_cholesky_solve(lg->C, lg->b, lg->mean);
  gsl_linalg_cholesky_invert(lg->C);
  gsl_matrix_free(G);
  gsl_matrix_free(WG);
  PetscCall(VecDestroy(&bm0));
  PetscFunctionReturn(0);
}

void McTestLinGaussFree(McTestLinGauss *lg)
{
  gsl_matrix_free(lg->H);
  gsl_matrix_free(lg->C);
  gsl_vector_free(lg->b);
  gsl_vector_free(lg->mean);
  lg->H = lg->C = NULL;
  lg->b = lg->mean = NULL;
}
