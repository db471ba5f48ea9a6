/* The same forward model on all ranks of PETSC_COMM_WORLD (distributed
 * DMPlex, MUMPS) and on PETSC_COMM_SELF (serial reference on each rank):
 * observations, misfit and the directional derivative g.dm must agree to
 * 1e-10 relative; and on the distributed mesh the fast assembly (with its
 * PetscSF for rows owned by the other rank) must equal the generic one.
 *
 * With -iterative (and -par_ksp_type cg -par_pc_type gamg -par_ksp_rtol
 * 1e-10) both sides solve with CG + algebraic multigrid, the default for
 * large problems: the preconditioner differs between the partitions, so the
 * answers agree to the solver's tolerance only: a relative residual of
 * 1e-10 bounds the relative error by 1e-10 times the condition number (a
 * few hundred on these small meshes); measured 2e-11..7e-11 in the
 * observations, 4e-11 in g.dm. The check is at 1e-8. */
#include "fem_test.h"

#include <string.h>

static PetscBool iterative;
static PetscReal tol = 1e-10;

static PetscErrorCode MField(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx;
  *v = 0.4 * PetscSinReal(2 * x[0] + 1) * PetscCosReal(3 * x[1]) + (dim == 3 ? 0.2 * x[2] : 0.0);
  return 0;
}

static PetscErrorCode Direction(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx, (void)dim;
  *v = PetscCosReal(x[0] - 2 * x[1]);
  return 0;
}

typedef struct {
  PetscReal obs[64];
  PetscReal misfit, gdm, matdiff, rhsdiff;
} Result;

