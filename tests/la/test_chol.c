/* mcchol against PETSc's own Cholesky: FE stiffness matrices of the project
 * (P1 and P2, 2D and 3D), a random sparse SPD matrix, 1x1 and diagonal
 * matrices. Solutions agree to 1e-12 relative; a refactorisation with new
 * values and back gives the same bits as a fresh factor; an indefinite
 * matrix is a reported failure (direct API, MatFactorGetError, and a KSP
 * that diverges with a failed PC), never a crash; numeric factorisations and
 * solves allocate nothing (counted through the object layer's hooks); a
 * pattern with a one-sided entry, a numeric step before the symbolic one and
 * a pattern changed since are errors. */
#include "../fem/fem_test.h"
#include "la/la.h"

#include <petscksp.h>
#include <string.h>

/* ||x - y|| / ||y|| */
static PetscErrorCode RelDiff(Vec x, Vec y, PetscReal *rel)
{
  Vec       d;
  PetscReal nd, ny;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(x, &d));
  PetscCall(VecWAXPY(d, -1.0, y, x));
  PetscCall(VecNorm(d, NORM_2, &nd));
  PetscCall(VecNorm(y, NORM_2, &ny));
  *rel = ny > 0 ? nd / ny : nd;
  PetscCall(VecDestroy(&d));
  PetscFunctionReturn(0);
}

/* x = A^-1 b through a KSP (preonly + Cholesky, ND ordering) of the given
 * solver package. */
static PetscErrorCode KSPSolveWith(Mat A, const char *stype, Vec b, Vec x, KSPConvergedReason *reason)
{
  KSP ksp;
  PC  pc;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(PETSC_COMM_SELF, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCSetType(pc, PCCHOLESKY));
  PetscCall(PCFactorSetMatSolverType(pc, stype));
  PetscCall(PCFactorSetMatOrderingType(pc, MATORDERINGND));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetConvergedReason(ksp, reason));
  PetscCall(KSPDestroy(&ksp));
  PetscFunctionReturn(0);
}

/* Both solvers on A with a random right-hand side; also the direct API
 * (its own ND ordering) and the residual. */
static PetscErrorCode Compare(const char *name, Mat A, PetscRandom rnd)
{
  Vec                b, x0, x1, x2, r;
  KSPConvergedReason reason;
  PetscReal          rel1, rel2, res, nb;
  McChol             chol;
  PetscBool          ok;
  McCholInfo         info;
  PetscInt           n;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(A, &n, NULL));
  PetscCall(MatCreateVecs(A, &x0, &b));
  PetscCall(VecDuplicate(x0, &x1));
  PetscCall(VecDuplicate(x0, &x2));
  PetscCall(VecDuplicate(x0, &r));
  PetscCall(VecSetRandom(b, rnd));
  PetscCall(KSPSolveWith(A, MATSOLVERPETSC, b, x0, &reason));
  CHECK(reason > 0, "%s: PETSc's Cholesky failed (%d)", name, (int)reason);
  PetscCall(KSPSolveWith(A, MATSOLVERMCCHOL, b, x1, &reason));
  CHECK(reason > 0, "%s: mcchol through KSP failed (%d)", name, (int)reason);
  PetscCall(RelDiff(x1, x0, &rel1));
  PetscCall(McCholCreate(&chol));
  PetscCall(McCholSymbolic(chol, A, NULL));
  PetscCall(McCholNumeric(chol, A, &ok));
  CHECK(ok, "%s: direct mcchol factorisation failed", name);
  PetscCall(McCholSolve(chol, b, x2));
  PetscCall(RelDiff(x2, x0, &rel2));
  PetscCall(McCholGetInfo(chol, &info));
  PetscCall(MatMult(A, x1, r));
  PetscCall(VecAXPY(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, &res));
  PetscCall(VecNorm(b, NORM_2, &nb));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "%-22s n %6d  supernodes %5d  nnz(L) %8lld  %7.2f Mflop  |x-x_petsc|/|x_petsc| %.1e (KSP) "
                        "%.1e (direct)  residual %.1e\n",
                        name, (int)n, (int)info.nsuper, (long long)info.nnzL, info.flops / 1e6, (double)rel1,
                        (double)rel2, (double)(res / nb)));
  CHECK(rel1 <= 1e-12, "%s: mcchol (KSP) differs from PETSc's Cholesky by %g relative, expected <= 1e-12", name,
        (double)rel1);
  CHECK(rel2 <= 1e-12, "%s: mcchol (direct) differs from PETSc's Cholesky by %g relative, expected <= 1e-12", name,
        (double)rel2);
  CHECK(info.n == n && info.nsuper >= 1 && info.nsuper <= n && info.nnzL >= info.nnzA, "%s: implausible info", name);
  PetscCall(McCholDestroy(&chol));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&x1));
  PetscCall(VecDestroy(&x2));
  PetscCall(VecDestroy(&r));
  PetscFunctionReturn(0);
}

