/* The fast re-assembly equals PETSc's generic pointwise assembly (matrix and
 * right-hand side, Dirichlet lifting, Neumann flux and wells included) to
 * 1e-12 relative, for random m, on every cell type and order.
 *
 * Both take the wells' source from the same pointwise function, so the
 * right-hand side is also checked on its own: a well's `rate` is its total
 * inflow. With f = one well far from the boundary (u = 0 there, so no
 * lifting) the entries of b sum to int f sum_i phi_i = int f = rate, up to
 * quadrature error and the Gaussian's tail beyond the boundary (exp(-50)). */
#include "fem_test.h"

static PetscErrorCode Compare(PetscInt dim, PetscInt n, PetscBool simplex, PetscInt order, PetscInt m_order)
{
  McMesh      mesh;
  McMeshSpec  ms = BoxSpec(dim, n, simplex);
  McPDESpec   ps;
  McForward   fw;
  McSpace     mspace;
  Vec         m, bf, bg, db;
  Mat         Af, Ag, D;
  PetscReal   nA, nD, nb, ndb;
  PetscRandom rnd;
  McWell      wells[2] = {{{0.3, 0.4, 0.5}, 0.1, 2.0}, {{0.7, 0.6, 0.5}, 0.15, -1.0}};

  PetscFunctionBeginUser;
  ms.upper[0] = 2.0; /* non-square: catches transposed geometry */
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.m_order = m_order;
  ps.source = 0.7;
  ps.nwells = 2;
  ps.wells = wells;
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.5;
  ps.dirichlet_labels[1] = "top";
  ps.dirichlet_values[1] = -0.5;
  ps.nneumann = 1;
  ps.neumann_labels[0] = "right";
  ps.neumann_values[0] = 0.25;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetInterval(rnd, -1.0, 1.0));
  PetscCall(PetscRandomSetSeed(rnd, 42));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(m, rnd));
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
  PetscCall(PetscPrintf(
      PETSC_COMM_WORLD,
      "dim %d n %d %s order %d m_order %d: |A_fast - A_generic|/|A| = %.3e, |b_fast - b_generic|/|b| = %.3e\n",
      (int)dim, (int)n, simplex ? "simplex" : "tensor", (int)order, (int)m_order, (double)(nD / nA),
      (double)(ndb / nb)));
  CHECK(nA > 0 && nD / nA < 1e-12, "matrix relative difference %g >= 1e-12", (double)(nD / nA));
  CHECK(nb > 0 && ndb / nb < 1e-12, "rhs relative difference %g >= 1e-12", (double)(ndb / nb));
  PetscCall(VecDestroy(&db));
  PetscCall(MatDestroy(&D));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(VecDestroy(&m));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode WellRate(PetscInt dim, PetscInt n, PetscBool simplex, PetscInt order, PetscReal tol)
{
  McMesh     mesh;
  McMeshSpec ms = BoxSpec(dim, n, simplex);
  McPDESpec  ps;
  McForward  fw;
  McSpace    mspace;
  Vec        m, b;
  Mat        A;
  PetscReal  sum;
  McWell     well = {{0.5, 0.5, 0.5}, 0.05, 2.5};

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.source = 0.0;
  ps.nwells = 1;
  ps.wells = &well;
  ps.ndirichlet = 1;
  ps.dirichlet_labels[0] = "boundary";
  ps.dirichlet_values[0] = 0.0;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(VecSet(m, 0.3));
  PetscCall(McForwardAssemble(fw, m, &A, &b));
  PetscCall(VecSum(b, &sum));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "well of rate %g, width %g: dim %d n %d %s order %d: sum of b = %.12f\n",
                        (double)well.rate, (double)well.width, (int)dim, (int)n, simplex ? "simplex" : "tensor",
                        (int)order, (double)sum));
  CHECK(PetscAbsReal(sum - well.rate) < tol * well.rate, "a well of rate %g gives a total source %.8f (tolerance %g)",
        (double)well.rate, (double)sum, (double)tol);
  PetscCall(VecDestroy(&m));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(Compare(2, 6, PETSC_TRUE, 1, 1));
  PetscCall(Compare(2, 6, PETSC_TRUE, 2, 1));
  PetscCall(Compare(2, 5, PETSC_TRUE, 2, 2));
  PetscCall(Compare(2, 6, PETSC_FALSE, 1, 1));
  PetscCall(Compare(2, 5, PETSC_FALSE, 2, 1));
  PetscCall(Compare(3, 3, PETSC_TRUE, 1, 1));
  PetscCall(Compare(3, 2, PETSC_TRUE, 2, 1));
  PetscCall(Compare(3, 3, PETSC_FALSE, 1, 1));
  PetscCall(Compare(3, 2, PETSC_FALSE, 2, 1));
  /* Tolerances ~10x the quadrature error measured: 2D to 12 digits (h = w/2),
   * 3D 6.5e-6 (P1 tetrahedra, h = 1.25 w) and 1.1e-4 (Q2 hexahedra, h = 1.7 w). */
  PetscCall(WellRate(2, 40, PETSC_TRUE, 1, 1e-9));
  PetscCall(WellRate(2, 40, PETSC_FALSE, 2, 1e-9));
  PetscCall(WellRate(3, 16, PETSC_TRUE, 1, 1e-4));
  PetscCall(WellRate(3, 12, PETSC_FALSE, 2, 1e-3));
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
