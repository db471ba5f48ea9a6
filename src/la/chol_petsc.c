/* "mcchol" as a PETSc solver package: MatGetFactor(A, "mcchol",
 * MAT_FACTOR_CHOLESKY) returns a MATSHELL factor whose symbolic, numeric and
 * solve operations are McChol's, so PCCHOLESKY, PCFactorGetMatrix and
 * MatSolve work as with PETSc's own factors.
 *
 * The private header is needed for three fields every PETSc solver package
 * sets and 3.18 has no public setter for: the factor error (a non-positive
 * pivot is reported through MatFactorGetError, not raised, so the forward
 * model counts a failed solve), canuseordering (PCCHOLESKY then honours
 * -pc_factor_mat_ordering_type) and the preferred ordering (nested
 * dissection). */
#include "la/la.h"

#include <petsc/private/matimpl.h>

static PetscErrorCode FactorGetSolverType(Mat F, MatSolverType *type)
{
  (void)F;
  *type = MATSOLVERMCCHOL;
  return 0;
}

static PetscErrorCode FactorSymbolic(Mat F, Mat A, IS perm, const MatFactorInfo *info)
{
  McChol c;

  PetscFunctionBeginUser;
  (void)info;
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholSymbolic(c, A, perm));
  F->factorerrortype = MAT_FACTOR_NOERROR;
  PetscFunctionReturn(0);
}

static PetscErrorCode FactorNumeric(Mat F, Mat A, const MatFactorInfo *info)
{
  McChol     c;
  PetscBool  ok;
  McCholInfo ci;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholSetZeroPivot(c, info ? info->zeropivot : 0));
  PetscCall(McCholNumeric(c, A, &ok));
  if (ok) {
    F->factorerrortype = MAT_FACTOR_NOERROR;
    PetscFunctionReturn(0);
  }
  PetscCall(McCholGetInfo(c, &ci));
  PetscCheck(!A->erroriffailure, PETSC_COMM_SELF, PETSC_ERR_MAT_CH_ZRPVT,
             "mcchol: pivot %g in row %" PetscInt_FMT ": the matrix is not (numerically) positive definite",
             (double)ci.failed_pivot, ci.failed_row);
  F->factorerrortype = MAT_FACTOR_NUMERIC_ZEROPIVOT;
  F->factorerror_zeropivot_value = ci.failed_pivot;
  F->factorerror_zeropivot_row = ci.failed_row;
  PetscFunctionReturn(0);
}

static PetscErrorCode FactorSolve(Mat F, Vec b, Vec x)
{
  McChol c;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholSolve(c, b, x));
  PetscFunctionReturn(0);
}

static PetscErrorCode FactorGetInfo(Mat F, MatInfoType type, MatInfo *info)
{
  McChol     c;
  McCholInfo ci;

  PetscFunctionBeginUser;
  (void)type;
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholGetInfo(c, &ci));
  PetscCall(PetscMemzero(info, sizeof(*info)));
  info->block_size = 1;
  info->nz_allocated = (PetscLogDouble)ci.nnzL;
  info->nz_used = (PetscLogDouble)ci.nnzL;
  info->memory = (PetscLogDouble)ci.bytes;
  info->fill_ratio_given = 0;
  info->fill_ratio_needed = ci.nnzA > 0 ? (PetscReal)ci.nnzL / (PetscReal)ci.nnzA : 0;
  info->factor_mallocs = 0;
  PetscFunctionReturn(0);
}

static PetscErrorCode FactorView(Mat F, PetscViewer viewer)
{
  McChol     c;
  McCholInfo ci;
  PetscBool  ascii;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &ascii));
  if (!ascii) PetscFunctionReturn(0);
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholGetInfo(c, &ci));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "mcchol supernodal Cholesky: n %" PetscInt_FMT ", %" PetscInt_FMT
                                   " supernodes (widest %" PetscInt_FMT "), nnz(L) %" PetscInt64_FMT
                                   ", %.3g Mflop per factorisation, %.3g MiB\n",
                                   ci.n, ci.nsuper, ci.maxcols, ci.nnzL, ci.flops / 1e6, (double)ci.bytes / 1048576.0));
  PetscFunctionReturn(0);
}