static PetscErrorCode Smooth(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx;
  *v = 0.8 * PetscSinReal(3 * x[0]) * PetscCosReal(2 * x[1]) + (dim == 3 ? 0.5 * x[2] : 0.0);
  return 0;
}

/* The forward model's operator (free dofs, Dirichlet on the whole boundary)
 * for m = a smooth field plus noise. Ownership: *A is a new copy. */
static PetscErrorCode FEMatrix(PetscInt dim, PetscInt n, PetscInt order, PetscRandom rnd, Mat *A)
{
  McMeshSpec ms = BoxSpec(dim, n, PETSC_TRUE);
  McMesh     mesh;
  McPDESpec  ps;
  McForward  fw;
  McSpace    mspace;
  Vec        m, noise, b;
  Mat        Af;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_SELF, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.ndirichlet = 1;
  ps.dirichlet_labels[0] = "boundary";
  ps.options_prefix = "lafe_";
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(McSpaceInterpolate(mspace, Smooth, NULL, m));
  PetscCall(VecDuplicate(m, &noise));
  PetscCall(VecSetRandom(noise, rnd));
  PetscCall(VecAXPY(m, 0.5, noise));
  PetscCall(McForwardAssemble(fw, m, &Af, &b));
  PetscCall(MatDuplicate(Af, MAT_COPY_VALUES, A));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&noise));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

/* A random symmetric pattern (about deg entries per row each side), random
 * off-diagonal values, diagonal = sum |off-diagonal| + 1: SPD. */
