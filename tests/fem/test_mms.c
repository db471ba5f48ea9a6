/* Method of manufactured solutions: u = prod sin(pi x_d) + prod x_d with
 * the non-constant coefficient exp(m), m = 0.3 + 0.5 x - 0.4 y + 0.2 z
 * (linear, so the nodal P1 field represents it exactly), Dirichlet data u on
 * the whole boundary. Observed L2 / H1-seminorm rates on the finest pair of
 * a mesh sequence must be within 0.1 of k+1 / k for Lagrange order k.
 *
 * The Neumann condition exp(m) grad u . n = h (n the outward normal), which
 * the manufactured solution does not use: with u = 1 on "left", h on
 * "right", no flux elsewhere, f = 0 and a constant m, the solution is
 * u = 1 + h x / exp(m), linear, so every order reproduces it to rounding. */
#include "fem_test.h"

static const PetscReal mcoef[4] = {0.3, 0.5, -0.4, 0.2};

static PetscErrorCode MField(PetscInt dim, const PetscReal x[], PetscScalar *v, void *ctx)
{
  (void)ctx;
  *v = mcoef[0];
  for (PetscInt d = 0; d < dim; d++)
    *v += mcoef[d + 1] * x[d];
  return 0;
}

static PetscErrorCode Exact(PetscInt dim, const PetscReal x[], PetscScalar *u, void *ctx)
{
  PetscReal s = 1, p = 1;
  (void)ctx;
  for (PetscInt d = 0; d < dim; d++) {
    s *= PetscSinReal(PETSC_PI * x[d]);
    p *= x[d];
  }
  *u = s + p;
  return 0;
}

static PetscErrorCode ExactGrad(PetscInt dim, const PetscReal x[], PetscScalar g[], void *ctx)
{
  (void)ctx;
  for (PetscInt d = 0; d < dim; d++) {
    PetscReal s = PETSC_PI * PetscCosReal(PETSC_PI * x[d]), p = 1;
    for (PetscInt e = 0; e < dim; e++)
      if (e != d) {
        s *= PetscSinReal(PETSC_PI * x[e]);
        p *= x[e];
      }
    g[d] = s + p;
  }
  return 0;
}

/* f = -div(k grad u) = -k (lap u + grad m . grad u), k = exp(m). */
static PetscErrorCode Source(PetscInt dim, const PetscReal x[], PetscScalar *f, void *ctx)
{
  PetscScalar m, g[3];
  PetscReal   s = 1, lap, gm = 0;
  (void)ctx;
  PetscCall(MField(dim, x, &m, NULL));
  PetscCall(ExactGrad(dim, x, g, NULL));
  for (PetscInt d = 0; d < dim; d++)
    s *= PetscSinReal(PETSC_PI * x[d]);
  lap = -dim * PETSC_PI * PETSC_PI * s;
  for (PetscInt d = 0; d < dim; d++)
    gm += mcoef[d + 1] * g[d];
  *f = -PetscExpReal(m) * (lap + gm);
  return 0;
}

static PetscErrorCode Errors(PetscInt dim, PetscInt n, PetscBool simplex, PetscInt order, PetscReal *l2, PetscReal *h1)
{
  McMesh     mesh;
  McMeshSpec ms = BoxSpec(dim, n, simplex);
  McPDESpec  ps;
  McForward  fw;
  McSpace    mspace;
  Vec        m;
  PetscBool  ok;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.source = 0.0;
  ps.source_fn = Source;
  ps.ndirichlet = 1;
  ps.dirichlet_labels[0] = "boundary";
  ps.dirichlet_fn = Exact;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(McSpaceInterpolate(mspace, MField, NULL, m));
  PetscCall(McForwardSolve(fw, m, &ok));
  CHECK(ok, "solve did not converge");
  PetscCall(McForwardComputeErrors(fw, Exact, ExactGrad, NULL, l2, h1));
  PetscCall(VecDestroy(&m));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

static PetscErrorCode Rates(PetscInt dim, PetscBool simplex, PetscInt order, PetscInt n0, PetscInt levels)
{
  PetscReal l2[8], h1[8], rl2 = 0, rh1 = 0;

  PetscFunctionBeginUser;
  for (PetscInt l = 0, n = n0; l < levels; l++, n *= 2) {
    PetscCall(Errors(dim, n, simplex, order, &l2[l], &h1[l]));
    if (l > 0) {
      rl2 = PetscLog2Real(l2[l - 1] / l2[l]);
      rh1 = PetscLog2Real(h1[l - 1] / h1[l]);
    }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  %dD %s P%d n=%3d  L2 %.3e  H1 %.3e", (int)dim,
                          simplex ? "simplex" : "tensor", (int)order, (int)n, (double)l2[l], (double)h1[l]));
    if (l > 0) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  rates %.3f %.3f", (double)rl2, (double)rh1));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  }
  CHECK(PetscAbsReal(rl2 - (order + 1)) <= 0.1, "%dD %s P%d: L2 rate %.3f not within 0.1 of %d", (int)dim,
        simplex ? "simplex" : "tensor", (int)order, (double)rl2, (int)order + 1);
  CHECK(PetscAbsReal(rh1 - order) <= 0.1, "%dD %s P%d: H1 rate %.3f not within 0.1 of %d", (int)dim,
        simplex ? "simplex" : "tensor", (int)order, (double)rh1, (int)order);
  PetscFunctionReturn(0);
}