static PetscErrorCode Run(MPI_Comm comm, PetscInt dim, PetscInt n, PetscBool simplex, PetscInt order, PetscInt npts,
                          const PetscReal *pts, Result *r)
{
  McMesh        mesh;
  McMeshSpec    ms = BoxSpec(dim, n, simplex);
  McPDESpec     ps;
  McForward     fw;
  McSpace       mspace, uspace;
  McObsOperator obs;
  McNoise       noise = {4.0, NULL};
  McWell        wells[2] = {{{0.3, 0.3, 0.5}, 0.1, 2.0}, {{0.7, 0.6, 0.5}, 0.1, -1.0}};
  Vec           m, g, dm, d, u, dall;
  VecScatter    sc;
  PetscBool     ok;
  PetscScalar   s;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(comm, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.nwells = 2;
  ps.wells = wells;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.0;
  ps.dirichlet_labels[1] = "bottom";
  ps.dirichlet_values[1] = 0.5;
  ps.nneumann = 1;
  ps.neumann_labels[0] = "right";
  ps.neumann_values[0] = -0.3;
  ps.options_prefix = "par_";
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  {
    /* Force MUMPS on both sides: same direct solver, so agreement is to
     * rounding. Or CG + GAMG on both (-iterative). */
    KSP       ksp;
    PC        pc;
    PetscBool cg, gamg;
    PetscCall(McForwardGetKSP(fw, &ksp));
    PetscCall(KSPGetPC(ksp, &pc));
    if (iterative) {
      PetscCall(PetscObjectTypeCompare((PetscObject)ksp, KSPCG, &cg));
      PetscCall(PetscObjectTypeCompare((PetscObject)pc, PCGAMG, &gamg));
      PetscCheck(cg && gamg, comm, PETSC_ERR_ARG_WRONG,
                 "expected CG + GAMG (run with -par_ksp_type cg -par_pc_type gamg)");
    } else {
      const char *type;
      PetscCall(PCFactorGetMatSolverType(pc, &type));
      PetscCheck(!strcmp(type, MATSOLVERMUMPS), comm, PETSC_ERR_ARG_WRONG,
                 "expected MUMPS (run with -par_pc_factor_mat_solver_type mumps), got %s", type);
    }
  }
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McForwardGetStateSpace(fw, &uspace));
  PetscCall(McObsOperatorCreate(uspace, npts, pts, &obs));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(VecDuplicate(m, &g));
  PetscCall(VecDuplicate(m, &dm));
  PetscCall(McSpaceInterpolate(mspace, MField, NULL, m));
  PetscCall(McSpaceInterpolate(mspace, Direction, NULL, dm));
  {
    Mat       Af, Ag, D;
    Vec       bf, bg, db;
    PetscReal nA, nD, nb, ndb;
    PetscCall(McForwardAssemble(fw, m, &Af, &bf));
    PetscCall(McForwardAssembleGeneric(fw, m, &Ag, &bg));
    PetscCall(MatDuplicate(Ag, MAT_COPY_VALUES, &D));
    PetscCall(MatAXPY(D, -1.0, Af, DIFFERENT_NONZERO_PATTERN));
    PetscCall(MatNorm(Ag, NORM_FROBENIUS, &nA));
    PetscCall(MatNorm(D, NORM_FROBENIUS, &nD));
    PetscCall(VecDuplicate(bg, &db));
    PetscCall(VecWAXPY(db, -1.0, bf, bg));
    PetscCall(VecNorm(bg, NORM_2, &nb));
    PetscCall(VecNorm(db, NORM_2, &ndb));
    r->matdiff = nD / nA;
    r->rhsdiff = ndb / nb;
    PetscCall(MatDestroy(&D));
    PetscCall(VecDestroy(&db));
  }
  PetscCall(McForwardSolve(fw, m, &ok));
  PetscCheck(ok, comm, PETSC_ERR_NOT_CONVERGED, "solve failed");
  PetscCall(McForwardGetState(fw, &u));
  PetscCall(McObsOperatorCreateVector(obs, &d));
  PetscCall(McObsOperatorApply(obs, u, d));
  PetscCall(VecScatterCreateToAll(d, &sc, &dall));
  PetscCall(VecScatterBegin(sc, d, dall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, d, dall, INSERT_VALUES, SCATTER_FORWARD));
  {
    const PetscScalar *a;
    PetscCall(VecGetArrayRead(dall, &a));
    for (PetscInt p = 0; p < npts; p++)
      r->obs[p] = PetscRealPart(a[p]);
    PetscCall(VecRestoreArrayRead(dall, &a));
  }
  PetscCall(VecShift(d, 0.05)); /* data a little off the model */
  PetscCall(McForwardMisfitGradient(fw, obs, d, &noise, &r->misfit, g));
  PetscCall(VecDot(g, dm, &s));
  r->gdm = PetscRealPart(s);
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&dall));
  PetscCall(VecDestroy(&d));
  PetscCall(VecDestroy(&m));
  PetscCall(VecDestroy(&g));
  PetscCall(VecDestroy(&dm));
  PetscCall(McObsOperatorDestroy(&obs));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode Compare(PetscInt dim, PetscInt n, PetscBool simplex, PetscInt order)
{
  PetscReal   pts[3 * 20];
  PetscInt    npts = 20;
  Result      par, ser;
  PetscReal   err = 0, scale = 0;
  PetscMPIInt size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  for (PetscInt p = 0; p < npts; p++)
    for (PetscInt d = 0; d < dim; d++)
      pts[p * dim + d] = 0.04 + 0.92 * ((p * (3 + 2 * d) + d) % npts) / (npts - 1.0);
  PetscCall(Run(PETSC_COMM_WORLD, dim, n, simplex, order, npts, pts, &par));
  PetscCall(Run(PETSC_COMM_SELF, dim, n, simplex, order, npts, pts, &ser));
  for (PetscInt p = 0; p < npts; p++) {
    err = PetscMax(err, PetscAbsReal(par.obs[p] - ser.obs[p]));
    scale = PetscMax(scale, PetscAbsReal(ser.obs[p]));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "%dD %s P%d on %d ranks: max |obs_par - obs_serial| / max |obs| = %.2e, misfit %.12e vs %.12e, "
                        "g.dm %.12e vs %.12e, fast-generic matrix %.1e rhs %.1e\n",
                        (int)dim, simplex ? "simplex" : "tensor", (int)order, (int)size, (double)(err / scale),
                        (double)par.misfit, (double)ser.misfit, (double)par.gdm, (double)ser.gdm, (double)par.matdiff,
                        (double)par.rhsdiff));
  CHECK(err <= tol * scale, "observations differ by %g relative", (double)(err / scale));
  CHECK(PetscAbsReal(par.misfit - ser.misfit) <= tol * PetscAbsReal(ser.misfit), "misfit %.15g vs serial %.15g",
        (double)par.misfit, (double)ser.misfit);
  CHECK(PetscAbsReal(par.gdm - ser.gdm) <= tol * PetscAbsReal(ser.gdm), "g.dm %.15g vs serial %.15g", (double)par.gdm,
        (double)ser.gdm);
  CHECK(par.matdiff < 1e-12 && par.rhsdiff < 1e-12, "distributed fast assembly differs from generic: matrix %g rhs %g",
        (double)par.matdiff, (double)par.rhsdiff);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-iterative", &iterative, NULL));
  if (iterative) tol = 1e-8;
  PetscCall(Compare(2, 12, PETSC_TRUE, 1));
  PetscCall(Compare(2, 8, PETSC_TRUE, 2));
  PetscCall(Compare(2, 10, PETSC_FALSE, 1));
  PetscCall(Compare(3, 4, PETSC_TRUE, 1));
  PetscCall(Compare(3, 3, PETSC_FALSE, 2));
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