static PetscErrorCode RandomSPD(PetscInt n, PetscInt deg, PetscRandom rnd, Mat *A)
{
  PetscFunctionBeginUser;
  PetscCall(MatCreateSeqAIJ(PETSC_COMM_SELF, n, n, 2 * deg + 1, NULL, A));
  PetscCall(MatSetOption(*A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
  for (PetscInt i = 0; i < n; i++) {
    for (PetscInt k = 0; k < deg; k++) {
      PetscReal   u;
      PetscScalar v;
      PetscInt    j;
      PetscCall(PetscRandomGetValueReal(rnd, &u));
      j = (PetscInt)(u * n) % n;
      if (j == i) continue;
      PetscCall(PetscRandomGetValue(rnd, &v));
      v = 2 * v - 1;
      PetscCall(MatSetValue(*A, i, j, v, ADD_VALUES));
      PetscCall(MatSetValue(*A, j, i, v, ADD_VALUES));
      PetscCall(MatSetValue(*A, i, i, PetscAbsScalar(v), ADD_VALUES));
      PetscCall(MatSetValue(*A, j, j, PetscAbsScalar(v), ADD_VALUES));
    }
    PetscCall(MatSetValue(*A, i, i, 1.0, ADD_VALUES));
  }
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

static PetscErrorCode Diagonal(PetscInt n, PetscReal first, Mat *A)
{
  PetscFunctionBeginUser;
  PetscCall(MatCreateSeqAIJ(PETSC_COMM_SELF, n, n, 1, NULL, A));
  for (PetscInt i = 0; i < n; i++)
    PetscCall(MatSetValue(*A, i, i, i == 0 ? first : 1.0 + i, INSERT_VALUES));
  PetscCall(MatAssemblyBegin(*A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*A, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(0);
}

/* Factor values V1, then V2 (V1 scaled entrywise at random, same pattern),
 * then V1 again: the solution equals the first one and a fresh factor's, bit
 * for bit; the factor at V2 solves V2's system. Numeric factorisations and
 * solves allocate nothing. */
static PetscErrorCode Refactor(Mat A, PetscRandom rnd)
{
  Mat                A2;
  Vec                b, x1, x2, x3, x4, x0;
  McChol             chol, fresh;
  PetscBool          ok1, ok2, ok3, ok4;
  PetscReal          rel;
  const PetscScalar *v1, *v3, *v4;
  PetscInt64         p0, q0, p1, q1;
  PetscInt           n;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(A, &n, NULL));
  PetscCall(MatDuplicate(A, MAT_COPY_VALUES, &A2));
  /* a congruence D A D with D = diag(1 + 0.3 u) keeps A SPD */
  {
    Vec d;
    PetscCall(MatCreateVecs(A2, &d, NULL));
    PetscCall(VecSetRandom(d, rnd));
    PetscCall(VecScale(d, 0.3));
    PetscCall(VecShift(d, 1.0));
    PetscCall(MatDiagonalScale(A2, d, d));
    PetscCall(VecDestroy(&d));
  }
  PetscCall(MatCreateVecs(A, &x1, &b));
  PetscCall(VecDuplicate(x1, &x2));
  PetscCall(VecDuplicate(x1, &x3));
  PetscCall(VecDuplicate(x1, &x4));
  PetscCall(VecDuplicate(x1, &x0));
  PetscCall(VecSetRandom(b, rnd));
  PetscCall(McCholCreate(&chol));
  PetscCall(McCholSymbolic(chol, A, NULL));
  PetscCall(McMemAllocCount(&p0, &q0));
  PetscCall(McCholNumeric(chol, A, &ok1));
  PetscCall(McCholSolve(chol, b, x1));
  PetscCall(McCholNumeric(chol, A2, &ok2));
  PetscCall(McCholSolve(chol, b, x2));
  PetscCall(McCholNumeric(chol, A, &ok3));
  PetscCall(McCholSolve(chol, b, x3));
  PetscCall(McMemAllocCount(&p1, &q1));
  CHECK(p1 - p0 == 0 && q1 - q0 == 0,
        "3 numeric factorisations and solves made %lld project and %lld PETSc allocations, expected 0",
        (long long)(p1 - p0), (long long)(q1 - q0));
  PetscCall(McCholCreate(&fresh));
  PetscCall(McCholSymbolic(fresh, A, NULL));
  PetscCall(McCholNumeric(fresh, A, &ok4));
  PetscCall(McCholSolve(fresh, b, x4));
  CHECK(ok1 && ok2 && ok3 && ok4, "a factorisation failed");
  PetscCall(VecGetArrayRead(x1, &v1));
  PetscCall(VecGetArrayRead(x3, &v3));
  PetscCall(VecGetArrayRead(x4, &v4));
  CHECK(memcmp(v1, v3, (size_t)n * sizeof(PetscScalar)) == 0, "refactorising back to the first values changed bits");
  CHECK(memcmp(v1, v4, (size_t)n * sizeof(PetscScalar)) == 0,
        "a fresh factor gives other bits than a refactorised one");
  PetscCall(VecRestoreArrayRead(x1, &v1));
  PetscCall(VecRestoreArrayRead(x3, &v3));
  PetscCall(VecRestoreArrayRead(x4, &v4));
  PetscCall(KSPSolveWith(A2, MATSOLVERPETSC, b, x0, &reason));
  PetscCall(RelDiff(x2, x0, &rel));
  CHECK(rel <= 1e-12, "the refactorised factor (new values) differs from PETSc's by %g", (double)rel);
  PetscCall(RelDiff(x1, x2, &rel));
  CHECK(rel > 1e-6, "new values gave (almost) the old solution: %g apart", (double)rel);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "refactorisation: bit-identical, %lld allocations in 3 refactor+solve\n",
                        (long long)(p1 - p0 + q1 - q0)));
  PetscCall(McCholDestroy(&chol));
  PetscCall(McCholDestroy(&fresh));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&x1));
  PetscCall(VecDestroy(&x2));
  PetscCall(VecDestroy(&x3));
  PetscCall(VecDestroy(&x4));
  PetscCall(MatDestroy(&A2));
  PetscFunctionReturn(0);
}

