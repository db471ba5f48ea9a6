/* la: dense-kernel linear algebra below the finite-element layer.
 *
 * A supernodal sparse Cholesky factorisation for SPD SeqAIJ matrices whose
 * values change but whose nonzero pattern does not (an MCMC chain
 * refactorises the same operator at every step). All analysis and every
 * byte of storage and workspace is fixed by McCholSymbolic; McCholNumeric
 * and McCholSolve never allocate. The factor is also a PETSc solver package
 * ("mcchol", MATSOLVERMCCHOL), so `-pc_factor_mat_solver_type mcchol` works
 * with PCCHOLESKY. Layer: may include PETSc and obj/obj.h only. */
#ifndef MC_LA_H
#define MC_LA_H

#include <petscmat.h>

/* Name of the PETSc solver package (MatSolverTypeRegister). */
#define MATSOLVERMCCHOL "mcchol"

typedef struct _p_McChol *McChol;

/* What the symbolic analysis found (and the last numeric factorisation). */
typedef struct {
  PetscInt   n;            /* order of the matrix */
  PetscInt   nsuper;       /* supernodes after relaxed amalgamation */
  PetscInt   maxcols;      /* widest supernode */
  PetscInt64 nnzL;         /* stored entries of L (dense supernode panels, explicit zeros included) */
  PetscInt64 nnzA;         /* nonzeros of A's lower triangle */
  PetscReal  flops;        /* floating-point operations of one numeric factorisation */
  size_t     bytes;        /* factor storage and workspace, through the project allocator */
  PetscBool  factored;     /* a numeric factorisation succeeded and is current */
  PetscInt   failed_row;   /* after a failed factorisation: row (A's numbering) of the non-positive pivot, else -1 */
  PetscReal  failed_pivot; /* its value */
} McCholInfo;

/* An empty factor. Ownership: returns a new handle (McCholDestroy). */
PetscErrorCode McCholCreate(McChol *chol);
/* Fill-reducing ordering (perm: new -> old, as PETSc's MatGetOrdering row IS;
 * NULL: nested dissection), elimination tree, postorder, column counts,
 * relaxed supernodes, all storage and workspace. A: square SeqAIJ with a
 * symmetric nonzero pattern, both triangles stored; only the lower triangle
 * in the new ordering is read. Repeating it replaces the analysis.
 * Ownership: borrows A and perm. */
PetscErrorCode McCholSymbolic(McChol chol, Mat A, IS perm);
/* L L^T = P A P^T with A's current values (same pattern as at the symbolic
 * step, checked). Allocation-free. A non-positive (or NaN, or below the
 * zero-pivot tolerance) pivot is a result:
 * *ok = PETSC_FALSE, the row is in McCholGetInfo, solves are refused.
 * Ownership: borrows A. */
PetscErrorCode McCholNumeric(McChol chol, Mat A, PetscBool *ok);
/* x = A^-1 b with the current factor (x and b may be the same array).
 * Allocation-free. Ownership: borrows b, writes x. */
PetscErrorCode McCholSolveArray(McChol chol, const PetscScalar *b, PetscScalar *x);
/* The same on sequential vectors. Ownership: borrows b, writes x. */
PetscErrorCode McCholSolve(McChol chol, Vec b, Vec x);
/* Zero-pivot tolerance (default 0): a pivot d <= tol * (sum of |A|'s
 * off-diagonal entries in its row) fails like a non-positive one, PETSc's
 * test for a pivot lost in rounding (its PCFactor default is 100 eps; the
 * solver package passes MatFactorInfo's zeropivot). */
PetscErrorCode McCholSetZeroPivot(McChol chol, PetscReal tol);
/* Ownership: fills the caller's *info. */
PetscErrorCode McCholGetInfo(McChol chol, McCholInfo *info);
/* The analysis of a PETSc factor matrix F if it is an mcchol factor:
 * *is = PETSC_FALSE (info untouched) for any other factor. */
PetscErrorCode McCholGetFactorInfo(Mat F, PetscBool *is, McCholInfo *info);
/* Frees everything and sets *chol to NULL (NULL is fine). */
PetscErrorCode McCholDestroy(McChol *chol);

/* Registers "mcchol" as a PETSc solver package for MATSEQAIJ Cholesky
 * (MatGetFactor returns a MATSHELL factor driven by McChol). Idempotent;
 * registered again after a PetscFinalize/PetscInitialize cycle. Every place
 * that creates a direct solver calls it before KSPSetFromOptions. */
PetscErrorCode McCholRegister(void);

#endif
