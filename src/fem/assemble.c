/* The forward model's hot path: the matrix with its value positions, the
 * in-place numeric re-assembly, the solver, and the generic reference path.
 *
 * Every element matrix entry (i, j) has a precomputed code saying where its
 * number goes: an offset in the diagonal block's value array, in the
 * off-diagonal block's (parallel), or in a buffer of rows owned by another
 * rank, which one PetscSF reduction sends to their owners. A solve then
 * never calls MatSetValues, never searches, and never allocates. */
#include "fem_impl.h"
#include "la/la.h"

#include <math.h>
/* For PetscObjectStateIncrease only: after writing the blocks' values of a
 * parallel matrix in place, its own state must move, and 3.18 offers no
 * public call that does just that. */
#include <petsc/private/petscimpl.h>

#define KIND_DIAG   0
#define KIND_OFF    1
#define KIND_REMOTE 2

static PetscInt FindSorted(const PetscInt *a, PetscInt n, PetscInt x)
{
  PetscInt lo = 0, hi = n - 1;
  while (lo <= hi) {
    PetscInt mid = (lo + hi) / 2;
    if (a[mid] == x) return mid;
    if (a[mid] < x)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

/* Offset of column `col` in row `row` of a CSR pattern, or -1. */
static PetscInt FindInRow(const PetscInt *ia, const PetscInt *ja, PetscInt row, PetscInt col)
{
  PetscInt k = FindSorted(ja + ia[row], ia[row + 1] - ia[row], col);
  return k < 0 ? -1 : ia[row] + k;
}

static PetscInt FindSorted64(const PetscInt64 *a, PetscInt n, PetscInt64 x)
{
  PetscInt lo = 0, hi = n - 1;
  while (lo <= hi) {
    PetscInt mid = (lo + hi) / 2;
    if (a[mid] == x) return mid;
    if (a[mid] < x)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

typedef struct {
  PetscInt        rstart, rend;
  const PetscInt *ia, *ja, *iao, *jao, *garray;
  PetscInt        ngarray;
} Pattern;

/* Code of the owned entry (gi, gj), or -1 when the pattern lacks it. */
static PetscInt OwnedCode(const Pattern *p, PetscInt gi, PetscInt gj)
{
  PetscInt r = gi - p->rstart, k;
  if (gj >= p->rstart && gj < p->rend) {
    k = FindInRow(p->ia, p->ja, r, gj - p->rstart);
    return k < 0 ? -1 : 4 * k + KIND_DIAG;
  }
  if (!p->iao) return -1;
  PetscInt lc = FindSorted(p->garray, p->ngarray, gj);
  if (lc < 0) return -1;
  k = FindInRow(p->iao, p->jao, r, lc);
  return k < 0 ? -1 : 4 * k + KIND_OFF;
}

/* Rows owned elsewhere: each rank sends the (row, col) keys it contributes
 * to their owners once; the owners answer with nothing but an offset, and
 * from then on one PetscSF reduction per solve moves the numbers. */
static PetscErrorCode SetUpRemote(McForward fw, const Pattern *p, PetscInt N, PetscInt64 *keys, PetscInt nkeys)
{
  PetscMPIInt     size, *scount, *rcount, *sdispl, *rdispl, *offat;
  const PetscInt *ranges;
  PetscInt64     *rkeys;
  PetscSFNode    *remote;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(fw->comm, &size));
  PetscCall(MatGetOwnershipRanges(fw->A, &ranges));
  PetscCall(PetscCalloc5(size, &scount, size, &rcount, size + 1, &sdispl, size + 1, &rdispl, size, &offat));
  for (PetscInt k = 0, o = 0; k < nkeys; k++) {
    PetscInt gi = (PetscInt)(keys[k] / N);
    while (gi >= ranges[o + 1])
      o++; /* keys are sorted, so owners ascend */
    scount[o]++;
  }
  PetscCallMPI(MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, fw->comm));
  for (PetscMPIInt r = 0; r < size; r++) {
    sdispl[r + 1] = sdispl[r] + scount[r];
    rdispl[r + 1] = rdispl[r] + rcount[r];
  }
  fw->nroots = rdispl[size];
  PetscCall(PetscMalloc1(fw->nroots, &rkeys));
  PetscCallMPI(MPI_Alltoallv(keys, scount, sdispl, MPI_INT64_T, rkeys, rcount, rdispl, MPI_INT64_T, fw->comm));
  PetscCallMPI(MPI_Alltoall(rdispl, 1, MPI_INT, offat, 1, MPI_INT, fw->comm));
  PetscCall(PetscMalloc1(nkeys, &remote));
  for (PetscMPIInt o = 0; o < size; o++)
    for (PetscInt k = sdispl[o]; k < sdispl[o + 1]; k++) {
      remote[k].rank = o;
      remote[k].index = offat[o] + (k - sdispl[o]);
    }
  PetscCall(PetscMalloc1(fw->nroots, &fw->rootcode));
  for (PetscInt k = 0; k < fw->nroots; k++) {
    PetscInt gi = (PetscInt)(rkeys[k] / N), gj = (PetscInt)(rkeys[k] % N);
    fw->rootcode[k] = OwnedCode(p, gi, gj);
    PetscCheck(fw->rootcode[k] >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "entry (%" PetscInt_FMT ", %" PetscInt_FMT ") sent by another rank is not in the matrix pattern", gi,
               gj);
  }
  PetscCall(PetscSFCreate(fw->comm, &fw->sf));
  PetscCall(PetscSFSetGraph(fw->sf, fw->nroots, nkeys, NULL, PETSC_COPY_VALUES, remote, PETSC_OWN_POINTER));
  PetscCall(PetscSFSetUp(fw->sf));
  PetscCall(PetscMalloc2(nkeys, &fw->leafbuf, fw->nroots, &fw->rootbuf));
  PetscCall(PetscFree(rkeys));
  PetscCall(PetscFree5(scount, rcount, sdispl, rdispl, offat));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSetUpMatrix_Private(McForward fw)
{
  PetscInt     nb = fw->nb, N, nrows, n;
  PetscScalar *zeros;
  PetscBool    mpi, done;
  Mat          Ad, Ao = NULL;
  Pattern      p = {0};
  PetscInt64  *keys;
  PetscInt     nkeys = 0;
  PetscMPIInt  size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(fw->comm, &size));
  PetscCall(DMCreateMatrix(fw->dm, &fw->A));
  PetscCall(MatSetOption(fw->A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
  /* The pattern is exactly the element couplings: insert zeros for all of
   * them once, then freeze it. */
  PetscCall(PetscCalloc1(nb * nb, &zeros));
  for (PetscInt c = 0; c < fw->ncells; c++)
    PetscCall(MatSetValues(fw->A, nb, &fw->gtmp[c * nb], nb, &fw->gtmp[c * nb], zeros, ADD_VALUES));
  PetscCall(PetscFree(zeros));
  PetscCall(MatAssemblyBegin(fw->A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(fw->A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatSetOption(fw->A, MAT_NEW_NONZERO_LOCATION_ERR, PETSC_TRUE));
  PetscCall(MatSetOption(fw->A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetOption(fw->A, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
  PetscCall(MatSetOption(fw->A, MAT_SPD, PETSC_TRUE));
  PetscCall(MatSetOption(fw->A, MAT_SPD_ETERNAL, PETSC_TRUE));

  PetscCall(MatGetSize(fw->A, &N, NULL));
  PetscCall(MatGetOwnershipRange(fw->A, &p.rstart, &p.rend));
  PetscCall(PetscObjectTypeCompare((PetscObject)fw->A, MATMPIAIJ, &mpi));
  if (mpi)
    PetscCall(MatMPIAIJGetSeqAIJ(fw->A, &Ad, &Ao, &p.garray));
  else {
    PetscCall(PetscObjectTypeCompare((PetscObject)fw->A, MATSEQAIJ, &done));
    const char *type;
    PetscCall(PetscObjectGetType((PetscObject)fw->A, &type));
    PetscCheck(done, fw->comm, PETSC_ERR_SUP, "the fast assembly needs an AIJ matrix, got %s", type);
    Ad = fw->A;
  }
  PetscCall(MatGetRowIJ(Ad, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &p.ia, &p.ja, &done));
  PetscCheck(done, PETSC_COMM_SELF, PETSC_ERR_SUP, "no CSR access to the matrix");
  fw->nA = p.ia[nrows];
  if (Ao) {
    PetscCall(MatGetRowIJ(Ao, 0, PETSC_FALSE, PETSC_FALSE, &n, &p.iao, &p.jao, &done));
    PetscCheck(done, PETSC_COMM_SELF, PETSC_ERR_SUP, "no CSR access to the off-diagonal block");
    fw->nB = p.iao[n];
    PetscCall(MatGetSize(Ao, NULL, &p.ngarray));
  }

  /* Keys of the entries in rows owned by other ranks. */
  PetscCall(PetscMalloc1((size_t)fw->ncells * nb * nb + 1, &keys));
  for (PetscInt c = 0; c < fw->ncells; c++)
    for (PetscInt i = 0; i < nb; i++) {
      PetscInt gi = fw->gtmp[c * nb + i];
      if (gi < 0 || (gi >= p.rstart && gi < p.rend)) continue;
      for (PetscInt j = 0; j < nb; j++) {
        PetscInt gj = fw->gtmp[c * nb + j];
        if (gj >= 0) keys[nkeys++] = (PetscInt64)gi * N + gj;
      }
    }
  PetscCall(PetscSortInt64(nkeys, keys));
  {
    PetscInt u = 0;
    for (PetscInt k = 0; k < nkeys; k++)
      if (u == 0 || keys[k] != keys[u - 1]) keys[u++] = keys[k];
    nkeys = u;
  }
  fw->nleaves = nkeys;

  PetscCall(PetscMalloc1((size_t)fw->ncells * nb * nb, &fw->pos));
  for (PetscInt c = 0; c < fw->ncells; c++)
    for (PetscInt i = 0; i < nb; i++)
      for (PetscInt j = 0; j < nb; j++) {
        PetscInt gi = fw->gtmp[c * nb + i], gj = fw->gtmp[c * nb + j], code = -1;
        if (gi >= 0 && gj >= 0) {
          if (gi >= p.rstart && gi < p.rend) {
            code = OwnedCode(&p, gi, gj);
            PetscCheck(code >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB,
                       "element entry (%" PetscInt_FMT ", %" PetscInt_FMT ") is not in the matrix pattern", gi, gj);
          } else
            code = 4 * FindSorted64(keys, nkeys, (PetscInt64)gi * N + gj) + KIND_REMOTE;
        }
        fw->pos[((size_t)c * nb + i) * nb + j] = code;
      }
  if (size > 1) PetscCall(SetUpRemote(fw, &p, N, keys, nkeys));
  PetscCall(PetscFree(keys));
  PetscCall(MatRestoreRowIJ(Ad, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &p.ia, &p.ja, &done));
  if (Ao) PetscCall(MatRestoreRowIJ(Ao, 0, PETSC_FALSE, PETSC_FALSE, &n, &p.iao, &p.jao, &done));
  if (size > 1) PetscCall(PetscFree(fw->gtmp)); /* one rank keeps it: lifting rows of b */
  PetscFunctionReturn(0);
}

/* Direct Cholesky by default: on one rank the project's supernodal mcchol
 * (src/la) with nested dissection, the fastest here at every size measured
 * (1089 to 66049 dofs in 2D, 29791 in 3D: 2-5x PETSc's own and MUMPS's
 * numeric factorisation), MUMPS in parallel; CG + GAMG for very large
 * problems. Options override all (-pc_factor_mat_solver_type petsc: PETSc's
 * own). */
static PetscErrorCode SetDefaultSolver(KSP ksp, PetscInt N, PetscMPIInt size)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPGetPC(ksp, &pc));
  if (N > 2000000) {
    PetscCall(KSPSetType(ksp, KSPCG));
    PetscCall(PCSetType(pc, PCGAMG));
    PetscCall(KSPSetTolerances(ksp, 1e-10, 1e-50, PETSC_DEFAULT, 2000));
    PetscFunctionReturn(0);
  }
  PetscCall(KSPSetType(ksp, KSPPREONLY));
  PetscCall(PCSetType(pc, PCCHOLESKY));
  if (size == 1) {
    PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERMCCHOL));
    PetscCall(PCFactorSetMatOrderingType(pc, MATORDERINGND));
  } else
    PetscCall(PCFactorSetMatSolverType(pc, MATSOLVERMUMPS));
  PetscFunctionReturn(0);
}

static PetscErrorCode CreateSolver(McForward fw, Mat A, KSP *ksp)
{
  PetscInt    N;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(fw->comm, &size));
  PetscCall(MatGetSize(A, &N, NULL));
  PetscCall(McCholRegister());
  PetscCall(KSPCreate(fw->comm, ksp));
  PetscCall(KSPSetOperators(*ksp, A, A));
  PetscCall(SetDefaultSolver(*ksp, N, size));
  if (fw->prefix) PetscCall(KSPSetOptionsPrefix(*ksp, fw->prefix));
  PetscCall(KSPSetFromOptions(*ksp));
  PetscFunctionReturn(0);
}

static PetscErrorCode ApplyFactor(PC pc, Vec x, Vec y)
{
  McForward fw;

  PetscFunctionBeginUser;
  PetscCall(PCShellGetContext(pc, &fw));
  PetscCall(MatSolve(fw->F, x, y));
  PetscFunctionReturn(0);
}

/* CG on the current operator, preconditioned by the factorisation of an
 * earlier one: a small change of m (an MCMC proposal) costs a few CG
 * iterations instead of a refactorisation. Zero initial guess, so the result
 * depends only on m and the factored state, never on earlier solves. Options
 * under <prefix>reuse_ (e.g. -fwd_reuse_ksp_rtol, -fwd_reuse_ksp_max_it). */
static PetscErrorCode SetUpReuse(McForward fw)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(fw->comm, &fw->kspreuse));
  PetscCall(KSPSetType(fw->kspreuse, KSPCG));
  PetscCall(KSPSetOperators(fw->kspreuse, fw->A, fw->A));
  PetscCall(KSPGetPC(fw->kspreuse, &pc));
  PetscCall(PCSetType(pc, PCSHELL));
  PetscCall(PCShellSetContext(pc, fw));
  PetscCall(PCShellSetApply(pc, ApplyFactor));
  PetscCall(PCShellSetName(pc, "factorisation of the last refactorised state"));
  PetscCall(KSPSetTolerances(fw->kspreuse, 1e-10, 1e-50, PETSC_DEFAULT, 50));
  if (fw->prefix) PetscCall(KSPSetOptionsPrefix(fw->kspreuse, fw->prefix));
  PetscCall(KSPAppendOptionsPrefix(fw->kspreuse, "reuse_"));
  PetscCall(KSPSetFromOptions(fw->kspreuse));
  PetscCall(KSPSetUp(fw->kspreuse));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSetUpSolver_Private(McForward fw)
{
  Vec m0;
  Mat A;
  Vec b;

  PetscFunctionBeginUser;
  PetscCall(CreateSolver(fw, fw->A, &fw->ksp));
  /* Symbolic and a first numeric factorisation (or preconditioner) now, so
   * no solve ever pays for structure. */
  PetscCall(DMCreateGlobalVector(fw->mspace->dm, &m0));
  PetscCall(VecZeroEntries(m0));
  fw->setup = PETSC_TRUE; /* McForwardAssemble checks it */
  PetscCall(McForwardAssemble(fw, m0, &A, &b));
  PetscCall(VecDestroy(&m0));
  PetscCall(KSPSetUp(fw->ksp));
  /* The hot path bypasses KSPSolve, whose -ksp_view would never fire. */
  PetscCall(KSPViewFromOptions(fw->ksp, NULL, "-ksp_view"));
  /* A plain direct solver is driven through its factor: PCSetUp would
   * re-copy its options prefix (an allocation) on every refactorisation. */
  {
    KSPType   ktype;
    PC        pc;
    PetscBool preonly, chol, lu;
    PetscCall(KSPGetType(fw->ksp, &ktype));
    PetscCall(PetscStrcmp(ktype, KSPPREONLY, &preonly));
    PetscCall(KSPGetPC(fw->ksp, &pc));
    PetscCall(PetscObjectTypeCompare((PetscObject)pc, PCCHOLESKY, &chol));
    PetscCall(PetscObjectTypeCompare((PetscObject)pc, PCLU, &lu));
    if (preonly && (chol || lu)) {
      PetscCall(PCFactorGetMatrix(pc, &fw->F));
      fw->Fchol = chol;
      fw->Fok = PETSC_TRUE;
      PetscCall(PetscObjectStateGet((PetscObject)fw->A, &fw->Fstate));
      PetscCall(SetUpReuse(fw));
    }
  }
  PetscFunctionReturn(0);
}

/* Numeric refactorisation (symbolic reused) when the operator changed since
 * the last factorisation, timed separately from the solve. */
static PetscErrorCode Refactor(McForward fw, PetscBool *ok)
{
  PetscObjectState state;
  PC               pc;

  PetscFunctionBeginUser;
  *ok = PETSC_TRUE;
  if (!fw->F) {
    PetscCall(KSPGetPC(fw->ksp, &pc));
    PetscCall(PCSetUp(pc));
    PetscFunctionReturn(0);
  }
  PetscCall(PetscObjectStateGet((PetscObject)fw->A, &state));
  if (state != fw->Fstate) {
    MatFactorInfo  info;
    MatFactorError err;
    PetscCall(MatFactorInfoInitialize(&info));
    info.zeropivot = 100 * PETSC_MACHINE_EPSILON; /* PCFactor's default */
    if (fw->Fchol)
      PetscCall(MatCholeskyFactorNumeric(fw->F, fw->A, &info));
    else
      PetscCall(MatLUFactorNumeric(fw->F, fw->A, &info));
    fw->Fstate = state;
    fw->nfactor++;
    PetscCall(MatFactorGetError(fw->F, &err));
    fw->Fok = err == MAT_FACTOR_NOERROR ? PETSC_TRUE : PETSC_FALSE;
  }
  *ok = fw->Fok;
  PetscFunctionReturn(0);
}

/* x = A^-1 b with the current factorisation or preconditioner. A solver
 * failure is reported in *ok, not raised. */
PetscErrorCode McForwardLinearSolve_Private(McForward fw, Vec b, Vec x, PetscBool *ok)
{
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  if (fw->F) {
    PetscCall(Refactor(fw, ok));
    if (*ok) PetscCall(MatSolve(fw->F, b, x));
    PetscFunctionReturn(0);
  }
  PetscCall(KSPSolve(fw->ksp, b, x));
  PetscCall(KSPGetConvergedReason(fw->ksp, &reason));
  *ok = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------ fast assembly */

/* The serial cell loop with the sizes known at compile time, for the
 * common element pairs (P1/Q1 state with P1/Q1 m): the compiler unrolls the
 * small loops, which halves the cost per cell. Same arithmetic, in the same
 * order, as the generic loop below. */
#define MC_DEFINE_SERIAL_KERNEL(NB, NBM, NQ)                                                                           \
  static void SerialKernel_##NB##_##NBM##_##NQ(McForward fw, const PetscScalar *ma, const PetscScalar *ga,             \
                                               PetscScalar *barr, PetscScalar *vA)                                     \
  {                                                                                                                    \
    enum { NS = NB * (NB + 1) / 2 };                                                                                   \
    const PetscReal *Nm = fw->Nm;                                                                                      \
    for (PetscInt c = 0; c < fw->ncells; c++) {                                                                        \
      const PetscInt  *mi = &fw->midx[c * NBM];                                                                        \
      const PetscReal *G = &fw->Gq[(size_t)c * NQ * NS];                                                               \
      const PetscInt  *pos = &fw->pos[(size_t)c * NB * NB];                                                            \
      PetscReal        Ke[NS], mv[NBM], *kq = &fw->kc[(size_t)c * NQ];                                                 \
      for (PetscInt a = 0; a < NBM; a++)                                                                               \
        mv[a] = PetscRealPart(ma[mi[a]]);                                                                              \
      for (PetscInt q = 0; q < NQ; q++) {                                                                              \
        PetscReal mq = 0;                                                                                              \
        for (PetscInt a = 0; a < NBM; a++)                                                                             \
          mq += Nm[q * NBM + a] * mv[a];                                                                               \
        kq[q] = exp(mq);                                                                                               \
      }                                                                                                                \
      for (PetscInt k = 0; k < NS; k++)                                                                                \
        Ke[k] = kq[0] * G[k];                                                                                          \
      for (PetscInt q = 1; q < NQ; q++)                                                                                \
        for (PetscInt k = 0; k < NS; k++)                                                                              \
          Ke[k] += kq[q] * G[q * NS + k];                                                                              \
      for (PetscInt i = 0, k = 0; i < NB; i++)                                                                         \
        for (PetscInt j = i; j < NB; j++, k++) {                                                                       \
          PetscInt code = pos[i * NB + j];                                                                             \
          if (code >= 0) vA[code >> 2] += Ke[k];                                                                       \
          if (j == i) continue;                                                                                        \
          code = pos[j * NB + i];                                                                                      \
          if (code >= 0) vA[code >> 2] += Ke[k];                                                                       \
        }                                                                                                              \
      if (fw->hasbc[c]) {                                                                                              \
        const PetscInt *ui = &fw->uidx[c * NB], *gi = &fw->gtmp[c * NB];                                               \
        const char     *cn = &fw->con[c * NB];                                                                         \
        for (PetscInt i = 0, k = 0; i < NB; i++)                                                                       \
          for (PetscInt j = i; j < NB; j++, k++) {                                                                     \
            if (!cn[i] && cn[j]) barr[gi[i]] -= Ke[k] * ga[ui[j]];                                                     \
            if (cn[i] && !cn[j]) barr[gi[j]] -= Ke[k] * ga[ui[i]];                                                     \
          }                                                                                                            \
      }                                                                                                                \
    }                                                                                                                  \
  }
MC_DEFINE_SERIAL_KERNEL(3, 3, 1) /* P1 triangles */
MC_DEFINE_SERIAL_KERNEL(4, 4, 1) /* P1 tetrahedra */
MC_DEFINE_SERIAL_KERNEL(4, 4, 4) /* Q1 quadrilaterals */
MC_DEFINE_SERIAL_KERNEL(8, 8, 8) /* Q1 hexahedra */
MC_DEFINE_SERIAL_KERNEL(6, 3, 4) /* P2 triangles with P1 m (poisson-benchmark) */
MC_DEFINE_SERIAL_KERNEL(10, 4, 8) /* P2 tetrahedra with P1 m */

typedef void (*SerialKernel)(McForward, const PetscScalar *, const PetscScalar *, PetscScalar *, PetscScalar *);

static SerialKernel FindSerialKernel(McForward fw)
{
  if (fw->sf) return NULL;
  if (fw->nb == 3 && fw->nbm == 3 && fw->nq == 1) return SerialKernel_3_3_1;
  if (fw->nb == 4 && fw->nbm == 4 && fw->nq == 1) return SerialKernel_4_4_1;
  if (fw->nb == 4 && fw->nbm == 4 && fw->nq == 4) return SerialKernel_4_4_4;
  if (fw->nb == 8 && fw->nbm == 8 && fw->nq == 8) return SerialKernel_8_8_8;
  if (fw->nb == 6 && fw->nbm == 3 && fw->nq == 4) return SerialKernel_6_3_4;
  if (fw->nb == 10 && fw->nbm == 4 && fw->nq == 8) return SerialKernel_10_4_8;
  return NULL;
}

PetscErrorCode McForwardAssemble(McForward fw, Vec m, Mat *A, Vec *b)
{
  const PetscInt     nb = fw->nb, nbm = fw->nbm, nq = fw->nq, ns = fw->ns;
  Mat                Ad = fw->A, Ao = NULL;
  PetscScalar       *base[3] = {NULL, NULL, fw->leafbuf}, *lift;
  const PetscScalar *ma, *ga;
  PetscReal         *kq = fw->kq, *Ke = fw->Ke, *mv = fw->mv;

  PetscFunctionBeginUser;
  PetscCheck(fw->setup, fw->comm, PETSC_ERR_ORDER, "call McForwardSetUp() before assembling");
  fw->kc_valid = PETSC_FALSE;
  PetscCall(DMGlobalToLocal(fw->mspace->dm, m, INSERT_VALUES, fw->mloc));
  if (fw->sf) PetscCall(MatMPIAIJGetSeqAIJ(fw->A, &Ad, &Ao, NULL));
  PetscCall(MatSeqAIJGetArray(Ad, &base[0]));
  PetscCall(PetscArrayzero(base[0], fw->nA));
  if (Ao) {
    PetscCall(MatSeqAIJGetArray(Ao, &base[1]));
    PetscCall(PetscArrayzero(base[1], fw->nB));
  }
  if (fw->nleaves) PetscCall(PetscArrayzero(fw->leafbuf, fw->nleaves));
  PetscCall(VecGetArrayRead(fw->mloc, &ma));
  PetscCall(VecGetArrayRead(fw->gloc, &ga));
  SerialKernel kernel = FindSerialKernel(fw);
  if (kernel) {
    /* One rank: the lifting goes straight into b. */
    PetscScalar *barr;
    PetscCall(VecCopy(fw->b0, fw->b));
    PetscCall(VecGetArray(fw->b, &barr));
    kernel(fw, ma, ga, barr, base[0]);
    PetscCall(VecRestoreArray(fw->b, &barr));
  } else {
    PetscCall(VecZeroEntries(fw->liftloc));
    PetscCall(VecGetArray(fw->liftloc, &lift));
    for (PetscInt c = 0; c < fw->ncells; c++) {
      const PetscInt  *mi = &fw->midx[c * nbm];
      const PetscReal *G = &fw->Gq[(size_t)c * nq * ns];
      const PetscInt  *pos = &fw->pos[(size_t)c * nb * nb];
      kq = &fw->kc[(size_t)c * nq];
      for (PetscInt a = 0; a < nbm; a++)
        mv[a] = PetscRealPart(ma[mi[a]]);
      for (PetscInt q = 0; q < nq; q++) {
        PetscReal mq = 0;
        for (PetscInt a = 0; a < nbm; a++)
          mq += fw->Nm[q * nbm + a] * mv[a];
        kq[q] = exp(mq);
      }
      for (PetscInt k = 0; k < ns; k++)
        Ke[k] = kq[0] * G[k];
      for (PetscInt q = 1; q < nq; q++)
        for (PetscInt k = 0; k < ns; k++)
          Ke[k] += kq[q] * G[q * ns + k];
      for (PetscInt i = 0, k = 0; i < nb; i++)
        for (PetscInt j = i; j < nb; j++, k++) {
          PetscInt code = pos[i * nb + j];
          if (code >= 0) base[code & 3][code >> 2] += Ke[k];
          if (j == i) continue;
          code = pos[j * nb + i];
          if (code >= 0) base[code & 3][code >> 2] += Ke[k];
        }
      if (fw->hasbc[c]) {
        /* Lifting: free rows take -K_ij g_j from Dirichlet columns. */
        const PetscInt *ui = &fw->uidx[c * nb];
        const char     *cn = &fw->con[c * nb];
        for (PetscInt i = 0, k = 0; i < nb; i++)
          for (PetscInt j = i; j < nb; j++, k++) {
            if (!cn[i] && cn[j]) lift[ui[i]] -= Ke[k] * ga[ui[j]];
            if (cn[i] && !cn[j]) lift[ui[j]] -= Ke[k] * ga[ui[i]];
          }
      }
    }
    PetscCall(VecRestoreArray(fw->liftloc, &lift));
    PetscCall(VecCopy(fw->b0, fw->b));
    PetscCall(DMLocalToGlobal(fw->dm, fw->liftloc, ADD_VALUES, fw->b));
  }
  PetscCall(VecRestoreArrayRead(fw->gloc, &ga));
  PetscCall(VecRestoreArrayRead(fw->mloc, &ma));
  fw->kc_valid = PETSC_TRUE;
  if (fw->sf) {
    PetscCall(PetscSFReduceBegin(fw->sf, MPIU_SCALAR, fw->leafbuf, fw->rootbuf, MPI_REPLACE));
    PetscCall(PetscSFReduceEnd(fw->sf, MPIU_SCALAR, fw->leafbuf, fw->rootbuf, MPI_REPLACE));
    for (PetscInt k = 0; k < fw->nroots; k++)
      base[fw->rootcode[k] & 3][fw->rootcode[k] >> 2] += fw->rootbuf[k];
  }
  if (Ao) PetscCall(MatSeqAIJRestoreArray(Ao, &base[1]));
  PetscCall(MatSeqAIJRestoreArray(Ad, &base[0]));
  /* The blocks' states moved; the parallel matrix must say so too, or the
   * preconditioner would not refactor. */
  if (Ao) PetscCall(PetscObjectStateIncrease((PetscObject)fw->A));
  *A = fw->A;
  *b = fw->b;
  PetscFunctionReturn(0);
}

/* The state with its Dirichlet values, locally and as a global vector of
 * the state space. */
static PetscErrorCode UpdateState(McForward fw, Vec u)
{
  PetscFunctionBeginUser;
  if (fw->gof && fw->ufull_identity) {
    /* One rank: the same scatters as below, without the DM's point walk. */
    const PetscScalar *ua, *ga;
    PetscScalar       *la;
    PetscInt           n;
    PetscCall(VecGetLocalSize(fw->uloc, &n));
    PetscCall(VecGetArrayRead(u, &ua));
    PetscCall(VecGetArrayRead(fw->gloc, &ga));
    PetscCall(VecGetArray(fw->uloc, &la));
    for (PetscInt i = 0; i < n; i++)
      la[i] = fw->gof[i] >= 0 ? ua[fw->gof[i]] : ga[i];
    PetscCall(VecRestoreArray(fw->uloc, &la));
    PetscCall(VecRestoreArrayRead(fw->gloc, &ga));
    PetscCall(VecRestoreArrayRead(u, &ua));
    PetscCall(VecCopy(fw->uloc, fw->ufull));
    PetscFunctionReturn(0);
  }
  PetscCall(VecCopy(fw->gloc, fw->uloc));
  PetscCall(DMGlobalToLocal(fw->dm, u, INSERT_VALUES, fw->uloc));
  PetscCall(DMLocalToGlobal(fw->uspace->dm, fw->uloc, INSERT_VALUES, fw->ufull));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSolve(McForward fw, Vec m, PetscBool *converged)
{
  PetscLogDouble t0, t1, t2, t3, t4;
  Mat            A;
  Vec            b;
  PetscBool      ok;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(McForwardAssemble(fw, m, &A, &b));
  PetscCall(PetscTime(&t1));
  PetscCall(Refactor(fw, &ok));
  PetscCall(PetscTime(&t2));
  if (ok) PetscCall(McForwardLinearSolve_Private(fw, fw->b, fw->u, &ok));
  PetscCall(PetscTime(&t3));
  *converged = ok;
  if (ok) PetscCall(UpdateState(fw, fw->u));
  PetscCall(PetscTime(&t4));
  fw->times.assembly = t1 - t0;
  fw->times.factorisation = t2 - t1;
  fw->times.solve = t3 - t2;
  fw->times.total = t4 - t0;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardRefactor(McForward fw, PetscBool *ok)
{
  PetscFunctionBeginUser;
  PetscCall(Refactor(fw, ok));
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardHasReuse(McForward fw, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = fw->kspreuse ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardGetFactorCount(McForward fw, PetscInt64 *n)
{
  PetscFunctionBeginUser;
  *n = fw->nfactor;
  PetscFunctionReturn(0);
}

/* Cost in flops of one numeric factorisation (mcchol counts them) against
 * one CG iteration: the two triangular solves (4 nnz(L)), the product with
 * the operator (2 nnz(A), both triangles) and ~10 n of vector updates. The
 * factorisation's dense kernels run faster per flop than the solves' gather
 * and scatter: rho = 0.63, the ratio of the two rates measured with
 * mc-bench-fem on P1 32^2 to 128^2 and 16^3 tetrahedra (0.59-0.68; the
 * predicted break-even iterations 4.4, 6.1, 9.9 and 29 matched the timed
 * ones within 10%). */
PetscErrorCode McForwardGetReuseBreakEven(McForward fw, PetscReal *its)
{
  const PetscReal rho = 0.63;
  McCholInfo      ci;
  PetscBool       is = PETSC_FALSE;
  PetscReal       solve, iter;

  PetscFunctionBeginUser;
  *its = 0;
  if (fw->F && fw->Fchol) PetscCall(McCholGetFactorInfo(fw->F, &is, &ci));
  if (!is) PetscFunctionReturn(0);
  solve = 4.0 * (PetscReal)ci.nnzL;
  iter = solve + 2.0 * (2.0 * (PetscReal)ci.nnzA - ci.n) + 10.0 * ci.n;
  *its = (rho * ci.flops + solve) / iter;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSolveReuse(McForward fw, Vec m, PetscBool *converged, PetscInt *its, PetscBool *refactored)
{
  PetscLogDouble     t0, t1, t2, t3, t4;
  Mat                A;
  Vec                b;
  PetscBool          ok;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCheck(fw->kspreuse, fw->comm, PETSC_ERR_ARG_WRONGSTATE,
             "reusing the factorisation needs a direct solver (KSP preonly with PC cholesky or lu)");
  PetscCall(PetscTime(&t0));
  PetscCall(McForwardAssemble(fw, m, &A, &b));
  PetscCall(PetscTime(&t1));
  t2 = t1;
  *refactored = PETSC_FALSE;
  ok = fw->Fok;
  if (ok) {
    PetscCall(KSPSolve(fw->kspreuse, fw->b, fw->u));
    PetscCall(KSPGetConvergedReason(fw->kspreuse, &reason));
    PetscCall(KSPGetIterationNumber(fw->kspreuse, its));
    ok = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  }
  if (!ok) {
    /* CG did not converge (the factor is too far from this operator, or
     * failed): refactorise now and solve directly. */
    *refactored = PETSC_TRUE;
    *its = 0;
    PetscCall(PetscTime(&t1));
    PetscCall(Refactor(fw, &ok));
    PetscCall(PetscTime(&t2));
    if (ok) PetscCall(McForwardLinearSolve_Private(fw, fw->b, fw->u, &ok));
  }
  PetscCall(PetscTime(&t3));
  *converged = ok;
  if (ok) PetscCall(UpdateState(fw, fw->u));
  PetscCall(PetscTime(&t4));
  fw->times.assembly = t1 - t0;
  fw->times.factorisation = t2 - t1;
  fw->times.solve = t3 - t2;
  fw->times.total = t4 - t0;
  PetscFunctionReturn(0);
}

/* ----------------------------------------------- generic (reference) */

PetscErrorCode McForwardAssembleGeneric(McForward fw, Vec m, Mat *A, Vec *b)
{
  PetscFunctionBeginUser;
  PetscCheck(fw->setup, fw->comm, PETSC_ERR_ORDER, "call McForwardSetUp() before assembling");
  if (!fw->Agen) {
    PetscCall(DMCreateMatrix(fw->dm, &fw->Agen));
    PetscCall(DMCreateGlobalVector(fw->dm, &fw->bgen));
    PetscCall(VecDuplicate(fw->bgen, &fw->ugen));
  }
  PetscCall(DMGlobalToLocal(fw->mspace->dm, m, INSERT_VALUES, fw->mloc));
  fw->kc_valid = PETSC_FALSE;
  /* Residual at u = the Dirichlet values, zero elsewhere: minus the
   * right-hand side, lifting included. */
  PetscCall(VecZeroEntries(fw->zloc));
  PetscCall(DMPlexSNESComputeResidualFEM(fw->dm, fw->gloc, fw->zloc, NULL));
  PetscCall(VecZeroEntries(fw->bgen));
  PetscCall(DMLocalToGlobal(fw->dm, fw->zloc, ADD_VALUES, fw->bgen));
  PetscCall(VecScale(fw->bgen, -1.0));
  PetscCall(MatZeroEntries(fw->Agen));
  PetscCall(DMPlexSNESComputeJacobianFEM(fw->dm, fw->gloc, fw->Agen, fw->Agen, NULL));
  *A = fw->Agen;
  *b = fw->bgen;
  PetscFunctionReturn(0);
}

PetscErrorCode McForwardSolveGeneric(McForward fw, Vec m, PetscBool *converged)
{
  PetscLogDouble     t0, t1, t2, t3, t4;
  Mat                A;
  Vec                b;
  PC                 pc;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCall(PetscTime(&t0));
  PetscCall(McForwardAssembleGeneric(fw, m, &A, &b));
  PetscCall(PetscTime(&t1));
  if (!fw->kspgen) PetscCall(CreateSolver(fw, fw->Agen, &fw->kspgen));
  PetscCall(KSPGetPC(fw->kspgen, &pc));
  PetscCall(PCSetUp(pc));
  PetscCall(PetscTime(&t2));
  PetscCall(KSPSolve(fw->kspgen, fw->bgen, fw->ugen));
  PetscCall(PetscTime(&t3));
  PetscCall(KSPGetConvergedReason(fw->kspgen, &reason));
  *converged = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(VecCopy(fw->ugen, fw->u));
  PetscCall(UpdateState(fw, fw->u));
  PetscCall(PetscTime(&t4));
  fw->times.assembly = t1 - t0;
  fw->times.factorisation = t2 - t1;
  fw->times.solve = t3 - t2;
  fw->times.total = t4 - t0;
  PetscFunctionReturn(0);
}

/* ------------------------------------------------------------- errors */

PetscErrorCode McForwardComputeErrors(McForward fw, McPointFn exact,
                                      PetscErrorCode (*exact_grad)(PetscInt, const PetscReal[], PetscScalar[], void *),
                                      void *ctx, PetscReal *l2, PetscReal *h1semi)
{
  PetscInt           dim = fw->mesh->dim, nb = fw->nb, nq, qdim, qnc;
  PetscQuadrature    quad;
  const PetscReal   *pts, *w;
  PetscTabulation    T;
  PetscReal         *v, *J, *invJ, *detJ, sums[2] = {0, 0}, gsum[2];
  const PetscScalar *ua;

  PetscFunctionBeginUser;
  /* Two points per direction more than the assembly: the error's own
   * quadrature error must be far below the error measured. */
  if (fw->mesh->simplex)
    PetscCall(PetscDTStroudConicalQuadrature(dim, 1, fw->spec.order + 3, -1.0, 1.0, &quad));
  else
    PetscCall(PetscDTGaussTensorQuadrature(dim, 1, fw->spec.order + 3, -1.0, 1.0, &quad));
  PetscCall(PetscQuadratureGetData(quad, &qdim, &qnc, &nq, &pts, &w));
  PetscCall(PetscFECreateTabulation(fw->uspace->fe, 1, nq, pts, 1, &T));
  PetscCall(PetscMalloc4(nq * dim, &v, nq * dim * dim, &J, nq * dim * dim, &invJ, nq, &detJ));
  PetscCall(VecGetArrayRead(fw->uloc, &ua));
  for (PetscInt c = 0; c < fw->ncells; c++) {
    const PetscInt *ui = &fw->uidx[c * nb];
    PetscCall(DMPlexComputeCellGeometryFEM(fw->dm, fw->cStart + c, quad, v, J, invJ, detJ));
    for (PetscInt q = 0; q < nq; q++) {
      PetscScalar ue, ge[3] = {0, 0, 0};
      PetscReal   uh = 0, gh[3] = {0, 0, 0};
      PetscCall(exact(dim, &v[q * dim], &ue, ctx));
      PetscCall(exact_grad(dim, &v[q * dim], ge, ctx));
      for (PetscInt i = 0; i < nb; i++) {
        PetscReal ci = PetscRealPart(ua[ui[i]]);
        uh += T->T[0][q * nb + i] * ci;
        for (PetscInt d = 0; d < dim; d++)
          for (PetscInt e = 0; e < dim; e++)
            gh[d] += invJ[q * dim * dim + e * dim + d] * T->T[1][(q * nb + i) * dim + e] * ci;
      }
      PetscReal wd = w[q] * detJ[q];
      sums[0] += wd * PetscSqr(uh - PetscRealPart(ue));
      for (PetscInt d = 0; d < dim; d++)
        sums[1] += wd * PetscSqr(gh[d] - PetscRealPart(ge[d]));
    }
  }
  PetscCall(VecRestoreArrayRead(fw->uloc, &ua));
  PetscCall(PetscFree4(v, J, invJ, detJ));
  PetscCall(PetscTabulationDestroy(&T));
  PetscCall(PetscQuadratureDestroy(&quad));
  PetscCall(MPIU_Allreduce(sums, gsum, 2, MPIU_REAL, MPIU_SUM, fw->comm));
  *l2 = PetscSqrtReal(gsum[0]);
  *h1semi = PetscSqrtReal(gsum[1]);
  PetscFunctionReturn(0);
}