static const PetscReal neumann_h = 0.25, neumann_m = 0.4;

static PetscErrorCode NeumannExact(PetscInt dim, const PetscReal x[], PetscScalar *u, void *ctx)
{
  (void)dim, (void)ctx;
  *u = 1.0 + neumann_h * x[0] / PetscExpReal(neumann_m);
  return 0;
}

static PetscErrorCode NeumannExactGrad(PetscInt dim, const PetscReal x[], PetscScalar g[], void *ctx)
{
  (void)x, (void)ctx;
  for (PetscInt d = 0; d < dim; d++)
    g[d] = d == 0 ? neumann_h / PetscExpReal(neumann_m) : 0.0;
  return 0;
}

static PetscErrorCode Neumann(PetscInt dim, PetscBool simplex, PetscInt order)
{
  McMesh     mesh;
  McMeshSpec ms = BoxSpec(dim, dim == 2 ? 6 : 3, simplex);
  McPDESpec  ps;
  McForward  fw;
  McSpace    mspace;
  Vec        m;
  PetscBool  ok;
  PetscReal  l2, h1;

  PetscFunctionBeginUser;
  PetscCall(McMeshCreate(PETSC_COMM_WORLD, &ms, &mesh));
  PetscCall(McPDESpecDefault(&ps));
  ps.order = order;
  ps.source = 0.0;
  ps.ndirichlet = 1;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_values[0] = 1.0;
  ps.nneumann = 1;
  ps.neumann_labels[0] = "right";
  ps.neumann_values[0] = neumann_h;
  PetscCall(McForwardCreate(mesh, &ps, &fw));
  PetscCall(McForwardSetUp(fw));
  PetscCall(McForwardGetParameterSpace(fw, &mspace));
  PetscCall(McSpaceCreateVector(mspace, &m));
  PetscCall(VecSet(m, neumann_m));
  PetscCall(McForwardSolve(fw, m, &ok));
  CHECK(ok, "solve did not converge");
  PetscCall(McForwardComputeErrors(fw, NeumannExact, NeumannExactGrad, NULL, &l2, &h1));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  Neumann %dD %s P%d: L2 %.2e  H1 %.2e\n", (int)dim,
                        simplex ? "simplex" : "tensor", (int)order, (double)l2, (double)h1));
  CHECK(l2 < 1e-12 && h1 < 1e-11, "%dD %s P%d: u = 1 + h x / exp(m) not reproduced: L2 error %g, H1 %g", (int)dim,
        simplex ? "simplex" : "tensor", (int)order, (double)l2, (double)h1);
  PetscCall(VecDestroy(&m));
  PetscCall(McForwardDestroy(&fw));
  PetscCall(McMeshDestroy(&mesh));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(Rates(2, PETSC_TRUE, 1, 8, 3));
  PetscCall(Rates(2, PETSC_TRUE, 2, 4, 3));
  PetscCall(Rates(2, PETSC_FALSE, 1, 8, 3));
  PetscCall(Rates(2, PETSC_FALSE, 2, 4, 3));
  PetscCall(Rates(3, PETSC_TRUE, 1, 4, 3));
  PetscCall(Rates(3, PETSC_TRUE, 2, 2, 3));
  PetscCall(Rates(3, PETSC_FALSE, 1, 4, 3));
  PetscCall(Rates(3, PETSC_FALSE, 2, 2, 3));
  for (PetscInt dim = 2; dim <= 3; dim++)
    for (PetscInt order = 1; order <= 2; order++) {
      PetscCall(Neumann(dim, PETSC_TRUE, order));
      PetscCall(Neumann(dim, PETSC_FALSE, order));
    }
  PetscCall(CollectAndCheck());
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "PASSED"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
