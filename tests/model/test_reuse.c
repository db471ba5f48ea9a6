/* Proposals solved near the anchor (McPosteriorPotentialNear): the value
 * agrees with the exact potential to the CG tolerance, it depends only on
 * the proposal and the anchor -- bit for bit the same after a fallback
 * refactorisation, a gradient or a repeated anchor, which is what keeps
 * --resume exact -- and, once set up, a near evaluation allocates nothing
 * (project or PETSc), and neither does an exact one (a numeric
 * refactorisation with the default solver, mcchol). */
#include "modeltest.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <string.h>

typedef struct {
  McMesh        mesh;
  McForward     fw;
  McObsOperator obs;
  McPrior       prior;
  McPosterior   post;
} Problem;

/* Unit square, 16x16 triangles, u = 0 left, 1 right, f = 1, 8x8 interior
 * observations, prior rho = 0.3, relative noise 1% (Phi of order 50). */
static PetscErrorCode ProblemCreate(gsl_rng *rng, Problem *pb)
{
  McPDESpec      ps;
  McPriorSpec    prs;
  McSpace        space;
  PetscReal     *pts;
  Vec            xi, m;
  const PetscInt g = 8;

  PetscFunctionBeginUser;
  PetscCall(UnitSquare(PETSC_COMM_WORLD, 16, &pb->mesh, &space));
  PetscCall(McPDESpecDefault(&ps));
  ps.ndirichlet = 2;
  ps.dirichlet_labels[0] = "left";
  ps.dirichlet_labels[1] = "right";
  ps.dirichlet_values[1] = 1.0;
  PetscCall(McForwardCreate(pb->mesh, &ps, &pb->fw));
  PetscCall(McForwardSetUp(pb->fw));
  PetscCall(McForwardGetStateSpace(pb->fw, &space));
  PetscCall(PetscMalloc1(2 * g * g, &pts));
  for (PetscInt i = 0; i < g * g; i++) {
    pts[2 * i] = (i / g + 0.5) / g;
    pts[2 * i + 1] = (i % g + 0.5) / g;
  }
  PetscCall(McObsOperatorCreate(space, g * g, pts, &pb->obs));
  PetscCall(PetscFree(pts));
  PetscCall(McForwardGetParameterSpace(pb->fw, &space));
  PetscCall(McPriorSpecDefault(&prs));
  prs.correlation_length = 0.3;
  PetscCall(McPriorCreate(space, &prs, &pb->prior));
  PetscCall(McPosteriorCreate(pb->fw, pb->obs, pb->prior, &pb->post));
  PetscCall(McPriorCreateVector(pb->prior, &xi));
  PetscCall(VecDuplicate(xi, &m));
  PetscCall(McPriorSampleWhite(pb->prior, rng, xi));
  PetscCall(McPriorUnwhiten(pb->prior, xi, m));
  PetscCall(McPosteriorSynthesize(pb->post, m, 0.01, PETSC_TRUE, rng));
  PetscCall(VecDestroy(&xi));
  PetscCall(VecDestroy(&m));
  PetscFunctionReturn(0);
}

static PetscErrorCode ProblemDestroy(Problem *pb)
{
  PetscFunctionBeginUser;
  PetscCall(McPosteriorDestroy(&pb->post));
  PetscCall(McPriorDestroy(&pb->prior));
  PetscCall(McObsOperatorDestroy(&pb->obs));
  PetscCall(McForwardDestroy(&pb->fw));
  PetscCall(McMeshDestroy(&pb->mesh));
  PetscFunctionReturn(0);
}

/* y = sqrt(1 - beta^2) x + beta z, z ~ N(0, I): a pCN proposal. */
static PetscErrorCode Propose(gsl_rng *rng, Vec x, PetscReal beta, Vec y)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(y, &n));
  PetscCall(VecGetArrayWrite(y, &a));
  for (PetscInt i = 0; i < n; i++)
    a[i] = beta * gsl_ran_gaussian_ziggurat(rng, 1.0);
  PetscCall(VecRestoreArrayWrite(y, &a));
  PetscCall(VecAXPY(y, PetscSqrtReal(1 - beta * beta), x));
  PetscFunctionReturn(0);
}

