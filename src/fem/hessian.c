/* Second-order information of the data misfit J(m) = 0.5 |B u(m) - d|^2_W:
 * the tangent-linear (incremental forward) state and the action of the
 * misfit Hessian, Gauss-Newton or full Newton, by the adjoint method on the
 * discrete equations, so the result is the exact derivative of what
 * McForwardMisfitGradient computes.
 *
 * With R(u, m) = K(m) u - f on the free rows (u with its Dirichlet values),
 * K'(m)[dm] the derivative of the operator (exp(m) dm at the quadrature
 * points) and lambda the adjoint of the gradient (A lambda = -B^T W r):
 *   A du     = -K'[dm] u                           (incremental forward)
 *   A dlam   = -B^T W B du  [- K'[dm] lambda]       (incremental adjoint)
 *   (H dm)_a = sum_q N_a exp(m) ( G(dlam, u) [+ dm G(lambda, u) + G(lambda, du)] )
 * where G(a, b) = w |J| grad a . grad b at a quadrature point; the bracketed
 * second-order terms are what Gauss-Newton drops. Every solve reuses the
 * factorisation of the forward solve; nothing is assembled as a matrix. */
#include "fem_impl.h"

/* Work vectors, made on the first Hessian-related call (set-up cost). */
static PetscErrorCode EnsureWork(McForward fw)
{
  PetscFunctionBeginUser;
  if (fw->hdu) PetscFunctionReturn(0);
  PetscCall(VecDuplicate(fw->u, &fw->hdu));
  PetscCall(VecDuplicate(fw->u, &fw->hdlam));
  PetscCall(VecDuplicate(fw->u, &fw->hrhs));
  PetscCall(VecDuplicate(fw->liftloc, &fw->hduloc));
  PetscCall(VecDuplicate(fw->liftloc, &fw->hdlamloc));
  PetscCall(VecDuplicate(fw->ufull, &fw->hdufull));
  PetscCall(VecDuplicate(fw->gradloc, &fw->hdmloc));
  PetscCall(VecDuplicate(fw->gradloc, &fw->hresloc));
  PetscFunctionReturn(0);
}

/* sum_ij G_ij a_i b_j with G stored as its upper triangle. */
static inline PetscReal Form(const PetscReal *G, PetscInt nb, const PetscReal *a, const PetscReal *b)
{
  PetscReal s = 0;
  for (PetscInt i = 0, k = 0; i < nb; i++) {
    s += G[k] * a[i] * b[i];
    k++;
    for (PetscInt j = i + 1; j < nb; j++, k++)
      s += G[k] * (a[i] * b[j] + a[j] * b[i]);
  }
  return s;
}

/* r_i += c sum_j G_ij a_j. */
static inline void FormRow(const PetscReal *G, PetscInt nb, PetscReal c, const PetscReal *a, PetscReal *r)
{
  for (PetscInt i = 0, k = 0; i < nb; i++) {
    r[i] += c * G[k] * a[i];
    k++;
    for (PetscInt j = i + 1; j < nb; j++, k++) {
      r[i] += c * G[k] * a[j];
      r[j] += c * G[k] * a[i];
    }
  }
}

