/* The Hessian of the potential Phi in the sampler's coordinates:
 *   Ht v = L^T H_m L v,
 * H_m the misfit Hessian w.r.t. the nodal field (forward model: tangent-
 * linear solve, noise precision, incremental adjoint; directly observed
 * field: B^T Gamma^-1 B), L the prior's square root (nodal or KL). The
 * posterior's Hessian is I + Ht, because the prior is N(0, I) in these
 * coordinates: Ht is the prior-preconditioned misfit Hessian whose
 * eigenpairs give the Laplace approximation. */
#include "model/model_impl.h"

#include <gsl/gsl_blas.h>

PetscErrorCode McPosteriorApplyNoisePrecision_Private(McPosterior p, Vec r, Vec y)
{
  PetscScalar *a;
  PetscInt     lo, hi;

  PetscFunctionBeginUser;
  if (!p->gchol) {
    PetscCall(VecPointwiseMult(y, p->weights, r));
    PetscFunctionReturn(0);
  }
  PetscCall(VecScatterBegin(p->toall, r, p->rall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(p->toall, r, p->rall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArray(p->rall, &a));
  for (size_t i = 0; i < p->grfull->size; i++) gsl_vector_set(p->grfull, i, PetscRealPart(a[i]));
  PetscCall(VecRestoreArray(p->rall, &a));
  PetscCheck(!gsl_linalg_cholesky_solve(p->gchol, p->grfull, p->gzfull), PETSC_COMM_SELF, PETSC_ERR_LIB, "GSL could not apply the noise covariance");
  PetscCall(VecGetOwnershipRange(y, &lo, &hi));
  PetscCall(VecGetArrayWrite(y, &a));
  for (PetscInt i = lo; i < hi; i++) a[i - lo] = gsl_vector_get(p->gzfull, i);
  PetscCall(VecRestoreArrayWrite(y, &a));
  PetscFunctionReturn(0);
}

static PetscErrorCode EnsureWork(McPosterior p)
{
  PetscFunctionBeginUser;
  if (p->hdm) PetscFunctionReturn(0);
  PetscCall(VecDuplicate(p->m, &p->hdm));
  PetscCall(VecDuplicate(p->m, &p->hHm));
  PetscCall(VecDuplicate(p->d, &p->hbdu));
  PetscCall(VecDuplicate(p->d, &p->hwbdu));
  if (p->fw) {
    Vec u;
    PetscCall(McForwardGetState(p->fw, &u));
    PetscCall(VecDuplicate(u, &p->hdu));
    PetscCall(VecDuplicate(u, &p->hrhs));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McPosteriorHessianApply(McPosterior p, McHessianKind kind, Vec v, Vec Hv)
{
  MPI_Comm  comm = PetscObjectComm((PetscObject)p->d);
  PetscBool gn = kind == MC_HESSIAN_GAUSS_NEWTON ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCheck(p->last_ok, comm, PETSC_ERR_ORDER, "a Hessian action needs a successful McPosteriorPotential at the same point first");
  PetscCheck(gn || !p->fw || p->grad_ok, comm, PETSC_ERR_ORDER, "the full Hessian action needs McPosteriorGradient at the same point first (its adjoint)");
  PetscCall(EnsureWork(p));
  if (p->last_near) p->factor_at_anchor = PETSC_FALSE; /* its solves refactorise at this point */
  /* dm = L v: the field map is affine, m0 + L v. */
  PetscCall(McPosteriorParameterToField(p, v, p->hdm));
  PetscCall(VecAXPY(p->hdm, -1.0, p->prior->m0));
  if (p->fw) {
    PetscCall(McForwardTangent(p->fw, p->hdm, p->hdu));
    PetscCall(McObsOperatorApply(p->obs, p->hdu, p->hbdu));
  } else PetscCall(McObsOperatorApply(p->obs, p->hdm, p->hbdu));
  PetscCall(McPosteriorApplyNoisePrecision_Private(p, p->hbdu, p->hwbdu));
  if (p->fw) {
    PetscCall(McObsOperatorApplyTranspose(p->obs, p->hwbdu, p->hrhs));
    PetscCall(McForwardMisfitHessian(p->fw, p->hrhs, gn, p->hHm));
  } else PetscCall(McObsOperatorApplyTranspose(p->obs, p->hwbdu, p->hHm));
  if (p->param == MC_PARAM_KL) PetscCall(McPriorKLApplyLT(p->prior, p->hHm, Hv));
  else PetscCall(McPriorApplyLT(p->prior, p->hHm, Hv));
  PetscFunctionReturn(0);
}
