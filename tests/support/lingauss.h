/* The dense exact posterior of the linear-Gaussian field problem that the
 * model, geom and mcmc tests check against: the field observed directly
 * (d = B m + e, a posterior made with McPosteriorCreate(NULL, obs, ...)),
 * in the posterior's current parameter coordinates xi (whitened nodal or
 * KL), where the posterior is exactly Gaussian:
 *   G = B (field(e_j) - field(0)),  H = I + G^T W G,  b = G^T W (d - B m0),
 *   mean = H^-1 b,  C = H^-1,
 * W the noise precision (NULL: the diagonal 1/sigma_k^2). Computed densely
 * with GSL, column by column through the posterior's own maps, so it
 * shares no code with what it checks beyond ParameterToField and B. */
#pragma once

#include "model/model.h"

#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

typedef struct {
  PetscInt    n, nobs;
  gsl_matrix *H;    /* n x n, the inverse posterior covariance */
  gsl_vector *b;    /* n */
  gsl_vector *mean; /* n, H^-1 b */
  gsl_matrix *C;    /* n x n, H^-1 */
} McTestLinGauss;

/* Fills lg (its arrays are allocated here; release with McTestLinGaussFree). */
PetscErrorCode McTestLinGaussCreate(McPosterior post, McObsOperator obs, const gsl_matrix *W, McTestLinGauss *lg);
void           McTestLinGaussFree(McTestLinGauss *lg);

/* Copies between a sequential Vec and a GSL vector of the same length. */
PetscErrorCode McTestVecToGsl(Vec v, gsl_vector *g);
PetscErrorCode McTestGslToVec(const gsl_vector *g, Vec v);
