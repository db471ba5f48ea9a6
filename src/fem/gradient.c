/* The data misfit 0.5 (B u - d)^T Gamma^-1 (B u - d) and its gradient with
 * respect to the nodal coefficient m, by one adjoint solve that reuses the
 * forward factorisation (the operator is symmetric):
 *   A lambda = -B^T Gamma^-1 (B u - d)   (free dofs),
 *   dJ/dm_a  = sum_cells sum_q exp(m(x_q)) N_a(x_q) w|J| grad lambda . grad u,
 * with u including its Dirichlet values and lambda zero on them. */
#include "fem_impl.h"

PetscErrorCode McForwardMisfitGradient(McForward fw, McObsOperator obs, Vec d, const McNoise *noise, PetscReal *misfit,
                                       Vec grad)
{
  const PetscInt     nb = fw->nb, nbm = fw->nbm, nq = fw->nq, ns = fw->ns;
  PetscScalar        dot, *ga;
  const PetscScalar *ma, *ua, *la;
  PetscReal         *kq = fw->kq, *mv = fw->mv;

  PetscFunctionBeginUser;
  PetscCheck(obs->space == fw->uspace, fw->comm, PETSC_ERR_ARG_INCOMP,
             "the observation operator must be built on the forward model's state space");
  {
    PetscInt nrow, nres = -1;
    PetscCall(MatGetLocalSize(obs->B, &nrow, NULL));
    if (fw->resid) PetscCall(VecGetLocalSize(fw->resid, &nres));
    if (nres != nrow) {
      /* First use with an operator of this size: the only allocation, made
       * before the loop's steady state. */
      PetscCall(VecDestroy(&fw->resid));
      PetscCall(VecDestroy(&fw->wresid));
      PetscCall(MatCreateVecs(obs->B, NULL, &fw->resid));
      PetscCall(VecDuplicate(fw->resid, &fw->wresid));
    }
  }
  PetscCall(MatMult(obs->B, fw->ufull, fw->resid));
  PetscCall(VecAXPY(fw->resid, -1.0, d));
  if (noise->weights)
    PetscCall(VecPointwiseMult(fw->wresid, noise->weights, fw->resid));
  else {
    PetscCall(VecCopy(fw->resid, fw->wresid));
    PetscCall(VecScale(fw->wresid, noise->precision));
  }
  PetscCall(VecDot(fw->resid, fw->wresid, &dot));
  *misfit = 0.5 * PetscRealPart(dot);
  if (!grad) PetscFunctionReturn(0);

  PetscCall(MatMultTranspose(obs->B, fw->wresid, fw->zfull));
  PetscCall(DMGlobalToLocal(fw->uspace->dm, fw->zfull, INSERT_VALUES, fw->zloc));
  PetscCall(McForwardLocalToFree_Private(fw, fw->zloc, INSERT_VALUES, fw->adjrhs));
  PetscCall(VecScale(fw->adjrhs, -1.0));
  {
    PetscBool ok;
    PetscCall(McForwardLinearSolve_Private(fw, fw->adjrhs, fw->adj, &ok));
    PetscCheck(ok, fw->comm, PETSC_ERR_NOT_CONVERGED, "the adjoint solve failed although the forward solve succeeded");
  }
  PetscCall(VecZeroEntries(fw->adjloc));
  PetscCall(McForwardFreeToLocal_Private(fw, fw->adj, fw->adjloc));

  PetscCall(VecZeroEntries(fw->gradloc));
  PetscCall(VecGetArrayRead(fw->mloc, &ma));
  PetscCall(VecGetArrayRead(fw->uloc, &ua));
  PetscCall(VecGetArrayRead(fw->adjloc, &la));
  PetscCall(VecGetArray(fw->gradloc, &ga));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    const PetscInt  *mi = &fw->midx[c * nbm], *ui = &fw->uidx[c * nb];
    const PetscReal *G = &fw->Gq[(size_t)c * nq * ns];
    PetscReal        uc[64], lc[64];
    for (PetscInt i = 0; i < nb; i++) {
      uc[i] = PetscRealPart(ua[ui[i]]);
      lc[i] = PetscRealPart(la[ui[i]]);
    }
    for (PetscInt a = 0; a < nbm; a++)
      mv[a] = PetscRealPart(ma[mi[a]]);
    if (fw->kc_valid) kq = &fw->kc[(size_t)c * nq]; /* the assembly's exp(m), same bits */
    for (PetscInt q = 0; q < nq; q++) {
      PetscReal s = 0;
      if (!fw->kc_valid) {
        PetscReal mq = 0;
        for (PetscInt a = 0; a < nbm; a++)
          mq += fw->Nm[q * nbm + a] * mv[a];
        kq[q] = PetscExpReal(mq);
      }
      for (PetscInt i = 0, k = 0; i < nb; i++) {
        s += G[q * ns + k] * lc[i] * uc[i];
        k++;
        for (PetscInt j = i + 1; j < nb; j++, k++)
          s += G[q * ns + k] * (lc[i] * uc[j] + lc[j] * uc[i]);
      }
      PetscReal t = kq[q] * s;
      for (PetscInt a = 0; a < nbm; a++)
        ga[mi[a]] += fw->Nm[q * nbm + a] * t;
    }
  }
  PetscCall(VecRestoreArray(fw->gradloc, &ga));
  PetscCall(VecRestoreArrayRead(fw->adjloc, &la));
  PetscCall(VecRestoreArrayRead(fw->uloc, &ua));
  PetscCall(VecRestoreArrayRead(fw->mloc, &ma));
  PetscCall(VecZeroEntries(grad));
  PetscCall(DMLocalToGlobal(fw->mspace->dm, fw->gradloc, ADD_VALUES, grad));
  PetscFunctionReturn(0);
}
