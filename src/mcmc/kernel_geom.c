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

#include <string.h>

#if defined(PETSC_USE_COMPLEX)
#error "the Gaussian reference is written for real scalars"
#endif

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

/* The arrays of V[i .. i+m) (m <= 4; the missing ones alias V[i] and are
 * used with zero coefficients), or their release. */
static PetscErrorCode BlockArrays(McGaussRef *ref, PetscInt i, PetscInt m, PetscBool get, const PetscScalar *v[4])
{
  PetscFunctionBeginUser;
  for (PetscInt q = 0; q < m; q++) {
    if (get)
      PetscCall(VecGetArrayRead(ref->V[i + q], &v[q]));
    else
      PetscCall(VecRestoreArrayRead(ref->V[i + q], &v[q]));
  }
  for (PetscInt q = m; get && q < 4; q++)
    v[q] = v[0];
  PetscFunctionReturn(0);
}

/* The dense kernels below are the passes over the r x n basis V, the
 * largest array a step reads (1.7 MB on the benchmark). Sums run in four
 * lanes over j, so they vectorise; they are compiled for x86-64's baseline
 * and for AVX2 (chosen at load time by the CPU), without FMA, and the lanes
 * are the same in both, so both give the same bits. */
typedef double McV4 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MC_CLONES
#endif

/* by pointer: a 32-byte vector passed by value changes the ABI without AVX,
 * which clang (no target clones) reports as an error under -Werror */
static inline __attribute__((always_inline)) PetscReal LaneSum(const McV4 *s)
{
  return ((*s)[0] + (*s)[1]) + ((*s)[2] + (*s)[3]);
}

/* out[q][b] = <v[b], x[q]> over this rank's n entries, q < NX */
static inline __attribute__((always_inline)) void DotsN(PetscInt NX, PetscInt n, const PetscScalar *const v[4],
                                                        const PetscScalar *const x[2], PetscReal out[2][4])
{
  McV4     s[2][4] = {{{0}}};
  PetscInt j = 0;
  for (; j + 4 <= n; j += 4) {
    McV4 xq[2];
    for (PetscInt q = 0; q < NX; q++)
      memcpy(&xq[q], x[q] + j, sizeof(McV4));
    for (PetscInt b = 0; b < 4; b++) {
      McV4 vb;
      memcpy(&vb, v[b] + j, sizeof(McV4));
      for (PetscInt q = 0; q < NX; q++)
        s[q][b] += vb * xq[q];
    }
  }
  for (PetscInt q = 0; q < NX; q++)
    for (PetscInt b = 0; b < 4; b++) {
      PetscReal t = 0;
      for (PetscInt jj = j; jj < n; jj++)
        t += v[b][jj] * x[q][jj];
      out[q][b] = LaneSum(&s[q][b]) + t;
    }
}

MC_CLONES static void Dots(PetscInt nx, PetscInt n, const PetscScalar *const v[4], const PetscScalar *const x[2],
                           PetscReal out[2][4])
{
  if (nx == 1)
    DotsN(1, n, v, x, out);
  else
    DotsN(2, n, v, x, out);
}

/* y[q] -= sum_b a[q][b] v[b], q < NX: each v[b][j] read once for both
 * (restrict: the y are work vectors, never a column of V, and without it
 * the loop stays scalar) */
static inline __attribute__((always_inline)) void UpdatesN(PetscInt NX, PetscInt n, const PetscScalar *const v[4],
                                                           const PetscReal a[2][4], PetscScalar *const y[2])
{
  const PetscScalar *restrict v0 = v[0], *restrict v1 = v[1], *restrict v2 = v[2], *restrict v3 = v[3];
  PetscScalar *restrict y0 = y[0], *restrict y1 = y[1];
  const PetscReal a00 = a[0][0], a01 = a[0][1], a02 = a[0][2], a03 = a[0][3];
  const PetscReal a10 = a[1][0], a11 = a[1][1], a12 = a[1][2], a13 = a[1][3];
  if (NX == 1) {
    for (PetscInt j = 0; j < n; j++)
      y0[j] -= a00 * v0[j] + a01 * v1[j] + a02 * v2[j] + a03 * v3[j];
  } else {
    for (PetscInt j = 0; j < n; j++) {
      y0[j] -= a00 * v0[j] + a01 * v1[j] + a02 * v2[j] + a03 * v3[j];
      y1[j] -= a10 * v0[j] + a11 * v1[j] + a12 * v2[j] + a13 * v3[j];
    }
  }
}