static PetscErrorCode DestroyContext(void *ctx)
{
  McChol c = (McChol)ctx;

  PetscFunctionBeginUser;
  PetscCall(McCholDestroy(&c));
  PetscFunctionReturn(0);
}

static PetscErrorCode GetFactor(Mat A, MatFactorType ftype, Mat *F)
{
  McChol   c;
  PetscInt m, n;

  PetscFunctionBeginUser;
  PetscCheck(ftype == MAT_FACTOR_CHOLESKY, PetscObjectComm((PetscObject)A), PETSC_ERR_SUP,
             "mcchol provides Cholesky factorisations only");
  PetscCall(MatGetLocalSize(A, &m, &n));
  PetscCall(McCholCreate(&c));
  PetscCall(MatCreateShell(PetscObjectComm((PetscObject)A), m, n, m, n, c, F));
  PetscCall(MatShellSetContextDestroy(*F, DestroyContext));
  PetscCall(MatShellSetOperation(*F, MATOP_CHOLESKY_FACTOR_SYMBOLIC, (void (*)(void))FactorSymbolic));
  PetscCall(MatShellSetOperation(*F, MATOP_CHOLESKY_FACTOR_NUMERIC, (void (*)(void))FactorNumeric));
  /* symmetric: the transposed solve is the same solve */
  PetscCall(MatShellSetOperation(*F, MATOP_SOLVE, (void (*)(void))FactorSolve));
  PetscCall(MatShellSetOperation(*F, MATOP_SOLVE_TRANSPOSE, (void (*)(void))FactorSolve));
  PetscCall(MatShellSetOperation(*F, MATOP_GETINFO, (void (*)(void))FactorGetInfo));
  PetscCall(MatShellSetOperation(*F, MATOP_VIEW, (void (*)(void))FactorView));
  PetscCall(MatSetFactorType(*F, MAT_FACTOR_CHOLESKY));
  PetscCall(PetscFree((*F)->solvertype));
  PetscCall(PetscStrallocpy(MATSOLVERMCCHOL, &(*F)->solvertype));
  (*F)->canuseordering = PETSC_TRUE;
  PetscCall(PetscStrallocpy(MATORDERINGND, (char **)&(*F)->preferredordering[MAT_FACTOR_CHOLESKY]));
  PetscCall(PetscObjectComposeFunction((PetscObject)*F, "MatFactorGetSolverType_C", FactorGetSolverType));
  PetscFunctionReturn(0);
}

static PetscBool registered = PETSC_FALSE;

/* PetscFinalize forgets every registered solver package: so do we. */
static PetscErrorCode Unregister(void)
{
  registered = PETSC_FALSE;
  return 0;
}

PetscErrorCode McCholRegister(void)
{
  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(0);
  /* PETSc's own packages first: MatInitializePackage registers them only
   * when it runs for the first time. */
  PetscCall(MatInitializePackage());
  PetscCall(MatSolverTypeRegister(MATSOLVERMCCHOL, MATSEQAIJ, MAT_FACTOR_CHOLESKY, GetFactor));
  PetscCall(PetscRegisterFinalize(Unregister));
  registered = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode McCholGetFactorInfo(Mat F, PetscBool *is, McCholInfo *info)
{
  MatSolverType type = NULL;
  McChol        c;

  PetscFunctionBeginUser;
  *is = PETSC_FALSE;
  if (!F || !F->factortype) PetscFunctionReturn(0);
  PetscCall(MatFactorGetSolverType(F, &type));
  if (!type) PetscFunctionReturn(0);
  PetscCall(PetscStrcmp(type, MATSOLVERMCCHOL, is));
  if (!*is) PetscFunctionReturn(0);
  PetscCall(MatShellGetContext(F, &c));
  PetscCall(McCholGetInfo(c, info));
  PetscFunctionReturn(0);
}
