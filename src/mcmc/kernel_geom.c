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
    PetscCall(McMalloc((size_t)(2 * r) * sizeof(*ref->ce), &ref->ce));
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
  PetscCall(McFree(&ref->ce));
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

PetscErrorCode McGaussRefPsi_Private(McKernel k, const McState *s, PetscReal *psi)
{
  PetscFunctionBeginUser;
  PetscCall(Coefficients(&k->ref, s->xi));
  PetscCall(PsiFromCoefficients(&k->ref, s, psi));
  PetscFunctionReturn(0);
}

/* The arrays of V[i .. i+m) (m <= 4; the missing ones alias V[i] and are
 * used with zero coefficients), or their release. */
static PetscErrorCode BlockArrays(McGaussRef *ref, PetscInt i, PetscInt m, PetscBool get, const PetscScalar *v[4])
{
  PetscFunctionBeginUser;
  for (PetscInt q = 0; q < m; q++) {
    if (get) PetscCall(VecGetArrayRead(ref->V[i + q], &v[q]));
    else PetscCall(VecRestoreArrayRead(ref->V[i + q], &v[q]));
  }
  for (PetscInt q = m; get && q < 4; q++) v[q] = v[0];
  PetscFunctionReturn(0);
}

/* The gradient kernels' per-state work is three projections onto V and
 * three updates with it, each a pass over the r x n basis (the largest
 * array a step reads). With V orthonormal, V^T G = e - lambda c, so
 *   c = V^T (xi - mean), e = V^T (grad Phi + mean),
 *   G = grad Phi + mean - V (lambda c),
 *   P = grad Phi + mean - V (lambda c + lambda/(1+lambda) (e - lambda c))
 * take one pass for both projections and one for both updates, four
 * vectors of V at a time (independent sums, so the loops pipeline). */
PetscErrorCode McGaussRefPsiGradPrec_Private(McKernel k, const McState *s, PetscReal *psi, Vec G, Vec P)
{
  McGaussRef        *ref = &k->ref;
  const PetscInt     r = ref->r;
  PetscReal         *ce = ref->ce;
  PetscInt           n, i = 0;
  const PetscScalar *wa, *v[4];
  PetscScalar       *ga, *pa;
  MPI_Comm           comm = PetscObjectComm((PetscObject)G);

  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(ref->w, -1.0, ref->mean, s->xi));
  PetscCall(VecWAXPY(G, 1.0, s->grad, ref->mean));
  PetscCall(VecGetLocalSize(G, &n));
  PetscCall(VecGetArrayRead(ref->w, &wa));
  PetscCall(VecGetArray(G, &ga));
  for (; i < r; i += 4) {
    const PetscInt m = PetscMin(4, r - i);
    PetscReal      c0 = 0, c1 = 0, c2 = 0, c3 = 0, e0 = 0, e1 = 0, e2 = 0, e3 = 0;
    PetscCall(BlockArrays(ref, i, m, PETSC_TRUE, v));
    for (PetscInt j = 0; j < n; j++) {
      PetscReal w = PetscRealPart(wa[j]), gj = PetscRealPart(ga[j]);
      c0 += v[0][j] * w;
      e0 += v[0][j] * gj;
      c1 += v[1][j] * w;
      e1 += v[1][j] * gj;
      c2 += v[2][j] * w;
      e2 += v[2][j] * gj;
      c3 += v[3][j] * w;
      e3 += v[3][j] * gj;
    }
    {
      const PetscReal cc[4] = {c0, c1, c2, c3}, ee[4] = {e0, e1, e2, e3};
      for (PetscInt q = 0; q < m; q++) {
        ce[i + q] = cc[q];
        ce[r + i + q] = ee[q];
      }
    }
    PetscCall(BlockArrays(ref, i, m, PETSC_FALSE, v));
  }
  PetscCall(VecRestoreArrayRead(ref->w, &wa));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, ce, (PetscMPIInt)(2 * r), MPIU_REAL, MPIU_SUM, comm));
  /* ce[0..r) <- a = lambda c (c kept in ref->c), ce[r..2r) <- b */
  for (PetscInt q = 0; q < r; q++) {
    PetscReal l = ref->lambda[q], a = l * ce[q];
    ref->c[q] = ce[q];
    ce[r + q] = a + l / (1 + l) * (ce[r + q] - a);
    ce[q] = a;
  }
  if (psi) PetscCall(PsiFromCoefficients(ref, s, psi));
  PetscCall(VecCopy(G, P));
  PetscCall(VecGetArray(P, &pa));
  for (i = 0; i < r; i += 4) {
    const PetscInt m = PetscMin(4, r - i);
    PetscReal      a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
    for (PetscInt q = 0; q < m; q++) {
      a[q] = ce[i + q];
      b[q] = ce[r + i + q];
    }
    PetscCall(BlockArrays(ref, i, m, PETSC_TRUE, v));
    for (PetscInt j = 0; j < n; j++) {
      ga[j] -= a[0] * v[0][j] + a[1] * v[1][j] + a[2] * v[2][j] + a[3] * v[3][j];
      pa[j] -= b[0] * v[0][j] + b[1] * v[1][j] + b[2] * v[2][j] + b[3] * v[3][j];
    }
    PetscCall(BlockArrays(ref, i, m, PETSC_FALSE, v));
  }
  PetscCall(VecRestoreArray(P, &pa));
  PetscCall(VecRestoreArray(G, &ga));
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