/* A - s I with s above A's smallest eigenvalue: not positive definite. */
static PetscErrorCode Indefinite(Mat A, const char *name)
{
  Mat                B, F;
  McChol             chol;
  PetscBool          ok;
  McCholInfo         info;
  Vec                b, x;
  KSPConvergedReason reason;
  MatFactorError     err;
  IS                 rperm, cperm;
  MatFactorInfo      finfo;

  PetscFunctionBeginUser;
  PetscCall(MatDuplicate(A, MAT_COPY_VALUES, &B));
  PetscCall(MatShift(B, -1e6)); /* FE diagonals here are O(1)-O(10): far below */
  PetscCall(McCholCreate(&chol));
  PetscCall(McCholSymbolic(chol, B, NULL));
  PetscCall(McCholNumeric(chol, B, &ok));
  PetscCall(McCholGetInfo(chol, &info));
  CHECK(!ok && !info.factored && info.failed_row >= 0 && info.failed_pivot <= 0,
        "%s: indefinite matrix not reported (ok %d, row %d, pivot %g)", name, (int)ok, (int)info.failed_row,
        (double)info.failed_pivot);
  PetscCall(McCholDestroy(&chol));

  PetscCall(MatCreateVecs(B, &x, &b));
  PetscCall(VecSet(b, 1.0));
  PetscCall(MatGetFactor(B, MATSOLVERMCCHOL, MAT_FACTOR_CHOLESKY, &F));
  PetscCall(MatGetOrdering(B, MATORDERINGND, &rperm, &cperm));
  PetscCall(MatFactorInfoInitialize(&finfo));
  PetscCall(MatCholeskyFactorSymbolic(F, B, rperm, &finfo));
  PetscCall(MatCholeskyFactorNumeric(F, B, &finfo));
  PetscCall(MatFactorGetError(F, &err));
  CHECK(err == MAT_FACTOR_NUMERIC_ZEROPIVOT, "%s: MatFactorGetError gave %d, expected a zero pivot", name, (int)err);
  PetscCall(ISDestroy(&rperm));
  PetscCall(ISDestroy(&cperm));
  PetscCall(MatDestroy(&F));

  PetscCall(KSPSolveWith(B, MATSOLVERMCCHOL, b, x, &reason));
  CHECK(reason == KSP_DIVERGED_PC_FAILED, "%s: KSP with mcchol on an indefinite matrix: reason %d, expected %d", name,
        (int)reason, (int)KSP_DIVERGED_PC_FAILED);
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s shifted by -1e6: failure reported (KSP reason %d)\n", name, (int)reason));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x));
  PetscCall(MatDestroy(&B));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscRandom rnd;
  Mat         A;
  static const struct {
    PetscInt dim, n, order;
  } fe[] = {{2, 4, 1}, {2, 24, 1}, {2, 48, 1}, {2, 12, 2}, {2, 24, 2}, {3, 6, 1}, {3, 10, 1}, {3, 4, 2}};

  if (McMemInstallPetscHooks()) return 2;
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McCholRegister());
  PetscCall(McCholRegister()); /* idempotent */
  PetscCall(PetscRandomCreate(PETSC_COMM_SELF, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 11));
  PetscCall(PetscRandomSeed(rnd));

  for (size_t k = 0; k < sizeof(fe) / sizeof(fe[0]); k++) {
    char name[64];
    PetscCall(PetscSNPrintf(name, sizeof(name), "FE P%d %dD %d^%d", (int)fe[k].order, (int)fe[k].dim, (int)fe[k].n,
                            (int)fe[k].dim));
    PetscCall(FEMatrix(fe[k].dim, fe[k].n, fe[k].order, rnd, &A));
    PetscCall(Compare(name, A, rnd));
    if (k == 3) {
      PetscCall(Refactor(A, rnd));
      PetscCall(Indefinite(A, name));
    }
    PetscCall(MatDestroy(&A));
  }
  PetscCall(RandomSPD(400, 4, rnd, &A));
  PetscCall(Compare("random SPD", A, rnd));
  PetscCall(Refactor(A, rnd));
  PetscCall(Indefinite(A, "random SPD"));
  PetscCall(MatDestroy(&A));
  PetscCall(Diagonal(1, 4.0, &A));
  PetscCall(Compare("1x1", A, rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(Diagonal(50, 0.5, &A));
  PetscCall(Compare("diagonal 50", A, rnd));
  PetscCall(MatDestroy(&A));
  /* a diagonal matrix with a negative entry: the failed row is exact */
  {
    McChol     chol;
    PetscBool  ok;
    McCholInfo info;
    PetscCall(Diagonal(5, 1.0, &A));
    PetscCall(MatSetValue(A, 3, 3, -2.0, INSERT_VALUES));
    PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
    PetscCall(McCholCreate(&chol));
    PetscCall(McCholSymbolic(chol, A, NULL));
    PetscCall(McCholNumeric(chol, A, &ok));
    PetscCall(McCholGetInfo(chol, &info));
    CHECK(!ok && info.failed_row == 3 && info.failed_pivot == -2.0,
          "diagonal with -2 at row 3: ok %d, failed row %d, pivot %g", (int)ok, (int)info.failed_row,
          (double)info.failed_pivot);
    PetscCall(McCholDestroy(&chol));
    PetscCall(MatDestroy(&A));
  }
  /* [1 1; 1 1+1e-15]: SPD, but the second pivot is below rounding relative
   * to its row: fails with PETSc's default zero-pivot tolerance (100 eps),
   * succeeds with none; through KSP the PC's tolerance applies */
  {
    McChol             chol;
    PetscBool          ok0, ok1;
    McCholInfo         info;
    Vec                b, x;
    KSPConvergedReason reason;
    PetscCall(MatCreateSeqAIJ(PETSC_COMM_SELF, 2, 2, 2, NULL, &A));
    PetscCall(MatSetValue(A, 0, 0, 1.0, INSERT_VALUES));
    PetscCall(MatSetValue(A, 0, 1, 1.0, INSERT_VALUES));
    PetscCall(MatSetValue(A, 1, 0, 1.0, INSERT_VALUES));
    PetscCall(MatSetValue(A, 1, 1, 1.0 + 1e-15, INSERT_VALUES));
    PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
    PetscCall(McCholCreate(&chol));
    PetscCall(McCholSymbolic(chol, A, NULL));
    PetscCall(McCholNumeric(chol, A, &ok0));
    PetscCall(McCholSetZeroPivot(chol, 100 * PETSC_MACHINE_EPSILON));
    PetscCall(McCholNumeric(chol, A, &ok1));
    PetscCall(McCholGetInfo(chol, &info));
    CHECK(ok0 && !ok1 && info.failed_pivot > 0 && info.failed_pivot < 1e-14,
          "nearly singular 2x2: without tolerance ok %d, with 100 eps ok %d (pivot %g), expected 1 and 0", (int)ok0,
          (int)ok1, (double)info.failed_pivot);
    PetscCall(McCholDestroy(&chol));
    PetscCall(MatCreateVecs(A, &x, &b));
    PetscCall(VecSet(b, 1.0));
    PetscCall(KSPSolveWith(A, MATSOLVERMCCHOL, b, x, &reason));
    CHECK(reason == KSP_DIVERGED_PC_FAILED, "nearly singular 2x2 through KSP: reason %d, expected %d", (int)reason,
          (int)KSP_DIVERGED_PC_FAILED);
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&x));
    PetscCall(MatDestroy(&A));
  }
  /* misuse is an error, not a wrong factor: numeric before symbolic, and
   * a pattern that changed since the symbolic step */
  {
    McChol         chol;
    PetscErrorCode ierr1, ierr2;
    PetscBool      ok;
    PetscCall(Diagonal(4, 1.0, &A));
    PetscCall(McCholCreate(&chol));
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr1 = McCholNumeric(chol, A, &ok);
    PetscCall(PetscPopErrorHandler());
    PetscCall(McCholSymbolic(chol, A, NULL));
    PetscCall(MatSetOption(A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
    PetscCall(MatSetValue(A, 0, 1, 0.1, INSERT_VALUES));
    PetscCall(MatSetValue(A, 1, 0, 0.1, INSERT_VALUES));
    PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr2 = McCholNumeric(chol, A, &ok);
    PetscCall(PetscPopErrorHandler());
    CHECK(ierr1 == PETSC_ERR_ORDER, "numeric before symbolic gave error %d, expected %d", (int)ierr1,
          (int)PETSC_ERR_ORDER);
    CHECK(ierr2 == PETSC_ERR_ARG_WRONGSTATE, "a changed pattern gave error %d, expected %d", (int)ierr2,
          (int)PETSC_ERR_ARG_WRONGSTATE);
    PetscCall(McCholDestroy(&chol));
    PetscCall(MatDestroy(&A));
  }
  /* a one-sided entry: refused with a message, not factored wrongly */
  {
    McChol         chol;
    PetscErrorCode ierr;
    PetscCall(Diagonal(4, 1.0, &A));
    PetscCall(MatSetOption(A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
    PetscCall(MatSetValue(A, 0, 2, 0.5, INSERT_VALUES));
    PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
    PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
    PetscCall(McCholCreate(&chol));
    PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
    ierr = McCholSymbolic(chol, A, NULL);
    PetscCall(PetscPopErrorHandler());
    CHECK(ierr == PETSC_ERR_ARG_WRONG, "a structurally unsymmetric matrix gave error %d, expected %d", (int)ierr,
          (int)PETSC_ERR_ARG_WRONG);
    PetscCall(McCholDestroy(&chol));
    PetscCall(MatDestroy(&A));
  }
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(McGCCollect(2, NULL));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