static PetscErrorCode Near(Problem *pb, Vec xi, PetscReal *phi)
{
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotentialNear(pb->post, xi, phi, &st));
  PetscCheck(st == MC_POST_OK, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "near evaluation failed (%d)", (int)st);
  PetscFunctionReturn(0);
}

static PetscErrorCode Exact(Problem *pb, Vec xi, PetscReal *phi)
{
  McPosteriorStatus st;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorPotential(pb->post, xi, phi, &st));
  PetscCheck(st == MC_POST_OK, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "exact evaluation failed (%d)", (int)st);
  PetscFunctionReturn(0);
}

/* Bit-for-bit equality, reported with both values. */
static PetscErrorCode ExpectSame(const char *what, PetscReal got, PetscReal want)
{
  PetscFunctionBeginUser;
  PetscCall(Expect(what, got, want, 0.0));
  if (memcmp(&got, &want, sizeof(got))) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL %s: not the same bits\n", what));
    failures++;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode TestNear(Problem *pb, gsl_rng *rng)
{
  Vec                   x0, x1, x2, far;
  PetscReal             e1, n1, again, e0, e0b, phi;
  McPosteriorReuseStats s0, s1;
  PetscBool             has, reuse;
  PetscInt64            f0, f1;
  char                  what[128];

  PetscFunctionBeginUser;
  PetscCall(McPosteriorGetReuse(pb->post, &reuse, &has));
  PetscCall(Expect("a direct solver can be reused", has, 1, 0));
  PetscCall(Expect("reuse is off by default", reuse, 0, 0));
  PetscCall(McPosteriorSetReuse(pb->post, PETSC_TRUE));
  {
    /* mcchol's counts give a break-even; below, CG is always taken (the
     * prediction is TestDirect's). */
    PetscReal its;
    PetscCall(McPosteriorGetReuseBreakEven(pb->post, &its));
    PetscCall(Expect("break-even CG iterations from mcchol's counts, in 1..100", its, 50.5, 49.5));
    PetscCall(McPosteriorSetReuseBreakEven(pb->post, 0));
  }
  PetscCall(McPosteriorCreateParameterVector(pb->post, &x0));
  PetscCall(VecDuplicate(x0, &x1));
  PetscCall(VecDuplicate(x0, &x2));
  PetscCall(VecDuplicate(x0, &far));
  PetscCall(VecZeroEntries(far));
  PetscCall(Propose(rng, far, 1.0, x0)); /* a prior sample */
  PetscCall(Propose(rng, x0, 0.1, x1));
  PetscCall(VecZeroEntries(x2));
  PetscCall(Propose(rng, x2, 1.0, far));
  PetscCall(Propose(rng, x0, 0.1, x2));
  PetscCall(VecScale(far, 2.5)); /* a wild proposal: CG from x0's factor cannot reach 1e-10 in 50 iterations */

  /* Without an anchor a near evaluation is the exact one. */
  PetscCall(McPosteriorGetReuseStats(pb->post, &s0));
  PetscCall(Near(pb, x1, &n1));
  PetscCall(Exact(pb, x1, &e1));
  PetscCall(ExpectSame("near evaluation without an anchor = exact", n1, e1));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s1));
  PetscCall(Expect("  ... and no CG solve", (double)(s1.near - s0.near), 0, 0));

  /* Anchor x0; x1 through CG preconditioned by x0's factorisation. */
  PetscCall(Exact(pb, x0, &e0));
  PetscCall(McForwardGetFactorCount(pb->fw, &f0));
  PetscCall(Near(pb, x1, &n1));
  PetscCall(McForwardGetFactorCount(pb->fw, &f1));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s0));
  PetscCall(Expect("near Phi(x1) = exact Phi(x1) to 1e-8 relative", n1, e1, 1e-8 * e1));
  PetscCall(Expect("  ... without a factorisation", (double)(f1 - f0), 0, 0));
  PetscCall(Expect("  ... by CG (near solves)", (double)(s0.near - s1.near), 1, 0));
  PetscCall(Expect("  ... in 2..25 iterations at beta = 0.1", (double)(s0.cg_its - s1.cg_its), 13.5, 11.5));
  PetscCall(Near(pb, x1, &again));
  PetscCall(ExpectSame("near Phi(x1) again", again, n1));

  /* Things that move the factorisation away from the anchor: the result
   * for x1 must not notice. */
  PetscCall(Near(pb, far, &phi));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s1));
  PetscCall(Expect("a wild proposal falls back to a refactorisation", (double)(s1.fallback - s0.fallback), 1, 0));
  PetscCall(Near(pb, x1, &again));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s0));
  PetscCall(ExpectSame("near Phi(x1) after a fallback", again, n1));
  PetscCall(Expect("  ... the anchor was refactorised once", (double)(s0.anchor_refactor - s1.anchor_refactor), 1, 0));
  PetscCall(Near(pb, x2, &phi));
  PetscCall(McPosteriorGradient(pb->post, far)); /* its adjoint refactorises at x2 (far: scratch) */
  PetscCall(Near(pb, x1, &again));
  PetscCall(ExpectSame("near Phi(x1) after a gradient at another proposal", again, n1));

  /* A new anchor and back: the same bits, as after --resume. */
  PetscCall(Exact(pb, x2, &phi));
  PetscCall(Exact(pb, x0, &e0b));
  PetscCall(ExpectSame("exact Phi(x0) again", e0b, e0));
  PetscCall(Near(pb, x1, &again));
  PetscCall(ExpectSame("near Phi(x1) from a re-made anchor x0", again, n1));
  for (int k = 0; k < 3; k++) {
    PetscReal ek, nk;
    PetscCall(Propose(rng, x0, 0.05 * (k + 1), x2));
    PetscCall(Exact(pb, x2, &ek));
    PetscCall(Exact(pb, x0, &phi));
    PetscCall(Near(pb, x2, &nk));
    PetscCall(PetscSNPrintf(what, sizeof(what), "near = exact to 1e-8 relative at beta = %.2f", 0.05 * (k + 1)));
    PetscCall(Expect(what, nk, ek, 1e-8 * ek));
  }
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&x1));
  PetscCall(VecDestroy(&x2));
  PetscCall(VecDestroy(&far));
  PetscFunctionReturn(0);
}