MC_CLONES static void Updates(PetscInt nx, PetscInt n, const PetscScalar *const v[4], const PetscReal a[2][4],
                              PetscScalar *const y[2])
{
  if (nx == 1)
    UpdatesN(1, n, v, a, y);
  else
    UpdatesN(2, n, v, a, y);
}

/* out[q*r + i] = <V[i], x[q]> for q < nx, in one pass over V */
static PetscErrorCode Project(McGaussRef *ref, PetscInt nx, Vec x0, Vec x1, PetscReal *out)
{
  const PetscInt     r = ref->r;
  PetscInt           n;
  const PetscScalar *x[2] = {NULL, NULL}, *v[4];
  Vec                xv[2] = {x0, x1};

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(x0, &n));
  for (PetscInt q = 0; q < nx; q++)
    PetscCall(VecGetArrayRead(xv[q], &x[q]));
  if (nx == 1) x[1] = x[0];
  for (PetscInt i = 0; i < r; i += 4) {
    const PetscInt m = PetscMin(4, r - i);
    PetscReal      o[2][4];
    PetscCall(BlockArrays(ref, i, m, PETSC_TRUE, v));
    Dots(nx, n, v, x, o);
    PetscCall(BlockArrays(ref, i, m, PETSC_FALSE, v));
    for (PetscInt q = 0; q < nx; q++)
      for (PetscInt b = 0; b < m; b++)
        out[q * r + i + b] = o[q][b];
  }
  for (PetscInt q = 0; q < nx; q++)
    PetscCall(VecRestoreArrayRead(xv[q], &x[q]));
  PetscCall(
      MPIU_Allreduce(MPI_IN_PLACE, out, (PetscMPIInt)(nx * r), MPIU_REAL, MPIU_SUM, PetscObjectComm((PetscObject)x0)));
  PetscFunctionReturn(0);
}

/* y_q -= V a[q*r ..], q < nx, in one pass over V */
static PetscErrorCode Combine(McGaussRef *ref, PetscInt nx, const PetscReal *a, Vec y0, Vec y1)
{
  const PetscInt     r = ref->r;
  PetscInt           n;
  PetscScalar       *y[2] = {NULL, NULL};
  const PetscScalar *v[4];
  Vec                yv[2] = {y0, y1};

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(y0, &n));
  for (PetscInt q = 0; q < nx; q++)
    PetscCall(VecGetArray(yv[q], &y[q]));
  for (PetscInt i = 0; i < r; i += 4) {
    const PetscInt m = PetscMin(4, r - i);
    PetscReal      c[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    for (PetscInt q = 0; q < nx; q++)
      for (PetscInt b = 0; b < m; b++)
        c[q][b] = a[q * r + i + b];
    PetscCall(BlockArrays(ref, i, m, PETSC_TRUE, v));
    Updates(nx, n, v, c, y);
    PetscCall(BlockArrays(ref, i, m, PETSC_FALSE, v));
  }
  for (PetscInt q = 0; q < nx; q++)
    PetscCall(VecRestoreArray(yv[q], &y[q]));
  PetscFunctionReturn(0);
}

/* ref->c = V^T (xi - mean). */
static PetscErrorCode Coefficients(McGaussRef *ref, Vec xi)
{
  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(ref->w, -1.0, ref->mean, xi));
  PetscCall(Project(ref, 1, ref->w, NULL, ref->c));
  PetscFunctionReturn(0);
}