/* zloc = K'(m)[dm] a (a local vector of the state DM), cell by cell. */
static PetscErrorCode ApplyOperatorDerivative(McForward fw, Vec aloc, Vec out)
{
  const PetscInt     nb = fw->nb, nbm = fw->nbm, nq = fw->nq, ns = fw->ns;
  const PetscScalar *ma, *da, *aa;
  PetscScalar       *oa;

  PetscFunctionBeginUser;
  PetscCall(VecZeroEntries(out));
  PetscCall(VecGetArrayRead(fw->mloc, &ma));
  PetscCall(VecGetArrayRead(fw->hdmloc, &da));
  PetscCall(VecGetArrayRead(aloc, &aa));
  PetscCall(VecGetArray(out, &oa));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    const PetscInt  *mi = &fw->midx[c * nbm], *ui = &fw->uidx[c * nb];
    const PetscReal *G = &fw->Gq[(size_t)c * nq * ns];
    PetscReal        ac[64], rc[64] = {0};
    for (PetscInt i = 0; i < nb; i++)
      ac[i] = PetscRealPart(aa[ui[i]]);
    for (PetscInt q = 0; q < nq; q++) {
      PetscReal mq = 0, dq = 0;
      for (PetscInt a = 0; a < nbm; a++) {
        mq += fw->Nm[q * nbm + a] * PetscRealPart(ma[mi[a]]);
        dq += fw->Nm[q * nbm + a] * PetscRealPart(da[mi[a]]);
      }
      FormRow(&G[q * ns], nb, PetscExpReal(mq) * dq, ac, rc);
    }
    for (PetscInt i = 0; i < nb; i++)
      oa[ui[i]] += rc[i];
  }
  PetscCall(VecRestoreArray(out, &oa));
  PetscCall(VecRestoreArrayRead(aloc, &aa));
  PetscCall(VecRestoreArrayRead(fw->hdmloc, &da));
  PetscCall(VecRestoreArrayRead(fw->mloc, &ma));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardTangent(McForward fw, Vec dm, Vec du)
{
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(EnsureWork(fw));
  PetscCall(DMGlobalToLocal(fw->mspace->dm, dm, INSERT_VALUES, fw->hdmloc));
  PetscCall(ApplyOperatorDerivative(fw, fw->uloc, fw->zloc));
  PetscCall(VecZeroEntries(fw->hrhs));
  PetscCall(McForwardLocalToFree_Private(fw, fw->zloc, ADD_VALUES, fw->hrhs));
  PetscCall(VecScale(fw->hrhs, -1.0));
  PetscCall(McForwardLinearSolve_Private(fw, fw->hrhs, fw->hdu, &ok));
  PetscCheck(ok, fw->comm, PETSC_ERR_NOT_CONVERGED, "the tangent-linear solve failed although the forward solve succeeded");
  PetscCall(VecZeroEntries(fw->hduloc));
  PetscCall(McForwardFreeToLocal_Private(fw, fw->hdu, fw->hduloc));
  PetscCall(VecZeroEntries(du));
  PetscCall(DMLocalToGlobal(fw->uspace->dm, fw->hduloc, INSERT_VALUES, du));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardMisfitHessian(McForward fw, Vec rhs, PetscBool gauss_newton, Vec Hdm)
{
  const PetscInt     nb = fw->nb, nbm = fw->nbm, nq = fw->nq, ns = fw->ns;
  const PetscScalar *ma, *da, *ua, *dua, *la, *dla;
  PetscScalar       *ha;
  PetscBool          ok;

  PetscFunctionBeginUser;
  PetscCheck(fw->hdu, fw->comm, PETSC_ERR_ORDER, "McForwardMisfitHessian needs McForwardTangent first");
  PetscCall(DMGlobalToLocal(fw->uspace->dm, rhs, INSERT_VALUES, fw->zloc));
  PetscCall(McForwardLocalToFree_Private(fw, fw->zloc, INSERT_VALUES, fw->hrhs));
  if (!gauss_newton) {
    PetscCall(ApplyOperatorDerivative(fw, fw->adjloc, fw->zloc));
    PetscCall(McForwardLocalToFree_Private(fw, fw->zloc, ADD_VALUES, fw->hrhs));
  }
  PetscCall(VecScale(fw->hrhs, -1.0));
  PetscCall(McForwardLinearSolve_Private(fw, fw->hrhs, fw->hdlam, &ok));
  PetscCheck(ok, fw->comm, PETSC_ERR_NOT_CONVERGED, "the incremental adjoint solve failed");
  PetscCall(VecZeroEntries(fw->hdlamloc));
  PetscCall(McForwardFreeToLocal_Private(fw, fw->hdlam, fw->hdlamloc));

  PetscCall(VecZeroEntries(fw->hresloc));
  PetscCall(VecGetArrayRead(fw->mloc, &ma));
  PetscCall(VecGetArrayRead(fw->hdmloc, &da));
  PetscCall(VecGetArrayRead(fw->uloc, &ua));
  PetscCall(VecGetArrayRead(fw->hduloc, &dua));
  PetscCall(VecGetArrayRead(fw->adjloc, &la));
  PetscCall(VecGetArrayRead(fw->hdlamloc, &dla));
  PetscCall(VecGetArray(fw->hresloc, &ha));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    const PetscInt  *mi = &fw->midx[c * nbm], *ui = &fw->uidx[c * nb];
    const PetscReal *G = &fw->Gq[(size_t)c * nq * ns];
    PetscReal        uc[64], duc[64], lc[64], dlc[64];
    for (PetscInt i = 0; i < nb; i++) {
      uc[i] = PetscRealPart(ua[ui[i]]);
      duc[i] = PetscRealPart(dua[ui[i]]);
      lc[i] = PetscRealPart(la[ui[i]]);
      dlc[i] = PetscRealPart(dla[ui[i]]);
    }
    for (PetscInt q = 0; q < nq; q++) {
      const PetscReal *Gq = &G[q * ns];
      PetscReal        mq = 0, dq = 0, t;
      for (PetscInt a = 0; a < nbm; a++) {
        mq += fw->Nm[q * nbm + a] * PetscRealPart(ma[mi[a]]);
        dq += fw->Nm[q * nbm + a] * PetscRealPart(da[mi[a]]);
      }
      t = Form(Gq, nb, dlc, uc);
      if (!gauss_newton) t += dq * Form(Gq, nb, lc, uc) + Form(Gq, nb, lc, duc);
      t *= PetscExpReal(mq);
      for (PetscInt a = 0; a < nbm; a++)
        ha[mi[a]] += fw->Nm[q * nbm + a] * t;
    }
  }
  PetscCall(VecRestoreArray(fw->hresloc, &ha));
  PetscCall(VecRestoreArrayRead(fw->hdlamloc, &dla));
  PetscCall(VecRestoreArrayRead(fw->adjloc, &la));
  PetscCall(VecRestoreArrayRead(fw->hduloc, &dua));
  PetscCall(VecRestoreArrayRead(fw->uloc, &ua));
  PetscCall(VecRestoreArrayRead(fw->hdmloc, &da));
  PetscCall(VecRestoreArrayRead(fw->mloc, &ma));
  PetscCall(VecZeroEntries(Hdm));
  PetscCall(DMLocalToGlobal(fw->mspace->dm, fw->hresloc, ADD_VALUES, Hdm));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardWeightedFlux(McForward fw, Vec w, PetscReal *flux)
{
  const PetscInt     nb = fw->nb, nbm = fw->nbm, nq = fw->nq, ns = fw->ns;
  const PetscScalar *ma, *ua, *wa;
  PetscReal          s = 0;

  PetscFunctionBeginUser;
  PetscCall(EnsureWork(fw));
  /* hduloc as scratch: the flux is not part of a Hessian action. */
  PetscCall(DMGlobalToLocal(fw->uspace->dm, w, INSERT_VALUES, fw->hduloc));
  PetscCall(VecGetArrayRead(fw->mloc, &ma));
  PetscCall(VecGetArrayRead(fw->uloc, &ua));
  PetscCall(VecGetArrayRead(fw->hduloc, &wa));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    const PetscInt  *mi = &fw->midx[c * nbm], *ui = &fw->uidx[c * nb];
    const PetscReal *G = &fw->Gq[(size_t)c * nq * ns];
    PetscReal        uc[64], wc[64];
    PetscBool        any = PETSC_FALSE;
    for (PetscInt i = 0; i < nb; i++) {
      uc[i] = PetscRealPart(ua[ui[i]]);
      wc[i] = PetscRealPart(wa[ui[i]]);
      if (wc[i] != 0) any = PETSC_TRUE;
    }
    /* The weight lives near one side (a flux QoI): the other cells add
     * exact zeros, so skipping them changes no bit and saves their exp. */
    if (!any) continue;
    for (PetscInt q = 0; q < nq; q++) {
      PetscReal mq = 0, k;
      if (fw->kc_valid) k = fw->kc[(size_t)c * nq + q]; /* the assembly's exp(m) */
      else {
        for (PetscInt a = 0; a < nbm; a++)
          mq += fw->Nm[q * nbm + a] * PetscRealPart(ma[mi[a]]);
        k = PetscExpReal(mq);
      }
      s += k * Form(&G[q * ns], nb, wc, uc);
    }
  }
  PetscCall(VecRestoreArrayRead(fw->hduloc, &wa));
  PetscCall(VecRestoreArrayRead(fw->uloc, &ua));
  PetscCall(VecRestoreArrayRead(fw->mloc, &ma));
  PetscCall(MPIU_Allreduce(&s, flux, 1, MPIU_REAL, MPIU_SUM, fw->comm));
  PetscFunctionReturn(0);
}