/* With a break-even below any prediction (6 iterations at least) a near
 * evaluation refactorises at the proposal: the exact value, bit for bit,
 * and the exact evaluation that follows for the same xi (an acceptance)
 * repeats nothing. */
static PetscErrorCode TestDirect(Problem *pb, gsl_rng *rng)
{
  Vec                   x0, x1;
  PetscReal             e1, n1, a1, phi;
  McPosteriorReuseStats s0, s1;
  PetscInt64            f0, f1, f2;

  PetscFunctionBeginUser;
  PetscCall(McPosteriorCreateParameterVector(pb->post, &x0));
  PetscCall(VecDuplicate(x0, &x1));
  PetscCall(VecZeroEntries(x1));
  PetscCall(Propose(rng, x1, 1.0, x0));
  PetscCall(Propose(rng, x0, 0.1, x1));
  PetscCall(Exact(pb, x1, &e1));
  PetscCall(Exact(pb, x0, &phi)); /* the anchor */
  PetscCall(McPosteriorSetReuseBreakEven(pb->post, 1));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s0));
  PetscCall(McForwardGetFactorCount(pb->fw, &f0));
  PetscCall(Near(pb, x1, &n1));
  PetscCall(McForwardGetFactorCount(pb->fw, &f1));
  PetscCall(McPosteriorGetReuseStats(pb->post, &s1));
  PetscCall(ExpectSame("predicted too costly for CG: near Phi(x1) = exact Phi(x1)", n1, e1));
  PetscCall(Expect("  ... counted as direct", (double)(s1.direct - s0.direct), 1, 0));
  PetscCall(Expect("  ... no CG solve", (double)(s1.near - s0.near), 0, 0));
  PetscCall(Expect("  ... one factorisation", (double)(f1 - f0), 1, 0));
  PetscCall(Exact(pb, x1, &a1));
  PetscCall(McForwardGetFactorCount(pb->fw, &f2));
  PetscCall(ExpectSame("  ... its acceptance (exact at x1) gives the same bits", a1, e1));
  PetscCall(Expect("  ... without another factorisation", (double)(f2 - f1), 0, 0));
  PetscCall(Exact(pb, x0, &phi));
  PetscCall(McForwardGetFactorCount(pb->fw, &f1));
  PetscCall(Expect("an exact evaluation elsewhere factorises", (double)(f1 - f2), 1, 0));
  PetscCall(McPosteriorSetReuseBreakEven(pb->post, 0));
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&x1));
  PetscFunctionReturn(0);
}

