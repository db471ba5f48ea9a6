/* Moves between a local vector of the state DM (all closure dofs, Dirichlet
 * ones included) and the global vector of its free dofs. On one rank these
 * are index copies through the map kept at set-up (fw->gof): the DM's own
 * scatters walk every mesh point through the constrained section on each
 * call, which cost ~8% of a MALA step at 64x64 (the adjoint's right-hand
 * side). On several ranks the DM does it, communication included. Both give
 * the same values bit for bit: on one rank every free dof has exactly one
 * local dof. */
#include "fem_impl.h"

PetscErrorCode McForwardLocalToFree_Private(McForward fw, Vec loc, InsertMode mode, Vec free)
{
  const PetscScalar *la;
  PetscScalar       *fa;
  PetscInt           n;

  PetscFunctionBeginUser;
  if (!fw->gof) {
    PetscCall(DMLocalToGlobal(fw->dm, loc, mode, free));
    PetscFunctionReturn(0);
  }
  PetscCheck(mode == INSERT_VALUES || mode == ADD_VALUES, fw->comm, PETSC_ERR_SUP, "insert or add only");
  PetscCall(VecGetLocalSize(loc, &n));
  PetscCall(VecGetArrayRead(loc, &la));
  PetscCall(VecGetArray(free, &fa));
  if (mode == INSERT_VALUES) {
    for (PetscInt i = 0; i < n; i++)
      if (fw->gof[i] >= 0) fa[fw->gof[i]] = la[i];
  } else {
    for (PetscInt i = 0; i < n; i++)
      if (fw->gof[i] >= 0) fa[fw->gof[i]] += la[i];
  }
  PetscCall(VecRestoreArray(free, &fa));
  PetscCall(VecRestoreArrayRead(loc, &la));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardFreeToLocal_Private(McForward fw, Vec free, Vec loc)
{
  const PetscScalar *fa;
  PetscScalar       *la;
  PetscInt           n;

  PetscFunctionBeginUser;
  if (!fw->gof) {
    PetscCall(DMGlobalToLocal(fw->dm, free, INSERT_VALUES, loc));
    PetscFunctionReturn(0);
  }
  PetscCall(VecGetLocalSize(loc, &n));
  PetscCall(VecGetArrayRead(free, &fa));
  PetscCall(VecGetArray(loc, &la));
  for (PetscInt i = 0; i < n; i++)
    if (fw->gof[i] >= 0) la[i] = fa[fw->gof[i]];
  PetscCall(VecRestoreArray(loc, &la));
  PetscCall(VecRestoreArrayRead(free, &fa));
  PetscFunctionReturn(0);
}