/* Psi from ref->c (Coefficients at s->xi done). */
static PetscErrorCode PsiFromCoefficients(McGaussRef *ref, const McState *s, PetscReal *psi)
{
  PetscScalar xm;
  PetscReal   q = 0;

  PetscFunctionBeginUser;
  PetscCall(VecDot(s->xi, ref->mean, &xm));
  for (PetscInt i = 0; i < ref->r; i++)
    q += ref->lambda[i] * PetscSqr(PetscRealPart(ref->c[i]));
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

/* The gradient kernels' per-state work is three projections onto V and
 * three updates with it. With V orthonormal, V^T G = e - lambda c, so
 *   c = V^T (xi - mean), e = V^T (grad Phi + mean),
 *   G = grad Phi + mean - V (lambda c),
 *   P = grad Phi + mean - V (lambda c + lambda/(1+lambda) (e - lambda c))
 * take one pass for both projections and one for both updates. */
PetscErrorCode McGaussRefPsiGradPrec_Private(McKernel k, const McState *s, PetscReal *psi, Vec G, Vec P)
{
  McGaussRef    *ref = &k->ref;
  const PetscInt r = ref->r;
  PetscReal     *ce = ref->ce;

  PetscFunctionBeginUser;
  PetscCall(VecWAXPY(ref->w, -1.0, ref->mean, s->xi));
  PetscCall(VecWAXPY(G, 1.0, s->grad, ref->mean));
  PetscCall(Project(ref, 2, ref->w, G, ce));
  /* ce[0..r) <- a = lambda c (c kept in ref->c), ce[r..2r) <- b */
  for (PetscInt q = 0; q < r; q++) {
    PetscReal l = ref->lambda[q], a = l * ce[q];
    ref->c[q] = ce[q];
    ce[r + q] = a + l / (1 + l) * (ce[r + q] - a);
    ce[q] = a;
  }
  if (psi) PetscCall(PsiFromCoefficients(ref, s, psi));
  PetscCall(VecCopy(G, P));
  PetscCall(Combine(ref, 2, ce, G, P));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefApply_Private(McKernel k, Vec x, Vec y, PetscBool sqrt_)
{
  McGaussRef *ref = &k->ref;

  PetscFunctionBeginUser;
  PetscCall(Project(ref, 1, x, NULL, ref->c2));
  for (PetscInt i = 0; i < ref->r; i++) {
    PetscReal l = ref->lambda[i];
    ref->c2[i] *= sqrt_ ? 1 - 1 / PetscSqrtReal(1 + l) : l / (1 + l);
  }
  if (x != y) PetscCall(VecCopy(x, y));
  PetscCall(Combine(ref, 1, ref->c2, y, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode McGaussRefNormPrec_Private(McKernel k, Vec w, PetscReal *nrm2)
{
  McGaussRef *ref = &k->ref;
  PetscReal   ww;

  PetscFunctionBeginUser;
  PetscCall(VecDot(w, w, &ww));
  PetscCall(Project(ref, 1, w, NULL, ref->c2));
  for (PetscInt i = 0; i < ref->r; i++)
    ww += ref->lambda[i] * PetscSqr(PetscRealPart(ref->c2[i]));
  *nrm2 = ww;
  PetscFunctionReturn(0);
}

PetscErrorCode McForceCacheSetUp_Private(McKernel k, McForceCache *f)
{
  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(k->target->tmpl, &f->Gc));
  PetscCall(VecDuplicate(k->target->tmpl, &f->Pc));
  PetscCall(VecDuplicate(k->target->tmpl, &f->Gp));
  PetscCall(VecDuplicate(k->target->tmpl, &f->Pp));
  f->serial_c = -1; /* no state's yet */
  PetscFunctionReturn(0);
}

PetscErrorCode McForceCacheDestroy_Private(McForceCache *f)
{
  PetscFunctionBeginUser;
  PetscCall(VecDestroy(&f->Gc));
  PetscCall(VecDestroy(&f->Pc));
  PetscCall(VecDestroy(&f->Gp));
  PetscCall(VecDestroy(&f->Pp));
  PetscFunctionReturn(0);
}

PetscBool McForceCacheStale_Private(McKernel k, const McForceCache *f)
{
  return f->serial_c != k->cur.serial || f->stamp_c != k->ref.stamp ? PETSC_TRUE : PETSC_FALSE;
}

void McForceCacheMark_Private(McKernel k, McForceCache *f)
{
  f->serial_c = k->cur.serial;
  f->stamp_c = k->ref.stamp;
}

void McForceCacheAccepted_Private(McKernel k, McForceCache *f)
{
  Vec t;

  if (k->cur.serial == f->serial_c) return; /* rejected: the current state's values stay */
  t = f->Gc, f->Gc = f->Gp, f->Gp = t;
  t = f->Pc, f->Pc = f->Pp, f->Pp = t;
  f->psic = f->psip;
  f->serial_c = k->cur.serial;
}