/* After set-up, near evaluations allocate nothing; nor do exact ones, each
 * a numeric refactorisation by mcchol (PETSc's own Cholesky would take one
 * workspace block per factorisation: tests/fem/test_alloc.c). */
static PetscErrorCode TestAllocations(Problem *pb, gsl_rng *rng)
{
  Vec        x0, x;
  PetscReal  phi;
  PetscInt64 p0, q0, p1, q1, f0, f1;
  PetscBool  hooked;
  McMemUsage u;

  PetscFunctionBeginUser;
  PetscCall(McMemGetUsage(&u));
  hooked = u.petsc_hooked;
  PetscCall(Expect("PETSc's allocations are counted", hooked, 1, 0));
  PetscCall(McPosteriorCreateParameterVector(pb->post, &x0));
  PetscCall(VecDuplicate(x0, &x));
  PetscCall(VecZeroEntries(x));
  PetscCall(Propose(rng, x, 1.0, x0));
  PetscCall(Exact(pb, x0, &phi));
  PetscCall(Propose(rng, x0, 0.1, x));
  PetscCall(Near(pb, x, &phi)); /* first use: anything made lazily */
  PetscCall(McMemAllocCount(&p0, &q0));
  for (int k = 0; k < 20; k++) {
    PetscCall(Propose(rng, x0, 0.1, x));
    PetscCall(Near(pb, x, &phi));
  }
  PetscCall(McMemAllocCount(&p1, &q1));
  PetscCall(Expect("20 near evaluations: project allocations", (double)(p1 - p0), 0, 0));
  PetscCall(Expect("20 near evaluations: PETSc allocations", (double)(q1 - q0), 0, 0));
  PetscCall(McForwardGetFactorCount(pb->fw, &f0));
  PetscCall(McMemAllocCount(&p0, &q0));
  for (int k = 0; k < 5; k++) {
    PetscCall(Propose(rng, x0, 0.1, x));
    PetscCall(Exact(pb, x, &phi)); /* an accepted proposal */
    PetscCall(Propose(rng, x, 0.1, x0));
    PetscCall(Near(pb, x0, &phi));
  }
  PetscCall(McMemAllocCount(&p1, &q1));
  PetscCall(McForwardGetFactorCount(pb->fw, &f1));
  PetscCall(Expect("5 exact + 5 near: factorisations", (double)(f1 - f0), 5, 0));
  PetscCall(Expect("  ... project allocations", (double)(p1 - p0), 0, 0));
  PetscCall(Expect("  ... PETSc allocations", (double)(q1 - q0), 0, 0));
  PetscCall(VecDestroy(&x0));
  PetscCall(VecDestroy(&x));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  Problem    pb;
  gsl_rng   *rng;
  PetscInt64 live0, live1;

  if (McMemInstallPetscHooks()) return 2;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(McMemGetLive(&live0, NULL));
  rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 20261126);
  PetscCall(ProblemCreate(rng, &pb));
  PetscCall(TestNear(&pb, rng));
  PetscCall(TestDirect(&pb, rng));
  PetscCall(TestAllocations(&pb, rng));
  PetscCall(ProblemDestroy(&pb));
  PetscCall(McGCCollect(2, NULL));
  PetscCall(McMemGetLive(&live1, NULL));
  PetscCall(Expect("live objects back to the start", (double)live1, (double)live0, 0));
  gsl_rng_free(rng);
  PetscCall(PetscFinalize());
  return failures != 0;
}
