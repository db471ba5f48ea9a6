/* The Gaussian reference of the Hessian-informed kernels: N(mean, Sigma),
 * Sigma = I - V diag(lambda/(1+lambda)) V^T, Sigma^-1 = I + V diag(lambda) V^T,
 * Sigma^(1/2) = I - V diag(1 - 1/sqrt(1+lambda)) V^T, all applied in O(n r)
 * with V orthonormal. Writing the posterior as exp(-Psi) times this
 * reference,
 *   Psi(xi) = Phi(xi) + |xi|^2/2 - |xi - mean|^2_{Sigma^-1}/2
 *           = Phi(xi) + <xi, mean> - sum lambda_i <v_i, xi - mean>^2 / 2 + const,
 * which has no differences of size-n squared norms left to cancel; the
 * kernels built on the reference are exact for any Psi and cheap when the
 * reference is good (Psi nearly constant). */
#include "mcmc/mcmc_impl.h"

PetscErrorCode McKernelSetGaussianReference(McKernel k, Vec mean, PetscInt r, const Vec V[], const PetscReal lambda[])
{
  McGaussRef *ref = &k->ref;

  PetscFunctionBeginUser;
  PetscCheck(r >= 1, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "kernel '%s': the Gaussian reference needs rank >= 1, got %d", k->type, (int)r);
  for (PetscInt i = 0; i < r; i++)
    PetscCheck(lambda[i] >= 0, k->target->comm, PETSC_ERR_ARG_OUTOFRANGE,
               "kernel '%s': reference eigenvalue %d is %g, must be >= 0", k->type, (int)i, (double)lambda[i]);
  if (ref->r != r) {
    PetscCall(McGaussRefDestroy_Private(ref));
    PetscCall(VecDuplicate(k->target->tmpl, &ref->mean));
    PetscCall(VecDuplicate(k->target->tmpl, &ref->w));
    PetscCall(VecDuplicateVecs(k->target->tmpl, r, &ref->V));
    PetscCall(McMalloc((size_t)r * sizeof(*ref->lambda), &ref->lambda));
    PetscCall(McMalloc((size_t)r * sizeof(*ref->c), &ref->c));
    PetscCall(McMalloc((size_t)r * sizeof(*ref->c2), &ref->c2));
    ref->r = r;
  }
  ref->stamp++;
  PetscCall(VecCopy(mean, ref->mean));
  for (PetscInt i = 0; i < r; i++) {
    PetscCall(VecCopy(V[i], ref->V[i]));
    ref->lambda[i] = lambda[i];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode McKernelGetGaussianReference(McKernel k, Vec *mean, PetscInt *r, const Vec **V, const PetscReal **lambda)
{
  PetscFunctionBeginUser;
  if (mean) *mean = k->ref.mean;
  if (r) *r = k->ref.r;
  if (V) *V = k->ref.V;
  if (lambda) *lambda = k->ref.lambda;
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefDestroy_Private(McGaussRef *ref)
{
  PetscFunctionBeginUser;
  if (ref->V) PetscCall(VecDestroyVecs(ref->r, &ref->V));
  PetscCall(VecDestroy(&ref->mean));
  PetscCall(VecDestroy(&ref->w));
  PetscCall(McFree(&ref->lambda));
  PetscCall(McFree(&ref->c));
  PetscCall(McFree(&ref->c2));
  ref->r = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefCheck_Private(McKernel k)
{
  PetscFunctionBeginUser;
  PetscCheck(k->ref.r > 0, k->target->comm, PETSC_ERR_ORDER,
             "kernel '%s' needs a Gaussian reference (the Laplace approximation at the MAP point), and none was "
             "given: compute the MAP point and the Laplace approximation first (McKernelSetGaussianReference)",
             k->type);
  PetscFunctionReturn(0);
}

/* ref->c = V^T (xi - mean). */
static PetscErrorCode Coefficients(McGaussRef *ref, Vec xi)
{
  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(ref->w, -1.0, ref->mean, xi));
  PetscCall(VecMDot(ref->w, ref->r, ref->V, ref->c));
  PetscFunctionReturn(0);
}

/* Psi from ref->c (Coefficients at s->xi done). */
static PetscErrorCode PsiFromCoefficients(McGaussRef *ref, const McState *s, PetscReal *psi)
{
  PetscScalar xm;
  PetscReal   q = 0;

  PetscFunctionBeginUser;
  PetscCall(VecDot(s->xi, ref->mean, &xm));
  for (PetscInt i = 0; i < ref->r; i++) q += ref->lambda[i] * PetscSqr(PetscRealPart(ref->c[i]));
  *psi = s->phi + PetscRealPart(xm) - 0.5 * q;
  PetscFunctionReturn(0);
}

/* grad Psi from ref->c (Coefficients at s->xi done). */
static PetscErrorCode GradFromCoefficients(McGaussRef *ref, const McState *s, Vec out)
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < ref->r; i++) ref->c2[i] = -ref->lambda[i] * ref->c[i];
  PetscCall(VecWAXPY(out, 1.0, s->grad, ref->mean));
  PetscCall(VecMAXPY(out, ref->r, ref->c2, ref->V));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefPsi_Private(McKernel k, const McState *s, PetscReal *psi)
{
  PetscFunctionBeginUser;
  PetscCall(Coefficients(&k->ref, s->xi));
  PetscCall(PsiFromCoefficients(&k->ref, s, psi));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefGradPsi_Private(McKernel k, const McState *s, Vec out)
{
  PetscFunctionBeginUser;
  PetscCall(Coefficients(&k->ref, s->xi));
  PetscCall(GradFromCoefficients(&k->ref, s, out));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefPsiGrad_Private(McKernel k, const McState *s, PetscReal *psi, Vec out)
{
  PetscFunctionBeginUser;
  PetscCall(Coefficients(&k->ref, s->xi));
  PetscCall(PsiFromCoefficients(&k->ref, s, psi));
  PetscCall(GradFromCoefficients(&k->ref, s, out));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefApply_Private(McKernel k, Vec x, Vec y, PetscBool sqrt_)
{
  McGaussRef *ref = &k->ref;

  PetscFunctionBeginUser;
  PetscCall(VecMDot(x, ref->r, ref->V, ref->c2));
  for (PetscInt i = 0; i < ref->r; i++) {
    PetscReal l = ref->lambda[i];
    ref->c2[i] *= -(sqrt_ ? 1 - 1 / PetscSqrtReal(1 + l) : l / (1 + l));
  }
  if (x != y) PetscCall(VecCopy(x, y));
  PetscCall(VecMAXPY(y, ref->r, ref->c2, ref->V));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefNormPrec_Private(McKernel k, Vec w, PetscReal *nrm2)
{
  McGaussRef *ref = &k->ref;
  PetscReal   ww;

  PetscFunctionBeginUser;
  PetscCall(VecDot(w, w, &ww));
  PetscCall(VecMDot(w, ref->r, ref->V, ref->c2));
  for (PetscInt i = 0; i < ref->r; i++) ww += ref->lambda[i] * PetscSqr(PetscRealPart(ref->c2[i]));
  *nrm2 = ww;
  PetscFunctionReturn(0);
}
